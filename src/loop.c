/*
 * loop.c - the draining loop: an epoll set with a ready list, a wake
 * eventfd, a table of sources, and the thread that turns it (or, in
 * host-driven mode, the host's calls to zmqobs_process).
 *
 * Readers are watched edge-triggered through their ZMQ_FD (libzmq's
 * descriptor says "ZMQ_EVENTS may have changed", not "a message waits").
 * A reader the set reports joins the ready list; a turn drains each node
 * on the list once, up to a budget, and the drain hook says whether it
 * stays (it leaves only once a receive found nothing and ZMQ_EVENTS, read
 * after it, has no ZMQ_POLLIN, which also re-arms the descriptor). So a
 * turn costs what is ready, never what is attached. The eventfd is not a
 * libzmq socket on purpose: it never stops zmq_ctx_term from completing.
 * In host-driven mode the epoll descriptor itself is the one stable fd
 * the host watches (zmqobs_fd).
 *
 * The ready list is the draining thread's: in threaded mode only the loop
 * thread touches it; in host-driven mode the thread that holds the lock
 * (zmqobs_process, or a detach on the polling thread).
 *
 * SPDX-License-Identifier: MIT
 */
#include "loop.h"

#include "eventlog.h"

#include <limits.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define BATCH 512      /* messages per reader per turn */
#define EPOLL_BATCH 64 /* descriptors taken per epoll_wait */

static long min_timeout (long a, long b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

static void wake (struct zmqobs_loop *lp)
{
    zmqobs__wakefd_signal (&lp->efd);
}

void zmqobs__loop_wake (zmqobs_t *obs)
{
    if (obs && obs->loop)
        wake (obs->loop);
}

int zmqobs__loop_watch (zmqobs_t *obs, zmqobs_loop_node_t *node, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = node};
    return epoll_ctl (obs->loop->epfd, EPOLL_CTL_ADD, fd, &ev);
}

