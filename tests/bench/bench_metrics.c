/*
 * bench_metrics.c - what the hot path costs.
 *
 * Prints, in one run:
 *  - instructions per message (callgrind) and ns per message of a
 *    single-thread inproc PAIR loop of 16-byte messages, raw
 *    zmq_send/zmq_recv against zmqobs_send/zmqobs_recv, and the ratio;
 *    wall time measured by alternating raw and wrapped repetitions;
 *  - the same for a REQ/REP loop with automatic latency at the default
 *    sampling;
 *  - instructions and ns per zmqobs_record_latency (owner thread, shared
 *    mode, and with native_histograms on), also while another thread
 *    takes snapshots;
 *  - prometheus-cpp's Counter::Increment and Histogram::Observe measured the
 *    same way when build/bench/bench_promcpp exists;
 *  - memory per attached socket.
 *
 * Run: make bench   (or build/bench/bench_metrics after make)
 * Internal: bench_metrics loop KIND N runs one loop (used under callgrind).
 *
 * SPDX-License-Identifier: MIT
 */
#include "../internal.h"

#include "benchutil.h"

#include <pthread.h>
#include <sched.h>

static void *ctx;
static zmqobs_t *obs;

typedef struct {
    void *a, *b;
    zmqobs_socket_t *sa, *sb;
} pair_t;

static void open_pair (pair_t *p, int ta, int tb, const char *ep)
{
    p->a = zmq_socket (ctx, ta);
    p->b = zmq_socket (ctx, tb);
    p->sa = zmqobs_attach (obs, p->a, "a");
    p->sb = zmqobs_attach (obs, p->b, "b");
    if (!p->sa || !p->sb || zmq_bind (p->b, ep) || zmq_connect (p->a, ep)) {
        perror ("bench setup");
        exit (1);
    }
}

static void close_pair (pair_t *p)
{
    zmqobs_detach (&p->sa);
    zmqobs_detach (&p->sb);
    zmq_close (p->a);
    zmq_close (p->b);
}

/* Keep the compiler from eliding the loops. */
static volatile uint64_t sink;

static void loop_pair (pair_t *p, long n, int wrapped)
{
    char buf[16] = "0123456789abcdef";
    if (wrapped) {
        for (long i = 0; i < n; i++) {
            zmqobs_send (p->sa, buf, 16, 0);
            zmqobs_recv (p->sb, buf, 16, 0);
        }
    } else {
        for (long i = 0; i < n; i++) {
            zmq_send (p->a, buf, 16, 0);
            zmq_recv (p->b, buf, 16, 0);
        }
    }
}

/* One REQ/REP cycle is two messages. */
static void loop_reqrep (pair_t *p, long n, int wrapped)
{
    char buf[16] = "0123456789abcdef";
    if (wrapped) {
        for (long i = 0; i < n; i++) {
            zmqobs_send (p->sa, buf, 16, 0);
            zmqobs_recv (p->sb, buf, 16, 0);
            zmqobs_send (p->sb, buf, 16, 0);
            zmqobs_recv (p->sa, buf, 16, 0);
        }
    } else {
        for (long i = 0; i < n; i++) {
            zmq_send (p->a, buf, 16, 0);
            zmq_recv (p->b, buf, 16, 0);
            zmq_send (p->b, buf, 16, 0);
            zmq_recv (p->a, buf, 16, 0);
        }
    }
}

static void loop_record (zmqobs_socket_t *s, long n)
{
    uint64_t v = 12345;
    for (long i = 0; i < n; i++) {
        if (s)
            zmqobs_record_latency (s, v);
        else
            __asm__ __volatile__ ("" : : "r"(v)); /* baseline: the loop alone */
        v = v * 2862933555777941757ull + 3037000493ull;
        v >>= 34; /* spread over 0..1 s */
    }
    sink = v;
}

static zmqobs_t *make_observer (int shared, int native)
{
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.latency_shared = shared;
    o.native_histograms = native;
    o.no_process_metrics = 1;
    zmqobs_t *ob = zmqobs_new (ctx, &o);
    if (!ob) {
        perror ("zmqobs_new");
        exit (1);
    }
    return ob;
}

