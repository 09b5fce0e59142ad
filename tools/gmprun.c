/*
 * gmprun: run a program under libgmpthread without typing LD_PRELOAD, ask a
 * running one for a dump of its threads, and turn a trace into a web page.
 *
 *   gmprun [options] [--] program [args...]
 *   gmprun dump PID
 *   gmprun view TRACE.json [-o OUT.html]
 *
 * Every option sets a GMP_* environment variable (read by the runtime when
 * the program starts) and then execs the program with libgmpthread.so first
 * in LD_PRELOAD.  The library is found next to this executable (build/) or
 * in ../lib (an installed tree).  An existing LD_PRELOAD is kept, after ours.
 *
 * `dump` is the client side of the non-destructive dump protocol: it makes a
 * FIFO /tmp/gmpdump-<our pid>, sends the target its dump signal with
 * sigqueue() and a cookie ("GMPD" << 32 | our pid) and copies what the
 * target writes into the FIFO to stdout.  The target keeps running.
 *
 * `view` is tools/traceview.c: Chrome trace-event JSON (GMP_TRACE) to one
 * self-contained HTML page.
 *
 * A subcommand word is recognised only as the first argument; `gmprun --
 * dump` runs a program named dump.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "traceview.h"

#ifndef GMP_VERSION
#define GMP_VERSION "0.1.0"
#endif

/* Dump protocol constants (docs/gmprun.1, the issue 7 spec). */
#define DUMP_COOKIE       0x474D504400000000ULL /* "GMPD" in the high 32 bits */
#define DUMP_FIFO_FMT     "/tmp/gmpdump-%u"
#define DUMP_FIRST_MS     5000   /* first byte must come within this */
#define DUMP_STALL_MS     10000  /* once started, a pause this long ends it */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gmprun [options] [--] program [args...]\n"
		"       gmprun dump PID\n"
		"       gmprun view TRACE.json [-o OUT.html] [--width PX] [--max-slices N]\n"
		"\n"
		"Runs program with its pthreads replaced by libgmpthread goroutines\n"
		"(LD_PRELOAD=libgmpthread.so, found next to gmprun or in ../lib).\n"
		"Each option sets the environment variable in parentheses; options may\n"
		"also be written --option=value.\n"
		"\n"
		"Scheduler and stacks:\n"
		"  -p, --procs N           processors: threads running user code at once\n"
		"                          (GMP_MAXPROCS, 1-1024; default: CPUs in the affinity mask)\n"
		"      --stacksize SIZE    default thread stack, k/M/G suffixes (GMP_STACKSIZE,\n"
		"                          16k-16G; default: glibc's rule from RLIMIT_STACK)\n"
		"      --stackguard MODE   page (default) or canary (GMP_STACKGUARD)\n"
		"      --maxthreads N      cap on OS threads (GMP_MAXTHREADS, 2-1048576; default 10000)\n"
		"      --tls MODE          per-g (default): each thread its own TLS; shared: threads\n"
		"                          use their OS thread's TLS, only errno is carried (GMP_TLS)\n"
		"      --fsbase METHOD     auto (default), wrfsbase or arch_prctl: how per-g mode\n"
		"                          switches the thread pointer (GMP_FSBASE)\n"
		"      --preempt-ms N      time slice in ms (GMP_PREEMPT_MS, 1-60000; default 10)\n"
		"      --no-async-preempt  no preemption by signal, only at calls into the shim\n"
		"                          (GMP_ASYNCPREEMPT=0)\n"
		"\n"
		"Diagnostics:\n"
		"      --trace FILE        write a Chrome trace-event JSON file at exit (GMP_TRACE;\n"
		"                          a relative FILE is made absolute); see `gmprun view`\n"
		"      --trace-buf N       trace events kept per OS thread, k/M suffixes\n"
		"                          (GMP_TRACE_BUF, 1k-64M; default 262144, 32 bytes each)\n"
		"      --schedtrace MS     print a scheduler summary line every MS ms on stderr\n"
		"                          (adds schedtrace=MS to GMP_DEBUG, keeping its other items)\n"
		"      --scheddetail       with --schedtrace, also every P, M and G\n"
		"                          (adds scheddetail=1 to GMP_DEBUG)\n"
		"      --dump-signal SIG   signal that prints a dump of all threads: a name (QUIT,\n"
		"                          SIGUSR2, ...), a number, or none (GMP_DUMP_SIGNAL;\n"
		"                          default SIGQUIT)\n"
		"      --dump-file FILE    append dumps (signal, deadlock, fatal signal) to FILE\n"
		"                          instead of stderr (GMP_DUMP_FILE; made absolute)\n"
		"      --no-deadlock       no deadlock detection (GMP_DEADLOCK=0)\n"
		"\n"
		"  -h, --help              this text\n"
		"  -V, --version           print the version\n"
		"\n"
		"Commands (only as the first argument):\n"
		"  dump PID                print a dump of the threads of PID, a program running\n"
		"                          under libgmpthread, without stopping it (its\n"
		"                          GMP_DUMP_SIGNAL is sent with a cookie; the dump comes\n"
		"                          back through a FIFO in /tmp)\n"
		"  view TRACE.json         write TRACE.html (or -o OUT.html; -o - for stdout): one\n"
		"                          self-contained page with a timeline per OS thread and\n"
		"                          per-thread statistics; prints the path written\n"
		"\n"
		"Exit status: the program's; 2 for a usage error; 127 if gmprun cannot find\n"
		"libgmpthread.so or the program; 126 if the program cannot be executed.\n"
		"See gmprun(1).\n");
}

