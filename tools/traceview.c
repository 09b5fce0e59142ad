/*
 * traceview: the trace written by GMP_TRACE (Chrome trace-event JSON, object
 * or array form) to one self-contained HTML page: an inline SVG timeline with
 * one lane per tid, then per-thread and per-lane statistics.  `gmprun view`.
 *
 * Input.  A strict JSON parser (RFC 8259: no comments, no trailing commas,
 * no NaN) that reports the first error as FILE:LINE:COL and never crashes
 * on malformed input (nesting is capped, every read is bounds-checked).  The
 * traceEvents array is streamed: each event is parsed into a scratch arena,
 * turned into a slice or an instant, and the arena is reset, so a trace of
 * millions of events costs the compact records, not a tree.
 *
 * Events used: M (thread_name, thread_sort_index, process_name), B/E pairs
 * (matched per tid as a stack; an E with nothing open is counted and
 * dropped, a B still open at the end is closed at the last timestamp), X
 * (complete, with dur) and i/I (instants).  Other phases are counted and
 * ignored.  cat picks the drawing: g (a thread running on an M: coloured by
 * its G number, args.g or the number in "G<n>"), syscall (a thin band under
 * the G), netpoll and idle (grey), anything else (muted colour by name);
 * instants ready/create/preempt/preempt-request are ticks at the lane top.
 *
 * Output.  The lanes' shapes are in microseconds (x) by pixels (y), in
 * groups that each cover 1/128 of the trace: a shape's x is relative to its
 * group's start, and the group's transform, translate(px) scale(px per us,
 * 1), places it.  Zooming and panning only rewrite those transforms; the
 * script computes them in doubles, so a deep zoom into a long trace stays
 * exact (SVG coordinates are single precision in browsers: absolute
 * microsecond positions would wobble by whole pixels).  Labels, the time
 * axis and the grid are in pixel space, drawn here for the default view and
 * redrawn by the small inline script after a zoom, so the page reads the
 * same with scripts off.  Every shape has a <title> tooltip.
 * Above max_slices shapes, runs of slices narrower than a pixel (per lane
 * and band) are merged into one grey "busy" rectangle, and instants closer
 * than a pixel into one tick, which bounds the page to about
 * width x lanes x bands shapes.
 */
#define _GNU_SOURCE
#include "traceview.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- memory --------------------------------------------------------------- */

static void oom(void)
{
	fprintf(stderr, "gmprun: view: out of memory\n");
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

static void *grow(void *p, size_t *cap, size_t elem)
{
	size_t nc = *cap ? *cap * 2 : 16;
	if (nc < *cap || nc > SIZE_MAX / elem)
		oom();
	*cap = nc;
	return xrealloc(p, nc * elem);
}

#define VEC(T) struct { T *v; size_t n, cap; }
#define VPUSH(vec, x) do {                                               \
		if ((vec).n == (vec).cap)                                \
			(vec).v = grow((vec).v, &(vec).cap, sizeof *(vec).v); \
		(vec).v[(vec).n++] = (x);                                \
	} while (0)

struct sbuf {
	char *s;
	size_t n, cap;
};

static void sb_reserve(struct sbuf *b, size_t more)
{
	if (b->n + more + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		while (nc < b->n + more + 1) {
			if (nc > SIZE_MAX / 2)
				oom();
			nc *= 2;
		}
		b->s = xrealloc(b->s, nc);
		b->cap = nc;
	}
}

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	sb_reserve(b, n);
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static void sb_putc(struct sbuf *b, char c)
{
	sb_put(b, &c, 1);
}

__attribute__((format(printf, 2, 3)))
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sb_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->s + b->n, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->n += (size_t)n;
}

/* Bump allocator with mark/reset: one event's JSON tree lives in it. */
struct chunk {
	struct chunk *prev;
	size_t cap, used;
	max_align_t data[];
};

struct arena {
	struct chunk *top;
};

struct amark {
	struct chunk *top;
	size_t used;
};

static void *aalloc(struct arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n == 0)
		oom();
	if (!a->top || a->top->cap - a->top->used < n) {
		size_t cap = n > 65536 ? n : 65536;
		struct chunk *c = xmalloc(sizeof *c + cap);
		c->prev = a->top;
		c->cap = cap;
		c->used = 0;
		a->top = c;
	}
	void *p = (char *)a->top->data + a->top->used;
	a->top->used += n;
	return p;
}

static struct amark amark(struct arena *a)
{
	return (struct amark){ a->top, a->top ? a->top->used : 0 };
}

static void areset(struct arena *a, struct amark m)
{
	while (a->top != m.top) {
		struct chunk *c = a->top;
		a->top = c->prev;
		free(c);
	}
	if (a->top)
		a->top->used = m.used;
}

static void afree(struct arena *a)
{
	areset(a, (struct amark){ NULL, 0 });
}

/* ---- hashing ------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t hash_u64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* Open-addressing index: slots hold (hash, index + 1); the caller compares
 * the real keys. */
struct ixslot {
	uint32_t h, idx1;
};

struct ixtab {
	struct ixslot *s;
	size_t cap, n;
};

struct ixiter {
	size_t pos;
	uint32_t h;
};

static void ix_insert(struct ixtab *t, uint64_t hash, uint32_t idx);

static void ix_rehash(struct ixtab *t)
{
	struct ixslot *old = t->s;
	size_t oldcap = t->cap;
	t->cap = oldcap ? oldcap * 2 : 64;
	t->s = xmalloc(t->cap * sizeof *t->s);
	memset(t->s, 0, t->cap * sizeof *t->s);
	t->n = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].idx1)
			ix_insert(t, old[i].h, old[i].idx1 - 1);
	free(old);
}

static void ix_insert(struct ixtab *t, uint64_t hash, uint32_t idx)
{
	if ((t->n + 1) * 2 > t->cap)
		ix_rehash(t);
	uint32_t h = (uint32_t)hash;
	size_t pos = h & (t->cap - 1);
	while (t->s[pos].idx1)
		pos = (pos + 1) & (t->cap - 1);
	t->s[pos].h = h;
	t->s[pos].idx1 = idx + 1;
	t->n++;
}

/* Candidates with the same hash, one by one; UINT32_MAX at the end. */
static uint32_t ix_next(const struct ixtab *t, struct ixiter *it)
{
	if (!t->cap)
		return UINT32_MAX;
	for (;;) {
		const struct ixslot *s = &t->s[it->pos];
		it->pos = (it->pos + 1) & (t->cap - 1);
		if (!s->idx1)
			return UINT32_MAX;
		if (s->h == it->h)
			return s->idx1 - 1;
	}
}

static struct ixiter ix_start(const struct ixtab *t, uint64_t hash)
{
	uint32_t h = (uint32_t)hash;
	return (struct ixiter){ t->cap ? h & (t->cap - 1) : 0, h };
}

/* ---- JSON ----------------------------------------------------------------- */

#define JSON_MAX_DEPTH 200

enum jtype { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };

struct jval {
	enum jtype t;
	double num;
	char *s;            /* J_STR: decoded, NUL-terminated */
	char *key;          /* set when the value is an object member */
	struct jval *kids;  /* J_ARR, J_OBJ */
	struct jval *next;
	size_t n;
};

struct jp {
	const char *buf, *p, *end;
	jmp_buf jb;
	const char *errpos;
	char msg[200];
	int depth;
	struct sbuf tmp;
};

__attribute__((noreturn, format(printf, 3, 4)))
static void jfail(struct jp *j, const char *at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->msg, sizeof j->msg, fmt, ap);
	va_end(ap);
	j->errpos = at;
	longjmp(j->jb, 1);
}

__attribute__((noreturn))
static void jfail_expected(struct jp *j, const char *what)
{
	if (j->p >= j->end)
		jfail(j, j->p, "unexpected end of input (expected %s)", what);
	unsigned char c = (unsigned char)*j->p;
	if (c > 0x20 && c < 0x7f)
		jfail(j, j->p, "expected %s, found '%c'", what, c);
	jfail(j, j->p, "expected %s, found byte 0x%02x", what, c);
}

static void jws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static struct jval *jnew(struct arena *a, enum jtype t)
{
	struct jval *v = aalloc(a, sizeof *v);
	memset(v, 0, sizeof *v);
	v->t = t;
	return v;
}

