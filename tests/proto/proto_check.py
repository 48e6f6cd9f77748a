"""Decodes a libzmqobs protobuf exposition independently and checks it.

Usage: proto_check.py METRICS_PROTO PB_FILE PROM_FILE [SAMPLES_FILE SCHEMA [OM_FILE]]

METRICS_PROTO is Prometheus's metrics.proto (Debian's
golang-github-prometheus-client-model-dev); it is compiled with protoc
into a temporary directory and the bytes of PB_FILE are parsed as
varint-delimited io.prometheus.client.MetricFamily messages by the
generated classes of python3-protobuf. Every family and every sample must
match PROM_FILE, the text 0.0.4 exposition of the same state (parsed with
prometheus_client), value for value: names, HELP, TYPE, label sets,
values. With SAMPLES_FILE (one latency in ns per line, the samples behind
the native histogram of the latency family) and SCHEMA, the native part is
recomputed here, bucket by bucket, with exact integer arithmetic, and must
equal the decoded spans, deltas, zero count, count and sum. With OM_FILE
(the OpenMetrics exposition, parsed with prometheus_client), the latency
buckets' exemplars must be the same in both, and each must be the latest
of the samples recorded with an exemplar (samples 7, 107, 207, ..., trace
id the sample's number in hex) that fall in its bucket, with its exact
value. Exits 1 with a message on the first difference.
"""
import math
import os
import shutil
import subprocess
import sys
import tempfile

from prometheus_client.parser import text_string_to_metric_families


def fail(msg):
    print("proto_check: " + msg)
    sys.exit(1)


def load_classes(proto):
    tmp = tempfile.mkdtemp(prefix="zmqobs-proto.")
    try:
        subprocess.check_call(["protoc", "-I", os.path.dirname(proto), "-I", "/usr/include",
                               "--python_out=" + tmp, proto])
        sys.path.insert(0, tmp)
        import metrics_pb2  # noqa: E402
        return metrics_pb2
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_varint(data, i):
    shift = value = 0
    while True:
        if i >= len(data):
            fail("varint runs past the end at %d" % i)
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i
        if shift >= 64:
            fail("varint too long")


def decode(pb, data):
    fams, i = [], 0
    while i < len(data):
        n, i = read_varint(data, i)
        if i + n > len(data):
            fail("family of %d bytes runs past the end" % n)
        mf = pb.MetricFamily()
        mf.ParseFromString(data[i:i + n])
        if mf.ByteSize() != n and len(mf.SerializeToString()) != n:
            fail("family %s: %d bytes, re-encoded %d" % (mf.name, n, mf.ByteSize()))
        fams.append(mf)
        i += n
    return fams


def key(name, labels):
    return (name, tuple(sorted(labels.items())))


def fnum(s):
    return float(s)


def samples_of(pb, fams):
    types = {pb.COUNTER: "counter", pb.GAUGE: "gauge", pb.SUMMARY: "summary",
             pb.HISTOGRAM: "histogram"}
    meta, out = {}, {}

    def put(name, labels, v):
        k = key(name, labels)
        if k in out:
            fail("duplicate series %s %s" % k)
        out[k] = v
    for mf in fams:
        if mf.name in meta:
            fail("family %s twice" % mf.name)
        if not mf.metric:
            fail("family %s without a series" % mf.name)
        meta[mf.name] = (types[mf.type], mf.help)
        for m in mf.metric:
            labels = {lp.name: lp.value for lp in m.label}
            if len(labels) != len(m.label):
                fail("label twice in %s" % mf.name)
            if mf.type == pb.COUNTER:
                put(mf.name, labels, m.counter.value)
            elif mf.type == pb.GAUGE:
                put(mf.name, labels, m.gauge.value)
            elif mf.type == pb.SUMMARY:
                for q in m.summary.quantile:
                    put(mf.name, dict(labels, quantile=repr(q.quantile)), q.value)
                put(mf.name + "_sum", labels, m.summary.sample_sum)
                put(mf.name + "_count", labels, float(m.summary.sample_count))
            else:
                h = m.histogram
                prev = 0
                for b in h.bucket:
                    if b.cumulative_count < prev:
                        fail("%s: buckets not cumulative" % mf.name)
                    prev = b.cumulative_count
                    put(mf.name + "_bucket", dict(labels, le=repr(b.upper_bound)),
                        float(b.cumulative_count))
                if not h.bucket or h.bucket[-1].upper_bound != math.inf:
                    fail("%s: no +Inf bucket" % mf.name)
                put(mf.name + "_sum", labels, h.sample_sum)
                put(mf.name + "_count", labels, float(h.sample_count))
    return meta, out


def text_samples(path):
    meta, out = {}, {}
    with open(path) as f:
        text = f.read()
    for fam in text_string_to_metric_families(text):
        name = fam.name + ("_total" if fam.type == "counter" else "")
        if not fam.samples:
            continue
        meta[name] = (fam.type, fam.documentation)
        for s in fam.samples:
            labels = dict(s.labels)
            for special in ("le", "quantile"):
                if special in labels:
                    labels[special] = repr(fnum(labels[special]))
            k = key(s.name, labels)
            if k in out:
                fail("duplicate text series %s %s" % k)
            out[k] = s.value
    return meta, out


# The process metrics are read anew by each scrape, so the text and the
# protobuf scrape may see a few more pages, fds or CPU ticks: those are
# compared within a bound, every other value exactly.
MOVING = {"process_resident_memory_bytes": 4 << 20, "process_virtual_memory_bytes": 64 << 20,
          "process_cpu_seconds_total": 0.5, "process_open_fds": 4}


def same(name, a, b):
    if name in MOVING:
        return abs(a - b) <= MOVING[name]
    return a == b or (math.isnan(a) and math.isnan(b))


