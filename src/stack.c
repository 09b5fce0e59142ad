/*
 * G stacks: one anonymous mapping per stack, committed lazily by the kernel
 * (MAP_NORESERVE), so an 8 MiB default costs only the pages a thread touches.
 *
 * Guard modes (GMP_STACKGUARD):
 *   page    a PROT_NONE page below the stack catches overflow with SIGSEGV,
 *           like glibc.  Costs two VMAs per stack, so vm.max_map_count
 *           (65530 by default) caps live threads near 32k, as natively.
 *   canary  no guard VMA; adjacent stacks merge into few VMAs, so hundreds of
 *           thousands of threads fit.  A canary word at the bottom is checked
 *           when the G exits; an overflow is reported, not prevented.
 * Reuse happens one level up: a dead G keeps its default-size stack on a
 * free list (g.c), like Go's gfree.
 */
#include "runtime.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * Under valgrind, a switch between two stacks less than --max-stackframe
 * apart looks like a huge frame push or pop, and memcheck then poisons the
 * memory in between (TLS blocks of Ms included).  Registering every G stack
 * makes it see switches for what they are.  The client requests cost a few
 * instructions and run only when a stack is made or unmade.
 */
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define VALGRIND_STACK_REGISTER(lo, hi) 0u
#define VALGRIND_STACK_DEREGISTER(id) ((void)(id))
#endif

void gmp_stack_register(struct gmp_stack *s)
{
	s->vg_id = VALGRIND_STACK_REGISTER(s->lo, s->hi);
}

static void stack_deregister(struct gmp_stack *s)
{
	if (s->vg_id)
		VALGRIND_STACK_DEREGISTER(s->vg_id);
	s->vg_id = 0;
}

size_t gmp_stack_pagesize(void)
{
	static size_t pg;
	if (unlikely(pg == 0))
		pg = (size_t)sysconf(_SC_PAGESIZE);
	return pg;
}

#define GMP_STACK_CANARY 0x6d70675f6b617473ULL /* "stack_gmp" */

int gmp_stack_alloc(struct gmp_stack *s, size_t size)
{
	size_t pg = gmp_stack_pagesize();
	size = (size + pg - 1) & ~(pg - 1);
	bool guard = gmp_sched.cfg.guard == GMP_GUARD_PAGE;
	size_t len = size + (guard ? pg : 0);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (p == MAP_FAILED)
		return -EAGAIN; /* pthread_create reports EAGAIN for lack of resources */
	if (guard && mprotect(p, pg, PROT_NONE) != 0) {
		munmap(p, len);
		return -EAGAIN;
	}
	s->map = p;
	s->maplen = len;
	s->lo = (char *)p + (guard ? pg : 0);
	s->hi = (char *)p + len;
	s->pooled = false;
	if (!guard)
		*(volatile uint64_t *)s->lo = GMP_STACK_CANARY;
	gmp_stack_register(s);
	return 0;
}

/* True if the canary at the bottom of a canary-mode stack was overwritten. */
bool gmp_stack_overflowed(const struct gmp_stack *s)
{
	return s->map && s->lo == s->map && *(volatile uint64_t *)s->lo != GMP_STACK_CANARY;
}

void gmp_stack_free(struct gmp_stack *s)
{
	stack_deregister(s);
	if (s->map)
		munmap(s->map, s->maplen);
	s->map = s->lo = s->hi = NULL;
	s->maplen = 0;
	s->pooled = false;
}
