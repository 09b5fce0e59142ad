#!/usr/bin/env bash
# gmprun checks: the launcher's options, `gmprun view` and `gmprun dump`.
# A few seconds; part of make test.
#
#   tests/gmprun/run.sh BUILD_DIR
#
# Uses BUILD_DIR/gmprun and BUILD_DIR/libgmpthread.so.  The option checks
# run `sh` under gmprun (so under the library) and read back the GMP_*
# variables gmprun set.  `view` runs on tests/gmprun/sample-trace.json
# (made by tests/gmprun/gentrace.c) and on malformed JSON.  `dump` runs on
# a process that is not under the library, and on `sleep` under it:
# those last checks need the runtime's side of the dump protocol and fail
# (after gmprun's 5 s timeout at most) when the target does not answer.
#
# Prints "PASS name" or "FAIL name: why" per check and, last,
# "gmprun: N passed, N failed"; exits 1 if anything failed.
# Only bash, coreutils, grep and sed.
set -u

[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd) || exit 2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
G=$build/gmprun
LIB=$build/libgmpthread.so
for f in "$G" "$LIB"; do
	[ -e "$f" ] || { echo "gmprun tests: $f is missing (make first)" >&2; exit 2; }
done

# Only this script decides these.
unset GMP_MAXPROCS GMP_STACKSIZE GMP_STACKGUARD GMP_MAXTHREADS GMP_TLS GMP_FSBASE \
	GMP_PREEMPT_MS GMP_ASYNCPREEMPT GMP_DEBUG GMP_DUMP_SIGNAL GMP_DUMP_FILE \
	GMP_DEADLOCK GMP_TRACE GMP_TRACE_BUF LD_PRELOAD

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gmprun-test.XXXXXX") || exit 2
tmp=$(cd "$tmp" && pwd -P)   # as getcwd() spells it
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
# No core files from a target that dies of SIGQUIT.
ulimit -c 0

pass=0 fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
# First line of a file, for messages.
first() { head -n 1 "$1" 2>/dev/null | cut -c 1-200; }

# ---- options -----------------------------------------------------------------

options=(-p --procs --stacksize --stackguard --maxthreads --tls --fsbase --preempt-ms
	--no-async-preempt --trace --trace-buf --schedtrace --scheddetail --dump-signal
	--dump-file --no-deadlock --help --version)
variables=(GMP_MAXPROCS GMP_STACKSIZE GMP_STACKGUARD GMP_MAXTHREADS GMP_TLS GMP_FSBASE
	GMP_PREEMPT_MS GMP_ASYNCPREEMPT GMP_TRACE GMP_TRACE_BUF GMP_DEBUG GMP_DUMP_SIGNAL
	GMP_DUMP_FILE GMP_DEADLOCK)
if "$G" --help >"$tmp/help" 2>&1; then
	missing=()
	for w in "${options[@]}" "${variables[@]}" "dump PID" "view TRACE.json"; do
		grep -q -e "$w\b" "$tmp/help" || missing+=("$w")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		ok help
	else
		bad help "does not mention ${missing[*]}"
	fi
else
	bad help "gmprun --help exited $?"
fi

out=$("$G" --version 2>&1)
if [[ $out =~ ^gmprun.*\ [0-9]+\.[0-9]+\.[0-9]+ ]]; then ok version; else bad version "printed '$out'"; fi

# Each of these must be refused with exit status 2 and a message.
bad_args=("--bogus" "-x" "-p 0" "-p abc" "--procs=1025" "--stacksize 12q" "--stacksize 1k"
	"--stackguard none" "--maxthreads 1" "--tls maybe" "--fsbase x" "--preempt-ms 0"
	"--preempt-ms 60001" "--schedtrace x" "--schedtrace 0" "--trace-buf 10" "--trace="
	"--dump-signal NOPE" "--dump-signal KILL" "--dump-signal 65" "--dump-file="
	"--no-deadlock=yes" "--scheddetail=1" "--no-async-preempt=0")
errs=()
for a in "${bad_args[@]}"; do
	# shellcheck disable=SC2086 # word splitting of the option and its value is intended
	"$G" $a true >/dev/null 2>"$tmp/err"
	rc=$?
	if [ $rc -ne 2 ] || ! grep -q '^gmprun: ' "$tmp/err"; then
		errs+=("'$a' -> exit $rc ($(first "$tmp/err"))")
	fi
