/*
 * mutex_timed: pthread_mutex_timedlock and pthread_mutex_clocklock.
 * With the mutex held by another thread, for each type (normal, recursive,
 * errorcheck, adaptive, priority-inheritance):
 *   - timedlock (CLOCK_REALTIME deadline) -> ETIMEDOUT, not before the
 *     deadline, not absurdly late
 *   - clocklock with CLOCK_MONOTONIC and with CLOCK_REALTIME -> same, on
 *     that clock
 *   - a deadline already past -> ETIMEDOUT
 *   - tv_nsec >= 1e9 -> EINVAL (a valid-looking but bad timeout is checked
 *     once the call would block); on a free mutex the lock succeeds
 *   - an unsupported clock (CLOCK_PROCESS_CPUTIME_ID) -> EINVAL
 *   - a timed lock that the holder releases before the deadline -> 0 soon
 *     after the release
 * Non-PI only (the kernel's PI path gives EINVAL instead): tv_sec < 0 ->
 * ETIMEDOUT.
 */
#include "common.h"
#include <semaphore.h>

static pthread_mutex_t *gm;
static sem_t locked, release;

static void *holder(void *arg)
{
	long hold_ms = (long)arg;
	CHECK_RC(pthread_mutex_lock(gm), 0);
	sem_post(&locked);
	if (hold_ms)
		sleep_ms(hold_ms);
	else
		sem_wait(&release);
	CHECK_RC(pthread_mutex_unlock(gm), 0);
	return NULL;
}

static void run(const char *name, int type, int proto)
{
	pthread_mutexattr_t a;
	pthread_mutex_t m;
	char what[128];
	CHECK_RC(pthread_mutexattr_init(&a), 0);
	CHECK_RC(pthread_mutexattr_settype(&a, type), 0);
	CHECK_RC(pthread_mutexattr_setprotocol(&a, proto), 0);
	CHECK_RC(pthread_mutex_init(&m, &a), 0);
	pthread_mutexattr_destroy(&a);
	gm = &m;

	/* Free mutex: a bad tv_nsec is not looked at. */
	struct timespec dl = {.tv_sec = 0, .tv_nsec = NSEC_PER_SEC};
	CHECK_RC(pthread_mutex_timedlock(&m, &dl), 0);
	CHECK_RC(pthread_mutex_unlock(&m), 0);
	dl = deadline_in(CLOCK_MONOTONIC, 10);
	CHECK_RC(pthread_mutex_clocklock(&m, CLOCK_PROCESS_CPUTIME_ID, &dl), EINVAL);
	CHECK_RC(pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &dl), 0);
	CHECK_RC(pthread_mutex_unlock(&m), 0);

	pthread_t h = spawn(holder, NULL);
	sem_wait(&locked);

	dl = deadline_in(CLOCK_REALTIME, 40);
	CHECK_RC(pthread_mutex_timedlock(&m, &dl), ETIMEDOUT);
	snprintf(what, sizeof what, "%s: pthread_mutex_timedlock", name);
	check_deadline_wait(CLOCK_REALTIME, &dl, 2000, what);

	dl = deadline_in(CLOCK_MONOTONIC, 40);
	CHECK_RC(pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
	snprintf(what, sizeof what, "%s: pthread_mutex_clocklock(CLOCK_MONOTONIC)", name);
	check_deadline_wait(CLOCK_MONOTONIC, &dl, 2000, what);

	dl = deadline_in(CLOCK_REALTIME, 40);
	CHECK_RC(pthread_mutex_clocklock(&m, CLOCK_REALTIME, &dl), ETIMEDOUT);
	snprintf(what, sizeof what, "%s: pthread_mutex_clocklock(CLOCK_REALTIME)", name);
	check_deadline_wait(CLOCK_REALTIME, &dl, 2000, what);

	dl = deadline_in(CLOCK_REALTIME, -1000);
	CHECK_RC(pthread_mutex_timedlock(&m, &dl), ETIMEDOUT);
	dl = deadline_in(CLOCK_MONOTONIC, -1000);
	CHECK_RC(pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
	dl.tv_sec = 0;
	dl.tv_nsec = 0;
	CHECK_RC(pthread_mutex_timedlock(&m, &dl), ETIMEDOUT);
	if (proto != PTHREAD_PRIO_INHERIT) {
		dl.tv_sec = -1;
		CHECK_RC(pthread_mutex_timedlock(&m, &dl), ETIMEDOUT);
	}
	dl = deadline_in(CLOCK_REALTIME, 1000);
	dl.tv_nsec = NSEC_PER_SEC;
	CHECK_RC(pthread_mutex_timedlock(&m, &dl), EINVAL);
	dl.tv_nsec = -1;
	CHECK_RC(pthread_mutex_timedlock(&m, &dl), EINVAL);
	dl = deadline_in(CLOCK_MONOTONIC, 10);
	CHECK_RC(pthread_mutex_clocklock(&m, CLOCK_THREAD_CPUTIME_ID, &dl), EINVAL);
	CHECK_RC(pthread_mutex_trylock(&m), EBUSY);

	sem_post(&release);
	join(h);

	/* Released before the deadline: acquired. */
	h = spawn(holder, (void *)20L);
	sem_wait(&locked);
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	dl = deadline_in(CLOCK_REALTIME, 20000);
	CHECK_RC(pthread_mutex_timedlock(&m, &dl), 0);
	int64_t took = now_ns(CLOCK_MONOTONIC) - t0;
	CHECK(took < 10 * NSEC_PER_SEC, "%s: timedlock took %.3f s for a lock released after 20 ms", name, took / 1e9);
	CHECK_RC(pthread_mutex_unlock(&m), 0);
	join(h);
	h = spawn(holder, (void *)20L);
	sem_wait(&locked);
	dl = deadline_in(CLOCK_MONOTONIC, 20000);
	CHECK_RC(pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &dl), 0);
	CHECK_RC(pthread_mutex_unlock(&m), 0);
	join(h);

	CHECK_RC(pthread_mutex_destroy(&m), 0);
}

int main(void)
{
	test_begin();
	sem_init(&locked, 0, 0);
	sem_init(&release, 0, 0);
	run("normal", PTHREAD_MUTEX_NORMAL, PTHREAD_PRIO_NONE);
	run("recursive", PTHREAD_MUTEX_RECURSIVE, PTHREAD_PRIO_NONE);
	run("errorcheck", PTHREAD_MUTEX_ERRORCHECK, PTHREAD_PRIO_NONE);
	run("adaptive", PTHREAD_MUTEX_ADAPTIVE_NP, PTHREAD_PRIO_NONE);
	run("normal+prio-inherit", PTHREAD_MUTEX_NORMAL, PTHREAD_PRIO_INHERIT);
	return test_pass();
}
