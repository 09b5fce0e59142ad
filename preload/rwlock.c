/*
 * Reader-writer locks.
 *
 * A private pthread_rwlock_t (56 bytes) holds its state under a small
 * internal lock word (a mutex that is held only for a few instructions,
 * never across a wait):
 *   offset 0   lock      internal lock word (0/1/2, as mutex.c's)
 *   offset 4   readers   read holders
 *   offset 8   writer    write holder's thread index, 0 none
 *   offset 12  wwait     writers waiting
 *   offset 16  rwait     readers waiting
 *   offset 20  rseq      readers park here; bumped to release them
 *   offset 28  __shared  glibc's (1: process-shared: glibc's own lock)
 *   offset 32  wseq      writers park here; bumped to release one
 *   offset 48  __flags   glibc's kind: 0 prefer readers, 1 "prefer
 *                        writers" (which glibc treats as prefer readers),
 *                        2 prefer writers, non-recursive
 * With kind 2 a waiting writer stops new readers (also a thread that
 * already holds a read lock, as in glibc); otherwise readers enter
 * whenever no writer holds the lock.  On release, kind 2 hands the lock to
 * a waiting writer first, the others to the waiting readers first.
 */
#include "shim.h"

#include <string.h>

struct rwl {
	_Atomic uint32_t lock;
	uint32_t readers;
	uint32_t writer;
	uint32_t wwait;
	uint32_t rwait;
	_Atomic uint32_t rseq;
	uint32_t pad0;
	int shared;
	_Atomic uint32_t wseq;
	uint32_t pad1[3];
	uint32_t flags;
	uint32_t pad2;
};
_Static_assert(sizeof(struct rwl) == sizeof(pthread_rwlock_t), "pthread_rwlock_t layout");
_Static_assert(offsetof(struct rwl, shared) == 28 && offsetof(struct rwl, flags) == 48, "rwlock layout");

static void ilock(struct rwl *l)
{
	uint32_t c = 0;
	if (likely(atomic_compare_exchange_strong(&l->lock, &c, 1)))
		return;
	if (c != 2)
		c = atomic_exchange(&l->lock, 2);
	while (c != 0) {
		gmp_futex_wait(&l->lock, 2, -1, GMP_WAIT_RWLOCK, l);
		c = atomic_exchange(&l->lock, 2);
	}
}

static void iunlock(struct rwl *l)
{
	if (atomic_exchange(&l->lock, 0) == 2)
		gmp_futex_wake(&l->lock, 1);
}

static bool prefer_writer(struct rwl *l)
{
	return l->flags == PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP;
}

GMP_EXPORT int pthread_rwlock_init(pthread_rwlock_t *ll, const pthread_rwlockattr_t *attr)
{
	int pshared = PTHREAD_PROCESS_PRIVATE, kind = PTHREAD_RWLOCK_DEFAULT_NP;
	if (attr) {
		pthread_rwlockattr_getpshared(attr, &pshared);
		pthread_rwlockattr_getkind_np(attr, &kind);
	}
	if (pshared == PTHREAD_PROCESS_SHARED)
		return REAL(pthread_rwlock_init)(ll, attr);
	struct rwl *l = (struct rwl *)ll;
	memset(l, 0, sizeof *l);
	l->flags = (uint32_t)kind;
	return 0;
}

GMP_EXPORT int pthread_rwlock_destroy(pthread_rwlock_t *ll)
{
	struct rwl *l = (struct rwl *)ll;
	if (l->shared)
		return REAL(pthread_rwlock_destroy)(ll);
	return 0;
}

/* deadline: -1 none, -2 try. */
static int rdlock(struct rwl *l, int64_t deadline)
{
	gmp_preempt_point();
	uint32_t me = shim_tid(shim_self());
	ilock(l);
	if (l->writer == me) {
		iunlock(l);
		return deadline == -2 ? EBUSY : EDEADLK;
	}
	for (;;) {
		if (l->writer == 0 && !(prefer_writer(l) && l->wwait > 0)) {
			if (l->readers == UINT32_MAX) {
				iunlock(l);
				return EAGAIN;
			}
			l->readers++;
			iunlock(l);
			return 0;
		}
		if (deadline == -2) {
			iunlock(l);
			return EBUSY;
		}
		l->rwait++;
		uint32_t seq = atomic_load(&l->rseq);
		iunlock(l);
		int r = gmp_futex_wait(&l->rseq, seq, deadline, GMP_WAIT_RWLOCK, l);
		ilock(l);
		l->rwait--;
		if (r == -ETIMEDOUT) {
			iunlock(l);
			return ETIMEDOUT;
		}
	}
}

