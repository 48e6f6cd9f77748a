#!/usr/bin/env bash
# fleet.sh - `make fleet`: a fleet of three hosts watched by a real
# Prometheus and Alertmanager, one host cut off and healed.
#
# Hosts: three network namespaces with their own addresses on a bridge
# (10.88.0.1-3/24), and a fourth, "monitor" (10.88.0.100), which holds
# the bridge, Prometheus, Alertmanager and the webhook receiver. Nothing
# is added to the host's own network: every namespace, veth and the
# bridge are created here, named with this shell's PID, and removed on
# any exit.
#   h1  the broker example (2 worker threads), /metrics on 10.88.0.1:9464
#   h2  load_client, 2 REQ clients to the broker, /metrics on 10.88.0.2:9464
#   h3  the same from 10.88.0.3
# Prometheus (1 s scrapes and rule evaluations) discovers the three
# through file_sd_configs (a JSON file written here) under the job name
# kubernetes-pods, with per-target labels host and role, and loads the
# shipped alert rules with one mechanical change: every `for:` duration
# divided by 12 (2m -> 10s), so that the test takes a minute, not an
# hour. Alertmanager (no clustering, group_wait/group_interval 1 s)
# sends to tests/fleet_webhook.py, which appends each notification to a
# file.
#
# Scenario: with traffic flowing, the dashboard's queries (from
# examples/deploy/grafana-dashboard.json, variables substituted) are run
# per instance and over the fleet at one instant and compared; then h3's
# link is cut (ip link set down); ZmqObserverDown must reach the webhook,
# firing, with alertname, instance, job, severity and the target's
# labels; the link is restored and the same alert must arrive resolved.
# A timeline with times relative to the cut is printed.
#
# Where network namespaces cannot be created (not root, no netns
# support), or with FLEET_MODE=loopback, the same scenario runs on
# 127.0.0.1-3 with free ports, and h3 is cut off by stopping its process
# (SIGSTOP) and healed with SIGCONT; the output says which mode ran.
#
# Bounded: every wait has a limit (about two minutes in all); everything
# started is stopped and every file removed on any exit.
set -euo pipefail
cd "$(dirname "$0")/.."
OBJDIR=${OBJDIR:-build}
LIBOUT=${LIBOUT:-lib}
CC=${CC:-cc}
PY=/usr/bin/python3
PROM=/usr/bin/prometheus
AM=/usr/bin/prometheus-alertmanager
FOR_DIVISOR=12

