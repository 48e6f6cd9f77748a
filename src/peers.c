/*
 * peers.c - bounded per-peer traffic of one socket.
 *
 * A table of at most cap peers, found by an open-addressing hash of their
 * key (linear probing, deletion by backward shift), and chosen by the
 * space-saving scheme: a new peer arriving at a full table takes the slot
 * of the tracked peer with the least weight (parts counted, inherited
 * weight included), whose counts move to "other". Counting is the owner
 * thread's alone (single-writer stores); a change of who holds a slot,
 * and a copy for a scrape, happen under the table's lock, so a copy
 * never sees a key with another peer's counts.
 *
 * SPDX-License-Identifier: MIT
 */
#include "peers.h"

#include <pthread.h>
#include <string.h>

typedef struct {
    zmqobs__peer_ctr_t c; /* first: a counter pointer is an entry pointer */
    uint64_t err;         /* weight inherited on entry (under lock) */
    uint64_t first_ns;    /* CLOCK_REALTIME on entry (under lock) */
    uint64_t seen_ns;     /* last read that saw the counts move (lock) */
    uint64_t seen_total;  /* in + out parts at that read (lock) */
    uint64_t key64;       /* a key of at most 8 bytes, packed (see pack) */
    uint32_t hash;
    uint32_t key_len;
    uint8_t key[ZMQOBS_PEER_KEY_MAX];
} entry_t;

struct zmqobs_peers {
    zmqobs__peer_hot_t hot; /* first: the inline counting path reads it */
    pthread_mutex_t lock;
    int key;
    int sock_type;
    uint32_t cap;
    uint32_t n; /* entries in use: owner writes under lock */
    uint32_t mask;
    uint32_t *index; /* mask + 1 slots: entry number + 1, 0 = empty */
    entry_t *e;
    zmqobs__peer_ctr_t other;
    uint64_t pend_msgs, pend_bytes; /* parts whose peer the next names */
    entry_t *last;                  /* the entry found last (owner) */
    zmqobs_peer_stats_t *scratch;   /* cap + 1 entries, for scrapes */
    uint64_t since_ns;              /* CLOCK_REALTIME when tracking began */
    size_t snap_len;                /* peers in scratch after peers_snap */
};

zmqobs_peers_t *zmqobs__peers_new (unsigned max_peers, int key, int sock_type)
{
    zmqobs_peers_t *p = zmqobs__calloc (1, sizeof *p);
    if (!p)
        return NULL;
    uint32_t slots = 4;
    while (slots < 2u * max_peers)
        slots <<= 1;
    p->cap = max_peers;
    p->mask = slots - 1;
    p->key = key;
    p->sock_type = sock_type;
    p->index = zmqobs__calloc (slots, sizeof *p->index);
    p->e = zmqobs__calloc (max_peers, sizeof *p->e);
    p->scratch = zmqobs__calloc ((size_t) max_peers + 1, sizeof *p->scratch);
    if (!p->index || !p->e || !p->scratch || pthread_mutex_init (&p->lock, NULL) != 0) {
        zmqobs__free (p->index);
        zmqobs__free (p->e);
        zmqobs__free (p->scratch);
        zmqobs__free (p);
        errno = ENOMEM;
        return NULL;
    }
    p->hot.cur_in = p->hot.cur_out = &p->other;
    p->hot.need_in = p->hot.need_out = 1;
    p->since_ns = zmqobs__wall_ns ();
    return p;
}

void zmqobs__peers_free (zmqobs_peers_t *p)
{
    if (!p)
        return;
    pthread_mutex_destroy (&p->lock);
    zmqobs__free (p->index);
    zmqobs__free (p->e);
    zmqobs__free (p->scratch);
    zmqobs__free (p);
}

int zmqobs__peers_key (const zmqobs_peers_t *p)
{
    return p->key;
}

unsigned zmqobs__peers_cap (const zmqobs_peers_t *p)
{
    return p->cap;
}

zmqobs_peer_stats_t *zmqobs__peers_scratch (zmqobs_peers_t *p)
{
    return p->scratch;
}

/* A key of at most 8 bytes (libzmq's own routing ids have 5) packed
 * into a word: hashed with one multiply and compared in one go. */
