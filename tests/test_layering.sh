#!/usr/bin/env bash
# layering.sh - checks the module rules of DESIGN.md ("Modules, bottom to
# top") on the built objects and the sources:
#   - the module graph comes from the symbols: module X uses module Y when
#     $OBJDIR/src/X.o has an undefined symbol that Y.o defines. Symbols no
#     object of ours defines (libc, libzmq, the sanitizer runtimes) are not
#     ours and are skipped; so are file-local ones (static and static inline
#     functions, string literals), which never link two objects together;
#   - the graph must have no cycle (a module using itself is no cycle);
#     otherwise the modules of each cycle, one concrete cycle and every
#     dependency inside it (with a symbol that makes it) are printed;
#   - the layers are printed: layer 0 uses no other module, layer k is one
#     above the highest module it uses;
#   - no file in src/ may pass LAYER_MAX_LINES lines (default 700).
# Both problems are reported before the script fails.
#
#   OBJDIR=build bash tests/layering.sh     after `make lib` (OBJDIR may be
#                                           build/asan, build/tsan, ...)
#   bash tests/layering.sh --self-test      checks the checker on small
#                                           objects built in a temp dir
#
# Symbols defined by several objects: a strong definition (T, D, B, R, ...)
# owns the symbol; weak (W, V) and common (C) definitions count only when
# there is no strong one. An object that merely carries a weak or common
# definition is not counted as a user (a header's tentative definition puts
# a common symbol in every object that includes it, used or not); the
# objects sharing such a symbol get no dependency between them, and it is
# noted. Two strong definitions are reported (the link would fail anyway).
# Objects whose source is gone (stale after a rename) are skipped.
#
# Not run by make check yet: make check runs every tests/test_*.sh, so the
# check is wired in by renaming this file to tests/test_layering.sh once
# the modules have no cycle and no file over the limit.
set -euo pipefail

NAME=test_layering
NM=${NM:-nm}

