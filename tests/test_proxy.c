/*
 * test_proxy.c - zmqobs_proxy against libzmq's own zmq_proxy_steerable on
 * the same traffic: STATISTICS, the attached sockets' counters, capture,
 * PAUSE/RESUME/TERMINATE, requests in flight, and context termination.
 *
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <zmq.h>
#include <zmqobs.h>

#define CLIENTS 3
#define REQUESTS 5

typedef struct {
    void *fe, *be, *capture, *control; /* libzmq sockets */
    zmqobs_socket_t *fes, *bes;        /* attached (instrumented run) */
    int rc, err;
} proxy_run_t;

static void *raw_proxy (void *arg)
{
    proxy_run_t *r = arg;
    r->rc = zmq_proxy_steerable (r->fe, r->be, r->capture, r->control);
    r->err = errno;
    return NULL;
}

static void *obs_proxy (void *arg)
{
    proxy_run_t *r = arg;
    r->rc = zmqobs_proxy (r->fes, r->bes, r->capture, r->control);
    r->err = errno;
    return NULL;
}

static void *setup_sockets (void *ctx, proxy_run_t *r, const char *tag, void **ctl_peer,
                            void **cap_reader)
{
    char ep[64];
    r->fe = zmq_socket (ctx, ZMQ_ROUTER);
    r->be = zmq_socket (ctx, ZMQ_DEALER);
    r->capture = zmq_socket (ctx, ZMQ_PUSH);
    r->control = zmq_socket (ctx, ZMQ_PAIR);
    snprintf (ep, sizeof ep, "inproc://fe-%s", tag);
    ck_assert_int_eq (zmq_bind (r->fe, ep), 0);
    snprintf (ep, sizeof ep, "inproc://be-%s", tag);
    ck_assert_int_eq (zmq_bind (r->be, ep), 0);
    snprintf (ep, sizeof ep, "inproc://cap-%s", tag);
    ck_assert_int_eq (zmq_bind (r->capture, ep), 0);
    *cap_reader = zmq_socket (ctx, ZMQ_PULL);
    ck_assert_int_eq (zmq_connect (*cap_reader, ep), 0);
    snprintf (ep, sizeof ep, "inproc://ctl-%s", tag);
    ck_assert_int_eq (zmq_bind (r->control, ep), 0);
    *ctl_peer = zmq_socket (ctx, ZMQ_PAIR);
    ck_assert_int_eq (zmq_connect (*ctl_peer, ep), 0);
    return NULL;
}

/* REQ clients through the proxy to one REP worker: every request and
 * reply has a size of its own. */
static void drive (void *ctx, const char *tag)
{
    char ep[64];
    void *worker = zmq_socket (ctx, ZMQ_REP);
    snprintf (ep, sizeof ep, "inproc://be-%s", tag);
    ck_assert_int_eq (zmq_connect (worker, ep), 0);
    void *client[CLIENTS];
    snprintf (ep, sizeof ep, "inproc://fe-%s", tag);
    for (int c = 0; c < CLIENTS; c++) {
        client[c] = zmq_socket (ctx, ZMQ_REQ);
        ck_assert_int_eq (zmq_connect (client[c], ep), 0);
    }
    char buf[64], reply[64];
    memset (buf, 'q', sizeof buf);
    memset (reply, 'r', sizeof reply);
    for (int i = 0; i < REQUESTS; i++)
        for (int c = 0; c < CLIENTS; c++) {
            int n = 3 + c * 7 + i;
            ck_assert_int_eq (zmq_send (client[c], buf, (size_t) n, 0), n);
            char got[64];
            ck_assert_int_eq (zmq_recv (worker, got, sizeof got, 0), n);
            ck_assert_int_eq (zmq_send (worker, reply, (size_t) n + 10, 0), n + 10);
            ck_assert_int_eq (zmq_recv (client[c], got, sizeof got, 0), n + 10);
        }
    for (int c = 0; c < CLIENTS; c++)
        zmq_close (client[c]);
    zmq_close (worker);
}

