/*
 * sysmon: one OS thread, not an M (it holds no P and runs no G), watching
 * the Ps.  Today it retakes Ps whose M is stuck in a system call (see
 * syscall.c); preemption requests and netpoll duty join it later.
 *
 * Cadence (Go's): sleep 20 us while it finds work to do; after 50 idle
 * rounds double the sleep up to 10 ms.  When every P is idle there is nothing
 * to watch, and it sleeps on a note until a G enters a system call
 * (gmp_sysmon_wake), so an idle process has no periodic wake-ups from it.
 *
 * Retake rule (Go's retake): a P seen in SYSCALL with the same syscalltick
 * on two consecutive rounds has been in one call for at least a tick.  It is
 * left alone only if it has no work queued, some other M could take new work
 * anyway (spinning or idle Ps exist), and the call is younger than 10 ms.
 */
#include "runtime.h"

#include <errno.h>
#include <sys/syscall.h>
#include <time.h>

struct sysmontick {
	uint32_t syscalltick;
	int64_t syscallwhen;
};

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

static int retake(int64_t now)
{
	int n = 0;
	for (int i = 0; i < gmp_sched.nprocs; i++) {
		struct gmp_p *pp = gmp_sched.allp[i];
		struct sysmontick *pd = &ticks[i];
		if (atomic_load_explicit(&pp->status, memory_order_acquire) != GMP_P_SYSCALL)
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

static void usleep_raw(int64_t us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };
	gmp_sys(SYS_nanosleep, &ts, NULL, 0, 0, 0, 0);
}

static void *sysmon(void *arg)
{
	(void)arg;
	int idle = 0;
	int64_t delay = 20;
	for (;;) {
		if (idle == 0)
			delay = 20;
		else if (idle > 50)
			delay *= 2;
		if (delay > 10000)
			delay = 10000;
		usleep_raw(delay);
		if (all_idle()) {
			/* Nothing runs, so nothing can be stuck: sleep until woken. */
			gmp_noteclear(&note);
			atomic_store(&waiting, true);
			if (all_idle())
				gmp_notesleep(&note);
			atomic_store(&waiting, false);
			idle = 0;
			continue;
		}
		if (retake(gmp_nanotime()) != 0)
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

void gmp_sysmon_forkchild(void)
{
	atomic_store(&started, false);
	atomic_store(&waiting, false);
	gmp_noteclear(&note);
}
