/*
 * reader.c - the reading side of the monitors: decoding what each reader
 * receives into the socket's metrics, the loop's hooks (draining ready
 * readers, taking in the owner threads' changes, serving their requests),
 * the safe end of a reader (closed only after MONITOR_STOPPED, ETERM or a
 * stop), and orphans.
 *
 * The converse of the safe stop is fatal: libzmq sends monitor events
 * blocking, so once a reader is closed while its socket's monitor still
 * runs, the next event wedges libzmq's I/O thread for good. A socket the
 * host closed before detaching (a misuse) cannot be stopped, and libzmq
 * may keep it alive for as long as it lingers: its reader becomes an
 * orphan, drained and discarded until that socket's MONITOR_STOPPED or
 * ETERM, by the loop, or after zmqobs_destroy by a small detached thread
 * of its own.
 *
 * SPDX-License-Identifier: MIT
 */
#include "reader.h"

#include "accounting.h"
#include "eventlog.h"

#include <string.h>

#define BATCH 512           /* messages per reader per loop turn */
#define PREDRAIN_BATCHES 64 /* before a detach or request: a storm is cut off */

/* drain_node: an orphan's monitor stopped (the hook buries it) */
enum { D_BURY = ZMQOBS__D_TERM + 1 };

/* Orphans still open when the observer goes away: a detached thread
 * drains them until their sockets' MONITOR_STOPPED or ETERM, so that
 * neither zmqobs_destroy nor libzmq's I/O thread waits on a socket the
 * host closed too early and libzmq keeps lingering. */
typedef struct {
    size_t n;
    zmq_pollitem_t items[];
} orphanage_t;

static int orphanages; /* threads still draining orphans (for tests) */

/* Receives the first part of a monitor message without waiting: 1, or 0
 * when none is pending, or -1 with errno (ETERM); on 0 and -1 the part is
 * closed already. */
static int recv_first (zmq_msg_t *part, void *sock)
{
    zmq_msg_init (part);
    if (zmq_msg_recv (part, sock, ZMQ_DONTWAIT) >= 0)
        return 1;
    int err = errno;
    zmq_msg_close (part);
    if (err == EAGAIN)
        return 0;
    errno = err;
    return -1;
}

/* Discards what is left of a message after a part with the more flag;
 * returns how many parts that was. The parts of a message arrive
 * together: no waiting here. */
static int skip_rest (void *sock, int more)
{
    int n = 0;
    for (; more; n++) {
        zmq_msg_t extra;
        zmq_msg_init (&extra);
        more = zmq_msg_recv (&extra, sock, ZMQ_DONTWAIT) >= 0 && zmq_msg_more (&extra);
        zmq_msg_close (&extra);
    }
    return n;
}

/* Reads one monitor message of an orphan reader and discards it: its
 * socket's metrics are gone. Returns 2 for MONITOR_STOPPED, 1 for another
 * message, 0 when none is pending, -1 with errno on error (ETERM). */
static int orphan_recv (void *reader)
{
    zmq_msg_t part;
    int rc = recv_first (&part, reader);
    if (rc <= 0)
        return rc;
    uint16_t event = 0;
    if (zmq_msg_size (&part) == 6)
        memcpy (&event, zmq_msg_data (&part), sizeof event);
    int more = zmq_msg_more (&part);
    zmq_msg_close (&part);
    skip_rest (reader, more);
    return event == ZMQ_EVENT_MONITOR_STOPPED ? 2 : 1;
}

/* Drains up to BATCH messages of an orphan reader (the orphanage thread,
 * which polls with zmq_poll). Returns 1 once its socket's monitor stopped
 * (the reader may be closed), 0 when it must be drained again later, -1
 * with errno on error (ETERM). */
static int drain_orphan (void *reader)
{
    for (int n = 0; n < BATCH; n++) {
        int rc = orphan_recv (reader);
        if (rc <= 0)
            return rc;
        if (rc == 2)
            return 1;
    }
    return 0;
}

/* Takes a reader out of the epoll set and the ready list, then closes it.
 * Draining thread (or mon->lock held in host-driven mode). */
