/*
 * G lifecycle: allocation, status transitions, free lists.
 *
 * G structs are never freed (as in Go): a dump can always walk allg, and a
 * stale pointer to an exited G still points at a G (its goid tells it apart).
 * A dead G keeps its stack if the stack has the default size ("pooled"):
 *   p->gfree             owner only, at most GFREE_LOCAL_MAX Gs;
 *   sched.gfree_stack    sched.gflock, at most GFREE_GLOBAL_STACKS Gs;
 *   sched.gfree_nostack  sched.gflock, unbounded: beyond the cap a dead G's
 *                        stack is unmapped, so a burst of 100k threads does not
 *                        pin 100k stacks' touched pages after they exit.
 * Gs with a custom-size or user-supplied stack give it up at exit.
 */
#include "runtime.h"

#include <errno.h>

#define GFREE_LOCAL_MAX 64
#define GFREE_GLOBAL_STACKS 1024

static const char *const status_names[] = {
	"idle", "runnable", "running", "syscall", "waiting", "dead", "preempted",
};

const char *gmp_gstatus_str(uint32_t st)
{
	return st < sizeof status_names / sizeof *status_names ? status_names[st] : "?";
}

bool gmp_casgstatus(struct gmp_g *g, uint32_t from, uint32_t to)
{
	uint32_t old = from;
	if (likely(atomic_compare_exchange_strong_explicit(&g->status, &old, to, memory_order_acq_rel,
							   memory_order_acquire)))
		return true;
	/* A dump is reading the G's stack (GMP_G_SCAN): wait for it. */
	while (old == (from | GMP_G_SCAN)) {
		gmp_cpu_relax();
		old = from;
		if (atomic_compare_exchange_weak_explicit(&g->status, &old, to, memory_order_acq_rel,
							  memory_order_acquire))
			return true;
	}
	gmp_fatal("casgstatus: G%llu is %s, expected %s -> %s", (unsigned long long)g->goid,
		  gmp_gstatus_str(old), gmp_gstatus_str(from), gmp_gstatus_str(to));
}

/* Puts a list of dead Gs on the global lists.  sched.gflock not held. */
static void gfput_global(struct gmp_g *list)
{
	gmp_lock(&gmp_sched.gflock);
	while (list) {
		struct gmp_g *g = list;
		list = g->schedlink;
		if (g->stack.pooled && gmp_sched.ngfree_stack >= GFREE_GLOBAL_STACKS) {
			gmp_stack_free(&g->stack); /* rare: a burst just ended */
			gmp_tcb_destroy(g);
		}
		if (g->stack.pooled) {
			g->schedlink = gmp_sched.gfree_stack;
			gmp_sched.gfree_stack = g;
			gmp_sched.ngfree_stack++;
		} else {
			g->schedlink = gmp_sched.gfree_nostack;
			gmp_sched.gfree_nostack = g;
		}
	}
	gmp_unlock(&gmp_sched.gflock);
}

void gmp_g_free(struct gmp_p *pp, struct gmp_g *g)
{
	if (!g->stack.pooled) {
		gmp_stack_free(&g->stack); /* no-op for a user-supplied stack */
		g->stack.lo = g->stack.hi = NULL;
		gmp_tcb_destroy(g); /* a dead G keeps its TLS block only with a stack */
	}
	if (pp == NULL || !g->stack.pooled) {
		g->schedlink = NULL;
		gfput_global(g);
		return;
	}
	g->schedlink = pp->gfree;
	pp->gfree = g;
	if (++pp->gfreecnt > GFREE_LOCAL_MAX) {
		/* Move half to the global list in one lock round trip. */
		struct gmp_g *head = pp->gfree, *tail = head;
		for (int n = 1; n < GFREE_LOCAL_MAX / 2; n++)
			tail = tail->schedlink;
		pp->gfree = tail->schedlink;
		pp->gfreecnt -= GFREE_LOCAL_MAX / 2;
		tail->schedlink = NULL;
		gfput_global(head);
	}
}

static struct gmp_g *pop(struct gmp_g **list)
{
	struct gmp_g *g = *list;
	if (g)
		*list = g->schedlink;
	return g;
}

static struct gmp_g *gfget(struct gmp_p *pp, bool want_stack)
{
	struct gmp_g *g;
	if (want_stack && pp && (g = pop(&pp->gfree)) != NULL) {
		pp->gfreecnt--;
		return g;
	}
	gmp_lock(&gmp_sched.gflock);
	struct gmp_g **first = want_stack ? &gmp_sched.gfree_stack : &gmp_sched.gfree_nostack;
	struct gmp_g **second = want_stack ? &gmp_sched.gfree_nostack : &gmp_sched.gfree_stack;
	if ((g = pop(first)) == NULL)
		g = pop(second);
	if (g && g->stack.pooled)
		gmp_sched.ngfree_stack--;
	gmp_unlock(&gmp_sched.gflock);
	return g;
}

void gmp_allg_add(struct gmp_g *g)
{
	gmp_lock(&gmp_sched.allglock);
	g->allnext = gmp_sched.allg;
	/* (release: signal handlers walk allg without the lock) */
	__atomic_store_n(&gmp_sched.allg, g, __ATOMIC_RELEASE);
	gmp_unlock(&gmp_sched.allglock);
}

struct gmp_g *gmp_g_alloc(struct gmp_p *pp, size_t stacksize, void *userstack, size_t userstacksize)
{
	bool dflt = userstack == NULL && (stacksize == 0 || stacksize == gmp_sched.cfg.stacksize);
	struct gmp_g *g = gfget(pp, dflt);
	if (g == NULL) {
		g = gmp_persistentalloc(sizeof *g);
		atomic_store(&g->status, GMP_G_DEAD);
		gmp_allg_add(g);
	}
	if (!dflt && g->stack.pooled)
		gmp_stack_free(&g->stack);
	if (userstack) {
		g->stack = (struct gmp_stack){ .lo = userstack, .hi = (char *)userstack + userstacksize };
		gmp_stack_register(&g->stack);
	} else if (g->stack.lo == NULL) {
		if (gmp_stack_alloc(&g->stack, dflt ? gmp_sched.cfg.stacksize : stacksize) != 0) {
			g->schedlink = NULL;
			gfput_global(g);
			return NULL;
		}
		g->stack.pooled = dflt;
	}
	return g;
}
