/*
 * pbwire.h - the protobuf wire format of io.prometheus.client
 * MetricFamily messages, written by hand (pbwire.c): sizes computed
 * before anything is written, so that every length prefix is a minimal
 * varint and nothing is buffered or allocated. Pure.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_PBWIRE_H
#define ZMQOBS_PBWIRE_H

#include "native.h"

/* io.prometheus.client.MetricType */
enum { ZMQOBS__PB_COUNTER = 0, ZMQOBS__PB_GAUGE = 1, ZMQOBS__PB_SUMMARY = 2, ZMQOBS__PB_HISTOGRAM = 4 };

typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} zmqobs_pb_label_t;

/* An exemplar: one label (name="value", e.g. trace_id), its value and its
 * time; name NULL for none. */
typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
    double v;
    uint64_t wall_ns; /* Unix time in ns */
} zmqobs_pb_exemplar_t;

/* One Metric: its labels (two lists, written one after the other, e.g.
 * the series' own labels and the observer's constant ones) and the
 * value of its type. */
typedef struct {
    int type; /* ZMQOBS__PB_* */
    const zmqobs_pb_label_t *labels;
    size_t nlabels;
    const zmqobs_pb_label_t *labels2;
    size_t nlabels2;
    double value;  /* counter, gauge */
    uint64_t count; /* summary, histogram */
    double sum;
    size_t nq; /* summary: quantiles q[] with values qv[] */
    const double *q;
    const double *qv;
    size_t nb; /* histogram: classic buckets, upper bounds ub[] (the
                  last may be +Inf), cumulative counts cum[] */
    const double *ub;
    const uint64_t *cum;
    const zmqobs_pb_exemplar_t *ex; /* histogram: nb exemplars, or NULL */
    const zmqobs_native_t *nat;     /* histogram: the native part, or NULL */
} zmqobs_pb_metric_t;

/* ns / 1e9 as the double nearest to it (ties to even): what parsing the
 * text formats' exact decimal gives. Integer arithmetic only, so the
 * result does not depend on long double (valgrind, for one, computes
 * those with 64 bits). */
double zmqobs__secs_double (uint64_t ns);

/* Bytes of a varint, and the zigzag encoding of a signed value. */
size_t zmqobs__pb_varint_size (uint64_t v);
uint64_t zmqobs__pb_zigzag (int64_t v);
/* Writes a varint (1..10 bytes). */
void zmqobs__pb_put_varint (zmqobs_out_t *o, uint64_t v);

/* Bytes of a Metric message's body. */
size_t zmqobs__pb_metric_size (const zmqobs_pb_metric_t *m);
/* Writes MetricFamily field 4 (metric): tag, length, body. */
void zmqobs__pb_metric (zmqobs_out_t *o, const zmqobs_pb_metric_t *m);
/* A delimited MetricFamily: family_begin writes the length prefix as a
 * placeholder and the name, help and type fields, and returns where the
 * prefix is; the caller writes the metrics; family_end fills in the
 * prefix. The prefix is a varint of ZMQOBS__PB_PREFIX bytes, padded with
 * continuation bits (a varint may be longer than minimal, and decoders
 * read it as the same number): so each value is read once, as the family
 * is written, and a value that changes meanwhile cannot make a length
 * computed beforehand wrong. Every length inside a family is minimal. */
#define ZMQOBS__PB_PREFIX 5
size_t zmqobs__pb_family_begin (zmqobs_out_t *o, const char *name, size_t name_len,
                                const char *help, size_t help_len, int type);
void zmqobs__pb_family_end (zmqobs_out_t *o, size_t start);

#endif /* ZMQOBS_PBWIRE_H */
