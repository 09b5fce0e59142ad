/*
 * Calls that cannot wait on the poller run as blocking system calls: the G
 * keeps its OS thread for the call, but its P is handed to another OS
 * thread by sysmon after ~20 us (gmp_entersyscall, src/syscall.c), so the
 * other threads keep running.  Regular-file I/O, opening files (a FIFO
 * blocks until its other end opens), file locks, syncs, pause.
 *
 * waitpid() for one child does better: it waits on the child's pidfd (Linux
 * 5.3), which the poller sees become readable when the child exits, so it
 * parks the G and is a cancellation point like any other wait.
 */
#include "io.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>


#define BLOCKING_SYS(...) shim_ret(SHIM_BLOCKING(gmp_sys(__VA_ARGS__)))
/* The same for the calls that are cancellation points. */
#define CP_SYS(...) shim_ret(SHIM_CP(__VA_ARGS__))

/* ---------------------------------------------------------------- positioned I/O */

GMP_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	return CP_SYS(SYS_pread64, fd, buf, n, off, 0, 0);
}

GMP_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return CP_SYS(SYS_pwrite64, fd, buf, n, off, 0, 0);
}

GMP_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return CP_SYS(SYS_preadv, fd, iov, cnt, off, 0, 0);
}

GMP_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return CP_SYS(SYS_pwritev, fd, iov, cnt, off, 0, 0);
}

GMP_EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	return CP_SYS(SYS_preadv2, fd, iov, cnt, off, 0, flags);
}

GMP_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	return CP_SYS(SYS_pwritev2, fd, iov, cnt, off, 0, flags);
}

/* The LFS names are the same calls on x86-64. */
GMP_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off_t off) __attribute__((alias("pread")));
GMP_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) __attribute__((alias("pwrite")));
GMP_EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off_t off) __attribute__((alias("preadv")));
GMP_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off) __attribute__((alias("pwritev")));
GMP_EXPORT ssize_t preadv64v2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
	__attribute__((alias("preadv2")));
GMP_EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
	__attribute__((alias("pwritev2")));

GMP_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	if (n > buflen)
		__chk_fail();
	return pread(fd, buf, n, off);
}

GMP_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
	__attribute__((alias("__pread_chk")));

GMP_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
	return BLOCKING_SYS(SYS_sendfile, out, in, off, n, 0, 0);
}
GMP_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t n) __attribute__((alias("sendfile")));

GMP_EXPORT ssize_t splice(int in, loff_t *offin, int out, loff_t *offout, size_t n, unsigned flags)
{
	return BLOCKING_SYS(SYS_splice, in, offin, out, offout, n, flags);
}

GMP_EXPORT ssize_t copy_file_range(int in, loff_t *offin, int out, loff_t *offout, size_t n, unsigned flags)
{
	return BLOCKING_SYS(SYS_copy_file_range, in, offin, out, offout, n, flags);
}

/* ---------------------------------------------------------------- opening */

static int do_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	long n = SHIM_CP(SYS_openat, dirfd, path, flags, mode, 0, 0);
	if (n >= 0 && gmp_runtime_inited())
		shim_fd_new((int)n);
	return (int)shim_ret(n);
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

GMP_EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return do_openat(AT_FDCWD, path, flags, mode);
}

GMP_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return do_openat(dirfd, path, flags, mode);
}

GMP_EXPORT int open64(const char *path, int flags, ...) __attribute__((alias("open")));
GMP_EXPORT int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

GMP_EXPORT int creat(const char *path, mode_t mode)
{
	return do_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}
GMP_EXPORT int creat64(const char *path, mode_t mode) __attribute__((alias("creat")));