static int hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex4(const char *p, const char *end)
{
	if (end - p < 4)
		return -1;
	int v = 0;
	for (int i = 0; i < 4; i++) {
		int d = hexdigit(p[i]);
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static void put_utf8(struct sbuf *b, unsigned cp)
{
	char u[4];
	if (cp < 0x80) {
		sb_putc(b, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		sb_put(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		sb_put(b, u, 3);
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		sb_put(b, u, 4);
	}
}

/* At the opening quote.  \u0000 and lone surrogates become U+FFFD, so a
 * decoded string never holds a NUL. */
static char *jstring(struct jp *j, struct arena *a)
{
	const char *start = j->p++;
	j->tmp.n = 0;
	for (;;) {
		if (j->p >= j->end)
			jfail(j, start, "unterminated string");
		unsigned char c = (unsigned char)*j->p;
		if (c == '"') {
			j->p++;
			break;
		}
		if (c < 0x20)
			jfail(j, j->p, "control character 0x%02x in a string (must be escaped)", c);
		if (c != '\\') {
			const char *run = j->p;
			while (j->p < j->end && *j->p != '"' && *j->p != '\\' && (unsigned char)*j->p >= 0x20)
				j->p++;
			sb_put(&j->tmp, run, (size_t)(j->p - run));
			continue;
		}
		const char *esc = j->p;
		if (j->end - j->p < 2)
			jfail(j, start, "unterminated string");
		c = (unsigned char)j->p[1];
		j->p += 2;
		switch (c) {
		case '"': case '\\': case '/':
			sb_putc(&j->tmp, (char)c);
			break;
		case 'b': sb_putc(&j->tmp, '\b'); break;
		case 'f': sb_putc(&j->tmp, '\f'); break;
		case 'n': sb_putc(&j->tmp, '\n'); break;
		case 'r': sb_putc(&j->tmp, '\r'); break;
		case 't': sb_putc(&j->tmp, '\t'); break;
		case 'u': {
			int cp = hex4(j->p, j->end);
			if (cp < 0)
				jfail(j, esc, "invalid \\u escape (needs 4 hex digits)");
			j->p += 4;
			if (cp >= 0xD800 && cp < 0xDC00) {
				int lo = -1;
				if (j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u')
					lo = hex4(j->p + 2, j->end);
				if (lo >= 0xDC00 && lo < 0xE000) {
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					j->p += 6;
				} else {
					cp = 0xFFFD;
				}
			} else if ((cp >= 0xDC00 && cp < 0xE000) || cp == 0) {
				cp = 0xFFFD;
			}
			put_utf8(&j->tmp, (unsigned)cp);
			break;
		}
		default:
			if (c > 0x20 && c < 0x7f)
				jfail(j, esc, "invalid escape '\\%c' in a string", c);
			jfail(j, esc, "invalid escape (byte 0x%02x after '\\') in a string", c);
		}
	}
	char *s = aalloc(a, j->tmp.n + 1);
	memcpy(s, j->tmp.s ? j->tmp.s : "", j->tmp.n);
	s[j->tmp.n] = '\0';
	return s;
}

static int isdig(const char *p, const char *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

static double jnumber(struct jp *j)
{
	const char *s = j->p, *p = j->p;
	if (p < j->end && *p == '-')
		p++;
	if (!isdig(p, j->end))
		jfail(j, s, "invalid number (a digit must follow '-')");
	if (*p == '0') {
		p++;
		if (isdig(p, j->end))
			jfail(j, s, "invalid number (leading zero)");
	} else {
		while (isdig(p, j->end))
			p++;
	}
	if (p < j->end && *p == '.') {
		p++;
		if (!isdig(p, j->end))
			jfail(j, p, "invalid number (a digit must follow '.')");
		while (isdig(p, j->end))
			p++;
	}
	if (p < j->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < j->end && (*p == '+' || *p == '-'))
			p++;
		if (!isdig(p, j->end))
			jfail(j, p, "invalid number (a digit must follow the exponent)");
		while (isdig(p, j->end))
			p++;
	}
	size_t n = (size_t)(p - s);
	char small[64];
	char *num = n < sizeof small ? small : xmalloc(n + 1);
	memcpy(num, s, n);
	num[n] = '\0';
	double d = strtod(num, NULL);
	if (num != small)
		free(num);
	j->p = p;
	return d;
}

static struct jval *jvalue(struct jp *j, struct arena *a);

/* At '{' or '[': enters it (one level deeper).  True if it closes at once
 * with close (the level is left again then). */
static bool jopen(struct jp *j, char close)
{
	if (++j->depth > JSON_MAX_DEPTH)
		jfail(j, j->p, "nesting deeper than %d levels", JSON_MAX_DEPTH);
	j->p++;
	jws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		return true;
	}
	return false;
}

/* An object key and its ':'. */
static char *jkey(struct jp *j, struct arena *a)
{
	jws(j);
	if (j->p >= j->end || *j->p != '"')
		jfail_expected(j, "a string (an object key)");
	char *key = jstring(j, a);
	jws(j);
	if (j->p >= j->end || *j->p != ':')
		jfail_expected(j, "':' after an object key");
	j->p++;
	return key;
}

/* After a member or element: true if a ',' announces another, false at
 * close (the level is left); anything else fails with what. */
static bool jmore(struct jp *j, char close, const char *what)
{
	jws(j);
	if (j->p < j->end && *j->p == ',') {
		j->p++;
		return true;
	}
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		return false;
	}
	jfail_expected(j, what);
}

static struct jval *jcontainer(struct jp *j, struct arena *a, int obj)
{
	struct jval *v = jnew(a, obj ? J_OBJ : J_ARR);
	struct jval **tail = &v->kids;
	char close = obj ? '}' : ']';
	if (jopen(j, close))
		return v;
	do {
		char *key = obj ? jkey(j, a) : NULL;
		struct jval *m = jvalue(j, a);
		m->key = key;
		*tail = m;
		tail = &m->next;
		v->n++;
	} while (jmore(j, close, obj ? "',' or '}' after an object member" : "',' or ']' after an array element"));
	return v;
}

static struct jval *jvalue(struct jp *j, struct arena *a)
{
	jws(j);
	if (j->p >= j->end)
		jfail(j, j->p, "unexpected end of input (expected a value)");
	struct jval *v;
	switch (*j->p) {
	case '{':
		return jcontainer(j, a, 1);
	case '[':
		return jcontainer(j, a, 0);
	case '"':
		v = jnew(a, J_STR);
		v->s = jstring(j, a);
		return v;
	case 't':
	case 'f':
	case 'n': {
		static const struct { const char *w; enum jtype t; } lits[] = {
			{ "true", J_TRUE }, { "false", J_FALSE }, { "null", J_NULL },
		};
		for (size_t i = 0; i < 3; i++) {
			size_t n = strlen(lits[i].w);
			if ((size_t)(j->end - j->p) >= n && memcmp(j->p, lits[i].w, n) == 0) {
				j->p += n;
				return jnew(a, lits[i].t);
			}
		}
		jfail_expected(j, "a value");
	}
	default:
		if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) {
			v = jnew(a, J_NUM);
			v->num = jnumber(j);
			return v;
		}
		jfail_expected(j, "a value");
	}
}

static struct jval *jget(const struct jval *o, const char *key)
{
	if (!o || o->t != J_OBJ)
		return NULL;
	struct jval *found = NULL;
	for (struct jval *m = o->kids; m; m = m->next)
		if (strcmp(m->key, key) == 0)
			found = m;   /* the last duplicate wins, as in JSON.parse */
	return found;
}

static const char *jstr(const struct jval *v)
{
	return v && v->t == J_STR ? v->s : NULL;
}

static int jnum(const struct jval *v, double *out)
{
	if (!v || v->t != J_NUM || v->num != v->num || v->num > 1e300 || v->num < -1e300)
		return 0;
	*out = v->num;
	return 1;
}

/* An integer id (pid, tid, g): numbers are truncated, numeric strings
 * accepted (some writers quote tids). */
static int jint(const struct jval *v, int64_t *out)
{
	double d;
	if (jnum(v, &d)) {
		if (d > 9e15 || d < -9e15)
			return 0;
		*out = (int64_t)d;
		return 1;
	}
	const char *s = jstr(v);
	if (s && *s) {
		char *end;
		errno = 0;
		long long n = strtoll(s, &end, 10);
		if (!errno && *end == '\0') {
			*out = n;
			return 1;
		}
	}
	return 0;
}

/* ---- the trace model ------------------------------------------------------- */

enum kind { K_G, K_SYSCALL, K_NETPOLL, K_IDLE, K_OTHER, K_NKINDS };
enum ikind { I_READY, I_CREATE, I_PREEMPT, I_PREEMPT_REQ, I_OTHER, I_NKINDS };

#define NOSTR UINT32_MAX
#define MAX_BAND 6

struct slice {
	double t, d;
	int64_t g;
	uint32_t lane, name, args;
	uint8_t kind, depth;
};

struct instant {
	double t;
	int64_t g;
	uint32_t lane, name, args;
	uint8_t kind;
};

struct open_slice {
	double t;
	int64_t g;
	uint32_t name, args;
	uint8_t kind;
};

struct lane {
	int64_t pid, tid;
	uint32_t label;
	double sort;
	VEC(struct open_slice) stack;
	long nslices[K_NKINDS];
	double time[K_NKINDS];
	long ninst[I_NKINDS];
	int maxband;
	int rank;
	double y, h;
};

struct gstat {
	int64_t g;
	uint32_t name;    /* latest slice name */
	long slices, parks, preempts;
	double run, maxrun;
};

struct gwhy {
	uint32_t gi, why;
	long n;
};

struct pname {
	int64_t pid;
	uint32_t name;
};

struct strent {
	size_t off, len;
};

struct trace {
	VEC(struct slice) slices;
	VEC(struct instant) insts;
	VEC(struct lane) lanes;
	VEC(struct gstat) gs;
	VEC(struct gwhy) whys;
	VEC(struct pname) pnames;
	struct sbuf pool;   /* interned strings, each NUL-terminated */
	VEC(struct strent) strs;
	struct ixtab str_ix, lane_ix, g_ix, why_ix;
	double tmin, tmax;
	int have_t;
	struct arena keep, tmp;
	struct jval *other;
	long n_events, n_meta, n_ignored, n_bad, n_unmatched, n_unclosed;
	struct sbuf scratch, scratch2;
};

static uint32_t intern(struct trace *tr, const char *s, size_t len)
{
	uint64_t h = hash_bytes(s, len);
	struct ixiter it = ix_start(&tr->str_ix, h);
	for (uint32_t i; (i = ix_next(&tr->str_ix, &it)) != UINT32_MAX;)
		if (tr->strs.v[i].len == len && memcmp(tr->pool.s + tr->strs.v[i].off, s, len) == 0)
			return i;
	if (tr->strs.n >= UINT32_MAX - 1)
		oom();
	struct strent e = { tr->pool.n, len };
	sb_put(&tr->pool, s, len);
	sb_putc(&tr->pool, '\0');
	VPUSH(tr->strs, e);
	uint32_t id = (uint32_t)(tr->strs.n - 1);
	ix_insert(&tr->str_ix, h, id);
	return id;
}

static uint32_t intern_s(struct trace *tr, const char *s)
{
	return intern(tr, s, strlen(s));
}

/* Valid until the next intern(). */
static const char *str(const struct trace *tr, uint32_t id)
{
	return id == NOSTR ? "" : tr->pool.s + tr->strs.v[id].off;
}

static uint32_t get_lane(struct trace *tr, int64_t pid, int64_t tid)
{
	uint64_t h = hash_u64((uint64_t)pid * 0x9E3779B97F4A7C15ULL ^ (uint64_t)tid);
	struct ixiter it = ix_start(&tr->lane_ix, h);
	for (uint32_t i; (i = ix_next(&tr->lane_ix, &it)) != UINT32_MAX;)
		if (tr->lanes.v[i].pid == pid && tr->lanes.v[i].tid == tid)
			return i;
	struct lane l;
	memset(&l, 0, sizeof l);
	l.pid = pid;
	l.tid = tid;
	l.label = NOSTR;
	VPUSH(tr->lanes, l);
	uint32_t id = (uint32_t)(tr->lanes.n - 1);
	ix_insert(&tr->lane_ix, h, id);
	return id;
}

static uint32_t get_g(struct trace *tr, int64_t g)
{
	uint64_t h = hash_u64((uint64_t)g);
	struct ixiter it = ix_start(&tr->g_ix, h);
	for (uint32_t i; (i = ix_next(&tr->g_ix, &it)) != UINT32_MAX;)
		if (tr->gs.v[i].g == g)
			return i;
	struct gstat s;
	memset(&s, 0, sizeof s);
	s.g = g;
	s.name = NOSTR;
	VPUSH(tr->gs, s);
	uint32_t id = (uint32_t)(tr->gs.n - 1);
	ix_insert(&tr->g_ix, h, id);
	return id;
}

static void count_why(struct trace *tr, uint32_t gi, uint32_t why)
{
	uint64_t h = hash_u64(((uint64_t)gi << 32) | why);
	struct ixiter it = ix_start(&tr->why_ix, h);
	for (uint32_t i; (i = ix_next(&tr->why_ix, &it)) != UINT32_MAX;)
		if (tr->whys.v[i].gi == gi && tr->whys.v[i].why == why) {
			tr->whys.v[i].n++;
			return;
		}
	struct gwhy w = { gi, why, 1 };
	VPUSH(tr->whys, w);
	ix_insert(&tr->why_ix, h, (uint32_t)(tr->whys.n - 1));
}

static void fmt_num(char *buf, size_t cap, double v, int decimals)
{
	snprintf(buf, cap, "%.*f", decimals, v);
	if (decimals > 0) {
		char *e = buf + strlen(buf) - 1;
		while (*e == '0')
			*e-- = '\0';
		if (*e == '.')
			*e = '\0';
	}
	if (strcmp(buf, "-0") == 0)
		strcpy(buf, "0");
}

/* Compact JSON of V into B (args values that are arrays or objects). */
static void json_compact(struct sbuf *b, const struct jval *v, size_t limit)
{
	if (b->n > limit)
		return;
	char num[64];
	switch (v->t) {
	case J_NULL: sb_puts(b, "null"); break;
	case J_TRUE: sb_puts(b, "true"); break;
	case J_FALSE: sb_puts(b, "false"); break;
	case J_NUM:
		snprintf(num, sizeof num, "%.15g", v->num);
		sb_puts(b, num);
		break;
	case J_STR:
		sb_putc(b, '"');
		sb_puts(b, v->s);
		sb_putc(b, '"');
		break;
	case J_ARR:
	case J_OBJ:
		sb_putc(b, v->t == J_ARR ? '[' : '{');
		for (const struct jval *k = v->kids; k; k = k->next) {
			if (k != v->kids)
				sb_putc(b, ',');
			if (v->t == J_OBJ) {
				sb_printf(b, "\"%s\":", k->key);
			}
			json_compact(b, k, limit);
			if (b->n > limit) {
				sb_puts(b, "...");
				return;
			}
		}
		sb_putc(b, v->t == J_ARR ? ']' : '}');
		break;
	}
}

/* "key: value" lines of an args object, appended to B. */
static void args_lines(struct sbuf *b, const struct jval *args)
{
	if (!args || args->t != J_OBJ)
		return;
	for (const struct jval *m = args->kids; m; m = m->next) {
		if (b->n)
			sb_putc(b, '\n');
		sb_printf(b, "%s: ", m->key);
		size_t start = b->n;
		if (m->t == J_STR) {
			sb_puts(b, m->s);
		} else if (m->t == J_NUM) {
			char num[64];
			if (m->num == (double)(int64_t)m->num && m->num < 9e15 && m->num > -9e15)
				snprintf(num, sizeof num, "%lld", (long long)m->num);
			else
				snprintf(num, sizeof num, "%.15g", m->num);
			sb_puts(b, num);
		} else {
			json_compact(b, m, start + 300);
		}
		if (b->n - start > 300) {
			b->n = start + 300;
			sb_puts(b, "...");
		}
	}
}

static uint32_t args_text(struct trace *tr, const struct jval *args)
{
	tr->scratch.n = 0;
	args_lines(&tr->scratch, args);
	if (tr->scratch.n == 0)
		return NOSTR;
	return intern(tr, tr->scratch.s, tr->scratch.n);
}

static enum kind slice_kind(const char *cat)
{
	if (strcmp(cat, "g") == 0)
		return K_G;
	if (strcmp(cat, "syscall") == 0)
		return K_SYSCALL;
	if (strcmp(cat, "netpoll") == 0)
		return K_NETPOLL;
	if (strcmp(cat, "idle") == 0)
		return K_IDLE;
	return K_OTHER;
}

static enum ikind instant_kind(const char *cat)
{
	if (strcmp(cat, "ready") == 0)
		return I_READY;
	if (strcmp(cat, "create") == 0)
		return I_CREATE;
	if (strcmp(cat, "preempt") == 0)
		return I_PREEMPT;
	if (strcmp(cat, "preempt-request") == 0)
		return I_PREEMPT_REQ;
	return I_OTHER;
}

/* The G number: args.g, else "G<n>" as a word of the name; -1 if none. */
static int64_t g_of(const struct jval *args, const char *name)
{
	int64_t g;
	if (jint(jget(args, "g"), &g))
		return g;
	for (const char *p = name; *p; p++) {
		if (*p == 'G' && (p == name || p[-1] == ' ') && p[1] >= '0' && p[1] <= '9') {
			char *end;
			errno = 0;
			long long n = strtoll(p + 1, &end, 10);
			if (!errno && (*end == '\0' || *end == ' '))
				return n;
		}
	}
	return -1;
}

static int band_of(int kind, int depth)
{
	int b = kind == K_SYSCALL && depth < 1 ? 1 : depth;
	return b > MAX_BAND ? MAX_BAND : b;
}

static void close_slice(struct trace *tr, uint32_t li, const struct open_slice *o, double end,
			const struct jval *eargs)
{
	double d = end - o->t;
	if (!(d > 0))
		d = 0;
	uint32_t args = o->args;
	const char *why = jstr(jget(eargs, "why"));
	if (eargs && eargs->t == J_OBJ && eargs->n) {
		tr->scratch2.n = 0;
		if (args != NOSTR)
			sb_puts(&tr->scratch2, str(tr, args));
		args_lines(&tr->scratch2, eargs);
		args = intern(tr, tr->scratch2.s, tr->scratch2.n);
	}
	struct lane *l = &tr->lanes.v[li];
	struct slice s = {
		.t = o->t, .d = d, .g = o->g, .lane = li, .name = o->name, .args = args,
		.kind = o->kind, .depth = (uint8_t)(l->stack.n > 255 ? 255 : l->stack.n),
	};
	l->nslices[o->kind]++;
	l->time[o->kind] += d;
	int band = band_of(s.kind, s.depth);
	if (band > l->maxband)
		l->maxband = band;
	VPUSH(tr->slices, s);
	if (o->kind == K_G) {
		uint32_t gi = get_g(tr, o->g);
		struct gstat *g = &tr->gs.v[gi];
		g->slices++;
		g->run += d;
		if (d > g->maxrun)
			g->maxrun = d;
		g->name = o->name;
		if (why && *why) {
			if (strncmp(why, "park", 4) == 0)
				g->parks++;
			count_why(tr, gi, intern_s(tr, why));
		}
	}
}

static void see_time(struct trace *tr, double t)
{
	if (!tr->have_t) {
		tr->tmin = tr->tmax = t;
		tr->have_t = 1;
	} else {
		if (t < tr->tmin)
			tr->tmin = t;
		if (t > tr->tmax)
			tr->tmax = t;
	}
}

static void take_event(struct trace *tr, const struct jval *v)
{
	if (v->t != J_OBJ) {
		tr->n_bad++;
		return;
	}
	tr->n_events++;
	const char *ph = jstr(jget(v, "ph"));
	if (!ph || !ph[0] || ph[1]) {
		tr->n_bad++;
		return;
	}
	int64_t pid = 0, tid = 0;
	jint(jget(v, "pid"), &pid);
	jint(jget(v, "tid"), &tid);
	const char *name = jstr(jget(v, "name"));
	const char *cat = jstr(jget(v, "cat"));
	const struct jval *args = jget(v, "args");
	if (args && args->t != J_OBJ)
		args = NULL;
	if (!name)
		name = "";
	if (!cat)
		cat = "";

	if (ph[0] == 'M') {
		tr->n_meta++;
		const char *an = jstr(jget(args, "name"));
		double sort;
		if (strcmp(name, "thread_name") == 0 && an) {
			uint32_t li = get_lane(tr, pid, tid);   /* (may move lanes.v) */
			uint32_t label = intern_s(tr, an);
			tr->lanes.v[li].label = label;
		} else if (strcmp(name, "thread_sort_index") == 0 && jnum(jget(args, "sort_index"), &sort)) {
			uint32_t li = get_lane(tr, pid, tid);
			tr->lanes.v[li].sort = sort;
		} else if (strcmp(name, "process_name") == 0 && an) {
			struct pname p = { pid, intern_s(tr, an) };
			VPUSH(tr->pnames, p);
		} else {
			tr->n_ignored++;
		}
		return;
	}
	if (!strchr("BEXiI", ph[0])) {
		tr->n_ignored++;
		return;
	}
	double ts;
	if (!jnum(jget(v, "ts"), &ts)) {
		tr->n_bad++;
		return;
	}
	see_time(tr, ts);
	uint32_t li = get_lane(tr, pid, tid);
	switch (ph[0]) {
	case 'B': {
		struct open_slice o = {
			.t = ts, .g = g_of(args, name), .name = intern_s(tr, name),
			.args = args_text(tr, args), .kind = (uint8_t)slice_kind(cat),
		};
		VPUSH(tr->lanes.v[li].stack, o);
		break;
	}
	case 'E': {
		struct lane *l = &tr->lanes.v[li];
		if (l->stack.n == 0) {
			tr->n_unmatched++;
			break;
		}
		struct open_slice o = l->stack.v[--l->stack.n];
		close_slice(tr, li, &o, ts, args);
		break;
	}
	case 'X': {
		double dur = 0;
		jnum(jget(v, "dur"), &dur);
		if (!(dur > 0))
			dur = 0;
		see_time(tr, ts + dur);
		struct open_slice o = {
			.t = ts, .g = g_of(args, name), .name = intern_s(tr, name),
			.args = NOSTR, .kind = (uint8_t)slice_kind(cat),
		};
		close_slice(tr, li, &o, ts + dur, args);
		break;
	}
	default: {   /* i, I */
		struct instant in = {
			.t = ts, .g = g_of(args, name), .lane = li, .name = intern_s(tr, name),
			.args = args_text(tr, args), .kind = (uint8_t)instant_kind(cat),
		};
		tr->lanes.v[li].ninst[in.kind]++;
		if (in.kind == I_PREEMPT && in.g >= 0) {
			uint32_t gi = get_g(tr, in.g);
			tr->gs.v[gi].preempts++;
		}
		VPUSH(tr->insts, in);
		break;
	}
	}
}

/* At '['; each element is parsed into the scratch arena and dropped. */
static void parse_events(struct jp *j, struct trace *tr)
{
	if (jopen(j, ']'))
		return;
	do {
		struct amark m = amark(&tr->tmp);
		struct jval *v = jvalue(j, &tr->tmp);
		take_event(tr, v);
		areset(&tr->tmp, m);
	} while (jmore(j, ']', "',' or ']' after a trace event"));
}

static void parse_trace(struct jp *j, struct trace *tr)
{
	if (j->end - j->p >= 3 && memcmp(j->p, "\xEF\xBB\xBF", 3) == 0)
		j->p += 3;
	jws(j);
	if (j->p >= j->end)
		jfail(j, j->p, "empty input (expected a trace-event JSON object or array)");
	if (*j->p == '[') {
		parse_events(j, tr);
	} else if (*j->p == '{') {
		int seen = 0;
		if (!jopen(j, '}')) {
			do {
				struct amark m = amark(&tr->tmp);
				char *key = jkey(j, &tr->tmp);
				jws(j);
				if (strcmp(key, "traceEvents") == 0) {
					areset(&tr->tmp, m);
					if (j->p >= j->end || *j->p != '[')
						jfail_expected(j, "'[' (traceEvents is an array)");
					parse_events(j, tr);
					seen = 1;
				} else if (strcmp(key, "otherData") == 0) {
					areset(&tr->tmp, m);
					tr->other = jvalue(j, &tr->keep);
				} else {
					jvalue(j, &tr->tmp);
					areset(&tr->tmp, m);
				}
			} while (jmore(j, '}', "',' or '}' after an object member"));
		}
		if (!seen) {
			jws(j);
			if (j->p < j->end)
				jfail(j, j->p, "unexpected data after the end of the JSON value");
			jfail(j, j->buf, "no \"traceEvents\" array in the top-level object");
		}
	} else {
		jfail_expected(j, "'{' or '[' (a trace-event JSON file)");
	}
	jws(j);
	if (j->p < j->end)
		jfail(j, j->p, "unexpected data after the end of the JSON value");
}

static void error_position(const char *buf, const char *at, long *line, long *col)
{
	*line = 1;
	*col = 1;
	for (const char *p = buf; p < at; p++) {
		if (*p == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)*p & 0xC0) != 0x80) {
			(*col)++;
		}
	}
}

