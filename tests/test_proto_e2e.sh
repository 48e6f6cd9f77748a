#!/usr/bin/env bash
# test_proto_e2e.sh - the protobuf exposition end to end.
#
# 1. An independent decode: tests/proto/native_host.c (an observer with
#    native histograms, 2000 fixed latencies on a socket with a hostile
#    name, 20 of them with exemplars, application metrics of every kind)
#    writes its text 0.0.4, OpenMetrics and protobuf expositions;
#    tests/proto/proto_check.py compiles Debian's metrics.proto with
#    protoc, decodes the protobuf with python3-protobuf and checks it
#    against the text, value for value, the native buckets against a
#    recomputation with exact integer arithmetic, at the default schema
#    and at schemas 0 and -2, and the exemplars against the OpenMetrics
#    exposition and the samples.
# 2. A real Prometheus 2.42 (--enable-feature=native-histograms, loopback,
#    free ports, temporary storage) scrapes the host over protobuf:
#    histogram_count and histogram_sum must equal the recorded samples
#    exactly, histogram_quantile(0.95) must lie within one bucket width
#    (2^(1/8)) of the exact p95 of the same samples, the classic _bucket
#    series must be absent (Prometheus keeps the native part). A second
#    host, the same without native histograms, is scraped over protobuf
#    too (classic buckets): /api/v1/query_exemplars must return exactly
#    the exemplars its OpenMetrics exposition shows, one per bucket
#    (--enable-feature=exemplar-storage). Of a native histogram,
#    Prometheus 2.42 stores one exemplar per scrape, the first bucket's:
#    for the first host it must return that one.
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
    om=()
    [ "$schema" = 3 ] && om=("$tmp/d$schema/metrics.om")
    "$PY" tests/proto/proto_check.py "$PROTO" "$tmp/d$schema/metrics.pb" \
        "$tmp/d$schema/metrics.prom" "$tmp/d$schema/samples.txt" "$expect" "${om[@]}" \
        || fail "independent decode (schema $schema)"
done

# --- 2. Prometheus scrapes it over protobuf ---------------------------------
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mkfifo "$tmp/stdin"
# shellcheck disable=SC2086
$wrap "$host" serve <"$tmp/stdin" >"$tmp/host.out" 2>"$tmp/host.err" &
pids+=("$!")
# shellcheck disable=SC2086
NATIVE_HISTOGRAMS=0 $wrap "$host" serve <"$tmp/stdin" >"$tmp/classic.out" 2>"$tmp/classic.err" &
pids+=("$!")
exec 9>"$tmp/stdin" # held open: the hosts serve until it closes
for out in host classic; do
    for _ in $(seq 1 200); do grep -q '^p95_ns ' "$tmp/$out.out" 2>/dev/null && break; sleep 0.05; done
    grep -q '^p95_ns ' "$tmp/$out.out" || { cat "$tmp/$out.err" >&2; fail "$out host did not start"; }
done
port=$(awk '$1 == "port" {print $2}' "$tmp/host.out")
cport=$(awk '$1 == "port" {print $2}' "$tmp/classic.out")
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
  - job_name: zmqobs-classic
    static_configs:
      - targets: ["127.0.0.1:$cport"]
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

for p in "$port" "$cport"; do
    curl -sf --max-time 5 -H 'Accept: application/openmetrics-text; version=1.0.0' \
        "http://127.0.0.1:$p/metrics" >"$tmp/om.$p" || fail "GET /metrics (OpenMetrics)"
done
"$PY" - "$api" "$count" "$sum_ns" "$p95_ns" "$tmp/om.$port" "$tmp/om.$cport" <<'PYEOF' || fail "Prometheus over protobuf"
import json, sys, time, urllib.parse, urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families
api, count, sum_ns, p95_ns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sel = 'zmq_message_latency_seconds{job="zmqobs-proto",socket="lat\\\\ency \\"x\\""}'

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
if query('zmq_message_latency_seconds_bucket{job="zmqobs-proto"}'):
    sys.exit("classic _bucket series stored beside the native histogram")
for expr, want in (('jobs_total{job="zmqobs-proto",queue="mail"}', 42.0),
                   ('temperature{job="zmqobs-proto"}', -3.25),
                   ('zmq_messages_sent_total{job="zmqobs-proto",socket="lat\\\\ency \\"x\\""}', 0.0)):
    v = value(expr)
    if v != want:
        sys.exit("%s = %r, expected %r" % (expr, v, want))
# the application histogram has no native part: classic series
if value('sizes_bucket{job="zmqobs-proto",le="+Inf"}') != 3.0:
    sys.exit("application histogram")
print("   native histogram: count %d, sum %r, p95 %r (exact %r, ratio %.4f)"
      % (n, s, q, exact, q / exact))

# the exemplars, as each host's own OpenMetrics exposition shows them
def shown(path):
    out = []
    for fam in text_string_to_metric_families(open(path).read()):
        for smp in fam.samples:
            if smp.exemplar:
                out.append((smp.exemplar.labels["trace_id"], smp.exemplar.value))
    return out

def stored(job, want):
    deadline, got = time.time() + 30, set()
    while time.time() < deadline:
        now = time.time()
        url = api + "/api/v1/query_exemplars?" + urllib.parse.urlencode(
            {"query": 'zmq_message_latency_seconds_bucket{job="%s"} or '
                      'zmq_message_latency_seconds{job="%s"}' % (job, job),
             "start": "%.3f" % (now - 600), "end": "%.3f" % (now + 60)})
        body = json.load(urllib.request.urlopen(url, timeout=5))
        if body["status"] != "success":
            sys.exit("query_exemplars: %s" % body)
        got = {(e["labels"]["trace_id"], float(e["value"]))
               for series in body["data"] for e in series["exemplars"]}
        if got == want:
            return got
        time.sleep(0.3)
    sys.exit("%s: query_exemplars returned %s, expected %s" % (job, sorted(got), sorted(want)))

native_shown, classic_shown = shown(sys.argv[5]), shown(sys.argv[6])
if len(classic_shown) < 5 or native_shown != classic_shown:
    sys.exit("the hosts show %s and %s" % (native_shown, classic_shown))
got = stored("zmqobs-classic", set(classic_shown))
print("   classic histogram over protobuf: all %d exemplars stored, as the host shows them"
      % len(got))
stored("zmqobs-proto", {native_shown[0]})
print("   native histogram: the first bucket's exemplar stored (Prometheus 2.42 keeps one per scrape)")
PYEOF
exec 9>&-
echo "test_proto_e2e: PASS"
