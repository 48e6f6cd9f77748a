/*
 * example_env.h - environment configuration shared by the examples.
 *
 * Header-only, public libzmqobs API only. Every variable is parsed
 * strictly: an empty value, trailing garbage or an out-of-range number
 * is an error with a message naming the variable, and the example then
 * exits with status 2.
 *
 *   ZMQOBS_METRICS_ADDR  where to serve /metrics, /healthz and /readyz:
 *                        "tcp://HOST:PORT" (port 0 or * = any free port),
 *                        or "off". Default: the example's own
 *                        (tcp://127.0.0.1:9464 for servers, off for clients).
 *   ZMQOBS_SERVICE       value of a constant label service="..." on every
 *                        series (1..128 bytes of printable UTF-8).
 *   ZMQOBS_SAMPLE_EVERY  time one REQ/REP cycle in N (1..1000000), or
 *                        "off". Default: the library's (16).
 *   ZMQOBS_EVENT_LOG     write every monitor event as a JSON line to this
 *                        file (appended), or "-" for stderr. Default: none.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef EXAMPLE_ENV_H
#define EXAMPLE_ENV_H

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmqobs.h>

typedef struct example_env {
    char metrics_addr[256];  /* "" = do not serve */
    char service[129];       /* "" = no service label */
    uint32_t sample_every;   /* 0 = library default */
    char event_log[1024];    /* "" = none, "-" = stderr */
    FILE *log;               /* opened by example_env_start */
    zmqobs_label_t label;    /* points into service */
} example_env_t;

/* Parses a whole decimal number in [min, max]: no sign, no spaces, no
 * trailing characters, no overflow. Returns 0, or -1 with a message that
 * names what (a variable or an option). */
static inline int example_parse_long (const char *what, const char *text, long min, long max,
                                      long *out)
{
    if (!text || !*text) {
        fprintf (stderr, "%s: empty value; expected a number from %ld to %ld\n", what, min,
                 max);
        return -1;
    }
    long v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9') {
            fprintf (stderr, "%s: '%s' is not a whole number from %ld to %ld\n", what, text,
                     min, max);
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

/* Strict UTF-8 without control characters, for the service label. */
static inline int example_printable_utf8 (const char *s)
{
    const unsigned char *p = (const unsigned char *) s;
    while (*p) {
        unsigned c = *p;
        int n;
        unsigned cp;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return 0;
            p++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else
            return 0;
        for (int k = 1; k <= n; k++) {
            if ((p[k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff))
            || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

/* Reads the variables into env. default_addr is used when
 * ZMQOBS_METRICS_ADDR is unset ("off" or NULL: do not serve). Returns 0,
 * or -1 after printing what is wrong (the caller exits with 2). */
static inline int example_env_load (example_env_t *env, const char *default_addr)
{
    memset (env, 0, sizeof *env);
    const char *v = getenv ("ZMQOBS_METRICS_ADDR");
    if (!v)
        v = default_addr ? default_addr : "off";
    if (strcmp (v, "off") != 0) {
        if (strncmp (v, "tcp://", 6) != 0 || strlen (v) >= sizeof env->metrics_addr) {
            fprintf (stderr,
                     "ZMQOBS_METRICS_ADDR: '%s' is not tcp://HOST:PORT (e.g. "
                     "tcp://127.0.0.1:9464) or off\n",
                     v);
            return -1;
        }
        strcpy (env->metrics_addr, v);
    }

    v = getenv ("ZMQOBS_SERVICE");
    if (v) {
        size_t n = strlen (v);
        if (n == 0 || n >= sizeof env->service || !example_printable_utf8 (v)) {
            fprintf (stderr, "ZMQOBS_SERVICE: must be 1 to %zu bytes of printable UTF-8\n",
                     sizeof env->service - 1);
            return -1;
        }
        memcpy (env->service, v, n + 1);
    }

    v = getenv ("ZMQOBS_SAMPLE_EVERY");
    if (v) {
        long n;
        if (strcmp (v, "off") == 0)
            env->sample_every = ZMQOBS_SAMPLE_NEVER;
        else if (example_parse_long ("ZMQOBS_SAMPLE_EVERY", v, 1, 1000000, &n) != 0)
            return -1;
        else
            env->sample_every = (uint32_t) n;
    }

    v = getenv ("ZMQOBS_EVENT_LOG");
    if (v) {
        if (!*v || strlen (v) >= sizeof env->event_log) {
            fprintf (stderr, "ZMQOBS_EVENT_LOG: expected a file path or - for stderr\n");
            return -1;
        }
        strcpy (env->event_log, v);
    }
    return 0;
}

/* Applies the service label and the sampling period to opts (which
 * zmqobs_options_init has filled). env must outlive zmqobs_new. */
static inline void example_env_options (example_env_t *env, zmqobs_options_t *opts)
{
    if (env->service[0]) {
        env->label.name = "service";
        env->label.value = env->service;
        opts->labels = &env->label;
        opts->label_count = 1;
    }
    if (env->sample_every)
        opts->latency_sample_every = env->sample_every;
}

/* Opens the event log and starts serving, as configured. On success
 * prints "metrics http://HOST:PORT/metrics" on stdout when serving.
 * Returns 0, or after printing what failed the exit status to use: 2 for
 * a malformed address, 1 for anything else (port taken, file not
 * writable, ...). */
static inline int example_env_start (example_env_t *env, zmqobs_t *obs)
{
    if (env->event_log[0]) {
        if (strcmp (env->event_log, "-") == 0)
            env->log = stderr;
        else {
            env->log = fopen (env->event_log, "a");
            if (!env->log) {
                fprintf (stderr, "ZMQOBS_EVENT_LOG: cannot open %s: %s\n", env->event_log,
                         strerror (errno));
                return 1;
            }
        }
        if (zmqobs_on_event (obs, zmqobs_json_log, env->log) != 0) {
            fprintf (stderr, "zmqobs_on_event: %s\n", strerror (errno));
            return 1;
        }
    }
    if (env->metrics_addr[0]) {
        if (zmqobs_serve (obs, env->metrics_addr) != 0) {
            int err = errno;
            if (err == EINVAL) {
                fprintf (stderr,
                         "ZMQOBS_METRICS_ADDR: '%s' is not tcp://HOST:PORT with an IPv4 "
                         "address, localhost, * or [IPv6] and a port 0..65535 or *\n",
                         env->metrics_addr);
                return 2;
            }
            fprintf (stderr, "ZMQOBS_METRICS_ADDR: cannot serve %s: %s\n", env->metrics_addr,
                     strerror (err));
            return 1;
        }
        /* report the real port (the address may have asked for any) */
        char host[128];
        const char *h = env->metrics_addr + 6;
        const char *colon = strrchr (h, ':'); /* present: serve accepted it */
        size_t hl = colon ? (size_t) (colon - h) : 0;
        if (hl >= sizeof host)
            hl = sizeof host - 1;
        memcpy (host, h, hl);
        host[hl] = '\0';
        if (strcmp (host, "*") == 0)
            strcpy (host, "0.0.0.0");
        printf ("metrics http://%s:%d/metrics\n", host, zmqobs_serve_port (obs));
        fflush (stdout);
    }
    return 0;
}

/* Closes the event log; call after zmqobs_destroy. */
static inline void example_env_close (example_env_t *env)
{
    if (env->log && env->log != stderr)
        fclose (env->log);
    env->log = NULL;
}

#endif /* EXAMPLE_ENV_H */
