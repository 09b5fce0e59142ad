/*
 * poll, ppoll, select, pselect, epoll_wait, epoll_pwait, epoll_pwait2 on
 * the netpoller.
 *
 * The kernel keeps deciding what is ready: each call is first made with a
 * zero timeout.  Only when nothing is ready and the caller is willing to
 * wait does the G subscribe to the poll descriptors of the fds involved
 * (an epoll fd is itself pollable: readable when it has events), ask the
 * kernel once more (an edge between the two looks is not lost: the
 * subscription is in place), and park until an edge on any of them, the
 * timeout, a signal or a cancel; then it asks the kernel again.
 *
 * As in the kernel, a signal handled by the waiting thread ends the wait
 * with EINTR whatever its SA_RESTART flag; ppoll/pselect/epoll_pwait apply
 * their signal mask for the duration of the wait.  One difference: closing
 * an fd that another thread is polling ends that poll (the fd reports
 * POLLNVAL, select fails with EBADF) instead of waiting on the old file.
 */
#include "io.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>

#define NS 1000000000LL

static const struct timespec zero_ts;


/* Deadline for a timeout in ms (< 0: none). */
static int64_t ms_deadline(int ms)
{
	return ms < 0 ? -1 : gmp_nanotime() + (int64_t)ms * 1000000;
}

static int64_t ts_deadline(const struct timespec *ts)
{
	return ts == NULL ? -1 : shim_rel_deadline(ts);
}

/* What is left until deadline, for a kernel wait (NULL: no deadline). */
static struct timespec *left_ts(int64_t deadline, bool now, struct timespec *ts)
{
	if (deadline < 0)
		return NULL;
	int64_t left = now ? 0 : deadline - gmp_nanotime();
	if (left < 0)
		left = 0;
	ts->tv_sec = left / NS;
	ts->tv_nsec = left % NS;
	return ts;
}

/* The program's mask for the wait (ppoll and friends), on the G. */
struct tmpmask {
	bool set;
	sigset_t old;
};

static int mask_begin(struct tmpmask *t, const sigset_t *mask)
{
	t->set = mask != NULL;
	if (t->set)
		pthread_sigmask(SIG_SETMASK, mask, &t->old);
	return 0;
}

static void mask_end(struct tmpmask *t)
{
	if (t->set)
		pthread_sigmask(SIG_SETMASK, &t->old, NULL);
}

/*
 * Wait for an edge on any of fds[0..n), with check() (a zero-timeout look)
 * made after subscribing.  Returns check()'s result when it is non-zero,
 * else 0 after an edge (or an interruption that is not a signal: look
 * again), -ETIMEDOUT or -EINTR.
 */
static long wait_fds(const int *fds, int n, int64_t deadline, long (*check)(void *), void *arg)
{
	struct sub {
		struct gmp_pollsub s;
		struct shim_fd *r;
	} local[16], *subs = local;
	if (n > 16 && (subs = malloc(sizeof *subs * (size_t)n)) == NULL)
		return -ENOMEM;
	struct shim_thread *self = shim_self();
	shim_wait_begin(self); /* acts on a pending cancel: nothing to undo yet */
	_Atomic uint32_t word = 0;
	int k = 0;
	for (int i = 0; i < n; i++) {
		struct shim_fd *r = shim_fd_get(fds[i]);
		if (r == NULL)
			continue;
		if (shim_fd_arm(r) != 0) { /* not pollable (always ready) or not open */
			shim_fd_put(r);
			continue;
		}
		subs[k].s.word = &word;
		subs[k].r = r;
		gmp_pd_sub(&r->pd, &subs[k].s);
		k++;
	}
	gmp_netpoll_waiters(1);
	long res = check(arg);
	bool intr = false;
	if (res == 0) {
		int w = gmp_futex_wait_intr(&word, 0, deadline, GMP_WAIT_POLL, (void *)(uintptr_t)n);
		if (w == -ETIMEDOUT)
			res = w;
		intr = w == -EINTR;
	}
	gmp_netpoll_waiters(-1);
	for (int i = 0; i < k; i++) {
		gmp_pd_unsub(&subs[i].r->pd, &subs[i].s);
		shim_fd_put(subs[i].r);
	}
	/* Unsubscribed: a cancel may unwind from here. */
	if (intr && shim_wait_interrupted(self, false) != 0)
		res = -EINTR;
	if (subs != local)
		free(subs);
	return res;
}

