#!/usr/bin/env bash
# test_otlp_e2e.sh - OTLP push end to end.
#
# tests/otlp/receiver.js, an OTLP/HTTP receiver on loopback, decodes every
# push with the generated classes of the npm package
# @opentelemetry/otlp-transformer 0.52.1 (installed into build/npm, pinned;
# the test fails if the registry cannot be reached) and logs it;
# tests/otlp/otlp_host.c pushes every 200 ms. Then:
#  1. the last push equals the host's text exposition, value for value
#     (tests/otlp/otlp_check.py), and a push on demand succeeds;
#  2. the collector answers 500, answers garbage, never answers, and
#     stops listening, in turn: each time the host's own thread moves
#     500 more messages while pushes fail (its loop never waits for
#     them), a push on demand fails with the errno that says why, and the
#     failures are counted in zmqobs_otlp_push_failures_total;
#  3. once the collector is back, a push again equals the text
#     exposition, those 2,000 messages included: no count was lost.
# Bounded (every wait has a limit); kills what it started and removes its
# files on any exit.
set -euo pipefail
cd "$(dirname "$0")/.."
OBJDIR=${OBJDIR:-build}
LIBOUT=${LIBOUT:-lib}
CC=${CC:-cc}
SAN=${SAN:-}
PY=/usr/bin/python3
NPM_DIR=build/npm
PKG=@opentelemetry/otlp-transformer
VER=0.52.1

fail() { echo "test_otlp_e2e: FAIL: $*" >&2; exit 1; }
command -v node >/dev/null || fail "node missing (Debian package nodejs)"
command -v npm >/dev/null || fail "npm missing (Debian package npm)"
command -v curl >/dev/null || fail "curl missing"
[ -f "$LIBOUT/libzmqobs.a" ] || fail "$LIBOUT/libzmqobs.a missing: build the library first"

installed=$(node -p "require('./$NPM_DIR/node_modules/$PKG/package.json').version" 2>/dev/null || true)
if [ "$installed" != "$VER" ]; then
    echo "test_otlp_e2e: installing $PKG@$VER into $NPM_DIR"
    mkdir -p "$NPM_DIR"
    timeout 300 npm install --prefix "$NPM_DIR" --no-audit --no-fund --no-save "$PKG@$VER" >"$NPM_DIR/install.log" 2>&1 \
        || { cat "$NPM_DIR/install.log" >&2; fail "npm install $PKG@$VER failed (registry unreachable?)"; }
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zmqobs-otlp.XXXXXX")
pids=()
cleanup() {
    exec 9>&- 2>/dev/null || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

zmq_flags=$(pkg-config --cflags --libs libzmq 2>/dev/null || echo -lzmq)
# shellcheck disable=SC2086
$CC -std=c11 -D_GNU_SOURCE -O1 -g -Iinclude $SAN -o "$tmp/otlp_host" tests/otlp/otlp_host.c \
    "$LIBOUT/libzmqobs.a" $zmq_flags -lpthread -lm || fail "cannot build otlp_host"

NODE_PATH="$PWD/$NPM_DIR/node_modules" node tests/otlp/receiver.js "$tmp/pushes.jsonl" \
    >"$tmp/recv.out" 2>"$tmp/recv.err" &
pids+=("$!")
for _ in $(seq 1 200); do grep -q '^control ' "$tmp/recv.out" 2>/dev/null && break; sleep 0.05; done
grep -q '^control ' "$tmp/recv.out" || { cat "$tmp/recv.err" >&2; fail "receiver did not start"; }
rport=$(awk '$1 == "port" {print $2}' "$tmp/recv.out")
cport=$(awk '$1 == "control" {print $2}' "$tmp/recv.out")
mode() { curl -sf --max-time 5 "http://127.0.0.1:$cport/mode/$1" >/dev/null || fail "mode $1"; }

mkfifo "$tmp/in"
# shellcheck disable=SC2086
${TEST_WRAP:-} "$tmp/otlp_host" "http://127.0.0.1:$rport/v1/metrics" 200 <"$tmp/in" \
    >"$tmp/host.out" 2>"$tmp/host.err" &
host=$!
pids+=("$host")
exec 9>"$tmp/in"
for _ in $(seq 1 400); do grep -q '^port ' "$tmp/host.out" 2>/dev/null && break; sleep 0.05; done
grep -q '^port ' "$tmp/host.out" || { cat "$tmp/host.err" >&2; fail "host did not start"; }
metrics="http://127.0.0.1:$(awk '$1 == "port" {print $2}' "$tmp/host.out")/metrics"

pushes() { [ -f "$tmp/pushes.jsonl" ] && wc -l <"$tmp/pushes.jsonl" || echo 0; }
wait_pushes() { # N: until N more pushes arrived (30 s at most)
    local want=$(($(pushes) + $1))
    for _ in $(seq 1 300); do [ "$(pushes)" -ge "$want" ] && return 0; sleep 0.1; done
    fail "fewer than $1 more pushes arrived"
}
failures() { curl -sf --max-time 5 "$metrics" | awk '/^zmqobs_otlp_push_failures_total/ {print $2}'; }
command_ok() { # CMD EXPECTED-LINE: sends a command, waits for its answer
    local n
    n=$(wc -l <"$tmp/host.out")
    echo "$1" >&9
    for _ in $(seq 1 600); do
        [ "$(wc -l <"$tmp/host.out")" -gt "$n" ] && break
        sleep 0.05
    done
    local got
    got=$(tail -1 "$tmp/host.out")
    [ "$got" = "$2" ] || fail "'$1' answered '$got', expected '$2'"
}
check_now() { # MIN-FAILURES: the next push against the text of now
    curl -sf --max-time 5 "$metrics" >"$tmp/now.prom" || fail "GET $metrics"
    wait_pushes 2
    "$PY" tests/otlp/otlp_check.py "$tmp/pushes.jsonl" "$tmp/now.prom" "$1" || fail "push differs"
}

# --- 1. pushes match the exposition ----------------------------------------
wait_pushes 2
check_now 0
command_ok push "push 0 -"

# --- 2. a collector that fails in every way -------------------------------
for m in 500 garbage hang down; do
    before=$(failures)
    mode "$m"
    command_ok "traffic 500" "done 500"
    case $m in
    500 | garbage) command_ok push "push -1 EPROTO" ;;
    hang) command_ok push "push -1 ETIMEDOUT" ;;
    down) command_ok push "push -1 ECONNREFUSED" ;;
    esac
    for _ in $(seq 1 200); do
        [ "$(failures)" -ge $((before + 3)) ] && break
        sleep 0.1
    done
    after=$(failures)
    [ "$after" -ge $((before + 3)) ] || fail "collector $m: failures $before -> $after"
    echo "   collector $m: host moved 500 messages, failed pushes $before -> $after"
done

# --- 3. back: nothing lost ---------------------------------------------------
mode ok
wait_pushes 1
check_now 12
exec 9>&-
status=0
wait "$host" || status=$?
[ "$status" -eq 0 ] || { cat "$tmp/host.err" >&2; fail "host exit status $status"; }
echo "test_otlp_e2e: PASS"
