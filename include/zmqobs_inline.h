/*
 * zmqobs_inline.h - the hot path of libzmqobs: the send/recv wrappers and
 * the record calls, inline in the caller. Included by zmqobs.h; never
 * include it on its own.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_INLINE_H
#define ZMQOBS_INLINE_H

#ifndef ZMQOBS_H
#error "include <zmqobs.h>, not <zmqobs_inline.h>"
#endif

/* ------------------------------------------------------------------------
 * Hot path: send/recv wrappers and record calls.
 *
 * The wrappers take the same arguments as libzmq's and return the same
 * values with the same errno; they add accounting per message part. They
 * are static inline so that counting costs a handful of instructions in
 * the caller instead of a call into the shared library; the layout of
 * zmqobs_hot_t below is therefore part of the ABI of this major version
 * (a change to it changes the soname). It is private all the same: read
 * metrics with zmqobs_socket_stats, never through these fields.
 *
 * Each public function defined here (zmqobs_record_sent,
 * zmqobs_record_received, zmqobs_record_latency, zmqobs_send, zmqobs_recv,
 * zmqobs_msg_send, zmqobs_msg_recv) is also exported by both libraries
 * under the same name, with the same behaviour, for callers that cannot
 * compile C (ctypes, cffi, cgo, Rust). C and C++ callers get the inline
 * copy; it has internal linkage, so it never clashes with the exported one,
 * with the static library either.
 *
 * Names with the zmqobs_i_ / ZMQOBS_I_ prefix are private: they are here
 * only because the inline code needs them, and may change in any release.
 *
 * Everything in this section runs on the socket's owner thread, except
 * where a comment says "any thread".
 * ---------------------------------------------------------------------- */

/* A histogram bucket: its upper bound (inclusive) and its count side by
 * side, so that the scan that finds the bucket ends on the counter. */
typedef struct zmqobs_hot_bucket {
    uint64_t le_ns; /* upper bound in ns; UINT64_MAX for +Inf */
    uint64_t count;
} zmqobs_hot_bucket_t;

typedef struct zmqobs_hot {
    void *handle;       /* the host's libzmq socket */
    uint64_t sent_msgs; /* owner-written counters ... */
    uint64_t sent_bytes;
    uint64_t recv_msgs;
    uint64_t recv_bytes;
    uint64_t *ring;     /* latency ring, ring_mask + 1 samples (ns); NULL
                           until the first sample allocates it */
    uint64_t ring_head; /* samples ever written to the ring */
    uint64_t hist_sum;  /* sum of recorded latencies in ns,
                                  saturating at UINT64_MAX */
    uint32_t ring_mask;
    uint32_t hist_n;      /* finite bounds; bucket[hist_n] is +Inf */
    uint32_t slow;        /* nonzero: latency records go out of line
                             (latency_shared, or no ring yet) */
    uint32_t cycle_every; /* nonzero: a send ends with a look at the
                             REQ/REP sampling countdown (the period) or
                             at send_hook */
    uint32_t cycle_left;  /* cycles until the next sampled one */
    uint32_t recv_hook;   /* nonzero: each receive ends out of line (a
                             sampled cycle waits for it, or per-peer) */
    uint32_t send_hook;   /* nonzero: per-peer metrics; sends end out of
                             line (zmqobs_msg_send goes out of line) */
    uint32_t spare;
    uint64_t cycle_start; /* monotonic ns when the timed cycle began */
    uint8_t lut[64];      /* first bucket whose bound is >= 2^k */
    zmqobs_hot_bucket_t bucket[ZMQOBS_BUCKETS_MAX + 1];
    uint64_t *native; /* native_histograms: ZMQOBS_I_NATIVE_SLOTS counts
                         (see below); NULL when off or not yet allocated */
} zmqobs_hot_t;

/* Native (exponential) latency buckets, recorded at schema 3 whatever the
 * schema exposed: bucket i holds the latencies in (2^((i-1)/8),
 * 2^(i/8)] seconds. Slot 0 counts zeros (the zero bucket); slot s >= 1
 * is bucket s - ZMQOBS_I_NATIVE_BIAS, so 514 slots cover every uint64 of
 * nanoseconds exactly (1 ns is in slot 1, bucket -239). A latency of ns
 * nanoseconds, with top its highest set bit and x = ns << (63 - top) its
 * mantissa normalised to bit 63, is in slot 8 * top + j, where j (1..9)
 * is the first j with x <= floor(1e9 * 2^33 * 2^(j / 8)). The top four
 * bits of x below the leading one split an octave into 16 parts, each
 * holding at most one of those bounds (bucket widths are 9% of an octave
 * or more): the tables give, per part, the first candidate j and the
 * bound that decides between it and j + 1. ns = 0 gives x = 0, part 0,
 * slot 0. Private: read the buckets through the formats. */
