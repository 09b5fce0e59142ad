/*
 * Threads: create, join, detach, exit, cancel, attributes, names.
 *
 * A pthread is a G plus a record (struct shim_thread, in g->user).  The
 * handle a program sees is (generation << 32 | index) into the record
 * table, so every function that takes a pthread_t validates it.
 *
 * Join/detach protocol, on the record's flags word (T_*):
 *   exit    old = fetch_or(EXITED); wake joiners; if old has DETACHED: free
 *   detach  old = fetch_or(DETACHED); EINVAL if it was detached or claimed
 *           by a joiner; if old has EXITED: free
 *   join    old = fetch_or(JOINING); EINVAL if detached or already
 *           claimed; wait for EXITED on the flags word; take result; free.
 *           A joiner that times out or is cancelled clears JOINING, so the
 *           target stays joinable.
 * Exactly one of exit/detach/join frees a record, whatever the interleaving.
 *
 * Exit and cancellation unwind the thread's stack the way glibc does: a
 * forced unwind (_Unwind_ForcedUnwind, exception class "GNUCFOR") runs C++
 * destructors and catch(...) blocks that rethrow abi::__forced_unwind, and
 * its stop function longjmps into the cleanup buffers that C code registered
 * with pthread_cleanup_push (__pthread_register_cancel), innermost first.
 * At the end of the stack (the G trampoline's CFI marks it) the thread runs
 * its key destructors and ends.
 */
#include "shim.h"

#include <sys/syscall.h>
#include <ucontext.h>

#include <dlfcn.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---------------------------------------------------------------- table */

#define CHUNK_SHIFT 10
#define CHUNK_LEN (1u << CHUNK_SHIFT)
#define MAX_CHUNKS 4096              /* 4M threads */

static struct shim_thread *_Atomic chunks[MAX_CHUNKS];
static gmp_mutex table_lock;
static uint32_t nrecords;            /* table_lock */
static struct shim_thread *freelist; /* table_lock */
static _Atomic int nlive;            /* threads not yet exited (main included) */
static _Atomic bool main_exited;

void *shim_real(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (p == NULL)
		gmp_fatal("glibc has no %s", name);
	return p;
}

static struct shim_thread *record_alloc(void)
{
	gmp_lock(&table_lock);
	struct shim_thread *t = freelist;
	if (t) {
		freelist = t->freelink;
	} else {
		uint32_t idx = ++nrecords; /* index 0 is never used: no handle is 0 */
		uint32_t c = idx >> CHUNK_SHIFT;
		if (c >= MAX_CHUNKS) {
			nrecords--;
			gmp_unlock(&table_lock);
			return NULL;
		}
		struct shim_thread *chunk = atomic_load(&chunks[c]);
		if (chunk == NULL) {
			chunk = gmp_persistentalloc(sizeof *chunk * CHUNK_LEN);
			atomic_store_explicit(&chunks[c], chunk, memory_order_release);
		}
		t = &chunk[idx & (CHUNK_LEN - 1)];
		t->idx = idx;
	}
	gmp_unlock(&table_lock);
	/* Reset everything but idx, gen and the TSD blocks. */
	uint32_t idx = t->idx, gen = t->gen + 1;
	struct shim_tsd *tsd[32];
	memcpy(tsd, t->tsd, sizeof tsd);
	memset(t, 0, sizeof *t);
	t->idx = idx;
	t->gen = gen ? gen : 1;
	memcpy(t->tsd, tsd, sizeof tsd);
	return t;
}

static void record_free(struct shim_thread *t)
{
	t->gen++; /* stale handles stop matching at once */
	gmp_lock(&table_lock);
	t->freelink = freelist;
	freelist = t;
	gmp_unlock(&table_lock);
}

struct shim_thread *shim_lookup_index(uint32_t idx)
{
	if (idx == 0 || (idx >> CHUNK_SHIFT) >= MAX_CHUNKS)
		return NULL;
	struct shim_thread *chunk = atomic_load_explicit(&chunks[idx >> CHUNK_SHIFT], memory_order_acquire);
	if (chunk == NULL)
		return NULL;
	struct shim_thread *t = &chunk[idx & (CHUNK_LEN - 1)];
	if (t->idx != idx || t->gen == 0 || (atomic_load(&t->flags) & T_EXITED))
		return NULL;
	return t;
}

struct shim_thread *shim_lookup(pthread_t h)
{
	uint32_t idx = (uint32_t)h, gen = (uint32_t)(h >> 32);
	if (idx == 0 || gen == 0)
		return NULL;
	struct shim_thread *chunk = atomic_load_explicit(&chunks[idx >> CHUNK_SHIFT & (MAX_CHUNKS - 1)],
							 memory_order_acquire);
	if (chunk == NULL || (idx >> CHUNK_SHIFT) >= MAX_CHUNKS)
		return NULL;
	struct shim_thread *t = &chunk[idx & (CHUNK_LEN - 1)];
	if (t->idx != idx || t->gen != gen)
		return NULL;
	return t;
}

