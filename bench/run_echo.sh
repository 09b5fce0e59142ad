#!/usr/bin/env bash
# bench/run_echo.sh BUILD_DIR
#
# The echo-server macro-benchmark: one unmodified thread-per-connection TCP
# echo server (bench/echo_server.c, plain `gcc -O2 -pthread`), run natively
# and under LD_PRELOAD=BUILD_DIR/libgmpthread.so, driven by an epoll load
# generator that never runs under the shim (bench/echo_load.c).  For each
# connection count C the load generator opens C connections, checks each with
# one round trip, then keeps one request of ECHO_SIZE bytes in flight per
# connection for ECHO_WARMUP + ECHO_SECS seconds and reports throughput and
# round-trip latency over the last ECHO_SECS.  While it runs, the script
# samples the server's /proc/PID/status: peak `Threads:` (OS threads) and
# VmHWM (peak RSS).  Last, bench/accept_pool.c in each configuration: 256
# threads blocked in accept() on one listener, us per connection (the cost
# of a pool of waiters on one fd).
#
# Configurations (ECHO_CONFIGS, default "native shim2 shim1"):
#   native   the server as is
#   shim2    LD_PRELOAD=libgmpthread.so GMP_MAXPROCS=2
#   shim1    LD_PRELOAD=libgmpthread.so GMP_MAXPROCS=1
#
# Output: machine lines, then a markdown table
#   conns | config | req/s | p50 µs | p99 µs | OS threads | RSS MiB
# and, per connection count, a ratio line for each shim configuration
# against native.  A run that fails (the server does not start or dies, the
# set-up times out, echo errors, a connection never served, the load
# generator hangs) reads "failed: REASON" in its req/s cell, with the latency
# figures when the load generator got them, and the bench goes on with the
# next run.  A server that dies after the measured window (as the clients
# close) fails its run too: the script checks it is still alive 0.5 s after
# the load generator has gone.
#
# Every server and load generator runs under `timeout --foreground -s KILL`
# (a hang costs one run) inside a subshell whose own stderr is discarded and
# which exits normally whatever happened to them, so no shell prints a
# "Terminated" or "Aborted" notice (the table reports a crash).  Each server is stopped at the end of its
# run (SIGTERM, then SIGKILL after 3 s), and an EXIT/INT/TERM trap kills
# whatever of the current run is still alive.
#
# Environment:
#   ECHO_CONNS          connection counts (default "100 1000 10000")
#   ECHO_SECS           measured seconds per run (default 3)
#   ECHO_WARMUP         warm-up seconds per run (default 0.5)
#   ECHO_SIZE           request size in bytes (default 64)
#   ECHO_CONFIGS        configurations to run (default "native shim2 shim1")
#   ECHO_SETUP_TIMEOUT  seconds for all C connections to answer once (default 20)
#   ECHO_TIMEOUT        hard limit per load-generator run (default: set-up
#                       timeout + warm-up + duration + 30 s)
#   CC                  compiler (default gcc)
#   LOG_DIR             where logs go (default: a fresh directory under
#                       ${TMPDIR:-/tmp}, removed unless a run failed)
#   ECHO_STRICT         1: exit 1 when any run failed (default 0: failed runs
#                       are reported in the table and the exit status is 0)
# Exit status: 0 (see ECHO_STRICT), 1 on a build or setup error, 64 on a
# usage error.

set -u -o pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh" # bench_args, log_dir, ratio
bench_args "$@"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "$1" 2>/dev/null && pwd) || { echo "$0: no such directory: $1" >&2; exit 64; }
lib="$build/libgmpthread.so"
srv="$build/bench/echo_server"
load="$build/bench/echo_load"
CC=${CC:-gcc}
CONNS=${ECHO_CONNS:-100 1000 10000}
SECS=${ECHO_SECS:-3}
WARMUP=${ECHO_WARMUP:-0.5}
SIZE=${ECHO_SIZE:-64}
CONFIGS=${ECHO_CONFIGS:-native shim2 shim1}
SETUP_TIMEOUT=${ECHO_SETUP_TIMEOUT:-20}
LOAD_TIMEOUT=${ECHO_TIMEOUT:-$(awk -v a="$SETUP_TIMEOUT" -v b="$WARMUP" -v c="$SECS" \
	'BEGIN { printf "%d", a + b + c + 30 }')}
STRICT=${ECHO_STRICT:-0}

