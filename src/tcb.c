/*
 * Per-G thread control blocks: every G its own glibc TLS block and TCB.
 *
 * On x86-64 the thread pointer (%fs base) points at the TCB, glibc's
 * struct pthread, and every module's static TLS block sits just below it.
 * errno, __thread and thread_local, libstdc++'s exception globals, malloc's
 * thread cache, the locale and stdio's lock owner all live there, and the
 * compiler may keep their addresses in registers across any call.  So a G
 * gets a block of its own and the runtime switches %fs when it switches G:
 *
 *   - allocation: glibc's own allocator, _dl_allocate_tls (GLIBC_PRIVATE in
 *     ld.so), which copies the init images and builds the DTV.  A dead G
 *     keeps its block with its stack; the next thread on that G gets it
 *     re-initialised the way glibc re-initialises a cached thread stack
 *     (dynamic TLS freed, DTV cleared, _dl_allocate_tls_init).
 *   - the TCB header and the struct pthread fields glibc reads behind our
 *     back are made right for a G: tcb/self pointers; the stack-protector
 *     canary and pointer guard copied from the process (they are the same in
 *     every thread); multiple_threads; a unique thread id (glibc's recursive
 *     locks -- the loader's among them -- compare owner tids, so it must
 *     differ from every other thread's; it lies above the kernel's pid_max so
 *     it names no real thread); stackblock/stackblock_size, which drive
 *     __libc_alloca_cutoff, set to the G's stack; the rseq area marked
 *     unregistered, because the kernel only updates the area of the OS
 *     thread that registered it -- so sched_getcpu asks the kernel instead.
 *   - glibc's thread list: a live G's TCB is on _dl_stack_user, the list of
 *     threads with application stacks.  That list is how glibc reaches every
 *     thread when dlopen() loads a library with static TLS (it initialises
 *     that block in each), when dlclose() waits for threads in a symbol
 *     lookup, and when setuid() signals every thread (a G's tid names no OS
 *     thread, so it is skipped; every M is on glibc's list as itself).
 *   - malloc's thread cache: glibc returns it to the heap in a private
 *     function at thread exit.  Here the G's exit does the same walk (the
 *     cache's word is found once, at start-up, by watching a fresh TCB's
 *     first malloc/free).
 *
 * Switching: the M's own TCB (glibc's, for the OS thread) is loaded
 * whenever the M runs scheduler code on g0 (gmp_tls_save), and the G's when
 * it runs (gmp_tls_load); a load is skipped when that TCB is already live.
 * With FSGSBASE (AT_HWCAP2) the switch is a wrfsbase, else arch_prctl.
 * g0 must have a TCB no G can be using: once a G is on a run queue another M
 * may load its TCB, so g0 cannot keep running on it.
 *
 * The runtime's per-M pointer, gmp_tls_m, is a static (initial-exec) TLS
 * variable, so every block has a slot for it at the same offset; the slot
 * of the block an M is about to load is written with that M first.  So
 * gmp_getm() is right in every context, signal handlers included.
 *
 * The main thread keeps its own TCB (its TLS already holds what the
 * program's constructors put there); M0 gets a fresh one for g0, and the
 * main thread's rseq registration is dropped, since the main G may run on
 * other OS threads now.
 *
 * Everything read from glibc's private layout is taken from glibc itself
 * (the _thread_db_* descriptors libthread_db uses, __rseq_offset, the code
 * of __libc_alloca_cutoff) and checked at start-up; if something does not
 * match, per-G TLS is declined with a message and Gs share their M's TLS
 * (GMP_TLS=shared, tls.c).
 */
#include "runtime.h"

#include <asm/prctl.h>
#include <dlfcn.h>
#include <errno.h>
#include <gnu/libc-version.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

/* tcbhead_t, the x86-64 TCB header: stable ABI (compilers emit %fs:0x28). */
#define TCB_TCB      0x00
#define TCB_DTV      0x08
#define TCB_SELF     0x10
#define TCB_MULTI    0x18
#define TCB_GSCOPE   0x1c
#define TCB_GUARD    0x28
#define TCB_PGUARD   0x30
#define TCB_FEATURE1 0x48

#define RSEQ_CPU_ID_REGISTRATION_FAILED (-2)
#define RSEQ_SIG 0x53053053
#define RSEQ_AREA_SIZE 32 /* glibc registers its struct rseq_area whole */
#define RSEQ_FLAG_UNREGISTER 1

#define FAKE_TID_BASE 0x20000000 /* above any pid_max (at most 2^22) */

