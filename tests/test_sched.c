/*
 * The scheduler end to end: many Gs spawned and completed, work spreading
 * over Ps, nested spawning, yields, and M:N (few OS threads for many Gs).
 */
#include "testutil.h"

static struct wg wg;
static _Atomic uint64_t sum;

static void add_one(void *arg)
{
	atomic_fetch_add(&sum, (uint64_t)(uintptr_t)arg);
	if ((uintptr_t)arg % 7 == 0)
		gmp_yield();
	wg_done(&wg);
}

/* Gs have signalled the wait group but may still be exiting: wait (bounded). */
static int live_gs_settled(void)
{
	struct gmp_stats st;
	for (int i = 0; i < 1000; i++) {
		gmp_stats_read(&st);
		if (st.ngoroutines == 0)
			break;
		gmp_sleep_until(gmp_nanotime() + MS(1));
	}
	return st.ngoroutines;
}

static void spawn_100k(int procs)
{
	int threads_before = os_thread_count(); /* Criterion has its own */
	rt_init(procs);
	const uint64_t n = UNDER_VALGRIND ? 20000 : 100000, wave = 10000;
	/* In waves: 100k simultaneously live threads with guard pages would
	 * exceed vm.max_map_count, natively and here (see test_stack). */
	for (uint64_t i = 1; i <= n; i++) {
		if (i % wave == 1)
			wg_add(&wg, (uint32_t)wave);
		spawn(add_one, (void *)(uintptr_t)i);
		if (i % wave == 0)
			wg_wait(&wg);
	}
	cr_assert_eq(atomic_load(&sum), n * (n + 1) / 2);
	cr_assert_eq(live_gs_settled(), 0, "Gs still alive after they all finished");
	struct gmp_stats st;
	gmp_stats_read(&st);
	/* M:N: 100k Gs ran on a handful of OS threads. */
	cr_assert_leq(st.mcount, 2 * procs + 2, "%d Ms for %d Ps", st.mcount, procs);
	cr_assert_eq(os_thread_count() - threads_before, st.mcount + st.sysmon + st.filethread);
}

Test(sched, spawn_100k_procs1) { spawn_100k(1); }
Test(sched, spawn_100k_procs2) { spawn_100k(2); }
Test(sched, spawn_100k_procs4) { spawn_100k(4); }

/* A tree of Gs spawning Gs: spawning from a G goes through the local runq. */
static void tree(void *arg)
{
	uintptr_t depth = (uintptr_t)arg;
	atomic_fetch_add(&sum, 1);
	if (depth > 0) {
		wg_add(&wg, 2);
		spawn(tree, (void *)(depth - 1));
		spawn(tree, (void *)(depth - 1));
	}
	wg_done(&wg);
}

Test(sched, nested_spawn_tree)
{
	rt_init(2);
	wg_add(&wg, 1);
	spawn(tree, (void *)(uintptr_t)14);
	wg_wait(&wg);
	cr_assert_eq(atomic_load(&sum), (1u << 15) - 1);
}

/*
 * Work spreads: with P Ps, P Gs that never yield must all be running at the
 * same time (each waits, bounded, until it sees all P running).
 */
static _Atomic int running, maxrunning;
static int want;

static void spinner(void *arg)
{
	int now = atomic_fetch_add(&running, 1) + 1;
	int64_t give_up = gmp_nanotime() + HANG_TIMEOUT;
	while (now < want && gmp_nanotime() < give_up) {
		spin_pause();
		now = atomic_load(&running);
	}
	int m = atomic_load(&maxrunning);
	while (now > m && !atomic_compare_exchange_weak(&maxrunning, &m, now))
		;
	wg_done(&wg);
}

static void spreads(int procs)
{
	rt_init(procs);
	want = procs;
	wg_add(&wg, (uint32_t)procs);
	for (int i = 0; i < procs; i++)
		spawn(spinner, NULL);
	wg_wait(&wg);
	cr_assert_eq(atomic_load(&maxrunning), procs, "only %d of %d Ps ran in parallel",
		     atomic_load(&maxrunning), procs);
}

Test(sched, work_spreads_procs2) { spreads(2); }
Test(sched, work_spreads_procs4) { spreads(4); }

/* Work spawned from one G on one P is stolen by the other Ps. */
static _Atomic int ms_seen[64];
static void note_m(void *arg)
{
	atomic_store(&ms_seen[gmp_getm()->id % 64], 1);
	int64_t until = gmp_nanotime() + MS(1);
	while (gmp_nanotime() < until) /* long enough that thieves get a chance */
		spin_pause();
	wg_done(&wg);
}
static void fan_out(void *arg)
{
	for (int i = 0; i < 200; i++)
		spawn(note_m, NULL);
	wg_done(&wg);
}
Test(sched, local_work_is_stolen)
{
	rt_init(2);
	wg_add(&wg, 201);
	spawn(fan_out, NULL);
	wg_wait(&wg);
	int ms = 0;
	for (int i = 0; i < 64; i++)
		ms += atomic_load(&ms_seen[i]);
	cr_assert_geq(ms, 2, "all 200 Gs ran on one M: nothing was stolen");
}

/* Yield lets the others run: with one P, N yielding Gs take turns. */
static _Atomic int turn;
static int order_errors;
static void yielder(void *arg)
{
	int last = -1;
	for (int round = 0; round < 1000; round++) {
		/* round-robin: between two of my turns, each other G had one */
		int t = atomic_fetch_add(&turn, 1);
		if (last >= 0 && t - last != 4)
			order_errors++;
		last = t;
		gmp_yield();
	}
	wg_done(&wg);
}
static void launch_yielders(void *arg)
{
	for (int i = 0; i < 4; i++)
		spawn(yielder, NULL);
	wg_done(&wg);
}
Test(sched, yield_round_robin_procs1)
{
	rt_init(1);
	wg_add(&wg, 5);
	/* Spawned from one G so all four are queued before any runs. */
	spawn(launch_yielders, NULL);
	wg_wait(&wg);
	cr_assert_eq(atomic_load(&turn), 4000);
	cr_assert_eq(order_errors, 0, "%d out-of-order turns", order_errors);
}

