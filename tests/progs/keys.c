/*
 * keys: thread-specific data (pthread_key_*).
 *   - a new key reads NULL in every thread; values are per thread
 *   - the destructor runs at thread exit (return, pthread_exit) with the
 *     thread's value, once per thread that set a non-NULL value; not for
 *     NULL values, not for threads that never set one
 *   - a destructor that sets a value again causes another round, at most
 *     PTHREAD_DESTRUCTOR_ITERATIONS rounds in all (glibc: exactly that many
 *     when the destructor always re-sets); one re-set gives two rounds
 *   - pthread_key_delete: no destructor runs afterwards for that key; a
 *     key created later (which may reuse the slot) reads NULL everywhere
 *   - at least _POSIX_THREAD_KEYS_MAX (128) keys can be created
 *   - a destructor may read and set other keys
 */
#include "common.h"
#include <limits.h>
#include <semaphore.h>

static pthread_key_t k1, k2, kre, kre1, kdel, kother;
static int k1_calls, k1_bad, k2_calls, kre_calls, kre1_calls, kdel_calls, kother_calls;

static void k1_dtor(void *v)
{
	ADD(&k1_calls, 1);
	if ((long)v < 1000 || (long)v >= 1000 + 8)
		ADD(&k1_bad, 1);
	/* The value is already cleared when the destructor runs. */
	if (pthread_getspecific(k1) != NULL)
		ADD(&k1_bad, 1);
}

static void k2_dtor(void *v) { ADD(&k2_calls, 1); }

static void kre_dtor(void *v)
{
	ADD(&kre_calls, 1);
	pthread_setspecific(kre, (void *)((long)v + 1)); /* forever */
}

static void kre1_dtor(void *v)
{
	ADD(&kre1_calls, 1);
	if (v == (void *)1)
		pthread_setspecific(kre1, (void *)2); /* once */
}

static void kdel_dtor(void *v) { ADD(&kdel_calls, 1); }

static void kother_dtor(void *v)
{
	ADD(&kother_calls, 1);
	/* Reads another key and sets it: glibc runs it in a later round. */
	pthread_setspecific(k2, (void *)7);
}

static void *user(void *arg)
{
	long i = (long)arg;
	if (pthread_getspecific(k1) != NULL)
		return (void *)1;
	pthread_setspecific(k1, (void *)(1000 + i));
	pthread_setspecific(k2, NULL); /* NULL: no destructor call */
	if (pthread_getspecific(k1) != (void *)(1000 + i))
		return (void *)2;
	sleep_ms(5); /* overlap with the other threads */
	if (pthread_getspecific(k1) != (void *)(1000 + i))
		return (void *)3;
	if (i % 2)
		pthread_exit(NULL);
	return NULL;
}

static void *resetter(void *arg)
{
	pthread_setspecific(kre, (void *)1);
	return NULL;
}

static void *resetter1(void *arg)
{
	pthread_setspecific(kre1, (void *)1);
	return NULL;
}

static sem_t set_done, deleted;

static void *del_user(void *arg)
{
	pthread_setspecific(kdel, (void *)1);
	sem_post(&set_done);
	sem_wait(&deleted);
	return NULL;
}

static void *other_user(void *arg)
{
	pthread_setspecific(kother, (void *)1);
	return NULL;
}

static void *nothing(void *arg) { return NULL; }

