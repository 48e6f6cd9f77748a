/*
 * test_otlp.c - OTLP push: URL parsing, argument errors, the JSON body
 * (mapping, snprintf semantics), and pushes against loopback collectors
 * that accept, answer 500, answer garbage, never answer, or do not exist,
 * each with its errno and the failure counter; the periodic push stopped
 * by zmqobs_otlp_stop and by zmqobs_destroy. (tests/test_otlp_e2e.sh
 * decodes real pushes with the OpenTelemetry classes.)
 *
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"
#include "internal.h"
#include "otlp.h"
#include "otlp_json.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

START_TEST (test_url)
{
    zmqobs_url_t u;
    ck_assert_int_eq (zmqobs__url_parse ("http://127.0.0.1:4318/v1/metrics", &u), 0);
    ck_assert_int_eq (u.family, AF_INET);
    ck_assert_uint_eq (u.port, 4318);
    ck_assert_str_eq (u.path, "/v1/metrics");
    ck_assert_str_eq (u.host, "127.0.0.1:4318");
    ck_assert_int_eq (zmqobs__url_parse ("http://localhost", &u), 0);
    ck_assert_uint_eq (u.port, 80);
    ck_assert_str_eq (u.path, "/");
    ck_assert_int_eq (memcmp (u.addr, "\x7f\0\0\x01", 4), 0);
    ck_assert_int_eq (zmqobs__url_parse ("http://[::1]:9/x?y=1", &u), 0);
    ck_assert_int_eq (u.family, AF_INET6);
    ck_assert_uint_eq (u.port, 9);
    ck_assert_str_eq (u.path, "/x?y=1");
    static const char *const bad[] = {"",
                                      "ftp://1.2.3.4/",
                                      "http://",
                                      "http:///x",
                                      "http://collector:4318/v1/metrics",
                                      "http://1.2.3.4:0/",
                                      "http://1.2.3.4:65536/",
                                      "http://1.2.3.4:12a/",
                                      "http://1.2.3.4:/",
                                      "http://1.2.3.4/a b",
                                      "http://1.2.3.4/a\nb",
                                      "http://[::1/",
                                      "http://[zz]/",
                                      "http://256.1.1.1/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        ck_assert_msg (zmqobs__url_parse (bad[i], &u) == -1 && errno == EINVAL, "%s", bad[i]);
    }
    errno = 0;
    ck_assert_int_eq (zmqobs__url_parse (NULL, &u), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs__url_parse ("https://127.0.0.1/", &u), -1);
    ck_assert_int_eq (errno, ENOTSUP);
    char longpath[600] = "http://1.2.3.4/";
    memset (longpath + 15, 'a', 400);
    longpath[415] = '\0';
    ck_assert_int_eq (zmqobs__url_parse (longpath, &u), -1);
}
END_TEST

static zmqobs_t *observer (void *ctx)
{
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.host_driven = 1;
    o.no_process_metrics = 1;
    o.latency_sample_every = ZMQOBS_SAMPLE_NEVER;
    o.native_histograms = 1;
    o.service = "svc";
    zmqobs_t *obs = zmqobs_new (ctx, &o);
    ck_assert_ptr_nonnull (obs);
    return obs;
}

START_TEST (test_arguments)
{
    testutil_watchdog (10);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx);
    errno = 0;
    ck_assert_int_eq (zmqobs_otlp_push (NULL, "http://127.0.0.1:1/"), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_otlp_push (obs, "http://name/"), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_otlp_push (obs, "https://127.0.0.1/"), -1);
    ck_assert_int_eq (errno, ENOTSUP);
    errno = 0;
    ck_assert_int_eq (zmqobs_otlp_start (obs, "http://127.0.0.1:1/", 9), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_otlp_start (NULL, "http://127.0.0.1:1/", 100), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_otlp_start (obs, NULL, 100), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_otlp_stop (obs), -1);
    ck_assert_int_eq (errno, ENOTCONN);
    errno = 0;
    ck_assert_int_eq (zmqobs_otlp_stop (NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
    /* started twice, stopped twice; then started again and left to
     * zmqobs_destroy */
    ck_assert_int_eq (zmqobs_otlp_start (obs, "http://127.0.0.1:1/", 1000), 0);
    errno = 0;
    ck_assert_int_eq (zmqobs_otlp_start (obs, "http://127.0.0.1:1/", 1000), -1);
    ck_assert_int_eq (errno, EALREADY);
    ck_assert_int_eq (zmqobs_otlp_stop (obs), 0);
    ck_assert_int_eq (zmqobs_otlp_stop (obs), -1);
    ck_assert_int_eq (zmqobs_otlp_start (obs, "http://127.0.0.1:1/", 10), 0);
    testutil_sleep_ms (50);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* The body: the mapping's landmarks, and snprintf semantics. */
