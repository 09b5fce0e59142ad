/*
 * Helpers for the runtime unit tests.  Each Criterion test runs in its own
 * process, so each test initialises its own runtime with the GMP_MAXPROCS it
 * wants.  The test's own thread is a "foreign" thread to the runtime: it
 * spawns Gs and waits for them through the same wait queues Gs use.
 */
#ifndef GMP_TESTUTIL_H
#define GMP_TESTUTIL_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "runtime.h"

static inline void rt_init(int procs)
{
	struct gmp_config cfg;
	gmp_config_from_env(&cfg);
	cfg.maxprocs = procs;
	gmp_runtime_init(&cfg);
}

static inline bool stress_mode(void)
{
	return getenv("GMP_TEST_STRESS") != NULL;
}

/* A wait group: add before spawning, done in each G, wait anywhere. */
struct wg {
	_Atomic uint32_t n;
};
static inline void wg_add(struct wg *w, uint32_t k) { atomic_fetch_add(&w->n, k); }
static inline void wg_done(struct wg *w)
{
	if (atomic_fetch_sub(&w->n, 1) == 1)
		gmp_futex_wake(&w->n, INT_MAX);
}
static inline void wg_wait(struct wg *w)
{
	uint32_t v;
	while ((v = atomic_load(&w->n)) != 0)
		gmp_futex_wait(&w->n, v, -1, GMP_WAIT_TEST, w);
}
/* Waits at most timeout_ns; returns false if the group did not finish. */
static inline bool wg_wait_for(struct wg *w, int64_t timeout_ns)
{
	int64_t deadline = gmp_nanotime() + timeout_ns;
	uint32_t v;
	while ((v = atomic_load(&w->n)) != 0)
		if (gmp_futex_wait(&w->n, v, deadline, GMP_WAIT_TEST, w) == -ETIMEDOUT)
			return atomic_load(&w->n) == 0;
	return true;
}

/* OS threads in this process, from /proc/self/task. */
static inline int os_thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static inline int64_t process_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline struct gmp_g *spawn(void (*fn)(void *), void *arg)
{
	int err = 0;
	struct gmp_g *g = gmp_spawn(fn, arg, NULL, &err);
	cr_assert_not_null(g, "gmp_spawn failed: %d", err);
	return g;
}

/* ASan takes over SIGSEGV, so tests that expect the raw signal skip under it. */
#ifdef GMP_SANITIZE_ADDRESS
#define UNDER_ASAN true
#else
#define UNDER_ASAN false
#endif

/* Under valgrind every OS thread shares one lock, so tests that spin-wait
 * for another thread pay a time slice per hand-off: they run fewer rounds. */
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND (RUNNING_ON_VALGRIND != 0)
#else
#define UNDER_VALGRIND false
#endif

/* One round of a spin-wait on another OS thread; under valgrind, hand over
 * its lock instead (the OS-level sched_yield: unit tests are not preloaded). */
static inline void spin_pause(void)
{
	if (UNDER_VALGRIND)
		sched_yield();
	else
		gmp_cpu_relax();
}

#define MS(x) ((int64_t)(x) * 1000000)
/* Bound for detecting a hang (a lost wake-up), never for judging speed:
 * valgrind on a loaded 2-core machine is slow, and must still pass. */
#define HANG_TIMEOUT MS(300000)
#endif
