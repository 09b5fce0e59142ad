/*
 * sleep: the sleeping calls never return early.
 *   - sleep(0) returns 0; sleep(1) returns 0 after >= 1 s
 *   - usleep(0), usleep(30 ms); nanosleep(30 ms) (rem untouched when not
 *     interrupted); clock_nanosleep relative on CLOCK_MONOTONIC and
 *     CLOCK_REALTIME; clock_nanosleep TIMER_ABSTIME on CLOCK_MONOTONIC and
 *     CLOCK_REALTIME returns at or after the deadline on that clock; an
 *     absolute deadline in the past returns 0 at once
 *   - errors: nanosleep with tv_nsec >= 1e9 or tv_sec < 0 -> -1/EINVAL;
 *     clock_nanosleep returns the error number (errno untouched): EINVAL
 *     for a bad tv_nsec and for CLOCK_THREAD_CPUTIME_ID
 *   - each "not early" check uses CLOCK_MONOTONIC (or the clock of the
 *     absolute deadline); "not late" only with a 2 s margin
 *   - the same calls from a second thread
 */
/* shim-skip: S2: errno read through an address cached before a migration: GMP_TLS=shared does not promise it */
#include "common.h"

static void sleeps(const char *who)
{
	char what[128];
	struct timespec req, rem;
	int64_t t0;

	t0 = now_ns(CLOCK_MONOTONIC);
	CHECK_OK(usleep(0));
	CHECK_OK(usleep(30000));
	snprintf(what, sizeof what, "%s: usleep(30000)", who);
	check_elapsed(now_ns(CLOCK_MONOTONIC) - t0, 30, 2000, what);

	req = ns_ts(30 * 1000000LL);
	rem.tv_sec = 77;
	rem.tv_nsec = 77;
	t0 = now_ns(CLOCK_MONOTONIC);
	CHECK_OK(nanosleep(&req, &rem));
	snprintf(what, sizeof what, "%s: nanosleep(30 ms)", who);
	check_elapsed(now_ns(CLOCK_MONOTONIC) - t0, 30, 2000, what);
	CHECK(rem.tv_sec == 77 && rem.tv_nsec == 77, "%s: nanosleep wrote rem although not interrupted", who);

	t0 = now_ns(CLOCK_MONOTONIC);
	CHECK_RC(clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL), 0);
	snprintf(what, sizeof what, "%s: clock_nanosleep(CLOCK_MONOTONIC, relative 30 ms)", who);
	check_elapsed(now_ns(CLOCK_MONOTONIC) - t0, 30, 2000, what);

	t0 = now_ns(CLOCK_MONOTONIC);
	CHECK_RC(clock_nanosleep(CLOCK_REALTIME, 0, &req, NULL), 0);
	snprintf(what, sizeof what, "%s: clock_nanosleep(CLOCK_REALTIME, relative 30 ms)", who);
	check_elapsed(now_ns(CLOCK_MONOTONIC) - t0, 30, 2000, what);

	struct timespec dl = deadline_in(CLOCK_MONOTONIC, 30);
	CHECK_RC(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &dl, NULL), 0);
	snprintf(what, sizeof what, "%s: clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)", who);
	check_deadline_wait(CLOCK_MONOTONIC, &dl, 2000, what);

	dl = deadline_in(CLOCK_REALTIME, 30);
	CHECK_RC(clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &dl, NULL), 0);
	snprintf(what, sizeof what, "%s: clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME)", who);
	check_deadline_wait(CLOCK_REALTIME, &dl, 2000, what);

	dl = deadline_in(CLOCK_MONOTONIC, -1000);
	t0 = now_ns(CLOCK_MONOTONIC);
	CHECK_RC(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &dl, NULL), 0);
	CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 2 * NSEC_PER_SEC, "%s: absolute sleep to a past deadline took over 2 s", who);

	/* Errors. */
	req.tv_sec = 0;
	req.tv_nsec = NSEC_PER_SEC;
	CHECK_ERRNO(nanosleep(&req, NULL), EINVAL);
	req.tv_sec = -1;
	req.tv_nsec = 0;
	CHECK_ERRNO(nanosleep(&req, NULL), EINVAL);
	req.tv_sec = 0;
	req.tv_nsec = NSEC_PER_SEC;
	errno = 1234;
	CHECK_RC(clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL), EINVAL);
	CHECK(errno == 1234, "%s: clock_nanosleep changed errno to %s", who, err_name(errno));
	req.tv_nsec = 1000;
	CHECK_RC(clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &req, NULL), EINVAL);
}

static void *thread_sleeps(void *arg)
{
	sleeps("thread");
	return NULL;
}

int main(void)
{
	test_begin();
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	CHECK(sleep(0) == 0, "sleep(0) did not return 0");
	CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 2 * NSEC_PER_SEC, "sleep(0) took over 2 s");
	t0 = now_ns(CLOCK_MONOTONIC);
	CHECK(sleep(1) == 0, "sleep(1) did not return 0");
	check_elapsed(now_ns(CLOCK_MONOTONIC) - t0, 1000, 2000, "sleep(1)");

	sleeps("main");
	join(spawn(thread_sleeps, NULL));
	return test_pass();
}