static void close_node_reader (struct zmqobs_monitor *mon, rnode_t *n)
{
    if (!n->reader)
        return;
    zmqobs__loop_unwatch (mon->obs, &n->ln, n->fd);
    zmq_close (n->reader);
    n->reader = NULL;
    n->fd = -1;
}

void zmqobs__close_reader (struct zmqobs_monitor *mon, zmqobs_socket_t *s)
{
    if (s->node)
        close_node_reader (mon, s->node);
    s->reader = NULL;
}

/* Marks s done and wakes its detach; mon->lock held. */
void zmqobs__finish_locked (struct zmqobs_monitor *mon, zmqobs_socket_t *s)
{
    /* done while active: nobody here asked for it (a detach stops first) */
    if (s->monitor_state == MS_ACTIVE)
        STORE (&s->mon.monitor_up, 0);
    zmqobs__close_reader (mon, s);
    zmqobs__dl_remove (&s->stop_link);
    zmqobs__dl_remove (&s->todo_link);
    STORE (&s->monitor_state, MS_DONE);
    pthread_cond_broadcast (mon->cond);
}

/* MONITOR_STOPPED on s's own reader: no event follows, so the reader is
 * closed at once, whoever stopped the monitor. Besides detach, that is
 * zmq_ctx_term (libzmq stops every monitor when the context shuts down,
 * and the context cannot finish while a reader is open) or the host
 * monitoring the socket itself. Once s is done its detach may free it at
 * once, so the caller must not touch s (nor its node) again. */
static void saw_stopped (zmqobs_t *obs, zmqobs_socket_t *s)
{
    struct zmqobs_monitor *mon = obs->monitor;
    int own = !obs->host_driven;
    if (own)
        pthread_mutex_lock (mon->lock);
    int state = LOAD (&s->monitor_state);
    if (state == MS_ACTIVE) {
        /* not asked for: if the context is going away, close every
         * reader now. It is still alive: this reader is still open. */
        void *probe = zmq_socket (obs->ctx, ZMQ_PAIR);
        if (probe)
            zmq_close (probe);
        else if (errno == ETERM)
            zmqobs__terminate_locked (mon);
    }
    if (state == MS_ACTIVE || state == MS_STOPPING || state == MS_ORPHAN)
        zmqobs__finish_locked (mon, s);
    if (own)
        pthread_mutex_unlock (mon->lock);
}

int zmqobs__monitor_recv (zmqobs_t *obs, zmqobs_socket_t *s, void *sock)
{
    zmq_msg_t part1, part2;
    int rc = recv_first (&part1, sock);
    if (rc <= 0)
        return rc;
    int parts = 1;
    zmq_msg_init (&part2);
    if (zmq_msg_more (&part1) && zmq_msg_recv (&part2, sock, ZMQ_DONTWAIT) >= 0)
        parts = 2 + skip_rest (sock, zmq_msg_more (&part2));
    zmqobs_event_t ev;
    int ok = parts == 2
             && zmqobs_event_decode (zmq_msg_data (&part1), zmq_msg_size (&part1),
                                     zmq_msg_data (&part2), zmq_msg_size (&part2), &ev)
                    == 0;
    zmq_msg_close (&part1);
    zmq_msg_close (&part2);
    if (!ok) {
        BUMP (&s->mon.malformed, 1);
        return 1;
    }
    int named = zmqobs__event_names_peer (s, &ev);
    zmqobs__apply_event (s, &ev);
    zmqobs__emit (obs, s, &ev, named);
    if (ev.event == ZMQ_EVENT_MONITOR_STOPPED && sock == s->reader) {
        saw_stopped (obs, s);
        return 2;
    }
    return 1;
}

/* Does the reader have a message? Reading ZMQ_EVENTS also lets libzmq
 * process its commands, which re-arms the edge-triggered ZMQ_FD. 1, 0,
 * or -1 with errno (ETERM). */
static int has_input (void *reader)
{
    int events = 0;
    size_t size = sizeof events;
    if (zmq_getsockopt (reader, ZMQ_EVENTS, &events, &size) != 0)
        return -1;
    return (events & ZMQ_POLLIN) != 0;
}

