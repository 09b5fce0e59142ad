/*
 * io_sockets: TCP sockets over 127.0.0.1, the way the kernel does them.
 *   - blocking connect() to a port with nothing listening (a socket bound
 *     to it but not listening) fails ECONNREFUSED
 *   - non-blocking connect() returns EINPROGRESS (or 0); poll() for
 *     POLLOUT then reports completion and getsockopt(SO_ERROR) gives 0 to
 *     a listening port and ECONNREFUSED to the closed one (and reading
 *     SO_ERROR clears it)
 *   - O_NONBLOCK as the user set it, each way: socket(SOCK_NONBLOCK),
 *     fcntl(F_SETFL), ioctl(FIONBIO), accept4(SOCK_NONBLOCK): with it set,
 *     recv/read/accept with nothing to take fail EAGAIN at once and
 *     fcntl(F_GETFL) shows O_NONBLOCK; cleared again (fcntl, FIONBIO),
 *     F_GETFL no longer shows it and recv blocks again until data comes;
 *     a blocking socket (socket(), accept(), and accept() on a
 *     non-blocking listener: Linux does not inherit the flag) shows it
 *     clear
 *   - dup() shares the file description: O_NONBLOCK set through one fd is
 *     seen (and acted on) through the other, and cleared likewise
 *   - SO_RCVTIMEO of 200 ms: recv() and read() with no data fail EAGAIN
 *     after >= 200 ms (at most 300 ms more)
 *   - SO_SNDTIMEO of 200 ms on a socket whose peer never reads: send() of
 *     4 MiB returns a short count (or -1 EAGAIN) after >= 200 ms, and the
 *     next send() too
 *   - shutdown(SHUT_RD) and shutdown(SHUT_RDWR) on a socket wake a thread
 *     blocked in recv() on it: recv returns 0
 *   - 8 threads blocked in accept() on one listening socket: 8 connects
 *     wake each exactly once, every thread gets its own descriptor, and
 *     the accepted peers are exactly the 8 clients
 */
/* shim-skip: S2: errno read through an address cached before a migration: GMP_TLS=shared does not promise it */
#include "common.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#define SLACK_MS 300

static struct sockaddr_in listen_addr, refused_addr;
static int listener;

static int make_listener(int type_flags, struct sockaddr_in *addr)
{
	return tcp_listener(type_flags, 64, addr);
}

static int nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	CHECK(fl != -1, "fcntl(%d, F_GETFL) failed: %s", fd, strerror(errno));
	return (fl & O_NONBLOCK) != 0;
}

static int accept_one(int lfd, int flags)
{
	int fd;
	while ((fd = accept4(lfd, NULL, NULL, flags)) < 0 && errno == EINTR)
		;
	CHECK(fd >= 0, "accept4(flags 0x%x) failed: %s", flags, strerror(errno));
	return fd;
}

/* A connected pair: *c from socket()+connect(), *s from accept(). */
static void tcp_pair(int *c, int *s)
{
	*c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(*c >= 0, "socket failed: %s", strerror(errno));
	CHECK_OK(connect(*c, (struct sockaddr *)&listen_addr, sizeof listen_addr));
	*s = accept_one(listener, 0);
}

/* ---- connect ---- */

static void connects(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(s >= 0, "socket failed");
	CHECK_ERRNO(connect(s, (struct sockaddr *)&refused_addr, sizeof refused_addr), ECONNREFUSED);
	close(s);

	for (int refused = 0; refused < 2; refused++) {
		const struct sockaddr_in *to = refused ? &refused_addr : &listen_addr;
		const char *what = refused ? "a closed port" : "a listening port";
		s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		CHECK(s >= 0, "socket failed");
		errno = 0;
		int r = connect(s, (const struct sockaddr *)to, sizeof *to);
		int e = errno;
		if (refused && r == -1 && e == ECONNREFUSED) {
			/* refused before connect returned: allowed */
		} else {
			CHECK(r == 0 || (r == -1 && e == EINPROGRESS), "non-blocking connect to %s returned %d (%s), expected EINPROGRESS",
			      what, r, err_name(e));
			struct pollfd p = {.fd = s, .events = POLLOUT};
			CHECK(poll(&p, 1, 10000) == 1, "poll(POLLOUT) after a non-blocking connect to %s did not return 1", what);
			CHECK(p.revents & POLLOUT, "poll after a non-blocking connect to %s: revents 0x%x, no POLLOUT", what, p.revents);
			int soerr = -1;
			socklen_t len = sizeof soerr;
			CHECK_OK(getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len));
			CHECK(soerr == (refused ? ECONNREFUSED : 0), "SO_ERROR after a non-blocking connect to %s: %s", what, err_name(soerr));
			CHECK_OK(getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len));
			CHECK(soerr == 0, "SO_ERROR not cleared by reading it: %s", err_name(soerr));
		}
		if (!refused)
			close(accept_one(listener, 0));
		close(s);
	}
}

