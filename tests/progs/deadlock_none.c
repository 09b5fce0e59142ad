/*
 * deadlock_none: idle is not deadlocked (issue 7).
 *
 * Programs whose threads are all blocked, but on something that will
 * wake one of them, must not be reported as deadlocked.  Five children,
 * run at the same time, each print "ready" once about to block; the
 * parent acts 1 s after starting them:
 *   accept   main blocked in accept() on a listening TCP socket on
 *            127.0.0.1: the parent connects
 *   sleep    one thread sleeps 1 s; another joins it, a third waits on a
 *            condvar it signals after the sleep, main joins both
 *   pipe     a thread blocked reading a pipe (its stdin), main joins it:
 *            the parent writes a byte
 *   waitpid  main blocked in waitpid() on a grandchild that sleeps 1 s
 *            and exits 0
 *   sigwait  a thread blocked in sigwait() for SIGUSR1 (blocked in all
 *            threads, no handler), main joins it: the parent sends SIGUSR1
 *            to the process
 * Each child must still be running when the parent acts (a false
 * deadlock report exits with status 2 before that), then exit 0 by itself
 * within 1.5 s of the parent's action, and its stderr must not mention a
 * deadlock.  The children install no signal handlers (a handler could
 * wake a thread) and do not use test_begin(); natively the same holds.
 */
#include "child.h"

/* ---- the children ---- */

static void ready(void)
{
	printf("ready\n");
	fflush(stdout);
}

static int child_accept(void)
{
	struct sockaddr_in addr;
	int l = tcp_listener(SOCK_CLOEXEC, 4, &addr);
	printf("port %d\n", ntohs(addr.sin_port));
	ready();
	int s;
	while ((s = accept(l, NULL, NULL)) < 0 && errno == EINTR)
		;
	CHECK(s >= 0, "accept: %s", strerror(errno));
	CHECK_OK(close(s));
	CHECK_OK(close(l));
	return 0;
}

static pthread_mutex_t slept_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slept_cond = PTHREAD_COND_INITIALIZER;
static int slept;
static pthread_t sleeper_thread;

static void *sleeper(void *arg)
{
	(void)arg;
	sleep_ms(1000);
	CHECK_RC(pthread_mutex_lock(&slept_mutex), 0);
	slept = 1;
	CHECK_RC(pthread_cond_broadcast(&slept_cond), 0);
	CHECK_RC(pthread_mutex_unlock(&slept_mutex), 0);
	return NULL;
}

static void *sleeper_joiner(void *arg)
{
	(void)arg;
	join(sleeper_thread);
	return NULL;
}

static void *slept_waiter(void *arg)
{
	(void)arg;
	CHECK_RC(pthread_mutex_lock(&slept_mutex), 0);
	while (!slept)
		CHECK_RC(pthread_cond_wait(&slept_cond, &slept_mutex), 0);
	CHECK_RC(pthread_mutex_unlock(&slept_mutex), 0);
	return NULL;
}

static int child_sleep(void)
{
	sleeper_thread = spawn(sleeper, NULL);
	pthread_t j = spawn(sleeper_joiner, NULL);
	pthread_t w = spawn(slept_waiter, NULL);
	ready();
	join(j);
	join(w);
	return 0;
}

static void *stdin_reader(void *arg)
{
	(void)arg;
	char c = 0;
	ssize_t n;
	while ((n = read(0, &c, 1)) < 0 && errno == EINTR)
		;
	CHECK(n == 1 && c == 'x', "read(stdin) returned %zd, byte %#x", n, c);
	return NULL;
}

static int child_pipe(void)
{
	pthread_t t = spawn(stdin_reader, NULL);
	ready();
	join(t);
	return 0;
}

static int child_waitpid(void)
{
	pid_t gc = fork();
	CHECK(gc >= 0, "fork: %s", strerror(errno));
	if (gc == 0) {
		sleep_ms(1000);
		_exit(0);
	}
	ready();
	int st = 0;
	pid_t r;
	while ((r = waitpid(gc, &st, 0)) < 0 && errno == EINTR)
		;
	CHECK(r == gc, "waitpid returned %d: %s", (int)r, strerror(errno));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the grandchild's wait status is %#x", st);
	return 0;
}

