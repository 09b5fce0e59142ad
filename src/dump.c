/*
 * Dumps of every thread (Go's goroutine dump) and deadlock detection.
 *
 * A dump is made in three passes:
 *   1. collect: the G pointers from allg (allglock, never waited on in a
 *      signal handler);
 *   2. unwind: a G that is not running has a saved context -- g->ctx when
 *      it is parked or queued, m->sysctx (written by the gmp_entersyscall
 *      entry) when it blocks in a system call.  Its status gets GMP_G_SCAN
 *      while its stack is read, so no transition (it starting to run, or
 *      returning from its call) can happen meanwhile.  A G running on
 *      another M that is on a CPU is asked to unwind itself: the runtime's
 *      SIGURG with m->dumpreq bumped (gmp_dump_answer runs in the handler).
 *      One running but blocked in the kernel where the runtime cannot see
 *      is not signalled (that could make its call fail with EINTR): the
 *      dump shows the system call from /proc instead;
 *   3. print: symbol names, wait descriptions (the pthread layer's hooks)
 *      and lock cycles, with no G held in SCAN (symbolising takes the
 *      dynamic loader's lock, which a G frozen in a call might hold).
 * It runs in ordinary context (the deadlock check) or in the dump signal's
 * handler (crash.c); it uses raw system calls and no malloc.
 */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct gmp_dump_hooks gmp_dump_hooks;

static const char *const reason_names[GMP_WAIT_NREASONS] = {
	[GMP_WAIT_NONE] = "", [GMP_WAIT_FUTEX] = "futex", [GMP_WAIT_MUTEX] = "mutex",
	[GMP_WAIT_COND] = "cond", [GMP_WAIT_RWLOCK] = "rwlock", [GMP_WAIT_SEM] = "sem",
	[GMP_WAIT_BARRIER] = "barrier", [GMP_WAIT_JOIN] = "join", [GMP_WAIT_SLEEP] = "sleep",
	[GMP_WAIT_IO] = "io", [GMP_WAIT_POLL] = "poll", [GMP_WAIT_TEST] = "test",
};

const char *gmp_waitreason_str(enum gmp_waitreason r)
{
	return (unsigned)r < GMP_WAIT_NREASONS && reason_names[r] ? reason_names[r] : "?";
}

void gmp_g_info(struct gmp_g *g, char *name, size_t cap, void **start)
{
	name[0] = '\0';
	*start = NULL;
	if (gmp_dump_hooks.thread_info && g)
		gmp_dump_hooks.thread_info(g, name, cap, start);
}

/* ---------------------------------------------------------------- output */

/* "2.40 s", "15 ms", "120 us" -- no floating point in a handler. */
static const char *fmt_dur(char *b, size_t cap, int64_t ns)
{
	if (ns < 0)
		ns = 0;
	if (ns >= 1000000000LL)
		snprintf(b, cap, "%lld.%02lld s", (long long)(ns / 1000000000LL),
			 (long long)(ns % 1000000000LL / 10000000LL));
	else if (ns >= 1000000)
		snprintf(b, cap, "%lld ms", (long long)(ns / 1000000));
	else
		snprintf(b, cap, "%lld us", (long long)(ns / 1000));
	return b;
}

int gmp_dump_open(void)
{
	const char *f = gmp_sched.cfg.dumpfile;
	if (f && *f) {
		long fd = gmp_sys(SYS_openat, AT_FDCWD, f, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644, 0, 0);
		if (fd >= 0)
			return (int)fd;
	}
	return 2;
}

void gmp_dump_close(int fd)
{
	if (fd > 2)
		gmp_sys(SYS_close, fd, 0, 0, 0, 0, 0);
}

/* ---------------------------------------------------------------- snapshot */

struct gsnap {
	struct gmp_g *g;
	uint64_t goid;
	uint32_t status;
	uint8_t reason;
	bool foreign;
	const void *obj;
	int64_t since, until;   /* wait start; its deadline (0 none) */
	struct gmp_m *m;
	uint32_t req;           /* dump request sent to m (0 none) */
	long sysnr;             /* running, blocked unseen: the call (-1 none) */
	uintptr_t syspc;
	int n;
	bool exact0;
	uintptr_t pc[GMP_BT_MAX];
};

