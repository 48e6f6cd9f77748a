/*
 * expose.c - the exposition formats: Prometheus text 0.0.4, OpenMetrics
 * 1.0.0, one JSON object and a human report; their escaping, the
 * locale-free number formatting, and Accept header negotiation.
 *
 * Every formatter writes through one bounded sink with snprintf semantics
 * and never allocates: labels are escaped into stack buffers, numbers are
 * rendered from integers by hand (printf's %f/%g follow LC_NUMERIC, and a
 * comma-decimal locale would break every parser downstream).
 *
 * Prometheus and OpenMetrics walk families outside and sockets inside so
 * that a family's lines stay together; each socket is re-read per family
 * (counters are monotonic; buffering every socket's snapshot would need
 * memory per socket), loading only the fields that family prints, except
 * the two latency families, which take a full snapshot for the quantile
 * cache. JSON and the report take one snapshot per socket.
 *
 * Choices worth knowing: zmq_socket_events_total lists every known event
 * with zeros (rate() and alerts see a series from the start);
 * zmq_errors_total and zmq_handshake_failures_total list only nonzero
 * slots (15 errno and 23 reason slots per socket would mostly be zeros);
 * OpenMetrics counters and histograms carry _created (the attach time);
 * an empty window's quantiles are NaN.
 *
 * SPDX-License-Identifier: MIT
 */
#include "formats.h"

#include "metrics.h"
#include "process.h"
#include "registry.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

/* Test hook (see zmqobs_private.h): a fixed uptime for golden outputs. */
uint64_t zmqobs__test_uptime_ns = 0;

/* ------------------------------------------------------------------------
 * Name tables, built once: lengths and which event bits have names
 * ---------------------------------------------------------------------- */

typedef struct {
    const char *name;
    size_t len;
} name_t;

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
static name_t event_names[ZMQOBS_EVENT_SLOTS]; /* name NULL: unknown bit */
static name_t errno_names[ZMQOBS_ERRNO_SLOTS]; /* name NULL: unused slot */
static name_t handshake_names[ZMQOBS_HANDSHAKE_SLOTS];

static void set_name (name_t *n, const char *s)
{
    /* "UNKNOWN" slots are skipped: several of them would be one series. */
    if (strcmp (s, "UNKNOWN") == 0)
        return;
    n->name = s;
    n->len = strlen (s);
}

static void build_tables (void)
{
    for (unsigned i = 0; i < ZMQOBS_EVENT_SLOTS; i++)
        set_name (&event_names[i], zmqobs_event_name (1u << i));
    for (unsigned i = 0; i < ZMQOBS_ERRNO_SLOTS; i++)
        set_name (&errno_names[i], zmqobs_errno_slot_name (i));
    for (unsigned i = 0; i < ZMQOBS_HANDSHAKE_SLOTS; i++)
        set_name (&handshake_names[i], zmqobs_handshake_slot_name (i));
}

/* ------------------------------------------------------------------------
 * Families
 * ---------------------------------------------------------------------- */

enum kind { COUNTER, GAUGE, HISTOGRAM, SUMMARY };

enum fam_id {
    F_MSGS_SENT,
    F_MSGS_RECV,
    F_BYTES_SENT,
    F_BYTES_RECV,
    F_ERRORS,
    F_WOULD_BLOCK,
    F_EVENTS,
    F_CONNECTIONS,
    F_LISTENING,
    F_HANDSHAKE,
    F_RECONNECTS,
    F_MALFORMED,
    F_QUEUE_DEPTH,
    F_LATENCY,
    F_WINDOW,
    F_SOCKET_COUNT
};

typedef struct {
    const char *base; /* without the namespace prefix and without _total */
    enum kind kind;
    const char *unit; /* OpenMetrics UNIT, only where the name ends in it */
    const char *help;
} family_t;

