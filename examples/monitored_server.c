/*
 * monitored_server.c - the classic monitored REP server, with libzmqobs.
 *
 * What it shows: attaching a socket to an observer, printing every libzmq
 * monitor event as it happens (name, value and what the value means,
 * endpoint), counting traffic with the zmqobs_send/zmqobs_recv wrappers,
 * and printing the socket's statistics (zmqobs_socket_stats) at the end.
 *
 * It answers "PING" with "PONG" and any other request with "ACK " followed
 * by the request.
 *
 * Exporter: it also serves /metrics, /healthz and /readyz, configured from
 * the environment by the library (zmqobs_options_from_env,
 * zmqobs_serve_from_env; the README's table): ZMQOBS_METRICS_ADDR (default
 * here tcp://127.0.0.1:9464, "off" to disable), ZMQOBS_SERVICE,
 * ZMQOBS_SAMPLE_EVERY (default here 1), ZMQOBS_EVENT_LOG (JSON lines
 * instead of the printed events). A malformed value exits with status 2,
 * an event log that cannot be opened with status 1.
 *     curl -s http://127.0.0.1:9464/metrics
 *
 * Run it:
 *     monitored_server                       # port 5555, all interfaces, until Ctrl-C
 *     monitored_server 5600                  # a port on all interfaces
 *     monitored_server tcp://127.0.0.1:5600 10      # stop after 10 requests
 *     monitored_server ipc:///tmp/srv.ipc 0 30      # stop after 30 seconds
 * Arguments: [ENDPOINT|PORT] [MAX_REQUESTS (0 = no limit)] [MAX_SECONDS
 * (0 = no limit)]. Then, in another terminal: monitored_client.
 *
 * SPDX-License-Identifier: MIT
 */
#include <zmq.h>
#include <zmqobs.h>

#include "example_util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop_requested = 0;

static void on_signal (int sig)
{
    (void) sig;
    stop_requested = 1;
}

/* Called on the observer's thread for every monitor event. */
static void print_event (const zmqobs_event_info_t *info, void *arg)
{
    (void) arg;
    const zmqobs_event_t *ev = info->event;
    printf ("[event] %-8s %-26s value=%-6u (%s%s%s) endpoint=%s\n", info->socket_name,
            info->event_name, (unsigned) ev->value, info->value_meaning,
            info->value_text[0] ? ": " : "", info->value_text,
            ev->endpoint_len ? ev->endpoint : "-");
    fflush (stdout);
}

static double seconds (uint64_t ns)
{
    return (double) ns / 1e9;
}

static void print_stats (zmqobs_socket_t *sock)
{
    zmqobs_stats_t st;
    if (zmqobs_socket_stats (sock, &st) != 0) {
        perror ("zmqobs_socket_stats");
        return;
    }
    printf ("\n== statistics for socket \"%s\" (%s), up %.1f s\n", st.name,
            zmqobs_socket_type_name (st.type), seconds (st.uptime_ns));
    printf ("messages received %llu (%llu bytes), sent %llu (%llu bytes)\n",
            (unsigned long long) st.msgs_received, (unsigned long long) st.bytes_received,
            (unsigned long long) st.msgs_sent, (unsigned long long) st.bytes_sent);
    printf ("peers connected now %lld, endpoints listening %llu, reconnects %llu\n",
            (long long) st.connections, (unsigned long long) st.listening,
            (unsigned long long) st.reconnects);
    for (int i = 0; i < ZMQOBS_EVENT_SLOTS; i++)
        if (st.events[i])
            printf ("event %-26s %llu\n", zmqobs_event_name (1u << i),
                    (unsigned long long) st.events[i]);
    for (unsigned i = 0; i < ZMQOBS_HANDSHAKE_SLOTS; i++)
        if (st.handshake_failures[i])
            printf ("handshake failures %-22s %llu\n", zmqobs_handshake_slot_name (i),
                    (unsigned long long) st.handshake_failures[i]);
    if (st.last_error_event)
        printf ("last error: %s value %u at %s\n", zmqobs_event_name (st.last_error_event),
                (unsigned) st.last_error_value, st.last_error_endpoint);
    if (st.window.count)
        printf ("request handling latency over the last %llu sampled requests: "
                "p50 %.1f us, p95 %.1f us, p99 %.1f us\n",
                (unsigned long long) st.window.count, st.window.p50_ns / 1e3,
                st.window.p95_ns / 1e3, st.window.p99_ns / 1e3);
}

