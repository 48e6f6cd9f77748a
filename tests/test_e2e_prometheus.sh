#!/usr/bin/env bash
# test_e2e_prometheus.sh - end to end against a real Prometheus server.
#
# Runs the broker example (metrics on a free port) and a deterministic
# load client, lets /usr/bin/prometheus (loopback, temporary config and
# data directory, 1 s scrape interval) scrape it, then asserts through the
# Prometheus HTTP API that the stored values match what the processes
# did: message parts, connections, the latency histogram (every bucket as
# the process reports it, and a histogram_quantile in the right bucket),
# and finally the broker's own totals. A second phase provokes
# undeliverable replies and a failed handshake so that every panel of
# the Grafana dashboard has data; every panel query must then return a
# non-empty result, and every alert rule must evaluate.
#
# Bounded (about 30 s, every wait has a limit); kills what it started and
# removes its files on any exit.
set -euo pipefail
cd "$(dirname "$0")/.."
OBJDIR=${OBJDIR:-build}
LIBOUT=${LIBOUT:-lib}
CC=${CC:-cc}
SAN=${SAN:-}
PY=/usr/bin/python3
PROM=/usr/bin/prometheus

fail() { echo "test_e2e_prometheus: FAIL: $*" >&2; exit 1; }
[ -x "$PROM" ] || fail "$PROM missing (Debian package prometheus)"
command -v curl >/dev/null || fail "curl missing"
[ -f "$LIBOUT/libzmqobs.a" ] || fail "$LIBOUT/libzmqobs.a missing: build the library first"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zmqobs-e2e.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The examples, built against the library under test (same sanitizers).
bin="$OBJDIR/e2e"
mkdir -p "$bin"
zmq_flags=$(pkg-config --cflags --libs libzmq 2>/dev/null || echo -lzmq)
for ex in broker load_client healthcheck; do
    # shellcheck disable=SC2086
    $CC -std=c11 -D_GNU_SOURCE -O1 -g -Iinclude $SAN -o "$bin/$ex" "examples/$ex.c" \
        "$LIBOUT/libzmqobs.a" $zmq_flags -lpthread -lm \
        || fail "cannot build examples/$ex.c"
done

# libzmq is not built with ThreadSanitizer: its lock-free queues show up
# as races between its I/O thread and the socket's thread. Suppress
# reports inside libzmq only; races in libzmqobs and the examples still
# fail the run.
printf 'race:libzmq.so\ncalled_from_lib:libzmq.so\n' >"$tmp/tsan.supp"
export TSAN_OPTIONS="suppressions=$tmp/tsan.supp ${TSAN_OPTIONS:-}"

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_line() { # KEY FILE: prints the value of the first "KEY value" line
    for _ in $(seq 1 200); do
        if grep -q "^$1 " "$2" 2>/dev/null; then
            awk -v k="$1" '$1 == k {print $2; exit}' "$2"; return 0
        fi
        sleep 0.05
    done
    cat "$2" >&2; fail "no '$1' line in $2"
}

# --- the observed service ------------------------------------------------
ZMQOBS_METRICS_ADDR=tcp://127.0.0.1:0 ZMQOBS_SAMPLE_EVERY=1 ZMQOBS_SERVICE=e2e \
    "$bin/broker" -f 'tcp://127.0.0.1:*' -w 2 -t 6000 >"$tmp/broker.out" 2>"$tmp/broker.err" &