#define ZMQOBS_I_NATIVE_SLOTS 514
#define ZMQOBS_I_NATIVE_BIAS 240
static const uint8_t zmqobs_i_native_cand[32] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                 1, 2, 3, 3, 4, 4, 5, 6, 6, 6, 7, 7, 8, 8, 9, 9};
static const uint64_t zmqobs_i_native_bound[32] = {
    UINT64_MAX,         UINT64_MAX,         UINT64_MAX,         UINT64_MAX,
    UINT64_MAX,         UINT64_MAX,         UINT64_MAX,         UINT64_MAX,
    UINT64_MAX,         UINT64_MAX,         UINT64_MAX,         UINT64_MAX,
    UINT64_MAX,         UINT64_MAX,         UINT64_MAX,         UINT64_MAX,
    0x81ffa7a9549ca6e3, 0x8dc3b8960164a7d9, 0x9a9867054d512391, 0x9a9867054d512391,
    0xa8965f74bf065071, 0xa8965f74bf065071, 0xb7d88a12d0dd9ea0, 0xc87c3e7d03cdbec3,
    0xc87c3e7d03cdbec3, 0xc87c3e7d03cdbec3, 0xdaa17c2cd19555db, 0xdaa17c2cd19555db,
    0xee6b280000000000, 0xee6b280000000000, UINT64_MAX,         UINT64_MAX};

/* ZMQOBS_I_HOT starts each public definition below: static inline for
 * every program, an exported external definition in the one library file
 * (src/exports.c) that defines ZMQOBS_I_EXPORTS before including
 * zmqobs.h. */
#ifdef ZMQOBS_I_EXPORTS
#define ZMQOBS_I_HOT ZMQOBS_EXPORT
#else
#define ZMQOBS_I_HOT static inline
#endif

/* Casts that are clean in C and in C++ (where C casts draw
 * -Wold-style-cast). */
#ifdef __cplusplus
#define ZMQOBS_I_CAST(type, x) (static_cast<type> (x))
#define ZMQOBS_I_HOT_OF(s) (reinterpret_cast<zmqobs_hot_t *> (s))
#define ZMQOBS_I_NOBUF nullptr
#else
#define ZMQOBS_I_CAST(type, x) ((type) (x))
#define ZMQOBS_I_HOT_OF(s) ((zmqobs_hot_t *) (s))
#define ZMQOBS_I_NOBUF NULL
#endif

/* Out-of-line parts of the wrappers; not for direct use. */
ZMQOBS_EXPORT void zmqobs_i_send_failed (zmqobs_socket_t *s);
ZMQOBS_EXPORT void zmqobs_i_recv_failed (zmqobs_socket_t *s);
ZMQOBS_EXPORT void zmqobs_i_cycle_send (zmqobs_socket_t *s);
ZMQOBS_EXPORT void zmqobs_i_sent_hook (zmqobs_socket_t *s, const void *buf, uint64_t bytes,
                                       int flags);
ZMQOBS_EXPORT int zmqobs_i_msg_send (zmq_msg_t *msg, zmqobs_socket_t *s, int flags);
ZMQOBS_EXPORT void zmqobs_i_recv_hook (zmqobs_socket_t *s, const void *buf, size_t len, int rc);
ZMQOBS_EXPORT void zmqobs_i_msg_recv_hook (zmqobs_socket_t *s, zmq_msg_t *msg, int rc);
ZMQOBS_EXPORT void zmqobs_i_received_hook (zmqobs_socket_t *s, size_t len, int more);
ZMQOBS_EXPORT void zmqobs_i_latency_slow (zmqobs_socket_t *s, uint64_t ns);

#define ZMQOBS_I_LOAD(p) __atomic_load_n ((p), __ATOMIC_RELAXED)
#define ZMQOBS_I_STORE(p, v) __atomic_store_n ((p), (v), __ATOMIC_RELAXED)

#if defined(__SANITIZE_THREAD__)
#define ZMQOBS_I_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ZMQOBS_I_TSAN 1
#endif
#endif

