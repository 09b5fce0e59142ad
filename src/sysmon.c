/*
 * sysmon: one OS thread, not an M (it holds no P and runs no G), watching
 * the Ps.  It retakes Ps whose M is stuck in a system call -- announced
 * (entersyscall, syscall.c) or not (below) -- and polls the network when
 * nobody has for 10 ms (Go's rule, so that fd waiters are not starved by
 * Ps that never go idle), and asks Gs that have used up their time slice to
 * yield (preempt_long; preempt.c signals them).  It is also where a
 * process-directed signal lands when only parked threads take it (its
 * mask: sysmon_setmask; the hand-over: gmp_sig_redirect in tls.c).
 *
 * Cadence (Go's): sleep 20 us while it finds work to do; after 50 idle
 * rounds double the sleep up to 10 ms (or half of GMP_PREEMPT_MS if less).  When every P is idle there is nothing
 * to watch, and it sleeps on a note until a G enters a system call
 * (gmp_sysmon_wake), so an idle process has no periodic wake-ups from it.
 *
 * Retake rule (Go's retake): a P seen in SYSCALL with the same syscalltick
 * on two consecutive rounds has been in one call for at least a tick.  It is
 * left alone only if it has no work queued, some other M could take new work
 * anyway (spinning or idle Ps exist), and the call is younger than 10 ms.
 *
 * Unannounced blocking (glibc's internal futex locks, stdio writing through
 * internal aliases, inline syscall instructions) leaves the P in USER state
 * with its M asleep in the kernel.  sysmon reads the M's thread CPU clock
 * for a P whose schedtick has not moved since the last round; if the clock
 * has not moved either over a whole round, the M is not running (blocked --
 * or, rarely, not scheduled by the kernel; handing its P over is harmless
 * then).  If the P has work (runnable Gs or timers) it is taken: CAS
 * USER -> IDLE, and handed off like a syscall P.  The G finds out at its
 * next entry into the runtime (gmp_holdp) and comes back as from a syscall.
 */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

struct sysmontick {
	uint32_t syscalltick;
	int64_t syscallwhen;
	uint32_t schedtick;
	uint32_t ptick;       /* schedtick when the G's slice began ... */
	int64_t pwhen;        /* ... at this time */
	int64_t psent;        /* preemption signal sent for this slice at, 0 not yet */
	int64_t cpu;          /* M's thread CPU time at the last look, -1 none */
	int64_t cpuwhen;      /* first seen at that value at this time */
};

static __thread bool on_sysmon;
static _Atomic bool started;
static _Atomic bool waiting;   /* sysmon is (about to be) asleep on note */
static gmp_note note;
static struct sysmontick *ticks; /* one per P; sysmon only */

/* Gives pp, just taken from a syscall, to whoever can use it. */
static void handoffp(struct gmp_p *pp)
{
	if (!gmp_runqempty(pp) || atomic_load(&gmp_sched.runqsize) != 0) {
		gmp_startm(pp, false);
		return;
	}
	/* No work here, but if nobody is looking for work, become the looker. */
	int z = 0;
	if (atomic_load(&gmp_sched.nmspinning) + atomic_load(&gmp_sched.npidle) == 0 &&
	    atomic_compare_exchange_strong(&gmp_sched.nmspinning, &z, 1)) {
		gmp_startm(pp, true);
		return;
	}
	gmp_lock(&gmp_sched.lock);
	if (atomic_load(&gmp_sched.runqsize) != 0) {
		gmp_unlock(&gmp_sched.lock);
		gmp_startm(pp, false);
		return;
	}
	int64_t when = atomic_load(&pp->timer0when);
	gmp_pidleput_locked(pp);
	gmp_unlock(&gmp_sched.lock);
	if (when != 0)
		gmp_wakenetpoller(when); /* its timers need a poller now */
}

