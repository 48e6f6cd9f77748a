/*
 * test_monitor.c - the monitor engine: events into metrics (synthetic and
 * real, tcp and ipc), CURVE handshake failures, reconnects, connection
 * storms, attach/detach cycles, every shutdown order, host-driven mode,
 * malformed monitor messages, the JSON log and readiness.
 *
 * Waiting: tests wait for a condition (events drained, peers connected),
 * never for a time; the Check timeouts and the watchdog turn a hang into
 * a failure.
 *
 * SPDX-License-Identifier: MIT
 */
#include "internal.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <poll.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <malloc.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif
#include <pthread.h>
#include <time.h>

#define EV(bit_of) zmqobs__event_bit (bit_of)

/* Under TSan: Debian's libzmq is not instrumented, so the hand-over of
 * message memory through its lock-free pipes (malloc in the I/O thread,
 * read and free in ours) looks like a race. Only libzmq's side is
 * silenced; the library's own code stays checked. */
__attribute__ ((visibility ("default"))) const char *__tsan_default_suppressions (void);
const char *__tsan_default_suppressions (void)
{
    return "called_from_lib:libzmq.so\nrace:libzmq.so\n";
}

#define WAIT_FOR(cond, limit_ms) TESTUTIL_PUMP_UNTIL (NULL, 0, cond, limit_ms)
#define PUMP_UNTIL TESTUTIL_PUMP_UNTIL

static zmqobs_stats_t stats_of (zmqobs_socket_t *s)
{
    zmqobs_stats_t st;
    ck_assert_int_eq (zmqobs_socket_stats (s, &st), 0);
    return st;
}

static uint64_t events_of (zmqobs_socket_t *s, uint32_t event)
{
    return LOAD (&s->mon.events[zmqobs__event_bit (event)]);
}

static void last_endpoint (void *sock, char *buf, size_t size)
{
    ck_assert_int_eq (zmq_getsockopt (sock, ZMQ_LAST_ENDPOINT, buf, &size), 0);
}

static void *socket_with (void *ctx, int type)
{
    void *s = zmq_socket (ctx, type);
    ck_assert_ptr_nonnull (s);
    int zero = 0;
    ck_assert_int_eq (zmq_setsockopt (s, ZMQ_LINGER, &zero, sizeof zero), 0);
    return s;
}

/* An endpoint nobody listens on. The port comes from below the kernel's
 * ephemeral range: a retried connect to a port inside it can be given
 * that same port as its source and connect to itself. */
static void closed_endpoint (void *ctx, char *ep, size_t size)
{
    unsigned low = 32768, high = 60999;
    FILE *f = fopen ("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf (f, "%u %u", &low, &high) != 2)
            low = 32768;
        fclose (f);
    }
    (void) ctx;
    /* outside the ephemeral range: below it, else above it; a host whose
     * range covers everything leaves only ports inside it (a connect could
     * then, rarely, meet itself) */
    unsigned first = 1024, span = low > 1024 ? low - 1024 : 0;
    if (span < 1024 && high < 64511) {
        first = high + 1;
        span = 65536 - first;
    } else if (span < 1024) {
        first = 1024;
        span = 65536 - 1024;
    }
    /* a plain socket, closed synchronously: a libzmq listener would
     * linger until its I/O thread closes it and accept the connect */
    unsigned start = (unsigned) getpid () % span;
    for (unsigned i = 0; i < span; i++) {
        unsigned port = first + (start + i) % span;
        int fd = socket (AF_INET, SOCK_STREAM, 0);
        ck_assert_int_ge (fd, 0);
        struct sockaddr_in addr = {.sin_family = AF_INET,
                                   .sin_port = htons ((uint16_t) port),
                                   .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
        int rc = bind (fd, (struct sockaddr *) &addr, sizeof addr);
        close (fd);
        if (rc == 0) {
            snprintf (ep, size, "tcp://127.0.0.1:%u", port);
            return;
        }
    }
    ck_abort_msg ("no free port from %u on", first);
}

static zmqobs_t *observer (void *ctx, int host_driven)
{
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.host_driven = host_driven;
    zmqobs_t *obs = zmqobs_new (ctx, &o);
    ck_assert_ptr_nonnull (obs);
    return obs;
}

/* ------------------------------------------------------------------------
 * Synthetic sequences through zmqobs__apply_event
 * ---------------------------------------------------------------------- */

/* A detached socket block, enough for apply_event. */
typedef struct {
    zmqobs_t *obs;
    void *ctx;
    zmqobs_socket_t *s;
} fake_t;

static fake_t fake_new (int type)
{
    fake_t f;
    f.ctx = zmq_ctx_new ();
    f.obs = observer (f.ctx, 1);
    f.s = calloc (1, sizeof (zmqobs_socket_t));
    ck_assert_ptr_nonnull (f.s);
    f.s->obs = f.obs;
    f.s->type = type;
    return f;
}

static void fake_free (fake_t *f)
{
    free (f->s);
    zmqobs_destroy (&f->obs);
    zmq_ctx_term (f->ctx);
}

static void feed (zmqobs_socket_t *s, uint32_t event, uint32_t value, const char *ep)
{
    zmqobs_event_t ev;
    uint16_t code = (uint16_t) event;
    unsigned char frame[6];
    memcpy (frame, &code, 2);
    memcpy (frame + 2, &value, 4);
    ck_assert_int_eq (zmqobs_event_decode (frame, 6, ep, strlen (ep), &ev), 0);
    zmqobs__apply_event (s, &ev);
}

START_TEST (test_apply_gauge)
{
    fake_t f = fake_new (ZMQ_ROUTER);
    zmqobs_socket_t *s = f.s;
    const char *ep = "tcp://127.0.0.1:5555";
    feed (s, ZMQ_EVENT_LISTENING, 10, ep);
    ck_assert_uint_eq (s->mon.listening, 1);
    ck_assert_int_eq (s->mon.bound, 1);
    /* two good peers, one failed handshake */
    feed (s, ZMQ_EVENT_ACCEPTED, 11, ep);
    feed (s, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0, ep);
    feed (s, ZMQ_EVENT_ACCEPTED, 12, ep);
    feed (s, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0, ep);
    ck_assert_int_eq (s->mon.connections, 2);
    feed (s, ZMQ_EVENT_ACCEPTED, 13, ep);
    feed (s, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC, ep);
    ck_assert_int_eq (s->mon.connections, 2);
    ck_assert_uint_eq (s->mon.pending_failed, 1);
    /* the failed engine's DISCONNECTED settles the failure only */
    feed (s, ZMQ_EVENT_DISCONNECTED, 13, ep);
    ck_assert_int_eq (s->mon.connections, 2);
    ck_assert_uint_eq (s->mon.pending_failed, 0);
    feed (s, ZMQ_EVENT_DISCONNECTED, 11, ep);
    feed (s, ZMQ_EVENT_DISCONNECTED, 12, ep);
    ck_assert_int_eq (s->mon.connections, 0);
    /* a stray DISCONNECTED never takes the gauge below zero */
    feed (s, ZMQ_EVENT_DISCONNECTED, 12, ep);
    ck_assert_int_eq (s->mon.connections, 0);
    unsigned slot = zmqobs__handshake_slot (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                                            ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC);
    ck_assert_str_eq (zmqobs_handshake_slot_name (slot), "ZMTP_CRYPTOGRAPHIC");
    ck_assert_uint_eq (s->mon.handshake_failures[slot], 1);
    ck_assert_uint_eq (s->mon.last_error_event, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL);
    ck_assert_uint_eq (s->mon.last_error_value, ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC);
    ck_assert_str_eq (s->mon.last_error_endpoint, ep);
    ck_assert_uint_eq (s->mon.events[EV (ZMQ_EVENT_ACCEPTED)], 3);
    ck_assert_uint_eq (s->mon.events[EV (ZMQ_EVENT_DISCONNECTED)], 4);
    ck_assert_uint_eq (s->mon.events[EV (ZMQ_EVENT_HANDSHAKE_SUCCEEDED)], 2);
    fake_free (&f);
}
END_TEST

START_TEST (test_apply_listeners_and_errors)
{
    fake_t f = fake_new (ZMQ_DEALER);
    zmqobs_socket_t *s = f.s;
    /* a connect attempt's CLOSED must not lower listening */
    feed (s, ZMQ_EVENT_LISTENING, 20, "tcp://a");
    feed (s, ZMQ_EVENT_LISTENING, 21, "ipc://b");
    feed (s, ZMQ_EVENT_CONNECT_DELAYED, EINPROGRESS, "tcp://c");
    feed (s, ZMQ_EVENT_CLOSED, 22, "tcp://c");
    feed (s, ZMQ_EVENT_CONNECT_RETRIED, 100, "tcp://c");
    ck_assert_uint_eq (s->mon.listening, 2);
    ck_assert_uint_eq (s->mon.reconnects, 1);
    ck_assert_int_eq (s->mon.connecting, 1);
    /* CONNECT_DELAYED is not an error */
    ck_assert_uint_eq (s->mon.last_error_event, 0);
    feed (s, ZMQ_EVENT_CLOSED, 20, "tcp://a");
    ck_assert_uint_eq (s->mon.listening, 1);
    feed (s, ZMQ_EVENT_CLOSED, 20, "tcp://a"); /* fd no longer a listener */
    ck_assert_uint_eq (s->mon.listening, 1);
    feed (s, ZMQ_EVENT_CLOSED, 21, "ipc://b");
    ck_assert_uint_eq (s->mon.listening, 0);
    feed (s, ZMQ_EVENT_CLOSED, 21, "ipc://b");
    ck_assert_uint_eq (s->mon.listening, 0);
    feed (s, ZMQ_EVENT_BIND_FAILED, EADDRINUSE, "tcp://d");
    ck_assert_uint_eq (s->mon.last_error_event, ZMQ_EVENT_BIND_FAILED);
    ck_assert_uint_eq (s->mon.last_error_value, EADDRINUSE);
    ck_assert_str_eq (s->mon.last_error_endpoint, "tcp://d");
    feed (s, ZMQ_EVENT_ACCEPT_FAILED, EMFILE, "tcp://e");
    ck_assert_uint_eq (s->mon.last_error_event, ZMQ_EVENT_ACCEPT_FAILED);
    feed (s, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400, "tcp://f");
    feed (s, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, EPIPE, "tcp://f");
    unsigned auth = zmqobs__handshake_slot (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400);
    unsigned nod = zmqobs__handshake_slot (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, EPIPE);
    ck_assert_str_eq (zmqobs_handshake_slot_name (auth), "AUTH");
    ck_assert_str_eq (zmqobs_handshake_slot_name (nod), "NO_DETAIL");
    ck_assert_uint_eq (s->mon.handshake_failures[auth], 1);
    ck_assert_uint_eq (s->mon.handshake_failures[nod], 1);
    ck_assert_uint_eq (s->mon.pending_failed, 2);
    /* unknown single-bit and multi-bit codes: counted by bit or ignored */
    feed (s, 0x8000, 0, "");
    ck_assert_uint_eq (s->mon.events[15], 1);
    feed (s, 0x0003, 0, "");
    fake_free (&f);
}
END_TEST

START_TEST (test_apply_stream)
{
    /* libzmq 4.3: a raw STREAM peer has no handshake event, and its
     * departure comes as HANDSHAKE_FAILED_NO_DETAIL + DISCONNECTED */
    fake_t f = fake_new (ZMQ_STREAM);
    zmqobs_socket_t *s = f.s;
    feed (s, ZMQ_EVENT_ACCEPTED, 30, "tcp://x");
    feed (s, ZMQ_EVENT_CONNECTED, 31, "tcp://y");
    ck_assert_int_eq (s->mon.connections, 2);
    feed (s, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, EPIPE, "tcp://x");
    feed (s, ZMQ_EVENT_DISCONNECTED, 30, "tcp://x");
    feed (s, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, EPIPE, "tcp://y");
    feed (s, ZMQ_EVENT_DISCONNECTED, 31, "tcp://y");
    ck_assert_int_eq (s->mon.connections, 0);
    ck_assert_uint_eq (s->mon.pending_failed, 0);
    fake_free (&f);
}
END_TEST

/* ------------------------------------------------------------------------
 * Event callback collecting everything (threaded mode: called on the
 * observer's thread, so it locks)
 * ---------------------------------------------------------------------- */

#define LOG_MAX 4096
typedef struct {
    pthread_mutex_t lock;
    int n;
    char socket[LOG_MAX][32];
    uint32_t event[LOG_MAX];
    char endpoint[LOG_MAX][64];
    char text[LOG_MAX][32];
} log_t;

static log_t *log_new (void)
{
    log_t *l = calloc (1, sizeof *l);
    ck_assert_ptr_nonnull (l);
    pthread_mutex_init (&l->lock, NULL);
    return l;
}

static void log_fn (const zmqobs_event_info_t *info, void *arg)
{
    log_t *l = arg;
    pthread_mutex_lock (&l->lock);
    if (l->n < LOG_MAX) {
        snprintf (l->socket[l->n], 32, "%.31s", info->socket_name);
        l->event[l->n] = info->event->event;
        snprintf (l->endpoint[l->n], 64, "%.63s", info->event->endpoint);
        snprintf (l->text[l->n], 32, "%.31s", info->value_text);
        l->n++;
    }
    pthread_mutex_unlock (&l->lock);
}

static int log_count (log_t *l, const char *socket, uint32_t event)
{
    int c = 0;
    pthread_mutex_lock (&l->lock);
    for (int i = 0; i < l->n; i++)
        if (l->event[i] == event && strcmp (l->socket[i], socket) == 0)
            c++;
    pthread_mutex_unlock (&l->lock);
    return c;
}

/* ------------------------------------------------------------------------
 * Real sequences: bind, connect, disconnect, reconnect
 * ---------------------------------------------------------------------- */

static void sequence_on (const char *bind_ep)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    log_t *log = log_new ();
    ck_assert_int_eq (zmqobs_on_event (obs, log_fn, log), 0);

    void *srv = socket_with (ctx, ZMQ_ROUTER);
    zmqobs_socket_t *ss = zmqobs_attach (obs, srv, "server");
    ck_assert_ptr_nonnull (ss);
    ck_assert_int_eq (zmq_bind (srv, bind_ep), 0);
    char ep[256];
    last_endpoint (srv, ep, sizeof ep);
    WAIT_FOR (stats_of (ss).listening == 1, 5000);

    void *cli = socket_with (ctx, ZMQ_DEALER);
    int ivl = 10;
    ck_assert_int_eq (zmq_setsockopt (cli, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl), 0);
    zmqobs_socket_t *cs = zmqobs_attach (obs, cli, "client");
    ck_assert_ptr_nonnull (cs);
    ck_assert_int_eq (zmq_connect (cli, ep), 0);
    WAIT_FOR (stats_of (ss).connections == 1 && stats_of (cs).connections == 1, 5000);
    ck_assert_uint_eq (events_of (ss, ZMQ_EVENT_ACCEPTED), 1);
    ck_assert_uint_eq (events_of (ss, ZMQ_EVENT_HANDSHAKE_SUCCEEDED), 1);
    ck_assert_uint_eq (events_of (cs, ZMQ_EVENT_CONNECTED), 1);
    ck_assert_uint_eq (events_of (cs, ZMQ_EVENT_HANDSHAKE_SUCCEEDED), 1);
    ck_assert_int_eq (log_count (log, "server", ZMQ_EVENT_LISTENING), 1);
    ck_assert_int_eq (log_count (log, "client", ZMQ_EVENT_CONNECTED), 1);

    /* the server goes away: the client sees DISCONNECTED, then retries */
    zmqobs_detach (&ss);
    ck_assert_ptr_null (ss);
    ck_assert_int_eq (zmq_close (srv), 0);
    WAIT_FOR (events_of (cs, ZMQ_EVENT_DISCONNECTED) == 1, 5000);
    ck_assert_int_eq (stats_of (cs).connections, 0);
    WAIT_FOR (stats_of (cs).reconnects >= 1, 5000);

    /* it comes back on the same endpoint: the client reconnects */
    srv = socket_with (ctx, ZMQ_ROUTER);
    ss = zmqobs_attach (obs, srv, "server");
    ck_assert_ptr_nonnull (ss);
    ck_assert_int_eq (zmq_bind (srv, ep), 0);
    WAIT_FOR (stats_of (ss).connections == 1 && stats_of (cs).connections == 1, 5000);
    ck_assert_uint_eq (events_of (cs, ZMQ_EVENT_HANDSHAKE_SUCCEEDED), 2);
    ck_assert_uint_eq (stats_of (cs).reconnects, events_of (cs, ZMQ_EVENT_CONNECT_RETRIED));

    /* the client goes away: the server's gauge returns to 0 */
    zmqobs_detach (&cs);
    ck_assert_int_eq (zmq_close (cli), 0);
    WAIT_FOR (events_of (ss, ZMQ_EVENT_DISCONNECTED) == 1, 5000);
    ck_assert_int_eq (stats_of (ss).connections, 0);
    /* unbinding closes the listener */
    ck_assert_int_eq (zmq_unbind (srv, ep), 0);
    WAIT_FOR (stats_of (ss).listening == 0, 5000);
    ck_assert_uint_eq (events_of (ss, ZMQ_EVENT_CLOSED), 1);

    zmqobs_detach (&ss);
    zmq_close (srv);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
    pthread_mutex_destroy (&log->lock);
    free (log);
}