/* Single-writer increment of a 64-bit counter, never a locked instruction.
 * On x86-64 it is one non-locked add to memory: an aligned 8-byte write is
 * single-copy atomic there, so a concurrent reader's relaxed load sees the
 * old or the new value, never a torn one, and the compiler cannot fuse a
 * relaxed atomic load and store into one instruction by itself. Elsewhere
 * (and under ThreadSanitizer, so that it checks the protocol) it is a
 * relaxed atomic load and a relaxed atomic store. Only the owner thread
 * may use it on a given counter. */
#if defined(__x86_64__) && !defined(ZMQOBS_I_TSAN)
/* n goes through a uint64_t variable, not a cast: the operand must be 64
 * bits wide, and C++ flags a cast to the type it already has
 * (-Wuseless-cast). A constant n still becomes an immediate. */
#define ZMQOBS_I_BUMP(p, n)                                                  \
    do {                                                                     \
        uint64_t zmqobs_i_n = (n);                                           \
        __asm__ __volatile__("addq %1, %0" : "+m"(*(p)) : "er"(zmqobs_i_n)); \
    } while (0)
/* The same, saturating at UINT64_MAX instead of wrapping (the latency
 * sum: a wrapped _sum would look like a counter reset). */
#define ZMQOBS_I_BUMP_SAT(p, n)                                          \
    do {                                                                 \
        uint64_t zmqobs_i_n = (n);                                       \
        __asm__ __volatile__("addq %1, %0\n\tjnc 1f\n\tmovq $-1, %0\n1:" \
                             : "+m"(*(p))                                \
                             : "r"(zmqobs_i_n)                           \
                             : "cc");                                    \
    } while (0)
#else
#define ZMQOBS_I_BUMP(p, n) ZMQOBS_I_STORE ((p), ZMQOBS_I_LOAD (p) + (n))
#define ZMQOBS_I_BUMP_SAT(p, n)                                                               \
    do {                                                                                      \
        uint64_t zmqobs_i_v = ZMQOBS_I_LOAD (p), zmqobs_i_n = (n);                            \
        ZMQOBS_I_STORE ((p), zmqobs_i_v + zmqobs_i_n < zmqobs_i_v ? UINT64_MAX                \
                                                                  : zmqobs_i_v + zmqobs_i_n); \
    } while (0)
#endif

/* The native slot of a latency (see above); top is the index of the
 * highest set bit of ns | 1. */
static inline uint64_t zmqobs_i_native_slot (uint64_t ns, uint64_t top)
{
    uint64_t x = ns << (63u ^ top);
    uint64_t part = x >> 59;
    return 8u * top + zmqobs_i_native_cand[part] + (x > zmqobs_i_native_bound[part] ? 1u : 0u);
}

/* Counts one part sent (buf: its bytes, NULL when not at hand). */
static inline void zmqobs_i_count_sent (zmqobs_hot_t *h, const void *buf, uint64_t bytes, int flags,
                                        zmqobs_socket_t *s)
{
    ZMQOBS_I_BUMP (&h->sent_msgs, 1);
    ZMQOBS_I_BUMP (&h->sent_bytes, bytes);
    if (ZMQOBS_UNLIKELY (h->cycle_every)) {
        if (ZMQOBS_UNLIKELY (h->send_hook))
            zmqobs_i_sent_hook (s, buf, bytes, flags);
        else if (!(flags & ZMQ_SNDMORE)) {
            uint32_t left = h->cycle_left - 1;
            h->cycle_left = left;
            if (left == 0 || h->recv_hook)
                zmqobs_i_cycle_send (s);
        }
    }
}

/* Records one sent message part of len bytes: for hosts that do their own
 * I/O. flags are the send flags (ZMQ_SNDMORE marks a non-final part).
 * Owner thread. A NULL s is ignored. */
ZMQOBS_I_HOT void zmqobs_record_sent (zmqobs_socket_t *s, size_t len, int flags)
{
    if (ZMQOBS_LIKELY (s != NULL))
        zmqobs_i_count_sent (ZMQOBS_I_HOT_OF (s), ZMQOBS_I_NOBUF, len, flags, s);
}

/* Records one received message part of len bytes; more is nonzero when
 * more parts of the same message follow (ZMQ_RCVMORE). Owner thread. A
 * NULL s is ignored. */
ZMQOBS_I_HOT void zmqobs_record_received (zmqobs_socket_t *s, size_t len, int more)
{
    if (ZMQOBS_UNLIKELY (s == NULL))
        return;
    zmqobs_hot_t *h = ZMQOBS_I_HOT_OF (s);
    ZMQOBS_I_BUMP (&h->recv_msgs, 1);
    ZMQOBS_I_BUMP (&h->recv_bytes, len);
    if (ZMQOBS_UNLIKELY (h->recv_hook))
        zmqobs_i_received_hook (s, len, more);
}

