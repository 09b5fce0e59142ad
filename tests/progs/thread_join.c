/*
 * thread_join: the ways to wait for a thread, and detaching.
 *   - pthread_join waits for a running thread and collects its value; a
 *     thread that already finished is joined at once
 *   - pthread_tryjoin_np: EBUSY while the thread runs, 0 + value after
 *   - pthread_timedjoin_np (CLOCK_REALTIME deadline): ETIMEDOUT, not before
 *     the deadline; a deadline in the past (even tv_sec < 0) gives ETIMEDOUT
 *     at once; the thread can still be joined afterwards
 *   - pthread_clockjoin_np with CLOCK_MONOTONIC and CLOCK_REALTIME: same;
 *     an unsupported clock gives EINVAL
 *   - on self: join/timedjoin -> EDEADLK, tryjoin -> EBUSY (glibc checks
 *     "still running" first)
 *   - pthread_detach on a live thread: 0, again: EINVAL; join of a live
 *     detached thread: EINVAL (glibc)
 *   - many threads joined in reverse creation order
 */
#include "common.h"
#include <semaphore.h>

static sem_t release;
static sem_t finished;

static void *wait_release(void *arg)
{
	sem_wait(&release);
	return arg;
}

static void *wait_release_then_post(void *arg)
{
	sem_wait(&release);
	sem_post(&finished);
	return arg;
}

static void *immediate(void *arg)
{
	return arg;
}

static void *spin_a_bit(void *arg)
{
	sleep_ms(5);
	return arg;
}

int main(void)
{
	test_begin();
	sem_init(&release, 0, 0);
	sem_init(&finished, 0, 0);
	void *ret;

	/* Join on self. */
	struct timespec dl = deadline_in(CLOCK_REALTIME, 10);
	CHECK_RC(pthread_join(pthread_self(), NULL), EDEADLK);
	CHECK_RC(pthread_timedjoin_np(pthread_self(), NULL, &dl), EDEADLK);
	CHECK_RC(pthread_clockjoin_np(pthread_self(), NULL, CLOCK_MONOTONIC, &dl), EDEADLK);
	CHECK_RC(pthread_tryjoin_np(pthread_self(), NULL), EBUSY);

	/* Join of a thread that has already returned. */
	pthread_t t = spawn(immediate, (void *)11);
	sleep_ms(20);
	CHECK(join(t) == (void *)11, "late join lost the return value");

	/* tryjoin: EBUSY while running, then the value. */
	t = spawn(wait_release, (void *)12);
	CHECK_RC(pthread_tryjoin_np(t, &ret), EBUSY);
	CHECK_RC(pthread_tryjoin_np(t, NULL), EBUSY);
	sem_post(&release);
	int64_t end = now_ns(CLOCK_MONOTONIC) + 10 * NSEC_PER_SEC;
	int rc;
	ret = NULL;
	while ((rc = pthread_tryjoin_np(t, &ret)) == EBUSY) {
		CHECK(now_ns(CLOCK_MONOTONIC) < end, "tryjoin still EBUSY 10 s after the thread was released");
		sleep_ms(1);
	}
	CHECK(rc == 0, "pthread_tryjoin_np returned %s, expected 0", err_name(rc));
	CHECK(ret == (void *)12, "tryjoin value %p, expected 0xc", ret);

	/* timedjoin: times out (not early), thread still joinable after. */
	t = spawn(wait_release, (void *)13);
	dl = deadline_in(CLOCK_REALTIME, 100);
	CHECK_RC(pthread_timedjoin_np(t, &ret, &dl), ETIMEDOUT);
	check_deadline_wait(CLOCK_REALTIME, &dl, 2000, "pthread_timedjoin_np");
	dl.tv_sec = 0;
	dl.tv_nsec = 0;
	CHECK_RC(pthread_timedjoin_np(t, &ret, &dl), ETIMEDOUT);
	dl.tv_sec = -1;
	CHECK_RC(pthread_timedjoin_np(t, &ret, &dl), ETIMEDOUT);
	sem_post(&release);
	dl = deadline_in(CLOCK_REALTIME, 10000);
	ret = NULL;
	CHECK_RC(pthread_timedjoin_np(t, &ret, &dl), 0);
	CHECK(ret == (void *)13, "timedjoin value %p, expected 0xd", ret);

	/* clockjoin on both clocks. */
	t = spawn(wait_release, (void *)14);
	dl = deadline_in(CLOCK_MONOTONIC, 100);
	CHECK_RC(pthread_clockjoin_np(t, &ret, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
	check_deadline_wait(CLOCK_MONOTONIC, &dl, 2000, "pthread_clockjoin_np(CLOCK_MONOTONIC)");
	dl = deadline_in(CLOCK_REALTIME, 60);
	CHECK_RC(pthread_clockjoin_np(t, &ret, CLOCK_REALTIME, &dl), ETIMEDOUT);
	check_deadline_wait(CLOCK_REALTIME, &dl, 2000, "pthread_clockjoin_np(CLOCK_REALTIME)");
	dl = deadline_in(CLOCK_MONOTONIC, 10);
	CHECK_RC(pthread_clockjoin_np(t, &ret, CLOCK_PROCESS_CPUTIME_ID, &dl), EINVAL);
	CHECK_RC(pthread_clockjoin_np(t, &ret, CLOCK_THREAD_CPUTIME_ID, &dl), EINVAL);
	sem_post(&release);
	dl = deadline_in(CLOCK_MONOTONIC, 10000);
	ret = NULL;
	CHECK_RC(pthread_clockjoin_np(t, &ret, CLOCK_MONOTONIC, &dl), 0);
	CHECK(ret == (void *)14, "clockjoin value %p, expected 0xe", ret);

	/* A join that waits while the thread finishes on its own. */
	t = spawn(spin_a_bit, (void *)15);
	dl = deadline_in(CLOCK_MONOTONIC, 10000);
	ret = NULL;
	CHECK_RC(pthread_clockjoin_np(t, &ret, CLOCK_MONOTONIC, &dl), 0);
	CHECK(ret == (void *)15, "clockjoin (waiting) value %p", ret);

	/* Detach: twice on a live thread, join on a live detached thread. */
	t = spawn(wait_release_then_post, NULL);
	CHECK_RC(pthread_detach(t), 0);
	CHECK_RC(pthread_detach(t), EINVAL);
	CHECK_RC(pthread_join(t, NULL), EINVAL);
	dl = deadline_in(CLOCK_REALTIME, 10);
	CHECK_RC(pthread_timedjoin_np(t, NULL, &dl), EINVAL);
	sem_post(&release);
	dl = deadline_in(CLOCK_REALTIME, 10000);
	CHECK_OK(sem_timedwait(&finished, &dl));

	/* Detached threads in numbers, each runs to the end. */
	for (int i = 0; i < 50; i++) {
		t = spawn(wait_release_then_post, NULL);
		CHECK_RC(pthread_detach(t), 0);
	}
	for (int i = 0; i < 50; i++)
		sem_post(&release);
	for (int i = 0; i < 50; i++) {
		dl = deadline_in(CLOCK_REALTIME, 10000);
		CHECK_OK(sem_timedwait(&finished, &dl));
	}

	/* Reverse-order joins. */
	pthread_t many[64];
	for (long i = 0; i < 64; i++)
		many[i] = spawn(wait_release, (void *)(i + 100));
	for (int i = 0; i < 64; i++)
		sem_post(&release);
	for (long i = 63; i >= 0; i--) {
		ret = join(many[i]);
		CHECK(ret == (void *)(i + 100), "thread %ld returned %p", i, ret);
	}

	return test_pass();
}
