/*
 * fmt_json.c - the JSON exposition: one object, one snapshot per socket.
 *
 * SPDX-License-Identifier: MIT
 */
#include "fmt_common.h"
#include "fmt_peers.h"

#include "fmt_app.h"

#include <string.h>

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
    zmqobs__put_json (o, s, strlen (s));
}

static void json_socket (zmqobs_out_t *o, const zmqobs_stats_t *st, zmqobs_socket_t *s)
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
            if (st->errors[op][i] && zmqobs__errno_names[i].name)
                json_u64 (o, zmqobs__errno_names[i].name, st->errors[op][i], &f2);
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
            if (zmqobs__event_names[i].name)
                json_u64 (o, zmqobs__event_names[i].name, st->events[i], &f2);
        zmqobs__put_c (o, '}');
    }
    json_i64 (o, "connections", st->connections, &first);
    json_u64 (o, "listening", st->listening, &first);
    json_u64 (o, "monitor_up", st->monitor_up ? 1 : 0, &first);
    json_u64 (o, "reconnects", st->reconnects, &first);
    json_key (o, "handshake_failures", &first);
    {
        int f2 = 1;
        zmqobs__put_c (o, '{');
        for (unsigned i = 0; i < ZMQOBS_HANDSHAKE_SLOTS; i++)
            if (st->handshake_failures[i] && zmqobs__handshake_names[i].name)
                json_u64 (o, zmqobs__handshake_names[i].name, st->handshake_failures[i], &f2);
        zmqobs__put_c (o, '}');
    }
    json_u64 (o, "monitor_malformed", st->malformed_events, &first);
    json_i64 (o, "queue_depth", st->queue_depth, &first);
    json_i64 (o, "sndhwm", st->sndhwm, &first);
    json_i64 (o, "rcvhwm", st->rcvhwm, &first);
    if (st->proxy)
        json_i64 (o, "proxy_in_flight", st->proxy_in_flight, &first);
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
    if (s->peers) {
        json_key (o, "peers", &first);
        zmqobs__put_c (o, '{');
        zmqobs__fmt_peers_json (o, s->peers);
        zmqobs__put_c (o, '}');
    }
    zmqobs__put_c (o, '}');
}

void zmqobs__fmt_json (zmqobs_out_t *o, zmqobs_t *obs, zmqobs_socket_t *const *socks, size_t n,
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
        json_socket (o, st, socks[i]);
    }
    zmqobs__put_c (o, ']');
    json_key (o, "application", &first);
    zmqobs__fmt_app_json (o, obs);
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
