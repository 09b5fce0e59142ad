/*
 * mn_many_threads: 2000 threads, all blocked on one condvar at the same
 * time, then released by one broadcast and joined.
 *   - every pthread_create succeeds with default attributes
 *   - all 2000 are waiting at once (an arrival count reaches 2000 before
 *     anyone is released), each returns its own value after the broadcast
 *   - prints the peak number of OS threads seen in /proc/self/task
 *     (sampled during creation and while all are blocked)
 *   - if GMP_EXPECT_MAX_OS_THREADS=N is set, fails when that peak exceeds
 *     N (the runner sets it when the user-thread shim runs this program:
 *     2000 blocked user threads must not need 2000 OS threads)
 */
/* shim-max-os-threads: 16 */
#include "common.h"

#define N 2000

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t all_here = PTHREAD_COND_INITIALIZER;
static int arrived, released;

static void *blocker(void *arg)
{
	pthread_mutex_lock(&m);
	if (++arrived == N)
		pthread_cond_signal(&all_here);
	while (!released)
		pthread_cond_wait(&cv, &m);
	pthread_mutex_unlock(&m);
	return (void *)((long)arg * 3 + 1);
}


int main(void)
{
	test_begin();
	static pthread_t t[N];
	int peak = os_threads();
	for (long i = 0; i < N; i++) {
		int rc = pthread_create(&t[i], NULL, blocker, (void *)i);
		CHECK(rc == 0, "pthread_create #%ld failed: %s", i, err_name(rc));
		if (i % 100 == 99) {
			int n = os_threads();
			if (n > peak)
				peak = n;
		}
	}
	struct timespec dl = deadline_in(CLOCK_REALTIME, 20000);
	pthread_mutex_lock(&m);
	while (arrived < N) {
		int rc = pthread_cond_timedwait(&all_here, &m, &dl);
		CHECK(rc == 0 || arrived == N, "only %d of %d threads reached the condvar within 20 s", arrived, N);
	}
	pthread_mutex_unlock(&m);
	for (int k = 0; k < 3; k++) {
		int n = os_threads();
		if (n > peak)
			peak = n;
		sleep_ms(5);
	}
	printf("peak OS threads with %d threads blocked: %d\n", N, peak);

	pthread_mutex_lock(&m);
	released = 1;
	CHECK_RC(pthread_cond_broadcast(&cv), 0);
	pthread_mutex_unlock(&m);
	for (long i = 0; i < N; i++) {
		void *r = join(t[i]);
		CHECK(r == (void *)(i * 3 + 1), "thread %ld returned %p", i, r);
	}

	check_os_threads(peak);
	return test_pass();
}
