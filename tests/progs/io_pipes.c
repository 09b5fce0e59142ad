/*
 * io_pipes: blocking I/O between threads over pipes, socketpairs and
 * eventfds.
 *   - four producer/consumer pairs run at once, each moving 8 MiB (far
 *     more than a pipe or socket buffer holds, so writers block until the
 *     consumer drains) over: pipe() with read/write, pipe2(O_CLOEXEC) with
 *     writev/readv, socketpair(SOCK_STREAM) with send/recv, and
 *     socketpair(SOCK_SEQPACKET) with send/recv, where every message keeps
 *     its boundaries (each recv returns exactly one send's bytes, in
 *     order); checksums and byte counts of both sides must match, and
 *     each consumer sees EOF (0) once its producer closed its end
 *   - a thread blocked in read() on an empty pipe returns 0 (EOF) when
 *     another thread closes the write end; likewise recv() on a
 *     socketpair whose peer is closed
 *   - with SIGPIPE ignored (SIG_IGN), write() to a pipe whose read end is
 *     closed fails with EPIPE, and a writer blocked on a full pipe fails
 *     with EPIPE when the reader closes its end
 *   - writev of 3 pieces and readv into 2 differently split pieces carry
 *     the bytes in order
 *   - eventfd: a read() blocks until another thread writes (and returns
 *     the value written); a counter passed back and forth 1000 times
 *     between two threads over two eventfds arrives intact each time
 */
/* shim-skip: S2: errno read through an address cached before a migration: GMP_TLS=shared does not promise it */
#include "common.h"
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define TOTAL (8u << 20)
#define SEQ_MAX 4096 /* largest SEQPACKET message */

enum { K_PIPE, K_PIPE2, K_STREAM, K_SEQPACKET, K_COUNT };
static const char *const kname[K_COUNT] = {"pipe", "pipe2", "socketpair(SOCK_STREAM)", "socketpair(SOCK_SEQPACKET)"};

