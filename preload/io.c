/*
 * Blocking I/O without blocking OS threads: the fd layer on the netpoller.
 *
 * A thread that reads an empty socket or pipe parks its G on the fd's poll
 * descriptor (src/netpoll_epoll.c) instead of sleeping in the kernel, so a
 * thread-per-connection server runs on a handful of OS threads.
 *
 * The kernel must keep seeing the file exactly as the program set it up:
 * O_NONBLOCK belongs to the open file description, which other processes
 * (the parent shell's terminal, a child's pipe) may share.  So the attempt
 * that must not block asks for that one call only:
 *   sockets       MSG_DONTWAIT (read/write/readv/writev become the
 *                 equivalent recv/send calls)
 *   pipes, FIFOs, eventfd, timerfd...   preadv2/pwritev2 with RWF_NOWAIT
 *   anything else pollable (terminals)  poll() with a zero timeout, then
 *                 the call itself, bracketed as a blocking syscall in case
 *                 another thread took the data first
 *   regular files, block devices, directories: never "not ready"; the
 *                 call runs bracketed (entersyscall, src/syscall.c)
 * If the attempt would block and the program asked for a blocking file, the
 * G waits for the next readiness edge and tries again; a program that set
 * O_NONBLOCK gets EAGAIN, as without the shim.
 *
 * Two calls have no per-call flag: accept and connect.  A listening socket
 * this process created is made non-blocking in the kernel at listen() time
 * (and fcntl/ioctl report and keep the program's own view); a blocking
 * connect() is made non-blocking for the duration of the call.  Listening
 * sockets inherited from elsewhere fall back to poll-then-accept.
 *
 * Records: one per fd number in use (created on first use: stdin, files
 * opened by glibc internally...), refcounted by the operations in flight.
 * close() of an fd on which other threads are blocked behaves as in Linux:
 * the blocked calls keep going on the same file (the shim keeps a private
 * duplicate open for them) -- a new file that reuses the number is not
 * theirs.  poll()/select() waiters instead re-check, and see the fd closed.
 *
 * Cancellation and signals: every blocking wait is a cancellation point and
 * an interruptible wait.  A signal delivered to the waiting thread makes the
 * call fail with EINTR, unless the handler has SA_RESTART and the call is
 * one the kernel restarts (read/write/accept/connect... without a timeout).
 */
#include "shim.h"
#include "io.h"

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

/* ---------------------------------------------------------------- records */

#define FD_CHUNK 4096
#define FD_NCHUNK 256 /* fds below 1M are tracked; others just block their M */
#define STRIPES 64

static _Atomic(struct shim_fd *) *_Atomic fdtab[FD_NCHUNK];
static gmp_mutex stripe[STRIPES];
static gmp_mutex freelock;
static struct shim_fd *freelist;
static _Atomic uint32_t nbgen = 1; /* bumped by every F_SETFL / FIONBIO */

static _Atomic(struct shim_fd *) *slot_of(int fd, bool create)
{
	if (fd < 0 || fd >= FD_CHUNK * FD_NCHUNK)
		return NULL;
	_Atomic(struct shim_fd *) *c = atomic_load_explicit(&fdtab[fd / FD_CHUNK], memory_order_acquire);
	if (c == NULL) {
		if (!create)
			return NULL;
		_Atomic(struct shim_fd *) *fresh = gmp_persistentalloc(sizeof *fresh * FD_CHUNK);
		if (!atomic_compare_exchange_strong(&fdtab[fd / FD_CHUNK], &c, fresh))
			return &c[fd % FD_CHUNK]; /* lost the race: a chunk of memory stays unused */
		c = fresh;
	}
	return &c[fd % FD_CHUNK];
}

static struct shim_fd *rec_alloc(int fd)
{
	gmp_lock(&freelock);
	struct shim_fd *r = freelist;
	if (r)
		freelist = r->freelink;
	gmp_unlock(&freelock);
	if (r == NULL)
		r = gmp_persistentalloc(sizeof *r);
	/* The pd part stays as it was: the poller may still deliver a stale
	 * event to it, which is only a spurious wake-up. */
	atomic_store(&r->fd, fd);
	atomic_store(&r->refs, 1);
	r->kind = K_UNKNOWN;
	r->armed = r->flipped = r->user_nb = r->owned = r->priv = false;
	r->nbgen = 0;
	r->nbval = false;
	r->rcvtimeo = r->sndtimeo = 0;
	r->freelink = NULL;
	return r;
}

static void rec_release(struct shim_fd *r)
{
	if (r->priv) {
		int fd = atomic_load(&r->fd);
		if (r->armed)
			gmp_pd_disarm(fd);
		gmp_sys(SYS_close, fd, 0, 0, 0, 0, 0);
	}
	gmp_lock(&freelock);
	r->freelink = freelist;
	freelist = r;
	gmp_unlock(&freelock);
}

void shim_fd_put(struct shim_fd *r)
{
	if (r && atomic_fetch_sub(&r->refs, 1) == 1)
		rec_release(r);
}

void shim_fd_unref(struct shim_fd **rp)
{
	shim_fd_put(*rp);
}

struct shim_fd *shim_fd_get(int fd)
{
	_Atomic(struct shim_fd *) *s = slot_of(fd, true);
	if (s == NULL)
		return NULL;
	gmp_mutex *l = &stripe[fd % STRIPES];
	gmp_lock(l);
	struct shim_fd *r = atomic_load(s);
	if (r == NULL) {
		r = rec_alloc(fd);
		atomic_store(s, r);
	}
	atomic_fetch_add(&r->refs, 1);
	gmp_unlock(l);
	return r;
}

