#!/usr/bin/env bash
# bench/run_preempt.sh BUILD_DIR
#
# Async preemption (issue 6), measured on an unmodified program
# (bench/preempt_cpu.c, plain gcc -O2 -pthread) in one run:
#
#   1. overhead: 8 threads, each 40 runs of a call-free integer kernel, on
#      2 processors: wall time natively, under the shim with async
#      preemption on (GMP_PREEMPT_MS=10, the default, and 1) and off
#      (GMP_ASYNCPREEMPT=0).  Median of REPS (default 5) runs.
#   2. latency: the shim's own count (GMP_DEBUG=preempt) of the time from
#      sysmon's request to the switch, p50/p99, from the same runs.
#   3. wake-up lateness: one thread sleeping 1 ms in a loop next to 4
#      spinners: how late it wakes, natively and under the shim (a runnable
#      thread waits for the running one's slice to end).
#
# Environment: CC (default gcc), REPS (default 5).  Exit status 0 unless a
# run failed.
set -u -o pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh" # bench_args, ratio
bench_args "$@"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "$1" 2>/dev/null && pwd) || { echo "$0: no such directory: $1" >&2; exit 64; }
lib="$build/libgmpthread.so"
bin="$build/bench/preempt_cpu"
CC=${CC:-gcc}
REPS=${REPS:-5}
[ -f "$lib" ] || { echo "$0: missing $lib (build the library first)" >&2; exit 1; }
mkdir -p "$build/bench" || exit 1
echo "compiling: $CC -O2 -pthread -o $bin $here/preempt_cpu.c"
"$CC" -O2 -pthread -o "$bin" "$here/preempt_cpu.c" || exit 1
echo "machine: $(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*:[[:space:]]*//'), $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"

failed=0
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'; }

# run_cfg NAME ENV...: REPS runs of `work 8 40`; sets $wall (median ms) and
# $lat (the shim's latency line of the last run, if any).
run_cfg() {
	local name=$1 walls=() out err
	shift
	lat=
	for _ in $(seq "$REPS"); do
		err=$(mktemp)
		if ! out=$(env -u LD_PRELOAD "$@" "$bin" work 8 40 2>"$err"); then
			echo "  $name: run failed: $(tail -n 3 "$err")" >&2
			failed=1
		fi
		walls+=("$(echo "$out" | sed -n 's/^bench work wall_ms=\([0-9.]*\).*/\1/p')")
		lat=$(sed -n 's/.*preemption latency (request to switch, \([0-9]*\) switches): p50 \([^,]*\), p90 [^,]*, p99 \([^,]*\),.*/\1 switches, p50 \2, p99 \3/p' "$err")
		rm -f "$err"
	done
	wall=$(printf '%s\n' "${walls[@]}" | median)
}

echo
echo "CPU-bound: 8 threads x 40 runs of a call-free kernel, wall ms (median of $REPS)"
echo
printf '| %-34s | %9s | %12s | %-40s |\n' configuration "wall ms" "vs native" "preemption latency (request to switch)"
printf '|%s|%s|%s|%s|\n' "------------------------------------" "----------:" "-------------:" "------------------------------------------"
run_cfg native
native=$wall
printf '| %-34s | %9s | %12s | %-40s |\n' "native (2 CPUs)" "$native" "1.00" "-"
for c in "on, 10 ms|GMP_PREEMPT_MS=10" "on, 1 ms|GMP_PREEMPT_MS=1" "off (GMP_ASYNCPREEMPT=0)|GMP_ASYNCPREEMPT=0"; do
	label=${c%%|*} extra=${c#*|}
	run_cfg "$label" LD_PRELOAD="$lib" GMP_MAXPROCS=2 GMP_DEBUG=preempt "$extra"
	printf '| %-34s | %9s | %12s | %-40s |\n' "shim P=2, async $label" "$wall" "$(ratio "$wall" "$native")" "${lat:--}"
done

echo
echo "Wake-up lateness of a thread sleeping 1 ms next to 4 spinners (2 s)"
echo
printf '| %-34s | %9s | %9s | %9s |\n' configuration "p50 us" "p99 us" "max us"
printf '|%s|%s|%s|%s|\n' "------------------------------------" "----------:" "----------:" "----------:"
for c in "native|" "shim P=2, slice 10 ms|LD_PRELOAD=$lib GMP_MAXPROCS=2" "shim P=2, slice 1 ms|LD_PRELOAD=$lib GMP_MAXPROCS=2 GMP_PREEMPT_MS=1"; do
	label=${c%%|*} extra=${c#*|}
	# shellcheck disable=SC2086
	out=$(env -u LD_PRELOAD $extra "$bin" wake 4 2) || { echo "  $label: run failed" >&2; failed=1; }
	p50=$(echo "$out" | sed -n 's/.*p50_us=\([0-9]*\).*/\1/p')
	p99=$(echo "$out" | sed -n 's/.*p99_us=\([0-9]*\).*/\1/p')
	mx=$(echo "$out" | sed -n 's/.*max_us=\([0-9]*\).*/\1/p')
	printf '| %-34s | %9s | %9s | %9s |\n' "$label" "$p50" "$p99" "$mx"
done
exit $failed
