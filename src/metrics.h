/*
 * metrics.h - the per-socket metric block: hot path helpers, histogram, window quantiles, snapshots (metrics.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_METRICS_H
#define ZMQOBS_METRICS_H

#include "window.h"
#include "zmqobs_private.h"

/* Builds the O(1) bucket lookup table for bounds. */
void zmqobs__build_lut (const uint64_t *bounds, uint32_t n, uint8_t lut[64]);
/* Initialises the hot block of a fresh socket for the observer's options. */
void zmqobs__metrics_init (zmqobs_socket_t *s, const zmqobs_t *obs, int type);
/* Sets the hot block's send and receive hooks from the socket's state
 * (latency sampling, per-peer table). Owner thread. */
void zmqobs__hooks_update (zmqobs_socket_t *s);
/* Reads ZMQ_SNDHWM and ZMQ_RCVHWM into the block's gauges (-1 when
 * unreadable). Owner thread; errno is kept. */
void zmqobs__read_hwm (zmqobs_socket_t *s);
/* Frees what the metrics allocated since (the latency ring); called
 * before the block itself is freed (zmqobs__socket_free). */
void zmqobs__metrics_fini (zmqobs_socket_t *s);
/* zmqobs_socket_stats without the argument checks. Takes only the
 * observer's error and scratch locks, each for one socket's copy. */
int zmqobs__socket_snapshot (const zmqobs_socket_t *s, zmqobs_stats_t *out);
/* Copies the samples s's latency window holds now (as a snapshot would
 * see them, in ring order) into dst, which has room for the observer's
 * ring capacity, and returns how many. No lock; any thread. */
size_t zmqobs__socket_window_copy (const zmqobs_socket_t *s, uint64_t *dst);
/* Frees a socket block (registry.c calls it once nothing reads it). */
void zmqobs__socket_free (zmqobs_socket_t *s);

#endif /* ZMQOBS_METRICS_H */
