/*
 * fuzz_proto.c - libFuzzer target for the protobuf encoder (pbwire.c) and
 * the native-histogram reading behind it (native.c).
 *
 * The input becomes one MetricFamily: a type, up to four labels of any
 * bytes (cut from the input at lengths it gives), a value, and for a
 * histogram its classic buckets, exemplars and native schema-3 counts
 * (read back at a schema the input picks). The family is written twice,
 * into a buffer of exactly the size it needs and into one cut short at a
 * size the input picks; the whole one is then read back by the minimal
 * protobuf wire reader below, written from the wire format's rules and
 * metrics.proto alone: every varint well formed, every tag a field of
 * its message with the wire type the .proto gives it, every length
 * inside its parent and the parent's fields ending exactly at its end,
 * and every value equal to what went in (labels byte for byte, doubles
 * bit for bit, counts, spans and deltas adding up to the native buckets).
 * The cut output must be a prefix of the whole (up to the family's
 * length prefix, filled in only when the family is complete).
 *
 * SPDX-License-Identifier: MIT
 */
#include "../internal.h"
#include "native.h"
#include "pbwire.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort ();                                                                 \
        }                                                                             \
    } while (0)

/* ------------------------------------------------------------------------
 * The input, consumed front to back; zeros once it runs out.
 * ---------------------------------------------------------------------- */
typedef struct {
    const uint8_t *p;
    size_t n;
} in_t;

static uint64_t take (in_t *in, size_t bytes)
{
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++) {
        v = v << 8 | (in->n ? *in->p : 0);
        if (in->n) {
            in->p++;
            in->n--;
        }
    }
    return v;
}

static double take_double (in_t *in)
{
    uint64_t bits = take (in, 8);
    double d;
    memcpy (&d, &bits, sizeof d);
    return d;
}

/* ------------------------------------------------------------------------
 * The reader
 * ---------------------------------------------------------------------- */
typedef struct {
    const uint8_t *p, *end;
} rd_t;

