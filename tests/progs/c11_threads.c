/*
 * c11_threads: the C11 <threads.h> API (part of libc in glibc >= 2.34).
 *   - thrd_create / thrd_join with result; thrd_exit value; thrd_detach
 *   - thrd_current / thrd_equal
 *   - thrd_sleep: returns 0, sleeps at least the requested time
 *   - thrd_yield among threads taking strict turns
 *   - mtx_init(mtx_plain | mtx_recursive | mtx_timed): recursive nesting;
 *     mtx_trylock -> thrd_busy when held elsewhere; mtx_timedlock (TIME_UTC
 *     deadline) -> thrd_timedout, not before the deadline; contended
 *     counter exact
 *   - cnd_signal / cnd_broadcast / cnd_wait; cnd_timedwait ->
 *     thrd_timedout, not early
 *   - tss_create with destructor: runs at thread exit (return and
 *     thrd_exit) with the thread's value; tss_get/tss_set per thread
 *   - call_once from 8 threads runs the function once
 */
#include "common.h"
#include <threads.h>

static mtx_t m;
static cnd_t c;
static long counter;

static int add_worker(void *arg)
{
	for (int i = 0; i < 20000; i++) {
		if (mtx_lock(&m) != thrd_success)
			return -1;
		counter++;
		mtx_unlock(&m);
	}
	return (int)(long)arg;
}

static int exits_with(void *arg)
{
	thrd_exit((int)(long)arg + 1000);
	return 0;
}

static thrd_t seen_current;
static int report_current(void *arg)
{
	seen_current = thrd_current();
	return 0;
}

static int detached_done;
static int detached_fn(void *arg)
{
	mtx_lock(&m);
	detached_done = 1;
	cnd_broadcast(&c);
	mtx_unlock(&m);
	return 0;
}

static int turn;
static int turn_taker(void *arg)
{
	int me = (int)(long)arg;
	for (int i = 0; i < 1000; i++) {
		while (LOAD(&turn) != me)
			thrd_yield();
		STORE(&turn, (me + 1) % 3);
	}
	return 0;
}

static int holds_mutex(void *arg)
{
	mtx_t *mx = arg;
	mtx_lock(mx);
	sleep_ms(100);
	mtx_unlock(mx);
	return 0;
}

static int try_other(void *arg)
{
	int rc = mtx_trylock((mtx_t *)arg);
	if (rc == thrd_success)
		mtx_unlock((mtx_t *)arg);
	return rc;
}

static int gen, woke;
static int gen_waiter(void *arg)
{
	mtx_lock(&m);
	int g = gen;
	woke++;
	cnd_broadcast(&c);
	while (gen == g)
		cnd_wait(&c, &m);
	woke++;
	mtx_unlock(&m);
	return 0;
}

static tss_t key;
static int dtor_calls, dtor_sum;
static void tss_dtor(void *v)
{
	ADD(&dtor_calls, 1);
	ADD(&dtor_sum, (int)(long)v);
}
static int tss_user(void *arg)
{
	if (tss_get(key) != NULL)
		return 1;
	if (tss_set(key, arg) != thrd_success)
		return 2;
	sleep_ms(5);
	if (tss_get(key) != arg)
		return 3;
	if ((long)arg % 2)
		thrd_exit(0);
	return 0;
}

static once_flag flag = ONCE_FLAG_INIT;
static int once_calls;
static void once_fn(void)
{
	ADD(&once_calls, 1);
	sleep_ms(20);
}
static int once_user(void *arg)
{
	call_once(&flag, once_fn);
	return LOAD(&once_calls);
}

