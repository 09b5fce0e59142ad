/*
 * io_poll: the readiness calls poll, ppoll, select, pselect, epoll_wait
 * and epoll_pwait, from threads.
 *   - timeouts: each call, on an empty pipe with a 150 ms timeout, returns
 *     0 no earlier than 150 ms and at most 200 ms late; the six run at
 *     the same time in six threads (a waiting poller must not hold up the
 *     others); select() writes the unslept time back (0 after a timeout),
 *     as Linux does
 *   - timeout 0 returns at once: 0 on an empty pipe, 1 when it has data
 *   - wake-ups: each call, blocked with an infinite timeout on its own
 *     pipe, stays blocked until another thread writes to that pipe, then
 *     reports it readable (POLLIN, FD_ISSET, the epoll event with its
 *     data); poll for POLLOUT on a full pipe wakes when another thread
 *     drains it; poll on a read end reports POLLHUP when another thread
 *     closes the write end
 *   - poll on a closed descriptor reports POLLNVAL at once, even with a
 *     long timeout; an entry with a negative fd is ignored (revents 0);
 *     select and pselect with a closed descriptor in a set fail EBADF
 *   - poll(NULL, 0, 50) sleeps 50 ms
 *   - an epoll fd is itself pollable: poll() on an epoll fd whose watched
 *     pipe becomes readable (written by another thread) reports POLLIN
 *   - 50 threads each blocked in poll on its own pipe are all woken by
 *     writes from main (in reverse order), each by its own byte
 */
/* shim-skip: S2: errno read through an address cached before a migration: GMP_TLS=shared does not promise it */
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>

enum { C_POLL, C_PPOLL, C_SELECT, C_PSELECT, C_EPOLL_WAIT, C_EPOLL_PWAIT, C_COUNT };
static const char *const cname[C_COUNT] = {"poll", "ppoll", "select", "pselect", "epoll_wait", "epoll_pwait"};

#define SLACK_MS 200

/*
 * Wait with call `c` until `fd` is readable or timeout_ms (-1: forever)
 * passes.  Returns the call's result (-1 with errno on failure); *ready
 * says whether the call reported fd readable, and nothing else.
 */
static int wait_readable(int c, int fd, int timeout_ms, int *ready)
{
	struct timespec ts, *tsp = NULL;
	struct timeval tv, *tvp = NULL;
	if (timeout_ms >= 0) {
		ts = ns_ts(timeout_ms * 1000000LL);
		tsp = &ts;
		tv.tv_sec = timeout_ms / 1000;
		tv.tv_usec = (timeout_ms % 1000) * 1000;
		tvp = &tv;
	}
	sigset_t mask; /* for the p-variants: a mask that changes nothing useful */
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR2);
	*ready = 0;
	int r = -1, e;
	switch (c) {
	case C_POLL:
	case C_PPOLL: {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		r = c == C_POLL ? poll(&p, 1, timeout_ms) : ppoll(&p, 1, tsp, &mask);
		e = errno;
		CHECK(r <= 0 || p.revents == POLLIN, "%s: revents 0x%x, expected POLLIN", cname[c], p.revents);
		*ready = r == 1;
		break;
	}
	case C_SELECT:
	case C_PSELECT: {
		fd_set rs;
		FD_ZERO(&rs);
		FD_SET(fd, &rs);
		r = c == C_SELECT ? select(fd + 1, &rs, NULL, NULL, tvp) : pselect(fd + 1, &rs, NULL, NULL, tsp, &mask);
		e = errno;
		if (r >= 0)
			*ready = FD_ISSET(fd, &rs);
		CHECK(r != 0 || !FD_ISSET(fd, &rs), "%s returned 0 but left the fd in the set", cname[c]);
		if (c == C_SELECT && r == 0 && tvp)
			CHECK(tv.tv_sec == 0 && tv.tv_usec == 0, "select timed out but left %ld.%06ld s in its timeval (Linux writes 0)",
			      (long)tv.tv_sec, (long)tv.tv_usec);
		break;
	}
	default: {
		int ep = epoll_create1(EPOLL_CLOEXEC);
		CHECK(ep >= 0, "epoll_create1 failed: %s", strerror(errno));
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x5eed0000ULL + (uint64_t)fd};
		CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
		struct epoll_event out[4];
		memset(out, 0, sizeof out);
		r = c == C_EPOLL_WAIT ? epoll_wait(ep, out, 4, timeout_ms) : epoll_pwait(ep, out, 4, timeout_ms, &mask);
		e = errno;
		if (r == 1) {
			CHECK(out[0].events == EPOLLIN && out[0].data.u64 == ev.data.u64,
			      "%s: event 0x%x data %llx, expected EPOLLIN and %llx", cname[c], out[0].events,
			      (unsigned long long)out[0].data.u64, (unsigned long long)ev.data.u64);
			*ready = 1;
		}
		CHECK(r <= 1, "%s returned %d events for one fd", cname[c], r);
		close(ep);
		break;
	}
	}
	errno = e;
	return r;
}

