/*
 * load_client.c - generates request/reply load against the broker (or
 * any REP service) and reports what it measured through libzmqobs.
 *
 * What it shows:
 *   - client REQ sockets attached on their own threads, with automatic
 *     round-trip timing (set ZMQOBS_SAMPLE_EVERY=1 to time every request);
 *   - the "lazy pirate" recovery of a REQ socket after a timeout: detach,
 *     close, open a new one and attach it again under the same name;
 *   - reading results back with zmqobs_socket_stats (exact window
 *     quantiles) instead of keeping counters of its own.
 *
 * Usage:
 *   load_client [-c CLIENTS] [-n REQUESTS | -d SECONDS] [-r RATE] [-s SIZE]
 *               [-T TIMEOUT_MS] [-H HOLD_SECONDS] ENDPOINT
 *     -c  client threads, one REQ socket each, 1..256 (default 4)
 *     -n  requests per client, then stop (exactly; default: use -d)
 *     -d  run for this many seconds (default 5 when -n is not given)
 *     -r  requests per second per client, 0 = as fast as replies come
 *     -s  request size in bytes, 4..65536 (default 64)
 *     -T  reply timeout in ms before the socket is recycled (default 2000)
 *     -H  keep the connections open this long after the load (default 0)
 *   Environment: the ZMQOBS_* variables of the README (unset
 *   ZMQOBS_METRICS_ADDR: nothing served).
 *
 * The last line is machine-readable:
 *   TOTAL clients=4 requests=N replies=N timeouts=0 errors=0 p50_us=.. p95_us=.. p99_us=..
 * Exit status: 0 when every request got its reply, 1 otherwise, 2 on bad
 * arguments or environment.
 *
 * SPDX-License-Identifier: MIT
 */
#include "example_util.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>
#include <zmqobs.h>

#define MAX_CLIENTS 256

static volatile sig_atomic_t interrupted;

static void on_signal (int sig)
{
    (void) sig;
    interrupted = 1;
}

typedef struct {
    void *ctx;
    zmqobs_t *obs;
    const char *endpoint;
    int id;
    long requests; /* 0 = until the deadline */
    long rate;
    long size;
    long timeout_ms;
    long hold_s;
    double deadline; /* monotonic seconds */
    /* results, read by main after join */
    unsigned long sent, replies, timeouts, errors;
    zmqobs_stats_t stats; /* last socket's stats, taken before detach */
    int failed;
} client_t;

static double now_s (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void sleep_s (double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t) s, (long) ((s - (double) (time_t) s) * 1e9)};
    while (nanosleep (&ts, &ts) != 0 && errno == EINTR && !interrupted)
        ;
}

/* Opens and attaches a fresh REQ socket. Returns 0, or -1 after printing. */
static int open_req (client_t *c, void **sock, zmqobs_socket_t **s, const char *name)
{
    int zero = 0;
    *sock = zmq_socket (c->ctx, ZMQ_REQ);
    if (!*sock) {
        fprintf (stderr, "%s: zmq_socket: %s\n", name, zmq_strerror (errno));
        return -1;
    }
    *s = zmqobs_attach (c->obs, *sock, name);
    if (!*s || zmq_setsockopt (*sock, ZMQ_LINGER, &zero, sizeof zero) != 0
        || zmq_connect (*sock, c->endpoint) != 0) {
        fprintf (stderr, "%s: setup: %s\n", name, zmq_strerror (errno));
        zmqobs_detach (s);
        zmq_close (*sock);
        *sock = NULL;
        return -1;
    }
    return 0;
}

static void *client_main (void *arg)
{
    client_t *c = arg;
    char name[32];
    snprintf (name, sizeof name, "client-%d", c->id);
    void *sock = NULL;
    zmqobs_socket_t *s = NULL;
    if (open_req (c, &sock, &s, name) != 0) {
        c->failed = 1;
        return NULL;
    }
    char *req = malloc ((size_t) c->size);
    char *rep = malloc ((size_t) c->size);
    if (!req || !rep) {
        fprintf (stderr, "%s: out of memory\n", name);
        c->failed = 1;
        goto out;
    }
    memset (req, 'x', (size_t) c->size);
    double next = now_s ();
    while (!interrupted) {
        if (c->requests > 0 ? c->sent >= (unsigned long) c->requests : now_s () >= c->deadline)
            break;
        if (c->rate > 0) {
            sleep_s (next - now_s ());
            next += 1.0 / (double) c->rate;
        }
        /* the request number makes every request distinct */
        snprintf (req, (size_t) c->size, "%08lu", c->sent);
        if (zmqobs_send (s, req, (size_t) c->size, 0) < 0) {
            if (errno == EINTR)
                continue;
            fprintf (stderr, "%s: send: %s\n", name, zmq_strerror (errno));
            c->errors++;
            break;
        }
        c->sent++;
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        int rc;
        do
            rc = zmq_poll (&item, 1, c->timeout_ms);
        while (rc < 0 && errno == EINTR && !interrupted);
        if (rc == 0 || (rc < 0 && errno == EINTR)) {
            /* no reply: a REQ socket cannot send again, so recycle it */
            c->timeouts++;
            zmqobs_detach (&s);
            zmq_close (sock);
            if (open_req (c, &sock, &s, name) != 0) {
                c->failed = 1;
                goto out;
            }
            continue;
        }
        if (rc < 0) {
            fprintf (stderr, "%s: zmq_poll: %s\n", name, zmq_strerror (errno));
            c->errors++;
            break;
        }
        int n = zmqobs_recv (s, rep, (size_t) c->size, 0);
        if (n < 0) {
            fprintf (stderr, "%s: recv: %s\n", name, zmq_strerror (errno));
            c->errors++;
            break;
        }
        if (n != c->size || memcmp (req, rep, (size_t) c->size) != 0)
            c->errors++; /* an echo service must echo */
        else
            c->replies++;
    }
    /* keep the connection up for a while (lets a scraper see it) */
    for (double end = now_s () + (double) c->hold_s; !interrupted && now_s () < end;)
        sleep_s (0.05);
out:
    if (s && zmqobs_socket_stats (s, &c->stats) != 0)
        fprintf (stderr, "%s: zmqobs_socket_stats: %s\n", name, strerror (errno));
    zmqobs_detach (&s);
    if (sock)
        zmq_close (sock);
    free (req);
    free (rep);
    return NULL;
}

