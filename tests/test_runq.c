/*
 * The local run queue under concurrency: one owner thread puts and gets
 * while thief threads steal into their own rings.  Every G must come out
 * exactly once, whether taken by the owner, stolen, or spilled to the global
 * queue when the ring overflows.
 */
#include "testutil.h"

#include <pthread.h>
#include <string.h>

#define NG 200000
#define THIEVES 3

static struct gmp_g *gs;
static _Atomic uint32_t *seen;
static struct gmp_p *owner_p, *thief_p[THIEVES];
static _Atomic bool done;

static void mark(struct gmp_g *g)
{
	size_t i = (size_t)(g - gs);
	cr_assert_lt(i, NG);
	uint32_t prev = atomic_fetch_add(&seen[i], 1);
	cr_assert_eq(prev, 0, "G %zu taken twice", i);
}

static void *thief(void *arg)
{
	struct gmp_p *mine = arg;
	while (!atomic_load(&done)) {
		struct gmp_g *g = gmp_runqsteal(mine, owner_p, true);
		if (g)
			mark(g);
		bool inh;
		while ((g = gmp_runqget(mine, &inh)) != NULL)
			mark(g);
	}
	return NULL;
}

static struct gmp_p *new_p(int id)
{
	struct gmp_p *p = aligned_alloc(GMP_CACHELINE, sizeof *p);
	memset(p, 0, sizeof *p);
	p->id = id;
	atomic_store(&p->status, GMP_P_RUNNING);
	return p;
}

Test(runq, concurrent_put_get_steal)
{
	rt_init(1);
	gs = calloc(NG, sizeof *gs);
	seen = calloc(NG, sizeof *seen);
	owner_p = new_p(100);
	pthread_t th[THIEVES];
	for (int i = 0; i < THIEVES; i++) {
		thief_p[i] = new_p(101 + i);
		pthread_create(&th[i], NULL, thief, thief_p[i]);
	}
	unsigned r = 1;
	for (int i = 0; i < NG; i++) {
		r = r * 1103515245 + 12345;
		gmp_runqput(owner_p, &gs[i], (r >> 16) % 4 == 0);
		if ((r >> 8) % 3 == 0) {
			bool inh;
			struct gmp_g *g = gmp_runqget(owner_p, &inh);
			if (g)
				mark(g);
		}
	}
	bool inh;
	struct gmp_g *g;
	while ((g = gmp_runqget(owner_p, &inh)) != NULL)
		mark(g);
	atomic_store(&done, true);
	for (int i = 0; i < THIEVES; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < THIEVES; i++)
		while ((g = gmp_runqget(thief_p[i], &inh)) != NULL)
			mark(g);
	/* Whatever overflowed went to the global queue. */
	gmp_lock(&gmp_sched.lock);
	for (g = gmp_sched.runqhead; g; g = g->schedlink)
		mark(g);
	gmp_unlock(&gmp_sched.lock);
	for (int i = 0; i < NG; i++)
		cr_assert_eq(atomic_load(&seen[i]), 1, "G %d lost", i);
}

Test(runq, overflow_spills_half_to_global)
{
	rt_init(1);
	struct gmp_p *p = new_p(7);
	static struct gmp_g many[GMP_RUNQ_SIZE + 1];
	for (int i = 0; i <= GMP_RUNQ_SIZE; i++)
		gmp_runqput(p, &many[i], false);
	cr_assert_eq(gmp_runqlen(p), GMP_RUNQ_SIZE / 2);
	cr_assert_eq(atomic_load(&gmp_sched.runqsize), GMP_RUNQ_SIZE / 2 + 1);
	/* FIFO: the oldest half went to the global queue, in order. */
	cr_assert_eq(gmp_sched.runqhead, &many[0]);
	bool inh;
	cr_assert_eq(gmp_runqget(p, &inh), &many[GMP_RUNQ_SIZE / 2]);
}

Test(runq, runnext_runs_first_and_kicks_old)
{
	rt_init(1);
	struct gmp_p *p = new_p(8);
	static struct gmp_g a, b, c;
	gmp_runqput(p, &a, false);
	gmp_runqput(p, &b, true);
	gmp_runqput(p, &c, true); /* b is kicked to the tail */
	bool inh;
	cr_assert_eq(gmp_runqget(p, &inh), &c);
	cr_assert(inh);
	cr_assert_eq(gmp_runqget(p, &inh), &a);
	cr_assert_not(inh);
	cr_assert_eq(gmp_runqget(p, &inh), &b);
	cr_assert_null(gmp_runqget(p, &inh));
	cr_assert(gmp_runqempty(p));
}
