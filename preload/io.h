/*
 * preload/io.h: the fd layer shared by io.c (read/write/accept/connect and
 * the fd lifecycle), poll.c (poll/select/epoll_wait) and blocking.c (calls
 * bracketed as blocking syscalls).  See io.c for the design.
 */
#ifndef GMP_IO_H
#define GMP_IO_H

#include "shim.h"

/* What a would-block attempt on the fd looks like (io.c). */
enum {
	K_UNKNOWN = 0, /* not looked at yet (fstat on first use) */
	K_SOCK,        /* MSG_DONTWAIT */
	K_NOWAIT,      /* pipes, FIFOs, eventfd...: RWF_NOWAIT */
	K_POLL,        /* pollable without a per-call flag: poll, then the call */
	K_FILE,        /* never "not ready": the call runs, bracketed */
};

/* One per fd number in use; type-stable memory (recycled, never freed). */
struct shim_fd {
	struct gmp_pd pd;           /* first: the poller holds &pd */
	_Atomic int fd;             /* the number calls use (a private dup after close) */
	_Atomic int refs;           /* 1 for the table + 1 per call in flight */
	uint8_t kind;               /* K_* */
	bool armed;                 /* watched by the poller */
	bool owned;                 /* created here by an interposed call */
	bool flipped;               /* a listener made non-blocking by listen() ... */
	bool user_nb;               /* ... and the O_NONBLOCK the program believes in */
	bool priv;                  /* fd is the shim's own duplicate */
	bool nbval;                 /* cached O_NONBLOCK, valid while nbgen matches */
	uint32_t nbgen;
	int64_t rcvtimeo, sndtimeo; /* SO_RCVTIMEO / SO_SNDTIMEO, ns, 0 none */
	struct shim_fd *freelink;
};

/* The record of fd with a reference (NULL: fd out of range). */
struct shim_fd *shim_fd_get(int fd);
void shim_fd_put(struct shim_fd *r);
/* A reference dropped when the variable goes out of scope -- also when a
 * cancellation unwinds the frame (the layer is built with -fexceptions). */
void shim_fd_unref(struct shim_fd **rp);
#define SHIM_FD_REF(var, fd) \
	struct shim_fd *var __attribute__((cleanup(shim_fd_unref))) = shim_fd_get(fd)
/* fd is a new file (made by a call the shim sees): forget the old record. */
void shim_fd_new(int fd);
/* close(): forget fd, then close it in the kernel; -errno. */
int shim_fd_close(int fd);
uint8_t shim_fd_kind(struct shim_fd *r);
/* fork(): 0 before (locks taken), 1 in the parent, 2 in the child after. */
void shim_fd_fork(int phase);
bool shim_fd_nonblock(struct shim_fd *r);
/* Watch r in the poller (0, -EPERM: not pollable, -errno). */
int shim_fd_arm(struct shim_fd *r);
/* Wait for an edge on one side past seq: 0 (try again), -ETIMEDOUT, -EINTR. */
int shim_fd_wait(struct shim_fd *r, bool write, uint32_t seq, int64_t deadline, bool restart);

/* Whether a call may park its thread: not before the runtime exists, nor
 * in a signal handler that interrupted a blocking call (its G is not
 * RUNNING; it may only block its OS thread). */
static inline bool shim_may_park(void)
{
	return gmp_runtime_inited() && !gmp_in_syscall() && !gmp_in_runtime();
}

/* A raw result (-errno on failure) as libc returns it: -1 and errno. */
static inline long shim_ret(long n)
{
	if (n < 0) {
		errno = (int)-n;
		return -1;
	}
	return n;
}

/* glibc's fortify failure (the _chk entry points). */
extern void __chk_fail(void) __attribute__((noreturn));

/* Interruptible waits: begin (clears the interrupt, acts on a pending
 * cancel) and, after -EINTR, what it means: 0 go on waiting (a cancel that
 * is disabled; SA_RESTART handlers when restart), or -EINTR. */
void shim_wait_begin(struct shim_thread *self);
int shim_wait_interrupted(struct shim_thread *self, bool restart);

#endif
