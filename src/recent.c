/*
 * recent.c - the latest monitor events in a bounded ring, for /events.
 *
 * The draining thread pushes every event it decodes; an HTTP request
 * reads the ring at any time. The writer must never wait for a reader
 * (a reader on the niced HTTP thread could be descheduled for a long
 * time while holding a lock), so each slot is a sequence lock: the slot's
 * version is odd while it is written and 2 * (seq + 1) once event seq is
 * complete in it. A reader copies the slot and keeps the copy only if the
 * version was the expected one before and after; a torn copy is dropped,
 * never shown. Every word of a slot is read and written atomically, so
 * the race is defined behaviour (and ThreadSanitizer sees it as such).
 *
 * SPDX-License-Identifier: MIT
 */
#include "recent.h"

#include <stddef.h>
#include <string.h>

#define WORDS ((sizeof (zmqobs_recent_event_t) + 7) / 8)
/* the strings start on word boundaries, so that each is whole words */
_Static_assert(offsetof (zmqobs_recent_event_t, name) % 8 == 0, "name not word-aligned");
_Static_assert(offsetof (zmqobs_recent_event_t, endpoint) % 8 == 0, "endpoint not word-aligned");

typedef struct {
    uint64_t version; /* odd while written; 2 * (seq + 1) when complete */
    uint64_t words[WORDS];
} slot_t;

struct zmqobs_recent {
    uint64_t total; /* events pushed; written by the one writer */
    slot_t slots[ZMQOBS__RECENT_CAP];
};

zmqobs_recent_t *zmqobs__recent_new (void)
{
    return zmqobs__calloc (1, sizeof (zmqobs_recent_t));
}

void zmqobs__recent_free (zmqobs_recent_t *r)
{
    zmqobs__free (r);
}

void zmqobs__recent_push (zmqobs_recent_t *r, const char *name, size_t name_len,
                          const zmqobs_event_t *ev, int named_peer, uint64_t ts_ns)
{
    if (!r || !name || !ev)
        return;
    union {
        zmqobs_recent_event_t e;
        uint64_t w[WORDS];
    } u;
    if (name_len > ZMQOBS_NAME_MAX)
        name_len = ZMQOBS_NAME_MAX;
    size_t ep_len =
        ev->endpoint_len <= ZMQOBS_ENDPOINT_MAX ? ev->endpoint_len : ZMQOBS_ENDPOINT_MAX;
    /* Only the words that carry something are built and stored: the
     * fixed fields, and each string up to and including its NUL (the
     * reader stops there, whatever older bytes follow in the slot). */
    size_t fixed = offsetof (zmqobs_recent_event_t, name) / 8;
    size_t name_at = fixed, name_words = (name_len + 8) / 8;
    size_t ep_at = offsetof (zmqobs_recent_event_t, endpoint) / 8, ep_words = (ep_len + 8) / 8;
    memset (u.w, 0, fixed * 8);
    u.w[name_at + name_words - 1] = 0;
    u.w[ep_at + ep_words - 1] = 0;
    u.e.ts_ns = ts_ns;
    u.e.event = ev->event;
    u.e.value = ev->value;
    u.e.value_kind = (uint16_t) ev->value_kind;
    u.e.named_peer = named_peer != 0;
    u.e.name_len = (uint16_t) name_len;
    u.e.endpoint_len = (uint16_t) ep_len;
    memcpy (u.e.name, name, name_len);
    memcpy (u.e.endpoint, ev->endpoint, ep_len);

    uint64_t seq = LOAD (&r->total);
    slot_t *s = &r->slots[seq % ZMQOBS__RECENT_CAP];
    STORE (&s->version, 2 * seq + 1);
    /* release: a reader that sees any new word also sees the odd
     * version (its acquire load of the word pairs with this store) */
    for (size_t i = 0; i < fixed; i++)
        __atomic_store_n (&s->words[i], u.w[i], __ATOMIC_RELEASE);
    for (size_t i = name_at; i < name_at + name_words; i++)
        __atomic_store_n (&s->words[i], u.w[i], __ATOMIC_RELEASE);
    for (size_t i = ep_at; i < ep_at + ep_words; i++)
        __atomic_store_n (&s->words[i], u.w[i], __ATOMIC_RELEASE);
    /* release: pairs with the reader's acquire load of the version */
    __atomic_store_n (&s->version, 2 * seq + 2, __ATOMIC_RELEASE);
    /* release: a reader that sees the new total finds the slot complete */
    __atomic_store_n (&r->total, seq + 1, __ATOMIC_RELEASE);
}

uint64_t zmqobs__recent_total (const zmqobs_recent_t *r)
{
    /* acquire: pairs with the release store of total in push */
    return r ? __atomic_load_n (&r->total, __ATOMIC_ACQUIRE) : 0;
}

int zmqobs__recent_get (const zmqobs_recent_t *r, uint64_t seq, zmqobs_recent_event_t *out)
{
    if (!r || !out) {
        errno = EINVAL;
        return -1;
    }
    const slot_t *s = &r->slots[seq % ZMQOBS__RECENT_CAP];
    /* acquire: pairs with the writer's final release store of version */
    uint64_t before = __atomic_load_n (&s->version, __ATOMIC_ACQUIRE);
    if (before != 2 * seq + 2) {
        errno = ENOENT;
        return -1;
    }
    union {
        zmqobs_recent_event_t e;
        uint64_t w[WORDS];
    } u;
    /* acquire: a word from a newer write brings its odd version along,
     * and the version load below cannot move above these loads */
    for (size_t i = 0; i < WORDS; i++)
        u.w[i] = __atomic_load_n (&s->words[i], __ATOMIC_ACQUIRE);
    if (LOAD (&s->version) != before) {
        errno = ENOENT;
        return -1;
    }
    *out = u.e;
    /* the lengths came from one consistent write; bound them anyway */
    if (out->name_len > ZMQOBS_NAME_MAX)
        out->name_len = ZMQOBS_NAME_MAX;
    if (out->endpoint_len > ZMQOBS_ENDPOINT_MAX)
        out->endpoint_len = ZMQOBS_ENDPOINT_MAX;
    out->name[out->name_len] = '\0';
    out->endpoint[out->endpoint_len] = '\0';
    return 0;
}
