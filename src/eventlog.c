/*
 * eventlog.c - the event callback (zmqobs_on_event) and the ready-made
 * JSON-lines log (zmqobs_json_log).
 *
 * SPDX-License-Identifier: MIT
 */
#include "eventlog.h"

#include "recent.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int zmqobs_on_event (zmqobs_t *self, zmqobs_event_fn *fn, void *arg)
{
    if (!self) {
        errno = EINVAL;
        return -1;
    }
    /* cb_lock waits for a callback in flight, so once this returns the old
     * arg (a FILE * the host is about to close) is never used again. It is
     * recursive, so a callback may replace itself. */
    pthread_mutex_lock (&self->cb_lock);
    self->event_fn = fn;
    self->event_arg = arg;
    pthread_mutex_unlock (&self->cb_lock);
    return 0;
}

/* The text next to a value: an errno or protocol error name, or "". */
static const char *value_text (const zmqobs_event_t *ev)
{
    if (ev->value_kind == ZMQOBS_VALUE_ERRNO)
        return zmqobs__errno_text ((int) ev->value);
    return zmqobs__value_text (ev->event, ev->value);
}

/* Set while an event callback runs on this thread: zmqobs_disconnect and
 * friends would wait there for the very thread that runs it. */
static __thread const zmqobs_t *in_callback;

int zmqobs__in_callback (const zmqobs_t *obs)
{
    return in_callback == obs;
}

void zmqobs__emit (zmqobs_t *obs, zmqobs_socket_t *s, const zmqobs_event_t *ev, int named_peer)
{
    pthread_mutex_lock (&obs->cb_lock);
    zmqobs_event_fn *fn = obs->event_fn;
    void *arg = obs->event_arg;
    uint64_t ts = fn || obs->recent ? zmqobs__wall_ns () : 0;
    /* under cb_lock, which makes this the ring's one writer */
    if (obs->recent)
        zmqobs__recent_push (obs->recent, s->name, s->name_len, ev, named_peer, ts);
    if (fn) {
        zmqobs_event_info_t info = {
            .socket_name = s->name,
            .event_name = zmqobs_event_name (ev->event),
            .value_meaning = zmqobs_value_kind_name (ev->value_kind),
            .value_text = value_text (ev),
            .event = ev,
            .timestamp_ns = ts,
            .peer = named_peer ? ev->endpoint : NULL,
        };
        const zmqobs_t *outer = in_callback;
        in_callback = obs;
        fn (&info, arg);
        in_callback = outer;
    }
    pthread_mutex_unlock (&obs->cb_lock);
}

