/*
 * fmt_proto.c - the Prometheus protobuf exposition ("application/
 * vnd.google.protobuf; proto=io.prometheus.client.MetricFamily;
 * encoding=delimited"): the families of fmt_prom.c, in its order, each
 * series turned into a zmqobs_pb_metric_t and written by pbwire.c.
 *
 * Each value is read once, as its series is written (the sockets from
 * the snapshot every format takes once per scrape, the native buckets
 * and the application metrics live), and a family's length prefix is
 * filled in when the family is complete (pbwire.h). A family with no
 * series is left out: Prometheus 2.42 looks at a histogram family's
 * first series to tell a native histogram from a classic one.
 *
 * SPDX-License-Identifier: MIT
 */
#include "fmt_proto.h"

#include "appmetric.h"
#include "exemplar.h"
#include "fmt_peers.h"
#include "peers.h"
#include "pbwire.h"

#include <math.h>
#include <string.h>

#define NAME_BUF 224

typedef struct {
    zmqobs_out_t *o;
    zmqobs_t *obs;
    zmqobs_pb_label_t consts[ZMQOBS_LABELS_MAX];
    size_t nconsts;
    /* the family being written: opened by its first series */
    char name[NAME_BUF];
    size_t name_len;
    const char *help;
    int type;
    int open;
    size_t start;
    zmqobs_native_t nat; /* the current series' native buckets */
} pc_t;

static void family (pc_t *c, int prefixed, const char *base, const char *suffix, const char *help,
                    int type)
{
    size_t n = 0;
    if (prefixed) {
        n = strlen (c->obs->prefix);
        memcpy (c->name, c->obs->prefix, n);
    }
    size_t b = strlen (base), sl = strlen (suffix);
    memcpy (c->name + n, base, b);
    memcpy (c->name + n + b, suffix, sl);
    c->name_len = n + b + sl;
    c->help = help;
    c->type = type;
    c->open = 0;
}

static void emit (pc_t *c, zmqobs_pb_metric_t *m)
{
    if (!c->open) {
        c->start = zmqobs__pb_family_begin (c->o, c->name, c->name_len, c->help, strlen (c->help),
                                            c->type);
        c->open = 1;
    }
    m->labels2 = c->consts;
    m->nlabels2 = c->nconsts;
    zmqobs__pb_metric (c->o, m);
}

static void family_end (pc_t *c)
{
    if (c->open)
        zmqobs__pb_family_end (c->o, c->start);
    c->open = 0;
}

static zmqobs_pb_label_t label (const char *name, const char *value, size_t value_len)
{
    zmqobs_pb_label_t l = {name, strlen (name), value, value_len};
    return l;
}

/* Seconds from ns, as the text formats' exact decimal reads back. */
static double secs (uint64_t ns)
{
    return zmqobs__secs_double (ns);
}

/* One series of a socket family: the socket's labels, then up to two
 * more (op and error, event, reason). */
static void socket_series (pc_t *c, const zmqobs_socket_t *s, zmqobs_pb_metric_t *m,
                           const zmqobs_pb_label_t *extra, size_t nextra)
{
    zmqobs_pb_label_t l[4];
    const char *type = zmqobs_socket_type_name (s->type);
    l[0] = label ("socket", s->name, s->name_len);
    l[1] = label ("type", type, strlen (type));
    for (size_t i = 0; i < nextra; i++)
        l[2 + i] = extra[i];
    m->labels = l;
    m->nlabels = 2 + nextra;
    emit (c, m);
}

static void socket_value (pc_t *c, const zmqobs_socket_t *s, int type, double v,
                          const zmqobs_pb_label_t *extra, size_t nextra)
{
    zmqobs_pb_metric_t m;
    memset (&m, 0, sizeof m);
    m.type = type;
    m.value = v;
    socket_series (c, s, &m, extra, nextra);
}