declare -A label=([native]="native" [shim2]="shim P=2" [shim1]="shim P=1")
for cfg in $CONFIGS; do
	[ -n "${label[$cfg]:-}" ] || { echo "$0: unknown config '$cfg' (native shim2 shim1)" >&2; exit 64; }
	case $cfg in shim*) [ -f "$lib" ] || { echo "$0: missing $lib (build the library first)" >&2; exit 1; } ;; esac
done
for c in $CONNS; do
	case $c in ''|*[!0-9]*) echo "$0: ECHO_CONNS: not a number: $c" >&2; exit 64 ;; esac
done

log_dir run_echo

# ------------------------------------------------------------------ build
mkdir -p "$build/bench" || exit 1
for p in echo_server echo_load; do
	echo "compiling: $CC -O2 -pthread -Wall -Wextra -o $build/bench/$p $here/$p.c"
	if ! "$CC" -O2 -pthread -Wall -Wextra -o "$build/bench/$p" "$here/$p.c"; then
		echo "$0: compiling $here/$p.c failed" >&2
		exit 1
	fi
done

# --------------------------------------------------------------- cleanup
# PIDs of the current run: each program (spid, lpid) runs under a `timeout`
# (srv_topid, load_topid) run by a subshell (srv_tpid, load_tpid); `env`
# execs the program, so the program is the direct child of its timeout.
spid='' lpid='' srv_topid='' load_topid='' srv_tpid='' load_tpid=''
cleanup() {
	local p
	for p in $spid $lpid $srv_topid $load_topid $srv_tpid $load_tpid; do
		kill -KILL "$p" 2>/dev/null
	done
	spid='' lpid='' srv_topid='' load_topid='' srv_tpid='' load_tpid=''
}
trap cleanup EXIT
trap 'cleanup; echo "$0: interrupted" >&2; exit 130' INT TERM

# ---------------------------------------------------------------- machine
cpu=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*:[[:space:]]*//')
echo
echo "machine: ${cpu:-unknown CPU}, $(nproc) CPUs online (nproc), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "kernel:  $(uname -srm)"
echo "libc:    $(ldd --version 2>&1 | head -1)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min; other work on the machine skews the figures)"
echo "limits:  open files $(ulimit -Hn) (hard), somaxconn $(cat /proc/sys/net/core/somaxconn), threads-max $(cat /proc/sys/kernel/threads-max)"
[ -f "$lib" ] && echo "shim:    $lib ($(stat -c '%s bytes, built %y' "$lib" | cut -d. -f1), sha256 $(sha256sum "$lib" | cut -c1-12))"
echo "run:     conns {$CONNS}, configs {$CONFIGS}, ${SIZE}-byte requests, ${WARMUP}s warm-up + ${SECS}s measured;"
echo "         set-up timeout ${SETUP_TIMEOUT}s, hard limit ${LOAD_TIMEOUT}s per run; logs in $logs"

# --------------------------------------------------------------- one run
declare -A rps p50 p99 thr rss fail
failures=0

# kv KEY FILE: the value of KEY=... on the load generator's output line
kv() { sed -n "s/.*\<$1=\([^ ]*\).*/\1/p" "$2" | head -1; }

# status_field PID FIELD: the number after FIELD: in /proc/PID/status
status_field() { awk -v f="$2:" '$1 == f { print $2; exit }' "/proc/$1/status" 2>/dev/null; }

# child_of PID: the (first) child of PID, waiting up to 2 s for it to appear
child_of() {
	local c
	[ -n "$1" ] || return
	for _ in $(seq 20); do
		c=$(pgrep -P "$1" | head -1)
		[ -n "$c" ] && { echo "$c"; return; }
		kill -0 "$1" 2>/dev/null || return
		sleep 0.1
	done
}

