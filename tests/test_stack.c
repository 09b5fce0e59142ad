/*
 * G stacks: default size follows glibc (RLIMIT_STACK), reservations are
 * committed lazily, guard pages catch overflow, canary mode detects it.
 */
#include "testutil.h"

#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>

static struct wg wg;
static _Atomic size_t seen_size;

static void note_size(void *arg)
{
	struct gmp_g *g = gmp_g_current();
	atomic_store(&seen_size, (size_t)((char *)g->stack.hi - (char *)g->stack.lo));
	wg_done(&wg);
}

Test(stack, default_follows_rlimit_stack)
{
	struct rlimit rl;
	getrlimit(RLIMIT_STACK, &rl);
	unsetenv("GMP_STACKSIZE");
	rt_init(1);
	size_t want = rl.rlim_cur == RLIM_INFINITY ? (2u << 20) : (size_t)rl.rlim_cur;
	cr_assert_eq(gmp_sched.cfg.stacksize, want);
	wg_add(&wg, 1);
	spawn(note_size, NULL);
	wg_wait(&wg);
	cr_assert_eq(atomic_load(&seen_size), want);
}

Test(stack, gmp_stacksize_env)
{
	setenv("GMP_STACKSIZE", "256k", 1);
	rt_init(1);
	cr_assert_eq(gmp_sched.cfg.stacksize, 256u << 10);
}

/* 2000 live Gs with 8 MiB stacks each touch a few KiB: RSS stays small. */
static _Atomic uint32_t release;
static void hold(void *arg)
{
	volatile char buf[2048];
	buf[0] = 1;
	(void)buf[0];
	while (atomic_load(&release) == 0)
		gmp_futex_wait(&release, 0, -1, GMP_WAIT_TEST, NULL);
	wg_done(&wg);
}
static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * 4;
}
Test(stack, reservations_are_lazy)
{
	setenv("GMP_STACKSIZE", "8M", 1);
	rt_init(2);
	long before = rss_kb();
	struct gmp_g *last = NULL;
	wg_add(&wg, 2000);
	for (int i = 0; i < 2000; i++)
		last = spawn(hold, NULL);
	for (int i = 0; i < 5000 && atomic_load(&last->status) != GMP_G_WAITING; i++)
		gmp_sleep_until(gmp_nanotime() + MS(1));
	long grown = rss_kb() - before;
	cr_log_info("2000 Gs x 8 MiB reserved: RSS grew %ld KiB", grown);
	cr_assert_lt(grown, 2000 * 64, "RSS grew %ld KiB: stacks are not lazily committed", grown);
	atomic_store(&release, 1);
	gmp_futex_wake(&release, INT_MAX);
	wg_wait(&wg);
}

static int recurse(int n)
{
	volatile char pad[1024];
	pad[0] = (char)n;
	return n == 0 ? pad[0] : recurse(n - 1) + pad[0];
}
static void overflow(void *arg)
{
	recurse(1 << 20); /* 1 GiB of frames */
	wg_done(&wg);
}

Test(stack, guard_page_catches_overflow, .signal = SIGSEGV, .disabled = UNDER_ASAN)
{
	setenv("GMP_STACKSIZE", "64k", 1);
	setenv("GMP_STACKGUARD", "page", 1);
	rt_init(1);
	wg_add(&wg, 1);
	spawn(overflow, NULL);
	wg_wait(&wg);
}

/* Canary mode: an overflow that stays inside mapped memory is reported at exit. */
static void scribble_below(void *arg)
{
	struct gmp_g *g = gmp_g_current();
	*(volatile uint64_t *)g->stack.lo = 0; /* what a deep overflow would do */
	wg_done(&wg);
}
Test(stack, canary_detects_overflow, .signal = SIGABRT)
{
	setenv("GMP_STACKGUARD", "canary", 1);
	rt_init(1);
	wg_add(&wg, 1);
	spawn(scribble_below, NULL);
	wg_wait(&wg);
	gmp_sleep_until(gmp_nanotime() + MS(2000)); /* the G's exit aborts the process */
}

/* Canary mode makes no guard VMAs: 40k live Gs need few mappings. */
Test(stack, canary_mode_has_no_per_stack_vma)
{
	setenv("GMP_STACKGUARD", "canary", 1);
	setenv("GMP_STACKSIZE", "64k", 1);
	rt_init(2);
	const int n = 40000; /* beyond what 65530 max_map_count allows with guards */
	struct gmp_g *last = NULL;
	wg_add(&wg, (uint32_t)n);
	for (int i = 0; i < n; i++)
		last = spawn(hold, NULL);
	for (int i = 0; i < 10000 && atomic_load(&last->status) != GMP_G_WAITING; i++)
		gmp_sleep_until(gmp_nanotime() + MS(1));
	atomic_store(&release, 1);
	gmp_futex_wake(&release, INT_MAX);
	cr_assert(wg_wait_for(&wg, HANG_TIMEOUT));
}
