/*
 * libgmpthread runtime: internal types and API.
 *
 * The runtime is Go's G/M/P scheduler in C:
 *   G  a user-level thread: a stack, a saved context, a status.
 *   M  an OS thread that runs Gs.  It holds a P while it runs Go... user code.
 *   P  a processor: the right to run Gs, with a local run queue, a G free
 *      list and a timer heap.  There are exactly gmp_sched.nprocs of them.
 *
 * Nothing here knows about POSIX object layouts; preload/ translates the
 * pthread ABI onto the small API at the end of this file.
 *
 * Locking order (outer first): wait-queue bucket lock -> sched.lock ->
 * P timer lock.  The runtime never holds a runtime lock across a G switch.
 *
 * "Current M" lives in a runtime-owned initial-exec TLS slot (gmp_tls_m), read
 * with an asm volatile so that the compiler can never cache its address across
 * a switch.  Every TLS block an M ever loads (its own, and with per-G TLS the
 * G's) carries the M's pointer, so the slot is right in signal handlers too;
 * OS threads the runtime did not create read NULL there ("foreign" threads).
 * See docs/ARCHITECTURE.md for why this beats a %gs-based M pointer.
 */
#ifndef GMP_RUNTIME_H
#define GMP_RUNTIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <pthread.h>

#include "../asm/x86_64/context.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define GMP_COLD    __attribute__((cold, noinline))
#define GMP_NORETURN __attribute__((noreturn))
#define GMP_CACHELINE 64
/* Never-returning scheduler paths: not instrumented by TSan (see sched.c). */
#define GMP_NOTSAN __attribute__((no_sanitize_thread))

/* ------------------------------------------------------------------------
 * Configuration (src/env.c).  Filled from GMP_* at init; tests may pass
 * their own.  Read-only after gmp_runtime_init.
 */
enum gmp_guard_mode {
	GMP_GUARD_PAGE,   /* PROT_NONE guard page below each stack (2 VMAs/stack) */
	GMP_GUARD_CANARY, /* no guard VMA: canary word checked at switch/exit */
};

/* GMP_TLS: what a G's thread pointer points at (tcb.c, tls.c). */
enum gmp_tls_mode {
	GMP_TLS_PERG = 0, /* its own glibc TLS block and TCB (default) */
	GMP_TLS_SHARED,   /* its M's; errno saved and restored per G */
};

struct gmp_config {
	int maxprocs;            /* GMP_MAXPROCS: number of Ps */
	size_t stacksize;        /* GMP_STACKSIZE: default G stack size */
	int maxthreads;          /* GMP_MAXTHREADS: cap on Ms (OS threads) */
	enum gmp_guard_mode guard; /* GMP_STACKGUARD */
	enum gmp_tls_mode tls;   /* GMP_TLS */
	int preempt_ms;          /* GMP_PREEMPT_MS: time slice before preemption */
	bool asyncpreempt;       /* GMP_ASYNCPREEMPT: SIGURG preemption (preempt.c) */
	bool debug_preempt;      /* GMP_DEBUG=preempt: statistics at exit */
	/* Debugging (dump.c, crash.c, trace.c). */
	int dumpsig;             /* GMP_DUMP_SIGNAL: 0 none (default SIGQUIT) */
	const char *dumpfile;    /* GMP_DUMP_FILE: NULL = stderr */
	bool deadlock;           /* GMP_DEADLOCK: report and exit 2 */
	int schedtrace_ms;       /* GMP_DEBUG=schedtrace=MS, 0 off */
	bool scheddetail;        /* GMP_DEBUG=scheddetail=1 */
	const char *trace;       /* GMP_TRACE: trace file, NULL off */
	int tracebuf;            /* GMP_TRACE_BUF: events per OS thread */
};

void gmp_config_from_env(struct gmp_config *cfg);

/* ------------------------------------------------------------------------
 * Fatal errors (src/fatal.c).  Prints "gmpthread: fatal: ..." with the
 * current G/M/P and aborts.  Usable from any context, signal handlers too.
 */
GMP_NORETURN void gmp_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), cold));
/* Writes all of buf to fd with raw system calls (EINTR retried, EAGAIN
 * waited out); gives up on any other error.  Async-signal-safe. */
void gmp_write_all(int fd, const void *buf, size_t len);
/* Buffered formatted output to an fd through gmp_write_all (dumps, the
 * trace file); a line is cut at 1 KiB.  No malloc, no stdio locks. */
