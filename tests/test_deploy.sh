#!/usr/bin/env bash
# test_deploy.sh - checks the production kit in examples/deploy/:
#   - promtool: the Prometheus config, the alert rules and their unit tests;
#   - every metric named in the alert rules and the Grafana dashboard is
#     one the library exports (family names read from src/fmt_common.c);
#   - the dashboard is valid JSON with a query in every panel;
#   - the Kubernetes manifests parse and probe /healthz and /readyz;
#   - the Dockerfile runs as non-root with the healthcheck tool;
#   - every dashboard query has a legend and uses the service and instance
#     variables, and no panel mixes units;
#   - every Kubernetes manifest (Deployment, Service, PodDisruptionBudget,
#     HorizontalPodAutoscaler, the prometheus-adapter ConfigMap,
#     ServiceMonitor, PodMonitor) against the Kubernetes schemas, and
#     docker-compose.yml against the Compose specification's schema,
#     offline, with the pinned npm packages of tests/deploy/package.json
#     (installed into build/npm by npm ci; tests/deploy/validate.js); the
#     prometheus-adapter query and the Compose stack's Prometheus config
#     through promtool.
# The queries themselves run against a real Prometheus in
# test_e2e_prometheus.sh. (No Docker engine here: the image is not built.)
set -euo pipefail
cd "$(dirname "$0")/.."
D=examples/deploy
PY=/usr/bin/python3

fail() { echo "test_deploy: FAIL: $*" >&2; exit 1; }

command -v promtool >/dev/null || fail "promtool missing (Debian package prometheus)"
promtool check config "$D/prometheus.yml" >/dev/null || fail "promtool check config"
promtool check rules "$D/alerts.yml" >/dev/null || fail "promtool check rules"
promtool test rules "$D/alerts_test.yml" || fail "promtool test rules"
echo "test_deploy: promtool config, rules and rule tests pass"

# --- schemas of the Kubernetes manifests and the Compose file -----------
command -v node >/dev/null || fail "node missing (Debian package nodejs)"
command -v npm >/dev/null || fail "npm missing (Debian package npm)"
npmdir=build/npm
if ! cmp -s tests/deploy/package-lock.json "$npmdir/package-lock.json" \
    || [ ! -f "$npmdir/node_modules/.package-lock.json" ]; then
    rm -rf "$npmdir"
    mkdir -p "$npmdir"
    cp tests/deploy/package.json tests/deploy/package-lock.json "$npmdir/"
    echo "test_deploy: npm ci into $npmdir (pinned by tests/deploy/package-lock.json)"
    npm ci --prefix "$npmdir" --no-audit --no-fund --loglevel=error >"$npmdir/install.log" 2>&1 || {
        cat "$npmdir/install.log" >&2
        rm -f "$npmdir/package-lock.json"
        fail "npm ci failed (is the npm registry reachable?)"; }
fi
tmpd=$(mktemp -d "${TMPDIR:-/tmp}/zmqobs-deploy.XXXXXX")
trap 'rm -rf "$tmpd"' EXIT
node tests/deploy/validate.js "$npmdir/node_modules" "$D" >"$tmpd/validate.out" 2>"$tmpd/validate.err" || {
    cat "$tmpd/validate.out" "$tmpd/validate.err" >&2; fail "schema checks"; }
grep -v '^ADAPTER_QUERY ' "$tmpd/validate.out"
# the prometheus-adapter query, filled in as the adapter does, is PromQL
query=$(sed -n 's/^ADAPTER_QUERY //p' "$tmpd/validate.out")
[ -n "$query" ] || fail "no prometheus-adapter query"
printf 'groups:\n  - name: adapter\n    rules:\n      - record: zmqobs:adapter_query\n        expr: %s\n' \
    "'$query'" >"$tmpd/adapter-rules.yml"
promtool check rules "$tmpd/adapter-rules.yml" >/dev/null || fail "prometheus-adapter query: $query"
# the Compose stack's Prometheus, with the rules mounted beside it
cp "$D/compose/prometheus.yml" "$D/alerts.yml" "$tmpd/"
promtool check config "$tmpd/prometheus.yml" >/dev/null || fail "promtool check config compose/prometheus.yml"
echo "test_deploy: prometheus-adapter query and the Compose stack's Prometheus config pass promtool"

"$PY" - "$D" src/fmt_common.c <<'PYEOF'
import json, re, sys, os
d, expose = sys.argv[1], sys.argv[2]
src = open(expose, encoding="utf-8").read()
# family table rows: {"zmq_messages_sent", COUNTER, ...}
fams = re.findall(r'\{"((?:zmq|process)_[a-z_]+)",\s*(COUNTER|GAUGE|HISTOGRAM|SUMMARY)', src)
if len(fams) < 10:
    sys.exit("could not read the metric families from " + expose)
names = {"up"}
for name, kind in fams:
    if kind == "COUNTER":
        names.add(name if name.endswith("_total") else name + "_total")
    elif kind == "GAUGE":
        names.add(name)
    elif kind == "HISTOGRAM":
        names.update(name + s for s in ("_bucket", "_sum", "_count"))
    else:
        names.update([name, name + "_sum", name + "_count"])

def metric_names(expr):
    # identifiers that look like our metrics, outside label matchers/strings
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r'\{[^}]*\}', '{}', expr)
    return set(re.findall(r'\b((?:zmq|process)_[a-zA-Z0-9_]+|up)\b', expr))

def check(expr, where):
    used = metric_names(expr)
    if not used:
        sys.exit("%s: no library metric in %r" % (where, expr))
    unknown = used - names
    if unknown:
        sys.exit("%s: not exported by the library: %s" % (where, ", ".join(sorted(unknown))))

