/*
 * Timers: one binary min-heap per P, ordered by deadline.
 *
 * A G that sleeps or parks with a deadline arms its own g->timer on the P it
 * runs on, from the unlock callback of its park (so the timer can never fire
 * before the G is WAITING).  Expired timers run in the scheduler:
 *   - the owner runs its P's due timers at every schedule();
 *   - a spinning M steals (runs) other Ps' due timers in its last round, so
 *     timers on idle Ps still fire;
 *   - an M about to sleep with nothing to do blocks in the netpoller only
 *     until the earliest deadline over all Ps (gmp_timer_next_all).
 * Adding a timer earlier than the sleeping poller's wake time breaks the
 * poller (the caller of gmp_timer_add calls gmp_wakenetpoller).
 *
 * State protocol (t->state, atomic):
 *   IDLE -> QUEUED       gmp_timer_add, under p->timerlock
 *   QUEUED -> IDLE       gmp_timer_del, under p->timerlock
 *   QUEUED -> RUNNING    gmp_timer_run pops it, under p->timerlock
 *   RUNNING -> IDLE      after fn(t) returns
 * gmp_timer_del on a RUNNING timer waits until it is IDLE, so when it returns
 * the callback is finished and the caller may reuse the memory it points to
 * (the callbacks are short and never block).
 */
#include "runtime.h"

static bool heap_less(struct gmp_timer *a, struct gmp_timer *b) { return a->when < b->when; }

static void heap_set(struct gmp_p *pp, int i, struct gmp_timer *t)
{
	pp->timers[i] = t;
	t->idx = i;
}

static void siftup(struct gmp_p *pp, int i)
{
	struct gmp_timer *t = pp->timers[i];
	while (i > 0) {
		int parent = (i - 1) / 2;
		if (!heap_less(t, pp->timers[parent]))
			break;
		heap_set(pp, i, pp->timers[parent]);
		i = parent;
	}
	heap_set(pp, i, t);
}

static void siftdown(struct gmp_p *pp, int i)
{
	struct gmp_timer *t = pp->timers[i];
	int n = pp->ntimers;
	for (;;) {
		int c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && heap_less(pp->timers[c + 1], pp->timers[c]))
			c++;
		if (!heap_less(pp->timers[c], t))
			break;
		heap_set(pp, i, pp->timers[c]);
		i = c;
	}
	heap_set(pp, i, t);
}

/* Removes timers[i]; pp->timerlock held. */
static void heap_remove_locked(struct gmp_p *pp, int i)
{
	int last = --pp->ntimers;
	if (i != last) {
		struct gmp_timer *moved = pp->timers[last];
		heap_set(pp, i, moved);
		siftdown(pp, i);
		siftup(pp, moved->idx); /* it may also belong above i */
	}
	pp->timers[last] = NULL;
	atomic_store_explicit(&pp->timer0when, pp->ntimers ? pp->timers[0]->when : 0,
			      memory_order_release);
}

bool gmp_timer_add(struct gmp_timer *t)
{
	struct gmp_m *m = gmp_getm();
	struct gmp_p *pp = m && m->p ? m->p : gmp_sched.allp[0];
	if (t->when <= 0)
		t->when = 1; /* 0 means "no timer" in timer0when */
	gmp_lock(&pp->timerlock);
	if (atomic_load_explicit(&t->state, memory_order_relaxed) != GMP_TIMER_IDLE)
		gmp_fatal("timer_add: timer %p already in use", (void *)t);
	if (pp->ntimers == pp->timercap) {
		int ncap = pp->timercap ? pp->timercap * 2 : 64;
		struct gmp_timer **nt = gmp_rawalloc((size_t)ncap * sizeof *nt);
		if (!nt)
			gmp_fatal("out of memory growing the timer heap");
		for (int i = 0; i < pp->ntimers; i++)
			nt[i] = pp->timers[i];
		gmp_rawfree(pp->timers, (size_t)pp->timercap * sizeof *nt);
		pp->timers = nt;
		pp->timercap = ncap;
	}
	int i = pp->ntimers++;
	pp->timers[i] = t;
	atomic_store_explicit(&t->p, pp, memory_order_relaxed);
	atomic_store_explicit(&t->state, GMP_TIMER_QUEUED, memory_order_relaxed);
	siftup(pp, i);
	bool first = pp->timers[0] == t;
	if (first)
		atomic_store_explicit(&pp->timer0when, t->when, memory_order_release);
	gmp_unlock(&pp->timerlock);
	return first;
}

bool gmp_timer_del(struct gmp_timer *t)
{
	for (;;) {
		struct gmp_p *pp = atomic_load_explicit(&t->p, memory_order_acquire);
		if (pp == NULL) {
			/* Not queued: wait out a callback in progress. */
			while (atomic_load_explicit(&t->state, memory_order_acquire) == GMP_TIMER_RUNNING)
				gmp_cpu_relax();
			return false;
		}
		gmp_lock(&pp->timerlock);
		if (atomic_load_explicit(&t->p, memory_order_relaxed) == pp) {
			heap_remove_locked(pp, t->idx);
			atomic_store_explicit(&t->p, NULL, memory_order_relaxed);
			atomic_store_explicit(&t->state, GMP_TIMER_IDLE, memory_order_release);
			gmp_unlock(&pp->timerlock);
			return true;
		}
		gmp_unlock(&pp->timerlock);
	}
}

/*
 * Runs pp's timers that are due at now.  Returns how many ran; *next gets
 * the earliest remaining deadline (0 if none).  Called with a P held.
 */
int gmp_timer_run(struct gmp_p *pp, int64_t now, int64_t *next)
{
	int64_t w = atomic_load_explicit(&pp->timer0when, memory_order_acquire);
	if (w == 0 || w > now) {
		*next = w;
		return 0;
	}
	int ran = 0;
	gmp_lock(&pp->timerlock);
	while (pp->ntimers > 0 && pp->timers[0]->when <= now) {
		struct gmp_timer *t = pp->timers[0];
		atomic_store_explicit(&t->state, GMP_TIMER_RUNNING, memory_order_relaxed);
		heap_remove_locked(pp, 0);
		atomic_store_explicit(&t->p, NULL, memory_order_release);
		gmp_unlock(&pp->timerlock);
		t->fn(t);
		atomic_store_explicit(&t->state, GMP_TIMER_IDLE, memory_order_release);
		ran++;
		gmp_lock(&pp->timerlock);
	}
	*next = pp->ntimers ? pp->timers[0]->when : 0;
	gmp_unlock(&pp->timerlock);
	return ran;
}

int64_t gmp_timer_next_all(void)
{
	int64_t next = 0;
	for (int i = 0; i < gmp_sched.nprocs; i++) {
		int64_t w = atomic_load_explicit(&gmp_sched.allp[i]->timer0when, memory_order_acquire);
		if (w != 0 && (next == 0 || w < next))
			next = w;
	}
	return next;
}
