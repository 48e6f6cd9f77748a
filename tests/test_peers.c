/*
 * test_peers.c - per-peer metrics with real peers (pyzmq DEALERs from
 * tests/peers/dealers.py), the peer named in events, and the high-water
 * mark gauges with ZMQ_XPUB_NODROP.
 *
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include <zmq.h>
#include <zmqobs.h>

extern char **environ;

typedef struct {
    void *ctx;
    zmqobs_t *obs;
    void *router;
    zmqobs_socket_t *rs;
    char endpoint[64];
} fixture_t;

static void setup (fixture_t *f, int key, unsigned max_peers)
{
    testutil_watchdog (120);
    f->ctx = zmq_ctx_new ();
    ck_assert_ptr_nonnull (f->ctx);
    f->obs = zmqobs_new (f->ctx, NULL);
    ck_assert_ptr_nonnull (f->obs);
    f->router = zmq_socket (f->ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt (f->router, ZMQ_LINGER, &zero, sizeof zero);
    ck_assert_int_eq (zmq_bind (f->router, "tcp://127.0.0.1:0"), 0);
    size_t len = sizeof f->endpoint;
    ck_assert_int_eq (zmq_getsockopt (f->router, ZMQ_LAST_ENDPOINT, f->endpoint, &len), 0);
    f->rs = zmqobs_attach (f->obs, f->router, "router");
    ck_assert_ptr_nonnull (f->rs);
    ck_assert_int_eq (zmqobs_track_peers (f->rs, max_peers, key), 0);
}

static void teardown (fixture_t *f)
{
    zmqobs_detach (&f->rs);
    zmq_close (f->router);
    zmqobs_destroy (&f->obs);
    zmq_ctx_term (f->ctx);
}

/* Runs dealers.py with args against the ROUTER, echoing every message
 * back through the wrappers until the script exits; returns the
 * messages echoed. */
static long run_dealers (fixture_t *f, const char *const *specs, size_t nspecs)
{
    const char *argv[600];
    size_t n = 0;
    argv[n++] = TESTUTIL_PYTHON;
    argv[n++] = "tests/peers/dealers.py";
    argv[n++] = f->endpoint;
    for (size_t i = 0; i < nspecs && n < 598; i++)
        argv[n++] = specs[i];
    argv[n] = NULL;
    pid_t pid;
    ck_assert_int_eq (posix_spawn (&pid, TESTUTIL_PYTHON, NULL, NULL, (char *const *) argv,
                                   environ),
                      0);
    long echoed = 0;
    int status = 0;
    for (;;) {
        zmq_pollitem_t item = {f->router, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll (&item, 1, 50);
        ck_assert_int_ge (rc, 0);
        if (rc == 0) {
            pid_t w = waitpid (pid, &status, WNOHANG);
            if (w == pid)
                break;
            continue;
        }
        /* one whole message, echoed part by part */
        for (;;) {
            zmq_msg_t m;
            zmq_msg_init (&m);
            ck_assert_int_ge (zmqobs_msg_recv (&m, f->rs, 0), 0);
            int more = zmq_msg_more (&m);
            ck_assert_int_ge (zmqobs_msg_send (&m, f->rs, more ? ZMQ_SNDMORE : 0), 0);
            zmq_msg_close (&m);
            if (!more)
                break;
        }
        echoed++;
    }
    ck_assert_msg (WIFEXITED (status) && WEXITSTATUS (status) == 0, "dealers.py failed (%d)",
                   status);
    return echoed;
}

static const zmqobs_peer_stats_t *find_peer (const zmqobs_peer_stats_t *p, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp (p[i].peer, name) == 0)
            return &p[i];
    return NULL;
}

