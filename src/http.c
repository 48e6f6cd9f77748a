/*
 * http.c - the optional built-in HTTP endpoint: GET/HEAD /metrics,
 * /healthz and /readyz.
 *
 * Its descriptors (the listener, every connection, a wake eventfd) sit in
 * an epoll set of its own, kept in step with the connections' states. In
 * threaded mode a thread of its own waits on that set, so scrapes never
 * delay the draining of monitors (formatting holds no lock the drain path
 * takes). In host-driven mode the set's descriptor is a source of the
 * observer's loop, so the host's one descriptor (zmqobs_fd) covers HTTP
 * too, and zmqobs_process serves it. Everything is non-blocking: one slow
 * or hostile client can hold at most one connection slot until its
 * deadline, and a new connection evicts the least useful one when the
 * table is full, so a scrape always gets through.
 *
 * Memory: the connection table (request buffers included) and a small
 * response buffer per slot are allocated when serving starts. A slot's
 * response buffer grows for /metrics and is kept, so steady scraping does
 * not allocate.
 *
 * SPDX-License-Identifier: MIT
 */
#include "http.h"

#include "eventlog.h"
#include "http_conn.h"
#include "http_parse.h"

#include "accept.h"
#include "loop.h"
#include "platform.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <limits.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Serving state and its lifetime
 * ---------------------------------------------------------------------- */

/* Closes everything and frees the table; h->mu held (or h unreachable). */
static void stop_locked (struct zmqobs_http *h)
{
    if (h->conns) {
        for (int i = 0; i < MAX_CONNS; i++) {
            zmqobs__conn_close (&h->conns[i]);
            zmqobs__free (h->conns[i].out);
        }
        zmqobs__free (h->conns);
        h->conns = NULL;
    }
    if (h->listen_reg)
        epoll_ctl (h->epfd, EPOLL_CTL_DEL, h->listen_fd, NULL);
    h->listen_reg = 0;
    if (h->listen_fd >= 0) {
        /* The loop thread may be inside zmq_poll on this fd, and Linux
         * keeps a listening socket open until that poll returns; shutdown
         * stops it listening at once (and wakes the poll). */
        shutdown (h->listen_fd, SHUT_RDWR);
        close (h->listen_fd);
    }
    h->listen_fd = -1;
    h->port = 0;
    h->accept_pause = 0;
}

static void host_run (zmqobs_t *obs);

/* Returns the observer's HTTP state, creating it on first use. */
static struct zmqobs_http *get_or_create (zmqobs_t *obs)
{
    pthread_mutex_lock (&obs->lock);
    struct zmqobs_http *h = obs->http;
    int created = 0;
    if (!h) {
        h = zmqobs__calloc (1, sizeof *h);
        if (h) {
            h->epfd = epoll_create1 (EPOLL_CLOEXEC);
            int wrc = zmqobs__wakefd_open (&h->wake);
            struct epoll_event ev = {.events = EPOLLIN, .data.fd = h->wake.rd};
            if (h->epfd < 0 || wrc != 0
                || epoll_ctl (h->epfd, EPOLL_CTL_ADD, h->wake.rd, &ev) != 0) {
                int err = errno;
                if (h->epfd >= 0)
                    close (h->epfd);
                zmqobs__wakefd_close (&h->wake);
                zmqobs__free (h);
                pthread_mutex_unlock (&obs->lock);
                errno = err;
                return NULL;
            }
            pthread_mutex_init (&h->mu, NULL);
            pthread_cond_init (&h->idle, NULL);
            h->listen_fd = -1;
            h->source = -1;
            h->idle_ns = 30000 * MS;
            h->request_ns = 5000 * MS;
            h->write_ns = 10000 * MS;
            h->linger_ns = 1000 * MS;
            created = 1;
            /* release: the loop's acquire load of obs->http then sees
             * an initialised struct */
            __atomic_store_n (&obs->http, h, __ATOMIC_RELEASE);
        }
    }
    pthread_mutex_unlock (&obs->lock);
    (void) created;
    return h;
}

