/*
 * trace_json: the GMP_TRACE file (issue 7).
 *
 * The parent runs this program again as a child ("work") with
 * GMP_TRACE=<tmp file>.json.  The child runs a short workload (~100 ms):
 * 8 threads named pingpong-0..7 in 4 pairs passing a turn back and forth
 * under a mutex and condvar, with 1 ms sleeps, and a pipe that main writes
 * 20 bytes into (1 ms apart) while a reader thread reads them; then it
 * exits normally (status 0), which writes the trace.
 *
 * Under the shim the parent parses the file with the strict JSON parser
 * below (objects without duplicate names, arrays, strings with escapes,
 * numbers, literals; nothing after the value; an error names its
 * offset), then checks
 * (notes/issue7-spec.md):
 *   - the top level is an object with "traceEvents" (array) and
 *     "otherData" (object, "pid" = the child's pid)
 *   - every event is an object with "ph", "name", "pid" (the child's),
 *     "tid", and, unless ph is "M", a number "ts" >= 0
 *   - per tid: ts never decreases (in file order); B/E slices nest: an E
 *     closes the innermost open B with the same name and cat, and none is
 *     left open at the end; an E of cat "g" has args.why
 *   - there are B events of cat "g" (named G<n>..., at least one of them
 *     "G<n> pingpong-<i>"), instants of cat "ready", at least 9 of cat
 *     "create" (the child creates 9 threads), and a "thread_name" metadata
 *     event with args.name
 * Natively nothing writes the file: the parent checks it does not exist.
 */
#include "child.h"

/* ---- the child: a short workload ---- */

#define PAIRS 4
#define ROUNDS 400
#define PIPE_BYTES 20

struct pair {
	pthread_mutex_t m;
	pthread_cond_t c;
	int turn;
};
static struct pair pairs[PAIRS];
static int work_pipe[2];

static void *pingpong(void *arg)
{
	int i = (int)(intptr_t)arg, role = i % 2;
	struct pair *p = &pairs[i / 2];
	char name[16];
	snprintf(name, sizeof name, "pingpong-%d", i);
	CHECK_RC(pthread_setname_np(pthread_self(), name), 0);
	for (int r = 0; r < ROUNDS; r++) {
		CHECK_RC(pthread_mutex_lock(&p->m), 0);
		while (p->turn != role)
			CHECK_RC(pthread_cond_wait(&p->c, &p->m), 0);
		p->turn = 1 - role;
		CHECK_RC(pthread_cond_signal(&p->c), 0);
		CHECK_RC(pthread_mutex_unlock(&p->m), 0);
		if (r % 5 == 0)
			sleep_ms(1);
	}
	return NULL;
}

static void *pipe_reader(void *arg)
{
	(void)arg;
	for (int i = 0; i < PIPE_BYTES; i++) {
		char c = 0;
		ssize_t n;
		while ((n = read(work_pipe[0], &c, 1)) < 0 && errno == EINTR)
			;
		CHECK(n == 1 && c == 'a' + i, "pipe byte %d: read returned %zd, byte %#x", i, n, c);
	}
	return NULL;
}

static int child(void)
{
	for (int i = 0; i < PAIRS; i++) {
		CHECK_RC(pthread_mutex_init(&pairs[i].m, NULL), 0);
		CHECK_RC(pthread_cond_init(&pairs[i].c, NULL), 0);
	}
	CHECK_OK(pipe(work_pipe));
	pthread_t t[2 * PAIRS], r;
	for (int i = 0; i < 2 * PAIRS; i++)
		t[i] = spawn(pingpong, (void *)(intptr_t)i);
	r = spawn(pipe_reader, NULL);
	for (int i = 0; i < PIPE_BYTES; i++) {
		char c = (char)('a' + i);
		CHECK(write(work_pipe[1], &c, 1) == 1, "write to the pipe: %s", strerror(errno));
		sleep_ms(1);
	}
	for (int i = 0; i < 2 * PAIRS; i++)
		join(t[i]);
	join(r);
	return 0;
}

/* ---- a strict JSON parser ---- */

enum jtype { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype t;
	double num;
	char *str;        /* J_STR (UTF-8, NUL-terminated; no embedded NUL checks needed here) */
	size_t n;         /* J_ARR / J_OBJ: number of items */
	struct jv *items; /* J_ARR / J_OBJ */
	char **keys;      /* J_OBJ */
};