broker=$!
pids+=("$broker")
frontend=$(wait_line frontend "$tmp/broker.out")
metrics=$(wait_line metrics "$tmp/broker.out")
target=${metrics#http://}
target=${target%/metrics}
curl -sf --max-time 5 "http://$target/healthz" >/dev/null || fail "broker /healthz"

# --- Prometheus ------------------------------------------------------------
pport=$(free_port)
cp examples/deploy/alerts.yml "$tmp/alerts.yml"
cat >"$tmp/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - alerts.yml
scrape_configs:
  - job_name: zmqobs-e2e
    static_configs:
      - targets: ["$target"]
YML
"$PROM" --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
    --web.listen-address="127.0.0.1:$pport" --log.level=warn >"$tmp/prom.log" 2>&1 &
pids+=("$!")
api="http://127.0.0.1:$pport"
for i in $(seq 1 100); do
    curl -sf --max-time 1 "$api/-/ready" >/dev/null 2>&1 && break
    [ "$i" -eq 100 ] && { cat "$tmp/prom.log" >&2; fail "prometheus not ready"; }
    sleep 0.2
done

# q EXPR: prints the sum of an instant query's samples, EMPTY for no
# samples; exits non-zero on an API error.
cat >"$tmp/q.py" <<'PYEOF'
import json, sys, urllib.parse, urllib.request
api, expr = sys.argv[1], sys.argv[2]
url = api + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
try:
    body = json.load(urllib.request.urlopen(url, timeout=5))
except Exception as e:
    print("API error for %s: %s" % (expr, e), file=sys.stderr)
    sys.exit(2)
if body.get("status") != "success":
    print("query failed: %s: %s" % (expr, body), file=sys.stderr)
    sys.exit(2)
res = body["data"]["result"]
if body["data"]["resultType"] == "scalar":
    res = [{"value": res}]
if not res:
    print("EMPTY")
else:
    print(repr(sum(float(r["value"][1]) for r in res)))
PYEOF
q() { "$PY" "$tmp/q.py" "$api" "$1"; }

# wait_eq EXPR VALUE: until the query returns exactly VALUE (20 s at most)
wait_eq() {
    local v
    for _ in $(seq 1 100); do
        v=$(q "$1") || fail "query $1"
        if [ "$v" != EMPTY ] && "$PY" -c "import sys; sys.exit(0 if float('$v') == float('$2') else 1)"; then
            echo "   $1 = $2"; return 0
        fi
        sleep 0.2
    done
    fail "$1: expected $2, last value $v"
}
wait_nonempty() { # EXPR: until the query has samples (20 s at most)
    local v
    for _ in $(seq 1 100); do
        v=$(q "$1") || fail "query $1"
        [ "$v" != EMPTY ] && { echo "$v"; return 0; }
        sleep 0.2
    done
    fail "no samples for $1"
}

echo "test_e2e_prometheus: prometheus on $api scraping $target"
wait_eq 'up{job="zmqobs-e2e"}' 1

# --- phase 1: exact traffic ---------------------------------------------
"$bin/healthcheck" "$frontend" 5000 >/dev/null || fail "healthcheck of a live broker"
if "$bin/healthcheck" tcp://127.0.0.1:1 200 2>/dev/null; then fail "healthcheck of nothing passed"; fi

K=150 C=2
ZMQOBS_SAMPLE_EVERY=1 "$bin/load_client" -c $C -n $K -H 10 "$frontend" >"$tmp/client.out" 2>&1 &
client=$!
pids+=("$client")
wait_eq 'zmq_connections{socket="frontend"}' $C
wait "$client" || { cat "$tmp/client.out" >&2; fail "load client failed"; }
total=$(grep '^TOTAL ' "$tmp/client.out")
echo "   client: $total"
replies=$(sed -n 's/.* replies=\([0-9]*\).*/\1/p' <<<"$total")
[ "$replies" -eq $((K * C)) ] || fail "client got $replies replies, expected $((K * C))"
requests=$((replies + 1)) # and the healthcheck's PING
# ROUTER parts per request: identity, empty delimiter, body
wait_eq 'zmq_messages_received_total{socket="frontend"}' $((3 * requests))
wait_eq 'zmq_messages_sent_total{socket="frontend"}' $((3 * requests))
wait_eq 'sum(zmq_messages_received_total{socket=~"worker-.*"})' $requests
wait_eq 'sum(zmq_message_latency_seconds_count{socket=~"worker-.*"})' $requests
wait_eq 'zmq_connections{socket="frontend"}' 0
wait_eq 'max_over_time(zmq_connections{socket="frontend"}[5m])' $C
wait_eq 'zmq_queue_depth{socket="frontend"}' 0
# The latency histogram: Prometheus must hold exactly the process's
# bucket counts, and its p95 must fall in the bucket where the process's
# own cumulative count crosses 95%. Every request sleeps at least 6 ms
# (sleeps never end early), so that bucket starts at 5 ms or above; how
# far above depends on the machine's load, so no upper bound is assumed.
curl -sf --max-time 5 "$metrics" >"$tmp/direct.txt" || fail "GET $metrics"
"$PY" - "$tmp/direct.txt" "$api" <<'PYEOF' || fail "latency histogram"
import json, re, sys, urllib.parse, urllib.request
own = {}
for line in open(sys.argv[1]):
    m = re.match(r'zmq_message_latency_seconds_bucket\{socket="worker-\d+",.*le="([^"]+)"\} (\S+)$', line)
    if m:
        le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
        own[le] = own.get(le, 0) + float(m.group(2))
def query(expr):
    url = sys.argv[2] + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    return json.load(urllib.request.urlopen(url, timeout=5))["data"]["result"]
stored = {}
for r in query('sum by (le) (zmq_message_latency_seconds_bucket{socket=~"worker-.*"})'):
    le = r["metric"]["le"]
    stored[float("inf") if le == "+Inf" else float(le)] = float(r["value"][1])
if stored != own:
    sys.exit("stored buckets %s differ from the process's %s" % (stored, own))
total = own[float("inf")]
les = sorted(own)
i = next(k for k, le in enumerate(les) if own[le] >= 0.95 * total)
lo, hi = (les[i - 1] if i else 0.0), les[i]
p95 = float(query('histogram_quantile(0.95, sum by (le) (zmq_message_latency_seconds_bucket{socket=~"worker-.*"}))')[0]["value"][1])
if not (lo < p95 <= hi) or lo < 0.005:
    sys.exit("p95 %r not in the process's bucket (%r, %r], or below the 6 ms of work" % (p95, lo, hi))
print("   worker latency: %d samples, buckets identical to the process's; p95 = %.4f s in (%g, %g]"
      % (total, p95, lo, hi))
PYEOF
wait_eq 'count(zmq_connections{service="e2e"})' 4 # frontend, backend, two workers

# --- phase 2: errors and a failed handshake, for the dashboard ---------
# 1 ms timeout against 6 ms of work: every reply finds its client gone
"$bin/load_client" -c 1 -n 20 -T 1 "$frontend" >"$tmp/bad.out" 2>&1 \
    && fail "a client with a 1 ms timeout reported success"
port=${frontend##*:}
"$PY" - "$port" <<'PYEOF'
import socket, sys
# a ZMTP 3.0 greeting with a mechanism nobody speaks
g = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"GARBAGE".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(g)
try:
    s.recv(4096)
    s.recv(4096)
except OSError:
    pass
s.close()
PYEOF
wait_nonempty 'zmq_errors_total{socket="frontend",op="send",error="EHOSTUNREACH"}' >/dev/null
wait_nonempty 'zmq_handshake_failures_total{socket="frontend"}' >/dev/null
echo "   errors and handshake failures recorded"

# --- every dashboard panel query returns data ----------------------------
"$PY" - examples/deploy/grafana-dashboard.json >"$tmp/panels.txt" <<'PYEOF'
import json, sys
for p in json.load(open(sys.argv[1]))["panels"]:
    for t in p["targets"]:
        e = t["expr"].replace("$instance", ".*").replace("$service", ".*").replace("$__rate_interval", "1m")
        print(p["title"] + "\t" + e)
PYEOF
n=0
while IFS=$'\t' read -r title expr; do
    wait_nonempty "$expr" >/dev/null || fail "panel '$title' has no data"
    n=$((n + 1))
done <"$tmp/panels.txt"
echo "   all $n dashboard queries return data"

# --- every alert rule evaluates, and Prometheus loaded them all ---------
"$PY" - "$api" <<'PYEOF' || fail "alert rules"
import json, sys, urllib.request
body = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/rules", timeout=5))
rules = [r for g in body["data"]["groups"] for r in g["rules"]]
bad = [r["name"] for r in rules if r.get("health") not in ("ok", "unknown")]
if len(rules) < 6 or bad:
    sys.exit("rules loaded %d, unhealthy: %s" % (len(rules), bad))
print("   %d alert rules loaded and healthy" % len(rules))
PYEOF

# --- the broker's own totals match what Prometheus stored ----------------
# idle now: the process's own counter, then the same value in Prometheus
own_in=$(curl -sf --max-time 5 "$metrics" | awk '/^zmq_messages_received_total\{socket="frontend",/ {print $2}')
[ -n "$own_in" ] || fail "no frontend counter in the process's own /metrics"
wait_eq 'zmq_messages_received_total{socket="frontend"}' "$own_in"
stored_in=$(q 'zmq_messages_received_total{socket="frontend"}')
# every client is on 127.0.0.1: the broker's per-peer series by address
# holds every frontend part
wait_eq 'zmq_peer_messages_received_total{socket="frontend",peer="127.0.0.1"}' "$own_in"
echo "   per-peer: zmq_peer_messages_received_total{peer=\"127.0.0.1\"} = $own_in"
kill -TERM "$broker"
status=0
wait "$broker" || status=$?
[ "$status" -eq 0 ] || { cat "$tmp/broker.err" >&2; fail "broker exit status $status"; }
line=$(grep '^broker: forwarded' "$tmp/broker.out")
forwarded=$(sed -n 's/^broker: forwarded \([0-9]*\) request parts.*/\1/p' <<<"$line")
"$PY" -c "import sys; sys.exit(0 if float('$stored_in') == $forwarded else 1)" \
    || fail "broker forwarded $forwarded request parts, Prometheus stored $stored_in frontend parts"
echo "   $line; Prometheus: $stored_in frontend parts"
echo "test_e2e_prometheus: PASS"
