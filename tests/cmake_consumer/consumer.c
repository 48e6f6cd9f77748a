/*
 * consumer.c - the program of tests/cmake_consumer: attaches a PAIR socket,
 * sends one 5-byte message through the wrapper and prints the linked
 * version and what the socket's snapshot counted, then the exposition's
 * sample for it.
 *
 * SPDX-License-Identifier: MIT
 */
#include <zmqobs.h>

#include <stdio.h>
#include <string.h>

int main (void)
{
    void *ctx = zmq_ctx_new ();
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    opts.host_driven = 1;
    opts.no_process_metrics = 1;
    zmqobs_t *obs = zmqobs_new (ctx, &opts);
    if (!obs) {
        perror ("zmqobs_new");
        return 1;
    }
    void *a = zmq_socket (ctx, ZMQ_PAIR), *b = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *s = zmqobs_attach (obs, a, "cmake");
    if (!s || zmq_bind (a, "inproc://cmake") != 0 || zmq_connect (b, "inproc://cmake") != 0)
        return 1;
    char buf[8];
    if (zmqobs_send (s, "hello", 5, 0) != 5 || zmq_recv (b, buf, sizeof buf, 0) != 5)
        return 1;
    zmqobs_stats_t st;
    if (zmqobs_socket_stats (s, &st) != 0)
        return 1;
    printf ("version %u sent=%llu bytes=%llu\n", zmqobs_version (),
            (unsigned long long) st.msgs_sent, (unsigned long long) st.bytes_sent);
    static char text[65536];
    if (zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, text, sizeof text) <= 0)
        return 1;
    const char *line = strstr (text, "\nzmq_bytes_sent_total{");
    if (!line)
        return 1;
    line++;
    printf ("%.*s\n", (int) strcspn (line, "\n"), line);
    zmqobs_detach (&s);
    zmqobs_destroy (&obs);
    zmq_close (a);
    zmq_close (b);
    zmq_ctx_term (ctx);
    return 0;
}
