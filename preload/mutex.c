/*
 * Mutexes and spinlocks on the runtime's wait queues.
 *
 * A private pthread_mutex_t keeps glibc's layout, so the static
 * initializers mean what they mean in glibc:
 *   __lock   (offset 0)   0 free; 1 locked; 2 locked, maybe waiters
 *   __count  (offset 4)   recursion depth - 1 (recursive kind)
 *   __owner  (offset 8)   owner's thread index, 0 when free; for a robust
 *                         mutex OWNER_DIED / NOTRECOVERABLE as in glibc
 *   __kind   (offset 16)  type in the low 2 bits, ROBUST 16, PI 32, PP 64,
 *                         PSHARED 128, NO_ELISION 512; -1 after destroy
 *   offset 20             priority ceiling (PP mutexes)
 *   __list   (offset 24)  robust mutexes: link in the owner's held list
 * Waiters park on __lock through gmp_futex_wait (never the kernel); a
 * process-shared mutex is glibc's own (it must work with processes that
 * do not run this scheduler) and blocking on it goes through
 * entersyscall/exitsyscall.
 *
 * Priority protocols are accepted and reported but do not change
 * scheduling (Gs have no priorities).  Robust mutexes are real: a thread
 * that exits holding one leaves it to the next locker with EOWNERDEAD.
 */
#include "shim.h"

#include <string.h>

enum {
	K_TYPE = 3,
	K_ROBUST = 16, K_PI = 32, K_PP = 64, K_PSHARED = 128, K_NOELISION = 512,
};
#define OWNER_DIED 0x40000000u
#define NOTRECOVERABLE 0x7fffffffu

struct mtx {
	_Atomic uint32_t lock;
	uint32_t count;
	_Atomic uint32_t owner;
	uint32_t nusers;
	int kind;
	int ceiling;
	struct mtx *prev, *next; /* robust list */
};
_Static_assert(sizeof(struct mtx) == sizeof(pthread_mutex_t), "pthread_mutex_t layout");
_Static_assert(offsetof(struct mtx, kind) == 16, "__kind at 16");

/* Robust mutexes a thread holds, most recent first: shim_thread.robust. */
#define robust_held (*(struct mtx **)&shim_self()->robust)

/* ---------------------------------------------------------------- lock word */

static int word_lock(_Atomic uint32_t *w, int64_t deadline, const void *obj)
{
	uint32_t c = 0;
	if (likely(atomic_compare_exchange_strong_explicit(w, &c, 1, memory_order_acquire,
							   memory_order_relaxed)))
		return 0;
	/* Brief spin when another P may be about to release it. */
	if (gmp_sched.nprocs > 1) {
		for (int i = 0; i < 64; i++) {
			gmp_cpu_relax();
			c = atomic_load_explicit(w, memory_order_relaxed);
			if (c == 0 && atomic_compare_exchange_weak_explicit(w, &c, 1, memory_order_acquire,
									   memory_order_relaxed))
				return 0;
			if (c == 2)
				break;
		}
	}
	if (c != 2)
		c = atomic_exchange_explicit(w, 2, memory_order_acquire);
	while (c != 0) {
		if (gmp_futex_wait(w, 2, deadline, GMP_WAIT_MUTEX, obj) == -ETIMEDOUT)
			return ETIMEDOUT;
		c = atomic_exchange_explicit(w, 2, memory_order_acquire);
	}
	return 0;
}

static inline void word_unlock(_Atomic uint32_t *w)
{
	if (atomic_exchange_explicit(w, 0, memory_order_release) == 2)
		gmp_futex_wake(w, 1);
}

/* ---------------------------------------------------------------- mutex */

static int robust_acquired(struct mtx *m, uint32_t me)
{
	uint32_t prev = atomic_load(&m->owner);
	if (prev == NOTRECOVERABLE) {
		word_unlock(&m->lock);
		return ENOTRECOVERABLE;
	}
	m->next = robust_held;
	m->prev = NULL;
	if (robust_held)
		robust_held->prev = m;
	robust_held = m;
	if (prev & OWNER_DIED) {
		atomic_store(&m->owner, me | OWNER_DIED); /* inconsistent until _consistent */
		m->count = 0;
		return EOWNERDEAD;
	}
	atomic_store(&m->owner, me);
	return 0;
}

static void robust_release(struct mtx *m)
{
	if (m->prev)
		m->prev->next = m->next;
	else if (robust_held == m)
		robust_held = m->next;
	if (m->next)
		m->next->prev = m->prev;
	m->prev = m->next = NULL;
}

/* A thread is exiting: hand over the robust mutexes it still holds. */
void shim_mutex_owner_died(struct shim_thread *t)
{
	struct mtx *m;
	while ((m = t->robust) != NULL) {
		robust_release(m);
		atomic_store(&m->owner, OWNER_DIED);
		m->count = 0;
		word_unlock(&m->lock);
	}
}