static void expect_peer (const zmqobs_peer_stats_t *p, int n, const char *name, uint64_t in_msgs,
                         uint64_t in_bytes, uint64_t out_msgs, uint64_t out_bytes)
{
    const zmqobs_peer_stats_t *d = find_peer (p, n, name);
    ck_assert_msg (d != NULL, "peer %s not tracked", name);
    ck_assert_uint_eq (d->msgs_received, in_msgs);
    ck_assert_uint_eq (d->bytes_received, in_bytes);
    ck_assert_uint_eq (d->msgs_sent, out_msgs);
    ck_assert_uint_eq (d->bytes_sent, out_bytes);
    ck_assert_uint_eq (d->error, 0);
    ck_assert_uint_gt (d->first_seen_ns, 0);
    ck_assert_uint_ge (d->last_seen_ns, d->first_seen_ns);
}

/* The tracked peers and "other" add up to the socket's own counters. */
static void expect_totals (fixture_t *f, const zmqobs_peer_stats_t *p, int n,
                           const zmqobs_peer_stats_t *other)
{
    zmqobs_stats_t st;
    ck_assert_int_eq (zmqobs_socket_stats (f->rs, &st), 0);
    uint64_t t[4] = {other->msgs_received, other->bytes_received, other->msgs_sent,
                     other->bytes_sent};
    for (int i = 0; i < n; i++) {
        t[0] += p[i].msgs_received;
        t[1] += p[i].bytes_received;
        t[2] += p[i].msgs_sent;
        t[3] += p[i].bytes_sent;
    }
    ck_assert_uint_eq (t[0], st.msgs_received);
    ck_assert_uint_eq (t[1], st.bytes_received);
    ck_assert_uint_eq (t[2], st.msgs_sent);
    ck_assert_uint_eq (t[3], st.bytes_sent);
}

static int contains (const char *hay, const char *needle)
{
    return strstr (hay, needle) != NULL;
}

