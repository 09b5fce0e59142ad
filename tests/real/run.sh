#!/usr/bin/env bash
# Real programs: unmodified multithreaded Debian binaries (pigz, zstd,
# sysbench, stress-ng, memcached), each run natively and under
# LD_PRELOAD=BUILD_DIR/libgmpthread.so with GMP_MAXPROCS=2 and 1.
#
#   tests/real/run.sh BUILD_DIR [TEST...]
#
#   TEST...  only these tests (names as printed), default all
#
# Tests
#   pigz-roundtrip    pigz -p 4 compresses ~30 MB of generated, partly
#                     compressible data and decompresses it: the round trip
#                     must give the input back (cmp), and the .gz must be
#                     byte-identical to one made natively beforehand (pigz
#                     output does not depend on timing or on -p: blocks are
#                     fixed at 128 KiB and -n keeps name and mtime out).
#   zstd-roundtrip    zstd -6 -T4 -B1MiB (30 jobs for 4 workers) on the same
#                     data, zstd -d back: same two checks (zstd's
#                     multithreaded output is the same for any -T >= 1).
#   sysbench-threads  sysbench threads, 64 threads, a fixed event count:
#                     exit 0, the event count and thread count reported.
#   sysbench-mutex    sysbench mutex, 64 threads on 16 mutexes: exit 0,
#                     64 events (one per thread) reported.
#   sng-<stressor>    stress-ng with one stressor that uses pthreads
#                     (pthread, mutex, sem, malloc with pthreads, nanosleep)
#                     or futexes (futex), with --verify and a bounded
#                     op count: exit 0, "successful run completed", no
#                     "fail" in the output, and at least the requested bogo
#                     ops done (stress-ng's own --timeout is only a guard;
#                     a run that reaches it instead of the op count fails).
#                     Exception: the sem stressor of stress-ng 0.15 ignores
#                     --sem-ops, so it is bounded by --timeout 2 instead.
#                     (Its sleep stressor is left out: its op count is not
#                     tied to sleeps, a run makes about 2 nanosleep calls.)
#   memcached         memcached -t 4 (libevent: every thread waits in
#                     epoll_wait) on 127.0.0.1, a free port, in the config,
#                     driven by mc_client (tests/real/mc_client.c, built here
#                     with plain gcc and always run natively): 32
#                     connections, 300 set/get rounds each with values of
#                     1 B..64 KiB checked byte for byte, deletes, misses,
#                     incr of one shared counter (must end at the number of
#                     incrs) and stats that must agree with all that.  Then
#                     SIGTERM: memcached must still be alive at that point
#                     and exit within 10 s, by any status but a crash
#                     signal.  The wall time is the client's.  memcached
#                     runs under timeout(1) with REAL_TIMEOUT + 30 s as a
#                     guard; the client under REAL_TIMEOUT, giving up after
#                     REAL_TIMEOUT - 15 s (10 s at least) and saying on
#                     which connection and request.  The backtraces of
#                     memcached (gdb) are saved when it does not listen
#                     within 10 s, when the client gives up on a reply, and
#                     when it outlives SIGTERM.
#
# Every command runs under timeout(1) (REAL_TIMEOUT, default 60 s).  When a
# command is still running 10 s before its timeout and gdb is installed, a
# backtrace of every thread of every process of the command is saved to
# BUILD_DIR/real/logs/<config>/<test>.bt and shown with the failure.
#
# Environment
#   REAL_CONFIGS  configurations to run, default "native shim/P2 shim/P1"
#   REAL_TIMEOUT  seconds per command, default 60
#   REAL_MB       size of the generated data in MiB, default 30
#   REAL_SKIP     runs not to run, reported as SKIP: space-separated
#                 <config>/<test> patterns, globs allowed, e.g.
#                 "shim/*/sysbench-mutex shim/P1/sng-*"
#
# Files: everything goes to BUILD_DIR/real/: data.bin (kept between runs),
# ref.{gz,zst} (native reference outputs, made anew each run), logs in
# logs/<config>/<test>.{out,err,bt}, scratch in work/<config>/; mc_client.
# (memcached's own output goes to its .err, the client's to its .out.)
#
# Prints one line per run (PASS/FAIL/SKIP, config, test, wall time), a table
# of native vs shim wall times, and last "real: N passed, N failed" (with
# ", N skipped" when a program is not installed: tools/deps.sh real installs
# them).  Exits 1 if anything failed.
set -u

