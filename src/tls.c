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
 *   - an M with no G blocks the program's signals (gmp_sig_idle; new Ms
 *     from the start, others once they run out of work), so the kernel
 *     picks an OS thread running a G that takes the signal, or sysmon,
 *     whose mask lets in what some live G takes (a table of the live Gs'
 *     masks, counted by value).  A process-directed signal that lands where
 *     no G takes it (sysmon, or an M whose mask lags its G's around a
 *     switch) is handed by the handler wrapper to the G Linux would choose
 *     (gmp_sig_redirect: the main thread first, then a running G, a
 *     waiting one -- its wait fails with EINTR -- or a runnable one), with
 *     its siginfo; if none takes it, it goes back to the kernel, pending
 *     for the process.  Blocking the last G's taker of a signal waits until
 *     sysmon blocks it too, so a kill() right after stays pending.
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
#include <ucontext.h>

/* Give the OS thread of m the mask of a G (or of an idle M): all of it but
 * the signals the runtime keeps (SIGURG, preempt.c), which the G's mask only
 * defers.  m->sigmask is what the kernel has. */
void gmp_m_setsigmask(struct gmp_m *m, uint64_t mask)
{
	mask &= ~gmp_sig_keep;
	if (m->sigmask == mask && !atomic_load_explicit(&m->sigstale, memory_order_relaxed))
		return;
	/* Cleared first: a handler that marks it after this still gets its
	 * mask overridden by the call below, or is seen on the next one. */
	atomic_store_explicit(&m->sigstale, false, memory_order_relaxed);
	gmp_sys(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, 8, 0, 0);
	m->sigmask = mask;
}

/*
 * Process-directed signals handed to a thread that is not running
 * (gmp_sig_redirect) wait here with their siginfo, one entry per signal,
 * so that real-time signals stay queued and the handler sees the sender.
 * Filled by signal handlers (a CAS claims a free entry), drained by the
 * thread's own M when it runs (route_drain).  When it is full the signal
 * goes back to the kernel instead.
 */
#define NROUTED 256
enum { R_FREE, R_FILLING, R_READY, R_TAKEN };
static struct routed {
	_Atomic uint32_t state;
	struct gmp_g *g;
	siginfo_t si;
} routed[NROUTED];

static bool route_push(struct gmp_g *g, const siginfo_t *si)
{
	for (int i = 0; i < NROUTED; i++) {
		uint32_t f = R_FREE;
		if (atomic_load_explicit(&routed[i].state, memory_order_relaxed) != R_FREE ||
		    !atomic_compare_exchange_strong(&routed[i].state, &f, R_FILLING))
			continue;
		routed[i].g = g;
		routed[i].si = *si;
		atomic_store_explicit(&routed[i].state, R_READY, memory_order_release);
		atomic_fetch_or(&g->sigrouted, 1ULL << (si->si_signo - 1));
		return true;
	}
	return false;
}

/* Sends sig with siginfo si to OS thread tid of this process.  The kernel
 * takes a kill()'s or its own siginfo only on the main OS thread; on
 * another one it goes as a sigqueue() from the same sender. */
static void send_info(long pid, pid_t tid, siginfo_t *si)
{
	if (gmp_sys(SYS_rt_tgsigqueueinfo, pid, tid, si->si_signo, si, 0, 0) == 0)
		return;
	si->si_code = SI_QUEUE;
	gmp_sys(SYS_rt_tgsigqueueinfo, pid, tid, si->si_signo, si, 0, 0);
}

/* Takes g's entries whose signal is in want; to m's OS thread if m, else
 * back to the process (g is exiting). */
static void route_drain(struct gmp_m *m, struct gmp_g *g, uint64_t want)
{
	atomic_fetch_and(&g->sigrouted, ~want);
	long pid = gmp_sys(SYS_getpid, 0, 0, 0, 0, 0, 0);
	for (int i = 0; i < NROUTED; i++) {
		uint32_t r = R_READY;
		if (atomic_load_explicit(&routed[i].state, memory_order_acquire) != R_READY || routed[i].g != g ||
		    !(want & (1ULL << (routed[i].si.si_signo - 1))) ||
		    !atomic_compare_exchange_strong(&routed[i].state, &r, R_TAKEN))
			continue;
		siginfo_t si = routed[i].si;
		atomic_store_explicit(&routed[i].state, R_FREE, memory_order_release);
		if (m == NULL) {
			if (gmp_sys(SYS_rt_sigqueueinfo, pid, si.si_signo, &si, 0, 0, 0) != 0)
				gmp_sys(SYS_kill, pid, si.si_signo, 0, 0, 0, 0);
			continue;
		}
		atomic_fetch_or(&g->sigdelivered, 1ULL << (si.si_signo - 1));
		send_info(pid, m->tid, &si);
	}
}

