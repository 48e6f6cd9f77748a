/*
 * http.h - the built-in HTTP endpoint (http.c): the pure request parser and the server.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_HTTP_H
#define ZMQOBS_HTTP_H

#include "zmqobs_private.h"

/* Fills up to size poll items for the HTTP listener and connections and
 * returns how many it needs (0 when not serving). */
int zmqobs__http_pollitems (zmqobs_t *obs, zmq_pollitem_t *items, int size);
/* Handles whatever is ready among the n items previously filled. */
void zmqobs__http_dispatch (zmqobs_t *obs, const zmq_pollitem_t *items, int n);
/* Milliseconds until the next HTTP timeout is due, -1 for none. */
long zmqobs__http_timeout_ms (zmqobs_t *obs);
/* Frees HTTP state; called by zmqobs_destroy. */
void zmqobs__http_fini (zmqobs_t *obs);

/* Test hook: idle, request and write-stall timeouts in ms (<= 0 keeps
 * the current value; defaults 30000, 5000, 10000). Creates the HTTP state
 * if needed. Any thread. */
void zmqobs__http_set_timeouts (zmqobs_t *obs, long idle_ms, long request_ms, long write_ms);

#endif /* ZMQOBS_HTTP_H */
