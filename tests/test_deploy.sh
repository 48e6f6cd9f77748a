#!/usr/bin/env bash
# test_deploy.sh - checks the production kit in examples/deploy/:
#   - promtool: the Prometheus config, the alert rules and their unit tests;
#   - every metric named in the alert rules and the Grafana dashboard is
#     one the library exports (family names read from src/fmt_common.c);
#   - the dashboard is valid JSON with a query in every panel;
#   - the Kubernetes manifests parse and probe /healthz and /readyz;
#   - the Dockerfile runs as non-root with the healthcheck tool.
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
print("test_deploy: %d dashboard queries and the alert rules use only exported metrics" % n)
PYEOF

df="$D/Dockerfile"
user=$(awk '$1 == "USER" {u = $2} END {print u}' "$df")
[ -n "$user" ] || fail "Dockerfile: no USER"
case "${user%%:*}" in root|0) fail "Dockerfile: runs as root" ;; esac
grep -q '^HEALTHCHECK .*' "$df" || fail "Dockerfile: no HEALTHCHECK"
grep -A1 '^HEALTHCHECK' "$df" | grep -q '/usr/local/bin/healthcheck' || fail "Dockerfile: HEALTHCHECK must use the healthcheck tool"
for ex in $(sed -n 's/.*for ex in \(.*\); do.*/\1/p' "$df"); do
    [ -f "examples/$ex.c" ] || fail "Dockerfile builds examples/$ex.c, which does not exist"
done
echo "test_deploy: Dockerfile runs as user $user with a HEALTHCHECK (image not built: no Docker engine)"
echo "test_deploy: PASS"
