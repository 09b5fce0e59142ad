/*
 * Run queues.
 *
 * Local (per P): a 256-slot ring, single producer (the P's owner appends at
 * runqtail) and multiple consumers (the owner and thieves take from runqhead
 * with CAS).  A consumer reads a slot *before* its CAS on runqhead; if the
 * CAS succeeds nobody could have overwritten the slot in between, because the
 * owner only reuses slots behind runqhead.  Slots are relaxed atomics so the
 * benign concurrent read of a slot being rewritten is not a C data race.
 *
 * runnext holds the G readied most recently by the running G: it runs next
 * and inherits the remaining time slice, which makes ping-pong pairs (lock
 * hand-off, producer/consumer) run back to back on one P like Go.
 *
 * Global: a linked list under sched.lock; also the overflow of local rings
 * (half of a full ring moves there in one batch) and where foreign threads
 * put the Gs they ready.
 */
#include "runtime.h"

#define RQ_MASK (GMP_RUNQ_SIZE - 1)

static inline uint32_t ld_acq(_Atomic uint32_t *p) { return atomic_load_explicit(p, memory_order_acquire); }
static inline struct gmp_g *slot_ld(struct gmp_p *pp, uint32_t i)
{
	return atomic_load_explicit(&pp->runq[i & RQ_MASK], memory_order_relaxed);
}
static inline void slot_st(struct gmp_p *pp, uint32_t i, struct gmp_g *g)
{
	atomic_store_explicit(&pp->runq[i & RQ_MASK], g, memory_order_relaxed);
}

/* Moves half of the full local queue plus g to the global queue. */
static bool runqputslow(struct gmp_p *pp, struct gmp_g *g, uint32_t h, uint32_t t)
{
	struct gmp_g *batch[GMP_RUNQ_SIZE / 2 + 1];
	uint32_t n = (t - h) / 2;
	if (n != GMP_RUNQ_SIZE / 2)
		gmp_fatal("runqputslow: queue is not full");
	for (uint32_t i = 0; i < n; i++)
		batch[i] = slot_ld(pp, h + i);
	if (!atomic_compare_exchange_strong_explicit(&pp->runqhead, &h, h + n, memory_order_release,
						     memory_order_relaxed))
		return false; /* a thief took some; the caller retries the fast path */
	batch[n] = g;
	for (uint32_t i = 0; i < n; i++)
		batch[i]->schedlink = batch[i + 1];
	batch[n]->schedlink = NULL;
	gmp_lock(&gmp_sched.lock);
	gmp_globrunqputbatch_locked(batch[0], batch[n], (int)n + 1);
	gmp_unlock(&gmp_sched.lock);
	return true;
}

void gmp_runqput(struct gmp_p *pp, struct gmp_g *g, bool next)
{
	if (next) {
		struct gmp_g *old = atomic_load_explicit(&pp->runnext, memory_order_relaxed);
		while (!atomic_compare_exchange_weak_explicit(&pp->runnext, &old, g, memory_order_acq_rel,
							      memory_order_relaxed))
			;
		if (old == NULL)
			return;
		g = old; /* kick the old runnext to the tail */
	}
	for (;;) {
		uint32_t h = ld_acq(&pp->runqhead);
		uint32_t t = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
		if (t - h < GMP_RUNQ_SIZE) {
			slot_st(pp, t, g);
			atomic_store_explicit(&pp->runqtail, t + 1, memory_order_release);
			return;
		}
		if (runqputslow(pp, g, h, t))
			return;
	}
}

/* Owner only.  *inherit: g came from runnext and inherits the time slice. */
struct gmp_g *gmp_runqget(struct gmp_p *pp, bool *inherit)
{
	struct gmp_g *next = atomic_load_explicit(&pp->runnext, memory_order_relaxed);
	if (next && atomic_compare_exchange_strong_explicit(&pp->runnext, &next, NULL,
							    memory_order_acq_rel, memory_order_relaxed)) {
		*inherit = true;
		return next;
	}
	*inherit = false;
	for (;;) {
		uint32_t h = ld_acq(&pp->runqhead);
		uint32_t t = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
		if (t == h)
			return NULL;
		struct gmp_g *g = slot_ld(pp, h);
		if (atomic_compare_exchange_weak_explicit(&pp->runqhead, &h, h + 1, memory_order_release,
							  memory_order_relaxed))
			return g;
	}
}

/*
 * Takes half of victim's queue into batch[bh..] (a ring of GMP_RUNQ_SIZE).
 * With stealnext, an otherwise empty victim gives up its runnext.
 */
