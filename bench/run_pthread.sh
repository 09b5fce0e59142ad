#!/usr/bin/env bash
# bench/run_pthread.sh BUILD_DIR
#
# The benchmark of an unmodified pthread program, natively and under the shim,
# in one run.  Compiles bench/pthread_ops.c with plain `gcc -O2 -pthread` (no
# libgmpthread header, no link against it) into BUILD_DIR/bench/pthread_ops
# and runs every benchmark in it
#   natively,
#   under LD_PRELOAD=BUILD_DIR/libgmpthread.so GMP_MAXPROCS=1,
#   under LD_PRELOAD=BUILD_DIR/libgmpthread.so GMP_MAXPROCS=2,
# then prints one table: benchmark | native | shim P=1 | shim P=2 | ratios
# (ratio = native ns/op / shim ns/op: above 1 means the shim is faster).
#
# A second table prices the thread-pointer switch (issue 4): the hand-off
# benchmarks again at GMP_MAXPROCS=1 with per-G TLS switched by wrfsbase (the
# default where the kernel allows it), by arch_prctl(ARCH_SET_FS)
# (GMP_FSBASE=arch_prctl) and with GMP_TLS=shared (no switch), next to native.
#
# Each benchmark runs as its own process under `timeout $TIMEOUT` (default
# 300 s), so a crash or hang costs one cell of the table, not the run.  A run
# still alive $HANG_BT s (default 20) before its timeout gets a
# `gdb -p PID -batch -ex 'thread apply all bt'` first; the backtrace is kept
# with the logs.  A cell reads FAIL(rc) on a non-zero exit (pthread_ops exits
# 2 when a result check fails), SIG<name> on a crash, TIMEOUT on a hang.
#
# Environment: CC (default gcc), TIMEOUT (default 300), HANG_BT (default 20),
# PTHREAD_OPS_SCALE (passed through: multiplies every iteration count),
# LOG_DIR (default: a fresh directory under ${TMPDIR:-/tmp}; kept when
# anything failed, removed otherwise unless LOG_DIR was given).
# Exit status: 0 when every run passed, 1 otherwise, 64 on a usage error.

set -u -o pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh" # bench_args, log_dir, ratio
bench_args "$@"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src="$here/pthread_ops.c"
build=$(cd "$1" 2>/dev/null && pwd) || { echo "$0: no such directory: $1" >&2; exit 64; }
lib="$build/libgmpthread.so"
bin="$build/bench/pthread_ops"
CC=${CC:-gcc}
TIMEOUT=${TIMEOUT:-300}
HANG_BT=${HANG_BT:-20}

[ -f "$src" ] || { echo "$0: missing $src" >&2; exit 1; }
[ -f "$lib" ] || { echo "$0: missing $lib (build the library first)" >&2; exit 1; }

log_dir run_pthread

mkdir -p "$build/bench" || exit 1
echo "compiling: $CC -O2 -pthread -o $bin $src"
if ! "$CC" -O2 -pthread -o "$bin" "$src"; then
	echo "$0: compiling $src failed" >&2
	exit 1
fi

# ---------------------------------------------------------------- machine
cpu=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*:[[:space:]]*//')
echo
echo "machine: ${cpu:-unknown CPU}, $(nproc) CPUs online (nproc)"
echo "kernel:  $(uname -srm)"
echo "libc:    $(ldd --version 2>&1 | head -1)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min; other work on the machine skews the figures)"
echo "cc:      $("$CC" --version | head -1)"
echo "shim:    $lib ($(stat -c '%s bytes, built %y' "$lib" | cut -d. -f1), sha256 $(sha256sum "$lib" | cut -c1-12))"
[ -n "${PTHREAD_OPS_SCALE:-}" ] && echo "scale:   PTHREAD_OPS_SCALE=$PTHREAD_OPS_SCALE"
echo "timeout: ${TIMEOUT}s per benchmark process; logs in $logs"

