/*
 * fmt_prom.c - Prometheus text 0.0.4 and OpenMetrics 1.0.0.
 *
 * Families are walked outside and sockets inside, so that a family's
 * lines stay together; each socket is read once per scrape into its
 * snapshot. zmq_socket_events_total lists every known event with zeros
 * (rate() and alerts see a series from the start); zmq_errors_total and
 * zmq_handshake_failures_total list only nonzero slots; OpenMetrics
 * counters and histograms carry _created (the attach time); an empty
 * window's quantiles are NaN. Numbers are rendered from integers by
 * hand: printf follows LC_NUMERIC.
 *
 * SPDX-License-Identifier: MIT
 */
#include "fmt_common.h"

#include "exemplar.h"
#include "fmt_app.h"
#include "fmt_peers.h"

#include <sched.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Prometheus text 0.0.4 and OpenMetrics 1.0.0
 * ---------------------------------------------------------------------- */

/* Room for a metric name: prefix (< 128) + base + longest suffix. */
#define NAME_BUF 224
/* Escaped constant labels kept ready; longer ones are escaped per line. */
#define CONST_BUF 1024
/* "{socket=\"" + 2 x ZMQOBS_NAME_MAX + "\",type=\"" + type + "\"" + consts */
/* + ",peer=\"" + the escaped peer name + "\"" for the per-peer series */
#define LABEL_BUF (2 * ZMQOBS_NAME_MAX + 64 + CONST_BUF + 2 * ZMQOBS_PEER_NAME_MAX + 16)

typedef struct {
    zmqobs_out_t o;
    zmqobs_t *obs;
    int om; /* 1: OpenMetrics */
    const char *prefix;
    size_t prefix_len;
    /* constant labels, escaped, each with a leading comma */
    char cl[CONST_BUF];
    size_t cl_len;
    int cl_fits;
    /* label set of the current series: "{socket=..,type=..<consts>" */
    char lbl[LABEL_BUF];
    size_t lbl_len;
    /* le label text per bound, canonical for the format */
    char le[ZMQOBS_BUCKETS_MAX][48];
    size_t le_len[ZMQOBS_BUCKETS_MAX];
    const zmqobs_stats_t *st;      /* the current socket's snapshot */
    const zmqobs_socket_t *sock;   /* the current socket */
    zmqobs_socket_t *const *socks; /* the scrape's pinned sockets */
    size_t nsocks;
    unsigned yield_at; /* series written since the last yield */
} prom_t;

static void put_const_labels_slow (zmqobs_out_t *o, const zmqobs_t *obs, int skip_first_comma)
{
    for (size_t i = 0; i < obs->label_count; i++) {
        if (i > 0 || !skip_first_comma)
            zmqobs__put_c (o, ',');
        zmqobs__put_str (o, obs->label_names[i]);
        ZMQOBS__PUT_LIT (o, "=\"");
        zmqobs__esc_label (o, obs->label_values[i], strlen (obs->label_values[i]));
        zmqobs__put_c (o, '"');
    }
}

static void prom_init (prom_t *c, zmqobs_t *obs, int om, char *buf, size_t size)
{
    zmqobs__out_init (&c->o, buf, size);
    c->obs = obs;
    c->om = om;
    c->prefix = obs->prefix;
    c->prefix_len = strlen (obs->prefix);
    zmqobs_out_t t;
    zmqobs__out_init (&t, c->cl, sizeof c->cl);
    put_const_labels_slow (&t, obs, 0);
    c->cl_len = t.len;
    c->cl_fits = t.len <= t.cap;
    for (uint32_t i = 0; i < obs->bucket_count; i++) {
        char *d = c->le[i];
        memcpy (d, ",le=\"", 5);
        size_t n = 5 + zmqobs__fmt_bound (d + 5, obs->bounds[i], om);
        d[n++] = '"';
        c->le_len[i] = n;
    }
}

/* Label set for a socket (name and type never change after attach). */
static void prom_socket_labels (prom_t *c, const zmqobs_socket_t *s)
{
    zmqobs_out_t t;
    zmqobs__out_init (&t, c->lbl, sizeof c->lbl);
    ZMQOBS__PUT_LIT (&t, "{socket=\"");
    zmqobs__esc_label (&t, s->name, s->name_len);
    ZMQOBS__PUT_LIT (&t, "\",type=\"");
    zmqobs__put_str (&t, zmqobs_socket_type_name (s->type));
    zmqobs__put_c (&t, '"');
    if (c->cl_fits)
        zmqobs__put (&t, c->cl, c->cl_len);
    /* fits by construction: LABEL_BUF covers the worst case */
    c->lbl_len = t.len;
}

