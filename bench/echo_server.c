/*
 * echo_server: an ordinary thread-per-connection TCP echo server, the
 * server half of the echo macro-benchmark (bench/run_echo.sh).
 *
 * It is deliberately the program libgmpthread is meant for, written the
 * plain way: built with `gcc -O2 -pthread`, no libgmpthread header, blocking
 * sockets, one acceptor thread and one detached thread per connection that
 * loops read()/write() until EOF.  The same binary runs natively (one OS
 * thread per connection) and under LD_PRELOAD=libgmpthread.so (one user
 * thread per connection on GMP_MAXPROCS OS threads, once blocking socket
 * I/O parks the user thread instead of its OS thread).
 *
 *   echo_server [PORT]      listen on 127.0.0.1:PORT (default 0: an
 *                           ephemeral port); prints "port N" on stdout
 *                           (flushed) once it is listening
 *
 * Sized for 10,000 concurrent connections: RLIMIT_NOFILE's soft limit is
 * raised to the hard limit at start, the listen backlog asks for 8192 (the
 * kernel caps it at net.core.somaxconn), and connection threads get 64 KiB
 * stacks (10,000 of them natively: ~640 MiB reserved, a few pages each
 * touched).  A connection whose thread cannot be created is closed and
 * counted on stderr; the server keeps accepting.
 *
 * It stops on SIGTERM or SIGINT by their default action (both restored to
 * SIG_DFL at start, since a non-interactive shell starts background jobs
 * with SIGINT ignored).  There is no handler on purpose: there is nothing to
 * flush, and a process killed by the kernel stops even when every one of its
 * threads is stuck in a system call.  SIGPIPE is ignored, so a client that
 * vanishes mid-write costs an EPIPE on that connection only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BACKLOG        8192          /* capped by net.core.somaxconn        */
#define CONN_STACK     (64 * 1024)   /* stack of each connection thread     */
#define IO_BUF         4096          /* on the 64 KiB stack: keep it small  */

static pthread_attr_t conn_attr;     /* detached, CONN_STACK                */

static void die(const char *what)
{
	fprintf(stderr, "echo_server: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Write all of buf[0..len); 0 on success, -1 when the connection is gone. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One thread per connection: echo every byte back until EOF or an error. */
static void *serve_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[IO_BUF];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == 0)
			break;                  /* client closed                  */
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;                  /* ECONNRESET and the like        */
		}
		if (write_all(fd, buf, (size_t)n) < 0)
			break;
	}
	close(fd);
	return NULL;
}

/* Sleep a few milliseconds (back-off when out of descriptors or memory). */
static void pause_ms(long ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = ms * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The acceptor thread: accept, set TCP_NODELAY, hand off to a new thread. */
static void *acceptor(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	unsigned long create_failures = 0, fd_shortages = 0;

	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			switch (errno) {
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				/* Out of descriptors or memory: report the first
				 * few, wait for connections to close, retry. */
				if (fd_shortages++ < 5)
					fprintf(stderr, "echo_server: accept: %s "
						"(retrying)\n", strerror(errno));
				pause_ms(10);
				continue;
			default:
				die("accept");
			}
		}
		int one = 1;
		/* One write per request: do not let Nagle hold back the echo. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

		pthread_t t;
		int rc = pthread_create(&t, &conn_attr, serve_conn,
					(void *)(intptr_t)fd);
		if (rc != 0) {
			if (create_failures++ < 5)
				fprintf(stderr, "echo_server: pthread_create: %s "
					"(connection closed)\n", strerror(rc));
			close(fd);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: %s [PORT]   (0 or none: ephemeral port, "
			"printed as \"port N\")\n", argv[0]);
		return 2;
	}
	char *end;
	long port = argc == 2 ? strtol(argv[1], &end, 10) : 0;
	if (argc == 2 && (*end != '\0' || port < 0 || port > 65535)) {
		fprintf(stderr, "echo_server: bad port: %s\n", argv[1]);
		return 2;
	}

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);

	/* One descriptor per connection: raise the soft limit to the hard one. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			fprintf(stderr, "echo_server: setrlimit(NOFILE): %s\n",
				strerror(errno));
	}

	int rc;
	if ((rc = pthread_attr_init(&conn_attr)) != 0 ||
	    (rc = pthread_attr_setstacksize(&conn_attr, CONN_STACK)) != 0 ||
	    (rc = pthread_attr_setdetachstate(&conn_attr,
					      PTHREAD_CREATE_DETACHED)) != 0) {
		errno = rc;
		die("pthread_attr");
	}

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	int one = 1;
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		die("setsockopt(SO_REUSEADDR)");
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("bind");
	if (listen(lfd, BACKLOG) < 0)
		die("listen");
	socklen_t salen = sizeof sa;
	if (getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0)
		die("getsockname");

	printf("port %u\n", (unsigned)ntohs(sa.sin_port));
	fflush(stdout);

	/* The acceptor runs in its own thread (default attributes); main
	 * waits for it, which is forever unless accept fails fatally. */
	pthread_t t;
	if ((rc = pthread_create(&t, NULL, acceptor, (void *)(intptr_t)lfd)) != 0) {
		errno = rc;
		die("pthread_create(acceptor)");
	}
	pthread_join(t, NULL);
	return 1;
}