usage() { echo "usage: $0 BUILD_DIR [TEST...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
build=$1
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$build/real" || exit 2
build=$(cd "$build" && pwd)
out=$build/real
lib=$build/libgmpthread.so
TIMEOUT=${REAL_TIMEOUT:-60}
MB=${REAL_MB:-30}
read -r -a configs <<<"${REAL_CONFIGS:-native shim/P2 shim/P1}"

# Only this script decides these.
unset LD_PRELOAD GMP_MAXPROCS GMP_EXPECT_MAX_OS_THREADS
export LC_ALL=C

all_tests=(pigz-roundtrip zstd-roundtrip sysbench-threads sysbench-mutex
	sng-pthread sng-mutex sng-sem sng-futex sng-malloc sng-nanosleep
	memcached)
if [ $# -gt 0 ]; then
	for t in "$@"; do
		case " ${all_tests[*]} " in
		*" $t "*) ;;
		*) echo "run.sh: no test $t (tests: ${all_tests[*]})" >&2; exit 2 ;;
		esac
	done
	tests=("$@")
else
	tests=("${all_tests[@]}")
fi

pass=0 fail=0 skip=0
failed=()
declare -A secs_of   # "<config> <test>" -> wall seconds of a passing run

have() { command -v "$1" >/dev/null 2>&1; }

tool_of() { # test -> the program it needs
	case $1 in
	pigz-*) echo pigz ;;
	zstd-*) echo zstd ;;
	sysbench-*) echo sysbench ;;
	sng-*) echo stress-ng ;;
	memcached) echo memcached ;;
	esac
}

# ---- running one command ----
# run_cmd IN OUT ERR CMD...: runs CMD with the current config's environment,
# stdin IN, stdout OUT, stderr ERR, under timeout; sets rc, adds the wall
# time to $elapsed and the command line to $cmds.  A watchdog saves backtraces to $bt shortly before the
# timeout fires.
envs=()
elapsed=0
bt=/dev/null

dump_backtraces() { # pgid [why]
	local p
	{
		echo "=== ${2:-still running after $((TIMEOUT - 10)) s}: $(date -u +%T)"
		ps -o pid,ppid,nlwp,stat,etime,args -g "$1" 2>/dev/null
		for p in $(pgrep -g "$1"); do
			[ "$p" = "$1" ] && continue   # timeout(1) itself
			echo "=== pid $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
			timeout 30 gdb -batch -nx -p "$p" -ex 'info threads' \
				-ex 'thread apply all bt 30' 2>&1 |
				grep -vE '^(\[New LWP|warning: (Could not load|Unable to find))'
		done
	} >>"$bt" 2>&1
}

