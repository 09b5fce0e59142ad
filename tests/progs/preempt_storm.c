/*
 * Preemption storm (issue 6): threads computing integer, x87, SSE and AVX
 * kernels, with their working values held in registers across long loops,
 * are preempted every millisecond (GMP_PREEMPT_MS=1) for a few seconds;
 * every block they compute must equal the single-threaded reference, bit
 * for bit.  A register, a flag or a vector half that a preemption failed
 * to restore shows up as a mismatch.  One processor or two: with one,
 * the threads (more of them than processors) and the main thread that
 * ends the run only get to run because of preemption.
 *
 * PREEMPT_STORM_SECONDS sets the length (make stress runs it longer).
 */
/* env: GMP_PREEMPT_MS=1 */
#include "common.h"

#include <immintrin.h>
#include <stdlib.h>

#define NTHREADS 6
#define BLOCK 400000

static volatile int stop;

/* Integer: a 64-bit mix with 128-bit products and carries (flags live). */
__attribute__((noinline)) static uint64_t k_int(uint64_t seed)
{
	uint64_t a = seed, b = seed ^ 0x9e3779b97f4a7c15ULL, c = 0;
	for (int i = 0; i < BLOCK; i++) {
		unsigned __int128 p = (unsigned __int128)a * (b | 1);
		a = (uint64_t)p ^ (uint64_t)(p >> 64);
		b += a < b ? 0x632be59bd9b4e019ULL : 0x85ebca6bULL;
		c = (c << 7 | c >> 57) ^ a ^ (b >> 3);
	}
	return a ^ b ^ c;
}

/* x87: long double arithmetic keeps values on the x87 stack. */
__attribute__((noinline)) static uint64_t k_x87(uint64_t seed)
{
	long double x = 1.0L + (long double)(seed % 1000) / 1000.0L, y = 0.5L, z = 0;
	for (int i = 0; i < BLOCK; i++) {
		x = x * 1.0000001L + y;
		y = y * 0.9999999L - x * 1e-9L;
		z += x * y;
		if (x > 1e6L)
			x *= 1e-6L;
	}
	long double r = x + y + z;
	uint64_t out;
	memcpy(&out, &r, sizeof out);
	return out ^ (uint64_t)(z * 1000.0L);
}

/* SSE2: eight vector accumulators, all live in xmm registers. */
__attribute__((noinline)) static uint64_t k_sse(uint64_t seed)
{
	__m128d v[8];
	for (int j = 0; j < 8; j++)
		v[j] = _mm_set_pd((double)(seed + j) * 1e-3, (double)(j + 1) * 0.25);
	const __m128d m = _mm_set1_pd(0.999999), a = _mm_set1_pd(1e-7);
	for (int i = 0; i < BLOCK / 4; i++)
		for (int j = 0; j < 8; j++)
			v[j] = _mm_add_pd(_mm_mul_pd(v[j], m), _mm_mul_pd(v[(j + 1) & 7], a));
	__m128d s = v[0];
	for (int j = 1; j < 8; j++)
		s = _mm_add_pd(s, v[j]);
	uint64_t o[2];
	memcpy(o, &s, sizeof o);
	return o[0] ^ (o[1] << 1);
}

/* AVX2/FMA: twelve 256-bit accumulators (upper halves included). */
__attribute__((noinline, target("avx2,fma"))) static uint64_t k_avx(uint64_t seed)
{
	__m256d v[12];
	for (int j = 0; j < 12; j++)
		v[j] = _mm256_set_pd((double)(seed + j), (double)j * 0.5, (double)(seed % 97) * 1e-2, 1.0 + j);
	const __m256d m = _mm256_set1_pd(0.9999995), a = _mm256_set1_pd(3e-8);
	for (int i = 0; i < BLOCK / 8; i++)
		for (int j = 0; j < 12; j++)
			v[j] = _mm256_fmadd_pd(v[j], m, _mm256_mul_pd(v[(j + 5) % 12], a));
	__m256d s = v[0];
	for (int j = 1; j < 12; j++)
		s = _mm256_add_pd(s, v[j]);
	uint64_t o[4];
	memcpy(o, &s, sizeof o);
	return o[0] ^ (o[1] << 1) ^ (o[2] << 2) ^ (o[3] << 3);
}

typedef uint64_t (*kernel_fn)(uint64_t);
static kernel_fn kernels[4] = { k_int, k_x87, k_sse, k_avx };
static const char *kernel_names[4] = { "int", "x87", "sse", "avx" };
static int nkernels = 3; /* 4 when the CPU has AVX2 and FMA */
#define NSEEDS 8
static uint64_t reference[4][NSEEDS];

struct worker {
	int id;
	unsigned long blocks, mismatches;
	char first[160];
};

static void *work(void *arg)
{
	struct worker *w = arg;
	for (unsigned long n = 0; !stop; n++) {
		int k = (int)((n + (unsigned long)w->id) % (unsigned long)nkernels);
		int s = (int)((n / (unsigned long)nkernels + (unsigned long)w->id) % NSEEDS);
		uint64_t r = kernels[k]((uint64_t)s * 7919 + 1);
		w->blocks++;
		if (r != reference[k][s] && w->mismatches++ == 0)
			snprintf(w->first, sizeof w->first, "thread %d: %s seed %d: %#llx, expected %#llx", w->id,
				 kernel_names[k], s, (unsigned long long)r, (unsigned long long)reference[k][s]);
	}
	return NULL;
}

int main(void)
{
	test_begin();
	const char *e = getenv("PREEMPT_STORM_SECONDS");
	int secs = e ? atoi(e) : 2;
	test_watchdog((unsigned)secs + 60);
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		nkernels = 4;
	for (int k = 0; k < nkernels; k++)
		for (int s = 0; s < NSEEDS; s++)
			reference[k][s] = kernels[k]((uint64_t)s * 7919 + 1);
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .id = i };
		t[i] = spawn(work, &w[i]);
	}
	sleep_ms(secs * 1000LL);
	stop = 1;
	unsigned long blocks = 0, bad = 0;
	for (int i = 0; i < NTHREADS; i++) {
		join(t[i]);
		blocks += w[i].blocks;
		bad += w[i].mismatches;
		if (w[i].mismatches)
			fprintf(stderr, "%s\n", w[i].first);
		CHECK(w[i].blocks > 0, "thread %d never completed a block", i);
	}
	printf("%d kernels (%s), %lu blocks in %d s, %lu mismatches\n", nkernels,
	       nkernels == 4 ? "int x87 sse avx" : "int x87 sse", blocks, secs, bad);
	CHECK(bad == 0, "%lu blocks differ from the single-threaded reference", bad);
	return test_pass();
}
