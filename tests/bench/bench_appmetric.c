/*
 * bench_appmetric.c - what the application metric update calls cost.
 *
 * Prints, in one run:
 *  - instructions per call (callgrind) of zmqobs_counter_add,
 *    zmqobs_gauge_set, zmqobs_gauge_add and zmqobs_histogram_observe
 *    (Prometheus's 11 default bounds, values spread over all buckets),
 *    the loop's own value generator measured alone and subtracted;
 *  - ns per call, one thread, and two threads (pinned to two CPUs when
 *    there are two) updating the same metric;
 *  - the time and instructions of one scrape of 100 application metrics.
 *
 * Run: make bench   (or build/bench/bench_appmetric after make)
 * Internal: bench_appmetric loop KIND N runs one loop (used under
 * callgrind).
 *
 * SPDX-License-Identifier: MIT
 */
#include "../internal.h"

#include "benchutil.h"

#include <pthread.h>
#include <sched.h>

enum { K_BASE, K_COUNTER, K_GAUGE_SET, K_GAUGE_ADD, K_OBSERVE, K_COUNT };
static const char *const kind_names[K_COUNT] = {"baseline", "counter_add", "gauge_set", "gauge_add",
                                                "histogram_observe"};

static zmqobs_metric_t *metrics[K_COUNT];

/* Keep the compiler from eliding the loops. */
static volatile uint64_t sink;

/* n calls of one kind; the value generator runs for every kind alike, so
 * that the baseline subtracts it exactly. Values spread over 0..12, so
 * that every bucket of the default bounds is hit. */
static void run_kind (int kind, long n, uint64_t seed)
{
    zmqobs_metric_t *m = metrics[kind];
    uint64_t x = seed;
    for (long i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        double v = (double) (x >> 11) * 0x1p-53 * 12.0;
        switch (kind) {
        case K_COUNTER:
            zmqobs_counter_add (m, x & 7);
            break;
        case K_GAUGE_SET:
            zmqobs_gauge_set (m, v);
            break;
        case K_GAUGE_ADD:
            zmqobs_gauge_add (m, v);
            break;
        case K_OBSERVE:
            zmqobs_histogram_observe (m, v);
            break;
        default:
            __asm__ __volatile__("" : : "r"(x), "x"(v));
            break;
        }
    }
    sink = x;
}

static void *ctx;
static zmqobs_t *obs;

static void setup (void)
{
    ctx = zmq_ctx_new ();
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.no_process_metrics = 1;
    obs = zmqobs_new (ctx, &o);
    if (!obs) {
        perror ("zmqobs_new");
        exit (1);
    }
    zmqobs_label_t l = {"kind", "bench"};
    metrics[K_COUNTER] = zmqobs_counter_new (obs, "bench_ops", "Ops.", &l, 1);
    metrics[K_GAUGE_SET] = zmqobs_gauge_new (obs, "bench_level", "Level.", &l, 1);
    metrics[K_GAUGE_ADD] = zmqobs_gauge_new (obs, "bench_sum", "Sum.", &l, 1);
    metrics[K_OBSERVE] = zmqobs_histogram_new (obs, "bench_seconds", "Times.", &l, 1, NULL, 0);
    for (int k = K_COUNTER; k < K_COUNT; k++)
        if (!metrics[k]) {
            perror ("metric");
            exit (1);
        }
}

static void teardown (void)
{
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}

static int run_loop (const char *kind, long n)
{
    setup ();
    int k = 0;
    while (k < K_COUNT && strcmp (kind, kind_names[k]) != 0)
        k++;
    if (k == K_COUNT) {
        fprintf (stderr, "unknown loop %s\n", kind);
        return 1;
    }
    run_kind (k, n, 1);
    teardown ();
    return 0;
}

static void pin_to_cpu (int cpu)
{
    if (sysconf (_SC_NPROCESSORS_ONLN) < 2)
        return;
    cpu_set_t set;
    CPU_ZERO (&set);
    CPU_SET (cpu, &set);
    pthread_setaffinity_np (pthread_self (), sizeof set, &set);
}

static double time_kind (int kind, long n, uint64_t seed)
{
    uint64_t t0 = bench_now_ns ();
    run_kind (kind, n, seed);
    return (double) (bench_now_ns () - t0) / (double) n;
}

typedef struct {
    int kind, cpu;
    long n;
    double ns;
    pthread_barrier_t *start;
} worker_t;

static void *worker (void *arg)
{
    worker_t *w = arg;
    pin_to_cpu (w->cpu);
    pthread_barrier_wait (w->start);
    w->ns = time_kind (w->kind, w->n, (uint64_t) w->cpu + 7);
    return NULL;
}

