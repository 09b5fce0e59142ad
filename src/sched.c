/*
 * The scheduler: Ms running Gs on Ps (Go's proc.go, in C).
 *
 * Each M loops in gmp_schedule() on its g0 stack: pick a G, jump into it; the G
 * comes back to g0 through gmp_ctx_mcall when it parks, yields or exits, and
 * the M picks the next one.  Finding work, in order:
 *   1. the P's due timers;
 *   2. every 61st tick one G from the global queue (fairness: a pair of Gs
 *      readying each other through runnext could otherwise starve it);
 *   3. runnext, then the local ring;
 *   4. findrunnable(): global queue, then stealing (below), then sleep.
 *
 * Spinning Ms (Go's protocol, "Worker thread parking/unparking" in proc.go).
 * We want enough running Ms to use all Ps, but no M burning CPU for nothing,
 * and never a runnable G left behind while a P idles.  An M is "spinning"
 * when it is out of local work and looking in other Ps' queues.  At most one
 * M is woken to spin at a time: gmp_wakep() starts one only if there is an
 * idle P and nobody spins (CAS nmspinning 0 -> 1).  A spinning M that finds
 * work stops spinning and, if it was the last spinner, wakes another
 * (resetspinning), so new work ripples across idle Ps one M at a time.
 *
 * No lost wake-ups: work is submitted (runq tail store, or global queue
 * under sched.lock) and then nmspinning/npidle are read; a spinner gives up by
 * decrementing nmspinning (seq_cst) and *then* re-reading every P's queue.
 * Either the submitter sees the spinner, or the spinner sees the work.  Work
 * on the submitter's own P is never at risk: its M runs it eventually.
 * The global queue is checked under sched.lock right before a P goes idle,
 * and foreign threads submit to it under the same lock.
 *
 * Sleeping: an M with nothing to do puts its P on the idle list.  If timers
 * are pending somewhere and no other M is blocked in the netpoller
 * (sched.lastpoll != 0), it becomes the poller and sleeps in epoll until the
 * earliest deadline; otherwise it sleeps on its note until startm hands it a
 * P.  So an idle process has every M asleep in the kernel: ~0% CPU.
 */
#include "runtime.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

struct gmp_sched gmp_sched;
__thread struct gmp_m *gmp_tls_m __attribute__((tls_model("initial-exec")));

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
static pthread_create_fn real_pthread_create;
static gmp_mutex initlock;

int gmp_real_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	return real_pthread_create(t, attr, fn, arg);
}

#define M_STACK_SIZE (1u << 20) /* g0 runs the scheduler, timers and (later) dumps */


/*
 * ThreadSanitizer follows one stack per OS thread unless told about fibers.
 * In -DGMP_SANITIZE_THREAD builds every G and every g0 is a TSan fiber and
 * each switch announces itself (which also gives TSan the happens-before
 * edge the switch implies).  The scheduler functions that never return
 * (mcall and what it calls, execute, goentry, gmp_exit) are GMP_NOTSAN so
 * TSan's shadow call stacks stay balanced.  Compiled out otherwise.
 */
#ifdef GMP_SANITIZE_THREAD
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
static void tsan_switch(void **fiber)
{
	if (*fiber == NULL)
		*fiber = __tsan_create_fiber(0);
	__tsan_switch_to_fiber(*fiber, 0);
}
#define TSAN_G0_INIT(m) ((m)->tsan_fiber = __tsan_get_current_fiber())
#define TSAN_ADOPT(g) ((g)->tsan_fiber = __tsan_get_current_fiber())
#define TSAN_TO_G(g) tsan_switch(&(g)->tsan_fiber)
#define TSAN_TO_G0(m) tsan_switch(&(m)->tsan_fiber)
#else
#define TSAN_G0_INIT(m) ((void)0)
#define TSAN_ADOPT(g) ((void)0)
#define TSAN_TO_G(g) ((void)0)
#define TSAN_TO_G0(m) ((void)0)
#endif