/* glibc's list_t and dtv_t. */
struct glist {
	struct glist *next, *prev;
};
typedef union {
	size_t counter;
	struct {
		void *val;
		void *to_free;
	} pointer;
} dtv_t;

bool gmp_tls_perg;
long gmp_tls_moff;

static struct {
	void *(*allocate)(void *);
	void *(*init)(void *, bool); /* 2.36 takes one argument; later ones two */
	void (*deallocate)(void *, bool);
	void (*call_tls_dtors)(void);
	void (*ctype_init)(void);
	bool fsgsbase;
	size_t pthread_size;    /* sizeof(struct pthread) */
	size_t static_size;     /* static TLS incl. the TCB */
	long tid_off, list_off, cancel_off;
	long stackblock_off;    /* 0: unknown (then left 0, glibc's default cutoff) */
	long rseq_off;          /* 0: no rseq area */
	long tcache_off;        /* relative to the TP; 0: not found */
	struct glist *userlist; /* glibc's _dl_stack_user; NULL: not joined */
	int *cachelock;         /* and the lock that protects it */
	uintptr_t guard, pguard;
	uint32_t feature1;
	void *spare;            /* the probe's TCB, kept for M0's g0 */
	_Atomic int nexttid;
	gmp_mutex listlock;     /* our list edits vs fork (fork.c holds it) */
} T;

#define AT(tcb, off, type) (*(type *)((char *)(tcb) + (off)))

/* ---------------------------------------------------------------- %fs */

void gmp_tls_setfs(struct gmp_m *m, void *tcb)
{
	if (likely(T.fsgsbase))
		__asm__ volatile("wrfsbase %0" : : "r"(tcb) : "memory");
	else
		gmp_sys(SYS_arch_prctl, ARCH_SET_FS, tcb, 0, 0, 0, 0);
	if (m)
		m->curtcb = tcb;
}

bool gmp_tls_fsgsbase(void)
{
	return T.fsgsbase;
}

/* ---------------------------------------------------------------- glibc's list */

static void lll_lock(int *l)
{
	gmp_lock((gmp_mutex *)l); /* same 0/1/2 protocol, private futex */
}

static void lll_unlock(int *l)
{
	gmp_unlock((gmp_mutex *)l);
}

static void list_join(void *tcb)
{
	if (T.userlist == NULL)
		return;
	struct glist *n = &AT(tcb, T.list_off, struct glist);
	gmp_lock(&T.listlock);
	lll_lock(T.cachelock);
	n->next = T.userlist->next;
	n->prev = T.userlist;
	T.userlist->next->prev = n;
	atomic_thread_fence(memory_order_release);
	T.userlist->next = n;
	lll_unlock(T.cachelock);
	gmp_unlock(&T.listlock);
}

static void list_leave(void *tcb)
{
	if (T.userlist == NULL)
		return;
	struct glist *n = &AT(tcb, T.list_off, struct glist);
	gmp_lock(&T.listlock);
	lll_lock(T.cachelock);
	n->next->prev = n->prev;
	n->prev->next = n->next;
	n->next = n->prev = n;
	lll_unlock(T.cachelock);
	gmp_unlock(&T.listlock);
}

static bool list_wellformed(struct glist *h)
{
	return h->next && h->prev && h->next->prev == h && h->prev->next == h;
}

/* ---------------------------------------------------------------- TCB setup */

/* The header and the struct pthread fields glibc reads, for a G on [lo, hi). */
static void tcb_setup(void *tcb, int tid, void *lo, void *hi)
{
	AT(tcb, TCB_TCB, void *) = tcb;
	AT(tcb, TCB_SELF, void *) = tcb;
	AT(tcb, TCB_MULTI, int) = 1;
	AT(tcb, TCB_GSCOPE, int) = 0;
	AT(tcb, TCB_GUARD, uintptr_t) = T.guard;
	AT(tcb, TCB_PGUARD, uintptr_t) = T.pguard;
	AT(tcb, TCB_FEATURE1, uint32_t) = T.feature1;
	AT(tcb, T.tid_off, int) = tid;
	AT(tcb, T.cancel_off, int) = 0;
	if (T.stackblock_off) {
		AT(tcb, T.stackblock_off - 8, void *) = lo;
		AT(tcb, T.stackblock_off, size_t) = (size_t)((char *)hi - (char *)lo);
	}
	if (T.rseq_off) {
		AT(tcb, T.rseq_off, uint32_t) = 0;     /* cpu_id_start */
		AT(tcb, T.rseq_off + 4, int32_t) = RSEQ_CPU_ID_REGISTRATION_FAILED;
	}
	struct glist *n = &AT(tcb, T.list_off, struct glist);
	n->next = n->prev = n;
}