static void socket_latency (pc_t *c, const zmqobs_socket_t *s)
{
    const zmqobs_stats_t *st = &s->scrape;
    double ub[ZMQOBS_BUCKETS_MAX + 1];
    uint64_t cum[ZMQOBS_BUCKETS_MAX + 1];
    uint64_t total = 0;
    for (uint32_t i = 0; i <= st->bucket_count; i++) {
        total += st->buckets[i];
        cum[i] = total;
        ub[i] = i < st->bucket_count ? secs (st->bounds_ns[i]) : INFINITY;
    }
    /* each bucket's exemplar, if any */
    zmqobs_exemplar_t ex[ZMQOBS_BUCKETS_MAX + 1];
    zmqobs_pb_exemplar_t pex[ZMQOBS_BUCKETS_MAX + 1];
    int any = 0;
    for (uint32_t i = 0; i <= st->bucket_count; i++) {
        memset (&pex[i], 0, sizeof pex[i]);
        if (!zmqobs__exemplar_read (s, i, &ex[i]))
            continue;
        pex[i] = (zmqobs_pb_exemplar_t) {"trace_id",   8, ex[i].id, ex[i].len, secs (ex[i].ns),
                                         ex[i].wall_ns};
        any = 1;
    }
    zmqobs_pb_metric_t m;
    memset (&m, 0, sizeof m);
    m.type = ZMQOBS__PB_HISTOGRAM;
    m.ex = any ? pex : NULL;
    m.count = total;
    m.sum = secs (st->latency_sum_ns);
    m.nb = st->bucket_count + 1;
    m.ub = ub;
    m.cum = cum;
    if (c->obs->native) {
        /* acquire: pairs with the CAS that published the zeroed buckets */
        const uint64_t *slots = __atomic_load_n (&s->hot.native, __ATOMIC_ACQUIRE);
        zmqobs__native_read (slots, c->obs->native_schema, &c->nat);
        m.nat = &c->nat;
        /* read after the snapshot: the count of the native part, which
         * must equal its buckets plus its zero bucket, includes samples
         * recorded since */
        if (c->nat.count > m.count)
            m.count = c->nat.count;
    }
    socket_series (c, s, &m, NULL, 0);
}

static void socket_window (pc_t *c, const zmqobs_socket_t *s)
{
    static const double q[5] = {0.5, 0.9, 0.95, 0.99, 0.999};
    const zmqobs_window_t *w = &s->scrape.window;
    const uint64_t vals[5] = {w->p50_ns, w->p90_ns, w->p95_ns, w->p99_ns, w->p999_ns};
    double qv[5];
    for (int i = 0; i < 5; i++)
        qv[i] = w->count ? secs (vals[i]) : NAN;
    zmqobs_pb_metric_t m;
    memset (&m, 0, sizeof m);
    m.type = ZMQOBS__PB_SUMMARY;
    m.count = w->count;
    m.sum = secs (w->sum_ns);
    m.nq = 5;
    m.q = q;
    m.qv = qv;
    socket_series (c, s, &m, NULL, 0);
}

static const char *const op_names[2] = {"send", "recv"};

