/*
 * Blocking system calls: Go's entersyscall / exitsyscall hand-off.
 *
 * entersyscall leaves the P in state SYSCALL with no M (the M remembers it
 * in m->oldp) and marks the G SYSCALL.  Nobody else may run on that P yet:
 * if the call is quick, exitsyscall CASes the P back from SYSCALL to RUNNING
 * and carries on -- no lock, no syscall.  If the call blocks, sysmon sees the
 * P sitting in SYSCALL with an unchanged syscalltick for a whole tick (20 us)
 * and CASes it SYSCALL -> IDLE itself; then it hands the P off (handoffp) to
 * another M so the P's other Gs keep running.  The CAS on the P's status is
 * the single point that decides who owns the P: the returning M or sysmon.
 *
 * When the returning M lost its P it tries an idle one; failing that its G
 * goes to the global run queue and the M parks (exitsyscall0).
 */
#include "runtime.h"

void gmp_entersyscall(void)
{
	struct gmp_m *m = gmp_getm();
	if (m == NULL)
		return; /* a foreign thread blocks only itself */
	struct gmp_g *g = m->curg;
	struct gmp_p *pp = m->p;
	m->locks++; /* no preemption while the P is half handed over */
	atomic_store_explicit(&pp->syscalltick, pp->syscalltick + 1, memory_order_relaxed);
	gmp_casgstatus(g, GMP_G_RUNNING, GMP_G_SYSCALL);
	m->oldp = pp;
	m->p = NULL;
	pp->m = NULL;
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

void gmp_exitsyscall(void)
{
	struct gmp_m *m = gmp_getm();
	if (m == NULL)
		return;
	struct gmp_g *g = m->curg;
	struct gmp_p *pp = m->oldp;
	m->oldp = NULL;
	uint32_t st = GMP_P_SYSCALL;
	if (likely(atomic_compare_exchange_strong_explicit(&pp->status, &st, GMP_P_RUNNING,
							   memory_order_acquire, memory_order_relaxed))) {
		/* Fast path: sysmon did not take it. */
		m->p = pp;
		pp->m = m;
		atomic_store_explicit(&pp->syscalltick, pp->syscalltick + 1, memory_order_relaxed);
		gmp_casgstatus(g, GMP_G_SYSCALL, GMP_G_RUNNING);
		return;
	}
	/* Our P was handed off: any idle P will do. */
	gmp_lock(&gmp_sched.lock);
	struct gmp_p *np = gmp_pidleget_locked();
	gmp_unlock(&gmp_sched.lock);
	if (np) {
		gmp_acquirep(m, np);
		gmp_casgstatus(g, GMP_G_SYSCALL, GMP_G_RUNNING);
		return;
	}
	gmp_mcall(exitsyscall0);
}