void gmp_sig_exit(struct gmp_g *g)
{
	if (atomic_load(&g->sigrouted) != 0)
		route_drain(NULL, g, ~0ULL);
}

/* Raise on this OS thread the pending signals g no longer blocks. */
void gmp_sig_deliver(struct gmp_m *m, struct gmp_g *g)
{
	uint64_t want;
	if ((want = atomic_load(&g->sigrouted) & ~g->sigmask) != 0)
		route_drain(m, g, want);
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
	if (unlikely(m->sigmask != (g->sigmask & ~gmp_sig_keep) || atomic_load_explicit(&m->sigstale, memory_order_relaxed)))
		gmp_m_setsigmask(m, g->sigmask);
	if (unlikely((atomic_load_explicit(&g->sigpend, memory_order_relaxed) |
		      atomic_load_explicit(&g->sigrouted, memory_order_relaxed)) != 0))
		gmp_sig_deliver(m, g);
}

void gmp_sig_idle(struct gmp_m *m)
{
	/* Everything but the dump signal, if the main thread takes that:
	 * the program's signals are sysmon's to catch for parked threads.
	 * Never glibc's SIGCANCEL and SIGSETXID (setuid() waits for every OS
	 * thread to take the latter). */
	uint64_t mask = ~(3ULL << 31);
	int ds = gmp_sched.cfg.dumpsig;
	if (ds > 0 && !(atomic_load_explicit(&gmp_sched.mainsigmask, memory_order_relaxed) & (1ULL << (ds - 1))))
		mask &= ~(1ULL << (ds - 1));
	gmp_m_setsigmask(m, mask);
}

/* ------------------------------------------------ masks of live threads */

#define NMASKS 64
static struct {
	gmp_mutex lock;                /* changes a slot's mask (count 0 only) */
	_Atomic uint64_t mask[NMASKS];
	_Atomic int count[NMASKS];     /* live Gs with that mask */
	_Atomic uint64_t untracked;    /* taken by Gs beyond the table; never shrinks */
	_Atomic uint32_t gen;          /* bumped when the set may have changed */
} gm;

static void masks_changed(void)
{
	atomic_fetch_add(&gm.gen, 1);
	gmp_sysmon_wake(); /* it applies the new set */
}

/* A slot for mask with one more G counted in it; -1 if the table is full. */
static int slot_for(uint64_t mask)
{
	gmp_lock(&gm.lock);
	int free = -1;
	for (int i = 0; i < NMASKS; i++) {
		if (atomic_load(&gm.count[i]) > 0 && atomic_load(&gm.mask[i]) == mask) {
			/* (it may drop to 0 and back meanwhile: same mask, and
			 * only this lock changes a slot's mask) */
			atomic_fetch_add(&gm.count[i], 1);
			gmp_unlock(&gm.lock);
			return i;
		}
		if (free < 0 && atomic_load(&gm.count[i]) == 0)
			free = i;
	}
	if (free >= 0) {
		atomic_store(&gm.mask[free], mask);
		atomic_store(&gm.count[free], 1);
	} else {
		atomic_fetch_or(&gm.untracked, ~mask);
	}
	gmp_unlock(&gm.lock);
	masks_changed();
	return free;
}

static void slot_put(int i)
{
	if (i >= 0 && atomic_fetch_sub(&gm.count[i], 1) == 1)
		masks_changed();
}

void gmp_sig_track(struct gmp_g *g, const struct gmp_g *creator)
{
	int i = creator ? creator->maskslot : -1;
	/* A thread with its creator's mask (nearly all): one atomic add. */
	if (i >= 0 && atomic_load_explicit(&gm.mask[i], memory_order_relaxed) == g->sigmask)
		atomic_fetch_add(&gm.count[i], 1);
	else
		i = slot_for(g->sigmask);
	g->maskslot = i;
}

