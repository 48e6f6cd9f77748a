/*
 * healthcheck.c - is a ZeroMQ service answering? Sends "PING" on a REQ
 * socket and expects "PONG" within a timeout.
 *
 * What it shows: a liveness probe that goes through the service's real
 * request path (the broker and the monitored server answer PING), as
 * opposed to /healthz, which only says the observer's loop runs.
 *
 * `make install` installs it as $(PREFIX)/bin/zmqobs-healthcheck, with the
 * manual page zmqobs-healthcheck(1).
 *
 * Usage:
 *   zmqobs-healthcheck ENDPOINT [TIMEOUT_MS]
 *     ENDPOINT    e.g. tcp://127.0.0.1:5555
 *     TIMEOUT_MS  1..600000, default 3000: the whole exchange, connect
 *                 included, must finish within it
 * Output and exit status: "Healthy" on stdout and 0 for PONG in time;
 * "Unhealthy: <reason>" on stderr and 1 for anything else, bad arguments
 * included, because container runtimes treat every status but 0 and 1
 * as undefined.
 *
 * As a Docker HEALTHCHECK:
 *   HEALTHCHECK --interval=10s --timeout=3s \
 *     CMD ["/usr/local/bin/zmqobs-healthcheck", "tcp://127.0.0.1:5555", "1000"]
 * As a Kubernetes exec probe:
 *   livenessProbe:
 *     exec: {command: ["/usr/local/bin/zmqobs-healthcheck", "tcp://127.0.0.1:5555", "1000"]}
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zmq.h>
#include <zmqobs.h>

static long now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends PING and waits for PONG; returns 0 healthy, 1 not. */
static int probe (void *req, long deadline)
{
    for (;;) {
        long left = deadline - now_ms ();
        if (left <= 0) {
            fprintf (stderr, "Unhealthy: timed out sending PING\n");
            return 1;
        }
        zmq_pollitem_t item = {req, 0, ZMQ_POLLOUT, 0};
        int rc = zmq_poll (&item, 1, left);
        if (rc < 0 && errno != EINTR) {
            fprintf (stderr, "Unhealthy: zmq_poll: %s\n", zmq_strerror (errno));
            return 1;
        }
        if (rc > 0)
            break;
    }
    if (zmq_send (req, "PING", 4, ZMQ_DONTWAIT) != 4) {
        fprintf (stderr, "Unhealthy: send: %s\n", zmq_strerror (errno));
        return 1;
    }
    for (;;) {
        long left = deadline - now_ms ();
        if (left <= 0) {
            fprintf (stderr, "Unhealthy: no reply in time\n");
            return 1;
        }
        zmq_pollitem_t item = {req, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll (&item, 1, left);
        if (rc < 0 && errno != EINTR) {
            fprintf (stderr, "Unhealthy: zmq_poll: %s\n", zmq_strerror (errno));
            return 1;
        }
        if (rc > 0)
            break;
    }
    char buf[16];
    int n = zmq_recv (req, buf, sizeof buf, ZMQ_DONTWAIT);
    if (n < 0) {
        fprintf (stderr, "Unhealthy: recv: %s\n", zmq_strerror (errno));
        return 1;
    }
    if (n != 4 || memcmp (buf, "PONG", 4) != 0) {
        fprintf (stderr, "Unhealthy: unexpected reply (%d bytes)\n", n);
        return 1;
    }
    return 0;
}

/* TIMEOUT_MS: a whole number of milliseconds from 1 to 600000, digits
 * only (no sign, spaces or unit); 0 or -1 with the reason on stderr. */
static int parse_timeout (const char *text, long *out)
{
    long v = 0;
    size_t n = strlen (text);
    for (size_t i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9' || i >= 7) {
            v = -1;
            break;
        }
        v = v * 10 + (text[i] - '0');
    }
    if (n == 0 || v < 1 || v > 600000) {
        fprintf (stderr, "Unhealthy: TIMEOUT_MS: '%s' is not a whole number from 1 to 600000\n",
                 text);
        return -1;
    }
    *out = v;
    return 0;
}

int main (int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf (stderr, "Unhealthy: usage: zmqobs-healthcheck ENDPOINT [TIMEOUT_MS]\n");
        return 1;
    }
    long timeout = 3000;
    if (argc == 3 && parse_timeout (argv[2], &timeout) != 0)
        return 1;
    long deadline = now_ms () + timeout;
    void *ctx = zmq_ctx_new ();
    if (!ctx) {
        fprintf (stderr, "Unhealthy: zmq_ctx_new: %s\n", zmq_strerror (errno));
        return 1;
    }
    int healthy = 1;
    void *req = zmq_socket (ctx, ZMQ_REQ);
    int zero = 0, one = 1;
    if (!req) {
        fprintf (stderr, "Unhealthy: zmq_socket: %s\n", zmq_strerror (errno));
    } else if (zmq_setsockopt (req, ZMQ_LINGER, &zero, sizeof zero) != 0
               /* queue only to connected peers: a dead peer is a failure */
               || zmq_setsockopt (req, ZMQ_IMMEDIATE, &one, sizeof one) != 0) {
        fprintf (stderr, "Unhealthy: zmq_setsockopt: %s\n", zmq_strerror (errno));
    } else if (zmq_connect (req, argv[1]) != 0) {
        fprintf (stderr, "Unhealthy: connect %s: %s\n", argv[1], zmq_strerror (errno));
    } else
        healthy = probe (req, deadline);
    if (req && zmq_close (req) != 0)
        fprintf (stderr, "zmqobs-healthcheck: zmq_close: %s\n", zmq_strerror (errno));
    if (zmq_ctx_term (ctx) != 0)
        fprintf (stderr, "zmqobs-healthcheck: zmq_ctx_term: %s\n", zmq_strerror (errno));
    if (healthy == 0)
        printf ("Healthy\n");
    return healthy == 0 ? 0 : 1;
}
