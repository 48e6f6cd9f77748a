/*
 * broker.c - a ROUTER/DEALER request broker with worker threads, fully
 * observed by libzmqobs.
 *
 * What it shows:
 *   - zmqobs_proxy, the instrumented zmq_proxy_steerable: every forwarded
 *     part is counted, zmq_proxy_in_flight counts the requests forwarded
 *     to a worker and not yet answered, and a control socket stops it;
 *   - per-peer metrics on the frontend, by client address
 *     (zmq_peer_messages_received_total{peer="127.0.0.1"}, and /peers);
 *   - zmqobs_set_queue_depth from another thread: the frontend's
 *     zmq_queue_depth follows the requests in flight;
 *   - ZMQ_ROUTER_MANDATORY on the frontend: a reply for a client that has
 *     gone away fails with EHOSTUNREACH instead of vanishing silently, so
 *     it shows in zmq_errors_total{op="send",error="EHOSTUNREACH"};
 *   - workers whose REP sockets are attached on their own threads, so
 *     zmq_message_latency_seconds{socket="worker-N"} is the service time
 *     (automatic REQ/REP timing);
 *   - the built-in /metrics, /healthz and /readyz endpoint and the
 *     library's configuration from the environment
 *     (zmqobs_options_from_env, zmqobs_serve_from_env).
 *
 * Clients send a request on a REQ (or DEALER) socket and get it back
 * after the worker's simulated work; "PING" is answered "PONG" at once,
 * which is what the healthcheck example sends.
 *
 * Usage:
 *   broker [-f FRONTEND] [-w WORKERS] [-t WORK_US] [-d SECONDS] [-p PEERS]
 *     -f  endpoint to bind for clients (default tcp://127.0.0.1:5555;
 *         a port of * picks a free one)
 *     -w  worker threads, 1..64 (default 4)
 *     -t  simulated work per request in microseconds (default 1000)
 *     -d  exit after this many seconds (default: run until SIGINT/SIGTERM)
 *     -p  client addresses tracked per peer on the frontend (default 64,
 *         0 = off)
 *   Environment: the ZMQOBS_* variables of the README (ZMQOBS_METRICS_ADDR
 *   defaults here to tcp://127.0.0.1:9464).
 *
 * On start it prints "frontend ENDPOINT" and "metrics URL" lines, on exit
 * a summary. Exit status: 0 after a clean stop, 1 on a runtime error, 2
 * on bad arguments or environment.
 *
 *   make examples
 *   build/examples/broker -f 'tcp://127.0.0.1:*' &
 *   build/examples/load_client -d 5 tcp://127.0.0.1:PORT
 *   curl -s http://127.0.0.1:9464/metrics
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

/* Workers connect over loopback TCP rather than inproc: libzmq emits no
 * monitor events for inproc, so inproc sockets could never show
 * connections or become ready on /readyz. */
#define BACKEND "tcp://127.0.0.1:*"
#define MAX_WORKERS 64

static volatile sig_atomic_t interrupted;

static void on_signal (int sig)
{
    (void) sig;
    interrupted = 1;
}

typedef struct {
    void *ctx;
    zmqobs_t *obs;
    const char *backend; /* the endpoint the backend is bound to */
    int id;
    long work_us;
    int stop;   /* set by main, read with __atomic loads */
    int failed; /* set by the worker on a fatal error (atomic) */
    unsigned long answered;
} worker_t;

/* Workers stop when main tells them, after the proxy returned: a worker
 * that left on the signal itself could leave the proxy blocked in a send
 * to a backend with no peer. */
static int stopping (worker_t *w)
{
    return __atomic_load_n (&w->stop, __ATOMIC_ACQUIRE);
}

