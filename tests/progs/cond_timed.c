/*
 * cond_timed: timed waits on condition variables.
 *   - pthread_cond_timedwait on a default condvar measures CLOCK_REALTIME:
 *     ETIMEDOUT not before the deadline (nor absurdly after), with the
 *     mutex held again on return (errorcheck unlock succeeds)
 *   - deadline in the past / tv_sec < 0 -> ETIMEDOUT; tv_nsec >= 1e9 -> EINVAL
 *   - condattr_setclock(CLOCK_MONOTONIC): getclock reads it back; timedwait
 *     then measures CLOCK_MONOTONIC; other clocks (CPU-time, MONOTONIC_RAW,
 *     BOOTTIME) -> EINVAL; the default is CLOCK_REALTIME
 *   - pthread_cond_clockwait with CLOCK_MONOTONIC and CLOCK_REALTIME (on a
 *     default condvar) times out on that clock; another clock -> EINVAL
 *   - a timed wait that is signalled before its deadline returns 0 early
 *   - several threads timing out on one condvar at once all return
 */
#include "common.h"

static pthread_mutex_t m;
static pthread_cond_t cv_rt, cv_mono;
static int flag;

static void *signaller(void *arg)
{
	pthread_cond_t *c = arg;
	sleep_ms(20);
	pthread_mutex_lock(&m);
	flag = 1;
	pthread_cond_signal(c);
	pthread_mutex_unlock(&m);
	return NULL;
}

static void *timeout_waiter(void *arg)
{
	long i = (long)arg;
	pthread_mutex_lock(&m);
	struct timespec dl = deadline_in(CLOCK_REALTIME, 30 + i);
	int rc;
	do
		rc = pthread_cond_timedwait(&cv_rt, &m, &dl);
	while (rc == 0);
	int early = now_ns(CLOCK_REALTIME) < ts_ns(&dl);
	int urc = pthread_mutex_unlock(&m);
	if (rc != ETIMEDOUT || early || urc != 0)
		return (void *)1;
	return NULL;
}

