/*
 * bench_format.c - the cost of a scrape: zmqobs_format for 1, 10 and 100
 * attached sockets carrying traffic, errors, events and a full latency
 * ring, in each format. Prints, per case:
 *   bytes      output length
 *   instr/B    instructions per output byte inside zmqobs_format, from
 *              callgrind (--toggle-collect on a wrapper around it, so the
 *              first, measuring call is left out), warm scrapes
 *   cold instr/B  the same with new latency samples between scrapes
 *              (window quantiles recomputed)
 *   warm/cold us  median wall time per scrape
 *   allocs     heap allocations during the timed scrapes (malloc and
 *              friends interposed in this program)
 * and, when bench_format_promcpp was built next to this program,
 * prometheus-cpp's Collect + TextSerializer on an equivalent registry.
 *
 *   bench_format                      everything above
 *   bench_format loop N FMT ITER COLD  ITER scrapes (run under callgrind)
 *
 * Figures are printed, never asserted; compare them within one run.
 *
 * SPDX-License-Identifier: MIT
 */
#include "../internal.h"

#include "benchutil.h"

#include <limits.h>

#include "../alloc_count.h"

/* ------------------------------------------------------------------------
 * Scenario
 * ---------------------------------------------------------------------- */

typedef struct {
    void *ctx;
    zmqobs_t *obs;
    int n;
    void **zs;
    zmqobs_socket_t **s;
} scene_t;

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand (void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Latency between 5 us and about 20 ms, log-uniform-ish. */
static uint64_t some_latency (void)
{
    uint64_t r = next_rand ();
    return 5000 + ((r & 0xffff) << ((r >> 16) % 9));
}

static void scene_setup (scene_t *sc, int n)
{
    static const int types[] = {ZMQ_ROUTER, ZMQ_DEALER, ZMQ_PUB, ZMQ_SUB, ZMQ_PUSH, ZMQ_PULL};
    sc->ctx = zmq_ctx_new ();
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.no_process_metrics = 1; /* prometheus-cpp has none: compare like for like */
    o.latency_sample_every = ZMQOBS_SAMPLE_NEVER;
    sc->obs = zmqobs_new (sc->ctx, &o);
    if (!sc->obs) {
        perror ("zmqobs_new");
        exit (1);
    }
    sc->n = n;
    sc->zs = calloc ((size_t) n, sizeof *sc->zs);
    sc->s = calloc ((size_t) n, sizeof *sc->s);
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf (name, sizeof name, "socket-%03d", i);
        sc->zs[i] = zmq_socket (sc->ctx, types[i % 6]);
        sc->s[i] = zmqobs_attach (sc->obs, sc->zs[i], name);
        if (!sc->s[i]) {
            perror ("zmqobs_attach");
            exit (1);
        }
        zmqobs_socket_t *s = sc->s[i];
        for (int k = 0; k < 1000 + i; k++) {
            zmqobs_record_sent (s, 100 + (size_t) k, 0);
            zmqobs_record_received (s, 50 + (size_t) k, 0);
        }
        for (int k = 0; k < ZMQOBS_DEFAULT_RING_CAPACITY; k++)
            zmqobs_record_latency (s, some_latency ());
        zmqobs_record_error (s, ZMQOBS_OP_RECV, EAGAIN);
        if (i % 3 == 0)
            zmqobs_record_error (s, ZMQOBS_OP_SEND, EHOSTUNREACH);
        zmqobs_set_queue_depth (s, i);
        STORE (&s->mon.events[0], (uint64_t) i);
        STORE (&s->mon.events[5], (uint64_t) i * 2);
        STORE (&s->mon.connections, (int64_t) (i % 4));
    }
}

static void scene_teardown (scene_t *sc)
{
    for (int i = 0; i < sc->n; i++) {
        zmqobs_detach (&sc->s[i]);
        zmq_close (sc->zs[i]);
    }
    zmqobs_destroy (&sc->obs);
    zmq_ctx_term (sc->ctx);
    free (sc->zs);
    free (sc->s);
}

