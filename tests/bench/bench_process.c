/*
 * bench_process.c - what process_open_fds costs a scrape. zmqobs_format
 * (Prometheus text, process metrics on) over 4 attached sockets, with the
 * process's usual few descriptors open and then with FDS more (eventfds,
 * 6,000 by default), in three ways of counting them, alternated scrape by
 * scrape within one run:
 *   list        /proc/self/fd listed at every scrape (what older kernels
 *               would pay without the cache)
 *   stat        st_size of /proc/self/fd (Linux 6.2 and later; on older
 *               kernels this falls back to the cached listing)
 *   list+cache  the listing reused for up to 1 s (older kernels)
 * Prints the median wall time per scrape and the open_fds each reported.
 * The cost is kernel time, which callgrind does not see: wall time it is.
 *
 *   bench_process [FDS]
 *
 * Figures are printed, never asserted; compare them within one run.
 *
 * SPDX-License-Identifier: MIT
 */
#include "../internal.h"

#include "benchutil.h"

#include <sys/eventfd.h>
#include <sys/resource.h>

#define SOCKETS 4
#define RUNS 101

enum { LIST, STAT, CACHED, MODES };
static const char *const mode_names[MODES] = {"list", "stat", "list+cache"};

static void set_mode (int mode)
{
    zmqobs__fd_stat_off = mode != STAT;
    zmqobs__fd_cache_ns = mode == LIST ? 0 : 1000000000u;
}

static void run (zmqobs_t *obs, char *buf, size_t size, long extra)
{
    double t[MODES][RUNS];
    for (int r = 0; r < RUNS; r++)
        for (int m = 0; m < MODES; m++) {
            set_mode (m);
            uint64_t t0 = bench_now_ns ();
            int n = zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, buf, size);
            uint64_t t1 = bench_now_ns ();
            if (n < 0 || (size_t) n >= size) {
                perror ("zmqobs_format");
                exit (1);
            }
            t[m][r] = (double) (t1 - t0) / 1000.0;
        }
    for (int m = 0; m < MODES; m++) {
        set_mode (m);
        zmqobs__process_t p;
        zmqobs__process_read (&p);
        printf ("  +%-5ld fds  %-10s  %8.1f us per scrape  (open_fds %llu)\n", extra, mode_names[m],
                bench_median (t[m], RUNS), (unsigned long long) p.open_fds);
    }
}

int main (int argc, char **argv)
{
    long fds = argc > 1 ? strtol (argv[1], NULL, 10) : 6000;
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit (RLIMIT_NOFILE, &rl);
    }
    void *ctx = zmq_ctx_new ();
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.host_driven = 1;
    zmqobs_t *obs = zmqobs_new (ctx, &o);
    if (!obs) {
        perror ("zmqobs_new");
        return 1;
    }
    void *zs[SOCKETS];
    zmqobs_socket_t *s[SOCKETS];
    for (int i = 0; i < SOCKETS; i++) {
        char name[16];
        snprintf (name, sizeof name, "socket-%d", i);
        zs[i] = zmq_socket (ctx, ZMQ_DEALER);
        s[i] = zmqobs_attach (obs, zs[i], name);
        if (!s[i]) {
            perror ("zmqobs_attach");
            return 1;
        }
    }
    static char buf[1 << 17];
    printf ("zmqobs_format, Prometheus text, %d sockets, process metrics on\n", SOCKETS);
    run (obs, buf, sizeof buf, 0);
    int *opened = calloc ((size_t) (fds > 0 ? fds : 1), sizeof *opened);
    long got = 0;
    while (got < fds && (opened[got] = eventfd (0, EFD_CLOEXEC)) >= 0)
        got++;
    if (got < fds)
        printf ("  (only %ld descriptors could be opened)\n", got);
    run (obs, buf, sizeof buf, got);
    for (long i = 0; i < got; i++)
        close (opened[i]);
    free (opened);
    for (int i = 0; i < SOCKETS; i++) {
        zmqobs_detach (&s[i]);
        zmq_close (zs[i]);
    }
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
    return 0;
}
