/*
 * Park/ready through the address-keyed wait queues: storms that would hang
 * on a lost wake-up, timed waits racing wakes, requeue, foreign threads.
 */
#include "testutil.h"

#include <pthread.h>

static struct wg wg;

/* A binary semaphore on a futex word: 0 = empty, 1 = posted. */
static void sem_post1(_Atomic uint32_t *s)
{
	atomic_store(s, 1);
	gmp_futex_wake(s, 1);
}
static void sem_wait1(_Atomic uint32_t *s)
{
	for (;;) {
		uint32_t one = 1;
		if (atomic_compare_exchange_strong(s, &one, 0))
			return;
		gmp_futex_wait(s, 0, -1, GMP_WAIT_TEST, s);
	}
}

#define PAIRS 64
static int rounds = 5000;
static _Atomic uint32_t ping[PAIRS], pong[PAIRS];

static void pinger(void *arg)
{
	int i = (int)(uintptr_t)arg;
	for (int r = 0; r < rounds; r++) {
		sem_post1(&ping[i]);
		sem_wait1(&pong[i]);
	}
	wg_done(&wg);
}
static void ponger(void *arg)
{
	int i = (int)(uintptr_t)arg;
	for (int r = 0; r < rounds; r++) {
		sem_wait1(&ping[i]);
		sem_post1(&pong[i]);
	}
	wg_done(&wg);
}

static void pingpong_storm(int procs)
{
	rt_init(procs);
	if (stress_mode())
		rounds = 200000;
	wg_add(&wg, 2 * PAIRS);
	for (int i = 0; i < PAIRS; i++) {
		spawn(ponger, (void *)(uintptr_t)i);
		spawn(pinger, (void *)(uintptr_t)i);
	}
	cr_assert(wg_wait_for(&wg, HANG_TIMEOUT), "ping-pong storm hung: a wake-up was lost");
}
Test(park, pingpong_storm_procs1) { pingpong_storm(1); }
Test(park, pingpong_storm_procs2) { pingpong_storm(2); }
Test(park, pingpong_storm_procs4) { pingpong_storm(4); }

/*
 * A counting semaphore with timed waits: producers post N tokens, consumers
 * take them with short timeouts.  Every token is consumed exactly once and
 * every wait returns 0, -EAGAIN or -ETIMEDOUT -- never anything else.
 */
#define TOKENS 20000
static _Atomic uint32_t tokens;
static _Atomic int consumed, produced, bad_results, timeouts;
static _Atomic bool producers_done;

static bool take_token(void)
{
	uint32_t v = atomic_load(&tokens);
	while (v > 0)
		if (atomic_compare_exchange_weak(&tokens, &v, v - 1))
			return true;
	return false;
}
static void producer(void *arg)
{
	for (int i = 0; i < TOKENS / 4; i++) {
		atomic_fetch_add(&tokens, 1);
		atomic_fetch_add(&produced, 1);
		gmp_futex_wake(&tokens, 1);
		if (i % 64 == 0)
			gmp_yield();
	}
	wg_done(&wg);
}
static void consumer(void *arg)
{
	for (;;) {
		if (take_token()) {
			atomic_fetch_add(&consumed, 1);
			continue;
		}
		if (atomic_load(&producers_done) && atomic_load(&tokens) == 0)
			break;
		int r = gmp_futex_wait(&tokens, 0, gmp_nanotime() + 20000 /* 20us */, GMP_WAIT_TEST, NULL);
		if (r == -ETIMEDOUT)
			atomic_fetch_add(&timeouts, 1);
		else if (r != 0 && r != -EAGAIN)
			atomic_fetch_add(&bad_results, 1);
	}
	wg_done(&wg);
}
Test(park, timed_waits_race_wakes)
{
	rt_init(2);
	wg_add(&wg, 8 + 4);
	for (int i = 0; i < 8; i++)
		spawn(consumer, NULL);
	for (int i = 0; i < 4; i++)
		spawn(producer, NULL);
	while (atomic_load(&produced) < TOKENS)
		gmp_sleep_until(gmp_nanotime() + MS(1));
	atomic_store(&producers_done, true);
	gmp_futex_wake(&tokens, INT_MAX);
	cr_assert(wg_wait_for(&wg, HANG_TIMEOUT), "consumers hung");
	cr_assert_eq(atomic_load(&consumed), TOKENS);
	cr_assert_eq(atomic_load(&bad_results), 0);
}

