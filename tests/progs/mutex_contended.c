/*
 * mutex_contended: mutual exclusion under contention, for every kind of
 * mutex.  8 threads x 20000 increments of a plain (non-atomic) counter give
 * exactly 160000, and no two threads are ever inside the critical section
 * together (an "occupied" flag checked on entry).  Kinds: static
 * initializer, zero-filled, normal, recursive (locked twice per round),
 * errorcheck, adaptive, priority-inheritance (2000 rounds), robust; plus a variant that
 * acquires with pthread_mutex_trylock + sched_yield, and one with
 * pthread_mutex_timedlock.
 */
#include "common.h"
#include <sched.h>

#define THREADS 8
#define ITERS 20000

enum { ACQ_LOCK, ACQ_TRY, ACQ_TIMED, ACQ_RECURSIVE };

static pthread_mutex_t *gm;
static int acq_mode, iters;
static long counter;
static int occupied, overlaps, errors;
static pthread_barrier_t start;

static void *worker(void *arg)
{
	pthread_barrier_wait(&start);
	for (int i = 0; i < iters; i++) {
		int rc;
		switch (acq_mode) {
		case ACQ_TRY:
			while ((rc = pthread_mutex_trylock(gm)) == EBUSY)
				sched_yield();
			break;
		case ACQ_TIMED: {
			struct timespec dl = deadline_in(CLOCK_REALTIME, 20000);
			rc = pthread_mutex_timedlock(gm, &dl);
			break;
		}
		case ACQ_RECURSIVE:
			rc = pthread_mutex_lock(gm);
			if (rc == 0)
				rc = pthread_mutex_lock(gm);
			break;
		default:
			rc = pthread_mutex_lock(gm);
		}
		if (rc != 0) {
			ADD(&errors, 1);
			return NULL;
		}
		if (__atomic_exchange_n(&occupied, 1, __ATOMIC_SEQ_CST))
			ADD(&overlaps, 1);
		counter++;
		STORE(&occupied, 0);
		if (acq_mode == ACQ_RECURSIVE)
			pthread_mutex_unlock(gm);
		if (pthread_mutex_unlock(gm) != 0)
			ADD(&errors, 1);
	}
	return NULL;
}

static void run_n(const char *name, pthread_mutex_t *m, int mode, int n)
{
	iters = n;
	gm = m;
	acq_mode = mode;
	counter = 0;
	overlaps = errors = 0;
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		t[i] = spawn(worker, NULL);
	for (int i = 0; i < THREADS; i++)
		join(t[i]);
	CHECK(errors == 0, "%s: %d lock/unlock calls failed", name, errors);
	CHECK(overlaps == 0, "%s: %d times two threads were inside the critical section together", name, overlaps);
	CHECK(counter == (long)THREADS * n, "%s: counter %ld, expected %ld", name, counter, (long)THREADS * n);
}

static void run(const char *name, pthread_mutex_t *m, int mode)
{
	run_n(name, m, mode, ITERS);
}

static void init_kind(pthread_mutex_t *m, int type, int proto, int robust)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	CHECK_RC(pthread_mutexattr_settype(&a, type), 0);
	CHECK_RC(pthread_mutexattr_setprotocol(&a, proto), 0);
	CHECK_RC(pthread_mutexattr_setrobust(&a, robust), 0);
	CHECK_RC(pthread_mutex_init(m, &a), 0);
	pthread_mutexattr_destroy(&a);
}

static pthread_mutex_t s_init = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t s_zero;

int main(void)
{
	test_begin();
	pthread_barrier_init(&start, NULL, THREADS);
	pthread_mutex_t m;

	run("PTHREAD_MUTEX_INITIALIZER", &s_init, ACQ_LOCK);
	run("zero-filled", &s_zero, ACQ_LOCK);
	init_kind(&m, PTHREAD_MUTEX_NORMAL, PTHREAD_PRIO_NONE, PTHREAD_MUTEX_STALLED);
	run("normal", &m, ACQ_LOCK);
	run("normal/trylock", &m, ACQ_TRY);
	run("normal/timedlock", &m, ACQ_TIMED);
	pthread_mutex_destroy(&m);
	init_kind(&m, PTHREAD_MUTEX_RECURSIVE, PTHREAD_PRIO_NONE, PTHREAD_MUTEX_STALLED);
	run("recursive", &m, ACQ_RECURSIVE);
	pthread_mutex_destroy(&m);
	init_kind(&m, PTHREAD_MUTEX_ERRORCHECK, PTHREAD_PRIO_NONE, PTHREAD_MUTEX_STALLED);
	run("errorcheck", &m, ACQ_LOCK);
	pthread_mutex_destroy(&m);
	init_kind(&m, PTHREAD_MUTEX_ADAPTIVE_NP, PTHREAD_PRIO_NONE, PTHREAD_MUTEX_STALLED);
	run("adaptive", &m, ACQ_LOCK);
	pthread_mutex_destroy(&m);
	init_kind(&m, PTHREAD_MUTEX_NORMAL, PTHREAD_PRIO_INHERIT, PTHREAD_MUTEX_STALLED);
	/* Fewer rounds: natively every contended PI handoff is a syscall. */
	run_n("priority-inheritance", &m, ACQ_LOCK, ITERS / 10);
	pthread_mutex_destroy(&m);
	init_kind(&m, PTHREAD_MUTEX_NORMAL, PTHREAD_PRIO_NONE, PTHREAD_MUTEX_ROBUST);
	run("robust", &m, ACQ_LOCK);
	pthread_mutex_destroy(&m);

	return test_pass();
}
