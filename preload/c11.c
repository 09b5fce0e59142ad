/*
 * C11 <threads.h>.  glibc implements these on internal aliases of its
 * pthread functions, which LD_PRELOAD cannot reach, so each is its own
 * entry point here, mapped onto the pthread layer.
 */
#include "shim.h"

#include <stdlib.h>
#include <threads.h>

static int c11(int r)
{
	switch (r) {
	case 0: return thrd_success;
	case ENOMEM: return thrd_nomem;
	case EBUSY: return thrd_busy;
	case ETIMEDOUT: return thrd_timedout;
	default: return thrd_error;
	}
}

struct thrd_start {
	thrd_start_t fn;
	void *arg;
};

static void *thrd_trampoline(void *p)
{
	struct thrd_start s = *(struct thrd_start *)p;
	free(p);
	return (void *)(intptr_t)s.fn(s.arg);
}

GMP_EXPORT int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
	struct thrd_start *s = malloc(sizeof *s);
	if (s == NULL)
		return thrd_nomem;
	s->fn = fn;
	s->arg = arg;
	int r = pthread_create(thr, NULL, thrd_trampoline, s);
	if (r)
		free(s);
	return r == EAGAIN ? thrd_nomem : c11(r);
}

GMP_EXPORT thrd_t thrd_current(void) { return pthread_self(); }
GMP_EXPORT int thrd_equal(thrd_t a, thrd_t b) { return a == b; }
GMP_EXPORT int thrd_detach(thrd_t t) { return c11(pthread_detach(t)); }
GMP_EXPORT void thrd_yield(void) { gmp_yield(); }

GMP_EXPORT _Noreturn void thrd_exit(int res)
{
	pthread_exit((void *)(intptr_t)res);
}

GMP_EXPORT int thrd_join(thrd_t t, int *res)
{
	void *v;
	int r = pthread_join(t, &v);
	if (r)
		return thrd_error;
	if (res)
		*res = (int)(intptr_t)v;
	return thrd_success;
}

GMP_EXPORT int thrd_sleep(const struct timespec *d, struct timespec *rem)
{
	if (nanosleep(d, rem) == 0)
		return 0;
	return errno == EINTR ? -1 : -2;
}

GMP_EXPORT int mtx_init(mtx_t *m, int type)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, (type & mtx_recursive) ? PTHREAD_MUTEX_RECURSIVE : PTHREAD_MUTEX_NORMAL);
	int r = pthread_mutex_init((pthread_mutex_t *)m, &a);
	pthread_mutexattr_destroy(&a);
	return c11(r);
}

GMP_EXPORT void mtx_destroy(mtx_t *m) { pthread_mutex_destroy((pthread_mutex_t *)m); }
GMP_EXPORT int mtx_lock(mtx_t *m) { return c11(pthread_mutex_lock((pthread_mutex_t *)m)); }
GMP_EXPORT int mtx_trylock(mtx_t *m) { return c11(pthread_mutex_trylock((pthread_mutex_t *)m)); }
GMP_EXPORT int mtx_unlock(mtx_t *m) { return c11(pthread_mutex_unlock((pthread_mutex_t *)m)); }

GMP_EXPORT int mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict ts)
{
	return c11(pthread_mutex_timedlock((pthread_mutex_t *)m, ts));
}

GMP_EXPORT int cnd_init(cnd_t *c) { return c11(pthread_cond_init((pthread_cond_t *)c, NULL)); }
GMP_EXPORT void cnd_destroy(cnd_t *c) { pthread_cond_destroy((pthread_cond_t *)c); }
GMP_EXPORT int cnd_signal(cnd_t *c) { return c11(pthread_cond_signal((pthread_cond_t *)c)); }
GMP_EXPORT int cnd_broadcast(cnd_t *c) { return c11(pthread_cond_broadcast((pthread_cond_t *)c)); }

GMP_EXPORT int cnd_wait(cnd_t *c, mtx_t *m)
{
	return c11(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}

GMP_EXPORT int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict ts)
{
	return c11(pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, ts));
}

GMP_EXPORT int tss_create(tss_t *key, tss_dtor_t dtor) { return c11(pthread_key_create(key, dtor)); }
GMP_EXPORT void tss_delete(tss_t key) { pthread_key_delete(key); }
GMP_EXPORT void *tss_get(tss_t key) { return pthread_getspecific(key); }
GMP_EXPORT int tss_set(tss_t key, void *v) { return c11(pthread_setspecific(key, v)); }

GMP_EXPORT void call_once(once_flag *flag, void (*fn)(void))
{
	pthread_once((pthread_once_t *)flag, fn);
}
