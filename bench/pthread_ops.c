/*
 * pthread_ops: an ordinary, unmodified pthread program that times the basic
 * thread operations.  Built with plain `gcc -O2 -pthread` and no libgmpthread
 * header, so the same binary runs natively and under
 * `LD_PRELOAD=libgmpthread.so` (bench/run_pthread.sh does both in one run).
 *
 *   pthread_ops                 run every benchmark
 *   pthread_ops NAME...         run only these (see --list)
 *   pthread_ops --list          print the benchmark names
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
#define MUTEX_THREADS     4
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

static double bench_mutex_contended(long *nops)
{
	pthread_t t[MUTEX_THREADS];
	mc.per_thread = scaled(N_MUTEX) / MUTEX_THREADS;
	if (mc.per_thread < 1)
		mc.per_thread = 1;
	mc.counter = 0;
	mc.overlaps = 0;
	mc.inside = 0;
	double t0 = now_ns();
	for (int i = 0; i < MUTEX_THREADS; i++)
		PT(pthread_create(&t[i], NULL, mc_fn, (void *)(uintptr_t)i));
	for (int i = 0; i < MUTEX_THREADS; i++)
		PT(pthread_join(t[i], NULL));
	double t1 = now_ns();
	long want = mc.per_thread * MUTEX_THREADS;
	if (mc.counter != want || mc.overlaps != 0)
		fail("mutex_contended: counter %ld (want %ld), %ld overlaps",
		     mc.counter, want, mc.overlaps);
	*nops = want;
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

static int os_threads(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	int n = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
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
	int n = os_threads();
	PT(pthread_mutex_lock(&pr.mu));
	pr.go = 1;
	PT(pthread_cond_broadcast(&pr.cv));
	PT(pthread_mutex_unlock(&pr.mu));
	for (int i = 0; i < PROBE_THREADS; i++)
		PT(pthread_join(t[i], NULL));
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
	{ "mutex_contended", bench_mutex_contended },
	{ "yield_pingpong", bench_yield_pingpong },
	{ "sem_pingpong", bench_sem_pingpong },
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
	printf("bench %s ns_per_op=%.1f n=%ld reps=%d min=%.1f max=%.1f wall_s=%.3f\n",
	       b->name, per[REPS / 2], nops, REPS, per[0], per[REPS - 1], wall);
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
