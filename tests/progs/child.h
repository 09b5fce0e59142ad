/*
 * child.h -- running a conformance program again as a child process, for
 * the programs that watch what the runtime does to a whole process (dumps,
 * deadlock reports, crash reports, traces): dump_threads, deadlock_cycle,
 * deadlock_none, trace_json, stack_overflow, schedtrace.  Includes
 * common.h (include this header instead, first).
 *
 * Such a program's main() runs its child part when argv[1] names a mode,
 * and otherwise starts itself as `<its file> <mode>` and checks the child.
 *
 *   under_shim()          1 if libgmpthread.so is mapped into this process
 *   slurp(path, &len)     a whole file as a string (NULL: cannot open it)
 *   tmp_path(what)        /tmp/<test>-<pid>-<what>, removed at exit
 *   self_exe()            this program's file (/proc/self/exe)
 *   struct kid            one child: pid, stdout pipe, stderr file, status
 *   kid_start(k, mode, with_stdin, env)  fork and exec `<file> <mode>`
 *                         with default signals, an empty signal mask, no
 *                         core file, files capped at CHILD_FSIZE, and the
 *                         GMP_* knobs these tests control replaced by env
 *   kid_read_until(k, needle, ms)  read its stdout until needle appears
 *   kid_drain(k)          read what its stdout holds now
 *   kid_wait(k, ms)       wait for its end, until k->t0 + ms
 *   kid_kill(k)           SIGKILL it (if still running) and reap it
 *   kid_status(k)         "exited with status N", "died of signal ..."
 *   echo_text(text)       text to stderr (a huge one cut in the middle)
 *   kid_show(k)           its status, stdout and stderr to our stderr
 *   KCHECK(k, cond, fmt, ...)  CHECK that first shows the child (kid_show)
 *   next_line(p) / line_starting(text, prefix)  walking lines of a text
 *
 * At exit (a FAIL too) every child still running is killed and every
 * tmp_path() file removed.
 */
#ifndef PROGS_CHILD_H
#define PROGS_CHILD_H

#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>

extern char **environ;

/* Under the shim: libgmpthread.so is mapped into this process. */
static inline int under_shim(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	CHECK(f != NULL, "cannot open /proc/self/maps: %s", strerror(errno));
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	while (!found && getline(&line, &cap, f) > 0)
		found = strstr(line, "/libgmpthread.so") != NULL;
	free(line);
	fclose(f);
	return found;
}

/* A whole file as a NUL-terminated string (malloc()ed, its length in
 * *lenp unless lenp is NULL); NULL if it cannot be opened. */
static inline char *slurp(const char *path, size_t *lenp)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t len = 0, cap = 1 << 16;
	char *s = malloc(cap);
	CHECK(s != NULL, "malloc failed");
	for (;;) {
		if (cap - len < 2) {
			cap *= 2;
			s = realloc(s, cap);
			CHECK(s != NULL, "realloc failed");
		}
		ssize_t n = read(fd, s + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	s[len] = 0;
	if (lenp)
		*lenp = len;
	return s;
}

struct kid {
	const char *mode;     /* argv[1] of the child */
	pid_t pid;
	int out;              /* read end of the child's stdout */
	int in;               /* write end of the child's stdin, -1: /dev/null */
	const char *errpath;  /* the child's stderr goes to this file */
	char out_text[16384]; /* what the child printed so far */
	size_t out_len;
	int status, done, killed;
	int64_t t0;           /* CLOCK_MONOTONIC at the fork, ns */
};

#define MAX_TMP 16
#define CHILD_FSIZE (16 << 20)
#define MAX_KIDS 8
static char tmp_paths[MAX_TMP][200];
static int n_tmp;
static struct kid *kids[MAX_KIDS];
static int n_kids;

/* At exit (a FAIL too): no child left running, no temporary file left. */
static inline void cleanup(void)
{
	for (int i = 0; i < n_kids; i++)
		if (kids[i]->pid > 0 && !kids[i]->done) {
			kill(kids[i]->pid, SIGKILL);
			waitpid(kids[i]->pid, NULL, 0);
			kids[i]->done = 1;
		}
	for (int i = 0; i < n_tmp; i++)
		unlink(tmp_paths[i]);
}

/* Registers cleanup() with atexit (once). */
static inline void cleanup_at_exit(void)
{
	static int registered;
	if (!registered) {
		registered = 1;
		atexit(cleanup);
	}
}

/* /tmp/<test>-<pid>-<what>, removed at exit. */
static inline const char *tmp_path(const char *what)
{
	CHECK(n_tmp < MAX_TMP, "too many temporary files");
	cleanup_at_exit();
	char *p = tmp_paths[n_tmp++];
	snprintf(p, sizeof tmp_paths[0], "/tmp/%s-%d-%s", test_name(), (int)getpid(), what);
	unlink(p);
	return p;
}

/* This program's file: what /proc/self/exe links to. */
static inline const char *self_exe(void)
{
	static char self[4096];
	if (!self[0]) {
		ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
		CHECK(sl > 0, "readlink(/proc/self/exe): %s", strerror(errno));
		self[sl] = 0;
	}
	return self;
}

/* The child's environment: ours without the knobs these tests control
 * (and without any variable `add` sets), plus `add` ("NAME=VALUE"...). */
static inline char **child_env(const char *const *add)
{
	static const char *const drop[] = {"GMP_DUMP_FILE=", "GMP_DUMP_SIGNAL=", "GMP_DEADLOCK=", "GMP_DEBUG=",
					   "GMP_TRACE=", "GMP_TRACE_BUF=", NULL};
	size_t n = 0, na = 0;
	while (environ[n])
		n++;
	while (add && add[na])
		na++;
	char **e = calloc(n + na + 1, sizeof *e);
	CHECK(e != NULL, "calloc failed");
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		int skip = 0;
		for (int d = 0; drop[d] && !skip; d++)
			skip = strncmp(environ[i], drop[d], strlen(drop[d])) == 0;
		for (size_t a = 0; a < na && !skip; a++) {
			size_t l = (size_t)(strchr(add[a], '=') - add[a]) + 1;
			skip = strncmp(environ[i], add[a], l) == 0;
		}
		if (!skip)
			e[j++] = environ[i];
	}
	for (size_t a = 0; a < na; a++)
		e[j++] = (char *)add[a];
	e[j] = NULL;
	return e;
}

