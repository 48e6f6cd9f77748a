/*
 * test_metrics.c - the per-socket metric block: attach validation, exact
 * counts through the wrappers and record calls, errors by errno, window
 * quantiles against a sorted reference, histogram edges, automatic
 * REQ/REP latency, and concurrent writers and readers.
 *
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"
#include "internal.h"

#include <pthread.h>

static void *ctx;
static zmqobs_t *obs;

static zmqobs_t *new_observer (uint32_t sample_every, uint32_t ring, int shared)
{
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.latency_sample_every = sample_every;
    o.ring_capacity = ring;
    o.latency_shared = shared;
    o.no_process_metrics = 1;
    return zmqobs_new (ctx, &o);
}

static void setup (void)
{
    testutil_watchdog (60);
    ctx = zmq_ctx_new ();
    ck_assert_ptr_nonnull (ctx);
    obs = new_observer (0, 0, 0);
    ck_assert_ptr_nonnull (obs);
}

static void teardown (void)
{
    zmqobs_destroy (&obs);
    ck_assert_ptr_null (obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}

static zmqobs_stats_t stats_of (zmqobs_socket_t *s)
{
    zmqobs_stats_t st;
    ck_assert_int_eq (zmqobs_socket_stats (s, &st), 0);
    return st;
}

/* ------------------------------------------------------------------------ */

