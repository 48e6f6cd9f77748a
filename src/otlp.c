/*
 * otlp.c - zmqobs_otlp_push, zmqobs_otlp_start, zmqobs_otlp_stop: OTLP/JSON
 * over HTTP/1.1 POST to a collector (otlp_json.c writes the body).
 *
 * A push formats the request (the scrape lock held only while formatting,
 * as zmqobs_format does), connects without blocking, and sends and reads
 * with poll(2) against one deadline, so a collector that is down, slow or
 * silent costs the pushing thread at most the deadline and the host's
 * threads nothing: the periodic push runs on a thread of its own, never
 * on the observer's loop (a stalled collector must not delay the
 * monitors' draining) nor on the host's. The answer counts as success
 * for any 2xx status; the rest of the answer is not read.
 *
 * The metrics are cumulative (sums and histograms with a start time), so
 * a failed push loses nothing: the next one that gets through carries
 * every count. A failed periodic push is retried after 250 ms, then after
 * twice as long each time, never later than the interval; each failure
 * counts in zmqobs_otlp_push_failures_total, an application counter the
 * first push creates (so it shows in every format, OTLP included).
 *
 * SPDX-License-Identifier: MIT
 */
#include "otlp.h"

#include "otlp_json.h"
#include "process.h"
#include "registry.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Longest a push may take, and the first retry delay. */
#define PUSH_TIMEOUT_MS 2000
#define RETRY_FIRST_MS 250
#define INTERVAL_MIN_MS 10

struct zmqobs_otlp {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop; /* under lock */
    unsigned interval_ms;
    zmqobs_url_t url;
    zmqobs_t *obs;
};

/* Guards the creation of each observer's failure counter and the
 * installation of its periodic push. */
static pthread_mutex_t otlp_lock = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------------------
 * URL
 * ---------------------------------------------------------------------- */

int zmqobs__url_parse (const char *url, zmqobs_url_t *out)
{
    if (!url || !out) {
        errno = EINVAL;
        return -1;
    }
    memset (out, 0, sizeof *out);
    if (strncmp (url, "https://", 8) == 0) {
        errno = ENOTSUP;
        return -1;
    }
    if (strncmp (url, "http://", 7) != 0) {
        errno = EINVAL;
        return -1;
    }
    const char *h = url + 7, *end;
    char host[64];
    if (*h == '[') {
        end = strchr (h, ']');
        if (!end || (size_t) (end - h - 1) >= sizeof host)
            goto invalid;
        memcpy (host, h + 1, (size_t) (end - h - 1));
        host[end - h - 1] = '\0';
        end++;
        out->family = AF_INET6;
        if (inet_pton (AF_INET6, host, out->addr) != 1)
            goto invalid;
    } else {
        end = h + strcspn (h, ":/");
        if (end == h || (size_t) (end - h) >= sizeof host)
            goto invalid;
        memcpy (host, h, (size_t) (end - h));
        host[end - h] = '\0';
        out->family = AF_INET;
        if (strcmp (host, "localhost") == 0)
            strcpy (host, "127.0.0.1");
        if (inet_pton (AF_INET, host, out->addr) != 1)
            goto invalid;
    }
    out->port = 80;
    if (*end == ':') {
        unsigned long port = 0;
        const char *d = end + 1;
        while (*d >= '0' && *d <= '9' && port <= 65535)
            port = port * 10 + (unsigned long) (*d++ - '0');
        if (d == end + 1 || port == 0 || port > 65535 || (*d && *d != '/'))
            goto invalid;
        out->port = (uint16_t) port;
        end = d;
    }
    /* the Host header: the authority as written */
    if ((size_t) (end - h) >= sizeof out->host)
        goto invalid;
    memcpy (out->host, h, (size_t) (end - h));
    const char *path = *end ? end : "/";
    size_t pl = strlen (path);
    if (pl >= sizeof out->path)
        goto invalid;
    for (size_t i = 0; i < pl; i++)
        if ((unsigned char) path[i] <= ' ' || path[i] == 0x7f || path[i] == '#')
            goto invalid;
    memcpy (out->path, path, pl + 1);
    return 0;
invalid:
    errno = EINVAL;
    return -1;
}

/* ------------------------------------------------------------------------
 * One push
 * ---------------------------------------------------------------------- */

static uint64_t mono_ms (void)
{
    return zmqobs__now_ns () / 1000000u;
}

/* Waits for events on fd until the deadline or a stop request; 1 when
 * ready, 0 on timeout or stop. */
static int wait_fd (int fd, short events, uint64_t deadline, const int *stop)
{
    for (;;) {
        if (stop && __atomic_load_n (stop, __ATOMIC_RELAXED))
            return 0;
        uint64_t now = mono_ms ();
        if (now >= deadline)
            return 0;
        uint64_t left = deadline - now;
        struct pollfd p = {.fd = fd, .events = events};
        int rc = poll (&p, 1, (int) (left > 100 ? 100 : left));
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return 1; /* the next call on fd reports it */
    }
}

