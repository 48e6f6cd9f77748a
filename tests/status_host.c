/*
 * status_host.c - the host that tests/test_status_page.sh points a browser
 * at: an observer serving HTTP on 127.0.0.1 (a free port), sockets with
 * hostile names and live traffic, driven by commands on stdin.
 *
 * Traffic: three pairs over tcp://127.0.0.1 (free ports), each pair owned
 * by one thread that does one exchange every 4 ms through the counting
 * wrappers (REQ/REP timed on every cycle, so the window has latencies):
 *   REQ  <script>alert(1)</script>   -> REP  "dq" 'sq' back\slash &amp;
 *   PUSH <img src=x onerror=...>     -> PULL zähler→✓
 *   DEALER dealer                    -> ROUTER router
 * The router tracks its peers by routing id; the dealer's is
 * <b>peer "1"</b>.
 *
 * Prints "port P" and "rep_endpoint E" at start, then answers each
 * command with one line:
 *   pause   -> "paused" once every thread finished its exchange and waits
 *   resume  -> "resumed"
 *   unserve -> "unserved" (zmqobs_serve_stop)
 *   serve   -> "served" (zmqobs_serve again on the same port)
 *   more N  -> "more N": N idle PUB sockets "worker-NNN" attached
 *   quit, or end of input -> threads stopped, everything closed, exit 0
 * Any failure prints "error ..." to stderr and exits 1.
 *
 * SPDX-License-Identifier: MIT
 */
#include <zmqobs.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAIRS 3
#define PEER_ID "<b>peer \"1\"</b>"
#define IDLE_MAX 120

static const char *const names[PAIRS][2] = {
    {"<script>alert(1)</script>", "\"dq\" 'sq' back\\slash &amp;"},
    {"<img src=x onerror=\"window.__pwned=1\">", "z\xc3\xa4hler\xe2\x86\x92\xe2\x9c\x93"},
    {"dealer", "router"},
};
static const int types[PAIRS][2] = {{ZMQ_REQ, ZMQ_REP},
                                    {ZMQ_PUSH, ZMQ_PULL},
                                    {ZMQ_DEALER, ZMQ_ROUTER}};

typedef struct {
    int idx;
    void *a, *b; /* a connects to b */
    zmqobs_socket_t *sa, *sb;
    pthread_t thread;
} pair_t;

