/*
 * mutex_types: behaviour of each mutex type, exactly as glibc 2.36 reports
 * it.
 *   normal (default):  trylock by owner EBUSY; trylock by other EBUSY
 *   recursive:         relock/trylock/timedlock by owner succeed and nest;
 *                      unlock by non-owner EPERM; unlock when unlocked EPERM;
 *                      other thread gets the lock only after the last unlock
 *   errorcheck:        lock/timedlock by owner EDEADLK; trylock by owner
 *                      EBUSY; unlock by non-owner EPERM; unlock when
 *                      unlocked EPERM
 *   adaptive (_NP):    lock/unlock/trylock like normal
 *   all:               pthread_mutex_destroy of a locked mutex -> EBUSY;
 *                      of an unlocked one -> 0; re-init after destroy works;
 *                      pthread_mutex_consistent on a non-robust mutex EINVAL
 *   a lock held by one thread blocks another until released (handoff with
 *   a flag written under the lock)
 */
#include "common.h"

static pthread_mutex_t *gm;

static void *other_trylock(void *arg)
{
	int rc = pthread_mutex_trylock(gm);
	if (rc == 0)
		pthread_mutex_unlock(gm);
	return (void *)(long)rc;
}

static void *other_unlock(void *arg)
{
	return (void *)(long)pthread_mutex_unlock(gm);
}

static void *other_lock_unlock(void *arg)
{
	int rc = pthread_mutex_lock(gm);
	if (rc == 0) {
		int *flag = arg;
		if (flag)
			STORE(flag, 2);
		rc = pthread_mutex_unlock(gm);
	}
	return (void *)(long)rc;
}

/* Run fn in a new thread on m, return its result. */
static int in_other(void *(*fn)(void *), pthread_mutex_t *m)
{
	gm = m;
	return (int)(long)join(spawn(fn, NULL));
}

static void init_type(pthread_mutex_t *m, int type)
{
	pthread_mutexattr_t a;
	CHECK_RC(pthread_mutexattr_init(&a), 0);
	CHECK_RC(pthread_mutexattr_settype(&a, type), 0);
	int got;
	CHECK_RC(pthread_mutexattr_gettype(&a, &got), 0);
	CHECK(got == type, "mutexattr type read back %d, expected %d", got, type);
	CHECK_RC(pthread_mutex_init(m, &a), 0);
	CHECK_RC(pthread_mutexattr_destroy(&a), 0);
}

/* The lock excludes another thread until the owner's (last) unlock. */
static void check_blocks_other(pthread_mutex_t *m, int depth, const char *what)
{
	static int flag;
	STORE(&flag, 0);
	for (int i = 0; i < depth; i++)
		CHECK_RC(pthread_mutex_lock(m), 0);
	gm = m;
	pthread_t t = spawn(other_lock_unlock, &flag);
	sleep_ms(20);
	for (int i = 0; i < depth; i++) {
		CHECK(LOAD(&flag) == 0, "%s: other thread got the lock while owner still held it (%d of %d unlocks done)", what, i, depth);
		CHECK_RC(pthread_mutex_unlock(m), 0);
	}
	CHECK(join(t) == (void *)0, "%s: other thread's lock/unlock failed", what);
	CHECK(LOAD(&flag) == 2, "%s: other thread never got the lock", what);
}

