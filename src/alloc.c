/*
 * Memory for runtime structures that live forever (Gs, Ms, Ps): a bump
 * allocator over mmap'd chunks, Go's persistentalloc.  It never calls
 * malloc, so runtime code is safe to run while the program is inside malloc
 * on the same M, whatever TLS block is loaded.
 */
#include "runtime.h"

#include <string.h>
#include <sys/mman.h>

#define CHUNK (256u << 10)

static gmp_mutex lock;
static char *cur, *end; /* lock */

void *gmp_persistentalloc(size_t size)
{
	size = (size + GMP_CACHELINE - 1) & ~(size_t)(GMP_CACHELINE - 1);
	if (size > CHUNK / 4) {
		void *p = gmp_rawalloc(size);
		if (!p)
			gmp_fatal("out of memory allocating %zu bytes", size);
		return p;
	}
	gmp_lock(&lock);
	if (cur == NULL || (size_t)(end - cur) < size) {
		cur = gmp_rawalloc(CHUNK);
		if (!cur)
			gmp_fatal("out of memory (persistentalloc)");
		end = cur + CHUNK;
	}
	void *p = cur;
	cur += size;
	gmp_unlock(&lock);
	return p; /* fresh mmap memory: zeroed */
}

void *gmp_rawalloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void gmp_rawfree(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

void gmp_alloc_forklock(bool dolock)
{
	if (dolock)
		gmp_lock(&lock);
	else
		gmp_unlock(&lock);
}
