/*
 * The runtime's handlers for the dump signal (GMP_DUMP_SIGNAL, SIGQUIT by
 * default) and for fatal signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT,
 * SIGSYS) -- installed only where the program leaves the signal at SIG_DFL
 * (an inherited SIG_IGN is kept).  The program's view stays SIG_DFL
 * (preload/signal.c asks gmp_crash_owns): sigaction() reports SIG_DFL, a
 * handler it installs replaces ours, and setting SIG_DFL again brings ours
 * back.
 *
 * Dump signal: every thread's dump (dump.c) on stderr or GMP_DUMP_FILE.
 * After SIGQUIT the process then dies of SIGQUIT, as it would natively (a
 * core dump) and as a Go program exits after its dump; any other dump
 * signal leaves it running.  A dump signal that carries gmprun's cookie
 * (sigqueue, value "GMPD" << 32 | gmprun's pid) is a request: the dump goes
 * to gmprun's FIFO and the program always goes on.
 *
 * Fatal signal: the faulting thread is reported -- "stack overflow in
 * thread N" when the fault is in its stack's guard page -- then the
 * handler restores SIG_DFL and lets the signal happen again (a fault
 * re-executes; a sent signal is raised again), so the process dies of the
 * original signal and dumps core as it would have.  Handlers run on an
 * alternate stack (gmp_crash_altstack, one per M): an overflowed stack has
 * no room for them.
 */
#include "runtime.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>

#define SIGBIT(s) (1ULL << ((s) - 1))
#define FATAL_SIGS (SIGBIT(SIGSEGV) | SIGBIT(SIGBUS) | SIGBIT(SIGILL) | SIGBIT(SIGFPE) | \
		    SIGBIT(SIGABRT) | SIGBIT(SIGSYS))
#define DUMP_COOKIE 0x474D5044ULL /* "GMPD" */
#define ALTSTACK_SIZE (128 << 10)

void gmp_sigreturn(void); /* cancel.S */

static uint64_t handled;          /* the signals we may own (fatal + dump) */
static _Atomic uint64_t owned;    /* those whose kernel handler is ours */

const char *gmp_sig_name(int sig)
{
	static char buf[65][12];
	const char *a = sig > 0 && sig < 65 ? sigabbrev_np(sig) : NULL;
	if (!a)
		return "signal ?";
	if (!buf[sig][0])
		snprintf(buf[sig], sizeof buf[sig], "SIG%s", a);
	return buf[sig];
}

/* "SIGQUIT", "quit", "3" -> 3; "none" -> 0; junk -> -1. */
int gmp_sig_number(const char *name)
{
	if (strcasecmp(name, "none") == 0)
		return 0;
	char *end;
	long n = strtol(name, &end, 10);
	if (end != name && *end == '\0')
		return n >= 1 && n <= 64 && n != 32 && n != 33 && n != SIGKILL && n != SIGSTOP ? (int)n : -1;
	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	for (int s = 1; s < 32; s++) {
		const char *a = sigabbrev_np(s);
		if (a && strcasecmp(a, name) == 0)
			return s == SIGKILL || s == SIGSTOP ? -1 : s;
	}
	return -1;
}

static void handler(int sig, siginfo_t *si, void *ucv);

/* Sets sig's kernel action to fn (SIG_DFL too) unless query; old: the previous. */
static long kernel_sigaction(int sig, bool query, void *fn, unsigned long flags, void *old)
{
	struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } ka = {
		.handler = fn, .flags = flags, .restorer = (void *)gmp_sigreturn, .mask = 0,
	};
	return gmp_sys(SYS_rt_sigaction, sig, query ? NULL : &ka, old, 8, 0, 0);
}

static void take(int sig)
{
	kernel_sigaction(sig, false, (void *)handler, SA_SIGINFO | SA_ONSTACK | SA_RESTART | 0x04000000 /* SA_RESTORER */,
			 NULL);
	atomic_fetch_or(&owned, SIGBIT(sig));
}

/* Back to the kernel's default action (before it happens for real). */
static void release(int sig)
{
	atomic_fetch_and(&owned, ~SIGBIT(sig));
	kernel_sigaction(sig, false, SIG_DFL, 0x04000000, NULL);
}

bool gmp_crash_owns(int sig)
{
	return sig > 0 && sig <= 64 && (atomic_load(&owned) & SIGBIT(sig));
}

bool gmp_crash_handles(int sig)
{
	return sig > 0 && sig <= 64 && (handled & SIGBIT(sig));
}

void gmp_crash_default(int sig)
{
	if (gmp_crash_handles(sig))
		take(sig);
}

void gmp_crash_released(int sig)
{
	if (sig > 0 && sig <= 64)
		atomic_fetch_and(&owned, ~SIGBIT(sig));
}

void gmp_crash_altstack(struct gmp_m *m)
{
	stack_t cur;
	if (gmp_sys(SYS_sigaltstack, NULL, &cur, 0, 0, 0, 0) == 0 && !(cur.ss_flags & SS_DISABLE))
		return; /* the thread has one already */
	void *p = m->altstack ? m->altstack : gmp_rawalloc(ALTSTACK_SIZE);
	if (!p)
		return;
	m->altstack = p;
	stack_t ss = { .ss_sp = p, .ss_size = ALTSTACK_SIZE, .ss_flags = 0 };
	gmp_sys(SYS_sigaltstack, &ss, NULL, 0, 0, 0, 0);
}

