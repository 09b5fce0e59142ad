/*
 * A plain (non-Criterion) driver that exercises every concurrent path of the
 * runtime at once, for ThreadSanitizer (`make tsan`): Criterion's worker
 * arena cannot coexist with TSan's shadow memory, so this runs standalone.
 * Each configuration runs in a forked child with its own runtime.
 * Exit status: 0 when every check held; TSan makes it 66 on a race report.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

static _Atomic uint32_t pending;
static _Atomic uint64_t total;
static _Atomic uint32_t tokens;
static int failures;

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "storm: check failed: %s (line %d)\n", #c, __LINE__); failures++; } } while (0)

static void done1(void)
{
	if (atomic_fetch_sub(&pending, 1) == 1)
		gmp_futex_wake(&pending, INT_MAX);
}
static void wait_all(void)
{
	uint32_t v;
	while ((v = atomic_load(&pending)) != 0)
		gmp_futex_wait(&pending, v, -1, GMP_WAIT_TEST, NULL);
}

static void leaf(void *arg)
{
	atomic_fetch_add(&total, (uintptr_t)arg);
	if ((uintptr_t)arg % 5 == 0)
		gmp_yield();
	if ((uintptr_t)arg % 97 == 0)
		gmp_sleep_until(gmp_nanotime() + 100000);
	done1();
}
/* Blocking system calls: the P is retaken and handed off meanwhile. */
static void sleeper_in_kernel(void *arg)
{
	for (int i = 0; i < 20; i++) {
		struct timespec ts = { 0, 200000 };
		gmp_entersyscall();
		nanosleep(&ts, NULL);
		gmp_exitsyscall();
	}
	done1();
}

static void spawner(void *arg)
{
	for (uintptr_t i = 1; i <= 2000; i++)
		gmp_spawn(leaf, (void *)i, NULL, NULL);
	done1();
}

/* token passing with timed waits */
static void taker(void *arg)
{
	int got = 0;
	while (got < 500) {
		uint32_t v = atomic_load(&tokens);
		if (v > 0 && atomic_compare_exchange_weak(&tokens, &v, v - 1)) {
			got++;
			continue;
		}
		gmp_futex_wait(&tokens, 0, gmp_nanotime() + 50000, GMP_WAIT_TEST, NULL);
	}
	done1();
}
static void giver(void *arg)
{
	for (int i = 0; i < 500; i++) {
		atomic_fetch_add(&tokens, 1);
		gmp_futex_wake(&tokens, 1);
		if (i % 16 == 0)
			gmp_yield();
	}
	done1();
}
static void *foreign_giver(void *arg)
{
	for (int i = 0; i < 500; i++) {
		atomic_fetch_add(&tokens, 1);
		gmp_futex_wake(&tokens, 1);
	}
	return NULL;
}

static int run(int procs)
{
	struct gmp_config cfg;
	gmp_config_from_env(&cfg);
	cfg.maxprocs = procs;
	gmp_runtime_init(&cfg);

	atomic_store(&pending, 4 + 4 * 2000 + 3);
	for (int i = 0; i < 3; i++)
		gmp_spawn(sleeper_in_kernel, NULL, NULL, NULL);
	for (int i = 0; i < 4; i++)
		gmp_spawn(spawner, NULL, NULL, NULL);
	wait_all();
	CHECK(atomic_load(&total) == 4ull * 2000 * 2001 / 2);

	atomic_store(&pending, 8 + 6);
	for (int i = 0; i < 8; i++)
		gmp_spawn(taker, NULL, NULL, NULL);
	for (int i = 0; i < 6; i++)
		gmp_spawn(giver, NULL, NULL, NULL);
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, foreign_giver, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	wait_all();
	CHECK(atomic_load(&tokens) == 0);
	printf("storm: procs=%d ok\n", procs);
	return failures ? 1 : 0;
}

int main(void)
{
	int procs[] = { 1, 2, 4 };
	int bad = 0;
	for (size_t i = 0; i < sizeof procs / sizeof *procs; i++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(run(procs[i]));
		int st;
		waitpid(pid, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "storm: procs=%d failed (status %#x)\n", procs[i], st);
			bad++;
		}
	}
	printf("storm: %d passed, %d failed\n", (int)(sizeof procs / sizeof *procs) - bad, bad);
	return bad ? 1 : 0;
}
