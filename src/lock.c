/*
 * Raw syscalls, monotonic time, and the runtime's own OS-level locks.
 *
 * gmp_mutex is Drepper's three-state futex mutex ("Futexes Are Tricky",
 * mutex #3): 0 = unlocked, 1 = locked with no waiters, 2 = locked and some
 * thread may sleep in the kernel.  A locker that finds contention marks the
 * word 2 before sleeping, so an unlock that sees anything but 1 must wake one
 * sleeper.  It spins a little first, because runtime critical sections are
 * tens of nanoseconds while a futex round trip is microseconds.
 *
 * gmp_note is Go's note: a single sleeper waits for one wakeup.
 */
#include "runtime.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>

long gmp_syscall6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

int64_t gmp_nanotime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no syscall, no errno on success */
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

pid_t gmp_gettid(void)
{
	return (pid_t)gmp_sys(SYS_gettid, 0, 0, 0, 0, 0, 0);
}

void gmp_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	gmp_sys(SYS_rt_sigprocmask, how, set, old, 8 /* kernel sigset size */, 0, 0);
}

/* Sleep while *addr == val, until deadline (monotonic ns; < 0 = none).
 * Returns 0 or -errno (-EAGAIN, -ETIMEDOUT, -EINTR); spurious returns allowed. */
int gmp_os_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t deadline_ns)
{
	struct timespec ts, *tsp = NULL;
	if (deadline_ns >= 0) {
		ts.tv_sec = deadline_ns / 1000000000;
		ts.tv_nsec = deadline_ns % 1000000000;
		tsp = &ts;
	}
	/* WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
	return (int)gmp_sys(SYS_futex, addr, FUTEX_WAIT_BITSET_PRIVATE, val, tsp, NULL,
			    FUTEX_BITSET_MATCH_ANY);
}

void gmp_os_futex_wake(_Atomic uint32_t *addr, int n)
{
	gmp_sys(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static inline void m_locks_add(int d)
{
	struct gmp_m *m = gmp_getm();
	if (m)
		m->locks += d;
}

void gmp_lock(gmp_mutex *l)
{
	m_locks_add(1);
	uint32_t c = 0;
	if (likely(atomic_compare_exchange_strong_explicit(&l->word, &c, 1, memory_order_acquire,
							   memory_order_relaxed)))
		return;
	for (int spin = 0; spin < 100; spin++) {
		gmp_cpu_relax();
		c = 0;
		if (atomic_load_explicit(&l->word, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(&l->word, &c, 1, memory_order_acquire,
							  memory_order_relaxed))
			return;
	}
	c = atomic_exchange_explicit(&l->word, 2, memory_order_acquire);
	while (c != 0) {
		gmp_os_futex_wait(&l->word, 2, -1);
		c = atomic_exchange_explicit(&l->word, 2, memory_order_acquire);
	}
}

void gmp_unlock(gmp_mutex *l)
{
	if (atomic_fetch_sub_explicit(&l->word, 1, memory_order_release) != 1) {
		atomic_store_explicit(&l->word, 0, memory_order_release);
		gmp_os_futex_wake(&l->word, 1);
	}
	m_locks_add(-1);
}

void gmp_notewakeup(gmp_note *n)
{
	uint32_t old = atomic_exchange_explicit(&n->key, 1, memory_order_release);
	if (unlikely(old != 0))
		gmp_fatal("notewakeup: double wakeup (key %u)", old);
	gmp_os_futex_wake(&n->key, 1);
}

void gmp_notesleep(gmp_note *n)
{
	while (atomic_load_explicit(&n->key, memory_order_acquire) == 0)
		gmp_os_futex_wait(&n->key, 0, -1);
}

bool gmp_notetsleep(gmp_note *n, int64_t deadline)
{
	while (atomic_load_explicit(&n->key, memory_order_acquire) == 0) {
		if (deadline >= 0 && gmp_nanotime() >= deadline)
			return false;
		gmp_os_futex_wait(&n->key, 0, deadline);
	}
	return true;
}
