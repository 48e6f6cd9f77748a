/*
 * monitor.c - the control side of the monitors: start (a fresh inproc
 * endpoint per attach, the reader connected before the monitor binds, so
 * a host bind or connect never blocks on it), the safe stop (stop while
 * the loop keeps draining, wait for MONITOR_STOPPED, then close), the
 * owner threads' requests served in order with queued events
 * (zmqobs_disconnect, zmqobs_unbind, zmqobs_connect), and the hash of the
 * handles being monitored, so attach and detach cost O(1).
 *
 * Attach, detach and requests run on the host socket's owner thread; the
 * loop runs elsewhere. They hand their changes to the loop on a list
 * under the loop's lock (todo) and wake it, so a turn's bookkeeping costs
 * what changed, never what is attached. A reader is created and connected
 * on the attach thread, then used only by the draining thread; the lock
 * orders the hand-off. The reader's receive high-water mark is 0
 * (unlimited), so libzmq's monitor socket can never block the host's I/O
 * thread, even while the loop is busy in a slow event callback.
 *
 * SPDX-License-Identifier: MIT
 */
#include "monitor.h"

#include "accounting.h"
#include "eventlog.h"
#include "reader.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define STOP_WAIT_NS 1000000000ull /* bound on waiting for MONITOR_STOPPED */
#define BATCH 512                  /* as the loop's batch */
#define PREDRAIN_BATCHES 64        /* before a detach or request: a storm is cut off */

static void request_locked (zmqobs_t *obs, zmqobs_socket_t *s, int op, const char *ep,
                            uint16_t port);
static int attach_monitor (zmqobs_t *obs, zmqobs_socket_t *s, void *handle);
static int start_monitor (zmqobs_t *obs, zmqobs_socket_t *s, void *handle, void **reader_out);

/* Discards whatever a reader has queued (a monitor stopped on the attach
 * thread, before the loop ever saw the reader). */
static void discard_queued (void *reader)
{
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init (&part);
        int rc = zmq_msg_recv (&part, reader, ZMQ_DONTWAIT);
        zmq_msg_close (&part);
        if (rc < 0)
            break;
    }
}

static size_t handle_bucket (const void *handle, size_t cap)
{
    uint64_t x = (uint64_t) (uintptr_t) handle;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t) x & (cap - 1);
}

/* libzmq keeps one monitor per socket: a second zmq_socket_monitor
 * silently replaces the first. So the handles being monitored are one
 * table for the whole process, whatever the observer: an attach of a
 * socket another observer monitors fails with EEXIST instead of ending
 * that observer's monitoring. */
static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static zmqobs_socket_t **handles; /* handle_cap buckets, chained */
static size_t handle_cap, handle_count;

/* Claims s->hot.handle for s; -1 with EEXIST (monitored already) or
 * ENOMEM. O(1) amortised: the table doubles. */
static int claim_handle (zmqobs_socket_t *s)
{
    void *handle = s->hot.handle;
    int err = 0;
    pthread_mutex_lock (&handles_lock);
    for (zmqobs_socket_t *o = handle_cap ? handles[handle_bucket (handle, handle_cap)] : NULL;
         o && !err; o = o->handle_next)
        if (o->hot.handle == handle)
            err = EEXIST;
    if (!err && handle_count + 1 > handle_cap) {
        size_t cap = handle_cap ? handle_cap * 2 : 64;
        zmqobs_socket_t **b = zmqobs__calloc (cap, sizeof *b);
        if (!b)
            err = ENOMEM;
        else {
            for (size_t i = 0; i < handle_cap; i++)
                for (zmqobs_socket_t *o = handles[i], *next; o; o = next) {
                    next = o->handle_next;
                    size_t k = handle_bucket (o->hot.handle, cap);
                    o->handle_next = b[k];
                    b[k] = o;
                }
            zmqobs__free (handles);
            handles = b;
            handle_cap = cap;
        }
    }
    if (!err) {
        size_t k = handle_bucket (handle, handle_cap);
        s->handle_next = handles[k];
        handles[k] = s;
        handle_count++;
        s->handle_claimed = 1;
    }
    pthread_mutex_unlock (&handles_lock);
    if (err)
        errno = err;
    return err ? -1 : 0;
}

