/*
 * echo_load: the load generator of the echo macro-benchmark
 * (bench/run_echo.sh).  It never runs under the shim: one process, one OS
 * thread, non-blocking sockets multiplexed with epoll, so the client side
 * costs the same whichever way the server runs.
 *
 *   echo_load -p PORT [-h HOST] [-c CONNS] [-s SIZE] [-d SECS] [-w SECS]
 *             [-T SECS] [-b BATCH]
 *
 *   -p PORT    server port (required); -h HOST its IPv4 address (127.0.0.1)
 *   -c CONNS   connections held open at once (100)
 *   -s SIZE    request size in bytes (64)
 *   -d SECS    measured duration (3)
 *   -w SECS    warm-up before the measurement (0.5)
 *   -T SECS    set-up timeout: every connection must be up by then (30)
 *   -b BATCH   connections being set up at once (256)
 *
 * What it measures.  Closed-loop request/response latency and throughput
 * with CONNS concurrent clients, each keeping exactly one request in
 * flight: send SIZE bytes, wait until all SIZE bytes have come back, record
 * the round trip (CLOCK_MONOTONIC, from the first send() of the request to
 * the read() that completes its echo), send the next one.  Throughput is
 * requests completed per second of the measured window; with every
 * connection busy at all times it is the server's capacity at that level of
 * concurrency, and the latency is what each client sees.
 *
 * How.
 *  1. Set-up: connections are opened with at most BATCH in set-up at once.
 *     A connection counts as set up only after one full echo round trip,
 *     which proves the server has accepted it and given it a thread; so at
 *     most BATCH connections ever wait in the server's accept queue and a
 *     4096-deep backlog is never overrun.  A connect() refused
 *     (ECONNREFUSED, EAGAIN, EADDRNOTAVAIL, ...) or a connection closed
 *     during set-up is retried after 20 ms.  If not every connection is up
 *     within -T seconds, the run stops there and says so (failed=setup).
 *  2. Warm-up: all connections start their request loop at once; round
 *     trips completing in the first -w seconds are not recorded.
 *  3. Measurement: round trips completing in the next -d seconds are
 *     counted and their latency goes into a log-linear histogram (128
 *     sub-buckets per power of two of nanoseconds: < 0.8% relative error;
 *     percentiles are bucket midpoints, the maximum is exact).
 *
 * Every echo is verified: request n of connection i carries a pattern
 * derived from (i, n), and an echo that differs from it in any byte counts
 * as an error, as do bytes arriving with no request outstanding,
 * connections reset or closed by the server during the run, and
 * connections that fail set-up for good.
 *
 * Output: one line of key=value on stdout, e.g.
 *
 *   conns=100 size=64 secs=3.000 requests=152304 rps=50768 p50_us=1.9
 *   p99_us=4.1 max_us=812.3 served=100 errors=0 setup_ms=41 retries=0
 *
 * (one line; wrapped here).  served = connections that completed at least
 * one measured round trip.  When set-up fails, the line has ready= (how
 * many connections were up) and failed=setup instead of the figures.
 * Exit status: 0 on a clean run (no errors, every connection served), 1 if
 * the run completed with errors or starved connections, 3 if set-up failed,
 * 2 on a usage or system error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE     (1 << 20)       /* largest request (-s)                */
#define CHUNK        (64 * 1024)     /* send/recv scratch buffer            */
#define RETRY_NS     (20 * 1000000LL)/* back-off before a set-up retry      */
#define MAX_EVENTS   1024

/* ------------------------------------------------------------ histogram */

/* Log-linear histogram of nanosecond values: values below 256 have a bucket
 * each; above, each power of two [2^e, 2^(e+1)) is split into 128 equal
 * buckets.  Covers up to 2^40 ns (~18 min); larger values land in the last
 * bucket. */
#define H_SUB        128
#define H_LINEAR     256
#define H_MAXEXP     40
#define H_BUCKETS    (H_LINEAR + (H_MAXEXP - 8 + 1) * H_SUB)

static uint64_t hist[H_BUCKETS];
static uint64_t hist_n;
static int64_t hist_max;

