/*
 * test_exemplar.c - zmqobs_record_latency_exemplar: trace id validation,
 * the latest exemplar per classic bucket, the OpenMetrics and protobuf
 * texts (and none in text 0.0.4), a failed allocation, and readers never
 * seeing a torn exemplar while two threads write.
 *
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"
#include "internal.h"
#include "exemplar.h"

#include <pthread.h>

static const uint64_t bounds[] = {1000, 2000, 1000000};

static zmqobs_t *observer (void *ctx, int shared)
{
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.host_driven = 1;
    o.no_process_metrics = 1;
    o.latency_sample_every = ZMQOBS_SAMPLE_NEVER;
    o.latency_shared = shared;
    o.buckets_ns = bounds;
    o.bucket_count = 3;
    zmqobs_t *obs = zmqobs_new (ctx, &o);
    ck_assert_ptr_nonnull (obs);
    return obs;
}

static char *format_all (zmqobs_t *obs, zmqobs_format_t f, int *len)
{
    int need = zmqobs_format (obs, f, NULL, 0);
    ck_assert_int_gt (need, 0);
    char *buf = malloc ((size_t) need + 1);
    ck_assert_int_eq (zmqobs_format (obs, f, buf, (size_t) need + 1), need);
    if (len)
        *len = need;
    return buf;
}

START_TEST (test_validation)
{
    testutil_watchdog (10);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    void *z = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *s = zmqobs_attach (obs, z, "s");
    static const char *const bad[] = {NULL,
                                      "",
                                      "xyz",
                                      "0123456789abcdef0123456789abcdef0",
                                      "00 ff",
                                      "00ff\n",
                                      "g",
                                      "\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        ck_assert_int_eq (zmqobs_record_latency_exemplar (s, 5, bad[i]), -1);
        ck_assert_int_eq (errno, EINVAL);
    }
    errno = 0;
    ck_assert_int_eq (zmqobs_record_latency_exemplar (NULL, 5, "ab"), -1);
    ck_assert_int_eq (errno, EINVAL);
    zmqobs_stats_t st;
    zmqobs_socket_stats (s, &st);
    ck_assert_uint_eq (st.latency_count, 0); /* nothing recorded */
    ck_assert_ptr_null (s->exemplars);
    ck_assert_int_eq (zmqobs_record_latency_exemplar (s, 5, "0123456789abcdefABCDEF0123456789"), 0);
    ck_assert_int_eq (zmqobs_record_latency_exemplar (s, 5, "a"), 0);
    zmqobs_socket_stats (s, &st);
    ck_assert_uint_eq (st.latency_count, 2);
    ck_assert_int_eq (zmqobs__valid_trace_id ("0123456789abcdef0123456789abcdef"), 1);
    ck_assert_int_eq (zmqobs__valid_trace_id ("0123456789abcdef0123456789abcdeg"), 0);
    zmqobs_detach (&s);
    zmq_close (z);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

