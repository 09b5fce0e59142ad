/*
 * bench_core: the runtime's core operations next to their native pthread
 * equivalents, measured in the same run.
 *
 *   spawn+complete   N threads that do nothing but decrement a counter, in
 *                    batches of SPAWN_BATCH (bounded live count).  Native:
 *                    pthread_create + pthread_join.  Runtime: gmp_spawn from
 *                    the main (foreign) thread, which then waits for the
 *                    batch with gmp_futex_wait on the counter.  ns/thread.
 *   yield switch     two threads on one CPU, each yielding in a loop.  Native:
 *                    two pthreads pinned to one CPU calling sched_yield().
 *                    Runtime: two Gs on GMP_MAXPROCS=1 calling gmp_yield().
 *                    ns per yield; the fraction of yields after which the
 *                    other side had made progress (i.e. real switches) is
 *                    reported as a sanity check.
 *   park/ready       two threads handing a token back and forth through two
 *                    binary semaphores.  Native: a mutex + two condvars, and
 *                    raw futex words.  Runtime: futex words with
 *                    gmp_futex_wait / gmp_futex_wake.  ns per round trip.
 *
 * The runtime can be initialised only once per process, so each GMP_MAXPROCS
 * configuration runs in a forked child (forked before the parent creates any
 * thread) that sends its samples back through a pipe.  Every measurement is
 * repeated REPS times; the table shows the median and [min..max], and the
 * ratio native/gmp of the medians (> 1: the runtime is faster).  Every
 * benchmark checks a checksum; a wrong one, a crash or a hang (a child is
 * killed by SIGALRM after CHILD_TIMEOUT seconds) makes the exit status 1.
 * Below the table: process CPU time / wall time per benchmark (an idle M
 * that spins would show up there), and the machine's cost of a null system
 * call, which bounds every native number from below.
 */
