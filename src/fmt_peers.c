/*
 * fmt_peers.c - per-peer metrics as JSON: in each socket's object of the
 * JSON exposition (only for sockets that track peers), and the document
 * GET /peers serves.
 *
 * SPDX-License-Identifier: MIT
 */
#include "fmt_peers.h"

const char *zmqobs__peer_key_name (int key)
{
    return key == ZMQOBS_PEER_ROUTING_ID ? "routing_id" : "address";
}

static void put_u64_field (zmqobs_out_t *o, const char *key, uint64_t v)
{
    char num[24];
    zmqobs__put_c (o, ',');
    zmqobs__put_c (o, '"');
    zmqobs__put_str (o, key);
    ZMQOBS__PUT_LIT (o, "\":");
    zmqobs__put (o, num, zmqobs__fmt_u64 (num, v));
}

static void put_peer (zmqobs_out_t *o, const zmqobs_peer_stats_t *d, int times)
{
    ZMQOBS__PUT_LIT (o, "{\"peer\":");
    zmqobs__put_json (o, d->peer, strlen (d->peer));
    put_u64_field (o, "messages_received", d->msgs_received);
    put_u64_field (o, "bytes_received", d->bytes_received);
    put_u64_field (o, "messages_sent", d->msgs_sent);
    put_u64_field (o, "bytes_sent", d->bytes_sent);
    if (times) {
        char num[48];
        put_u64_field (o, "error", d->error);
        ZMQOBS__PUT_LIT (o, ",\"first_seen_unix_seconds\":");
        zmqobs__put (o, num, zmqobs__fmt_secs (num, d->first_seen_ns));
        ZMQOBS__PUT_LIT (o, ",\"last_seen_unix_seconds\":");
        zmqobs__put (o, num, zmqobs__fmt_secs (num, d->last_seen_ns));
    }
    zmqobs__put_c (o, '}');
}

void zmqobs__fmt_peers_json (zmqobs_out_t *o, zmqobs_peers_t *p)
{
    zmqobs_peer_stats_t *buf = zmqobs__peers_scratch (p);
    zmqobs_peer_stats_t other;
    unsigned cap = zmqobs__peers_cap (p);
    size_t n = zmqobs__peers_copy (p, buf, cap, &other);
    ZMQOBS__PUT_LIT (o, "\"key\":\"");
    zmqobs__put_str (o, zmqobs__peer_key_name (zmqobs__peers_key (p)));
    zmqobs__put_c (o, '"');
    put_u64_field (o, "max_peers", cap);
    put_u64_field (o, "tracked", n);
    ZMQOBS__PUT_LIT (o, ",\"peers\":[");
    for (size_t i = 0; i < n && i < cap; i++) {
        if (i)
            zmqobs__put_c (o, ',');
        put_peer (o, &buf[i], 1);
    }
    ZMQOBS__PUT_LIT (o, "],\"other\":");
    put_peer (o, &other, 0);
}

void zmqobs__fmt_peers_doc (zmqobs_out_t *o, zmqobs_socket_t *const *socks, size_t n)
{
    ZMQOBS__PUT_LIT (o, "{\"sockets\":[");
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        zmqobs_socket_t *s = socks[i];
        if (!s->peers)
            continue;
        if (!first)
            zmqobs__put_c (o, ',');
        first = 0;
        ZMQOBS__PUT_LIT (o, "{\"socket\":");
        zmqobs__put_json (o, s->name, s->name_len);
        ZMQOBS__PUT_LIT (o, ",\"type\":\"");
        zmqobs__put_str (o, zmqobs_socket_type_name (s->type));
        ZMQOBS__PUT_LIT (o, "\",");
        zmqobs__fmt_peers_json (o, s->peers);
        zmqobs__put_c (o, '}');
    }
    ZMQOBS__PUT_LIT (o, "]}\n");
}

int zmqobs__peers_snap_all (zmqobs_socket_t *const *socks, size_t n)
{
    int any = 0;
    for (size_t i = 0; i < n; i++)
        if (socks[i]->peers) {
            zmqobs__peers_snap (socks[i]->peers);
            any = 1;
        }
    return any;
}

uint64_t zmqobs__peer_value (const zmqobs_peer_stats_t *d, int fam)
{
    switch (fam) {
    case PF_MSGS_RECV:
        return d->msgs_received;
    case PF_MSGS_SENT:
        return d->msgs_sent;
    case PF_BYTES_RECV:
        return d->bytes_received;
    default:
        return d->bytes_sent;
    }
}
