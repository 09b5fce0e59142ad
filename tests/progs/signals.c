/*
 * signals: signals aimed at threads.
 *   - pthread_kill(t, SIGUSR1) runs the handler on thread t (the handler
 *     sees pthread_self() == t), not on the sender
 *   - raise() in a thread runs the handler on that thread, before raise
 *     returns
 *   - pthread_sigqueue(t, SIGUSR1, value) with SA_SIGINFO delivers si_value
 *     and si_code SI_QUEUE on t
 *   - pthread_sigmask: returns the old mask; a new thread inherits its
 *     creator's mask; a blocked signal sent with pthread_kill stays pending
 *     for that thread (sigpending) until sigwait takes it
 *   - a process-directed signal (kill(getpid())) is handled by the one
 *     thread that has it unblocked
 *   - a signal handled (handler without SA_RESTART) during sem_timedwait
 *     and sem_wait makes them fail with EINTR (with SA_RESTART, glibc 2.36
 *     on this kernel restarts sem_wait but not always sem_timedwait: not
 *     tested)
 */
/* shim-skip: S2: errno read through an address cached before a migration: GMP_TLS=shared does not promise it */
#include "common.h"
#include <semaphore.h>

static pthread_t handled_on;
static volatile sig_atomic_t handled;
static volatile sig_atomic_t queued_ok;
static int queued_value;

static void on_usr1(int sig)
{
	handled_on = pthread_self();
	handled++;
}

static void on_usr1_info(int sig, siginfo_t *si, void *ctx)
{
	handled_on = pthread_self();
	queued_value = si->si_value.sival_int;
	queued_ok = si->si_code == SI_QUEUE;
	handled++;
}


static int stop;

static void *poll_until_handled(void *arg)
{
	while (!LOAD(&stop))
		sleep_ms(1);
	return NULL;
}

static void *raiser(void *arg)
{
	handled = 0;
	if (raise(SIGUSR1) != 0)
		return (void *)1;
	if (handled != 1 || !pthread_equal(handled_on, pthread_self()))
		return (void *)2;
	return NULL;
}

static void *mask_reporter(void *arg)
{
	sigset_t cur;
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	return (void *)(long)sigismember(&cur, SIGUSR2);
}

static sem_t waiter_ready;
static void *sigwaiter(void *arg)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* already inherited; harmless */
	sem_post(&waiter_ready);
	/* Wait until the signal is pending for this thread, then take it. */
	int64_t end = now_ns(CLOCK_MONOTONIC) + 10 * NSEC_PER_SEC;
	sigset_t pend;
	do {
		sigpending(&pend);
		if (now_ns(CLOCK_MONOTONIC) > end)
			return (void *)1;
		sleep_ms(1);
	} while (!sigismember(&pend, SIGUSR2));
	int sig = 0;
	if (sigwait(&set, &sig) != 0 || sig != SIGUSR2)
		return (void *)2;
	return NULL;
}

static void *unblock_and_poll(void *arg)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	sem_post(&waiter_ready);
	while (!LOAD(&stop))
		sleep_ms(1);
	return NULL;
}

static sem_t never;
static int eintr_seen;
static void *sem_sleeper(void *arg)
{
	sem_post(&waiter_ready);
	for (;;) {
		struct timespec dl = deadline_in(CLOCK_REALTIME, 10000);
		errno = 0;
		int r = sem_timedwait(&never, &dl);
		int e = errno;
		if (r == -1 && e == EINTR) {
			STORE(&eintr_seen, 1);
			break;
		}
		if (r == -1 && e == ETIMEDOUT)
			break;
	}
	errno = 0;
	int r = sem_wait(&never); /* interrupted too: main keeps signalling */
	return (void *)(long)(r == -1 && errno == EINTR ? 0 : 1);
}

