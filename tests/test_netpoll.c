/*
 * Netpoll and sysmon: Gs parked on fd readiness are woken by the poller
 * (from an idle M, or sysmon when every P is busy), every waiter of an fd
 * wakes, and a G blocked in the kernel where the runtime cannot see it
 * (no entersyscall) loses its P to sysmon and comes back afterwards.
 */
#include "testutil.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct wg wg;
/* "Never", not "slow": valgrind runs every thread on one lock. */
#define LONG (UNDER_VALGRIND ? MS(300000) : MS(10000))

/* A pipe whose read end is non-blocking, for try-then-wait reads. */
static void nb_pipe(int fds[2])
{
	cr_assert_eq(pipe(fds), 0);
	cr_assert_eq(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
}

struct reader {
	struct gmp_pd *pd;
	int fd;
	_Atomic int got;
};

/* Reads one byte the way the fd layer does: count, try, wait past count;
 * a success passes the baton to the next waiter (two writes close together
 * can make one epoll event, which wakes one waiter only). */
static void read_one(void *arg)
{
	struct reader *r = arg;
	char c;
	for (;;) {
		uint32_t seq = gmp_pd_seq(r->pd, false);
		ssize_t n = read(r->fd, &c, 1);
		if (n == 1) {
			gmp_pd_pass(r->pd, false);
			break;
		}
		cr_assert(n < 0 && errno == EAGAIN);
		int w = gmp_pd_wait(r->pd, false, seq, gmp_nanotime() + LONG);
		cr_assert(w == 0 || w == -EAGAIN, "pd wait: %d", w);
	}
	atomic_fetch_add(&r->got, 1);
	wg_done(&wg);
}

static void readers_wake(int procs, int nreaders)
{
	rt_init(procs);
	static struct gmp_pd pd;
	int fds[2];
	nb_pipe(fds);
	cr_assert_eq(gmp_pd_arm(&pd, fds[0]), 0);
	struct reader r = { .pd = &pd, .fd = fds[0] };
	wg_add(&wg, (uint32_t)nreaders);
	for (int i = 0; i < nreaders; i++)
		spawn(read_one, &r);
	/* Let them all park, then feed them one byte each, slowly. */
	gmp_sleep_until(gmp_nanotime() + MS(20));
	for (int i = 0; i < nreaders; i++) {
		cr_assert_eq(write(fds[1], "x", 1), 1);
		gmp_sleep_until(gmp_nanotime() + MS(1));
	}
	cr_assert(wg_wait_for(&wg, LONG), "only %d of %d readers got their byte", atomic_load(&r.got),
		  nreaders);
	gmp_pd_disarm(fds[0]);
}

Test(netpoll, one_reader_procs1) { readers_wake(1, 1); }
Test(netpoll, many_readers_one_fd_procs1) { readers_wake(1, 20); }
Test(netpoll, many_readers_one_fd_procs2) { readers_wake(2, 20); }

/* Every P busy with a G that never parks: sysmon's poll still wakes the
 * reader (Go's 10 ms rule) once the busy Gs yield now and then. */
static _Atomic bool stop;
static void busy(void *arg)
{
	while (!atomic_load(&stop))
		gmp_yield();
	wg_done(&wg);
}

Test(netpoll, reader_wakes_while_ps_are_busy)
{
	rt_init(1);
	static struct gmp_pd pd;
	int fds[2];
	nb_pipe(fds);
	cr_assert_eq(gmp_pd_arm(&pd, fds[0]), 0);
	struct reader r = { .pd = &pd, .fd = fds[0] };
	wg_add(&wg, 2);
	spawn(read_one, &r);
	spawn(busy, NULL);
	gmp_sleep_until(gmp_nanotime() + MS(20));
	cr_assert_eq(write(fds[1], "x", 1), 1);
	int64_t until = gmp_nanotime() + LONG;
	while (atomic_load(&r.got) == 0 && gmp_nanotime() < until)
		gmp_sleep_until(gmp_nanotime() + MS(1));
	cr_assert_eq(atomic_load(&r.got), 1, "the reader never woke while a G kept its P busy");
	atomic_store(&stop, true);
	cr_assert(wg_wait_for(&wg, LONG));
}

/* A timed wait on an fd that never becomes ready times out on time. */
static _Atomic int timed_result;
static void timed_reader(void *arg)
{
	struct reader *r = arg;
	uint32_t seq = gmp_pd_seq(r->pd, false);
	int64_t t0 = gmp_nanotime();
	atomic_store(&timed_result, gmp_pd_wait(r->pd, false, seq, t0 + MS(50)));
	cr_assert_geq(gmp_nanotime() - t0, MS(50), "timed out early");
	wg_done(&wg);
}

Test(netpoll, wait_times_out)
{
	rt_init(2);
	static struct gmp_pd pd;
	int fds[2];
	nb_pipe(fds);
	cr_assert_eq(gmp_pd_arm(&pd, fds[0]), 0);
	struct reader r = { .pd = &pd, .fd = fds[0] };
	wg_add(&wg, 1);
	spawn(timed_reader, &r);
	cr_assert(wg_wait_for(&wg, LONG));
	cr_assert_eq(atomic_load(&timed_result), -ETIMEDOUT);
}

/*
 * Unannounced blocking: a G reads an empty pipe with a raw system call (no
 * entersyscall).  With one P, the other G can only run if sysmon notices
 * that the M sleeps in the kernel and hands the P over; the blocked G gets
 * a P back when its read returns.
 */
static int rawpipe[2];
static _Atomic int raw_state, ticks;
static void raw_blocker(void *arg)
{
	char c;
	atomic_store(&raw_state, 1);
	long n = gmp_sys(SYS_read, rawpipe[0], &c, 1, 0, 0, 0);
	cr_assert_eq(n, 1);
	atomic_store(&raw_state, 2);
	gmp_yield(); /* back in the scheduler: it must hold a P again */
	wg_done(&wg);
}

static void ticker(void *arg)
{
	while (atomic_load(&ticks) < 20) {
		gmp_sleep_until(gmp_nanotime() + MS(1));
		atomic_fetch_add(&ticks, 1);
	}
	wg_done(&wg);
}

Test(netpoll, unannounced_blocking_loses_its_p)
{
	rt_init(1);
	cr_assert_eq(pipe(rawpipe), 0);
	wg_add(&wg, 2);
	spawn(raw_blocker, NULL);
	while (atomic_load(&raw_state) != 1)
		gmp_sleep_until(gmp_nanotime() + MS(1));
	spawn(ticker, NULL);
	int64_t until = gmp_nanotime() + LONG;
	while (atomic_load(&ticks) < 20 && gmp_nanotime() < until)
		gmp_sleep_until(gmp_nanotime() + MS(1));
	cr_assert_eq(atomic_load(&ticks), 20, "the only P stayed with a G asleep in the kernel");
	cr_assert_eq(atomic_load(&raw_state), 1);
	cr_assert_eq(write(rawpipe[1], "x", 1), 1);
	cr_assert(wg_wait_for(&wg, LONG), "the blocked G never came back");
	cr_assert_eq(atomic_load(&raw_state), 2);
}
