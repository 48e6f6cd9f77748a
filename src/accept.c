/*
 * accept.c - Accept header negotiation: which exposition format an HTTP
 * client gets. Pure: no state, no allocation, never reads past the
 * header's length (fuzzed).
 *
 * SPDX-License-Identifier: MIT
 */
#include "accept.h"

#include <string.h>

/* ------------------------------------------------------------------------
 * Accept negotiation (RFC 9110 section 12.5.1)
 *
 * Each media range is matched against the two text formats; a format
 * takes its q-value from the most specific range that matches it
 * (type/subtype with a matching version > type/subtype > type/star >
 * star/star; among equally specific ranges the highest q). A version
 * parameter other than ours (openmetrics-text version=0.0.1, say) makes a
 * range not match. Ranges with a malformed q-value or syntax are skipped.
 * Then: the higher q wins; on equal q the more specific match wins; then
 * the range listed first; a single wildcard covering both, or no match at
 * all, gives text 0.0.4. A q of 0 for OpenMetrics always gives 0.0.4.
 * Protobuf (application/vnd.google.protobuf) matches only a range with
 * both proto=io.prometheus.client.MetricFamily and encoding=delimited
 * and no other proto or encoding; it then competes with the text format
 * chosen by the same rules.
 * ---------------------------------------------------------------------- */

