/*
 * The workload behind `make demo`: an ordinary pthread program, built with
 * plain `gcc -O2 -pthread` and nothing from libgmpthread.  demo/run.sh runs
 * this same binary natively and under LD_PRELOAD=libgmpthread.so.
 *
 *   threads [N]        N threads, default 10000
 *
 * Each thread works like a thread-per-connection server's handler: it fills
 * and hashes a 16 KiB buffer on its own stack ("reads a request"), waits at a
 * condition-variable gate until every thread has arrived (so all N are alive
 * at once), sleeps 50 ms ("waits on a backend"), hashes a second buffer and
 * adds its result to a shared checksum under a pthread_mutex.  main joins
 * them all.
 *
 * The program measures itself: peak OS threads (entries of /proc/self/task,
 * sampled by a sampler thread every 10 ms and by main once all N threads
 * have arrived at the gate), peak RSS (VmHWM in /proc/self/status) and wall
 * time.  Output, one line on stdout:
 *
 *   checksum=<16 hex> threads=N peak_os_threads=P vmhwm_kb=K wall_ms=W
 *
 * If a thread cannot be created, the threads already running are released
 * and joined, an `error=...` line is printed and the exit status is 1.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUF (16 << 10)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_arrived = PTHREAD_COND_INITIALIZER;
static pthread_cond_t gate = PTHREAD_COND_INITIALIZER;
static int arrived;         /* under mu */
static int released;        /* under mu */
static uint64_t checksum;   /* under mu */
static int finished;        /* under mu */

static atomic_int peak_os_threads;
static atomic_int sampler_stop;

/* "Handle a request": fill a 16 KiB stack buffer, then FNV-1a hash it. */
static uint64_t work(unsigned seed)
{
	unsigned char buf[BUF];
	uint32_t x = seed * 2654435761u + 1;
	for (int i = 0; i < BUF; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
	__asm__ volatile("" : : "r"(buf) : "memory"); /* the buffer really exists */
	uint64_t h = 1469598103934665603ULL;
	for (int i = 0; i < BUF; i++)
		h = (h ^ buf[i]) * 1099511628211ULL;
	return h;
}

/* Entries of /proc/self/task: the process's OS threads right now. */
static int count_os_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void note_os_threads(void)
{
	int n = count_os_threads(), p = atomic_load(&peak_os_threads);
	while (n > p && !atomic_compare_exchange_weak(&peak_os_threads, &p, n))
		;
}

static void *sampler(void *arg)
{
	(void)arg;
	struct timespec d = { 0, 10 * 1000000 };
	while (!atomic_load(&sampler_stop)) {
		note_os_threads();
		nanosleep(&d, NULL);
	}
	return NULL;
}

static void *worker(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint64_t h = work(2 * id);

	pthread_mutex_lock(&mu);
	arrived++;
	pthread_cond_signal(&all_arrived);
	while (!released)
		pthread_cond_wait(&gate, &mu);
	pthread_mutex_unlock(&mu);

	struct timespec d = { 0, 50 * 1000000 };
	while (nanosleep(&d, &d) != 0 && errno == EINTR)
		;

	h = h * 31 + work(2 * id + 1);
	pthread_mutex_lock(&mu);
	checksum += h;
	finished++;
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* A numeric field of /proc/self/status, in its own unit, or -1. */
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

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void release_all(void)
{
	pthread_mutex_lock(&mu);
	released = 1;
	pthread_cond_broadcast(&gate);
	pthread_mutex_unlock(&mu);
}

int main(int argc, char **argv)
{
	int n = 10000;
	if (argc > 1) {
		char *end;
		long v = strtol(argv[1], &end, 10);
		if (*argv[1] == '\0' || *end != '\0' || v < 1 || v > 10000000) {
			fprintf(stderr, "usage: %s [THREADS]   (1..10000000, default 10000)\n", argv[0]);
			return 2;
		}
		n = (int)v;
	}
	pthread_t *t = calloc((size_t)n, sizeof *t);
	if (!t) {
		fprintf(stderr, "threads: out of memory\n");
		return 1;
	}

	double t0 = now_ms();
	pthread_t samp;
	int have_sampler = pthread_create(&samp, NULL, sampler, NULL) == 0;

	int created = 0, err = 0;
	for (; created < n; created++) {
		err = pthread_create(&t[created], NULL, worker, (void *)(uintptr_t)created);
		if (err != 0)
			break;
	}

	if (created == n) {
		/* Every thread is alive and parked at the gate: count them. */
		pthread_mutex_lock(&mu);
		while (arrived < n)
			pthread_cond_wait(&all_arrived, &mu);
		pthread_mutex_unlock(&mu);
		note_os_threads();
	}
	release_all();
	for (int i = 0; i < created; i++)
		pthread_join(t[i], NULL);
	double wall = now_ms() - t0;
	atomic_store(&sampler_stop, 1);
	if (have_sampler)
		pthread_join(samp, NULL);

	if (created < n) {
		fprintf(stderr,
			"threads: pthread_create failed for thread %d of %d: %s\n"
			"threads: (limits: ulimit -u, /proc/sys/kernel/threads-max, "
			"/proc/sys/vm/max_map_count, memory for stacks)\n",
			created + 1, n, strerror(err));
		printf("error=pthread_create errno=%s created=%d threads=%d peak_os_threads=%d vmhwm_kb=%ld\n",
		       strerrorname_np(err) ? strerrorname_np(err) : "?", created, n,
		       atomic_load(&peak_os_threads), status_field("VmHWM"));
		return 1;
	}
	if (finished != n) {
		printf("error=only %d of %d threads finished\n", finished, n);
		return 1;
	}
	printf("checksum=%016llx threads=%d peak_os_threads=%d vmhwm_kb=%ld wall_ms=%.0f\n",
	       (unsigned long long)checksum, n, atomic_load(&peak_os_threads), status_field("VmHWM"), wall);
	return 0;
}