/* ---------------------------------------------------------------- self */

static char main_name[16];
static struct shim_thread *main_thread;

pthread_t shim_main_handle(void)
{
	return main_thread ? shim_handle(main_thread) : 0;
}

GMP_COLD static struct shim_thread *foreign_record(struct gmp_g *g)
{
	struct shim_thread *t = record_alloc();
	if (t == NULL)
		gmp_fatal("out of thread records");
	t->g = g;
	t->foreign = true;
	t->ostid = gmp_gettid();
	t->ospt = REAL(pthread_self)();
	atomic_store(&t->flags, T_DETACHED);
	memcpy(t->name, main_name, sizeof t->name);
	g->user = t;
	return t;
}

struct shim_thread *shim_self(void)
{
	struct gmp_m *m = gmp_getm();
	struct gmp_g *g;
	if (likely(m != NULL)) {
		g = m->curg;
		/* No G: a signal handler on an M between Gs (the runtime does not
		 * yet route process signals to a G); it acts as the main thread. */
		if (unlikely(g == NULL))
			return main_thread;
	} else {
		if (unlikely(!gmp_runtime_inited()))
			gmp_runtime_init(NULL); /* called before our constructor ran */
		g = gmp_g_current();
	}
	struct shim_thread *t = g->user;
	if (likely(t != NULL))
		return t;
	return foreign_record(g);
}

GMP_EXPORT pthread_t pthread_self(void)
{
	gmp_preempt_point();
	return shim_handle(shim_self());
}

GMP_EXPORT int pthread_equal(pthread_t a, pthread_t b)
{
	return a == b;
}

/* ---------------------------------------------------------------- attributes */

/* glibc 2.36's struct pthread_attr (sysdeps/nptl/internaltypes.h). */
struct glibc_attr {
	struct sched_param schedparam;
	int schedpolicy;
	int flags;
	size_t guardsize;
	void *stackaddr;            /* the high end of a user stack */
	size_t stacksize;
	void *extension;
	void *unused;
};
_Static_assert(sizeof(struct glibc_attr) <= sizeof(pthread_attr_t), "pthread_attr_t layout");
enum {
	ATTR_DETACHSTATE = 0x01, ATTR_NOTINHERITSCHED = 0x02, ATTR_SCOPEPROCESS = 0x04,
	ATTR_STACKADDR = 0x08, ATTR_SCHED_SET = 0x20, ATTR_POLICY_SET = 0x40,
};

static gmp_mutex default_lock;
static size_t default_stacksize;    /* default_lock; 0 = the runtime's default */
static size_t default_guardsize;

static size_t dflt_stacksize(void)
{
	gmp_lock(&default_lock);
	size_t s = default_stacksize ? default_stacksize : gmp_sched.cfg.stacksize;
	gmp_unlock(&default_lock);
	return s;
}

GMP_EXPORT int pthread_attr_getstacksize(const pthread_attr_t *attr, size_t *size)
{
	const struct glibc_attr *a = (const struct glibc_attr *)attr;
	*size = a->stacksize ? a->stacksize : dflt_stacksize();
	return 0;
}

GMP_EXPORT int pthread_getattr_default_np(pthread_attr_t *attr)
{
	int r = pthread_attr_init(attr);
	if (r)
		return r;
	struct glibc_attr *a = (struct glibc_attr *)attr;
	a->stacksize = dflt_stacksize();
	gmp_lock(&default_lock);
	if (default_guardsize)
		a->guardsize = default_guardsize;
	gmp_unlock(&default_lock);
	return 0;
}

GMP_EXPORT int pthread_setattr_default_np(const pthread_attr_t *attr)
{
	const struct glibc_attr *a = (const struct glibc_attr *)attr;
	int pol = a->schedpolicy;
	if (pol != SCHED_OTHER && pol != SCHED_FIFO && pol != SCHED_RR && pol != SCHED_BATCH &&
	    pol != SCHED_IDLE)
		return EINVAL;
	if (a->schedparam.sched_priority > 0 &&
	    (a->schedparam.sched_priority < sched_get_priority_min(pol) ||
	     a->schedparam.sched_priority > sched_get_priority_max(pol)))
		return EINVAL;
	if (a->flags & ATTR_STACKADDR)
		return EINVAL;
	if (a->stacksize != 0 && a->stacksize < (size_t)PTHREAD_STACK_MIN)
		return EINVAL;
	gmp_lock(&default_lock);
	if (a->stacksize)
		default_stacksize = a->stacksize;
	default_guardsize = a->guardsize;
	gmp_unlock(&default_lock);
	return 0;
}