/* Label set of the process metrics: the constant labels only. */
static void prom_process_labels (prom_t *c)
{
    c->lbl_len = 0;
    if (c->obs->label_count && c->cl_fits) {
        c->lbl[0] = '{';
        memcpy (c->lbl + 1, c->cl + 1, c->cl_len - 1);
        c->lbl_len = c->cl_len;
    }
}

/* One sample line: name, labels, extra labels, value. extra is at most
 * 96 bytes and val at most 40 by construction, or 24 plus an exemplar
 * (ZMQOBS__EXEMPLAR_TEXT_MAX). */
static void prom_line (prom_t *c, const char *name, size_t name_len, const char *extra,
                       size_t extra_len, const char *val, size_t val_len, int process)
{
    zmqobs__put (&c->o, name, name_len);
    if (!c->cl_fits) {
        if (process) {
            if (c->obs->label_count || extra_len)
                zmqobs__put_c (&c->o, '{');
            put_const_labels_slow (&c->o, c->obs, 1);
        } else {
            zmqobs__put (&c->o, c->lbl, c->lbl_len);
            put_const_labels_slow (&c->o, c->obs, 0);
        }
    } else
        zmqobs__put (&c->o, c->lbl, c->lbl_len);
    char t[320];
    size_t n = extra_len;
    memcpy (t, extra, extra_len);
    if (!process || c->obs->label_count || extra_len)
        t[n++] = '}';
    t[n++] = ' ';
    memcpy (t + n, val, val_len);
    n += val_len;
    t[n++] = '\n';
    zmqobs__put (&c->o, t, n);
}

static void prom_line_u64 (prom_t *c, const char *name, size_t name_len, const char *extra,
                           size_t extra_len, uint64_t v)
{
    char num[24];
    prom_line (c, name, name_len, extra, extra_len, num, zmqobs__fmt_u64 (num, v), 0);
}

/* A counter sample, and in OpenMetrics its _created (the attach time)
 * with the same labels. */
static void prom_counter (prom_t *c, const char *const names[2], const size_t lens[2],
                          const char *extra, size_t extra_len, uint64_t v)
{
    prom_line_u64 (c, names[0], lens[0], extra, extra_len, v);
    if (c->om) {
        char num[48];
        prom_line (c, names[1], lens[1], extra, extra_len, num,
                   zmqobs__fmt_secs (num, c->st->attached_ns), 0);
    }
}

static size_t make_name (const prom_t *c, char *dst, const char *base, const char *suffix)
{
    size_t b = strlen (base), s = strlen (suffix);
    memcpy (dst, c->prefix, c->prefix_len);
    memcpy (dst + c->prefix_len, base, b);
    memcpy (dst + c->prefix_len + b, suffix, s);
    return c->prefix_len + b + s;
}

static void prom_header (prom_t *c, const family_t *f, int prefixed)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram", "summary"};
    char name[NAME_BUF];
    size_t n = prefixed ? make_name (c, name, f->base, "") : 0;
    if (!prefixed) {
        n = strlen (f->base);
        memcpy (name, f->base, n);
    }
    /* text 0.0.4 names a counter family with _total; OpenMetrics without */
    if (!c->om && f->kind == COUNTER) {
        memcpy (name + n, "_total", 6);
        n += 6;
    }
    zmqobs_out_t *o = &c->o;
    if (c->om) {
        ZMQOBS__PUT_LIT (o, "# TYPE ");
        zmqobs__put (o, name, n);
        zmqobs__put_c (o, ' ');
        zmqobs__put_str (o, type_names[f->kind]);
        zmqobs__put_c (o, '\n');
        if (f->unit) {
            ZMQOBS__PUT_LIT (o, "# UNIT ");
            zmqobs__put (o, name, n);
            zmqobs__put_c (o, ' ');
            zmqobs__put_str (o, f->unit);
            zmqobs__put_c (o, '\n');
        }
    }
    ZMQOBS__PUT_LIT (o, "# HELP ");
    zmqobs__put (o, name, n);
    zmqobs__put_c (o, ' ');
    zmqobs__esc_help (o, f->help, strlen (f->help), c->om);
    zmqobs__put_c (o, '\n');
    if (!c->om) {
        ZMQOBS__PUT_LIT (o, "# TYPE ");
        zmqobs__put (o, name, n);
        zmqobs__put_c (o, ' ');
        zmqobs__put_str (o, type_names[f->kind]);
        zmqobs__put_c (o, '\n');
    }
}

static const char *const op_names[2] = {",op=\"send\"", ",op=\"recv\""};

