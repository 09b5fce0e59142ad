/*
 * cancel_cleanup: pthread_cleanup_push/pop handlers.
 *   - on cancellation the pushed handlers run last-pushed-first, each with
 *     its own argument, and then the thread-specific data destructors
 *   - the same on pthread_exit (called from a nested function), with the
 *     exit value delivered to join
 *   - pthread_cleanup_pop(1) runs the handler, pop(0) does not; popped
 *     handlers do not run again at exit
 *   - nested push scopes in a loop, and handlers of an outer function still
 *     run when pthread_exit is called from an inner one
 *   - 20 threads cancelled together: every handler and destructor runs once
 */
#include "common.h"
#include <semaphore.h>

#define MAXLOG 32
static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static char logbuf[8][MAXLOG + 1]; /* one log per scenario */
static int handler_calls, dtor_calls;

static void log_ch(int which, char c)
{
	pthread_mutex_lock(&lk);
	size_t n = strlen(logbuf[which]);
	if (n < MAXLOG)
		logbuf[which][n] = c;
	pthread_mutex_unlock(&lk);
}

struct h { int which; char c; };

static void handler(void *arg)
{
	struct h *h = arg;
	ADD(&handler_calls, 1);
	log_ch(h->which, h->c);
}

static pthread_key_t key;

static void key_dtor(void *arg)
{
	struct h *h = arg;
	ADD(&dtor_calls, 1);
	log_ch(h->which, h->c);
}

static sem_t ready, never;

/* Scenario 0: cancelled while blocked with three handlers pushed. */
static void *cancelled(void *arg)
{
	static struct h a = {0, 'a'}, b = {0, 'b'}, c = {0, 'c'}, d = {0, 'D'};
	pthread_setspecific(key, &d);
	pthread_cleanup_push(handler, &a);
	pthread_cleanup_push(handler, &b);
	pthread_cleanup_push(handler, &c);
	sem_post(&ready);
	sem_wait(&never);
	log_ch(0, '!');
	pthread_cleanup_pop(0);
	pthread_cleanup_pop(0);
	pthread_cleanup_pop(0);
	return NULL;
}

/* Scenario 1: pthread_exit from a nested function. */
static void inner_exit(void)
{
	static struct h z = {1, 'z'};
	pthread_cleanup_push(handler, &z);
	pthread_exit((void *)1234);
	pthread_cleanup_pop(0);
}

static void *exits(void *arg)
{
	static struct h a = {1, 'a'}, b = {1, 'b'}, d = {1, 'D'};
	pthread_setspecific(key, &d);
	pthread_cleanup_push(handler, &a);
	pthread_cleanup_push(handler, &b);
	inner_exit();
	log_ch(1, '!');
	pthread_cleanup_pop(0);
	pthread_cleanup_pop(0);
	return NULL;
}

/* Scenario 2: pop(1) runs, pop(0) does not, then a normal return. */
static void *pops(void *arg)
{
	static struct h a = {2, 'a'}, b = {2, 'b'}, c = {2, 'c'};
	pthread_cleanup_push(handler, &a);
	pthread_cleanup_push(handler, &b);
	pthread_cleanup_push(handler, &c);
	pthread_cleanup_pop(1); /* c */
	pthread_cleanup_pop(0); /* b dropped */
	pthread_cleanup_pop(1); /* a */
	log_ch(2, '.');
	return (void *)5;
}

/* Scenario 3: handlers pushed/popped in a loop, then cancelled with two
 * still pushed. */
static void *loop_then_cancel(void *arg)
{
	static struct h hs[10];
	for (int i = 0; i < 10; i++) {
		hs[i].which = 3;
		hs[i].c = (char)('0' + i);
		pthread_cleanup_push(handler, &hs[i]);
		pthread_cleanup_pop(i % 2); /* odd ones run now */
	}
	static struct h x = {3, 'x'}, y = {3, 'y'};
	pthread_cleanup_push(handler, &x);
	pthread_cleanup_push(handler, &y);
	pthread_cancel(pthread_self());
	pthread_testcancel();
	log_ch(3, '!');
	pthread_cleanup_pop(0);
	pthread_cleanup_pop(0);
	return NULL;
}

static void expect_log(int which, const char *want, const char *what)
{
	char got[MAXLOG + 1];
	pthread_mutex_lock(&lk);
	strcpy(got, logbuf[which]);
	pthread_mutex_unlock(&lk);
	CHECK(strcmp(got, want) == 0, "%s: handlers ran as \"%s\", expected \"%s\"", what, got, want);
}

int main(void)
{
	test_begin();
	sem_init(&ready, 0, 0);
	sem_init(&never, 0, 0);
	CHECK_RC(pthread_key_create(&key, key_dtor), 0);

	pthread_t t = spawn(cancelled, NULL);
	sem_wait(&ready);
	sleep_ms(10);
	CHECK_RC(pthread_cancel(t), 0);
	CHECK(join(t) == PTHREAD_CANCELED, "cancelled thread: join value not PTHREAD_CANCELED");
	expect_log(0, "cbaD", "cancel (handlers, then key destructor)");

	t = spawn(exits, NULL);
	CHECK(join(t) == (void *)1234, "pthread_exit value lost");
	expect_log(1, "zbaD", "pthread_exit from nested function");

	t = spawn(pops, NULL);
	CHECK(join(t) == (void *)5, "pops thread return value lost");
	expect_log(2, "ca.", "pthread_cleanup_pop(1)/(0)");

	t = spawn(loop_then_cancel, NULL);
	CHECK(join(t) == PTHREAD_CANCELED, "loop_then_cancel: join value not PTHREAD_CANCELED");
	expect_log(3, "13579yx", "push/pop loop then self-cancel");

	/* Many threads cancelled at once, each with its handlers. */
	STORE(&handler_calls, 0);
	STORE(&dtor_calls, 0);
	pthread_t many[20];
	for (int i = 0; i < 20; i++)
		many[i] = spawn(cancelled, NULL);
	for (int i = 0; i < 20; i++)
		sem_wait(&ready);
	for (int i = 0; i < 20; i++)
		CHECK_RC(pthread_cancel(many[i]), 0);
	for (int i = 0; i < 20; i++)
		CHECK(join(many[i]) == PTHREAD_CANCELED, "batch thread %d not cancelled", i);
	CHECK(LOAD(&handler_calls) == 20 * 3, "batch cancel: %d cleanup handler calls, expected %d", LOAD(&handler_calls), 20 * 3);
	CHECK(LOAD(&dtor_calls) == 20, "batch cancel: %d key destructor calls, expected 20", LOAD(&dtor_calls));
	pthread_mutex_lock(&lk);
	int returned = strchr(logbuf[0], '!') != NULL;
	pthread_mutex_unlock(&lk);
	CHECK(!returned, "a batch thread returned from sem_wait");

	return test_pass();
}
