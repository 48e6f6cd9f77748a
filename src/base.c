/*
 * base.c - layer 0: allocation hooks, clocks, validators, and the bounded
 * text writer with number formatting and escapers (see base.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "base.h"

#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

long zmqobs__alloc_fail_at = 0;
long zmqobs__alloc_count = 0;

/* Counts allocations and fails the chosen one, for the fault tests. */
static int alloc_should_fail (void)
{
    long n = __atomic_add_fetch (&zmqobs__alloc_count, 1, __ATOMIC_RELAXED);
    long at = __atomic_load_n (&zmqobs__alloc_fail_at, __ATOMIC_RELAXED);
    return at > 0 && n == at;
}

void *zmqobs__malloc (size_t size)
{
    if (alloc_should_fail ()) {
        errno = ENOMEM;
        return NULL;
    }
    return malloc (size);
}

void *zmqobs__calloc (size_t count, size_t size)
{
    if (alloc_should_fail ()) {
        errno = ENOMEM;
        return NULL;
    }
    return calloc (count, size);
}

void zmqobs__free (void *ptr)
{
    int err = errno;
    free (ptr);
    errno = err;
}

/* Zeroed, cache-line aligned: the socket block's writer groups must not
 * share lines, and its over-aligned members need a matching base. */
void *zmqobs__zalloc_aligned (size_t size)
{
    if (alloc_should_fail ()) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = NULL;
    int rc = posix_memalign (&p, ZMQOBS_CACHELINE, size);
    if (rc != 0) {
        errno = rc;
        return NULL;
    }
    memset (p, 0, size);
    return p;
}

uint64_t zmqobs__now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

uint64_t zmqobs__wall_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* ------------------------------------------------------------------------
 * Validators
 * ---------------------------------------------------------------------- */

static int is_alpha_ (int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit (int c)
{
    return c >= '0' && c <= '9';
}

int zmqobs__valid_metric_name (const char *name)
{
    if (!name || !*name || !(is_alpha_ (*name) || *name == ':'))
        return 0;
    for (const char *p = name + 1; *p; p++)
        if (!(is_alpha_ (*p) || is_digit (*p) || *p == ':'))
            return 0;
    return 1;
}

int zmqobs__valid_label_name (const char *name)
{
    if (!name || !*name || !is_alpha_ (*name))
        return 0;
    if (name[0] == '_' && name[1] == '_')
        return 0; /* reserved */
    for (const char *p = name + 1; *p; p++)
        if (!(is_alpha_ (*p) || is_digit (*p)))
            return 0;
    return 1;
}

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF, and
 * no NUL inside the given length. */
int zmqobs__valid_utf8 (const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *) str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else
            return 0;
        if (len - i < n + 1)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF))
            || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* ------------------------------------------------------------------------
 * The writer
 * ---------------------------------------------------------------------- */

void zmqobs__out_init (zmqobs_out_t *o, char *buf, size_t size)
{
    /* measuring (NULL, 0): a real address with no room, so that put()
     * never forms NULL + 0 or hands NULL to memcpy */
    static char no_room[1];
    o->buf = buf ? buf : no_room;
    o->cap = buf && size ? size - 1 : 0;
    o->len = 0;
    o->terminate = buf && size;
}

size_t zmqobs__out_end (zmqobs_out_t *o)
{
    if (o->terminate)
        o->buf[o->len < o->cap ? o->len : o->cap] = '\0';
    return o->len;
}

/* ------------------------------------------------------------------------
 * Numbers, from integers only
 * ---------------------------------------------------------------------- */

static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

