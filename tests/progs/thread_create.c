/*
 * thread_create: pthread_create with and without attributes, and what a
 * thread can learn about itself.
 *   - join returns each thread's return value / pthread_exit value
 *   - pthread_self / pthread_equal agree between creator and thread
 *   - attributes round-trip: detachstate, stacksize, guardsize, user stack
 *     (pthread_attr_setstack), inheritsched/schedpolicy/schedparam, scope;
 *     invalid values give EINVAL / ENOTSUP as glibc does
 *   - a thread created with a 256 KiB stack can use 128 KiB of it
 *   - pthread_getattr_np: the stack it reports contains a local variable
 *     (main thread and new threads); a user stack is reported exactly, with
 *     guard size 0; detachstate is reported
 *   - pthread_setname_np / pthread_getname_np (ERANGE for a name or buffer
 *     too long / too short), on self and on another thread
 *   - pthread_getcpuclockid gives a clock that advances while the thread
 *     computes
 *   - pthread_join on self -> EDEADLK
 */
#include "common.h"
#include <sched.h>
#include <semaphore.h>
#include <sys/mman.h>

static pthread_t seen_self[16];

static void *ret_index(void *arg)
{
	long i = (long)arg;
	seen_self[i] = pthread_self();
	return (void *)(i * 10 + 1);
}

static void deep_exit(int depth, long value)
{
	if (depth == 0) {
		if (value != 0)
			pthread_exit((void *)value);
		return;
	}
	deep_exit(depth - 1, value);
}

static void *exit_deep(void *arg)
{
	deep_exit(20, (long)arg);
	return NULL; /* not reached */
}

/* Report whether &local lies inside the stack pthread_getattr_np reports. */
struct stackcheck {
	void *addr;      /* reported stack low address */
	size_t size;     /* reported stack size */
	size_t guard;    /* reported guard size */
	int detach;      /* reported detachstate */
	int local_in;    /* a local variable lies inside [addr, addr+size) */
	int rc;
};

static void stack_probe(struct stackcheck *sc)
{
	volatile int local = 1;
	pthread_attr_t a;
	sc->rc = pthread_getattr_np(pthread_self(), &a);
	if (sc->rc)
		return;
	pthread_attr_getstack(&a, &sc->addr, &sc->size);
	pthread_attr_getguardsize(&a, &sc->guard);
	pthread_attr_getdetachstate(&a, &sc->detach);
	uintptr_t lo = (uintptr_t)sc->addr, p = (uintptr_t)&local;
	sc->local_in = p >= lo && p < lo + sc->size;
	pthread_attr_destroy(&a);
}

static void *probe_thread(void *arg)
{
	stack_probe(arg);
	return arg;
}

static sem_t detached_done;

static void *detached_thread(void *arg)
{
	struct stackcheck *sc = arg;
	stack_probe(sc);
	sem_post(&detached_done);
	return NULL;
}

/* Uses 128 KiB of its stack: needs the requested 256 KiB to be real. */
static void *big_frame(void *arg)
{
	volatile char buf[128 * 1024];
	memset((char *)buf, 0x5a, sizeof buf);
	long sum = 0;
	for (size_t i = 0; i < sizeof buf; i += 4096)
		sum += buf[i];
	return (void *)sum;
}

static void *sched_thread(void *arg)
{
	int *out = arg;
	struct sched_param sp;
	out[2] = pthread_getschedparam(pthread_self(), &out[0], &sp);
	out[1] = sp.sched_priority;
	return NULL;
}

static sem_t name_set, name_checked;
static char name_seen[32];

static void *named_thread(void *arg)
{
	sem_wait(&name_set);
	int rc = pthread_getname_np(pthread_self(), name_seen, sizeof name_seen);
	if (rc)
		snprintf(name_seen, sizeof name_seen, "<error %d>", rc);
	sem_post(&name_checked);
	return NULL;
}

static volatile unsigned long sink;

