/*
 * Thread-local state across switches (shared-TLS mode): each G keeps its own
 * errno through yields, parks, sleeps and migrations between Ms, and a new G
 * starts with errno 0.
 *
 * errno is read through a volatile function pointer so each read asks for
 * the current thread's location afresh.  Plain `errno` in compiled code may
 * reuse an address computed before a switch (__errno_location is const):
 * shared mode cannot fix that, per-G TLS will -- see src/tls.c.
 */
#include "testutil.h"

static int *(*volatile errloc)(void) = __errno_location;
static struct wg wg;
static _Atomic int wrong, nonzero_start, ms_seen_mask;

static void keeps_errno(void *arg)
{
	int mine = (int)(uintptr_t)arg;
	if (*errloc() != 0)
		atomic_fetch_add(&nonzero_start, 1);
	for (int i = 0; i < 300; i++) {
		*errloc() = mine + i;
		switch (i % 3) {
		case 0: gmp_yield(); break;
		case 1: gmp_sleep_until(gmp_nanotime() + 20000); break;
		case 2: {
			_Atomic uint32_t never = 0;
			gmp_futex_wait(&never, 0, gmp_nanotime() + 10000, GMP_WAIT_TEST, NULL);
			break;
		}
		}
		atomic_fetch_or(&ms_seen_mask, 1 << (gmp_getm()->id % 30));
		if (*errloc() != mine + i)
			atomic_fetch_add(&wrong, 1);
	}
	wg_done(&wg);
}

static void errno_per_g(int procs)
{
	rt_init(procs);
	wg_add(&wg, 64);
	for (int i = 0; i < 64; i++)
		spawn(keeps_errno, (void *)(uintptr_t)(1000 * (i + 1)));
	wg_wait(&wg);
	cr_assert_eq(atomic_load(&nonzero_start), 0, "a new G started with a stale errno");
	cr_assert_eq(atomic_load(&wrong), 0, "%d errno values lost across switches", atomic_load(&wrong));
	cr_log_info("Gs ran on M mask %#x", atomic_load(&ms_seen_mask));
}

Test(tls, errno_survives_switches_procs1) { errno_per_g(1); }
Test(tls, errno_survives_switches_procs2) { errno_per_g(2); }
Test(tls, errno_survives_switches_procs4) { errno_per_g(4); }
