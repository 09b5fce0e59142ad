/*
 * mutex_init: mutexes that were never passed to pthread_mutex_init, and
 * the less common attributes.
 *   - PTHREAD_MUTEX_INITIALIZER: normal (trylock by owner EBUSY)
 *   - PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP: recursive (nests; unlock when
 *     unlocked EPERM)
 *   - PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP: errorcheck (relock EDEADLK,
 *     unlock by non-owner EPERM)
 *   - PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP: adaptive (trylock EBUSY)
 *   - an all-zero mutex (static storage, memset, calloc) is an unlocked
 *     normal mutex; likewise a zeroed condvar and rwlock work
 *   - attributes: robust (PTHREAD_MUTEX_ROBUST) and priority protocol
 *     (PTHREAD_PRIO_INHERIT) mutexes lock/unlock/trylock normally and a
 *     non-owner unlock is EPERM; PTHREAD_PRIO_PROTECT and prioceiling are
 *     stored and read back (prioceiling outside the SCHED_FIFO range is
 *     EINVAL); pshared is stored and read back; invalid values -> EINVAL
 */
#include "common.h"

static pthread_mutex_t s_normal = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t s_recursive = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static pthread_mutex_t s_errorcheck = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
static pthread_mutex_t s_adaptive = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
static pthread_mutex_t s_zero;       /* zero-filled by the loader */
static pthread_cond_t s_zero_cond;
static pthread_rwlock_t s_zero_rw;

static pthread_mutex_t *gm;

static void *other_unlock(void *arg) { return (void *)(long)pthread_mutex_unlock(gm); }
static void *other_trylock(void *arg)
{
	int rc = pthread_mutex_trylock(gm);
	if (rc == 0)
		pthread_mutex_unlock(gm);
	return (void *)(long)rc;
}
static int in_other(void *(*fn)(void *), pthread_mutex_t *m)
{
	gm = m;
	return (int)(long)join(spawn(fn, NULL));
}

static void check_normal(pthread_mutex_t *m, const char *what)
{
	CHECK_RC(pthread_mutex_trylock(m), 0);
	CHECK(in_other(other_trylock, m) == EBUSY, "%s: trylock by other thread on a locked mutex did not give EBUSY", what);
	CHECK_RC(pthread_mutex_trylock(m), EBUSY);
	CHECK_RC(pthread_mutex_unlock(m), 0);
	CHECK_RC(pthread_mutex_lock(m), 0);
	CHECK_RC(pthread_mutex_unlock(m), 0);
	CHECK(in_other(other_trylock, m) == 0, "%s: trylock by other thread on a free mutex failed", what);
}

static pthread_cond_t *gc;
static int cond_flag;
static void *cond_setter(void *arg)
{
	sleep_ms(5);
	pthread_mutex_lock(gm);
	cond_flag = 1;
	pthread_cond_signal(gc);
	pthread_mutex_unlock(gm);
	return NULL;
}

static void check_cond(pthread_cond_t *c, pthread_mutex_t *m, const char *what)
{
	gm = m;
	gc = c;
	cond_flag = 0;
	pthread_t t = spawn(cond_setter, NULL);
	struct timespec dl = deadline_in(CLOCK_REALTIME, 10000);
	CHECK_RC(pthread_mutex_lock(m), 0);
	while (!cond_flag)
		CHECK_RC(pthread_cond_timedwait(c, m, &dl), 0);
	CHECK_RC(pthread_mutex_unlock(m), 0);
	join(t);
	dl = deadline_in(CLOCK_REALTIME, 5);
	CHECK_RC(pthread_mutex_lock(m), 0);
	CHECK_RC(pthread_cond_timedwait(c, m, &dl), ETIMEDOUT);
	CHECK_RC(pthread_mutex_unlock(m), 0);
	(void)what;
}

static void check_rwlock(pthread_rwlock_t *rw)
{
	CHECK_RC(pthread_rwlock_rdlock(rw), 0);
	CHECK_RC(pthread_rwlock_tryrdlock(rw), 0);
	CHECK_RC(pthread_rwlock_trywrlock(rw), EBUSY);
	CHECK_RC(pthread_rwlock_unlock(rw), 0);
	CHECK_RC(pthread_rwlock_unlock(rw), 0);
	CHECK_RC(pthread_rwlock_wrlock(rw), 0);
	CHECK_RC(pthread_rwlock_tryrdlock(rw), EBUSY);
	CHECK_RC(pthread_rwlock_unlock(rw), 0);
	CHECK_RC(pthread_rwlock_trywrlock(rw), 0);
	CHECK_RC(pthread_rwlock_unlock(rw), 0);
}