static char *read_all(const char *path, size_t *lenp)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, len = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (len == cap) {
			if (cap > SIZE_MAX / 2)
				oom();
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	int err = ferror(f);
	int e = errno;
	if (f != stdin)
		fclose(f);
	if (err) {
		free(buf);
		errno = e ? e : EIO;
		return NULL;
	}
	*lenp = len;
	return buf;
}

/* ---- HTML output ------------------------------------------------------------ */

#define LABEL_W   180   /* lane label column */
#define AXIS_H    30    /* time axis above the lanes */
#define RIGHT_PAD 12
#define MAIN_Y    6     /* main band of a lane: y offset and height */
#define MAIN_H    16
#define SUB_H     5     /* each nested band below it */
#define SUB_GAP   1
#define LABEL_MIN 36    /* px: narrower G slices get no label */
#define CHAR_W    6     /* px per label character (10px sans-serif, roughly) */
#define TICK_PX   110   /* px between axis ticks, roughly */

#define BUCKETS   128   /* shape groups along the time axis */

struct out {
	FILE *f;
	const struct trace *tr;
	double t0, span;      /* us: view origin (first event) and length */
	double k;             /* px per us at the default view */
	double bucket_w;      /* us covered by one shape group */
	long grp;             /* open group's bucket, or -1 */
	double grp_off;       /* its start, us since t0 */
	int w;                /* px of the time axis */
	double ph;            /* px: height of all lanes */
	struct sbuf labels;   /* the static labels layer */
};