static void *tcb_new(void *lo, void *hi)
{
	void *tcb = T.allocate(NULL);
	if (tcb == NULL)
		return NULL;
	tcb_setup(tcb, atomic_fetch_add(&T.nexttid, 1), lo, hi);
	return tcb;
}

/* Frees a block's dynamic TLS and clears its DTV, as glibc does for a
 * cached stack; _dl_allocate_tls_init then makes it new again. */
static void dtv_clear(void *tcb)
{
	dtv_t *dtv = AT(tcb, TCB_DTV, dtv_t *);
	size_t n = dtv[-1].counter;
	for (size_t i = 1; i <= n; i++)
		free(dtv[i].pointer.to_free);
	memset(dtv, 0, (n + 1) * sizeof *dtv);
}

/* malloc's tcache_perthread_struct (glibc >= 2.30): uint16_t counts[64],
 * then 64 entry lists whose next pointers are mangled (safe-linking). */
#define TCACHE_BINS 64
static void tcache_flush(void *tcb)
{
	if (T.tcache_off == 0)
		return;
	void *tc = AT(tcb, T.tcache_off, void *);
	if (tc == NULL)
		return;
	AT(tcb, T.tcache_off, void *) = NULL;
	void **entries = (void **)((char *)tc + TCACHE_BINS * sizeof(uint16_t));
	for (int i = 0; i < TCACHE_BINS; i++) {
		void *e = entries[i];
		while (e != NULL) {
			void *next = (void *)(((uintptr_t)e >> 12) ^ *(uintptr_t *)e);
			((uintptr_t *)e)[1] = 0; /* the key: spares free() a double-free scan */
			free(e);
			e = next;
		}
	}
	free(tc);
}

/* ---------------------------------------------------------------- API */

int gmp_tcb_prepare(struct gmp_g *g)
{
	if (!gmp_tls_perg)
		return 0;
	g->tcb_borrowed = false;
	if (g->tcb == NULL) {
		g->tcb = tcb_new(g->stack.lo, g->stack.hi);
		if (g->tcb == NULL)
			return -ENOMEM;
	} else {
		T.init(g->tcb, true);
		tcb_setup(g->tcb, AT(g->tcb, T.tid_off, int), g->stack.lo, g->stack.hi);
	}
	list_join(g->tcb);
	return 0;
}

void gmp_tcb_release(struct gmp_g *g)
{
	if (g->tcb == NULL || g->tcb_borrowed)
		return;
	list_leave(g->tcb);
	dtv_clear(g->tcb);
	tcache_flush(g->tcb);
}

void gmp_tcb_destroy(struct gmp_g *g)
{
	if (g->tcb == NULL)
		return;
	if (!g->tcb_borrowed)
		T.deallocate(g->tcb, true); /* released (tcache flushed) at exit */
	g->tcb = NULL;
	g->tcb_borrowed = false;
}

/* glibc's start_thread points each new thread's <ctype.h> table pointers
 * (__libc_tsd_CTYPE_B/TOLOWER/TOUPPER, in its TLS) at the locale's tables;
 * a fresh block has them NULL, so isspace() would fault. */
void gmp_tls_thread_start(void)
{
	if (gmp_tls_perg && T.ctype_init)
		T.ctype_init();
}

void gmp_tls_run_dtors(void)
{
	/* Shared TLS: the list belongs to the M and holds other threads' too. */
	if (gmp_tls_perg && T.call_tls_dtors)
		T.call_tls_dtors();
}

void *gmp_tls_g0_tcb(void)
{
	void *tcb = T.spare;
	T.spare = NULL;
	if (tcb == NULL)
		tcb = tcb_new(NULL, NULL);
	if (tcb == NULL)
		gmp_fatal("cannot allocate a TLS block for M0");
	return tcb;
}

/* The main thread's rseq area stays with the main G; the kernel must stop
 * writing M0's CPU into it. */
void gmp_tls_adopt_main(void *tcb)
{
	if (T.rseq_off == 0)
		return;
	int32_t *cpu = &AT(tcb, T.rseq_off + 4, int32_t);
	if (*cpu >= 0 &&
	    gmp_sys(SYS_rseq, (char *)tcb + T.rseq_off, RSEQ_AREA_SIZE, RSEQ_FLAG_UNREGISTER, RSEQ_SIG, 0, 0) != 0)
		return; /* registered some other way: leave it (sched_getcpu may lag) */
	*cpu = RSEQ_CPU_ID_REGISTRATION_FAILED;
}