# analyse ROOT OBJDIR MAX_LINES: prints the report, returns 0 or 1.
analyse() {
    local root=$1 objdir=$2 max=$3
    local -a mods=() objs=()
    local o m src status=0 graph_ok=1 lines_ok=1

    case $objdir in /*) ;; *) objdir=$root/$objdir ;; esac
    for o in "$objdir"/src/*.o; do
        [ -e "$o" ] || continue
        m=$(basename "$o" .o)
        if [ ! -e "$root/src/$m.c" ]; then
            echo "$NAME: note: skipping ${o#"$root"/} (no src/$m.c: stale object)"
            continue
        fi
        if [ "$root/src/$m.c" -nt "$o" ]; then
            echo "$NAME: warning: ${o#"$root"/} is older than src/$m.c (run make lib)"
        fi
        mods+=("$m")
        objs+=("$o")
    done
    for src in "$root"/src/*.c; do
        [ -e "$src" ] || continue
        m=$(basename "$src" .c)
        if [ ! -e "$objdir/src/$m.o" ]; then
            echo "$NAME: FAIL: no object $objdir/src/$m.o for src/$m.c (run make lib)" >&2
            return 1
        fi
    done
    if [ ${#mods[@]} -eq 0 ]; then
        echo "$NAME: FAIL: no objects in $objdir/src (run make lib)" >&2
        return 1
    fi

    # One line per symbol: module, nm type, name. nm -P prints
    # "name type [value size]"; an object without symbols prints nothing.
    local syms i err
    syms=$(mktemp)
    err=$(mktemp)
    for i in "${!objs[@]}"; do
        if ! "$NM" -P "${objs[$i]}" 2>"$err" | awk -v m="${mods[$i]}" 'NF >= 2 { print m, $2, $1 }' >>"$syms"; then
            echo "$NAME: FAIL: $NM failed on ${objs[$i]}:" >&2
            cat "$err" >&2
            rm -f "$syms" "$err"
            return 1
        fi
        if grep -v 'no symbols' "$err" >&2; then
            echo "$NAME: FAIL: $NM complained about ${objs[$i]}" >&2
            rm -f "$syms" "$err"
            return 1
        fi
    done
    rm -f "$err"

    echo "$NAME: module graph of ${#mods[@]} objects in ${objdir#"$root"/}/src"
    local grc=0
    LC_ALL=C sort -u -k3,3 -k1,1 -k2,2 "$syms" | awk -v MODS="${mods[*]}" "$GRAPH_AWK" || grc=$?
    rm -f "$syms"
    case $grc in
    0) ;;
    1) graph_ok=0 ;;
    *) echo "$NAME: FAIL: the graph step failed (status $grc)" >&2; return 1 ;;
    esac

    # Line limit, counted as awk counts records (a last line without a
    # newline counts too).
    local over
    over=$(find "$root/src" -type f \( -name '*.c' -o -name '*.h' \) -print | LC_ALL=C sort |
        while IFS= read -r src; do
            awk -v f="${src#"$root"/}" -v max="$max" 'END { if (NR > max) printf "  %s: %d lines\n", f, NR }' "$src"
        done)
    if [ -n "$over" ]; then
        lines_ok=0
        echo "$NAME: FAIL: $(($(printf '%s\n' "$over" | wc -l))) file(s) in src/ over $max lines (one concern per file: split them):"
        printf '%s\n' "$over"
    else
        echo "$NAME: every file in src/ has at most $max lines"
    fi

    if [ $graph_ok -eq 1 ] && [ $lines_ok -eq 1 ]; then
        echo "$NAME: OK"
    else
        status=1
        local why=""
        [ $graph_ok -eq 1 ] || why="dependency cycle"
        [ $lines_ok -eq 1 ] || why="${why:+$why; }files over $max lines"
        echo "$NAME: FAILED ($why)"
    fi
    return $status
}

# Input: "module type symbol" lines, sorted by symbol. MODS: the modules
# in order. Prints the graph; exits 1 on a cycle. Plain POSIX awk (mawk).
# shellcheck disable=SC2016 # awk's $1..., not the shell's
GRAPH_AWK='
function add(list, x) { return list == "" ? x : list " " x }
BEGIN {
    n = split(MODS, mod, " ")
    for (i = 1; i <= n; i++) at[mod[i]] = i
}
{
    m = $1; t = $2; s = $3
    if (t ~ /^[ABDGRSTiu]$/)      kind = "strong"
    else if (t ~ /^[VW]$/)        kind = "weak"
    else if (t == "C")            kind = "common"
    else if (t ~ /^[Uvw]$/)       kind = "use"      # v, w: weak undefined
    else next                                       # local or debug symbols
    if (!(s in seen)) { seen[s] = 1; order[++nsym] = s }
    key = s SUBSEP kind
    if (!((key, m) in have)) { have[key, m] = 1; list[key] = add(list[key], m) }
}
END {
    for (q = 1; q <= nsym; q++) {
        s = order[q]
        kind = "strong"; owners = list[s, "strong"]
        if (owners == "") { kind = "weak"; owners = list[s, "weak"] }
        if (owners == "") { kind = "common"; owners = list[s, "common"] }
        if (owners == "") continue          # not ours: libc, libzmq, sanitizers
        k = split(owners, ow, " ")
        if (k > 1 && kind == "strong")
            warn[++nwarn] = "warning: " s " is defined in several objects: " owners
        else if (k > 1)
            warn[++nwarn] = "note: " s " has " kind " definitions in " owners " (no dependency between them)"
        if (kind == "strong" && list[s, "weak"] != "")
            warn[++nwarn] = "note: " s ": the strong definition in " owners " overrides the weak one in " list[s, "weak"]
        if (kind == "strong" && list[s, "common"] != "")
            warn[++nwarn] = "note: " s ": the definition in " owners " absorbs the common one in " list[s, "common"]
        nu = split(list[s, "use"], us, " ")
        for (u = 1; u <= nu; u++)
            for (o = 1; o <= k; o++) {
                a = at[us[u]]; b = at[ow[o]]
                if (a == b) continue
                if (!((a, b) in edge)) { edge[a, b] = 1; ex[a, b] = s; cnt[a, b] = 0; nedge++ }
                cnt[a, b]++
            }
    }
    for (w = 1; w <= nwarn; w++) print "  " warn[w]

    # Reachability (the graphs are small): r[i,j] when i reaches j.
    for (i = 1; i <= n; i++) for (j = 1; j <= n; j++) r[i, j] = ((i, j) in edge)
    for (k = 1; k <= n; k++) for (i = 1; i <= n; i++) if (r[i, k])
        for (j = 1; j <= n; j++) if (r[k, j]) r[i, j] = 1
    cyclic = 0
    for (i = 1; i <= n; i++) if (r[i, i]) cyclic = 1
    # A module has a layer when nothing it reaches is on a cycle.
    for (i = 1; i <= n; i++) {
        layered[i] = !r[i, i]
        for (j = 1; j <= n; j++) if (r[i, j] && r[j, j]) layered[i] = 0
        layer[i] = 0
    }
    for (pass = 1; pass <= n; pass++)
        for (i = 1; i <= n; i++) if (layered[i])
            for (j = 1; j <= n; j++) if (((i, j) in edge) && layer[j] + 1 > layer[i]) layer[i] = layer[j] + 1
    top = -1
    for (i = 1; i <= n; i++) if (layered[i] && layer[i] > top) top = layer[i]
    for (l = 0; l <= top; l++) {
        line = ""
        for (i = 1; i <= n; i++) if (layered[i] && layer[i] == l) line = add(line, mod[i])
        printf "layer %d: %s\n", l, line
    }
    if (cyclic) {
        line = ""
        for (i = 1; i <= n; i++) if (!layered[i]) line = add(line, mod[i])
        print "no layer (on a cycle or above one): " line
    }
    print "uses (" nedge " dependencies):"
    for (i = 1; i <= n; i++) {
        line = ""
        for (j = 1; j <= n; j++) if ((i, j) in edge) line = add(line, mod[j])
        printf "  %s: %s\n", mod[i], (line == "" ? "-" : line)
    }
    if (!cyclic) { print "no dependency cycle"; exit 0 }

    # Each strongly connected component with more than one module: its
    # modules, the shortest cycle through its first module, its edges.
    ncomp = 0
    for (i = 1; i <= n; i++) {
        if (!r[i, i] || (i in comp)) continue
        ncomp++; members = ""; nm_ = 0
        for (j = 1; j <= n; j++) if (r[i, j] && r[j, i]) { comp[j] = ncomp; members = add(members, mod[j]); nm_++ }
        printf "FAIL: dependency cycle among %d modules: %s\n", nm_, members
        # Breadth-first search from i inside the component back to i.
        split("", par); split("", queue)
        head = 1; tail = 1; queue[1] = i; par[i] = 0; last = 0
        while (head <= tail && !last) {
            x = queue[head++]
            for (j = 1; j <= n; j++) {
                if (!((x, j) in edge) || comp[j] != ncomp) continue
                if (j == i) { last = x; break }
                if (!(j in par)) { par[j] = x; queue[++tail] = j }
            }
        }
        path = mod[i]
        for (x = last; x != i; x = par[x]) path = mod[x] " -> " path
        print "  cycle: " mod[i] " -> " path
        print "  dependencies inside it (a symbol making each):"
        for (a = 1; a <= n; a++) if (comp[a] == ncomp)
            for (b = 1; b <= n; b++) if (comp[b] == ncomp && ((a, b) in edge))
                printf "    %s -> %s: %s%s\n", mod[a], mod[b], ex[a, b], \
                    (cnt[a, b] > 1 ? " (+" (cnt[a, b] - 1) " more)" : "")
    }
    exit 1
}'

# ---------------------------------------------------------------- self-test

self_test() {
    local cc=${CC:-cc} out rc fails=0
    SELF_TEST_DIR=$(mktemp -d)
    trap 'rm -rf "$SELF_TEST_DIR"' EXIT
    local tmp=$SELF_TEST_DIR

    expect() { # expect WHAT PATTERN: PATTERN (grep -E) must be in $out
        if printf '%s\n' "$out" | grep -Eq -- "$2"; then return 0; fi
        echo "$NAME: self-test FAIL: $1: missing /$2/" >&2
        fails=$((fails + 1))
    }
    build() { # build DIR: every DIR/src/*.c to DIR/build/src/*.o
        mkdir -p "$1/build/src"
        local c
        for c in "$1"/src/*.c; do
            # -O0 keeps the static inline helpers out of line (local t
            # symbols in every object); -fcommon turns the header's
            # tentative definition into a common symbol in each object.
            "$cc" -std=c11 -O0 -fcommon -I"$1/src" -c -o "$1/build/src/$(basename "$c" .c).o" "$c"
        done
    }
    run() { # run DIR [MAX_LINES]: sets out and rc
        rc=0
        out=$(analyse "$1" build "${2:-700}" 2>&1) || rc=$?
        printf '%s\n' "$out" | sed 's/^/    | /'
    }

    # 1. Acyclic: base <- events, process <- metrics <- observer; an empty
    # module; a static inline helper and a tentative definition in a shared
    # header; a weak default in base overridden by observer; libc, and a
    # symbol named like a sanitizer hook that nobody defines.
    local d=$tmp/acyclic
    mkdir -p "$d/src"
    cat >"$d/src/fake.h" <<'EOF'
int tentative;
static inline int clamp(int x) { return x < 0 ? 0 : x; }
void *base_alloc(int n);
extern int base_count;
int base_hook(void);
const char *events_name(int e);
int process_read(void);
int metrics_total(void);
EOF
    cat >"$d/src/base.c" <<'EOF'
#include <stdlib.h>
#include "fake.h"
int base_count;
__attribute__((weak)) int base_hook(void) { return 0; }
void *base_alloc(int n) { base_count++; return malloc((size_t)clamp(n) + (size_t)base_hook()); }
EOF
    cat >"$d/src/events.c" <<'EOF'
#include "fake.h"
const char *events_name(int e) { return base_alloc(clamp(e)) ? "ok" : "none"; }
EOF
    cat >"$d/src/process.c" <<'EOF'
#include "fake.h"
int process_read(void) { return clamp(base_count); }
EOF
    cat >"$d/src/metrics.c" <<'EOF'
#include "fake.h"
void __asan_report_load8(void *p);
int metrics_total(void) { __asan_report_load8(0); return clamp(process_read()) + (events_name(1) != 0); }
EOF
    cat >"$d/src/observer.c" <<'EOF'
#include <stdio.h>
#include "fake.h"
int base_hook(void) { return 1; }
int observer_run(void) { printf("%p\n", base_alloc(1)); return metrics_total(); }
EOF
    printf 'typedef int empty_unused;\n' >"$d/src/empty.c"
    build "$d"
    # An object whose source was removed would define base_alloc twice.
    cp "$d/build/src/base.o" "$d/build/src/gone.o"

    echo "$NAME: self-test 1: acyclic fake modules, limit 700"
    run "$d"
    [ "$rc" -eq 0 ] || { echo "$NAME: self-test FAIL: acyclic set failed" >&2; fails=$((fails + 1)); }
    expect "layer 0" '^layer 0: base empty$'
    expect "layer 1" '^layer 1: events process$'
    expect "layer 2" '^layer 2: metrics$'
    expect "layer 3" '^layer 3: observer$'
    expect "uses" '^  observer: base metrics$'
    expect "uses" '^  metrics: events process$'
    expect "uses" '^  base: -$'
    expect "stale" 'skipping .*/gone.o \(no src/gone.c: stale object\)$'
    expect "ok" "^$NAME: OK$"

    echo "$NAME: self-test 2: the same, limit 4 lines"
    run "$d" 4
    [ "$rc" -eq 1 ] || { echo "$NAME: self-test FAIL: line limit not enforced" >&2; fails=$((fails + 1)); }
    expect "over" '^  src/fake.h: 8 lines$'
    expect "over" '^  src/base.c: 5 lines$'
    expect "layers still printed" '^layer 3: observer$'

    # 2. A 3-cycle a -> b -> c -> a, with d above it and e below it, and
    # a file over the limit: both problems must be printed.
    d=$tmp/cyclic
    mkdir -p "$d/src"
    printf 'int b_f(void);\nint a_f(void) { return b_f(); }\n' >"$d/src/a.c"
    printf 'int c_f(void);\nint b_f(void) { return c_f(); }\n' >"$d/src/b.c"
    printf 'int a_f(void);\nint e_f(void);\nint c_f(void) { return a_f() + e_f(); }\n' >"$d/src/c.c"
    printf 'int a_f(void);\nint d_f(void) { return a_f(); }\n' >"$d/src/d.c"
    printf 'int e_f(void) { return 1; }\n' >"$d/src/e.c"
    build "$d"

    echo "$NAME: self-test 3: a 3-cycle, limit 2 lines"
    run "$d" 2
    [ "$rc" -eq 1 ] || { echo "$NAME: self-test FAIL: cycle not detected" >&2; fails=$((fails + 1)); }
    expect "cycle modules" '^FAIL: dependency cycle among 3 modules: a b c$'
    expect "cycle path" '^  cycle: a -> b -> c -> a$'
    expect "edge" '^    c -> a: a_f$'
    expect "layer" '^layer 0: e$'
    expect "no layer" '^no layer \(on a cycle or above one\): a b c d$'
    expect "over" '^  src/c.c: 3 lines$'
    expect "both" "^$NAME: FAILED \\(dependency cycle; files over 2 lines\\)$"

    if [ $fails -ne 0 ]; then
        echo "$NAME: self-test FAILED ($fails checks)"
        return 1
    fi
    echo "$NAME: self-test passed"
}

case ${LAYER_MAX_LINES:-700} in
'' | *[!0-9]*) echo "$NAME: LAYER_MAX_LINES must be a number of lines, not '$LAYER_MAX_LINES'" >&2; exit 2 ;;
esac

case ${1:-} in
--self-test) self_test ;;
"") analyse "$(cd "$(dirname "$0")/.." && pwd)" "${OBJDIR:-build}" "${LAYER_MAX_LINES:-700}" ;;
*) echo "usage: OBJDIR=build [LAYER_MAX_LINES=700] bash $0 [--self-test]" >&2; exit 2 ;;
esac
