/*
 * appmetric.c - application metrics: creation with every check, the
 * lock-free update calls, destruction.
 *
 * Creation and destruction take obs->scrape_lock, the lock a scrape holds
 * from start to end: a scrape walks the families with no other lock and
 * never meets a metric half linked or freed, and the update calls take no
 * lock at all. Families and metrics are few (ZMQOBS_METRICS_MAX), so the
 * lookups at creation are linear scans.
 *
 * SPDX-License-Identifier: MIT
 */
#include "appmetric.h"

#include <math.h>
#include <string.h>

/* Prometheus's default histogram bounds. */
static const double default_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

#define FOR_EACH(it, head) for (zmqobs_dlink_t *it = (head)->next; it != (head); it = it->next)
#define FAMILY(l) ZMQOBS__CONTAINER (l, zmqobs_app_family_t, link)
#define SERIES(l) ZMQOBS__CONTAINER (l, zmqobs_metric_t, link)

void zmqobs__app_init (zmqobs_t *obs)
{
    zmqobs__dl_init (&obs->app_families);
    obs->app_count = 0;
}

/* ------------------------------------------------------------------------
 * Checks
 * ---------------------------------------------------------------------- */

/* Whether prefix + name starts with s. */
static int joined_starts_with (const char *prefix, const char *name, const char *s)
{
    const char *p = prefix;
    for (; *s; s++) {
        char c = *p ? *p++ : *name ? *name++ : '\0';
        if (c != *s)
            return 0;
    }
    return 1;
}

static int ends_with (const char *s, size_t n, const char *suffix)
{
    size_t k = strlen (suffix);
    return n >= k && memcmp (s + n - k, suffix, k) == 0;
}

/* The metric name rules of zmqobs_counter_new; sets *len. Colons are
 * legal in metric names but reserved for recording rules (promtool's
 * lint rejects them), as for the namespace prefix. */
static int valid_name (const zmqobs_t *obs, const char *name, int kind, size_t *len)
{
    if (!name)
        return 0;
    size_t n = strnlen (name, ZMQOBS_NAME_MAX + 1);
    if (n == 0 || n > ZMQOBS_NAME_MAX || strchr (name, ':') || !zmqobs__valid_metric_name (name))
        return 0;
    if ((name[0] == '_' && name[1] == '_') || strncmp (name, "zmq_", 4) == 0
        || joined_starts_with (obs->prefix, name, "process_"))
        return 0;
    if (kind == ZMQOBS__APP_COUNTER && ends_with (name, n, "_total"))
        return 0;
    *len = n;
    return 1;
}

static int valid_help (const char *help, size_t *len)
{
    if (!help)
        return 0;
    size_t n = strnlen (help, ZMQOBS_HELP_MAX + 1);
    if (n == 0 || n > ZMQOBS_HELP_MAX || !zmqobs__valid_utf8 (help, n))
        return 0;
    *len = n;
    return 1;
}

static int valid_labels (const zmqobs_t *obs, const zmqobs_label_t *labels, size_t n)
{
    if (n > ZMQOBS_METRIC_LABELS_MAX || (n && !labels))
        return 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = labels[i].name, *value = labels[i].value;
        if (!zmqobs__valid_label_name (name)
            || strnlen (name, ZMQOBS_NAME_MAX + 1) > ZMQOBS_NAME_MAX || strcmp (name, "le") == 0
            || strcmp (name, "quantile") == 0)
            return 0;
        for (size_t k = 0; k < obs->label_count; k++)
            if (strcmp (name, obs->label_names[k]) == 0)
                return 0;
        for (size_t j = 0; j < i; j++)
            if (strcmp (name, labels[j].name) == 0)
                return 0;
        if (!value)
            return 0;
        size_t vn = strnlen (value, ZMQOBS_NAME_MAX + 1);
        if (vn == 0 || vn > ZMQOBS_NAME_MAX || !zmqobs__valid_utf8 (value, vn))
            return 0;
    }
    return 1;
}

/* Copies the bounds into out, -0 made 0; returns how many, or -1. */
static int take_bounds (const double *in, size_t n, double *out)
{
    if (!in && n == 0) {
        in = default_bounds;
        n = sizeof default_bounds / sizeof default_bounds[0];
    }
    if (!in || n == 0 || n > ZMQOBS_BUCKETS_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite (in[i]))
            return -1;
        out[i] = in[i] == 0 ? 0.0 : in[i];
        if (i > 0 && !(out[i] > out[i - 1]))
            return -1;
    }
    return (int) n;
}

