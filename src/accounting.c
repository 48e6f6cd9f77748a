/*
 * accounting.c - monitor events into a socket's metrics: per-event
 * counts, the connection gauge kept per endpoint, listeners, reconnects,
 * handshake failures and the last error. A state machine over the
 * socket's monitor block and nothing else: no I/O, no libzmq calls, so it
 * is tested (and could be fuzzed) on its own.
 *
 * SPDX-License-Identifier: MIT
 */
#include "accounting.h"

#include "platform.h"

#include <string.h>

/* The last error; read by snapshots under the same small lock, which no
 * scrape holds for longer than one socket's copy. */
static void note_error (zmqobs_socket_t *s, const zmqobs_event_t *ev)
{
    pthread_mutex_lock (&s->obs->error_lock);
    s->mon.last_error_event = ev->event;
    s->mon.last_error_value = ev->value;
    memcpy (s->mon.last_error_endpoint, ev->endpoint, ev->endpoint_len + 1);
    pthread_mutex_unlock (&s->obs->error_lock);
}

/* FNV-1a of an endpoint, never 0 (0 marks a free slot). */
static uint64_t endpoint_key (const char *ep, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char) ep[i];
        h *= 1099511628211ull;
    }
    return h | 1;
}

/* The port of a tcp:// endpoint, 0 for anything else. */
static uint16_t tcp_port (const char *ep, size_t len)
{
    if (len < 7 || memcmp (ep, "tcp://", 6) != 0)
        return 0;
    size_t i = len;
    while (i > 6 && ep[i - 1] != ':')
        i--;
    if (i <= 6 || i == len || len - i > 5)
        return 0;
    unsigned port = 0;
    for (; i < len; i++) {
        if (ep[i] < '0' || ep[i] > '9')
            return 0;
        port = port * 10 + (unsigned) (ep[i] - '0');
    }
    return port <= 65535 ? (uint16_t) port : 0;
}

/* The port of a tcp:// bind address on every interface ("*", 0.0.0.0,
 * "::"), else 0. Peers accepted there report the local address they came
 * in on, never the wildcard, so unbinding it concerns them all. */
uint16_t zmqobs__wildcard_port (const char *ep, size_t len)
{
    uint16_t port = tcp_port (ep, len);
    if (!port)
        return 0;
    static const char *const any[] = {"*", "0.0.0.0", "[::]", "::", "[*]", "[0:0:0:0:0:0:0:0]"};
    const char *host = ep + 6;
    size_t hlen = (size_t) (zmqobs__memrchr (ep, ':', len) - host);
    for (size_t i = 0; i < sizeof any / sizeof any[0]; i++)
        if (strlen (any[i]) == hlen && memcmp (host, any[i], hlen) == 0)
            return port;
    return 0;
}

#define PEER_MASK (ZMQOBS__PEER_SLOTS - 1)

static unsigned peer_home (uint64_t key)
{
    return (unsigned) (key ^ (key >> 29)) & PEER_MASK;
}

static void peer_release (zmqobs_mon_block_t *m, zmqobs_peer_slot_t *sl);

/* The slot of an endpoint, claimed if insert and absent; NULL when absent
 * (or the table is full of open endpoints). Draining thread. */
static zmqobs_peer_slot_t *peer_slot (zmqobs_mon_block_t *m, const char *ep, size_t len, int insert)
{
    uint64_t key = endpoint_key (ep, len);
    unsigned i = peer_home (key);
    for (unsigned n = 0; n < ZMQOBS__PEER_SLOTS; n++, i = (i + 1) & PEER_MASK) {
        if (m->peers[i].key == key)
            return &m->peers[i];
        if (m->peers[i].key == 0) {
            if (!insert)
                return NULL;
            m->peers[i].key = key;
            m->peers[i].port = tcp_port (ep, len);
            return &m->peers[i];
        }
    }
    if (!insert)
        return NULL;
    /* Full. Endpoints the host closed hold their slot only to ignore
     * their lingering sessions: the one closed longest ago gives way. */
    zmqobs_peer_slot_t *oldest = NULL;
    for (unsigned k = 0; k < ZMQOBS__PEER_SLOTS; k++) {
        zmqobs_peer_slot_t *p = &m->peers[k];
        /* age in closes, wrap-safe */
        if (p->closed && !p->live && !p->failed
            && (!oldest || m->close_seq - p->closed_seq > m->close_seq - oldest->closed_seq))
            oldest = p;
    }
    if (!oldest)
        return NULL;
    oldest->closed = 0;
    peer_release (m, oldest);
    return peer_slot (m, ep, len, 1);
}

