/*
 * The ABI face of libgmpthread.  Every symbol the library exports is defined
 * under preload/ and listed in libgmpthread.map; the runtime (src/) is all
 * hidden.  The pthread interposition layer is built here on the runtime API.
 */
#include "../src/runtime.h"

#define GMP_EXPORT __attribute__((visibility("default")))

#ifndef GMP_VERSION
#define GMP_VERSION "0.1.0"
#endif

/* Version of the shim, for programs and tools that want to know it is loaded. */
GMP_EXPORT const char *gmpthread_version(void)
{
	return GMP_VERSION;
}

/* Parse GMP_* once at load, so a malformed knob is reported at start-up.
 * No thread and no descriptor is created until the program needs one. */
__attribute__((constructor)) static void gmp_preload_init(void)
{
	gmp_runtime_init(NULL);
}
