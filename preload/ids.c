/*
 * Thread ids, and setuid() and its family.
 *
 * gettid() natively names one thread for its whole life and no other; the
 * OS thread under a G changes whenever it migrates, and is shared by every
 * G that runs there.  So gettid(), syscall(SYS_gettid) and the value
 * set_tid_address() returns are the thread's own (shim_thread_tid): the
 * process id for the main thread -- programs compare the two to recognise
 * it -- and for other threads a number above pid_max (the kernel never
 * hands those out).  tgkill()/tkill() on such an id signal that thread, as
 * pthread_kill; ids that are not ours go to the kernel.  set_tid_address()
 * records the word the kernel would clear and wake when the thread exits.
 *
 * Credentials are per OS thread in Linux; glibc makes them per process by
 * signalling every thread on its lists (SIGSETXID) and waiting until each
 * has made the same system call.  It skips the caller, whom it knows as the
 * thread pointer's TCB.  With per-G TLS that is the G's TCB -- for the main
 * thread, the TCB glibc still has listed as the main OS thread, which would
 * then never be signalled although it may be running other threads now.  So
 * the call runs on the OS thread's own TCB (tcb.c), as glibc expects.
 */
#include "shim.h"

#include <grp.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

pid_t shim_thread_tid(const struct shim_thread *t)
{
	if (t->ismain)
		return getpid();
	if (t->foreign)
		return t->ostid;
	return (pid_t)(SHIM_TID_BASE + t->idx);
}

GMP_EXPORT pid_t gettid(void)
{
	if (!gmp_runtime_inited())
		return (pid_t)gmp_sys(SYS_gettid, 0, 0, 0, 0, 0, 0);
	return shim_thread_tid(shim_self());
}

/* The live thread whose id is tid, or NULL. */
static struct shim_thread *by_tid(pid_t tid)
{
	struct shim_thread *self = shim_self();
	if (shim_thread_tid(self) == tid)
		return self;
	if (tid == getpid())
		return shim_lookup(shim_main_handle());
	if (tid < SHIM_TID_BASE)
		return NULL;
	return shim_lookup_index((uint32_t)(tid - SHIM_TID_BASE));
}

static long tgkill_thread(pid_t pid, pid_t tid, int sig)
{
	struct shim_thread *t;
	if ((pid != -1 && pid != getpid()) || !gmp_runtime_inited() || (t = by_tid(tid)) == NULL || t->foreign)
		return pid == -1 ? gmp_sys(SYS_tkill, tid, sig, 0, 0, 0, 0)
				 : gmp_sys(SYS_tgkill, pid, tid, sig, 0, 0, 0);
	int r = pthread_kill(shim_handle(t), sig);
	return r == 0 ? 0 : -r;
}

GMP_EXPORT int tgkill(pid_t pid, pid_t tid, int sig)
{
	long r = tgkill_thread(pid, tid, sig);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return 0;
}

long shim_tid_syscall(long n, long a, long b, long c, bool *handled)
{
	*handled = gmp_runtime_inited();
	if (!*handled)
		return 0;
	switch (n) {
	case SYS_gettid:
		return shim_thread_tid(shim_self());
	case SYS_set_tid_address: {
		struct shim_thread *t = shim_self();
		if (t->foreign)
			break;
		t->cleartid = (int *)a;
		return shim_thread_tid(t);
	}
	case SYS_tgkill:
		return tgkill_thread((pid_t)a, (pid_t)b, (int)c);
	case SYS_tkill:
		return tgkill_thread(-1, (pid_t)a, (int)b);
	}
	*handled = false;
	return 0;
}

void shim_cleartid(struct shim_thread *t)
{
	int *p = t->cleartid;
	if (p == NULL)
		return;
	t->cleartid = NULL;
	__atomic_store_n(p, 0, __ATOMIC_RELEASE);
	gmp_futex_wake(p, 1);
	gmp_sys(SYS_futex, p, FUTEX_WAKE, 1, 0, 0, 0); /* a waiter outside the shim */
}

#define AS_OS_THREAD(call)                     \
	({                                     \
		gmp_tls_setxid_hook();         \
		gmp_tls_os_enter();            \
		int r_ = (call);               \
		int e_ = errno;                \
		gmp_tls_os_leave();            \
		if (r_ != 0)                   \
			errno = e_;            \
		r_;                            \
	})

GMP_EXPORT int setuid(uid_t u) { return AS_OS_THREAD(REAL(setuid)(u)); }
GMP_EXPORT int setgid(gid_t g) { return AS_OS_THREAD(REAL(setgid)(g)); }
GMP_EXPORT int seteuid(uid_t u) { return AS_OS_THREAD(REAL(seteuid)(u)); }
GMP_EXPORT int setegid(gid_t g) { return AS_OS_THREAD(REAL(setegid)(g)); }
GMP_EXPORT int setreuid(uid_t r, uid_t e) { return AS_OS_THREAD(REAL(setreuid)(r, e)); }
GMP_EXPORT int setregid(gid_t r, gid_t e) { return AS_OS_THREAD(REAL(setregid)(r, e)); }
GMP_EXPORT int setresuid(uid_t r, uid_t e, uid_t s) { return AS_OS_THREAD(REAL(setresuid)(r, e, s)); }
GMP_EXPORT int setresgid(gid_t r, gid_t e, gid_t s) { return AS_OS_THREAD(REAL(setresgid)(r, e, s)); }
GMP_EXPORT int setgroups(size_t n, const gid_t *l) { return AS_OS_THREAD(REAL(setgroups)(n, l)); }