/* Writes S HTML-escaped, as valid UTF-8 (bad bytes become U+FFFD, control
 * characters other than newline and tab a space); at most MAXCP code points
 * (then an ellipsis), or all of it when MAXCP < 0. */
static void esc_to(struct sbuf *sb, FILE *f, const char *s, long maxcp)
{
	long cps = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if (maxcp >= 0 && cps == maxcp) {
			if (sb)
				sb_puts(sb, "\xE2\x80\xA6");
			else
				fputs("\xE2\x80\xA6", f);
			return;
		}
		const char *rep = NULL;
		char one[2] = { 0, 0 };
		size_t n = 1;
		unsigned c = *p;
		if (c == '&')
			rep = "&amp;";
		else if (c == '<')
			rep = "&lt;";
		else if (c == '>')
			rep = "&gt;";
		else if (c == '"')
			rep = "&quot;";
		else if (c == '\'')
			rep = "&#39;";
		else if (c < 0x20 && c != '\n' && c != '\t')
			rep = " ";
		else if (c == 0x7f)
			rep = " ";
		else if (c < 0x80) {
			one[0] = (char)c;
			rep = one;
		} else {
			size_t need = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
			int ok = need != 0;
			for (size_t i = 1; ok && i < need; i++)
				if ((p[i] & 0xC0) != 0x80)
					ok = 0;
			if (ok && need >= 3) {
				unsigned c1 = p[1];
				if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) ||
				    (c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90))
					ok = 0;
			}
			if (ok) {
				if (sb)
					sb_put(sb, (const char *)p, need);
				else
					fwrite(p, 1, need, f);
				p += need;
				cps++;
				continue;
			}
			rep = "\xEF\xBF\xBD";
		}
		if (sb)
			sb_puts(sb, rep);
		else
			fputs(rep, f);
		p += n;
		cps++;
	}
}

static void esc(FILE *f, const char *s)
{
	esc_to(NULL, f, s, -1);
}

static long utf8_len(const char *s)
{
	long n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xC0) != 0x80)
			n++;
	return n;
}

static void fmt_dur(char *buf, size_t cap, double us)
{
	if (us < 1)
		snprintf(buf, cap, "%.0f ns", us * 1000);
	else if (us < 1000)
		snprintf(buf, cap, "%.3g µs", us);
	else if (us < 1e6)
		snprintf(buf, cap, "%.3f ms", us / 1e3);
	else
		snprintf(buf, cap, "%.3f s", us / 1e6);
}

static void fmt_ms(char *buf, size_t cap, double us)
{
	snprintf(buf, cap, "%.3f ms", us / 1e3);
}

/* The colour of G number G: golden-angle hues, three lightness steps. */
static void g_color(char *buf, size_t cap, int64_t g)
{
	uint64_t u = (uint64_t)g;
	unsigned hue = (unsigned)((u * 137508ULL / 1000ULL) % 360ULL);
	unsigned light = 52 + (unsigned)(u % 3) * 8;
	snprintf(buf, cap, "hsl(%u,62%%,%u%%)", hue, light);
}

static void kind_color(char *buf, size_t cap, const struct trace *tr, const struct slice *s)
{
	switch (s->kind) {
	case K_G:
		if (s->g >= 0)
			g_color(buf, cap, s->g);
		else
			snprintf(buf, cap, "hsl(%u,62%%,60%%)",
				 (unsigned)(hash_bytes(str(tr, s->name), strlen(str(tr, s->name))) % 360));
		break;
	case K_SYSCALL: snprintf(buf, cap, "#d9642a"); break;
	case K_NETPOLL: snprintf(buf, cap, "#9a9a9a"); break;
	case K_IDLE:    snprintf(buf, cap, "#dadada"); break;
	default:
		snprintf(buf, cap, "hsl(%u,25%%,62%%)",
			 (unsigned)(hash_bytes(str(tr, s->name), strlen(str(tr, s->name))) % 360));
		break;
	}
}

