/*
 * pbwire.c - the protobuf wire format of Prometheus's metrics.proto
 * (io.prometheus.client, proto2), by hand.
 *
 * Every message inside a family is sized before it is written, from the
 * values the caller read once: a length-delimited field needs its length
 * first, and computing it is cheaper than shifting bytes around in the
 * output (which, with snprintf semantics, may not even hold them). The
 * family's own length prefix is filled in afterwards (see pbwire.h). Fields are written in
 * field-number order of the proto; proto2's repeated scalars
 * (positive_delta) are written unpacked, as
 * the .proto declares them (parsers accept both forms). Doubles are
 * 8 bytes little-endian whatever the host's order.
 *
 * SPDX-License-Identifier: MIT
 */
#include "pbwire.h"

#include <math.h>
#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2 };

__extension__ typedef unsigned __int128 u128;

double zmqobs__secs_double (uint64_t ns)
{
    if (ns == 0)
        return 0.0;
    /* scale ns by 2^k so that the quotient m = (ns << k) / 1e9 has 53
     * bits, round m to nearest even by the remainder, and scale back
     * (exact: m fits a double, and 2^-k is a power of two) */
    const u128 d = 1000000000u;
    int k = 0;
    u128 n = ns;
    while (n / d >= ((u128) 1 << 53)) {
        /* never taken: ns / 1e9 < 2^35 */
        n >>= 1;
        k--;
    }
    while (n / d < ((u128) 1 << 52)) {
        n <<= 1;
        k++;
    }
    uint64_t m = (uint64_t) (n / d);
    u128 rem = n % d;
    if (2 * rem > d || (2 * rem == d && (m & 1)))
        m++;
    return ldexp ((double) m, -k);
}

size_t zmqobs__pb_varint_size (uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

uint64_t zmqobs__pb_zigzag (int64_t v)
{
    /* (v << 1) ^ (v >> 63), without shifting a negative value */
    uint64_t u = (uint64_t) v;
    return (u << 1) ^ (0 - (u >> 63));
}

void zmqobs__pb_put_varint (zmqobs_out_t *o, uint64_t v)
{
    char b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (char) (0x80 | (v & 0x7f));
        v >>= 7;
    }
    b[n++] = (char) v;
    zmqobs__put (o, b, n);
}

/* Every field number here is below 16: a tag is one byte. */
static void put_tag (zmqobs_out_t *o, unsigned field, unsigned wt)
{
    zmqobs__put_c (o, (char) (field << 3 | wt));
}

static void put_double (zmqobs_out_t *o, unsigned field, double v)
{
    uint64_t bits;
    memcpy (&bits, &v, sizeof bits);
    char b[9];
    b[0] = (char) (field << 3 | WT_I64);
    for (int i = 0; i < 8; i++)
        b[1 + i] = (char) (bits >> (8 * i));
    zmqobs__put (o, b, 9);
}

static void put_uvar (zmqobs_out_t *o, unsigned field, uint64_t v)
{
    put_tag (o, field, WT_VARINT);
    zmqobs__pb_put_varint (o, v);
}

static size_t uvar_size (uint64_t v)
{
    return 1 + zmqobs__pb_varint_size (v);
}

static void put_len (zmqobs_out_t *o, unsigned field, size_t len)
{
    put_tag (o, field, WT_LEN);
    zmqobs__pb_put_varint (o, len);
}

static size_t len_size (size_t len)
{
    return 1 + zmqobs__pb_varint_size (len) + len;
}

static void put_string (zmqobs_out_t *o, unsigned field, const char *s, size_t n)
{
    put_len (o, field, n);
    zmqobs__put (o, s, n);
}

/* ------------------------------------------------------------------------
 * Messages: X_size gives the body's bytes, put_X writes the body.
 * ---------------------------------------------------------------------- */

/* LabelPair { 1 name, 2 value } */
static size_t label_size (const char *n, size_t nl, const char *v, size_t vl)
{
    (void) n;
    (void) v;
    return len_size (nl) + len_size (vl);
}

