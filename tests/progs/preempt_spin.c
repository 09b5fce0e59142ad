/*
 * Threads that compute without calling anything cannot starve the others
 * (issue 6).  Two pure spinners and a third thread that sleeps, then sets
 * the stop flag: with one processor (GMP_MAXPROCS=1 under the shim) only
 * preemption lets the sleeper run again, and both spinners must have
 * progressed comparably (within 10x).
 *
 * Then the same program is run again with GMP_ASYNCPREEMPT=0 (a child
 * process) on two spinners that stop by the clock: under the shim with
 * one processor they must now run one after the other, which shows that
 * the knob turns async preemption off (and that it was what interleaved
 * them before).  Natively the child's spinners interleave; nothing is
 * asserted about them then.
 */
#include "common.h"

#include <stdlib.h>
#include <stdbool.h>
#include <sys/wait.h>

static volatile int stop;
static volatile unsigned long count[2];

static void *spinner(void *arg)
{
	long i = (long)arg;
	while (!stop)
		count[i]++;
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	sleep_ms(300);
	stop = 1;
	return NULL;
}

/* Child mode: two spinners of 150 ms of wall time each; prints whether
 * their run intervals overlapped. */
static int64_t span[2][2];

static void *timed_spinner(void *arg)
{
	long i = (long)arg;
	int64_t t0 = now_ns(CLOCK_MONOTONIC), t;
	volatile unsigned long n = 0;
	while ((t = now_ns(CLOCK_MONOTONIC)) < t0 + 150 * 1000000LL) /* vDSO: no shim call */
		n++;
	span[i][0] = t0;
	span[i][1] = t;
	return NULL;
}

static int child(void)
{
	pthread_t a = spawn(timed_spinner, (void *)0), b = spawn(timed_spinner, (void *)1);
	join(a);
	join(b);
	bool overlap = span[0][0] < span[1][1] && span[1][0] < span[0][1];
	printf("%s\n", overlap ? "interleaved" : "one after the other");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child();
	test_begin();
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	pthread_t a = spawn(spinner, (void *)0), b = spawn(spinner, (void *)1), s = spawn(sleeper, NULL);
	join(s);
	join(a);
	join(b);
	int64_t ms = (now_ns(CLOCK_MONOTONIC) - t0) / 1000000;
	unsigned long c0 = count[0], c1 = count[1];
	printf("spinners: %lu and %lu iterations in %lld ms\n", c0, c1, (long long)ms);
	CHECK(ms < 5000, "the sleeper needed %lld ms to stop spinners after a 300 ms sleep", (long long)ms);
	CHECK(c0 > 0 && c1 > 0, "a spinner never ran (%lu, %lu)", c0, c1);
	CHECK(c0 <= 10 * c1 && c1 <= 10 * c0, "unfair: %lu vs %lu iterations", c0, c1);

	/* GMP_ASYNCPREEMPT=0 in a child. */
	const char *pre = getenv("LD_PRELOAD");
	bool shim = pre && strstr(pre, "libgmpthread");
	const char *procs = getenv("GMP_MAXPROCS");
	int fds[2];
	CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
	pid_t pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(fds[1], 1);
		setenv("GMP_ASYNCPREEMPT", "0", 1);
		execl("/proc/self/exe", argv[0], "child", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char out[64] = "";
	ssize_t n = read(fds[0], out, sizeof out - 1);
	out[n > 0 ? n : 0] = 0;
	close(fds[0]);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed (status %#x)", st);
	printf("GMP_ASYNCPREEMPT=0: %s", out);
	if (shim && procs && strcmp(procs, "1") == 0)
		CHECK(strcmp(out, "one after the other\n") == 0,
		      "with GMP_ASYNCPREEMPT=0 and one P the spinners still interleaved");
	return test_pass();
}