/* Records a failed send (op 0) or recv (op 1) with errno value err:
 * counted in zmq_errors_total by errno name, EAGAIN apart. Owner thread.
 * Returns 0, or -1 with EINVAL (NULL s, op not 0 or 1). */
ZMQOBS_EXPORT int zmqobs_record_error (zmqobs_socket_t *s, int op, int err);
#define ZMQOBS_OP_SEND 0
#define ZMQOBS_OP_RECV 1

/* Records one latency sample in nanoseconds into the ring (recent window,
 * exact quantiles) and the histogram (all time). Owner thread by default:
 * about 20 instructions on x86-64, no lock, no allocation. With the option
 * latency_shared set, any thread may call it, and it uses atomic
 * read-modify-write. A NULL s is ignored.
 * The ring (ring_capacity samples, 8 KiB by default) is allocated by the
 * socket's first sample, out of line, so a socket that never records
 * latency has none. If that allocation fails, the sample still counts in
 * the histogram, and the window stays empty until a later sample's
 * allocation succeeds. With the option native_histograms, the first
 * sample also allocates the socket's native buckets (4 KiB), and each
 * sample counts in one of them as well (a few more instructions: see the
 * README); a sample that finds no native buckets because their
 * allocation failed counts in the classic histogram only. */
ZMQOBS_I_HOT void zmqobs_record_latency (zmqobs_socket_t *s, uint64_t ns)
{
    if (ZMQOBS_UNLIKELY (s == NULL))
        return;
    zmqobs_hot_t *h = ZMQOBS_I_HOT_OF (s);
    if (ZMQOBS_UNLIKELY (h->slow)) {
        zmqobs_i_latency_slow (s, ns);
        return;
    }
    /* the +Inf bucket's bound is UINT64_MAX: the scan needs no length
     * check, and it ends on the bucket whose count to bump */
    uint64_t top = 63u ^ ZMQOBS_I_CAST (uint64_t, __builtin_clzll (ns | 1)); /* highest set bit */
    zmqobs_hot_bucket_t *b = h->bucket + h->lut[top];
    while (ns > b->le_ns)
        b++;
    ZMQOBS_I_BUMP (&b->count, 1);
    ZMQOBS_I_BUMP_SAT (&h->hist_sum, ns);
    uint64_t *nat = h->native;
    if (nat)
        ZMQOBS_I_BUMP (&nat[zmqobs_i_native_slot (ns, top)], 1);
    uint64_t head = h->ring_head;
    ZMQOBS_I_STORE (&h->ring[head & h->ring_mask], ns);
    /* release: a reader that sees the new head also sees the sample */
    __atomic_store_n (&h->ring_head, head + 1, __ATOMIC_RELEASE);
}

/* Records one latency sample as zmqobs_record_latency does, and keeps it
 * as the exemplar of its classic histogram bucket, replacing the one
 * before: the trace id, the latency and the wall-clock time. OpenMetrics
 * shows each bucket's exemplar after its _bucket line
 * (# {trace_id="..."} seconds timestamp), the protobuf format in the
 * bucket's exemplar field; text 0.0.4 and JSON do not show them.
 * trace_id is 1..32 hexadecimal digits (either case, kept as given; a
 * W3C trace id is 32), so the exemplar's label set stays within the 128
 * characters OpenMetrics allows. Returns 0, or -1 with EINVAL (NULL s,
 * trace_id NULL, empty, longer than 32 or not hexadecimal: nothing is
 * recorded) or ENOMEM (the socket's first exemplar could not allocate
 * its slots, 2.1 KiB: the sample is recorded, the exemplar is not).
 * Threads as for zmqobs_record_latency: the owner thread, or any thread
 * with latency_shared (two threads recording into the same bucket at the
 * same instant: one of the two exemplars is kept). No lock: each bucket's
 * exemplar is written under a sequence count that a scrape checks, so a
 * scrape never shows a trace id of one sample with the value of another.
 * Not inline: it costs a clock read (about 26 ns) and a few dozen
 * instructions more than zmqobs_record_latency. */
ZMQOBS_EXPORT int zmqobs_record_latency_exemplar (zmqobs_socket_t *s, uint64_t ns,
                                                  const char *trace_id);

/* zmq_send with accounting. Same arguments, return value and errno as
 * zmq_send; a NULL s gives -1 with ENOTSOCK. Owner thread. */
