/*
 * pthread_ops: an ordinary, unmodified pthread program that times the basic
 * thread operations.  Built with plain `gcc -O2 -pthread` and no libgmpthread
 * header, so the same binary runs natively and under
 * `LD_PRELOAD=libgmpthread.so` (bench/run_pthread.sh does both in one run).
 *
 *   pthread_ops                 run every benchmark
 *   pthread_ops NAME...         run only these (see --list)
 *   pthread_ops --list          print the benchmark names
 *   pthread_ops --scale N       park N threads at once (pthread_create with
 *                               default attributes until it fails or N are
 *                               alive) and print "scale n=N ok=0|1
 *                               reached=K create_ns_per_thread=.. rss_kib=..
 *                               rss_kib_per_thread=.. os_threads=..
 *                               release_s=.." (bench/go/scale.go: goroutines)
 *   pthread_ops --probe         print "probe blocked_threads=8 os_threads=N":
 *                               the OS threads carrying 8 blocked threads
 *                               (natively 9; under an M:N shim, a few)
 *
 * Each benchmark runs REPS (5) times; the reported figure is the median.
 * One machine-readable line per benchmark on stdout:
 *
 *   bench create_join ns_per_op=1234.5 n=40000 reps=5 min=... max=...
 *
 * Every benchmark checks what its threads did (return values, counts,
 * hand-off sequence numbers, mutual exclusion), so a broken thread library
 * cannot produce a fast wrong number: on a failed check or a failed pthread
 * call it prints "pthread_ops: FAIL ..." on stderr and exits with status 2.
 *
 * PTHREAD_OPS_SCALE=x multiplies every iteration count (default 1; counts
 * are fixed otherwise so native and shim runs do identical work).
 *
 * spawn_parked also prints rss_kib_per_thread= and os_threads= (memory and
 * OS threads of 10,000 threads parked at once; the memory is the largest over
 * the repetitions, which is the first: later ones reuse cached stacks).  bench/go/ops.go is the same
 * set of benchmarks for goroutines, with the same names and output.
 *
 * Only standard pthread / semaphore / sched calls and C11 atomics are used:
 * no __thread, no spin-waiting without sched_yield() (a user-thread runtime
 * without preemption must still be able to run every benchmark on one P).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPS 5

/* Iteration counts, fixed so every configuration does the same work; chosen
 * so each benchmark (all REPS repetitions) takes roughly 0.2-0.5 s natively
 * on the 2-core development VM. */
#define N_CREATE_JOIN     2500   /* create+join pairs per rep                 */
#define MANY_THREADS      1000   /* threads alive at once in create_many      */
#define N_CREATE_MANY     2      /* rounds of MANY_THREADS per rep            */
#define N_CONDVAR         6000   /* round trips per rep                       */
#define N_MUTEX           2400000 /* total lock/unlock pairs per rep          */
#define MUTEX_MAX_THREADS 64
#define N_RWLOCK          400000 /* rwlock operations per rep (1 in 100 writes) */
#define RW_THREADS        8
#define N_YIELD_STORM     50000  /* sched_yield() calls per thread per rep    */
#define STORM_THREADS     16
#define SLEEPERS          1000   /* threads sleeping at once in sleep_1000    */
#define SLEEP_ROUNDS      10     /* 1 ms sleeps per sleeper                   */
#define PARKED            10000  /* threads parked at once in spawn_parked    */
#define N_YIELD           100000 /* round trips per rep (2 switches each)     */
#define N_SEM             6000   /* round trips per rep                       */

static double scale = 1.0;

static long scaled(long n)
{
	long v = (long)(n * scale);
	return v < 1 ? 1 : v;
}

static void fail(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "pthread_ops: FAIL ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	fflush(stdout);
	exit(2);
}