START_TEST (test_options_validation)
{
    zmqobs_options_t o;
    ck_assert_int_eq (zmqobs_options_init (NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null (zmqobs_new (NULL, NULL));
    ck_assert_int_eq (errno, EINVAL);

    const uint32_t bad_rings[] = {3, 1000, (1u << 20) + 1, 1u << 21};
    for (size_t i = 0; i < sizeof bad_rings / sizeof bad_rings[0]; i++) {
        zmqobs_options_init (&o);
        o.ring_capacity = bad_rings[i];
        errno = 0;
        ck_assert_ptr_null (zmqobs_new (ctx, &o));
        ck_assert_int_eq (errno, EINVAL);
    }
    const uint64_t unsorted[] = {1000, 500};
    const uint64_t dup[] = {1000, 1000};
    const uint64_t zero[] = {0, 10};
    const uint64_t huge[] = {1000, ((uint64_t) 1 << 53) + 1};
    const uint64_t *bad_bounds[] = {unsorted, dup, zero, huge};
    for (size_t i = 0; i < 4; i++) {
        zmqobs_options_init (&o);
        o.buckets_ns = bad_bounds[i];
        o.bucket_count = 2;
        errno = 0;
        ck_assert_ptr_null (zmqobs_new (ctx, &o));
        ck_assert_int_eq (errno, EINVAL);
    }
    uint64_t many[ZMQOBS_BUCKETS_MAX + 1];
    for (size_t i = 0; i < ZMQOBS_BUCKETS_MAX + 1; i++)
        many[i] = (i + 1) * 1000;
    zmqobs_options_init (&o);
    o.buckets_ns = many;
    o.bucket_count = ZMQOBS_BUCKETS_MAX + 1;
    errno = 0;
    ck_assert_ptr_null (zmqobs_new (ctx, &o));
    ck_assert_int_eq (errno, EINVAL);
    o.bucket_count = 0;
    ck_assert_ptr_null (zmqobs_new (ctx, &o));
    /* exactly the maximum is fine */
    o.bucket_count = ZMQOBS_BUCKETS_MAX;
    zmqobs_t *ok = zmqobs_new (ctx, &o);
    ck_assert_ptr_nonnull (ok);
    zmqobs_destroy (&ok);
    zmqobs_destroy (&ok); /* NULL is fine */
    zmqobs_destroy (NULL);
}
END_TEST

START_TEST (test_attach_validation)
{
    void *sock = zmq_socket (ctx, ZMQ_PAIR);
    errno = 0;
    ck_assert_ptr_null (zmqobs_attach (NULL, sock, "x"));
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null (zmqobs_attach (obs, sock, NULL));
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null (zmqobs_attach (obs, sock, ""));
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null (zmqobs_attach (obs, NULL, "x"));
    ck_assert_int_eq (errno, ENOTSOCK);
    /* a context is not a socket: libzmq's tag check says so */
    errno = 0;
    ck_assert_ptr_null (zmqobs_attach (obs, ctx, "x"));
    ck_assert_int_eq (errno, ENOTSOCK);

    char name[ZMQOBS_NAME_MAX + 2];
    memset (name, 'n', sizeof name);
    name[ZMQOBS_NAME_MAX + 1] = '\0';
    errno = 0;
    ck_assert_ptr_null (zmqobs_attach (obs, sock, name)); /* one too long */
    ck_assert_int_eq (errno, EINVAL);
    const char *bad_utf8[] = {"\xff", "ab\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        errno = 0;
        ck_assert_ptr_null (zmqobs_attach (obs, sock, bad_utf8[i]));
        ck_assert_int_eq (errno, EINVAL);
    }
    ck_assert_int_eq (zmqobs_socket_count (obs), 0);

    name[ZMQOBS_NAME_MAX] = '\0'; /* exactly the maximum */
    zmqobs_socket_t *s = zmqobs_attach (obs, sock, name);
    ck_assert_ptr_nonnull (s);
    ck_assert_str_eq (zmqobs_socket_name (s), name);
    ck_assert_ptr_eq (zmqobs_socket_handle (s), sock);
    void *other = zmq_socket (ctx, ZMQ_PAIR);
    errno = 0;
    ck_assert_ptr_null (zmqobs_attach (obs, other, name));
    ck_assert_int_eq (errno, EEXIST);
    ck_assert_int_eq (zmqobs_socket_count (obs), 1);

    /* hostile but valid names are accepted */
    const char *hostile = "quote\" back\\slash\nnewline \xe2\x9c\x93 \xf0\x9f\x98\x80";
    zmqobs_socket_t *h = zmqobs_attach (obs, other, hostile);
    ck_assert_ptr_nonnull (h);
    ck_assert_str_eq (zmqobs_socket_name (h), hostile);
    ck_assert_int_eq (zmqobs_socket_count (obs), 2);

    /* detach, then the same name and socket attach again */
    zmqobs_detach (&s);
    ck_assert_ptr_null (s);
    zmqobs_detach (&s);
    zmqobs_detach (NULL);
    s = zmqobs_attach (obs, sock, name);
    ck_assert_ptr_nonnull (s);
    zmqobs_detach (&s);
    zmqobs_detach (&h);
    ck_assert_int_eq (zmqobs_socket_count (obs), 0);
    ck_assert_int_eq (zmqobs_socket_count (NULL), -1);
    ck_assert_str_eq (zmqobs_socket_name (NULL), "");
    ck_assert_ptr_null (zmqobs_socket_handle (NULL));
    ck_assert_str_eq (zmqobs_socket_type_name (ZMQ_DEALER), "DEALER");
    ck_assert_str_eq (zmqobs_socket_type_name (-1), "UNKNOWN");
    zmq_close (sock);
    zmq_close (other);
}
END_TEST

START_TEST (test_null_socket_wrappers)
{
    char buf[4];
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    errno = 0;
    ck_assert_int_eq (zmqobs_send (NULL, "x", 1, 0), -1);
    ck_assert_int_eq (errno, ENOTSOCK);
    errno = 0;
    ck_assert_int_eq (zmqobs_recv (NULL, buf, sizeof buf, 0), -1);
    ck_assert_int_eq (errno, ENOTSOCK);
    errno = 0;
    ck_assert_int_eq (zmqobs_msg_send (&msg, NULL, 0), -1);
    ck_assert_int_eq (errno, ENOTSOCK);
    errno = 0;
    ck_assert_int_eq (zmqobs_msg_recv (&msg, NULL, 0), -1);
    ck_assert_int_eq (errno, ENOTSOCK);
    zmq_msg_close (&msg);
    /* record calls ignore NULL, the error recorder says EINVAL */
    zmqobs_record_sent (NULL, 1, 0);
    zmqobs_record_received (NULL, 1, 0);
    zmqobs_record_latency (NULL, 1);
    zmqobs_set_queue_depth (NULL, 1);
    zmqobs_add_queue_depth (NULL, 1);
    errno = 0;
    ck_assert_int_eq (zmqobs_record_error (NULL, ZMQOBS_OP_SEND, EFSM), -1);
    ck_assert_int_eq (errno, EINVAL);
    zmqobs_stats_t st;
    ck_assert_int_eq (zmqobs_socket_stats (NULL, &st), -1);
    ck_assert_int_eq (errno, EINVAL);
}
END_TEST

START_TEST (test_pair_exact_counts)
{
    void *a = zmq_socket (ctx, ZMQ_PAIR), *b = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *sa = zmqobs_attach (obs, a, "a");
    zmqobs_socket_t *sb = zmqobs_attach (obs, b, "b");
    ck_assert_ptr_nonnull (sa);
    ck_assert_ptr_nonnull (sb);
    ck_assert_int_eq (zmq_bind (a, "inproc://pair"), 0);
    ck_assert_int_eq (zmq_connect (b, "inproc://pair"), 0);

    uint64_t bytes = 0;
    char buf[300];
    memset (buf, 'p', sizeof buf);
    for (int i = 0; i < 100; i++) {
        size_t len = (size_t) (i * 3);
        ck_assert_int_eq (zmqobs_send (sa, buf, len, 0), (int) len);
        bytes += len;
    }
    /* a three-part message through zmq_msg */
    for (int part = 0; part < 3; part++) {
        zmq_msg_t msg;
        zmq_msg_init_size (&msg, 10);
        memset (zmq_msg_data (&msg), 'm', 10);
        ck_assert_int_eq (zmqobs_msg_send (&msg, sa, part < 2 ? ZMQ_SNDMORE : 0), 10);
    }
    bytes += 30;
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq (zmqobs_recv (sb, buf, sizeof buf, 0), i * 3);
    for (int part = 0; part < 3; part++) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        ck_assert_int_eq (zmqobs_msg_recv (&msg, sb, 0), 10);
        ck_assert_int_eq (zmq_msg_more (&msg), part < 2);
        zmq_msg_close (&msg);
    }
    zmqobs_stats_t st = stats_of (sa);
    ck_assert_str_eq (st.name, "a");
    ck_assert_int_eq (st.type, ZMQ_PAIR);
    ck_assert_uint_eq (st.msgs_sent, 103);
    ck_assert_uint_eq (st.bytes_sent, bytes);
    ck_assert_uint_eq (st.msgs_received, 0);
    st = stats_of (sb);
    ck_assert_uint_eq (st.msgs_received, 103);
    ck_assert_uint_eq (st.bytes_received, bytes);
    ck_assert_uint_eq (st.msgs_sent, 0);
    /* no latency was recorded on a PAIR socket */
    ck_assert_uint_eq (st.latency_count, 0);
    ck_assert_uint_eq (st.window.count, 0);

    /* a truncated recv counts the size on the wire */
    ck_assert_int_eq (zmqobs_send (sa, buf, 250, 0), 250);
    char small[8];
    ck_assert_int_eq (zmqobs_recv (sb, small, sizeof small, 0), 250);
    st = stats_of (sb);
    ck_assert_uint_eq (st.bytes_received, bytes + 250);

    /* EAGAIN is counted apart from real errors */
    errno = 0;
    ck_assert_int_eq (zmqobs_recv (sb, buf, sizeof buf, ZMQ_DONTWAIT), -1);
    ck_assert_int_eq (errno, EAGAIN); /* errno preserved through accounting */
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    ck_assert_int_eq (zmqobs_msg_recv (&msg, sb, ZMQ_DONTWAIT), -1);
    ck_assert_int_eq (errno, EAGAIN);
    zmq_msg_close (&msg);
    st = stats_of (sb);
    ck_assert_uint_eq (st.errors[ZMQOBS_OP_RECV][zmqobs__errno_slot (EAGAIN)], 2);
    ck_assert_uint_eq (st.errors[ZMQOBS_OP_SEND][zmqobs__errno_slot (EAGAIN)], 0);
    ck_assert_uint_eq (st.msgs_received, 104);

    zmqobs_detach (&sa);
    zmqobs_detach (&sb);
    zmq_close (a);
    zmq_close (b);
}
END_TEST

START_TEST (test_req_rep_efsm_and_multipart)
{
    void *rep = zmq_socket (ctx, ZMQ_REP), *req = zmq_socket (ctx, ZMQ_REQ);
    zmqobs_socket_t *srep = zmqobs_attach (obs, rep, "rep");
    zmqobs_socket_t *sreq = zmqobs_attach (obs, req, "req");
    ck_assert_int_eq (zmq_bind (rep, "inproc://rr"), 0);
    ck_assert_int_eq (zmq_connect (req, "inproc://rr"), 0);
    char buf[64];
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq (zmqobs_send (sreq, "head", 4, ZMQ_SNDMORE), 4);
        ck_assert_int_eq (zmqobs_send (sreq, "body!", 5, 0), 5);
        ck_assert_int_eq (zmqobs_recv (srep, buf, sizeof buf, 0), 4);
        ck_assert_int_eq (zmqobs_recv (srep, buf, sizeof buf, 0), 5);
        ck_assert_int_eq (zmqobs_send (srep, "ok", 2, 0), 2);
        ck_assert_int_eq (zmqobs_recv (sreq, buf, sizeof buf, 0), 2);
    }
    /* REQ may not send twice: EFSM, counted by name */
    ck_assert_int_eq (zmqobs_send (sreq, "a", 1, 0), 1);
    errno = 0;
    ck_assert_int_eq (zmqobs_send (sreq, "b", 1, 0), -1);
    ck_assert_int_eq (errno, EFSM);
    zmq_msg_t msg;
    zmq_msg_init_size (&msg, 1);
    errno = 0;
    ck_assert_int_eq (zmqobs_msg_send (&msg, sreq, 0), -1);
    ck_assert_int_eq (errno, EFSM);
    zmq_msg_close (&msg);
    /* REP may not send before receiving */
    ck_assert_int_eq (zmqobs_recv (srep, buf, sizeof buf, 0), 1);
    ck_assert_int_eq (zmqobs_send (srep, "r", 1, 0), 1);
    errno = 0;
    ck_assert_int_eq (zmqobs_send (srep, "r", 1, 0), -1);
    ck_assert_int_eq (errno, EFSM);

    zmqobs_stats_t q = stats_of (sreq), p = stats_of (srep);
    ck_assert_uint_eq (q.msgs_sent, 21);
    ck_assert_uint_eq (q.bytes_sent, 91);
    ck_assert_uint_eq (q.msgs_received, 10);
    ck_assert_uint_eq (q.bytes_received, 20);
    ck_assert_uint_eq (q.errors[ZMQOBS_OP_SEND][zmqobs__errno_slot (EFSM)], 2);
    ck_assert_uint_eq (p.msgs_received, 21);
    ck_assert_uint_eq (p.bytes_received, 91);
    ck_assert_uint_eq (p.msgs_sent, 11);
    ck_assert_uint_eq (p.errors[ZMQOBS_OP_SEND][zmqobs__errno_slot (EFSM)], 1);
    uint64_t total = 0;
    for (int i = 0; i < ZMQOBS_ERRNO_SLOTS; i++)
        total += p.errors[ZMQOBS_OP_SEND][i] + p.errors[ZMQOBS_OP_RECV][i];
    ck_assert_uint_eq (total, 1);
    zmqobs_detach (&srep);
    zmqobs_detach (&sreq);
    zmq_close (rep);
    zmq_close (req);
}
END_TEST