static void statistics (void *ctl, uint64_t out[8])
{
    ck_assert_int_eq (zmq_send (ctl, "STATISTICS", 10, 0), 10);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq (zmq_recv (ctl, &out[i], sizeof out[i], 0), (int) sizeof out[i]);
        int more = 0;
        size_t sz = sizeof more;
        zmq_getsockopt (ctl, ZMQ_RCVMORE, &more, &sz);
        ck_assert_int_eq (more, i < 7);
    }
}

static int drain_count (void *pull)
{
    int n = 0;
    char b[64];
    while (zmq_recv (pull, b, sizeof b, ZMQ_DONTWAIT) >= 0)
        n++;
    return n;
}

START_TEST (test_statistics_match_libzmq)
{
    testutil_watchdog (60);
    void *ctx = zmq_ctx_new ();
    /* libzmq's proxy */
    proxy_run_t raw;
    memset (&raw, 0, sizeof raw);
    void *raw_ctl, *raw_cap;
    setup_sockets (ctx, &raw, "raw", &raw_ctl, &raw_cap);
    pthread_t t;
    pthread_create (&t, NULL, raw_proxy, &raw);
    drive (ctx, "raw");
    uint64_t want[8];
    statistics (raw_ctl, want);
    ck_assert_int_eq (zmq_send (raw_ctl, "TERMINATE", 9, 0), 9);
    pthread_join (t, NULL);
    ck_assert_int_eq (raw.rc, 0);
    int raw_captured = drain_count (raw_cap);

    /* the instrumented one, on the same traffic */
    zmqobs_t *obs = zmqobs_new (ctx, NULL);
    proxy_run_t r;
    memset (&r, 0, sizeof r);
    void *ctl, *cap;
    setup_sockets (ctx, &r, "obs", &ctl, &cap);
    r.fes = zmqobs_attach (obs, r.fe, "frontend");
    r.bes = zmqobs_attach (obs, r.be, "backend");
    ck_assert_ptr_nonnull (r.fes);
    ck_assert_ptr_nonnull (r.bes);
    pthread_create (&t, NULL, obs_proxy, &r);
    drive (ctx, "obs");
    uint64_t got[8];
    statistics (ctl, got);
    for (int i = 0; i < 8; i++)
        ck_assert_msg (got[i] == want[i], "STATISTICS[%d]: %llu, libzmq %llu", i,
                       (unsigned long long) got[i], (unsigned long long) want[i]);
    /* the values themselves: [id][empty][body] each way, 5-byte ids;
     * libzmq 4.3.4 counts a message as one, 4.3.5 counts its parts */
    uint64_t body = 0;
    for (int i = 0; i < REQUESTS; i++)
        for (int c = 0; c < CLIENTS; c++)
            body += (uint64_t) (3 + c * 7 + i);
    const uint64_t n = CLIENTS * REQUESTS;
    int major, minor, patch;
    zmq_version (&major, &minor, &patch);
    uint64_t per = major * 10000 + minor * 100 + patch >= 40305 ? 3 : 1;
    ck_assert_uint_eq (got[0], per * n);
    ck_assert_uint_eq (got[1], 5 * n + body);
    ck_assert_uint_eq (got[2], per * n);
    ck_assert_uint_eq (got[3], 5 * n + body + 10 * n);
    ck_assert_uint_eq (got[4], got[2]);
    ck_assert_uint_eq (got[5], got[3]);
    ck_assert_uint_eq (got[6], got[0]);
    ck_assert_uint_eq (got[7], got[1]);
    /* the attached sockets counted what the proxy moved */
    zmqobs_stats_t fe, be;
    ck_assert_int_eq (zmqobs_socket_stats (r.fes, &fe), 0);
    ck_assert_int_eq (zmqobs_socket_stats (r.bes, &be), 0);
    ck_assert_uint_eq (fe.msgs_received, 3 * n);
    ck_assert_uint_eq (fe.bytes_received, got[1]);
    ck_assert_uint_eq (fe.msgs_sent, 3 * n);
    ck_assert_uint_eq (fe.bytes_sent, got[3]);
    ck_assert_uint_eq (be.msgs_received, 3 * n);
    ck_assert_uint_eq (be.bytes_received, got[5]);
    ck_assert_uint_eq (be.msgs_sent, 3 * n);
    ck_assert_uint_eq (be.bytes_sent, got[7]);
    ck_assert_int_eq (fe.proxy, 1);
    ck_assert_int_eq (fe.proxy_in_flight, 0);
    ck_assert_int_eq (be.proxy, 0);
    /* every part went to capture too, as with libzmq's; 4.3.4 copies
     * the control commands as well (libzmq's run had STATISTICS and
     * TERMINATE by now, this one STATISTICS) */
    int commands = per == 1;
    ck_assert_int_eq (raw_captured, (int) (6 * n) + 2 * commands);
    ck_assert_int_eq (drain_count (cap), (int) (6 * n) + commands);

    /* PAUSE holds a request back, RESUME lets it through */
    ck_assert_int_eq (zmq_send (ctl, "PAUSE", 5, 0), 5);
    void *client = zmq_socket (ctx, ZMQ_REQ), *worker = zmq_socket (ctx, ZMQ_REP);
    zmq_connect (client, "inproc://fe-obs");
    zmq_connect (worker, "inproc://be-obs");
    ck_assert_int_eq (zmq_send (client, "held", 4, 0), 4);
    uint64_t paused[8];
    statistics (ctl, paused); /* answered while paused: nothing moved */
    ck_assert_uint_eq (paused[0], got[0]);
    ck_assert_int_eq (zmq_send (ctl, "RESUME", 6, 0), 6);
    char b[16];
    ck_assert_int_eq (zmq_recv (worker, b, sizeof b, 0), 4);
    ck_assert_int_eq (zmq_send (worker, "done", 4, 0), 4);
    ck_assert_int_eq (zmq_recv (client, b, sizeof b, 0), 4);
    /* an unknown command is ignored (libzmq 4.3.4 aborts on it) */
    ck_assert_int_eq (zmq_send (ctl, "BOGUS", 5, 0), 5);
    ck_assert_int_eq (zmq_send (ctl, "TERMINATE", 9, 0), 9);
    pthread_join (t, NULL);
    ck_assert_int_eq (r.rc, 0);

    static char text[1 << 15];
    ck_assert_int_gt (zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, text, sizeof text), 0);
    ck_assert (strstr (text, "\nzmq_proxy_in_flight{socket=\"frontend\",type=\"ROUTER\"} 0\n"));
    ck_assert (!strstr (text, "zmq_proxy_in_flight{socket=\"backend\""));

    zmq_close (client);
    zmq_close (worker);
    zmqobs_detach (&r.fes);
    zmqobs_detach (&r.bes);
    void *socks[] = {raw.fe, raw.be, raw.capture, raw.control, raw_ctl, raw_cap,
                     r.fe,   r.be,   r.capture,   r.control,   ctl,     cap};
    for (size_t i = 0; i < sizeof socks / sizeof socks[0]; i++)
        zmq_close (socks[i]);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

