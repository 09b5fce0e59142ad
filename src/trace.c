/*
 * GMP_TRACE: a timeline of the scheduler, written at exit as Chrome
 * trace-event JSON (chrome://tracing, Perfetto; `gmprun view` makes an
 * offline HTML page of it).
 *
 * Recording: each M appends 32-byte events to its own buffer (no lock, no
 * atomic read-modify-write: one clock read and a few stores), allocated on
 * its first event with room for GMP_TRACE_BUF events; sysmon has its own,
 * and threads the runtime did not create share one under a lock.  A full
 * buffer drops later events and counts them: memory is bounded and the
 * beginning of the run is kept.  Events are never recorded in signal
 * handlers (an interrupted append would be torn).
 *
 * Writing (gmp_trace_flush: atexit, a deadlock report, a fatal signal):
 * recording stops, then every buffer becomes one track (tid = M id + 1),
 * in its own time order.  The writer turns starts and stops into B/E pairs
 * nested per track -- a G's slice, its system calls inside it; poller and
 * idle sleeps -- closing whatever a dropped or cut-off tail left open, so
 * the file always balances.  Thread names come from pthread_setname_np
 * events, else from the start routine's symbol.
 */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

struct ev {
	int64_t ts;
	uint64_t goid;
	uint64_t arg;
	uint32_t type;
	uint32_t arg2;
};
_Static_assert(sizeof(struct ev) == 32, "trace event size");

struct gmp_tracebuf {
	int track;
	pid_t tid;
	_Atomic uint32_t n;
	uint32_t cap;
	uint64_t dropped;
	struct gmp_tracebuf *next;
	struct ev ev[];
};

bool gmp_tracing;
static _Atomic bool flushed;
static gmp_mutex buflock;                 /* bufs list; the shared buffer's appends */
static struct gmp_tracebuf *bufs;
static struct gmp_tracebuf *sharedbuf;    /* threads that are not Ms */
static _Atomic(pid_t) sysmon_tid;
static struct gmp_tracebuf *sysmonbuf;

#define TRACK_SYSMON 1000
#define TRACK_OTHER 1001

static struct gmp_tracebuf *newbuf(int track, pid_t tid)
{
	size_t cap = (size_t)gmp_sched.cfg.tracebuf;
	struct gmp_tracebuf *b = gmp_rawalloc(sizeof *b + cap * sizeof(struct ev));
	if (!b)
		return NULL;
	b->track = track;
	b->tid = tid;
	b->cap = (uint32_t)cap;
	gmp_lock(&buflock);
	b->next = bufs;
	bufs = b;
	gmp_unlock(&buflock);
	return b;
}

static void append(struct gmp_tracebuf *b, int type, uint64_t goid, uint64_t arg, uint32_t arg2)
{
	uint32_t n = atomic_load_explicit(&b->n, memory_order_relaxed);
	if (n >= b->cap) {
		b->dropped++;
		return;
	}
	struct ev *e = &b->ev[n];
	e->ts = gmp_nanotime();
	e->goid = goid;
	e->arg = arg;
	e->type = (uint32_t)type;
	e->arg2 = arg2;
	atomic_store_explicit(&b->n, n + 1, memory_order_release);
}

static void record(int type, uint64_t goid, uint64_t arg, uint32_t arg2)
{
	if (!gmp_tracing)
		return;
	struct gmp_m *m = gmp_getm();
	if (m) {
		if (!m->trace)
			m->trace = newbuf(m->id + 1, m->tid);
		if (m->trace)
			append(m->trace, type, goid, arg, arg2);
		return;
	}
	if (gmp_gettid() == atomic_load(&sysmon_tid)) {
		if (!sysmonbuf)
			sysmonbuf = newbuf(TRACK_SYSMON, gmp_gettid());
		if (sysmonbuf)
			append(sysmonbuf, type, goid, arg, arg2);
		return;
	}
	gmp_lock(&buflock);
	struct gmp_tracebuf *b = sharedbuf;
	gmp_unlock(&buflock);
	if (!b && (b = newbuf(TRACK_OTHER, 0)) != NULL) {
		gmp_lock(&buflock);
		if (sharedbuf)
			b = sharedbuf; /* (a second one stays empty) */
		else
			sharedbuf = b;
		gmp_unlock(&buflock);
	}
	if (b) {
		gmp_lock(&buflock);
		append(b, type, goid, arg, arg2);
		gmp_unlock(&buflock);
	}
}

void gmp_trace_ev(int ev, uint64_t goid, uint64_t arg)
{
	record(ev, goid, arg, 0);
}

void gmp_trace_sysmon(void)
{
	atomic_store(&sysmon_tid, gmp_gettid());
}

