/*
 * registry.c - the observer's attached sockets: a list in attach order,
 * a hash of their names, and the pinning that lets a scrape format with
 * no lock held.
 *
 * Every operation is O(1) (amortised: the name hash and the pin array
 * double when attach needs room), except a walk's step past a socket
 * detached under it, which looks for its successor from the start. A
 * scrape takes the registry lock once to pin every socket into
 * obs->pinned and once to unpin them; in between it formats with no lock
 * that attach, detach or the drain path takes. A walk pins one socket at
 * a time instead, and holds no lock between its steps. A detach that
 * meets a pinned socket leaves its free to the last unpin, so it never
 * waits for a scrape or a walk either.
 *
 * SPDX-License-Identifier: MIT
 */
#include "registry.h"

#include "metrics.h"

#include <string.h>

/* FNV-1a of a name. */
static size_t name_bucket (const char *name, size_t cap)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *) name; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (size_t) (h ^ (h >> 29)) & (cap - 1);
}

zmqobs_socket_t *zmqobs__registry_find_locked (zmqobs_t *obs, const char *name)
{
    if (!obs->name_cap)
        return NULL;
    for (zmqobs_socket_t *s = obs->names[name_bucket (name, obs->name_cap)]; s; s = s->name_next)
        if (strcmp (s->name, name) == 0)
            return s;
    return NULL;
}

/* Room for one more socket in the name hash and the pin array; -1 with
 * ENOMEM. obs->lock held. */
static int reserve_locked (zmqobs_t *obs)
{
    size_t want = (size_t) obs->socket_count + 1;
    if (want > obs->pin_cap) {
        /* one slot in front of the array chains retired arrays */
        size_t cap = obs->pin_cap ? obs->pin_cap * 2 : 16;
        zmqobs_socket_t **store = zmqobs__calloc (cap + 1, sizeof *store);
        if (!store)
            return -1;
        zmqobs_socket_t **pinned = store + 1;
        if (obs->npinned) {
            /* a scrape is formatting from the old array with no lock
             * held: it is kept until that scrape unpins */
            memcpy (pinned, obs->pinned, obs->npinned * sizeof *pinned);
            obs->pinned[-1] = (zmqobs_socket_t *) (void *) obs->retired;
            obs->retired = obs->pinned;
        } else if (obs->pinned)
            zmqobs__free (obs->pinned - 1);
        obs->pinned = pinned;
        obs->pin_cap = cap;
    }
    if (want > obs->name_cap) {
        size_t cap = obs->name_cap ? obs->name_cap * 2 : 16;
        zmqobs_socket_t **names = zmqobs__calloc (cap, sizeof *names);
        if (!names)
            return -1;
        for (size_t i = 0; i < obs->name_cap; i++)
            for (zmqobs_socket_t *s = obs->names[i], *next; s; s = next) {
                next = s->name_next;
                size_t k = name_bucket (s->name, cap);
                s->name_next = names[k];
                names[k] = s;
            }
        zmqobs__free (obs->names);
        obs->names = names;
        obs->name_cap = cap;
    }
    return 0;
}

