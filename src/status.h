/*
 * status.h - the status page's static resources, embedded in the library
 * at build time (status.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_STATUS_H
#define ZMQOBS_STATUS_H

#include <stddef.h>

/* One resource: its body and its Content-Type. */
typedef struct zmqobs_status_res {
    const char *path;  /* "/", "/status.js", "/status.css" */
    const char *ctype; /* a Content-Type with its charset */
    const char *body;  /* len bytes (NUL-terminated, the NUL not counted) */
    size_t len;
} zmqobs_status_res_t;

/* Fills *out with the resource served at path (len bytes, no query) and
 * returns 1; 0 when there is none (or path or out is NULL). Pure. */
int zmqobs__status_find (const char *path, size_t len, zmqobs_status_res_t *out);

#endif /* ZMQOBS_STATUS_H */
