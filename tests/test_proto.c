/*
 * test_proto.c - the protobuf exposition and native histograms: the wire
 * encoder byte for byte (varints, zigzag, labels, spans with gaps, deltas,
 * exemplars), the native bucket of a latency at exact bucket bounds,
 * schemas merged, recording on every path (inline, out of line, shared,
 * failed allocation), zmqobs_format's snprintf semantics on binary output,
 * hostile label values, Accept negotiation and the HTTP endpoint.
 * (tests/test_proto_e2e.sh decodes the output independently and lets
 * Prometheus scrape it.)
 *
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"
#include "internal.h"
#include "native.h"
#include "pbwire.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* The bytes an encoder wrote, in a buffer of exactly the size it needs
 * plus the terminator; compared with want. */
#define ASSERT_BYTES(o, buf, want)                                                 \
    do {                                                                           \
        ck_assert_uint_eq ((o).len, sizeof (want));                                \
        ck_assert_msg (memcmp ((buf), (want), sizeof (want)) == 0, "bytes differ"); \
    } while (0)

START_TEST (test_varint)
{
    static const struct {
        uint64_t v;
        size_t n;
        unsigned char b[10];
    } cases[] = {
        {0, 1, {0x00}},
        {1, 1, {0x01}},
        {127, 1, {0x7f}},
        {128, 2, {0x80, 0x01}},
        {300, 2, {0xac, 0x02}},
        {16383, 2, {0xff, 0x7f}},
        {16384, 3, {0x80, 0x80, 0x01}},
        {UINT64_MAX, 10, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[16];
        zmqobs_out_t o;
        zmqobs__out_init (&o, buf, sizeof buf);
        zmqobs__pb_put_varint (&o, cases[i].v);
        ck_assert_uint_eq (o.len, cases[i].n);
        ck_assert_uint_eq (zmqobs__pb_varint_size (cases[i].v), cases[i].n);
        ck_assert_int_eq (memcmp (buf, cases[i].b, cases[i].n), 0);
    }
    ck_assert_uint_eq (zmqobs__pb_zigzag (0), 0);
    ck_assert_uint_eq (zmqobs__pb_zigzag (-1), 1);
    ck_assert_uint_eq (zmqobs__pb_zigzag (1), 2);
    ck_assert_uint_eq (zmqobs__pb_zigzag (-2), 3);
    ck_assert_uint_eq (zmqobs__pb_zigzag (-240), 479);
    ck_assert_uint_eq (zmqobs__pb_zigzag (INT64_MAX), UINT64_MAX - 1);
    ck_assert_uint_eq (zmqobs__pb_zigzag (INT64_MIN), UINT64_MAX);
}
END_TEST

/* Seconds as the nearest double, the compiler's parse of the decimal
 * being the reference. */
START_TEST (test_secs)
{
    ck_assert (zmqobs__secs_double (0) == 0.0);
    ck_assert (zmqobs__secs_double (1) == 1e-9);
    ck_assert (zmqobs__secs_double (25000) == 0.000025);
    ck_assert (zmqobs__secs_double (1000000000) == 1.0);
    ck_assert (zmqobs__secs_double (354482016768u) == 354.482016768);
    ck_assert (zmqobs__secs_double (1796098439490000000u) == 1796098439.49);
    ck_assert (zmqobs__secs_double (1796095948730000000u) == 1796095948.73);
    ck_assert (zmqobs__secs_double (1796096531189982057u) == 1796096531.189982057);
    ck_assert (zmqobs__secs_double (UINT64_MAX) == 18446744073.709551615);
    ck_assert (zmqobs__secs_double (123456789012345678u) == 123456789.012345678);
}
END_TEST

START_TEST (test_counter_bytes)
{
    zmqobs_pb_label_t l = {"a", 1, "b\"\n", 3};
    zmqobs_pb_metric_t m;
    memset (&m, 0, sizeof m);
    m.type = ZMQOBS__PB_COUNTER;
    m.labels = &l;
    m.nlabels = 1;
    m.value = 1.0;
    static const unsigned char want[] = {
        0x22, 0x15,                                     /* Metric, 21 bytes */
        0x0a, 0x08, 0x0a, 0x01, 'a', 0x12, 0x03, 'b', '"', '\n', /* label */
        0x1a, 0x09, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, /* counter 1.0 */
    };
    char buf[64];
    zmqobs_out_t o;
    zmqobs__out_init (&o, buf, sizeof buf);
    zmqobs__pb_metric (&o, &m);
    ASSERT_BYTES (o, buf, want);
    ck_assert_uint_eq (zmqobs__pb_metric_size (&m), 21);
}
END_TEST

/* Schema-3 slots with one latency in buckets -1, 0 and 3 (a gap of two
 * empty buckets), and at schema 2 the same three merged into buckets 0
 * (two) and 2 (one). */
START_TEST (test_native_spans)
{
    static uint64_t slots[ZMQOBS_I_NATIVE_SLOTS];
    memset (slots, 0, sizeof slots);
    slots[ZMQOBS_I_NATIVE_BIAS - 1] = 1;
    slots[ZMQOBS_I_NATIVE_BIAS] = 1;
    slots[ZMQOBS_I_NATIVE_BIAS + 3] = 1;
    slots[0] = 2; /* two zeros */
    static zmqobs_native_t h;
    zmqobs__native_read (slots, 3, &h);
    ck_assert_uint_eq (h.count, 5);
    ck_assert_uint_eq (h.zero_count, 2);
    ck_assert_uint_eq (h.nspans, 2);
    ck_assert_int_eq (h.span_offset[0], -1);
    ck_assert_uint_eq (h.span_len[0], 2);
    ck_assert_int_eq (h.span_offset[1], 2);
    ck_assert_uint_eq (h.span_len[1], 1);
    ck_assert_uint_eq (h.nbuckets, 3);
    ck_assert_int_eq (h.delta[0], 1);
    ck_assert_int_eq (h.delta[1], 0);
    ck_assert_int_eq (h.delta[2], 0);

    double ub = INFINITY;
    uint64_t cum = 5;
    zmqobs_pb_metric_t m;
    memset (&m, 0, sizeof m);
    m.type = ZMQOBS__PB_HISTOGRAM;
    m.count = 5;
    m.sum = 0.5;
    m.nb = 1;
    m.ub = &ub;
    m.cum = &cum;
    m.nat = &h;
    static const unsigned char want[] = {
        0x22, 0x39, 0x3a, 0x37,                               /* Metric, Histogram */
        0x08, 0x05,                                           /* sample_count 5 */
        0x11, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f,                   /* sample_sum 0.5 */
        0x1a, 0x0b, 0x08, 0x05, 0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f, /* +Inf: 5 */
        0x28, 0x06,                                           /* schema 3 (zigzag) */
        0x31, 0, 0, 0, 0, 0, 0, 0x10, 0x3e,                   /* zero_threshold 2^-30 */
        0x38, 0x02,                                           /* zero_count 2 */
        0x62, 0x04, 0x08, 0x01, 0x10, 0x02,                   /* span -1, 2 */
        0x62, 0x04, 0x08, 0x04, 0x10, 0x01,                   /* span +2, 1 */
        0x68, 0x02, 0x68, 0x00, 0x68, 0x00,                   /* deltas 1, 0, 0 */
    };
    char buf[128];
    zmqobs_out_t o;
    zmqobs__out_init (&o, buf, sizeof buf);
    zmqobs__pb_metric (&o, &m);
    ASSERT_BYTES (o, buf, want);

    zmqobs__native_read (slots, 2, &h);
    ck_assert_uint_eq (h.nspans, 2);
    ck_assert_int_eq (h.span_offset[0], 0);
    ck_assert_uint_eq (h.span_len[0], 1);
    ck_assert_int_eq (h.span_offset[1], 1);
    ck_assert_uint_eq (h.span_len[1], 1);
    ck_assert_int_eq (h.delta[0], 2);
    ck_assert_int_eq (h.delta[1], -1);
    /* schema -4: 128 schema-3 buckets in one; -1 and 0 go to bucket 0,
     * 3 to bucket 1 */
    zmqobs__native_read (slots, -4, &h);
    ck_assert_uint_eq (h.nbuckets, 2);
    ck_assert_int_eq (h.index[0], 0);
    ck_assert_int_eq (h.index[1], 1);
    ck_assert_uint_eq (h.nspans, 1);
    /* no buckets at all */
    zmqobs__native_read (NULL, 3, &h);
    ck_assert_uint_eq (h.count, 0);
    ck_assert_uint_eq (h.nspans, 0);
}
END_TEST

/* The bucket of a latency at the exact bounds floor(1e9 * 2^(i/8)) ns
 * (computed with 60 significant digits): a bound is in its bucket, one
 * ns more is in the next. */
START_TEST (test_native_bounds)
{
    static const struct {
        int i;
        uint64_t bound;
    } b[] = {{-239, 1},          {-200, 29},         {-9, 458502021},
             {-1, 917004043},    {0, 1000000000},    {1, 1090507732},
             {2, 1189207115},    {7, 1834008086},    {8, 2000000000},
             {9, 2181015465},    {80, 1024000000000}, {81, 1116679918249},
             {100, 5792618751480}};
    for (size_t k = 0; k < sizeof b / sizeof b[0]; k++) {
        ck_assert_int_eq ((int) zmqobs__native_slot (b[k].bound) - ZMQOBS_I_NATIVE_BIAS, b[k].i);
        /* below 11 ns a bucket is narrower than 1 ns: 2 ns is in -231 */
        int next = b[k].i == -239 ? -231 : b[k].i + 1;
        ck_assert_int_eq ((int) zmqobs__native_slot (b[k].bound + 1) - ZMQOBS_I_NATIVE_BIAS,
                          next);
    }
    ck_assert_uint_eq (zmqobs__native_slot (0), 0);
    ck_assert_uint_eq (zmqobs__native_slot (1), 1);
    ck_assert_uint_eq (zmqobs__native_slot (UINT64_MAX), ZMQOBS_I_NATIVE_SLOTS - 1);
    /* from 64 ns on, steps of under 4% (a bucket is 9% wide): the slot
     * never decreases and never skips one */
    unsigned prev = zmqobs__native_slot (64);
    for (uint64_t ns = 65; ns < ((uint64_t) 1 << 62); ns += 1 + ns / 32) {
        unsigned s = zmqobs__native_slot (ns);
        ck_assert_uint_ge (s, prev);
        ck_assert_uint_le (s, prev + 1);
        prev = s;
    }
    ck_assert_uint_eq (prev, zmqobs__native_slot ((uint64_t) 1 << 62));
}
END_TEST

static zmqobs_t *observer (void *ctx, int native, int schema, int shared)
{
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.host_driven = 1;
    o.no_process_metrics = 1;
    o.latency_sample_every = ZMQOBS_SAMPLE_NEVER;
    o.native_histograms = native;
    o.native_schema = schema;
    o.latency_shared = shared;
    zmqobs_t *obs = zmqobs_new (ctx, &o);
    ck_assert_ptr_nonnull (obs);
    return obs;
}

START_TEST (test_options)
{
    void *ctx = zmq_ctx_new ();
    static const int bad[] = {4, 8, -5, 100, -127, INT32_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zmqobs_options_t o;
        zmqobs_options_init (&o);
        o.host_driven = 1;
        o.native_histograms = 1;
        o.native_schema = bad[i];
        errno = 0;
        ck_assert_ptr_null (zmqobs_new (ctx, &o));
        ck_assert_int_eq (errno, EINVAL);
    }
    zmqobs_t *obs = observer (ctx, 1, 0, 0);
    ck_assert_int_eq (obs->native_schema, 3);
    zmqobs_destroy (&obs);
    obs = observer (ctx, 1, ZMQOBS_NATIVE_SCHEMA_0, 0);
    ck_assert_int_eq (obs->native_schema, 0);
    zmqobs_destroy (&obs);
    obs = observer (ctx, 1, -4, 0);
    ck_assert_int_eq (obs->native_schema, -4);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

static const uint64_t lat[] = {0, 1, 999, 1000000000, 1000000001, 2000000000, 2000000000, 77};

static void check_slots (const zmqobs_socket_t *s, int times)
{
    const uint64_t *n = s->hot.native;
    ck_assert_ptr_nonnull (n);
    uint64_t want[ZMQOBS_I_NATIVE_SLOTS] = {0};
    for (size_t i = 0; i < sizeof lat / sizeof lat[0]; i++)
        want[zmqobs__native_slot (lat[i])] += (uint64_t) times;
    for (unsigned i = 0; i < ZMQOBS_I_NATIVE_SLOTS; i++)
        ck_assert_uint_eq (n[i], want[i]);
    ck_assert_uint_eq (n[0], (uint64_t) times);
    ck_assert_uint_eq (n[ZMQOBS_I_NATIVE_BIAS], (uint64_t) times);
    ck_assert_uint_eq (n[ZMQOBS_I_NATIVE_BIAS + 8], 2u * (uint64_t) times);
}

START_TEST (test_recording)
{
    testutil_watchdog (20);
    void *ctx = zmq_ctx_new ();
    for (int shared = 0; shared < 2; shared++) {
        zmqobs_t *obs = observer (ctx, 1, 0, shared);
        void *z = zmq_socket (ctx, ZMQ_PAIR);
        zmqobs_socket_t *s = zmqobs_attach (obs, z, "s");
        ck_assert_ptr_nonnull (s);
        ck_assert_ptr_null (s->hot.native); /* nothing before the first sample */
        /* the first allocation (the ring) fails: the sample counts in the
         * histograms, classic and native; the next sample allocates the
         * ring */
        zmqobs__alloc_fail_at = 0;
        zmqobs__alloc_count = 0;
        zmqobs__alloc_fail_at = 1;
        zmqobs_record_latency (s, 5);
        zmqobs__alloc_fail_at = 0;
        ck_assert_int_eq (zmqobs__alloc_count, 2);
        ck_assert_ptr_null (s->hot.ring);
        ck_assert_ptr_nonnull (s->hot.native);
        ck_assert_uint_eq (s->hot.slow, 1);
        for (int round = 0; round < 3; round++)
            for (size_t i = 0; i < sizeof lat / sizeof lat[0]; i++)
                zmqobs_record_latency (s, lat[i]);
        ck_assert_uint_eq (s->hot.slow, shared ? 1u : 0u);
        /* the sample from before the ring existed */
        uint64_t *n = s->hot.native;
        ck_assert_uint_eq (n[zmqobs__native_slot (5)], 1);
        n[zmqobs__native_slot (5)] = 0;
        check_slots (s, 3);
        zmqobs_stats_t st;
        ck_assert_int_eq (zmqobs_socket_stats (s, &st), 0);
        ck_assert_uint_eq (st.latency_count, 3 * 8 + 1);
        zmqobs_detach (&s);
        zmq_close (z);
        zmqobs_destroy (&obs);
    }
    /* the native buckets' allocation fails: the sample counts in the
     * classic histogram only, the next one allocates them */
    {
        zmqobs_t *obs = observer (ctx, 1, 0, 0);
        void *z = zmq_socket (ctx, ZMQ_PAIR);
        zmqobs_socket_t *s = zmqobs_attach (obs, z, "s");
        zmqobs__alloc_fail_at = 0;
        zmqobs__alloc_count = 0;
        zmqobs__alloc_fail_at = 2;
        zmqobs_record_latency (s, 5);
        zmqobs__alloc_fail_at = 0;
        ck_assert_ptr_nonnull (s->hot.ring);
        ck_assert_ptr_null (s->hot.native);
        ck_assert_uint_eq (s->hot.slow, 1);
        for (size_t i = 0; i < sizeof lat / sizeof lat[0]; i++)
            zmqobs_record_latency (s, lat[i]);
        ck_assert_uint_eq (s->hot.slow, 0);
        check_slots (s, 1);
        zmqobs_stats_t st;
        ck_assert_int_eq (zmqobs_socket_stats (s, &st), 0);
        ck_assert_uint_eq (st.latency_count, 9);
        zmqobs_detach (&s);
        zmq_close (z);
        zmqobs_destroy (&obs);
    }
    /* off: no native buckets, ever */
    zmqobs_t *obs = observer (ctx, 0, 0, 0);
    void *z = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *s = zmqobs_attach (obs, z, "s");
    for (int i = 0; i < 100; i++)
        zmqobs_record_latency (s, (uint64_t) i * 1000);
    ck_assert_ptr_null (s->hot.native);
    ck_assert_uint_eq (s->hot.slow, 0);
    zmqobs_detach (&s);
    zmq_close (z);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* A minimal reader of the delimited stream: the families' lengths must
 * add up to the whole, and each family must start with its name. Returns
 * the number of families; names[] gets the first max names (not
 * terminated, with their lengths). */
static int walk_families (const unsigned char *p, size_t len, const unsigned char **names,
                          size_t *name_lens, int max)
{
    size_t i = 0;
    int n = 0;
    while (i < len) {
        uint64_t flen = 0;
        int shift = 0;
        while (1) {
            ck_assert_uint_lt (i, len);
            flen |= (uint64_t) (p[i] & 0x7f) << shift;
            shift += 7;
            if (!(p[i++] & 0x80))
                break;
            ck_assert_int_lt (shift, 64);
        }
        ck_assert_uint_le (flen, len - i);
        ck_assert_uint_eq (p[i], 0x0a); /* field 1, name */
        if (n < max) {
            names[n] = p + i + 2;
            name_lens[n] = p[i + 1];
        }
        i += flen;
        n++;
    }
    ck_assert_uint_eq (i, len);
    return n;
}

START_TEST (test_format)
{
    testutil_watchdog (20);
    void *ctx = zmq_ctx_new ();
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.host_driven = 1;
    o.no_process_metrics = 1;
    o.native_histograms = 1;
    zmqobs_label_t cl = {"zone", "a\"b\\c\nd\xc3\xa9"};
    o.labels = &cl;
    o.label_count = 1;
    zmqobs_t *obs = zmqobs_new (ctx, &o);
    ck_assert_ptr_nonnull (obs);
    void *z = zmq_socket (ctx, ZMQ_DEALER);
    static const char hostile[] = "q\"uo\\te\nnew \xe2\x82\xac";
    zmqobs_socket_t *s = zmqobs_attach (obs, z, hostile);
    ck_assert_ptr_nonnull (s);
    for (size_t i = 0; i < sizeof lat / sizeof lat[0]; i++)
        zmqobs_record_latency (s, lat[i]);
    int len = zmqobs_format (obs, ZMQOBS_FORMAT_PROTOBUF, NULL, 0);
    ck_assert_int_gt (len, 100);
    unsigned char *full = malloc ((size_t) len + 1);
    ck_assert_int_eq (zmqobs_format (obs, ZMQOBS_FORMAT_PROTOBUF, (char *) full, (size_t) len + 1),
                      len);
    const unsigned char *names[32];
    size_t nl[32];
    int nf = walk_families (full, (size_t) len, names, nl, 32);
    /* no errors, no handshake failures, no proxy */
    ck_assert_int_eq (nf, F_SOCKET_COUNT - 3);
    ck_assert_uint_eq (nl[0], strlen ("zmq_messages_sent_total"));
    ck_assert_int_eq (memcmp (names[0], "zmq_messages_sent_total", nl[0]), 0);
    /* the hostile values travel as they are, length-prefixed */
    unsigned char pair[64];
    size_t hl = strlen (hostile);
    pair[0] = 0x12;
    pair[1] = (unsigned char) hl;
    memcpy (pair + 2, hostile, hl);
    ck_assert_ptr_nonnull (memmem (full, (size_t) len, pair, hl + 2));
    pair[1] = (unsigned char) strlen (cl.value);
    memcpy (pair + 2, cl.value, strlen (cl.value));
    ck_assert_ptr_nonnull (memmem (full, (size_t) len, pair, 2 + strlen (cl.value)));

    /* every size: the same prefix, the same length, never past size */
    unsigned char *buf = malloc ((size_t) len + 16);
    for (size_t size = 0; size <= (size_t) len + 1; size += size < 64 ? 1 : 7) {
        memset (buf, 0xa5, (size_t) len + 16);
        int rc = zmqobs_format (obs, ZMQOBS_FORMAT_PROTOBUF, size ? (char *) buf : NULL, size);
        ck_assert_int_eq (rc, len);
        size_t kept = size ? (size - 1 < (size_t) len ? size - 1 : (size_t) len) : 0;
        /* a family's length prefix is filled in once the family is
         * complete, so a cut family keeps the placeholder: compare the
         * families wholly inside the cut */
        size_t whole = 0;
        while (whole < kept) {
            size_t j = whole;
            uint64_t fl = 0;
            int sh = 0;
            while (j < (size_t) len) {
                fl |= (uint64_t) (full[j] & 0x7f) << sh;
                sh += 7;
                if (!(full[j++] & 0x80))
                    break;
            }
            if (j + fl > kept)
                break;
            whole = j + fl;
        }
        ck_assert_int_eq (memcmp (buf, full, whole), 0);
        if (size) {
            ck_assert_uint_eq (buf[kept], 0);
            ck_assert_uint_eq (buf[size], 0xa5);
        } else
            ck_assert_uint_eq (buf[0], 0xa5);
    }
    free (buf);
    free (full);
    zmqobs_detach (&s);
    zmq_close (z);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

START_TEST (test_accept)
{
    static const char prom242[] =
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
        "encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,"
        "application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;"
        "q=0.1";
    ck_assert_int_eq (zmqobs_format_from_accept (prom242), ZMQOBS_FORMAT_PROTOBUF);
    static const struct {
        const char *accept;
        zmqobs_format_t want;
    } cases[] = {
        {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
         "encoding=delimited",
         ZMQOBS_FORMAT_PROTOBUF},
        {"application/vnd.google.protobuf; encoding=delimited; "
         "proto=\"io.prometheus.client.MetricFamily\"",
         ZMQOBS_FORMAT_PROTOBUF},
        /* the text encoding, no encoding, another message: not ours */
        {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
         ZMQOBS_FORMAT_PROMETHEUS},
        {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily",
         ZMQOBS_FORMAT_PROMETHEUS},
        {"application/vnd.google.protobuf;proto=io.prometheus.client.metricfamily;"
         "encoding=delimited",
         ZMQOBS_FORMAT_PROMETHEUS},
        {"application/vnd.google.protobuf;encoding=delimited", ZMQOBS_FORMAT_PROMETHEUS},
        /* q decides; then the range listed first */
        {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
         "encoding=delimited;q=0.5,application/openmetrics-text;version=1.0.0;q=0.8",
         ZMQOBS_FORMAT_OPENMETRICS},
        {"text/plain;version=0.0.4;q=0.5,application/vnd.google.protobuf;"
         "proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5",
         ZMQOBS_FORMAT_PROMETHEUS},
        {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
         "encoding=delimited;q=0",
         ZMQOBS_FORMAT_PROMETHEUS},
        /* wildcards never pick a binary format */
        {"*/*", ZMQOBS_FORMAT_PROMETHEUS},
        {"application/*", ZMQOBS_FORMAT_OPENMETRICS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg (zmqobs_format_from_accept (cases[i].accept) == cases[i].want, "%s",
                       cases[i].accept);
    ck_assert_str_eq (zmqobs_content_type (ZMQOBS_FORMAT_PROTOBUF),
                      "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
                      "encoding=delimited");
}
END_TEST

/* GET /metrics with Prometheus's Accept: the protobuf bytes, with their
 * Content-Type and exact Content-Length, NULs and all. */
START_TEST (test_http)
{
    testutil_watchdog (20);
    void *ctx = zmq_ctx_new ();
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.no_process_metrics = 1;
    zmqobs_t *obs = zmqobs_new (ctx, &o);
    ck_assert_ptr_nonnull (obs);
    void *z = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *s = zmqobs_attach (obs, z, "pair");
    ck_assert_ptr_nonnull (s);
    ck_assert_int_eq (zmqobs_serve (obs, "tcp://127.0.0.1:0"), 0);
    int port = zmqobs_serve_port (obs);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    ck_assert_int_eq (connect (fd, (struct sockaddr *) &a, sizeof a), 0);
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                              "Accept: application/vnd.google.protobuf;"
                              "proto=io.prometheus.client.MetricFamily;encoding=delimited\r\n\r\n";
    ck_assert_int_eq (write (fd, req, sizeof req - 1), (ssize_t) sizeof req - 1);
    static char resp[1 << 16];
    size_t got = 0;
    ssize_t r;
    while ((r = read (fd, resp + got, sizeof resp - got)) > 0)
        got += (size_t) r;
    close (fd);
    const char *end = memmem (resp, got, "\r\n\r\n", 4);
    ck_assert_ptr_nonnull (end);
    size_t head = (size_t) (end - resp) + 4;
    ck_assert_ptr_nonnull (memmem (resp, head,
                                   "Content-Type: application/vnd.google.protobuf; "
                                   "proto=io.prometheus.client.MetricFamily; encoding=delimited\r\n",
                                   95));
    char cl[64];
    int want = zmqobs_format (obs, ZMQOBS_FORMAT_PROTOBUF, NULL, 0);
    snprintf (cl, sizeof cl, "Content-Length: %d\r\n", want);
    ck_assert_ptr_nonnull (memmem (resp, head, cl, strlen (cl)));
    ck_assert_uint_eq (got - head, (size_t) want);
    const unsigned char *names[1];
    size_t nl[1];
    ck_assert_int_eq (walk_families ((const unsigned char *) resp + head, got - head, names, nl, 1),
                      F_SOCKET_COUNT - 3);
    zmqobs_detach (&s);
    zmq_close (z);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

int main (void)
{
    Suite *suite = suite_create ("proto");
    TCase *tc = tcase_create ("proto");
    tcase_set_timeout (tc, 30);
    tcase_add_test (tc, test_varint);
    tcase_add_test (tc, test_secs);
    tcase_add_test (tc, test_counter_bytes);
    tcase_add_test (tc, test_native_spans);
    tcase_add_test (tc, test_native_bounds);
    tcase_add_test (tc, test_options);
    tcase_add_test (tc, test_recording);
    tcase_add_test (tc, test_format);
    tcase_add_test (tc, test_accept);
    tcase_add_test (tc, test_http);
    suite_add_tcase (suite, tc);
    return testutil_run (suite);
}
