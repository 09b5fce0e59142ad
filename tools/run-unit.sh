#!/usr/bin/env bash
# Runs each Criterion unit-test binary and sums the results into one line
# that CI reads: "unit: N passed, N failed".
set -u
build=$1; shift
pass=0; fail=0; bad=()
for t in "$@"; do
  out=$("$t" --jobs 1 2>&1); rc=$?
  echo "$out" | grep -E '^\[(----|FAIL|SKIP)\]|Synthesis|Assertion|gmpthread' | sed "s|^|$(basename "$t"): |"
  line=$(echo "$out" | grep -E 'Synthesis: Tested: [0-9]+' | tail -1)
  p=$(echo "$line" | sed -E 's/.*Passing: ([0-9]+).*/\1/'); f=$(echo "$line" | sed -E 's/.*Failing: ([0-9]+).*/\1/')
  c=$(echo "$line" | sed -E 's/.*Crashing: ([0-9]+).*/\1/')
  [ -n "$line" ] || { p=0; f=1; c=0; }
  pass=$((pass + p)); fail=$((fail + f))
  if [ "$rc" != 0 ] || [ "$f" != 0 ]; then bad+=("$(basename "$t")"); fi
done
echo "unit: $pass passed, $fail failed"
[ ${#bad[@]} -eq 0 ] || { echo "failing suites: ${bad[*]}" >&2; exit 1; }
