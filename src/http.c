/*
 * http.c - PLACEHOLDER until the HTTP endpoint lands.
 *
 * SPDX-License-Identifier: MIT
 */
#include "zmqobs_private.h"

int zmqobs__http_pollitems (zmqobs_t *obs, zmq_pollitem_t *items, int size) { (void) obs; (void) items; (void) size; return 0; }
void zmqobs__http_dispatch (zmqobs_t *obs, const zmq_pollitem_t *items, int n) { (void) obs; (void) items; (void) n; }
long zmqobs__http_timeout_ms (zmqobs_t *obs) { (void) obs; return -1; }
void zmqobs__http_fini (zmqobs_t *obs) { (void) obs; }
int zmqobs_serve (zmqobs_t *self, const char *endpoint) { (void) self; (void) endpoint; errno = ENOTSUP; return -1; }
int zmqobs_serve_port (zmqobs_t *self) { (void) self; errno = ENOTSUP; return -1; }
int zmqobs_serve_stop (zmqobs_t *self) { (void) self; errno = ENOTSUP; return -1; }
