#!/usr/bin/env bash
# fuzz.sh: runs the libFuzzer targets that `make fuzz` builds (build/fuzz/NAME_fuzz).
#   scripts/fuzz.sh run SECONDS NAME...  each target for SECONDS, one after another, on
#       build/fuzz/corpus-new/NAME/, which starts as a copy of test/fuzz/corpus/NAME/ and keeps
#       what earlier runs found (the repo's corpus is never written). A crash goes to
#       build/fuzz/crashes/NAME/ and fails the run once every target has had its turn.
#   scripts/fuzz.sh merge 0 NAME...      minimizes test/fuzz/corpus/NAME/ plus corpus-new into
#       the repo's corpus (libFuzzer -merge=1: only inputs that reach new edges stay); the
#       seeds (seed-*) and regression inputs (regress-*) are kept whatever they cover.
# libFuzzer's log of each run is build/fuzz/logs/NAME.log; its final figures are printed.
set -u
cd "$(dirname "$0")/.." || exit 1
mode=$1 seconds=$2
shift 2
fz=build/fuzz
failed=()

# Flags of one target: inputs may be as long as the code under test takes them (mp's 1 MiB
# for a million nested arrays, web's past the 16 KiB request limit), and a target with a
# dictionary of its format's words (test/fuzz/NAME.dict) gets it.
flags() {
    case $1 in
    mp) echo -n "-max_len=1048576" ;;
    web) echo -n "-max_len=20000" ;;
    bus | wal) echo -n "-max_len=65536" ;;
    *) echo -n "-max_len=8192" ;;
    esac
    [ -f "test/fuzz/$1.dict" ] && echo -n " -dict=test/fuzz/$1.dict"
    echo
}

run() {
    local t=$1 new=$fz/corpus-new/$1 log=$fz/logs/$1.log rc
    mkdir -p "$new" "$fz/crashes/$t" "$fz/logs"
    cp -n test/fuzz/corpus/"$t"/* "$new"/ 2>/dev/null
    echo "fuzz: $t for ${seconds}s"
    # shellcheck disable=SC2046
    "$fz/${t}_fuzz" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$fz/crashes/$t/" $(flags "$t") "$new" >"$log" 2>&1
    rc=$?
    grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" |
        tr '\n' ' '
    echo
    if [ "$rc" -ne 0 ]; then
        tail -40 "$log"
        echo "fuzz: $t FAILED (exit $rc); crash inputs in $fz/crashes/$t/"
        failed+=("$t")
    fi
}

# The seeds and regressions go first, so that only inputs reaching edges they do not are
# added; edges, not hit counts (-use_counters=0), keep the corpus at tens of files.
merge() {
    local t=$1 repo=test/fuzz/corpus/$1 tmp
    tmp=$(mktemp -d)
    mkdir -p "$fz/corpus-new/$t"
    cp "$repo"/seed-* "$repo"/regress-* "$tmp"/ 2>/dev/null
    # shellcheck disable=SC2046
    if ! "$fz/${t}_fuzz" -merge=1 -use_counters=0 $(flags "$t") "$tmp" "$repo" \
        "$fz/corpus-new/$t" >"$fz/logs/$t.merge.log" 2>&1; then
        tail -20 "$fz/logs/$t.merge.log"
        failed+=("$t")
        rm -rf "$tmp"
        return
    fi
    find "$repo" -maxdepth 1 -type f -delete
    cp "$tmp"/* "$repo"/
    rm -rf "$tmp"
    echo "fuzz: $t: $(find "$repo" -type f | wc -l) inputs, $(du -sb "$repo" | cut -f1) bytes"
}

mkdir -p "$fz/logs"
for t in "$@"; do
    case $mode in
    run) run "$t" ;;
    merge) merge "$t" ;;
    *)
        echo "usage: $0 run|merge SECONDS NAME..." >&2
        exit 2
        ;;
    esac
done
[ ${#failed[@]} -gt 0 ] && echo "fuzz: failed: ${failed[*]}" && exit 1
exit 0
