/*
 * czmq_loop.c - a CZMQ service whose zloop also drives libzmqobs.
 *
 * What it shows:
 *   - an observer in host-driven mode (no thread of its own) created on
 *     CZMQ's global context, the one zsys_init() returns and every zsock
 *     lives in (an observer on any other context refuses the socket with
 *     EXDEV);
 *   - a REP zsock made and bound by zsock_new_rep ("@tcp://..."), attached
 *     through zsock_resolve();
 *   - zmqobs_fd registered once with zloop_poller as a plain descriptor
 *     ({.socket = NULL, .fd = zmqobs_fd (obs), .events = ZMQ_POLLIN});
 *     its handler calls zmqobs_process (obs, 0), which drains the monitor
 *     and serves /metrics, /healthz and /readyz;
 *   - a zloop timer that calls zmqobs_process every 100 ms as well, so the
 *     HTTP timeouts (seconds) are honoured while the descriptor is quiet
 *     (zloop timers have a fixed period; zmqobs.h asks hosts that cannot
 *     follow zmqobs_timeout_ms for at least one call per 100 ms);
 *   - traffic counted with zmqobs_record_received and zmqobs_record_sent
 *     around CZMQ's own zmsg_recv and zframe_send (code that uses zmq_msg_t
 *     directly would call zmqobs_msg_recv and zmqobs_msg_send instead);
 *   - the human report (zmqobs_format with ZMQOBS_FORMAT_TEXT) at the end.
 *
 * It answers "PING" with "PONG" and echoes any other request, every part.
 *
 * The REP socket is bound when it is made, before it is attached, so its
 * monitor never sees the LISTENING event: zmq_listening stays 0 and /readyz
 * answers 503 for it. Attach before binding (zsock_new (ZMQ_REP), attach,
 * then zsock_bind) where readiness matters.
 *
 * Usage:
 *   czmq_loop [PORT|*] [MAX_REQUESTS] [METRICS_ADDR]
 *     PORT          TCP port on 127.0.0.1 for the REP socket, 1..65535, or
 *                   * for a free one (the default)
 *     MAX_REQUESTS  stop after answering this many; 0 (the default) runs
 *                   until SIGINT or SIGTERM, which CZMQ catches and which
 *                   end zloop_start
 *     METRICS_ADDR  tcp://HOST:PORT for the HTTP endpoint, or off; it
 *                   overrides ZMQOBS_METRICS_ADDR
 *   Environment: the ZMQOBS_* variables of the README; ZMQOBS_METRICS_ADDR
 *   defaults here to tcp://127.0.0.1:0 (any free port).
 *
 * On start it prints "rep ENDPOINT" and "metrics URL", on exit "served N
 * requests" and the report. Exit status: 0 after a clean stop, 1 on a
 * runtime error, 2 on bad arguments or environment.
 *
 *   make examples
 *   build/examples/czmq_loop &
 *   python3 -c 'import zmq; s = zmq.Context().socket(zmq.REQ); \
 *       s.connect("tcp://127.0.0.1:PORT"); s.send(b"PING"); print(s.recv())'
 *   curl -s http://127.0.0.1:METRICS_PORT/metrics | grep rep
 *   kill %1
 *
 * Built with pkg-config --cflags --libs libzmqobs libczmq.
 *
 * SPDX-License-Identifier: MIT
 */
#include "example_util.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include <zmqobs.h>

#define TICK_MS 100

typedef struct {
    zmqobs_t *obs;
    zmqobs_socket_t *rep;
    long served;
    long max_requests; /* 0 = no limit */
    int failed;        /* a handler stopped the loop on an error */
} app_t;

/* zmqobs_fd is readable: monitor events, HTTP or a pending request. */
static int on_observer (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    (void) item;
    app_t *app = arg;
    if (zmqobs_process (app->obs, 0) < 0) {
        fprintf (stderr, "zmqobs_process: %s\n", strerror (errno));
        app->failed = 1;
        return -1;
    }
    return 0;
}

/* The periodic call that keeps the HTTP timeouts honoured. */
static int on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) timer_id;
    return on_observer (loop, NULL, arg);
}