static void release_handle (zmqobs_socket_t *s)
{
    if (!s->handle_claimed)
        return;
    pthread_mutex_lock (&handles_lock);
    for (zmqobs_socket_t **pp = &handles[handle_bucket (s->hot.handle, handle_cap)]; *pp;
         pp = &(*pp)->handle_next)
        if (*pp == s) {
            *pp = s->handle_next;
            break;
        }
    s->handle_next = NULL;
    s->handle_claimed = 0;
    if (--handle_count == 0) {
        zmqobs__free (handles); /* nothing is monitored: leave no table behind */
        handles = NULL;
        handle_cap = 0;
    }
    pthread_mutex_unlock (&handles_lock);
}

/* A socket of another libzmq context would bind its monitor endpoint in
 * that context, where our reader never connects: its first event would
 * block the host for ever. So the reader binds a probe name in our
 * context, and libzmq is asked to monitor the host socket on that same
 * name with an empty event mask (which sends nothing, not even on stop):
 * in our context the name is taken (EADDRINUSE, as wanted); if the bind
 * succeeds, the socket lives elsewhere, and the inert monitor is stopped. */
static int check_context (zmqobs_t *obs, void *handle, void *reader, uint64_t seq)
{
    char probe[64];
    snprintf (probe, sizeof probe, "inproc://zmqobs-probe-%p-%llu", (void *) obs,
              (unsigned long long) seq);
    if (zmq_bind (reader, probe) != 0)
        return -1;
    int rc = zmq_socket_monitor (handle, probe, 0);
    int err = errno;
    zmq_unbind (reader, probe);
    if (rc == 0) {
        zmq_socket_monitor (handle, NULL, 0);
        errno = EXDEV;
        return -1;
    }
    if (err == EADDRINUSE)
        return 0;
    errno = err == EFAULT ? ENOTSOCK : err;
    return -1;
}

int zmqobs__monitor_attach (zmqobs_t *obs, zmqobs_socket_t *s)
{
    zmqobs__loop_enter (obs);
    int rc = attach_monitor (obs, s, s->hot.handle);
    int err = errno;
    zmqobs__loop_leave (obs);
    errno = err;
    return rc;
}

/* Does something listen on ep, an endpoint the socket had before attach
 * (ZMQ_LAST_ENDPOINT: the last bind or connect, which libzmq does not
 * tell apart)? A wildcard tcp address comes only from a bind. Otherwise a
 * listener on this host is looked for: a plain bind of the same tcp
 * address fails with EADDRINUSE, an ipc path is a socket file. So a
 * socket that connected before attach to a listener on this same host is
 * taken for a listener too (documented). Other transports (inproc, which
 * sends no monitor events at all) count as a connect whose peers are
 * unknown: nothing can be learnt of them. */
static int has_listener (const char *ep)
{
    if (strncmp (ep, "ipc://", 6) == 0) {
        struct stat st;
        if (ep[6] == '@')
            return 1; /* abstract namespace: no file to look at */
        return stat (ep + 6, &st) == 0 && S_ISSOCK (st.st_mode);
    }
    if (strncmp (ep, "tcp://", 6) != 0)
        return 0;
    const char *host = ep + 6;
    const char *colon = strrchr (host, ':');
    if (!colon || strchr (host, ';'))
        return 0; /* a source address: only a connect has one */
    char addr[64];
    size_t hlen = (size_t) (colon - host);
    if (hlen == 0 || hlen >= sizeof addr)
        return 0;
    memcpy (addr, host, hlen);
    addr[hlen] = '\0';
    if (strcmp (addr, "*") == 0 || strcmp (addr, "0.0.0.0") == 0 || strcmp (addr, "[::]") == 0)
        return 1;
    char *end;
    unsigned long port = strtoul (colon + 1, &end, 10);
    if (*end || port == 0 || port > 65535)
        return 0;
    struct sockaddr_storage ss;
    socklen_t sl;
    memset (&ss, 0, sizeof ss);
    if (addr[0] == '[' && addr[hlen - 1] == ']') {
        addr[hlen - 1] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *) &ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons ((uint16_t) port);
        if (inet_pton (AF_INET6, addr + 1, &a6->sin6_addr) != 1)
            return 0;
        sl = sizeof *a6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *) &ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons ((uint16_t) port);
        if (inet_pton (AF_INET, addr, &a4->sin_addr) != 1)
            return 0; /* a host name: only a connect has one */
        sl = sizeof *a4;
    }
    int fd = socket (ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int one = 1;
    /* with SO_REUSEADDR only a listener (or a bound, unconnected socket)
     * on the address makes the bind fail */
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int listens = bind (fd, (struct sockaddr *) &ss, sl) != 0 && errno == EADDRINUSE;
    close (fd);
    return listens;
}