/* Writes v in decimal backwards, ending just before p; returns the start. */
static char *back_u64 (char *p, uint64_t v)
{
    while (v >= 100) {
        unsigned r = (unsigned) (v % 100);
        v /= 100;
        p -= 2;
        memcpy (p, digit_pairs + 2 * r, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy (p, digit_pairs + 2 * v, 2);
    } else
        *--p = (char) ('0' + v);
    return p;
}

/* Copies v in decimal to dst (room for 20 bytes); returns the length. */
size_t zmqobs__fmt_u64 (char *dst, uint64_t v)
{
    char tmp[24];
    char *p = back_u64 (tmp + sizeof tmp, v);
    size_t n = (size_t) (tmp + sizeof tmp - p);
    memcpy (dst, p, n);
    return n;
}

size_t zmqobs__fmt_i64 (char *dst, int64_t v)
{
    if (v >= 0)
        return zmqobs__fmt_u64 (dst, (uint64_t) v);
    dst[0] = '-';
    return 1 + zmqobs__fmt_u64 (dst + 1, (uint64_t) 0 - (uint64_t) v);
}

/* Seconds from integer nanoseconds, exact, fixed notation: "12",
 * "0.000025", "1.5". dst needs room for 31 bytes. */
size_t zmqobs__fmt_secs (char *dst, uint64_t ns)
{
    uint64_t whole = ns / 1000000000u;
    uint32_t frac = (uint32_t) (ns % 1000000000u);
    size_t n = zmqobs__fmt_u64 (dst, whole);
    if (frac) {
        char f[9];
        for (int i = 8; i >= 0; i--) {
            f[i] = (char) ('0' + frac % 10);
            frac /= 10;
        }
        size_t k = 9;
        while (f[k - 1] == '0')
            k--;
        dst[n++] = '.';
        memcpy (dst + n, f, k);
        n += k;
    }
    return n;
}

/* A latency bound as an le label value, exact, in the canonical spelling
 * of each format (one spelling per format, whatever the process does):
 * Go's strconv 'g' shortest for text 0.0.4 ("1e-05", "0.0025", "1",
 * "1e+06"); the same for OpenMetrics but integral fixed values keep ".0"
 * ("1.0"), as the OpenMetrics reference parsers print them. Exponent
 * notation below 1e-4 and from 1e6 on. dst needs room for 40 bytes. */
size_t zmqobs__fmt_bound (char *dst, uint64_t ns, int openmetrics)
{
    if (ns == 0) {
        if (openmetrics) {
            memcpy (dst, "0.0", 3);
            return 3;
        }
        dst[0] = '0';
        return 1;
    }
    /* significant digits of ns, trailing zeros counted apart */
    char tmp[24];
    char *p = back_u64 (tmp + sizeof tmp, ns);
    size_t nd = (size_t) (tmp + sizeof tmp - p);
    size_t k = nd;
    while (p[k - 1] == '0')
        k--;
    /* value = 0.d1d2.. x 10^(nd - 9); scientific exponent one less */
    int exp = (int) nd - 9 - 1;
    if (exp < -4 || exp >= 6) {
        size_t n = 0;
        dst[n++] = p[0];
        if (k > 1) {
            dst[n++] = '.';
            memcpy (dst + n, p + 1, k - 1);
            n += k - 1;
        }
        dst[n++] = 'e';
        dst[n++] = exp < 0 ? '-' : '+';
        unsigned a = (unsigned) (exp < 0 ? -exp : exp);
        if (a < 10)
            dst[n++] = '0';
        n += zmqobs__fmt_u64 (dst + n, a);
        return n;
    }
    size_t n = zmqobs__fmt_secs (dst, ns);
    if (openmetrics && ns % 1000000000u == 0) {
        memcpy (dst + n, ".0", 2);
        n += 2;
    }
    return n;
}

/* ------------------------------------------------------------------------
 * Doubles
 * ---------------------------------------------------------------------- */

/* printf and strtod follow the calling thread's locale (a comma for the
 * decimal point under de_DE): the digits are made under the C locale,
 * switched for this thread alone by uselocale. glibc and musl hand out a
 * static object for newlocale of "C": no allocation. */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale (void)
{
    c_locale = newlocale (LC_ALL_MASK, "C", (locale_t) 0);
}

/* The shortest significant digits that read back as v (finite, > 0),
 * without trailing zeros, into d; returns how many and sets *exp10 to the
 * decimal exponent of the first digit. For a normal double, 15 digits are
 * tried first: when any decimal of at most 15 digits reads back as v, v
 * rounded to 15 digits is that decimal (half an ulp, at most 2^-53 of v,
 * is below half a unit in the 15th digit, at least 5 x 10^-16 of v); then
 * 16, the nearest 16-digit decimal; 17 always read back. Subnormals have
 * fewer bits: every length from 1 is tried. Should the C locale be
 * missing, the digits are still exact (the point is skipped whatever it
 * is), only perhaps 17 long. */
static size_t shortest_digits (double v, char d[24], int *exp10)
{
    char t[48];
    pthread_once (&c_locale_once, make_c_locale);
    locale_t old = c_locale ? uselocale (c_locale) : (locale_t) 0;
    for (int prec = v < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
        snprintf (t, sizeof t, "%.*e", prec - 1, v);
        if (prec == 17 || strtod (t, NULL) == v)
            break;
    }
    if (c_locale)
        uselocale (old);
    size_t n = 0;
    const char *p = t;
    for (; *p && *p != 'e' && n < 17; p++)
        if (*p >= '0' && *p <= '9')
            d[n++] = *p;
    while (*p && *p != 'e')
        p++;
    int e = 0, neg = 0;
    if (*p == 'e') {
        p++;
        if (*p == '-' || *p == '+')
            neg = *p++ == '-';
        for (; *p >= '0' && *p <= '9'; p++)
            e = e * 10 + (*p - '0');
    }
    while (n > 1 && d[n - 1] == '0')
        n--;
    *exp10 = neg ? -e : e;
    return n;
}

size_t zmqobs__fmt_double (char *dst, double v, int openmetrics)
{
    if (isnan (v)) {
        memcpy (dst, "NaN", 3);
        return 3;
    }
    if (isinf (v)) {
        memcpy (dst, v > 0 ? "+Inf" : "-Inf", 4);
        return 4;
    }
    size_t n = 0;
    if (v == 0) {
        dst[n++] = '0';
        if (openmetrics) {
            dst[n++] = '.';
            dst[n++] = '0';
        }
        return n;
    }
    if (v < 0) {
        dst[n++] = '-';
        v = -v;
    }
    char d[24];
    int e;
    size_t nd;
    if (v < 9007199254740992.0 && v == (double) (uint64_t) v) {
        /* an integer below 2^53 (common: counts, depths) needs no printf:
         * its ulp is at most 1, so no shorter decimal reads back as it,
         * and its digits are the shortest (trailing zeros go) */
        nd = zmqobs__fmt_u64 (d, (uint64_t) v);
        e = (int) nd - 1;
        while (nd > 1 && d[nd - 1] == '0')
            nd--;
    } else
        nd = shortest_digits (v, d, &e);
    if (e < -4 || e >= 6) {
        dst[n++] = d[0];
        if (nd > 1) {
            dst[n++] = '.';
            memcpy (dst + n, d + 1, nd - 1);
            n += nd - 1;
        }
        dst[n++] = 'e';
        dst[n++] = e < 0 ? '-' : '+';
        unsigned a = (unsigned) (e < 0 ? -e : e);
        if (a < 10)
            dst[n++] = '0';
        return n + zmqobs__fmt_u64 (dst + n, a);
    }
    if (e < 0) {
        dst[n++] = '0';
        dst[n++] = '.';
        for (int i = -1; i > e; i--)
            dst[n++] = '0';
        memcpy (dst + n, d, nd);
        return n + nd;
    }
    /* e + 1 integer digits, zeros where the significant ones run out */
    size_t ni = (size_t) e + 1;
    for (size_t i = 0; i < ni; i++)
        dst[n++] = i < nd ? d[i] : '0';
    if (nd > ni) {
        dst[n++] = '.';
        memcpy (dst + n, d + ni, nd - ni);
        n += nd - ni;
    } else if (openmetrics) {
        dst[n++] = '.';
        dst[n++] = '0';
    }
    return n;
}

/* ------------------------------------------------------------------------
 * Escaping
 * ---------------------------------------------------------------------- */

/* Label values (both text formats): backslash, double quote and newline;
 * every other byte, multi-byte UTF-8 included, as is. */
void zmqobs__esc_label (zmqobs_out_t *o, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch != '\\' && ch != '"' && ch != '\n')
            continue;
        zmqobs__put (o, s + start, i - start);
        zmqobs__put (o, ch == '\\' ? "\\\\" : ch == '"' ? "\\\"" : "\\n", 2);
        start = i + 1;
    }
    zmqobs__put (o, s + start, n - start);
}