run_cmd() {
	local in=$1 o=$2 e=$3 pid wd t0 t1
	shift 3
	cmds+=("timeout -k 5 $TIMEOUT $(printf '%q ' env "${envs[@]}" "$@")<$in >$o 2>$e")
	t0=$EPOCHREALTIME
	timeout -k 5 "$TIMEOUT" env "${envs[@]}" "$@" <"$in" >"$o" 2>"$e" &
	pid=$!
	wd=
	if have gdb && [ "$TIMEOUT" -gt 20 ]; then
		( s=
		  trap '[ -n "$s" ] && kill "$s" 2>/dev/null; exit 0' TERM
		  sleep $((TIMEOUT - 10)) & s=$!
		  wait "$s"
		  dump_backtraces "$pid" ) &
		wd=$!
	fi
	# (the group's 2>/dev/null only silences bash's own "Killed" notes)
	{ wait "$pid"; } 2>/dev/null
	rc=$?
	t1=$EPOCHREALTIME
	if [ -n "$wd" ]; then
		kill "$wd" 2>/dev/null
		wait "$wd" 2>/dev/null
	fi
	elapsed=$(awk -v s="$elapsed" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", s + b - a }')
}

# why_rc WHAT: adds a reason to $why when rc is not 0.
why_rc() {
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		why+=("$1: timed out after ${TIMEOUT} s")
	elif [ "$rc" -gt 128 ]; then
		why+=("$1: exit $rc (signal $((rc - 128)) $(kill -l $((rc - 128)) 2>/dev/null))")
	elif [ "$rc" != 0 ]; then
		why+=("$1: exit $rc")
	fi
	[ "$rc" = 0 ]
}

# check_loaded ERRFILE: the preload failed if ld.so complained.
check_loaded() {
	grep -q 'ERROR: ld.so' "$1" && why+=("the preload failed to load: $(grep -m1 'ERROR: ld.so' "$1")")
}

# ---- data and reference outputs (native, once) ----
data=$out/data.bin
ref_gz=$out/ref.gz ref_zst=$out/ref.zst
prepare_data() {
	local gen=$out/gendata bytes=$((MB * 1024 * 1024))
	if [ ! -x "$gen" ] || [ "$here/gendata.c" -nt "$gen" ]; then
		${CC:-gcc} -O2 -Wall -o "$gen" "$here/gendata.c" || return 1
		rm -f "$data"
	fi
	if [ ! -f "$data" ] || [ "$(stat -c %s "$data")" != "$bytes" ] || [ "$gen" -nt "$data" ]; then
		"$gen" "$bytes" >"$data.tmp" && mv "$data.tmp" "$data" || return 1
	fi
	# References are made anew each time, by the very binaries under test.
	rm -f "$ref_gz" "$ref_zst"
	if have pigz; then
		pigz -p 4 -n -c <"$data" >"$ref_gz" || return 1
	fi
	if have zstd; then
		zstd -6 -T4 -B1MiB -q -c <"$data" >"$ref_zst" || return 1
	fi
}
case " ${tests[*]} " in
*" pigz-roundtrip "* | *" zstd-roundtrip "*)
	if ! prepare_data; then
		echo "run.sh: could not generate the test data in $out" >&2
		echo "real: 0 passed, 1 failed"
		exit 1
	fi
	;;
esac

# ---- the memcached client (native, built once) ----
mc_client=$out/mc_client
case " ${tests[*]} " in
*" memcached "*)
	if [ ! -x "$mc_client" ] || [ "$here/mc_client.c" -nt "$mc_client" ]; then
		if ! ${CC:-gcc} -O2 -Wall -pthread -o "$mc_client" "$here/mc_client.c"; then
			echo "run.sh: could not build $here/mc_client.c" >&2
			echo "real: 0 passed, 1 failed"
			exit 1
		fi
	fi
	;;
esac

# ---- the tests ----
# Each sets $why (reasons for failure, empty when it passed); $logs is the
# log file prefix, $work a scratch directory of the config.

t_roundtrip() { # tool ref comp-cmd... -- decomp-cmd...
	local tool=$1 ref=$2 comp=() decomp=()
	shift 2
	while [ "$1" != -- ]; do comp+=("$1"); shift; done
	shift
	decomp=("$@")
	local z=$work/$tool.z back=$work/$tool.back
	run_cmd "$data" "$z" "$logs.err" "${comp[@]}"
	check_loaded "$logs.err"
	why_rc "compress" || return
	run_cmd "$z" "$back" "$logs.derr" "${decomp[@]}"
	cat "$logs.derr" >>"$logs.err" && rm -f "$logs.derr"
	check_loaded "$logs.err"
	why_rc "decompress" || return
	local c
	if ! c=$(cmp "$data" "$back" 2>&1); then
		why+=("round trip changed the data: $c")
	elif ! c=$(cmp "$ref" "$z" 2>&1); then
		why+=("compressed output differs from the native one ($(stat -c %s "$z") vs $(stat -c %s "$ref") bytes): $c")
	else
		rm -f "$z" "$back"
	fi
}

