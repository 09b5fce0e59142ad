/*
 * io_signals_eintr: signals and threads blocked in I/O, as Linux does it.
 *   - a thread blocked in read() on an empty pipe gets SIGUSR1 via
 *     pthread_kill, its handler installed without SA_RESTART: read fails
 *     with EINTR, after the handler ran on that thread (pthread_self() in
 *     the handler is the target)
 *   - with SA_RESTART (SIGUSR2): the handler runs on the target, the read
 *     does not return, and returns the data written 100 ms later
 *   - poll(), select() and epoll_wait() blocked with an infinite timeout
 *     fail with EINTR on a handled signal even though its handler has
 *     SA_RESTART (Linux never restarts them)
 *   - a signal whose disposition is SIG_IGN (SIGUSR1), or whose default
 *     action is to ignore it (SIGWINCH), does not interrupt a blocked
 *     read(): it returns the data written afterwards
 * A signal sent before the target thread is inside the call would be
 * handled and leave it blocked, so where EINTR is expected the signal is
 * re-sent every 20 ms until the call returns; before the other checks main
 * waits until /proc/self/task/TID/syscall shows the thread in read() (or
 * 300 ms when it does not show it).
 */
/* shim-skip: S2: errno read through an address cached before a migration: GMP_TLS=shared does not promise it */
#include "common.h"
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>

static volatile sig_atomic_t handled;
static pthread_t handled_on;
static volatile sig_atomic_t handled_elsewhere;
static pthread_t target;

static void on_signal(int sig)
{
	(void)sig;
	pthread_t self = pthread_self();
	if (!pthread_equal(self, target))
		handled_elsewhere = 1;
	handled_on = self;
	handled++;
}



/* ---- one blocking call in a thread ---- */

enum { B_READ, B_POLL, B_SELECT, B_EPOLL };
static const char *const bname[] = {"read", "poll", "select", "epoll_wait"};

struct blocker {
	int kind;
	int fd, epfd;
	pid_t tid;
	int started, done, written;
	long ret;
	int err;
	char buf[16];
};

static void *blocker(void *arg)
{
	struct blocker *b = arg;
	b->tid = gettid();
	STORE(&b->started, 1);
	errno = 0;
	switch (b->kind) { /* one call each: no EINTR retry */
	case B_READ:
		b->ret = read(b->fd, b->buf, sizeof b->buf);
		break;
	case B_POLL: {
		struct pollfd p = {.fd = b->fd, .events = POLLIN};
		b->ret = poll(&p, 1, -1);
		break;
	}
	case B_SELECT: {
		fd_set rs;
		FD_ZERO(&rs);
		FD_SET(b->fd, &rs);
		b->ret = select(b->fd + 1, &rs, NULL, NULL, NULL);
		break;
	}
	case B_EPOLL: {
		struct epoll_event ev;
		b->ret = epoll_wait(b->epfd, &ev, 1, -1);
		break;
	}
	}
	b->err = errno;
	STORE(&b->done, 1);
	return NULL;
}

static pthread_t start_blocker(struct blocker *b, int kind, int fd)
{
	memset(b, 0, sizeof *b);
	b->kind = kind;
	b->fd = fd;
	if (kind == B_EPOLL) {
		b->epfd = epoll_create1(0);
		CHECK(b->epfd >= 0, "epoll_create1 failed: %s", strerror(errno));
		struct epoll_event ev = {.events = EPOLLIN};
		CHECK_OK(epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev));
	}
	handled = 0;
	handled_elsewhere = 0;
	pthread_t t = spawn(blocker, b);
	target = t;
	WAIT_FOR(LOAD(&b->started), 10000, "the blocked thread to start");
	if (kind == B_READ)
		wait_in_syscall(b->tid, SYS_read, SYS_read, fd, 300);
	return t;
}

