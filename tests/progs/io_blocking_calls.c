/*
 * io_blocking_calls: calls that cannot be polled (regular files, locks,
 * waitpid, sigwait, opening a FIFO) block in the kernel; while they do,
 * the program's other threads must keep running -- with GMP_MAXPROCS=1
 * too.  Two compute threads (a little arithmetic, then sched_yield, in a
 * loop, counting iterations) run throughout.
 *   - a 32 MiB regular file (written to /tmp, flushed and dropped from the
 *     page cache so that reading it goes to the disk) is read by one
 *     thread with read() and then pread() in 64 KiB chunks, checksums
 *     compared with what was written; both compute threads must make
 *     progress while the reader is at it (it reads further passes, each
 *     checked, until they have, giving up after 10 s)
 *   - flock(LOCK_EX) through a separately open()ed description blocks
 *     while another thread holds LOCK_EX, and succeeds only after that
 *     thread released it 300 ms later
 *   - fcntl(F_SETLKW) blocks while a forked child holds the record lock,
 *     and succeeds only after the child released it 300 ms later
 *   - waitpid() on a child that exits 7 300 ms later
 *   - sigwait() in a thread for a SIGUSR1 (blocked in every thread) that
 *     main sends with pthread_kill 200 ms later
 *   - open() of a FIFO for reading blocks until another thread opens the
 *     write end 200 ms later; the bytes written then arrive
 * In each case the compute threads progressed between the call's start
 * and its return.  "Later" counts from the moment the waiting thread says
 * it is about to block (a flag in shared memory, seen by forked children
 * too), so every wait is that long however late that thread got to run;
 * and the release also waits (up to 5 s more) until the compute threads
 * have progressed since, so that a loaded machine that leaves them
 * unscheduled for a while does not fail the test -- a runtime that keeps
 * them from running while the call blocks still fails it (or hangs until
 * the watchdog, when the releasing side is a thread that cannot run).
 * The data and lock files are unlinked as soon as they are open (the test
 * works on descriptors), the FIFO as soon as both ends are open; children
 * are reaped at the end.  On a failure an atexit handler, and on the
 * watchdog alarm its handler, kill the children and remove what is left.
 */
/* shim-skip: S2: errno read through an address cached before a migration: GMP_TLS=shared does not promise it */
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define FILE_SIZE (32u << 20)
#define CHUNK (64u << 10)
#define NCHUNKS (FILE_SIZE / CHUNK)

static char fifo_path[64];
static int data_fd;
static int lock_fd[3]; /* three descriptions of one file: holder, waiter, fcntl */
static pid_t children[2];

static void cleanup(void)
{
	unlink(fifo_path);
	for (int i = 0; i < 2; i++)
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
		}
}

/* The watchdog (see common.h), tidying first (async-signal-safe calls). */
static void on_alarm(int sig)
{
	unlink(fifo_path);
	for (int i = 0; i < 2; i++)
		if (children[i] > 0)
			kill(children[i], SIGKILL);
	test_on_alarm(sig);
}

/* A new file in /tmp, unlinked at once: nothing to leave behind. */
static int temp_file(const char *what)
{
	char path[64];
	snprintf(path, sizeof path, "/tmp/io_blocking_calls.%d.%s", (int)getpid(), what);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0, "open(%s) failed: %s", path, strerror(errno));
	CHECK_OK(unlink(path));
	return fd;
}

/* ---- compute threads ---- */

static int stop;
static long *work; /* [2], in memory shared with forked children */
static volatile unsigned long sink;

static void *compute(void *arg)
{
	long i = (long)arg;
	while (!LOAD(&stop)) {
		unsigned long x = sink;
		for (int k = 0; k < 20000; k++)
			x = x * 6364136223846793005UL + 1442695040888963407UL;
		sink = x;
		ADD(&work[i], 1);
		sched_yield();
	}
	return NULL;
}

static long progress(void)
{
	return LOAD(&work[0]) + LOAD(&work[1]);
}

#define CHECK_PROGRESS(p0, what) do { \
	long p1_ = progress(); \
	CHECK(p1_ > (p0), "the compute threads made no progress while %s", (what)); \
} while (0)

/* ---- "about to block" flags, in memory shared with forked children ---- */

enum { W_FLOCK, W_FCNTL, W_WAITPID, W_SIGWAIT, W_FIFO, W_COUNT };
static long *waiting; /* [W_COUNT]: 1 + the progress() seen just before blocking */