static int64_t in_flight (zmqobs_socket_t *s)
{
    zmqobs_stats_t st;
    zmqobs_socket_stats (s, &st);
    return st.proxy_in_flight;
}

/* Requests the backend holds show up in zmq_proxy_in_flight; the gauge
 * returns to 0 as the replies come back. The context's termination ends
 * the proxy with ETERM. */
START_TEST (test_in_flight_and_eterm)
{
    testutil_watchdog (60);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = zmqobs_new (ctx, NULL);
    proxy_run_t r;
    memset (&r, 0, sizeof r);
    r.fe = zmq_socket (ctx, ZMQ_ROUTER);
    r.be = zmq_socket (ctx, ZMQ_DEALER);
    zmq_bind (r.fe, "inproc://fe-fl");
    zmq_bind (r.be, "inproc://be-fl");
    r.fes = zmqobs_attach (obs, r.fe, "fe");
    r.bes = zmqobs_attach (obs, r.be, "be");
    pthread_t t;
    pthread_create (&t, NULL, obs_proxy, &r);
    /* a DEALER worker that answers when told to */
    void *worker = zmq_socket (ctx, ZMQ_DEALER);
    zmq_connect (worker, "inproc://be-fl");
    void *client[CLIENTS];
    for (int c = 0; c < CLIENTS; c++) {
        client[c] = zmq_socket (ctx, ZMQ_REQ);
        zmq_connect (client[c], "inproc://fe-fl");
        ck_assert_int_eq (zmq_send (client[c], "work", 4, 0), 4);
    }
    zmq_msg_t held[CLIENTS][3];
    for (int c = 0; c < CLIENTS; c++)
        for (int k = 0; k < 3; k++) { /* [id][empty][body] */
            zmq_msg_init (&held[c][k]);
            ck_assert_int_ge (zmq_msg_recv (&held[c][k], worker, 0), 0);
            ck_assert_int_eq (zmq_msg_more (&held[c][k]), k < 2);
        }
    TESTUTIL_PUMP_UNTIL (obs, 0, in_flight (r.fes) == CLIENTS, 10000);
    for (int c = 0; c < CLIENTS; c++) {
        for (int k = 0; k < 3; k++)
            ck_assert_int_ge (zmq_msg_send (&held[c][k], worker, k < 2 ? ZMQ_SNDMORE : 0), 0);
        TESTUTIL_PUMP_UNTIL (obs, 0, in_flight (r.fes) == CLIENTS - 1 - c, 10000);
    }
    char b[8];
    for (int c = 0; c < CLIENTS; c++) {
        ck_assert_int_eq (zmq_recv (client[c], b, sizeof b, 0), 4);
        zmq_close (client[c]);
    }
    zmq_close (worker);
    /* shutdown wakes the proxy; it returns -1 with ETERM, as libzmq's;
     * only then may the sockets change hands again */
    zmq_ctx_shutdown (ctx);
    pthread_join (t, NULL);
    ck_assert_int_eq (r.rc, -1);
    ck_assert_int_eq (r.err, ETERM);
    zmqobs_detach (&r.fes);
    zmqobs_detach (&r.bes);
    zmqobs_destroy (&obs);
    zmq_close (r.fe);
    zmq_close (r.be);
    zmq_ctx_term (ctx);
}
END_TEST