/* ---- timeouts ---- */

static int empty_pipe[2];

static void *timeout_waiter(void *arg)
{
	int c = (int)(long)arg, ready;
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	int r = wait_readable(c, empty_pipe[0], 150, &ready);
	int64_t took = now_ns(CLOCK_MONOTONIC) - t0;
	CHECK(r == 0, "%s with a 150 ms timeout on an empty pipe returned %d (%s), expected 0", cname[c], r, strerror(errno));
	char what[64];
	snprintf(what, sizeof what, "%s with a 150 ms timeout", cname[c]);
	check_elapsed(took, 150, SLACK_MS, what);
	return NULL;
}

static void timeouts(void)
{
	CHECK_OK(pipe(empty_pipe));
	pthread_t t[C_COUNT];
	for (long c = 0; c < C_COUNT; c++)
		t[c] = spawn(timeout_waiter, (void *)c);
	for (int c = 0; c < C_COUNT; c++)
		join(t[c]);

	/* Timeout 0: at once, 0 on an empty pipe and 1 with data. */
	int p[2];
	CHECK_OK(pipe(p));
	for (int c = 0; c < C_COUNT; c++) {
		int ready;
		int64_t t0 = now_ns(CLOCK_MONOTONIC);
		int r = wait_readable(c, p[0], 0, &ready);
		int64_t took = now_ns(CLOCK_MONOTONIC) - t0;
		CHECK(r == 0, "%s with timeout 0 on an empty pipe returned %d (%s)", cname[c], r, strerror(errno));
		CHECK(took < SLACK_MS * 1000000LL, "%s with timeout 0 took %.3f ms", cname[c], took / 1e6);
	}
	CHECK(write(p[1], "d", 1) == 1, "write failed");
	for (int c = 0; c < C_COUNT; c++) {
		int ready;
		int r = wait_readable(c, p[0], 0, &ready);
		CHECK(r == 1 && ready, "%s with timeout 0 on a pipe with data returned %d (%s), ready %d", cname[c], r, strerror(errno), ready);
	}
	close(p[0]);
	close(p[1]);

	/* poll with no descriptors is a sleep. */
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	CHECK(poll(NULL, 0, 50) == 0, "poll(NULL, 0, 50) failed: %s", strerror(errno));
	check_elapsed(now_ns(CLOCK_MONOTONIC) - t0, 50, SLACK_MS, "poll(NULL, 0, 50)");
}

/* ---- wake-ups by another thread ---- */

struct waiter {
	int call;
	int fd[2];
	int started, done, written;
	int ret, ready;
};

static void *wake_waiter(void *arg)
{
	struct waiter *w = arg;
	STORE(&w->started, 1);
	int r;
	do
		r = wait_readable(w->call, w->fd[0], -1, &w->ready);
	while (r < 0 && errno == EINTR);
	w->ret = r;
	CHECK(LOAD(&w->written), "%s with an infinite timeout returned %d (ready %d) before the pipe was written",
	      cname[w->call], r, w->ready);
	STORE(&w->done, 1);
	return NULL;
}

