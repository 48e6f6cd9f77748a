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
/* A walk over the sockets attached when it began, in attach order, that
 * holds no lock between its steps: each step pins the socket it returns
 * (a detach meanwhile leaves its free to the walk) and unpins the one
 * before. A socket detached before the walk reaches it is skipped;
 * sockets attached after the walk began are not visited. Any thread;
 * never allocates. */
typedef struct {
    uint64_t end;         /* reg_seq of the first socket not visited */
    zmqobs_socket_t *cur; /* pinned, NULL before the first step */
} zmqobs_walk_t;
/* Starts a walk and returns how many sockets it may visit at most. */
size_t zmqobs__walk_begin (zmqobs_t *obs, zmqobs_walk_t *w);
/* Unpins the current socket and pins and returns the next one, or NULL
 * at the end (nothing pinned then). */
zmqobs_socket_t *zmqobs__walk_next (zmqobs_t *obs, zmqobs_walk_t *w);
/* Ends a walk early: unpins the current socket. */
void zmqobs__walk_end (zmqobs_t *obs, zmqobs_walk_t *w);
/* Frees the registry's tables (zmqobs_destroy, every socket detached). */
void zmqobs__registry_fini (zmqobs_t *obs);

#endif /* ZMQOBS_REGISTRY_H */