t_sysbench() { # events threads args...
	local want_events=$1 want_threads=$2 got
	shift 2
	run_cmd /dev/null "$logs.out" "$logs.err" sysbench "$@" run
	check_loaded "$logs.err"
	why_rc "sysbench" || return
	got=$(sed -n 's/^ *total number of events: *\([0-9][0-9]*\).*/\1/p' "$logs.out")
	[ "$got" = "$want_events" ] || why+=("total number of events: '${got}', expected $want_events")
	got=$(sed -n 's/^Number of threads: *\([0-9][0-9]*\).*/\1/p' "$logs.out")
	[ "$got" = "$want_threads" ] || why+=("Number of threads: '${got}', expected $want_threads")
}

t_sng() { # stressor min-bogo-ops args...
	local st=$1 min=$2 got all=$logs.all
	shift 2
	run_cmd /dev/null "$logs.out" "$logs.err" stress-ng "$@" \
		--verify --metrics-brief -v --temp-path "$work"
	cat "$logs.out" "$logs.err" >"$all"
	check_loaded "$all"
	# -v makes stress-ng name a worker killed by a signal: say so first.
	got=$(grep -m1 -o 'terminated on signal.*' "$all") && why+=("a stress-ng worker $got")
	why_rc "stress-ng" || { rm -f "$all"; return; }
	grep -q 'successful run completed' "$all" || why+=("no \"successful run completed\"")
	grep -i 'fail' "$all" | grep -qviE 'failed: *0( |$)' &&
		why+=("\"fail\" in output: $(grep -i 'fail' "$all" | grep -viE 'failed: *0( |$)' | head -n 1)")
	# metrics line: "stress-ng: metrc: [pid] <stressor> <bogo ops> <real s> ..."
	got=$(awk -v s="$st" '$2 == "metrc:" && $4 == s && $5 ~ /^[0-9]+$/ { print $5; exit }' "$all")
	if [ -z "$got" ]; then
		why+=("no bogo ops metrics line for $st")
	elif [ "$got" -lt "$min" ]; then
		why+=("only $got bogo ops, expected at least $min (hit stress-ng's --timeout?)")
	fi
	rm -f "$all"
}

# mc_ready PID PORT: 0 once something accepts connections on PORT, 1 when
# PID is gone, 2 after 10 s.
mc_ready() {
	local i
	for ((i = 0; i < 200; i++)); do
		kill -0 "$1" 2>/dev/null || return 1
		(exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
		sleep 0.05
	done
	return 2
}

# mc_stop PID: SIGTERM to memcached, at most 10 s for it to exit, then
# backtraces and SIGKILL.  PID is its timeout(1); sets rc.  (Called with
# 2>/dev/null: bash's own "Killed"/"Segmentation fault" notes about its
# background job would land anywhere in the output.)
mc_stop() {
	local srv=$1 mc i
	mc=$(pgrep -P "$srv")   # env exec'd memcached: timeout(1)'s child
	kill -TERM "${mc:-$srv}" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$srv" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$srv" 2>/dev/null; then
		dump_backtraces "$srv" "memcached still running 10 s after SIGTERM"
		kill -KILL -- "-$srv" 2>/dev/null
		why+=("memcached did not exit within 10 s of SIGTERM (killed)")
	fi
	{ wait "$srv"; } 2>/dev/null
	rc=$?
}

t_memcached() {
	local srv="" port="" tries i crc sz saved_envs=("${envs[@]}")
	local srv_timeout=$((TIMEOUT + 30)) deadline=$((TIMEOUT > 25 ? TIMEOUT - 15 : 10))
	local args=(-t 4 -U 0 -l 127.0.0.1 -p PORT -m 64 -c 4096)
	[ "$(id -u)" = 0 ] && args+=(-u root)   # it will not run as root otherwise
	: >"$logs.err"
	for ((tries = 1; ; tries++)); do
		for ((i = 0; i < 20; i++)); do   # a port nothing listens on
			port=$((20000 + RANDOM % 12000))
			(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
		done
		args[7]=$port
		sz=$(stat -c %s "$logs.err")
		cmds+=("timeout -k 5 $srv_timeout $(printf '%q ' env "${envs[@]}" memcached "${args[@]}")</dev/null >>$logs.err 2>&1 &")
		timeout -k 5 "$srv_timeout" env "${envs[@]}" memcached "${args[@]}" \
			</dev/null >>"$logs.err" 2>&1 &
		srv=$!
		mc_ready "$srv" "$port"
		case $? in
		0) break ;;
		1)
			{ wait "$srv"; } 2>/dev/null
			rc=$?
			# lost a race for the port: another one
			[ "$tries" -lt 5 ] && tail -c +$((sz + 1)) "$logs.err" | grep -q 'Address already in use' &&
				continue
			check_loaded "$logs.err"
			why_rc "memcached (before it listened)" &&
				why+=("memcached exited (status 0) before it listened")
			return ;;
		*)
			dump_backtraces "$srv" "memcached not listening on port $port after 10 s"
			why+=("memcached not listening on port $port after 10 s")
			mc_stop "$srv" 2>/dev/null
			return ;;
		esac
	done

	# the client, natively
	envs=()
	run_cmd /dev/null "$logs.out" "$logs.cerr" "$mc_client" 127.0.0.1 "$port" "$deadline" 4
	envs=("${saved_envs[@]}")
	cat "$logs.cerr" >>"$logs.out" && rm -f "$logs.cerr"
	crc=$rc
	if [ "$crc" != 0 ]; then
		why_rc "client"
		why+=("$(tail -n 1 "$logs.out")")
		if [ "$crc" = 3 ] || [ "$crc" = 124 ] || [ "$crc" = 137 ]; then
			kill -0 "$srv" 2>/dev/null &&
				dump_backtraces "$srv" "memcached still running, a reply did not come within $deadline s"
		fi
	fi

	if ! kill -0 "$srv" 2>/dev/null; then
		{ wait "$srv"; } 2>/dev/null
		rc=$?
		why_rc "memcached (ended before SIGTERM)" &&
			why+=("memcached ended (status 0) before SIGTERM")
	else
		mc_stop "$srv" 2>/dev/null
		case $rc in
		124) why+=("memcached: timed out after $srv_timeout s") ;;
		13[2-6] | 139 | 159)   # SIGILL SIGTRAP SIGABRT SIGBUS SIGFPE SIGSEGV SIGSYS
			why_rc "memcached, on SIGTERM" ;;
		esac
	fi
	check_loaded "$logs.err"
}