struct jparser {
	const char *s;
	size_t len, pos;
	char err[256];
};

static int jfail(struct jparser *p, const char *what)
{
	if (!p->err[0])
		snprintf(p->err, sizeof p->err, "%s at offset %zu", what, p->pos);
	return 0;
}

static void jws(struct jparser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static int jpeek(struct jparser *p)
{
	return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int jhex4(struct jparser *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int c = jpeek(p);
		if (c >= '0' && c <= '9')
			v = v * 16 + (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = v * 16 + (unsigned)(c - 'A' + 10);
		else
			return jfail(p, "bad \\u escape");
		p->pos++;
	}
	*out = v;
	return 1;
}

static int jstring(struct jparser *p, char **out)
{
	if (jpeek(p) != '"')
		return jfail(p, "expected a string");
	p->pos++;
	size_t cap = 32, n = 0;
	char *b = malloc(cap);
	CHECK(b != NULL, "malloc failed");
	for (;;) {
		if (cap - n < 8) {
			cap *= 2;
			b = realloc(b, cap);
			CHECK(b != NULL, "realloc failed");
		}
		int c = jpeek(p);
		if (c < 0) {
			free(b);
			return jfail(p, "unterminated string");
		}
		if (c == '"') {
			p->pos++;
			break;
		}
		if (c < 0x20) {
			free(b);
			return jfail(p, "control character in a string");
		}
		if (c == '\\') {
			p->pos++;
			int e = jpeek(p);
			p->pos++;
			switch (e) {
			case '"': b[n++] = '"'; break;
			case '\\': b[n++] = '\\'; break;
			case '/': b[n++] = '/'; break;
			case 'b': b[n++] = '\b'; break;
			case 'f': b[n++] = '\f'; break;
			case 'n': b[n++] = '\n'; break;
			case 'r': b[n++] = '\r'; break;
			case 't': b[n++] = '\t'; break;
			case 'u': {
				unsigned u, lo;
				if (!jhex4(p, &u)) {
					free(b);
					return 0;
				}
				if (u >= 0xDC00 && u <= 0xDFFF) {
					free(b);
					return jfail(p, "lone low surrogate");
				}
				if (u >= 0xD800 && u <= 0xDBFF) {
					if (jpeek(p) != '\\' || p->pos + 1 >= p->len || p->s[p->pos + 1] != 'u') {
						free(b);
						return jfail(p, "high surrogate without a low one");
					}
					p->pos += 2;
					if (!jhex4(p, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
						free(b);
						return jfail(p, "bad low surrogate");
					}
					u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
				}
				if (u < 0x80) {
					b[n++] = (char)u;
				} else if (u < 0x800) {
					b[n++] = (char)(0xC0 | (u >> 6));
					b[n++] = (char)(0x80 | (u & 0x3F));
				} else if (u < 0x10000) {
					b[n++] = (char)(0xE0 | (u >> 12));
					b[n++] = (char)(0x80 | ((u >> 6) & 0x3F));
					b[n++] = (char)(0x80 | (u & 0x3F));
				} else {
					b[n++] = (char)(0xF0 | (u >> 18));
					b[n++] = (char)(0x80 | ((u >> 12) & 0x3F));
					b[n++] = (char)(0x80 | ((u >> 6) & 0x3F));
					b[n++] = (char)(0x80 | (u & 0x3F));
				}
				break;
			}
			default:
				p->pos--;
				free(b);
				return jfail(p, "bad escape");
			}
			continue;
		}
		/* Raw bytes: well-formed UTF-8 only. */
		int more = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 && c >= 0xC2 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 && c <= 0xF4 ? 3 : -1;
		if (more < 0 || p->pos + (size_t)more >= p->len) {
			free(b);
			return jfail(p, "invalid UTF-8 in a string");
		}
		for (int i = 1; i <= more; i++)
			if (((unsigned char)p->s[p->pos + (size_t)i] & 0xC0) != 0x80) {
				free(b);
				return jfail(p, "invalid UTF-8 in a string");
			}
		memcpy(b + n, p->s + p->pos, (size_t)more + 1);
		n += (size_t)more + 1;
		p->pos += (size_t)more + 1;
	}
	b[n] = 0;
	*out = b;
	return 1;
}

static int jnumber(struct jparser *p, double *out)
{
	size_t start = p->pos;
	if (jpeek(p) == '-')
		p->pos++;
	if (jpeek(p) == '0') {
		p->pos++;
	} else if (jpeek(p) >= '1' && jpeek(p) <= '9') {
		while (jpeek(p) >= '0' && jpeek(p) <= '9')
			p->pos++;
	} else {
		return jfail(p, "bad number");
	}
	if (jpeek(p) == '.') {
		p->pos++;
		if (!(jpeek(p) >= '0' && jpeek(p) <= '9'))
			return jfail(p, "bad number: no digit after '.'");
		while (jpeek(p) >= '0' && jpeek(p) <= '9')
			p->pos++;
	}
	if (jpeek(p) == 'e' || jpeek(p) == 'E') {
		p->pos++;
		if (jpeek(p) == '+' || jpeek(p) == '-')
			p->pos++;
		if (!(jpeek(p) >= '0' && jpeek(p) <= '9'))
			return jfail(p, "bad number: no exponent digits");
		while (jpeek(p) >= '0' && jpeek(p) <= '9')
			p->pos++;
	}
	char buf[64];
	size_t l = p->pos - start;
	if (l >= sizeof buf)
		return jfail(p, "number too long");
	memcpy(buf, p->s + start, l);
	buf[l] = 0;
	*out = strtod(buf, NULL);
	return 1;
}

static int jvalue(struct jparser *p, struct jv *v, int depth);

static int jcontainer(struct jparser *p, struct jv *v, int depth, int obj)
{
	char close = obj ? '}' : ']';
	p->pos++;
	v->t = obj ? J_OBJ : J_ARR;
	size_t cap = 0;
	jws(p);
	if (jpeek(p) == close) {
		p->pos++;
		return 1;
	}
	for (;;) {
		if (v->n == cap) {
			cap = cap ? cap * 2 : 8;
			v->items = realloc(v->items, cap * sizeof *v->items);
			CHECK(v->items != NULL, "realloc failed");
			if (obj) {
				v->keys = realloc(v->keys, cap * sizeof *v->keys);
				CHECK(v->keys != NULL, "realloc failed");
			}
		}
		jws(p);
		if (obj) {
			if (!jstring(p, &v->keys[v->n]))
				return jfail(p, "expected a member name");
			for (size_t i = 0; i < v->n; i++)
				if (strcmp(v->keys[i], v->keys[v->n]) == 0)
					return jfail(p, "duplicate member name");
			jws(p);
			if (jpeek(p) != ':')
				return jfail(p, "expected ':'");
			p->pos++;
		}
		memset(&v->items[v->n], 0, sizeof v->items[0]);
		if (!jvalue(p, &v->items[v->n], depth + 1))
			return 0;
		v->n++;
		jws(p);
		if (jpeek(p) == ',') {
			p->pos++;
			continue;
		}
		if (jpeek(p) == close) {
			p->pos++;
			return 1;
		}
		return jfail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int jvalue(struct jparser *p, struct jv *v, int depth)
{
	if (depth > 64)
		return jfail(p, "nested too deeply");
	jws(p);
	int c = jpeek(p);
	if (c == '{' || c == '[')
		return jcontainer(p, v, depth, c == '{');
	if (c == '"') {
		v->t = J_STR;
		return jstring(p, &v->str);
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		v->t = J_NUM;
		return jnumber(p, &v->num);
	}
	static const struct {
		const char *word;
		enum jtype t;
	} lits[] = {{"true", J_TRUE}, {"false", J_FALSE}, {"null", J_NULL}};
	for (int i = 0; i < 3; i++) {
		size_t l = strlen(lits[i].word);
		if (p->len - p->pos >= l && memcmp(p->s + p->pos, lits[i].word, l) == 0) {
			p->pos += l;
			v->t = lits[i].t;
			return 1;
		}
	}
	return jfail(p, c < 0 ? "unexpected end of the text" : "unexpected character");
}

/* Parses all of s[0..len) as one JSON value; 0 and p->err on error. */
static int json_parse(const char *s, size_t len, struct jv *root, struct jparser *p)
{
	memset(p, 0, sizeof *p);
	memset(root, 0, sizeof *root);
	p->s = s;
	p->len = len;
	if (!jvalue(p, root, 0))
		return 0;
	jws(p);
	if (p->pos != len)
		return jfail(p, "text after the JSON value");
	return 1;
}

static const struct jv *jget(const struct jv *o, const char *key)
{
	if (!o || o->t != J_OBJ)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return &o->items[i];
	return NULL;
}

static const char *jstr(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);
	return v && v->t == J_STR ? v->str : NULL;
}

static const struct jv *jnum(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);
	return v && v->t == J_NUM ? v : NULL;
}

/* ---- the parent: checking the trace ---- */

#define MAX_TRACKS 256
#define MAX_DEPTH 64

struct track {
	double tid;
	double last_ts;
	int depth;
	const char *name[MAX_DEPTH], *cat[MAX_DEPTH];
};

static struct track tracks[MAX_TRACKS];
static int n_tracks;

static struct track *track_of(double tid)
{
	for (int i = 0; i < n_tracks; i++)
		if (tracks[i].tid == tid)
			return &tracks[i];
	CHECK(n_tracks < MAX_TRACKS, "more than %d tids in the trace", MAX_TRACKS);
	struct track *t = &tracks[n_tracks++];
	t->tid = tid;
	t->last_ts = -1;
	return t;
}

static int check_trace(const char *path, pid_t pid, char *why, size_t whylen)
{
	size_t len;
	char *text = slurp(path, &len);
	if (!text) {
		snprintf(why, whylen, "no trace file %s (GMP_TRACE) after the child exited: %s", path, strerror(errno));
		return 0;
	}
	struct jv root;
	struct jparser jp;
	if (!json_parse(text, len, &root, &jp)) {
		size_t at = jp.pos > 60 ? jp.pos - 60 : 0;
		snprintf(why, whylen, "%s (%zu bytes) is not valid JSON: %s; the text before it: \"%.*s\"", path, len, jp.err,
			 (int)(jp.pos - at), text + at);
		return 0;
	}
#define BAD(...) do { snprintf(why, whylen, __VA_ARGS__); return 0; } while (0)
	if (root.t != J_OBJ)
		BAD("the top level is not an object");
	const struct jv *events = jget(&root, "traceEvents"), *other = jget(&root, "otherData");
	if (!events || events->t != J_ARR)
		BAD("no array \"traceEvents\" at the top level");
	if (!other || other->t != J_OBJ)
		BAD("no object \"otherData\" at the top level");
	const struct jv *opid = jnum(other, "pid");
	if (!opid || opid->num != (double)pid)
		BAD("otherData.pid is not the child's pid %d", (int)pid);

	int n_g = 0, n_ready = 0, n_create = 0, n_thread_name = 0, n_named_g = 0, n_b = 0, n_i = 0;
	for (size_t i = 0; i < events->n; i++) {
		const struct jv *e = &events->items[i];
		if (e->t != J_OBJ)
			BAD("traceEvents[%zu] is not an object", i);
		const char *ph = jstr(e, "ph"), *name = jstr(e, "name"), *cat = jstr(e, "cat");
		const struct jv *epid = jnum(e, "pid"), *tid = jnum(e, "tid"), *ts = jnum(e, "ts");
		if (!ph || !ph[0])
			BAD("traceEvents[%zu] has no string \"ph\"", i);
		if (!name)
			BAD("traceEvents[%zu] (ph %s) has no string \"name\"", i, ph);
		if (!epid || !tid)
			BAD("traceEvents[%zu] (ph %s, %s) lacks a number \"pid\" or \"tid\"", i, ph, name);
		if (epid->num != (double)pid)
			BAD("traceEvents[%zu] (ph %s, %s): pid %.0f, not the child's %d", i, ph, name, epid->num, (int)pid);
		if (strcmp(ph, "M") == 0) {
			if (strcmp(name, "thread_name") == 0) {
				if (!jstr(jget(e, "args"), "name"))
					BAD("traceEvents[%zu]: a thread_name event without args.name", i);
				n_thread_name++;
			}
			continue;
		}
		if (!ts)
			BAD("traceEvents[%zu] (ph %s, %s) has no number \"ts\"", i, ph, name);
		if (ts->num < 0)
			BAD("traceEvents[%zu] (ph %s, %s): ts %f < 0", i, ph, name, ts->num);
		struct track *t = track_of(tid->num);
		if (ts->num < t->last_ts)
			BAD("traceEvents[%zu] (ph %s, %s): ts %.3f on tid %.0f is before the previous event's %.3f", i, ph, name,
			    ts->num, tid->num, t->last_ts);
		t->last_ts = ts->num;
		if (strcmp(ph, "B") == 0) {
			if (!cat)
				BAD("traceEvents[%zu]: a B event (%s) without \"cat\"", i, name);
			if (t->depth == MAX_DEPTH)
				BAD("traceEvents[%zu]: B events nested more than %d deep on tid %.0f", i, MAX_DEPTH, tid->num);
			t->name[t->depth] = name;
			t->cat[t->depth++] = cat;
			n_b++;
			if (strcmp(cat, "g") == 0) {
				if (name[0] != 'G' || name[1] < '0' || name[1] > '9')
					BAD("traceEvents[%zu]: a g slice named \"%s\", not G<n>...", i, name);
				n_g++;
				const char *sp = strchr(name, ' ');
				if (sp && strncmp(sp + 1, "pingpong-", 9) == 0)
					n_named_g++;
			}
		} else if (strcmp(ph, "E") == 0) {
			if (!cat)
				BAD("traceEvents[%zu]: an E event (%s) without \"cat\"", i, name);
			if (t->depth == 0)
				BAD("traceEvents[%zu]: E (%s, cat %s) on tid %.0f with no open B", i, name, cat, tid->num);
			t->depth--;
			if (strcmp(t->name[t->depth], name) != 0 || strcmp(t->cat[t->depth], cat) != 0)
				BAD("traceEvents[%zu]: E (%s, cat %s) on tid %.0f, but the innermost open B is (%s, cat %s)", i, name, cat,
				    tid->num, t->name[t->depth], t->cat[t->depth]);
			if (strcmp(cat, "g") == 0 && !jstr(jget(e, "args"), "why"))
				BAD("traceEvents[%zu]: the E of g slice %s has no args.why", i, name);
		} else if (strcmp(ph, "i") == 0 || strcmp(ph, "I") == 0) {
			n_i++;
			if (cat && strcmp(cat, "ready") == 0)
				n_ready++;
			if (cat && strcmp(cat, "create") == 0)
				n_create++;
		}
	}
	for (int i = 0; i < n_tracks; i++)
		if (tracks[i].depth)
			BAD("tid %.0f ends with %d open slice(s), the innermost (%s, cat %s)", tracks[i].tid, tracks[i].depth,
			    tracks[i].name[tracks[i].depth - 1], tracks[i].cat[tracks[i].depth - 1]);
	if (!n_g)
		BAD("no B event of cat \"g\"");
	if (!n_named_g)
		BAD("no g slice named \"G<n> pingpong-<i>\" (thread names)");
	if (!n_ready)
		BAD("no event of cat \"ready\"");
	if (n_create < 2 * PAIRS + 1)
		BAD("%d events of cat \"create\"; the child created %d threads", n_create, 2 * PAIRS + 1);
	if (!n_thread_name)
		BAD("no thread_name metadata event");
#undef BAD
	printf("trace: %zu bytes, %zu events on %d tids: %d B/E slices (%d of cat g), %d instants (%d ready, %d create), %d thread_name\n",
	       len, events->n, n_tracks, n_b, n_g, n_i, n_ready, n_create, n_thread_name);
	free(text); /* (the parsed tree is left to the exit) */
	return 1;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "work") == 0)
		return child();
	test_begin();
	int shim = under_shim();
	const char *path = tmp_path("trace.json");
	char traceenv[256];
	snprintf(traceenv, sizeof traceenv, "GMP_TRACE=%s", path);
	const char *env[] = {traceenv, NULL};
	struct kid k;
	kid_start(&k, "work", 0, env);
	KCHECK(&k, kid_wait(&k, 10000), "the child did not finish its workload within 10 s");
	KCHECK(&k, WIFEXITED(k.status) && WEXITSTATUS(k.status) == 0, "the child %s, expected exit status 0", kid_status(&k));
	printf("the workload took %.3f s\n", (now_ns(CLOCK_MONOTONIC) - k.t0) / 1e9);
	if (!shim) {
		KCHECK(&k, access(path, F_OK) != 0 && errno == ENOENT, "natively a trace file %s appeared", path);
		printf("native: no trace file\n");
		return test_pass();
	}
	static char why[2048];
	KCHECK(&k, check_trace(path, k.pid, why, sizeof why), "%s", why);
	return test_pass();
}