static const family_t socket_families[F_SOCKET_COUNT] = {
    [F_MSGS_SENT] = {"zmq_messages_sent", COUNTER, NULL,
                     "Message parts sent through the zmqobs wrappers or record calls."},
    [F_MSGS_RECV] = {"zmq_messages_received", COUNTER, NULL,
                     "Message parts received through the zmqobs wrappers or record calls."},
    [F_BYTES_SENT] = {"zmq_bytes_sent", COUNTER, NULL, "Payload bytes sent."},
    [F_BYTES_RECV] = {"zmq_bytes_received", COUNTER, NULL, "Payload bytes received."},
    [F_ERRORS] = {"zmq_errors", COUNTER, NULL,
                  "Failed sends and receives by operation and errno name; EAGAIN is "
                  "counted apart in zmq_would_block_total."},
    [F_WOULD_BLOCK] = {"zmq_would_block", COUNTER, NULL,
                       "Sends and receives that failed with EAGAIN (flow control, not an "
                       "error; kept out of zmq_errors_total)."},
    [F_EVENTS] = {"zmq_socket_events", COUNTER, NULL,
                  "libzmq monitor events by event name (every known event, zeros "
                  "included)."},
    [F_CONNECTIONS] = {"zmq_connections", GAUGE, NULL, "Peers connected now."},
    [F_LISTENING] = {"zmq_listening", GAUGE, NULL, "Endpoints the socket listens on now."},
    [F_HANDSHAKE] = {"zmq_handshake_failures", COUNTER, NULL,
                     "Failed ZMTP, CURVE or ZAP handshakes by reason (reasons seen at "
                     "least once)."},
    [F_RECONNECTS] = {"zmq_reconnects", COUNTER, NULL,
                      "Reconnection attempts (CONNECT_RETRIED events)."},
    [F_MALFORMED] = {"zmq_monitor_malformed", COUNTER, NULL,
                     "Monitor messages that could not be decoded and were skipped."},
    [F_QUEUE_DEPTH] = {"zmq_queue_depth", GAUGE, NULL, "Queue length as set by the application."},
    [F_LATENCY] = {"zmq_message_latency_seconds", HISTOGRAM, "seconds",
                   "Message latency since attach."},
    [F_WINDOW] = {"zmq_message_latency_window_seconds", SUMMARY, "seconds",
                  "Exact message latency quantiles over the most recent samples; _sum and "
                  "_count cover only that window."},
};

enum { P_CPU, P_OPEN_FDS, P_MAX_FDS, P_VMEM, P_RSS, P_START, P_THREADS, P_COUNT };

static const family_t process_families[P_COUNT] = {
    [P_CPU] = {"process_cpu_seconds", COUNTER, "seconds",
               "Total user and system CPU time spent in seconds."},
    [P_OPEN_FDS] = {"process_open_fds", GAUGE, NULL, "Number of open file descriptors."},
    [P_MAX_FDS] = {"process_max_fds", GAUGE, NULL, "Maximum number of open file descriptors."},
    [P_VMEM] = {"process_virtual_memory_bytes", GAUGE, "bytes", "Virtual memory size in bytes."},
    [P_RSS] = {"process_resident_memory_bytes", GAUGE, "bytes", "Resident memory size in bytes."},
    [P_START] = {"process_start_time_seconds", GAUGE, "seconds",
                 "Start time of the process since unix epoch in seconds."},
    [P_THREADS] = {"process_threads", GAUGE, NULL, "Number of OS threads in the process."},
};

/* ------------------------------------------------------------------------
 * Prometheus text 0.0.4 and OpenMetrics 1.0.0
 * ---------------------------------------------------------------------- */

/* Room for a metric name: prefix (< 128) + base + longest suffix. */
#define NAME_BUF 224
/* Escaped constant labels kept ready; longer ones are escaped per line. */
#define CONST_BUF 1024
/* "{socket=\"" + 2 x ZMQOBS_NAME_MAX + "\",type=\"" + type + "\"" + consts */
#define LABEL_BUF (2 * ZMQOBS_NAME_MAX + 64 + CONST_BUF)

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
    zmqobs_socket_t *const *socks; /* the scrape's pinned sockets */
    size_t nsocks;
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
 * 96 bytes and val at most 40 by construction. */
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
    char t[160];
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
                if (!st->errors[op][i] || !errno_names[i].name)
                    continue;
                n = strlen (op_names[op]);
                memcpy (extra, op_names[op], n);
                n = put_label (extra, n, ",error=\"", 8, errno_names[i].name, errno_names[i].len);
                prom_counter (c, names, lens, extra, n, st->errors[op][i]);
            }
        break;
    case F_WOULD_BLOCK:
        for (int op = 0; op < 2; op++)
            prom_counter (c, names, lens, op_names[op], strlen (op_names[op]), st->errors[op][0]);
        break;
    case F_EVENTS:
        for (unsigned i = 0; i < ZMQOBS_EVENT_SLOTS; i++) {
            if (!event_names[i].name)
                continue;
            n = put_label (extra, 0, ",event=\"", 8, event_names[i].name, event_names[i].len);
            prom_counter (c, names, lens, extra, n, st->events[i]);
        }
        break;
    case F_HANDSHAKE:
        for (unsigned i = 0; i < ZMQOBS_HANDSHAKE_SLOTS; i++) {
            if (!st->handshake_failures[i] || !handshake_names[i].name)
                continue;
            n = put_label (extra, 0, ",reason=\"", 9, handshake_names[i].name,
                           handshake_names[i].len);
            prom_counter (c, names, lens, extra, n, st->handshake_failures[i]);
        }
        break;
    case F_CONNECTIONS:
        prom_line (c, names[0], lens[0], "", 0, num, zmqobs__fmt_i64 (num, st->connections), 0);
        break;
    case F_LISTENING:
        prom_line_u64 (c, names[0], lens[0], "", 0, st->listening);
        break;
    case F_QUEUE_DEPTH:
        prom_line (c, names[0], lens[0], "", 0, num, zmqobs__fmt_i64 (num, st->queue_depth), 0);
        break;
    default:
        break;
    }
}