struct gmp_out {
	int fd;
	size_t n;
	char buf[8192];
};
void gmp_outf(struct gmp_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gmp_out_flush(struct gmp_out *o);
/* Prints "gmpthread: ..." on stderr with a raw write (no stdio locks). */
void gmp_printerr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define gmp_assert(c) \
	do { if (unlikely(!(c))) gmp_fatal("assertion failed: %s (%s:%d)", #c, __FILE__, __LINE__); } while (0)

/* ------------------------------------------------------------------------
 * Low-level: raw syscalls, time, futex-based locks and notes (src/lock.c).
 * Raw syscalls return -errno and never touch errno.
 */
long gmp_syscall6(long n, long a, long b, long c, long d, long e, long f);
#define gmp_sys(n, a, b, c, d, e, f) \
	gmp_syscall6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

int64_t gmp_nanotime(void);         /* CLOCK_MONOTONIC, ns */
pid_t gmp_gettid(void);
/* rt_sigprocmask on the OS thread, bypassing any interposed wrapper. */
#include <signal.h>
void gmp_sigmask(int how, const sigset_t *set, sigset_t *old);
static inline void gmp_cpu_relax(void) { __builtin_ia32_pause(); }

/* Futex word wait/wake on the OS thread (kernel futexes, private). */
int gmp_os_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t deadline_ns);
void gmp_os_futex_wake(_Atomic uint32_t *addr, int n);

/*
 * gmp_mutex: runtime-internal lock that blocks the OS thread.
 * Lock word states: 0 unlocked; 1 locked, no waiters; 2 locked, maybe waiters.
 * Spins briefly before sleeping in the kernel.  All-zero is unlocked.
 * Holding one counts as m->locks (no async preemption inside).
 */
typedef struct { _Atomic uint32_t word; } gmp_mutex;
void gmp_lock(gmp_mutex *l);
void gmp_unlock(gmp_mutex *l);

/*
 * gmp_note: a one-shot event for one sleeper (Go's note).  States: 0 clear,
 * 1 woken.  notesleep returns once woken; noteclear re-arms it.  The sleeper
 * owns clearing.
 */
typedef struct { _Atomic uint32_t key; } gmp_note;
static inline void gmp_noteclear(gmp_note *n) { atomic_store_explicit(&n->key, 0, memory_order_relaxed); }
void gmp_notewakeup(gmp_note *n);
void gmp_notesleep(gmp_note *n);
/* Returns true if woken, false on timeout (deadline in gmp_nanotime units; <0 = none). */
bool gmp_notetsleep(gmp_note *n, int64_t deadline);

/* ------------------------------------------------------------------------
 * G: a user thread.
 */
enum gmp_gstatus {
	/* G allocated but not initialised (on no list).  Owner: allocator. */
	GMP_G_IDLE = 0,
	/* On a run queue; not executing.  Owner of the stack: none (the queue). */
	GMP_G_RUNNABLE,
	/* Executing on g->m.  Owner of the stack: the G itself. */
	GMP_G_RUNNING,
	/* In a blocking system call, still holding its M.  Owner: the G. */
	GMP_G_SYSCALL,
	/* Parked: on a wait queue / timer / poller, not on a run queue.  Whoever
	 * readies it (gmp_ready) becomes the owner.  Its saved context is valid. */
	GMP_G_WAITING,
	/* Exited; on a free list or being freed.  Owner: the free list. */
	GMP_G_DEAD,
	/* Stopped by async preemption, to be put back on a run queue. */
	GMP_G_PREEMPTED,
};
/* Set on a status by a dump reading the G's stack (Go's Gscan): every
 * transition (gmp_casgstatus) waits until it is cleared, so a G that is not
 * running cannot start to while its stack is read. */
#define GMP_G_SCAN 0x1000u

/* Why a G is waiting (shown in dumps). */
enum gmp_waitreason {
	GMP_WAIT_NONE = 0,
	GMP_WAIT_FUTEX,    /* generic address wait (emulated futex) */
	GMP_WAIT_MUTEX,
	GMP_WAIT_COND,
	GMP_WAIT_RWLOCK,
	GMP_WAIT_SEM,
	GMP_WAIT_BARRIER,
	GMP_WAIT_JOIN,
	GMP_WAIT_SLEEP,
	GMP_WAIT_IO,       /* one fd: obj is its pd, + 1 when waiting to write */
	GMP_WAIT_POLL,     /* poll/select/epoll_wait on several fds */
	GMP_WAIT_TEST,     /* tests' own parks */
	GMP_WAIT_NREASONS
};
const char *gmp_waitreason_str(enum gmp_waitreason r);

struct gmp_g;
struct gmp_m;
struct gmp_p;

/*
 * A timer fires fn(t) on some M that holds a P, after the deadline.
 * The callback must not block (it runs inside the scheduler); it typically
 * readies a G.  Protection: t->p and the heap index are protected by p's
 * timer lock; state is atomic.
 */
enum gmp_timer_state { GMP_TIMER_IDLE = 0, GMP_TIMER_QUEUED, GMP_TIMER_RUNNING };
struct gmp_timer {
	int64_t when;                  /* deadline, gmp_nanotime units */
	void (*fn)(struct gmp_timer *t);
	void *arg;
	_Atomic(struct gmp_p *) p;     /* heap it is in (NULL: none) */
	int idx;                       /* index in p's heap; p->timerlock */
	_Atomic uint32_t state;        /* enum gmp_timer_state */
};

struct gmp_stack {
	void *lo, *hi;        /* usable stack [lo, hi) */
	void *map;            /* mapping start (guard page included) */
	size_t maplen;
	bool pooled;          /* allocated by the runtime at the default size */
	unsigned vg_id;       /* valgrind stack id (0: not registered) */
};

struct gmp_g {
	struct gmp_ctx ctx;        /* saved context; valid when not RUNNING.  Owner per status. */
	struct gmp_stack stack;    /* owner: the G (immutable while alive) */
	_Atomic uint32_t status;   /* enum gmp_gstatus; change with gmp_casgstatus only */
	uint64_t goid;             /* unique id, never reused; set at spawn */
	struct gmp_m *m;           /* M running it, when RUNNING/SYSCALL; written by that M */
	struct gmp_g *schedlink;   /* link: global run queue, free lists, inject lists */
	void (*fn)(void *);        /* start routine (for dumps) */
	void *arg;
	/* Parking.  Written by the G before it parks, read by dumps. */
	uint8_t waitreason;        /* enum gmp_waitreason */
	const void *waitobj;       /* object waited on */
	int64_t waitsince;
	/* Foreign Gs (OS threads the runtime did not create) park on this futex. */
	bool foreign;
	_Atomic uint32_t fwake;    /* foreign: 1 = readied */
	/* Timer for sleeps and timed parks.  Owner: the G. */
	struct gmp_timer timer;
	int errno_save;            /* shared TLS: errno while not running (tls.c) */
	/* Per-G TLS (tcb.c): the thread pointer while it runs.  Kept with the
	 * G across reuse; borrowed = glibc's own TCB (the main thread's). */
	void *tcb;
	bool tcb_borrowed;
	/* Signals (tls.c): the G's own mask, applied to its M when it runs;
	 * signals sent to it while it had them blocked or was not running. */
	uint64_t sigmask;          /* kernel sigset; written by the G itself */
	_Atomic uint64_t sigpend;  /* bit sig-1; set by senders, cleared by the G */
	_Atomic uint64_t sigqueued; /* of those, sent with a value (sigqueue) */
	_Atomic uint64_t sigdelivered; /* raised on its M since the G last cleared it */
	_Atomic uint64_t sigwaitset; /* in sigtimedwait in the kernel for these */
	int maskslot;              /* its mask's entry in tls.c's table, -1 none */
	_Atomic uint64_t sigrouted; /* process signals handed to it wait in tls.c's ring */
	void *_Atomic sigqv;       /* 64 values, allocated on first use; never freed */
	/* Interruption of a blocking wait (park.c): intr is set by an
	 * interrupter, consumed by the G; wqw is the wait-queue entry the G is
	 * blocked on, protected by wqlock. */
	_Atomic uint32_t intr;
	gmp_mutex wqlock;
	void *wqw;
	void *user;                /* preload/'s per-thread record */
	struct gmp_g *allnext;     /* all-G list (gmp_sched.allglock) */
	void *tsan_fiber;          /* ThreadSanitizer builds only */
};

static inline uint32_t gmp_readgstatus(const struct gmp_g *g)
{
	return atomic_load(&((struct gmp_g *)g)->status) & ~GMP_G_SCAN;
}

/* ------------------------------------------------------------------------
 * P: processor.
 */
#define GMP_RUNQ_SIZE 256
/* Hand-offs through runnext in a row before the pair yields to the queue
 * (no preemption yet bounds their shared time slice). */
#define GMP_MAX_INHERIT 61

enum gmp_pstatus {
	GMP_P_IDLE = 0,   /* on the idle list; no M */
	GMP_P_RUNNING,    /* held firmly by its M: scheduler or runtime code */
	GMP_P_SYSCALL,    /* its M is in a syscall; sysmon may retake */
	GMP_P_USER,       /* its M runs a G's own code, where it may block in the
			   * kernel unseen: sysmon may retake it when the M's
			   * CPU clock stops (gmp_holdp, sysmon.c).  Stored with
			   * the M's id in the high bits (GMP_P_USER_OF), so a
			   * stale M can never CAS back a P that sysmon retook
			   * and that now runs user code of another M (ABA). */
};
#define GMP_P_STATE(st) ((st) & 0xffu)
#define GMP_P_USER_OF(m) (GMP_P_USER | ((uint32_t)(m)->id << 8))
static inline bool gmp_p_busy(uint32_t st)
{
	return GMP_P_STATE(st) == GMP_P_RUNNING || GMP_P_STATE(st) == GMP_P_USER;
}

struct gmp_p {
	int id;
	_Atomic uint32_t status;     /* enum gmp_pstatus */
	_Atomic(struct gmp_m *) m;   /* owner M (relaxed: ownership moves with status) */
	_Atomic uint32_t schedtick;  /* written by the owner (per scheduled G), read by sysmon */
	uint32_t ninherit;           /* owner only; consecutive runnext hand-offs */
	_Atomic uint32_t preempt;    /* sysmon: the running G has had its time slice */
	_Atomic int64_t preemptwhen; /* when sysmon first asked (latency stats), 0 none */
	_Atomic uint32_t syscalltick; /* bumped by the owner at each syscall entry/exit */
	struct gmp_p *link;          /* idle list; sched.lock */

	/* Local run queue: single producer (owner), multiple consumers (owner
	 * and thieves).  head is CAS'ed by consumers; tail written by owner only. */
	_Alignas(GMP_CACHELINE) _Atomic uint32_t runqhead;
	_Atomic uint32_t runqtail;
	_Atomic(struct gmp_g *) runnext; /* next G to run, ahead of runq; CAS */
	_Atomic(struct gmp_g *) runq[GMP_RUNQ_SIZE];

	/* Dead Gs with their stacks, for reuse.  Owner only. */
	_Alignas(GMP_CACHELINE) struct gmp_g *gfree;
	int gfreecnt;

	/* Timers: binary min-heap on when.  timerlock protects timers/ntimers. */
	gmp_mutex timerlock;
	struct gmp_timer **timers;
	int ntimers, timercap;
	_Atomic int64_t timer0when;  /* earliest when, 0 = none; written under timerlock */
	uint32_t fastrand;           /* owner only */
};

/* ------------------------------------------------------------------------
 * M: OS thread.
 */
struct gmp_m {
	/* Async preemption (preempt.c): where the interrupted G resumes; read by
	 * gmp_asyncpreempt (asm) at a fixed offset. */
	uint64_t asyncpc;
	/* The outermost gmp_entersyscall's caller, as it will return from it
	 * (written by the asm entry, context.S): dumps unwind a G in a system
	 * call from here.  syscalldepth: entersyscall nesting (signal handlers
	 * in a call); both at fixed offsets for the asm. */
	struct gmp_ctx sysctx;
	int syscalldepth;
	/* Dumps (dump.c): a request to unwind the running G (dumpreq bumped,
	 * then the runtime's SIGURG); the handler leaves the frames and sets
	 * dumpack = dumpreq. */
	_Atomic uint32_t dumpreq, dumpack;
	int dumpn;
	uintptr_t dumppc[48];
	void *altstack;            /* sigaltstack of the OS thread (crash.c) */
	struct gmp_tracebuf *trace; /* trace.c; own M only */
	/* Preemption signal handshake with sysmon (preempt.c): 0 none, 1 being
	 * sent, 2 sent and not yet taken. */
	_Atomic uint32_t urgsent;
	/* The program's own SIGURGs raised on this M by the runtime (tls.c)
	 * and not yet handed to its handler. */
	_Atomic uint32_t urgprog;
	/* sysmon took this M's P while it was blocked unseen (sysmon.c),
	 * and the M has not found out yet (gmp_m_lostp_seen). */
	_Atomic uint32_t pstolen;
	int id;
	pid_t tid;
	struct gmp_g *curg;        /* G running on this M (NULL on g0); own M only */
	struct gmp_p *p;           /* P held; own M only, others under sched.lock when idle */
	struct gmp_p *nextp;       /* P handed to us while parked; sched.lock */
	struct gmp_p *oldp;        /* P we held when we entered a syscall; own M only */
	bool spinning;             /* looking for work; own M only (counted in sched.nmspinning) */
	int locks;                 /* > 0: inside the runtime, no preemption */
	int rtcalls;               /* entersyscall calls made by the runtime itself (no-ops) */
	int pheld;                 /* > 0: holds m->p firmly (P RUNNING); 0 while a G's own
				    * code runs (P USER).  Own M only; see gmp_holdp */
	void *g0sp;                /* top of the scheduler (g0) stack */
	gmp_note park;             /* sleep here when idle */
	struct gmp_m *schedlink;   /* idle M list; sched.lock */
	struct gmp_m *alllink;     /* all-M list; immutable after publish */
	/* Handed from a G to g0 across mcall. */
	bool (*waitunlockf)(struct gmp_g *g, void *arg);
	void *waitlock;
	uint64_t fastrand;         /* own M only */
	uint64_t sigmask;          /* signal mask now set on the OS thread; own M only */
	_Atomic bool sigstale;     /* a handler changed the mask on return (tls.c) */
	void *tcb;                 /* per-G TLS: the TCB g0 runs on (the OS thread's own) */
	void *curtcb;              /* the TCB %fs points at now; own M only */
	void *listedtcb;           /* the TCB glibc's thread list has for this OS thread */
	void *tsan_fiber;          /* ThreadSanitizer builds: the g0 fiber */
};

_Static_assert(offsetof(struct gmp_m, asyncpc) == GMP_M_ASYNCPC, "m asyncpc");
_Static_assert(offsetof(struct gmp_m, sysctx) == GMP_M_SYSCTX, "m sysctx");
_Static_assert(offsetof(struct gmp_m, syscalldepth) == GMP_M_SYSCALLDEPTH, "m syscalldepth");

/* ------------------------------------------------------------------------
 * Global scheduler state.
 */
struct gmp_sched {
	gmp_mutex lock;
	struct gmp_config cfg;
	int nprocs;                 /* immutable after init */
	struct gmp_p **allp;        /* immutable after init */

	struct gmp_m *midle;        /* idle Ms; lock */
	int nmidle;                 /* lock */
	int mcount;                 /* Ms created; lock */
	struct gmp_m *allm;         /* all Ms; prepended under lock, read lock-free */
	_Atomic pid_t *mtid;        /* OS thread id of M number i (sysmon reads them) */
	struct gmp_m *_Atomic *mbyid; /* M number i */

	struct gmp_p *pidle;        /* idle Ps; lock */
	_Atomic int npidle;         /* written under lock, read anywhere */
	_Atomic int nmspinning;     /* Ms spinning for work */
	_Atomic int nstolen;        /* Ms with pstolen set (sysmon.c) */

	struct gmp_g *runqhead, *runqtail; /* global run queue; lock */
	_Atomic int runqsize;       /* written under lock */

	gmp_mutex gflock;           /* protects the three fields below */
	struct gmp_g *gfree_stack;  /* dead Gs that kept a pooled stack */
	int ngfree_stack;
	struct gmp_g *gfree_nostack; /* dead Gs without a stack */

	gmp_mutex foreignlock;       /* free list of foreign Gs (sched.c) */

	gmp_mutex allglock;
	struct gmp_g *allg;         /* every G ever allocated (Gs are never freed) */
	_Atomic int ngoroutines;    /* live (not dead) Gs, foreign ones excluded */
	_Atomic uint64_t goidgen;

	/* Netpoll/timer sleeping: lastpoll == 0 means an M is blocked in
	 * gmp_netpoll; pollUntil is when it will wake up by itself. */
	_Atomic int64_t lastpoll;
	_Atomic int64_t polluntil;
	_Atomic int npollwait;      /* Gs waiting on fd readiness (netpoll) */

	_Atomic uint64_t mainsigmask; /* the main thread's mask, last set (idle Ms take the dump signal if it does) */
	_Atomic(struct gmp_g *) maing; /* the main thread's G while it lives (tls.c) */
	_Atomic uint32_t sigkick;    /* a signal was left pending on maing: interrupt it */
	_Atomic bool inited;
	int64_t starttime;          /* gmp_nanotime at init (dumps, traces) */
};

extern struct gmp_sched gmp_sched;

/* Current M: NULL on threads the runtime did not create. */
extern __thread struct gmp_m *gmp_tls_m __attribute__((tls_model("initial-exec")));
static inline struct gmp_m *gmp_getm(void)
{
	struct gmp_m *m;
	/* Never cached by the compiler: a G may resume on another M. */
	__asm__ volatile("movq gmp_tls_m@gottpoff(%%rip), %0\n\t"
			 "movq %%fs:(%0), %0" : "=r"(m));
	return m;
}

/* ------------------------------------------------------------------------
 * Internal subsystem APIs.
 */
/* g.c */
bool gmp_casgstatus(struct gmp_g *g, uint32_t from, uint32_t to);
const char *gmp_gstatus_str(uint32_t st);
struct gmp_g *gmp_g_alloc(struct gmp_p *pp, size_t stacksize, void *userstack, size_t userstacksize);
void gmp_allg_add(struct gmp_g *g); /* a G struct just made, for good */
void gmp_g_free(struct gmp_p *pp, struct gmp_g *g);

/* stack.c */
int gmp_stack_alloc(struct gmp_stack *s, size_t size);
void gmp_stack_free(struct gmp_stack *s);
bool gmp_stack_overflowed(const struct gmp_stack *s);
/* Tell valgrind (if running under it) that [lo, hi) is a stack. */
void gmp_stack_register(struct gmp_stack *s);
size_t gmp_stack_pagesize(void);

/* alloc.c: runtime memory that never touches malloc. */
void *gmp_persistentalloc(size_t size);   /* zeroed, never freed */
void *gmp_rawalloc(size_t size);          /* mmap; NULL on failure */
void gmp_rawfree(void *p, size_t size);
void gmp_alloc_forklock(bool lock);      /* fork: hold / release the arena lock */

/* runq.c */
void gmp_runqput(struct gmp_p *pp, struct gmp_g *g, bool next);
struct gmp_g *gmp_runqget(struct gmp_p *pp, bool *inherit);
struct gmp_g *gmp_runqsteal(struct gmp_p *pp, struct gmp_p *victim, bool stealnext);
bool gmp_runqempty(struct gmp_p *pp);
uint32_t gmp_runqlen(struct gmp_p *pp);
void gmp_globrunqput_locked(struct gmp_g *g);
void gmp_globrunqputbatch_locked(struct gmp_g *head, struct gmp_g *tail, int n);
struct gmp_g *gmp_globrunqget_locked(struct gmp_p *pp, int max);

/* timer.c */
/* t->when, fn, arg set; t idle.  Returns true if t is now its P's earliest
 * timer: the caller must then gmp_wakenetpoller(when) -- after releasing any
 * lock it holds, since that may start an M. */
bool gmp_timer_add(struct gmp_timer *t);
bool gmp_timer_del(struct gmp_timer *t);         /* true: removed before it fired */
int gmp_timer_run(struct gmp_p *pp, int64_t now, int64_t *next); /* run expired timers of pp */
int64_t gmp_timer_next_all(void);                /* earliest deadline over all Ps, 0 = none */

/*
 * tcb.c: per-G TLS blocks.  gmp_tls_perg is set once at init; gmp_tls_moff is
 * where gmp_tls_m sits relative to any thread pointer.
 */
extern bool gmp_tls_perg;
extern long gmp_tls_moff;
void gmp_tls_init(const struct gmp_config *cfg);
void gmp_tls_setfs(struct gmp_m *m, void *tcb);   /* load tcb (m->curtcb updated if m) */
int gmp_tcb_prepare(struct gmp_g *g);   /* spawn: a fresh block for g; -ENOMEM */
void gmp_tcb_release(struct gmp_g *g);  /* exit (on g0): dynamic TLS freed, off glibc's list */
void gmp_tcb_destroy(struct gmp_g *g);  /* the G gives its block back (with its stack) */
void *gmp_tls_g0_tcb(void);             /* a TCB for M0's g0 */
void gmp_tls_adopt_main(void *tcb);     /* the main thread's TCB becomes the main G's */
void gmp_tls_fork_prepare(void);
void gmp_tls_fork_parent(void);
void gmp_tls_fork_child(struct gmp_g *self);
static inline void *gmp_tls_tp(void)
{
	void *tp;
	__asm__ volatile("movq %%fs:0, %0" : "=r"(tp));
	return tp;
}

/* tls.c: per-G thread-local state across switches */
void gmp_tls_save(struct gmp_g *g);   /* G leaving its M */
void gmp_tls_load(struct gmp_g *g);   /* G about to run on the current M */
/* The M has no G to run: block the program's signals, so that the kernel
 * gives a process-directed one to an M running a G that takes it, or to
 * sysmon (which catches for parked Gs).  The dump signal stays open if the
 * main thread takes it. */
void gmp_sig_idle(struct gmp_m *m);
/* Raise on m's OS thread the signals pending for g (running there) that it
 * does not block.  Async-signal-safe. */
void gmp_sig_deliver(struct gmp_m *m, struct gmp_g *g);
/* Set m's OS thread mask to a G's mask minus gmp_sig_keep (if it differs). */
void gmp_m_setsigmask(struct gmp_m *m, uint64_t mask);
/* Every signal but glibc's internal SIGCANCEL (32) and SIGSETXID (33):
 * setuid() and friends signal every OS thread and wait for each. */
#define GMP_SIGALL (~(uint64_t)0 & ~(3ULL << 31))

/*
 * preempt.c: asynchronous preemption.  sysmon sends SIGURG to the M of a G
 * that has used up its time slice while running its own code; the handler
 * makes the G call gmp_asyncpreempt (asm) when it interrupted it at a safe
 * point, and otherwise leaves the request to the next cooperative point.
 */
void gmp_preempt_init(void);
/* Signal bits an M running a G never blocks in the kernel (SIGURG while
 * async preemption is on): the G's own mask only defers them (tls.c). */
extern uint64_t gmp_sig_keep;
/* Ask the G running on pp (a busy P seen with status st) to yield at once:
 * signal its M if it runs its own code on a CPU.  sysmon only. */
void gmp_preempt_signal(struct gmp_p *pp, uint32_t st);
/* A signal was sent to g, which runs on another M with it unblocked: ask
 * that M (the runtime's SIGURG) to raise it at once. */
void gmp_preempt_kick(struct gmp_g *g);
/* A dump asks m to unwind its running G (dump.c). */
void gmp_preempt_dumpreq(struct gmp_m *m);
/* Counts a request sysmon made (statistics). */
void gmp_preempt_requested(void);
/* entersyscall, P out of USER: let a preemption signal already on its way
 * land before the G blocks in the kernel (where it would cause EINTR). */
void gmp_preempt_drain(struct gmp_m *m);
bool gmp_preempt_async(void);   /* async preemption is on */
/* The program's SIGURG disposition (preload/signal.c): its handler is
 * called through fwd for signals that are not the runtime's; flags/mask are
 * its sa_flags and sa_mask, applied to the runtime's handler.  -errno. */
int gmp_preempt_sigaction(void (*fwd)(int, siginfo_t *, void *), unsigned long flags, const sigset_t *mask);
/* A switch answered pp's request: latency statistics. */
void gmp_preempt_done(struct gmp_p *pp, bool async);
/* GMP_DEBUG=preempt: print the counters and latencies (at exit). */
void gmp_preempt_report(void);
void gmp_preempt_forkchild(void);

/* sysmon.c */
void gmp_sysmon_start(void);   /* idempotent */

/* filethread.c: runtime file work (reading /proc, dlopen) on an OS thread
 * with a private descriptor table, so that the numbers it takes are never
 * the program's.  gmp_filethread_call runs fn there (or in the caller if
 * the thread is absent or busy) and returns its result. */
void gmp_filethread_start(void);
bool gmp_filethread_running(void);
long gmp_filethread_call(long (*fn)(void *), void *arg);
/* /proc/self/task/TID/NAME into buf, NUL-terminated; its length or -1. */
long gmp_read_task_file(pid_t tid, const char *name, char *buf, size_t size);
void gmp_filethread_forkchild(void);
void gmp_sysmon_wake(void);    /* out of its deep sleep, if it is in one */
bool gmp_on_sysmon(void);      /* the caller is sysmon's thread */
void gmp_sysmon_mask_stale(void); /* its signal mask is to be set again (tls.c) */
void gmp_sysmon_sync_mask(uint32_t gen); /* wait until it applied masks generation gen */
void gmp_m_lostp_seen(struct gmp_m *m); /* m found its P taken from USER state */
void gmp_sysmon_forkchild(void); /* fork child: no sysmon thread; start anew on demand */

/* netpoll_epoll.c */
void gmp_netpoll_init(void);
/* Block up to delay ns (<0: forever, 0: poll).  Returns Gs made ready as a
 * schedlink list (count in *n). */
struct gmp_g *gmp_netpoll(int64_t delay, int *n);
void gmp_netpoll_break(void);
bool gmp_netpoll_inited(void);
/* fd is one of the poller's own (epoll instance, wake-up eventfd). */
bool gmp_netpoll_owns(int fd);
/* Gs (or foreign threads) start/stop waiting on readiness: while any wait,
 * an idle M sleeps in the poller rather than on its own futex. */
void gmp_netpoll_waiters(int delta);
/* Poll without blocking if nobody polled for a while (sysmon). */
void gmp_netpoll_check(int64_t now, int64_t maxage);
/* fork child: close the parent's epoll/eventfd (shared with it) and start
 * anew on demand. */
void gmp_netpoll_forkchild(void);

/*
 * Holding the P from a G.  While a G's own code runs its P is USER: sysmon
 * may take it if the M blocks in the kernel where the runtime cannot see
 * (glibc-internal locks, inline syscall instructions).  Runtime code that
 * touches owner-only P state from a G (run queue, G free list, scheduling)
 * brackets it with gmp_holdp/gmp_unholdp: holdp turns USER into RUNNING with
 * one CAS, or -- when sysmon took the P meanwhile -- takes an idle P, or
 * else leaves m->p NULL (the caller then uses the global queues; the M
 * waits for a P at its next switch).  Nests; no-op on g0 (the scheduler
 * holds its P firmly) and on foreign threads (returns NULL).
 */
struct gmp_m *gmp_holdp(void);
void gmp_unholdp(struct gmp_m *m);

/* sched.c: scheduler internals shared with syscall.c and sysmon.c */
void gmp_acquirep(struct gmp_m *m, struct gmp_p *pp);
struct gmp_p *gmp_releasep(struct gmp_m *m);
void gmp_pidleput_locked(struct gmp_p *pp);
struct gmp_p *gmp_pidleget_locked(void);
void gmp_startm(struct gmp_p *pp, bool spinning);
void gmp_stopm(struct gmp_m *m);
void gmp_mcall(void (*fn)(void *));
void gmp_dropg(struct gmp_m *m, struct gmp_g *g);
GMP_NORETURN void gmp_schedule(void);
GMP_NORETURN void gmp_execute(struct gmp_m *m, struct gmp_g *g, bool inherit);
int gmp_real_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
void gmp_wakep(void);
void gmp_injectglist(struct gmp_g *list, int n);
void gmp_wakenetpoller(int64_t when);

/*
 * Poll descriptors (netpoll_epoll.c): readiness of one open file, for Gs
 * that wait on it.  The fd layer (preload/io.c) owns the fd numbers and
 * embeds a gmp_pd in its per-fd record; the memory must stay valid for the
 * life of the process (records are recycled, never unmapped), since the
 * poller may still hold an event for a descriptor that was just closed.
 *
 * Each side is an event count: the poller bumps rseq (readable, hang-up,
 * error) and wseq (writable, hang-up, error) on every edge it sees and wakes
 * the Gs waiting there.  A G reads the count, tries its operation, and if
 * the operation would block waits for the count to move past what it read;
 * so an edge between its try and its wait is never lost.  Several threads
 * may block on one fd (accept by a pool, a shared pipe): an edge wakes one,
 * and a waiter whose operation then succeeds wakes the next (gmp_pd_pass),
 * so no data is stranded and no herd wakes.  poll()/select() waiters
 * subscribe to several pds and all wake.
 */
struct gmp_pollsub {
	_Atomic uint32_t *word;          /* set to 1 and woken on any edge */
	struct gmp_pollsub *prev, *next; /* pd->lock */
};
struct gmp_pd {
	_Atomic uint32_t rseq, wseq;
	_Atomic uint32_t nwait;          /* Gs in gmp_pd_wait */
	_Atomic uint32_t nsubs;          /* entries on subs */
	gmp_mutex lock;                  /* subs */
	struct gmp_pollsub *subs;
};
/* Watch fd (edge-triggered, both directions) for pd: 0, or -errno from
 * epoll_ctl (-EPERM: the file is always ready, e.g. a regular file). */
int gmp_pd_arm(struct gmp_pd *pd, int fd);
/* Stop watching fd (before it is closed or handed over). */
void gmp_pd_disarm(int fd);
/* Wait until the count of one side moves past seq (see gmp_futex_wait_intr
 * for the results; 0 or -EAGAIN both mean: try again). */
int gmp_pd_wait(struct gmp_pd *pd, bool write, uint32_t seq, int64_t deadline);
static inline uint32_t gmp_pd_seq(struct gmp_pd *pd, bool write)
{
	return atomic_load(write ? &pd->wseq : &pd->rseq);
}
void gmp_pd_sub(struct gmp_pd *pd, struct gmp_pollsub *s);
void gmp_pd_unsub(struct gmp_pd *pd, struct gmp_pollsub *s);
/* After a successful operation on a side of pd that had waiters: wake the
 * next one (it may find more to do). */
void gmp_pd_pass(struct gmp_pd *pd, bool write);
/* Wake every waiter of pd as if both sides had an edge (close). */
void gmp_pd_kick(struct gmp_pd *pd);

/* ------------------------------------------------------------------------
 * The runtime API used by preload/ and the tests.
 */
/* Initialise once (idempotent).  cfg NULL: from the environment. */
void gmp_runtime_init(const struct gmp_config *cfg);
bool gmp_runtime_inited(void);

struct gmp_spawn_attr {
	size_t stacksize;    /* 0: default */
	void *stackaddr;     /* user-supplied stack (lowest address) or NULL */
	void *user;          /* stored in g->user */
};
/* Start a G running fn(arg).  Returns NULL (and -errno in *err) on failure. */
struct gmp_g *gmp_spawn(void (*fn)(void *), void *arg, const struct gmp_spawn_attr *attr, int *err);
/*
 * Bracket a system call that may block: the G keeps its M, but the P can be
 * retaken by sysmon (after ~20 us) and handed to another M, so the other Gs
 * keep running.  exitsyscall gets the P back without a syscall when nobody
 * took it.  No-ops on foreign threads.
 */
void gmp_entersyscall(void);
void gmp_exitsyscall(void);
/* A cooperative preemption point: yield if sysmon asked the P to (its G
 * used up its time slice).  gmp_preempt_point is the cheap test every
 * interposed call makes first. */
void gmp_preempt_check(void);
static inline void gmp_preempt_point(void)
{
	struct gmp_m *m = gmp_getm();
	struct gmp_p *pp;
	if (m && (pp = m->p) != NULL && unlikely(atomic_load_explicit(&pp->preempt, memory_order_relaxed)))
		gmp_preempt_check();
}
/* The caller runs in a signal handler that interrupted a blocking call of
 * its G: it must not park (the G is not RUNNING), only block its M. */
static inline bool gmp_in_syscall(void)
{
	struct gmp_m *m = gmp_getm();
	return m && m->syscalldepth != 0;
}
/* The caller is the runtime itself (g0, or holding its P firmly or a
 * runtime lock): a library the runtime uses (libunwind writing to its
 * validation pipe) calling an interposed function must get the plain
 * kernel call, never a park or a syscall bracket. */
static inline bool gmp_m_in_runtime(const struct gmp_m *m)
{
	return m->curg == NULL || m->pheld != 0 || m->locks != 0;
}
static inline bool gmp_in_runtime(void)
{
	struct gmp_m *m = gmp_getm();
	return m && gmp_m_in_runtime(m);
}
/* Make the calling OS thread an M and its current execution a G running on
 * [stack_lo, stack_hi) (the main thread, from the library constructor). */
struct gmp_g *gmp_adopt_thread(void *stack_lo, void *stack_hi);
/* End the calling G.  Must be called on a G (fn returning does this too). */
GMP_NORETURN void gmp_exit(void);

/* The calling G: a runtime G on an M, or this OS thread's foreign G. */
struct gmp_g *gmp_g_current(void);
static inline bool gmp_on_m(void) { return gmp_getm() != NULL; }

/*
 * Park the calling G.  unlockf(g, arg) runs after the G is off its stack
 * (on g0), with the G already WAITING; it must not touch the G's stack
 * beyond what arg points to and must not block.  If it returns false the G
 * resumes at once.  Whoever later calls gmp_ready(g) resumes it.
 * On a foreign thread the OS thread sleeps on a futex instead.
 */
void gmp_park(bool (*unlockf)(struct gmp_g *g, void *arg), void *arg,
	      enum gmp_waitreason reason, const void *obj);
/* Make a WAITING G runnable.  Callable from Gs, g0, timers and foreign threads. */
void gmp_ready(struct gmp_g *g);
/* Put the calling G at the back of the run queue. */
void gmp_yield(void);
/* Sleep until the deadline (gmp_nanotime units). */
void gmp_sleep_until(int64_t deadline);

/*
 * Address-keyed wait queues (park.c) -- the emulated futex every blocking
 * primitive is built on.  gmp_futex_wait parks while *addr == val:
 *   0          woken by gmp_futex_wake / requeue
 *   -EAGAIN    *addr != val on entry
 *   -ETIMEDOUT the deadline (gmp_nanotime units, < 0 none) passed
 *   -EINTR     (the _intr variant only) gmp_g_interrupt was called
 */
int gmp_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t deadline,
		   enum gmp_waitreason reason, const void *obj);
/* Same, but -EINTR when interrupted (gmp_g_interrupt) before or while waiting. */
int gmp_futex_wait_intr(_Atomic uint32_t *addr, uint32_t val, int64_t deadline,
			enum gmp_waitreason reason, const void *obj);
/* Forget every waiter (the fork child: their Gs do not exist there). */
void gmp_futex_reset(void);
int gmp_futex_wake(const void *addr, int n);
/* Wake up to nwake waiters on addr, move up to nmove more to addr2. */
int gmp_futex_requeue(const void *addr, int nwake, const void *addr2, int nmove);

/*
 * Interrupt g's current or next blocking wait (gmp_futex_wait returns
 * -EINTR).  The interrupter first records why (a pending cancel or signal);
 * the G clears g->intr with gmp_intr_clear before it checks that state
 * and waits, so no interrupt is lost.  Callable from any thread.
 */
void gmp_g_interrupt(struct gmp_g *g);
static inline void gmp_intr_clear(struct gmp_g *g) { atomic_store(&g->intr, 0); }

/* Signals sent to a G (tls.c).  Sets the pending bit and, if the G runs
 * now with the signal unblocked, signals its M; a waiting G is interrupted.
 * Delivery happens on the G's M, with the G current, when it next runs. */
void gmp_g_signal(struct gmp_g *g, int sig);
/* Same, carrying a value (pthread_sigqueue: si_code SI_QUEUE). */
void gmp_g_sigqueue(struct gmp_g *g, int sig, void *value);
/*
 * Process-directed signals (kill, Ctrl-C, SIGCHLD...) land on whichever OS
 * thread the kernel picks, which may not run the thread Linux would have
 * chosen: the main thread if it does not block the signal, else any thread
 * that does not.  Called from the program's handler wrapper with the
 * handler's siginfo and ucontext, async-signal-safe: true if the signal was
 * handed to another thread (or back to the kernel) instead of being handled
 * here.  gmp_sig_route, from ordinary context, then interrupts the waits of
 * parked threads it was handed to.
 */
bool gmp_sig_redirect(int sig, siginfo_t *si, void *uc);
/*
 * Which signals some live thread does not block.  sysmon lets exactly
 * those in (besides the runtime's own), so that a process-directed signal
 * one parked thread takes still has an OS thread to land on, and one that
 * every thread blocks stays pending for the process.  The threads' masks
 * are counted by value in a small table (most share one or two).
 */
void gmp_sig_track(struct gmp_g *g, const struct gmp_g *creator); /* g->sigmask is set */
void gmp_sig_untrack(struct gmp_g *g);                            /* g exits */
uint64_t gmp_sig_taken(uint32_t *gen);  /* the set; *gen: the table's generation */
uint32_t gmp_sig_gen(void);
void gmp_sig_forkchild(struct gmp_g *self);
void gmp_sig_exit(struct gmp_g *g); /* signals handed to it go back to the process */
void gmp_sig_route(void);
/* sigwait family in the kernel: signals sent to g meanwhile go to its M. */
void gmp_sigwait_begin(struct gmp_g *g, uint64_t set);
void gmp_sigwait_end(struct gmp_g *g);
/* Set the calling G's mask (kernel sigset bits) and deliver what it unblocks. */
void gmp_g_setsigmask(struct gmp_g *g, uint64_t mask);

/*
 * fork() support (sched.c).  prepare: take the runtime locks whose data the
 * child keeps; parent: release them; child: rebuild the runtime around the
 * calling thread (its M and G, if it has them, become the only ones; every
 * other G, queue, timer and waiter is dropped; sysmon and the poller start
 * afresh on demand).
 */
void gmp_fork_prepare(void);
void gmp_fork_parent(void);
void gmp_fork_child(void);

/*
 * Per-G TLS (tcb.c).  run_dtors: C++ thread_local destructors of the calling
 * G (glibc's __call_tls_dtors); a no-op with shared TLS, whose list is the
 * M's.  os_enter/os_leave: run the calling G on its OS thread's own TCB for
 * a call that glibc must see from the OS thread itself (fork, setuid...);
 * errno set in between is the OS thread's.
 */
void gmp_tls_run_dtors(void);
void gmp_tls_thread_start(void);   /* first thing a new G does: glibc's per-thread setup */
void gmp_tls_os_enter(void);
void gmp_tls_os_leave(void);
void gmp_tls_setxid_hook(void);    /* before set*id(): see tcb.c */
bool gmp_tls_fsgsbase(void);
struct gmp_tls_info {
	bool perg, fsgsbase, listed, tcache, alloca_cutoff, rseq;
};
void gmp_tls_describe(struct gmp_tls_info *info);

/* ------------------------------------------------------------------------
 * Debugging: dumps, deadlock detection, crash reports, traces.
 */
/* unwind.c: backtraces (libunwind, loaded with gmp_unwind_load in ordinary
 * context; frame pointers until then) and symbol names.  All but
 * gmp_unwind_load are async-signal-safe.  Backtraces fill pc[] (at most max)
 * and return the count; pc[0] of gmp_bt_ucontext is exact, every other
 * entry a return address.  lo/hi bound the frame-pointer fallback. */
#define GMP_BT_MAX 48
void gmp_unwind_load(void);
bool gmp_unwind_available(void);
int gmp_bt_ucontext(void *uc, uintptr_t lo, uintptr_t hi, uintptr_t *pc, int max);
/* From registers: a stopped context (ip a return address) with the
 * callee-saved registers of callee, if known. */
int gmp_bt_regs(uintptr_t sp, uintptr_t ip, uintptr_t bp, const struct gmp_ctx *callee,
		uintptr_t lo, uintptr_t hi, uintptr_t *pc, int max);
/* "symbol+0xoff (module)"; exact false: pc is a return address. */
void gmp_symbolize(uintptr_t pc, bool exact, char *buf, size_t cap);
bool gmp_pc_in_runtime(uintptr_t pc);

/* What the pthread layer knows about a G, for dumps (set by preload/). */
struct gmp_dump_hooks {
	/* The thread's name ("" if none) and start routine (NULL if none). */
	void (*thread_info)(struct gmp_g *g, char *name, size_t cap, void **start);
	/* Describes what g waits on (reason, obj) into buf: "mutex 0x... held by
	 * thread 6 \"w\"".  Returns the G whose action it waits for when that
	 * is one G (mutex owner, joined thread), for lock-cycle reports. */
	struct gmp_g *(*wait_detail)(struct gmp_g *g, int reason, const void *obj, char *buf, size_t cap);
	/* The program has a handler for a signal that can come from outside
	 * (it might wake a thread: no deadlock can be declared). */
	bool (*signal_wakeable)(void);
	/* The thread number dumps show for g (the pthread layer's, 1 = main). */
	unsigned long (*thread_number)(struct gmp_g *g);
};
extern struct gmp_dump_hooks gmp_dump_hooks;
/* g's name ("" if none or unknown) and start routine (NULL), through the
 * hook when the pthread layer set it. */
void gmp_g_info(struct gmp_g *g, char *name, size_t cap, void **start);

/* dump.c.  Why a dump is made (the header says it). */
enum gmp_dump_why { GMP_DUMP_BY_SIGNAL, GMP_DUMP_BY_REQUEST, GMP_DUMP_BY_DEADLOCK };
/* Writes the dump of every thread to fd.  self_uc: the signal context of
 * the calling thread's G if called from a handler (NULL otherwise). */
void gmp_dump_all(int fd, enum gmp_dump_why why, int sig, void *self_uc);
/* "thread N \"name\"" for g (NULL: the calling foreign OS thread). */
void gmp_dump_label(struct gmp_g *g, char *buf, size_t cap);
/* The calling thread's section of a dump (its G g, interrupted at uc). */
void gmp_dump_current(int fd, struct gmp_g *g, void *uc);
/* The handler of the runtime's SIGURG saw a dump request for this M. */
void gmp_dump_answer(struct gmp_m *m, void *uc);
/* The file dumps go to (GMP_DUMP_FILE, else stderr); close with gmp_dump_close. */
int gmp_dump_open(void);
void gmp_dump_close(int fd);
/* An M is about to sleep with nothing to wake it but another thread: if
 * every M sleeps so and no G can ever run again, report and exit(2).
 * Called with no lock held; returns if the process is alive. */
bool gmp_deadlock_suspect(void);
void gmp_deadlock_check(void);
/* GMP_DEBUG=schedtrace: one summary line (and scheddetail lines). */
void gmp_schedtrace(int64_t now);

/* crash.c: the dump signal and fatal signals while the program leaves them
 * at SIG_DFL.  gmp_crash_init at start; gmp_crash_handles(sig): one of
 * them; gmp_crash_owns(sig): the kernel handler is the runtime's now (the
 * program's view is SIG_DFL); gmp_crash_default(sig): the program set
 * SIG_DFL, the runtime's handler comes back; gmp_crash_released(sig): the
 * program installed its own.  gmp_crash_altstack: give the calling OS
 * thread (an M) an alternate signal stack, so a stack overflow can be
 * reported. */
void gmp_crash_init(void);
bool gmp_crash_owns(int sig);
bool gmp_crash_handles(int sig);
void gmp_crash_default(int sig);
void gmp_crash_released(int sig);
void gmp_crash_altstack(struct gmp_m *m);
int gmp_sig_number(const char *name);
const char *gmp_sig_name(int sig);

/* trace.c: GMP_TRACE event recording (see docs/ARCHITECTURE.md). */
enum gmp_trace_ev {
	GMP_EV_GSTART = 1, GMP_EV_GSTOP, GMP_EV_SYSENTER, GMP_EV_SYSEXIT,
	GMP_EV_POLLSTART, GMP_EV_POLLSTOP, GMP_EV_IDLESTART, GMP_EV_IDLESTOP,
	GMP_EV_READY, GMP_EV_CREATE, GMP_EV_PREEMPT, GMP_EV_PREEMPTREQ, GMP_EV_NAME,
};
/* Why a G stopped (GMP_EV_GSTOP's arg). */
enum { GMP_STOP_PARK = 0, GMP_STOP_YIELD = 0x100, GMP_STOP_PREEMPT = 0x200, GMP_STOP_EXIT = 0x300,
       GMP_STOP_SYSCALL = 0x400 };
extern bool gmp_tracing;
void gmp_trace_init(void);
void gmp_trace_ev(int ev, uint64_t goid, uint64_t arg);
#define GMP_TRACE(ev, goid, arg) do { if (unlikely(gmp_tracing)) gmp_trace_ev((ev), (goid), (arg)); } while (0)
void gmp_trace_flush(void);   /* write the file (at exit; idempotent) */
void gmp_trace_sysmon(void);  /* the calling thread is sysmon (its own track) */
void gmp_trace_name(uint64_t goid, const char *name); /* pthread_setname_np */
void gmp_trace_forkchild(void);

/* Counters for tests and introspection. */
struct gmp_stats {
	int nprocs, npidle, nmspinning, mcount, nmidle, runqsize;
	int ngoroutines;
	bool sysmon;         /* the sysmon OS thread exists */
	bool filethread;     /* and the file thread it starts (filethread.c) */
};
bool gmp_sysmon_running(void);
void gmp_stats_read(struct gmp_stats *st);

#endif
