/*
 * fmt_app.c - the application metrics in text 0.0.4, OpenMetrics 1.0.0,
 * JSON and the report.
 *
 * The formats walk obs->app_families under obs->scrape_lock (held by
 * zmqobs_format), so the lists hold still; values are read with relaxed
 * loads while other threads update them. A histogram is read once per
 * series: its buckets are summed for +Inf and _count, so the two always
 * agree. Doubles go through zmqobs__fmt_double, never printf's locale;
 * bounds were rendered once, at creation.
 *
 * SPDX-License-Identifier: MIT
 */
#include "fmt_app.h"

#include <math.h>
#include <string.h>

#define FOR_EACH(it, head) \
    for (const zmqobs_dlink_t *it = (head)->next; it != (head); it = it->next)
#define FAMILY(l) ZMQOBS__CONTAINER (l, zmqobs_app_family_t, link)
#define SERIES(l) ZMQOBS__CONTAINER (l, zmqobs_metric_t, link)

static const char *const kind_names[] = {"counter", "gauge", "histogram"};

/* ------------------------------------------------------------------------
 * Text 0.0.4 and OpenMetrics
 * ---------------------------------------------------------------------- */

static void put_name (zmqobs_out_t *o, const zmqobs_t *obs, const zmqobs_app_family_t *f,
                      const char *suffix)
{
    zmqobs__put_str (o, obs->prefix);
    zmqobs__put (o, f->name, f->name_len);
    zmqobs__put_str (o, suffix);
}

/* {own labels,constant labels[,le="..."]}, or nothing when empty. */
static void put_labels (zmqobs_out_t *o, const zmqobs_t *obs, const zmqobs_metric_t *m,
                        const char *le, size_t le_len)
{
    int any = 0;
    for (size_t i = 0; i < m->nlabels + obs->label_count; i++) {
        int own = i < m->nlabels;
        const char *value = own ? m->label_values[i] : obs->label_values[i - m->nlabels];
        zmqobs__put_c (o, any ? ',' : '{');
        any = 1;
        zmqobs__put_str (o, own ? m->label_names[i] : obs->label_names[i - m->nlabels]);
        ZMQOBS__PUT_LIT (o, "=\"");
        zmqobs__esc_label (o, value, own ? m->label_value_lens[i] : strlen (value));
        zmqobs__put_c (o, '"');
    }
    if (le) {
        zmqobs__put_c (o, any ? ',' : '{');
        any = 1;
        ZMQOBS__PUT_LIT (o, "le=\"");
        zmqobs__put (o, le, le_len);
        zmqobs__put_c (o, '"');
    }
    if (any)
        zmqobs__put_c (o, '}');
}

static void sample (zmqobs_out_t *o, const zmqobs_t *obs, const zmqobs_metric_t *m,
                    const char *suffix, const char *le, size_t le_len, const char *val,
                    size_t val_len)
{
    put_name (o, obs, m->fam, suffix);
    put_labels (o, obs, m, le, le_len);
    zmqobs__put_c (o, ' ');
    zmqobs__put (o, val, val_len);
    zmqobs__put_c (o, '\n');
}

static void sample_u64 (zmqobs_out_t *o, const zmqobs_t *obs, const zmqobs_metric_t *m,
                        const char *suffix, const char *le, size_t le_len, uint64_t v)
{
    char num[24];
    sample (o, obs, m, suffix, le, le_len, num, zmqobs__fmt_u64 (num, v));
}

/* Text 0.0.4: HELP then TYPE, a counter family named with _total;
 * OpenMetrics: TYPE then HELP, without. */
static void header (zmqobs_out_t *o, const zmqobs_t *obs, const zmqobs_app_family_t *f, int om)
{
    const char *suffix = !om && f->kind == ZMQOBS__APP_COUNTER ? "_total" : "";
    for (int line = 0; line < 2; line++) {
        if (line == om) {
            ZMQOBS__PUT_LIT (o, "# HELP ");
            put_name (o, obs, f, suffix);
            zmqobs__put_c (o, ' ');
            zmqobs__esc_help (o, f->help, f->help_len, om);
        } else {
            ZMQOBS__PUT_LIT (o, "# TYPE ");
            put_name (o, obs, f, suffix);
            zmqobs__put_c (o, ' ');
            zmqobs__put_str (o, kind_names[f->kind]);
        }
        zmqobs__put_c (o, '\n');
    }
}