/* A thread name, as two events of 8 characters. */
void gmp_trace_name(uint64_t goid, const char *name)
{
	if (!gmp_tracing)
		return;
	char n[16] = { 0 };
	strncpy(n, name, 15);
	uint64_t a, b;
	memcpy(&a, n, 8);
	memcpy(&b, n + 8, 8);
	record(GMP_EV_NAME, goid, a, 0);
	record(GMP_EV_NAME, goid, b, 1);
}

static void flush_atexit(void)
{
	gmp_trace_flush();
}

void gmp_trace_init(void)
{
	if (!gmp_sched.cfg.trace)
		return;
	gmp_tracing = true;
	atexit(flush_atexit);
}

void gmp_trace_forkchild(void)
{
	/* The child does not write its parent's file. */
	gmp_tracing = false;
	atomic_store(&flushed, true);
}

/* ---------------------------------------------------------------- writing */

/* A JSON string body (quotes, backslashes and control characters escaped). */
static void json_str(char *out, size_t cap, const char *s)
{
	size_t k = 0;
	for (; *s && k + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[k++] = '\\';
			out[k++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			k += (size_t)snprintf(out + k, cap - k, "\\u%04x", c);
		} else {
			out[k++] = (char)c;
		}
	}
	out[k] = '\0';
}

/* goid -> display name, an open-addressing table built before writing. */
struct nameent {
	uint64_t goid;
	char name[48];
};
static struct nameent *names;
static size_t namecap;

static struct nameent *name_slot(uint64_t goid)
{
	size_t i = (size_t)(goid * 0x9E3779B97F4A7C15ULL) & (namecap - 1);
	while (names[i].goid && names[i].goid != goid)
		i = (i + 1) & (namecap - 1);
	return &names[i];
}

static void name_set(uint64_t goid, const char *name, bool override)
{
	if (!names || !goid)
		return;
	struct nameent *e = name_slot(goid);
	if (e->goid && !override)
		return;
	e->goid = goid;
	json_str(e->name, sizeof e->name, name);
}

/* "worker+0x0 (prog)" -> "worker" */
static void short_sym(uintptr_t pc, char *buf, size_t cap)
{
	gmp_symbolize(pc, true, buf, cap);
	char *p = strpbrk(buf, "+ ");
	if (p)
		*p = '\0';
	if (strcmp(buf, "??") == 0)
		buf[0] = '\0';
}

static void build_names(size_t nevents)
{
	namecap = 64;
	while (namecap < 2 * nevents + 64)
		namecap <<= 1;
	names = gmp_rawalloc(namecap * sizeof *names);
	if (!names)
		return;
	/* Lowest priority first: start routines, then pthread_setname_np
	 * (later names win). */
	for (struct gmp_tracebuf *b = bufs; b; b = b->next) {
		uint32_t n = atomic_load(&b->n);
		for (uint32_t i = 0; i < n; i++) {
			struct ev *e = &b->ev[i];
			if (e->type == GMP_EV_CREATE && e->arg) {
				char s[128];
				short_sym((uintptr_t)e->arg, s, sizeof s);
				if (s[0])
					name_set(e->goid, s, false);
			}
		}
	}
	for (struct gmp_tracebuf *b = bufs; b; b = b->next) {
		uint32_t n = atomic_load(&b->n);
		for (uint32_t i = 0; i + 1 < n; i++) {
			struct ev *e = &b->ev[i];
			if (e->type == GMP_EV_NAME && e->arg2 == 0 && e[1].type == GMP_EV_NAME && e[1].goid == e->goid) {
				char s[17] = { 0 };
				memcpy(s, &e->arg, 8);
				memcpy(s + 8, &e[1].arg, 8);
				if (s[0])
					name_set(e->goid, s, true);
			}
		}
	}
	gmp_lock(&gmp_sched.allglock);
	for (struct gmp_g *g = gmp_sched.allg; g; g = g->allnext) {
		uint32_t st = gmp_readgstatus(g);
		if (st == GMP_G_IDLE || st == GMP_G_DEAD)
			continue;
		char nm[32];
		void *start;
		gmp_g_info(g, nm, sizeof nm, &start);
		if (nm[0])
			name_set(g->goid, nm, true);
	}
	gmp_unlock(&gmp_sched.allglock);
}

static const char *gname(uint64_t goid, char *buf, size_t cap)
{
	struct nameent *e = names ? name_slot(goid) : NULL;
	if (e && e->goid == goid && e->name[0])
		snprintf(buf, cap, "G%llu %s", (unsigned long long)goid, e->name);
	else
		snprintf(buf, cap, "G%llu", (unsigned long long)goid);
	return buf;
}

