/*
 * broker.c - a ROUTER/DEALER request broker with worker threads, fully
 * observed by libzmqobs.
 *
 * What it shows:
 *   - a proxy loop written with the zmqobs_msg_recv/zmqobs_msg_send
 *     wrappers, so every forwarded message part is counted;
 *   - zmqobs_set_queue_depth: the frontend's zmq_queue_depth gauge is the
 *     number of requests in flight (forwarded to a worker, not yet
 *     answered);
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
 *   broker [-f FRONTEND] [-w WORKERS] [-t WORK_US] [-d SECONDS]
 *     -f  endpoint to bind for clients (default tcp://127.0.0.1:5555;
 *         a port of * picks a free one)
 *     -w  worker threads, 1..64 (default 4)
 *     -t  simulated work per request in microseconds (default 1000)
 *     -d  exit after this many seconds (default: run until SIGINT/SIGTERM)
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

static int stopping (worker_t *w)
{
    return interrupted || __atomic_load_n (&w->stop, __ATOMIC_ACQUIRE);
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

/* Moves one whole multipart message from one socket to the other through
 * the wrappers. Returns 0, 1 when the destination refused the message
 * (EHOSTUNREACH: the client is gone; the rest of it is discarded), or -1
 * with errno. */
static int forward (zmqobs_socket_t *from, zmqobs_socket_t *to)
{
    int dropped = 0;
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init (&part);
        if (zmqobs_msg_recv (&part, from, 0) < 0) {
            int err = errno;
            zmq_msg_close (&part);
            errno = err;
            return -1;
        }
        int more = zmq_msg_more (&part);
        if (dropped)
            zmq_msg_close (&part);
        else if (zmqobs_msg_send (&part, to, more ? ZMQ_SNDMORE : 0) < 0) {
            int err = errno;
            zmq_msg_close (&part);
            if (err != EHOSTUNREACH) {
                errno = err;
                return -1;
            }
            dropped = 1; /* counted by the wrapper; drain the rest */
        }
        if (!more)
            return dropped;
    }
}

static void usage (void)
{
    fprintf (stderr, "usage: broker [-f FRONTEND] [-w WORKERS] [-t WORK_US] [-d SECONDS]\n");
}

int main (int argc, char **argv)
{
    const char *frontend_ep = "tcp://127.0.0.1:5555";
    long nworkers = 4, work_us = 1000, duration = 0;
    int opt;
    while ((opt = getopt (argc, argv, "f:w:t:d:h")) != -1) {
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

    /* The proxy loop. zmq_proxy would do the forwarding, but it cannot
     * count through the wrappers or track requests in flight. */
    unsigned long requests = 0, replies = 0, undeliverable = 0;
    int64_t in_flight = 0;
    struct timespec t0;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    status = 0;
    while (!interrupted) {
        if (duration > 0) {
            struct timespec now;
            clock_gettime (CLOCK_MONOTONIC, &now);
            if (now.tv_sec - t0.tv_sec >= duration)
                break;
        }
        zmq_pollitem_t items[2] = {{fsock, 0, ZMQ_POLLIN, 0}, {bsock, 0, ZMQ_POLLIN, 0}};
        int rc = zmq_poll (items, 2, 100);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            fprintf (stderr, "zmq_poll: %s\n", zmq_strerror (errno));
            status = 1;
            break;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            if (forward (front, back) < 0) {
                if (errno == EINTR)
                    continue;
                fprintf (stderr, "forward request: %s\n", zmq_strerror (errno));
                status = 1;
                break;
            }
            requests++;
            in_flight++;
        }
        if (items[1].revents & ZMQ_POLLIN) {
            int fw = forward (back, front);
            if (fw < 0) {
                if (errno == EINTR)
                    continue;
                fprintf (stderr, "forward reply: %s\n", zmq_strerror (errno));
                status = 1;
                break;
            }
            if (fw == 0)
                replies++;
            else
                undeliverable++;
            in_flight--;
        }
        zmqobs_set_queue_depth (front, in_flight);
        for (long i = 0; i < started; i++)
            if (__atomic_load_n (&workers[i].failed, __ATOMIC_RELAXED)) {
                fprintf (stderr, "broker: worker %ld failed\n", i);
                status = 1;
                interrupted = 1;
            }
    }
    printf ("broker: forwarded %lu requests and %lu replies; %lu replies undeliverable\n", requests,
            replies, undeliverable);

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
