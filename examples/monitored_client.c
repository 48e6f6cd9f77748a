/*
 * monitored_client.c - a REQ client for monitored_server, itself monitored.
 *
 * What it shows: the client side of the same story: CONNECT_DELAYED,
 * CONNECTED and HANDSHAKE_SUCCEEDED as it connects (or CONNECT_RETRIED
 * while the server is down), one JSON line per event from the ready-made
 * zmqobs_json_log sink, requests counted and timed by the wrappers, and the
 * statistics at the end.
 *
 * Run it (with monitored_server running):
 *     monitored_client                               # 10 requests to tcp://127.0.0.1:5555
 *     monitored_client tcp://127.0.0.1:5600 100      # 100 requests
 *     monitored_client ipc:///tmp/srv.ipc 5 ping     # send PING, expect PONG
 * Arguments: [ENDPOINT|PORT] [COUNT] [ping]. The events go to stderr as
 * JSON lines, the replies and statistics to stdout. Exits 1 if the server
 * does not answer within 2 seconds.
 *
 * SPDX-License-Identifier: MIT
 */
#include <zmq.h>
#include <zmqobs.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main (int argc, char **argv)
{
    char endpoint[256] = "tcp://127.0.0.1:5555";
    if (argc > 1) {
        if (strstr (argv[1], "://"))
            snprintf (endpoint, sizeof endpoint, "%s", argv[1]);
        else
            snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%s", argv[1]);
    }
    long count = argc > 2 ? atol (argv[2]) : 10;
    int ping = argc > 3 && strcmp (argv[3], "ping") == 0;

    void *ctx = zmq_ctx_new ();
    if (!ctx) {
        perror ("zmq_ctx_new");
        return 1;
    }
    int rc = 1;
    zmqobs_socket_t *sock = NULL;
    void *req = NULL;
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    opts.latency_sample_every = 1; /* time every request/reply cycle */
    zmqobs_t *obs = zmqobs_new (ctx, &opts);
    if (!obs) {
        perror ("zmqobs_new");
        goto done;
    }
    if (zmqobs_on_event (obs, zmqobs_json_log, stderr) != 0) {
        perror ("zmqobs_on_event");
        goto done;
    }
    req = zmq_socket (ctx, ZMQ_REQ);
    if (!req) {
        fprintf (stderr, "zmq_socket: %s\n", zmq_strerror (errno));
        goto done;
    }
    int linger = 0, timeout = 2000;
    zmq_setsockopt (req, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (req, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    sock = zmqobs_attach (obs, req, "client");
    if (!sock) {
        perror ("zmqobs_attach");
        goto done;
    }
    if (zmq_connect (req, endpoint) != 0) {
        fprintf (stderr, "zmq_connect %s: %s\n", endpoint, zmq_strerror (errno));
        goto done;
    }
    for (long i = 0; i < count; i++) {
        char request[64];
        int len = ping ? snprintf (request, sizeof request, "PING")
                       : snprintf (request, sizeof request, "Hello %ld", i + 1);
        if (zmqobs_send (sock, request, (size_t) len, 0) < 0) {
            fprintf (stderr, "zmq_send: %s\n", zmq_strerror (errno));
            goto done;
        }
        char reply[300];
        int size = zmqobs_recv (sock, reply, sizeof reply - 1, 0);
        if (size < 0) {
            fprintf (stderr, "no reply from %s: %s\n", endpoint, zmq_strerror (errno));
            goto done;
        }
        if ((size_t) size > sizeof reply - 1)
            size = (int) sizeof reply - 1;
        reply[size] = '\0';
        printf ("%s -> %s\n", request, reply);
    }

    zmqobs_stats_t st;
    if (zmqobs_socket_stats (sock, &st) != 0) {
        perror ("zmqobs_socket_stats");
        goto done;
    }
    printf ("\n== statistics for socket \"%s\" (%s)\n", st.name, zmqobs_socket_type_name (st.type));
    printf ("requests sent %llu, replies received %llu, peers connected %lld, "
            "reconnects %llu\n",
            (unsigned long long) st.msgs_sent, (unsigned long long) st.msgs_received,
            (long long) st.connections, (unsigned long long) st.reconnects);
    if (st.window.count)
        printf ("round trip over %llu requests: min %.1f us, p50 %.1f us, p99 %.1f us, "
                "max %.1f us\n",
                (unsigned long long) st.window.count, st.window.min_ns / 1e3,
                st.window.p50_ns / 1e3, st.window.p99_ns / 1e3, st.window.max_ns / 1e3);
    rc = 0;
done:
    zmqobs_detach (&sock);
    if (req)
        zmq_close (req);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
    return rc;
}
