/*
 * test_overview.c - the observer-wide view: zmqobs_foreach_socket (attach
 * order, early stop, what its callback may call, detaches under it, walks
 * from an event callback, a thread attaching and detaching while another
 * enumerates), and zmqobs_total_stats (exact totals over three sockets
 * with known traffic, merged window quantiles against a hand-computed
 * nearest rank, failed allocations), plus the totals section of the text
 * report.
 *
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"
#include "internal.h"

#include <pthread.h>

static void *ctx;
static zmqobs_t *obs;

static zmqobs_t *new_observer (uint32_t ring, int host_driven)
{
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.latency_sample_every = ZMQOBS_SAMPLE_NEVER;
    o.ring_capacity = ring;
    o.host_driven = host_driven;
    o.no_process_metrics = 1;
    return zmqobs_new (ctx, &o);
}

static void setup (void)
{
    testutil_watchdog (60);
    ctx = zmq_ctx_new ();
    ck_assert_ptr_nonnull (ctx);
    obs = new_observer (64, 0);
    ck_assert_ptr_nonnull (obs);
}

static void teardown (void)
{
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}

static void close_socket (void *zs)
{
    int linger = 0;
    zmq_setsockopt (zs, ZMQ_LINGER, &linger, sizeof linger);
    ck_assert_int_eq (zmq_close (zs), 0);
}

/* Names seen by a walk, in order. */
typedef struct {
    char names[16][ZMQOBS_NAME_MAX + 1];
    int n;
    int stop_at; /* return stop_rc at this visit (1-based); 0 = never */
    int stop_rc;
} seen_t;

static int record_name (const zmqobs_stats_t *st, void *arg)
{
    seen_t *seen = arg;
    ck_assert_int_lt (seen->n, 16);
    snprintf (seen->names[seen->n], sizeof seen->names[0], "%s", st->name);
    seen->n++;
    if (seen->n == seen->stop_at) {
        errno = EPERM;
        return seen->stop_rc;
    }
    return 0;
}

static int never_called (const zmqobs_stats_t *st, void *arg)
{
    (void) st;
    (void) arg;
    ck_abort_msg ("callback called with no socket attached");
    return 0;
}

/* ------------------------------------------------------------------------ */

