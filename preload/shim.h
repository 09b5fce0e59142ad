/*
 * preload/: the pthread ABI on the runtime.  Internal header of the layer.
 *
 * Every exported function is GMP_EXPORT and listed (unversioned) in
 * libgmpthread.map; the classification of every glibc symbol is in
 * coverage.tsv.  Public functions return what glibc returns (error numbers,
 * errno for the sem_ and sleep families); runtime calls return -errno.
 */
#ifndef GMP_SHIM_H
#define GMP_SHIM_H

#include "../src/runtime.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <time.h>
#include <unwind.h>

#define GMP_EXPORT __attribute__((visibility("default")))

/* ---------------------------------------------------------------- threads */

/* Join/detach state bits of a thread record (flags word, atomic). */
enum {
	T_EXITED   = 1,  /* the thread has finished; result is valid */
	T_DETACHED = 2,  /* nobody will join it; its record is freed at exit */
	T_JOINING  = 4,  /* a joiner has claimed it */
};

/* Cancel state bits (cancel word, atomic). */
enum {
	C_DISABLED = 1,  /* PTHREAD_CANCEL_DISABLE */
	C_ASYNC    = 2,  /* PTHREAD_CANCEL_ASYNCHRONOUS (acted on at the next point) */
	C_PENDING  = 4,  /* pthread_cancel was called */
	C_ACTING   = 8,  /* the thread is unwinding for a cancel or exit */
};

/*
 * One per thread: created by pthread_create, the main thread (adopted in the
 * constructor) and foreign threads (on first need).  Records live in a table
 * and are reused; a pthread_t is the record's index and generation, so a
 * handle to a finished and reaped thread is detected (ESRCH).
 */
struct shim_thread {
	/* Written at creation, read by anyone holding a valid handle. */
	uint32_t idx, gen;
	struct gmp_g *g;
	uint64_t goid;               /* g's id while it is this thread's (set by the thread) */
	void *(*start)(void *);
	void *arg;
	bool foreign, ismain;
	pid_t ostid;                 /* foreign threads: their OS thread id */
	pthread_t ospt;              /* foreign threads: glibc's handle */
	/* Attributes as created (reported by pthread_getattr_np). */
	size_t stacksize, guardsize;
	bool userstack;
	int policy, inheritsched, scope;
	struct sched_param param;
	/* Join and exit. */
	_Atomic uint32_t flags;      /* T_*; futex word of joiners */
	void *result;                /* written before T_EXITED is set */
	/* Cancellation and exit unwinding (owner thread, except cancel bits). */
	_Atomic uint32_t cancel;     /* C_* */
	void *cleanup;               /* __pthread_register_cancel chain */
	struct _Unwind_Exception exc;
	/* Thread-specific data: 32 blocks of 32 slots, allocated on use. */
	struct shim_tsd *tsd[32];
	void *robust;                /* robust mutexes held (mutex.c); owner only */
	_Atomic uint32_t sleepword;  /* always 0: interruptible sleeps wait on it */
	int *cleartid;               /* set_tid_address(): zeroed and woken at exit */
	char name[16];
	struct shim_thread *freelink; /* free list (table lock) */
};

struct shim_tsd {
	uint64_t seq;
	void *value;
};

/* The calling thread's record (creates one for a foreign thread). */
struct shim_thread *shim_self(void);
/* Record for a handle, or NULL if it names no live or unreaped thread. */
struct shim_thread *shim_lookup(pthread_t h);
/* The live thread of table index idx (ids.c's reverse of gettid), or NULL. */
struct shim_thread *shim_lookup_index(uint32_t idx);
pthread_t shim_main_handle(void);
static inline pthread_t shim_handle(const struct shim_thread *t)
{
	return ((pthread_t)t->gen << 32) | t->idx;
}

/* Deferred cancellation: act on a pending cancel if enabled (never returns
 * then).  Every shim cancellation point calls this before and after it
 * blocks. */
void shim_testcancel(struct shim_thread *t);
/* pthread_exit: unwind the calling thread with result r. */
GMP_NORETURN void shim_exit(struct shim_thread *t, void *r);

/* The program has a handler for a signal that can come from outside the
 * thread (a deadlock cannot be declared: the handler might wake one). */
bool shim_sig_wakeable(void);

/* Used by the fork child: the caller is now the only thread. */
void shim_threads_forkchild(struct shim_thread *self);

/* ---------------------------------------------------------------- time */

/* Absolute timespec on clock clk -> runtime deadline (monotonic ns).
 * Returns -EINVAL for a bad tv_nsec. */
int64_t shim_deadline(clockid_t clk, const struct timespec *abs);
static inline bool shim_bad_ts(const struct timespec *ts)
{
	return ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L;
}
/* Now + a relative timeout (valid, non-negative), saturating at INT64_MAX
 * (a timeout too long to represent is forever). */
int64_t shim_rel_deadline(const struct timespec *rel);
/* Interruptible sleep of the calling thread until deadline (monotonic ns):
 * 0, or -EINTR when a signal or cancel interrupted it. */
int shim_sleep_until(int64_t deadline);

/* ---------------------------------------------------------------- misc */

/* Real glibc functions (process-shared objects, sleeping foreign threads). */
void *shim_real(const char *name);
#define REAL(name) \
	({ static __typeof__(name) *fp_; if (!fp_) fp_ = (__typeof__(name) *)shim_real(#name); fp_; })

/* A blocking system call that is a cancellation point: bracketed like
 * SHIM_BLOCKING, and a pthread_cancel reaches it even while it sleeps in the
 * kernel (thread.c, asm/x86_64/cancel.S).  Returns -errno. */
#define GMP_CP_CANCELED (-4096L)
long shim_cp_call(long nr, long a, long b, long c, long d, long e, long f);
#define SHIM_CP(nr, a, b, c, d, e, f) \
	shim_cp_call((nr), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

/* A blocking call into glibc that the runtime cannot see inside. */
#define SHIM_BLOCKING(expr) ({ gmp_entersyscall(); __typeof__(expr) r_ = (expr); gmp_exitsyscall(); r_; })

/* Mutex operations shared with condvars and C11 (mutex.c). */
int shim_mutex_lock(pthread_mutex_t *m, int64_t deadline);
int shim_mutex_unlock(pthread_mutex_t *m);

/* A thread is exiting: hand over the robust mutexes it still holds. */
void shim_mutex_owner_died(struct shim_thread *t);

/* The thread's id as gettid() reports it (ids.c): the process id for the
 * main thread, the OS thread id for a foreign one, and a number above
 * pid_max, unique among live threads, for every other. */
#define SHIM_TID_BASE 0x30000000
pid_t shim_thread_tid(const struct shim_thread *t);
/* syscall() numbers about thread ids, made per thread (ids.c); *handled
 * says whether n was one. */
long shim_tid_syscall(long n, long a, long b, long c, bool *handled);
/* At thread exit: the set_tid_address() word, as the kernel would. */
void shim_cleartid(struct shim_thread *t);

/* The calling thread's owner id for mutexes and rwlocks (never 0). */
static inline uint32_t shim_tid(struct shim_thread *t)
{
	return t->idx;
}

#endif
