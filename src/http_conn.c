/*
 * http_conn.c - the built-in server's connections: reading requests,
 * answering /metrics, /healthz and /readyz (and the errors), writing with
 * back-pressure, timeouts, eviction when the table is full, accepting.
 * Everything is non-blocking: one slow or hostile client can hold at
 * most one slot until its deadline, and a new connection evicts the least
 * useful one when the table is full, so a scrape always gets through.
 *
 * SPDX-License-Identifier: MIT
 */
#include "http_conn.h"

#include "accept.h"
#include "eventlog.h"
#include "http_parse.h"
#include "status.h"

#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* Writes the status line and headers (extra, whole header lines, after
 * the others) into dst (at most size bytes); returns their length, or 0
 * if they do not fit. */
static size_t write_head_x (char *dst, size_t size, int status, const char *ctype, size_t body_len,
                            int keep_alive, int http10, const char *extra)
{
    int n = snprintf (dst, size,
                      "HTTP/1.1 %d %s\r\n"
                      "Content-Type: %s\r\n"
                      "Content-Length: %zu\r\n"
                      "Cache-Control: no-store\r\n"
                      "%s"
                      "%s"
                      "%s"
                      "\r\n",
                      status, reason_phrase (status), ctype, body_len, extra,
                      status == 405 ? "Allow: GET, HEAD\r\n" : "",
                      !keep_alive ? "Connection: close\r\n"
                      : http10    ? "Connection: keep-alive\r\n"
                                  : "");
    if (n < 0 || (size_t) n >= size)
        return 0;
    return (size_t) n;
}