/* The M the kernel shows blocked in a system call: its number and PC
 * (/proc/self/task/TID/syscall: "nr args... sp pc"); -1 if it runs. */
static long task_syscall(pid_t tid, uintptr_t *pc)
{
	char buf[256];
	if (gmp_read_task_file(tid, "syscall", buf, sizeof buf) <= 0)
		return -1;
	if (buf[0] < '0' || buf[0] > '9')
		return -1; /* "running" */
	long nr = strtol(buf, NULL, 10);
	char *last = strrchr(buf, ' ');
	*pc = last ? (uintptr_t)strtoull(last + 1, NULL, 16) : 0;
	return nr;
}

static void unwind_stopped(struct gsnap *s, const struct gmp_ctx *c)
{
	struct gmp_g *g = s->g;
	s->n = gmp_bt_regs(c->rsp, c->rip, c->rbp, c, (uintptr_t)g->stack.lo, (uintptr_t)g->stack.hi,
			   s->pc, GMP_BT_MAX);
}

static void take_wait(struct gsnap *s)
{
	struct gmp_g *g = s->g;
	s->reason = g->waitreason;
	s->obj = g->waitobj;
	s->since = g->waitsince;
	if (atomic_load(&g->timer.state) != GMP_TIMER_IDLE)
		s->until = g->timer.when;
}

static void snap_one(struct gsnap *s, struct gmp_m *self, void *self_uc)
{
	struct gmp_g *g = s->g;
	s->sysnr = -1;
	s->goid = g->goid;
	s->foreign = g->foreign;
	for (int tries = 0; tries < 1000; tries++) {
		uint32_t st = atomic_load(&g->status);
		s->status = st & ~GMP_G_SCAN;
		if (st == GMP_G_IDLE || st == GMP_G_DEAD)
			return;
		if (g->foreign) {
			take_wait(s);
			return;
		}
		if (st == GMP_G_RUNNING) {
			struct gmp_m *m = g->m;
			s->m = m;
			if (m == NULL)
				continue; /* just switched: look again */
			if (m == self) {
				if (self_uc)
					s->n = gmp_bt_ucontext(self_uc, (uintptr_t)g->stack.lo,
							       (uintptr_t)g->stack.hi, s->pc, GMP_BT_MAX);
				s->exact0 = true;
				return;
			}
			s->sysnr = task_syscall(m->tid, &s->syspc);
			if (s->sysnr < 0 && gmp_preempt_async()) {
				s->req = atomic_fetch_add(&m->dumpreq, 1) + 1;
				gmp_preempt_dumpreq(m);
			}
			return;
		}
		if (st != GMP_G_RUNNABLE && st != GMP_G_WAITING && st != GMP_G_PREEMPTED &&
		    st != GMP_G_SYSCALL)
			continue;
		if (!atomic_compare_exchange_strong(&g->status, &st, st | GMP_G_SCAN))
			continue;
		if (st == GMP_G_SYSCALL) {
			s->m = g->m;
			if (s->m)
				unwind_stopped(s, &s->m->sysctx);
		} else {
			take_wait(s);
			unwind_stopped(s, &g->ctx);
		}
		atomic_store(&g->status, st);
		return;
	}
}

/* Waits (up to 200 ms in all) for the running Gs to answer. */
static void collect_answers(struct gsnap *s, int n)
{
	int64_t deadline = gmp_nanotime() + 200 * 1000000LL;
	for (int i = 0; i < n; i++) {
		if (!s[i].req)
			continue;
		struct gmp_m *m = s[i].m;
		while ((int32_t)(atomic_load(&m->dumpack) - s[i].req) < 0 && gmp_nanotime() < deadline) {
			struct timespec ts = { 0, 200000 };
			gmp_sys(SYS_nanosleep, &ts, NULL, 0, 0, 0, 0);
		}
		if ((int32_t)(atomic_load(&m->dumpack) - s[i].req) >= 0 && m->curg == s[i].g) {
			s[i].n = m->dumpn;
			memcpy(s[i].pc, m->dumppc, sizeof(uintptr_t) * (size_t)s[i].n);
			s[i].exact0 = true;
		}
	}
}

