/*
 * http.c - the optional built-in HTTP endpoint: GET/HEAD /metrics,
 * /healthz and /readyz.
 *
 * Its descriptors (the listener, every connection, a wake eventfd) sit in
 * an epoll set of its own, kept in step with the connections' states. In
 * threaded mode a thread of its own waits on that set, so scrapes never
 * delay the draining of monitors (formatting holds no lock the drain path
 * takes). In host-driven mode the set's descriptor is a source of the
 * observer's loop, so the host's one descriptor (zmqobs_fd) covers HTTP
 * too, and zmqobs_process serves it. Everything is non-blocking: one slow
 * or hostile client can hold at most one connection slot until its
 * deadline, and a new connection evicts the least useful one when the
 * table is full, so a scrape always gets through.
 *
 * Memory: the connection table (request buffers included) and a small
 * response buffer per slot are allocated when serving starts. A slot's
 * response buffer grows for /metrics and is kept, so steady scraping does
 * not allocate.
 *
 * SPDX-License-Identifier: MIT
 */
#include "http.h"

#include "formats.h"
#include "loop.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <limits.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* Most simultaneous connections. A scraper needs one; the rest is slack
 * for tools and probes. */
#define MAX_CONNS 16
/* Response buffer each slot starts with: enough for every response but
 * /metrics, so error answers never need to allocate. */
#define SMALL_OUT 4096
/* Room reserved in front of a /metrics body for the status line and
 * headers, which are written after the body's length is known. */
#define HDR_RESERVE 256
/* A body larger than this is refused with 500 rather than allocated. */
#define BODY_MAX (64u << 20)
/* Connections accepted per dispatch: a connect flood cannot starve the
 * monitors sharing the loop, and, being half the table, a connection is
 * polled at least once before newer ones can push it out. */
#define ACCEPT_BURST (MAX_CONNS / 2)
/* Empty lines ignored before a request line (RFC 9112 asks for at least
 * one); more are answered with 400. */
#define EMPTY_LINES_MAX 8

#define MS 1000000ull

enum conn_state { C_FREE = 0, C_OPEN, C_LINGER };

struct conn {
    int fd;
    int state;          /* enum conn_state */
    int close_after;    /* close once the pending output is sent */
    int peer_eof;       /* the client shut down its sending side */
    unsigned served;    /* responses started on this connection */
    uint64_t seq;       /* accept order, for eviction */
    uint64_t last_ns;   /* last progress (accept, bytes in or out) */
    uint64_t req_ns;    /* first byte of the pending request, 0 = none */
    uint64_t linger_ns; /* when lingering started */
    size_t in_len;      /* bytes of request data buffered */
    char *out;          /* response buffer, out_cap bytes */
    size_t out_cap;
    size_t out_off, out_end; /* pending output is out[out_off, out_end) */
    int epfd;                /* the server's epoll set */
    uint32_t reg;            /* events registered there, 0 = none */
    char in[ZMQOBS__HTTP_HEAD_MAX];
};

struct zmqobs_http {
    pthread_mutex_t mu;  /* guards everything below */
    pthread_cond_t idle; /* users dropped to 0 (waited on with obs->lock) */
    int users;           /* loop calls in progress; guarded by obs->lock */
    int listen_fd;       /* -1 when not serving */
    int port;
    uint64_t seq;
    uint64_t accept_pause; /* monotonic ns until which accept rests */
    size_t body_hint;      /* last /metrics body size, to pre-size buffers */
    uint64_t idle_ns, request_ns, write_ns, linger_ns;
    struct conn *conns;  /* MAX_CONNS slots, allocated at serve time */
    int epfd;            /* listener, connections and wake_fd */
    int wake_fd;         /* eventfd: serve, stop and quit wake the waiter */
    uint32_t listen_reg; /* events registered for the listener */
    pthread_t thread;    /* threaded mode: the server's own thread */
    int has_thread;
    int quit;
    int source; /* host-driven mode: the loop source, or -1 */
};

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
 * Responses
 * ---------------------------------------------------------------------- */