static int run_loop (const char *kind, long n)
{
    ctx = zmq_ctx_new ();
    obs = make_observer (strcmp (kind, "record_shared") == 0, strcmp (kind, "record_native") == 0);
    pair_t p;
    if (!strcmp (kind, "pair_raw") || !strcmp (kind, "pair_wrapped")) {
        open_pair (&p, ZMQ_PAIR, ZMQ_PAIR, "inproc://bench");
        loop_pair (&p, n, !strcmp (kind, "pair_wrapped"));
        close_pair (&p);
    } else if (!strcmp (kind, "reqrep_raw") || !strcmp (kind, "reqrep_wrapped")) {
        open_pair (&p, ZMQ_REQ, ZMQ_REP, "inproc://bench");
        loop_reqrep (&p, n, !strcmp (kind, "reqrep_wrapped"));
        close_pair (&p);
    } else if (!strcmp (kind, "record") || !strcmp (kind, "record_shared")
               || !strcmp (kind, "record_native") || !strcmp (kind, "record_baseline")) {
        void *sock = zmq_socket (ctx, ZMQ_PAIR);
        zmqobs_socket_t *s = strcmp (kind, "record_baseline") ? zmqobs_attach (obs, sock, "r")
                                                              : NULL;
        loop_record (s, n);
        zmqobs_detach (&s);
        zmq_close (sock);
    } else {
        fprintf (stderr, "unknown loop %s\n", kind);
        return 1;
    }
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
    return 0;
}

/* ns per operation for raw and wrapped, alternating repetitions. */
static void time_alternating (int reqrep, long n, int reps, double *raw_ns, double *wrapped_ns)
{
    double r[32], w[32];
    pair_t p;
    open_pair (&p, reqrep ? ZMQ_REQ : ZMQ_PAIR, reqrep ? ZMQ_REP : ZMQ_PAIR,
               reqrep ? "inproc://time-rr" : "inproc://time-pair");
    for (int k = 0; k < reps; k++) {
        for (int wrapped = 0; wrapped < 2; wrapped++) {
            uint64_t t0 = bench_now_ns ();
            if (reqrep)
                loop_reqrep (&p, n, wrapped);
            else
                loop_pair (&p, n, wrapped);
            double per = (double) (bench_now_ns () - t0) / (double) (reqrep ? 2 * n : n);
            (wrapped ? w : r)[k] = per;
        }
    }
    close_pair (&p);
    *raw_ns = bench_median (r, reps);
    *wrapped_ns = bench_median (w, reps);
}

typedef struct {
    zmqobs_socket_t *s;
    int stop;
    long snapshots;
} snap_arg_t;

/* Pins the calling thread to one CPU, so that writer and reader really
 * run side by side instead of taking turns on one CPU. */
static void pin_to_cpu (int cpu)
{
    if (sysconf (_SC_NPROCESSORS_ONLN) < 2)
        return;
    cpu_set_t set;
    CPU_ZERO (&set);
    CPU_SET (cpu, &set);
    pthread_setaffinity_np (pthread_self (), sizeof set, &set);
}

static void *snapshotter (void *arg)
{
    snap_arg_t *a = arg;
    pin_to_cpu (1);
    zmqobs_stats_t st;
    while (!__atomic_load_n (&a->stop, __ATOMIC_ACQUIRE)) {
        zmqobs_socket_stats (a->s, &st);
        a->snapshots++;
    }
    return NULL;
}

static double time_record (zmqobs_socket_t *s, long n, int reps)
{
    double v[32];
    for (int k = 0; k < reps; k++) {
        uint64_t t0 = bench_now_ns ();
        loop_record (s, n);
        v[k] = (double) (bench_now_ns () - t0) / (double) n;
    }
    return bench_median (v, reps);
}

static void report_instructions (const char *self)
{
    if (!bench_have_valgrind ()) {
        printf ("instructions: valgrind not found, skipped\n");
        return;
    }
    const long n1 = 20000, n2 = 120000;
    double raw = bench_instr_per_op (self, "pair_raw", n1, n2);
    double wr = bench_instr_per_op (self, "pair_wrapped", n1, n2);
    printf ("PAIR inproc 16 B send+recv, instructions per message (callgrind):\n");
    printf ("  raw zmq_send/zmq_recv      %8.1f\n", raw);
    printf ("  zmqobs_send/zmqobs_recv    %8.1f   (+%.1f, %+.2f%%)\n", wr, wr - raw,
            100.0 * (wr - raw) / raw);
    raw = bench_instr_per_op (self, "reqrep_raw", n1 / 2, n2 / 2) / 2;
    wr = bench_instr_per_op (self, "reqrep_wrapped", n1 / 2, n2 / 2) / 2;
    printf ("REQ/REP inproc 16 B, auto latency 1 in %d, instructions per message:\n",
            ZMQOBS_DEFAULT_SAMPLE_EVERY);
    printf ("  raw                        %8.1f\n", raw);
    printf ("  wrapped                    %8.1f   (+%.1f, %+.2f%%)\n", wr, wr - raw,
            100.0 * (wr - raw) / raw);
    /* the loop's own value generator is measured alone and subtracted */
    double base = bench_instr_per_op (self, "record_baseline", 1000000, 5000000);
    double rec = bench_instr_per_op (self, "record", 1000000, 5000000);
    double recs = bench_instr_per_op (self, "record_shared", 1000000, 5000000);
    double recn = bench_instr_per_op (self, "record_native", 1000000, 5000000);
    printf ("zmqobs_record_latency, instructions per call (loop's own %.1f subtracted):\n",
            base);
    printf ("  owner thread               %8.1f\n", rec - base);
    printf ("  latency_shared (atomic)    %8.1f\n", recs - base);
    printf ("  native_histograms on       %8.1f   (+%.1f for the native bucket)\n", recn - base,
            recn - rec);
}

