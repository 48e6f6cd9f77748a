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

/* Request limits of the built-in endpoint. */
#define ZMQOBS__HTTP_HEAD_MAX 8192  /* request line + headers, bytes */
#define ZMQOBS__HTTP_URI_MAX 2048   /* request target, bytes (else 414) */
#define ZMQOBS__HTTP_HEADERS_MAX 64 /* header fields (else 431) */
enum { ZMQOBS__HTTP_GET = 1, ZMQOBS__HTTP_HEAD, ZMQOBS__HTTP_OTHER };

/* One parsed request head; pointers point into the parsed buffer. */
typedef struct zmqobs_http_request {
    int method;        /* ZMQOBS__HTTP_GET, _HEAD or _OTHER */
    int version_minor; /* HTTP/1.x */
    const char *path;  /* request path, query stripped */
    size_t path_len;
    const char *accept; /* first Accept value (trimmed) or NULL */
    size_t accept_len;
    int keep_alive; /* connection persists after the response */
    int has_body;   /* Content-Length > 0 or Transfer-Encoding */
    unsigned header_count;
    int status; /* on error: the HTTP status to answer */
} zmqobs_http_request_t;

/* Parses one request head from buf (pure; never reads past len). Returns
 * the bytes it used (> 0) for a complete head, 0 when more bytes are
 * needed, or -1 with errno EPROTO and out->status set (400 malformed, 414
 * target too long, 431 headers too large or too many, 505 version) or
 * EINVAL (NULL out, or NULL buf with len > 0). Invalid bytes are refused
 * as soon as they are seen, complete line or not. */
int zmqobs__http_parse (const char *buf, size_t len, zmqobs_http_request_t *out);
/* Test hook: idle, request and write-stall timeouts in ms (<= 0 keeps
 * the current value; defaults 30000, 5000, 10000). Creates the HTTP state
 * if needed. Any thread. */
void zmqobs__http_set_timeouts (zmqobs_t *obs, long idle_ms, long request_ms, long write_ms);

#endif /* ZMQOBS_HTTP_H */