/* Wakers wake exactly as many as asked, in FIFO order. */
static _Atomic uint32_t gate;
static _Atomic int woke_order[8], woke_n;
static void gate_waiter(void *arg)
{
	while (atomic_load(&gate) == 0)
		gmp_futex_wait(&gate, 0, -1, GMP_WAIT_TEST, &gate);
	woke_order[atomic_fetch_add(&woke_n, 1)] = (int)(uintptr_t)arg;
	wg_done(&wg);
}
static void wait_parked(struct gmp_g *g);
Test(park, wake_n_is_exact_and_fifo)
{
	rt_init(1);
	wg_add(&wg, 4);
	/* One waiter at a time, each parked before the next, so the order is known. */
	for (int i = 0; i < 4; i++)
		wait_parked(spawn(gate_waiter, (void *)(uintptr_t)i));
	atomic_store(&gate, 1);
	cr_assert_eq(gmp_futex_wake(&gate, 1), 1);
	cr_assert_eq(gmp_futex_wake(&gate, 2), 2);
	cr_assert_eq(gmp_futex_wake(&gate, 5), 1);
	cr_assert_eq(gmp_futex_wake(&gate, 5), 0);
	wg_wait(&wg);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(woke_order[i], i, "wake order %d: got waiter %d", i, woke_order[i]);
}

/* Requeue moves waiters without waking them; a later wake on the new address wakes them. */
static _Atomic uint32_t cond_word, mutex_word;
static _Atomic int rq_woken;
static void rq_waiter(void *arg)
{
	int r = gmp_futex_wait(&cond_word, 0, -1, GMP_WAIT_TEST, NULL);
	cr_assert_eq(r, 0);
	atomic_fetch_add(&rq_woken, 1);
	wg_done(&wg);
}
/* Polls (bounded) until g is parked. */
static void wait_parked(struct gmp_g *g)
{
	for (int i = 0; i < 10000 && atomic_load(&g->status) != GMP_G_WAITING; i++)
		gmp_sleep_until(gmp_nanotime() + 100000);
	cr_assert_eq(atomic_load(&g->status), GMP_G_WAITING);
}

Test(park, requeue_moves_waiters)
{
	rt_init(2);
	struct gmp_g *gs[6];
	wg_add(&wg, 6);
	for (int i = 0; i < 6; i++)
		gs[i] = spawn(rq_waiter, NULL);
	for (int i = 0; i < 6; i++)
		wait_parked(gs[i]);
	/* wake 1, move the other 5 to mutex_word */
	cr_assert_eq(gmp_futex_requeue(&cond_word, 1, &mutex_word, INT_MAX), 6);
	for (int i = 0; i < 1000 && atomic_load(&rq_woken) < 1; i++)
		gmp_sleep_until(gmp_nanotime() + MS(1));
	cr_assert_eq(atomic_load(&rq_woken), 1);
	cr_assert_eq(gmp_futex_wake(&cond_word, INT_MAX), 0, "requeued waiters still on the old address");
	cr_assert_eq(gmp_futex_wake(&mutex_word, INT_MAX), 5);
	wg_wait(&wg);
}

/* Foreign threads and Gs wake each other both ways. */
static _Atomic uint32_t f2g[16], g2f[16];
static void g_side(void *arg)
{
	int i = (int)(uintptr_t)arg;
	for (int r = 0; r < 2000; r++) {
		sem_wait1(&f2g[i]);
		sem_post1(&g2f[i]);
	}
	wg_done(&wg);
}
static void *f_side(void *arg)
{
	int i = (int)(uintptr_t)arg;
	for (int r = 0; r < 2000; r++) {
		sem_post1(&f2g[i]);
		sem_wait1(&g2f[i]);
	}
	return NULL;
}
Test(park, foreign_threads_and_gs)
{
	rt_init(2);
	pthread_t th[16];
	wg_add(&wg, 16);
	for (int i = 0; i < 16; i++) {
		spawn(g_side, (void *)(uintptr_t)i);
		pthread_create(&th[i], NULL, f_side, (void *)(uintptr_t)i);
	}
	for (int i = 0; i < 16; i++)
		pthread_join(th[i], NULL);
	cr_assert(wg_wait_for(&wg, HANG_TIMEOUT));
}

Test(park, wait_value_mismatch_is_eagain)
{
	rt_init(1);
	_Atomic uint32_t w = 5;
	cr_assert_eq(gmp_futex_wait(&w, 4, -1, GMP_WAIT_TEST, NULL), -EAGAIN);
	cr_assert_eq(gmp_futex_wait(&w, 5, gmp_nanotime() - 1, GMP_WAIT_TEST, NULL), -ETIMEDOUT);
}

/* gmp_park with an unlock callback that refuses: the G continues at once. */
static bool refuse(struct gmp_g *g, void *arg) { atomic_fetch_add((_Atomic int *)arg, 1); return false; }
static _Atomic int refusals;
static void parks_refused(void *arg)
{
	for (int i = 0; i < 100; i++)
		gmp_park(refuse, &refusals, GMP_WAIT_TEST, NULL);
	wg_done(&wg);
}
Test(park, unlockf_false_resumes)
{
	rt_init(1);
	wg_add(&wg, 1);
	spawn(parks_refused, NULL);
	wg_wait(&wg);
	cr_assert_eq(atomic_load(&refusals), 100);
}
