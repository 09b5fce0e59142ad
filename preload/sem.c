/*
 * Unnamed POSIX semaphores.
 *
 * sem_t (32 bytes) keeps glibc's 64-bit layout: value (offset 0, u32),
 * waiter count (offset 4), and glibc's "private" word (offset 8): 0 for a
 * private semaphore, 128 (FUTEX_SHARED) for one made with pshared=1 or by
 * sem_open.  Shared semaphores are glibc's own (other processes use them
 * through the kernel); private ones park on the value word.
 */
#include "shim.h"

#include <semaphore.h>
#include <string.h>

struct sem {
	_Atomic uint32_t value;
	_Atomic uint32_t nwaiters;
	int shared;
	int pad[5];
};
_Static_assert(sizeof(struct sem) == sizeof(sem_t), "sem_t layout");
#define SEM_SHARED 128

#define SEM_ERR(e) (errno = (e), -1)

GMP_EXPORT int sem_init(sem_t *ss, int pshared, unsigned value)
{
	if (value > SEM_VALUE_MAX)
		return SEM_ERR(EINVAL);
	if (pshared)
		return REAL(sem_init)(ss, pshared, value);
	struct sem *s = (struct sem *)ss;
	memset(s, 0, sizeof *s);
	atomic_store(&s->value, value);
	return 0;
}

GMP_EXPORT int sem_destroy(sem_t *ss)
{
	struct sem *s = (struct sem *)ss;
	if (s->shared == SEM_SHARED)
		return REAL(sem_destroy)(ss);
	return 0;
}

GMP_EXPORT int sem_post(sem_t *ss)
{
	gmp_preempt_point();
	struct sem *s = (struct sem *)ss;
	if (unlikely(s->shared == SEM_SHARED))
		return REAL(sem_post)(ss);
	uint32_t v = atomic_load(&s->value);
	do {
		if (v >= SEM_VALUE_MAX)
			return SEM_ERR(EOVERFLOW);
	} while (!atomic_compare_exchange_weak(&s->value, &v, v + 1));
	if (atomic_load(&s->nwaiters) > 0)
		gmp_futex_wake(&s->value, 1);
	return 0;
}

static bool sem_take(struct sem *s)
{
	uint32_t v = atomic_load(&s->value);
	while (v > 0)
		if (atomic_compare_exchange_weak(&s->value, &v, v - 1))
			return true;
	return false;
}

GMP_EXPORT int sem_trywait(sem_t *ss)
{
	gmp_preempt_point();
	struct sem *s = (struct sem *)ss;
	if (unlikely(s->shared == SEM_SHARED))
		return REAL(sem_trywait)(ss);
	return sem_take(s) ? 0 : SEM_ERR(EAGAIN);
}

/* A cancellation point; a handled signal makes it fail with EINTR. */
static int sem_wait_dl(struct sem *s, int64_t deadline)
{
	gmp_preempt_point();
	struct shim_thread *self = shim_self();
	shim_testcancel(self);
	if (sem_take(s))
		return 0;
	for (;;) {
		gmp_intr_clear(self->g);
		shim_testcancel(self);
		atomic_fetch_add(&s->nwaiters, 1);
		int r = gmp_futex_wait_intr(&s->value, 0, deadline, GMP_WAIT_SEM, s);
		atomic_fetch_sub(&s->nwaiters, 1);
		if (sem_take(s))
			return 0;
		if (r == -ETIMEDOUT)
			return SEM_ERR(ETIMEDOUT);
		if (r == -EINTR) {
			shim_testcancel(self);
			return SEM_ERR(EINTR);
		}
	}
}

GMP_EXPORT int sem_wait(sem_t *ss)
{
	struct sem *s = (struct sem *)ss;
	if (unlikely(s->shared == SEM_SHARED))
		return SHIM_BLOCKING(REAL(sem_wait)(ss));
	return sem_wait_dl(s, -1);
}

GMP_EXPORT int sem_clockwait(sem_t *ss, clockid_t clk, const struct timespec *abs)
{
	struct sem *s = (struct sem *)ss;
	if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
		return SEM_ERR(EINVAL);
	if (unlikely(s->shared == SEM_SHARED))
		return SHIM_BLOCKING(REAL(sem_clockwait)(ss, clk, abs));
	int64_t dl = shim_deadline(clk, abs);
	if (dl == -EINVAL)
		return SEM_ERR(EINVAL);
	return sem_wait_dl(s, dl);
}

GMP_EXPORT int sem_timedwait(sem_t *ss, const struct timespec *abs)
{
	return sem_clockwait(ss, CLOCK_REALTIME, abs);
}

GMP_EXPORT int sem_getvalue(sem_t *ss, int *val)
{
	struct sem *s = (struct sem *)ss;
	if (s->shared == SEM_SHARED)
		return REAL(sem_getvalue)(ss, val);
	*val = (int)atomic_load(&s->value);
	return 0;
}
