/*
 * Asynchronous preemption: a G that computes without ever entering the
 * runtime still gives up its P after its time slice (Go's asyncPreempt).
 *
 * Request.  sysmon marks a P whose G has run GMP_PREEMPT_MS (default 10)
 * while other work waits (pp->preempt: the cooperative request, honoured
 * at the next interposed call).  If the G runs its own code on a CPU -- its
 * P is USER and /proc says its OS thread is not in a system call -- sysmon
 * also sends SIGURG to that OS thread (gmp_preempt_signal), as a queued
 * signal carrying a cookie so the handler can tell it from the program's.
 *
 * Safe point.  The handler preempts only when all of these hold:
 *   - the P is still the M's, in USER state, and still asked to preempt;
 *   - the M is not inside the runtime (locks, pheld, syscalldepth all 0);
 *   - the interrupted PC is in program code: an executable segment of a
 *     module other than libc, ld.so, this library, the C++ runtime, the
 *     sanitizer runtimes and the vDSO (the code map below, built from
 *     dl_iterate_phdr; unknown code -- JIT, a module loaded since -- never
 *     counts);
 *   - the interrupted code runs with the mask the runtime set (not inside
 *     a signal handler that blocks more, not after a raw sigprocmask);
 *   - its stack pointer lies in the G's own stack with room for the
 *     register save area.
 * Otherwise the request stays for the next cooperative point (and sysmon
 * sends again one slice later).
 *
 * Switch.  The handler does not switch stacks itself: it points the
 * interrupted context at gmp_asyncpreempt (preempt.S) and returns, so the
 * kernel's sigreturn restores the signal mask and everything else as
 * usual.  gmp_asyncpreempt then runs as if the interrupted code had called
 * it: it steps over the 128-byte red zone, saves every general register,
 * the flags and the extended state (xsave with the features the kernel
 * enabled in XCR0, or fxsave) on the G's stack, and calls
 * gmp_asyncpreempt2, which puts the G on the global run queue (Go's
 * gopreempt_m).  When the G runs again the same code restores everything
 * and returns to the interrupted instruction.
 *
 * Why not the program's EINTR: a signal that lands on a thread blocked in
 * the kernel makes some calls fail with EINTR even with SA_RESTART (poll,
 * nanosleep, epoll_wait...).  sysmon signals only threads that are on a CPU
 * outside any system call, and entersyscall waits for a signal that is
 * already on its way (m->urgsent) before the G makes a blocking call.
 */
#include "runtime.h"

#include <cpuid.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>

void gmp_asyncpreempt(void);   /* preempt.S */
void gmp_sigreturn(void);      /* cancel.S */

uint64_t gmp_sig_keep;

/* Read by preempt.S. */
uint32_t gmp_xsave_mode __attribute__((visibility("hidden")));  /* 1 xsave, 0 fxsave */
uint64_t gmp_xsave_mask __attribute__((visibility("hidden")));  /* XCR0 */
uint64_t gmp_xsave_size __attribute__((visibility("hidden")));  /* save area, multiple of 64 */
const uint32_t gmp_mxcsr_default __attribute__((visibility("hidden"))) = GMP_MXCSR_DEFAULT;

static bool asyncon;
static pid_t mypid;
static const char cookie; /* its address marks the runtime's own SIGURG */
static void (*_Atomic forward)(int, siginfo_t *, void *);

/* ------------------------------------------------------------ statistics */

#define LAT_BUCKETS 512
static struct {
	_Atomic uint64_t requests, signals, async, coop;
	_Atomic uint64_t refused_pc, refused_runtime, refused_mask, refused_stack;
	_Atomic uint64_t lat[LAT_BUCKETS]; /* 8 buckets per power of two of ns */
	_Atomic int64_t latmax;
} st;

static int lat_bucket(uint64_t ns)
{
	if (ns < 8)
		return (int)ns;
	int e = 63 - __builtin_clzll(ns);
	int b = e * 8 + (int)((ns >> (e - 3)) & 7) - 16;
	return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1;
}

static uint64_t lat_value(int b) /* lower bound of bucket b */
{
	if (b < 8)
		return (uint64_t)b;
	int e = (b + 16) / 8;
	return (uint64_t)(8 + (b + 16) % 8) << (e - 3);
}