START_TEST (test_push_pull_and_record_calls)
{
    void *push = zmq_socket (ctx, ZMQ_PUSH), *pull = zmq_socket (ctx, ZMQ_PULL);
    zmqobs_socket_t *spush = zmqobs_attach (obs, push, "push");
    zmqobs_socket_t *spull = zmqobs_attach (obs, pull, "pull");
    ck_assert_int_eq (zmq_bind (pull, "inproc://pp"), 0);
    ck_assert_int_eq (zmq_connect (push, "inproc://pp"), 0);
    char buf[16];
    for (int i = 0; i < 500; i++) {
        ck_assert_int_eq (zmqobs_send (spush, "12345678", 8, ZMQ_SNDMORE), 8);
        ck_assert_int_eq (zmqobs_send (spush, "x", 1, 0), 1);
    }
    for (int i = 0; i < 1000; i++)
        ck_assert_int_ge (zmqobs_recv (spull, buf, sizeof buf, 0), 1);
    /* hosts doing their own I/O */
    zmqobs_record_sent (spush, 100, ZMQ_SNDMORE);
    zmqobs_record_sent (spush, 50, 0);
    zmqobs_record_received (spull, 7, 0);
    ck_assert_int_eq (zmqobs_record_error (spull, ZMQOBS_OP_RECV, ETERM), 0);
    ck_assert_int_eq (zmqobs_record_error (spull, ZMQOBS_OP_RECV, 987654), 0);
    errno = 0;
    ck_assert_int_eq (zmqobs_record_error (spull, 2, ETERM), -1);
    ck_assert_int_eq (errno, EINVAL);
    zmqobs_stats_t a = stats_of (spush), b = stats_of (spull);
    ck_assert_uint_eq (a.msgs_sent, 1002);
    ck_assert_uint_eq (a.bytes_sent, 4500 + 150);
    ck_assert_uint_eq (b.msgs_received, 1001);
    ck_assert_uint_eq (b.bytes_received, 4500 + 7);
    ck_assert_uint_eq (b.errors[ZMQOBS_OP_RECV][zmqobs__errno_slot (ETERM)], 1);
    ck_assert_uint_eq (b.errors[ZMQOBS_OP_RECV][ZMQOBS_ERRNO_SLOTS - 1], 1);

    zmqobs_set_queue_depth (spull, 42);
    ck_assert_int_eq (stats_of (spull).queue_depth, 42);
    zmqobs_add_queue_depth (spull, -50);
    ck_assert_int_eq (stats_of (spull).queue_depth, -8);
    zmqobs_detach (&spush);
    zmqobs_detach (&spull);
    zmq_close (push);
    zmq_close (pull);
}
END_TEST

/* ------------------------------------------------------------------------ */

static int cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank reference on a sorted copy. */
static uint64_t ref_rank (const uint64_t *sorted, size_t n, double q, uint64_t num, uint64_t den)
{
    (void) q;
    uint64_t r = (num * n + den - 1) / den;
    return sorted[r ? r - 1 : 0];
}

/* Feeds values through zmqobs_record_latency and checks the window
 * against a sorted copy of the last `cap` values. */
