"""Checks an OTLP push against the text exposition of the same state.

Usage: otlp_check.py PUSHES_JSONL PROM_FILE [MIN_FAILURES]

PUSHES_JSONL holds one decoded ExportMetricsServiceRequest per line, as
tests/otlp/receiver.js wrote them (decoded by the generated OTLP classes);
the last line is checked against PROM_FILE (text 0.0.4, parsed by
prometheus_client), read while the host was idle: every sample of every
family must be in the push with the same value, and the push must hold
nothing else. Counters are monotonic cumulative sums named without
_total, gauges gauges, histograms explicit-bucket histograms (per-bucket
counts against the text's cumulative ones), the window summary a summary;
the constant labels are resource attributes (service as service.name),
the others data point attributes. The exponential histogram must hold
the histogram's count. Process metrics, read anew by each scrape, are
compared within a bound. With MIN_FAILURES, the push failure counter must
be at least that. Exits 1 with a message on the first difference.
"""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

CONSTS = {"service": "service.name", "zone": "zone"}
MOVING = {"process_resident_memory_bytes": 8 << 20, "process_virtual_memory_bytes": 64 << 20,
          "process_cpu_seconds": 1.0, "process_open_fds": 8, "process_threads": 2}


def fail(msg):
    print("otlp_check: " + msg)
    sys.exit(1)


def attrs(lst):
    out = {}
    for a in lst or []:
        if a["key"] in out:
            fail("attribute %s twice" % a["key"])
        out[a["key"]] = a["value"]["stringValue"]
    return out


def num(v):
    return float(v)


def main():
    lines = [json.loads(x) for x in open(sys.argv[1]) if x.strip()]
    if not lines:
        fail("no push received")
    bad = [x for x in lines if "error" in x and "resourceMetrics" not in x]
    if bad:
        fail("the receiver rejected a push: %s" % json.dumps(bad[0])[:2000])
    push = lines[-1]
    rm = push["resourceMetrics"]
    if len(rm) != 1 or len(rm[0]["scopeMetrics"]) != 1:
        fail("one resource and one scope expected")
    resource = attrs(rm[0]["resource"]["attributes"])
    scope = rm[0]["scopeMetrics"][0]
    if scope["scope"]["name"] != "libzmqobs":
        fail("scope %r" % scope["scope"])
    metrics = {}
    for m in scope["metrics"]:
        if m["name"] in metrics:
            fail("metric %s twice" % m["name"])
        metrics[m["name"]] = m
    text = open(sys.argv[2]).read()
    seen_resource = {}
    checked = 0
    for fam in text_string_to_metric_families(text):
        if not fam.samples:
            continue
        m = metrics.pop(fam.name, None)
        if m is None:
            fail("family %s not pushed" % fam.name)
        if m.get("description") != fam.documentation:
            fail("%s: description %r" % (fam.name, m.get("description")))
        kind = {"counter": "sum", "gauge": "gauge", "histogram": "histogram",
                "summary": "summary"}[fam.type]
        if kind not in m:
            fail("%s: not a %s: %s" % (fam.name, kind, list(m)))
        body = m[kind]
        if kind == "sum" and not (body.get("isMonotonic") and body.get("aggregationTemporality") == 2):
            fail("%s: not a monotonic cumulative sum" % fam.name)
        if kind == "histogram" and body.get("aggregationTemporality") != 2:
            fail("%s: not cumulative" % fam.name)
        points = {}
        for p in body["dataPoints"]:
            k = tuple(sorted(attrs(p.get("attributes")).items()))
            if k in points:
                fail("%s: data point %s twice" % (fam.name, k))
            if kind in ("sum", "histogram") and not int(p.get("startTimeUnixNano", "0")):
                fail("%s: no start time" % fam.name)
            if not int(p.get("timeUnixNano", "0")):
                fail("%s: no time" % fam.name)
            points[k] = p
        # the text's series, grouped by their own labels
        series = {}
        for s in fam.samples:
            labels = dict(s.labels)
            for c, key in CONSTS.items():
                if c in labels:
                    seen_resource[key] = labels.pop(c)
            special = {k: labels.pop(k) for k in ("le", "quantile") if k in labels}
            series.setdefault(tuple(sorted(labels.items())), []).append((s.name, special, s.value))
        if set(series) != set(points):
            fail("%s: series %s, pushed %s" % (fam.name, sorted(series), sorted(points)))
        moving = MOVING.get(fam.name)
        for key, samples in series.items():
            p = points[key]

            def eq(a, b, what):
                if moving is not None and abs(a - b) <= moving:
                    return
                if not (a == b or (math.isnan(a) and math.isnan(b))):
                    fail("%s%s %s: pushed %r, text %r" % (fam.name, dict(key), what, a, b))
            if kind in ("sum", "gauge"):
                v = num(p["asInt"]) if "asInt" in p else num(p.get("asDouble", 0))
                eq(v, samples[0][2], "value")
            elif kind == "histogram":
                bounds = [num(b) for b in p.get("explicitBounds", [])]
                counts = [int(c) for c in p["bucketCounts"]]
                if len(counts) != len(bounds) + 1:
                    fail("%s: %d counts for %d bounds" % (fam.name, len(counts), len(bounds)))
                cum, want = 0, {}
                for b, c in zip(bounds + [math.inf], counts):
                    cum += c
                    want[b] = cum
                for name, special, value in samples:
                    if name.endswith("_bucket"):
                        eq(want.get(float(special["le"]), -1), value, "le=" + special["le"])
                    elif name.endswith("_count"):
                        eq(int(p["count"]), value, "count")
                    elif name.endswith("_sum"):
                        eq(num(p["sum"]), value, "sum")
            else:
                qs = {num(q["quantile"]): num(q["value"]) for q in p.get("quantileValues", [])}
                for name, special, value in samples:
                    if "quantile" in special:
                        eq(qs.get(float(special["quantile"]), math.nan), value,
                           "quantile " + special["quantile"])
                    elif name.endswith("_count"):
                        eq(int(p.get("count", "0")), value, "count")
                    else:
                        eq(num(p.get("sum", 0)), value, "sum")
            checked += len(samples)
    if resource != seen_resource:
        fail("resource %s, text's constant labels %s" % (resource, seen_resource))
    expo = metrics.pop("zmq_message_latency_exponential_seconds", None)
    if expo is None:
        fail("no exponential histogram")
    for p in expo["exponentialHistogram"]["dataPoints"]:
        total = int(p.get("zeroCount", "0")) + sum(int(c) for c in p.get("positive", {}).get("bucketCounts", []))
        if total != int(p["count"]) or p.get("scale") != 3:
            fail("exponential histogram: %s" % json.dumps(p)[:500])
    if metrics:
        fail("pushed but not in the text: %s" % sorted(metrics))
    failures = metrics_fail = None
    for fam in text_string_to_metric_families(text):
        if fam.name == "zmqobs_otlp_push_failures":
            failures = fam.samples[0].value
    if failures is None:
        fail("no zmqobs_otlp_push_failures_total")
    if len(sys.argv) > 3 and failures < float(sys.argv[3]):
        fail("%d failed pushes counted, at least %s expected" % (failures, sys.argv[3]))
    print("otlp_check: %d pushes, the last one matches the text exposition (%d samples), "
          "%d failed pushes counted" % (len(lines), checked, failures))


main()
