/*
 * filethread.c - the runtime's own file work, out of the program's
 * descriptor table.
 *
 * The kernel hands out the lowest free descriptor, and programs count on
 * it.  A shell runs "cmd >/dev/null" as: open the file, save fd 1, close
 * fd 1, dup the file into the hole.  Natively no other thread of the
 * process opens anything in that window.  The runtime's sysmon does: it
 * reads /proc/self/task/TID/{stat,syscall} to tell a thread stuck in the
 * kernel from one computing, and it loads libunwind.  An open of ours
 * that lands in the hole, and the close after it, shut the program's
 * file (seen: popen("cat >/dev/null") failing with "cat: standard
 * output: Bad file descriptor", because the shell under the shim lost
 * its fd 1 to sysmon's dlopen).
 *
 * So that work runs on one OS thread with a descriptor table of its own:
 * it unshares CLONE_FILES and closes everything the copy brought along,
 * so it holds no reference to any file of the program (a socket the
 * program closes still sends its FIN at once).  sysmon starts it and
 * hands it one call at a time; a caller that finds it busy (a dump while
 * sysmon asks) or absent does the work itself, as before.
 *
 * The netpoller's two descriptors are not made here: the pollers need
 * them in the shared table.  They are created at start-up, before the
 * program has a second thread, and moved out of the low numbers
 * (netpoll_epoll.c).
 */
#include "runtime.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1) /* Linux 5.9 */
#endif

static struct {
	_Atomic bool started;
	_Atomic bool busy;     /* a call is in flight (one at a time) */
	_Atomic pid_t tid;     /* 0 until the thread has its own table */
	gmp_note req, done;
	long (*fn)(void *);
	void *arg;
	long ret;
} ft;

/* Gives this thread a descriptor table of its own, empty.  Linux 5.9's
 * close_range does both in one step, never holding the program's files;
 * before it, unshare copies the table and the copies are closed. */
static void private_table(void)
{
	if (gmp_sys(SYS_close_range, 0, ~0U, CLOSE_RANGE_UNSHARE, 0, 0, 0) == 0)
		return;
	if (gmp_sys(SYS_unshare, CLONE_FILES, 0, 0, 0, 0, 0) != 0)
		return;
	struct rlimit rl = { .rlim_cur = 1024 };
	gmp_sys(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, &rl, 0, 0);
	for (unsigned long fd = 0; fd < rl.rlim_cur && fd < (1UL << 20); fd++)
		gmp_sys(SYS_close, (long)fd, 0, 0, 0, 0, 0);
}

static void *filethread(void *unused)
{
	(void)unused;
	/* Created by sysmon, it takes no signals either.  If the table
	 * cannot be made private (a seccomp filter), the calls still run
	 * here, in the shared one, as they did on sysmon. */
	private_table();
	atomic_store_explicit(&ft.tid, (pid_t)gmp_sys(SYS_gettid, 0, 0, 0, 0, 0, 0), memory_order_release);
	for (;;) {
		gmp_notesleep(&ft.req);
		gmp_noteclear(&ft.req);
		ft.ret = ft.fn(ft.arg);
		gmp_notewakeup(&ft.done);
	}
	return NULL;
}

/* Called by sysmon as it starts, so it inherits sysmon's blocked signals. */
void gmp_filethread_start(void)
{
	bool f = false;
	if (!atomic_compare_exchange_strong(&ft.started, &f, true))
		return;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 128 << 10);
	pthread_t t;
	if (gmp_real_pthread_create(&t, &attr, filethread, NULL) != 0)
		atomic_store(&ft.started, false); /* callers do the work themselves */
	pthread_attr_destroy(&attr);
}

bool gmp_filethread_running(void)
{
	return atomic_load(&ft.started);
}

long gmp_filethread_call(long (*fn)(void *), void *arg)
{
	bool f = false;
	if (!atomic_load(&ft.started) || (pid_t)gmp_sys(SYS_gettid, 0, 0, 0, 0, 0, 0) == atomic_load(&ft.tid) ||
	    !atomic_compare_exchange_strong(&ft.busy, &f, true))
		return fn(arg);
	ft.fn = fn;
	ft.arg = arg;
	gmp_noteclear(&ft.done);
	gmp_notewakeup(&ft.req);
	gmp_notesleep(&ft.done);
	long r = ft.ret;
	atomic_store(&ft.busy, false);
	return r;
}

struct taskfile {
	pid_t tid;
	const char *name;
	char *buf;
	size_t size;
};

static long read_taskfile(void *arg)
{
	struct taskfile *tf = arg;
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/%s", (int)tf->tid, tf->name);
	long fd = gmp_sys(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (fd < 0)
		return -1;
	long n = gmp_sys(SYS_read, fd, tf->buf, tf->size - 1, 0, 0, 0);
	gmp_sys(SYS_close, fd, 0, 0, 0, 0, 0);
	if (n < 0)
		return -1;
	tf->buf[n] = '\0';
	return n;
}

long gmp_read_task_file(pid_t tid, const char *name, char *buf, size_t size)
{
	struct taskfile tf = { tid, name, buf, size };
	return gmp_filethread_call(read_taskfile, &tf);
}

void gmp_filethread_forkchild(void)
{
	/* The thread is not in the child; sysmon starts a new one. */
	atomic_store(&ft.started, false);
	atomic_store(&ft.busy, false);
	atomic_store(&ft.tid, 0);
	gmp_noteclear(&ft.req);
	gmp_noteclear(&ft.done);
}