void gmp_sig_untrack(struct gmp_g *g)
{
	int i = g->maskslot;
	if (i < 0)
		return;
	g->maskslot = -1;
	uint32_t gen;
	uint64_t before = atomic_load(&gm.count[i]) == 1 ? gmp_sig_taken(&gen) : 0;
	slot_put(i);
	/* The last thread taking some signal is gone: from now on a kill()
	 * of it stays pending for the process (sysmon no longer takes it). */
	if (before & ~gmp_sig_taken(&gen))
		gmp_sysmon_sync_mask(gen);
}

uint32_t gmp_sig_gen(void)
{
	return atomic_load_explicit(&gm.gen, memory_order_acquire);
}

uint64_t gmp_sig_taken(uint32_t *gen)
{
	uint64_t taken;
	uint32_t g0;
	do {
		g0 = gmp_sig_gen();
		taken = atomic_load(&gm.untracked);
		for (int i = 0; i < NMASKS; i++)
			if (atomic_load(&gm.count[i]) > 0)
				taken |= ~atomic_load(&gm.mask[i]);
	} while (gmp_sig_gen() != g0);
	*gen = g0;
	return taken;
}

void gmp_sig_forkchild(struct gmp_g *self)
{
	gm.lock = (gmp_mutex){ 0 };
	for (int i = 0; i < NMASKS; i++)
		atomic_store(&gm.count[i], 0);
	atomic_store(&gm.untracked, 0);
	atomic_fetch_add(&gm.gen, 1);
	if (self)
		self->maskslot = slot_for(self->sigmask);
}

void gmp_g_setsigmask(struct gmp_g *g, uint64_t mask)
{
	/* SIGKILL and SIGSTOP cannot be blocked. */
	mask &= ~((1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)));
	if (mask != g->sigmask && !g->foreign) {
		uint32_t gen;
		uint64_t before = gmp_sig_taken(&gen);
		int old = g->maskslot;
		g->maskslot = slot_for(mask);
		slot_put(old);
		if (before & ~gmp_sig_taken(&gen))
			gmp_sysmon_sync_mask(gen);
	}
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

/* Gives process-directed signal sig to g instead of the thread it landed
 * on (self, running `here`).  Only atomics and system calls: this runs in a
 * signal handler, maybe inside the runtime.  False: g cannot be reached
 * from here (it is here, or gone). */
static bool sig_handto(struct gmp_g *g, siginfo_t *si, struct gmp_m *self)
{
	int sig = si->si_signo;
	uint64_t bit = 1ULL << (sig - 1);
	struct gmp_m *gm = g->m;
	switch (gmp_readgstatus(g)) {
	case GMP_G_WAITING:
		/* The poller or sysmon interrupts its wait (gmp_sig_route). */
		if (!route_push(g, si))
			atomic_fetch_or(&g->sigpend, bit);
		atomic_store(&gmp_sched.sigkick, 1);
		gmp_sysmon_wake();
		gmp_netpoll_break();
		return true;
	case GMP_G_SYSCALL:
	case GMP_G_RUNNING:
		/* On its own OS thread, whose mask lets sig in: send it there
		 * (blocked in the kernel, the call is interrupted). */
		if (gm == NULL || gm == self)
			return false;
		send_info(gmp_sys(SYS_getpid, 0, 0, 0, 0, 0, 0), gm->tid, si);
		return true;
	case GMP_G_RUNNABLE:
		/* It takes it at its switch-in (gmp_tls_load); if it was
		 * switched in just now, at the next one. */
		if (!route_push(g, si))
			atomic_fetch_or(&g->sigpend, bit);
		return true;
	default:
		return false;
	}
}

/* g would take sig: a live G of the runtime that does not block it. */
static bool g_takes(struct gmp_g *g, uint64_t bit)
{
	if (g->foreign || (g->sigmask & bit))
		return false;
	uint32_t st = gmp_readgstatus(g);
	return st == GMP_G_RUNNABLE || st == GMP_G_RUNNING || st == GMP_G_SYSCALL || st == GMP_G_WAITING;
}

