/*
 * native.h - native (exponential) histograms: the schema-3 slots the hot
 * path counts in (zmqobs_inline.h), read back at the schema exposed as
 * spans and deltas (native.c). Pure; no allocation.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_NATIVE_H
#define ZMQOBS_NATIVE_H

#include "base.h"

/* Width of the zero bucket, in seconds: 2^-30 (0.93 ns). Only a latency
 * of 0 ns falls in it; 1 ns is above it. It is the lower bound of bucket
 * -239 at schema 3, so the zero bucket and the lowest bucket meet. */
#define ZMQOBS__NATIVE_ZERO_THRESHOLD (1.0 / 1073741824.0)

/* A native histogram as the formats write it: Prometheus's convention,
 * bucket i holding (base^(i-1), base^i] with base = 2^(2^-schema); the
 * populated buckets as spans (the first span's offset is its first
 * index, each later one's the gap of empty buckets before it) and, in
 * index order, each count's difference to the one before (the first to
 * 0). Empty buckets are never inside a span. */
typedef struct {
    int32_t schema;
    uint64_t zero_count;
    uint64_t count; /* zero_count plus every bucket */
    uint32_t nspans;
    int32_t span_offset[ZMQOBS_I_NATIVE_SLOTS];
    uint32_t span_len[ZMQOBS_I_NATIVE_SLOTS];
    uint32_t nbuckets;
    int32_t first;                           /* index of the first bucket */
    int64_t delta[ZMQOBS_I_NATIVE_SLOTS];    /* count differences */
    uint64_t bucket[ZMQOBS_I_NATIVE_SLOTS];  /* the counts themselves */
    int32_t index[ZMQOBS_I_NATIVE_SLOTS];    /* and their indexes */
} zmqobs_native_t;

/* Reads the ZMQOBS_I_NATIVE_SLOTS schema-3 counts at slots (relaxed
 * loads; NULL reads as all zero) into out at schema (-4..3), merging
 * 2^(3 - schema) neighbours. */
void zmqobs__native_read (const uint64_t *slots, int schema, zmqobs_native_t *out);

/* The schema-3 slot of a latency in ns, as the hot path computes it. */
unsigned zmqobs__native_slot (uint64_t ns);

#endif /* ZMQOBS_NATIVE_H */
