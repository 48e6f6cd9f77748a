/*
 * example_util.h - small helpers shared by the examples.
 *
 * Header-only, public libzmqobs API only. The ZMQOBS_* environment
 * variables are read by the library (zmqobs_options_from_env and
 * zmqobs_serve_from_env, see the README's table); what is left here is
 * the examples' own business: strict numbers on their command lines, and
 * printing where the metrics are served.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef EXAMPLE_UTIL_H
#define EXAMPLE_UTIL_H

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmqobs.h>

/* Parses a whole decimal number in [min, max]: no sign, no spaces, no
 * trailing characters, no overflow. Returns 0, or -1 after printing a
 * message that names what (an option or an argument). */
static inline int example_parse_long (const char *what, const char *text, long min, long max,
                                      long *out)
{
    if (!text || !*text) {
        fprintf (stderr, "%s: empty value; expected a number from %ld to %ld\n", what, min, max);
        return -1;
    }
    long v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9') {
            fprintf (stderr, "%s: '%s' is not a whole number from %ld to %ld\n", what, text, min,
                     max);
            return -1;
        }
        int d = *p - '0';
        if (v > (LONG_MAX - d) / 10) {
            fprintf (stderr, "%s: '%s' is too large (at most %ld)\n", what, text, max);
            return -1;
        }
        v = v * 10 + d;
    }
    if (v < min || v > max) {
        fprintf (stderr, "%s: %ld is out of range (%ld to %ld)\n", what, v, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* Serves /metrics, /healthz and /readyz as ZMQOBS_METRICS_ADDR says
 * (zmqobs_serve_from_env) and, when serving, prints "metrics
 * http://HOST:PORT/metrics" on stdout with the port actually served.
 * Returns 0, or after printing what failed the exit status to use: 2 for
 * a malformed address (zmqobs_options_from_env has reported that
 * already, unless the environment changed since), 1 for anything else
 * (port taken, address not on this host, ...). */
static inline int example_serve (zmqobs_t *obs)
{
    int port = zmqobs_serve_from_env (obs);
    const char *addr = getenv ("ZMQOBS_METRICS_ADDR");
    if (port < 0) {
        int err = errno;
        fprintf (stderr, "ZMQOBS_METRICS_ADDR: cannot serve %s: %s\n", addr ? addr : "(unset)",
                 strerror (err));
        return err == EINVAL ? 2 : 1;
    }
    if (port == 0)
        return 0; /* off */
    /* the host as written (tcp://HOST:PORT was accepted, so the last
     * colon ends it); * listens on every IPv4 interface */
    const char *h = addr + strlen ("tcp://");
    int hl = (int) (strrchr (h, ':') - h);
    if (hl == 1 && h[0] == '*')
        printf ("metrics http://0.0.0.0:%d/metrics\n", port);
    else
        printf ("metrics http://%.*s:%d/metrics\n", hl, h, port);
    fflush (stdout);
    return 0;
}

#endif /* EXAMPLE_UTIL_H */