# stop_server: SIGTERM, up to 3 s to go, then SIGKILL
stop_server() {
	local p
	[ -n "$srv_tpid" ] || return
	[ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null
	for _ in $(seq 30); do
		kill -0 "$srv_tpid" 2>/dev/null || break
		sleep 0.1
	done
	for p in $spid $srv_topid $srv_tpid; do
		kill -KILL "$p" 2>/dev/null
	done
	wait "$srv_tpid" 2>/dev/null
	srv_tpid='' srv_topid='' spid=''
}

# run_one CONFIG CONNS: fills rps/p50/p99/thr/rss/fail[CONFIG,CONNS]
run_one() {
	local cfg=$1 c=$2 key="$1,$2"
	local tag="$cfg.c$c"
	local sout="$logs/$tag.server.out" serr="$logs/$tag.server.err"
	local lout="$logs/$tag.load.out" lerr="$logs/$tag.load.err"
	local -a envv=(env -u LD_PRELOAD -u GMP_MAXPROCS -u GMP_TLS -u GMP_FSBASE
		-u GMP_STACKSIZE -u GMP_MAXTHREADS)
	case $cfg in
	shim2) envv+=(LD_PRELOAD="$lib" GMP_MAXPROCS=2) ;;
	shim1) envv+=(LD_PRELOAD="$lib" GMP_MAXPROCS=1) ;;
	esac
	local port='' t h peak_thr=0 peak_rss=0 lrc reason='' when='' src

	# The server, with a KILL backstop well past the run's own limit.
	(timeout --foreground -s KILL $((LOAD_TIMEOUT + 60)) "${envv[@]}" "$srv" 0 \
		>"$sout" 2>"$serr"; exit $?) 2>/dev/null &
	srv_tpid=$!
	srv_topid=$(child_of "$srv_tpid")
	spid=$(child_of "$srv_topid")
	for _ in $(seq 100); do
		port=$(sed -n 's/^port \([0-9][0-9]*\)$/\1/p' "$sout")
		[ -n "$port" ] && break
		kill -0 "$srv_tpid" 2>/dev/null || break
		sleep 0.1
	done
	if grep -q 'cannot be preloaded' "$serr"; then
		reason="LD_PRELOAD ignored by ld.so"
	elif [ -z "$port" ] || [ -z "$spid" ]; then
		reason="server did not start: $(tail -n 1 "$serr")"
		[ -n "$port" ] || reason="server printed no port in 10 s: $(tail -n 1 "$serr")"
	fi
	if [ -n "$reason" ]; then
		stop_server
		fail[$key]=$reason; failures=$((failures + 1))
		echo "  $tag: failed: $reason" >&2
		return
	fi

	# The load generator, never under the shim, sampled every 0.1 s.
	(timeout --foreground -s KILL "$LOAD_TIMEOUT" env -u LD_PRELOAD "$load" -p "$port" \
		-c "$c" -s "$SIZE" -d "$SECS" -w "$WARMUP" -T "$SETUP_TIMEOUT" \
		>"$lout" 2>"$lerr"; exit $?) 2>/dev/null &
	load_tpid=$!
	load_topid=$(child_of "$load_tpid")
	lpid=$(child_of "$load_topid")
	# sample: fold the server's current Threads/VmHWM into the peaks
	sample() {
		t=$(status_field "$spid" Threads); h=$(status_field "$spid" VmHWM)
		[ -n "$t" ] && [ "$t" -gt "$peak_thr" ] && peak_thr=$t
		[ -n "$h" ] && [ "$h" -gt "$peak_rss" ] && peak_rss=$h
	}
	while kill -0 "$load_tpid" 2>/dev/null; do
		sample
		[ -z "$when" ] && ! kill -0 "$spid" 2>/dev/null && when="during the run"
		sleep 0.1
	done
	wait "$load_tpid"; lrc=$?
	load_tpid='' load_topid='' lpid=''
	# The clients have closed: the server must survive that too.
	for _ in 1 2 3 4 5; do
		sample
		[ -z "$when" ] && ! kill -0 "$spid" 2>/dev/null && when="after the run, as the clients closed"
		sleep 0.1
	done
	local alive=1
	[ -n "$when" ] && alive=0
	stop_server

	thr[$key]=$peak_thr
	rss[$key]=$(awk -v k="$peak_rss" 'BEGIN { printf "%.1f", k / 1024 }')
	rps[$key]=$(kv rps "$lout"); p50[$key]=$(kv p50_us "$lout"); p99[$key]=$(kv p99_us "$lout")

	if [ $alive -eq 0 ]; then
		src=$(grep -m1 -v '^$' "$serr" | cut -c1-80)
		reason="server died $when${src:+: $src}"
	elif [ $lrc -eq 137 ] || [ $lrc -eq 124 ]; then
		reason="load generator hung; killed after ${LOAD_TIMEOUT}s"
	elif [ $lrc -eq 3 ]; then
		reason="set-up: $(kv ready "$lout")/$c conns answered in ${SETUP_TIMEOUT}s"
	elif [ $lrc -eq 1 ]; then
		reason="$(kv errors "$lout") errors, $(kv served "$lout")/$c conns served"
	elif [ $lrc -ne 0 ]; then
		reason="load generator exit $lrc: $(tail -n 1 "$lerr" | cut -c1-80)"
	elif [ -z "${rps[$key]}" ]; then
		reason="no result line from the load generator"
	fi
	if [ -n "$reason" ]; then
		fail[$key]=$reason; failures=$((failures + 1))
		echo "  $tag: failed: $reason (logs: $logs/$tag.*)" >&2
	fi
	sed 's/^/  /' "$lout"
}