struct xfer {
	int kind;
	int fd[2]; /* [0] read side, [1] write side */
	uint64_t wsum, rsum, wbytes, rbytes;
};

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t sum_bytes(const unsigned char *p, size_t len, uint64_t h)
{
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* The size of the producer's k-th chunk: the consumer of a SEQPACKET pair
 * recomputes the sequence to check message boundaries. */
static size_t chunk_size(int kind, uint64_t *rng)
{
	uint64_t r = rng_next(rng);
	if (kind == K_SEQPACKET)
		return 1 + r % SEQ_MAX;
	return 1 + r % 65536;
}

static void *producer(void *arg)
{
	struct xfer *x = arg;
	unsigned char *buf = malloc(65536);
	CHECK(buf != NULL, "malloc failed");
	uint64_t rng = 0x1234567 + (uint64_t)x->kind, data = 0xabcdef + (uint64_t)x->kind;
	size_t left = TOTAL;
	while (left > 0) {
		size_t len = chunk_size(x->kind, &rng);
		if (len > left)
			len = left;
		for (size_t i = 0; i < len; i++)
			buf[i] = (unsigned char)rng_next(&data);
		x->wsum = sum_bytes(buf, len, x->wsum);
		size_t off = 0;
		while (off < len) {
			ssize_t n;
			switch (x->kind) {
			case K_PIPE:
				n = write(x->fd[1], buf + off, len - off);
				break;
			case K_PIPE2: {
				size_t rest = len - off, a = rest / 3, b = rest / 3;
				struct iovec iov[3] = {
					{buf + off, a}, {buf + off + a, b}, {buf + off + a + b, rest - a - b},
				};
				n = writev(x->fd[1], iov, 3);
				break;
			}
			default:
				n = send(x->fd[1], buf + off, len - off, 0);
				break;
			}
			if (n < 0 && errno == EINTR)
				continue;
			CHECK(n > 0, "%s: producer write of %zu bytes returned %zd (%s)", kname[x->kind], len - off, n, strerror(errno));
			CHECK(x->kind != K_SEQPACKET || (size_t)n == len, "%s: send of a %zu-byte message sent %zd", kname[x->kind], len, n);
			off += (size_t)n;
		}
		x->wbytes += len;
		left -= len;
	}
	CHECK_OK(close(x->fd[1]));
	free(buf);
	return NULL;
}

static void *consumer(void *arg)
{
	struct xfer *x = arg;
	unsigned char *buf = malloc(65536 + 1);
	CHECK(buf != NULL, "malloc failed");
	uint64_t rng = 0x1234567 + (uint64_t)x->kind; /* replays the producer's sizes */
	size_t want_left = TOTAL;
	sleep_ms(50); /* the producer fills the buffer and blocks meanwhile */
	for (unsigned k = 0;; k++) {
		ssize_t n;
		size_t cap = 1 + (k * 7919) % 65536; /* odd read sizes */
		switch (x->kind) {
		case K_PIPE:
			n = read(x->fd[0], buf, cap);
			break;
		case K_PIPE2: {
			size_t a = cap / 2;
			struct iovec iov[2] = {{buf, a}, {buf + a, cap - a}};
			n = readv(x->fd[0], iov, 2);
			break;
		}
		case K_STREAM:
			n = recv(x->fd[0], buf, cap, 0);
			break;
		default:
			/* One whole message per recv, whatever its size. */
			n = recv(x->fd[0], buf, 65536 + 1, 0);
			break;
		}
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n >= 0, "%s: consumer read failed: %s", kname[x->kind], strerror(errno));
		if (n == 0)
			break;
		if (x->kind == K_SEQPACKET) {
			size_t want = chunk_size(x->kind, &rng);
			if (want > want_left)
				want = want_left;
			CHECK((size_t)n == want, "%s: message %u: recv returned %zd bytes, the message sent had %zu",
			      kname[x->kind], k, n, want);
			want_left -= want;
		}
		x->rsum = sum_bytes(buf, (size_t)n, x->rsum);
		x->rbytes += (uint64_t)n;
	}
	CHECK_OK(close(x->fd[0]));
	free(buf);
	return NULL;
}

static void transfers(void)
{
	struct xfer x[K_COUNT];
	memset(x, 0, sizeof x);
	CHECK_OK(pipe(x[K_PIPE].fd));
	CHECK_OK(pipe2(x[K_PIPE2].fd, O_CLOEXEC));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, x[K_STREAM].fd));
	CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, x[K_SEQPACKET].fd));
	pthread_t p[K_COUNT], c[K_COUNT];
	for (int k = 0; k < K_COUNT; k++) {
		x[k].kind = k;
		p[k] = spawn(producer, &x[k]);
		c[k] = spawn(consumer, &x[k]);
	}
	for (int k = 0; k < K_COUNT; k++) {
		join(p[k]);
		join(c[k]);
		CHECK(x[k].wbytes == TOTAL, "%s: producer wrote %llu bytes", kname[k], (unsigned long long)x[k].wbytes);
		CHECK(x[k].rbytes == TOTAL, "%s: consumer read %llu bytes before EOF, expected %u",
		      kname[k], (unsigned long long)x[k].rbytes, TOTAL);
		CHECK(x[k].rsum == x[k].wsum, "%s: checksum of bytes read %016llx, of bytes written %016llx",
		      kname[k], (unsigned long long)x[k].rsum, (unsigned long long)x[k].wsum);
	}
	printf("4 transfers of %u bytes: checksums match\n", TOTAL);
}

/* ---- EOF and EPIPE wake blocked threads ---- */

struct blocked {
	int fd;
	int use_recv;
	int started;
	ssize_t ret;
	int err;
	int done;
};

