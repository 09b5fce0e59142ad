/*
 * cond: condition variables.
 *   - pthread_cond_signal wakes a waiter: 6 threads wait for tokens; each
 *     token added with one signal is consumed, one at a time
 *   - pthread_cond_broadcast wakes every waiter (16 waiters on a generation
 *     counter, several rounds)
 *   - a signal or broadcast with nobody waiting is not remembered (a later
 *     timed wait times out)
 *   - producer/consumer over a bounded buffer with two condvars: 3
 *     producers, 3 consumers, 30000 items; sum and xor checksums match,
 *     every item consumed exactly once
 *   - ping-pong between two threads, 5000 round trips
 *   - waiting with a recursive mutex held once works; attributes: pshared
 *     round trip; destroy with no waiters -> 0
 */
#include "common.h"

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

/* ---- signal: tokens ---- */
static int tokens, consumed, token_waiters, token_stop;

static void *token_waiter(void *arg)
{
	pthread_mutex_lock(&m);
	token_waiters++;
	for (;;) {
		while (tokens == 0 && !token_stop)
			pthread_cond_wait(&cv, &m);
		if (tokens == 0 && token_stop)
			break;
		tokens--;
		consumed++;
	}
	pthread_mutex_unlock(&m);
	return NULL;
}

static int locked_read(int *p)
{
	pthread_mutex_lock(&m);
	int v = *p;
	pthread_mutex_unlock(&m);
	return v;
}

/* ---- broadcast: generations ---- */
static int generation, arrived;
static pthread_cond_t arrived_cv = PTHREAD_COND_INITIALIZER;

static void *gen_waiter(void *arg)
{
	int rounds = (int)(long)arg;
	pthread_mutex_lock(&m);
	for (int r = 0; r < rounds; r++) {
		int g = generation;
		arrived++;
		pthread_cond_signal(&arrived_cv);
		while (generation == g)
			pthread_cond_wait(&cv, &m);
	}
	pthread_mutex_unlock(&m);
	return NULL;
}

/* ---- producer/consumer ---- */
#define BUF 16
#define PRODUCERS 3
#define CONSUMERS 3
#define PER_PRODUCER 10000
static unsigned buf[BUF];
static int head, count, producers_done;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;
static unsigned char seen[PRODUCERS * PER_PRODUCER];
static unsigned long long sum_consumed;
static unsigned xor_consumed;
static int dup_items;

static void *producer(void *arg)
{
	unsigned base = (unsigned)(long)arg * PER_PRODUCER;
	for (unsigned i = 0; i < PER_PRODUCER; i++) {
		pthread_mutex_lock(&m);
		while (count == BUF)
			pthread_cond_wait(&not_full, &m);
		buf[(head + count) % BUF] = base + i;
		count++;
		pthread_cond_signal(&not_empty);
		pthread_mutex_unlock(&m);
	}
	pthread_mutex_lock(&m);
	producers_done++;
	pthread_cond_broadcast(&not_empty);
	pthread_mutex_unlock(&m);
	return NULL;
}

static void *consumer(void *arg)
{
	unsigned long long sum = 0;
	unsigned x = 0;
	for (;;) {
		pthread_mutex_lock(&m);
		while (count == 0 && producers_done < PRODUCERS)
			pthread_cond_wait(&not_empty, &m);
		if (count == 0) {
			pthread_mutex_unlock(&m);
			break;
		}
		unsigned v = buf[head];
		head = (head + 1) % BUF;
		count--;
		if (seen[v]++)
			dup_items++;
		pthread_cond_signal(&not_full);
		pthread_mutex_unlock(&m);
		sum += v;
		x ^= v * 2654435761u;
	}
	pthread_mutex_lock(&m);
	sum_consumed += sum;
	xor_consumed ^= x;
	pthread_mutex_unlock(&m);
	return NULL;
}

/* ---- ping-pong ---- */
#define ROUNDS 5000
static int ball; /* 0: ping's turn, 1: pong's */
static pthread_cond_t ping_cv = PTHREAD_COND_INITIALIZER, pong_cv = PTHREAD_COND_INITIALIZER;

static void *pong(void *arg)
{
	pthread_mutex_lock(&m);
	for (int i = 0; i < ROUNDS; i++) {
		while (ball != 1)
			pthread_cond_wait(&pong_cv, &m);
		ball = 0;
		pthread_cond_signal(&ping_cv);
	}
	pthread_mutex_unlock(&m);
	return NULL;
}

/* ---- recursive mutex ---- */
static pthread_mutex_t rm;
static int rflag;
static void *rsetter(void *arg)
{
	pthread_mutex_lock(&rm);
	rflag = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&rm);
	return NULL;
}