static int is_tchar (unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return 1;
    return ch != 0 && strchr ("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int is_ows (char ch)
{
    return ch == ' ' || ch == '\t';
}

static int token_eq (const char *s, size_t n, const char *lit)
{
    size_t m = strlen (lit);
    if (n != m)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char a = s[i], b = lit[i];
        if (a >= 'A' && a <= 'Z')
            a = (char) (a - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return 1;
}

int zmqobs__parse_qvalue (const char *s, size_t n)
{
    /* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
    if (!s || n == 0 || n > 5 || (s[0] != '0' && s[0] != '1'))
        return -1;
    if (n > 1 && s[1] != '.')
        return -1;
    int q = s[0] == '1' ? 1000 : 0;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (q == 1000 && s[i] != '0')
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q;
}

typedef struct {
    int spec;   /* -1: no match yet */
    int q;      /* 0..1000 */
    size_t idx; /* position of the range in the header */
} match_t;

static void consider (match_t *m, int spec, int q, size_t idx)
{
    if (spec > m->spec || (spec == m->spec && q > m->q)) {
        m->spec = spec;
        m->q = q;
        m->idx = idx;
    }
}

/* The choice between the two text formats. */
static zmqobs_format_t text_format (const match_t *om, const match_t *text)
{
    if (om->spec < 0 || om->q == 0)
        return ZMQOBS_FORMAT_PROMETHEUS;
    if (text->spec < 0 || om->q > text->q)
        return ZMQOBS_FORMAT_OPENMETRICS;
    if (om->q < text->q)
        return ZMQOBS_FORMAT_PROMETHEUS;
    if (om->spec != text->spec)
        return om->spec > text->spec ? ZMQOBS_FORMAT_OPENMETRICS : ZMQOBS_FORMAT_PROMETHEUS;
    return om->idx < text->idx ? ZMQOBS_FORMAT_OPENMETRICS : ZMQOBS_FORMAT_PROMETHEUS;
}

zmqobs_format_t zmqobs__format_from_accept_n (const char *s, size_t n)
{
    match_t om = {-1, 0, 0}, text = {-1, 0, 0}, pb = {-1, 0, 0};
    size_t i = 0, idx = 0;
    if (!s)
        n = 0;
    while (i < n) {
        /* one media range: type "/" subtype *( OWS ";" OWS param ) */
        int ok = 1;
        while (i < n && (is_ows (s[i]) || s[i] == ','))
            i++;
        if (i >= n)
            break;
        size_t t0 = i;
        while (i < n && is_tchar ((unsigned char) s[i]))
            i++;
        size_t t1 = i;
        size_t st0 = i, st1 = i;
        if (i < n && s[i] == '/' && t1 > t0) {
            st0 = ++i;
            while (i < n && is_tchar ((unsigned char) s[i]))
                i++;
            st1 = i;
        }
        if (st1 == st0)
            ok = 0;
        int q = 1000;
        int version = 0; /* 0 none, 1 ours, -1 another */
        const char *ver = NULL;
        size_t ver_len = 0;
        int pb_params = 0; /* protobuf: 1 proto=..MetricFamily, 2 encoding=delimited */
        while (ok) {
            while (i < n && is_ows (s[i]))
                i++;
            if (i >= n || s[i] == ',')
                break;
            if (s[i] != ';') {
                ok = 0;
                break;
            }
            i++;
            while (i < n && is_ows (s[i]))
                i++;
            size_t p0 = i;
            while (i < n && is_tchar ((unsigned char) s[i]))
                i++;
            size_t p1 = i;
            if (p1 == p0 || i >= n || s[i] != '=') {
                ok = 0;
                break;
            }
            i++;
            size_t v0 = i, v1;
            if (i < n && s[i] == '"') {
                /* quoted-string; the value is compared without unescaping,
                 * so an escaped version never matches ours */
                i++;
                v0 = i;
                while (i < n && s[i] != '"') {
                    if (s[i] == '\\' && i + 1 < n)
                        i++;
                    i++;
                }
                if (i >= n) {
                    ok = 0;
                    break;
                }
                v1 = i++;
            } else {
                while (i < n && is_tchar ((unsigned char) s[i]))
                    i++;
                v1 = i;
                if (v1 == v0) {
                    ok = 0;
                    break;
                }
            }
            if (token_eq (s + p0, p1 - p0, "q")) {
                q = zmqobs__parse_qvalue (s + v0, v1 - v0);
                if (q < 0)
                    ok = 0;
            } else if (token_eq (s + p0, p1 - p0, "version")) {
                ver = s + v0;
                ver_len = v1 - v0;
            } else if (token_eq (s + p0, p1 - p0, "proto")) {
                /* a protobuf package name is case-sensitive */
                if (v1 - v0 == 33 && memcmp (s + v0, "io.prometheus.client.MetricFamily", 33) == 0)
                    pb_params |= 1;
                else
                    pb_params |= 4;
            } else if (token_eq (s + p0, p1 - p0, "encoding")) {
                pb_params |= token_eq (s + v0, v1 - v0, "delimited") ? 2 : 4;
            }
        }
        if (!ok) {
            /* skip the rest of this range, honouring quoted strings */
            int quoted = 0;
            while (i < n && (quoted || s[i] != ',')) {
                if (s[i] == '\\' && quoted && i + 1 < n)
                    i++;
                else if (s[i] == '"')
                    quoted = !quoted;
                i++;
            }
            idx++;
            continue;
        }
        const char *type = s + t0, *sub = s + st0;
        size_t tl = t1 - t0, sl = st1 - st0;
        if (token_eq (type, tl, "*")) {
            if (token_eq (sub, sl, "*")) {
                consider (&om, 0, q, idx);
                consider (&text, 0, q, idx);
            }
        } else if (token_eq (type, tl, "application")) {
            if (token_eq (sub, sl, "*"))
                consider (&om, 1, q, idx);
            else if (token_eq (sub, sl, "vnd.google.protobuf")) {
                if (pb_params == 3)
                    consider (&pb, 3, q, idx);
            } else if (token_eq (sub, sl, "openmetrics-text")) {
                version = !ver ? 0 : token_eq (ver, ver_len, "1.0.0") ? 1 : -1;
                if (version >= 0)
                    consider (&om, 2 + version, q, idx);
            }
        } else if (token_eq (type, tl, "text")) {
            if (token_eq (sub, sl, "*"))
                consider (&text, 1, q, idx);
            else if (token_eq (sub, sl, "plain")) {
                version = !ver ? 0 : token_eq (ver, ver_len, "0.0.4") ? 1 : -1;
                if (version >= 0)
                    consider (&text, 2 + version, q, idx);
            }
        }
        idx++;
    }
    zmqobs_format_t f = text_format (&om, &text);
    /* protobuf only when asked for by name, with a q above 0, and
     * preferred to the text format chosen (same rules) */
    const match_t *t = f == ZMQOBS_FORMAT_OPENMETRICS ? &om : &text;
    if (pb.spec < 0 || pb.q == 0)
        return f;
    if (t->spec < 0 || pb.q > t->q)
        return ZMQOBS_FORMAT_PROTOBUF;
    if (pb.q < t->q)
        return f;
    if (pb.spec != t->spec)
        return pb.spec > t->spec ? ZMQOBS_FORMAT_PROTOBUF : f;
    return pb.idx < t->idx ? ZMQOBS_FORMAT_PROTOBUF : f;
}

zmqobs_format_t zmqobs_format_from_accept (const char *accept)
{
    if (!accept)
        return ZMQOBS_FORMAT_PROMETHEUS;
    return zmqobs__format_from_accept_n (accept, strlen (accept));
}