static size_t write_head (char *dst, size_t size, int status, const char *ctype, size_t body_len,
                          int keep_alive, int http10)
{
    return write_head_x (dst, size, status, ctype, body_len, keep_alive, http10, "");
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

/* What makes a body: snprintf semantics (the length it needs), or -1
 * when it cannot be made. arg is the caller's (the format of /metrics). */
typedef long body_fn (zmqobs_t *obs, int arg, char *buf, size_t size);

/* Makes gen's body straight into the slot's buffer behind reserve bytes
 * of room for the head (so the body is never copied), growing the buffer
 * when it does not fit, from hint bytes when nonzero. Returns the body's
 * length (with head_only: measured, not made), or -1 when it cannot be
 * made or it kept growing. */
static long make_body (zmqobs_t *obs, struct conn *c, size_t reserve, int head_only, body_fn *gen,
                       int arg, size_t hint)
{
    if (hint)
        (void) reserve_out (c, reserve + hint + 1);
    for (int attempt = 0; attempt < 4; attempt++) {
        long len;
        if (head_only || c->out_cap <= reserve) {
            len = gen (obs, arg, NULL, 0);
            if (head_only || len < 0)
                return len;
        } else {
            size_t room = c->out_cap - reserve;
            len = gen (obs, arg, c->out + reserve, room);
            if (len < 0 || (size_t) len < room)
                return len;
        }
        /* it grew since the last time: make room and make it again */
        if ((size_t) len > BODY_MAX || reserve_out (c, reserve + (size_t) len + 1) != 0)
            return -1;
    }
    return -1;
}

/* Puts the head (hl bytes) in front of a body of len bytes made by
 * make_body behind reserve bytes, and queues both. */
static void send_made (struct conn *c, size_t reserve, const char *head, size_t hl, long len,
                       int head_only, int keep_alive)
{
    memcpy (c->out + reserve - hl, head, hl);
    c->out_off = reserve - hl;
    c->out_end = reserve + (head_only ? 0 : (size_t) len);
    if (!keep_alive)
        c->close_after = 1;
}

static long gen_format (zmqobs_t *obs, int fmt, char *buf, size_t size)
{
    return zmqobs_format (obs, (zmqobs_format_t) fmt, buf, size);
}

static long gen_peers (zmqobs_t *obs, int arg, char *buf, size_t size)
{
    (void) arg;
    return zmqobs_peers_json (obs, buf, size);
}

/* GET or HEAD /metrics (in the format Accept asks for), or /peers. */
static void respond_metrics (zmqobs_t *obs, struct zmqobs_http *h, struct conn *c,
                             const zmqobs_http_request_t *req, int keep_alive, int peers)
{
    /* the header is negotiated in place, whole: a copy into a bounded
     * buffer could cut a q-value and change the answer */
    zmqobs_format_t fmt = req->accept ? zmqobs__format_from_accept_n (req->accept, req->accept_len)
                                      : ZMQOBS_FORMAT_PROMETHEUS;
    int head_only = req->method == ZMQOBS__HTTP_HEAD;
    int http10 = req->version_minor == 0;
    /* pre-sized from the last scrape, so a fresh connection formats once */
    long len = make_body (obs, c, HDR_RESERVE, head_only, peers ? gen_peers : gen_format, (int) fmt,
                          peers ? 0 : h->body_hint);
    char head[HDR_RESERVE];
    size_t hl = 0;
    if (len >= 0)
        hl = write_head (head, sizeof head, 200,
                         zmqobs_content_type (peers ? ZMQOBS_FORMAT_JSON : fmt), (size_t) len,
                         keep_alive, http10);
    if (hl == 0) {
        respond_text (c, 500, "cannot format metrics\n", head_only, keep_alive, http10);
        return;
    }
    if (!head_only && !peers)
        h->body_hint = (size_t) len;
    send_made (c, HDR_RESERVE, head, hl, len, head_only, keep_alive);
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

/* ------------------------------------------------------------------------
 * The status page: /, /status.js, /status.css, /metrics.json, /events
 * ---------------------------------------------------------------------- */

/* Every response of the page: only the page itself may supply scripts,
 * styles and data, nothing may frame it or be sniffed into another type. */
#define PAGE_HEADERS                                                                     \
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; " \
    "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "          \
    "frame-ancestors 'none'\r\n"                                                         \
    "X-Content-Type-Options: nosniff\r\n"                                                \
    "Referrer-Policy: no-referrer\r\n"
/* Room in front of a page body for its head (which is longer than the
 * others by PAGE_HEADERS). */
#define PAGE_HDR_RESERVE 768

static long gen_metrics_json (zmqobs_t *obs, int arg, char *buf, size_t size)
{
    (void) arg;
    return zmqobs_format (obs, ZMQOBS_FORMAT_JSON, buf, size);
}

static long gen_events (zmqobs_t *obs, int arg, char *buf, size_t size)
{
    (void) arg;
    return (long) zmqobs__events_json (obs, buf, size);
}

/* Answers with a fixed body (gen NULL) or one gen makes, formatted behind
 * room for the head as /metrics is; 500 when it cannot be made. */
static void respond_page (zmqobs_t *obs, struct conn *c, const zmqobs_http_request_t *req,
                          int keep_alive, const char *ctype, body_fn *gen, const char *body,
                          size_t blen)
{
    int head_only = req->method == ZMQOBS__HTTP_HEAD;
    int http10 = req->version_minor == 0;
    long len = (long) blen;
    if (gen)
        len = make_body (obs, c, PAGE_HDR_RESERVE, head_only, gen, 0, 0);
    else if (!head_only) {
        if (reserve_out (c, PAGE_HDR_RESERVE + blen) != 0)
            len = -1;
        else
            memcpy (c->out + PAGE_HDR_RESERVE, body, blen);
    }
    char head[PAGE_HDR_RESERVE];
    size_t hl = len < 0 ? 0
                        : write_head_x (head, sizeof head, 200, ctype, (size_t) len, keep_alive,
                                        http10, PAGE_HEADERS);
    if (hl == 0) {
        respond_text (c, 500, "cannot make the response\n", head_only, keep_alive, http10);
        return;
    }
    send_made (c, PAGE_HDR_RESERVE, head, hl, len, head_only, keep_alive);
}

/* 1 when req is for the page (and the page is on); *res is filled for a
 * static resource, *gen for a made one. */
static int page_route (zmqobs_t *obs, const zmqobs_http_request_t *req, zmqobs_status_res_t *res,
                       body_fn **gen)
{
    *gen = NULL;
    if (!obs->status_page)
        return 0;
    if (zmqobs__status_find (req->path, req->path_len, res))
        return 1;
    *res = (zmqobs_status_res_t) {.ctype = "application/json; charset=utf-8"};
    if (path_is (req, "/metrics.json"))
        *gen = gen_metrics_json;
    else if (path_is (req, "/events"))
        *gen = gen_events;
    return *gen != NULL;
}

/* Answers one parsed request into the slot's buffer. */
static void respond (zmqobs_t *obs, struct zmqobs_http *h, struct conn *c,
                     const zmqobs_http_request_t *req)
{
    int http10 = req->version_minor == 0;
    int keep_alive = req->keep_alive && !c->peer_eof;
    int known = path_is (req, "/metrics") || path_is (req, "/healthz") || path_is (req, "/readyz")
                || path_is (req, "/peers");
    zmqobs_status_res_t page;
    body_fn *gen;
    int is_page = page_route (obs, req, &page, &gen);
    known = known || is_page;
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
        respond_text (c, 404, "not found; try /metrics, /healthz, /readyz or /peers\n", head_only,
                      keep_alive, http10);
    else if (req->method == ZMQOBS__HTTP_OTHER)
        respond_text (c, 405, "method not allowed; use GET or HEAD\n", 0, keep_alive, http10);
    else if (is_page)
        respond_page (obs, c, req, keep_alive, page.ctype, gen, page.body, page.len);
    else if (path_is (req, "/metrics"))
        respond_metrics (obs, h, c, req, keep_alive, 0);
    else if (path_is (req, "/peers"))
        respond_metrics (obs, h, c, req, keep_alive, 1);
    else if (path_is (req, "/healthz"))
        /* answering at all means the observer's loop is running */
        respond_text (c, 200, "ok\n", head_only, keep_alive, http10);
    else
        respond_ready (obs, c, req, keep_alive);
}

/* ------------------------------------------------------------------------
 * Connections
 * ---------------------------------------------------------------------- */

void zmqobs__conn_close (struct conn *c)
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
        zmqobs__conn_close (c);
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
        zmqobs__conn_close (c);
        return -1;
    }
    c->out_off = c->out_end = 0;
    return 0;
}

