/*
 * yield: sched_yield / pthread_yield storms.
 *   - sched_yield and pthread_yield return 0, from many threads at once
 *   - strict turn-taking among 4 threads that wait for their turn by
 *     spinning on sched_yield (each must let the others run: with user
 *     threads on one CPU this only finishes if yield really switches)
 *   - 16 threads x 5000 yields each, all finish
 */
#include "common.h"
#include <sched.h>

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define TURN_THREADS 4
#define TURNS 2000

static int turn;          /* whose turn: 0..TURN_THREADS-1 */
static int turns_taken[TURN_THREADS];
static int bad_rc;

static void *turn_taker(void *arg)
{
	int me = (int)(long)arg;
	for (int i = 0; i < TURNS; i++) {
		while (LOAD(&turn) != me) {
			int rc = (i + me) % 2 ? sched_yield() : pthread_yield();
			if (rc != 0)
				ADD(&bad_rc, 1);
		}
		turns_taken[me]++;
		STORE(&turn, (me + 1) % TURN_THREADS);
	}
	return NULL;
}

static long storm_total;

static void *storm(void *arg)
{
	for (int i = 0; i < 5000; i++) {
		if (sched_yield() != 0)
			ADD(&bad_rc, 1);
		ADD(&storm_total, 1);
	}
	return NULL;
}

int main(void)
{
	test_begin();
	CHECK_RC(sched_yield(), 0);
	CHECK_RC(pthread_yield(), 0);

	pthread_t t[16];
	for (long i = 0; i < TURN_THREADS; i++)
		t[i] = spawn(turn_taker, (void *)i);
	for (int i = 0; i < TURN_THREADS; i++)
		join(t[i]);
	for (int i = 0; i < TURN_THREADS; i++)
		CHECK(turns_taken[i] == TURNS, "thread %d took %d turns, expected %d", i, turns_taken[i], TURNS);
	CHECK(turn == 0, "final turn %d, expected 0", turn);

	for (int i = 0; i < 16; i++)
		t[i] = spawn(storm, NULL);
	for (int i = 0; i < 16; i++)
		join(t[i]);
	CHECK(storm_total == 16 * 5000, "storm counted %ld yields, expected %d", storm_total, 16 * 5000);
	CHECK(bad_rc == 0, "%d yield calls returned non-zero", bad_rc);
	return test_pass();
}
