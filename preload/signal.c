/*
 * Signals aimed at threads: pthread_kill, pthread_sigqueue, per-thread
 * masks, and the calls that read a thread's pending set.  The runtime keeps
 * a mask and a pending set per G (src/tls.c explains delivery); here the
 * POSIX calls are mapped onto them.  Foreign threads are OS threads: their
 * calls go straight to the kernel.
 */
#include "shim.h"

#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SIGBIT(s) (1ULL << ((s) - 1))
/* glibc reserves these for itself; programs can neither block nor send them. */
#define RESERVED (SIGBIT(32) | SIGBIT(33))

static bool on_g(struct shim_thread **t)
{
	*t = shim_self();
	return !(*t)->foreign;
}

/* Validates a pthread_kill/pthread_sigqueue target: ESRCH for a handle
 * that names no live thread, EINVAL for a bad or reserved signal. */
static int signal_target(pthread_t th, int sig, struct shim_thread **t)
{
	*t = shim_lookup(th);
	if (*t == NULL || (atomic_load(&(*t)->flags) & T_EXITED))
		return ESRCH;
	if (sig < 0 || sig > 64 || (sig && (SIGBIT(sig) & RESERVED)))
		return EINVAL;
	return 0;
}

GMP_EXPORT int pthread_kill(pthread_t th, int sig)
{
	struct shim_thread *t;
	int r = signal_target(th, sig, &t);
	if (r || sig == 0)
		return r;
	if (t->foreign) {
		long k = gmp_sys(SYS_tgkill, getpid(), t->ostid, sig, 0, 0, 0);
		return k < 0 ? (int)-k : 0;
	}
	gmp_g_signal(t->g, sig);
	return 0;
}

GMP_EXPORT int pthread_sigqueue(pthread_t th, int sig, const union sigval value)
{
	struct shim_thread *t;
	int r = signal_target(th, sig, &t);
	if (r || sig == 0)
		return r;
	if (t->foreign) {
		siginfo_t si;
		memset(&si, 0, sizeof si);
		si.si_signo = sig;
		si.si_code = SI_QUEUE;
		si.si_pid = getpid();
		si.si_uid = getuid();
		si.si_value = value;
		long k = gmp_sys(SYS_rt_tgsigqueueinfo, getpid(), t->ostid, sig, &si, 0, 0);
		return k < 0 ? (int)-k : 0;
	}
	gmp_g_sigqueue(t->g, sig, value.sival_ptr);
	return 0;
}

static int setmask(int how, const sigset_t *set, sigset_t *old)
{
	struct shim_thread *t;
	if (!on_g(&t)) {
		long r = gmp_sys(SYS_rt_sigprocmask, how, set, old, 8, 0, 0);
		return r < 0 ? (int)-r : 0;
	}
	struct gmp_g *g = t->g;
	uint64_t cur = g->sigmask, want;
	if (set) {
		uint64_t s;
		memcpy(&s, set, sizeof s);
		s &= ~RESERVED;
		switch (how) {
		case SIG_BLOCK: want = cur | s; break;
		case SIG_UNBLOCK: want = cur & ~s; break;
		case SIG_SETMASK: want = s; break;
		default: return EINVAL;
		}
	}
	if (old) {
		sigemptyset(old);
		memcpy(old, &cur, sizeof cur);
	}
	if (set) {
		gmp_g_setsigmask(g, want);
		if (t->ismain)
			atomic_store(&gmp_sched.mainsigmask, g->sigmask);
	}
	return 0;
}

GMP_EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	return setmask(how, set, old);
}

GMP_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	int r = setmask(how, set, old);
	if (r) {
		errno = r;
		return -1;
	}
	return 0;
}

GMP_EXPORT int sigpending(sigset_t *set)
{
	sigemptyset(set);
	long r = gmp_sys(SYS_rt_sigpending, set, 8, 0, 0, 0, 0);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	struct shim_thread *t;
	if (on_g(&t)) {
		uint64_t k;
		memcpy(&k, set, sizeof k);
		k |= atomic_load(&t->g->sigpend);
		memcpy(set, &k, sizeof k);
	}
	return 0;
}