int main(void)
{
	test_begin();
	pthread_mutex_t m;
	struct timespec dl;

	/* Attribute defaults and invalid values. */
	pthread_mutexattr_t a;
	int v;
	CHECK_RC(pthread_mutexattr_init(&a), 0);
	CHECK_RC(pthread_mutexattr_gettype(&a, &v), 0);
	CHECK(v == PTHREAD_MUTEX_DEFAULT && v == PTHREAD_MUTEX_NORMAL, "default mutex type %d", v);
	CHECK_RC(pthread_mutexattr_settype(&a, 12345), EINVAL);
	CHECK_RC(pthread_mutexattr_destroy(&a), 0);

	/* normal */
	init_type(&m, PTHREAD_MUTEX_NORMAL);
	CHECK_RC(pthread_mutex_lock(&m), 0);
	CHECK_RC(pthread_mutex_trylock(&m), EBUSY);
	CHECK(in_other(other_trylock, &m) == EBUSY, "normal: trylock by other thread did not give EBUSY");
	CHECK_RC(pthread_mutex_destroy(&m), EBUSY);
	CHECK_RC(pthread_mutex_unlock(&m), 0);
	CHECK_RC(pthread_mutex_trylock(&m), 0);
	CHECK_RC(pthread_mutex_unlock(&m), 0);
	CHECK(in_other(other_trylock, &m) == 0, "normal: trylock by other thread on a free mutex failed");
	check_blocks_other(&m, 1, "normal");
	CHECK_RC(pthread_mutex_consistent(&m), EINVAL);
	CHECK_RC(pthread_mutex_destroy(&m), 0);
	init_type(&m, PTHREAD_MUTEX_DEFAULT); /* re-init after destroy */
	check_blocks_other(&m, 1, "default (re-initialised)");
	CHECK_RC(pthread_mutex_destroy(&m), 0);

	/* recursive */
	init_type(&m, PTHREAD_MUTEX_RECURSIVE);
	CHECK_RC(pthread_mutex_unlock(&m), EPERM);
	CHECK_RC(pthread_mutex_lock(&m), 0);
	CHECK_RC(pthread_mutex_lock(&m), 0);
	CHECK_RC(pthread_mutex_trylock(&m), 0);
	dl = deadline_in(CLOCK_REALTIME, 10);
	CHECK_RC(pthread_mutex_timedlock(&m, &dl), 0);
	CHECK(in_other(other_trylock, &m) == EBUSY, "recursive: trylock by other thread did not give EBUSY");
	CHECK(in_other(other_unlock, &m) == EPERM, "recursive: unlock by non-owner did not give EPERM");
	CHECK_RC(pthread_mutex_destroy(&m), EBUSY);
	for (int i = 0; i < 3; i++)
		CHECK_RC(pthread_mutex_unlock(&m), 0);
	CHECK(in_other(other_trylock, &m) == EBUSY, "recursive: other thread got the lock before the last unlock");
	CHECK_RC(pthread_mutex_unlock(&m), 0);
	CHECK_RC(pthread_mutex_unlock(&m), EPERM);
	CHECK(in_other(other_trylock, &m) == 0, "recursive: other thread cannot take the lock after the last unlock");
	check_blocks_other(&m, 5, "recursive depth 5");
	CHECK_RC(pthread_mutex_destroy(&m), 0);

	/* errorcheck */
	init_type(&m, PTHREAD_MUTEX_ERRORCHECK);
	CHECK_RC(pthread_mutex_unlock(&m), EPERM);
	CHECK_RC(pthread_mutex_lock(&m), 0);
	CHECK_RC(pthread_mutex_lock(&m), EDEADLK);
	CHECK_RC(pthread_mutex_trylock(&m), EBUSY);
	dl = deadline_in(CLOCK_REALTIME, 10);
	CHECK_RC(pthread_mutex_timedlock(&m, &dl), EDEADLK);
	dl = deadline_in(CLOCK_MONOTONIC, 10);
	CHECK_RC(pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &dl), EDEADLK);
	CHECK(in_other(other_unlock, &m) == EPERM, "errorcheck: unlock by non-owner did not give EPERM");
	CHECK(in_other(other_trylock, &m) == EBUSY, "errorcheck: trylock by other thread did not give EBUSY");
	CHECK_RC(pthread_mutex_destroy(&m), EBUSY);
	CHECK_RC(pthread_mutex_unlock(&m), 0);
	CHECK_RC(pthread_mutex_unlock(&m), EPERM);
	check_blocks_other(&m, 1, "errorcheck");
	CHECK_RC(pthread_mutex_destroy(&m), 0);

	/* adaptive */
	init_type(&m, PTHREAD_MUTEX_ADAPTIVE_NP);
	CHECK_RC(pthread_mutex_lock(&m), 0);
	CHECK_RC(pthread_mutex_trylock(&m), EBUSY);
	CHECK(in_other(other_trylock, &m) == EBUSY, "adaptive: trylock by other thread did not give EBUSY");
	CHECK_RC(pthread_mutex_destroy(&m), EBUSY);
	CHECK_RC(pthread_mutex_unlock(&m), 0);
	check_blocks_other(&m, 1, "adaptive");
	CHECK_RC(pthread_mutex_destroy(&m), 0);

	/* NULL attributes = default type. */
	CHECK_RC(pthread_mutex_init(&m, NULL), 0);
	CHECK_RC(pthread_mutex_lock(&m), 0);
	CHECK_RC(pthread_mutex_trylock(&m), EBUSY);
	CHECK_RC(pthread_mutex_unlock(&m), 0);
	CHECK_RC(pthread_mutex_destroy(&m), 0);

	return test_pass();
}