static const char *const kind_class[K_NKINDS] = { "g", "s", "n", "i", "o" };
static const char *const inst_color[I_NKINDS] = { "#2e7d32", "#1565c0", "#c62828", "#ef6c00", "#6a1b9a" };
static const char *const inst_label[I_NKINDS] = { "ready", "create", "preempt", "preempt-request", "other" };

static double band_y(int band)
{
	return band == 0 ? MAIN_Y : MAIN_Y + MAIN_H + (band - 1) * (SUB_H + SUB_GAP) + SUB_GAP;
}

static double band_h(int band)
{
	return band == 0 ? MAIN_H : SUB_H;
}

static void title_times(FILE *f, double t, double d)
{
	char a[48], b[48];
	fmt_ms(a, sizeof a, t);
	fmt_dur(b, sizeof b, d);
	fprintf(f, "\nstart %s\nduration %s", a, b);
}

/* Opens the shape group for time T (closing the previous one if needed). */
static void group_for(struct out *o, double t)
{
	double rel = t - o->t0;
	long b = rel > 0 ? (long)(rel / o->bucket_w) : 0;
	if (b > BUCKETS)
		b = BUCKETS;
	if (b == o->grp)
		return;
	if (o->grp >= 0)
		fputs("</g>\n", o->f);
	o->grp = b;
	o->grp_off = (double)b * o->bucket_w;
	char off[48], px[48], k[48];
	fmt_num(off, sizeof off, o->grp_off, 6);
	fmt_num(px, sizeof px, o->grp_off * o->k, 3);
	snprintf(k, sizeof k, "%.9g", o->k);
	fprintf(o->f, "<g data-o=\"%s\" transform=\"translate(%s,0) scale(%s,1)\">\n", off, px, k);
}

static void group_close(struct out *o)
{
	if (o->grp >= 0)
		fputs("</g>\n", o->f);
	o->grp = -1;
}

static void put_rect(struct out *o, const char *cls, double t, double d, double y, double h,
		     const char *fill)
{
	char x[48], w[48];
	group_for(o, t);
	fmt_num(x, sizeof x, t - o->t0 - o->grp_off, 3);
	fmt_num(w, sizeof w, d, 3);
	fprintf(o->f, "<rect class=\"%s\" x=\"%s\" y=\"%g\" width=\"%s\" height=\"%g\" fill=\"%s\"><title>",
		cls, x, y, w, h, fill);
}

static void emit_slice(struct out *o, const struct slice *s)
{
	const struct trace *tr = o->tr;
	const struct lane *l = &tr->lanes.v[s->lane];
	int band = band_of(s->kind, s->depth);
	char fill[48];
	kind_color(fill, sizeof fill, tr, s);
	/* Only main-band G slices are "g": the script labels those. */
	put_rect(o, s->kind == K_G && band > 0 ? "g2" : kind_class[s->kind], s->t, s->d,
		 l->y + band_y(band), band_h(band), fill);
	esc(o->f, str(tr, s->name));
	title_times(o->f, s->t, s->d);
	if (s->args != NOSTR) {
		fputc('\n', o->f);
		esc(o->f, str(tr, s->args));
	}
	fputs("</title></rect>\n", o->f);

	/* The default view's label, the same rule as the script's. */
	if (s->kind == K_G && band == 0) {
		double x1 = (s->t - o->t0) * o->k, x2 = (s->t + s->d - o->t0) * o->k;
		if (x2 > o->w)
			x2 = o->w;
		if (x2 - x1 >= LABEL_MIN) {
			long n = (long)((x2 - x1 - 4) / CHAR_W);
			const char *name = str(tr, s->name);
			char xs[48];
			fmt_num(xs, sizeof xs, x1 + 2, 1);
			sb_printf(&o->labels, "<text x=\"%s\" y=\"%g\">", xs, l->y + MAIN_Y + 12);
			esc_to(&o->labels, NULL, name, utf8_len(name) > n ? (n > 2 ? n - 1 : 1) : -1);
			sb_puts(&o->labels, "</text>\n");
		}
	}
}

static void emit_busy(struct out *o, uint32_t lane, int band, double t, double end, long n, double busy)
{
	const struct lane *l = &o->tr->lanes.v[lane];
	char b[48];
	put_rect(o, "b", t, end - t, l->y + band_y(band), band_h(band), "#8c8c8c");
	fprintf(o->f, "busy: %ld slices narrower than a pixel, merged", n);
	title_times(o->f, t, end - t);
	fmt_dur(b, sizeof b, busy);
	fprintf(o->f, "\nin slices %s (%.0f%%)</title></rect>\n", b, end > t ? 100 * busy / (end - t) : 100.0);
}

static void emit_instant(struct out *o, const struct instant *in, long n, double last)
{
	const struct trace *tr = o->tr;
	const struct lane *l = &tr->lanes.v[in->lane];
	char x[48];
	group_for(o, in->t);
	fmt_num(x, sizeof x, in->t - o->t0 - o->grp_off, 3);
	fprintf(o->f, "<line class=\"t\" x1=\"%s\" x2=\"%s\" y1=\"%g\" y2=\"%g\" stroke=\"%s\"><title>",
		x, x, l->y + 0.5, l->y + MAIN_Y + 3, inst_color[in->kind]);
	char a[48], b[48];
	if (n > 1) {
		fmt_ms(a, sizeof a, in->t);
		fmt_ms(b, sizeof b, last);
		fprintf(o->f, "%ld %s events, merged\nfirst at %s\nlast at %s\nfirst: ", n, inst_label[in->kind], a, b);
		esc(o->f, str(tr, in->name));
	} else {
		esc(o->f, str(tr, in->name));
		fmt_ms(a, sizeof a, in->t);
		fprintf(o->f, "\nat %s", a);
		if (in->args != NOSTR) {
			fputc('\n', o->f);
			esc(o->f, str(tr, in->args));
		}
	}
	fputs("</title></line>\n", o->f);
}

static double nice_step(double raw)
{
	if (!(raw > 0))
		return 1;
	double p = 1;
	for (int i = 0; i < 400 && p * 10 <= raw; i++)
		p *= 10;
	for (int i = 0; i < 400 && p > raw; i++)
		p /= 10;
	double m = raw / p;
	return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/* Decimals of tick labels in ms: the step is 1, 2 or 5 times a power of ten. */
static int step_decimals(double stepms)
{
	int d = 0;
	for (double p = 1; d < 9 && stepms < p * 0.999999; p /= 10)
		d++;
	return d;
}

/* Axis ticks and grid lines for the default view (the script redraws them). */
static void emit_axis(struct out *o, double th)
{
	double step = nice_step(o->span / ((double)o->w / TICK_PX));
	int dec = step_decimals(step / 1000);
	double a = o->t0;
	long long first = (long long)(a / step);
	if ((double)first * step < a)
		first++;
	struct sbuf grid = { 0 }, axis = { 0 };
	for (long long i = first; i < first + 100000 && (double)i * step <= a + o->span; i++) {
		double t = (double)i * step;
		double x = LABEL_W + (t - a) * o->k;
		char xs[48];
		fmt_num(xs, sizeof xs, x, 2);
		sb_printf(&grid, "<line class=\"gl\" x1=\"%s\" x2=\"%s\" y1=\"%d\" y2=\"%g\"/>", xs, xs, AXIS_H, th);
		sb_printf(&axis, "<line x1=\"%s\" x2=\"%s\" y1=\"%d\" y2=\"%d\"/>"
			  "<text x=\"%s\" y=\"%d\" text-anchor=\"middle\">%.*f</text>\n",
			  xs, xs, AXIS_H - 5, AXIS_H, xs, AXIS_H - 8, dec, t / 1000);
	}
	fprintf(o->f, "<g id=\"grid\">%s</g>\n<g id=\"axis\">%s</g>\n", grid.s ? grid.s : "", axis.s ? axis.s : "");
	free(grid.s);
	free(axis.s);
}

/* Sort orders. */
static const struct trace *sort_tr;

static int cmp_lane(const void *a, const void *b)
{
	const struct lane *x = &sort_tr->lanes.v[*(const uint32_t *)a];
	const struct lane *y = &sort_tr->lanes.v[*(const uint32_t *)b];
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->sort != y->sort)
		return x->sort < y->sort ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return 0;
}