void gmp_dump_answer(struct gmp_m *m, void *uc)
{
	uint32_t req = atomic_load(&m->dumpreq);
	if (req == atomic_load(&m->dumpack))
		return;
	struct gmp_g *g = m->curg;
	m->dumpn = g ? gmp_bt_ucontext(uc, (uintptr_t)g->stack.lo, (uintptr_t)g->stack.hi, m->dumppc, GMP_BT_MAX) : 0;
	atomic_store(&m->dumpack, req);
}

/* ---------------------------------------------------------------- printing */

static void g_label(struct gmp_g *g, uint64_t goid, char *buf, size_t cap)
{
	if (!g) {
		snprintf(buf, cap, "an OS thread the runtime did not create (tid %d)", (int)gmp_gettid());
		return;
	}
	char name[32];
	void *start;
	gmp_g_info(g, name, sizeof name, &start);
	if (name[0])
		snprintf(buf, cap, "thread %llu \"%s\"", (unsigned long long)goid, name);
	else
		snprintf(buf, cap, "thread %llu", (unsigned long long)goid);
}

/* What s waits on; returns the G it waits for (lock cycles), if one. */
static struct gmp_g *wait_text(const struct gsnap *s, int64_t now, char *buf, size_t cap)
{
	struct gmp_g *holder = NULL;
	buf[0] = '\0';
	if (s->reason == GMP_WAIT_SLEEP) {
		char d[32];
		if (s->until)
			snprintf(buf, cap, "sleep until +%s", fmt_dur(d, sizeof d, s->until - now));
		else
			snprintf(buf, cap, "sleep");
		return NULL;
	}
	if (gmp_dump_hooks.wait_detail && s->g && s->reason != GMP_WAIT_NONE)
		holder = gmp_dump_hooks.wait_detail(s->g, s->reason, s->obj, buf, cap);
	if (buf[0] == '\0' && s->reason != GMP_WAIT_NONE)
		snprintf(buf, cap, "%s %p", gmp_waitreason_str(s->reason), s->obj);
	if (s->until && buf[0]) {
		char d[32];
		size_t k = strlen(buf);
		snprintf(buf + k, cap - k, ", until +%s", fmt_dur(d, sizeof d, s->until - now));
	}
	return holder;
}

static void print_frames(struct gmp_out *o, const struct gsnap *s)
{
	/* Leading frames inside the runtime are its own machinery: show only
	 * the last of them (the interposed call the program made). */
	int first = 0, end = s->n;
	while (first < s->n && gmp_pc_in_runtime(s->pc[first]))
		first++;
	if (first == s->n)
		first = 0;
	else if (first > 0)
		first--;
	/* So are the trailing ones: how the runtime started the thread. */
	while (end > first + 1 && gmp_pc_in_runtime(s->pc[end - 1]))
		end--;
	for (int i = first; i < end; i++) {
		char sym[256];
		gmp_symbolize(s->pc[i], i == 0 && s->exact0, sym, sizeof sym);
		gmp_outf(o, "  #%-2d 0x%016lx %s\n", i - first, (unsigned long)s->pc[i], sym);
	}
}

