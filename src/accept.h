/*
 * accept.h - Accept header negotiation (accept.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_ACCEPT_H
#define ZMQOBS_ACCEPT_H

#include "base.h"

/* zmqobs_format_from_accept for a header that is not NUL-terminated
 * (len bytes, NUL bytes included); never reads past len. Pure. */
zmqobs_format_t zmqobs__format_from_accept_n (const char *accept, size_t len);
/* An HTTP qvalue ("0", "0.5", "1.000", ...) as 0..1000, or -1 if
 * malformed. Never reads past len. */
int zmqobs__parse_qvalue (const char *s, size_t len);

#endif /* ZMQOBS_ACCEPT_H */