/* A new file got number fd: whatever the old record said is stale. */
static struct shim_fd *fd_install(int fd, uint8_t kind, bool owned, int nb)
{
	_Atomic(struct shim_fd *) *s = slot_of(fd, true);
	if (s == NULL)
		return NULL;
	struct shim_fd *r = rec_alloc(fd);
	r->kind = kind;
	r->owned = owned;
	if (nb >= 0) {
		r->nbval = nb;
		r->nbgen = atomic_load(&nbgen);
	}
	gmp_mutex *l = &stripe[fd % STRIPES];
	gmp_lock(l);
	struct shim_fd *old = atomic_exchange(s, r);
	gmp_unlock(l);
	shim_fd_put(old);
	return r;
}

void shim_fd_new(int fd)
{
	if (fd >= 0)
		fd_install(fd, K_UNKNOWN, false, -1);
}

/*
 * fork(): the table's locks are taken around it, so that the child gets
 * them free and the table consistent.  The child starts a poller of its own
 * (the parent's epoll instance is shared, src/netpoll_epoll.c): nothing it
 * inherited is watched there yet, and no thread of it waits on anything.
 */
void shim_fd_fork(int phase)
{
	if (phase == 0) {
		for (int i = 0; i < STRIPES; i++)
			gmp_lock(&stripe[i]);
		gmp_lock(&freelock);
		return;
	}
	gmp_unlock(&freelock);
	for (int i = STRIPES - 1; i >= 0; i--)
		gmp_unlock(&stripe[i]);
	if (phase == 1)
		return;
	for (int c = 0; c < FD_NCHUNK; c++) {
		_Atomic(struct shim_fd *) *chunk = atomic_load(&fdtab[c]);
		for (int i = 0; chunk && i < FD_CHUNK; i++) {
			struct shim_fd *r = atomic_load(&chunk[i]);
			if (r == NULL)
				continue;
			r->armed = false;
			atomic_store(&r->pd.nwait, 0);
			atomic_store(&r->pd.nsubs, 0);
			r->pd.subs = NULL;
			r->pd.lock = (gmp_mutex){ 0 };
		}
	}
}

/* A private number for a file whose user fd is being closed under blocked
 * calls: high, so that it does not take the number the program expects
 * its next open() to get. */
static int private_dup(int fd)
{
	struct rlimit rl;
	long lim = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (long)rl.rlim_cur : 1024;
	long min = lim > 2048 ? lim / 2 : lim > 64 ? lim - 32 : 0;
	long n = gmp_sys(SYS_fcntl, fd, F_DUPFD_CLOEXEC, min, 0, 0, 0);
	if (n < 0)
		n = gmp_sys(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 0, 0, 0, 0);
	return (int)n;
}

/*
 * fd is about to be closed (close, or replaced by dup2/dup3).  Calls in
 * flight on it keep the file: they carry on through a private duplicate,
 * closed when the last of them is done.
 */
static void fd_forget(int fd)
{
	_Atomic(struct shim_fd *) *s = slot_of(fd, false);
	if (s == NULL)
		return;
	gmp_mutex *l = &stripe[fd % STRIPES];
	gmp_lock(l);
	struct shim_fd *r = atomic_exchange(s, NULL);
	gmp_unlock(l);
	if (r == NULL)
		return;
	if (r->armed)
		gmp_pd_disarm(fd);
	if (atomic_load(&r->refs) > 1) {
		int nfd = private_dup(fd);
		if (nfd >= 0) {
			r->priv = true;
			atomic_store(&r->fd, nfd);
			if (r->armed && gmp_pd_arm(&r->pd, nfd) != 0)
				r->armed = false;
		}
	}
	gmp_pd_kick(&r->pd); /* poll()/select() waiters look again */
	shim_fd_put(r);
}

/* Forget fd's record, then let the kernel close it. */
int shim_fd_close(int fd)
{
	fd_forget(fd);
	return (int)gmp_sys(SYS_close, fd, 0, 0, 0, 0, 0);
}

/* ---------------------------------------------------------------- probing */

static int64_t tv_ns(const struct timeval *tv)
{
	return (int64_t)tv->tv_sec * 1000000000LL + (int64_t)tv->tv_usec * 1000;
}

static void probe(struct shim_fd *r)
{
	struct stat st;
	int fd = atomic_load(&r->fd);
	if (gmp_sys(SYS_fstat, fd, &st, 0, 0, 0, 0) != 0)
		return; /* EBADF: the call itself will say so */
	switch (st.st_mode & S_IFMT) {
	case S_IFSOCK: {
		struct timeval tv;
		socklen_t len = sizeof tv;
		if (gmp_sys(SYS_getsockopt, fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len, 0) == 0)
			r->rcvtimeo = tv_ns(&tv);
		len = sizeof tv;
		if (gmp_sys(SYS_getsockopt, fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len, 0) == 0)
			r->sndtimeo = tv_ns(&tv);
		r->kind = K_SOCK;
		break;
	}
	case S_IFREG:
	case S_IFBLK:
	case S_IFDIR:
		r->kind = K_FILE;
		break;
	default: /* FIFOs, character devices, eventfd/timerfd/signalfd/epoll... */
		r->kind = K_NOWAIT;
		break;
	}
}

