/* Deterministic, partly compressible test data for tests/real/run.sh.
 *
 *   gendata BYTES [SEED] > file
 *
 * Writes BYTES bytes made of 64 KiB chunks: about a third are raw output of
 * a xorshift64* PRNG (incompressible), the rest are lines of text built from
 * a small word list with counters (compresses roughly 4:1).  The same
 * arguments give the same bytes on every machine. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t s;

static uint64_t next(void)
{
	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	return s * 0x2545F4914F6CDD1DULL;
}

static const char *const words[] = {
	"thread", "mutex", "condvar", "futex", "goroutine", "scheduler",
	"park", "unpark", "steal", "queue", "stack", "signal", "timer",
	"epoll", "syscall", "handoff", "spin", "yield", "barrier", "rwlock",
	"semaphore", "once", "key", "cancel", "join", "detach", "the", "a",
	"of", "and", "to", "in", "is", "runs", "blocks", "wakes", "M", "P", "G",
};

#define CHUNK 65536

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s BYTES [SEED]\n", argv[0]);
		return 2;
	}
	unsigned long long left = strtoull(argv[1], NULL, 0);
	s = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x9E3779B97F4A7C15ULL;
	if (s == 0)
		s = 1;
	static char buf[CHUNK + 256];
	unsigned long long line = 0;
	while (left > 0) {
		size_t n = 0;
		if (next() % 3 == 0) {
			for (; n < CHUNK; n += 8) {
				uint64_t r = next();
				memcpy(buf + n, &r, 8);
			}
		} else {
			while (n < CHUNK) {
				n += (size_t)snprintf(buf + n, 32, "%08llu:", ++line);
				int nw = 4 + (int)(next() % 9);
				for (int i = 0; i < nw; i++) {
					const char *w = words[next() % (sizeof words / sizeof *words)];
					size_t l = strlen(w);
					buf[n++] = ' ';
					memcpy(buf + n, w, l);
					n += l;
				}
				buf[n++] = '\n';
			}
			n = CHUNK;
		}
		if (n > left)
			n = (size_t)left;
		if (fwrite(buf, 1, n, stdout) != n) {
			perror("gendata: write");
			return 1;
		}
		left -= n;
	}
	return fflush(stdout) ? 1 : 0;
}
