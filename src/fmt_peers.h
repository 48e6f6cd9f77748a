/*
 * fmt_peers.h - per-peer metrics as JSON (fmt_peers.c): one socket's
 * peers for the JSON exposition, and the /peers document.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_FMT_PEERS_H
#define ZMQOBS_FMT_PEERS_H

#include "base.h"
#include "fmt_common.h"
#include "peers.h"

/* The name of a key kind as the formats print it ("address",
 * "routing_id"). */
const char *zmqobs__peer_key_name (int key);

/* "key":..,"max_peers":..,"tracked":..,"peers":[..],"other":{..} (no braces) for
 * the table p of a socket; under obs->scrape_lock (uses p's scratch). */
void zmqobs__fmt_peers_json (zmqobs_out_t *o, zmqobs_peers_t *p);

/* Copies the peer table of every socket that has one into its scratch
 * (zmqobs__peers_snap), for the formats that print the per-peer
 * families; returns 1 when any socket tracks peers. Under
 * obs->scrape_lock. */
int zmqobs__peers_snap_all (zmqobs_socket_t *const *socks, size_t n);

/* The value of per-peer family fam (PF_MSGS_RECV .. PF_BYTES_SENT) of d. */
uint64_t zmqobs__peer_value (const zmqobs_peer_stats_t *d, int fam);

/* The /peers document over the scrape's pinned sockets. */
void zmqobs__fmt_peers_doc (zmqobs_out_t *o, zmqobs_socket_t *const *socks, size_t n);

#endif /* ZMQOBS_FMT_PEERS_H */
