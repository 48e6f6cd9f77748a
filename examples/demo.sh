#!/usr/bin/env bash
# demo.sh - the libzmqobs demo, run by `make demo` after `make examples`.
#
# Starts the broker example (ROUTER/DEALER proxy with worker threads) and
# the load client on loopback with free ports, checks the service with
# the healthcheck tool, fetches /healthz, /readyz and /metrics over HTTP
# while the load runs, prints a short summary and the exposition, then
# stops everything it started. Takes about 10 seconds.
#
# Environment: EXAMPLES (default build/examples), DEMO_SECONDS (default 4).
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES=${EXAMPLES:-build/examples}
SECONDS_OF_LOAD=${DEMO_SECONDS:-4}
PY=/usr/bin/python3
for tool in "$EXAMPLES/broker" "$EXAMPLES/load_client" "$EXAMPLES/healthcheck"; do
    [ -x "$tool" ] || { echo "demo: $tool is missing; run make examples" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "demo: curl is missing" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zmqobs-demo.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# waits (bounded) for a line "KEY value" in a file and prints the value
wait_for() {
    local key=$1 file=$2 i
    for i in $(seq 1 100); do
        if grep -q "^$key " "$file" 2>/dev/null; then
            awk -v k="$key" '$1 == k {print $2; exit}' "$file"
            return 0
        fi
        sleep 0.05
    done
    echo "demo: no '$key' line from $file:" >&2
    cat "$file" >&2
    return 1
}

echo "== starting the broker (4 workers, 1 ms of work per request)"
ZMQOBS_METRICS_ADDR=tcp://127.0.0.1:0 ZMQOBS_SERVICE=demo ZMQOBS_SAMPLE_EVERY=1 \
ZMQOBS_EVENT_LOG="$tmp/events.jsonl" \
    "$EXAMPLES/broker" -f 'tcp://127.0.0.1:*' -w 4 -t 1000 >"$tmp/broker.out" 2>&1 &
broker=$!
pids+=("$broker")
frontend=$(wait_for frontend "$tmp/broker.out")
metrics=$(wait_for metrics "$tmp/broker.out")
base=${metrics%/metrics}
echo "   frontend $frontend"
echo "   metrics  $metrics"

echo "== healthcheck (REQ: PING, expects PONG within 1000 ms)"
"$EXAMPLES/healthcheck" "$frontend" 1000

echo "== load: 4 clients for ${SECONDS_OF_LOAD}s, 200 requests/s each"
ZMQOBS_SAMPLE_EVERY=1 "$EXAMPLES/load_client" -c 4 -r 200 -d "$SECONDS_OF_LOAD" -H 2 \
    "$frontend" >"$tmp/client.out" 2>&1 &
client=$!
pids+=("$client")
sleep $((SECONDS_OF_LOAD - 1))

echo "== GET $base/healthz"
curl -sS -i --max-time 5 "$base/healthz" | tr -d '\r'
echo
echo "== GET $base/readyz"
curl -sS --max-time 5 "$base/readyz"
echo "== GET $metrics (Accept: text/plain)"
curl -sS --max-time 5 -D "$tmp/headers" -o "$tmp/metrics.txt" -H 'Accept: text/plain' "$metrics"
tr -d '\r' <"$tmp/headers" | grep -i '^content-type'

# A short, readable summary of the exposition (plain parsing, no libraries).
"$PY" - "$tmp/metrics.txt" <<'EOF'
import re, sys
samples = {}
line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
for line in open(sys.argv[1], encoding="utf-8"):
    m = line_re.match(line.rstrip("\n"))
    if not m:
        continue
    labels = dict(label_re.findall(m.group(3) or ""))
    samples.setdefault(m.group(1), []).append((labels, float(m.group(4))))

def total(name, **want):
    return sum(v for l, v in samples.get(name, [])
               if all(re.fullmatch(p, l.get(k, "")) for k, p in want.items()))

def p95(sock_re):
    buckets = {}
    for l, v in samples.get("zmq_message_latency_seconds_bucket", []):
        if re.fullmatch(sock_re, l.get("socket", "")):
            le = float("inf") if l["le"] == "+Inf" else float(l["le"])
            buckets[le] = buckets.get(le, 0) + v
    if not buckets or buckets[float("inf")] == 0:
        return None
    count, rank, prev_le, prev_c = buckets[float("inf")], 0.95 * buckets[float("inf")], 0.0, 0
    for le in sorted(buckets):
        if buckets[le] >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_c) / max(buckets[le] - prev_c, 1e-9)
        prev_le, prev_c = le, buckets[le]

print("== summary")
for sock in ("frontend", "backend"):
    print("   %-9s messages received %8d  sent %8d  connections now %d" % (
        sock, total("zmq_messages_received_total", socket=sock),
        total("zmq_messages_sent_total", socket=sock),
        total("zmq_connections", socket=sock)))
print("   workers   requests answered %d" % total("zmq_messages_sent_total", socket="worker-.*"))
p = p95("worker-.*")
print("   worker service time p95 (histogram, interpolated): %s" %
      ("%.2f ms" % (p * 1000) if p is not None else "no samples"))
print("   requests in flight (zmq_queue_depth, frontend): %d" % total("zmq_queue_depth", socket="frontend"))
print("   errors %d, handshake failures %d, reconnects %d" % (
    total("zmq_errors_total"), total("zmq_handshake_failures_total"),
    total("zmq_reconnects_total")))
EOF

wait "$client"
echo "== load client report"
cat "$tmp/client.out"
echo "== first monitor events (ZMQOBS_EVENT_LOG, JSON lines)"
head -n 3 "$tmp/events.jsonl" || true
echo "== exposition (text 0.0.4)"
cat "$tmp/metrics.txt"

kill -TERM "$broker"
status=0
wait "$broker" || status=$?
echo "== broker stopped (exit $status)"
tail -n +3 "$tmp/broker.out"
pids=()
[ "$status" -eq 0 ]