void gmp_crash_init(void)
{
	handled = FATAL_SIGS;
	if (gmp_sched.cfg.dumpsig > 0)
		handled |= SIGBIT(gmp_sched.cfg.dumpsig);
	for (int sig = 1; sig <= 64; sig++) {
		if (!(handled & SIGBIT(sig)))
			continue;
		struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } old;
		if (kernel_sigaction(sig, true, NULL, 0, &old) == 0 && old.handler == SIG_DFL)
			take(sig);
	}
	struct gmp_m *m = gmp_getm();
	if (m)
		gmp_crash_altstack(m);
}

/* ---------------------------------------------------------------- dump */

static bool is_request(const siginfo_t *si)
{
	return si->si_code == SI_QUEUE && ((uint64_t)(uintptr_t)si->si_value.sival_ptr >> 32) == DUMP_COOKIE;
}

/* gmprun's FIFO for a request, or -1. */
static int request_fifo(const siginfo_t *si)
{
	uint64_t v = (uint64_t)(uintptr_t)si->si_value.sival_ptr;
	if (!is_request(si))
		return -1;
	char path[64];
	snprintf(path, sizeof path, "/tmp/gmpdump-%u", (unsigned)(v & 0xffffffffu));
	long fd = gmp_sys(SYS_openat, AT_FDCWD, path, O_WRONLY | O_NONBLOCK | O_CLOEXEC, 0, 0, 0);
	return fd < 0 ? -1 : (int)fd;
}

static void dump_signal(int sig, siginfo_t *si, void *uc)
{
	int fd = request_fifo(si);
	if (fd >= 0) {
		/* A reader that goes away must not kill us with SIGPIPE: hold
		 * it blocked while writing, and drop one raised meanwhile. */
		uint64_t pipe = SIGBIT(SIGPIPE), old;
		gmp_sys(SYS_rt_sigprocmask, SIG_BLOCK, &pipe, &old, 8, 0, 0);
		gmp_dump_all(fd, GMP_DUMP_BY_REQUEST, sig, uc);
		gmp_sys(SYS_close, fd, 0, 0, 0, 0, 0);
		uint64_t pend = 0;
		gmp_sys(SYS_rt_sigpending, &pend, 8, 0, 0, 0, 0);
		if ((pend & pipe) && !(old & pipe)) {
			struct timespec zero = { 0, 0 };
			gmp_sys(SYS_rt_sigtimedwait, &pipe, NULL, &zero, 8, 0, 0);
		}
		gmp_sys(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, 8, 0, 0);
		return;
	}
	fd = gmp_dump_open();
	gmp_dump_all(fd, GMP_DUMP_BY_SIGNAL, sig, uc);
	gmp_dump_close(fd);
}

/* ---------------------------------------------------------------- fatal */

static bool stack_overflow(const struct gmp_g *g, const siginfo_t *si, const ucontext_t *uc)
{
	if (!g || si->si_signo != SIGSEGV || si->si_code <= 0)
		return false;
	uintptr_t a = (uintptr_t)si->si_addr, lo = (uintptr_t)g->stack.lo;
	uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
	if (g->stack.map && a >= (uintptr_t)g->stack.map && a < lo)
		return true; /* the guard page */
	/* A frame big enough to jump over it, from a stack pointer at the
	 * bottom of the stack. */
	return sp < lo + 4096 && a < lo && a + (1u << 20) >= lo;
}

static void fatal_signal(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	struct gmp_m *m = gmp_getm();
	struct gmp_g *g = m ? m->curg : NULL;
	int fd = gmp_dump_open();
	char label[96], line[320];
	gmp_dump_label(g, label, sizeof label);
	if (stack_overflow(g, si, uc))
		snprintf(line, sizeof line, "\nstack overflow in %s (stack %p-%p, fault at %p)\n", label,
			 g->stack.lo, g->stack.hi, si->si_addr);
	else if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE)
		snprintf(line, sizeof line, "\ngmpthread: fatal signal %s (address %p) in %s\n", gmp_sig_name(sig),
			 si->si_addr, label);
	else
		snprintf(line, sizeof line, "\ngmpthread: fatal signal %s in %s\n", gmp_sig_name(sig), label);
	gmp_write_all(fd, line, strlen(line));
	gmp_dump_current(fd, g, ucv);
	gmp_dump_close(fd);
	gmp_trace_flush();
}

static void handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	bool fatal = (FATAL_SIGS & SIGBIT(sig)) != 0;
	if (!fatal || sig == gmp_sched.cfg.dumpsig) {
		if (!(atomic_load(&owned) & SIGBIT(sig)))
			return;
		dump_signal(sig, si, ucv);
		if (sig != SIGQUIT || is_request(si))
			return;
	} else {
		fatal_signal(sig, si, ucv);
	}
	/* Die of it: default action, unblocked when the handler returns; a
	 * fault happens again by itself, a sent signal is sent again. */
	release(sig);
	sigdelset(&uc->uc_sigmask, sig);
	if (si->si_code <= 0 || sig == SIGQUIT)
		gmp_sys(SYS_tgkill, gmp_sys(SYS_getpid, 0, 0, 0, 0, 0, 0), gmp_gettid(), sig, 0, 0, 0);
}