static unsigned h_index(int64_t v)
{
	if (v < H_LINEAR)
		return v < 0 ? 0 : (unsigned)v;
	int e = 63 - __builtin_clzll((unsigned long long)v);  /* e >= 8 */
	if (e > H_MAXEXP)
		return H_BUCKETS - 1;
	unsigned m = (unsigned)(v >> (e - 7));                  /* 128..255 */
	return H_LINEAR + (unsigned)(e - 8) * H_SUB + (m - H_SUB);
}

/* Midpoint of bucket i, in ns. */
static double h_mid(unsigned i)
{
	if (i < H_LINEAR)
		return i;
	int e = 8 + (int)((i - H_LINEAR) / H_SUB);
	double m = H_SUB + (i - H_LINEAR) % H_SUB;
	double w = (double)(1ULL << (e - 7));
	return m * w + w / 2;
}

static void h_record(int64_t ns)
{
	hist[h_index(ns)]++;
	hist_n++;
	if (ns > hist_max)
		hist_max = ns;
}

/* The p-quantile (0 < p <= 1) in ns: midpoint of the bucket holding the
 * ceil(p * n)-th smallest value. */
static double h_quantile(double p)
{
	if (hist_n == 0)
		return 0;
	uint64_t rank = (uint64_t)(p * (double)hist_n);
	if ((double)rank < p * (double)hist_n)
		rank++;
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < H_BUCKETS; i++) {
		seen += hist[i];
		if (seen >= rank)
			return h_mid(i);
	}
	return (double)hist_max;
}

/* ---------------------------------------------------------- connections */

enum cstate {
	C_NEW,          /* not opened yet                                    */
	C_RETRY,        /* waiting in the retry queue                        */
	C_CONNECTING,   /* non-blocking connect() in progress                */
	C_SETUP,        /* connected; set-up round trip (request 0) in flight */
	C_IDLE,         /* set up, waiting for the run to start              */
	C_BUSY,         /* a request is in flight                            */
	C_DONE,         /* run over, no request in flight                    */
	C_DEAD,         /* failed for good                                   */
};

struct conn {
	int fd;
	enum cstate st;
	uint32_t events;        /* current epoll interest                    */
	uint32_t seq;           /* request number (0 = set-up round trip)    */
	uint32_t sent, rcvd;    /* bytes of the current request              */
	bool bad;               /* current echo mismatched somewhere         */
	unsigned retries;
	int64_t t_start;        /* ns: first send() of the current request   */
	int64_t retry_at;       /* ns: when C_RETRY may reconnect            */
	uint64_t measured;      /* round trips recorded for this connection  */
};

static struct conn *conns;
static unsigned nconns = 100, req_size = 64, batch = 256;
static double run_secs = 3.0, warm_secs = 0.5, setup_secs = 30.0;
static struct sockaddr_in server;
static int epfd;

static unsigned *retry_q;               /* FIFO of connection indexes        */
static unsigned rq_head, rq_len;        /* (delays are equal, so FIFO order  */
                                        /*  is deadline order)               */
static unsigned next_new;               /* first C_NEW connection            */
static unsigned in_setup;               /* CONNECTING + SETUP + RETRY        */
static unsigned nready;                 /* connections through set-up        */
static unsigned ndead;

static int64_t t_meas, t_end;           /* measurement window                */

static uint64_t errors, mismatches, retries_total;
static unsigned char scratch[CHUNK];

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Byte i of request seq on connection c: a mix of (c, seq) plus i, so an
 * echo from another request, another connection or another offset shows. */
static inline unsigned char pattern(unsigned c, uint32_t seq, uint32_t i)
{
	uint32_t k = (c + 1) * 2654435761u ^ (seq + 1) * 2246822519u;
	k ^= k >> 15;
	return (unsigned char)((k >> ((i & 3) * 8)) + i);
}

static void fatal(const char *what)
{
	fprintf(stderr, "echo_load: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void set_events(unsigned i, uint32_t ev)
{
	struct conn *c = &conns[i];
	if (c->events == ev)
		return;
	struct epoll_event e = { .events = ev, .data.u32 = i };
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e) < 0)
		fatal("epoll_ctl(MOD)");
	c->events = ev;
}

static void close_conn(unsigned i)
{
	if (conns[i].fd >= 0) {
		close(conns[i].fd);     /* also drops it from the epoll set */
		conns[i].fd = -1;
	}
	conns[i].events = 0;
}

