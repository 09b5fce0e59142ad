/* mc_client: drives a memcached server over its text protocol and checks
 * every reply.  Built and run natively (never under the shim) by
 * tests/real/run.sh, test "memcached".
 *
 *   mc_client HOST PORT DEADLINE_SECONDS [THREADS]
 *
 * Opens NCONN connections at once, then one pthread per connection does
 * NITER rounds of
 *   set key_<c>_<i> 0 0 <len>   value of 1 B .. 64 KiB (deterministic bytes,
 *                               \r\n included), must answer STORED
 *   get key_<c>_<i>             must give VALUE key_<c>_<i> 0 <len> and the
 *                               same bytes back, then END
 *   delete key_<c>_<i-KEEP>     (once i >= KEEP) must answer DELETED: only
 *                               KEEP items per connection stay alive, so the
 *                               data stays far below -m 64 and nothing is
 *                               evicted (an eviction would turn a get into a
 *                               miss without any bug)
 *   get key_<c>_<i-KEEP>        every 16th delete: must miss (just END)
 *   incr counter 1              every INCR_EVERY-th round, on one key shared
 *                               by all connections: a number, increasing
 *                               on each connection, never above the total
 * then one multi-get of its KEEP live keys (all VALUEs, same bytes).  After
 * all threads are done: get counter must equal the number of incrs, and
 * `stats` must agree with what was done (exactly: cmd_set, get_hits,
 * get_misses, incr_hits, delete_hits, curr_items; no evictions, no misses
 * of incr/delete; total_items >= cmd_set; curr_connections counts our
 * NCONN; threads = THREADS when given).  The server must be fresh.
 *
 * Everything waits in poll() against one deadline: a reply that does not
 * come is reported (connection, request, bytes so far) instead of hanging.
 * Prints the problems and one summary line (mc_client: OK ... / FAIL ...).
 * Exit 0 if everything matched, 1 on a wrong reply, 3 on the deadline, 2 on
 * usage or connect errors.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
	NCONN = 32,        /* connections, one thread each */
	NITER = 300,       /* set/get rounds per connection */
	KEEP = 8,          /* live items per connection */
	INCR_EVERY = 4,    /* an incr every this many rounds */
	MISS_EVERY = 16,   /* get a deleted key every this many deletes */
	MAXVAL = 65536,    /* largest value */
	RBUF = 16384,
};
#define NINCR (NCONN * ((NITER + INCR_EVERY - 1) / INCR_EVERY))

static struct timespec deadline;

struct conn {
	int idx, fd;
	char rbuf[RBUF];
	size_t rpos, rlen;
	char *sbuf, *val, *got;  /* request, expected value, received value */
	char doing[256];         /* the request in flight, for reports */
	/* what was done */
	long sets, hits, misses, incrs, deletes;
	uint64_t bytes;          /* value bytes sent + verified */
	uint64_t last_incr;
	/* first problem */
	int failed, timed_out;
	char err[512];
};

static struct conn conns[NCONN];

static void fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	int n;
	if (c->failed)
		return;
	c->failed = 1;
	n = snprintf(c->err, sizeof c->err, "conn %d: ", c->idx);
	va_start(ap, fmt);
	vsnprintf(c->err + n, sizeof c->err - n, fmt, ap);
	va_end(ap);
}

/* Shows up to 40 bytes of s, escaped, for reports. */
static const char *show(const char *s, size_t n, char *out, size_t outsz)
{
	size_t i, o = 0;
	for (i = 0; i < n && i < 40 && o + 5 < outsz; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '\r')
			o += snprintf(out + o, outsz - o, "\\r");
		else if (ch == '\n')
			o += snprintf(out + o, outsz - o, "\\n");
		else if (ch < 32 || ch > 126)
			o += snprintf(out + o, outsz - o, "\\x%02x", ch);
		else
			out[o++] = (char)ch;
	}
	if (i < n && o + 4 < outsz)
		o += snprintf(out + o, outsz - o, "...");
	out[o] = 0;
	return out;
}

