/*
 * The program's own SIGURG (issue 6).  The runtime preempts threads with
 * SIGURG; a program that uses SIGURG itself (TCP urgent data, or as a
 * thread signal) must see exactly its own signals, through sigaction as
 * it set it, while spinning threads are being preempted all along
 * (GMP_PREEMPT_MS=1).  A thread that blocks SIGURG is still preempted,
 * and a SIGURG sent to it waits, pending, until it unblocks.  First, a
 * signal sent to a thread that spins on a processor of its own (nothing
 * else to run, so nothing preempts it) runs its handler at once.
 */
/* env: GMP_PREEMPT_MS=1 */
#include "common.h"

#include <fcntl.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <sys/socket.h>

static _Atomic int n_total, n_tkill, n_other, n_usr1;

static void on_usr1(int sig)
{
	(void)sig;
	n_usr1++;
}

static void on_urg(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig != SIGURG)
		return;
	n_total++;
	if (si->si_code == SI_TKILL)
		n_tkill++;
	else
		n_other++;
}

static volatile int stop, unblock, blocked_ready;
static _Atomic int blocked_saw_pending;

static void *spinner(void *arg)
{
	(void)arg;
	volatile unsigned long n = 0;
	while (!stop)
		n++;
	return NULL;
}

static void *blocker(void *arg)
{
	(void)arg;
	sigset_t s, p;
	sigemptyset(&s);
	sigaddset(&s, SIGURG);
	CHECK_RC(pthread_sigmask(SIG_BLOCK, &s, NULL), 0);
	blocked_ready = 1;
	volatile unsigned long n = 0;
	while (!unblock) /* spins with SIGURG blocked: must still be preempted */
		n++;
	CHECK_OK(sigpending(&p));
	blocked_saw_pending = sigismember(&p, SIGURG);
	CHECK_RC(pthread_sigmask(SIG_UNBLOCK, &s, NULL), 0); /* the pending one runs now */
	while (!stop)
		n++;
	return NULL;
}

/* Waits until *counter reaches want (or 5 s). */
static bool wait_count(_Atomic int *counter, int want)
{
	int64_t end = now_ns(CLOCK_MONOTONIC) + 5000000000LL;
	while (*counter < want && now_ns(CLOCK_MONOTONIC) < end)
		sleep_ms(1);
	return *counter >= want;
}

int main(void)
{
	test_begin();
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_urg;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	CHECK_OK(sigaction(SIGURG, NULL, &old));
	CHECK(old.sa_handler == SIG_DFL, "SIGURG's initial disposition is not SIG_DFL");
	CHECK_OK(sigaction(SIGURG, &sa, NULL));
	CHECK_OK(sigaction(SIGURG, NULL, &old));
	CHECK(old.sa_sigaction == on_urg && (old.sa_flags & SA_SIGINFO), "sigaction does not report the handler set");

	/* A lone spinner: the signal interrupts it where it runs. */
	install_handler(SIGUSR1, on_usr1, SA_RESTART);
	pthread_t lone = spawn(spinner, NULL);
	sleep_ms(20);
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	for (int i = 1; i <= 5; i++) {
		CHECK_RC(pthread_kill(lone, SIGUSR1), 0);
		CHECK(wait_count(&n_usr1, i), "SIGUSR1 #%d to a spinning thread not handled", i);
	}
	printf("5 signals to a spinning thread handled in %lld us\n", (long long)(now_ns(CLOCK_MONOTONIC) - t0) / 1000);

	pthread_t sp[3];
	for (int i = 0; i < 3; i++)
		sp[i] = spawn(spinner, NULL);

	/* Thread-directed: each pthread_kill runs the handler once. */
	for (int i = 1; i <= 20; i++) {
		CHECK_RC(pthread_kill(sp[i % 3], SIGURG), 0);
		CHECK(wait_count(&n_tkill, i), "pthread_kill #%d: handler ran %d times", i, (int)n_tkill);
	}

	/* TCP urgent data: the kernel's SIGURG to the socket's owner. */
	struct sockaddr_in a;
	int l = tcp_listener(0, 1, &a);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_OK(connect(c, (struct sockaddr *)&a, sizeof a));
	int s = accept(l, NULL, NULL);
	CHECK(s >= 0, "accept: %s", strerror(errno));
	CHECK_OK(fcntl(s, F_SETOWN, getpid()));
	/* (Counted by total: a process-directed signal that the shim hands to
	 * the main thread arrives there as sent by a thread -- README.) */
	int base = n_total;
	for (int i = 1; i <= 5; i++) {
		char b = (char)('a' + i);
		CHECK(send(c, &b, 1, MSG_OOB) == 1, "send MSG_OOB: %s", strerror(errno));
		CHECK(wait_count(&n_total, base + i), "urgent data #%d: handler ran %d times", i, (int)n_total - base);
		char got = 0;
		int64_t end = now_ns(CLOCK_MONOTONIC) + 2000000000LL;
		while (recv(s, &got, 1, MSG_OOB) != 1 && now_ns(CLOCK_MONOTONIC) < end)
			sleep_ms(1);
		CHECK(got == b, "urgent byte %d: got %#x", i, got);
	}
	close(c);
	close(s);
	close(l);

	/* A thread that blocks SIGURG. */
	pthread_t b = spawn(blocker, NULL);
	while (!blocked_ready)
		sleep_ms(1);
	int before = n_tkill;
	CHECK_RC(pthread_kill(b, SIGURG), 0);
	sleep_ms(50); /* needs preemption on one processor: the blocker spins */
	CHECK(n_tkill == before, "SIGURG handled by a thread that blocks it");
	unblock = 1;
	CHECK(wait_count(&n_tkill, before + 1), "SIGURG pending on the blocker not delivered when it unblocked");
	CHECK(blocked_saw_pending, "sigpending() in the blocker did not show SIGURG");

	sleep_ms(100); /* more preemptions of the spinners */
	stop = 1;
	for (int i = 0; i < 3; i++)
		join(sp[i]);
	join(b);
	join(lone);
	printf("handler: %d signals (%d from threads, %d urgent data)\n", (int)n_total, (int)n_tkill, (int)n_other);
	CHECK(n_total == 26, "the handler saw %d signals, the program sent 26", (int)n_total);

	sa.sa_handler = SIG_DFL;
	sa.sa_flags = 0;
	CHECK_OK(sigaction(SIGURG, &sa, NULL));
	CHECK_OK(sigaction(SIGURG, NULL, &old));
	CHECK(old.sa_handler == SIG_DFL, "SIG_DFL not reported back");
	return test_pass();
}
