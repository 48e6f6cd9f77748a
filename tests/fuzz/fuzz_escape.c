/*
 * fuzz_escape.c - libFuzzer target for label, HELP and JSON escaping,
 * through the formatter and on its own.
 *
 * 1. zmqobs__escape on the raw input, for every kind (label value, HELP
 *    in text 0.0.4, HELP in OpenMetrics, JSON string): the output decodes
 *    back to exactly the input with an unescape written here from the
 *    format rules (for JSON, input that is not valid UTF-8 gives valid
 *    UTF-8 with U+FFFD in place of each bad byte), it never contains a raw
 *    newline, and it has snprintf semantics at a size chosen from the
 *    input.
 * 2. When the input is a valid socket name (1..ZMQOBS_NAME_MAX bytes of
 *    valid UTF-8 before any NUL, as checked by a validator written here,
 *    which must agree with the library's), an observer whose constant label
 *    "service" has the input as its value attaches a socket named by the
 *    input. The Prometheus text and OpenMetrics outputs are parsed line by
 *    line: every socket="..." and service="..." label value decodes to the
 *    input, no label value holds a raw newline, every HELP line decodes
 *    cleanly. The JSON output is parsed as JSON and its "name" and
 *    "service" strings decode to the input. Invalid names must be refused
 *    with EINVAL.
 *
 * SPDX-License-Identifier: MIT
 */
#include "../internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort ();                                                            \
        }                                                                        \
    } while (0)

/* The checkers are not instrumented for coverage: their branches say
 * nothing about the library and would only slow the fuzzer down. */
#if defined(__clang__) && __clang_major__ >= 13
#define NOCOV __attribute__ ((no_sanitize ("coverage"), noinline))
#else
#define NOCOV
#endif

#define OUT_MAX (1 << 20)
static char *out;
static void *ctx;
static void *zsock;

/* ------------------------------------------------------------------------
 * Independent unescapes. Each returns the decoded length, or (size_t) -1
 * if the escaped text breaks the format's rules.
 * ---------------------------------------------------------------------- */
#define BAD ((size_t) -1)

/* Label values, and HELP in OpenMetrics: \\ \" \n; raw " and LF are not
 * allowed inside. help004: HELP in text 0.0.4: only \\ and \n escapes, a
 * raw " is fine. */
NOCOV static size_t unescape_text (const char *s, size_t n, char *dst, int help004)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\n')
            return BAD;
        if (c == '"' && !help004)
            return BAD;
        if (c != '\\') {
            dst[k++] = c;
            continue;
        }
        if (++i == n)
            return BAD;
        switch (s[i]) {
        case '\\': dst[k++] = '\\'; break;
        case 'n': dst[k++] = '\n'; break;
        case '"':
            if (help004)
                return BAD;
            dst[k++] = '"';
            break;
        default: return BAD;
        }
    }
    return k;
}

NOCOV static int hexval (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

NOCOV static int hex4 (const char *s, size_t left, unsigned *v)
{
    if (left < 4)
        return -1;
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval (s[i]);
        if (h < 0)
            return -1;
        x = (x << 4) | (unsigned) h;
    }
    *v = x;
    return 0;
}