/* Called by a thread just before a call that blocks; returns progress(). */
static long about_to_block(int which)
{
	long p0 = progress();
	STORE(&waiting[which], p0 + 1);
	return p0;
}

/*
 * The releasing side: waits until the thread said it is about to block,
 * then ms more, and (up to 5 s) until the compute threads progressed
 * since -- so that a loaded machine that runs nobody for a while does not
 * fail the test.  Returns 0 if the thread never said it (20 s); safe in a
 * forked child.
 */
static int release_after(int which, int ms)
{
	int64_t end = now_ns(CLOCK_MONOTONIC) + 20 * NSEC_PER_SEC;
	long w;
	while ((w = LOAD(&waiting[which])) == 0) {
		if (now_ns(CLOCK_MONOTONIC) > end)
			return 0;
		sleep_ms(1);
	}
	sleep_ms(ms);
	end = now_ns(CLOCK_MONOTONIC) + 5 * NSEC_PER_SEC;
	while (progress() <= w - 1 && now_ns(CLOCK_MONOTONIC) < end)
		sleep_ms(1);
	return 1;
}

/* ---- a big regular file ---- */

static uint64_t chunk_sum(const unsigned char *p, size_t len, uint64_t index)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ index;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ULL;
	}
	return h * (2 * index + 1); /* summed over chunks: order does not matter */
}

static uint64_t file_sum;

static void write_file(void)
{
	int fd = data_fd = temp_file("dat");
	unsigned char *buf = malloc(CHUNK);
	CHECK(buf != NULL, "malloc failed");
	uint64_t s = 88172645463325252ULL;
	for (uint64_t k = 0; k < NCHUNKS; k++) {
		for (size_t i = 0; i < CHUNK; i += 8) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			memcpy(buf + i, &s, 8);
		}
		file_sum += chunk_sum(buf, CHUNK, k);
		CHECK(write(fd, buf, CHUNK) == (ssize_t)CHUNK, "write to the data file failed: %s", strerror(errno));
	}
	free(buf);
	CHECK_OK(fdatasync(fd));
	/* Out of the page cache: the reads below go to the disk. */
	CHECK_RC(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek failed: %s", strerror(errno));
}

static void *file_reader(void *arg)
{
	int fd = data_fd;
	unsigned char *buf = malloc(CHUNK);
	CHECK(buf != NULL, "malloc failed");
	long w0[2] = {LOAD(&work[0]), LOAD(&work[1])};
	int64_t end = now_ns(CLOCK_MONOTONIC) + 10 * NSEC_PER_SEC;
	int pass;
	for (pass = 0;; pass++) {
		uint64_t sum = 0;
		if (pass == 0) {
			/* read(), sequentially, whatever sizes it returns */
			uint64_t off = 0;
			for (;;) {
				size_t want = CHUNK - off % CHUNK;
				ssize_t n = read(fd, buf + off % CHUNK, want);
				if (n < 0 && errno == EINTR)
					continue;
				CHECK(n >= 0, "read of the data file failed: %s", strerror(errno));
				if (n == 0)
					break;
				off += (uint64_t)n;
				if (off % CHUNK == 0)
					sum += chunk_sum(buf, CHUNK, off / CHUNK - 1);
			}
			CHECK(off == FILE_SIZE, "read() saw %llu bytes before EOF, the file has %u", (unsigned long long)off, FILE_SIZE);
		} else {
			/* pread(), chunks from the last to the first */
			for (uint64_t k = NCHUNKS; k-- > 0;) {
				size_t got = 0;
				while (got < CHUNK) {
					ssize_t n = pread(fd, buf + got, CHUNK - got, (off_t)(k * CHUNK + got));
					if (n < 0 && errno == EINTR)
						continue;
					CHECK(n > 0, "pread of the data file at %llu returned %zd (%s)",
					      (unsigned long long)(k * CHUNK + got), n, n < 0 ? strerror(errno) : "EOF");
					got += (size_t)n;
				}
				sum += chunk_sum(buf, CHUNK, k);
			}
		}
		CHECK(sum == file_sum, "pass %d (%s): checksum %016llx, the file was written with %016llx", pass,
		      pass ? "pread" : "read", (unsigned long long)sum, (unsigned long long)file_sum);
		if (pass >= 1 && LOAD(&work[0]) > w0[0] && LOAD(&work[1]) > w0[1])
			break;
		CHECK(now_ns(CLOCK_MONOTONIC) < end, "compute threads' progress while a thread read a 32 MiB file for 10 s: %ld and %ld iterations",
		      LOAD(&work[0]) - w0[0], LOAD(&work[1]) - w0[1]);
	}
	free(buf);
	printf("32 MiB file read in %d passes; compute threads made %ld and %ld iterations meanwhile\n", pass + 1,
	       LOAD(&work[0]) - w0[0], LOAD(&work[1]) - w0[1]);
	return NULL;
}