/* A connection failed for good: count it. */
static void kill_conn(unsigned i, const char *why, int err)
{
	struct conn *c = &conns[i];
	static unsigned reported;
	if (reported++ < 5)
		fprintf(stderr, "echo_load: connection %u: %s%s%s\n", i, why,
			err ? ": " : "", err ? strerror(err) : "");
	if (c->st == C_CONNECTING || c->st == C_SETUP || c->st == C_RETRY)
		in_setup--;
	else if (c->st == C_IDLE)
		nready--;
	close_conn(i);
	c->st = C_DEAD;
	errors++;
	ndead++;
}

/* During set-up a refused connect or a connection closed before its first
 * echo goes back in the queue and is retried after RETRY_NS. */
static void setup_failed(unsigned i, const char *why, int err)
{
	struct conn *c = &conns[i];
	static unsigned reported;
	if (reported++ < 5)
		fprintf(stderr, "echo_load: connection %u: %s%s%s (retrying)\n",
			i, why, err ? ": " : "", err ? strerror(err) : "");
	close_conn(i);
	c->retries++;
	retries_total++;
	c->st = C_RETRY;                /* still counted in in_setup */
	c->retry_at = now_ns() + RETRY_NS;
	retry_q[(rq_head + rq_len) % nconns] = i;
	rq_len++;
}

/* Begin request c->seq: reset counters, stamp the start time. */
static void begin_request(unsigned i, int64_t t)
{
	struct conn *c = &conns[i];
	c->sent = c->rcvd = 0;
	c->bad = false;
	c->t_start = t;
}

/* Send as much of the current request as the socket takes; watch for
 * EPOLLOUT while some is left.  Returns false if the connection died. */
static bool send_some(unsigned i)
{
	struct conn *c = &conns[i];
	while (c->sent < req_size) {
		uint32_t n = req_size - c->sent;
		if (n > CHUNK)
			n = CHUNK;
		for (uint32_t k = 0; k < n; k++)
			scratch[k] = pattern(i, c->seq, c->sent + k);
		ssize_t w = send(c->fd, scratch, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				set_events(i, EPOLLIN | EPOLLOUT);
				return true;
			}
			int err = errno;
			if (c->st == C_SETUP)
				setup_failed(i, "send", err);
			else
				kill_conn(i, "send", err);
			return false;
		}
		c->sent += (uint32_t)w;
	}
	set_events(i, EPOLLIN);
	return true;
}

/* Open connection i (non-blocking connect). */
static void start_connect(unsigned i)
{
	struct conn *c = &conns[i];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE)
			fatal("socket (raise the open-files limit)");
		fatal("socket");
	}
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->fd = fd;
	c->st = C_CONNECTING;
	c->events = EPOLLOUT;
	struct epoll_event e = { .events = EPOLLOUT, .data.u32 = i };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0)
		fatal("epoll_ctl(ADD)");
	if (connect(fd, (struct sockaddr *)&server, sizeof server) < 0 &&
	    errno != EINPROGRESS) {
		int err = errno;
		switch (err) {
		case ECONNREFUSED: case EAGAIN: case EADDRNOTAVAIL:
		case ETIMEDOUT: case ECONNRESET: case ENOBUFS: case EINTR:
			setup_failed(i, "connect", err);
			return;
		default:
			kill_conn(i, "connect", err);
			return;
		}
	}
	/* Completion (even immediate) is reported as EPOLLOUT. */
}

/* connect() finished: check its result, then send the set-up request. */
static void on_connected(unsigned i)
{
	struct conn *c = &conns[i];
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return;
	if (err != 0) {
		switch (err) {
		case ECONNREFUSED: case EAGAIN: case EADDRNOTAVAIL:
		case ETIMEDOUT: case ECONNRESET: case ENOBUFS:
			setup_failed(i, "connect", err);
			return;
		default:
			kill_conn(i, "connect", err);
			return;
		}
	}
	c->st = C_SETUP;
	c->seq = 0;
	begin_request(i, now_ns());
	send_some(i);
}

