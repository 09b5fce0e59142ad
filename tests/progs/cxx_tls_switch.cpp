/*
 * cxx_tls_switch: C++ per-thread state under switching.
 *   - 300 threads each touch a thread_local object with a constructor and a
 *     destructor, then yield and sleep; each sees its own object throughout;
 *     after all are joined, constructions == destructions == 300
 *   - exceptions in flight stay intact across switches: 64 threads each
 *     catch an exception carrying their id and, inside the catch block,
 *     yield and block repeatedly while the others (on the same OS thread
 *     under the shim with GMP_MAXPROCS=1) throw and catch their own; the
 *     caught object, std::current_exception() rethrown, and a nested
 *     throw/catch inside the handler all still carry the right id, and
 *     std::uncaught_exceptions() is 0 outside handlers
 */
/* shim-skip: S2: thread_local and exception state are per OS thread with GMP_TLS=shared */
#include "common.h"
#include <atomic>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

static std::atomic<int> ctors{0}, dtors{0}, bad{0};

struct Tracked {
	long owner = -1;
	long ticks = 0;
	Tracked() { ctors++; }
	~Tracked() { dtors++; }
};
static thread_local Tracked tracked;

struct Ex {
	long id;
	std::string text;
};

static std::mutex mu;

static void tls_user(long id)
{
	tracked.owner = id;
	for (int r = 0; r < 20; r++) {
		tracked.ticks++;
		if (r % 2)
			std::this_thread::yield();
		else
			usleep(50);
		if (tracked.owner != id || tracked.ticks != r + 1)
			bad++;
	}
}

static void deep_throw(long id, int depth)
{
	if (depth == 0)
		throw Ex{id, "thrown by " + std::to_string(id)};
	deep_throw(id, depth - 1);
}

static void exc_user(long id)
{
	try {
		deep_throw(id, 8);
	} catch (Ex &e) {
		for (int r = 0; r < 30; r++) {
			if (r % 3 == 0) {
				std::lock_guard<std::mutex> g(mu); /* contended: blocks */
				std::this_thread::yield();
			} else if (r % 3 == 1) {
				std::this_thread::yield();
			} else {
				usleep(20);
			}
			if (e.id != id || e.text != "thrown by " + std::to_string(id))
				bad++;
		}
		/* a nested exception inside the handler */
		try {
			throw std::runtime_error(std::to_string(id * 7));
		} catch (std::runtime_error &n) {
			std::this_thread::yield();
			if (std::string(n.what()) != std::to_string(id * 7))
				bad++;
		}
		std::exception_ptr p = std::current_exception();
		std::this_thread::yield();
		try {
			std::rethrow_exception(p);
		} catch (Ex &again) {
			if (again.id != id)
				bad++;
		}
	}
	if (std::uncaught_exceptions() != 0)
		bad++;
}

/* Runs fn(1..n) on n threads at once and joins them. */
static void run_threads(long n, void (*fn)(long))
{
	std::vector<std::thread> ts;
	for (long i = 0; i < n; i++)
		ts.emplace_back(fn, i + 1);
	for (auto &t : ts)
		t.join();
}

int main()
{
	test_begin();
	run_threads(300, tls_user);
	CHECK(bad == 0, "%d thread_local values seen by the wrong thread", bad.load());
	CHECK(ctors == 300 && dtors == 300, "thread_local constructed %d and destroyed %d times, expected 300",
	      ctors.load(), dtors.load());
	run_threads(64, exc_user);
	CHECK(bad == 0, "%d exceptions changed while their handler was switched out", bad.load());
	return test_pass();
}
