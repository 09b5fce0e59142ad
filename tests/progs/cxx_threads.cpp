/*
 * cxx_threads: the C++ standard library's threading on top of pthreads.
 *   - std::thread + join; std::this_thread::get_id differs per thread and
 *     matches thread::get_id
 *   - std::mutex + std::lock_guard: 8 threads x 20000 increments exact
 *   - std::condition_variable producer/consumer (2 producers, 2 consumers,
 *     20000 items, checksum); wait_for times out (cv_status::timeout /
 *     predicate false) no earlier than requested on steady_clock
 *   - std::this_thread::sleep_for / sleep_until never early
 *   - std::async(std::launch::async) futures give their results; a
 *     promise/future pair passes a value and an exception between threads
 *   - std::shared_mutex: readers share, writer excludes; std::call_once
 *   - std::timed_mutex::try_lock_for times out, not early
 */
#include "common.h"
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono;
using std::chrono::steady_clock;

static long long ms_since(steady_clock::time_point t0)
{
	return duration_cast<microseconds>(steady_clock::now() - t0).count() / 1000;
}

int main()
{
	test_begin();

	/* threads and ids */
	{
		std::mutex idm;
		std::set<std::thread::id> ids;
		std::vector<std::thread> ts;
		std::vector<std::thread::id> reported(8);
		for (int i = 0; i < 8; i++)
			ts.emplace_back([&, i] {
				reported[i] = std::this_thread::get_id();
				std::lock_guard<std::mutex> g(idm);
				ids.insert(std::this_thread::get_id());
			});
		std::vector<std::thread::id> tids;
		for (auto &t : ts)
			tids.push_back(t.get_id());
		for (auto &t : ts)
			t.join();
		CHECK(ids.size() == 8, "8 threads reported %zu distinct ids", ids.size());
		CHECK(ids.count(std::this_thread::get_id()) == 0, "a thread has main's id");
		for (int i = 0; i < 8; i++)
			CHECK(reported[i] == tids[i], "thread %d: this_thread::get_id differs from thread::get_id", i);
	}

	/* mutex counter */
	{
		std::mutex m;
		long counter = 0;
		std::vector<std::thread> ts;
		for (int i = 0; i < 8; i++)
			ts.emplace_back([&] {
				for (int k = 0; k < 20000; k++) {
					std::lock_guard<std::mutex> g(m);
					counter++;
				}
			});
		for (auto &t : ts)
			t.join();
		CHECK(counter == 160000, "std::mutex counter %ld, expected 160000", counter);
	}

	/* condition_variable producer/consumer */
	{
		std::mutex m;
		std::condition_variable not_empty, not_full;
		std::deque<int> q;
		int producers_left = 2;
		long long sum = 0;
		long consumed = 0;
		auto producer = [&](int base) {
			for (int i = 0; i < 10000; i++) {
				std::unique_lock<std::mutex> l(m);
				not_full.wait(l, [&] { return q.size() < 32; });
				q.push_back(base + i);
				not_empty.notify_one();
			}
			std::lock_guard<std::mutex> g(m);
			producers_left--;
			not_empty.notify_all();
		};
		auto consumer = [&] {
			long long s = 0;
			long c = 0;
			for (;;) {
				std::unique_lock<std::mutex> l(m);
				not_empty.wait(l, [&] { return !q.empty() || producers_left == 0; });
				if (q.empty())
					break;
				s += q.front();
				q.pop_front();
				c++;
				not_full.notify_one();
			}
			std::lock_guard<std::mutex> g(m);
			sum += s;
			consumed += c;
		};
		std::thread p1(producer, 0), p2(producer, 100000), c1(consumer), c2(consumer);
		p1.join();
		p2.join();
		c1.join();
		c2.join();
		long long want = 0;
		for (int i = 0; i < 10000; i++)
			want += i + (100000 + i);
		CHECK(consumed == 20000, "consumed %ld items, expected 20000", consumed);
		CHECK(sum == want, "consumed sum %lld, expected %lld", sum, want);

		std::unique_lock<std::mutex> l(m);
		auto t0 = steady_clock::now();
		std::cv_status st = not_empty.wait_for(l, milliseconds(40));
		CHECK(st == std::cv_status::timeout, "condition_variable::wait_for did not time out");
		CHECK(steady_clock::now() - t0 >= milliseconds(40), "wait_for(40 ms) returned after %lld ms", ms_since(t0));
		t0 = steady_clock::now();
		bool ok = not_empty.wait_for(l, milliseconds(30), [] { return false; });
		CHECK(!ok, "wait_for with a false predicate returned true");
		CHECK(steady_clock::now() - t0 >= milliseconds(30), "predicate wait_for(30 ms) returned after %lld ms", ms_since(t0));
		auto until = steady_clock::now() + milliseconds(30);
		st = not_empty.wait_until(l, until);
		CHECK(st == std::cv_status::timeout && steady_clock::now() >= until, "wait_until returned early or without timeout");
	}

	/* sleeps */
	{
		auto t0 = steady_clock::now();
		std::this_thread::sleep_for(milliseconds(30));
		CHECK(steady_clock::now() - t0 >= milliseconds(30), "sleep_for(30 ms) returned after %lld ms", ms_since(t0));
		auto until = steady_clock::now() + milliseconds(30);
		std::this_thread::sleep_until(until);
		CHECK(steady_clock::now() >= until, "sleep_until returned early");
		std::this_thread::yield();
	}

	/* async, promise */
	{
		std::vector<std::future<long>> fs;
		for (long i = 0; i < 16; i++)
			fs.push_back(std::async(std::launch::async, [i] {
				long s = 0;
				for (long k = 0; k <= i * 1000; k++)
					s += k;
				return s;
			}));
		for (long i = 0; i < 16; i++) {
			long n = i * 1000, want = n * (n + 1) / 2;
			long got = fs[i].get();
			CHECK(got == want, "async task %ld gave %ld, expected %ld", i, got, want);
		}
		std::promise<int> p;
		std::future<int> f = p.get_future();
		std::thread t([&p] {
			std::this_thread::sleep_for(milliseconds(5));
			p.set_value(99);
		});
		CHECK(f.get() == 99, "promise value lost");
		t.join();
		std::promise<int> pe;
		std::future<int> fe = pe.get_future();
		std::thread te([&pe] {
			try {
				throw std::runtime_error("from thread");
			} catch (...) {
				pe.set_exception(std::current_exception());
			}
		});
		bool caught = false;
		try {
			fe.get();
		} catch (const std::runtime_error &e) {
			caught = std::string(e.what()) == "from thread";
		}
		te.join();
		CHECK(caught, "exception passed through a promise was not rethrown by future::get");
		std::future<int> fw = std::async(std::launch::async, [] {
			std::this_thread::sleep_for(milliseconds(200));
			return 1;
		});
		auto t0 = steady_clock::now();
		CHECK(fw.wait_for(milliseconds(20)) == std::future_status::timeout, "future::wait_for did not time out");
		CHECK(steady_clock::now() - t0 >= milliseconds(20), "future::wait_for returned early");
		CHECK(fw.get() == 1, "slow async result wrong");
	}

	/* shared_mutex, call_once, timed_mutex */
	{
		std::shared_mutex sm;
		std::atomic<int> readers_in{0}, peak{0}, violations{0};
		std::atomic<bool> writer_in{false};
		std::vector<std::thread> ts;
		for (int i = 0; i < 4; i++)
			ts.emplace_back([&] {
				std::shared_lock<std::shared_mutex> l(sm);
				int n = ++readers_in;
				int p = peak.load();
				while (p < n && !peak.compare_exchange_weak(p, n))
					;
				auto t0 = steady_clock::now();
				while (peak.load() < 4 && steady_clock::now() - t0 < seconds(10))
					std::this_thread::sleep_for(milliseconds(1));
				--readers_in;
			});
		for (auto &t : ts)
			t.join();
		CHECK(peak.load() == 4, "shared_mutex: %d readers inside at once, expected 4", peak.load());
		ts.clear();
		for (int i = 0; i < 4; i++)
			ts.emplace_back([&, i] {
				for (int k = 0; k < 2000; k++) {
					if (i == 0) {
						std::unique_lock<std::shared_mutex> l(sm);
						writer_in = true;
						if (readers_in.load())
							violations++;
						writer_in = false;
					} else {
						std::shared_lock<std::shared_mutex> l(sm);
						++readers_in;
						if (writer_in.load())
							violations++;
						--readers_in;
					}
				}
			});
		for (auto &t : ts)
			t.join();
		CHECK(violations.load() == 0, "shared_mutex writer overlapped readers %d times", violations.load());

		std::once_flag once;
		std::atomic<int> calls{0};
		ts.clear();
		for (int i = 0; i < 8; i++)
			ts.emplace_back([&] { std::call_once(once, [&] { calls++; std::this_thread::sleep_for(milliseconds(10)); }); });
		for (auto &t : ts)
			t.join();
		CHECK(calls.load() == 1, "std::call_once ran %d times", calls.load());

		std::timed_mutex tm;
		tm.lock();
		std::thread t([&] {
			auto t0 = steady_clock::now();
			bool got = tm.try_lock_for(milliseconds(30));
			auto took = steady_clock::now() - t0;
			if (got)
				tm.unlock();
			violations += got ? 100 : 0;
			violations += took < milliseconds(30) ? 1000 : 0;
		});
		t.join();
		tm.unlock();
		CHECK(violations.load() == 0, "timed_mutex::try_lock_for on a held mutex: code %d (100 = got it, 1000 = early)", violations.load());
	}

	return test_pass();
}