START_TEST (test_latest_per_bucket)
{
    testutil_watchdog (10);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    void *z = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *s = zmqobs_attach (obs, z, "s");
    uint64_t before = zmqobs__wall_ns ();
    ck_assert_int_eq (zmqobs_record_latency_exemplar (s, 500, "aa"), 0);
    ck_assert_int_eq (zmqobs_record_latency_exemplar (s, 1500, "bb"), 0);
    ck_assert_int_eq (zmqobs_record_latency_exemplar (s, 2000, "cc"), 0); /* le is inclusive */
    zmqobs_record_latency (s, 1800);                                     /* no exemplar */
    ck_assert_int_eq (zmqobs_record_latency_exemplar (s, 5000000, "DD"), 0);
    uint64_t after = zmqobs__wall_ns ();
    zmqobs_exemplar_t e;
    ck_assert_int_eq (zmqobs__exemplar_read (s, 0, &e), 1);
    ck_assert_uint_eq (e.ns, 500);
    ck_assert_uint_eq (e.len, 2);
    ck_assert_int_eq (memcmp (e.id, "aa", 2), 0);
    ck_assert_uint_ge (e.wall_ns, before);
    ck_assert_uint_le (e.wall_ns, after);
    ck_assert_int_eq (zmqobs__exemplar_read (s, 1, &e), 1);
    ck_assert_uint_eq (e.ns, 2000);
    ck_assert_int_eq (memcmp (e.id, "cc", 2), 0);
    ck_assert_int_eq (zmqobs__exemplar_read (s, 2, &e), 0); /* none in (2 us, 1 ms] */
    ck_assert_int_eq (zmqobs__exemplar_read (s, 3, &e), 1); /* +Inf */
    ck_assert_uint_eq (e.ns, 5000000);
    ck_assert_int_eq (memcmp (e.id, "DD", 2), 0);
    ck_assert_int_eq (zmqobs__exemplar_read (s, 4, &e), 0); /* out of range */

    /* OpenMetrics: after the count of each bucket that has one */
    char *om = format_all (obs, ZMQOBS_FORMAT_OPENMETRICS, NULL);
    char want[256];
    snprintf (want, sizeof want,
              "zmq_message_latency_seconds_bucket{socket=\"s\",type=\"PAIR\",le=\"1e-06\"} 1 # "
              "{trace_id=\"aa\"} 0.0000005 ");
    ck_assert_msg (strstr (om, want) != NULL, "%.200s", want);
    ck_assert_ptr_nonnull (strstr (om, "le=\"2e-06\"} 4 # {trace_id=\"cc\"} 0.000002 "));
    ck_assert_ptr_nonnull (strstr (om, "le=\"0.001\"} 4\n"));
    ck_assert_ptr_nonnull (strstr (om, "le=\"+Inf\"} 5 # {trace_id=\"DD\"} 0.005 "));
    /* the timestamp: the wall time of the record, in seconds */
    const char *ts = strstr (om, "{trace_id=\"aa\"} 0.0000005 ") + 26;
    double t = strtod (ts, NULL);
    ck_assert (t >= (double) before / 1e9 - 1e-6 && t <= (double) after / 1e9 + 1e-6);
    free (om);
    /* text 0.0.4 shows none */
    char *prom = format_all (obs, ZMQOBS_FORMAT_PROMETHEUS, NULL);
    ck_assert_ptr_null (strstr (prom, "trace_id"));
    ck_assert_ptr_nonnull (strstr (prom, "le=\"1e-06\"} 1\n"));
    free (prom);
    /* protobuf: the exemplar's label pair in the bucket */
    int len;
    char *pb = format_all (obs, ZMQOBS_FORMAT_PROTOBUF, &len);
    static const char pair[] = "\x0a\x0e\x0a\x08trace_id\x12\x02" "cc";
    ck_assert_ptr_nonnull (memmem (pb, (size_t) len, pair, sizeof pair - 1));
    free (pb);
    zmqobs_detach (&s);
    zmq_close (z);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

START_TEST (test_no_memory)
{
    testutil_watchdog (10);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 0);
    void *z = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *s = zmqobs_attach (obs, z, "s");
    zmqobs_record_latency (s, 1); /* the ring exists */
    zmqobs__alloc_fail_at = 0;
    zmqobs__alloc_count = 0;
    zmqobs__alloc_fail_at = 1;
    errno = 0;
    ck_assert_int_eq (zmqobs_record_latency_exemplar (s, 5, "ab"), -1);
    ck_assert_int_eq (errno, ENOMEM);
    zmqobs__alloc_fail_at = 0;
    zmqobs_stats_t st;
    zmqobs_socket_stats (s, &st);
    ck_assert_uint_eq (st.latency_count, 2); /* the sample is in */
    ck_assert_ptr_null (s->exemplars);
    ck_assert_int_eq (zmqobs_record_latency_exemplar (s, 5, "ab"), 0);
    ck_assert_ptr_nonnull (s->exemplars);
    zmqobs_detach (&s);
    zmq_close (z);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* Two writers (latency_shared) record into one bucket, each exemplar's
 * trace id the hex of its value; a reader checks that every exemplar it
 * reads has the value its id says. */
typedef struct {
    zmqobs_socket_t *s;
    unsigned id;
} race_t;

static void *writer (void *arg)
{
    race_t *r = arg;
    char id[33];
    for (uint64_t i = 0; i < 100000; i++) {
        uint64_t ns = 1001 + ((i * 2 + r->id) % 998); /* in (1000, 2000) */
        snprintf (id, sizeof id, "%016llx%016llx", (unsigned long long) ns,
                  (unsigned long long) ~ns);
        ck_assert_int_eq (zmqobs_record_latency_exemplar (r->s, ns, id), 0);
    }
    return NULL;
}

START_TEST (test_no_torn_reads)
{
    testutil_watchdog (60);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx, 1);
    void *z = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *s = zmqobs_attach (obs, z, "s");
    race_t w[2] = {{s, 0}, {s, 1}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create (&t[i], NULL, writer, &w[i]);
    long seen = 0, reads = 0;
    for (int done = 0; !done; reads++) {
        zmqobs_exemplar_t e;
        if (zmqobs__exemplar_read (s, 1, &e)) {
            char want[33];
            snprintf (want, sizeof want, "%016llx%016llx", (unsigned long long) e.ns,
                      (unsigned long long) ~e.ns);
            ck_assert_uint_eq (e.len, 32);
            ck_assert_int_eq (memcmp (e.id, want, 32), 0);
            seen++;
        }
        if (reads % 1024 == 0) {
            zmqobs_stats_t st;
            zmqobs_socket_stats (s, &st);
            if (st.latency_count == 200000)
                done = 1;
        }
    }
    for (int i = 0; i < 2; i++)
        pthread_join (t[i], NULL);
    ck_assert_int_gt (seen, 0);
    zmqobs_stats_t st;
    zmqobs_socket_stats (s, &st);
    ck_assert_uint_eq (st.latency_count, 200000);
    ck_assert_uint_eq (st.buckets[1], 200000);
    printf ("exemplars: %ld consistent reads of %ld while two threads wrote\n", seen, reads);
    zmqobs_detach (&s);
    zmq_close (z);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

int main (void)
{
    Suite *suite = suite_create ("exemplar");
    TCase *tc = tcase_create ("exemplar");
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, test_validation);
    tcase_add_test (tc, test_latest_per_bucket);
    tcase_add_test (tc, test_no_memory);
    tcase_add_test (tc, test_no_torn_reads);
    suite_add_tcase (suite, tc);
    return testutil_run (suite);
}