/* Signal t every 20 ms until its call returns; it must fail EINTR. */
static void expect_eintr(pthread_t t, struct blocker *b, int sig, const char *how)
{
	int64_t end = now_ns(CLOCK_MONOTONIC) + 10 * NSEC_PER_SEC;
	while (!LOAD(&b->done)) {
		CHECK(now_ns(CLOCK_MONOTONIC) < end, "%s blocked on an empty pipe: not interrupted by %s within 10 s (handler ran %d times)",
		      bname[b->kind], how, (int)handled);
		pthread_kill(t, sig); /* (the call may be returning: no check) */
		for (int i = 0; i < 20 && !LOAD(&b->done); i++)
			sleep_ms(1);
	}
	join(t);
	CHECK(b->ret == -1 && b->err == EINTR, "%s interrupted by %s returned %ld (%s), expected -1 EINTR",
	      bname[b->kind], how, b->ret, err_name(b->err));
	CHECK(handled >= 1, "%s returned EINTR but the handler never ran", bname[b->kind]);
	CHECK(!handled_elsewhere && pthread_equal(handled_on, t), "%s: the handler of a signal sent with pthread_kill ran on another thread",
	      how);
}

/* The call must still be blocked; then data arrives and it returns it. */
static void expect_data(pthread_t t, struct blocker *b, int wfd, const char *how)
{
	sleep_ms(100);
	CHECK(!LOAD(&b->done), "read blocked on an empty pipe returned %ld (%s) after %s", b->ret, err_name(b->err), how);
	STORE(&b->written, 1);
	CHECK(write(wfd, "payload", 7) == 7, "write failed: %s", strerror(errno));
	join(t);
	CHECK(b->ret == 7 && memcmp(b->buf, "payload", 7) == 0, "read after %s returned %ld (%s), expected the 7 bytes written",
	      how, b->ret, err_name(b->err));
}

int main(void)
{
	test_begin();
	int p[2];
	CHECK_OK(pipe(p));
	struct blocker b;
	pthread_t t;

	/* No SA_RESTART: EINTR. */
	install_handler(SIGUSR1, on_signal, 0);
	t = start_blocker(&b, B_READ, p[0]);
	expect_eintr(t, &b, SIGUSR1, "SIGUSR1 (handler without SA_RESTART)");

	/* SA_RESTART: the read goes on. */
	install_handler(SIGUSR2, on_signal, SA_RESTART);
	t = start_blocker(&b, B_READ, p[0]);
	CHECK_RC(pthread_kill(t, SIGUSR2), 0);
	WAIT_FOR(handled >= 1, 10000, "the SIGUSR2 handler to run");
	CHECK(!handled_elsewhere && pthread_equal(handled_on, t), "the SIGUSR2 handler ran on another thread than the target");
	expect_data(t, &b, p[1], "a SIGUSR2 handled with SA_RESTART");

	/* poll, select, epoll_wait: EINTR even with SA_RESTART. */
	for (int kind = B_POLL; kind <= B_EPOLL; kind++) {
		t = start_blocker(&b, kind, p[0]);
		expect_eintr(t, &b, SIGUSR2, "SIGUSR2 (handler with SA_RESTART)");
		if (kind == B_EPOLL)
			close(b.epfd);
	}

	/* Ignored signals do not interrupt. */
	CHECK(signal(SIGUSR1, SIG_IGN) != SIG_ERR, "signal(SIGUSR1, SIG_IGN) failed");
	CHECK(signal(SIGWINCH, SIG_DFL) != SIG_ERR, "signal(SIGWINCH, SIG_DFL) failed");
	t = start_blocker(&b, B_READ, p[0]);
	CHECK_RC(pthread_kill(t, SIGUSR1), 0);
	sleep_ms(50);
	CHECK_RC(pthread_kill(t, SIGWINCH), 0);
	expect_data(t, &b, p[1], "SIGUSR1 with SIG_IGN and SIGWINCH with its default (ignore)");

	close(p[0]);
	close(p[1]);
	return test_pass();
}