GMP_EXPORT int pthread_getattr_np(pthread_t th, pthread_attr_t *attr)
{
	struct shim_thread *t = shim_lookup(th);
	if (t == NULL)
		return ESRCH;
	if (t->foreign) {
		if (t != shim_self())
			return ESRCH; /* glibc's view of another OS thread is not ours */
		return REAL(pthread_getattr_np)(REAL(pthread_self)(), attr);
	}
	int r = pthread_attr_init(attr);
	if (r)
		return r;
	struct glibc_attr *a = (struct glibc_attr *)attr;
	struct gmp_g *g = t->g;
	a->stackaddr = g->stack.hi;
	a->stacksize = (size_t)((char *)g->stack.hi - (char *)g->stack.lo);
	a->flags |= ATTR_STACKADDR;
	size_t pg = gmp_stack_pagesize();
	a->guardsize = t->userstack ? 0 : (t->guardsize + pg - 1) / pg * pg;
	if (atomic_load(&t->flags) & T_DETACHED)
		a->flags |= ATTR_DETACHSTATE;
	a->schedpolicy = t->policy;
	a->schedparam = t->param;
	if (t->inheritsched == PTHREAD_EXPLICIT_SCHED)
		a->flags |= ATTR_NOTINHERITSCHED;
	return 0;
}

/* ---------------------------------------------------------------- create */

GMP_NORETURN static void thread_finish(struct shim_thread *t);

static void thread_entry(void *arg)
{
	struct shim_thread *t = arg;
	/* It may run before gmp_spawn has returned to its creator. */
	__atomic_store_n(&t->g, gmp_getm()->curg, __ATOMIC_RELEASE);
	t->goid = t->g->goid;
	t->result = t->start(t->arg);
	thread_finish(t);
}

GMP_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*start)(void *), void *arg)
{
	struct shim_thread *self = shim_self();
	struct glibc_attr dflt = { 0 };
	const struct glibc_attr *a = attr ? (const struct glibc_attr *)attr : &dflt;
	struct gmp_spawn_attr sa = { 0 };
	struct shim_thread *t = record_alloc();
	if (t == NULL)
		return EAGAIN;
	t->start = start;
	t->arg = arg;
	t->guardsize = attr ? a->guardsize : (size_t)sysconf(_SC_PAGESIZE);
	if (a->flags & ATTR_STACKADDR) {
		sa.stacksize = a->stacksize;
		sa.stackaddr = (char *)a->stackaddr - a->stacksize;
		t->userstack = true;
		t->guardsize = 0;
	} else {
		sa.stacksize = a->stacksize ? a->stacksize : dflt_stacksize();
	}
	t->stacksize = sa.stacksize;
	if (a->flags & ATTR_NOTINHERITSCHED) {
		t->inheritsched = PTHREAD_EXPLICIT_SCHED;
		t->policy = a->schedpolicy;
		t->param = a->schedparam;
	} else {
		t->inheritsched = PTHREAD_INHERIT_SCHED;
		t->policy = self->policy;
		t->param = self->param;
	}
	t->scope = PTHREAD_SCOPE_SYSTEM;
	memcpy(t->name, main_name, sizeof t->name);
	atomic_store(&t->flags, (a->flags & ATTR_DETACHSTATE) ? T_DETACHED : 0);
	/* C_DISABLED/C_ASYNC are 0: a new thread starts enabled, deferred. */
	sa.user = t;
	atomic_fetch_add(&nlive, 1);

	sigset_t ms;
	bool setmask = attr && pthread_attr_getsigmask_np(attr, &ms) == 0;
	int err = 0;
	uint64_t saved = 0;
	struct gmp_g *g;
	if (setmask) {
		/* The new G copies its creator's mask: lend it the requested one. */
		struct gmp_g *sg = self->g;
		saved = sg->sigmask;
		memcpy(&sg->sigmask, &ms, sizeof sg->sigmask);
		g = gmp_spawn(thread_entry, t, &sa, &err);
		sg->sigmask = saved;
	} else {
		g = gmp_spawn(thread_entry, t, &sa, &err);
	}
	if (g == NULL) {
		atomic_fetch_sub(&nlive, 1);
		record_free(t);
		return err == -ENOMEM ? EAGAIN : -err;
	}
	__atomic_store_n(&t->g, g, __ATOMIC_RELEASE);
	*th = shim_handle(t);
	return 0;
}

/* ---------------------------------------------------------------- exit */

static void tsd_run_destructors(struct shim_thread *t);