/* Host-driven mode: makes the server's epoll set a source of the loop,
 * once (outside obs->lock: the loop runs its sources under its own lock
 * and they pin with obs->lock). Without it nothing would ever serve, so a
 * failure fails the serve. 0, or -1 with errno. */
static int ensure_source (zmqobs_t *obs, struct zmqobs_http *h)
{
    int none = -1;
    /* -2: being added by another thread, which reports its own failure */
    if (!__atomic_compare_exchange_n (&h->source, &none, -2, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return 0;
    int id = zmqobs__loop_add_source (obs, h->epfd, zmqobs__http_timeout_ms, host_run);
    int err = errno;
    __atomic_store_n (&h->source, id, __ATOMIC_RELEASE);
    if (id < 0) {
        errno = err;
        return -1;
    }
    return 0;
}

static void http_wake (struct zmqobs_http *h)
{
    zmqobs__wakefd_signal (&h->wake);
}

/* The loop's calls pin the state so that zmqobs__http_fini, which may run
 * concurrently from zmqobs_destroy, frees it only once they are out. */
static struct zmqobs_http *pin (zmqobs_t *obs)
{
    /* acquire: pairs with the release store in get_or_create */
    if (!obs || !__atomic_load_n (&obs->http, __ATOMIC_ACQUIRE))
        return NULL;
    pthread_mutex_lock (&obs->lock);
    struct zmqobs_http *h = obs->http;
    if (h)
        h->users++;
    pthread_mutex_unlock (&obs->lock);
    return h;
}

static void unpin (zmqobs_t *obs, struct zmqobs_http *h)
{
    pthread_mutex_lock (&obs->lock);
    if (--h->users == 0)
        pthread_cond_broadcast (&h->idle);
    pthread_mutex_unlock (&obs->lock);
}

void zmqobs__http_fini (zmqobs_t *obs)
{
    if (!obs)
        return;
    pthread_mutex_lock (&obs->lock);
    struct zmqobs_http *h = obs->http;
    pthread_mutex_unlock (&obs->lock);
    if (!h)
        return;
    /* the server's thread and the loop source go first, with no lock
     * held: both pin the state */
    if (h->has_thread) {
        pthread_mutex_lock (&h->mu);
        h->quit = 1;
        pthread_mutex_unlock (&h->mu);
        http_wake (h);
        pthread_join (h->thread, NULL);
        h->has_thread = 0;
    }
    int source = __atomic_load_n (&h->source, __ATOMIC_ACQUIRE);
    if (source >= 0) {
        zmqobs__loop_remove_source (obs, source);
        h->source = -1;
    }
    pthread_mutex_lock (&obs->lock);
    /* release: pairs with the acquire load in pin */
    __atomic_store_n (&obs->http, NULL, __ATOMIC_RELEASE);
    while (h->users > 0)
        pthread_cond_wait (&h->idle, &obs->lock);
    pthread_mutex_unlock (&obs->lock);
    pthread_mutex_lock (&h->mu);
    stop_locked (h);
    pthread_mutex_unlock (&h->mu);
    close (h->epfd);
    zmqobs__wakefd_close (&h->wake);
    pthread_cond_destroy (&h->idle);
    pthread_mutex_destroy (&h->mu);
    zmqobs__free (h);
}

void zmqobs__http_set_timeouts (zmqobs_t *obs, long idle_ms, long request_ms, long write_ms)
{
    struct zmqobs_http *h = obs ? get_or_create (obs) : NULL;
    if (!h)
        return;
    pthread_mutex_lock (&h->mu);
    if (idle_ms > 0)
        h->idle_ns = (uint64_t) idle_ms * MS;
    if (request_ms > 0)
        h->request_ns = (uint64_t) request_ms * MS;
    if (write_ms > 0)
        h->write_ns = (uint64_t) write_ms * MS;
    pthread_mutex_unlock (&h->mu);
}

/* ------------------------------------------------------------------------
 * The listener (zmqobs__http_parse_endpoint reads the endpoint)
 * ---------------------------------------------------------------------- */

static int open_listener (const struct sockaddr_storage *ss, socklen_t sl, int *port)
{
    int fd = socket (ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    /* a restarted process must not fail on the old one's TIME_WAIT */
    (void) setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss->ss_family == AF_INET6)
        (void) setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind (fd, (const struct sockaddr *) ss, sl) != 0 || listen (fd, 64) != 0)
        goto fail;
    struct sockaddr_storage got;
    socklen_t gl = sizeof got;
    if (getsockname (fd, (struct sockaddr *) &got, &gl) != 0)
        goto fail;
    *port = ntohs (got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &got)->sin6_port
                                             : ((struct sockaddr_in *) &got)->sin_port);
    return fd;
fail:;
    int err = errno;
    close (fd);
    errno = err;
    return -1;
}

