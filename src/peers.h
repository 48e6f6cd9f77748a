/*
 * peers.h - bounded per-peer traffic of one socket (peers.c): a table of
 * at most max_peers peers chosen by traffic (space-saving), everything
 * else summed as "other". The owner thread counts; scrapes copy.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_PEERS_H
#define ZMQOBS_PEERS_H

#include "zmqobs_private.h"

/* Counters of one peer (or of "other"). The owner thread writes them
 * (single-writer relaxed stores); snapshots read them with relaxed
 * loads. weight is the space-saving count, owner thread only. */
typedef struct zmqobs__peer_ctr {
    uint64_t in_msgs, in_bytes, out_msgs, out_bytes;
    uint64_t weight;
} zmqobs__peer_ctr_t;

typedef struct zmqobs_peers zmqobs_peers_t;

/* A table for max_peers peers keyed by key (ZMQOBS_PEER_*) on a socket of
 * type sock_type; NULL with ENOMEM. */
zmqobs_peers_t *zmqobs__peers_new (unsigned max_peers, int key, int sock_type);
void zmqobs__peers_free (zmqobs_peers_t *p);
int zmqobs__peers_key (const zmqobs_peers_t *p);
unsigned zmqobs__peers_cap (const zmqobs_peers_t *p);

/* The state the counting path reads for every part; the first member of
 * the table, so that the common case is inline. Owner thread. */
typedef struct zmqobs__peer_hot {
    zmqobs__peer_ctr_t *cur_in, *cur_out; /* the peers of the messages in
                                             progress each way */
    int need_in;                          /* the next part received starts a message (or its
                     peer is still to be named) */
    int need_out;                         /* the next part sent starts a message */
} zmqobs__peer_hot_t;

/* The first part of a message received (or one whose peer the part
 * before could not name): looks the peer up from data/len (the
 * routing-id frame; with data NULL, msg's bytes, or none when msg is NULL
 * too) or from msg's Peer-Address (msg may be NULL), and counts it. */
void zmqobs__peers_in_start (zmqobs_peers_t *p, const void *data, size_t len, zmq_msg_t *msg,
                             uint64_t bytes, int more);

/* Owner thread: one part received (bytes counted; more: more parts of
 * the same message follow). */
static inline void zmqobs__peers_in (zmqobs_peers_t *p, const void *data, size_t len,
                                     zmq_msg_t *msg, uint64_t bytes, int more)
{
    zmqobs__peer_hot_t *h = (zmqobs__peer_hot_t *) p;
    if (h->need_in) {
        zmqobs__peers_in_start (p, data, len, msg, bytes, more);
        return;
    }
    zmqobs__peer_ctr_t *c = h->cur_in;
    h->need_in = !more;
    BUMP (&c->in_msgs, 1);
    BUMP (&c->in_bytes, bytes);
    c->weight++;
}

/* The peer a message about to be sent goes to: from the routing id in
 * data/len (or msg's bytes when data is NULL; "other" when neither is
 * at hand), or, by address, the requester on a REP socket. Call it for
 * the first part only (need_out), before the send; count with
 * zmqobs__peers_out once the send succeeded. Owner thread. */
zmqobs__peer_ctr_t *zmqobs__peers_resolve_out (zmqobs_peers_t *p, const void *data, size_t len,
                                               zmq_msg_t *msg);

/* Owner thread: one part sent, to c (NULL: the peer of the message in
 * progress, or the one a first part resolves to with no bytes). */
static inline void zmqobs__peers_out (zmqobs_peers_t *p, zmqobs__peer_ctr_t *c, uint64_t bytes,
                                      int more)
{
    zmqobs__peer_hot_t *h = (zmqobs__peer_hot_t *) p;
    if (!c)
        c = h->need_out ? zmqobs__peers_resolve_out (p, NULL, 0, NULL) : h->cur_out;
    h->cur_out = c;
    h->need_out = !more;
    BUMP (&c->out_msgs, 1);
    BUMP (&c->out_bytes, bytes);
    c->weight++;
}

/* Copies the tracked peers (at most max) into out and "other" into
 * *other (may be NULL), stamping last_seen on peers whose counts moved
 * since the previous copy. Any thread; takes the table's lock briefly.
 * Returns the number of peers tracked (which may exceed max). */
size_t zmqobs__peers_copy (zmqobs_peers_t *p, zmqobs_peer_stats_t *out, size_t max,
                           zmqobs_peer_stats_t *other);

/* A scrape's copy into the table's scratch: the peers (at most cap), then
 * "other" right after them; returns (and keeps) how many peers. Under
 * obs->scrape_lock. */
size_t zmqobs__peers_snap (zmqobs_peers_t *p);
size_t zmqobs__peers_snap_len (const zmqobs_peers_t *p);

/* The table's own scratch for scrapes (cap + 1 entries: the peers, then
 * room for "other"): a scrape formats from it under obs->scrape_lock, so
 * that it never allocates. */
zmqobs_peer_stats_t *zmqobs__peers_scratch (zmqobs_peers_t *p);

/* Writes a peer key as it is exposed: printable ASCII as it is, anything
 * else (and keys that could be taken for "other" or for hex) as "0x" and
 * lowercase hex. dst has room for ZMQOBS_PEER_NAME_MAX + 1 bytes. */
size_t zmqobs__peer_name (char *dst, const uint8_t *key, size_t len);

#endif /* ZMQOBS_PEERS_H */