/* Check a pthread-style return code (0 or an errno value). */
#define PT(call)                                                            \
	do {                                                                \
		int rc_ = (call);                                           \
		if (rc_ != 0)                                               \
			fail("%s:%d: %s returned %d (%s)", __FILE__,         \
			     __LINE__, #call, rc_, strerror(rc_));           \
	} while (0)

/* Check a -1/errno style return code (sem_*). */
#define CK(call)                                                            \
	do {                                                                \
		if ((call) != 0)                                            \
			fail("%s:%d: %s failed: %s", __FILE__, __LINE__,     \
			     #call, strerror(errno));                        \
	} while (0)

/* Joins the first n threads of t, which return nothing of interest. */
static void join_all(const pthread_t *t, long n)
{
	for (long i = 0; i < n; i++)
		PT(pthread_join(t[i], NULL));
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* create_join: sequential create + join of a trivial thread           */

static atomic_long cj_ran;

static void *cj_fn(void *arg)
{
	atomic_fetch_add_explicit(&cj_ran, 1, memory_order_relaxed);
	return (void *)((uintptr_t)arg * 2 + 1);
}

static double bench_create_join(long *nops)
{
	long n = scaled(N_CREATE_JOIN);
	atomic_store(&cj_ran, 0);
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		pthread_t t;
		void *ret;
		PT(pthread_create(&t, NULL, cj_fn, (void *)(uintptr_t)i));
		PT(pthread_join(t, &ret));
		if ((uintptr_t)ret != (uintptr_t)i * 2 + 1)
			fail("create_join: thread %ld returned %p, want %#lx",
			     i, ret, (unsigned long)(i * 2 + 1));
	}
	double t1 = now_ns();
	if (atomic_load(&cj_ran) != n)
		fail("create_join: %ld threads ran, want %ld",
		     atomic_load(&cj_ran), n);
	*nops = n;
	return t1 - t0;
}

/* ------------------------------------------------------------------ */
/* create_many: create MANY_THREADS threads, then join them all         */

static unsigned char cm_slot[MANY_THREADS];

static void *cm_fn(void *arg)
{
	uintptr_t i = (uintptr_t)arg;
	cm_slot[i]++;
	return (void *)(i + 7);
}

static double bench_create_many(long *nops)
{
	static pthread_t tids[MANY_THREADS];
	long rounds = scaled(N_CREATE_MANY);
	double total = 0;
	for (long r = 0; r < rounds; r++) {
		memset(cm_slot, 0, sizeof cm_slot);
		double t0 = now_ns();
		for (uintptr_t i = 0; i < MANY_THREADS; i++)
			PT(pthread_create(&tids[i], NULL, cm_fn, (void *)i));
		for (uintptr_t i = 0; i < MANY_THREADS; i++) {
			void *ret;
			PT(pthread_join(tids[i], &ret));
			if ((uintptr_t)ret != i + 7)
				fail("create_many: thread %lu returned %p",
				     (unsigned long)i, ret);
		}
		total += now_ns() - t0;
		for (int i = 0; i < MANY_THREADS; i++)
			if (cm_slot[i] != 1)
				fail("create_many: thread %d ran %d times", i,
				     cm_slot[i]);
	}
	*nops = rounds * MANY_THREADS;
	return total;
}

/* ------------------------------------------------------------------ */
/* condvar_pingpong: one mutex, two condvars, a turn variable           */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv[2];
	int turn;
	long seq;   /* hand-offs so far; player p acts only when seq%2 == p */
	long n;
} cp = { .mu = PTHREAD_MUTEX_INITIALIZER,
	 .cv = { PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER } };

static void *cp_player(void *arg)
{
	int me = (int)(uintptr_t)arg;
	for (long i = 0; i < cp.n; i++) {
		PT(pthread_mutex_lock(&cp.mu));
		while (cp.turn != me)
			PT(pthread_cond_wait(&cp.cv[me], &cp.mu));
		if (cp.seq != 2 * i + me)
			fail("condvar_pingpong: player %d round %ld saw seq %ld",
			     me, i, cp.seq);
		cp.seq++;
		cp.turn = !me;
		PT(pthread_cond_signal(&cp.cv[!me]));
		PT(pthread_mutex_unlock(&cp.mu));
	}
	return NULL;
}

static double bench_condvar_pingpong(long *nops)
{
	pthread_t t[2];
	cp.n = scaled(N_CONDVAR);
	cp.turn = 0;
	cp.seq = 0;
	double t0 = now_ns();
	for (int p = 0; p < 2; p++)
		PT(pthread_create(&t[p], NULL, cp_player, (void *)(uintptr_t)p));
	for (int p = 0; p < 2; p++)
		PT(pthread_join(t[p], NULL));
	double t1 = now_ns();
	if (cp.seq != 2 * cp.n)
		fail("condvar_pingpong: seq %ld, want %ld", cp.seq, 2 * cp.n);
	*nops = cp.n;
	return t1 - t0;
}

/* ------------------------------------------------------------------ */
/* mutex_contended: MUTEX_THREADS threads, one mutex, a plain counter   */

static struct {
	pthread_mutex_t mu;
	long counter;      /* plain, not atomic: only the mutex protects it */
	volatile int inside; /* who is in the critical section (1-based)    */
	long overlaps;     /* times a thread found someone else inside      */
	long per_thread;
} mc = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void *mc_fn(void *arg)
{
	int me = (int)(uintptr_t)arg + 1;
	for (long i = 0; i < mc.per_thread; i++) {
		PT(pthread_mutex_lock(&mc.mu));
		if (mc.inside != 0)
			mc.overlaps++;
		mc.inside = me;
		mc.counter++;
		if (mc.inside != me)
			mc.overlaps++;
		mc.inside = 0;
		PT(pthread_mutex_unlock(&mc.mu));
	}
	return NULL;
}

/* N threads share N_MUTEX lock/unlock pairs of one default mutex. */
static double mutex_contended(int nthreads, long *nops)
{
	pthread_t t[MUTEX_MAX_THREADS];
	mc.per_thread = scaled(N_MUTEX) / nthreads;
	if (mc.per_thread < 1)
		mc.per_thread = 1;
	mc.counter = 0;
	mc.overlaps = 0;
	mc.inside = 0;
	double t0 = now_ns();
	for (int i = 0; i < nthreads; i++)
		PT(pthread_create(&t[i], NULL, mc_fn, (void *)(uintptr_t)i));
	join_all(t, nthreads);
	double t1 = now_ns();
	long want = mc.per_thread * nthreads;
	if (mc.counter != want || mc.overlaps != 0)
		fail("mutex_%d: counter %ld (want %ld), %ld overlaps",
		     nthreads, mc.counter, want, mc.overlaps);
	*nops = want;
	return t1 - t0;
}

static double bench_mutex_2(long *nops) { return mutex_contended(2, nops); }
static double bench_mutex_8(long *nops) { return mutex_contended(8, nops); }
static double bench_mutex_64(long *nops) { return mutex_contended(64, nops); }

/* ------------------------------------------------------------------ */
/* rwlock_readmostly: 8 threads, 1 operation in 100 a write            */

static struct {
	pthread_rwlock_t rw;
	long a, b;         /* written together under the write lock          */
	long per_thread;
	atomic_long torn;  /* reads that saw a != b                          */
} rw = { .rw = PTHREAD_RWLOCK_INITIALIZER };

static void *rw_fn(void *arg)
{
	(void)arg;
	for (long i = 0; i < rw.per_thread; i++) {
		if (i % 100 == 0) {
			PT(pthread_rwlock_wrlock(&rw.rw));
			rw.a++;
			rw.b++;
			PT(pthread_rwlock_unlock(&rw.rw));
		} else {
			PT(pthread_rwlock_rdlock(&rw.rw));
			if (rw.a != rw.b)
				atomic_fetch_add(&rw.torn, 1);
			PT(pthread_rwlock_unlock(&rw.rw));
		}
	}
	return NULL;
}

static double bench_rwlock_readmostly(long *nops)
{
	pthread_t t[RW_THREADS];
	rw.per_thread = scaled(N_RWLOCK) / RW_THREADS;
	if (rw.per_thread < 1)
		rw.per_thread = 1;
	rw.a = rw.b = 0;
	atomic_store(&rw.torn, 0);
	double t0 = now_ns();
	for (int i = 0; i < RW_THREADS; i++)
		PT(pthread_create(&t[i], NULL, rw_fn, NULL));
	join_all(t, RW_THREADS);
	double t1 = now_ns();
	long writes = RW_THREADS * ((rw.per_thread + 99) / 100);
	if (rw.a != writes || atomic_load(&rw.torn) != 0)
		fail("rwlock_readmostly: %ld writes seen (want %ld), %ld torn reads",
		     rw.a, writes, atomic_load(&rw.torn));
	*nops = rw.per_thread * RW_THREADS;
	return t1 - t0;
}

/* ------------------------------------------------------------------ */
/* yield_pingpong: wait for the turn with sched_yield(), then pass it   */

static struct {
	_Alignas(64) atomic_int turn;
	_Alignas(64) long seq;      /* ordered by turn's acquire/release */
	long n;
	atomic_long yields;
} yp;

static void *yp_player(void *arg)
{
	int me = (int)(uintptr_t)arg;
	long yields = 0;
	for (long i = 0; i < yp.n; i++) {
		while (atomic_load_explicit(&yp.turn, memory_order_acquire) != me) {
			if (sched_yield() != 0)
				fail("yield_pingpong: sched_yield: %s",
				     strerror(errno));
			yields++;
		}
		if (yp.seq != 2 * i + me)
			fail("yield_pingpong: player %d round %ld saw seq %ld",
			     me, i, yp.seq);
		yp.seq++;
		atomic_store_explicit(&yp.turn, !me, memory_order_release);
	}
	atomic_fetch_add(&yp.yields, yields);
	return NULL;
}

static double bench_yield_pingpong(long *nops)
{
	pthread_t t[2];
	yp.n = scaled(N_YIELD);
	yp.seq = 0;
	atomic_store(&yp.turn, 0);
	atomic_store(&yp.yields, 0);
	double t0 = now_ns();
	for (int p = 0; p < 2; p++)
		PT(pthread_create(&t[p], NULL, yp_player, (void *)(uintptr_t)p));
	for (int p = 0; p < 2; p++)
		PT(pthread_join(t[p], NULL));
	double t1 = now_ns();
	if (yp.seq != 2 * yp.n)
		fail("yield_pingpong: seq %ld, want %ld", yp.seq, 2 * yp.n);
	*nops = 2 * yp.n; /* one switch = one hand-off of the turn */
	return t1 - t0;
}

/* ------------------------------------------------------------------ */
/* sem_pingpong: two semaphores                                         */

static struct {
	sem_t s[2];
	long seq;   /* ordered by the semaphores */
	long n;
} sp;

static void *sp_player(void *arg)
{
	int me = (int)(uintptr_t)arg;
	for (long i = 0; i < sp.n; i++) {
		if (me == 1) {
			while (sem_wait(&sp.s[1]) != 0)
				if (errno != EINTR)
					fail("sem_pingpong: sem_wait: %s",
					     strerror(errno));
		}
		if (sp.seq != 2 * i + me)
			fail("sem_pingpong: player %d round %ld saw seq %ld",
			     me, i, sp.seq);
		sp.seq++;
		CK(sem_post(&sp.s[!me]));
		if (me == 0) {
			while (sem_wait(&sp.s[0]) != 0)
				if (errno != EINTR)
					fail("sem_pingpong: sem_wait: %s",
					     strerror(errno));
		}
	}
	return NULL;
}

static double bench_sem_pingpong(long *nops)
{
	pthread_t t[2];
	sp.n = scaled(N_SEM);
	sp.seq = 0;
	CK(sem_init(&sp.s[0], 0, 0));
	CK(sem_init(&sp.s[1], 0, 0));
	double t0 = now_ns();
	for (int p = 0; p < 2; p++)
		PT(pthread_create(&t[p], NULL, sp_player, (void *)(uintptr_t)p));
	for (int p = 0; p < 2; p++)
		PT(pthread_join(t[p], NULL));
	double t1 = now_ns();
	int v0, v1;
	CK(sem_getvalue(&sp.s[0], &v0));
	CK(sem_getvalue(&sp.s[1], &v1));
	if (sp.seq != 2 * sp.n || v0 != 0 || v1 != 0)
		fail("sem_pingpong: seq %ld (want %ld), values %d %d (want 0 0)",
		     sp.seq, 2 * sp.n, v0, v1);
	CK(sem_destroy(&sp.s[0]));
	CK(sem_destroy(&sp.s[1]));
	*nops = sp.n;
	return t1 - t0;
}

/* ------------------------------------------------------------------ */
/* yield_storm: 16 threads call sched_yield() as fast as they can       */

static atomic_long ys_total;

static void *ys_fn(void *arg)
{
	long n = (long)(uintptr_t)arg, done = 0;
	for (long i = 0; i < n; i++) {
		sched_yield();
		done++;
	}
	atomic_fetch_add(&ys_total, done);
	return NULL;
}

static double bench_yield_storm(long *nops)
{
	pthread_t t[STORM_THREADS];
	long per = scaled(N_YIELD_STORM);
	atomic_store(&ys_total, 0);
	double t0 = now_ns();
	for (int i = 0; i < STORM_THREADS; i++)
		PT(pthread_create(&t[i], NULL, ys_fn, (void *)(uintptr_t)per));
	join_all(t, STORM_THREADS);
	double t1 = now_ns();
	if (atomic_load(&ys_total) != per * STORM_THREADS)
		fail("yield_storm: %ld yields, want %ld", atomic_load(&ys_total), per * STORM_THREADS);
	*nops = per * STORM_THREADS;
	return t1 - t0;
}

/* ------------------------------------------------------------------ */
/* Threads that all wait at a gate until the timed part starts (shared  */
/* by sleep_1000 and spawn_parked).                                     */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t arrive; /* the main thread waits here for arrivals */
	pthread_cond_t opened; /* the arrived threads wait here           */
	int arrived, open;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };

static void gate_reset(void)
{
	gate.arrived = 0;
	gate.open = 0;
}

/* A thread arrives and waits for the gate to open. */
static void gate_wait(void)
{
	PT(pthread_mutex_lock(&gate.mu));
	gate.arrived++;
	PT(pthread_cond_signal(&gate.arrive));
	while (!gate.open)
		PT(pthread_cond_wait(&gate.opened, &gate.mu));
	PT(pthread_mutex_unlock(&gate.mu));
}

/* Until n threads wait at the gate. */
static void gate_await(int n)
{
	PT(pthread_mutex_lock(&gate.mu));
	while (gate.arrived < n)
		PT(pthread_cond_wait(&gate.arrive, &gate.mu));
	PT(pthread_mutex_unlock(&gate.mu));
}

static void gate_open(void)
{
	PT(pthread_mutex_lock(&gate.mu));
	gate.open = 1;
	PT(pthread_cond_broadcast(&gate.opened));
	PT(pthread_mutex_unlock(&gate.mu));
}

/* ------------------------------------------------------------------ */
/* sleep_1000: 1,000 threads sleep 1 ms at once, 10 times; ns per round */
/* (ideal 1,000,000).  Thread creation is outside the timed part.       */

static atomic_long sl_done;

static void *sl_fn(void *arg)
{
	(void)arg;
	gate_wait();
	struct timespec ms = { 0, 1000000 };
	for (int i = 0; i < SLEEP_ROUNDS; i++) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (nanosleep(&ms, NULL) != 0 && errno == EINTR)
			;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if ((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) < 1000000)
			fail("sleep_1000: a 1 ms sleep returned early");
		atomic_fetch_add(&sl_done, 1);
	}
	return NULL;
}