/* ---------------------------------------------------------------- poll */

struct pollargs {
	struct pollfd *fds;
	nfds_t n;
};

static long poll_check(void *arg)
{
	struct pollargs *p = arg;
	return gmp_sys(SYS_ppoll, p->fds, p->n, &zero_ts, NULL, 8, 0);
}

static long do_poll(struct pollfd *fds, nfds_t n, int64_t deadline, bool now, const sigset_t *mask)
{
	if (!shim_may_park()) {
		struct timespec ts;
		return SHIM_BLOCKING(gmp_sys(SYS_ppoll, fds, n, left_ts(deadline, now, &ts), mask, 8, 0));
	}
	struct pollargs pa = { fds, n };
	long r = poll_check(&pa);
	if (r != 0 || now)
		return r;
	int local[32], *list = local;
	if (n > 32 && (list = malloc(sizeof *list * n)) == NULL)
		return -ENOMEM;
	int k = 0;
	for (nfds_t i = 0; i < n; i++)
		if (fds[i].fd >= 0)
			list[k++] = fds[i].fd;
	struct tmpmask tm;
	mask_begin(&tm, mask);
	for (;;) {
		r = wait_fds(list, k, deadline, poll_check, &pa);
		if (r == -ETIMEDOUT) {
			r = poll_check(&pa);
			break;
		}
		if (r != 0)
			break;
		if ((r = poll_check(&pa)) != 0)
			break;
	}
	mask_end(&tm);
	if (list != local)
		free(list);
	return r;
}

GMP_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	return (int)shim_ret(do_poll(fds, n, ms_deadline(timeout), timeout == 0, NULL));
}

GMP_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	if (ts && shim_bad_ts(ts))
		return (int)shim_ret(-EINVAL);
	bool now = ts && ts->tv_sec == 0 && ts->tv_nsec == 0;
	return (int)shim_ret(do_poll(fds, n, ts_deadline(ts), now, mask));
}

GMP_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (fdslen / sizeof *fds < n)
		__chk_fail();
	return poll(fds, n, timeout);
}

GMP_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask,
			   size_t fdslen)
{
	if (fdslen / sizeof *fds < n)
		__chk_fail();
	return ppoll(fds, n, ts, mask);
}

/* ---------------------------------------------------------------- select */

struct selargs {
	int nfds;
	fd_set *r, *w, *e;       /* the program's sets (results go there) */
	fd_set r0, w0, e0;       /* what it asked for */
};

static long select_check(void *arg)
{
	struct selargs *s = arg;
	fd_set r = s->r0, w = s->w0, e = s->e0;
	long n = gmp_sys(SYS_pselect6, s->nfds, s->r ? &r : NULL, s->w ? &w : NULL, s->e ? &e : NULL,
			 &zero_ts, NULL);
	if (n > 0) {
		if (s->r)
			*s->r = r;
		if (s->w)
			*s->w = w;
		if (s->e)
			*s->e = e;
	}
	return n;
}

static long do_select(int nfds, fd_set *rs, fd_set *ws, fd_set *es, int64_t deadline, bool now,
		      const sigset_t *mask)
{
	if (nfds < 0)
		return -EINVAL;
	if (nfds > FD_SETSIZE || (!shim_may_park() && !now)) {
		/* Sets bigger than fd_set, or no parking here: the kernel waits. */
		struct timespec ts;
		struct { const sigset_t *m; size_t sz; } sm = { mask, 8 };
		return SHIM_BLOCKING(gmp_sys(SYS_pselect6, nfds, rs, ws, es, left_ts(deadline, now, &ts),
					     mask ? &sm : NULL));
	}
	struct selargs sa = { .nfds = nfds, .r = rs, .w = ws, .e = es };
	if (rs)
		sa.r0 = *rs;
	if (ws)
		sa.w0 = *ws;
	if (es)
		sa.e0 = *es;
	long n = select_check(&sa);
	if (n != 0 || now)
		goto out;
	int list[FD_SETSIZE], k = 0;
	for (int fd = 0; fd < nfds; fd++)
		if ((rs && FD_ISSET(fd, &sa.r0)) || (ws && FD_ISSET(fd, &sa.w0)) || (es && FD_ISSET(fd, &sa.e0)))
			list[k++] = fd;
	struct tmpmask tm;
	mask_begin(&tm, mask);
	for (;;) {
		n = wait_fds(list, k, deadline, select_check, &sa);
		if (n == -ETIMEDOUT) {
			n = select_check(&sa);
			break;
		}
		if (n != 0 || (n = select_check(&sa)) != 0)
			break;
	}
	mask_end(&tm);
out:
	if (n == 0) { /* nothing ready: the sets come back empty */
		if (rs)
			FD_ZERO(rs);
		if (ws)
			FD_ZERO(ws);
		if (es)
			FD_ZERO(es);
	}
	return n;
}