/* One request on the REP socket: receive every part, answer, count. */
static int on_request (zloop_t *loop, zsock_t *sock, void *arg)
{
    (void) loop;
    app_t *app = arg;
    zmsg_t *request = zmsg_recv (sock);
    if (!request) {
        int err = errno;
        zmqobs_record_error (app->rep, ZMQOBS_OP_RECV, err);
        if (err == EINTR || err == ETERM)
            return 0; /* a signal: zloop_start sees zsys_interrupted */
        fprintf (stderr, "zmsg_recv: %s\n", zmq_strerror (err));
        app->failed = 1;
        return -1;
    }
    size_t parts = zmsg_size (request);
    size_t i = 0;
    for (zframe_t *f = zmsg_first (request); f; f = zmsg_next (request), i++)
        zmqobs_record_received (app->rep, zframe_size (f), i + 1 < parts);

    zmsg_t *reply = request;
    zframe_t *first = zmsg_first (request);
    if (parts == 1 && zframe_streq (first, "PING")) {
        zmsg_destroy (&request);
        reply = zmsg_new ();
        if (!reply || zmsg_addstr (reply, "PONG") != 0) {
            fprintf (stderr, "zmsg_addstr: out of memory\n");
            zmsg_destroy (&reply);
            app->failed = 1;
            return -1;
        }
    }
    zframe_t *frame;
    while ((frame = zmsg_pop (reply)) != NULL) {
        size_t len = zframe_size (frame);
        int more = zmsg_size (reply) > 0;
        if (zframe_send (&frame, sock, more ? ZFRAME_MORE : 0) != 0) {
            int err = errno;
            zmqobs_record_error (app->rep, ZMQOBS_OP_SEND, err);
            zframe_destroy (&frame);
            zmsg_destroy (&reply);
            if (err == EINTR || err == ETERM)
                return 0;
            fprintf (stderr, "zframe_send: %s\n", zmq_strerror (err));
            app->failed = 1;
            return -1;
        }
        zmqobs_record_sent (app->rep, len, more ? ZMQ_SNDMORE : 0);
    }
    zmsg_destroy (&reply);
    app->served++;
    if (app->max_requests && app->served >= app->max_requests)
        return -1; /* done: ends zloop_start */
    return 0;
}

static void usage (void)
{
    fprintf (stderr, "usage: czmq_loop [PORT|*] [MAX_REQUESTS] [METRICS_ADDR]\n");
}

