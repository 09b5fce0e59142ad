/*
 * Address-keyed wait queues: an emulated futex in user space (the idea of
 * Go's sema.go).  Every blocking primitive of the pthread layer (mutexes,
 * condvars, rwlocks, semaphores, barriers, once, join) is a lock word in the
 * caller's object plus wait/wake on its address here, the way glibc and musl
 * build them on the kernel futex -- but a waiter is a parked G, not an OS
 * thread, and a wake is gmp_ready().
 *
 * Table: GMP_WQ_BUCKETS buckets hashed by address, each a lock and a FIFO
 * list of waiters (FIFO keeps hand-off fair).  A waiter lives on the waiting
 * G's stack; it is reachable from its bucket only while `queued`.
 *
 * The lost-wake-up rule is the futex rule: gmp_futex_wait compares *addr with
 * the expected value *under the bucket lock* and enqueues before unlocking;
 * a waker changes *addr first and then takes the bucket lock to wake.  So a
 * waker either sees the waiter queued, or the waiter sees the new value.
 *
 * Who dequeues a waiter (always under its bucket lock) owns waking it:
 *   wake/requeue  sets result 0 and readies the G after unlocking;
 *   the timer     (timed waits) sets -ETIMEDOUT and readies it;
 *   a foreign thread whose OS futex timed out dequeues itself.
 * The loser of that race finds queued == false and does nothing.  A timed
 * waiter deletes its timer after it resumes; gmp_timer_del waits out a
 * running callback, so the callback never touches a dead stack frame.
 *
 *   an interrupter (gmp_g_interrupt, for cancellation and signals) sets
 *   -EINTR and readies it -- only for waits that asked for it (_intr).
 * An interruptible waiter publishes its entry in g->wqw under g->wqlock and
 * checks g->intr under the bucket lock before it enqueues; the interrupter
 * sets g->intr first, then looks at g->wqw.  So either the waiter sees the
 * flag, or the interrupter finds it queued (lock order: wqlock -> bucket).
 *
 * Requeue moves a waiter to another address's bucket holding both bucket
 * locks (lower address first).  w->addr changes then, so the timeout path
 * reads it, locks that bucket and re-checks it before trusting it.
 */
#include "runtime.h"

#include <errno.h>
#include <limits.h>

#define GMP_WQ_BUCKETS 1024

struct waiter {
	_Atomic(const void *) addr;  /* bucket lock of bucket(addr) */
	struct gmp_g *g;
	struct waiter *prev, *next;  /* bucket list; bucket lock */
	bool queued;                 /* on a bucket list; bucket lock */
	int result;                  /* set by whoever dequeues */
	int64_t deadline;            /* < 0: none */
};

struct bucket {
	gmp_mutex lock;
	struct waiter *head, *tail;
} __attribute__((aligned(GMP_CACHELINE)));

static struct bucket table[GMP_WQ_BUCKETS];

static struct bucket *bucket_of(const void *addr)
{
	uint64_t h = (uint64_t)(uintptr_t)addr;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return &table[h & (GMP_WQ_BUCKETS - 1)];
}

static void enqueue_locked(struct bucket *b, struct waiter *w)
{
	w->next = NULL;
	w->prev = b->tail;
	if (b->tail)
		b->tail->next = w;
	else
		b->head = w;
	b->tail = w;
	w->queued = true;
}

static void unlink_locked(struct bucket *b, struct waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		b->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		b->tail = w->prev;
	w->prev = w->next = NULL;
	w->queued = false;
}

/* Locks the bucket w is queued in (its addr may move under requeue). */
static struct bucket *lock_waiter_bucket(struct waiter *w)
{
	for (;;) {
		const void *a = atomic_load_explicit(&w->addr, memory_order_acquire);
		struct bucket *b = bucket_of(a);
		gmp_lock(&b->lock);
		if (atomic_load_explicit(&w->addr, memory_order_relaxed) == a)
			return b;
		gmp_unlock(&b->lock);
	}
}

