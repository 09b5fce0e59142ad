/*
 * The one way the runtime reports a broken invariant: gmp_fatal prints
 * "gmpthread: fatal: <message>" with the G, M and P involved, then aborts
 * (so a core dump and the debugger see the failing state).  It writes with a
 * raw syscall: stdio may be locked by the very thread that failed.
 */
#include "runtime.h"

#include <signal.h>
#include <errno.h>
#include <stdarg.h>
#include <time.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

void gmp_write_all(int fd, const void *p, size_t len)
{
	const char *buf = p;
	while (len > 0) {
		long r = gmp_sys(SYS_write, fd, buf, len, 0, 0, 0);
		if (r == -EINTR)
			continue;
		if (r == -EAGAIN) { /* a non-blocking pipe (gmprun's FIFO) that is full */
			struct timespec ts = { 0, 1000000 };
			gmp_sys(SYS_nanosleep, &ts, NULL, 0, 0, 0, 0);
			continue;
		}
		if (r <= 0)
			return;
		buf += r;
		len -= (size_t)r;
	}
}

void gmp_out_flush(struct gmp_out *o)
{
	gmp_write_all(o->fd, o->buf, o->n);
	o->n = 0;
}

void gmp_outf(struct gmp_out *o, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	size_t len = (size_t)k < sizeof line ? (size_t)k : sizeof line - 1;
	if (o->n + len > sizeof o->buf)
		gmp_out_flush(o);
	memcpy(o->buf + o->n, line, len);
	o->n += len;
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
	gmp_write_all(2, buf, len);
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
