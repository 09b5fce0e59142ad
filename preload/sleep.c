/*
 * Time, sleeping and yielding.
 *
 * Every sleep parks the G on its own timer (a timed wait on a word that
 * never changes, so a signal or a cancel can interrupt it like any other
 * wait) instead of blocking its OS thread.  Deadlines on CLOCK_REALTIME
 * are converted to the runtime's monotonic clock when the wait starts; a
 * later jump of the wall clock does not move them (documented).
 */
#include "shim.h"

#include <sched.h>
#include <unistd.h>

#define NS 1000000000LL

static int64_t clock_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return ts.tv_sec * NS + ts.tv_nsec;
}

int64_t shim_deadline(clockid_t clk, const struct timespec *abs)
{
	if (shim_bad_ts(abs))
		return -EINVAL;
	if (abs->tv_sec < 0)
		return 0;
	int64_t when;
	if (__builtin_mul_overflow((int64_t)abs->tv_sec, NS, &when) ||
	    __builtin_add_overflow(when, abs->tv_nsec, &when))
		return INT64_MAX;
	int64_t mono = gmp_nanotime();
	if (clk != CLOCK_MONOTONIC) {
		int64_t off = clock_ns(clk) - mono;
		if (__builtin_sub_overflow(when, off, &when))
			return off > 0 ? 0 : INT64_MAX;
	}
	return when < 0 ? 0 : when;
}

int64_t shim_rel_deadline(const struct timespec *rel)
{
	int64_t d;
	if (__builtin_mul_overflow((int64_t)rel->tv_sec, NS, &d) ||
	    __builtin_add_overflow(d, rel->tv_nsec + gmp_nanotime(), &d))
		return INT64_MAX;
	return d;
}

int shim_sleep_until(int64_t deadline)
{
	struct shim_thread *self = shim_self();
	gmp_intr_clear(self->g);
	shim_testcancel(self);
	for (;;) {
		int r = gmp_futex_wait_intr(&self->sleepword, 0, deadline, GMP_WAIT_SLEEP, NULL);
		if (r == -ETIMEDOUT)
			return 0;
		if (r == -EINTR) {
			shim_testcancel(self);
			return -EINTR;
		}
	}
}

/* Relative sleep of req; on interruption *rem (if any) gets what is left. */
static int sleep_rel(const struct timespec *req, struct timespec *rem)
{
	if (shim_bad_ts(req) || req->tv_sec < 0)
		return EINVAL;
	int64_t d = shim_rel_deadline(req);
	if (shim_sleep_until(d) == 0)
		return 0;
	if (rem) {
		int64_t left = d - gmp_nanotime();
		if (left < 0)
			left = 0;
		rem->tv_sec = left / NS;
		rem->tv_nsec = left % NS;
	}
	return EINTR;
}

GMP_EXPORT int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req, struct timespec *rem)
{
	switch (clk) {
	case CLOCK_REALTIME:
	case CLOCK_MONOTONIC:
	case CLOCK_BOOTTIME:
	case CLOCK_TAI:
		break;
	case CLOCK_THREAD_CPUTIME_ID:
		return EINVAL;
	default:
		/* CPU-time clocks and the like: the kernel's sleep, bracketed. */
		return SHIM_BLOCKING(REAL(clock_nanosleep)(clk, flags, req, rem));
	}
	if (!(flags & TIMER_ABSTIME))
		return sleep_rel(req, rem);
	int64_t dl = shim_deadline(clk, req);
	if (dl == -EINVAL)
		return EINVAL;
	return shim_sleep_until(dl) == 0 ? 0 : EINTR;
}

GMP_EXPORT int nanosleep(const struct timespec *req, struct timespec *rem)
{
	int r = sleep_rel(req, rem);
	if (r) {
		errno = r;
		return -1;
	}
	return 0;
}

GMP_EXPORT int usleep(useconds_t us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };
	return nanosleep(&ts, NULL);
}

GMP_EXPORT unsigned sleep(unsigned secs)
{
	struct timespec ts = { .tv_sec = secs, .tv_nsec = 0 }, rem = { 0, 0 };
	if (sleep_rel(&ts, &rem) == 0)
		return 0;
	return (unsigned)rem.tv_sec + (rem.tv_nsec >= NS / 2);
}

GMP_EXPORT int sched_yield(void)
{
	gmp_yield();
	return 0;
}

/* <pthread.h> redirects pthread_yield to sched_yield; old binaries still
 * reference it. */
GMP_EXPORT int shim_pthread_yield(void) __asm__("pthread_yield");
GMP_EXPORT int shim_pthread_yield(void)
{
	gmp_yield();
	return 0;
}

/*
 * syscall(2): libraries wait on futexes through it.  A private futex
 * (FUTEX_PRIVATE_FLAG) wait made by the kernel would block the OS thread
 * while the G that is to wake it may wait for that very thread, so private
 * FUTEX_WAIT/WAKE (and the _BITSET forms with a full mask) become waits on
 * the runtime's wait queues.  A futex without the flag may be shared with
 * another process, whose wakes (and their counts) only the kernel sees:
 * those, like every other call, go to the kernel, bracketed as a blocking
 * call so that the G's P is handed to another OS thread meanwhile.
 * (libstdc++ uses shared futex ops for std::future and atomic waits: they
 * work, at the cost of an OS thread per blocked waiter.)
 */
#include <linux/futex.h>
#include <stdarg.h>
#include <sys/syscall.h>

static long futex_emul(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts,
		       uint32_t val3, bool *handled)
{
	int cmd = op & FUTEX_CMD_MASK;
	*handled = true;
	int n = (int)(val > INT_MAX ? INT_MAX : val);
	if (!(op & FUTEX_PRIVATE_FLAG)) {
		*handled = false;
		return 0;
	}
	switch (cmd) {
	case FUTEX_WAKE_BITSET:
		if (val3 != FUTEX_BITSET_MATCH_ANY)
			break;
		/* fall through */
	case FUTEX_WAKE:
		return gmp_futex_wake(addr, n);
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET: {
		if (cmd == FUTEX_WAIT_BITSET && val3 != FUTEX_BITSET_MATCH_ANY)
			break;
		int64_t dl = -1;
		if (ts) {
			if (shim_bad_ts(ts))
				return -EINVAL;
			if (cmd == FUTEX_WAIT) {
				dl = ts->tv_sec < 0 ? gmp_nanotime() : shim_rel_deadline(ts);
			} else {
				dl = shim_deadline((op & FUTEX_CLOCK_REALTIME) ? CLOCK_REALTIME : CLOCK_MONOTONIC, ts);
			}
		}
		struct shim_thread *self = shim_self();
		gmp_intr_clear(self->g);
		int r = gmp_futex_wait_intr(addr, val, dl, GMP_WAIT_FUTEX, addr);
		return r == -EAGAIN ? -EWOULDBLOCK : r;
	}
	}
	*handled = false;
	return 0;
}

GMP_EXPORT long syscall(long n, ...)
{
	va_list ap;
	va_start(ap, n);
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
	long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
	va_end(ap);
	long r;
	bool handled = false;
	if (n == SYS_futex)
		r = futex_emul((_Atomic uint32_t *)a, (int)b, (uint32_t)c, (const struct timespec *)d,
			       (uint32_t)f, &handled);
	else if (n == SYS_gettid || n == SYS_set_tid_address || n == SYS_tgkill || n == SYS_tkill)
		r = shim_tid_syscall(n, a, b, c, &handled);
	if (!handled)
		r = SHIM_BLOCKING(gmp_syscall6(n, a, b, c, d, e, f));
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}
