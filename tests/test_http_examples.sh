#!/usr/bin/env bash
# test_http_examples.sh - the examples' command lines and environment
# configuration (zmqobs_options_from_env, zmqobs_serve_from_env), and the
# healthcheck tool:
#   - every malformed ZMQOBS_* value or option: exit 2 and a message that
#     names it; runtime failures: exit 1;
#   - ZMQOBS_SERVICE, ZMQOBS_SAMPLE_EVERY and ZMQOBS_EVENT_LOG take effect;
#   - healthcheck: 0 for PONG in time, 1 for no server, a wrong answer, a
#     timeout or bad arguments;
#   - the broker stops cleanly (exit 0) on SIGTERM, also while clients
#     are sending.
# Bounded (every wait has a limit); kills what it started, removes its files.
set -euo pipefail
cd "$(dirname "$0")/.."
OBJDIR=${OBJDIR:-build}
LIBOUT=${LIBOUT:-lib}
CC=${CC:-cc}
SAN=${SAN:-}
PY=/usr/bin/python3

fail() { echo "test_http_examples: FAIL: $*" >&2; exit 1; }
[ -f "$LIBOUT/libzmqobs.a" ] || fail "$LIBOUT/libzmqobs.a missing"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zmqobs-ex.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
printf 'race:libzmq.so\ncalled_from_lib:libzmq.so\n' >"$tmp/tsan.supp"
export TSAN_OPTIONS="suppressions=$tmp/tsan.supp ${TSAN_OPTIONS:-}"

bin="$OBJDIR/examples-test"
mkdir -p "$bin"
zmq_flags=$(pkg-config --cflags --libs libzmq 2>/dev/null || echo -lzmq)
for ex in broker load_client healthcheck; do
    # shellcheck disable=SC2086
    $CC -std=c11 -D_GNU_SOURCE -O1 -g -Iinclude $SAN -o "$bin/$ex" "examples/$ex.c" \
        "$LIBOUT/libzmqobs.a" $zmq_flags -lpthread -lm || fail "cannot build examples/$ex.c"
done

# expect STATUS PATTERN CMD...: runs CMD (3 s at most), checks its exit
# status and that stderr matches PATTERN
expect() {
    local want=$1 pat=$2 got=0
    shift 2
    timeout 10 "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
    [ "$got" -eq "$want" ] || { cat "$tmp/err" >&2; fail "$*: exit $got, expected $want"; }
    grep -q -- "$pat" "$tmp/err" || { cat "$tmp/err" >&2; fail "$*: no '$pat' on stderr"; }
}

