/* expect-output: main-calls-pthread-exit */
/* expect-output: child-after-main-exit */
/* expect-output: joined-main-value 42 */
/* expect-output: atexit-after-last-thread */
/*
 * thread_exit_main: pthread_exit() from main ends only the main thread.
 *   - the process lives on while another thread runs; that thread prints
 *     after main has called pthread_exit (the runner requires the line)
 *   - the main thread is joinable: another thread joins it and gets the
 *     value main passed to pthread_exit
 *   - main's thread-specific data destructors run (as for any thread
 *     calling pthread_exit)
 *   - when the last thread ends, the process exits with status 0 and the
 *     atexit handlers run (the runner checks both)
 */
#include "common.h"

static pthread_t main_thread;
static pthread_key_t key;
static int main_dtor_ran;

static void dtor(void *v)
{
	if (v == (void *)&main_thread)
		STORE(&main_dtor_ran, 1);
}

static void at_exit_handler(void)
{
	printf("atexit-after-last-thread\n");
	fflush(stdout);
}

static void *noop(void *arg)
{
	return arg;
}

static void *child(void *arg)
{
	void *ret = NULL;
	/* Blocks until main has exited. */
	CHECK_RC(pthread_join(main_thread, &ret), 0);
	printf("child-after-main-exit\n");
	printf("joined-main-value %ld\n", (long)ret);
	CHECK(ret == (void *)42, "join(main) gave %p, expected 42", ret);
	CHECK(LOAD(&main_dtor_ran) == 1, "main thread's key destructor did not run at its pthread_exit");
	/* Still a working threaded process. */
	CHECK(join(spawn(noop, (void *)5)) == (void *)5, "new thread after main's exit: wrong value");
	sleep_ms(20);
	printf("PASS %s\n", test_name());
	fflush(stdout);
	return NULL;
}

int main(void)
{
	test_begin();
	main_thread = pthread_self();
	CHECK_RC(atexit(at_exit_handler), 0);
	CHECK_RC(pthread_key_create(&key, dtor), 0);
	CHECK_RC(pthread_setspecific(key, &main_thread), 0);
	spawn(child, NULL);
	printf("main-calls-pthread-exit\n");
	fflush(stdout);
	pthread_exit((void *)42);
}
