# libgmpthread -- see README.md.
#
#   make            build/libgmpthread.so and build/gmprun
#   make demo       build and run the demo (the README's first command)
#   make test       build and run every test (the README's second command)
#   make bench      benchmarks, native vs shim side by side (not a test)
#   make stress     long stress runs (not part of test)
#   make asan|ubsan|tsan   the runtime unit tests under a sanitizer
#   make valgrind   the storm driver and unit suites under memcheck
#   make install PREFIX=/usr/local

CC      ?= gcc
PREFIX  ?= /usr/local
BUILD   ?= build
VERSION := 0.1.0

ARCH    := x86_64
WARN    := -Wall -Wextra -Wno-unused-parameter \
           -Werror=implicit-function-declaration -Werror=int-conversion \
           -Werror=incompatible-pointer-types -Werror=return-type
# No stack protector or fortify on objects that switch stacks: the canary
# and fortify checks read %fs-relative state that belongs to whichever G's
# TLS is live.
BASEFLAGS := -std=gnu11 -g -O2 -fPIC -fvisibility=hidden -fno-omit-frame-pointer \
           -fno-stack-protector -U_FORTIFY_SOURCE -D_GNU_SOURCE \
           -DGMP_VERSION=\"$(VERSION)\" $(WARN)
SANFLAGS ?=
CFLAGS  ?=
ALLCFLAGS = $(BASEFLAGS) $(SANFLAGS) $(CFLAGS)

