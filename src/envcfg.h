/*
 * envcfg.h - configuration from ZMQOBS_* environment variables
 * (envcfg.c): zmqobs_options_from_env and zmqobs_serve_from_env. It sits
 * above the observer and the HTTP server and calls only their public
 * functions and the pure endpoint parser; nothing calls it.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_ENVCFG_H
#define ZMQOBS_ENVCFG_H

#include "zmqobs.h"

#include <stddef.h>

/* Limits of the variables' values. */
#define ZMQOBS__ENV_SERVICE_MAX 128          /* bytes of ZMQOBS_SERVICE */
#define ZMQOBS__ENV_SAMPLE_EVERY_MAX 1000000 /* ZMQOBS_SAMPLE_EVERY */
/* Bytes of a value quoted in a message; longer ones end in "...". */
#define ZMQOBS__ENV_QUOTE_MAX 64

/* Writes 'value' as messages quote it: bytes outside printable ASCII, the
 * quote and the backslash as \xHH, at most ZMQOBS__ENV_QUOTE_MAX bytes of
 * value then "..." (all inside the quotes). snprintf semantics; returns
 * the length it needs. Exposed for tests. */
size_t zmqobs__env_quote (char *buf, size_t size, const char *value);

#endif /* ZMQOBS_ENVCFG_H */
