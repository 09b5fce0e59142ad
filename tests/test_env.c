/*
 * GMP_* knobs: parsed with defaults that match native behaviour, malformed
 * values fall back to the default, and the OS-thread cap fails loudly.
 */
#include "testutil.h"

#include <sched.h>
#include <signal.h>

Test(env, defaults)
{
	unsetenv("GMP_MAXPROCS");
	unsetenv("GMP_MAXTHREADS");
	unsetenv("GMP_STACKGUARD");
	struct gmp_config c;
	gmp_config_from_env(&c);
	cpu_set_t set;
	sched_getaffinity(0, sizeof set, &set);
	cr_assert_eq(c.maxprocs, CPU_COUNT(&set));
	cr_assert_eq(c.maxthreads, 10000);
	cr_assert_eq(c.guard, GMP_GUARD_PAGE);
}

Test(env, values_and_suffixes)
{
	setenv("GMP_MAXPROCS", "3", 1);
	setenv("GMP_MAXTHREADS", "500", 1);
	setenv("GMP_STACKSIZE", "1M", 1);
	setenv("GMP_STACKGUARD", "canary", 1);
	struct gmp_config c;
	gmp_config_from_env(&c);
	cr_assert_eq(c.maxprocs, 3);
	cr_assert_eq(c.maxthreads, 500);
	cr_assert_eq(c.stacksize, 1u << 20);
	cr_assert_eq(c.guard, GMP_GUARD_CANARY);
}

Test(env, malformed_values_use_defaults)
{
	cpu_set_t set;
	sched_getaffinity(0, sizeof set, &set);
	setenv("GMP_MAXPROCS", "lots", 1);
	setenv("GMP_MAXTHREADS", "0", 1);
	setenv("GMP_STACKSIZE", "12q", 1);
	setenv("GMP_STACKGUARD", "maybe", 1);
	struct gmp_config c;
	gmp_config_from_env(&c);
	cr_assert_eq(c.maxprocs, CPU_COUNT(&set));
	cr_assert_eq(c.maxthreads, 10000);
	cr_assert_geq(c.stacksize, 16384);
	cr_assert_eq(c.guard, GMP_GUARD_PAGE);
}

/* More Ms needed than GMP_MAXTHREADS allows: a clear fatal error, not a hang. */
static void spin_forever(void *arg)
{
	for (;;)
		gmp_cpu_relax();
}
Test(env, maxthreads_cap_is_fatal, .signal = SIGABRT)
{
	struct gmp_config c;
	gmp_config_from_env(&c);
	c.maxprocs = 4;
	c.maxthreads = 2;
	gmp_runtime_init(&c);
	for (int i = 0; i < 4; i++)
		spawn(spin_forever, NULL);
	gmp_sleep_until(gmp_nanotime() + MS(5000));
}
