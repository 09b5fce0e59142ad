#!/usr/bin/env bash
# The demo behind `make demo`: one unmodified pthread program (demo/threads.c,
# built with plain `gcc -O2 -pthread`), run natively and then under
# LD_PRELOAD=libgmpthread.so, with what changed printed side by side.
#
#   demo/run.sh BUILD_DIR [THREADS]
#
# BUILD_DIR holds libgmpthread.so (and gmprun, used when present).  The
# program is compiled into BUILD_DIR/demo/threads when missing or older than
# its source; each run's output goes to BUILD_DIR/demo/{native,shim}.{out,err}.
# THREADS defaults to 10000.  Each run has a DEMO_TIMEOUT (120 s) timeout.
#
# Exits 0 when both runs succeed with the same checksum, 1 otherwise.
set -u

usage() { echo "usage: $0 BUILD_DIR [THREADS]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
build=$1
nthreads=${2:-10000}
case $nthreads in '' | *[!0-9]*) usage ;; esac
timeout_s=${DEMO_TIMEOUT:-120}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -d "$build" ] || { echo "demo: no build directory $build (run make first)" >&2; exit 2; }
build=$(cd "$build" && pwd)
lib=$build/libgmpthread.so
[ -f "$lib" ] || { echo "demo: $lib not found (run make first)" >&2; exit 2; }

src=$here/threads.c
out=$build/demo
bin=$out/threads
mkdir -p "$out" || exit 2

# ---- build: an ordinary pthread program, nothing from libgmpthread ----
if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
	if ! ${CC:-gcc} -O2 -pthread -o "$bin" "$src"; then
		echo "demo: cannot compile $src" >&2
		exit 1
	fi
fi

# ---- the shim run: through gmprun when it is there and works ----
if [ -x "$build/gmprun" ] && "$build/gmprun" --help >/dev/null 2>&1; then
	shim_cmd=("$build/gmprun" --)
	shim_how="via gmprun"
else
	shim_cmd=(env "LD_PRELOAD=$lib")
	shim_how="via LD_PRELOAD"
fi

declare -A R # R[<run>.<key>]: checksum, peak_os_threads, vmhwm_kb, wall_ms, ok, why

run() { # name command...
	local name=$1
	shift
	local o=$out/$name.out e=$out/$name.err rc line kv
	env -u LD_PRELOAD -u GMP_EXPECT_MAX_OS_THREADS \
		timeout -k 5 "$timeout_s" "$@" "$bin" "$nthreads" >"$o" 2>"$e"
	rc=$?
	R[$name.ok]=0
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		R[$name.why]="timed out after ${timeout_s} s"
		return
	fi
	if grep -q "cannot be preloaded" "$e"; then
		R[$name.why]="the dynamic loader could not preload $lib"
		return
	fi
	line=$(grep -m1 '^checksum=' "$o")
	if [ $rc -ne 0 ] || [ -z "$line" ]; then
		if [ $rc -gt 128 ]; then
			R[$name.why]="killed by signal $((rc - 128))"
		else
			R[$name.why]="exit status $rc"
		fi
		line=$(grep -m1 '^error=' "$o")
		[ -n "$line" ] && R[$name.why]+=": ${line#error=}"
		return
	fi
	for kv in $line; do
		R[$name.${kv%%=*}]=${kv#*=}
	done
	R[$name.ok]=1
}

echo "demo: $nthreads pthreads; each hashes 16 KiB, waits until all $nthreads are alive, sleeps 50 ms,"
echo "      hashes again and adds to a mutex-protected checksum.  One unmodified binary"
echo "      (demo/threads.c, plain gcc -pthread), run natively, then under libgmpthread ($shim_how)."
echo

run native
run shim "${shim_cmd[@]}"

cell() { # run key printf-format [divisor]: one value, formatted, or "-"
	local v=${R[$1.$2]:-}
	if [ "${R[$1.ok]}" != 1 ] || [ -z "$v" ]; then
		echo "-"
	else
		awk -v v="$v" -v d="${4:-1}" -v f="$3" 'BEGIN { printf f, v / d }'
	fi
}

row() { # label key printf-format [divisor]
	printf '  %-16s%18s%20s\n' "$1" "$(cell native "$2" "$3" "${4:-}")" "$(cell shim "$2" "$3" "${4:-}")"
}

printf '  %-16s%18s%20s\n' "" "native pthreads" "under libgmpthread"
row "wall time" wall_ms '%.3f s' 1000
row "peak OS threads" peak_os_threads '%d'
row "peak RSS" vmhwm_kb '%.1f MiB' 1024
printf '  %-16s%18s%20s\n' "checksum" "${R[native.checksum]:--}" "${R[shim.checksum]:--}"
echo

status=0
for r in native shim; do
	if [ "${R[$r.ok]}" != 1 ]; then
		echo "demo: FAILED: the $r run: ${R[$r.why]} (see $out/$r.err)"
		tail -n 5 "$out/$r.err" 2>/dev/null | sed 's/^/    /'
		status=1
	fi
done
[ $status -eq 0 ] || exit 1

if [ "${R[native.checksum]}" != "${R[shim.checksum]}" ]; then
	echo "demo: FAILED: the checksums differ"
	exit 1
fi

nt=${R[native.peak_os_threads]} st=${R[shim.peak_os_threads]}
if [ "$st" -gt 0 ] && [ $((st * 4)) -le "$nt" ]; then
	echo "Same binary, same checksum: under libgmpthread its $nthreads pthreads ran on $st OS threads instead of $nt."
else
	echo "Same binary, same checksum; but under libgmpthread it still used $st OS threads (native: $nt):"
	echo "the shim did not take over pthread_create (is the pthread interposition layer built?)."
fi
exit 0
