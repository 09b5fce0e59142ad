/*
 * The ABI face of libgmpthread.  Every symbol the library exports is defined
 * under preload/ and listed in libgmpthread.map; the runtime (src/) is all
 * hidden.  The pthread interposition layer is built here on the runtime API.
 */
#include "shim.h"

void shim_threads_init(void);
void shim_sigurg_init(void);
void shim_debug_init(void);

#ifndef GMP_VERSION
#define GMP_VERSION "0.1.0"
#endif

/* Version of the shim, for programs and tools that want to know it is loaded. */
GMP_EXPORT const char *gmpthread_version(void)
{
	return GMP_VERSION;
}

/*
 * At load: parse GMP_* (a malformed knob is reported at start-up) and make
 * the main thread a G on M0.  Runs before the program's own constructors
 * (priority 101), so they already run as a G.  No other OS thread and no
 * descriptor is created until the program needs one.
 */
__attribute__((constructor(101))) static void gmp_preload_init(void)
{
	gmp_runtime_init(NULL);
	shim_debug_init();
	shim_sigurg_init();
	shim_threads_init();
	/* The dump signal and fatal signals, on an alternate stack of M0 (the
	 * main thread is M0 now). */
	gmp_crash_init();
	if (gmp_sched.cfg.schedtrace_ms)
		gmp_sysmon_start(); /* it prints the lines, even before a thread starts */
}