static void check_window (zmqobs_socket_t *s, const uint64_t *vals, size_t n, uint32_t cap)
{
    for (size_t i = 0; i < n; i++)
        zmqobs_record_latency (s, vals[i]);
    size_t w = n < cap ? n : cap;
    uint64_t *ref = malloc (sizeof (uint64_t) * (w ? w : 1));
    memcpy (ref, vals + (n - w), sizeof (uint64_t) * w);
    qsort (ref, w, sizeof (uint64_t), cmp_u64);
    zmqobs_stats_t st = stats_of (s);
    ck_assert_uint_eq (st.window.count, w);
    if (w) {
        uint64_t sum = 0;
        for (size_t i = 0; i < w; i++)
            sum += ref[i];
        ck_assert_uint_eq (st.window.min_ns, ref[0]);
        ck_assert_uint_eq (st.window.max_ns, ref[w - 1]);
        ck_assert_uint_eq (st.window.mean_ns, sum / w);
        ck_assert_uint_eq (st.window.p50_ns, ref_rank (ref, w, 0.5, 1, 2));
        ck_assert_uint_eq (st.window.p90_ns, ref_rank (ref, w, 0.9, 9, 10));
        ck_assert_uint_eq (st.window.p95_ns, ref_rank (ref, w, 0.95, 95, 100));
        ck_assert_uint_eq (st.window.p99_ns, ref_rank (ref, w, 0.99, 99, 100));
        ck_assert_uint_eq (st.window.p999_ns, ref_rank (ref, w, 0.999, 999, 1000));
    }
    ck_assert_uint_eq (st.latency_count, n); /* histogram keeps all time */
    free (ref);
}

START_TEST (test_window_quantiles)
{
    const uint32_t cap = 256;
    zmqobs_t *o = new_observer (0, cap, 0);
    ck_assert_ptr_nonnull (o);
    const size_t sizes[] = {1, 2, 3, 7, 100, 255, 256, 257, 1000, 5000};
    uint64_t *vals = malloc (sizeof (uint64_t) * 5000);
    uint64_t x = 88172645463325252ull;
    for (int pattern = 0; pattern < 5; pattern++) {
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            size_t n = sizes[k];
            for (size_t i = 0; i < n; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                switch (pattern) {
                case 0:
                    vals[i] = x % 10000000;
                    break; /* random */
                case 1:
                    vals[i] = 4242;
                    break; /* all equal */
                case 2:
                    vals[i] = i * 10;
                    break; /* ascending */
                case 3:
                    vals[i] = (n - i) * 10;
                    break; /* descending */
                default:
                    vals[i] = (i % 2) ? 1 : UINT64_MAX / 8192; /* two values */
                }
            }
            void *sock = zmq_socket (ctx, ZMQ_PAIR);
            zmqobs_socket_t *s = zmqobs_attach (o, sock, "w");
            ck_assert_ptr_nonnull (s);
            check_window (s, vals, n, cap);
            /* the cache must not serve stale quantiles after new samples */
            zmqobs_record_latency (s, UINT64_MAX / 2);
            zmqobs_stats_t st = stats_of (s);
            ck_assert_uint_eq (st.window.max_ns, UINT64_MAX / 2);
            zmqobs_detach (&s);
            zmq_close (sock);
        }
    }
    free (vals);
    zmqobs_destroy (&o);
}
END_TEST

START_TEST (test_window_direct)
{
    /* the selection routine against a full sort, many random sizes */
    uint64_t ring[512], sorted[512];
    void *scratch = calloc (1, zmqobs__window_scratch_size (512));
    uint64_t x = 1234567;
    for (int round = 0; round < 1000; round++) {
        size_t n = 1 + (size_t) (x % 512);
        for (size_t i = 0; i < 512; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            switch (round % 5) {
            case 0:
                ring[i] = (x >> 33) % 5;
                break; /* tiny, exact bins */
            case 1:
                ring[i] = (x >> 33) % 1000000;
                break; /* one decade */
            case 2:
                ring[i] = x >> (x % 64);
                break; /* every magnitude */
            case 3:
                ring[i] = round % 2 ? 1000000 + (x >> 60)         /* one bin */
                                    : 1000000 + (x >> 33) % 3000; /* a few */
                break;
            default:
                ring[i] = (x & 1) ? UINT64_MAX : 0;
                break; /* extremes */
            }
        }
        uint64_t head = round % 2 ? n : 512 + n; /* partial and wrapped rings */
        zmqobs_window_t w;
        zmqobs__window (ring, head, 512, scratch, &w);
        size_t m = head < 512 ? (size_t) head : 512;
        memcpy (sorted, ring, m * sizeof (uint64_t));
        qsort (sorted, m, sizeof (uint64_t), cmp_u64);
        ck_assert_uint_eq (w.count, m);
        ck_assert_uint_eq (w.p50_ns, ref_rank (sorted, m, 0, 1, 2));
        ck_assert_uint_eq (w.p90_ns, ref_rank (sorted, m, 0, 9, 10));
        ck_assert_uint_eq (w.p95_ns, ref_rank (sorted, m, 0, 95, 100));
        ck_assert_uint_eq (w.p99_ns, ref_rank (sorted, m, 0, 99, 100));
        ck_assert_uint_eq (w.p999_ns, ref_rank (sorted, m, 0, 999, 1000));
        ck_assert_uint_eq (w.min_ns, sorted[0]);
        ck_assert_uint_eq (w.max_ns, sorted[m - 1]);
        unsigned __int128 sum = 0;
        for (size_t i = 0; i < m; i++)
            sum += sorted[i];
        ck_assert_uint_eq (w.sum_ns, sum > UINT64_MAX ? UINT64_MAX : (uint64_t) sum);
        ck_assert_uint_eq (w.mean_ns, (uint64_t) (sum / m));
    }
    zmqobs_window_t w;
    zmqobs__window (ring, 0, 512, scratch, &w);
    ck_assert_uint_eq (w.count, 0);
    ck_assert_uint_eq (w.p99_ns, 0);
    free (scratch);
}
END_TEST

START_TEST (test_histogram_edges)
{
    const uint64_t bounds[] = {10, 100, 1000, 1001, 1u << 20};
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.buckets_ns = bounds;
    o.bucket_count = 5;
    o.no_process_metrics = 1;
    zmqobs_t *ob = zmqobs_new (ctx, &o);
    ck_assert_ptr_nonnull (ob);
    void *sock = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *s = zmqobs_attach (ob, sock, "h");
    /* value -> expected bucket; le is inclusive */
    const struct {
        uint64_t v;
        unsigned bucket;
    } cases[] = {
        {0, 0},
        {1, 0},
        {10, 0},
        {11, 1},
        {64, 1},
        {100, 1},
        {101, 2},
        {512, 2},
        {1000, 2},
        {1001, 3},
        {1002, 4},
        {1u << 20, 4},
        {(1u << 20) + 1, 5},
        {UINT64_MAX, 5},
    };
    uint64_t expect[6] = {0}, sum = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        zmqobs_record_latency (s, cases[i].v);
        expect[cases[i].bucket]++;
        sum += cases[i].v;
        zmqobs_stats_t st = stats_of (s);
        for (int b = 0; b < 6; b++)
            ck_assert_uint_eq (st.buckets[b], expect[b]);
    }
    zmqobs_stats_t st = stats_of (s);
    ck_assert_uint_eq (st.bucket_count, 5);
    for (int b = 0; b < 5; b++)
        ck_assert_uint_eq (st.bounds_ns[b], bounds[b]);
    ck_assert_uint_eq (st.latency_count, 14);
    (void) sum;
    ck_assert_uint_eq (st.latency_sum_ns, UINT64_MAX); /* saturated, never wraps */
    zmqobs_detach (&s);
    zmq_close (sock);
    zmqobs_destroy (&ob);
}
END_TEST