/* The series of one family for one socket, as fmt_prom.c writes them. */
static void socket_family (pc_t *c, int fam, const zmqobs_socket_t *s)
{
    const zmqobs_stats_t *st = &s->scrape;
    zmqobs_pb_label_t x[2];
    int C = ZMQOBS__PB_COUNTER, G = ZMQOBS__PB_GAUGE;
    switch (fam) {
    case F_MSGS_SENT:
        socket_value (c, s, C, (double) st->msgs_sent, NULL, 0);
        break;
    case F_MSGS_RECV:
        socket_value (c, s, C, (double) st->msgs_received, NULL, 0);
        break;
    case F_BYTES_SENT:
        socket_value (c, s, C, (double) st->bytes_sent, NULL, 0);
        break;
    case F_BYTES_RECV:
        socket_value (c, s, C, (double) st->bytes_received, NULL, 0);
        break;
    case F_RECONNECTS:
        socket_value (c, s, C, (double) st->reconnects, NULL, 0);
        break;
    case F_MALFORMED:
        socket_value (c, s, C, (double) st->malformed_events, NULL, 0);
        break;
    case F_ERRORS:
        /* slot 0 is EAGAIN: it has its own family */
        for (int op = 0; op < 2; op++)
            for (unsigned i = 1; i < ZMQOBS_ERRNO_SLOTS; i++) {
                if (!st->errors[op][i] || !zmqobs__errno_names[i].name)
                    continue;
                x[0] = label ("op", op_names[op], 4);
                x[1] = label ("error", zmqobs__errno_names[i].name, zmqobs__errno_names[i].len);
                socket_value (c, s, C, (double) st->errors[op][i], x, 2);
            }
        break;
    case F_WOULD_BLOCK:
        for (int op = 0; op < 2; op++) {
            x[0] = label ("op", op_names[op], 4);
            socket_value (c, s, C, (double) st->errors[op][0], x, 1);
        }
        break;
    case F_EVENTS:
        for (unsigned i = 0; i < ZMQOBS_EVENT_SLOTS; i++) {
            if (!zmqobs__event_names[i].name)
                continue;
            x[0] = label ("event", zmqobs__event_names[i].name, zmqobs__event_names[i].len);
            socket_value (c, s, C, (double) st->events[i], x, 1);
        }
        break;
    case F_HANDSHAKE:
        for (unsigned i = 0; i < ZMQOBS_HANDSHAKE_SLOTS; i++) {
            if (!st->handshake_failures[i] || !zmqobs__handshake_names[i].name)
                continue;
            x[0] =
                label ("reason", zmqobs__handshake_names[i].name, zmqobs__handshake_names[i].len);
            socket_value (c, s, C, (double) st->handshake_failures[i], x, 1);
        }
        break;
    case F_CONNECTIONS:
        socket_value (c, s, G, (double) st->connections, NULL, 0);
        break;
    case F_LISTENING:
        socket_value (c, s, G, (double) st->listening, NULL, 0);
        break;
    case F_MONITOR_UP:
        socket_value (c, s, G, st->monitor_up ? 1.0 : 0.0, NULL, 0);
        break;
    case F_QUEUE_DEPTH:
        socket_value (c, s, G, (double) st->queue_depth, NULL, 0);
        break;
    case F_SNDHWM:
        socket_value (c, s, G, (double) st->sndhwm, NULL, 0);
        break;
    case F_RCVHWM:
        socket_value (c, s, G, (double) st->rcvhwm, NULL, 0);
        break;
    case F_PROXY_IN_FLIGHT:
        if (st->proxy) /* only proxies' frontends have it */
            socket_value (c, s, G, (double) st->proxy_in_flight, NULL, 0);
        break;
    case F_LATENCY:
        socket_latency (c, s);
        break;
    case F_WINDOW:
        socket_window (c, s);
        break;
    default:
        break;
    }
}

static int pb_type (enum kind k)
{
    static const int t[] = {ZMQOBS__PB_COUNTER, ZMQOBS__PB_GAUGE, ZMQOBS__PB_HISTOGRAM,
                            ZMQOBS__PB_SUMMARY};
    return t[k];
}

/* The per-peer families, as fmt_prom.c writes them: each table copied
 * once per scrape into its scratch, "other" after the tracked peers. */
static void peers (pc_t *c, zmqobs_socket_t *const *socks, size_t n)
{
    if (!zmqobs__peers_snap_all (socks, n))
        return;
    for (int fam = 0; fam < PF_COUNT; fam++) {
        const family_t *f = &zmqobs__peer_families[fam];
        family (c, 1, f->base, f->kind == COUNTER ? "_total" : "", f->help, pb_type (f->kind));
        for (size_t i = 0; i < n; i++) {
            const zmqobs_socket_t *s = socks[i];
            if (!s->peers)
                continue;
            const zmqobs_peer_stats_t *buf = zmqobs__peers_scratch (s->peers);
            size_t np = zmqobs__peers_snap_len (s->peers);
            if (fam == PF_TRACKED) {
                socket_value (c, s, ZMQOBS__PB_GAUGE, (double) np, NULL, 0);
                continue;
            }
            for (size_t k = 0; k <= np; k++) { /* buf[np] is "other" */
                const zmqobs_peer_stats_t *d = &buf[k];
                zmqobs_pb_label_t x = label ("peer", d->peer, strlen (d->peer));
                uint64_t v = zmqobs__peer_value (d, fam);
                socket_value (c, s, ZMQOBS__PB_COUNTER, (double) v, &x, 1);
            }
        }
        family_end (c);
    }
}

static void sockets (pc_t *c, zmqobs_socket_t *const *socks, size_t n)
{
    int any_proxy = 0;
    for (size_t i = 0; i < n; i++) {
        zmqobs__socket_snapshot (socks[i], &socks[i]->scrape);
        any_proxy |= socks[i]->scrape.proxy;
    }
    for (int fam = 0; fam < F_SOCKET_COUNT; fam++) {
        const family_t *f = &zmqobs__socket_families[fam];
        if (fam == F_PROXY_IN_FLIGHT && !any_proxy)
            continue;
        family (c, 1, f->base, f->kind == COUNTER ? "_total" : "", f->help, pb_type (f->kind));
        for (size_t i = 0; i < n; i++)
            socket_family (c, fam, socks[i]);
        family_end (c);
    }
}

