/*
 * stack_overflow: fatal signals in threads (issue 7).
 *
 * Two children, run at the same time:
 *   overflow  a thread named "deep-recursor" with a 64 KiB stack
 *             (pthread_attr_setstacksize) recurses without bound in
 *             sotest_recurse (noinline, a volatile local array, work after
 *             the call: no loop, no tail call)
 *   null      a thread named "crasher" writes through a NULL pointer in
 *             sotest_null_write
 * Each must die of SIGSEGV (WIFSIGNALED, WTERMSIG == SIGSEGV), natively
 * too.  Under the shim their stderr must hold (notes/issue7-spec.md):
 *   overflow  a line with "stack overflow in thread" and "deep-recursor"
 *             (in quotes), and a frame "sotest_recurse+0x..."
 *   null      a line with "fatal signal SIGSEGV" and "crasher" (in
 *             quotes), and a frame "sotest_null_write+0x..."
 */
#include "child.h"

/* ---- the children ---- */

volatile int sotest_stop; /* never set: only keeps the recursion "finite" for the compiler */
int *volatile sotest_null; /* NULL, but the compiler cannot know it */

__attribute__((noinline)) int sotest_recurse(int depth)
{
	volatile char pad[512];
	pad[0] = (char)depth;
	pad[511] = (char)depth;
	if (sotest_stop)
		return pad[0];
	int r = sotest_recurse(depth + 1);
	pad[1] = (char)r; /* after the call: not a tail call */
	return pad[1] + pad[511];
}

__attribute__((noinline)) void sotest_null_write(void)
{
	*sotest_null = 42;
}

static void *recursor(void *arg)
{
	(void)arg;
	CHECK_RC(pthread_setname_np(pthread_self(), "deep-recursor"), 0);
	printf("recursing\n");
	return (void *)(intptr_t)sotest_recurse(0);
}

static void *crasher(void *arg)
{
	(void)arg;
	CHECK_RC(pthread_setname_np(pthread_self(), "crasher"), 0);
	printf("writing through NULL\n");
	sotest_null_write();
	return NULL;
}

static int child(int overflow)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	pthread_attr_t a;
	CHECK_RC(pthread_attr_init(&a), 0);
	if (overflow)
		CHECK_RC(pthread_attr_setstacksize(&a, 64 * 1024), 0);
	pthread_t t;
	CHECK_RC(pthread_create(&t, &a, overflow ? recursor : crasher, NULL), 0);
	join(t);
	printf("the thread returned: no SIGSEGV?\n");
	return 3;
}

/* ---- the parent ---- */

/* The line of `text` that contains both `a` and `b`, or NULL. */
static const char *line_with(const char *text, const char *a, const char *b)
{
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, l);
		int both = strstr(line, a) && strstr(line, b);
		free(line);
		if (both)
			return p;
		p = nl ? nl + 1 : NULL;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "overflow") == 0)
		return child(1);
	if (argc > 1 && strcmp(argv[1], "null") == 0)
		return child(0);
	test_begin();
	int shim = under_shim();
	static const char *const env[] = {NULL};
	static struct kid k[2];
	kid_start(&k[0], "overflow", 0, env);
	kid_start(&k[1], "null", 0, env);
	static const char *const line_word[2] = {"stack overflow in thread ", "fatal signal SIGSEGV"};
	static const char *const thread_name[2] = {"\"deep-recursor\"", "\"crasher\""};
	static const char *const frame[2] = {"sotest_recurse+0x", "sotest_null_write+0x"};
	for (int i = 0; i < 2; i++) {
		KCHECK(&k[i], kid_wait(&k[i], 10000), "child \"%s\" still running after 10 s", k[i].mode);
		KCHECK(&k[i], WIFSIGNALED(k[i].status) && WTERMSIG(k[i].status) == SIGSEGV, "child \"%s\" %s, expected it to die of SIGSEGV",
		       k[i].mode, kid_status(&k[i]));
		if (!shim) {
			printf("native: child \"%s\" died of SIGSEGV\n", k[i].mode);
			continue;
		}
		char *err = slurp(k[i].errpath, NULL);
		KCHECK(&k[i], err != NULL, "the child's stderr file is gone");
		const char *l = line_with(err, line_word[i], thread_name[i]);
		KCHECK(&k[i], l != NULL, "child \"%s\": no stderr line with both \"%s\" and %s", k[i].mode, line_word[i],
		       thread_name[i]);
		KCHECK(&k[i], strstr(err, frame[i]), "child \"%s\": its stderr has no frame \"%s...\"", k[i].mode, frame[i]);
		printf("%s: %.*s\n", k[i].mode, (int)strcspn(l, "\n"), l);
		free(err);
	}
	return test_pass();
}