/* CPU time consumed by OS thread tid (ns), -1 if unknown. */
static int64_t thread_cputime(pid_t tid)
{
	clockid_t clk = (clockid_t)((~(unsigned)tid << 3) | 6); /* CPUCLOCK_PERTHREAD | SCHED */
	struct timespec ts;
	if (gmp_sys(SYS_clock_gettime, clk, &ts, 0, 0, 0, 0) != 0)
		return -1;
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Is OS thread tid asleep in the kernel (state S or D), rather than
 * running or waiting for a CPU (R)?  Only asked once the CPU clock says it
 * has not run for a round: on an oversubscribed machine a runnable thread
 * may not run for a while either, and its P is better left alone. */
static bool thread_sleeping(pid_t tid)
{
	char buf[256];
	if (gmp_read_task_file(tid, "stat", buf, sizeof buf) <= 0)
		return false;
	const char *rp = strrchr(buf, ')'); /* the name may contain anything */
	return rp && rp[1] == ' ' && (rp[2] == 'S' || rp[2] == 'D');
}

/* Is OS thread tid running outside any system call?  Its syscall file
 * says "running" then (a thread blocked in a call shows the call). */
static bool thread_in_user(pid_t tid)
{
	char buf[128];
	if (gmp_read_task_file(tid, "syscall", buf, sizeof buf) <= 0)
		return !thread_sleeping(tid); /* no /proc/.../syscall: the next best */
	return strncmp(buf, "running", 7) == 0;
}

static bool p_has_work(struct gmp_p *pp)
{
	return !gmp_runqempty(pp) || atomic_load(&gmp_sched.runqsize) != 0 ||
	       atomic_load(&pp->timer0when) != 0;
}

/* How long an M's CPU clock must stand still before its P is taken:
 * 20 us, four times longer for every M already caught blocked this way
 * that has not come back (and found out: gmp_m_lostp_seen), up to 10 ms.
 *
 * Unseen blocking often has one cause for many threads.  When a threaded
 * program's descriptor table grows, the kernel makes every thread that
 * allocates a descriptor (socket, accept, open) sleep until an RCU grace
 * period ends (5-10 ms on this 2-vCPU VM); page faults wait while another
 * thread changes the mappings (a stack being made).  Each M handed a P
 * then runs a G that makes the same call and sleeps too: with a fixed
 * 20 us, one table growth in a 1,000-connection server took up to 37 OS
 * threads (4 in most runs); with the back-off, at most 9 in 40 runs.  One
 * stuck call is still found within a sysmon round, and a program with
 * many threads stuck for good in calls the shim cannot see still gets a
 * new M every 10 ms. */
static int64_t stall_needed(void)
{
	int k = atomic_load_explicit(&gmp_sched.nstolen, memory_order_relaxed);
	return k >= 5 ? 10 * 1000000 : 20000LL << (2 * k);
}

/* A P running a G's own code whose M has not used any CPU for a while. */
static bool retake_user(struct gmp_p *pp, struct sysmontick *pd, uint32_t status, int64_t now)
{
	uint32_t t = atomic_load_explicit(&pp->schedtick, memory_order_relaxed);
	int mid = (int)(status >> 8); /* the M, from the tag of USER */
	pid_t tid = mid < gmp_sched.cfg.maxthreads ? atomic_load_explicit(&gmp_sched.mtid[mid], memory_order_relaxed) : 0;
	if (t != pd->schedtick || tid == 0) {
		pd->schedtick = t;
		pd->cpu = -1;
		return false;
	}
	int64_t cpu = thread_cputime(tid);
	if (cpu < 0 || cpu != pd->cpu) {
		pd->cpu = cpu;
		pd->cpuwhen = now;
		return false;
	}
	if (now - pd->cpuwhen < stall_needed() || !p_has_work(pp) || !thread_sleeping(tid))
		return false;
	uint32_t st = status;
	if (!atomic_compare_exchange_strong(&pp->status, &st, GMP_P_IDLE))
		return false;
	pd->cpu = -1;
	atomic_store_explicit(&pp->m, NULL, memory_order_relaxed); /* its M may not touch it again: gmp_holdp fails the CAS */
	struct gmp_m *mp = atomic_load_explicit(&gmp_sched.mbyid[mid], memory_order_relaxed);
	if (mp && atomic_exchange(&mp->pstolen, 1) == 0)
		atomic_fetch_add(&gmp_sched.nstolen, 1);
	handoffp(pp);
	return true;
}

void gmp_m_lostp_seen(struct gmp_m *m)
{
	if (atomic_exchange(&m->pstolen, 0) != 0)
		atomic_fetch_sub(&gmp_sched.nstolen, 1);
}

/* Go's forcePreemptNS: a G that has run its time slice (GMP_PREEMPT_MS) on
 * its P while other work waits (runnable Gs, an expired timer of the P)
 * is asked to yield at its next preemption
 * point; if it runs its own code on a CPU, its M also gets SIGURG
 * (preempt.c), again every half slice until it yields. */
static void preempt_long(struct gmp_p *pp, struct sysmontick *pd, int64_t now, uint32_t status)
{
	uint32_t t = atomic_load_explicit(&pp->schedtick, memory_order_relaxed);
	if (t != pd->ptick) {
		pd->ptick = t;
		pd->pwhen = now;
		pd->psent = 0;
		return;
	}
	int64_t slice = (int64_t)gmp_sched.cfg.preempt_ms * 1000000;
	int64_t tw = atomic_load_explicit(&pp->timer0when, memory_order_relaxed);
	if (pd->pwhen + slice > now ||
	    (gmp_runqempty(pp) && atomic_load(&gmp_sched.runqsize) == 0 && (tw == 0 || tw > now)))
		return; /* nothing waits for this P: its G may go on */
	if (atomic_exchange_explicit(&pp->preempt, 1, memory_order_relaxed) == 0) {
		/* (a request the G answered by parking left its time behind:
		 * gmp_execute clears only the flag) */
		atomic_store_explicit(&pp->preemptwhen, now, memory_order_relaxed);
		gmp_preempt_requested();
		GMP_TRACE(GMP_EV_PREEMPTREQ, 0, (uint64_t)pp->id);
	}
	if (GMP_P_STATE(status) != GMP_P_USER || (pd->psent != 0 && pd->psent + slice / 2 > now))
		return;
	int mid = (int)(status >> 8);
	pid_t tid = mid < gmp_sched.cfg.maxthreads ? atomic_load_explicit(&gmp_sched.mtid[mid], memory_order_relaxed) : 0;
	if (tid == 0 || !thread_in_user(tid))
		return; /* blocked in the kernel: retake_user's business */
	pd->psent = now;
	gmp_preempt_signal(pp, status);
}

static int retake(int64_t now)
{
	int n = 0;
	for (int i = 0; i < gmp_sched.nprocs; i++) {
		struct gmp_p *pp = gmp_sched.allp[i];
		struct sysmontick *pd = &ticks[i];
		uint32_t status = atomic_load_explicit(&pp->status, memory_order_acquire);
		if (gmp_p_busy(status))
			preempt_long(pp, pd, now, status);
		if (GMP_P_STATE(status) == GMP_P_USER) {
			n += retake_user(pp, pd, status, now);
			continue;
		}
		pd->cpu = -1;
		if (status != GMP_P_SYSCALL)
			continue;
		uint32_t t = atomic_load_explicit(&pp->syscalltick, memory_order_relaxed);
		if (pd->syscalltick != t) {
			pd->syscalltick = t;
			pd->syscallwhen = now;
			continue;
		}
		if (gmp_runqempty(pp) &&
		    atomic_load(&gmp_sched.nmspinning) + atomic_load(&gmp_sched.npidle) > 0 &&
		    pd->syscallwhen + 10 * 1000000 > now)
			continue;
		uint32_t st = GMP_P_SYSCALL;
		if (atomic_compare_exchange_strong(&pp->status, &st, GMP_P_IDLE)) {
			n++;
			handoffp(pp);
		}
	}
	return n;
}

static bool all_idle(void)
{
	return atomic_load(&gmp_sched.npidle) == gmp_sched.nprocs;
}

/* Sleeps us microseconds, or until gmp_sysmon_sync_mask kicks it. */
static _Atomic uint32_t kick;
static void usleep_raw(int64_t us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };
	if (atomic_exchange(&kick, 0) == 0)
		gmp_sys(SYS_futex, &kick, FUTEX_WAIT_PRIVATE, 0, &ts, 0, 0);
	atomic_store(&kick, 0);
}