START_TEST (test_latency_sum_saturates)
{
    /* a bogus sample (end - start from a clock that stepped back) must not
     * wrap _sum: it saturates, in both recording modes */
    for (int shared = 0; shared < 2; shared++) {
        zmqobs_t *o = new_observer (0, 0, shared);
        void *sock = zmq_socket (ctx, ZMQ_PAIR);
        zmqobs_socket_t *s = zmqobs_attach (o, sock, "sat");
        zmqobs_record_latency (s, 12345);
        ck_assert_uint_eq (stats_of (s).latency_sum_ns, 12345);
        zmqobs_record_latency (s, UINT64_MAX - 100);
        ck_assert_uint_eq (stats_of (s).latency_sum_ns, UINT64_MAX);
        zmqobs_record_latency (s, 7);
        zmqobs_stats_t st = stats_of (s);
        ck_assert_uint_eq (st.latency_sum_ns, UINT64_MAX);
        ck_assert_uint_eq (st.latency_count, 3);
        ck_assert_uint_eq (st.window.count, 3);
        ck_assert_uint_eq (st.window.min_ns, 7);
        ck_assert_uint_eq (st.window.max_ns, UINT64_MAX - 100);
        zmqobs_detach (&s);
        zmq_close (sock);
        zmqobs_destroy (&o);
    }
}
END_TEST

START_TEST (test_default_buckets_every_edge)
{
    /* the default bounds: every bound lands in its own bucket, bound + 1 in
     * the next, for the O(1) lookup table */
    void *sock = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *s = zmqobs_attach (obs, sock, "d");
    zmqobs_stats_t st = stats_of (s);
    ck_assert_uint_eq (st.bucket_count, 20);
    ck_assert_uint_eq (st.bounds_ns[0], 10000);
    ck_assert_uint_eq (st.bounds_ns[19], 25000000000ull);
    for (uint32_t b = 0; b < st.bucket_count; b++) {
        zmqobs_record_latency (s, st.bounds_ns[b]);
        zmqobs_record_latency (s, st.bounds_ns[b] + 1);
        zmqobs_record_latency (s, st.bounds_ns[b] - 1);
    }
    zmqobs_stats_t after = stats_of (s);
    for (uint32_t b = 0; b <= st.bucket_count; b++) {
        uint64_t want = 0;
        for (uint32_t k = 0; k < st.bucket_count; k++) {
            want += (k == b);     /* bound itself */
            want += (k + 1 == b); /* bound + 1 goes up */
            want += (k == b && (k == 0 || st.bounds_ns[k] - 1 > st.bounds_ns[k - 1]));
        }
        ck_assert_uint_eq (after.buckets[b], want);
    }
    zmqobs_detach (&s);
    zmq_close (sock);
}
END_TEST

/* ------------------------------------------------------------------------ */

/* Runs `cycles` REQ/REP round trips with a multipart request. */
static void run_cycles (zmqobs_socket_t *req, zmqobs_socket_t *rep, int cycles)
{
    char buf[16];
    for (int i = 0; i < cycles; i++) {
        ck_assert_int_eq (zmqobs_send (req, "a", 1, ZMQ_SNDMORE), 1);
        ck_assert_int_eq (zmqobs_send (req, "b", 1, 0), 1);
        ck_assert_int_eq (zmqobs_recv (rep, buf, sizeof buf, 0), 1);
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        ck_assert_int_eq (zmqobs_msg_recv (&msg, rep, 0), 1);
        zmq_msg_close (&msg);
        ck_assert_int_eq (zmqobs_send (rep, "r", 1, ZMQ_SNDMORE), 1);
        ck_assert_int_eq (zmqobs_send (rep, "s", 1, 0), 1);
        ck_assert_int_eq (zmqobs_recv (req, buf, sizeof buf, 0), 1);
        ck_assert_int_eq (zmqobs_recv (req, buf, sizeof buf, 0), 1);
    }
}

static void check_auto_latency (uint32_t every, int cycles, uint64_t expect)
{
    zmqobs_t *o = new_observer (every, 0, 0);
    ck_assert_ptr_nonnull (o);
    void *rep = zmq_socket (ctx, ZMQ_REP), *req = zmq_socket (ctx, ZMQ_REQ);
    zmqobs_socket_t *srep = zmqobs_attach (o, rep, "rep");
    zmqobs_socket_t *sreq = zmqobs_attach (o, req, "req");
    /* inproc names are released asynchronously: a fresh one per run */
    static int seq;
    char ep[64];
    snprintf (ep, sizeof ep, "inproc://auto-%d", seq++);
    ck_assert_int_eq (zmq_bind (rep, ep), 0);
    ck_assert_int_eq (zmq_connect (req, ep), 0);
    run_cycles (sreq, srep, cycles);
    zmqobs_stats_t q = stats_of (sreq), p = stats_of (srep);
    ck_assert_uint_eq (q.latency_count, expect);
    ck_assert_uint_eq (p.latency_count, expect);
    ck_assert_uint_eq (q.window.count, expect);
    if (expect) {
        /* the REQ round trip contains the REP's service time */
        ck_assert_uint_ge (q.latency_sum_ns, p.latency_sum_ns);
        ck_assert_uint_gt (q.window.max_ns, 0);
    }
    zmqobs_detach (&srep);
    zmqobs_detach (&sreq);
    zmq_close (rep);
    zmq_close (req);
    zmqobs_destroy (&o);
}

START_TEST (test_auto_latency_sampling)
{
    check_auto_latency (1, 10, 10); /* every cycle */
    check_auto_latency (4, 20, 5);  /* cycles 1, 5, 9, 13, 17 */
    check_auto_latency (4, 21, 6);  /* and 21 */
    check_auto_latency (ZMQOBS_SAMPLE_NEVER, 10, 0);
    check_auto_latency (0, 33, 3); /* default: one in 16 */
}
END_TEST