/* ---- flock ---- */

static int flock_held, flock_released;

static void *flock_holder(void *arg)
{
	int fd = lock_fd[0];
	CHECK_OK(flock(fd, LOCK_EX));
	STORE(&flock_held, 1);
	CHECK(release_after(W_FLOCK, 300), "the flock waiter never got to run");
	STORE(&flock_released, 1);
	CHECK_OK(flock(fd, LOCK_UN));
	return NULL;
}

static void *flock_waiter(void *arg)
{
	int fd = lock_fd[1]; /* its own open file description */
	CHECK_ERRNO(flock(fd, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	long p0 = about_to_block(W_FLOCK);
	CHECK_OK(flock(fd, LOCK_EX));
	CHECK(LOAD(&flock_released), "flock(LOCK_EX) succeeded while another description held LOCK_EX");
	CHECK_PROGRESS(p0, "a thread waited in flock");
	CHECK_OK(flock(fd, LOCK_UN));
	return NULL;
}

static void flocks(void)
{
	pthread_t h = spawn(flock_holder, NULL);
	WAIT_FOR(LOAD(&flock_held), 10000, "the flock holder to lock");
	pthread_t w = spawn(flock_waiter, NULL);
	join(h);
	join(w);
}

/* ---- fcntl record locks against another process ---- */

static void fcntl_locks(void)
{
	int sync[2];
	CHECK_OK(pipe(sync));
	pid_t pid = fork();
	CHECK(pid >= 0, "fork failed: %s", strerror(errno));
	if (pid == 0) {
		test_watchdog(30);
		int fd = lock_fd[0]; /* record locks belong to the process */
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		if (fcntl(fd, F_SETLK, &fl) != 0)
			_exit(1);
		if (write(sync[1], "L", 1) != 1)
			_exit(2);
		if (!release_after(W_FCNTL, 300))
			_exit(5);
		if (write(sync[1], "U", 1) != 1)
			_exit(3);
		fl.l_type = F_UNLCK;
		if (fcntl(fd, F_SETLK, &fl) != 0)
			_exit(4);
		_exit(0);
	}
	children[0] = pid;
	CHECK_OK(close(sync[1]));
	char c = 0;
	CHECK(read(sync[0], &c, 1) == 1 && c == 'L', "the child did not take the lock");

	int fd = lock_fd[2];
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	CHECK_ERRNO(fcntl(fd, F_SETLK, &fl), EAGAIN);
	long p0 = about_to_block(W_FCNTL);
	int r;
	while ((r = fcntl(fd, F_SETLKW, &fl)) != 0 && errno == EINTR)
		;
	CHECK(r == 0, "fcntl(F_SETLKW) failed: %s", strerror(errno));
	struct pollfd p = {.fd = sync[0], .events = POLLIN};
	CHECK(poll(&p, 1, 0) == 1 && read(sync[0], &c, 1) == 1 && c == 'U',
	      "fcntl(F_SETLKW) succeeded before the child released its lock");
	CHECK_PROGRESS(p0, "a thread waited in fcntl(F_SETLKW)");
	fl.l_type = F_UNLCK;
	CHECK_OK(fcntl(fd, F_SETLK, &fl));
	CHECK_OK(close(sync[0]));
	int st;
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid failed: %s", strerror(errno));
	children[0] = 0;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the lock-holding child ended with status 0x%x", st);
}

/* ---- waitpid ---- */

static void *waiter(void *arg)
{
	pid_t pid = (pid_t)(long)arg;
	int st;
	pid_t w;
	long p0 = about_to_block(W_WAITPID);
	while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	CHECK(w == pid, "waitpid failed: %s", strerror(errno));
	children[1] = 0;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7, "the child ended with status 0x%x, expected exit 7", st);
	CHECK_PROGRESS(p0, "a thread waited in waitpid");
	return NULL;
}

static void waitpids(void)
{
	pid_t pid = fork();
	CHECK(pid >= 0, "fork failed: %s", strerror(errno));
	if (pid == 0) {
		test_watchdog(30);
		if (!release_after(W_WAITPID, 300))
			_exit(5);
		_exit(7);
	}
	children[1] = pid;
	join(spawn(waiter, (void *)(long)pid));
}

/* ---- sigwait ---- */

static int sig_sent;

static void *sig_waiter(void *arg)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	int sig = 0;
	long p0 = about_to_block(W_SIGWAIT);
	CHECK_RC(sigwait(&set, &sig), 0);
	CHECK(LOAD(&sig_sent), "sigwait returned %d before SIGUSR1 was sent", sig);
	CHECK_PROGRESS(p0, "a thread waited in sigwait");
	return (void *)(long)sig;
}

