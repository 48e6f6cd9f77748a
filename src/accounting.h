/*
 * accounting.h - monitor events into a socket's metrics (accounting.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_ACCOUNTING_H
#define ZMQOBS_ACCOUNTING_H

#include "zmqobs_private.h"

/* Applies one decoded event to the socket's monitor block (pure apart
 * from the block; draining thread). */
void zmqobs__apply_event (zmqobs_socket_t *s, const zmqobs_event_t *ev);
/* The host closed (closed = 1: its peers leave the gauge, its later
 * events are ignored) or opened again an endpoint; port, for a wildcard
 * unbind, covers every peer accepted on that tcp port. Draining thread. */
void zmqobs__mark_endpoint (zmqobs_mon_block_t *m, const char *ep, size_t len, uint16_t port,
                            int closed);
/* The port of a wildcard tcp bind (tcp to 0.0.0.0 or *, any port),
 * else 0. */
uint16_t zmqobs__wildcard_port (const char *ep, size_t len);

/* What attach learnt of an endpoint the host set up before it (its
 * ZMQ_LAST_ENDPOINT): a listener (counted as listening until its CLOSED,
 * matched by endpoint) or a connect (its peers unknown). Before the
 * socket's reader is in the loop. */
void zmqobs__seed_endpoint (zmqobs_socket_t *s, const char *ep, size_t len, int listener);

/* 1 when ev's endpoint is the remote peer's address (see
 * zmqobs_event_info_t.peer); asked before zmqobs__apply_event takes ev
 * in (a DISCONNECTED may free the endpoint's slot).
 * Draining thread. */
int zmqobs__event_names_peer (zmqobs_socket_t *s, const zmqobs_event_t *ev);

#endif /* ZMQOBS_ACCOUNTING_H */
