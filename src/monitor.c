/*
 * monitor.c - the monitor engine: per-socket libzmq monitors, the loop
 * that drains them (a background thread, or the host's own loop), the
 * safe stop order, and events turned into metrics.
 *
 * Control channel. Attach and detach run on the host socket's owner
 * thread; the loop runs elsewhere. They share one list of entries (socket,
 * stop deadline) under mon->lock; every change bumps mon->gen and writes
 * an eventfd that the loop polls next to the readers, so the loop rebuilds
 * its poll set. The eventfd is not a libzmq socket on purpose: it never
 * stops zmq_ctx_term from completing, whatever the shutdown order.
 *
 * A reader is created and connected on the attach thread, then used only
 * by the loop; the mutex around the entry list orders the hand-off. The
 * reader's receive high-water mark is 0 (unlimited), so libzmq's monitor
 * socket can never block the host's I/O thread, even while the loop is
 * busy in a slow event callback.
 *
 * The converse is fatal: libzmq sends monitor events blocking, so once a
 * reader is closed while its socket's monitor still runs, the next event
 * wedges libzmq's I/O thread for good. A reader is therefore closed only
 * after MONITOR_STOPPED, after ETERM, or after zmq_socket_monitor (NULL)
 * stopped the monitor. A socket the host closed before detaching (a
 * misuse) cannot be stopped, and libzmq may keep it alive for as long as
 * it lingers: its reader becomes an orphan, drained and discarded until
 * that socket's MONITOR_STOPPED or ETERM, by the loop, or after
 * zmqobs_destroy by a small detached thread of its own.
 *
 * SPDX-License-Identifier: MIT
 */
#include "zmqobs_private.h"

#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* s->monitor_state; changes under mon->lock */
enum {
    MS_NONE = 0,
    MS_ACTIVE,   /* the loop drains s->reader */
    MS_STOPPING, /* detach asked: drain until MONITOR_STOPPED or deadline */
    MS_ORPHAN,   /* detach found the handle closed: the loop adopts the
                    reader as an orphan */
    MS_DONE      /* reader closed or adopted; the loop never touches s again */
};

/* s->req_state and s->req_op, under mon->lock: a request of the socket's
 * owner thread that the loop serves in order with the events queued on
 * the socket's reader (threaded mode) */
enum { REQ_NONE = 0, REQ_ASKED, REQ_TAKEN };
enum {
    OP_DRAIN = 1, /* detach: take what is queued (a MONITOR_STOPPED?) */
    OP_CLOSE,     /* zmqobs_disconnect, zmqobs_unbind */
    OP_OPEN       /* zmqobs_connect */
};

#define STOP_WAIT_NS 1000000000ull /* bound on waiting for MONITOR_STOPPED */
#define BATCH 512                  /* messages per reader per loop turn */
#define PREDRAIN_BATCHES 64        /* before a detach or request: a storm is cut off */

typedef struct entry {
    zmqobs_socket_t *s;
    uint64_t deadline_ns; /* when stopping: give up on MONITOR_STOPPED */
} entry_t;

struct zmqobs_monitor {
    pthread_mutex_t lock;    /* entries, gen, quit, terminated, states */
    pthread_cond_t cond;     /* signalled when a socket reaches MS_DONE */
    pthread_mutex_t cb_lock; /* held while the event callback runs */
    int efd;                 /* eventfd: wakes the loop */
    pthread_t thread;
    int has_thread;
    int quit;
    int terminated; /* ETERM seen: readers closed, host sockets untouchable */
    int waiters;    /* host-driven: attach/detach calls in progress */
    uint64_t gen;   /* bumped on every change of entries/states */
    entry_t *entries;
    size_t count, cap;
    size_t reserved; /* attaches in progress, each with room kept */
    void **orphans;  /* readers of sockets the host closed too early */
    size_t norphans;
    size_t orphans_cap; /* >= count + norphans: adopting never allocates */

    /* loop side: touched only by the draining thread */
    uint64_t seen_gen;
    zmqobs_socket_t *serving; /* a request taken by the last refresh */
    zmq_pollitem_t *items;    /* [0] eventfd, then readers, then HTTP */
    zmqobs_socket_t **slots;  /* slots[i] owns items[1 + i] */
    size_t nslots;
    size_t items_cap;
};

/* ------------------------------------------------------------------------
 * Events into metrics
 * ---------------------------------------------------------------------- */

