/*
 * The netpoller (epoll): fd readiness for Gs, and the place where the last
 * idle M sleeps until the next timer deadline or fd event.
 *
 * Descriptors are watched edge-triggered for both directions from the first
 * time a G would block on them until they are closed (one epoll_ctl per fd
 * life, as in Go).  An event moves the pd's event counts and wakes its
 * waiters (runtime.h, struct gmp_pd); the waiters are readied onto the
 * polling M's P, or the global queue when it has none.
 *
 * Wake-up: gmp_netpoll_break() writes an eventfd that is always registered.
 * wakesig coalesces breaks: only the first break since the poller last
 * drained the eventfd makes a syscall.
 */
#include "runtime.h"

#include <errno.h>
#include <limits.h>
#include <sys/epoll.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
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
 * Moves a runtime descriptor out of the low numbers the program expects
 * for itself (its first open() returning 3, a shell's "3>file" dup2()ing
 * onto 3): to the lowest free number from 64 below the descriptor limit,
 * or from 960 if the limit is higher (a table sized for a million
 * descriptors would cost memory and every fork).  Stays put if none.
 */
static int move_high(int fd)
{
	struct rlimit rl;
	if (gmp_sys(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, &rl, 0, 0) != 0)
		return fd;
	rlim_t top = rl.rlim_cur < 1024 ? rl.rlim_cur : 1024;
	if (top < 64 + 8)
		return fd;
	long n = gmp_sys(SYS_fcntl, fd, F_DUPFD_CLOEXEC, (long)(top - 64), 0, 0, 0);
	if (n < 0)
		return fd;
	gmp_sys(SYS_close, fd, 0, 0, 0, 0, 0);
	return (int)n;
}

/*
 * Idempotent.  gmp_runtime_init (and a fork child) calls it before the
 * program has a second thread: created later, from a poller or sysmon,
 * the two descriptors could take a number in the middle of a program's
 * close(1); open(...) and break its redirection (see filethread.c).  The
 * would-be poller calls it too before it announces itself (lastpoll = 0),
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
	epfd = move_high(epfd);
	breakfd = move_high(breakfd);
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

bool gmp_netpoll_owns(int fd)
{
	return fd >= 0 && gmp_netpoll_inited() && (fd == epfd || fd == breakfd);
}

bool gmp_netpoll_inited(void)
{
	return atomic_load_explicit(&inited, memory_order_acquire);
}

#define RD_EVENTS (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR)
#define WR_EVENTS (EPOLLOUT | EPOLLHUP | EPOLLERR)

/*
 * An edge wakes one waiter per side (n = 1), who passes the baton on when
 * its operation succeeds (gmp_pd_pass): so a pool of threads in accept()
 * on one listener costs one wake-up per connection, not one per thread,
 * and data left after an edge is never stranded.  A close wakes them all.
 */
static void pd_event_n(struct gmp_pd *pd, uint32_t ev, int n)
{
	bool rd = ev & RD_EVENTS, wr = ev & WR_EVENTS;
	if (rd)
		atomic_fetch_add(&pd->rseq, 1);
	if (wr)
		atomic_fetch_add(&pd->wseq, 1);
	/* Pairs with the fence in gmp_pd_wait: either it sees the new count
	 * or we see it counted. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&pd->nwait, memory_order_relaxed) != 0) {
		if (rd)
			gmp_futex_wake(&pd->rseq, n);
		if (wr)
			gmp_futex_wake(&pd->wseq, n);
	}
	if (atomic_load_explicit(&pd->nsubs, memory_order_relaxed) != 0) {
		gmp_lock(&pd->lock);
		for (struct gmp_pollsub *s = pd->subs; s; s = s->next) {
			atomic_store(s->word, 1);
			gmp_futex_wake(s->word, 1);
		}
		gmp_unlock(&pd->lock);
	}
}

static void pd_event(struct gmp_pd *pd, uint32_t ev)
{
	pd_event_n(pd, ev, 1);
}

void gmp_pd_pass(struct gmp_pd *pd, bool write)
{
	if (atomic_load_explicit(&pd->nwait, memory_order_relaxed) != 0)
		gmp_futex_wake(write ? &pd->wseq : &pd->rseq, 1);
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
			continue;
		}
		pd_event(evs[i].data.ptr, evs[i].events);
		(*n)++;
	}
	return NULL;
}

void gmp_netpoll_check(int64_t now, int64_t maxage)
{
	int64_t last = atomic_load(&gmp_sched.lastpoll);
	if (!gmp_netpoll_inited() || atomic_load(&gmp_sched.npollwait) == 0 || last == 0 ||
	    last + maxage > now || !atomic_compare_exchange_strong(&gmp_sched.lastpoll, &last, now))
		return;
	int n;
	gmp_netpoll(0, &n);
}

void gmp_netpoll_waiters(int delta)
{
	if (atomic_fetch_add(&gmp_sched.npollwait, delta) + delta > 0 && delta > 0 &&
	    atomic_load(&gmp_sched.lastpoll) != 0 &&
	    atomic_load(&gmp_sched.npidle) == gmp_sched.nprocs)
		gmp_wakep(); /* every P idle and nobody polls: someone must */
}

int gmp_pd_arm(struct gmp_pd *pd, int fd)
{
	gmp_netpoll_init();
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET,
		.data.ptr = pd,
	};
	long r = gmp_sys(SYS_epoll_ctl, epfd, EPOLL_CTL_ADD, fd, &ev, 0, 0);
	if (r == -EEXIST)
		r = gmp_sys(SYS_epoll_ctl, epfd, EPOLL_CTL_MOD, fd, &ev, 0, 0);
	return (int)r;
}

void gmp_pd_disarm(int fd)
{
	if (gmp_netpoll_inited())
		gmp_sys(SYS_epoll_ctl, epfd, EPOLL_CTL_DEL, fd, NULL, 0, 0);
}

int gmp_pd_wait(struct gmp_pd *pd, bool write, uint32_t seq, int64_t deadline)
{
	_Atomic uint32_t *w = write ? &pd->wseq : &pd->rseq;
	atomic_fetch_add(&pd->nwait, 1);
	atomic_thread_fence(memory_order_seq_cst);
	gmp_netpoll_waiters(1);
	/* (the object for dumps: the pd, its low bit telling the side) */
	int r = gmp_futex_wait_intr(w, seq, deadline, GMP_WAIT_IO, (const char *)pd + write);
	gmp_netpoll_waiters(-1);
	atomic_fetch_sub(&pd->nwait, 1);
	return r;
}

void gmp_pd_sub(struct gmp_pd *pd, struct gmp_pollsub *s)
{
	gmp_lock(&pd->lock);
	s->prev = NULL;
	s->next = pd->subs;
	if (pd->subs)
		pd->subs->prev = s;
	pd->subs = s;
	atomic_fetch_add(&pd->nsubs, 1);
	gmp_unlock(&pd->lock);
}

void gmp_pd_unsub(struct gmp_pd *pd, struct gmp_pollsub *s)
{
	gmp_lock(&pd->lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		pd->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	atomic_fetch_sub(&pd->nsubs, 1);
	gmp_unlock(&pd->lock);
}

void gmp_pd_kick(struct gmp_pd *pd)
{
	pd_event_n(pd, EPOLLIN | EPOLLOUT, INT_MAX);
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
	gmp_netpoll_init(); /* the child's own poller, while it has one thread */
}