static void report_promcpp (const char *self)
{
    char path[1024];
    snprintf (path, sizeof path, "%s", self);
    char *slash = strrchr (path, '/');
    snprintf (slash ? slash + 1 : path, sizeof path - (size_t) (slash ? slash + 1 - path : 0),
              "bench_promcpp");
    if (access (path, X_OK) != 0) {
        printf ("prometheus-cpp: %s not built (install prometheus-cpp-dev), skipped\n", path);
        return;
    }
    if (bench_have_valgrind ()) {
        double c = bench_instr_per_op (path, "counter", 1000000, 5000000);
        double h = bench_instr_per_op (path, "histogram", 1000000, 5000000);
        printf ("prometheus-cpp, same machine, same run, instructions per call:\n");
        printf ("  Counter::Increment         %8.1f\n", c);
        printf ("  Histogram::Observe (20 b.) %8.1f\n", h);
    }
    char cmd[1100];
    snprintf (cmd, sizeof cmd, "%s time", path);
    fflush (stdout);
    if (system (cmd) != 0)
        printf ("prometheus-cpp timing failed\n");
}

int main (int argc, char **argv)
{
    if (argc == 4 && !strcmp (argv[1], "loop"))
        return run_loop (argv[2], atol (argv[3]));

    printf ("libzmqobs %d.%d.%d hot-path benchmark\n", ZMQOBS_VERSION_MAJOR,
            ZMQOBS_VERSION_MINOR, ZMQOBS_VERSION_PATCH);
    printf ("memory per attached socket in the library (default options): %zu bytes, %zu once it "
            "records latency (ring %d x 8; bench_memory counts libzmq's share too)\n",
            sizeof (zmqobs_socket_t), sizeof (zmqobs_socket_t) + 8u * ZMQOBS_DEFAULT_RING_CAPACITY,
            ZMQOBS_DEFAULT_RING_CAPACITY);
    report_instructions (argv[0]);

    ctx = zmq_ctx_new ();
    obs = make_observer (0, 0);
    double raw, wr;
    time_alternating (0, 200000, 11, &raw, &wr);
    printf ("PAIR wall time, median of 11 alternating reps of 200k messages:\n");
    printf ("  raw %.1f ns/msg, wrapped %.1f ns/msg, ratio %.3f\n", raw, wr, wr / raw);
    time_alternating (1, 100000, 11, &raw, &wr);
    printf ("REQ/REP wall time, median of 11 alternating reps of 100k cycles:\n");
    printf ("  raw %.1f ns/msg, wrapped %.1f ns/msg, ratio %.3f\n", raw, wr, wr / raw);

    void *sock = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *s = zmqobs_attach (obs, sock, "rec");
    pin_to_cpu (0);
    double alone = time_record (s, 2000000, 9);
    snap_arg_t a = {.s = s};
    pthread_t t;
    pthread_create (&t, NULL, snapshotter, &a);
    uint64_t t0 = bench_now_ns ();
    double busy = time_record (s, 2000000, 9);
    double busy_ms = (double) (bench_now_ns () - t0) / 1e6;
    __atomic_store_n (&a.stop, 1, __ATOMIC_RELEASE);
    pthread_join (t, NULL);
    printf ("zmqobs_record_latency: %.2f ns/call alone, %.2f ns/call while another thread "
            "(pinned to the other CPU) took %ld snapshots in %.1f ms\n",
            alone, busy, a.snapshots, busy_ms);
    zmqobs_detach (&s);
    zmq_close (sock);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
    report_promcpp (argv[0]);
    return 0;
}