/* The echo of the current request is complete. */
static void on_echo_done(unsigned i, int64_t t)
{
	struct conn *c = &conns[i];
	if (c->bad) {
		mismatches++;
		errors++;
	}
	if (c->st == C_SETUP) {
		c->st = C_IDLE;
		in_setup--;
		nready++;
		return;
	}
	/* C_BUSY: record if it completed inside the measurement window. */
	if (t >= t_meas && t < t_end) {
		h_record(t - c->t_start);
		c->measured++;
	}
	if (t >= t_end) {
		c->st = C_DONE;
		set_events(i, 0);
		return;
	}
	c->seq++;
	begin_request(i, t);
	send_some(i);
}

/* Readable: take what has come back and check it against the pattern. */
static void on_readable(unsigned i)
{
	struct conn *c = &conns[i];
	for (;;) {
		if (c->st != C_SETUP && c->st != C_BUSY) {
			/* Nothing outstanding: anything readable is wrong. */
			ssize_t r = recv(c->fd, scratch, sizeof scratch, 0);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				if (c->st == C_DONE)
					set_events(i, 0);  /* run over: ignore */
				else
					kill_conn(i, r == 0 ? "closed by server"
						  : "recv", r == 0 ? 0 : errno);
			} else if (r > 0) {
				kill_conn(i, "unsolicited bytes from server", 0);
			}
			return;
		}
		uint32_t want = req_size - c->rcvd;
		if (want > CHUNK)
			want = CHUNK;
		ssize_t r = recv(c->fd, scratch, want, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
		}
		if (r <= 0) {
			int err = r == 0 ? 0 : errno;
			const char *why = r == 0 ? "closed by server" : "recv";
			if (c->st == C_SETUP)
				setup_failed(i, why, err);
			else
				kill_conn(i, why, err);
			return;
		}
		if (c->rcvd + (uint32_t)r > c->sent) {
			kill_conn(i, "echo ahead of the request", 0);
			return;
		}
		for (ssize_t k = 0; k < r; k++)
			if (scratch[k] != pattern(i, c->seq, c->rcvd + (uint32_t)k)) {
				c->bad = true;
				break;
			}
		c->rcvd += (uint32_t)r;
		if (c->rcvd == req_size) {
			on_echo_done(i, now_ns());
			/* One request at a time: the next echo cannot be here
			 * yet, so go back to epoll. */
			return;
		}
	}
}

static void dispatch(const struct epoll_event *e)
{
	unsigned i = e->data.u32;
	struct conn *c = &conns[i];
	if (c->st == C_CONNECTING) {
		on_connected(i);
		return;
	}
	if (c->fd < 0)
		return;
	if (e->events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		on_readable(i);
	if (c->fd >= 0 && (e->events & EPOLLOUT) &&
	    (c->st == C_SETUP || c->st == C_BUSY) && c->sent < req_size)
		send_some(i);
}

/* Wait for events up to timeout_ms and handle them. */
static void poll_once(int timeout_ms)
{
	static struct epoll_event ev[MAX_EVENTS];
	int n = epoll_wait(epfd, ev, MAX_EVENTS, timeout_ms);
	if (n < 0) {
		if (errno == EINTR)
			return;
		fatal("epoll_wait");
	}
	for (int k = 0; k < n; k++)
		dispatch(&ev[k]);
}

/* ---------------------------------------------------------------- main */

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s -p PORT [-h HOST] [-c CONNS] [-s SIZE] [-d SECS] "
		"[-w SECS] [-T SECS] [-b BATCH]\n", argv0);
	exit(2);
}

static double parse_secs(const char *s, const char *argv0)
{
	char *end;
	double v = strtod(s, &end);
	if (*end != '\0' || !(v >= 0) || v > 3600)
		usage(argv0);
	return v;
}