GMP_NORETURN static void thread_finish(struct shim_thread *t)
{
	atomic_fetch_or(&t->cancel, C_ACTING | C_DISABLED);
	/* glibc's order: C++ thread_local destructors, then keys'. */
	gmp_tls_run_dtors();
	tsd_run_destructors(t);
	shim_mutex_owner_died(t);
	shim_cleartid(t);
	if (t->ismain)
		atomic_store(&main_exited, true);
	gmp_sig_untrack(t->g); /* before a joiner may run */
	bool last = atomic_fetch_sub(&nlive, 1) == 1;
	uint32_t old = atomic_fetch_or(&t->flags, T_EXITED);
	gmp_futex_wake(&t->flags, INT_MAX);
	if (old & T_DETACHED)
		record_free(t);
	/* The process ends with its last thread (the main thread may have left
	 * through pthread_exit). */
	if (last && atomic_load(&main_exited))
		exit(0);
	gmp_exit();
}

/* __pthread_unwind_buf_t as glibc's pthread.h lays it out. */
_Static_assert(sizeof(struct unwind_buf_check { __jmp_buf j; int m; void *p[4]; }) == sizeof(__pthread_unwind_buf_t),
	       "__pthread_unwind_buf_t layout");
struct unwind_buf {
	struct {
		__jmp_buf jmp_buf;
		int mask_was_saved;
	} cancel_jmp_buf[1];
	void *pad[4]; /* pad[0]: the previous buffer (our chain) */
};

/* glibc mangles the saved stack pointer with the pointer guard. */
static uintptr_t jmpbuf_sp(struct unwind_buf *b)
{
	uintptr_t v = (uintptr_t)b->cancel_jmp_buf[0].jmp_buf[6], guard;
	__asm__("movq %%fs:0x30, %0" : "=r"(guard));
	v = (v >> 0x11) | (v << (64 - 0x11));
	return v ^ guard;
}

