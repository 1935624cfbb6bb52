#!/usr/bin/env bash
# conf_errors_test: `master -t FILE` on every fixture in test/integration/conf/. A fixture
# with a sibling NAME.expect is broken: master must exit 1 with exactly that line on stderr.
# A fixture without one is valid: master must exit 0 printing exactly `FILE: ok`.
# Fixtures name their app `test/integration/conf/exists.so`, a text placeholder, not a
# shared object: `-t` only checks that the file exists. FF_MASTER overrides bin/master.
set -u
cd "$(dirname "$0")/../.." || exit 1
master=${FF_MASTER:-bin/master}
n=0 passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Prints a file indented under `#`, or `(empty)`.
show() {
    if [ -s "$1" ]; then sed 's/^/#   /' "$1"; else echo "#   (empty)"; fi
}

# check NAME FILE WANT_RC WANT_STDOUT_FILE WANT_STDERR_FILE (a - file is not checked)
check() {
    local name=$1 file=$2 want_rc=$3 want_out=$4 want_err=$5 rc=0
    n=$((n + 1))
    timeout -k 2 10 "$master" -t "$file" >"$tmp/out" 2>"$tmp/err" || rc=$?
    if [ "$rc" -eq "$want_rc" ] && { [ "$want_out" = - ] || cmp -s "$want_out" "$tmp/out"; } &&
        cmp -s "$want_err" "$tmp/err"; then
        echo "ok $n - $name"
        passed=$((passed + 1))
        return
    fi
    echo "not ok $n - $name"
    echo "# $0: $master -t $file"
    echo "# expected: exit $want_rc, stderr:"
    show "$want_err"
    if [ "$want_out" != - ]; then
        echo "# stdout:"
        show "$want_out"
    fi
    echo "# got: exit $rc, stderr:"
    show "$tmp/err"
    echo "# stdout:"
    show "$tmp/out"
    failed=$((failed + 1))
}

if [ ! -x "$master" ]; then
    echo "not ok 1 - $master is not built"
    echo "0 passed, 1 failed"
    exit 1
fi
: >"$tmp/empty"
for file in test/integration/conf/*.json; do
    name=$(basename "$file" .json)
    if [ -e "${file%.json}.expect" ]; then
        check "$name" "$file" 1 - "${file%.json}.expect"
    else
        echo "$file: ok" >"$tmp/ok"
        check "$name" "$file" 0 "$tmp/ok" "$tmp/empty"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