int zmqobs__registry_add (zmqobs_t *obs, zmqobs_socket_t *s)
{
    pthread_mutex_lock (&obs->lock);
    int err = 0;
    if (zmqobs__registry_find_locked (obs, s->name))
        err = EEXIST;
    else if (reserve_locked (obs) != 0)
        err = ENOMEM;
    else {
        size_t k = name_bucket (s->name, obs->name_cap);
        s->name_next = obs->names[k];
        obs->names[k] = s;
        if (!obs->tail)
            obs->tail = &obs->sockets;
        s->reg_seq = obs->reg_seq++;
        s->next = NULL;
        s->pprev = obs->tail;
        *obs->tail = s;
        obs->tail = &s->next;
        obs->socket_count++;
    }
    pthread_mutex_unlock (&obs->lock);
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

void zmqobs__registry_remove (zmqobs_t *obs, zmqobs_socket_t *s)
{
    pthread_mutex_lock (&obs->lock);
    if (s->pprev) {
        *s->pprev = s->next;
        if (s->next)
            s->next->pprev = s->pprev;
        else
            obs->tail = s->pprev;
        s->pprev = NULL;
        s->next = NULL;
        for (zmqobs_socket_t **pp = &obs->names[name_bucket (s->name, obs->name_cap)]; *pp;
             pp = &(*pp)->name_next)
            if (*pp == s) {
                *pp = s->name_next;
                break;
            }
        obs->socket_count--;
    }
    pthread_mutex_unlock (&obs->lock);
}

void zmqobs__registry_release (zmqobs_t *obs, zmqobs_socket_t *s)
{
    pthread_mutex_lock (&obs->lock);
    int later = s->pins > 0;
    if (later)
        s->free_on_unpin = 1;
    pthread_mutex_unlock (&obs->lock);
    if (!later)
        zmqobs__socket_free (s);
}

zmqobs_socket_t *zmqobs__registry_first (zmqobs_t *obs)
{
    pthread_mutex_lock (&obs->lock);
    zmqobs_socket_t *s = obs->sockets;
    pthread_mutex_unlock (&obs->lock);
    return s;
}

int zmqobs__registry_count (zmqobs_t *obs)
{
    pthread_mutex_lock (&obs->lock);
    int n = obs->socket_count;
    pthread_mutex_unlock (&obs->lock);
    return n;
}

size_t zmqobs__pin_sockets (zmqobs_t *obs, zmqobs_socket_t *const **out)
{
    pthread_mutex_lock (&obs->lock);
    size_t n = 0;
    for (zmqobs_socket_t *s = obs->sockets; s && n < obs->pin_cap; s = s->next) {
        s->pins++;
        obs->pinned[n++] = s;
    }
    obs->npinned = n;
    *out = obs->pinned;
    pthread_mutex_unlock (&obs->lock);
    return n;
}

void zmqobs__unpin_sockets (zmqobs_t *obs)
{
    pthread_mutex_lock (&obs->lock);
    /* the current array holds the pinned sockets first, even if attach
     * replaced the one the scrape read */
    size_t n = obs->npinned;
    obs->npinned = 0;
    for (size_t i = 0; i < n; i++) {
        zmqobs_socket_t *s = obs->pinned[i];
        if (--s->pins == 0 && s->free_on_unpin)
            zmqobs__socket_free (s); /* its detach has returned */
    }
    while (obs->retired) {
        zmqobs_socket_t **old = obs->retired;
        obs->retired = (zmqobs_socket_t **) (void *) old[-1];
        zmqobs__free (old - 1);
    }
    pthread_mutex_unlock (&obs->lock);
}

size_t zmqobs__walk_begin (zmqobs_t *obs, zmqobs_walk_t *w)
{
    pthread_mutex_lock (&obs->lock);
    w->end = obs->reg_seq;
    w->cur = NULL;
    size_t n = (size_t) obs->socket_count;
    pthread_mutex_unlock (&obs->lock);
    return n;
}

/* Drops a walk's pin on s; frees s when its detach has returned and no
 * one else pins it. obs->lock held. */
static void unpin_one_locked (zmqobs_socket_t *s)
{
    if (--s->pins == 0 && s->free_on_unpin)
        zmqobs__socket_free (s);
}

zmqobs_socket_t *zmqobs__walk_next (zmqobs_t *obs, zmqobs_walk_t *w)
{
    pthread_mutex_lock (&obs->lock);
    zmqobs_socket_t *prev = w->cur, *next;
    if (!prev)
        next = obs->sockets;
    else if (prev->pprev)
        next = prev->next; /* still attached: its successor */
    else {
        /* detached while the walk held it: the list is in reg_seq order,
         * so the first socket attached after it comes next */
        next = obs->sockets;
        while (next && next->reg_seq < prev->reg_seq)
            next = next->next;
    }
    if (prev)
        unpin_one_locked (prev);
    if (next && next->reg_seq >= w->end)
        next = NULL;
    if (next)
        next->pins++;
    w->cur = next;
    pthread_mutex_unlock (&obs->lock);
    return next;
}

void zmqobs__walk_end (zmqobs_t *obs, zmqobs_walk_t *w)
{
    if (!w->cur)
        return;
    pthread_mutex_lock (&obs->lock);
    unpin_one_locked (w->cur);
    w->cur = NULL;
    pthread_mutex_unlock (&obs->lock);
}

void zmqobs__registry_fini (zmqobs_t *obs)
{
    if (obs->pinned)
        zmqobs__free (obs->pinned - 1);
    obs->pinned = NULL;
    zmqobs__free (obs->names);
    obs->names = NULL;
}