static uint32_t runqgrab(struct gmp_p *victim, _Atomic(struct gmp_g *) *batch, uint32_t bh, bool stealnext)
{
	for (;;) {
		uint32_t h = ld_acq(&victim->runqhead);
		uint32_t t = ld_acq(&victim->runqtail);
		uint32_t n = t - h;
		n = n - n / 2;
		if (n == 0) {
			if (stealnext) {
				struct gmp_g *next = atomic_load_explicit(&victim->runnext, memory_order_acquire);
				if (next && gmp_p_busy(atomic_load_explicit(&victim->status,
									     memory_order_relaxed))) {
					/* The victim is probably about to run it (it was just
					 * readied by its running G): give it ~3 us first, as Go
					 * does, so hand-off pairs stay on one P. */
					int64_t until = gmp_nanotime() + 3000;
					while (gmp_nanotime() < until &&
					       atomic_load_explicit(&victim->runnext, memory_order_relaxed) == next)
						gmp_cpu_relax();
				}
				if (next && atomic_compare_exchange_strong_explicit(
						    &victim->runnext, &next, NULL, memory_order_acq_rel,
						    memory_order_relaxed)) {
					atomic_store_explicit(&batch[bh & RQ_MASK], next, memory_order_relaxed);
					return 1;
				}
			}
			return 0;
		}
		if (n > GMP_RUNQ_SIZE / 2)
			continue; /* read h and t inconsistently; retry */
		for (uint32_t i = 0; i < n; i++)
			atomic_store_explicit(&batch[(bh + i) & RQ_MASK], slot_ld(victim, h + i),
					      memory_order_relaxed);
		if (atomic_compare_exchange_weak_explicit(&victim->runqhead, &h, h + n,
							  memory_order_release, memory_order_relaxed))
			return n;
	}
}

/* Steals half of victim's Gs into pp's queue and returns one of them. */
struct gmp_g *gmp_runqsteal(struct gmp_p *pp, struct gmp_p *victim, bool stealnext)
{
	uint32_t t = atomic_load_explicit(&pp->runqtail, memory_order_relaxed);
	uint32_t n = runqgrab(victim, pp->runq, t, stealnext);
	if (n == 0)
		return NULL;
	n--;
	struct gmp_g *g = slot_ld(pp, t + n);
	if (n == 0)
		return g;
	uint32_t h = ld_acq(&pp->runqhead);
	if (t - h + n >= GMP_RUNQ_SIZE)
		gmp_fatal("runqsteal: runq overflow");
	atomic_store_explicit(&pp->runqtail, t + n, memory_order_release);
	return g;
}

bool gmp_runqempty(struct gmp_p *pp)
{
	/* Read tail twice so a concurrent runnext->runq kick is not missed. */
	for (;;) {
		uint32_t h = ld_acq(&pp->runqhead);
		uint32_t t = ld_acq(&pp->runqtail);
		struct gmp_g *next = atomic_load_explicit(&pp->runnext, memory_order_acquire);
		if (ld_acq(&pp->runqtail) == t)
			return h == t && next == NULL;
	}
}

uint32_t gmp_runqlen(struct gmp_p *pp)
{
	uint32_t h = ld_acq(&pp->runqhead), t = ld_acq(&pp->runqtail);
	return t - h + (atomic_load_explicit(&pp->runnext, memory_order_relaxed) != NULL);
}

void gmp_globrunqput_locked(struct gmp_g *g)
{
	g->schedlink = NULL;
	gmp_globrunqputbatch_locked(g, g, 1);
}

void gmp_globrunqputbatch_locked(struct gmp_g *head, struct gmp_g *tail, int n)
{
	tail->schedlink = NULL;
	if (gmp_sched.runqtail)
		gmp_sched.runqtail->schedlink = head;
	else
		gmp_sched.runqhead = head;
	gmp_sched.runqtail = tail;
	atomic_store_explicit(&gmp_sched.runqsize, gmp_sched.runqsize + n, memory_order_relaxed);
}

/* Takes a fair share of the global queue (at most max if max > 0): returns
 * one G and puts the rest on pp's local queue. */
struct gmp_g *gmp_globrunqget_locked(struct gmp_p *pp, int max)
{
	int size = atomic_load_explicit(&gmp_sched.runqsize, memory_order_relaxed);
	if (size == 0)
		return NULL;
	int n = size / gmp_sched.nprocs + 1;
	if (n > size)
		n = size;
	if (max > 0 && n > max)
		n = max;
	if (n > GMP_RUNQ_SIZE / 2)
		n = GMP_RUNQ_SIZE / 2;
	atomic_store_explicit(&gmp_sched.runqsize, size - n, memory_order_relaxed);
	struct gmp_g *g = gmp_sched.runqhead;
	gmp_sched.runqhead = g->schedlink;
	for (int i = 1; i < n; i++) {
		struct gmp_g *g2 = gmp_sched.runqhead;
		gmp_sched.runqhead = g2->schedlink;
		gmp_runqput(pp, g2, false);
	}
	if (gmp_sched.runqhead == NULL)
		gmp_sched.runqtail = NULL;
	g->schedlink = NULL;
	return g;
}