static void put_label (zmqobs_out_t *o, unsigned field, const char *n, size_t nl, const char *v,
                       size_t vl)
{
    put_len (o, field, label_size (n, nl, v, vl));
    put_string (o, 1, n, nl);
    put_string (o, 2, v, vl);
}

/* google.protobuf.Timestamp { 1 seconds, 2 nanos } */
static size_t ts_size (uint64_t ns)
{
    uint64_t s = ns / 1000000000u, frac = ns % 1000000000u;
    return (s ? uvar_size (s) : 0) + (frac ? uvar_size (frac) : 0);
}

/* Exemplar { 1 label, 2 value, 3 timestamp } */
static size_t exemplar_size (const zmqobs_pb_exemplar_t *e)
{
    return len_size (label_size (e->name, e->name_len, e->value, e->value_len)) + 9
           + len_size (ts_size (e->wall_ns));
}

static void put_exemplar (zmqobs_out_t *o, unsigned field, const zmqobs_pb_exemplar_t *e)
{
    put_len (o, field, exemplar_size (e));
    put_label (o, 1, e->name, e->name_len, e->value, e->value_len);
    put_double (o, 2, e->v);
    put_len (o, 3, ts_size (e->wall_ns));
    uint64_t s = e->wall_ns / 1000000000u, frac = e->wall_ns % 1000000000u;
    if (s)
        put_uvar (o, 1, s);
    if (frac)
        put_uvar (o, 2, frac);
}

/* Bucket { 1 cumulative_count, 2 upper_bound, 3 exemplar } */
static size_t bucket_size (const zmqobs_pb_metric_t *m, size_t i)
{
    size_t n = uvar_size (m->cum[i]) + 9;
    if (m->ex && m->ex[i].name)
        n += len_size (exemplar_size (&m->ex[i]));
    return n;
}

/* BucketSpan { 1 offset (sint32), 2 length } */
static size_t span_size (const zmqobs_native_t *h, uint32_t i)
{
    return uvar_size (zmqobs__pb_zigzag (h->span_offset[i])) + uvar_size (h->span_len[i]);
}

/* Histogram { 1 sample_count, 2 sample_sum, 3 bucket, 5 schema, 6
 * zero_threshold, 7 zero_count, 12 positive_span, 13 positive_delta } */
static size_t histogram_size (const zmqobs_pb_metric_t *m)
{
    size_t n = uvar_size (m->count) + 9;
    for (size_t i = 0; i < m->nb; i++)
        n += len_size (bucket_size (m, i));
    const zmqobs_native_t *h = m->nat;
    if (h) {
        n += uvar_size (zmqobs__pb_zigzag (h->schema)) + 9 + uvar_size (h->zero_count);
        for (uint32_t i = 0; i < h->nspans; i++)
            n += len_size (span_size (h, i));
        for (uint32_t i = 0; i < h->nbuckets; i++)
            n += uvar_size (zmqobs__pb_zigzag (h->delta[i]));
    }
    return n;
}

static void put_histogram (zmqobs_out_t *o, const zmqobs_pb_metric_t *m)
{
    put_len (o, 7, histogram_size (m));
    put_uvar (o, 1, m->count);
    put_double (o, 2, m->sum);
    for (size_t i = 0; i < m->nb; i++) {
        put_len (o, 3, bucket_size (m, i));
        put_uvar (o, 1, m->cum[i]);
        put_double (o, 2, m->ub[i]);
        if (m->ex && m->ex[i].name)
            put_exemplar (o, 3, &m->ex[i]);
    }
    const zmqobs_native_t *h = m->nat;
    if (!h)
        return;
    put_uvar (o, 5, zmqobs__pb_zigzag (h->schema));
    put_double (o, 6, ZMQOBS__NATIVE_ZERO_THRESHOLD);
    put_uvar (o, 7, h->zero_count);
    for (uint32_t i = 0; i < h->nspans; i++) {
        put_len (o, 12, span_size (h, i));
        put_uvar (o, 1, zmqobs__pb_zigzag (h->span_offset[i]));
        put_uvar (o, 2, h->span_len[i]);
    }
    for (uint32_t i = 0; i < h->nbuckets; i++)
        put_uvar (o, 13, zmqobs__pb_zigzag (h->delta[i]));
}