static void usage_dump(FILE *f)
{
	fprintf(f,
		"usage: gmprun dump PID\n"
		"Prints a dump of every thread of PID (a program running under libgmpthread)\n"
		"and leaves it running.  The signal sent is the target's GMP_DUMP_SIGNAL\n"
		"(default SIGQUIT), queued with a cookie that asks for the dump in the FIFO\n"
		"/tmp/gmpdump-<gmprun's pid> instead of its stderr.\n");
}

static void usage_view(FILE *f)
{
	fprintf(f,
		"usage: gmprun view TRACE.json [-o OUT.html] [--width PX] [--max-slices N]\n"
		"Writes one self-contained HTML page (inline SVG, no network) showing the trace\n"
		"written by a program run with GMP_TRACE (gmprun --trace).  The default output\n"
		"is TRACE.html next to the input; -o - writes to stdout.  Prints the path written.\n"
		"  -o, --output FILE   output file\n"
		"      --width PX      width of the time axis in pixels (200-100000; default %d)\n"
		"      --max-slices N  above this many shapes, slices narrower than a pixel are\n"
		"                      merged into grey \"busy\" rectangles (default %d; 0: never)\n",
		TRACEVIEW_DEFAULT_WIDTH, TRACEVIEW_DEFAULT_MAX_SLICES);
}

/* ---- value parsing ------------------------------------------------------ */

/* "123", or with suffix: "64k", "8M", "1g" (binary multiples, as the runtime
 * parses sizes).  Only digits then one optional suffix: no sign, no spaces. */
static int parse_number(const char *s, int suffix, unsigned long long *out)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	unsigned shift = 0;
	if (suffix) {
		switch (*end) {
		case 'k': case 'K': shift = 10; end++; break;
		case 'm': case 'M': shift = 20; end++; break;
		case 'g': case 'G': shift = 30; end++; break;
		}
	}
	if (*end != '\0' || (shift && v > (~0ULL >> shift)))
		return -1;
	*out = v << shift;
	return 0;
}

/* 16384 -> "16k", 1 << 34 -> "16G". */
static const char *human(char *buf, size_t cap, unsigned long long v)
{
	static const char suffix[] = "GMk";
	for (int i = 0; i < 3; i++) {
		unsigned shift = 30 - 10 * (unsigned)i;
		if (v >= (1ULL << shift) && v % (1ULL << shift) == 0) {
			snprintf(buf, cap, "%llu%c", v >> shift, suffix[i]);
			return buf;
		}
	}
	snprintf(buf, cap, "%llu", v);
	return buf;
}

/*
 * A signal as the runtime reads GMP_DUMP_SIGNAL (gmp_sig_number in
 * src/crash.c, and src/env.c): "none" -> 0; a number 1-64; a name as glibc
 * abbreviates it (sigabbrev_np: QUIT, USR2, ...), with or without SIG, in
 * any case.  -1 for anything else and for the signals the runtime refuses:
 * SIGKILL and SIGSTOP (cannot be caught), 32 and 33 (glibc's own), SIGURG
 * (preemption).  `gmprun dump` must pick the very signal the target's
 * runtime took: the default action of an unhandled SIGQUIT is a core dump.
 */
