/*
 * Timers: the per-P heap fires in deadline order; sleeps and timed waits
 * never return early; deleted timers never fire; timers on idle Ps fire.
 * Lateness is not asserted beyond generous bounds: tests must not fail on a
 * slow machine.
 */
#include "testutil.h"

static struct wg wg;

#define NT 2000
static struct gmp_timer timers[NT];
static int fired[NT], nfired;
static void record(struct gmp_timer *t)
{
	fired[nfired++] = (int)(t - timers);
}

static void heap_order(void *arg)
{
	/* Runs on a G so gmp_timer_add uses this P's heap; we drive it by hand. */
	struct gmp_p *pp = gmp_getm()->p;
	unsigned r = 12345;
	int64_t base = gmp_nanotime() + MS(100000); /* far future: nothing fires by itself */
	for (int i = 0; i < NT; i++) {
		r = r * 1103515245 + 12345;
		timers[i].when = base + (r >> 8) % 1000000;
		timers[i].fn = record;
		gmp_timer_add(&timers[i]);
	}
	/* delete every 5th */
	int deleted = 0;
	for (int i = 0; i < NT; i += 5)
		deleted += gmp_timer_del(&timers[i]);
	cr_assert_eq(deleted, NT / 5);
	int64_t next;
	for (int64_t now = base; now <= base + 1000000; now += 997)
		gmp_timer_run(pp, now, &next);
	cr_assert_eq(nfired, NT - NT / 5);
	for (int k = 1; k < nfired; k++)
		cr_assert_leq(timers[fired[k - 1]].when, timers[fired[k]].when, "fired out of order");
	for (int k = 0; k < nfired; k++)
		cr_assert_neq(fired[k] % 5, 0, "deleted timer %d fired", fired[k]);
	cr_assert_eq(next, 0);
	wg_done(&wg);
}

Test(timer, heap_fires_in_order_and_skips_deleted)
{
	rt_init(1);
	wg_add(&wg, 1);
	spawn(heap_order, NULL);
	wg_wait(&wg);
}

static _Atomic int early, very_late;
static _Atomic int64_t total_late;
static void sleeper(void *arg)
{
	int64_t d = (int64_t)(uintptr_t)arg;
	int64_t deadline = gmp_nanotime() + d;
	gmp_sleep_until(deadline);
	int64_t now = gmp_nanotime();
	if (now < deadline)
		atomic_fetch_add(&early, 1);
	if (now > deadline + HANG_TIMEOUT) /* "never fired", not "slow machine" */
		atomic_fetch_add(&very_late, 1);
	atomic_fetch_add(&total_late, now - deadline);
	wg_done(&wg);
}

static void many_sleeps(int procs)
{
	rt_init(procs);
	const int n = 1000;
	wg_add(&wg, (uint32_t)n);
	unsigned r = 7;
	for (int i = 0; i < n; i++) {
		r = r * 1103515245 + 12345;
		spawn(sleeper, (void *)(uintptr_t)(((r >> 8) % 50) * 1000000 + (r % 1000)));
	}
	cr_assert(wg_wait_for(&wg, HANG_TIMEOUT), "sleepers never woke");
	cr_assert_eq(atomic_load(&early), 0, "%d sleeps returned early", atomic_load(&early));
	cr_assert_eq(atomic_load(&very_late), 0);
	cr_log_info("mean lateness %lld us", (long long)(atomic_load(&total_late) / n / 1000));
}
Test(timer, sleeps_not_early_procs1) { many_sleeps(1); }
Test(timer, sleeps_not_early_procs2) { many_sleeps(2); }
Test(timer, sleeps_not_early_procs4) { many_sleeps(4); }

/* A timed wait that nobody wakes times out, not early. */
static _Atomic uint32_t never;
static void timed_waiter(void *arg)
{
	int64_t deadline = gmp_nanotime() + MS(30);
	int r = gmp_futex_wait(&never, 0, deadline, GMP_WAIT_TEST, NULL);
	cr_assert_eq(r, -ETIMEDOUT);
	cr_assert_geq(gmp_nanotime(), deadline);
	wg_done(&wg);
}
Test(timer, timed_wait_times_out)
{
	rt_init(2);
	wg_add(&wg, 10);
	for (int i = 0; i < 10; i++)
		spawn(timed_waiter, NULL);
	/* The foreign thread's own timed wait takes the OS path. */
	int64_t deadline = gmp_nanotime() + MS(30);
	cr_assert_eq(gmp_futex_wait(&never, 0, deadline, GMP_WAIT_TEST, NULL), -ETIMEDOUT);
	cr_assert_geq(gmp_nanotime(), deadline);
	wg_wait(&wg);
}

/*
 * A G that sleeps while its P's M goes idle: the timer lives in that P's
 * heap and must still fire when every M is asleep (the poller's job).
 */
static void short_sleep(void *arg)
{
	gmp_sleep_until(gmp_nanotime() + MS(50));
	wg_done(&wg);
}
Test(timer, fires_when_everything_idle)
{
	rt_init(4);
	for (int round = 0; round < 5; round++) {
		wg_add(&wg, 1);
		spawn(short_sleep, NULL);
		cr_assert(wg_wait_for(&wg, HANG_TIMEOUT), "timer on an idle P never fired");
	}
}

/*
 * A running G adds an earlier timer while the poller sleeps toward a later
 * one: the poller must be woken for it.  Checked by order, not by speed: the
 * 50 ms sleeper must finish while the 60 s sleeper still sleeps.
 */
static void long_sleep(void *arg)
{
	gmp_sleep_until(gmp_nanotime() + MS(60000));
	wg_done(&wg);
}
Test(timer, earlier_timer_breaks_poller)
{
	rt_init(2);
	wg_add(&wg, 2);
	spawn(long_sleep, NULL);
	gmp_sleep_until(gmp_nanotime() + MS(20)); /* the poller settles on +60 s */
	spawn(short_sleep, NULL);
	for (int i = 0; i < 30000 && atomic_load(&wg.n) > 1; i++)
		gmp_sleep_until(gmp_nanotime() + MS(1));
	cr_assert_eq(atomic_load(&wg.n), 1, "the 50 ms sleep waited behind the 60 s one");
}

/*
 * Regression: a G readied by its sleep timer could run (stolen by another P)
 * and sleep again before the firing M finished the callback: "timer already
 * in use".  Many Gs sleeping tiny intervals on several Ps hit that window.
 */
static void nap_loop(void *arg)
{
	unsigned r = (unsigned)(uintptr_t)arg;
	for (int i = 0; i < 300; i++) {
		r = r * 1103515245 + 12345;
		gmp_sleep_until(gmp_nanotime() + (r >> 16) % 20000);
	}
	wg_done(&wg);
}
Test(timer, sleep_rearm_races_callback)
{
	rt_init(4);
	wg_add(&wg, 64);
	for (int i = 0; i < 64; i++)
		spawn(nap_loop, (void *)(uintptr_t)(i + 1));
	cr_assert(wg_wait_for(&wg, HANG_TIMEOUT));
}
