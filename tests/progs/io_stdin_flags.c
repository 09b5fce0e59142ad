/*
 * io_stdin_flags: the O_NONBLOCK flag of an open file description that
 * another process can see is never changed behind the program's back.  A
 * runtime may want descriptors non-blocking to poll them, but the flag
 * lives in the file description, which is shared with every process
 * holding it (a shell's terminal, a parent's pipe): setting it there
 * breaks the other side.
 *   - F_GETFL of fds 0, 1 and 2 is recorded at start and must be the same
 *     at the end, after threads wrote to stdout and stderr with blocking
 *     writes and a thread did a blocking read on fd 0 (a pipe this
 *     program put there with dup2, the original stdin saved and restored:
 *     it never reads the stdin it was given); while that reader is
 *     blocked, fd 0 does not show O_NONBLOCK
 *   - the strong version, across processes: the program runs itself
 *     (fork + exec /proc/self/exe with the argument "child") with the
 *     read end of a pipe as stdin and another pipe as stdout, keeping its
 *     own copy of that read end.  The child (under the same LD_PRELOAD
 *     when the test runs under the shim: the environment is inherited)
 *     starts a thread that says "ready" and does a blocking read on stdin
 *     while two other threads keep running.  Meanwhile the parent checks
 *     F_GETFL of its copy of the read end 10 times over 200 ms: no
 *     O_NONBLOCK.  Then it writes a line; the child echoes it on stdout
 *     and exits 0 (having checked its other threads progressed while the
 *     reader waited).  The parent checks the echo, the exit status and
 *     the flag once more.
 * Should the parent fail (or its watchdog fire), it kills the child.
 */
#include "common.h"
#include <fcntl.h>
#include <sys/wait.h>

static int getfl(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	CHECK(fl != -1, "fcntl(%d, F_GETFL) failed: %s", fd, strerror(errno));
	return fl;
}

static void write_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n > 0, "write to fd %d failed: %s", fd, strerror(errno));
		s += n;
		len -= (size_t)n;
	}
}

/* Reads one line (up to and including '\n') with blocking read()s. */
static size_t read_line(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	while (len + 1 < cap) {
		ssize_t n = read(fd, buf + len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n >= 0, "read from fd %d failed: %s", fd, strerror(errno));
		if (n == 0)
			break;
		len++;
		if (buf[len - 1] == '\n')
			break;
	}
	buf[len] = 0;
	return len;
}

/* ---- shared: threads that keep running ---- */

static int stop;
static long ticks;

static void *ticker(void *arg)
{
	while (!LOAD(&stop)) {
		ADD(&ticks, 1);
		sleep_ms(1);
	}
	return NULL;
}

/* ---- the child: echo one line of stdin ---- */

static long ticks_at_read;

static void *child_reader(void *arg)
{
	char line[256];
	write_all(1, "ready\n", 6);
	STORE(&ticks_at_read, LOAD(&ticks));
	size_t n = read_line(0, line, sizeof line);
	CHECK(n > 0 && line[n - 1] == '\n', "child: no full line on stdin (%zu bytes)", n);
	CHECK(LOAD(&ticks) > LOAD(&ticks_at_read), "child: the other threads made no progress while the reader waited on stdin");
	CHECK(!(getfl(0) & O_NONBLOCK), "child: stdin shows O_NONBLOCK after a blocking read");
	write_all(1, "echo: ", 6);
	write_all(1, line, n);
	return NULL;
}

static int child_main(void)
{
	test_begin();
	int fl0 = getfl(0), fl1 = getfl(1);
	CHECK(!(fl0 & O_NONBLOCK), "child: stdin starts with O_NONBLOCK");
	pthread_t tk[2];
	for (int i = 0; i < 2; i++)
		tk[i] = spawn(ticker, NULL);
	join(spawn(child_reader, NULL));
	STORE(&stop, 1);
	for (int i = 0; i < 2; i++)
		join(tk[i]);
	CHECK(getfl(0) == fl0 && getfl(1) == fl1, "child: F_GETFL of stdin/stdout changed: 0x%x/0x%x, were 0x%x/0x%x",
	      getfl(0), getfl(1), fl0, fl1);
	return 0;
}

/* ---- the parent ---- */

static pid_t child_pid;

static void kill_child(void)
{
	if (child_pid > 0) {
		kill(child_pid, SIGKILL);
		waitpid(child_pid, NULL, 0);
	}
}

/* The watchdog (see common.h), killing the child first. */
static void on_alarm(int sig)
{
	if (child_pid > 0)
		kill(child_pid, SIGKILL);
	test_on_alarm(sig);
}