/* HELP text: text 0.0.4 escapes only backslash and newline (a \" there is
 * an error for promtool); OpenMetrics uses the label rules. */
void zmqobs__esc_help (zmqobs_out_t *o, const char *s, size_t n, int openmetrics)
{
    if (openmetrics) {
        zmqobs__esc_label (o, s, n);
        return;
    }
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch != '\\' && ch != '\n')
            continue;
        zmqobs__put (o, s + start, i - start);
        zmqobs__put (o, ch == '\\' ? "\\\\" : "\\n", 2);
        start = i + 1;
    }
    zmqobs__put (o, s + start, n - start);
}

/* Length of the UTF-8 sequence starting at p if it is valid, else 0. */
static size_t utf8_seq (const unsigned char *p, size_t left)
{
    size_t n = p[0] < 0xC0 ? 0 : p[0] < 0xE0 ? 2 : p[0] < 0xF0 ? 3 : p[0] < 0xF8 ? 4 : 0;
    if (n == 0 || n > left)
        return 0;
    return zmqobs__valid_utf8 ((const char *) p, n) ? n : 0;
}

void zmqobs__esc_json (zmqobs_out_t *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *) s;
    size_t start = 0, i = 0;
    while (i < n) {
        unsigned char ch = p[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\' && ch < 0x80) {
            i++;
            continue;
        }
        if (ch >= 0x80) {
            size_t k = utf8_seq (p + i, n - i);
            if (k) {
                i += k;
                continue;
            }
        }
        zmqobs__put (o, s + start, i - start);
        i++;
        start = i;
        switch (ch) {
        case '"':
            ZMQOBS__PUT_LIT (o, "\\\"");
            break;
        case '\\':
            ZMQOBS__PUT_LIT (o, "\\\\");
            break;
        case '\n':
            ZMQOBS__PUT_LIT (o, "\\n");
            break;
        case '\r':
            ZMQOBS__PUT_LIT (o, "\\r");
            break;
        case '\t':
            ZMQOBS__PUT_LIT (o, "\\t");
            break;
        case '\b':
            ZMQOBS__PUT_LIT (o, "\\b");
            break;
        case '\f':
            ZMQOBS__PUT_LIT (o, "\\f");
            break;
        default:
            if (ch >= 0x80)
                ZMQOBS__PUT_LIT (o, "\\ufffd"); /* not valid UTF-8 */
            else {
                char u[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
                zmqobs__put (o, u, 6);
            }
        }
    }
    zmqobs__put (o, s + start, n - start);
}

