/*
 * monitor.h - the control side of the monitors (monitor.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_MONITOR_H
#define ZMQOBS_MONITOR_H

#include "zmqobs_private.h"

/* Called by zmqobs_new once options are set: creates the monitor state
 * and the loop (and, unless host-driven, its thread). -1 with errno. */
int zmqobs__monitor_init (zmqobs_t *obs);
/* Called by zmqobs_destroy after every socket is detached and HTTP is
 * stopped: stops the loop, hands orphans on, frees monitor state. Safe
 * when the context was terminated. */
void zmqobs__monitor_fini (zmqobs_t *obs);
/* Starts the monitor of s and connects its reader; on return libzmq can
 * never block on it. -1 with errno (EEXIST: the handle is attached
 * already; EXDEV: another context; ETERM; EMFILE: the context's
 * ZMQ_MAX_SOCKETS; ENOMEM), socket unchanged, on failure. Runs on the
 * socket's owner thread, without obs->lock held. */
int zmqobs__monitor_attach (zmqobs_t *obs, zmqobs_socket_t *s);
/* Stops the monitor of s in the safe order; on return no thread touches
 * s's monitor state again. Owner thread, without obs->lock held. */
void zmqobs__monitor_detach (zmqobs_t *obs, zmqobs_socket_t *s);

#endif /* ZMQOBS_MONITOR_H */
