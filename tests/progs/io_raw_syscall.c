/*
 * io_raw_syscall: a thread blocked in a raw `syscall` instruction -- one
 * no wrapper or interposed function can see -- must not stall the other
 * threads.  (A user-level scheduler only learns that such a thread is stuck
 * in the kernel by noticing that its OS thread stopped making progress.)
 *   - read: a thread issues SYS_read on an empty pipe with inline asm and
 *     blocks; for ~1 s a ticker thread (a little work, then a 1 ms
 *     nanosleep, in a loop) records the largest gap between its
 *     iterations: it must keep going (>= 20 iterations) and never stall
 *     200 ms or more (generous: the design target is tens of ms).  Then
 *     main writes to the pipe and the raw read returns those bytes.
 *   - futex: the same with a thread blocked in a raw FUTEX_WAIT_PRIVATE on
 *     a word, woken after ~0.5 s by a raw FUTEX_WAKE_PRIVATE from main
 *     (which reports one waiter woken); its wait returns 0 and it sees the
 *     word changed.
 *   - prints the peak number of OS threads seen meanwhile; under the shim
 *     (GMP_EXPECT_MAX_OS_THREADS set by the runner) fails if it exceeds
 *     that: replacing a stuck OS thread must not spawn OS threads without
 *     end.
 */
/* shim-max-os-threads: 16 */
#include "common.h"
#include <linux/futex.h>
#include <sys/syscall.h>

static long raw_syscall3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

static long raw_syscall4(long nr, long a, long b, long c, long d)
{
	long ret;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}


/* ---- the ticker ---- */

static int ticker_stop, measuring;
static long iterations;
static int64_t max_gap_ns;
static volatile unsigned long sink;

static void *ticker(void *arg)
{
	int64_t last = now_ns(CLOCK_MONOTONIC);
	while (!LOAD(&ticker_stop)) {
		for (int i = 0; i < 1000; i++)
			sink += (unsigned long)i * 2654435761u;
		sleep_ms(1);
		int64_t now = now_ns(CLOCK_MONOTONIC);
		if (LOAD(&measuring)) {
			ADD(&iterations, 1);
			if (now - last > LOAD(&max_gap_ns))
				STORE(&max_gap_ns, now - last);
		}
		last = now;
	}
	return NULL;
}

static int peak;

/* Measure the ticker for `ms` while some thread is blocked. */
static void measure(int ms, const char *what)
{
	STORE(&iterations, 0);
	STORE(&max_gap_ns, 0);
	STORE(&measuring, 1);
	int64_t end = now_ns(CLOCK_MONOTONIC) + ms * 1000000LL;
	while (now_ns(CLOCK_MONOTONIC) < end) {
		int n = os_threads();
		if (n > peak)
			peak = n;
		sleep_ms(50);
	}
	STORE(&measuring, 0);
	long it = LOAD(&iterations);
	int64_t gap = LOAD(&max_gap_ns);
	printf("%s: ticker made %ld iterations in %d ms, largest gap %.1f ms\n", what, it, ms, gap / 1e6);
	CHECK(it >= 20, "%s: the ticker made only %ld iterations in %d ms", what, it, ms);
	CHECK(gap < 200 * 1000000LL, "%s: the ticker stalled for %.1f ms", what, gap / 1e6);
}

/* ---- raw read ---- */

static int pipefd[2];
static int raw_started, raw_done;
static long raw_ret;
static char raw_buf[16];

static void *raw_reader(void *arg)
{
	STORE(&raw_started, 1);
	long r;
	do
		r = raw_syscall3(SYS_read, pipefd[0], (long)raw_buf, sizeof raw_buf);
	while (r == -EINTR);
	raw_ret = r;
	STORE(&raw_done, 1);
	return NULL;
}

/* ---- raw futex ---- */

static int futex_word;
static int futex_started;
static long futex_ret;

static void *raw_futex_waiter(void *arg)
{
	STORE(&futex_started, 1);
	long r = 0;
	while (LOAD(&futex_word) == 0) {
		r = raw_syscall4(SYS_futex, (long)&futex_word, FUTEX_WAIT_PRIVATE, 0, 0);
		CHECK(r == 0 || r == -EAGAIN || r == -EINTR, "raw FUTEX_WAIT returned %ld", r);
	}
	futex_ret = r;
	return NULL;
}

int main(void)
{
	test_begin();
	peak = os_threads();
	pthread_t tk = spawn(ticker, NULL);

	CHECK_OK(pipe(pipefd));
	pthread_t t = spawn(raw_reader, NULL);
	WAIT_FOR(LOAD(&raw_started), 10000, "the raw reader to start");
	sleep_ms(20);
	measure(1000, "raw read blocked");
	CHECK(!LOAD(&raw_done), "the raw read on an empty pipe returned %ld", raw_ret);
	CHECK(write(pipefd[1], "raw bytes", 9) == 9, "write failed: %s", strerror(errno));
	join(t);
	CHECK(raw_ret == 9 && memcmp(raw_buf, "raw bytes", 9) == 0, "the raw read returned %ld, expected the 9 bytes written", raw_ret);
	close(pipefd[0]);
	close(pipefd[1]);

	t = spawn(raw_futex_waiter, NULL);
	WAIT_FOR(LOAD(&futex_started), 10000, "the futex waiter to start");
	sleep_ms(20);
	measure(500, "raw FUTEX_WAIT blocked");
	STORE(&futex_word, 1);
	long woken = raw_syscall4(SYS_futex, (long)&futex_word, FUTEX_WAKE_PRIVATE, 1, 0);
	CHECK(woken == 0 || woken == 1, "raw FUTEX_WAKE returned %ld", woken);
	join(t);
	/* (woken == 0 only if the waiter had not even reached the kernel.) */
	CHECK(woken == 0 || futex_ret == 0, "the raw FUTEX_WAIT ended with %ld, expected 0 (woken)", futex_ret);
	printf("raw FUTEX_WAKE woke %ld waiter\n", woken);

	STORE(&ticker_stop, 1);
	join(tk);
	printf("peak OS threads: %d\n", peak);
	check_os_threads(peak);
	return test_pass();
}
