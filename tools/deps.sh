#!/usr/bin/env bash
# Makes sure the system packages a target needs are present.
#   tools/deps.sh build   libunwind-dev (libunwind.h to build; libunwind.so.8,
#                         which the library dlopen()s for backtraces)
#   tools/deps.sh test    + Criterion (libcriterion-dev), g++, and the real
#                         programs of tests/real/ (pigz zstd sysbench stress-ng
#                         memcached)
#   tools/deps.sh real    the real programs of tests/real/ only
#   tools/deps.sh bench   libunwind-dev, the real programs, golang-go (the
#                         Go column of bench/run) and gnuplot (its plots)
# As root it installs what is missing with apt-get; otherwise it names the
# packages and fails, so a run never goes on half-equipped. The one exception
# is the real programs: tests/real/run.sh reports a missing one as SKIP, so
# when only they are missing a non-root run names them and goes on.
set -eu
what=${1:-build}
need=()
optional=()   # missing real programs (subset of need)
have_header() { echo "#include <$1>" | ${CC:-gcc} -E -x c - >/dev/null 2>&1; }
have_cmd() { command -v "$1" >/dev/null 2>&1; }
# Real multithreaded programs run by tests/real/run.sh (command = package).
need_real() {
  local c
  for c in pigz zstd sysbench stress-ng memcached; do
    have_cmd "$c" || { need+=("$c"); optional+=("$c"); }
  done
}
case $what in
  build) have_header libunwind.h || need+=(libunwind-dev) ;;
  test)
    have_header libunwind.h || need+=(libunwind-dev)
    have_header criterion/criterion.h || need+=(libcriterion-dev)
    command -v g++ >/dev/null 2>&1 || need+=(g++)   # C++ conformance programs
    need_real
    ;;
  real) need_real ;;
  bench)
    have_header libunwind.h || need+=(libunwind-dev)
    need_real
    have_cmd go || need+=(golang-go)
    have_cmd gnuplot || need+=(gnuplot-nox)
    ;;
  *) echo "deps.sh: unknown target '$what'" >&2; exit 2 ;;
esac
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  exit 0
fi
echo "deps: missing packages: ${need[*]}" >&2
echo "      install them with: sudo apt-get install ${need[*]}" >&2
if [ ${#need[@]} -eq ${#optional[@]} ]; then
  echo "      (only real programs are missing: tests/real will skip them)" >&2
  exit 0
fi
exit 1