/*
 * glibc's fork must see the OS thread's own TCB as THREAD_SELF: in the child
 * it treats every other TCB on its lists as a dead thread and recycles its
 * stack -- the calling M's own (g0) stack among them if the G's TCB were
 * loaded.  So fork runs with the M's TCB, and the G's comes back after.
 */
void gmp_tls_os_enter(void)
{
	struct gmp_m *m = gmp_getm();
	if (!gmp_tls_perg || m == NULL)
		return;
	m->locks++;
	gmp_tls_setfs(m, m->tcb);
}

void gmp_tls_os_leave(void)
{
	struct gmp_m *m = gmp_getm();
	if (!gmp_tls_perg || m == NULL)
		return;
	gmp_tls_setfs(m, m->curg->tcb);
	m->locks--;
}

/*
 * setuid() and friends: glibc signals every OS thread on its lists with
 * SIGSETXID, and its handler clears a flag in THREAD_SELF; the caller waits
 * until every listed TCB's flag is clear.  On an M running a G, THREAD_SELF
 * is the G's TCB, not the one glibc listed for that OS thread (the M's own;
 * for M0 the main thread's), so the flag would never clear and setuid()
 * would spin for good.  The runtime's handler runs glibc's on the listed
 * TCB (its fields are all it touches besides the system call).  Installed
 * over glibc's, which it installs when the process gets a second thread.
 */
static void (*_Atomic glibc_setxid)(int, siginfo_t *, void *);

static void setxid_handler(int sig, siginfo_t *si, void *uc)
{
	struct gmp_m *m = gmp_getm();
	void *cur = gmp_tls_tp();
	void *want = m ? m->listedtcb : NULL;
	bool swap = want != NULL && want != cur;
	if (swap)
		gmp_tls_setfs(NULL, want);
	atomic_load(&glibc_setxid)(sig, si, uc);
	if (swap)
		gmp_tls_setfs(NULL, cur);
}

void gmp_tls_setxid_hook(void)
{
	if (!gmp_tls_perg)
		return;
	struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } ka;
	if (gmp_sys(SYS_rt_sigaction, 33, NULL, &ka, 8, 0, 0) != 0 || ka.handler == (void *)setxid_handler ||
	    ka.handler == (void *)SIG_DFL || ka.handler == (void *)SIG_IGN)
		return; /* ours already, or glibc has none yet (one thread) */
	gmp_lock(&T.listlock);
	if (gmp_sys(SYS_rt_sigaction, 33, NULL, &ka, 8, 0, 0) == 0 && ka.handler != (void *)setxid_handler) {
		atomic_store(&glibc_setxid, (void (*)(int, siginfo_t *, void *))ka.handler);
		ka.handler = (void *)setxid_handler;
		gmp_sys(SYS_rt_sigaction, 33, &ka, NULL, 8, 0, 0);
	}
	gmp_unlock(&T.listlock);
}

void gmp_tls_fork_prepare(void)
{
	gmp_lock(&T.listlock);
}

void gmp_tls_fork_parent(void)
{
	gmp_unlock(&T.listlock);
}

/* Child: glibc emptied its thread lists, keeping only the caller's own TCB.
 * Every G but the caller's is gone; the caller's goes back on the list. */
void gmp_tls_fork_child(struct gmp_g *self)
{
	gmp_unlock(&T.listlock);
	if (!gmp_tls_perg || self == NULL || self->tcb == NULL)
		return;
	struct glist *n = &AT(self->tcb, T.list_off, struct glist);
	n->next = n->prev = n;
	list_join(self->tcb);
}

/* ---------------------------------------------------------------- discovery */

static void *sym(const char *name)
{
	return dlsym(RTLD_DEFAULT, name);
}

/* A _thread_db_* descriptor: {bits, count, offset}. */
static long tdb_offset(const char *name)
{
	const uint32_t *d = sym(name);
	return d ? (long)d[2] : -1;
}

/* __libc_alloca_cutoff starts with "mov %fs:OFF, %rax", OFF being
 * stackblock_size; 0 if the code does not look like that. */
