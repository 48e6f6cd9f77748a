/*
 * overview.c - the observer-wide view: every attached socket's snapshot
 * in attach order (zmqobs_foreach_socket), and their totals with window
 * quantiles over the union of their samples (zmqobs_total_stats).
 *
 * Both walk the registry one socket at a time (registry.h), pinned, with
 * no lock held in between: the callback may call back into the library,
 * and attach, detach and scrapes never wait for a walk.
 *
 * SPDX-License-Identifier: MIT
 */
#include "metrics.h"
#include "registry.h"

#include <stdint.h>
#include <string.h>

int zmqobs_foreach_socket (zmqobs_t *self, zmqobs_socket_fn *fn, void *arg)
{
    if (!self || !fn) {
        errno = EINVAL;
        return -1;
    }
    zmqobs_walk_t w;
    zmqobs__walk_begin (self, &w);
    zmqobs_stats_t st;
    zmqobs_socket_t *s;
    while ((s = zmqobs__walk_next (self, &w))) {
        zmqobs__socket_snapshot (s, &st);
        /* s stays pinned during the call: a detach inside fn (or on
         * another thread) leaves its free to the next step */
        int rc = fn (&st, arg);
        if (rc != 0) {
            int err = errno;
            zmqobs__walk_end (self, &w);
            errno = err;
            return rc;
        }
    }
    return 0;
}

static void add_sat (uint64_t *total, uint64_t v)
{
    *total = *total + v < *total ? UINT64_MAX : *total + v;
}

static void add_sat_i64 (int64_t *total, int64_t v)
{
    if (__builtin_add_overflow (*total, v, total))
        *total = v < 0 ? INT64_MIN : INT64_MAX;
}

/* Adds one socket's snapshot into the totals (all but the window). */
static void add_stats (zmqobs_stats_t *t, const zmqobs_stats_t *st, int first)
{
    if (first || st->attached_ns < t->attached_ns)
        t->attached_ns = st->attached_ns;
    if (st->uptime_ns > t->uptime_ns)
        t->uptime_ns = st->uptime_ns;
    add_sat (&t->msgs_sent, st->msgs_sent);
    add_sat (&t->bytes_sent, st->bytes_sent);
    add_sat (&t->msgs_received, st->msgs_received);
    add_sat (&t->bytes_received, st->bytes_received);
    for (int op = 0; op < 2; op++)
        for (int i = 0; i < ZMQOBS_ERRNO_SLOTS; i++)
            add_sat (&t->errors[op][i], st->errors[op][i]);
    add_sat_i64 (&t->queue_depth, st->queue_depth);
    for (int i = 0; i < ZMQOBS_EVENT_SLOTS; i++)
        add_sat (&t->events[i], st->events[i]);
    add_sat_i64 (&t->connections, st->connections);
    add_sat (&t->listening, st->listening);
    add_sat (&t->reconnects, st->reconnects);
    for (int i = 0; i < ZMQOBS_HANDSHAKE_SLOTS; i++)
        add_sat (&t->handshake_failures[i], st->handshake_failures[i]);
    add_sat (&t->malformed_events, st->malformed_events);
    for (uint32_t i = 0; i <= t->bucket_count; i++)
        add_sat (&t->buckets[i], st->buckets[i]);
    add_sat (&t->latency_count, st->latency_count);
    add_sat (&t->latency_sum_ns, st->latency_sum_ns);
    t->monitor_up &= st->monitor_up != 0;
}

int zmqobs_total_stats (zmqobs_t *self, zmqobs_stats_t *out)
{
    if (!self || !out) {
        errno = EINVAL;
        return -1;
    }
    memset (out, 0, sizeof *out);
    zmqobs_walk_t w;
    size_t n = zmqobs__walk_begin (self, &w);
    /* Room for every socket's full ring: the walk visits at most n
     * sockets, each window holds at most the ring capacity. */
    size_t cap = self->ring_capacity;
    uint64_t *samples = NULL;
    if (n > 0) {
        if (n > SIZE_MAX / sizeof *samples / cap) {
            errno = ENOMEM;
            return -1;
        }
        samples = zmqobs__malloc (n * cap * sizeof *samples);
        if (!samples)
            return -1;
    }
    out->name[0] = '*';
    out->type = -1;
    out->monitor_up = 1;
    out->bucket_count = self->bucket_count;
    memcpy (out->bounds_ns, self->bounds, self->bucket_count * sizeof out->bounds_ns[0]);
    zmqobs_stats_t st;
    size_t have = 0, visited = 0;
    zmqobs_socket_t *s;
    while ((s = zmqobs__walk_next (self, &w))) {
        zmqobs__socket_snapshot (s, &st);
        add_stats (out, &st, visited == 0);
        /* the walk visits only sockets attached before it began, of
         * which there were n; the bound keeps the buffer safe anyway */
        if (visited++ < n)
            have += zmqobs__socket_window_copy (s, samples + have);
    }
    int rc = 0;
    if (have > UINT32_MAX) {
        errno = ENOMEM;
        rc = -1;
    } else if (have > 0) {
        /* calloc: the selection's bin counts and marks start clear */
        void *scratch = zmqobs__calloc (1, zmqobs__window_scratch_size ((uint32_t) have));
        if (scratch) {
            zmqobs__window (samples, have, (uint32_t) have, scratch, &out->window);
            zmqobs__free (scratch);
        } else
            rc = -1;
    }
    zmqobs__free (samples);
    if (rc != 0)
        memset (out, 0, sizeof *out);
    return rc;
}