static void *serve_thread (void *arg);

int zmqobs_serve (zmqobs_t *self, const char *endpoint)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    if (!self || !endpoint || zmqobs__http_parse_endpoint (endpoint, &ss, &sl) != 0) {
        errno = EINVAL;
        return -1;
    }
    if (self->host_driven && (zmqobs__loop_in_process (self) || zmqobs__in_callback (self))) {
        /* an event callback inside zmqobs_process: the loop's lock is
         * held by this very thread */
        errno = EDEADLK;
        return -1;
    }
    struct zmqobs_http *h = get_or_create (self);
    if (!h)
        return -1;
    if (self->host_driven && ensure_source (self, h) != 0)
        return -1;
    pthread_mutex_lock (&h->mu);
    if (h->listen_fd >= 0) {
        pthread_mutex_unlock (&h->mu);
        errno = EALREADY;
        return -1;
    }
    int err = ENOMEM;
    h->conns = zmqobs__calloc (MAX_CONNS, sizeof *h->conns);
    if (!h->conns)
        goto fail;
    for (int i = 0; i < MAX_CONNS; i++) {
        h->conns[i].fd = -1;
        h->conns[i].epfd = h->epfd;
        h->conns[i].out = zmqobs__malloc (SMALL_OUT);
        if (!h->conns[i].out)
            goto fail;
        h->conns[i].out_cap = SMALL_OUT;
    }
    int port = 0;
    int fd = open_listener (&ss, sl, &port);
    if (fd < 0) {
        err = errno;
        goto fail;
    }
    h->listen_fd = fd;
    h->port = port;
    if (!self->host_driven && !h->has_thread) {
        int rc = pthread_create (&h->thread, NULL, serve_thread, self);
        if (rc != 0) {
            err = rc;
            goto fail;
        }
        h->has_thread = 1;
    }
    pthread_mutex_unlock (&h->mu);
    http_wake (h);
    return 0;
fail:
    stop_locked (h);
    pthread_mutex_unlock (&h->mu);
    errno = err;
    return -1;
}

int zmqobs_serve_port (zmqobs_t *self)
{
    if (!self) {
        errno = EINVAL;
        return -1;
    }
    struct zmqobs_http *h = pin (self);
    int port = -1;
    if (h) {
        pthread_mutex_lock (&h->mu);
        if (h->listen_fd >= 0)
            port = h->port;
        pthread_mutex_unlock (&h->mu);
        unpin (self, h);
    }
    if (port < 0)
        errno = ENOTCONN;
    return port;
}

