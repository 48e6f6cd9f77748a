/*
 * http_parse.c - the HTTP/1.x request head parser: pure, bounded, never
 * reads past the buffer's length, refuses invalid bytes as soon as it
 * sees them (fuzzed); and the parser of zmqobs_serve's endpoint. Neither
 * touches a socket.
 *
 * SPDX-License-Identifier: MIT
 */
#include "http_parse.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/* Empty lines ignored before a request line (RFC 9112 asks for at least
 * one); more are answered with 400. */
#define EMPTY_LINES_MAX 8

/* ------------------------------------------------------------------------
 * Request parser: pure, bounded, never reads past len.
 * ---------------------------------------------------------------------- */

static int is_tchar (unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != 0 && strchr ("!#$%&'*+-.^_`|~", c) != NULL;
}

static int lower (int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int ieq (const char *a, size_t alen, const char *b)
{
    size_t blen = strlen (b);
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (lower ((unsigned char) a[i]) != lower ((unsigned char) b[i]))
            return 0;
    return 1;
}

static int parse_error (zmqobs_http_request_t *out, int status)
{
    out->status = status;
    errno = EPROTO;
    return -1;
}

/* Checks the request line seen so far (n bytes, complete when the caller
 * found its LF; the CR, if any, is excluded from n). Fills method, target
 * and version on success. Returns 1 valid, 0 valid prefix, or an HTTP
 * status for the error. Checking prefixes lets binary garbage and
 * over-long targets be refused before a line end ever arrives. */
static int check_request_line (const char *p, size_t n, int complete, zmqobs_http_request_t *out,
                               const char **target, size_t *target_len)
{
    size_t i = 0;
    while (i < n && p[i] != ' ') {
        if (!is_tchar ((unsigned char) p[i]))
            return 400;
        i++;
    }
    if (i > 32)
        return 400; /* no method is that long: garbage */
    if (i == n)
        return complete ? 400 : 0;
    size_t mlen = i;
    if (mlen == 0)
        return 400;
    size_t t0 = ++i;
    while (i < n && p[i] != ' ') {
        unsigned char c = (unsigned char) p[i];
        if (c <= 0x20 || c >= 0x7f)
            return 400;
        i++;
    }
    if (i - t0 > ZMQOBS__HTTP_URI_MAX)
        return 414;
    if (i == n)
        return complete ? 400 : 0;
    if (i == t0)
        return 400;
    size_t tlen = i - t0;
    i++;
    static const char proto[] = "HTTP/";
    size_t v = n - i; /* version bytes seen */
    for (size_t k = 0; k < v; k++) {
        char c = p[i + k];
        if (k < 5) {
            if (c != proto[k])
                return 400;
        } else if (k == 5 || k == 7) {
            if (c < '0' || c > '9')
                return 400;
        } else if (k == 6) {
            if (c != '.')
                return 400;
        } else
            return 400;
    }
    if (!complete)
        return 0;
    if (v != 8)
        return 400;
    if (p[i + 5] != '1')
        return 505;
    out->version_minor = p[i + 7] - '0';
    if (mlen == 3 && memcmp (p, "GET", 3) == 0)
        out->method = ZMQOBS__HTTP_GET;
    else if (mlen == 4 && memcmp (p, "HEAD", 4) == 0)
        out->method = ZMQOBS__HTTP_HEAD;
    else
        out->method = ZMQOBS__HTTP_OTHER;
    *target = p + t0;
    *target_len = tlen;
    return 1;
}

/* Checks one header line (n bytes without CR/LF); a partial line is
 * checked as far as it goes. Returns 0 valid or 400. On a complete line
 * sets the name and the value with surrounding whitespace trimmed. */
static int check_header_line (const char *p, size_t n, int complete, size_t *name_len,
                              const char **value, size_t *value_len)
{
    size_t i = 0;
    if (n > 0 && (p[0] == ' ' || p[0] == '\t'))
        return 400; /* obsolete line folding */
    while (i < n && p[i] != ':') {
        if (!is_tchar ((unsigned char) p[i]))
            return 400;
        i++;
    }
    if (i == n)
        return complete ? 400 : 0;
    if (i == 0)
        return 400;
    *name_len = i;
    i++;
    for (size_t k = i; k < n; k++) {
        unsigned char c = (unsigned char) p[k];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 400;
    }
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    size_t end = n;
    while (end > i && (p[end - 1] == ' ' || p[end - 1] == '\t'))
        end--;
    *value = p + i;
    *value_len = end - i;
    return 0;
}

/* Applies a Connection header's comma-separated tokens. */
static void connection_tokens (const char *v, size_t n, int *close_tok, int *keep_tok)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (ieq (v + s, i - s, "close"))
            *close_tok = 1;
        else if (ieq (v + s, i - s, "keep-alive"))
            *keep_tok = 1;
    }
}

