/*
 * bench_memory.c - what an attached socket costs in memory. N host
 * sockets (DEALER, 1,000 by default) on one context whose ZMQ_MAX_SOCKETS
 * is raised to fit them and libzmq's two extra sockets per attach; then,
 * each step measured as the change in heap in use (mallinfo2: every
 * arena, libzmq's allocations included) and in resident memory
 * (/proc/self/statm), divided by N:
 *   host socket   zmq_socket alone (for scale: not the library's cost)
 *   attach        zmqobs_attach of every socket (the library's block,
 *                 libzmq's monitor socket and the library's reader socket
 *                 with their pipes, the observer's tables)
 *   first sample  one zmqobs_record_latency on every socket (its ring)
 *   detach        zmqobs_detach of every socket (negative: memory freed;
 *                 libzmq frees the two sockets asynchronously, in its
 *                 reaper thread, so the bench waits a moment first)
 * and the library's own part of it from the sizes it allocates.
 *
 *   bench_memory [N]
 *
 * Figures are printed, never asserted.
 *
 * SPDX-License-Identifier: MIT
 */
#include "../internal.h"

#include "benchutil.h"

#include <malloc.h>
#include <sys/resource.h>

typedef struct {
    long heap; /* bytes in use */
    long rss;  /* bytes resident */
} mem_t;

static mem_t mem_now (void)
{
    mem_t m = {0, 0};
    struct mallinfo2 mi = mallinfo2 ();
    m.heap = (long) (mi.uordblks + mi.hblkhd);
    FILE *f = fopen ("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f) {
        if (fscanf (f, "%ld %ld", &size, &resident) != 2)
            resident = 0;
        fclose (f);
    }
    m.rss = resident * sysconf (_SC_PAGESIZE);
    return m;
}

static void settle (void)
{
    struct timespec t = {0, 200 * 1000000};
    nanosleep (&t, NULL);
}

static void report (const char *what, mem_t a, mem_t b, long n)
{
    printf ("  %-14s heap %+9.0f B/socket   RSS %+9.0f B/socket\n", what,
            (double) (b.heap - a.heap) / (double) n, (double) (b.rss - a.rss) / (double) n);
}

int main (int argc, char **argv)
{
    long n = argc > 1 ? strtol (argv[1], NULL, 10) : 1000;
    if (n < 1)
        n = 1;
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit (RLIMIT_NOFILE, &rl);
    }
    void *ctx = zmq_ctx_new ();
    /* the host's sockets, two per attach, and room for the sockets that
     * libzmq closes asynchronously (each attach briefly uses a third) */
    if (zmq_ctx_set (ctx, ZMQ_MAX_SOCKETS, (int) (4 * n + 64)) != 0) {
        perror ("zmq_ctx_set");
        return 1;
    }
    zmqobs_t *obs = zmqobs_new (ctx, NULL);
    if (!obs) {
        perror ("zmqobs_new");
        return 1;
    }
    void **zs = calloc ((size_t) n, sizeof *zs);
    zmqobs_socket_t **s = calloc ((size_t) n, sizeof *s);
    settle ();
    mem_t mh = mem_now ();
    for (long i = 0; i < n; i++) {
        zs[i] = zmq_socket (ctx, ZMQ_DEALER);
        if (!zs[i]) {
            perror ("zmq_socket");
            return 1;
        }
    }
    printf ("%ld sockets, default options, observer with its own thread\n", n);
    printf ("  library block sizeof (zmqobs_socket_t) %zu B, latency ring %zu B\n",
            sizeof (zmqobs_socket_t), sizeof (uint64_t) * ZMQOBS_DEFAULT_RING_CAPACITY);
    settle ();
    mem_t m0 = mem_now ();
    for (long i = 0; i < n; i++) {
        char name[32];
        snprintf (name, sizeof name, "socket-%ld", i);
        s[i] = zmqobs_attach (obs, zs[i], name);
        if (!s[i]) {
            fprintf (stderr, "zmqobs_attach #%ld: %s\n", i, strerror (errno));
            return 1;
        }
    }
    settle ();
    mem_t m1 = mem_now ();
    size_t block = malloc_usable_size (s[0]);
    for (long i = 0; i < n; i++)
        zmqobs_record_latency (s[i], 1000 + (uint64_t) i);
    mem_t m2 = mem_now ();
    size_t ring = malloc_usable_size (s[0]->hot.ring);
    for (long i = 0; i < n; i++)
        zmqobs_detach (&s[i]);
    settle ();
    mem_t m3 = mem_now ();
    printf ("  malloc_usable_size: block %zu B, ring %zu B\n", block, ring);
    report ("host socket", mh, m0, n);
    report ("attach", m0, m1, n);
    report ("first sample", m1, m2, n);
    report ("detach", m2, m3, n);
    for (long i = 0; i < n; i++)
        zmq_close (zs[i]);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
    free (zs);
    free (s);
    return 0;
}