uint8_t shim_fd_kind(struct shim_fd *r)
{
	if (r->kind == K_UNKNOWN)
		probe(r);
	return r->kind;
}

/* The program's view of O_NONBLOCK on r's description. */
bool shim_fd_nonblock(struct shim_fd *r)
{
	if (r->flipped)
		return r->user_nb;
	uint32_t g = atomic_load(&nbgen);
	if (r->nbgen == g)
		return r->nbval;
	long fl = gmp_sys(SYS_fcntl, atomic_load(&r->fd), F_GETFL, 0, 0, 0, 0);
	r->nbval = fl >= 0 && (fl & O_NONBLOCK);
	r->nbgen = g;
	return r->nbval;
}

/* ---------------------------------------------------------------- waiting */

/* Would every signal in sigs let a restartable call go on (SA_RESTART,
 * or ignored)? */
static bool all_restart(uint64_t sigs)
{
	while (sigs) {
		int sig = __builtin_ctzll(sigs) + 1;
		sigs &= sigs - 1;
		struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } ka;
		if (gmp_sys(SYS_rt_sigaction, sig, NULL, &ka, 8, 0, 0) != 0)
			continue;
		if (ka.handler == SIG_IGN || ka.handler == SIG_DFL)
			continue;
		if (!(ka.flags & SA_RESTART))
			return false;
	}
	return true;
}

void shim_wait_begin(struct shim_thread *self)
{
	gmp_intr_clear(self->g);
	atomic_store(&self->g->sigdelivered, 0);
	shim_testcancel(self);
}

/*
 * The wait of self was interrupted: act on a cancel, or decide whether the
 * call goes on (0) or fails with EINTR.
 */
int shim_wait_interrupted(struct shim_thread *self, bool restart)
{
	shim_testcancel(self);
	uint64_t sigs = atomic_exchange(&self->g->sigdelivered, 0);
	gmp_intr_clear(self->g);
	if (sigs == 0 || (restart && all_restart(sigs)))
		return 0;
	return -EINTR;
}

int shim_fd_arm(struct shim_fd *r)
{
	if (r->armed)
		return 0;
	int e = gmp_pd_arm(&r->pd, atomic_load(&r->fd));
	if (e == -EPERM) {
		r->kind = K_FILE; /* never "not ready": the call just runs */
		return e;
	}
	if (e == 0)
		r->armed = true;
	return e;
}

/*
 * Wait for the side (write or read) of r to move past seq.  Returns 0 to try
 * again, -ETIMEDOUT, -EINTR, or another -errno from arming.
 */
int shim_fd_wait(struct shim_fd *r, bool write, uint32_t seq, int64_t deadline, bool restart)
{
	int e = shim_fd_arm(r);
	if (e == -EPERM)
		return 0;
	if (e < 0)
		return e;
	struct shim_thread *self = shim_self();
	shim_wait_begin(self);
	for (;;) {
		int w = gmp_pd_wait(&r->pd, write, seq, deadline);
		if (w == 0 || w == -EAGAIN)
			return 0;
		if (w == -ETIMEDOUT)
			return w;
		if (shim_wait_interrupted(self, restart) != 0)
			return -EINTR;
		if (gmp_pd_seq(&r->pd, write) != seq)
			return 0;
	}
}

static int64_t deadline_after(int64_t ns)
{
	return ns > 0 ? gmp_nanotime() + ns : -1;
}

/* ---------------------------------------------------------------- operations */

enum op {
	OP_READ, OP_WRITE, OP_READV, OP_WRITEV, OP_RECVFROM, OP_SENDTO, OP_RECVMSG, OP_SENDMSG, OP_ACCEPT,
};

struct io {
	enum op op;
	void *buf;
	size_t len;
	const struct iovec *iov;
	int iovcnt;
	int flags;
	struct sockaddr *addr;
	socklen_t *alen;
	const struct sockaddr *daddr;
	socklen_t dalen;
	struct msghdr *msg;
};

static bool op_writes(enum op op)
{
	return op == OP_WRITE || op == OP_WRITEV || op == OP_SENDTO || op == OP_SENDMSG;
}

/* The call as the program made it, with extra socket flags. */
static long plain(int fd, const struct io *a, int dw)
{
	switch (a->op) {
	case OP_READ: return gmp_sys(SYS_read, fd, a->buf, a->len, 0, 0, 0);
	case OP_WRITE: return gmp_sys(SYS_write, fd, a->buf, a->len, 0, 0, 0);
	case OP_READV: return gmp_sys(SYS_readv, fd, a->iov, a->iovcnt, 0, 0, 0);
	case OP_WRITEV: return gmp_sys(SYS_writev, fd, a->iov, a->iovcnt, 0, 0, 0);
	case OP_RECVFROM: return gmp_sys(SYS_recvfrom, fd, a->buf, a->len, a->flags | dw, a->addr, a->alen);
	case OP_SENDTO: return gmp_sys(SYS_sendto, fd, a->buf, a->len, a->flags | dw, a->daddr, a->dalen);
	case OP_RECVMSG: return gmp_sys(SYS_recvmsg, fd, a->msg, a->flags | dw, 0, 0, 0);
	case OP_SENDMSG: return gmp_sys(SYS_sendmsg, fd, a->msg, a->flags | dw, 0, 0, 0);
	case OP_ACCEPT: return gmp_sys(SYS_accept4, fd, a->addr, a->alen, a->flags, 0, 0);
	}
	return -EINVAL;
}