/* The request body, formatted as zmqobs_format does; malloc'ed, *len set.
 * NULL with errno ENOMEM. */
static char *format_body (zmqobs_t *obs, size_t *len)
{
    zmqobs__format_tables ();
    size_t size = 16384;
    for (int tries = 0; tries < 4; tries++) {
        char *buf = zmqobs__malloc (size);
        if (!buf) {
            errno = ENOMEM;
            return NULL;
        }
        zmqobs__process_t proc;
        const zmqobs__process_t *p = NULL;
        if (obs->process_metrics) {
            zmqobs__process_read (&proc);
            p = &proc;
        }
        pthread_mutex_lock (&obs->scrape_lock);
        zmqobs_socket_t *const *socks;
        size_t n = zmqobs__pin_sockets (obs, &socks);
        zmqobs_out_t o;
        zmqobs__out_init (&o, buf, size);
        zmqobs__otlp_json (&o, obs, socks, n, p, zmqobs__wall_ns ());
        size_t need = zmqobs__out_end (&o);
        zmqobs__unpin_sockets (obs);
        pthread_mutex_unlock (&obs->scrape_lock);
        if (need < size) {
            *len = need;
            return buf;
        }
        zmqobs__free (buf);
        size = need + 4096;
    }
    errno = ENOMEM;
    return NULL;
}

