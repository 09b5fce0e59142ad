/*
 * cancel: deferred cancellation.
 *   - a thread blocked in each of these cancellation points is cancelled,
 *     runs its cleanup handler, and joins as PTHREAD_CANCELED (one at a
 *     time, each join bounded so a miss names the call):
 *     pthread_testcancel (in a yield loop), sem_wait, sem_timedwait,
 *     sem_clockwait, pthread_cond_wait, pthread_cond_timedwait,
 *     pthread_cond_clockwait, pthread_join, sleep, usleep, nanosleep,
 *     clock_nanosleep (blocking system calls: cancel_syscalls.c);
 *     then all of them at once
 *     (more raw system calls: cancel_syscalls.c)
 *   - cancelled in pthread_cond_wait, the thread's cleanup handler runs with
 *     the mutex re-acquired (errorcheck unlock succeeds), and a signal sent
 *     to the condvar afterwards still wakes the remaining waiter
 *   - a thread cancelled while joining another leaves that one joinable
 *   - a cancel sent before the thread reaches a cancellation point waits
 *     for one; pthread_cancel(pthread_self()) + pthread_testcancel
 *   - PTHREAD_CANCEL_DISABLE defers the request: blocking calls and
 *     pthread_testcancel proceed normally (sem_timedwait times out); once
 *     re-enabled the next cancellation point acts on it
 *   - setcancelstate/setcanceltype return the old value; invalid -> EINVAL
 *   - pthread_cancel on a thread that has returned but is not yet joined
 *     returns 0 and the join yields its real return value (glibc >= 2.34)
 */
#include "common.h"
#include <semaphore.h>

enum {
	B_TESTCANCEL, B_SEM_WAIT, B_SEM_TIMEDWAIT, B_SEM_CLOCKWAIT, B_COND_WAIT,
	B_COND_TIMEDWAIT, B_COND_CLOCKWAIT, B_JOIN, B_SLEEP, B_USLEEP,
	B_NANOSLEEP, B_CLOCK_NANOSLEEP, B_COUNT
};

static const char *const bname[B_COUNT] = {
	"pthread_testcancel", "sem_wait", "sem_timedwait", "sem_clockwait",
	"pthread_cond_wait", "pthread_cond_timedwait", "pthread_cond_clockwait",
	"pthread_join", "sleep", "usleep", "nanosleep", "clock_nanosleep",
};

static sem_t never;       /* never posted */
static sem_t ready;
static pthread_mutex_t m; /* errorcheck */
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t cv_mono;
static pthread_t join_target;

static int cleanup_ran[B_COUNT];
static int unlock_rc[B_COUNT];
static int returned[B_COUNT];

static void cleanup(void *arg)
{
	long i = (long)arg;
	cleanup_ran[i]++;
}

static void cleanup_unlock(void *arg)
{
	long i = (long)arg;
	cleanup_ran[i]++;
	unlock_rc[i] = pthread_mutex_unlock(&m);
}

static void *blocker(void *arg)
{
	long i = (long)arg;
	struct timespec dl;
	pthread_cleanup_push(cleanup, arg);
	sem_post(&ready);
	switch (i) {
	case B_TESTCANCEL:
		for (;;) {
			pthread_testcancel();
			sched_yield();
		}
	case B_SEM_WAIT:
		sem_wait(&never);
		break;
	case B_SEM_TIMEDWAIT:
		dl = deadline_in(CLOCK_REALTIME, 20000);
		sem_timedwait(&never, &dl);
		break;
	case B_SEM_CLOCKWAIT:
		dl = deadline_in(CLOCK_MONOTONIC, 20000);
		sem_clockwait(&never, CLOCK_MONOTONIC, &dl);
		break;
	case B_JOIN:
		pthread_join(join_target, NULL);
		break;
	case B_SLEEP:
		sleep(20);
		break;
	case B_USLEEP:
		usleep(20000000);
		break;
	case B_NANOSLEEP:
		dl.tv_sec = 20;
		dl.tv_nsec = 0;
		nanosleep(&dl, NULL);
		break;
	case B_CLOCK_NANOSLEEP:
		dl.tv_sec = 20;
		dl.tv_nsec = 0;
		clock_nanosleep(CLOCK_MONOTONIC, 0, &dl, NULL);
		break;
	}
	returned[i] = 1;
	pthread_cleanup_pop(0);
	return (void *)1;
}

static void *cond_blocker(void *arg)
{
	long i = (long)arg;
	struct timespec dl;
	CHECK_RC(pthread_mutex_lock(&m), 0);
	pthread_cleanup_push(cleanup_unlock, arg);
	sem_post(&ready);
	for (;;) { /* no predicate ever becomes true */
		if (i == B_COND_WAIT) {
			pthread_cond_wait(&cv, &m);
		} else if (i == B_COND_TIMEDWAIT) {
			dl = deadline_in(CLOCK_REALTIME, 20000);
			pthread_cond_timedwait(&cv, &m, &dl);
			break;
		} else {
			dl = deadline_in(CLOCK_MONOTONIC, 20000);
			pthread_cond_clockwait(&cv_mono, &m, CLOCK_MONOTONIC, &dl);
			break;
		}
	}
	returned[i] = 1;
	pthread_cleanup_pop(1);
	return (void *)1;
}