void gmp_preempt_done(struct gmp_p *pp, bool async)
{
	atomic_store_explicit(&pp->preempt, 0, memory_order_relaxed);
	int64_t when = atomic_exchange_explicit(&pp->preemptwhen, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(async ? &st.async : &st.coop, 1, memory_order_relaxed);
	if (when == 0)
		return;
	int64_t d = gmp_nanotime() - when;
	if (d < 0)
		d = 0;
	atomic_fetch_add_explicit(&st.lat[lat_bucket((uint64_t)d)], 1, memory_order_relaxed);
	int64_t mx = atomic_load_explicit(&st.latmax, memory_order_relaxed);
	while (d > mx && !atomic_compare_exchange_weak(&st.latmax, &mx, d))
		;
}

void gmp_preempt_requested(void)
{
	atomic_fetch_add_explicit(&st.requests, 1, memory_order_relaxed);
}

static void fmt_ns(char *buf, size_t n, uint64_t ns)
{
	if (ns < 10000)
		snprintf(buf, n, "%llu ns", (unsigned long long)ns);
	else if (ns < 10000000)
		snprintf(buf, n, "%llu us", (unsigned long long)(ns / 1000));
	else
		snprintf(buf, n, "%llu ms", (unsigned long long)(ns / 1000000));
}

static uint64_t lat_percentile(uint64_t total, double q)
{
	uint64_t want = (uint64_t)((double)total * q), seen = 0;
	for (int b = 0; b < LAT_BUCKETS; b++) {
		seen += atomic_load(&st.lat[b]);
		if (seen > want)
			return lat_value(b);
	}
	return 0;
}

void gmp_preempt_report(void)
{
	uint64_t total = 0;
	for (int b = 0; b < LAT_BUCKETS; b++)
		total += atomic_load(&st.lat[b]);
	gmp_printerr("preemption: slice %d ms, async %s; %llu requests answered by %llu async and %llu cooperative "
		     "switches; %llu signals, refused at %llu PCs outside program code, %llu in the runtime, "
		     "%llu in handlers, %llu for stack",
		     gmp_sched.cfg.preempt_ms, asyncon ? "on" : "off", (unsigned long long)st.requests,
		     (unsigned long long)st.async, (unsigned long long)st.coop, (unsigned long long)st.signals,
		     (unsigned long long)st.refused_pc, (unsigned long long)st.refused_runtime,
		     (unsigned long long)st.refused_mask, (unsigned long long)st.refused_stack);
	if (total == 0)
		return;
	char p50[32], p90[32], p99[32], mx[32];
	fmt_ns(p50, sizeof p50, lat_percentile(total, 0.50));
	fmt_ns(p90, sizeof p90, lat_percentile(total, 0.90));
	fmt_ns(p99, sizeof p99, lat_percentile(total, 0.99));
	fmt_ns(mx, sizeof mx, (uint64_t)st.latmax);
	gmp_printerr("preemption latency (request to switch, %llu switches): p50 %s, p90 %s, p99 %s, max %s",
		     (unsigned long long)total, p50, p90, p99, mx);
}

/* ------------------------------------------------------------ code map */

/*
 * Executable ranges of the loaded modules, sorted, each marked
 * preemptible or not.  Replaced whole (the handler reads it lock-free);
 * old maps are never freed, since a handler may still be reading one.
 */
struct coderange { uintptr_t lo, hi; bool ok; };
struct codemap { int n; struct coderange r[]; };
static struct codemap *_Atomic codemap;
static _Atomic bool codemap_stale;  /* a PC fell outside every module */
static _Atomic int64_t codemap_when;

/* Modules whose code may hold libc-internal state or locks, or is ours. */
static bool excluded(const char *path)
{
	static const char *const prefixes[] = {
		"libc.so", "ld-linux", "ld64.so", "libgmpthread", "libstdc++.so", "libgcc_s.so",
		"linux-vdso", "linux-gate", "libpthread.so", "libdl.so", "librt.so", "libc_malloc_debug",
		"libasan.so", "libtsan.so", "libubsan.so", "liblsan.so", "libunwind", "vgpreload",
	};
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
		if (strncmp(base, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

struct mapbuild { struct codemap *map; int cap; };

static int map_module(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct mapbuild *b = arg;
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	bool ours = false, ok;
	/* The module with this function in it is the runtime (the preload
	 * library, or a test program it is linked into). */
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && (uintptr_t)map_module >= lo && (uintptr_t)map_module < lo + ph->p_memsz)
			ours = true;
	}
	ok = !ours && !excluded(name);
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		if (b->map->n == b->cap)
			return 1; /* full: the rest stays unknown (not preemptible) */
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		b->map->r[b->map->n++] = (struct coderange){ lo, lo + ph->p_memsz, ok };
	}
	return 0;
}


/* Rebuild the map (ordinary context: takes the loader's lock). */
static void codemap_refresh(void)
{
	int cap = 1024;
	struct codemap *m = gmp_rawalloc(sizeof *m + (size_t)cap * sizeof m->r[0]);
	if (m == NULL)
		return;
	struct mapbuild b = { m, cap };
	dl_iterate_phdr(map_module, &b);
	for (int i = 1; i < m->n; i++) /* a few dozen ranges: insertion sort, no malloc */
		for (int j = i; j > 0 && m->r[j].lo < m->r[j - 1].lo; j--) {
			struct coderange t = m->r[j];
			m->r[j] = m->r[j - 1];
			m->r[j - 1] = t;
		}
	atomic_store_explicit(&codemap, m, memory_order_release);
	atomic_store(&codemap_stale, false);
	atomic_store(&codemap_when, gmp_nanotime());
}

/* After a preemption signal found code it did not know: refresh, at most
 * every 50 ms (code outside every module, a JIT's, stays unknown). */
static void codemap_maybe_refresh(void)
{
	if (atomic_load_explicit(&codemap_stale, memory_order_relaxed) &&
	    gmp_nanotime() - atomic_load(&codemap_when) > 50 * 1000000)
		codemap_refresh();
}

static bool code_preemptible(uintptr_t pc)
{
	struct codemap *m = atomic_load_explicit(&codemap, memory_order_acquire);
	if (m == NULL)
		return false;
	int lo = 0, hi = m->n - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		if (pc < m->r[mid].lo)
			hi = mid - 1;
		else if (pc >= m->r[mid].hi)
			lo = mid + 1;
		else
			return m->r[mid].ok;
	}
	atomic_store_explicit(&codemap_stale, true, memory_order_relaxed);
	return false;
}

