/*
 * Thread-local state across switches, in both GMP_TLS modes.
 *
 * Per-G (default): each G has its own glibc TLS block and TCB, so the thread
 * pointer, errno's address and every __thread variable differ between Gs and
 * stay put while a G migrates between Ms; the M's own TCB is loaded whenever
 * scheduler code runs.  Shared: Gs run on their M's TCB and only errno's
 * value is carried.
 *
 * errno is read through a volatile function pointer so each read asks for
 * the current thread's location afresh; in shared mode plain `errno` in
 * compiled code may reuse an address computed before a switch
 * (__errno_location is const), which only per-G TLS fixes.
 */
#include <stdio.h>
#include <string.h>
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

/* ASan/TSan builds keep the sanitizer's per-thread state in TLS, so the
 * runtime declines per-G blocks there (tcb.c) and these tests do not apply. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NEED_PERG() cr_skip_test("per-G TLS is off in sanitizer builds")
#else
#define NEED_PERG() ((void)0)
#endif

/* Each Criterion test is its own process, so the variable stays local. */
static void rt_init_tls(int procs, enum gmp_tls_mode mode)
{
	setenv("GMP_TLS", mode == GMP_TLS_SHARED ? "shared" : "per-g", 1);
	rt_init(procs);
}

static void errno_per_g(int procs, enum gmp_tls_mode mode)
{
	rt_init_tls(procs, mode);
	wg_add(&wg, 64);
	for (int i = 0; i < 64; i++)
		spawn(keeps_errno, (void *)(uintptr_t)(1000 * (i + 1)));
	wg_wait(&wg);
	cr_assert_eq(atomic_load(&nonzero_start), 0, "a new G started with a stale errno");
	cr_assert_eq(atomic_load(&wrong), 0, "%d errno values lost across switches", atomic_load(&wrong));
	cr_log_info("Gs ran on M mask %#x", atomic_load(&ms_seen_mask));
}

Test(tls, errno_survives_switches_procs1) { errno_per_g(1, GMP_TLS_PERG); }
Test(tls, errno_survives_switches_procs2) { errno_per_g(2, GMP_TLS_PERG); }
Test(tls, errno_survives_switches_procs4) { errno_per_g(4, GMP_TLS_PERG); }
Test(tls, errno_survives_switches_shared_procs1) { errno_per_g(1, GMP_TLS_SHARED); }
Test(tls, errno_survives_switches_shared_procs2) { errno_per_g(2, GMP_TLS_SHARED); }

/* What discovery found in this glibc.  Everything but FSGSBASE and the
 * malloc cache (which needs libc's malloc: true here, not under valgrind)
 * is required for per-G mode to be on at all, so a regression in the
 * probing shows here rather than as a mysterious program failure. */
Test(tls, discovery_facts)
{
	NEED_PERG();
	rt_init(1);
	struct gmp_tls_info info;
	gmp_tls_describe(&info);
	cr_log_info("perg=%d fsgsbase=%d listed=%d tcache=%d alloca_cutoff=%d rseq=%d",
		    info.perg, info.fsgsbase, info.listed, info.tcache,
		    info.alloca_cutoff, info.rseq);
	cr_assert(info.perg, "per-G TLS was declined on this glibc");
	cr_assert(info.listed, "G TCBs are not joined to glibc's thread list");
	cr_assert(info.alloca_cutoff, "stackblock_size offset not found");
	/* valgrind replaces malloc, so glibc's cache is unused there. */
	if (!UNDER_VALGRIND)
		cr_assert(info.tcache, "malloc's tcache word not found");
}

Test(tls, shared_mode_is_reported)
{
	rt_init_tls(1, GMP_TLS_SHARED);
	struct gmp_tls_info info;
	gmp_tls_describe(&info);
	cr_assert_not(info.perg);
}

/*
 * Per-G identity: 48 Gs live at once on 2 Ps, each records its thread
 * pointer, errno address and a __thread variable's address and starting
 * value, then yields and sleeps (migrating between Ms) and checks all three
 * are unchanged and that the variable kept what it wrote.  Afterwards every
 * G's addresses must be distinct from every other's, and its TCB from the
 * main thread's.
 */
#define IDG 48
static __thread long tvar = 7;
static __thread char tarr[64] = "init";
struct ident {
	void *tp, *errp, *tvarp;
	long start;
	bool moved, bad;
};
static struct ident ids[IDG];
static _Atomic int idstarted;

static void ident_g(void *arg)
{
	struct ident *me = arg;
	me->tp = gmp_tls_tp();
	me->errp = errloc();
	me->tvarp = (void *)&tvar;
	me->start = tvar;
	if (strcmp(tarr, "init") != 0)
		me->bad = true;
	tvar = (long)(me - ids) * 1000;
	snprintf(tarr, sizeof tarr, "g%ld", (long)(me - ids));
	atomic_fetch_add(&idstarted, 1);
	while (atomic_load(&idstarted) < IDG)   /* all alive at once */
		gmp_yield();
	int m0 = gmp_getm()->id;
	for (int i = 0; i < 50; i++) {
		if (i % 2)
			gmp_yield();
		else
			gmp_sleep_until(gmp_nanotime() + 30000);
		if (gmp_getm()->id != m0)
			me->moved = true;
		char want[24];
		snprintf(want, sizeof want, "g%ld", (long)(me - ids));
		if (gmp_tls_tp() != me->tp || errloc() != me->errp ||
		    (void *)&tvar != me->tvarp || tvar != (long)(me - ids) * 1000 ||
		    strcmp(tarr, want) != 0)
			me->bad = true;
	}
	wg_done(&wg);
}

Test(tls, per_g_identity_across_migration)
{
	NEED_PERG();
	rt_init(2);
	void *mtp = gmp_tls_tp();
	wg_add(&wg, IDG);
	for (int i = 0; i < IDG; i++)
		spawn(ident_g, &ids[i]);
	wg_wait(&wg);
	int moved = 0;
	for (int i = 0; i < IDG; i++) {
		cr_assert_not(ids[i].bad, "G %d saw its TLS change across a switch", i);
		cr_assert_eq(ids[i].start, 7, "G %d's __thread did not start from its initializer", i);
		cr_assert_neq(ids[i].tp, mtp);
		moved += ids[i].moved;
		for (int j = 0; j < i; j++) {
			cr_assert_neq(ids[i].tp, ids[j].tp, "Gs %d and %d share a TCB", i, j);
			cr_assert_neq(ids[i].errp, ids[j].errp);
			cr_assert_neq(ids[i].tvarp, ids[j].tvarp);
		}
	}
	cr_log_info("%d of %d Gs migrated between Ms", moved, IDG);
}

/* Shared mode: a G runs on its M's TCB, so its thread pointer is whichever
 * M it is on -- the same for every G on one M. */
static void shared_tp_g(void *arg)
{
	struct ident *me = arg;
	me->tp = gmp_tls_tp();
	me->bad = me->tp != gmp_getm()->tcb;
	wg_done(&wg);
}

Test(tls, shared_mode_runs_on_the_m_tcb)
{
	rt_init_tls(1, GMP_TLS_SHARED);
	wg_add(&wg, 8);
	for (int i = 0; i < 8; i++)
		spawn(shared_tp_g, &ids[i]);
	wg_wait(&wg);
	for (int i = 0; i < 8; i++)
		cr_assert_not(ids[i].bad, "G %d did not run on its M's TCB", i);
	for (int i = 1; i < 8; i++)
		cr_assert_eq(ids[i].tp, ids[0].tp, "one M, yet Gs saw different thread pointers");
}
