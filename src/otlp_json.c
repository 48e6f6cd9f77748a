/*
 * otlp_json.c - every metric as an OTLP/JSON ExportMetricsServiceRequest
 * (opentelemetry-proto's JSON mapping: 64-bit integers as decimal
 * strings, enums as numbers, NaN and infinities as the strings "NaN",
 * "Infinity" and "-Infinity").
 *
 * One resource: service.name from the constant label "service", the other
 * constant labels as resource attributes; one scope, "libzmqobs". The
 * families of the text exposition, in its order, mapped so:
 *  - counters: monotonic cumulative sums named without _total, integers,
 *    starting at the attach (sockets), the creation (application) or the
 *    process start (process_cpu_seconds);
 *  - gauges: gauges;
 *  - the latency histogram: a cumulative explicit-bucket histogram (the
 *    per-bucket counts, bounds in seconds); with native_histograms also
 *    zmq_message_latency_exponential_seconds, a cumulative exponential
 *    histogram of the same native buckets (scale = the schema; OTLP's
 *    bucket i is (base^i, base^(i+1)], Prometheus's i + 1);
 *  - the window quantiles: a summary.
 * The socket, type and the other labels of a series are its data point's
 * attributes. Families without a series are left out.
 *
 * SPDX-License-Identifier: MIT
 */
#include "otlp_json.h"

#include "fmt_peers.h"
#include "peers.h"

#include "appmetric.h"
#include "native.h"
#include "pbwire.h"

#include <math.h>
#include <string.h>

typedef struct {
    zmqobs_out_t *o;
    zmqobs_t *obs;
    uint64_t now_ns;
    int first_metric; /* no metric written yet */
    int first_point;  /* no data point in the current metric yet */
    int open;         /* a metric is open */
    const char *name, *suffix, *help, *unit;
    int kind; /* COUNTER .. SUMMARY of fmt_common.h */
    int monotonic;
    zmqobs_native_t nat;
} oj_t;

static void put_lit (zmqobs_out_t *o, const char *s)
{
    zmqobs__put_str (o, s);
}

static void put_u64_str (zmqobs_out_t *o, uint64_t v)
{
    zmqobs__put_c (o, '"');
    zmqobs__put_u64 (o, v);
    zmqobs__put_c (o, '"');
}

/* A double: the shortest text that reads back the same; NaN and the
 * infinities as proto3's JSON strings. */