void zmqobs__put_json (zmqobs_out_t *o, const char *s, size_t n)
{
    zmqobs__put_c (o, '"');
    zmqobs__esc_json (o, s, n);
    zmqobs__put_c (o, '"');
}

void zmqobs__esc_line (zmqobs_out_t *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c != '"' && c != '\\' && c >= 0x20 && c != 0x7f)
            continue;
        zmqobs__put (o, s + start, i - start);
        start = i + 1;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char) c};
            zmqobs__put (o, esc, 2);
        } else {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            zmqobs__put (o, esc, 4);
        }
    }
    zmqobs__put (o, s + start, n - start);
}

void zmqobs__put_u64 (zmqobs_out_t *o, uint64_t v)
{
    char num[24];
    zmqobs__put (o, num, zmqobs__fmt_u64 (num, v));
}

size_t zmqobs__escape (char *dst, size_t size, const char *src, size_t len, int kind)
{
    zmqobs_out_t o;
    zmqobs__out_init (&o, dst, size);
    switch (kind) {
    case ZMQOBS__ESC_LABEL:
        zmqobs__esc_label (&o, src, len);
        break;
    case ZMQOBS__ESC_HELP:
        zmqobs__esc_help (&o, src, len, 0);
        break;
    case ZMQOBS__ESC_HELP_OM:
        zmqobs__esc_help (&o, src, len, 1);
        break;
    default:
        zmqobs__esc_json (&o, src, len);
        break;
    }
    if (size)
        dst[o.len < o.cap ? o.len : o.cap] = '\0';
    return o.len;
}