static int parse_signal(const char *s)
{
	if (strcasecmp(s, "none") == 0)
		return 0;
	char *end;
	errno = 0;
	long n = strtol(s, &end, 10);
	int sig = -1;
	if (end != s && *end == '\0') {
		sig = !errno && n >= 1 && n <= 64 ? (int)n : -1;
	} else {
		const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
		for (int k = 1; k < 32; k++) {
			const char *a = sigabbrev_np(k);
			if (a && strcasecmp(a, name) == 0)
				sig = k;
		}
	}
	if (sig == SIGKILL || sig == SIGSTOP || sig == 32 || sig == 33 || sig == SIGURG)
		return -1;
	return sig;
}

static const char *signal_name(int sig, char *buf, size_t cap)
{
	const char *a = sig > 0 && sig < 32 ? sigabbrev_np(sig) : NULL;
	if (a)
		snprintf(buf, cap, "SIG%s", a);
	else
		snprintf(buf, cap, "signal %d", sig);
	return buf;
}

/* ---- launcher options --------------------------------------------------- */

enum argkind {
	ARG_FLAG,     /* no value: sets env to .fixed */
	ARG_INT,      /* integer in [lo, hi] */
	ARG_SIZE,     /* integer with k/M/G suffix in [lo, hi] */
	ARG_CHOICE,   /* one of .choices */
	ARG_PATH,     /* non-empty file name, made absolute */
	ARG_SIGNAL,   /* signal name or number, or none */
	ARG_DEBUG,    /* integer in [lo, hi]: GMP_DEBUG item .item=N */
	ARG_DEBUGFLAG /* no value: GMP_DEBUG item .item=.fixed */
};

struct option_def {
	char shortopt;          /* 'p' for -p, or 0 */
	const char *name;       /* without the leading -- */
	enum argkind kind;
	const char *env;
	unsigned long long lo, hi;
	const char *const *choices;
	const char *fixed;
	const char *item;       /* GMP_DEBUG item name */
};

static const char *const guard_modes[] = { "page", "canary", NULL };
static const char *const tls_modes[] = { "per-g", "shared", NULL };
static const char *const fsbase_ways[] = { "auto", "wrfsbase", "arch_prctl", NULL };

static const struct option_def options[] = {
	{ 'p', "procs",            ARG_INT,       "GMP_MAXPROCS",     1, 1024, NULL, NULL, NULL },
	{ 0,   "stacksize",        ARG_SIZE,      "GMP_STACKSIZE",    16384, 1ULL << 34, NULL, NULL, NULL },
	{ 0,   "stackguard",       ARG_CHOICE,    "GMP_STACKGUARD",   0, 0, guard_modes, NULL, NULL },
	{ 0,   "maxthreads",       ARG_INT,       "GMP_MAXTHREADS",   2, 1 << 20, NULL, NULL, NULL },
	{ 0,   "tls",              ARG_CHOICE,    "GMP_TLS",          0, 0, tls_modes, NULL, NULL },
	{ 0,   "fsbase",           ARG_CHOICE,    "GMP_FSBASE",       0, 0, fsbase_ways, NULL, NULL },
	{ 0,   "preempt-ms",       ARG_INT,       "GMP_PREEMPT_MS",   1, 60000, NULL, NULL, NULL },
	{ 0,   "no-async-preempt", ARG_FLAG,      "GMP_ASYNCPREEMPT", 0, 0, NULL, "0", NULL },
	{ 0,   "trace",            ARG_PATH,      "GMP_TRACE",        0, 0, NULL, NULL, NULL },
	{ 0,   "trace-buf",        ARG_SIZE,      "GMP_TRACE_BUF",    1024, 1ULL << 26, NULL, NULL, NULL },
	{ 0,   "schedtrace",       ARG_DEBUG,     "GMP_DEBUG",        1, 3600000, NULL, NULL, "schedtrace" },
	{ 0,   "scheddetail",      ARG_DEBUGFLAG, "GMP_DEBUG",        0, 0, NULL, "1", "scheddetail" },
	{ 0,   "dump-signal",      ARG_SIGNAL,    "GMP_DUMP_SIGNAL",  0, 0, NULL, NULL, NULL },
	{ 0,   "dump-file",        ARG_PATH,      "GMP_DUMP_FILE",    0, 0, NULL, NULL, NULL },
	{ 0,   "no-deadlock",      ARG_FLAG,      "GMP_DEADLOCK",     0, 0, NULL, "0", NULL },
};