/* Strict Content-Length: digits only, no overflow. -1 if invalid. */
static long long content_length (const char *v, size_t n)
{
    if (n == 0 || n > 18)
        return -1;
    long long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

int zmqobs__http_parse (const char *buf, size_t len, zmqobs_http_request_t *out)
{
    if (!out || (!buf && len > 0)) {
        errno = EINVAL;
        return -1;
    }
    memset (out, 0, sizeof *out);
    if (len == 0)
        return 0;
    size_t lim = len < ZMQOBS__HTTP_HEAD_MAX ? len : ZMQOBS__HTTP_HEAD_MAX;
    size_t pos = 0;
    /* A server should ignore empty lines before the request line; a few
     * are allowed, a flood of them is garbage. */
    int empty_lines = 0;
    while (pos < lim && (buf[pos] == '\r' || buf[pos] == '\n')) {
        if (buf[pos] == '\r' && pos + 1 < lim && buf[pos + 1] != '\n')
            return parse_error (out, 400);
        if (buf[pos] == '\n' && ++empty_lines > EMPTY_LINES_MAX)
            return parse_error (out, 400);
        pos++;
    }

    /* request line */
    const char *line = buf + pos;
    const char *nl = memchr (line, '\n', lim - pos);
    size_t llen = nl ? (size_t) (nl - line) : lim - pos;
    int complete = nl != NULL;
    if (complete && llen > 0 && line[llen - 1] == '\r')
        llen--;
    else if (!complete && llen > 0 && line[llen - 1] == '\r')
        llen--; /* the CR of a CRLF whose LF is still to come */
    const char *target = NULL;
    size_t tlen = 0;
    int st = check_request_line (line, llen, complete, out, &target, &tlen);
    if (st > 1)
        return parse_error (out, st);
    if (!complete) {
        if (len >= ZMQOBS__HTTP_HEAD_MAX)
            return parse_error (out, 414);
        return 0;
    }
    pos = (size_t) (nl - buf) + 1;

    /* headers */
    int host_count = 0, close_tok = 0, keep_tok = 0;
    long long clen = -2; /* none seen */
    for (;;) {
        line = buf + pos;
        nl = memchr (line, '\n', lim - pos);
        complete = nl != NULL;
        llen = complete ? (size_t) (nl - line) : lim - pos;
        if (llen > 0 && line[llen - 1] == '\r')
            llen--;
        if (complete && llen == 0) {
            pos = (size_t) (nl - buf) + 1;
            break; /* end of the head */
        }
        /* a CR anywhere but right before the LF is not allowed */
        if (memchr (line, '\r', llen))
            return parse_error (out, 400);
        size_t name_len = 0, vlen = 0;
        const char *value = NULL;
        if (check_header_line (line, llen, complete, &name_len, &value, &vlen))
            return parse_error (out, 400);
        if (!complete) {
            if (len >= ZMQOBS__HTTP_HEAD_MAX)
                return parse_error (out, 431);
            return 0;
        }
        if (++out->header_count > ZMQOBS__HTTP_HEADERS_MAX)
            return parse_error (out, 431);
        if (ieq (line, name_len, "host"))
            host_count++;
        else if (ieq (line, name_len, "accept")) {
            if (!out->accept) {
                out->accept = value;
                out->accept_len = vlen;
            }
        } else if (ieq (line, name_len, "connection"))
            connection_tokens (value, vlen, &close_tok, &keep_tok);
        else if (ieq (line, name_len, "content-length")) {
            long long v = content_length (value, vlen);
            if (v < 0 || (clen >= 0 && v != clen))
                return parse_error (out, 400);
            clen = v;
        } else if (ieq (line, name_len, "transfer-encoding"))
            out->has_body = 1;
        pos = (size_t) (nl - buf) + 1;
    }
    if (clen > 0)
        out->has_body = 1;
    /* HTTP/1.1 requires exactly one Host; 1.0 allows at most one. */
    if ((out->version_minor >= 1 && host_count != 1) || host_count > 1)
        return parse_error (out, 400);

    /* origin-form "/path?query" or absolute-form "http://host/path?query" */
    if (tlen >= 7 && (ieq (target, 7, "http://") || (tlen >= 8 && ieq (target, 8, "https://")))) {
        const char *t = memchr (target, ':', tlen) + 3;
        const char *slash = memchr (t, '/', tlen - (size_t) (t - target));
        if (slash) {
            tlen -= (size_t) (slash - target);
            target = slash;
        } else {
            target = "/";
            tlen = 1;
        }
    } else if (target[0] != '/')
        return parse_error (out, 400);
    const char *q = memchr (target, '?', tlen);
    out->path = target;
    out->path_len = q ? (size_t) (q - target) : tlen;
    out->keep_alive = out->version_minor >= 1 ? !close_tok : (keep_tok && !close_tok);
    return (int) pos;
}

/* ------------------------------------------------------------------------
 * The endpoint of zmqobs_serve: pure, no name resolution.
 * ---------------------------------------------------------------------- */

/* "tcp://HOST:PORT": HOST is an IPv4 address, "*" (every IPv4
 * interface, as 0.0.0.0), "localhost" (127.0.0.1) or a bracketed IPv6
 * address; PORT is 0..65535 or "*" (any free port). Host names are not
 * resolved, so serving never waits on DNS. */
static int parse_endpoint (const char *ep, struct sockaddr_storage *ss, socklen_t *sl)
{
    if (strncmp (ep, "tcp://", 6) != 0)
        return -1;
    const char *host = ep + 6;
    const char *colon;
    char hbuf[64];
    size_t hlen;
    memset (ss, 0, sizeof *ss);
    if (*host == '[') {
        const char *close_br = strchr (host, ']');
        if (!close_br || close_br[1] != ':')
            return -1;
        hlen = (size_t) (close_br - host - 1);
        colon = close_br + 1;
        if (hlen == 0 || hlen >= sizeof hbuf)
            return -1;
        memcpy (hbuf, host + 1, hlen);
        hbuf[hlen] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *) ss;
        a6->sin6_family = AF_INET6;
        if (inet_pton (AF_INET6, hbuf, &a6->sin6_addr) != 1)
            return -1;
        *sl = sizeof *a6;
    } else {
        colon = strrchr (host, ':');
        if (!colon)
            return -1;
        hlen = (size_t) (colon - host);
        if (hlen == 0 || hlen >= sizeof hbuf)
            return -1;
        memcpy (hbuf, host, hlen);
        hbuf[hlen] = '\0';
        struct sockaddr_in *a4 = (struct sockaddr_in *) ss;
        a4->sin_family = AF_INET;
        if (strcmp (hbuf, "*") == 0)
            a4->sin_addr.s_addr = htonl (INADDR_ANY);
        else if (strcmp (hbuf, "localhost") == 0)
            a4->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
        else if (inet_pton (AF_INET, hbuf, &a4->sin_addr) != 1)
            return -1;
        *sl = sizeof *a4;
    }
    const char *port = colon + 1;
    long p = 0;
    if (strcmp (port, "*") == 0)
        p = 0;
    else {
        if (*port == '\0' || strlen (port) > 5)
            return -1;
        for (const char *d = port; *d; d++) {
            if (*d < '0' || *d > '9')
                return -1;
            p = p * 10 + (*d - '0');
        }
        if (p > 65535)
            return -1;
    }
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *) ss)->sin6_port = htons ((uint16_t) p);
    else
        ((struct sockaddr_in *) ss)->sin_port = htons ((uint16_t) p);
    return 0;
}

int zmqobs__http_parse_endpoint (const char *ep, struct sockaddr_storage *ss, socklen_t *sl)
{
    if (!ep || !ss || !sl || parse_endpoint (ep, ss, sl) != 0) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}
