/*
 * metrics.c - the per-socket metric block: the out-of-line parts of the
 * send/recv wrappers, automatic REQ/REP latency, the shared-writer latency
 * path, and snapshots with exact window quantiles.
 *
 * SPDX-License-Identifier: MIT
 */
#include "metrics.h"

#include "peers.h"

#include <float.h>
#include <string.h>

enum { CYCLE_IDLE = 0, CYCLE_TIMING = 1, CYCLE_ARMED = 2 };

void zmqobs__build_lut (const uint64_t *bounds, uint32_t n, uint8_t lut[64])
{
    /* A value whose highest set bit is k lies in [2^k, 2^(k+1)); lut[k]
     * is the first bucket whose bound is >= 2^k: every earlier bound is
     * below the value, so the scan may start there. (63 ^ clz is the bit
     * index, one bsr instruction.) */
    uint32_t i = 0;
    for (unsigned k = 0; k < 64; k++) {
        uint64_t low = (uint64_t) 1 << k;
        while (i < n && bounds[i] < low)
            i++;
        lut[k] = (uint8_t) i;
    }
}

void zmqobs__metrics_init (zmqobs_socket_t *s, const zmqobs_t *obs, int type)
{
    zmqobs_hot_t *h = &s->hot;
    s->type = type;
    h->ring = NULL; /* allocated by the first sample: see first_sample */
    h->native = NULL; /* likewise, with native_histograms */
    h->ring_mask = obs->ring_capacity - 1;
    /* bounds and lookup table copied into the hot block: the record path
     * then reaches them without loading a pointer */
    memcpy (h->lut, obs->lut, sizeof h->lut);
    h->hist_n = obs->bucket_count;
    for (uint32_t i = 0; i < obs->bucket_count; i++)
        h->bucket[i].le_ns = obs->bounds[i];
    h->bucket[obs->bucket_count].le_ns = UINT64_MAX; /* +Inf, the sentinel */
    h->slow = 1; /* no ring yet; with latency_shared, for good */
    for (unsigned i = 0; i < ZMQOBS__ENGINE_SLOTS; i++)
        s->mon.engines[i].fd = -1;
    if ((type == ZMQ_REQ || type == ZMQ_REP) && obs->sample_every) {
        s->cycle_every = obs->sample_every;
        h->cycle_every = obs->sample_every;
        /* Both kinds time their first cycle, then one in cycle_every. */
        if (type == ZMQ_REQ) {
            h->cycle_left = 1;
        } else {
            h->cycle_left = obs->sample_every;
            s->cycle = CYCLE_ARMED;
        }
    }
    zmqobs__hooks_update (s);
    zmqobs__read_hwm (s);
    s->cached_head = UINT64_MAX;
}

void zmqobs_i_send_failed (zmqobs_socket_t *s)
{
    int err = errno;
    zmqobs_record_error (s, ZMQOBS_OP_SEND, err);
    errno = err;
}

void zmqobs_i_recv_failed (zmqobs_socket_t *s)
{
    int err = errno;
    zmqobs_record_error (s, ZMQOBS_OP_RECV, err);
    errno = err;
}

int zmqobs_record_error (zmqobs_socket_t *s, int op, int err)
{
    if (!s || (op != ZMQOBS_OP_SEND && op != ZMQOBS_OP_RECV)) {
        errno = EINVAL;
        return -1;
    }
    BUMP (&s->errors[op][zmqobs__errno_slot (err)], 1);
    return 0;
}

/* The hooks the inline wrappers test: sends go out of line while latency
 * is sampled or peers are tracked, and receives end out of line while a
 * cycle waits for one or peers are tracked. Owner thread. */
void zmqobs__hooks_update (zmqobs_socket_t *s)
{
    /* with per-peer metrics every send ends out of line, which runs the
     * sampling countdown too (with the period kept in s) */
    s->hot.send_hook = s->peers != NULL;
    s->hot.cycle_every = s->peers ? 1 : s->cycle_every;
    s->hot.recv_hook = s->cycle != CYCLE_IDLE || s->peers;
}

static void set_cycle (zmqobs_socket_t *s, uint32_t state)
{
    s->cycle = state;
    s->hot.recv_hook = state != CYCLE_IDLE || s->peers;
}