static void put_double (zmqobs_out_t *o, double v)
{
    if (isnan (v))
        put_lit (o, "\"NaN\"");
    else if (isinf (v))
        put_lit (o, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else {
        char num[ZMQOBS__DOUBLE_MAX];
        zmqobs__put (o, num, zmqobs__fmt_double (num, v, 0));
    }
}

static double secs (uint64_t ns)
{
    return zmqobs__secs_double (ns);
}

static void attr (zmqobs_out_t *o, int *first, const char *key, const char *v, size_t vl)
{
    if (!*first)
        zmqobs__put_c (o, ',');
    *first = 0;
    put_lit (o, "{\"key\":");
    zmqobs__put_json (o, key, strlen (key));
    put_lit (o, ",\"value\":{\"stringValue\":");
    zmqobs__put_json (o, v, vl);
    put_lit (o, "}}");
}

/* Opens a metric's entry when its first data point comes. */
static void metric (oj_t *c, int prefixed, const char *base, const char *help, const char *unit,
                    int kind)
{
    c->name = prefixed ? c->obs->prefix : "";
    c->suffix = base;
    c->help = help;
    c->unit = unit ? unit : "";
    c->kind = kind;
    c->open = 0;
}

static const char *const kinds[] = {"sum", "gauge", "histogram", "summary", "exponentialHistogram"};
enum { EXPONENTIAL = 4 };

static void point_begin (oj_t *c, uint64_t start_ns)
{
    zmqobs_out_t *o = c->o;
    if (!c->open) {
        if (!c->first_metric)
            zmqobs__put_c (o, ',');
        c->first_metric = 0;
        put_lit (o, "{\"name\":\"");
        put_lit (o, c->name);
        put_lit (o, c->suffix);
        put_lit (o, "\",\"description\":");
        zmqobs__put_json (o, c->help, strlen (c->help));
        put_lit (o, ",\"unit\":\"");
        put_lit (o, strcmp (c->unit, "seconds") == 0 ? "s"
                    : strcmp (c->unit, "bytes") == 0 ? "By"
                                                     : "");
        put_lit (o, "\",\"");
        put_lit (o, kinds[c->kind]);
        put_lit (o, "\":{\"dataPoints\":[");
        c->open = 1;
        c->first_point = 1;
    }
    if (!c->first_point)
        zmqobs__put_c (o, ',');
    c->first_point = 0;
    put_lit (o, "{\"attributes\":[");
    (void) start_ns;
}

/* Ends the attributes, writes the times. */
static void point_times (oj_t *c, uint64_t start_ns)
{
    zmqobs_out_t *o = c->o;
    put_lit (o, "]");
    if (c->kind != GAUGE) {
        put_lit (o, ",\"startTimeUnixNano\":");
        put_u64_str (o, start_ns);
    }
    put_lit (o, ",\"timeUnixNano\":");
    put_u64_str (o, c->now_ns);
}

static void metric_end (oj_t *c)
{
    if (!c->open)
        return;
    put_lit (c->o, "]");
    if (c->kind == COUNTER)
        put_lit (c->o, ",\"aggregationTemporality\":2,\"isMonotonic\":true");
    else if (c->kind == HISTOGRAM || c->kind == EXPONENTIAL)
        put_lit (c->o, ",\"aggregationTemporality\":2");
    put_lit (c->o, "}}");
    c->open = 0;
}

static void value_int (zmqobs_out_t *o, int64_t v)
{
    char num[24];
    put_lit (o, ",\"asInt\":\"");
    zmqobs__put (o, num, zmqobs__fmt_i64 (num, v));
    zmqobs__put_c (o, '"');
}

/* A counter's value: asInt while it fits an int64, else asDouble. */
static void value_count (zmqobs_out_t *o, uint64_t v)
{
    if (v <= (uint64_t) INT64_MAX)
        value_int (o, (int64_t) v);
    else {
        put_lit (o, ",\"asDouble\":");
        put_double (o, (double) v);
    }
}

static void socket_attrs (oj_t *c, const zmqobs_socket_t *s, const char *k1, const char *v1,
                          const char *k2, const char *v2)
{
    int first = 1;
    const char *type = zmqobs_socket_type_name (s->type);
    attr (c->o, &first, "socket", s->name, s->name_len);
    attr (c->o, &first, "type", type, strlen (type));
    if (k1)
        attr (c->o, &first, k1, v1, strlen (v1));
    if (k2)
        attr (c->o, &first, k2, v2, strlen (v2));
}

static void socket_count (oj_t *c, const zmqobs_socket_t *s, uint64_t v, const char *k1,
                          const char *v1, const char *k2, const char *v2)
{
    point_begin (c, 0);
    socket_attrs (c, s, k1, v1, k2, v2);
    point_times (c, s->scrape.attached_ns);
    value_count (c->o, v);
    zmqobs__put_c (c->o, '}');
}

static void socket_gauge (oj_t *c, const zmqobs_socket_t *s, int64_t v)
{
    point_begin (c, 0);
    socket_attrs (c, s, NULL, NULL, NULL, NULL);
    point_times (c, 0);
    value_int (c->o, v);
    zmqobs__put_c (c->o, '}');
}

static void buckets (zmqobs_out_t *o, const uint64_t *counts, size_t n)
{
    put_lit (o, ",\"bucketCounts\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            zmqobs__put_c (o, ',');
        put_u64_str (o, counts[i]);
    }
    zmqobs__put_c (o, ']');
}

static void socket_histogram (oj_t *c, const zmqobs_socket_t *s)
{
    const zmqobs_stats_t *st = &s->scrape;
    zmqobs_out_t *o = c->o;
    point_begin (c, 0);
    socket_attrs (c, s, NULL, NULL, NULL, NULL);
    point_times (c, st->attached_ns);
    uint64_t total = 0;
    for (uint32_t i = 0; i <= st->bucket_count; i++)
        total += st->buckets[i];
    put_lit (o, ",\"count\":");
    put_u64_str (o, total);
    put_lit (o, ",\"sum\":");
    put_double (o, secs (st->latency_sum_ns));
    buckets (o, st->buckets, st->bucket_count + 1);
    put_lit (o, ",\"explicitBounds\":[");
    for (uint32_t i = 0; i < st->bucket_count; i++) {
        if (i)
            zmqobs__put_c (o, ',');
        put_double (o, secs (st->bounds_ns[i]));
    }
    put_lit (o, "]}");
}

static void socket_exponential (oj_t *c, const zmqobs_socket_t *s)
{
    zmqobs_out_t *o = c->o;
    /* acquire: pairs with the CAS that published the zeroed buckets */
    const uint64_t *slots = __atomic_load_n (&s->hot.native, __ATOMIC_ACQUIRE);
    zmqobs__native_read (slots, c->obs->native_schema, &c->nat);
    const zmqobs_native_t *h = &c->nat;
    point_begin (c, 0);
    socket_attrs (c, s, NULL, NULL, NULL, NULL);
    point_times (c, s->scrape.attached_ns);
    put_lit (o, ",\"count\":");
    put_u64_str (o, h->count);
    /* the classic sum: the same samples, give or take those recorded
     * between the snapshot and this read */
    put_lit (o, ",\"sum\":");
    put_double (o, secs (s->scrape.latency_sum_ns));
    put_lit (o, ",\"scale\":");
    char num[24];
    zmqobs__put (o, num, zmqobs__fmt_i64 (num, h->schema));
    put_lit (o, ",\"zeroCount\":");
    put_u64_str (o, h->zero_count);
    put_lit (o, ",\"zeroThreshold\":");
    put_double (o, ZMQOBS__NATIVE_ZERO_THRESHOLD);
    if (h->nbuckets) {
        /* dense from the first populated bucket to the last */
        put_lit (o, ",\"positive\":{\"offset\":");
        zmqobs__put (o, num, zmqobs__fmt_i64 (num, (int64_t) h->index[0] - 1));
        put_lit (o, ",\"bucketCounts\":[");
        int32_t at = h->index[0];
        for (uint32_t b = 0; b < h->nbuckets; b++) {
            for (; at < h->index[b]; at++)
                put_lit (o, "\"0\",");
            put_u64_str (o, h->bucket[b]);
            if (b + 1 < h->nbuckets)
                zmqobs__put_c (o, ',');
            at++;
        }
        put_lit (o, "]}");
    }
    zmqobs__put_c (o, '}');
}

static void socket_summary (oj_t *c, const zmqobs_socket_t *s)
{
    static const double q[5] = {0.5, 0.9, 0.95, 0.99, 0.999};
    const zmqobs_window_t *w = &s->scrape.window;
    const uint64_t vals[5] = {w->p50_ns, w->p90_ns, w->p95_ns, w->p99_ns, w->p999_ns};
    zmqobs_out_t *o = c->o;
    point_begin (c, 0);
    socket_attrs (c, s, NULL, NULL, NULL, NULL);
    point_times (c, s->scrape.attached_ns);
    put_lit (o, ",\"count\":");
    put_u64_str (o, w->count);
    put_lit (o, ",\"sum\":");
    put_double (o, secs (w->sum_ns));
    /* an empty window has no quantiles (the text formats say NaN) */
    if (w->count) {
        put_lit (o, ",\"quantileValues\":[");
        for (int i = 0; i < 5; i++) {
            if (i)
                zmqobs__put_c (o, ',');
            put_lit (o, "{\"quantile\":");
            put_double (o, q[i]);
            put_lit (o, ",\"value\":");
            put_double (o, secs (vals[i]));
            zmqobs__put_c (o, '}');
        }
        zmqobs__put_c (o, ']');
    }
    zmqobs__put_c (o, '}');
}

static const char *const op_names[2] = {"send", "recv"};

static void socket_family (oj_t *c, int fam, const zmqobs_socket_t *s)
{
    const zmqobs_stats_t *st = &s->scrape;
    switch (fam) {
    case F_MSGS_SENT:
        socket_count (c, s, st->msgs_sent, NULL, NULL, NULL, NULL);
        break;
    case F_MSGS_RECV:
        socket_count (c, s, st->msgs_received, NULL, NULL, NULL, NULL);
        break;
    case F_BYTES_SENT:
        socket_count (c, s, st->bytes_sent, NULL, NULL, NULL, NULL);
        break;
    case F_BYTES_RECV:
        socket_count (c, s, st->bytes_received, NULL, NULL, NULL, NULL);
        break;
    case F_RECONNECTS:
        socket_count (c, s, st->reconnects, NULL, NULL, NULL, NULL);
        break;
    case F_MALFORMED:
        socket_count (c, s, st->malformed_events, NULL, NULL, NULL, NULL);
        break;
    case F_ERRORS:
        for (int op = 0; op < 2; op++)
            for (unsigned i = 1; i < ZMQOBS_ERRNO_SLOTS; i++)
                if (st->errors[op][i] && zmqobs__errno_names[i].name)
                    socket_count (c, s, st->errors[op][i], "op", op_names[op], "error",
                                  zmqobs__errno_names[i].name);
        break;
    case F_WOULD_BLOCK:
        for (int op = 0; op < 2; op++)
            socket_count (c, s, st->errors[op][0], "op", op_names[op], NULL, NULL);
        break;
    case F_EVENTS:
        for (unsigned i = 0; i < ZMQOBS_EVENT_SLOTS; i++)
            if (zmqobs__event_names[i].name)
                socket_count (c, s, st->events[i], "event", zmqobs__event_names[i].name, NULL,
                              NULL);
        break;
    case F_HANDSHAKE:
        for (unsigned i = 0; i < ZMQOBS_HANDSHAKE_SLOTS; i++)
            if (st->handshake_failures[i] && zmqobs__handshake_names[i].name)
                socket_count (c, s, st->handshake_failures[i], "reason",
                              zmqobs__handshake_names[i].name, NULL, NULL);
        break;
    case F_CONNECTIONS:
        socket_gauge (c, s, st->connections);
        break;
    case F_LISTENING:
        socket_gauge (c, s, (int64_t) st->listening);
        break;
    case F_MONITOR_UP:
        socket_gauge (c, s, st->monitor_up ? 1 : 0);
        break;
    case F_QUEUE_DEPTH:
        socket_gauge (c, s, st->queue_depth);
        break;
    case F_SNDHWM:
        socket_gauge (c, s, st->sndhwm);
        break;
    case F_RCVHWM:
        socket_gauge (c, s, st->rcvhwm);
        break;
    case F_PROXY_IN_FLIGHT:
        if (st->proxy) /* only proxies' frontends have it */
            socket_gauge (c, s, st->proxy_in_flight);
        break;
    case F_LATENCY:
        socket_histogram (c, s);
        break;
    case F_WINDOW:
        socket_summary (c, s);
        break;
    default:
        break;
    }
}

/* The per-peer metrics, as the Prometheus formats carry them: a peer's
 * counters start when it entered the table ("other"'s when tracking
 * began). Each table is copied once into its scratch. */
static void peers (oj_t *c, zmqobs_socket_t *const *socks, size_t n)
{
    if (!zmqobs__peers_snap_all (socks, n))
        return;
    for (int fam = 0; fam < PF_COUNT; fam++) {
        const family_t *f = &zmqobs__peer_families[fam];
        metric (c, 1, f->base, f->help, f->unit, f->kind);
        for (size_t i = 0; i < n; i++) {
            const zmqobs_socket_t *s = socks[i];
            if (!s->peers)
                continue;
            const zmqobs_peer_stats_t *buf = zmqobs__peers_scratch (s->peers);
            size_t np = zmqobs__peers_snap_len (s->peers);
            if (fam == PF_TRACKED) {
                socket_gauge (c, s, (int64_t) np);
                continue;
            }
            for (size_t k = 0; k <= np; k++) { /* buf[np] is "other" */
                const zmqobs_peer_stats_t *d = &buf[k];
                uint64_t v = zmqobs__peer_value (d, fam);
                point_begin (c, 0);
                socket_attrs (c, s, "peer", d->peer, NULL, NULL);
                point_times (c, d->first_seen_ns);
                value_count (c->o, v);
                zmqobs__put_c (c->o, '}');
            }
        }
        metric_end (c);
    }
}

#define FOR_EACH(it, head) \
    for (const zmqobs_dlink_t *it = (head)->next; it != (head); it = it->next)

static void application (oj_t *c)
{
    zmqobs_out_t *o = c->o;
    FOR_EACH (fl, &c->obs->app_families)
    {
        const zmqobs_app_family_t *f = ZMQOBS__CONTAINER (fl, zmqobs_app_family_t, link);
        int kind = f->kind == ZMQOBS__APP_COUNTER ? COUNTER
                   : f->kind == ZMQOBS__APP_GAUGE ? GAUGE
                                                  : HISTOGRAM;
        metric (c, 1, f->name, f->help, NULL, kind);
        FOR_EACH (ml, &f->series)
        {
            const zmqobs_metric_t *m = ZMQOBS__CONTAINER (ml, zmqobs_metric_t, link);
            point_begin (c, 0);
            int first = 1;
            for (size_t i = 0; i < m->nlabels; i++)
                attr (o, &first, m->label_names[i], m->label_values[i], m->label_value_lens[i]);
            point_times (c, m->created_wall_ns);
            if (kind == COUNTER)
                value_count (o, zmqobs__app_u64 (m));
            else if (kind == GAUGE) {
                put_lit (o, ",\"asDouble\":");
                put_double (o, zmqobs__app_double (m));
            } else {
                uint64_t counts[ZMQOBS_BUCKETS_MAX + 1], total = 0;
                double sum = zmqobs__app_hist (m, counts);
                for (uint32_t i = 0; i <= f->nbounds; i++)
                    total += counts[i];
                put_lit (o, ",\"count\":");
                put_u64_str (o, total);
                put_lit (o, ",\"sum\":");
                put_double (o, sum);
                buckets (o, counts, f->nbounds + 1);
                put_lit (o, ",\"explicitBounds\":[");
                for (uint32_t i = 0; i < f->nbounds; i++) {
                    if (i)
                        zmqobs__put_c (o, ',');
                    put_double (o, f->bounds[i]);
                }
                zmqobs__put_c (o, ']');
            }
            zmqobs__put_c (o, '}');
        }
        metric_end (c);
    }
}

static void process (oj_t *c, const zmqobs__process_t *p)
{
    zmqobs_out_t *o = c->o;
    for (int i = 0; i < P_COUNT; i++) {
        if (!(p->have & (1u << i)))
            continue;
        const family_t *f = &zmqobs__process_families[i];
        metric (c, 0, f->base, f->help, f->unit, f->kind);
        point_begin (c, 0);
        point_times (c, p->have & (1u << P_START) ? p->start_time_ns : c->obs->start_wall_ns);
        switch (i) {
        case P_CPU:
            put_lit (o, ",\"asDouble\":");
            put_double (o, secs (p->cpu_ns));
            break;
        case P_START:
            put_lit (o, ",\"asDouble\":");
            put_double (o, secs (p->start_time_ns));
            break;
        case P_OPEN_FDS:
            value_int (o, (int64_t) p->open_fds);
            break;
        case P_MAX_FDS:
            value_int (o, (int64_t) p->max_fds);
            break;
        case P_VMEM:
            value_int (o, (int64_t) p->virtual_bytes);
            break;
        case P_RSS:
            value_int (o, (int64_t) p->resident_bytes);
            break;
        default:
            value_int (o, (int64_t) p->threads);
            break;
        }
        zmqobs__put_c (o, '}');
        metric_end (c);
    }
}

void zmqobs__otlp_json (zmqobs_out_t *o, zmqobs_t *obs, zmqobs_socket_t *const *socks, size_t n,
                        const zmqobs__process_t *p, uint64_t now_ns)
{
    oj_t c;
    memset (&c, 0, sizeof c);
    c.o = o;
    c.obs = obs;
    c.now_ns = now_ns;
    c.first_metric = 1;
    put_lit (o, "{\"resourceMetrics\":[{\"resource\":{\"attributes\":[");
    int first = 1;
    for (size_t i = 0; i < obs->label_count; i++) {
        const char *key =
            strcmp (obs->label_names[i], "service") == 0 ? "service.name" : obs->label_names[i];
        attr (o, &first, key, obs->label_values[i], strlen (obs->label_values[i]));
    }
    put_lit (o, "]},\"scopeMetrics\":[{\"scope\":{\"name\":\"libzmqobs\",\"version\":\"");
    char num[24];
    zmqobs__put (o, num, zmqobs__fmt_u64 (num, ZMQOBS_VERSION_MAJOR));
    zmqobs__put_c (o, '.');
    zmqobs__put (o, num, zmqobs__fmt_u64 (num, ZMQOBS_VERSION_MINOR));
    zmqobs__put_c (o, '.');
    zmqobs__put (o, num, zmqobs__fmt_u64 (num, ZMQOBS_VERSION_PATCH));
    put_lit (o, "\"},\"metrics\":[");
    int any_proxy = 0;
    for (size_t i = 0; i < n; i++) {
        zmqobs__socket_snapshot (socks[i], &socks[i]->scrape);
        any_proxy |= socks[i]->scrape.proxy;
    }
    for (int fam = 0; fam < F_SOCKET_COUNT; fam++) {
        const family_t *f = &zmqobs__socket_families[fam];
        if (fam == F_PROXY_IN_FLIGHT && !any_proxy)
            continue;
        metric (&c, 1, f->base, f->help, f->unit, f->kind);
        for (size_t i = 0; i < n; i++)
            socket_family (&c, fam, socks[i]);
        metric_end (&c);
        if (fam == F_LATENCY && obs->native) {
            metric (&c, 1, "zmq_message_latency_exponential_seconds",
                    "Message latency since attach, in native (exponential) buckets.", "seconds",
                    EXPONENTIAL);
            for (size_t i = 0; i < n; i++)
                socket_exponential (&c, socks[i]);
            metric_end (&c);
        }
    }
    peers (&c, socks, n);
    application (&c);
    if (p)
        process (&c, p);
    put_lit (o, "]}]}]}");
}