#include "runtime.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REPS 5
#define SPAWN_N 20000
#define SPAWN_BATCH 100
#define YIELDS_PER_THREAD 300000   /* 600,000 yields in all */
#define PINGPONG_N 100000          /* round trips per repetition */
#define PINGPONG_WARMUP 1000
#ifndef CHILD_TIMEOUT
#define CHILD_TIMEOUT 60           /* seconds */
#endif

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* The first failure (a wrong checksum, a failed create); sticky. */
static char failmsg[256];
static atomic_flag failed = ATOMIC_FLAG_INIT;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	if (atomic_flag_test_and_set(&failed))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(failmsg, sizeof failmsg, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------ samples */

struct samples {
	int n;                /* 0: not measured */
	double v[REPS];
	double aux;           /* benchmark-specific extra (yield: switch fraction) */
	double cpu;           /* mean process CPU time / wall time: cores kept busy */
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(const struct samples *s)
{
	double v[REPS];
	memcpy(v, s->v, sizeof(double) * (size_t)s->n);
	qsort(v, (size_t)s->n, sizeof *v, cmp_double);
	return s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
}

static double smin(const struct samples *s)
{
	double m = s->v[0];
	for (int i = 1; i < s->n; i++)
		m = s->v[i] < m ? s->v[i] : m;
	return m;
}

static double smax(const struct samples *s)
{
	double m = s->v[0];
	for (int i = 1; i < s->n; i++)
		m = s->v[i] > m ? s->v[i] : m;
	return m;
}

/* Runs one benchmark REPS times (stopping at the first failure). */
static void measure(struct samples *s, double (*once)(double *aux))
{
	s->n = 0;
	s->aux = s->cpu = 0;
	for (int i = 0; i < REPS && !failmsg[0]; i++) {
		double aux = 0;
		int64_t w0 = now_ns(), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
		s->v[s->n++] = once(&aux);
		int64_t w1 = now_ns(), c1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
		s->aux += aux / REPS;
		s->cpu += (w1 > w0 ? (double)(c1 - c0) / (double)(w1 - w0) : 0) / REPS;
	}
}

/* ------------------------------------------------------------ shared bodies */

/*
 * Yield ping-pong, shared by both sides.  Each thread announces itself and
 * waits (yielding) for the other, then yields YIELDS_PER_THREAD times.  The
 * first thread past the start line stamps t0, the last to finish stamps t1.
 * After each yield a thread checks whether the other one progressed since
 * its previous yield: that counts a real switch.
 */
static _Atomic int y_arrived, y_finished;
static _Atomic uint64_t y_progress[2];
static _Atomic uint64_t y_switches;
static _Atomic int64_t y_t0, y_t1;

static void yield_reset(void)
{
	atomic_store(&y_arrived, 0);
	atomic_store(&y_finished, 0);
	atomic_store(&y_progress[0], 0);
	atomic_store(&y_progress[1], 0);
	atomic_store(&y_switches, 0);
	atomic_store(&y_t0, 0);
	atomic_store(&y_t1, 0);
}

static void yield_loop(int id, void (*yieldfn)(void))
{
	atomic_fetch_add(&y_arrived, 1);
	while (atomic_load(&y_arrived) < 2)
		yieldfn();
	int64_t zero = 0;
	atomic_compare_exchange_strong(&y_t0, &zero, now_ns());
	uint64_t switches = 0;
	uint64_t seen = atomic_load_explicit(&y_progress[!id], memory_order_relaxed);
	for (uint64_t i = 1; i <= YIELDS_PER_THREAD; i++) {
		yieldfn();
		atomic_store_explicit(&y_progress[id], i, memory_order_relaxed);
		uint64_t o = atomic_load_explicit(&y_progress[!id], memory_order_relaxed);
		switches += o != seen;
		seen = o;
	}
	atomic_fetch_add(&y_switches, switches);
	if (atomic_fetch_add(&y_finished, 1) == 1)
		atomic_store(&y_t1, now_ns());
}

static double yield_result(double *aux)
{
	uint64_t total = 2ull * YIELDS_PER_THREAD;
	if (atomic_load(&y_progress[0]) != YIELDS_PER_THREAD ||
	    atomic_load(&y_progress[1]) != YIELDS_PER_THREAD)
		fail("yield: a thread did %llu/%llu yields instead of %d",
		     (unsigned long long)atomic_load(&y_progress[0]),
		     (unsigned long long)atomic_load(&y_progress[1]), YIELDS_PER_THREAD);
	*aux = (double)atomic_load(&y_switches) / (double)total;
	return (double)(atomic_load(&y_t1) - atomic_load(&y_t0)) / (double)total;
}

/*
 * Ping-pong through two binary semaphores (0 empty, 1 posted) on futex-style
 * words; post and wait are supplied by each side.  The pinger writes 2r into
 * pp_val before posting, the ponger checks it and answers 2r+1: a lost or
 * misordered hand-off shows up as a wrong value.
 */
static _Atomic uint32_t pp_ping, pp_pong;
static uint64_t pp_val;
static int64_t pp_t0, pp_t1;

struct sem_ops {
	void (*post)(_Atomic uint32_t *s);
	void (*wait)(_Atomic uint32_t *s);
};

static bool sem_trytake(_Atomic uint32_t *s)
{
	uint32_t one = 1;
	return atomic_compare_exchange_strong(s, &one, 0);
}

static void pingpong_reset(void)
{
	atomic_store(&pp_ping, 0);
	atomic_store(&pp_pong, 0);
	pp_val = 0;
	pp_t0 = pp_t1 = 0;
}

static void pinger_loop(const struct sem_ops *ops)
{
	for (uint64_t r = 1; r <= PINGPONG_WARMUP + PINGPONG_N; r++) {
		if (r == PINGPONG_WARMUP + 1)
			pp_t0 = now_ns();
		pp_val = 2 * r;
		ops->post(&pp_ping);
		ops->wait(&pp_pong);
		if (pp_val != 2 * r + 1) {
			fail("park/ready: round %llu: pinger read %llu, expected %llu", (unsigned long long)r,
			     (unsigned long long)pp_val, (unsigned long long)(2 * r + 1));
			pp_val = 2 * r + 1;
		}
	}
	pp_t1 = now_ns();
}

static void ponger_loop(const struct sem_ops *ops)
{
	for (uint64_t r = 1; r <= PINGPONG_WARMUP + PINGPONG_N; r++) {
		ops->wait(&pp_ping);
		if (pp_val != 2 * r)
			fail("park/ready: round %llu: ponger read %llu, expected %llu", (unsigned long long)r,
			     (unsigned long long)pp_val, (unsigned long long)(2 * r));
		pp_val = 2 * r + 1;
		ops->post(&pp_pong);
	}
}

static double pingpong_result(void)
{
	return (double)(pp_t1 - pp_t0) / PINGPONG_N;
}

/* ------------------------------------------------------------ runtime side */

/* Decrement; the one reaching zero wakes the waiter. */
static void rt_done(_Atomic uint32_t *w)
{
	if (atomic_fetch_sub(w, 1) == 1)
		gmp_futex_wake(w, INT_MAX);
}

static void rt_wait_zero(_Atomic uint32_t *w)
{
	uint32_t v;
	while ((v = atomic_load(w)) != 0)
		gmp_futex_wait(w, v, -1, GMP_WAIT_TEST, w);
}

static bool rt_go(void (*fn)(void *), void *arg)
{
	int err = 0;
	if (gmp_spawn(fn, arg, NULL, &err) == NULL) {
		fail("gmp_spawn failed: %s", strerror(-err));
		return false;
	}
	return true;
}

static _Atomic uint32_t rt_pending;
static _Atomic uint64_t rt_ran;

static void rt_spawn_body(void *arg)
{
	atomic_fetch_add_explicit(&rt_ran, 1, memory_order_relaxed);
	rt_done(&rt_pending);
}

static double rt_spawn_once(double *aux)
{
	atomic_store(&rt_ran, 0);
	int64_t t0 = now_ns();
	for (int b = 0; b < SPAWN_N / SPAWN_BATCH; b++) {
		atomic_store(&rt_pending, SPAWN_BATCH);
		for (int i = 0; i < SPAWN_BATCH; i++) {
			if (!rt_go(rt_spawn_body, NULL)) {
				/* Account for the ones never spawned, then stop. */
				atomic_fetch_sub(&rt_pending, (uint32_t)(SPAWN_BATCH - i));
				rt_wait_zero(&rt_pending);
				return 0;
			}
		}
		rt_wait_zero(&rt_pending);
	}
	int64_t t1 = now_ns();
	if (atomic_load(&rt_ran) != SPAWN_N)
		fail("gmp spawn: %llu Gs ran, expected %d", (unsigned long long)atomic_load(&rt_ran), SPAWN_N);
	return (double)(t1 - t0) / SPAWN_N;
}

static void rt_yield_body(void *arg)
{
	yield_loop((int)(uintptr_t)arg, gmp_yield);
	rt_done(&rt_pending);
}

static double rt_yield_once(double *aux)
{
	yield_reset();
	atomic_store(&rt_pending, 2);
	if (!rt_go(rt_yield_body, (void *)0))
		return 0;
	if (!rt_go(rt_yield_body, (void *)1))
		gmp_fatal("bench: second spawn failed with the first G waiting for it");
	rt_wait_zero(&rt_pending);
	return yield_result(aux);
}

static void rt_sem_post(_Atomic uint32_t *s)
{
	atomic_store(s, 1);
	gmp_futex_wake(s, 1);
}

static void rt_sem_wait(_Atomic uint32_t *s)
{
	while (!sem_trytake(s))
		gmp_futex_wait(s, 0, -1, GMP_WAIT_TEST, s);
}

static const struct sem_ops rt_sem = { rt_sem_post, rt_sem_wait };

static void rt_pinger(void *arg)
{
	pinger_loop(&rt_sem);
	rt_done(&rt_pending);
}

static void rt_ponger(void *arg)
{
	ponger_loop(&rt_sem);
	rt_done(&rt_pending);
}

static double rt_pingpong_once(double *aux)
{
	pingpong_reset();
	atomic_store(&rt_pending, 2);
	if (!rt_go(rt_ponger, NULL))
		return 0;
	if (!rt_go(rt_pinger, NULL))
		gmp_fatal("bench: second spawn failed with the first G waiting for it");
	rt_wait_zero(&rt_pending);
	return pingpong_result();
}

/* What a child measures and sends back. */
struct rt_report {
	int maxprocs;
	struct samples spawn, yield, park;
	char fail[sizeof failmsg];
};

static void rt_child(int maxprocs, int fd)
{
	alarm(CHILD_TIMEOUT); /* a hang kills the child; the parent reports it */
	struct gmp_config cfg;
	gmp_config_from_env(&cfg);
	cfg.maxprocs = maxprocs;
	gmp_runtime_init(&cfg);

	struct rt_report rep;
	memset(&rep, 0, sizeof rep);
	rep.maxprocs = maxprocs;
	measure(&rep.spawn, rt_spawn_once);
	if (maxprocs == 1) /* with more Ps the two Gs run side by side: no switch */
		measure(&rep.yield, rt_yield_once);
	measure(&rep.park, rt_pingpong_once);
	memcpy(rep.fail, failmsg, sizeof rep.fail);

	const char *p = (const char *)&rep;
	size_t left = sizeof rep;
	while (left > 0) {
		ssize_t k = write(fd, p, left);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			_exit(2);
		p += k;
		left -= (size_t)k;
	}
	_exit(0);
}

/* Forks a child measuring the runtime with maxprocs Ps.  False if it died. */
static bool run_rt_child(int maxprocs, struct rt_report *rep, char *why, size_t whylen)
{
	int fds[2];
	if (pipe(fds) != 0) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return false;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		return false;
	}
	if (pid == 0) {
		close(fds[0]);
		rt_child(maxprocs, fds[1]);
	}
	close(fds[1]);
	char *p = (char *)rep;
	size_t got = 0;
	while (got < sizeof *rep) {
		ssize_t k = read(fds[0], p + got, sizeof *rep - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(fds[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(st)) {
		snprintf(why, whylen, "GMP_MAXPROCS=%d child killed by signal %d (%s)%s", maxprocs,
			 WTERMSIG(st), strsignal(WTERMSIG(st)),
			 WTERMSIG(st) == SIGALRM ? ": hung" : "");
		return false;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || got != sizeof *rep) {
		snprintf(why, whylen, "GMP_MAXPROCS=%d child exited with status %d after sending %zu/%zu bytes",
			 maxprocs, WIFEXITED(st) ? WEXITSTATUS(st) : -1, got, sizeof *rep);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------ native side */

static void *xpthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	int err = pthread_create(t, attr, fn, arg);
	if (err != 0) {
		fail("pthread_create: %s", strerror(err));
		return NULL;
	}
	return t;
}

static _Atomic uint64_t nat_ran;

static void *nat_spawn_body(void *arg)
{
	atomic_fetch_add_explicit(&nat_ran, 1, memory_order_relaxed);
	return NULL;
}

static double nat_spawn_once(double *aux)
{
	pthread_t th[SPAWN_BATCH];
	atomic_store(&nat_ran, 0);
	int64_t t0 = now_ns();
	for (int b = 0; b < SPAWN_N / SPAWN_BATCH; b++) {
		int n = 0;
		while (n < SPAWN_BATCH && xpthread_create(&th[n], NULL, nat_spawn_body, NULL))
			n++;
		for (int i = 0; i < n; i++)
			pthread_join(th[i], NULL);
		if (n < SPAWN_BATCH)
			return 0;
	}
	int64_t t1 = now_ns();
	if (atomic_load(&nat_ran) != SPAWN_N)
		fail("native spawn: %llu threads ran, expected %d", (unsigned long long)atomic_load(&nat_ran),
		     SPAWN_N);
	return (double)(t1 - t0) / SPAWN_N;
}

/* Yield ping-pong: both threads pinned to the first CPU we may run on. */
static int pin_cpu;

static void nat_sched_yield(void)
{
	sched_yield();
}

static void *nat_yield_body(void *arg)
{
	yield_loop((int)(uintptr_t)arg, nat_sched_yield);
	return NULL;
}

static double nat_yield_once(double *aux)
{
	yield_reset();
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(pin_cpu, &set);
	int err = pthread_attr_setaffinity_np(&attr, sizeof set, &set);
	if (err != 0)
		fail("pthread_attr_setaffinity_np: %s", strerror(err));
	pthread_t a, b;
	bool oka = xpthread_create(&a, &attr, nat_yield_body, (void *)0) != NULL;
	bool okb = oka && xpthread_create(&b, &attr, nat_yield_body, (void *)1) != NULL;
	pthread_attr_destroy(&attr);
	if (!okb) {
		/* The first thread waits for a partner that never comes: give it one. */
		if (oka) {
			atomic_fetch_add(&y_arrived, 1);
			pthread_join(a, NULL);
		}
		return 0;
	}
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	return yield_result(aux);
}

/* Ping-pong through raw kernel futexes. */
static void nat_futex_post(_Atomic uint32_t *s)
{
	atomic_store(s, 1);
	syscall(SYS_futex, s, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void nat_futex_wait(_Atomic uint32_t *s)
{
	while (!sem_trytake(s))
		syscall(SYS_futex, s, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
}

static const struct sem_ops nat_futex = { nat_futex_post, nat_futex_wait };

static void *nat_futex_pinger(void *arg)
{
	pinger_loop(&nat_futex);
	return NULL;
}

static void *nat_futex_ponger(void *arg)
{
	ponger_loop(&nat_futex);
	return NULL;
}

/* Runs first and second on two new threads (second on this one if it
 * cannot be created, so that first is never left waiting). */
static void nat_pair(void *(*first)(void *), void *(*second)(void *))
{
	pthread_t a, b;
	if (!xpthread_create(&a, NULL, first, NULL))
		return;
	if (!xpthread_create(&b, NULL, second, NULL)) {
		second(NULL);
		pthread_join(a, NULL);
		return;
	}
	pthread_join(a, NULL);
	pthread_join(b, NULL);
}

static double nat_futex_once(double *aux)
{
	pingpong_reset();
	nat_pair(nat_futex_ponger, nat_futex_pinger);
	return pingpong_result();
}

/* Ping-pong through a mutex and two condvars, flags under the mutex. */
static pthread_mutex_t cv_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv_ping = PTHREAD_COND_INITIALIZER, cv_pong = PTHREAD_COND_INITIALIZER;
static bool cv_pinged, cv_ponged;

static void cv_post(_Atomic uint32_t *s)
{
	pthread_mutex_lock(&cv_mu);
	if (s == &pp_ping) {
		cv_pinged = true;
		pthread_cond_signal(&cv_ping);
	} else {
		cv_ponged = true;
		pthread_cond_signal(&cv_pong);
	}
	pthread_mutex_unlock(&cv_mu);
}

static void cv_wait(_Atomic uint32_t *s)
{
	bool *flag = s == &pp_ping ? &cv_pinged : &cv_ponged;
	pthread_cond_t *cv = s == &pp_ping ? &cv_ping : &cv_pong;
	pthread_mutex_lock(&cv_mu);
	while (!*flag)
		pthread_cond_wait(cv, &cv_mu);
	*flag = false;
	pthread_mutex_unlock(&cv_mu);
}

static const struct sem_ops nat_cv = { cv_post, cv_wait };

static void *nat_cv_pinger(void *arg)
{
	pinger_loop(&nat_cv);
	return NULL;
}

static void *nat_cv_ponger(void *arg)
{
	ponger_loop(&nat_cv);
	return NULL;
}

static double nat_cv_once(double *aux)
{
	pingpong_reset();
	cv_pinged = cv_ponged = false;
	nat_pair(nat_cv_ponger, nat_cv_pinger);
	return pingpong_result();
}

/* ------------------------------------------------------------ report */

/* Cost of a trivial system call: context for the native numbers. */
static double null_syscall_ns(void)
{
	double best = 0;
	for (int r = 0; r < 3; r++) {
		int64_t t0 = now_ns();
		for (int i = 0; i < 100000; i++)
			syscall(SYS_getppid);
		double ns = (double)(now_ns() - t0) / 100000;
		best = r == 0 || ns < best ? ns : best;
	}
	return best;
}

static void machine_header(void)
{
	char model[256] = "unknown CPU";
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f) {
		char line[512];
		while (fgets(line, sizeof line, f)) {
			if (strncmp(line, "model name", 10) != 0)
				continue;
			char *c = strchr(line, ':');
			if (c) {
				c++;
				while (*c == ' ' || *c == '\t')
					c++;
				c[strcspn(c, "\n")] = '\0';
				snprintf(model, sizeof model, "%s", c);
			}
			break;
		}
		fclose(f);
	}
	cpu_set_t set;
	int affin = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
	struct utsname u;
	if (uname(&u) != 0)
		snprintf(u.release, sizeof u.release, "?");
	printf("bench_core: %s, nproc %ld (affinity %d), Linux %s %s, null syscall %.0f ns\n", model,
	       sysconf(_SC_NPROCESSORS_ONLN), affin, u.release, u.machine, null_syscall_ns());
	printf("%d reps per cell: median [min..max]; ratio = native/gmp of medians (>1: gmp faster)\n\n",
	       REPS);
	printf("| benchmark | native | gmp | ratio |\n");
	printf("|---|---|---|---|\n");
}

static void cell(char *buf, size_t len, const struct samples *s)
{
	if (s == NULL || s->n == 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.0f [%.0f..%.0f]", median(s), smin(s), smax(s));
}

static void row(const char *name, const struct samples *nat, const struct samples *gmp)
{
	char a[64], b[64], r[32] = "-";
	cell(a, sizeof a, nat);
	cell(b, sizeof b, gmp);
	if (nat && gmp && nat->n > 0 && gmp->n > 0 && median(gmp) > 0)
		snprintf(r, sizeof r, "%.2f", median(nat) / median(gmp));
	printf("| %s | %s | %s | %s |\n", name, a, b, r);
}

static int first_allowed_cpu(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		for (int i = 0; i < CPU_SETSIZE; i++)
			if (CPU_ISSET(i, &set))
				return i;
	return 0;
}

int main(void)
{
	static const int procs[] = { 1, 2 };
	enum { NCONF = sizeof procs / sizeof *procs };
	struct rt_report rt[NCONF];
	bool rt_ok[NCONF];
	char rt_why[NCONF][256];
	int status = 0;
	int64_t start = now_ns();

	/* Children first, while this process is still single-threaded. */
	for (int i = 0; i < NCONF; i++) {
		memset(&rt[i], 0, sizeof rt[i]);
		rt_why[i][0] = '\0';
		rt_ok[i] = run_rt_child(procs[i], &rt[i], rt_why[i], sizeof rt_why[i]);
	}

	pin_cpu = first_allowed_cpu();
	struct samples nspawn, nyield, nfutex, ncv;
	measure(&nspawn, nat_spawn_once);
	measure(&nyield, nat_yield_once);
	measure(&nfutex, nat_futex_once);
	measure(&ncv, nat_cv_once);

	machine_header();
	char name[128];
	for (int i = 0; i < NCONF; i++) {
		snprintf(name, sizeof name, "spawn+complete, ns/thread (gmp P=%d)", procs[i]);
		row(name, &nspawn, rt_ok[i] ? &rt[i].spawn : NULL);
	}
	for (int i = 0; i < NCONF; i++) {
		if (procs[i] != 1)
			continue;
		snprintf(name, sizeof name, "yield switch, ns/yield (native: 1 CPU; gmp P=%d)", procs[i]);
		row(name, &nyield, rt_ok[i] ? &rt[i].yield : NULL);
	}
	for (int i = 0; i < NCONF; i++) {
		snprintf(name, sizeof name, "park/ready vs mutex+condvar, ns/round trip (gmp P=%d)", procs[i]);
		row(name, &ncv, rt_ok[i] ? &rt[i].park : NULL);
	}
	for (int i = 0; i < NCONF; i++) {
		snprintf(name, sizeof name, "park/ready vs raw futex, ns/round trip (gmp P=%d)", procs[i]);
		row(name, &nfutex, rt_ok[i] ? &rt[i].park : NULL);
	}

	printf("\n");
	printf("yield: fraction of yields that switched to the other thread: native %.3f", nyield.aux);
	for (int i = 0; i < NCONF; i++)
		if (rt_ok[i] && rt[i].yield.n > 0)
			printf(", gmp P=%d %.3f", procs[i], rt[i].yield.aux);
	printf("\n");
	printf("CPU busy (process CPU time / wall time), native | gmp P=%d", procs[0]);
	for (int i = 1; i < NCONF; i++)
		printf(" | gmp P=%d", procs[i]);
	printf(":\n");
	const struct {
		const char *name;
		const struct samples *nat;
		size_t off; /* of the runtime samples in struct rt_report */
	} cpurows[] = {
		{ "spawn", &nspawn, offsetof(struct rt_report, spawn) },
		{ "yield", &nyield, offsetof(struct rt_report, yield) },
		{ "park/ready (native: condvar)", &ncv, offsetof(struct rt_report, park) },
		{ "park/ready (native: futex)", &nfutex, offsetof(struct rt_report, park) },
	};
	for (size_t r = 0; r < sizeof cpurows / sizeof *cpurows; r++) {
		printf("  %-30s %.2f", cpurows[r].name, cpurows[r].nat->cpu);
		for (int i = 0; i < NCONF; i++) {
			const struct samples *g = (const struct samples *)((const char *)&rt[i] + cpurows[r].off);
			if (rt_ok[i] && g->n > 0)
				printf(" | %.2f", g->cpu);
			else
				printf(" | -");
		}
		printf("\n");
	}
	printf("native threads unpinned except for yield (CPU %d); total time %.1f s\n", pin_cpu,
	       (double)(now_ns() - start) / 1e9);

	for (int i = 0; i < NCONF; i++) {
		if (!rt_ok[i]) {
			printf("FAIL: %s\n", rt_why[i]);
			status = 1;
		} else if (rt[i].fail[0]) {
			printf("FAIL (gmp P=%d): %.*s\n", procs[i], (int)sizeof rt[i].fail, rt[i].fail);
			status = 1;
		}
	}
	if (failmsg[0]) {
		printf("FAIL (native): %s\n", failmsg);
		status = 1;
	}
	return status;
}