static void wakeups(void)
{
	struct waiter w[C_COUNT];
	pthread_t t[C_COUNT];
	memset(w, 0, sizeof w);
	for (int c = 0; c < C_COUNT; c++) {
		w[c].call = c;
		CHECK_OK(pipe(w[c].fd));
		t[c] = spawn(wake_waiter, &w[c]);
	}
	for (int c = 0; c < C_COUNT; c++)
		WAIT_FOR(LOAD(&w[c].started), 10000, "the pollers to start");
	sleep_ms(50);
	for (int c = 0; c < C_COUNT; c++) {
		CHECK(!LOAD(&w[c].done), "%s with an infinite timeout on an empty pipe returned", cname[c]);
		STORE(&w[c].written, 1);
		CHECK(write(w[c].fd[1], "w", 1) == 1, "write failed");
		join(t[c]);
		CHECK(w[c].ret == 1 && w[c].ready, "%s woken by a write returned %d, ready %d", cname[c], w[c].ret, w[c].ready);
		close(w[c].fd[0]);
		close(w[c].fd[1]);
	}
}

/* POLLOUT on a full pipe, POLLHUP on a closed writer, POLLIN on an epoll fd. */
struct poll1 {
	struct pollfd pfd;
	int started, trigger_done;
	int ret;
};

static void *poll1_waiter(void *arg)
{
	struct poll1 *p = arg;
	STORE(&p->started, 1);
	int r;
	while ((r = poll(&p->pfd, 1, -1)) < 0 && errno == EINTR)
		;
	CHECK(LOAD(&p->trigger_done), "poll(fd %d, events 0x%x) returned %d (revents 0x%x) before the other thread acted",
	      p->pfd.fd, p->pfd.events, r, p->pfd.revents);
	p->ret = r;
	return NULL;
}

static pthread_t start_poll1(struct poll1 *p, int fd, short events)
{
	memset(p, 0, sizeof *p);
	p->pfd.fd = fd;
	p->pfd.events = events;
	pthread_t t = spawn(poll1_waiter, p);
	WAIT_FOR(LOAD(&p->started), 10000, "the poller to start");
	sleep_ms(50);
	return t;
}

static void other_events(void)
{
	struct poll1 p;
	int fds[2];

	/* POLLOUT: a full pipe becomes writable when another thread drains it. */
	CHECK_OK(pipe(fds));
	CHECK_OK(fcntl(fds[1], F_SETFL, O_NONBLOCK));
	char page[4096];
	memset(page, 'f', sizeof page);
	while (write(fds[1], page, sizeof page) > 0)
		;
	CHECK(errno == EAGAIN, "filling a pipe: %s", strerror(errno));
	pthread_t t = start_poll1(&p, fds[1], POLLOUT);
	STORE(&p.trigger_done, 1);
	for (int i = 0; i < 4; i++) /* more than a page of room: writable again */
		CHECK(read(fds[0], page, sizeof page) == sizeof page, "draining the pipe failed");
	join(t);
	CHECK(p.ret == 1 && p.pfd.revents == POLLOUT, "poll for POLLOUT on a drained pipe: %d, revents 0x%x", p.ret, p.pfd.revents);
	close(fds[0]);
	close(fds[1]);

	/* POLLHUP: the write end is closed by another thread. */
	CHECK_OK(pipe(fds));
	t = start_poll1(&p, fds[0], POLLIN);
	STORE(&p.trigger_done, 1);
	CHECK_OK(close(fds[1]));
	join(t);
	CHECK(p.ret == 1 && (p.pfd.revents & POLLHUP) && !(p.pfd.revents & POLLIN),
	      "poll on a pipe whose writer closed: %d, revents 0x%x, expected POLLHUP", p.ret, p.pfd.revents);
	close(fds[0]);

	/* An epoll fd is pollable: POLLIN when a watched pipe is readable. */
	CHECK_OK(pipe(fds));
	int ep = epoll_create1(0);
	CHECK(ep >= 0, "epoll_create1 failed: %s", strerror(errno));
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 77};
	CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, fds[0], &ev));
	t = start_poll1(&p, ep, POLLIN);
	STORE(&p.trigger_done, 1);
	CHECK(write(fds[1], "e", 1) == 1, "write failed");
	join(t);
	CHECK(p.ret == 1 && p.pfd.revents == POLLIN, "poll on an epoll fd whose pipe was written: %d, revents 0x%x", p.ret, p.pfd.revents);
	struct epoll_event out;
	CHECK(epoll_wait(ep, &out, 1, 0) == 1 && out.data.u32 == 77, "the epoll fd reported readable has no event");
	close(ep);
	close(fds[0]);
	close(fds[1]);
}