/* After the final part of a message was sent, when a sampled cycle starts
 * (REQ) or ends (REP), or when timing is in progress. */
void zmqobs_i_cycle_send (zmqobs_socket_t *s)
{
    zmqobs_hot_t *h = &s->hot;
    if (s->type == ZMQ_REQ) {
        if (h->cycle_left == 0) {
            h->cycle_left = s->cycle_every;
            h->cycle_start = zmqobs__now_ns ();
            set_cycle (s, CYCLE_TIMING);
        } else {
            /* a new request before the reply (ZMQ_REQ_RELAXED): give up */
            set_cycle (s, CYCLE_IDLE);
        }
        return;
    }
    if (s->cycle == CYCLE_TIMING) {
        zmqobs_record_latency (s, zmqobs__now_ns () - h->cycle_start);
        set_cycle (s, CYCLE_IDLE);
    }
    if (h->cycle_left == 0) {
        h->cycle_left = s->cycle_every;
        set_cycle (s, CYCLE_ARMED);
    }
}

/* After a part was received while a cycle waits for one. */
static void cycle_recv (zmqobs_socket_t *s, int more)
{
    zmqobs_hot_t *h = &s->hot;
    if (more)
        return; /* the cycle turns on the last part only */
    if (s->type == ZMQ_REQ) {
        if (s->cycle == CYCLE_TIMING) {
            zmqobs_record_latency (s, zmqobs__now_ns () - h->cycle_start);
            set_cycle (s, CYCLE_IDLE);
        }
    } else if (s->cycle == CYCLE_ARMED) {
        h->cycle_start = zmqobs__now_ns ();
        set_cycle (s, CYCLE_TIMING);
    }
}

/* What follows the counting of a part sent, to peer pc (NULL: as
 * zmqobs__peers_out says), when per-peer metrics are on. errno is kept. */
static inline __attribute__ ((always_inline)) void
sent_part (zmqobs_socket_t *s, zmqobs__peer_ctr_t *pc, uint64_t bytes, int flags)
{
    zmqobs_hot_t *h = &s->hot;
    if (s->peers)
        zmqobs__peers_out (s->peers, pc, bytes, flags & ZMQ_SNDMORE);
    if (s->cycle_every && !(flags & ZMQ_SNDMORE)) {
        uint32_t left = h->cycle_left - 1;
        h->cycle_left = left;
        if (left == 0 || s->cycle != CYCLE_IDLE)
            zmqobs_i_cycle_send (s);
    }
}

static inline __attribute__ ((always_inline)) void received_part (zmqobs_socket_t *s,
                                                                  const void *key, size_t klen,
                                                                  zmq_msg_t *msg, uint64_t bytes,
                                                                  int more)
{
    if (s->peers)
        zmqobs__peers_in (s->peers, key, klen, msg, bytes, more);
    if (s->cycle != CYCLE_IDLE)
        cycle_recv (s, more);
}

/* The peer a part about to be sent starts a message for, or NULL. */
static zmqobs__peer_ctr_t *out_peer (zmqobs_socket_t *s, const void *buf, size_t len,
                                     zmq_msg_t *msg)
{
    zmqobs_peers_t *p = s->peers;
    if (!p || !((zmqobs__peer_hot_t *) p)->need_out)
        return NULL;
    return zmqobs__peers_resolve_out (p, buf, len, msg);
}

/* After zmqobs_send or zmqobs_record_sent counted a part, with per-peer
 * metrics on: buf is the part's bytes (a routing id names the peer) or
 * NULL. */
void zmqobs_i_sent_hook (zmqobs_socket_t *s, const void *buf, uint64_t bytes, int flags)
{
    sent_part (s, buf ? out_peer (s, buf, (size_t) bytes, NULL) : NULL, bytes, flags);
}

int zmqobs_i_msg_send (zmq_msg_t *msg, zmqobs_socket_t *s, int flags)
{
    /* the peer is found before the send empties msg */
    zmqobs__peer_ctr_t *pc = msg ? out_peer (s, NULL, 0, msg) : NULL;
    int rc = zmq_msg_send (msg, s->hot.handle, flags);
    if (rc < 0) {
        zmqobs_i_send_failed (s);
        return rc;
    }
    BUMP (&s->hot.sent_msgs, 1);
    BUMP (&s->hot.sent_bytes, (uint64_t) rc);
    sent_part (s, pc, (uint64_t) rc, flags);
    return rc;
}