/* The sample names of a family besides its own name. */
static const char *const *sample_suffixes (int kind)
{
    static const char *const counter[] = {"_total", "_created", NULL};
    static const char *const gauge[] = {NULL};
    static const char *const histogram[] = {"_bucket", "_count", "_sum", "_created", NULL};
    return kind == ZMQOBS__APP_COUNTER ? counter : kind == ZMQOBS__APP_GAUGE ? gauge : histogram;
}

/* Whether a + sa and b + sb are the same text. */
static int same_joined (const char *a, size_t alen, const char *sa, const char *b, size_t blen,
                        const char *sb)
{
    size_t la = strlen (sa), lb = strlen (sb);
    if (alen + la != blen + lb)
        return 0;
    for (size_t i = 0; i < alen + la; i++) {
        char ca = i < alen ? a[i] : sa[i - alen];
        char cb = i < blen ? b[i] : sb[i - blen];
        if (ca != cb)
            return 0;
    }
    return 1;
}

/* Whether a new family (name, kind) would share a name, or a sample
 * name, with an existing family: the parsers would take one for the
 * other (the OpenMetrics one refuses the whole exposition). */
static int clashes (const zmqobs_t *obs, const char *name, size_t len, int kind)
{
    const char *const *mine = sample_suffixes (kind);
    FOR_EACH (l, &obs->app_families)
    {
        const zmqobs_app_family_t *f = FAMILY (l);
        const char *const *theirs = sample_suffixes (f->kind);
        for (int i = -1; i < 0 || mine[i]; i++)
            for (int j = -1; j < 0 || theirs[j]; j++)
                if (same_joined (name, len, i < 0 ? "" : mine[i], f->name, f->name_len,
                                 j < 0 ? "" : theirs[j]))
                    return 1;
    }
    return 0;
}

static zmqobs_app_family_t *find_family (const zmqobs_t *obs, const char *name, size_t len)
{
    FOR_EACH (l, &obs->app_families)
    {
        zmqobs_app_family_t *f = FAMILY (l);
        if (f->name_len == len && memcmp (f->name, name, len) == 0)
            return f;
    }
    return NULL;
}