/* ---- bad descriptors ---- */

static void bad_fds(void)
{
	int fds[2];
	CHECK_OK(pipe(fds));
	int closed = fds[0];
	CHECK_OK(close(closed));

	struct pollfd p = {.fd = closed, .events = POLLIN};
	CHECK(poll(&p, 1, 0) == 1 && p.revents == POLLNVAL, "poll on a closed fd (timeout 0): revents 0x%x, expected POLLNVAL", p.revents);
	p.revents = 0;
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	CHECK(poll(&p, 1, 5000) == 1 && p.revents == POLLNVAL, "poll on a closed fd (timeout 5 s): revents 0x%x, expected POLLNVAL", p.revents);
	CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 1000 * 1000000LL, "poll on a closed fd with a 5 s timeout took %.3f ms, expected at once",
	      (now_ns(CLOCK_MONOTONIC) - t0) / 1e6);
	struct timespec ts = {.tv_sec = 5};
	p.revents = 0;
	CHECK(ppoll(&p, 1, &ts, NULL) == 1 && p.revents == POLLNVAL, "ppoll on a closed fd: revents 0x%x, expected POLLNVAL", p.revents);

	/* A negative fd is ignored; the other entry still counts. */
	int ok[2];
	CHECK_OK(pipe(ok));
	struct pollfd two[2] = {{.fd = -1, .events = POLLIN, .revents = 0x7}, {.fd = ok[1], .events = POLLOUT}};
	CHECK(poll(two, 2, 1000) == 1, "poll with a negative fd and a writable pipe did not return 1");
	CHECK(two[0].revents == 0 && two[1].revents == POLLOUT, "poll with fd -1: revents 0x%x / 0x%x, expected 0 / POLLOUT",
	      two[0].revents, two[1].revents);
	close(ok[0]);
	close(ok[1]);

	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(closed, &rs);
	struct timeval tv = {.tv_sec = 5};
	CHECK_ERRNO(select(closed + 1, &rs, NULL, NULL, &tv), EBADF);
	FD_ZERO(&rs);
	FD_SET(closed, &rs);
	CHECK_ERRNO(pselect(closed + 1, &rs, NULL, NULL, &ts, NULL), EBADF);
	close(fds[1]);
}

/* ---- many pollers ---- */

#define NPOLLERS 50

static int many[NPOLLERS][2];
static int many_started;

static void *many_poller(void *arg)
{
	long i = (long)arg;
	struct pollfd p = {.fd = many[i][0], .events = POLLIN};
	ADD(&many_started, 1);
	int r;
	while ((r = poll(&p, 1, -1)) < 0 && errno == EINTR)
		;
	CHECK(r == 1 && p.revents == POLLIN, "poller %ld: poll returned %d, revents 0x%x", i, r, p.revents);
	unsigned char c;
	CHECK(read(many[i][0], &c, 1) == 1 && c == (unsigned char)i, "poller %ld read the wrong byte", i);
	return NULL;
}

static void many_pollers(void)
{
	pthread_t t[NPOLLERS];
	for (long i = 0; i < NPOLLERS; i++) {
		CHECK_OK(pipe(many[i]));
		t[i] = spawn(many_poller, (void *)i);
	}
	WAIT_FOR(LOAD(&many_started) == NPOLLERS, 10000, "50 pollers to start");
	sleep_ms(50);
	for (int i = NPOLLERS - 1; i >= 0; i--) {
		unsigned char c = (unsigned char)i;
		CHECK(write(many[i][1], &c, 1) == 1, "write failed");
	}
	for (int i = 0; i < NPOLLERS; i++) {
		join(t[i]);
		close(many[i][0]);
		close(many[i][1]);
	}
}

int main(void)
{
	test_begin();
	timeouts();
	wakeups();
	other_events();
	bad_fds();
	many_pollers();
	return test_pass();
}
