/*
 * tls_dlopen: __thread data of libraries loaded with dlopen() is per thread.
 *   - 64 threads are started first and wait; then main dlopen()s two
 *     libraries, one with general-dynamic TLS (blocks allocated lazily per
 *     thread) and one with initial-exec TLS (blocks in the static TLS area,
 *     which glibc initialises in every existing thread); each thread sees
 *     both libraries' initial values, increments its own copies across
 *     yields and sleeps, and never sees another thread's
 *   - a second round after dlclose() and a new dlopen(), with new threads
 *   - 16 threads dlopen()/dlsym()/dlclose() at once, 100 times each: the
 *     loader's own recursive lock is owned per thread
 */
/* shim-skip: S2: a dlopen()ed library's __thread data is per OS thread with GMP_TLS=shared */
#include "common.h"
#include <dlfcn.h>
#include <sched.h>

#define NT 64
#define ROUNDS 40

static int (*gd_bump)(int), (*ie_bump)(int);
static const char *(*gd_label)(void), *(*ie_label)(void);
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int loaded; /* mu */
static int bad;

static char libdir[4096];

static void *open_lib(const char *name)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s.so", libdir, name);
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	CHECK(h != NULL, "dlopen %s: %s", path, dlerror());
	return h;
}

static void *user(void *arg)
{
	long id = (long)arg;
	pthread_mutex_lock(&mu);
	while (!loaded)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	if (strcmp(gd_label(), "tlsmod_gd") != 0 || strcmp(ie_label(), "tlsmod_ie") != 0)
		ADD(&bad, 1);
	int gd = gd_bump(0), ie = ie_bump(0);
	if (gd != 7 || ie != 11)
		ADD(&bad, 1);
	for (int r = 0; r < ROUNDS; r++) {
		gd = gd_bump((int)id);
		ie = ie_bump((int)id);
		if (r % 3 == 0)
			sched_yield();
		else if (r % 3 == 1)
			usleep(100);
		if (gd_bump(0) != gd || ie_bump(0) != ie)
			ADD(&bad, 1);
	}
	if (gd != 7 + ROUNDS * id || ie != 11 + ROUNDS * id)
		ADD(&bad, 1);
	return NULL;
}

static void round_trip(void)
{
	pthread_t t[NT];
	loaded = 0;
	for (long i = 0; i < NT; i++)
		t[i] = spawn(user, (void *)(i + 1));
	usleep(20000); /* let them all reach the wait */
	void *hg = open_lib("tlsmod_gd"), *hi = open_lib("tlsmod_ie");
	gd_bump = (int (*)(int))dlsym(hg, "gd_bump");
	ie_bump = (int (*)(int))dlsym(hi, "ie_bump");
	gd_label = (const char *(*)(void))dlsym(hg, "gd_label");
	ie_label = (const char *(*)(void))dlsym(hi, "ie_label");
	CHECK(gd_bump && ie_bump && gd_label && ie_label, "dlsym: %s", dlerror());
	pthread_mutex_lock(&mu);
	loaded = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < NT; i++)
		join(t[i]);
	CHECK(LOAD(&bad) == 0, "%d threads saw wrong or shared __thread values of a dlopen()ed library", bad);
	/* main's own copies are untouched by the others */
	CHECK(gd_bump(0) == 7 && ie_bump(0) == 11, "main's copies changed: %d %d", gd_bump(0), ie_bump(0));
	CHECK(dlclose(hg) == 0 && dlclose(hi) == 0, "dlclose: %s", dlerror());
}

static void *loader(void *arg)
{
	for (int i = 0; i < 100; i++) {
		void *h = open_lib(i % 2 ? "tlsmod_gd" : "tlsmod_ie");
		int (*f)(int) = (int (*)(int))dlsym(h, i % 2 ? "gd_bump" : "ie_bump");
		if (f == NULL || f(0) < 7)
			ADD(&bad, 1);
		if (dlclose(h) != 0)
			ADD(&bad, 1);
		if (i % 10 == 0)
			sched_yield();
	}
	return NULL;
}

int main(void)
{
	test_begin();
	const char *d = getenv("PROGS_LIBDIR");
	CHECK(d != NULL, "PROGS_LIBDIR not set (run through tests/progs/run.sh)");
	snprintf(libdir, sizeof libdir, "%s", d);
	round_trip();
	round_trip();
	pthread_t t[16];
	for (int i = 0; i < 16; i++)
		t[i] = spawn(loader, NULL);
	for (int i = 0; i < 16; i++)
		join(t[i]);
	CHECK(LOAD(&bad) == 0, "concurrent dlopen/dlclose failed %d times", bad);
	return test_pass();
}