/* Appends ,key="value" (key given with its leading comma and the opening
 * quote, e.g. ",event=\"") to extra at n; returns the new length. The
 * names come from the fixed tables, so they fit extra and need no
 * escaping. */
static size_t put_label (char *extra, size_t n, const char *key, size_t klen, const char *value,
                         size_t vlen)
{
    memcpy (extra + n, key, klen);
    memcpy (extra + n + klen, value, vlen);
    n += klen + vlen;
    extra[n++] = '"';
    return n;
}

/* The samples of one family for the socket whose snapshot is in c->st;
 * names[0] is the sample name, names[1] the _created name. */
static void prom_socket_family (prom_t *c, int fam, const char *const names[2],
                                const size_t lens[2])
{
    const zmqobs_stats_t *st = c->st;
    char extra[128];
    char num[48];
    size_t n;
    uint64_t v = 0;
    switch (fam) {
    case F_MSGS_SENT:
        v = st->msgs_sent;
        goto counter;
    case F_MSGS_RECV:
        v = st->msgs_received;
        goto counter;
    case F_BYTES_SENT:
        v = st->bytes_sent;
        goto counter;
    case F_BYTES_RECV:
        v = st->bytes_received;
        goto counter;
    case F_RECONNECTS:
        v = st->reconnects;
        goto counter;
    case F_MALFORMED:
        v = st->malformed_events;
        goto counter;
    counter:
        prom_counter (c, names, lens, "", 0, v);
        break;
    case F_ERRORS:
        /* slot 0 is EAGAIN: it has its own family */
        for (int op = 0; op < 2; op++)
            for (unsigned i = 1; i < ZMQOBS_ERRNO_SLOTS; i++) {
                if (!st->errors[op][i] || !zmqobs__errno_names[i].name)
                    continue;
                n = strlen (op_names[op]);
                memcpy (extra, op_names[op], n);
                n = put_label (extra, n, ",error=\"", 8, zmqobs__errno_names[i].name,
                               zmqobs__errno_names[i].len);
                prom_counter (c, names, lens, extra, n, st->errors[op][i]);
            }
        break;
    case F_WOULD_BLOCK:
        for (int op = 0; op < 2; op++)
            prom_counter (c, names, lens, op_names[op], strlen (op_names[op]), st->errors[op][0]);
        break;
    case F_EVENTS:
        for (unsigned i = 0; i < ZMQOBS_EVENT_SLOTS; i++) {
            if (!zmqobs__event_names[i].name)
                continue;
            n = put_label (extra, 0, ",event=\"", 8, zmqobs__event_names[i].name,
                           zmqobs__event_names[i].len);
            prom_counter (c, names, lens, extra, n, st->events[i]);
        }
        break;
    case F_HANDSHAKE:
        for (unsigned i = 0; i < ZMQOBS_HANDSHAKE_SLOTS; i++) {
            if (!st->handshake_failures[i] || !zmqobs__handshake_names[i].name)
                continue;
            n = put_label (extra, 0, ",reason=\"", 9, zmqobs__handshake_names[i].name,
                           zmqobs__handshake_names[i].len);
            prom_counter (c, names, lens, extra, n, st->handshake_failures[i]);
        }
        break;
    case F_CONNECTIONS:
        prom_line (c, names[0], lens[0], "", 0, num, zmqobs__fmt_i64 (num, st->connections), 0);
        break;
    case F_LISTENING:
        prom_line_u64 (c, names[0], lens[0], "", 0, st->listening);
        break;
    case F_MONITOR_UP:
        prom_line_u64 (c, names[0], lens[0], "", 0, st->monitor_up ? 1 : 0);
        break;
    case F_QUEUE_DEPTH:
        prom_line (c, names[0], lens[0], "", 0, num, zmqobs__fmt_i64 (num, st->queue_depth), 0);
        break;
    case F_SNDHWM:
        prom_line (c, names[0], lens[0], "", 0, num, zmqobs__fmt_i64 (num, st->sndhwm), 0);
        break;
    case F_RCVHWM:
        prom_line (c, names[0], lens[0], "", 0, num, zmqobs__fmt_i64 (num, st->rcvhwm), 0);
        break;
    case F_PROXY_IN_FLIGHT:
        prom_line (c, names[0], lens[0], "", 0, num, zmqobs__fmt_i64 (num, st->proxy_in_flight), 0);
        break;
    default:
        break;
    }
}

