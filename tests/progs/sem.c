/*
 * sem: unnamed POSIX semaphores (sem_init, thread-shared).
 *   - sem_trywait: succeeds while the value is > 0, then -1/EAGAIN
 *   - sem_getvalue follows posts and waits
 *   - sem_timedwait (CLOCK_REALTIME deadline) on 0: -1/ETIMEDOUT, not
 *     before the deadline; a past deadline or tv_sec < 0: ETIMEDOUT
 *   - sem_clockwait with CLOCK_MONOTONIC and CLOCK_REALTIME likewise;
 *     another clock: -1/EINVAL (glibc checks before trying, so even when
 *     the semaphore could be taken, and the value is untouched)
 *   - tv_nsec outside [0, 1e9): -1/EINVAL, also checked up front
 *   - sem_init with value > SEM_VALUE_MAX: -1/EINVAL; sem_post at
 *     SEM_VALUE_MAX: -1/EOVERFLOW, value unchanged
 *   - a blocked sem_wait / sem_timedwait wakes on sem_post from another
 *     thread
 *   - 4 posters x 5000 posts, 4 waiters take exactly 20000 in all (mix of
 *     sem_wait, sem_trywait, sem_timedwait), final value 0
 */
/* shim-skip: S2: errno read through an address cached before a migration: GMP_TLS=shared does not promise it */
#include "common.h"
#include <limits.h>
#include <semaphore.h>

static sem_t s, items;
static int taken[4];

static int value(sem_t *x)
{
	int v = -12345;
	CHECK_OK(sem_getvalue(x, &v));
	return v;
}

static void *poster(void *arg)
{
	for (int i = 0; i < 5000; i++)
		if (sem_post(&items) != 0)
			return (void *)1;
	return NULL;
}

static void *taker(void *arg)
{
	long id = (long)arg;
	for (int i = 0; i < 5000; i++) {
		int rc;
		if (id == 0) {
			rc = sem_wait(&items);
		} else if (id == 1) {
			while ((rc = sem_trywait(&items)) != 0 && errno == EAGAIN)
				sched_yield();
		} else if (id == 2) {
			struct timespec dl = deadline_in(CLOCK_REALTIME, 20000);
			rc = sem_timedwait(&items, &dl);
		} else {
			struct timespec dl = deadline_in(CLOCK_MONOTONIC, 20000);
			rc = sem_clockwait(&items, CLOCK_MONOTONIC, &dl);
		}
		if (rc != 0)
			return (void *)1;
		taken[id]++;
	}
	return NULL;
}

static void *delayed_post(void *arg)
{
	sleep_ms(20);
	sem_post(&s);
	return NULL;
}

