/*
 * otlp_host.c - a host for tests/test_otlp.sh: an observer with native
 * histograms, constant labels (service and a hostile zone), two attached
 * PAIR sockets with traffic and latencies, application metrics of every
 * kind, /metrics on a free loopback port, and a periodic OTLP push.
 *
 *   otlp_host URL INTERVAL_MS
 *
 * Prints "port N", then reads commands from stdin:
 *   traffic N   N more messages (and latencies) on the host's thread,
 *               answered "done N"
 *   push        one zmqobs_otlp_push, answered "push RC ERRNO-NAME"
 * and exits, stopping everything, at end of input.
 */
#include <zmqobs.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void traffic (zmqobs_socket_t *a, zmqobs_socket_t *b, long n, uint64_t *seq)
{
    char buf[64];
    for (long i = 0; i < n; i++) {
        int len = 1 + (int) (*seq % 50);
        memset (buf, 'x', sizeof buf);
        if (zmqobs_send (a, buf, (size_t) len, 0) != len || zmqobs_recv (b, buf, sizeof buf, 0) != len) {
            perror ("traffic");
            exit (1);
        }
        /* latencies from 1 us to about 1 s */
        zmqobs_record_latency (b, 1000 + (*seq * 7919 % 1000) * (*seq * 104729 % 1000) * 1000);
        ++*seq;
    }
}

int main (int argc, char **argv)
{
    if (argc != 3) {
        fprintf (stderr, "usage: otlp_host URL INTERVAL_MS\n");
        return 2;
    }
    void *ctx = zmq_ctx_new ();
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    opts.native_histograms = 1;
    opts.latency_sample_every = ZMQOBS_SAMPLE_NEVER;
    opts.service = "otlp-e2e";
    zmqobs_label_t zone = {"zone", "z\"1\\\n\xc3\xa9"};
    opts.labels = &zone;
    opts.label_count = 1;
    zmqobs_t *obs = zmqobs_new (ctx, &opts);
    if (!obs) {
        perror ("zmqobs_new");
        return 1;
    }
    void *za = zmq_socket (ctx, ZMQ_PAIR), *zb = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *a = zmqobs_attach (obs, za, "sender \"a\"");
    zmqobs_socket_t *b = zmqobs_attach (obs, zb, "receiver");
    if (!a || !b || zmq_bind (zb, "inproc://otlp") || zmq_connect (za, "inproc://otlp")) {
        perror ("sockets");
        return 1;
    }
    zmqobs_label_t ql = {"queue", "mail"};
    zmqobs_metric_t *c = zmqobs_counter_new (obs, "jobs", "Jobs done.", &ql, 1);
    zmqobs_metric_t *g = zmqobs_gauge_new (obs, "temperature", "Degrees.", NULL, 0);
    static const double bounds[] = {0.5, 2};
    zmqobs_metric_t *h = zmqobs_histogram_new (obs, "sizes", "Sizes.", NULL, 0, bounds, 2);
    if (!c || !g || !h || zmqobs_counter_add (c, 42) || zmqobs_gauge_set (g, -3.25)
        || zmqobs_histogram_observe (h, 0.25) || zmqobs_histogram_observe (h, 7.5)) {
        perror ("application metrics");
        return 1;
    }
    uint64_t seq = 0;
    traffic (a, b, 300, &seq);
    if (zmqobs_serve (obs, "tcp://127.0.0.1:0") != 0) {
        perror ("zmqobs_serve");
        return 1;
    }
    if (zmqobs_otlp_start (obs, argv[1], (unsigned) atoi (argv[2])) != 0) {
        perror ("zmqobs_otlp_start");
        return 1;
    }
    printf ("port %d\n", zmqobs_serve_port (obs));
    fflush (stdout);
    char line[256];
    while (fgets (line, sizeof line, stdin)) {
        long n;
        if (sscanf (line, "traffic %ld", &n) == 1) {
            traffic (a, b, n, &seq);
            printf ("done %ld\n", n);
        } else if (strncmp (line, "push", 4) == 0) {
            int rc = zmqobs_otlp_push (obs, argv[1]);
            printf ("push %d %s\n", rc, rc ? zmqobs_errno_name (errno) : "-");
        }
        fflush (stdout);
    }
    if (zmqobs_otlp_stop (obs) != 0 || zmqobs_otlp_stop (obs) != -1 || errno != ENOTCONN) {
        fprintf (stderr, "zmqobs_otlp_stop\n");
        return 1;
    }
    zmqobs_detach (&a);
    zmqobs_detach (&b);
    zmq_close (za);
    zmq_close (zb);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
    return 0;
}
