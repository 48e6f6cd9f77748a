#!/usr/bin/env bash
# test_proto_e2e.sh - the protobuf exposition end to end.
#
# 1. An independent decode: tests/proto/native_host.c (an observer with
#    native histograms, 2000 fixed latencies on a socket with a hostile
#    name, application metrics of every kind) writes its text 0.0.4 and
#    protobuf expositions; tests/proto/proto_check.py compiles Debian's
#    metrics.proto with protoc, decodes the protobuf with python3-protobuf
#    and checks it against the text, value for value, and the native
#    buckets against a recomputation with exact integer arithmetic, at
#    the default schema and at schemas 0 and -2.
# 2. A real Prometheus 2.42 (--enable-feature=native-histograms, loopback,
#    free ports, temporary storage) scrapes the host over protobuf:
#    histogram_count and histogram_sum must equal the recorded samples
#    exactly, histogram_quantile(0.95) must lie within one bucket width
#    (2^(1/8)) of the exact p95 of the same samples, and the classic
#    _bucket series must be absent (Prometheus keeps the native part).
#
# Bounded (every wait has a limit); kills what it started and removes
# its files on any exit.
set -euo pipefail
cd "$(dirname "$0")/.."
OBJDIR=${OBJDIR:-build}
LIBOUT=${LIBOUT:-lib}
CC=${CC:-cc}
SAN=${SAN:-}
PY=/usr/bin/python3
PROM=/usr/bin/prometheus
PROTO=/usr/share/gocode/src/github.com/prometheus/client_model/io/prometheus/client/metrics.proto

fail() { echo "test_proto_e2e: FAIL: $*" >&2; exit 1; }
[ -x "$PROM" ] || fail "$PROM missing (Debian package prometheus)"
[ -f "$PROTO" ] || fail "$PROTO missing (golang-github-prometheus-client-model-dev)"
command -v protoc >/dev/null || fail "protoc missing (protobuf-compiler)"
[ -f /usr/include/google/protobuf/timestamp.proto ] || fail "timestamp.proto missing (libprotobuf-dev)"
"$PY" -c 'import google.protobuf' || fail "python3-protobuf missing"
[ -f "$LIBOUT/libzmqobs.a" ] || fail "$LIBOUT/libzmqobs.a missing: build the library first"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zmqobs-proto.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

host="$tmp/native_host"
zmq_flags=$(pkg-config --cflags --libs libzmq 2>/dev/null || echo -lzmq)
# shellcheck disable=SC2086
$CC -std=c11 -D_GNU_SOURCE -O1 -g -Iinclude $SAN -o "$host" tests/proto/native_host.c \
    "$LIBOUT/libzmqobs.a" $zmq_flags -lpthread -lm || fail "cannot build native_host"
# Under TEST_WRAP (valgrind) the host runs under it too.
wrap=${TEST_WRAP:-}

# --- 1. independent decode ------------------------------------------------
for schema in 3 ZERO -2; do
    mkdir -p "$tmp/d$schema"
    env_schema=$schema expect=$schema
    [ "$schema" = ZERO ] && { env_schema=-128; expect=0; }
    # shellcheck disable=SC2086
    NATIVE_SCHEMA=$env_schema $wrap "$host" dump "$tmp/d$schema" >"$tmp/d$schema/out" \
        || fail "native_host dump (schema $schema)"
    "$PY" tests/proto/proto_check.py "$PROTO" "$tmp/d$schema/metrics.pb" \
        "$tmp/d$schema/metrics.prom" "$tmp/d$schema/samples.txt" "$expect" \
        || fail "independent decode (schema $schema)"
done

# --- 2. Prometheus scrapes it over protobuf ---------------------------------
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mkfifo "$tmp/stdin"
# shellcheck disable=SC2086
$wrap "$host" serve <"$tmp/stdin" >"$tmp/host.out" 2>"$tmp/host.err" &
pids+=("$!")
exec 9>"$tmp/stdin" # held open: the host serves until it closes
for _ in $(seq 1 200); do grep -q '^p95_ns ' "$tmp/host.out" 2>/dev/null && break; sleep 0.05; done
grep -q '^p95_ns ' "$tmp/host.out" || { cat "$tmp/host.err" >&2; fail "host did not start"; }
port=$(awk '$1 == "port" {print $2}' "$tmp/host.out")
count=$(awk '$1 == "count" {print $2}' "$tmp/host.out")
sum_ns=$(awk '$1 == "sum_ns" {print $2}' "$tmp/host.out")
p95_ns=$(awk '$1 == "p95_ns" {print $2}' "$tmp/host.out")

pport=$(free_port)
cat >"$tmp/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: zmqobs-proto
    static_configs:
      - targets: ["127.0.0.1:$port"]
YML
"$PROM" --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
    --web.listen-address="127.0.0.1:$pport" --enable-feature=native-histograms,exemplar-storage \
    --log.level=warn >"$tmp/prom.log" 2>&1 &
pids+=("$!")
api="http://127.0.0.1:$pport"
for i in $(seq 1 150); do
    curl -sf --max-time 1 "$api/-/ready" >/dev/null 2>&1 && break
    [ "$i" -eq 150 ] && { cat "$tmp/prom.log" >&2; fail "prometheus not ready"; }
    sleep 0.2
done
echo "test_proto_e2e: prometheus on $api scraping 127.0.0.1:$port"

"$PY" - "$api" "$count" "$sum_ns" "$p95_ns" <<'PYEOF' || fail "Prometheus over protobuf"
import json, sys, time, urllib.parse, urllib.request
api, count, sum_ns, p95_ns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sel = 'zmq_message_latency_seconds{socket="lat\\\\ency \\"x\\""}'

def query(expr):
    url = api + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    body = json.load(urllib.request.urlopen(url, timeout=5))
    if body["status"] != "success":
        sys.exit("query %s: %s" % (expr, body))
    return body["data"]["result"]

def value(expr):
    deadline = time.time() + 30
    while time.time() < deadline:
        r = query(expr)
        if r:
            if len(r) != 1:
                sys.exit("%s: %d series" % (expr, len(r)))
            return float(r[0]["value"][1])
        time.sleep(0.2)
    sys.exit("no samples for %s (was the scrape protobuf?)" % expr)

n = value("histogram_count(%s)" % sel)
if n != count:
    sys.exit("histogram_count %r, recorded %d" % (n, count))
s = value("histogram_sum(%s)" % sel)
if s != sum_ns / 1e9:
    sys.exit("histogram_sum %r, recorded %r" % (s, sum_ns / 1e9))
q = value("histogram_quantile(0.95, %s)" % sel)
exact = p95_ns / 1e9
width = 2 ** (1 / 8)
if not exact / width <= q <= exact * width:
    sys.exit("histogram_quantile(0.95) %r not within %.4f of the exact p95 %r" % (q, width, exact))
if query('zmq_message_latency_seconds_bucket'):
    sys.exit("classic _bucket series stored beside the native histogram")
for expr, want in (('jobs_total{queue="mail"}', 42.0), ("temperature", -3.25),
                   ('zmq_messages_sent_total{socket="lat\\\\ency \\"x\\""}', 0.0)):
    v = value(expr)
    if v != want:
        sys.exit("%s = %r, expected %r" % (expr, v, want))
# the application histogram has no native part: classic series
if value('sizes_bucket{le="+Inf"}') != 3.0:
    sys.exit("application histogram")
print("   native histogram: count %d, sum %r, p95 %r (exact %r, ratio %.4f)"
      % (n, s, q, exact, q / exact))
PYEOF
exec 9>&-
echo "test_proto_e2e: PASS"