static void *blocked_reader(void *arg)
{
	struct blocked *b = arg;
	char c;
	STORE(&b->started, 1);
	do {
		errno = 0;
		b->ret = b->use_recv ? recv(b->fd, &c, 1, 0) : read(b->fd, &c, 1);
		b->err = errno;
	} while (b->ret < 0 && b->err == EINTR);
	STORE(&b->done, 1);
	return NULL;
}

static void *blocked_writer(void *arg)
{
	struct blocked *b = arg;
	STORE(&b->started, 1);
	do {
		errno = 0;
		b->ret = write(b->fd, "z", 1);
		b->err = errno;
	} while (b->ret < 0 && b->err == EINTR);
	STORE(&b->done, 1);
	return NULL;
}

static void eof_and_epipe(void)
{
	/* read() on an empty pipe returns 0 once the write end closes. */
	int p[2];
	CHECK_OK(pipe(p));
	struct blocked b = {.fd = p[0]};
	pthread_t t = spawn(blocked_reader, &b);
	WAIT_FOR(LOAD(&b.started), 10000, "the reader to start");
	sleep_ms(50);
	CHECK(!LOAD(&b.done), "read() on an empty pipe returned %zd (%s) before anything happened", b.ret, err_name(b.err));
	CHECK_OK(close(p[1]));
	join(t);
	CHECK(b.ret == 0, "read() blocked on a pipe whose write end was closed returned %zd (%s), expected 0 (EOF)", b.ret, err_name(b.err));
	CHECK_OK(close(p[0]));

	/* recv() on a socketpair returns 0 once the peer closes. */
	int sv[2];
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	struct blocked s = {.fd = sv[0], .use_recv = 1};
	t = spawn(blocked_reader, &s);
	WAIT_FOR(LOAD(&s.started), 10000, "the receiver to start");
	sleep_ms(50);
	CHECK(!LOAD(&s.done), "recv() on an empty socketpair returned %zd (%s) before anything happened", s.ret, err_name(s.err));
	CHECK_OK(close(sv[1]));
	join(t);
	CHECK(s.ret == 0, "recv() blocked on a socketpair whose peer closed returned %zd (%s), expected 0 (EOF)", s.ret, err_name(s.err));
	CHECK_OK(close(sv[0]));

	/* EPIPE with SIGPIPE ignored. */
	CHECK(signal(SIGPIPE, SIG_IGN) != SIG_ERR, "signal(SIGPIPE, SIG_IGN) failed");
	CHECK_OK(pipe(p));
	CHECK_OK(close(p[0]));
	CHECK_ERRNO(write(p[1], "x", 1), EPIPE);
	CHECK_OK(close(p[1]));

	/* A writer blocked on a full pipe gets EPIPE when the reader closes. */
	CHECK_OK(pipe(p));
	CHECK_OK(fcntl(p[1], F_SETFL, O_NONBLOCK));
	char page[4096];
	memset(page, 'f', sizeof page);
	size_t filled = 0;
	for (;;) {
		ssize_t n = write(p[1], page, sizeof page);
		if (n < 0) {
			CHECK(errno == EAGAIN, "filling a pipe: %s", strerror(errno));
			break;
		}
		filled += (size_t)n;
	}
	CHECK_OK(fcntl(p[1], F_SETFL, 0));
	struct blocked w = {.fd = p[1]};
	t = spawn(blocked_writer, &w);
	WAIT_FOR(LOAD(&w.started), 10000, "the writer to start");
	sleep_ms(50);
	CHECK(!LOAD(&w.done), "write() to a full pipe (%zu bytes in it) returned %zd (%s) at once", filled, w.ret, err_name(w.err));
	CHECK_OK(close(p[0]));
	join(t);
	CHECK(w.ret == -1 && w.err == EPIPE, "write() blocked on a full pipe whose reader closed returned %zd (%s), expected -1 EPIPE",
	      w.ret, err_name(w.err));
	CHECK_OK(close(p[1]));
}