/* Whether m has exactly these labels (both sets have distinct names). */
static int same_labels (const zmqobs_metric_t *m, const zmqobs_label_t *labels, size_t n)
{
    if (m->nlabels != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < n && strcmp (m->label_names[j], labels[i].name) != 0)
            j++;
        if (j == n || strcmp (m->label_values[j], labels[i].value) != 0)
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------
 * Creation and destruction
 * ---------------------------------------------------------------------- */

typedef struct {
    int kind;
    const char *name;
    size_t name_len;
    const char *help;
    size_t help_len;
    const zmqobs_label_t *labels;
    size_t nlabels;
    double bounds[ZMQOBS_BUCKETS_MAX];
    uint32_t nbounds;
} spec_t;

/* One allocation: the family, its bounds, their le texts, name, help. */
static zmqobs_app_family_t *family_new (const spec_t *sp)
{
    size_t nb = sp->nbounds;
    zmqobs_app_family_t *f =
        zmqobs__calloc (1, sizeof *f + nb * (sizeof (double) + sizeof (zmqobs_app_le_t))
                               + sp->name_len + 1 + sp->help_len + 1);
    if (!f)
        return NULL;
    char *p = (char *) (f + 1);
    f->bounds = (double *) (void *) p;
    p += nb * sizeof (double);
    f->le = (zmqobs_app_le_t *) (void *) p;
    p += nb * sizeof (zmqobs_app_le_t);
    f->name = p;
    memcpy (p, sp->name, sp->name_len);
    f->name_len = sp->name_len;
    p += sp->name_len + 1;
    f->help = p;
    memcpy (p, sp->help, sp->help_len);
    f->help_len = sp->help_len;
    f->kind = sp->kind;
    f->nbounds = sp->nbounds;
    f->sum_om = nb == 0 || sp->bounds[0] >= 0;
    for (size_t i = 0; i < nb; i++) {
        f->bounds[i] = sp->bounds[i];
        for (int om = 0; om < 2; om++)
            f->le[i].len[om] = (uint8_t) zmqobs__fmt_double (f->le[i].text[om], f->bounds[i], om);
    }
    zmqobs__dl_init (&f->link);
    zmqobs__dl_init (&f->series);
    return f;
}

/* One cache-line aligned allocation: the metric, its counts, then its
 * label texts; the size is rounded up to whole lines, so that no other
 * block shares the lines the update calls write. */
static zmqobs_metric_t *series_new (zmqobs_t *obs, zmqobs_app_family_t *f, const spec_t *sp)
{
    size_t ncounts = sp->kind == ZMQOBS__APP_HISTOGRAM ? sp->nbounds + 1u : 0;
    size_t text = 0;
    for (size_t i = 0; i < sp->nlabels; i++)
        text += strlen (sp->labels[i].name) + strlen (sp->labels[i].value) + 2;
    size_t size = sizeof (zmqobs_metric_t) + ncounts * sizeof (uint64_t) + text;
    size = (size + ZMQOBS_CACHELINE - 1) & ~(size_t) (ZMQOBS_CACHELINE - 1);
    zmqobs_metric_t *m = zmqobs__zalloc_aligned (size);
    if (!m)
        return NULL;
    m->kind = sp->kind;
    m->nonneg = sp->kind == ZMQOBS__APP_HISTOGRAM && f->sum_om;
    m->nbounds = f->nbounds;
    m->bounds = f->bounds;
    m->fam = f;
    m->obs = obs;
    m->created_wall_ns = zmqobs__wall_ns ();
    m->nlabels = sp->nlabels;
    char *p = (char *) (m->counts + ncounts);
    for (size_t i = 0; i < sp->nlabels; i++) {
        size_t n = strlen (sp->labels[i].name) + 1;
        memcpy (p, sp->labels[i].name, n);
        m->label_names[i] = p;
        p += n;
        n = strlen (sp->labels[i].value);
        memcpy (p, sp->labels[i].value, n + 1);
        m->label_values[i] = p;
        m->label_value_lens[i] = n;
        p += n + 1;
    }
    zmqobs__dl_init (&m->link);
    return m;
}

/* Links a new metric, under obs->scrape_lock; 0 or an errno value. */
static int add_locked (zmqobs_t *obs, const spec_t *sp, zmqobs_metric_t **out)
{
    zmqobs_app_family_t *f = find_family (obs, sp->name, sp->name_len);
    if (f) {
        if (f->kind != sp->kind || f->help_len != sp->help_len
            || memcmp (f->help, sp->help, sp->help_len) != 0 || f->nbounds != sp->nbounds
            || memcmp (f->bounds, sp->bounds, sp->nbounds * sizeof (double)) != 0)
            return EINVAL;
        FOR_EACH (l, &f->series)
        if (same_labels (SERIES (l), sp->labels, sp->nlabels))
            return EEXIST;
    } else if (clashes (obs, sp->name, sp->name_len, sp->kind))
        return EINVAL;
    if (obs->app_count >= ZMQOBS_METRICS_MAX)
        return ENOSPC;
    int made = 0;
    if (!f) {
        f = family_new (sp);
        if (!f)
            return ENOMEM;
        made = 1;
    }
    zmqobs_metric_t *m = series_new (obs, f, sp);
    if (!m) {
        if (made)
            zmqobs__free (f);
        return ENOMEM;
    }
    if (made)
        zmqobs__dl_push (&obs->app_families, &f->link);
    zmqobs__dl_push (&f->series, &m->link);
    obs->app_count++;
    *out = m;
    return 0;
}

static zmqobs_metric_t *metric_new (zmqobs_t *obs, int kind, const char *name, const char *help,
                                    const zmqobs_label_t *labels, size_t nlabels,
                                    const double *bounds, size_t nbounds)
{
    spec_t sp;
    memset (&sp, 0, sizeof sp);
    sp.kind = kind;
    sp.name = name;
    sp.help = help;
    sp.labels = labels;
    sp.nlabels = nlabels;
    if (!obs || !valid_name (obs, name, kind, &sp.name_len) || !valid_help (help, &sp.help_len)
        || !valid_labels (obs, labels, nlabels)) {
        errno = EINVAL;
        return NULL;
    }
    if (kind == ZMQOBS__APP_HISTOGRAM) {
        int n = take_bounds (bounds, nbounds, sp.bounds);
        if (n < 0) {
            errno = EINVAL;
            return NULL;
        }
        sp.nbounds = (uint32_t) n;
    }
    zmqobs_metric_t *m = NULL;
    pthread_mutex_lock (&obs->scrape_lock);
    int err = add_locked (obs, &sp, &m);
    pthread_mutex_unlock (&obs->scrape_lock);
    if (err) {
        errno = err;
        return NULL;
    }
    return m;
}

zmqobs_metric_t *zmqobs_counter_new (zmqobs_t *obs, const char *name, const char *help,
                                     const zmqobs_label_t *labels, size_t nlabels)
{
    return metric_new (obs, ZMQOBS__APP_COUNTER, name, help, labels, nlabels, NULL, 0);
}

zmqobs_metric_t *zmqobs_gauge_new (zmqobs_t *obs, const char *name, const char *help,
                                   const zmqobs_label_t *labels, size_t nlabels)
{
    return metric_new (obs, ZMQOBS__APP_GAUGE, name, help, labels, nlabels, NULL, 0);
}

zmqobs_metric_t *zmqobs_histogram_new (zmqobs_t *obs, const char *name, const char *help,
                                       const zmqobs_label_t *labels, size_t nlabels,
                                       const double *bounds, size_t nbounds)
{
    return metric_new (obs, ZMQOBS__APP_HISTOGRAM, name, help, labels, nlabels, bounds, nbounds);
}

/* Unlinks and frees m, and its family with its last metric; under
 * obs->scrape_lock (or at zmqobs_destroy, alone). */
static void release (zmqobs_t *obs, zmqobs_metric_t *m)
{
    zmqobs_app_family_t *f = m->fam;
    zmqobs__dl_remove (&m->link);
    obs->app_count--;
    zmqobs__free (m);
    if (zmqobs__dl_empty (&f->series)) {
        zmqobs__dl_remove (&f->link);
        zmqobs__free (f);
    }
}

void zmqobs_metric_destroy (zmqobs_metric_t **m_p)
{
    if (!m_p || !*m_p)
        return;
    zmqobs_metric_t *m = *m_p;
    *m_p = NULL;
    zmqobs_t *obs = m->obs;
    pthread_mutex_lock (&obs->scrape_lock);
    release (obs, m);
    pthread_mutex_unlock (&obs->scrape_lock);
}

void zmqobs__app_fini (zmqobs_t *obs)
{
    while (!zmqobs__dl_empty (&obs->app_families)) {
        zmqobs_app_family_t *f = FAMILY (obs->app_families.next);
        release (obs, SERIES (f->series.next));
    }
}

/* ------------------------------------------------------------------------
 * Updates: any thread, lock-free, no allocation
 * ---------------------------------------------------------------------- */

static int invalid (void)
{
    errno = EINVAL;
    return -1;
}

/* Adds d to the double whose bits are at p. */
static void add_double (uint64_t *p, double d)
{
    uint64_t old = LOAD (p), next;
    do {
        double v;
        memcpy (&v, &old, sizeof v);
        v += d;
        memcpy (&next, &v, sizeof next);
    } while (!__atomic_compare_exchange_n (p, &old, next, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

int zmqobs_counter_add (zmqobs_metric_t *m, uint64_t n)
{
    if (ZMQOBS_UNLIKELY (!m || m->kind != ZMQOBS__APP_COUNTER))
        return invalid ();
    ADD (&m->value, n);
    return 0;
}

int zmqobs_gauge_set (zmqobs_metric_t *m, double v)
{
    if (ZMQOBS_UNLIKELY (!m || m->kind != ZMQOBS__APP_GAUGE))
        return invalid ();
    uint64_t bits;
    memcpy (&bits, &v, sizeof bits);
    STORE (&m->value, bits);
    return 0;
}

int zmqobs_gauge_add (zmqobs_metric_t *m, double d)
{
    if (ZMQOBS_UNLIKELY (!m || m->kind != ZMQOBS__APP_GAUGE))
        return invalid ();
    add_double (&m->value, d);
    return 0;
}

int zmqobs_histogram_observe (zmqobs_metric_t *m, double v)
{
    if (ZMQOBS_UNLIKELY (!m || m->kind != ZMQOBS__APP_HISTOGRAM || isnan (v)
                         || (v < 0 && m->nonneg)))
        return invalid ();
    /* The first bound >= v, or nbounds (+Inf): a binary search whose
     * step is a conditional move, not a branch, so that values spread
     * over the buckets cost no mispredictions (nbounds >= 1). */
    const double *b = m->bounds, *base = b;
    uint32_t n = m->nbounds;
    while (n > 1) {
        uint32_t half = n / 2;
        base = base[half] < v ? base + half : base;
        n -= half;
    }
    size_t i = (size_t) (base - b) + (*base < v);
    ADD (&m->counts[i], 1);
    add_double (&m->value, v);
    return 0;
}