/* GMP_DEBUG=schedtrace: print when due; the next time it is due. */
static int64_t schedtrace_due(int64_t now)
{
	static int64_t next;
	int64_t period = (int64_t)gmp_sched.cfg.schedtrace_ms * 1000000;
	if (period == 0)
		return 0;
	if (next == 0)
		next = gmp_sched.starttime + period;
	if (now >= next) {
		gmp_schedtrace(now);
		while (next <= now)
			next += period;
	}
	return next;
}

bool gmp_on_sysmon(void)
{
	return on_sysmon;
}

/*
 * sysmon's signal mask: it lets in the signals some live thread of the
 * program does not block (gmp_sig_taken), so that a process-directed
 * signal whose only takers are parked has an OS thread to land on; its
 * handler wrapper hands it to one of them (gmp_sig_redirect); a kill -ABRT
 * or -TERM with the default action ends the process at once, as natively.
 * Not the runtime's own signals (SIGURG; the dump signal, which idle Ms
 * take when the main thread does, so dumps come from an M).  glibc's two
 * internal ones stay open, as on every OS thread of the process: setuid()
 * waits for each to take SIGSETXID.  Re-applied when the table of masks
 * changes (it wakes sysmon) or a handler here changed it on return.
 */
static _Atomic uint32_t mask_applied = ~0U; /* the table generation it has */
static _Atomic bool mask_stale;

void gmp_sysmon_mask_stale(void)
{
	atomic_store(&mask_stale, true);
}

static void sysmon_setmask(void)
{
	if (gmp_sig_gen() == atomic_load_explicit(&mask_applied, memory_order_relaxed) &&
	    !atomic_load_explicit(&mask_stale, memory_order_relaxed))
		return;
	atomic_store(&mask_stale, false);
	uint32_t gen;
	uint64_t block = ~gmp_sig_taken(&gen) | gmp_sig_keep;
	if (gmp_sched.cfg.dumpsig > 0)
		block |= 1ULL << (gmp_sched.cfg.dumpsig - 1);
	block &= ~(3ULL << 31); /* SIGCANCEL, SIGSETXID */
	gmp_sys(SYS_rt_sigprocmask, SIG_SETMASK, &block, NULL, 8, 0, 0);
	atomic_store(&mask_applied, gen);
	gmp_sys(SYS_futex, &mask_applied, FUTEX_WAKE_PRIVATE, INT32_MAX, 0, 0, 0);
}

