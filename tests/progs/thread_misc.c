/*
 * thread_misc: the less common per-thread calls programs make.
 *   - pthread_getattr_default_np: stacksize = RLIMIT_STACK (or 2 MiB if
 *     unlimited), guard one page; pthread_setattr_default_np(512 KiB)
 *     makes both pthread_attr_init and a NULL-attr thread use 512 KiB (the
 *     thread's pthread_getattr_np reports exactly that); restored after
 *   - pthread_getconcurrency starts at 0; setconcurrency(4) reads back;
 *     setconcurrency(-1) -> EINVAL
 *   - pthread_setschedparam(self, SCHED_OTHER, 0) and setschedprio(0) -> 0,
 *     priority 5 for SCHED_OTHER -> EINVAL; getschedparam agrees
 *   - pthread_getaffinity_np gives a non-empty set that includes the CPU
 *     the thread runs on (sched_getcpu); setting the same set back -> 0;
 *     a new thread inherits it
 *   - pthread_kill(t, 0) -> 0 for a live thread; an invalid signal -> EINVAL
 */
#include "common.h"
#include <sched.h>
#include <sys/resource.h>

static void *report_stack(void *arg)
{
	size_t *out = arg;
	pthread_attr_t a;
	if (pthread_getattr_np(pthread_self(), &a) != 0)
		return (void *)1;
	pthread_attr_getstacksize(&a, out);
	pthread_attr_destroy(&a);
	return NULL;
}

static void *report_affinity(void *arg)
{
	cpu_set_t *cs = arg;
	return (void *)(long)pthread_getaffinity_np(pthread_self(), sizeof *cs, cs);
}

static void *wait_a_bit(void *arg)
{
	sleep_ms(50);
	return NULL;
}

int main(void)
{
	test_begin();

	/* Default attributes. */
	pthread_attr_t def, saved;
	size_t sz, guard;
	CHECK_RC(pthread_getattr_default_np(&saved), 0);
	CHECK_RC(pthread_getattr_default_np(&def), 0);
	CHECK_RC(pthread_attr_getstacksize(&def, &sz), 0);
	struct rlimit rl;
	CHECK_OK(getrlimit(RLIMIT_STACK, &rl));
	size_t want = rl.rlim_cur == RLIM_INFINITY ? 2 * 1024 * 1024 : (size_t)rl.rlim_cur;
	if (want < (size_t)PTHREAD_STACK_MIN)
		want = PTHREAD_STACK_MIN;
	CHECK(sz == want, "default stacksize %zu, expected %zu (from RLIMIT_STACK)", sz, want);
	CHECK_RC(pthread_attr_getguardsize(&def, &guard), 0);
	CHECK(guard == (size_t)sysconf(_SC_PAGESIZE), "default guardsize %zu", guard);
	CHECK_RC(pthread_attr_setstacksize(&def, 512 * 1024), 0);
	CHECK_RC(pthread_setattr_default_np(&def), 0);
	pthread_attr_t fresh;
	CHECK_RC(pthread_attr_init(&fresh), 0);
	CHECK_RC(pthread_attr_getstacksize(&fresh, &sz), 0);
	CHECK(sz == 512 * 1024, "pthread_attr_init after setattr_default_np: stacksize %zu, expected 524288", sz);
	pthread_attr_destroy(&fresh);
	sz = 0;
	CHECK(join(spawn(report_stack, &sz)) == NULL, "pthread_getattr_np failed in thread");
	CHECK(sz == 512 * 1024, "NULL-attr thread after setattr_default_np(512 KiB) reports stacksize %zu", sz);
	CHECK_RC(pthread_setattr_default_np(&saved), 0);
	sz = 0;
	CHECK(join(spawn(report_stack, &sz)) == NULL, "pthread_getattr_np failed in thread");
	CHECK(sz == want, "after restoring the defaults a thread reports stacksize %zu, expected %zu", sz, want);
	pthread_attr_destroy(&def);
	pthread_attr_destroy(&saved);

	/* Concurrency level (a hint only). */
	CHECK(pthread_getconcurrency() == 0, "initial concurrency %d, expected 0", pthread_getconcurrency());
	CHECK_RC(pthread_setconcurrency(-1), EINVAL);
	CHECK_RC(pthread_setconcurrency(4), 0);
	CHECK(pthread_getconcurrency() == 4, "concurrency read back %d, expected 4", pthread_getconcurrency());
	CHECK_RC(pthread_setconcurrency(0), 0);

	/* Scheduling of a running thread. */
	struct sched_param sp = {.sched_priority = 0};
	int pol = -1;
	CHECK_RC(pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp), 0);
	CHECK_RC(pthread_setschedprio(pthread_self(), 0), 0);
	sp.sched_priority = 5;
	CHECK_RC(pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp), EINVAL);
	CHECK_RC(pthread_setschedprio(pthread_self(), 5), EINVAL);
	CHECK_RC(pthread_getschedparam(pthread_self(), &pol, &sp), 0);
	CHECK(pol == SCHED_OTHER && sp.sched_priority == 0, "schedparam now %d/%d, expected SCHED_OTHER/0", pol, sp.sched_priority);

	/* Affinity. */
	cpu_set_t cs, cs2;
	CPU_ZERO(&cs);
	CHECK_RC(pthread_getaffinity_np(pthread_self(), sizeof cs, &cs), 0);
	CHECK(CPU_COUNT(&cs) >= 1, "affinity set is empty");
	int cpu = sched_getcpu();
	CHECK(cpu >= 0 && CPU_ISSET(cpu, &cs), "running on CPU %d, outside the affinity set", cpu);
	CHECK_RC(pthread_setaffinity_np(pthread_self(), sizeof cs, &cs), 0);
	CPU_ZERO(&cs2);
	CHECK(join(spawn(report_affinity, &cs2)) == NULL, "pthread_getaffinity_np failed in a new thread");
	CHECK(CPU_EQUAL(&cs, &cs2), "new thread's affinity differs from its creator's");

	/* pthread_kill probes. */
	pthread_t t = spawn(wait_a_bit, NULL);
	CHECK_RC(pthread_kill(t, 0), 0);
	CHECK_RC(pthread_kill(t, 12345), EINVAL);
	join(t);
	CHECK_RC(pthread_kill(pthread_self(), 0), 0);

	return test_pass();
}