static int cmp_slice(const void *a, const void *b)
{
	const struct slice *x = &sort_tr->slices.v[*(const uint32_t *)a];
	const struct slice *y = &sort_tr->slices.v[*(const uint32_t *)b];
	int rx = sort_tr->lanes.v[x->lane].rank, ry = sort_tr->lanes.v[y->lane].rank;
	if (rx != ry)
		return rx - ry;
	int bx = band_of(x->kind, x->depth), by = band_of(y->kind, y->depth);
	if (bx != by)
		return bx - by;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

static int cmp_instant(const void *a, const void *b)
{
	const struct instant *x = &sort_tr->insts.v[*(const uint32_t *)a];
	const struct instant *y = &sort_tr->insts.v[*(const uint32_t *)b];
	int rx = sort_tr->lanes.v[x->lane].rank, ry = sort_tr->lanes.v[y->lane].rank;
	if (rx != ry)
		return rx - ry;
	if (x->kind != y->kind)
		return x->kind - y->kind;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

static int cmp_gnum(const void *a, const void *b)
{
	int64_t x = sort_tr->gs.v[*(const uint32_t *)a].g, y = sort_tr->gs.v[*(const uint32_t *)b].g;
	return x < y ? -1 : x > y;
}

static const struct trace *why_tr;

static int cmp_why(const void *a, const void *b)
{
	const struct gwhy *x = a, *y = b;
	if (x->gi != y->gi)
		return x->gi < y->gi ? -1 : 1;
	int px = strncmp(str(why_tr, x->why), "park", 4) == 0;
	int py = strncmp(str(why_tr, y->why), "park", 4) == 0;
	if (px != py)
		return py - px;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(str(why_tr, x->why), str(why_tr, y->why));
}

static void lane_label(const struct trace *tr, const struct lane *l, int multipid, char *buf, size_t cap)
{
	if (l->label != NOSTR)
		snprintf(buf, cap, "%s", str(tr, l->label));
	else if (multipid)
		snprintf(buf, cap, "pid %lld tid %lld", (long long)l->pid, (long long)l->tid);
	else
		snprintf(buf, cap, "tid %lld", (long long)l->tid);
}

static const char page_css[] =
	"body{font:14px/1.4 sans-serif;margin:16px;color:#222;background:#fff}\n"
	"h1{font-size:18px;margin:0 0 6px}h2{font-size:16px;margin:22px 0 6px}\n"
	".info{margin:2px 0;color:#444}.warn{color:#a33;margin:2px 0}\n"
	".wrap{overflow-x:auto;border:1px solid #ccc;margin-top:8px}\n"
	"#tv{display:block;font:10px sans-serif;user-select:none}\n"
	"#tv .gl{stroke:#e4e4e4;stroke-width:1}#axis line{stroke:#666}\n"
	"#tv .bg0{fill:#fafafa}#tv .bg1{fill:#f0f0f0}#tv .sep{stroke:#ddd}\n"
	"#tv .ln{font-size:11px;fill:#222}#lbl text{fill:#111}\n"
	"#plot rect:hover{stroke:#000;stroke-width:1px;vector-effect:non-scaling-stroke}\n"
	"#plot line.t{stroke-width:2px;vector-effect:non-scaling-stroke}\n"
	"#ctl{margin:8px 0 0}#ctl button{min-width:30px;margin-right:4px}#ctl span{color:#666;margin-left:8px}\n"
	".legend{margin:8px 0;display:flex;flex-wrap:wrap;gap:6px 18px}\n"
	".sw{display:inline-block;width:22px;height:11px;vertical-align:middle;margin-right:5px;border:1px solid #0003}\n"
	".sw.thin{height:4px}.sw.tick{width:3px;height:12px;border:0}\n"
	"table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ccc;padding:2px 8px;text-align:right}\n"
	"th{background:#f0f0f0}td.l,th.l{text-align:left}\n";

/* Zoom (wheel, buttons) and pan (drag) by rewriting the transforms of the
 * shape groups in #plot; the axis, grid and labels are redrawn in pixel
 * space with the same rules as the C code that drew the default view. */
static const char page_js[] =
	"(function(){'use strict';\n"
	"var C=window.TV,svg=document.getElementById('tv'),plot=document.getElementById('plot'),\n"
	"lbl=document.getElementById('lbl'),axis=document.getElementById('axis'),grid=document.getElementById('grid');\n"
	"if(!C||!svg||!plot)return;var NS=svg.namespaceURI,v0=0,vw=C.span,queued=false,R=[],G=[];\n"
	"var gs=plot.getElementsByTagName('g');for(var i=0;i<gs.length;i++)G.push([gs[i],+gs[i].getAttribute('data-o')]);\n"
	"var rs=plot.getElementsByClassName('g');\n"
	"for(var i=0;i<rs.length;i++){var r=rs[i],tt=r.getElementsByTagName('title')[0],o=+r.parentNode.getAttribute('data-o')||0;\n"
	" R.push([o+ +r.getAttribute('x'),+r.getAttribute('width'),+r.getAttribute('y'),tt?tt.textContent.split('\\n')[0]:'']);}\n"
	"function nice(raw){var p=Math.pow(10,Math.floor(Math.log(raw)/Math.LN10)),m=raw/p;return (m<=1?1:m<=2?2:m<=5?5:10)*p;}\n"
	"function decs(s){var d=0;for(var p=1;d<9&&s<p*0.999999;p/=10)d++;return d;}\n"
	"function el(n,a,t){var e=document.createElementNS(NS,n);for(var k in a)e.setAttribute(k,a[k]);if(t!=null)e.textContent=t;return e;}\n"
	"function fx(v,d){return String(+v.toFixed(d));}\n"
	"function clear(g){while(g.firstChild)g.removeChild(g.firstChild);}\n"
	"function draw(){queued=false;var k=C.w/vw;\n"
	" for(var g=0;g<G.length;g++)G[g][0].setAttribute('transform','translate('+fx((G[g][1]-v0)*k,3)+',0) scale('+(+k.toPrecision(9))+',1)');\n"
	" clear(axis);clear(grid);var step=nice(vw/(C.w/C.tick)),d=decs(step/1000),a=C.t0+v0;\n"
	" for(var i=Math.ceil(a/step);i*step<=a+vw;i++){var t=i*step,x=fx(C.lx+(t-a)*k,2);\n"
	"  grid.appendChild(el('line',{'class':'gl',x1:x,x2:x,y1:C.ay,y2:C.th}));\n"
	"  axis.appendChild(el('line',{x1:x,x2:x,y1:C.ay-5,y2:C.ay}));\n"
	"  axis.appendChild(el('text',{x:x,y:C.ay-8,'text-anchor':'middle'},(t/1000).toFixed(d)));}\n"
	" clear(lbl);for(var j=0;j<R.length;j++){var q=R[j],x1=(q[0]-v0)*k,x2=(q[0]+q[1]-v0)*k;\n"
	"  if(x2<=0||x1>=C.w)continue;if(x1<0)x1=0;if(x2>C.w)x2=C.w;if(x2-x1<C.lmin)continue;\n"
	"  var n=Math.floor((x2-x1-4)/C.cw),s=q[3];if(s.length>n)s=s.slice(0,n>2?n-1:1)+'\\u2026';\n"
	"  lbl.appendChild(el('text',{x:fx(x1+2,1),y:q[2]+12},s));}}\n"
	"function later(){if(!queued){queued=true;(window.requestAnimationFrame||setTimeout)(draw);}}\n"
	"function clamp(){var m=Math.min(C.span,0.01);if(vw<m)vw=m;if(vw>C.span)vw=C.span;if(v0<0)v0=0;if(v0+vw>C.span)v0=C.span-vw;}\n"
	"function scale(){var r=svg.getBoundingClientRect();return r.width?svg.width.baseVal.value/r.width:1;}\n"
	"function zoom(f,px){var t=v0+px/C.w*vw;vw*=f;clamp();v0=t-px/C.w*vw;clamp();later();}\n"
	"function pan(px){v0+=px/C.w*vw;clamp();later();}\n"
	"svg.addEventListener('wheel',function(e){var r=svg.getBoundingClientRect(),px=(e.clientX-r.left)*scale()-C.lx;\n"
	" if(px<0||px>C.w)return;e.preventDefault();var u=e.deltaMode===1?16:e.deltaMode===2?400:1,dy=e.deltaY*u,dx=e.deltaX*u;\n"
	" if(e.shiftKey||Math.abs(dx)>Math.abs(dy))pan(dx||dy);else zoom(Math.pow(1.002,dy),px);},{passive:false});\n"
	"var drag=null;svg.addEventListener('mousedown',function(e){if(e.button!==0)return;drag={x:e.clientX,v:v0};e.preventDefault();});\n"
	"window.addEventListener('mousemove',function(e){if(!drag)return;v0=drag.v-(e.clientX-drag.x)*scale()/C.w*vw;clamp();later();});\n"
	"window.addEventListener('mouseup',function(){drag=null;});\n"
	"svg.addEventListener('dblclick',function(){v0=0;vw=C.span;later();});\n"
	"function btn(id,f){var b=document.getElementById(id);if(b)b.addEventListener('click',f);}\n"
	"btn('zin',function(){zoom(0.5,C.w/2);});btn('zout',function(){zoom(2,C.w/2);});\n"
	"btn('left',function(){pan(-C.w/4);});btn('right',function(){pan(C.w/4);});btn('reset',function(){v0=0;vw=C.span;later();});\n"
	"document.getElementById('ctl').hidden=false;})();\n";

static void emit_legend(FILE *f)
{
	fputs("<div class=\"legend\">\n", f);
	fputs("<span><span class=\"sw\" style=\"background:linear-gradient(90deg", f);
	for (int g = 1; g <= 6; g++) {
		char c[48];
		g_color(c, sizeof c, g);
		fprintf(f, ",%s %d%%,%s %d%%", c, (g - 1) * 100 / 6, c, g * 100 / 6);
	}
	fputs(")\"></span>thread running (G slice; one colour per G number)</span>\n", f);
	fputs("<span><span class=\"sw thin\" style=\"background:#d9642a\"></span>system call (band under the G)</span>\n", f);
	fputs("<span><span class=\"sw\" style=\"background:#9a9a9a\"></span>netpoll</span>\n", f);
	fputs("<span><span class=\"sw\" style=\"background:#dadada\"></span>idle</span>\n", f);
	fputs("<span><span class=\"sw\" style=\"background:#8c8c8c\"></span>busy: slices narrower than a pixel, merged</span>\n", f);
	for (int k = 0; k < I_NKINDS; k++)
		fprintf(f, "<span><span class=\"sw tick\" style=\"background:%s\"></span>%s</span>\n",
			inst_color[k], inst_label[k]);
	fputs("</div>\n", f);
}


/* "G5 worker-1" -> "worker-1"; "G5" -> "". */
static const char *g_name_part(const char *n)
{
	if (n[0] != 'G')
		return n;
	const char *p = n + 1;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p == n + 1 || (*p != ' ' && *p != '\0'))
		return n;
	return *p ? p + 1 : p;
}

static void emit_g_table(FILE *f, struct trace *tr)
{
	char a[48], b[48], c[48];
	size_t ng = tr->gs.n;
	fputs("<h2>Threads (G)</h2>\n", f);
	if (ng == 0) {
		fputs("<p class=\"info\">No G slices in this trace.</p>\n", f);
		return;
	}
	/* whys grouped by G (index into gs), parks first, most frequent first. */
	why_tr = tr;
	if (tr->whys.n > 1)
		qsort(tr->whys.v, tr->whys.n, sizeof *tr->whys.v, cmp_why);
	size_t *first = xmalloc((ng + 1) * sizeof *first);
	for (size_t i = 0; i <= ng; i++)
		first[i] = SIZE_MAX;
	for (size_t k = tr->whys.n; k-- > 0;)
		first[tr->whys.v[k].gi] = k;
	uint32_t *ord = xmalloc(ng * sizeof *ord);
	for (size_t i = 0; i < ng; i++)
		ord[i] = (uint32_t)i;
	sort_tr = tr;
	qsort(ord, ng, sizeof *ord, cmp_gnum);
	fputs("<table>\n<tr><th>G</th><th class=\"l\">name</th><th>slices</th><th>run time</th>"
	      "<th>mean slice</th><th>longest</th><th>parks</th><th class=\"l\">parks by reason</th>"
	      "<th class=\"l\">other slice ends</th><th>preempt events</th></tr>\n", f);
	for (size_t i = 0; i < ng; i++) {
		uint32_t gi = ord[i];
		const struct gstat *g = &tr->gs.v[gi];
		if (g->g >= 0)
			fprintf(f, "<tr><td>%lld</td><td class=\"l\">", (long long)g->g);
		else
			fputs("<tr><td>?</td><td class=\"l\">", f);
		if (g->name != NOSTR)
			esc(f, g_name_part(str(tr, g->name)));
		fmt_dur(a, sizeof a, g->run);
		fmt_dur(b, sizeof b, g->slices ? g->run / (double)g->slices : 0);
		fmt_dur(c, sizeof c, g->maxrun);
		fprintf(f, "</td><td>%ld</td><td>%s</td><td>%s</td><td>%s</td><td>%ld</td>",
			g->slices, a, b, c, g->parks);
		for (int park = 1; park >= 0; park--) {
			fputs("<td class=\"l\">", f);
			int n = 0;
			for (size_t k = first[gi]; k < tr->whys.n && tr->whys.v[k].gi == gi; k++) {
				const char *why = str(tr, tr->whys.v[k].why);
				int is_park = strncmp(why, "park", 4) == 0;
				if (is_park != park)
					continue;
				if (park) {
					why += 4;
					if (*why == ':')
						why++;
					while (*why == ' ')
						why++;
					if (!*why)
						why = "(no reason)";
				}
				fputs(n++ ? ", " : "", f);
				esc(f, why);
				fprintf(f, "&#160;×%ld", tr->whys.v[k].n);
			}
			fputs("</td>", f);
		}
		fprintf(f, "<td>%ld</td></tr>\n", g->preempts);
	}
	fputs("</table>\n", f);
	free(ord);
	free(first);
}

static void emit_lane_table(FILE *f, const struct trace *tr, const uint32_t *order, int multipid, double span)
{
	char a[48], b[48], c[48], d[48], lab[256];
	fputs("<h2>Lanes (OS threads)</h2>\n", f);
	if (tr->lanes.n == 0) {
		fputs("<p class=\"info\">No lanes.</p>\n", f);
		return;
	}
	fputs("<table>\n<tr><th class=\"l\">lane</th><th>tid</th><th>G slices</th><th>run time</th><th>busy</th>"
	      "<th>system calls</th><th>in system calls</th><th>netpoll</th><th>idle</th>", f);
	for (int k = 0; k < I_NKINDS; k++)
		fprintf(f, "<th>%s</th>", inst_label[k]);
	fputs("</tr>\n", f);
	for (size_t r = 0; r < tr->lanes.n; r++) {
		const struct lane *l = &tr->lanes.v[order[r]];
		lane_label(tr, l, multipid, lab, sizeof lab);
		fmt_dur(a, sizeof a, l->time[K_G]);
		fmt_dur(b, sizeof b, l->time[K_SYSCALL]);
		fmt_dur(c, sizeof c, l->time[K_NETPOLL]);
		fmt_dur(d, sizeof d, l->time[K_IDLE]);
		fputs("<tr><td class=\"l\">", f);
		esc(f, lab);
		fprintf(f, "</td><td>%lld</td><td>%ld</td><td>%s</td><td>%.1f%%</td><td>%ld</td><td>%s</td>"
			"<td>%s</td><td>%s</td>",
			(long long)l->tid, l->nslices[K_G], a, span > 0 ? 100 * l->time[K_G] / span : 0.0,
			l->nslices[K_SYSCALL], b, c, d);
		for (int k = 0; k < I_NKINDS; k++)
			fprintf(f, "<td>%ld</td>", l->ninst[k]);
		fputs("</tr>\n", f);
	}
	fputs("</table>\n", f);
	fputs("<p class=\"info\">busy: time in G slices over the whole trace span.</p>\n", f);
}

/* One line of otherData, "key: value" pairs. */
static void emit_other(FILE *f, struct trace *tr)
{
	if (!tr->other || tr->other->t != J_OBJ || !tr->other->kids)
		return;
	fputs("<p class=\"info\">", f);
	for (const struct jval *m = tr->other->kids; m; m = m->next) {
		tr->scratch.n = 0;
		if (m->t == J_STR) {
			sb_puts(&tr->scratch, m->s);
		} else {
			json_compact(&tr->scratch, m, 300);
		}
		if (m != tr->other->kids)
			fputs(" &#183; ", f);
		esc(f, m->key);
		fputs(": <b>", f);
		esc(f, tr->scratch.s ? tr->scratch.s : "");
		fputs("</b>", f);
	}
	fputs("</p>\n", f);
	double dropped;
	if (jnum(jget(tr->other, "dropped"), &dropped) && dropped > 0)
		fprintf(f, "<p class=\"warn\">%.0f events were dropped (trace buffer full): raise GMP_TRACE_BUF "
			"(gmprun --trace-buf); the picture has gaps.</p>\n", dropped);
}

struct pending {
	int on;
	uint32_t lane, first;
	int band;
	double t, end, busy;
	long n;
};

static void flush_pending(struct out *o, struct pending *p, long *merged_in, long *merged_out)
{
	if (!p->on)
		return;
	if (p->n == 1) {
		emit_slice(o, &o->tr->slices.v[p->first]);
	} else {
		emit_busy(o, p->lane, p->band, p->t, p->end, p->n, p->busy);
		*merged_in += p->n;
		(*merged_out)++;
	}
	p->on = 0;
}

static int write_page(FILE *f, const char *shown, struct trace *tr, const struct traceview_opts *opts)
{
	struct out o = { .f = f, .tr = tr, .w = opts->width > 0 ? opts->width : TRACEVIEW_DEFAULT_WIDTH };
	size_t nl = tr->lanes.n;
	int multipid = 0;
	for (size_t i = 1; i < nl; i++)
		if (tr->lanes.v[i].pid != tr->lanes.v[0].pid)
			multipid = 1;

	/* Lanes: order, heights. */
	uint32_t *order = xmalloc((nl ? nl : 1) * sizeof *order);
	for (size_t i = 0; i < nl; i++)
		order[i] = (uint32_t)i;
	sort_tr = tr;
	qsort(order, nl, sizeof *order, cmp_lane);
	double acc = 0;
	for (size_t r = 0; r < nl; r++) {
		struct lane *l = &tr->lanes.v[order[r]];
		l->rank = (int)r;
		l->y = acc;
		l->h = MAIN_Y + MAIN_H + l->maxband * (SUB_H + SUB_GAP) + 4;
		acc += l->h;
	}
	o.ph = acc > 0 ? acc : 24;
	o.t0 = tr->have_t ? tr->tmin : 0;
	double realspan = tr->have_t ? tr->tmax - tr->tmin : 0;
	o.span = realspan > 0 ? realspan : 1;
	o.k = o.w / o.span;
	o.bucket_w = o.span / BUCKETS;
	o.grp = -1;
	int tw = LABEL_W + o.w + RIGHT_PAD;
	double th = AXIS_H + o.ph + 4;
	size_t nshapes = tr->slices.n + tr->insts.n;
	int merge = opts->max_slices > 0 && nshapes > (size_t)opts->max_slices;

	char a[48], b[48], c[48];
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"generator\" content=\"gmprun view\">\n<title>", f);
	esc(f, shown);
	fprintf(f, " - gmprun trace</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>Trace ", page_css);
	esc(f, shown);
	fputs("</h1>\n", f);
	for (size_t i = 0; i < tr->pnames.n; i++) {
		fprintf(f, "<p class=\"info\">process %lld: <b>", (long long)tr->pnames.v[i].pid);
		esc(f, str(tr, tr->pnames.v[i].name));
		fputs("</b></p>\n", f);
	}
	emit_other(f, tr);
	fmt_ms(a, sizeof a, o.t0);
	fmt_ms(b, sizeof b, o.t0 + realspan);
	fmt_dur(c, sizeof c, realspan);
	fprintf(f, "<p class=\"info\">from %s to %s (%s) &#183; %zu lanes &#183; %zu slices &#183; "
		"%zu instants &#183; %ld events read</p>\n",
		a, b, c, nl, tr->slices.n, tr->insts.n, tr->n_events);
	if (tr->n_unmatched)
		fprintf(f, "<p class=\"warn\">%ld end events (E) had no open slice on their lane and were "
			"ignored.</p>\n", tr->n_unmatched);
	if (tr->n_unclosed)
		fprintf(f, "<p class=\"warn\">%ld slices were still open at the end of the trace; they end at "
			"its last timestamp.</p>\n", tr->n_unclosed);
	if (tr->n_bad)
		fprintf(f, "<p class=\"warn\">%ld events were ignored: not an object, no ph, or no numeric ts."
			"</p>\n", tr->n_bad);
	if (tr->n_ignored)
		fprintf(f, "<p class=\"info\">%ld events of kinds this view does not draw were skipped.</p>\n",
			tr->n_ignored);

	fputs("<div id=\"ctl\" hidden><button id=\"zin\" title=\"zoom in\">+</button>"
	      "<button id=\"zout\" title=\"zoom out\">&#8722;</button>"
	      "<button id=\"left\" title=\"pan left\">&#8592;</button>"
	      "<button id=\"right\" title=\"pan right\">&#8594;</button>"
	      "<button id=\"reset\" title=\"whole trace\">reset</button>"
	      "<span>mouse wheel over the lanes: zoom; shift+wheel or drag: pan; double-click: whole trace"
	      "</span></div>\n", f);
	fprintf(f, "<div class=\"wrap\"><svg id=\"tv\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		"height=\"%g\" viewBox=\"0 0 %d %g\">\n", tw, th, tw, th);

	/* Lane backgrounds and labels. */
	fputs("<g id=\"lanes\">\n", f);
	for (size_t r = 0; r < nl; r++) {
		const struct lane *l = &tr->lanes.v[order[r]];
		char lab[256];
		lane_label(tr, l, multipid, lab, sizeof lab);
		fprintf(f, "<rect class=\"bg%d\" x=\"0\" y=\"%g\" width=\"%d\" height=\"%g\"/>"
			"<text class=\"ln\" x=\"4\" y=\"%g\">", (int)(r % 2), AXIS_H + l->y, tw, l->h,
			AXIS_H + l->y + MAIN_Y + 12);
		esc_to(NULL, f, lab, utf8_len(lab) > 27 ? 26 : -1);
		fmt_dur(a, sizeof a, l->time[K_G]);
		fprintf(f, "<title>");
		esc(f, lab);
		fprintf(f, "\ntid %lld, pid %lld\nG slices %ld, run %s (%.1f%%)</title></text>\n",
			(long long)l->tid, (long long)l->pid, l->nslices[K_G], a,
			realspan > 0 ? 100 * l->time[K_G] / realspan : 0.0);
	}
	if (nl == 0)
		fprintf(f, "<text x=\"%d\" y=\"%d\">(no events)</text>\n", LABEL_W + 8, AXIS_H + 16);
	fputs("</g>\n", f);
	emit_axis(&o, th);
	fprintf(f, "<text x=\"4\" y=\"%d\">time (ms)</text>\n", AXIS_H - 8);

	/* The lanes' contents, in microseconds since the first event. */
	fprintf(f, "<svg id=\"plot\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%g\">\n",
		LABEL_W, AXIS_H, o.w, o.ph);
	size_t ns = tr->slices.n;
	uint32_t *ord = xmalloc((ns ? ns : 1) * sizeof *ord);
	for (size_t i = 0; i < ns; i++)
		ord[i] = (uint32_t)i;
	qsort(ord, ns, sizeof *ord, cmp_slice);
	double px_us = 1 / o.k;
	struct pending pend = { 0 };
	long merged_in = 0, merged_out = 0;
	for (size_t i = 0; i < ns; i++) {
		const struct slice *s = &tr->slices.v[ord[i]];
		int band = band_of(s->kind, s->depth);
		if (merge && s->d < px_us) {
			if (pend.on && pend.lane == s->lane && pend.band == band && s->t <= pend.end + px_us) {
				if (s->t + s->d > pend.end)
					pend.end = s->t + s->d;
				pend.busy += s->d;
				pend.n++;
				continue;
			}
			flush_pending(&o, &pend, &merged_in, &merged_out);
			pend = (struct pending){ 1, s->lane, ord[i], band, s->t, s->t + s->d, s->d, 1 };
			continue;
		}
		flush_pending(&o, &pend, &merged_in, &merged_out);
		emit_slice(&o, s);
	}
	flush_pending(&o, &pend, &merged_in, &merged_out);
	group_close(&o);
	free(ord);

	size_t ni = tr->insts.n;
	long imerged_in = 0, imerged_out = 0;
	ord = xmalloc((ni ? ni : 1) * sizeof *ord);
	for (size_t i = 0; i < ni; i++)
		ord[i] = (uint32_t)i;
	qsort(ord, ni, sizeof *ord, cmp_instant);
	for (size_t i = 0; i < ni;) {
		const struct instant *in = &tr->insts.v[ord[i]];
		size_t j = i + 1;
		double last = in->t;
		if (merge) {
			while (j < ni) {
				const struct instant *nx = &tr->insts.v[ord[j]];
				if (nx->lane != in->lane || nx->kind != in->kind || nx->t > last + px_us)
					break;
				last = nx->t;
				j++;
			}
		}
		emit_instant(&o, in, (long)(j - i), last);
		if (j - i > 1) {
			imerged_in += (long)(j - i);
			imerged_out++;
		}
		i = j;
	}
	group_close(&o);
	free(ord);
	fputs("</svg>\n", f);
	fprintf(f, "<svg id=\"lbl\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%g\" pointer-events=\"none\">\n%s</svg>\n",
		LABEL_W, AXIS_H, o.w, o.ph, o.labels.s ? o.labels.s : "");
	fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"0\" y2=\"%g\" stroke=\"#bbb\"/>\n", LABEL_W, LABEL_W, th);
	fputs("</svg></div>\n", f);
	if (merge)
		fprintf(f, "<p class=\"info\">%zu shapes is more than %ld: %ld slices narrower than a pixel were "
			"merged into %ld grey busy rectangles, %ld instants closer than a pixel into %ld ticks "
			"(zooming does not split them; gmprun view --max-slices 0 draws everything).</p>\n",
			nshapes, opts->max_slices, merged_in, merged_out, imerged_in, imerged_out);
	emit_legend(f);
	emit_g_table(f, tr);
	emit_lane_table(f, tr, order, multipid, realspan);

	fprintf(f, "<script>\nwindow.TV={t0:%.17g,span:%.17g,w:%d,lx:%d,ay:%d,ph:%g,th:%g,tick:%d,lmin:%d,cw:%d};\n",
		o.t0, o.span, o.w, LABEL_W, AXIS_H, o.ph, th, TICK_PX, LABEL_MIN, CHAR_W);
	fputs(page_js, f);
	fputs("</script>\n</body>\n</html>\n", f);
	free(order);
	free(o.labels.s);
	return 0;
}

