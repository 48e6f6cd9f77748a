"""Checks one exposition written by libzmqobs, for tests/test_expose.c.

Usage: expose_check.py FORMAT FILE [NAMES_HEX_FILE]

FORMAT is prom (text 0.0.4), om (OpenMetrics 1.0.0), json or text. The
file is parsed by the reference parser of its format (prometheus_client's
text and OpenMetrics parsers, the json module), then checked for what
those parsers let through: duplicate series, families split apart, HELP
or TYPE twice, histogram buckets unsorted, not cumulative, without +Inf
or with +Inf different from _count (in OpenMetrics, a histogram with
negative buckets must have neither _sum nor _count). With NAMES_HEX_FILE
(one socket name per line, hex of its UTF-8 bytes), the socket names read
back must be exactly those names. Prints what is wrong and exits 1, else
exits 0.
"""
import json
import math
import re
import sys

SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum")
ESCAPES = {"\\\\": "\\", "\\n": "\n", '\\"': '"'}


def fail(msg):
    print("expose_check: " + msg)
    sys.exit(1)


def parse_labels(text, i, line):
    """Parses {a="b",...} starting at text[i] == '{'; returns (dict, end)."""
    labels = {}
    i += 1
    while True:
        if text[i] == "}":
            return labels, i + 1
        m = re.match(r"[a-zA-Z_][a-zA-Z0-9_]*", text[i:])
        if not m:
            fail("bad label name: " + line)
        name = m.group(0)
        i += len(name)
        if text[i:i + 2] != '="':
            fail("bad label: " + line)
        i += 2
        value = []
        while text[i] != '"':
            if text[i] == "\\":
                esc = text[i:i + 2]
                if esc not in ESCAPES:
                    fail("bad escape in label value: " + line)
                value.append(ESCAPES[esc])
                i += 2
            else:
                value.append(text[i])
                i += 1
        i += 1
        if name in labels:
            fail("label twice: " + line)
        labels[name] = "".join(value)
        if text[i] == ",":
            i += 1


def own_checks(text, om):
    if om:
        if not text.endswith("# EOF\n"):
            fail("OpenMetrics output does not end with # EOF")
    elif not text.endswith("\n"):
        fail("output does not end with a newline")
    lines = text[:-1].split("\n")
    types = {}
    helps = set()
    closed = set()
    current = None
    series = set()
    samples = []
    for line in lines:
        if line == "":
            fail("blank line")
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if line == "# EOF":
                continue
            if len(parts) < 4 or parts[1] not in ("HELP", "TYPE", "UNIT"):
                fail("bad comment line: " + line)
            fam = parts[2]
            if fam != current:
                if fam in closed or fam in types or fam in helps:
                    fail("family split apart: " + fam)
                if current is not None:
                    closed.add(current)
                current = fam
            if parts[1] == "TYPE":
                if fam in types:
                    fail("TYPE twice: " + fam)
                types[fam] = parts[3]
            elif parts[1] == "HELP":
                if fam in helps:
                    fail("HELP twice: " + fam)
                helps.add(fam)
            continue
        m = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line)
        if not m:
            fail("bad sample line: " + line)
        name = m.group(0)
        i = len(name)
        labels = {}
        if line[i] == "{":
            labels, i = parse_labels(line, i, line)
        if line[i] != " ":
            fail("no value: " + line)
        value = line[i + 1:]
        if om and " # {" in value:
            # an exemplar (the reference parser has checked its syntax)
            if not name.endswith("_bucket"):
                fail("exemplar on a sample that is not a bucket: " + line)
            value = value.split(" # {", 1)[0]
        fam = name
        if fam not in types:
            for suf in SUFFIXES:
                if name.endswith(suf) and name[: -len(suf)] in types:
                    fam = name[: -len(suf)]
                    break
        if fam not in types:
            fail("sample without TYPE: " + line)
        if fam != current:
            fail("sample outside its family block: " + line)
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            fail("duplicate series: " + line)
        series.add(key)
        samples.append((fam, name, labels, value))
    # histogram invariants, per series (labels without le)
    hists = {}
    for fam, name, labels, value in samples:
        if types[fam] != "histogram":
            continue
        rest = {k: v for k, v in labels.items() if k != "le"}
        h = hists.setdefault((fam, tuple(sorted(rest.items()))),
                             {"buckets": [], "count": None, "sum": False})
        if name == fam + "_bucket":
            h["buckets"].append((labels["le"], float(value)))
        elif name == fam + "_count":
            h["count"] = float(value)
        elif name == fam + "_sum":
            h["sum"] = True
    for key, h in hists.items():
        b = h["buckets"]
        if not b or b[-1][0] != "+Inf":
            fail("histogram without +Inf bucket last: %r" % (key,))
        les = [float(le) for le, _ in b]
        if les != sorted(les) or len(set(les)) != len(les):
            fail("histogram buckets not sorted: %r" % (key,))
        counts = [c for _, c in b]
        if counts != sorted(counts):
            fail("histogram buckets not cumulative: %r" % (key,))
        # OpenMetrics: a histogram with negative buckets has no _sum (it
        # would not be a counter), and then no _count either
        if om and les[0] < 0 and h["count"] is None and not h["sum"]:
            continue
        if les[0] < 0 and om and h["sum"]:
            fail("OpenMetrics histogram with negative buckets has a _sum: %r" % (key,))
        if h["count"] is None or h["count"] != counts[-1]:
            fail("histogram +Inf bucket differs from _count: %r" % (key,))
    return samples


def main():
    fmt, path = sys.argv[1], sys.argv[2]
    raw = open(path, "rb").read()
    text = raw.decode("utf-8")  # raises on invalid UTF-8
    names = set()
    if fmt in ("prom", "om"):
        if fmt == "prom":
            from prometheus_client.parser import text_string_to_metric_families
        else:
            from prometheus_client.openmetrics.parser import text_string_to_metric_families
        families = list(text_string_to_metric_families(text))
        if not families:
            fail("no families")
        for fam in families:
            for s in fam.samples:
                if "socket" in s.labels:
                    names.add(s.labels["socket"])
                if s.name.endswith("_bucket") and math.isnan(s.value):
                    fail("NaN bucket")
        own = own_checks(text, fmt == "om")
        own_names = {labels["socket"] for _, _, labels, _ in own if "socket" in labels}
        if own_names != names:
            fail("parsers disagree on socket names")
    elif fmt == "json":
        doc = json.loads(text)
        for s in doc["sockets"]:
            names.add(s["name"])
    elif fmt == "text":
        dec = json.JSONDecoder()
        for line in text.split("\n"):
            if line.startswith("socket "):
                name, _ = dec.raw_decode(line, 7)
                names.add(name)
    else:
        fail("unknown format " + fmt)
    if len(sys.argv) > 3:
        want = set()
        for line in open(sys.argv[3]):
            line = line.strip()
            if line:
                want.add(bytes.fromhex(line).decode("utf-8"))
        if want != names:
            fail("socket names differ: want %r got %r" % (sorted(want), sorted(names)))
    sys.exit(0)


if __name__ == "__main__":
    main()