static uint64_t varint (rd_t *r)
{
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
        CHECK (r->p < r->end);
        CHECK (shift < 64);
        uint8_t b = *r->p++;
        CHECK (shift < 63 || (b & 0x7e) == 0); /* the tenth byte holds one bit */
        v |= (uint64_t) (b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
}

/* A tag of a field the message declares, with its wire type. */
static unsigned tag (rd_t *r, const char *wire_types)
{
    uint64_t t = varint (r);
    unsigned field = (unsigned) (t >> 3), wt = (unsigned) (t & 7);
    CHECK (t >> 3 < strlen (wire_types));
    CHECK (wire_types[field] != '-');
    CHECK ((unsigned) (wire_types[field] - '0') == wt);
    return field;
}

static rd_t sub (rd_t *r)
{
    uint64_t len = varint (r);
    CHECK (len <= (uint64_t) (r->end - r->p));
    rd_t s = {r->p, r->p + len};
    r->p += len;
    return s;
}

static double dbl (rd_t *r)
{
    CHECK (r->end - r->p >= 8);
    uint64_t bits = 0;
    for (int i = 7; i >= 0; i--)
        bits = bits << 8 | r->p[i];
    r->p += 8;
    double d;
    memcpy (&d, &bits, sizeof d);
    return d;
}

static int64_t unzigzag (uint64_t u)
{
    return (int64_t) (u >> 1) ^ -(int64_t) (u & 1);
}

static void same_double (double a, double b)
{
    CHECK (memcmp (&a, &b, sizeof a) == 0);
}

static void same_bytes (rd_t s, const char *want, size_t n)
{
    CHECK ((size_t) (s.end - s.p) == n);
    CHECK (n == 0 || memcmp (s.p, want, n) == 0);
}

/* Wire types by field number ('-': no such field), from metrics.proto. */
#define LABELPAIR "-22"
#define METRIC "-2222202"
#define FAMILY "-2202"
#define COUNTER "-12"
#define SUMMARY "-012"
#define QUANTILE "-11"
#define HISTOGRAM "-01210101201201"
#define BUCKET "-0121"
#define SPAN "-00"
#define EXEMPLAR "-212"
#define TIMESTAMP "-00"

static void check_label (rd_t s, const zmqobs_pb_label_t *l)
{
    CHECK (tag (&s, LABELPAIR) == 1);
    same_bytes (sub (&s), l->name, l->name_len);
    CHECK (tag (&s, LABELPAIR) == 2);
    same_bytes (sub (&s), l->value, l->value_len);
    CHECK (s.p == s.end);
}

static void check_exemplar (rd_t s, const zmqobs_pb_exemplar_t *e)
{
    CHECK (tag (&s, EXEMPLAR) == 1);
    zmqobs_pb_label_t l = {e->name, e->name_len, e->value, e->value_len};
    check_label (sub (&s), &l);
    CHECK (tag (&s, EXEMPLAR) == 2);
    same_double (dbl (&s), e->v);
    CHECK (tag (&s, EXEMPLAR) == 3);
    rd_t ts = sub (&s);
    uint64_t secs = 0, nanos = 0;
    while (ts.p < ts.end) {
        if (tag (&ts, TIMESTAMP) == 1)
            secs = varint (&ts);
        else
            nanos = varint (&ts);
    }
    CHECK (nanos < 1000000000u);
    CHECK (secs * 1000000000u + nanos == e->wall_ns);
    CHECK (s.p == s.end);
}

static void check_histogram (rd_t s, const zmqobs_pb_metric_t *m)
{
    CHECK (tag (&s, HISTOGRAM) == 1);
    CHECK (varint (&s) == m->count);
    CHECK (tag (&s, HISTOGRAM) == 2);
    same_double (dbl (&s), m->sum);
    for (size_t i = 0; i < m->nb; i++) {
        CHECK (tag (&s, HISTOGRAM) == 3);
        rd_t b = sub (&s);
        CHECK (tag (&b, BUCKET) == 1);
        CHECK (varint (&b) == m->cum[i]);
        CHECK (tag (&b, BUCKET) == 2);
        same_double (dbl (&b), m->ub[i]);
        if (m->ex && m->ex[i].name) {
            CHECK (tag (&b, BUCKET) == 3);
            check_exemplar (sub (&b), &m->ex[i]);
        }
        CHECK (b.p == b.end);
    }
    const zmqobs_native_t *h = m->nat;
    if (h) {
        CHECK (tag (&s, HISTOGRAM) == 5);
        CHECK (unzigzag (varint (&s)) == h->schema);
        CHECK (tag (&s, HISTOGRAM) == 6);
        same_double (dbl (&s), ZMQOBS__NATIVE_ZERO_THRESHOLD);
        CHECK (tag (&s, HISTOGRAM) == 7);
        CHECK (varint (&s) == h->zero_count);
        /* the spans, then the deltas; they must describe the buckets */
        int32_t idx = 0;
        uint32_t total_len = 0, nspans = 0;
        int32_t first_index[ZMQOBS_I_NATIVE_SLOTS];
        uint32_t lens[ZMQOBS_I_NATIVE_SLOTS];
        while (s.p < s.end) {
            const uint8_t *save = s.p;
            unsigned f = tag (&s, HISTOGRAM);
            if (f != 12) {
                s.p = save;
                break;
            }
            rd_t sp = sub (&s);
            CHECK (tag (&sp, SPAN) == 1);
            int64_t off = unzigzag (varint (&sp));
            CHECK (tag (&sp, SPAN) == 2);
            uint64_t len = varint (&sp);
            CHECK (sp.p == sp.end);
            CHECK (len >= 1 && len <= ZMQOBS_I_NATIVE_SLOTS);
            CHECK (nspans == 0 || off >= 1); /* a gap between spans */
            idx = nspans == 0 ? (int32_t) off : idx + (int32_t) off;
            CHECK (nspans < ZMQOBS_I_NATIVE_SLOTS);
            first_index[nspans] = idx;
            lens[nspans++] = (uint32_t) len;
            idx += (int32_t) len;
            total_len += (uint32_t) len;
        }
        CHECK (total_len == h->nbuckets);
        uint64_t count = 0, sum = h->zero_count;
        uint32_t b = 0;
        for (uint32_t k = 0; k < nspans; k++)
            for (uint32_t j = 0; j < lens[k]; j++, b++) {
                CHECK (tag (&s, HISTOGRAM) == 13);
                count += (uint64_t) unzigzag (varint (&s));
                CHECK (count > 0);
                CHECK (count == h->bucket[b]);
                CHECK (first_index[k] + (int32_t) j == h->index[b]);
                sum += count;
            }
        CHECK (sum == h->count);
    }
    CHECK (s.p == s.end);
}

static void check_metric (rd_t s, const zmqobs_pb_metric_t *m)
{
    for (size_t i = 0; i < m->nlabels + m->nlabels2; i++) {
        CHECK (tag (&s, METRIC) == 1);
        check_label (sub (&s), i < m->nlabels ? &m->labels[i] : &m->labels2[i - m->nlabels]);
    }
    unsigned f = tag (&s, METRIC);
    rd_t v = sub (&s);
    switch (m->type) {
    case ZMQOBS__PB_COUNTER:
    case ZMQOBS__PB_GAUGE:
        CHECK (f == (m->type == ZMQOBS__PB_COUNTER ? 3u : 2u));
        CHECK (tag (&v, COUNTER) == 1);
        same_double (dbl (&v), m->value);
        CHECK (v.p == v.end);
        break;
    case ZMQOBS__PB_SUMMARY:
        CHECK (f == 4);
        CHECK (tag (&v, SUMMARY) == 1);
        CHECK (varint (&v) == m->count);
        CHECK (tag (&v, SUMMARY) == 2);
        same_double (dbl (&v), m->sum);
        for (size_t i = 0; i < m->nq; i++) {
            CHECK (tag (&v, SUMMARY) == 3);
            rd_t q = sub (&v);
            CHECK (tag (&q, QUANTILE) == 1);
            same_double (dbl (&q), m->q[i]);
            CHECK (tag (&q, QUANTILE) == 2);
            same_double (dbl (&q), m->qv[i]);
            CHECK (q.p == q.end);
        }
        CHECK (v.p == v.end);
        break;
    default:
        CHECK (f == 7);
        check_histogram (v, m);
        break;
    }
    CHECK (s.p == s.end);
}

/* ------------------------------------------------------------------------
 * The target
 * ---------------------------------------------------------------------- */
static uint64_t slots[ZMQOBS_I_NATIVE_SLOTS];
static zmqobs_native_t nat;

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    in_t in = {data, size};
    static const int types[] = {ZMQOBS__PB_COUNTER, ZMQOBS__PB_GAUGE, ZMQOBS__PB_SUMMARY,
                                ZMQOBS__PB_HISTOGRAM};
    zmqobs_pb_metric_t m;
    memset (&m, 0, sizeof m);
    unsigned head = (unsigned) take (&in, 1);
    m.type = types[head & 3];
    /* labels: each a name and a value cut from a pool of input bytes */
    static char pool[512];
    size_t pool_len = 0;
    zmqobs_pb_label_t labels[4];
    size_t nl = (head >> 2) & 3;
    for (size_t i = 0; i < nl; i++) {
        size_t a = take (&in, 1) % 40, b = take (&in, 1);
        if (pool_len + a + b > sizeof pool)
            a = b = 0;
        char *base = pool + pool_len;
        for (size_t k = 0; k < a + b; k++)
            pool[pool_len++] = (char) take (&in, 1);
        labels[i] = (zmqobs_pb_label_t){base, a, base + a, b};
    }
    m.labels = labels;
    m.nlabels = nl > 1 ? nl - 1 : nl;
    m.labels2 = labels + m.nlabels;
    m.nlabels2 = nl - m.nlabels;
    m.value = take_double (&in);
    m.count = take (&in, 8) >> (take (&in, 1) & 63);
    m.sum = take_double (&in);
    double q[5], qv[5];
    m.nq = take (&in, 1) % 6;
    for (size_t i = 0; i < m.nq; i++) {
        q[i] = take_double (&in);
        qv[i] = take_double (&in);
    }
    m.q = q;
    m.qv = qv;
    double ub[ZMQOBS_BUCKETS_MAX + 1];
    uint64_t cum[ZMQOBS_BUCKETS_MAX + 1];
    zmqobs_pb_exemplar_t ex[ZMQOBS_BUCKETS_MAX + 1];
    static const char trace[] = "0123456789abcdef0123456789abcdef";
    m.nb = take (&in, 1) % (ZMQOBS_BUCKETS_MAX + 2);
    uint64_t c = 0;
    int with_ex = 0;
    for (size_t i = 0; i < m.nb; i++) {
        ub[i] = take_double (&in);
        c += take (&in, 2);
        cum[i] = c;
        unsigned e = (unsigned) take (&in, 1);
        ex[i].name = (e & 1) ? "trace_id" : NULL;
        ex[i].name_len = 8;
        ex[i].value = trace;
        ex[i].value_len = e >> 3;
        ex[i].v = take_double (&in);
        ex[i].wall_ns = take (&in, 8);
        with_ex |= e & 1;
    }
    m.ub = ub;
    m.cum = cum;
    m.ex = with_ex ? ex : NULL;
    if (head & 0x10) {
        /* native counts in a few runs of slots, read at schema 3 .. -4 */
        memset (slots, 0, sizeof slots);
        unsigned runs = (unsigned) take (&in, 1) % 8;
        for (unsigned r = 0; r < runs; r++) {
            unsigned at = (unsigned) take (&in, 2) % ZMQOBS_I_NATIVE_SLOTS;
            unsigned len = (unsigned) take (&in, 1) % 40;
            for (unsigned k = at; k < at + len && k < ZMQOBS_I_NATIVE_SLOTS; k++)
                slots[k] = take (&in, 1) << (take (&in, 1) % 56);
        }
        int schema = 3 - (int) ((head >> 5) & 7);
        zmqobs__native_read (slots, schema, &nat);
        uint64_t total = 0;
        for (unsigned k = 0; k < ZMQOBS_I_NATIVE_SLOTS; k++)
            total += slots[k];
        CHECK (nat.count == total);
        m.nat = &nat;
    }

    /* the whole family, in a buffer of exactly its size plus the NUL */
    zmqobs_out_t o;
    zmqobs__out_init (&o, NULL, 0);
    size_t start = zmqobs__pb_family_begin (&o, "fam", 3, "help", 4, m.type);
    zmqobs__pb_metric (&o, &m);
    zmqobs__pb_family_end (&o, start);
    size_t len = o.len;
    CHECK (zmqobs__pb_metric_size (&m) + 2 <= len);
    uint8_t *buf = malloc (len + 1);
    CHECK (buf != NULL);
    zmqobs__out_init (&o, (char *) buf, len + 1);
    start = zmqobs__pb_family_begin (&o, "fam", 3, "help", 4, m.type);
    zmqobs__pb_metric (&o, &m);
    zmqobs__pb_family_end (&o, start);
    CHECK (zmqobs__out_end (&o) == len);

    rd_t r = {buf, buf + len};
    rd_t fam = sub (&r);
    CHECK (r.p == r.end);
    CHECK (tag (&fam, FAMILY) == 1);
    same_bytes (sub (&fam), "fam", 3);
    CHECK (tag (&fam, FAMILY) == 2);
    same_bytes (sub (&fam), "help", 4);
    CHECK (tag (&fam, FAMILY) == 3);
    CHECK (varint (&fam) == (uint64_t) m.type);
    CHECK (tag (&fam, FAMILY) == 4);
    rd_t metric = sub (&fam);
    CHECK ((size_t) (metric.end - metric.p) == zmqobs__pb_metric_size (&m));
    CHECK (fam.p == fam.end);
    check_metric (metric, &m);

    /* cut short: a prefix of the whole after the length prefix, never a
     * byte past the size */
    size_t cut = take (&in, 2) % (len + 1);
    uint8_t *small = malloc (cut + 1);
    CHECK (small != NULL);
    zmqobs__out_init (&o, (char *) small, cut);
    start = zmqobs__pb_family_begin (&o, "fam", 3, "help", 4, m.type);
    zmqobs__pb_metric (&o, &m);
    zmqobs__pb_family_end (&o, start);
    CHECK (zmqobs__out_end (&o) == len);
    if (cut > ZMQOBS__PB_PREFIX)
        CHECK (memcmp (small + ZMQOBS__PB_PREFIX, buf + ZMQOBS__PB_PREFIX,
                       cut - 1 - ZMQOBS__PB_PREFIX) == 0);
    if (cut)
        CHECK (small[cut - 1] == 0);
    free (small);
    free (buf);
    return 0;
}
