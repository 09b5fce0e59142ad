/*
 * pshared_fork: PTHREAD_PROCESS_SHARED mutex and condvar in a MAP_SHARED
 * anonymous mapping, used by a parent and a fork()ed child.
 *   - 1000 strict turns (parent even, child odd) guarded by the shared
 *     mutex, waited for with the shared condvar (timed waits so a lost
 *     wakeup fails instead of hanging)
 *   - both processes add to a shared counter under the mutex: 2 x 20000
 *   - a PTHREAD_PROCESS_SHARED barrier and unnamed semaphore (pshared = 1)
 *     in the same mapping synchronise the two processes
 *   - in the parent, the turns are taken by a second thread while main
 *     waits for the child
 */
#include "common.h"
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define TURNS 1000
#define ADDS 20000

struct shared {
	pthread_mutex_t m;
	pthread_cond_t cv;
	pthread_barrier_t b;
	sem_t sem;
	int turn;
	long counter;
	int child_failed;
};
static struct shared *sh;

/* Wait for my turn (parity), take it; returns 0 or an error number. */
static int take_turns(int parity)
{
	for (int i = parity; i < TURNS; i += 2) {
		int rc = pthread_mutex_lock(&sh->m);
		if (rc)
			return rc;
		struct timespec dl = deadline_in(CLOCK_MONOTONIC, 10000);
		while (sh->turn != i) {
			rc = pthread_cond_timedwait(&sh->cv, &sh->m, &dl);
			if (rc) {
				pthread_mutex_unlock(&sh->m);
				return rc;
			}
		}
		sh->turn = i + 1;
		pthread_cond_broadcast(&sh->cv);
		pthread_mutex_unlock(&sh->m);
	}
	return 0;
}

static int add_many(void)
{
	for (int i = 0; i < ADDS; i++) {
		int rc = pthread_mutex_lock(&sh->m);
		if (rc)
			return rc;
		sh->counter++;
		pthread_mutex_unlock(&sh->m);
	}
	return 0;
}

static void child(void)
{
	test_watchdog(20);
	int rc = pthread_barrier_wait(&sh->b);
	if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD)
		_exit(2);
	if ((rc = take_turns(1)) != 0) {
		fprintf(stderr, "FAIL %s (child): turns: %s\n", test_name(), err_name(rc));
		_exit(1);
	}
	if ((rc = add_many()) != 0)
		_exit(3);
	if (sem_post(&sh->sem) != 0)
		_exit(4);
	_exit(0);
}

static void *parent_turns(void *arg)
{
	int rc = take_turns(0);
	CHECK(rc == 0, "parent turns: %s (child not taking turns?)", err_name(rc));
	rc = add_many();
	CHECK(rc == 0, "parent adds: %s", err_name(rc));
	return NULL;
}

int main(void)
{
	test_begin();
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(sh != MAP_FAILED, "mmap failed");
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	CHECK_RC(pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED), 0);
	CHECK_RC(pthread_mutex_init(&sh->m, &ma), 0);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	CHECK_RC(pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED), 0);
	CHECK_RC(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC), 0);
	CHECK_RC(pthread_cond_init(&sh->cv, &ca), 0);
	pthread_barrierattr_t ba;
	pthread_barrierattr_init(&ba);
	CHECK_RC(pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED), 0);
	CHECK_RC(pthread_barrier_init(&sh->b, &ba, 2), 0);
	CHECK_OK(sem_init(&sh->sem, 1, 0));

	pid_t pid = fork();
	CHECK(pid >= 0, "fork failed");
	if (pid == 0)
		child();
	int rc = pthread_barrier_wait(&sh->b);
	CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD, "barrier wait: %s", err_name(rc));
	join(spawn(parent_turns, NULL));
	struct timespec dl = deadline_in(CLOCK_REALTIME, 10000);
	CHECK_OK(sem_timedwait(&sh->sem, &dl));
	int st;
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid failed");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed (status 0x%x)", st);
	CHECK(sh->turn == TURNS, "turns taken %d, expected %d", sh->turn, TURNS);
	CHECK(sh->counter == 2L * ADDS, "shared counter %ld, expected %ld", sh->counter, 2L * ADDS);
	CHECK_RC(pthread_mutex_destroy(&sh->m), 0);
	CHECK_RC(pthread_cond_destroy(&sh->cv), 0);
	CHECK_RC(pthread_barrier_destroy(&sh->b), 0);
	return test_pass();
}
