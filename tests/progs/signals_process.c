/*
 * signals_process: signals sent to the whole process (kill(getpid())) go
 * to a thread that does not block them, as Linux chooses.
 *   - main blocks SIGUSR1; one thread unblocks it and sleeps in read() on
 *     an empty pipe: kill(getpid(), SIGUSR1) runs the handler (no
 *     SA_RESTART) on that thread, and its read fails with EINTR
 *   - storm: main and four busy threads (computing, yielding, sleeping:
 *     their OS threads switch between threads all the time) block a
 *     real-time signal; one thread takes it and naps.  2,000 kill()s of it
 *     are all handled, each exactly once (real-time signals queue), every
 *     one on that thread
 *   - nobody takes it: with SIGUSR2 blocked everywhere, kill(getpid(),
 *     SIGUSR2) stays pending for the process (sigpending shows it in every
 *     thread); a thread that then unblocks it runs the handler before
 *     pthread_sigmask returns, and the signal is no longer pending
 *   - sigwaitinfo in one thread takes a process-directed signal every
 *     thread blocks, with si_code SI_USER and si_pid our pid
 *   - default action (child processes sent SIGTERM, no handler): one whose
 *     main thread blocks SIGTERM while a thread parked in read() takes it
 *     dies of it; one where every thread blocks it lives on, with SIGTERM
 *     pending
 */
/* shim-skip: S2: errno read through an address cached before a migration: GMP_TLS=shared does not promise it */
#include "child.h"
#include <sched.h>

static pthread_t handled_on;
static int handled;        /* SIGUSR1 / SIGUSR2 */
static int rt_here, rt_elsewhere;
static pthread_t rt_thread;
static int stop;

static void on_sig(int sig)
{
	(void)sig;
	handled_on = pthread_self();
	ADD(&handled, 1);
}

static void on_rt(int sig)
{
	(void)sig;
	if (pthread_equal(pthread_self(), rt_thread))
		ADD(&rt_here, 1);
	else
		ADD(&rt_elsewhere, 1);
}

static void block(int sig, int how)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	CHECK_RC(pthread_sigmask(how, &s, NULL), 0);
}

static int pipefd[2];
static int reader_ready;
static void *reader(void *arg)
{
	(void)arg;
	block(SIGUSR1, SIG_UNBLOCK);
	STORE(&reader_ready, 1);
	char c;
	errno = 0;
	ssize_t n = read(pipefd[0], &c, 1);
	int e = errno;
	if (n != -1)
		return (void *)1;
	if (e != EINTR)
		return (void *)2;
	return NULL;
}

static void *reader_term(void *arg)
{
	block(SIGTERM, SIG_UNBLOCK);
	return reader(arg);
}

static void *reader_blocked(void *arg)
{
	(void)arg;
	STORE(&reader_ready, 1);
	char c;
	return (void *)(long)read(pipefd[0], &c, 1);
}

static void *busy(void *arg)
{
	long kind = (long)arg;
	volatile unsigned long x = 0;
	while (!LOAD(&stop)) {
		if (kind == 0)
			for (int i = 0; i < 20000; i++)
				x += i;
		else if (kind == 1)
			sched_yield();
		else
			usleep(50);
	}
	return NULL;
}

static int rt_ready;
static void *rt_taker(void *arg)
{
	(void)arg;
	block(SIGRTMIN + 1, SIG_UNBLOCK);
	STORE(&rt_ready, 1);
	while (!LOAD(&stop)) {
		struct timespec ts = { 0, 20000 };
		nanosleep(&ts, NULL); /* EINTR is expected */
	}
	return NULL;
}

static void *pending_seen(void *arg)
{
	(void)arg;
	sigset_t p;
	sigpending(&p);
	return (void *)(long)sigismember(&p, SIGUSR2);
}

static void *unblocker(void *arg)
{
	(void)arg;
	int before = LOAD(&handled);
	block(SIGUSR2, SIG_UNBLOCK); /* delivered here, before it returns */
	int after = LOAD(&handled);
	if (after != before + 1)
		return (void *)1;
	if (!pthread_equal(handled_on, pthread_self()))
		return (void *)2;
	sigset_t p;
	sigpending(&p);
	if (sigismember(&p, SIGUSR2))
		return (void *)3;
	return NULL;
}

static void *waiter(void *arg)
{
	(void)arg;
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR2);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	int sig = sigwaitinfo(&s, &si);
	if (sig != SIGUSR2)
		return (void *)1;
	if (si.si_code != SI_USER || si.si_pid != getpid())
		return (void *)2;
	return NULL;
}

/* Child modes: SIGTERM blocked in main; "takes": one thread parked in
 * read() unblocks it; "blocks": that thread blocks it too. */