static void xsetenv(const char *name, const char *val)
{
	if (setenv(name, val, 1) != 0) {
		fprintf(stderr, "gmprun: cannot set %s: %s\n", name, strerror(errno));
		exit(2);
	}
}

/* Sets item=val in the comma list GMP_DEBUG, replacing an earlier item of
 * the same name and keeping every other item. */
static void debug_set(const char *item, const char *val)
{
	const char *old = getenv("GMP_DEBUG");
	size_t ilen = strlen(item);
	size_t cap = (old ? strlen(old) : 0) + ilen + strlen(val) + 3;
	char *out = malloc(cap);
	char *copy = strdup(old ? old : "");
	if (!out || !copy) {
		fprintf(stderr, "gmprun: out of memory\n");
		exit(2);
	}
	size_t n = 0;
	for (char *save, *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		if (strncmp(w, item, ilen) == 0 && (w[ilen] == '\0' || w[ilen] == '='))
			continue;
		n += (size_t)sprintf(out + n, "%s%s", n ? "," : "", w);
	}
	sprintf(out + n, "%s%s=%s", n ? "," : "", item, val);
	xsetenv("GMP_DEBUG", out);
	free(copy);
	free(out);
}

/* Applies one option; 0, or prints the problem and returns -1. */
static int apply_option(const struct option_def *o, const char *shown, const char *val)
{
	unsigned long long n;
	switch (o->kind) {
	case ARG_FLAG:
		xsetenv(o->env, o->fixed);
		return 0;
	case ARG_DEBUGFLAG:
		debug_set(o->item, o->fixed);
		return 0;
	case ARG_INT:
	case ARG_DEBUG:
		if (parse_number(val, 0, &n) != 0 || n < o->lo || n > o->hi) {
			fprintf(stderr, "gmprun: %s '%s': expected a whole number from %llu to %llu\n",
				shown, val, o->lo, o->hi);
			return -1;
		}
		if (o->kind == ARG_DEBUG)
			debug_set(o->item, val);
		else
			xsetenv(o->env, val);
		return 0;
	case ARG_SIZE:
		if (parse_number(val, 1, &n) != 0 || n < o->lo || n > o->hi) {
			char lo[32], hi[32];
			fprintf(stderr, "gmprun: %s '%s': expected a number from %s to %s, "
				"with an optional k, M or G suffix\n", shown, val,
				human(lo, sizeof lo, o->lo), human(hi, sizeof hi, o->hi));
			return -1;
		}
		xsetenv(o->env, val);
		return 0;
	case ARG_CHOICE:
		for (const char *const *c = o->choices; *c; c++)
			if (strcmp(val, *c) == 0) {
				xsetenv(o->env, val);
				return 0;
			}
		fprintf(stderr, "gmprun: %s '%s': expected one of", shown, val);
		for (const char *const *c = o->choices; *c; c++)
			fprintf(stderr, " %s", *c);
		fprintf(stderr, "\n");
		return -1;
	case ARG_PATH:
		if (*val == '\0') {
			fprintf(stderr, "gmprun: %s: empty file name\n", shown);
			return -1;
		}
		if (val[0] == '/') {
			xsetenv(o->env, val);
		} else {
			/* The program may chdir before it exits; the file belongs
			 * where gmprun was started. */
			char cwd[PATH_MAX];
			if (!getcwd(cwd, sizeof cwd)) {
				fprintf(stderr, "gmprun: %s: cannot get the current directory: %s\n",
					shown, strerror(errno));
				return -1;
			}
			size_t len = strlen(cwd) + strlen(val) + 2;
			char *abs = malloc(len);
			if (!abs) {
				fprintf(stderr, "gmprun: out of memory\n");
				return -1;
			}
			const char *v = val;
			while (v[0] == '.' && v[1] == '/')
				for (v += 2; *v == '/'; v++)
					;
			snprintf(abs, len, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "", *v ? v : ".");
			xsetenv(o->env, abs);
			free(abs);
		}
		return 0;
	case ARG_SIGNAL:
		if (parse_signal(val) < 0) {
			fprintf(stderr, "gmprun: %s '%s': expected a signal name (QUIT, SIGUSR2, ...) or "
				"number from 1 to 64, or none (not KILL, STOP, URG, 32 or 33)\n", shown, val);
			return -1;
		}
		xsetenv(o->env, val);
		return 0;
	}
	return -1;
}

