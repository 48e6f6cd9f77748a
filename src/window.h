/*
 * window.h - exact quantiles over a ring of samples (window.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_WINDOW_H
#define ZMQOBS_WINDOW_H

#include "base.h"

/* Window quantiles over a copy of the ring, using scratch of
 * zmqobs__window_scratch_size(capacity) bytes (8-byte aligned, zeroed
 * once: it is left clean after each call). */
size_t zmqobs__window_scratch_size (uint32_t capacity);
void zmqobs__window (const uint64_t *ring, uint64_t head, uint32_t capacity, void *scratch,
                     zmqobs_window_t *out);

#endif /* ZMQOBS_WINDOW_H */