static void note_error (zmqobs_socket_t *s, const zmqobs_event_t *ev)
{
    /* last_error_* are read by snapshots under the same lock */
    pthread_mutex_lock (&s->obs->lock);
    s->mon.last_error_event = ev->event;
    s->mon.last_error_value = ev->value;
    memcpy (s->mon.last_error_endpoint, ev->endpoint, ev->endpoint_len + 1);
    pthread_mutex_unlock (&s->obs->lock);
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
static uint16_t wildcard_port (const char *ep, size_t len)
{
    uint16_t port = tcp_port (ep, len);
    if (!port)
        return 0;
    static const char *const any[] = {"*", "0.0.0.0", "[::]", "::", "[*]", "[0:0:0:0:0:0:0:0]"};
    const char *host = ep + 6;
    size_t hlen = (size_t) ((const char *) memrchr (ep, ':', len) - host);
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
    if (sl->live || sl->failed || sl->closed)
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
static void mark_endpoint (zmqobs_mon_block_t *m, const char *ep, size_t len, uint16_t port,
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
        /* a new listener: peers accepted on its port count again */
        mark_endpoint (m, ev->endpoint, ev->endpoint_len, tcp_port (ev->endpoint, ev->endpoint_len),
                       0);
        break;
    case ZMQ_EVENT_BIND_FAILED:
        STORE (&m->bound, 1);
        note_error (s, ev);
        break;
    case ZMQ_EVENT_CLOSED:
        /* only a listener's CLOSED lowers the listening gauge */
        for (uint32_t i = 0; i < m->listen_fd_count; i++)
            if (m->listen_fds[i] == (int32_t) ev->value) {
                m->listen_fds[i] = m->listen_fds[--m->listen_fd_count];
                if (LOAD (&m->listening) > 0)
                    BUMP (&m->listening, (uint64_t) -1);
                break;
            }
        break;
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

/* ------------------------------------------------------------------------
 * Event callback and the JSON sink
 * ---------------------------------------------------------------------- */

int zmqobs_on_event (zmqobs_t *self, zmqobs_event_fn *fn, void *arg)
{
    if (!self) {
        errno = EINVAL;
        return -1;
    }
    /* cb_lock waits for a callback in flight, so once this returns the old
     * arg (a FILE * the host is about to close) is never used again. It is
     * recursive, so a callback may replace itself. */
    pthread_mutex_lock (&self->monitor->cb_lock);
    pthread_mutex_lock (&self->lock);
    self->event_fn = fn;
    self->event_arg = arg;
    pthread_mutex_unlock (&self->lock);
    pthread_mutex_unlock (&self->monitor->cb_lock);
    return 0;
}

/* An errno value by name: libzmq's from the shared table, the others
 * (ECONNREFUSED, EADDRINUSE, ...) from the C library where it can. */
static const char *errno_text (int err)
{
    const char *text = zmqobs_errno_name (err);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    if (strcmp (text, "OTHER") == 0) {
        const char *name = strerrorname_np (err);
        if (name)
            text = name;
    }
#endif
    return text;
}

/* The text next to a value: an errno or protocol error name, or "". */
static const char *value_text (const zmqobs_event_t *ev)
{
    if (ev->value_kind == ZMQOBS_VALUE_ERRNO)
        return errno_text ((int) ev->value);
    return zmqobs__value_text (ev->event, ev->value);
}

/* Set while an event callback runs on this thread: zmqobs_disconnect and
 * friends would wait there for the very thread that runs it. */
static __thread const zmqobs_t *in_callback;

static void emit (zmqobs_t *obs, zmqobs_socket_t *s, const zmqobs_event_t *ev)
{
    struct zmqobs_monitor *mon = obs->monitor;
    pthread_mutex_lock (&mon->cb_lock);
    pthread_mutex_lock (&obs->lock);
    zmqobs_event_fn *fn = obs->event_fn;
    void *arg = obs->event_arg;
    pthread_mutex_unlock (&obs->lock);
    if (fn) {
        zmqobs_event_info_t info = {
            .socket_name = s->name,
            .event_name = zmqobs_event_name (ev->event),
            .value_meaning = zmqobs_value_kind_name (ev->value_kind),
            .value_text = value_text (ev),
            .event = ev,
            .timestamp_ns = zmqobs__wall_ns (),
        };
        const zmqobs_t *outer = in_callback;
        in_callback = obs;
        fn (&info, arg);
        in_callback = outer;
    }
    pthread_mutex_unlock (&mon->cb_lock);
}

/* Bounded appender: keeps the output NUL-terminated and counts what the
 * whole line needs. */
typedef struct {
    char *buf;
    size_t size, len;
} sbuf_t;

static void put (sbuf_t *b, const char *s, size_t n)
{
    if (b->len < b->size) {
        size_t room = b->size - 1 - b->len;
        memcpy (b->buf + b->len, s, n < room ? n : room);
    }
    b->len += n;
}

/* Length of the UTF-8 sequence starting at p if it is valid, else 0. */
static size_t utf8_seq (const unsigned char *p, size_t left)
{
    size_t n = p[0] < 0xC0 ? 0 : p[0] < 0xE0 ? 2 : p[0] < 0xF0 ? 3 : p[0] < 0xF8 ? 4 : 0;
    if (n == 0 || n > left)
        return 0;
    return zmqobs__valid_utf8 ((const char *) p, n) ? n : 0;
}

/* A JSON string: quotes and backslashes escaped, control characters as
 * \u00XX, valid UTF-8 as is, invalid bytes as U+FFFD so the line stays
 * valid JSON. */
static void put_json_string (sbuf_t *b, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *) str;
    put (b, "\"", 1);
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char) c};
            put (b, esc, 2);
            i++;
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put (b, esc, 6);
            i++;
        } else if (c < 0x80) {
            size_t j = i + 1;
            while (j < len && p[j] >= 0x20 && p[j] < 0x80 && p[j] != '"' && p[j] != '\\')
                j++;
            put (b, str + i, j - i);
            i = j;
        } else {
            size_t n = utf8_seq (p + i, len - i);
            if (n) {
                put (b, str + i, n);
                i += n;
            } else {
                put (b, "\\ufffd", 6);
                i++;
            }
        }
    }
    put (b, "\"", 1);
}