static void *sem_blocker(void *arg)
{
	sem_t *s = arg;
	sem_wait(s);
	return (void *)77;
}

/* Two waiters on one condvar; one is cancelled, then one signal must still
 * wake the other. */
static pthread_mutex_t pm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pcv = PTHREAD_COND_INITIALIZER;
static int pred, waiting;

static void unlock_pm(void *arg)
{
	(void)arg;
	pthread_mutex_unlock(&pm);
}

static int waiters(void)
{
	pthread_mutex_lock(&pm);
	int n = waiting;
	pthread_mutex_unlock(&pm);
	return n;
}

static void *pred_waiter(void *arg)
{
	pthread_mutex_lock(&pm);
	pthread_cleanup_push(unlock_pm, NULL);
	waiting++;
	while (!pred)
		pthread_cond_wait(&pcv, &pm);
	pred = 0; /* consume */
	pthread_cleanup_pop(1);
	return arg;
}

static int started, after_testcancel, survived_disable, disable_old, enable_old, timedwait_errno;

static int go_test;
static void *starts_then_tests(void *arg)
{
	STORE(&started, 1);
	while (!LOAD(&go_test)) /* until main has cancelled us (sched_yield is no cancellation point) */
		sched_yield();
	pthread_testcancel();
	STORE(&after_testcancel, 1);
	return NULL;
}

static void *self_cancel(void *arg)
{
	CHECK_RC(pthread_cancel(pthread_self()), 0);
	STORE(&started, 2); /* still running: deferred */
	pthread_testcancel();
	STORE(&after_testcancel, 2);
	return NULL;
}

static sem_t go_on;

/* errno looked up afresh: the address of errno that the compiler may keep
 * from before a blocking call is, under GMP_TLS=shared, the previous OS
 * thread's (README, "Thread-local storage"); this test is about
 * cancellation, not about that caveat. */
static __attribute__((noinline)) int errno_now(void)
{
	return errno;
}

static void *disabled(void *arg)
{
	CHECK_RC(pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &disable_old), 0);
	sem_post(&ready);
	sem_wait(&go_on); /* main cancels us before posting go_on */
	pthread_testcancel();
	struct timespec dl = deadline_in(CLOCK_REALTIME, 30);
	int r = sem_timedwait(&never, &dl);
	timedwait_errno = r == -1 ? errno_now() : -1;
	sleep_ms(10);
	STORE(&survived_disable, 1);
	CHECK_RC(pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &enable_old), 0);
	STORE(&survived_disable, 2); /* enabling is not a cancellation point */
	pthread_testcancel();
	STORE(&survived_disable, 3);
	return NULL;
}

static void *quick(void *arg)
{
	return arg;
}

static void check_cancelled(pthread_t t, int i)
{
	void *ret = NULL;
	struct timespec dl = deadline_in(CLOCK_MONOTONIC, 10000);
	int rc = pthread_clockjoin_np(t, &ret, CLOCK_MONOTONIC, &dl);
	CHECK(rc == 0, "thread blocked in %s: not finished 10 s after pthread_cancel (join: %s)", bname[i], err_name(rc));
	CHECK(ret == PTHREAD_CANCELED, "thread blocked in %s: join value %p, expected PTHREAD_CANCELED", bname[i], ret);
	CHECK(cleanup_ran[i] == 1, "thread blocked in %s: cleanup handler ran %d times, expected 1", bname[i], cleanup_ran[i]);
	CHECK(!returned[i], "thread blocked in %s: the call returned instead of acting on the cancel", bname[i]);
	if (i == B_COND_WAIT || i == B_COND_TIMEDWAIT || i == B_COND_CLOCKWAIT)
		CHECK(unlock_rc[i] == 0, "cancelled in %s: the cleanup handler's unlock of the errorcheck mutex gave %s (mutex not re-acquired before cleanup)",
		      bname[i], err_name(unlock_rc[i]));
}

static void cancel_and_check(pthread_t t, int i)
{
	CHECK_RC(pthread_cancel(t), 0);
	check_cancelled(t, i);
}