static int child(const char *mode)
{
	test_begin();
	block(SIGTERM, SIG_BLOCK);
	int takes = !strcmp(mode, "takes");
	CHECK_OK(pipe(pipefd));
	pthread_t r = spawn(takes ? reader_term : reader_blocked, NULL);
	WAIT_FOR(LOAD(&reader_ready), 10000, "the reader to start");
	sleep_ms(20);
	printf("ready\n");
	/* The parent sends SIGTERM now.  "takes" dies of it; "blocks" sees it
	 * pending, and ends the reader. */
	int64_t end = now_ns(CLOCK_MONOTONIC) + 10 * NSEC_PER_SEC;
	sigset_t p;
	do {
		sleep_ms(1);
		sigpending(&p);
	} while (!sigismember(&p, SIGTERM) && now_ns(CLOCK_MONOTONIC) < end);
	printf(sigismember(&p, SIGTERM) ? "pending\n" : "not pending\n");
	CHECK(write(pipefd[1], "x", 1) == 1, "write");
	join(r);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		return child(argv[1]);
	test_begin();
	install_handler(SIGUSR1, on_sig, 0); /* no SA_RESTART */
	install_handler(SIGUSR2, on_sig, 0);
	install_handler(SIGRTMIN + 1, on_rt, 0);

	/* 1. A thread parked in read() is the only one that takes it. */
	block(SIGUSR1, SIG_BLOCK);
	CHECK_OK(pipe(pipefd));
	pthread_t r = spawn(reader, NULL);
	WAIT_FOR(LOAD(&reader_ready), 10000, "the reader to start");
	sleep_ms(20); /* let it block in read */
	CHECK_OK(kill(getpid(), SIGUSR1));
	void *rr = join(r);
	CHECK(rr != (void *)1, "read() on an empty pipe returned data after kill(getpid(), SIGUSR1)");
	CHECK(rr != (void *)2, "read() interrupted by a handled SIGUSR1 (no SA_RESTART) did not fail with EINTR");
	CHECK(LOAD(&handled) == 1, "SIGUSR1 handled %d times, want 1", LOAD(&handled));
	CHECK(pthread_equal(handled_on, r), "kill(getpid(), SIGUSR1) was handled by a thread that blocks it, not by the reader");

	/* 2. Storm: one taker among threads whose OS threads keep switching. */
	block(SIGRTMIN + 1, SIG_BLOCK); /* inherited by everyone below */
	pthread_t b[4];
	for (long i = 0; i < 4; i++)
		b[i] = spawn(busy, (void *)(i % 3));
	rt_thread = spawn(rt_taker, NULL);
	WAIT_FOR(LOAD(&rt_ready), 10000, "the real-time signal taker to start");
	enum { N = 2000 };
	for (int i = 0; i < N; i++) {
		CHECK_OK(kill(getpid(), SIGRTMIN + 1));
		if (i % 100 == 99) /* stay well below RLIMIT_SIGPENDING */
			WAIT_FOR(LOAD(&rt_here) + LOAD(&rt_elsewhere) >= i - 50, 10000, "the real-time signals to be handled");
	}
	WAIT_FOR(LOAD(&rt_here) + LOAD(&rt_elsewhere) >= N, 10000, "all 2000 real-time signals to be handled");
	sleep_ms(20);
	STORE(&stop, 1);
	for (int i = 0; i < 4; i++)
		join(b[i]);
	join(rt_thread);
	CHECK(LOAD(&rt_elsewhere) == 0, "%d of %d process-directed signals ran on threads that block them", LOAD(&rt_elsewhere), N);
	CHECK(LOAD(&rt_here) == N, "%d of %d real-time signals handled (each must be, once)", LOAD(&rt_here), N);

	/* 3. Nobody takes it: pending for the process, then for the first
	 * thread that unblocks it. */
	block(SIGUSR2, SIG_BLOCK);
	handled = 0;
	CHECK_OK(kill(getpid(), SIGUSR2));
	sigset_t p;
	sigpending(&p);
	CHECK(sigismember(&p, SIGUSR2), "a process-directed SIGUSR2 every thread blocks is not pending in main");
	CHECK(join(spawn(pending_seen, NULL)) == (void *)1L, "a process-directed SIGUSR2 every thread blocks is not pending in another thread");
	CHECK(LOAD(&handled) == 0, "SIGUSR2 was handled although every thread blocks it");
	long u = (long)join(spawn(unblocker, NULL));
	CHECK(u != 1, "unblocking a pending process-directed SIGUSR2 did not run its handler before pthread_sigmask returned");
	CHECK(u != 2, "the pending SIGUSR2 ran its handler on another thread than the one that unblocked it");
	CHECK(u != 3, "SIGUSR2 still pending after its handler ran");

	/* 4. sigwaitinfo in one thread. */
	pthread_t w = spawn(waiter, NULL);
	sleep_ms(20);
	CHECK_OK(kill(getpid(), SIGUSR2));
	long wr = (long)join(w);
	CHECK(wr != 1, "sigwaitinfo did not return the process-directed SIGUSR2");
	CHECK(wr != 2, "sigwaitinfo: si_code/si_pid of kill(getpid(), SIGUSR2) not SI_USER/our pid");
	CHECK(LOAD(&handled) == 1, "SIGUSR2 taken by sigwaitinfo also ran the handler");

	/* 5. Default action. */
	struct kid k;
	kid_start(&k, "takes", 0, NULL);
	KCHECK(&k, kid_read_until(&k, "ready", 10000), "child (a parked thread takes SIGTERM) never got ready");
	CHECK_OK(kill(k.pid, SIGTERM));
	KCHECK(&k, kid_wait(&k, 10000), "child with a parked thread taking SIGTERM still runs 10 s after kill -TERM");
	KCHECK(&k, WIFSIGNALED(k.status) && WTERMSIG(k.status) == SIGTERM,
	       "child with a parked thread taking SIGTERM did not die of it");
	kid_start(&k, "blocks", 0, NULL);
	KCHECK(&k, kid_read_until(&k, "ready", 10000), "child (every thread blocks SIGTERM) never got ready");
	CHECK_OK(kill(k.pid, SIGTERM));
	KCHECK(&k, kid_wait(&k, 20000), "child blocking SIGTERM everywhere did not end");
	KCHECK(&k, WIFEXITED(k.status) && WEXITSTATUS(k.status) == 0,
	       "child blocking SIGTERM everywhere did not exit normally");
	kid_drain(&k);
	KCHECK(&k, strstr(k.out_text, "\npending") != NULL, "SIGTERM, blocked by every thread, was not pending in the child");

	return test_pass();
}