GMP_EXPORT int select(int nfds, fd_set *rs, fd_set *ws, fd_set *es, struct timeval *tv)
{
	int64_t dl = -1;
	bool now = false;
	if (tv) {
		if (tv->tv_sec < 0 || tv->tv_usec < 0)
			return (int)shim_ret(-EINVAL);
		struct timespec rel = { .tv_sec = tv->tv_sec + tv->tv_usec / 1000000,
					.tv_nsec = (tv->tv_usec % 1000000) * 1000L };
		dl = shim_rel_deadline(&rel);
		now = tv->tv_sec == 0 && tv->tv_usec == 0;
	}
	long n = do_select(nfds, rs, ws, es, dl, now, NULL);
	if (tv && n >= 0) { /* Linux reports the time left */
		int64_t left = dl - gmp_nanotime();
		if (left < 0 || n == 0)
			left = 0;
		tv->tv_sec = left / NS;
		tv->tv_usec = (left % NS) / 1000;
	}
	return (int)shim_ret(n);
}

GMP_EXPORT int pselect(int nfds, fd_set *rs, fd_set *ws, fd_set *es, const struct timespec *ts,
		       const sigset_t *mask)
{
	if (ts && (shim_bad_ts(ts) || ts->tv_sec < 0))
		return (int)shim_ret(-EINVAL);
	bool now = ts && ts->tv_sec == 0 && ts->tv_nsec == 0;
	return (int)shim_ret(do_select(nfds, rs, ws, es, ts_deadline(ts), now, mask));
}

/* ---------------------------------------------------------------- epoll */

static long do_epoll(int epfd, struct epoll_event *evs, int max, int64_t deadline, bool now,
		     const sigset_t *mask)
{
	long n = gmp_sys(SYS_epoll_pwait, epfd, evs, max, 0, NULL, 8);
	if (n != 0 || now)
		return n;
	if (!shim_may_park()) {
		int ms = deadline < 0 ? -1 : (int)((deadline - gmp_nanotime() + 999999) / 1000000);
		return SHIM_BLOCKING(gmp_sys(SYS_epoll_pwait, epfd, evs, max, ms < 0 && deadline >= 0 ? 0 : ms, mask, 8));
	}
	SHIM_FD_REF(r, epfd);
	if (r == NULL)
		return SHIM_BLOCKING(gmp_sys(SYS_epoll_pwait, epfd, evs, max, -1, mask, 8));
	struct tmpmask tm;
	mask_begin(&tm, mask);
	for (;;) {
		uint32_t seq = gmp_pd_seq(&r->pd, false);
		n = gmp_sys(SYS_epoll_pwait, epfd, evs, max, 0, NULL, 8);
		if (n != 0) {
			gmp_pd_pass(&r->pd, false);
			break;
		}
		int w = shim_fd_wait(r, false, seq, deadline, false);
		if (w == -ETIMEDOUT) {
			n = gmp_sys(SYS_epoll_pwait, epfd, evs, max, 0, NULL, 8);
			break;
		}
		if (w < 0) {
			n = w;
			break;
		}
	}
	mask_end(&tm);
	return n;
}

GMP_EXPORT int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	return (int)shim_ret(do_epoll(epfd, evs, max, ms_deadline(timeout), timeout == 0, NULL));
}

GMP_EXPORT int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout, const sigset_t *mask)
{
	return (int)shim_ret(do_epoll(epfd, evs, max, ms_deadline(timeout), timeout == 0, mask));
}

GMP_EXPORT int epoll_pwait2(int epfd, struct epoll_event *evs, int max, const struct timespec *ts,
			    const sigset_t *mask)
{
	if (ts && shim_bad_ts(ts))
		return (int)shim_ret(-EINVAL);
	bool now = ts && ts->tv_sec == 0 && ts->tv_nsec == 0;
	return (int)shim_ret(do_epoll(epfd, evs, max, ts_deadline(ts), now, mask));
}
