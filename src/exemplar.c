/*
 * exemplar.c - zmqobs_record_latency_exemplar: the sample as
 * zmqobs_record_latency records it, and the latest exemplar of its
 * classic bucket.
 *
 * The slots (one per classic bucket, a cache line each) are allocated by
 * the socket's first exemplar and published with a compare-and-swap, so
 * that sockets without exemplars pay nothing. A slot is a sequence lock
 * that never waits: a writer takes it by moving seq from even to odd with
 * a compare-and-swap (with latency_shared two writers may race for a
 * slot: the loser drops its exemplar, as a later one replaces it anyway),
 * writes the words, and releases it with seq + 2. A reader takes seq with
 * acquire, reads the words, and reads seq again: the same even value
 * means no writer touched the words in between. The words are stored with
 * release and loaded with acquire (not fenced: ThreadSanitizer does not
 * model fences), which orders them after the writer's odd count and
 * before the reader's second look at seq; on x86-64 all of these are
 * plain moves. Every access is atomic, so there is no data race to begin
 * with, only the question of consistency, which the count settles. A reader that keeps
 * finding a writer gives up after a few tries and shows no exemplar.
 *
 * SPDX-License-Identifier: MIT
 */
#include "exemplar.h"

#include <string.h>

typedef struct zmqobs_exemplar_slot slot_t;

static int hex (char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int zmqobs__valid_trace_id (const char *id)
{
    if (!id)
        return 0;
    size_t n = 0;
    while (n <= ZMQOBS__TRACE_ID_MAX && id[n]) {
        if (!hex (id[n]))
            return 0;
        n++;
    }
    return n >= 1 && n <= ZMQOBS__TRACE_ID_MAX;
}

/* The classic bucket of ns: the first whose bound is >= ns (the +Inf
 * bucket's bound is UINT64_MAX). */
static uint32_t bucket_index (const zmqobs_socket_t *s, uint64_t ns)
{
    uint32_t i = s->hot.lut[63 ^ __builtin_clzll (ns | 1)];
    while (ns > s->hot.bucket[i].le_ns)
        i++;
    return i;
}

static slot_t *slots_of (zmqobs_socket_t *s)
{
    /* acquire: pairs with the CAS that published the zeroed slots */
    slot_t *cur = __atomic_load_n (&s->exemplars, __ATOMIC_ACQUIRE);
    if (cur)
        return cur;
    slot_t *fresh = zmqobs__zalloc_aligned ((ZMQOBS_BUCKETS_MAX + 1) * sizeof *fresh);
    if (!fresh)
        return NULL;
    /* release on success: publishes the zeroed slots; acquire on
     * failure: another writer's, zeroed before it published them */
    if (__atomic_compare_exchange_n (&s->exemplars, &cur, fresh, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return fresh;
    zmqobs__free (fresh);
    return cur;
}

int zmqobs_record_latency_exemplar (zmqobs_socket_t *s, uint64_t ns, const char *trace_id)
{
    if (!s || !zmqobs__valid_trace_id (trace_id)) {
        errno = EINVAL;
        return -1;
    }
    zmqobs_record_latency (s, ns);
    slot_t *slots = slots_of (s);
    if (!slots) {
        errno = ENOMEM;
        return -1;
    }
    slot_t *e = &slots[bucket_index (s, ns)];
    uint64_t seq = LOAD (&e->seq);
    /* acquire: the words below are written after the slot is taken */
    if ((seq & 1)
        || !__atomic_compare_exchange_n (&e->seq, &seq, seq + 1, 0, __ATOMIC_ACQUIRE,
                                         __ATOMIC_RELAXED))
        return 0; /* another writer is in it: its exemplar is as recent */
    uint64_t words[ZMQOBS__TRACE_ID_MAX / 8] = {0};
    size_t len = strlen (trace_id);
    memcpy (words, trace_id, len);
    /* release, each: a reader that sees one of the new words sees seq
     * odd (or later) when it looks again */
    __atomic_store_n (&e->ns, ns, __ATOMIC_RELEASE);
    __atomic_store_n (&e->wall_ns, zmqobs__wall_ns (), __ATOMIC_RELEASE);
    __atomic_store_n (&e->len, (uint64_t) len, __ATOMIC_RELEASE);
    for (int i = 0; i < ZMQOBS__TRACE_ID_MAX / 8; i++)
        __atomic_store_n (&e->id[i], words[i], __ATOMIC_RELEASE);
    /* release: the words are visible before the even count is */
    __atomic_store_n (&e->seq, seq + 2, __ATOMIC_RELEASE);
    return 0;
}

int zmqobs__exemplar_read (const zmqobs_socket_t *s, uint32_t b, zmqobs_exemplar_t *out)
{
    /* acquire: pairs with the CAS that published the slots */
    const slot_t *slots = __atomic_load_n (&s->exemplars, __ATOMIC_ACQUIRE);
    if (!slots || b > s->hot.hist_n)
        return 0;
    const slot_t *e = &slots[b];
    for (int tries = 0; tries < 4; tries++) {
        /* acquire: pairs with the writer's release of the even count */
        uint64_t s1 = __atomic_load_n (&e->seq, __ATOMIC_ACQUIRE);
        if (s1 & 1)
            continue;
        /* acquire, each: pairs with the writer's release stores, and keeps
         * the second look at seq after the words */
        uint64_t words[ZMQOBS__TRACE_ID_MAX / 8];
        uint64_t ns = __atomic_load_n (&e->ns, __ATOMIC_ACQUIRE);
        uint64_t wall = __atomic_load_n (&e->wall_ns, __ATOMIC_ACQUIRE);
        uint64_t len = __atomic_load_n (&e->len, __ATOMIC_ACQUIRE);
        for (int i = 0; i < ZMQOBS__TRACE_ID_MAX / 8; i++)
            words[i] = __atomic_load_n (&e->id[i], __ATOMIC_ACQUIRE);
        if (LOAD (&e->seq) != s1)
            continue;
        if (len == 0 || len > ZMQOBS__TRACE_ID_MAX)
            return 0;
        out->ns = ns;
        out->wall_ns = wall;
        out->len = (size_t) len;
        memcpy (out->id, words, (size_t) len);
        return 1;
    }
    return 0;
}

size_t zmqobs__exemplar_om (const zmqobs_socket_t *s, uint32_t b, char *dst)
{
    zmqobs_exemplar_t ex;
    if (!zmqobs__exemplar_read (s, b, &ex))
        return 0;
    /* the label set is trace_id and 1..32 hex digits: 40 characters, well
     * within the 128 OpenMetrics allows */
    size_t n = 0;
    memcpy (dst, " # {trace_id=\"", 14);
    n = 14;
    memcpy (dst + n, ex.id, ex.len);
    n += ex.len;
    memcpy (dst + n, "\"} ", 3);
    n += 3;
    n += zmqobs__fmt_secs (dst + n, ex.ns);
    dst[n++] = ' ';
    n += zmqobs__fmt_secs (dst + n, ex.wall_ns);
    return n;
}
