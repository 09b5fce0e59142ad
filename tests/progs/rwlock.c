/*
 * rwlock: reader-writer locks.
 *   - readers hold the lock concurrently: 4 readers all inside at once
 *     (each waits, bounded, until it sees the others inside)
 *   - writers exclude readers and each other: 2 writers + 4 readers loop,
 *     an (a, b) pair written under wrlock is never seen torn, and the
 *     in-section counts never show a writer alongside anyone
 *   - try*: read-held -> other tryrdlock 0, trywrlock EBUSY; write-held ->
 *     tryrdlock/trywrlock EBUSY (also from the owner)
 *   - the write owner relocking: rdlock / wrlock -> EDEADLK
 *   - default kind (prefer readers): a read-held lock still grants
 *     tryrdlock while a writer waits
 *   - PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP (setkind_np): once a
 *     writer waits, new read attempts fail (tryrdlock EBUSY, timedrdlock
 *     ETIMEDOUT) until the writer has had its turn
 *   - attributes: kind and pshared round trip, invalid -> EINVAL;
 *     PTHREAD_RWLOCK_INITIALIZER works
 */
#include "common.h"

static pthread_rwlock_t rw;
static pthread_rwlock_t srw = PTHREAD_RWLOCK_INITIALIZER;

/* ---- concurrent readers ---- */
#define READERS 4
static int inside, peak;

