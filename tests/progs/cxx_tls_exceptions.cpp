/*
 * cxx_tls_exceptions: per-thread C++ state and stack unwinding.
 *   - thread_local objects with constructors and destructors: constructed
 *     once in each thread that touches them, destroyed at that thread's
 *     exit; counts equal the thread count; each thread sees its own copy
 *   - 32 threads each throw and catch 500 exceptions at once, thrown from
 *     20 frames deep and carrying per-thread values; every catch sees the
 *     right value, and std::uncaught_exceptions is 0 afterwards
 *   - pthread_cancel of a C++ thread unwinds it: destructors of its locals
 *     run, a catch (...) block sees the forced unwind and must rethrow
 *     (abi::__forced_unwind), join yields PTHREAD_CANCELED
 *   - pthread_exit from C++ also runs local destructors
 */
/* shim-skip: S2: thread_local and exception globals are per OS thread with GMP_TLS=shared */
#include "common.h"
#include <atomic>
#include <cxxabi.h>
#include <semaphore.h>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

static std::atomic<int> ctors{0}, dtors{0};

struct PerThread {
	int value;
	std::string tag;
	PerThread() : value(0), tag("fresh") { ctors++; }
	~PerThread() { dtors++; }
};
static thread_local PerThread tl;

struct Tagged : std::runtime_error {
	long v;
	explicit Tagged(long x) : std::runtime_error("tagged " + std::to_string(x)), v(x) {}
};

static long thrower(int depth, long v)
{
	if (depth == 0)
		throw Tagged(v);
	return thrower(depth - 1, v) + 1; /* not a tail call */
}

static std::atomic<int> guard_dtors{0}, forced_seen{0}, after_block{0};
struct Guard {
	~Guard() { guard_dtors++; }
};

static sem_t never, ready;

static void *cancel_me(void *)
{
	Guard g;
	try {
		Guard inner;
		sem_post(&ready);
		sem_wait(&never); /* cancellation point */
		after_block++;
	} catch (abi::__forced_unwind &) {
		forced_seen++;
		throw;
	}
	return nullptr;
}

static void *exit_me(void *)
{
	Guard g;
	{
		Guard inner;
		pthread_exit((void *)7);
	}
	return nullptr;
}

int main()
{
	test_begin();
	sem_init(&never, 0, 0);
	sem_init(&ready, 0, 0);

	/* thread_local */
	{
		std::vector<std::thread> ts;
		std::atomic<int> wrong{0};
		for (int i = 0; i < 16; i++)
			ts.emplace_back([i, &wrong] {
				if (tl.tag != "fresh" || tl.value != 0)
					wrong++;
				tl.value = i;
				tl.tag = "thread " + std::to_string(i);
				std::this_thread::sleep_for(std::chrono::milliseconds(5));
				if (tl.value != i || tl.tag != "thread " + std::to_string(i))
					wrong++;
			});
		for (auto &t : ts)
			t.join();
		CHECK(wrong.load() == 0, "thread_local values leaked between threads (%d)", wrong.load());
		CHECK(ctors.load() == 16, "thread_local constructed %d times, expected 16", ctors.load());
		CHECK(dtors.load() == 16, "thread_local destroyed %d times, expected 16", dtors.load());
		/* A thread that never touches it constructs nothing. */
		std::thread([] {}).join();
		CHECK(ctors.load() == 16 && dtors.load() == 16, "untouched thread_local was constructed/destroyed");
	}

	/* exceptions in many threads at once */
	{
		std::vector<std::thread> ts;
		std::atomic<int> bad{0};
		std::atomic<long> caught{0};
		for (long i = 0; i < 32; i++)
			ts.emplace_back([i, &bad, &caught] {
				for (long k = 0; k < 500; k++) {
					long v = i * 100000 + k;
					try {
						thrower(20, v);
						bad++;
					} catch (const Tagged &e) {
						if (e.v != v || std::string(e.what()) != "tagged " + std::to_string(v))
							bad++;
						caught++;
					}
					if (std::uncaught_exceptions() != 0)
						bad++;
				}
			});
		for (auto &t : ts)
			t.join();
		CHECK(bad.load() == 0, "%d wrong exception values or states", bad.load());
		CHECK(caught.load() == 32 * 500, "caught %ld exceptions, expected %d", caught.load(), 32 * 500);
	}

	/* cancellation unwinds C++ frames */
	{
		pthread_t t = spawn(cancel_me, nullptr);
		sem_wait(&ready);
		sleep_ms(10);
		CHECK_RC(pthread_cancel(t), 0);
		CHECK(join(t) == PTHREAD_CANCELED, "cancelled C++ thread: join value not PTHREAD_CANCELED");
		CHECK(after_block.load() == 0, "cancelled thread ran past sem_wait");
		CHECK(forced_seen.load() == 1, "catch (abi::__forced_unwind&) saw the cancellation %d times, expected 1", forced_seen.load());
		CHECK(guard_dtors.load() == 2, "cancel ran %d local destructors, expected 2", guard_dtors.load());

		guard_dtors = 0;
		t = spawn(exit_me, nullptr);
		CHECK(join(t) == (void *)7, "pthread_exit value lost in C++ thread");
		CHECK(guard_dtors.load() == 2, "pthread_exit ran %d local destructors, expected 2", guard_dtors.load());
	}

	return test_pass();
}