START_TEST (test_auto_latency_only_req_rep)
{
    zmqobs_t *o = new_observer (1, 0, 0);
    void *a = zmq_socket (ctx, ZMQ_DEALER), *b = zmq_socket (ctx, ZMQ_ROUTER);
    zmqobs_socket_t *sa = zmqobs_attach (o, a, "dealer");
    zmqobs_socket_t *sb = zmqobs_attach (o, b, "router");
    ck_assert_int_eq (zmq_bind (b, "inproc://dr"), 0);
    ck_assert_int_eq (zmq_connect (a, "inproc://dr"), 0);
    char buf[64];
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq (zmqobs_send (sa, "x", 1, 0), 1);
        int n = zmqobs_recv (sb, buf, sizeof buf, 0); /* routing id */
        ck_assert_int_gt (n, 0);
        ck_assert_int_eq (zmqobs_recv (sb, buf + 32, 16, 0), 1);
        ck_assert_int_eq (zmqobs_send (sb, buf, (size_t) n, ZMQ_SNDMORE), n);
        ck_assert_int_eq (zmqobs_send (sb, "y", 1, 0), 1);
        ck_assert_int_eq (zmqobs_recv (sa, buf, sizeof buf, 0), 1);
    }
    ck_assert_uint_eq (stats_of (sa).latency_count, 0);
    ck_assert_uint_eq (stats_of (sb).latency_count, 0);
    ck_assert_uint_eq (stats_of (sb).msgs_received, 10);
    zmqobs_detach (&sa);
    zmqobs_detach (&sb);
    zmq_close (a);
    zmq_close (b);
    zmqobs_destroy (&o);
}
END_TEST

/* ------------------------------------------------------------------------ */

typedef struct {
    zmqobs_socket_t *s;
    int stop;
    uint64_t snapshots;
    uint64_t count;
} race_t;

