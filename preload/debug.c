/*
 * What the pthread layer tells the runtime's dumps (src/dump.c): a
 * thread's name and start routine, and what it waits on -- "mutex 0x...
 * held by thread 6", "join thread 5", "fd 12 read" -- with the thread that
 * holds it up, so lock cycles can be found.  These run in a dump, maybe in
 * a signal handler: they only read (racily: a dump is a snapshot) and
 * never lock or allocate.
 */
#include "shim.h"
#include "io.h"

#include <stdio.h>
#include <string.h>

struct mtx_view { /* the head of a pthread_mutex_t as mutex.c lays it out */
	_Atomic uint32_t lock;
	uint32_t count;
	_Atomic uint32_t owner;
};

static void thread_info(struct gmp_g *g, char *name, size_t cap, void **start)
{
	struct shim_thread *t = g->user;
	name[0] = '\0';
	*start = NULL;
	if (!t || (t->g && t->g != g)) /* (t->g is set just after the spawn) */
		return;
	char nm[sizeof t->name];
	memcpy(nm, t->name, sizeof nm);
	nm[sizeof nm - 1] = '\0';
	snprintf(name, cap, "%s", nm[0] ? nm : t->ismain ? "main" : "");
	*start = (void *)t->start;
}

/* ' 6 "name"' for the thread t, into buf. */
static struct gmp_g *who(struct shim_thread *t, char *buf, size_t cap)
{
	if (!t || !t->g) {
		snprintf(buf, cap, "?");
		return NULL;
	}
	char nm[32];
	void *start;
	thread_info(t->g, nm, sizeof nm, &start);
	if (nm[0])
		snprintf(buf, cap, "%llu \"%s\"", (unsigned long long)t->g->goid, nm);
	else
		snprintf(buf, cap, "%llu", (unsigned long long)t->g->goid);
	return t->g;
}

static struct gmp_g *wait_detail(struct gmp_g *g, int reason, const void *obj, char *buf, size_t cap)
{
	(void)g;
	char w[64];
	switch (reason) {
	case GMP_WAIT_MUTEX: {
		const struct mtx_view *m = obj;
		uint32_t o = atomic_load(&m->owner) & 0x3fffffffu; /* without OWNER_DIED */
		struct shim_thread *t = o ? shim_lookup_index(o) : NULL;
		if (!t) {
			snprintf(buf, cap, "mutex %p", obj);
			return NULL;
		}
		struct gmp_g *h = who(t, w, sizeof w);
		snprintf(buf, cap, "mutex %p held by thread %s", obj, w);
		return h;
	}
	case GMP_WAIT_JOIN: {
		struct gmp_g *h = who((struct shim_thread *)obj, w, sizeof w);
		snprintf(buf, cap, "join thread %s", w);
		return h;
	}
	case GMP_WAIT_IO: {
		uintptr_t p = (uintptr_t)obj;
		const struct shim_fd *r = (const struct shim_fd *)(p & ~(uintptr_t)1);
		snprintf(buf, cap, "fd %d %s", atomic_load(&((struct shim_fd *)r)->fd), (p & 1) ? "write" : "read");
		return NULL;
	}
	case GMP_WAIT_POLL:
		snprintf(buf, cap, "poll on %d fds", (int)(uintptr_t)obj);
		return NULL;
	default:
		snprintf(buf, cap, "%s %p", gmp_waitreason_str((enum gmp_waitreason)reason), obj);
		return NULL;
	}
}

void shim_debug_init(void)
{
	gmp_dump_hooks.thread_info = thread_info;
	gmp_dump_hooks.wait_detail = wait_detail;
	gmp_dump_hooks.signal_wakeable = shim_sig_wakeable;
}