/* Sockets: the same call with MSG_DONTWAIT (read/write as recv/send). */
static long sock_nb(struct shim_fd *r, int fd, const struct io *a)
{
	struct msghdr mh;
	switch (a->op) {
	case OP_READ: return gmp_sys(SYS_recvfrom, fd, a->buf, a->len, MSG_DONTWAIT, 0, 0);
	case OP_WRITE: return gmp_sys(SYS_sendto, fd, a->buf, a->len, MSG_DONTWAIT, 0, 0);
	case OP_READV:
	case OP_WRITEV:
		memset(&mh, 0, sizeof mh);
		mh.msg_iov = (struct iovec *)a->iov;
		mh.msg_iovlen = (size_t)a->iovcnt;
		return gmp_sys(a->op == OP_READV ? SYS_recvmsg : SYS_sendmsg, fd, &mh, MSG_DONTWAIT, 0, 0, 0);
	case OP_ACCEPT:
		if (r->flipped || shim_fd_nonblock(r))
			return plain(fd, a, 0);
		return -ENOSYS; /* no per-call flag: poll first */
	default:
		return plain(fd, a, MSG_DONTWAIT);
	}
}

/* Pipes and the like: RWF_NOWAIT. -EOPNOTSUPP when the file has no such mode. */
static long nowait_nb(int fd, const struct io *a)
{
	struct iovec one = { a->buf, a->len };
	switch (a->op) {
	case OP_READ: return gmp_sys(SYS_preadv2, fd, &one, 1, -1, 0, RWF_NOWAIT);
	case OP_WRITE: return gmp_sys(SYS_pwritev2, fd, &one, 1, -1, 0, RWF_NOWAIT);
	case OP_READV: return gmp_sys(SYS_preadv2, fd, a->iov, a->iovcnt, -1, 0, RWF_NOWAIT);
	case OP_WRITEV: return gmp_sys(SYS_pwritev2, fd, a->iov, a->iovcnt, -1, 0, RWF_NOWAIT);
	default: return plain(fd, a, 0); /* socket calls on a non-socket: the kernel's error */
	}
}

/* One attempt that does not block (for long): a result, or -EAGAIN. */
static long attempt(struct shim_fd *r, const struct io *a)
{
	int fd = atomic_load(&r->fd);
	long n;
	switch (shim_fd_kind(r)) {
	case K_SOCK:
		n = sock_nb(r, fd, a);
		if (n != -ENOSYS)
			return n;
		break;
	case K_NOWAIT:
		n = nowait_nb(fd, a);
		if (n != -EOPNOTSUPP && n != -EINVAL)
			return n;
		r->kind = K_POLL;
		break;
	case K_POLL:
		break;
	default:
		return SHIM_BLOCKING(plain(fd, a, 0));
	}
	/* No per-call flag: look first, then make the call (it may still
	 * block if another thread takes the data; it is bracketed). */
	struct pollfd p = { .fd = fd, .events = op_writes(a->op) ? POLLOUT : POLLIN };
	n = gmp_sys(SYS_poll, &p, 1, 0, 0, 0, 0);
	if (n == 0)
		return -EAGAIN;
	return SHIM_BLOCKING(plain(fd, a, 0));
}

/*
 * One operation with the blocking semantics the program asked for: the
 * first result that is not "would block", after waiting as needed.
 */
static long perform(struct shim_fd *r, const struct io *a)
{
	bool wr = op_writes(a->op);
	int64_t deadline = -1;
	bool timed = false;
	for (;;) {
		uint32_t seq = gmp_pd_seq(&r->pd, wr);
		long n = attempt(r, a);
		if (n == -ENOTSOCK && r->kind == K_SOCK) { /* the number was reused behind our back */
			r->kind = K_UNKNOWN;
			continue;
		}
		if (n != -EAGAIN)
			gmp_pd_pass(&r->pd, wr); /* more data, or the error, for the next waiter */
		if (n != -EAGAIN || shim_fd_nonblock(r))
			return n;
		if (r->kind == K_FILE)
			continue; /* turned out not pollable: now it just runs */
		if (!timed) {
			timed = true;
			deadline = deadline_after(a->op == OP_ACCEPT || !wr ? r->rcvtimeo : r->sndtimeo);
		}
		int w = shim_fd_wait(r, wr, seq, deadline, deadline < 0);
		if (w == -ETIMEDOUT)
			return -EAGAIN;
		if (w < 0)
			return w;
	}
}

/* Total length of an iovec array. */
static size_t iov_total(const struct iovec *iov, int cnt)
{
	size_t t = 0;
	for (int i = 0; i < cnt; i++)
		t += iov[i].iov_len;
	return t;
}

/*
 * Write-like operations on a blocking stream complete in full (or stop at
 * an error, a signal or a timeout, returning what was written), as the
 * kernel's blocking write does; the would-block attempt that wrote n may
 * have written only part.
 */
