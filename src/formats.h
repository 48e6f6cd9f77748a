/*
 * formats.h - the exposition formats and Accept negotiation (expose.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_FORMATS_H
#define ZMQOBS_FORMATS_H

#include "zmqobs_private.h"

/* zmqobs_format_from_accept for a header that is not NUL-terminated
 * (len bytes, NUL bytes included); never reads past len. Pure. */
zmqobs_format_t zmqobs__format_from_accept_n (const char *accept, size_t len);
/* An HTTP qvalue ("0", "0.5", "1.000", ...) as 0..1000, or -1 if
 * malformed. Never reads past len. */
int zmqobs__parse_qvalue (const char *s, size_t len);
/* Test hook: when nonzero, every uptime the formatters print is this many
 * ns (golden outputs). Set it while no scrape runs. */
extern uint64_t zmqobs__test_uptime_ns;

#endif /* ZMQOBS_FORMATS_H */