/* Answers every complete request buffered on c, in order, as long as the
 * output drains; leaves the rest for the next round. */
void zmqobs__conn_serve (zmqobs_t *obs, struct zmqobs_http *h, struct conn *c, uint64_t now)
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
                zmqobs__conn_close (c);
            return;
        }
        zmqobs_http_request_t req;
        int used = zmqobs__http_parse (c->in, c->in_len, &req);
        if (used == 0) {
            if (c->peer_eof)
                zmqobs__conn_close (c); /* truncated request: nothing to answer */
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

void zmqobs__conn_read (zmqobs_t *obs, struct zmqobs_http *h, struct conn *c, uint64_t now)
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
            zmqobs__conn_close (c); /* EOF or error: done */
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
        zmqobs__conn_close (c);
        return;
    }
    zmqobs__conn_serve (obs, h, c, now);
}

/* Deadline of a connection in monotonic ns. */
uint64_t zmqobs__conn_deadline (const struct zmqobs_http *h, const struct conn *c)
{
    if (c->state == C_LINGER)
        return c->linger_ns + h->linger_ns;
    if (c->out_off < c->out_end)
        return c->last_ns + h->write_ns;
    if (c->in_len > 0)
        return c->req_ns + h->request_ns;
    return c->last_ns + h->idle_ns;
}

void zmqobs__expire (struct zmqobs_http *h, uint64_t now)
{
    for (int i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &h->conns[i];
        if (c->state == C_FREE || now < zmqobs__conn_deadline (h, c))
            continue;
        if (c->state == C_OPEN && c->in_len > 0 && c->out_off == c->out_end) {
            /* A request that never completed: say so, best effort. */
            respond_text (c, 408, "request timeout\n", 0, 0, 0);
            if (conn_flush (c, now) == 0)
                conn_finish (c, now);
            continue;
        }
        zmqobs__conn_close (c);
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
    zmqobs__conn_close (victim);
    return victim;
}

void zmqobs__accept_some (struct zmqobs_http *h, uint64_t now)
{
    for (int k = 0; k < ACCEPT_BURST; k++) {
        int fd = zmqobs__accept_cloexec_nb (h->listen_fd);
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