int main (int argc, char **argv)
{
    char endpoint[256] = "tcp://*:5555";
    if (argc > 1) {
        if (strstr (argv[1], "://"))
            snprintf (endpoint, sizeof endpoint, "%s", argv[1]);
        else
            snprintf (endpoint, sizeof endpoint, "tcp://*:%s", argv[1]);
    }
    long max_requests = argc > 2 ? atol (argv[2]) : 0;
    long max_seconds = argc > 3 ? atol (argv[3]) : 0;

    /* defaults of this program, which the environment overrides (set
     * before any thread starts: the environment is not thread-safe) */
    if (setenv ("ZMQOBS_METRICS_ADDR", "tcp://127.0.0.1:9464", 0) != 0) {
        perror ("setenv");
        return 1;
    }
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    opts.latency_sample_every = 1; /* time every request: it is a demo */
    char err[256];
    if (zmqobs_options_from_env (&opts, err, sizeof err) != 0) {
        int malformed = errno == EINVAL; /* else a log that cannot be opened */
        fprintf (stderr, "%s\n", err);
        return malformed ? 2 : 1;
    }

    signal (SIGINT, on_signal);
    signal (SIGTERM, on_signal);

    void *ctx = zmq_ctx_new ();
    if (!ctx) {
        perror ("zmq_ctx_new");
        return 1;
    }
    int rc = 1;
    zmqobs_t *obs = NULL;
    zmqobs_socket_t *sock = NULL;
    void *rep = NULL;

    obs = zmqobs_new (ctx, &opts); /* opens ZMQOBS_EVENT_LOG */
    if (!obs) {
        perror ("zmqobs_new");
        goto done;
    }
    /* the JSON log, when configured, takes the place of the printed events */
    if (!opts.event_log && zmqobs_on_event (obs, print_event, NULL) != 0) {
        perror ("zmqobs_on_event");
        goto done;
    }
    rep = zmq_socket (ctx, ZMQ_REP);
    if (!rep) {
        fprintf (stderr, "zmq_socket: %s\n", zmq_strerror (errno));
        goto done;
    }
    int linger = 0;
    zmq_setsockopt (rep, ZMQ_LINGER, &linger, sizeof linger);
    /* attach before bind, so LISTENING is seen too */
    sock = zmqobs_attach (obs, rep, "server");
    if (!sock) {
        perror ("zmqobs_attach");
        goto done;
    }
    if (zmq_bind (rep, endpoint) != 0) {
        fprintf (stderr, "zmq_bind %s: %s\n", endpoint, zmq_strerror (errno));
        goto done;
    }
    int serve_rc = example_serve (obs);
    if (serve_rc != 0) {
        rc = serve_rc;
        goto done;
    }
    printf ("serving on %s (PING -> PONG, anything else -> ACK ...)\n", endpoint);
    fflush (stdout);

    time_t started = time (NULL);
    long served = 0;
    while (!stop_requested && (max_requests == 0 || served < max_requests)
           && (max_seconds == 0 || time (NULL) - started < max_seconds)) {
        zmq_pollitem_t item = {.socket = rep, .events = ZMQ_POLLIN};
        int n = zmq_poll (&item, 1, 100);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf (stderr, "zmq_poll: %s\n", zmq_strerror (errno));
            goto done;
        }
        if (n == 0)
            continue;
        char request[256];
        int size = zmqobs_recv (sock, request, sizeof request - 1, 0);
        if (size < 0) {
            if (errno == EINTR)
                continue;
            fprintf (stderr, "zmq_recv: %s\n", zmq_strerror (errno));
            goto done;
        }
        if ((size_t) size > sizeof request - 1)
            size = (int) sizeof request - 1; /* truncated */
        request[size] = '\0';
        char reply[300];
        int len;
        if (strcmp (request, "PING") == 0)
            len = snprintf (reply, sizeof reply, "PONG");
        else
            len = snprintf (reply, sizeof reply, "ACK %s", request);
        if (zmqobs_send (sock, reply, (size_t) len, 0) < 0) {
            fprintf (stderr, "zmq_send: %s\n", zmq_strerror (errno));
            goto done;
        }
        served++;
    }
    printf ("served %ld requests\n", served);
    print_stats (sock);
    rc = 0;
done:
    /* detach before close: the monitor is stopped in the safe order */
    zmqobs_detach (&sock);
    if (rep)
        zmq_close (rep);
    zmqobs_destroy (&obs); /* closes the event log */
    zmq_ctx_term (ctx);
    return rc;
}