START_TEST (test_body)
{
    testutil_watchdog (10);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx);
    void *z = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *s = zmqobs_attach (obs, z, "q\"\\\n");
    zmqobs_record_sent (s, 10, 0);
    zmqobs_record_sent (s, 5, 0);
    zmqobs_record_latency (s, 0);
    zmqobs_record_latency (s, 1000000000);
    zmqobs_record_latency (s, 1000000001);
    zmqobs__format_tables ();
    zmqobs_socket_t *socks[1] = {s};
    static char buf[1 << 17];
    zmqobs_out_t o;
    zmqobs__out_init (&o, buf, sizeof buf);
    zmqobs__otlp_json (&o, obs, socks, 1, NULL, 1234567890123456789u);
    size_t len = zmqobs__out_end (&o);
    ck_assert_uint_lt (len, sizeof buf);
    ck_assert_ptr_nonnull (strstr (buf, "{\"resourceMetrics\":[{\"resource\":{\"attributes\":[{\"key\":"
                                        "\"service.name\",\"value\":{\"stringValue\":\"svc\"}}]}"));
    ck_assert_ptr_nonnull (strstr (buf, "{\"name\":\"zmq_messages_sent\","));
    ck_assert_ptr_nonnull (strstr (buf, "{\"key\":\"socket\",\"value\":{\"stringValue\":"
                                        "\"q\\\"\\\\\\n\"}}"));
    ck_assert_ptr_nonnull (strstr (buf, ",\"timeUnixNano\":\"1234567890123456789\",\"asInt\":\"2\"}],"
                                        "\"aggregationTemporality\":2,\"isMonotonic\":true}"));
    ck_assert_ptr_nonnull (strstr (buf, ",\"asInt\":\"15\"}"));
    /* the exponential histogram: 0 in the zero bucket; 1 s is Prometheus
     * bucket 0, OTLP's -1; 1 s + 1 ns the next */
    ck_assert_ptr_nonnull (strstr (buf, "\"name\":\"zmq_message_latency_exponential_seconds\""));
    ck_assert_ptr_nonnull (strstr (buf, ",\"count\":\"3\",\"sum\":2.000000001,\"scale\":3,"
                                        "\"zeroCount\":\"1\",\"zeroThreshold\":9.313225746154785e-10,"
                                        "\"positive\":{\"offset\":-1,\"bucketCounts\":[\"1\",\"1\"]}}"));
    /* an empty window has no quantiles... this one has three samples */
    ck_assert_ptr_nonnull (strstr (buf, "\"quantileValues\":[{\"quantile\":0.5,\"value\":1}"));
    ck_assert_ptr_null (strstr (buf, "_total\","));
    /* every size: the same prefix, the length, never past size */
    static char small[1 << 17];
    for (size_t size = 1; size < len + 2; size += 1 + size / 8) {
        memset (small, 0x5a, sizeof small);
        zmqobs__out_init (&o, small, size);
        zmqobs__otlp_json (&o, obs, socks, 1, NULL, 1234567890123456789u);
        ck_assert_uint_eq (zmqobs__out_end (&o), len);
        size_t kept = size - 1 < len ? size - 1 : len;
        ck_assert_int_eq (memcmp (small, buf, kept), 0);
        ck_assert_int_eq (small[kept], 0);
        ck_assert_int_eq (small[size], 0x5a);
    }
    zmqobs_detach (&s);
    zmq_close (z);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* A one-connection collector on a thread: answers with reply (NULL: never
 * answers, until the client goes). Checks the request. */
typedef struct {
    int fd;
    const char *reply;
    int ok; /* the request was a POST of JSON of its Content-Length */
} collector_t;

static void *collector (void *arg)
{
    collector_t *c = arg;
    int conn = accept (c->fd, NULL, NULL);
    if (conn < 0)
        return NULL;
    static char req[1 << 18];
    size_t got = 0;
    long need = -1;
    for (;;) {
        ssize_t n = read (conn, req + got, sizeof req - 1 - got);
        if (n <= 0)
            break;
        got += (size_t) n;
        req[got] = '\0';
        char *end = strstr (req, "\r\n\r\n");
        if (end && need < 0) {
            char *cl = strstr (req, "Content-Length: ");
            need = cl ? atol (cl + 16) : 0;
            need += end + 4 - req;
        }
        if (need >= 0 && (long) got >= need)
            break;
    }
    char *body = strstr (req, "\r\n\r\n");
    c->ok = need > 0 && (long) got == need && strncmp (req, "POST /v1/metrics HTTP/1.1\r\n", 27) == 0
            && strstr (req, "Content-Type: application/json\r\n") && body
            && strncmp (body + 4, "{\"resourceMetrics\":[", 20) == 0 && req[got - 1] == '}';
    if (c->reply)
        (void) !write (conn, c->reply, strlen (c->reply));
    else {
        char x;
        while (read (conn, &x, 1) > 0)
            ;
    }
    close (conn);
    return NULL;
}