/* ---- O_NONBLOCK as the user sees it ---- */

struct receiver {
	int fd;
	int started, sent;
	ssize_t ret;
	char buf[8];
};

static void *receiver(void *arg)
{
	struct receiver *r = arg;
	STORE(&r->started, 1);
	while ((r->ret = recv(r->fd, r->buf, sizeof r->buf, 0)) < 0 && errno == EINTR)
		;
	CHECK(r->ret != -1 || errno != EAGAIN, "recv on a socket whose O_NONBLOCK was cleared failed EAGAIN");
	CHECK(LOAD(&r->sent), "recv on a blocking socket returned %zd before anything was sent", r->ret);
	return NULL;
}

/* fd is blocking again: a recv waits for peer's data. */
static void check_blocks(int fd, int peer, const char *how)
{
	struct receiver r = {.fd = fd};
	pthread_t t = spawn(receiver, &r);
	WAIT_FOR(LOAD(&r.started), 10000, "the receiver to start");
	sleep_ms(50);
	STORE(&r.sent, 1);
	CHECK(send(peer, "blk", 3, 0) == 3, "send failed");
	join(t);
	CHECK(r.ret == 3 && memcmp(r.buf, "blk", 3) == 0, "%s: recv after O_NONBLOCK was cleared returned %zd", how, r.ret);
}

static void check_eagain(int fd, const char *how)
{
	char b[4];
	CHECK(nonblock(fd), "%s: F_GETFL does not show O_NONBLOCK", how);
	errno = 0;
	ssize_t r = recv(fd, b, sizeof b, 0);
	CHECK(r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK), "%s: recv with no data returned %zd (%s), expected EAGAIN",
	      how, r, err_name(errno));
	errno = 0;
	r = read(fd, b, sizeof b);
	CHECK(r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK), "%s: read with no data returned %zd (%s), expected EAGAIN",
	      how, r, err_name(errno));
}

