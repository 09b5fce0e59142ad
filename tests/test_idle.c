/*
 * An idle runtime burns no CPU: after work ends every M sleeps in the kernel
 * (on its note, or in the poller until the next timer).  The bound is on CPU
 * time consumed while idle, which a slow machine does not inflate.
 */
#include "testutil.h"

static struct wg wg;
static void busy(void *arg)
{
	volatile uint64_t x = 0;
	for (int i = 0; i < 100000; i++)
		x += (uint64_t)i;
	if ((uintptr_t)arg % 2)
		gmp_yield();
	wg_done(&wg);
}

static void idle_after_work(int procs)
{
	rt_init(procs);
	wg_add(&wg, 1000);
	for (int i = 0; i < 1000; i++)
		spawn(busy, (void *)(uintptr_t)i);
	wg_wait(&wg);
	gmp_sleep_until(gmp_nanotime() + MS(50)); /* let spinners give up */
	int64_t c0 = process_cpu_ns();
	gmp_sleep_until(gmp_nanotime() + MS(500));
	int64_t used = process_cpu_ns() - c0;
	cr_log_info("idle CPU over 500 ms: %lld us", (long long)used / 1000);
	cr_assert_lt(used, MS(25), "idle process used %lld us of CPU in 500 ms", (long long)used / 1000);
}

Test(idle, no_cpu_after_work_procs1) { idle_after_work(1); }
Test(idle, no_cpu_after_work_procs4) { idle_after_work(4); }

/* With a G asleep on a far timer, the poller blocks until then: still ~0 CPU. */
static void far_sleeper(void *arg)
{
	gmp_sleep_until(gmp_nanotime() + MS(60000));
}
Test(idle, no_cpu_with_pending_timer)
{
	rt_init(2);
	spawn(far_sleeper, NULL);
	gmp_sleep_until(gmp_nanotime() + MS(50));
	int64_t c0 = process_cpu_ns();
	gmp_sleep_until(gmp_nanotime() + MS(500));
	int64_t used = process_cpu_ns() - c0;
	cr_assert_lt(used, MS(25), "idle process used %lld us of CPU in 500 ms", (long long)used / 1000);
}