static void sigwaits(void)
{
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	CHECK_RC(pthread_sigmask(SIG_BLOCK, &set, &old), 0);
	pthread_t t = spawn(sig_waiter, NULL); /* inherits the mask */
	CHECK(release_after(W_SIGWAIT, 200), "the sigwait thread never got to run");
	STORE(&sig_sent, 1);
	CHECK_RC(pthread_kill(t, SIGUSR1), 0);
	long sig = (long)join(t);
	CHECK(sig == SIGUSR1, "sigwait returned signal %ld, expected SIGUSR1", sig);
	CHECK_RC(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

/* ---- opening a FIFO ---- */

static int fifo_writer_opening;

static void *fifo_reader(void *arg)
{
	int fd;
	long p0 = about_to_block(W_FIFO);
	while ((fd = open(fifo_path, O_RDONLY)) < 0 && errno == EINTR)
		;
	CHECK(fd >= 0, "open(FIFO, O_RDONLY) failed: %s", strerror(errno));
	CHECK_OK(unlink(fifo_path)); /* both ends are open */
	CHECK(LOAD(&fifo_writer_opening), "open(FIFO, O_RDONLY) returned before any writer opened it");
	CHECK_PROGRESS(p0, "a thread waited in open() of a FIFO");
	char buf[16];
	size_t got = 0;
	ssize_t n;
	while ((n = read(fd, buf + got, sizeof buf - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n > 0, "read from the FIFO failed: %s", strerror(errno));
		got += (size_t)n;
	}
	CHECK(got == 5 && memcmp(buf, "fifo!", 5) == 0, "read %zu bytes from the FIFO, expected \"fifo!\"", got);
	CHECK_OK(close(fd));
	return NULL;
}

static void *fifo_writer(void *arg)
{
	CHECK(release_after(W_FIFO, 200), "the FIFO reader never got to run");
	STORE(&fifo_writer_opening, 1);
	int fd = open(fifo_path, O_WRONLY);
	CHECK(fd >= 0, "open(FIFO, O_WRONLY) failed: %s", strerror(errno));
	CHECK(write(fd, "fifo!", 5) == 5, "write to the FIFO failed: %s", strerror(errno));
	CHECK_OK(close(fd));
	return NULL;
}

static void fifos(void)
{
	CHECK_OK(mkfifo(fifo_path, 0600));
	pthread_t r = spawn(fifo_reader, NULL);
	pthread_t w = spawn(fifo_writer, NULL);
	join(r);
	join(w);
}

int main(void)
{
	test_begin();
	snprintf(fifo_path, sizeof fifo_path, "/tmp/io_blocking_calls.%d.fifo", (int)getpid());
	atexit(cleanup);
	install_handler(SIGALRM, on_alarm, 0);
	long *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(shared != MAP_FAILED, "mmap failed: %s", strerror(errno));
	work = shared;
	waiting = shared + 2;
	/* The lock file: open()ed three times before it is unlinked. */
	char lock_path[64];
	snprintf(lock_path, sizeof lock_path, "/tmp/io_blocking_calls.%d.lock", (int)getpid());
	for (int i = 0; i < 3; i++) {
		lock_fd[i] = open(lock_path, O_RDWR | O_CREAT, 0600);
		CHECK(lock_fd[i] >= 0, "open(%s) failed: %s", lock_path, strerror(errno));
	}
	CHECK_OK(unlink(lock_path));
	write_file();

	pthread_t c[2];
	for (long i = 0; i < 2; i++)
		c[i] = spawn(compute, (void *)i);
	join(spawn(file_reader, NULL));
	flocks();
	fcntl_locks();
	waitpids();
	sigwaits();
	fifos();
	STORE(&stop, 1);
	for (int i = 0; i < 2; i++)
		join(c[i]);
	for (int i = 0; i < 3; i++)
		CHECK_OK(close(lock_fd[i]));
	CHECK_OK(close(data_fd));
	return test_pass();
}
