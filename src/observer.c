/*
 * observer.c - zmqobs_t: options, the registry of attached sockets, and
 * the object lifecycle (new/destroy, attach/detach). Also the allocation
 * hook, the clocks and the name validators every module uses.
 *
 * SPDX-License-Identifier: MIT
 */
#include "zmqobs_private.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

long zmqobs__alloc_fail_at = 0;
long zmqobs__alloc_count = 0;

/* Counts allocations and fails the chosen one, for the fault tests. */
static int alloc_should_fail (void)
{
    long n = __atomic_add_fetch (&zmqobs__alloc_count, 1, __ATOMIC_RELAXED);
    long at = __atomic_load_n (&zmqobs__alloc_fail_at, __ATOMIC_RELAXED);
    return at > 0 && n == at;
}

void *zmqobs__malloc (size_t size)
{
    if (alloc_should_fail ()) {
        errno = ENOMEM;
        return NULL;
    }
    return malloc (size);
}

void *zmqobs__calloc (size_t count, size_t size)
{
    if (alloc_should_fail ()) {
        errno = ENOMEM;
        return NULL;
    }
    return calloc (count, size);
}

void zmqobs__free (void *ptr)
{
    free (ptr);
}

/* Zeroed, cache-line aligned: the socket block's writer groups must not
 * share lines, and its over-aligned members need a matching base. */
static void *zalloc_aligned (size_t size)
{
    if (alloc_should_fail ()) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = NULL;
    int rc = posix_memalign (&p, ZMQOBS_CACHELINE, size);
    if (rc != 0) {
        errno = rc;
        return NULL;
    }
    memset (p, 0, size);
    return p;
}

uint64_t zmqobs__now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

uint64_t zmqobs__wall_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* ------------------------------------------------------------------------
 * Validators
 * ---------------------------------------------------------------------- */

static int is_alpha_ (int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit (int c)
{
    return c >= '0' && c <= '9';
}

int zmqobs__valid_metric_name (const char *name)
{
    if (!name || !*name || !(is_alpha_ (*name) || *name == ':'))
        return 0;
    for (const char *p = name + 1; *p; p++)
        if (!(is_alpha_ (*p) || is_digit (*p) || *p == ':'))
            return 0;
    return 1;
}

int zmqobs__valid_label_name (const char *name)
{
    if (!name || !*name || !is_alpha_ (*name))
        return 0;
    if (name[0] == '_' && name[1] == '_')
        return 0; /* reserved */
    for (const char *p = name + 1; *p; p++)
        if (!(is_alpha_ (*p) || is_digit (*p)))
            return 0;
    return 1;
}

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF, and
 * no NUL inside the given length. */
int zmqobs__valid_utf8 (const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *) str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else
            return 0;
        if (len - i < n + 1)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF))
            || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

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
    for (size_t i = 0; i < o->label_count; i++) {
        obs->label_names[i] = dup_string (o->labels[i].name);
        obs->label_values[i] = dup_string (o->labels[i].value);
        obs->label_count = i + 1;
        if (!obs->label_names[i] || !obs->label_values[i])
            return -1;
    }
    obs->process_metrics = !o->no_process_metrics;
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
    zmqobs__free (obs->scratch);
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
    pthread_mutex_init (&obs->lock, NULL);
    pthread_mutex_init (&obs->scratch_lock, NULL);
    obs->start_wall_ns = zmqobs__wall_ns ();
    obs->start_mono_ns = zmqobs__now_ns ();
    if (apply_options (obs, opts) != 0)
        goto fail;
    /* calloc: the window's bin counts and marks must start clear */
    obs->scratch = zmqobs__calloc (1, zmqobs__window_scratch_size (obs->ring_capacity));
    if (!obs->scratch)
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
        pthread_mutex_lock (&obs->lock);
        zmqobs_socket_t *s = obs->sockets;
        pthread_mutex_unlock (&obs->lock);
        if (!s)
            break;
        zmqobs_detach (&s);
    }
    zmqobs__http_fini (obs);
    zmqobs__monitor_fini (obs);
    free_observer (obs);
}

/* Registry lookup; obs->lock held. */
static zmqobs_socket_t *find_by_name (zmqobs_t *obs, const char *name)
{
    for (zmqobs_socket_t *s = obs->sockets; s; s = s->next)
        if (strcmp (s->name, name) == 0)
            return s;
    return NULL;
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
    int taken = find_by_name (self, name) != NULL;
    pthread_mutex_unlock (&self->lock);
    if (taken) {
        errno = EEXIST;
        return NULL;
    }

    zmqobs_socket_t *s = zalloc_aligned (sizeof (zmqobs_socket_t));
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
    pthread_mutex_lock (&self->lock);
    if (find_by_name (self, name)) {
        /* another thread attached the same name meanwhile */
        pthread_mutex_unlock (&self->lock);
        zmqobs__monitor_detach (self, s);
        zmqobs__free (s);
        errno = EEXIST;
        return NULL;
    }
    /* append, so formats list sockets in attach order */
    zmqobs_socket_t **tail = &self->sockets;
    while (*tail)
        tail = &(*tail)->next;
    *tail = s;
    self->socket_count++;
    pthread_mutex_unlock (&self->lock);
    return s;
}

void zmqobs_detach (zmqobs_socket_t **sock_p)
{
    if (!sock_p || !*sock_p)
        return;
    zmqobs_socket_t *s = *sock_p;
    *sock_p = NULL;
    zmqobs_t *obs = s->obs;
    /* Unlink first: once the lock is released no scrape can reach s. */
    pthread_mutex_lock (&obs->lock);
    for (zmqobs_socket_t **pp = &obs->sockets; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            obs->socket_count--;
            break;
        }
    pthread_mutex_unlock (&obs->lock);
    zmqobs__monitor_detach (obs, s);
    zmqobs__metrics_fini (s);
    zmqobs__free (s);
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

const char *zmqobs_socket_type_name (int type)
{
    switch (type) {
    case ZMQ_PAIR:
        return "PAIR";
    case ZMQ_PUB:
        return "PUB";
    case ZMQ_SUB:
        return "SUB";
    case ZMQ_REQ:
        return "REQ";
    case ZMQ_REP:
        return "REP";
    case ZMQ_DEALER:
        return "DEALER";
    case ZMQ_ROUTER:
        return "ROUTER";
    case ZMQ_PULL:
        return "PULL";
    case ZMQ_PUSH:
        return "PUSH";
    case ZMQ_XPUB:
        return "XPUB";
    case ZMQ_XSUB:
        return "XSUB";
    case ZMQ_STREAM:
        return "STREAM";
#ifdef ZMQ_SERVER
    case ZMQ_SERVER:
        return "SERVER";
    case ZMQ_CLIENT:
        return "CLIENT";
    case ZMQ_RADIO:
        return "RADIO";
    case ZMQ_DISH:
        return "DISH";
    case ZMQ_GATHER:
        return "GATHER";
    case ZMQ_SCATTER:
        return "SCATTER";
    case ZMQ_DGRAM:
        return "DGRAM";
#endif
#ifdef ZMQ_PEER
    case ZMQ_PEER:
        return "PEER";
    case ZMQ_CHANNEL:
        return "CHANNEL";
#endif
    default:
        return "UNKNOWN";
    }
}
