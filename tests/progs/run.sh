#!/usr/bin/env bash
# Conformance programs: ordinary pthread programs, built with plain
# `gcc -pthread` / `g++ -pthread` (never linked against libgmpthread), run
# natively or under LD_PRELOAD=libgmpthread.so.
#
#   tests/progs/run.sh BUILD_DIR MODE [NAME...]
#
#   MODE native  run each program once, as is
#   MODE shim    run each program with LD_PRELOAD=BUILD_DIR/libgmpthread.so,
#                with GMP_MAXPROCS=1 (P1) and 2 (P2), and with 2 and
#                GMP_TLS=shared (S2: the subset shared TLS promises)
#   NAME...      only these programs (source base names), default all
#
# Programs are compiled into BUILD_DIR/progs/ when missing or older than
# their source or any header tests/progs/*.h (common.h, child.h).  A
# program passes when it exits with the expected status (0 unless its
# source has a line `/* expect-exit: N */`), prints the line
# `PASS <name>`, and prints every line given by `/* expect-output: TEXT */`
# lines in its source.  Each run has a 60 s timeout.  Logs:
# BUILD_DIR/progs/logs/<config>/<name>.{out,err}.
#
# A line `/* shim-skip: P1,P2: REASON */` (or just P2, or S2) in a source
# marks a known gap of the shim that a later issue closes, or (S2) what
# shared TLS does not promise: in those configurations the program is
# reported SKIP with the reason, and counted as skipped -- never as passed.
# A source may have several such lines.
#
# A line `/* env: NAME=VALUE ... */` sets those variables for its runs (all
# configurations, native too).
#
# A line `/* shim-max-os-threads: N */` in a source caps the OS threads the
# shim may use for it: in shim mode, once BUILD_DIR/.shim-pthreads exists
# (created by the build of the pthread interposition layer), the program
# is run with GMP_EXPECT_MAX_OS_THREADS=N.  Such a program samples its OS
# thread count (entries of /proc/self/task) at its peak and, when that
# variable is set, fails if the peak exceeds N (natively it is not set:
# the program only prints its peak).
#
# Prints one line per program run and, last, "progs: N passed, N failed";
# exits 1 if anything failed.
set -u

usage() { echo "usage: $0 BUILD_DIR native|shim [NAME...]" >&2; exit 2; }
[ $# -ge 2 ] || usage
build=$1 mode=$2
shift 2
case $mode in native|shim) ;; *) usage ;; esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$build/progs" || exit 2
build=$(cd "$build" && pwd)
out=$build/progs
CC=${PROGS_CC:-gcc}
CXX=${PROGS_CXX:-g++}
CFLAGS=(-O2 -g -pthread -Wall)
CXXFLAGS=(-O2 -g -pthread -Wall -std=c++17)
TIMEOUT=${PROGS_TIMEOUT:-60}

# Only this script decides these.
unset GMP_EXPECT_MAX_OS_THREADS GMP_MAXPROCS

pass=0 fail=0 skip=0
failed=()

note_fail() { # label
	fail=$((fail + 1))
	failed+=("$1")
}

# ---- which programs ----
srcs=()
if [ $# -gt 0 ]; then
	for n in "$@"; do
		if [ -f "$here/$n.c" ]; then srcs+=("$here/$n.c")
		elif [ -f "$here/$n.cpp" ]; then srcs+=("$here/$n.cpp")
		else echo "run.sh: no program $n in $here" >&2; exit 2
		fi
	done
else
	for s in "$here"/*.c "$here"/*.cpp; do
		[ -f "$s" ] && srcs+=("$s")
	done
fi

# ---- build (in parallel, one compiler per CPU) ----
# Libraries the programs dlopen() (lib/*.c -> $out/NAME.so; the programs
# find them through PROGS_LIBDIR), then the programs.  A source may add
# compiler flags with a line `cflags: FLAGS` (in a comment).
maxjobs=$(nproc 2>/dev/null || echo 2)
rm -f "$out"/*.build.log "$out"/*.build.rc
# cflags_of FILE: the flags of FILE's first `cflags:` line, into $extra.
cflags_of() {
	read -r -a extra < <(sed -n 's|^.*cflags: *\(.*[^ */]\) *\(\*/\)\{0,1\}$|\1|p' "$1" | head -n 1)
}
for lsrc in "$here"/lib/*.c; do
	[ -f "$lsrc" ] || continue
	lname=${lsrc##*/}
	lname=${lname%.c}
	so=$out/$lname.so
	if [ ! -f "$so" ] || [ "$lsrc" -nt "$so" ]; then
		cflags_of "$lsrc"
		"$CC" -O2 -g -fPIC -shared "${extra[@]}" -o "$so" "$lsrc" || { echo "FAIL  build    lib/$lname"; note_fail "build/lib/$lname"; }
	fi
done
# header_newer BIN: some tests/progs/*.h is newer than BIN.
header_newer() {
	local h
	for h in "$here"/*.h; do
		[ "$h" -nt "$1" ] && return 0
	done
	return 1
}
for src in "${srcs[@]}"; do
	file=${src##*/}
	name=${file%.*}
	bin=$out/$name
	if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || header_newer "$bin"; then
		cflags_of "$src"
		case $src in
		*.cpp) cmd=("$CXX" "${CXXFLAGS[@]}" "${extra[@]}" -o "$bin" "$src" -ldl) ;;
		*)     cmd=("$CC" "${CFLAGS[@]}" "${extra[@]}" -o "$bin" "$src" -ldl) ;;
		esac
		rm -f "$bin"
		( "${cmd[@]}" >"$out/$name.build.log" 2>&1; echo $? >"$out/$name.build.rc" ) &
		while [ "$(jobs -rp | wc -l)" -ge "$maxjobs" ]; do wait -n; done
	fi
