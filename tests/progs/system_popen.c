/*
 * system_popen: running commands from threads.
 *   - system(NULL) != 0 (a shell is available); system("true") -> exit
 *     status 0; system("exit 7") -> WIFEXITED with status 7
 *   - popen("echo hi", "r") reads "hi\n", pclose -> 0;
 *     popen("exit 5", "r") pclose -> exit status 5;
 *     popen("cat >/dev/null", "w") accepts writes, pclose -> 0
 *   - done from 3 threads at once, 5 times each, while main waits
 */
#include "common.h"
#include <sys/wait.h>

static void *runner(void *arg)
{
	for (int i = 0; i < 5; i++) {
		int st = system("true");
		CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "system(\"true\") status 0x%x", st);
		st = system("exit 7");
		CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 7, "system(\"exit 7\") status 0x%x, expected exit 7", st);

		FILE *f = popen("echo hi", "r");
		CHECK(f != NULL, "popen(\"echo hi\") failed: %s", strerror(errno));
		char line[64] = "";
		CHECK(fgets(line, sizeof line, f) != NULL, "nothing read from popen(\"echo hi\")");
		CHECK(strcmp(line, "hi\n") == 0, "popen(\"echo hi\") read \"%s\"", line);
		CHECK(fgets(line, sizeof line, f) == NULL, "more than one line from popen(\"echo hi\")");
		st = pclose(f);
		CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "pclose(echo hi) status 0x%x", st);

		f = popen("exit 5", "r");
		CHECK(f != NULL, "popen(\"exit 5\") failed");
		st = pclose(f);
		CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 5, "pclose(exit 5) status 0x%x, expected exit 5", st);

		f = popen("cat >/dev/null", "w");
		CHECK(f != NULL, "popen(\"cat >/dev/null\", \"w\") failed");
		for (int k = 0; k < 100; k++)
			fprintf(f, "line %d of some text for cat\n", k);
		st = pclose(f);
		CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "pclose(cat) status 0x%x", st);
	}
	return NULL;
}

int main(void)
{
	test_begin();
	CHECK(system(NULL) != 0, "system(NULL) says no shell is available");
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		t[i] = spawn(runner, NULL);
	for (int i = 0; i < 3; i++)
		join(t[i]);
	return test_pass();
}