/* A socket bound or connected before attach sends no LISTENING or
 * CONNECTED for that endpoint: what ZMQ_LAST_ENDPOINT says is counted
 * now, before the reader is in the loop. Owner thread. */
static void seed_endpoint (zmqobs_socket_t *s, void *handle)
{
    char ep[ZMQOBS_ENDPOINT_MAX + 1];
    size_t size = sizeof ep;
    if (zmq_getsockopt (handle, ZMQ_LAST_ENDPOINT, ep, &size) != 0 || size < 2)
        return; /* none yet (libzmq gives "") */
    ep[size < sizeof ep ? size - 1 : sizeof ep - 1] = '\0';
    int errno_saved = errno;
    zmqobs__seed_endpoint (s, ep, strlen (ep), has_listener (ep));
    errno = errno_saved;
}

static int attach_monitor (zmqobs_t *obs, zmqobs_socket_t *s, void *handle)
{
    struct zmqobs_monitor *mon = obs->monitor;
    zmqobs__dl_init (&s->mon_link);
    zmqobs__dl_init (&s->todo_link);
    zmqobs__dl_init (&s->stop_link);
    /* the node outlives s if the reader is orphaned, so adopting it never
     * allocates */
    rnode_t *n = zmqobs__calloc (1, sizeof *n);
    if (!n)
        return -1;
    n->ln.kind = ZMQOBS__N_READER;
    n->fd = -1;
    zmqobs__dl_init (&n->ln.ready);
    zmqobs__dl_init (&n->orphan);
    /* reserve the room first: nothing can fail once the monitor runs.
     * Attaches on other threads reserve too (mon->reserved). */
    if (claim_handle (s) != 0) {
        zmqobs__free (n);
        return -1;
    }
    pthread_mutex_lock (mon->lock);
    int err = mon->obs->loop->terminated ? ETERM : 0;
    if (!err)
        mon->reserved++;
    pthread_mutex_unlock (mon->lock);
    if (err) {
        release_handle (s);
        zmqobs__free (n);
        errno = err;
        return -1;
    }
    void *reader = NULL;
    int rc = start_monitor (obs, s, handle, &reader);
    err = errno;
    if (rc == 0) {
        seed_endpoint (s, handle); /* before the loop can see s */
        STORE (&s->mon.monitor_up, 1);
    }
    int fd = -1;
    if (rc == 0) {
        size_t size = sizeof fd;
        if (zmq_getsockopt (reader, ZMQ_FD, &fd, &size) != 0) {
            /* ETERM: stop the monitor again, the reader still drains it
             * while the term closes it below */
            err = errno;
            rc = -1;
            zmq_socket_monitor (handle, NULL, 0);
            zmq_close (reader);
        }
    }
    pthread_mutex_lock (mon->lock);
    mon->reserved--;
    if (rc == 0 && mon->obs->loop->terminated) {
        /* the context went away meanwhile and every reader was closed:
         * so is this one (libzmq's sends fail with ETERM now) */
        zmq_close (reader);
        rc = -1;
        err = ETERM;
    }
    if (rc == 0) {
        n->reader = reader;
        n->fd = fd;
        n->s = s;
        s->node = n;
        s->reader = reader;
        STORE (&s->monitor_state, MS_ACTIVE);
        if (zmqobs__loop_watch (obs, &n->ln, fd) != 0) {
            /* (cannot happen for a fresh descriptor short of kernel
             * memory) the loop cannot watch it: undo, the monitor is
             * stopped while this thread still reads it */
            err = errno;
            rc = -1;
            zmq_socket_monitor (handle, NULL, 0);
            discard_queued (reader);
            zmq_close (reader);
            s->node = NULL;
            s->reader = NULL;
            STORE (&s->monitor_state, MS_NONE);
        } else {
            zmqobs__dl_push (&mon->all, &s->mon_link);
            mon->count++;
            /* the loop looks at the new reader once: events may be
             * queued already */
            zmqobs__dl_push (&mon->todo, &s->todo_link);
        }
    }
    pthread_mutex_unlock (mon->lock);
    if (rc == 0)
        zmqobs__loop_wake (obs);
    else {
        release_handle (s);
        zmqobs__free (n);
    }
    errno = err;
    return rc;
}