for c in $CONNS; do
	for cfg in $CONFIGS; do
		echo
		echo "== $c connections, ${label[$cfg]}"
		run_one "$cfg" "$c"
		echo "  server: peak ${thr[$cfg,$c]:-?} OS threads, peak RSS ${rss[$cfg,$c]:-?} MiB"
	done
done

# ------------------------------------------------------------------ table
echo
echo "echo server, ${SIZE}-byte requests, one in flight per connection, ${SECS}s measured after ${WARMUP}s warm-up"
echo "(req/s: round trips completed per second; p50/p99: round-trip latency; OS threads and RSS: the server's peaks)"
echo
printf '| %6s | %-8s | %14s | %10s | %10s | %10s | %7s |\n' conns config "req/s" "p50 µs" "p99 µs" "OS threads" "RSS MiB"
echo "|-------:|----------|---------------:|----------:|----------:|-----------:|--------:|"
for c in $CONNS; do
	for cfg in $CONFIGS; do
		k="$cfg,$c"
		if [ -n "${fail[$k]:-}" ]; then
			printf '| %6s | %-8s | %s | %9s | %9s | %10s | %7s |\n' "$c" "${label[$cfg]}" \
				"failed: ${fail[$k]}${rps[$k]:+ (measured ${rps[$k]})}" "${p50[$k]:--}" \
				"${p99[$k]:--}" "${thr[$k]:--}" "${rss[$k]:--}"
		else
			printf '| %6s | %-8s | %14s | %9s | %9s | %10s | %7s |\n' "$c" "${label[$cfg]}" \
				"${rps[$k]}" "${p50[$k]}" "${p99[$k]}" "${thr[$k]}" "${rss[$k]}"
		fi
	done
done


echo
for c in $CONNS; do
	case " $CONFIGS " in *" native "*) ;; *) break ;; esac
	for cfg in $CONFIGS; do
		[ "$cfg" = native ] && continue
		n="native,$c" k="$cfg,$c"
		if [ -n "${fail[$k]:-}" ] || [ -n "${fail[$n]:-}" ]; then
			echo "ratio ${label[$cfg]} / native at $c conns: - (a run failed)"
		else
			echo "ratio ${label[$cfg]} / native at $c conns: req/s $(ratio "${rps[$k]}" "${rps[$n]}")x," \
				"p50 $(ratio "${p50[$k]}" "${p50[$n]}")x, p99 $(ratio "${p99[$k]}" "${p99[$n]}")x," \
				"OS threads ${thr[$k]} vs ${thr[$n]}, RSS $(ratio "${rss[$k]}" "${rss[$n]}")x"
		fi
	done
done

# ------------------------------------------------------------------ accept pool
# 256 threads blocked in accept() on one listener, 5000 connections in a row
# (bench/accept_pool.c): the cost of waking a pool of waiters of one fd.
echo
echo "accept pool: 256 threads in accept() on one listener, us per connection"
pool=$build/bench/accept_pool
if "$CC" -O2 -pthread -Wall -o "$pool" "$here/accept_pool.c"; then
	for cfg in $CONFIGS; do
		case $cfg in
		native) out=$(timeout -s KILL 60 "$pool" 2>&1) ;;
		shim2) out=$(LD_PRELOAD=$lib GMP_MAXPROCS=2 timeout -s KILL 60 "$pool" 2>&1) ;;
		shim1) out=$(LD_PRELOAD=$lib GMP_MAXPROCS=1 timeout -s KILL 60 "$pool" 2>&1) ;;
		*) continue ;;
		esac
		us=$(printf '%s\n' "$out" | sed -n 's/.*us_per_conn=\([0-9.]*\).*/\1/p')
		if [ -n "$us" ]; then
			printf '  %-9s %8s us\n' "${label[$cfg]}" "$us"
		else
			printf '  %-9s failed: %s\n' "${label[$cfg]}" "$(printf '%s' "$out" | tail -n 1)"
			failures=$((failures + 1))
		fi
	done
else
	echo "  failed: compiling accept_pool.c"
	failures=$((failures + 1))
fi

if [ $failures -gt 0 ]; then
	echo
	echo "$failures run(s) failed; logs kept in $logs"
	[ "$STRICT" = 1 ] && exit 1
	exit 0
fi
[ $keep_logs -eq 1 ] || rm -rf "$logs"
exit 0