static const char *reason_phrase (int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

/* Writes the status line and headers into dst (at most size bytes);
 * returns their length, or 0 if they do not fit. */
static size_t write_head (char *dst, size_t size, int status, const char *ctype, size_t body_len,
                          int keep_alive, int http10)
{
    int n = snprintf (dst, size,
                      "HTTP/1.1 %d %s\r\n"
                      "Content-Type: %s\r\n"
                      "Content-Length: %zu\r\n"
                      "Cache-Control: no-store\r\n"
                      "%s"
                      "%s"
                      "\r\n",
                      status, reason_phrase (status), ctype, body_len,
                      status == 405 ? "Allow: GET, HEAD\r\n" : "",
                      !keep_alive ? "Connection: close\r\n"
                      : http10    ? "Connection: keep-alive\r\n"
                                  : "");
    if (n < 0 || (size_t) n >= size)
        return 0;
    return (size_t) n;
}

#define TEXT_PLAIN "text/plain; charset=utf-8"

/* A short text response into the slot's buffer, which always fits it. */
static void respond_text (struct conn *c, int status, const char *body, int head_only,
                          int keep_alive, int http10)
{
    size_t blen = strlen (body);
    size_t room = c->out_cap;
    size_t h = write_head (c->out, room, status, TEXT_PLAIN, blen, keep_alive, http10);
    if (h == 0 || h + blen > room) { /* cannot happen with SMALL_OUT; be safe */
        blen = 0;
        h = write_head (c->out, room, 500, TEXT_PLAIN, 0, 0, http10);
        keep_alive = 0;
    }
    if (!head_only)
        memcpy (c->out + h, body, blen);
    c->out_off = 0;
    c->out_end = h + (head_only ? 0 : blen);
    if (!keep_alive)
        c->close_after = 1;
}

/* Makes the slot's buffer at least need bytes; keeps the old one if the
 * allocation fails. */
static int reserve_out (struct conn *c, size_t need)
{
    if (need <= c->out_cap)
        return 0;
    size_t cap = need + need / 4;
    char *p = zmqobs__malloc (cap);
    if (!p)
        return -1;
    zmqobs__free (c->out);
    c->out = p;
    c->out_cap = cap;
    return 0;
}

/* GET or HEAD /metrics: the body is formatted straight into the slot's
 * buffer behind room for the head, then the head is written in front of
 * it, so the body is never copied. */
static void respond_metrics (zmqobs_t *obs, struct zmqobs_http *h, struct conn *c,
                             const zmqobs_http_request_t *req, int keep_alive)
{
    /* the header is negotiated in place, whole: a copy into a bounded
     * buffer could cut a q-value and change the answer */
    zmqobs_format_t fmt = req->accept ? zmqobs__format_from_accept_n (req->accept, req->accept_len)
                                      : ZMQOBS_FORMAT_PROMETHEUS;
    int head_only = req->method == ZMQOBS__HTTP_HEAD;
    int http10 = req->version_minor == 0;

    /* Pre-size from the last scrape so a fresh connection formats once;
     * if this fails the loop below retries the growth. */
    if (h->body_hint)
        (void) reserve_out (c, HDR_RESERVE + h->body_hint + 1);
    int len = -1;
    for (int attempt = 0; attempt < 4; attempt++) {
        if (head_only) {
            len = zmqobs_format (obs, fmt, NULL, 0);
            break;
        }
        size_t room = c->out_cap - HDR_RESERVE;
        len = zmqobs_format (obs, fmt, c->out + HDR_RESERVE, room);
        if (len < 0 || (size_t) len < room)
            break;
        /* it grew since the last scrape: make room and format again */
        if ((size_t) len > BODY_MAX || reserve_out (c, HDR_RESERVE + (size_t) len + 1) != 0) {
            len = -2;
            break;
        }
    }
    if (len < 0 || (!head_only && (size_t) len >= c->out_cap - HDR_RESERVE)) {
        respond_text (c, 500, "cannot format metrics\n", head_only, keep_alive, http10);
        return;
    }
    if (!head_only)
        h->body_hint = (size_t) len;
    char head[HDR_RESERVE];
    size_t hl = write_head (head, sizeof head, 200, zmqobs_content_type (fmt), (size_t) len,
                            keep_alive, http10);
    if (hl == 0) {
        respond_text (c, 500, "cannot format metrics\n", head_only, keep_alive, http10);
        return;
    }
    memcpy (c->out + HDR_RESERVE - hl, head, hl);
    c->out_off = HDR_RESERVE - hl;
    c->out_end = HDR_RESERVE + (head_only ? 0 : (size_t) len);
    if (!keep_alive)
        c->close_after = 1;
}

static void respond_ready (zmqobs_t *obs, struct conn *c, const zmqobs_http_request_t *req,
                           int keep_alive)
{
    char reason[2048];
    reason[0] = '\0';
    int rc = zmqobs_ready (obs, reason, sizeof reason);
    int head_only = req->method == ZMQOBS__HTTP_HEAD;
    int http10 = req->version_minor == 0;
    if (rc == 1) {
        respond_text (c, 200, reason[0] ? reason : "ready\n", head_only, keep_alive, http10);
        return;
    }
    if (rc < 0)
        snprintf (reason, sizeof reason, "readiness unknown: %s\n", strerror (errno));
    else if (reason[0] == '\0')
        snprintf (reason, sizeof reason, "not ready\n");
    respond_text (c, 503, reason, head_only, keep_alive, http10);
}

static int path_is (const zmqobs_http_request_t *req, const char *p)
{
    size_t n = strlen (p);
    return req->path_len == n && memcmp (req->path, p, n) == 0;
}

/* Answers one parsed request into the slot's buffer. */
static void respond (zmqobs_t *obs, struct zmqobs_http *h, struct conn *c,
                     const zmqobs_http_request_t *req)
{
    int http10 = req->version_minor == 0;
    int keep_alive = req->keep_alive && !c->peer_eof;
    int known = path_is (req, "/metrics") || path_is (req, "/healthz") || path_is (req, "/readyz");
    int head_only = req->method == ZMQOBS__HTTP_HEAD;
    if (req->has_body) {
        /* Bodies are never read, so the connection cannot be reused. */
        keep_alive = 0;
        if (req->method != ZMQOBS__HTTP_OTHER) {
            respond_text (c, 400, "request bodies are not accepted\n", head_only, 0, http10);
            return;
        }
    }
    if (!known)
        respond_text (c, 404, "not found; try /metrics, /healthz or /readyz\n", head_only,
                      keep_alive, http10);
    else if (req->method == ZMQOBS__HTTP_OTHER)
        respond_text (c, 405, "method not allowed; use GET or HEAD\n", 0, keep_alive, http10);
    else if (path_is (req, "/metrics"))
        respond_metrics (obs, h, c, req, keep_alive);
    else if (path_is (req, "/healthz"))
        /* answering at all means the observer's loop is running */
        respond_text (c, 200, "ok\n", head_only, keep_alive, http10);
    else
        respond_ready (obs, c, req, keep_alive);
}

/* ------------------------------------------------------------------------
 * Connections
 * ---------------------------------------------------------------------- */

static void conn_close (struct conn *c)
{
    if (c->reg)
        epoll_ctl (c->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    c->reg = 0;
    if (c->state != C_FREE)
        close (c->fd);
    c->fd = -1;
    c->state = C_FREE;
    c->close_after = 0;
    c->peer_eof = 0;
    c->in_len = 0;
    c->req_ns = 0;
    c->out_off = c->out_end = 0;
}

/* After the last response of a connection: stop sending, then read and
 * discard until the client closes (bounded by the linger deadline).
 * Closing at once with unread input would reset the connection, and the
 * client could lose the response it has not read yet. */
static void conn_finish (struct conn *c, uint64_t now)
{
    if (c->peer_eof || shutdown (c->fd, SHUT_WR) != 0) {
        conn_close (c);
        return;
    }
    c->state = C_LINGER;
    c->linger_ns = now;
    c->in_len = 0;
    c->req_ns = 0;
}

/* Sends pending output. Returns 0 when all is sent, 1 when the socket is
 * full, -1 when the connection failed (it is closed then). */
static int conn_flush (struct conn *c, uint64_t now)
{
    while (c->out_off < c->out_end) {
        ssize_t n =
            send (c->fd, c->out + c->out_off, c->out_end - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->out_off += (size_t) n;
            c->last_ns = now;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 1;
        conn_close (c);
        return -1;
    }
    c->out_off = c->out_end = 0;
    return 0;
}

/* Answers every complete request buffered on c, in order, as long as the
 * output drains; leaves the rest for the next round. */
static void conn_serve (zmqobs_t *obs, struct zmqobs_http *h, struct conn *c, uint64_t now)
{
    while (c->state == C_OPEN) {
        if (c->out_off < c->out_end) {
            int r = conn_flush (c, now);
            if (r != 0)
                return; /* wait for POLLOUT, or closed */
        }
        if (c->close_after) {
            conn_finish (c, now);
            return;
        }
        if (c->in_len == 0) {
            if (c->peer_eof)
                conn_close (c);
            return;
        }
        zmqobs_http_request_t req;
        int used = zmqobs__http_parse (c->in, c->in_len, &req);
        if (used == 0) {
            if (c->peer_eof)
                conn_close (c); /* truncated request: nothing to answer */
            return;
        }
        if (used < 0) {
            /* Malformed: answer and close, since where the next request
             * would start is unknown. */
            const char *why = req.status == 414   ? "request target too long\n"
                              : req.status == 431 ? "request header fields too large\n"
                              : req.status == 505 ? "only HTTP/1.0 and HTTP/1.1 are served\n"
                                                  : "bad request\n";
            respond_text (c, req.status, why, 0, 0, 0);
            c->in_len = 0;
            c->req_ns = 0;
            continue;
        }
        respond (obs, h, c, &req);
        c->served++;
        /* Consume the request; a pipelined one behind it starts its own
         * clock now. Nothing after a closing request is read. */
        size_t rest = c->in_len - (size_t) used;
        if (c->close_after)
            rest = 0;
        memmove (c->in, c->in + used, rest);
        c->in_len = rest;
        c->req_ns = rest ? now : 0;
    }
}

static void conn_read (zmqobs_t *obs, struct zmqobs_http *h, struct conn *c, uint64_t now)
{
    if (c->state == C_LINGER) {
        char sink[512];
        for (;;) {
            ssize_t n = recv (c->fd, sink, sizeof sink, MSG_DONTWAIT);
            if (n > 0)
                continue;
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            conn_close (c); /* EOF or error: done */
            return;
        }
    }
    /* While a response is pending, leave further requests in the socket:
     * back-pressure instead of buffering without bound. */
    if (c->out_off < c->out_end || c->close_after)
        return;
    while (c->in_len < sizeof c->in && !c->peer_eof) {
        ssize_t n = recv (c->fd, c->in + c->in_len, sizeof c->in - c->in_len, MSG_DONTWAIT);
        if (n > 0) {
            if (c->in_len == 0)
                c->req_ns = now;
            c->in_len += (size_t) n;
            c->last_ns = now;
            continue;
        }
        if (n == 0) {
            c->peer_eof = 1;
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        conn_close (c);
        return;
    }
    conn_serve (obs, h, c, now);
}

/* Deadline of a connection in monotonic ns. */
static uint64_t conn_deadline (const struct zmqobs_http *h, const struct conn *c)
{
    if (c->state == C_LINGER)
        return c->linger_ns + h->linger_ns;
    if (c->out_off < c->out_end)
        return c->last_ns + h->write_ns;
    if (c->in_len > 0)
        return c->req_ns + h->request_ns;
    return c->last_ns + h->idle_ns;
}

static void expire (struct zmqobs_http *h, uint64_t now)
{
    for (int i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &h->conns[i];
        if (c->state == C_FREE || now < conn_deadline (h, c))
            continue;
        if (c->state == C_OPEN && c->in_len > 0 && c->out_off == c->out_end) {
            /* A request that never completed: say so, best effort. */
            respond_text (c, 408, "request timeout\n", 0, 0, 0);
            if (conn_flush (c, now) == 0)
                conn_finish (c, now);
            continue;
        }
        conn_close (c);
    }
}

/* How much a connection is worth keeping when the table is full; the
 * lowest rank is evicted, the oldest first within a rank: lingering
 * ones, then keep-alive connections idle between requests, then new
 * connections and unfinished requests, then responses being sent. A new
 * scrape therefore displaces the oldest idle or stalled client, and a
 * connect flood displaces its own oldest connections first. */
static int conn_rank (const struct conn *c)
{
    if (c->state == C_LINGER)
        return 0;
    if (c->out_off < c->out_end)
        return 3;
    if (c->in_len == 0 && c->served > 0)
        return 1;
    return 2;
}

static struct conn *free_slot (struct zmqobs_http *h)
{
    struct conn *victim = NULL;
    for (int i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &h->conns[i];
        if (c->state == C_FREE)
            return c;
        if (!victim || conn_rank (c) < conn_rank (victim)
            || (conn_rank (c) == conn_rank (victim) && c->seq < victim->seq))
            victim = c;
    }
    conn_close (victim);
    return victim;
}

static void accept_some (struct zmqobs_http *h, uint64_t now)
{
    for (int k = 0; k < ACCEPT_BURST; k++) {
        int fd = accept4 (h->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            /* Out of fds or memory: the listener stays readable, so rest
             * a while instead of spinning the loop. */
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                h->accept_pause = now + 100 * MS;
            return;
        }
        struct conn *c = free_slot (h);
        c->fd = fd;
        c->state = C_OPEN;
        c->seq = ++h->seq;
        c->last_ns = now;
        c->req_ns = 0;
        c->in_len = 0;
        c->out_off = c->out_end = 0;
        c->close_after = 0;
        c->peer_eof = 0;
        c->served = 0;
    }
}

/* ------------------------------------------------------------------------
 * Serving state and its lifetime
 * ---------------------------------------------------------------------- */

/* Closes everything and frees the table; h->mu held (or h unreachable). */
static void stop_locked (struct zmqobs_http *h)
{
    if (h->conns) {
        for (int i = 0; i < MAX_CONNS; i++) {
            conn_close (&h->conns[i]);
            zmqobs__free (h->conns[i].out);
        }
        zmqobs__free (h->conns);
        h->conns = NULL;
    }
    if (h->listen_reg)
        epoll_ctl (h->epfd, EPOLL_CTL_DEL, h->listen_fd, NULL);
    h->listen_reg = 0;
    if (h->listen_fd >= 0) {
        /* The loop thread may be inside zmq_poll on this fd, and Linux
         * keeps a listening socket open until that poll returns; shutdown
         * stops it listening at once (and wakes the poll). */
        shutdown (h->listen_fd, SHUT_RDWR);
        close (h->listen_fd);
    }
    h->listen_fd = -1;
    h->port = 0;
    h->accept_pause = 0;
}

static void host_run (zmqobs_t *obs);

/* Returns the observer's HTTP state, creating it on first use. */
static struct zmqobs_http *get_or_create (zmqobs_t *obs)
{
    pthread_mutex_lock (&obs->lock);
    struct zmqobs_http *h = obs->http;
    int created = 0;
    if (!h) {
        h = zmqobs__calloc (1, sizeof *h);
        if (h) {
            h->epfd = epoll_create1 (EPOLL_CLOEXEC);
            h->wake_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
            struct epoll_event ev = {.events = EPOLLIN, .data.fd = h->wake_fd};
            if (h->epfd < 0 || h->wake_fd < 0
                || epoll_ctl (h->epfd, EPOLL_CTL_ADD, h->wake_fd, &ev) != 0) {
                int err = errno;
                if (h->epfd >= 0)
                    close (h->epfd);
                if (h->wake_fd >= 0)
                    close (h->wake_fd);
                zmqobs__free (h);
                pthread_mutex_unlock (&obs->lock);
                errno = err;
                return NULL;
            }
            pthread_mutex_init (&h->mu, NULL);
            pthread_cond_init (&h->idle, NULL);
            h->listen_fd = -1;
            h->source = -1;
            h->idle_ns = 30000 * MS;
            h->request_ns = 5000 * MS;
            h->write_ns = 10000 * MS;
            h->linger_ns = 1000 * MS;
            created = 1;
            /* release: the loop's acquire load of obs->http then sees
             * an initialised struct */
            __atomic_store_n (&obs->http, h, __ATOMIC_RELEASE);
        }
    }
    pthread_mutex_unlock (&obs->lock);
    if (created && obs->host_driven) {
        /* outside obs->lock: the loop runs its sources under its own lock
         * and they pin with obs->lock. Serving works without it, only the
         * host's descriptor would not wake for HTTP. */
        int id = zmqobs__loop_add_source (obs, h->epfd, zmqobs__http_timeout_ms, host_run);
        __atomic_store_n (&h->source, id, __ATOMIC_RELEASE);
    }
    return h;
}

static void http_wake (struct zmqobs_http *h)
{
    uint64_t one = 1;
    ssize_t rc = write (h->wake_fd, &one, sizeof one);
    (void) rc;
}

/* The loop's calls pin the state so that zmqobs__http_fini, which may run
 * concurrently from zmqobs_destroy, frees it only once they are out. */
static struct zmqobs_http *pin (zmqobs_t *obs)
{
    /* acquire: pairs with the release store in get_or_create */
    if (!obs || !__atomic_load_n (&obs->http, __ATOMIC_ACQUIRE))
        return NULL;
    pthread_mutex_lock (&obs->lock);
    struct zmqobs_http *h = obs->http;
    if (h)
        h->users++;
    pthread_mutex_unlock (&obs->lock);
    return h;
}

static void unpin (zmqobs_t *obs, struct zmqobs_http *h)
{
    pthread_mutex_lock (&obs->lock);
    if (--h->users == 0)
        pthread_cond_broadcast (&h->idle);
    pthread_mutex_unlock (&obs->lock);
}

void zmqobs__http_fini (zmqobs_t *obs)
{
    if (!obs)
        return;
    pthread_mutex_lock (&obs->lock);
    struct zmqobs_http *h = obs->http;
    pthread_mutex_unlock (&obs->lock);
    if (!h)
        return;
    /* the server's thread and the loop source go first, with no lock
     * held: both pin the state */
    if (h->has_thread) {
        pthread_mutex_lock (&h->mu);
        h->quit = 1;
        pthread_mutex_unlock (&h->mu);
        http_wake (h);
        pthread_join (h->thread, NULL);
        h->has_thread = 0;
    }
    int source = __atomic_load_n (&h->source, __ATOMIC_ACQUIRE);
    if (source >= 0) {
        zmqobs__loop_remove_source (obs, source);
        h->source = -1;
    }
    pthread_mutex_lock (&obs->lock);
    /* release: pairs with the acquire load in pin */
    __atomic_store_n (&obs->http, NULL, __ATOMIC_RELEASE);
    while (h->users > 0)
        pthread_cond_wait (&h->idle, &obs->lock);
    pthread_mutex_unlock (&obs->lock);
    pthread_mutex_lock (&h->mu);
    stop_locked (h);
    pthread_mutex_unlock (&h->mu);
    close (h->epfd);
    close (h->wake_fd);
    pthread_cond_destroy (&h->idle);
    pthread_mutex_destroy (&h->mu);
    zmqobs__free (h);
}

void zmqobs__http_set_timeouts (zmqobs_t *obs, long idle_ms, long request_ms, long write_ms)
{
    struct zmqobs_http *h = obs ? get_or_create (obs) : NULL;
    if (!h)
        return;
    pthread_mutex_lock (&h->mu);
    if (idle_ms > 0)
        h->idle_ns = (uint64_t) idle_ms * MS;
    if (request_ms > 0)
        h->request_ns = (uint64_t) request_ms * MS;
    if (write_ms > 0)
        h->write_ns = (uint64_t) write_ms * MS;
    pthread_mutex_unlock (&h->mu);
}

/* ------------------------------------------------------------------------
 * Endpoint parsing and the listener
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

static int open_listener (const struct sockaddr_storage *ss, socklen_t sl, int *port)
{
    int fd = socket (ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    /* a restarted process must not fail on the old one's TIME_WAIT */
    (void) setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss->ss_family == AF_INET6)
        (void) setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind (fd, (const struct sockaddr *) ss, sl) != 0 || listen (fd, 64) != 0)
        goto fail;
    struct sockaddr_storage got;
    socklen_t gl = sizeof got;
    if (getsockname (fd, (struct sockaddr *) &got, &gl) != 0)
        goto fail;
    *port = ntohs (got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &got)->sin6_port
                                             : ((struct sockaddr_in *) &got)->sin_port);
    return fd;
fail:;
    int err = errno;
    close (fd);
    errno = err;
    return -1;
}

