/*
 * setxid_threads: credentials are per process, although Linux keeps them
 * per OS thread.  glibc's setuid() family signals every OS thread it knows
 * (SIGSETXID) and waits until each has made the same call, so one OS
 * thread that blocks that signal hangs the caller.
 *   - with 4 threads parked on a condvar, 2 spinning and 2 sleeping,
 *     setgid(getgid()), setuid(getuid()), setresgid(-1, -1, -1) and
 *     setresuid(-1, -1, -1) (allowed without privileges) return 0 from the
 *     main thread and from another thread
 *   - every OS thread of the process (/proc/self/task/N/status) then shows
 *     the same Uid and Gid lines
 *   - all of it twice: the second time with every thread blocking every
 *     signal it can (sigfillset), which must not block SIGSETXID
 */
#include "common.h"
#include <sys/types.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stop;

static void *parked(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&m);
	while (!stop)
		pthread_cond_wait(&cv, &m);
	pthread_mutex_unlock(&m);
	return NULL;
}

static void *spinning(void *arg)
{
	(void)arg;
	volatile unsigned long x = 0;
	while (!LOAD(&stop))
		x++;
	return NULL;
}

static void *sleeping(void *arg)
{
	(void)arg;
	while (!LOAD(&stop))
		sleep_ms(2);
	return NULL;
}

static void *setids(void *arg)
{
	(void)arg;
	if (setgid(getgid()) != 0 || setuid(getuid()) != 0)
		return (void *)1;
	if (setresgid(-1, -1, -1) != 0 || setresuid(-1, -1, -1) != 0)
		return (void *)2;
	return NULL;
}

/* The "Uid:" and "Gid:" lines of OS thread dir (in /proc/self/task). */
static void ids_of(const char *dir, char *out, size_t size)
{
	char path[300], line[256];
	snprintf(path, sizeof path, "/proc/self/task/%s/status", dir);
	out[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f)
		return; /* the thread has just gone */
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4))
			strncat(out, line, size - strlen(out) - 1);
	fclose(f);
}

static void check_all_same(void)
{
	char first[600] = "", cur[600];
	DIR *d = opendir("/proc/self/task");
	CHECK(d != NULL, "opendir /proc/self/task: %s", strerror(errno));
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		ids_of(e->d_name, cur, sizeof cur);
		if (!cur[0])
			continue;
		if (!first[0])
			snprintf(first, sizeof first, "%s", cur);
		CHECK(!strcmp(first, cur), "OS thread %s has other credentials:\n%s\nthan another:\n%s", e->d_name, cur, first);
		n++;
	}
	closedir(d);
	CHECK(n >= 1, "no OS thread listed");
}

static void round_of(const char *what)
{
	STORE(&stop, 0);
	pthread_t t[8];
	for (int i = 0; i < 8; i++)
		t[i] = spawn(i < 4 ? parked : i < 6 ? spinning : sleeping, NULL);
	sleep_ms(20);
	CHECK(setids(NULL) == NULL, "%s: set*id from the main thread failed: %s", what, strerror(errno));
	CHECK(join(spawn(setids, NULL)) == NULL, "%s: set*id from another thread failed", what);
	check_all_same();
	pthread_mutex_lock(&m);
	STORE(&stop, 1);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&m);
	for (int i = 0; i < 8; i++)
		join(t[i]);
}

int main(void)
{
	test_begin();
	round_of("signals unblocked");
	sigset_t all;
	sigfillset(&all);
	CHECK_RC(pthread_sigmask(SIG_BLOCK, &all, NULL), 0);
	round_of("every signal blocked");
	return test_pass();
}