/* New samples on every socket, so the next scrape recomputes windows. */
static void touch (scene_t *sc)
{
    for (int i = 0; i < sc->n; i++)
        for (int k = 0; k < 8; k++)
            zmqobs_record_latency (sc->s[i], some_latency ());
}

/* ------------------------------------------------------------------------
 * Modes
 * ---------------------------------------------------------------------- */

/* The function callgrind collects in (--toggle-collect=bench_scrape). */
__attribute__ ((noinline)) int bench_scrape (zmqobs_t *obs, int fmt, char *buf, size_t size);
__attribute__ ((noinline)) int bench_scrape (zmqobs_t *obs, int fmt, char *buf, size_t size)
{
    return zmqobs_format (obs, (zmqobs_format_t) fmt, buf, size);
}

static int loop_mode (int n, int fmt, long iter, int cold)
{
    scene_t sc;
    scene_setup (&sc, n);
    int len = zmqobs_format (sc.obs, (zmqobs_format_t) fmt, NULL, 0);
    char *buf = malloc ((size_t) len + 4096);
    long total = 0;
    for (long i = 0; i < iter; i++) {
        if (cold)
            touch (&sc);
        total += bench_scrape (sc.obs, fmt, buf, (size_t) len + 4096);
    }
    printf ("bytes_total=%ld\n", total);
    free (buf);
    scene_teardown (&sc);
    return 0;
}

/* Instructions inside zmqobs_format over iter scrapes, from callgrind. */
static uint64_t callgrind_ir (const char *prog, int n, int fmt, long iter, int cold,
                              long *bytes_total)
{
    char cmd[1024];
    snprintf (cmd, sizeof cmd,
              "valgrind --tool=callgrind --callgrind-out-file=/dev/null "
              "--toggle-collect=bench_scrape %s loop %d %d %ld %d 2>&1",
              prog, n, fmt, iter, cold);
    FILE *p = popen (cmd, "r");
    if (!p)
        return 0;
    char line[512];
    uint64_t total = 0;
    while (fgets (line, sizeof line, p)) {
        const char *c = strstr (line, "Collected : ");
        if (c)
            total = strtoull (c + 12, NULL, 10);
        c = strstr (line, "bytes_total=");
        if (c)
            *bytes_total = strtol (c + 12, NULL, 10);
    }
    pclose (p);
    return total;
}

static const char *const fmt_names[] = {"prometheus", "openmetrics", "json", "text"};

/* Median wall time of one scrape in us; allocations counted meanwhile. */
static double time_scrapes (scene_t *sc, int fmt, int runs, int cold, char *buf, size_t size,
                            long *allocs_out)
{
    double *t = malloc (sizeof (double) * (size_t) runs);
    long a = 0;
    for (int r = 0; r < runs; r++) {
        if (cold)
            touch (sc);
        allocs = 0;
        counting = 1;
        uint64_t t0 = bench_now_ns ();
        zmqobs_format (sc->obs, (zmqobs_format_t) fmt, buf, size);
        uint64_t t1 = bench_now_ns ();
        counting = 0;
        a += allocs;
        t[r] = (double) (t1 - t0) / 1000.0;
    }
    double m = bench_median (t, runs);
    free (t);
    *allocs_out = a;
    return m;
}

/* The directory of this program, for its C++ companion. */
static void sibling (const char *argv0, const char *name, char *out, size_t size)
{
    const char *slash = strrchr (argv0, '/');
    if (slash)
        snprintf (out, size, "%.*s/%s", (int) (slash - argv0), argv0, name);
    else
        snprintf (out, size, "./%s", name);
}