int main(void)
{
	test_begin();

	/* Plain create/join with return values, self and equal. */
	pthread_t t[16];
	for (long i = 0; i < 16; i++)
		CHECK_RC(pthread_create(&t[i], NULL, ret_index, (void *)i), 0);
	for (long i = 0; i < 16; i++) {
		void *ret = (void *)-1;
		CHECK_RC(pthread_join(t[i], &ret), 0);
		CHECK(ret == (void *)(i * 10 + 1), "thread %ld returned %p, expected %p", i, ret, (void *)(i * 10 + 1));
		CHECK(pthread_equal(seen_self[i], t[i]), "thread %ld: pthread_self() inside differs from the pthread_t its creator got", i);
		CHECK(!pthread_equal(seen_self[i], pthread_self()), "thread %ld: pthread_self() equals main's", i);
	}
	CHECK(pthread_equal(pthread_self(), pthread_self()), "pthread_equal(self, self) is false");
	CHECK(!pthread_equal(seen_self[0], seen_self[1]), "two threads have equal pthread_t");

	/* pthread_exit from deep in the call stack; NULL retval pointer ok. */
	pthread_t te = spawn(exit_deep, (void *)777);
	CHECK(join(te) == (void *)777, "pthread_exit value not returned by join");
	te = spawn(exit_deep, (void *)778);
	CHECK_RC(pthread_join(te, NULL), 0);

	/* Join on self. */
	CHECK_RC(pthread_join(pthread_self(), NULL), EDEADLK);

	/* Attribute defaults and round trips. */
	pthread_attr_t a;
	int v;
	size_t sz;
	CHECK_RC(pthread_attr_init(&a), 0);
	CHECK_RC(pthread_attr_getdetachstate(&a, &v), 0);
	CHECK(v == PTHREAD_CREATE_JOINABLE, "default detachstate %d, expected JOINABLE", v);
	CHECK_RC(pthread_attr_setdetachstate(&a, 12345), EINVAL);
	CHECK_RC(pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED), 0);
	CHECK_RC(pthread_attr_getdetachstate(&a, &v), 0);
	CHECK(v == PTHREAD_CREATE_DETACHED, "detachstate read back %d", v);
	CHECK_RC(pthread_attr_setdetachstate(&a, PTHREAD_CREATE_JOINABLE), 0);

	CHECK_RC(pthread_attr_getguardsize(&a, &sz), 0);
	CHECK(sz == (size_t)sysconf(_SC_PAGESIZE), "default guardsize %zu, expected one page", sz);
	CHECK_RC(pthread_attr_setguardsize(&a, 1000), 0);
	CHECK_RC(pthread_attr_getguardsize(&a, &sz), 0);
	CHECK(sz == 1000, "guardsize read back %zu, expected 1000 (stored as given)", sz);

	CHECK_RC(pthread_attr_setstacksize(&a, PTHREAD_STACK_MIN - 1), EINVAL);
	CHECK_RC(pthread_attr_setstacksize(&a, 100000), 0);
	CHECK_RC(pthread_attr_getstacksize(&a, &sz), 0);
	CHECK(sz == 100000, "stacksize read back %zu, expected 100000", sz);

	CHECK_RC(pthread_attr_getscope(&a, &v), 0);
	CHECK(v == PTHREAD_SCOPE_SYSTEM, "default scope %d, expected SYSTEM", v);
	CHECK_RC(pthread_attr_setscope(&a, PTHREAD_SCOPE_PROCESS), ENOTSUP);
	CHECK_RC(pthread_attr_setscope(&a, PTHREAD_SCOPE_SYSTEM), 0);

	CHECK_RC(pthread_attr_getinheritsched(&a, &v), 0);
	CHECK(v == PTHREAD_INHERIT_SCHED, "default inheritsched %d, expected INHERIT", v);
	CHECK_RC(pthread_attr_setinheritsched(&a, 999), EINVAL);
	CHECK_RC(pthread_attr_setschedpolicy(&a, 999), EINVAL);

	/* A thread with a 100000-byte stack and a 1000-byte guard runs, and its
	 * reported stack holds its locals. */
	struct stackcheck sc = {0};
	pthread_t tp;
	CHECK_RC(pthread_create(&tp, &a, probe_thread, &sc), 0);
	join(tp);
	CHECK(sc.rc == 0, "pthread_getattr_np in thread: %s", err_name(sc.rc));
	CHECK(sc.local_in, "thread local variable outside reported stack %p+%zu", sc.addr, sc.size);
	CHECK(sc.detach == PTHREAD_CREATE_JOINABLE, "getattr_np detachstate %d in joinable thread", sc.detach);
	CHECK_RC(pthread_attr_destroy(&a), 0);

	/* 256 KiB stack, 128 KiB of it used. */
	CHECK_RC(pthread_attr_init(&a), 0);
	CHECK_RC(pthread_attr_setstacksize(&a, 256 * 1024), 0);
	CHECK_RC(pthread_create(&tp, &a, big_frame, NULL), 0);
	CHECK(join(tp) == (void *)(long)(0x5a * 32), "big-frame thread computed a wrong sum");
	/* Destroying the attr right after create does not disturb the thread. */
	CHECK_RC(pthread_create(&tp, &a, big_frame, NULL), 0);
	CHECK_RC(pthread_attr_destroy(&a), 0);
	join(tp);

	/* User-supplied stack: reported exactly, guard 0. */
	size_t ustack_size = 1 << 20;
	void *ustack = mmap(NULL, ustack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ustack != MAP_FAILED, "mmap failed");
	CHECK_RC(pthread_attr_init(&a), 0);
	CHECK_RC(pthread_attr_setstack(&a, ustack, PTHREAD_STACK_MIN - 1), EINVAL);
	CHECK_RC(pthread_attr_setstack(&a, ustack, ustack_size), 0);
	void *ra;
	CHECK_RC(pthread_attr_getstack(&a, &ra, &sz), 0);
	CHECK(ra == ustack && sz == ustack_size, "getstack read back %p+%zu, expected %p+%zu", ra, sz, ustack, ustack_size);
	memset(&sc, 0, sizeof sc);
	CHECK_RC(pthread_create(&tp, &a, probe_thread, &sc), 0);
	join(tp);
	CHECK(sc.rc == 0, "pthread_getattr_np on user-stack thread: %s", err_name(sc.rc));
	CHECK(sc.local_in, "user-stack thread's local outside reported stack %p+%zu", sc.addr, sc.size);
	CHECK(sc.addr == ustack && sc.size == ustack_size,
	      "user stack reported as %p+%zu, expected exactly %p+%zu", sc.addr, sc.size, ustack, ustack_size);
	CHECK(sc.guard == 0, "user-stack thread reports guardsize %zu, expected 0", sc.guard);
	/* The same user stack reused for a second thread after the first ended. */
	CHECK_RC(pthread_create(&tp, &a, big_frame, NULL), 0);
	join(tp);
	CHECK_RC(pthread_attr_destroy(&a), 0);
	munmap(ustack, ustack_size);

	/* Detached via attribute: runs, reports DETACHED, cannot be joined. */
	sem_init(&detached_done, 0, 0);
	CHECK_RC(pthread_attr_init(&a), 0);
	CHECK_RC(pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED), 0);
	memset(&sc, 0, sizeof sc);
	CHECK_RC(pthread_create(&tp, &a, detached_thread, &sc), 0);
	CHECK_RC(pthread_attr_destroy(&a), 0);
	struct timespec dl = deadline_in(CLOCK_REALTIME, 10000);
	CHECK_OK(sem_timedwait(&detached_done, &dl));
	CHECK(sc.rc == 0 && sc.local_in, "detached thread stack probe failed (rc %d)", sc.rc);
	CHECK(sc.detach == PTHREAD_CREATE_DETACHED, "detached thread: getattr_np detachstate %d", sc.detach);

	/* Scheduling attributes, explicit (SCHED_OTHER, priority 0 needs no
	 * privilege), stored, read back and applied. */
	CHECK_RC(pthread_attr_init(&a), 0);
	CHECK_RC(pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED), 0);
	CHECK_RC(pthread_attr_setschedpolicy(&a, SCHED_OTHER), 0);
	struct sched_param sp = {.sched_priority = 0};
	CHECK_RC(pthread_attr_setschedparam(&a, &sp), 0);
	CHECK_RC(pthread_attr_getinheritsched(&a, &v), 0);
	CHECK(v == PTHREAD_EXPLICIT_SCHED, "inheritsched read back %d", v);
	CHECK_RC(pthread_attr_getschedpolicy(&a, &v), 0);
	CHECK(v == SCHED_OTHER, "schedpolicy read back %d", v);
	sp.sched_priority = -1;
	CHECK_RC(pthread_attr_getschedparam(&a, &sp), 0);
	CHECK(sp.sched_priority == 0, "sched_priority read back %d", sp.sched_priority);
	int got[3] = {-1, -1, -1};
	CHECK_RC(pthread_create(&tp, &a, sched_thread, got), 0);
	join(tp);
	CHECK(got[2] == 0, "pthread_getschedparam in thread: %s", err_name(got[2]));
	CHECK(got[0] == SCHED_OTHER && got[1] == 0, "thread runs with policy %d prio %d, expected SCHED_OTHER/0", got[0], got[1]);
	CHECK_RC(pthread_attr_destroy(&a), 0);
	int pol = -1;
	CHECK_RC(pthread_getschedparam(pthread_self(), &pol, &sp), 0);
	CHECK(pol == SCHED_OTHER && sp.sched_priority == 0, "main runs with policy %d prio %d", pol, sp.sched_priority);

	/* Main thread: getattr_np stack holds a local; joinable. */
	memset(&sc, 0, sizeof sc);
	stack_probe(&sc);
	CHECK(sc.rc == 0, "pthread_getattr_np(main): %s", err_name(sc.rc));
	CHECK(sc.local_in, "main's local variable outside reported stack %p+%zu", sc.addr, sc.size);
	CHECK(sc.detach == PTHREAD_CREATE_JOINABLE, "main thread detachstate %d", sc.detach);

	/* Thread names. */
	char nb[32];
	CHECK_RC(pthread_setname_np(pthread_self(), "0123456789abcdef"), ERANGE); /* 16 chars */
	CHECK_RC(pthread_setname_np(pthread_self(), "0123456789abcde"), 0);       /* 15 chars */
	CHECK_RC(pthread_getname_np(pthread_self(), nb, 15), ERANGE);
	CHECK_RC(pthread_getname_np(pthread_self(), nb, 16), 0);
	CHECK(strcmp(nb, "0123456789abcde") == 0, "main name read back \"%s\"", nb);
	CHECK_RC(pthread_setname_np(pthread_self(), "progs-main"), 0);
	CHECK_RC(pthread_getname_np(pthread_self(), nb, sizeof nb), 0);
	CHECK(strcmp(nb, "progs-main") == 0, "main name read back \"%s\"", nb);
	sem_init(&name_set, 0, 0);
	sem_init(&name_checked, 0, 0);
	pthread_t tn = spawn(named_thread, NULL);
	CHECK_RC(pthread_setname_np(tn, "worker-7"), 0);
	CHECK_RC(pthread_getname_np(tn, nb, sizeof nb), 0);
	CHECK(strcmp(nb, "worker-7") == 0, "other thread's name read back \"%s\"", nb);
	CHECK_RC(pthread_setname_np(tn, "this-name-is-too-long"), ERANGE);
	sem_post(&name_set);
	sem_wait(&name_checked);
	CHECK(strcmp(name_seen, "worker-7") == 0, "thread sees its own name as \"%s\", expected \"worker-7\"", name_seen);
	join(tn);
	CHECK_RC(pthread_getname_np(pthread_self(), nb, sizeof nb), 0);
	CHECK(strcmp(nb, "progs-main") == 0, "main's name changed to \"%s\"", nb);

	/* CPU-time clock of a thread. */
	clockid_t cid;
	CHECK_RC(pthread_getcpuclockid(pthread_self(), &cid), 0);
	int64_t c0 = now_ns(cid);
	int64_t w0 = now_ns(CLOCK_MONOTONIC);
	unsigned long x = 1;
	while (now_ns(CLOCK_MONOTONIC) - w0 < 30 * 1000000LL)
		for (int i = 0; i < 10000; i++)
			x = x * 6364136223846793005UL + 1442695040888963407UL;
	sink = x;
	int64_t c1 = now_ns(cid);
	CHECK(c1 > c0, "thread CPU clock did not advance while computing (%lld -> %lld)", (long long)c0, (long long)c1);
	CHECK(c1 - c0 <= now_ns(CLOCK_MONOTONIC) - w0 + 10000000, "thread CPU clock advanced %lld ns, more than the wall time", (long long)(c1 - c0));
	/* ... and of another (blocked) thread: a clock clock_gettime accepts. */
	sem_init(&name_set, 0, 0);
	pthread_t tc = spawn(named_thread, NULL);
	clockid_t cid2;
	CHECK_RC(pthread_getcpuclockid(tc, &cid2), 0);
	struct timespec cts;
	CHECK_OK(clock_gettime(cid2, &cts));
	CHECK(cts.tv_sec >= 0 && cts.tv_nsec >= 0 && cts.tv_nsec < NSEC_PER_SEC, "bad CPU time of other thread");
	sem_post(&name_set);
	join(tc);

	return test_pass();
}