/* ------------------------------------------------------------ the signal */

/* Stack the preemption needs below the interrupted SP: the red zone, the
 * register save area, alignment, the extended state and the C frames down
 * to the switch to g0. */
static uintptr_t stack_need(void)
{
	return 128 + 8 + 16 * 8 + 64 + gmp_xsave_size + 4096;
}

/* The G current on m runs its own code: m is not inside the runtime. */
static bool m_in_user_code(struct gmp_m *m)
{
	return m->locks == 0 && m->pheld == 0 && m->syscalldepth == 0;
}

static void try_async(struct gmp_m *m, ucontext_t *uc)
{
	struct gmp_p *pp = m->p;
	struct gmp_g *g = m->curg;
	if (g == NULL || pp == NULL || !atomic_load_explicit(&pp->preempt, memory_order_relaxed))
		return;
	if (!m_in_user_code(m) || atomic_load_explicit(&pp->status, memory_order_relaxed) != GMP_P_USER_OF(m)) {
		atomic_fetch_add_explicit(&st.refused_runtime, 1, memory_order_relaxed);
		return;
	}
	greg_t *gr = uc->uc_mcontext.gregs;
	if (!code_preemptible((uintptr_t)gr[REG_RIP])) {
		atomic_fetch_add_explicit(&st.refused_pc, 1, memory_order_relaxed);
		return;
	}
	uint64_t k;
	memcpy(&k, &uc->uc_sigmask, sizeof k);
	if (k != m->sigmask) {
		atomic_fetch_add_explicit(&st.refused_mask, 1, memory_order_relaxed);
		return;
	}
	uintptr_t sp = (uintptr_t)gr[REG_RSP];
	if (sp > (uintptr_t)g->stack.hi || sp < (uintptr_t)g->stack.lo + stack_need()) {
		atomic_fetch_add_explicit(&st.refused_stack, 1, memory_order_relaxed);
		return;
	}
	m->asyncpc = (uint64_t)gr[REG_RIP];
	gr[REG_RIP] = (greg_t)(uintptr_t)gmp_asyncpreempt;
}