/* Runs this program again (its file) as `<path> <mode>`, with the
 * environment `env` adds (LD_PRELOAD and GMP_* are inherited), stdout to
 * a pipe (k->out), stderr to a file (k->errpath), stdin from a pipe
 * (k->in) or /dev/null.  SIGQUIT/SIGSEGV/... at their default, nothing
 * blocked, no core file, no file written past CHILD_FSIZE. */
static inline void kid_start(struct kid *k, const char *mode, int with_stdin, const char *const *env)
{
	memset(k, 0, sizeof *k);
	k->mode = mode;
	k->in = -1;
	CHECK(n_kids < MAX_KIDS, "too many children");
	cleanup_at_exit();

	const char *self = self_exe();
	char what[64];
	snprintf(what, sizeof what, "%s.err", mode);
	k->errpath = tmp_path(what);
	int efd = open(k->errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(efd >= 0, "open(%s): %s", k->errpath, strerror(errno));
	int op[2], ip[2] = {-1, -1};
	CHECK_OK(pipe2(op, O_CLOEXEC));
	if (with_stdin)
		CHECK_OK(pipe2(ip, O_CLOEXEC));
	else
		CHECK((ip[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0, "open(/dev/null): %s", strerror(errno));
	char **envp = child_env(env);
	char *argv[] = {(char *)self, (char *)mode, NULL};

	fflush(stdout);
	fflush(stderr);
	k->t0 = now_ns(CLOCK_MONOTONIC);
	pid_t pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		if (dup2(ip[0], 0) < 0 || dup2(op[1], 1) < 0 || dup2(efd, 2) < 0)
			_exit(126);
		struct rlimit no_core = {0, 0}, fsize = {CHILD_FSIZE, CHILD_FSIZE};
		setrlimit(RLIMIT_CORE, &no_core);
		setrlimit(RLIMIT_FSIZE, &fsize); /* a runaway writer dies of SIGXFSZ */
		static const int dfl[] = {SIGQUIT, SIGSEGV, SIGUSR1, SIGPIPE, SIGINT, SIGTERM, SIGALRM};
		for (size_t i = 0; i < sizeof dfl / sizeof dfl[0]; i++)
			signal(dfl[i], SIG_DFL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* By its path, not /proc/self/exe: the kernel names the process
		 * (comm) after the file executed. */
		execve(self, argv, envp);
		execve("/proc/self/exe", argv, envp);
		_exit(127);
	}
	close(efd);
	close(op[1]);
	close(ip[0]);
	free(envp);
	k->pid = pid;
	k->out = op[0];
	k->in = ip[1];
	kids[n_kids++] = k;
}

/* Reads what the child printed; 0 at EOF. */
static inline int kid_read_some(struct kid *k)
{
	char buf[4096];
	ssize_t n = read(k->out, buf, sizeof buf);
	if (n < 0 && errno == EINTR)
		return 1;
	if (n <= 0)
		return 0;
	size_t room = sizeof k->out_text - 1 - k->out_len;
	if ((size_t)n > room)
		n = (ssize_t)room;
	memcpy(k->out_text + k->out_len, buf, (size_t)n);
	k->out_len += (size_t)n;
	k->out_text[k->out_len] = 0;
	return 1;
}

/* Reads the child's stdout until it contains `needle` (1), or EOF or
 * `ms` milliseconds pass (0). */
static inline int kid_read_until(struct kid *k, const char *needle, int ms)
{
	int64_t end = now_ns(CLOCK_MONOTONIC) + ms * 1000000LL;
	while (!strstr(k->out_text, needle)) {
		int64_t left = (end - now_ns(CLOCK_MONOTONIC)) / 1000000;
		if (left <= 0)
			return 0;
		struct pollfd p = {.fd = k->out, .events = POLLIN};
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		CHECK(r >= 0, "poll: %s", strerror(errno));
		if (r == 0 || !kid_read_some(k))
			return strstr(k->out_text, needle) != NULL;
	}
	return 1;
}

/* Whatever the child printed that is not read yet (no waiting). */
static inline void kid_drain(struct kid *k)
{
	for (;;) {
		struct pollfd p = {.fd = k->out, .events = POLLIN};
		if (poll(&p, 1, 0) <= 0 || !kid_read_some(k))
			break;
	}
}

/* Waits until the child ends (1) or CLOCK_MONOTONIC passes k->t0 + ms (0). */
static inline int kid_wait(struct kid *k, int64_t ms)
{
	while (!k->done) {
		pid_t r = waitpid(k->pid, &k->status, WNOHANG);
		if (r == k->pid) {
			k->done = 1;
			break;
		}
		CHECK(r == 0 || (r < 0 && errno == EINTR), "waitpid(%d): %s", (int)k->pid, strerror(errno));
		if (now_ns(CLOCK_MONOTONIC) >= k->t0 + ms * 1000000LL)
			return 0;
		sleep_ms(2);
	}
	return 1;
}

/* Kills the child if it still runs (and reaps it). */
static inline void kid_kill(struct kid *k)
{
	if (k->done)
		return;
	kill(k->pid, SIGKILL);
	waitpid(k->pid, &k->status, 0);
	k->done = 1;
	k->killed = 1;
}

/* How the child ended, or that it has not (a static buffer). */
static inline const char *kid_status(const struct kid *k)
{
	static char s[128];
	if (!k->done)
		snprintf(s, sizeof s, "still running");
	else if (k->killed)
		snprintf(s, sizeof s, "was still running: killed by the test");
	else if (WIFEXITED(k->status))
		snprintf(s, sizeof s, "exited with status %d", WEXITSTATUS(k->status));
	else if (WIFSIGNALED(k->status))
		snprintf(s, sizeof s, "died of signal %d (%s)%s", WTERMSIG(k->status), sigabbrev_np(WTERMSIG(k->status)),
			 WTERMSIG(k->status) == SIGXFSZ ? ": it wrote a file past the test's 16 MiB limit" : "");
	else
		snprintf(s, sizeof s, "wait status %#x", k->status);
	return s;
}

/* Writes `text` to stderr, only its first 24 KiB and last 8 KiB if it is
 * longer (a runaway child's output), ending with a newline. */
static inline void echo_text(const char *text)
{
	size_t len = strlen(text);
	if (len > 32768) {
		fprintf(stderr, "%.*s\n[... %zu bytes left out ...]\n", 24576, text, len - 32768);
		text += len - 8192;
		len = 8192;
	}
	fprintf(stderr, "%s%s", text, len && text[len - 1] != '\n' ? "\n" : "");
}

/* Echoes the child's status, stdout and stderr to our stderr (kills it
 * first if it still runs). */
static inline void kid_show(struct kid *k)
{
	kid_kill(k);
	kid_drain(k);
	char *err = slurp(k->errpath, NULL);
	fflush(stdout);
	fprintf(stderr, "---- child \"%s\" (pid %d) %s; its stdout:\n", k->mode, (int)k->pid, kid_status(k));
	echo_text(k->out_text);
	fprintf(stderr, "---- its stderr:\n");
	echo_text(err ? err : "(no file)");
	fprintf(stderr, "---- end of child \"%s\"\n", k->mode);
	fflush(stderr);
	free(err);
}

/* CHECK that shows the child's output first when it fails. */
#define KCHECK(k, cond, ...) do { if (!(cond)) { kid_show(k); FAIL(__VA_ARGS__); } } while (0)

/* ---- reading what a child printed ---- */

/* The start of the line after the one at `p`, or NULL after the last. */
static inline const char *next_line(const char *p)
{
	const char *nl = strchr(p, '\n');
	return nl ? nl + 1 : NULL;
}

/* The line of `text` that starts with `prefix`, or NULL. */
static inline const char *line_starting(const char *text, const char *prefix)
{
	for (const char *p = text; p && *p; p = next_line(p))
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			return p;
	return NULL;
}

#endif
