/*
 * registry.h - the observer's attached sockets (registry.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_REGISTRY_H
#define ZMQOBS_REGISTRY_H

#include "zmqobs_private.h"

/* Adds s (its name set) at the end of the registry; -1 with EEXIST (the
 * name is taken) or ENOMEM. Any thread. */
int zmqobs__registry_add (zmqobs_t *obs, zmqobs_socket_t *s);
/* Takes s out of the registry: no scrape that starts later sees it. */
void zmqobs__registry_remove (zmqobs_t *obs, zmqobs_socket_t *s);
/* Frees a removed s now, or at the unpin of the scrape that pinned it. */
void zmqobs__registry_release (zmqobs_t *obs, zmqobs_socket_t *s);
/* The socket with this name, or NULL; obs->lock held. */
zmqobs_socket_t *zmqobs__registry_find_locked (zmqobs_t *obs, const char *name);
/* The first socket in attach order (NULL when none), and the count. */
zmqobs_socket_t *zmqobs__registry_first (zmqobs_t *obs);
int zmqobs__registry_count (zmqobs_t *obs);
/* Pins every attached socket for a scrape and returns how many; *out is
 * the array, in attach order, valid until unpin. The caller holds
 * obs->scrape_lock from pin to unpin. Never allocates. */
size_t zmqobs__pin_sockets (zmqobs_t *obs, zmqobs_socket_t *const **out);
void zmqobs__unpin_sockets (zmqobs_t *obs);
/* Frees the registry's tables (zmqobs_destroy, every socket detached). */
void zmqobs__registry_fini (zmqobs_t *obs);

#endif /* ZMQOBS_REGISTRY_H */
