#!/usr/bin/env bash
# test_czmq_loop.sh - examples/czmq_loop.c: a CZMQ zloop that drives a
# host-driven observer through the one descriptor of zmqobs_fd.
#   - bad arguments exit 2, a port already bound exits 1;
#   - a python3 REQ client sends N requests while 50 curl scrapes of
#     /metrics run in parallel with it (8 at a time): every scrape is HTTP 200 and Prometheus
#     text that tests/expose_check.py accepts, with the "rep" series;
#   - /healthz is 200; /readyz is 200: the REP socket was bound before it
#     was attached (at construction), and attach counts that listener;
#   - afterwards the counters are exact: N messages and their bytes each
#     way, one ACCEPTED and one HANDSHAKE_SUCCEEDED;
#   - SIGTERM (caught by CZMQ, ends zloop_start): exit 0 and the summary;
#   - MAX_REQUESTS: the program stops by itself after that many, exit 0.
# The plain build compiles it with `make examples` (staged install,
# pkg-config only); sanitizer builds compile it against $LIBOUT with $SAN,
# as tests/test_http_examples.sh does. TEST_WRAP is not used (the program
# runs directly). Bounded (every wait has a limit); kills what it started,
# removes its files.
set -euo pipefail
cd "$(dirname "$0")/.."
OBJDIR=${OBJDIR:-build}
LIBOUT=${LIBOUT:-lib}
CC=${CC:-cc}
SAN=${SAN:-}
PY=/usr/bin/python3
N=200
SCRAPES=50

fail() { echo "test_czmq_loop: FAIL: $*" >&2; exit 1; }
[ -f "$LIBOUT/libzmqobs.a" ] || fail "$LIBOUT/libzmqobs.a missing"
if ! pkg-config --exists libczmq; then
    echo "test_czmq_loop: SKIP: libczmq not installed (.ci/deps test installs libczmq-dev)"
    exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zmqobs-czmq.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
# libzmq and libczmq are not instrumented: silence TSan inside them only
printf 'race:libzmq.so\ncalled_from_lib:libzmq.so\nrace:libczmq.so\ncalled_from_lib:libczmq.so\n' \
    >"$tmp/tsan.supp"
export TSAN_OPTIONS="suppressions=$tmp/tsan.supp ${TSAN_OPTIONS:-}"

if [ -z "$SAN" ] && [ "$OBJDIR" = build ] && [ "$LIBOUT" = lib ]; then
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory examples >"$tmp/make.out" 2>&1 \
        || { cat "$tmp/make.out" >&2; fail "make examples"; }
    B=build/examples/czmq_loop
else
    mkdir -p "$OBJDIR/examples-test"
    B="$OBJDIR/examples-test/czmq_loop"
    # shellcheck disable=SC2046,SC2086
    $CC -std=c11 -D_GNU_SOURCE -O1 -g -Iinclude $SAN -o "$B" examples/czmq_loop.c \
        "$LIBOUT/libzmqobs.a" $(pkg-config --cflags --libs libzmq libczmq) -lpthread -lm \
        || fail "cannot build examples/czmq_loop.c"
fi
[ -x "$B" ] || fail "$B not built"

# expect STATUS PATTERN CMD...: exit status and a stderr line matching
expect() {
    local want=$1 pat=$2 got=0
    shift 2
    timeout 20 "$@" >"$tmp/out" 2>"$tmp/err" </dev/null || got=$?
    [ "$got" -eq "$want" ] || { cat "$tmp/err" >&2; fail "$*: exit $got, expected $want"; }
    grep -q -- "$pat" "$tmp/err" || { cat "$tmp/err" >&2; fail "$*: no '$pat' on stderr"; }
}
expect 2 "PORT: '12x'" "$B" 12x
expect 2 "PORT: 0 is out of range" "$B" 0
expect 2 "PORT: 70000 is out of range" "$B" 70000
expect 2 "MAX_REQUESTS: '-1'" "$B" '*' -1
expect 2 "METRICS_ADDR: 'http://x'" "$B" '*' 0 http://x
expect 2 "usage" "$B" '*' 0 off extra
expect 2 "ZMQOBS_SAMPLE_EVERY" env ZMQOBS_SAMPLE_EVERY=0 "$B"