static _Unwind_Reason_Code unwind_stop(int version, _Unwind_Action actions, _Unwind_Exception_Class cls,
				       struct _Unwind_Exception *exc, struct _Unwind_Context *ctx, void *param)
{
	struct shim_thread *t = param;
	if (actions & _UA_END_OF_STACK)
		thread_finish(t);
	struct unwind_buf *b = t->cleanup;
	if (b && _Unwind_GetCFA(ctx) >= jmpbuf_sp(b)) {
		/* The buffer is a jmp_buf without the saved mask, which longjmp
		 * does not read (mask_was_saved is 0), as glibc does. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
		longjmp((struct __jmp_buf_tag *)b->cancel_jmp_buf, 1);
#pragma GCC diagnostic pop
	}
	return _URC_NO_REASON;
}

static void unwind_cleanup(_Unwind_Reason_Code r, struct _Unwind_Exception *exc)
{
	gmp_printerr("FATAL: exception not rethrown\n");
	abort();
}

GMP_NORETURN static void unwind(struct shim_thread *t)
{
	memset(&t->exc, 0, sizeof t->exc);
	t->exc.exception_class = 0x474e5543464f5200ULL; /* "GNUCFOR\0": abi::__forced_unwind */
	t->exc.exception_cleanup = unwind_cleanup;
	_Unwind_ForcedUnwind(&t->exc, unwind_stop, t);
	/* No unwind information all the way down: finish from here. */
	thread_finish(t);
}

void shim_exit(struct shim_thread *t, void *r)
{
	if (t->foreign)
		REAL(pthread_exit)(r);
	t->result = r;
	atomic_fetch_or(&t->cancel, C_ACTING);
	unwind(t);
}

GMP_EXPORT void pthread_exit(void *r)
{
	shim_exit(shim_self(), r);
}

GMP_EXPORT void __pthread_register_cancel(__pthread_unwind_buf_t *ub)
{
	struct unwind_buf *b = (struct unwind_buf *)ub;
	struct shim_thread *t = shim_self();
	b->pad[0] = t->cleanup;
	t->cleanup = b;
}

GMP_EXPORT void __pthread_unregister_cancel(__pthread_unwind_buf_t *ub)
{
	struct unwind_buf *b = (struct unwind_buf *)ub;
	shim_self()->cleanup = b->pad[0];
}

GMP_EXPORT void __pthread_unwind_next(__pthread_unwind_buf_t *ub)
{
	struct unwind_buf *b = (struct unwind_buf *)ub;
	struct shim_thread *t = shim_self();
	t->cleanup = b->pad[0];
	unwind(t);
}

/* ---------------------------------------------------------------- join / detach */

/* deadline < 0: none.  try: return EBUSY instead of waiting. */
static int join(pthread_t th, void **ret, int64_t deadline, bool try)
{
	struct shim_thread *self = shim_self();
	struct shim_thread *t = shim_lookup(th);
	if (t == NULL)
		return ESRCH;
	uint32_t fl = atomic_load(&t->flags);
	if (try) {
		if (!(fl & T_EXITED))
			return EBUSY;
	} else if (t == self) {
		return EDEADLK;
	}
	if (deadline == -EINVAL)
		return EINVAL;
	uint32_t old = atomic_fetch_or(&t->flags, T_JOINING);
	if (old & (T_DETACHED | T_JOINING)) {
		if (!(old & T_JOINING))
			atomic_fetch_and(&t->flags, ~(uint32_t)T_JOINING);
		return EINVAL;
	}
	fl = old | T_JOINING;
	while (!(fl & T_EXITED)) {
		/* Clear the interrupt flag, then look at what it may announce. */
		gmp_intr_clear(self->g);
		if ((atomic_load(&self->cancel) & (C_PENDING | C_DISABLED | C_ACTING)) == C_PENDING) {
			atomic_fetch_and(&t->flags, ~(uint32_t)T_JOINING);
			shim_testcancel(self);
		}
		int r = gmp_futex_wait_intr(&t->flags, fl, deadline, GMP_WAIT_JOIN, t);
		if (r == -ETIMEDOUT) {
			atomic_fetch_and(&t->flags, ~(uint32_t)T_JOINING);
			return ETIMEDOUT;
		}
		fl = atomic_load(&t->flags);
	}
	/* The program may unmap a stack it supplied once join returns (as
	 * with glibc, whose threads are off it by then): wait until the thread
	 * has left it -- its G dead, or already running someone else. */
	if (t->userstack) {
		struct gmp_g *g = t->g;
		while (g->goid == t->goid && gmp_readgstatus(g) != GMP_G_DEAD)
			gmp_yield();
	}
	if (ret)
		*ret = t->result;
	record_free(t);
	return 0;
}

GMP_EXPORT int pthread_join(pthread_t th, void **ret)
{
	return join(th, ret, -1, false);
}

GMP_EXPORT int pthread_tryjoin_np(pthread_t th, void **ret)
{
	return join(th, ret, -1, true);
}

GMP_EXPORT int pthread_clockjoin_np(pthread_t th, void **ret, clockid_t clk, const struct timespec *abs)
{
	if (abs == NULL)
		return join(th, ret, -1, false);
	if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
		return EINVAL;
	int64_t dl = shim_deadline(clk, abs);
	return join(th, ret, dl == -EINVAL ? -EINVAL : dl < 0 ? 0 : dl, false);
}

GMP_EXPORT int pthread_timedjoin_np(pthread_t th, void **ret, const struct timespec *abs)
{
	return pthread_clockjoin_np(th, ret, CLOCK_REALTIME, abs);
}

GMP_EXPORT int pthread_detach(pthread_t th)
{
	struct shim_thread *t = shim_lookup(th);
	if (t == NULL)
		return ESRCH;
	uint32_t old = atomic_fetch_or(&t->flags, T_DETACHED);
	if (old & (T_DETACHED | T_JOINING)) {
		if (!(old & T_DETACHED))
			atomic_fetch_and(&t->flags, ~(uint32_t)T_DETACHED);
		return EINVAL;
	}
	if (old & T_EXITED)
		record_free(t);
	return 0;
}

/* ---------------------------------------------------------------- cancel */

void shim_testcancel(struct shim_thread *t)
{
	if (likely((atomic_load_explicit(&t->cancel, memory_order_relaxed) &
		    (C_PENDING | C_DISABLED | C_ACTING)) != C_PENDING))
		return;
	shim_exit(t, PTHREAD_CANCELED);
}

GMP_EXPORT void pthread_testcancel(void)
{
	shim_testcancel(shim_self());
}

/*
 * Threads blocked in the kernel in a cancellation point (shim_cp_call) are
 * woken by glibc's own cancellation signal, SIGCANCEL (32), which programs
 * cannot use and glibc installs only in its pthread_cancel, never called
 * under the shim.  The handler only moves an interrupted cancellable call
 * to its cancelled exit (asm/x86_64/cancel.S); with SA_RESTART, any other
 * call it lands in by accident goes on.
 */
#define SIGCANCEL 32
extern char gmp_cp_begin[], gmp_cp_end[], gmp_cp_cancel[];
void gmp_sigreturn(void);
long gmp_cp_syscall(long nr, long a, long b, long c, long d, long e, long f, const _Atomic uint32_t *cancel);

static void cancel_handler(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)si;
	greg_t *rip = &((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RIP];
	if ((char *)*rip >= gmp_cp_begin && (char *)*rip < gmp_cp_end)
		*rip = (greg_t)gmp_cp_cancel;
}

static void cancel_signal_install(void)
{
	static _Atomic bool done;
	if (atomic_load(&done) || atomic_exchange(&done, true))
		return;
	struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } ka = {
		.handler = (void *)cancel_handler,
		.flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK | 0x04000000 /* SA_RESTORER */,
		.restorer = (void *)gmp_sigreturn,
		.mask = 0,
	};
	gmp_sys(SYS_rt_sigaction, SIGCANCEL, &ka, NULL, 8, 0, 0);
}

