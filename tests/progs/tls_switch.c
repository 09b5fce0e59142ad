/*
 * tls_switch: a thread's TLS follows it across every switch.
 *   - 300 threads run 40 rounds each of sched_yield, a short sleep, a
 *     contended mutex and a condvar handoff (under the shim with
 *     GMP_MAXPROCS=2 they move between OS threads); after every blocking
 *     point their __thread scalar, __thread array, errno, and the addresses
 *     of all three, are what the thread left there; each starts from the
 *     initialisers
 *   - sched_getcpu() always returns a CPU in the affinity mask, and mostly
 *     the one the getcpu system call reports right after (a stale rseq area
 *     -- the kernel updates only the registering OS thread's -- would make
 *     it lag behind migrations)
 *   - built with -fstack-protector-all: every function's canary check
 *     spans the switches
 *   - malloc's per-thread cache outlives no thread: 40 waves of 100 short
 *     threads malloc and free in 7 size classes; the heap's in-use bytes
 *     after the last wave are within 4 MiB of those after wave 10 (a lost
 *     cache per thread would add about 15 KiB each, 45 MiB in all).  Every
 *     other wave uses a non-default stack size.
 */
/* cflags: -fstack-protector-all */
/* shim-skip: S2: __thread variables and errno are per OS thread with GMP_TLS=shared */
#include "common.h"
#include <malloc.h>
#include <sched.h>
#include <sys/syscall.h>

#define NT 300
#define ROUNDS 40

static __thread long tscalar = 1234;
static __thread int tarray[64] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long turn; /* mu: condvar handoff token */
static int bad, badcpu, cpumismatch, cpusamples;
static cpu_set_t mask;

static void check_cpu(void)
{
	int c = sched_getcpu();
	unsigned k = ~0u;
	syscall(SYS_getcpu, &k, NULL, NULL);
	if (c < 0 || c >= CPU_SETSIZE || !CPU_ISSET(c, &mask))
		ADD(&badcpu, 1);
	ADD(&cpusamples, 1);
	if ((unsigned)c != k)
		ADD(&cpumismatch, 1);
}

static void *worker(void *arg)
{
	long id = (long)arg;
	char local[64]; /* a protected frame with an array */
	snprintf(local, sizeof local, "thread %ld", id);
	if (tscalar != 1234 || tarray[0] != 1 || tarray[7] != 8 || tarray[63] != 0 || errno != 0)
		ADD(&bad, 1);
	long *ps = &tscalar;
	int *pa = tarray, *pe = &errno;
	for (int r = 0; r < ROUNDS; r++) {
		tscalar = id * 1000 + r;
		for (int i = 0; i < 64; i++)
			tarray[i] = (int)(id + i + r);
		errno = (int)(id % 120) + 1;
		switch (r % 4) {
		case 0:
			sched_yield();
			break;
		case 1:
			usleep(50);
			break;
		case 2:
			pthread_mutex_lock(&mu);
			sched_yield(); /* hold it across a switch: others block */
			pthread_mutex_unlock(&mu);
			break;
		case 3:
			pthread_mutex_lock(&mu);
			turn++;
			pthread_cond_broadcast(&cv);
			long t = turn;
			struct timespec dl = deadline_in(CLOCK_REALTIME, 1);
			while (turn == t && pthread_cond_timedwait(&cv, &mu, &dl) == 0)
				;
			pthread_mutex_unlock(&mu);
			errno = (int)(id % 120) + 1; /* timedwait returns, not sets */
			break;
		}
		if (ps != &tscalar || pa != tarray || pe != &errno || *ps != id * 1000 + r ||
		    errno != (int)(id % 120) + 1)
			ADD(&bad, 1);
		for (int i = 0; i < 64; i++)
			if (tarray[i] != (int)(id + i + r))
				ADD(&bad, 1);
		check_cpu();
	}
	if (strncmp(local, "thread ", 7) != 0)
		ADD(&bad, 1);
	return NULL;
}

static void *churn(void *arg)
{
	static const size_t sizes[7] = { 24, 72, 136, 264, 520, 1000, 1500 };
	void *p[7][10];
	for (int k = 0; k < 7; k++)
		for (int j = 0; j < 10; j++)
			p[k][j] = malloc(sizes[k]);
	for (int k = 0; k < 7; k++)
		for (int j = 0; j < 10; j++)
			free(p[k][j]);
	return NULL;
}

static void wave(int w)
{
	pthread_attr_t a;
	pthread_attr_init(&a);
	if (w % 2)
		pthread_attr_setstacksize(&a, 256 * 1024);
	pthread_t t[100];
	for (int i = 0; i < 100; i++)
		CHECK_RC(pthread_create(&t[i], &a, churn, NULL), 0);
	for (int i = 0; i < 100; i++)
		join(t[i]);
	pthread_attr_destroy(&a);
}

int main(void)
{
	test_begin();
	CHECK_OK(sched_getaffinity(0, sizeof mask, &mask));
	pthread_t t[NT];
	for (long i = 0; i < NT; i++)
		t[i] = spawn(worker, (void *)(i + 1));
	for (int i = 0; i < NT; i++)
		join(t[i]);
	CHECK(bad == 0, "%d thread-local values or addresses changed across a switch", bad);
	check_cpu(); /* the main thread too */
	CHECK(badcpu == 0, "sched_getcpu() returned a CPU outside the affinity mask %d times", badcpu);
	CHECK(cpumismatch <= 20 || cpumismatch * 4 <= cpusamples,
	      "sched_getcpu() disagreed with getcpu() in %d of %d samples", cpumismatch, cpusamples);
	CHECK(tscalar == 1234 && tarray[1] == 2, "main's thread-locals changed");

	size_t at10 = 0;
	for (int w = 1; w <= 40; w++) {
		wave(w);
		if (w == 10)
			at10 = mallinfo2().uordblks;
	}
	size_t at40 = mallinfo2().uordblks;
	CHECK(at40 < at10 + (4u << 20), "heap in use grew from %zu to %zu bytes over 30 waves of short threads",
	      at10, at40);
	printf("heap in use: %zu after wave 10, %zu after wave 40\n", at10, at40);
	return test_pass();
}