# start PREFIX ARGS...: runs czmq_loop in the background, waits (10 s at
# most) for its "rep" line; sets $prog, $rep_ep, $metrics
start() {
    local prefix=$1
    shift
    "$B" "$@" >"$tmp/$prefix.out" 2>"$tmp/$prefix.err" </dev/null &
    prog=$!
    pids+=("$prog")
    for _ in $(seq 1 200); do
        grep -q '^rep ' "$tmp/$prefix.out" && break
        kill -0 "$prog" 2>/dev/null || break
        sleep 0.05
    done
    rep_ep=$(awk '$1 == "rep" {print $2}' "$tmp/$prefix.out")
    metrics=$(awk '$1 == "metrics" {print $2}' "$tmp/$prefix.out")
    [ -n "$rep_ep" ] || { cat "$tmp/$prefix.out" "$tmp/$prefix.err" >&2; fail "czmq_loop did not start"; }
}
# finish PREFIX: waits (15 s at most) for $prog to exit; fails unless 0
finish() {
    local prefix=$1 status=0
    for _ in $(seq 1 300); do kill -0 "$prog" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$prog" 2>/dev/null; then
        kill -KILL "$prog"
        cat "$tmp/$prefix.out" "$tmp/$prefix.err" >&2
        fail "czmq_loop did not exit within 15 s"
    fi
    wait "$prog" || status=$?
    unset 'pids[-1]'
    [ "$status" -eq 0 ] || { cat "$tmp/$prefix.out" "$tmp/$prefix.err" >&2; fail "czmq_loop exit $status"; }
}

# client ENDPOINT COUNT PACE_S [STARTED_FILE]: COUNT single-part requests
# on a REQ socket ("PING" every tenth, "request-I" otherwise), each reply
# checked, PACE_S seconds apart; creates STARTED_FILE after the first
# reply; prints the bytes sent and received
client() {
    timeout 60 "$PY" - "$@" <<'PYEOF'
import sys, time, zmq
ep, n, pace = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
started = sys.argv[4] if len(sys.argv) > 4 else None
ctx = zmq.Context()
s = ctx.socket(zmq.REQ)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.RCVTIMEO, 10000)
s.setsockopt(zmq.SNDTIMEO, 10000)
s.connect(ep)
sent = got = 0
for i in range(n):
    req = b"PING" if i % 10 == 0 else b"request-%d" % i
    want = b"PONG" if req == b"PING" else req
    s.send(req)
    rep = s.recv()
    if rep != want:
        sys.exit("reply %d: %r, expected %r" % (i, rep, want))
    sent += len(req)
    got += len(rep)
    if started and i == 0:
        open(started, "w").close()
    if pace:
        time.sleep(pace)
s.close()
ctx.term()
print(sent, got)
PYEOF
}

# --- traffic and parallel scrapes --------------------------------------
start main '*' 0 tcp://127.0.0.1:0
[ -n "$metrics" ] || fail "no metrics line"
base=${metrics%/metrics}
echo "test_czmq_loop: rep $rep_ep, metrics $metrics"

