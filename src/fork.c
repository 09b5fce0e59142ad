/*
 * fork() in a program whose threads are Gs.
 *
 * The child of fork() has one OS thread: the one that called it.  Every
 * other M is gone, and with them every G they were running; Gs that were
 * parked or runnable belong to threads that do not exist in the child, so
 * they must never run there (a wake-up of a stale waiter would resume a
 * parent's thread in the child).  So the child rebuilds the scheduler
 * around the caller: its M (if it is one) is the only M, holding the P it
 * held; every run queue, timer heap, wait queue and idle list is emptied;
 * sysmon and the poller (whose epoll instance the child shares with the
 * parent) are started afresh when needed.
 *
 * Locks: state the child rebuilds needs no lock in the parent -- it is
 * thrown away.  State the child keeps (the arena, the G free lists, the
 * all-G list, the foreign-G list) is kept consistent by holding its lock
 * across the fork (prepare/parent/child, like pthread_atfork handlers).
 * These four locks are leaves (none is taken while holding another), so
 * taking them together here cannot deadlock.
 */
#include "runtime.h"

#include <sys/syscall.h>

void gmp_fork_prepare(void)
{
	gmp_tls_fork_prepare();
	gmp_alloc_forklock(true);
	gmp_lock(&gmp_sched.gflock);
	gmp_lock(&gmp_sched.allglock);
	gmp_lock(&gmp_sched.foreignlock);
}

static void fork_unlock(void)
{
	gmp_unlock(&gmp_sched.foreignlock);
	gmp_unlock(&gmp_sched.allglock);
	gmp_unlock(&gmp_sched.gflock);
	gmp_alloc_forklock(false);
}

void gmp_fork_parent(void)
{
	fork_unlock();
	gmp_tls_fork_parent();
}

void gmp_fork_child(void)
{
	struct gmp_m *self = gmp_getm();
	struct gmp_p *mine = self ? self->p : NULL;

	gmp_sched.lock = (gmp_mutex){ 0 };
	gmp_futex_reset();

	gmp_sched.midle = NULL;
	gmp_sched.nmidle = 0;
	if (self) {
		self->alllink = NULL;
		self->schedlink = NULL;
		self->tid = gmp_gettid();
		self->spinning = false;
		gmp_noteclear(&self->park);
		/* The only M is M0 now (new ones count from 1): its id tags its
		 * P's USER state, so retag that too. */
		self->id = 0;
		atomic_store(&gmp_sched.mtid[0], self->tid);
		atomic_store(&gmp_sched.mbyid[0], self);
		atomic_store(&self->urgsent, 0);
		atomic_store(&self->urgprog, 0);
		atomic_store(&self->pstolen, 0);
		self->listedtcb = self->tcb; /* the child's lists hold the TCB that forked */
		if (mine && GMP_P_STATE(atomic_load(&mine->status)) == GMP_P_USER)
			atomic_store(&mine->status, GMP_P_USER_OF(self));
		gmp_sched.allm = self;
		gmp_sched.mcount = 1;
	} else {
		gmp_sched.allm = NULL;
		gmp_sched.mcount = 0;
	}

	gmp_sched.pidle = NULL;
	atomic_store(&gmp_sched.npidle, 0);
	for (int i = gmp_sched.nprocs - 1; i >= 0; i--) {
		struct gmp_p *pp = gmp_sched.allp[i];
		atomic_store(&pp->runqhead, 0);
		atomic_store(&pp->runqtail, 0);
		atomic_store(&pp->runnext, NULL);
		pp->timerlock = (gmp_mutex){ 0 };
		pp->ntimers = 0;
		atomic_store(&pp->timer0when, 0);
		pp->ninherit = 0;
		if (pp == mine)
			continue;
		/* Another M may have been changing its own free list. */
		pp->gfree = NULL;
		pp->gfreecnt = 0;
		atomic_store_explicit(&pp->m, NULL, memory_order_relaxed);
		pp->link = NULL;
		atomic_store(&pp->status, GMP_P_IDLE);
		gmp_pidleput_locked(pp);
	}
	gmp_sched.runqhead = gmp_sched.runqtail = NULL;
	atomic_store(&gmp_sched.runqsize, 0);
	atomic_store(&gmp_sched.nmspinning, 0);
	atomic_store(&gmp_sched.nstolen, 0);
	atomic_store(&gmp_sched.ngoroutines, self && self->curg ? 1 : 0);
	atomic_store(&gmp_sched.lastpoll, gmp_nanotime());
	atomic_store(&gmp_sched.polluntil, 0);
	atomic_store(&gmp_sched.npollwait, 0);
	/* The forking thread is the child's only thread, and its main one. */
	atomic_store(&gmp_sched.maing, self ? self->curg : NULL);
	atomic_store(&gmp_sched.sigkick, 0);

	gmp_sysmon_forkchild();
	gmp_sig_forkchild(self ? self->curg : NULL);
	gmp_filethread_forkchild();
	gmp_preempt_forkchild();
	gmp_trace_forkchild();
	gmp_netpoll_forkchild();
	fork_unlock();
	gmp_tls_fork_child(self ? self->curg : NULL);
}