/* A thread blocked a signal no other thread takes: once this returns,
 * sysmon blocks it too, so that a kill() right after stays pending for the
 * process as natively (and is not taken, and sent back, by sysmon). */
void gmp_sysmon_sync_mask(uint32_t gen)
{
	if (!atomic_load(&started) || gmp_on_sysmon())
		return;
	for (int i = 0; i < 1000; i++) { /* 1 s at most: sysmon may be stuck */
		uint32_t a = atomic_load(&mask_applied);
		if (a != ~0U && (int32_t)(a - gen) >= 0)
			return;
		atomic_store(&kick, 1);
		gmp_sys(SYS_futex, &kick, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
		gmp_sysmon_wake();
		struct timespec ms = { 0, 1000000 };
		gmp_sys(SYS_futex, &mask_applied, FUTEX_WAIT_PRIVATE, a, &ms, 0, 0);
	}
}

static void *sysmon(void *arg)
{
	(void)arg;
	on_sysmon = true;
	gmp_trace_sysmon();
	/* sysmon's reads of /proc go through the file thread, and so does
	 * loading the unwinder for dumps and crash reports: off every G's path
	 * (it takes a quarter of a millisecond) and off the program's
	 * descriptor table. */
	gmp_filethread_start(); /* (it inherits the mask blocking everything) */
	gmp_unwind_load();
	sysmon_setmask();
	int idle = 0;
	int64_t delay = 20;
	/* Go's 10 ms at most -- or half a time slice, so that a G is asked to
	 * yield within 1.5 slices of its start. */
	int64_t maxdelay = (int64_t)gmp_sched.cfg.preempt_ms * 1000 / 2;
	if (maxdelay > 10000)
		maxdelay = 10000;
	if (maxdelay < 20)
		maxdelay = 20;
	for (;;) {
		if (idle == 0)
			delay = 20;
		else if (idle > 50)
			delay *= 2;
		if (delay > maxdelay)
			delay = maxdelay;
		usleep_raw(delay);
		sysmon_setmask();
		int64_t due = schedtrace_due(gmp_nanotime());
		if (all_idle()) {
			/* Nothing runs, so nothing can be stuck: sleep until woken
			 * (or the next schedtrace line is due). */
			gmp_noteclear(&note);
			atomic_store(&waiting, true);
			if (all_idle() && atomic_load(&gmp_sched.sigkick) == 0) {
				if (due)
					gmp_notetsleep(&note, due);
				else
					gmp_notesleep(&note);
			}
			atomic_store(&waiting, false);
			sysmon_setmask();
			gmp_sig_route();
			idle = 0;
			continue;
		}
		int64_t now = gmp_nanotime();
		gmp_sig_route();
		gmp_netpoll_check(now, 10 * 1000000);
		if (retake(now) != 0)
			idle = 0;
		else
			idle++;
	}
	return NULL;
}

void gmp_sysmon_wake(void)
{
	if (atomic_load_explicit(&waiting, memory_order_acquire) && atomic_exchange(&waiting, false))
		gmp_notewakeup(&note);
}

GMP_COLD static void sysmon_create(void)
{
	ticks = gmp_persistentalloc(sizeof *ticks * (size_t)gmp_sched.nprocs);
	for (int i = 0; i < gmp_sched.nprocs; i++)
		ticks[i].cpu = -1;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	sigset_t all, old;
	sigfillset(&all);
	gmp_sigmask(SIG_SETMASK, &all, &old); /* sysmon takes no signals */
	pthread_t t;
	int err = gmp_real_pthread_create(&t, &attr, sysmon, NULL);
	gmp_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err != 0)
		gmp_fatal("cannot start sysmon (error %d)", err);
}

void gmp_sysmon_start(void)
{
	if (likely(atomic_load_explicit(&started, memory_order_acquire)))
		return;
	bool f = false;
	if (atomic_compare_exchange_strong(&started, &f, true))
		sysmon_create();
}

bool gmp_sysmon_running(void)
{
	return atomic_load(&started);
}

void gmp_sysmon_forkchild(void)
{
	atomic_store(&started, false);
	atomic_store(&waiting, false);
	gmp_noteclear(&note);
	atomic_store(&mask_applied, ~0U); /* the child's sysmon has set none */
	atomic_store(&mask_stale, false);
	atomic_store(&kick, 0);
}