START_TEST (test_routing_id_exact)
{
    fixture_t f;
    setup (&f, ZMQOBS_PEER_ROUTING_ID, 16);
    /* printable ids as they are; a binary id, and ids that could be taken
     * for "other" or for hex, in hex */
    const char *specs[] = {",w1,3,10",   ",w2,5,20",    ",0x00ff10,2,7",
                           ",other,1,4", ",0x3078,2,1", ",a\"b\\c,1,2"};
    ck_assert_int_eq (run_dealers (&f, specs, 6), 14);
    zmqobs_peer_stats_t p[16], other;
    int n = zmqobs_socket_peers (f.rs, p, 16, &other);
    ck_assert_int_eq (n, 6);
    expect_peer (p, n, "a\"b\\c", 2, 1 * (5 + 2), 2, 1 * (5 + 2));
    /* each message is [routing id][body] both ways */
    expect_peer (p, n, "w1", 6, 3 * (2 + 10), 6, 3 * (2 + 10));
    expect_peer (p, n, "w2", 10, 5 * (2 + 20), 10, 5 * (2 + 20));
    expect_peer (p, n, "0x00ff10", 4, 2 * (3 + 7), 4, 2 * (3 + 7));
    expect_peer (p, n, "0x6f74686572", 2, 1 * (5 + 4), 2, 1 * (5 + 4));
    expect_peer (p, n, "0x3078", 4, 2 * (2 + 1), 4, 2 * (2 + 1));
    ck_assert_str_eq (other.peer, "other");
    ck_assert_uint_eq (other.msgs_received + other.msgs_sent, 0);
    expect_totals (&f, p, n, &other);

    /* every format */
    static char buf[1 << 16];
    ck_assert_int_gt (zmqobs_format (f.obs, ZMQOBS_FORMAT_PROMETHEUS, buf, sizeof buf), 0);
    ck_assert (contains (buf, "\nzmq_peer_messages_received_total{socket=\"router\",type="
                              "\"ROUTER\",peer=\"w2\"} 10\n"));
    ck_assert (contains (buf, "\nzmq_peer_bytes_sent_total{socket=\"router\",type=\"ROUTER\",peer="
                              "\"w1\"} 36\n"));
    ck_assert (contains (buf, "\nzmq_peer_messages_sent_total{socket=\"router\",type=\"ROUTER\","
                              "peer=\"other\"} 0\n"));
    ck_assert (contains (buf, "\nzmq_peers_tracked{socket=\"router\",type=\"ROUTER\"} 6\n"));
    /* quotes and backslashes in a routing id, escaped */
    ck_assert (contains (buf, "\nzmq_peer_messages_received_total{socket=\"router\",type="
                              "\"ROUTER\",peer=\"a\\\"b\\\\c\"} 2\n"));
    ck_assert (contains (buf, "# TYPE zmq_peer_bytes_received_total counter\n"));
    ck_assert_int_gt (zmqobs_format (f.obs, ZMQOBS_FORMAT_OPENMETRICS, buf, sizeof buf), 0);
    ck_assert (contains (buf, "\nzmq_peer_messages_received_total{socket=\"router\",type="
                              "\"ROUTER\",peer=\"w2\"} 10\n"));
    ck_assert (contains (buf, "\nzmq_peer_messages_received_created{socket=\"router\",type="
                              "\"ROUTER\",peer=\"w2\"} "));
    ck_assert_int_gt (zmqobs_format (f.obs, ZMQOBS_FORMAT_JSON, buf, sizeof buf), 0);
    ck_assert (contains (buf, "\"peers\":{\"key\":\"routing_id\",\"max_peers\":16,\"tracked\":6,"));
    ck_assert (contains (buf, "{\"peer\":\"a\\\"b\\\\c\",\"messages_received\":2,"));
    ck_assert (contains (buf, "{\"peer\":\"w1\",\"messages_received\":6,\"bytes_received\":36,"
                              "\"messages_sent\":6,\"bytes_sent\":36,\"error\":0,"));
    ck_assert_int_gt (zmqobs_format (f.obs, ZMQOBS_FORMAT_TEXT, buf, sizeof buf), 0);
    ck_assert (contains (buf, "\n  peers           6 tracked (at most 16, by routing_id)\n"));
    ck_assert (contains (buf, "\n    \"w2\" received 10 msgs, sent 10 msgs\n"));
    /* protobuf: the families, and a peer's label pair */
    int plen = zmqobs_format (f.obs, ZMQOBS_FORMAT_PROTOBUF, buf, sizeof buf);
    ck_assert_int_gt (plen, 0);
    ck_assert_ptr_nonnull (memmem (buf, (size_t) plen, "zmq_peer_messages_received_total", 32));
    ck_assert_ptr_nonnull (memmem (buf, (size_t) plen, "zmq_peers_tracked", 17));
    ck_assert_ptr_nonnull (memmem (buf, (size_t) plen, "\x0a\x04peer\x12\x02w2", 10));
    int len = zmqobs_peers_json (f.obs, buf, sizeof buf);
    ck_assert_int_gt (len, 0);
    ck_assert_int_eq ((int) strlen (buf), len);
    ck_assert (contains (buf, "{\"sockets\":[{\"socket\":\"router\",\"type\":\"ROUTER\",\"key\":"
                              "\"routing_id\",\"max_peers\":16,\"tracked\":6,\"peers\":[{"));
    ck_assert (contains (buf, "\"other\":{\"peer\":\"other\",\"messages_received\":0,"
                              "\"bytes_received\":0,\"messages_sent\":0,\"bytes_sent\":0}}]}\n"));
    /* snprintf semantics: the same length with no room */
    ck_assert_int_eq (zmqobs_peers_json (f.obs, NULL, 0), len);
    char small[8];
    ck_assert_int_eq (zmqobs_peers_json (f.obs, small, sizeof small), len);
    ck_assert_str_eq (small, "{\"socke");
    teardown (&f);
}
END_TEST