void zmqobs_i_recv_hook (zmqobs_socket_t *s, const void *buf, size_t len, int rc)
{
    int err = errno;
    int more = 0;
    size_t size = sizeof more;
    if (zmq_getsockopt (s->hot.handle, ZMQ_RCVMORE, &more, &size) != 0)
        more = 0;
    /* a truncated part's bytes are not the whole key */
    size_t got = (size_t) rc;
    received_part (s, got <= len ? buf : NULL, got, NULL, got, more);
    errno = err;
}

void zmqobs_i_msg_recv_hook (zmqobs_socket_t *s, zmq_msg_t *msg, int rc)
{
    /* the part's bytes are read only where a message starts; errno is
     * kept by whatever below could change it (admission, properties) */
    received_part (s, NULL, 0, msg, (uint64_t) rc, zmq_msg_more (msg));
}

void zmqobs_i_received_hook (zmqobs_socket_t *s, size_t len, int more)
{
    int err = errno;
    received_part (s, NULL, 0, NULL, len, more);
    errno = err;
}

void zmqobs__read_hwm (zmqobs_socket_t *s)
{
    int err = errno;
    int v = 0;
    size_t size = sizeof v;
    STORE (&s->sndhwm, zmq_getsockopt (s->hot.handle, ZMQ_SNDHWM, &v, &size) == 0 ? v : -1);
    size = sizeof v;
    STORE (&s->rcvhwm, zmq_getsockopt (s->hot.handle, ZMQ_RCVHWM, &v, &size) == 0 ? v : -1);
    errno = err;
}

void zmqobs__metrics_fini (zmqobs_socket_t *s)
{
    zmqobs__free (s->hot.ring);
    s->hot.ring = NULL;
    zmqobs__peers_free (s->peers);
    s->peers = NULL;
    zmqobs__free (s->hot.native);
    s->hot.native = NULL;
    zmqobs__free (s->exemplars);
    s->exemplars = NULL;
}

static zmqobs_hot_bucket_t *bucket_of (zmqobs_hot_t *h, uint64_t ns)
{
    zmqobs_hot_bucket_t *b = &h->bucket[h->lut[63 ^ __builtin_clzll (ns | 1)]];
    while (ns > b->le_ns)
        b++;
    return b;
}