/* deadline: -1 none; -2 trylock. */
static int mutex_lock(struct mtx *m, int64_t deadline)
{
	gmp_preempt_point();
	int kind = m->kind;
	if (unlikely(kind & K_PSHARED)) {
		if (deadline == -2)
			return REAL(pthread_mutex_trylock)((pthread_mutex_t *)m);
		return SHIM_BLOCKING(REAL(pthread_mutex_lock)((pthread_mutex_t *)m));
	}
	if (unlikely(kind < 0))
		return EINVAL;
	uint32_t me = shim_tid(shim_self());
	int type = kind & K_TYPE;
	if (type != PTHREAD_MUTEX_NORMAL && type != PTHREAD_MUTEX_ADAPTIVE_NP &&
	    (atomic_load_explicit(&m->owner, memory_order_relaxed) & ~OWNER_DIED) == me) {
		if (type == PTHREAD_MUTEX_RECURSIVE) {
			if (m->count == UINT32_MAX - 1)
				return EAGAIN;
			m->count++;
			return 0;
		}
		/* error-checking */
		if (deadline == -2 && !(kind & (K_ROBUST | K_PI)))
			return EBUSY;
		return EDEADLK;
	}
	if (deadline == -2) {
		uint32_t c = 0;
		if (!atomic_compare_exchange_strong_explicit(&m->lock, &c, 1, memory_order_acquire,
							     memory_order_relaxed))
			return EBUSY;
	} else {
		int r = word_lock(&m->lock, deadline, m);
		if (r)
			return r;
	}
	m->count = 0;
	if (unlikely(kind & K_ROBUST))
		return robust_acquired(m, me);
	atomic_store_explicit(&m->owner, me, memory_order_relaxed);
	return 0;
}

int shim_mutex_lock(pthread_mutex_t *mm, int64_t deadline)
{
	return mutex_lock((struct mtx *)mm, deadline);
}

int shim_mutex_unlock(pthread_mutex_t *mm)
{
	gmp_preempt_point();
	struct mtx *m = (struct mtx *)mm;
	int kind = m->kind;
	if (unlikely(kind & K_PSHARED))
		return REAL(pthread_mutex_unlock)(mm);
	if (unlikely(kind < 0))
		return EINVAL;
	int type = kind & K_TYPE;
	if (type != PTHREAD_MUTEX_NORMAL && type != PTHREAD_MUTEX_ADAPTIVE_NP) {
		uint32_t me = shim_tid(shim_self());
		uint32_t o = atomic_load_explicit(&m->owner, memory_order_relaxed);
		if ((o & ~OWNER_DIED) != me || atomic_load(&m->lock) == 0)
			return EPERM;
		if (type == PTHREAD_MUTEX_RECURSIVE && m->count > 0) {
			m->count--;
			return 0;
		}
	} else if (unlikely(kind & (K_ROBUST | K_PI))) {
		/* glibc checks the owner of robust and PI mutexes of every type. */
		if ((atomic_load(&m->owner) & ~OWNER_DIED) != shim_tid(shim_self()))
			return EPERM;
	}
	if (unlikely(kind & K_ROBUST)) {
		robust_release(m);
		uint32_t o = atomic_load(&m->owner);
		/* Unlocked without pthread_mutex_consistent: unusable for good. */
		atomic_store(&m->owner, (o & OWNER_DIED) ? NOTRECOVERABLE : 0);
	} else {
		atomic_store_explicit(&m->owner, 0, memory_order_relaxed);
	}
	word_unlock(&m->lock);
	return 0;
}

GMP_EXPORT int pthread_mutex_init(pthread_mutex_t *mm, const pthread_mutexattr_t *attr)
{
	struct mtx *m = (struct mtx *)mm;
	int type = PTHREAD_MUTEX_NORMAL, pshared = PTHREAD_PROCESS_PRIVATE, robust = PTHREAD_MUTEX_STALLED;
	int proto = PTHREAD_PRIO_NONE, ceiling = 0;
	if (attr) {
		pthread_mutexattr_gettype(attr, &type);
		pthread_mutexattr_getpshared(attr, &pshared);
		pthread_mutexattr_getrobust(attr, &robust);
		pthread_mutexattr_getprotocol(attr, &proto);
		pthread_mutexattr_getprioceiling(attr, &ceiling);
	}
	if (pshared == PTHREAD_PROCESS_SHARED)
		return REAL(pthread_mutex_init)(mm, attr);
	memset(m, 0, sizeof *m);
	int kind = type & K_TYPE;
	if (robust == PTHREAD_MUTEX_ROBUST)
		kind |= K_ROBUST;
	if (proto == PTHREAD_PRIO_INHERIT)
		kind |= K_PI;
	else if (proto == PTHREAD_PRIO_PROTECT)
		kind |= K_PP;
	if (kind == PTHREAD_MUTEX_NORMAL)
		kind |= K_NOELISION; /* as glibc 2.36 stores it */
	m->kind = kind;
	m->ceiling = ceiling;
	return 0;
}

GMP_EXPORT int pthread_mutex_destroy(pthread_mutex_t *mm)
{
	struct mtx *m = (struct mtx *)mm;
	if (m->kind & K_PSHARED)
		return REAL(pthread_mutex_destroy)(mm);
	if (!(m->kind & K_ROBUST) && atomic_load(&m->lock) != 0)
		return EBUSY;
	m->kind = -1;
	return 0;
}