START_TEST (test_address_exact)
{
    fixture_t f;
    setup (&f, ZMQOBS_PEER_ADDRESS, 16);
    /* three DEALERs from distinct loopback sources; the one from
     * 127.0.0.3 twice, as two connections: one peer by address */
    const char *specs[] = {"127.0.0.2,,4,5", "127.0.0.3,,7,9", "127.0.0.4,,1,3", "127.0.0.3,,2,9"};
    ck_assert_int_eq (run_dealers (&f, specs, 4), 14);
    zmqobs_peer_stats_t p[16], other;
    int n = zmqobs_socket_peers (f.rs, p, 16, &other);
    ck_assert_msg (n == 3, "tracked %d, other received %lu", n,
                   (unsigned long) other.msgs_received);
    /* routing ids are libzmq's own 5 bytes; a ROUTER's sends cannot be
     * told apart by address: they count under "other" */
    expect_peer (p, n, "127.0.0.2", 8, 4 * (5 + 5), 0, 0);
    expect_peer (p, n, "127.0.0.3", 18, 9 * (5 + 9), 0, 0);
    expect_peer (p, n, "127.0.0.4", 2, 1 * (5 + 3), 0, 0);
    ck_assert_uint_eq (other.msgs_received, 0);
    ck_assert_uint_eq (other.msgs_sent, 28);
    ck_assert_uint_eq (other.bytes_sent, 4 * 10 + 9 * 14 + 8);
    expect_totals (&f, p, n, &other);
    teardown (&f);
}
END_TEST

/* 200 peers against a cap of 16: the 8 busy ones first, then a flood of
 * 192 that send one message each; space-saving keeps the busy ones, with
 * exact counts, and the totals stay exact. */
START_TEST (test_heavy_hitters)
{
    fixture_t f;
    setup (&f, ZMQOBS_PEER_ROUTING_ID, 16);
    static char specs[201][48];
    const char *argv[201];
    size_t n = 0;
    for (int i = 0; i < 8; i++) {
        snprintf (specs[n], sizeof specs[n], ",heavy-%d,%d,16", i, 50 + i);
        argv[n] = specs[n];
        n++;
    }
    argv[n++] = "--";
    for (int i = 0; i < 192; i++) {
        snprintf (specs[n], sizeof specs[n], ",light-%03d,1,16", i);
        argv[n] = specs[n];
        n++;
    }
    long heavy_msgs = 8 * 50 + 28;
    ck_assert_int_eq (run_dealers (&f, argv, n), heavy_msgs + 192);
    zmqobs_peer_stats_t p[16], other;
    int tracked = zmqobs_socket_peers (f.rs, p, 16, &other);
    ck_assert_int_eq (tracked, 16);
    for (int i = 0; i < 8; i++) {
        char name[32];
        snprintf (name, sizeof name, "heavy-%d", i);
        uint64_t m = (uint64_t) (50 + i);
        expect_peer (p, tracked, name, 2 * m, m * (7 + 16), 2 * m, m * (7 + 16));
    }
    /* the other 8 slots hold light peers: each holds its own message at
     * most, plus what it inherited, which its error says */
    int light = 0;
    for (int i = 0; i < tracked; i++)
        if (strncmp (p[i].peer, "light-", 6) == 0) {
            light++;
            ck_assert_uint_le (p[i].msgs_received, 2);
            ck_assert_uint_gt (p[i].error, 0);
        }
    ck_assert_int_eq (light, 8);
    ck_assert_uint_gt (other.msgs_received, 0);
    expect_totals (&f, p, tracked, &other);
    /* a copy into a smaller array still says how many are tracked */
    ck_assert_int_eq (zmqobs_socket_peers (f.rs, p, 2, NULL), 16);
    teardown (&f);
}
END_TEST