int zmqobs_serve_stop (zmqobs_t *self)
{
    if (!self) {
        errno = EINVAL;
        return -1;
    }
    struct zmqobs_http *h = pin (self);
    int was = 0;
    if (h) {
        pthread_mutex_lock (&h->mu);
        was = h->listen_fd >= 0;
        stop_locked (h);
        pthread_mutex_unlock (&h->mu);
        http_wake (h);
        unpin (self, h);
    }
    if (!was) {
        errno = ENOTCONN;
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Hooks for the draining loop
 * ---------------------------------------------------------------------- */

int zmqobs__http_pollitems (zmqobs_t *obs, zmq_pollitem_t *items, int size)
{
    struct zmqobs_http *h = pin (obs);
    if (!h)
        return 0;
    pthread_mutex_lock (&h->mu);
    int n = 0;
    if (h->listen_fd >= 0) {
        uint64_t now = zmqobs__now_ns ();
        zmqobs__expire (h, now);
        if (now >= h->accept_pause) {
            if (n < size && items)
                items[n] =
                    (zmq_pollitem_t) {.socket = NULL, .fd = h->listen_fd, .events = ZMQ_POLLIN};
            n++;
        }
        for (int i = 0; i < MAX_CONNS; i++) {
            const struct conn *c = &h->conns[i];
            if (c->state == C_FREE)
                continue;
            short ev = c->out_off < c->out_end ? ZMQ_POLLOUT : ZMQ_POLLIN;
            if (n < size && items)
                items[n] = (zmq_pollitem_t) {.socket = NULL, .fd = c->fd, .events = ev};
            n++;
        }
    }
    pthread_mutex_unlock (&h->mu);
    unpin (obs, h);
    return n;
}

long zmqobs__http_timeout_ms (zmqobs_t *obs)
{
    struct zmqobs_http *h = pin (obs);
    if (!h)
        return -1;
    long ms = -1;
    pthread_mutex_lock (&h->mu);
    if (h->listen_fd >= 0) {
        uint64_t now = zmqobs__now_ns ();
        for (int i = -1; i < MAX_CONNS; i++) {
            uint64_t d;
            if (i < 0) {
                if (now >= h->accept_pause)
                    continue;
                d = h->accept_pause;
            } else if (h->conns[i].state == C_FREE)
                continue;
            else
                d = zmqobs__conn_deadline (h, &h->conns[i]);
            /* round up, so the loop never wakes just before a deadline */
            long left = d <= now ? 0 : (long) ((d - now + MS - 1) / MS);
            if (ms < 0 || left < ms)
                ms = left;
        }
    }
    pthread_mutex_unlock (&h->mu);
    unpin (obs, h);
    return ms;
}

void zmqobs__http_dispatch (zmqobs_t *obs, const zmq_pollitem_t *items, int n)
{
    struct zmqobs_http *h = pin (obs);
    if (!h)
        return;
    pthread_mutex_lock (&h->mu);
    if (h->listen_fd >= 0 && (items || n == 0)) {
        uint64_t now = zmqobs__now_ns ();
        /* The set may have changed since the items were filled (a stop, an
         * eviction): match by fd and treat readiness as a hint only,
         * since every operation is non-blocking. */
        for (int k = 0; k < n; k++) {
            if (!items[k].revents || items[k].socket)
                continue;
            int fd = items[k].fd;
            if (fd == h->listen_fd) {
                zmqobs__accept_some (h, now);
                continue;
            }
            for (int i = 0; i < MAX_CONNS; i++) {
                struct conn *c = &h->conns[i];
                if (c->state == C_FREE || c->fd != fd)
                    continue;
                if (c->out_off < c->out_end)
                    zmqobs__conn_serve (obs, h, c, now);
                else
                    zmqobs__conn_read (obs, h, c, now);
                break;
            }
        }
        zmqobs__expire (h, now);
    }
    pthread_mutex_unlock (&h->mu);
    unpin (obs, h);
}

/* ------------------------------------------------------------------------
 * The server's epoll set, its thread and its loop source
 * ---------------------------------------------------------------------- */

/* Registers what each descriptor waits for now (as zmqobs__http_pollitems
 * says): the listener unless accepting rests, a connection for output
 * while a response is pending, else for input. h->mu held. */
static void sync_locked (struct zmqobs_http *h, uint64_t now)
{
    uint32_t want = h->listen_fd >= 0 && now >= h->accept_pause ? EPOLLIN : 0;
    if (want != h->listen_reg) {
        struct epoll_event ev = {.events = want, .data.fd = h->listen_fd};
        int op = !h->listen_reg ? EPOLL_CTL_ADD : !want ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
        if (epoll_ctl (h->epfd, op, h->listen_fd, &ev) == 0 || op == EPOLL_CTL_DEL)
            h->listen_reg = want;
    }
    for (int i = 0; h->conns && i < MAX_CONNS; i++) {
        struct conn *c = &h->conns[i];
        if (c->state == C_FREE)
            continue;
        want = c->out_off < c->out_end ? EPOLLOUT : EPOLLIN;
        if (want == c->reg)
            continue;
        struct epoll_event ev = {.events = want, .data.fd = c->fd};
        if (epoll_ctl (c->epfd, c->reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) == 0)
            c->reg = want;
    }
}

/* One round of the server: register, wait up to timeout_ms, serve what
 * is ready (and what timed out). */
static void http_turn (zmqobs_t *obs, struct zmqobs_http *h, long timeout_ms)
{
    pthread_mutex_lock (&h->mu);
    if (h->listen_fd >= 0) {
        uint64_t now = zmqobs__now_ns ();
        zmqobs__expire (h, now);
        sync_locked (h, now);
    }
    pthread_mutex_unlock (&h->mu);
    struct epoll_event evs[MAX_CONNS + 2];
    if (timeout_ms > INT_MAX)
        timeout_ms = INT_MAX;
    int n = epoll_wait (h->epfd, evs, MAX_CONNS + 2, (int) timeout_ms);
    zmq_pollitem_t items[MAX_CONNS + 2];
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.fd == h->wake.rd) {
            zmqobs__wakefd_drain (&h->wake);
            continue;
        }
        short re = 0;
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            re |= ZMQ_POLLIN;
        if (evs[i].events & EPOLLOUT)
            re |= ZMQ_POLLOUT;
        if (evs[i].events & EPOLLERR)
            re |= ZMQ_POLLERR;
        items[k++] = (zmq_pollitem_t) {.socket = NULL, .fd = evs[i].data.fd, .revents = re};
    }
    zmqobs__http_dispatch (obs, items, k);
    /* and again now: the set is all that wakes a host-driven loop, so new
     * connections and changed directions must be in it before it waits */
    pthread_mutex_lock (&h->mu);
    if (h->listen_fd >= 0)
        sync_locked (h, zmqobs__now_ns ());
    pthread_mutex_unlock (&h->mu);
}