START_TEST (test_sequence_tcp)
{
    sequence_on ("tcp://127.0.0.1:*");
}
END_TEST

START_TEST (test_sequence_ipc)
{
    char dir[256], ep[300];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    snprintf (ep, sizeof ep, "ipc://%s/sock", dir);
    sequence_on (ep);
    char path[300];
    snprintf (path, sizeof path, "%s/sock", dir);
    unlink (path);
    rmdir (dir);
}
END_TEST

/* ------------------------------------------------------------------------
 * zmqobs_disconnect and zmqobs_unbind: libzmq drops the peers of an
 * endpoint the host closes without a monitor event; the wrappers take
 * them off the gauge before they return.
 * ---------------------------------------------------------------------- */

static void process_commands (void *sock)
{
    int events;
    size_t size = sizeof events;
    ck_assert_int_eq (zmq_getsockopt (sock, ZMQ_EVENTS, &events, &size), 0);
}

static void local_close_on (int hd)
{
    testutil_watchdog (60);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, hd);
    void *srv = socket_with (ctx, ZMQ_ROUTER), *other = socket_with (ctx, ZMQ_ROUTER);
    zmqobs_socket_t *ss = zmqobs_attach (obs, srv, "server");
    ck_assert_ptr_nonnull (ss);
    ck_assert_int_eq (zmq_bind (srv, "tcp://127.0.0.1:*"), 0);
    ck_assert_int_eq (zmq_bind (other, "tcp://127.0.0.1:*"), 0);
    char ep[256], ep2[256];
    last_endpoint (srv, ep, sizeof ep);
    last_endpoint (other, ep2, sizeof ep2);

    /* three clients of the server; "multi" also connects to the other */
    void *cli[3];
    zmqobs_socket_t *cs[3];
    int ivl = 10;
    for (int i = 0; i < 3; i++) {
        cli[i] = socket_with (ctx, ZMQ_DEALER);
        ck_assert_int_eq (zmq_setsockopt (cli[i], ZMQ_RECONNECT_IVL, &ivl, sizeof ivl), 0);
        char name[32];
        snprintf (name, sizeof name, "client-%d", i);
        cs[i] = zmqobs_attach (obs, cli[i], name);
        ck_assert_ptr_nonnull (cs[i]);
        ck_assert_int_eq (zmq_connect (cli[i], ep), 0);
    }
    zmqobs_socket_t *multi = cs[0];
    ck_assert_int_eq (zmq_connect (cli[0], ep2), 0);
    PUMP_UNTIL (obs, hd,
                stats_of (ss).connections == 3 && stats_of (multi).connections == 2
                    && stats_of (cs[1]).connections == 1 && stats_of (cs[2]).connections == 1,
                10000);

    /* bad arguments, and an endpoint never connected: libzmq's answer,
     * the gauge untouched */
    errno = 0;
    ck_assert_int_eq (zmqobs_disconnect (NULL, ep), -1);
    ck_assert_int_eq (errno, ENOTSOCK);
    errno = 0;
    ck_assert_int_eq (zmqobs_disconnect (multi, NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_unbind (NULL, ep), -1);
    ck_assert_int_eq (errno, ENOTSOCK);
    errno = 0;
    ck_assert_int_eq (zmqobs_disconnect (multi, "tcp://127.0.0.1:1"), -1);
    ck_assert_int_eq (errno, ENOENT);
    ck_assert_int_eq (stats_of (multi).connections, 2);

    /* the client drops one of its two servers: exact at once */
    ck_assert_int_eq (zmqobs_disconnect (multi, ep2), 0);
    ck_assert_int_eq (stats_of (multi).connections, 1);
    ck_assert_uint_eq (events_of (multi, ZMQ_EVENT_DISCONNECTED), 0);

    /* the server unbinds: its three peers are gone at once, its listener
     * closes, and each client sees its DISCONNECTED */
    ck_assert_int_eq (zmqobs_unbind (ss, ep), 0);
    ck_assert_int_eq (stats_of (ss).connections, 0);
    PUMP_UNTIL (obs, hd, stats_of (ss).listening == 0, 10000);
    /* (libzmq closes those connections once the server socket processes
     * its commands, as any use of it does) */
    for (int i = 0; i < 3; i++)
        PUMP_UNTIL (obs, hd, (process_commands (srv), stats_of (cs[i]).connections == 0), 10000);
    ck_assert_uint_eq (events_of (ss, ZMQ_EVENT_DISCONNECTED), 0);

    /* bound again on the same endpoint: the clients come back, and the
     * endpoint counts again */
    ck_assert_int_eq (zmq_bind (srv, ep), 0);
    PUMP_UNTIL (obs, hd, stats_of (ss).connections == 3, 10000);
    for (int i = 0; i < 3; i++)
        PUMP_UNTIL (obs, hd, stats_of (cs[i]).connections == 1, 10000);

    /* and the clients leave the usual way: back to exactly 0 */
    for (int i = 0; i < 3; i++) {
        zmqobs_detach (&cs[i]);
        ck_assert_int_eq (zmq_close (cli[i]), 0);
    }
    PUMP_UNTIL (obs, hd, events_of (ss, ZMQ_EVENT_DISCONNECTED) == 3, 10000);
    ck_assert_int_eq (stats_of (ss).connections, 0);
    zmqobs_detach (&ss);
    ck_assert_int_eq (zmq_close (srv), 0);
    ck_assert_int_eq (zmq_close (other), 0);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}

START_TEST (test_local_close)
{
    local_close_on (0);
}
END_TEST

START_TEST (test_local_close_host_driven)
{
    local_close_on (1);
}
END_TEST

/* Per endpoint: a DISCONNECTED settles its own endpoint's failed
 * handshake or live peer, never another endpoint's. */
START_TEST (test_apply_per_endpoint)
{
    fake_t f = fake_new (ZMQ_DEALER);
    zmqobs_socket_t *s = f.s;
    const char *a = "tcp://127.0.0.1:5001", *b = "tcp://127.0.0.1:5002";
    feed (s, ZMQ_EVENT_CONNECTED, 11, a);
    feed (s, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, 0, a);
    feed (s, ZMQ_EVENT_CONNECTED, 12, b);
    feed (s, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0, b);
    ck_assert_int_eq (s->mon.connections, 1);
    ck_assert_uint_eq (s->mon.pending_failed, 1);
    /* b's peer leaves first: the gauge drops although a failure is due */
    feed (s, ZMQ_EVENT_DISCONNECTED, 12, b);
    ck_assert_int_eq (s->mon.connections, 0);
    ck_assert_uint_eq (s->mon.pending_failed, 1);
    /* a's failed engine settles its failure only */
    feed (s, ZMQ_EVENT_CONNECTED, 13, b);
    feed (s, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0, b);
    feed (s, ZMQ_EVENT_DISCONNECTED, 11, a);
    ck_assert_int_eq (s->mon.connections, 1);
    ck_assert_uint_eq (s->mon.pending_failed, 0);
    feed (s, ZMQ_EVENT_DISCONNECTED, 13, b);
    ck_assert_int_eq (s->mon.connections, 0);
    fake_free (&f);
}
END_TEST

/* Endpoints beyond the table are counted in aggregate, and still return
 * to exactly 0. */
START_TEST (test_apply_many_endpoints)
{
    fake_t f = fake_new (ZMQ_DEALER);
    zmqobs_socket_t *s = f.s;
    const int n = ZMQOBS__PEER_SLOTS + 40;
    char ep[64];
    for (int i = 0; i < n; i++) {
        snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", 6000 + i);
        feed (s, ZMQ_EVENT_CONNECTED, 10, ep);
        feed (s, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0, ep);
    }
    ck_assert_int_eq (s->mon.connections, n);
    ck_assert_uint_eq (s->mon.untracked_live, 40);
    for (int i = n - 1; i >= 0; i--) {
        snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", 6000 + i);
        feed (s, ZMQ_EVENT_DISCONNECTED, 10, ep);
    }
    ck_assert_int_eq (s->mon.connections, 0);
    ck_assert_uint_eq (s->mon.untracked_live, 0);
    fake_free (&f);
}
END_TEST

/* A closed endpoint's session lingers to deliver a queued message: it
 * connects and completes its handshake after zmqobs_disconnect, then
 * libzmq drops it silently. None of that may count. zmqobs_connect opens
 * the endpoint again. */
static void in_flight_on (int hd)
{
    testutil_watchdog (60);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, hd);
    char ep[64];
    closed_endpoint (ctx, ep, sizeof ep);
    void *cli = zmq_socket (ctx, ZMQ_DEALER);
    ck_assert_ptr_nonnull (cli);
    int forever = -1, ivl = 10;
    ck_assert_int_eq (zmq_setsockopt (cli, ZMQ_LINGER, &forever, sizeof forever), 0);
    ck_assert_int_eq (zmq_setsockopt (cli, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl), 0);
    zmqobs_socket_t *cs = zmqobs_attach (obs, cli, "client");
    ck_assert_ptr_nonnull (cs);
    ck_assert_int_eq (zmq_connect (cli, ep), 0);
    ck_assert_int_eq (zmq_send (cli, "queued", 6, 0), 6);
    ck_assert_int_eq (zmqobs_disconnect (cs, ep), 0);
    ck_assert_int_eq (stats_of (cs).connections, 0);

    /* the server appears: the lingering session connects and delivers */
    void *srv = socket_with (ctx, ZMQ_ROUTER);
    zmqobs_socket_t *ss = zmqobs_attach (obs, srv, "server");
    ck_assert_ptr_nonnull (ss);
    ck_assert_int_eq (zmq_bind (srv, ep), 0);
    char id[64], buf[16];
    zmq_pollitem_t item = {.socket = srv, .events = ZMQ_POLLIN};
    PUMP_UNTIL (obs, hd, zmq_poll (&item, 1, 0) == 1, 10000);
    ck_assert_int_gt (zmq_recv (srv, id, sizeof id, 0), 0);
    ck_assert_int_eq (zmq_recv (srv, buf, sizeof buf, 0), 6);
    ck_assert_int_eq (memcmp (buf, "queued", 6), 0);
    /* the message is out: the session goes once the client socket
     * processes its commands, and the server sees it leave */
    PUMP_UNTIL (obs, hd, (process_commands (cli), events_of (ss, ZMQ_EVENT_DISCONNECTED) == 1),
                10000);
    ck_assert_uint_eq (events_of (cs, ZMQ_EVENT_HANDSHAKE_SUCCEEDED), 1);
    ck_assert_int_eq (stats_of (cs).connections, 0);
    ck_assert_int_eq (stats_of (ss).connections, 0);

    /* opened again: counted again */
    ck_assert_int_eq (zmqobs_connect (cs, ep), 0);
    PUMP_UNTIL (obs, hd, stats_of (cs).connections == 1 && stats_of (ss).connections == 1, 10000);
    ck_assert_int_eq (zmqobs_connect (NULL, ep), -1);
    ck_assert_int_eq (zmqobs_connect (cs, "bogus://x"), -1);
    ck_assert_int_eq (errno, EPROTONOSUPPORT);

    zmqobs_detach (&cs);
    ck_assert_int_eq (zmq_setsockopt (cli, ZMQ_LINGER, &(int) {0}, sizeof (int)), 0);
    ck_assert_int_eq (zmq_close (cli), 0);
    PUMP_UNTIL (obs, hd, stats_of (ss).connections == 0, 10000);
    zmqobs_detach (&ss);
    ck_assert_int_eq (zmq_close (srv), 0);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}

