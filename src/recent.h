/*
 * recent.h - a bounded ring of the latest monitor events (recent.c), for
 * the status page's /events.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_RECENT_H
#define ZMQOBS_RECENT_H

#include "base.h"

/* Events the ring keeps: the newest ones, older ones are overwritten. */
#define ZMQOBS__RECENT_CAP 64

/* One event as the ring keeps it: a copy, names and endpoint included
 * (the socket may be detached and freed long before it is read). */
typedef struct zmqobs_recent_event {
    uint64_t ts_ns; /* wall clock, ns since the epoch */
    uint32_t event; /* ZMQ_EVENT_* */
    uint32_t value;
    uint16_t value_kind; /* zmqobs_value_kind_t */
    uint16_t named_peer; /* 1: the endpoint names the peer (see emit) */
    uint16_t name_len;
    uint16_t endpoint_len;
    char name[ZMQOBS_NAME_MAX + 1];
    char endpoint[ZMQOBS_ENDPOINT_MAX + 1];
} zmqobs_recent_event_t;

typedef struct zmqobs_recent zmqobs_recent_t;

/* A ring of ZMQOBS__RECENT_CAP events; NULL with errno ENOMEM. */
zmqobs_recent_t *zmqobs__recent_new (void);
/* Frees the ring (NULL is fine); no reader or writer may use it then. */
void zmqobs__recent_free (zmqobs_recent_t *r);

/* Appends one event of the socket named name (name_len bytes, at most
 * ZMQOBS_NAME_MAX) at wall time ts_ns, overwriting the oldest; named_peer
 * as zmqobs__emit has it. One
 * writer at a time (the caller serialises); never waits for readers,
 * never allocates. */
void zmqobs__recent_push (zmqobs_recent_t *r, const char *name, size_t name_len,
                          const zmqobs_event_t *ev, int named_peer, uint64_t ts_ns);

/* Events pushed so far (the next event's sequence number). Any thread. */
uint64_t zmqobs__recent_total (const zmqobs_recent_t *r);

/* Copies event number seq (0 = the first ever pushed) into *out. Returns
 * 0, or -1 with errno ENOENT when that event was never pushed, has been
 * overwritten, or was being overwritten during the copy. Any thread,
 * concurrently with the writer; lock-free. */
int zmqobs__recent_get (const zmqobs_recent_t *r, uint64_t seq, zmqobs_recent_event_t *out);

#endif /* ZMQOBS_RECENT_H */
