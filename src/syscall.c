/*
 * Blocking system calls: Go's entersyscall / exitsyscall hand-off.
 *
 * entersyscall CASes the P from USER (a G's own code runs on it) to SYSCALL
 * and leaves it with no M (the M remembers it in m->oldp); the G is marked
 * SYSCALL.  Nobody else may run on that P yet: if the call is quick,
 * exitsyscall CASes the P back from SYSCALL to USER and carries on -- no
 * lock, no syscall.  If the call blocks, sysmon sees the
 * P sitting in SYSCALL with an unchanged syscalltick for a whole tick (20 us)
 * and CASes it SYSCALL -> IDLE itself; then it hands the P off (handoffp) to
 * another M so the P's other Gs keep running.  The CAS on the P's status is
 * the single point that decides who owns the P: the returning M or sysmon.
 *
 * When the returning M lost its P it tries an idle one; failing that its G
 * goes to the global run queue and the M parks (exitsyscall0).  The same
 * path takes back a G whose M sysmon found blocked in a call it could not
 * see (a P taken from USER state; gmp_holdp in sched.c).
 */
#include "runtime.h"

/* Entered through gmp_entersyscall (context.S), which records the caller's
 * context for dumps first. */
void gmp_entersyscall_c(void);
void gmp_entersyscall_c(void)
{
	struct gmp_m *m = gmp_getm();
	if (m == NULL)
		return; /* a foreign thread blocks only itself */
	/* The runtime's own calls (on g0, or with the P held) bracket nothing. */
	if (unlikely(gmp_m_in_runtime(m)) && m->syscalldepth == 0) {
		m->rtcalls++;
		return;
	}
	/* A signal handler that interrupted a blocking call makes one of its
	 * own: the outer bracket already gave the P up. */
	if (unlikely(m->syscalldepth++ != 0))
		return;
	if (unlikely(m->pheld != 0))
		gmp_fatal("entersyscall: M%d holds its P firmly", m->id);
	GMP_TRACE(GMP_EV_SYSENTER, m->curg ? m->curg->goid : 0, 0);
	m->locks++; /* no preemption while the P is half handed over */
	struct gmp_g *g = m->curg;
	struct gmp_p *pp = m->p;
	uint32_t st = m->p ? GMP_P_USER_OF(m) : 0;
	/* Hold it firmly first (the CAS sysmon's retake races with), then
	 * publish SYSCALL with the P already unowned: whoever takes it from
	 * SYSCALL may set pp->m at once. */
	bool held = pp != NULL && atomic_compare_exchange_strong(&pp->status, &st, GMP_P_RUNNING);
	/* (seq_cst: the store half of the handshake with gmp_preempt_signal) */
	if (unlikely(atomic_load(&m->urgsent) != 0))
		gmp_preempt_drain(m);
	if (unlikely(!held)) {
		/* sysmon took the P while we ran unseen: nothing to hand over. */
		m->p = NULL;
		gmp_m_lostp_seen(m);
		m->oldp = NULL;
		gmp_casgstatus(g, GMP_G_RUNNING, GMP_G_SYSCALL);
		m->locks--;
		return;
	}
	atomic_store_explicit(&pp->syscalltick, pp->syscalltick + 1, memory_order_relaxed);
	gmp_casgstatus(g, GMP_G_RUNNING, GMP_G_SYSCALL);
	m->oldp = pp;
	m->p = NULL;
	atomic_store_explicit(&pp->m, NULL, memory_order_relaxed);
	atomic_store_explicit(&pp->status, GMP_P_SYSCALL, memory_order_release);
	m->locks--;
	gmp_sysmon_start();
	gmp_sysmon_wake();
}

GMP_NOTSAN static void exitsyscall0(void *arg)
{
	struct gmp_g *g = arg;
	struct gmp_m *m = gmp_getm();
	gmp_casgstatus(g, GMP_G_SYSCALL, GMP_G_RUNNABLE);
	GMP_TRACE(GMP_EV_GSTOP, g->goid, GMP_STOP_SYSCALL);
	gmp_dropg(m, g);
	gmp_lock(&gmp_sched.lock);
	struct gmp_p *pp = gmp_pidleget_locked();
	if (pp == NULL)
		gmp_globrunqput_locked(g);
	gmp_unlock(&gmp_sched.lock);
	if (pp) {
		gmp_acquirep(m, pp);
		gmp_execute(m, g, false);
	}
	gmp_stopm(m);
	gmp_schedule();
}

static void exitsyscall_lost(struct gmp_m *m, struct gmp_g *g)
{
	gmp_lock(&gmp_sched.lock);
	struct gmp_p *np = gmp_pidleget_locked();
	gmp_unlock(&gmp_sched.lock);
	if (np) {
		gmp_acquirep(m, np);
		m->pheld = 0;
		atomic_store_explicit(&np->status, GMP_P_USER_OF(m), memory_order_release);
		gmp_casgstatus(g, GMP_G_SYSCALL, GMP_G_RUNNING);
		return;
	}
	gmp_mcall(exitsyscall0); /* resumes RUNNING on an M with a P (USER) */
}

void gmp_exitsyscall(void)
{
	struct gmp_m *m = gmp_getm();
	if (m == NULL)
		return;
	if (unlikely(m->rtcalls != 0)) {
		m->rtcalls--;
		return;
	}
	if (--m->syscalldepth != 0)
		return;
	struct gmp_g *g = m->curg;
	struct gmp_p *pp = m->oldp;
	m->oldp = NULL;
	GMP_TRACE(GMP_EV_SYSEXIT, g ? g->goid : 0, 0);
	uint32_t st = GMP_P_SYSCALL;
	if (likely(pp != NULL) && likely(atomic_compare_exchange_strong_explicit(&pp->status, &st, GMP_P_USER_OF(m),
							   memory_order_acquire, memory_order_relaxed))) {
		/* Fast path: sysmon did not take it. */
		m->p = pp;
		atomic_store_explicit(&pp->m, m, memory_order_relaxed);
		atomic_store_explicit(&pp->syscalltick, pp->syscalltick + 1, memory_order_relaxed);
		gmp_casgstatus(g, GMP_G_SYSCALL, GMP_G_RUNNING);
		/* A G making quick calls back to back never gives its P up
		 * by blocking: this is where it yields when its time is up. */
		if (unlikely(atomic_load_explicit(&pp->preempt, memory_order_relaxed)))
			gmp_preempt_check();
		return;
	}
	/* Our P was handed off: any idle P will do. */
	exitsyscall_lost(m, g);
}