static long find_stackblock_size(void)
{
	const unsigned char *c = sym("__libc_alloca_cutoff");
	static const unsigned char pre[] = { 0x64, 0x48, 0x8b, 0x04, 0x25 };
	if (c == NULL || memcmp(c, pre, sizeof pre) != 0)
		return 0;
	int32_t off;
	memcpy(&off, c + sizeof pre, sizeof off);
	if (off <= 0x100 || (size_t)off + 8 > T.pthread_size || off % 8 != 0)
		return 0;
	return off;
}

/* Joins _dl_stack_user if glibc's lists look exactly as expected. */
static void find_stack_lists(void *maintcb)
{
	char *rg = sym("_rtld_global");
	long used = tdb_offset("_thread_db_rtld_global__dl_stack_used");
	long user = tdb_offset("_thread_db_rtld_global__dl_stack_user");
	if (rg == NULL || used < 0 || user != used + 16)
		return;
	/* 2.34+: used, user, cache (list_t each), cache_actsize, in_flight_stack,
	 * stack_cache_lock. */
	struct glist *l_used = (struct glist *)(rg + used);
	struct glist *l_user = (struct glist *)(rg + user);
	struct glist *l_cache = l_user + 1;
	uintptr_t in_flight = *(uintptr_t *)(rg + user + 40);
	int *lock = (int *)(rg + user + 48);
	if (!list_wellformed(l_used) || !list_wellformed(l_user) || !list_wellformed(l_cache) ||
	    in_flight != 0 || *lock != 0)
		return;
	struct glist *mine = &AT(maintcb, T.list_off, struct glist);
	for (struct glist *n = l_user->next; n != l_user; n = n->next) {
		if (n == mine) {
			T.userlist = l_user;
			T.cachelock = lock;
			return;
		}
	}
}

/* Where libc's own static TLS segment lies relative to the thread pointer:
 * its block in this thread (dlinfo) and its PT_TLS size.  Only that segment
 * is scanned for the tcache word: it is fully initialised (copied image and
 * zeroed .tbss), unlike the surplus between modules. */
struct tls_seg {
	long off;      /* from the thread pointer */
	size_t size;
	uintptr_t base; /* libc's load address, to find its PT_TLS */
};

static int find_pt_tls(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct tls_seg *seg = arg;
	if (info->dlpi_addr != seg->base)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_TLS)
			seg->size = info->dlpi_phdr[i].p_memsz;
	return 1;
}