START_TEST (test_disconnect_in_flight)
{
    in_flight_on (0);
}
END_TEST

START_TEST (test_disconnect_in_flight_host_driven)
{
    in_flight_on (1);
}
END_TEST

/* Peers of a wildcard bind report the address they came in on; unbinding
 * the wildcard (spelled as ZMQ_LAST_ENDPOINT gives it) takes them all off,
 * and a bind on that port counts them again. */
START_TEST (test_unbind_wildcard)
{
    testutil_watchdog (60);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    void *srv = socket_with (ctx, ZMQ_ROUTER);
    zmqobs_socket_t *ss = zmqobs_attach (obs, srv, "server");
    ck_assert_ptr_nonnull (ss);
    ck_assert_int_eq (zmq_bind (srv, "tcp://*:*"), 0);
    char any[256], local[300];
    last_endpoint (srv, any, sizeof any);
    ck_assert_int_eq (strncmp (any, "tcp://0.0.0.0:", 14), 0);
    snprintf (local, sizeof local, "tcp://127.0.0.1:%s", any + 14);
    void *cli[2];
    int ivl = 10;
    for (int i = 0; i < 2; i++) {
        cli[i] = socket_with (ctx, ZMQ_DEALER);
        ck_assert_int_eq (zmq_setsockopt (cli[i], ZMQ_RECONNECT_IVL, &ivl, sizeof ivl), 0);
        ck_assert_int_eq (zmq_connect (cli[i], local), 0);
    }
    WAIT_FOR (stats_of (ss).connections == 2, 10000);
    ck_assert_int_eq (zmqobs_unbind (ss, any), 0);
    ck_assert_int_eq (stats_of (ss).connections, 0);
    WAIT_FOR (stats_of (ss).listening == 0, 10000);
    /* the clients retry; a new bind on the port brings them back */
    ck_assert_int_eq (zmq_bind (srv, any), 0);
    WAIT_FOR ((process_commands (srv), stats_of (ss).connections == 2), 10000);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq (zmq_close (cli[i]), 0);
    WAIT_FOR ((process_commands (srv), stats_of (ss).connections == 0), 10000);
    zmqobs_detach (&ss);
    ck_assert_int_eq (zmq_close (srv), 0);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

/* From inside an event callback the endpoint calls would wait for the
 * thread running the callback: they refuse with EDEADLK. */
typedef struct {
    zmqobs_socket_t *s;
    int calls, rc, err;
} reentry_t;

static void reentry_fn (const zmqobs_event_info_t *info, void *arg)
{
    reentry_t *r = arg;
    if (info->event->event != ZMQ_EVENT_LISTENING || r->calls)
        return;
    errno = 0;
    r->rc = zmqobs_disconnect (r->s, "tcp://127.0.0.1:1");
    r->err = errno;
    __atomic_store_n (&r->calls, 1, __ATOMIC_RELEASE);
}

static void reentry_on (int hd)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, hd);
    void *srv = socket_with (ctx, ZMQ_ROUTER);
    reentry_t r = {0};
    r.s = zmqobs_attach (obs, srv, "server");
    ck_assert_ptr_nonnull (r.s);
    ck_assert_int_eq (zmqobs_on_event (obs, reentry_fn, &r), 0);
    ck_assert_int_eq (zmq_bind (srv, "tcp://127.0.0.1:*"), 0);
    PUMP_UNTIL (obs, hd, __atomic_load_n (&r.calls, __ATOMIC_ACQUIRE) == 1, 10000);
    ck_assert_int_eq (r.rc, -1);
    ck_assert_int_eq (r.err, EDEADLK);
    ck_assert_int_eq (zmqobs_on_event (obs, NULL, NULL), 0);
    zmqobs_detach (&r.s);
    ck_assert_int_eq (zmq_close (srv), 0);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}

START_TEST (test_callback_reentry)
{
    reentry_on (0);
}
END_TEST

START_TEST (test_callback_reentry_host_driven)
{
    reentry_on (1);
}
END_TEST

/* Attaches from many threads at once: each needs room in the entry list
 * it reserved, not room another thread took meanwhile. */
typedef struct {
    zmqobs_t *obs;
    void *ctx;
    int index, ok, err;
} attacher_t;

static void *attacher (void *arg)
{
    attacher_t *a = arg;
    void *socks[12];
    zmqobs_socket_t *s[12];
    for (int i = 0; i < 12; i++) {
        char name[32];
        snprintf (name, sizeof name, "t%d-%d", a->index, i);
        socks[i] = zmq_socket (a->ctx, ZMQ_PAIR);
        s[i] = socks[i] ? zmqobs_attach (a->obs, socks[i], name) : NULL;
        a->ok += s[i] != NULL;
        if (!s[i])
            a->err = errno;
    }
    for (int i = 0; i < 12; i++) {
        zmqobs_detach (&s[i]);
        if (socks[i])
            zmq_close (socks[i]);
    }
    return NULL;
}

START_TEST (test_concurrent_attach)
{
    testutil_watchdog (60);
    void *ctx = zmq_ctx_new ();
    /* 16 threads x 12 sockets x 3 (the socket, the monitor's, the reader)
     * per round, and libzmq frees closed sockets asynchronously: the
     * default 1023 can run out under load before a round's closes land */
    ck_assert_int_eq (zmq_ctx_set (ctx, ZMQ_MAX_SOCKETS, 4096), 0);
    zmqobs_t *obs = observer (ctx, 0);
    for (int round = 0; round < 5; round++) {
        pthread_t th[16];
        attacher_t a[16];
        for (int i = 0; i < 16; i++) {
            a[i] = (attacher_t) {obs, ctx, i, 0, 0};
            ck_assert_int_eq (pthread_create (&th[i], NULL, attacher, &a[i]), 0);
        }
        for (int i = 0; i < 16; i++) {
            pthread_join (th[i], NULL);
            ck_assert_msg (a[i].ok == 12, "thread %d attached %d of 12: %s", i, a[i].ok,
                           zmq_strerror (a[i].err));
        }
        ck_assert_uint_eq (zmqobs_socket_count (obs), 0);
    }
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

/* The endpoint table frees what it no longer counts: endpoints come and
 * go for ever, each tracked; random interleavings end exactly at 0. */
START_TEST (test_apply_endpoint_churn)
{
    fake_t f = fake_new (ZMQ_DEALER);
    zmqobs_socket_t *s = f.s;
    char ep[64];
    for (int i = 0; i < 1000; i++) {
        snprintf (ep, sizeof ep, "tcp://10.0.%d.%d:5555", i / 250, i % 250);
        feed (s, ZMQ_EVENT_CONNECTED, 10, ep);
        feed (s, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0, ep);
        feed (s, ZMQ_EVENT_DISCONNECTED, 10, ep);
    }
    ck_assert_int_eq (s->mon.connections, 0);
    ck_assert_uint_eq (s->mon.untracked_live, 0);
    for (unsigned i = 0; i < ZMQOBS__PEER_SLOTS; i++)
        ck_assert_uint_eq (s->mon.peers[i].key, 0);
    /* random: up to 60 endpoints at once, several peers each */
    uint32_t live[200] = {0};
    uint64_t x = 42;
    int64_t total = 0;
    for (int step = 0; step < 20000; step++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int i = (int) ((x >> 33) % 60) + (int) ((x >> 50) % 3) * 60;
        snprintf (ep, sizeof ep, "tcp://192.168.0.%d:6000", i);
        int distinct = 0;
        for (int k = 0; k < 200; k++)
            distinct += live[k] > 0;
        if ((x >> 20) & 1 && (live[i] || distinct < 60)) {
            feed (s, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0, ep);
            live[i]++;
            total++;
        } else if (live[i]) {
            feed (s, ZMQ_EVENT_DISCONNECTED, 10, ep);
            live[i]--;
            total--;
        }
        ck_assert_int_eq (s->mon.connections, total);
        ck_assert_uint_eq (s->mon.untracked_live, 0);
    }
    for (int i = 0; i < 200; i++)
        for (; live[i]; live[i]--) {
            snprintf (ep, sizeof ep, "tcp://192.168.0.%d:6000", i);
            feed (s, ZMQ_EVENT_DISCONNECTED, 10, ep);
        }
    ck_assert_int_eq (s->mon.connections, 0);
    fake_free (&f);
}
END_TEST

/* Closed endpoints keep a slot only while the table has room: a client
 * that visits many endpoints over its life, closing each, stays exact. */
START_TEST (test_endpoint_turnover)
{
    testutil_watchdog (120);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    enum { N = ZMQOBS__PEER_SLOTS + 36 };
    void *srv = socket_with (ctx, ZMQ_ROUTER);
    char (*eps)[64] = calloc (N, sizeof *eps);
    ck_assert_ptr_nonnull (eps);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq (zmq_bind (srv, "tcp://127.0.0.1:*"), 0);
        last_endpoint (srv, eps[i], sizeof eps[i]);
    }
    void *cli = socket_with (ctx, ZMQ_DEALER);
    zmqobs_socket_t *cs = zmqobs_attach (obs, cli, "client");
    ck_assert_ptr_nonnull (cs);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq (zmqobs_connect (cs, eps[i]), 0);
        WAIT_FOR ((process_commands (srv), stats_of (cs).connections == 1), 10000);
        ck_assert_int_eq (zmqobs_disconnect (cs, eps[i]), 0);
        ck_assert_msg (stats_of (cs).connections == 0, "endpoint %d: connections %lld", i,
                       (long long) stats_of (cs).connections);
    }
    ck_assert_uint_eq (cs->mon.untracked_live, 0);
    zmqobs_detach (&cs);
    ck_assert_int_eq (zmq_close (cli), 0);
    ck_assert_int_eq (zmq_close (srv), 0);
    free (eps);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

/* Host-driven: zmq_ctx_term on another thread; the host sees ETERM on its
 * socket, detaches, closes and never drives the observer again. The
 * detach must notice ETERM and close the reader, or the term never ends. */
static void *term_ctx (void *ctx)
{
    zmq_ctx_term (ctx);
    return NULL;
}

START_TEST (test_host_driven_detach_after_term)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 1);
    void *srv = socket_with (ctx, ZMQ_DEALER);
    zmqobs_socket_t *ss = zmqobs_attach (obs, srv, "client");
    ck_assert_ptr_nonnull (ss);
    ck_assert_int_ge (zmqobs_process (obs, 0), 0);
    pthread_t th;
    ck_assert_int_eq (pthread_create (&th, NULL, term_ctx, ctx), 0);
    /* the host learns of it on its own socket */
    int rc;
    while ((rc = zmq_connect (srv, "tcp://127.0.0.1:1")) == 0)
        testutil_sleep_ms (10);
    ck_assert_int_eq (errno, ETERM);
    zmqobs_detach (&ss);
    ck_assert_uint_eq (zmqobs__orphan_count (obs), 0);
    ck_assert_int_eq (zmq_close (srv), 0);
    pthread_join (th, NULL); /* the watchdog fails a hang */
    zmqobs_destroy (&obs);
}
END_TEST

/* libzmq drops an engine that breaks the protocol before any mechanism
 * with ACCEPTED then DISCONNECTED and no HANDSHAKE_* event: such a probe
 * (a port scan, an HTTP check pointed at the port) never takes a real
 * peer off the gauge. */
START_TEST (test_apply_probe)
{
    fake_t f = fake_new (ZMQ_ROUTER);
    zmqobs_socket_t *s = f.s;
    const char *ep = "tcp://127.0.0.1:5555";
    feed (s, ZMQ_EVENT_ACCEPTED, 11, ep);
    feed (s, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0, ep);
    ck_assert_int_eq (s->mon.connections, 1);
    for (int i = 0; i < 5; i++) {
        feed (s, ZMQ_EVENT_ACCEPTED, 12, ep);
        feed (s, ZMQ_EVENT_DISCONNECTED, 12, ep);
        ck_assert_int_eq (s->mon.connections, 1);
    }
    /* a probe and a real peer at once: the real one's success comes first */
    feed (s, ZMQ_EVENT_ACCEPTED, 13, ep);
    feed (s, ZMQ_EVENT_ACCEPTED, 14, ep);
    feed (s, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0, ep);
    ck_assert_int_eq (s->mon.connections, 2);
    feed (s, ZMQ_EVENT_DISCONNECTED, 11, ep);
    feed (s, ZMQ_EVENT_DISCONNECTED, 14, ep);
    feed (s, ZMQ_EVENT_DISCONNECTED, 13, ep);
    ck_assert_int_eq (s->mon.connections, 0);
    ck_assert_uint_eq (s->mon.pending_failed, 0);
    /* the endpoint's slot is freed and claimed again while an engine is
     * still in its handshake; outcome counts must not repeat: P opens,
     * A leaves (slot freed), B opens, P succeeds and leaves */
    feed (s, ZMQ_EVENT_ACCEPTED, 20, ep);
    feed (s, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0, ep); /* A */
    feed (s, ZMQ_EVENT_ACCEPTED, 21, ep);           /* P */
    feed (s, ZMQ_EVENT_DISCONNECTED, 20, ep);       /* A leaves */
    feed (s, ZMQ_EVENT_ACCEPTED, 22, ep);           /* B */
    feed (s, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0, ep); /* P */
    ck_assert_int_eq (s->mon.connections, 1);
    feed (s, ZMQ_EVENT_DISCONNECTED, 21, ep); /* P leaves */
    ck_assert_int_eq (s->mon.connections, 0);
    feed (s, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0, ep); /* B */
    feed (s, ZMQ_EVENT_DISCONNECTED, 22, ep);
    ck_assert_int_eq (s->mon.connections, 0);
    fake_free (&f);
}
END_TEST

