/*
 * format.c - zmqobs_format: pins the attached sockets, reads /proc (never
 * under a lock), and hands them to a format; every format writes through
 * one bounded writer with snprintf semantics and never allocates.
 *
 * SPDX-License-Identifier: MIT
 */
#include "fmt_common.h"
#include "fmt_peers.h"
#include "fmt_proto.h"

#include "registry.h"

#include <limits.h>
#include <pthread.h>

/* ------------------------------------------------------------------------
 * Entry points
 * ---------------------------------------------------------------------- */

/* What a scrape writes: fmt < 0 is the /peers document, else a format. */
typedef struct {
    int fmt;
    const zmqobs__process_t *p;
} scrape_t;

static void write_scrape (zmqobs_out_t *o, zmqobs_t *self, zmqobs_socket_t *const *socks, size_t n,
                          const scrape_t *w)
{
    zmqobs_stats_t st;
    if (w->fmt < 0)
        zmqobs__fmt_peers_doc (o, socks, n);
    else if (w->fmt == ZMQOBS_FORMAT_PROMETHEUS || w->fmt == ZMQOBS_FORMAT_OPENMETRICS)
        zmqobs__fmt_prom (o, self, w->fmt == ZMQOBS_FORMAT_OPENMETRICS, socks, n, w->p);
    else if (w->fmt == ZMQOBS_FORMAT_PROTOBUF)
        zmqobs__fmt_proto (o, self, socks, n, w->p);
    else if (w->fmt == ZMQOBS_FORMAT_JSON)
        zmqobs__fmt_json (o, self, socks, n, w->p, &st);
    else
        zmqobs__fmt_text (o, self, socks, n, w->p, &st);
}

/* The registry lock is held only to pin the sockets; formatting runs
 * under the scrape lock alone, which neither attach, detach nor the drain
 * path takes (the creation and destruction of application metrics do:
 * they wait for the scrape). */
static int scrape (zmqobs_t *self, const scrape_t *w, char *buf, size_t size)
{
    pthread_mutex_lock (&self->scrape_lock);
    zmqobs_socket_t *const *socks;
    size_t n = zmqobs__pin_sockets (self, &socks);
    zmqobs_out_t o;
    zmqobs__out_init (&o, buf, size);
    write_scrape (&o, self, socks, n, w);
    size_t len = zmqobs__out_end (&o);
    zmqobs__unpin_sockets (self);
    pthread_mutex_unlock (&self->scrape_lock);
    if (len > INT_MAX) {
        errno = EOVERFLOW;
        return -1;
    }
    return (int) len;
}

int zmqobs_format (zmqobs_t *self, zmqobs_format_t format, char *buf, size_t size)
{
    if (!self || (!buf && size > 0) || (unsigned) format > ZMQOBS_FORMAT_PROTOBUF) {
        errno = EINVAL;
        return -1;
    }
    zmqobs__format_tables ();
    /* /proc is read before any lock: attach and detach never wait for
     * file I/O */
    zmqobs__process_t proc;
    scrape_t w = {(int) format, NULL};
    if (self->process_metrics) {
        zmqobs__process_read (&proc);
        w.p = &proc;
    }
    return scrape (self, &w, buf, size);
}

const char *zmqobs_content_type (zmqobs_format_t format)
{
    switch (format) {
    case ZMQOBS_FORMAT_OPENMETRICS:
        return "application/openmetrics-text; version=1.0.0; charset=utf-8";
    case ZMQOBS_FORMAT_JSON:
        return "application/json";
    case ZMQOBS_FORMAT_TEXT:
        return "text/plain; charset=utf-8";
    case ZMQOBS_FORMAT_PROTOBUF:
        return "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
               "encoding=delimited";
    case ZMQOBS_FORMAT_PROMETHEUS:
        break;
    }
    return "text/plain; version=0.0.4; charset=utf-8";
}

int zmqobs_peers_json (zmqobs_t *self, char *buf, size_t size)
{
    if (!self || (!buf && size > 0)) {
        errno = EINVAL;
        return -1;
    }
    scrape_t w = {-1, NULL};
    return scrape (self, &w, buf, size);
}