/* The thread Linux would choose when the main thread blocks sig: any that
 * does not.  One running on a CPU first (it takes it at once), then one
 * waiting (its wait fails with EINTR), then one in line to run. */
static struct gmp_g *sig_pick(uint64_t bit, struct gmp_g *here)
{
	struct gmp_g *waiting = NULL, *runnable = NULL;
	for (struct gmp_g *g = __atomic_load_n(&gmp_sched.allg, __ATOMIC_ACQUIRE); g; g = g->allnext) {
		if (g == here || !g_takes(g, bit))
			continue;
		uint32_t st = gmp_readgstatus(g);
		if (st == GMP_G_RUNNING)
			return g;
		if (st == GMP_G_RUNNABLE)
			runnable = runnable ? runnable : g;
		else
			waiting = waiting ? waiting : g;
	}
	return waiting ? waiting : runnable;
}

bool gmp_sig_redirect(int sig, siginfo_t *si, void *ucv)
{
	struct gmp_m *m = gmp_getm();
	bool sysmon = m == NULL && gmp_on_sysmon();
	if (m == NULL && !sysmon)
		return false; /* a foreign thread: the kernel chose it by its mask */
	uint64_t bit = 1ULL << (sig - 1);
	struct gmp_g *here = m ? m->curg : NULL;
	bool here_takes = here != NULL && !(here->sigmask & bit);
	struct gmp_g *mg = atomic_load(&gmp_sched.maing);
	if (mg && mg != here && !(mg->sigmask & bit)) {
		/* Linux prefers the main thread.  A main thread that is
		 * running or in line to run may leave it to a thread here
		 * that takes it; a waiting one is interrupted. */
		uint32_t st = gmp_readgstatus(mg);
		if (!(here_takes && (st == GMP_G_RUNNING || st == GMP_G_RUNNABLE)) && sig_handto(mg, si, m))
			return true;
	}
	if (here_takes)
		return false;
	/* Landed between two threads, or on one that blocks it (the OS
	 * thread's mask lags its thread's for a moment around a switch). */
	struct gmp_g *g = sig_pick(bit, here);
	if (g && sig_handto(g, si, m))
		return true;
	if (bit & gmp_sig_keep)
		return false; /* (SIGURG: the runtime needs it unblocked) */
	/* Nobody takes it now: back to the kernel, pending for the process
	 * with its siginfo, this OS thread blocking it until its next mask
	 * change -- the next thread that unblocks it or sigwait()s for it
	 * gets it, as natively. */
	ucontext_t *uc = ucv;
	sigaddset(&uc->uc_sigmask, sig);
	if (sysmon)
		gmp_sysmon_mask_stale();
	else
		atomic_store_explicit(&m->sigstale, true, memory_order_relaxed);
	gmp_sys(SYS_rt_sigprocmask, SIG_BLOCK, &bit, NULL, 8, 0, 0); /* (SA_NODEFER: not back here) */
	long pid = gmp_sys(SYS_getpid, 0, 0, 0, 0, 0, 0);
	/* The kernel lets only the main OS thread re-send kill()'s and the
	 * kernel's own siginfo; from another one the signal goes back as a
	 * kill() of our own (si_pid, si_uid and si_code then say so). */
	if (gmp_sys(SYS_rt_sigqueueinfo, pid, sig, si, 0, 0, 0) != 0)
		gmp_sys(SYS_kill, pid, sig, 0, 0, 0, 0);
	return true;
}

void gmp_sig_route(void)
{
	if (atomic_load_explicit(&gmp_sched.sigkick, memory_order_relaxed) == 0 ||
	    atomic_exchange(&gmp_sched.sigkick, 0) == 0)
		return;
	/* Interrupt the waits of the threads handed a signal they take. */
	for (struct gmp_g *g = __atomic_load_n(&gmp_sched.allg, __ATOMIC_ACQUIRE); g; g = g->allnext)
		if (!g->foreign && ((atomic_load(&g->sigpend) | atomic_load(&g->sigrouted)) & ~g->sigmask) &&
		    gmp_readgstatus(g) == GMP_G_WAITING)
			gmp_g_interrupt(g);
}