B="$bin/broker"
ep='tcp://127.0.0.1:*'
expect 2 "ZMQOBS_SAMPLE_EVERY: empty" env ZMQOBS_SAMPLE_EVERY= "$B" -f "$ep" -d 1
expect 2 "ZMQOBS_SAMPLE_EVERY: '12x'" env ZMQOBS_SAMPLE_EVERY=12x "$B" -f "$ep" -d 1
expect 2 "ZMQOBS_SAMPLE_EVERY: ' 5'" env "ZMQOBS_SAMPLE_EVERY= 5" "$B" -f "$ep" -d 1
expect 2 "ZMQOBS_SAMPLE_EVERY: '-1'" env ZMQOBS_SAMPLE_EVERY=-1 "$B" -f "$ep" -d 1
expect 2 "too large" env ZMQOBS_SAMPLE_EVERY=99999999999999999999999 "$B" -f "$ep" -d 1
expect 2 "out of range" env ZMQOBS_SAMPLE_EVERY=0 "$B" -f "$ep" -d 1
expect 2 "ZMQOBS_SAMPLE_EVERY" env ZMQOBS_SAMPLE_EVERY=OFF "$B" -f "$ep" -d 1
expect 2 "ZMQOBS_METRICS_ADDR: 'http://x'" env ZMQOBS_METRICS_ADDR=http://x "$B" -f "$ep" -d 1
expect 2 "ZMQOBS_METRICS_ADDR: 'tcp://127.0.0.1:65536'" env ZMQOBS_METRICS_ADDR=tcp://127.0.0.1:65536 "$B" -f "$ep" -d 1
expect 2 "ZMQOBS_METRICS_ADDR: 'tcp://127.0.0.1:80x'" env ZMQOBS_METRICS_ADDR=tcp://127.0.0.1:80x "$B" -f "$ep" -d 1
expect 2 "ZMQOBS_METRICS_ADDR: 'tcp://example.com:80'" env ZMQOBS_METRICS_ADDR=tcp://example.com:80 "$B" -f "$ep" -d 1
expect 2 "ZMQOBS_METRICS_ADDR" env ZMQOBS_METRICS_ADDR= "$B" -f "$ep" -d 1
expect 2 "ZMQOBS_SERVICE" env ZMQOBS_SERVICE= "$B" -f "$ep" -d 1
expect 2 "ZMQOBS_SERVICE" env "ZMQOBS_SERVICE=$(printf 'a\tb')" "$B" -f "$ep" -d 1
expect 2 "ZMQOBS_SERVICE" env "ZMQOBS_SERVICE=$(printf 'bad\xff')" "$B" -f "$ep" -d 1
expect 2 "ZMQOBS_EVENT_LOG" env ZMQOBS_EVENT_LOG= "$B" -f "$ep" -d 1
expect 2 "^-w:" "$B" -w 0
expect 2 "^-t:" "$B" -t 1ms
expect 2 "usage" "$B" extra
expect 2 "^-n:" "$bin/load_client" -n 0 tcp://127.0.0.1:1
expect 2 "usage" "$bin/load_client" -n 5 -d 5 tcp://127.0.0.1:1
expect 2 "usage" "$bin/load_client"
# runtime failures are 1
expect 1 "cannot open" env ZMQOBS_METRICS_ADDR=off ZMQOBS_EVENT_LOG="$tmp/no/such/dir/log" "$B" -f "$ep" -d 1
expect 1 "bind tcp://192.0.2.1:5555" env ZMQOBS_METRICS_ADDR=off "$B" -f tcp://192.0.2.1:5555 -d 1
echo "test_http_examples: strict configuration errors OK"

# --- a configured broker -------------------------------------------------
ZMQOBS_METRICS_ADDR=tcp://127.0.0.1:0 ZMQOBS_SERVICE='svc "q"' ZMQOBS_SAMPLE_EVERY=off \
ZMQOBS_EVENT_LOG="$tmp/events.jsonl" \
    "$B" -f "$ep" -w 2 -t 0 >"$tmp/broker.out" 2>"$tmp/broker.err" &
broker=$!
pids+=("$broker")
for _ in $(seq 1 100); do grep -q '^frontend ' "$tmp/broker.out" && break; sleep 0.05; done
frontend=$(awk '$1 == "frontend" {print $2}' "$tmp/broker.out")
metrics=$(awk '$1 == "metrics" {print $2}' "$tmp/broker.out")
[ -n "$frontend" ] && [ -n "$metrics" ] || { cat "$tmp/broker.out" "$tmp/broker.err" >&2; fail "broker did not start"; }

"$bin/healthcheck" "$frontend" 3000 >"$tmp/hc.out" || fail "healthcheck of a live broker"
[ "$(cat "$tmp/hc.out")" = "Healthy" ] || fail "healthcheck output: $(cat "$tmp/hc.out")"
"$bin/load_client" -c 2 -n 50 "$frontend" >"$tmp/client.out" || fail "load client"
grep -q '^TOTAL clients=2 requests=100 replies=100 timeouts=0 errors=0 ' "$tmp/client.out" \
    || { cat "$tmp/client.out" >&2; fail "load client totals"; }
curl -sf --max-time 5 "$metrics" >"$tmp/metrics.txt" || fail "GET /metrics"
grep -q '^zmq_messages_received_total{socket="frontend",type="ROUTER",service="svc \\"q\\""} 303$' \
    "$tmp/metrics.txt" || { grep frontend "$tmp/metrics.txt" >&2; fail "service label or counts"; }
