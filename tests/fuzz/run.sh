#!/usr/bin/env bash
# Runs each libFuzzer target for a bounded time and prints its figures.
# Usage: tests/fuzz/run.sh OBJDIR SECONDS RUNS TARGET...
# Each target stops after RUNS executions or SECONDS seconds, whichever
# comes first. Seeds come from tests/fuzz/corpus_<name>/ (read only); new
# inputs are kept in OBJDIR/fuzz/corpus_<name>/, findings in
# OBJDIR/fuzz/artifacts/. Exits non-zero if any target found anything.
set -u
objdir=$1 seconds=$2 runs=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$objdir/fuzz/artifacts"
fail=0
for bin in "$@"; do
    name=$(basename "$bin")
    seeds="$here/corpus_$name"
    work="$objdir/fuzz/corpus_$name"
    log="$objdir/fuzz/$name.log"
    mkdir -p "$work"
    dict=()
    [ -f "$here/$name.dict" ] && dict=(-dict="$here/$name.dict")
    # per-target libFuzzer flags, one per line
    extra=()
    [ -f "$here/$name.flags" ] && readarray -t extra < "$here/$name.flags"

    echo "== $name: up to $runs executions or $seconds s ${extra[*]}"
    start=$(date +%s)
    # leak checking stays on (the default); -timeout catches a hang of
    # one input, -rss_limit_mb a memory blow-up
    "$bin" -max_total_time="$seconds" -runs="$runs" -print_final_stats=1 \
        -timeout=25 -rss_limit_mb=2560 -artifact_prefix="$objdir/fuzz/artifacts/$name-" \
        "${dict[@]}" "${extra[@]}" "$work" "$seeds" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corpus=$(find "$work" -type f | wc -l)
    echo "$name: ${execs:-?} executions in ${secs} s (${rate:-?} exec/s), corpus $corpus inputs, exit $rc"
    if [ "$runs" -gt 0 ] && [ "${execs:-0}" -lt "$runs" ] && [ $rc -eq 0 ]; then
        echo "$name: note: the time limit came before $runs executions"
    fi
    if [ $rc -ne 0 ]; then
        echo "FAILED: $name (log: $log)"
        grep -E -A40 'ERROR|check failed|SUMMARY' "$log" | head -60
        ls -1 "$objdir/fuzz/artifacts/" | grep "^$name-" | sed 's/^/  reproducer: /'
        fail=1
    fi
done
exit $fail
