/*
 * once: pthread_once.
 *   - 16 threads released together call pthread_once on one control: the
 *     init routine runs exactly once, and every caller returns only after
 *     it has completed (the init routine is slow, so late completion shows)
 *   - independent once controls are independent; a second call is a no-op
 *   - pthread_once inside an init routine of another once control works
 *   - if the init routine is cancelled, the control is reset: the next
 *     pthread_once call runs the routine again
 */
#include "common.h"
#include <semaphore.h>

#define N 16

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_calls, init_done;
static pthread_barrier_t start;

static void slow_init(void)
{
	ADD(&init_calls, 1);
	sleep_ms(50);
	STORE(&init_done, 1);
}

static void *caller(void *arg)
{
	pthread_barrier_wait(&start);
	int rc = pthread_once(&once, slow_init);
	if (rc != 0)
		return (void *)1;
	if (!LOAD(&init_done))
		return (void *)2; /* returned before init completed */
	return (void *)0;
}

static pthread_once_t outer = PTHREAD_ONCE_INIT, inner = PTHREAD_ONCE_INIT;
static int outer_calls, inner_calls;
static void inner_init(void) { inner_calls++; }
static void outer_init(void)
{
	outer_calls++;
	pthread_once(&inner, inner_init);
}

/* Cancelled inside the init routine. */
static pthread_once_t conce = PTHREAD_ONCE_INIT;
static int cinit_calls;
static sem_t in_init, never;

static void cancellable_init(void)
{
	int n = ADD(&cinit_calls, 1);
	if (n == 1) {
		sem_post(&in_init);
		sem_wait(&never); /* cancellation point */
	}
}

static void *cancel_victim(void *arg)
{
	pthread_once(&conce, cancellable_init);
	return (void *)1;
}

int main(void)
{
	test_begin();
	pthread_barrier_init(&start, NULL, N);
	pthread_t t[N];
	for (int i = 0; i < N; i++)
		t[i] = spawn(caller, NULL);
	for (int i = 0; i < N; i++) {
		long r = (long)join(t[i]);
		CHECK(r != 1, "thread %d: pthread_once failed", i);
		CHECK(r != 2, "thread %d: pthread_once returned before the init routine completed", i);
	}
	CHECK(init_calls == 1, "init routine ran %d times, expected 1", init_calls);
	CHECK_RC(pthread_once(&once, slow_init), 0);
	CHECK(init_calls == 1, "init routine ran again on a later call (%d)", init_calls);

	CHECK_RC(pthread_once(&outer, outer_init), 0);
	CHECK_RC(pthread_once(&outer, outer_init), 0);
	CHECK_RC(pthread_once(&inner, inner_init), 0);
	CHECK(outer_calls == 1 && inner_calls == 1, "nested once: outer %d inner %d, expected 1 and 1", outer_calls, inner_calls);

	/* Dynamically placed control, initialised with PTHREAD_ONCE_INIT. */
	pthread_once_t *dyn = malloc(sizeof *dyn);
	*dyn = PTHREAD_ONCE_INIT;
	int before = inner_calls;
	CHECK_RC(pthread_once(dyn, inner_init), 0);
	CHECK_RC(pthread_once(dyn, inner_init), 0);
	CHECK(inner_calls == before + 1, "malloc'd once control: routine ran %d times", inner_calls - before);
	free(dyn);

	sem_init(&in_init, 0, 0);
	sem_init(&never, 0, 0);
	pthread_t v = spawn(cancel_victim, NULL);
	sem_wait(&in_init);
	sleep_ms(10);
	CHECK_RC(pthread_cancel(v), 0);
	CHECK(join(v) == PTHREAD_CANCELED, "thread cancelled in init routine not PTHREAD_CANCELED");
	CHECK_RC(pthread_once(&conce, cancellable_init), 0);
	CHECK(cinit_calls == 2, "after a cancelled init routine, pthread_once ran it %d times in all, expected 2", cinit_calls);
	CHECK_RC(pthread_once(&conce, cancellable_init), 0);
	CHECK(cinit_calls == 2, "init routine ran a third time");

	return test_pass();
}
