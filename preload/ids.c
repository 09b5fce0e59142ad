/*
 * setuid() and its family.
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
#include <unistd.h>

#define AS_OS_THREAD(call)                     \
	({                                     \
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
