/*
 * observer.c - zmqobs_t: options, the registry of attached sockets, and
 * the object lifecycle (new/destroy, attach/detach).
 *
 * SPDX-License-Identifier: MIT
 */
#include "appmetric.h"
#include "eventlog.h"
#include "http.h"
#include "monitor.h"
#include "otlp.h"
#include "metrics.h"
#include "recent.h"
#include "registry.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------
 * Options
 * ---------------------------------------------------------------------- */

/* 1-2.5-5 steps from 10 us to 25 s, in ns: each maps exactly onto a
 * decimal number of seconds. */
static const uint64_t default_bounds[] = {
    10000,     25000,      50000,      100000,     250000,      500000,      1000000,
    2500000,   5000000,    10000000,   25000000,   50000000,    100000000,   250000000,
    500000000, 1000000000, 2500000000, 5000000000, 10000000000, 25000000000,
};

int zmqobs_options_init (zmqobs_options_t *opts)
{
    if (!opts) {
        errno = EINVAL;
        return -1;
    }
    memset (opts, 0, sizeof *opts);
    opts->events = ZMQ_EVENT_ALL;
    opts->ring_capacity = ZMQOBS_DEFAULT_RING_CAPACITY;
    opts->latency_sample_every = ZMQOBS_DEFAULT_SAMPLE_EVERY;
    opts->buckets_ns = default_bounds;
    opts->bucket_count = sizeof default_bounds / sizeof default_bounds[0];
    return 0;
}

static char *dup_string (const char *s)
{
    size_t n = strlen (s) + 1;
    char *copy = zmqobs__malloc (n);
    if (copy)
        memcpy (copy, s, n);
    return copy;
}

/* Copies and validates the options into obs; -1 with errno on failure
 * (label strings already copied are freed by the caller's cleanup). */
static int apply_options (zmqobs_t *obs, const zmqobs_options_t *in)
{
    zmqobs_options_t defaults;
    zmqobs_options_init (&defaults);
    const zmqobs_options_t *o = in ? in : &defaults;

    obs->events = o->events ? o->events : ZMQ_EVENT_ALL;
    obs->host_driven = o->host_driven != 0;
    obs->ring_capacity = o->ring_capacity ? o->ring_capacity : ZMQOBS_DEFAULT_RING_CAPACITY;
    if ((obs->ring_capacity & (obs->ring_capacity - 1)) != 0 || obs->ring_capacity > (1u << 20))
        goto invalid;
    uint32_t every =
        o->latency_sample_every ? o->latency_sample_every : ZMQOBS_DEFAULT_SAMPLE_EVERY;
    obs->sample_every = every == ZMQOBS_SAMPLE_NEVER ? 0 : every;
    obs->latency_shared = o->latency_shared != 0;
    obs->native = o->native_histograms != 0;
    obs->native_schema = o->native_schema == 0                        ? 3
                         : o->native_schema == ZMQOBS_NATIVE_SCHEMA_0 ? 0
                                                                      : o->native_schema;
    if (o->native_schema != 0 && o->native_schema != ZMQOBS_NATIVE_SCHEMA_0
        && (o->native_schema < -4 || o->native_schema > 3))
        goto invalid;

    const uint64_t *bounds = o->buckets_ns ? o->buckets_ns : default_bounds;
    size_t n = o->buckets_ns ? o->bucket_count : sizeof default_bounds / sizeof default_bounds[0];
    if (n == 0 || n > ZMQOBS_BUCKETS_MAX)
        goto invalid;
    for (size_t i = 0; i < n; i++) {
        /* above 2^53 ns, distinct bounds could print as one float64 le */
        if (bounds[i] == 0 || bounds[i] > ((uint64_t) 1 << 53)
            || (i > 0 && bounds[i] <= bounds[i - 1]))
            goto invalid;
        obs->bounds[i] = bounds[i];
    }
    obs->bucket_count = (uint32_t) n;
    obs->bounds[n] = UINT64_MAX; /* sentinel for the inline bucket scan */
    zmqobs__build_lut (obs->bounds, obs->bucket_count, obs->lut);

    if (o->namespace_prefix && *o->namespace_prefix) {
        size_t len = strlen (o->namespace_prefix);
        /* colons are legal in metric names but reserved for recording
         * rules by convention (promtool's lint rejects them) */
        if (len + 2 > sizeof obs->prefix || strchr (o->namespace_prefix, ':')
            || !zmqobs__valid_metric_name (o->namespace_prefix))
            goto invalid;
        memcpy (obs->prefix, o->namespace_prefix, len);
        obs->prefix[len] = '_';
        obs->prefix[len + 1] = '\0';
    }
    if (o->label_count > ZMQOBS_LABELS_MAX || (o->label_count && !o->labels))
        goto invalid;
    for (size_t i = 0; i < o->label_count; i++) {
        const zmqobs_label_t *l = &o->labels[i];
        if (!zmqobs__valid_label_name (l->name) || !l->value
            || !zmqobs__valid_utf8 (l->value, strlen (l->value)))
            goto invalid;
        /* the library's own label names may not be redefined */
        static const char *const reserved[] = {"socket", "type",   "op", "error",
                                               "event",  "reason", "le", "quantile"};
        for (size_t r = 0; r < sizeof reserved / sizeof reserved[0]; r++)
            if (strcmp (l->name, reserved[r]) == 0)
                goto invalid;
        for (size_t j = 0; j < i; j++)
            if (strcmp (l->name, o->labels[j].name) == 0)
                goto invalid;
    }
    /* the service value replaces a label named service, or follows the
     * labels (service_at == label_count) */
    const char *service = o->service && *o->service ? o->service : NULL;
    size_t service_at = o->label_count;
    if (service) {
        if (!zmqobs__valid_utf8 (service, strlen (service)))
            goto invalid;
        for (size_t i = 0; i < o->label_count; i++)
            if (strcmp (o->labels[i].name, "service") == 0)
                service_at = i;
        if (service_at == o->label_count && o->label_count == ZMQOBS_LABELS_MAX)
            goto invalid;
    }
    size_t total = o->label_count + (service && service_at == o->label_count);
    for (size_t i = 0; i < total; i++) {
        int from_service = service && i == service_at;
        obs->label_names[i] = dup_string (i < o->label_count ? o->labels[i].name : "service");
        obs->label_values[i] = dup_string (from_service ? service : o->labels[i].value);
        obs->label_count = i + 1;
        if (!obs->label_names[i] || !obs->label_values[i])
            return -1;
    }
    obs->process_metrics = !o->no_process_metrics;
    obs->status_page = !o->no_status_page;
    return 0;
invalid:
    errno = EINVAL;
    return -1;
}