ZMQOBS_I_HOT int zmqobs_send (zmqobs_socket_t *s, const void *buf, size_t len, int flags)
{
    if (ZMQOBS_UNLIKELY (s == NULL)) {
        errno = ENOTSOCK;
        return -1;
    }
    zmqobs_hot_t *h = ZMQOBS_I_HOT_OF (s);
    int rc = zmq_send (h->handle, buf, len, flags);
    if (ZMQOBS_LIKELY (rc >= 0))
        zmqobs_i_count_sent (h, buf, len, flags, s); /* len: rc is capped at INT_MAX */
    else
        zmqobs_i_send_failed (s);
    return rc;
}

/* zmq_recv with accounting. Same arguments, return value and errno as
 * zmq_recv. The bytes counted are the size of the part on the wire (the
 * return value), also when it was truncated to len. (libzmq caps return
 * values at INT_MAX, so zmqobs_recv, zmqobs_msg_send and zmqobs_msg_recv
 * count a part of 2 GiB or more as INT_MAX bytes.) Owner thread. */
ZMQOBS_I_HOT int zmqobs_recv (zmqobs_socket_t *s, void *buf, size_t len, int flags)
{
    if (ZMQOBS_UNLIKELY (s == NULL)) {
        errno = ENOTSOCK;
        return -1;
    }
    zmqobs_hot_t *h = ZMQOBS_I_HOT_OF (s);
    int rc = zmq_recv (h->handle, buf, len, flags);
    if (ZMQOBS_LIKELY (rc >= 0)) {
        ZMQOBS_I_BUMP (&h->recv_msgs, 1);
        ZMQOBS_I_BUMP (&h->recv_bytes, ZMQOBS_I_CAST (uint64_t, rc));
        if (ZMQOBS_UNLIKELY (h->recv_hook))
            zmqobs_i_recv_hook (s, buf, len, rc);
    } else
        zmqobs_i_recv_failed (s);
    return rc;
}

/* zmq_msg_send with accounting (note libzmq's argument order: message
 * first). Same return value and errno as zmq_msg_send. Owner thread. */
ZMQOBS_I_HOT int zmqobs_msg_send (zmq_msg_t *msg, zmqobs_socket_t *s, int flags)
{
    if (ZMQOBS_UNLIKELY (s == NULL)) {
        errno = ENOTSOCK;
        return -1;
    }
    zmqobs_hot_t *h = ZMQOBS_I_HOT_OF (s);
    /* per-peer metrics need the routing id, which the send consumes */
    if (ZMQOBS_UNLIKELY (h->send_hook))
        return zmqobs_i_msg_send (msg, s, flags);
    int rc = zmq_msg_send (msg, h->handle, flags);
    if (ZMQOBS_LIKELY (rc >= 0))
        zmqobs_i_count_sent (h, ZMQOBS_I_NOBUF, ZMQOBS_I_CAST (uint64_t, rc), flags, s);
    else
        zmqobs_i_send_failed (s);
    return rc;
}

/* zmq_msg_recv with accounting. Same return value and errno as
 * zmq_msg_recv. Owner thread. */
ZMQOBS_I_HOT int zmqobs_msg_recv (zmq_msg_t *msg, zmqobs_socket_t *s, int flags)
{
    if (ZMQOBS_UNLIKELY (s == NULL)) {
        errno = ENOTSOCK;
        return -1;
    }
    zmqobs_hot_t *h = ZMQOBS_I_HOT_OF (s);
    int rc = zmq_msg_recv (msg, h->handle, flags);
    if (ZMQOBS_LIKELY (rc >= 0)) {
        ZMQOBS_I_BUMP (&h->recv_msgs, 1);
        ZMQOBS_I_BUMP (&h->recv_bytes, ZMQOBS_I_CAST (uint64_t, rc));
        if (ZMQOBS_UNLIKELY (h->recv_hook))
            zmqobs_i_msg_recv_hook (s, msg, rc);
    } else
        zmqobs_i_recv_failed (s);
    return rc;
}

/* Sets the queue-depth gauge (zmq_queue_depth). Any thread: a relaxed
 * atomic store. A NULL s is ignored. */
ZMQOBS_EXPORT void zmqobs_set_queue_depth (zmqobs_socket_t *s, int64_t depth);

/* Adds delta (may be negative) to the queue-depth gauge. Any thread: an
 * atomic fetch-and-add. A NULL s is ignored. */
ZMQOBS_EXPORT void zmqobs_add_queue_depth (zmqobs_socket_t *s, int64_t delta);

#endif /* ZMQOBS_INLINE_H */