static void nonblocking(void)
{
	int c, s;

	/* socket(SOCK_NONBLOCK) */
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(c >= 0, "socket failed");
	CHECK(nonblock(c), "socket(SOCK_NONBLOCK): F_GETFL does not show O_NONBLOCK");
	if (connect(c, (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0) {
		CHECK(errno == EINPROGRESS, "non-blocking connect failed: %s", strerror(errno));
		struct pollfd p = {.fd = c, .events = POLLOUT};
		CHECK(poll(&p, 1, 10000) == 1, "connect did not complete");
	}
	s = accept_one(listener, 0);
	CHECK(!nonblock(s), "accept(): F_GETFL shows O_NONBLOCK on a blocking socket");
	check_eagain(c, "socket(SOCK_NONBLOCK)");
	close(c);
	close(s);

	/* fcntl(F_SETFL) */
	tcp_pair(&c, &s);
	CHECK(!nonblock(c), "socket(): F_GETFL shows O_NONBLOCK on a blocking socket");
	int fl = fcntl(c, F_GETFL);
	CHECK_OK(fcntl(c, F_SETFL, fl | O_NONBLOCK));
	check_eagain(c, "fcntl(F_SETFL, O_NONBLOCK)");
	CHECK_OK(fcntl(c, F_SETFL, fl & ~O_NONBLOCK));
	CHECK(!nonblock(c), "fcntl(F_SETFL) clearing O_NONBLOCK: F_GETFL still shows it");
	CHECK(fcntl(c, F_GETFL) == fl, "F_GETFL is 0x%x after setting and clearing O_NONBLOCK, was 0x%x", fcntl(c, F_GETFL), fl);
	check_blocks(c, s, "fcntl");

	/* ioctl(FIONBIO) */
	int on = 1, off = 0;
	CHECK_OK(ioctl(c, FIONBIO, &on));
	check_eagain(c, "ioctl(FIONBIO, 1)");
	CHECK_OK(ioctl(c, FIONBIO, &off));
	CHECK(!nonblock(c), "ioctl(FIONBIO, 0): F_GETFL still shows O_NONBLOCK");
	check_blocks(c, s, "FIONBIO");

	/* dup() shares the description and with it O_NONBLOCK. */
	int d = dup(c);
	CHECK(d >= 0, "dup failed");
	CHECK(!nonblock(d), "dup of a blocking socket shows O_NONBLOCK");
	CHECK_OK(fcntl(c, F_SETFL, fl | O_NONBLOCK));
	CHECK(nonblock(d), "O_NONBLOCK set through one fd is not seen through its dup()");
	check_eagain(d, "O_NONBLOCK set through the dup()ed fd");
	CHECK_OK(fcntl(d, F_SETFL, fl));
	CHECK(!nonblock(c), "O_NONBLOCK cleared through a dup() is still seen through the original fd");
	check_blocks(c, s, "dup");
	check_blocks(d, s, "dup (other fd)");
	close(d);
	close(c);
	close(s);

	/* accept4(SOCK_NONBLOCK) */
	c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_OK(connect(c, (struct sockaddr *)&listen_addr, sizeof listen_addr));
	s = accept_one(listener, SOCK_NONBLOCK);
	check_eagain(s, "accept4(SOCK_NONBLOCK)");
	close(c);
	close(s);

	/* Listeners: non-blocking ones fail EAGAIN when nobody connects. */
	struct sockaddr_in a;
	CHECK(!nonblock(listener), "a blocking listener shows O_NONBLOCK");
	int l = make_listener(SOCK_NONBLOCK, &a);
	CHECK(nonblock(l), "socket(SOCK_NONBLOCK) listener: F_GETFL does not show O_NONBLOCK");
	errno = 0;
	CHECK(accept(l, NULL, NULL) == -1 && (errno == EAGAIN || errno == EWOULDBLOCK),
	      "accept on an idle non-blocking listener: %s, expected EAGAIN", err_name(errno));
	/* A socket accepted from it does not inherit O_NONBLOCK (Linux). */
	c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_OK(connect(c, (struct sockaddr *)&a, sizeof a));
	struct pollfd p = {.fd = l, .events = POLLIN};
	CHECK(poll(&p, 1, 10000) == 1, "the non-blocking listener never became readable");
	s = accept(l, NULL, NULL);
	CHECK(s >= 0, "accept on a ready non-blocking listener failed: %s", strerror(errno));
	CHECK(!nonblock(s), "accept() on a non-blocking listener: the new socket shows O_NONBLOCK (Linux does not inherit it)");
	check_blocks(s, c, "accepted from a non-blocking listener");
	close(c);
	close(s);
	close(l);
	l = make_listener(0, &a);
	CHECK_OK(fcntl(l, F_SETFL, O_NONBLOCK));
	errno = 0;
	CHECK(accept(l, NULL, NULL) == -1 && (errno == EAGAIN || errno == EWOULDBLOCK),
	      "accept on an idle listener made non-blocking by fcntl: %s, expected EAGAIN", err_name(errno));
	close(l);
}

/* ---- timeouts ---- */

static void timeouts(void)
{
	int c, s;
	tcp_pair(&c, &s);
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
	CHECK_OK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
	char b[16];
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	CHECK_ERRNO((int)recv(s, b, sizeof b, 0), EAGAIN);
	check_elapsed(now_ns(CLOCK_MONOTONIC) - t0, 200, SLACK_MS, "recv with SO_RCVTIMEO 200 ms");
	t0 = now_ns(CLOCK_MONOTONIC);
	CHECK_ERRNO((int)read(s, b, sizeof b), EAGAIN);
	check_elapsed(now_ns(CLOCK_MONOTONIC) - t0, 200, SLACK_MS, "read with SO_RCVTIMEO 200 ms");
	CHECK(!nonblock(s), "SO_RCVTIMEO made F_GETFL show O_NONBLOCK");
	/* Data within the timeout is received. */
	CHECK(send(c, "in time", 7, 0) == 7, "send failed");
	CHECK(recv(s, b, sizeof b, 0) == 7, "recv with SO_RCVTIMEO and data waiting failed");
	close(c);
	close(s);

	/* SO_SNDTIMEO: small buffers, a peer that never reads. */
	int small = 4096;
	struct sockaddr_in a;
	int l = make_listener(0, &a);
	CHECK_OK(setsockopt(l, SOL_SOCKET, SO_RCVBUF, &small, sizeof small)); /* inherited by accepted sockets */
	c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_OK(setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small, sizeof small));
	CHECK_OK(connect(c, (struct sockaddr *)&a, sizeof a));
	s = accept_one(l, 0);
	CHECK_OK(setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));
	size_t len = 4u << 20;
	char *big = calloc(1, len);
	CHECK(big != NULL, "calloc failed");
	for (int i = 0; i < 2; i++) {
		t0 = now_ns(CLOCK_MONOTONIC);
		errno = 0;
		ssize_t r = send(c, big, len, MSG_NOSIGNAL);
		int e = errno;
		int64_t took = now_ns(CLOCK_MONOTONIC) - t0;
		CHECK((r > 0 && (size_t)r < len) || (r == -1 && (e == EAGAIN || e == EWOULDBLOCK)),
		      "send #%d of 4 MiB with SO_SNDTIMEO to a peer that never reads returned %zd (%s)", i + 1, r, err_name(e));
		check_elapsed(took, 200, SLACK_MS, i ? "second send with SO_SNDTIMEO 200 ms" : "send with SO_SNDTIMEO 200 ms");
		printf("send #%d of 4 MiB with SO_SNDTIMEO 200 ms: %zd%s%s after %.1f ms\n", i + 1, r,
		       r < 0 ? " " : "", r < 0 ? err_name(e) : "", took / 1e6);
	}
	free(big);
	close(c);
	close(s);
	close(l);
}