static const char *stop_why(uint64_t arg, char *buf, size_t cap)
{
	switch (arg & 0xff00) {
	case GMP_STOP_PARK: snprintf(buf, cap, "park: %s", gmp_waitreason_str((enum gmp_waitreason)(arg & 0xff))); break;
	case GMP_STOP_YIELD: snprintf(buf, cap, "yield"); break;
	case GMP_STOP_PREEMPT: snprintf(buf, cap, "preempted"); break;
	case GMP_STOP_EXIT: snprintf(buf, cap, "exit"); break;
	case GMP_STOP_SYSCALL: snprintf(buf, cap, "syscall: lost its P"); break;
	default: snprintf(buf, cap, "?"); break;
	}
	return buf;
}

static int64_t t0;
static int pid;

static void ts_fmt(char *b, size_t cap, int64_t ts)
{
	int64_t ns = ts - t0;
	if (ns < 0)
		ns = 0;
	snprintf(b, cap, "%lld.%03lld", (long long)(ns / 1000), (long long)(ns % 1000));
}

/* Open slices of one track, innermost last. */
enum { S_G, S_SYS, S_POLL, S_IDLE };
struct slice {
	int kind;
	uint64_t goid;
};

static void emit_be(struct gmp_out *w, int track, char ph, const struct slice *s, int64_t ts, const char *why)
{
	static const char *const cat[] = { "g", "syscall", "netpoll", "idle" };
	static const char *const nm[] = { NULL, "syscall", "netpoll", "idle" };
	char t[32], name[80];
	ts_fmt(t, sizeof t, ts);
	const char *n = s->kind == S_G ? gname(s->goid, name, sizeof name) : nm[s->kind];
	gmp_outf(w, ",\n{\"ph\":\"%c\",\"cat\":\"%s\",\"name\":\"%s\",\"pid\":%d,\"tid\":%d,\"ts\":%s", ph, cat[s->kind], n,
	   pid, track, t);
	if (s->kind == S_G && ph == 'B')
		gmp_outf(w, ",\"args\":{\"g\":%llu}}", (unsigned long long)s->goid);
	else if (why)
		gmp_outf(w, ",\"args\":{\"why\":\"%s\"}}", why);
	else
		gmp_outf(w, "}");
}

static void emit_instant(struct gmp_out *w, int track, const char *cat, const char *what, const struct ev *e,
			 const char *extra)
{
	char t[32];
	ts_fmt(t, sizeof t, e->ts);
	gmp_outf(w, ",\n{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"%s\",\"name\":\"%s G%llu\",\"pid\":%d,\"tid\":%d,\"ts\":%s,"
	   "\"args\":{\"g\":%llu%s}}", cat, what, (unsigned long long)e->goid, pid, track, t,
	   (unsigned long long)e->goid, extra ? extra : "");
}

static void write_track(struct gmp_out *w, struct gmp_tracebuf *b)
{
	struct slice st[8];
	int depth = 0;
	uint32_t n = atomic_load(&b->n);
	int64_t last = n ? b->ev[n - 1].ts : t0;
	for (uint32_t i = 0; i < n; i++) {
		const struct ev *e = &b->ev[i];
		char why[64];
		switch (e->type) {
		case GMP_EV_GSTART:
			while (depth > 0)
				emit_be(w, b->track, 'E', &st[--depth], e->ts, NULL);
			st[depth] = (struct slice){ S_G, e->goid };
			emit_be(w, b->track, 'B', &st[depth++], e->ts, NULL);
			break;
		case GMP_EV_GSTOP:
			while (depth > 0 && st[depth - 1].kind != S_G)
				emit_be(w, b->track, 'E', &st[--depth], e->ts, NULL);
			if (depth > 0) {
				depth--;
				emit_be(w, b->track, 'E', &st[depth], e->ts, stop_why(e->arg, why, sizeof why));
			}
			break;
		case GMP_EV_SYSENTER:
			if (depth > 0 && depth < 8 && st[depth - 1].kind == S_G) {
				st[depth] = (struct slice){ S_SYS, e->goid };
				emit_be(w, b->track, 'B', &st[depth++], e->ts, NULL);
			}
			break;
		case GMP_EV_POLLSTART:
		case GMP_EV_IDLESTART:
			if (depth < 8 && (depth == 0 || st[depth - 1].kind != S_G)) {
				st[depth] = (struct slice){ e->type == GMP_EV_POLLSTART ? S_POLL : S_IDLE, 0 };
				emit_be(w, b->track, 'B', &st[depth++], e->ts, NULL);
			}
			break;
		case GMP_EV_SYSEXIT:
		case GMP_EV_POLLSTOP:
		case GMP_EV_IDLESTOP: {
			int kind = e->type == GMP_EV_SYSEXIT ? S_SYS : e->type == GMP_EV_POLLSTOP ? S_POLL : S_IDLE;
			if (depth > 0 && st[depth - 1].kind == kind)
				emit_be(w, b->track, 'E', &st[--depth], e->ts, NULL);
			break;
		}
		case GMP_EV_READY:
			emit_instant(w, b->track, "ready", "ready", e, NULL);
			break;
		case GMP_EV_CREATE:
			emit_instant(w, b->track, "create", "create", e, NULL);
			break;
		case GMP_EV_PREEMPT:
			emit_instant(w, b->track, "preempt", "preempt", e, e->arg ? ",\"async\":true" : ",\"async\":false");
			break;
		case GMP_EV_PREEMPTREQ: {
			char extra[32];
			snprintf(extra, sizeof extra, ",\"p\":%llu", (unsigned long long)e->arg);
			emit_instant(w, b->track, "preempt-request", "preempt-request", e, extra);
			break;
		}
		default:
			break;
		}
	}
	while (depth > 0)
		emit_be(w, b->track, 'E', &st[--depth], last, "end of trace");
}

