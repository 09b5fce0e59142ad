/*
 * Condition variables and barriers.
 *
 * A private pthread_cond_t (48 bytes, glibc's all-zero initializer) holds:
 *   offset 0   seq       bumped by every signal/broadcast; waiters park on it
 *   offset 4   nwaiters  threads between "read seq" and "left the wait"
 *   offset 36  __wrefs   glibc's bits kept: 1 process-shared, 2 monotonic
 * A waiter reads seq, counts itself, releases the mutex, and parks while
 * seq is unchanged (the emulated futex compares under its bucket lock), so
 * a signal sent after the mutex was released always finds it -- either
 * queued, or about to see the new seq.  Wake-ups are FIFO: signal wakes
 * the longest waiter.  Broadcast wakes every waiter; each relocks the
 * mutex itself.
 *
 * Barrier (32 bytes): arrived (0), round (4, the futex word), count (8),
 * glibc's pshared marker (12).  The last arriver resets arrived, bumps the
 * round and wakes the rest.
 */
#include "shim.h"

#include <string.h>

struct cnd {
	_Atomic uint32_t seq;
	_Atomic uint32_t nwaiters;
	uint32_t pad[7];
	uint32_t wrefs;
	uint32_t pad2[2];
};
_Static_assert(sizeof(struct cnd) == sizeof(pthread_cond_t), "pthread_cond_t layout");
_Static_assert(offsetof(struct cnd, wrefs) == 36, "__wrefs at 36");
#define W_PSHARED 1
#define W_MONOTONIC 2

GMP_EXPORT int pthread_cond_init(pthread_cond_t *cc, const pthread_condattr_t *attr)
{
	int pshared = PTHREAD_PROCESS_PRIVATE;
	clockid_t clk = CLOCK_REALTIME;
	if (attr) {
		pthread_condattr_getpshared(attr, &pshared);
		pthread_condattr_getclock(attr, &clk);
	}
	if (pshared == PTHREAD_PROCESS_SHARED)
		return REAL(pthread_cond_init)(cc, attr);
	struct cnd *c = (struct cnd *)cc;
	memset(c, 0, sizeof *c);
	if (clk == CLOCK_MONOTONIC)
		c->wrefs = W_MONOTONIC;
	return 0;
}

GMP_EXPORT int pthread_cond_destroy(pthread_cond_t *cc)
{
	struct cnd *c = (struct cnd *)cc;
	if (c->wrefs & W_PSHARED)
		return REAL(pthread_cond_destroy)(cc);
	return 0;
}

GMP_EXPORT int pthread_cond_signal(pthread_cond_t *cc)
{
	gmp_preempt_point();
	struct cnd *c = (struct cnd *)cc;
	if (unlikely(c->wrefs & W_PSHARED))
		return REAL(pthread_cond_signal)(cc);
	if (atomic_load(&c->nwaiters) == 0)
		return 0;
	atomic_fetch_add(&c->seq, 1);
	gmp_futex_wake(&c->seq, 1);
	return 0;
}

GMP_EXPORT int pthread_cond_broadcast(pthread_cond_t *cc)
{
	gmp_preempt_point();
	struct cnd *c = (struct cnd *)cc;
	if (unlikely(c->wrefs & W_PSHARED))
		return REAL(pthread_cond_broadcast)(cc);
	if (atomic_load(&c->nwaiters) == 0)
		return 0;
	atomic_fetch_add(&c->seq, 1);
	gmp_futex_wake(&c->seq, INT_MAX);
	return 0;
}

/* abs NULL: no timeout.  clk < 0: the condvar's own clock. */
static int cond_wait(struct cnd *c, pthread_mutex_t *m, clockid_t clk, const struct timespec *abs)
{
	gmp_preempt_point();
	struct shim_thread *self = shim_self();
	shim_testcancel(self);
	int64_t dl = -1;
	if (abs) {
		if (clk < 0)
			clk = (c->wrefs & W_MONOTONIC) ? CLOCK_MONOTONIC : CLOCK_REALTIME;
		dl = shim_deadline(clk, abs);
		if (dl == -EINVAL)
			return EINVAL;
		if (dl < 0)
			dl = 0;
	}
	uint32_t seq = atomic_load(&c->seq);
	atomic_fetch_add(&c->nwaiters, 1);
	int r = shim_mutex_unlock(m);
	if (r) {
		atomic_fetch_sub(&c->nwaiters, 1);
		return r;
	}
	gmp_intr_clear(self->g);
	int w = 0;
	if ((atomic_load(&self->cancel) & (C_PENDING | C_DISABLED | C_ACTING)) != C_PENDING)
		w = gmp_futex_wait_intr(&c->seq, seq, dl, GMP_WAIT_COND, c);
	atomic_fetch_sub(&c->nwaiters, 1);
	/* The mutex is ours again before anything else, cancellation included. */
	r = shim_mutex_lock(m, -1);
	shim_testcancel(self);
	if (r)
		return r;
	return w == -ETIMEDOUT ? ETIMEDOUT : 0;
}