int main(void)
{
	test_begin();
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
	CHECK_RC(pthread_mutex_init(&m, &ma), 0);
	pthread_condattr_t ca;
	clockid_t clk;
	CHECK_RC(pthread_condattr_init(&ca), 0);
	CHECK_RC(pthread_condattr_getclock(&ca, &clk), 0);
	CHECK(clk == CLOCK_REALTIME, "default condattr clock %d, expected CLOCK_REALTIME", (int)clk);
	CHECK_RC(pthread_cond_init(&cv_rt, &ca), 0);
	CHECK_RC(pthread_condattr_setclock(&ca, CLOCK_PROCESS_CPUTIME_ID), EINVAL);
	CHECK_RC(pthread_condattr_setclock(&ca, CLOCK_THREAD_CPUTIME_ID), EINVAL);
	CHECK_RC(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC_RAW), EINVAL);
	CHECK_RC(pthread_condattr_setclock(&ca, CLOCK_BOOTTIME), EINVAL);
	CHECK_RC(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC), 0);
	CHECK_RC(pthread_condattr_getclock(&ca, &clk), 0);
	CHECK(clk == CLOCK_MONOTONIC, "condattr clock read back %d, expected CLOCK_MONOTONIC", (int)clk);
	CHECK_RC(pthread_cond_init(&cv_mono, &ca), 0);
	CHECK_RC(pthread_condattr_destroy(&ca), 0);

	struct timespec dl;
	CHECK_RC(pthread_mutex_lock(&m), 0);

	/* Default clock: realtime. */
	dl = deadline_in(CLOCK_REALTIME, 50);
	CHECK_RC(pthread_cond_timedwait(&cv_rt, &m, &dl), ETIMEDOUT);
	check_deadline_wait(CLOCK_REALTIME, &dl, 2000, "pthread_cond_timedwait (CLOCK_REALTIME)");
	CHECK_RC(pthread_mutex_lock(&m), EDEADLK); /* still ours */

	dl = deadline_in(CLOCK_REALTIME, -500);
	CHECK_RC(pthread_cond_timedwait(&cv_rt, &m, &dl), ETIMEDOUT);
	dl.tv_sec = -1;
	dl.tv_nsec = 0;
	CHECK_RC(pthread_cond_timedwait(&cv_rt, &m, &dl), ETIMEDOUT);
	dl = deadline_in(CLOCK_REALTIME, 1000);
	dl.tv_nsec = NSEC_PER_SEC;
	CHECK_RC(pthread_cond_timedwait(&cv_rt, &m, &dl), EINVAL);
	CHECK_RC(pthread_mutex_lock(&m), EDEADLK);

	/* Monotonic condvar. */
	dl = deadline_in(CLOCK_MONOTONIC, 50);
	CHECK_RC(pthread_cond_timedwait(&cv_mono, &m, &dl), ETIMEDOUT);
	check_deadline_wait(CLOCK_MONOTONIC, &dl, 2000, "pthread_cond_timedwait (condattr CLOCK_MONOTONIC)");
	CHECK_RC(pthread_mutex_lock(&m), EDEADLK);
	dl = deadline_in(CLOCK_MONOTONIC, -500);
	CHECK_RC(pthread_cond_timedwait(&cv_mono, &m, &dl), ETIMEDOUT);

	/* clockwait, either clock, on a default condvar. */
	dl = deadline_in(CLOCK_MONOTONIC, 40);
	CHECK_RC(pthread_cond_clockwait(&cv_rt, &m, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
	check_deadline_wait(CLOCK_MONOTONIC, &dl, 2000, "pthread_cond_clockwait(CLOCK_MONOTONIC)");
	dl = deadline_in(CLOCK_REALTIME, 40);
	CHECK_RC(pthread_cond_clockwait(&cv_rt, &m, CLOCK_REALTIME, &dl), ETIMEDOUT);
	check_deadline_wait(CLOCK_REALTIME, &dl, 2000, "pthread_cond_clockwait(CLOCK_REALTIME)");
	dl = deadline_in(CLOCK_REALTIME, 40);
	CHECK_RC(pthread_cond_clockwait(&cv_mono, &m, CLOCK_REALTIME, &dl), ETIMEDOUT);
	check_deadline_wait(CLOCK_REALTIME, &dl, 2000, "pthread_cond_clockwait(CLOCK_REALTIME) on a monotonic condvar");
	dl = deadline_in(CLOCK_MONOTONIC, 10);
	CHECK_RC(pthread_cond_clockwait(&cv_rt, &m, CLOCK_PROCESS_CPUTIME_ID, &dl), EINVAL);
	CHECK_RC(pthread_mutex_lock(&m), EDEADLK);
	CHECK_RC(pthread_mutex_unlock(&m), 0);

	/* Signalled before the deadline. */
	struct { pthread_cond_t *c; clockid_t clk; int clockwait; const char *what; } cases[] = {
		{&cv_rt, CLOCK_REALTIME, 0, "timedwait (realtime)"},
		{&cv_mono, CLOCK_MONOTONIC, 0, "timedwait (monotonic condattr)"},
		{&cv_rt, CLOCK_MONOTONIC, 1, "clockwait (monotonic)"},
		{&cv_rt, CLOCK_REALTIME, 1, "clockwait (realtime)"},
	};
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		CHECK_RC(pthread_mutex_lock(&m), 0);
		flag = 0;
		pthread_t t = spawn(signaller, cases[i].c);
		int64_t t0 = now_ns(CLOCK_MONOTONIC);
		dl = deadline_in(cases[i].clk, 20000);
		int rc = 0;
		while (!flag && rc == 0)
			rc = cases[i].clockwait ? pthread_cond_clockwait(cases[i].c, &m, cases[i].clk, &dl)
						: pthread_cond_timedwait(cases[i].c, &m, &dl);
		CHECK(rc == 0 && flag, "%s: signalled wait returned %s", cases[i].what, err_name(rc));
		CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 10 * NSEC_PER_SEC, "%s: signal after 20 ms took over 10 s to wake", cases[i].what);
		CHECK_RC(pthread_mutex_unlock(&m), 0);
		join(t);
	}

	/* Many concurrent timeouts. */
	pthread_t tw[12];
	for (long i = 0; i < 12; i++)
		tw[i] = spawn(timeout_waiter, (void *)i);
	for (int i = 0; i < 12; i++)
		CHECK(join(tw[i]) == NULL, "concurrent timeout waiter %d: wrong code, early, or mutex not re-acquired", i);

	CHECK_RC(pthread_cond_destroy(&cv_rt), 0);
	CHECK_RC(pthread_cond_destroy(&cv_mono), 0);
	return test_pass();
}