/* ns per call with two threads on the same metric: the slower thread's. */
static double time_contended (int kind, long n)
{
    pthread_barrier_t start;
    pthread_barrier_init (&start, NULL, 2);
    worker_t w[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (worker_t) {.kind = kind, .cpu = i, .n = n, .start = &start};
        pthread_create (&t[i], NULL, worker, &w[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join (t[i], NULL);
    pthread_barrier_destroy (&start);
    return w[0].ns > w[1].ns ? w[0].ns : w[1].ns;
}

int main (int argc, char **argv)
{
    if (argc == 4 && !strcmp (argv[1], "loop"))
        return run_loop (argv[2], atol (argv[3]));

    printf ("libzmqobs %d.%d.%d application metrics benchmark\n", ZMQOBS_VERSION_MAJOR,
            ZMQOBS_VERSION_MINOR, ZMQOBS_VERSION_PATCH);
    if (bench_have_valgrind ()) {
        const long n1 = 1000000, n2 = 5000000;
        double base = bench_instr_per_op (argv[0], "baseline", n1, n2);
        printf ("instructions per call (callgrind; the loop's own %.1f subtracted):\n", base);
        for (int k = K_COUNTER; k < K_COUNT; k++)
            printf ("  %-34s %6.1f\n",
                    k == K_OBSERVE     ? "zmqobs_histogram_observe (11 b.)"
                    : k == K_COUNTER   ? "zmqobs_counter_add"
                    : k == K_GAUGE_SET ? "zmqobs_gauge_set"
                                       : "zmqobs_gauge_add",
                    bench_instr_per_op (argv[0], kind_names[k], n1, n2) - base);
    } else
        printf ("instructions: valgrind not found, skipped\n");

    setup ();
    const long n = 2000000;
    const int reps = 9;
    printf ("ns per call (median of %d runs of %ld calls; 2 threads: same metric, each "
            "thread's calls, the slower thread):\n",
            reps, n);
    double base[16], one[16], two[16];
    for (int r = 0; r < reps; r++)
        base[r] = time_kind (K_BASE, n, 3);
    double b = bench_median (base, reps);
    printf ("  loop alone                          %6.2f\n", b);
    for (int k = K_COUNTER; k < K_COUNT; k++) {
        for (int r = 0; r < reps; r++) {
            one[r] = time_kind (k, n, 3) - b;
            two[r] = time_contended (k, n) - b;
        }
        printf ("  %-34s  %6.2f   2 threads %6.2f\n", kind_names[k], bench_median (one, reps),
                bench_median (two, reps));
    }

    /* one scrape of 100 metrics: 25 of each kind in 4 families */
    zmqobs_metric_destroy (&metrics[K_COUNTER]);
    zmqobs_metric_destroy (&metrics[K_GAUGE_SET]);
    zmqobs_metric_destroy (&metrics[K_GAUGE_ADD]);
    zmqobs_metric_destroy (&metrics[K_OBSERVE]);
    for (int i = 0; i < 25; i++) {
        char v[16];
        snprintf (v, sizeof v, "%d", i);
        zmqobs_label_t l = {"worker", v};
        zmqobs_counter_add (zmqobs_counter_new (obs, "jobs", "Jobs.", &l, 1), (uint64_t) i * 977);
        zmqobs_gauge_set (zmqobs_gauge_new (obs, "load", "Load.", &l, 1), i / 7.0);
        zmqobs_gauge_set (zmqobs_gauge_new (obs, "backlog", "Backlog.", &l, 1), i * 3);
        zmqobs_metric_t *h = zmqobs_histogram_new (obs, "job_seconds", "Job time.", &l, 1, NULL, 0);
        for (int k = 0; k < 50; k++)
            zmqobs_histogram_observe (h, k * 0.037 * (i + 1));
    }
    static char buf[1 << 20];
    double t[16];
    int len = 0;
    for (int fmt = 0; fmt < 2; fmt++) {
        for (int r = 0; r < reps; r++) {
            uint64_t t0 = bench_now_ns ();
            len = zmqobs_format (obs, (zmqobs_format_t) fmt, buf, sizeof buf);
            t[r] = (double) (bench_now_ns () - t0) / 1000.0;
        }
        printf ("scrape of 100 application metrics (%s, %d bytes): %.1f us (median of %d)\n",
                fmt ? "OpenMetrics" : "text 0.0.4", len, bench_median (t, reps), reps);
    }
    teardown ();
    return 0;
}