/* RFC 3339, UTC, milliseconds: 2026-01-02T03:04:05.678Z */
static void put_timestamp (zmqobs_out_t *o, uint64_t ns)
{
    time_t secs = (time_t) (ns / 1000000000u);
    unsigned ms = (unsigned) (ns % 1000000000u / 1000000u);
    struct tm tm;
    char text[64];
    int n = 0;
    if (gmtime_r (&secs, &tm))
        n = snprintf (text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    zmqobs__put_json (o, text, n > 0 ? (size_t) n : 0);
}

/* One event as a JSON object: the log's lines and /events share it. */
static void put_event (zmqobs_out_t *o, const zmqobs_event_info_t *info)
{
    const zmqobs_event_t *ev = info->event;
    ZMQOBS__PUT_LIT (o, "{\"ts\":");
    put_timestamp (o, info->timestamp_ns);
    ZMQOBS__PUT_LIT (o, ",\"socket\":");
    zmqobs__put_json (o, info->socket_name, strlen (info->socket_name));
    ZMQOBS__PUT_LIT (o, ",\"event\":");
    zmqobs__put_json (o, info->event_name, strlen (info->event_name));
    ZMQOBS__PUT_LIT (o, ",\"value\":");
    zmqobs__put_u64 (o, ev->value);
    ZMQOBS__PUT_LIT (o, ",\"meaning\":");
    zmqobs__put_json (o, info->value_meaning, strlen (info->value_meaning));
    if (info->value_text && *info->value_text) {
        ZMQOBS__PUT_LIT (o, ",\"detail\":");
        zmqobs__put_json (o, info->value_text, strlen (info->value_text));
    }
    ZMQOBS__PUT_LIT (o, ",\"endpoint\":");
    zmqobs__put_json (o, ev->endpoint, ev->endpoint_len);
    if (info->peer) {
        ZMQOBS__PUT_LIT (o, ",\"peer\":");
        zmqobs__put_json (o, info->peer, strlen (info->peer));
    }
    zmqobs__put_c (o, '}');
}

/* Formats one event as a JSON line (with the newline); snprintf
 * semantics. Shared by zmqobs_json_log and its tests. */
static size_t json_line (const zmqobs_event_info_t *info, char *buf, size_t size)
{
    zmqobs_out_t o;
    zmqobs__out_init (&o, buf, size);
    put_event (&o, info);
    zmqobs__put_c (&o, '\n');
    return zmqobs__out_end (&o);
}

size_t zmqobs__events_json (zmqobs_t *obs, char *buf, size_t size)
{
    zmqobs_out_t o;
    zmqobs__out_init (&o, buf, size);
    const zmqobs_recent_t *r = obs ? obs->recent : NULL;
    uint64_t total = zmqobs__recent_total (r);
    uint64_t first = total > ZMQOBS__RECENT_CAP ? total - ZMQOBS__RECENT_CAP : 0;
    ZMQOBS__PUT_LIT (&o, "{\"capacity\":");
    zmqobs__put_u64 (&o, ZMQOBS__RECENT_CAP);
    ZMQOBS__PUT_LIT (&o, ",\"total\":");
    zmqobs__put_u64 (&o, total);
    ZMQOBS__PUT_LIT (&o, ",\"events\":[");
    int n = 0;
    for (uint64_t seq = first; r && seq < total; seq++) {
        zmqobs_recent_event_t e;
        if (zmqobs__recent_get (r, seq, &e) != 0)
            continue; /* overwritten meanwhile: newer ones follow */
        zmqobs_event_t ev = {.event = e.event,
                             .value = e.value,
                             .value_kind = (zmqobs_value_kind_t) e.value_kind,
                             .endpoint_len = e.endpoint_len};
        memcpy (ev.endpoint, e.endpoint, (size_t) e.endpoint_len + 1);
        zmqobs_event_info_t info = {
            .socket_name = e.name,
            .event_name = zmqobs_event_name (ev.event),
            .value_meaning = zmqobs_value_kind_name (ev.value_kind),
            .value_text = value_text (&ev),
            .event = &ev,
            .timestamp_ns = e.ts_ns,
            .peer = e.named_peer ? ev.endpoint : NULL,
        };
        if (n++)
            zmqobs__put_c (&o, ',');
        put_event (&o, &info);
    }
    ZMQOBS__PUT_LIT (&o, "]}\n");
    return zmqobs__out_end (&o);
}

size_t zmqobs__json_line (const zmqobs_event_info_t *info, char *buf, size_t size)
{
    if (!info || !info->event || !info->socket_name || !info->event_name || !info->value_meaning)
        return 0;
    return json_line (info, buf, size);
}

void zmqobs_json_log (const zmqobs_event_info_t *info, void *arg)
{
    FILE *out = arg;
    if (!out || !info || !info->event || !info->socket_name || !info->event_name
        || !info->value_meaning)
        return;
    /* names are at most 255 bytes, 6 bytes per byte escaped: the stack
     * buffer fits every line; the heap path is there for safety only */
    char stack[4096];
    size_t need = json_line (info, stack, sizeof stack);
    if (need < sizeof stack) {
        fwrite (stack, 1, need, out);
    } else {
        char *heap = zmqobs__malloc (need + 1);
        if (!heap)
            return;
        json_line (info, heap, need + 1);
        fwrite (heap, 1, need, out);
        zmqobs__free (heap);
    }
    fflush (out);
}

FILE *zmqobs__eventlog_open (const char *path, int *owned)
{
    if (!path || !*path || !owned) {
        errno = EINVAL;
        return NULL;
    }
    if (strcmp (path, "-") == 0) {
        *owned = 0;
        return stderr;
    }
    /* open(2) rather than fopen's "a": close-on-exec, so a child the host
     * starts does not inherit the log, and no controlling terminal */
    int fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen (fd, "a");
    if (!f) {
        int err = errno;
        close (fd);
        errno = err;
        return NULL;
    }
    *owned = 1;
    return f;
}