START_TEST (test_null_arguments)
{
    zmqobs_stats_t st;
    errno = 0;
    ck_assert_int_eq (zmqobs_foreach_socket (NULL, record_name, NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_foreach_socket (obs, NULL, NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_total_stats (NULL, &st), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_total_stats (obs, NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
}
END_TEST

START_TEST (test_no_sockets)
{
    ck_assert_int_eq (zmqobs_foreach_socket (obs, never_called, NULL), 0);
    zmqobs_stats_t st;
    memset (&st, 0xab, sizeof st);
    ck_assert_int_eq (zmqobs_total_stats (obs, &st), 0);
    ck_assert_str_eq (st.name, "*");
    ck_assert_int_eq (st.type, -1);
    ck_assert_uint_eq (st.attached_ns, 0);
    ck_assert_uint_eq (st.uptime_ns, 0);
    ck_assert_uint_eq (st.msgs_sent, 0);
    ck_assert_int_eq (st.connections, 0);
    ck_assert_int_eq (st.monitor_up, 1);
    ck_assert_uint_eq (st.window.count, 0);
    ck_assert_uint_eq (st.window.p50_ns, 0);
    ck_assert_uint_eq (st.latency_count, 0);
    /* the observer's default bounds: 10 us .. 25 s */
    ck_assert_uint_eq (st.bucket_count, 20);
    ck_assert_uint_eq (st.bounds_ns[0], 10000);
    ck_assert_uint_eq (st.bounds_ns[19], 25000000000ull);
    ck_assert_uint_eq (st.last_error_event, 0);
    ck_assert_str_eq (st.last_error_endpoint, "");
}
END_TEST

START_TEST (test_attach_order_and_early_stop)
{
    void *zs[6];
    zmqobs_socket_t *s[6];
    char name[8];
    for (int i = 0; i < 5; i++) {
        zs[i] = zmq_socket (ctx, ZMQ_PAIR);
        /* names whose hash order differs from attach order */
        snprintf (name, sizeof name, "%c", "qbzam"[i]);
        s[i] = zmqobs_attach (obs, zs[i], name);
        ck_assert_ptr_nonnull (s[i]);
    }
    zmqobs_detach (&s[1]);
    zs[5] = zmq_socket (ctx, ZMQ_PAIR);
    s[5] = zmqobs_attach (obs, zs[5], "b"); /* the detached name, last now */
    ck_assert_ptr_nonnull (s[5]);

    seen_t seen = {.n = 0};
    ck_assert_int_eq (zmqobs_foreach_socket (obs, record_name, &seen), 0);
    ck_assert_int_eq (seen.n, 5);
    const char *want[5] = {"q", "z", "a", "m", "b"};
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq (seen.names[i], want[i]);

    /* stops at the third socket and returns the callback's value */
    seen = (seen_t) {.stop_at = 3, .stop_rc = 7};
    ck_assert_int_eq (zmqobs_foreach_socket (obs, record_name, &seen), 7);
    ck_assert_int_eq (seen.n, 3);
    ck_assert_str_eq (seen.names[2], "a");
    /* a -1 from the callback comes back with the callback's errno */
    seen = (seen_t) {.stop_at = 1, .stop_rc = -1};
    errno = 0;
    ck_assert_int_eq (zmqobs_foreach_socket (obs, record_name, &seen), -1);
    ck_assert_int_eq (errno, EPERM);
    ck_assert_int_eq (seen.n, 1);

    /* an early stop leaves nothing pinned: every block is freed by its
     * own detach (ASan and valgrind see a leak or a late free otherwise) */
    for (int i = 0; i < 6; i++) {
        if (s[i])
            ck_assert_uint_eq (s[i]->pins, 0);
        zmqobs_detach (&s[i]);
        close_socket (zs[i]);
    }
    ck_assert_int_eq (zmqobs_socket_count (obs), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * What the callback may call
 * ---------------------------------------------------------------------- */

typedef struct {
    zmqobs_socket_t *s[4];
    void *zs[5];
    zmqobs_socket_t *late; /* attached from inside the callback */
    int visits;
    char names[8][ZMQOBS_NAME_MAX + 1];
} reentry_t;

static int count_visit (const zmqobs_stats_t *st, void *arg)
{
    (void) st;
    (*(int *) arg)++;
    return 0;
}

static int reenter (const zmqobs_stats_t *st, void *arg)
{
    reentry_t *r = arg;
    snprintf (r->names[r->visits], sizeof r->names[0], "%s", st->name);
    r->visits++;
    /* formatting takes the scrape lock: none is held here */
    char buf[8192];
    int len = zmqobs_format (obs, ZMQOBS_FORMAT_TEXT, buf, sizeof buf);
    ck_assert_int_gt (len, 0);
    ck_assert_int_lt (len, (int) sizeof buf);
    ck_assert_ptr_nonnull (strstr (buf, "totals over "));
    len = zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, NULL, 0);
    ck_assert_int_gt (len, 0);
    zmqobs_stats_t total;
    ck_assert_int_eq (zmqobs_total_stats (obs, &total), 0);
    int inner = 0;
    ck_assert_int_eq (zmqobs_foreach_socket (obs, count_visit, &inner), 0);
    ck_assert_int_eq (inner, zmqobs_socket_count (obs));
    ck_assert_int_ge (zmqobs_ready (obs, NULL, 0), 0);

    if (strcmp (st->name, "first") == 0) {
        /* a socket not reached yet is detached: never visited */
        zmqobs_detach (&r->s[2]);
        /* one attached now: not visited by this walk */
        r->late = zmqobs_attach (obs, r->zs[4], "late");
        ck_assert_ptr_nonnull (r->late);
    } else if (strcmp (st->name, "second") == 0) {
        /* the socket being visited: the walk goes on past it */
        zmqobs_detach (&r->s[1]);
        ck_assert_int_eq (zmqobs_socket_count (obs), 3);
    }
    return 0;
}

START_TEST (test_callback_may_call_the_library)
{
    reentry_t r;
    memset (&r, 0, sizeof r);
    static const char *const names[4] = {"first", "second", "third", "fourth"};
    for (int i = 0; i < 5; i++)
        r.zs[i] = zmq_socket (ctx, ZMQ_PAIR);
    for (int i = 0; i < 4; i++) {
        r.s[i] = zmqobs_attach (obs, r.zs[i], names[i]);
        ck_assert_ptr_nonnull (r.s[i]);
    }
    ck_assert_int_eq (zmqobs_foreach_socket (obs, reenter, &r), 0);
    ck_assert_int_eq (r.visits, 3);
    ck_assert_str_eq (r.names[0], "first");
    ck_assert_str_eq (r.names[1], "second");
    ck_assert_str_eq (r.names[2], "fourth");
    ck_assert_ptr_null (r.s[1]);
    ck_assert_ptr_null (r.s[2]);

    /* a second walk sees the late socket, last */
    seen_t seen = {.n = 0};
    ck_assert_int_eq (zmqobs_foreach_socket (obs, record_name, &seen), 0);
    ck_assert_int_eq (seen.n, 3);
    ck_assert_str_eq (seen.names[0], "first");
    ck_assert_str_eq (seen.names[1], "fourth");
    ck_assert_str_eq (seen.names[2], "late");

    zmqobs_detach (&r.s[0]);
    zmqobs_detach (&r.s[3]);
    zmqobs_detach (&r.late);
    for (int i = 0; i < 5; i++)
        close_socket (r.zs[i]);
}
END_TEST

/* From an event callback: the walk and the totals take no lock the
 * draining path holds while it calls back. */
typedef struct {
    zmqobs_t *obs;
    int listening; /* LISTENING events seen */
    int visits;    /* sockets the walks inside the callback visited */
    int totals_ok; /* zmqobs_total_stats calls that returned 0 */
} in_callback_t;

static void walk_in_callback (const zmqobs_event_info_t *info, void *arg)
{
    in_callback_t *c = arg;
    if (info->event->event != ZMQ_EVENT_LISTENING)
        return;
    int visits = 0;
    if (zmqobs_foreach_socket (c->obs, count_visit, &visits) == 0)
        __atomic_add_fetch (&c->visits, visits, __ATOMIC_RELAXED);
    zmqobs_stats_t t;
    if (zmqobs_total_stats (c->obs, &t) == 0 && t.msgs_sent == 2)
        __atomic_add_fetch (&c->totals_ok, 1, __ATOMIC_RELAXED);
    /* release: the test reads the counts above once it sees this */
    __atomic_add_fetch (&c->listening, 1, __ATOMIC_RELEASE);
}

static void walk_from_event_callback (int host_driven)
{
    zmqobs_t *o = host_driven ? new_observer (64, 1) : obs;
    ck_assert_ptr_nonnull (o);
    in_callback_t c = {.obs = o};
    void *za = zmq_socket (ctx, ZMQ_PULL), *zb = zmq_socket (ctx, ZMQ_PULL);
    zmqobs_socket_t *a = zmqobs_attach (o, za, "a"), *b = zmqobs_attach (o, zb, "b");
    ck_assert_ptr_nonnull (a);
    ck_assert_ptr_nonnull (b);
    zmqobs_record_sent (a, 1, 0);
    zmqobs_record_sent (b, 1, 0);
    ck_assert_int_eq (zmqobs_on_event (o, walk_in_callback, &c), 0);
    ck_assert_int_eq (zmq_bind (za, "tcp://127.0.0.1:*"), 0);
    ck_assert_int_eq (zmq_bind (zb, "tcp://127.0.0.1:*"), 0);
    TESTUTIL_PUMP_UNTIL (o, host_driven, __atomic_load_n (&c.listening, __ATOMIC_ACQUIRE) == 2,
                         testutil_scaled (10000));
    ck_assert_int_eq (zmqobs_on_event (o, NULL, NULL), 0);
    ck_assert_int_eq (c.visits, 4);
    ck_assert_int_eq (c.totals_ok, 2);
    zmqobs_detach (&a);
    zmqobs_detach (&b);
    if (host_driven)
        zmqobs_destroy (&o);
    close_socket (za);
    close_socket (zb);
}

START_TEST (test_walk_from_event_callback)
{
    walk_from_event_callback (0);
}
END_TEST

START_TEST (test_walk_from_event_callback_host_driven)
{
    walk_from_event_callback (1);
}
END_TEST

/* ------------------------------------------------------------------------
 * Totals
 * ---------------------------------------------------------------------- */

static zmqobs_stats_t stats_of (zmqobs_socket_t *s)
{
    zmqobs_stats_t st;
    ck_assert_int_eq (zmqobs_socket_stats (s, &st), 0);
    return st;
}

/* Three sockets with known traffic: a PAIR bound on tcp (a), a PAIR
 * connected to it (b), a PUSH with no peer (c). */
START_TEST (test_exact_totals)
{
    void *za = zmq_socket (ctx, ZMQ_PAIR), *zb = zmq_socket (ctx, ZMQ_PAIR);
    void *zc = zmq_socket (ctx, ZMQ_PUSH);
    zmqobs_socket_t *a = zmqobs_attach (obs, za, "a");
    zmqobs_socket_t *b = zmqobs_attach (obs, zb, "b");
    zmqobs_socket_t *c = zmqobs_attach (obs, zc, "c");
    ck_assert_ptr_nonnull (a);
    ck_assert_ptr_nonnull (b);
    ck_assert_ptr_nonnull (c);
    /* fixed attach times: the earliest is b's */
    a->attached_wall_ns = 3000;
    b->attached_wall_ns = 1000;
    c->attached_wall_ns = 2000;

    ck_assert_int_eq (zmq_bind (za, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    size_t eplen = sizeof ep;
    ck_assert_int_eq (zmq_getsockopt (za, ZMQ_LAST_ENDPOINT, ep, &eplen), 0);
    ck_assert_int_eq (zmq_connect (zb, ep), 0);
    TESTUTIL_PUMP_UNTIL (obs, 0, stats_of (a).connections == 1 && stats_of (b).connections == 1,
                         testutil_scaled (10000));

    /* a -> b: 5 messages of 3 bytes; b -> a: 2 of 10 */
    char buf[32];
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq (zmqobs_send (a, "abc", 3, 0), 3);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq (zmqobs_recv (b, buf, sizeof buf, 0), 3);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq (zmqobs_send (b, "0123456789", 10, 0), 10);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq (zmqobs_recv (a, buf, sizeof buf, 0), 10);
    /* c: 4 messages of 7 bytes by the record call, real errors */
    for (int i = 0; i < 4; i++)
        zmqobs_record_sent (c, 7, 0);
    ck_assert_int_eq (zmqobs_send (c, "x", 1, ZMQ_DONTWAIT), -1);
    ck_assert_int_eq (errno, EAGAIN);
    ck_assert_int_eq (zmqobs_recv (c, buf, sizeof buf, ZMQ_DONTWAIT), -1);
    ck_assert_int_eq (errno, ENOTSUP);
    zmqobs_record_error (a, ZMQOBS_OP_SEND, EFSM);
    zmqobs_record_error (a, ZMQOBS_OP_SEND, EFSM);
    zmqobs_record_error (b, ZMQOBS_OP_RECV, ETERM);
    zmqobs_set_queue_depth (a, 5);
    zmqobs_set_queue_depth (b, -2);
    zmqobs_set_queue_depth (c, 10);
    zmqobs_record_latency (a, 1000);
    zmqobs_record_latency (a, 2000);
    zmqobs_record_latency (b, 30000);
    zmqobs_record_latency (c, 20000000000ull);
    /* c has no endpoint, so its monitor writes nothing: set what no
     * healthy socket produces, as the draining thread would */
    zmqobs_mon_block_t *m = &c->mon;
    STORE (&m->reconnects, 4);
    STORE (&m->events[zmqobs__event_bit (ZMQ_EVENT_CONNECT_RETRIED)], 4);
    STORE (&m->malformed, 3);
    unsigned auth = zmqobs__handshake_slot (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400);
    STORE (&m->handshake_failures[auth], 2);

    zmqobs_stats_t sa = stats_of (a), sb = stats_of (b), sc = stats_of (c), t;
    ck_assert_int_eq (zmqobs_total_stats (obs, &t), 0);
    ck_assert_str_eq (t.name, "*");
    ck_assert_int_eq (t.type, -1);
    ck_assert_uint_eq (t.attached_ns, 1000);
    ck_assert_uint_ge (t.uptime_ns, sb.uptime_ns);
    ck_assert_uint_eq (t.msgs_sent, 5 + 2 + 4);
    ck_assert_uint_eq (t.bytes_sent, 15 + 20 + 28);
    ck_assert_uint_eq (t.msgs_received, 5 + 2);
    ck_assert_uint_eq (t.bytes_received, 15 + 20);
    ck_assert_uint_eq (t.errors[ZMQOBS_OP_SEND][zmqobs__errno_slot (EFSM)], 2);
    ck_assert_uint_eq (t.errors[ZMQOBS_OP_RECV][zmqobs__errno_slot (ETERM)], 1);
    ck_assert_uint_eq (t.errors[ZMQOBS_OP_SEND][zmqobs__errno_slot (EAGAIN)], 1);
    ck_assert_uint_eq (t.errors[ZMQOBS_OP_RECV][zmqobs__errno_slot (ENOTSUP)], 1);
    uint64_t errs = 0;
    for (int op = 0; op < 2; op++)
        for (int i = 0; i < ZMQOBS_ERRNO_SLOTS; i++)
            errs += t.errors[op][i];
    ck_assert_uint_eq (errs, 5);
    ck_assert_int_eq (t.queue_depth, 13);
    ck_assert_int_eq (t.connections, 2);
    ck_assert_uint_eq (t.listening, 1);
    ck_assert_uint_eq (t.reconnects, 4);
    ck_assert_uint_eq (t.malformed_events, 3);
    ck_assert_uint_eq (t.handshake_failures[auth], 2);
    ck_assert_int_eq (t.monitor_up, 1);
    ck_assert_uint_eq (t.events[zmqobs__event_bit (ZMQ_EVENT_LISTENING)], 1);
    ck_assert_uint_eq (t.events[zmqobs__event_bit (ZMQ_EVENT_ACCEPTED)], 1);
    ck_assert_uint_eq (t.events[zmqobs__event_bit (ZMQ_EVENT_CONNECTED)], 1);
    ck_assert_uint_eq (t.events[zmqobs__event_bit (ZMQ_EVENT_HANDSHAKE_SUCCEEDED)], 2);
    ck_assert_uint_eq (t.events[zmqobs__event_bit (ZMQ_EVENT_CONNECT_RETRIED)], 4);
    /* every event (CONNECT_DELAYED comes or not, as the kernel has it):
     * the sum of the sockets' counts, the sockets having settled */
    for (int i = 0; i < ZMQOBS_EVENT_SLOTS; i++)
        ck_assert_uint_eq (t.events[i], sa.events[i] + sb.events[i] + sc.events[i]);
    /* histogram: 1 us and 2 us in the first bucket (10 us), 30 us in the
     * third (50 us), 20 s in the last bounded one (25 s) */
    ck_assert_uint_eq (t.bucket_count, 20);
    ck_assert_uint_eq (t.buckets[0], 2);
    ck_assert_uint_eq (t.buckets[2], 1);
    ck_assert_uint_eq (t.buckets[19], 1);
    ck_assert_uint_eq (t.buckets[20], 0);
    ck_assert_uint_eq (t.latency_count, 4);
    ck_assert_uint_eq (t.latency_sum_ns, 20000033000ull);
    ck_assert_uint_eq (t.window.count, 4);
    ck_assert_uint_eq (t.window.min_ns, 1000);
    ck_assert_uint_eq (t.window.max_ns, 20000000000ull);

    /* the report's totals section says the same */
    char text[8192];
    int len = zmqobs_format (obs, ZMQOBS_FORMAT_TEXT, text, sizeof text);
    ck_assert_int_gt (len, 0);
    ck_assert_int_lt (len, (int) sizeof text);
    ck_assert_msg (strstr (text, "\ntotals over 3 sockets\n"
                                 "  connections     2 established (CONNECTED 1, ACCEPTED 1), "
                                 "0 disconnected\n"
                                 "  errors          EAGAIN send 1, EFSM send 2, ETERM recv 1, "
                                 "ENOTSUP recv 1\n")
                       != NULL,
                   "totals section not found in:\n%s", text);

    /* a stopped monitor shows in the totals */
    STORE (&c->mon.monitor_up, 0);
    ck_assert_int_eq (zmqobs_total_stats (obs, &t), 0);
    ck_assert_int_eq (t.monitor_up, 0);
    STORE (&c->mon.monitor_up, 1);

    zmqobs_detach (&a);
    zmqobs_detach (&b);
    zmqobs_detach (&c);
    close_socket (za);
    close_socket (zb);
    close_socket (zc);
}
END_TEST

/* The union of three windows (ring capacity 64):
 *   a: 10, 20, ..., 1000 recorded; its window keeps the last 64,
 *      370, 380, ..., 1000 (sum 43,840);
 *   b: 305, 315, ..., 655, 36 samples (sum 17,280);
 *   c: 1 and 5000.
 * Sorted, the 102 samples are: 1 (rank 1); 305..365 from b (ranks 2-8);
 * 370, 375, ..., 655 interleaved (ranks 9-66: rank 9 + k is 370 + 5k);
 * 660, 670, ..., 1000 (rank 66 + j is 650 + 10j); 5000 (rank 102).
 * Nearest ranks ceil(q * 102): p50 51 -> 580, p90 92 -> 910, p95 97 ->
 * 960, p99 101 -> 1000, p99.9 102 -> 5000. Sum 66,121, mean 648. */
START_TEST (test_merged_window_quantiles)
{
    void *zs[3];
    zmqobs_socket_t *s[3];
    static const char *const names[3] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        zs[i] = zmq_socket (ctx, ZMQ_DEALER);
        s[i] = zmqobs_attach (obs, zs[i], names[i]);
        ck_assert_ptr_nonnull (s[i]);
    }
    for (uint64_t i = 1; i <= 100; i++)
        zmqobs_record_latency (s[0], 10 * i);
    for (uint64_t i = 30; i <= 65; i++)
        zmqobs_record_latency (s[1], 5 + 10 * i);
    zmqobs_record_latency (s[2], 5000);
    zmqobs_record_latency (s[2], 1);
    ck_assert_uint_eq (stats_of (s[0]).window.count, 64);
    ck_assert_uint_eq (stats_of (s[0]).window.p50_ns, 680);

    zmqobs_stats_t t;
    ck_assert_int_eq (zmqobs_total_stats (obs, &t), 0);
    ck_assert_uint_eq (t.window.count, 102);
    ck_assert_uint_eq (t.window.min_ns, 1);
    ck_assert_uint_eq (t.window.max_ns, 5000);
    ck_assert_uint_eq (t.window.p50_ns, 580);
    ck_assert_uint_eq (t.window.p90_ns, 910);
    ck_assert_uint_eq (t.window.p95_ns, 960);
    ck_assert_uint_eq (t.window.p99_ns, 1000);
    ck_assert_uint_eq (t.window.p999_ns, 5000);
    ck_assert_uint_eq (t.window.sum_ns, 66121);
    ck_assert_uint_eq (t.window.mean_ns, 648);
    /* the histogram counts every sample, the window only the recent */
    ck_assert_uint_eq (t.latency_count, 100 + 36 + 2);

    /* a socket without samples adds nothing; one detached leaves the
     * union */
    zmqobs_detach (&s[2]);
    ck_assert_int_eq (zmqobs_total_stats (obs, &t), 0);
    ck_assert_uint_eq (t.window.count, 100);
    ck_assert_uint_eq (t.window.min_ns, 305);
    ck_assert_uint_eq (t.window.max_ns, 1000);
    /* ranks 1-7 are 305..365, rank 8 + k is 370 + 5k up to 655 (rank
     * 65), then 650 + 10j at rank 65 + j: p50 -> 580, p99 -> 990 */
    ck_assert_uint_eq (t.window.p50_ns, 580);
    ck_assert_uint_eq (t.window.p99_ns, 990);
    ck_assert_uint_eq (t.window.p999_ns, 1000);
    for (int i = 0; i < 3; i++) {
        zmqobs_detach (&s[i]);
        close_socket (zs[i]);
    }
}
END_TEST

START_TEST (test_total_alloc_failures)
{
    /* host-driven: no thread of the observer allocates meanwhile */
    zmqobs_t *hd = new_observer (64, 1);
    ck_assert_ptr_nonnull (hd);
    void *z = zmq_socket (ctx, ZMQ_DEALER);
    zmqobs_socket_t *s = zmqobs_attach (hd, z, "only");
    ck_assert_ptr_nonnull (s);
    zmqobs_record_latency (s, 42);
    zmqobs_record_sent (s, 9, 0);

    zmqobs_stats_t t;
    /* 1: the samples buffer, 2: the selection's scratch */
    for (long at = 1; at <= 2; at++) {
        memset (&t, 0xab, sizeof t);
        zmqobs__alloc_count = 0;
        zmqobs__alloc_fail_at = at;
        errno = 0;
        ck_assert_int_eq (zmqobs_total_stats (hd, &t), -1);
        ck_assert_int_eq (errno, ENOMEM);
        zmqobs__alloc_fail_at = 0;
        ck_assert_uint_eq (t.msgs_sent, 0);
        ck_assert_str_eq (t.name, "");
        ck_assert_uint_eq (s->pins, 0); /* nothing left pinned */
    }
    zmqobs__alloc_count = 0;
    zmqobs__alloc_fail_at = 3; /* past the last allocation: all succeed */
    ck_assert_int_eq (zmqobs_total_stats (hd, &t), 0);
    ck_assert_int_eq (zmqobs__alloc_count, 2);
    zmqobs__alloc_fail_at = 0;
    ck_assert_uint_eq (t.msgs_sent, 1);
    ck_assert_uint_eq (t.window.count, 1);
    ck_assert_uint_eq (t.window.p99_ns, 42);

    /* enumeration never allocates */
    zmqobs__alloc_count = 0;
    zmqobs__alloc_fail_at = 1;
    int visits = 0;
    ck_assert_int_eq (zmqobs_foreach_socket (hd, count_visit, &visits), 0);
    ck_assert_int_eq (visits, 1);
    ck_assert_int_eq (zmqobs__alloc_count, 0);
    zmqobs__alloc_fail_at = 0;

    zmqobs_detach (&s);
    zmqobs_destroy (&hd);
    close_socket (z);
}
END_TEST

/* ------------------------------------------------------------------------
 * Concurrent attach and detach
 * ---------------------------------------------------------------------- */

#define CHURN_CYCLES 300
#define CHURN_LIVE 3

static int churn_done;

/* Attaches and detaches sockets it owns, CHURN_LIVE alive at a time, in
 * the order churn-0, churn-1, ...; they carry no traffic. */
static void *churn (void *arg)
{
    (void) arg;
    void *zs[CHURN_LIVE];
    zmqobs_socket_t *s[CHURN_LIVE] = {NULL};
    for (int i = 0; i < CHURN_LIVE; i++)
        zs[i] = zmq_socket (ctx, ZMQ_DEALER);
    char name[32];
    for (int i = 0; i < CHURN_CYCLES; i++) {
        int k = i % CHURN_LIVE;
        zmqobs_detach (&s[k]);
        snprintf (name, sizeof name, "churn-%d", i);
        s[k] = zmqobs_attach (obs, zs[k], name);
        if (!s[k])
            break;
    }
    for (int i = 0; i < CHURN_LIVE; i++) {
        zmqobs_detach (&s[i]);
        int linger = 0;
        zmq_setsockopt (zs[i], ZMQ_LINGER, &linger, sizeof linger);
        zmq_close (zs[i]);
    }
    __atomic_store_n (&churn_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

typedef struct {
    int fixed;     /* fixed sockets seen, in order */
    int last;      /* index of the last churn socket seen, -1 before */
    int churn;     /* churn sockets seen */
    int bad_order; /* set when a walk broke attach order */
} walk_check_t;

static int check_order (const zmqobs_stats_t *st, void *arg)
{
    walk_check_t *w = arg;
    if (strncmp (st->name, "fixed-", 6) == 0) {
        /* the fixed sockets come first, in order, with their traffic */
        if (w->churn || st->name[6] - '0' != w->fixed || st->msgs_sent != 10)
            w->bad_order = 1;
        w->fixed++;
        return 0;
    }
    int idx = atoi (st->name + 6);
    if (strncmp (st->name, "churn-", 6) != 0 || idx <= w->last || st->msgs_sent != 0)
        w->bad_order = 1;
    w->last = idx;
    w->churn++;
    return 0;
}

START_TEST (test_enumerate_while_attaching_and_detaching)
{
    void *zf[2];
    zmqobs_socket_t *fixed[2];
    char name[32];
    for (int i = 0; i < 2; i++) {
        zf[i] = zmq_socket (ctx, ZMQ_DEALER);
        snprintf (name, sizeof name, "fixed-%d", i);
        fixed[i] = zmqobs_attach (obs, zf[i], name);
        ck_assert_ptr_nonnull (fixed[i]);
        for (int j = 0; j < 10; j++)
            zmqobs_record_sent (fixed[i], 4, 0);
        zmqobs_record_latency (fixed[i], 100 + (uint64_t) i);
    }
    __atomic_store_n (&churn_done, 0, __ATOMIC_RELAXED);
    pthread_t t;
    ck_assert_int_eq (pthread_create (&t, NULL, churn, NULL), 0);
    long walks = 0;
    int done;
    do {
        done = __atomic_load_n (&churn_done, __ATOMIC_ACQUIRE);
        walk_check_t w = {.last = -1};
        ck_assert_int_eq (zmqobs_foreach_socket (obs, check_order, &w), 0);
        ck_assert_msg (!w.bad_order, "a walk broke attach order");
        ck_assert_int_eq (w.fixed, 2);
        ck_assert_int_le (w.churn, CHURN_LIVE);
        /* the churn sockets carry nothing: totals are the fixed ones' */
        zmqobs_stats_t tot;
        ck_assert_int_eq (zmqobs_total_stats (obs, &tot), 0);
        ck_assert_uint_eq (tot.msgs_sent, 20);
        ck_assert_uint_eq (tot.bytes_sent, 80);
        ck_assert_uint_eq (tot.window.count, 2);
        ck_assert_uint_eq (tot.window.p50_ns, 100);
        ck_assert_uint_eq (tot.window.p99_ns, 101);
        walks++;
    } while (!done);
    ck_assert_int_eq (pthread_join (t, NULL), 0);
    ck_assert_int_gt (walks, 0);
    ck_assert_int_eq (zmqobs_socket_count (obs), 2);
    for (int i = 0; i < 2; i++) {
        zmqobs_detach (&fixed[i]);
        close_socket (zf[i]);
    }
}
END_TEST

int main (void)
{
    Suite *s = suite_create ("overview");
    TCase *tc = testutil_tcase (s, "foreach", 30);
    tcase_add_checked_fixture (tc, setup, teardown);
    tcase_add_test (tc, test_null_arguments);
    tcase_add_test (tc, test_no_sockets);
    tcase_add_test (tc, test_attach_order_and_early_stop);
    tcase_add_test (tc, test_callback_may_call_the_library);
    tcase_add_test (tc, test_walk_from_event_callback);
    tcase_add_test (tc, test_walk_from_event_callback_host_driven);
    tc = testutil_tcase (s, "totals", 30);
    tcase_add_checked_fixture (tc, setup, teardown);
    tcase_add_test (tc, test_exact_totals);
    tcase_add_test (tc, test_merged_window_quantiles);
    tcase_add_test (tc, test_total_alloc_failures);
    tc = testutil_tcase (s, "concurrency", 60);
    tcase_add_checked_fixture (tc, setup, teardown);
    tcase_add_test (tc, test_enumerate_while_attaching_and_detaching);
    return testutil_run (s);
}