static void wait_timeout(struct gmp_timer *t)
{
	struct waiter *w = t->arg;
	struct bucket *b = lock_waiter_bucket(w);
	if (!w->queued) {
		gmp_unlock(&b->lock); /* a waker got there first and readies it */
		return;
	}
	unlink_locked(b, w);
	w->result = -ETIMEDOUT;
	struct gmp_g *g = w->g;
	gmp_unlock(&b->lock);
	gmp_ready(g);
}

/* unlockf of a G's park: arm the timeout, then release the bucket. */
static bool wait_unlockf(struct gmp_g *g, void *arg)
{
	struct waiter *w = arg;
	struct bucket *b = bucket_of(atomic_load_explicit(&w->addr, memory_order_relaxed));
	int64_t deadline = w->deadline;
	bool first = false;
	if (deadline >= 0) {
		g->timer.when = deadline;
		g->timer.fn = wait_timeout;
		g->timer.arg = w;
		first = gmp_timer_add(&g->timer);
	}
	gmp_unlock(&b->lock);
	/* After the unlock: waking the poller may create an M. The waiter w
	 * may be gone by now; only locals are used. */
	if (first)
		gmp_wakenetpoller(deadline);
	return true;
}

/* A foreign thread waits on its own OS futex; it handles its timeout itself. */
static void wait_foreign(struct gmp_g *g, struct bucket *b, struct waiter *w)
{
	atomic_store_explicit(&g->fwake, 0, memory_order_relaxed);
	gmp_casgstatus(g, GMP_G_RUNNING, GMP_G_WAITING);
	gmp_unlock(&b->lock);
	int64_t deadline = w->deadline;
	while (atomic_load_explicit(&g->fwake, memory_order_acquire) == 0) {
		int r = gmp_os_futex_wait(&g->fwake, 0, deadline);
		if (r == -ETIMEDOUT) {
			b = lock_waiter_bucket(w);
			if (w->queued) {
				unlink_locked(b, w);
				w->result = -ETIMEDOUT;
				gmp_casgstatus(g, GMP_G_WAITING, GMP_G_RUNNING);
				gmp_unlock(&b->lock);
				return;
			}
			/* Dequeued by a waker: its gmp_ready is on the way. */
			gmp_unlock(&b->lock);
			deadline = -1;
		}
	}
	gmp_casgstatus(g, GMP_G_RUNNABLE, GMP_G_RUNNING);
}

static int futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t deadline, enum gmp_waitreason reason,
		      const void *obj, bool intr)
{
	struct gmp_g *g = gmp_g_current();
	struct waiter w = { .g = g, .deadline = deadline, .result = 0 };
	atomic_store_explicit(&w.addr, (const void *)addr, memory_order_relaxed);
	if (intr) {
		gmp_lock(&g->wqlock);
		g->wqw = &w;
		gmp_unlock(&g->wqlock);
	}
	struct bucket *b = bucket_of(addr);
	gmp_lock(&b->lock);
	if (atomic_load_explicit(addr, memory_order_relaxed) != val) {
		w.result = -EAGAIN;
	} else if (intr && atomic_load(&g->intr)) {
		w.result = -EINTR;
	} else if (deadline >= 0 && gmp_nanotime() >= deadline) {
		w.result = -ETIMEDOUT;
	} else {
		enqueue_locked(b, &w);
		if (g->foreign) {
			g->waitreason = (uint8_t)reason;
			g->waitobj = obj;
			wait_foreign(g, b, &w);
			g->waitreason = GMP_WAIT_NONE;
			g->waitobj = NULL;
		} else {
			gmp_park(wait_unlockf, &w, reason, obj);
			if (deadline >= 0)
				gmp_timer_del(&g->timer);
		}
		b = NULL;
	}
	if (b)
		gmp_unlock(&b->lock);
	if (intr) {
		/* After this no interrupter can reach w, whose frame ends here. */
		gmp_lock(&g->wqlock);
		g->wqw = NULL;
		gmp_unlock(&g->wqlock);
		if (w.result == -EINTR)
			atomic_store(&g->intr, 0);
	}
	return w.result;
}