static void trace_free(struct trace *tr)
{
	for (size_t i = 0; i < tr->lanes.n; i++)
		free(tr->lanes.v[i].stack.v);
	free(tr->slices.v);
	free(tr->insts.v);
	free(tr->lanes.v);
	free(tr->gs.v);
	free(tr->whys.v);
	free(tr->pnames.v);
	free(tr->pool.s);
	free(tr->strs.v);
	free(tr->str_ix.s);
	free(tr->lane_ix.s);
	free(tr->g_ix.s);
	free(tr->why_ix.s);
	afree(&tr->keep);
	afree(&tr->tmp);
	free(tr->scratch.s);
	free(tr->scratch2.s);
	free(tr);
}

/* The only setjmp: a JSON error longjmps back here. */
__attribute__((noinline))
static int parse_guarded(struct jp *j, struct trace *tr)
{
	if (setjmp(j->jb))
		return -1;
	parse_trace(j, tr);
	return 0;
}

int traceview_convert(const char *in, const char *out, const struct traceview_opts *opts)
{
	const char *shown = strcmp(in, "-") == 0 ? "<stdin>" : in;
	size_t len = 0;
	char *buf = read_all(in, &len);
	if (!buf) {
		fprintf(stderr, "gmprun: view: cannot read %s: %s\n", shown, strerror(errno));
		return 1;
	}
	struct trace *tr = xmalloc(sizeof *tr);
	memset(tr, 0, sizeof *tr);
	struct jp *j = xmalloc(sizeof *j);
	memset(j, 0, sizeof *j);
	j->buf = j->p = buf;
	j->end = buf + len;
	if (parse_guarded(j, tr) != 0) {
		long line, col;
		error_position(buf, j->errpos, &line, &col);
		fprintf(stderr, "gmprun: %s:%ld:%ld: %s\n", shown, line, col, j->msg);
		free(j->tmp.s);
		free(j);
		free(buf);
		trace_free(tr);
		return 1;
	}
	free(j->tmp.s);
	free(j);
	free(buf);

	/* Close what is still open at the last timestamp. */
	for (uint32_t li = 0; li < tr->lanes.n; li++) {
		while (tr->lanes.v[li].stack.n) {
			struct lane *l = &tr->lanes.v[li];
			struct open_slice o = l->stack.v[--l->stack.n];
			close_slice(tr, li, &o, tr->tmax, NULL);
			tr->n_unclosed++;
		}
	}

	FILE *f = strcmp(out, "-") == 0 ? stdout : fopen(out, "w");
	if (!f) {
		fprintf(stderr, "gmprun: view: cannot write %s: %s\n", out, strerror(errno));
		trace_free(tr);
		return 1;
	}
	static char obuf[1 << 16];
	setvbuf(f, obuf, _IOFBF, sizeof obuf);
	write_page(f, shown, tr, opts);
	int bad = ferror(f);
	int e = errno;
	if (f == stdout) {
		if (fflush(f) != 0)
			bad = 1, e = errno;
	} else if (fclose(f) != 0) {
		bad = 1, e = errno;
	}
	trace_free(tr);
	if (bad) {
		fprintf(stderr, "gmprun: view: writing %s: %s\n", out, strerror(e ? e : EIO));
		return 1;
	}
	return 0;
}