static void print_g(struct gmp_out *o, const struct gsnap *s, int64_t now)
{
	char label[64], d[32], detail[256];
	g_label(s->g, s->goid, label, sizeof label);
	uint32_t st = s->status;
	wait_text(s, now, detail, sizeof detail);
	switch (st) {
	case GMP_G_RUNNING:
		if (s->m)
			gmp_outf(o, "%s [running on M%d (tid %d)]", label, s->m->id, (int)s->m->tid);
		else
			gmp_outf(o, "%s [running]", label);
		if (s->sysnr >= 0)
			gmp_outf(o, ": in system call %ld, not seen by the runtime", s->sysnr);
		gmp_outf(o, "\n");
		break;
	case GMP_G_SYSCALL:
		gmp_outf(o, "%s [syscall on M%d (tid %d)]\n", label, s->m ? s->m->id : -1, s->m ? (int)s->m->tid : 0);
		break;
	case GMP_G_WAITING:
		if (s->foreign)
			gmp_outf(o, "%s [waiting, foreign OS thread]%s%s\n", label, detail[0] ? ": " : "", detail);
		else
			gmp_outf(o, "%s [waiting, %s]%s%s\n", label, fmt_dur(d, sizeof d, now - s->since),
			     detail[0] ? ": " : "", detail);
		break;
	default:
		gmp_outf(o, "%s [%s]\n", label, gmp_gstatus_str(st));
		break;
	}
	void *start;
	char name[32];
	gmp_g_info(s->g, name, sizeof name, &start);
	if (start) {
		char sym[256];
		gmp_symbolize((uintptr_t)start, true, sym, sizeof sym);
		char *plus = strstr(sym, "+0x0 ");
		if (plus) /* "fn (module)" for a function's own address */
			memmove(plus, plus + 4, strlen(plus + 4) + 1);
		gmp_outf(o, "  start: %s\n", sym);
	}
	if (s->n)
		print_frames(o, s);
	else if (s->foreign)
		gmp_outf(o, "  (an OS thread the runtime did not create: no backtrace)\n");
	else if (st == GMP_G_RUNNING && s->sysnr >= 0) {
		char sym[256];
		gmp_symbolize(s->syspc, true, sym, sizeof sym);
		gmp_outf(o, "  #0  0x%016lx %s\n", (unsigned long)s->syspc, sym);
	} else if (st == GMP_G_RUNNING)
		gmp_outf(o, "  (no backtrace: %s)\n", gmp_preempt_async() ? "it did not answer in time"
								 : "GMP_ASYNCPREEMPT=0");
	gmp_outf(o, "\n");
}

void gmp_dump_label(struct gmp_g *g, char *buf, size_t cap)
{
	g_label(g, g ? g->goid : 0, buf, cap);
}

void gmp_dump_current(int fd, struct gmp_g *g, void *uc)
{
	struct gmp_out *o = gmp_rawalloc(sizeof *o);
	struct gsnap *s = gmp_rawalloc(sizeof *s);
	if (o && s) {
		o->fd = fd;
		s->g = g;
		s->status = GMP_G_RUNNING;
		s->goid = g ? g->goid : 0;
		s->m = gmp_getm();
		s->sysnr = -1;
		uintptr_t lo = g ? (uintptr_t)g->stack.lo : 0, hi = g ? (uintptr_t)g->stack.hi : 0;
		s->n = gmp_bt_ucontext(uc, lo, hi, s->pc, GMP_BT_MAX);
		s->exact0 = true;
		print_g(o, s, gmp_nanotime());
		gmp_out_flush(o);
	}
	if (o)
		gmp_rawfree(o, sizeof *o);
	if (s)
		gmp_rawfree(s, sizeof *s);
}

/* Lock cycles: each waiting G points at the G it waits for. */
static void print_cycles(struct gmp_out *o, struct gsnap *s, int n, int64_t now)
{
	struct gmp_g **next = gmp_rawalloc(sizeof *next * (size_t)n);
	int *color = gmp_rawalloc(sizeof *color * (size_t)n);
	if (!next || !color)
		goto out;
	char detail[256];
	for (int i = 0; i < n; i++)
		next[i] = s[i].status == GMP_G_WAITING && !s[i].foreign ? wait_text(&s[i], now, detail, sizeof detail) : NULL;
	/* index of a G in s[] (n is small enough for a linear search) */
	for (int i = 0; i < n; i++) {
		if (color[i])
			continue;
		int cur = i;
		while (cur >= 0 && color[cur] == 0) {
			color[cur] = i + 1; /* on the path from i */
			int nx = -1;
			for (int j = 0; next[cur] && j < n; j++)
				if (s[j].g == next[cur]) {
					nx = j;
					break;
				}
			cur = nx;
		}
		if (cur < 0 || color[cur] != i + 1)
			continue;
		/* cur is on a cycle that the walk from i closed: one line,
		 * "lock cycle: thread 5 waits for mutex 0x.. held by thread 6,
		 * which waits for mutex 0x.. held by thread 5". */
		char label[64];
		g_label(s[cur].g, s[cur].goid, label, sizeof label);
		gmp_outf(o, "lock cycle: %s", label);
		int k = cur;
		do {
			wait_text(&s[k], now, detail, sizeof detail);
			gmp_outf(o, "%s waits for %s", k == cur ? "" : ", which", detail);
			int nx = -1;
			for (int j = 0; j < n; j++)
				if (s[j].g == next[k])
					nx = j;
			k = nx;
		} while (k >= 0 && k != cur);
		gmp_outf(o, "\n\n");
	}
out:
	if (next)
		gmp_rawfree(next, sizeof *next * (size_t)n);
	if (color)
		gmp_rawfree(color, sizeof *color * (size_t)n);
}

