/*
 * otlp.h - OTLP/HTTP push of every metric to a collector (otlp.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_OTLP_H
#define ZMQOBS_OTLP_H

#include "zmqobs_private.h"

/* A parsed http:// URL: a numeric IPv4 or IPv6 address (or localhost),
 * a port, a path. */
typedef struct {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    uint16_t port;
    char host[80]; /* host[:port] as written, for the Host header */
    char path[256];
} zmqobs_url_t;

/* Parses "http://HOST[:PORT][/PATH]" (port 80 and path "/" by default;
 * HOST an IPv4 address, "localhost" or a bracketed IPv6 address). 0, or
 * -1 with EINVAL (NULL, another scheme, a name to resolve, a malformed or
 * too long part) or ENOTSUP (https://). Pure. */
int zmqobs__url_parse (const char *url, zmqobs_url_t *out);

/* Stops the periodic push, if any, and frees its state (zmqobs_destroy). */
void zmqobs__otlp_fini (zmqobs_t *obs);

#endif /* ZMQOBS_OTLP_H */