fail() { echo "fleet: FAIL: $*" >&2; exit 1; }
[ -x "$PROM" ] || fail "$PROM missing (Debian package prometheus)"
[ -x "$AM" ] || fail "$AM missing (Debian package prometheus-alertmanager)"
[ -f "$LIBOUT/libzmqobs.a" ] || fail "$LIBOUT/libzmqobs.a missing: build the library first"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zmqobs-fleet.XXXXXX")
tag="zf$$"
pids=()
namespaces=()
alive() { # PID: running (not gone, not a zombie waiting to be reaped)
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ $st != Z* ]]
}
cleanup() {
    local p ns
    for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
    # bounded: whatever has not stopped 10 s after SIGTERM gets SIGKILL
    local waited=0
    for p in "${pids[@]}"; do
        while alive "$p" && [ $waited -lt 100 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        if alive "$p"; then
            echo "fleet: pid $p still running 10 s after SIGTERM, killed" >&2
            kill -KILL "$p" 2>/dev/null || true
        fi
        wait "$p" 2>/dev/null || true
    done
    for ns in "${namespaces[@]}"; do
        # anything still inside is ours: it was started in a namespace made here
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }

# --- the programs, built against the library under test ------------------
bin="$OBJDIR/fleet"
mkdir -p "$bin"
zmq_flags=$(pkg-config --cflags --libs libzmq 2>/dev/null || echo -lzmq)
for ex in broker load_client; do
    # shellcheck disable=SC2086
    $CC -std=c11 -D_GNU_SOURCE -O1 -g -Iinclude -o "$bin/$ex" "examples/$ex.c" \
        "$LIBOUT/libzmqobs.a" $zmq_flags -lpthread -lm || fail "cannot build examples/$ex.c"
done

# --- the network ---------------------------------------------------------
mode=${FLEET_MODE:-netns}
mon="$tag-mon"
if [ "$mode" = netns ]; then
    if ip netns add "$mon" 2>"$tmp/netns.err" && namespaces+=("$mon") \
        && ip netns exec "$mon" true 2>>"$tmp/netns.err"; then
        :
    else
        echo "fleet: cannot create network namespaces ($(head -1 "$tmp/netns.err")):" \
             "running the loopback variant instead"
        mode=loopback
    fi
fi

# in_ns NS COMMAND...: runs COMMAND inside host NS (h1, h2, h3, mon)
in_ns() {
    local ns=$1
    shift
    if [ "$mode" = netns ]; then ip netns exec "$tag-$ns" "$@"; else "$@"; fi
}
# spawn NS COMMAND...: starts COMMAND in the background inside host NS;
# its PID (the command's own: ip netns exec execs it) goes to $last and
# into the list that cleanup stops
spawn() {
    local ns=$1
    shift
    if [ "$mode" = netns ]; then ip netns exec "$tag-$ns" "$@" & else "$@" & fi
    last=$!
    pids+=("$last")
}
free_port() { # NS [ADDRESS]: a port free on ADDRESS (127.0.0.1) in host NS
    in_ns "$1" "$PY" -c 'import socket, sys; s=socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' \
        "${2:-127.0.0.1}"
}

declare -A addr mport
if [ "$mode" = netns ]; then
    ip -n "$mon" link set lo up
    ip -n "$mon" link add br0 type bridge
    ip -n "$mon" addr add 10.88.0.100/24 dev br0
    ip -n "$mon" link set br0 up
    for i in 1 2 3; do
        ns="$tag-h$i"
        ip netns add "$ns"
        namespaces+=("$ns")
        ip -n "$ns" link set lo up
        # the veth is made inside the monitor namespace, its peer moved
        # straight into the host's: neither end ever exists outside
        ip -n "$mon" link add "vh$i" type veth peer name eth0 netns "$ns"
        ip -n "$mon" link set "vh$i" master br0
        ip -n "$mon" link set "vh$i" up
        ip -n "$ns" addr add "10.88.0.$i/24" dev eth0
        ip -n "$ns" link set eth0 up
        addr[h$i]="10.88.0.$i"
        mport[h$i]=9464
    done
    echo "fleet: mode: network namespaces $tag-h1..h3 (10.88.0.1-3) and $mon" \
         "(10.88.0.100, bridge br0, Prometheus, Alertmanager, webhook)"
else
    for i in 1 2 3; do
        addr[h$i]="127.0.0.$i"
        mport[h$i]=$(free_port "h$i" "127.0.0.$i")
    done
    echo "fleet: mode: loopback (127.0.0.1-3, free ports); a cut stops the process (SIGSTOP)"
fi

wait_line() { # KEY FILE: prints the value of the first "KEY value" line
    for _ in $(seq 1 200); do
        if grep -q "^$1 " "$2" 2>/dev/null; then
            awk -v k="$1" '$1 == k {print $2; exit}' "$2"; return 0
        fi
        sleep 0.05
    done
    cat "$2" >&2; fail "no '$1' line in $2"
}

# --- the three hosts -------------------------------------------------------
if [ "$mode" = netns ]; then bport=5555; else bport=$(free_port h1); fi
frontend="tcp://${addr[h1]}:$bport"
spawn h1 env ZMQOBS_METRICS_ADDR="tcp://${addr[h1]}:${mport[h1]}" ZMQOBS_SERVICE=broker ZMQOBS_SAMPLE_EVERY=1 \
    "$bin/broker" -f "$frontend" -w 2 -t 2000 >"$tmp/h1.out" 2>"$tmp/h1.err"
wait_line metrics "$tmp/h1.out" >/dev/null
for i in 2 3; do
    spawn "h$i" env ZMQOBS_METRICS_ADDR="tcp://${addr[h$i]}:${mport[h$i]}" ZMQOBS_SERVICE=client \
        ZMQOBS_SAMPLE_EVERY=1 "$bin/load_client" -c 2 -d 600 -r 20 -T 1000 "$frontend" \
        >"$tmp/h$i.out" 2>"$tmp/h$i.err"
done
pid_h3=$last

# --- webhook, Alertmanager, Prometheus in the monitor host ------------------
spawn mon "$PY" tests/fleet_webhook.py 127.0.0.1 0 "$tmp/webhook.jsonl" >"$tmp/webhook.out" 2>&1
hook_port=$(wait_line listening "$tmp/webhook.out")

am_port=$(free_port mon)
cat >"$tmp/alertmanager.yml" <<YML
route:
  receiver: fleet-webhook
  group_by: [alertname, instance]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: fleet-webhook
    webhook_configs:
      - url: http://127.0.0.1:$hook_port/
        send_resolved: true
YML
spawn mon "$AM" --config.file="$tmp/alertmanager.yml" --storage.path="$tmp/am" \
    --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= \
    --log.level=warn >"$tmp/am.log" 2>&1

# The shipped rules, every for: divided by FOR_DIVISOR; nothing else changes.
"$PY" - examples/deploy/alerts.yml "$tmp/alerts.yml" "$FOR_DIVISOR" <<'PYEOF'
import re, sys
src, dst, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
unit = {"s": 1, "m": 60, "h": 3600}
changes = []
def scale(m):
    secs = int(m.group(2)) * unit[m.group(3)]
    if secs % k:
        sys.exit("for: %s%s is not a multiple of %d seconds" % (m.group(2), m.group(3), k))
    changes.append("%s%s->%ds" % (m.group(2), m.group(3), secs // k))
    return "%s%ds" % (m.group(1), secs // k)
text = re.sub(r"^(\s+for: )(\d+)([smh])\s*$", scale, open(src).read(), flags=re.M)
open(dst, "w").write(text)
print("fleet: rules: examples/deploy/alerts.yml with every for: divided by %d (%s), nothing else changed"
      % (k, ", ".join(changes)))
PYEOF
"$PY" - "$tmp/targets.json" "${addr[h1]}:${mport[h1]}" "${addr[h2]}:${mport[h2]}" "${addr[h3]}:${mport[h3]}" <<'PYEOF'
import json, sys
out, t1, t2, t3 = sys.argv[1:]
json.dump([{"targets": [t1], "labels": {"host": "h1", "role": "broker"}},
           {"targets": [t2], "labels": {"host": "h2", "role": "client"}},
           {"targets": [t3], "labels": {"host": "h3", "role": "client"}}], open(out, "w"), indent=1)
PYEOF
cat >"$tmp/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - alerts.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:$am_port"]
scrape_configs:
  - job_name: kubernetes-pods
    file_sd_configs:
      - files: [targets.json]
        refresh_interval: 1s
YML
promtool check config "$tmp/prometheus.yml" >/dev/null || fail "promtool check config"
prom_port=$(free_port mon)
spawn mon "$PROM" --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
    --web.listen-address="127.0.0.1:$prom_port" --rules.alert.resend-delay=1s \
    --log.level=warn >"$tmp/prom.log" 2>&1
api="http://127.0.0.1:$prom_port"
for i in $(seq 1 100); do
    in_ns mon curl -sf --max-time 1 "$api/-/ready" >/dev/null 2>&1 && break
    [ "$i" -eq 100 ] && { cat "$tmp/prom.log" >&2; fail "prometheus not ready"; }
    sleep 0.2
done
for i in $(seq 1 100); do
    in_ns mon curl -sf --max-time 1 "http://127.0.0.1:$am_port/-/ready" >/dev/null 2>&1 && break
    [ "$i" -eq 100 ] && { cat "$tmp/am.log" >&2; fail "alertmanager not ready"; }
    sleep 0.2
done

# q EXPR [TIME]: the instant query's result as JSON lines {labels, value}
cat >"$tmp/q.py" <<'PYEOF'
import json, sys, urllib.parse, urllib.request
api, expr = sys.argv[1], sys.argv[2]
args = {"query": expr}
if len(sys.argv) > 3:
    args["time"] = sys.argv[3]
try:
    body = json.load(urllib.request.urlopen(api + "/api/v1/query?" + urllib.parse.urlencode(args), timeout=5))
except Exception as e:
    sys.exit("API error for %s: %s" % (expr, e))
if body.get("status") != "success":
    sys.exit("query failed: %s: %s" % (expr, body))
for r in body["data"]["result"]:
    print(json.dumps({"labels": r["metric"], "value": float(r["value"][1])}, sort_keys=True))
PYEOF
q() { in_ns mon "$PY" "$tmp/q.py" "$api" "$@"; }
value() { q "$1" | "$PY" -c 'import json, sys; r = [json.loads(l)["value"] for l in sys.stdin]; print("%g" % sum(r) if r else "EMPTY")'; }
wait_eq() { # EXPR VALUE SECONDS
    local v
    for _ in $(seq 1 $((${3:-30} * 5))); do
        v=$(value "$1")
        [ "$v" != EMPTY ] && "$PY" -c "import sys; sys.exit(0 if float('$v') == float('$2') else 1)" && return 0
        sleep 0.2
    done
    fail "$1: expected $2, last value $v"
}

for h in h1 h2 h3; do
    wait_eq "up{job=\"kubernetes-pods\",host=\"$h\"}" 1 30
done
t_start=$(now)
# two clients on each client host, two workers on the broker's backend
wait_eq 'zmq_connections{host="h1",socket="frontend"}' 4 30
wait_eq 'zmq_connections{host="h1",socket="backend"}' 2 30
wait_eq 'count(up{job="kubernetes-pods"} == 1)' 3 5
echo "fleet: Prometheus discovered h1 h2 h3 through file_sd under job kubernetes-pods;" \
     "broker frontend has 4 peers, backend 2"
# let the rates have a few samples
sleep 5

# --- dashboard queries: per instance and over the fleet --------------------
at=$("$PY" -c 'import time; print("%.3f" % (time.time() - 1))')
"$PY" - examples/deploy/grafana-dashboard.json >"$tmp/panels.txt" <<'PYEOF'
import json, sys
for p in json.load(open(sys.argv[1]))["panels"]:
    for t in p["targets"]:
        e = t["expr"].replace("$service", ".*").replace("$__rate_interval", "5s")
        print(p["title"] + " [" + t["legendFormat"] + "]\t" + e)
PYEOF
instances=("${addr[h1]}:${mport[h1]}" "${addr[h2]}:${mport[h2]}" "${addr[h3]}:${mport[h3]}")
: >"$tmp/dash.jsonl"
while IFS=$'\t' read -r title expr; do
    for inst in all "${instances[@]}"; do
        # an instance is matched by its own text: its dots match only
        # themselves among these three targets
        if [ "$inst" = all ]; then re='.*'; else re=$inst; fi
        e=${expr//\$instance/$re}
        q "$e" "$at" | "$PY" -c '
import json, sys
title, inst = sys.argv[1], sys.argv[2]
for l in sys.stdin:
    r = json.loads(l)
    print(json.dumps({"panel": title, "instance": inst, "labels": r["labels"], "value": r["value"]}))
' "$title" "$inst" >>"$tmp/dash.jsonl" || fail "query of panel $title"
    done
done <"$tmp/panels.txt"
"$PY" - "$tmp/dash.jsonl" "$tmp/panels.txt" "${instances[@]}" <<'PYEOF' || fail "dashboard queries"
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
panels = [l.split("\t")[0] for l in open(sys.argv[2])]
insts = sys.argv[3:]
h1, h2, h3 = insts
def res(panel, inst):
    return {tuple(sorted(r["labels"].items())): r["value"] for r in rows
            if r["panel"] == panel and r["instance"] == inst}
def one(panel, inst, **labels):
    got = [v for k, v in res(panel, inst).items() if all((n, x) in k for n, x in labels.items())]
    if len(got) != 1:
        sys.exit("%s on %s: expected one series with %s, got %r" % (panel, inst, labels, res(panel, inst)))
    return got[0]
# must have data over the fleet: traffic, peers, latency, events, process, scrape health
need = ["Messages per second (received)", "Messages per second (sent)", "Bytes per second",
        "Connected peers", "Latency p50 / p95 / p99 (histogram)", "Latency p95, recent window (exact)",
        "Mean latency", "Monitor events per second", "Queue depth", "Listening endpoints",
        "Process CPU", "Process resident memory", "Process open file descriptors",
        "Process threads", "Scrape up"]
with_data, empty = 0, []
for p in panels:
    if not res(p, "all"):
        if any(p.startswith(n + " [") for n in need):
            sys.exit("panel %s: no data over the fleet" % p)
        empty.append(p.split(" [")[0])
        continue
    with_data += 1
# per instance: exact peers, one process series per host
for inst in insts:
    for p in ("Process resident memory [{{instance}}]", "Process threads [{{instance}}]",
              "Process open file descriptors [{{instance}}]"):
        r = res(p, inst)
        if len(r) != 1 or dict(next(iter(r)))["instance"] != inst:
            sys.exit("%s on %s: %r" % (p, inst, r))
peers = "Connected peers [{{socket}}]"
checks = [(h1, "frontend", 4), (h1, "backend", 2), (h1, "worker-0", 1), (h1, "worker-1", 1),
          (h2, "client-0", 1), (h2, "client-1", 1), (h3, "client-0", 1), (h3, "client-1", 1)]
for inst, sock, want in checks:
    got = one(peers, inst, socket=sock)
    if got != want:
        sys.exit("%s %s on %s: %r, expected %r" % (peers, sock, inst, got, want))
if one(peers, "all", socket="client-0") != 2 or one(peers, "all", socket="frontend") != 4:
    sys.exit("fleet-wide peers wrong: %r" % res(peers, "all"))
# every additive panel (a sum by socket): the fleet equals the sum of its hosts
additive = [p for p in panels if p.split(" [")[0] in (
    "Messages per second (received)", "Messages per second (sent)", "Bytes per second",
    "Connected peers", "Monitor events per second", "Queue depth", "Listening endpoints")]
compared = 0
for p in additive:
    total = res(p, "all")
    summed = {}
    for inst in insts:
        for k, v in res(p, inst).items():
            summed[k] = summed.get(k, 0.0) + v
    if set(total) != set(summed):
        sys.exit("%s: fleet series %r differ from the hosts' %r" % (p, sorted(total), sorted(summed)))
    for k in total:
        if not math.isclose(total[k], summed[k], rel_tol=1e-9, abs_tol=1e-12):
            sys.exit("%s %r: fleet %r, hosts summed %r" % (p, k, total[k], summed[k]))
        compared += 1
rx = res("Messages per second (received) [{{socket}}]", "all")
front = next(v for k, v in rx.items() if ("socket", "frontend") in k)
if not front > 0:
    sys.exit("no traffic through the broker's frontend")
print("fleet: dashboard: %d of %d queries have data over the fleet; peers exact per host"
      " (h1 frontend 4, backend 2; h2, h3 clients 1 each); %d fleet-wide series of %d additive"
      " queries equal the sum of the three hosts' (broker frontend %.1f msg/s)"
      % (with_data, len(panels), compared, len(additive), front))
print("fleet: no data, as nothing of the kind happened: %s" % ", ".join(empty))
PYEOF

# --- the cut ----------------------------------------------------------------
h3inst="${addr[h3]}:${mport[h3]}"
front_before=$(value 'zmq_connections{host="h1",socket="frontend"}')
t_cut=$(now)
if [ "$mode" = netns ]; then
    ip -n "$mon" link set vh3 down
    cut_how="ip link set vh3 down (h3's port on the bridge)"
else
    kill -STOP "$pid_h3"
    cut_how="SIGSTOP to h3's load_client (pid $pid_h3)"
fi
rel() { "$PY" -c "print('%+.1f s' % ($1 - $t_cut))"; }

# webhook_wait STATUS SECONDS: the receive time of the first notification
# for ZmqObserverDown on h3 with that status; checks its labels
cat >"$tmp/hook.py" <<'PYEOF'
import json, sys
path, status, inst = sys.argv[1], sys.argv[2], sys.argv[3]
want = {"alertname": "ZmqObserverDown", "instance": inst, "job": "kubernetes-pods",
        "severity": "critical", "host": "h3", "role": "client"}
try:
    lines = open(path).read().splitlines()
except FileNotFoundError:
    lines = []
for l in lines:
    n = json.loads(l)
    p = n["payload"]
    for a in p.get("alerts", []):
        lab = a["labels"]
        if lab.get("alertname") == "ZmqObserverDown" and lab.get("instance") == inst and a["status"] == status:
            if lab != want:
                sys.exit("labels %r, expected exactly %r" % (lab, want))
            if p["status"] != status or p.get("receiver") != "fleet-webhook":
                sys.exit("notification status %r receiver %r" % (p["status"], p.get("receiver")))
            print("%.3f %s" % (n["received"], " ".join("%s=%s" % kv for kv in sorted(lab.items()))))
            sys.exit(0)
print("NONE")
PYEOF
webhook_wait() {
    local r
    for _ in $(seq 1 $(($2 * 5))); do
        r=$("$PY" "$tmp/hook.py" "$tmp/webhook.jsonl" "$1" "$h3inst") || fail "webhook: $r"
        [ "$r" != NONE ] && { echo "$r"; return 0; }
        sleep 0.2
    done
    cat "$tmp/webhook.jsonl" >&2 2>/dev/null || true
    fail "no $1 ZmqObserverDown for $h3inst at the webhook within $2 s"
}
up_wait() { # VALUE SECONDS: time at which Prometheus first stored up VALUE for h3
    for _ in $(seq 1 $(($2 * 5))); do
        [ "$(value "up{instance=\"$h3inst\"}")" = "$1" ] && { now; return 0; }
        sleep 0.2
    done
    fail "up{instance=\"$h3inst\"} never became $1"
}
t_down=$(up_wait 0 30)
firing=$(webhook_wait firing 60)
t_fire=${firing%% *}
other_up=$(value 'sum(up{host=~"h1|h2"})')
[ "$other_up" = 2 ] || fail "h1 and h2 must stay up while h3 is cut off (sum of up: $other_up)"
front_during=$(value 'zmq_connections{host="h1",socket="frontend"}')

# --- the heal -----------------------------------------------------------------
t_heal=$(now)
if [ "$mode" = netns ]; then
    ip -n "$mon" link set vh3 up
else
    kill -CONT "$pid_h3"
fi
t_up=$(up_wait 1 30)
resolved=$(webhook_wait resolved 60)
t_res=${resolved%% *}
# nothing fired for the hosts that stayed up
"$PY" - "$tmp/webhook.jsonl" "$h3inst" <<'PYEOF' || fail "unexpected alerts"
import json, sys
seen = set()
for l in open(sys.argv[1]):
    for a in json.loads(l)["payload"]["alerts"]:
        seen.add((a["labels"]["alertname"], a["labels"].get("instance", ""), a["status"]))
extra = [s for s in seen if s[0] == "ZmqObserverDown" and s[1] != sys.argv[2]]
if extra:
    sys.exit("ZmqObserverDown for hosts that were never cut: %r" % extra)
print("fleet: webhook notifications: " + ", ".join("%s %s %s" % s for s in sorted(seen)))
PYEOF
front_after=$(value 'zmq_connections{host="h1",socket="frontend"}')

echo "fleet: timeline (mode $mode; t = 0 at the cut)"
printf '   %-9s %s\n' \
    "$(rel "$t_start")" "Prometheus: h1 h2 h3 up, broker frontend peers $front_before" \
    "+0.0 s" "cut h3: $cut_how" \
    "$(rel "$t_down")" "Prometheus: up{instance=\"$h3inst\"} = 0" \
    "$(rel "$t_fire")" "webhook: ZmqObserverDown FIRING ${firing#* }" \
    "$(rel "$t_heal")" "heal h3 (broker frontend peers meanwhile: $front_during)" \
    "$(rel "$t_up")" "Prometheus: up{instance=\"$h3inst\"} = 1" \
    "$(rel "$t_res")" "webhook: ZmqObserverDown RESOLVED ${resolved#* }"
if [ "$mode" = netns ]; then
    echo "   (broker frontend peers after the heal: $front_after; a cut link carries no FIN or RST," \
         "so without ZMTP heartbeats the broker keeps counting h3's connections while it is cut off)"
else
    echo "   (broker frontend peers after the heal: $front_after; a stopped process keeps its" \
         "connections open, so the broker keeps counting them)"
fi
echo "fleet: PASS (cut at T, firing at T$(rel "$t_fire"), resolved at T$(rel "$t_res"), mode $mode)"
