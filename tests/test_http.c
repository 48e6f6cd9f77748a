/*
 * test_http.c - the built-in HTTP endpoint: the pure request parser, the
 * serve/stop API, every response over a real loopback socket, keep-alive
 * and pipelining, limits, timeouts and hostile clients.
 *
 * The endpoint is driven the way the draining loop drives it: a thread
 * loops zmqobs__http_pollitems -> zmq_poll -> zmqobs__http_dispatch on a
 * host-driven observer. Timeouts are shortened through the test hook, and
 * tests assert what happens (a 408, a close), never how long it took.
 *
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"
#include "internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>

/* ------------------------------------------------------------------------
 * Driver: the loop's side of the contract, on a thread of its own.
 * ---------------------------------------------------------------------- */

/* Check's asserts may only run on the test's own thread (in CK_FORK=no
 * mode a background thread could report after the test ended), so the
 * background threads count failures here and the test asserts zero. */
static int bg_failures;
#define BG_CHECK(cond)                                                                    \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf (stderr, "%s:%d: background check failed: %s (errno %d)\n", __FILE__, \
                     __LINE__, #cond, errno);                                             \
            __atomic_add_fetch (&bg_failures, 1, __ATOMIC_RELAXED);                       \
        }                                                                                 \
    } while (0)

typedef struct {
    zmqobs_t *obs;
    int stop;
    pthread_t thread;
    long rounds;
} driver_t;