long shim_cp_call(long nr, long a, long b, long c, long d, long e, long f)
{
	if (!gmp_runtime_inited() || gmp_in_syscall())
		return gmp_sys(nr, a, b, c, d, e, f);
	struct shim_thread *self = shim_self();
	shim_testcancel(self);
	for (;;) {
		gmp_entersyscall();
		long r = gmp_cp_syscall(nr, a, b, c, d, e, f, &self->cancel);
		gmp_exitsyscall();
		if (r != GMP_CP_CANCELED && r != -EINTR)
			return r;
		shim_testcancel(self);
		if (r == -EINTR)
			return r;
		/* Cancelled before the call, then disabled: make it after all. */
	}
}

GMP_EXPORT int pthread_cancel(pthread_t th)
{
	struct shim_thread *t = shim_lookup(th);
	if (t == NULL)
		return ESRCH;
	if (t->foreign)
		return REAL(pthread_cancel)(t->ospt);
	cancel_signal_install();
	uint32_t old = atomic_fetch_or(&t->cancel, C_PENDING);
	if ((old & (C_PENDING | C_DISABLED | C_ACTING)) == 0 && !(atomic_load(&t->flags) & T_EXITED)) {
		gmp_g_interrupt(t->g);
		struct gmp_m *m = t->g->m;
		if (gmp_readgstatus(t->g) == GMP_G_SYSCALL && m)
			gmp_sys(SYS_tgkill, getpid(), m->tid, SIGCANCEL, 0, 0, 0);
	}
	return 0;
}

GMP_EXPORT int pthread_setcancelstate(int state, int *old)
{
	if (state != PTHREAD_CANCEL_ENABLE && state != PTHREAD_CANCEL_DISABLE)
		return EINVAL;
	struct shim_thread *t = shim_self();
	uint32_t o = state == PTHREAD_CANCEL_DISABLE ? atomic_fetch_or(&t->cancel, C_DISABLED)
						     : atomic_fetch_and(&t->cancel, ~(uint32_t)C_DISABLED);
	if (old)
		*old = (o & C_DISABLED) ? PTHREAD_CANCEL_DISABLE : PTHREAD_CANCEL_ENABLE;
	return 0;
}

GMP_EXPORT int pthread_setcanceltype(int type, int *old)
{
	if (type != PTHREAD_CANCEL_DEFERRED && type != PTHREAD_CANCEL_ASYNCHRONOUS)
		return EINVAL;
	struct shim_thread *t = shim_self();
	uint32_t o = type == PTHREAD_CANCEL_ASYNCHRONOUS ? atomic_fetch_or(&t->cancel, C_ASYNC)
							 : atomic_fetch_and(&t->cancel, ~(uint32_t)C_ASYNC);
	if (old)
		*old = (o & C_ASYNC) ? PTHREAD_CANCEL_ASYNCHRONOUS : PTHREAD_CANCEL_DEFERRED;
	/* Asynchronous cancellation is acted on at once when pending, else at
	 * the next cancellation point (no asynchronous unwinding of a G). */
	if (type == PTHREAD_CANCEL_ASYNCHRONOUS)
		shim_testcancel(t);
	return 0;
}

/* ---------------------------------------------------------------- keys */

#define NKEYS PTHREAD_KEYS_MAX
struct keyslot {
	_Atomic uint64_t seq;        /* odd: in use */
	void (*_Atomic dtor)(void *);
};
static struct keyslot keys[NKEYS];

GMP_EXPORT int pthread_key_create(pthread_key_t *key, void (*dtor)(void *))
{
	for (unsigned i = 0; i < NKEYS; i++) {
		uint64_t s = atomic_load(&keys[i].seq);
		if ((s & 1) == 0 && atomic_compare_exchange_strong(&keys[i].seq, &s, s + 1)) {
			atomic_store(&keys[i].dtor, dtor);
			*key = i;
			return 0;
		}
	}
	return EAGAIN;
}

GMP_EXPORT int pthread_key_delete(pthread_key_t key)
{
	if (key >= NKEYS)
		return EINVAL;
	uint64_t s = atomic_load(&keys[key].seq);
	if ((s & 1) == 0 || !atomic_compare_exchange_strong(&keys[key].seq, &s, s + 1))
		return EINVAL;
	return 0;
}

GMP_EXPORT void *pthread_getspecific(pthread_key_t key)
{
	gmp_preempt_point();
	if (unlikely(key >= NKEYS))
		return NULL;
	struct shim_thread *t = shim_self();
	struct shim_tsd *b = t->tsd[key / 32];
	if (b == NULL)
		return NULL;
	struct shim_tsd *e = &b[key % 32];
	return e->seq == atomic_load_explicit(&keys[key].seq, memory_order_relaxed) ? e->value : NULL;
}

