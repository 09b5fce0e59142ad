/*
 * cancel_syscalls: deferred cancellation of threads blocked in system
 * calls that are cancellation points (besides those in cancel.c): pause,
 * write (full pipe), recv (socketpair), accept (listening socket), poll,
 * ppoll, select, epoll_wait, waitpid (child that never exits on its own).
 * Each thread is cancelled on its own, then all at once; each must run its
 * cleanup handler and join as PTHREAD_CANCELED within 10 s, and the call
 * must not have returned.  Afterwards the descriptors still work: the
 * pipe drains and the socketpair carries data.
 */
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <semaphore.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

enum { B_PAUSE, B_WRITE, B_RECV, B_ACCEPT, B_POLL, B_PPOLL, B_SELECT, B_EPOLL, B_WAITPID, B_COUNT };
static const char *const bname[B_COUNT] = {
	"pause", "write", "recv", "accept", "poll", "ppoll", "select", "epoll_wait", "waitpid",
};

static sem_t ready;
static int pipe_empty[2], pipe_full[2], sockpair[2], listener, epfd;
static pid_t child;
static int cleanup_ran[B_COUNT], returned[B_COUNT];

static void cleanup(void *arg)
{
	cleanup_ran[(long)arg]++;
}

static void *blocker(void *arg)
{
	long i = (long)arg;
	char buf[64];
	long r = 0;
	pthread_cleanup_push(cleanup, arg);
	sem_post(&ready);
	switch (i) {
	case B_PAUSE:
		r = pause();
		break;
	case B_WRITE:
		memset(buf, 'x', sizeof buf);
		r = write(pipe_full[1], buf, sizeof buf);
		break;
	case B_RECV:
		r = recv(sockpair[0], buf, sizeof buf, 0);
		break;
	case B_ACCEPT:
		r = accept(listener, NULL, NULL);
		break;
	case B_POLL: {
		struct pollfd pfd = {.fd = pipe_empty[0], .events = POLLIN};
		r = poll(&pfd, 1, 20000);
		break;
	}
	case B_PPOLL: {
		struct pollfd pfd = {.fd = pipe_empty[0], .events = POLLIN};
		struct timespec ts = {.tv_sec = 20};
		r = ppoll(&pfd, 1, &ts, NULL);
		break;
	}
	case B_SELECT: {
		fd_set rs;
		FD_ZERO(&rs);
		FD_SET(pipe_empty[0], &rs);
		struct timeval tv = {.tv_sec = 20};
		r = select(pipe_empty[0] + 1, &rs, NULL, NULL, &tv);
		break;
	}
	case B_EPOLL: {
		struct epoll_event ev;
		r = epoll_wait(epfd, &ev, 1, 20000);
		break;
	}
	case B_WAITPID: {
		int st;
		r = waitpid(child, &st, 0);
		break;
	}
	}
	(void)r;
	returned[i] = 1;
	pthread_cleanup_pop(0);
	return (void *)1;
}

static void check_cancelled(pthread_t t, int i)
{
	void *ret = NULL;
	struct timespec dl = deadline_in(CLOCK_MONOTONIC, 10000);
	int rc = pthread_clockjoin_np(t, &ret, CLOCK_MONOTONIC, &dl);
	CHECK(rc == 0, "thread blocked in %s: not finished 10 s after pthread_cancel (join: %s)", bname[i], err_name(rc));
	CHECK(ret == PTHREAD_CANCELED, "thread blocked in %s: join value %p, expected PTHREAD_CANCELED", bname[i], ret);
	CHECK(cleanup_ran[i] == 1, "thread blocked in %s: cleanup handler ran %d times, expected 1", bname[i], cleanup_ran[i]);
	CHECK(!returned[i], "thread blocked in %s: the call returned instead of acting on the cancel", bname[i]);
}

int main(void)
{
	test_begin();
	sem_init(&ready, 0, 0);
	CHECK_OK(pipe(pipe_empty));
	CHECK_OK(pipe(pipe_full));
	CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sockpair));
	listener = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(listener >= 0, "socket failed");
	struct sockaddr_un addr;
	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	/* abstract name: nothing to clean up */
	snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "progs-cancel-%d", (int)getpid());
	CHECK_OK(bind(listener, (struct sockaddr *)&addr, sizeof addr));
	CHECK_OK(listen(listener, 4));
	epfd = epoll_create1(0);
	CHECK(epfd >= 0, "epoll_create1 failed");
	struct epoll_event ev = {.events = EPOLLIN};
	CHECK_OK(epoll_ctl(epfd, EPOLL_CTL_ADD, pipe_empty[0], &ev));
	/* Fill a pipe so that a blocking write blocks. */
	fcntl(pipe_full[1], F_SETFL, O_NONBLOCK);
	char fill[4096];
	memset(fill, 'f', sizeof fill);
	while (write(pipe_full[1], fill, sizeof fill) > 0)
		;
	fcntl(pipe_full[1], F_SETFL, 0);
	child = fork();
	CHECK(child >= 0, "fork failed");
	if (child == 0) {
		signal(SIGALRM, SIG_DFL); /* never outlive a failed parent by long */
		alarm(30);
		for (;;)
			pause();
	}

	pthread_t t[B_COUNT];
	for (int round = 0; round < 2; round++) {
		memset(cleanup_ran, 0, sizeof cleanup_ran);
		for (long i = 0; i < B_COUNT; i++) {
			t[i] = spawn(blocker, (void *)i);
			if (round == 0) {
				sem_wait(&ready);
				sleep_ms(10);
				CHECK_RC(pthread_cancel(t[i]), 0);
				check_cancelled(t[i], (int)i);
			}
		}
		if (round == 1) {
			for (int i = 0; i < B_COUNT; i++)
				sem_wait(&ready);
			sleep_ms(20);
			for (int i = 0; i < B_COUNT; i++)
				CHECK_RC(pthread_cancel(t[i]), 0);
			for (int i = 0; i < B_COUNT; i++)
				check_cancelled(t[i], i);
		}
	}

	/* Descriptors unharmed. */
	CHECK(write(sockpair[1], "ok", 2) == 2, "write to socketpair failed");
	char buf[8];
	CHECK(recv(sockpair[0], buf, sizeof buf, 0) == 2 && memcmp(buf, "ok", 2) == 0, "socketpair lost data");
	CHECK(read(pipe_full[0], fill, sizeof fill) > 0, "full pipe cannot be drained");
	kill(child, SIGKILL);
	int st;
	CHECK(waitpid(child, &st, 0) == child, "child not reaped");
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status 0x%x", st);
	return test_pass();
}