NOCOV static size_t put_utf8 (char *dst, unsigned cp)
{
    if (cp < 0x80) {
        dst[0] = (char) cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char) (0xC0 | (cp >> 6));
        dst[1] = (char) (0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char) (0xE0 | (cp >> 12));
        dst[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
        dst[2] = (char) (0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (char) (0xF0 | (cp >> 18));
    dst[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
    dst[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
    dst[3] = (char) (0x80 | (cp & 0x3F));
    return 4;
}

/* JSON string contents (RFC 8259), without the quotes. Bytes >= 0x80 are
 * passed through, so invalid UTF-8 in the input round-trips byte-wise. */
NOCOV static size_t unescape_json (const char *s, size_t n, char *dst)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c < 0x20 || c == '"')
            return BAD;
        if (c != '\\') {
            dst[k++] = (char) c;
            continue;
        }
        if (++i == n)
            return BAD;
        switch (s[i]) {
        case '"': dst[k++] = '"'; break;
        case '\\': dst[k++] = '\\'; break;
        case '/': dst[k++] = '/'; break;
        case 'b': dst[k++] = '\b'; break;
        case 'f': dst[k++] = '\f'; break;
        case 'n': dst[k++] = '\n'; break;
        case 'r': dst[k++] = '\r'; break;
        case 't': dst[k++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (hex4 (s + i + 1, n - i - 1, &cp))
                return BAD;
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (n - i - 1 < 6 || s[i + 1] != '\\' || s[i + 2] != 'u'
                    || hex4 (s + i + 3, n - i - 3, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return BAD;
                i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF)
                return BAD;
            k += put_utf8 (dst + k, cp);
            break;
        }
        default: return BAD;
        }
    }
    return k;
}

/* Strict UTF-8 (RFC 3629), NUL refused: 1 if valid. */
NOCOV static int utf8_ok (const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned min, cp;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0)
            len = 2, min = 0x80, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0)
            len = 3, min = 0x800, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0)
            len = 4, min = 0x10000, cp = c & 0x07;
        else
            return 0;
        if (n - i < len)
            return 0;
        for (size_t j = 1; j < len; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

/* ------------------------------------------------------------------------
 * Part 1: zmqobs__escape on its own
 * ---------------------------------------------------------------------- */

/* Valid UTF-8 where NUL counts as any other control character (the
 * JSON escaper writes it as \u0000): each NUL-free run checked alone. */
NOCOV static int utf8_ok_nul (const unsigned char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++)
        if (i == n || s[i] == 0) {
            if (i > start && !utf8_ok (s + start, i - start))
                return 0;
            start = i + 1;
        }
    return 1;
}

static void check_escape (const char *in, size_t n, int kind, size_t cut)
{
    /* measuring with size 0 but not NULL: expose.c's put() computes
     * NULL + 0 for a zero-length piece at offset 0 (an open issue) */
    char dummy[1];
    size_t need = zmqobs__escape (dummy, 0, in, n, kind);
    char *esc = malloc (need + 1);
    char *dec = malloc (need + 1);
    CHECK (esc && dec);
    CHECK (zmqobs__escape (esc, need + 1, in, n, kind) == need);
    CHECK (esc[need] == '\0');
    CHECK (memchr (esc, '\n', need) == NULL);
    size_t k;
    if (kind == ZMQOBS__ESC_JSON && !utf8_ok_nul ((const unsigned char *) in, n)) {
        /* bytes that are not UTF-8 become U+FFFD, so the output is valid
         * UTF-8 (valid JSON) whatever came in: no exact round trip */
        CHECK (utf8_ok ((const unsigned char *) esc, need));
        CHECK (strstr (esc, "\\ufffd") != NULL);
        k = unescape_json (esc, need, dec);
        CHECK (utf8_ok_nul ((const unsigned char *) dec, k));
    } else {
        if (kind == ZMQOBS__ESC_JSON)
            k = unescape_json (esc, need, dec);
        else
            k = unescape_text (esc, need, dec, kind == ZMQOBS__ESC_HELP);
        CHECK (k == n);
        CHECK (n == 0 || memcmp (dec, in, n) == 0);
    }

    /* snprintf semantics at a smaller size: a prefix, terminated, same
     * return value, nothing written past size */
    if (need > 0) {
        size_t size = cut % (need + 1);
        char *part = malloc (size + 1);
        CHECK (part != NULL);
        part[size] = 'X';
        CHECK (zmqobs__escape (part, size, in, n, kind) == need);
        CHECK (part[size] == 'X');
        if (size > 0) {
            CHECK (part[size - 1] == '\0');
            CHECK (memcmp (part, esc, size - 1) == 0);
        }
        free (part);
    }
    free (esc);
    free (dec);
}

/* ------------------------------------------------------------------------
 * Part 2: the formatter's outputs
 * ---------------------------------------------------------------------- */

typedef struct {
    const char *name;  /* the expected label value */
    size_t name_len;
    unsigned socket_hits, service_hits, samples;
} expect_t;