START_TEST (test_errors_and_limits)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = zmqobs_new (ctx, NULL);
    void *router = zmq_socket (ctx, ZMQ_ROUTER), *dealer = zmq_socket (ctx, ZMQ_DEALER);
    zmqobs_socket_t *rs = zmqobs_attach (obs, router, "r");
    zmqobs_socket_t *ds = zmqobs_attach (obs, dealer, "d");
    ck_assert_ptr_nonnull (rs);
    ck_assert_ptr_nonnull (ds);
    errno = 0;
    ck_assert_int_eq (zmqobs_track_peers (NULL, 4, ZMQOBS_PEER_ADDRESS), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_track_peers (rs, ZMQOBS_PEERS_MAX + 1, ZMQOBS_PEER_ADDRESS), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_track_peers (rs, 4, 3), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0; /* routing ids exist on ROUTER and STREAM only */
    ck_assert_int_eq (zmqobs_track_peers (ds, 4, ZMQOBS_PEER_ROUTING_ID), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    zmqobs_peer_stats_t p[4], other;
    ck_assert_int_eq (zmqobs_socket_peers (rs, p, 4, &other), -1);
    ck_assert_int_eq (errno, ENOENT);
    errno = 0;
    ck_assert_int_eq (zmqobs_socket_peers (NULL, p, 4, &other), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_socket_peers (rs, NULL, 4, &other), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_peers_json (NULL, NULL, 0), -1);
    ck_assert_int_eq (errno, EINVAL);
    /* nothing tracked: an empty document, no peer families */
    char buf[1 << 15];
    ck_assert_int_eq (zmqobs_peers_json (obs, buf, sizeof buf), 15);
    ck_assert_str_eq (buf, "{\"sockets\":[]}\n");
    ck_assert_int_gt (zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, buf, sizeof buf), 0);
    ck_assert (!contains (buf, "zmq_peer"));

    /* inproc: ids over ZMQOBS_PEER_KEY_MAX bytes count under other */
    ck_assert_int_eq (zmqobs_track_peers (rs, 2, ZMQOBS_PEER_ROUTING_ID), 0);
    ck_assert_int_eq (zmq_bind (router, "inproc://peers-limits"), 0);
    char longid[ZMQOBS_PEER_KEY_MAX + 1];
    memset (longid, 'L', sizeof longid);
    ck_assert_int_eq (zmq_setsockopt (dealer, ZMQ_ROUTING_ID, longid, sizeof longid), 0);
    ck_assert_int_eq (zmq_connect (dealer, "inproc://peers-limits"), 0);
    ck_assert_int_eq (zmq_send (dealer, "hi", 2, 0), 2);
    char id[256];
    int idlen = zmqobs_recv (rs, id, sizeof id, 0);
    ck_assert_int_eq (idlen, ZMQOBS_PEER_KEY_MAX + 1);
    char body[8];
    ck_assert_int_eq (zmqobs_recv (rs, body, sizeof body, 0), 2);
    /* a truncated routing id is not a key either */
    ck_assert_int_eq (zmq_send (dealer, "hi", 2, 0), 2);
    ck_assert_int_eq (zmqobs_recv (rs, id, 4, 0), ZMQOBS_PEER_KEY_MAX + 1);
    ck_assert_int_eq (zmqobs_recv (rs, body, sizeof body, 0), 2);
    ck_assert_int_eq (zmqobs_socket_peers (rs, p, 4, &other), 0);
    ck_assert_uint_eq (other.msgs_received, 4);
    ck_assert_uint_eq (other.bytes_received, 2 * (ZMQOBS_PEER_KEY_MAX + 1 + 2));
    /* record calls have no bytes at hand: other */
    zmqobs_record_received (rs, 10, 0);
    zmqobs_record_sent (rs, 11, 0);
    ck_assert_int_eq (zmqobs_socket_peers (rs, p, 4, &other), 0);
    ck_assert_uint_eq (other.msgs_received, 5);
    ck_assert_uint_eq (other.bytes_sent, 11);
    /* off again: ENOENT, and the wrappers count as before */
    ck_assert_int_eq (zmqobs_track_peers (rs, 0, ZMQOBS_PEER_ROUTING_ID), 0);
    errno = 0;
    ck_assert_int_eq (zmqobs_socket_peers (rs, p, 4, &other), -1);
    ck_assert_int_eq (errno, ENOENT);
    zmqobs_stats_t st;
    zmqobs_record_received (rs, 1, 0);
    ck_assert_int_eq (zmqobs_socket_stats (rs, &st), 0);
    ck_assert_uint_eq (st.msgs_received, 6);
    ck_assert_uint_eq (st.msgs_sent, 1);

    zmqobs_detach (&rs);
    zmqobs_detach (&ds);
    int zero = 0;
    zmq_setsockopt (router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (dealer, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close (router);
    zmq_close (dealer);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* REP with the address key: a reply counts for the requester. Latency
 * sampling and peer tracking share the out-of-line path. */
START_TEST (test_rep_address)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = zmqobs_new (ctx, NULL);
    void *rep = zmq_socket (ctx, ZMQ_REP), *req = zmq_socket (ctx, ZMQ_REQ);
    ck_assert_int_eq (zmq_bind (rep, "tcp://127.0.0.1:0"), 0);
    char ep[64];
    size_t len = sizeof ep;
    zmq_getsockopt (rep, ZMQ_LAST_ENDPOINT, ep, &len);
    char src[96];
    snprintf (src, sizeof src, "tcp://127.0.0.7:0;%s", ep + 6);
    ck_assert_int_eq (zmq_connect (req, src), 0);
    zmqobs_socket_t *ps = zmqobs_attach (obs, rep, "rep");
    ck_assert_int_eq (zmqobs_track_peers (ps, 4, ZMQOBS_PEER_ADDRESS), 0);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq (zmq_send (req, "ping", 4, 0), 4);
        zmq_msg_t m;
        zmq_msg_init (&m);
        ck_assert_int_eq (zmqobs_msg_recv (&m, ps, 0), 4);
        zmq_msg_close (&m);
        ck_assert_int_eq (zmqobs_send (ps, "pong!", 5, 0), 5);
        char b[8];
        ck_assert_int_eq (zmq_recv (req, b, sizeof b, 0), 5);
    }
    zmqobs_peer_stats_t p[4], other;
    ck_assert_int_eq (zmqobs_socket_peers (ps, p, 4, &other), 1);
    expect_peer (p, 1, "127.0.0.7", 5, 20, 5, 25);
    ck_assert_uint_eq (other.msgs_received + other.msgs_sent, 0);
    /* latency sampling still timed its cycles (the first, then 1 in 16) */
    zmqobs_stats_t st;
    ck_assert_int_eq (zmqobs_socket_stats (ps, &st), 0);
    ck_assert_uint_eq (st.latency_count, 1);
    zmqobs_detach (&ps);
    int zero = 0;
    zmq_setsockopt (req, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close (req);
    zmq_close (rep);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* ---------------------------------------------------------------------
 * The peer named in events
 * ------------------------------------------------------------------ */

typedef struct {
    pthread_mutex_t lock;
    int connected_named, accepted_unnamed, handshake_named, handshake_unnamed;
    char connected_peer[128];
    char line[1024];
} seen_t;

static void on_event (const zmqobs_event_info_t *info, void *arg)
{
    seen_t *s = arg;
    pthread_mutex_lock (&s->lock);
    uint32_t ev = info->event->event;
    if (ev == ZMQ_EVENT_CONNECTED && info->peer) {
        s->connected_named++;
        snprintf (s->connected_peer, sizeof s->connected_peer, "%s", info->peer);
        FILE *mem = fmemopen (s->line, sizeof s->line, "w");
        zmqobs_json_log (info, mem);
        fclose (mem);
    }
    if (ev == ZMQ_EVENT_ACCEPTED && !info->peer)
        s->accepted_unnamed++;
    if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        if (strcmp (info->socket_name, "client") == 0 && info->peer)
            s->handshake_named++;
        if (strcmp (info->socket_name, "server") == 0 && !info->peer)
            s->handshake_unnamed++;
    }
    pthread_mutex_unlock (&s->lock);
}

static int seen_done (seen_t *s)
{
    pthread_mutex_lock (&s->lock);
    int done = s->connected_named == 1 && s->accepted_unnamed == 1 && s->handshake_named == 1
               && s->handshake_unnamed == 1;
    pthread_mutex_unlock (&s->lock);
    return done;
}

START_TEST (test_event_peer)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = zmqobs_new (ctx, NULL);
    seen_t seen;
    memset (&seen, 0, sizeof seen);
    pthread_mutex_init (&seen.lock, NULL);
    zmqobs_on_event (obs, on_event, &seen);
    void *server = zmq_socket (ctx, ZMQ_ROUTER), *client = zmq_socket (ctx, ZMQ_DEALER);
    zmqobs_socket_t *ss = zmqobs_attach (obs, server, "server");
    zmqobs_socket_t *cs = zmqobs_attach (obs, client, "client");
    ck_assert_int_eq (zmq_bind (server, "tcp://127.0.0.1:0"), 0);
    char ep[64];
    size_t len = sizeof ep;
    zmq_getsockopt (server, ZMQ_LAST_ENDPOINT, ep, &len);
    ck_assert_int_eq (zmq_connect (client, ep), 0);
    TESTUTIL_PUMP_UNTIL (obs, 0, seen_done (&seen), 10000);
    pthread_mutex_lock (&seen.lock);
    /* the connect side names its peer: the endpoint it connected to */
    ck_assert_str_eq (seen.connected_peer, ep);
    char want[160];
    snprintf (want, sizeof want, ",\"endpoint\":\"%s\",\"peer\":\"%s\"}\n", ep, ep);
    ck_assert_msg (contains (seen.line, want), "log line: %s", seen.line);
    pthread_mutex_unlock (&seen.lock);
    zmqobs_on_event (obs, NULL, NULL);
    zmqobs_detach (&ss);
    zmqobs_detach (&cs);
    int zero = 0;
    zmq_setsockopt (client, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close (client);
    zmq_close (server);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
    pthread_mutex_destroy (&seen.lock);
}
END_TEST

/* ---------------------------------------------------------------------
 * High-water marks, and PUB drops made visible with ZMQ_XPUB_NODROP
 * ------------------------------------------------------------------ */

START_TEST (test_hwm_gauges)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = zmqobs_new (ctx, NULL);
    void *pub = zmq_socket (ctx, ZMQ_PUB);
    int hwm = 250;
    ck_assert_int_eq (zmq_setsockopt (pub, ZMQ_RCVHWM, &hwm, sizeof hwm), 0);
    zmqobs_socket_t *ps = zmqobs_attach (obs, pub, "pub");
    zmqobs_stats_t st;
    ck_assert_int_eq (zmqobs_socket_stats (ps, &st), 0);
    ck_assert_int_eq (st.sndhwm, 1000); /* libzmq's default, read at attach */
    ck_assert_int_eq (st.rcvhwm, 250);
    hwm = 7;
    ck_assert_int_eq (zmqobs_setsockopt (ps, ZMQ_SNDHWM, &hwm, sizeof hwm), 0);
    ck_assert_int_eq (zmqobs_socket_stats (ps, &st), 0);
    ck_assert_int_eq (st.sndhwm, 7);
    /* set behind the library's back: the gauge keeps what it read */
    hwm = 9;
    ck_assert_int_eq (zmq_setsockopt (pub, ZMQ_SNDHWM, &hwm, sizeof hwm), 0);
    ck_assert_int_eq (zmqobs_socket_stats (ps, &st), 0);
    ck_assert_int_eq (st.sndhwm, 7);
    /* errors come back as zmq_setsockopt's */
    errno = 0;
    ck_assert_int_eq (zmqobs_setsockopt (ps, ZMQ_SNDHWM, &hwm, 1), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_setsockopt (NULL, ZMQ_SNDHWM, &hwm, sizeof hwm), -1);
    ck_assert_int_eq (errno, ENOTSOCK);
    /* setting either through the library reads both again */
    hwm = 0;
    ck_assert_int_eq (zmqobs_setsockopt (ps, ZMQ_RCVHWM, &hwm, sizeof hwm), 0);
    static char buf[1 << 15];
    ck_assert_int_gt (zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, buf, sizeof buf), 0);
    ck_assert (contains (buf, "\nzmq_sndhwm{socket=\"pub\",type=\"PUB\"} 9\n"));
    ck_assert (contains (buf, "\nzmq_rcvhwm{socket=\"pub\",type=\"PUB\"} 0\n"));
    ck_assert_int_gt (zmqobs_format (obs, ZMQOBS_FORMAT_JSON, buf, sizeof buf), 0);
    ck_assert (contains (buf, "\"sndhwm\":9,\"rcvhwm\":0,"));
    zmqobs_detach (&ps);
    zmq_close (pub);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* A slow subscriber: without ZMQ_XPUB_NODROP every send succeeds and
 * libzmq drops what does not fit, silently; with it the sends beyond the
 * high-water mark fail with EAGAIN, which zmq_would_block_total counts. */
static void slow_subscriber (int nodrop, int *sent_ok, int *eagain, int *delivered,
                             uint64_t *would_block)
{
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = zmqobs_new (ctx, NULL);
    void *xpub = zmq_socket (ctx, ZMQ_XPUB), *sub = zmq_socket (ctx, ZMQ_SUB);
    int hwm = 4;
    zmq_setsockopt (sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmqobs_socket_t *xs = zmqobs_attach (obs, xpub, "xpub");
    ck_assert_int_eq (zmqobs_setsockopt (xs, ZMQ_SNDHWM, &hwm, sizeof hwm), 0);
    ck_assert_int_eq (zmqobs_setsockopt (xs, ZMQ_XPUB_NODROP, &nodrop, sizeof nodrop), 0);
    ck_assert_int_eq (zmq_bind (xpub, "inproc://slow"), 0);
    ck_assert_int_eq (zmq_connect (sub, "inproc://slow"), 0);
    ck_assert_int_eq (zmq_setsockopt (sub, ZMQ_SUBSCRIBE, "", 0), 0);
    char b[8];
    ck_assert_int_eq (zmqobs_recv (xs, b, sizeof b, 0), 1); /* the subscription */
    *sent_ok = *eagain = *delivered = 0;
    for (int i = 0; i < 100; i++) {
        if (zmqobs_send (xs, "tick", 4, ZMQ_DONTWAIT) == 4)
            (*sent_ok)++;
        else if (errno == EAGAIN)
            (*eagain)++;
    }
    while (zmq_recv (sub, b, sizeof b, ZMQ_DONTWAIT) == 4)
        (*delivered)++;
    zmqobs_stats_t st;
    ck_assert_int_eq (zmqobs_socket_stats (xs, &st), 0);
    *would_block = st.errors[ZMQOBS_OP_SEND][0];
    ck_assert_uint_eq (st.msgs_sent, (uint64_t) *sent_ok);
    ck_assert_int_eq (st.sndhwm, 4);
    zmqobs_detach (&xs);
    int zero = 0;
    zmq_setsockopt (xpub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close (xpub);
    zmq_close (sub);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}

START_TEST (test_xpub_nodrop)
{
    testutil_watchdog (30);
    int ok, eagain, delivered;
    uint64_t wb;
    slow_subscriber (0, &ok, &eagain, &delivered, &wb);
    /* silent drops: all 100 "sent", fewer delivered, nothing counted */
    ck_assert_int_eq (ok, 100);
    ck_assert_int_eq (eagain, 0);
    ck_assert_int_lt (delivered, 100);
    ck_assert_uint_eq (wb, 0);
    slow_subscriber (1, &ok, &eagain, &delivered, &wb);
    /* no drop: what did not fit was refused, and counted */
    ck_assert_int_lt (ok, 100);
    ck_assert_int_eq (ok + eagain, 100);
    ck_assert_int_eq (delivered, ok);
    ck_assert_uint_eq (wb, (uint64_t) eagain);
}
END_TEST

int main (void)
{
    Suite *suite = suite_create ("peers");
    TCase *tc = testutil_tcase (suite, "peers", 120);
    tcase_add_test (tc, test_routing_id_exact);
    tcase_add_test (tc, test_address_exact);
    tcase_add_test (tc, test_heavy_hitters);
    tcase_add_test (tc, test_errors_and_limits);
    tcase_add_test (tc, test_rep_address);
    tc = testutil_tcase (suite, "events", 30);
    tcase_add_test (tc, test_event_peer);
    tc = testutil_tcase (suite, "hwm", 30);
    tcase_add_test (tc, test_hwm_gauges);
    tcase_add_test (tc, test_xpub_nodrop);
    return testutil_run (suite);
}
