/*
 * expose.c - PLACEHOLDER until the exposition formats land.
 *
 * SPDX-License-Identifier: MIT
 */
#include "zmqobs_private.h"

int zmqobs_format (zmqobs_t *self, zmqobs_format_t format, char *buf, size_t size) { (void) self; (void) format; (void) buf; (void) size; errno = ENOTSUP; return -1; }
const char *zmqobs_content_type (zmqobs_format_t format) { (void) format; return "text/plain; version=0.0.4; charset=utf-8"; }
zmqobs_format_t zmqobs_format_from_accept (const char *accept) { (void) accept; return ZMQOBS_FORMAT_PROMETHEUS; }