int main(void)
{
	test_begin();
	CHECK_RC(pthread_key_create(&k1, k1_dtor), 0);
	CHECK_RC(pthread_key_create(&k2, k2_dtor), 0);
	CHECK(pthread_getspecific(k1) == NULL, "new key not NULL in main");

	pthread_t t[8];
	CHECK_RC(pthread_setspecific(k1, (void *)999), 0);
	for (long i = 0; i < 8; i++)
		t[i] = spawn(user, (void *)i);
	for (int i = 0; i < 8; i++) {
		long r = (long)join(t[i]);
		CHECK(r != 1, "thread %d: fresh thread saw a non-NULL value", i);
		CHECK(r == 0, "thread %d: per-thread value not kept (code %ld)", i, r);
	}
	CHECK(pthread_getspecific(k1) == (void *)999, "main's value changed by other threads");
	CHECK(k1_calls == 8, "k1 destructor ran %d times, expected 8", k1_calls);
	CHECK(k1_bad == 0, "k1 destructor got a wrong value or saw the slot still set (%d)", k1_bad);
	CHECK(k2_calls == 0, "destructor ran %d times for NULL values", k2_calls);
	join(spawn(nothing, NULL));
	CHECK(k1_calls == 8, "destructor ran for a thread that never set a value");
	CHECK_RC(pthread_setspecific(k1, NULL), 0);

	/* Destructor rounds. */
	CHECK_RC(pthread_key_create(&kre, kre_dtor), 0);
	join(spawn(resetter, NULL));
	CHECK(kre_calls == PTHREAD_DESTRUCTOR_ITERATIONS,
	      "always-re-setting destructor ran %d times, expected PTHREAD_DESTRUCTOR_ITERATIONS = %d", kre_calls, PTHREAD_DESTRUCTOR_ITERATIONS);
	CHECK_RC(pthread_key_create(&kre1, kre1_dtor), 0);
	join(spawn(resetter1, NULL));
	CHECK(kre1_calls == 2, "destructor that re-sets once ran %d times, expected 2", kre1_calls);

	/* A destructor that sets another key. */
	k2_calls = 0;
	CHECK_RC(pthread_key_create(&kother, kother_dtor), 0);
	join(spawn(other_user, NULL));
	CHECK(kother_calls == 1 && k2_calls == 1, "destructor setting another key: its dtor ran %d, other's %d (expected 1, 1)", kother_calls, k2_calls);

	/* Delete while a thread holds a value: no destructor afterwards. */
	sem_init(&set_done, 0, 0);
	sem_init(&deleted, 0, 0);
	CHECK_RC(pthread_key_create(&kdel, kdel_dtor), 0);
	CHECK_RC(pthread_setspecific(kdel, (void *)5), 0);
	pthread_t td = spawn(del_user, NULL);
	sem_wait(&set_done);
	CHECK_RC(pthread_key_delete(kdel), 0);
	sem_post(&deleted);
	join(td);
	CHECK(kdel_calls == 0, "destructor of a deleted key ran %d times", kdel_calls);
	/* New keys read NULL in main even if a slot is reused. */
	pthread_key_t fresh[4];
	for (int i = 0; i < 4; i++) {
		CHECK_RC(pthread_key_create(&fresh[i], NULL), 0);
		CHECK(pthread_getspecific(fresh[i]) == NULL, "key created after a delete reads %p, expected NULL", pthread_getspecific(fresh[i]));
	}
	for (int i = 0; i < 4; i++)
		CHECK_RC(pthread_key_delete(fresh[i]), 0);

	/* Plenty of keys. */
	static pthread_key_t many[_POSIX_THREAD_KEYS_MAX];
	for (int i = 0; i < _POSIX_THREAD_KEYS_MAX; i++) {
		CHECK_RC(pthread_key_create(&many[i], NULL), 0);
		CHECK_RC(pthread_setspecific(many[i], (void *)(long)(i + 1)), 0);
	}
	for (int i = 0; i < _POSIX_THREAD_KEYS_MAX; i++) {
		CHECK(pthread_getspecific(many[i]) == (void *)(long)(i + 1), "key %d reads back %p", i, pthread_getspecific(many[i]));
		for (int j = 0; j < i; j++)
			CHECK(!(many[i] == many[j]), "keys %d and %d are equal", i, j);
	}
	for (int i = 0; i < _POSIX_THREAD_KEYS_MAX; i++)
		CHECK_RC(pthread_key_delete(many[i]), 0);

	return test_pass();
}