/* Drains up to budget messages of one reader node (a socket's, or an
 * orphan's), adding the events handled to *events. Draining thread. */
static int drain_node (zmqobs_t *obs, rnode_t *n, int budget, int *events)
{
    int got = 0;
    while (got < budget) {
        void *reader = n->reader;
        if (!reader)
            return ZMQOBS__D_GONE;
        zmqobs_socket_t *s = n->s;
        int rc;
        if (s) {
            int state = LOAD (&s->monitor_state);
            if (state != MS_ACTIVE && state != MS_STOPPING && state != MS_ORPHAN)
                return ZMQOBS__D_GONE;
            rc = zmqobs__monitor_recv (obs, s, reader);
        } else
            rc = orphan_recv (reader);
        if (rc == 0) {
            rc = has_input (reader);
            if (rc == 0)
                return ZMQOBS__D_IDLE;
            if (rc > 0)
                continue;
        }
        if (rc < 0)
            /* EINTR: look again next turn (the edge may be consumed) */
            return errno == ETERM   ? ZMQOBS__D_TERM
                   : errno == EINTR ? ZMQOBS__D_MORE
                                    : ZMQOBS__D_IDLE;
        got++;
        if (s)
            (*events)++;
        if (rc == 2)
            /* stopped: s and n may be freed already, and after ETERM
             * every reader is closed; an orphan's node is the caller's */
            return s ? ZMQOBS__D_GONE : D_BURY;
    }
    return ZMQOBS__D_MORE;
}

/* Closes every reader at once so zmq_ctx_term can complete; from now on
 * no host socket is touched (the host may have closed them). mon->lock
 * held, on the draining thread. */
void zmqobs__terminate_locked (struct zmqobs_monitor *mon)
{
    mon->obs->loop->terminated = 1;
    /* (the loop forgets its ready list; every reader on it is closed) */
    for (zmqobs_dlink_t *l = mon->all.next; l != &mon->all; l = l->next) {
        zmqobs_socket_t *s = ZMQOBS__CONTAINER (l, zmqobs_socket_t, mon_link);
        if (s->monitor_state != MS_DONE)
            zmqobs__finish_locked (mon, s);
    }
    while (!zmqobs__dl_empty (&mon->orphans)) {
        rnode_t *n = ZMQOBS__CONTAINER (mon->orphans.next, rnode_t, orphan);
        zmqobs__dl_remove (&n->orphan);
        close_node_reader (mon, n);
        zmqobs__free (n);
        mon->norphans--;
    }
}

/* Moves s's reader to the orphans; s is done. mon->lock held, on the
 * draining thread. The node was allocated with the socket, so adopting
 * never allocates. */
void zmqobs__adopt_locked (struct zmqobs_monitor *mon, zmqobs_socket_t *s)
{
    rnode_t *n = s->node;
    if (n && n->reader) {
        n->s = NULL;
        zmqobs__dl_push (&mon->orphans, &n->orphan);
        mon->norphans++;
        zmqobs__loop_ready (mon->obs, &n->ln); /* what is queued may be its MONITOR_STOPPED */
        s->node = NULL;
        s->reader = NULL;
    }
    zmqobs__finish_locked (mon, s);
}

/* An orphan reader whose monitor stopped: closed and forgotten. mon->lock
 * held (or the host-driven caller's thread). */
static void bury_locked (struct zmqobs_monitor *mon, rnode_t *n)
{
    zmqobs__dl_remove (&n->orphan);
    mon->norphans--;
    close_node_reader (mon, n);
    zmqobs__free (n);
}

/* Takes in what the owner threads changed (new readers, requests, stops,
 * orphans) and settles stops that are due; returns the poll timeout the
 * stops allow (-1 for none). Costs what changed, never what is attached.
 * mon->lock held, on the draining thread. */