# a second instance on the same port: bind fails, exit 1
port=${rep_ep##*:}
expect 1 "cannot bind tcp://127.0.0.1:$port" "$B" "$port" 0 off

# the client paces itself (5 ms between requests) and the scrapes start
# once it has its first reply, so that they overlap its traffic; nothing
# below depends on how much they did
client "$rep_ep" "$N" 0.005 "$tmp/started" >"$tmp/client.out" 2>"$tmp/client.err" &
cpid=$!
pids+=("$cpid")
for _ in $(seq 1 600); do
    [ -e "$tmp/started" ] && break
    kill -0 "$cpid" 2>/dev/null || break
    sleep 0.05
done
[ -e "$tmp/started" ] || { cat "$tmp/client.err" >&2; fail "no first reply within 30 s"; }
# in waves of 8 at a time: the server holds 16 connections and a new one
# evicts the least useful when the table is full, so 50 at once would
# have some of them dropped by design (under the sanitizers, where each
# takes longer)
for i in $(seq 1 "$SCRAPES"); do
    curl -s --max-time 20 -o "$tmp/scrape.$i" -w '%{http_code}' "$metrics" >"$tmp/code.$i" 2>&1 &
    pids+=("$!")
    if [ $((i % 8)) -eq 0 ] || [ "$i" -eq "$SCRAPES" ]; then
        for _ in $(seq 1 $(((i - 1) % 8 + 1))); do
            wait "${pids[-1]}" || true # curl's own status: the HTTP code below says more
            unset 'pids[-1]'
        done
    fi
done
cstatus=0
wait "$cpid" || cstatus=$?
unset 'pids[-1]'
[ "$cstatus" -eq 0 ] || { cat "$tmp/client.err" >&2; fail "client exit $cstatus"; }
read -r bytes_sent bytes_got <"$tmp/client.out"

overlapped=0
for i in $(seq 1 "$SCRAPES"); do
    code=$(cat "$tmp/code.$i")
    [ "$code" = 200 ] || fail "scrape $i: HTTP '$code'"
    "$PY" tests/expose_check.py prom "$tmp/scrape.$i" >"$tmp/check.out" 2>&1 \
        || { cat "$tmp/check.out" >&2; fail "scrape $i: not valid Prometheus text"; }
    line=$(grep '^zmq_messages_received_total{socket="rep",type="REP"} ' "$tmp/scrape.$i") \
        || fail "scrape $i: no rep series"
    v=${line##* }
    [ "$v" -le "$N" ] || fail "scrape $i: $v received, more than $N"
    if [ "$v" -gt 0 ] && [ "$v" -lt "$N" ]; then overlapped=$((overlapped + 1)); fi
done
echo "test_czmq_loop: $SCRAPES parallel scrapes: all HTTP 200 and valid;" \
    "$overlapped of them taken mid-traffic"

code=$(curl -s --max-time 10 -o "$tmp/healthz" -w '%{http_code}' "$base/healthz") || true
[ "$code" = 200 ] || fail "/healthz: HTTP '$code'"
code=$(curl -s --max-time 10 -o "$tmp/readyz" -w '%{http_code}' "$base/readyz") || true
if [ "$code" = 200 ] && grep -Eq '^socket "rep": ready: listening 1, connections [0-9]+$' "$tmp/readyz"; then
    echo "test_czmq_loop: /readyz 200: $(tr '\n' ' ' <"$tmp/readyz")"
else
    cat "$tmp/readyz" >&2
    fail "/readyz: HTTP '$code'"
fi

curl -sf --max-time 10 "$metrics" >"$tmp/final.txt" || fail "final GET /metrics"
want() { # want SERIES VALUE: the exposition has exactly this sample
    grep -qxF "$1 $2" "$tmp/final.txt" || { grep -F "${1%%\{*}" "$tmp/final.txt" >&2; fail "expected '$1 $2'"; }
}
L='socket="rep",type="REP"'
want "zmq_messages_received_total{$L}" "$N"
want "zmq_messages_sent_total{$L}" "$N"
want "zmq_bytes_received_total{$L}" "$bytes_sent"
want "zmq_bytes_sent_total{$L}" "$bytes_got"
want "zmq_socket_events_total{$L,event=\"ACCEPTED\"}" 1
want "zmq_socket_events_total{$L,event=\"HANDSHAKE_SUCCEEDED\"}" 1
echo "test_czmq_loop: counts exact: $N requests, $N replies, $bytes_sent and $bytes_got bytes"

kill -TERM "$prog"
finish main
grep -qx "served $N requests" "$tmp/main.out" || { cat "$tmp/main.out" >&2; fail "summary line"; }
grep -q "^  received        $N msgs, $bytes_sent bytes" "$tmp/main.out" \
    || { cat "$tmp/main.out" >&2; fail "report"; }
echo "test_czmq_loop: SIGTERM: exit 0, served $N requests"

# --- MAX_REQUESTS: stops by itself -------------------------------------
start limit '*' 3 off
client "$rep_ep" 3 0 >"$tmp/client3.out" || fail "client of the limited run"
finish limit
grep -qx "served 3 requests" "$tmp/limit.out" || { cat "$tmp/limit.out" >&2; fail "limited run summary"; }
echo "test_czmq_loop: MAX_REQUESTS 3: exit 0 after 3"
echo "test_czmq_loop: PASS"
