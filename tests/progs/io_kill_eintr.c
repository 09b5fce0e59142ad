/*
 * io_kill_eintr: a signal sent to the whole process (kill, as a shell's
 * kill or Ctrl-C does) interrupts the main thread's blocking call, as on
 * Linux, which prefers the main thread when it does not block the signal.
 * Every other thread blocks the signal, so the main thread is the only
 * candidate natively.
 *   - main blocked in accept(); a thread kill()s the process with SIGTERM,
 *     whose handler (no SA_RESTART) sets a flag: accept returns -1 EINTR,
 *     the handler ran in the main thread, and the flag is seen -- the
 *     pattern servers use to shut down
 *   - main blocked in read() on a pipe; a forked child kill()s its parent
 *     with SIGUSR2, installed with signal() (SA_RESTART): the handler runs
 *     in main, and the read goes on and returns the byte written later
 *   - sigaction() reports the handler and flags the program installed
 */
#include "common.h"
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/wait.h>

static volatile sig_atomic_t stop;
static pthread_t main_thread;
static _Atomic int term_in_main, usr2_in_main, usr2_runs;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
	term_in_main = pthread_equal(pthread_self(), main_thread);
}

static void on_usr2(int sig)
{
	(void)sig;
	usr2_in_main = pthread_equal(pthread_self(), main_thread);
	ADD(&usr2_runs, 1);
}

static void block_signals_here(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGUSR2);
	CHECK_RC(pthread_sigmask(SIG_BLOCK, &s, NULL), 0);
}

static void *killer(void *arg)
{
	block_signals_here();
	usleep(100000); /* main is in accept() by now, probably; either way it must end */
	CHECK_OK(kill(getpid(), SIGTERM));
	return arg;
}

static void *writer_after(void *arg)
{
	int fd = (int)(long)arg;
	block_signals_here();
	usleep(300000);
	CHECK(write(fd, "z", 1) == 1, "write failed");
	return NULL;
}

int main(void)
{
	test_begin();
	main_thread = pthread_self();

	install_handler(SIGTERM, on_term, 0); /* no SA_RESTART: accept must fail with EINTR */
	struct sigaction back;
	CHECK_OK(sigaction(SIGTERM, NULL, &back));
	CHECK(back.sa_handler == on_term && !(back.sa_flags & SA_RESTART) && !(back.sa_flags & SA_SIGINFO),
	      "sigaction reports handler %p flags %#x, not what was installed", (void *)back.sa_handler,
	      (unsigned)back.sa_flags);

	struct sockaddr_in a;
	int lfd = tcp_listener(0, 8, &a);
	pthread_t k = spawn(killer, NULL);
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	int c = -1;
	while (!stop && (c = accept(lfd, NULL, NULL)) < 0 && errno == EINTR)
		; /* a server's loop: EINTR, then look at the flag */
	CHECK(c < 0 && stop, "accept returned %d (stop=%d) instead of failing with EINTR after SIGTERM", c, (int)stop);
	CHECK(LOAD(&term_in_main), "the SIGTERM handler did not run in the main thread");
	CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 10 * NSEC_PER_SEC, "accept took 10 s to see SIGTERM");
	join(k);
	close(lfd);

	CHECK(signal(SIGUSR2, on_usr2) != SIG_ERR, "signal() failed");
	CHECK_OK(sigaction(SIGUSR2, NULL, &back));
	CHECK(back.sa_handler == on_usr2 && (back.sa_flags & SA_RESTART), "signal() did not install a restarting handler");
	int p[2];
	CHECK_OK(pipe(p));
	pid_t child = fork();
	CHECK(child >= 0, "fork failed");
	if (child == 0) {
		usleep(100000);
		kill(getppid(), SIGUSR2);
		_exit(0);
	}
	pthread_t w = spawn(writer_after, (void *)(long)p[1]);
	char ch = 0;
	ssize_t n = read(p[0], &ch, 1);
	CHECK(n == 1 && ch == 'z', "read returned %zd (%s): SA_RESTART should have continued it", n,
	      n < 0 ? strerror(errno) : "data");
	CHECK(LOAD(&usr2_runs) == 1 && LOAD(&usr2_in_main), "SIGUSR2 handler ran %d times, in main: %d",
	      LOAD(&usr2_runs), LOAD(&usr2_in_main));
	join(w);
	int st;
	CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st), "child failed");
	return test_pass();
}
