/*
 * The one way the runtime reports a broken invariant: gmp_fatal prints
 * "gmpthread: fatal: <message>" with the G, M and P involved, then aborts
 * (so a core dump and the debugger see the failing state).  It writes with a
 * raw syscall: stdio may be locked by the very thread that failed.
 */
#include "runtime.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/syscall.h>

static void write_all(const char *buf, size_t len)
{
	while (len > 0) {
		long r = gmp_sys(SYS_write, 2, buf, len, 0, 0, 0);
		if (r == -4 /* EINTR */)
			continue;
		if (r <= 0)
			return;
		buf += r;
		len -= (size_t)r;
	}
}

static size_t vformat(char *buf, size_t cap, const char *prefix, const char *fmt, va_list ap)
{
	int n = snprintf(buf, cap, "%s", prefix);
	if (n < 0)
		n = 0;
	int k = vsnprintf(buf + n, cap - (size_t)n, fmt, ap);
	if (k < 0)
		k = 0;
	size_t len = (size_t)n + (size_t)k;
	if (len > cap - 2)
		len = cap - 2;
	return len;
}

/* Formats one report line (with the current M/P/G if where) and writes it. */
static void vreport(const char *prefix, bool where, const char *fmt, va_list ap)
{
	char buf[1024];
	size_t len = vformat(buf, sizeof buf, prefix, fmt, ap);
	if (where) {
		struct gmp_m *m = gmp_getm();
		struct gmp_g *g = m ? m->curg : NULL;
		int n = snprintf(buf + len, sizeof buf - len, "\n  on M%d (tid %d), P%d, G%llu",
				 m ? m->id : -1, (int)gmp_gettid(), m && m->p ? m->p->id : -1,
				 g ? (unsigned long long)g->goid : 0ULL);
		if (n > 0)
			len += (size_t)n < sizeof buf - len - 2 ? (size_t)n : sizeof buf - len - 2;
	}
	buf[len++] = '\n';
	write_all(buf, len);
}

void gmp_printerr(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport("gmpthread: ", false, fmt, ap);
	va_end(ap);
}

void gmp_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport("gmpthread: fatal: ", true, fmt, ap);
	va_end(ap);
	/* abort() may run atexit-like machinery on some libcs; go straight to SIGABRT. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGABRT);
	gmp_sys(SYS_rt_sigprocmask, SIG_UNBLOCK, &set, NULL, 8, 0, 0);
	gmp_sys(SYS_tgkill, gmp_sys(SYS_getpid, 0, 0, 0, 0, 0, 0), gmp_gettid(), SIGABRT, 0, 0, 0);
	__builtin_trap();
}