/* Custom stack sizes and user-supplied stacks. */
static _Atomic size_t stack_len[2];
static void *stack_lo[2];
static void deep(void *arg)
{
	int which = (int)(uintptr_t)arg;
	struct gmp_g *self = gmp_g_current();
	stack_lo[which] = self->stack.lo;
	stack_len[which] = (size_t)((char *)self->stack.hi - (char *)self->stack.lo);
	volatile char buf[64 << 10];
	buf[0] = 1;
	buf[sizeof buf - 1] = 2;
	atomic_fetch_add(&sum, buf[0] + buf[sizeof buf - 1]);
	wg_done(&wg);
}
Test(sched, custom_and_user_stacks)
{
	rt_init(2);
	static char ustack[256 << 10] __attribute__((aligned(16)));
	struct gmp_spawn_attr a1 = { .stacksize = 512 << 10 };
	struct gmp_spawn_attr a2 = { .stackaddr = ustack, .stacksize = sizeof ustack };
	wg_add(&wg, 2);
	int err;
	cr_assert_not_null(gmp_spawn(deep, (void *)0, &a1, &err));
	cr_assert_not_null(gmp_spawn(deep, (void *)1, &a2, &err));
	wg_wait(&wg);
	cr_assert_eq(atomic_load(&sum), 6);
	cr_assert_eq(stack_len[0], 512 << 10);
	cr_assert_eq(stack_lo[1], (void *)ustack);
	cr_assert_eq(stack_len[1], sizeof ustack);
}

/* Each G sees its own MXCSR rounding mode and x87 control word. */
#include <fenv.h>
static _Atomic int fp_errors;
static void fp_mode(void *arg)
{
	int mode = (int)(uintptr_t)arg;
	fesetround(mode);
	for (int i = 0; i < 2000; i++) {
		gmp_yield();
		if (fegetround() != mode)
			atomic_fetch_add(&fp_errors, 1);
	}
	wg_done(&wg);
}
Test(sched, fp_control_state_is_per_g)
{
	rt_init(1);
	int modes[] = { FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO };
	wg_add(&wg, 4);
	for (int i = 0; i < 4; i++)
		spawn(fp_mode, (void *)(uintptr_t)modes[i]);
	wg_wait(&wg);
	cr_assert_eq(atomic_load(&fp_errors), 0);
}

/* Goids are unique and increasing. */
Test(sched, goids_unique)
{
	rt_init(1);
	wg_add(&wg, 100);
	uint64_t last = 0;
	for (int i = 0; i < 100; i++) {
		struct gmp_g *g = spawn(add_one, (void *)(uintptr_t)1);
		cr_assert_gt(g->goid, last);
		last = g->goid;
	}
	wg_wait(&wg);
}

/*
 * Regression: a foreign thread's G on the global queue was stranded when the
 * last spinning M went idle just as it was submitted (no M ever woke).
 */
static void trivial(void *arg) { wg_done(&wg); }
static void foreign_submit_loop(int procs)
{
	rt_init(procs);
	unsigned r = 99;
	int rounds = UNDER_VALGRIND ? 2000 : 20000;
	for (int i = 0; i < rounds; i++) {
		wg_add(&wg, 1);
		spawn(trivial, NULL);
		/* Spin (not sleep) so the M goes idle right as we submit again. */
		int64_t give_up = gmp_nanotime() + HANG_TIMEOUT;
		while (atomic_load(&wg.n) != 0 && gmp_nanotime() < give_up)
			spin_pause();
		cr_assert_eq(atomic_load(&wg.n), 0, "G %d from a foreign thread never ran", i);
		r = r * 1103515245 + 12345;
		for (unsigned k = (r >> 16) % 2000; k > 0; k--) /* 0-4 us: hit the window */
			gmp_cpu_relax();
	}
}
Test(sched, foreign_submit_not_lost_procs1) { foreign_submit_loop(1); }
Test(sched, foreign_submit_not_lost_procs2) { foreign_submit_loop(2); }

/*
 * Regression: with one P, two Gs handing off through runnext starved every
 * other G forever.  The third G must get to run and stop them.
 */
static _Atomic uint32_t hand;
static _Atomic bool stop_pair;
static void pair_side(void *arg)
{
	uint32_t me = (uint32_t)(uintptr_t)arg;
	while (!atomic_load(&stop_pair)) {
		while (atomic_load(&hand) != me && !atomic_load(&stop_pair))
			gmp_futex_wait(&hand, 1 - me, gmp_nanotime() + MS(100), GMP_WAIT_TEST, NULL);
		atomic_store(&hand, 1 - me);
		gmp_futex_wake(&hand, 1);
	}
	wg_done(&wg);
}
static void stopper(void *arg)
{
	atomic_store(&stop_pair, true);
	wg_done(&wg);
}
static void start_pair_then_stopper(void *arg)
{
	spawn(pair_side, (void *)0);
	spawn(pair_side, (void *)1);
	gmp_yield(); /* let the pair get going */
	spawn(stopper, NULL);
	wg_done(&wg);
}
Test(sched, runnext_pair_does_not_starve_others)
{
	rt_init(1);
	wg_add(&wg, 4);
	spawn(start_pair_then_stopper, NULL);
	cr_assert(wg_wait_for(&wg, HANG_TIMEOUT), "a runnext ping-pong pair starved the other Gs");
}