static pthread_mutex_t make(int type, int proto, int robust)
{
	pthread_mutexattr_t a;
	pthread_mutex_t m;
	CHECK_RC(pthread_mutexattr_init(&a), 0);
	CHECK_RC(pthread_mutexattr_settype(&a, type), 0);
	CHECK_RC(pthread_mutexattr_setprotocol(&a, proto), 0);
	CHECK_RC(pthread_mutexattr_setrobust(&a, robust), 0);
	int v;
	CHECK_RC(pthread_mutexattr_getprotocol(&a, &v), 0);
	CHECK(v == proto, "protocol read back %d, expected %d", v, proto);
	CHECK_RC(pthread_mutexattr_getrobust(&a, &v), 0);
	CHECK(v == robust, "robustness read back %d, expected %d", v, robust);
	CHECK_RC(pthread_mutex_init(&m, &a), 0);
	CHECK_RC(pthread_mutexattr_destroy(&a), 0);
	return m;
}

int main(void)
{
	test_begin();

	check_normal(&s_normal, "PTHREAD_MUTEX_INITIALIZER");

	CHECK_RC(pthread_mutex_lock(&s_recursive), 0);
	CHECK_RC(pthread_mutex_lock(&s_recursive), 0);
	CHECK_RC(pthread_mutex_trylock(&s_recursive), 0);
	CHECK(in_other(other_trylock, &s_recursive) == EBUSY, "recursive initializer: other thread got the lock");
	CHECK(in_other(other_unlock, &s_recursive) == EPERM, "recursive initializer: unlock by non-owner not EPERM");
	for (int i = 0; i < 3; i++)
		CHECK_RC(pthread_mutex_unlock(&s_recursive), 0);
	CHECK_RC(pthread_mutex_unlock(&s_recursive), EPERM);

	CHECK_RC(pthread_mutex_lock(&s_errorcheck), 0);
	CHECK_RC(pthread_mutex_lock(&s_errorcheck), EDEADLK);
	CHECK_RC(pthread_mutex_trylock(&s_errorcheck), EBUSY);
	CHECK(in_other(other_unlock, &s_errorcheck) == EPERM, "errorcheck initializer: unlock by non-owner not EPERM");
	CHECK_RC(pthread_mutex_unlock(&s_errorcheck), 0);
	CHECK_RC(pthread_mutex_unlock(&s_errorcheck), EPERM);

	check_normal(&s_adaptive, "PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP");

	/* Zero-filled objects. */
	check_normal(&s_zero, "static zero-filled mutex");
	pthread_mutex_t stack_zero;
	memset(&stack_zero, 0, sizeof stack_zero);
	check_normal(&stack_zero, "memset-0 mutex");
	struct { pthread_mutex_t m; pthread_cond_t c; pthread_rwlock_t rw; } *heap = calloc(1, sizeof *heap);
	check_normal(&heap->m, "calloc'd mutex");
	check_cond(&s_zero_cond, &s_zero, "static zero-filled condvar");
	check_cond(&heap->c, &heap->m, "calloc'd condvar");
	check_rwlock(&s_zero_rw);
	check_rwlock(&heap->rw);
	free(heap);

	/* Robust and priority-inheritance mutexes, plain use. */
	pthread_mutex_t m = make(PTHREAD_MUTEX_NORMAL, PTHREAD_PRIO_NONE, PTHREAD_MUTEX_ROBUST);
	check_normal(&m, "robust mutex");
	CHECK_RC(pthread_mutex_lock(&m), 0);
	CHECK(in_other(other_unlock, &m) == EPERM, "robust mutex: unlock by non-owner not EPERM");
	CHECK_RC(pthread_mutex_unlock(&m), 0);
	CHECK_RC(pthread_mutex_consistent(&m), EINVAL); /* not inconsistent */
	CHECK_RC(pthread_mutex_destroy(&m), 0);

	m = make(PTHREAD_MUTEX_NORMAL, PTHREAD_PRIO_INHERIT, PTHREAD_MUTEX_STALLED);
	check_normal(&m, "priority-inheritance mutex");
	CHECK_RC(pthread_mutex_lock(&m), 0);
	CHECK(in_other(other_unlock, &m) == EPERM, "PI mutex: unlock by non-owner not EPERM");
	CHECK_RC(pthread_mutex_unlock(&m), 0);
	CHECK_RC(pthread_mutex_destroy(&m), 0);

	m = make(PTHREAD_MUTEX_RECURSIVE, PTHREAD_PRIO_INHERIT, PTHREAD_MUTEX_ROBUST);
	CHECK_RC(pthread_mutex_lock(&m), 0);
	CHECK_RC(pthread_mutex_lock(&m), 0);
	CHECK(in_other(other_trylock, &m) == EBUSY, "recursive robust PI mutex: other thread got the lock");
	CHECK_RC(pthread_mutex_unlock(&m), 0);
	CHECK_RC(pthread_mutex_unlock(&m), 0);
	CHECK_RC(pthread_mutex_unlock(&m), EPERM);
	CHECK_RC(pthread_mutex_destroy(&m), 0);

	m = make(PTHREAD_MUTEX_ERRORCHECK, PTHREAD_PRIO_NONE, PTHREAD_MUTEX_ROBUST);
	CHECK_RC(pthread_mutex_lock(&m), 0);
	CHECK_RC(pthread_mutex_lock(&m), EDEADLK);
	CHECK_RC(pthread_mutex_trylock(&m), EDEADLK); /* robust errorcheck: EDEADLK, not EBUSY */
	CHECK_RC(pthread_mutex_unlock(&m), 0);
	CHECK_RC(pthread_mutex_destroy(&m), 0);

	/* Attribute values. */
	pthread_mutexattr_t a;
	int v;
	CHECK_RC(pthread_mutexattr_init(&a), 0);
	CHECK_RC(pthread_mutexattr_getprotocol(&a, &v), 0);
	CHECK(v == PTHREAD_PRIO_NONE, "default protocol %d", v);
	CHECK_RC(pthread_mutexattr_getrobust(&a, &v), 0);
	CHECK(v == PTHREAD_MUTEX_STALLED, "default robustness %d", v);
	CHECK_RC(pthread_mutexattr_getpshared(&a, &v), 0);
	CHECK(v == PTHREAD_PROCESS_PRIVATE, "default pshared %d", v);
	CHECK_RC(pthread_mutexattr_setprotocol(&a, 12345), EINVAL);
	CHECK_RC(pthread_mutexattr_setrobust(&a, 12345), EINVAL);
	CHECK_RC(pthread_mutexattr_setpshared(&a, 12345), EINVAL);
	CHECK_RC(pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED), 0);
	CHECK_RC(pthread_mutexattr_getpshared(&a, &v), 0);
	CHECK(v == PTHREAD_PROCESS_SHARED, "pshared read back %d", v);
	CHECK_RC(pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_PROTECT), 0);
	CHECK_RC(pthread_mutexattr_getprotocol(&a, &v), 0);
	CHECK(v == PTHREAD_PRIO_PROTECT, "protocol read back %d", v);
	int lo = sched_get_priority_min(SCHED_FIFO), hi = sched_get_priority_max(SCHED_FIFO);
	CHECK_RC(pthread_mutexattr_setprioceiling(&a, lo - 1), EINVAL);
	CHECK_RC(pthread_mutexattr_setprioceiling(&a, hi + 1), EINVAL);
	CHECK_RC(pthread_mutexattr_setprioceiling(&a, lo + 9), 0);
	CHECK_RC(pthread_mutexattr_getprioceiling(&a, &v), 0);
	CHECK(v == lo + 9, "prioceiling read back %d, expected %d", v, lo + 9);
	CHECK_RC(pthread_mutex_init(&m, &a), 0);
	CHECK_RC(pthread_mutex_getprioceiling(&m, &v), 0);
	CHECK(v == lo + 9, "mutex prioceiling %d, expected %d", v, lo + 9);
	CHECK_RC(pthread_mutex_destroy(&m), 0);
	CHECK_RC(pthread_mutexattr_destroy(&a), 0);

	return test_pass();
}