static void prom_histogram (prom_t *c, char names[4][NAME_BUF], const size_t lens[4])
{
    const zmqobs_stats_t *st = c->st;
    uint64_t cum = 0;
    for (uint32_t i = 0; i < st->bucket_count; i++) {
        cum += st->buckets[i];
        prom_line_u64 (c, names[0], lens[0], c->le[i], c->le_len[i], cum);
    }
    cum += st->buckets[st->bucket_count];
    prom_line_u64 (c, names[0], lens[0], ",le=\"+Inf\"", 10, cum);
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
    for (size_t i = 0; i < c->nsocks; i++)
        zmqobs__socket_snapshot (c->socks[i], &c->socks[i]->scrape);
    for (int fam = 0; fam < F_SOCKET_COUNT; fam++) {
        const family_t *f = &socket_families[fam];
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
            c->st = &s->scrape;
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

static void prom_process (prom_t *c, const zmqobs__process_t *p)
{
    prom_process_labels (c);
    for (int i = 0; i < P_COUNT; i++) {
        if (!(p->have & (1u << i)))
            continue;
        const family_t *f = &process_families[i];
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

/* ------------------------------------------------------------------------
 * JSON
 * ---------------------------------------------------------------------- */

static void json_key (zmqobs_out_t *o, const char *key, int *first)
{
    if (!*first)
        zmqobs__put_c (o, ',');
    *first = 0;
    zmqobs__put_c (o, '"');
    zmqobs__put_str (o, key);
    ZMQOBS__PUT_LIT (o, "\":");
}

static void json_u64 (zmqobs_out_t *o, const char *key, uint64_t v, int *first)
{
    char num[24];
    json_key (o, key, first);
    zmqobs__put (o, num, zmqobs__fmt_u64 (num, v));
}

static void json_i64 (zmqobs_out_t *o, const char *key, int64_t v, int *first)
{
    char num[24];
    json_key (o, key, first);
    zmqobs__put (o, num, zmqobs__fmt_i64 (num, v));
}

static void json_secs (zmqobs_out_t *o, const char *key, uint64_t ns, int *first)
{
    char num[48];
    json_key (o, key, first);
    zmqobs__put (o, num, zmqobs__fmt_secs (num, ns));
}

static void json_string (zmqobs_out_t *o, const char *s)
{
    zmqobs__put_c (o, '"');
    zmqobs__esc_json (o, s, strlen (s));
    zmqobs__put_c (o, '"');
}

static void json_socket (zmqobs_out_t *o, const zmqobs_stats_t *st)
{
    int first = 1;
    zmqobs__put_c (o, '{');
    json_key (o, "name", &first);
    json_string (o, st->name);
    json_key (o, "type", &first);
    json_string (o, zmqobs_socket_type_name (st->type));
    json_secs (o, "attached_unix_seconds", st->attached_ns, &first);
    json_secs (o, "uptime_seconds", st->uptime_ns, &first);
    json_u64 (o, "messages_sent", st->msgs_sent, &first);
    json_u64 (o, "bytes_sent", st->bytes_sent, &first);
    json_u64 (o, "messages_received", st->msgs_received, &first);
    json_u64 (o, "bytes_received", st->bytes_received, &first);
    json_key (o, "errors", &first);
    zmqobs__put_c (o, '{');
    for (int op = 0; op < 2; op++) {
        if (op)
            zmqobs__put_c (o, ',');
        zmqobs__put_str (o, op ? "\"recv\":{" : "\"send\":{");
        int f2 = 1;
        for (unsigned i = 1; i < ZMQOBS_ERRNO_SLOTS; i++)
            if (st->errors[op][i] && errno_names[i].name)
                json_u64 (o, errno_names[i].name, st->errors[op][i], &f2);
        zmqobs__put_c (o, '}');
    }
    zmqobs__put_c (o, '}');
    json_key (o, "would_block", &first);
    {
        int f2 = 1;
        zmqobs__put_c (o, '{');
        json_u64 (o, "send", st->errors[0][0], &f2);
        json_u64 (o, "recv", st->errors[1][0], &f2);
        zmqobs__put_c (o, '}');
    }
    json_key (o, "events", &first);
    {
        int f2 = 1;
        zmqobs__put_c (o, '{');
        for (unsigned i = 0; i < ZMQOBS_EVENT_SLOTS; i++)
            if (event_names[i].name)
                json_u64 (o, event_names[i].name, st->events[i], &f2);
        zmqobs__put_c (o, '}');
    }
    json_i64 (o, "connections", st->connections, &first);
    json_u64 (o, "listening", st->listening, &first);
    json_u64 (o, "reconnects", st->reconnects, &first);
    json_key (o, "handshake_failures", &first);
    {
        int f2 = 1;
        zmqobs__put_c (o, '{');
        for (unsigned i = 0; i < ZMQOBS_HANDSHAKE_SLOTS; i++)
            if (st->handshake_failures[i] && handshake_names[i].name)
                json_u64 (o, handshake_names[i].name, st->handshake_failures[i], &f2);
        zmqobs__put_c (o, '}');
    }
    json_u64 (o, "monitor_malformed", st->malformed_events, &first);
    json_i64 (o, "queue_depth", st->queue_depth, &first);
    json_key (o, "latency", &first);
    {
        int f2 = 1;
        char num[48];
        zmqobs__put_c (o, '{');
        json_u64 (o, "count", st->latency_count, &f2);
        json_secs (o, "sum_seconds", st->latency_sum_ns, &f2);
        json_key (o, "bounds_seconds", &f2);
        zmqobs__put_c (o, '[');
        for (uint32_t i = 0; i < st->bucket_count; i++) {
            if (i)
                zmqobs__put_c (o, ',');
            zmqobs__put (o, num, zmqobs__fmt_secs (num, st->bounds_ns[i]));
        }
        ZMQOBS__PUT_LIT (o, "],\"bucket_counts\":[");
        for (uint32_t i = 0; i <= st->bucket_count; i++) {
            if (i)
                zmqobs__put_c (o, ',');
            zmqobs__put (o, num, zmqobs__fmt_u64 (num, st->buckets[i]));
        }
        ZMQOBS__PUT_LIT (o, "]}");
    }
    json_key (o, "latency_window", &first);
    {
        int f2 = 1;
        const zmqobs_window_t *w = &st->window;
        zmqobs__put_c (o, '{');
        json_u64 (o, "count", w->count, &f2);
        json_secs (o, "sum_seconds", w->sum_ns, &f2);
        json_secs (o, "min_seconds", w->min_ns, &f2);
        json_secs (o, "mean_seconds", w->mean_ns, &f2);
        json_secs (o, "max_seconds", w->max_ns, &f2);
        json_secs (o, "p50_seconds", w->p50_ns, &f2);
        json_secs (o, "p90_seconds", w->p90_ns, &f2);
        json_secs (o, "p95_seconds", w->p95_ns, &f2);
        json_secs (o, "p99_seconds", w->p99_ns, &f2);
        json_secs (o, "p999_seconds", w->p999_ns, &f2);
        zmqobs__put_c (o, '}');
    }
    zmqobs__put_c (o, '}');
}

static void json_all (zmqobs_out_t *o, zmqobs_t *obs, zmqobs_socket_t *const *socks, size_t n,
                      const zmqobs__process_t *p, zmqobs_stats_t *st)
{
    int first = 1;
    zmqobs__put_c (o, '{');
    json_key (o, "version", &first);
    {
        char num[24];
        zmqobs__put_c (o, '"');
        zmqobs__put (o, num, zmqobs__fmt_u64 (num, ZMQOBS_VERSION_MAJOR));
        zmqobs__put_c (o, '.');
        zmqobs__put (o, num, zmqobs__fmt_u64 (num, ZMQOBS_VERSION_MINOR));
        zmqobs__put_c (o, '.');
        zmqobs__put (o, num, zmqobs__fmt_u64 (num, ZMQOBS_VERSION_PATCH));
        zmqobs__put_c (o, '"');
    }
    uint64_t up = LOAD (&zmqobs__test_uptime_ns);
    json_secs (o, "uptime_seconds", up ? up : zmqobs__now_ns () - obs->start_mono_ns, &first);
    json_key (o, "prefix", &first);
    json_string (o, obs->prefix);
    json_key (o, "labels", &first);
    zmqobs__put_c (o, '{');
    for (size_t i = 0; i < obs->label_count; i++) {
        if (i)
            zmqobs__put_c (o, ',');
        json_string (o, obs->label_names[i]);
        zmqobs__put_c (o, ':');
        json_string (o, obs->label_values[i]);
    }
    zmqobs__put_c (o, '}');
    json_key (o, "sockets", &first);
    zmqobs__put_c (o, '[');
    for (size_t i = 0; i < n; i++) {
        zmqobs__socket_snapshot (socks[i], st);
        if (up)
            st->uptime_ns = up;
        if (i)
            zmqobs__put_c (o, ',');
        json_socket (o, st);
    }
    zmqobs__put_c (o, ']');
    if (p) {
        int f2 = 1;
        json_key (o, "process", &first);
        zmqobs__put_c (o, '{');
        if (p->have & (1u << P_CPU))
            json_secs (o, "cpu_seconds_total", p->cpu_ns, &f2);
        if (p->have & (1u << P_OPEN_FDS))
            json_u64 (o, "open_fds", p->open_fds, &f2);
        if (p->have & (1u << P_MAX_FDS))
            json_u64 (o, "max_fds", p->max_fds, &f2);
        if (p->have & (1u << P_VMEM))
            json_u64 (o, "virtual_memory_bytes", p->virtual_bytes, &f2);
        if (p->have & (1u << P_RSS))
            json_u64 (o, "resident_memory_bytes", p->resident_bytes, &f2);
        if (p->have & (1u << P_START))
            json_secs (o, "start_time_seconds", p->start_time_ns, &f2);
        if (p->have & (1u << P_THREADS))
            json_u64 (o, "threads", p->threads, &f2);
        zmqobs__put_c (o, '}');
    }
    ZMQOBS__PUT_LIT (o, "}\n");
}

/* ------------------------------------------------------------------------
 * Human report
 * ---------------------------------------------------------------------- */

/* value / 10^decimals with exactly that many decimals, e.g. (12345, 3)
 * gives "12.345". */
static void put_fixed (zmqobs_out_t *o, uint64_t v, unsigned decimals)
{
    uint64_t div = 1;
    for (unsigned i = 0; i < decimals; i++)
        div *= 10;
    char num[48];
    zmqobs__put (o, num, zmqobs__fmt_u64 (num, v / div));
    if (decimals) {
        uint64_t frac = v % div;
        char f[20];
        for (int i = (int) decimals - 1; i >= 0; i--) {
            f[i] = (char) ('0' + frac % 10);
            frac /= 10;
        }
        zmqobs__put_c (o, '.');
        zmqobs__put (o, f, decimals);
    }
}

/* A duration in the unit that reads best: "850 ns", "12.500 us",
 * "3.250 ms", "1.500 s". */
static void put_duration (zmqobs_out_t *o, uint64_t ns)
{
    if (ns < 1000) {
        put_fixed (o, ns, 0);
        ZMQOBS__PUT_LIT (o, " ns");
    } else if (ns < 1000000) {
        put_fixed (o, ns, 3);
        ZMQOBS__PUT_LIT (o, " us");
    } else if (ns < 1000000000) {
        put_fixed (o, ns / 1000, 3);
        ZMQOBS__PUT_LIT (o, " ms");
    } else {
        put_fixed (o, ns / 1000000, 3);
        ZMQOBS__PUT_LIT (o, " s");
    }
}

static void put_u64 (zmqobs_out_t *o, uint64_t v)
{
    char num[24];
    zmqobs__put (o, num, zmqobs__fmt_u64 (num, v));
}

/* Messages per second over the uptime, one decimal, rounded down. */
static void put_rate (zmqobs_out_t *o, uint64_t count, uint64_t uptime_ns)
{
    if (uptime_ns == 0) {
        ZMQOBS__PUT_LIT (o, "0.0");
        return;
    }
    unsigned __int128 tenths = (unsigned __int128) count * 10u * 1000000000u / uptime_ns;
    put_fixed (o, tenths > UINT64_MAX ? UINT64_MAX : (uint64_t) tenths, 1);
}

static void text_socket (zmqobs_out_t *o, const zmqobs_stats_t *st)
{
    ZMQOBS__PUT_LIT (o, "socket ");
    /* a JSON string: quotes and control characters stay visible and the
     * line stays one line */
    json_string (o, st->name);
    ZMQOBS__PUT_LIT (o, " (");
    zmqobs__put_str (o, zmqobs_socket_type_name (st->type));
    ZMQOBS__PUT_LIT (o, ")\n  uptime          ");
    put_duration (o, st->uptime_ns);
    ZMQOBS__PUT_LIT (o, "\n  sent            ");
    put_u64 (o, st->msgs_sent);
    ZMQOBS__PUT_LIT (o, " msgs, ");
    put_u64 (o, st->bytes_sent);
    ZMQOBS__PUT_LIT (o, " bytes, ");
    put_rate (o, st->msgs_sent, st->uptime_ns);
    ZMQOBS__PUT_LIT (o, " msg/s\n  received        ");
    put_u64 (o, st->msgs_received);
    ZMQOBS__PUT_LIT (o, " msgs, ");
    put_u64 (o, st->bytes_received);
    ZMQOBS__PUT_LIT (o, " bytes, ");
    put_rate (o, st->msgs_received, st->uptime_ns);
    ZMQOBS__PUT_LIT (o, " msg/s\n  connections     ");
    char num[24];
    zmqobs__put (o, num, zmqobs__fmt_i64 (num, st->connections));
    ZMQOBS__PUT_LIT (o, " now, ");
    put_u64 (o, st->listening);
    ZMQOBS__PUT_LIT (o, " listening, ");
    put_u64 (o, st->reconnects);
    ZMQOBS__PUT_LIT (o, " reconnects\n  errors          ");
    uint64_t errs[2] = {0, 0}, hs = 0;
    for (int op = 0; op < 2; op++)
        for (unsigned i = 1; i < ZMQOBS_ERRNO_SLOTS; i++)
            errs[op] += st->errors[op][i];
    for (unsigned i = 0; i < ZMQOBS_HANDSHAKE_SLOTS; i++)
        hs += st->handshake_failures[i];
    ZMQOBS__PUT_LIT (o, "send ");
    put_u64 (o, errs[0]);
    ZMQOBS__PUT_LIT (o, ", recv ");
    put_u64 (o, errs[1]);
    ZMQOBS__PUT_LIT (o, ", would block send ");
    put_u64 (o, st->errors[0][0]);
    ZMQOBS__PUT_LIT (o, ", recv ");
    put_u64 (o, st->errors[1][0]);
    ZMQOBS__PUT_LIT (o, ", handshake failures ");
    put_u64 (o, hs);
    ZMQOBS__PUT_LIT (o, "\n  queue depth     ");
    zmqobs__put (o, num, zmqobs__fmt_i64 (num, st->queue_depth));
    ZMQOBS__PUT_LIT (o, "\n  latency         ");
    const zmqobs_window_t *w = &st->window;
    if (w->count == 0)
        ZMQOBS__PUT_LIT (o, "no samples");
    else {
        ZMQOBS__PUT_LIT (o, "avg ");
        put_duration (o, w->mean_ns);
        ZMQOBS__PUT_LIT (o, ", p95 ");
        put_duration (o, w->p95_ns);
        ZMQOBS__PUT_LIT (o, ", p99 ");
        put_duration (o, w->p99_ns);
        ZMQOBS__PUT_LIT (o, " (last ");
        put_u64 (o, w->count);
        ZMQOBS__PUT_LIT (o, " samples)");
    }
    zmqobs__put_c (o, '\n');
}

static void text_all (zmqobs_out_t *o, zmqobs_socket_t *const *socks, size_t n,
                      const zmqobs__process_t *p, zmqobs_stats_t *st)
{
    ZMQOBS__PUT_LIT (o, "zmqobs report: ");
    put_u64 (o, (uint64_t) n);
    zmqobs__put_str (o, n == 1 ? " socket\n" : " sockets\n");
    uint64_t up = LOAD (&zmqobs__test_uptime_ns);
    for (size_t i = 0; i < n; i++) {
        zmqobs__socket_snapshot (socks[i], st);
        if (up)
            st->uptime_ns = up;
        text_socket (o, st);
    }
    if (p) {
        ZMQOBS__PUT_LIT (o, "process\n");
        if (p->have & (1u << P_CPU)) {
            ZMQOBS__PUT_LIT (o, "  cpu             ");
            put_duration (o, p->cpu_ns);
            zmqobs__put_c (o, '\n');
        }
        if (p->have & (1u << P_RSS)) {
            ZMQOBS__PUT_LIT (o, "  resident        ");
            put_u64 (o, p->resident_bytes);
            ZMQOBS__PUT_LIT (o, " bytes\n");
        }
        if (p->have & (1u << P_THREADS)) {
            ZMQOBS__PUT_LIT (o, "  threads         ");
            put_u64 (o, p->threads);
            zmqobs__put_c (o, '\n');
        }
        if (p->have & (1u << P_OPEN_FDS)) {
            ZMQOBS__PUT_LIT (o, "  open fds        ");
            put_u64 (o, p->open_fds);
            if (p->have & (1u << P_MAX_FDS)) {
                ZMQOBS__PUT_LIT (o, " of ");
                put_u64 (o, p->max_fds);
            }
            zmqobs__put_c (o, '\n');
        }
    }
}

/* ------------------------------------------------------------------------
 * Entry points
 * ---------------------------------------------------------------------- */

int zmqobs_format (zmqobs_t *self, zmqobs_format_t format, char *buf, size_t size)
{
    if (!self || (!buf && size > 0) || (unsigned) format > ZMQOBS_FORMAT_TEXT) {
        errno = EINVAL;
        return -1;
    }
    pthread_once (&tables_once, build_tables);
    /* /proc is read before the registry lock: attach and detach never
     * wait for file I/O */
    zmqobs__process_t proc;
    const zmqobs__process_t *p = NULL;
    if (self->process_metrics) {
        zmqobs__process_read (&proc);
        p = &proc;
    }
    /* The registry lock is held only to pin the sockets; formatting runs
     * under the scrape lock alone, which neither attach, detach nor the
     * drain path takes. */
    pthread_mutex_lock (&self->scrape_lock);
    zmqobs_socket_t *const *socks;
    size_t n = zmqobs__pin_sockets (self, &socks);
    size_t len;
    if (format == ZMQOBS_FORMAT_PROMETHEUS || format == ZMQOBS_FORMAT_OPENMETRICS) {
        prom_t c;
        prom_init (&c, self, format == ZMQOBS_FORMAT_OPENMETRICS, buf, size);
        c.socks = socks;
        c.nsocks = n;
        prom_sockets (&c);
        if (p)
            prom_process (&c, p);
        if (c.om)
            ZMQOBS__PUT_LIT (&c.o, "# EOF\n");
        len = c.o.len;
    } else {
        zmqobs_out_t o;
        zmqobs_stats_t st;
        zmqobs__out_init (&o, buf, size);
        if (format == ZMQOBS_FORMAT_JSON)
            json_all (&o, self, socks, n, p, &st);
        else
            text_all (&o, socks, n, p, &st);
        len = o.len;
    }
    zmqobs__unpin_sockets (self);
    pthread_mutex_unlock (&self->scrape_lock);
    if (size)
        buf[len < size - 1 ? len : size - 1] = '\0';
    if (len > INT_MAX) {
        errno = EOVERFLOW;
        return -1;
    }
    return (int) len;
}

const char *zmqobs_content_type (zmqobs_format_t format)
{
    switch (format) {
    case ZMQOBS_FORMAT_OPENMETRICS:
        return "application/openmetrics-text; version=1.0.0; charset=utf-8";
    case ZMQOBS_FORMAT_JSON:
        return "application/json";
    case ZMQOBS_FORMAT_TEXT:
        return "text/plain; charset=utf-8";
    case ZMQOBS_FORMAT_PROMETHEUS:
        break;
    }
    return "text/plain; version=0.0.4; charset=utf-8";
}

/* ------------------------------------------------------------------------
 * Accept negotiation (RFC 9110 section 12.5.1)
 *
 * Each media range is matched against the two text formats; a format
 * takes its q-value from the most specific range that matches it
 * (type/subtype with a matching version > type/subtype > type/star >
 * star/star; among equally specific ranges the highest q). A version
 * parameter other than ours (openmetrics-text version=0.0.1, say) makes a
 * range not match. Ranges with a malformed q-value or syntax are skipped.
 * Then: the higher q wins; on equal q the more specific match wins; then
 * the range listed first; a single wildcard covering both, or no match at
 * all, gives text 0.0.4. A q of 0 for OpenMetrics always gives 0.0.4.
 * ---------------------------------------------------------------------- */

static int is_tchar (unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return 1;
    return ch != 0 && strchr ("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int is_ows (char ch)
{
    return ch == ' ' || ch == '\t';
}

static int token_eq (const char *s, size_t n, const char *lit)
{
    size_t m = strlen (lit);
    if (n != m)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char a = s[i], b = lit[i];
        if (a >= 'A' && a <= 'Z')
            a = (char) (a - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return 1;
}

int zmqobs__parse_qvalue (const char *s, size_t n)
{
    /* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
    if (!s || n == 0 || n > 5 || (s[0] != '0' && s[0] != '1'))
        return -1;
    if (n > 1 && s[1] != '.')
        return -1;
    int q = s[0] == '1' ? 1000 : 0;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (q == 1000 && s[i] != '0')
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q;
}

typedef struct {
    int spec;   /* -1: no match yet */
    int q;      /* 0..1000 */
    size_t idx; /* position of the range in the header */
} match_t;

static void consider (match_t *m, int spec, int q, size_t idx)
{
    if (spec > m->spec || (spec == m->spec && q > m->q)) {
        m->spec = spec;
        m->q = q;
        m->idx = idx;
    }
}

zmqobs_format_t zmqobs__format_from_accept_n (const char *s, size_t n)
{
    match_t om = {-1, 0, 0}, text = {-1, 0, 0};
    size_t i = 0, idx = 0;
    if (!s)
        n = 0;
    while (i < n) {
        /* one media range: type "/" subtype *( OWS ";" OWS param ) */
        int ok = 1;
        while (i < n && (is_ows (s[i]) || s[i] == ','))
            i++;
        if (i >= n)
            break;
        size_t t0 = i;
        while (i < n && is_tchar ((unsigned char) s[i]))
            i++;
        size_t t1 = i;
        size_t st0 = i, st1 = i;
        if (i < n && s[i] == '/' && t1 > t0) {
            st0 = ++i;
            while (i < n && is_tchar ((unsigned char) s[i]))
                i++;
            st1 = i;
        }
        if (st1 == st0)
            ok = 0;
        int q = 1000;
        int version = 0; /* 0 none, 1 ours, -1 another */
        const char *ver = NULL;
        size_t ver_len = 0;
        while (ok) {
            while (i < n && is_ows (s[i]))
                i++;
            if (i >= n || s[i] == ',')
                break;
            if (s[i] != ';') {
                ok = 0;
                break;
            }
            i++;
            while (i < n && is_ows (s[i]))
                i++;
            size_t p0 = i;
            while (i < n && is_tchar ((unsigned char) s[i]))
                i++;
            size_t p1 = i;
            if (p1 == p0 || i >= n || s[i] != '=') {
                ok = 0;
                break;
            }
            i++;
            size_t v0 = i, v1;
            if (i < n && s[i] == '"') {
                /* quoted-string; the value is compared without unescaping,
                 * so an escaped version never matches ours */
                i++;
                v0 = i;
                while (i < n && s[i] != '"') {
                    if (s[i] == '\\' && i + 1 < n)
                        i++;
                    i++;
                }
                if (i >= n) {
                    ok = 0;
                    break;
                }
                v1 = i++;
            } else {
                while (i < n && is_tchar ((unsigned char) s[i]))
                    i++;
                v1 = i;
                if (v1 == v0) {
                    ok = 0;
                    break;
                }
            }
            if (token_eq (s + p0, p1 - p0, "q")) {
                q = zmqobs__parse_qvalue (s + v0, v1 - v0);
                if (q < 0)
                    ok = 0;
            } else if (token_eq (s + p0, p1 - p0, "version")) {
                ver = s + v0;
                ver_len = v1 - v0;
            }
        }
        if (!ok) {
            /* skip the rest of this range, honouring quoted strings */
            int quoted = 0;
            while (i < n && (quoted || s[i] != ',')) {
                if (s[i] == '\\' && quoted && i + 1 < n)
                    i++;
                else if (s[i] == '"')
                    quoted = !quoted;
                i++;
            }
            idx++;
            continue;
        }
        const char *type = s + t0, *sub = s + st0;
        size_t tl = t1 - t0, sl = st1 - st0;
        if (token_eq (type, tl, "*")) {
            if (token_eq (sub, sl, "*")) {
                consider (&om, 0, q, idx);
                consider (&text, 0, q, idx);
            }
        } else if (token_eq (type, tl, "application")) {
            if (token_eq (sub, sl, "*"))
                consider (&om, 1, q, idx);
            else if (token_eq (sub, sl, "openmetrics-text")) {
                version = !ver ? 0 : token_eq (ver, ver_len, "1.0.0") ? 1 : -1;
                if (version >= 0)
                    consider (&om, 2 + version, q, idx);
            }
        } else if (token_eq (type, tl, "text")) {
            if (token_eq (sub, sl, "*"))
                consider (&text, 1, q, idx);
            else if (token_eq (sub, sl, "plain")) {
                version = !ver ? 0 : token_eq (ver, ver_len, "0.0.4") ? 1 : -1;
                if (version >= 0)
                    consider (&text, 2 + version, q, idx);
            }
        }
        idx++;
    }
    if (om.spec < 0 || om.q == 0)
        return ZMQOBS_FORMAT_PROMETHEUS;
    if (text.spec < 0 || om.q > text.q)
        return ZMQOBS_FORMAT_OPENMETRICS;
    if (om.q < text.q)
        return ZMQOBS_FORMAT_PROMETHEUS;
    if (om.spec != text.spec)
        return om.spec > text.spec ? ZMQOBS_FORMAT_OPENMETRICS : ZMQOBS_FORMAT_PROMETHEUS;
    return om.idx < text.idx ? ZMQOBS_FORMAT_OPENMETRICS : ZMQOBS_FORMAT_PROMETHEUS;
}

zmqobs_format_t zmqobs_format_from_accept (const char *accept)
{
    if (!accept)
        return ZMQOBS_FORMAT_PROMETHEUS;
    return zmqobs__format_from_accept_n (accept, strlen (accept));
}
