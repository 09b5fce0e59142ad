/*
 * sem_named_fork: named semaphores shared between processes.
 *   - sem_open(O_CREAT|O_EXCL) creates; again with O_EXCL -> EEXIST;
 *     sem_open of a missing name without O_CREAT -> ENOENT
 *   - parent and a fork()ed child ping-pong 500 times through two named
 *     semaphores; the child reopens them by name (a different mapping, same
 *     semaphore), the parent waits with timeouts so a lost wakeup fails
 *   - a thread in the parent does the parent's side (threads + fork)
 *   - sem_getvalue across processes; sem_close; sem_unlink, after which the
 *     name is gone (ENOENT) while open handles still work
 */
/* shim-skip: S2: errno read through an address cached before a migration (waitpid parks the main thread): GMP_TLS=shared does not promise it */
#include "common.h"
#include <fcntl.h>
#include <semaphore.h>
#include <sys/wait.h>

#define ROUNDS 500

static char name_ping[64], name_pong[64];

static void child(void)
{
	test_watchdog(20);
	sem_t *ping = sem_open(name_ping, 0);
	sem_t *pong = sem_open(name_pong, 0);
	if (ping == SEM_FAILED || pong == SEM_FAILED) {
		fprintf(stderr, "FAIL %s (child): sem_open by name failed: %s\n", test_name(), strerror(errno));
		_exit(1);
	}
	for (int i = 0; i < ROUNDS; i++) {
		struct timespec dl = deadline_in(CLOCK_REALTIME, 10000);
		if (sem_timedwait(ping, &dl) != 0) {
			fprintf(stderr, "FAIL %s (child): round %d: sem_timedwait: %s\n", test_name(), i, strerror(errno));
			_exit(1);
		}
		sem_post(pong);
	}
	sem_close(ping);
	sem_close(pong);
	_exit(0);
}

static sem_t *ping, *pong;

static void *parent_side(void *arg)
{
	for (int i = 0; i < ROUNDS; i++) {
		CHECK_OK(sem_post(ping));
		struct timespec dl = deadline_in(CLOCK_REALTIME, 10000);
		errno = 0;
		CHECK(sem_timedwait(pong, &dl) == 0, "round %d: no reply from the child process (%s)", i, err_name(errno));
	}
	return NULL;
}

int main(void)
{
	test_begin();
	snprintf(name_ping, sizeof name_ping, "/progs-ping-%d", (int)getpid());
	snprintf(name_pong, sizeof name_pong, "/progs-pong-%d", (int)getpid());
	sem_unlink(name_ping);
	sem_unlink(name_pong);

	errno = 0;
	CHECK(sem_open(name_ping, 0) == SEM_FAILED && errno == ENOENT, "sem_open of a missing name: errno %s, expected ENOENT", err_name(errno));
	ping = sem_open(name_ping, O_CREAT | O_EXCL, 0600, 0);
	CHECK(ping != SEM_FAILED, "sem_open(O_CREAT|O_EXCL) failed: %s", strerror(errno));
	pong = sem_open(name_pong, O_CREAT | O_EXCL, 0600, 0);
	CHECK(pong != SEM_FAILED, "sem_open(O_CREAT|O_EXCL) failed: %s", strerror(errno));
	errno = 0;
	CHECK(sem_open(name_ping, O_CREAT | O_EXCL, 0600, 0) == SEM_FAILED && errno == EEXIST,
	      "second sem_open(O_CREAT|O_EXCL): errno %s, expected EEXIST", err_name(errno));
	sem_t *again = sem_open(name_ping, O_CREAT, 0600, 5); /* exists: value not changed */
	CHECK(again != SEM_FAILED, "sem_open(O_CREAT) of an existing name failed");
	int v = -1;
	CHECK_OK(sem_getvalue(again, &v));
	CHECK(v == 0, "reopened semaphore value %d, expected 0 (O_CREAT must not reset it)", v);

	pid_t pid = fork();
	CHECK(pid >= 0, "fork failed");
	if (pid == 0)
		child();
	join(spawn(parent_side, NULL));
	int st;
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid failed");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed (status 0x%x)", st);

	/* Posts made through one handle are seen through another. */
	CHECK_OK(sem_post(again));
	CHECK_OK(sem_getvalue(ping, &v));
	CHECK(v == 1, "value via another handle %d, expected 1", v);
	CHECK_OK(sem_trywait(ping));
	CHECK_ERRNO(sem_trywait(ping), EAGAIN);

	CHECK_OK(sem_unlink(name_ping));
	CHECK_OK(sem_unlink(name_pong));
	CHECK_ERRNO(sem_unlink(name_ping), ENOENT);
	errno = 0;
	CHECK(sem_open(name_ping, 0) == SEM_FAILED && errno == ENOENT, "sem_open after unlink: errno %s, expected ENOENT", err_name(errno));
	CHECK_OK(sem_post(ping)); /* open handle still works */
	CHECK_OK(sem_wait(ping));
	CHECK_OK(sem_close(again));
	CHECK_OK(sem_close(ping));
	CHECK_OK(sem_close(pong));
	return test_pass();
}
