/*
 * spin: pthread_spin_*.
 *   - 4 threads x 100000 increments of a plain counter under a spinlock
 *     give exactly 400000, never two threads inside at once
 *   - same with acquisition by pthread_spin_trylock + sched_yield
 *   - trylock on a held spinlock -> EBUSY, from another thread and from the
 *     holder itself; 0 once released
 *   - a PTHREAD_PROCESS_SHARED spinlock works the same
 */
#include "common.h"
#include <sched.h>

#define THREADS 4
#define ITERS 100000

static pthread_spinlock_t sl;
static long counter;
static int occupied, overlaps, use_try;

static void *worker(void *arg)
{
	for (int i = 0; i < ITERS; i++) {
		if (use_try) {
			while (pthread_spin_trylock(&sl) == EBUSY)
				sched_yield();
		} else {
			pthread_spin_lock(&sl);
		}
		if (__atomic_exchange_n(&occupied, 1, __ATOMIC_SEQ_CST))
			ADD(&overlaps, 1);
		counter++;
		STORE(&occupied, 0);
		pthread_spin_unlock(&sl);
	}
	return NULL;
}

static void *other_trylock(void *arg)
{
	int rc = pthread_spin_trylock(&sl);
	if (rc == 0)
		pthread_spin_unlock(&sl);
	return (void *)(long)rc;
}

static void run(const char *what)
{
	counter = 0;
	overlaps = 0;
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		t[i] = spawn(worker, NULL);
	for (int i = 0; i < THREADS; i++)
		join(t[i]);
	CHECK(overlaps == 0, "%s: two threads inside the spinlock together %d times", what, overlaps);
	CHECK(counter == (long)THREADS * ITERS, "%s: counter %ld, expected %ld", what, counter, (long)THREADS * ITERS);
}

int main(void)
{
	test_begin();
	CHECK_RC(pthread_spin_init(&sl, PTHREAD_PROCESS_PRIVATE), 0);
	CHECK_RC(pthread_spin_trylock(&sl), 0);
	CHECK_RC(pthread_spin_trylock(&sl), EBUSY);
	CHECK((long)join(spawn(other_trylock, NULL)) == EBUSY, "spin_trylock by another thread on a held lock not EBUSY");
	CHECK_RC(pthread_spin_unlock(&sl), 0);
	CHECK((long)join(spawn(other_trylock, NULL)) == 0, "spin_trylock by another thread on a free lock failed");
	CHECK_RC(pthread_spin_lock(&sl), 0);
	CHECK_RC(pthread_spin_unlock(&sl), 0);

	run("spin_lock");
	use_try = 1;
	run("spin_trylock");
	use_try = 0;
	CHECK_RC(pthread_spin_destroy(&sl), 0);

	CHECK_RC(pthread_spin_init(&sl, PTHREAD_PROCESS_SHARED), 0);
	run("process-shared spin_lock");
	CHECK_RC(pthread_spin_destroy(&sl), 0);
	return test_pass();
}
