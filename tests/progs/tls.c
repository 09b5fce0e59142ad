/*
 * tls: thread-local storage and errno are per thread.
 *   - a __thread int with an initializer and a _Thread_local 4 KiB array
 *     with initial data: every new thread starts from the initial values,
 *     writes stay private to the thread
 *   - errno: distinct address per thread; a failing call in one thread
 *     (close(-1) -> EBADF) does not change errno in another, checked while
 *     both threads are alive (lock-step through a barrier)
 *   - 64 threads each check, across 200 blocking points (sched_yield,
 *     condvar handoffs, short sleeps), that the address and value of their
 *     __thread variable and of errno never change: TLS must follow a
 *     thread that resumes on another CPU / OS thread
 *   - <ctype.h> works in new threads (glibc sets up each thread's
 *     character-class table pointers, which live in its TLS)
 */
/* shim-skip: S2: __thread variables are per OS thread with GMP_TLS=shared */
#include "common.h"
#include <ctype.h>

static __thread int tcount = 5;
static _Thread_local unsigned char tblock[4096] = {1, 2, 3, 4, 5, 6, 7, 8};
static __thread void *tself;

static pthread_barrier_t bar;
static int private_bad;

static void *private_user(void *arg)
{
	long id = (long)arg;
	if (tcount != 5 || tblock[0] != 1 || tblock[7] != 8 || tblock[4095] != 0 || tself != NULL)
		ADD(&private_bad, 1);
	tcount = (int)id * 1000;
	memset(tblock, (int)id, sizeof tblock);
	tself = &tself;
	pthread_barrier_wait(&bar); /* everyone has written */
	if (tcount != (int)id * 1000 || tblock[0] != (unsigned char)id || tblock[4095] != (unsigned char)id || tself != &tself)
		ADD(&private_bad, 1);
	return &tcount;
}

/* errno in lock step: A fails with EBADF, B sets ENOENT, then each checks. */
static pthread_barrier_t step;
static int *errno_addr[2];
static int errno_seen[2];

static void *errno_user(void *arg)
{
	long id = (long)arg;
	errno_addr[id] = &errno;
	errno = 0;
	pthread_barrier_wait(&step);
	if (id == 0) {
		int r = close(-1);
		(void)r;
	} else {
		errno = ENOENT;
	}
	pthread_barrier_wait(&step);
	pthread_barrier_wait(&step); /* the other thread has done its part */
	errno_seen[id] = errno;
	return NULL;
}

/* Stability across blocking points. */
#define STAB_THREADS 64
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int token; /* passed around by condvar handoffs */
static int stab_bad;

static void *stable_user(void *arg)
{
	long id = (long)arg;
	tcount = (int)id + 7;
	int *addr = &tcount;
	int *eaddr = &errno;
	errno = (int)id + 1000;
	for (int i = 0; i < 200; i++) {
		switch (i % 4) {
		case 0:
			sched_yield();
			break;
		case 1:
			pthread_mutex_lock(&m);
			token++;
			pthread_cond_broadcast(&cv);
			pthread_mutex_unlock(&m);
			break;
		case 2: {
			pthread_mutex_lock(&m);
			struct timespec dl = deadline_in(CLOCK_REALTIME, 1);
			int t0 = token;
			while (token == t0 && pthread_cond_timedwait(&cv, &m, &dl) == 0)
				;
			pthread_mutex_unlock(&m);
			errno = (int)id + 1000; /* timedwait may not touch errno, but be fair */
			break;
		}
		case 3:
			if (i % 20 == 3)
				sleep_ms(1);
			break;
		}
		if (&tcount != addr || tcount != (int)id + 7 || &errno != eaddr || errno != (int)id + 1000) {
			ADD(&stab_bad, 1);
			break;
		}
	}
	return NULL;
}

static void *ctype_user(void *arg)
{
	(void)arg;
	long ok = isspace(' ') && !isspace('x') && isdigit('7') && toupper('q') == 'Q' &&
		  tolower('Q') == 'q' && isalpha('z');
	return (void *)ok;
}

int main(void)
{
	test_begin();
	tcount = 99;
	tblock[0] = 99;

	pthread_t ct = spawn(ctype_user, NULL);
	CHECK(join(ct) == (void *)1L, "<ctype.h> gave wrong answers in a new thread");

	pthread_barrier_init(&bar, NULL, 8);
	pthread_t t[STAB_THREADS];
	for (long i = 0; i < 8; i++)
		t[i] = spawn(private_user, (void *)(i + 1));
	void *addrs[8];
	for (int i = 0; i < 8; i++)
		addrs[i] = join(t[i]);
	CHECK(private_bad == 0, "thread-local variables not private / not initialised (%d bad checks)", private_bad);
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < i; j++)
			CHECK(addrs[i] != addrs[j], "threads %d and %d had the same __thread address", i, j);
	CHECK(tcount == 99 && tblock[0] == 99, "main's thread-locals changed by other threads");

	pthread_barrier_init(&step, NULL, 2);
	t[0] = spawn(errno_user, (void *)0L);
	t[1] = spawn(errno_user, (void *)1L);
	join(t[0]);
	join(t[1]);
	CHECK(errno_addr[0] != errno_addr[1], "two threads have the same &errno");
	CHECK(errno_addr[0] != &errno, "a thread's &errno equals main's");
	CHECK(errno_seen[0] == EBADF, "thread A's errno %s, expected EBADF", err_name(errno_seen[0]));
	CHECK(errno_seen[1] == ENOENT, "thread B's errno %s, expected ENOENT (its own)", err_name(errno_seen[1]));

	for (long i = 0; i < STAB_THREADS; i++)
		t[i] = spawn(stable_user, (void *)i);
	for (int i = 0; i < STAB_THREADS; i++)
		join(t[i]);
	CHECK(stab_bad == 0, "%d threads saw their __thread variable or errno move or change across a blocking call", stab_bad);
	return test_pass();
}