static int takes_value(const struct option_def *o)
{
	return o->kind != ARG_FLAG && o->kind != ARG_DEBUGFLAG;
}

static int find_lib(const char *self, char *out, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0) {
		if (!realpath(self, exe))
			return -1;
	} else {
		exe[n] = '\0';
	}
	char *dir = dirname(exe);
	const char *cands[] = { "/libgmpthread.so", "/../lib/libgmpthread.so" };
	for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
		snprintf(out, cap, "%s%s", dir, cands[i]);
		if (access(out, R_OK) == 0) {
			char real[PATH_MAX];
			if (realpath(out, real))
				snprintf(out, cap, "%s", real);
			return 0;
		}
	}
	return -1;
}

/* Is LIB already an element of the colon/space separated list? */
static int preload_has(const char *list, const char *lib)
{
	size_t len = strlen(lib);
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ": ");
		if (n == len && strncmp(p, lib, len) == 0)
			return 1;
		p += n;
		if (*p)
			p++;
	}
	return 0;
}

static int run_program(int argc, char **argv)
{
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("gmprun (libgmpthread) %s\n", GMP_VERSION);
			return 0;
		}
		const struct option_def *o = NULL;
		const char *val = NULL;   /* attached value: --opt=val, -pN */
		char shown[64];
		if (a[1] == '-') {
			const char *name = a + 2;
			size_t nlen = strcspn(name, "=");
			for (size_t k = 0; k < sizeof options / sizeof *options; k++)
				if (strlen(options[k].name) == nlen && strncmp(options[k].name, name, nlen) == 0)
					o = &options[k];
			if (name[nlen] == '=')
				val = name + nlen + 1;
			snprintf(shown, sizeof shown, "--%.*s", (int)(nlen < 40 ? nlen : 40), name);
		} else {
			for (size_t k = 0; k < sizeof options / sizeof *options; k++)
				if (options[k].shortopt && options[k].shortopt == a[1])
					o = &options[k];
			if (o && a[2] != '\0') {
				if (!takes_value(o))
					o = NULL;
				else
					val = a[2] == '=' ? a + 3 : a + 2;
			}
			snprintf(shown, sizeof shown, "-%c", a[1]);
		}
		if (!o) {
			fprintf(stderr, "gmprun: unknown option '%s' (gmprun --help lists them)\n", a);
			return 2;
		}
		if (!takes_value(o)) {
			if (val) {
				fprintf(stderr, "gmprun: %s takes no value\n", shown);
				return 2;
			}
		} else if (!val) {
			if (i + 1 >= argc) {
				fprintf(stderr, "gmprun: %s needs a value\n", shown);
				return 2;
			}
			val = argv[++i];
		}
		if (apply_option(o, shown, val) != 0)
			return 2;
	}
	if (i >= argc) {
		fprintf(stderr, "gmprun: no program to run\n");
		usage(stderr);
		return 2;
	}
	char lib[PATH_MAX];
	if (find_lib(argv[0], lib, sizeof lib) != 0) {
		fprintf(stderr, "gmprun: cannot find libgmpthread.so next to gmprun or in ../lib\n");
		return 127;
	}
	const char *old = getenv("LD_PRELOAD");
	char *pre = lib;
	if (old && *old && !preload_has(old, lib)) {
		size_t len = strlen(lib) + strlen(old) + 2;
		pre = malloc(len);
		if (!pre) {
			fprintf(stderr, "gmprun: out of memory\n");
			return 126;
		}
		snprintf(pre, len, "%s:%s", lib, old);
	} else if (old && *old) {
		pre = (char *)old;
	}
	xsetenv("LD_PRELOAD", pre);
	execvp(argv[i], argv + i);
	int e = errno;
	fprintf(stderr, "gmprun: cannot run '%s': %s\n", argv[i], strerror(e));
	return e == ENOENT ? 127 : 126;
}

/* ---- gmprun dump PID ---------------------------------------------------- */

static char dump_fifo[64];