static zmqobs_t *obs;
static pair_t pairs[PAIRS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int paused, quitting, waiting; /* under mu */

static void die (const char *what)
{
    fprintf (stderr, "error %s: %s\n", what, zmq_strerror (errno));
    exit (1);
}

static void pause_ms (long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep (&ts, NULL);
}

/* One exchange: a sends (or requests), b receives (and answers). */
static int exchange (pair_t *p)
{
    char buf[64];
    if (p->idx == 0) {
        if (zmqobs_send (p->sa, "ping", 4, 0) != 4 || zmqobs_recv (p->sb, buf, sizeof buf, 0) != 4
            || zmqobs_send (p->sb, "pong!", 5, 0) != 5
            || zmqobs_recv (p->sa, buf, sizeof buf, 0) != 5)
            return -1;
    } else if (p->idx == 1) {
        if (zmqobs_send (p->sa, "work item", 9, 0) != 9
            || zmqobs_recv (p->sb, buf, sizeof buf, 0) != 9)
            return -1;
    } else {
        /* the router gets the routing id, then the payload */
        if (zmqobs_send (p->sa, "hello router", 12, 0) != 12
            || zmqobs_recv (p->sb, buf, sizeof buf, 0) < 0
            || zmqobs_recv (p->sb, buf, sizeof buf, 0) != 12)
            return -1;
    }
    return 0;
}

static void *traffic (void *arg)
{
    pair_t *p = arg;
    for (;;) {
        pthread_mutex_lock (&mu);
        while (paused && !quitting) {
            waiting++;
            pthread_cond_broadcast (&cv);
            pthread_cond_wait (&cv, &mu);
            waiting--;
        }
        int stop = quitting;
        pthread_mutex_unlock (&mu);
        if (stop)
            break;
        if (exchange (p) != 0)
            die ("exchange");
        pause_ms (4);
    }
    return NULL;
}

static void open_pair (void *ctx, pair_t *p, int idx)
{
    p->idx = idx;
    p->a = zmq_socket (ctx, types[idx][0]);
    p->b = zmq_socket (ctx, types[idx][1]);
    if (!p->a || !p->b)
        die ("zmq_socket");
    int linger = 0;
    zmq_setsockopt (p->a, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (p->b, ZMQ_LINGER, &linger, sizeof linger);
    p->sa = zmqobs_attach (obs, p->a, names[idx][0]);
    p->sb = zmqobs_attach (obs, p->b, names[idx][1]);
    if (!p->sa || !p->sb)
        die ("zmqobs_attach");
    if (idx == 2) {
        /* the router counts per peer by routing id: the dealer's names it */
        if (zmq_setsockopt (p->a, ZMQ_ROUTING_ID, PEER_ID, strlen (PEER_ID)) != 0
            || zmqobs_track_peers (p->sb, 8, ZMQOBS_PEER_ROUTING_ID) != 0)
            die ("peers");
    }
    char ep[256];
    size_t len = sizeof ep;
    if (zmq_bind (p->b, "tcp://127.0.0.1:*") != 0
        || zmq_getsockopt (p->b, ZMQ_LAST_ENDPOINT, ep, &len) != 0 || zmq_connect (p->a, ep) != 0)
        die ("bind/connect");
    if (idx == 0)
        printf ("rep_endpoint %s\n", ep);
}

int main (void)
{
    void *ctx = zmq_ctx_new ();
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    opts.latency_sample_every = 1;
    char err[256];
    if (zmqobs_options_from_env (&opts, err, sizeof err) != 0) {
        fprintf (stderr, "error %s\n", err);
        return 1;
    }
    obs = zmqobs_new (ctx, &opts);
    if (!obs)
        die ("zmqobs_new");
    if (zmqobs_serve (obs, "tcp://127.0.0.1:0") != 0)
        die ("zmqobs_serve");
    int port = zmqobs_serve_port (obs);
    printf ("port %d\n", port);
    for (int i = 0; i < PAIRS; i++)
        open_pair (ctx, &pairs[i], i);
    fflush (stdout);
    for (int i = 0; i < PAIRS; i++)
        if (pthread_create (&pairs[i].thread, NULL, traffic, &pairs[i]) != 0)
            die ("pthread_create");

    void *idle[IDLE_MAX];
    zmqobs_socket_t *idle_s[IDLE_MAX];
    int nidle = 0;
    char line[128];
    while (fgets (line, sizeof line, stdin)) {
        int n = 0;
        if (strcmp (line, "pause\n") == 0) {
            pthread_mutex_lock (&mu);
            paused = 1;
            while (waiting < PAIRS)
                pthread_cond_wait (&cv, &mu);
            pthread_mutex_unlock (&mu);
            printf ("paused\n");
        } else if (strcmp (line, "resume\n") == 0) {
            pthread_mutex_lock (&mu);
            paused = 0;
            pthread_cond_broadcast (&cv);
            pthread_mutex_unlock (&mu);
            printf ("resumed\n");
        } else if (strcmp (line, "unserve\n") == 0) {
            if (zmqobs_serve_stop (obs) != 0)
                die ("zmqobs_serve_stop");
            printf ("unserved\n");
        } else if (strcmp (line, "serve\n") == 0) {
            char ep[64];
            snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", port);
            if (zmqobs_serve (obs, ep) != 0)
                die ("zmqobs_serve again");
            printf ("served\n");
        } else if (sscanf (line, "more %d", &n) == 1 && n > 0 && nidle + n <= IDLE_MAX) {
            for (int i = 0; i < n; i++, nidle++) {
                char name[32], ep[64];
                snprintf (name, sizeof name, "worker-%03d", nidle);
                snprintf (ep, sizeof ep, "inproc://worker-%03d", nidle);
                idle[nidle] = zmq_socket (ctx, ZMQ_PUB);
                if (!idle[nidle] || !(idle_s[nidle] = zmqobs_attach (obs, idle[nidle], name))
                    || zmq_bind (idle[nidle], ep) != 0)
                    die ("idle socket");
            }
            printf ("more %d\n", n);
        } else if (strcmp (line, "quit\n") == 0) {
            break;
        } else {
            fprintf (stderr, "error unknown command: %s", line);
            return 1;
        }
        fflush (stdout);
    }

    pthread_mutex_lock (&mu);
    quitting = 1;
    pthread_cond_broadcast (&cv);
    pthread_mutex_unlock (&mu);
    for (int i = 0; i < PAIRS; i++)
        pthread_join (pairs[i].thread, NULL);
    for (int i = 0; i < nidle; i++) {
        zmqobs_detach (&idle_s[i]);
        zmq_close (idle[i]);
    }
    for (int i = 0; i < PAIRS; i++) {
        zmqobs_detach (&pairs[i].sa);
        zmqobs_detach (&pairs[i].sb);
        zmq_close (pairs[i].a);
        zmq_close (pairs[i].b);
    }
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
    return 0;
}
