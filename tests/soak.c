/*
 * soak.c - a bounded soak of the whole library: make soak (SOAK_SECONDS).
 *
 * For the given number of seconds, on one context and one observer with
 * its own thread and the HTTP endpoint on 127.0.0.1 (port 0):
 *   - REQ/REP: two REP servers, each with two REQ client threads that
 *     connect, do a random number of request/reply cycles, check their own
 *     socket's counts against what they did, detach, close and reconnect;
 *   - PUSH/PULL: three PUSH threads that connect, send a random number of
 *     messages, detach, close and reconnect, into one PULL thread;
 *   - failing handshakes: CURVE clients with the wrong server key against
 *     a CURVE server (one connection attempt each), and raw TCP peers that
 *     send a ZMTP greeting with a mechanism nobody speaks;
 *   - attach/detach churn on fresh sockets, with a format each time;
 *   - HTTP scrapes every few milliseconds by a raw-socket client
 *     (/metrics with both formats, /healthz, /readyz, /peers; keep-alive
 *     and not); rep-0 counts per client address (zmqobs_track_peers).
 * Then everything stops and the totals are checked: every count in the
 * snapshots equals what the peers sent and received, every failed
 * handshake is counted with its reason, every connection gauge is 0, and
 * no scrape failed. Open file descriptors (/proc/self/fd) and resident
 * memory are sampled every second; the samples after warm-up (the first
 * half) and at the end must stay within the tolerances below, and after
 * everything is torn down the descriptor count is back where it started.
 *
 * Exit status 0 when every check holds, 1 otherwise; the figures are
 * printed either way.
 *
 * SPDX-License-Identifier: MIT
 */
#include "internal.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Tolerances between the warm-up samples and the end samples. */
#define FD_TOLERANCE 2                 /* descriptors */
#define RSS_TOLERANCE_BYTES (4u << 20) /* and at most ... */
#define RSS_TOLERANCE_PCT 10           /* ... percent, whichever larger */

#define REP_SERVERS 2
#define REQ_PER_SERVER 2
#define PUSHERS 3

static volatile int stop_flag;
static void *ctx;
static zmqobs_t *obs;
static int http_port;

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned failures;

/* Records a failed check; the run goes on so every figure is printed. */
static void fail (const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    pthread_mutex_lock (&fail_lock);
    failures++;
    fprintf (stderr, "soak: FAIL: ");
    vfprintf (stderr, fmt, ap);
    fputc ('\n', stderr);
    pthread_mutex_unlock (&fail_lock);
    va_end (ap);
}

static int stopping (void)
{
    return __atomic_load_n (&stop_flag, __ATOMIC_RELAXED);
}

static void sleep_us (long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep (&ts, NULL);
}

/* Pausing the client threads between their sessions (no socket of theirs
 * open), so that open descriptors are counted in a quiet moment rather
 * than in the middle of churn. */
static pthread_mutex_t pause_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pause_cond = PTHREAD_COND_INITIALIZER;
static int pause_req, parked;

static int pause_requested (void)
{
    return __atomic_load_n (&pause_req, __ATOMIC_RELAXED);
}

static void pause_point (void)
{
    if (!pause_requested ())
        return;
    pthread_mutex_lock (&pause_lock);
    parked++;
    pthread_cond_broadcast (&pause_cond);
    while (pause_req && !stopping ())
        pthread_cond_wait (&pause_cond, &pause_lock);
    parked--;
    pthread_mutex_unlock (&pause_lock);
}

static uint64_t now_ms (void)
{
    return zmqobs__now_ns () / 1000000u;
}

/* xorshift, one state per thread */
static uint32_t rnd (uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

static void *new_socket (int type)
{
    void *s = zmq_socket (ctx, type);
    if (!s) {
        fail ("zmq_socket: %s", zmq_strerror (errno));
        return NULL;
    }
    int ms = 5000;
    zmq_setsockopt (s, ZMQ_RCVTIMEO, &ms, sizeof ms);
    zmq_setsockopt (s, ZMQ_SNDTIMEO, &ms, sizeof ms);
    return s;
}

static void bound_endpoint (void *s, char *ep, size_t size)
{
    if (zmq_bind (s, "tcp://127.0.0.1:*") != 0)
        fail ("bind: %s", zmq_strerror (errno));
    if (zmq_getsockopt (s, ZMQ_LAST_ENDPOINT, ep, &size) != 0)
        fail ("ZMQ_LAST_ENDPOINT: %s", zmq_strerror (errno));
}

static uint64_t tcp_port_of (const char *ep)
{
    const char *colon = strrchr (ep, ':');
    return colon ? strtoull (colon + 1, NULL, 10) : 0;
}

static zmqobs_stats_t stats_of (const zmqobs_socket_t *s)
{
    zmqobs_stats_t st;
    memset (&st, 0, sizeof st);
    if (zmqobs_socket_stats (s, &st) != 0)
        fail ("zmqobs_socket_stats: %s", strerror (errno));
    return st;
}

static uint64_t event_count (const zmqobs_stats_t *st, uint32_t event)
{
    return st->events[zmqobs__event_bit (event)];
}

static uint64_t all_handshake_failures (const zmqobs_stats_t *st)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < ZMQOBS_HANDSHAKE_SLOTS; i++)
        n += st->handshake_failures[i];
    return n;
}