/* The same with real libzmq: a raw TCP client sends a byte that is no
 * ZMTP greeting and is dropped without a handshake event. */
START_TEST (test_probe_keeps_peer)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    void *srv = socket_with (ctx, ZMQ_ROUTER);
    zmqobs_socket_t *ss = zmqobs_attach (obs, srv, "server");
    ck_assert_ptr_nonnull (ss);
    ck_assert_int_eq (zmq_bind (srv, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    last_endpoint (srv, ep, sizeof ep);
    void *cli = socket_with (ctx, ZMQ_DEALER);
    ck_assert_int_eq (zmq_connect (cli, ep), 0);
    WAIT_FOR (stats_of (ss).connections == 1, 10000);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons ((uint16_t) atoi (strrchr (ep, ':') + 1)),
                             .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    for (int i = 0; i < 3; i++) {
        int fd = socket (AF_INET, SOCK_STREAM, 0);
        ck_assert_int_ge (fd, 0);
        ck_assert_int_eq (connect (fd, (struct sockaddr *) &sa, sizeof sa), 0);
        ck_assert_int_eq (write (fd, "\0", 1), 1);
        WAIT_FOR (events_of (ss, ZMQ_EVENT_DISCONNECTED) == (uint64_t) i + 1, 10000);
        close (fd);
        ck_assert_int_eq (stats_of (ss).connections, 1);
    }
    ck_assert_uint_eq (events_of (ss, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
                           + events_of (ss, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL),
                       0);
    ck_assert_int_eq (zmq_close (cli), 0);
    WAIT_FOR (stats_of (ss).connections == 0, 10000);
    zmqobs_detach (&ss);
    ck_assert_int_eq (zmq_close (srv), 0);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

START_TEST (test_curve_refused)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    char spub[41], ssec[41], cpub[41], csec[41], wrong[41], wsec[41];
    ck_assert_int_eq (zmq_curve_keypair (spub, ssec), 0);
    ck_assert_int_eq (zmq_curve_keypair (cpub, csec), 0);
    ck_assert_int_eq (zmq_curve_keypair (wrong, wsec), 0);

    void *srv = socket_with (ctx, ZMQ_REP);
    int one = 1;
    ck_assert_int_eq (zmq_setsockopt (srv, ZMQ_CURVE_SERVER, &one, sizeof one), 0);
    ck_assert_int_eq (zmq_setsockopt (srv, ZMQ_CURVE_SECRETKEY, ssec, 40), 0);
    zmqobs_socket_t *ss = zmqobs_attach (obs, srv, "curve-server");
    ck_assert_int_eq (zmq_bind (srv, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    last_endpoint (srv, ep, sizeof ep);

    void *cli = socket_with (ctx, ZMQ_REQ);
    int never = -1; /* one attempt only, so the counts are exact */
    ck_assert_int_eq (zmq_setsockopt (cli, ZMQ_RECONNECT_IVL, &never, sizeof never), 0);
    ck_assert_int_eq (zmq_setsockopt (cli, ZMQ_CURVE_SERVERKEY, wrong, 40), 0);
    ck_assert_int_eq (zmq_setsockopt (cli, ZMQ_CURVE_PUBLICKEY, cpub, 40), 0);
    ck_assert_int_eq (zmq_setsockopt (cli, ZMQ_CURVE_SECRETKEY, csec, 40), 0);
    zmqobs_socket_t *cs = zmqobs_attach (obs, cli, "curve-client");
    ck_assert_int_eq (zmq_connect (cli, ep), 0);

    unsigned crypto = zmqobs__handshake_slot (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                                              ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC);
    WAIT_FOR (events_of (ss, ZMQ_EVENT_DISCONNECTED) == 1
                  && events_of (cs, ZMQ_EVENT_DISCONNECTED) == 1,
              5000);
    zmqobs_stats_t st = stats_of (ss);
    ck_assert_uint_eq (st.handshake_failures[crypto], 1);
    ck_assert_str_eq (zmqobs_handshake_slot_name (crypto), "ZMTP_CRYPTOGRAPHIC");
    ck_assert_uint_eq (st.events[EV (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)], 1);
    ck_assert_uint_eq (st.events[EV (ZMQ_EVENT_HANDSHAKE_SUCCEEDED)], 0);
    ck_assert_int_eq (st.connections, 0);
    ck_assert_uint_eq (st.last_error_event, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL);
    ck_assert_uint_eq (st.last_error_value, ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC);
    ck_assert_uint_eq (LOAD (&ss->mon.pending_failed), 0);
    /* the client only sees the connection drop during its handshake */
    st = stats_of (cs);
    unsigned total = 0;
    for (int i = 0; i < ZMQOBS_HANDSHAKE_SLOTS; i++)
        total += (unsigned) st.handshake_failures[i];
    ck_assert_uint_eq (total, 1);
    ck_assert_int_eq (st.connections, 0);
    ck_assert_uint_eq (LOAD (&cs->mon.pending_failed), 0);

    zmqobs_destroy (&obs);
    zmq_close (cli);
    zmq_close (srv);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

START_TEST (test_connect_refused)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    char ep[256];
    closed_endpoint (ctx, ep, sizeof ep);

    void *cli = socket_with (ctx, ZMQ_DEALER);
    int ivl = 5;
    ck_assert_int_eq (zmq_setsockopt (cli, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl), 0);
    zmqobs_socket_t *cs = zmqobs_attach (obs, cli, "retrier");
    char reason[512];
    ck_assert_int_eq (zmqobs_ready (obs, reason, sizeof reason), 0);
    ck_assert_str_eq (reason, "socket \"retrier\": not ready: no endpoint yet\n");
    ck_assert_int_eq (zmq_connect (cli, ep), 0);
    for (int i = 0; i < 5000 && stats_of (cs).reconnects < 3; i++)
        testutil_sleep_ms (1);
    ck_assert_msg (stats_of (cs).reconnects >= 3,
                   "%s: reconnects %llu delayed %llu connected %llu closed %llu "
                   "succeeded %llu disconnected %llu",
                   ep, (unsigned long long) cs->mon.reconnects,
                   (unsigned long long) events_of (cs, ZMQ_EVENT_CONNECT_DELAYED),
                   (unsigned long long) events_of (cs, ZMQ_EVENT_CONNECTED),
                   (unsigned long long) events_of (cs, ZMQ_EVENT_CLOSED),
                   (unsigned long long) events_of (cs, ZMQ_EVENT_HANDSHAKE_SUCCEEDED),
                   (unsigned long long) events_of (cs, ZMQ_EVENT_DISCONNECTED));
    zmqobs_detach (&cs); /* drains up to MONITOR_STOPPED: counts final */
    ck_assert_ptr_null (cs);
    zmq_close (cli);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

START_TEST (test_connect_refused_counts)
{
    /* host-driven, so the block can be read after every event is in */
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 1);
    char ep[256];
    closed_endpoint (ctx, ep, sizeof ep);
    void *cli = socket_with (ctx, ZMQ_DEALER);
    int ivl = 5;
    ck_assert_int_eq (zmq_setsockopt (cli, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl), 0);
    zmqobs_socket_t *cs = zmqobs_attach (obs, cli, "retrier");
    ck_assert_int_eq (zmq_connect (cli, ep), 0);
    for (int i = 0; i < 200 && cs->mon.reconnects < 3; i++)
        ck_assert_int_ge (zmqobs_process (obs, 100), 0);
    ck_assert_msg (cs->mon.reconnects >= 3,
                   "%s: reconnects %llu delayed %llu connected %llu closed %llu "
                   "succeeded %llu disconnected %llu",
                   ep, (unsigned long long) cs->mon.reconnects,
                   (unsigned long long) events_of (cs, ZMQ_EVENT_CONNECT_DELAYED),
                   (unsigned long long) events_of (cs, ZMQ_EVENT_CONNECTED),
                   (unsigned long long) events_of (cs, ZMQ_EVENT_CLOSED),
                   (unsigned long long) events_of (cs, ZMQ_EVENT_HANDSHAKE_SUCCEEDED),
                   (unsigned long long) events_of (cs, ZMQ_EVENT_DISCONNECTED));
    zmqobs_stats_t st = stats_of (cs);
    ck_assert_uint_eq (st.reconnects, st.events[EV (ZMQ_EVENT_CONNECT_RETRIED)]);
    /* each attempt's CLOSED belongs to a connect, never to a listener */
    ck_assert_uint_ge (st.events[EV (ZMQ_EVENT_CLOSED)], st.reconnects);
    ck_assert_uint_eq (st.listening, 0);
    ck_assert_int_eq (st.connections, 0);
    char reason[512];
    ck_assert_int_eq (zmqobs_ready (obs, reason, sizeof reason), 0);
    ck_assert_str_eq (reason, "socket \"retrier\": not ready: no connected peer\n");
    zmqobs_detach (&cs);
    zmq_close (cli);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Storm: N cycles of M peers connecting and disconnecting
 * ---------------------------------------------------------------------- */

START_TEST (test_storm)
{
    enum { PEERS = 200, CYCLES = 5 };
    testutil_watchdog (60);
    void *ctx = zmq_ctx_new ();
    ck_assert_int_eq (zmq_ctx_set (ctx, ZMQ_MAX_SOCKETS, 1024), 0);
    zmqobs_t *obs = observer (ctx, 0);
    void *srv = socket_with (ctx, ZMQ_ROUTER);
    /* the default backlog (100) drops SYNs of a 200-peer burst: the
     * kernel would retry them only a second later */
    int backlog = 1024;
    ck_assert_int_eq (zmq_setsockopt (srv, ZMQ_BACKLOG, &backlog, sizeof backlog), 0);
    zmqobs_socket_t *ss = zmqobs_attach (obs, srv, "storm");
    ck_assert_int_eq (zmq_bind (srv, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    last_endpoint (srv, ep, sizeof ep);
    void *peers[PEERS];
    int never = -1;
    for (int c = 0; c < CYCLES; c++) {
        for (int i = 0; i < PEERS; i++) {
            peers[i] = socket_with (ctx, ZMQ_DEALER);
            ck_assert_int_eq (zmq_setsockopt (peers[i], ZMQ_RECONNECT_IVL, &never, sizeof never),
                              0);
            ck_assert_int_eq (zmq_connect (peers[i], ep), 0);
        }
        WAIT_FOR (stats_of (ss).connections == PEERS, 20000);
        for (int i = 0; i < PEERS; i++)
            ck_assert_int_eq (zmq_close (peers[i]), 0);
        uint64_t want = (uint64_t) PEERS * (uint64_t) (c + 1);
        WAIT_FOR (events_of (ss, ZMQ_EVENT_DISCONNECTED) == want, 20000);
        zmqobs_stats_t st = stats_of (ss);
        ck_assert_int_eq (st.connections, 0);
        ck_assert_uint_eq (st.events[EV (ZMQ_EVENT_ACCEPTED)], want);
        ck_assert_uint_eq (st.events[EV (ZMQ_EVENT_HANDSHAKE_SUCCEEDED)], want);
    }
    zmqobs_detach (&ss);
    zmq_close (srv);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Attach/detach cycles: no fd or memory growth
 * ---------------------------------------------------------------------- */

static int open_fds (void)
{
    DIR *d = opendir ("/proc/self/fd");
    ck_assert_ptr_nonnull (d);
    int n = 0;
    while (readdir (d))
        n++;
    closedir (d);
    return n;
}

static int under_memory_tool (void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return 1;
#endif
#endif
    return RUNNING_ON_VALGRIND ? 1 : 0;
}

static long rss_kb (void)
{
    /* hand freed heap pages back first, so RSS shows live memory */
    malloc_trim (0);
    FILE *f = fopen ("/proc/self/status", "r");
    ck_assert_ptr_nonnull (f);
    char line[256];
    long kb = -1;
    while (fgets (line, sizeof line, f))
        if (sscanf (line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose (f);
    return kb;
}

/* Waits until libzmq's reaper has destroyed the closed readers (it runs
 * behind a tight attach/detach loop), so fds are back to at most base. */
static int settle_fds (int base)
{
    int fds = open_fds ();
    for (int i = 0; i < 2000 && fds > base; i++) {
        testutil_sleep_ms (1);
        fds = open_fds ();
    }
    return fds;
}

static void cycle (zmqobs_t *obs, void *sock, int n)
{
    for (int i = 0; i < n; i++) {
        zmqobs_socket_t *s = zmqobs_attach (obs, sock, "cycled");
        ck_assert_msg (s != NULL, "attach %d failed: %s", i, zmq_strerror (errno));
        zmqobs_detach (&s);
        ck_assert_ptr_null (s);
    }
}

static void attach_cycles (int host_driven)
{
    testutil_watchdog (60);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, host_driven);
    void *sock = socket_with (ctx, ZMQ_REP);
    ck_assert_int_eq (zmq_bind (sock, "tcp://127.0.0.1:*"), 0);
    /* warm up allocator and libzmq caches the way the batches run */
    int fds0 = open_fds ();
    for (int batch = 0; batch < 2; batch++) {
        cycle (obs, sock, 100);
        ck_assert_int_le (settle_fds (fds0), fds0);
    }
    long rss0 = rss_kb ();
    /* in batches: libzmq destroys closed sockets asynchronously, and a
     * tight loop can otherwise outrun its reaper up to ZMQ_MAX_SOCKETS */
    for (int batch = 0; batch < 10; batch++) {
        cycle (obs, sock, 100);
        ck_assert_int_le (settle_fds (fds0), fds0);
    }
    int fds1 = settle_fds (fds0);
    long rss1 = rss_kb ();
    ck_assert_int_le (fds1, fds0);
    /* ASan's quarantine and valgrind hold freed memory: there leak
     * checking is their job, RSS says nothing */
    if (!under_memory_tool ())
        ck_assert_msg (rss1 - rss0 < 1024, "RSS grew from %ld to %ld kB", rss0, rss1);
    /* the socket still works with a fresh attach, and is not blocked */
    zmqobs_socket_t *s = zmqobs_attach (obs, sock, "final");
    ck_assert_ptr_nonnull (s);
    ck_assert_int_eq (zmq_bind (sock, "tcp://127.0.0.1:*"), 0);
    zmqobs_detach (&s);
    zmq_close (sock);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}

START_TEST (test_attach_cycles)
{
    attach_cycles (0);
}
END_TEST

START_TEST (test_attach_cycles_host)
{
    attach_cycles (1);
}
END_TEST

/* A new observer can be given the address of one just destroyed, and
 * libzmq releases inproc names asynchronously (in its reaper thread): the
 * monitor endpoints and context probes must be unique in the process, not
 * only per observer, or an attach of the new observer can fail with
 * EADDRINUSE while the old name is still registered. */
START_TEST (test_observer_address_reused)
{
    testutil_watchdog (60);
    void *ctx = zmq_ctx_new ();
    ck_assert_int_eq (zmq_ctx_set (ctx, ZMQ_MAX_SOCKETS, 4096), 0);
    void *sock = socket_with (ctx, ZMQ_PAIR);
    enum { CYCLES = 200 };
    static char names[CYCLES][64];
    zmqobs_t *prev = NULL;
    int reused = 0;
    for (int i = 0; i < CYCLES; i++) {
        zmqobs_t *obs = observer (ctx, i & 1);
        reused += obs == prev;
        prev = obs;
        zmqobs_socket_t *s = zmqobs_attach (obs, sock, "reused");
        ck_assert_msg (s != NULL, "attach %d: %s", i, zmq_strerror (errno));
        memcpy (names[i], s->monitor_endpoint, sizeof names[i]);
        for (int j = 0; j < i; j++)
            ck_assert_msg (strcmp (names[i], names[j]) != 0, "cycles %d and %d both used %s", j, i,
                           names[i]);
        zmqobs_detach (&s);
        zmqobs_destroy (&obs);
    }
    /* (the allocator hands the freed block back nearly every time; the
     * names differ whether it does or not) */
    fprintf (stderr, "observer address reused in %d of %d cycles\n", reused, CYCLES - 1);
    zmq_close (sock);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

START_TEST (test_attach_errors)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    void *sock = socket_with (ctx, ZMQ_PUB);
    zmqobs_socket_t *s = zmqobs_attach (obs, sock, "one");
    ck_assert_ptr_nonnull (s);
    /* libzmq has one monitor per socket: a second attach is refused */
    errno = 0;
    ck_assert_ptr_null (zmqobs_attach (obs, sock, "two"));
    ck_assert_int_eq (errno, EEXIST);
    zmqobs_detach (&s);
    zmqobs_detach (&s); /* NULL: no-op */
    zmqobs_detach (NULL);

    /* out of memory on the first attach: the socket is left as it was */
    zmqobs_t *fresh = observer (ctx, 0);
    zmqobs__alloc_count = 0;
    zmqobs__alloc_fail_at = 2; /* 1: the socket block, 2: the entry table */
    errno = 0;
    ck_assert_ptr_null (zmqobs_attach (fresh, sock, "oom"));
    ck_assert_int_eq (errno, ENOMEM);
    zmqobs__alloc_fail_at = 0;
    ck_assert_int_eq (zmqobs_socket_count (fresh), 0);
    /* no monitor left behind: bind completes and a new attach works */
    ck_assert_int_eq (zmq_bind (sock, "tcp://127.0.0.1:*"), 0);
    s = zmqobs_attach (fresh, sock, "oom");
    ck_assert_ptr_nonnull (s);
    zmqobs_detach (&s);
    zmqobs_destroy (&fresh);

    /* a socket of another context is refused (its monitor could never
     * be drained from here) and stays usable */
    void *ctx2 = zmq_ctx_new ();
    void *foreign = socket_with (ctx2, ZMQ_PUB);
    errno = 0;
    ck_assert_ptr_null (zmqobs_attach (obs, foreign, "foreign"));
    ck_assert_int_eq (errno, EXDEV);
    ck_assert_int_eq (zmq_bind (foreign, "tcp://127.0.0.1:*"), 0);
    zmq_close (foreign);
    ck_assert_int_eq (zmq_ctx_term (ctx2), 0);

    zmq_close (sock);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

START_TEST (test_many_sockets)
{
    /* more readers than the loop's first poll array holds */
    enum { N = 40 };
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    void *socks[N];
    zmqobs_socket_t *s[N];
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf (name, sizeof name, "pull-%d", i);
        socks[i] = socket_with (ctx, ZMQ_PULL);
        s[i] = zmqobs_attach (obs, socks[i], name);
        ck_assert_ptr_nonnull (s[i]);
        ck_assert_int_eq (zmq_bind (socks[i], "tcp://127.0.0.1:*"), 0);
    }
    ck_assert_int_eq (zmqobs_socket_count (obs), N);
    for (int i = 0; i < N; i++)
        WAIT_FOR (stats_of (s[i]).listening == 1, 5000);
    /* detach every other one while the rest keep being drained */
    for (int i = 0; i < N; i += 2)
        zmqobs_detach (&s[i]);
    char ready[8192];
    ck_assert_int_eq (zmqobs_ready (obs, ready, sizeof ready), 1);
    for (int i = 1; i < N; i += 2) {
        char ep[256];
        last_endpoint (socks[i], ep, sizeof ep);
        ck_assert_int_eq (zmq_unbind (socks[i], ep), 0);
    }
    for (int i = 1; i < N; i += 2)
        WAIT_FOR (stats_of (s[i]).listening == 0, 5000);
    ck_assert_int_eq (zmqobs_ready (obs, ready, sizeof ready), 0);
    ck_assert_ptr_nonnull (strstr (ready, "socket \"pull-39\": not ready: not listening\n"));
    zmqobs_destroy (&obs);
    for (int i = 0; i < N; i++)
        zmq_close (socks[i]);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

START_TEST (test_host_takes_monitor)
{
    /* the host starts its own monitor on an attached socket: libzmq stops
     * ours (one per socket); our reader goes, and detach then leaves the
     * host's monitor alone */
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    void *sock = socket_with (ctx, ZMQ_PUB);
    zmqobs_socket_t *s = zmqobs_attach (obs, sock, "shared");
    ck_assert_ptr_nonnull (s);
    void *mine = socket_with (ctx, ZMQ_PAIR);
    ck_assert_int_eq (zmq_connect (mine, "inproc://host-monitor"), 0);
    ck_assert_int_eq (zmq_socket_monitor (sock, "inproc://host-monitor", ZMQ_EVENT_LISTENING), 0);
    WAIT_FOR (LOAD (&s->monitor_state) != 1 /* MS_ACTIVE */, 5000);
    ck_assert_uint_eq (events_of (s, ZMQ_EVENT_MONITOR_STOPPED), 1);
    zmqobs_detach (&s);
    ck_assert_int_eq (zmq_bind (sock, "tcp://127.0.0.1:*"), 0);
    zmq_msg_t m;
    zmq_msg_init (&m);
    ck_assert_int_eq (zmq_msg_recv (&m, mine, 0), 6);
    uint16_t code;
    memcpy (&code, zmq_msg_data (&m), 2);
    ck_assert_uint_eq (code, ZMQ_EVENT_LISTENING);
    zmq_msg_close (&m);
    zmq_socket_monitor (sock, NULL, 0);
    zmq_close (mine);
    zmq_close (sock);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Shutdown orders
 * ---------------------------------------------------------------------- */

/* A bound REP and a connected REQ, both attached, with live peers. */
static void live_pair (void *ctx, zmqobs_t *obs, void **srv, void **cli, zmqobs_socket_t **ss,
                       zmqobs_socket_t **cs)
{
    *srv = socket_with (ctx, ZMQ_REP);
    *ss = zmqobs_attach (obs, *srv, "rep");
    ck_assert_ptr_nonnull (*ss);
    ck_assert_int_eq (zmq_bind (*srv, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    last_endpoint (*srv, ep, sizeof ep);
    *cli = socket_with (ctx, ZMQ_REQ);
    *cs = zmqobs_attach (obs, *cli, "req");
    ck_assert_ptr_nonnull (*cs);
    ck_assert_int_eq (zmq_connect (*cli, ep), 0);
    ck_assert_int_eq (zmq_send (*cli, "hi", 2, 0), 2);
    char buf[8];
    ck_assert_int_eq (zmq_recv (*srv, buf, sizeof buf, 0), 2);
    ck_assert_int_eq (zmq_send (*srv, "ho", 2, 0), 2);
    ck_assert_int_eq (zmq_recv (*cli, buf, sizeof buf, 0), 2);
}

START_TEST (test_shutdown_destroy_then_term)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    void *srv, *cli;
    zmqobs_socket_t *ss, *cs;
    live_pair (ctx, obs, &srv, &cli, &ss, &cs);
    zmqobs_destroy (&obs);
    ck_assert_ptr_null (obs);
    zmqobs_destroy (&obs); /* pointer to NULL: no-op */
    zmqobs_destroy (NULL);
    zmq_close (cli);
    zmq_close (srv);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

START_TEST (test_shutdown_detach_close_term_destroy)
{
    testutil_watchdog (30);
    for (int host = 0; host <= 1; host++) {
        void *ctx = zmq_ctx_new ();
        zmqobs_t *obs = observer (ctx, host);
        void *srv, *cli;
        zmqobs_socket_t *ss, *cs;
        live_pair (ctx, obs, &srv, &cli, &ss, &cs);
        zmqobs_detach (&cs);
        zmqobs_detach (&ss);
        zmq_close (cli);
        zmq_close (srv);
        ck_assert_int_eq (zmq_ctx_term (ctx), 0);
        zmqobs_destroy (&obs);
    }
}
END_TEST

static void *term_thread (void *ctx)
{
    return (void *) (intptr_t) zmq_ctx_term (ctx);
}

START_TEST (test_shutdown_term_while_alive)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    void *srv, *cli;
    zmqobs_socket_t *ss, *cs;
    live_pair (ctx, obs, &srv, &cli, &ss, &cs);
    pthread_t t;
    ck_assert_int_eq (pthread_create (&t, NULL, term_thread, ctx), 0);
    /* the host blocks in recv until the context goes away */
    char buf[8];
    ck_assert_int_eq (zmq_recv (srv, buf, sizeof buf, 0), -1);
    ck_assert_int_eq (errno, ETERM);
    zmq_close (cli);
    zmq_close (srv);
    void *rc;
    pthread_join (t, &rc);
    ck_assert_int_eq ((int) (intptr_t) rc, 0);
    /* context gone, sockets closed: destroy still completes */
    ck_assert_int_eq (zmqobs_socket_count (obs), 2);
    zmqobs_destroy (&obs);
}
END_TEST

START_TEST (test_shutdown_term_while_alive_detach)
{
    /* after ETERM the host detaches before closing (also allowed) */
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    void *srv, *cli;
    zmqobs_socket_t *ss, *cs;
    live_pair (ctx, obs, &srv, &cli, &ss, &cs);
    pthread_t t;
    ck_assert_int_eq (pthread_create (&t, NULL, term_thread, ctx), 0);
    char buf[8];
    ck_assert_int_eq (zmq_recv (srv, buf, sizeof buf, 0), -1);
    ck_assert_int_eq (errno, ETERM);
    zmqobs_detach (&ss);
    zmqobs_detach (&cs);
    zmq_close (cli);
    zmq_close (srv);
    pthread_join (t, NULL);
    /* attaching into a terminated context fails cleanly */
    zmqobs_destroy (&obs);
}
END_TEST

START_TEST (test_shutdown_term_while_alive_host)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 1);
    void *srv, *cli;
    zmqobs_socket_t *ss, *cs;
    live_pair (ctx, obs, &srv, &cli, &ss, &cs);
    pthread_t t;
    ck_assert_int_eq (pthread_create (&t, NULL, term_thread, ctx), 0);
    /* the host's loop: its own socket plus the observer's one item (its
     * descriptor stands for the readers; libzmq stops the monitors as the
     * context shuts down, and their readers go) */
    ck_assert_int_eq (zmqobs_pollitems (obs, NULL, 0), 1);
    int saw_term = 0;
    while (!saw_term) {
        zmq_pollitem_t items[16];
        items[0] = (zmq_pollitem_t) {.socket = srv, .events = ZMQ_POLLIN};
        int n = zmqobs_pollitems (obs, items + 1, 15);
        ck_assert_int_eq (n, 1);
        ck_assert_int_eq (items[1].fd, zmqobs_fd (obs));
        /* the host's own socket may see ETERM first: keep driving the
         * observer until its readers see it too */
        int rc = zmq_poll (items, 1 + n, -1);
        if (rc < 0)
            ck_assert_int_eq (errno, ETERM);
        if (zmqobs_process (obs, 0) < 0) {
            ck_assert_int_eq (errno, ETERM);
            saw_term = 1;
        }
    }
    /* readers are closed: the observer no longer holds up the context */
    errno = 0;
    ck_assert_int_eq (zmqobs_process (obs, 0), -1);
    ck_assert_int_eq (errno, ETERM);
    zmq_close (cli);
    zmq_close (srv);
    pthread_join (t, NULL);
    zmqobs_destroy (&obs);
}
END_TEST

/* ------------------------------------------------------------------------
 * Host-driven mode
 * ---------------------------------------------------------------------- */

/* ------------------------------------------------------------------------
 * Sockets bound or connected before attach (CZMQ's zsock_new_rep
 * ("@tcp://...") binds at construction): no LISTENING or CONNECTED comes
 * for those endpoints, so attach counts what ZMQ_LAST_ENDPOINT shows.
 * ---------------------------------------------------------------------- */

static uint64_t listening_of (zmqobs_socket_t *s)
{
    zmqobs_stats_t st;
    ck_assert_int_eq (zmqobs_socket_stats (s, &st), 0);
    return st.listening;
}

static void bound_before_attach (const char *bind_to)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    void *rep = socket_with (ctx, ZMQ_REP);
    ck_assert_int_eq (zmq_bind (rep, bind_to), 0);
    char ep[256];
    size_t size = sizeof ep;
    ck_assert_int_eq (zmq_getsockopt (rep, ZMQ_LAST_ENDPOINT, ep, &size), 0);
    zmqobs_socket_t *s = zmqobs_attach (obs, rep, "bound-first");
    ck_assert_ptr_nonnull (s);
    ck_assert_uint_eq (listening_of (s), 1);
    char reason[256];
    ck_assert_int_eq (zmqobs_ready (obs, reason, sizeof reason), 1);
    ck_assert_str_eq (reason, "socket \"bound-first\": ready: listening 1, connections 0\n");
    /* its peers are counted as usual */
    void *req = socket_with (ctx, ZMQ_REQ);
    char cep[300];
    snprintf (cep, sizeof cep, "%s", ep);
    if (strncmp (cep, "tcp://0.0.0.0:", 14) == 0) /* a wildcard bind */
        snprintf (cep, sizeof cep, "tcp://127.0.0.1:%s", ep + 14);
    ck_assert_int_eq (zmq_connect (req, cep), 0);
    zmqobs_stats_t st;
    TESTUTIL_PUMP_UNTIL (obs, 0, zmqobs_socket_stats (s, &st) == 0 && st.connections == 1, 10000);
    /* and the listener counted at attach leaves with its CLOSED */
    ck_assert_int_eq (zmqobs_unbind (s, ep), 0);
    TESTUTIL_PUMP_UNTIL (obs, 0, listening_of (s) == 0, 10000);
    zmq_close (req);
    zmqobs_detach (&s);
    zmq_close (rep);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}

START_TEST (test_bound_before_attach_tcp)
{
    bound_before_attach ("tcp://127.0.0.1:*");
}
END_TEST

START_TEST (test_bound_before_attach_wildcard)
{
    bound_before_attach ("tcp://*:*");
}
END_TEST

START_TEST (test_bound_before_attach_ipc)
{
    char ep[128];
    snprintf (ep, sizeof ep, "ipc:///tmp/zmqobs-bound-first-%d.ipc", (int) getpid ());
    bound_before_attach (ep);
}
END_TEST

/* Connected before attach to an endpoint nobody listens on yet: counted
 * as connecting, and ready, since the peers it may have are unknown; a
 * later peer is counted as usual. */
START_TEST (test_connected_before_attach)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    /* a port nobody listens on, held (bound, SO_REUSEADDR, never
     * listening) so that nobody else takes it meanwhile */
    int hold = socket (AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge (hold, 0);
    int one = 1;
    setsockopt (hold, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    ck_assert_int_eq (bind (hold, (struct sockaddr *) &sa, sl), 0);
    ck_assert_int_eq (getsockname (hold, (struct sockaddr *) &sa, &sl), 0);
    char ep[64];
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%u", (unsigned) ntohs (sa.sin_port));
    void *req = socket_with (ctx, ZMQ_REQ);
    ck_assert_int_eq (zmq_connect (req, ep), 0);
    zmqobs_socket_t *s = zmqobs_attach (obs, req, "connected-first");
    ck_assert_ptr_nonnull (s);
    ck_assert_uint_eq (listening_of (s), 0);
    char reason[256];
    ck_assert_int_eq (zmqobs_ready (obs, reason, sizeof reason), 1);
    ck_assert_str_eq (reason, "socket \"connected-first\": ready: connected before attach "
                              "(peers unknown), listening 0\n");
    zmqobs_detach (&s);
    zmq_close (req);
    close (hold);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Other monitors: libzmq keeps one per socket.
 * ---------------------------------------------------------------------- */

/* A socket attached to one observer cannot be attached to another: that
 * would silently end the first one's monitoring. */
START_TEST (test_attach_other_observer_eexist)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *a = observer (ctx, 0);
    zmqobs_t *b = observer (ctx, 1);
    void *rep = socket_with (ctx, ZMQ_REP);
    zmqobs_socket_t *s = zmqobs_attach (a, rep, "rep");
    ck_assert_ptr_nonnull (s);
    errno = 0;
    ck_assert_ptr_null (zmqobs_attach (b, rep, "rep"));
    ck_assert_int_eq (errno, EEXIST);
    ck_assert_int_eq (zmqobs_socket_count (b), 0);
    /* the first observer's monitor still runs */
    ck_assert_int_eq (zmq_bind (rep, "tcp://127.0.0.1:*"), 0);
    TESTUTIL_PUMP_UNTIL (a, 0, listening_of (s) == 1, 10000);
    /* once detached from the first, the second may have it */
    zmqobs_detach (&s);
    s = zmqobs_attach (b, rep, "rep");
    ck_assert_ptr_nonnull (s);
    zmqobs_detach (&s);
    zmq_close (rep);
    zmqobs_destroy (&b);
    zmqobs_destroy (&a);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

/* The host (or cppzmq's monitor_t, or another library) starts its own
 * monitor on an attached socket: ours stops unasked. That shows as
 * zmq_monitor_up 0 and in /readyz's reason; readiness is unchanged, and
 * detach leaves the other monitor alone. */
START_TEST (test_monitor_replaced)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    void *rep = socket_with (ctx, ZMQ_REP);
    zmqobs_socket_t *s = zmqobs_attach (obs, rep, "rep");
    ck_assert_ptr_nonnull (s);
    ck_assert_int_eq (zmq_bind (rep, "tcp://127.0.0.1:*"), 0);
    TESTUTIL_PUMP_UNTIL (obs, 0, listening_of (s) == 1, 10000);
    zmqobs_stats_t st;
    ck_assert_int_eq (zmqobs_socket_stats (s, &st), 0);
    ck_assert_int_eq (st.monitor_up, 1);
    /* the host's own monitor, with its own reader */
    void *theirs = socket_with (ctx, ZMQ_PAIR);
    ck_assert_int_eq (zmq_socket_monitor (rep, "inproc://theirs", ZMQ_EVENT_ALL), 0);
    ck_assert_int_eq (zmq_connect (theirs, "inproc://theirs"), 0);
    TESTUTIL_PUMP_UNTIL (obs, 0, zmqobs_socket_stats (s, &st) == 0 && st.monitor_up == 0, 10000);
    ck_assert_uint_eq (st.events[zmqobs__event_bit (ZMQ_EVENT_MONITOR_STOPPED)], 1);
    char buf[65536];
    ck_assert_int_gt (zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, buf, sizeof buf), 0);
    ck_assert_ptr_nonnull (strstr (buf, "\nzmq_monitor_up{socket=\"rep\",type=\"REP\"} 0\n"));
    char reason[256];
    ck_assert_int_eq (zmqobs_ready (obs, reason, sizeof reason), 1);
    ck_assert_str_eq (reason, "socket \"rep\": ready: listening 1, connections 0 (monitor "
                              "stopped unasked, counts frozen)\n");
    /* detach does not stop the host's monitor: a new endpoint's
     * LISTENING still reaches it */
    zmqobs_detach (&s);
    ck_assert_int_eq (zmq_bind (rep, "tcp://127.0.0.1:*"), 0);
    int timeout = 5000;
    zmq_setsockopt (theirs, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    int listening = 0;
    for (int i = 0; i < 8 && !listening; i++) {
        zmq_msg_t part;
        zmq_msg_init (&part);
        ck_assert_int_ge (zmq_msg_recv (&part, theirs, 0), 0);
        uint16_t ev = 0;
        if (zmq_msg_size (&part) == 6)
            memcpy (&ev, zmq_msg_data (&part), sizeof ev);
        listening = ev == ZMQ_EVENT_LISTENING;
        zmq_msg_close (&part);
    }
    ck_assert (listening);
    zmq_socket_monitor (rep, NULL, 0);
    zmq_close (theirs);
    zmq_close (rep);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Beyond the fixed tables: 16 listener fds and 64 endpoints are tracked
 * one by one; past them counts degrade to aggregates but stay exact.
 * ---------------------------------------------------------------------- */

static void many_listeners (int n)
{
    testutil_watchdog (60);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    void *rep = socket_with (ctx, ZMQ_REP);
    zmqobs_socket_t *s = zmqobs_attach (obs, rep, "rep");
    ck_assert_ptr_nonnull (s);
    char (*eps)[64] = calloc ((size_t) n, sizeof *eps);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq (zmq_bind (rep, "tcp://127.0.0.1:*"), 0);
        size_t size = sizeof eps[i];
        ck_assert_int_eq (zmq_getsockopt (rep, ZMQ_LAST_ENDPOINT, eps[i], &size), 0);
    }
    TESTUTIL_PUMP_UNTIL (obs, 0, listening_of (s) == (uint64_t) n, 10000);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq (zmqobs_unbind (s, eps[i]), 0);
    TESTUTIL_PUMP_UNTIL (obs, 0, listening_of (s) == 0, 10000);
    free (eps);
    zmqobs_detach (&s);
    zmq_close (rep);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}

START_TEST (test_listeners_17)
{
    many_listeners (17);
}
END_TEST

START_TEST (test_listeners_100)
{
    many_listeners (100);
}
END_TEST

/* A ROUTER bound on n endpoints, one DEALER on each, and a silent TCP
 * probe (connects, says nothing, leaves) on the last: once every peer is
 * gone the gauge is 0, and stays 0. */
static void many_endpoints (int n)
{
    testutil_watchdog (90);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    void *router = socket_with (ctx, ZMQ_ROUTER);
    zmqobs_socket_t *s = zmqobs_attach (obs, router, "router");
    ck_assert_ptr_nonnull (s);
    char (*eps)[64] = calloc ((size_t) n, sizeof *eps);
    void **dealers = calloc ((size_t) n, sizeof *dealers);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq (zmq_bind (router, "tcp://127.0.0.1:*"), 0);
        size_t size = sizeof eps[i];
        ck_assert_int_eq (zmq_getsockopt (router, ZMQ_LAST_ENDPOINT, eps[i], &size), 0);
        dealers[i] = socket_with (ctx, ZMQ_DEALER);
        ck_assert_int_eq (zmq_connect (dealers[i], eps[i]), 0);
    }
    zmqobs_stats_t st;
    TESTUTIL_PUMP_UNTIL (obs, 0, zmqobs_socket_stats (s, &st) == 0 && st.connections == n, 20000);
    /* the probe */
    unsigned port = (unsigned) atoi (strrchr (eps[n - 1], ':') + 1);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons ((uint16_t) port),
                             .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    ck_assert_int_eq (connect (fd, (struct sockaddr *) &sa, sizeof sa), 0);
    uint32_t accepted = (uint32_t) (n + 1);
    int acc = zmqobs__event_bit (ZMQ_EVENT_ACCEPTED);
    int dis = zmqobs__event_bit (ZMQ_EVENT_DISCONNECTED);
    TESTUTIL_PUMP_UNTIL (obs, 0, zmqobs_socket_stats (s, &st) == 0 && st.events[acc] == accepted,
                         10000);
    ck_assert_int_eq (st.connections, n);
    /* the peers leave while the probe stays, silent; then it leaves */
    for (int i = 0; i < n; i++)
        zmq_close (dealers[i]);
    TESTUTIL_PUMP_UNTIL (obs, 0,
                         zmqobs_socket_stats (s, &st) == 0 && st.events[dis] == (uint64_t) n,
                         20000);
    close (fd);
    TESTUTIL_PUMP_UNTIL (obs, 0,
                         zmqobs_socket_stats (s, &st) == 0 && st.events[dis] == (uint64_t) n + 1,
                         20000);
    testutil_sleep_ms (100);
    ck_assert_int_eq (zmqobs_socket_stats (s, &st), 0);
    ck_assert_int_eq (st.connections, 0);
    char reason[256];
    ck_assert_int_eq (zmqobs_ready (obs, reason, sizeof reason), 1);
    char want[128];
    snprintf (want, sizeof want, "socket \"router\": ready: listening %d, connections 0\n", n);
    ck_assert_str_eq (reason, want);
    free (dealers);
    free (eps);
    zmqobs_detach (&s);
    zmq_close (router);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}

START_TEST (test_endpoints_65)
{
    many_endpoints (65);
}
END_TEST

START_TEST (test_endpoints_200)
{
    many_endpoints (200);
}
END_TEST

/* ------------------------------------------------------------------------
 * Host-driven edges
 * ---------------------------------------------------------------------- */

/* A request (zmqobs_unbind) takes what the reader has queued first, but
 * at most 64 x 512 messages; when it stops with messages left, the reads
 * had consumed the reader's edge: the loop must still come back to it. */
START_TEST (test_host_request_after_storm)
{
    if (getenv ("ZMQOBS_UNDER_VALGRIND"))
        return; /* 34,000 binds and unbinds: minutes under valgrind */
    testutil_watchdog (120);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 1);
    void *sock = socket_with (ctx, ZMQ_DEALER);
    zmqobs_socket_t *s = zmqobs_attach (obs, sock, "storm");
    ck_assert_ptr_nonnull (s);
    char fin[128], ep[128];
    snprintf (fin, sizeof fin, "ipc:///tmp/zmqobs-storm-%d-final", (int) getpid ());
    ck_assert_int_eq (zmq_bind (sock, fin), 0);
    TESTUTIL_PUMP_UNTIL (obs, 1, events_of (s, ZMQ_EVENT_LISTENING) == 1, 10000);
    /* 34,000 events queued, nobody draining: more than a request takes */
    int n = 17000;
    for (int i = 0; i < n; i++) {
        snprintf (ep, sizeof ep, "ipc:///tmp/zmqobs-storm-%d-%d", (int) getpid (), i);
        ck_assert_int_eq (zmq_bind (sock, ep), 0);
        ck_assert_int_eq (zmq_unbind (sock, ep), 0);
    }
    ck_assert_int_eq (zmqobs_unbind (s, fin), 0);
    /* every LISTENING was sent during the binds (CLOSED comes from
     * libzmq's I/O thread, and in so fast a churn libzmq itself now and
     * then sends one fewer: not counted on here) */
    TESTUTIL_PUMP_UNTIL (obs, 1, events_of (s, ZMQ_EVENT_LISTENING) == (uint64_t) n + 1, 20000);
    /* and what comes later is still drained: one more bind */
    snprintf (ep, sizeof ep, "ipc:///tmp/zmqobs-storm-%d-late", (int) getpid ());
    ck_assert_int_eq (zmq_bind (sock, ep), 0);
    TESTUTIL_PUMP_UNTIL (obs, 1, events_of (s, ZMQ_EVENT_LISTENING) == (uint64_t) n + 2, 10000);
    zmqobs_detach (&s);
    zmq_close (sock);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

/* In host-driven mode every event callback runs with the loop's lock
 * held: calls that would take it again refuse with EDEADLK. */
typedef struct {
    zmqobs_t *obs;
    int calls;
    long timeout;
    int timeout_errno;
    int serve;
    int serve_errno;
} reenter_t;

static void reenter_fn (const zmqobs_event_info_t *info, void *arg)
{
    reenter_t *r = arg;
    (void) info;
    r->calls++;
    errno = 0;
    r->timeout = zmqobs_timeout_ms (r->obs);
    r->timeout_errno = errno;
    errno = 0;
    r->serve = zmqobs_serve (r->obs, "tcp://127.0.0.1:0");
    r->serve_errno = errno;
}

START_TEST (test_host_callback_reentry)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 1);
    reenter_t r = {obs, 0, 0, 0, 0, 0};
    ck_assert_int_eq (zmqobs_on_event (obs, reenter_fn, &r), 0);
    void *sock = socket_with (ctx, ZMQ_REP);
    zmqobs_socket_t *s = zmqobs_attach (obs, sock, "rep");
    ck_assert_int_eq (zmq_bind (sock, "tcp://127.0.0.1:*"), 0);
    TESTUTIL_PUMP_UNTIL (obs, 1, r.calls >= 1, 10000);
    ck_assert_int_eq (r.timeout, -2);
    ck_assert_int_eq (r.timeout_errno, EDEADLK);
    ck_assert_int_eq (r.serve, -1);
    ck_assert_int_eq (r.serve_errno, EDEADLK);
    /* the detach's own MONITOR_STOPPED too (it drains with the lock) */
    r.calls = 0;
    zmqobs_detach (&s);
    ck_assert_int_ge (r.calls, 1);
    ck_assert_int_eq (r.timeout_errno, EDEADLK);
    ck_assert_int_eq (r.serve_errno, EDEADLK);
    /* outside a callback both work */
    ck_assert_int_ge (zmqobs_timeout_ms (obs), -1);
    ck_assert_int_eq (zmqobs_serve (obs, "tcp://127.0.0.1:0"), 0);
    zmq_close (sock);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

/* After zmq_ctx_term the descriptor settles (a host loop polling it does
 * not spin) and HTTP still answers, while zmqobs_process says ETERM. */
START_TEST (test_host_after_term)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 1);
    ck_assert_int_eq (zmqobs_serve (obs, "tcp://127.0.0.1:0"), 0);
    int port = zmqobs_serve_port (obs);
    void *sock = socket_with (ctx, ZMQ_REP);
    zmqobs_socket_t *s = zmqobs_attach (obs, sock, "rep");
    zmqobs_detach (&s);
    zmq_close (sock);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
    errno = 0;
    ck_assert_int_eq (zmqobs_process (obs, 0), -1);
    ck_assert_int_eq (errno, ETERM);
    struct pollfd pfd = {.fd = zmqobs_fd (obs), .events = POLLIN};
    ck_assert_int_eq (poll (&pfd, 1, 0), 0);
    /* /healthz, served from zmqobs_process calls */
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons ((uint16_t) port),
                             .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    ck_assert_int_eq (connect (fd, (struct sockaddr *) &sa, sizeof sa), 0);
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    ck_assert_int_eq (send (fd, req, sizeof req - 1, 0), (ssize_t) sizeof req - 1);
    char resp[512];
    size_t got = 0;
    for (int i = 0; i < 5000 && got < sizeof resp - 1; i++) {
        zmqobs_process (obs, 1);
        ssize_t k = recv (fd, resp + got, sizeof resp - 1 - got, MSG_DONTWAIT);
        if (k == 0)
            break;
        if (k > 0)
            got += (size_t) k;
    }
    resp[got] = '\0';
    ck_assert_msg (strncmp (resp, "HTTP/1.1 200", 12) == 0, "got: %s", resp);
    close (fd);
    zmqobs_destroy (&obs);
}
END_TEST

START_TEST (test_host_driven)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 1);
    ck_assert_int_eq (zmqobs_pollitems (NULL, NULL, 0), -1);
    ck_assert_int_eq (errno, EINVAL);
    ck_assert_int_eq (zmqobs_pollitems (obs, NULL, 3), -1);
    ck_assert_int_eq (errno, EINVAL);
    ck_assert_int_eq (zmqobs_process (NULL, 0), -1);
    ck_assert_int_eq (errno, EINVAL);
    ck_assert_int_eq (zmqobs_fd (NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
    ck_assert_int_eq (zmqobs_timeout_ms (NULL), -2);
    ck_assert_int_eq (errno, EINVAL);
    int fd = zmqobs_fd (obs);
    ck_assert_int_ge (fd, 0);
    ck_assert_int_eq (zmqobs_pollitems (obs, NULL, 0), 1); /* one descriptor */
    ck_assert_int_eq (zmqobs_process (obs, 0), 0);
    ck_assert_int_eq (zmqobs_timeout_ms (obs), -1); /* nothing due */

    void *srv = socket_with (ctx, ZMQ_PULL);
    zmqobs_socket_t *ss = zmqobs_attach (obs, srv, "pull");
    /* the set does not change: the same one descriptor, still */
    ck_assert_int_eq (zmqobs_pollitems (obs, NULL, 0), 1);
    ck_assert_int_eq (zmqobs_fd (obs), fd);
    /* the new reader is looked at once: work is due now */
    ck_assert_int_eq (zmqobs_timeout_ms (obs), 0);
    ck_assert_int_eq (zmqobs_process (obs, 0), 0); /* clears attach's wake */
    ck_assert_int_eq (zmqobs_timeout_ms (obs), -1);
    zmq_pollitem_t items[4];
    memset (items, 0, sizeof items);
    ck_assert_int_eq (zmqobs_pollitems (obs, items, 4), 1);
    ck_assert_ptr_null (items[0].socket);
    ck_assert_int_eq (items[0].fd, fd);
    ck_assert_int_eq (items[0].events, ZMQ_POLLIN);
    ck_assert_int_eq (zmq_poll (items, 1, 0), 0); /* quiet */

    ck_assert_int_eq (zmq_bind (srv, "tcp://127.0.0.1:*"), 0);
    /* the event waits in the reader until the host processes it, and the
     * one descriptor says so */
    ck_assert_uint_eq (ss->mon.listening, 0);
    ck_assert_int_eq (zmq_poll (items, 1, 5000), 1);
    ck_assert (items[0].revents & ZMQ_POLLIN);
    ck_assert_int_eq (zmqobs_process (obs, 0), 1);
    ck_assert_uint_eq (ss->mon.listening, 1);
    ck_assert_int_eq (zmq_poll (items, 1, 0), 0); /* quiet again */
    char reason[256];
    ck_assert_int_eq (zmqobs_ready (obs, reason, sizeof reason), 1);
    ck_assert_str_eq (reason, "socket \"pull\": ready: listening 1, connections 0\n");

    /* a wake from another module makes the descriptor readable */
    zmqobs__loop_wake (obs);
    ck_assert_int_eq (zmq_poll (items, 1, 5000), 1);
    ck_assert_int_eq (zmqobs_process (obs, 0), 0);
    ck_assert_int_eq (zmq_poll (items, 1, 0), 0);

    zmqobs_detach (&ss);
    ck_assert_int_eq (zmqobs_pollitems (obs, NULL, 0), 1);
    ck_assert_int_eq (zmqobs_fd (obs), fd);
    zmq_close (srv);
    zmqobs_destroy (&obs);

    /* with its own thread the observer refuses to be driven */
    obs = observer (ctx, 0);
    ck_assert_int_eq (zmqobs_fd (obs), -1);
    ck_assert_int_eq (errno, ENOTSUP);
    ck_assert_int_eq (zmqobs_timeout_ms (obs), -2);
    ck_assert_int_eq (errno, ENOTSUP);
    ck_assert_int_eq (zmqobs_process (obs, 0), -1);
    ck_assert_int_eq (errno, ENOTSUP);
    ck_assert_int_eq (zmqobs_pollitems (obs, NULL, 0), -1);
    ck_assert_int_eq (errno, ENOTSUP);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

static void count_fn (const zmqobs_event_info_t *info, void *arg)
{
    (void) info;
    (*(uint64_t *) arg)++;
}

typedef struct {
    zmqobs_t *obs;
    int stop;
    int calls;
} driver_t;

static void *drive (void *arg)
{
    driver_t *d = arg;
    while (!__atomic_load_n (&d->stop, __ATOMIC_ACQUIRE)) {
        /* acquire: pairs with the release that asks it to stop */
        if (zmqobs_process (d->obs, -1) < 0)
            break;
        d->calls++;
    }
    return NULL;
}

START_TEST (test_host_driven_other_thread)
{
    /* the host drives the observer from one thread, waiting without a
     * timeout, while another thread attaches and detaches: attach and
     * detach must get in, not wait for an event that never comes */
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 1);
    driver_t d = {obs, 0, 0};
    pthread_t t;
    ck_assert_int_eq (pthread_create (&t, NULL, drive, &d), 0);
    for (int i = 0; i < 20; i++) {
        void *sock = socket_with (ctx, ZMQ_PULL);
        zmqobs_socket_t *s = zmqobs_attach (obs, sock, "pull");
        ck_assert_ptr_nonnull (s);
        ck_assert_int_eq (zmq_bind (sock, "tcp://127.0.0.1:*"), 0);
        WAIT_FOR (stats_of (s).listening == 1, 5000);
        zmqobs_detach (&s);
        zmq_close (sock);
    }
    /* release: the driver sees stop once it wakes */
    __atomic_store_n (&d.stop, 1, __ATOMIC_RELEASE);
    zmqobs__loop_wake (obs);
    pthread_join (t, NULL);
    ck_assert_int_gt (d.calls, 0);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

/* An observer that is never drained must not stall libzmq: thousands of
 * events pile up in the reader while a drained socket on the same I/O
 * thread keeps going. */
START_TEST (test_undrained_never_blocks)
{
    testutil_watchdog (60);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *idle = observer (ctx, 1); /* never processed */
    zmqobs_t *busy = observer (ctx, 0);
    char ep[256];
    closed_endpoint (ctx, ep, sizeof ep);
    int ivl = 1;
    void *a = socket_with (ctx, ZMQ_DEALER);
    void *b = socket_with (ctx, ZMQ_DEALER);
    ck_assert_int_eq (zmq_setsockopt (a, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl), 0);
    ck_assert_int_eq (zmq_setsockopt (b, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl), 0);
    uint64_t idle_events = 0;
    ck_assert_int_eq (zmqobs_on_event (idle, count_fn, &idle_events), 0);
    zmqobs_socket_t *sa = zmqobs_attach (idle, a, "idle");
    zmqobs_socket_t *sb = zmqobs_attach (busy, b, "busy");
    ck_assert_int_eq (zmq_connect (a, ep), 0);
    ck_assert_int_eq (zmq_connect (b, ep), 0);
    /* 1000 retries are 3000 monitor messages: past libzmq's default
     * high-water marks (2000), where an undrained monitor would block */
    WAIT_FOR (stats_of (sb).reconnects >= 1000, 50000);
    zmqobs_detach (&sa); /* drains everything queued, up to MONITOR_STOPPED */
    ck_assert_ptr_null (sa);
    ck_assert_uint_gt (idle_events, 2000);
    zmqobs_detach (&sb);
    zmq_close (a);
    zmq_close (b);
    zmqobs_destroy (&idle);
    zmqobs_destroy (&busy);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Malformed monitor messages
 * ---------------------------------------------------------------------- */

START_TEST (test_malformed)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 1);
    void *sock = socket_with (ctx, ZMQ_PUB);
    zmqobs_socket_t *s = zmqobs_attach (obs, sock, "target");
    log_t *log = log_new ();
    zmqobs_on_event (obs, log_fn, log);
    void *tx = socket_with (ctx, ZMQ_PAIR);
    void *rx = socket_with (ctx, ZMQ_PAIR);
    ck_assert_int_eq (zmq_bind (rx, "inproc://malformed"), 0);
    ck_assert_int_eq (zmq_connect (tx, "inproc://malformed"), 0);

    unsigned char good[6];
    uint16_t code = ZMQ_EVENT_ACCEPTED;
    uint32_t value = 42;
    memcpy (good, &code, 2);
    memcpy (good + 2, &value, 4);
    /* one frame only */
    ck_assert_int_eq (zmq_send (tx, good, 6, 0), 6);
    /* three frames */
    zmq_send (tx, good, 6, ZMQ_SNDMORE);
    zmq_send (tx, "tcp://x", 7, ZMQ_SNDMORE);
    zmq_send (tx, "extra", 5, 0);
    /* a short first frame, a long one, an empty one */
    zmq_send (tx, good, 5, ZMQ_SNDMORE);
    zmq_send (tx, "tcp://x", 7, 0);
    zmq_send (tx, "1234567", 7, ZMQ_SNDMORE);
    zmq_send (tx, "tcp://x", 7, 0);
    zmq_send (tx, "", 0, ZMQ_SNDMORE);
    zmq_send (tx, "", 0, 0);
    /* then a good one, with an endpoint longer than ZMQOBS_ENDPOINT_MAX */
    char longep[600];
    memset (longep, 'e', sizeof longep);
    zmq_send (tx, good, 6, ZMQ_SNDMORE);
    zmq_send (tx, longep, sizeof longep, 0);

    int handled = 0, rc;
    while ((rc = zmqobs__monitor_recv (obs, s, rx)) > 0)
        handled += rc;
    ck_assert_int_eq (rc, 0);
    ck_assert_int_eq (handled, 6);
    ck_assert_uint_eq (s->mon.malformed, 5);
    ck_assert_uint_eq (s->mon.events[EV (ZMQ_EVENT_ACCEPTED)], 1);
    zmqobs_stats_t st = stats_of (s);
    ck_assert_uint_eq (st.malformed_events, 5);
    ck_assert_int_eq (log->n, 1);
    ck_assert_uint_eq (strlen (log->endpoint[0]), 63); /* log_t keeps 63 */

    zmqobs_on_event (obs, NULL, NULL);
    zmq_close (tx);
    zmq_close (rx);
    zmqobs_detach (&s);
    zmq_close (sock);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
    free (log);
}
END_TEST

/* ------------------------------------------------------------------------
 * JSON log
 * ---------------------------------------------------------------------- */

START_TEST (test_json_line_exact)
{
    zmqobs_event_t ev;
    memset (&ev, 0, sizeof ev);
    ev.event = ZMQ_EVENT_ACCEPTED;
    ev.value = 12;
    ev.value_kind = ZMQOBS_VALUE_FD;
    strcpy (ev.endpoint, "tcp://127.0.0.1:5555");
    ev.endpoint_len = strlen (ev.endpoint);
    zmqobs_event_info_t info = {
        .socket_name = "front\"end\\\n\x01 \xc3\xa9\xe2\x82\xac\xff",
        .event_name = "ACCEPTED",
        .value_meaning = "fd",
        .value_text = "",
        .event = &ev,
        .timestamp_ns = 1767323045678999999ull,
    };
    const char *want = "{\"ts\":\"2026-01-02T03:04:05.678Z\","
                       "\"socket\":\"front\\\"end\\\\\\n\\u0001 \xc3\xa9\xe2\x82\xac\\ufffd\","
                       "\"event\":\"ACCEPTED\",\"value\":12,\"meaning\":\"fd\","
                       "\"endpoint\":\"tcp://127.0.0.1:5555\"}\n";
    char buf[512];
    size_t n = zmqobs__json_line (&info, buf, sizeof buf);
    ck_assert_uint_eq (n, strlen (want));
    ck_assert_str_eq (buf, want);
    /* snprintf semantics: truncated, terminated, full length returned */
    char small[10];
    ck_assert_uint_eq (zmqobs__json_line (&info, small, sizeof small), strlen (want));
    ck_assert_str_eq (small, "{\"ts\":\"20");
    ck_assert_uint_eq (zmqobs__json_line (&info, NULL, 0), strlen (want));

    /* through a FILE, with a detail for errno values */
    ev.event = ZMQ_EVENT_BIND_FAILED;
    ev.value = EADDRINUSE;
    ev.value_kind = ZMQOBS_VALUE_ERRNO;
    info.socket_name = "s";
    info.event_name = "BIND_FAILED";
    info.value_meaning = "errno";
    info.value_text = "EADDRINUSE";
    info.timestamp_ns = 0;
    char *mem = NULL;
    size_t memsize = 0;
    FILE *f = open_memstream (&mem, &memsize);
    ck_assert_ptr_nonnull (f);
    zmqobs_json_log (&info, f);
    zmqobs_json_log (NULL, f); /* ignored */
    zmqobs_json_log (&info, NULL);
    fclose (f);
    char want2[256];
    snprintf (want2, sizeof want2,
              "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"socket\":\"s\",\"event\":"
              "\"BIND_FAILED\",\"value\":%d,\"meaning\":\"errno\",\"detail\":"
              "\"EADDRINUSE\",\"endpoint\":\"tcp://127.0.0.1:5555\"}\n",
              EADDRINUSE);
    ck_assert_str_eq (mem, want2);
    free (mem);
}
END_TEST

START_TEST (test_json_log_live)
{
    /* real events through the ready-made sink, one parseable line each */
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 1);
    char *mem = NULL;
    size_t memsize = 0;
    FILE *f = open_memstream (&mem, &memsize);
    ck_assert_int_eq (zmqobs_on_event (NULL, zmqobs_json_log, f), -1);
    ck_assert_int_eq (errno, EINVAL);
    ck_assert_int_eq (zmqobs_on_event (obs, zmqobs_json_log, f), 0);
    void *sock = socket_with (ctx, ZMQ_PUB);
    zmqobs_socket_t *s = zmqobs_attach (obs, sock, "pub \"1\"");
    ck_assert_int_eq (zmq_bind (sock, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    last_endpoint (sock, ep, sizeof ep);
    while (s->mon.listening == 0)
        ck_assert_int_ge (zmqobs_process (obs, 100), 0);
    zmqobs_detach (&s); /* MONITOR_STOPPED is logged too */
    ck_assert_int_eq (zmqobs_on_event (obs, NULL, NULL), 0);
    fclose (f);
    char *line2 = strchr (mem, '\n');
    ck_assert_ptr_nonnull (line2);
    *line2++ = '\0';
    char want[512];
    snprintf (want, sizeof want, "\"socket\":\"pub \\\"1\\\"\",\"event\":\"LISTENING\",\"value\":");
    ck_assert_ptr_nonnull (strstr (mem, want));
    snprintf (want, sizeof want, ",\"meaning\":\"fd\",\"endpoint\":\"%s\"}", ep);
    ck_assert_ptr_nonnull (strstr (mem, want));
    ck_assert_ptr_nonnull (strstr (line2, "\"event\":\"MONITOR_STOPPED\""));
    ck_assert_str_eq (strchr (line2, '\n'), "\n");
    free (mem);
    zmq_close (sock);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Readiness
 * ---------------------------------------------------------------------- */

START_TEST (test_ready)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    char reason[512];
    ck_assert_int_eq (zmqobs_ready (NULL, reason, sizeof reason), -1);
    ck_assert_int_eq (errno, EINVAL);
    ck_assert_int_eq (zmqobs_ready (obs, NULL, 5), -1);
    ck_assert_int_eq (errno, EINVAL);
    ck_assert_int_eq (zmqobs_ready (obs, reason, sizeof reason), 1);
    ck_assert_str_eq (reason, "no sockets attached\n");

    void *srv = socket_with (ctx, ZMQ_REP);
    void *cli = socket_with (ctx, ZMQ_REQ);
    zmqobs_socket_t *ss = zmqobs_attach (obs, srv, "back\nend");
    zmqobs_socket_t *cs = zmqobs_attach (obs, cli, "client");
    ck_assert_int_eq (zmqobs_ready (obs, reason, sizeof reason), 0);
    ck_assert_str_eq (reason, "socket \"back\\x0aend\": not ready: no endpoint yet\n"
                              "socket \"client\": not ready: no endpoint yet\n");
    ck_assert_int_eq (zmq_bind (srv, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    last_endpoint (srv, ep, sizeof ep);
    WAIT_FOR (stats_of (ss).listening == 1, 5000);
    ck_assert_int_eq (zmqobs_ready (obs, reason, sizeof reason), 0);
    ck_assert_str_eq (reason, "socket \"back\\x0aend\": ready: listening 1, connections 0\n"
                              "socket \"client\": not ready: no endpoint yet\n");
    ck_assert_int_eq (zmq_connect (cli, ep), 0);
    WAIT_FOR (stats_of (cs).connections == 1 && stats_of (ss).connections == 1, 5000);
    ck_assert_int_eq (zmqobs_ready (obs, reason, sizeof reason), 1);
    ck_assert_str_eq (reason, "socket \"back\\x0aend\": ready: listening 1, connections 1\n"
                              "socket \"client\": ready: listening 0, connections 1\n");
    /* snprintf semantics */
    int full = (int) strlen (reason);
    char tiny[8];
    ck_assert_int_eq (zmqobs_ready (obs, tiny, sizeof tiny), 1);
    ck_assert_str_eq (tiny, "socket ");
    ck_assert_int_eq (zmqobs_ready (obs, NULL, 0), 1);
    (void) full;

    /* a bind that fails: not ready, with the reason */
    void *other = socket_with (ctx, ZMQ_REP);
    zmqobs_socket_t *os = zmqobs_attach (obs, other, "dup");
    ck_assert_int_eq (zmq_bind (other, ep), -1);
    WAIT_FOR (events_of (os, ZMQ_EVENT_BIND_FAILED) == 1, 5000);
    ck_assert_int_eq (zmqobs_ready (obs, reason, sizeof reason), 0);
    ck_assert_ptr_nonnull (
        strstr (reason, "socket \"dup\": not ready: bind failed (EADDRINUSE)\n"));

    zmqobs_destroy (&obs);
    zmq_close (other);
    zmq_close (cli);
    zmq_close (srv);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

int main (void)
{
    testutil_watchdog (240);
    Suite *suite = suite_create ("monitor");
    TCase *tc = testutil_tcase (suite, "apply", 10);
    tcase_add_test (tc, test_apply_gauge);
    tcase_add_test (tc, test_apply_per_endpoint);
    tcase_add_test (tc, test_apply_many_endpoints);
    tcase_add_test (tc, test_apply_endpoint_churn);
    tcase_add_test (tc, test_apply_probe);
    tcase_add_test (tc, test_apply_listeners_and_errors);
    tcase_add_test (tc, test_apply_stream);
    tc = testutil_tcase (suite, "sequences", 30);
    tcase_add_test (tc, test_sequence_tcp);
    tcase_add_test (tc, test_local_close);
    tcase_add_test (tc, test_local_close_host_driven);
    tcase_add_test (tc, test_disconnect_in_flight);
    tcase_add_test (tc, test_disconnect_in_flight_host_driven);
    tcase_add_test (tc, test_unbind_wildcard);
    tcase_add_test (tc, test_callback_reentry);
    tcase_add_test (tc, test_callback_reentry_host_driven);
    tcase_add_test (tc, test_concurrent_attach);
    tcase_add_test (tc, test_endpoint_turnover);
    tcase_add_test (tc, test_host_driven_detach_after_term);
    tcase_add_test (tc, test_probe_keeps_peer);
    tcase_add_test (tc, test_sequence_ipc);
    tcase_add_test (tc, test_curve_refused);
    tcase_add_test (tc, test_connect_refused);
    tcase_add_test (tc, test_connect_refused_counts);
    tc = testutil_tcase (suite, "storm", 60);
    tcase_add_test (tc, test_storm);
    tc = testutil_tcase (suite, "cycles", 60);
    tcase_add_test (tc, test_attach_cycles);
    tcase_add_test (tc, test_attach_cycles_host);
    tcase_add_test (tc, test_attach_errors);
    tcase_add_test (tc, test_observer_address_reused);
    tcase_add_test (tc, test_host_takes_monitor);
    tcase_add_test (tc, test_many_sockets);
    tc = testutil_tcase (suite, "shutdown", 30);
    tcase_add_test (tc, test_shutdown_destroy_then_term);
    tcase_add_test (tc, test_shutdown_detach_close_term_destroy);
    tcase_add_test (tc, test_shutdown_term_while_alive);
    tcase_add_test (tc, test_shutdown_term_while_alive_detach);
    tcase_add_test (tc, test_shutdown_term_while_alive_host);
    tc = testutil_tcase (suite, "host", 60);
    tcase_add_test (tc, test_host_driven);
    tcase_add_test (tc, test_bound_before_attach_tcp);
    tcase_add_test (tc, test_bound_before_attach_wildcard);
    tcase_add_test (tc, test_bound_before_attach_ipc);
    tcase_add_test (tc, test_connected_before_attach);
    tcase_add_test (tc, test_attach_other_observer_eexist);
    tcase_add_test (tc, test_monitor_replaced);
    tcase_add_test (tc, test_listeners_17);
    tcase_add_test (tc, test_listeners_100);
    tcase_add_test (tc, test_endpoints_65);
    tcase_add_test (tc, test_endpoints_200);
    tcase_add_test (tc, test_host_request_after_storm);
    tcase_add_test (tc, test_host_callback_reentry);
    tcase_add_test (tc, test_host_after_term);
    tcase_add_test (tc, test_undrained_never_blocks);
    tcase_add_test (tc, test_host_driven_other_thread);
    tcase_add_test (tc, test_malformed);
    tc = testutil_tcase (suite, "json", 30);
    tcase_add_test (tc, test_json_line_exact);
    tcase_add_test (tc, test_json_log_live);
    tc = testutil_tcase (suite, "ready", 30);
    tcase_add_test (tc, test_ready);
    return testutil_run (suite);
}
