/*
 * fmt_text.c - the human report, like a print_stats table.
 *
 * SPDX-License-Identifier: MIT
 */
#include "fmt_common.h"
#include "fmt_peers.h"

#include "fmt_app.h"

#include <string.h>

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

/* The tracked peers, busiest first as the table holds them, at most 10
 * lines, then the rest in one. */
static void text_peers (zmqobs_out_t *o, zmqobs_peers_t *p)
{
    zmqobs_peer_stats_t *buf = zmqobs__peers_scratch (p);
    zmqobs_peer_stats_t other;
    unsigned cap = zmqobs__peers_cap (p);
    size_t n = zmqobs__peers_copy (p, buf, cap, &other);
    ZMQOBS__PUT_LIT (o, "\n  peers           ");
    zmqobs__put_u64 (o, n);
    ZMQOBS__PUT_LIT (o, " tracked (at most ");
    zmqobs__put_u64 (o, cap);
    ZMQOBS__PUT_LIT (o, ", by ");
    zmqobs__put_str (o, zmqobs__peer_key_name (zmqobs__peers_key (p)));
    zmqobs__put_c (o, ')');
    size_t shown = n < 10 ? n : 10;
    for (size_t i = 0; i <= shown; i++) {
        const zmqobs_peer_stats_t *d = i < shown ? &buf[i] : &other;
        if (i == shown && n > shown) {
            ZMQOBS__PUT_LIT (o, "\n    (");
            zmqobs__put_u64 (o, n - shown);
            ZMQOBS__PUT_LIT (o, " more tracked)");
        }
        ZMQOBS__PUT_LIT (o, "\n    ");
        zmqobs__put_json (o, d->peer, strlen (d->peer));
        ZMQOBS__PUT_LIT (o, " received ");
        zmqobs__put_u64 (o, d->msgs_received);
        ZMQOBS__PUT_LIT (o, " msgs, sent ");
        zmqobs__put_u64 (o, d->msgs_sent);
        ZMQOBS__PUT_LIT (o, " msgs");
    }
}

static void text_socket (zmqobs_out_t *o, const zmqobs_stats_t *st, zmqobs_socket_t *s)
{
    ZMQOBS__PUT_LIT (o, "socket ");
    /* a JSON string: quotes and control characters stay visible and the
     * line stays one line */
    zmqobs__put_json (o, st->name, strlen (st->name));
    ZMQOBS__PUT_LIT (o, " (");
    zmqobs__put_str (o, zmqobs_socket_type_name (st->type));
    ZMQOBS__PUT_LIT (o, ")\n  uptime          ");
    put_duration (o, st->uptime_ns);
    ZMQOBS__PUT_LIT (o, "\n  sent            ");
    zmqobs__put_u64 (o, st->msgs_sent);
    ZMQOBS__PUT_LIT (o, " msgs, ");
    zmqobs__put_u64 (o, st->bytes_sent);
    ZMQOBS__PUT_LIT (o, " bytes, ");
    put_rate (o, st->msgs_sent, st->uptime_ns);
    ZMQOBS__PUT_LIT (o, " msg/s\n  received        ");
    zmqobs__put_u64 (o, st->msgs_received);
    ZMQOBS__PUT_LIT (o, " msgs, ");
    zmqobs__put_u64 (o, st->bytes_received);
    ZMQOBS__PUT_LIT (o, " bytes, ");
    put_rate (o, st->msgs_received, st->uptime_ns);
    ZMQOBS__PUT_LIT (o, " msg/s\n  connections     ");
    char num[24];
    zmqobs__put (o, num, zmqobs__fmt_i64 (num, st->connections));
    ZMQOBS__PUT_LIT (o, " now, ");
    zmqobs__put_u64 (o, st->listening);
    ZMQOBS__PUT_LIT (o, " listening, ");
    zmqobs__put_u64 (o, st->reconnects);
    ZMQOBS__PUT_LIT (o, " reconnects\n  errors          ");
    uint64_t errs[2] = {0, 0}, hs = 0;
    for (int op = 0; op < 2; op++)
        for (unsigned i = 1; i < ZMQOBS_ERRNO_SLOTS; i++)
            errs[op] += st->errors[op][i];
    for (unsigned i = 0; i < ZMQOBS_HANDSHAKE_SLOTS; i++)
        hs += st->handshake_failures[i];
    ZMQOBS__PUT_LIT (o, "send ");
    zmqobs__put_u64 (o, errs[0]);
    ZMQOBS__PUT_LIT (o, ", recv ");
    zmqobs__put_u64 (o, errs[1]);
    ZMQOBS__PUT_LIT (o, ", would block send ");
    zmqobs__put_u64 (o, st->errors[0][0]);
    ZMQOBS__PUT_LIT (o, ", recv ");
    zmqobs__put_u64 (o, st->errors[1][0]);
    ZMQOBS__PUT_LIT (o, ", handshake failures ");
    zmqobs__put_u64 (o, hs);
    if (!st->monitor_up)
        ZMQOBS__PUT_LIT (o, "\n  monitor         stopped unasked (replaced?): counts frozen");
    ZMQOBS__PUT_LIT (o, "\n  queue depth     ");
    zmqobs__put (o, num, zmqobs__fmt_i64 (num, st->queue_depth));
    ZMQOBS__PUT_LIT (o, " (sndhwm ");
    zmqobs__put (o, num, zmqobs__fmt_i64 (num, st->sndhwm));
    ZMQOBS__PUT_LIT (o, ", rcvhwm ");
    zmqobs__put (o, num, zmqobs__fmt_i64 (num, st->rcvhwm));
    zmqobs__put_c (o, ')');
    if (st->proxy) {
        ZMQOBS__PUT_LIT (o, "\n  proxy in flight ");
        zmqobs__put (o, num, zmqobs__fmt_i64 (num, st->proxy_in_flight));
    }
    if (s->peers)
        text_peers (o, s->peers);
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
        zmqobs__put_u64 (o, w->count);
        ZMQOBS__PUT_LIT (o, " samples)");
    }
    zmqobs__put_c (o, '\n');
}