static long write_rest(struct shim_fd *r, const struct io *a, long n)
{
	if (n <= 0)
		return n;
	size_t want = a->op == OP_WRITEV ? iov_total(a->iov, a->iovcnt) :
		      a->op == OP_SENDMSG ? iov_total(a->msg->msg_iov, (int)a->msg->msg_iovlen) : a->len;
	size_t done = (size_t)n;
	if (done >= want || r->kind == K_FILE || shim_fd_nonblock(r))
		return n;
	if (a->op == OP_WRITEV || a->op == OP_SENDMSG) {
		/* Advance through a private copy of the iovec array. */
		const struct iovec *src = a->op == OP_WRITEV ? a->iov : a->msg->msg_iov;
		int cnt = a->op == OP_WRITEV ? a->iovcnt : (int)a->msg->msg_iovlen;
		struct iovec *v = malloc(sizeof *v * (size_t)cnt);
		if (v == NULL)
			return n;
		struct msghdr mh;
		if (a->op == OP_SENDMSG)
			mh = *a->msg;
		while (done < want) {
			size_t skip = done;
			int i;
			memcpy(v, src, sizeof *v * (size_t)cnt);
			for (i = 0; i < cnt && skip >= v[i].iov_len; i++)
				skip -= v[i].iov_len;
			struct iovec *cur = v + i;
			int left = cnt - i;
			cur[0].iov_base = (char *)cur[0].iov_base + skip;
			cur[0].iov_len -= skip;
			struct io b = *a;
			if (a->op == OP_WRITEV) {
				b.iov = cur;
				b.iovcnt = left;
			} else {
				mh.msg_iov = cur;
				mh.msg_iovlen = (size_t)left;
				mh.msg_control = NULL; /* ancillary data went with the first part */
				mh.msg_controllen = 0;
				b.msg = &mh;
			}
			long k = perform(r, &b);
			if (k <= 0)
				break;
			done += (size_t)k;
		}
		free(v);
	} else {
		/* sendto with an address: datagrams go whole, never in parts. */
		while (done < want && !(a->op == OP_SENDTO && a->daddr)) {
			struct io b = *a;
			b.buf = (char *)a->buf + done;
			b.len = want - done;
			long k = perform(r, &b);
			if (k <= 0)
				break;
			done += (size_t)k;
		}
	}
	return (long)done;
}

/* Runs one operation on fd; whole: a write that completes in full. */
static long io_op(int fd, const struct io *a, bool whole)
{
	if (!shim_may_park())
		return plain(fd, a, 0);
	gmp_preempt_check();
	SHIM_FD_REF(r, fd);
	if (r == NULL)
		return SHIM_BLOCKING(plain(fd, a, 0));
	long n = perform(r, a);
	return whole ? write_rest(r, a, n) : n;
}

static long io_once(int fd, const struct io *a)
{
	return io_op(fd, a, false);
}

static long io_write(int fd, const struct io *a)
{
	return io_op(fd, a, true);
}

GMP_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	struct io a = { .op = OP_READ, .buf = buf, .len = n };
	return shim_ret(io_once(fd, &a));
}

GMP_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	struct io a = { .op = OP_WRITE, .buf = (void *)buf, .len = n };
	return shim_ret(io_write(fd, &a));
}

GMP_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	struct io a = { .op = OP_READV, .iov = iov, .iovcnt = cnt };
	return shim_ret(io_once(fd, &a));
}

GMP_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	struct io a = { .op = OP_WRITEV, .iov = iov, .iovcnt = cnt };
	return shim_ret(io_write(fd, &a));
}

GMP_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr, socklen_t *alen)
{
	struct io a = { .op = OP_RECVFROM, .buf = buf, .len = n, .flags = flags & ~MSG_WAITALL,
			.addr = addr, .alen = alen };
	if (!(flags & MSG_WAITALL) || (flags & MSG_DONTWAIT))
		return shim_ret(io_once(fd, &a));
	/* MSG_WAITALL: until n bytes, end of file, an error or a signal. */
	size_t done = 0;
	while (done < n) {
		a.buf = (char *)buf + done;
		a.len = n - done;
		long k = io_once(fd, &a);
		if (k < 0 && done == 0)
			return shim_ret(k);
		if (k <= 0)
			break;
		done += (size_t)k;
	}
	return (ssize_t)done;
}

GMP_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	return recvfrom(fd, buf, n, flags, NULL, NULL);
}

GMP_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
			  socklen_t alen)
{
	struct io a = { .op = OP_SENDTO, .buf = (void *)buf, .len = n, .flags = flags, .daddr = addr, .dalen = alen };
	if (flags & MSG_DONTWAIT)
		return shim_ret(io_once(fd, &a));
	return shim_ret(io_write(fd, &a));
}

GMP_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	return sendto(fd, buf, n, flags, NULL, 0);
}

/* File descriptors that arrived with a message (SCM_RIGHTS) are new files. */
static void note_received_fds(struct msghdr *msg)
{
	if (msg->msg_controllen == 0)
		return;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int *fds = (int *)CMSG_DATA(c);
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++)
			shim_fd_new(fds[i]);
	}
}

GMP_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct io a = { .op = OP_RECVMSG, .msg = msg, .flags = flags };
	long n = io_once(fd, &a);
	if (n >= 0)
		note_received_fds(msg);
	return shim_ret(n);
}

GMP_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct io a = { .op = OP_SENDMSG, .msg = (struct msghdr *)msg, .flags = flags };
	if (flags & MSG_DONTWAIT)
		return shim_ret(io_once(fd, &a));
	return shim_ret(io_write(fd, &a));
}

/*
 * recvmmsg: as the kernel, a blocking call waits for the first message and
 * then for vlen of them (MSG_WAITFORONE: only the first), or until timeout.
 */