static void *writer (void *arg)
{
    race_t *r = arg;
    for (uint64_t i = 0; i < 200000; i++) {
        zmqobs_record_latency (r->s, 1000 + (i % 5000) * 100);
        zmqobs_record_sent (r->s, 16, 0);
    }
    __atomic_store_n (&r->stop, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *reader (void *arg)
{
    race_t *r = arg;
    uint64_t last = 0;
    while (!__atomic_load_n (&r->stop, __ATOMIC_ACQUIRE)) {
        zmqobs_stats_t st;
        ck_assert_int_eq (zmqobs_socket_stats (r->s, &st), 0);
        /* counters never go backwards */
        ck_assert_uint_ge (st.msgs_sent, last);
        last = st.msgs_sent;
        if (st.window.count)
            ck_assert_uint_ge (st.window.p99_ns, st.window.p50_ns);
        r->snapshots++;
    }
    return NULL;
}

START_TEST (test_writer_and_reader_threads)
{
    void *sock = zmq_socket (ctx, ZMQ_PAIR);
    race_t r = {.s = zmqobs_attach (obs, sock, "race")};
    pthread_t w, rd;
    pthread_create (&rd, NULL, reader, &r);
    pthread_create (&w, NULL, writer, &r);
    pthread_join (w, NULL);
    pthread_join (rd, NULL);
    zmqobs_stats_t st = stats_of (r.s);
    ck_assert_uint_eq (st.msgs_sent, 200000);
    ck_assert_uint_eq (st.bytes_sent, 200000 * 16);
    ck_assert_uint_eq (st.latency_count, 200000);
    ck_assert_uint_eq (st.window.count, ZMQOBS_DEFAULT_RING_CAPACITY);
    zmqobs_detach (&r.s);
    zmq_close (sock);
}
END_TEST

typedef struct {
    zmqobs_socket_t *s;
    int n;
} shared_arg_t;

static void *shared_writer (void *arg)
{
    shared_arg_t *a = arg;
    for (int i = 0; i < a->n; i++) {
        zmqobs_record_latency (a->s, (uint64_t) (i % 100) * 1000);
        zmqobs_add_queue_depth (a->s, 1);
    }
    return NULL;
}

START_TEST (test_shared_latency_from_many_threads)
{
    zmqobs_t *o = new_observer (0, 0, 1);
    void *sock = zmq_socket (ctx, ZMQ_PAIR);
    shared_arg_t a = {zmqobs_attach (o, sock, "shared"), 50000};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create (&t[i], NULL, shared_writer, &a);
    for (int i = 0; i < 4; i++)
        pthread_join (t[i], NULL);
    zmqobs_stats_t st = stats_of (a.s);
    ck_assert_uint_eq (st.latency_count, 200000); /* no lost update */
    ck_assert_uint_eq (st.latency_sum_ns, 4ull * 500 * 4950 * 1000);
    ck_assert_int_eq (st.queue_depth, 200000);
    ck_assert_uint_eq (st.window.count, ZMQOBS_DEFAULT_RING_CAPACITY);
    zmqobs_detach (&a.s);
    zmq_close (sock);
    zmqobs_destroy (&o);
}
END_TEST

/* Host-driven, so that no thread of the observer's allocates while a
 * test counts allocations. */
static zmqobs_t *quiet_observer (uint32_t sample_every, uint32_t ring, int shared)
{
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.host_driven = 1;
    o.latency_sample_every = sample_every;
    o.ring_capacity = ring;
    o.latency_shared = shared;
    o.no_process_metrics = 1;
    return zmqobs_new (ctx, &o);
}

/* The ring is allocated by the first latency sample, once; nothing
 * else allocates it (traffic, errors, snapshots, scrapes). */
START_TEST (test_ring_on_first_sample)
{
    for (int shared = 0; shared < 2; shared++) {
        zmqobs_t *o = quiet_observer (1, 128, shared);
        ck_assert_ptr_nonnull (o);
        void *sock = zmq_socket (ctx, ZMQ_DEALER);
        zmqobs_socket_t *s = zmqobs_attach (o, sock, "lazy");
        ck_assert_ptr_nonnull (s);
        ck_assert_ptr_null (s->hot.ring);
        ck_assert_uint_eq (s->hot.slow, 1);
        zmqobs__alloc_fail_at = 0;
        zmqobs__alloc_count = 0;
        zmqobs_record_sent (s, 10, 0);
        zmqobs_record_received (s, 20, 0);
        zmqobs_record_error (s, ZMQOBS_OP_SEND, EAGAIN);
        zmqobs_stats_t st = stats_of (s);
        ck_assert_uint_eq (st.msgs_sent, 1);
        ck_assert_uint_eq (st.window.count, 0);
        ck_assert_uint_eq (st.window.p99_ns, 0);
        ck_assert_uint_eq (st.latency_count, 0);
        char buf[65536];
        ck_assert_int_gt (zmqobs_format (o, ZMQOBS_FORMAT_PROMETHEUS, buf, sizeof buf), 0);
        ck_assert_ptr_nonnull (strstr (buf, "zmq_message_latency_window_seconds_count{socket="
                                            "\"lazy\",type=\"DEALER\"} 0\n"));
        ck_assert_ptr_null (s->hot.ring);
        ck_assert_int_eq (zmqobs__alloc_count, 0);
        /* the first sample allocates the ring, and nothing after it does */
        zmqobs_record_latency (s, 100000);
        ck_assert_int_eq (zmqobs__alloc_count, 1);
        ck_assert_ptr_nonnull (s->hot.ring);
        /* an owner-thread socket goes inline from now on */
        ck_assert_uint_eq (s->hot.slow, (uint32_t) shared);
        for (uint64_t v = 1; v < 100; v++)
            zmqobs_record_latency (s, v * 1000);
        ck_assert_int_eq (zmqobs__alloc_count, 1);
        /* exact quantiles over 1000, 2000, ..., 100000 */
        st = stats_of (s);
        ck_assert_uint_eq (st.window.count, 100);
        ck_assert_uint_eq (st.window.min_ns, 1000);
        ck_assert_uint_eq (st.window.max_ns, 100000);
        ck_assert_uint_eq (st.window.sum_ns, 5050000);
        ck_assert_uint_eq (st.window.p50_ns, 50000);
        ck_assert_uint_eq (st.window.p90_ns, 90000);
        ck_assert_uint_eq (st.window.p95_ns, 95000);
        ck_assert_uint_eq (st.window.p99_ns, 99000);
        ck_assert_uint_eq (st.window.p999_ns, 100000);
        ck_assert_uint_eq (st.latency_count, 100);
        ck_assert_uint_eq (st.latency_sum_ns, 5050000);
        /* automatic REQ/REP timing (every cycle) goes through the same
         * path: one ring each, allocated by its first timed cycle */
        void *req = zmq_socket (ctx, ZMQ_REQ);
        void *rep = zmq_socket (ctx, ZMQ_REP);
        zmqobs_socket_t *q = zmqobs_attach (o, req, "lazy-req");
        zmqobs_socket_t *r = zmqobs_attach (o, rep, "lazy-rep");
        ck_assert_ptr_nonnull (q);
        ck_assert_ptr_nonnull (r);
        /* inproc names are released asynchronously: one per round */
        const char *ep = shared ? "inproc://lazy-shared" : "inproc://lazy";
        ck_assert_int_eq (zmq_bind (rep, ep), 0);
        ck_assert_int_eq (zmq_connect (req, ep), 0);
        ck_assert_ptr_null (q->hot.ring);
        ck_assert_ptr_null (r->hot.ring);
        zmqobs__alloc_count = 0;
        char msg[8];
        for (int i = 0; i < 3; i++) {
            ck_assert_int_eq (zmqobs_send (q, "ping", 4, 0), 4);
            ck_assert_int_eq (zmqobs_recv (r, msg, sizeof msg, 0), 4);
            ck_assert_int_eq (zmqobs_send (r, "pong", 4, 0), 4);
            ck_assert_int_eq (zmqobs_recv (q, msg, sizeof msg, 0), 4);
        }
        ck_assert_int_eq (zmqobs__alloc_count, 2);
        ck_assert_ptr_nonnull (q->hot.ring);
        ck_assert_ptr_nonnull (r->hot.ring);
        ck_assert_uint_eq (stats_of (q).window.count, 3);
        ck_assert_uint_eq (stats_of (r).window.count, 3);
        zmqobs_detach (&q);
        zmq_close (req);
        zmqobs_detach (&r);
        zmq_close (rep);
        zmqobs_detach (&s); /* frees the ring: the leak checkers watch */
        zmq_close (sock);
        zmqobs_destroy (&o);
    }
}
END_TEST

/* The first sample's allocation fails: the sample is in the histogram,
 * the window stays empty, and the next sample allocates the ring. */
START_TEST (test_ring_allocation_fails)
{
    for (int shared = 0; shared < 2; shared++) {
        zmqobs_t *o = quiet_observer (0, 64, shared);
        ck_assert_ptr_nonnull (o);
        void *sock = zmq_socket (ctx, ZMQ_PAIR);
        zmqobs_socket_t *s = zmqobs_attach (o, sock, "oom");
        ck_assert_ptr_nonnull (s);
        zmqobs__alloc_fail_at = 0;
        zmqobs__alloc_count = 0;
        zmqobs__alloc_fail_at = 1;
        zmqobs_record_latency (s, 7000);
        ck_assert_int_eq (zmqobs__alloc_count, 1);
        ck_assert_ptr_null (s->hot.ring);
        ck_assert_uint_eq (s->hot.slow, 1);
        zmqobs_stats_t st = stats_of (s);
        ck_assert_uint_eq (st.latency_count, 1);
        ck_assert_uint_eq (st.latency_sum_ns, 7000);
        ck_assert_uint_eq (st.buckets[0], 1); /* le 10 us */
        ck_assert_uint_eq (st.window.count, 0);
        ck_assert_uint_eq (st.window.sum_ns, 0);
        char buf[65536];
        ck_assert_int_gt (zmqobs_format (o, ZMQOBS_FORMAT_OPENMETRICS, buf, sizeof buf), 0);
        ck_assert_ptr_nonnull (
            strstr (buf, "zmq_message_latency_seconds_count{socket=\"oom\",type=\"PAIR\"} 1\n"));
        ck_assert_ptr_nonnull (
            strstr (buf,
                    "zmq_message_latency_window_seconds_count{socket=\"oom\",type=\"PAIR\"} 0\n"));
        /* the allocation is tried again, and succeeds */
        zmqobs_record_latency (s, 3000000);
        ck_assert_int_eq (zmqobs__alloc_count, 2);
        zmqobs__alloc_fail_at = 0;
        ck_assert_ptr_nonnull (s->hot.ring);
        ck_assert_uint_eq (s->hot.slow, (uint32_t) shared);
        zmqobs_record_latency (s, 1000000);
        st = stats_of (s);
        ck_assert_uint_eq (st.latency_count, 3);
        ck_assert_uint_eq (st.latency_sum_ns, 4007000);
        ck_assert_uint_eq (st.window.count, 2);
        ck_assert_uint_eq (st.window.min_ns, 1000000);
        ck_assert_uint_eq (st.window.max_ns, 3000000);
        ck_assert_uint_eq (st.window.p50_ns, 1000000);
        ck_assert_uint_eq (st.window.p99_ns, 3000000);
        zmqobs_detach (&s);
        zmq_close (sock);
        zmqobs_destroy (&o);
    }
}
END_TEST

/* latency_shared: threads racing to record a socket's first sample
 * publish one ring between them and lose no sample. */
typedef struct {
    zmqobs_socket_t *s;
    pthread_barrier_t *go;
    uint64_t ns;
} first_arg_t;

static void *first_writer (void *arg)
{
    first_arg_t *a = arg;
    pthread_barrier_wait (a->go);
    zmqobs_record_latency (a->s, a->ns);
    return NULL;
}

START_TEST (test_ring_first_sample_race)
{
    zmqobs_t *o = new_observer (0, 0, 1);
    void *sock = zmq_socket (ctx, ZMQ_PAIR);
    for (int round = 0; round < 50; round++) {
        zmqobs_socket_t *s = zmqobs_attach (o, sock, "race");
        ck_assert_ptr_nonnull (s);
        enum { N = 4 };
        pthread_barrier_t go;
        pthread_barrier_init (&go, NULL, N);
        first_arg_t a[N];
        pthread_t t[N];
        for (int i = 0; i < N; i++) {
            a[i] = (first_arg_t) {s, &go, (uint64_t) (i + 1) * 1000};
            ck_assert_int_eq (pthread_create (&t[i], NULL, first_writer, &a[i]), 0);
        }
        for (int i = 0; i < N; i++)
            pthread_join (t[i], NULL);
        pthread_barrier_destroy (&go);
        ck_assert_ptr_nonnull (s->hot.ring);
        zmqobs_stats_t st = stats_of (s);
        ck_assert_uint_eq (st.latency_count, N);
        ck_assert_uint_eq (st.latency_sum_ns, 10000);
        ck_assert_uint_eq (st.window.count, N);
        ck_assert_uint_eq (st.window.sum_ns, 10000);
        ck_assert_uint_eq (st.window.min_ns, 1000);
        ck_assert_uint_eq (st.window.max_ns, 4000);
        zmqobs_detach (&s);
    }
    zmq_close (sock);
    zmqobs_destroy (&o);
}
END_TEST

START_TEST (test_memory_per_socket)
{
    /* the default per-socket block, ring included, stays within 16 KiB */
    size_t bytes = sizeof (zmqobs_socket_t) + sizeof (uint64_t) * ZMQOBS_DEFAULT_RING_CAPACITY;
    ck_assert_uint_le (bytes, 16384);
    /* writer groups on their own cache lines */
    ck_assert_uint_eq (offsetof (zmqobs_socket_t, errors) % ZMQOBS_CACHELINE, 0);
    ck_assert_uint_eq (offsetof (zmqobs_socket_t, queue_depth) % ZMQOBS_CACHELINE, 0);
    ck_assert_uint_eq (offsetof (zmqobs_socket_t, mon) % ZMQOBS_CACHELINE, 0);
    ck_assert_uint_ge (offsetof (zmqobs_socket_t, errors), sizeof (zmqobs_hot_t));
    ck_assert_uint_ge (offsetof (zmqobs_socket_t, mon),
                       offsetof (zmqobs_socket_t, queue_depth) + sizeof (int64_t));
}
END_TEST

START_TEST (test_alloc_failures)
{
    /* every allocation in new and attach fails cleanly with ENOMEM */
    for (long at = 1; at < 20; at++) {
        zmqobs__alloc_fail_at = 0;
        zmqobs__alloc_count = 0;
        zmqobs__alloc_fail_at = at;
        errno = 0;
        zmqobs_t *o = new_observer (0, 0, 0);
        int failed_new = o == NULL;
        if (failed_new)
            ck_assert_int_eq (errno, ENOMEM);
        void *sock = zmq_socket (ctx, ZMQ_PAIR);
        zmqobs_socket_t *s = o ? zmqobs_attach (o, sock, "x") : NULL;
        if (o && !s)
            ck_assert_int_eq (errno, ENOMEM);
        zmqobs__alloc_fail_at = 0;
        if (o && !s) {
            /* the socket is left as it was: it attaches now */
            s = zmqobs_attach (o, sock, "x");
            ck_assert_ptr_nonnull (s);
        }
        zmqobs_detach (&s);
        zmqobs_destroy (&o);
        zmq_close (sock);
        if (!failed_new && s == NULL && at > zmqobs__alloc_count)
            break; /* past the last allocation site */
    }
    zmqobs__alloc_fail_at = 0;
}
END_TEST

int main (void)
{
    Suite *s = suite_create ("metrics");
    TCase *tc = testutil_tcase (s, "api", 30);
    tcase_add_checked_fixture (tc, setup, teardown);
    tcase_add_test (tc, test_options_validation);
    tcase_add_test (tc, test_attach_validation);
    tcase_add_test (tc, test_null_socket_wrappers);
    tcase_add_test (tc, test_memory_per_socket);
    tcase_add_test (tc, test_alloc_failures);
    tc = testutil_tcase (s, "traffic", 60);
    tcase_add_checked_fixture (tc, setup, teardown);
    tcase_add_test (tc, test_pair_exact_counts);
    tcase_add_test (tc, test_req_rep_efsm_and_multipart);
    tcase_add_test (tc, test_push_pull_and_record_calls);
    tcase_add_test (tc, test_auto_latency_sampling);
    tcase_add_test (tc, test_auto_latency_only_req_rep);
    tc = testutil_tcase (s, "latency", 60);
    tcase_add_checked_fixture (tc, setup, teardown);
    tcase_add_test (tc, test_window_quantiles);
    tcase_add_test (tc, test_window_direct);
    tcase_add_test (tc, test_histogram_edges);
    tcase_add_test (tc, test_default_buckets_every_edge);
    tcase_add_test (tc, test_latency_sum_saturates);
    tcase_add_test (tc, test_writer_and_reader_threads);
    tcase_add_test (tc, test_shared_latency_from_many_threads);
    tcase_add_test (tc, test_ring_on_first_sample);
    tcase_add_test (tc, test_ring_allocation_fails);
    tcase_add_test (tc, test_ring_first_sample_race);
    return testutil_run (s);
}
