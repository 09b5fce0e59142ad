/*
 * Adopting an OS thread: the calling thread becomes an M and its ongoing
 * execution a G (what the library constructor will do to main).  After that
 * it parks like any G (no OS-level blocking), and may resume on another M.
 */
#include "testutil.h"

#include <pthread.h>

static struct wg wg;

static void stack_bounds(void **lo, void **hi)
{
	pthread_attr_t a;
	size_t size;
	pthread_getattr_np(pthread_self(), &a);
	pthread_attr_getstack(&a, lo, &size);
	pthread_attr_destroy(&a);
	*hi = (char *)*lo + size;
}

static void adopt_self(void)
{
	void *lo, *hi;
	stack_bounds(&lo, &hi);
	struct gmp_g *g = gmp_adopt_thread(lo, hi);
	cr_assert_not_null(g);
	cr_assert(gmp_on_m());
	cr_assert_eq(gmp_g_current(), g);
	cr_assert_not(g->foreign);
}

static _Atomic int worked;
static void work(void *arg)
{
	atomic_fetch_add(&worked, 1);
	if ((uintptr_t)arg % 2)
		gmp_yield();
	wg_done(&wg);
}

Test(adopt, adopted_thread_is_a_g)
{
	rt_init(2);
	adopt_self();
	/* Spawns from a G go to its P's local queue; waits park the G. */
	wg_add(&wg, 1000);
	for (int i = 0; i < 1000; i++)
		spawn(work, (void *)(uintptr_t)i);
	wg_wait(&wg);
	cr_assert_eq(atomic_load(&worked), 1000);
	int64_t t0 = gmp_nanotime();
	gmp_sleep_until(t0 + MS(20));
	cr_assert_geq(gmp_nanotime(), t0 + MS(20));
	gmp_yield();
}

/* With one P, a waiting adopted G frees its P for the Gs it waits on. */
static _Atomic uint32_t flag;
static void setter(void *arg)
{
	atomic_store(&flag, 1);
	gmp_futex_wake(&flag, 1);
}
Test(adopt, parking_frees_the_p_procs1)
{
	rt_init(1);
	adopt_self();
	spawn(setter, NULL);
	/* If this blocked the OS thread instead of parking, setter (which needs
	 * our only P) could never run. */
	cr_assert_eq(gmp_futex_wait(&flag, 0, gmp_nanotime() + HANG_TIMEOUT, GMP_WAIT_TEST, NULL), 0);
	cr_assert_eq(atomic_load(&flag), 1);
}

/* The adopted G can run on other Ms; its stack (the thread's own) goes along. */
static void hog(void *arg)
{
	int64_t until = gmp_nanotime() + MS(2);
	while (gmp_nanotime() < until)
		;
	wg_done(&wg);
}
Test(adopt, adopted_g_migrates)
{
	rt_init(2);
	adopt_self();
	int seen[64] = { 0 };
	int distinct = 0;
	for (int round = 0; round < 200 && distinct < 2; round++) {
		wg_add(&wg, 4);
		for (int i = 0; i < 4; i++)
			spawn(hog, NULL);
		wg_wait(&wg);
		int id = gmp_getm()->id % 64;
		if (!seen[id]++)
			distinct++;
	}
	cr_log_info("main G ran on %d distinct Ms", distinct);
	volatile char local = 1; /* still our own stack */
	cr_assert_eq(local, 1);
}

/*
 * All Ps busy when a thread is adopted: it queues and runs only when a P
 * frees up.  (An adopted pthread must never return into its start routine's
 * caller: after adoption its frames may run on another OS thread, so it ends
 * with gmp_exit, and its OS thread stays on as an M.)
 */
static _Atomic bool release_hog;
static _Atomic uint32_t adopted_ran;
static void busy_until_released(void *arg)
{
	while (!atomic_load(&release_hog))
		gmp_cpu_relax();
	wg_done(&wg);
}
static void *adopt_late(void *arg)
{
	void *lo, *hi;
	stack_bounds(&lo, &hi);
	gmp_adopt_thread(lo, hi);
	atomic_store(&adopted_ran, 1);
	gmp_futex_wake(&adopted_ran, 1);
	gmp_exit();
}
Test(adopt, waits_for_a_p_when_all_busy)
{
	rt_init(1);
	wg_add(&wg, 1);
	spawn(busy_until_released, NULL);
	for (int i = 0; i < 1000 && atomic_load(&gmp_sched.npidle) != 0; i++)
		gmp_sleep_until(gmp_nanotime() + MS(1));
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	pthread_create(&t, &a, adopt_late, NULL);
	gmp_sleep_until(gmp_nanotime() + MS(50));
	cr_assert_eq(atomic_load(&adopted_ran), 0, "adopted thread ran without a P");
	atomic_store(&release_hog, true);
	cr_assert_eq(gmp_futex_wait(&adopted_ran, 0, gmp_nanotime() + HANG_TIMEOUT, GMP_WAIT_TEST, NULL) == 0 ||
			     atomic_load(&adopted_ran) == 1,
		     true, "adopted thread never got the P");
	wg_wait(&wg);
}