static void print_header(struct gmp_out *o, enum gmp_dump_why why, int sig, int ng, int64_t now)
{
	char exe[256], d[32];
	long k = gmp_sys(SYS_readlink, "/proc/self/exe", exe, sizeof exe - 1, 0, 0, 0);
	exe[k > 0 ? k : 0] = '\0';
	const char *base = strrchr(exe, '/');
	const char *whys = why == GMP_DUMP_BY_DEADLOCK ? "deadlock"
			   : why == GMP_DUMP_BY_REQUEST ? "request (gmprun dump)" : gmp_sig_name(sig);
	gmp_outf(o, "gmpthread: dump of process %d (%s) at %s: %s\n", (int)gmp_sys(SYS_getpid, 0, 0, 0, 0, 0, 0),
	     base ? base + 1 : exe, fmt_dur(d, sizeof d, now - gmp_sched.starttime), whys);
	int idle = atomic_load(&gmp_sched.npidle);
	gmp_outf(o, "procs=%d idleprocs=%d threads=%d idlethreads=%d spinning=%d runqueue=%d [",
	     gmp_sched.nprocs, idle, gmp_sched.mcount, gmp_sched.nmidle, atomic_load(&gmp_sched.nmspinning),
	     atomic_load(&gmp_sched.runqsize));
	for (int i = 0; i < gmp_sched.nprocs; i++)
		gmp_outf(o, i ? " %u" : "%u", gmp_runqlen(gmp_sched.allp[i]));
	gmp_outf(o, "] goroutines=%d\n", ng);
	if (!gmp_unwind_available())
		gmp_outf(o, "(backtraces from frame pointers: libunwind.so.8 is not loaded)\n");
	gmp_outf(o, "\n");
}

/* Copies allg into a fresh array (NULL if allglock stays busy: a handler
 * interrupted its holder). */
static struct gsnap *collect(int *np, size_t *bytes)
{
	int64_t give_up = gmp_nanotime() + 100 * 1000000LL;
	for (;;) {
		uint32_t z = 0;
		if (atomic_compare_exchange_strong(&gmp_sched.allglock.word, &z, 1))
			break;
		if (gmp_nanotime() > give_up)
			return NULL;
		struct timespec ts = { 0, 100000 };
		gmp_sys(SYS_nanosleep, &ts, NULL, 0, 0, 0, 0);
	}
	int n = 0;
	for (struct gmp_g *g = gmp_sched.allg; g; g = g->allnext)
		n++;
	*bytes = sizeof(struct gsnap) * (size_t)(n ? n : 1);
	struct gsnap *s = gmp_rawalloc(*bytes);
	if (s) {
		int i = n;
		/* allg is newest first; the dump lists threads oldest first */
		for (struct gmp_g *g = gmp_sched.allg; g && i > 0; g = g->allnext)
			s[--i].g = g;
	}
	gmp_unlock(&gmp_sched.allglock);
	*np = n;
	return s;
}

static _Atomic uint32_t dumping;