static void free_observer (zmqobs_t *obs)
{
    for (size_t i = 0; i < obs->label_count; i++) {
        zmqobs__free (obs->label_names[i]);
        zmqobs__free (obs->label_values[i]);
    }
    if (obs->event_log_owned)
        fclose (obs->event_log); /* no callback runs any more */
    zmqobs__free (obs->scratch);
    zmqobs__recent_free (obs->recent);
    zmqobs__app_fini (obs);
    zmqobs__registry_fini (obs);
    pthread_mutex_destroy (&obs->error_lock);
    pthread_mutex_destroy (&obs->scrape_lock);
    pthread_mutex_destroy (&obs->cb_lock);
    pthread_mutex_destroy (&obs->scratch_lock);
    pthread_mutex_destroy (&obs->lock);
    zmqobs__free (obs);
}

zmqobs_t *zmqobs_new (void *zmq_ctx, const zmqobs_options_t *opts)
{
    if (!zmq_ctx) {
        errno = EINVAL;
        return NULL;
    }
    /* A live context answers ZMQ_IO_THREADS; a terminated one says EFAULT. */
    if (zmq_ctx_get (zmq_ctx, ZMQ_IO_THREADS) < 0) {
        errno = EFAULT;
        return NULL;
    }
    zmqobs_t *obs = zmqobs__calloc (1, sizeof *obs);
    if (!obs)
        return NULL;
    obs->ctx = zmq_ctx;
    zmqobs__app_init (obs);
    pthread_mutex_init (&obs->lock, NULL);
    pthread_mutex_init (&obs->scratch_lock, NULL);
    pthread_mutex_init (&obs->scrape_lock, NULL);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init (&attr);
    pthread_mutexattr_settype (&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init (&obs->cb_lock, &attr);
    pthread_mutexattr_destroy (&attr);
    pthread_mutex_init (&obs->error_lock, NULL);
    obs->start_wall_ns = zmqobs__wall_ns ();
    obs->start_mono_ns = zmqobs__now_ns ();
    if (apply_options (obs, opts) != 0)
        goto fail;
    if (opts && opts->event_log) {
        obs->event_log = zmqobs__eventlog_open (opts->event_log, &obs->event_log_owned);
        if (!obs->event_log)
            goto fail;
        obs->event_fn = zmqobs_json_log; /* no thread runs yet: no lock */
        obs->event_arg = obs->event_log;
    }
    /* calloc: the window's bin counts and marks must start clear */
    obs->scratch = zmqobs__calloc (1, zmqobs__window_scratch_size (obs->ring_capacity));
    if (!obs->scratch)
        goto fail;
    if (obs->status_page && !(obs->recent = zmqobs__recent_new ()))
        goto fail;
    if (zmqobs__monitor_init (obs) != 0)
        goto fail;
    return obs;
fail:;
    int err = errno;
    free_observer (obs);
    errno = err;
    return NULL;
}

void zmqobs_destroy (zmqobs_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zmqobs_t *obs = *self_p;
    *self_p = NULL;
    for (;;) {
        zmqobs_socket_t *s = zmqobs__registry_first (obs);
        if (!s)
            break;
        zmqobs_detach (&s);
    }
    zmqobs__otlp_fini (obs);
    zmqobs__http_fini (obs);
    zmqobs__monitor_fini (obs);
    free_observer (obs);
}

zmqobs_socket_t *zmqobs_attach (zmqobs_t *self, void *zmq_socket, const char *name)
{
    if (!self || !name) {
        errno = EINVAL;
        return NULL;
    }
    size_t len = strnlen (name, ZMQOBS_NAME_MAX + 1);
    if (len == 0 || len > ZMQOBS_NAME_MAX || !zmqobs__valid_utf8 (name, len)) {
        errno = EINVAL;
        return NULL;
    }
    if (!zmq_socket) {
        errno = ENOTSOCK;
        return NULL;
    }
    /* ZMQ_TYPE both validates the handle and tells REQ/REP apart. */
    int type = 0;
    size_t type_size = sizeof type;
    if (zmq_getsockopt (zmq_socket, ZMQ_TYPE, &type, &type_size) != 0)
        return NULL; /* ENOTSOCK or ETERM from libzmq */

    pthread_mutex_lock (&self->lock);
    int taken = zmqobs__registry_find_locked (self, name) != NULL;
    pthread_mutex_unlock (&self->lock);
    if (taken) {
        errno = EEXIST;
        return NULL;
    }

    /* the latency ring comes with the first sample (metrics.c) */
    zmqobs_socket_t *s = zmqobs__zalloc_aligned (sizeof (zmqobs_socket_t));
    if (!s)
        return NULL;
    s->obs = self;
    s->hot.handle = zmq_socket;
    memcpy (s->name, name, len);
    s->name[len] = '\0';
    s->name_len = len;
    s->attached_wall_ns = zmqobs__wall_ns ();
    s->attached_mono_ns = zmqobs__now_ns ();
    zmqobs__metrics_init (s, self, type);

    if (zmqobs__monitor_attach (self, s) != 0) {
        int err = errno;
        zmqobs__free (s);
        errno = err;
        return NULL;
    }
    if (zmqobs__registry_add (self, s) != 0) {
        /* another thread attached the same name meanwhile (EEXIST), or
         * no memory */
        int err = errno;
        zmqobs__monitor_detach (self, s);
        zmqobs__socket_free (s);
        errno = err;
        return NULL;
    }
    return s;
}

void zmqobs_detach (zmqobs_socket_t **sock_p)
{
    if (!sock_p || !*sock_p)
        return;
    zmqobs_socket_t *s = *sock_p;
    *sock_p = NULL;
    zmqobs_t *obs = s->obs;
    /* Unlink first: no scrape that starts later reaches s; one that
     * pinned it frees it when done, so detach never waits for it. */
    zmqobs__registry_remove (obs, s);
    zmqobs__monitor_detach (obs, s);
    zmqobs__registry_release (obs, s);
}

int zmqobs_socket_count (zmqobs_t *self)
{
    if (!self) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock (&self->lock);
    int n = self->socket_count;
    pthread_mutex_unlock (&self->lock);
    return n;
}

const char *zmqobs_socket_name (const zmqobs_socket_t *s)
{
    return s ? s->name : "";
}

void *zmqobs_socket_handle (const zmqobs_socket_t *s)
{
    return s ? s->hot.handle : NULL;
}