START_TEST (test_bad_arguments)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *a = zmqobs_new (ctx, NULL), *b = zmqobs_new (ctx, NULL);
    void *s1 = zmq_socket (ctx, ZMQ_ROUTER), *s2 = zmq_socket (ctx, ZMQ_DEALER);
    zmqobs_socket_t *x = zmqobs_attach (a, s1, "x"), *y = zmqobs_attach (b, s2, "y");
    errno = 0;
    ck_assert_int_eq (zmqobs_proxy (NULL, y, NULL, NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_proxy (x, x, NULL, NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0; /* sockets of two observers */
    ck_assert_int_eq (zmqobs_proxy (x, y, NULL, NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
    zmqobs_detach (&x);
    zmqobs_detach (&y);
    zmq_close (s1);
    zmq_close (s2);
    zmqobs_destroy (&a);
    zmqobs_destroy (&b);
    zmq_ctx_term (ctx);
}
END_TEST

int main (void)
{
    Suite *suite = suite_create ("proxy");
    TCase *tc = testutil_tcase (suite, "proxy", 60);
    tcase_add_test (tc, test_statistics_match_libzmq);
    tcase_add_test (tc, test_in_flight_and_eterm);
    tcase_add_test (tc, test_bad_arguments);
    return testutil_run (suite);
}