/* Frees a slot with nothing left to count, shifting later slots of its
 * probe run back (linear probing has no other way to delete), so that
 * endpoints come and go for ever in a fixed table. */
static void peer_release (zmqobs_mon_block_t *m, zmqobs_peer_slot_t *sl)
{
    if (sl->live || sl->failed || sl->closed || sl->listeners)
        return;
    unsigned hole = (unsigned) (sl - m->peers), j = hole;
    for (unsigned n = 1; n < ZMQOBS__PEER_SLOTS; n++) {
        j = (j + 1) & PEER_MASK;
        if (m->peers[j].key == 0)
            break;
        unsigned home = peer_home (m->peers[j].key);
        /* the entry at j may fill the hole unless its home lies
         * cyclically in (hole, j] */
        int stays = hole < j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (stays)
            continue;
        m->peers[hole] = m->peers[j];
        hole = j;
    }
    memset (&m->peers[hole], 0, sizeof m->peers[hole]);
}

static void count_down (uint64_t *p)
{
    if (LOAD (p) > 0)
        BUMP (p, (uint64_t) -1);
}

/* A peer whose handshake succeeded (or a raw STREAM peer) joins the gauge. */
static void peer_up (zmqobs_mon_block_t *m, zmqobs_peer_slot_t *sl)
{
    BUMP (&m->connections, 1);
    if (sl)
        sl->live++;
    else
        m->untracked_live++;
}

/* A DISCONNECTED: it settles the endpoint's failed handshakes first (an
 * engine whose handshake failed was never counted), then its live peers.
 * Nothing is left after the host closed the endpoint: that DISCONNECTED
 * belongs to a peer already taken off. */
static void peer_down (zmqobs_mon_block_t *m, zmqobs_peer_slot_t *sl)
{
    uint32_t *failed = NULL, *live = NULL;
    uint64_t *ufailed = NULL, *ulive = NULL;
    if (sl) {
        failed = sl->failed ? &sl->failed : NULL;
        live = sl->live ? &sl->live : NULL;
    } else {
        ufailed = m->untracked_failed ? &m->untracked_failed : NULL;
        ulive = m->untracked_live ? &m->untracked_live : NULL;
    }
    if (failed || ufailed) {
        if (failed)
            --*failed;
        else
            --*ufailed;
        count_down (&m->pending_failed);
    } else if (live || ulive) {
        if (live)
            --*live;
        else
            --*ulive;
        if (LOAD (&m->connections) > 0)
            BUMP (&m->connections, -1);
    }
    if (sl)
        peer_release (m, sl);
}

/* Takes an endpoint's peers off the gauge and marks it closed: its
 * sessions may linger in libzmq (flushing messages, still connecting)
 * and report CONNECTED or HANDSHAKE_SUCCEEDED later, then vanish without
 * a word, so events of a closed endpoint are not counted until the host
 * opens it again. */
static void close_slot (zmqobs_mon_block_t *m, zmqobs_peer_slot_t *sl)
{
    int64_t conns = LOAD (&m->connections);
    STORE (&m->connections, conns > (int64_t) sl->live ? conns - (int64_t) sl->live : 0);
    uint64_t pending = LOAD (&m->pending_failed);
    STORE (&m->pending_failed, pending > sl->failed ? pending - sl->failed : 0);
    sl->live = 0;
    sl->failed = 0;
    sl->closed = 1;
    sl->closed_seq = ++m->close_seq;
}