NOCOV static int is_name_start (char c, int metric)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
}

NOCOV static int is_name_char (char c, int metric)
{
    return is_name_start (c, metric) || (c >= '0' && c <= '9');
}

/* Parses a whole Prometheus text 0.0.4 or OpenMetrics exposition; aborts
 * on anything malformed. */
NOCOV static void check_prom (const char *b, size_t n, int om, expect_t *e)
{
    static char dec[OUT_MAX];
    CHECK (n > 0 && b[n - 1] == '\n');
    if (om)
        CHECK (n >= 6 && memcmp (b + n - 6, "# EOF\n", 6) == 0);
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr (b + i, '\n', n - i);
        CHECK (nl != NULL);
        size_t end = (size_t) (nl - b);
        CHECK (end > i); /* no blank lines */
        if (b[i] == '#') {
            const char *l = b + i;
            size_t len = end - i;
            if (om && len == 5 && memcmp (l, "# EOF", 5) == 0) {
                CHECK (end + 1 == n);
            } else {
                CHECK (len > 7 && (memcmp (l, "# HELP ", 7) == 0 || memcmp (l, "# TYPE ", 7) == 0
                                   || (om && memcmp (l, "# UNIT ", 7) == 0)));
                size_t j = 7;
                CHECK (is_name_start (l[j], 1));
                while (j < len && is_name_char (l[j], 1))
                    j++;
                CHECK (j < len && l[j] == ' ');
                j++;
                if (memcmp (l, "# HELP ", 7) == 0)
                    CHECK (unescape_text (l + j, len - j, dec, !om) != BAD);
            }
            i = end + 1;
            continue;
        }
        /* sample: name [ "{" label="value" { "," label="value" } "}" ] " " value */
        e->samples++;
        CHECK (is_name_start (b[i], 1));
        while (i < end && is_name_char (b[i], 1))
            i++;
        if (b[i] == '{') {
            i++;
            for (;;) {
                size_t l0 = i;
                CHECK (is_name_start (b[i], 0));
                while (is_name_char (b[i], 0))
                    i++;
                size_t l1 = i;
                CHECK (b[i] == '=' && b[i + 1] == '"');
                i += 2;
                /* the value runs to the first unescaped quote; a raw
                 * newline before it is an error, caught by the unescape */
                size_t v0 = i;
                while (i < n && b[i] != '"') {
                    if (b[i] == '\\')
                        i++;
                    i++;
                }
                CHECK (i < n);
                size_t k = unescape_text (b + v0, i - v0, dec, 0);
                CHECK (k != BAD);
                size_t ln = l1 - l0;
                if ((ln == 6 && memcmp (b + l0, "socket", 6) == 0)
                    || (ln == 7 && memcmp (b + l0, "service", 7) == 0)) {
                    CHECK (k == e->name_len && memcmp (dec, e->name, k) == 0);
                    if (ln == 6)
                        e->socket_hits++;
                    else
                        e->service_hits++;
                }
                i++; /* the closing quote */
                if (b[i] == ',') {
                    i++;
                    continue;
                }
                CHECK (b[i] == '}');
                i++;
                break;
            }
            /* the label set ended on the line it started on */
            CHECK (i <= end);
        }
        CHECK (b[i] == ' ');
        i++;
        CHECK (i < end);
        for (; i < end; i++)
            CHECK (b[i] != '"' && b[i] != '{' && b[i] != '\\');
        i = end + 1;
    }
}

/* A small JSON parser: validates the grammar and checks the strings under
 * the keys "name" and "service". */
typedef struct {
    const char *s;
    size_t n, i;
    expect_t *e;
    char *dec;
} json_t;

NOCOV static void ws (json_t *j)
{
    while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n'
                           || j->s[j->i] == '\r'))
        j->i++;
}

/* Parses a string at j->i; returns its decoded length in j->dec. */
NOCOV static size_t jstring (json_t *j)
{
    CHECK (j->i < j->n && j->s[j->i] == '"');
    size_t v0 = ++j->i;
    while (j->i < j->n && j->s[j->i] != '"') {
        if (j->s[j->i] == '\\')
            j->i++;
        j->i++;
    }
    CHECK (j->i < j->n);
    size_t k = unescape_json (j->s + v0, j->i - v0, j->dec);
    CHECK (k != BAD);
    j->i++;
    return k;
}