/* Failed sends and receives; EAGAIN (flow control, counted apart) is not
 * a failure. */
static uint64_t all_errors (const zmqobs_stats_t *st)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < ZMQOBS_ERRNO_SLOTS; i++)
        if (i != zmqobs__errno_slot (EAGAIN))
            n += st->errors[0][i] + st->errors[1][i];
    return n;
}

/* ------------------------------------------------------------------------
 * REQ/REP
 * ---------------------------------------------------------------------- */

typedef struct {
    int index;
    char ep[256];
    zmqobs_socket_t *s;
    void *zs;
    volatile int ready;
    uint64_t received, sent; /* by this thread, through the wrappers */
} rep_t;

typedef struct {
    rep_t *server;
    int index;
    uint64_t sent, received, sessions, disconnects;
} req_t;

static rep_t reps[REP_SERVERS];
static req_t reqs[REP_SERVERS * REQ_PER_SERVER];

static void *rep_thread (void *arg)
{
    rep_t *r = arg;
    char name[32];
    snprintf (name, sizeof name, "rep-%d", r->index);
    r->zs = new_socket (ZMQ_REP);
    r->s = zmqobs_attach (obs, r->zs, name);
    if (!r->s)
        fail ("attach %s: %s", name, strerror (errno));
    /* rep-0 counts per client address (every client is on 127.0.0.1),
     * through the message wrappers, which carry the property */
    if (r->index == 0 && zmqobs_track_peers (r->s, 4, ZMQOBS_PEER_ADDRESS) != 0)
        fail ("track peers: %s", strerror (errno));
    bound_endpoint (r->zs, r->ep, sizeof r->ep);
    __atomic_store_n (&r->ready, 1, __ATOMIC_RELEASE);
    char buf[256];
    for (;;) {
        zmq_pollitem_t item = {.socket = r->zs, .events = ZMQ_POLLIN};
        int rc = zmq_poll (&item, 1, 20);
        if (rc == 0) {
            if (__atomic_load_n (&stop_flag, __ATOMIC_RELAXED) == 2)
                break; /* clients are done */
            continue;
        }
        if (rc < 0) {
            fail ("rep poll: %s", zmq_strerror (errno));
            break;
        }
        int n;
        if (r->index == 0) {
            zmq_msg_t m;
            zmq_msg_init (&m);
            n = zmqobs_msg_recv (&m, r->s, 0);
            if (n >= 0)
                memcpy (buf, zmq_msg_data (&m), (size_t) n < sizeof buf ? (size_t) n : sizeof buf);
            zmq_msg_close (&m);
            if (n > (int) sizeof buf)
                n = (int) sizeof buf;
        } else
            n = zmqobs_recv (r->s, buf, sizeof buf, 0);
        if (n < 0) {
            fail ("rep recv: %s", zmq_strerror (errno));
            break;
        }
        r->received++;
        if (zmqobs_send (r->s, buf, (size_t) n, 0) != n) {
            fail ("rep send: %s", zmq_strerror (errno));
            break;
        }
        r->sent++;
    }
    return NULL;
}