void gmp_trace_flush(void)
{
	if (!gmp_sched.cfg.trace || atomic_exchange(&flushed, true))
		return;
	gmp_tracing = false;
	long fd = gmp_sys(SYS_openat, AT_FDCWD, gmp_sched.cfg.trace, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644, 0, 0);
	if (fd < 0) {
		gmp_printerr("GMP_TRACE: cannot write %s (error %ld)", gmp_sched.cfg.trace, -fd);
		return;
	}
	struct gmp_out *w = gmp_rawalloc(sizeof *w);
	if (!w) {
		gmp_sys(SYS_close, fd, 0, 0, 0, 0, 0);
		return;
	}
	w->fd = (int)fd;
	t0 = gmp_sched.starttime;
	pid = (int)gmp_sys(SYS_getpid, 0, 0, 0, 0, 0, 0);
	gmp_lock(&buflock);
	struct gmp_tracebuf *all = bufs;
	gmp_unlock(&buflock);
	size_t nev = 0;
	uint64_t dropped = 0;
	for (struct gmp_tracebuf *b = all; b; b = b->next) {
		nev += atomic_load(&b->n);
		dropped += b->dropped;
	}
	build_names(nev);
	char cmd[256] = "", cmdj[300];
	long cf = gmp_sys(SYS_openat, AT_FDCWD, "/proc/self/cmdline", O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (cf >= 0) {
		long k = gmp_sys(SYS_read, cf, cmd, sizeof cmd - 1, 0, 0, 0);
		cmd[k > 0 ? k : 0] = '\0';
		gmp_sys(SYS_close, cf, 0, 0, 0, 0, 0);
	}
	json_str(cmdj, sizeof cmdj, cmd);
	gmp_outf(w, "{\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"producer\":\"libgmpthread %s\",\"command\":\"%s\","
	   "\"pid\":%d,\"procs\":%d,\"events\":%zu,\"dropped\":%llu},\n\"traceEvents\":[\n",
	   GMP_VERSION, cmdj, pid, gmp_sched.nprocs, nev, (unsigned long long)dropped);
	gmp_outf(w, "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%d,\"tid\":0,\"args\":{\"name\":\"%s under libgmpthread\"}}",
	   pid, cmdj);
	for (struct gmp_tracebuf *b = all; b; b = b->next) {
		char tn[64];
		if (b->track == TRACK_SYSMON)
			snprintf(tn, sizeof tn, "sysmon");
		else if (b->track == TRACK_OTHER)
			snprintf(tn, sizeof tn, "other threads");
		else
			snprintf(tn, sizeof tn, "M%d (tid %d)", b->track - 1, (int)b->tid);
		gmp_outf(w, ",\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":\"%s\"}}", pid,
		   b->track, tn);
		gmp_outf(w, ",\n{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":%d,\"tid\":%d,\"args\":{\"sort_index\":%d}}",
		   pid, b->track, b->track);
	}
	for (struct gmp_tracebuf *b = all; b; b = b->next)
		write_track(w, b);
	gmp_outf(w, "\n]}\n");
	gmp_out_flush(w);
	gmp_sys(SYS_close, fd, 0, 0, 0, 0, 0);
	gmp_rawfree(w, sizeof *w);
	if (dropped)
		gmp_printerr("GMP_TRACE: %llu events dropped (buffers full; raise GMP_TRACE_BUF)",
			     (unsigned long long)dropped);
}