static void *serve_thread (void *arg);

int zmqobs_serve (zmqobs_t *self, const char *endpoint)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    if (!self || !endpoint || parse_endpoint (endpoint, &ss, &sl) != 0) {
        errno = EINVAL;
        return -1;
    }
    struct zmqobs_http *h = get_or_create (self);
    if (!h)
        return -1;
    pthread_mutex_lock (&h->mu);
    if (h->listen_fd >= 0) {
        pthread_mutex_unlock (&h->mu);
        errno = EALREADY;
        return -1;
    }
    int err = ENOMEM;
    h->conns = zmqobs__calloc (MAX_CONNS, sizeof *h->conns);
    if (!h->conns)
        goto fail;
    for (int i = 0; i < MAX_CONNS; i++) {
        h->conns[i].fd = -1;
        h->conns[i].epfd = h->epfd;
        h->conns[i].out = zmqobs__malloc (SMALL_OUT);
        if (!h->conns[i].out)
            goto fail;
        h->conns[i].out_cap = SMALL_OUT;
    }
    int port = 0;
    int fd = open_listener (&ss, sl, &port);
    if (fd < 0) {
        err = errno;
        goto fail;
    }
    h->listen_fd = fd;
    h->port = port;
    if (!self->host_driven && !h->has_thread) {
        int rc = pthread_create (&h->thread, NULL, serve_thread, self);
        if (rc != 0) {
            err = rc;
            goto fail;
        }
        h->has_thread = 1;
    }
    pthread_mutex_unlock (&h->mu);
    http_wake (h);
    return 0;