/* Takes a signal of set that was sent to this G and is pending on it. */
static int take_g_pending(struct shim_thread *t, const sigset_t *set)
{
	uint64_t want;
	memcpy(&want, set, sizeof want);
	struct gmp_g *g = t->g;
	uint64_t p;
	while ((p = atomic_load(&g->sigpend) & want) != 0) {
		int sig = __builtin_ctzll(p) + 1;
		if (atomic_fetch_and(&g->sigpend, ~SIGBIT(sig)) & SIGBIT(sig)) {
			atomic_fetch_and(&g->sigqueued, ~SIGBIT(sig));
			return sig;
		}
	}
	return 0;
}

GMP_EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *ts)
{
	struct shim_thread *t;
	if (!on_g(&t)) {
		long r = gmp_sys(SYS_rt_sigtimedwait, set, info, ts, 8, 0, 0);
		return r < 0 ? (errno = (int)-r, -1) : (int)r;
	}
	/* Announce the wait first: a signal sent to this G from now on goes
	 * to the kernel wait if it is not found pending here. */
	uint64_t want;
	memcpy(&want, set, sizeof want);
	gmp_sigwait_begin(t->g, want);
	int sig = take_g_pending(t, set);
	if (sig) {
		gmp_sigwait_end(t->g);
		if (info) {
			memset(info, 0, sizeof *info);
			info->si_signo = sig;
			info->si_code = SI_TKILL;
			info->si_pid = getpid();
			info->si_uid = getuid();
		}
		return sig;
	}
	long r = SHIM_CP(SYS_rt_sigtimedwait, set, info, ts, 8, 0, 0);
	gmp_sigwait_end(t->g);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (int)r;
}

GMP_EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
	return sigtimedwait(set, info, NULL);
}

GMP_EXPORT int sigwait(const sigset_t *set, int *sig)
{
	int r;
	do
		r = sigtimedwait(set, NULL, NULL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno;
	*sig = r;
	return 0;
}

/* ---------------------------------------------------------------- handlers */

/*
 * The program's handlers are installed behind a wrapper, so that a signal
 * sent to the whole process (kill, Ctrl-C, SIGCHLD, alarm...) reaches the
 * thread Linux would have chosen when the OS thread it lands on is not that
 * thread: the main thread, if it does not block the signal and is parked in
 * the shim (gmp_sig_redirect).  Its blocking call then fails with EINTR (or
 * goes on, with SA_RESTART) after the handler ran on it.  Signals aimed at a
 * thread (pthread_kill, tgkill, faults) run the handler at once, as before.
 * sigaction() reports the program's own handler and flags.
 */
struct user_handler {
	void *_Atomic fn;   /* sa_handler / sa_sigaction, NULL: not wrapped */
	_Atomic int flags;  /* the program's sa_flags */
};
static struct user_handler handlers[65];

/* Raised for a reason that concerns the process, not one thread. */
static bool process_directed(int sig, const siginfo_t *si)
{
	switch (sig) {
	case SIGSEGV: case SIGBUS: case SIGFPE: case SIGILL: case SIGTRAP: case SIGSYS:
	case SIGPIPE: case SIGXFSZ:
		return false; /* raised for what this thread just did (SI_USER for
			       * SIGPIPE/SIGXFSZ, but aimed at the thread) */
	}
	return si->si_code != SI_TKILL && (si->si_code != SI_QUEUE || si->si_pid != getpid());
}

static void call_handler(int sig, siginfo_t *si, void *uc, void *fn, int flags)
{
	if (flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))fn)(sig, si, uc);
	else
		((void (*)(int))fn)(sig);
}