# sampling off: no latency recorded by the workers
grep -q '^zmq_message_latency_seconds_count{socket="worker-0",type="REP",service="svc \\"q\\""} 0$' \
    "$tmp/metrics.txt" || fail "ZMQOBS_SAMPLE_EVERY=off did not switch timing off"
# the event log: JSON lines, one of them the frontend's LISTENING
"$PY" - "$tmp/events.jsonl" <<'PYEOF' || fail "event log"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
assert any(e["socket"] == "frontend" and e["event"] == "LISTENING" for e in events), events
assert any(e["event"] == "HANDSHAKE_SUCCEEDED" for e in events), events
PYEOF

# healthcheck failures: wrong answer, timeout, nothing there, bad usage
"$PY" - >"$tmp/rep.out" 2>&1 <<'PYEOF' &
import zmq
ctx = zmq.Context()
wrong = ctx.socket(zmq.REP); wp = wrong.bind_to_random_port("tcp://127.0.0.1")
mute = ctx.socket(zmq.REP); mp = mute.bind_to_random_port("tcp://127.0.0.1")
print(wp, mp, flush=True)
if wrong.poll(10000):
    wrong.recv(); wrong.send(b"NOPE")
mute.poll(10000)  # receives, never answers
PYEOF
pids+=("$!")
for _ in $(seq 1 600); do [ -s "$tmp/rep.out" ] && break; sleep 0.05; done
[ -s "$tmp/rep.out" ] || fail "the python3 peers did not start within 30 s"
read -r wp mp <"$tmp/rep.out"
expect 1 "unexpected reply" "$bin/healthcheck" "tcp://127.0.0.1:$wp" 3000
expect 1 "no reply in time" "$bin/healthcheck" "tcp://127.0.0.1:$mp" 2000
expect 1 "timed out sending" "$bin/healthcheck" tcp://127.0.0.1:1 300
expect 1 "usage" "$bin/healthcheck"
expect 1 "TIMEOUT_MS" "$bin/healthcheck" "$frontend" 0
expect 1 "TIMEOUT_MS" "$bin/healthcheck" "$frontend" 10s
expect 1 "connect" "$bin/healthcheck" "bogus://x" 100
echo "test_http_examples: healthcheck exit codes OK"

kill -TERM "$broker"
status=0
wait "$broker" || status=$?
pids=()
[ "$status" -eq 0 ] || { cat "$tmp/broker.err" >&2; fail "broker exit $status after SIGTERM"; }
grep -q '^broker: forwarded 303 request parts and 303 reply parts; 0 replies undeliverable$' "$tmp/broker.out" \
    || { cat "$tmp/broker.out" >&2; fail "broker totals"; }

# --- SIGTERM while clients are sending: the broker still stops, exit 0 ----
# (its workers wait for the proxy to end: a worker gone first left the
# proxy blocked in a send to a backend with no peer)
"$B" -f "$ep" -w 2 -t 2000 >"$tmp/busy.out" 2>"$tmp/busy.err" &
busy=$!
pids+=("$busy")
for _ in $(seq 1 100); do grep -q '^frontend ' "$tmp/busy.out" && break; sleep 0.05; done
busy_fe=$(awk '$1 == "frontend" {print $2}' "$tmp/busy.out")
[ -n "$busy_fe" ] || { cat "$tmp/busy.err" >&2; fail "busy broker did not start"; }
"$bin/load_client" -c 4 -r 500 -d 5 "$busy_fe" >/dev/null 2>&1 &
client=$!
pids+=("$client")
sleep 1
kill -TERM "$busy"
for _ in $(seq 1 100); do kill -0 "$busy" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$busy" 2>/dev/null; then
    kill -KILL "$busy"
    fail "broker still running 10 s after SIGTERM under load"
fi
status=0
wait "$busy" || status=$?
[ "$status" -eq 0 ] || { cat "$tmp/busy.err" >&2; fail "busy broker exit $status after SIGTERM"; }
kill "$client" 2>/dev/null || true
wait "$client" 2>/dev/null || true
pids=()
echo "test_http_examples: SIGTERM under load: exit 0"
echo "test_http_examples: PASS"
