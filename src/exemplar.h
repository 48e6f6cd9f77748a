/*
 * exemplar.h - the latest exemplar per classic latency bucket
 * (exemplar.c): a trace id, the latency and the wall time, kept in a
 * slot per bucket that writers publish with a sequence count, so that a
 * scrape never reads a torn one.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_EXEMPLAR_H
#define ZMQOBS_EXEMPLAR_H

#include "zmqobs_private.h"

/* Longest trace id kept, in hex digits. */
#define ZMQOBS__TRACE_ID_MAX 32

/* One bucket's exemplar: a cache line, every field a 64-bit word read
 * and written with relaxed atomics; seq is odd while a writer is in it
 * and counts up by two per write. len 0: none yet. */
struct zmqobs_exemplar_slot {
    uint64_t seq;
    uint64_t ns;
    uint64_t wall_ns;
    uint64_t len;
    uint64_t id[ZMQOBS__TRACE_ID_MAX / 8];
};

/* An exemplar as a scrape reads it. */
typedef struct {
    uint64_t ns;
    uint64_t wall_ns;
    size_t len;
    char id[ZMQOBS__TRACE_ID_MAX];
} zmqobs_exemplar_t;

/* 1 if a valid trace id: 1..32 hex digits (either case), NUL-terminated. */
int zmqobs__valid_trace_id (const char *id);
/* Reads the exemplar of classic bucket b (0..bucket_count, the last is
 * +Inf) of s: 1 and *out filled, or 0 when there is none (or a writer
 * kept it busy through every retry). Any thread; never blocks. */
int zmqobs__exemplar_read (const zmqobs_socket_t *s, uint32_t b, zmqobs_exemplar_t *out);
/* The OpenMetrics exemplar text for bucket b of s, " # {trace_id=\"...\"}
 * VALUE TIMESTAMP", into dst (room for ZMQOBS__EXEMPLAR_TEXT_MAX bytes,
 * not terminated); returns its length, 0 for none. */
#define ZMQOBS__EXEMPLAR_TEXT_MAX 128
size_t zmqobs__exemplar_om (const zmqobs_socket_t *s, uint32_t b, char *dst);

#endif /* ZMQOBS_EXEMPLAR_H */
