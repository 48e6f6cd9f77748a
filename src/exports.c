/*
 * exports.c - the exported, out-of-line copies of the public inline
 * functions of zmqobs_inline.h (zmqobs_send, zmqobs_recv, zmqobs_msg_send,
 * zmqobs_msg_recv, zmqobs_record_sent, zmqobs_record_received,
 * zmqobs_record_latency), for callers that cannot compile the header:
 * ctypes, cffi, cgo, Rust and other FFIs.
 *
 * With ZMQOBS_I_EXPORTS defined, the header's definitions are compiled
 * here as external, exported functions instead of static inline ones, so
 * both copies come from the same text and cannot drift apart. This must be
 * the only file that defines ZMQOBS_I_EXPORTS, and it must define it before
 * anything includes zmqobs.h. Every other file, in the library and in
 * programs, gets the static inline copies, which have internal linkage and
 * never clash with these.
 *
 * SPDX-License-Identifier: MIT
 */
#define ZMQOBS_I_EXPORTS 1
#include "zmqobs.h"
