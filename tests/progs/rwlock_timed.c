/*
 * rwlock_timed: timed reader-writer lock acquisition.
 *   - write-held by another thread: timedrdlock and timedwrlock (deadline on
 *     CLOCK_REALTIME) -> ETIMEDOUT, not before the deadline
 *   - read-held by another thread: timedwrlock -> ETIMEDOUT, timedrdlock 0
 *   - clockrdlock / clockwrlock with CLOCK_MONOTONIC and CLOCK_REALTIME:
 *     same, measured on that clock; another clock -> EINVAL
 *   - a deadline in the past / tv_sec < 0 -> ETIMEDOUT
 *   - tv_nsec >= 1e9 -> EINVAL, checked up front by glibc: even when the
 *     lock is free
 *   - a timed lock granted when the holder releases before the deadline
 *   - the write owner's timedrdlock / timedwrlock -> EDEADLK
 */
#include "common.h"
#include <semaphore.h>

static pthread_rwlock_t rw;
static sem_t held, release;

static void *holder(void *arg)
{
	long mode = (long)arg; /* 0 read, 1 write; +2: release by itself after 20 ms */
	CHECK_RC((mode & 1) ? pthread_rwlock_wrlock(&rw) : pthread_rwlock_rdlock(&rw), 0);
	sem_post(&held);
	if (mode & 2)
		sleep_ms(20);
	else
		sem_wait(&release);
	CHECK_RC(pthread_rwlock_unlock(&rw), 0);
	return NULL;
}

static int timed(int write, int clockfn, clockid_t clk, int64_t ms, struct timespec *dl)
{
	*dl = deadline_in(clockfn ? clk : CLOCK_REALTIME, ms);
	int rc;
	if (clockfn)
		rc = write ? pthread_rwlock_clockwrlock(&rw, clk, dl) : pthread_rwlock_clockrdlock(&rw, clk, dl);
	else
		rc = write ? pthread_rwlock_timedwrlock(&rw, dl) : pthread_rwlock_timedrdlock(&rw, dl);
	if (rc == 0)
		pthread_rwlock_unlock(&rw);
	return rc;
}

static void expect_timeout(int write, int clockfn, clockid_t clk, const char *what)
{
	struct timespec dl;
	int rc = timed(write, clockfn, clk, 40, &dl);
	CHECK(rc == ETIMEDOUT, "%s returned %s, expected ETIMEDOUT", what, err_name(rc));
	check_deadline_wait(clockfn ? clk : CLOCK_REALTIME, &dl, 2000, what);
}

int main(void)
{
	test_begin();
	sem_init(&held, 0, 0);
	sem_init(&release, 0, 0);
	CHECK_RC(pthread_rwlock_init(&rw, NULL), 0);
	struct timespec dl;

	/* Free lock: bad timespec and bad clock rejected up front. */
	dl = deadline_in(CLOCK_REALTIME, 1000);
	dl.tv_nsec = NSEC_PER_SEC;
	CHECK_RC(pthread_rwlock_timedrdlock(&rw, &dl), EINVAL);
	CHECK_RC(pthread_rwlock_timedwrlock(&rw, &dl), EINVAL);
	dl = deadline_in(CLOCK_MONOTONIC, 1000);
	CHECK_RC(pthread_rwlock_clockrdlock(&rw, CLOCK_PROCESS_CPUTIME_ID, &dl), EINVAL);
	CHECK_RC(pthread_rwlock_clockwrlock(&rw, CLOCK_PROCESS_CPUTIME_ID, &dl), EINVAL);
	CHECK_RC(pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &dl), 0);
	CHECK_RC(pthread_rwlock_unlock(&rw), 0);
	CHECK_RC(pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &dl), 0);
	CHECK_RC(pthread_rwlock_unlock(&rw), 0);

	/* Write-held by another thread. */
	pthread_t h = spawn(holder, (void *)1L);
	sem_wait(&held);
	expect_timeout(0, 0, 0, "timedrdlock (write-held)");
	expect_timeout(1, 0, 0, "timedwrlock (write-held)");
	expect_timeout(0, 1, CLOCK_MONOTONIC, "clockrdlock(CLOCK_MONOTONIC) (write-held)");
	expect_timeout(1, 1, CLOCK_MONOTONIC, "clockwrlock(CLOCK_MONOTONIC) (write-held)");
	expect_timeout(0, 1, CLOCK_REALTIME, "clockrdlock(CLOCK_REALTIME) (write-held)");
	expect_timeout(1, 1, CLOCK_REALTIME, "clockwrlock(CLOCK_REALTIME) (write-held)");
	dl = deadline_in(CLOCK_REALTIME, -1000);
	CHECK_RC(pthread_rwlock_timedrdlock(&rw, &dl), ETIMEDOUT);
	CHECK_RC(pthread_rwlock_timedwrlock(&rw, &dl), ETIMEDOUT);
	dl.tv_sec = -1;
	dl.tv_nsec = 0;
	CHECK_RC(pthread_rwlock_timedrdlock(&rw, &dl), ETIMEDOUT);
	CHECK_RC(pthread_rwlock_timedwrlock(&rw, &dl), ETIMEDOUT);
	dl = deadline_in(CLOCK_MONOTONIC, 10);
	CHECK_RC(pthread_rwlock_clockrdlock(&rw, CLOCK_THREAD_CPUTIME_ID, &dl), EINVAL);
	sem_post(&release);
	join(h);

	/* Read-held by another thread. */
	h = spawn(holder, (void *)0L);
	sem_wait(&held);
	expect_timeout(1, 0, 0, "timedwrlock (read-held)");
	expect_timeout(1, 1, CLOCK_MONOTONIC, "clockwrlock(CLOCK_MONOTONIC) (read-held)");
	CHECK(timed(0, 0, 0, 1000, &dl) == 0, "timedrdlock on a read-held lock failed");
	CHECK(timed(0, 1, CLOCK_MONOTONIC, 1000, &dl) == 0, "clockrdlock on a read-held lock failed");
	sem_post(&release);
	join(h);

	/* Released before the deadline. */
	for (int write = 0; write < 2; write++)
		for (int clockfn = 0; clockfn < 2; clockfn++) {
			h = spawn(holder, (void *)3L); /* write-held for 20 ms */
			sem_wait(&held);
			int64_t t0 = now_ns(CLOCK_MONOTONIC);
			int rc = timed(write, clockfn, CLOCK_MONOTONIC, 20000, &dl);
			CHECK(rc == 0, "%s%slock on a lock released after 20 ms returned %s", clockfn ? "clock" : "timed", write ? "wr" : "rd", err_name(rc));
			CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 10 * NSEC_PER_SEC, "timed lock took over 10 s for a lock released after 20 ms");
			join(h);
		}

	/* Owner relocking. */
	CHECK_RC(pthread_rwlock_wrlock(&rw), 0);
	dl = deadline_in(CLOCK_REALTIME, 10);
	CHECK_RC(pthread_rwlock_timedrdlock(&rw, &dl), EDEADLK);
	CHECK_RC(pthread_rwlock_timedwrlock(&rw, &dl), EDEADLK);
	CHECK_RC(pthread_rwlock_unlock(&rw), 0);

	CHECK_RC(pthread_rwlock_destroy(&rw), 0);
	return test_pass();
}