static void wrapper(int sig, siginfo_t *si, void *uc)
{
	void *fn = atomic_load(&handlers[sig].fn);
	int flags = atomic_load(&handlers[sig].flags);
	if (fn == NULL)
		return;
	if (gmp_runtime_inited() && process_directed(sig, si) && gmp_sig_redirect(sig, si, uc))
		return; /* it runs on the main thread instead */
	call_handler(sig, si, uc, fn, flags);
}

/*
 * SIGURG is shared with the runtime, which preempts threads with it
 * (src/preempt.c): the kernel's handler is the runtime's, which calls
 * urg_forward for the signals that are not its own.  The program's
 * sigaction() sets and reads its own view (urg_act); its flags and mask
 * are applied to the runtime's handler.  A thread that blocks SIGURG keeps
 * it unblocked in the kernel (the runtime needs it): a signal of the
 * program's that arrives then stays pending for the thread, as the kernel
 * would keep it, until it unblocks it or sigwait()s it.
 */
static gmp_mutex urg_lock;
static struct sigaction urg_act; /* the program's; all zero: SIG_DFL */

static void urg_forward(int sig, siginfo_t *si, void *uc)
{
	void *fn = atomic_load(&handlers[SIGURG].fn);
	int flags = atomic_load(&handlers[SIGURG].flags);
	if (fn == NULL)
		return; /* SIG_DFL or SIG_IGN: SIGURG is ignored */
	struct gmp_m *m = gmp_getm();
	struct gmp_g *g = m ? m->curg : NULL;
	if (g && (g->sigmask & SIGBIT(SIGURG))) {
		atomic_fetch_or(&g->sigpend, SIGBIT(SIGURG));
		return;
	}
	if ((flags & SA_RESETHAND) && !atomic_compare_exchange_strong(&handlers[SIGURG].fn, &fn, NULL))
		return; /* another thread took the one-shot handler */
	if (process_directed(sig, si) && gmp_sig_redirect(sig, si, uc))
		return;
	call_handler(sig, si, uc, fn, flags);
}

static int urg_sigaction(const struct sigaction *act, struct sigaction *old)
{
	gmp_lock(&urg_lock);
	struct sigaction prev = urg_act;
	if (act) {
		bool handled = act->sa_handler != SIG_IGN && act->sa_handler != SIG_DFL;
		int r = gmp_preempt_sigaction(urg_forward, handled ? (unsigned long)act->sa_flags : SA_RESTART,
					      handled ? &act->sa_mask : NULL);
		if (r != 0) {
			gmp_unlock(&urg_lock);
			errno = -r;
			return -1;
		}
		urg_act = *act;
		atomic_store(&handlers[SIGURG].flags, act->sa_flags);
		atomic_store(&handlers[SIGURG].fn, !handled ? NULL
					: (act->sa_flags & SA_SIGINFO) ? (void *)act->sa_sigaction : (void *)act->sa_handler);
	}
	gmp_unlock(&urg_lock);
	if (old)
		*old = prev;
	return 0;
}

/* At load, once the runtime owns SIGURG: a handler the program (or another
 * preloaded library) installed before that is kept as the program's view. */
void shim_sigurg_init(void)
{
	void *fn = atomic_load(&handlers[SIGURG].fn);
	if (!gmp_preempt_async() || fn == NULL)
		return;
	struct sigaction a;
	memset(&a, 0, sizeof a);
	a.sa_flags = atomic_load(&handlers[SIGURG].flags);
	if (a.sa_flags & SA_SIGINFO)
		a.sa_sigaction = (void (*)(int, siginfo_t *, void *))fn;
	else
		a.sa_handler = (void (*)(int))fn;
	sigemptyset(&a.sa_mask);
	urg_sigaction(&a, NULL);
}

bool shim_sig_wakeable(void)
{
	/* Faults and SIGPIPE/SIGXFSZ are raised by the thread's own action. */
	const uint64_t own = SIGBIT(SIGSEGV) | SIGBIT(SIGBUS) | SIGBIT(SIGILL) | SIGBIT(SIGFPE) |
			     SIGBIT(SIGTRAP) | SIGBIT(SIGSYS) | SIGBIT(SIGPIPE) | SIGBIT(SIGXFSZ);
	for (int sig = 1; sig <= 64; sig++)
		if (!(own & SIGBIT(sig)) && atomic_load(&handlers[sig].fn) != NULL)
			return true;
	return false;
}