static void usage (void)
{
    fprintf (stderr, "usage: load_client [-c CLIENTS] [-n REQUESTS | -d SECONDS] [-r RATE] "
                     "[-s SIZE] [-T TIMEOUT_MS] [-H HOLD_SECONDS] ENDPOINT\n");
}

int main (int argc, char **argv)
{
    long clients = 4, requests = 0, duration = 0, rate = 0, size = 64, timeout = 2000, hold = 0;
    int opt;
    while ((opt = getopt (argc, argv, "c:n:d:r:s:T:H:h")) != -1) {
        int bad = 0;
        switch (opt) {
        case 'c':
            bad = example_parse_long ("-c", optarg, 1, MAX_CLIENTS, &clients);
            break;
        case 'n':
            bad = example_parse_long ("-n", optarg, 1, 1000000000, &requests);
            break;
        case 'd':
            bad = example_parse_long ("-d", optarg, 1, 86400, &duration);
            break;
        case 'r':
            bad = example_parse_long ("-r", optarg, 0, 1000000, &rate);
            break;
        case 's':
            bad = example_parse_long ("-s", optarg, 16, 65536, &size);
            break;
        case 'T':
            bad = example_parse_long ("-T", optarg, 1, 600000, &timeout);
            break;
        case 'H':
            bad = example_parse_long ("-H", optarg, 0, 86400, &hold);
            break;
        default:
            usage ();
            return opt == 'h' ? 0 : 2;
        }
        if (bad)
            return 2;
    }
    if (optind != argc - 1 || (requests && duration)) {
        usage ();
        return 2;
    }
    if (!requests && !duration)
        duration = 5;
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    char err[256];
    if (zmqobs_options_from_env (&o, err, sizeof err) != 0) {
        int malformed = errno == EINVAL; /* else a log that cannot be opened */
        fprintf (stderr, "%s\n", err);
        return malformed ? 2 : 1;
    }

    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset (&sa.sa_mask);
    if (sigaction (SIGINT, &sa, NULL) != 0 || sigaction (SIGTERM, &sa, NULL) != 0) {
        perror ("sigaction");
        return 1;
    }
    void *ctx = zmq_ctx_new ();
    if (!ctx) {
        perror ("zmq_ctx_new");
        return 1;
    }
    zmqobs_t *obs = zmqobs_new (ctx, &o); /* opens ZMQOBS_EVENT_LOG */
    if (!obs) {
        fprintf (stderr, "zmqobs_new: %s\n", strerror (errno));
        zmq_ctx_term (ctx);
        return 1;
    }
    int status = 1;
    static client_t cl[MAX_CLIENTS];
    pthread_t th[MAX_CLIENTS];
    long started = 0;
    int serve_rc = example_serve (obs);
    if (serve_rc != 0) {
        status = serve_rc;
        goto done;
    }
    double deadline = now_s () + (double) duration;
    for (long i = 0; i < clients; i++) {
        cl[i] = (client_t) {.ctx = ctx,
                            .obs = obs,
                            .endpoint = argv[optind],
                            .id = (int) i,
                            .requests = requests,
                            .rate = rate,
                            .size = size,
                            .timeout_ms = timeout,
                            .hold_s = hold,
                            .deadline = deadline};
        int rc = pthread_create (&th[i], NULL, client_main, &cl[i]);
        if (rc != 0) {
            fprintf (stderr, "pthread_create: %s\n", strerror (rc));
            interrupted = 1;
            break;
        }
        started++;
    }
    unsigned long sent = 0, replies = 0, timeouts = 0, errors = 0;
    uint64_t p50 = 0, p95 = 0, p99 = 0;
    int failed = started < clients;
    for (long i = 0; i < started; i++) {
        pthread_join (th[i], NULL);
        client_t *c = &cl[i];
        sent += c->sent;
        replies += c->replies;
        timeouts += c->timeouts;
        errors += c->errors;
        failed |= c->failed;
        /* the slowest client's window quantiles: a conservative summary */
        if (c->stats.window.p50_ns > p50)
            p50 = c->stats.window.p50_ns;
        if (c->stats.window.p95_ns > p95)
            p95 = c->stats.window.p95_ns;
        if (c->stats.window.p99_ns > p99)
            p99 = c->stats.window.p99_ns;
        printf ("client-%ld: sent %lu replies %lu timeouts %lu, window p95 %.3f ms\n", i, c->sent,
                c->replies, c->timeouts, (double) c->stats.window.p95_ns / 1e6);
    }
    printf ("TOTAL clients=%ld requests=%lu replies=%lu timeouts=%lu errors=%lu p50_us=%llu "
            "p95_us=%llu p99_us=%llu\n",
            started, sent, replies, timeouts, errors, (unsigned long long) (p50 / 1000),
            (unsigned long long) (p95 / 1000), (unsigned long long) (p99 / 1000));
    fflush (stdout);
    status = (!failed && errors == 0 && timeouts == 0 && replies == sent) ? 0 : 1;
done:
    zmqobs_destroy (&obs); /* closes the event log */
    zmq_ctx_term (ctx);
    return status;
}