#define FOR_EACH(it, head) \
    for (const zmqobs_dlink_t *it = (head)->next; it != (head); it = it->next)

static void application (pc_t *c)
{
    FOR_EACH (fl, &c->obs->app_families)
    {
        const zmqobs_app_family_t *f = ZMQOBS__CONTAINER (fl, zmqobs_app_family_t, link);
        int counter = f->kind == ZMQOBS__APP_COUNTER;
        int type = counter                        ? ZMQOBS__PB_COUNTER
                   : f->kind == ZMQOBS__APP_GAUGE ? ZMQOBS__PB_GAUGE
                                                  : ZMQOBS__PB_HISTOGRAM;
        /* the name and help are the family's own, bounded by creation */
        family (c, 1, f->name, counter ? "_total" : "", f->help, type);
        FOR_EACH (ml, &f->series)
        {
            const zmqobs_metric_t *mt = ZMQOBS__CONTAINER (ml, zmqobs_metric_t, link);
            zmqobs_pb_label_t l[ZMQOBS_METRIC_LABELS_MAX];
            for (size_t i = 0; i < mt->nlabels; i++)
                l[i] = label (mt->label_names[i], mt->label_values[i], mt->label_value_lens[i]);
            zmqobs_pb_metric_t m;
            memset (&m, 0, sizeof m);
            m.type = type;
            m.labels = l;
            m.nlabels = mt->nlabels;
            uint64_t counts[ZMQOBS_BUCKETS_MAX + 1];
            uint64_t cum[ZMQOBS_BUCKETS_MAX + 1];
            double ub[ZMQOBS_BUCKETS_MAX + 1];
            if (counter)
                m.value = (double) zmqobs__app_u64 (mt);
            else if (f->kind == ZMQOBS__APP_GAUGE)
                m.value = zmqobs__app_double (mt);
            else {
                m.sum = zmqobs__app_hist (mt, counts);
                uint64_t total = 0;
                for (uint32_t i = 0; i <= f->nbounds; i++) {
                    total += counts[i];
                    cum[i] = total;
                    ub[i] = i < f->nbounds ? f->bounds[i] : INFINITY;
                }
                m.count = total;
                m.nb = f->nbounds + 1;
                m.ub = ub;
                m.cum = cum;
            }
            emit (c, &m);
        }
        family_end (c);
    }
}

static void process (pc_t *c, const zmqobs__process_t *p)
{
    for (int i = 0; i < P_COUNT; i++) {
        if (!(p->have & (1u << i)))
            continue;
        const family_t *f = &zmqobs__process_families[i];
        family (c, 0, f->base, f->kind == COUNTER ? "_total" : "", f->help, pb_type (f->kind));
        zmqobs_pb_metric_t m;
        memset (&m, 0, sizeof m);
        m.type = pb_type (f->kind);
        static const size_t field[P_COUNT] = {[P_CPU] = offsetof (zmqobs__process_t, cpu_ns),
                                              [P_OPEN_FDS] = offsetof (zmqobs__process_t, open_fds),
                                              [P_MAX_FDS] = offsetof (zmqobs__process_t, max_fds),
                                              [P_VMEM] =
                                                  offsetof (zmqobs__process_t, virtual_bytes),
                                              [P_RSS] =
                                                  offsetof (zmqobs__process_t, resident_bytes),
                                              [P_START] =
                                                  offsetof (zmqobs__process_t, start_time_ns),
                                              [P_THREADS] = offsetof (zmqobs__process_t, threads)};
        uint64_t v;
        memcpy (&v, (const char *) p + field[i], sizeof v);
        m.value = i == P_CPU || i == P_START ? secs (v) : (double) v;
        emit (c, &m);
        family_end (c);
    }
}

void zmqobs__fmt_proto (zmqobs_out_t *o, zmqobs_t *obs, zmqobs_socket_t *const *socks, size_t n,
                        const zmqobs__process_t *p)
{
    pc_t c;
    c.o = o;
    c.obs = obs;
    c.open = 0;
    c.nconsts = obs->label_count;
    for (size_t i = 0; i < obs->label_count; i++)
        c.consts[i] =
            label (obs->label_names[i], obs->label_values[i], strlen (obs->label_values[i]));
    sockets (&c, socks, n);
    peers (&c, socks, n);
    application (&c);
    if (p)
        process (&c, p);
}