fail:
    stop_locked (h);
    pthread_mutex_unlock (&h->mu);
    errno = err;
    return -1;
}

int zmqobs_serve_port (zmqobs_t *self)
{
    if (!self) {
        errno = EINVAL;
        return -1;
    }
    struct zmqobs_http *h = pin (self);
    int port = -1;
    if (h) {
        pthread_mutex_lock (&h->mu);
        if (h->listen_fd >= 0)
            port = h->port;
        pthread_mutex_unlock (&h->mu);
        unpin (self, h);
    }
    if (port < 0)
        errno = ENOTCONN;
    return port;
}

int zmqobs_serve_stop (zmqobs_t *self)
{
    if (!self) {
        errno = EINVAL;
        return -1;
    }
    struct zmqobs_http *h = pin (self);
    int was = 0;
    if (h) {
        pthread_mutex_lock (&h->mu);
        was = h->listen_fd >= 0;
        stop_locked (h);
        pthread_mutex_unlock (&h->mu);
        http_wake (h);
        unpin (self, h);
    }
    if (!was) {
        errno = ENOTCONN;
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Hooks for the draining loop
 * ---------------------------------------------------------------------- */

int zmqobs__http_pollitems (zmqobs_t *obs, zmq_pollitem_t *items, int size)
{
    struct zmqobs_http *h = pin (obs);
    if (!h)
        return 0;
    pthread_mutex_lock (&h->mu);
    int n = 0;
    if (h->listen_fd >= 0) {
        uint64_t now = zmqobs__now_ns ();
        expire (h, now);
        if (now >= h->accept_pause) {
            if (n < size && items)
                items[n] =
                    (zmq_pollitem_t) {.socket = NULL, .fd = h->listen_fd, .events = ZMQ_POLLIN};
            n++;
        }
        for (int i = 0; i < MAX_CONNS; i++) {
            const struct conn *c = &h->conns[i];
            if (c->state == C_FREE)
                continue;
            short ev = c->out_off < c->out_end ? ZMQ_POLLOUT : ZMQ_POLLIN;
            if (n < size && items)
                items[n] = (zmq_pollitem_t) {.socket = NULL, .fd = c->fd, .events = ev};
            n++;
        }
    }
    pthread_mutex_unlock (&h->mu);
    unpin (obs, h);
    return n;
}

long zmqobs__http_timeout_ms (zmqobs_t *obs)
{
    struct zmqobs_http *h = pin (obs);
    if (!h)
        return -1;
    long ms = -1;
    pthread_mutex_lock (&h->mu);
    if (h->listen_fd >= 0) {
        uint64_t now = zmqobs__now_ns ();
        for (int i = -1; i < MAX_CONNS; i++) {
            uint64_t d;
            if (i < 0) {
                if (now >= h->accept_pause)
                    continue;
                d = h->accept_pause;
            } else if (h->conns[i].state == C_FREE)
                continue;
            else
                d = conn_deadline (h, &h->conns[i]);
            /* round up, so the loop never wakes just before a deadline */
            long left = d <= now ? 0 : (long) ((d - now + MS - 1) / MS);
            if (ms < 0 || left < ms)
                ms = left;
        }
    }
    pthread_mutex_unlock (&h->mu);
    unpin (obs, h);
    return ms;
}

void zmqobs__http_dispatch (zmqobs_t *obs, const zmq_pollitem_t *items, int n)
{
    struct zmqobs_http *h = pin (obs);
    if (!h)
        return;
    pthread_mutex_lock (&h->mu);
    if (h->listen_fd >= 0 && (items || n == 0)) {
        uint64_t now = zmqobs__now_ns ();
        /* The set may have changed since the items were filled (a stop, an
         * eviction): match by fd and treat readiness as a hint only,
         * since every operation is non-blocking. */
        for (int k = 0; k < n; k++) {
            if (!items[k].revents || items[k].socket)
                continue;
            int fd = items[k].fd;
            if (fd == h->listen_fd) {
                accept_some (h, now);
                continue;
            }
            for (int i = 0; i < MAX_CONNS; i++) {
                struct conn *c = &h->conns[i];
                if (c->state == C_FREE || c->fd != fd)
                    continue;
                if (c->out_off < c->out_end)
                    conn_serve (obs, h, c, now);
                else
                    conn_read (obs, h, c, now);
                break;
            }
        }
        expire (h, now);
    }
    pthread_mutex_unlock (&h->mu);
    unpin (obs, h);
}

/* ------------------------------------------------------------------------
 * The server's epoll set, its thread and its loop source
 * ---------------------------------------------------------------------- */

/* Registers what each descriptor waits for now (as zmqobs__http_pollitems
 * says): the listener unless accepting rests, a connection for output
 * while a response is pending, else for input. h->mu held. */
static void sync_locked (struct zmqobs_http *h, uint64_t now)
{
    uint32_t want = h->listen_fd >= 0 && now >= h->accept_pause ? EPOLLIN : 0;
    if (want != h->listen_reg) {
        struct epoll_event ev = {.events = want, .data.fd = h->listen_fd};
        int op = !h->listen_reg ? EPOLL_CTL_ADD : !want ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
        if (epoll_ctl (h->epfd, op, h->listen_fd, &ev) == 0 || op == EPOLL_CTL_DEL)
            h->listen_reg = want;
    }
    for (int i = 0; h->conns && i < MAX_CONNS; i++) {
        struct conn *c = &h->conns[i];
        if (c->state == C_FREE)
            continue;
        want = c->out_off < c->out_end ? EPOLLOUT : EPOLLIN;
        if (want == c->reg)
            continue;
        struct epoll_event ev = {.events = want, .data.fd = c->fd};
        if (epoll_ctl (c->epfd, c->reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) == 0)
            c->reg = want;
    }
}

/* One round of the server: register, wait up to timeout_ms, serve what
 * is ready (and what timed out). */
static void http_turn (zmqobs_t *obs, struct zmqobs_http *h, long timeout_ms)
{
    pthread_mutex_lock (&h->mu);
    if (h->listen_fd >= 0) {
        uint64_t now = zmqobs__now_ns ();
        expire (h, now);
        sync_locked (h, now);
    }
    pthread_mutex_unlock (&h->mu);
    struct epoll_event evs[MAX_CONNS + 2];
    if (timeout_ms > INT_MAX)
        timeout_ms = INT_MAX;
    int n = epoll_wait (h->epfd, evs, MAX_CONNS + 2, (int) timeout_ms);
    zmq_pollitem_t items[MAX_CONNS + 2];
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.fd == h->wake_fd) {
            uint64_t value;
            ssize_t got = read (h->wake_fd, &value, sizeof value);
            (void) got;
            continue;
        }
        short re = 0;
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            re |= ZMQ_POLLIN;
        if (evs[i].events & EPOLLOUT)
            re |= ZMQ_POLLOUT;
        if (evs[i].events & EPOLLERR)
            re |= ZMQ_POLLERR;
        items[k++] = (zmq_pollitem_t) {.socket = NULL, .fd = evs[i].data.fd, .revents = re};
    }
    zmqobs__http_dispatch (obs, items, k);
    /* and again now: the set is all that wakes a host-driven loop, so new
     * connections and changed directions must be in it before it waits */
    pthread_mutex_lock (&h->mu);
    if (h->listen_fd >= 0)
        sync_locked (h, zmqobs__now_ns ());
    pthread_mutex_unlock (&h->mu);
}

/* Threaded mode: the server's own thread, from the first serve until
 * zmqobs_destroy. Idle (not serving), it sleeps on the wake eventfd. */
static void *serve_thread (void *arg)
{
    zmqobs_t *obs = arg;
    /* acquire: pairs with the release store in get_or_create; the state
     * outlives this thread (fini joins it first) */
    struct zmqobs_http *h = __atomic_load_n (&obs->http, __ATOMIC_ACQUIRE);
    for (;;) {
        pthread_mutex_lock (&h->mu);
        int quit = h->quit;
        pthread_mutex_unlock (&h->mu);
        if (quit)
            break;
        http_turn (obs, h, zmqobs__http_timeout_ms (obs));
    }
    return NULL;
}

/* Host-driven mode: the loop calls this when the set is readable or a
 * deadline is due, on the thread in zmqobs_process. */
static void host_run (zmqobs_t *obs)
{
    struct zmqobs_http *h = pin (obs);
    if (!h)
        return;
    http_turn (obs, h, 0);
    unpin (obs, h);
}
