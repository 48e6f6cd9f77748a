/*
 * test_status.c - the status page: the ring of recent events (exact
 * contents, bounds, wrap-around, a concurrent reader never sees a torn
 * event), /events as JSON (exact bytes, hostile names escaped, bounded,
 * snprintf semantics), and over a real loopback socket: /, /status.js and
 * /status.css byte for byte against their files, their Content-Type, the
 * Content-Security-Policy and nosniff, HEAD, 405, /metrics.json, /events
 * with real monitor events of hostile names, a failed allocation (500),
 * and the page turned off by the option and by ZMQOBS_STATUS_PAGE (404).
 *
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"
#include "internal.h"
#include "recent.h"
#include "status.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>

#define CSP                                                                                 \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src " \
    "'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* ------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------- */

static zmqobs_event_t make_event (uint32_t event, uint32_t value, zmqobs_value_kind_t kind,
                                  const char *endpoint)
{
    zmqobs_event_t ev;
    memset (&ev, 0, sizeof ev);
    ev.event = event;
    ev.value = value;
    ev.value_kind = kind;
    ev.endpoint_len = strlen (endpoint);
    memcpy (ev.endpoint, endpoint, ev.endpoint_len + 1);
    return ev;
}

/* A whole file, NUL-terminated; *len without the NUL. */
static char *read_file (const char *path, size_t *len)
{
    FILE *f = fopen (path, "rb");
    ck_assert_msg (f != NULL, "cannot open %s", path);
    fseek (f, 0, SEEK_END);
    long n = ftell (f);
    ck_assert_int_gt (n, 0);
    fseek (f, 0, SEEK_SET);
    char *buf = malloc ((size_t) n + 1);
    ck_assert_ptr_nonnull (buf);
    ck_assert_uint_eq (fread (buf, 1, (size_t) n, f), (size_t) n);
    buf[n] = '\0';
    fclose (f);
    *len = (size_t) n;
    return buf;
}

typedef struct {
    int status;
    char head[4096];
    char *body; /* malloc'd, NUL-terminated */
    size_t body_len;
} resp_t;

/* One request on a fresh connection ("Connection: close"), the response
 * read to EOF. Returns 0, or -1 on a timeout or malformed response. */
static int http_get (int port, const char *method, const char *path, resp_t *resp)
{
    memset (resp, 0, sizeof *resp);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge (fd, 0);
    struct timeval tv = {.tv_sec = (time_t) testutil_scaled (5)};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    ck_assert_int_eq (connect (fd, (struct sockaddr *) &a, sizeof a), 0);
    char req[512];
    int n = snprintf (req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                      method, path);
    ck_assert_int_eq (send (fd, req, (size_t) n, MSG_NOSIGNAL), n);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc (cap);
    ck_assert_ptr_nonnull (buf);
    for (;;) {
        if (cap - len < 4096) {
            cap *= 2;
            buf = realloc (buf, cap);
            ck_assert_ptr_nonnull (buf);
        }
        ssize_t got = recv (fd, buf + len, cap - len - 1, 0);
        if (got == 0)
            break;
        if (got < 0) {
            free (buf);
            close (fd);
            return -1;
        }
        len += (size_t) got;
    }
    close (fd);
    buf[len] = '\0';
    char *end = strstr (buf, "\r\n\r\n");
    if (!end || sscanf (buf, "HTTP/1.1 %d ", &resp->status) != 1) {
        free (buf);
        return -1;
    }
    size_t hl = (size_t) (end - buf) + 4;
    ck_assert_uint_lt (hl, sizeof resp->head);
    memcpy (resp->head, buf, hl);
    resp->head[hl] = '\0';
    resp->body_len = len - hl;
    resp->body = malloc (resp->body_len + 1);
    ck_assert_ptr_nonnull (resp->body);
    memcpy (resp->body, buf + hl, resp->body_len + 1);
    free (buf);
    return 0;
}

static void resp_free (resp_t *r)
{
    free (r->body);
    r->body = NULL;
}