GMP_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags, struct timespec *timeout)
{
	if (!shim_may_park() || (flags & MSG_DONTWAIT) || vlen == 0)
		return (int)shim_ret(SHIM_BLOCKING(gmp_sys(SYS_recvmmsg, fd, vec, vlen, flags, timeout, 0)));
	int64_t dl = -1;
	if (timeout) {
		if (shim_bad_ts(timeout)) {
			errno = EINVAL;
			return -1;
		}
		dl = timeout->tv_sec < 0 ? gmp_nanotime() : shim_rel_deadline(timeout);
	}
	unsigned got = 0;
	long n = 0;
	while (got < vlen) {
		if (got == 0) {
			struct io a = { .op = OP_RECVMSG, .msg = &vec[0].msg_hdr, .flags = flags & ~MSG_WAITFORONE };
			n = io_once(fd, &a);
			if (n >= 0) {
				vec[0].msg_len = (unsigned)n;
				note_received_fds(&vec[0].msg_hdr);
				n = 1;
			}
		} else {
			n = gmp_sys(SYS_recvmmsg, fd, vec + got, vlen - got, flags | MSG_DONTWAIT, NULL, 0);
			if (n == -EAGAIN && !(flags & MSG_WAITFORONE) && (dl < 0 || gmp_nanotime() < dl)) {
				SHIM_FD_REF(r, fd);
				if (r) {
					uint32_t seq = gmp_pd_seq(&r->pd, false);
					n = gmp_sys(SYS_recvmmsg, fd, vec + got, vlen - got, flags | MSG_DONTWAIT, NULL, 0);
					if (n != -EAGAIN)
						gmp_pd_pass(&r->pd, false);
					else if (shim_fd_wait(r, false, seq, dl, false) == 0)
						n = 0;
				}
				if (n == 0)
					continue;
			}
			for (long i = 0; i < n; i++)
				note_received_fds(&vec[got + i].msg_hdr);
		}
		if (n <= 0)
			break;
		got += (unsigned)n;
		if (flags & MSG_WAITFORONE)
			flags |= MSG_DONTWAIT;
	}
	if (got == 0)
		return (int)shim_ret(n < 0 ? n : -EAGAIN); /* the first receive's error */
	return (int)got;
}

GMP_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags)
{
	if (vlen == 0) /* nothing to send: the kernel's checks and answer */
		return (int)shim_ret(gmp_sys(SYS_sendmmsg, fd, vec, 0, flags, 0, 0));
	unsigned i;
	for (i = 0; i < vlen; i++) {
		ssize_t n = sendmsg(fd, &vec[i].msg_hdr, flags);
		if (n < 0)
			return i > 0 ? (int)i : -1;
		vec[i].msg_len = (unsigned)n;
	}
	return (int)i;
}

/* ---------------------------------------------------------------- accept, connect */

static int do_accept(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
	if (!shim_may_park())
		return (int)shim_ret(gmp_sys(SYS_accept4, fd, addr, alen, flags, 0, 0));
	SHIM_FD_REF(r, fd);
	if (r == NULL)
		return (int)shim_ret(SHIM_BLOCKING(gmp_sys(SYS_accept4, fd, addr, alen, flags, 0, 0)));
	struct io a = { .op = OP_ACCEPT, .addr = addr, .alen = alen, .flags = flags };
	long n = perform(r, &a);
	if (n >= 0) {
		struct shim_fd *c = fd_install((int)n, K_SOCK, true, (flags & SOCK_NONBLOCK) != 0);
		if (c) { /* Linux copies the listener's timeouts to the new socket */
			c->rcvtimeo = r->rcvtimeo;
			c->sndtimeo = r->sndtimeo;
		}
	}
	return (int)shim_ret(n);
}

GMP_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
	return do_accept(fd, addr, alen, 0);
}

GMP_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
	return do_accept(fd, addr, alen, flags);
}

static long connect_wait(struct shim_fd *r, int fd)
{
	int64_t dl = deadline_after(r->sndtimeo);
	for (;;) {
		uint32_t seq = gmp_pd_seq(&r->pd, true);
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		if (gmp_sys(SYS_poll, &p, 1, 0, 0, 0, 0) > 0) {
			gmp_pd_pass(&r->pd, true);
			break;
		}
		int w = shim_fd_wait(r, true, seq, dl, true);
		if (w == -ETIMEDOUT)
			return -EINPROGRESS; /* the connection goes on, as in Linux */
		if (w < 0)
			return w;
	}
	int err = 0;
	socklen_t len = sizeof err;
	long k = gmp_sys(SYS_getsockopt, fd, SOL_SOCKET, SO_ERROR, &err, &len, 0);
	if (k < 0)
		return k;
	return -err;
}

GMP_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (!shim_may_park())
		return (int)shim_ret(gmp_sys(SYS_connect, fd, addr, len, 0, 0, 0));
	SHIM_FD_REF(r, fd);
	if (r == NULL || shim_fd_kind(r) != K_SOCK)
		return (int)shim_ret(SHIM_BLOCKING(gmp_sys(SYS_connect, fd, addr, len, 0, 0, 0)));
	/* One look at the flags serves both questions: is the program's
	 * socket non-blocking, and what to restore. */
	long fl = gmp_sys(SYS_fcntl, fd, F_GETFL, 0, 0, 0, 0);
	long n;
	if (fl < 0 || r->flipped || (fl & O_NONBLOCK)) {
		n = gmp_sys(SYS_connect, fd, addr, len, 0, 0, 0); /* the program's own non-blocking connect */
	} else {
		/* A blocking connect: started non-blocking, then waited for. */
		gmp_sys(SYS_fcntl, fd, F_SETFL, fl | O_NONBLOCK, 0, 0, 0);
		n = gmp_sys(SYS_connect, fd, addr, len, 0, 0, 0);
		gmp_sys(SYS_fcntl, fd, F_SETFL, fl, 0, 0, 0);
		if (n == -EAGAIN) /* AF_UNIX with a full backlog: no event will come */
			n = SHIM_BLOCKING(gmp_sys(SYS_connect, fd, addr, len, 0, 0, 0));
		else if (n == -EINPROGRESS)
			n = connect_wait(r, fd);
	}
	return (int)shim_ret(n);
}