int main(void)
{
	test_begin();
	struct timespec dl;

	/* Not remembered. */
	CHECK_RC(pthread_cond_signal(&cv), 0);
	CHECK_RC(pthread_cond_broadcast(&cv), 0);
	pthread_mutex_lock(&m);
	dl = deadline_in(CLOCK_REALTIME, 20);
	CHECK_RC(pthread_cond_timedwait(&cv, &m, &dl), ETIMEDOUT);
	pthread_mutex_unlock(&m);

	/* Signal: tokens one at a time. */
	pthread_t tw[6];
	for (int i = 0; i < 6; i++)
		tw[i] = spawn(token_waiter, NULL);
	WAIT_FOR(locked_read(&token_waiters) == 6, 10000, "6 token waiters");
	for (int k = 1; k <= 20; k++) {
		pthread_mutex_lock(&m);
		tokens++;
		CHECK_RC(pthread_cond_signal(&cv), 0);
		pthread_mutex_unlock(&m);
		WAIT_FOR(locked_read(&consumed) == k, 10000, "a signalled waiter to consume the token");
	}
	pthread_mutex_lock(&m);
	token_stop = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&m);
	for (int i = 0; i < 6; i++)
		join(tw[i]);
	CHECK(consumed == 20 && tokens == 0, "tokens: consumed %d, left %d", consumed, tokens);

	/* Broadcast: 16 waiters, 10 rounds. */
	pthread_t gw[16];
	for (int i = 0; i < 16; i++)
		gw[i] = spawn(gen_waiter, (void *)10L);
	for (int r = 0; r < 10; r++) {
		pthread_mutex_lock(&m);
		dl = deadline_in(CLOCK_REALTIME, 20000);
		while (arrived < 16)
			CHECK(pthread_cond_timedwait(&arrived_cv, &m, &dl) == 0 || arrived == 16,
			      "round %d: only %d of 16 waiters arrived (a broadcast missed someone?)", r, arrived);
		arrived = 0;
		generation++;
		CHECK_RC(pthread_cond_broadcast(&cv), 0);
		pthread_mutex_unlock(&m);
	}
	for (int i = 0; i < 16; i++)
		join(gw[i]);

	/* Producer/consumer. */
	pthread_t pc[PRODUCERS + CONSUMERS];
	for (long i = 0; i < PRODUCERS; i++)
		pc[i] = spawn(producer, (void *)i);
	for (int i = 0; i < CONSUMERS; i++)
		pc[PRODUCERS + i] = spawn(consumer, NULL);
	for (int i = 0; i < PRODUCERS + CONSUMERS; i++)
		join(pc[i]);
	unsigned long long want_sum = 0;
	unsigned want_xor = 0;
	for (unsigned v = 0; v < PRODUCERS * PER_PRODUCER; v++) {
		want_sum += v;
		want_xor ^= v * 2654435761u;
		CHECK(seen[v] == 1, "item %u consumed %d times", v, seen[v]);
	}
	CHECK(dup_items == 0, "%d items consumed twice", dup_items);
	CHECK(sum_consumed == want_sum, "consumed sum %llu, expected %llu", sum_consumed, want_sum);
	CHECK(xor_consumed == want_xor, "consumed checksum %08x, expected %08x", xor_consumed, want_xor);

	/* Ping-pong. */
	pthread_t pp = spawn(pong, NULL);
	pthread_mutex_lock(&m);
	for (int i = 0; i < ROUNDS; i++) {
		ball = 1;
		pthread_cond_signal(&pong_cv);
		while (ball != 0)
			pthread_cond_wait(&ping_cv, &m);
	}
	pthread_mutex_unlock(&m);
	join(pp);

	/* Recursive mutex held once. */
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&rm, &ma);
	pthread_mutex_lock(&rm);
	pthread_t rs = spawn(rsetter, NULL);
	dl = deadline_in(CLOCK_REALTIME, 20000);
	while (!rflag)
		CHECK_RC(pthread_cond_timedwait(&cv, &rm, &dl), 0);
	CHECK_RC(pthread_mutex_unlock(&rm), 0);
	CHECK_RC(pthread_mutex_unlock(&rm), EPERM); /* held exactly once again */
	join(rs);

	/* Attributes, init/destroy. */
	pthread_condattr_t ca;
	int v;
	CHECK_RC(pthread_condattr_init(&ca), 0);
	CHECK_RC(pthread_condattr_getpshared(&ca, &v), 0);
	CHECK(v == PTHREAD_PROCESS_PRIVATE, "default condattr pshared %d", v);
	CHECK_RC(pthread_condattr_setpshared(&ca, 12345), EINVAL);
	CHECK_RC(pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED), 0);
	CHECK_RC(pthread_condattr_getpshared(&ca, &v), 0);
	CHECK(v == PTHREAD_PROCESS_SHARED, "condattr pshared read back %d", v);
	pthread_cond_t c2;
	CHECK_RC(pthread_cond_init(&c2, &ca), 0);
	CHECK_RC(pthread_cond_signal(&c2), 0);
	CHECK_RC(pthread_cond_destroy(&c2), 0);
	CHECK_RC(pthread_cond_init(&c2, NULL), 0);
	CHECK_RC(pthread_cond_destroy(&c2), 0);
	CHECK_RC(pthread_condattr_destroy(&ca), 0);

	return test_pass();
}