done
wait
progs=()
for src in "${srcs[@]}"; do
	file=${src##*/}
	name=${file%.*}
	if [ -f "$out/$name.build.rc" ]; then
		if [ "$(cat "$out/$name.build.rc")" != 0 ]; then
			echo "FAIL  build    $name"
			sed 's/^/      /' "$out/$name.build.log"
			note_fail "build/$name"
			continue
		fi
		sed "s/^/      $name: /" "$out/$name.build.log"
		rm -f "$out/$name.build.log" "$out/$name.build.rc"
	fi
	progs+=("$name")
done

# ---- configurations ----
configs=()
if [ "$mode" = native ]; then
	configs=(native)
else
	lib=$build/libgmpthread.so
	if [ ! -f "$lib" ]; then
		echo "run.sh: $lib does not exist (run make first)" >&2
		echo "progs: 0 passed, 1 failed"
		exit 1
	fi
	# ld.so only warns (and goes on) when a preload fails: catch that here.
	pre=$(LD_PRELOAD=$lib /bin/true 2>&1)
	if [ -n "$pre" ]; then
		echo "run.sh: LD_PRELOAD=$lib does not load cleanly:" >&2
		echo "$pre" >&2
		echo "progs: 0 passed, 1 failed"
		exit 1
	fi
	configs=(shim/P1 shim/P2 shim/S2)
fi

# ---- run ----
for cfg in "${configs[@]}"; do
	logdir=$out/logs/${cfg//\//-}
	mkdir -p "$logdir"
	for name in "${progs[@]}"; do
		src=$here/$name.c
		[ -f "$src" ] || src=$here/$name.cpp
		want_rc=$(sed -n 's|^/\* expect-exit: *\([0-9][0-9]*\) *\*/.*$|\1|p' "$src" | head -n 1)
		want_rc=${want_rc:-0}
		mapfile -t want_lines < <(sed -n 's|^/\* expect-output: *\(.*[^ ]\) *\*/.*$|\1|p' "$src")

		skipwhy=
		if [ "$mode" = shim ]; then
			while read -r skipcfgs reason; do
				case ",$skipcfgs," in
				*",${cfg#shim/},"*) skipwhy=$reason; break ;;
				esac
			done < <(sed -n 's|^/\* shim-skip: *\([PS0-9,]*\): *\(.*[^ ]\) *\*/.*$|\1 \2|p' "$src")
		fi
		if [ -n "$skipwhy" ]; then
			skip=$((skip + 1))
			printf 'SKIP  %-8s %-22s  %s\n' "$cfg" "$name" "$skipwhy"
			continue
		fi

		envs=(PROGS_LIBDIR="$out")
		read -r -a progenv < <(sed -n 's|^/\* env: *\(.*[^ ]\) *\*/.*$|\1|p' "$src" | head -n 1)
		envs+=("${progenv[@]}")
		case $cfg in
		shim/P1) envs+=(LD_PRELOAD="$lib" GMP_MAXPROCS=1) ;;
		shim/P2) envs+=(LD_PRELOAD="$lib" GMP_MAXPROCS=2) ;;
		shim/S2) envs+=(LD_PRELOAD="$lib" GMP_MAXPROCS=2 GMP_TLS=shared) ;;
		esac
		maxos=$(sed -n 's|^/\* shim-max-os-threads: *\([0-9][0-9]*\) *\*/.*$|\1|p' "$src" | head -n 1)
		if [ "$mode" = shim ] && [ -n "$maxos" ] && [ -e "$build/.shim-pthreads" ]; then
			envs+=(GMP_EXPECT_MAX_OS_THREADS="$maxos")
		fi

		o=$logdir/$name.out e=$logdir/$name.err
		t0=$EPOCHREALTIME
		# (the group's 2>/dev/null only silences bash's own "Aborted" notes)
		{ timeout -k 5 "$TIMEOUT" env "${envs[@]}" "$out/$name" >"$o" 2>"$e" </dev/null; } 2>/dev/null
		rc=$?
		t1=$EPOCHREALTIME
		secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')

		why=()
		if [ $rc = 124 ] || [ $rc = 137 ]; then
			why+=("timed out after ${TIMEOUT} s")
		elif [ "$rc" != "$want_rc" ]; then
			if [ $rc -gt 128 ]; then
				why+=("exit $rc (signal $((rc - 128))), expected $want_rc")
			else
				why+=("exit $rc, expected $want_rc")
			fi
		fi
		grep -qxF "PASS $name" "$o" || why+=("no line \"PASS $name\"")
		for l in "${want_lines[@]}"; do
			grep -qxF -- "$l" "$o" || why+=("no line \"$l\"")
		done
		grep -q 'ERROR: ld.so' "$e" && why+=("the preload failed to load")

		if [ ${#why[@]} -eq 0 ]; then
			pass=$((pass + 1))
			printf 'PASS  %-8s %-22s %6ss\n' "$cfg" "$name" "$secs"
		else
			note_fail "$cfg/$name"
			printf 'FAIL  %-8s %-22s %6ss  %s\n' "$cfg" "$name" "$secs" "$(printf '%s; ' "${why[@]}" | sed 's/; $//')"
			tail -n 15 "$o" | sed 's/^/      out| /'
			tail -n 15 "$e" | sed 's/^/      err| /'
		fi
	done
done

[ $fail -eq 0 ] || echo "failed: ${failed[*]}"
echo "progs: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