static void *reader_together(void *arg)
{
	CHECK_RC(pthread_rwlock_rdlock(&rw), 0);
	int n = ADD(&inside, 1);
	int p;
	while ((p = LOAD(&peak)) < n && !__atomic_compare_exchange_n(&peak, &p, n, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
	WAIT_FOR(LOAD(&peak) == READERS, 10000, "all readers inside the read lock at once");
	ADD(&inside, -1);
	CHECK_RC(pthread_rwlock_unlock(&rw), 0);
	return NULL;
}

/* ---- exclusion ---- */
static volatile long pa, pb;
static int readers_in, writers_in, violations, torn;

static void *excl_writer(void *arg)
{
	for (int i = 0; i < 3000; i++) {
		CHECK_RC(pthread_rwlock_wrlock(&rw), 0);
		if (ADD(&writers_in, 1) != 1 || LOAD(&readers_in) != 0)
			ADD(&violations, 1);
		pa = pa + 1;
		sched_yield();
		pb = pb + 1;
		ADD(&writers_in, -1);
		CHECK_RC(pthread_rwlock_unlock(&rw), 0);
	}
	return NULL;
}

static void *excl_reader(void *arg)
{
	for (int i = 0; i < 3000; i++) {
		CHECK_RC(pthread_rwlock_rdlock(&rw), 0);
		ADD(&readers_in, 1);
		if (LOAD(&writers_in) != 0)
			ADD(&violations, 1);
		if (pa != pb)
			ADD(&torn, 1);
		ADD(&readers_in, -1);
		CHECK_RC(pthread_rwlock_unlock(&rw), 0);
	}
	return NULL;
}

/* ---- helpers run in another thread ---- */
static pthread_rwlock_t *grw;
static void *other_tryrd(void *arg)
{
	int rc = pthread_rwlock_tryrdlock(grw);
	if (rc == 0)
		pthread_rwlock_unlock(grw);
	return (void *)(long)rc;
}
static void *other_trywr(void *arg)
{
	int rc = pthread_rwlock_trywrlock(grw);
	if (rc == 0)
		pthread_rwlock_unlock(grw);
	return (void *)(long)rc;
}
static void *other_timedrd(void *arg)
{
	struct timespec dl = deadline_in(CLOCK_REALTIME, 30);
	int rc = pthread_rwlock_timedrdlock(grw, &dl);
	if (rc == 0)
		pthread_rwlock_unlock(grw);
	return (void *)(long)rc;
}
static int in_other(void *(*fn)(void *), pthread_rwlock_t *l)
{
	grw = l;
	return (int)(long)join(spawn(fn, NULL));
}

static int writer_got;
static void *waiting_writer(void *arg)
{
	CHECK_RC(pthread_rwlock_wrlock(grw), 0);
	STORE(&writer_got, 1);
	CHECK_RC(pthread_rwlock_unlock(grw), 0);
	return NULL;
}

static void check_try(pthread_rwlock_t *l, const char *what)
{
	CHECK_RC(pthread_rwlock_rdlock(l), 0);
	CHECK(in_other(other_tryrd, l) == 0, "%s: read-held: other thread's tryrdlock failed", what);
	CHECK(in_other(other_trywr, l) == EBUSY, "%s: read-held: other thread's trywrlock not EBUSY", what);
	CHECK_RC(pthread_rwlock_trywrlock(l), EBUSY);
	CHECK_RC(pthread_rwlock_unlock(l), 0);
	CHECK_RC(pthread_rwlock_wrlock(l), 0);
	CHECK(in_other(other_tryrd, l) == EBUSY, "%s: write-held: other thread's tryrdlock not EBUSY", what);
	CHECK(in_other(other_trywr, l) == EBUSY, "%s: write-held: other thread's trywrlock not EBUSY", what);
	CHECK_RC(pthread_rwlock_tryrdlock(l), EBUSY);
	CHECK_RC(pthread_rwlock_trywrlock(l), EBUSY);
	CHECK_RC(pthread_rwlock_rdlock(l), EDEADLK);
	CHECK_RC(pthread_rwlock_wrlock(l), EDEADLK);
	CHECK_RC(pthread_rwlock_unlock(l), 0);
	CHECK(in_other(other_trywr, l) == 0, "%s: free: other thread's trywrlock failed", what);
}

int main(void)
{
	test_begin();
	CHECK_RC(pthread_rwlock_init(&rw, NULL), 0);

	pthread_t t[8];
	for (int i = 0; i < READERS; i++)
		t[i] = spawn(reader_together, NULL);
	for (int i = 0; i < READERS; i++)
		join(t[i]);
	CHECK(peak == READERS, "peak simultaneous readers %d, expected %d", peak, READERS);

	for (int i = 0; i < 2; i++)
		t[i] = spawn(excl_writer, NULL);
	for (int i = 2; i < 6; i++)
		t[i] = spawn(excl_reader, NULL);
	for (int i = 0; i < 6; i++)
		join(t[i]);
	CHECK(violations == 0, "%d times a writer was inside together with another thread", violations);
	CHECK(torn == 0, "readers saw a half-written pair %d times", torn);
	CHECK(pa == 6000 && pb == 6000, "writers' pair is (%ld, %ld), expected (6000, 6000)", pa, pb);

	check_try(&rw, "default rwlock");
	check_try(&srw, "PTHREAD_RWLOCK_INITIALIZER");

	/* Recursive read locking (default kind). */
	CHECK_RC(pthread_rwlock_rdlock(&rw), 0);
	CHECK_RC(pthread_rwlock_rdlock(&rw), 0);
	CHECK_RC(pthread_rwlock_tryrdlock(&rw), 0);
	CHECK_RC(pthread_rwlock_unlock(&rw), 0);
	CHECK_RC(pthread_rwlock_unlock(&rw), 0);
	CHECK(in_other(other_trywr, &rw) == EBUSY, "still read-held once: trywrlock succeeded");
	CHECK_RC(pthread_rwlock_unlock(&rw), 0);

	/* Attributes. */
	pthread_rwlockattr_t a;
	int v;
	CHECK_RC(pthread_rwlockattr_init(&a), 0);
	CHECK_RC(pthread_rwlockattr_getkind_np(&a, &v), 0);
	CHECK(v == PTHREAD_RWLOCK_PREFER_READER_NP, "default rwlock kind %d", v);
	CHECK_RC(pthread_rwlockattr_getpshared(&a, &v), 0);
	CHECK(v == PTHREAD_PROCESS_PRIVATE, "default rwlock pshared %d", v);
	CHECK_RC(pthread_rwlockattr_setkind_np(&a, 12345), EINVAL);
	CHECK_RC(pthread_rwlockattr_setpshared(&a, 12345), EINVAL);
	CHECK_RC(pthread_rwlockattr_setpshared(&a, PTHREAD_PROCESS_SHARED), 0);
	CHECK_RC(pthread_rwlockattr_getpshared(&a, &v), 0);
	CHECK(v == PTHREAD_PROCESS_SHARED, "rwlock pshared read back %d", v);
	CHECK_RC(pthread_rwlockattr_setpshared(&a, PTHREAD_PROCESS_PRIVATE), 0);
	CHECK_RC(pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP), 0);
	CHECK_RC(pthread_rwlockattr_getkind_np(&a, &v), 0);
	CHECK(v == PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP, "rwlock kind read back %d", v);

	/* Default kind: a waiting writer does not stop new readers. */
	CHECK_RC(pthread_rwlock_rdlock(&rw), 0);
	grw = &rw;
	STORE(&writer_got, 0);
	pthread_t w = spawn(waiting_writer, NULL);
	sleep_ms(30);
	CHECK(in_other(other_tryrd, &rw) == 0, "prefer-reader: tryrdlock refused while read-held (writer waiting)");
	CHECK_RC(pthread_rwlock_tryrdlock(&rw), 0);
	CHECK_RC(pthread_rwlock_unlock(&rw), 0);
	CHECK(!LOAD(&writer_got), "writer got a read-held lock");
	CHECK_RC(pthread_rwlock_unlock(&rw), 0);
	join(w);
	CHECK(LOAD(&writer_got), "writer never got the lock");

	/* Prefer writer, non-recursive. */
	pthread_rwlock_t pw;
	CHECK_RC(pthread_rwlock_init(&pw, &a), 0);
	CHECK_RC(pthread_rwlockattr_destroy(&a), 0);
	check_try(&pw, "prefer-writer rwlock");
	CHECK_RC(pthread_rwlock_rdlock(&pw), 0);
	grw = &pw;
	STORE(&writer_got, 0);
	w = spawn(waiting_writer, NULL);
	/* Poll until the writer is queued: from then on, readers are refused. */
	int64_t end = now_ns(CLOCK_MONOTONIC) + 10 * NSEC_PER_SEC;
	while (in_other(other_tryrd, &pw) == 0) {
		CHECK(now_ns(CLOCK_MONOTONIC) < end, "prefer-writer: new readers still admitted 10 s after a writer started waiting");
		sleep_ms(1);
	}
	CHECK(in_other(other_tryrd, &pw) == EBUSY, "prefer-writer: tryrdlock with a writer waiting not EBUSY");
	CHECK(in_other(other_timedrd, &pw) == ETIMEDOUT, "prefer-writer: timedrdlock with a writer waiting not ETIMEDOUT");
	CHECK(!LOAD(&writer_got), "prefer-writer: writer got a read-held lock");
	CHECK_RC(pthread_rwlock_unlock(&pw), 0);
	join(w);
	CHECK(LOAD(&writer_got), "prefer-writer: writer never got the lock");
	CHECK(in_other(other_tryrd, &pw) == 0, "prefer-writer: readers still refused after the writer finished");
	CHECK_RC(pthread_rwlock_destroy(&pw), 0);

	CHECK_RC(pthread_rwlock_destroy(&rw), 0);
	return test_pass();
}