run_test() { # test
	case $1 in
	pigz-roundtrip)
		t_roundtrip pigz "$ref_gz" pigz -p 4 -n -c -- pigz -p 4 -d -c ;;
	zstd-roundtrip)
		t_roundtrip zstd "$ref_zst" zstd -6 -T4 -B1MiB -q -c -- zstd -d -q -c ;;
	sysbench-threads)
		t_sysbench 4000 64 threads --threads=64 --time=0 --events=4000 \
			--thread-yields=100 --thread-locks=8 ;;
	sysbench-mutex)
		# one event per thread: each does --mutex-locks lock/unlock pairs
		t_sysbench 64 64 mutex --threads=64 --time=0 --mutex-num=16 \
			--mutex-locks=200000 --mutex-loops=100 ;;
	sng-pthread)   t_sng pthread 2000 --pthread 2 --pthread-ops 2000 --timeout 15 ;;
	sng-mutex)     t_sng mutex 200000 --mutex 2 --mutex-ops 200000 --timeout 15 ;;
	sng-sem)       t_sng sem 1 --sem 2 --timeout 2 ;;
	sng-futex)     t_sng futex 20000 --futex 2 --futex-ops 20000 --timeout 15 ;;
	sng-malloc)    t_sng malloc 50000 --malloc 2 --malloc-pthreads 4 --malloc-ops 50000 --timeout 15 ;;
	sng-nanosleep) t_sng nanosleep 8000 --nanosleep 1 --nanosleep-threads 16 --nanosleep-ops 8000 --timeout 15 ;;
	memcached)     t_memcached ;;
	esac
}

# ---- configurations ----
shim_ok=
if printf '%s\n' "${configs[@]}" | grep -q '^shim/'; then
	if [ ! -f "$lib" ]; then
		shim_ok="$lib does not exist (run make first)"
	else
		# ld.so only warns (and goes on) when a preload fails: catch that here.
		pre=$(LD_PRELOAD=$lib /bin/true 2>&1)
		[ -z "$pre" ] || shim_ok="LD_PRELOAD=$lib does not load cleanly: $pre"
	fi
	if [ -n "$shim_ok" ]; then
		echo "FAIL  shim     (all)              $shim_ok"
		fail=$((fail + 1))
		failed+=("shim")
	fi