mapfile -t benches < <("$bin" --list) || { echo "$0: $bin --list failed" >&2; exit 1; }
[ ${#benches[@]} -gt 0 ] || { echo "$0: $bin --list printed nothing" >&2; exit 1; }

configs=(native p1 p2 p1a p1s)
declare -A label=([native]="native" [p1]="shim P=1" [p2]="shim P=2"
	[p1a]="shim P=1, GMP_FSBASE=arch_prctl" [p1s]="shim P=1, GMP_TLS=shared")
# The TLS-mode configs run only the benchmarks that switch between threads.
tls_benches=(yield_pingpong condvar_pingpong sem_pingpong create_join)
declare -A result      # result[config,bench] = ns/op or a failure word
declare -A probe       # probe[config] = OS threads for 8 blocked threads
failures=0

# run_one CONFIG NAME ARGS... : run $bin ARGS in CONFIG's environment under
# timeout; sets $cell to the ns/op figure (or probe count), or a failure word.
run_one() {
	local cfg=$1 name=$2; shift 2
	local out="$logs/$cfg.$name.out" err="$logs/$cfg.$name.err"
	local -a envv=(env -u LD_PRELOAD -u GMP_MAXPROCS -u GMP_TLS -u GMP_FSBASE)
	case $cfg in
	p1) envv+=(LD_PRELOAD="$lib" GMP_MAXPROCS=1) ;;
	p2) envv+=(LD_PRELOAD="$lib" GMP_MAXPROCS=2) ;;
	p1a) envv+=(LD_PRELOAD="$lib" GMP_MAXPROCS=1 GMP_FSBASE=arch_prctl) ;;
	p1s) envv+=(LD_PRELOAD="$lib" GMP_MAXPROCS=1 GMP_TLS=shared) ;;
	esac
	timeout "$TIMEOUT" "${envv[@]}" "$bin" "$@" >"$out" 2>"$err" &
	local tpid=$! start=$SECONDS btdone=0 pid rc
	while kill -0 "$tpid" 2>/dev/null; do
		if [ $btdone -eq 0 ] && [ $((SECONDS - start)) -ge $((TIMEOUT - HANG_BT)) ]; then
			btdone=1
			pid=$(pgrep -P "$tpid" | head -1)
			if [ -n "$pid" ]; then
				echo "  $cfg $name: still running after $((SECONDS - start))s; gdb backtrace of pid $pid -> $logs/$cfg.$name.bt" >&2
				timeout 60 gdb -p "$pid" -batch -ex 'info threads' \
					-ex 'thread apply all bt' >"$logs/$cfg.$name.bt" 2>&1
			fi
		fi
		sleep 0.1
	done
	wait "$tpid"; rc=$?
	cell=
	if grep -q 'cannot be preloaded' "$err"; then
		cell="NOPRELOAD"        # ld.so ignored LD_PRELOAD: the run was native
	elif [ $rc -eq 124 ]; then
		cell="TIMEOUT"
	elif [ $rc -gt 128 ]; then
		cell="SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"
	elif [ $rc -ne 0 ]; then
		cell="FAIL($rc)"
	elif [ "$name" = probe ]; then
		cell=$(sed -n 's/^probe .*os_threads=\([0-9-]*\).*/\1/p' "$out")
	else
		cell=$(sed -n "s/^bench $name ns_per_op=\([0-9.]*\).*/\1/p" "$out")
	fi
	if [ -z "$cell" ]; then
		cell="NOOUTPUT"
	fi
	case $cell in
	[0-9]*|-1) ;;
	*)
		failures=$((failures + 1))
		echo "  $cfg $name: $cell (exit $rc); stderr:" >&2
		tail -n 20 "$err" | sed 's/^/    | /' >&2
		;;
	esac
}

for cfg in "${configs[@]}"; do
	echo
	echo "== ${label[$cfg]}"
	list=("${benches[@]}")
	case $cfg in
	p1a|p1s) list=("${tls_benches[@]}") ;;
	*)
		run_one "$cfg" probe --probe
		probe[$cfg]=$cell
		echo "  probe: 8 blocked threads on $cell OS threads (natively 9)"
		;;
	esac
	for b in "${list[@]}"; do
		run_one "$cfg" "$b" "$b"
		result[$cfg,$b]=$cell
		grep -h "^bench $b " "$logs/$cfg.$b.out" 2>/dev/null | sed 's/^/  /'
		case $cell in [0-9]*) ;; *) echo "  bench $b: $cell" ;; esac
	done
done


echo
echo "ns per operation, median of 5 (ratio = native / shim; > 1: the shim is faster)"
echo
row() { printf '| %-18s | %10s | %10s | %10s | %9s | %9s |\n' "$@"; }
row benchmark native "shim P=1" "shim P=2" "ratio P=1" "ratio P=2"
printf "|%s|%s|%s|%s|%s|%s|\n" "--------------------" "-----------:" "-----------:" "-----------:" "----------:" "----------:"
for b in "${benches[@]}"; do
	n=${result[native,$b]} s1=${result[p1,$b]} s2=${result[p2,$b]}
	row "$b" "$n" "$s1" "$s2" "$(ratio "$n" "$s1")" "$(ratio "$n" "$s2")"
done
row "os threads (probe)" "${probe[native]}" "${probe[p1]}" "${probe[p2]}" "" ""
echo
echo "units: create_join ns per create+join; create_many ns per thread (1000 alive);"
echo "condvar/sem_pingpong ns per round trip; mutex_contended ns per lock+unlock (4 threads);"
echo "yield_pingpong ns per hand-off of the turn (natively on 2 CPUs both threads spin on"
echo "their own CPU, so it measures cache-line transfer + the syscall, not a switch)."
echo "os threads (probe): OS threads while 8 threads are blocked (natively 9)."

echo
echo "thread-pointer switch per TLS mode at P=1, ns per operation (median of 5)"
echo
tls_row() { printf '| %-18s | %10s | %13s | %14s | %13s |\n' "$@"; }
tls_row benchmark native "per-G wrfsbase" "per-G arch_prctl" "shared TLS"
printf "|%s|%s|%s|%s|%s|\n" "--------------------" "-----------:" "--------------:" "----------------:" "--------------:"
for b in "${tls_benches[@]}"; do
	tls_row "$b" "${result[native,$b]}" "${result[p1,$b]}" "${result[p1a,$b]}" "${result[p1s,$b]}"
done
echo
echo "Every G switch passes through the scheduler (G -> g0 -> next G); per-G TLS"
echo "writes the thread pointer twice per switch (the scheduler runs on the M's"
hwcap2=$(LD_SHOW_AUXV=1 /bin/true | sed -n 's/^AT_HWCAP2:[[:space:]]*//p')
echo "own TCB).  wrfsbase needs the kernel's FSGSBASE bit in AT_HWCAP2 (this"
echo "machine: AT_HWCAP2=${hwcap2:-absent}; bit 0x2 is FSGSBASE); without it the"
echo "default per-G column uses arch_prctl too."

if [ $failures -gt 0 ]; then
	echo
	echo "$failures run(s) failed; logs kept in $logs"
	exit 1
fi
[ $keep_logs -eq 1 ] || rm -rf "$logs"
exit 0
