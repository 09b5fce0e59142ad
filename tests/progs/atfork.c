/*
 * atfork: pthread_atfork and fork() in a threaded process.
 *   - prepare handlers run in reverse registration order, parent and child
 *     handlers in registration order, all in the forking thread
 *   - fork from a non-main thread while other threads run; the classic
 *     pattern (lock in prepare, unlock in parent and child) works
 *   - in the child only the forking thread exists: a parent thread that
 *     keeps counting does not count in the child; pthread_self() in the
 *     child equals the forking thread's pthread_t
 *   - the child can create and join threads and use mutexes/condvars
 *   - a second fork (from main) runs the handlers again
 */
#include "common.h"
#include <sys/wait.h>

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static char order[64];
static pthread_t forker;
static int handler_wrong_thread;

static void rec(char c)
{
	size_t n = strlen(order);
	if (n < sizeof order - 1)
		order[n] = c;
	if (!pthread_equal(pthread_self(), forker))
		handler_wrong_thread++;
}

static void prep1(void) { rec('P'); rec('1'); }
static void prep2(void) { rec('P'); rec('2'); }
static void prep3(void) { rec('P'); rec('3'); pthread_mutex_lock(&state_lock); }
static void par1(void) { rec('p'); rec('1'); }
static void par2(void) { rec('p'); rec('2'); }
static void par3(void) { rec('p'); rec('3'); pthread_mutex_unlock(&state_lock); }
static void chi1(void) { rec('c'); rec('1'); }
static void chi2(void) { rec('c'); rec('2'); }
static void chi3(void) { rec('c'); rec('3'); pthread_mutex_unlock(&state_lock); }

static volatile int stop_ticker;
static long ticks;

static void *ticker(void *arg)
{
	while (!stop_ticker) {
		ADD(&ticks, 1);
		sleep_ms(1);
	}
	return NULL;
}

static pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ccv = PTHREAD_COND_INITIALIZER;
static int child_count;

static void *child_worker(void *arg)
{
	pthread_mutex_lock(&cm);
	child_count++;
	pthread_cond_broadcast(&ccv);
	pthread_mutex_unlock(&cm);
	return (void *)((long)arg * 2);
}

#define CHILD_FAIL(...) do { fprintf(stderr, "FAIL %s (child): ", test_name()); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); _exit(1); } while (0)

static void child_side(pthread_t parent_forker_self)
{
	test_watchdog(20);
	if (strcmp(order, "P3P2P1c1c2c3") != 0)
		CHILD_FAIL("handler order \"%s\", expected \"P3P2P1c1c2c3\"", order);
	if (handler_wrong_thread)
		CHILD_FAIL("a child handler ran outside the forking thread");
	if (!pthread_equal(pthread_self(), parent_forker_self))
		CHILD_FAIL("pthread_self() in the child differs from the forking thread's");
	long t0 = LOAD(&ticks);
	sleep_ms(30);
	long t1 = LOAD(&ticks);
	if (t0 != t1)
		CHILD_FAIL("the parent's ticker thread runs in the child (%ld -> %ld)", t0, t1);
	if (pthread_mutex_trylock(&state_lock) != 0)
		CHILD_FAIL("lock taken in prepare is not free in the child");
	pthread_mutex_unlock(&state_lock);
	pthread_t t[4];
	for (long i = 0; i < 4; i++)
		if (pthread_create(&t[i], NULL, child_worker, (void *)i) != 0)
			CHILD_FAIL("pthread_create in the child failed");
	pthread_mutex_lock(&cm);
	while (child_count < 4)
		pthread_cond_wait(&ccv, &cm);
	pthread_mutex_unlock(&cm);
	for (long i = 0; i < 4; i++) {
		void *r;
		if (pthread_join(t[i], &r) != 0 || r != (void *)(i * 2))
			CHILD_FAIL("join in the child failed");
	}
	_exit(0);
}

static int wait_child(pid_t pid)
{
	int st;
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid failed");
	CHECK(WIFEXITED(st), "child did not exit normally (status 0x%x)", st);
	return WEXITSTATUS(st);
}

static void *fork_from_thread(void *arg)
{
	forker = pthread_self();
	memset(order, 0, sizeof order);
	pid_t pid = fork();
	CHECK(pid >= 0, "fork failed: %s", strerror(errno));
	if (pid == 0)
		child_side(forker);
	CHECK(strcmp(order, "P3P2P1p1p2p3") == 0, "parent handler order \"%s\", expected \"P3P2P1p1p2p3\"", order);
	CHECK(!handler_wrong_thread, "a parent handler ran outside the forking thread");
	CHECK(wait_child(pid) == 0, "child reported failure");
	return NULL;
}

int main(void)
{
	test_begin();
	CHECK_RC(pthread_atfork(prep1, par1, chi1), 0);
	CHECK_RC(pthread_atfork(prep2, par2, chi2), 0);
	CHECK_RC(pthread_atfork(prep3, par3, chi3), 0);
	CHECK_RC(pthread_atfork(NULL, NULL, NULL), 0);

	pthread_t tick = spawn(ticker, NULL);
	WAIT_FOR(LOAD(&ticks) > 0, 10000, "the ticker thread to start");
	join(spawn(fork_from_thread, NULL));
	CHECK(pthread_mutex_trylock(&state_lock) == 0, "lock taken in prepare not released in the parent");
	pthread_mutex_unlock(&state_lock);

	/* Again from main. */
	fork_from_thread(NULL);

	stop_ticker = 1;
	join(tick);
	return test_pass();
}