static uint64_t pack (const uint8_t *k, size_t n)
{
    if (n >= 4) {
        /* two loads that overlap when n < 8; with n compared apart, the
         * word names the key */
        uint32_t a, b;
        memcpy (&a, k, 4);
        memcpy (&b, k + n - 4, 4);
        return (uint64_t) a << 32 | b;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | k[i];
    return v;
}

/* Longer keys (IP addresses, chosen routing ids): FNV-1a. */
static uint32_t key_hash (const uint8_t *k, size_t n, uint64_t packed)
{
    if (n <= 8)
        return (uint32_t) ((packed * 0x9e3779b97f4a7c15ull) >> 32) ^ (uint32_t) n;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 16777619u;
    return h;
}

static void index_insert (zmqobs_peers_t *p, uint32_t slot_of_entry, uint32_t h)
{
    uint32_t i = h & p->mask;
    while (p->index[i])
        i = (i + 1) & p->mask;
    p->index[i] = slot_of_entry + 1;
}

/* Removes entry number idx from the index (backward-shift deletion, so
 * that no probe chain is broken and no tombstone is left). */
static void index_remove (zmqobs_peers_t *p, uint32_t idx)
{
    uint32_t i = p->e[idx].hash & p->mask;
    while (p->index[i] != idx + 1)
        i = (i + 1) & p->mask;
    uint32_t j = i;
    for (;;) {
        p->index[i] = 0;
        for (;;) {
            j = (j + 1) & p->mask;
            if (!p->index[j])
                return;
            uint32_t home = p->e[p->index[j] - 1].hash & p->mask;
            /* move j back to i unless its home lies cyclically in (i, j] */
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
                break;
        }
        p->index[i] = p->index[j];
        i = j;
    }
}

static void ctr_move (zmqobs__peer_ctr_t *to, zmqobs__peer_ctr_t *from)
{
    BUMP (&to->in_msgs, LOAD (&from->in_msgs));
    BUMP (&to->in_bytes, LOAD (&from->in_bytes));
    BUMP (&to->out_msgs, LOAD (&from->out_msgs));
    BUMP (&to->out_bytes, LOAD (&from->out_bytes));
    STORE (&from->in_msgs, 0);
    STORE (&from->in_bytes, 0);
    STORE (&from->out_msgs, 0);
    STORE (&from->out_bytes, 0);
}

/* A peer not in the table: it takes a free entry, or the one with the
 * least weight (space-saving). Owner thread. */
static zmqobs__peer_ctr_t *admit (zmqobs_peers_t *p, const uint8_t *key, size_t len, uint32_t h,
                                  uint64_t packed)
{
    if (p->cap == 0)
        return &p->other;
    int err = errno;
    uint64_t now = zmqobs__wall_ns ();
    pthread_mutex_lock (&p->lock);
    uint32_t idx;
    entry_t *e;
    uint64_t inherit = 0;
    if (p->n < p->cap) {
        idx = p->n;
        e = &p->e[idx];
        STORE (&p->n, p->n + 1);
    } else {
        idx = 0;
        for (uint32_t i = 1; i < p->n; i++)
            if (p->e[i].c.weight < p->e[idx].c.weight)
                idx = i;
        e = &p->e[idx];
        index_remove (p, idx);
        ctr_move (&p->other, &e->c);
        if (p->hot.cur_in == &e->c)
            p->hot.cur_in = &p->other;
        if (p->hot.cur_out == &e->c)
            p->hot.cur_out = &p->other;
        if (p->last == e)
            p->last = NULL;
        inherit = e->c.weight;
    }
    e->c.weight = inherit;
    e->err = inherit;
    e->first_ns = now;
    e->seen_ns = now;
    e->seen_total = 0;
    e->hash = h;
    e->key64 = packed;
    e->key_len = (uint32_t) len;
    memcpy (e->key, key, len);
    index_insert (p, idx, h);
    pthread_mutex_unlock (&p->lock);
    errno = err;
    return &e->c;
}

static int same_key (const entry_t *e, const uint8_t *key, size_t len, uint64_t packed)
{
    if (e->key_len != len)
        return 0;
    if (len <= 8)
        return e->key64 == packed;
    return memcmp (e->key, key, len) == 0;
}

static zmqobs__peer_ctr_t *lookup (zmqobs_peers_t *p, const uint8_t *key, size_t len)
{
    if (!key || len == 0 || len > ZMQOBS_PEER_KEY_MAX)
        return &p->other;
    uint64_t packed = len <= 8 ? pack (key, len) : 0;
    /* a reply usually goes to the peer whose request came last */
    entry_t *last = p->last;
    if (last && same_key (last, key, len, packed))
        return &last->c;
    uint32_t h = key_hash (key, len, packed);
    for (uint32_t i = h & p->mask;; i = (i + 1) & p->mask) {
        uint32_t v = p->index[i];
        if (!v)
            break;
        entry_t *e = &p->e[v - 1];
        if (e->hash == h && same_key (e, key, len, packed)) {
            p->last = e;
            return &e->c;
        }
    }
    zmqobs__peer_ctr_t *c = admit (p, key, len, h, packed);
    p->last = c == &p->other ? NULL : (entry_t *) c;
    return c;
}

void zmqobs__peers_in_start (zmqobs_peers_t *p, const void *data, size_t len, zmq_msg_t *msg,
                             uint64_t bytes, int more)
{
    zmqobs__peer_ctr_t *c;
    if (p->key == ZMQOBS_PEER_ROUTING_ID) {
        if (msg && !data) {
            data = zmq_msg_data (msg);
            len = (size_t) bytes;
        }
        c = lookup (p, data, len);
    } else {
        int err = errno; /* zmq_msg_gets sets it when there is none */
        const char *addr = msg ? zmq_msg_gets (msg, "Peer-Address") : NULL;
        errno = err;
        if (!addr && msg && more) {
            /* a ROUTER's routing-id frame, when zmq_poll prefetched it,
             * comes without the connection's properties in libzmq 4.3:
             * the next part names the peer */
            p->pend_msgs++;
            p->pend_bytes += bytes;
            return; /* need_in stays set */
        }
        c = lookup (p, (const uint8_t *) addr, addr ? strlen (addr) : 0);
        if (p->pend_msgs) {
            BUMP (&c->in_msgs, p->pend_msgs);
            BUMP (&c->in_bytes, p->pend_bytes);
            c->weight += p->pend_msgs;
            p->pend_msgs = p->pend_bytes = 0;
        }
    }
    p->hot.cur_in = c;
    p->hot.need_in = !more;
    BUMP (&c->in_msgs, 1);
    BUMP (&c->in_bytes, bytes);
    c->weight++;
}

zmqobs__peer_ctr_t *zmqobs__peers_resolve_out (zmqobs_peers_t *p, const void *data, size_t len,
                                               zmq_msg_t *msg)
{
    if (p->key == ZMQOBS_PEER_ROUTING_ID) {
        if (!data && msg) {
            data = zmq_msg_data (msg);
            len = zmq_msg_size (msg);
        }
        return lookup (p, data, len);
    }
    /* by address: a REP's reply goes to the requester */
    return p->sock_type == ZMQ_REP ? p->hot.cur_in : &p->other;
}

size_t zmqobs__peer_name (char *dst, const uint8_t *key, size_t len)
{
    int text = len > 0 && len <= ZMQOBS_PEER_KEY_MAX;
    for (size_t i = 0; text && i < len; i++)
        text = key[i] >= 0x20 && key[i] < 0x7f;
    /* "other" is the untracked peers' name, "0x..." the hex form's */
    if (text
        && ((len == 5 && memcmp (key, "other", 5) == 0)
            || (len >= 2 && key[0] == '0' && key[1] == 'x')))
        text = 0;
    if (text) {
        memcpy (dst, key, len);
        dst[len] = '\0';
        return len;
    }
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    dst[n++] = '0';
    dst[n++] = 'x';
    for (size_t i = 0; i < len && i < ZMQOBS_PEER_KEY_MAX; i++) {
        dst[n++] = hex[key[i] >> 4];
        dst[n++] = hex[key[i] & 15];
    }
    dst[n] = '\0';
    return n;
}

static void ctr_copy (zmqobs_peer_stats_t *d, const zmqobs__peer_ctr_t *c)
{
    d->msgs_received = LOAD (&c->in_msgs);
    d->bytes_received = LOAD (&c->in_bytes);
    d->msgs_sent = LOAD (&c->out_msgs);
    d->bytes_sent = LOAD (&c->out_bytes);
}

static void other_locked (zmqobs_peers_t *p, zmqobs_peer_stats_t *other)
{
    memset (other, 0, sizeof *other);
    memcpy (other->peer, "other", 6);
    ctr_copy (other, &p->other);
    other->first_seen_ns = other->last_seen_ns = p->since_ns;
}

static size_t copy_locked (zmqobs_peers_t *p, zmqobs_peer_stats_t *out, size_t max, uint64_t now)
{
    size_t n = LOAD (&p->n);
    for (size_t i = 0; i < n; i++) {
        entry_t *e = &p->e[i];
        zmqobs_peer_stats_t tmp, *d = i < max ? &out[i] : &tmp;
        ctr_copy (d, &e->c);
        uint64_t total = d->msgs_received + d->msgs_sent;
        if (total != e->seen_total) {
            e->seen_total = total;
            e->seen_ns = now;
        }
        if (i >= max)
            continue;
        zmqobs__peer_name (d->peer, e->key, e->key_len);
        d->error = e->err;
        d->first_seen_ns = e->first_ns;
        d->last_seen_ns = e->seen_ns;
    }
    return n;
}

size_t zmqobs__peers_copy (zmqobs_peers_t *p, zmqobs_peer_stats_t *out, size_t max,
                           zmqobs_peer_stats_t *other)
{
    uint64_t now = zmqobs__wall_ns ();
    pthread_mutex_lock (&p->lock);
    size_t n = copy_locked (p, out, max, now);
    if (other)
        other_locked (p, other);
    pthread_mutex_unlock (&p->lock);
    return n;
}

size_t zmqobs__peers_snap (zmqobs_peers_t *p)
{
    uint64_t now = zmqobs__wall_ns ();
    pthread_mutex_lock (&p->lock);
    size_t n = copy_locked (p, p->scratch, p->cap, now);
    p->snap_len = n < p->cap ? n : p->cap;
    other_locked (p, &p->scratch[p->snap_len]);
    pthread_mutex_unlock (&p->lock);
    return p->snap_len;
}

size_t zmqobs__peers_snap_len (const zmqobs_peers_t *p)
{
    return p->snap_len;
}
