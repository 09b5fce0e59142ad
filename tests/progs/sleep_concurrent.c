/*
 * sleep_concurrent: sleeping threads sleep at the same time.
 * 16 threads each sleep 300 ms (nanosleep, usleep, clock_nanosleep
 * relative and absolute, in turn), all started together by a barrier.
 * Each sleep is >= 300 ms; the whole batch must take less than 300 ms +
 * 2 s (16 sleeps one after another would take 4.8 s): a sleeping thread
 * must not keep the others from running, whatever the number of CPUs.
 * Meanwhile main keeps computing and polling, so it must get to run too.
 */
#include "common.h"

#define N 16
#define MS 300

static pthread_barrier_t start;
static int early;

static void *sleeper(void *arg)
{
	long i = (long)arg;
	pthread_barrier_wait(&start);
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	struct timespec ts = ns_ts(MS * 1000000LL);
	switch (i % 4) {
	case 0:
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		break;
	case 1:
		usleep(MS * 1000);
		break;
	case 2:
		clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
		break;
	case 3: {
		struct timespec dl = ns_ts(t0 + MS * 1000000LL);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &dl, NULL);
		break;
	}
	}
	if (now_ns(CLOCK_MONOTONIC) - t0 < MS * 1000000LL)
		ADD(&early, 1);
	return NULL;
}

int main(void)
{
	test_begin();
	pthread_barrier_init(&start, NULL, N + 1);
	pthread_t t[N];
	for (long i = 0; i < N; i++)
		t[i] = spawn(sleeper, (void *)i);
	pthread_barrier_wait(&start);
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	/* Busy for a while: the sleepers must not need this thread's CPU. */
	volatile unsigned long x = 0;
	while (now_ns(CLOCK_MONOTONIC) - t0 < 100 * 1000000LL)
		x++;
	for (int i = 0; i < N; i++)
		join(t[i]);
	int64_t took = now_ns(CLOCK_MONOTONIC) - t0;
	CHECK(early == 0, "%d sleeps returned early", early);
	check_elapsed(took, MS, 2000, "16 concurrent 300 ms sleeps");
	return test_pass();
}