GMP_EXPORT int pthread_cond_wait(pthread_cond_t *cc, pthread_mutex_t *m)
{
	struct cnd *c = (struct cnd *)cc;
	if (unlikely(c->wrefs & W_PSHARED))
		return SHIM_BLOCKING(REAL(pthread_cond_wait)(cc, m));
	return cond_wait(c, m, -1, NULL);
}

GMP_EXPORT int pthread_cond_timedwait(pthread_cond_t *cc, pthread_mutex_t *m, const struct timespec *abs)
{
	struct cnd *c = (struct cnd *)cc;
	if (unlikely(c->wrefs & W_PSHARED))
		return SHIM_BLOCKING(REAL(pthread_cond_timedwait)(cc, m, abs));
	return cond_wait(c, m, -1, abs);
}

GMP_EXPORT int pthread_cond_clockwait(pthread_cond_t *cc, pthread_mutex_t *m, clockid_t clk,
				      const struct timespec *abs)
{
	struct cnd *c = (struct cnd *)cc;
	if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
		return EINVAL;
	if (unlikely(c->wrefs & W_PSHARED))
		return SHIM_BLOCKING(REAL(pthread_cond_clockwait)(cc, m, clk, abs));
	return cond_wait(c, m, clk, abs);
}

/* ---------------------------------------------------------------- barriers */

struct bar {
	_Atomic uint32_t arrived;
	_Atomic uint32_t round;
	uint32_t count;
	int shared;
	_Atomic uint32_t inside; /* threads between arrival and leaving */
	uint32_t pad[3];
};
_Static_assert(sizeof(struct bar) == sizeof(pthread_barrier_t), "pthread_barrier_t layout");

GMP_EXPORT int pthread_barrier_init(pthread_barrier_t *bb, const pthread_barrierattr_t *attr, unsigned count)
{
	int pshared = PTHREAD_PROCESS_PRIVATE;
	if (attr)
		pthread_barrierattr_getpshared(attr, &pshared);
	if (count == 0 || count > INT_MAX)
		return EINVAL;
	if (pshared == PTHREAD_PROCESS_SHARED)
		return REAL(pthread_barrier_init)(bb, attr, count);
	struct bar *b = (struct bar *)bb;
	memset(b, 0, sizeof *b);
	b->count = count;
	return 0;
}

GMP_EXPORT int pthread_barrier_destroy(pthread_barrier_t *bb)
{
	struct bar *b = (struct bar *)bb;
	if (b->shared)
		return REAL(pthread_barrier_destroy)(bb);
	if (atomic_load(&b->arrived) != 0)
		return EBUSY;
	/* Let the last round's waiters leave before the memory is reused. */
	while (atomic_load(&b->inside) != 0)
		gmp_yield();
	return 0;
}

GMP_EXPORT int pthread_barrier_wait(pthread_barrier_t *bb)
{
	struct bar *b = (struct bar *)bb;
	if (unlikely(b->shared))
		return SHIM_BLOCKING(REAL(pthread_barrier_wait)(bb));
	atomic_fetch_add(&b->inside, 1);
	uint32_t round = atomic_load(&b->round);
	if (atomic_fetch_add(&b->arrived, 1) + 1 == b->count) {
		atomic_store(&b->arrived, 0);
		atomic_fetch_add(&b->round, 1);
		gmp_futex_wake(&b->round, INT_MAX);
		atomic_fetch_sub(&b->inside, 1);
		return PTHREAD_BARRIER_SERIAL_THREAD;
	}
	while (atomic_load(&b->round) == round)
		gmp_futex_wait(&b->round, round, -1, GMP_WAIT_BARRIER, b);
	atomic_fetch_sub(&b->inside, 1);
	return 0;
}