/* The value of a header (exact name, as the server writes it), or "". */
static const char *header (const resp_t *r, const char *name, char *out, size_t size)
{
    char key[128];
    snprintf (key, sizeof key, "\r\n%s: ", name);
    const char *p = strstr (r->head, key);
    out[0] = '\0';
    if (!p)
        return out;
    p += strlen (key);
    const char *e = strstr (p, "\r\n");
    size_t n = (size_t) (e - p) < size - 1 ? (size_t) (e - p) : size - 1;
    memcpy (out, p, n);
    out[n] = '\0';
    return out;
}

static void *ctx;

static zmqobs_t *serving_observer (int no_page, int *port)
{
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.no_process_metrics = 1;
    o.no_status_page = no_page;
    zmqobs_t *obs = zmqobs_new (ctx, &o);
    ck_assert_ptr_nonnull (obs);
    ck_assert_int_eq (zmqobs_serve (obs, "tcp://127.0.0.1:0"), 0);
    *port = zmqobs_serve_port (obs);
    ck_assert_int_gt (*port, 0);
    return obs;
}

static void setup (void)
{
    testutil_watchdog (60);
    ctx = zmq_ctx_new ();
    ck_assert_ptr_nonnull (ctx);
}

static void teardown (void)
{
    zmq_ctx_term (ctx);
    alarm (0);
}

/* ------------------------------------------------------------------------
 * The ring
 * ---------------------------------------------------------------------- */