/* RFC 3339, UTC, milliseconds: 2026-01-02T03:04:05.678Z */
static void put_timestamp (sbuf_t *b, uint64_t ns)
{
    time_t secs = (time_t) (ns / 1000000000u);
    unsigned ms = (unsigned) (ns % 1000000000u / 1000000u);
    struct tm tm;
    char text[64];
    int n = 0;
    if (gmtime_r (&secs, &tm))
        n = snprintf (text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    put_json_string (b, text, n > 0 ? (size_t) n : 0);
}

/* Formats one event as a JSON line (with the newline); snprintf
 * semantics. Shared by zmqobs_json_log and its tests. */
static size_t json_line (const zmqobs_event_info_t *info, char *buf, size_t size)
{
    sbuf_t b = {buf, size, 0};
    const zmqobs_event_t *ev = info->event;
    char num[16];
    put (&b, "{\"ts\":", 6);
    put_timestamp (&b, info->timestamp_ns);
    put (&b, ",\"socket\":", 10);
    put_json_string (&b, info->socket_name, strlen (info->socket_name));
    put (&b, ",\"event\":", 9);
    put_json_string (&b, info->event_name, strlen (info->event_name));
    int n = snprintf (num, sizeof num, "%u", (unsigned) ev->value);
    put (&b, ",\"value\":", 9);
    put (&b, num, (size_t) n);
    put (&b, ",\"meaning\":", 11);
    put_json_string (&b, info->value_meaning, strlen (info->value_meaning));
    if (info->value_text && *info->value_text) {
        put (&b, ",\"detail\":", 10);
        put_json_string (&b, info->value_text, strlen (info->value_text));
    }
    put (&b, ",\"endpoint\":", 12);
    put_json_string (&b, ev->endpoint, ev->endpoint_len);
    put (&b, "}\n", 2);
    if (size)
        buf[b.len < size ? b.len : size - 1] = '\0';
    return b.len;
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

/* ------------------------------------------------------------------------
 * Reading monitor messages
 * ---------------------------------------------------------------------- */

static void close_reader (zmqobs_socket_t *s)
{
    if (s->reader) {
        zmq_close (s->reader);
        s->reader = NULL;
    }
}

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

/* Drains up to BATCH messages of an orphan reader. Returns 1 once its
 * socket's monitor stopped (the reader may be closed), 0 when it must be
 * drained again later, -1 with errno on error (ETERM). */
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

/* Marks s done and wakes its detach; mon->lock held. */
static void finish_locked (struct zmqobs_monitor *mon, zmqobs_socket_t *s)
{
    close_reader (s);
    STORE (&s->monitor_state, MS_DONE);
    mon->gen++;
    pthread_cond_broadcast (&mon->cond);
}

static void terminate_locked (struct zmqobs_monitor *mon);

/* MONITOR_STOPPED on s's own reader: no event follows, so the reader is
 * closed at once, whoever stopped the monitor. Besides detach, that is
 * zmq_ctx_term (libzmq stops every monitor when the context shuts down,
 * and the context cannot finish while a reader is open) or the host
 * monitoring the socket itself. Once s is done its detach may free it at
 * once, so the caller must not touch s again. */
static void saw_stopped (zmqobs_t *obs, zmqobs_socket_t *s)
{
    struct zmqobs_monitor *mon = obs->monitor;
    int own = !obs->host_driven;
    if (own)
        pthread_mutex_lock (&mon->lock);
    int state = LOAD (&s->monitor_state);
    if (state == MS_ACTIVE) {
        /* not asked for: if the context is going away, close every
         * reader now. It is still alive: this reader is still open. */
        void *probe = zmq_socket (obs->ctx, ZMQ_PAIR);
        if (probe)
            zmq_close (probe);
        else if (errno == ETERM)
            terminate_locked (mon);
    }
    if (state == MS_ACTIVE || state == MS_STOPPING || state == MS_ORPHAN)
        finish_locked (mon, s);
    if (own)
        pthread_mutex_unlock (&mon->lock);
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
    zmqobs__apply_event (s, &ev);
    emit (obs, s, &ev);
    if (ev.event == ZMQ_EVENT_MONITOR_STOPPED && sock == s->reader) {
        saw_stopped (obs, s);
        return 2;
    }
    return 1;
}

/* Drains up to BATCH messages of one reader; returns events handled, -1
 * with errno on a socket error (ETERM). Only the loop closes readers, so
 * s->reader is open here. */
static int drain (zmqobs_t *obs, zmqobs_socket_t *s)
{
    int n = 0;
    int state = LOAD (&s->monitor_state);
    if (state != MS_ACTIVE && state != MS_STOPPING && state != MS_ORPHAN)
        return 0;
    while (n < BATCH) {
        int rc = zmqobs__monitor_recv (obs, s, s->reader);
        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
        n++;
        if (rc == 2)
            break; /* stopped: s may be freed already, and after ETERM
                      every reader is closed */
    }
    return n;
}

/* ------------------------------------------------------------------------
 * The loop
 * ---------------------------------------------------------------------- */

static void wake (struct zmqobs_monitor *mon)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already nonzero: the loop will wake */
    ssize_t rc = write (mon->efd, &one, sizeof one);
    (void) rc;
}

void zmqobs__monitor_wake (zmqobs_t *obs)
{
    if (obs && obs->monitor)
        wake (obs->monitor);
}

/* Grows the loop's arrays to hold n items; -1 with ENOMEM. */
static int reserve_items (struct zmqobs_monitor *mon, size_t n)
{
    if (n <= mon->items_cap)
        return 0;
    size_t cap = mon->items_cap ? mon->items_cap : 16;
    while (cap < n)
        cap *= 2;
    zmq_pollitem_t *items = zmqobs__calloc (cap, sizeof *items);
    zmqobs_socket_t **slots = zmqobs__calloc (cap, sizeof *slots);
    if (!items || !slots) {
        zmqobs__free (items);
        zmqobs__free (slots);
        return -1;
    }
    if (mon->items_cap) {
        memcpy (items, mon->items, mon->items_cap * sizeof *items);
        memcpy (slots, mon->slots, mon->items_cap * sizeof *slots);
    }
    zmqobs__free (mon->items);
    zmqobs__free (mon->slots);
    mon->items = items;
    mon->slots = slots;
    mon->items_cap = cap;
    return 0;
}

/* Closes every reader at once so zmq_ctx_term can complete; from now on
 * no host socket is touched (the host may have closed them). mon->lock
 * held. */
static void terminate_locked (struct zmqobs_monitor *mon)
{
    mon->terminated = 1;
    for (size_t i = 0; i < mon->count; i++) {
        zmqobs_socket_t *s = mon->entries[i].s;
        if (s->monitor_state != MS_DONE)
            finish_locked (mon, s);
    }
    for (size_t i = 0; i < mon->norphans; i++)
        zmq_close (mon->orphans[i]);
    mon->norphans = 0;
    mon->gen++;
}

/* Moves s's reader to the orphans; s is done. mon->lock held, and the
 * caller is the draining thread or the loop is not using the reader. */
static void adopt_locked (struct zmqobs_monitor *mon, zmqobs_socket_t *s)
{
    if (s->reader && mon->norphans < mon->orphans_cap) {
        mon->orphans[mon->norphans++] = s->reader;
        s->reader = NULL;
    }
    /* (the capacity is reserved at attach; closing is the last resort) */
    finish_locked (mon, s);
}

/* An orphan reader whose monitor stopped: closed and forgotten. mon->lock
 * held (or the host-driven caller's thread). */
static void bury_locked (struct zmqobs_monitor *mon, void *reader)
{
    for (size_t i = 0; i < mon->norphans; i++)
        if (mon->orphans[i] == reader) {
            mon->orphans[i] = mon->orphans[--mon->norphans];
            break;
        }
    zmq_close (reader);
    mon->gen++;
}

/* Rebuilds the reader part of the poll set when something changed, and
 * settles stops that are due; returns the poll timeout the stops allow
 * (-1 for none). mon->lock held (or the host-driven caller's thread). */
static long refresh_locked (zmqobs_t *obs)
{
    struct zmqobs_monitor *mon = obs->monitor;
    uint64_t now = 0;
    long timeout = -1;
    for (size_t i = 0; i < mon->count; i++) {
        entry_t *e = &mon->entries[i];
        zmqobs_socket_t *s = e->s;
        if (s->req_state == REQ_ASKED && !mon->serving && !mon->terminated
            && s->monitor_state == MS_ACTIVE) {
            s->req_state = REQ_TAKEN;
            mon->serving = s;
        }
        if (s->monitor_state == MS_ORPHAN)
            adopt_locked (mon, s);
        else if (s->monitor_state == MS_STOPPING) {
            if (!now)
                now = zmqobs__now_ns ();
            if (now >= e->deadline_ns || !s->reader)
                finish_locked (mon, s);
            else {
                long ms = (long) ((e->deadline_ns - now) / 1000000u) + 1;
                if (timeout < 0 || ms < timeout)
                    timeout = ms;
            }
        }
    }
    if (mon->seen_gen != mon->gen) {
        /* The set always matches the entries now, so it never holds a
         * socket that is done (and maybe freed). Short of memory, only the
         * readers that fit are polled (the rest queue without blocking
         * libzmq) and the growth is retried shortly. */
        int grown = reserve_items (mon, mon->count + mon->norphans + 1) == 0;
        mon->items[0] = (zmq_pollitem_t) {.socket = NULL, .fd = mon->efd, .events = ZMQ_POLLIN};
        size_t n = 0;
        for (size_t i = 0; i < mon->count && 1 + n < mon->items_cap; i++) {
            zmqobs_socket_t *s = mon->entries[i].s;
            int state = LOAD (&s->monitor_state);
            if (s->reader && (state == MS_ACTIVE || state == MS_STOPPING)) {
                mon->items[1 + n] = (zmq_pollitem_t) {.socket = s->reader, .events = ZMQ_POLLIN};
                mon->slots[n++] = s;
            }
        }
        /* orphans after the readers, with no socket in their slot */
        for (size_t i = 0; i < mon->norphans && 1 + n < mon->items_cap; i++) {
            mon->items[1 + n] = (zmq_pollitem_t) {.socket = mon->orphans[i], .events = ZMQ_POLLIN};
            mon->slots[n++] = NULL;
        }
        mon->nslots = n;
        if (grown)
            mon->seen_gen = mon->gen;
        else if (timeout < 0 || timeout > 10)
            timeout = 10;
    }
    return timeout;
}

/* Appends the HTTP items after the readers; returns how many. */
static int http_items (zmqobs_t *obs)
{
    struct zmqobs_monitor *mon = obs->monitor;
    size_t base = 1 + mon->nslots;
    int need = zmqobs__http_pollitems (obs, mon->items + base, (int) (mon->items_cap - base));
    if (need > 0 && (size_t) need > mon->items_cap - base) {
        if (reserve_items (mon, base + (size_t) need) != 0)
            return 0;
        need = zmqobs__http_pollitems (obs, mon->items + base, (int) (mon->items_cap - base));
        if (need < 0 || (size_t) need > mon->items_cap - base)
            return 0;
    }
    return need > 0 ? need : 0;
}

static long min_timeout (long a, long b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

/* Closes every reader after ETERM; in threaded mode takes mon->lock,
 * which host-driven callers of turn() already hold. */
static void terminate_from_turn (struct zmqobs_monitor *mon, int own)
{
    if (own)
        pthread_mutex_lock (&mon->lock);
    terminate_locked (mon);
    if (own)
        pthread_mutex_unlock (&mon->lock);
}

/* Drains one reader for turn() and adds what it handled to *events.
 * Returns 0, or -1 with errno ETERM once the context is going away and
 * every reader is closed (a socket error other than ETERM skips the
 * reader until the next turn). */
static int drain_slot (zmqobs_t *obs, zmqobs_socket_t *s, int own, int *events)
{
    struct zmqobs_monitor *mon = obs->monitor;
    int n = drain (obs, s);
    if (n < 0) {
        if (errno != ETERM)
            return 0;
        terminate_from_turn (mon, own);
        errno = ETERM;
        return -1;
    }
    *events += n;
    if (mon->terminated) {
        /* a MONITOR_STOPPED revealed ETERM: every slot is done (this
         * thread set the flag, so it reads it without the lock) */
        errno = ETERM;
        return -1;
    }
    return 0;
}

/* Drains an orphan reader for turn(), closing it once its monitor stopped.
 * Returns 0, or -1 with errno ETERM once every reader is closed. */
static int drain_orphan_slot (zmqobs_t *obs, void *reader, int own)
{
    struct zmqobs_monitor *mon = obs->monitor;
    int rc = drain_orphan (reader);
    if (rc < 0 && errno == ETERM) {
        terminate_from_turn (mon, own);
        errno = ETERM;
        return -1;
    }
    if (rc != 0) {
        if (own)
            pthread_mutex_lock (&mon->lock);
        bury_locked (mon, reader);
        if (own)
            pthread_mutex_unlock (&mon->lock);
    }
    return 0;
}

/* What a request does once the events queued before it are counted.
 * Draining thread (or nobody drains s). */
static void apply_request (zmqobs_socket_t *s)
{
    if (s->req_op == OP_CLOSE || s->req_op == OP_OPEN)
        mark_endpoint (&s->mon, s->req_ep, strlen (s->req_ep), s->req_port, s->req_op == OP_CLOSE);
}

/* Serves the request the last refresh took: first what the socket's
 * monitor has queued (a storm is cut off after PREDRAIN_BATCHES), then the
 * request itself. The socket is alive: its owner waits for this. Returns
 * 0, or -1 with errno ETERM once every reader is closed. */
static int serve_request (zmqobs_t *obs, int own)
{
    struct zmqobs_monitor *mon = obs->monitor;
    zmqobs_socket_t *t = mon->serving;
    mon->serving = NULL;
    int rc = 0, err = 0;
    for (int k = 0; k < PREDRAIN_BATCHES && LOAD (&t->monitor_state) == MS_ACTIVE; k++) {
        int n = drain (obs, t);
        if (n < 0) {
            rc = -1;
            err = errno;
            break;
        }
        if (n < BATCH)
            break;
    }
    if (own)
        pthread_mutex_lock (&mon->lock);
    apply_request (t);
    t->req_state = REQ_NONE;
    pthread_cond_broadcast (&mon->cond);
    if (own)
        pthread_mutex_unlock (&mon->lock);
    if (rc < 0 && err == ETERM) {
        terminate_from_turn (mon, own);
        errno = ETERM;
        return -1;
    }
    return 0;
}

/* One turn of the loop: poll, then handle what is ready. Returns events
 * handled, or -1 with errno ETERM (readers closed) or another errno. In
 * threaded mode mon->lock is not held on entry; in host-driven mode it is. */
static int turn (zmqobs_t *obs, long timeout_ms)
{
    struct zmqobs_monitor *mon = obs->monitor;
    int own = !obs->host_driven;
    if (own)
        pthread_mutex_lock (&mon->lock);
    long stop_timeout = refresh_locked (obs);
    if (own)
        pthread_mutex_unlock (&mon->lock);
    if (mon->items_cap == 0) {
        errno = ENOMEM;
        return -1;
    }
    if (mon->serving) {
        /* then poll as usual, so that a run of requests cannot starve the
         * other readers; a reader may have closed meanwhile, so the set is
         * refreshed first (and may take the next request: no waiting) */
        if (serve_request (obs, own) < 0)
            return -1;
        if (own)
            pthread_mutex_lock (&mon->lock);
        stop_timeout = refresh_locked (obs);
        if (own)
            pthread_mutex_unlock (&mon->lock);
        if (mon->serving)
            timeout_ms = 0;
    }
    size_t nr = mon->nslots;
    int events = 0;
    int nh = http_items (obs);
    long timeout =
        min_timeout (timeout_ms, min_timeout (stop_timeout, zmqobs__http_timeout_ms (obs)));
    int rc = zmq_poll (mon->items, (int) (1 + nr + (size_t) nh), timeout);
    if (rc < 0) {
        int err = errno;
        if (err == ETERM)
            terminate_from_turn (mon, own);
        errno = err;
        return -1;
    }
    if (mon->items[0].revents & ZMQ_POLLIN) {
        uint64_t value;
        ssize_t got = read (mon->efd, &value, sizeof value);
        (void) got;
    }
    for (size_t i = 0; i < nr; i++) {
        if (!(mon->items[1 + i].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
            continue;
        /* a reader is only closed by this thread, so it is still open */
        if (mon->slots[i] ? drain_slot (obs, mon->slots[i], own, &events) < 0
                          : drain_orphan_slot (obs, mon->items[1 + i].socket, own) < 0)
            return -1;
    }
    /* also with no items ready or none at all: HTTP expires its
     * connections here */
    zmqobs__http_dispatch (obs, mon->items + 1 + nr, nh);
    return events;
}

static void *loop (void *arg)
{
    zmqobs_t *obs = arg;
    struct zmqobs_monitor *mon = obs->monitor;
    for (;;) {
        pthread_mutex_lock (&mon->lock);
        int quit = mon->quit;
        int terminated = mon->terminated;
        pthread_mutex_unlock (&mon->lock);
        if (quit)
            break;
        int rc = turn (obs, -1);
        if (rc < 0 && errno != EINTR && errno != ETERM && !terminated) {
            /* unexpected (ENOMEM while growing): do not spin */
            struct timespec pause = {0, 10 * 1000 * 1000};
            nanosleep (&pause, NULL);
        } else if (rc < 0 && errno == ETERM && terminated) {
            /* HTTP items from the dead context keep failing: wait for
             * the control channel alone */
            zmq_pollitem_t ctl = {.socket = NULL, .fd = mon->efd, .events = ZMQ_POLLIN};
            if (zmq_poll (&ctl, 1, 100) > 0) {
                uint64_t value;
                ssize_t got = read (mon->efd, &value, sizeof value);
                (void) got;
            }
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * Lifecycle
 * ---------------------------------------------------------------------- */

int zmqobs__monitor_init (zmqobs_t *obs)
{
    struct zmqobs_monitor *mon = zmqobs__calloc (1, sizeof *mon);
    if (!mon)
        return -1;
    mon->efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (mon->efd < 0) {
        int err = errno;
        zmqobs__free (mon);
        errno = err;
        return -1;
    }
    pthread_mutex_init (&mon->lock, NULL);
    pthread_cond_init (&mon->cond, NULL);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init (&attr);
    pthread_mutexattr_settype (&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init (&mon->cb_lock, &attr);
    pthread_mutexattr_destroy (&attr);
    obs->monitor = mon;
    mon->gen = 1; /* differs from seen_gen: the first turn builds the set */
    if (reserve_items (mon, 16) != 0)
        goto fail;
    if (!obs->host_driven) {
        int rc = pthread_create (&mon->thread, NULL, loop, obs);
        if (rc != 0) {
            errno = rc;
            goto fail;
        }
        mon->has_thread = 1;
    }
    return 0;
fail:;
    int err = errno;
    zmqobs__monitor_fini (obs);
    errno = err;
    return -1;
}

/* Orphans still open when the observer goes away: a detached thread
 * drains them until their sockets' MONITOR_STOPPED or ETERM, so that
 * neither zmqobs_destroy nor libzmq's I/O thread waits on a socket the
 * host closed too early and libzmq keeps lingering. */
typedef struct {
    size_t n;
    zmq_pollitem_t items[];
} orphanage_t;

static int orphanages; /* threads still draining orphans (for tests) */

size_t zmqobs__orphan_count (zmqobs_t *obs)
{
    struct zmqobs_monitor *mon = obs->monitor;
    pthread_mutex_lock (&mon->lock);
    size_t n = mon->norphans;
    pthread_mutex_unlock (&mon->lock);
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
static void rehome_orphans (struct zmqobs_monitor *mon)
{
    if (mon->norphans == 0)
        return;
    orphanage_t *o = zmqobs__malloc (sizeof *o + mon->norphans * sizeof o->items[0]);
    int started = 0;
    if (o) {
        o->n = mon->norphans;
        for (size_t i = 0; i < o->n; i++)
            o->items[i] = (zmq_pollitem_t) {.socket = mon->orphans[i], .events = ZMQ_POLLIN};
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
    if (!started)
        /* no memory or no thread: the last resort, closing, risks a
         * libzmq I/O thread blocked on that socket's next event */
        for (size_t i = 0; i < mon->norphans; i++)
            zmq_close (mon->orphans[i]);
    mon->norphans = 0;
}

void zmqobs__monitor_fini (zmqobs_t *obs)
{
    struct zmqobs_monitor *mon = obs ? obs->monitor : NULL;
    if (!mon)
        return;
    if (mon->has_thread) {
        pthread_mutex_lock (&mon->lock);
        mon->quit = 1;
        pthread_mutex_unlock (&mon->lock);
        wake (mon);
        pthread_join (mon->thread, NULL);
        mon->has_thread = 0;
    }
    /* every socket was detached first; close anything left regardless */
    for (size_t i = 0; i < mon->count; i++)
        close_reader (mon->entries[i].s);
    rehome_orphans (mon);
    zmqobs__free (mon->orphans);
    zmqobs__free (mon->entries);
    zmqobs__free (mon->items);
    zmqobs__free (mon->slots);
    close (mon->efd);
    pthread_mutex_destroy (&mon->cb_lock);
    pthread_cond_destroy (&mon->cond);
    pthread_mutex_destroy (&mon->lock);
    zmqobs__free (mon);
    obs->monitor = NULL;
}

/* Is handle already attached to this observer? A second monitor on the
 * same socket would silently stop the first one. */
static int handle_attached (zmqobs_t *obs, void *handle)
{
    struct zmqobs_monitor *mon = obs->monitor;
    int found = 0;
    pthread_mutex_lock (&mon->lock);
    for (size_t i = 0; i < mon->count && !found; i++)
        found = mon->entries[i].s->hot.handle == handle;
    pthread_mutex_unlock (&mon->lock);
    return found;
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

/* Host-driven mode: a zmqobs_process in another thread may be waiting in
 * zmq_poll with the lock held. enter() makes it return and keeps it from
 * taking the lock again until leave(); otherwise the host's loop could
 * win the lock back every time and attach or detach would wait for ever. */
static void enter (zmqobs_t *obs)
{
    struct zmqobs_monitor *mon = obs->monitor;
    if (!obs->host_driven)
        return;
    ADD (&mon->waiters, 1);
    wake (mon);
}

static void leave (zmqobs_t *obs)
{
    struct zmqobs_monitor *mon = obs->monitor;
    if (!obs->host_driven)
        return;
    pthread_mutex_lock (&mon->lock);
    ADD (&mon->waiters, -1);
    pthread_cond_broadcast (&mon->cond);
    pthread_mutex_unlock (&mon->lock);
}

static int attach_monitor (zmqobs_t *obs, zmqobs_socket_t *s, void *handle);
static int start_monitor (zmqobs_t *obs, zmqobs_socket_t *s, void *handle, void **reader_out);

int zmqobs__monitor_attach (zmqobs_t *obs, zmqobs_socket_t *s)
{
    enter (obs);
    int rc = attach_monitor (obs, s, s->hot.handle);
    int err = errno;
    leave (obs);
    errno = err;
    return rc;
}

static int attach_monitor (zmqobs_t *obs, zmqobs_socket_t *s, void *handle)
{
    struct zmqobs_monitor *mon = obs->monitor;
    if (handle_attached (obs, handle)) {
        errno = EEXIST;
        return -1;
    }
    /* reserve the entry first: nothing can fail once the monitor runs.
     * Attaches on other threads reserve too, so room is counted for all
     * of them (mon->reserved) until each appends or gives up. */
    pthread_mutex_lock (&mon->lock);
    int terminated = mon->terminated;
    size_t want = mon->count + mon->reserved + 1;
    if (!terminated && mon->cap < want) {
        size_t cap = mon->cap ? mon->cap * 2 : 8;
        while (cap < want)
            cap *= 2;
        entry_t *grown = zmqobs__calloc (cap, sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock (&mon->lock);
            return -1;
        }
        if (mon->count)
            memcpy (grown, mon->entries, mon->count * sizeof *grown);
        zmqobs__free (mon->entries);
        mon->entries = grown;
        mon->cap = cap;
    }
    if (!terminated && mon->orphans_cap < want + mon->norphans) {
        size_t cap = 2 * (want + mon->norphans);
        void **grown = zmqobs__calloc (cap, sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock (&mon->lock);
            return -1;
        }
        if (mon->norphans)
            memcpy (grown, mon->orphans, mon->norphans * sizeof *grown);
        zmqobs__free (mon->orphans);
        mon->orphans = grown;
        mon->orphans_cap = cap;
    }
    if (!terminated)
        mon->reserved++;
    pthread_mutex_unlock (&mon->lock);
    if (terminated) {
        errno = ETERM;
        return -1;
    }
    void *reader = NULL;
    int rc = start_monitor (obs, s, handle, &reader);
    int err = errno;
    pthread_mutex_lock (&mon->lock);
    mon->reserved--;
    if (rc == 0 && mon->terminated) {
        /* the context went away meanwhile and every reader was closed:
         * so is this one (libzmq's sends fail with ETERM now) */
        zmq_close (reader);
        rc = -1;
        err = ETERM;
    }
    if (rc == 0) {
        s->reader = reader;
        STORE (&s->monitor_state, MS_ACTIVE);
        mon->entries[mon->count++] = (entry_t) {s, 0};
        mon->gen++;
    }
    pthread_mutex_unlock (&mon->lock);
    if (rc == 0)
        wake (mon);
    errno = err;
    return rc;
}

/* Starts the monitor and connects its reader; -1 with errno on failure,
 * the host socket as it was. */
static int start_monitor (zmqobs_t *obs, zmqobs_socket_t *s, void *handle, void **reader_out)
{

    pthread_mutex_lock (&obs->lock);
    uint64_t seq = ++obs->attach_seq;
    pthread_mutex_unlock (&obs->lock);
    /* unique per observer and attach: libzmq releases inproc names
     * asynchronously, so a name is never reused */
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
    /* Connect first (inproc allows it): libzmq's bind inside
     * zmq_socket_monitor then finds the reader at once, and if the
     * monitor cannot start there is nothing to undo on the host socket. */
    if (zmq_connect (reader, s->monitor_endpoint) != 0) {
        int err = errno;
        zmq_close (reader);
        errno = err;
        return -1;
    }
    uint32_t mask = (obs->events | ZMQ_EVENT_MONITOR_STOPPED) & ZMQ_EVENT_ALL;
    if (zmq_socket_monitor (handle, s->monitor_endpoint, (int) mask) != 0) {
        int err = errno;
        /* The reader's connect is pending in the context until something
         * binds the endpoint; libzmq never drops it, and until then the
         * closed reader cannot finish (its socket slot stays taken) and
         * zmq_ctx_term opens a socket to bind it (asserting when the
         * context has no slot left, the EMFILE case). The reader binds
         * its own endpoint: the pending pipe comes back to it, and the
         * close below ends both. */
        zmq_bind (reader, s->monitor_endpoint);
        zmq_close (reader);
        errno = err == EFAULT ? ENOTSOCK : err;
        return -1;
    }
    *reader_out = reader;
    return 0;
}

/* Removes s from the entries; mon->lock held. */
static void remove_entry_locked (struct zmqobs_monitor *mon, zmqobs_socket_t *s)
{
    for (size_t i = 0; i < mon->count; i++)
        if (mon->entries[i].s == s) {
            mon->entries[i] = mon->entries[--mon->count];
            break;
        }
    mon->gen++;
}

static entry_t *find_entry_locked (struct zmqobs_monitor *mon, zmqobs_socket_t *s)
{
    for (size_t i = 0; i < mon->count; i++)
        if (mon->entries[i].s == s)
            return &mon->entries[i];
    return NULL;
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
    if (mon->terminated || !s->reader || LOAD (&s->monitor_state) != MS_ACTIVE)
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

/* Host-driven detach: this thread is the draining thread. */
/* Host-driven: takes what s's reader has queued, on the polling thread
 * with mon->lock held, as the loop's serve_request does in threaded mode
 * (and cut off after as many messages). ETERM closes every reader. */
static void predrain_here_locked (zmqobs_t *obs, zmqobs_socket_t *s)
{
    for (int k = 0;
         k < PREDRAIN_BATCHES * BATCH && s->reader && LOAD (&s->monitor_state) == MS_ACTIVE; k++) {
        int got = zmqobs__monitor_recv (obs, s, s->reader);
        if (got < 0 && errno == ETERM)
            terminate_locked (obs->monitor);
        if (got <= 0)
            break;
    }
}

static void detach_here (zmqobs_t *obs, zmqobs_socket_t *s)
{
    struct zmqobs_monitor *mon = obs->monitor;
    enter (obs);
    pthread_mutex_lock (&mon->lock);
    /* what is queued first: a MONITOR_STOPPED from libzmq's reaper means
     * the host closed the socket too early, and it must not be touched */
    predrain_here_locked (obs, s);
    if (s->reader && LOAD (&s->monitor_state) == MS_ACTIVE && stop_monitor_locked (obs, s))
        adopt_locked (mon, s);
    if (s->reader && LOAD (&s->monitor_state) == MS_ACTIVE) {
        /* everything up to MONITOR_STOPPED is in the pipe already; when
         * the context is terminating, ETERM ends the wait */
        uint64_t deadline = zmqobs__now_ns () + STOP_WAIT_NS;
        while (s->reader && LOAD (&s->monitor_state) == MS_ACTIVE) {
            int got = zmqobs__monitor_recv (obs, s, s->reader);
            if (got < 0) {
                if (errno == ETERM)
                    terminate_locked (mon);
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
                terminate_locked (mon);
                break;
            }
        }
    }
    close_reader (s);
    STORE (&s->monitor_state, MS_DONE);
    remove_entry_locked (mon, s);
    pthread_mutex_unlock (&mon->lock);
    leave (obs);
}

static void request_locked (zmqobs_t *obs, zmqobs_socket_t *s, int op, const char *ep,
                            uint16_t port);

void zmqobs__monitor_detach (zmqobs_t *obs, zmqobs_socket_t *s)
{
    struct zmqobs_monitor *mon = obs->monitor;
    if (obs->host_driven) {
        detach_here (obs, s);
        return;
    }
    pthread_mutex_lock (&mon->lock);
    /* first let the loop take what is queued on this reader: a
     * MONITOR_STOPPED sent by libzmq's reaper for a socket the host closed
     * too early may be there, and then the handle must not be touched */
    request_locked (obs, s, OP_DRAIN, NULL, 0);
    /* stop while the loop keeps draining: libzmq writes MONITOR_STOPPED
     * and closes its side */
    int state = LOAD (&s->monitor_state);
    int closed = stop_monitor_locked (obs, s);
    entry_t *e = find_entry_locked (mon, s);
    if (e && state != MS_DONE) {
        /* Only the loop closes a reader it may be polling: it waits for
         * MONITOR_STOPPED, ETERM or the deadline, or adopts the reader of
         * a socket the host closed. */
        e->deadline_ns = zmqobs__now_ns () + STOP_WAIT_NS;
        STORE (&s->monitor_state, closed ? MS_ORPHAN : MS_STOPPING);
        mon->gen++;
        wake (mon);
        while (LOAD (&s->monitor_state) != MS_DONE)
            pthread_cond_wait (&mon->cond, &mon->lock);
    }
    remove_entry_locked (mon, s);
    pthread_mutex_unlock (&mon->lock);
}

/* ------------------------------------------------------------------------
 * Local disconnect and unbind
 * ---------------------------------------------------------------------- */

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
    if (mon->has_thread && !mon->terminated && LOAD (&s->monitor_state) == MS_ACTIVE) {
        s->req_state = REQ_ASKED;
        wake (mon);
        while (s->req_state == REQ_ASKED && !mon->terminated
               && LOAD (&s->monitor_state) == MS_ACTIVE)
            pthread_cond_wait (&mon->cond, &mon->lock);
        while (s->req_state == REQ_TAKEN)
            pthread_cond_wait (&mon->cond, &mon->lock);
        if (s->req_state == REQ_NONE)
            return;              /* served by the loop */
        s->req_state = REQ_NONE; /* not taken, and now nobody drains s */
    } else if (!mon->has_thread)
        predrain_here_locked (obs, s); /* host-driven: the polling thread */
    apply_request (s);
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
    if (in_callback == s->obs) {
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
    uint16_t port = unbind ? wildcard_port (endpoint, strlen (endpoint)) : 0;
    enter (obs);
    pthread_mutex_lock (&mon->lock);
    request_locked (obs, s, op, endpoint, port);
    pthread_mutex_unlock (&mon->lock);
    leave (obs);
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

/* ------------------------------------------------------------------------
 * Host-driven mode
 * ---------------------------------------------------------------------- */

int zmqobs_pollitems (zmqobs_t *self, zmq_pollitem_t *items, int size)
{
    if (!self || (!items && size > 0) || size < 0) {
        errno = EINVAL;
        return -1;
    }
    if (!self->host_driven) {
        errno = ENOTSUP;
        return -1;
    }
    struct zmqobs_monitor *mon = self->monitor;
    pthread_mutex_lock (&mon->lock);
    refresh_locked (self);
    size_t nr = mon->nslots;
    int nh = http_items (self);
    size_t total = 1 + nr + (size_t) nh;
    for (size_t i = 0; i < total && i < (size_t) size; i++) {
        items[i] = mon->items[i];
        items[i].revents = 0;
    }
    pthread_mutex_unlock (&mon->lock);
    return (int) total;
}

int zmqobs_process (zmqobs_t *self, long timeout_ms)
{
    if (!self) {
        errno = EINVAL;
        return -1;
    }
    if (!self->host_driven) {
        errno = ENOTSUP;
        return -1;
    }
    struct zmqobs_monitor *mon = self->monitor;
    pthread_mutex_lock (&mon->lock);
    while (LOAD (&mon->waiters) > 0)
        pthread_cond_wait (&mon->cond, &mon->lock);
    if (mon->terminated) {
        pthread_mutex_unlock (&mon->lock);
        errno = ETERM;
        return -1;
    }
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
    pthread_mutex_unlock (&mon->lock);
    if (rc < 0 && err != EINTR) {
        errno = err;
        return -1;
    }
    return total;
}

/* ------------------------------------------------------------------------
 * Readiness
 * ---------------------------------------------------------------------- */

/* A socket name on one line: control characters, quotes and backslashes
 * escaped, so a hostile name cannot forge extra lines. */
static void put_name (sbuf_t *b, const char *name, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    put (b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) name[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char) c};
            put (b, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            put (b, esc, 4);
        } else
            put (b, name + i, 1);
    }
    put (b, "\"", 1);
}

int zmqobs_ready (zmqobs_t *self, char *reason, size_t size)
{
    if (!self || (!reason && size > 0)) {
        errno = EINVAL;
        return -1;
    }
    sbuf_t b = {reason, size, 0};
    int ready = 1;
    char text[96];
    pthread_mutex_lock (&self->lock);
    if (!self->sockets)
        put (&b, "no sockets attached\n", 20);
    for (zmqobs_socket_t *s = self->sockets; s; s = s->next) {
        const zmqobs_mon_block_t *m = &s->mon;
        int bound = LOAD (&m->bound), connecting = LOAD (&m->connecting);
        uint64_t listening = LOAD (&m->listening);
        int64_t conns = LOAD (&m->connections);
        int ok = 1;
        int n;
        if (!bound && !connecting) {
            ok = 0;
            n = snprintf (text, sizeof text, ": not ready: no endpoint yet\n");
        } else if (bound && listening == 0) {
            ok = 0;
            if (m->last_error_event == ZMQ_EVENT_BIND_FAILED)
                n = snprintf (text, sizeof text, ": not ready: bind failed (%s)\n",
                              errno_text ((int) m->last_error_value));
            else
                n = snprintf (text, sizeof text, ": not ready: not listening\n");
        } else if (connecting && conns <= 0) {
            ok = 0;
            n = snprintf (text, sizeof text, ": not ready: no connected peer\n");
        } else
            n = snprintf (text, sizeof text, ": ready: listening %llu, connections %lld\n",
                          (unsigned long long) listening, (long long) conns);
        put (&b, "socket ", 7);
        put_name (&b, s->name, s->name_len);
        put (&b, text, n > 0 ? (size_t) n : 0);
        ready &= ok;
    }
    pthread_mutex_unlock (&self->lock);
    if (size)
        reason[b.len < size ? b.len : size - 1] = '\0';
    return ready;
}
