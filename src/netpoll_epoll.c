/*
 * The netpoller (epoll).  For now it is the place where the last idle M
 * sleeps until the next timer deadline; fd readiness parking arrives with the
 * I/O layer and uses the same instance.
 *
 * Wake-up: gmp_netpoll_break() writes an eventfd that is always registered.
 * wakesig coalesces breaks: only the first break since the poller last
 * drained the eventfd makes a syscall.
 */
#include "runtime.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int epfd = -1;
static int breakfd = -1;
static _Atomic uint32_t wakesig;  /* 1: a break is pending in breakfd */
static bool have_pwait2 = true;   /* epoll_pwait2 (Linux 5.11) for ns timeouts */
static _Atomic bool inited;
static gmp_mutex initlock;

/*
 * Idempotent and lazy: a program that never sleeps on a timer or waits for
 * I/O never gets the two descriptors (so its own fd numbering is untouched).
 * The would-be poller calls it before it announces itself (lastpoll = 0),
 * so anyone who sees a poller can break it.
 */
void gmp_netpoll_init(void)
{
	if (likely(atomic_load_explicit(&inited, memory_order_acquire)))
		return;
	gmp_lock(&initlock);
	if (atomic_load_explicit(&inited, memory_order_relaxed)) {
		gmp_unlock(&initlock);
		return;
	}
	/* Raw syscalls: the I/O layer interposes the libc wrappers. */
	epfd = (int)gmp_sys(SYS_epoll_create1, EPOLL_CLOEXEC, 0, 0, 0, 0, 0);
	breakfd = (int)gmp_sys(SYS_eventfd2, 0, EFD_NONBLOCK | EFD_CLOEXEC, 0, 0, 0, 0);
	if (epfd < 0 || breakfd < 0)
		gmp_fatal("netpoll_init: epoll_create1/eventfd failed (%d/%d)", epfd, breakfd);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &breakfd };
	long r = gmp_sys(SYS_epoll_ctl, epfd, EPOLL_CTL_ADD, breakfd, &ev, 0, 0);
	if (r != 0)
		gmp_fatal("netpoll_init: epoll_ctl failed (%ld)", r);
	atomic_store_explicit(&inited, true, memory_order_release);
	gmp_unlock(&initlock);
}

void gmp_netpoll_break(void)
{
	uint32_t z = 0;
	if (!atomic_load_explicit(&inited, memory_order_acquire) ||
	    !atomic_compare_exchange_strong(&wakesig, &z, 1))
		return;
	uint64_t one = 1;
	long r;
	do
		r = gmp_sys(SYS_write, breakfd, &one, sizeof one, 0, 0, 0);
	while (r == -EINTR);
}

static int epwait(struct epoll_event *evs, int n, int64_t delay)
{
	if (delay > 0 && have_pwait2) {
		struct timespec ts = { .tv_sec = delay / 1000000000, .tv_nsec = delay % 1000000000 };
		long r = gmp_sys(SYS_epoll_pwait2, epfd, evs, n, &ts, NULL, 8);
		if (r != -ENOSYS)
			return (int)r;
		have_pwait2 = false;
	}
	int ms = delay < 0 ? -1 : delay == 0 ? 0 : (int)((delay + 999999) / 1000000); /* never early */
	if (delay > (int64_t)1e15)
		ms = 1000000000;
	return (int)gmp_sys(SYS_epoll_pwait, epfd, evs, n, ms, NULL, 8);
}

struct gmp_g *gmp_netpoll(int64_t delay, int *n)
{
	struct epoll_event evs[128];
	*n = 0;
	int k = epwait(evs, 128, delay);
	for (int i = 0; i < k; i++) {
		if (evs[i].data.ptr == &breakfd) {
			uint64_t v;
			gmp_sys(SYS_read, breakfd, &v, sizeof v, 0, 0, 0);
			atomic_store(&wakesig, 0);
		}
	}
	return NULL;
}

void gmp_netpoll_forkchild(void)
{
	if (atomic_load(&inited)) {
		gmp_sys(SYS_close, epfd, 0, 0, 0, 0, 0);
		gmp_sys(SYS_close, breakfd, 0, 0, 0, 0, 0);
	}
	epfd = breakfd = -1;
	atomic_store(&wakesig, 0);
	initlock = (gmp_mutex){ 0 };
	atomic_store(&inited, false);
}