static unsigned long parse_uint(const char *s, unsigned long lo,
				unsigned long hi, const char *argv0)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end != '\0' || s[0] == '-' || v < lo || v > hi)
		usage(argv0);
	return v;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	long port = -1;
	int opt;
	while ((opt = getopt(argc, argv, "p:h:c:s:d:w:T:b:")) != -1) {
		switch (opt) {
		case 'p': port = (long)parse_uint(optarg, 1, 65535, argv[0]); break;
		case 'h': host = optarg; break;
		case 'c': nconns = (unsigned)parse_uint(optarg, 1, 1000000, argv[0]); break;
		case 's': req_size = (unsigned)parse_uint(optarg, 1, MAX_SIZE, argv[0]); break;
		case 'd': run_secs = parse_secs(optarg, argv[0]); break;
		case 'w': warm_secs = parse_secs(optarg, argv[0]); break;
		case 'T': setup_secs = parse_secs(optarg, argv[0]); break;
		case 'b': batch = (unsigned)parse_uint(optarg, 1, 1000000, argv[0]); break;
		default: usage(argv[0]);
		}
	}
	if (port < 0 || optind != argc || run_secs <= 0)
		usage(argv[0]);

	server.sin_family = AF_INET;
	server.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &server.sin_addr) != 1) {
		fprintf(stderr, "echo_load: not an IPv4 address: %s\n", host);
		return 2;
	}

	/* One descriptor per connection, plus a few. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)nconns + 16) {
			fprintf(stderr, "echo_load: %u connections need %u descriptors; "
				"RLIMIT_NOFILE allows %llu\n", nconns, nconns + 16,
				(unsigned long long)rl.rlim_cur);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);

	conns = calloc(nconns, sizeof *conns);
	retry_q = calloc(nconns, sizeof *retry_q);
	if (!conns || !retry_q)
		fatal("calloc");
	for (unsigned i = 0; i < nconns; i++)
		conns[i].fd = -1;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		fatal("epoll_create1");

	/* 1. Set-up: at most `batch` connections between connect() and the end
	 *    of their first round trip. */
	int64_t t0 = now_ns();
	int64_t setup_deadline = t0 + (int64_t)(setup_secs * 1e9);
	while (nready + ndead < nconns) {
		int64_t t = now_ns();
		if (t >= setup_deadline)
			break;
		/* Retries that are due (already counted in in_setup), then new
		 * connections while there is room in the batch. */
		while (rq_len > 0 && conns[retry_q[rq_head]].retry_at <= t) {
			unsigned i = retry_q[rq_head];
			rq_head = (rq_head + 1) % nconns;
			rq_len--;
			start_connect(i);
		}
		while (in_setup < batch && next_new < nconns) {
			in_setup++;
			start_connect(next_new++);
		}
		int wait_ms = rq_len > 0 ? 5 : 50;
		poll_once(wait_ms);
	}
	int64_t t_setup = now_ns();
	if (nready < nconns) {
		printf("conns=%u size=%u ready=%u dead=%u in_setup=%u errors=%llu "
		       "retries=%llu setup_ms=%.0f failed=setup\n", nconns, req_size,
		       nready, ndead, in_setup, (unsigned long long)errors,
		       (unsigned long long)retries_total, (t_setup - t0) / 1e6);
		fflush(stdout);
		return 3;
	}

	/* 2. + 3. Every connection starts its request loop now. */
	t_meas = t_setup + (int64_t)(warm_secs * 1e9);
	t_end = t_meas + (int64_t)(run_secs * 1e9);
	for (unsigned i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];
		if (c->st != C_IDLE)
			continue;
		c->st = C_BUSY;
		c->seq = 1;
		begin_request(i, now_ns());
		send_some(i);
	}
	for (;;) {
		int64_t t = now_ns();
		if (t >= t_end || ndead == nconns)
			break;
		int64_t left_ms = (t_end - t + 999999) / 1000000;
		poll_once(left_ms > 100 ? 100 : (int)left_ms);
	}

	unsigned served = 0;
	for (unsigned i = 0; i < nconns; i++)
		if (conns[i].measured > 0)
			served++;
	double secs = (t_end - t_meas) / 1e9;
	printf("conns=%u size=%u secs=%.3f requests=%llu rps=%.0f p50_us=%.1f "
	       "p99_us=%.1f max_us=%.1f served=%u errors=%llu mismatches=%llu "
	       "dead=%u setup_ms=%.0f retries=%llu\n",
	       nconns, req_size, secs, (unsigned long long)hist_n,
	       hist_n / secs, h_quantile(0.50) / 1e3, h_quantile(0.99) / 1e3,
	       hist_max / 1e3, served, (unsigned long long)errors,
	       (unsigned long long)mismatches, ndead, (t_setup - t0) / 1e6,
	       (unsigned long long)retries_total);
	fflush(stdout);
	return (errors == 0 && served == nconns) ? 0 : 1;
}