GMP_EXPORT int pthread_setspecific(pthread_key_t key, const void *value)
{
	gmp_preempt_point();
	if (key >= NKEYS)
		return EINVAL;
	uint64_t seq = atomic_load(&keys[key].seq);
	if ((seq & 1) == 0)
		return EINVAL;
	struct shim_thread *t = shim_self();
	struct shim_tsd *b = t->tsd[key / 32];
	if (b == NULL) {
		if (value == NULL)
			return 0;
		b = calloc(32, sizeof *b);
		if (b == NULL)
			return ENOMEM;
		t->tsd[key / 32] = b;
	}
	b[key % 32].seq = seq;
	b[key % 32].value = (void *)value;
	return 0;
}

static void tsd_run_destructors(struct shim_thread *t)
{
	for (int round = 0; round < PTHREAD_DESTRUCTOR_ITERATIONS; round++) {
		bool again = false;
		for (unsigned blk = 0; blk < 32; blk++) {
			struct shim_tsd *b = t->tsd[blk];
			if (b == NULL)
				continue;
			for (unsigned j = 0; j < 32; j++) {
				unsigned k = blk * 32 + j;
				void *v = b[j].value;
				if (v == NULL)
					continue;
				b[j].value = NULL;
				uint64_t seq = atomic_load(&keys[k].seq);
				void (*d)(void *) = atomic_load(&keys[k].dtor);
				if (b[j].seq != seq || (seq & 1) == 0 || d == NULL)
					continue;
				d(v);
				again = true;
			}
		}
		if (!again)
			break;
	}
	for (unsigned blk = 0; blk < 32; blk++)
		if (t->tsd[blk])
			memset(t->tsd[blk], 0, 32 * sizeof(struct shim_tsd));
}

/* ---------------------------------------------------------------- once */

/* States of a pthread_once_t: 0 not run, 1 running, 2 running with
 * waiters, 3 done.  A cancelled or exiting init routine resets it to 0. */
static void once_abandon(_Atomic uint32_t **w)
{
	if (*w && atomic_exchange(*w, 0) == 2)
		gmp_futex_wake(*w, INT_MAX);
}

GMP_EXPORT int pthread_once(pthread_once_t *once, void (*init)(void))
{
	_Atomic uint32_t *w = (_Atomic uint32_t *)once;
	for (;;) {
		uint32_t v = atomic_load_explicit(w, memory_order_acquire);
		if (likely(v == 3))
			return 0;
		if (v == 0) {
			if (!atomic_compare_exchange_strong(w, &v, 1))
				continue;
			_Atomic uint32_t *guard __attribute__((cleanup(once_abandon))) = w;
			init();
			guard = NULL;
			if (atomic_exchange(w, 3) == 2)
				gmp_futex_wake(w, INT_MAX);
			return 0;
		}
		if (v == 1 && !atomic_compare_exchange_strong(w, &v, 2))
			continue;
		gmp_futex_wait(w, 2, -1, GMP_WAIT_FUTEX, once);
	}
}

/* ---------------------------------------------------------------- names, sched */

GMP_EXPORT int pthread_setname_np(pthread_t th, const char *name)
{
	struct shim_thread *t = shim_lookup(th);
	if (t == NULL)
		return ESRCH;
	size_t n = strlen(name);
	if (n >= sizeof t->name)
		return ERANGE;
	if (t->foreign)
		return REAL(pthread_setname_np)(REAL(pthread_self)(), name);
	memcpy(t->name, name, n + 1);
	if (unlikely(gmp_tracing))
		gmp_trace_name(t->g->goid, name);
	return 0;
}

GMP_EXPORT int pthread_getname_np(pthread_t th, char *buf, size_t len)
{
	struct shim_thread *t = shim_lookup(th);
	if (t == NULL)
		return ESRCH;
	if (t->foreign)
		return REAL(pthread_getname_np)(REAL(pthread_self)(), buf, len);
	size_t n = strlen(t->name);
	if (len < n + 1)
		return ERANGE;
	memcpy(buf, t->name, n + 1);
	return 0;
}

static bool sched_valid(int policy, const struct sched_param *p)
{
	if (policy != SCHED_OTHER && policy != SCHED_FIFO && policy != SCHED_RR &&
	    policy != SCHED_BATCH && policy != SCHED_IDLE)
		return false;
	return p->sched_priority >= sched_get_priority_min(policy) &&
	       p->sched_priority <= sched_get_priority_max(policy);
}

/* Scheduling attributes are stored and reported; all Gs are scheduled
 * alike (documented in README). */
