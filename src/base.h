/*
 * base.h - layer 0: allocation hooks, clocks, atomics, intrusive lists,
 * validators, and the one bounded text writer with its number formatting
 * and escapers, used by every format, the JSON event log and readiness.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_BASE_H
#define ZMQOBS_BASE_H

#include "zmqobs.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ZMQOBS_CACHELINE 64

/* Allocation: every allocation in the library goes through these, so that
 * tests can make the n-th one fail. zmqobs__free keeps errno. */
void *zmqobs__malloc (size_t size);
void *zmqobs__calloc (size_t count, size_t size);
/* Zeroed and ZMQOBS_CACHELINE-aligned; freed with zmqobs__free. */
void *zmqobs__zalloc_aligned (size_t size);
void zmqobs__free (void *ptr);
/* Test hook: when > 0, the allocation with this ordinal (counting from 1
 * since the hook was set) fails with ENOMEM, and every later one succeeds.
 * 0 = never fail. zmqobs__alloc_count counts allocations since the hook
 * was last set. Not thread-safe by design: tests set it while quiet. */
extern long zmqobs__alloc_fail_at;
extern long zmqobs__alloc_count;

/* Clocks, in nanoseconds. */
uint64_t zmqobs__now_ns (void);  /* CLOCK_MONOTONIC */
uint64_t zmqobs__wall_ns (void); /* CLOCK_REALTIME */

/* Relaxed atomic helpers for fields shared between threads. */
#define LOAD(p) __atomic_load_n ((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n ((p), (v), __ATOMIC_RELAXED)
#define BUMP(p, n) STORE ((p), LOAD (p) + (n)) /* single writer only */
#define ADD(p, n) __atomic_fetch_add ((p), (n), __ATOMIC_RELAXED)

/* An intrusive, circular, doubly linked list: a list head is a link whose
 * neighbours are itself when empty. O(1) insert and remove. */
typedef struct zmqobs_dlink {
    struct zmqobs_dlink *prev, *next;
} zmqobs_dlink_t;

static inline void zmqobs__dl_init (zmqobs_dlink_t *l)
{
    l->prev = l->next = l;
}
static inline int zmqobs__dl_empty (const zmqobs_dlink_t *l)
{
    return l->next == l;
}
/* A removed or initialised link is linked to itself. */
static inline int zmqobs__dl_linked (const zmqobs_dlink_t *l)
{
    return l->next != l && l->next != NULL;
}
static inline void zmqobs__dl_push (zmqobs_dlink_t *head, zmqobs_dlink_t *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}
static inline void zmqobs__dl_remove (zmqobs_dlink_t *l)
{
    if (!zmqobs__dl_linked (l))
        return;
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = l;
}
#define ZMQOBS__CONTAINER(ptr, type, member) \
    ((type *) (void *) ((char *) (ptr) -offsetof (type, member)))

/* Validators: a Prometheus metric name / label name (1 if valid), and
 * strict UTF-8 with no NUL inside len (1 if valid). */
int zmqobs__valid_metric_name (const char *name);
int zmqobs__valid_label_name (const char *name);
int zmqobs__valid_utf8 (const char *s, size_t len);

/* ------------------------------------------------------------------------
 * The bounded text writer: snprintf semantics over a caller's buffer.
 * It writes at most size - 1 bytes and counts what the whole text needs
 * (len); zmqobs__out_end terminates it. (NULL, 0) measures.
 * ---------------------------------------------------------------------- */
typedef struct {
    char *buf;
    size_t cap;    /* bytes that may hold text: size - 1, or 0 */
    size_t len;    /* bytes the whole output needs so far */
    int terminate; /* the buffer has room for a NUL (size > 0) */
} zmqobs_out_t;

void zmqobs__out_init (zmqobs_out_t *o, char *buf, size_t size);
/* NUL-terminates (when there is room at all) and returns len. */
size_t zmqobs__out_end (zmqobs_out_t *o);