/* The program's view of a signal whose kernel handler is the runtime's
 * (src/crash.c): SIG_DFL. */
static void dfl_view(struct sigaction *old)
{
	memset(old, 0, sizeof *old);
	old->sa_handler = SIG_DFL;
}

GMP_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (sig <= 0 || sig > 64 || (SIGBIT(sig) & RESERVED)) {
		errno = EINVAL;
		return -1;
	}
	if (sig == SIGURG && gmp_preempt_async())
		return urg_sigaction(act, old);
	bool crash_old = gmp_crash_owns(sig);
	if (act && act->sa_handler == SIG_DFL && gmp_crash_handles(sig)) {
		/* Back to "default": the runtime's report, then the default. */
		struct sigaction prev;
		if (old && !crash_old)
			sigaction(sig, NULL, &prev);
		atomic_store(&handlers[sig].fn, NULL);
		gmp_crash_default(sig);
		if (old) {
			if (crash_old)
				dfl_view(old);
			else
				*old = prev;
		}
		return 0;
	}
	void *prevfn = atomic_load(&handlers[sig].fn);
	int prevflags = atomic_load(&handlers[sig].flags);
	struct sigaction k, kold;
	const struct sigaction *use = act;
	bool wrap = act && act->sa_handler != SIG_IGN && act->sa_handler != SIG_DFL;
	if (wrap) {
		k = *act;
		k.sa_sigaction = wrapper;
		k.sa_flags |= SA_SIGINFO;
		use = &k;
		/* The handler is published before the kernel can call the wrapper. */
		atomic_store(&handlers[sig].flags, act->sa_flags);
		atomic_store(&handlers[sig].fn, (act->sa_flags & SA_SIGINFO) ? (void *)act->sa_sigaction
										: (void *)act->sa_handler);
	}
	int r = REAL(sigaction)(sig, use, &kold);
	if (r != 0) {
		if (wrap) {
			atomic_store(&handlers[sig].fn, prevfn);
			atomic_store(&handlers[sig].flags, prevflags);
		}
		return r;
	}
	if (act && !wrap)
		atomic_store(&handlers[sig].fn, NULL);
	if (act)
		gmp_crash_released(sig);
	if (old && crash_old) {
		dfl_view(old);
	} else if (old) {
		*old = kold;
		if (kold.sa_sigaction == wrapper) { /* the program's own, as it set it */
			old->sa_flags = prevflags;
			if (prevflags & SA_SIGINFO)
				old->sa_sigaction = (void (*)(int, siginfo_t *, void *))prevfn;
			else
				old->sa_handler = (void (*)(int))prevfn;
		}
	}
	return 0;
}

/* signal(): glibc's BSD semantics (SA_RESTART, handler stays installed). */
GMP_EXPORT __sighandler_t signal(int sig, __sighandler_t h)
{
	struct sigaction a, old;
	memset(&a, 0, sizeof a);
	a.sa_handler = h;
	a.sa_flags = SA_RESTART;
	sigemptyset(&a.sa_mask);
	sigaddset(&a.sa_mask, sig);
	if (sigaction(sig, &a, &old) != 0)
		return SIG_ERR;
	return old.sa_handler;
}

GMP_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t h)
{
	return signal(sig, h);
}

/* sysv_signal(): one-shot, not restarting, the signal not blocked. */
GMP_EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t h)
{
	struct sigaction a, old;
	memset(&a, 0, sizeof a);
	a.sa_handler = h;
	a.sa_flags = SA_RESETHAND | SA_NODEFER;
	sigemptyset(&a.sa_mask);
	if (sigaction(sig, &a, &old) != 0)
		return SIG_ERR;
	return old.sa_handler;
}
