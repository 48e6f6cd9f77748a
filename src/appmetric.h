/*
 * appmetric.h - application metrics: the host's counters, gauges and
 * histograms, their families and their limits (appmetric.c).
 *
 * The families of an observer hang off obs->app_families, in creation
 * order, each with its series in creation order. The lists, and every
 * field below that is not a value, change only under obs->scrape_lock,
 * which the formatters hold while they walk them. The values (value,
 * counts) are written from any thread with atomic read-modify-write and
 * read with relaxed loads.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_APPMETRIC_H
#define ZMQOBS_APPMETRIC_H

#include "zmqobs_private.h"

enum { ZMQOBS__APP_COUNTER, ZMQOBS__APP_GAUGE, ZMQOBS__APP_HISTOGRAM };

/* A histogram bound: its le text per format, made once (0: text 0.0.4
 * and JSON, 1: OpenMetrics). */
typedef struct {
    char text[2][ZMQOBS__DOUBLE_MAX];
    uint8_t len[2];
} zmqobs_app_le_t;

typedef struct zmqobs_app_family {
    zmqobs_dlink_t link;   /* obs->app_families */
    zmqobs_dlink_t series; /* its metrics (zmqobs_metric_t.link) */
    int kind;              /* ZMQOBS__APP_* */
    int sum_om;            /* OpenMetrics shows _sum and _count: no
                              negative bound */
    char *name;            /* as given: no prefix, no _total */
    size_t name_len;
    char *help;
    size_t help_len;
    uint32_t nbounds;
    double *bounds;      /* nbounds of them, after the struct */
    zmqobs_app_le_t *le; /* their texts, after the bounds */
} zmqobs_app_family_t;

struct zmqobs_metric {
    /* immutable after creation: the update calls read them, so they are
     * kept apart from the lines those calls write */
    int kind;
    int nonneg; /* histogram: refuses negative values */
    uint32_t nbounds;
    const double *bounds; /* fam->bounds */
    zmqobs_app_family_t *fam;
    zmqobs_t *obs;
    zmqobs_dlink_t link;      /* fam->series; under obs->scrape_lock */
    uint64_t created_wall_ns; /* OpenMetrics _created */
    size_t nlabels;
    const char *label_names[ZMQOBS_METRIC_LABELS_MAX];
    const char *label_values[ZMQOBS_METRIC_LABELS_MAX];
    size_t label_value_lens[ZMQOBS_METRIC_LABELS_MAX];
    /* any thread, atomic RMW: the counter, or the bits of the gauge's
     * double, or of the histogram's sum */
    uint64_t value __attribute__ ((aligned (ZMQOBS_CACHELINE)));
    uint64_t counts[]; /* histogram: nbounds + 1, the last is +Inf; the
                          label texts follow, in the same allocation */
};

/* The head of obs->app_families (zmqobs_new, before anything can fail). */
void zmqobs__app_init (zmqobs_t *obs);
/* Frees every metric and family of the observer (zmqobs_destroy). */
void zmqobs__app_fini (zmqobs_t *obs);

/* Relaxed reads for the formatters. */
static inline uint64_t zmqobs__app_u64 (const zmqobs_metric_t *m)
{
    return LOAD (&m->value);
}

static inline double zmqobs__app_double (const zmqobs_metric_t *m)
{
    uint64_t bits = LOAD (&m->value);
    double v;
    memcpy (&v, &bits, sizeof v);
    return v;
}

/* A histogram's buckets, not cumulative (counts[nbounds] is +Inf), into
 * out (room for ZMQOBS_BUCKETS_MAX + 1), and its sum. */
static inline double zmqobs__app_hist (const zmqobs_metric_t *m, uint64_t *out)
{
    for (uint32_t i = 0; i <= m->nbounds; i++)
        out[i] = LOAD (&m->counts[i]);
    return zmqobs__app_double (m);
}

#endif /* ZMQOBS_APPMETRIC_H */