static void dump_cleanup_signal(int sig)
{
	if (dump_fifo[0])
		unlink(dump_fifo);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Reads a whole /proc file (environ, maps).  NULL with errno on failure. */
static char *read_proc_file(const char *path, size_t *lenp)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 8192, len = 0;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (!buf) {
			close(fd);
			errno = ENOMEM;
			return NULL;
		}
		if (len == cap) {
			char *nb = realloc(buf, cap * 2 + 1);
			if (!nb) {
				free(buf);
				buf = NULL;
				continue;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(buf);
			close(fd);
			errno = e;
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

/* Does some line of a /proc/PID/maps text name a file libgmpthread.so? */
static int maps_have_lib(const char *maps, size_t len)
{
	static const char want[] = "libgmpthread.so";
	static const char deleted[] = " (deleted)";
	const char *p = maps, *end = maps + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *slash = NULL;
		for (const char *q = p; q < le; q++)
			if (*q == '/')
				slash = q;
		if (slash) {
			const char *b = slash + 1;
			size_t blen = (size_t)(le - b);
			/* The library rebuilt under a running program. */
			if (blen > sizeof deleted - 1 &&
			    memcmp(le - (sizeof deleted - 1), deleted, sizeof deleted - 1) == 0)
				blen -= sizeof deleted - 1;
			if (blen == sizeof want - 1 && memcmp(b, want, blen) == 0)
				return 1;
		}
		p = le + 1;
	}
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A mask line of /proc/PID/status ("SigIgn:\t0000000000000004"). */
static int status_mask(const char *status, const char *key, uint64_t *mask)
{
	const char *p = strstr(status, key);
	if (!p)
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(p + strlen(key), &end, 16);
	if (errno || end == p + strlen(key))
		return -1;
	*mask = v;
	return 0;
}

static char *read_status(pid_t pid)
{
	char path[64];
	size_t len;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	return read_proc_file(path, &len);
}

/* A zombie (with no thread left) cannot answer, a stopped process only
 * once continued.  0, or -1 after saying why.  Unreadable: go ahead. */
static int check_state(pid_t pid)
{
	char *st = read_status(pid);
	if (!st)
		return 0;
	const char *state = strstr(st, "\nState:");
	const char *threads = strstr(st, "\nThreads:");
	char sc = 0;
	if (state) {
		state += strlen("\nState:");
		while (*state == ' ' || *state == '\t')
			state++;
		sc = *state;
	}
	long nthreads = threads ? strtol(threads + strlen("\nThreads:"), NULL, 10) : 1;
	int rc = 0;
	if ((sc == 'Z' || sc == 'X') && nthreads <= 1) {
		fprintf(stderr, "gmprun: %d has exited\n", (int)pid);
		rc = -1;
	} else if (sc == 'T' || sc == 't') {
		fprintf(stderr, "gmprun: %d is stopped; continue it first (kill -CONT %d)\n", (int)pid, (int)pid);
		rc = -1;
	}
	free(st);
	return rc;
}

/*
 * Before sending SIG: a signal the target ignores is discarded by the
 * kernel (a shell starts background jobs with SIGINT and SIGQUIT ignored,
 * and the runtime then leaves the dump signal alone); one it does not catch
 * would run its default action (SIGQUIT: a core dump).  Dispositions are
 * per process, so /proc/PID/status tells.  Unreadable: go ahead (the
 * timeout will say it).
 */
static int check_disposition(pid_t pid, int sig)
{
	char *st = read_status(pid);
	if (!st)
		return 0;
	char name[32];
	signal_name(sig, name, sizeof name);
	uint64_t ign, cgt, bit = 1ULL << (sig - 1);
	int rc = 0;
	if (status_mask(st, "\nSigIgn:", &ign) == 0 && (ign & bit)) {
		fprintf(stderr, "gmprun: %d ignores %s, its GMP_DUMP_SIGNAL, so it cannot be asked for a dump "
			"(a shell starts background jobs with SIGINT and SIGQUIT ignored: start it with "
			"gmprun --dump-signal USR2, or env --default-signal=QUIT)\n", (int)pid, name);
		rc = -1;
	} else if (status_mask(st, "\nSigCgt:", &cgt) == 0 && !(cgt & bit)) {
		fprintf(stderr, "gmprun: %d does not catch %s (an older libgmpthread, or not started "
			"yet?); not sending it: its default action would end the process\n", (int)pid, name);
		rc = -1;
	}
	free(st);
	return rc;
}

static int cmd_dump(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage_dump(stdout);
		return 0;
	}
	int ai = 1;
	if (ai < argc && strcmp(argv[ai], "--") == 0)
		ai++;
	if (argc - ai != 1) {
		usage_dump(stderr);
		return 2;
	}
	const char *spid = argv[ai];
	unsigned long long n;
	if (parse_number(spid, 0, &n) != 0 || n < 1 || n > INT_MAX) {
		fprintf(stderr, "gmprun: dump: '%s' is not a process id\n", spid);
		return 2;
	}
	pid_t pid = (pid_t)n;

	char path[64];
	size_t len;
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		fprintf(stderr, "gmprun: no process %d\n", (int)pid);
		return 1;
	}
	if (check_state(pid) != 0)
		return 1;
	char *maps = read_proc_file(path, &len);
	if (!maps) {
		if (errno == ENOENT)
			fprintf(stderr, "gmprun: no process %d\n", (int)pid);
		else
			fprintf(stderr, "gmprun: cannot read %s: %s\n", path, strerror(errno));
		return 1;
	}
	int under = maps_have_lib(maps, len);
	free(maps);
	if (!under) {
		fprintf(stderr, "gmprun: %d is not running under libgmpthread\n", (int)pid);
		return 1;
	}

	snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
	char *env = read_proc_file(path, &len);
	if (!env) {
		fprintf(stderr, "gmprun: cannot read %s: %s\n", path, strerror(errno));
		return 1;
	}
	int sig = SIGQUIT;
	static const char key[] = "GMP_DUMP_SIGNAL=";
	for (size_t off = 0; off < len; off += strlen(env + off) + 1) {
		const char *e = env + off;
		if (strncmp(e, key, sizeof key - 1) != 0)
			continue;
		const char *v = e + sizeof key - 1;
		if (*v == '\0')
			continue;   /* empty: the default */
		int s = parse_signal(v);
		if (s == 0) {
			fprintf(stderr, "gmprun: dumps are disabled in %d (GMP_DUMP_SIGNAL=none)\n", (int)pid);
			free(env);
			return 1;
		}
		if (s > 0) {
			sig = s;
		} else {
			/* The runtime reports a bad value and keeps the default. */
			fprintf(stderr, "gmprun: %d has GMP_DUMP_SIGNAL=%s, which the runtime does not "
				"accept (it keeps SIGQUIT); sending SIGQUIT\n", (int)pid, v);
			sig = SIGQUIT;
		}
	}
	free(env);
	if (check_disposition(pid, sig) != 0)
		return 1;

	unsigned me = (unsigned)(uint32_t)getpid();
	snprintf(dump_fifo, sizeof dump_fifo, DUMP_FIFO_FMT, me);
	int made = mkfifo(dump_fifo, 0600);
	if (made != 0 && errno == EEXIST) {
		/* Left over from an earlier gmprun that had our pid. */
		unlink(dump_fifo);
		made = mkfifo(dump_fifo, 0600);
	}
	if (made != 0) {
		fprintf(stderr, "gmprun: cannot create the FIFO %s: %s\n", dump_fifo, strerror(errno));
		dump_fifo[0] = '\0';
		return 1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = dump_cleanup_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int rc = 1;
	int fd = open(dump_fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode) || st.st_uid != geteuid()) {
		fprintf(stderr, "gmprun: cannot open the FIFO %s: %s\n", dump_fifo,
			fd < 0 ? strerror(errno) : "not our FIFO");
		goto out;
	}

	union sigval v;
	v.sival_ptr = (void *)(uintptr_t)(DUMP_COOKIE | (uint64_t)me);
	if (sigqueue(pid, sig, v) != 0) {
		if (errno == ESRCH)
			fprintf(stderr, "gmprun: no process %d\n", (int)pid);
		else
			fprintf(stderr, "gmprun: cannot send %s to %d: %s\n",
				signal_name(sig, path, sizeof path), (int)pid, strerror(errno));
		goto out;
	}

	static char buf[65536];
	long long deadline = now_ms() + DUMP_FIRST_MS;
	size_t total = 0;
	int out_ok = 1;
	for (;;) {
		int timeout;
		if (total == 0) {
			long long left = deadline - now_ms();
			timeout = left > 0 ? (int)left : 0;
		} else {
			timeout = DUMP_STALL_MS;
		}
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int r = poll(&pf, 1, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "gmprun: poll: %s\n", strerror(errno));
			goto out;
		}
		if (r == 0) {
			if (total == 0)
				fprintf(stderr, "gmprun: no answer from %d (is it blocking GMP_DUMP_SIGNAL, "
					"or stopped?)\n", (int)pid);
			else
				fprintf(stderr, "gmprun: the dump from %d stopped after %zu bytes "
					"(nothing for %d s)\n", (int)pid, total, DUMP_STALL_MS / 1000);
			goto out;
		}
		ssize_t got = read(fd, buf, sizeof buf);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0) {
			fprintf(stderr, "gmprun: reading %s: %s\n", dump_fifo, strerror(errno));
			goto out;
		}
		if (got == 0) {
			if (total == 0) {
				fprintf(stderr, "gmprun: %d opened the FIFO but wrote no dump\n", (int)pid);
				goto out;
			}
			break;
		}
		total += (size_t)got;
		/* Keep reading after stdout fails: the target must not block or
		 * get SIGPIPE because our reader went away. */
		if (out_ok && write_all(STDOUT_FILENO, buf, (size_t)got) != 0) {
			if (errno != EPIPE)
				fprintf(stderr, "gmprun: writing the dump: %s\n", strerror(errno));
			out_ok = 0;
		}
	}
	rc = out_ok ? 0 : 1;
