/*
 * CPU-bound threads for the preemption benchmark (bench/run_preempt.sh).
 * A plain pthread program (gcc -O2 -pthread), run natively and under the
 * shim:
 *
 *   preempt_cpu work T N    T threads each run a fixed integer kernel N
 *                           times (no calls in the loop); prints the wall
 *                           time: the price of being preempted.
 *   preempt_cpu wake T S    T spinning threads, and one thread that sleeps
 *                           1 ms in a loop for S seconds; prints how late its
 *                           wake-ups were (p50/p99/max): how soon a
 *                           thread that becomes runnable gets a CPU.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long reps;
static volatile int stop;
static volatile uint64_t sink;

__attribute__((noinline)) static uint64_t kernel(uint64_t a)
{
	uint64_t b = a ^ 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < 1000000; i++) {
		unsigned __int128 p = (unsigned __int128)a * (b | 1);
		a = (uint64_t)p ^ (uint64_t)(p >> 64);
		b += 0x632be59bd9b4e019ULL;
	}
	return a ^ b;
}

static void *worker(void *arg)
{
	uint64_t x = (uintptr_t)arg;
	for (long i = 0; i < reps; i++)
		x = kernel(x);
	sink = x;
	return NULL;
}

static void *spinner(void *arg)
{
	(void)arg;
	volatile uint64_t n = 0;
	while (!stop)
		n++;
	return NULL;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s work THREADS N | wake SPINNERS SECONDS\n", argv[0]);
		return 64;
	}
	int t = atoi(argv[2]);
	pthread_t th[256];
	if (t < 1 || t > 256)
		return 64;
	if (strcmp(argv[1], "work") == 0) {
		reps = atol(argv[3]);
		int64_t t0 = now_ns();
		for (int i = 0; i < t; i++)
			pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1));
		for (int i = 0; i < t; i++)
			pthread_join(th[i], NULL);
		printf("bench work wall_ms=%.1f\n", (double)(now_ns() - t0) / 1e6);
		return 0;
	}
	if (strcmp(argv[1], "wake") == 0) {
		int secs = atoi(argv[3]);
		for (int i = 0; i < t; i++)
			pthread_create(&th[i], NULL, spinner, NULL);
		int cap = secs * 1000 + 16, n = 0;
		int64_t *late = malloc(sizeof *late * (size_t)cap), end = now_ns() + secs * 1000000000LL;
		while (n < cap && now_ns() < end) {
			int64_t t0 = now_ns();
			struct timespec d = { 0, 1000000 };
			nanosleep(&d, NULL);
			late[n++] = now_ns() - t0 - 1000000;
		}
		stop = 1;
		for (int i = 0; i < t; i++)
			pthread_join(th[i], NULL);
		qsort(late, (size_t)n, sizeof *late, cmp64);
		printf("bench wake n=%d p50_us=%.0f p99_us=%.0f max_us=%.0f\n", n, late[n / 2] / 1e3,
		       late[n * 99 / 100] / 1e3, late[n - 1] / 1e3);
		return 0;
	}
	return 64;
}
