/*
 * deadlock_cycle: deadlock detection (issue 7).
 *
 * Child mode "cycle": two threads, "locker-a" and "locker-b", take two
 * mutexes in opposite orders with a barrier in between, so both block for
 * good; main blocks in pthread_join.  The child first prints the mutexes'
 * addresses ("mutex A %p", "mutex B %p").  Under the shim every thread is
 * asleep with nothing that could wake one: the child must exit with
 * status 2 within 5 s, and its stderr (no GMP_DUMP_FILE) must hold the
 * line "all threads are asleep - deadlock!", a dump whose header ends
 * ": deadlock", and a "lock cycle:" line naming both mutexes (as %p
 * prints them) and both threads.  Natively the child hangs: the parent
 * checks it is still alive after 2 s and kills it.
 *
 * Child mode "cycle-off" (GMP_DEADLOCK=0): the same deadlock, but
 * detection is off: under the shim too the child must still be running
 * after 2 s (and print nothing about a deadlock).
 *
 * The two children run at the same time.  They install no signal handler
 * (a handler could wake a thread: the runtime must not call that a
 * deadlock), so they do not use test_begin(); run.sh's timeout guards them.
 */
#include "child.h"

/* ---- the child ---- */

static pthread_mutex_t mutex_a = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t mutex_b = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t both_hold_one;

struct locker {
	const char *name;
	pthread_mutex_t *first, *second;
};

static void *locker(void *arg)
{
	const struct locker *l = arg;
	CHECK_RC(pthread_setname_np(pthread_self(), l->name), 0);
	CHECK_RC(pthread_mutex_lock(l->first), 0);
	int rc = pthread_barrier_wait(&both_hold_one);
	CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD, "pthread_barrier_wait: %s", err_name(rc));
	CHECK_RC(pthread_mutex_lock(l->second), 0); /* never returns */
	printf("%s got its second mutex: no deadlock?\n", l->name);
	exit(3);
}

static int child(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("mutex A %p\nmutex B %p\n", (void *)&mutex_a, (void *)&mutex_b);
	CHECK_RC(pthread_barrier_init(&both_hold_one, NULL, 2), 0);
	static const struct locker la = {"locker-a", &mutex_a, &mutex_b};
	static const struct locker lb = {"locker-b", &mutex_b, &mutex_a};
	pthread_t a = spawn(locker, (void *)&la);
	pthread_t b = spawn(locker, (void *)&lb);
	join(a);
	join(b);
	printf("both lockers returned: no deadlock?\n");
	return 3;
}

/* ---- the parent ---- */

/* `text` has a line that is exactly `line`. */
static int has_line(const char *text, const char *line)
{
	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && (p[strlen(line)] == '\n' || !p[strlen(line)]))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "cycle") == 0 || strcmp(argv[1], "cycle-off") == 0))
		return child();
	test_begin();
	int shim = under_shim();

	static const char *const env_on[] = {NULL};
	static const char *const env_off[] = {"GMP_DEADLOCK=0", NULL};
	static struct kid on, off;
	kid_start(&on, "cycle", 0, env_on);
	kid_start(&off, "cycle-off", 0, env_off);
	KCHECK(&on, kid_read_until(&on, "mutex B ", 5000) && kid_read_until(&on, "\n", 1000),
	       "the child did not print the mutex addresses");
	char a[64] = "", b[64] = "";
	const char *l = line_starting(on.out_text, "mutex A ");
	KCHECK(&on, l && sscanf(l, "mutex A %63s", a) == 1, "no \"mutex A\" line");
	l = line_starting(on.out_text, "mutex B ");
	KCHECK(&on, l && sscanf(l, "mutex B %63s", b) == 1 && strchr(l, '\n'), "no \"mutex B\" line");

	/* GMP_DEADLOCK=0 (and natively): still blocked after 2 s. */
	int ended = kid_wait(&off, 2000);
	KCHECK(&off, !ended, "with GMP_DEADLOCK=0 the deadlocked child did not stay blocked: it %s within 2 s", kid_status(&off));
	kid_kill(&off);
	char *err = slurp(off.errpath, NULL);
	KCHECK(&off, err && !strstr(err, "deadlock"), "with GMP_DEADLOCK=0 the child's stderr mentions a deadlock");
	free(err);

	if (!shim) {
		ended = kid_wait(&on, 2000);
		KCHECK(&on, !ended, "natively the deadlocked child %s", kid_status(&on));
		kid_kill(&on);
		printf("native: both children still blocked after 2 s\n");
		return test_pass();
	}

	ended = kid_wait(&on, 5000);
	KCHECK(&on, ended, "the deadlocked child was still running after 5 s (no deadlock detected)");
	KCHECK(&on, WIFEXITED(on.status) && WEXITSTATUS(on.status) == 2, "the deadlocked child %s, expected exit status 2",
	       kid_status(&on));
	printf("the deadlocked child exited with status 2 after %.2f s\n", (now_ns(CLOCK_MONOTONIC) - on.t0) / 1e9);

	err = slurp(on.errpath, NULL);
	KCHECK(&on, err != NULL, "the child's stderr file is gone");
	KCHECK(&on, has_line(err, "all threads are asleep - deadlock!"),
	       "stderr has no line \"all threads are asleep - deadlock!\"");
	const char *h = line_starting(err, "gmpthread: dump of process ");
	KCHECK(&on, h != NULL, "stderr has no dump (no line starting \"gmpthread: dump of process \")");
	size_t hl = strcspn(h, "\n");
	KCHECK(&on, hl > 10 && strncmp(h + hl - 10, ": deadlock", 10) == 0, "the dump's header line does not end with \": deadlock\"");
	const char *c = line_starting(err, "lock cycle: ");
	KCHECK(&on, c != NULL, "stderr has no line starting \"lock cycle: \"");
	char *cl = strndup(c, strcspn(c, "\n"));
	char ma[80], mb[80];
	snprintf(ma, sizeof ma, "mutex %s ", a);
	snprintf(mb, sizeof mb, "mutex %s ", b);
	KCHECK(&on, strstr(cl, ma), "the lock cycle line does not name \"%s\" (mutex A): %s", ma, cl);
	KCHECK(&on, strstr(cl, mb), "the lock cycle line does not name \"%s\" (mutex B): %s", mb, cl);
	KCHECK(&on, strstr(cl, "\"locker-a\"") && strstr(cl, "\"locker-b\""),
	       "the lock cycle line does not name both threads \"locker-a\" and \"locker-b\": %s", cl);
	printf("%s\n", cl);
	free(cl);
	free(err);
	return test_pass();
}