static inline void zmqobs__put (zmqobs_out_t *o, const char *s, size_t n)
{
    size_t len = o->len;
    if (ZMQOBS_LIKELY (len + n <= o->cap))
        memcpy (o->buf + len, s, n);
    else if (len < o->cap)
        memcpy (o->buf + len, s, o->cap - len);
    o->len = len + n;
}

static inline void zmqobs__put_c (zmqobs_out_t *o, char ch)
{
    if (o->len < o->cap)
        o->buf[o->len] = ch;
    o->len++;
}

static inline void zmqobs__put_str (zmqobs_out_t *o, const char *s)
{
    zmqobs__put (o, s, strlen (s));
}

#define ZMQOBS__PUT_LIT(o, lit) zmqobs__put ((o), (lit), sizeof (lit) - 1)

/* Numbers, from integers only (no locale): decimal into dst (room for 21
 * bytes), returning the length. */
size_t zmqobs__fmt_u64 (char *dst, uint64_t v);
size_t zmqobs__fmt_i64 (char *dst, int64_t v);
/* Seconds from integer nanoseconds, exact, fixed notation: "12",
 * "0.000025", "1.5". dst needs room for 31 bytes. */
size_t zmqobs__fmt_secs (char *dst, uint64_t ns);
/* A histogram bound in ns as its canonical le text, seconds (openmetrics
 * 0: text 0.0.4, 1: OpenMetrics). dst needs 40 bytes; not terminated. */
size_t zmqobs__fmt_bound (char *dst, uint64_t ns, int openmetrics);
/* A double in its canonical text, the same rules as zmqobs__fmt_bound:
 * the shortest digits that read back as v, fixed notation for 1e-4 <=
 * |v| < 1e6, exponent notation otherwise ("1e-05", "1.5e+07"); with
 * openmetrics, an integral value in fixed notation gets ".0". NaN, +Inf
 * and -Inf as spelled; -0 as 0. Never follows the C locale; does not
 * allocate. dst needs ZMQOBS__DOUBLE_MAX bytes; not terminated. */
#define ZMQOBS__DOUBLE_MAX 32
size_t zmqobs__fmt_double (char *dst, double v, int openmetrics);
void zmqobs__put_u64 (zmqobs_out_t *o, uint64_t v);

/* Escapers, each appending the escaped form of s (n bytes). */
/* Label values (both text formats): backslash, double quote, newline. */
void zmqobs__esc_label (zmqobs_out_t *o, const char *s, size_t n);
/* HELP text: text 0.0.4 escapes only backslash and newline; OpenMetrics
 * uses the label rules. */
void zmqobs__esc_help (zmqobs_out_t *o, const char *s, size_t n, int openmetrics);
/* JSON string contents (RFC 8259): quote, backslash, the short escapes
 * for \b \f \n \r \t, other control characters as \u00XX; valid UTF-8 as
 * is, each invalid byte as \ufffd, so the text is always valid JSON. */
void zmqobs__esc_json (zmqobs_out_t *o, const char *s, size_t n);
/* A whole JSON string: quotes around zmqobs__esc_json. */
void zmqobs__put_json (zmqobs_out_t *o, const char *s, size_t n);
/* One line of plain text: quote and backslash escaped, control bytes as
 * \xHH, so a hostile name cannot forge extra lines. */
void zmqobs__esc_line (zmqobs_out_t *o, const char *s, size_t n);
/* The escapers into a plain buffer, with snprintf semantics, for the
 * tests and fuzzers; returns the escaped length. */
enum { ZMQOBS__ESC_LABEL, ZMQOBS__ESC_HELP, ZMQOBS__ESC_HELP_OM, ZMQOBS__ESC_JSON };
size_t zmqobs__escape (char *dst, size_t size, const char *src, size_t len, int kind);

#endif /* ZMQOBS_BASE_H */