# the checker must be able to fail
try:
    check("rate(zmq_bogus_total[5m])", "self-test")
    sys.exit("self-test: an unknown metric was accepted")
except SystemExit as e:
    if "not exported" not in str(e):
        raise

dash = json.load(open(os.path.join(d, "grafana-dashboard.json"), encoding="utf-8"))
panels = dash.get("panels", [])
if len(panels) < 10:
    sys.exit("dashboard: expected at least 10 panels, found %d" % len(panels))
n = 0
for p in panels:
    targets = p.get("targets") or []
    if not targets:
        sys.exit("dashboard panel %r has no query" % p.get("title"))
    for t in targets:
        check(t["expr"], "dashboard panel %r" % p.get("title"))
        n += 1

try:
    import yaml
except ImportError:
    yaml = None
    print("test_deploy: python3-yaml missing: alert expressions and manifests checked as text")
rules_text = open(os.path.join(d, "alerts.yml"), encoding="utf-8").read()
if yaml:
    rules = [r for g in yaml.safe_load(rules_text)["groups"] for r in g["rules"]]
    for r in rules:
        check(r["expr"], "alert " + r["alert"])
    alerts = {r["alert"] for r in rules}
    want = {"ZmqHighLatencyP95", "ZmqNoConnections", "ZmqErrorRate",
            "ZmqHandshakeFailures", "ZmqReconnectStorm"}
    if not want <= alerts:
        sys.exit("alerts missing: %s" % ", ".join(sorted(want - alerts)))
    if "zmq_message_latency_seconds_bucket" not in next(
            r["expr"] for r in rules if r["alert"] == "ZmqHighLatencyP95"):
        sys.exit("the latency alert must use the histogram buckets")
    docs = list(yaml.safe_load_all(open(os.path.join(d, "kubernetes", "broker.yaml"))))
    dep = next(x for x in docs if x["kind"] == "Deployment")
    pod = dep["spec"]["template"]
    ann = pod["metadata"]["annotations"]
    if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/path") != "/metrics":
        sys.exit("deployment: scrape annotations missing")
    c = pod["spec"]["containers"][0]
    if c["livenessProbe"]["httpGet"]["path"] != "/healthz":
        sys.exit("deployment: liveness must probe /healthz")
    if c["readinessProbe"]["httpGet"]["path"] != "/readyz":
        sys.exit("deployment: readiness must probe /readyz")
    if not pod["spec"]["securityContext"].get("runAsNonRoot"):
        sys.exit("deployment: must run as non-root")
# Grafana: legends, variables, units.
tvars = {v["name"] for v in dash["templating"]["list"]}
if not {"datasource", "service", "instance"} <= tvars:
    sys.exit("dashboard: variables missing: %s" % sorted({"datasource", "service", "instance"} - tvars))
unit_of = [(r"_bytes(_total)?$", {"bytes", "Bps", "decbytes"}), (r"_seconds(_bucket|_sum)?$", {"s", "ms"}),
           (r"_seconds_total$", {"percentunit", "s"})]
for p in panels:
    title = p.get("title")
    legends = [t.get("legendFormat") for t in p["targets"]]
    if not all(legends) or len(set(legends)) != len(legends):
        sys.exit("dashboard panel %r: every query needs a legendFormat of its own: %r" % (title, legends))
    unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
    kinds = set()
    for t in p["targets"]:
        e = t["expr"]
        if "$instance" not in e or "$service" not in e:
            sys.exit("dashboard panel %r: query ignores the service or instance variable: %s" % (title, e))
        for m in metric_names(e):
            if m.endswith("_count") and m[:-6] + "_sum" in e:
                continue  # the denominator of a mean: a count, no unit
            kinds.add(next((i for i, (rx, _) in enumerate(unit_of) if re.search(rx, m)), None))
    if len(kinds) != 1:
        sys.exit("dashboard panel %r mixes quantities of different units on one axis" % title)
    k = kinds.pop()
    if k is not None and unit not in unit_of[k][1]:
        sys.exit("dashboard panel %r: unit %r for %s" % (title, unit, unit_of[k][0]))
print("test_deploy: %d dashboard queries and the alert rules use only exported metrics; "
      "every query has its own legend and uses $service and $instance; one unit per panel" % n)
PYEOF

df="$D/Dockerfile"
user=$(awk '$1 == "USER" {u = $2} END {print u}' "$df")
[ -n "$user" ] || fail "Dockerfile: no USER"
case "${user%%:*}" in root|0) fail "Dockerfile: runs as root" ;; esac
grep -q '^HEALTHCHECK .*' "$df" || fail "Dockerfile: no HEALTHCHECK"
grep -A1 '^HEALTHCHECK' "$df" | grep -q '/usr/local/bin/healthcheck' || fail "Dockerfile: HEALTHCHECK must use the healthcheck tool"
# every file the deploy kit names as a doc or config is in the repository
for ref in $(grep -ohE '(README\.md|[A-Za-z_]+\.md|examples/deploy/[A-Za-z0-9_./-]+)' "$D"/*.yml "$D"/compose/*.yml "$D"/kubernetes/*.yaml "$D"/Dockerfile | sort -u); do
    [ -e "$ref" ] || [ -e "$D/$ref" ] || fail "the deploy kit refers to $ref, which does not exist"
done
for ex in $(sed -n 's/.*for ex in \(.*\); do.*/\1/p' "$df"); do
    [ -f "examples/$ex.c" ] || fail "Dockerfile builds examples/$ex.c, which does not exist"
done
echo "test_deploy: Dockerfile runs as user $user with a HEALTHCHECK (image not built: no Docker engine)"
echo "test_deploy: PASS"