/* Any-thread record into the histogram: atomic read-modify-write. */
static inline void shared_histogram (zmqobs_hot_t *h, uint64_t ns)
{
    ADD (&bucket_of (h, ns)->count, 1);
    /* the sum saturates instead of wrapping (a wrapped _sum looks like a
     * counter reset); with several writers that takes a CAS loop */
    uint64_t sum = LOAD (&h->hist_sum);
    while (sum != UINT64_MAX
           && !__atomic_compare_exchange_n (&h->hist_sum, &sum,
                                            sum + ns < sum ? UINT64_MAX : sum + ns, 1,
                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* Any-thread record into the ring. Claim a slot, store the sample, then
 * publish: ring_head counts published samples, so a scrape (and its
 * cache, keyed on ring_head) never sees a slot claimed but not yet
 * written as the newest sample. */
static inline void shared_ring (zmqobs_socket_t *s, uint64_t *ring, uint64_t ns)
{
    uint64_t slot = ADD (&s->ring_claim, 1);
    STORE (&ring[slot & s->hot.ring_mask], ns);
    /* release: pairs with the snapshot's acquire load of ring_head */
    __atomic_fetch_add (&s->hot.ring_head, 1, __ATOMIC_RELEASE);
}

/* Publishes a zeroed array of n counts at *slot unless one is there, and
 * returns the one in place (NULL if none and the allocation failed).
 * With latency_shared several threads can get here at once: each
 * allocates, one compare-and-swap publishes, the others free theirs. */
static uint64_t *publish_zeroed (uint64_t **slot, size_t n)
{
    /* acquire: pairs with the CAS below of another thread */
    uint64_t *cur = __atomic_load_n (slot, __ATOMIC_ACQUIRE);
    if (cur)
        return cur;
    uint64_t *fresh = zmqobs__calloc (n, sizeof *fresh);
    if (!fresh)
        return NULL;
    /* release on success: publishes the zeroed array (snapshots and
     * other writers load it with acquire); acquire on failure: the
     * winner's array, zeroed before it was published */
    if (__atomic_compare_exchange_n (slot, &cur, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return fresh;
    zmqobs__free (fresh);
    return cur;
}

/* The native slot of ns (zmqobs_inline.h explains the tables). */
static inline unsigned native_slot (uint64_t ns)
{
    return (unsigned) zmqobs_i_native_slot (ns, 63u ^ (uint64_t) __builtin_clzll (ns | 1));
}

/* A sample that finds no ring (or, with native_histograms, no native
 * buckets): the socket's first, normally. They are allocated here, so
 * that sockets that never record latency pay nothing for them. They are
 * zeroed: a shared writer may publish its sample before a slower one has
 * filled the slot it claimed earlier, and the window then reads a zero
 * there, as it did when the ring was part of the socket block. If an
 * allocation fails the sample counts in what exists (the classic
 * histogram always), and the next sample comes here again. */
static __attribute__ ((noinline)) void first_sample (zmqobs_socket_t *s, uint64_t ns)
{
    zmqobs_hot_t *h = &s->hot;
    uint64_t *ring = publish_zeroed (&h->ring, (size_t) h->ring_mask + 1);
    uint64_t *nat = s->obs->native ? publish_zeroed (&h->native, ZMQOBS_I_NATIVE_SLOTS) : NULL;
    if (!s->obs->latency_shared) {
        /* owner thread: the only reader and writer of slow */
        if (ring && (nat || !s->obs->native)) {
            h->slow = 0; /* from now on the inline path does it all */
            zmqobs_record_latency (s, ns);
        } else {
            zmqobs_hot_bucket_t *b = bucket_of (h, ns);
            ZMQOBS_I_BUMP (&b->count, 1);
            ZMQOBS_I_BUMP_SAT (&h->hist_sum, ns);
            if (nat)
                ZMQOBS_I_BUMP (&nat[native_slot (ns)], 1);
        }
        return;
    }
    shared_histogram (h, ns);
    if (nat)
        ADD (&nat[native_slot (ns)], 1);
    if (ring)
        shared_ring (s, ring, ns);
}

/* The out-of-line latency record: every sample of a latency_shared
 * socket, and those of an owner-thread socket while it has no ring (or
 * no native buckets it needs). An owner-thread socket clears slow as
 * soon as it has both, so finding them here means latency_shared. */
void zmqobs_i_latency_slow (zmqobs_socket_t *s, uint64_t ns)
{
    /* acquire: pairs with the CAS that published the ring (or the native
     * buckets), so that its zeroing happens before this thread's store
     * into it */
    uint64_t *ring = __atomic_load_n (&s->hot.ring, __ATOMIC_ACQUIRE);
    uint64_t *nat = __atomic_load_n (&s->hot.native, __ATOMIC_ACQUIRE);
    if (ZMQOBS_UNLIKELY (!ring || (!nat && s->obs->native))) {
        first_sample (s, ns);
        return;
    }
    shared_histogram (&s->hot, ns);
    if (nat)
        ADD (&nat[native_slot (ns)], 1);
    shared_ring (s, ring, ns);
}

void zmqobs_set_queue_depth (zmqobs_socket_t *s, int64_t depth)
{
    if (s)
        STORE (&s->queue_depth, depth);
}

void zmqobs_add_queue_depth (zmqobs_socket_t *s, int64_t delta)
{
    if (s)
        ADD (&s->queue_depth, delta);
}

int zmqobs__socket_snapshot (const zmqobs_socket_t *cs, zmqobs_stats_t *out)
{
    /* The quantile cache is mutable state behind a const handle, guarded
     * by the observer's scratch lock. */
    zmqobs_socket_t *s = (zmqobs_socket_t *) cs;
    const zmqobs_hot_t *h = &s->hot;
    zmqobs_t *obs = s->obs;
    memset (out, 0, sizeof *out);
    memcpy (out->name, s->name, s->name_len + 1);
    out->type = s->type;
    out->attached_ns = s->attached_wall_ns;
    out->uptime_ns = zmqobs__now_ns () - s->attached_mono_ns;
    out->msgs_sent = LOAD (&h->sent_msgs);
    out->bytes_sent = LOAD (&h->sent_bytes);
    out->msgs_received = LOAD (&h->recv_msgs);
    out->bytes_received = LOAD (&h->recv_bytes);
    for (int op = 0; op < 2; op++)
        for (int i = 0; i < ZMQOBS_ERRNO_SLOTS; i++)
            out->errors[op][i] = LOAD (&s->errors[op][i]);
    out->queue_depth = LOAD (&s->queue_depth);

    const zmqobs_mon_block_t *m = &s->mon;
    for (int i = 0; i < ZMQOBS_EVENT_SLOTS; i++)
        out->events[i] = LOAD (&m->events[i]);
    int64_t conn = LOAD (&m->connections);
    out->connections = conn < 0 ? 0 : conn;
    out->listening = LOAD (&m->listening);
    out->reconnects = LOAD (&m->reconnects);
    for (int i = 0; i < ZMQOBS_HANDSHAKE_SLOTS; i++)
        out->handshake_failures[i] = LOAD (&m->handshake_failures[i]);
    out->malformed_events = LOAD (&m->malformed);
    out->monitor_up = LOAD (&m->monitor_up);
    out->sndhwm = LOAD (&s->sndhwm);
    out->rcvhwm = LOAD (&s->rcvhwm);
    out->proxy = LOAD (&s->proxy);
    out->proxy_in_flight = LOAD (&s->proxy_in_flight);
    pthread_mutex_lock (&obs->error_lock);
    out->last_error_event = m->last_error_event;
    out->last_error_value = m->last_error_value;
    memcpy (out->last_error_endpoint, m->last_error_endpoint, sizeof out->last_error_endpoint);
    pthread_mutex_unlock (&obs->error_lock);

    out->bucket_count = h->hist_n;
    uint64_t total = 0;
    for (uint32_t i = 0; i <= h->hist_n; i++) {
        if (i < h->hist_n)
            out->bounds_ns[i] = h->bucket[i].le_ns;
        out->buckets[i] = LOAD (&h->bucket[i].count);
        total += out->buckets[i];
    }
    out->latency_count = total;
    out->latency_sum_ns = LOAD (&h->hist_sum);

    /* acquire: pairs with the writer's release of ring_head */
    uint64_t head = __atomic_load_n (&h->ring_head, __ATOMIC_ACQUIRE);
    /* acquire: pairs with the CAS that published the ring. Loaded after
     * the head: a writer publishes a sample only once it has the ring, so
     * a head above 0 comes with a ring. No ring: an empty window. */
    const uint64_t *ring = __atomic_load_n (&h->ring, __ATOMIC_ACQUIRE);
    if (!ring)
        head = 0;
    pthread_mutex_lock (&obs->scratch_lock);
    if (s->cached_head != head) {
        zmqobs__window (ring, head, h->ring_mask + 1, obs->scratch, &s->cached_window);
        s->cached_head = head;
    }
    out->window = s->cached_window;
    pthread_mutex_unlock (&obs->scratch_lock);
    return 0;
}

size_t zmqobs__socket_window_copy (const zmqobs_socket_t *s, uint64_t *dst)
{
    const zmqobs_hot_t *h = &s->hot;
    /* acquire, head then ring: as in zmqobs__socket_snapshot */
    uint64_t head = __atomic_load_n (&h->ring_head, __ATOMIC_ACQUIRE);
    const uint64_t *ring = __atomic_load_n (&h->ring, __ATOMIC_ACQUIRE);
    if (!ring)
        return 0;
    size_t cap = (size_t) h->ring_mask + 1;
    size_t n = head < cap ? (size_t) head : cap;
    for (size_t i = 0; i < n; i++)
        dst[i] = LOAD (&ring[i]);
    return n;
}

int zmqobs_socket_stats (const zmqobs_socket_t *s, zmqobs_stats_t *out)
{
    if (!s || !out) {
        errno = EINVAL;
        return -1;
    }
    /* no registry lock: the caller owns s, and a scrape never holds a
     * lock this waits on for longer than one socket's copy */
    return zmqobs__socket_snapshot (s, out);
}

void zmqobs__socket_free (zmqobs_socket_t *s)
{
    zmqobs__metrics_fini (s);
    zmqobs__free (s);
}