static bool libc_tls_segment(struct tls_seg *seg)
{
	Dl_info di;
	struct link_map *lm = NULL;
	void *block = NULL;
	if (dladdr1(sym("malloc"), &di, (void **)&lm, RTLD_DL_LINKMAP) == 0 || lm == NULL ||
	    di.dli_fname == NULL || strstr(di.dli_fname, "libc.so") == NULL)
		return false; /* another allocator (LD_PRELOAD'ed jemalloc, ...) */
	void *h = dlopen(di.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
	if (h == NULL)
		return false;
	int r = dlinfo(h, RTLD_DI_TLS_DATA, &block);
	dlclose(h);
	if (r != 0 || block == NULL)
		return false;
	seg->base = lm->l_addr;
	seg->size = 0;
	seg->off = (long)((char *)block - (char *)gmp_tls_tp());
	dl_iterate_phdr(find_pt_tls, seg);
	return seg->size >= 8 && seg->off < 0 && (size_t)-seg->off <= T.static_size;
}

/* Finds malloc's tcache pointer among libc's TLS words in a fresh block: run
 * one malloc/free on it and look for the word that now points at a cache
 * whose first bin holds exactly that chunk.  Leaves the block as T.spare. */
static void find_tcache(void)
{
	void *tcb = tcb_new(NULL, NULL);
	if (tcb == NULL)
		return;
	T.spare = tcb;
	struct tls_seg seg;
	if (!libc_tls_segment(&seg))
		return;
	uintptr_t *lo = (uintptr_t *)((char *)tcb + seg.off);
	size_t n = seg.size / 8;
	uintptr_t *before = gmp_rawalloc(n * 8);
	if (before == NULL)
		return;
	memcpy(before, lo, n * 8);
	void *self = gmp_tls_tp();
	gmp_tls_setfs(NULL, tcb);
	void *p = malloc(24);
	free(p);
	gmp_tls_setfs(NULL, self);
	for (size_t i = 0; i < n; i++) {
		uintptr_t v = lo[i];
		if (v == before[i] || v == 0 || (v & 15) != 0)
			continue;
		const uint16_t *counts = (const uint16_t *)v;
		void *const *entries = (void *const *)(v + TCACHE_BINS * sizeof(uint16_t));
		if (counts[0] == 1 && entries[0] == p) {
			T.tcache_off = (long)((char *)&lo[i] - (char *)tcb);
			break;
		}
	}
	gmp_rawfree(before, n * 8);
}

static bool glibc_at_least(int major, int minor)
{
	int ma = 0, mi = 0;
	const char *v = gnu_get_libc_version();
	return sscanf(v, "%d.%d", &ma, &mi) == 2 && (ma > major || (ma == major && mi >= minor));
}

static bool choose_fsgsbase(void)
{
	const char *s = getenv("GMP_FSBASE");
	bool hw = (getauxval(AT_HWCAP2) & 2 /* HWCAP2_FSGSBASE */) != 0;
	if (s && strcmp(s, "arch_prctl") == 0)
		return false;
	if (s && strcmp(s, "wrfsbase") == 0) {
		if (!hw)
			gmp_printerr("GMP_FSBASE=wrfsbase: the kernel does not enable FSGSBASE; using arch_prctl");
		return hw;
	}
	if (s && *s && strcmp(s, "auto") != 0)
		gmp_printerr("GMP_FSBASE=%s is not auto, wrfsbase or arch_prctl; using auto", s);
	/* valgrind's CPU does not decode wrfsbase; it follows arch_prctl. */
	return hw && !RUNNING_ON_VALGRIND;
}

static const char *discover(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return "sanitizer builds keep their per-thread state in TLS";
#endif
	if (!glibc_at_least(2, 34))
		return "glibc older than 2.34";
	T.allocate = (void *(*)(void *))sym("_dl_allocate_tls");
	T.init = (void *(*)(void *, bool))sym("_dl_allocate_tls_init");
	T.deallocate = (void (*)(void *, bool))sym("_dl_deallocate_tls");
	T.call_tls_dtors = (void (*)(void))sym("__call_tls_dtors");
	T.ctype_init = (void (*)(void))sym("__ctype_init");
	void (*static_info)(size_t *, size_t *) = (void (*)(size_t *, size_t *))sym("_dl_get_tls_static_info");
	const uint32_t *psize = sym("_thread_db_sizeof_pthread");
	if (!T.allocate || !T.init || !T.deallocate || !static_info || !psize)
		return "glibc does not export its TLS allocator";
	T.pthread_size = *psize;
	size_t align;
	static_info(&T.static_size, &align);
	T.tid_off = tdb_offset("_thread_db_pthread_tid");
	T.list_off = tdb_offset("_thread_db_pthread_list");
	T.cancel_off = tdb_offset("_thread_db_pthread_cancelhandling");
	if (T.tid_off <= TCB_FEATURE1 || T.list_off <= TCB_FEATURE1 || T.cancel_off <= TCB_FEATURE1 ||
	    (size_t)T.tid_off >= T.pthread_size || (size_t)T.list_off >= T.pthread_size ||
	    (size_t)T.cancel_off >= T.pthread_size)
		return "struct pthread layout not described by glibc";
	T.stackblock_off = find_stackblock_size();
	const long *rseq_off = sym("__rseq_offset");
	if (rseq_off && *rseq_off > 0 && (size_t)*rseq_off + 8 <= T.pthread_size)
		T.rseq_off = *rseq_off;

	void *tp = gmp_tls_tp();
	T.guard = AT(tp, TCB_GUARD, uintptr_t);
	T.pguard = AT(tp, TCB_PGUARD, uintptr_t);
	T.feature1 = AT(tp, TCB_FEATURE1, uint32_t);
	gmp_tls_moff = (long)((char *)&gmp_tls_m - (char *)tp);
	atomic_store(&T.nexttid, FAKE_TID_BASE);
	T.fsgsbase = choose_fsgsbase();
	find_stack_lists(tp);
	find_tcache();
	return NULL;
}

void gmp_tls_init(const struct gmp_config *cfg)
{
	if (cfg->tls != GMP_TLS_PERG)
		return;
	const char *why = discover();
	if (why) {
		gmp_printerr("per-thread TLS unavailable (%s); threads share their OS thread's TLS "
			     "(GMP_TLS=shared)", why);
		return;
	}
	gmp_tls_perg = true;
}

void gmp_tls_describe(struct gmp_tls_info *info)
{
	info->perg = gmp_tls_perg;
	info->fsgsbase = T.fsgsbase;
	info->listed = T.userlist != NULL;
	info->tcache = T.tcache_off != 0;
	info->alloca_cutoff = T.stackblock_off != 0;
	info->rseq = T.rseq_off != 0;
}
