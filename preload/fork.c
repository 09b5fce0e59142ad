/*
 * fork() and pthread_atfork().
 *
 * The handlers are kept here, not in glibc: the runtime must be rebuilt in
 * the child (src/fork.c) before any child handler runs, since a handler may
 * unlock a mutex or create a thread.  Order is POSIX's: prepare handlers in
 * reverse order of registration, parent and child handlers in order.
 * Registrations are never removed (a dlclose()d library's handlers stay:
 * documented).
 */
#include "io.h"

#include <stdlib.h>
#include <unistd.h>

struct atfork {
	void (*prepare)(void), (*parent)(void), (*child)(void);
};

#define ATFORK_CHUNK 64
static struct atfork *_Atomic handlers;  /* array, grown by copying */
static _Atomic int nhandlers, caphandlers;
static gmp_mutex atfork_lock;

GMP_EXPORT int __register_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void), void *dso)
{
	gmp_lock(&atfork_lock);
	int n = atomic_load(&nhandlers), cap = atomic_load(&caphandlers);
	struct atfork *h = atomic_load(&handlers);
	if (n == cap) {
		/* Old arrays are never freed: a concurrent fork may read them. */
		struct atfork *nh = gmp_rawalloc(sizeof *nh * (size_t)(cap + ATFORK_CHUNK));
		if (nh == NULL) {
			gmp_unlock(&atfork_lock);
			return ENOMEM;
		}
		for (int i = 0; i < n; i++)
			nh[i] = h[i];
		atomic_store(&handlers, nh);
		atomic_store(&caphandlers, cap + ATFORK_CHUNK);
		h = nh;
	}
	h[n] = (struct atfork){ prepare, parent, child };
	atomic_store(&nhandlers, n + 1);
	gmp_unlock(&atfork_lock);
	return 0;
}

GMP_EXPORT int pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
	return __register_atfork(prepare, parent, child, NULL);
}

static pid_t do_fork(pid_t (*real)(void), bool run_handlers)
{
	struct shim_thread *self = shim_self();
	struct atfork *h = atomic_load(&handlers);
	int n = run_handlers ? atomic_load(&nhandlers) : 0;
	for (int i = n - 1; i >= 0; i--)
		if (h[i].prepare)
			h[i].prepare();
	shim_fd_fork(0);
	gmp_fork_prepare();
	/* glibc's fork must run as the OS thread (tcb.c); errno with it. */
	gmp_tls_os_enter();
	pid_t pid = real();
	int e = errno;
	if (pid == 0) {
		gmp_fork_child();
		shim_fd_fork(2);
		gmp_tls_os_leave();
		atfork_lock = (gmp_mutex){ 0 };
		shim_threads_forkchild(self);
		for (int i = 0; i < n; i++)
			if (h[i].child)
				h[i].child();
	} else {
		gmp_tls_os_leave();
		gmp_fork_parent();
		shim_fd_fork(1);
		for (int i = 0; i < n; i++)
			if (h[i].parent)
				h[i].parent();
		errno = e;
	}
	return pid;
}

GMP_EXPORT pid_t fork(void)
{
	return do_fork(REAL(fork), true);
}

GMP_EXPORT pid_t _Fork(void)
{
	return do_fork(REAL(_Fork), false);
}