static void urg_handler(int sig, siginfo_t *si, void *ucv)
{
	bool ours = si->si_code == SI_QUEUE && si->si_pid == mypid && si->si_value.sival_ptr == (void *)&cookie;
	struct gmp_m *m = gmp_getm();
	/* A SIGURG of the program's that the runtime raised here may have
	 * merged with ours (one standard signal pends at a time): it is owed. */
	bool owed = m && atomic_load_explicit(&m->urgprog, memory_order_relaxed) != 0 &&
		    atomic_exchange(&m->urgprog, 0) != 0;
	if (ours && m) {
		if (unlikely(atomic_load_explicit(&m->dumpreq, memory_order_relaxed) !=
			     atomic_load_explicit(&m->dumpack, memory_order_relaxed)))
			gmp_dump_answer(m, ucv);
		atomic_store(&m->urgsent, 0);
		/* Signals sent to the G running here (gmp_preempt_kick): raise
		 * them now, to run as soon as this handler returns -- unless the
		 * G is inside the runtime, which delivers them at its switch. */
		struct gmp_g *g = m->curg;
		if (g && m_in_user_code(m) && (atomic_load(&g->sigpend) & ~g->sigmask) != 0)
			gmp_sig_deliver(m, g);
	}
	if (!ours || owed) {
		void (*fwd)(int, siginfo_t *, void *) = atomic_load(&forward);
		siginfo_t tk;
		if (ours) { /* the program's was absorbed: it came from a thread */
			memset(&tk, 0, sizeof tk);
			tk.si_signo = SIGURG;
			tk.si_code = SI_TKILL;
			tk.si_pid = mypid;
			si = &tk;
		}
		if (fwd)
			fwd(sig, si, ucv);
	}
	/* Any SIGURG will do to preempt: a signal of the program's that is
	 * pending when ours is sent absorbs ours. */
	if (m)
		try_async(m, ucv);
}

static int install(unsigned long flags, uint64_t mask)
{
	struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } ka = {
		.handler = (void *)urg_handler,
		.flags = SA_SIGINFO | 0x04000000 /* SA_RESTORER */ | (flags & (SA_RESTART | SA_ONSTACK | SA_NODEFER)),
		.restorer = (void *)gmp_sigreturn,
		.mask = mask & ~(3ULL << 31), /* glibc's SIGCANCEL and SIGSETXID */
	};
	return (int)gmp_sys(SYS_rt_sigaction, SIGURG, &ka, NULL, 8, 0, 0);
}

int gmp_preempt_sigaction(void (*fwd)(int, siginfo_t *, void *), unsigned long flags, const sigset_t *mask)
{
	if (!asyncon)
		return -EOPNOTSUPP;
	uint64_t k = 0;
	if (mask)
		memcpy(&k, mask, sizeof k);
	atomic_store(&forward, fwd);
	return install(flags, k);
}

/*
 * Sends the runtime's SIGURG to m, whose P pp was seen in state want (USER,
 * tagged with m).  Dekker with entersyscall: it moves the P out of USER,
 * then reads urgsent; we publish urgsent, then read the P.  Either we see
 * the G gone into the runtime (no signal), or it sees ours coming and lets
 * it land before it blocks in the kernel.  Senders (sysmon, gmp_preempt_kick)
 * take turns, so urgsent describes one signal at a time.
 */
static gmp_mutex sendlock;

/* The runtime's SIGURG (with the cookie) to m's OS thread. */
static bool raise_urg(struct gmp_m *m)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = SIGURG;
	si.si_code = SI_QUEUE;
	si.si_pid = mypid;
	si.si_value.sival_ptr = (void *)&cookie;
	return gmp_sys(SYS_rt_tgsigqueueinfo, mypid, m->tid, SIGURG, &si, 0, 0) == 0;
}

static bool send_urg(struct gmp_m *m, struct gmp_p *pp, uint32_t want)
{
	bool sent = false;
	gmp_lock(&sendlock);
	atomic_store(&m->urgsent, 1);
	if (atomic_load(&pp->status) == want)
		sent = raise_urg(m);
	if (sent) {
		uint32_t one = 1;
		atomic_compare_exchange_strong(&m->urgsent, &one, 2);
		atomic_fetch_add_explicit(&st.signals, 1, memory_order_relaxed);
	} else {
		atomic_store(&m->urgsent, 0);
	}
	gmp_unlock(&sendlock);
	return sent;
}

/* A dump asks m to unwind the G it runs (dump.c). */
void gmp_preempt_dumpreq(struct gmp_m *m)
{
	raise_urg(m);
}

void gmp_preempt_signal(struct gmp_p *pp, uint32_t st_seen)
{
	if (!asyncon || GMP_P_STATE(st_seen) != GMP_P_USER)
		return;
	int mid = (int)(st_seen >> 8);
	struct gmp_m *m = mid < gmp_sched.cfg.maxthreads ? atomic_load(&gmp_sched.mbyid[mid]) : NULL;
	if (m)
		send_urg(m, pp, st_seen);
}