/* Starts the monitor and connects its reader; -1 with errno on failure,
 * the host socket as it was. */
static int start_monitor (zmqobs_t *obs, zmqobs_socket_t *s, void *handle, void **reader_out)
{
    /* unique in the process: libzmq releases inproc names asynchronously,
     * so a name is never reused, not even by a new observer that got the
     * address of one just destroyed */
    static uint64_t attach_seq;
    uint64_t seq = ADD (&attach_seq, 1) + 1;
    snprintf (s->monitor_endpoint, sizeof s->monitor_endpoint, "inproc://zmqobs-monitor-%p-%llu",
              (void *) obs, (unsigned long long) seq);

    void *reader = zmq_socket (obs->ctx, ZMQ_PAIR);
    if (!reader)
        return -1; /* ETERM, EMFILE */
    int zero = 0;
    /* unlimited: the monitor socket never blocks libzmq's I/O thread */
    zmq_setsockopt (reader, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt (reader, ZMQ_LINGER, &zero, sizeof zero);
    if (check_context (obs, handle, reader, seq) != 0) {
        int err = errno;
        zmq_close (reader);
        errno = err;
        return -1;
    }
    /* Bind first: zmq_socket_monitor binds the endpoint, then the reader
     * connects. The other order (inproc allows connecting first) leaves
     * the reader's connect pending until the bind; if zmq_ctx_term starts
     * in between, libzmq never resolves it and can never reap the reader,
     * so the term hangs for ever. In the short window before the connect,
     * nothing can block on the unread monitor for long: the host's own
     * bind and connect cannot run (this is the socket's owner thread,
     * inside attach), and an event from libzmq's I/O thread waits only
     * until the connect below. */
    uint32_t mask = (obs->events | ZMQ_EVENT_MONITOR_STOPPED) & ZMQ_EVENT_ALL;
    if (zmq_socket_monitor (handle, s->monitor_endpoint, (int) mask) != 0) {
        int err = errno;
        /* (the reader has not connected: nothing is pending in the
         * context, closing it frees it) */
        zmq_close (reader);
        errno = err == EFAULT ? ENOTSOCK : err;
        return -1;
    }
    if (zmq_connect (reader, s->monitor_endpoint) != 0) {
        /* ETERM (the context is going away): the monitor socket is
         * closed with the context; stopping it here would block on its
         * MONITOR_STOPPED with no reader */
        int err = errno;
        zmq_close (reader);
        errno = err;
        return -1;
    }
    *reader_out = reader;
    return 0;
}

/* Forgets s: off every list of the monitor. mon->lock held; s is done. */
static void forget_locked (struct zmqobs_monitor *mon, zmqobs_socket_t *s)
{
    if (zmqobs__dl_linked (&s->mon_link)) {
        zmqobs__dl_remove (&s->mon_link);
        mon->count--;
    }
    zmqobs__dl_remove (&s->todo_link);
    zmqobs__dl_remove (&s->stop_link);
    release_handle (s);
    /* (s is not mon->serving: its owner waits while a request is taken) */
    if (s->node) {
        /* a node is freed only here, after its reader was closed (or by
         * bury when orphaned): the loop never holds it past a turn */
        zmqobs__free (s->node);
        s->node = NULL;
    }
}

/* Stops the host socket's monitor unless the context is going away; then
 * the host may already have closed the socket, so it is not touched.
 * Returns 1 if the host closed the socket (its reader must become an
 * orphan), else 0.
 * mon->lock held: while it is, the loop cannot close the readers, so
 * zmq_ctx_term cannot complete and the context stays valid for the probe.
 * The stop cannot block: the reader's pipe has no high-water mark. */
static int stop_monitor_locked (zmqobs_t *obs, zmqobs_socket_t *s)
{
    struct zmqobs_monitor *mon = obs->monitor;
    if (mon->obs->loop->terminated || !s->reader || LOAD (&s->monitor_state) != MS_ACTIVE)
        return 0;
    /* A socket the host closed before detaching (a misuse the header
     * documents) has a dead tag until libzmq's reaper frees it; the reaper
     * stops its monitor itself and MONITOR_STOPPED reaches the reader, so
     * the handle is not touched again. This comes first: the probe below
     * wakes the reaper, which could free the closed socket meanwhile. It
     * narrows the misuse to the instant between the free and that event's
     * arrival; it cannot close it: libzmq has no way to hold a socket. */
    int type;
    size_t size = sizeof type;
    if (zmq_getsockopt (s->hot.handle, ZMQ_TYPE, &type, &size) != 0)
        /* ETERM: the context is going away, ETERM on the reader closes it
         * as it does every reader; otherwise (ENOTSOCK) the host closed the
         * socket, and its monitor runs until libzmq frees it */
        return errno == ETERM ? 0 : 1;
    void *probe = zmq_socket (obs->ctx, ZMQ_PAIR);
    if (!probe) {
        if (errno == ETERM)
            return 0; /* the loop (or zmqobs_process) sees ETERM too */
    } else
        zmq_close (probe);
    zmq_socket_monitor (s->hot.handle, NULL, 0);
    return 0;
}

/* Host-driven: takes what s's reader has queued, on the polling thread
 * with mon->lock held, as the loop's serve_request does in threaded mode
 * (and cut off after as many messages). ETERM closes every reader. */
static void predrain_here_locked (zmqobs_t *obs, zmqobs_socket_t *s)
{
    for (int k = 0;
         k < PREDRAIN_BATCHES * BATCH && s->reader && LOAD (&s->monitor_state) == MS_ACTIVE; k++) {
        int got = zmqobs__monitor_recv (obs, s, s->reader);
        if (got < 0 && errno == ETERM)
            zmqobs__terminate_locked (obs->monitor);
        if (got <= 0)
            return;
    }
    /* cut off with messages left: the reads consumed the reader's edge,
     * so the loop must look at it again without one */
    if (s->node && s->reader && LOAD (&s->monitor_state) == MS_ACTIVE) {
        zmqobs__loop_ready (obs, &s->node->ln);
        zmqobs__loop_wake (obs);
    }
}

/* Host-driven detach: this thread is the draining thread. */
static void detach_here (zmqobs_t *obs, zmqobs_socket_t *s)
{
    struct zmqobs_monitor *mon = obs->monitor;
    zmqobs__loop_enter (obs);
    pthread_mutex_lock (mon->lock);
    /* what is queued first: a MONITOR_STOPPED from libzmq's reaper means
     * the host closed the socket too early, and it must not be touched */
    predrain_here_locked (obs, s);
    if (s->reader && LOAD (&s->monitor_state) == MS_ACTIVE) {
        if (stop_monitor_locked (obs, s)) {
            zmqobs__adopt_locked (mon, s);
            zmqobs__loop_wake (obs); /* the orphan is on the ready list */
        } else
            /* asked for: its MONITOR_STOPPED is not "unasked" */
            STORE (&s->monitor_state, MS_STOPPING);
    }
    if (s->reader && LOAD (&s->monitor_state) == MS_STOPPING) {
        /* everything up to MONITOR_STOPPED is in the pipe already; when
         * the context is terminating, ETERM ends the wait */
        uint64_t deadline = zmqobs__now_ns () + STOP_WAIT_NS;
        while (s->reader && LOAD (&s->monitor_state) == MS_STOPPING) {
            int got = zmqobs__monitor_recv (obs, s, s->reader);
            if (got < 0) {
                if (errno == ETERM)
                    zmqobs__terminate_locked (mon);
                break;
            }
            if (got > 0)
                continue;
            uint64_t now = zmqobs__now_ns ();
            if (now >= deadline)
                break;
            zmq_pollitem_t item = {.socket = s->reader, .events = ZMQ_POLLIN};
            if (zmq_poll (&item, 1, (long) ((deadline - now) / 1000000u) + 1) < 0
                && errno == ETERM) {
                zmqobs__terminate_locked (mon);
                break;
            }
        }
    }
    zmqobs__close_reader (mon, s);
    STORE (&s->monitor_state, MS_DONE);
    forget_locked (mon, s);
    pthread_mutex_unlock (mon->lock);
    zmqobs__loop_leave (obs);
}

void zmqobs__monitor_detach (zmqobs_t *obs, zmqobs_socket_t *s)
{
    struct zmqobs_monitor *mon = obs->monitor;
    if (obs->host_driven) {
        detach_here (obs, s);
        return;
    }
    pthread_mutex_lock (mon->lock);
    /* first let the loop take what is queued on this reader: a
     * MONITOR_STOPPED sent by libzmq's reaper for a socket the host closed
     * too early may be there, and then the handle must not be touched */
    request_locked (obs, s, OP_DRAIN, NULL, 0);
    /* stop while the loop keeps draining: libzmq writes MONITOR_STOPPED
     * and closes its side */
    int state = LOAD (&s->monitor_state);
    int closed = stop_monitor_locked (obs, s);
    if (state != MS_DONE && zmqobs__dl_linked (&s->mon_link)) {
        /* Only the loop closes a reader it may be watching: it waits for
         * MONITOR_STOPPED, ETERM or the deadline, or adopts the reader of
         * a socket the host closed. */
        s->stop_deadline_ns = zmqobs__now_ns () + STOP_WAIT_NS;
        STORE (&s->monitor_state, closed ? MS_ORPHAN : MS_STOPPING);
        if (!zmqobs__dl_linked (&s->todo_link))
            zmqobs__dl_push (&mon->todo, &s->todo_link);
        zmqobs__loop_wake (obs);
        while (LOAD (&s->monitor_state) != MS_DONE)
            pthread_cond_wait (mon->cond, mon->lock);
    }
    forget_locked (mon, s);
    pthread_mutex_unlock (mon->lock);
}

/* Makes the loop serve a request on s (threaded mode), or serves it here
 * when nobody drains s (its monitor is done, the context terminated).
 * mon->lock held; released while waiting. */
static void request_locked (zmqobs_t *obs, zmqobs_socket_t *s, int op, const char *ep,
                            uint16_t port)
{
    struct zmqobs_monitor *mon = obs->monitor;
    s->req_op = op;
    s->req_ep = ep;
    s->req_port = port;
    if (mon->obs->loop->has_thread && !mon->obs->loop->terminated
        && LOAD (&s->monitor_state) == MS_ACTIVE) {
        s->req_state = REQ_ASKED;
        if (!zmqobs__dl_linked (&s->todo_link))
            zmqobs__dl_push (&mon->todo, &s->todo_link);
        zmqobs__loop_wake (obs);
        while (s->req_state == REQ_ASKED && !mon->obs->loop->terminated
               && LOAD (&s->monitor_state) == MS_ACTIVE)
            pthread_cond_wait (mon->cond, mon->lock);
        while (s->req_state == REQ_TAKEN)
            pthread_cond_wait (mon->cond, mon->lock);
        if (s->req_state == REQ_NONE)
            return;              /* served by the loop */
        s->req_state = REQ_NONE; /* not taken, and now nobody drains s */
        zmqobs__dl_remove (&s->todo_link);
    } else if (!mon->obs->loop->has_thread)
        predrain_here_locked (obs, s); /* host-driven: the polling thread */
    zmqobs__apply_request (s);
}

/* zmqobs_disconnect, zmqobs_unbind, zmqobs_connect. A close goes to libzmq
 * first and then takes the endpoint's peers off; an open is marked first,
 * so that the new session's first events already count. */
static int endpoint_call (zmqobs_socket_t *s, const char *endpoint, int op, int unbind)
{
    if (!s) {
        errno = ENOTSOCK;
        return -1;
    }
    if (!endpoint) {
        errno = EINVAL;
        return -1;
    }
    if (zmqobs__in_callback (s->obs)) {
        errno = EDEADLK;
        return -1;
    }
    zmqobs_t *obs = s->obs;
    struct zmqobs_monitor *mon = obs->monitor;
    int rc = 0;
    if (op == OP_CLOSE)
        rc = unbind ? zmq_unbind (s->hot.handle, endpoint)
                    : zmq_disconnect (s->hot.handle, endpoint);
    if (rc != 0)
        return -1;
    int err = errno;
    uint16_t port = unbind ? zmqobs__wildcard_port (endpoint, strlen (endpoint)) : 0;
    zmqobs__loop_enter (obs);
    pthread_mutex_lock (mon->lock);
    request_locked (obs, s, op, endpoint, port);
    pthread_mutex_unlock (mon->lock);
    zmqobs__loop_leave (obs);
    if (op == OP_OPEN)
        return zmq_connect (s->hot.handle, endpoint);
    errno = err;
    return 0;
}

int zmqobs_disconnect (zmqobs_socket_t *s, const char *endpoint)
{
    return endpoint_call (s, endpoint, OP_CLOSE, 0);
}

int zmqobs_unbind (zmqobs_socket_t *s, const char *endpoint)
{
    return endpoint_call (s, endpoint, OP_CLOSE, 1);
}

int zmqobs_connect (zmqobs_socket_t *s, const char *endpoint)
{
    return endpoint_call (s, endpoint, OP_OPEN, 0);
}

int zmqobs__monitor_init (zmqobs_t *obs)
{
    struct zmqobs_monitor *mon = zmqobs__calloc (1, sizeof *mon);
    if (!mon)
        return -1;
    mon->obs = obs;
    zmqobs__dl_init (&mon->all);
    zmqobs__dl_init (&mon->todo);
    zmqobs__dl_init (&mon->stopping);
    zmqobs__dl_init (&mon->orphans);
    obs->monitor = mon;
    /* the loop's thread starts turning at once: the monitor is ready */
    if (zmqobs__loop_init (obs, &zmqobs__reader_hooks) != 0) {
        int err = errno;
        obs->monitor = NULL;
        zmqobs__free (mon);
        errno = err;
        return -1;
    }
    mon->lock = &obs->loop->lock;
    mon->cond = &obs->loop->cond;
    return 0;
}

void zmqobs__monitor_fini (zmqobs_t *obs)
{
    struct zmqobs_monitor *mon = obs ? obs->monitor : NULL;
    if (!mon)
        return;
    zmqobs__loop_stop (obs);
    /* every socket was detached first; close anything left regardless */
    for (zmqobs_dlink_t *l = mon->all.next; l != &mon->all; l = l->next)
        zmqobs__close_reader (mon, ZMQOBS__CONTAINER (l, zmqobs_socket_t, mon_link));
    zmqobs__rehome_orphans (mon);
    zmqobs__free (mon);
    obs->monitor = NULL;
    zmqobs__loop_free (obs);
}