static void prom_histogram (zmqobs_out_t *o, const zmqobs_t *obs, const zmqobs_metric_t *m, int om)
{
    const zmqobs_app_family_t *f = m->fam;
    uint64_t counts[ZMQOBS_BUCKETS_MAX + 1];
    double sum = zmqobs__app_hist (m, counts);
    uint64_t cum = 0;
    for (uint32_t i = 0; i < f->nbounds; i++) {
        cum += counts[i];
        sample_u64 (o, obs, m, "_bucket", f->le[i].text[om], f->le[i].len[om], cum);
    }
    cum += counts[f->nbounds];
    sample_u64 (o, obs, m, "_bucket", "+Inf", 4, cum);
    /* In OpenMetrics _sum is a counter: a histogram with negative
     * bounds may not show it, and _count goes with _sum there (the
     * +Inf bucket holds the count all the same). */
    if (om && !f->sum_om)
        return;
    char num[ZMQOBS__DOUBLE_MAX];
    sample (o, obs, m, "_sum", NULL, 0, num, zmqobs__fmt_double (num, sum, om));
    sample_u64 (o, obs, m, "_count", NULL, 0, cum);
}

void zmqobs__fmt_app_prom (zmqobs_out_t *o, const zmqobs_t *obs, int om)
{
    char num[ZMQOBS__DOUBLE_MAX];
    FOR_EACH (fl, &obs->app_families)
    {
        const zmqobs_app_family_t *f = FAMILY (fl);
        header (o, obs, f, om);
        FOR_EACH (ml, &f->series)
        {
            const zmqobs_metric_t *m = SERIES (ml);
            switch (f->kind) {
            case ZMQOBS__APP_COUNTER:
                sample_u64 (o, obs, m, "_total", NULL, 0, zmqobs__app_u64 (m));
                break;
            case ZMQOBS__APP_GAUGE:
                sample (o, obs, m, "", NULL, 0, num,
                        zmqobs__fmt_double (num, zmqobs__app_double (m), om));
                break;
            default:
                prom_histogram (o, obs, m, om);
                break;
            }
            if (om && f->kind != ZMQOBS__APP_GAUGE) {
                char secs[48];
                sample (o, obs, m, "_created", NULL, 0, secs,
                        zmqobs__fmt_secs (secs, m->created_wall_ns));
            }
        }
    }
}

/* ------------------------------------------------------------------------
 * JSON
 * ---------------------------------------------------------------------- */

/* A double as a JSON number, or a string for what JSON cannot hold. */
static void json_double (zmqobs_out_t *o, double v)
{
    char num[ZMQOBS__DOUBLE_MAX];
    size_t n = zmqobs__fmt_double (num, v, 0);
    if (isfinite (v))
        zmqobs__put (o, num, n);
    else
        zmqobs__put_json (o, num, n);
}