/* ---- readv / writev ---- */

static void vectors(void)
{
	int p[2];
	CHECK_OK(pipe(p));
	char a[] = "hello, ", b[] = "vectored ", c[] = "world";
	struct iovec wv[3] = {{a, strlen(a)}, {b, strlen(b)}, {c, strlen(c)}};
	size_t total = strlen(a) + strlen(b) + strlen(c);
	CHECK(writev(p[1], wv, 3) == (ssize_t)total, "writev of 3 pieces did not write %zu bytes", total);
	char x[4] = "", y[32] = "";
	struct iovec rv[2] = {{x, sizeof x}, {y, sizeof y - 1}};
	ssize_t n = readv(p[0], rv, 2);
	CHECK(n == (ssize_t)total, "readv returned %zd, expected %zu", n, total);
	CHECK(memcmp(x, "hell", 4) == 0 && strcmp(y, "o, vectored world") == 0,
	      "readv split the bytes wrongly: \"%.4s\" + \"%s\"", x, y);
	CHECK_OK(close(p[0]));
	CHECK_OK(close(p[1]));
}

/* ---- eventfd ---- */

static int efd_a, efd_b;
static int efd_written;

static void *efd_waiter(void *arg)
{
	uint64_t v = 0;
	ssize_t n;
	while ((n = read(efd_a, &v, sizeof v)) < 0 && errno == EINTR)
		;
	CHECK(n == 8, "read(eventfd) returned %zd (%s)", n, strerror(errno));
	CHECK(LOAD(&efd_written), "read(eventfd) returned %llu before anything was written", (unsigned long long)v);
	return (void *)(uintptr_t)v;
}

#define PINGPONG 1000

static void *efd_ponger(void *arg)
{
	for (uint64_t i = 0; i < PINGPONG; i++) {
		uint64_t v = 0;
		ssize_t n;
		while ((n = read(efd_a, &v, sizeof v)) < 0 && errno == EINTR)
			;
		CHECK(n == 8 && v == 2 * i + 1, "ponger: read(eventfd) returned %zd, value %llu, expected %llu",
		      n, (unsigned long long)v, (unsigned long long)(2 * i + 1));
		v++;
		CHECK(write(efd_b, &v, sizeof v) == 8, "ponger: write(eventfd) failed: %s", strerror(errno));
	}
	return NULL;
}

static void eventfds(void)
{
	efd_a = eventfd(0, EFD_CLOEXEC);
	efd_b = eventfd(0, 0);
	CHECK(efd_a >= 0 && efd_b >= 0, "eventfd failed: %s", strerror(errno));

	pthread_t t = spawn(efd_waiter, NULL);
	sleep_ms(100);
	STORE(&efd_written, 1);
	uint64_t v = 5;
	CHECK(write(efd_a, &v, sizeof v) == 8, "write(eventfd) failed: %s", strerror(errno));
	uintptr_t got = (uintptr_t)join(t);
	CHECK(got == 5, "the blocked read(eventfd) returned %lu, expected 5", (unsigned long)got);

	t = spawn(efd_ponger, NULL);
	for (uint64_t i = 0; i < PINGPONG; i++) {
		v = 2 * i + 1;
		CHECK(write(efd_a, &v, sizeof v) == 8, "pinger: write(eventfd) failed: %s", strerror(errno));
		ssize_t n;
		while ((n = read(efd_b, &v, sizeof v)) < 0 && errno == EINTR)
			;
		CHECK(n == 8 && v == 2 * i + 2, "pinger: read(eventfd) returned %zd, value %llu, expected %llu",
		      n, (unsigned long long)v, (unsigned long long)(2 * i + 2));
	}
	join(t);
	CHECK_OK(close(efd_a));
	CHECK_OK(close(efd_b));
}

int main(void)
{
	test_begin();
	transfers();
	eof_and_epipe();
	vectors();
	eventfds();
	return test_pass();
}