int main(void)
{
	test_begin();
	int res;
	thrd_t t[8];

	CHECK(mtx_init(&m, mtx_plain) == thrd_success, "mtx_init(mtx_plain) failed");
	CHECK(cnd_init(&c) == thrd_success, "cnd_init failed");

	/* create/join/result, contended plain mutex */
	for (long i = 0; i < 4; i++)
		CHECK(thrd_create(&t[i], add_worker, (void *)(i + 1)) == thrd_success, "thrd_create failed");
	for (long i = 0; i < 4; i++) {
		CHECK(thrd_join(t[i], &res) == thrd_success, "thrd_join failed");
		CHECK(res == i + 1, "thread %ld result %d", i, res);
	}
	CHECK(counter == 80000, "counter %ld, expected 80000", counter);
	CHECK(thrd_create(&t[0], exits_with, (void *)7L) == thrd_success, "thrd_create failed");
	CHECK(thrd_join(t[0], &res) == thrd_success && res == 1007, "thrd_exit value %d, expected 1007", res);
	CHECK(thrd_create(&t[0], exits_with, (void *)8L) == thrd_success, "thrd_create failed");
	CHECK(thrd_join(t[0], NULL) == thrd_success, "thrd_join with NULL result failed");

	/* current / equal */
	CHECK(thrd_create(&t[0], report_current, NULL) == thrd_success, "thrd_create failed");
	thrd_join(t[0], NULL);
	CHECK(thrd_equal(seen_current, t[0]), "thrd_current() inside differs from the creator's thrd_t");
	CHECK(!thrd_equal(seen_current, thrd_current()), "a thread's thrd_current equals main's");
	CHECK(thrd_equal(thrd_current(), thrd_current()), "thrd_equal(current, current) false");

	/* detach */
	CHECK(thrd_create(&t[0], detached_fn, NULL) == thrd_success, "thrd_create failed");
	CHECK(thrd_detach(t[0]) == thrd_success, "thrd_detach failed");
	mtx_lock(&m);
	struct timespec dl;
	timespec_get(&dl, TIME_UTC);
	dl.tv_sec += 10;
	while (!detached_done)
		CHECK(cnd_timedwait(&c, &m, &dl) == thrd_success, "detached thread never ran");
	mtx_unlock(&m);

	/* sleep */
	struct timespec req = {.tv_sec = 0, .tv_nsec = 30 * 1000000L}, rem;
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	CHECK(thrd_sleep(&req, &rem) == 0, "thrd_sleep did not return 0");
	check_elapsed(now_ns(CLOCK_MONOTONIC) - t0, 30, 2000, "thrd_sleep(30 ms)");

	/* yield turns */
	for (long i = 0; i < 3; i++)
		CHECK(thrd_create(&t[i], turn_taker, (void *)i) == thrd_success, "thrd_create failed");
	for (int i = 0; i < 3; i++)
		thrd_join(t[i], NULL);

	/* recursive and timed mutexes */
	mtx_t rm, tm;
	CHECK(mtx_init(&rm, mtx_plain | mtx_recursive) == thrd_success, "mtx_init(recursive) failed");
	CHECK(mtx_lock(&rm) == thrd_success && mtx_lock(&rm) == thrd_success && mtx_trylock(&rm) == thrd_success,
	      "recursive mtx did not nest");
	CHECK(thrd_create(&t[0], try_other, &rm) == thrd_success, "thrd_create failed");
	thrd_join(t[0], &res);
	CHECK(res == thrd_busy, "mtx_trylock by another thread on a held recursive mtx: %d, expected thrd_busy", res);
	for (int i = 0; i < 3; i++)
		CHECK(mtx_unlock(&rm) == thrd_success, "mtx_unlock failed");
	CHECK(thrd_create(&t[0], try_other, &rm) == thrd_success, "thrd_create failed");
	thrd_join(t[0], &res);
	CHECK(res == thrd_success, "recursive mtx still held after balanced unlocks (%d)", res);
	mtx_destroy(&rm);

	CHECK(mtx_init(&tm, mtx_timed) == thrd_success, "mtx_init(mtx_timed) failed");
	CHECK(thrd_create(&t[0], holds_mutex, &tm) == thrd_success, "thrd_create failed");
	WAIT_FOR(try_other(&tm) == thrd_busy, 10000, "the holder to lock the timed mutex");
	timespec_get(&dl, TIME_UTC);
	dl.tv_nsec += 30 * 1000000L;
	if (dl.tv_nsec >= NSEC_PER_SEC) {
		dl.tv_sec++;
		dl.tv_nsec -= NSEC_PER_SEC;
	}
	CHECK(mtx_timedlock(&tm, &dl) == thrd_timedout, "mtx_timedlock on a held mutex did not give thrd_timedout");
	check_not_early(CLOCK_REALTIME, &dl, "mtx_timedlock");
	timespec_get(&dl, TIME_UTC);
	dl.tv_sec += 20;
	CHECK(mtx_timedlock(&tm, &dl) == thrd_success, "mtx_timedlock did not get the mutex once released");
	mtx_unlock(&tm);
	thrd_join(t[0], NULL);
	CHECK(mtx_init(&rm, mtx_timed | mtx_recursive) == thrd_success, "mtx_init(timed|recursive) failed");
	CHECK(mtx_timedlock(&rm, &dl) == thrd_success && mtx_timedlock(&rm, &dl) == thrd_success, "timed recursive mtx did not nest");
	mtx_unlock(&rm);
	mtx_unlock(&rm);
	mtx_destroy(&rm);
	mtx_destroy(&tm);

	/* cnd broadcast / signal / timedwait */
	woke = 0;
	for (int i = 0; i < 5; i++)
		CHECK(thrd_create(&t[i], gen_waiter, NULL) == thrd_success, "thrd_create failed");
	mtx_lock(&m);
	timespec_get(&dl, TIME_UTC);
	dl.tv_sec += 10;
	while (woke < 5)
		CHECK(cnd_timedwait(&c, &m, &dl) == thrd_success, "waiters did not arrive");
	gen++;
	CHECK(cnd_broadcast(&c) == thrd_success, "cnd_broadcast failed");
	mtx_unlock(&m);
	for (int i = 0; i < 5; i++)
		thrd_join(t[i], NULL);
	CHECK(woke == 10, "after broadcast %d of 5 waiters woke", woke - 5);
	CHECK(cnd_signal(&c) == thrd_success, "cnd_signal with no waiters failed");
	mtx_lock(&m);
	timespec_get(&dl, TIME_UTC);
	dl.tv_nsec += 40 * 1000000L;
	if (dl.tv_nsec >= NSEC_PER_SEC) {
		dl.tv_sec++;
		dl.tv_nsec -= NSEC_PER_SEC;
	}
	CHECK(cnd_timedwait(&c, &m, &dl) == thrd_timedout, "cnd_timedwait did not time out");
	check_deadline_wait(CLOCK_REALTIME, &dl, 2000, "cnd_timedwait");
	mtx_unlock(&m);

	/* tss */
	CHECK(tss_create(&key, tss_dtor) == thrd_success, "tss_create failed");
	CHECK(tss_get(key) == NULL, "new tss key not NULL");
	CHECK(tss_set(key, (void *)1000L) == thrd_success, "tss_set failed");
	for (long i = 0; i < 6; i++)
		CHECK(thrd_create(&t[i], tss_user, (void *)(i + 1)) == thrd_success, "thrd_create failed");
	for (int i = 0; i < 6; i++) {
		thrd_join(t[i], &res);
		CHECK(res == 0, "tss thread %d failed step %d", i, res);
	}
	CHECK(tss_get(key) == (void *)1000L, "main's tss value changed");
	CHECK(dtor_calls == 6 && dtor_sum == 21, "tss destructor: %d calls, sum %d; expected 6 calls, sum 21", dtor_calls, dtor_sum);
	tss_set(key, NULL);
	tss_delete(key);

	/* call_once */
	for (int i = 0; i < 8; i++)
		CHECK(thrd_create(&t[i], once_user, NULL) == thrd_success, "thrd_create failed");
	for (int i = 0; i < 8; i++) {
		thrd_join(t[i], &res);
		CHECK(res == 1, "call_once returned with the function run %d times", res);
	}
	call_once(&flag, once_fn);
	CHECK(once_calls == 1, "call_once ran the function %d times", once_calls);

	cnd_destroy(&c);
	mtx_destroy(&m);
	return test_pass();
}