static void *driver_main (void *arg)
{
    driver_t *d = arg;
    zmq_pollitem_t items[64];
    while (!__atomic_load_n (&d->stop, __ATOMIC_ACQUIRE)) {
        int n = zmqobs__http_pollitems (d->obs, items, 64);
        BG_CHECK (n >= 0 && n <= 64);
        if (n > 64)
            n = 64;
        long t = zmqobs__http_timeout_ms (d->obs);
        /* no wake-up channel here: refill the set at least every 10 ms */
        if (t < 0 || t > 10)
            t = 10;
        int rc = zmq_poll (items, n, t);
        BG_CHECK (rc >= 0 || errno == EINTR);
        zmqobs__http_dispatch (d->obs, items, n);
        __atomic_add_fetch (&d->rounds, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void driver_start (driver_t *d, zmqobs_t *obs)
{
    memset (d, 0, sizeof *d);
    d->obs = obs;
    ck_assert_int_eq (pthread_create (&d->thread, NULL, driver_main, d), 0);
}

static void driver_stop (driver_t *d)
{
    __atomic_store_n (&d->stop, 1, __ATOMIC_RELEASE);
    ck_assert_int_eq (pthread_join (d->thread, NULL), 0);
    ck_assert_int_eq (__atomic_load_n (&bg_failures, __ATOMIC_RELAXED), 0);
}

/* ------------------------------------------------------------------------
 * A small blocking HTTP client with bounded waits.
 * ---------------------------------------------------------------------- */

static int client_connect (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge (fd, 0);
    struct timeval tv = {.tv_sec = (time_t) testutil_scaled (5)};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    ck_assert_int_eq (connect (fd, (struct sockaddr *) &a, sizeof a), 0);
    return fd;
}

static void send_all (int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send (fd, p, len, MSG_NOSIGNAL);
        ck_assert_int_gt (n, 0);
        p += n;
        len -= (size_t) n;
    }
}

static void send_str (int fd, const char *s)
{
    send_all (fd, s, strlen (s));
}

/* Per-connection read buffer, so pipelined responses can be split. */
typedef struct {
    int fd;
    char *buf;
    size_t start, len, cap; /* unread data is buf[start, start + len) */
} reader_t;

typedef struct {
    int status;
    char head[8192]; /* status line and headers */
    char *body;      /* malloc'd, NUL-terminated */
    size_t body_len;
} resp_t;

static void reader_init (reader_t *r, int fd)
{
    r->fd = fd;
    r->cap = 1 << 16;
    r->start = r->len = 0;
    r->buf = malloc (r->cap);
    ck_assert_ptr_nonnull (r->buf);
}

static void reader_free (reader_t *r)
{
    free (r->buf);
    r->buf = NULL;
}

/* Reads more; returns bytes read, 0 on EOF, -1 on timeout or error. */
static ssize_t reader_fill (reader_t *r)
{
    if (r->start > 0) {
        memmove (r->buf, r->buf + r->start, r->len);
        r->start = 0;
    }
    if (r->cap - r->len < 4096) {
        r->cap *= 2;
        r->buf = realloc (r->buf, r->cap);
        ck_assert_ptr_nonnull (r->buf);
    }
    ssize_t n = recv (r->fd, r->buf + r->len, r->cap - r->len, 0);
    if (n > 0)
        r->len += (size_t) n;
    return n;
}

static void resp_free (resp_t *resp)
{
    free (resp->body);
    resp->body = NULL;
}

/* Finds a header's value (case-insensitive name) in resp->head; copies it
 * into out and returns 1, or 0 if absent. */
static int header (const resp_t *resp, const char *name, char *out, size_t size)
{
    size_t n = strlen (name);
    const char *p = strstr (resp->head, "\r\n");
    while (p && p[2] != '\r') {
        p += 2;
        if (strncasecmp (p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr (v, "\r\n");
            size_t vl = (size_t) (e - v);
            if (vl >= size)
                vl = size - 1;
            memcpy (out, v, vl);
            out[vl] = '\0';
            return 1;
        }
        p = strstr (p, "\r\n");
    }
    return 0;
}

/* Reads one response. head_only: a HEAD response has no body whatever
 * Content-Length says. Returns 0, or -1 if the connection closed or timed
 * out before a complete response. */
static int read_response (reader_t *r, resp_t *resp, int head_only)
{
    memset (resp, 0, sizeof *resp);
    char *end;
    for (;;) {
        end = r->len ? memmem (r->buf + r->start, r->len, "\r\n\r\n", 4) : NULL;
        if (end)
            break;
        if (reader_fill (r) <= 0)
            return -1;
    }
    size_t hlen = (size_t) (end - (r->buf + r->start)) + 4;
    ck_assert_uint_lt (hlen, sizeof resp->head);
    memcpy (resp->head, r->buf + r->start, hlen);
    resp->head[hlen] = '\0';
    ck_assert_int_eq (sscanf (resp->head, "HTTP/1.1 %d ", &resp->status), 1);
    char cl[64];
    ck_assert_msg (header (resp, "Content-Length", cl, sizeof cl), "no Content-Length");
    size_t blen = head_only ? 0 : strtoul (cl, NULL, 10);
    while (r->len < hlen + blen)
        if (reader_fill (r) <= 0)
            return -1;
    resp->body = malloc (blen + 1);
    ck_assert_ptr_nonnull (resp->body);
    memcpy (resp->body, r->buf + r->start + hlen, blen);
    resp->body[blen] = '\0';
    resp->body_len = blen;
    r->start += hlen + blen;
    r->len -= hlen + blen;
    return 0;
}

/* 1 if the server closed the connection (EOF or reset) with nothing more
 * to read, 0 if it sent data, -1 on timeout. */
static int wait_closed (reader_t *r)
{
    if (r->len > 0)
        return 0;
    ssize_t n = reader_fill (r);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
        return 1;
    return n > 0 ? 0 : -1;
}

/* Connects, sends one request, reads one response, closes. */
static int request (int port, const char *req, resp_t *resp)
{
    int fd = client_connect (port);
    reader_t r;
    reader_init (&r, fd);
    send_str (fd, req);
    int rc = read_response (&r, resp, strncmp (req, "HEAD ", 5) == 0);
    reader_free (&r);
    close (fd);
    return rc;
}

/* ------------------------------------------------------------------------
 * Fixture: a host-driven observer serving on a free port, one attached
 * socket with known traffic, process metrics off so output is stable.
 * ---------------------------------------------------------------------- */

static void *ctx;
static zmqobs_t *obs;
static void *sock;
static zmqobs_socket_t *ssock;
static driver_t drv;
static int port;

static zmqobs_t *new_observer (void)
{
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.host_driven = 1;
    o.no_process_metrics = 1;
    zmqobs_t *x = zmqobs_new (ctx, &o);
    ck_assert_ptr_nonnull (x);
    return x;
}

static void setup (void)
{
    testutil_watchdog (60);
    ctx = zmq_ctx_new ();
    ck_assert_ptr_nonnull (ctx);
    obs = new_observer ();
    sock = zmq_socket (ctx, ZMQ_PAIR);
    ck_assert_ptr_nonnull (sock);
    ssock = zmqobs_attach (obs, sock, "front \"end\"\n");
    ck_assert_ptr_nonnull (ssock);
    zmqobs_record_sent (ssock, 10, 0);
    zmqobs_record_received (ssock, 20, 0);
    ck_assert_int_eq (zmqobs_serve (obs, "tcp://127.0.0.1:0"), 0);
    port = zmqobs_serve_port (obs);
    ck_assert_int_gt (port, 0);
    driver_start (&drv, obs);
}

static void teardown (void)
{
    driver_stop (&drv);
    zmqobs_destroy (&obs);
    zmq_close (sock);
    zmq_ctx_term (ctx);
    alarm (0);
}

/* ------------------------------------------------------------------------
 * Parser
 * ---------------------------------------------------------------------- */

static int parse_str (const char *s, zmqobs_http_request_t *r)
{
    return zmqobs__http_parse (s, strlen (s), r);
}

START_TEST (parse_valid)
{
    zmqobs_http_request_t r;
    const char *g = "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept:  text/plain ; q=1 \r\n\r\n";
    ck_assert_int_eq (parse_str (g, &r), (int) strlen (g));
    ck_assert_int_eq (r.method, ZMQOBS__HTTP_GET);
    ck_assert_int_eq (r.version_minor, 1);
    ck_assert_uint_eq (r.path_len, 8);
    ck_assert_int_eq (memcmp (r.path, "/metrics", 8), 0);
    ck_assert_uint_eq (r.accept_len, strlen ("text/plain ; q=1"));
    ck_assert_int_eq (memcmp (r.accept, "text/plain ; q=1", r.accept_len), 0);
    ck_assert_int_eq (r.keep_alive, 1);
    ck_assert_int_eq (r.has_body, 0);
    ck_assert_uint_eq (r.header_count, 2);

    const char *h = "HEAD /readyz?verbose=1 HTTP/1.0\n\n";
    ck_assert_int_eq (parse_str (h, &r), (int) strlen (h));
    ck_assert_int_eq (r.method, ZMQOBS__HTTP_HEAD);
    ck_assert_int_eq (r.version_minor, 0);
    ck_assert_uint_eq (r.path_len, 7);
    ck_assert_int_eq (memcmp (r.path, "/readyz", 7), 0);
    ck_assert_int_eq (r.keep_alive, 0);
    ck_assert_ptr_null (r.accept);

    const char *k = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
    ck_assert_int_eq (parse_str (k, &r), (int) strlen (k));
    ck_assert_int_eq (r.keep_alive, 1);
    const char *c = "GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n";
    ck_assert_int_eq (parse_str (c, &r), (int) strlen (c));
    ck_assert_int_eq (r.keep_alive, 0);

    /* absolute form, leading empty lines, methods other than GET/HEAD */
    const char *a = "\r\n\r\nDELETE http://h:1/healthz?x HTTP/1.1\r\nHost: h\r\n\r\n";
    ck_assert_int_eq (parse_str (a, &r), (int) strlen (a));
    ck_assert_int_eq (r.method, ZMQOBS__HTTP_OTHER);
    ck_assert_uint_eq (r.path_len, 8);
    ck_assert_int_eq (memcmp (r.path, "/healthz", 8), 0);
    const char *a2 = "GET http://h HTTP/1.1\r\nHost: h\r\n\r\n";
    ck_assert_int_eq (parse_str (a2, &r), (int) strlen (a2));
    ck_assert_uint_eq (r.path_len, 1);

    /* pipelined: only the first request is used */
    const char *p = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\n";
    ck_assert_int_eq (parse_str (p, &r), (int) strlen ("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
    ck_assert_int_eq (memcmp (r.path, "/a", 2), 0);

    /* bodies are flagged */
    const char *b = "POST /m HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    ck_assert_int_eq (parse_str (b, &r), (int) strlen (b) - 5);
    ck_assert_int_eq (r.has_body, 1);
    const char *b0 = "GET /m HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    ck_assert_int_eq (parse_str (b0, &r), (int) strlen (b0));
    ck_assert_int_eq (r.has_body, 0);
    const char *te = "GET /m HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    ck_assert_int_eq (parse_str (te, &r), (int) strlen (te));
    ck_assert_int_eq (r.has_body, 1);

    /* obs-text in values is allowed */
    const char *u = "GET / HTTP/1.1\r\nHost: x\r\nX-Name: caf\xc3\xa9\r\n\r\n";
    ck_assert_int_eq (parse_str (u, &r), (int) strlen (u));
}
END_TEST

START_TEST (parse_every_prefix_incomplete)
{
    const char *g = "GET /metrics?a=b HTTP/1.1\r\nHost: 127.0.0.1:9464\r\n"
                    "Accept: application/openmetrics-text\r\nUser-Agent: t\r\n\r\n";
    size_t n = strlen (g);
    zmqobs_http_request_t r;
    for (size_t i = 0; i < n; i++)
        ck_assert_msg (zmqobs__http_parse (g, i, &r) == 0, "prefix %zu not incomplete", i);
    ck_assert_int_eq (zmqobs__http_parse (g, n, &r), (int) n);
}
END_TEST

static void expect_error (const char *buf, size_t len, int status)
{
    zmqobs_http_request_t r;
    errno = 0;
    int rc = zmqobs__http_parse (buf, len, &r);
    ck_assert_msg (rc == -1 && errno == EPROTO && r.status == status,
                   "input %.40s: rc %d errno %d status %d, expected %d", buf, rc, errno, r.status,
                   status);
}

static void expect_error_str (const char *s, int status)
{
    expect_error (s, strlen (s), status);
}

START_TEST (parse_errors)
{
    /* refused before any line end: binary and garbage */
    expect_error ("\x16\x03\x01\x02\x00", 5, 400); /* a TLS client hello */
    expect_error ("GET\0/", 5, 400);
    expect_error_str ("G{T / HTTP/1.1", 400);
    expect_error_str ("GET / HTTX", 400);
    expect_error_str ("GET /a\x01", 400);
    expect_error_str ("\r\rGET", 400);
    expect_error_str ("GET / HTTP/1.1 extra\r\n\r\n", 400);
    expect_error_str ("GET  / HTTP/1.1\r\n\r\n", 400);
    expect_error_str (" GET / HTTP/1.1\r\n\r\n", 400);
    expect_error_str ("GET / HTTP/1\r\n\r\n", 400);
    expect_error_str ("GET /\r\n\r\n", 400);
    expect_error_str ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505);
    expect_error_str ("GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505);
    expect_error_str ("GET metrics HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    expect_error_str ("AVERYLONGMETHODNAMETHATNOBODYEVERUSESATALL / HTTP/1.1\r\n", 400);
    /* headers */
    expect_error_str ("GET / HTTP/1.1\r\n\r\n", 400); /* no Host */
    expect_error_str ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    expect_error_str ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    expect_error_str ("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400);
    expect_error_str ("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400);
    expect_error_str ("GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400);
    expect_error_str ("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400);
    expect_error ("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 36, 400);
    expect_error_str ("GET / HTTP/1.1\r\nHost: a\r\nX: \x7f", 400); /* partial line */
    expect_error_str ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400);
    expect_error_str ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400);
    expect_error_str ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
                      400);
    expect_error_str ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                      400);

    /* 414: a target longer than the limit, complete or not */
    size_t big = ZMQOBS__HTTP_URI_MAX + 10;
    char *buf = malloc (ZMQOBS__HTTP_HEAD_MAX * 2);
    ck_assert_ptr_nonnull (buf);
    memcpy (buf, "GET /", 5);
    memset (buf + 5, 'a', ZMQOBS__HTTP_HEAD_MAX * 2 - 5);
    expect_error (buf, 5 + big, 414);
    /* a request line that fills the whole head without ending */
    expect_error (buf, ZMQOBS__HTTP_HEAD_MAX, 414);

    /* 431: too many header fields */
    size_t n = (size_t) sprintf (buf, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < ZMQOBS__HTTP_HEADERS_MAX; i++)
        n += (size_t) sprintf (buf + n, "X-%d: y\r\n", i);
    n += (size_t) sprintf (buf + n, "\r\n");
    expect_error (buf, n, 431);
    /* exactly the limit is fine */
    n = (size_t) sprintf (buf, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < ZMQOBS__HTTP_HEADERS_MAX - 1; i++)
        n += (size_t) sprintf (buf + n, "X-%d: y\r\n", i);
    n += (size_t) sprintf (buf + n, "\r\n");
    zmqobs_http_request_t r;
    ck_assert_int_eq (zmqobs__http_parse (buf, n, &r), (int) n);
    /* 431: one header that fills the head */
    n = (size_t) sprintf (buf, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset (buf + n, 'v', ZMQOBS__HTTP_HEAD_MAX);
    expect_error (buf, ZMQOBS__HTTP_HEAD_MAX, 431);
    expect_error (buf, ZMQOBS__HTTP_HEAD_MAX * 2, 431);
    /* a flood of empty lines is garbage: eight are ignored, the ninth is
     * an error, whether they end in CRLF or in LF alone */
    for (size_t i = 0; i + 1 < ZMQOBS__HTTP_HEAD_MAX; i += 2)
        memcpy (buf + i, "\r\n", 2);
    ck_assert_int_eq (zmqobs__http_parse (buf, 16, &r), 0);
    ck_assert_int_eq (zmqobs__http_parse (buf, 17, &r), 0);
    expect_error (buf, 18, 400);
    expect_error (buf, ZMQOBS__HTTP_HEAD_MAX, 400);
    memset (buf, '\n', 9);
    ck_assert_int_eq (zmqobs__http_parse (buf, 8, &r), 0);
    expect_error (buf, 9, 400);
    const char *eight = "\r\n\r\n\r\n\r\n\n\n\n\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n";
    ck_assert_int_eq (parse_str (eight, &r), (int) strlen (eight));
    ck_assert_uint_eq (r.path_len, 2);
    n = (size_t) sprintf (buf, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset (buf + n, 'v', ZMQOBS__HTTP_HEAD_MAX);
    /* just under the limit it is still incomplete, not an error */
    ck_assert_int_eq (zmqobs__http_parse (buf, ZMQOBS__HTTP_HEAD_MAX - 1, &r), 0);
    free (buf);

    /* API misuse */
    errno = 0;
    ck_assert_int_eq (zmqobs__http_parse (NULL, 3, &r), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs__http_parse ("GET", 3, NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
    ck_assert_int_eq (zmqobs__http_parse (NULL, 0, &r), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * serve / serve_port / serve_stop
 * ---------------------------------------------------------------------- */

START_TEST (serve_api_errors)
{
    testutil_watchdog (30);
    void *c = zmq_ctx_new ();
    zmqobs_t *o = NULL;
    {
        zmqobs_options_t opt;
        zmqobs_options_init (&opt);
        opt.host_driven = 1;
        o = zmqobs_new (c, &opt);
    }
    ck_assert_ptr_nonnull (o);
    errno = 0;
    ck_assert_int_eq (zmqobs_serve (NULL, "tcp://127.0.0.1:0"), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_serve (o, NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
    static const char *const bad[] = {"",
                                      "tcp://",
                                      "tcp://127.0.0.1",
                                      "tcp://127.0.0.1:",
                                      "tcp://127.0.0.1:65536",
                                      "tcp://127.0.0.1:12a",
                                      "tcp://127.0.0.1:-1",
                                      "tcp://127.0.0.1: 80",
                                      "tcp://127.0.0.1:000001",
                                      "tcp://metrics.example:80",
                                      "udp://127.0.0.1:0",
                                      "ipc:///tmp/x",
                                      "tcp://[::1]",
                                      "tcp://[::1:0",
                                      "tcp://[]:0",
                                      "tcp://:0",
                                      "tcp://127.0.0.256:0",
                                      "tcp://127.0.0.1:0/metrics",
                                      "TCP://127.0.0.1:0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        ck_assert_msg (zmqobs_serve (o, bad[i]) == -1 && errno == EINVAL, "accepted %s", bad[i]);
    }
    errno = 0;
    ck_assert_int_eq (zmqobs_serve_port (NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_serve_port (o), -1);
    ck_assert_int_eq (errno, ENOTCONN);
    errno = 0;
    ck_assert_int_eq (zmqobs_serve_stop (NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_serve_stop (o), -1);
    ck_assert_int_eq (errno, ENOTCONN);

    ck_assert_int_eq (zmqobs_serve (o, "tcp://localhost:*"), 0);
    int p = zmqobs_serve_port (o);
    ck_assert_int_gt (p, 0);
    errno = 0;
    ck_assert_int_eq (zmqobs_serve (o, "tcp://127.0.0.1:0"), -1);
    ck_assert_int_eq (errno, EALREADY);
    ck_assert_int_eq (zmqobs_serve_port (o), p);

    /* a second observer cannot take the same port */
    zmqobs_options_t opt;
    zmqobs_options_init (&opt);
    opt.host_driven = 1;
    zmqobs_t *o2 = zmqobs_new (c, &opt);
    ck_assert_ptr_nonnull (o2);
    char ep[64];
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", p);
    errno = 0;
    ck_assert_int_eq (zmqobs_serve (o2, ep), -1);
    ck_assert_int_eq (errno, EADDRINUSE);
    errno = 0;
    ck_assert_int_eq (zmqobs_serve (o2, "tcp://192.0.2.1:0"), -1); /* not ours */
    ck_assert_int_eq (errno, EADDRNOTAVAIL);
    ck_assert_int_eq (zmqobs_serve_port (o2), -1);

    ck_assert_int_eq (zmqobs_serve_stop (o), 0);
    errno = 0;
    ck_assert_int_eq (zmqobs_serve_port (o), -1);
    ck_assert_int_eq (errno, ENOTCONN);
    errno = 0;
    ck_assert_int_eq (zmqobs_serve_stop (o), -1);
    ck_assert_int_eq (errno, ENOTCONN);
    /* the freed port can be served again, by the other observer */
    ck_assert_int_eq (zmqobs_serve (o2, ep), 0);
    ck_assert_int_eq (zmqobs_serve_port (o2), p);

    /* IPv6 loopback when the machine has it */
    int rc = zmqobs_serve (o, "tcp://[::1]:0");
    if (rc == 0) {
        ck_assert_int_gt (zmqobs_serve_port (o), 0);
        ck_assert_int_eq (zmqobs_serve_stop (o), 0);
    } else
        ck_assert_msg (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT, "errno %d", errno);

    zmqobs_destroy (&o2); /* while serving */
    zmqobs_destroy (&o);
    ck_assert_ptr_null (o);
    zmqobs__http_fini (NULL);
    zmq_ctx_term (c);
}
END_TEST

START_TEST (serve_alloc_failures)
{
    testutil_watchdog (30);
    void *c = zmq_ctx_new ();
    zmqobs_options_t opt;
    zmqobs_options_init (&opt);
    opt.host_driven = 1;
    int failures = 0;
    for (long k = 1; k < 40; k++) {
        zmqobs_t *o = zmqobs_new (c, &opt);
        ck_assert_ptr_nonnull (o);
        __atomic_store_n (&zmqobs__alloc_count, 0, __ATOMIC_RELAXED);
        __atomic_store_n (&zmqobs__alloc_fail_at, k, __ATOMIC_RELAXED);
        errno = 0;
        int rc = zmqobs_serve (o, "tcp://127.0.0.1:0");
        long used = __atomic_load_n (&zmqobs__alloc_count, __ATOMIC_RELAXED);
        __atomic_store_n (&zmqobs__alloc_fail_at, 0, __ATOMIC_RELAXED);
        if (k <= used) {
            ck_assert_int_eq (rc, -1);
            ck_assert_int_eq (errno, ENOMEM);
            failures++;
            errno = 0;
            ck_assert_int_eq (zmqobs_serve_port (o), -1);
            ck_assert_int_eq (errno, ENOTCONN);
            /* and it works once memory is back */
            ck_assert_int_eq (zmqobs_serve (o, "tcp://127.0.0.1:0"), 0);
        } else
            ck_assert_int_eq (rc, 0);
        ck_assert_int_gt (zmqobs_serve_port (o), 0);
        zmqobs_destroy (&o);
        if (k > used)
            break;
    }
    /* the state, the table and one buffer per slot */
    ck_assert_int_eq (failures, 2 + 16);
    zmq_ctx_term (c);
}
END_TEST

/* ------------------------------------------------------------------------
 * Responses over the wire
 * ---------------------------------------------------------------------- */

START_TEST (metrics_get_exact)
{
    /* With process metrics off and no traffic meanwhile, the body must
     * be exactly what zmqobs_format gives. */
    int need = zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, NULL, 0);
    resp_t resp;
    ck_assert_int_eq (request (port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", &resp), 0);
    char v[256];
    if (need < 0) {
        /* formatter unavailable: a clean 500, never a crash */
        ck_assert_int_eq (resp.status, 500);
        ck_assert_str_eq (resp.body, "cannot format metrics\n");
    } else {
        ck_assert_int_eq (resp.status, 200);
        char *expect = malloc ((size_t) need + 1);
        ck_assert_ptr_nonnull (expect);
        ck_assert_int_eq (zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, expect, (size_t) need + 1),
                          need);
        ck_assert_uint_eq (resp.body_len, (size_t) need);
        ck_assert_str_eq (resp.body, expect);
        ck_assert_ptr_nonnull (strstr (resp.body, "zmq_messages_sent_total"));
        free (expect);
        ck_assert (header (&resp, "Content-Type", v, sizeof v));
        ck_assert_str_eq (v, zmqobs_content_type (ZMQOBS_FORMAT_PROMETHEUS));
    }
    ck_assert (header (&resp, "Content-Length", v, sizeof v));
    ck_assert_uint_eq (strtoul (v, NULL, 10), resp.body_len);
    ck_assert (!header (&resp, "Connection", v, sizeof v)); /* 1.1 keeps alive */
    resp_free (&resp);
}
END_TEST

START_TEST (peers_endpoint)
{
    char v[256];
    resp_t resp;
    /* no socket tracks peers: an empty list */
    ck_assert_int_eq (request (port, "GET /peers HTTP/1.1\r\nHost: t\r\n\r\n", &resp), 0);
    ck_assert_int_eq (resp.status, 200);
    ck_assert_str_eq (resp.body, "{\"sockets\":[]}\n");
    resp_free (&resp);
    ck_assert_int_eq (zmqobs_track_peers (ssock, 8, ZMQOBS_PEER_ADDRESS), 0);
    zmqobs_record_received (ssock, 7, 0); /* no message: "other" */
    int need = zmqobs_peers_json (obs, NULL, 0);
    ck_assert_int_gt (need, 0);
    char *expect = malloc ((size_t) need + 1);
    ck_assert_ptr_nonnull (expect);
    ck_assert_int_eq (zmqobs_peers_json (obs, expect, (size_t) need + 1), need);
    ck_assert_str_eq (expect, "{\"sockets\":[{\"socket\":\"front \\\"end\\\"\\n\",\"type\":"
                              "\"PAIR\",\"key\":\"address\",\"max_peers\":8,\"tracked\":0,"
                              "\"peers\":[],\"other\":{\"peer\":\"other\",\"messages_received\":1,"
                              "\"bytes_received\":7,\"messages_sent\":0,\"bytes_sent\":0}}]}\n");
    ck_assert_int_eq (request (port, "GET /peers HTTP/1.1\r\nHost: t\r\n\r\n", &resp), 0);
    ck_assert_int_eq (resp.status, 200);
    ck_assert_str_eq (resp.body, expect);
    ck_assert (header (&resp, "Content-Type", v, sizeof v));
    ck_assert_str_eq (v, "application/json");
    resp_free (&resp);
    ck_assert_int_eq (request (port, "HEAD /peers HTTP/1.1\r\nHost: t\r\n\r\n", &resp), 0);
    ck_assert_int_eq (resp.status, 200);
    ck_assert_uint_eq (resp.body_len, 0);
    ck_assert (header (&resp, "Content-Length", v, sizeof v));
    ck_assert_int_eq ((int) strtoul (v, NULL, 10), need);
    resp_free (&resp);
    ck_assert_int_eq (request (port, "DELETE /peers HTTP/1.1\r\nHost: t\r\n\r\n", &resp), 0);
    ck_assert_int_eq (resp.status, 405);
    resp_free (&resp);
    free (expect);
}
END_TEST

START_TEST (metrics_head_and_accept)
{
    static const char *const accepts[] = {NULL,
                                          "text/plain",
                                          "application/openmetrics-text; version=1.0.0",
                                          "application/openmetrics-text;version=1.0.0;q=0.5,text/"
                                          "plain;version=0.0.4;q=0.4,*/*;q=0.1",
                                          "\"garbage\"",
                                          "*/*"};
    for (size_t i = 0; i < sizeof accepts / sizeof accepts[0]; i++) {
        zmqobs_format_t fmt = zmqobs_format_from_accept (accepts[i]);
        int need = zmqobs_format (obs, fmt, NULL, 0);
        char req[512];
        int fd = client_connect (port);
        reader_t r;
        reader_init (&r, fd);
        /* HEAD then GET, pipelined: HEAD must carry no body, or the GET's
         * response would not parse */
        for (int m = 0; m < 2; m++) {
            snprintf (req, sizeof req, "%s /metrics HTTP/1.1\r\nHost: t\r\n%s%s%s\r\n",
                      m ? "GET" : "HEAD", accepts[i] ? "Accept: " : "",
                      accepts[i] ? accepts[i] : "", accepts[i] ? "\r\n" : "");
            send_str (fd, req);
        }
        resp_t head, get;
        ck_assert_int_eq (read_response (&r, &head, 1), 0);
        ck_assert_int_eq (read_response (&r, &get, 0), 0);
        char v1[256], v2[256];
        ck_assert_int_eq (head.status, get.status);
        ck_assert (header (&head, "Content-Length", v1, sizeof v1));
        ck_assert (header (&get, "Content-Length", v2, sizeof v2));
        ck_assert_str_eq (v1, v2);
        ck_assert_uint_eq (strtoul (v2, NULL, 10), get.body_len);
        if (need >= 0) {
            ck_assert_int_eq (get.status, 200);
            ck_assert_uint_eq (get.body_len, (size_t) need);
            ck_assert (header (&head, "Content-Type", v1, sizeof v1));
            ck_assert_str_eq (v1, zmqobs_content_type (fmt));
            ck_assert (header (&get, "Content-Type", v2, sizeof v2));
            ck_assert_str_eq (v2, zmqobs_content_type (fmt));
        } else
            ck_assert_int_eq (get.status, 500);
        resp_free (&head);
        resp_free (&get);
        reader_free (&r);
        close (fd);
    }
}
END_TEST

START_TEST (long_accept_header)
{
    /* a 3 KB Accept header whose only OpenMetrics entry comes last: the
     * whole header is negotiated, not a truncated copy of it */
    char accept[3200] = "text/plain;version=0.0.4;q=0.1";
    while (strlen (accept) < 3000)
        strcat (accept, ", application/x-unrelated;q=0.9");
    strcat (accept, ", application/openmetrics-text;version=1.0.0;q=0.8");
    ck_assert_int_eq (zmqobs_format_from_accept (accept), ZMQOBS_FORMAT_OPENMETRICS);
    char req[3400];
    snprintf (req, sizeof req, "GET /metrics HTTP/1.1\r\nHost: t\r\nAccept: %s\r\n\r\n", accept);
    resp_t resp;
    ck_assert_int_eq (request (port, req, &resp), 0);
    ck_assert_int_eq (resp.status, 200);
    char v[256];
    ck_assert (header (&resp, "Content-Type", v, sizeof v));
    ck_assert_str_eq (v, zmqobs_content_type (ZMQOBS_FORMAT_OPENMETRICS));
    resp_free (&resp);
}
END_TEST

START_TEST (health_and_ready)
{
    resp_t resp;
    char v[256];
    ck_assert_int_eq (request (port, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", &resp), 0);
    ck_assert_int_eq (resp.status, 200);
    ck_assert_str_eq (resp.body, "ok\n");
    ck_assert (header (&resp, "Content-Type", v, sizeof v));
    ck_assert_str_eq (v, "text/plain; charset=utf-8");
    resp_free (&resp);
    ck_assert_int_eq (request (port, "HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n", &resp), 0);
    ck_assert_int_eq (resp.status, 200);
    ck_assert (header (&resp, "Content-Length", v, sizeof v));
    ck_assert_str_eq (v, "3");
    resp_free (&resp);

    /* /readyz says what zmqobs_ready says: an unbound, unconnected PAIR */
    char reason[2048];
    errno = 0;
    int ready = zmqobs_ready (obs, reason, sizeof reason);
    int err = errno;
    ck_assert_int_eq (request (port, "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n", &resp), 0);
    ck_assert_int_ne (ready, -1);
    if (ready == 1) {
        ck_assert_int_eq (resp.status, 200);
        ck_assert_str_eq (resp.body, reason[0] ? reason : "ready\n");
    } else if (ready == 0) {
        ck_assert_int_eq (resp.status, 503);
        ck_assert_str_eq (resp.body, reason[0] ? reason : "not ready\n");
    } else {
        ck_assert_int_eq (resp.status, 503);
        char expect[256];
        snprintf (expect, sizeof expect, "readiness unknown: %s\n", strerror (err));
        ck_assert_str_eq (resp.body, expect);
    }
    resp_free (&resp);
}
END_TEST

START_TEST (error_statuses)
{
    struct {
        const char *req;
        int status;
        int closes;
        const char *body;
    } cases[] = {
        {"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", 404, 0,
         "not found; try /metrics, /healthz, /readyz or /peers\n"},
        {"GET /metricsx HTTP/1.1\r\nHost: t\r\n\r\n", 404, 0, NULL},
        {"GET /METRICS HTTP/1.1\r\nHost: t\r\n\r\n", 404, 0, NULL},
        {"POST /metrics HTTP/1.1\r\nHost: t\r\n\r\n", 405, 0,
         "method not allowed; use GET or HEAD\n"},
        {"get /metrics HTTP/1.1\r\nHost: t\r\n\r\n", 405, 0, NULL},
        {"DELETE /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", 405, 1, NULL},
        {"GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", 400, 1,
         "request bodies are not accepted\n"},
        {"GET /metrics HTTP/1.1\r\n\r\n", 400, 1, "bad request\n"},
        {"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 400, 1, "bad request\n"},
        {"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505, 1, "only HTTP/1.0 and HTTP/1.1 are served\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int fd = client_connect (port);
        reader_t r;
        reader_init (&r, fd);
        send_str (fd, cases[i].req);
        resp_t resp;
        ck_assert_int_eq (read_response (&r, &resp, 0), 0);
        ck_assert_msg (resp.status == cases[i].status, "case %zu: %d", i, resp.status);
        if (cases[i].body)
            ck_assert_str_eq (resp.body, cases[i].body);
        char v[128];
        if (cases[i].status == 405) {
            ck_assert (header (&resp, "Allow", v, sizeof v));
            ck_assert_str_eq (v, "GET, HEAD");
        }
        int has_close = header (&resp, "Connection", v, sizeof v) && strcmp (v, "close") == 0;
        ck_assert_int_eq (has_close, cases[i].closes);
        if (cases[i].closes)
            ck_assert_int_eq (wait_closed (&r), 1);
        resp_free (&resp);
        reader_free (&r);
        close (fd);
    }

    /* 414 and 431 over the wire, with more data still arriving: the
     * answer must arrive intact (no reset from unread input) */
    char *big = malloc (20000);
    ck_assert_ptr_nonnull (big);
    for (int which = 0; which < 2; which++) {
        size_t n;
        if (which == 0) {
            n = (size_t) sprintf (big, "GET /");
            memset (big + n, 'a', 15000);
            n += 15000;
        } else {
            n = (size_t) sprintf (big, "GET / HTTP/1.1\r\nHost: t\r\n");
            while (n < 15000)
                n += (size_t) sprintf (big + n, "X-Filler: %s\r\n", "0123456789abcdef");
        }
        int fd = client_connect (port);
        reader_t r;
        reader_init (&r, fd);
        send_all (fd, big, n);
        resp_t resp;
        ck_assert_int_eq (read_response (&r, &resp, 0), 0);
        ck_assert_int_eq (resp.status, which == 0 ? 414 : 431);
        ck_assert_int_eq (wait_closed (&r), 1);
        resp_free (&resp);
        reader_free (&r);
        close (fd);
    }
    free (big);
}
END_TEST

START_TEST (keepalive_and_pipelining)
{
    int fd = client_connect (port);
    reader_t r;
    reader_init (&r, fd);
    resp_t resp;
    /* sequential requests on one connection */
    for (int i = 0; i < 5; i++) {
        send_str (fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        ck_assert_int_eq (read_response (&r, &resp, 0), 0);
        ck_assert_int_eq (resp.status, 200);
        resp_free (&resp);
    }
    /* pipelined in one write, answered in order; bare LF accepted */
    send_str (fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
                  "GET /nope HTTP/1.1\nHost: t\n\n"
                  "HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
                  "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                  "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"); /* after close: ignored */
    int expect[] = {200, 404, 200, 200};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq (read_response (&r, &resp, i == 2), 0);
        ck_assert_int_eq (resp.status, expect[i]);
        char v[64];
        int closing = header (&resp, "Connection", v, sizeof v) && strcmp (v, "close") == 0;
        ck_assert_int_eq (closing, i == 3);
        resp_free (&resp);
    }
    ck_assert_int_eq (wait_closed (&r), 1);
    reader_free (&r);
    close (fd);

    /* a request split into single bytes */
    fd = client_connect (port);
    reader_init (&r, fd);
    const char *req = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    for (const char *p = req; *p; p++)
        send_all (fd, p, 1);
    ck_assert_int_eq (read_response (&r, &resp, 0), 0);
    ck_assert_int_eq (resp.status, 200);
    resp_free (&resp);
    reader_free (&r);
    close (fd);

    /* HTTP/1.0: closes by default, keeps alive when asked */
    fd = client_connect (port);
    reader_init (&r, fd);
    send_str (fd, "GET /healthz HTTP/1.0\r\n\r\n");
    ck_assert_int_eq (read_response (&r, &resp, 0), 0);
    ck_assert_int_eq (resp.status, 200);
    char v[64];
    ck_assert (header (&resp, "Connection", v, sizeof v));
    ck_assert_str_eq (v, "close");
    ck_assert_int_eq (wait_closed (&r), 1);
    resp_free (&resp);
    reader_free (&r);
    close (fd);

    fd = client_connect (port);
    reader_init (&r, fd);
    for (int i = 0; i < 2; i++) {
        send_str (fd, "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        ck_assert_int_eq (read_response (&r, &resp, 0), 0);
        ck_assert_int_eq (resp.status, 200);
        ck_assert (header (&resp, "Connection", v, sizeof v));
        ck_assert_str_eq (v, "keep-alive");
        resp_free (&resp);
    }
    /* half-close after a request: answered, then closed (the header may
     * say keep-alive if the answer went out before the FIN arrived) */
    send_str (fd, "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    shutdown (fd, SHUT_WR);
    ck_assert_int_eq (read_response (&r, &resp, 0), 0);
    ck_assert_int_eq (resp.status, 200);
    ck_assert_int_eq (wait_closed (&r), 1);
    resp_free (&resp);
    reader_free (&r);
    close (fd);
}
END_TEST

/* A scrape on a fresh connection must succeed. */
static void scrape_ok (void)
{
    resp_t resp;
    ck_assert_int_eq (request (port, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", &resp), 0);
    ck_assert_int_eq (resp.status, 200);
    resp_free (&resp);
    ck_assert_int_eq (request (port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", &resp), 0);
    ck_assert_int_eq (resp.status,
                      zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, NULL, 0) >= 0 ? 200 : 500);
    resp_free (&resp);
}

START_TEST (many_idle_connections)
{
    /* more idle connections than slots: new scrapes still get through */
    enum { N = 48 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = client_connect (port);
    for (int k = 0; k < 3; k++)
        scrape_ok ();
    /* the oldest idle ones were evicted: at least N - 16 got closed */
    int closed = 0;
    for (int i = 0; i < N; i++) {
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        if (poll (&p, 1, 0) == 1) {
            char c;
            ssize_t n = recv (fds[i], &c, 1, MSG_DONTWAIT);
            ck_assert_int_le (n, 0); /* nothing but EOF or reset */
            closed++;
        }
        close (fds[i]);
    }
    ck_assert_int_ge (closed, N - 16);
}
END_TEST

START_TEST (slowloris_does_not_block)
{
    /* request timeout far away: only eviction can save the scrape */
    zmqobs__http_set_timeouts (obs, 0, 600000, 0);
    enum { N = 24 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = client_connect (port);
        send_str (fds[i], "GET /metrics HTTP/1.1\r\nHo");
    }
    for (int k = 0; k < 3; k++)
        scrape_ok ();
    /* a slow client that keeps dribbling is still served when it ends,
     * if it still holds its slot */
    int fd = client_connect (port);
    reader_t r;
    reader_init (&r, fd);
    const char *req = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    for (const char *p = req; *p; p++) {
        send_all (fd, p, 1);
        if (p - req == 10)
            scrape_ok (); /* another scrape in the middle */
    }
    resp_t resp;
    ck_assert_int_eq (read_response (&r, &resp, 0), 0);
    ck_assert_int_eq (resp.status, 200);
    resp_free (&resp);
    reader_free (&r);
    close (fd);
    for (int i = 0; i < N; i++)
        close (fds[i]);
}
END_TEST

START_TEST (timeouts)
{
    /* short, but longer under sanitizers and valgrind: the server thread
     * must read the request before the idle timeout could take it */
    unsigned k = testutil_scaled (1) < 5 ? testutil_scaled (1) : 5;
    zmqobs__http_set_timeouts (obs, 300 * k, 300 * k, 0);
    /* a request that never completes gets 408 and a close */
    int fd = client_connect (port);
    reader_t r;
    reader_init (&r, fd);
    send_str (fd, "GET /metrics HTTP/1.1\r\nHost: t\r\n");
    resp_t resp;
    ck_assert_int_eq (read_response (&r, &resp, 0), 0);
    ck_assert_int_eq (resp.status, 408);
    ck_assert_str_eq (resp.body, "request timeout\n");
    ck_assert_int_eq (wait_closed (&r), 1);
    resp_free (&resp);
    reader_free (&r);
    close (fd);
    /* an idle keep-alive connection is closed without a response */
    fd = client_connect (port);
    reader_init (&r, fd);
    send_str (fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    ck_assert_int_eq (read_response (&r, &resp, 0), 0);
    ck_assert_int_eq (resp.status, 200);
    resp_free (&resp);
    ck_assert_int_eq (wait_closed (&r), 1);
    reader_free (&r);
    close (fd);
    /* a connection that never sends anything, likewise */
    fd = client_connect (port);
    reader_init (&r, fd);
    ck_assert_int_eq (wait_closed (&r), 1);
    reader_free (&r);
    close (fd);
}
END_TEST

START_TEST (garbage_and_truncated)
{
    unsigned seed = 12345;
    for (int i = 0; i < 40; i++) {
        char buf[512];
        size_t n = 1 + (size_t) (rand_r (&seed) % (int) sizeof buf);
        for (size_t k = 0; k < n; k++)
            buf[k] = (char) (rand_r (&seed) & 0xff);
        buf[0] = (char) 0x80; /* never a valid start */
        int fd = client_connect (port);
        reader_t r;
        reader_init (&r, fd);
        send_all (fd, buf, n);
        resp_t resp;
        ck_assert_int_eq (read_response (&r, &resp, 0), 0);
        ck_assert_int_eq (resp.status, 400);
        ck_assert_int_eq (wait_closed (&r), 1);
        resp_free (&resp);
        reader_free (&r);
        close (fd);
    }
    /* truncated requests then close: nothing to answer, nothing breaks */
    const char *t[] = {"GET", "GET /metrics HTTP/1.1\r\nHost:", "GET /metrics HTTP/1.1\r\n"};
    for (size_t i = 0; i < 3; i++) {
        int fd = client_connect (port);
        reader_t r;
        reader_init (&r, fd);
        send_str (fd, t[i]);
        shutdown (fd, SHUT_WR);
        ck_assert_int_eq (wait_closed (&r), 1);
        reader_free (&r);
        close (fd);
    }
    /* a client that resets mid-request */
    int fd = client_connect (port);
    send_str (fd, "GET /metrics HTTP/1.1\r\n");
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt (fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close (fd);
    scrape_ok ();
}
END_TEST

START_TEST (slow_reader_does_not_block)
{
    /* One client pipelines thousands of requests and reads nothing; the
     * server stops reading it (back-pressure) and still serves others.
     * Then every request of the slow client is answered, in full. */
    int fd = client_connect (port);
    const char *req = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    size_t len = strlen (req);
    long sent = 0;
    for (;;) {
        ssize_t n = send (fd, req, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            ck_assert (errno == EAGAIN || errno == EWOULDBLOCK);
            break;
        }
        if ((size_t) n < len)
            send_all (fd, req + n, len - (size_t) n); /* finish this one */
        sent++;
        if (sent > 50000)
            break;
    }
    ck_assert_int_gt (sent, 1000);
    scrape_ok ();
    reader_t r;
    reader_init (&r, fd);
    for (long i = 0; i < sent; i++) {
        resp_t resp;
        ck_assert_msg (read_response (&r, &resp, 0) == 0, "response %ld of %ld", i, sent);
        ck_assert_int_eq (resp.status, 200);
        resp_free (&resp);
    }
    reader_free (&r);
    close (fd);
}
END_TEST

START_TEST (stop_closes_connections)
{
    int fd = client_connect (port);
    reader_t r;
    reader_init (&r, fd);
    send_str (fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    resp_t resp;
    ck_assert_int_eq (read_response (&r, &resp, 0), 0);
    resp_free (&resp);
    ck_assert_int_eq (zmqobs_serve_stop (obs), 0);
    ck_assert_int_eq (wait_closed (&r), 1);
    reader_free (&r);
    close (fd);
    /* nobody listens there any more */
    int c = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    ck_assert_int_eq (connect (c, (struct sockaddr *) &a, sizeof a), -1);
    ck_assert_int_eq (errno, ECONNREFUSED);
    close (c);
    /* serve again */
    ck_assert_int_eq (zmqobs_serve (obs, "tcp://127.0.0.1:0"), 0);
    port = zmqobs_serve_port (obs);
    scrape_ok ();
}
END_TEST

/* serve/stop from another thread while the loop runs and clients scrape */
static void *flipper (void *arg)
{
    zmqobs_t *o = arg;
    for (int i = 0; i < 100; i++) {
        int rc = zmqobs_serve (o, "tcp://127.0.0.1:0");
        BG_CHECK (rc == 0 || errno == EALREADY);
        (void) zmqobs_serve_port (o);
        rc = zmqobs_serve_stop (o);
        BG_CHECK (rc == 0 || errno == ENOTCONN);
    }
    return NULL;
}

START_TEST (serve_stop_race)
{
    pthread_t t[2];
    ck_assert_int_eq (pthread_create (&t[0], NULL, flipper, obs), 0);
    ck_assert_int_eq (pthread_create (&t[1], NULL, flipper, obs), 0);
    for (int i = 0; i < 50; i++) {
        int p = zmqobs_serve_port (obs);
        if (p <= 0)
            continue;
        int fd = socket (AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) p)};
        a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
        struct timeval tv = {.tv_sec = 5};
        setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (connect (fd, (struct sockaddr *) &a, sizeof a) == 0) {
            const char *req = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
            (void) send (fd, req, strlen (req), MSG_NOSIGNAL);
            char buf[256];
            (void) recv (fd, buf, sizeof buf, 0); /* answer or close: both fine */
        }
        close (fd);
    }
    pthread_join (t[0], NULL);
    pthread_join (t[1], NULL);
    ck_assert_int_eq (__atomic_load_n (&bg_failures, __ATOMIC_RELAXED), 0);
    /* still consistent afterwards */
    (void) zmqobs_serve_stop (obs);
    ck_assert_int_eq (zmqobs_serve (obs, "tcp://127.0.0.1:0"), 0);
    port = zmqobs_serve_port (obs);
    scrape_ok ();
}
END_TEST

START_TEST (fini_while_loop_runs)
{
    /* zmqobs_destroy calls the fini hook while the loop may still be
     * running: the loop's next calls must see nothing to serve. */
    int fd = client_connect (port);
    send_str (fd, "GET /metrics HTTP/1.1\r\nHost: t\r\n");
    zmqobs__http_fini (obs);
    reader_t r;
    reader_init (&r, fd);
    ck_assert_int_eq (wait_closed (&r), 1);
    reader_free (&r);
    close (fd);
    ck_assert_int_eq (zmqobs__http_pollitems (obs, NULL, 0), 0);
    ck_assert_int_eq (zmqobs__http_timeout_ms (obs), -1);
    errno = 0;
    ck_assert_int_eq (zmqobs_serve_port (obs), -1);
    ck_assert_int_eq (errno, ENOTCONN);
    zmqobs__http_fini (obs); /* twice is fine */
}
END_TEST

START_TEST (growth_failure_gives_500)
{
    /* The formatter does not allocate, so while the hook is armed the
     * only allocation is the endpoint growing its buffer. */
    if (zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, NULL, 0) < 0)
        return; /* nothing to grow without a formatter */
    /* enough sockets that the body outgrows the initial slot buffer */
    void *extra[40];
    zmqobs_socket_t *es[40];
    for (int i = 0; i < 40; i++) {
        extra[i] = zmq_socket (ctx, ZMQ_DEALER);
        char name[64];
        snprintf (name, sizeof name, "extra-socket-with-a-long-name-%02d", i);
        es[i] = zmqobs_attach (obs, extra[i], name);
        ck_assert_ptr_nonnull (es[i]);
    }
    ck_assert_int_gt (zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, NULL, 0), 4096);
    int fd = client_connect (port);
    reader_t r;
    reader_init (&r, fd);
    for (int round = 0; round < 2; round++) {
        __atomic_store_n (&zmqobs__alloc_count, 0, __ATOMIC_RELAXED);
        __atomic_store_n (&zmqobs__alloc_fail_at, round == 0 ? 1 : 0, __ATOMIC_RELAXED);
        send_str (fd, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
        resp_t resp;
        ck_assert_int_eq (read_response (&r, &resp, 0), 0);
        __atomic_store_n (&zmqobs__alloc_fail_at, 0, __ATOMIC_RELAXED);
        ck_assert_int_eq (resp.status, round == 0 ? 500 : 200);
        resp_free (&resp);
    }
    reader_free (&r);
    close (fd);
    for (int i = 0; i < 40; i++) {
        zmqobs_detach (&es[i]);
        zmq_close (extra[i]);
    }
}
END_TEST

/* ------------------------------------------------------------------------
 * Through the observer's own loop: its thread, and zmqobs_process.
 * ---------------------------------------------------------------------- */

/* GETs path until the status is want (the monitor needs a moment to see
 * LISTENING); bounded by the watchdog. Returns the final response. */
static void get_until (int p, const char *path, int want, resp_t *resp)
{
    char req[256];
    snprintf (req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    for (;;) {
        ck_assert_int_eq (request (p, req, resp), 0);
        if (resp->status == want)
            return;
        resp_free (resp);
        usleep (10000);
    }
}

START_TEST (threaded_observer)
{
    testutil_watchdog (30);
    void *c = zmq_ctx_new ();
    zmqobs_t *o = zmqobs_new (c, NULL);
    ck_assert_ptr_nonnull (o);
    void *rep = zmq_socket (c, ZMQ_REP);
    zmqobs_socket_t *rs = zmqobs_attach (o, rep, "rep");
    ck_assert_ptr_nonnull (rs);
    ck_assert_int_eq (zmqobs_serve (o, "tcp://127.0.0.1:0"), 0);
    int p = zmqobs_serve_port (o);
    resp_t resp;
    /* nothing bound yet: not ready, and it says why */
    ck_assert_int_eq (request (p, "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n", &resp), 0);
    ck_assert_int_eq (resp.status, 503);
    ck_assert_str_eq (resp.body, "socket \"rep\": not ready: no endpoint yet\n");
    resp_free (&resp);
    ck_assert_int_eq (zmq_bind (rep, "tcp://127.0.0.1:*"), 0);
    get_until (p, "/readyz", 200, &resp);
    ck_assert_str_eq (resp.body, "socket \"rep\": ready: listening 1, connections 0\n");
    resp_free (&resp);

    ck_assert_int_eq (request (p, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", &resp), 0);
    ck_assert_int_eq (resp.status, 200);
    ck_assert_ptr_nonnull (strstr (resp.body, "zmq_listening{socket=\"rep\",type=\"REP\"} 1\n"));
    ck_assert_ptr_nonnull (strstr (resp.body, "process_open_fds "));
    resp_free (&resp);

    /* destroy with a keep-alive connection open: it is closed */
    int fd = client_connect (p);
    reader_t r;
    reader_init (&r, fd);
    send_str (fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    ck_assert_int_eq (read_response (&r, &resp, 0), 0);
    ck_assert_int_eq (resp.status, 200);
    resp_free (&resp);
    zmqobs_destroy (&o);
    ck_assert_int_eq (wait_closed (&r), 1);
    reader_free (&r);
    close (fd);
    zmq_close (rep);
    zmq_ctx_term (c);
}
END_TEST

static void *process_loop (void *arg)
{
    driver_t *d = arg;
    while (!__atomic_load_n (&d->stop, __ATOMIC_ACQUIRE)) {
        int rc = zmqobs_process (d->obs, 20);
        BG_CHECK (rc >= 0);
    }
    return NULL;
}

START_TEST (host_driven_process)
{
    testutil_watchdog (30);
    void *c = zmq_ctx_new ();
    zmqobs_options_t opt;
    zmqobs_options_init (&opt);
    opt.host_driven = 1;
    zmqobs_t *o = zmqobs_new (c, &opt);
    ck_assert_ptr_nonnull (o);
    ck_assert_int_eq (zmqobs_serve (o, "tcp://127.0.0.1:*"), 0);
    int p = zmqobs_serve_port (o);
    /* the HTTP items are part of the host's poll set */
    int n = zmqobs_pollitems (o, NULL, 0);
    ck_assert_int_ge (n, 1);
    driver_t d;
    memset (&d, 0, sizeof d);
    d.obs = o;
    pthread_t t;
    ck_assert_int_eq (pthread_create (&t, NULL, process_loop, &d), 0);
    resp_t resp;
    ck_assert_int_eq (request (p, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", &resp), 0);
    ck_assert_int_eq (resp.status, 200);
    resp_free (&resp);
    ck_assert_int_eq (request (p, "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n", &resp), 0);
    ck_assert_int_eq (resp.status, zmqobs_ready (o, NULL, 0) == 1 ? 200 : 503);
    ck_assert_str_eq (resp.body, "no sockets attached\n");
    resp_free (&resp);
    ck_assert_int_eq (request (p,
                               "GET /metrics HTTP/1.1\r\n"
                               "Accept: application/openmetrics-text;version=1.0.0\r\n"
                               "Host: t\r\n\r\n",
                               &resp),
                      0);
    ck_assert_int_eq (resp.status, 200);
    char v[256];
    ck_assert (header (&resp, "Content-Type", v, sizeof v));
    ck_assert_str_eq (v, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    ck_assert_uint_ge (resp.body_len, 6);
    ck_assert_str_eq (resp.body + resp.body_len - 6, "# EOF\n");
    resp_free (&resp);
    __atomic_store_n (&d.stop, 1, __ATOMIC_RELEASE);
    pthread_join (t, NULL);
    ck_assert_int_eq (__atomic_load_n (&bg_failures, __ATOMIC_RELAXED), 0);
    zmqobs_destroy (&o);
    zmq_ctx_term (c);
}
END_TEST

/* CK_RUN_TEST=name runs one test of the suite (Check itself filters
 * suites and cases only). */
static void add_test (TCase *tc, const TTest *t)
{
    const char *only = getenv ("CK_RUN_TEST");
    if (!only || strcmp (only, t->name) == 0)
        _tcase_add_test (tc, t, 0, 0, 0, 1);
}
#undef tcase_add_test
#define tcase_add_test(tc, t) add_test ((tc), (t))

static Suite *http_suite (void)
{
    Suite *s = suite_create ("http");
    TCase *tc = testutil_tcase (s, "parser", 10);
    tcase_add_test (tc, parse_valid);
    tcase_add_test (tc, parse_every_prefix_incomplete);
    tcase_add_test (tc, parse_errors);
    tc = testutil_tcase (s, "api", 20);
    tcase_add_test (tc, serve_api_errors);
    tcase_add_test (tc, serve_alloc_failures);
    tc = testutil_tcase (s, "wire", 30);
    tcase_add_checked_fixture (tc, setup, teardown);
    tcase_add_test (tc, metrics_get_exact);
    tcase_add_test (tc, peers_endpoint);
    tcase_add_test (tc, metrics_head_and_accept);
    tcase_add_test (tc, long_accept_header);
    tcase_add_test (tc, health_and_ready);
    tcase_add_test (tc, error_statuses);
    tcase_add_test (tc, keepalive_and_pipelining);
    tcase_add_test (tc, many_idle_connections);
    tcase_add_test (tc, slowloris_does_not_block);
    tcase_add_test (tc, timeouts);
    tcase_add_test (tc, garbage_and_truncated);
    tcase_add_test (tc, slow_reader_does_not_block);
    tcase_add_test (tc, stop_closes_connections);
    tcase_add_test (tc, serve_stop_race);
    tcase_add_test (tc, fini_while_loop_runs);
    tcase_add_test (tc, growth_failure_gives_500);
    tc = testutil_tcase (s, "loop", 30);
    tcase_add_test (tc, threaded_observer);
    tcase_add_test (tc, host_driven_process);
    return s;
}

int main (void)
{
    signal (SIGPIPE, SIG_IGN);
    return testutil_run (http_suite ());
}
