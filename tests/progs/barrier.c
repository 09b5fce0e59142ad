/*
 * barrier: pthread_barrier_*.
 *   - 6 threads x 200 rounds: in every round exactly one thread gets
 *     PTHREAD_BARRIER_SERIAL_THREAD, the others 0, and nobody leaves a
 *     round before all 6 have arrived
 *   - a barrier of count 1 returns PTHREAD_BARRIER_SERIAL_THREAD at once
 *   - count 0 -> EINVAL; destroy and re-init with another count works
 *   - attributes: pshared round trip, invalid -> EINVAL
 */
#include "common.h"

#define N 6
#define ROUNDS 200

static pthread_barrier_t b;
static int arrived[ROUNDS], serial[ROUNDS], early_leave, bad_rc;

static void *worker(void *arg)
{
	for (int r = 0; r < ROUNDS; r++) {
		ADD(&arrived[r], 1);
		int rc = pthread_barrier_wait(&b);
		if (rc == PTHREAD_BARRIER_SERIAL_THREAD)
			ADD(&serial[r], 1);
		else if (rc != 0)
			ADD(&bad_rc, 1);
		if (LOAD(&arrived[r]) != N)
			ADD(&early_leave, 1);
	}
	return NULL;
}

static int sum3;
static pthread_barrier_t b3;
static void *three(void *arg)
{
	int rc = pthread_barrier_wait(&b3);
	ADD(&sum3, rc == PTHREAD_BARRIER_SERIAL_THREAD ? 100 : rc == 0 ? 1 : 10000);
	return NULL;
}

int main(void)
{
	test_begin();
	CHECK_RC(pthread_barrier_init(&b, NULL, 0), EINVAL);
	CHECK_RC(pthread_barrier_init(&b, NULL, N), 0);
	pthread_t t[N];
	for (int i = 0; i < N; i++)
		t[i] = spawn(worker, NULL);
	for (int i = 0; i < N; i++)
		join(t[i]);
	CHECK(bad_rc == 0, "pthread_barrier_wait returned something other than 0 / SERIAL %d times", bad_rc);
	CHECK(early_leave == 0, "a thread left a round before all arrived (%d times)", early_leave);
	for (int r = 0; r < ROUNDS; r++)
		CHECK(serial[r] == 1, "round %d: %d threads got PTHREAD_BARRIER_SERIAL_THREAD, expected 1", r, serial[r]);
	CHECK_RC(pthread_barrier_destroy(&b), 0);

	CHECK_RC(pthread_barrier_init(&b, NULL, 1), 0);
	for (int i = 0; i < 3; i++)
		CHECK_RC(pthread_barrier_wait(&b), PTHREAD_BARRIER_SERIAL_THREAD);
	CHECK_RC(pthread_barrier_destroy(&b), 0);

	/* Re-use with another count; main takes part. */
	pthread_barrierattr_t a;
	int v;
	CHECK_RC(pthread_barrierattr_init(&a), 0);
	CHECK_RC(pthread_barrierattr_getpshared(&a, &v), 0);
	CHECK(v == PTHREAD_PROCESS_PRIVATE, "default barrier pshared %d", v);
	CHECK_RC(pthread_barrierattr_setpshared(&a, 12345), EINVAL);
	CHECK_RC(pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED), 0);
	CHECK_RC(pthread_barrierattr_getpshared(&a, &v), 0);
	CHECK(v == PTHREAD_PROCESS_SHARED, "barrier pshared read back %d", v);
	CHECK_RC(pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_PRIVATE), 0);
	CHECK_RC(pthread_barrier_init(&b3, &a, 3), 0);
	CHECK_RC(pthread_barrierattr_destroy(&a), 0);
	for (int round = 0; round < 20; round++) {
		sum3 = 0;
		pthread_t x = spawn(three, NULL), y = spawn(three, NULL);
		int rc = pthread_barrier_wait(&b3);
		join(x);
		join(y);
		sum3 += rc == PTHREAD_BARRIER_SERIAL_THREAD ? 100 : rc == 0 ? 1 : 10000;
		CHECK(sum3 == 102, "3-thread barrier round %d: results sum %d, expected one SERIAL and two 0 (102)", round, sum3);
	}
	CHECK_RC(pthread_barrier_destroy(&b3), 0);
	return test_pass();
}