int main(void)
{
	test_begin();
	install_handler(SIGUSR1, on_usr1, 0);

	/* pthread_kill to a specific thread. */
	pthread_t t = spawn(poll_until_handled, NULL);
	handled = 0;
	CHECK_RC(pthread_kill(t, SIGUSR1), 0);
	WAIT_FOR(handled == 1, 10000, "the SIGUSR1 handler to run");
	CHECK(pthread_equal(handled_on, t), "pthread_kill(t, SIGUSR1): handler ran on another thread");
	STORE(&stop, 1);
	join(t);

	/* raise in a thread */
	long r = (long)join(spawn(raiser, NULL));
	CHECK(r != 1, "raise failed");
	CHECK(r != 2, "raise(SIGUSR1) in a thread: handler did not run on that thread before raise returned");

	/* pthread_sigqueue */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_usr1_info;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
	STORE(&stop, 0);
	handled = 0;
	t = spawn(poll_until_handled, NULL);
	union sigval sv = {.sival_int = 4242};
	CHECK_RC(pthread_sigqueue(t, SIGUSR1, sv), 0);
	WAIT_FOR(handled == 1, 10000, "the queued SIGUSR1 handler to run");
	CHECK(pthread_equal(handled_on, t), "pthread_sigqueue: handler ran on another thread");
	CHECK(queued_value == 4242 && queued_ok, "pthread_sigqueue: si_value %d (want 4242), si_code SI_QUEUE %d", queued_value, (int)queued_ok);
	STORE(&stop, 1);
	join(t);
	install_handler(SIGUSR1, on_usr1, 0);

	/* Masks: inherited, old mask returned, pending per thread, sigwait. */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	CHECK_RC(pthread_sigmask(SIG_BLOCK, &set, &old), 0);
	CHECK(!sigismember(&old, SIGUSR2), "SIGUSR2 was blocked before");
	CHECK(join(spawn(mask_reporter, NULL)) == (void *)1L, "a new thread did not inherit its creator's blocked SIGUSR2");
	sem_init(&waiter_ready, 0, 0);
	t = spawn(sigwaiter, NULL);
	sem_wait(&waiter_ready);
	CHECK_RC(pthread_kill(t, SIGUSR2), 0);
	r = (long)join(t);
	CHECK(r != 1, "SIGUSR2 sent with pthread_kill never became pending for the target thread");
	CHECK(r != 2, "sigwait did not return SIGUSR2");
	sigset_t pend;
	sigpending(&pend);
	CHECK(!sigismember(&pend, SIGUSR2), "SIGUSR2 pending on main although sent to another thread");
	CHECK_RC(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);

	/* Process-directed: only the thread with it unblocked handles it. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	CHECK_RC(pthread_sigmask(SIG_BLOCK, &set, &old), 0);
	STORE(&stop, 0);
	handled = 0;
	t = spawn(unblock_and_poll, NULL); /* inherits the block, then lifts it */
	sem_wait(&waiter_ready);
	CHECK_OK(kill(getpid(), SIGUSR1));
	WAIT_FOR(handled == 1, 10000, "the process-directed SIGUSR1 to be handled");
	CHECK(pthread_equal(handled_on, t), "kill(getpid(), SIGUSR1) was handled by a thread that blocks it");
	STORE(&stop, 1);
	join(t);
	CHECK_RC(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);

	/* EINTR from sem_wait / sem_timedwait. */
	install_handler(SIGUSR1, on_usr1, 0); /* no SA_RESTART */
	sem_init(&never, 0, 0);
	t = spawn(sem_sleeper, NULL);
	sem_wait(&waiter_ready);
	int64_t end = now_ns(CLOCK_MONOTONIC) + 10 * NSEC_PER_SEC;
	struct timespec jdl;
	void *ret = (void *)-1;
	for (;;) {
		CHECK(now_ns(CLOCK_MONOTONIC) < end, "sem_wait/sem_timedwait never failed with EINTR on a handled signal (eintr_seen %d)", LOAD(&eintr_seen));
		pthread_kill(t, SIGUSR1);
		jdl = deadline_in(CLOCK_MONOTONIC, 5);
		if (pthread_clockjoin_np(t, &ret, CLOCK_MONOTONIC, &jdl) == 0)
			break;
	}
	CHECK(LOAD(&eintr_seen), "sem_timedwait ended without EINTR");
	CHECK(ret == NULL, "sem_wait interrupted by a handler did not fail with EINTR");

	return test_pass();
}
