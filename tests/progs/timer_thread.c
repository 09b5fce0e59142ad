/*
 * timer_thread: POSIX timers with SIGEV_THREAD notification, whose
 * callbacks run on threads the program did not create with
 * pthread_create ("foreign" threads, created inside libc).
 *   - a one-shot 50 ms timer on CLOCK_MONOTONIC: its callback (not on the
 *     main thread) gets sival_ptr, locks a mutex, sets a flag and signals a
 *     condvar that main waits on with a timeout; it fires no earlier than
 *     50 ms after arming
 *   - the callback can use thread-specific data and create and join a
 *     thread of its own
 *   - a periodic 20 ms timer fires repeatedly; after 5 callbacks main
 *     deletes it and no callback runs afterwards
 *   - a CLOCK_REALTIME timer armed with TIMER_ABSTIME fires after its
 *     absolute expiry
 */
#include "common.h"

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_t main_thread;
static int fired, on_main, joined_ok, tsd_ok;
static int64_t fired_at, fired_at_rt;
static void *got_ptr;
static pthread_key_t key;

static void *helper(void *arg)
{
	return (void *)((long)arg + 1);
}

static void oneshot_cb(union sigval sv)
{
	int64_t now = now_ns(CLOCK_MONOTONIC), now_rt = now_ns(CLOCK_REALTIME);
	int is_main = pthread_equal(pthread_self(), main_thread);
	pthread_setspecific(key, &key);
	int tsd = pthread_getspecific(key) == &key;
	pthread_t t;
	int j = 0;
	if (pthread_create(&t, NULL, helper, (void *)41L) == 0) {
		void *r;
		j = pthread_join(t, &r) == 0 && r == (void *)42L;
	}
	pthread_mutex_lock(&m);
	fired++;
	fired_at = now;
	fired_at_rt = now_rt;
	on_main = is_main;
	got_ptr = sv.sival_ptr;
	joined_ok = j;
	tsd_ok = tsd;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&m);
}

static int periodic_count;
static void periodic_cb(union sigval sv)
{
	pthread_mutex_lock(&m);
	periodic_count++;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&m);
}

static int wait_count(int *counter, int want, int64_t ms)
{
	struct timespec dl = deadline_in(CLOCK_REALTIME, ms);
	pthread_mutex_lock(&m);
	int rc = 0;
	while (*counter < want && rc == 0)
		rc = pthread_cond_timedwait(&cv, &m, &dl);
	int n = *counter;
	pthread_mutex_unlock(&m);
	return n;
}

int main(void)
{
	test_begin();
	main_thread = pthread_self();
	CHECK_RC(pthread_key_create(&key, NULL), 0);
	static int token;

	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_THREAD;
	sev.sigev_notify_function = oneshot_cb;
	sev.sigev_value.sival_ptr = &token;
	timer_t tm;
	CHECK_OK(timer_create(CLOCK_MONOTONIC, &sev, &tm));
	struct itimerspec its;
	memset(&its, 0, sizeof its);
	its.it_value = ns_ts(50 * 1000000LL);
	int64_t armed = now_ns(CLOCK_MONOTONIC);
	CHECK_OK(timer_settime(tm, 0, &its, NULL));
	CHECK(wait_count(&fired, 1, 10000) == 1, "one-shot SIGEV_THREAD timer did not fire within 10 s");
	pthread_mutex_lock(&m);
	CHECK(fired_at - armed >= 50 * 1000000LL, "one-shot timer fired %.3f ms after arming, before its 50 ms", (fired_at - armed) / 1e6);
	CHECK(!on_main, "SIGEV_THREAD callback ran on the main thread");
	CHECK(got_ptr == &token, "callback got sival_ptr %p, expected %p", got_ptr, (void *)&token);
	CHECK(joined_ok, "callback could not create and join a thread");
	CHECK(tsd_ok, "callback could not use thread-specific data");
	pthread_mutex_unlock(&m);
	sleep_ms(60);
	CHECK(wait_count(&fired, 2, 0) == 1, "one-shot timer fired again");
	CHECK_OK(timer_delete(tm));

	sev.sigev_notify_function = periodic_cb;
	CHECK_OK(timer_create(CLOCK_MONOTONIC, &sev, &tm));
	its.it_value = ns_ts(20 * 1000000LL);
	its.it_interval = ns_ts(20 * 1000000LL);
	CHECK_OK(timer_settime(tm, 0, &its, NULL));
	int n = wait_count(&periodic_count, 5, 10000);
	CHECK(n >= 5, "periodic timer fired %d times in 10 s, expected >= 5", n);
	CHECK_OK(timer_delete(tm));
	sleep_ms(150); /* callbacks dispatched before the delete may still run */
	pthread_mutex_lock(&m);
	int after_delete = periodic_count;
	pthread_mutex_unlock(&m);
	sleep_ms(150); /* a live 20 ms timer would fire ~7 times here */
	pthread_mutex_lock(&m);
	CHECK(periodic_count == after_delete, "periodic timer kept firing after timer_delete (%d -> %d)", after_delete, periodic_count);
	pthread_mutex_unlock(&m);

	sev.sigev_notify_function = oneshot_cb;
	CHECK_OK(timer_create(CLOCK_REALTIME, &sev, &tm));
	memset(&its, 0, sizeof its);
	its.it_value = deadline_in(CLOCK_REALTIME, 30);
	CHECK_OK(timer_settime(tm, TIMER_ABSTIME, &its, NULL));
	CHECK(wait_count(&fired, 2, 10000) == 2, "absolute CLOCK_REALTIME timer did not fire within 10 s");
	pthread_mutex_lock(&m);
	CHECK(fired_at_rt >= ts_ns(&its.it_value), "TIMER_ABSTIME CLOCK_REALTIME timer fired %lld ns before its expiry",
	      (long long)(ts_ns(&its.it_value) - fired_at_rt));
	pthread_mutex_unlock(&m);
	CHECK_OK(timer_delete(tm));

	return test_pass();
}