static void *req_thread (void *arg)
{
    req_t *q = arg;
    uint32_t seed = 0x9e3779b9u * (uint32_t) (q->index + 1);
    char name[32], buf[256], reply[256];
    snprintf (name, sizeof name, "req-%d", q->index);
    while (!stopping ()) {
        pause_point ();
        void *zs = new_socket (ZMQ_REQ);
        zmqobs_socket_t *s = zmqobs_attach (obs, zs, name);
        if (!s) {
            fail ("attach %s: %s", name, strerror (errno));
            zmq_close (zs);
            break;
        }
        if (zmq_connect (zs, q->server->ep) != 0)
            fail ("connect: %s", zmq_strerror (errno));
        uint64_t cycles = 20 + rnd (&seed) % 200, sent = 0, received = 0, bytes = 0;
        for (uint64_t c = 0; c < cycles && !stopping (); c++) {
            size_t len = 1 + rnd (&seed) % sizeof buf;
            memset (buf, 'a' + (int) (c % 26), len);
            if (zmqobs_send (s, buf, len, 0) != (int) len) {
                fail ("%s send: %s", name, zmq_strerror (errno));
                break;
            }
            sent++;
            int n = zmqobs_recv (s, reply, sizeof reply, 0);
            if (n != (int) len || memcmp (buf, reply, len) != 0) {
                fail ("%s recv: %d (%s)", name, n, n < 0 ? zmq_strerror (errno) : "bad reply");
                break;
            }
            received++;
            bytes += len;
        }
        /* the session's own socket counted exactly what it did */
        zmqobs_stats_t st = stats_of (s);
        if (st.msgs_sent != sent || st.msgs_received != received || st.bytes_sent != bytes
            || st.bytes_received != bytes || all_errors (&st) != 0)
            fail ("%s session: counted %llu/%llu sent/received, did %llu/%llu", name,
                  (unsigned long long) st.msgs_sent, (unsigned long long) st.msgs_received,
                  (unsigned long long) sent, (unsigned long long) received);
        /* the main thread prints these while the run goes on */
        __atomic_fetch_add (&q->sent, sent, __ATOMIC_RELAXED);
        __atomic_fetch_add (&q->received, received, __ATOMIC_RELAXED);
        __atomic_fetch_add (&q->sessions, 1, __ATOMIC_RELAXED);
        /* every other session ends with a local disconnect, for which
         * libzmq reports nothing: the gauge must still be 0 at once */
        if (seed & 1) {
            if (zmqobs_disconnect (s, q->server->ep) != 0)
                fail ("%s disconnect: %s", name, zmq_strerror (errno));
            else if (stats_of (s).connections != 0)
                fail ("%s: connections %lld after zmqobs_disconnect", name,
                      (long long) stats_of (s).connections);
            __atomic_fetch_add (&q->disconnects, 1, __ATOMIC_RELAXED);
        }
        zmqobs_detach (&s);
        zmq_close (zs);
        sleep_us (rnd (&seed) % 2000);
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * PUSH/PULL
 * ---------------------------------------------------------------------- */

static struct {
    char ep[256];
    zmqobs_socket_t *s;
    void *zs;
    volatile int ready;
    uint64_t received, bytes;
} puller;

typedef struct {
    int index;
    uint64_t sent, bytes, sessions;
} pusher_t;

static pusher_t pushers[PUSHERS];

static void *pull_thread (void *arg)
{
    (void) arg;
    puller.zs = new_socket (ZMQ_PULL);
    /* bounded queues keep the memory figures about leaks, not backlog */
    int hwm = 1000;
    zmq_setsockopt (puller.zs, ZMQ_RCVHWM, &hwm, sizeof hwm);
    puller.s = zmqobs_attach (obs, puller.zs, "pull");
    if (!puller.s)
        fail ("attach pull: %s", strerror (errno));
    bound_endpoint (puller.zs, puller.ep, sizeof puller.ep);
    __atomic_store_n (&puller.ready, 1, __ATOMIC_RELEASE);
    char buf[512];
    for (;;) {
        int n = zmqobs_recv (puller.s, buf, sizeof buf, ZMQ_DONTWAIT);
        if (n >= 0) {
            __atomic_fetch_add (&puller.received, 1, __ATOMIC_RELAXED);
            puller.bytes += (uint64_t) n;
            continue;
        }
        if (errno != EAGAIN) {
            fail ("pull recv: %s", zmq_strerror (errno));
            break;
        }
        if (__atomic_load_n (&stop_flag, __ATOMIC_RELAXED) == 2)
            break; /* pushers are done and everything they sent is here */
        zmq_pollitem_t item = {.socket = puller.zs, .events = ZMQ_POLLIN};
        zmq_poll (&item, 1, 20);
    }
    return NULL;
}

static void *push_thread (void *arg)
{
    pusher_t *p = arg;
    uint32_t seed = 0x85ebca6bu * (uint32_t) (p->index + 7);
    char name[32], buf[512];
    snprintf (name, sizeof name, "push-%d", p->index);
    memset (buf, 'p', sizeof buf);
    while (!stopping ()) {
        pause_point ();
        void *zs = new_socket (ZMQ_PUSH);
        int hwm = 1000;
        zmq_setsockopt (zs, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmqobs_socket_t *s = zmqobs_attach (obs, zs, name);
        if (!s) {
            fail ("attach %s: %s", name, strerror (errno));
            zmq_close (zs);
            break;
        }
        if (zmq_connect (zs, puller.ep) != 0)
            fail ("connect: %s", zmq_strerror (errno));
        uint64_t count = 50 + rnd (&seed) % 2000, sent = 0, bytes = 0;
        for (uint64_t c = 0; c < count && !stopping (); c++) {
            size_t len = rnd (&seed) % sizeof buf;
            if (zmqobs_send (s, buf, len, 0) != (int) len) {
                fail ("%s send: %s", name, zmq_strerror (errno));
                break;
            }
            sent++;
            bytes += len;
        }
        zmqobs_stats_t st = stats_of (s);
        if (st.msgs_sent != sent || st.bytes_sent != bytes || all_errors (&st) != 0)
            fail ("%s session: counted %llu sent, did %llu", name,
                  (unsigned long long) st.msgs_sent, (unsigned long long) sent);
        __atomic_fetch_add (&p->sent, sent, __ATOMIC_RELAXED);
        __atomic_fetch_add (&p->bytes, bytes, __ATOMIC_RELAXED);
        __atomic_fetch_add (&p->sessions, 1, __ATOMIC_RELAXED);
        zmqobs_detach (&s);
        /* default linger: close delivers what is queued */
        zmq_close (zs);
        sleep_us (rnd (&seed) % 3000);
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * Failing handshakes
 * ---------------------------------------------------------------------- */

static struct {
    int enabled;
    char ep[256];
    char public_key[41], secret_key[41];
    zmqobs_socket_t *s;
    void *zs;
    uint64_t attempts;
} curve;

static struct {
    char ep[256];
    zmqobs_socket_t *s;
    void *zs;
    uint64_t attempts;
} garbage;

static uint64_t failures_of (zmqobs_socket_t *s)
{
    zmqobs_stats_t st = stats_of (s);
    return all_handshake_failures (&st);
}

/* Waits (bounded) until s has counted n handshake failures. */
static void wait_failures (zmqobs_socket_t *s, uint64_t n)
{
    uint64_t deadline = now_ms () + 10000;
    while (failures_of (s) < n && now_ms () < deadline)
        sleep_us (500);
}

/* One CURVE client with the wrong server key at a time: it tries once
 * (no reconnect), the server refuses the HELLO it cannot decrypt. */
static void *curve_thread (void *arg)
{
    (void) arg;
    char wrong_public[41], wrong_secret[41], client_public[41], client_secret[41];
    zmq_curve_keypair (wrong_public, wrong_secret);
    zmq_curve_keypair (client_public, client_secret);
    while (!stopping ()) {
        pause_point ();
        void *zs = new_socket (ZMQ_DEALER);
        int never = -1, zero = 0;
        zmq_setsockopt (zs, ZMQ_RECONNECT_IVL, &never, sizeof never);
        zmq_setsockopt (zs, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt (zs, ZMQ_CURVE_SERVERKEY, wrong_public, 40);
        zmq_setsockopt (zs, ZMQ_CURVE_PUBLICKEY, client_public, 40);
        zmq_setsockopt (zs, ZMQ_CURVE_SECRETKEY, client_secret, 40);
        if (zmq_connect (zs, curve.ep) != 0)
            fail ("curve connect: %s", zmq_strerror (errno));
        curve.attempts++;
        wait_failures (curve.s, curve.attempts);
        zmq_close (zs);
        sleep_us (2000);
    }
    return NULL;
}

/* A raw TCP peer that sends a complete ZMTP 3.0 greeting naming the
 * mechanism "GARBAGE", then waits for the server to hang up. */
static void *garbage_thread (void *arg)
{
    (void) arg;
    unsigned char greeting[64];
    memset (greeting, 0, sizeof greeting);
    greeting[0] = 0xFF;
    greeting[9] = 0x7F;
    greeting[10] = 3; /* version 3.0 */
    memcpy (greeting + 12, "GARBAGE", 7);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_port = htons ((uint16_t) tcp_port_of (garbage.ep));
    sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    while (!stopping ()) {
        pause_point ();
        int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect (fd, (struct sockaddr *) &sa, sizeof sa) != 0) {
            fail ("garbage connect: %s", strerror (errno));
            if (fd >= 0)
                close (fd);
            break;
        }
        garbage.attempts++;
        if (write (fd, greeting, sizeof greeting) != (ssize_t) sizeof greeting)
            fail ("garbage write: %s", strerror (errno));
        /* read until the server closes (its greeting comes first) */
        char buf[256];
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        for (;;) {
            if (poll (&pfd, 1, 10000) <= 0) {
                fail ("garbage: the server never hung up");
                break;
            }
            ssize_t n = read (fd, buf, sizeof buf);
            if (n <= 0)
                break;
        }
        close (fd);
        wait_failures (garbage.s, garbage.attempts);
        sleep_us (3000);
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * Attach/detach churn
 * ---------------------------------------------------------------------- */

static uint64_t churn_cycles;

static void *churn_thread (void *arg)
{
    (void) arg;
    static const int types[] = {ZMQ_PUB, ZMQ_SUB, ZMQ_DEALER, ZMQ_ROUTER, ZMQ_PAIR};
    static char buf[1 << 16];
    uint32_t seed = 12345;
    while (!stopping ()) {
        pause_point ();
        int type = types[rnd (&seed) % (sizeof types / sizeof types[0])];
        void *zs = new_socket (type);
        char name[64];
        snprintf (name, sizeof name, "churn \"%llu\"\n\\", (unsigned long long) churn_cycles % 7);
        zmqobs_socket_t *s = zmqobs_attach (obs, zs, name);
        if (!s) {
            fail ("churn attach: %s", strerror (errno));
            zmq_close (zs);
            break;
        }
        if (rnd (&seed) % 2)
            zmq_bind (zs, "tcp://127.0.0.1:*");
        if (zmqobs_format (obs, (zmqobs_format_t) (churn_cycles % 4), buf, sizeof buf) <= 0)
            fail ("format: %s", strerror (errno));
        zmqobs_detach (&s);
        zmq_close (zs);
        __atomic_fetch_add (&churn_cycles, 1, __ATOMIC_RELAXED);
        sleep_us (500);
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * HTTP scrapes over a raw socket
 * ---------------------------------------------------------------------- */

static uint64_t scrapes, scrape_bytes, scrape_connections;

static int http_connect (void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_port = htons ((uint16_t) http_port);
    sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect (fd, (struct sockaddr *) &sa, sizeof sa) != 0) {
        close (fd);
        return -1;
    }
    scrape_connections++;
    return fd;
}

/* Reads one response (head, then Content-Length bytes) into buf; returns
 * the status, or -1. *body and *body_len describe the body. */
static int read_response (int fd, char *buf, size_t size, const char **body, size_t *body_len)
{
    size_t have = 0;
    long clen = -1;
    size_t head = 0;
    for (;;) {
        if (head && have >= head + (size_t) clen)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll (&pfd, 1, 10000) <= 0 || have == size)
            return -1;
        ssize_t n = read (fd, buf + have, size - have);
        if (n <= 0)
            return -1;
        have += (size_t) n;
        if (!head) {
            char *end = memmem (buf, have, "\r\n\r\n", 4);
            if (!end)
                continue;
            head = (size_t) (end - buf) + 4;
            char *cl = memmem (buf, head, "Content-Length: ", 16);
            if (!cl)
                return -1;
            clen = strtol (cl + 16, NULL, 10);
            if (clen < 0 || head + (size_t) clen > size)
                return -1;
        }
    }
    if (have != head + (size_t) clen)
        return -1; /* nothing may follow: one request at a time */
    *body = buf + head;
    *body_len = (size_t) clen;
    if (have < 12 || memcmp (buf, "HTTP/1.1 ", 9) != 0)
        return -1;
    return atoi (buf + 9);
}

static void *scrape_thread (void *arg)
{
    (void) arg;
    static char buf[1 << 20];
    static const char *const requests[] = {
        "GET /metrics HTTP/1.1\r\nHost: soak\r\n%s\r\n",
        "GET /metrics HTTP/1.1\r\nHost: soak\r\nAccept: application/openmetrics-text; "
        "version=1.0.0\r\n%s\r\n",
        "GET /healthz HTTP/1.1\r\nHost: soak\r\n%s\r\n",
        "GET /readyz HTTP/1.1\r\nHost: soak\r\n%s\r\n",
        "GET /peers HTTP/1.1\r\nHost: soak\r\n%s\r\n",
    };
    uint32_t seed = 777;
    int fd = -1;
    while (!stopping ()) {
        if (pause_requested () && fd >= 0) {
            close (fd); /* no connection of ours open while paused */
            fd = -1;
        }
        pause_point ();
        int which = (int) (rnd (&seed) % 5);
        int keep = rnd (&seed) % 4 != 0;
        if (fd < 0 && (fd = http_connect ()) < 0) {
            fail ("scrape connect: %s", strerror (errno));
            break;
        }
        char req[256];
        int n = snprintf (req, sizeof req, requests[which], keep ? "" : "Connection: close\r\n");
        if (write (fd, req, (size_t) n) != n) {
            fail ("scrape write: %s", strerror (errno));
            break;
        }
        const char *body = NULL;
        size_t blen = 0;
        int status = read_response (fd, buf, sizeof buf, &body, &blen);
        int ok = status == 200 || (which == 3 && status == 503);
        if (ok && which <= 1)
            ok = blen > 0 && body[blen - 1] == '\n'
                 && memmem (body, blen, "zmq_messages_sent_total", 23) != NULL
                 && (which == 0 || (blen >= 6 && memcmp (body + blen - 6, "# EOF\n", 6) == 0));
        if (ok && which == 4) /* rep-0's peers, as JSON */
            ok = blen > 0 && memmem (body, blen, "\"socket\":\"rep-0\"", 15) != NULL;
        if (!ok) {
            fail ("scrape %d: status %d, %zu bytes", which, status, blen);
            break;
        }
        __atomic_fetch_add (&scrapes, 1, __ATOMIC_RELAXED);
        scrape_bytes += blen;
        if (!keep) {
            close (fd);
            fd = -1;
        }
        sleep_us (2000 + rnd (&seed) % 3000);
    }
    if (fd >= 0)
        close (fd);
    return NULL;
}

/* ------------------------------------------------------------------------
 * Resources
 * ---------------------------------------------------------------------- */

static long open_fds (void);

/* Parks the client threads between sessions, waits until libzmq has closed
 * what they left behind (the count holds still for half a second), and
 * returns the count before letting them go on. */
static long quiet_fds (int clients)
{
    __atomic_store_n (&pause_req, 1, __ATOMIC_RELAXED);
    uint64_t deadline = now_ms () + 10000;
    pthread_mutex_lock (&pause_lock);
    while (parked < clients && now_ms () < deadline) {
        pthread_mutex_unlock (&pause_lock);
        sleep_us (5000);
        pthread_mutex_lock (&pause_lock);
    }
    int got = parked;
    pthread_mutex_unlock (&pause_lock);
    if (got < clients)
        fail ("only %d of %d client threads paused within 10 s", got, clients);
    long last = open_fds ();
    int still = 0;
    for (uint64_t until = now_ms () + 10000; still < 25 && now_ms () < until;) {
        sleep_us (20000);
        long f = open_fds ();
        still = f == last ? still + 1 : 0;
        last = f;
    }
    pthread_mutex_lock (&pause_lock);
    __atomic_store_n (&pause_req, 0, __ATOMIC_RELAXED);
    pthread_cond_broadcast (&pause_cond);
    pthread_mutex_unlock (&pause_lock);
    return last;
}

static long open_fds (void)
{
    DIR *d = opendir ("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir (d)))
        if (e->d_name[0] != '.')
            n++;
    closedir (d);
    return n - 1; /* the directory stream's own descriptor */
}

static long rss_kib (void)
{
    FILE *f = fopen ("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets (line, sizeof line, f))
        if (strncmp (line, "VmRSS:", 6) == 0)
            kib = strtol (line + 6, NULL, 10);
    fclose (f);
    return kib;
}

/* Waits (bounded) until cond(arg) holds; returns whether it did. */
static int settle (int (*cond) (void), long limit_ms)
{
    uint64_t deadline = now_ms () + (uint64_t) limit_ms;
    while (!cond ()) {
        if (now_ms () >= deadline)
            return 0;
        sleep_us (1000);
    }
    return 1;
}

static int all_disconnected (void)
{
    for (int i = 0; i < REP_SERVERS; i++)
        if (stats_of (reps[i].s).connections != 0)
            return 0;
    if (stats_of (puller.s).connections != 0 || stats_of (garbage.s).connections != 0)
        return 0;
    if (curve.enabled && stats_of (curve.s).connections != 0)
        return 0;
    return 1;
}

static int garbage_settled (void)
{
    zmqobs_stats_t st = stats_of (garbage.s);
    return event_count (&st, ZMQ_EVENT_DISCONNECTED) >= garbage.attempts;
}

static int pull_complete (void)
{
    uint64_t sent = 0;
    for (int i = 0; i < PUSHERS; i++)
        sent += pushers[i].sent;
    return __atomic_load_n (&puller.received, __ATOMIC_RELAXED) >= sent;
}

int main (int argc, char **argv)
{
    long seconds = argc > 1 ? atol (argv[1]) : 180;
    if (seconds < 10)
        seconds = 10;
    /* warm-up: the first half. Memory grows at first (malloc arenas of
     * the many threads, libzmq's caches) and then stays flat; what keeps
     * growing through the second half is a leak. */
    long warmup = seconds / 2;
    long fds_start = open_fds ();

    ctx = zmq_ctx_new ();
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    zmqobs_label_t label = {"service", "soak"};
    opts.labels = &label;
    opts.label_count = 1;
    opts.latency_sample_every = 4;
    obs = zmqobs_new (ctx, &opts);
    if (!obs || zmqobs_serve (obs, "tcp://127.0.0.1:0") != 0) {
        fprintf (stderr, "soak: observer/serve: %s\n", strerror (errno));
        return 1;
    }
    http_port = zmqobs_serve_port (obs);

    /* servers first; the handshake targets live on this thread */
    pthread_t th[32];
    int nth = 0;
    for (int i = 0; i < REP_SERVERS; i++) {
        reps[i].index = i;
        pthread_create (&th[nth++], NULL, rep_thread, &reps[i]);
    }
    pthread_create (&th[nth++], NULL, pull_thread, NULL);
    for (int i = 0; i < REP_SERVERS; i++)
        while (!__atomic_load_n (&reps[i].ready, __ATOMIC_ACQUIRE))
            sleep_us (1000);
    while (!__atomic_load_n (&puller.ready, __ATOMIC_ACQUIRE))
        sleep_us (1000);

    curve.enabled = zmq_has ("curve");
    if (curve.enabled) {
        zmq_curve_keypair (curve.public_key, curve.secret_key);
        curve.zs = new_socket (ZMQ_ROUTER);
        int one = 1;
        zmq_setsockopt (curve.zs, ZMQ_CURVE_SERVER, &one, sizeof one);
        zmq_setsockopt (curve.zs, ZMQ_CURVE_SECRETKEY, curve.secret_key, 40);
        curve.s = zmqobs_attach (obs, curve.zs, "curve-server");
        bound_endpoint (curve.zs, curve.ep, sizeof curve.ep);
    }
    garbage.zs = new_socket (ZMQ_ROUTER);
    garbage.s = zmqobs_attach (obs, garbage.zs, "garbage-target");
    bound_endpoint (garbage.zs, garbage.ep, sizeof garbage.ep);
    if ((curve.enabled && !curve.s) || !garbage.s)
        fail ("attach handshake targets: %s", strerror (errno));

    for (int i = 0; i < REP_SERVERS * REQ_PER_SERVER; i++) {
        reqs[i].index = i;
        reqs[i].server = &reps[i % REP_SERVERS];
        pthread_create (&th[nth++], NULL, req_thread, &reqs[i]);
    }
    for (int i = 0; i < PUSHERS; i++) {
        pushers[i].index = i;
        pthread_create (&th[nth++], NULL, push_thread, &pushers[i]);
    }
    if (curve.enabled)
        pthread_create (&th[nth++], NULL, curve_thread, NULL);
    pthread_create (&th[nth++], NULL, garbage_thread, NULL);
    pthread_create (&th[nth++], NULL, churn_thread, NULL);
    pthread_create (&th[nth++], NULL, scrape_thread, NULL);

    printf ("soak: %ld s on %d threads, HTTP on 127.0.0.1:%d, CURVE %s, warm-up %ld s\n", seconds,
            nth + 2, http_port, curve.enabled ? "on" : "off (libzmq without it)", warmup);
    printf ("soak:  t(s)  fds  rss(KiB)  req/rep  push  scrapes  churn\n");
    long warm_fds = -1, warm_rss = -1, end_fds = -1, end_rss = -1;
    int clients = nth - REP_SERVERS - 1; /* the threads that pause */

    uint64_t start = now_ms ();
    for (long t = 1; t <= seconds; t++) {
        while (now_ms () < start + (uint64_t) t * 1000)
            sleep_us (20000);
        long fds = open_fds (), rss = rss_kib ();
        uint64_t rr = 0, pushed = 0;
        for (int i = 0; i < REP_SERVERS * REQ_PER_SERVER; i++)
            rr += __atomic_load_n (&reqs[i].received, __ATOMIC_RELAXED);
        for (int i = 0; i < PUSHERS; i++)
            pushed += __atomic_load_n (&pushers[i].sent, __ATOMIC_RELAXED);
        if (t % 10 == 0 || t == warmup || t == seconds)
            printf ("soak: %5ld %4ld %9ld %8llu %5llu %8llu %6llu\n", t, fds, rss,
                    (unsigned long long) rr, (unsigned long long) pushed,
                    (unsigned long long) __atomic_load_n (&scrapes, __ATOMIC_RELAXED),
                    (unsigned long long) __atomic_load_n (&churn_cycles, __ATOMIC_RELAXED));
        fflush (stdout);
        /* Descriptors: counted with the clients paused, at the end of the
         * warm-up and at the end. RSS, over three seconds per window: the
         * highest of the warm-up window against the lowest of the end
         * window, so that queues filling and draining do not count, and
         * growth that lasts does. */
        if (t == warmup)
            warm_fds = quiet_fds (clients);
        if (t == seconds)
            end_fds = quiet_fds (clients);
        if (t > warmup - 3 && t <= warmup) {
            if (rss > warm_rss)
                warm_rss = rss;
        }
        if (t > seconds - 3) {
            if (end_rss < 0 || rss < end_rss)
                end_rss = rss;
        }
    }

    /* stop: clients, churn and scrapes first (threads REP_SERVERS + 1
     * onwards), then, once nothing is in flight, the servers */
    __atomic_store_n (&stop_flag, 1, __ATOMIC_RELAXED);
    for (int i = REP_SERVERS + 1; i < nth; i++)
        pthread_join (th[i], NULL);
    if (!settle (pull_complete, 30000))
        fail ("the PULL side never received everything that was pushed");
    __atomic_store_n (&stop_flag, 2, __ATOMIC_RELAXED);
    for (int i = 0; i <= REP_SERVERS; i++)
        pthread_join (th[i], NULL);

    /* totals */
    uint64_t req_sent = 0, req_received = 0, sessions = 0, disconnects = 0;
    for (int i = 0; i < REP_SERVERS * REQ_PER_SERVER; i++) {
        req_sent += reqs[i].sent;
        req_received += reqs[i].received;
        sessions += reqs[i].sessions;
        disconnects += reqs[i].disconnects;
    }
    for (int i = 0; i < REP_SERVERS; i++) {
        uint64_t want_in = 0, want_out = 0;
        for (int k = i; k < REP_SERVERS * REQ_PER_SERVER; k += REP_SERVERS) {
            want_in += reqs[k].sent;
            want_out += reqs[k].received;
        }
        zmqobs_stats_t st = stats_of (reps[i].s);
        printf ("soak: rep-%d: received %llu (clients sent %llu), sent %llu (clients received "
                "%llu), handshakes %llu\n",
                i, (unsigned long long) st.msgs_received, (unsigned long long) want_in,
                (unsigned long long) st.msgs_sent, (unsigned long long) want_out,
                (unsigned long long) event_count (&st, ZMQ_EVENT_HANDSHAKE_SUCCEEDED));
        if (st.msgs_received != want_in || st.msgs_received != reps[i].received
            || st.msgs_sent != want_out || st.msgs_sent != reps[i].sent || all_errors (&st))
            fail ("rep-%d counts", i);
    }
    {
        zmqobs_peer_stats_t p[4], other;
        zmqobs_stats_t st = stats_of (reps[0].s);
        int n = zmqobs_socket_peers (reps[0].s, p, 4, &other);
        printf ("soak: rep-0 peers: %d tracked, %s received %llu sent %llu, other %llu/%llu\n", n,
                n > 0 ? p[0].peer : "-", n > 0 ? (unsigned long long) p[0].msgs_received : 0ull,
                n > 0 ? (unsigned long long) p[0].msgs_sent : 0ull,
                (unsigned long long) other.msgs_received, (unsigned long long) other.msgs_sent);
        if (n != 1 || strcmp (p[0].peer, "127.0.0.1") != 0 || p[0].msgs_received != st.msgs_received
            || p[0].msgs_sent != st.msgs_sent || p[0].bytes_received != st.bytes_received
            || other.msgs_received + other.msgs_sent != 0)
            fail ("rep-0 per-peer counts");
    }
    uint64_t pushed = 0, pushed_bytes = 0, push_sessions = 0;
    for (int i = 0; i < PUSHERS; i++) {
        pushed += pushers[i].sent;
        pushed_bytes += pushers[i].bytes;
        push_sessions += pushers[i].sessions;
    }
    zmqobs_stats_t pst = stats_of (puller.s);
    printf ("soak: pull: received %llu messages / %llu bytes (pushers sent %llu / %llu in %llu "
            "sessions)\n",
            (unsigned long long) pst.msgs_received, (unsigned long long) pst.bytes_received,
            (unsigned long long) pushed, (unsigned long long) pushed_bytes,
            (unsigned long long) push_sessions);
    if (pst.msgs_received != pushed || pst.bytes_received != pushed_bytes
        || pst.msgs_received != puller.received || all_errors (&pst))
        fail ("pull counts");

    if (!settle (garbage_settled, 10000))
        fail ("garbage target: not every peer's DISCONNECTED arrived");
    if (!settle (all_disconnected, 30000))
        fail ("connection gauges did not return to 0");
    zmqobs_stats_t gst = stats_of (garbage.s);
    uint64_t mismatch =
        gst.handshake_failures[zmqobs__handshake_slot (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                                                       ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)];
    printf ("soak: garbage-target: %llu raw peers, accepted %llu, mechanism mismatch %llu, "
            "disconnected %llu, connections %lld\n",
            (unsigned long long) garbage.attempts,
            (unsigned long long) event_count (&gst, ZMQ_EVENT_ACCEPTED),
            (unsigned long long) mismatch,
            (unsigned long long) event_count (&gst, ZMQ_EVENT_DISCONNECTED),
            (long long) gst.connections);
    if (garbage.attempts == 0 || event_count (&gst, ZMQ_EVENT_ACCEPTED) != garbage.attempts
        || mismatch != garbage.attempts || all_handshake_failures (&gst) != garbage.attempts
        || event_count (&gst, ZMQ_EVENT_DISCONNECTED) != garbage.attempts)
        fail ("garbage-target counts");
    if (curve.enabled) {
        zmqobs_stats_t cst = stats_of (curve.s);
        uint64_t crypto =
            cst.handshake_failures[zmqobs__handshake_slot (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                                                           ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)];
        printf ("soak: curve-server: %llu wrong-key clients, accepted %llu, cryptographic "
                "failures %llu, all failures %llu, connections %lld\n",
                (unsigned long long) curve.attempts,
                (unsigned long long) event_count (&cst, ZMQ_EVENT_ACCEPTED),
                (unsigned long long) crypto, (unsigned long long) all_handshake_failures (&cst),
                (long long) cst.connections);
        if (curve.attempts == 0 || event_count (&cst, ZMQ_EVENT_ACCEPTED) != curve.attempts
            || all_handshake_failures (&cst) != curve.attempts || crypto != curve.attempts
            || event_count (&cst, ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0)
            fail ("curve-server counts");
    }
    for (int i = 0; i < REP_SERVERS; i++) {
        zmqobs_stats_t st = stats_of (reps[i].s);
        if (st.connections != 0)
            fail ("rep-%d: connections %lld at the end", i, (long long) st.connections);
    }
    printf ("soak: req/rep: %llu requests, %llu replies in %llu client sessions, %llu ended "
            "by zmqobs_disconnect\n",
            (unsigned long long) req_sent, (unsigned long long) req_received,
            (unsigned long long) sessions, (unsigned long long) disconnects);
    if (sessions > 10 && (disconnects == 0 || disconnects == sessions))
        fail ("req/rep: %llu of %llu sessions ended by zmqobs_disconnect",
              (unsigned long long) disconnects, (unsigned long long) sessions);
    printf ("soak: churn: %llu attach/detach cycles; HTTP: %llu scrapes (%llu bytes) on %llu "
            "connections, 0 failed\n",
            (unsigned long long) churn_cycles, (unsigned long long) scrapes,
            (unsigned long long) scrape_bytes, (unsigned long long) scrape_connections);
    if (req_sent == 0 || pushed == 0 || scrapes == 0 || churn_cycles == 0)
        fail ("some activity never ran");
    if (zmqobs_socket_count (obs) != REP_SERVERS + 2 + curve.enabled)
        fail ("%d sockets still attached", zmqobs_socket_count (obs));

    /* resources */
    long rss_tol = (long) (RSS_TOLERANCE_BYTES / 1024);
    if (warm_rss * RSS_TOLERANCE_PCT / 100 > rss_tol)
        rss_tol = warm_rss * RSS_TOLERANCE_PCT / 100;
    printf ("soak: fds after warm-up %ld, at the end %ld (clients paused, count settled; "
            "tolerance +%d); RSS after warm-up %ld KiB (highest of 3), at the end %ld KiB (lowest "
            "of 3), %+ld KiB, tolerance +%ld KiB\n",
            warm_fds, end_fds, FD_TOLERANCE, warm_rss, end_rss, end_rss - warm_rss, rss_tol);
    if (end_fds > warm_fds + FD_TOLERANCE)
        fail ("open fds grew");
    if (end_rss > warm_rss + rss_tol)
        fail ("RSS grew");

    /* teardown: the descriptor count returns to where it started */
    for (int i = 0; i < REP_SERVERS; i++) {
        zmqobs_detach (&reps[i].s);
        zmq_close (reps[i].zs);
    }
    zmqobs_detach (&puller.s);
    zmq_close (puller.zs);
    zmqobs_detach (&garbage.s);
    zmq_close (garbage.zs);
    if (curve.enabled) {
        zmqobs_detach (&curve.s);
        zmq_close (curve.zs);
    }
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
    long fds_end = open_fds ();
    printf ("soak: fds before the context %ld, after teardown %ld\n", fds_start, fds_end);
    if (fds_end != fds_start)
        fail ("descriptors leaked: %ld before, %ld after", fds_start, fds_end);

    printf ("soak: %s (%u failed checks)\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