def native_expected(samples, schema):
    """Bucket index of each sample at schema, exactly: the least i with
    ns <= 1e9 * 2^(i / 2^schema), i.e. ns^k <= 10^(9k) * 2^i, k = 2^schema
    (for schema < 0, ns <= 1e9 * 2^(i * 2^-schema))."""
    zero, buckets = 0, {}
    for ns in samples:
        if ns == 0:
            zero += 1
            continue
        if schema >= 0:
            k = 1 << schema
            lhs, rhs0 = ns ** k, 10 ** (9 * k)
            i = math.ceil(k * math.log2(ns / 1e9)) - 2
            while not (lhs <= rhs0 * 2 ** i if i >= 0 else lhs * 2 ** -i <= rhs0):
                i += 1
        else:
            step = 1 << -schema
            i = math.floor(math.log2(ns / 1e9) / step) - 2
            while not (ns <= 10 ** 9 * 2 ** (i * step) if i * step >= 0
                       else ns * 2 ** (-i * step) <= 10 ** 9):
                i += 1
        buckets[i] = buckets.get(i, 0) + 1
    return zero, buckets


def check_native(h, samples, schema):
    if h.schema != schema:
        fail("schema %d, expected %d" % (h.schema, schema))
    if h.zero_threshold != 2.0 ** -30:
        fail("zero threshold %r" % h.zero_threshold)
    zero, want = native_expected(samples, schema)
    got, idx, count = {}, 0, 0
    deltas = list(h.positive_delta)
    for n, span in enumerate(h.positive_span):
        if n and span.offset < 1:
            fail("span %d: offset %d leaves no gap" % (n, span.offset))
        idx = span.offset if n == 0 else idx + span.offset
        for _ in range(span.length):
            if not deltas:
                fail("fewer deltas than span buckets")
            count += deltas.pop(0)
            if count <= 0:
                fail("an empty or negative bucket %d in a span" % idx)
            got[idx] = count
            idx += 1
    if deltas:
        fail("more deltas than span buckets")
    if h.negative_span or h.negative_delta:
        fail("negative buckets")
    if got != want:
        fail("native buckets differ: got %s, want %s" % (sorted(got.items()),
                                                          sorted(want.items())))
    if h.zero_count != zero:
        fail("zero count %d, expected %d" % (h.zero_count, zero))
    if h.sample_count != len(samples):
        fail("count %d, expected %d" % (h.sample_count, len(samples)))
    if h.sample_sum != sum(samples) / 1e9:
        fail("sum %r, expected %r" % (h.sample_sum, sum(samples) / 1e9))
    return len(got)


def main():
    if len(sys.argv) not in (4, 6, 7):
        fail(__doc__)
    pb = load_classes(sys.argv[1])
    with open(sys.argv[2], "rb") as f:
        data = f.read()
    fams = decode(pb, data)
    pmeta, psamples = samples_of(pb, fams)
    tmeta, tsamples = text_samples(sys.argv[3])
    if pmeta != tmeta:
        diff = set(pmeta.items()) ^ set(tmeta.items())
        fail("families differ: %s" % sorted(diff))
    if set(psamples) != set(tsamples):
        fail("series differ: only protobuf %s; only text %s"
             % (sorted(set(psamples) - set(tsamples))[:5], sorted(set(tsamples) - set(psamples))[:5]))
    for k, v in psamples.items():
        if not same(k[0], v, tsamples[k]):
            fail("%s: protobuf %r, text %r" % (k, v, tsamples[k]))
    msg = "%d families, %d samples identical" % (len(fams), len(psamples))
    if len(sys.argv) >= 6:
        with open(sys.argv[4]) as f:
            samples = [int(line) for line in f if line.strip()]
        schema = int(sys.argv[5])
        lat = [mf for mf in fams if mf.name.endswith("zmq_message_latency_seconds")]
        if len(lat) != 1 or len(lat[0].metric) != 1:
            fail("one latency series expected")
        n = check_native(lat[0].metric[0].histogram, samples, schema)
        msg += "; native schema %d: %d buckets identical" % (schema, n)
    if len(sys.argv) == 7:
        msg += "; %d exemplars identical" % check_exemplars(lat[0].metric[0].histogram, samples,
                                                            sys.argv[6])
    print("proto_check: " + msg)


def check_exemplars(h, samples, om_path):
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
    with open(om_path) as f:
        text = f.read()
    om = {}
    for fam in om_parse(text):
        for s in fam.samples:
            if s.exemplar:
                if not fam.name.endswith("zmq_message_latency_seconds"):
                    fail("exemplar on %s" % s.name)
                ts = s.exemplar.timestamp
                om[float(s.labels["le"])] = (dict(s.exemplar.labels), s.exemplar.value,
                                             (ts.sec, ts.nsec))
    pb = {}
    for b in h.bucket:
        if b.HasField("exemplar"):
            e = b.exemplar
            pb[b.upper_bound] = ({lp.name: lp.value for lp in e.label}, e.value,
                                 (e.timestamp.seconds, e.timestamp.nanos))
    if om != pb:
        fail("exemplars differ: OpenMetrics %s, protobuf %s" % (om, pb))
    # the expected exemplar of each bucket: its latest sample with one
    bounds = sorted(pb) if pb else []
    les = [b.upper_bound for b in h.bucket]
    want = {}
    for i in range(7, len(samples), 100):
        le = next(x for x in les if samples[i] / 1e9 <= x)
        want[le] = ({"trace_id": "%032x" % i}, samples[i] / 1e9)
    got = {le: (labels, v) for le, (labels, v, _) in pb.items()}
    if got != want:
        fail("exemplars %s, expected %s" % (sorted(got.items()), sorted(want.items())))
    return len(bounds)


main()
