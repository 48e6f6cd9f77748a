/*
 * http_parse.h - the pure HTTP/1.x request head parser and the parser of
 * zmqobs_serve's endpoint (http_parse.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_HTTP_PARSE_H
#define ZMQOBS_HTTP_PARSE_H

#include "base.h"

#include <sys/socket.h>

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

/* Parses a zmqobs_serve endpoint, "tcp://HOST:PORT" (HOST an IPv4
 * address, "*" for every IPv4 interface, "localhost" or a bracketed IPv6
 * address; PORT 0..65535 or "*"), into *ss and *sl. Pure: names are never
 * resolved. Returns 0, or -1 with errno EINVAL (NULL argument, anything
 * else). */
int zmqobs__http_parse_endpoint (const char *ep, struct sockaddr_storage *ss, socklen_t *sl);

#endif /* ZMQOBS_HTTP_PARSE_H */
