/*
 * schedtrace: GMP_DEBUG=schedtrace=MS and scheddetail=1 (issue 7).
 *
 * Two children, run at the same time, each running 4 busy-ish threads
 * (2 ms of computation, 1 ms of sleep, again) for 300 ms, then exiting 0:
 *   trace   GMP_DEBUG=schedtrace=50
 *   detail  GMP_DEBUG=schedtrace=50,scheddetail=1
 * Under the shim each child's stderr must hold at least 3 lines
 *   "SCHED <n>ms: gomaxprocs=<n> idleprocs=... threads=... runqueue=..."
 * (the <n>ms never decreasing; gomaxprocs = GMP_MAXPROCS when that is
 * set); "trace" no per-P/M/G lines, and "detail" lines starting
 * "  P0: status=", "  M0:" and "  G1:" (notes/issue7-spec.md).  Natively
 * no SCHED lines appear.
 */
#include "child.h"

/* ---- the children ---- */

#define RUN_MS 300
#define THREADS 4

static int64_t run_end;

static void *busy(void *arg)
{
	volatile unsigned long n = 0;
	(void)arg;
	while (now_ns(CLOCK_MONOTONIC) < run_end) {
		int64_t spin_end = now_ns(CLOCK_MONOTONIC) + 2000000;
		while (now_ns(CLOCK_MONOTONIC) < spin_end)
			for (int i = 0; i < 1000; i++)
				n++;
		sleep_ms(1);
	}
	return NULL;
}

static int child(void)
{
	run_end = now_ns(CLOCK_MONOTONIC) + RUN_MS * 1000000LL;
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		t[i] = spawn(busy, NULL);
	for (int i = 0; i < THREADS; i++)
		join(t[i]);
	return 0;
}

/* ---- the parent ---- */

static int starts(const char *line, const char *prefix)
{
	return strncmp(line, prefix, strlen(prefix)) == 0;
}

/* Checks one child's stderr; a message in why on failure. */
static int check_output(const char *err, int detail, char *why, size_t whylen)
{
	const char *mp = getenv("GMP_MAXPROCS");
	int want_procs = mp && *mp ? atoi(mp) : 0;
	int n_sched = 0, n_p0 = 0, n_m0 = 0, n_g1 = 0, n_detail = 0, last_ms = -1;
	for (const char *p = err; p && *p;) {
		const char *nl = strchr(p, '\n');
		char *line = strndup(p, nl ? (size_t)(nl - p) : strlen(p));
		p = nl ? nl + 1 : NULL;
		if (starts(line, "SCHED ")) {
			int ms = -1, procs = -1;
			if (sscanf(line, "SCHED %dms: gomaxprocs=%d ", &ms, &procs) != 2 || !strstr(line, " idleprocs=") ||
			    !strstr(line, " threads=") || !strstr(line, " runqueue=")) {
				snprintf(why, whylen, "a malformed SCHED line: %s", line);
				free(line);
				return 0;
			}
			if (ms < last_ms) {
				snprintf(why, whylen, "SCHED %dms after SCHED %dms", ms, last_ms);
				free(line);
				return 0;
			}
			if (want_procs && procs != want_procs) {
				snprintf(why, whylen, "gomaxprocs=%d with GMP_MAXPROCS=%d: %s", procs, want_procs, line);
				free(line);
				return 0;
			}
			last_ms = ms;
			n_sched++;
		}
		if (starts(line, "  P") || starts(line, "  M") || starts(line, "  G"))
			n_detail++;
		n_p0 += starts(line, "  P0: status=");
		n_m0 += starts(line, "  M0:");
		n_g1 += starts(line, "  G1:");
		free(line);
	}
	if (n_sched < 3) {
		snprintf(why, whylen, "%d SCHED lines in %d ms with schedtrace=50, expected at least 3", n_sched, RUN_MS);
		return 0;
	}
	if (!detail && n_detail) {
		snprintf(why, whylen, "%d per-P/M/G lines without scheddetail=1", n_detail);
		return 0;
	}
	if (detail && (!n_p0 || !n_m0 || !n_g1)) {
		snprintf(why, whylen, "with scheddetail=1: %d \"  P0: status=\" lines, %d \"  M0:\", %d \"  G1:\" (each expected)", n_p0,
			 n_m0, n_g1);
		return 0;
	}
	printf("%s: %d SCHED lines", detail ? "detail" : "trace", n_sched);
	if (detail)
		printf(", %d P0, %d M0, %d G1 lines", n_p0, n_m0, n_g1);
	printf("\n");
	return 1;
}

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "trace") == 0 || strcmp(argv[1], "detail") == 0))
		return child();
	test_begin();
	int shim = under_shim();
	static const char *const env_trace[] = {"GMP_DEBUG=schedtrace=50", NULL};
	static const char *const env_detail[] = {"GMP_DEBUG=schedtrace=50,scheddetail=1", NULL};
	static struct kid k[2];
	kid_start(&k[0], "trace", 0, env_trace);
	kid_start(&k[1], "detail", 0, env_detail);
	for (int i = 0; i < 2; i++) {
		KCHECK(&k[i], kid_wait(&k[i], 5000), "child \"%s\" still running after 5 s", k[i].mode);
		KCHECK(&k[i], WIFEXITED(k[i].status) && WEXITSTATUS(k[i].status) == 0, "child \"%s\" %s, expected exit status 0",
		       k[i].mode, kid_status(&k[i]));
		char *err = slurp(k[i].errpath, NULL);
		KCHECK(&k[i], err != NULL, "the child's stderr file is gone");
		if (!shim) {
			KCHECK(&k[i], !strstr(err, "SCHED "), "natively child \"%s\" printed SCHED lines", k[i].mode);
		} else {
			static char why[1024];
			KCHECK(&k[i], check_output(err, i == 1, why, sizeof why), "child \"%s\": %s", k[i].mode, why);
		}
		free(err);
	}
	if (!shim)
		printf("native: no SCHED lines\n");
	return test_pass();
}