START_TEST (ring_exact_and_bounded)
{
    zmqobs_recent_t *r = zmqobs__recent_new ();
    ck_assert_ptr_nonnull (r);
    ck_assert_uint_eq (zmqobs__recent_total (r), 0);
    zmqobs_recent_event_t e;
    errno = 0;
    ck_assert_int_eq (zmqobs__recent_get (r, 0, &e), -1);
    ck_assert_int_eq (errno, ENOENT);

    zmqobs_event_t ev =
        make_event (ZMQ_EVENT_LISTENING, 7, ZMQOBS_VALUE_FD, "tcp://127.0.0.1:5555");
    zmqobs__recent_push (r, "front", 5, &ev, 1, 1234567890123456789ull);
    ck_assert_uint_eq (zmqobs__recent_total (r), 1);
    ck_assert_int_eq (zmqobs__recent_get (r, 0, &e), 0);
    ck_assert_uint_eq (e.ts_ns, 1234567890123456789ull);
    ck_assert_uint_eq (e.event, ZMQ_EVENT_LISTENING);
    ck_assert_uint_eq (e.value, 7);
    ck_assert_uint_eq (e.value_kind, ZMQOBS_VALUE_FD);
    ck_assert_uint_eq (e.named_peer, 1);
    ck_assert_str_eq (e.name, "front");
    ck_assert_uint_eq (e.name_len, 5);
    ck_assert_str_eq (e.endpoint, "tcp://127.0.0.1:5555");
    ck_assert_uint_eq (e.endpoint_len, 20);
    ck_assert_int_eq (zmqobs__recent_get (r, 1, &e), -1);
    ck_assert_int_eq (errno, ENOENT);

    /* a name longer than ZMQOBS_NAME_MAX is cut there; the longest
     * endpoint is kept whole */
    char longname[400], longep[ZMQOBS_ENDPOINT_MAX + 1];
    memset (longname, 'n', sizeof longname);
    memset (longep, 'e', ZMQOBS_ENDPOINT_MAX);
    longep[ZMQOBS_ENDPOINT_MAX] = '\0';
    zmqobs_event_t lev = make_event (ZMQ_EVENT_CLOSED, 3, ZMQOBS_VALUE_FD, longep);
    zmqobs__recent_push (r, longname, sizeof longname, &lev, 0, 1);
    ck_assert_int_eq (zmqobs__recent_get (r, 1, &e), 0);
    ck_assert_uint_eq (e.name_len, ZMQOBS_NAME_MAX);
    ck_assert_uint_eq (strlen (e.name), ZMQOBS_NAME_MAX);
    ck_assert_uint_eq (e.endpoint_len, ZMQOBS_ENDPOINT_MAX);
    ck_assert_str_eq (e.endpoint, longep);

    /* wrap-around: the newest ZMQOBS__RECENT_CAP stay, the rest are gone */
    for (uint32_t i = 2; i < 1000; i++) {
        ev.value = i;
        zmqobs__recent_push (r, "w", 1, &ev, 0, i);
    }
    ck_assert_uint_eq (zmqobs__recent_total (r), 1000);
    for (uint64_t seq = 0; seq < 1000; seq++) {
        int rc = zmqobs__recent_get (r, seq, &e);
        if (seq < 1000 - ZMQOBS__RECENT_CAP) {
            ck_assert_int_eq (rc, -1);
            ck_assert_int_eq (errno, ENOENT);
        } else {
            ck_assert_int_eq (rc, 0);
            ck_assert_uint_eq (e.value, seq);
            ck_assert_uint_eq (e.ts_ns, seq);
            /* short strings over the long ones of an older event */
            ck_assert_str_eq (e.name, "w");
            ck_assert_str_eq (e.endpoint, "tcp://127.0.0.1:5555");
            ck_assert_uint_eq (e.event, ZMQ_EVENT_LISTENING);
            ck_assert_uint_eq (e.named_peer, 0);
        }
    }
    ck_assert_int_eq (zmqobs__recent_get (r, 1000, &e), -1);

    /* bad arguments: nothing happens, nothing crashes */
    zmqobs__recent_push (NULL, "x", 1, &ev, 0, 0);
    zmqobs__recent_push (r, NULL, 1, &ev, 0, 0);
    zmqobs__recent_push (r, "x", 1, NULL, 0, 0);
    ck_assert_uint_eq (zmqobs__recent_total (r), 1000);
    ck_assert_uint_eq (zmqobs__recent_total (NULL), 0);
    errno = 0;
    ck_assert_int_eq (zmqobs__recent_get (NULL, 0, &e), -1);
    ck_assert_int_eq (errno, EINVAL);
    ck_assert_int_eq (zmqobs__recent_get (r, 999, NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
    zmqobs__recent_free (r);
    zmqobs__recent_free (NULL);
}
END_TEST

/* One writer pushes events whose every field derives from their sequence
 * number; a reader on another thread takes the newest ones as fast as it
 * can. Every event it gets must be whole: a torn copy would mix two. */
typedef struct {
    zmqobs_recent_t *r;
    int done;
    long got, torn;
} race_t;

static void *race_reader (void *arg)
{
    race_t *x = arg;
    while (!__atomic_load_n (&x->done, __ATOMIC_ACQUIRE)) {
        uint64_t total = zmqobs__recent_total (x->r);
        for (uint64_t k = 0; k < 4 && k < total; k++) {
            zmqobs_recent_event_t e;
            uint64_t seq = total - 1 - k;
            if (zmqobs__recent_get (x->r, seq, &e) != 0)
                continue;
            char want[64];
            snprintf (want, sizeof want, "socket-%llu", (unsigned long long) seq);
            char ep[64];
            snprintf (ep, sizeof ep, "tcp://10.0.0.1:%llu", (unsigned long long) (seq % 65536));
            if (e.value != (uint32_t) seq || e.ts_ns != seq * 3 || e.named_peer != (seq & 1)
                || strcmp (e.name, want) != 0 || strcmp (e.endpoint, ep) != 0)
                x->torn++;
            __atomic_fetch_add (&x->got, 1, __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

START_TEST (ring_reader_never_sees_a_torn_event)
{
    race_t x = {.r = zmqobs__recent_new ()};
    ck_assert_ptr_nonnull (x.r);
    pthread_t t;
    ck_assert_int_eq (pthread_create (&t, NULL, race_reader, &x), 0);
    for (uint64_t seq = 0; seq < 200000; seq++) {
        char name[64], ep[64];
        int n = snprintf (name, sizeof name, "socket-%llu", (unsigned long long) seq);
        snprintf (ep, sizeof ep, "tcp://10.0.0.1:%llu", (unsigned long long) (seq % 65536));
        zmqobs_event_t ev = make_event (ZMQ_EVENT_ACCEPTED, (uint32_t) seq, ZMQOBS_VALUE_FD, ep);
        zmqobs__recent_push (x.r, name, (size_t) n, &ev, (int) (seq & 1), seq * 3);
    }
    /* a scheduler that ran the writer alone (valgrind runs one thread
     * at a time) still lets the reader read the last events before the
     * end */
    while (__atomic_load_n (&x.got, __ATOMIC_RELAXED) == 0)
        sched_yield ();
    __atomic_store_n (&x.done, 1, __ATOMIC_RELEASE);
    ck_assert_int_eq (pthread_join (t, NULL), 0);
    ck_assert_int_eq (x.torn, 0);
    ck_assert_int_gt (x.got, 0);
    zmqobs__recent_free (x.r);
}
END_TEST

/* ------------------------------------------------------------------------
 * /events as JSON, exact
 * ---------------------------------------------------------------------- */

START_TEST (events_json_exact)
{
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.host_driven = 1;
    zmqobs_t *obs = zmqobs_new (ctx, &o);
    ck_assert_ptr_nonnull (obs);
    ck_assert_ptr_nonnull (obs->recent);
    char buf[4096];
    ck_assert_uint_eq (zmqobs__events_json (obs, buf, sizeof buf), 38);
    ck_assert_str_eq (buf, "{\"capacity\":64,\"total\":0,\"events\":[]}\n");

    /* 2026-01-02T03:04:05.678Z */
    uint64_t ts = 1767323045678000000ull;
    const char *hostile =
        "<script>alert(\"x\")</script>\\\n&amp;z\xc3\xa4hler\xe2\x86\x92\xe2\x9c\x93";
    zmqobs_event_t a =
        make_event (ZMQ_EVENT_LISTENING, 12, ZMQOBS_VALUE_FD, "tcp://127.0.0.1:5555");
    zmqobs_event_t b =
        make_event (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH,
                    ZMQOBS_VALUE_PROTOCOL_ERROR, "tcp://127.0.0.1:\"<b>\"");
    zmqobs__recent_push (obs->recent, hostile, strlen (hostile), &a, 0, ts);
    zmqobs__recent_push (obs->recent, "rep", 3, &b, 1, ts + 1000000);
    const char *want =
        "{\"capacity\":64,\"total\":2,\"events\":["
        "{\"ts\":\"2026-01-02T03:04:05.678Z\",\"socket\":\"<script>alert(\\\"x\\\")</script>\\\\\\n"
        "&amp;z\xc3\xa4hler\xe2\x86\x92\xe2\x9c\x93\",\"event\":\"LISTENING\",\"value\":12,"
        "\"meaning\":\"fd\",\"endpoint\":\"tcp://127.0.0.1:5555\"},"
        "{\"ts\":\"2026-01-02T03:04:05.679Z\",\"socket\":\"rep\",\"event\":"
        "\"HANDSHAKE_FAILED_PROTOCOL\",\"value\":"
        "";
    size_t n = zmqobs__events_json (obs, buf, sizeof buf);
    ck_assert_uint_eq (n, strlen (buf));
    ck_assert_msg (strncmp (buf, want, strlen (want)) == 0, "got %s", buf);
    char tail[256];
    snprintf (tail, sizeof tail,
              "%u,\"meaning\":\"protocol_error\",\"detail\":\"ZMTP_MECHANISM_MISMATCH\","
              "\"endpoint\":\"tcp://127.0.0.1:\\\"<b>\\\"\",\"peer\":\"tcp://"
              "127.0.0.1:\\\"<b>\\\"\"}]}\n",
              (unsigned) ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH);
    ck_assert_str_eq (buf + strlen (want), tail);

    /* snprintf semantics: the same length whatever the room, a cut
     * prefix, always terminated */
    char small[40];
    ck_assert_uint_eq (zmqobs__events_json (obs, small, sizeof small), n);
    ck_assert_uint_eq (strlen (small), sizeof small - 1);
    ck_assert_int_eq (strncmp (small, buf, sizeof small - 1), 0);
    ck_assert_uint_eq (zmqobs__events_json (obs, NULL, 0), n);

    /* bounded: after 1000 events, exactly the newest 64 */
    for (uint32_t i = 0; i < 1000; i++) {
        a.value = i;
        zmqobs__recent_push (obs->recent, "w", 1, &a, 0, ts);
    }
    size_t need = zmqobs__events_json (obs, NULL, 0);
    char *big = malloc (need + 1);
    ck_assert_ptr_nonnull (big);
    ck_assert_uint_eq (zmqobs__events_json (obs, big, need + 1), need);
    ck_assert_ptr_nonnull (strstr (big, "{\"capacity\":64,\"total\":1002,\"events\":[{"));
    int count = 0;
    for (const char *p = big; (p = strstr (p, "\"event\":\"LISTENING\"")); p++)
        count++;
    ck_assert_int_eq (count, 64);
    ck_assert_ptr_nonnull (strstr (big, "\"value\":936,"));
    ck_assert_ptr_null (strstr (big, "\"value\":935,"));
    ck_assert_ptr_nonnull (strstr (big, "\"value\":999,"));
    free (big);
    zmqobs_destroy (&obs);

    /* without a ring (page off): an empty list, never a crash */
    o.no_status_page = 1;
    obs = zmqobs_new (ctx, &o);
    ck_assert_ptr_nonnull (obs);
    ck_assert_ptr_null (obs->recent);
    zmqobs__events_json (obs, buf, sizeof buf);
    ck_assert_str_eq (buf, "{\"capacity\":64,\"total\":0,\"events\":[]}\n");
    zmqobs_destroy (&obs);
    zmqobs__events_json (NULL, buf, sizeof buf);
    ck_assert_str_eq (buf, "{\"capacity\":64,\"total\":0,\"events\":[]}\n");
}
END_TEST

/* ------------------------------------------------------------------------
 * Over HTTP
 * ---------------------------------------------------------------------- */

START_TEST (static_resources_exact)
{
    static const struct {
        const char *path, *file, *ctype;
    } res[] = {
        {"/", "src/status_page.html", "text/html; charset=utf-8"},
        {"/status.js", "src/status_page.js", "text/javascript; charset=utf-8"},
        {"/status.css", "src/status_page.css", "text/css; charset=utf-8"},
    };
    int port;
    zmqobs_t *obs = serving_observer (0, &port);
    for (size_t i = 0; i < sizeof res / sizeof res[0]; i++) {
        size_t flen;
        char *file = read_file (res[i].file, &flen);
        /* the embedded copy is the file, byte for byte */
        zmqobs_status_res_t r;
        ck_assert_int_eq (zmqobs__status_find (res[i].path, strlen (res[i].path), &r), 1);
        ck_assert_uint_eq (r.len, flen);
        ck_assert_int_eq (memcmp (r.body, file, flen), 0);
        ck_assert_int_eq (r.body[r.len], '\0');

        resp_t resp;
        char v[512];
        ck_assert_int_eq (http_get (port, "GET", res[i].path, &resp), 0);
        ck_assert_int_eq (resp.status, 200);
        ck_assert_str_eq (header (&resp, "Content-Type", v, sizeof v), res[i].ctype);
        ck_assert_str_eq (header (&resp, "Content-Security-Policy", v, sizeof v), CSP);
        ck_assert_str_eq (header (&resp, "X-Content-Type-Options", v, sizeof v), "nosniff");
        ck_assert_str_eq (header (&resp, "Referrer-Policy", v, sizeof v), "no-referrer");
        ck_assert_str_eq (header (&resp, "Cache-Control", v, sizeof v), "no-store");
        ck_assert_str_eq (header (&resp, "Connection", v, sizeof v), "close");
        ck_assert_uint_eq (strtoul (header (&resp, "Content-Length", v, sizeof v), NULL, 10), flen);
        ck_assert_uint_eq (resp.body_len, flen);
        ck_assert_int_eq (memcmp (resp.body, file, flen), 0);
        resp_free (&resp);

        /* HEAD: the same head, no body */
        ck_assert_int_eq (http_get (port, "HEAD", res[i].path, &resp), 0);
        ck_assert_int_eq (resp.status, 200);
        ck_assert_uint_eq (strtoul (header (&resp, "Content-Length", v, sizeof v), NULL, 10), flen);
        ck_assert_str_eq (header (&resp, "Content-Security-Policy", v, sizeof v), CSP);
        ck_assert_uint_eq (resp.body_len, 0);
        resp_free (&resp);

        /* nothing changes state: other methods are refused */
        ck_assert_int_eq (http_get (port, "POST", res[i].path, &resp), 0);
        ck_assert_int_eq (resp.status, 405);
        ck_assert_str_eq (header (&resp, "Allow", v, sizeof v), "GET, HEAD");
        resp_free (&resp);
        free (file);
    }
    /* a query is ignored, a near miss is not the page */
    resp_t resp;
    ck_assert_int_eq (http_get (port, "GET", "/?x=%3Cscript%3E", &resp), 0);
    ck_assert_int_eq (resp.status, 200);
    resp_free (&resp);
    const char *misses[] = {"/index.html", "/status.js/", "//",
                            "/STATUS.CSS", "/events/x",   "/metrics.jsonx"};
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++) {
        ck_assert_int_eq (http_get (port, "GET", misses[i], &resp), 0);
        ck_assert_int_eq (resp.status, 404);
        resp_free (&resp);
    }
    ck_assert_int_eq (zmqobs__status_find (NULL, 0, NULL), 0);
    zmqobs_destroy (&obs);
}
END_TEST

START_TEST (metrics_json_and_events_over_http)
{
    int port;
    zmqobs_t *obs = serving_observer (0, &port);
    const char *name = "<script>alert(1)</script> \"q\" z\xc3\xa4hler";
    void *s = zmq_socket (ctx, ZMQ_PULL);
    ck_assert_ptr_nonnull (s);
    zmqobs_socket_t *zs = zmqobs_attach (obs, s, name);
    ck_assert_ptr_nonnull (zs);
    zmqobs_record_received (zs, 42, 0);
    ck_assert_int_eq (zmq_bind (s, "tcp://127.0.0.1:*"), 0);
    char ep[256];
    size_t eplen = sizeof ep;
    ck_assert_int_eq (zmq_getsockopt (s, ZMQ_LAST_ENDPOINT, ep, &eplen), 0);

    /* /metrics.json is the JSON exposition */
    resp_t resp;
    char v[512];
    ck_assert_int_eq (http_get (port, "GET", "/metrics.json", &resp), 0);
    ck_assert_int_eq (resp.status, 200);
    ck_assert_str_eq (header (&resp, "Content-Type", v, sizeof v),
                      "application/json; charset=utf-8");
    ck_assert_str_eq (header (&resp, "X-Content-Type-Options", v, sizeof v), "nosniff");
    ck_assert_str_eq (header (&resp, "Content-Security-Policy", v, sizeof v), CSP);
    ck_assert_int_eq (strncmp (resp.body, "{\"version\":\"", 12), 0);
    ck_assert_ptr_nonnull (strstr (resp.body, "{\"name\":\"<script>alert(1)</script> \\\"q\\\" "
                                              "z\xc3\xa4hler\",\"type\":\"PULL\""));
    ck_assert_ptr_nonnull (strstr (resp.body, "\"messages_received\":1,\"bytes_received\":42,"));
    resp_free (&resp);
    ck_assert_int_eq (http_get (port, "HEAD", "/metrics.json", &resp), 0);
    ck_assert_int_eq (resp.status, 200);
    ck_assert_uint_gt (strtoul (header (&resp, "Content-Length", v, sizeof v), NULL, 10), 100);
    ck_assert_uint_eq (resp.body_len, 0);
    resp_free (&resp);

    /* /events: the LISTENING of the bind, the name escaped as JSON */
    char want[1024];
    snprintf (want, sizeof want,
              "\"socket\":\"<script>alert(1)</script> \\\"q\\\" z\xc3\xa4hler\",\"event\":"
              "\"LISTENING\",");
    char want_ep[300];
    snprintf (want_ep, sizeof want_ep, "\"endpoint\":\"%s\"}", ep);
    int found = 0;
    for (int i = 0; i < 200 && !found; i++) {
        ck_assert_int_eq (http_get (port, "GET", "/events", &resp), 0);
        ck_assert_int_eq (resp.status, 200);
        ck_assert_str_eq (header (&resp, "Content-Type", v, sizeof v),
                          "application/json; charset=utf-8");
        ck_assert_str_eq (header (&resp, "X-Content-Type-Options", v, sizeof v), "nosniff");
        ck_assert_int_eq (strncmp (resp.body, "{\"capacity\":64,\"total\":", 23), 0);
        const char *at = strstr (resp.body, want);
        found = at && strstr (at, want_ep) != NULL;
        resp_free (&resp);
        if (!found)
            testutil_sleep_ms (10);
    }
    ck_assert_msg (found, "no LISTENING event in /events");
    ck_assert_int_eq (http_get (port, "DELETE", "/events", &resp), 0);
    ck_assert_int_eq (resp.status, 405);
    resp_free (&resp);

    zmqobs_detach (&zs);
    zmq_close (s);
    zmqobs_destroy (&obs);
}
END_TEST

START_TEST (allocation_failure_gives_500)
{
    int port;
    zmqobs_t *obs = serving_observer (0, &port);
    /* the page needs a larger buffer than a slot starts with */
    resp_t resp;
    __atomic_store_n (&zmqobs__alloc_count, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n (&zmqobs__alloc_fail_at, 1, __ATOMIC_SEQ_CST);
    ck_assert_int_eq (http_get (port, "GET", "/", &resp), 0);
    __atomic_store_n (&zmqobs__alloc_fail_at, 0, __ATOMIC_SEQ_CST);
    ck_assert_int_eq (resp.status, 500);
    ck_assert_str_eq (resp.body, "cannot make the response\n");
    resp_free (&resp);
    ck_assert_int_eq (http_get (port, "GET", "/", &resp), 0);
    ck_assert_int_eq (resp.status, 200);
    resp_free (&resp);
    zmqobs_destroy (&obs);
}
END_TEST

static void expect_off (int port)
{
    const char *paths[] = {"/", "/status.js", "/status.css", "/events", "/metrics.json"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        resp_t resp;
        char v[512];
        ck_assert_int_eq (http_get (port, "GET", paths[i], &resp), 0);
        ck_assert_int_eq (resp.status, 404);
        ck_assert_str_eq (resp.body, "not found; try /metrics, /healthz, /readyz or /peers\n");
        ck_assert_str_eq (header (&resp, "Content-Security-Policy", v, sizeof v), "");
        resp_free (&resp);
        ck_assert_int_eq (http_get (port, "POST", paths[i], &resp), 0);
        ck_assert_int_eq (resp.status, 404);
        resp_free (&resp);
    }
    resp_t resp;
    ck_assert_int_eq (http_get (port, "GET", "/metrics", &resp), 0);
    ck_assert_int_eq (resp.status, 200);
    resp_free (&resp);
}

START_TEST (option_turns_it_off)
{
    int port;
    zmqobs_t *obs = serving_observer (1, &port);
    ck_assert_ptr_null (obs->recent);
    ck_assert_int_eq (obs->status_page, 0);
    expect_off (port);
    zmqobs_destroy (&obs);
}
END_TEST

START_TEST (env_turns_it_off)
{
    zmqobs_options_t o;
    char err[256];
    static const struct {
        const char *value;
        int no_page;
    } ok[] = {{"0", 1}, {"off", 1}, {"1", 0}, {"on", 0}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        zmqobs_options_init (&o);
        o.no_status_page = !ok[i].no_page; /* the variable overrides it */
        ck_assert_int_eq (setenv ("ZMQOBS_STATUS_PAGE", ok[i].value, 1), 0);
        ck_assert_int_eq (zmqobs_options_from_env (&o, err, sizeof err), 0);
        ck_assert_str_eq (err, "");
        ck_assert_int_eq (o.no_status_page, ok[i].no_page);
    }
    static const char *const bad[] = {"", "2", "no", "OFF", " 0", "0 ", "00", "true", "<b>\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zmqobs_options_init (&o);
        o.no_status_page = 7;
        ck_assert_int_eq (setenv ("ZMQOBS_STATUS_PAGE", bad[i], 1), 0);
        errno = 0;
        ck_assert_int_eq (zmqobs_options_from_env (&o, err, sizeof err), -1);
        ck_assert_int_eq (errno, EINVAL);
        ck_assert_int_eq (o.no_status_page, 7); /* left unchanged */
        ck_assert_int_eq (strncmp (err, "ZMQOBS_STATUS_PAGE: '", 21), 0);
        ck_assert_ptr_nonnull (strstr (err, "' is not 1, on, 0 or off"));
    }
    ck_assert_int_eq (setenv ("ZMQOBS_STATUS_PAGE", "<b>\n", 1), 0);
    zmqobs_options_from_env (&o, err, sizeof err);
    ck_assert_str_eq (err, "ZMQOBS_STATUS_PAGE: '<b>\\x0a' is not 1, on, 0 or off");
    /* unset: the program's choice stands */
    ck_assert_int_eq (unsetenv ("ZMQOBS_STATUS_PAGE"), 0);
    zmqobs_options_init (&o);
    o.no_status_page = 1;
    ck_assert_int_eq (zmqobs_options_from_env (&o, err, sizeof err), 0);
    ck_assert_int_eq (o.no_status_page, 1);

    /* and the observer made from it serves no page */
    ck_assert_int_eq (setenv ("ZMQOBS_STATUS_PAGE", "0", 1), 0);
    zmqobs_options_init (&o);
    ck_assert_int_eq (zmqobs_options_from_env (&o, err, sizeof err), 0);
    ck_assert_int_eq (unsetenv ("ZMQOBS_STATUS_PAGE"), 0);
    zmqobs_t *obs = zmqobs_new (ctx, &o);
    ck_assert_ptr_nonnull (obs);
    ck_assert_int_eq (zmqobs_serve (obs, "tcp://127.0.0.1:0"), 0);
    int port = zmqobs_serve_port (obs);
    ck_assert_int_gt (port, 0);
    expect_off (port);
    zmqobs_destroy (&obs);
}
END_TEST

static Suite *status_suite (void)
{
    Suite *s = suite_create ("status");
    TCase *tc = testutil_tcase (s, "ring", 60);
    tcase_add_test (tc, ring_exact_and_bounded);
    tcase_add_test (tc, ring_reader_never_sees_a_torn_event);
    tc = testutil_tcase (s, "events", 60);
    tcase_add_checked_fixture (tc, setup, teardown);
    tcase_add_test (tc, events_json_exact);
    tc = testutil_tcase (s, "http", 60);
    tcase_add_checked_fixture (tc, setup, teardown);
    tcase_add_test (tc, static_resources_exact);
    tcase_add_test (tc, metrics_json_and_events_over_http);
    tcase_add_test (tc, allocation_failure_gives_500);
    tcase_add_test (tc, option_turns_it_off);
    tcase_add_test (tc, env_turns_it_off);
    return s;
}

int main (void)
{
    return testutil_run (status_suite ());
}
