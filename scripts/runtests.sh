#!/usr/bin/env bash
# Runs every test program given (and test/integration/*_test.sh), each in its own process
# with a time limit. Programs print TAP lines (`ok N - name` / `not ok N - name`); cmocka's
# are switched to TAP too. A program that exits non-zero without a `not ok` line, or runs
# out of time, counts as one failure. Ends with `N passed, N failed`; exits 1 on failure.
set -u
cd "$(dirname "$0")/.."
limit=${FF_TEST_TIMEOUT:-240}
passed=0 failed=0 failures=()
export CMOCKA_MESSAGE_OUTPUT=TAP
for t in "$@" test/integration/*_test.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t")
    out=$(mktemp)
    if [[ $t == *.sh ]]; then cmd=(bash "$t"); else cmd=("$t"); fi
    timeout -k 5 "$limit" "${cmd[@]}" >"$out" 2>&1
    rc=$?
    ok=$(grep -cE '^ok [0-9]+' "$out")
    bad=$(grep -cE '^not ok [0-9]+' "$out")
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
        bad=1
        [ "$rc" -eq 124 ] && echo "not ok - $name: timed out after ${limit}s" >>"$out"
        [ "$rc" -ne 124 ] && echo "not ok - $name: exited with status $rc" >>"$out"
    fi
    if [ "$bad" -gt 0 ]; then
        failures+=("$name")
        cat "$out"
    else
        echo "$name: $ok passed"
    fi
    passed=$((passed + ok))
    failed=$((failed + bad))
    rm -f "$out"
done
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