static double bench_sleep_1000(long *nops)
{
	static pthread_t t[SLEEPERS];
	gate_reset();
	atomic_store(&sl_done, 0);
	for (int i = 0; i < SLEEPERS; i++)
		PT(pthread_create(&t[i], NULL, sl_fn, NULL));
	gate_await(SLEEPERS);
	double t0 = now_ns();
	gate_open();
	join_all(t, SLEEPERS);
	double t1 = now_ns();
	if (atomic_load(&sl_done) != SLEEPERS * SLEEP_ROUNDS)
		fail("sleep_1000: %ld sleeps, want %d", atomic_load(&sl_done), SLEEPERS * SLEEP_ROUNDS);
	*nops = SLEEP_ROUNDS;
	return t1 - t0;
}

/* ------------------------------------------------------------------ */
/* spawn_parked: create 10,000 threads that park on a condvar; ns per   */
/* thread until all are parked, RSS per thread and OS threads meanwhile */

static long status_field(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t k = strlen(key);
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, key, k) == 0 && line[k] == ':') {
			v = strtol(line + k + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static double sp_rss_kib, sp_os_threads;

static void *park_fn(void *arg)
{
	gate_wait();
	return arg;
}

static double bench_spawn_parked(long *nops)
{
	static pthread_t t[PARKED];
	gate_reset();
	long rss0 = status_field("VmRSS");
	double t0 = now_ns();
	for (int i = 0; i < PARKED; i++)
		PT(pthread_create(&t[i], NULL, park_fn, (void *)(uintptr_t)i));
	gate_await(PARKED);
	double t1 = now_ns();
	double rss = (double)(status_field("VmRSS") - rss0) / PARKED;
	if (rss > sp_rss_kib)
		sp_rss_kib = rss;
	sp_os_threads = (double)status_field("Threads");
	gate_open();
	for (int i = 0; i < PARKED; i++) {
		void *ret;
		PT(pthread_join(t[i], &ret));
		if ((uintptr_t)ret != (uintptr_t)i)
			fail("spawn_parked: thread %d returned %p", i, ret);
	}
	*nops = PARKED;
	return t1 - t0;
}

/* ------------------------------------------------------------------ */
/* --scale N (not a benchmark): how many threads can be alive at once,  */
/* and what they cost                                                   */

static int scale_run(long n)
{
	pthread_t *t = malloc(sizeof *t * (size_t)n);
	if (t == NULL) {
		fprintf(stderr, "pthread_ops: no memory for %ld handles\n", n);
		return 1;
	}
	gate_reset();
	long rss0 = status_field("VmRSS");
	double t0 = now_ns();
	long k;
	int err = 0;
	for (k = 0; k < n; k++) {
		err = pthread_create(&t[k], NULL, park_fn, (void *)(uintptr_t)k);
		if (err != 0)
			break;
	}
	gate_await((int)k);
	double t1 = now_ns();
	long rss = status_field("VmRSS") - rss0;
	long threads = status_field("Threads");
	gate_open();
	join_all(t, k);
	double t2 = now_ns();
	printf("scale n=%ld ok=%d reached=%ld create_ns_per_thread=%.1f rss_kib=%ld "
	       "rss_kib_per_thread=%.2f os_threads=%ld release_s=%.3f%s%s\n",
	       n, k == n, k, k ? (t1 - t0) / k : 0.0, rss, k ? (double)rss / k : 0.0,
	       threads, (t2 - t1) / 1e9, err ? " error=" : "", err ? strerror(err) : "");
	free(t);
	return 0;
}

/* ------------------------------------------------------------------ */
/* --probe (not a benchmark): how many OS threads carry 8 blocked      */
/* threads.  Natively 9 (8 + main); under a working M:N shim, a few.   */

#define PROBE_THREADS 8

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int arrived, go;
} pr = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };

static void *pr_fn(void *arg)
{
	(void)arg;
	PT(pthread_mutex_lock(&pr.mu));
	pr.arrived++;
	PT(pthread_cond_broadcast(&pr.cv));
	while (!pr.go)
		PT(pthread_cond_wait(&pr.cv, &pr.mu));
	PT(pthread_mutex_unlock(&pr.mu));
	return NULL;
}

static void probe(void)
{
	pthread_t t[PROBE_THREADS];
	for (int i = 0; i < PROBE_THREADS; i++)
		PT(pthread_create(&t[i], NULL, pr_fn, NULL));
	PT(pthread_mutex_lock(&pr.mu));
	while (pr.arrived < PROBE_THREADS)
		PT(pthread_cond_wait(&pr.cv, &pr.mu));
	PT(pthread_mutex_unlock(&pr.mu));
	int n = (int)status_field("Threads");
	PT(pthread_mutex_lock(&pr.mu));
	pr.go = 1;
	PT(pthread_cond_broadcast(&pr.cv));
	PT(pthread_mutex_unlock(&pr.mu));
	join_all(t, PROBE_THREADS);
	printf("probe blocked_threads=%d os_threads=%d\n", PROBE_THREADS, n);
	fflush(stdout);
}

/* ------------------------------------------------------------------ */