static void json_metric (zmqobs_out_t *o, const zmqobs_metric_t *m)
{
    const zmqobs_app_family_t *f = m->fam;
    ZMQOBS__PUT_LIT (o, "{\"name\":");
    zmqobs__put_json (o, f->name, f->name_len);
    ZMQOBS__PUT_LIT (o, ",\"type\":\"");
    zmqobs__put_str (o, kind_names[f->kind]);
    ZMQOBS__PUT_LIT (o, "\",\"help\":");
    zmqobs__put_json (o, f->help, f->help_len);
    ZMQOBS__PUT_LIT (o, ",\"labels\":{");
    for (size_t i = 0; i < m->nlabels; i++) {
        if (i)
            zmqobs__put_c (o, ',');
        zmqobs__put_json (o, m->label_names[i], strlen (m->label_names[i]));
        zmqobs__put_c (o, ':');
        zmqobs__put_json (o, m->label_values[i], m->label_value_lens[i]);
    }
    ZMQOBS__PUT_LIT (o, "},");
    if (f->kind == ZMQOBS__APP_COUNTER) {
        ZMQOBS__PUT_LIT (o, "\"value\":");
        zmqobs__put_u64 (o, zmqobs__app_u64 (m));
    } else if (f->kind == ZMQOBS__APP_GAUGE) {
        ZMQOBS__PUT_LIT (o, "\"value\":");
        json_double (o, zmqobs__app_double (m));
    } else {
        uint64_t counts[ZMQOBS_BUCKETS_MAX + 1], total = 0;
        double sum = zmqobs__app_hist (m, counts);
        for (uint32_t i = 0; i <= f->nbounds; i++)
            total += counts[i];
        ZMQOBS__PUT_LIT (o, "\"count\":");
        zmqobs__put_u64 (o, total);
        ZMQOBS__PUT_LIT (o, ",\"sum\":");
        json_double (o, sum);
        ZMQOBS__PUT_LIT (o, ",\"bounds\":[");
        for (uint32_t i = 0; i < f->nbounds; i++) {
            if (i)
                zmqobs__put_c (o, ',');
            zmqobs__put (o, f->le[i].text[0], f->le[i].len[0]);
        }
        /* per bucket, not cumulative, +Inf last: as for the latency */
        ZMQOBS__PUT_LIT (o, "],\"bucket_counts\":[");
        for (uint32_t i = 0; i <= f->nbounds; i++) {
            if (i)
                zmqobs__put_c (o, ',');
            zmqobs__put_u64 (o, counts[i]);
        }
        zmqobs__put_c (o, ']');
    }
    zmqobs__put_c (o, '}');
}

void zmqobs__fmt_app_json (zmqobs_out_t *o, const zmqobs_t *obs)
{
    int first = 1;
    zmqobs__put_c (o, '[');
    FOR_EACH (fl, &obs->app_families)
    FOR_EACH (ml, &FAMILY (fl)->series)
    {
        if (!first)
            zmqobs__put_c (o, ',');
        first = 0;
        json_metric (o, SERIES (ml));
    }
    zmqobs__put_c (o, ']');
}

/* ------------------------------------------------------------------------
 * Report
 * ---------------------------------------------------------------------- */

void zmqobs__fmt_app_text (zmqobs_out_t *o, const zmqobs_t *obs)
{
    if (zmqobs__dl_empty (&obs->app_families))
        return;
    ZMQOBS__PUT_LIT (o, "application\n");
    char num[ZMQOBS__DOUBLE_MAX];
    FOR_EACH (fl, &obs->app_families)
    {
        const zmqobs_app_family_t *f = FAMILY (fl);
        FOR_EACH (ml, &f->series)
        {
            const zmqobs_metric_t *m = SERIES (ml);
            ZMQOBS__PUT_LIT (o, "  ");
            zmqobs__put (o, f->name, f->name_len);
            /* values escaped to one line: a hostile one cannot forge
             * report lines */
            for (size_t i = 0; i < m->nlabels; i++) {
                zmqobs__put_c (o, i ? ',' : '{');
                zmqobs__put_str (o, m->label_names[i]);
                ZMQOBS__PUT_LIT (o, "=\"");
                zmqobs__esc_line (o, m->label_values[i], m->label_value_lens[i]);
                zmqobs__put_c (o, '"');
            }
            if (m->nlabels)
                zmqobs__put_c (o, '}');
            zmqobs__put_c (o, ' ');
            zmqobs__put_str (o, kind_names[f->kind]);
            zmqobs__put_c (o, ' ');
            if (f->kind == ZMQOBS__APP_COUNTER)
                zmqobs__put_u64 (o, zmqobs__app_u64 (m));
            else if (f->kind == ZMQOBS__APP_GAUGE)
                zmqobs__put (o, num, zmqobs__fmt_double (num, zmqobs__app_double (m), 0));
            else {
                uint64_t counts[ZMQOBS_BUCKETS_MAX + 1], total = 0;
                double sum = zmqobs__app_hist (m, counts);
                for (uint32_t i = 0; i <= f->nbounds; i++)
                    total += counts[i];
                ZMQOBS__PUT_LIT (o, "count ");
                zmqobs__put_u64 (o, total);
                ZMQOBS__PUT_LIT (o, ", sum ");
                zmqobs__put (o, num, zmqobs__fmt_double (num, sum, 0));
            }
            zmqobs__put_c (o, '\n');
        }
    }
}