done
"$G" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] || errs+=("no program -> exit $rc")
"$G" --procs >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] || errs+=("--procs without a value -> exit $rc")
if [ ${#errs[@]} -eq 0 ]; then ok bad_options; else bad bad_options "${errs[*]}"; fi

# Runs gmprun ARGS -- sh -c SCRIPT and compares its stdout with WANT.
env_check() {
	local name=$1 want=$2 script=$3
	shift 3
	local got
	got=$(cd "$tmp" && "$G" "$@" -- sh -c "$script" 2>"$tmp/err.$name")
	local rc=$?
	if [ $rc -ne 0 ]; then
		bad "$name" "exit $rc ($(first "$tmp/err.$name"))"
	elif [ "$got" != "$want" ]; then
		bad "$name" "got '$got', want '$want'"
	else
		ok "$name"
	fi
}
env_check env_procs 2 'echo $GMP_MAXPROCS' -p 2
env_check env_procs_eq 3 'echo $GMP_MAXPROCS' --procs=3
env_check env_preload "$(realpath "$LIB")" 'echo ${LD_PRELOAD%%:*}' -p 1
env_check env_trace "$tmp/t.json 4096" 'echo $GMP_TRACE $GMP_TRACE_BUF' --trace t.json --trace-buf 4096
GMP_DEBUG=preempt env_check env_schedtrace "preempt,schedtrace=100000,scheddetail=1" 'echo $GMP_DEBUG' \
	--schedtrace 100000 --scheddetail
env_check env_schedtrace_once "schedtrace=100000" 'echo $GMP_DEBUG' --schedtrace=5 --schedtrace 100000
env_check env_knobs "usr2 $tmp/d.txt 0 7 0 256k page 500 per-g auto" \
	'echo $GMP_DUMP_SIGNAL $GMP_DUMP_FILE $GMP_DEADLOCK $GMP_PREEMPT_MS $GMP_ASYNCPREEMPT $GMP_STACKSIZE $GMP_STACKGUARD $GMP_MAXTHREADS $GMP_TLS $GMP_FSBASE' \
	--dump-signal usr2 --dump-file=d.txt --no-deadlock --preempt-ms 7 --no-async-preempt \
	--stacksize 256k --stackguard page --maxthreads 500 --tls per-g --fsbase auto

# A subcommand word counts only as the first argument.
if command -v dump >/dev/null 2>&1; then
	ok "dashdash_dump (skipped: a program named dump exists)"
else
	"$G" -- dump >/dev/null 2>"$tmp/err"
	rc=$?
	if [ $rc -eq 127 ] && grep -q "cannot run 'dump'" "$tmp/err"; then
		ok dashdash_dump
	else
		bad dashdash_dump "gmprun -- dump: exit $rc ($(first "$tmp/err"))"
	fi
fi

# ---- view ----------------------------------------------------------------------

sample=$here/sample-trace.json
# Every http:// or https:// reference but the SVG namespace.
urls() { grep -o -E 'https?://[^"'"'"' <>)]*' "$1" | grep -v -x 'http://www.w3.org/2000/svg'; }

"$G" view "$sample" -o "$tmp/s.html" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -ne 0 ]; then
	bad view "exit $rc ($(first "$tmp/err"))"
elif [ "$(cat "$tmp/out")" != "$tmp/s.html" ]; then
	bad view "printed '$(first "$tmp/out")', not the path written"
elif ! grep -q '<svg' "$tmp/s.html"; then
	bad view "no <svg in the page"
elif urls "$tmp/s.html" >"$tmp/urls"; then
	bad view "external references: $(tr '\n' ' ' <"$tmp/urls")"
else
	miss=()
	for w in 'M0 (tid 4242)' 'sysmon' '<title>G5 worker-4' 'class="s"' 'class="t"' \
		'park: mutex' 'Threads (G)' 'Lanes (OS threads)' '<script>'; do
		grep -q -F "$w" "$tmp/s.html" || miss+=("$w")
	done
	if [ ${#miss[@]} -eq 0 ]; then ok view; else bad view "page lacks: ${miss[*]}"; fi
fi

cp "$sample" "$tmp/copy.json"
out=$("$G" view "$tmp/copy.json" 2>"$tmp/err")
rc=$?
if [ $rc -eq 0 ] && [ "$out" = "$tmp/copy.html" ] && [ -s "$tmp/copy.html" ]; then
	ok view_default_output
else
	bad view_default_output "exit $rc, printed '$out' ($(first "$tmp/err"))"
fi

"$G" view --max-slices 20 --width 200 "$sample" -o "$tmp/m.html" >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && grep -q 'class="b"' "$tmp/m.html" && grep -q 'merged into' "$tmp/m.html"; then
	ok view_merge
else
	bad view_merge "exit $rc, no merged busy rectangles ($(first "$tmp/err"))"
fi

printf '{"traceEvents":[\n  {"ph":"B",}\n]}\n' >"$tmp/bad.json"
"$G" view "$tmp/bad.json" -o "$tmp/bad.html" >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "bad.json:2:13: " "$tmp/err" && [ ! -e "$tmp/bad.html" ]; then
	ok view_malformed
else
	bad view_malformed "exit $rc, message '$(first "$tmp/err")' (want exit 1, bad.json:2:13, no output)"
fi

head -c 3000 "$sample" >"$tmp/cut.json"
"$G" view "$tmp/cut.json" -o "$tmp/cut.html" >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -q -E 'cut.json:[0-9]+:[0-9]+: ' "$tmp/err"; then
	ok view_truncated
else
	bad view_truncated "exit $rc, message '$(first "$tmp/err")'"
fi

"$G" view >/dev/null 2>&1
rc=$?
if [ $rc -eq 2 ]; then ok view_usage; else bad view_usage "gmprun view without a file: exit $rc"; fi

# ---- dump ----------------------------------------------------------------------

# NAME PID MESSAGE: `gmprun dump PID` must exit 1, say MESSAGE on stderr and
# print nothing on stdout.
dump_fails() {
	"$G" dump "$2" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	if [ $rc -eq 1 ] && grep -q -F "$3" "$tmp/err" && [ ! -s "$tmp/out" ]; then
		ok "$1"
	else
		bad "$1" "exit $rc, '$(first "$tmp/err")'"
	fi
}

sleep 30 &
p=$!
pids+=("$p")
dump_fails dump_not_shim "$p" "$p is not running under libgmpthread"
kill -0 "$p" 2>/dev/null || bad dump_not_shim_alive "the target died"

true &
gone=$!
wait "$gone"
dump_fails dump_no_process "$gone" "no process $gone"

"$G" dump 12x >/dev/null 2>&1
rc=$?
if [ $rc -eq 2 ]; then ok dump_usage; else bad dump_usage "gmprun dump 12x: exit $rc"; fi

# Waits (at most 3 s) until PID maps the library.
wait_mapped() {
	local i
	for i in $(seq 30); do
		grep -q 'libgmpthread\.so' "/proc/$1/maps" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# Is bit SIG of the mask line KEY (SigCgt, SigIgn) of /proc/PID/status set?
sigmask_has() {
	local m
	m=$(sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" 2>/dev/null)
	[ -n "$m" ] && (( (0x$m >> ($3 - 1)) & 1 ))
}

# Waits (at most 3 s) until PID's runtime catches signal number SIG: its
# dump handler is installed.
wait_runtime() {
	local i
	wait_mapped "$1" || return 1
	for i in $(seq 30); do
		sigmask_has "$1" SigCgt "$2" && return 0
		sleep 0.1
	done
	return 1
}

GMP_DUMP_SIGNAL=none LD_PRELOAD=$LIB sleep 30 &
p=$!
pids+=("$p")
wait_mapped "$p"
dump_fails dump_disabled "$p" "dumps are disabled in $p (GMP_DUMP_SIGNAL=none)"

# The protocol end to end: NAME SIG(number) then the command to start in
# the background.  The dump must name the process and thread 1, and the
# target must still run afterwards.
dump_e2e() {
	local name=$1 sig=$2
	shift 2
	"$@" &
	local p=$!
	pids+=("$p")
	if ! wait_runtime "$p" "$sig"; then
		bad "$name" "the target does not catch signal $sig (runtime without dump support?)"
		return
	fi
	"$G" dump "$p" >"$tmp/dump.$name" 2>"$tmp/err" &
	local gp=$!
	wait "$gp"
	local rc=$?
	if [ -e "/tmp/gmpdump-$gp" ]; then
		bad "$name" "gmprun left its FIFO /tmp/gmpdump-$gp behind"
	elif [ $rc -ne 0 ]; then
		bad "$name" "exit $rc ($(first "$tmp/err"))"
	elif ! grep -q -F "gmpthread: dump of process $p" "$tmp/dump.$name"; then
		bad "$name" "no 'gmpthread: dump of process $p' line in: $(first "$tmp/dump.$name")"
	elif ! grep -q -E '^thread 1\b' "$tmp/dump.$name"; then
		bad "$name" "no 'thread 1' in the dump"
	elif ! kill -0 "$p" 2>/dev/null; then
		bad "$name" "the target did not survive the dump"
	else
		ok "$name"
	fi
}
# A background job of a script starts with SIGQUIT ignored: give it back
# its default so the runtime takes it.
if env --default-signal=QUIT true 2>/dev/null; then
	dump_e2e dump_sigquit 3 env --default-signal=QUIT LD_PRELOAD="$LIB" sleep 10
else
	bad dump_sigquit "env --default-signal is missing (coreutils >= 8.31 needed)"
fi
dump_e2e dump_sigusr2 12 env GMP_DUMP_SIGNAL=SIGUSR2 LD_PRELOAD="$LIB" sleep 10

# SIGQUIT ignored (as the shell leaves it for this background job): gmprun
# must say so at once rather than wait.  Should the runtime take the dump
# signal even then, the dump simply works.
LD_PRELOAD=$LIB sleep 10 &
p=$!
pids+=("$p")
wait_mapped "$p"
sleep 0.2   # (the runtime's start)
"$G" dump "$p" >"$tmp/out" 2>"$tmp/err"
rc=$?
if sigmask_has "$p" SigIgn 3; then
	if [ $rc -eq 1 ] && grep -q -F "$p ignores SIGQUIT" "$tmp/err"; then
		ok dump_ignored
	else
		bad dump_ignored "exit $rc, '$(first "$tmp/err")'"
	fi
elif [ $rc -eq 0 ] && grep -q -F "dump of process $p" "$tmp/out"; then
	ok "dump_ignored (SIGQUIT not ignored here: dumped)"
else
	bad dump_ignored "exit $rc, '$(first "$tmp/err")'"
fi

echo "gmprun: $pass passed, $fail failed"
[ $fail -eq 0 ]