static const struct bench {
	const char *name;
	double (*fn)(long *nops);
} benches[] = {
	{ "create_join", bench_create_join },
	{ "create_many", bench_create_many },
	{ "condvar_pingpong", bench_condvar_pingpong },
	{ "mutex_2", bench_mutex_2 },
	{ "mutex_8", bench_mutex_8 },
	{ "mutex_64", bench_mutex_64 },
	{ "rwlock_readmostly", bench_rwlock_readmostly },
	{ "yield_pingpong", bench_yield_pingpong },
	{ "yield_storm", bench_yield_storm },
	{ "sem_pingpong", bench_sem_pingpong },
	{ "sleep_1000", bench_sleep_1000 },
	{ "spawn_parked", bench_spawn_parked },
};
#define NBENCH (sizeof benches / sizeof benches[0])

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void run(const struct bench *b)
{
	double per[REPS];
	long nops = 0;
	double t0 = now_ns();
	for (int r = 0; r < REPS; r++) {
		double ns = b->fn(&nops);
		per[r] = ns / nops;
	}
	double wall = (now_ns() - t0) / 1e9;
	qsort(per, REPS, sizeof per[0], cmp_double);
	printf("bench %s ns_per_op=%.1f n=%ld reps=%d min=%.1f max=%.1f wall_s=%.3f",
	       b->name, per[REPS / 2], nops, REPS, per[0], per[REPS - 1], wall);
	if (b->fn == bench_spawn_parked)
		printf(" rss_kib_per_thread=%.1f os_threads=%.0f", sp_rss_kib, sp_os_threads);
	printf("\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *s = getenv("PTHREAD_OPS_SCALE");
	if (s && *s) {
		char *end;
		scale = strtod(s, &end);
		if (*end || !(scale > 0)) {
			fprintf(stderr, "pthread_ops: bad PTHREAD_OPS_SCALE=%s\n", s);
			return 1;
		}
	}
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < NBENCH; i++)
			puts(benches[i].name);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "--scale") == 0) {
		char *end;
		long n = strtol(argv[2], &end, 10);
		if (*end || n < 1 || n > 100000000) {
			fprintf(stderr, "pthread_ops: --scale wants a thread count, not '%s'\n", argv[2]);
			return 1;
		}
		return scale_run(n);
	}
	if (argc == 2 && strcmp(argv[1], "--probe") == 0) {
		probe();
		return 0;
	}
	if (argc == 1) {
		for (size_t i = 0; i < NBENCH; i++)
			run(&benches[i]);
		return 0;
	}
	for (int a = 1; a < argc; a++) {
		size_t i;
		for (i = 0; i < NBENCH; i++)
			if (strcmp(argv[a], benches[i].name) == 0)
				break;
		if (i == NBENCH) {
			fprintf(stderr, "pthread_ops: unknown benchmark '%s' "
					"(--list shows them)\n", argv[a]);
			return 1;
		}
		run(&benches[i]);
	}
	return 0;
}