void zmqobs__loop_unwatch (zmqobs_t *obs, zmqobs_loop_node_t *node, int fd)
{
    if (fd >= 0)
        epoll_ctl (obs->loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    zmqobs__dl_remove (&node->ready);
}

void zmqobs__loop_ready (zmqobs_t *obs, zmqobs_loop_node_t *node)
{
    if (!zmqobs__dl_linked (&node->ready))
        zmqobs__dl_push (&obs->loop->ready, &node->ready);
}

int zmqobs__loop_terminated (zmqobs_t *obs)
{
    return obs->loop->terminated;
}

void zmqobs__loop_enter (zmqobs_t *obs)
{
    if (!obs->host_driven)
        return;
    ADD (&obs->loop->waiters, 1);
    wake (obs->loop);
}

void zmqobs__loop_leave (zmqobs_t *obs)
{
    struct zmqobs_loop *lp = obs->loop;
    if (!obs->host_driven)
        return;
    pthread_mutex_lock (&lp->lock);
    ADD (&lp->waiters, -1);
    pthread_cond_broadcast (&lp->cond);
    pthread_mutex_unlock (&lp->lock);
}

/* ETERM: the hook closes every reader; in threaded mode takes the lock,
 * which host-driven callers of turn() already hold. */
static void terminate (zmqobs_t *obs, int own)
{
    struct zmqobs_loop *lp = obs->loop;
    if (own)
        pthread_mutex_lock (&lp->lock);
    lp->hooks.terminate (obs);
    lp->terminated = 1;
    while (!zmqobs__dl_empty (&lp->ready))
        zmqobs__dl_remove (lp->ready.next);
    if (own)
        pthread_mutex_unlock (&lp->lock);
}

/* Runs the sources that are due (their fd was reported, or their timeout
 * came); host-driven mode, the lock held. */
static void run_sources (zmqobs_t *obs, const int *fired)
{
    struct zmqobs_loop *lp = obs->loop;
    for (int i = 0; i < ZMQOBS__SOURCES_MAX; i++) {
        zmqobs_source_t *src = &lp->sources[i];
        if (!src->run)
            continue;
        if (fired[i] || (src->timeout_ms && src->timeout_ms (obs) == 0))
            src->run (obs);
    }
}

/* The poll timeout the sources allow; host-driven mode, the lock held. */
static long sources_timeout (zmqobs_t *obs)
{
    struct zmqobs_loop *lp = obs->loop;
    long t = -1;
    for (int i = 0; i < ZMQOBS__SOURCES_MAX; i++)
        if (lp->sources[i].run && lp->sources[i].timeout_ms)
            t = min_timeout (t, lp->sources[i].timeout_ms (obs));
    return t;
}

/* What epoll reported: the wake descriptor is emptied, a source is
 * marked in fired, a reader joins the ready list. */
static void take_events (zmqobs_t *obs, const struct epoll_event *evs, int nev, int *fired)
{
    for (int i = 0; i < nev; i++) {
        zmqobs_loop_node_t *n = evs[i].data.ptr;
        if (n->kind == ZMQOBS__N_WAKE) {
            zmqobs__wakefd_drain (&obs->loop->efd);
        } else if (n->kind == ZMQOBS__N_SOURCE)
            fired[n->source] = 1;
        else
            zmqobs__loop_ready (obs, n);
    }
}

/* One turn: take in changes, wait (at most timeout_ms) for what is ready,
 * drain each ready node once. Returns events handled, or -1 with errno
 * ETERM (readers closed) or another errno. In threaded mode the lock is
 * not held on entry; in host-driven mode it is. */
static int turn (zmqobs_t *obs, long timeout_ms)
{
    struct zmqobs_loop *lp = obs->loop;
    const zmqobs_loop_hooks_t *hk = &lp->hooks;
    int own = !obs->host_driven;
    if (own)
        pthread_mutex_lock (&lp->lock);
    long due = hk->prepare (obs);
    if (own)
        pthread_mutex_unlock (&lp->lock);
    int served = hk->serve (obs);
    if (served < 0) {
        terminate (obs, own);
        errno = ETERM;
        return -1;
    }
    if (served > 0) {
        /* then drain as usual, so that a run of requests cannot starve
         * the other readers; the next request is taken at once */
        if (own)
            pthread_mutex_lock (&lp->lock);
        due = hk->prepare (obs);
        if (own)
            pthread_mutex_unlock (&lp->lock);
        if (hk->busy (obs))
            timeout_ms = 0;
    }
    long timeout = min_timeout (timeout_ms, due);
    if (!own)
        timeout = min_timeout (timeout, sources_timeout (obs));
    if (!zmqobs__dl_empty (&lp->ready))
        timeout = 0;
    if (timeout > INT_MAX)
        timeout = INT_MAX;
    struct epoll_event evs[EPOLL_BATCH];
    int nev = epoll_wait (lp->epfd, evs, EPOLL_BATCH, (int) timeout);
    if (nev < 0)
        return -1; /* EINTR */
    int fired[ZMQOBS__SOURCES_MAX] = {0};
    take_events (obs, evs, nev, fired);
    if (!own)
        run_sources (obs, fired);
    /* each node that was ready when the turn began, once, in order; one
     * with more than a batch goes to the back */
    int events = 0;
    zmqobs_dlink_t *last = lp->ready.prev;
    while (!zmqobs__dl_empty (&lp->ready)) {
        zmqobs_dlink_t *l = lp->ready.next;
        zmqobs_loop_node_t *n = ZMQOBS__CONTAINER (l, zmqobs_loop_node_t, ready);
        int final = l == last;
        zmqobs__dl_remove (l);
        int rc = hk->drain (obs, n, BATCH, &events);
        if (rc == ZMQOBS__D_TERM) {
            terminate (obs, own);
            errno = ETERM;
            return -1;
        }
        if (rc == ZMQOBS__D_MORE)
            zmqobs__loop_ready (obs, n);
        if (lp->terminated) {
            /* a MONITOR_STOPPED revealed ETERM: every reader is closed
             * (this thread set the flag, so it reads it without the lock) */
            errno = ETERM;
            return -1;
        }
        if (final)
            break;
    }
    return events;
}

/* Host-driven mode: waits for the context to terminate, then closes
 * every reader at once, so that zmq_ctx_term completes even if the host
 * never calls zmqobs_process again (a program on its way out whose
 * framework terminates the context for it). */
static void *term_watch (void *arg)
{
    zmqobs_t *obs = arg;
    struct zmqobs_loop *lp = obs->loop;
    /* made by zmqobs__loop_init, used by this thread alone from now on */
    void *sentinel = lp->sentinel;
    int term = 0;
    {
        zmq_pollitem_t items[2] = {{.socket = sentinel, .events = ZMQ_POLLIN},
                                   {.socket = NULL, .fd = lp->watch_efd.rd, .events = ZMQ_POLLIN}};
        for (;;) {
            int rc = zmq_poll (items, 2, -1);
            if (rc < 0 && errno == EINTR)
                continue;
            if (rc < 0) {
                term = errno == ETERM;
                break;
            }
            if (items[1].revents)
                break; /* zmqobs_destroy */
        }
        zmq_close (sentinel);
    }
    if (term) {
        zmqobs__loop_enter (obs);
        pthread_mutex_lock (&lp->lock);
        if (!lp->terminated) {
            lp->hooks.terminate (obs);
            lp->terminated = 1;
            while (!zmqobs__dl_empty (&lp->ready))
                zmqobs__dl_remove (lp->ready.next);
        }
        pthread_mutex_unlock (&lp->lock);
        zmqobs__loop_leave (obs);
    }
    return NULL;
}

static void *loop_thread (void *arg)
{
    zmqobs_t *obs = arg;
    struct zmqobs_loop *lp = obs->loop;
    for (;;) {
        pthread_mutex_lock (&lp->lock);
        int quit = lp->quit;
        pthread_mutex_unlock (&lp->lock);
        if (quit)
            break;
        /* after ETERM every reader is closed and the set holds only the
         * wake descriptor: the wait below sleeps until quit */
        turn (obs, -1);
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * Sources
 * ---------------------------------------------------------------------- */

int zmqobs__loop_add_source (zmqobs_t *obs, int fd, long (*timeout_ms) (zmqobs_t *),
                             void (*run) (zmqobs_t *))
{
    struct zmqobs_loop *lp = obs->loop;
    zmqobs__loop_enter (obs);
    pthread_mutex_lock (&lp->lock);
    int id = -1, err = ENOSPC;
    for (int i = 0; i < ZMQOBS__SOURCES_MAX && id < 0; i++)
        if (!lp->sources[i].run)
            id = i;
    if (id >= 0) {
        zmqobs_source_t *src = &lp->sources[id];
        src->node.kind = ZMQOBS__N_SOURCE;
        src->node.source = id;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &src->node};
        if (epoll_ctl (lp->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            err = errno;
            id = -1;
        } else {
            src->fd = fd;
            src->timeout_ms = timeout_ms;
            src->run = run;
        }
    }
    pthread_mutex_unlock (&lp->lock);
    zmqobs__loop_leave (obs);
    wake (lp);
    if (id < 0)
        errno = err;
    return id;
}

void zmqobs__loop_remove_source (zmqobs_t *obs, int id)
{
    struct zmqobs_loop *lp = obs->loop;
    if (id < 0 || id >= ZMQOBS__SOURCES_MAX)
        return;
    zmqobs__loop_enter (obs);
    pthread_mutex_lock (&lp->lock);
    zmqobs_source_t *src = &lp->sources[id];
    if (src->run) {
        epoll_ctl (lp->epfd, EPOLL_CTL_DEL, src->fd, NULL);
        src->run = NULL;
        src->timeout_ms = NULL;
        src->fd = -1;
    }
    pthread_mutex_unlock (&lp->lock);
    zmqobs__loop_leave (obs);
}

/* ------------------------------------------------------------------------
 * Lifecycle
 * ---------------------------------------------------------------------- */

int zmqobs__loop_init (zmqobs_t *obs, const zmqobs_loop_hooks_t *hooks)
{
    struct zmqobs_loop *lp = zmqobs__calloc (1, sizeof *lp);
    if (!lp)
        return -1;
    lp->hooks = *hooks;
    zmqobs__dl_init (&lp->ready);
    for (int i = 0; i < ZMQOBS__SOURCES_MAX; i++)
        lp->sources[i].fd = -1;
    lp->watch_efd.rd = lp->watch_efd.wr = -1;
    int wrc = zmqobs__wakefd_open (&lp->efd);
    lp->epfd = epoll_create1 (EPOLL_CLOEXEC);
    lp->wake_node.kind = ZMQOBS__N_WAKE;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &lp->wake_node};
    if (wrc != 0 || lp->epfd < 0 || epoll_ctl (lp->epfd, EPOLL_CTL_ADD, lp->efd.rd, &ev) != 0) {
        int err = errno;
        zmqobs__wakefd_close (&lp->efd);
        if (lp->epfd >= 0)
            close (lp->epfd);
        zmqobs__free (lp);
        errno = err;
        return -1;
    }
    pthread_mutex_init (&lp->lock, NULL);
    pthread_cond_init (&lp->cond, NULL);
    obs->loop = lp;
    if (!obs->host_driven) {
        int rc = pthread_create (&lp->thread, NULL, loop_thread, obs);
        if (rc != 0) {
            zmqobs__loop_free (obs);
            errno = rc;
            return -1;
        }
        lp->has_thread = 1;
    } else {
        /* the sentinel is made here, so the observer's sockets and
         * descriptors are all taken when zmqobs_new returns */
        lp->sentinel = zmqobs__wakefd_open (&lp->watch_efd) != 0 ? NULL
                                                                  : zmq_socket (obs->ctx, ZMQ_PAIR);
        int rc = lp->sentinel ? pthread_create (&lp->watcher, NULL, term_watch, obs) : errno;
        if (rc != 0) {
            if (lp->sentinel)
                zmq_close (lp->sentinel);
            zmqobs__loop_free (obs);
            errno = rc;
            return -1;
        }
        lp->has_watcher = 1;
    }
    return 0;
}

void zmqobs__loop_stop (zmqobs_t *obs)
{
    struct zmqobs_loop *lp = obs ? obs->loop : NULL;
    if (lp && lp->has_watcher) {
        zmqobs__wakefd_signal (&lp->watch_efd);
        pthread_join (lp->watcher, NULL);
        lp->has_watcher = 0;
    }
    if (!lp || !lp->has_thread)
        return;
    pthread_mutex_lock (&lp->lock);
    lp->quit = 1;
    pthread_mutex_unlock (&lp->lock);
    wake (lp);
    pthread_join (lp->thread, NULL);
    lp->has_thread = 0;
}

void zmqobs__loop_free (zmqobs_t *obs)
{
    struct zmqobs_loop *lp = obs ? obs->loop : NULL;
    if (!lp)
        return;
    close (lp->epfd);
    zmqobs__wakefd_close (&lp->efd);
    zmqobs__wakefd_close (&lp->watch_efd);
    pthread_cond_destroy (&lp->cond);
    pthread_mutex_destroy (&lp->lock);
    zmqobs__free (lp);
    obs->loop = NULL;
}

/* ------------------------------------------------------------------------
 * Host-driven mode
 * ---------------------------------------------------------------------- */

/* Host-driven, after ETERM: empties the wake descriptor and runs the
 * sources that are due, without waiting. The lock held. */
static void after_term (zmqobs_t *obs)
{
    struct zmqobs_loop *lp = obs->loop;
    struct epoll_event evs[EPOLL_BATCH];
    int fired[ZMQOBS__SOURCES_MAX] = {0};
    take_events (obs, evs, epoll_wait (lp->epfd, evs, EPOLL_BATCH, 0), fired);
    run_sources (obs, fired);
}

/* The host-driven entry points' common check: 0, or -1 with EINVAL
 * (NULL self) or ENOTSUP (the observer has its own thread). */
static int host_driven_only (const zmqobs_t *self)
{
    if (!self) {
        errno = EINVAL;
        return -1;
    }
    if (!self->host_driven) {
        errno = ENOTSUP;
        return -1;
    }
    return 0;
}

int zmqobs_fd (zmqobs_t *self)
{
    if (host_driven_only (self) != 0)
        return -1;
    return self->loop->epfd;
}

/* Set while zmqobs_process runs on this thread (the loop's lock held):
 * calls that take the lock again refuse with EDEADLK there. */
static __thread const zmqobs_t *in_process;

int zmqobs__loop_in_process (const zmqobs_t *obs)
{
    return in_process == obs;
}

long zmqobs_timeout_ms (zmqobs_t *self)
{
    if (host_driven_only (self) != 0)
        return -2;
    if (in_process == self || zmqobs__in_callback (self)) {
        /* from an event callback: in host-driven mode every one runs with
         * the loop's lock held (zmqobs_process, a detach, a request) */
        errno = EDEADLK;
        return -2;
    }
    struct zmqobs_loop *lp = self->loop;
    pthread_mutex_lock (&lp->lock);
    long t;
    if (lp->terminated)
        t = -1;
    else if (!zmqobs__dl_empty (&lp->ready))
        t = 0;
    else
        t = min_timeout (lp->hooks.due_ms (self), sources_timeout (self));
    pthread_mutex_unlock (&lp->lock);
    return t;
}

int zmqobs_pollitems (zmqobs_t *self, zmq_pollitem_t *items, int size)
{
    if ((!items && size > 0) || size < 0) {
        errno = EINVAL;
        return -1;
    }
    if (host_driven_only (self) != 0)
        return -1;
    /* one descriptor stands for everything: readers, HTTP, the wake */
    if (size > 0)
        items[0] = (zmq_pollitem_t) {.socket = NULL,
                                     .fd = self->loop->epfd,
                                     .events = ZMQ_POLLIN,
                                     .revents = 0};
    return 1;
}

int zmqobs_process (zmqobs_t *self, long timeout_ms)
{
    if (host_driven_only (self) != 0)
        return -1;
    struct zmqobs_loop *lp = self->loop;
    pthread_mutex_lock (&lp->lock);
    while (LOAD (&lp->waiters) > 0)
        pthread_cond_wait (&lp->cond, &lp->lock);
    if (lp->terminated) {
        /* no reader is left, but the wake descriptor may be set (else the
         * host's loop would spin on zmqobs_fd) and HTTP still serves */
        const zmqobs_t *outer = in_process;
        in_process = self;
        after_term (self);
        in_process = outer;
        pthread_mutex_unlock (&lp->lock);
        errno = ETERM;
        return -1;
    }
    const zmqobs_t *outer = in_process;
    in_process = self;
    int total = 0;
    int rc = turn (self, timeout_ms < 0 ? -1 : timeout_ms);
    /* then whatever else is pending, without waiting; bounded, so a
     * storm cannot keep the host here */
    for (int turns = 0; rc > 0 && turns < 64; turns++) {
        total += rc;
        rc = turn (self, 0);
    }
    if (rc > 0) {
        total += rc;
        rc = 0;
    }
    int err = errno;
    in_process = outer;
    /* work left (a storm cut off): keep the host's descriptor readable,
     * since the readers' edges have been consumed */
    if (rc >= 0 && (!zmqobs__dl_empty (&lp->ready) || lp->hooks.busy (self)))
        wake (lp);
    pthread_mutex_unlock (&lp->lock);
    if (rc < 0 && err != EINTR) {
        errno = err;
        return -1;
    }
    return total;
}