GMP_EXPORT int listen(int fd, int backlog)
{
	long n = gmp_sys(SYS_listen, fd, backlog, 0, 0, 0, 0);
	if (n == 0 && shim_may_park()) {
		/* accept has no per-call non-blocking flag: a listener this
		 * process made is switched to non-blocking here, keeping the
		 * program's view of the flag (fcntl, ioctl) separately. */
		struct shim_fd *r = shim_fd_get(fd);
		if (r && r->owned && !r->flipped) {
			long fl = gmp_sys(SYS_fcntl, fd, F_GETFL, 0, 0, 0, 0);
			if (fl >= 0 && !(fl & O_NONBLOCK) &&
			    gmp_sys(SYS_fcntl, fd, F_SETFL, fl | O_NONBLOCK, 0, 0, 0) == 0) {
				r->user_nb = false;
				r->flipped = true;
			}
		}
		shim_fd_put(r);
	}
	return (int)shim_ret(n);
}

/* ---------------------------------------------------------------- fd lifecycle */

GMP_EXPORT int socket(int domain, int type, int proto)
{
	long n = gmp_sys(SYS_socket, domain, type, proto, 0, 0, 0);
	if (n >= 0)
		fd_install((int)n, K_SOCK, true, (type & SOCK_NONBLOCK) != 0);
	return (int)shim_ret(n);
}

GMP_EXPORT int socketpair(int domain, int type, int proto, int sv[2])
{
	long n = gmp_sys(SYS_socketpair, domain, type, proto, sv, 0, 0);
	if (n == 0) {
		fd_install(sv[0], K_SOCK, true, (type & SOCK_NONBLOCK) != 0);
		fd_install(sv[1], K_SOCK, true, (type & SOCK_NONBLOCK) != 0);
	}
	return (int)shim_ret(n);
}

GMP_EXPORT int pipe2(int fds[2], int flags)
{
	long n = gmp_sys(SYS_pipe2, fds, flags, 0, 0, 0, 0);
	if (n == 0) {
		fd_install(fds[0], K_NOWAIT, true, (flags & O_NONBLOCK) != 0);
		fd_install(fds[1], K_NOWAIT, true, (flags & O_NONBLOCK) != 0);
	}
	return (int)shim_ret(n);
}

GMP_EXPORT int pipe(int fds[2])
{
	return pipe2(fds, 0);
}

static int new_nowait_fd(long n, int nbflag)
{
	if (n >= 0)
		fd_install((int)n, K_NOWAIT, true, nbflag != 0);
	return (int)shim_ret(n);
}

GMP_EXPORT int eventfd(unsigned initval, int flags)
{
	return new_nowait_fd(gmp_sys(SYS_eventfd2, initval, flags, 0, 0, 0, 0), flags & O_NONBLOCK);
}

GMP_EXPORT int timerfd_create(int clk, int flags)
{
	return new_nowait_fd(gmp_sys(SYS_timerfd_create, clk, flags, 0, 0, 0, 0), flags & O_NONBLOCK);
}

GMP_EXPORT int signalfd(int fd, const sigset_t *mask, int flags)
{
	long n = gmp_sys(SYS_signalfd4, fd, mask, 8, flags, 0, 0);
	if (fd != -1)
		return (int)shim_ret(n); /* an existing signalfd changed its mask */
	return new_nowait_fd(n, flags & O_NONBLOCK);
}

GMP_EXPORT int epoll_create1(int flags)
{
	long n = gmp_sys(SYS_epoll_create1, flags, 0, 0, 0, 0, 0);
	if (n >= 0)
		fd_install((int)n, K_POLL, true, -1);
	return (int)shim_ret(n);
}

GMP_EXPORT int epoll_create(int size)
{
	if (size <= 0) {
		errno = EINVAL;
		return -1;
	}
	return epoll_create1(0);
}

/* fd2 now refers to fd's description (dup family): what we knew of fd. */
static void note_dup(int fd, long fd2)
{
	if (fd2 < 0)
		return;
	struct shim_fd *r = shim_fd_get(fd);
	struct shim_fd *n = fd_install((int)fd2, r ? r->kind : K_UNKNOWN, r && r->owned, -1);
	if (r && n) {
		n->flipped = r->flipped;
		n->user_nb = r->user_nb;
		n->rcvtimeo = r->rcvtimeo;
		n->sndtimeo = r->sndtimeo;
	}
	shim_fd_put(r);
}

GMP_EXPORT int dup(int fd)
{
	long n = gmp_sys(SYS_dup, fd, 0, 0, 0, 0, 0);
	note_dup(fd, n);
	return (int)shim_ret(n);
}

