/*
 * fd_numbering: nobody else takes a descriptor number the program expects.
 *
 * The kernel gives the lowest free number, and programs count on it: a
 * shell runs "cmd >file" as close(1) then open/dup into 1.  Natively no
 * other thread opens anything meanwhile.  Under an M:N runtime its own
 * threads (a monitor reading /proc, a poller made lazily, a library
 * loaded in the background) must not either.
 *
 *   - a fresh open() returns the lowest number free at start-up, with
 *     threads alive and I/O waiters parked (the poller in use);
 *   - two threads compute (a runtime preempts them, which may involve
 *     looking at /proc) while main closes a descriptor and opens one 4,000
 *     times for 0.4 s: every open returns the number just closed;
 *   - no descriptor below 64 is an epoll or eventfd instance the program
 *     did not make.
 */
#include "common.h"
#include <fcntl.h>
#include <sys/stat.h>

static int stop;
static int pipefd[2];

static void *spinner(void *arg)
{
	volatile unsigned long x = (unsigned long)(uintptr_t)arg;
	while (!LOAD(&stop))
		for (int i = 0; i < 100000; i++)
			x = x * 6364136223846793005UL + 1;
	return NULL;
}

static void *reader(void *arg)
{
	(void)arg;
	char c;
	CHECK(read(pipefd[0], &c, 1) == 1, "read from the pipe: %s", strerror(errno));
	return NULL;
}

/* F_GETFD fails only on a descriptor that is not open (errno is not read:
 * under GMP_TLS=shared a cached errno address may be another thread's). */
static int lowest_free(void)
{
	for (int fd = 0;; fd++)
		if (fcntl(fd, F_GETFD) < 0)
			return fd;
}

static void check_no_stray(void)
{
	for (int fd = 0; fd < 64; fd++) {
		char path[64], link[256];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(path, link, sizeof link - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		CHECK(strstr(link, "[eventpoll]") == NULL && strstr(link, "[eventfd]") == NULL,
		      "fd %d is %s, which the program did not open", fd, link);
	}
}

int main(void)
{
	test_begin();
	CHECK_OK(pipe(pipefd));
	pthread_t r[4];
	for (int i = 0; i < 4; i++)
		r[i] = spawn(reader, NULL);
	usleep(50 * 1000); /* the readers park; a runtime's monitor starts */
	int want = lowest_free();
	int fd = open("/dev/null", O_RDONLY);
	CHECK(fd == want, "open returned %d, the lowest free number is %d", fd, want);
	check_no_stray();

	pthread_t s[2];
	for (int i = 0; i < 2; i++)
		s[i] = spawn(spinner, (void *)(uintptr_t)(i + 1));
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rounds = 0;
	do {
		for (int i = 0; i < 100; i++, rounds++) {
			CHECK_OK(close(fd));
			int again = open("/dev/null", O_RDONLY);
			CHECK(again == fd, "round %d: closed %d, open returned %d (someone took the number)",
			      rounds, fd, again);
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 400 || rounds < 4000);
	STORE(&stop, 1);
	for (int i = 0; i < 2; i++)
		join(s[i]);
	check_no_stray();
	CHECK(write(pipefd[1], "xxxx", 4) == 4, "write to the pipe");
	for (int i = 0; i < 4; i++)
		join(r[i]);
	return test_pass();
}