int gmp_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t deadline, enum gmp_waitreason reason,
		   const void *obj)
{
	return futex_wait(addr, val, deadline, reason, obj, false);
}

int gmp_futex_wait_intr(_Atomic uint32_t *addr, uint32_t val, int64_t deadline,
			enum gmp_waitreason reason, const void *obj)
{
	return futex_wait(addr, val, deadline, reason, obj, true);
}

void gmp_g_interrupt(struct gmp_g *g)
{
	atomic_store(&g->intr, 1);
	gmp_lock(&g->wqlock);
	struct waiter *w = g->wqw;
	if (w) {
		struct bucket *b = lock_waiter_bucket(w);
		if (w->queued) {
			unlink_locked(b, w);
			w->result = -EINTR;
			gmp_unlock(&b->lock);
			gmp_unlock(&g->wqlock);
			gmp_ready(g);
			return;
		}
		gmp_unlock(&b->lock);
	}
	gmp_unlock(&g->wqlock);
}

void gmp_futex_reset(void)
{
	for (int i = 0; i < GMP_WQ_BUCKETS; i++)
		table[i] = (struct bucket){ 0 };
}

/* Dequeues up to n waiters on addr into a list (linked by next). */
static struct waiter *take_locked(struct bucket *b, const void *addr, int n, int *taken)
{
	struct waiter *list = NULL, **tail = &list;
	*taken = 0;
	for (struct waiter *w = b->head, *nx; w && *taken < n; w = nx) {
		nx = w->next;
		if (atomic_load_explicit(&w->addr, memory_order_relaxed) != addr)
			continue;
		unlink_locked(b, w);
		w->result = 0;
		*tail = w;
		tail = &w->next;
		(*taken)++;
	}
	return list;
}

static void ready_list(struct waiter *list)
{
	while (list) {
		/* Read everything before the ready: the waiter's frame dies after. */
		struct waiter *nx = list->next;
		struct gmp_g *g = list->g;
		gmp_ready(g);
		list = nx;
	}
}

int gmp_futex_wake(const void *addr, int n)
{
	if (n <= 0)
		return 0;
	struct bucket *b = bucket_of(addr);
	gmp_lock(&b->lock);
	int taken;
	struct waiter *list = b->head ? take_locked(b, addr, n, &taken) : (taken = 0, NULL);
	gmp_unlock(&b->lock);
	ready_list(list);
	return taken;
}

int gmp_futex_requeue(const void *addr, int nwake, const void *addr2, int nmove)
{
	struct bucket *b1 = bucket_of(addr), *b2 = bucket_of(addr2);
	if (b1 == b2) {
		gmp_lock(&b1->lock);
	} else if (b1 < b2) {
		gmp_lock(&b1->lock);
		gmp_lock(&b2->lock);
	} else {
		gmp_lock(&b2->lock);
		gmp_lock(&b1->lock);
	}
	int woken, moved = 0;
	struct waiter *list = take_locked(b1, addr, nwake, &woken);
	for (struct waiter *w = b1->head, *nx; w && moved < nmove; w = nx) {
		nx = w->next;
		if (atomic_load_explicit(&w->addr, memory_order_relaxed) != addr)
			continue;
		if (b1 != b2) {
			unlink_locked(b1, w);
			atomic_store_explicit(&w->addr, addr2, memory_order_release);
			enqueue_locked(b2, w);
		} else {
			atomic_store_explicit(&w->addr, addr2, memory_order_release);
		}
		moved++;
	}
	if (b1 != b2)
		gmp_unlock(&b2->lock);
	gmp_unlock(&b1->lock);
	ready_list(list);
	return woken + moved;
}