static int listener (int *port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    ck_assert_int_eq (bind (fd, (struct sockaddr *) &a, sizeof a), 0);
    ck_assert_int_eq (listen (fd, 4), 0);
    socklen_t l = sizeof a;
    getsockname (fd, (struct sockaddr *) &a, &l);
    *port = ntohs (a.sin_port);
    return fd;
}

static uint64_t failures (zmqobs_t *obs)
{
    static char buf[1 << 16];
    ck_assert_int_gt (zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, buf, sizeof buf), 0);
    const char *p = strstr (buf, "\nzmqobs_otlp_push_failures_total{service=\"svc\"} ");
    ck_assert_ptr_nonnull (p);
    return strtoull (strchr (p + 1, ' ') + 1, NULL, 10);
}

START_TEST (test_push)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx);
    void *z = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *s = zmqobs_attach (obs, z, "s");
    static const struct {
        const char *reply;
        int rc, err;
    } cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 0, 0},
        {"HTTP/1.0 204 No Content\r\n\r\n", 0, 0},
        {"HTTP/1.1 500 Internal Server Error\r\n\r\n", -1, EPROTO},
        {"HTTP/1.1 429 Too Many Requests\r\n\r\n", -1, EPROTO},
        {"garbage that is no status line\r\n\r\n", -1, EPROTO},
        {"", -1, ECONNRESET},
        {NULL, -1, ETIMEDOUT},
    };
    uint64_t want_failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int port;
        collector_t c = {listener (&port), cases[i].reply, 0};
        pthread_t t;
        pthread_create (&t, NULL, collector, &c);
        char url[64];
        snprintf (url, sizeof url, "http://127.0.0.1:%d/v1/metrics", port);
        errno = 0;
        int rc = zmqobs_otlp_push (obs, url);
        int err = errno;
        pthread_join (t, NULL);
        close (c.fd);
        ck_assert_msg (rc == cases[i].rc && (rc == 0 || err == cases[i].err), "case %zu: %d %s", i,
                       rc, zmqobs_errno_name (err));
        ck_assert_msg (c.ok, "case %zu: request", i);
        want_failures += rc != 0;
        ck_assert_uint_eq (failures (obs), want_failures);
    }
    /* nobody listening */
    int port;
    int fd = listener (&port);
    close (fd);
    char url[64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/v1/metrics", port);
    errno = 0;
    ck_assert_int_eq (zmqobs_otlp_push (obs, url), -1);
    ck_assert_int_eq (errno, ECONNREFUSED);
    ck_assert_uint_eq (failures (obs), want_failures + 1);
    zmqobs_detach (&s);
    zmq_close (z);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* The periodic push reaches a collector, and zmqobs_otlp_stop returns
 * while the collector never answers. */
START_TEST (test_periodic)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = observer (ctx);
    int port;
    collector_t c = {listener (&port), "HTTP/1.1 200 OK\r\n\r\n", 0};
    pthread_t t;
    pthread_create (&t, NULL, collector, &c);
    char url[64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/v1/metrics", port);
    ck_assert_int_eq (zmqobs_otlp_start (obs, url, 20), 0);
    pthread_join (t, NULL); /* one push came */
    ck_assert (c.ok);
    c.reply = NULL; /* the next one hangs */
    pthread_create (&t, NULL, collector, &c);
    testutil_sleep_ms (100);
    ck_assert_int_eq (zmqobs_otlp_stop (obs), 0);
    shutdown (c.fd, SHUT_RDWR);
    pthread_join (t, NULL);
    close (c.fd);
    ck_assert_uint_eq (failures (obs), 0);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

int main (void)
{
    Suite *suite = suite_create ("otlp");
    TCase *tc = tcase_create ("otlp");
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_url);
    tcase_add_test (tc, test_arguments);
    tcase_add_test (tc, test_body);
    tcase_add_test (tc, test_push);
    tcase_add_test (tc, test_periodic);
    suite_add_tcase (suite, tc);
    return testutil_run (suite);
}