GMP_EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
	return mutex_lock((struct mtx *)m, -1);
}

GMP_EXPORT int pthread_mutex_trylock(pthread_mutex_t *m)
{
	return mutex_lock((struct mtx *)m, -2);
}

GMP_EXPORT int pthread_mutex_unlock(pthread_mutex_t *m)
{
	return shim_mutex_unlock(m);
}

GMP_EXPORT int pthread_mutex_clocklock(pthread_mutex_t *mm, clockid_t clk, const struct timespec *abs)
{
	struct mtx *m = (struct mtx *)mm;
	if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
		return EINVAL;
	if (m->kind & K_PSHARED)
		return SHIM_BLOCKING(REAL(pthread_mutex_clocklock)(mm, clk, abs));
	/* glibc checks the timeout only when the lock would block. */
	int r = mutex_lock(m, -2);
	if (r != EBUSY)
		return r;
	int type = m->kind & K_TYPE;
	if (type == PTHREAD_MUTEX_ERRORCHECK &&
	    (atomic_load(&m->owner) & ~OWNER_DIED) == shim_tid(shim_self()))
		return EDEADLK;
	int64_t dl = shim_deadline(clk, abs);
	if (dl == -EINVAL)
		return EINVAL;
	return mutex_lock(m, dl < 0 ? 0 : dl);
}

GMP_EXPORT int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abs)
{
	return pthread_mutex_clocklock(m, CLOCK_REALTIME, abs);
}

GMP_EXPORT int pthread_mutex_consistent(pthread_mutex_t *mm)
{
	struct mtx *m = (struct mtx *)mm;
	if (m->kind & K_PSHARED)
		return REAL(pthread_mutex_consistent)(mm);
	uint32_t o = atomic_load(&m->owner);
	if (!(m->kind & K_ROBUST) || !(o & OWNER_DIED) || o == NOTRECOVERABLE)
		return EINVAL;
	atomic_store(&m->owner, o & ~OWNER_DIED);
	return 0;
}

/* <pthread.h> redirects the _np name to the POSIX one; old binaries still
 * reference it. */
GMP_EXPORT int mutex_consistent_np(pthread_mutex_t *m) __asm__("pthread_mutex_consistent_np");
GMP_EXPORT int mutex_consistent_np(pthread_mutex_t *m)
{
	return pthread_mutex_consistent(m);
}

GMP_EXPORT int pthread_mutex_getprioceiling(const pthread_mutex_t *mm, int *ceiling)
{
	const struct mtx *m = (const struct mtx *)mm;
	if (m->kind & K_PSHARED)
		return REAL(pthread_mutex_getprioceiling)(mm, ceiling);
	if (!(m->kind & K_PP))
		return EINVAL;
	*ceiling = m->ceiling;
	return 0;
}

GMP_EXPORT int pthread_mutex_setprioceiling(pthread_mutex_t *mm, int ceiling, int *old)
{
	struct mtx *m = (struct mtx *)mm;
	if (m->kind & K_PSHARED)
		return REAL(pthread_mutex_setprioceiling)(mm, ceiling, old);
	if (!(m->kind & K_PP) || ceiling < 1 || ceiling > 99)
		return EINVAL;
	int r = mutex_lock(m, -1);
	if (r && r != EDEADLK)
		return r;
	bool locked = r == 0;
	*old = m->ceiling;
	m->ceiling = ceiling;
	if (locked)
		shim_mutex_unlock(mm);
	return 0;
}

/* ---------------------------------------------------------------- spinlocks */

/*
 * A spinlock is one int: 0 free, 1 held.  It may be process-shared and
 * pthread_spin_init leaves no mark to tell, so waiting never uses the
 * wait queues: a waiter spins a little, then yields its P -- the holder,
 * if it is a G that was descheduled, gets to run and release it instead of
 * being spun against forever.
 */
GMP_EXPORT int pthread_spin_init(pthread_spinlock_t *l, int pshared)
{
	*(volatile int *)l = 0;
	return 0;
}

GMP_EXPORT int pthread_spin_destroy(pthread_spinlock_t *l)
{
	return 0;
}

GMP_EXPORT int pthread_spin_trylock(pthread_spinlock_t *l)
{
	gmp_preempt_point();
	int z = 0;
	return __atomic_compare_exchange_n((int *)l, &z, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED) ? 0
												: EBUSY;
}

GMP_EXPORT int pthread_spin_lock(pthread_spinlock_t *l)
{
	gmp_preempt_point();
	for (;;) {
		for (int i = 0; i < 100; i++) {
			int z = 0;
			if (__atomic_load_n((int *)l, __ATOMIC_RELAXED) == 0 &&
			    __atomic_compare_exchange_n((int *)l, &z, 1, true, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				return 0;
			gmp_cpu_relax();
		}
		gmp_yield();
	}
}

GMP_EXPORT int pthread_spin_unlock(pthread_spinlock_t *l)
{
	gmp_preempt_point();
	__atomic_store_n((int *)l, 0, __ATOMIC_RELEASE);
	return 0;
}