/* Summary { 1 sample_count, 2 sample_sum, 3 quantile { 1 quantile, 2
 * value } } */
static size_t summary_size (const zmqobs_pb_metric_t *m)
{
    return uvar_size (m->count) + 9 + m->nq * len_size (18);
}

static void put_summary (zmqobs_out_t *o, const zmqobs_pb_metric_t *m)
{
    put_len (o, 4, summary_size (m));
    put_uvar (o, 1, m->count);
    put_double (o, 2, m->sum);
    for (size_t i = 0; i < m->nq; i++) {
        put_len (o, 3, 18);
        put_double (o, 1, m->q[i]);
        put_double (o, 2, m->qv[i]);
    }
}

/* Metric { 1 label, 2 gauge, 3 counter, 4 summary, 7 histogram } */
size_t zmqobs__pb_metric_size (const zmqobs_pb_metric_t *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nlabels; i++)
        n += len_size (label_size (m->labels[i].name, m->labels[i].name_len, m->labels[i].value,
                                   m->labels[i].value_len));
    for (size_t i = 0; i < m->nlabels2; i++)
        n += len_size (label_size (m->labels2[i].name, m->labels2[i].name_len,
                                   m->labels2[i].value, m->labels2[i].value_len));
    switch (m->type) {
    case ZMQOBS__PB_COUNTER:
    case ZMQOBS__PB_GAUGE:
        return n + len_size (9);
    case ZMQOBS__PB_SUMMARY:
        return n + len_size (summary_size (m));
    default:
        return n + len_size (histogram_size (m));
    }
}

void zmqobs__pb_metric (zmqobs_out_t *o, const zmqobs_pb_metric_t *m)
{
    put_len (o, 4, zmqobs__pb_metric_size (m));
    for (size_t i = 0; i < m->nlabels; i++)
        put_label (o, 1, m->labels[i].name, m->labels[i].name_len, m->labels[i].value,
                   m->labels[i].value_len);
    for (size_t i = 0; i < m->nlabels2; i++)
        put_label (o, 1, m->labels2[i].name, m->labels2[i].name_len, m->labels2[i].value,
                   m->labels2[i].value_len);
    switch (m->type) {
    case ZMQOBS__PB_COUNTER:
        put_len (o, 3, 9);
        put_double (o, 1, m->value);
        break;
    case ZMQOBS__PB_GAUGE:
        put_len (o, 2, 9);
        put_double (o, 1, m->value);
        break;
    case ZMQOBS__PB_SUMMARY:
        put_summary (o, m);
        break;
    default:
        put_histogram (o, m);
        break;
    }
}

/* MetricFamily { 1 name, 2 help, 3 type, 4 metric }, delimited */
size_t zmqobs__pb_family_begin (zmqobs_out_t *o, const char *name, size_t name_len,
                                const char *help, size_t help_len, int type)
{
    size_t start = o->len;
    static const char pad[ZMQOBS__PB_PREFIX] = {0};
    zmqobs__put (o, pad, sizeof pad);
    put_string (o, 1, name, name_len);
    put_string (o, 2, help, help_len);
    put_uvar (o, 3, (uint64_t) type);
    return start;
}

void zmqobs__pb_family_end (zmqobs_out_t *o, size_t start)
{
    /* the prefix was only written if it fit, and then whole */
    if (start + ZMQOBS__PB_PREFIX > o->cap)
        return;
    uint64_t len = o->len - start - ZMQOBS__PB_PREFIX;
    for (int i = 0; i < ZMQOBS__PB_PREFIX; i++) {
        unsigned char b = (unsigned char) ((len >> (7 * i)) & 0x7f);
        if (i < ZMQOBS__PB_PREFIX - 1)
            b |= 0x80;
        o->buf[start + (size_t) i] = (char) b;
    }
}