static void prom_histogram (prom_t *c, char names[4][NAME_BUF], const size_t lens[4])
{
    const zmqobs_stats_t *st = c->st;
    uint64_t cum = 0;
    /* OpenMetrics: a bucket's exemplar follows its count */
    char v[24 + ZMQOBS__EXEMPLAR_TEXT_MAX];
    for (uint32_t i = 0; i < st->bucket_count; i++) {
        cum += st->buckets[i];
        size_t vl = zmqobs__fmt_u64 (v, cum);
        vl += c->om ? zmqobs__exemplar_om (c->sock, i, v + vl) : 0;
        prom_line (c, names[0], lens[0], c->le[i], c->le_len[i], v, vl, 0);
    }
    cum += st->buckets[st->bucket_count];
    size_t vl = zmqobs__fmt_u64 (v, cum);
    vl += c->om ? zmqobs__exemplar_om (c->sock, st->bucket_count, v + vl) : 0;
    prom_line (c, names[0], lens[0], ",le=\"+Inf\"", 10, v, vl, 0);
    /* _count is the +Inf bucket: both come from the same reads */
    prom_line_u64 (c, names[1], lens[1], "", 0, cum);
    char num[48];
    prom_line (c, names[2], lens[2], "", 0, num, zmqobs__fmt_secs (num, st->latency_sum_ns), 0);
    if (c->om)
        prom_line (c, names[3], lens[3], "", 0, num, zmqobs__fmt_secs (num, st->attached_ns), 0);
}

static void prom_summary (prom_t *c, char names[3][NAME_BUF], const size_t lens[3])
{
    static const struct {
        const char *label;
        size_t len;
    } q[5] = {{",quantile=\"0.5\"", 15},
              {",quantile=\"0.9\"", 15},
              {",quantile=\"0.95\"", 16},
              {",quantile=\"0.99\"", 16},
              {",quantile=\"0.999\"", 17}};
    const zmqobs_window_t *w = &c->st->window;
    const uint64_t vals[5] = {w->p50_ns, w->p90_ns, w->p95_ns, w->p99_ns, w->p999_ns};
    char num[48];
    for (int i = 0; i < 5; i++) {
        /* no samples: no quantile, which both formats spell NaN */
        if (w->count)
            prom_line (c, names[0], lens[0], q[i].label, q[i].len, num,
                       zmqobs__fmt_secs (num, vals[i]), 0);
        else
            prom_line (c, names[0], lens[0], q[i].label, q[i].len, "NaN", 3, 0);
    }
    prom_line (c, names[1], lens[1], "", 0, num, zmqobs__fmt_secs (num, w->sum_ns), 0);
    prom_line_u64 (c, names[2], lens[2], "", 0, w->count);
}

static void prom_sockets (prom_t *c)
{
    /* One snapshot per socket per scrape, kept in the socket block: every
     * family then reads the copy, so the cache lines the host's thread
     * writes are read once per scrape, not once per family (under a
     * steady scrape that was costing the host double-digit percents). */
    int any_proxy = 0;
    for (size_t i = 0; i < c->nsocks; i++) {
        zmqobs__socket_snapshot (c->socks[i], &c->socks[i]->scrape);
        any_proxy |= c->socks[i]->scrape.proxy;
    }
    for (int fam = 0; fam < F_SOCKET_COUNT; fam++) {
        const family_t *f = &zmqobs__socket_families[fam];
        /* only proxies' frontends have this one */
        if (fam == F_PROXY_IN_FLIGHT && !any_proxy)
            continue;
        prom_header (c, f, 1);
        char names[4][NAME_BUF];
        size_t lens[4];
        if (f->kind == HISTOGRAM) {
            lens[0] = make_name (c, names[0], f->base, "_bucket");
            lens[1] = make_name (c, names[1], f->base, "_count");
            lens[2] = make_name (c, names[2], f->base, "_sum");
            lens[3] = make_name (c, names[3], f->base, "_created");
        } else if (f->kind == SUMMARY) {
            lens[0] = make_name (c, names[0], f->base, "");
            lens[1] = make_name (c, names[1], f->base, "_sum");
            lens[2] = make_name (c, names[2], f->base, "_count");
        } else {
            lens[0] = make_name (c, names[0], f->base, f->kind == COUNTER ? "_total" : "");
            lens[1] = make_name (c, names[1], f->base, "_created");
        }
        for (size_t i = 0; i < c->nsocks; i++) {
            zmqobs_socket_t *s = c->socks[i];
            /* a big scrape yields now and then, so that on a busy machine
             * the monitors' draining thread gets the CPU it waits for */
            if ((++c->yield_at & 63) == 0)
                sched_yield ();
            c->st = &s->scrape;
            if (fam == F_PROXY_IN_FLIGHT && !s->scrape.proxy)
                continue;
            c->sock = s;
            prom_socket_labels (c, s);
            if (f->kind == HISTOGRAM)
                prom_histogram (c, names, lens);
            else if (f->kind == SUMMARY)
                prom_summary (c, names, lens);
            else {
                const char *const nm[2] = {names[0], names[1]};
                prom_socket_family (c, fam, nm, lens);
            }
        }
    }
}

