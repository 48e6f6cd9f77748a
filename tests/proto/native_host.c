/*
 * native_host.c - a host for the protobuf tests (test_proto_e2e.sh): an
 * observer with native histograms, one socket with a deterministic set
 * of latencies, and application metrics of every kind.
 *
 *   native_host dump DIR     writes DIR/metrics.prom (text 0.0.4),
 *                            DIR/metrics.om, DIR/metrics.pb (protobuf)
 *                            and DIR/samples.txt (the latencies, in ns)
 *   native_host serve        serves /metrics on 127.0.0.1, a free port,
 *                            until stdin closes
 *
 * Either way it first prints "port N" (serve), then "count N", "sum_ns N"
 * and "p95_ns N" (the exact nearest-rank 95th percentile of the samples),
 * one per line. Samples 7, 107, 207, ... are recorded with an exemplar
 * whose trace id is the sample's number as 32 hex digits.
 * NATIVE_HISTOGRAMS=0 in the environment turns native histograms off. NATIVE_SCHEMA in the environment sets native_schema.
 */
#include <zmqobs.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 2000

static int cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

static int write_format (zmqobs_t *obs, zmqobs_format_t f, const char *dir, const char *name)
{
    /* process metrics may grow between two calls: room to spare */
    int need = zmqobs_format (obs, f, NULL, 0);
    if (need < 0)
        return -1;
    size_t size = (size_t) need + 4096;
    char *buf = malloc (size);
    if (!buf)
        return -1;
    int got = zmqobs_format (obs, f, buf, size);
    char path[4096];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen (path, "wb");
    int rc = got >= 0 && (size_t) got < size && fp && fwrite (buf, 1, (size_t) got, fp) == (size_t) got ? 0 : -1;
    if (fp && fclose (fp) != 0)
        rc = -1;
    free (buf);
    return rc;
}

int main (int argc, char **argv)
{
    if (argc < 2 || (strcmp (argv[1], "dump") != 0 && strcmp (argv[1], "serve") != 0)
        || (strcmp (argv[1], "dump") == 0 && argc < 3)) {
        fprintf (stderr, "usage: native_host dump DIR | native_host serve\n");
        return 2;
    }
    void *ctx = zmq_ctx_new ();
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    const char *native = getenv ("NATIVE_HISTOGRAMS");
    opts.native_histograms = native ? atoi (native) : 1;
    opts.latency_sample_every = ZMQOBS_SAMPLE_NEVER;
    opts.service = "native \"e2e\"\n";
    const char *schema = getenv ("NATIVE_SCHEMA");
    if (schema)
        opts.native_schema = atoi (schema);
    zmqobs_t *obs = zmqobs_new (ctx, &opts);
    if (!obs) {
        perror ("zmqobs_new");
        return 1;
    }
    void *sock = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *s = sock ? zmqobs_attach (obs, sock, "lat\\ency \"x\"") : NULL;
    if (!s) {
        perror ("zmqobs_attach");
        return 1;
    }
    /* log-uniform latencies from 1 us to about 3 s, from a fixed LCG,
     * and a few zeros */
    static uint64_t v[N];
    uint64_t x = 12345, sum = 0;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        unsigned e = (unsigned) (x >> 59) % 22; /* 2^10 .. 2^31 ns */
        uint64_t ns = ((uint64_t) 1 << (10 + e)) + ((x >> 20) & (((uint64_t) 1 << (10 + e)) - 1));
        if (i % 500 == 0)
            ns = 0;
        v[i] = ns;
        sum += ns;
        if (i % 100 == 7) {
            /* an exemplar, its trace id the sample's number in hex */
            char id[33];
            snprintf (id, sizeof id, "%032x", (unsigned) i);
            if (zmqobs_record_latency_exemplar (s, ns, id) != 0) {
                perror ("zmqobs_record_latency_exemplar");
                return 1;
            }
        } else
            zmqobs_record_latency (s, ns);
    }
    if (strcmp (argv[1], "dump") == 0) {
        char path[4096];
        snprintf (path, sizeof path, "%s/samples.txt", argv[2]);
        FILE *fp = fopen (path, "w");
        if (!fp) {
            perror (path);
            return 1;
        }
        for (int i = 0; i < N; i++)
            fprintf (fp, "%llu\n", (unsigned long long) v[i]);
        if (fclose (fp) != 0) {
            perror (path);
            return 1;
        }
    }
    qsort (v, N, sizeof v[0], cmp_u64);
    uint64_t p95 = v[(95 * N + 99) / 100 - 1]; /* nearest rank */

    zmqobs_label_t ql = {"queue", "mail"};
    zmqobs_metric_t *c = zmqobs_counter_new (obs, "jobs", "Jobs done.", &ql, 1);
    zmqobs_metric_t *g = zmqobs_gauge_new (obs, "temperature", "Degrees.", NULL, 0);
    static const double b[] = {-1, 0.5, 2};
    zmqobs_metric_t *h = zmqobs_histogram_new (obs, "sizes", "Sizes.", NULL, 0, b, 3);
    if (!c || !g || !h || zmqobs_counter_add (c, 42) || zmqobs_gauge_set (g, -3.25)
        || zmqobs_histogram_observe (h, -2) || zmqobs_histogram_observe (h, 0.25)
        || zmqobs_histogram_observe (h, 7.5)) {
        perror ("application metrics");
        return 1;
    }
    int rc = 0;
    if (strcmp (argv[1], "serve") == 0) {
        if (zmqobs_serve (obs, "tcp://127.0.0.1:0") != 0) {
            perror ("zmqobs_serve");
            return 1;
        }
        printf ("port %d\n", zmqobs_serve_port (obs));
    }
    printf ("count %d\nsum_ns %llu\np95_ns %llu\n", N, (unsigned long long) sum,
            (unsigned long long) p95);
    fflush (stdout);
    if (strcmp (argv[1], "dump") == 0) {
        if (write_format (obs, ZMQOBS_FORMAT_PROMETHEUS, argv[2], "metrics.prom")
            || write_format (obs, ZMQOBS_FORMAT_OPENMETRICS, argv[2], "metrics.om")
            || write_format (obs, ZMQOBS_FORMAT_PROTOBUF, argv[2], "metrics.pb")) {
            perror ("write");
            rc = 1;
        }
    } else {
        char buf[64];
        while (read (0, buf, sizeof buf) > 0)
            ;
    }
    zmqobs_detach (&s);
    zmq_close (sock);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
    return rc;
}
