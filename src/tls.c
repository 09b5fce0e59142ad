/*
 * Thread-local state across G switches: the thread pointer (or errno) and
 * the signal mask.
 *
 * Per-G TLS (the default, tcb.c): a G leaving its M puts the M's own TCB
 * back (gmp_tls_save, still on the G's stack), and a G about to run gets its
 * own loaded, after its gmp_tls_m slot is pointed at the M (gmp_tls_load,
 * last thing on g0 before the jump).  errno, being in the G's block, needs
 * nothing more.
 *
 * Shared TLS (GMP_TLS=shared): Gs share their M's block, so the one piece
 * of it every program relies on between two calls -- errno -- is saved when
 * a G leaves its M and restored into whichever M's block it resumes on.
 * What this cannot fix: compiled code may cache the address of errno or of
 * a __thread variable across a call (__errno_location is declared const),
 * so a G that migrates in the middle of a function can still read the old
 * M's copy; and __thread variables, C++ thread_local and exception state,
 * stdio lock ownership are the OS thread's, not the G's.
 *
 * Signal masks are per thread in POSIX, so they are per G here:
 *   - g->sigmask is the G's mask; m->sigmask what the OS thread has now.
 *     Loading a G sets the OS mask only when the two differ (one syscall,
 *     and almost never: threads inherit their creator's mask).
 *   - a new M blocks everything until it runs a G; an M that sleeps without
 *     a G takes the main thread's mask (gmp_sig_idle), so a signal that the
 *     program blocks in main and unblocks in one thread is taken only by an
 *     OS thread running that thread -- or stays pending for the process
 *     until it runs or sigwait()s it -- while a signal nobody blocks (^C)
 *     still reaches an idle thread.  A handler that runs on an M with no G
 *     (in that window, or between two Gs) acts as the main thread.
 *   - a signal sent to one G (pthread_kill) is a bit in g->sigpend.  It is
 *     delivered by tgkill() to the G's own M while that G is current, at
 *     its next switch-in or at once if it is running with the signal
 *     unblocked; a G blocked in an interruptible wait is interrupted.  With
 *     per-G TLS the G's block is loaded first, so the handler sees the G's
 *     errno and __thread variables.
 */
#include "runtime.h"

#include <errno.h>
#include <sys/syscall.h>

/* Give the OS thread of m the mask of a G (or of an idle M): all of it but
 * the signals the runtime keeps (SIGURG, preempt.c), which the G's mask only
 * defers.  m->sigmask is what the kernel has. */
void gmp_m_setsigmask(struct gmp_m *m, uint64_t mask)
{
	mask &= ~gmp_sig_keep;
	if (m->sigmask == mask)
		return;
	gmp_sys(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, 8, 0, 0);
	m->sigmask = mask;
}

/* Raise on this OS thread the pending signals g no longer blocks. */
void gmp_sig_deliver(struct gmp_m *m, struct gmp_g *g)
{
	uint64_t want;
	while ((want = atomic_load(&g->sigpend) & ~g->sigmask) != 0) {
		int sig = __builtin_ctzll(want) + 1;
		uint64_t bit = 1ULL << (sig - 1);
		atomic_fetch_and(&g->sigpend, ~bit);
		atomic_fetch_or(&g->sigdelivered, bit);
		if (bit & gmp_sig_keep)
			atomic_fetch_add(&m->urgprog, 1); /* may merge with the runtime's (preempt.c) */
		long pid = gmp_sys(SYS_getpid, 0, 0, 0, 0, 0, 0);
		if (atomic_fetch_and(&g->sigqueued, ~bit) & bit) {
			siginfo_t si = { 0 };
			si.si_signo = sig;
			si.si_code = SI_QUEUE;
			si.si_pid = (pid_t)pid;
			si.si_uid = (uid_t)gmp_sys(SYS_getuid, 0, 0, 0, 0, 0, 0);
			si.si_value.sival_ptr = ((void **)atomic_load(&g->sigqv))[sig - 1];
			gmp_sys(SYS_rt_tgsigqueueinfo, pid, m->tid, sig, &si, 0, 0);
		} else {
			gmp_sys(SYS_tgkill, pid, m->tid, sig, 0, 0, 0);
		}
	}
}

void gmp_tls_save(struct gmp_g *g)
{
	if (gmp_tls_perg) {
		struct gmp_m *m = g->m;
		if (m->curtcb != m->tcb)
			gmp_tls_setfs(m, m->tcb);
	} else {
		g->errno_save = errno;
	}
}

/* No TLS access after the switch: the compiler may reuse the old %fs:0. */
void gmp_tls_load(struct gmp_g *g)
{
	struct gmp_m *m = g->m;
	if (gmp_tls_perg) {
		*(struct gmp_m **)((char *)g->tcb + gmp_tls_moff) = m;
		if (m->curtcb != g->tcb)
			gmp_tls_setfs(m, g->tcb);
	} else {
		errno = g->errno_save;
	}
	if (unlikely(m->sigmask != (g->sigmask & ~gmp_sig_keep)))
		gmp_m_setsigmask(m, g->sigmask);
	if (unlikely(atomic_load_explicit(&g->sigpend, memory_order_relaxed) != 0))
		gmp_sig_deliver(m, g);
}

