/*
 * monitor.c - PLACEHOLDER until the monitor engine lands: attach only
 * registers metrics; no monitor is started.
 *
 * SPDX-License-Identifier: MIT
 */
#include "zmqobs_private.h"

int zmqobs__monitor_init (zmqobs_t *obs) { (void) obs; return 0; }
void zmqobs__monitor_fini (zmqobs_t *obs) { (void) obs; }
int zmqobs__monitor_attach (zmqobs_t *obs, zmqobs_socket_t *s) { (void) obs; (void) s; return 0; }
void zmqobs__monitor_detach (zmqobs_t *obs, zmqobs_socket_t *s) { (void) obs; (void) s; }
void zmqobs__monitor_wake (zmqobs_t *obs) { (void) obs; }
void zmqobs__apply_event (zmqobs_socket_t *s, const zmqobs_event_t *ev) { (void) s; (void) ev; }
int zmqobs_on_event (zmqobs_t *self, zmqobs_event_fn *fn, void *arg) { (void) self; (void) fn; (void) arg; errno = ENOTSUP; return -1; }
void zmqobs_json_log (const zmqobs_event_info_t *info, void *arg) { (void) info; (void) arg; }
int zmqobs_pollitems (zmqobs_t *self, zmq_pollitem_t *items, int size) { (void) self; (void) items; (void) size; errno = ENOTSUP; return -1; }
int zmqobs_process (zmqobs_t *self, long timeout_ms) { (void) self; (void) timeout_ms; errno = ENOTSUP; return -1; }
int zmqobs_ready (zmqobs_t *self, char *reason, size_t size) { (void) self; (void) reason; (void) size; errno = ENOTSUP; return -1; }