int main (int argc, char **argv)
{
    long port = 0; /* 0: a free one */
    long max_requests = 0;
    if (argc > 4) {
        usage ();
        return 2;
    }
    if (argc > 1 && strcmp (argv[1], "*") != 0
        && example_parse_long ("PORT", argv[1], 1, 65535, &port) != 0)
        return 2;
    if (argc > 2 && example_parse_long ("MAX_REQUESTS", argv[2], 0, 1000000000, &max_requests) != 0)
        return 2;

    /* METRICS_ADDR overrides the environment, which overrides this
     * program's default; zmqobs_options_from_env checks the result, and
     * zmqobs_serve_from_env serves it. Set before any thread starts (the
     * environment is not thread-safe; zsys_init starts threads). */
    const char *m = argc > 3 ? argv[3] : NULL;
    if (m && strcmp (m, "off") != 0 && strncmp (m, "tcp://", 6) != 0) {
        fprintf (stderr, "METRICS_ADDR: '%s' is not tcp://HOST:PORT or off\n", m);
        return 2;
    }
    if (setenv ("ZMQOBS_METRICS_ADDR", m ? m : "tcp://127.0.0.1:0", m != NULL) != 0) {
        perror ("setenv");
        return 1;
    }
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    opts.host_driven = 1;
    char err[256];
    if (zmqobs_options_from_env (&opts, err, sizeof err) != 0) {
        int malformed = errno == EINVAL; /* else a log that cannot be opened */
        fprintf (stderr, "%s\n", err);
        return malformed ? 2 : 1;
    }

    /* CZMQ's global context; zsys_init also installs its SIGINT/SIGTERM
     * handler, which sets zsys_interrupted and so stops zloop_start. */
    void *ctx = zsys_init ();
    if (!ctx) {
        fprintf (stderr, "zsys_init failed\n");
        return 1;
    }

    int status = 1;
    app_t app = {.max_requests = max_requests};
    zsock_t *rep = NULL;
    zloop_t *loop = NULL;

    char endpoint[64];
    if (port)
        snprintf (endpoint, sizeof endpoint, "@tcp://127.0.0.1:%ld", port);
    else
        snprintf (endpoint, sizeof endpoint, "@tcp://127.0.0.1:*");
    rep = zsock_new_rep (endpoint);
    if (!rep) {
        fprintf (stderr, "cannot bind %s: %s\n", endpoint + 1, zmq_strerror (errno));
        goto done;
    }

    app.obs = zmqobs_new (ctx, &opts); /* opens ZMQOBS_EVENT_LOG */
    if (!app.obs) {
        fprintf (stderr, "zmqobs_new: %s\n", strerror (errno));
        goto done;
    }
    app.rep = zmqobs_attach (app.obs, zsock_resolve (rep), "rep");
    if (!app.rep) {
        fprintf (stderr, "zmqobs_attach: %s\n", strerror (errno));
        goto done;
    }
    int serve_rc = example_serve (app.obs);
    if (serve_rc != 0) {
        status = serve_rc;
        goto done;
    }
    printf ("rep %s\n", zsock_endpoint (rep));
    fflush (stdout);

    int fd = zmqobs_fd (app.obs);
    if (fd < 0) {
        fprintf (stderr, "zmqobs_fd: %s\n", strerror (errno));
        goto done;
    }
    loop = zloop_new ();
    if (!loop) {
        fprintf (stderr, "zloop_new failed\n");
        goto done;
    }
    /* Registered once: the descriptor stays the same until zmqobs_destroy.
     * zloop copies the item. Tolerant, so a POLLERR would reach the
     * handler (and zmqobs_process's error) rather than silently remove
     * the poller. */
    zmq_pollitem_t item = {.socket = NULL, .fd = fd, .events = ZMQ_POLLIN};
    if (zloop_poller (loop, &item, on_observer, &app) != 0) {
        fprintf (stderr, "zloop_poller failed\n");
        goto done;
    }
    zloop_poller_set_tolerant (loop, &item);
    if (zloop_timer (loop, TICK_MS, 0, on_tick, &app) < 0) {
        fprintf (stderr, "zloop_timer failed\n");
        goto done;
    }
    if (zloop_reader (loop, rep, on_request, &app) != 0) {
        fprintf (stderr, "zloop_reader failed\n");
        goto done;
    }

    /* Returns 0 when interrupted, -1 when a handler ended it: after
     * MAX_REQUESTS (clean) or on an error (app.failed). */
    zloop_start (loop);
    if (app.failed)
        goto done;

    printf ("served %ld requests\n", app.served);
    /* measure, then format; the report can grow in between (uptime,
     * process figures), so retry with the size it asked for */
    char *report = NULL;
    size_t size = 0;
    for (;;) {
        int len = zmqobs_format (app.obs, ZMQOBS_FORMAT_TEXT, report, size);
        if (len < 0) {
            fprintf (stderr, "zmqobs_format: %s\n", strerror (errno));
            free (report);
            goto done;
        }
        if ((size_t) len < size)
            break;
        size = (size_t) len + 256;
        char *bigger = realloc (report, size);
        if (!bigger) {
            fprintf (stderr, "out of memory for the report\n");
            free (report);
            goto done;
        }
        report = bigger;
    }
    fputs (report, stdout);
    fflush (stdout);
    free (report);
    status = 0;
done:
    zloop_destroy (&loop);
    /* detach before the socket is destroyed; the observer's own sockets
     * must be gone before zsys_shutdown terminates the context */
    zmqobs_detach (&app.rep);
    zmqobs_destroy (&app.obs); /* closes the event log */
    zsock_destroy (&rep);
    zsys_shutdown ();
    return status;
}