void gmp_preempt_kick(struct gmp_g *g)
{
	if (!asyncon)
		return;
	struct gmp_m *m = g->m; /* may be stale: Ms are never freed, and the
				 * handler only acts for the G it finds there */
	struct gmp_p *pp = m ? m->p : NULL;
	if (pp && atomic_load(&pp->status) == GMP_P_USER_OF(m))
		send_urg(m, pp, GMP_P_USER_OF(m));
}

void gmp_preempt_drain(struct gmp_m *m)
{
	uint32_t s;
	while ((s = atomic_load(&m->urgsent)) != 0) {
		/* A pending SIGURG is delivered on the way back from any call. */
		gmp_sys(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
		/* Still "sent" after that: it merged with one of the program's,
		 * or is blocked (we are in a SIGURG handler): stop waiting. */
		if (s == 2)
			atomic_compare_exchange_strong(&m->urgsent, &s, 0);
	}
}

/* ------------------------------------------------------------ the switch */

GMP_NOTSAN static void asyncpreempt_m(void *arg)
{
	struct gmp_g *g = arg;
	struct gmp_m *m = gmp_getm();
	if (m->p)
		gmp_preempt_done(m->p, true);
	gmp_casgstatus(g, GMP_G_RUNNING, GMP_G_RUNNABLE);
	GMP_TRACE(GMP_EV_PREEMPT, g->goid, 1);
	GMP_TRACE(GMP_EV_GSTOP, g->goid, GMP_STOP_PREEMPT);
	gmp_dropg(m, g);
	gmp_lock(&gmp_sched.lock);
	gmp_globrunqput_locked(g);
	gmp_unlock(&gmp_sched.lock);
	gmp_schedule();
}

/* From gmp_asyncpreempt, every register saved, on the G's stack. */
__attribute__((visibility("hidden"))) void gmp_asyncpreempt2(void)
{
	gmp_mcall(asyncpreempt_m);
}

/* The cooperative point behind gmp_preempt_point (and exitsyscall). */
void gmp_preempt_check(void)
{
	struct gmp_m *m = gmp_getm();
	if (m == NULL || m->p == NULL || m->locks != 0 || m->pheld != 0 || m->curg == NULL ||
	    !atomic_load_explicit(&m->p->preempt, memory_order_relaxed))
		return;
	/* Not inside a signal handler of the program's: the OS thread would
	 * keep the handler's mask, or the G leave a sigaltstack behind. */
	struct gmp_g *g = m->curg;
	uint64_t k;
	char here;
	gmp_sys(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &k, 8, 0, 0);
	if (k != m->sigmask || &here < (char *)g->stack.lo || &here >= (char *)g->stack.hi)
		return;
	codemap_maybe_refresh();
	gmp_preempt_done(m->p, false);
	GMP_TRACE(GMP_EV_PREEMPT, g->goid, 0);
	gmp_yield();
}

/* ------------------------------------------------------------ setup */

static void xsave_detect(void)
{
	unsigned a, b, c, d;
	gmp_xsave_mode = 0;
	gmp_xsave_size = 512; /* fxsave */
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
		return;
	unsigned lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	__cpuid_count(0xd, 0, a, b, c, d);
	if (b < 576)
		return;
	gmp_xsave_mode = 1;
	gmp_xsave_mask = ((uint64_t)hi << 32) | lo;
	gmp_xsave_size = ((uint64_t)b + 63) & ~(uint64_t)63; /* ebx: size for XCR0's features */
}

void gmp_preempt_init(void)
{
	mypid = (pid_t)gmp_sys(SYS_getpid, 0, 0, 0, 0, 0, 0);
	xsave_detect();
	asyncon = gmp_sched.cfg.asyncpreempt;
	if (gmp_sched.cfg.debug_preempt)
		atexit(gmp_preempt_report);
#if defined(__SANITIZE_THREAD__)
	asyncon = false; /* TSan runs handlers later, on a copy of the context */
#endif
	if (!asyncon)
		return;
	codemap_refresh();
	/* The program may have inherited SIGURG ignored across exec; it gets
	 * the runtime's handler now (preload/signal.c keeps the program's view). */
	if (install(SA_RESTART, 0) != 0) {
		asyncon = false;
		return;
	}
	gmp_sig_keep = 1ULL << (SIGURG - 1);
}

bool gmp_preempt_async(void)
{
	return asyncon;
}

void gmp_preempt_forkchild(void)
{
	mypid = (pid_t)gmp_sys(SYS_getpid, 0, 0, 0, 0, 0, 0);
	sendlock = (gmp_mutex){ 0 }; /* sysmon may have held it; it is gone */
}