int main(void)
{
	test_begin();
	struct timespec dl;

	CHECK_ERRNO(sem_init(&s, 0, (unsigned)SEM_VALUE_MAX + 1u), EINVAL);
	CHECK_OK(sem_init(&s, 0, SEM_VALUE_MAX));
	CHECK_ERRNO(sem_post(&s), EOVERFLOW);
	CHECK(value(&s) == SEM_VALUE_MAX, "value after overflowing post %d, expected SEM_VALUE_MAX", value(&s));
	CHECK_OK(sem_destroy(&s));

	CHECK_OK(sem_init(&s, 0, 2));
	CHECK(value(&s) == 2, "initial value %d, expected 2", value(&s));
	CHECK_OK(sem_trywait(&s));
	CHECK_OK(sem_trywait(&s));
	CHECK_ERRNO(sem_trywait(&s), EAGAIN);
	CHECK(value(&s) == 0, "value %d after taking 2 of 2", value(&s));
	CHECK_OK(sem_post(&s));
	CHECK_OK(sem_post(&s));
	CHECK_OK(sem_post(&s));
	CHECK(value(&s) == 3, "value %d after 3 posts", value(&s));
	CHECK_OK(sem_wait(&s));
	CHECK(value(&s) == 2, "value %d after a sem_wait", value(&s));

	/* Validation before trying: value untouched. */
	dl = deadline_in(CLOCK_REALTIME, 1000);
	dl.tv_nsec = NSEC_PER_SEC;
	CHECK_ERRNO(sem_timedwait(&s, &dl), EINVAL);
	dl.tv_nsec = -1;
	CHECK_ERRNO(sem_timedwait(&s, &dl), EINVAL);
	CHECK_ERRNO(sem_clockwait(&s, CLOCK_MONOTONIC, &dl), EINVAL);
	dl = deadline_in(CLOCK_MONOTONIC, 1000);
	CHECK_ERRNO(sem_clockwait(&s, CLOCK_PROCESS_CPUTIME_ID, &dl), EINVAL);
	CHECK(value(&s) == 2, "value %d after rejected waits, expected 2", value(&s));
	CHECK_OK(sem_clockwait(&s, CLOCK_MONOTONIC, &dl));
	dl = deadline_in(CLOCK_REALTIME, 1000);
	CHECK_OK(sem_timedwait(&s, &dl));
	CHECK(value(&s) == 0, "value %d, expected 0", value(&s));

	/* Timeouts. */
	dl = deadline_in(CLOCK_REALTIME, 50);
	CHECK_ERRNO(sem_timedwait(&s, &dl), ETIMEDOUT);
	check_deadline_wait(CLOCK_REALTIME, &dl, 2000, "sem_timedwait");
	dl = deadline_in(CLOCK_MONOTONIC, 50);
	CHECK_ERRNO(sem_clockwait(&s, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
	check_deadline_wait(CLOCK_MONOTONIC, &dl, 2000, "sem_clockwait(CLOCK_MONOTONIC)");
	dl = deadline_in(CLOCK_REALTIME, 50);
	CHECK_ERRNO(sem_clockwait(&s, CLOCK_REALTIME, &dl), ETIMEDOUT);
	check_deadline_wait(CLOCK_REALTIME, &dl, 2000, "sem_clockwait(CLOCK_REALTIME)");
	dl = deadline_in(CLOCK_REALTIME, -1000);
	CHECK_ERRNO(sem_timedwait(&s, &dl), ETIMEDOUT);
	dl.tv_sec = -1;
	dl.tv_nsec = 0;
	CHECK_ERRNO(sem_timedwait(&s, &dl), ETIMEDOUT);
	CHECK(value(&s) == 0, "value %d after timeouts, expected 0", value(&s));

	/* Woken by a post from another thread. */
	pthread_t p = spawn(delayed_post, NULL);
	CHECK_OK(sem_wait(&s));
	join(p);
	p = spawn(delayed_post, NULL);
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	dl = deadline_in(CLOCK_REALTIME, 20000);
	CHECK_OK(sem_timedwait(&s, &dl));
	CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 10 * NSEC_PER_SEC, "sem_timedwait took over 10 s to see a post made after 20 ms");
	join(p);
	p = spawn(delayed_post, NULL);
	dl = deadline_in(CLOCK_MONOTONIC, 20000);
	CHECK_OK(sem_clockwait(&s, CLOCK_MONOTONIC, &dl));
	join(p);
	CHECK_OK(sem_destroy(&s));

	/* Many posters and takers. */
	CHECK_OK(sem_init(&items, 0, 0));
	pthread_t t[8];
	for (long i = 0; i < 4; i++)
		t[i] = spawn(taker, (void *)i);
	for (int i = 4; i < 8; i++)
		t[i] = spawn(poster, NULL);
	for (int i = 0; i < 8; i++)
		CHECK(join(t[i]) == NULL, "poster/taker thread %d failed", i);
	for (int i = 0; i < 4; i++)
		CHECK(taken[i] == 5000, "taker %d took %d, expected 5000", i, taken[i]);
	CHECK(value(&items) == 0, "final value %d, expected 0", value(&items));
	CHECK_OK(sem_destroy(&items));

	return test_pass();
}