GMP_EXPORT int dup3(int fd, int fd2, int flags)
{
	if (fd == fd2) { /* dup3 refuses it; dup2 checks fd and returns it */
		errno = EINVAL;
		return -1;
	}
	long ok = gmp_sys(SYS_fcntl, fd, F_GETFD, 0, 0, 0, 0);
	if (ok < 0)
		return (int)shim_ret(ok);
	fd_forget(fd2);
	long n = gmp_sys(SYS_dup3, fd, fd2, flags, 0, 0, 0);
	note_dup(fd, n);
	return (int)shim_ret(n);
}

GMP_EXPORT int dup2(int fd, int fd2)
{
	if (fd == fd2)
		return (int)shim_ret(gmp_sys(SYS_fcntl, fd, F_GETFD, 0, 0, 0, 0) < 0 ? -EBADF : fd);
	return dup3(fd, fd2, 0);
}

GMP_EXPORT int close(int fd)
{
	if (!shim_may_park())
		return (int)shim_ret(gmp_sys(SYS_close, fd, 0, 0, 0, 0, 0));
	/* A daemon closing every descriptor must not take the poller's: it
	 * is told the close worked (the number stays taken). */
	if (unlikely(gmp_netpoll_owns(fd)))
		return 0;
	return (int)shim_ret(shim_fd_close(fd));
}

static int do_fcntl(int fd, int cmd, long arg)
{
	long n;
	struct shim_fd *r;
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		n = gmp_sys(SYS_fcntl, fd, cmd, arg, 0, 0, 0);
		note_dup(fd, n);
		return (int)shim_ret(n);
	case F_GETFL:
		n = gmp_sys(SYS_fcntl, fd, cmd, arg, 0, 0, 0);
		if (n >= 0 && shim_may_park() && (r = shim_fd_get(fd)) != NULL) {
			if (r->flipped)
				n = r->user_nb ? (n | O_NONBLOCK) : (n & ~O_NONBLOCK);
			shim_fd_put(r);
		}
		return (int)shim_ret(n);
	case F_SETFL:
		if (shim_may_park() && (r = shim_fd_get(fd)) != NULL) {
			if (r->flipped) {
				n = gmp_sys(SYS_fcntl, fd, cmd, arg | O_NONBLOCK, 0, 0, 0);
				if (n == 0)
					r->user_nb = (arg & O_NONBLOCK) != 0;
			} else {
				n = gmp_sys(SYS_fcntl, fd, cmd, arg, 0, 0, 0);
			}
			atomic_fetch_add(&nbgen, 1);
			shim_fd_put(r);
			return (int)shim_ret(n);
		}
		return (int)shim_ret(gmp_sys(SYS_fcntl, fd, cmd, arg, 0, 0, 0));
	case F_SETLKW:
		return (int)shim_ret(SHIM_CP(SYS_fcntl, fd, cmd, arg, 0, 0, 0));
	case F_OFD_SETLKW:
		return (int)shim_ret(SHIM_BLOCKING(gmp_sys(SYS_fcntl, fd, cmd, arg, 0, 0, 0)));
	default:
		return (int)shim_ret(gmp_sys(SYS_fcntl, fd, cmd, arg, 0, 0, 0));
	}
}

GMP_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return do_fcntl(fd, cmd, arg);
}

/* The LFS name (_FILE_OFFSET_BITS=64 builds call it): the same on x86-64. */
GMP_EXPORT int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

GMP_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (req == FIONBIO && shim_may_park()) {
		struct shim_fd *r = shim_fd_get(fd);
		long n;
		if (r && r->flipped) {
			n = gmp_sys(SYS_fcntl, fd, F_GETFL, 0, 0, 0, 0); /* validates fd */
			if (n >= 0) {
				r->user_nb = *(int *)arg != 0;
				n = 0;
			}
		} else {
			n = gmp_sys(SYS_ioctl, fd, req, arg, 0, 0, 0);
		}
		atomic_fetch_add(&nbgen, 1);
		shim_fd_put(r);
		return (int)shim_ret(n);
	}
	/* Terminal drains (TCSBRK, TCSETSW...) and device ioctls may block. */
	return (int)shim_ret(SHIM_BLOCKING(gmp_sys(SYS_ioctl, fd, req, arg, 0, 0, 0)));
}

GMP_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	long n = gmp_sys(SYS_setsockopt, fd, level, name, val, len, 0);
	if (n == 0 && level == SOL_SOCKET && shim_may_park() &&
	    (name == SO_RCVTIMEO_OLD || name == SO_SNDTIMEO_OLD || name == SO_RCVTIMEO_NEW ||
	     name == SO_SNDTIMEO_NEW) && len >= sizeof(struct timeval)) {
		struct shim_fd *r = shim_fd_get(fd);
		if (r) {
			int64_t ns = tv_ns(val);
			if (name == SO_RCVTIMEO_OLD || name == SO_RCVTIMEO_NEW)
				r->rcvtimeo = ns;
			else
				r->sndtimeo = ns;
			shim_fd_put(r);
		}
	}
	return (int)shim_ret(n);
}

/* Fortified entry points (-D_FORTIFY_SOURCE) of the calls above. */
GMP_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (n > buflen)
		__chk_fail();
	return read(fd, buf, n);
}

GMP_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	if (n > buflen)
		__chk_fail();
	return recv(fd, buf, n, flags);
}

GMP_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
				  struct sockaddr *addr, socklen_t *alen)
{
	if (n > buflen)
		__chk_fail();
	return recvfrom(fd, buf, n, flags, addr, alen);
}