static void promcpp (const char *argv0, int n, int have_vg)
{
    char prog[PATH_MAX], cmd[PATH_MAX + 128], line[256];
    sibling (argv0, "bench_format_promcpp", prog, sizeof prog);
    if (access (prog, X_OK) != 0) {
        if (n == 1)
            printf ("  (prometheus-cpp comparison not built: %s missing)\n", prog);
        return;
    }
    long bytes = 0;
    double us = -1;
    snprintf (cmd, sizeof cmd, "%s time %d", prog, n);
    FILE *p = popen (cmd, "r");
    if (p) {
        while (fgets (line, sizeof line, p))
            sscanf (line, "bytes=%ld us=%lf", &bytes, &us);
        pclose (p);
    }
    double ipb = -1;
    if (have_vg) {
        long iter = n >= 100 ? 3 : 20;
        snprintf (cmd, sizeof cmd,
                  "valgrind --tool=callgrind --callgrind-out-file=/dev/null "
                  "--toggle-collect=promcpp_scrape %s loop %d %ld 2>&1",
                  prog, n, iter);
        p = popen (cmd, "r");
        uint64_t ir = 0;
        if (p) {
            while (fgets (line, sizeof line, p)) {
                const char *c = strstr (line, "Collected : ");
                if (c)
                    ir = strtoull (c + 12, NULL, 10);
            }
            pclose (p);
        }
        if (ir && bytes)
            ipb = (double) ir / ((double) bytes * (double) iter);
    }
    printf ("%-12s %8d %9ld %9.1f %11s %9.1f %9s %7s\n", "prom-cpp", n, bytes, ipb, "-", us,
            "-", "-");
}

int main (int argc, char **argv)
{
    if (argc >= 6 && strcmp (argv[1], "loop") == 0)
        return loop_mode (atoi (argv[2]), atoi (argv[3]), atol (argv[4]), atoi (argv[5]));
    setvbuf (stdout, NULL, _IOLBF, 0);
    int have_vg = bench_have_valgrind ();
    printf ("zmqobs_format, no process metrics, 1024 latency samples per socket\n");
    printf ("%-12s %8s %9s %9s %11s %9s %9s %7s\n", "format", "sockets", "bytes", "instr/B",
            "cold instr/B", "warm us", "cold us", "allocs");
    static const int counts[] = {1, 10, 100};
    for (int c = 0; c < 3; c++) {
        int n = counts[c];
        scene_t sc;
        scene_setup (&sc, n);
        for (int fmt = 0; fmt < 4; fmt++) {
            int len = zmqobs_format (sc.obs, (zmqobs_format_t) fmt, NULL, 0);
            size_t size = (size_t) len + 65536;
            char *buf = malloc (size);
            int runs = n >= 100 ? 200 : 1000;
            long a_warm, a_cold;
            double warm = time_scrapes (&sc, fmt, runs, 0, buf, size, &a_warm);
            double cold = time_scrapes (&sc, fmt, runs, 1, buf, size, &a_cold);
            double ipb = -1, ipb_cold = -1;
            if (have_vg) {
                long iter = n >= 100 ? 5 : 40, bytes = 0;
                uint64_t ir = callgrind_ir (argv[0], n, fmt, iter, 0, &bytes);
                if (ir && bytes)
                    ipb = (double) ir / (double) bytes;
                ir = callgrind_ir (argv[0], n, fmt, iter, 1, &bytes);
                if (ir && bytes)
                    ipb_cold = (double) ir / (double) bytes;
            }
            printf ("%-12s %8d %9d %9.1f %11.1f %9.1f %9.1f %7ld\n", fmt_names[fmt], n, len,
                    ipb, ipb_cold, warm, cold, a_warm + a_cold);
            free (buf);
        }
        promcpp (argv[0], n, have_vg);
        scene_teardown (&sc);
    }
    if (!have_vg)
        printf ("(valgrind not found: instructions per byte not measured, shown as -1)\n");
    /* the process metrics cost system calls, so they are shown apart */
    {
        void *ctx = zmq_ctx_new ();
        zmqobs_t *obs = zmqobs_new (ctx, NULL);
        static char buf[1 << 16];
        double t[200];
        for (int r = 0; r < 200; r++) {
            uint64_t t0 = bench_now_ns ();
            zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, buf, sizeof buf);
            t[r] = (double) (bench_now_ns () - t0) / 1000.0;
        }
        printf ("process metrics alone (no sockets), prometheus: %.1f us per scrape\n",
                bench_median (t, 200));
        zmqobs_destroy (&obs);
        zmq_ctx_term (ctx);
    }
    return 0;
}