RT_SRC  := $(wildcard src/*.c)
ASM_SRC := $(wildcard asm/$(ARCH)/*.S)
PRE_SRC := $(wildcard preload/*.c)
RT_OBJ  := $(RT_SRC:%.c=$(BUILD)/obj/%.o) $(ASM_SRC:%.S=$(BUILD)/obj/%.o)
PRE_OBJ := $(PRE_SRC:%.c=$(BUILD)/obj/%.o)
HDRS    := $(wildcard src/*.h) $(wildcard asm/$(ARCH)/*.h)

UNIT_SRC := $(wildcard tests/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := bench/bench_core.c
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

LIB     := $(BUILD)/libgmpthread.so
RTLIB   := $(BUILD)/libgmprt.a
GMPRUN  := $(BUILD)/gmprun

.PHONY: all demo test unit progs real gmprun-test bench stress asan ubsan tsan valgrind install clean deps deps-test deps-bench
all: $(LIB) $(GMPRUN)

$(BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -c $< -o $@

# The pthread layer is unwound through by pthread_exit and cancellation
# (forced unwinding), so its frames carry cleanups.
$(BUILD)/obj/preload/%.o: preload/%.c preload/shim.h $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -fexceptions -c $< -o $@

$(BUILD)/obj/%.o: %.S $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -c $< -o $@

# Build dependencies (libunwind-dev) are checked, or installed as root,
# before the first object is compiled.
$(RT_OBJ) $(PRE_OBJ): | deps

$(RTLIB): $(RT_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIB): $(RT_OBJ) $(PRE_OBJ) preload/libgmpthread.map
	$(CC) -shared $(SANFLAGS) -o $@ $(RT_OBJ) $(PRE_OBJ) \
	    -Wl,--version-script=preload/libgmpthread.map -Wl,-z,defs -Wl,-z,now \
	    -ldl -lpthread -lgcc_s
	@touch $(BUILD)/.shim-pthreads

$(GMPRUN): tools/gmprun.c tools/traceview.c tools/traceview.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -DGMP_VERSION=\"$(VERSION)\" $(WARN) -o $@ tools/gmprun.c tools/traceview.c

# Unit tests link the runtime statically and drive its internal API.
$(BUILD)/tests/%: tests/%.c tests/testutil.h $(RTLIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -fno-pie -no-pie -Isrc -o $@ $< $(RTLIB) -lcriterion -ldl -lpthread -lm

$(BUILD)/bench/%: bench/%.c $(RTLIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -Isrc -o $@ $< $(RTLIB) -ldl -lpthread

deps:
	@tools/deps.sh build

deps-test:
	@tools/deps.sh test

deps-bench:
	@tools/deps.sh bench

# An unmodified pthread program, run natively and under the shim.
demo: deps all
	@demo/run.sh $(BUILD)

unit: deps-test $(UNIT_BIN)
	@tools/run-unit.sh $(BUILD) $(UNIT_BIN)

# Conformance programs (tests/progs): ordinary `gcc -pthread` programs, each
# run natively, then under LD_PRELOAD=$(LIB) with GMP_MAXPROCS=1 and 2.
progs: deps-test all
	@tests/progs/run.sh $(BUILD) native
	@tests/progs/run.sh $(BUILD) shim

# Unmodified Debian programs (pigz, zstd, sysbench, stress-ng, memcached),
# natively and under the shim.  REAL_SKIP=<config>/<test>... skips runs
# (none are known to fail).
REAL_SKIP ?=
real: deps-test all
	@REAL_SKIP="$(REAL_SKIP)" tests/real/run.sh $(BUILD)

# gmprun itself: options, `gmprun view` on a sample trace, `gmprun dump`.
gmprun-test: all
	@tests/gmprun/run.sh $(BUILD)

test: deps-test all unit progs real gmprun-test
	@bash tools/coverage.sh --lib $(LIB)
	@echo "make test: all test suites passed"

# The benchmark harness (bench/run: every suite, native / shim / Go side by
# side) rebuilds bench/RESULTS.md and bench/plots/.  A failed benchmark shows
# as FAIL in its cell; it does not stop the run or fail the target.
bench: deps-bench all $(BENCH_BIN)
	@BUILD=$(BUILD) bench/run || echo "make bench: some benchmark runs failed (FAIL cells in bench/RESULTS.md)"

# Long runs: the unit storms at full size, then the I/O conformance programs
# under the shim STRESS_ROUNDS times (default 10), where rare interleavings
# of the poller, sysmon's retakes and close() show up.
STRESS_ROUNDS ?= 10
# The preemption storm and the malloc/stdio program run this long (seconds),
# in each configuration.
STRESS_PREEMPT_SECONDS ?= 30
STRESS_PROGS := io_echo_server io_epoll_workers io_pipes io_poll io_sockets \
	io_close_blocked io_raw_syscall io_signals_eintr io_kill_eintr cancel_syscalls
stress: deps-test all $(UNIT_BIN)
	@GMP_TEST_STRESS=1 tools/run-unit.sh $(BUILD) $(UNIT_BIN)
	@for i in $$(seq $(STRESS_ROUNDS)); do \
		out=$$(tests/progs/run.sh $(BUILD) shim $(STRESS_PROGS)); \
		echo "stress: round $$i of $(STRESS_ROUNDS): $$(echo "$$out" | tail -n 1)"; \
		echo "$$out" | tail -n 1 | grep -q ' 0 failed' || { echo "$$out" | grep -E '^FAIL|err\|'; exit 1; }; \
	done
	@out=$$(PREEMPT_STORM_SECONDS=$(STRESS_PREEMPT_SECONDS) PREEMPT_MALLOC_SECONDS=$(STRESS_PREEMPT_SECONDS) \
		PROGS_TIMEOUT=$$(($(STRESS_PREEMPT_SECONDS) + 90)) tests/progs/run.sh $(BUILD) shim preempt_storm preempt_malloc); \
		echo "stress: preemption storm and malloc, $(STRESS_PREEMPT_SECONDS) s each: $$(echo "$$out" | tail -n 1)"; \
		echo "$$out" | tail -n 1 | grep -q ' 0 failed' || { echo "$$out" | grep -E '^FAIL|err\|'; exit 1; }

# Sanitizer variants of the runtime unit tests, each in its own build dir.
asan:
	$(MAKE) BUILD=build-asan SANFLAGS="-fsanitize=address -fno-sanitize-recover=all -DGMP_SANITIZE_ADDRESS" unit
ubsan:
	$(MAKE) BUILD=build-ubsan SANFLAGS="-fsanitize=undefined -fno-sanitize-recover=all" unit
# TSan cannot share a process with Criterion's worker arena, so it runs the
# plain storm driver instead of the Criterion suites.
tsan:
	$(MAKE) BUILD=build-tsan SANFLAGS="-fsanitize=thread -DGMP_SANITIZE_THREAD" build-tsan/race/storm
	TSAN_OPTIONS="halt_on_error=1 exitcode=66" build-tsan/race/storm

$(BUILD)/race/storm: tests/race/storm.c $(RTLIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -Isrc -o $@ $< $(RTLIB) -ldl -lpthread

# memcheck over the storm driver and every unit suite (G stacks are
# registered with valgrind, so switches are not mistaken for frame changes).
VALGRIND := valgrind -q --error-exitcode=9 --trace-children=yes
valgrind: deps-test $(BUILD)/race/storm $(UNIT_BIN)
	GMP_STACKSIZE=256k $(VALGRIND) $(BUILD)/race/storm
	@for t in $(UNIT_BIN); do echo "valgrind $$t"; $(VALGRIND) $$t --jobs 1 -q || exit 1; done

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/doc/libgmpthread
	install -m 755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libgmpthread.so
	install -m 755 $(GMPRUN) $(DESTDIR)$(PREFIX)/bin/gmprun
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 docs/gmprun.1 $(DESTDIR)$(PREFIX)/share/man/man1/gmprun.1
	install -m 644 README.md LICENSE docs/*.md $(DESTDIR)$(PREFIX)/share/doc/libgmpthread/

clean:
	rm -rf build build-asan build-ubsan build-tsan