static long prepare_locked (zmqobs_t *obs)
{
    struct zmqobs_monitor *mon = obs->monitor;
    zmqobs_dlink_t *l = mon->todo.next;
    while (l != &mon->todo) {
        zmqobs_socket_t *s = ZMQOBS__CONTAINER (l, zmqobs_socket_t, todo_link);
        l = l->next;
        int state = s->monitor_state;
        if (s->req_state == REQ_ASKED && !mon->obs->loop->terminated && state == MS_ACTIVE) {
            if (mon->serving)
                continue; /* one request at a time: this one waits */
            s->req_state = REQ_TAKEN;
            mon->serving = s;
        }
        zmqobs__dl_remove (&s->todo_link);
        if (s->node && s->node->reader)
            zmqobs__loop_ready (mon->obs, &s->node->ln); /* new, or asked for: look at it */
        if (state == MS_ORPHAN)
            zmqobs__adopt_locked (mon, s);
        else if (state == MS_STOPPING && !zmqobs__dl_linked (&s->stop_link))
            zmqobs__dl_push (&mon->stopping, &s->stop_link);
    }
    long timeout = -1;
    uint64_t now = 0;
    l = mon->stopping.next;
    while (l != &mon->stopping) {
        zmqobs_socket_t *s = ZMQOBS__CONTAINER (l, zmqobs_socket_t, stop_link);
        l = l->next;
        if (!now)
            now = zmqobs__now_ns ();
        if (now >= s->stop_deadline_ns || !s->reader)
            zmqobs__finish_locked (mon, s);
        else {
            long ms = (long) ((s->stop_deadline_ns - now) / 1000000u) + 1;
            if (timeout < 0 || ms < timeout)
                timeout = ms;
        }
    }
    return timeout;
}

/* What a request does once the events queued before it are counted.
 * Draining thread (or nobody drains s). */
void zmqobs__apply_request (zmqobs_socket_t *s)
{
    if (s->req_op == OP_CLOSE || s->req_op == OP_OPEN)
        zmqobs__mark_endpoint (&s->mon, s->req_ep, strlen (s->req_ep), s->req_port,
                               s->req_op == OP_CLOSE);
}

/* The loop's serve hook: serves the request prepare took, first what the
 * socket's monitor has queued (a storm is cut off after PREDRAIN_BATCHES),
 * then the request itself. The socket is alive: its owner waits for this.
 * Returns 1 when one was served, 0 for none, -1 for ETERM (the loop then
 * closes every reader). */
static int serve_hook (zmqobs_t *obs)
{
    struct zmqobs_monitor *mon = obs->monitor;
    int own = !obs->host_driven;
    zmqobs_socket_t *t = mon->serving;
    if (!t)
        return 0;
    mon->serving = NULL;
    int term = 0, events = 0;
    rnode_t *n = t->node;
    if (n && LOAD (&t->monitor_state) == MS_ACTIVE) {
        int rc = drain_node (obs, n, PREDRAIN_BATCHES * BATCH, &events);
        if (rc == ZMQOBS__D_TERM)
            term = 1;
        else if (rc == ZMQOBS__D_IDLE)
            zmqobs__dl_remove (&n->ln.ready);
        else if (rc == ZMQOBS__D_MORE)
            zmqobs__loop_ready (obs, &n->ln);
    }
    if (own)
        pthread_mutex_lock (mon->lock);
    zmqobs__apply_request (t);
    t->req_state = REQ_NONE;
    pthread_cond_broadcast (mon->cond);
    if (own)
        pthread_mutex_unlock (mon->lock);
    return term ? -1 : 1;
}

static int busy_hook (zmqobs_t *obs)
{
    return obs->monitor->serving != NULL;
}

/* The loop's drain hook: a reader node; an orphan whose monitor stopped
 * is buried here. */
static int drain_hook (zmqobs_t *obs, zmqobs_loop_node_t *ln, int budget, int *events)
{
    rnode_t *n = (rnode_t *) (void *) ln;
    int rc = drain_node (obs, n, budget, events);
    if (rc == D_BURY) {
        struct zmqobs_monitor *mon = obs->monitor;
        int own = !obs->host_driven;
        if (own)
            pthread_mutex_lock (mon->lock);
        bury_locked (mon, n);
        if (own)
            pthread_mutex_unlock (mon->lock);
        rc = ZMQOBS__D_GONE;
    }
    return rc;
}