/* ---- shutdown wakes a blocked recv ---- */

static void *shut_receiver(void *arg)
{
	struct receiver *r = arg;
	STORE(&r->started, 1);
	while ((r->ret = recv(r->fd, r->buf, sizeof r->buf, 0)) < 0 && errno == EINTR)
		;
	CHECK(LOAD(&r->sent), "recv returned %zd before shutdown", r->ret);
	return NULL;
}

static void shutdowns(void)
{
	static const int hows[] = {SHUT_RD, SHUT_RDWR};
	for (int i = 0; i < 2; i++) {
		int c, s;
		tcp_pair(&c, &s);
		struct receiver r = {.fd = s};
		pthread_t t = spawn(shut_receiver, &r);
		WAIT_FOR(LOAD(&r.started), 10000, "the receiver to start");
		sleep_ms(50);
		STORE(&r.sent, 1);
		CHECK_OK(shutdown(s, hows[i]));
		join(t);
		CHECK(r.ret == 0, "recv blocked on a socket shut down with %s returned %zd, expected 0",
		      i ? "SHUT_RDWR" : "SHUT_RD", r.ret);
		close(c);
		close(s);
	}
}

/* ---- many threads in accept on one listener ---- */

#define NACC 8

struct acceptor {
	int started, fd;
	unsigned short peer_port;
};

static void *acceptor(void *arg)
{
	struct acceptor *a = arg;
	STORE(&a->started, 1);
	struct sockaddr_in peer;
	socklen_t len = sizeof peer;
	int fd;
	while ((fd = accept(listener, (struct sockaddr *)&peer, &len)) < 0 && errno == EINTR)
		len = sizeof peer;
	CHECK(fd >= 0, "accept by one of %d threads failed: %s", NACC, strerror(errno));
	a->fd = fd;
	a->peer_port = ntohs(peer.sin_port);
	return NULL;
}

static void many_acceptors(void)
{
	struct acceptor a[NACC];
	pthread_t t[NACC];
	memset(a, 0, sizeof a);
	for (int i = 0; i < NACC; i++)
		t[i] = spawn(acceptor, &a[i]);
	for (int i = 0; i < NACC; i++)
		WAIT_FOR(LOAD(&a[i].started), 10000, "the acceptors to start");
	sleep_ms(50);
	int c[NACC];
	unsigned short port[NACC];
	for (int i = 0; i < NACC; i++) {
		c[i] = socket(AF_INET, SOCK_STREAM, 0);
		CHECK(c[i] >= 0, "socket failed");
		CHECK_OK(connect(c[i], (struct sockaddr *)&listen_addr, sizeof listen_addr));
		struct sockaddr_in me;
		socklen_t len = sizeof me;
		CHECK_OK(getsockname(c[i], (struct sockaddr *)&me, &len));
		port[i] = ntohs(me.sin_port);
	}
	for (int i = 0; i < NACC; i++)
		join(t[i]);
	for (int i = 0; i < NACC; i++) {
		int matches = 0;
		for (int j = 0; j < NACC; j++) {
			CHECK(j == i || a[j].fd != a[i].fd, "two accepting threads got the same fd %d", a[i].fd);
			matches += a[j].peer_port == port[i];
		}
		CHECK(matches == 1, "client %d (port %u) was accepted %d times", i, port[i], matches);
	}
	for (int i = 0; i < NACC; i++) {
		close(a[i].fd);
		close(c[i]);
	}
}

int main(void)
{
	test_begin();
	listener = make_listener(0, &listen_addr);
	/* A port with a bound socket that does not listen refuses connections. */
	int bound = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(bound >= 0, "socket failed");
	memset(&refused_addr, 0, sizeof refused_addr);
	refused_addr.sin_family = AF_INET;
	refused_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_OK(bind(bound, (struct sockaddr *)&refused_addr, sizeof refused_addr));
	socklen_t len = sizeof refused_addr;
	CHECK_OK(getsockname(bound, (struct sockaddr *)&refused_addr, &len));

	connects();
	nonblocking();
	timeouts();
	shutdowns();
	many_acceptors();
	close(bound);
	close(listener);
	return test_pass();
}
