/*
 * common.h -- small helpers shared by the conformance programs in tests/progs.
 *
 * Each program is an ordinary pthread program built with plain
 * `gcc -pthread` (or g++); nothing here knows about libgmpthread.  Include
 * this header first: it turns on _GNU_SOURCE before any system header.
 *
 *   test_begin()          alarm(30) watchdog (a hang fails with a message),
 *                         line-buffered stdout
 *   test_watchdog(s)      re-arm the watchdog (fork()ed children)
 *   CHECK(cond, fmt, ...) fail with a message unless cond holds
 *   CHECK_RC(expr, want)  expr returns an error number (pthread style);
 *                         fail unless it equals want
 *   CHECK_ERRNO(expr, e)  expr returns -1 and sets errno to e
 *   CHECK_OK(expr)        expr returns 0 (errno reported otherwise)
 *   deadline_in(clk, ms)  absolute time ms from now on clock clk
 *   check_deadline_wait(clk, dl, slack_ms, what)
 *                         a timed wait returned at/after dl on clk, and
 *                         at most slack_ms after it
 *   check_elapsed(ns, min_ms, slack_ms, what)   same for relative sleeps
 *   WAIT_FOR(cond, ms, what)  poll with 1 ms naps, fail after ms
 *   LOAD / STORE / ADD    seq-cst atomics on plain ints
 *   spawn / join          pthread_create / pthread_join or fail
 *   tcp_listener(flags, backlog, &addr)  a listening socket on 127.0.0.1,
 *                         ephemeral port (socket type flags; addr filled in)
 *   install_handler(sig, h, flags)  sigaction with an empty mask or fail
 *   wait_in_syscall(tid, nr1, nr2, arg0, ms)  1 once thread tid is inside
 *                         system call nr1 or nr2 with first argument arg0
 *                         (/proc/self/task/TID/syscall), 0 after ms
 *   os_threads()          OS threads of this process now (/proc/self/task)
 *   check_os_threads(peak)  fail if peak exceeds GMP_EXPECT_MAX_OS_THREADS
 *                         (set by run.sh from a `shim-max-os-threads:` line)
 *   test_pass()           print "PASS <name>"; returns 0 for main
 *
 * Failures print "FAIL <name>: file:line: message" to stderr and exit(1).
 */
#ifndef PROGS_COMMON_H
#define PROGS_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

/* The program's name: its source file's base name without the extension. */
static inline const char *test_name(void)
{
	static char name[128];
	if (!name[0]) {
		const char *f = __BASE_FILE__;
		const char *slash = strrchr(f, '/');
		if (slash)
			f = slash + 1;
		snprintf(name, sizeof name, "%s", f);
		char *dot = strrchr(name, '.');
		if (dot)
			*dot = 0;
	}
	return name;
}

static inline void test_fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));
static inline void test_fail_at(const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fflush(stdout);
	fprintf(stderr, "FAIL %s: %s:%d: %s\n", test_name(), file, line, msg);
	fflush(stderr);
	exit(1);
}

#define FAIL(...) test_fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define CHECK(cond, ...) do { if (!(cond)) FAIL(__VA_ARGS__); } while (0)

/* "EBUSY" for an error number, "0" for zero. */
static inline const char *err_name(int e)
{
	static __thread char buf[32];
	if (e == 0)
		return "0";
	const char *n = strerrorname_np(e);
	if (n)
		return n;
	snprintf(buf, sizeof buf, "%d", e);
	return buf;
}

/* For functions that return an error number (most pthread_* calls). */
#define CHECK_RC(expr, want) do { \
	int rc_ = (expr); int want_ = (want); \
	if (rc_ != want_) \
		FAIL("%s returned %s (%d), expected %s", #expr, err_name(rc_), rc_, err_name(want_)); \
} while (0)

/* For functions that return -1 and set errno (sem_*, nanosleep, ...). */
#define CHECK_ERRNO(expr, want_errno) do { \
	errno = 0; int rc_ = (expr); int e_ = errno; int want_ = (want_errno); \
	if (rc_ != -1 || e_ != want_) \
		FAIL("%s returned %d with errno %s, expected -1 with errno %s", #expr, rc_, err_name(e_), err_name(want_)); \
} while (0)

/* For functions that return 0 or -1/errno. */
#define CHECK_OK(expr) do { \
	errno = 0; int rc_ = (expr); int e_ = errno; \
	if (rc_ != 0) \
		FAIL("%s returned %d (errno %s), expected 0", #expr, rc_, err_name(e_)); \
} while (0)

static void test_on_alarm(int sig)
{
	(void)sig;
	static const char tail[] = ": watchdog alarm: still running after its time limit (a hang?)\n";
	const char *n = test_name();
	ssize_t r;
	r = write(2, "FAIL ", 5);
	r = write(2, n, strlen(n));
	r = write(2, tail, sizeof tail - 1);
	(void)r;
	_exit(1);
}

/* Arm the watchdog; call first thing in main (and again in a fork()ed
 * child, which does not inherit the alarm). */
static inline void test_watchdog(unsigned seconds)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = test_on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	alarm(seconds);
}

static inline void test_begin(void)
{
	(void)test_name(); /* fill its buffer now, before any thread or signal */
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_watchdog(30);
}

static inline int test_pass(void)
{
	printf("PASS %s\n", test_name());
	fflush(stdout);
	return 0;
}

/* ---- time ---- */

#define NSEC_PER_SEC 1000000000LL

static inline int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * NSEC_PER_SEC + ts->tv_nsec;
}