void gmp_dump_all(int fd, enum gmp_dump_why why, int sig, void *self_uc)
{
	struct gmp_out *o = gmp_rawalloc(sizeof *o);
	if (!o)
		return;
	o->fd = fd;
	uint32_t z = 0;
	if (!atomic_compare_exchange_strong(&dumping, &z, 1)) {
		gmp_outf(o, "gmpthread: a dump is already being written\n");
		goto done;
	}
	int n = 0;
	size_t bytes = 0;
	struct gsnap *s = collect(&n, &bytes);
	int64_t now = gmp_nanotime();
	if (!s) {
		gmp_outf(o, "gmpthread: dump impossible: the thread list is locked by the interrupted thread\n");
		atomic_store(&dumping, 0);
		goto done;
	}
	struct gmp_m *self = gmp_getm();
	for (int i = 0; i < n; i++)
		snap_one(&s[i], self, self_uc);
	collect_answers(s, n);
	int live = 0;
	for (int i = 0; i < n; i++)
		live += s[i].status != GMP_G_IDLE && s[i].status != GMP_G_DEAD;
	print_header(o, why, sig, live, now);
	for (int i = 0; i < n; i++)
		if (s[i].status != GMP_G_IDLE && s[i].status != GMP_G_DEAD)
			print_g(o, &s[i], now);
	print_cycles(o, s, n, now);
	gmp_rawfree(s, bytes);
	atomic_store(&dumping, 0);
done:
	gmp_out_flush(o);
	gmp_rawfree(o, sizeof *o);
}

/* ---------------------------------------------------------------- deadlock */

