/*
 * io_close_blocked: close() of a descriptor while another thread is
 * blocked on it.  What is checked is the Linux kernel's behaviour (a
 * blocked system call holds its own reference to the open file, so
 * close() only removes the descriptor number from the table), which a
 * runtime that parks blocked threads in user space must reproduce:
 *   - a thread blocked in read() on a pipe's read end; main closes that
 *     fd: the reader stays blocked.  Main then makes a new pipe (which
 *     usually gets the same fd number back: printed) and writes to the
 *     NEW pipe: the blocked reader must not get those bytes.  Main then
 *     writes to the OLD pipe's write end: the reader returns exactly those
 *     bytes; the new pipe still holds its own
 *   - a thread blocked in accept() on a listening TCP socket, which
 *     another thread closes: the listener stays alive while the accept is
 *     in progress, so a connect() to its port still succeeds and the
 *     blocked accept() returns that connection (data flows over it); once
 *     that accept has returned, the last reference is gone and a new
 *     connect() to the port is refused
 * Before closing, main waits until /proc/self/task/TID/syscall shows the
 * thread inside the call (or 300 ms when that file does not show it).
 */
/* shim-skip: S2: errno read through an address cached before a migration: GMP_TLS=shared does not promise it */
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>

/* Wait until thread `tid` is inside system call nr1 or nr2 with first
 * argument `arg0`, as /proc shows it; give up quietly after max_ms (the
 * caller then relies on the time that passed). */

/* ---- read() on a pipe whose fd is closed ---- */

static int old_pipe[2];
static pid_t reader_tid;
static int reader_started, reader_done;
static ssize_t reader_ret;
static int reader_err;
static char reader_buf[64];

static void *reader(void *arg)
{
	reader_tid = gettid();
	int fd = old_pipe[0];
	STORE(&reader_started, 1);
	do {
		errno = 0;
		reader_ret = read(fd, reader_buf, sizeof reader_buf);
		reader_err = errno;
	} while (reader_ret < 0 && reader_err == EINTR);
	STORE(&reader_done, 1);
	return NULL;
}

static void read_after_close(void)
{
	CHECK_OK(pipe(old_pipe));
	int oldfd = old_pipe[0];
	pthread_t t = spawn(reader, NULL);
	WAIT_FOR(LOAD(&reader_started), 10000, "the reader to start");
	int seen = wait_in_syscall(reader_tid, SYS_read, SYS_read, oldfd, 300);
	printf("reader seen in read(%d) by /proc: %s\n", oldfd, seen ? "yes" : "no");

	CHECK_OK(close(oldfd));
	sleep_ms(100);
	CHECK(!LOAD(&reader_done), "read() returned %zd (%s) when another thread closed its fd; on Linux it stays blocked",
	      reader_ret, err_name(reader_err));

	int newp[2];
	CHECK_OK(pipe(newp));
	printf("new pipe reused the closed fd number %d: %s\n", oldfd, newp[0] == oldfd || newp[1] == oldfd ? "yes" : "no");
	CHECK(write(newp[1], "NEW", 3) == 3, "write to the new pipe failed: %s", strerror(errno));
	sleep_ms(100);
	CHECK(!LOAD(&reader_done), "the reader blocked on the closed pipe returned %zd (%.*s) after a write to a new pipe%s",
	      reader_ret, reader_ret > 0 ? (int)reader_ret : 0, reader_buf, newp[0] == oldfd ? " that reused its fd number" : "");

	CHECK(write(old_pipe[1], "OLD!", 4) == 4, "write to the old pipe failed: %s", strerror(errno));
	join(t);
	CHECK(reader_ret == 4 && memcmp(reader_buf, "OLD!", 4) == 0,
	      "the reader blocked on the closed pipe returned %zd (%s) \"%.*s\", expected the 4 bytes \"OLD!\" written to the old pipe",
	      reader_ret, err_name(reader_err), reader_ret > 0 ? (int)reader_ret : 0, reader_buf);

	struct pollfd p = {.fd = newp[0], .events = POLLIN};
	CHECK(poll(&p, 1, 0) == 1, "the new pipe lost its data");
	char b[8];
	CHECK(read(newp[0], b, sizeof b) == 3 && memcmp(b, "NEW", 3) == 0, "the new pipe does not hold \"NEW\"");
	CHECK_OK(close(old_pipe[1]));
	CHECK_OK(close(newp[0]));
	CHECK_OK(close(newp[1]));
}

/* ---- accept() on a listener another thread closes ---- */

static int listener;
static pid_t acceptor_tid;
static int acceptor_started, acceptor_done, accepted_fd = -1, accept_err;
static unsigned short accepted_peer_port;

static void *acceptor(void *arg)
{
	acceptor_tid = gettid();
	int fd = listener;
	STORE(&acceptor_started, 1);
	struct sockaddr_in peer;
	socklen_t len;
	int r;
	do {
		len = sizeof peer;
		errno = 0;
		r = accept(fd, (struct sockaddr *)&peer, &len);
		accept_err = errno;
	} while (r < 0 && accept_err == EINTR);
	accepted_fd = r;
	if (r >= 0)
		accepted_peer_port = ntohs(peer.sin_port);
	STORE(&acceptor_done, 1);
	return NULL;
}

static void *closer(void *arg)
{
	CHECK_OK(close(listener));
	return NULL;
}

static void accept_after_close(void)
{
	struct sockaddr_in addr;
	listener = tcp_listener(0, 8, &addr);

	pthread_t t = spawn(acceptor, NULL);
	WAIT_FOR(LOAD(&acceptor_started), 10000, "the acceptor to start");
	int seen = wait_in_syscall(acceptor_tid, SYS_accept, SYS_accept4, listener, 300);
	printf("acceptor seen in accept(%d) by /proc: %s\n", listener, seen ? "yes" : "no");
	join(spawn(closer, NULL));
	sleep_ms(100);
	CHECK(!LOAD(&acceptor_done), "accept() returned %d (%s) when another thread closed the listener; on Linux it stays blocked",
	      accepted_fd, err_name(accept_err));

	int c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(c >= 0, "socket failed: %s", strerror(errno));
	CHECK_OK(connect(c, (struct sockaddr *)&addr, sizeof addr));
	struct sockaddr_in me;
	socklen_t alen = sizeof me;
	CHECK_OK(getsockname(c, (struct sockaddr *)&me, &alen));
	join(t);
	CHECK(accepted_fd >= 0, "the accept() blocked on the closed listener failed: %s", err_name(accept_err));
	CHECK(accepted_peer_port == ntohs(me.sin_port), "the blocked accept() returned a connection from port %u, the client is on %u",
	      accepted_peer_port, ntohs(me.sin_port));
	CHECK(send(c, "late", 4, 0) == 4, "send failed: %s", strerror(errno));
	char b[8];
	CHECK(recv(accepted_fd, b, sizeof b, 0) == 4 && memcmp(b, "late", 4) == 0, "no data over the late-accepted connection");
	CHECK_OK(close(accepted_fd));
	CHECK_OK(close(c));

	/* The accept has returned: the listener is gone now. */
	c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(c >= 0, "socket failed: %s", strerror(errno));
	CHECK_ERRNO(connect(c, (struct sockaddr *)&addr, sizeof addr), ECONNREFUSED);
	CHECK_OK(close(c));
}

int main(void)
{
	test_begin();
	read_after_close();
	accept_after_close();
	return test_pass();
}