static void sleep_us (long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep (&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* One worker: a REP socket on its own thread, attached on that thread. */
static void *worker_main (void *arg)
{
    worker_t *w = arg;
    char name[32];
    snprintf (name, sizeof name, "worker-%d", w->id);
    void *rep = zmq_socket (w->ctx, ZMQ_REP);
    if (!rep) {
        fprintf (stderr, "%s: zmq_socket: %s\n", name, zmq_strerror (errno));
        __atomic_store_n (&w->failed, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    int linger = 0;
    zmqobs_socket_t *s = zmqobs_attach (w->obs, rep, name);
    if (!s || zmq_setsockopt (rep, ZMQ_LINGER, &linger, sizeof linger) != 0
        || zmq_connect (rep, w->backend) != 0) {
        fprintf (stderr, "%s: setup failed: %s\n", name, zmq_strerror (errno));
        __atomic_store_n (&w->failed, 1, __ATOMIC_RELAXED);
        zmqobs_detach (&s);
        zmq_close (rep);
        return NULL;
    }
    char buf[65536];
    while (!stopping (w)) {
        zmq_pollitem_t item = {rep, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll (&item, 1, 100);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            break; /* ETERM */
        }
        if (rc == 0)
            continue;
        int n = zmqobs_recv (s, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        size_t len = (size_t) n < sizeof buf ? (size_t) n : sizeof buf;
        const char *reply = buf;
        if (len == 4 && memcmp (buf, "PING", 4) == 0)
            reply = "PONG";
        else if (w->work_us > 0)
            sleep_us (w->work_us); /* the "work" */
        if (zmqobs_send (s, reply, len, 0) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        w->answered++;
    }
    zmqobs_detach (&s);
    zmq_close (rep);
    return NULL;
}

/* Stops the proxy: on SIGINT/SIGTERM or after the duration, sends
 * TERMINATE on the control pair; meanwhile copies the proxy's requests in
 * flight into the frontend's zmq_queue_depth (the gauge the deploy kit's
 * autoscaler and alerts use) every 100 ms. */
typedef struct {
    void *ctx;
    zmqobs_socket_t *front;
    long duration;
    worker_t *workers; /* a failed worker stops the broker too */
    long nworkers;
    int done; /* set by main once the proxy returned (atomic) */
    int rc;
} stopper_t;

static void *stopper_main (void *arg)
{
    stopper_t *st = arg;
    void *ctl = zmq_socket (st->ctx, ZMQ_PAIR);
    if (!ctl || zmq_connect (ctl, "inproc://broker-control") != 0) {
        st->rc = -1;
        if (ctl)
            zmq_close (ctl);
        return NULL;
    }
    struct timespec t0, now;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    while (!__atomic_load_n (&st->done, __ATOMIC_ACQUIRE)) {
        zmqobs_stats_t s;
        if (zmqobs_socket_stats (st->front, &s) == 0)
            zmqobs_set_queue_depth (st->front, s.proxy_in_flight);
        clock_gettime (CLOCK_MONOTONIC, &now);
        int failed = 0;
        for (long i = 0; i < st->nworkers; i++)
            failed |= __atomic_load_n (&st->workers[i].failed, __ATOMIC_RELAXED);
        if (interrupted || failed || (st->duration > 0 && now.tv_sec - t0.tv_sec >= st->duration)) {
            zmq_send (ctl, "TERMINATE", 9, 0);
            break;
        }
        sleep_us (100000);
    }
    zmq_close (ctl);
    return NULL;
}

/* The parts and bytes of errno name err in st's send errors. */
static uint64_t send_errors (const zmqobs_stats_t *st, const char *err)
{
    for (unsigned i = 0; i < ZMQOBS_ERRNO_SLOTS; i++)
        if (strcmp (zmqobs_errno_slot_name (i), err) == 0)
            return st->errors[ZMQOBS_OP_SEND][i];
    return 0;
}

static void usage (void)
{
    fprintf (stderr,
             "usage: broker [-f FRONTEND] [-w WORKERS] [-t WORK_US] [-d SECONDS] [-p PEERS]\n");
}

int main (int argc, char **argv)
{
    const char *frontend_ep = "tcp://127.0.0.1:5555";
    long nworkers = 4, work_us = 1000, duration = 0, max_peers = 64;
    int opt;
    while ((opt = getopt (argc, argv, "f:w:t:d:p:h")) != -1) {
        switch (opt) {
        case 'f':
            frontend_ep = optarg;
            break;
        case 'w':
            if (example_parse_long ("-w", optarg, 1, MAX_WORKERS, &nworkers) != 0)
                return 2;
            break;
        case 't':
            if (example_parse_long ("-t", optarg, 0, 10000000, &work_us) != 0)
                return 2;
            break;
        case 'd':
            if (example_parse_long ("-d", optarg, 1, 86400, &duration) != 0)
                return 2;
            break;
        case 'p':
            if (example_parse_long ("-p", optarg, 0, ZMQOBS_PEERS_MAX, &max_peers) != 0)
                return 2;
            break;
        default:
            usage ();
            return opt == 'h' ? 0 : 2;
        }
    }
    if (optind != argc) {
        usage ();
        return 2;
    }
    /* this program serves by default; the environment may say otherwise
     * (set before any thread starts: the environment is not thread-safe) */
    if (setenv ("ZMQOBS_METRICS_ADDR", "tcp://127.0.0.1:9464", 0) != 0) {
        perror ("setenv");
        return 1;
    }
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

    int status = 1;
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
    worker_t workers[MAX_WORKERS];
    pthread_t threads[MAX_WORKERS];
    long started = 0;
    zmqobs_socket_t *front = NULL, *back = NULL;
    void *fsock = NULL, *bsock = NULL;
    int serve_rc = example_serve (obs);
    if (serve_rc != 0) {
        status = serve_rc;
        goto done;
    }
    fsock = zmq_socket (ctx, ZMQ_ROUTER);
    bsock = zmq_socket (ctx, ZMQ_DEALER);
    if (!fsock || !bsock) {
        fprintf (stderr, "zmq_socket: %s\n", zmq_strerror (errno));
        goto done;
    }
    int linger = 0, one = 1;
    if (zmq_setsockopt (fsock, ZMQ_LINGER, &linger, sizeof linger) != 0
        || zmq_setsockopt (bsock, ZMQ_LINGER, &linger, sizeof linger) != 0
        || zmq_setsockopt (fsock, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0) {
        fprintf (stderr, "zmq_setsockopt: %s\n", zmq_strerror (errno));
        goto done;
    }
    /* attach before bind, so the LISTENING event is seen */
    front = zmqobs_attach (obs, fsock, "frontend");
    back = zmqobs_attach (obs, bsock, "backend");
    if (!front || !back) {
        fprintf (stderr, "zmqobs_attach: %s\n", strerror (errno));
        goto done;
    }
    /* per-client metrics, by the clients' addresses */
    if (max_peers > 0
        && zmqobs_track_peers (front, (unsigned) max_peers, ZMQOBS_PEER_ADDRESS) != 0) {
        fprintf (stderr, "zmqobs_track_peers: %s\n", strerror (errno));
        goto done;
    }
    if (zmq_bind (fsock, frontend_ep) != 0) {
        fprintf (stderr, "bind %s: %s\n", frontend_ep, zmq_strerror (errno));
        goto done;
    }
    if (zmq_bind (bsock, BACKEND) != 0) {
        fprintf (stderr, "bind %s: %s\n", BACKEND, zmq_strerror (errno));
        goto done;
    }
    char bound[256], back_ep[256];
    size_t bound_len = sizeof bound, back_len = sizeof back_ep;
    if (zmq_getsockopt (fsock, ZMQ_LAST_ENDPOINT, bound, &bound_len) != 0
        || zmq_getsockopt (bsock, ZMQ_LAST_ENDPOINT, back_ep, &back_len) != 0) {
        fprintf (stderr, "ZMQ_LAST_ENDPOINT: %s\n", zmq_strerror (errno));
        goto done;
    }
    for (long i = 0; i < nworkers; i++) {
        workers[i] = (worker_t) {.ctx = ctx,
                                 .obs = obs,
                                 .backend = back_ep,
                                 .id = (int) i,
                                 .work_us = work_us};
        int rc = pthread_create (&threads[i], NULL, worker_main, &workers[i]);
        if (rc != 0) {
            fprintf (stderr, "pthread_create: %s\n", strerror (rc));
            goto done;
        }
        started++;
    }
    printf ("frontend %s\n", bound);
    printf ("broker: %ld workers, %ld us of work per request\n", nworkers, work_us);
    fflush (stdout);

    /* The proxy: zmqobs_proxy forwards through the wrappers (every part
     * counted, per client address too) and keeps zmq_proxy_in_flight;
     * the stopper thread ends it with TERMINATE on the control pair. */
    void *control = zmq_socket (ctx, ZMQ_PAIR);
    if (!control || zmq_bind (control, "inproc://broker-control") != 0) {
        fprintf (stderr, "control: %s\n", zmq_strerror (errno));
        if (control)
            zmq_close (control);
        goto done;
    }
    stopper_t stopper = {.ctx = ctx,
                         .front = front,
                         .duration = duration,
                         .workers = workers,
                         .nworkers = started};
    pthread_t stopper_thread;
    int trc = pthread_create (&stopper_thread, NULL, stopper_main, &stopper);
    if (trc != 0) {
        fprintf (stderr, "pthread_create: %s\n", strerror (trc));
        zmq_close (control);
        goto done;
    }
    status = 0;
    if (zmqobs_proxy (front, back, NULL, control) != 0) {
        fprintf (stderr, "zmqobs_proxy: %s\n", zmq_strerror (errno));
        status = 1;
    }
    __atomic_store_n (&stopper.done, 1, __ATOMIC_RELEASE);
    pthread_join (stopper_thread, NULL);
    zmq_close (control);
    if (stopper.rc != 0) {
        fprintf (stderr, "broker: the stopper could not reach the proxy\n");
        status = 1;
    }
    for (long i = 0; i < started; i++)
        if (__atomic_load_n (&workers[i].failed, __ATOMIC_RELAXED)) {
            fprintf (stderr, "broker: worker %ld failed\n", i);
            status = 1;
        }
    zmqobs_stats_t fst;
    if (zmqobs_socket_stats (front, &fst) == 0)
        printf ("broker: forwarded %llu request parts and %llu reply parts; %llu replies "
                "undeliverable\n",
                (unsigned long long) fst.msgs_received, (unsigned long long) fst.msgs_sent,
                (unsigned long long) send_errors (&fst, "EHOSTUNREACH"));

done:
    for (long i = 0; i < started; i++)
        __atomic_store_n (&workers[i].stop, 1, __ATOMIC_RELEASE);
    for (long i = 0; i < started; i++) {
        pthread_join (threads[i], NULL);
        printf ("broker: worker-%ld answered %lu\n", i, workers[i].answered);
    }
    fflush (stdout);
    zmqobs_detach (&front);
    zmqobs_detach (&back);
    zmqobs_destroy (&obs); /* closes the event log */
    if (fsock)
        zmq_close (fsock);
    if (bsock)
        zmq_close (bsock);
    zmq_ctx_term (ctx);
    return status;
}