static int reader_started, reader_fed;

static void *stdin_reader(void *arg)
{
	char line[64];
	STORE(&reader_started, 1);
	size_t n = read_line(0, line, sizeof line);
	CHECK(LOAD(&reader_fed), "read on fd 0 returned %zu bytes before anything was written", n);
	CHECK(strcmp(line, "to stdin\n") == 0, "read \"%s\" from fd 0, expected \"to stdin\\n\"", line);
	return NULL;
}

static void *out_writer(void *arg)
{
	char msg[64];
	int n = snprintf(msg, sizeof msg, "a blocking write from thread %ld\n", (long)arg);
	write_all(arg ? 2 : 1, msg, (size_t)n);
	return NULL;
}

static void own_std_fds(void)
{
	int fl[3];
	for (int fd = 0; fd < 3; fd++)
		fl[fd] = getfl(fd);

	pthread_t w[4];
	for (long i = 0; i < 4; i++)
		w[i] = spawn(out_writer, (void *)(i % 2));

	/* A pipe of our own as fd 0 for a while. */
	int saved = dup(0);
	CHECK(saved >= 0, "dup(0) failed: %s", strerror(errno));
	int p[2];
	CHECK_OK(pipe(p));
	CHECK(dup2(p[0], 0) == 0, "dup2 onto fd 0 failed: %s", strerror(errno));
	CHECK_OK(close(p[0]));
	pthread_t r = spawn(stdin_reader, NULL);
	WAIT_FOR(LOAD(&reader_started), 10000, "the stdin reader to start");
	for (int i = 0; i < 5; i++) {
		sleep_ms(20);
		CHECK(!(getfl(0) & O_NONBLOCK), "fd 0 shows O_NONBLOCK while a thread is blocked reading it");
	}
	STORE(&reader_fed, 1);
	write_all(p[1], "to stdin\n", 9);
	join(r);
	CHECK_OK(close(p[1]));
	CHECK(dup2(saved, 0) == 0, "restoring fd 0 failed: %s", strerror(errno));
	CHECK_OK(close(saved));

	for (int i = 0; i < 4; i++)
		join(w[i]);
	for (int fd = 0; fd < 3; fd++)
		CHECK(getfl(fd) == fl[fd], "F_GETFL of fd %d is 0x%x, was 0x%x at start", fd, getfl(fd), fl[fd]);
}

static void child_process(void)
{
	int in[2], out[2];
	CHECK_OK(pipe(in));
	CHECK_OK(pipe(out));
	int fl = getfl(in[0]);
	CHECK(!(fl & O_NONBLOCK), "a new pipe shows O_NONBLOCK");

	pid_t pid = fork();
	CHECK(pid >= 0, "fork failed: %s", strerror(errno));
	if (pid == 0) {
		if (dup2(in[0], 0) != 0 || dup2(out[1], 1) != 1)
			_exit(126);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execl("/proc/self/exe", "io_stdin_flags", "child", (char *)NULL);
		_exit(127);
	}
	child_pid = pid;
	CHECK_OK(close(out[1]));

	char line[256];
	read_line(out[0], line, sizeof line);
	CHECK(strcmp(line, "ready\n") == 0, "the child said \"%s\", expected \"ready\\n\"", line);
	/* The child's reader is (about to be) blocked on its stdin: our copy
	 * of that pipe's read end shares the file description. */
	for (int i = 0; i < 10; i++) {
		sleep_ms(20);
		int now = getfl(in[0]);
		CHECK(!(now & O_NONBLOCK), "F_GETFL of the pipe the child is blocked reading shows O_NONBLOCK (0x%x, was 0x%x)", now, fl);
	}
	write_all(in[1], "hello from the parent 4242\n", 27);
	read_line(out[0], line, sizeof line);
	CHECK(strcmp(line, "echo: hello from the parent 4242\n") == 0, "the child echoed \"%s\"", line);
	CHECK(read_line(out[0], line, sizeof line) == 0, "the child wrote more: \"%s\"", line);

	int st;
	pid_t w;
	while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	CHECK(w == pid, "waitpid failed: %s", strerror(errno));
	child_pid = 0;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child ended with status 0x%x, expected exit 0", st);
	CHECK(getfl(in[0]) == fl, "F_GETFL of the child's stdin pipe is 0x%x after it exited, was 0x%x", getfl(in[0]), fl);
	close(in[0]);
	close(in[1]);
	close(out[0]);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child_main();
	test_begin();
	atexit(kill_child);
	install_handler(SIGALRM, on_alarm, 0);
	own_std_fds();
	child_process();
	return test_pass();
}