static inline uint32_t m_fastrand(struct gmp_m *m)
{
	/* xorshift64* */
	uint64_t x = m->fastrand;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	m->fastrand = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

/* ---------------------------------------------------------------- P/M lists */

void gmp_acquirep(struct gmp_m *m, struct gmp_p *pp)
{
	if (unlikely(m->p || atomic_load_explicit(&pp->m, memory_order_relaxed)))
		gmp_fatal("acquirep: M%d already has P or P%d has M", m->id, pp->id);
	m->p = pp;
	atomic_store_explicit(&pp->m, m, memory_order_relaxed);
	atomic_store_explicit(&pp->status, GMP_P_RUNNING, memory_order_relaxed);
}

static inline void schedtick_bump(struct gmp_p *pp)
{
	atomic_store_explicit(&pp->schedtick, atomic_load_explicit(&pp->schedtick, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/*
 * sysmon took our P while the G ran its own code (its M looked blocked in
 * the kernel).  Take an idle P if there is one; otherwise go on without one,
 * like a G back from a system call: the run queue and free-list operations
 * of the caller use the global ones, and the next switch on this M waits
 * for a P (gmp_schedule).  Never parks here: the caller may hold runtime
 * locks (a park holds its wait-queue lock until it is on g0).
 */
static void lostp(struct gmp_m *m)
{
	m->p = NULL; /* sysmon cleared pp->m; the P is someone else's now */
	gmp_m_lostp_seen(m);
	gmp_lock(&gmp_sched.lock);
	struct gmp_p *np = gmp_pidleget_locked();
	gmp_unlock(&gmp_sched.lock);
	if (np)
		gmp_acquirep(m, np);
}

struct gmp_m *gmp_holdp(void)
{
	struct gmp_m *m = gmp_getm();
	if (m == NULL)
		return NULL;
	if (m->pheld++ != 0 || m->p == NULL)
		return m;
	uint32_t st = GMP_P_USER_OF(m);
	if (unlikely(!atomic_compare_exchange_strong_explicit(&m->p->status, &st, GMP_P_RUNNING,
							      memory_order_acquire, memory_order_relaxed)))
		lostp(m);
	return m;
}

void gmp_unholdp(struct gmp_m *m)
{
	if (m && --m->pheld == 0 && m->p)
		atomic_store_explicit(&m->p->status, GMP_P_USER_OF(m), memory_order_release);
}

struct gmp_p *gmp_releasep(struct gmp_m *m)
{
	struct gmp_p *pp = m->p;
	if (unlikely(pp == NULL || atomic_load_explicit(&pp->m, memory_order_relaxed) != m))
		gmp_fatal("releasep: M%d does not own its P", m->id);
	m->p = NULL;
	atomic_store_explicit(&pp->m, NULL, memory_order_relaxed);
	atomic_store_explicit(&pp->status, GMP_P_IDLE, memory_order_relaxed);
	return pp;
}

void gmp_pidleput_locked(struct gmp_p *pp)
{
	if (unlikely(!gmp_runqempty(pp)))
		gmp_fatal("pidleput: P%d has runnable Gs", pp->id);
	pp->link = gmp_sched.pidle;
	gmp_sched.pidle = pp;
	atomic_fetch_add(&gmp_sched.npidle, 1);
}

struct gmp_p *gmp_pidleget_locked(void)
{
	struct gmp_p *pp = gmp_sched.pidle;
	if (pp) {
		gmp_sched.pidle = pp->link;
		atomic_fetch_sub(&gmp_sched.npidle, 1);
		gmp_sysmon_wake(); /* something runs now: watch it */
	}
	return pp;
}

static void mput_locked(struct gmp_m *m)
{
	m->schedlink = gmp_sched.midle;
	gmp_sched.midle = m;
	gmp_sched.nmidle++;
}

static struct gmp_m *mget_locked(void)
{
	struct gmp_m *m = gmp_sched.midle;
	if (m) {
		gmp_sched.midle = m->schedlink;
		gmp_sched.nmidle--;
	}
	return m;
}

/* ---------------------------------------------------------------- Ms */

GMP_NOTSAN static void *mstart(void *arg)
{
	struct gmp_m *m = arg;
	gmp_tls_m = m;
	m->tcb = m->curtcb = m->listedtcb = gmp_tls_tp();
	m->tid = gmp_gettid();
	atomic_store_explicit(&gmp_sched.mtid[m->id], m->tid, memory_order_relaxed);
	/* Every mcall restarts g0 just below this frame, on the thread's own stack. */
	m->g0sp = (char *)__builtin_frame_address(0) - 256;
	TSAN_G0_INIT(m);
	gmp_crash_altstack(m);
	/* Cloned with every signal blocked (newm); it stays so until the M runs
	 * a G, whose mask it then takes (tls.c). */
	m->sigmask = GMP_SIGALL;
	struct gmp_p *pp = m->nextp;
	m->nextp = NULL;
	gmp_acquirep(m, pp);
	m->pheld = 1;
	gmp_schedule();
}

/* Allocates and registers an M (counted against GMP_MAXTHREADS). */
static struct gmp_m *mcommoninit(void)
{
	struct gmp_m *m = gmp_persistentalloc(sizeof *m);
	gmp_lock(&gmp_sched.lock);
	if (gmp_sched.mcount >= gmp_sched.cfg.maxthreads) {
		gmp_unlock(&gmp_sched.lock);
		gmp_fatal("program exceeds %d OS threads (GMP_MAXTHREADS); raise it or find the "
			  "threads blocked in system calls", gmp_sched.cfg.maxthreads);
	}
	m->id = gmp_sched.mcount++;
	atomic_store(&gmp_sched.mbyid[m->id], m);
	m->fastrand = 0x9E3779B97F4A7C15ULL * (uint64_t)(m->id + 1);
	m->alllink = gmp_sched.allm;
	gmp_sched.allm = m;
	gmp_unlock(&gmp_sched.lock);
	return m;
}

/* Creates an M that starts with pp (and spinning, if so). */
static void newm(struct gmp_p *pp, bool spinning)
{
	struct gmp_m *m = mcommoninit();
	m->nextp = pp;
	m->spinning = spinning;

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, M_STACK_SIZE);
	/* Block every signal while cloning so none lands on a half-made M. */
	sigset_t all, old;
	sigfillset(&all);
	gmp_sigmask(SIG_SETMASK, &all, &old);
	pthread_t tid;
	int err = real_pthread_create(&tid, &attr, mstart, m);
	gmp_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err != 0)
		gmp_fatal("cannot create OS thread M%d: %s", m->id, strerror(err));
}

/* Parks the current M (without a P) until startm hands it one. */
void gmp_stopm(struct gmp_m *m)
{
	if (unlikely(m->p || m->spinning))
		gmp_fatal("stopm: M%d holds a P or spins", m->id);
	gmp_lock(&gmp_sched.lock);
	mput_locked(m);
	bool last = gmp_sched.nmidle == gmp_sched.mcount;
	gmp_unlock(&gmp_sched.lock);
	gmp_sig_idle(m);
	GMP_TRACE(GMP_EV_IDLESTART, 0, 0);
	/* The last M to go idle with nothing that could wake a G (no timer,
	 * no fd waiter): if that lasts, every thread may be asleep for good. */
	if (unlikely(last) && gmp_deadlock_suspect() &&
	    !gmp_notetsleep(&m->park, gmp_nanotime() + 100 * 1000000LL))
		gmp_deadlock_check();
	gmp_notesleep(&m->park);
	gmp_noteclear(&m->park);
	GMP_TRACE(GMP_EV_IDLESTOP, 0, 0);
	gmp_acquirep(m, m->nextp);
	m->nextp = NULL;
}

/*
 * Runs some M with pp (or an idle P if pp is NULL).  If spinning, the caller
 * has already counted it in nmspinning and we undo that when no P is idle.
 */
void gmp_startm(struct gmp_p *pp, bool spinning)
{
	gmp_lock(&gmp_sched.lock);
	if (pp == NULL) {
		pp = gmp_pidleget_locked();
		if (pp == NULL) {
			gmp_unlock(&gmp_sched.lock);
			if (spinning && atomic_fetch_sub(&gmp_sched.nmspinning, 1) <= 0)
				gmp_fatal("startm: negative nmspinning");
			return;
		}
	}
	struct gmp_m *nm = mget_locked();
	gmp_unlock(&gmp_sched.lock);
	if (nm == NULL) {
		newm(pp, spinning);
		return;
	}
	nm->spinning = spinning;
	nm->nextp = pp;
	gmp_notewakeup(&nm->park);
}

void gmp_wakep(void)
{
	if (atomic_load(&gmp_sched.npidle) == 0)
		return;
	int z = 0;
	if (atomic_load(&gmp_sched.nmspinning) != 0 ||
	    !atomic_compare_exchange_strong(&gmp_sched.nmspinning, &z, 1))
		return;
	gmp_startm(NULL, true);
}

static void resetspinning(struct gmp_m *m)
{
	m->spinning = false;
	int n = atomic_fetch_sub(&gmp_sched.nmspinning, 1) - 1;
	if (unlikely(n < 0))
		gmp_fatal("resetspinning: negative nmspinning");
	/* We found work; if we were the last spinner, let someone else look. */
	gmp_wakep();
}

/* Timers or pollers made a list of Gs runnable (linked by schedlink). */
void gmp_injectglist(struct gmp_g *list, int n)
{
	if (list == NULL)
		return;
	struct gmp_g *tail = list;
	for (struct gmp_g *g = list; g; g = g->schedlink) {
		gmp_casgstatus(g, GMP_G_WAITING, GMP_G_RUNNABLE);
		GMP_TRACE(GMP_EV_READY, g->goid, 0);
		tail = g;
	}
	gmp_lock(&gmp_sched.lock);
	gmp_globrunqputbatch_locked(list, tail, n);
	gmp_unlock(&gmp_sched.lock);
	/* One M per idle P, up to one per G. */
	for (int i = 0; i < n && atomic_load(&gmp_sched.npidle) > 0; i++)
		gmp_startm(NULL, false);
}

void gmp_wakenetpoller(int64_t when)
{
	if (atomic_load(&gmp_sched.lastpoll) == 0) {
		int64_t pu = atomic_load(&gmp_sched.polluntil);
		if (pu == 0 || pu > when)
			gmp_netpoll_break();
	} else {
		/* Nobody sleeps in the poller: make sure someone will look at the timer. */
		gmp_wakep();
	}
}

/* ---------------------------------------------------------------- running Gs */

GMP_NOTSAN GMP_NORETURN void gmp_execute(struct gmp_m *m, struct gmp_g *g, bool inherit)
{
	m->curg = g;
	g->m = m;
	gmp_casgstatus(g, GMP_G_RUNNABLE, GMP_G_RUNNING);
	GMP_TRACE(GMP_EV_GSTART, g->goid, (uint64_t)m->p->id);
	if (!inherit)
		schedtick_bump(m->p);
	atomic_store_explicit(&m->p->preempt, 0, memory_order_relaxed);
	/* From here on the G's own code runs: sysmon may take the P if it
	 * blocks unseen (gmp_holdp). */
	m->pheld = 0;
	atomic_store_explicit(&m->p->status, GMP_P_USER_OF(m), memory_order_release);
	gmp_tls_load(g);
	TSAN_TO_G(g);
	gmp_ctx_jump(&g->ctx);
}

/* Tries to steal a G (or run other Ps' timers) for pp.  *newwork: timers ran. */
static struct gmp_g *stealwork(struct gmp_m *m, int64_t now, bool *newwork)
{
	struct gmp_p *pp = m->p;
	int n = gmp_sched.nprocs;
	*newwork = false;
	for (int round = 0; round < 4; round++) {
		bool last = round == 3; /* last round: also timers and runnext */
		uint32_t start = m_fastrand(m) % (uint32_t)n;
		for (int i = 0; i < n; i++) {
			struct gmp_p *p2 = gmp_sched.allp[(start + (uint32_t)i) % (uint32_t)n];
			if (p2 == pp)
				continue;
			if (last) {
				int64_t next;
				if (gmp_timer_run(p2, now, &next) > 0) {
					bool inh;
					struct gmp_g *g = gmp_runqget(pp, &inh);
					if (g)
						return g;
					*newwork = true;
				}
			}
			if (atomic_load_explicit(&p2->status, memory_order_relaxed) == GMP_P_IDLE)
				continue;
			struct gmp_g *g = gmp_runqsteal(pp, p2, last);
			if (g)
				return g;
		}
	}
	return NULL;
}

/* Finds a runnable G, sleeping as needed.  Returns with m->p held. */
static struct gmp_g *findrunnable(struct gmp_m *m, bool *inherit)
{
	struct gmp_g *g;
	struct gmp_p *pp;
top:
	pp = m->p;
	int64_t now = gmp_nanotime(), next;
	gmp_timer_run(pp, now, &next);
	if ((g = gmp_runqget(pp, inherit)) != NULL)
		return g;
	if (atomic_load_explicit(&gmp_sched.runqsize, memory_order_relaxed) > 0) {
		gmp_lock(&gmp_sched.lock);
		g = gmp_globrunqget_locked(pp, 0);
		gmp_unlock(&gmp_sched.lock);
		if (g) {
			*inherit = false;
			return g;
		}
	}
	/* Fds that became ready, if nobody is polling already (Go's
	 * optimisation before stealing: cheaper than a sleep and a wake-up). */
	if (atomic_load_explicit(&gmp_sched.npollwait, memory_order_relaxed) > 0 &&
	    atomic_load_explicit(&gmp_sched.lastpoll, memory_order_relaxed) != 0) {
		int n;
		gmp_netpoll(0, &n); /* readies them onto pp */
		if (n > 0 && (g = gmp_runqget(pp, inherit)) != NULL) {
			*inherit = false;
			return g;
		}
	}
	/* No G here for a while: the OS thread stops taking the program's
	 * signals (a process-directed one that lands here must not find the
	 * mask of the G that ran last; sysmon catches those for parked Gs). */
	gmp_sig_idle(m);
	/* Spin only while fewer than half the busy Ps have a spinner. */
	int busy = gmp_sched.nprocs - atomic_load(&gmp_sched.npidle);
	if (m->spinning || 2 * atomic_load(&gmp_sched.nmspinning) < busy) {
		if (!m->spinning) {
			m->spinning = true;
			atomic_fetch_add(&gmp_sched.nmspinning, 1);
		}
		bool newwork;
		if ((g = stealwork(m, now, &newwork)) != NULL) {
			*inherit = false;
			return g;
		}
		if (newwork)
			goto top;
	}

	/* Nothing found: give up the P. */
	gmp_lock(&gmp_sched.lock);
	if (atomic_load_explicit(&gmp_sched.runqsize, memory_order_relaxed) > 0) {
		g = gmp_globrunqget_locked(pp, 0);
		gmp_unlock(&gmp_sched.lock);
		*inherit = false;
		return g;
	}
	gmp_releasep(m);
	gmp_pidleput_locked(pp);
	gmp_unlock(&gmp_sched.lock);

	bool wasspinning = m->spinning;
	if (m->spinning) {
		m->spinning = false;
		if (atomic_fetch_sub(&gmp_sched.nmspinning, 1) <= 0)
			gmp_fatal("findrunnable: negative nmspinning");
		/* The StoreLoad pair with submitters: re-check every queue after
		 * we stopped counting as a spinner.  A submitter that saw us
		 * spinning skipped its wakep, so its G is ours to find. */
		atomic_thread_fence(memory_order_seq_cst);
		gmp_lock(&gmp_sched.lock);
		if (atomic_load_explicit(&gmp_sched.runqsize, memory_order_relaxed) > 0 &&
		    (pp = gmp_pidleget_locked()) != NULL) {
			gmp_acquirep(m, pp);
			g = gmp_globrunqget_locked(pp, 0);
			gmp_unlock(&gmp_sched.lock);
			m->spinning = true;
			atomic_fetch_add(&gmp_sched.nmspinning, 1);
			*inherit = false;
			return g;
		}
		gmp_unlock(&gmp_sched.lock);
		for (int i = 0; i < gmp_sched.nprocs; i++) {
			if (!gmp_runqempty(gmp_sched.allp[i])) {
				gmp_lock(&gmp_sched.lock);
				pp = gmp_pidleget_locked();
				gmp_unlock(&gmp_sched.lock);
				if (pp) {
					gmp_acquirep(m, pp);
					m->spinning = true;
					atomic_fetch_add(&gmp_sched.nmspinning, 1);
					goto top;
				}
				break;
			}
		}
	}

	/* Sleep in the poller until the next timer or fd event, if nobody
	 * else does. */
	int64_t polluntil = gmp_timer_next_all();
	bool fdwait = atomic_load(&gmp_sched.npollwait) > 0;
	if (polluntil != 0 || fdwait)
		gmp_netpoll_init();
	if ((polluntil != 0 || fdwait) && atomic_exchange(&gmp_sched.lastpoll, 0) != 0) {
		atomic_store(&gmp_sched.polluntil, polluntil);
		now = gmp_nanotime();
		int64_t delay = polluntil == 0 ? -1 : polluntil > now ? polluntil - now : 0;
		int n;
		if (delay != 0) {
			gmp_sig_idle(m);
			GMP_TRACE(GMP_EV_POLLSTART, 0, 0);
		}
		struct gmp_g *list = gmp_netpoll(delay, &n);
		if (delay != 0)
			GMP_TRACE(GMP_EV_POLLSTOP, 0, 0);
		gmp_sig_route();
		now = gmp_nanotime();
		atomic_store(&gmp_sched.polluntil, 0);
		atomic_store(&gmp_sched.lastpoll, now);
		gmp_lock(&gmp_sched.lock);
		pp = gmp_pidleget_locked();
		gmp_unlock(&gmp_sched.lock);
		if (pp == NULL) {
			gmp_injectglist(list, n);
		} else {
			gmp_acquirep(m, pp);
			if (list) {
				g = list;
				gmp_injectglist(g->schedlink, n - 1);
				g->schedlink = NULL;
				gmp_casgstatus(g, GMP_G_WAITING, GMP_G_RUNNABLE);
				*inherit = false;
				return g;
			}
			if (wasspinning) {
				m->spinning = true;
				atomic_fetch_add(&gmp_sched.nmspinning, 1);
			}
			goto top;
		}
	} else if (polluntil != 0) {
		int64_t pu = atomic_load(&gmp_sched.polluntil);
		if (pu == 0 || pu > polluntil)
			gmp_netpoll_break();
	}
	gmp_stopm(m);
	goto top;
}

GMP_NOTSAN GMP_NORETURN void gmp_schedule(void)
{
	struct gmp_m *m = gmp_getm();
	if (unlikely(m->locks != 0))
		gmp_fatal("schedule: holding %d runtime locks", m->locks);
	if (unlikely(m->p == NULL))
		gmp_stopm(m); /* it lost its P to sysmon (gmp_holdp): wait for one */
	for (;;) {
		struct gmp_p *pp = m->p;
		struct gmp_g *g = NULL;
		bool inherit = false;
		if (atomic_load_explicit(&pp->timer0when, memory_order_relaxed) != 0) {
			int64_t next;
			gmp_timer_run(pp, gmp_nanotime(), &next);
		}
		if (atomic_load_explicit(&pp->schedtick, memory_order_relaxed) % 61 == 0) {
			/* Fairness for the global queue and for fd waiters when
			 * this P never runs dry (sysmon polls too, but it may
			 * not get a CPU on a loaded machine). */
			if (atomic_load_explicit(&gmp_sched.runqsize, memory_order_relaxed) > 0) {
				gmp_lock(&gmp_sched.lock);
				g = gmp_globrunqget_locked(pp, 1);
				gmp_unlock(&gmp_sched.lock);
			}
			if (atomic_load_explicit(&gmp_sched.npollwait, memory_order_relaxed) > 0)
				gmp_netpoll_check(gmp_nanotime(), 10 * 1000000);
		}
		if (g == NULL)
			g = gmp_runqget(pp, &inherit);
		if (g == NULL)
			g = findrunnable(m, &inherit);
		if (m->spinning)
			resetspinning(m);
		pp = m->p;
		if (!inherit) {
			pp->ninherit = 0;
		} else if (++pp->ninherit >= GMP_MAX_INHERIT) {
			/* A pair handing off through runnext shares one time slice;
			 * once it is used up the pair goes behind everyone else.
			 * (Requeue and pick again: a thief may take it meanwhile.) */
			pp->ninherit = 0;
			gmp_runqput(pp, g, false);
			continue;
		}
		gmp_execute(m, g, inherit);
	}
}

/* Entry of every M into the scheduler from a G (on g0), holding its P. */
GMP_NOTSAN void gmp_mcall(void (*fn)(void *))
{
	struct gmp_m *m = gmp_holdp();
	struct gmp_g *g = m->curg;
	gmp_tls_save(g);
	TSAN_TO_G0(m);
	gmp_ctx_mcall(&g->ctx, m->g0sp, fn, g);
}

void gmp_dropg(struct gmp_m *m, struct gmp_g *g)
{
	m->curg = NULL;
	g->m = NULL;
}

/* ---------------------------------------------------------------- G API */

struct gmp_g *gmp_g_current(void);

GMP_NOTSAN static void goentry(void *arg)
{
	struct gmp_g *g = arg;
	gmp_tls_thread_start();
	g->fn(g->arg);
	gmp_exit();
}

struct gmp_g *gmp_spawn(void (*fn)(void *), void *arg, const struct gmp_spawn_attr *attr, int *err)
{
	static const struct gmp_spawn_attr dflt;
	if (attr == NULL)
		attr = &dflt;
	gmp_sysmon_start();
	struct gmp_m *m = gmp_holdp();
	struct gmp_p *pp = m ? m->p : NULL;
	struct gmp_g *g = gmp_g_alloc(pp, attr->stacksize, attr->stackaddr, attr->stacksize);
	if (g == NULL) {
		gmp_unholdp(m);
		if (err)
			*err = -EAGAIN;
		return NULL;
	}
	if (unlikely(gmp_tcb_prepare(g) != 0)) {
		gmp_g_free(pp, g);
		gmp_unholdp(m);
		if (err)
			*err = -EAGAIN;
		return NULL;
	}
	g->fn = fn;
	g->arg = arg;
	g->user = attr->user;
	g->goid = atomic_fetch_add(&gmp_sched.goidgen, 1) + 1;
	g->waitreason = GMP_WAIT_NONE;
	g->waitobj = NULL;
	g->foreign = false;
	g->errno_save = 0; /* a new thread starts with errno 0, as natively */
	/* A new thread inherits its creator's signal mask, nothing pending. */
	if (m && m->curg)
		g->sigmask = m->curg->sigmask;
	else
		gmp_sigmask(SIG_SETMASK, NULL, (sigset_t *)&g->sigmask);
	gmp_sig_track(g, m ? m->curg : NULL);
	atomic_store(&g->sigpend, 0);
	atomic_store(&g->sigqueued, 0);
	atomic_store(&g->sigdelivered, 0);
	atomic_store(&g->sigrouted, 0);
	atomic_store(&g->sigwaitset, 0);
	atomic_store(&g->intr, 0);
	gmp_ctx_make(&g->ctx, g->stack.hi, goentry, g);
	atomic_fetch_add(&gmp_sched.ngoroutines, 1);
	if (unlikely(gmp_tracing)) {
		char name[32];
		void *start;
		gmp_g_info(g, name, sizeof name, &start);
		gmp_trace_ev(GMP_EV_CREATE, g->goid, (uint64_t)(uintptr_t)(start ? start : (void *)fn));
	}
	gmp_casgstatus(g, GMP_G_DEAD, GMP_G_RUNNABLE);
	if (pp) {
		gmp_runqput(pp, g, true);
	} else {
		gmp_lock(&gmp_sched.lock);
		gmp_globrunqput_locked(g);
		gmp_unlock(&gmp_sched.lock);
	}
	gmp_unholdp(m);
	gmp_wakep();
	return g;
}

GMP_NOTSAN static void goexit0(void *arg)
{
	struct gmp_g *g = arg;
	struct gmp_m *m = gmp_getm();
	gmp_casgstatus(g, GMP_G_RUNNING, GMP_G_DEAD);
	GMP_TRACE(GMP_EV_GSTOP, g->goid, GMP_STOP_EXIT);
	gmp_dropg(m, g);
	struct gmp_g *mg = g;
	atomic_compare_exchange_strong(&gmp_sched.maing, &mg, NULL); /* main thread gone */
	gmp_sig_untrack(g);
	gmp_sig_exit(g);
	if (unlikely(gmp_stack_overflowed(&g->stack)))
		gmp_fatal("stack overflow in G%llu (canary at %p overwritten)",
			  (unsigned long long)g->goid, g->stack.lo);
	g->user = NULL;
	gmp_tcb_release(g);
	atomic_fetch_sub(&gmp_sched.ngoroutines, 1);
	gmp_g_free(m->p, g);
	gmp_schedule();
}

GMP_NOTSAN void gmp_exit(void)
{
	struct gmp_m *m = gmp_getm();
	if (unlikely(m == NULL || m->curg == NULL))
		gmp_fatal("gmp_exit called outside a G");
	gmp_tls_run_dtors();
	gmp_mcall(goexit0);
	__builtin_unreachable();
}

GMP_NOTSAN static void park_m(void *arg)
{
	struct gmp_g *g = arg;
	struct gmp_m *m = gmp_getm();
	gmp_casgstatus(g, GMP_G_RUNNING, GMP_G_WAITING);
	GMP_TRACE(GMP_EV_GSTOP, g->goid, GMP_STOP_PARK | g->waitreason);
	gmp_dropg(m, g);
	bool (*fn)(struct gmp_g *, void *) = m->waitunlockf;
	if (fn) {
		m->waitunlockf = NULL;
		bool ok = fn(g, m->waitlock);
		m->waitlock = NULL;
		if (!ok) {
			gmp_casgstatus(g, GMP_G_WAITING, GMP_G_RUNNABLE);
			if (likely(m->p != NULL))
				gmp_execute(m, g, true);
			/* No P (gmp_holdp lost it): wait in line with the rest. */
			gmp_lock(&gmp_sched.lock);
			gmp_globrunqput_locked(g);
			gmp_unlock(&gmp_sched.lock);
		}
	}
	gmp_schedule();
}

/* Foreign threads: the OS thread itself sleeps until gmp_ready. */
static void park_foreign(struct gmp_g *g, bool (*unlockf)(struct gmp_g *, void *), void *arg)
{
	atomic_store_explicit(&g->fwake, 0, memory_order_relaxed);
	gmp_casgstatus(g, GMP_G_RUNNING, GMP_G_WAITING);
	if (unlockf && !unlockf(g, arg)) {
		gmp_casgstatus(g, GMP_G_WAITING, GMP_G_RUNNING);
		return;
	}
	while (atomic_load_explicit(&g->fwake, memory_order_acquire) == 0)
		gmp_os_futex_wait(&g->fwake, 0, -1);
	gmp_casgstatus(g, GMP_G_RUNNABLE, GMP_G_RUNNING);
}

void gmp_park(bool (*unlockf)(struct gmp_g *g, void *arg), void *arg, enum gmp_waitreason reason,
	      const void *obj)
{
	struct gmp_g *g = gmp_g_current();
	g->waitreason = (uint8_t)reason;
	g->waitobj = obj;
	g->waitsince = gmp_nanotime();
	struct gmp_m *m = gmp_getm();
	if (m == NULL) {
		park_foreign(g, unlockf, arg);
	} else {
		/* Runtime locks may be held here if unlockf releases them (the
		 * wait queues do); gmp_schedule() checks that none is left. */
		m->waitunlockf = unlockf;
		m->waitlock = arg;
		gmp_mcall(park_m);
	}
	g->waitreason = GMP_WAIT_NONE;
	g->waitobj = NULL;
}

void gmp_ready(struct gmp_g *g)
{
	gmp_casgstatus(g, GMP_G_WAITING, GMP_G_RUNNABLE);
	GMP_TRACE(GMP_EV_READY, g->goid, 0);
	if (g->foreign) {
		atomic_store_explicit(&g->fwake, 1, memory_order_release);
		gmp_os_futex_wake(&g->fwake, 1);
		return;
	}
	struct gmp_m *m = gmp_holdp();
	if (m && m->p) {
		gmp_runqput(m->p, g, true);
	} else {
		gmp_lock(&gmp_sched.lock);
		gmp_globrunqput_locked(g);
		gmp_unlock(&gmp_sched.lock);
	}
	gmp_unholdp(m);
	gmp_wakep();
}

GMP_NOTSAN static void gosched_m(void *arg)
{
	struct gmp_g *g = arg;
	struct gmp_m *m = gmp_getm();
	gmp_casgstatus(g, GMP_G_RUNNING, GMP_G_RUNNABLE);
	GMP_TRACE(GMP_EV_GSTOP, g->goid, GMP_STOP_YIELD);
	gmp_dropg(m, g);
	if (likely(m->p != NULL)) {
		gmp_runqput(m->p, g, false);
	} else {
		gmp_lock(&gmp_sched.lock);
		gmp_globrunqput_locked(g);
		gmp_unlock(&gmp_sched.lock);
	}
	gmp_schedule();
}

void gmp_yield(void)
{
	if (gmp_getm() == NULL) {
		gmp_sys(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
		return;
	}
	gmp_mcall(gosched_m);
}

static void sleep_wake(struct gmp_timer *t)
{
	gmp_ready(t->arg);
}

static bool sleep_arm(struct gmp_g *g, void *arg)
{
	(void)arg;
	int64_t when = g->timer.when;
	if (gmp_timer_add(&g->timer)) /* on g0, G already WAITING: cannot fire early */
		gmp_wakenetpoller(when);
	return true;
}

void gmp_sleep_until(int64_t deadline)
{
	if (gmp_nanotime() >= deadline)
		return;
	struct gmp_g *g = gmp_g_current();
	if (g->foreign) {
		struct timespec ts = { .tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000 };
		while (gmp_sys(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL, 0, 0) == -EINTR)
			;
		return;
	}
	g->timer.when = deadline;
	g->timer.fn = sleep_wake;
	g->timer.arg = g;
	gmp_park(sleep_arm, NULL, GMP_WAIT_SLEEP, NULL);
	/* We may run before the M that fired the timer has finished its
	 * callback; the timer is ours again only once it has. */
	gmp_timer_del(&g->timer);
}

/* ---------------------------------------------------------------- adoption */

/* No P was free for an adopted thread: queue its G and sleep as an idle M. */
GMP_NOTSAN static void adopt_wait_m(void *arg)
{
	struct gmp_g *g = arg;
	struct gmp_m *m = gmp_getm();
	gmp_casgstatus(g, GMP_G_RUNNING, GMP_G_RUNNABLE);
	gmp_dropg(m, g);
	gmp_lock(&gmp_sched.lock);
	gmp_globrunqput_locked(g);
	gmp_unlock(&gmp_sched.lock);
	gmp_stopm(m);
	gmp_schedule();
}

/*
 * Turns the calling OS thread into an M and its current execution into a G
 * (the program's main thread, from the library constructor).  The G runs on
 * the thread's own stack, [stack_lo, stack_hi); the M gets a new g0 stack.
 * From then on the G may park, and may resume on another M; the OS thread
 * runs whatever G the scheduler gives it.  Returns the G.
 */
struct gmp_g *gmp_adopt_thread(void *stack_lo, void *stack_hi)
{
	if (unlikely(!gmp_runtime_inited()))
		gmp_fatal("gmp_adopt_thread before gmp_runtime_init");
	if (unlikely(gmp_getm() != NULL))
		gmp_fatal("gmp_adopt_thread: thread is already an M");
	struct gmp_m *m = mcommoninit();
	struct gmp_stack g0 = { 0 };
	if (gmp_stack_alloc(&g0, M_STACK_SIZE) != 0)
		gmp_fatal("gmp_adopt_thread: cannot allocate a g0 stack");
	m->g0sp = g0.hi;
	m->tid = gmp_gettid();
	atomic_store_explicit(&gmp_sched.mtid[m->id], m->tid, memory_order_relaxed);

	struct gmp_g *g = gmp_g_alloc(NULL, 0, stack_lo, (size_t)((char *)stack_hi - (char *)stack_lo));
	if (g == NULL)
		gmp_fatal("gmp_adopt_thread: cannot allocate a G");
	g->fn = NULL; /* no start routine: it is the thread's own execution */
	g->arg = NULL;
	g->user = NULL;
	g->foreign = false;
	g->goid = atomic_fetch_add(&gmp_sched.goidgen, 1) + 1;
	atomic_fetch_add(&gmp_sched.ngoroutines, 1);
	gmp_casgstatus(g, GMP_G_DEAD, GMP_G_RUNNING);
	gmp_sigmask(SIG_SETMASK, NULL, (sigset_t *)&g->sigmask);
	gmp_sig_track(g, NULL);
	m->sigmask = g->sigmask;
	gmp_m_setsigmask(m, g->sigmask); /* SIGURG, if inherited blocked, is the runtime's */
	atomic_store(&gmp_sched.mainsigmask, g->sigmask);
	atomic_store(&g->sigpend, 0);
	atomic_store(&g->sigqueued, 0);
	atomic_store(&g->intr, 0);

	gmp_tls_m = m;
	GMP_TRACE(GMP_EV_GSTART, g->goid, 0); /* it runs already */
	if (gmp_tls_perg) {
		/* The thread keeps its TCB (its TLS already holds the program's
		 * state); g0 gets a fresh one. */
		g->tcb = m->curtcb = gmp_tls_tp();
		g->tcb_borrowed = true;
		gmp_tls_adopt_main(g->tcb);
		m->tcb = gmp_tls_g0_tcb();
		m->listedtcb = g->tcb; /* glibc lists the main thread's own TCB for M0's OS thread */
		*(struct gmp_m **)((char *)m->tcb + gmp_tls_moff) = m;
	} else {
		m->tcb = m->curtcb = m->listedtcb = gmp_tls_tp(); /* every G runs on it */
	}
	TSAN_ADOPT(g); /* the thread's own fiber becomes the G's; g0 gets a new one */
	atomic_store(&gmp_sched.maing, g);
	m->curg = g;
	g->m = m;
	gmp_lock(&gmp_sched.lock);
	struct gmp_p *pp = gmp_pidleget_locked();
	gmp_unlock(&gmp_sched.lock);
	if (pp) {
		gmp_acquirep(m, pp);
		schedtick_bump(pp);
		atomic_store(&pp->status, GMP_P_USER_OF(m));
	} else {
		/* Every P is busy: wait our turn like any runnable G. */
		gmp_mcall(adopt_wait_m);
	}
	return g;
}

/* ---------------------------------------------------------------- foreign Gs */

/*
 * A thread the runtime did not create gets a G the first time it needs one
 * (to wait on a runtime object).  It is recycled through a list when the
 * thread exits (glibc runs __cxa_thread_atexit_impl destructors then).
 */
static __thread struct gmp_g *tls_foreign_g __attribute__((tls_model("initial-exec")));
static struct gmp_g *foreign_free;   /* gmp_sched.foreignlock */

extern int __cxa_thread_atexit_impl(void (*)(void *), void *, void *);
extern void *__dso_handle;

static void foreign_release(void *arg)
{
	struct gmp_g *g = arg;
	tls_foreign_g = NULL;
	gmp_lock(&gmp_sched.foreignlock);
	g->schedlink = foreign_free;
	foreign_free = g;
	gmp_unlock(&gmp_sched.foreignlock);
}

GMP_COLD static struct gmp_g *foreign_g_new(void)
{
	gmp_lock(&gmp_sched.foreignlock);
	struct gmp_g *g = foreign_free;
	if (g)
		foreign_free = g->schedlink;
	gmp_unlock(&gmp_sched.foreignlock);
	if (g == NULL) {
		g = gmp_persistentalloc(sizeof *g);
		gmp_allg_add(g);
	}
	g->foreign = true;
	g->maskslot = -1;
	g->goid = atomic_fetch_add(&gmp_sched.goidgen, 1) + 1;
	gmp_sigmask(SIG_SETMASK, NULL, (sigset_t *)&g->sigmask);
	atomic_store(&g->sigpend, 0);
	atomic_store(&g->sigqueued, 0);
	atomic_store(&g->intr, 0);
	atomic_store(&g->status, GMP_G_RUNNING);
	tls_foreign_g = g;
	__cxa_thread_atexit_impl(foreign_release, g, &__dso_handle);
	return g;
}

struct gmp_g *gmp_g_current(void)
{
	struct gmp_m *m = gmp_getm();
	if (likely(m != NULL)) {
		if (unlikely(m->curg == NULL))
			gmp_fatal("gmp_g_current on g0");
		return m->curg;
	}
	struct gmp_g *g = tls_foreign_g;
	return likely(g != NULL) ? g : foreign_g_new();
}

/* ---------------------------------------------------------------- init */

bool gmp_runtime_inited(void)
{
	return atomic_load_explicit(&gmp_sched.inited, memory_order_acquire);
}

void gmp_runtime_init(const struct gmp_config *cfg)
{
	if (gmp_runtime_inited())
		return;
	gmp_lock(&initlock);
	if (gmp_runtime_inited()) {
		gmp_unlock(&initlock);
		return;
	}
	gmp_sched.starttime = gmp_nanotime();
	if (cfg)
		gmp_sched.cfg = *cfg;
	else
		gmp_config_from_env(&gmp_sched.cfg);
	real_pthread_create = (pthread_create_fn)dlsym(RTLD_NEXT, "pthread_create");
	if (real_pthread_create == NULL)
		real_pthread_create = pthread_create;
	gmp_tls_init(&gmp_sched.cfg);

	int n = gmp_sched.cfg.maxprocs;
	gmp_sched.nprocs = n;
	gmp_sched.allp = gmp_persistentalloc(sizeof(struct gmp_p *) * (size_t)n);
	gmp_sched.mtid = gmp_persistentalloc(sizeof(pid_t) * (size_t)gmp_sched.cfg.maxthreads);
	gmp_sched.mbyid = gmp_persistentalloc(sizeof(struct gmp_m *) * (size_t)gmp_sched.cfg.maxthreads);
	if (gmp_sched.cfg.preempt_ms <= 0)
		gmp_sched.cfg.preempt_ms = 10; /* a hand-made config without one */
	for (int i = n - 1; i >= 0; i--) {
		struct gmp_p *pp = gmp_persistentalloc(sizeof *pp);
		pp->id = i;
		pp->fastrand = (uint32_t)(i * 2654435761u + 1);
		gmp_sched.allp[i] = pp;
		gmp_pidleput_locked(pp); /* no other thread yet */
	}
	atomic_store(&gmp_sched.lastpoll, gmp_nanotime());
	gmp_preempt_init();
	gmp_trace_init();
	gmp_netpoll_init();
	atomic_store_explicit(&gmp_sched.inited, true, memory_order_release);
	gmp_unlock(&initlock);
}

void gmp_stats_read(struct gmp_stats *st)
{
	gmp_lock(&gmp_sched.lock);
	st->nprocs = gmp_sched.nprocs;
	st->npidle = atomic_load(&gmp_sched.npidle);
	st->nmspinning = atomic_load(&gmp_sched.nmspinning);
	st->mcount = gmp_sched.mcount;
	st->nmidle = gmp_sched.nmidle;
	st->runqsize = atomic_load(&gmp_sched.runqsize);
	st->ngoroutines = atomic_load(&gmp_sched.ngoroutines);
	gmp_unlock(&gmp_sched.lock);
	st->sysmon = gmp_sysmon_running();
	st->filethread = gmp_filethread_running();
}