/* The host closed (zmqobs_disconnect, zmqobs_unbind) or opened again
 * (zmqobs_connect; a new listener's LISTENING) the endpoint ep; with
 * port, also every endpoint that accepted peers on that tcp port (a
 * wildcard bind). Draining thread. */
void zmqobs__mark_endpoint (zmqobs_mon_block_t *m, const char *ep, size_t len, uint16_t port,
                            int closed)
{
    zmqobs_peer_slot_t *sl = peer_slot (m, ep, len, closed);
    if (sl && closed)
        close_slot (m, sl);
    else if (sl) {
        sl->closed = 0;
        peer_release (m, sl);
    }
    for (unsigned i = 0; port && i < ZMQOBS__PEER_SLOTS; i++) {
        zmqobs_peer_slot_t *p = &m->peers[i];
        if (p->key == 0 || !p->accepted || p->port != port)
            continue;
        if (closed)
            close_slot (m, p);
        else if (p->closed) {
            p->closed = 0;
            peer_release (m, p);
            i--; /* a later slot may have moved into this one */
        }
    }
}

void zmqobs__apply_event (zmqobs_socket_t *s, const zmqobs_event_t *ev)
{
    zmqobs_mon_block_t *m = &s->mon;
    int bit = zmqobs__event_bit (ev->event);
    if (bit >= 0)
        BUMP (&m->events[bit], 1);

    switch (ev->event) {
    case ZMQ_EVENT_CONNECTED:
    case ZMQ_EVENT_ACCEPTED: {
        if (ev->event == ZMQ_EVENT_CONNECTED)
            STORE (&m->connecting, 1);
        /* claimed for every engine, so that its DISCONNECTED finds it */
        zmqobs_peer_slot_t *sl = peer_slot (m, ev->endpoint, ev->endpoint_len, 1);
        if (sl && ev->event == ZMQ_EVENT_ACCEPTED)
            sl->accepted = 1;
        if (s->type != ZMQ_STREAM) {
            zmqobs_engine_t *e = &m->engines[ev->value & (ZMQOBS__ENGINE_SLOTS - 1)];
            if (sl)
                *e = (zmqobs_engine_t) {(int32_t) ev->value, (uint32_t) sl->key, m->outcomes};
            else
                e->fd = -1;
        }
        /* raw STREAM peers have no ZMTP handshake, so no SUCCEEDED event */
        if (s->type == ZMQ_STREAM && !(sl && sl->closed))
            peer_up (m, sl);
        break;
    }
    case ZMQ_EVENT_CONNECT_DELAYED:
        STORE (&m->connecting, 1);
        break;
    case ZMQ_EVENT_CONNECT_RETRIED:
        STORE (&m->connecting, 1);
        BUMP (&m->reconnects, 1);
        break;
    case ZMQ_EVENT_LISTENING:
        STORE (&m->bound, 1);
        BUMP (&m->listening, 1);
        if (m->listen_fd_count < sizeof m->listen_fds / sizeof m->listen_fds[0])
            m->listen_fds[m->listen_fd_count++] = (int32_t) ev->value;
        else {
            m->listen_untracked++;
            zmqobs_peer_slot_t *sl = peer_slot (m, ev->endpoint, ev->endpoint_len, 1);
            if (sl && sl->listeners < UINT8_MAX)
                sl->listeners++;
        }
        /* a new listener: peers accepted on its port count again */
        zmqobs__mark_endpoint (m, ev->endpoint, ev->endpoint_len,
                               tcp_port (ev->endpoint, ev->endpoint_len), 0);
        break;
    case ZMQ_EVENT_BIND_FAILED:
        STORE (&m->bound, 1);
        note_error (s, ev);
        break;
    case ZMQ_EVENT_CLOSED: {
        /* only a listener's CLOSED lowers the listening gauge */
        int found = 0;
        for (uint32_t i = 0; i < m->listen_fd_count && !found; i++)
            if (m->listen_fds[i] == (int32_t) ev->value) {
                m->listen_fds[i] = m->listen_fds[--m->listen_fd_count];
                found = 1;
            }
        if (!found && m->seeded_listener
            && m->seeded_listener == endpoint_key (ev->endpoint, ev->endpoint_len)) {
            /* the listener counted at attach, by its endpoint */
            m->seeded_listener = 0;
            found = 1;
        }
        if (!found && m->listen_untracked) {
            /* a listener beyond the fd table: known by its endpoint, or,
             * when the socket never connects (a failed connect attempt
             * sends CLOSED too), by elimination */
            zmqobs_peer_slot_t *sl = peer_slot (m, ev->endpoint, ev->endpoint_len, 0);
            if (sl && sl->listeners) {
                sl->listeners--;
                found = 1;
            } else if (!LOAD (&m->connecting))
                found = 1;
            if (found)
                m->listen_untracked--;
        }
        if (found && LOAD (&m->listening) > 0)
            BUMP (&m->listening, (uint64_t) -1);
        break;
    }
    case ZMQ_EVENT_ACCEPT_FAILED:
    case ZMQ_EVENT_CLOSE_FAILED:
        note_error (s, ev);
        break;
    case ZMQ_EVENT_DISCONNECTED: {
        zmqobs_peer_slot_t *sl = peer_slot (m, ev->endpoint, ev->endpoint_len, 0);
        zmqobs_engine_t *e = &m->engines[ev->value & (ZMQOBS__ENGINE_SLOTS - 1)];
        if (s->type != ZMQ_STREAM && e->fd == (int32_t) ev->value) {
            e->fd = -1;
            if (sl && e->key == (uint32_t) sl->key && e->outcomes == m->outcomes) {
                /* no outcome on the socket since it opened: it had none */
                peer_release (m, sl);
                break;
            }
        }
        peer_down (m, sl);
        break;
    }
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: {
        if (s->type == ZMQ_STREAM)
            break;
        zmqobs_peer_slot_t *sl = peer_slot (m, ev->endpoint, ev->endpoint_len, 1);
        m->outcomes++;
        if (sl && sl->closed)
            break; /* an engine of an endpoint the host closed */
        peer_up (m, sl);
        break;
    }
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: {
        /* libzmq 4.3 reports every raw STREAM peer that goes away as
         * HANDSHAKE_FAILED_NO_DETAIL (it has no mechanism) before its
         * DISCONNECTED: not a failure, and that peer was counted */
        if (s->type == ZMQ_STREAM)
            break;
        BUMP (&m->handshake_failures[zmqobs__handshake_slot (ev->event, ev->value)], 1);
        note_error (s, ev);
        zmqobs_peer_slot_t *sl = peer_slot (m, ev->endpoint, ev->endpoint_len, 1);
        m->outcomes++;
        if (sl && sl->closed)
            break; /* an engine of an endpoint the host closed */
        BUMP (&m->pending_failed, 1);
        if (sl)
            sl->failed++;
        else
            m->untracked_failed++;
        break;
    }
    default:
        break;
    }
}

void zmqobs__seed_endpoint (zmqobs_socket_t *s, const char *ep, size_t len, int listener)
{
    zmqobs_mon_block_t *m = &s->mon;
    if (listener) {
        STORE (&m->bound, 1);
        BUMP (&m->listening, 1);
        m->seeded_listener = endpoint_key (ep, len);
    } else {
        STORE (&m->connecting, 1);
        STORE (&m->preconnected, 1);
    }
}

int zmqobs__event_names_peer (zmqobs_socket_t *s, const zmqobs_event_t *ev)
{
    switch (ev->event) {
    case ZMQ_EVENT_CONNECT_DELAYED:
    case ZMQ_EVENT_CONNECT_RETRIED:
    case ZMQ_EVENT_CONNECTED:
        return 1;
    case ZMQ_EVENT_DISCONNECTED:
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: {
        /* an endpoint the socket connected to, never one it accepted on */
        zmqobs_peer_slot_t *sl = peer_slot (&s->mon, ev->endpoint, ev->endpoint_len, 0);
        return sl && !sl->accepted && !sl->listeners && !ev->endpoint_truncated;
    }
    default:
        return 0;
    }
}
