/*
 * io_bad_input: the interposed I/O calls fail on bad input exactly as
 * glibc and the kernel do: same return value, same errno.  Bad fds, calls
 * on the wrong kind of fd, bad timeouts and flags, empty vectors, waits for
 * children that do not exist, bad signals.
 */
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/wait.h>

int main(void)
{
	test_begin();
	char b[4] = { 0 };
	int p[2];
	CHECK_OK(pipe(p));
	struct sockaddr sa = { 0 };
	struct timespec bad_ts = { 0, 2000000000 };
	struct timeval bad_tv = { 0, -1 };
	int one = 1;

	CHECK_ERRNO(read(-1, b, 1), EBADF);
	CHECK_ERRNO(write(-1, b, 1), EBADF);
	CHECK_ERRNO(close(-1), EBADF);
	CHECK_ERRNO(dup(-1), EBADF);
	CHECK_ERRNO(dup2(-1, 50), EBADF);
	CHECK_ERRNO(dup3(p[0], p[0], 0), EINVAL);
	CHECK_ERRNO(dup3(p[0], 50, 12345), EINVAL);
	CHECK_ERRNO(fcntl(-1, F_GETFL), EBADF);
	CHECK_ERRNO(fcntl(p[0], 9999), EINVAL);
	CHECK_ERRNO(ioctl(-1, FIONBIO, &one), EBADF);
	CHECK_ERRNO(recv(p[0], b, 1, 0), ENOTSOCK);
	CHECK_ERRNO(send(p[1], b, 1, 0), ENOTSOCK);
	CHECK_ERRNO(accept(p[0], NULL, NULL), ENOTSOCK);
	CHECK_ERRNO(connect(-1, &sa, sizeof sa), EBADF);
	CHECK_ERRNO(connect(p[0], &sa, sizeof sa), ENOTSOCK);
	CHECK_ERRNO(listen(p[0], 1), ENOTSOCK);
	CHECK_ERRNO(socket(12345, SOCK_STREAM, 0), EAFNOSUPPORT);
	CHECK_ERRNO(setsockopt(p[0], SOL_SOCKET, SO_RCVTIMEO, b, 4), ENOTSOCK);
	CHECK_ERRNO(poll(NULL, 1, 0), EFAULT);
	CHECK_ERRNO(ppoll(NULL, 0, &bad_ts, NULL), EINVAL);
	CHECK_ERRNO(select(-1, NULL, NULL, NULL, NULL), EINVAL);
	CHECK_ERRNO(select(1, NULL, NULL, NULL, &bad_tv), EINVAL);
	struct epoll_event ev;
	CHECK_ERRNO(epoll_wait(-1, &ev, 1, 0), EBADF);
	CHECK_ERRNO(epoll_wait(p[0], &ev, 1, 0), EINVAL);
	CHECK_ERRNO(epoll_create(0), EINVAL);
	CHECK_ERRNO(waitpid(-1, NULL, 0), ECHILD);
	CHECK_ERRNO(waitpid(12345678, NULL, 0), ECHILD);
	CHECK_ERRNO(waitpid(-1, NULL, WNOHANG), ECHILD);
	CHECK_ERRNO(open("/nonexistent/x", O_RDONLY), ENOENT);
	CHECK_ERRNO(pread(p[0], b, 1, 0), ESPIPE);
	CHECK_ERRNO(flock(-1, LOCK_EX), EBADF);
	CHECK_ERRNO(fsync(p[0]), EINVAL);
	CHECK_ERRNO(pipe2(p, 123456), EINVAL);
	CHECK_ERRNO(eventfd(0, 123456), EINVAL);
	CHECK_ERRNO(recvmmsg(-1, NULL, 1, 0, NULL), EBADF);
	CHECK_ERRNO(sendmmsg(-1, NULL, 0, 0), EBADF);
	struct sigaction act;
	memset(&act, 0, sizeof act);
	act.sa_handler = SIG_IGN;
	CHECK_ERRNO(sigaction(0, &act, NULL), EINVAL);
	CHECK_ERRNO(sigaction(65, &act, NULL), EINVAL);
	CHECK_ERRNO(sigaction(SIGKILL, &act, NULL), EINVAL);
	CHECK_ERRNO(sigaction(32, &act, NULL), EINVAL); /* glibc's own */
	errno = 0;
	CHECK(signal(SIGSTOP, SIG_IGN) == SIG_ERR && errno == EINVAL, "signal(SIGSTOP): %s", err_name(errno));
	CHECK_ERRNO(tgkill(getpid(), 999999, 0), ESRCH);
	CHECK_OK(tgkill(getpid(), gettid(), 0));
	return test_pass();
}