GMP_EXPORT int pthread_setschedparam(pthread_t th, int policy, const struct sched_param *p)
{
	struct shim_thread *t = shim_lookup(th);
	if (t == NULL)
		return ESRCH;
	if (!sched_valid(policy, p))
		return EINVAL;
	if ((policy == SCHED_FIFO || policy == SCHED_RR) && geteuid() != 0) {
		struct rlimit rl;
		if (getrlimit(RLIMIT_RTPRIO, &rl) != 0 || rl.rlim_cur < (rlim_t)p->sched_priority)
			return EPERM;
	}
	t->policy = policy;
	t->param = *p;
	return 0;
}

GMP_EXPORT int pthread_getschedparam(pthread_t th, int *policy, struct sched_param *p)
{
	struct shim_thread *t = shim_lookup(th);
	if (t == NULL)
		return ESRCH;
	*policy = t->policy;
	*p = t->param;
	return 0;
}

GMP_EXPORT int pthread_setschedprio(pthread_t th, int prio)
{
	struct shim_thread *t = shim_lookup(th);
	if (t == NULL)
		return ESRCH;
	struct sched_param p = { .sched_priority = prio };
	return pthread_setschedparam(th, t->policy, &p);
}

static _Atomic int concurrency;

GMP_EXPORT int pthread_getconcurrency(void)
{
	return atomic_load(&concurrency);
}

GMP_EXPORT int pthread_setconcurrency(int level)
{
	if (level < 0)
		return EINVAL;
	atomic_store(&concurrency, level);
	return 0;
}

/* Affinity: every G may run on any M; the requested set is validated
 * against the process's and kept, and reported back. */
GMP_EXPORT int pthread_setaffinity_np(pthread_t th, size_t size, const cpu_set_t *set)
{
	if (shim_lookup(th) == NULL)
		return ESRCH;
	cpu_set_t proc;
	if (sched_getaffinity(0, sizeof proc, &proc) != 0)
		return errno;
	bool any = false;
	for (size_t i = 0; i < size * 8 && i < CPU_SETSIZE; i++)
		if (CPU_ISSET_S(i, size, set) && CPU_ISSET(i, &proc))
			any = true;
	return any ? 0 : EINVAL;
}

GMP_EXPORT int pthread_getaffinity_np(pthread_t th, size_t size, cpu_set_t *set)
{
	if (shim_lookup(th) == NULL)
		return ESRCH;
	return sched_getaffinity(0, size, set) == 0 ? 0 : errno;
}

GMP_EXPORT int pthread_getcpuclockid(pthread_t th, clockid_t *clk)
{
	struct shim_thread *t = shim_lookup(th);
	if (t == NULL)
		return ESRCH;
	/* A G has no CPU clock of its own: report the OS thread's running it
	 * (or that last ran it). */
	pid_t tid = t->foreign ? t->ostid : (t->g->m ? t->g->m->tid : gmp_gettid());
	*clk = (clockid_t)(((unsigned)~tid << 3) | 6); /* CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED */
	return 0;
}

/* ---------------------------------------------------------------- init, fork */

static void read_comm(void)
{
	int fd = (int)gmp_sys(SYS_open, "/proc/self/comm", 0 /* O_RDONLY */, 0, 0, 0, 0);
	if (fd < 0)
		return;
	long n = gmp_sys(SYS_read, fd, main_name, sizeof main_name - 1, 0, 0, 0);
	gmp_sys(SYS_close, fd, 0, 0, 0, 0, 0);
	if (n > 0 && main_name[n - 1] == '\n')
		n--;
	main_name[n > 0 ? n : 0] = 0;
}

/* The main thread becomes a G (on M0) with a record of its own. */
void shim_threads_init(void);
void shim_threads_init(void)
{
	read_comm();
	pthread_attr_t a;
	void *lo;
	size_t size;
	if (REAL(pthread_getattr_np)(REAL(pthread_self)(), &a) != 0 ||
	    pthread_attr_getstack(&a, &lo, &size) != 0)
		gmp_fatal("cannot find the main thread's stack");
	pthread_attr_destroy(&a);
	struct gmp_g *g = gmp_adopt_thread(lo, (char *)lo + size);
	struct shim_thread *t = record_alloc();
	t->g = g;
	t->ismain = true;
	t->stacksize = size;
	t->guardsize = (size_t)sysconf(_SC_PAGESIZE);
	t->policy = SCHED_OTHER;
	t->inheritsched = PTHREAD_INHERIT_SCHED;
	memcpy(t->name, main_name, sizeof t->name);
	g->user = t;
	main_thread = t;
	atomic_store(&nlive, 1);
}

void shim_threads_forkchild(struct shim_thread *self)
{
	/* Other threads' records stay (their handles may still be compared),
	 * but only the caller lives. */
	atomic_store(&nlive, 1);
	table_lock = (gmp_mutex){ 0 };
	default_lock = (gmp_mutex){ 0 };
	if (self->ismain)
		atomic_store(&main_exited, false);
}
