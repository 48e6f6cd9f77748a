/*
 * eventlog.h - the event callback and the JSON-lines log (eventlog.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_EVENTLOG_H
#define ZMQOBS_EVENTLOG_H

#include "zmqobs_private.h"

/* Calls the observer's event callback, if any, for one event of s, with
 * the callback lock held; named_peer: ev's endpoint is the remote peer
 * (zmqobs__event_names_peer). Draining thread. */
void zmqobs__emit (zmqobs_t *obs, zmqobs_socket_t *s, const zmqobs_event_t *ev, int named_peer);
/* 1 while this thread runs obs's event callback (calls that would wait
 * for the draining thread refuse with EDEADLK then). */
int zmqobs__in_callback (const zmqobs_t *obs);
/* The line zmqobs_json_log writes for info (newline included), with
 * snprintf semantics; 0 for an incomplete info. Exposed for tests. */
size_t zmqobs__json_line (const zmqobs_event_info_t *info, char *buf, size_t size);

/* The latest monitor events (obs->recent) as one JSON object, oldest
 * first, with snprintf semantics:
 *   {"capacity":64,"total":N,"events":[{...},...]}
 * each event an object as zmqobs_json_log writes it; total counts every
 * event since zmqobs_new. Without a ring the list is empty. Any thread;
 * never waits for the draining thread. */
size_t zmqobs__events_json (zmqobs_t *obs, char *buf, size_t size);

/* Opens the destination of options.event_log: "-" is the process's
 * stderr (*owned = 0), anything else a file opened for appending, created
 * if missing with mode 0666 less the umask, close-on-exec (*owned = 1:
 * the caller fcloses it). Returns the stream, or NULL with errno EINVAL
 * (NULL or empty path) or an errno of open(2) or fdopen(3). */
FILE *zmqobs__eventlog_open (const char *path, int *owned);

#endif /* ZMQOBS_EVENTLOG_H */
