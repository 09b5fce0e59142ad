/*
 * System-call hand-off: a G blocked in the kernel between entersyscall and
 * exitsyscall must not stall the other Gs of its P -- sysmon retakes the P
 * and hands it to another M.  A quick call keeps its P with no hand-off.
 */
#include "testutil.h"

#include <unistd.h>

static struct wg wg;
static int pipefd[2];
static _Atomic int others_done, blocker_state; /* 0 start, 1 in read, 2 read returned, 3 done */

static void blocker(void *arg)
{
	char c;
	gmp_entersyscall();
	atomic_store(&blocker_state, 1);
	ssize_t r = read(pipefd[0], &c, 1); /* blocks the M until the test writes */
	atomic_store(&blocker_state, 2);
	gmp_exitsyscall();
	cr_assert_eq(r, 1);
	atomic_store(&blocker_state, 3);
	wg_done(&wg);
}

static void other(void *arg)
{
	atomic_fetch_add(&others_done, 1);
	wg_done(&wg);
}

Test(syscall, blocked_g_does_not_stall_its_p_procs1)
{
	rt_init(1);
	cr_assert_eq(pipe(pipefd), 0);
	wg_add(&wg, 1);
	spawn(blocker, NULL);
	while (atomic_load(&blocker_state) != 1)
		gmp_sleep_until(gmp_nanotime() + MS(1));
	/* The only P's M is stuck in read(); these need the P back. */
	wg_add(&wg, 100);
	for (int i = 0; i < 100; i++)
		spawn(other, NULL);
	int64_t give_up = gmp_nanotime() + HANG_TIMEOUT;
	while (atomic_load(&others_done) < 100 && gmp_nanotime() < give_up)
		gmp_sleep_until(gmp_nanotime() + MS(1));
	cr_assert_eq(atomic_load(&others_done), 100, "Gs stalled behind a blocked syscall");
	cr_assert_eq(atomic_load(&blocker_state), 1, "blocker finished early");
	cr_assert_eq(write(pipefd[1], "x", 1), 1);
	cr_assert(wg_wait_for(&wg, HANG_TIMEOUT));
	cr_assert_eq(atomic_load(&blocker_state), 3);
}

/* Quick calls: exitsyscall gets the same P back (the fast path). */
static _Atomic int fast_kept, fast_lost;
static void quick_calls(void *arg)
{
	for (int i = 0; i < 100000; i++) {
		struct gmp_p *before = gmp_getm()->p;
		gmp_entersyscall();
		gmp_exitsyscall();
		if (gmp_getm()->p == before)
			atomic_fetch_add(&fast_kept, 1);
		else
			atomic_fetch_add(&fast_lost, 1);
	}
	wg_done(&wg);
}
Test(syscall, quick_calls_keep_their_p)
{
	rt_init(1);
	wg_add(&wg, 1);
	int64_t t0 = gmp_nanotime();
	spawn(quick_calls, NULL);
	wg_wait(&wg);
	cr_log_info("enter+exitsyscall: %lld ns per pair", (long long)((gmp_nanotime() - t0) / 100000));
	/* Nothing else wants the P, so sysmon never takes it. */
	cr_assert_eq(atomic_load(&fast_lost), 0);
	cr_assert_eq(atomic_load(&fast_kept), 100000);
}

/*
 * The returning G finds its P gone and no idle P: it queues, its M parks,
 * and it runs again once a P frees up.
 */
static void hog(void *arg)
{
	/* Holds the (only) P until the blocker's read has returned. */
	while (atomic_load(&blocker_state) < 2)
		gmp_cpu_relax();
	wg_done(&wg);
}
Test(syscall, returning_g_waits_for_a_p)
{
	rt_init(1);
	cr_assert_eq(pipe(pipefd), 0);
	wg_add(&wg, 2);
	spawn(blocker, NULL);
	while (atomic_load(&blocker_state) != 1)
		gmp_sleep_until(gmp_nanotime() + MS(1));
	spawn(hog, NULL);
	/* Let sysmon hand the P to the hog. */
	gmp_sleep_until(gmp_nanotime() + MS(50));
	cr_assert_eq(write(pipefd[1], "x", 1), 1);
	cr_assert(wg_wait_for(&wg, HANG_TIMEOUT), "the returning G never got a P");
	cr_assert_eq(atomic_load(&blocker_state), 3);
}

/* Many Gs blocked in syscalls at once: each gets its own M, the rest run. */
static int pipes[16][2];
static void blocker_n(void *arg)
{
	int i = (int)(uintptr_t)arg;
	char c;
	gmp_entersyscall();
	ssize_t r = read(pipes[i][0], &c, 1);
	gmp_exitsyscall();
	cr_assert_eq(r, 1);
	wg_done(&wg);
}
Test(syscall, many_blocked_syscalls_procs2)
{
	rt_init(2);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(pipe(pipes[i]), 0);
	wg_add(&wg, 16 + 200);
	for (int i = 0; i < 16; i++)
		spawn(blocker_n, (void *)(uintptr_t)i);
	/* Meanwhile ordinary Gs still complete. */
	for (int i = 0; i < 200; i++)
		spawn(other, NULL);
	int64_t give_up = gmp_nanotime() + HANG_TIMEOUT;
	while (atomic_load(&others_done) < 200 && gmp_nanotime() < give_up)
		gmp_sleep_until(gmp_nanotime() + MS(1));
	cr_assert_eq(atomic_load(&others_done), 200);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(write(pipes[i][1], "x", 1), 1);
	cr_assert(wg_wait_for(&wg, HANG_TIMEOUT));
	struct gmp_stats st;
	gmp_stats_read(&st);
	cr_log_info("Ms after 16 concurrent blocking calls: %d", st.mcount);
	cr_assert_leq(st.mcount, gmp_sched.cfg.maxthreads);
}