static void terminate_hook (zmqobs_t *obs)
{
    zmqobs__terminate_locked (obs->monitor);
}

/* The loop's due_ms hook (host-driven zmqobs_timeout_ms): 0 while changes
 * or a request wait, else until the nearest stop deadline. Lock held. */
static long due_hook (zmqobs_t *obs)
{
    struct zmqobs_monitor *mon = obs->monitor;
    if (!zmqobs__dl_empty (&mon->todo) || mon->serving)
        return 0;
    long t = -1;
    uint64_t now = 0;
    for (zmqobs_dlink_t *l = mon->stopping.next; l != &mon->stopping; l = l->next) {
        zmqobs_socket_t *s = ZMQOBS__CONTAINER (l, zmqobs_socket_t, stop_link);
        if (!now)
            now = zmqobs__now_ns ();
        long ms =
            now >= s->stop_deadline_ns ? 0 : (long) ((s->stop_deadline_ns - now) / 1000000u) + 1;
        if (t < 0 || ms < t)
            t = ms;
    }
    return t;
}

const zmqobs_loop_hooks_t zmqobs__reader_hooks = {
    .prepare = prepare_locked,
    .serve = serve_hook,
    .busy = busy_hook,
    .due_ms = due_hook,
    .drain = drain_hook,
    .terminate = terminate_hook,
};

size_t zmqobs__orphan_count (zmqobs_t *obs)
{
    struct zmqobs_monitor *mon = obs->monitor;
    pthread_mutex_lock (mon->lock);
    size_t n = mon->norphans;
    pthread_mutex_unlock (mon->lock);
    return n;
}

int zmqobs__orphanages (void)
{
    return __atomic_load_n (&orphanages, __ATOMIC_ACQUIRE);
}

static void *orphanage (void *arg)
{
    orphanage_t *o = arg;
    while (o->n > 0) {
        int rc = zmq_poll (o->items, (int) o->n, -1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            break; /* ETERM: the context is going away, close them all */
        for (size_t i = 0; i < o->n;) {
            if ((o->items[i].revents & (ZMQ_POLLIN | ZMQ_POLLERR))
                && drain_orphan (o->items[i].socket) != 0) {
                zmq_close (o->items[i].socket);
                o->items[i] = o->items[--o->n];
            } else
                i++;
        }
    }
    for (size_t i = 0; i < o->n; i++)
        zmq_close (o->items[i].socket);
    zmqobs__free (o);
    __atomic_sub_fetch (&orphanages, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Hands the remaining orphans to their own thread; mon->lock not needed
 * (the loop has stopped). */
void zmqobs__rehome_orphans (struct zmqobs_monitor *mon)
{
    if (mon->norphans == 0)
        return;
    orphanage_t *o = zmqobs__malloc (sizeof *o + mon->norphans * sizeof o->items[0]);
    int started = 0;
    if (o) {
        o->n = 0;
        for (zmqobs_dlink_t *l = mon->orphans.next; l != &mon->orphans; l = l->next) {
            rnode_t *n = ZMQOBS__CONTAINER (l, rnode_t, orphan);
            o->items[o->n++] = (zmq_pollitem_t) {.socket = n->reader, .events = ZMQ_POLLIN};
        }
        pthread_attr_t attr;
        pthread_t thread;
        pthread_attr_init (&attr);
        pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
        __atomic_add_fetch (&orphanages, 1, __ATOMIC_RELEASE);
        started = pthread_create (&thread, &attr, orphanage, o) == 0;
        pthread_attr_destroy (&attr);
        if (!started) {
            __atomic_sub_fetch (&orphanages, 1, __ATOMIC_RELEASE);
            zmqobs__free (o);
        }
    }
    while (!zmqobs__dl_empty (&mon->orphans)) {
        rnode_t *n = ZMQOBS__CONTAINER (mon->orphans.next, rnode_t, orphan);
        zmqobs__dl_remove (&n->orphan);
        if (!started)
            /* no memory or no thread: the last resort, closing, risks a
             * libzmq I/O thread blocked on that socket's next event */
            zmq_close (n->reader);
        zmqobs__free (n);
    }
    mon->norphans = 0;
}