static void jvalue (json_t *j, const char *key, size_t key_len, int depth);

NOCOV static void jnumber (json_t *j)
{
    const char *s = j->s;
    size_t i = j->i;
    if (i < j->n && s[i] == '-')
        i++;
    CHECK (i < j->n && s[i] >= '0' && s[i] <= '9');
    if (s[i] == '0')
        i++;
    else
        while (i < j->n && s[i] >= '0' && s[i] <= '9')
            i++;
    if (i < j->n && s[i] == '.') {
        i++;
        CHECK (i < j->n && s[i] >= '0' && s[i] <= '9');
        while (i < j->n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < j->n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < j->n && (s[i] == '+' || s[i] == '-'))
            i++;
        CHECK (i < j->n && s[i] >= '0' && s[i] <= '9');
        while (i < j->n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    j->i = i;
}

NOCOV static void jvalue (json_t *j, const char *key, size_t key_len, int depth)
{
    CHECK (depth < 16);
    ws (j);
    CHECK (j->i < j->n);
    char c = j->s[j->i];
    if (c == '{') {
        j->i++;
        ws (j);
        if (j->s[j->i] == '}') {
            j->i++;
            return;
        }
        for (;;) {
            ws (j);
            char k[16];
            size_t kl = jstring (j);
            size_t keep = kl < sizeof k ? kl : sizeof k;
            memcpy (k, j->dec, keep);
            ws (j);
            CHECK (j->i < j->n && j->s[j->i] == ':');
            j->i++;
            jvalue (j, k, kl, depth + 1);
            ws (j);
            CHECK (j->i < j->n);
            if (j->s[j->i] == ',') {
                j->i++;
                continue;
            }
            CHECK (j->s[j->i] == '}');
            j->i++;
            return;
        }
    } else if (c == '[') {
        j->i++;
        ws (j);
        if (j->s[j->i] == ']') {
            j->i++;
            return;
        }
        for (;;) {
            jvalue (j, NULL, 0, depth + 1);
            ws (j);
            CHECK (j->i < j->n);
            if (j->s[j->i] == ',') {
                j->i++;
                continue;
            }
            CHECK (j->s[j->i] == ']');
            j->i++;
            return;
        }
    } else if (c == '"') {
        size_t k = jstring (j);
        int is_name = key_len == 4 && memcmp (key, "name", 4) == 0;
        int is_service = key_len == 7 && memcmp (key, "service", 7) == 0;
        if (is_name || is_service) {
            CHECK (k == j->e->name_len && memcmp (j->dec, j->e->name, k) == 0);
            if (is_name)
                j->e->socket_hits++;
            else
                j->e->service_hits++;
        }
    } else if (c == 't') {
        CHECK (j->n - j->i >= 4 && memcmp (j->s + j->i, "true", 4) == 0);
        j->i += 4;
    } else if (c == 'f') {
        CHECK (j->n - j->i >= 5 && memcmp (j->s + j->i, "false", 5) == 0);
        j->i += 5;
    } else if (c == 'n') {
        CHECK (j->n - j->i >= 4 && memcmp (j->s + j->i, "null", 4) == 0);
        j->i += 4;
    } else
        jnumber (j);
}

NOCOV static void check_json (const char *b, size_t n, expect_t *e)
{
    static char dec[OUT_MAX];
    json_t j = {b, n, 0, e, dec};
    jvalue (&j, NULL, 0, 0);
    ws (&j);
    CHECK (j.i == n);
}

static size_t format (zmqobs_t *obs, zmqobs_format_t f)
{
    int len = zmqobs_format (obs, f, out, OUT_MAX);
    CHECK (len > 0 && len < OUT_MAX);
    CHECK (out[len] == '\0' && strlen (out) == (size_t) len);
    return (size_t) len;
}

static void check_formats (const char *name, size_t len)
{
    zmqobs_label_t label = {"service", name};
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    opts.host_driven = 1;
    opts.no_process_metrics = 1;
    opts.ring_capacity = 16;
    static const uint64_t bounds[] = {1000, 1000000};
    opts.buckets_ns = bounds;
    opts.bucket_count = 2;
    opts.labels = &label;
    opts.label_count = 1;
    zmqobs_t *obs = zmqobs_new (ctx, &opts);
    CHECK (obs != NULL);
    /* libzmq destroys closed sockets asynchronously (its reaper thread):
     * thousands of attach/detach cycles a second can run into its socket
     * limit (EMFILE) for a moment. Wait for the reaper then; anything
     * else is a failure. */
    zmqobs_socket_t *s = zmqobs_attach (obs, zsock, name);
    for (int tries = 0; !s && errno == EMFILE && tries < 500; tries++) {
        struct timespec pause = {0, 2000000};
        nanosleep (&pause, NULL);
        s = zmqobs_attach (obs, zsock, name);
    }
    if (!s)
        fprintf (stderr, "zmqobs_attach: %s\n", strerror (errno));
    CHECK (s != NULL);
    CHECK (strcmp (zmqobs_socket_name (s), name) == 0);
    zmqobs_record_sent (s, 3, 0);
    zmqobs_record_latency (s, 5000);

    expect_t e = {name, len, 0, 0, 0};
    check_prom (out, format (obs, ZMQOBS_FORMAT_PROMETHEUS), 0, &e);
    CHECK (e.samples > 0 && e.socket_hits > 0 && e.service_hits == e.samples);
    expect_t o = {name, len, 0, 0, 0};
    check_prom (out, format (obs, ZMQOBS_FORMAT_OPENMETRICS), 1, &o);
    CHECK (o.samples > 0 && o.socket_hits > 0 && o.service_hits == o.samples);
    expect_t js = {name, len, 0, 0, 0};
    check_json (out, format (obs, ZMQOBS_FORMAT_JSON), &js);
    CHECK (js.socket_hits == 1 && js.service_hits == 1);
    /* the human report: any bytes, but snprintf semantics */
    size_t tl = format (obs, ZMQOBS_FORMAT_TEXT);
    CHECK (zmqobs_format (obs, ZMQOBS_FORMAT_TEXT, NULL, 0) == (int) tl);

    zmqobs_detach (&s);
    zmqobs_destroy (&obs);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!ctx) {
        out = malloc (OUT_MAX);
        ctx = zmq_ctx_new ();
        zsock = zmq_socket (ctx, ZMQ_PAIR);
        CHECK (out && ctx && zsock);
        /* a fixed uptime: the human report's length depends on it */
        zmqobs__test_uptime_ns = 1234567890;
    }
    if (size > 4 * ZMQOBS_NAME_MAX)
        return 0;
    const char *in = (const char *) data;
    size_t cut = size ? data[0] * 7u + size : 0;
    check_escape (in, size, ZMQOBS__ESC_LABEL, cut);
    check_escape (in, size, ZMQOBS__ESC_HELP, cut);
    check_escape (in, size, ZMQOBS__ESC_HELP_OM, cut);
    check_escape (in, size, ZMQOBS__ESC_JSON, cut);

    /* the input as a C string, as zmqobs_attach sees it */
    char name[4 * ZMQOBS_NAME_MAX + 1];
    memcpy (name, data, size);
    name[size] = '\0';
    size_t len = strlen (name);
    int valid = len >= 1 && len <= ZMQOBS_NAME_MAX && utf8_ok ((const unsigned char *) name, len);
    CHECK (zmqobs__valid_utf8 (in, size) == utf8_ok (data, size));
    if (!valid) {
        static zmqobs_t *plain;
        if (!plain) {
            zmqobs_options_t opts;
            zmqobs_options_init (&opts);
            opts.host_driven = 1;
            plain = zmqobs_new (ctx, &opts);
            CHECK (plain != NULL);
        }
        errno = 0;
        CHECK (zmqobs_attach (plain, zsock, name) == NULL && errno == EINVAL);
        return 0;
    }
    check_formats (name, len);
    return 0;
}