/* Threaded mode: the server's own thread, from the first serve until
 * zmqobs_destroy. Idle (not serving), it sleeps on the wake eventfd. */
static void *serve_thread (void *arg)
{
    zmqobs_t *obs = arg;
    /* acquire: pairs with the release store in get_or_create; the state
     * outlives this thread (fini joins it first) */
    struct zmqobs_http *h = __atomic_load_n (&obs->http, __ATOMIC_ACQUIRE);
    /* A scraper flat out must not take the CPU the monitors' draining
     * needs: when they compete, this thread yields (nice + 10; Linux
     * threads have nice values of their own, and raising one needs no
     * privilege). Best effort: the scrape is served either way. */
    (void) zmqobs__thread_nice (10);
    for (;;) {
        pthread_mutex_lock (&h->mu);
        int quit = h->quit;
        pthread_mutex_unlock (&h->mu);
        if (quit)
            break;
        http_turn (obs, h, zmqobs__http_timeout_ms (obs));
    }
    return NULL;
}

/* Host-driven mode: the loop calls this when the set is readable or a
 * deadline is due, on the thread in zmqobs_process. */
static void host_run (zmqobs_t *obs)
{
    struct zmqobs_http *h = pin (obs);
    if (!h)
        return;
    http_turn (obs, h, 0);
    unpin (obs, h);
}
