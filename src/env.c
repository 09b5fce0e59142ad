/*
 * GMP_* environment knobs.  Every knob has a default that matches what the
 * program would see natively; a malformed value is reported (once, on stderr)
 * and the default is used, so a typo never silently changes behaviour.
 */
#include "runtime.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define GMP_STACK_MIN 16384          /* glibc's PTHREAD_STACK_MIN on x86-64 */
#define GMP_STACK_DEFAULT_UNLIMITED (2u << 20) /* glibc, RLIMIT_STACK unlimited */

static int cpus_in_affinity_mask(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0) {
		int n = CPU_COUNT(&set);
		if (n > 0)
			return n;
	}
	return 1;
}

/* glibc's rule for the default thread stack size. */
static size_t default_stacksize(void)
{
	struct rlimit rl;
	size_t sz;
	if (getrlimit(RLIMIT_STACK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		sz = GMP_STACK_DEFAULT_UNLIMITED;
	else if (rl.rlim_cur < GMP_STACK_MIN)
		sz = GMP_STACK_MIN;
	else
		sz = rl.rlim_cur;
	size_t pg = gmp_stack_pagesize();
	return (sz + pg - 1) & ~(pg - 1);
}

/* Parses "123", "64k", "8M", "1g".  Returns false on junk or overflow. */
static bool parse_size(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return false;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end != '\0' || (shift && v > (~0ULL >> shift)))
		return false;
	*out = v << shift;
	return true;
}

static long env_int(const char *name, long def, long lo, long hi)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	unsigned long long v;
	if (!parse_size(s, &v) || v < (unsigned long long)lo || v > (unsigned long long)hi) {
		gmp_printerr("%s=%s is not a number in [%ld, %ld]; using %ld", name, s, lo, hi, def);
		return def;
	}
	return (long)v;
}

void gmp_config_from_env(struct gmp_config *cfg)
{
	cfg->maxprocs = (int)env_int("GMP_MAXPROCS", cpus_in_affinity_mask(), 1, 1024);
	size_t defstack = default_stacksize();
	cfg->stacksize = (size_t)env_int("GMP_STACKSIZE", (long)defstack, GMP_STACK_MIN, 1L << 34);
	size_t pg = gmp_stack_pagesize();
	cfg->stacksize = (cfg->stacksize + pg - 1) & ~(pg - 1);
	cfg->maxthreads = (int)env_int("GMP_MAXTHREADS", 10000, 2, 1 << 20);
	cfg->guard = GMP_GUARD_PAGE;
	const char *g = getenv("GMP_STACKGUARD");
	if (g && *g) {
		if (strcmp(g, "canary") == 0)
			cfg->guard = GMP_GUARD_CANARY;
		else if (strcmp(g, "page") != 0)
			gmp_printerr("GMP_STACKGUARD=%s is not 'page' or 'canary'; using page", g);
	}
	cfg->preempt_ms = (int)env_int("GMP_PREEMPT_MS", 10, 1, 60000);
	cfg->asyncpreempt = env_int("GMP_ASYNCPREEMPT", 1, 0, 1) != 0;
	cfg->debug_preempt = false;
	cfg->schedtrace_ms = 0;
	cfg->scheddetail = false;
	const char *d = getenv("GMP_DEBUG");
	if (d && *d) {
		/* A comma-separated list; unknown words are reported. */
		char buf[256];
		snprintf(buf, sizeof buf, "%s", d);
		for (char *save, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
			unsigned long long v;
			if (strcmp(w, "preempt") == 0)
				cfg->debug_preempt = true;
			else if (strncmp(w, "schedtrace=", 11) == 0 && parse_size(w + 11, &v) && v >= 1 && v <= 3600000)
				cfg->schedtrace_ms = (int)v;
			else if (strcmp(w, "scheddetail=1") == 0 || strcmp(w, "scheddetail") == 0)
				cfg->scheddetail = true;
			else if (strcmp(w, "scheddetail=0") != 0)
				gmp_printerr("GMP_DEBUG: unknown or malformed item '%s' (known: preempt, "
					     "schedtrace=MS with MS in [1, 3600000], scheddetail=1)", w);
		}
	}
	cfg->dumpsig = SIGQUIT;
	const char *ds = getenv("GMP_DUMP_SIGNAL");
	if (ds && *ds) {
		int sig = gmp_sig_number(ds);
		if (sig < 0 || sig == SIGURG)
			gmp_printerr("GMP_DUMP_SIGNAL=%s is not a signal name or number the runtime can use "
				     "(or 'none'); using SIGQUIT", ds);
		else
			cfg->dumpsig = sig;
	}
	const char *df = getenv("GMP_DUMP_FILE");
	cfg->dumpfile = df && *df ? df : NULL;
	cfg->deadlock = env_int("GMP_DEADLOCK", 1, 0, 1) != 0;
	const char *tr = getenv("GMP_TRACE");
	cfg->trace = tr && *tr ? tr : NULL;
	cfg->tracebuf = (int)env_int("GMP_TRACE_BUF", 262144, 1024, 1 << 26);
	cfg->tls = GMP_TLS_PERG;
	const char *t = getenv("GMP_TLS");
	if (t && *t) {
		if (strcmp(t, "shared") == 0)
			cfg->tls = GMP_TLS_SHARED;
		else if (strcmp(t, "per-g") != 0)
			gmp_printerr("GMP_TLS=%s is not 'per-g' or 'shared'; using per-g", t);
	}
}