static long count_tasks_here(void *unused)
{
	(void)unused;
	long fd = gmp_sys(SYS_openat, AT_FDCWD, "/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, 0, 0);
	if (fd < 0)
		return -1;
	char buf[4096];
	int n = 0;
	long k;
	while ((k = gmp_sys(SYS_getdents64, fd, buf, sizeof buf, 0, 0, 0)) > 0) {
		for (long off = 0; off < k;) {
			unsigned short reclen = *(unsigned short *)(buf + off + 16);
			const char *name = buf + off + 19;
			if (name[0] != '.')
				n++;
			off += reclen;
		}
	}
	gmp_sys(SYS_close, fd, 0, 0, 0, 0, 0);
	return k < 0 ? -1 : n;
}

/* OS threads of the process (entries of /proc/self/task), -1 unknown. */
static int count_tasks(void)
{
	return (int)gmp_filethread_call(count_tasks_here, NULL);
}

bool gmp_deadlock_suspect(void)
{
	return gmp_sched.cfg.deadlock && gmp_dump_hooks.signal_wakeable &&
	       atomic_load(&gmp_sched.ngoroutines) > 0 && atomic_load(&gmp_sched.npollwait) == 0 &&
	       atomic_load(&gmp_sched.runqsize) == 0 && gmp_timer_next_all() == 0;
}

/* Every M but the caller sleeps in stopm; nothing queued, no timer, no fd
 * waiter.  Confirm no G can run again, and report. */
static bool confirmed_dead(void)
{
	if (!gmp_deadlock_suspect() || gmp_dump_hooks.signal_wakeable())
		return false;
	gmp_lock(&gmp_sched.lock);
	bool allidle = gmp_sched.nmidle == gmp_sched.mcount &&
		       atomic_load(&gmp_sched.npidle) == gmp_sched.nprocs;
	int mcount = gmp_sched.mcount;
	gmp_unlock(&gmp_sched.lock);
	if (!allidle)
		return false;
	for (int i = 0; i < gmp_sched.nprocs; i++)
		if (!gmp_runqempty(gmp_sched.allp[i]))
			return false;
	int parkedforeign = 0;
	bool alive = false;
	gmp_lock(&gmp_sched.allglock);
	for (struct gmp_g *g = gmp_sched.allg; g; g = g->allnext) {
		uint32_t st = gmp_readgstatus(g);
		if (st == GMP_G_IDLE || st == GMP_G_DEAD)
			continue;
		if (st != GMP_G_WAITING)
			alive = true;
		else if (g->foreign)
			parkedforeign++;
	}
	gmp_unlock(&gmp_sched.allglock);
	if (alive)
		return false;
	/* OS threads the runtime did not make could ready a G, unless each is
	 * itself parked in the runtime. */
	int tasks = count_tasks();
	int ours = mcount + (gmp_sysmon_running() ? 1 : 0) + (gmp_filethread_running() ? 1 : 0);
	return tasks >= 0 && tasks - ours <= parkedforeign;
}

void gmp_deadlock_check(void)
{
	if (!confirmed_dead())
		return;
	gmp_unwind_load();
	int fd = gmp_dump_open();
	static const char msg[] = "all threads are asleep - deadlock!\n\n";
	gmp_write_all(fd, msg, sizeof msg - 1);
	if (fd != 2) /* the verdict on the terminal too */
		gmp_write_all(2, msg, sizeof msg - 2);
	gmp_dump_all(fd, GMP_DUMP_BY_DEADLOCK, 0, NULL);
	gmp_dump_close(fd);
	gmp_trace_flush();
	/* stdio buffers, unless a parked thread holds a stream's lock */
	FILE *fs[] = { stdout, stderr };
	for (int i = 0; i < 2; i++)
		if (ftrylockfile(fs[i]) == 0) {
			fflush_unlocked(fs[i]);
			funlockfile(fs[i]);
		}
	gmp_sys(SYS_exit_group, 2, 0, 0, 0, 0, 0);
}

/* ---------------------------------------------------------------- schedtrace */

void gmp_schedtrace(int64_t now)
{
	struct gmp_out *o = gmp_rawalloc(sizeof *o);
	if (!o)
		return;
	o->fd = 2;
	gmp_outf(o, "SCHED %lldms: gomaxprocs=%d idleprocs=%d threads=%d spinningthreads=%d idlethreads=%d runqueue=%d [",
	     (long long)((now - gmp_sched.starttime) / 1000000), gmp_sched.nprocs, atomic_load(&gmp_sched.npidle),
	     gmp_sched.mcount, atomic_load(&gmp_sched.nmspinning), gmp_sched.nmidle,
	     atomic_load(&gmp_sched.runqsize));
	for (int i = 0; i < gmp_sched.nprocs; i++)
		gmp_outf(o, i ? " %u" : "%u", gmp_runqlen(gmp_sched.allp[i]));
	gmp_outf(o, "] goroutines=%d\n", atomic_load(&gmp_sched.ngoroutines));
	if (gmp_sched.cfg.scheddetail) {
		static const char *const pst[] = { "idle", "running", "syscall", "user" };
		for (int i = 0; i < gmp_sched.nprocs; i++) {
			struct gmp_p *pp = gmp_sched.allp[i];
			uint32_t st = atomic_load(&pp->status);
			struct gmp_m *pm = atomic_load(&pp->m);
			gmp_outf(o, "  P%d: status=%s schedtick=%u syscalltick=%u m=%d runqsize=%u timers=%d\n", i,
			     GMP_P_STATE(st) < 4 ? pst[GMP_P_STATE(st)] : "?", atomic_load(&pp->schedtick),
			     atomic_load(&pp->syscalltick), pm && GMP_P_STATE(st) != GMP_P_IDLE ? pm->id : -1,
			     gmp_runqlen(pp), pp->ntimers);
		}
		for (int i = 0; i < gmp_sched.mcount; i++) {
			struct gmp_m *m = atomic_load(&gmp_sched.mbyid[i]);
			if (!m)
				continue;
			struct gmp_p *pp = m->p;
			struct gmp_g *cg = m->curg;
			gmp_outf(o, "  M%d: p=%d curg=%lld spinning=%s locks=%d syscalldepth=%d tid=%d\n", m->id,
			     pp ? pp->id : -1, cg ? (long long)cg->goid : -1LL, m->spinning ? "true" : "false",
			     m->locks, m->syscalldepth, (int)m->tid);
		}
		uint32_t z = 0;
		if (atomic_compare_exchange_strong(&gmp_sched.allglock.word, &z, 1)) {
			for (struct gmp_g *g = gmp_sched.allg; g; g = g->allnext) {
				uint32_t st = gmp_readgstatus(g);
				if (st == GMP_G_IDLE || st == GMP_G_DEAD)
					continue;
				struct gmp_m *gm = g->m;
				char name[32];
				void *start;
				gmp_g_info(g, name, sizeof name, &start);
				gmp_outf(o, "  G%llu: status=%s m=%d \"%s\" waitreason=%s\n", (unsigned long long)g->goid,
				     gmp_gstatus_str(st), gm && (st == GMP_G_RUNNING || st == GMP_G_SYSCALL) ? gm->id : -1,
				     name, st == GMP_G_WAITING ? gmp_waitreason_str(g->waitreason) : "");
			}
			gmp_unlock(&gmp_sched.allglock);
		}
	}
	gmp_out_flush(o);
	gmp_rawfree(o, sizeof *o);
}