static int wrlock(struct rwl *l, int64_t deadline)
{
	gmp_preempt_point();
	uint32_t me = shim_tid(shim_self());
	ilock(l);
	if (l->writer == me) {
		iunlock(l);
		return deadline == -2 ? EBUSY : EDEADLK;
	}
	for (;;) {
		if (l->writer == 0 && l->readers == 0) {
			l->writer = me;
			iunlock(l);
			return 0;
		}
		if (deadline == -2) {
			iunlock(l);
			return EBUSY;
		}
		l->wwait++;
		uint32_t seq = atomic_load(&l->wseq);
		iunlock(l);
		int r = gmp_futex_wait(&l->wseq, seq, deadline, GMP_WAIT_RWLOCK, l);
		ilock(l);
		l->wwait--;
		if (r == -ETIMEDOUT) {
			/* Readers we held back (prefer-writer) may go now. */
			bool wake = l->wwait == 0 && l->writer == 0 && l->rwait > 0;
			if (wake)
				atomic_fetch_add(&l->rseq, 1);
			iunlock(l);
			if (wake)
				gmp_futex_wake(&l->rseq, INT_MAX);
			return ETIMEDOUT;
		}
	}
}

GMP_EXPORT int pthread_rwlock_unlock(pthread_rwlock_t *ll)
{
	gmp_preempt_point();
	struct rwl *l = (struct rwl *)ll;
	if (unlikely(l->shared))
		return REAL(pthread_rwlock_unlock)(ll);
	ilock(l);
	if (l->writer != 0) {
		if (l->writer != shim_tid(shim_self())) {
			iunlock(l);
			return EPERM;
		}
		l->writer = 0;
	} else if (l->readers > 0) {
		l->readers--;
	} else {
		iunlock(l);
		return EPERM;
	}
	int wakew = 0, waker = 0;
	if (l->writer == 0 && l->readers == 0) {
		if (l->wwait > 0 && (prefer_writer(l) || l->rwait == 0))
			wakew = 1;
		else if (l->rwait > 0)
			waker = INT_MAX;
	}
	if (wakew)
		atomic_fetch_add(&l->wseq, 1);
	if (waker)
		atomic_fetch_add(&l->rseq, 1);
	iunlock(l);
	if (wakew)
		gmp_futex_wake(&l->wseq, 1);
	if (waker)
		gmp_futex_wake(&l->rseq, waker);
	return 0;
}

static int64_t rw_deadline(clockid_t clk, const struct timespec *abs)
{
	if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
		return -EINVAL;
	int64_t dl = shim_deadline(clk, abs);
	return dl == -EINVAL ? dl : dl < 0 ? 0 : dl;
}

GMP_EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t *ll)
{
	struct rwl *l = (struct rwl *)ll;
	if (unlikely(l->shared))
		return SHIM_BLOCKING(REAL(pthread_rwlock_rdlock)(ll));
	return rdlock(l, -1);
}

GMP_EXPORT int pthread_rwlock_tryrdlock(pthread_rwlock_t *ll)
{
	struct rwl *l = (struct rwl *)ll;
	if (unlikely(l->shared))
		return REAL(pthread_rwlock_tryrdlock)(ll);
	return rdlock(l, -2);
}

GMP_EXPORT int pthread_rwlock_clockrdlock(pthread_rwlock_t *ll, clockid_t clk, const struct timespec *abs)
{
	struct rwl *l = (struct rwl *)ll;
	if (unlikely(l->shared))
		return SHIM_BLOCKING(REAL(pthread_rwlock_clockrdlock)(ll, clk, abs));
	int64_t dl = rw_deadline(clk, abs);
	return dl == -EINVAL ? EINVAL : rdlock(l, dl);
}

GMP_EXPORT int pthread_rwlock_timedrdlock(pthread_rwlock_t *ll, const struct timespec *abs)
{
	return pthread_rwlock_clockrdlock(ll, CLOCK_REALTIME, abs);
}

GMP_EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t *ll)
{
	struct rwl *l = (struct rwl *)ll;
	if (unlikely(l->shared))
		return SHIM_BLOCKING(REAL(pthread_rwlock_wrlock)(ll));
	return wrlock(l, -1);
}

GMP_EXPORT int pthread_rwlock_trywrlock(pthread_rwlock_t *ll)
{
	struct rwl *l = (struct rwl *)ll;
	if (unlikely(l->shared))
		return REAL(pthread_rwlock_trywrlock)(ll);
	return wrlock(l, -2);
}

GMP_EXPORT int pthread_rwlock_clockwrlock(pthread_rwlock_t *ll, clockid_t clk, const struct timespec *abs)
{
	struct rwl *l = (struct rwl *)ll;
	if (unlikely(l->shared))
		return SHIM_BLOCKING(REAL(pthread_rwlock_clockwrlock)(ll, clk, abs));
	int64_t dl = rw_deadline(clk, abs);
	return dl == -EINVAL ? EINVAL : wrlock(l, dl);
}

GMP_EXPORT int pthread_rwlock_timedwrlock(pthread_rwlock_t *ll, const struct timespec *abs)
{
	return pthread_rwlock_clockwrlock(ll, CLOCK_REALTIME, abs);
}
