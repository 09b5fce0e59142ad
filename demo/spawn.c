/*
 * The demo behind `make demo`: one thread-heavy workload, run once on native
 * pthreads and once on libgmpthread's runtime, each in its own process, with
 * what changed printed side by side: wall time, peak OS threads, peak RSS.
 *
 * Workload: THREADS threads; each hashes its own 16 KiB buffer, sleeps
 * 50 ms (so all are alive at once, as in a thread-per-connection server),
 * hashes again and adds its result to a shared checksum.  Both runs must
 * produce the same checksum.
 *
 * Until the pthread interposition layer lands, the runtime side calls the
 * runtime's own API (gmp_spawn, gmp_sleep_until); after it, this demo runs
 * an unmodified pthread program under LD_PRELOAD instead.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

#define BUF (16 << 10)

static int nthreads = 10000;
static _Atomic uint64_t checksum;
static _Atomic uint32_t left;
static _Atomic int peak_os_threads;

static uint64_t hash_buf(unsigned seed)
{
	unsigned char buf[BUF];
	uint64_t h = 1469598103934665603ULL ^ seed;
	for (int i = 0; i < BUF; i++) {
		buf[i] = (unsigned char)(seed * 31 + (unsigned)i);
		h = (h ^ buf[i]) * 1099511628211ULL;
	}
	return h;
}

/* A numeric field of /proc/self/status ("Threads", "VmHWM"), or -1. */
static long status_field(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t klen = strlen(key);
	long v = -1;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	if (f)
		fclose(f);
	return v;
}

static void note_threads(void)
{
	int n = (int)status_field("Threads"), p = atomic_load(&peak_os_threads);
	while (n > p && !atomic_compare_exchange_weak(&peak_os_threads, &p, n))
		;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- native pthreads */
static void *native_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	uint64_t h = hash_buf(seed);
	struct timespec d = { 0, 50 * 1000000 };
	nanosleep(&d, NULL);
	if (seed % 1000 == 0)
		note_threads();
	atomic_fetch_add(&checksum, h ^ hash_buf(seed + 1));
	return NULL;
}

static int run_native(void)
{
	pthread_t *t = calloc((size_t)nthreads, sizeof *t);
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&t[i], NULL, native_worker, (void *)(uintptr_t)i) != 0) {
			fprintf(stderr, "demo: native pthread_create failed at thread %d\n", i);
			return 1;
		}
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	return 0;
}

/* ---- runtime Gs */
static void g_worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	uint64_t h = hash_buf(seed);
	gmp_sleep_until(gmp_nanotime() + 50 * 1000000);
	if (seed % 1000 == 0)
		note_threads();
	atomic_fetch_add(&checksum, h ^ hash_buf(seed + 1));
	if (atomic_fetch_sub(&left, 1) == 1)
		gmp_futex_wake(&left, INT_MAX);
}

static int run_gmp(void)
{
	gmp_runtime_init(NULL);
	atomic_store(&left, (uint32_t)nthreads);
	for (int i = 0; i < nthreads; i++)
		if (!gmp_spawn(g_worker, (void *)(uintptr_t)i, NULL, NULL)) {
			fprintf(stderr, "demo: gmp_spawn failed at thread %d\n", i);
			return 1;
		}
	uint32_t v;
	while ((v = atomic_load(&left)) != 0)
		gmp_futex_wait(&left, v, -1, GMP_WAIT_NONE, NULL);
	return 0;
}

struct result {
	int ok;
	double secs;
	int threads;
	long rss_kb;
	uint64_t checksum;
};

static struct result run_child(int (*fn)(void))
{
	int fds[2];
	struct result r = { 0 };
	if (pipe(fds) != 0)
		return r;
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		int64_t t0 = now_ns();
		int rc = fn();
		struct result c = { rc == 0, (double)(now_ns() - t0) / 1e9, atomic_load(&peak_os_threads),
				    status_field("VmHWM"), atomic_load(&checksum) };
		if (write(fds[1], &c, sizeof c) != sizeof c)
			_exit(2);
		_exit(0);
	}
	close(fds[1]);
	if (read(fds[0], &r, sizeof r) != sizeof r)
		r.ok = 0;
	close(fds[0]);
	waitpid(pid, NULL, 0);
	return r;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		nthreads = atoi(argv[1]);
	printf("demo: %d threads, each hashing 2 x 16 KiB with a 50 ms sleep in between\n\n", nthreads);
	struct result n = run_child(run_native);
	struct result g = run_child(run_gmp);
	printf("                      native pthreads    libgmpthread runtime\n");
	printf("  wall time           %10.3f s        %10.3f s\n", n.secs, g.secs);
	printf("  peak OS threads     %10d          %10d\n", n.threads, g.threads);
	printf("  peak RSS            %10.1f MiB      %10.1f MiB\n", n.rss_kb / 1024.0, g.rss_kb / 1024.0);
	printf("  checksum            %016llx    %016llx\n", (unsigned long long)n.checksum,
	       (unsigned long long)g.checksum);
	if (!n.ok || !g.ok || n.checksum != g.checksum) {
		printf("\ndemo: FAILED (%s)\n", !n.ok || !g.ok ? "a run failed" : "checksums differ");
		return 1;
	}
	printf("\nSame result; %d threads ran on %d OS threads instead of %d.\n", nthreads, g.threads,
	       n.threads);
	return 0;
}
