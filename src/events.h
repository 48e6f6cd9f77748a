/*
 * events.h - the tables of event, protocol error, errno and socket-type names and the pure frame decoder (events.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_EVENTS_H
#define ZMQOBS_EVENTS_H

#include "base.h"

/* Index of an errno value in the errno slots (EAGAIN is slot 0, the last
 * slot is OTHER). */
unsigned zmqobs__errno_slot (int err);
/* Index of a handshake failure in the handshake slots: for
 * HANDSHAKE_FAILED_PROTOCOL the protocol error's slot, for
 * HANDSHAKE_FAILED_AUTH the AUTH slot, for NO_DETAIL the NO_DETAIL slot. */
unsigned zmqobs__handshake_slot (uint32_t event, uint32_t value);
/* Bit index (0..31) of a single-bit event code, or -1. */
int zmqobs__event_bit (uint32_t event);
/* Text for an event's value: the errno name, protocol error name, or "". */
const char *zmqobs__value_text (uint32_t event, uint32_t value);
/* An errno value by name: libzmq's from the shared table, the others
 * (ECONNREFUSED, EADDRINUSE, ...) from the C library where it can. */
const char *zmqobs__errno_text (int err);
/* The symbolic name of a system errno value ("ECONNREFUSED"), or NULL for
 * a value the C library cannot name: strerrorname_np where glibc has it,
 * else a table of Linux's names (the _posix variant, compiled on every
 * build so that tests compare the two). */
const char *zmqobs__errno_sysname (int err);
const char *zmqobs__errno_sysname_posix (int err);

#endif /* ZMQOBS_EVENTS_H */