/* Observer-wide totals, added up from the snapshots the report prints. */
typedef struct {
    uint64_t connected, accepted, disconnected;
    uint64_t errors[ZMQOBS_ERRNO_SLOTS][2];
} text_totals_t;

static void totals_add (text_totals_t *t, const zmqobs_stats_t *st)
{
    t->connected += st->events[__builtin_ctz (ZMQ_EVENT_CONNECTED)];
    t->accepted += st->events[__builtin_ctz (ZMQ_EVENT_ACCEPTED)];
    t->disconnected += st->events[__builtin_ctz (ZMQ_EVENT_DISCONNECTED)];
    for (int op = 0; op < 2; op++)
        for (unsigned i = 0; i < ZMQOBS_ERRNO_SLOTS; i++)
            t->errors[i][op] += st->errors[op][i];
}

/* "EFSM send 2, ETERM recv 1, ..." in slot order, or "none". */
static void text_totals (zmqobs_out_t *o, const text_totals_t *t, size_t n)
{
    ZMQOBS__PUT_LIT (o, "totals over ");
    zmqobs__put_u64 (o, (uint64_t) n);
    zmqobs__put_str (o, n == 1 ? " socket\n" : " sockets\n");
    ZMQOBS__PUT_LIT (o, "  connections     ");
    zmqobs__put_u64 (o, t->connected + t->accepted);
    ZMQOBS__PUT_LIT (o, " established (CONNECTED ");
    zmqobs__put_u64 (o, t->connected);
    ZMQOBS__PUT_LIT (o, ", ACCEPTED ");
    zmqobs__put_u64 (o, t->accepted);
    ZMQOBS__PUT_LIT (o, "), ");
    zmqobs__put_u64 (o, t->disconnected);
    ZMQOBS__PUT_LIT (o, " disconnected\n  errors          ");
    int any = 0;
    for (unsigned i = 0; i < ZMQOBS_ERRNO_SLOTS; i++) {
        const name_t *nm = &zmqobs__errno_names[i];
        if (!nm->name || (t->errors[i][0] == 0 && t->errors[i][1] == 0))
            continue;
        if (any++)
            ZMQOBS__PUT_LIT (o, ", ");
        zmqobs__put (o, nm->name, nm->len);
        for (int op = 0; op < 2; op++)
            if (t->errors[i][op]) {
                zmqobs__put_str (o, op == ZMQOBS_OP_SEND ? " send " : " recv ");
                zmqobs__put_u64 (o, t->errors[i][op]);
            }
    }
    if (!any)
        ZMQOBS__PUT_LIT (o, "none");
    zmqobs__put_c (o, '\n');
}

void zmqobs__fmt_text (zmqobs_out_t *o, const zmqobs_t *obs, zmqobs_socket_t *const *socks,
                       size_t n, const zmqobs__process_t *p, zmqobs_stats_t *st)
{
    ZMQOBS__PUT_LIT (o, "zmqobs report: ");
    zmqobs__put_u64 (o, (uint64_t) n);
    zmqobs__put_str (o, n == 1 ? " socket\n" : " sockets\n");
    uint64_t up = LOAD (&zmqobs__test_uptime_ns);
    text_totals_t totals;
    memset (&totals, 0, sizeof totals);
    for (size_t i = 0; i < n; i++) {
        zmqobs__socket_snapshot (socks[i], st);
        if (up)
            st->uptime_ns = up;
        text_socket (o, st, socks[i]);
        totals_add (&totals, st);
    }
    text_totals (o, &totals, n);
    zmqobs__fmt_app_text (o, obs);
    if (p) {
        ZMQOBS__PUT_LIT (o, "process\n");
        if (p->have & (1u << P_CPU)) {
            ZMQOBS__PUT_LIT (o, "  cpu             ");
            put_duration (o, p->cpu_ns);
            zmqobs__put_c (o, '\n');
        }
        if (p->have & (1u << P_RSS)) {
            ZMQOBS__PUT_LIT (o, "  resident        ");
            zmqobs__put_u64 (o, p->resident_bytes);
            ZMQOBS__PUT_LIT (o, " bytes\n");
        }
        if (p->have & (1u << P_THREADS)) {
            ZMQOBS__PUT_LIT (o, "  threads         ");
            zmqobs__put_u64 (o, p->threads);
            zmqobs__put_c (o, '\n');
        }
        if (p->have & (1u << P_OPEN_FDS)) {
            ZMQOBS__PUT_LIT (o, "  open fds        ");
            zmqobs__put_u64 (o, p->open_fds);
            if (p->have & (1u << P_MAX_FDS)) {
                ZMQOBS__PUT_LIT (o, " of ");
                zmqobs__put_u64 (o, p->max_fds);
            }
            zmqobs__put_c (o, '\n');
        }
    }
}
