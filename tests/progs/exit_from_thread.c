/* expect-exit: 3 */
/* expect-output: atexit-ran */
/*
 * exit_from_thread: exit() called by a non-main thread ends the whole
 * process with that status, while main is blocked in pthread_join and
 * other threads are blocked in a condvar wait, sem_wait and sleep.  atexit
 * handlers run (once).  The runner checks the exit status (3) and the
 * "atexit-ran" line.
 */
#include "common.h"
#include <semaphore.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static sem_t never;
static int blocked;

static void at_exit_handler(void)
{
	static int runs;
	if (++runs == 1)
		printf("atexit-ran\n");
	else
		printf("atexit handler ran %d times\n", runs);
	fflush(stdout);
}

static void *cond_blocker(void *arg)
{
	pthread_mutex_lock(&m);
	ADD(&blocked, 1);
	for (;;)
		pthread_cond_wait(&cv, &m);
	return NULL;
}

static void *sem_blocker(void *arg)
{
	ADD(&blocked, 1);
	sem_wait(&never);
	return NULL;
}

static void *sleeper(void *arg)
{
	ADD(&blocked, 1);
	sleep(30);
	return NULL;
}

static void *exiter(void *arg)
{
	while (LOAD(&blocked) < 3) /* until the others are (about to be) blocked */
		sleep_ms(1);
	sleep_ms(20);
	printf("PASS %s\n", test_name());
	fflush(stdout);
	exit(3);
}

int main(void)
{
	test_begin();
	sem_init(&never, 0, 0);
	CHECK_RC(atexit(at_exit_handler), 0);
	spawn(cond_blocker, NULL);
	spawn(sem_blocker, NULL);
	spawn(sleeper, NULL);
	pthread_t e = spawn(exiter, NULL);
	pthread_join(e, NULL);
	FAIL("pthread_join returned: the process should have exited with status 3");
}
