/*
 * thread_ids: gettid() names one thread for its whole life, and no other.
 *   - in main, gettid() == getpid(); syscall(SYS_gettid) == gettid()
 *   - 32 threads: their ids are distinct, not the process id, and the same
 *     before and after 50 blocking points (yields, sleeps, condvar waits),
 *     however the threads move between CPUs / OS threads meanwhile
 *   - syscall(SYS_set_tid_address, &w) returns the thread's id; when the
 *     thread exits, w is zeroed and a FUTEX_WAIT on it is woken (what the
 *     kernel does with clear_child_tid).  The thread is detached: natively
 *     glibc's join waits for the kernel to clear the word it registered,
 *     which set_tid_address replaced.
 *   - tgkill(getpid(), tid, SIGUSR1) runs the handler in the thread with
 *     that id
 */
#include "common.h"
#include <linux/futex.h>
#include <sys/syscall.h>

#define N 32

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int turn;
static pid_t ids[N];
static int unstable;

static void *stable_id(void *arg)
{
	long i = (long)arg;
	pid_t me = gettid();
	ids[i] = me;
	for (int k = 0; k < 50; k++) {
		if (k % 3 == 0)
			sched_yield();
		else if (k % 3 == 1)
			usleep(100);
		else {
			pthread_mutex_lock(&mu);
			turn++;
			pthread_cond_broadcast(&cv);
			struct timespec dl = deadline_in(CLOCK_REALTIME, 1);
			pthread_cond_timedwait(&cv, &mu, &dl);
			pthread_mutex_unlock(&mu);
		}
		if (gettid() != me || syscall(SYS_gettid) != me)
			ADD(&unstable, 1);
	}
	return NULL;
}

static int cleared = -1;
static void *set_tid(void *arg)
{
	(void)arg;
	long r = syscall(SYS_set_tid_address, &cleared);
	CHECK(r == gettid(), "set_tid_address returned %ld, gettid() is %d", r, (int)gettid());
	usleep(20000); /* main is (probably) in FUTEX_WAIT by now */
	return NULL;
}

static _Atomic pid_t handled_in;
static void on_usr1(int sig)
{
	(void)sig;
	handled_in = gettid();
}

static _Atomic pid_t target_tid;
static _Atomic int stop;
static void *target(void *arg)
{
	(void)arg;
	target_tid = gettid();
	while (!LOAD(&stop))
		usleep(1000);
	return NULL;
}

int main(void)
{
	test_begin();
	CHECK(gettid() == getpid(), "main thread: gettid() %d, getpid() %d", (int)gettid(), (int)getpid());
	CHECK(syscall(SYS_gettid) == gettid(), "syscall(SYS_gettid) differs from gettid()");

	pthread_t t[N];
	for (long i = 0; i < N; i++)
		t[i] = spawn(stable_id, (void *)i);
	for (int i = 0; i < N; i++)
		join(t[i]);
	CHECK(unstable == 0, "a thread's id changed %d times across blocking points", unstable);
	for (int i = 0; i < N; i++) {
		CHECK(ids[i] != getpid(), "thread %d has the process id", i);
		for (int j = 0; j < i; j++)
			CHECK(ids[i] != ids[j], "threads %d and %d share id %d", i, j, (int)ids[i]);
	}

	/* clear_child_tid: set the word non-zero first; the thread registers it. */
	cleared = 1;
	pthread_attr_t da;
	pthread_attr_init(&da);
	pthread_attr_setdetachstate(&da, PTHREAD_CREATE_DETACHED);
	pthread_t c;
	CHECK_RC(pthread_create(&c, &da, set_tid, NULL), 0);
	while (LOAD(&cleared) != 0) {
		struct timespec ts = { 5, 0 };
		long r = syscall(SYS_futex, &cleared, FUTEX_WAIT, 1, &ts, NULL, 0);
		CHECK(r == 0 || errno == EAGAIN || errno == EINTR, "FUTEX_WAIT on the tid word: %s",
		      strerror(errno));
		CHECK(r == 0 || LOAD(&cleared) == 0 || errno != ETIMEDOUT, "tid word never cleared");
	}

	signal(SIGUSR1, on_usr1);
	pthread_t tg = spawn(target, NULL);
	WAIT_FOR(LOAD(&target_tid) != 0, 5000, "the target thread to start");
	CHECK_OK(tgkill(getpid(), LOAD(&target_tid), SIGUSR1));
	WAIT_FOR(LOAD(&handled_in) != 0, 5000, "the SIGUSR1 handler to run");
	CHECK(LOAD(&handled_in) == LOAD(&target_tid), "tgkill to thread %d ran the handler in thread %d",
	      (int)LOAD(&target_tid), (int)LOAD(&handled_in));
	STORE(&stop, 1);
	join(tg);
	return test_pass();
}
