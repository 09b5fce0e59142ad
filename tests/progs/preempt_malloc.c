/*
 * malloc/free and stdio in tight loops under preemption (issue 6): the
 * heap and the FILE locks must survive threads being preempted anywhere
 * in their own code -- and never inside libc (its locks, its arenas).
 * Each thread keeps a pool of blocks filled with a pattern of their own
 * address and size, checked before every free; each prints numbered lines
 * with a checksum through one shared FILE into a pipe, and a reader thread
 * checks that every line is whole and in order.  The program re-executes
 * itself with glibc's malloc checking (libc_malloc_debug.so, MALLOC_CHECK_=3,
 * a perturb byte), which aborts on heap corruption.
 *
 * PREEMPT_MALLOC_SECONDS sets the length (make stress runs it longer).
 */
/* env: GMP_PREEMPT_MS=1 */
#include "common.h"

#include <stdbool.h>
#include <stdlib.h>

#define NTHREADS 5
#define POOL 64

static volatile int stop;
static FILE *out;
static unsigned long lines_sent[NTHREADS];

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static void fill(unsigned char *p, size_t n)
{
	uint64_t k = mix((uintptr_t)p ^ n);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(k >> ((i & 7) * 8)) ^ (unsigned char)i;
}

static bool intact(const unsigned char *p, size_t n)
{
	uint64_t k = mix((uintptr_t)p ^ n);
	for (size_t i = 0; i < n; i++)
		if (p[i] != ((unsigned char)(k >> ((i & 7) * 8)) ^ (unsigned char)i))
			return false;
	return true;
}

static _Atomic unsigned long corrupt, ops;

static void *worker(void *arg)
{
	long id = (long)arg;
	unsigned char *blk[POOL] = { 0 };
	size_t len[POOL] = { 0 };
	uint64_t r = mix((uint64_t)id + 1);
	unsigned long n = 0;
	while (!stop) {
		r = mix(r + n);
		int i = (int)(r % POOL);
		if (blk[i]) {
			if (!intact(blk[i], len[i]))
				corrupt++;
			free(blk[i]);
		}
		len[i] = 16 + (size_t)((r >> 8) % ((r & 1) ? 200 : 20000));
		blk[i] = malloc(len[i]);
		if (blk[i] == NULL) {
			corrupt++;
			break;
		}
		fill(blk[i], len[i]);
		if (++n % 16 == 0) {
			char line[96];
			snprintf(line, sizeof line, "%lu %lu %016llx", (unsigned long)id, lines_sent[id],
				 (unsigned long long)mix(lines_sent[id] * 31 + (uint64_t)id));
			fprintf(out, "L %s E\n", line);
			lines_sent[id]++;
		}
		ops++;
	}
	for (int i = 0; i < POOL; i++)
		if (blk[i]) {
			if (!intact(blk[i], len[i]))
				corrupt++;
			free(blk[i]);
		}
	return NULL;
}

static unsigned long lines_seen[NTHREADS], bad_lines;
static char first_bad[160];

static void *reader(void *arg)
{
	FILE *in = arg;
	char buf[256];
	while (fgets(buf, sizeof buf, in)) {
		unsigned long id, seq;
		unsigned long long sum;
		char e;
		if (sscanf(buf, "L %lu %lu %llx %c", &id, &seq, &sum, &e) != 4 || e != 'E' || id >= NTHREADS ||
		    seq != lines_seen[id] || sum != (unsigned long long)mix(seq * 31 + id)) {
			if (bad_lines++ == 0)
				snprintf(first_bad, sizeof first_bad, "%s", buf);
			continue;
		}
		lines_seen[id]++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (getenv("PREEMPT_MALLOC_CHECKED") == NULL) {
		/* Once more with glibc's checking allocator in front. */
		const char *pre = getenv("LD_PRELOAD");
		char newpre[4096];
		snprintf(newpre, sizeof newpre, "%s%slibc_malloc_debug.so.0", pre ? pre : "", pre && *pre ? ":" : "");
		setenv("LD_PRELOAD", newpre, 1);
		setenv("MALLOC_CHECK_", "3", 1);
		setenv("MALLOC_PERTURB_", "165", 1);
		setenv("PREEMPT_MALLOC_CHECKED", "1", 1);
		execv("/proc/self/exe", argv);
		perror("execv");
		return 1;
	}
	test_begin();
	const char *e = getenv("PREEMPT_MALLOC_SECONDS");
	int secs = e ? atoi(e) : 2;
	test_watchdog((unsigned)secs + 60);
	int fds[2];
	CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
	out = fdopen(fds[1], "w");
	FILE *in = fdopen(fds[0], "r");
	CHECK(out && in, "fdopen: %s", strerror(errno));
	setvbuf(out, NULL, _IOFBF, 512); /* many flushes: the lock and the buffer are busy */
	pthread_t rd = spawn(reader, in), t[NTHREADS];
	for (long i = 0; i < NTHREADS; i++)
		t[i] = spawn(worker, (void *)i);
	sleep_ms(secs * 1000LL);
	stop = 1;
	for (int i = 0; i < NTHREADS; i++)
		join(t[i]);
	fclose(out);
	join(rd);
	fclose(in);
	unsigned long sent = 0, seen = 0;
	for (int i = 0; i < NTHREADS; i++) {
		sent += lines_sent[i];
		seen += lines_seen[i];
	}
	printf("%lu allocations, %lu lines; %lu corrupt blocks, %lu bad lines\n", (unsigned long)ops, seen,
	       (unsigned long)corrupt, bad_lines);
	if (bad_lines)
		fprintf(stderr, "first bad line: %s", first_bad);
	CHECK(corrupt == 0, "%lu heap blocks corrupted", (unsigned long)corrupt);
	CHECK(bad_lines == 0, "%lu lines torn or out of order", bad_lines);
	CHECK(seen == sent, "%lu lines sent, %lu read", sent, seen);
	CHECK(ops > 0 && seen > 0, "no work done");
	return test_pass();
}