static int remaining_ms(void)
{
	struct timespec now;
	long ms;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline.tv_sec - now.tv_sec) * 1000 + (deadline.tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

/* Waits until fd is ready for ev; 0, or -1 after reporting. */
static int wait_fd(struct conn *c, short ev, const char *what, size_t have, size_t want)
{
	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = ev };
		int ms = remaining_ms(), r;
		if (ms == 0) {
			c->timed_out = 1;
			if (want)
				fail(c, "deadline reached while %s (%zu of %zu bytes) for request '%s'",
				     what, have, want, c->doing);
			else
				fail(c, "deadline reached while %s (%zu bytes of it so far) for request '%s'",
				     what, have, c->doing);
			return -1;
		}
		r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR) {
			fail(c, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

static int send_all(struct conn *c, const char *buf, size_t n)
{
	size_t off = 0;
	while (off < n) {
		ssize_t w = send(c->fd, buf + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(c, POLLOUT, "sending", off, n))
				return -1;
			continue;
		}
		fail(c, "send of '%s': %s", c->doing, w < 0 ? strerror(errno) : "wrote 0");
		return -1;
	}
	return 0;
}

/* Refills the read buffer; -1 after reporting (EOF, error, deadline). */
static int fill(struct conn *c, const char *what, size_t have, size_t want)
{
	for (;;) {
		ssize_t r = recv(c->fd, c->rbuf, RBUF, MSG_DONTWAIT);
		if (r > 0) {
			c->rpos = 0;
			c->rlen = (size_t)r;
			return 0;
		}
		if (r == 0) {
			fail(c, "server closed the connection while %s (%zu bytes done) for request '%s'",
			     what, have, c->doing);
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			fail(c, "recv while %s for '%s': %s", what, c->doing, strerror(errno));
			return -1;
		}
		if (wait_fd(c, POLLIN, what, have, want))
			return -1;
	}
}

/* Reads exactly n bytes into dst. */
static int read_exact(struct conn *c, char *dst, size_t n, const char *what)
{
	size_t off = 0;
	while (off < n) {
		size_t k;
		if (c->rpos == c->rlen && fill(c, what, off, n))
			return -1;
		k = c->rlen - c->rpos;
		if (k > n - off)
			k = n - off;
		memcpy(dst + off, c->rbuf + c->rpos, k);
		c->rpos += k;
		off += k;
	}
	return 0;
}

/* Reads one line ending in \r\n (without it) into line[sz]. */
static int read_line(struct conn *c, char *line, size_t sz)
{
	size_t n = 0;
	for (;;) {
		char ch;
		if (c->rpos == c->rlen && fill(c, "reading a reply line", n, 0))
			return -1;
		ch = c->rbuf[c->rpos++];
		if (n + 1 >= sz) {
			char e[200];
			fail(c, "reply line too long for '%s': '%s'", c->doing, show(line, n, e, sizeof e));
			return -1;
		}
		line[n++] = ch;
		if (n >= 2 && line[n - 2] == '\r' && line[n - 1] == '\n') {
			line[n - 2] = 0;
			return 0;
		}
	}
}

static int expect_line(struct conn *c, const char *want)
{
	char line[512], e[200];
	if (read_line(c, line, sizeof line))
		return -1;
	if (strcmp(line, want) != 0) {
		fail(c, "'%s' answered '%s', expected '%s'", c->doing,
		     show(line, strlen(line), e, sizeof e), want);
		return -1;
	}
	return 0;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static size_t val_size(int c, int i)
{
	uint64_t r;
	if (i == 0)
		return 1;
	if (i == 1)
		return MAXVAL;
	r = mix(((uint64_t)c << 32) | (uint64_t)i);
	/* log-uniform-ish: 1 .. 2^bits, bits 0..16 */
	return 1 + (size_t)((r >> 8) % (1ull << (r % 17)));
}

static void gen_val(char *dst, int c, int i, size_t n)
{
	uint64_t seed = mix(((uint64_t)i << 32) | (uint64_t)c | (1ull << 62));
	size_t j;
	for (j = 0; j < n; j += 8) {
		uint64_t w = mix(seed + j);
		memcpy(dst + j, &w, n - j < 8 ? n - j : 8);
	}
}

/* Reads a VALUE block for key (n bytes, flags 0) and compares with c->val. */
static int expect_value(struct conn *c, const char *key, size_t n)
{
	char want[128], e[200];
	size_t k;
	snprintf(want, sizeof want, "VALUE %s 0 %zu", key, n);
	if (expect_line(c, want))
		return -1;
	if (read_exact(c, c->got, n + 2, "reading a value"))
		return -1;
	if (memcmp(c->got, c->val, n) != 0) {
		for (k = 0; k < n && c->got[k] == c->val[k]; k++)
			;
		fail(c, "'%s': value of %s (%zu bytes) differs from what was stored at byte %zu: got '%s'",
		     c->doing, key, n, k, show(c->got + k, n - k, e, sizeof e));
		return -1;
	}
	if (c->got[n] != '\r' || c->got[n + 1] != '\n') {
		fail(c, "'%s': value of %s not followed by \\r\\n: '%s'", c->doing, key,
		     show(c->got + n, 2, e, sizeof e));
		return -1;
	}
	c->hits++;
	c->bytes += n;
	return 0;
}

static int do_incr(struct conn *c)
{
	char line[128], e[200], *end;
	unsigned long long v;
	snprintf(c->doing, sizeof c->doing, "incr counter 1");
	if (send_all(c, "incr counter 1\r\n", 16) || read_line(c, line, sizeof line))
		return -1;
	errno = 0;
	v = strtoull(line, &end, 10);
	if (line[0] < '0' || line[0] > '9' || *end || errno) {
		fail(c, "'incr counter 1' answered '%s'", show(line, strlen(line), e, sizeof e));
		return -1;
	}
	if (v <= c->last_incr || v > NINCR) {
		fail(c, "'incr counter 1' gave %llu after %" PRIu64 " on this connection (total incrs %d)",
		     v, c->last_incr, NINCR);
		return -1;
	}
	c->last_incr = v;
	c->incrs++;
	return 0;
}

static void *worker(void *arg)
{
	struct conn *c = arg;
	char key[64], line[128];
	int i, h, len;
	for (i = 0; i < NITER && !c->failed; i++) {
		size_t n = val_size(c->idx, i);
		snprintf(key, sizeof key, "key_%d_%d", c->idx, i);
		/* set */
		h = snprintf(c->sbuf, 128, "set %s 0 0 %zu\r\n", key, n);
		gen_val(c->val, c->idx, i, n);
		memcpy(c->sbuf + h, c->val, n);
		memcpy(c->sbuf + h + n, "\r\n", 2);
		snprintf(c->doing, sizeof c->doing, "set %s 0 0 %zu", key, n);
		if (send_all(c, c->sbuf, h + n + 2) || expect_line(c, "STORED"))
			break;
		c->sets++;
		c->bytes += n;
		/* get */
		len = snprintf(line, sizeof line, "get %s\r\n", key);
		snprintf(c->doing, sizeof c->doing, "get %s", key);
		if (send_all(c, line, len) || expect_value(c, key, n) || expect_line(c, "END"))
			break;
		/* delete an old one, sometimes check it is gone */
		if (i >= KEEP) {
			snprintf(key, sizeof key, "key_%d_%d", c->idx, i - KEEP);
			len = snprintf(line, sizeof line, "delete %s\r\n", key);
			snprintf(c->doing, sizeof c->doing, "delete %s", key);
			if (send_all(c, line, len) || expect_line(c, "DELETED"))
				break;
			c->deletes++;
			if (c->deletes % MISS_EVERY == 0) {
				len = snprintf(line, sizeof line, "get %s\r\n", key);
				snprintf(c->doing, sizeof c->doing, "get %s (deleted)", key);
				if (send_all(c, line, len) || expect_line(c, "END"))
					break;
				c->misses++;
			}
		}
		if (i % INCR_EVERY == 0 && do_incr(c))
			break;
	}
	if (c->failed)
		return NULL;
	/* multi-get of the live keys */
	{
		char req[200];
		int o = snprintf(req, sizeof req, "get");
		for (i = NITER - KEEP; i < NITER; i++)
			o += snprintf(req + o, sizeof req - o, " key_%d_%d", c->idx, i);
		snprintf(c->doing, sizeof c->doing, "%s", req);
		o += snprintf(req + o, sizeof req - o, "\r\n");
		if (send_all(c, req, o))
			return NULL;
		for (i = NITER - KEEP; i < NITER; i++) {
			size_t n = val_size(c->idx, i);
			gen_val(c->val, c->idx, i, n);
			snprintf(key, sizeof key, "key_%d_%d", c->idx, i);
			if (expect_value(c, key, n))
				return NULL;
		}
		expect_line(c, "END");
	}
	return NULL;
}

/* stats */
static char stat_names[128][64];
static char stat_vals[128][128];
static int nstats;

static const char *stat(const char *name)
{
	int i;
	for (i = 0; i < nstats; i++)
		if (strcmp(stat_names[i], name) == 0)
			return stat_vals[i];
	return NULL;
}

static int nproblems;
static void problem(const char *fmt, ...)
{
	va_list ap;
	printf("mc_client: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	nproblems++;
}

static long long stat_num(const char *name)
{
	const char *v = stat(name);
	char *end;
	long long x;
	if (!v) {
		problem("stats: no %s", name);
		return -1;
	}
	x = strtoll(v, &end, 10);
	if (*end) {
		problem("stats: %s is '%s', not a number", name, v);
		return -1;
	}
	return x;
}

static void stat_eq(const char *name, long long want)
{
	long long got = stat_num(name);
	if (got >= 0 && got != want)
		problem("stats: %s %lld, expected %lld", name, got, want);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	pthread_t th[NCONN];
	struct conn *c0 = &conns[0];
	long sets = 0, hits = 0, misses = 0, incrs = 0, deletes = 0;
	uint64_t bytes = 0;
	int i, timeouts = 0, failures = 0, want_threads = argc > 4 ? atoi(argv[4]) : 0;
	double t0 = now_s(), secs;
	char line[512];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 4 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1 || atoi(argv[2]) <= 0 ||
	    atoi(argv[3]) <= 0) {
		fprintf(stderr, "usage: mc_client HOST(IPv4) PORT DEADLINE_SECONDS [THREADS]\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += atoi(argv[3]);

	for (i = 0; i < NCONN; i++) {
		struct conn *c = &conns[i];
		int one = 1;
		c->idx = i;
		c->fd = socket(AF_INET, SOCK_STREAM, 0);
		if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
			printf("mc_client: FAIL: connection %d to %s:%s: %s\n", i, argv[1], argv[2],
			       strerror(errno));
			return 2;
		}
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
		c->sbuf = malloc(MAXVAL + 128);
		c->val = malloc(MAXVAL);
		c->got = malloc(MAXVAL + 2);
		if (!c->sbuf || !c->val || !c->got) {
			printf("mc_client: FAIL: out of memory\n");
			return 2;
		}
	}

	/* the shared counter */
	snprintf(c0->doing, sizeof c0->doing, "set counter 0 0 1");
	if (send_all(c0, "set counter 0 0 1\r\n0\r\n", 22) == 0 && expect_line(c0, "STORED") == 0)
		c0->sets++;
	if (!c0->failed) {
		for (i = 0; i < NCONN; i++)
			if (pthread_create(&th[i], NULL, worker, &conns[i]) != 0) {
				printf("mc_client: FAIL: pthread_create: %s\n", strerror(errno));
				return 2;
			}
		for (i = 0; i < NCONN; i++)
			pthread_join(th[i], NULL);
	}
	secs = now_s() - t0;
	for (i = 0; i < NCONN; i++) {
		struct conn *c = &conns[i];
		sets += c->sets, hits += c->hits, misses += c->misses;
		incrs += c->incrs, deletes += c->deletes, bytes += c->bytes;
		if (c->failed) {
			failures++;
			timeouts += c->timed_out;
			if (failures <= 8)
				printf("mc_client: %s\n", c->err);
		}
	}
	if (failures > 8)
		printf("mc_client: ... and %d more connections failed\n", failures - 8);
	if (c0->failed && c0->sets == 0) {
		printf("mc_client: FAIL: the first request (set counter 0 0 1, on conn 0) failed\n");
		return c0->timed_out ? 3 : 1;
	}
	if (failures) {
		printf("mc_client: FAIL: %d of %d connections failed (%d at the %s s deadline); "
		       "done: %ld set, %ld get hits, %ld incr, %ld delete in %.2f s\n",
		       failures, NCONN, timeouts, argv[3], sets, hits, incrs, deletes, secs);
		return timeouts ? 3 : 1;
	}

	/* the counter */
	snprintf(c0->doing, sizeof c0->doing, "get counter");
	{
		char want[32];
		int n = snprintf(want, sizeof want, "%ld", incrs);
		/* the value is the decimal count, n bytes */
		if (send_all(c0, "get counter\r\n", 13) == 0) {
			memcpy(c0->val, want, n);
			if (expect_value(c0, "counter", n) == 0)
				expect_line(c0, "END");
		}
		if (c0->failed) {
			printf("mc_client: %s\n", c0->err);
			printf("mc_client: FAIL: counter after %ld incrs from %d connections is wrong\n",
			       incrs, NCONN);
			return c0->timed_out ? 3 : 1;
		}
		hits++;
	}

	/* stats */
	snprintf(c0->doing, sizeof c0->doing, "stats");
	if (send_all(c0, "stats\r\n", 7) == 0) {
		while (read_line(c0, line, sizeof line) == 0 && strcmp(line, "END") != 0) {
			if (nstats < 128 &&
			    sscanf(line, "STAT %63s %127[^\r]", stat_names[nstats], stat_vals[nstats]) == 2)
				nstats++;
			else if (strncmp(line, "STAT ", 5) != 0)
				problem("stats: unexpected line '%s'", line);
		}
	}
	if (c0->failed) {
		printf("mc_client: %s\n", c0->err);
		printf("mc_client: FAIL: no stats\n");
		return c0->timed_out ? 3 : 1;
	}
	if (sets != NCONN * NITER + 1 || deletes != NCONN * (NITER - KEEP) || incrs != NINCR)
		problem("internal: counted %ld sets, %ld deletes, %ld incrs", sets, deletes, incrs);
	stat_eq("cmd_set", sets);
	stat_eq("get_hits", hits);
	stat_eq("get_misses", misses);
	stat_eq("incr_hits", incrs);
	stat_eq("incr_misses", 0);
	stat_eq("delete_hits", deletes);
	stat_eq("delete_misses", 0);
	stat_eq("evictions", 0);
	stat_eq("curr_items", NCONN * KEEP + 1);
	if (want_threads)
		stat_eq("threads", want_threads);
	{
		/* total_items counts every item linked: each set, plus an incr
		 * that had to replace its item (longer number, or the item was
		 * being read) */
		long long ti = stat_num("total_items");
		if (ti >= 0 && (ti < sets || ti > sets + incrs))
			problem("stats: total_items %lld, expected %ld..%ld", ti, sets, sets + incrs);
		/* curr_connections: our NCONN, plus the listening socket(s) */
		long long cc = stat_num("curr_connections");
		if (cc >= 0 && (cc < NCONN || cc > NCONN + 4))
			problem("stats: curr_connections %lld, expected %d..%d", cc, NCONN, NCONN + 4);
	}
	secs = now_s() - t0;
	for (i = 0; i < NCONN; i++)
		close(conns[i].fd);
	if (nproblems) {
		printf("mc_client: FAIL: every reply matched, but stats disagree (%d problems above)\n",
		       nproblems);
		return 1;
	}
	printf("mc_client: OK: %d connections x %d set/get (values 1 B..64 KiB; %.1f MiB stored + read back), "
	       "%ld incr (counter %ld), %ld delete, %ld misses checked; stats agree "
	       "(curr_connections %s, total_items %s, curr_items %s, threads %s); %.2f s\n",
	       NCONN, NITER, bytes / 1048576.0, incrs, incrs, deletes, misses,
	       stat("curr_connections"), stat("total_items"), stat("curr_items"), stat("threads"),
	       secs);
	return 0;
}