out:
	if (fd >= 0)
		close(fd);
	unlink(dump_fifo);
	dump_fifo[0] = '\0';
	return rc;
}

/* ---- gmprun view TRACE.json --------------------------------------------- */

static int cmd_view(int argc, char **argv)
{
	const char *in = NULL, *out = NULL;
	struct traceview_opts opts = {
		.width = TRACEVIEW_DEFAULT_WIDTH,
		.max_slices = TRACEVIEW_DEFAULT_MAX_SLICES,
	};
	int only_files = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		if (!only_files && strcmp(a, "--") == 0) {
			only_files = 1;
			continue;
		}
		if (only_files || a[0] != '-' || a[1] == '\0') {
			if (in) {
				fprintf(stderr, "gmprun: view: one trace file at a time ('%s' and '%s')\n", in, a);
				return 2;
			}
			in = a;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage_view(stdout);
			return 0;
		}
		int which;   /* 0 output, 1 width, 2 max-slices */
		if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0)
			which = 0;
		else if (strncmp(a, "--output=", 9) == 0)
			which = 0, val = a + 9;
		else if (strncmp(a, "-o", 2) == 0)
			which = 0, val = a + 2;
		else if (strcmp(a, "--width") == 0)
			which = 1;
		else if (strncmp(a, "--width=", 8) == 0)
			which = 1, val = a + 8;
		else if (strcmp(a, "--max-slices") == 0)
			which = 2;
		else if (strncmp(a, "--max-slices=", 13) == 0)
			which = 2, val = a + 13;
		else {
			fprintf(stderr, "gmprun: view: unknown option '%s'\n", a);
			usage_view(stderr);
			return 2;
		}
		if (!val) {
			if (i + 1 >= argc) {
				fprintf(stderr, "gmprun: view: %s needs a value\n", a);
				return 2;
			}
			val = argv[++i];
		}
		unsigned long long n;
		if (which == 0) {
			if (*val == '\0') {
				fprintf(stderr, "gmprun: view: -o: empty file name\n");
				return 2;
			}
			out = val;
		} else if (which == 1) {
			if (parse_number(val, 0, &n) != 0 || n < 200 || n > 100000) {
				fprintf(stderr, "gmprun: view: --width '%s': expected a whole number from 200 to 100000\n", val);
				return 2;
			}
			opts.width = (int)n;
		} else {
			if (parse_number(val, 1, &n) != 0 || n > 100000000) {
				fprintf(stderr, "gmprun: view: --max-slices '%s': expected a whole number from 0 to 100000000\n", val);
				return 2;
			}
			opts.max_slices = (long)n;
		}
	}
	if (!in) {
		usage_view(stderr);
		return 2;
	}
	char *defout = NULL;
	if (!out) {
		if (strcmp(in, "-") == 0) {
			fprintf(stderr, "gmprun: view: reading stdin needs -o OUT.html (or -o -)\n");
			return 2;
		}
		size_t len = strlen(in);
		defout = malloc(len + 6);
		if (!defout) {
			fprintf(stderr, "gmprun: out of memory\n");
			return 1;
		}
		memcpy(defout, in, len + 1);
		if (len > 5 && strcmp(defout + len - 5, ".json") == 0)
			defout[len - 5] = '\0';
		strcat(defout, ".html");
		out = defout;
	}
	int rc = traceview_convert(in, out, &opts);
	if (rc == 0 && strcmp(out, "-") != 0)
		printf("%s\n", out);
	free(defout);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "dump") == 0)
		return cmd_dump(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "view") == 0)
		return cmd_view(argc - 1, argv + 1);
	return run_program(argc, argv);
}