fi

t_start=$EPOCHREALTIME
for cfg in "${configs[@]}"; do
	case $cfg in
	native)  envs=() ;;
	shim/P*) [ -n "$shim_ok" ] && continue
		 envs=(LD_PRELOAD="$lib" GMP_MAXPROCS="${cfg#shim/P}") ;;
	*) echo "run.sh: unknown config $cfg (native, shim/P<n>)" >&2; exit 2 ;;
	esac
	logdir=$out/logs/${cfg//\//-}
	work=$out/work/${cfg//\//-}
	mkdir -p "$logdir" "$work"
	for t in "${tests[@]}"; do
		tool=$(tool_of "$t")
		if ! have "$tool"; then
			skip=$((skip + 1))
			printf 'SKIP  %-8s %-18s         %s not installed (tools/deps.sh real installs it)\n' "$cfg" "$t" "$tool"
			continue
		fi
		skipped_by=
		for pat in ${REAL_SKIP:-}; do
			# shellcheck disable=SC2053  # a glob on purpose
			[[ $cfg/$t == $pat ]] && { skipped_by=$pat; break; }
		done
		if [ -n "$skipped_by" ]; then
			skip=$((skip + 1))
			printf 'SKIP  %-8s %-18s         REAL_SKIP has %s\n' "$cfg" "$t" "$skipped_by"
			continue
		fi
		logs=$logdir/$t
		bt=$logs.bt
		rm -f "$logs.out" "$logs.err" "$bt"
		why=() cmds=()
		elapsed=0
		run_test "$t"
		secs=$(printf '%.2f' "$elapsed")
		if [ ${#why[@]} -eq 0 ]; then
			pass=$((pass + 1))
			secs_of["$cfg $t"]=$secs
			printf 'PASS  %-8s %-18s %6ss\n' "$cfg" "$t" "$secs"
		else
			fail=$((fail + 1))
			failed+=("$cfg/$t")
			printf 'FAIL  %-8s %-18s %6ss  %s\n' "$cfg" "$t" "$secs" "$(printf '%s; ' "${why[@]}" | sed 's/; $//')"
			for c in "${cmds[@]}"; do echo "      cmd| $c"; done
			[ -s "$logs.out" ] && tail -n 15 "$logs.out" | sed 's/^/      out| /'
			[ -s "$logs.err" ] && tail -n 15 "$logs.err" | sed 's/^/      err| /'
			if [ -s "$bt" ]; then
				echo "      backtraces: $bt (first lines below)"
				grep -E '^(===|Thread |#[0-9]+ )' "$bt" | head -n 40 | sed 's/^/      bt | /'
			fi
		fi
	done
done
total=$(awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')

# ---- native vs shim wall times ----
if [ ${#configs[@]} -gt 1 ]; then
	echo
	printf '%-18s' "wall time (s)"
	for cfg in "${configs[@]}"; do
		if [ "$cfg" = native ]; then printf ' %9s' "$cfg"; else printf ' %9s %7s' "$cfg" "x nat"; fi
	done
	echo
	for t in "${tests[@]}"; do
		printf '%-18s' "$t"
		nat=${secs_of["native $t"]:-}
		for cfg in "${configs[@]}"; do
			s=${secs_of["$cfg $t"]:--}
			if [ "$cfg" = native ]; then
				printf ' %9s' "$s"
			else
				r=-
				if [ "$s" != - ] && [ -n "$nat" ]; then
					r=$(awk -v a="$s" -v b="$nat" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
				fi
				printf ' %9s %7s' "$s" "$r"
			fi
		done
		echo
	done
	echo "(failed and skipped runs show -; total $total s)"
fi

[ $fail -eq 0 ] || echo "failed: ${failed[*]}"
if [ $skip -gt 0 ]; then
	echo "real: $pass passed, $fail failed, $skip skipped"
else
	echo "real: $pass passed, $fail failed"
fi
[ $fail -eq 0 ]