/* Fortified open: only checks that O_CREAT comes with a mode. */
GMP_EXPORT int __open_2(const char *path, int flags)
{
	if ((flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE)
		__chk_fail();
	return do_openat(AT_FDCWD, path, flags, 0);
}
GMP_EXPORT int __open64_2(const char *path, int flags) __attribute__((alias("__open_2")));

GMP_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	if ((flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE)
		__chk_fail();
	return do_openat(dirfd, path, flags, 0);
}
GMP_EXPORT int __openat64_2(int dirfd, const char *path, int flags) __attribute__((alias("__openat_2")));

/* ---------------------------------------------------------------- locks, syncs */

GMP_EXPORT int flock(int fd, int op)
{
	if (op & LOCK_NB)
		return (int)shim_ret(gmp_sys(SYS_flock, fd, op, 0, 0, 0, 0));
	return (int)BLOCKING_SYS(SYS_flock, fd, op, 0, 0, 0, 0);
}

GMP_EXPORT int fsync(int fd)
{
	return (int)CP_SYS(SYS_fsync, fd, 0, 0, 0, 0, 0);
}

GMP_EXPORT int fdatasync(int fd)
{
	return (int)CP_SYS(SYS_fdatasync, fd, 0, 0, 0, 0, 0);
}

GMP_EXPORT int syncfs(int fd)
{
	return (int)BLOCKING_SYS(SYS_syncfs, fd, 0, 0, 0, 0, 0);
}

GMP_EXPORT void sync(void)
{
	SHIM_BLOCKING(gmp_sys(SYS_sync, 0, 0, 0, 0, 0, 0));
}

/* lockf is fcntl(F_SETLK(W)) on the whole range from the current offset. */
GMP_EXPORT int lockf(int fd, int cmd, off_t len)
{
	struct flock fl = { .l_whence = SEEK_CUR, .l_start = 0, .l_len = len };
	switch (cmd) {
	case F_TEST:
		fl.l_type = F_RDLCK;
		if (gmp_sys(SYS_fcntl, fd, F_GETLK, &fl, 0, 0, 0) < 0)
			return -1;
		if (fl.l_type == F_UNLCK || fl.l_pid == getpid())
			return 0;
		errno = EACCES;
		return -1;
	case F_ULOCK:
		fl.l_type = F_UNLCK;
		return (int)shim_ret(gmp_sys(SYS_fcntl, fd, F_SETLK, &fl, 0, 0, 0));
	case F_TLOCK:
		fl.l_type = F_WRLCK;
		return (int)shim_ret(gmp_sys(SYS_fcntl, fd, F_SETLK, &fl, 0, 0, 0));
	case F_LOCK:
		fl.l_type = F_WRLCK;
		return (int)CP_SYS(SYS_fcntl, fd, F_SETLKW, &fl, 0, 0, 0);
	}
	errno = EINVAL;
	return -1;
}
GMP_EXPORT int lockf64(int fd, int cmd, off_t len) __attribute__((alias("lockf")));

/* ---------------------------------------------------------------- signals */

GMP_EXPORT int pause(void)
{
	return (int)CP_SYS(SYS_pause, 0, 0, 0, 0, 0, 0);
}

/* ---------------------------------------------------------------- children */

/*
 * Waits for child pid to change state through its pidfd: readable once it
 * has exited.  Only for exit waits (no WUNTRACED/WCONTINUED, which the
 * pidfd does not signal).  Returns -ENOSYS when the pidfd route is closed.
 */
static void close_fdp(int *fdp)
{
	if (*fdp >= 0)
		shim_fd_close(*fdp);
}

static long wait_pidfd(pid_t pid, long (*reap)(void *), void *arg)
{
	/* Both go with the frame, also when a cancel unwinds it. */
	int pfd __attribute__((cleanup(close_fdp))) = (int)gmp_sys(SYS_pidfd_open, pid, 0, 0, 0, 0, 0);
	if (pfd < 0)
		return -ENOSYS;
	shim_fd_new(pfd);
	SHIM_FD_REF(r, pfd);
	if (r == NULL)
		return -ENOSYS;
	r->kind = K_POLL;
	for (;;) {
		uint32_t seq = gmp_pd_seq(&r->pd, false);
		long n = reap(arg);
		if (n != 0) {
			gmp_pd_pass(&r->pd, false); /* another waiter for the same child */
			return n;
		}
		int w = shim_fd_wait(r, false, seq, -1, true);
		if (w < 0)
			return w;
	}
}

struct wait4args {
	pid_t pid;
	int *status;
	int options;
	struct rusage *ru;
};

static long reap4(void *arg)
{
	struct wait4args *w = arg;
	return gmp_sys(SYS_wait4, w->pid, w->status, w->options | WNOHANG, w->ru, 0, 0);
}

GMP_EXPORT pid_t wait4(pid_t pid, int *status, int options, struct rusage *ru)
{
	if (pid > 0 && !(options & (WNOHANG | WUNTRACED | WCONTINUED)) && shim_may_park()) {
		struct wait4args w = { pid, status, options, ru };
		long n = wait_pidfd(pid, reap4, &w);
		if (n != -ENOSYS)
			return (pid_t)shim_ret(n);
	}
	if (options & WNOHANG)
		return (pid_t)shim_ret(gmp_sys(SYS_wait4, pid, status, options, ru, 0, 0));
	return (pid_t)CP_SYS(SYS_wait4, pid, status, options, ru, 0, 0);
}

GMP_EXPORT pid_t waitpid(pid_t pid, int *status, int options)
{
	return wait4(pid, status, options, NULL);
}

GMP_EXPORT pid_t wait(int *status)
{
	return wait4(-1, status, 0, NULL);
}

GMP_EXPORT pid_t wait3(int *status, int options, struct rusage *ru)
{
	return wait4(-1, status, options, ru);
}

struct waitidargs {
	idtype_t type;
	id_t id;
	siginfo_t *info;
	int options;
};

static long reapid(void *arg)
{
	struct waitidargs *w = arg;
	w->info->si_pid = 0;
	long n = gmp_sys(SYS_waitid, w->type, w->id, w->info, w->options | WNOHANG, NULL, 0);
	if (n == 0 && w->info->si_pid == 0)
		return 0; /* nothing yet */
	return n < 0 ? n : 1;
}

GMP_EXPORT int waitid(idtype_t type, id_t id, siginfo_t *info, int options)
{
	if (type == P_PID && !(options & (WNOHANG | WSTOPPED | WCONTINUED)) && info && shim_may_park()) {
		struct waitidargs w = { type, id, info, options };
		long n = wait_pidfd((pid_t)id, reapid, &w);
		if (n != -ENOSYS)
			return (int)shim_ret(n < 0 ? n : 0);
	}
	if (options & WNOHANG)
		return (int)shim_ret(gmp_sys(SYS_waitid, type, id, info, options, NULL, 0));
	return (int)CP_SYS(SYS_waitid, type, id, info, options, NULL, 0);
}