static void *usr1_waiter(void *arg)
{
	sigset_t *set = arg;
	int sig = 0;
	CHECK_RC(sigwait(set, &sig), 0);
	CHECK(sig == SIGUSR1, "sigwait returned signal %d", sig);
	return NULL;
}

static int child_sigwait(void)
{
	static sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	CHECK_RC(pthread_sigmask(SIG_BLOCK, &set, NULL), 0); /* inherited by the thread */
	pthread_t t = spawn(usr1_waiter, &set);
	ready();
	join(t);
	return 0;
}

static const struct {
	const char *mode;
	int (*fn)(void);
} modes[] = {
	{"accept", child_accept}, {"sleep", child_sleep}, {"pipe", child_pipe},
	{"waitpid", child_waitpid}, {"sigwait", child_sigwait},
};
#define NMODES ((int)(sizeof modes / sizeof modes[0]))
enum { M_ACCEPT, M_SLEEP, M_PIPE, M_WAITPID, M_SIGWAIT };

/* ---- the parent ---- */

#define ACT_MS 1000   /* the parent acts this long after starting the children */
#define BUDGET_MS 1500 /* then each child has this long to exit 0 */

int main(int argc, char **argv)
{
	if (argc > 1)
		for (int i = 0; i < NMODES; i++)
			if (strcmp(argv[1], modes[i].mode) == 0) {
				setvbuf(stdout, NULL, _IOLBF, 0);
				return modes[i].fn();
			}
	test_begin();
	int shim = under_shim();
	(void)shim; /* the same checks hold natively */
	static const char *const env[] = {NULL};
	static struct kid k[NMODES];
	for (int i = 0; i < NMODES; i++)
		kid_start(&k[i], modes[i].mode, i == M_PIPE, env);
	for (int i = 0; i < NMODES; i++)
		KCHECK(&k[i], kid_read_until(&k[i], "ready\n", 900), "child \"%s\" did not print \"ready\"", k[i].mode);
	int port = 0;
	const char *p = strstr(k[M_ACCEPT].out_text, "port ");
	KCHECK(&k[M_ACCEPT], p && sscanf(p, "port %d", &port) == 1 && port > 0, "no port from the accept child");

	int64_t act = k[0].t0 + ACT_MS * 1000000LL;
	int64_t now = now_ns(CLOCK_MONOTONIC);
	if (now < act)
		sleep_ms((act - now) / 1000000);
	/* A false deadlock report ends a child (status 2) before this point. */
	for (int i = 0; i < NMODES; i++)
		KCHECK(&k[i], !kid_wait(&k[i], 0), "child \"%s\" %s before the parent woke it (after %.2f s)", k[i].mode,
		       kid_status(&k[i]), (now_ns(CLOCK_MONOTONIC) - k[i].t0) / 1e9);

	int act_ms = (int)((now_ns(CLOCK_MONOTONIC) - k[0].t0) / 1000000);
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t)port);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(c >= 0, "socket: %s", strerror(errno));
	CHECK_OK(connect(c, (struct sockaddr *)&addr, sizeof addr));
	CHECK(write(k[M_PIPE].in, "x", 1) == 1, "write to the pipe child's stdin: %s", strerror(errno));
	CHECK_OK(kill(k[M_SIGWAIT].pid, SIGUSR1));

	for (int i = 0; i < NMODES; i++) {
		int ms = act_ms + BUDGET_MS + (int)((k[0].t0 - k[i].t0) / 1000000);
		KCHECK(&k[i], kid_wait(&k[i], ms), "child \"%s\" did not exit within %d ms of being woken", k[i].mode, BUDGET_MS);
		KCHECK(&k[i], WIFEXITED(k[i].status) && WEXITSTATUS(k[i].status) == 0, "child \"%s\" %s, expected exit status 0",
		       k[i].mode, kid_status(&k[i]));
		char *err = slurp(k[i].errpath, NULL);
		KCHECK(&k[i], err && !strstr(err, "deadlock"), "child \"%s\": its stderr mentions a deadlock", k[i].mode);
		free(err);
		printf("%-8s exited 0 after %.2f s\n", k[i].mode, (now_ns(CLOCK_MONOTONIC) - k[i].t0) / 1e9);
	}
	CHECK_OK(close(c));
	return test_pass();
}