/* The per-peer families, over the sockets that track peers; each table
 * is copied once per scrape into its scratch, which every family reads. */
static void prom_peers (prom_t *c)
{
    if (!zmqobs__peers_snap_all (c->socks, c->nsocks))
        return;
    for (int fam = 0; fam < PF_COUNT; fam++) {
        const family_t *f = &zmqobs__peer_families[fam];
        prom_header (c, f, 1);
        char names[2][NAME_BUF];
        size_t lens[2];
        lens[0] = make_name (c, names[0], f->base, f->kind == COUNTER ? "_total" : "");
        lens[1] = make_name (c, names[1], f->base, "_created");
        for (size_t i = 0; i < c->nsocks; i++) {
            zmqobs_socket_t *s = c->socks[i];
            if (!s->peers)
                continue;
            const zmqobs_peer_stats_t *buf = zmqobs__peers_scratch (s->peers);
            size_t n = zmqobs__peers_snap_len (s->peers);
            prom_socket_labels (c, s);
            if (fam == PF_TRACKED) {
                prom_line_u64 (c, names[0], lens[0], "", 0, n);
                continue;
            }
            size_t base = c->lbl_len;
            for (size_t k = 0; k <= n; k++) { /* buf[n] is "other" */
                const zmqobs_peer_stats_t *d = &buf[k];
                zmqobs_out_t t;
                zmqobs__out_init (&t, c->lbl + base, sizeof c->lbl - base);
                ZMQOBS__PUT_LIT (&t, ",peer=\"");
                zmqobs__esc_label (&t, d->peer, strlen (d->peer));
                zmqobs__put_c (&t, '"');
                c->lbl_len = base + t.len;
                uint64_t v = zmqobs__peer_value (d, fam);
                prom_line_u64 (c, names[0], lens[0], "", 0, v);
                if (c->om) {
                    char num[48];
                    prom_line (c, names[1], lens[1], "", 0, num,
                               zmqobs__fmt_secs (num, d->first_seen_ns), 0);
                }
            }
        }
    }
}

static void prom_process (prom_t *c, const zmqobs__process_t *p)
{
    prom_process_labels (c);
    for (int i = 0; i < P_COUNT; i++) {
        if (!(p->have & (1u << i)))
            continue;
        const family_t *f = &zmqobs__process_families[i];
        prom_header (c, f, 0);
        char name[NAME_BUF];
        size_t n = strlen (f->base);
        memcpy (name, f->base, n);
        if (f->kind == COUNTER) {
            memcpy (name + n, "_total", 6);
            n += 6;
        }
        char num[48];
        size_t vl = 0;
        switch (i) {
        case P_CPU:
            vl = zmqobs__fmt_secs (num, p->cpu_ns);
            break;
        case P_OPEN_FDS:
            vl = zmqobs__fmt_u64 (num, p->open_fds);
            break;
        case P_MAX_FDS:
            vl = zmqobs__fmt_u64 (num, p->max_fds);
            break;
        case P_VMEM:
            vl = zmqobs__fmt_u64 (num, p->virtual_bytes);
            break;
        case P_RSS:
            vl = zmqobs__fmt_u64 (num, p->resident_bytes);
            break;
        case P_START:
            vl = zmqobs__fmt_secs (num, p->start_time_ns);
            break;
        case P_THREADS:
            vl = zmqobs__fmt_u64 (num, p->threads);
            break;
        default:
            break;
        }
        prom_line (c, name, n, "", 0, num, vl, 1);
    }
}

void zmqobs__fmt_prom (zmqobs_out_t *o, zmqobs_t *obs, int openmetrics,
                       zmqobs_socket_t *const *socks, size_t n, const zmqobs__process_t *p)
{
    prom_t c;
    prom_init (&c, obs, openmetrics, o->buf, 0);
    c.o = *o;
    c.socks = socks;
    c.yield_at = 0;
    c.nsocks = n;
    prom_sockets (&c);
    prom_peers (&c);
    zmqobs__fmt_app_prom (&c.o, obs, c.om);
    if (p)
        prom_process (&c, p);
    if (c.om)
        ZMQOBS__PUT_LIT (&c.o, "# EOF\n");
    *o = c.o;
}