void gmp_sig_idle(struct gmp_m *m)
{
	gmp_m_setsigmask(m, atomic_load_explicit(&gmp_sched.idlesigmask, memory_order_relaxed));
}

void gmp_g_setsigmask(struct gmp_g *g, uint64_t mask)
{
	/* SIGKILL and SIGSTOP cannot be blocked. */
	mask &= ~((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)));
	g->sigmask = mask;
	struct gmp_m *m = gmp_getm();
	if (m == NULL) {
		uint64_t k = mask;
		gmp_sys(SYS_rt_sigprocmask, SIG_SETMASK, &k, NULL, 8, 0, 0);
		return;
	}
	m->locks++;
	gmp_m_setsigmask(m, mask);
	gmp_sig_deliver(m, g);
	m->locks--;
}

void gmp_g_sigqueue(struct gmp_g *g, int sig, void *value)
{
	void **v = atomic_load(&g->sigqv);
	if (v == NULL) {
		void **fresh = gmp_persistentalloc(64 * sizeof(void *));
		if (atomic_compare_exchange_strong(&g->sigqv, &v, fresh))
			v = fresh; /* else v is the winner's; ours is lost (rare, small) */
	}
	v[sig - 1] = value;
	atomic_fetch_or(&g->sigqueued, 1ULL << (sig - 1));
	gmp_g_signal(g, sig);
}

void gmp_g_signal(struct gmp_g *g, int sig)
{
	uint64_t bit = 1ULL << (sig - 1);
	atomic_fetch_or(&g->sigpend, bit);
	struct gmp_m *self = gmp_getm();
	if (self && self->curg == g) {
		self->locks++;
		gmp_sig_deliver(self, g);
		self->locks--;
		return;
	}
	/* g waits for it in the kernel (sigwait and friends): hand it to g's
	 * OS thread, where sigtimedwait takes it even though it is blocked.
	 * If g has just left the call, gmp_sigwait_end finds it there. */
	struct gmp_m *m = g->m;
	if ((atomic_load(&g->sigwaitset) & bit) && gmp_readgstatus(g) == GMP_G_SYSCALL && m &&
	    (atomic_fetch_and(&g->sigpend, ~bit) & bit)) {
		atomic_fetch_and(&g->sigqueued, ~bit); /* (the value is not carried) */
		gmp_sys(SYS_tgkill, gmp_sys(SYS_getpid, 0, 0, 0, 0, 0, 0), m->tid, sig, 0, 0, 0);
		return;
	}
	/* It stays pending for g.  A waiting G is interrupted; one running on
	 * another M is sent the runtime's SIGURG, whose handler raises it there
	 * (preempt.c) -- or it gets it at its next switch-in. */
	if (!(g->sigmask & bit)) {
		uint32_t st = gmp_readgstatus(g);
		if (st == GMP_G_WAITING)
			gmp_g_interrupt(g);
		else if (st == GMP_G_RUNNING)
			gmp_preempt_kick(g);
	}
}

void gmp_sigwait_begin(struct gmp_g *g, uint64_t set)
{
	atomic_store(&g->sigwaitset, set);
}

void gmp_sigwait_end(struct gmp_g *g)
{
	uint64_t set = atomic_exchange(&g->sigwaitset, 0);
	/* Signals sent to g that reached its OS thread after the call
	 * returned: back to g's own pending set. */
	struct timespec zero = { 0, 0 };
	for (;;) {
		long sig = gmp_sys(SYS_rt_sigtimedwait, &set, NULL, &zero, 8, 0, 0);
		if (sig <= 0)
			break;
		atomic_fetch_or(&g->sigpend, 1ULL << (sig - 1));
	}
}

bool gmp_sig_redirect(int sig)
{
	struct gmp_g *mg = atomic_load(&gmp_sched.maing);
	struct gmp_m *m = gmp_getm();
	uint64_t bit = 1ULL << (sig - 1);
	if (mg == NULL || (m && m->curg == mg) || (mg->sigmask & bit))
		return false; /* main is here, or blocks it: anyone may take it */
	uint32_t st = gmp_readgstatus(mg);
	if (st == GMP_G_WAITING) {
		/* Only atomics here: this is a signal handler, maybe inside
		 * the runtime.  The poller or sysmon does the interrupt. */
		atomic_fetch_or(&mg->sigpend, bit);
		atomic_store(&gmp_sched.sigkick, 1);
		gmp_sysmon_wake();
		gmp_netpoll_break();
		return true;
	}
	struct gmp_m *mm = mg->m;
	if (st == GMP_G_SYSCALL && mm && mm != m) {
		/* Blocked in the kernel on its own OS thread: interrupt it there. */
		gmp_sys(SYS_tgkill, gmp_sys(SYS_getpid, 0, 0, 0, 0, 0, 0), mm->tid, sig, 0, 0, 0);
		return true;
	}
	return false;
}

void gmp_sig_route(void)
{
	if (atomic_load_explicit(&gmp_sched.sigkick, memory_order_relaxed) == 0 ||
	    atomic_exchange(&gmp_sched.sigkick, 0) == 0)
		return;
	struct gmp_g *mg = atomic_load(&gmp_sched.maing);
	if (mg && (atomic_load(&mg->sigpend) & ~mg->sigmask) && gmp_readgstatus(mg) == GMP_G_WAITING)
		gmp_g_interrupt(mg);
}