int main(void)
{
	test_begin();
	sem_init(&never, 0, 0);
	sem_init(&ready, 0, 0);
	sem_init(&go_on, 0, 0);
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&m, &ma);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cv_mono, &ca);
	sem_t jt_sem;
	sem_init(&jt_sem, 0, 0);
	join_target = spawn(sem_blocker, &jt_sem);

	/* Each blocking cancellation point on its own, then all at once. */
	pthread_t t[B_COUNT];
	for (int round = 0; round < 2; round++) {
		memset(cleanup_ran, 0, sizeof cleanup_ran);
		memset(unlock_rc, -1, sizeof unlock_rc);
		for (long i = 0; i < B_COUNT; i++) {
			int is_cond = i == B_COND_WAIT || i == B_COND_TIMEDWAIT || i == B_COND_CLOCKWAIT;
			t[i] = spawn(is_cond ? cond_blocker : blocker, (void *)i);
			if (round == 0) {
				sem_wait(&ready);
				sleep_ms(10); /* let it get into its blocking call */
				cancel_and_check(t[i], (int)i);
			}
		}
		if (round == 1) {
			for (int i = 0; i < B_COUNT; i++)
				sem_wait(&ready);
			sleep_ms(20);
			for (int i = 0; i < B_COUNT; i++)
				CHECK_RC(pthread_cancel(t[i]), 0);
			for (int i = 0; i < B_COUNT; i++)
				check_cancelled(t[i], (int)i);
		}
		CHECK_RC(pthread_mutex_trylock(&m), 0); /* nobody holds it */
		CHECK_RC(pthread_mutex_unlock(&m), 0);
	}
	/* The join target of the cancelled joiners is still joinable. */
	sem_post(&jt_sem);
	CHECK(join(join_target) == (void *)77, "join target lost its value after its joiner was cancelled");

	/* A cancelled condvar waiter does not swallow the next signal. */
	pthread_t w1 = spawn(pred_waiter, (void *)1), w2 = spawn(pred_waiter, (void *)2);
	WAIT_FOR(waiters() == 2, 10000, "both condvar waiters");
	sleep_ms(10);
	CHECK_RC(pthread_cancel(w1), 0);
	CHECK(join(w1) == PTHREAD_CANCELED, "cancelled condvar waiter not PTHREAD_CANCELED");
	pthread_mutex_lock(&pm);
	pred = 1;
	pthread_cond_signal(&pcv);
	pthread_mutex_unlock(&pm);
	CHECK(join(w2) == (void *)2, "remaining condvar waiter did not complete after a signal");

	/* Cancel sent right after create acts at the first cancellation point. */
	pthread_t tc = spawn(starts_then_tests, NULL);
	CHECK_RC(pthread_cancel(tc), 0);
	STORE(&go_test, 1);
	CHECK(join(tc) == PTHREAD_CANCELED, "early-cancelled thread not PTHREAD_CANCELED");
	CHECK(!LOAD(&after_testcancel), "early-cancelled thread ran past pthread_testcancel");

	/* Self-cancel is deferred to the next cancellation point. */
	tc = spawn(self_cancel, NULL);
	CHECK(join(tc) == PTHREAD_CANCELED, "self-cancelled thread not PTHREAD_CANCELED");
	CHECK(LOAD(&started) == 2, "self-cancel acted inside pthread_cancel");
	CHECK(LOAD(&after_testcancel) == 0, "self-cancelled thread ran past pthread_testcancel");

	/* Disabled cancellation. */
	tc = spawn(disabled, NULL);
	sem_wait(&ready);
	CHECK_RC(pthread_cancel(tc), 0);
	CHECK_RC(pthread_cancel(tc), 0); /* twice is fine */
	sem_post(&go_on);
	CHECK(join(tc) == PTHREAD_CANCELED, "re-enabled thread not PTHREAD_CANCELED");
	CHECK(disable_old == PTHREAD_CANCEL_ENABLE, "first setcancelstate old value %d, expected ENABLE", disable_old);
	CHECK(enable_old == PTHREAD_CANCEL_DISABLE, "second setcancelstate old value %d, expected DISABLE", enable_old);
	CHECK(timedwait_errno == ETIMEDOUT, "sem_timedwait with cancel disabled: errno %s, expected ETIMEDOUT", err_name(timedwait_errno));
	CHECK(LOAD(&survived_disable) == 2, "disabled thread progress %d, expected 2 (acted at re-enabled testcancel)", LOAD(&survived_disable));

	/* State/type setters. */
	int old;
	CHECK_RC(pthread_setcancelstate(12345, &old), EINVAL);
	CHECK_RC(pthread_setcanceltype(12345, &old), EINVAL);
	CHECK_RC(pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old), 0);
	CHECK(old == PTHREAD_CANCEL_DEFERRED, "default cancel type %d, expected DEFERRED", old);
	CHECK_RC(pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &old), 0);
	CHECK(old == PTHREAD_CANCEL_ASYNCHRONOUS, "cancel type read back %d", old);
	CHECK_RC(pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL), 0);

	/* Cancel of a finished, unjoined thread. */
	tc = spawn(quick, (void *)99);
	sleep_ms(20);
	CHECK_RC(pthread_cancel(tc), 0);
	CHECK(join(tc) == (void *)99, "cancel after return changed the join value");

	return test_pass();
}