/* Sends all of data before the deadline; 0, or -1 with errno. */
static int send_all (int fd, const char *data, size_t len, uint64_t deadline, const int *stop)
{
    while (len) {
        ssize_t n = send (fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t) n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        if (!wait_fd (fd, POLLOUT, deadline, stop)) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
    return 0;
}

/* Reads the status line; the HTTP status, or -1 with errno ETIMEDOUT,
 * ECONNRESET (closed before one) or EPROTO (not an HTTP answer). */
static int read_status (int fd, uint64_t deadline, const int *stop)
{
    char head[64];
    size_t got = 0;
    while (got < sizeof head) {
        ssize_t n = recv (fd, head + got, sizeof head - got, 0);
        if (n > 0) {
            got += (size_t) n;
            if (memchr (head, '\n', got))
                break;
            continue;
        }
        if (n == 0) {
            errno = got ? EPROTO : ECONNRESET;
            return -1;
        }
        if (errno != EAGAIN && errno != EINTR)
            return -1;
        if (!wait_fd (fd, POLLIN, deadline, stop)) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
    /* "HTTP/1.x NNN " */
    if (got < 13 || memcmp (head, "HTTP/1.", 7) != 0 || head[8] != ' ' || head[12] != ' ')
        goto proto;
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (head[i] < '0' || head[i] > '9')
            goto proto;
        status = status * 10 + (head[i] - '0');
    }
    return status;
proto:
    errno = EPROTO;
    return -1;
}

static int post (const zmqobs_url_t *u, const char *body, size_t len, const int *stop)
{
    uint64_t deadline = mono_ms () + PUSH_TIMEOUT_MS;
    int fd = socket (u->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_storage ss;
    socklen_t sl;
    memset (&ss, 0, sizeof ss);
    if (u->family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *) &ss;
        a->sin_family = AF_INET;
        a->sin_port = htons (u->port);
        memcpy (&a->sin_addr, u->addr, 4);
        sl = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons (u->port);
        memcpy (&a->sin6_addr, u->addr, 16);
        sl = sizeof *a;
    }
    int rc = -1, err = 0;
    if (connect (fd, (struct sockaddr *) &ss, sl) != 0) {
        if (errno != EINPROGRESS)
            goto out;
        if (!wait_fd (fd, POLLOUT, deadline, stop)) {
            errno = ETIMEDOUT;
            goto out;
        }
        socklen_t el = sizeof err;
        if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
            goto out;
        if (err) {
            errno = err;
            goto out;
        }
    }
    char head[512];
    int hl = snprintf (head, sizeof head,
                       "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\nConnection: close\r\n"
                       "User-Agent: libzmqobs/%d.%d.%d\r\n\r\n",
                       u->path, u->host, len, ZMQOBS_VERSION_MAJOR, ZMQOBS_VERSION_MINOR,
                       ZMQOBS_VERSION_PATCH);
    if (hl < 0 || (size_t) hl >= sizeof head) {
        errno = EINVAL;
        goto out;
    }
    if (send_all (fd, head, (size_t) hl, deadline, stop) != 0
        || send_all (fd, body, len, deadline, stop) != 0)
        goto out;
    int status = read_status (fd, deadline, stop);
    if (status < 0)
        goto out;
    if (status < 200 || status > 299) {
        errno = EPROTO;
        goto out;
    }
    rc = 0;
out:
    err = errno;
    close (fd);
    errno = err;
    return rc;
}

/* The failure counter, created by the first push of the observer. */
static zmqobs_metric_t *failures (zmqobs_t *obs)
{
    pthread_mutex_lock (&otlp_lock);
    if (!obs->otlp_failures)
        obs->otlp_failures =
            zmqobs_counter_new (obs, "zmqobs_otlp_push_failures",
                                "OTLP pushes that failed (collector down, slow or answering "
                                "other than 2xx); the next push carries every count.",
                                NULL, 0);
    zmqobs_metric_t *m = obs->otlp_failures;
    pthread_mutex_unlock (&otlp_lock);
    return m;
}

static int push (zmqobs_t *obs, const zmqobs_url_t *u, const int *stop)
{
    zmqobs_metric_t *fail = failures (obs);
    size_t len;
    char *body = format_body (obs, &len);
    int rc = body ? post (u, body, len, stop) : -1;
    int err = errno;
    zmqobs__free (body);
    /* a push abandoned by zmqobs_otlp_stop did not fail */
    if (rc != 0 && fail && !(stop && __atomic_load_n (stop, __ATOMIC_RELAXED)))
        zmqobs_counter_add (fail, 1);
    errno = err;
    return rc;
}

int zmqobs_otlp_push (zmqobs_t *obs, const char *url)
{
    zmqobs_url_t u;
    if (!obs) {
        errno = EINVAL;
        return -1;
    }
    if (zmqobs__url_parse (url, &u) != 0)
        return -1;
    return push (obs, &u, NULL);
}

/* ------------------------------------------------------------------------
 * Periodic push
 * ---------------------------------------------------------------------- */

static void *pusher (void *arg)
{
    struct zmqobs_otlp *t = arg;
    unsigned delay = t->interval_ms, retry = RETRY_FIRST_MS;
    for (;;) {
        struct timespec ts;
        clock_gettime (CLOCK_MONOTONIC, &ts);
        ts.tv_sec += delay / 1000;
        ts.tv_nsec += (long) (delay % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock (&t->lock);
        while (!t->stop && pthread_cond_timedwait (&t->wake, &t->lock, &ts) == 0)
            ;
        int stop = t->stop;
        pthread_mutex_unlock (&t->lock);
        if (stop)
            break;
        if (push (t->obs, &t->url, &t->stop) == 0) {
            delay = t->interval_ms;
            retry = RETRY_FIRST_MS;
        } else {
            delay = retry < t->interval_ms ? retry : t->interval_ms;
            retry = retry < t->interval_ms / 2 ? retry * 2 : t->interval_ms;
        }
    }
    return NULL;
}

int zmqobs_otlp_start (zmqobs_t *obs, const char *url, unsigned interval_ms)
{
    zmqobs_url_t u;
    if (!obs || interval_ms < INTERVAL_MIN_MS) {
        errno = EINVAL;
        return -1;
    }
    if (zmqobs__url_parse (url, &u) != 0)
        return -1;
    if (!failures (obs))
        return -1;
    struct zmqobs_otlp *t = zmqobs__calloc (1, sizeof *t);
    if (!t)
        return -1;
    t->url = u;
    t->interval_ms = interval_ms;
    t->obs = obs;
    pthread_mutex_init (&t->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init (&ca);
    pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
    pthread_cond_init (&t->wake, &ca);
    pthread_condattr_destroy (&ca);
    pthread_mutex_lock (&otlp_lock);
    int rc = -1;
    if (obs->otlp)
        errno = EALREADY;
    else if ((rc = pthread_create (&t->thread, NULL, pusher, t)) != 0) {
        errno = rc;
        rc = -1;
    } else
        obs->otlp = t;
    pthread_mutex_unlock (&otlp_lock);
    if (rc != 0) {
        int err = errno;
        pthread_cond_destroy (&t->wake);
        pthread_mutex_destroy (&t->lock);
        zmqobs__free (t);
        errno = err;
        return -1;
    }
    return 0;
}

int zmqobs_otlp_stop (zmqobs_t *obs)
{
    if (!obs) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock (&otlp_lock);
    struct zmqobs_otlp *t = obs->otlp;
    obs->otlp = NULL;
    pthread_mutex_unlock (&otlp_lock);
    if (!t) {
        errno = ENOTCONN;
        return -1;
    }
    pthread_mutex_lock (&t->lock);
    __atomic_store_n (&t->stop, 1, __ATOMIC_RELAXED);
    pthread_cond_signal (&t->wake);
    pthread_mutex_unlock (&t->lock);
    pthread_join (t->thread, NULL);
    pthread_cond_destroy (&t->wake);
    pthread_mutex_destroy (&t->lock);
    zmqobs__free (t);
    return 0;
}

void zmqobs__otlp_fini (zmqobs_t *obs)
{
    int err = errno;
    zmqobs_otlp_stop (obs);
    errno = err;
}