static inline struct timespec ns_ts(int64_t ns)
{
	struct timespec ts;
	ts.tv_sec = ns / NSEC_PER_SEC;
	ts.tv_nsec = ns % NSEC_PER_SEC;
	return ts;
}

static inline int64_t now_ns(clockid_t clk)
{
	struct timespec ts;
	if (clock_gettime(clk, &ts) != 0)
		FAIL("clock_gettime(%d) failed: %s", (int)clk, strerror(errno));
	return ts_ns(&ts);
}

/* Absolute time `ms` milliseconds from now on clock `clk`. */
static inline struct timespec deadline_in(clockid_t clk, int64_t ms)
{
	return ns_ts(now_ns(clk) + ms * 1000000LL);
}

/* Fail if clock `clk` has not yet reached `deadline` (a timeout came early). */
#define check_not_early(clk, deadline, what) do { \
	int64_t now_ = now_ns(clk), dl_ = ts_ns(deadline); \
	if (now_ < dl_) \
		FAIL("%s: timed out %lld ns before its deadline", (what), (long long)(dl_ - now_)); \
} while (0)

/* Fail unless `elapsed_ns` lies in [min_ms, min_ms + slack_ms]. */
#define check_elapsed(elapsed_ns, min_ms, slack_ms, what) do { \
	int64_t e_ = (elapsed_ns); \
	if (e_ < (int64_t)(min_ms) * 1000000LL) \
		FAIL("%s: took %.3f ms, less than the requested %lld ms", (what), e_ / 1e6, (long long)(min_ms)); \
	if (e_ > ((int64_t)(min_ms) + (slack_ms)) * 1000000LL) \
		FAIL("%s: took %.3f ms, far more than the requested %lld ms", (what), e_ / 1e6, (long long)(min_ms)); \
} while (0)

/* Fail unless a deadline-style wait returned at or after its deadline on
 * `clk` and no more than slack_ms after it. */
#define check_deadline_wait(clk, deadline, slack_ms, what) do { \
	int64_t now2_ = now_ns(clk), dl2_ = ts_ns(deadline); \
	if (now2_ < dl2_) \
		FAIL("%s: timed out %lld ns before its deadline", (what), (long long)(dl2_ - now2_)); \
	if (now2_ - dl2_ > (int64_t)(slack_ms) * 1000000LL) \
		FAIL("%s: timed out %.3f ms after its deadline", (what), (now2_ - dl2_) / 1e6); \
} while (0)

/* Sleep without relying on anything under test beyond nanosleep. */
static inline void sleep_ms(int64_t ms)
{
	struct timespec ts = ns_ts(ms * 1000000LL);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Poll (1 ms naps) until cond holds; fail after `ms` milliseconds. */
#define WAIT_FOR(cond, ms, what) do { \
	int64_t end_ = now_ns(CLOCK_MONOTONIC) + (int64_t)(ms) * 1000000LL; \
	while (!(cond)) { \
		if (now_ns(CLOCK_MONOTONIC) > end_) \
			FAIL("gave up after %d ms waiting for %s", (int)(ms), (what)); \
		sleep_ms(1); \
	} \
} while (0)

#define LOAD(p)     __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define ADD(p, v)   __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)

/* Thread creation that fails the test on error. */
static inline pthread_t spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int rc = pthread_create(&t, NULL, fn, arg);
	if (rc != 0)
		FAIL("pthread_create failed: %s", err_name(rc));
	return t;
}

static inline void *join(pthread_t t)
{
	void *ret = NULL;
	int rc = pthread_join(t, &ret);
	if (rc != 0)
		FAIL("pthread_join failed: %s", err_name(rc));
	return ret;
}

static inline void install_handler(int sig, void (*h)(int), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = h;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	CHECK_OK(sigaction(sig, &sa, NULL));
}

static inline int wait_in_syscall(pid_t tid, long nr1, long nr2, long arg0, int max_ms)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
	int64_t end = now_ns(CLOCK_MONOTONIC) + max_ms * 1000000LL;
	while (now_ns(CLOCK_MONOTONIC) < end) {
		FILE *f = fopen(path, "r");
		if (f) {
			long nr = -1;
			unsigned long a0 = 0;
			int n = fscanf(f, "%ld %lx", &nr, &a0);
			fclose(f);
			if (n == 2 && (nr == nr1 || nr == nr2) && (long)a0 == arg0)
				return 1;
		}
		sleep_ms(1);
	}
	return 0;
}

static inline int tcp_listener(int type_flags, int backlog, struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM | type_flags, 0);
	CHECK(fd >= 0, "socket failed: %s", strerror(errno));
	memset(addr, 0, sizeof *addr);
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_OK(bind(fd, (struct sockaddr *)addr, sizeof *addr));
	socklen_t len = sizeof *addr;
	CHECK_OK(getsockname(fd, (struct sockaddr *)addr, &len));
	CHECK_OK(listen(fd, backlog));
	return fd;
}

static inline int os_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	CHECK(d != NULL, "cannot open /proc/self/task: %s", strerror(errno));
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static inline void check_os_threads(int peak)
{
	const char *lim = getenv("GMP_EXPECT_MAX_OS_THREADS");
	if (lim && *lim) {
		int max = atoi(lim);
		CHECK(peak <= max, "peak OS threads %d exceeds GMP_EXPECT_MAX_OS_THREADS=%d", peak, max);
		printf("within GMP_EXPECT_MAX_OS_THREADS=%d\n", max);
	}
}

#endif
