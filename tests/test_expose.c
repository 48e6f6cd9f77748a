/*
 * test_expose.c - the exposition formats: golden outputs, the reference
 * validators (promtool, prometheus_client's parsers, json), hostile socket
 * names, truncation at every size, locale independence, Accept
 * negotiation, escaping and number rendering, process metrics, and no
 * heap allocation per scrape.
 *
 * Golden files live in tests/golden/; run with ZMQOBS_UPDATE_GOLDEN=1 to
 * rewrite them after an intended change (then review the diff). Volatile
 * values are made fixed, not masked: attach times are written into the
 * socket blocks and zmqobs__test_uptime_ns fixes every uptime; process
 * metrics are off in the golden scenario.
 *
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"
#include "internal.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <locale.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define CHECKER "tests/expose_check.py"
#define GOLDEN_DIR "tests/golden/"

static const char *const format_names[4] = {"prom", "om", "json", "text"};
static const char *const golden_files[4] = {"expose.prom", "expose.om", "expose.json",
                                            "expose.txt"};

#include "alloc_count.h"

/* ------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------- */

/* The whole output of a format in a fresh heap buffer (the caller frees).
 * With process metrics on, the length may change between two calls (CPU
 * time gains a digit...), hence the slack. */
static char *format_all (zmqobs_t *obs, zmqobs_format_t fmt, int *len_out)
{
    int need = zmqobs_format (obs, fmt, NULL, 0);
    ck_assert_int_ge (need, 0);
    size_t size = (size_t) need + 4096;
    char *buf = malloc (size);
    ck_assert_ptr_nonnull (buf);
    int len = zmqobs_format (obs, fmt, buf, size);
    ck_assert_int_ge (len, 0);
    ck_assert_uint_lt ((size_t) len, size);
    ck_assert_uint_eq (strlen (buf), (size_t) len);
    if (len_out)
        *len_out = len;
    return buf;
}

static void write_file (const char *path, const char *data, size_t len)
{
    FILE *f = fopen (path, "wb");
    ck_assert_ptr_nonnull (f);
    ck_assert_uint_eq (fwrite (data, 1, len, f), len);
    ck_assert_int_eq (fclose (f), 0);
}

static char *read_file (const char *path, size_t *len)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    fseek (f, 0, SEEK_END);
    long n = ftell (f);
    fseek (f, 0, SEEK_SET);
    char *buf = malloc ((size_t) n + 1);
    ck_assert_ptr_nonnull (buf);
    ck_assert_uint_eq (fread (buf, 1, (size_t) n, f), (size_t) n);
    buf[n] = '\0';
    fclose (f);
    *len = (size_t) n;
    return buf;
}

/* Runs a shell command; returns its exit status and its combined output
 * in out (NUL-terminated, truncated to size). */
static int run (const char *cmd, char *out, size_t size)
{
    FILE *p = popen (cmd, "r");
    ck_assert_ptr_nonnull (p);
    size_t got = 0;
    out[0] = '\0';
    for (;;) {
        char chunk[512];
        size_t n = fread (chunk, 1, sizeof chunk, p);
        if (n == 0)
            break;
        if (got + 1 < size) {
            size_t k = n < size - 1 - got ? n : size - 1 - got;
            memcpy (out + got, chunk, k);
            got += k;
            out[got] = '\0';
        }
    }
    int st = pclose (p);
    return WIFEXITED (st) ? WEXITSTATUS (st) : 128;
}

/* Validates one output with the checker script (and promtool for 0.0.4);
 * names_file may be NULL. */
static void validate (const char *dir, int fmt, const char *data, size_t len,
                      const char *names_file)
{
    char path[512], cmd[2048], out[8192];
    snprintf (path, sizeof path, "%s/out.%s", dir, format_names[fmt]);
    write_file (path, data, len);
    snprintf (cmd, sizeof cmd, "%s %s %s %s %s 2>&1", TESTUTIL_PYTHON, CHECKER, format_names[fmt],
              path, names_file ? names_file : "");
    int rc = run (cmd, out, sizeof out);
    ck_assert_msg (rc == 0, "%s check failed (%d): %s", format_names[fmt], rc, out);
    if (fmt == ZMQOBS_FORMAT_PROMETHEUS) {
        snprintf (cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
        rc = run (cmd, out, sizeof out);
        ck_assert_msg (rc == 0, "promtool failed (%d): %s", rc, out);
        ck_assert_msg (out[0] == '\0', "promtool lint findings: %s", out);
    }
}

/* ------------------------------------------------------------------------
 * The fixed scenario
 * ---------------------------------------------------------------------- */

typedef struct {
    void *ctx;
    zmqobs_t *obs;
    void *zs[4];
    zmqobs_socket_t *s[4];
    int n;
} scenario_t;

static zmqobs_t *new_observer (void *ctx, int process, const char *prefix,
                               const zmqobs_label_t *labels, size_t label_count)
{
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.no_process_metrics = !process;
    o.latency_sample_every = ZMQOBS_SAMPLE_NEVER;
    o.ring_capacity = 64;
    o.namespace_prefix = prefix;
    o.labels = labels;
    o.label_count = label_count;
    zmqobs_t *obs = zmqobs_new (ctx, &o);
    ck_assert_ptr_nonnull (obs);
    return obs;
}

/* Two connected PAIRs over inproc (frontend, backend) and a PUSH with no
 * peer (idle), known traffic, errors, latencies and monitor counters. */
static void scenario_setup (scenario_t *sc, int sockets)
{
    static const zmqobs_label_t labels[] = {{"service", "api \"v2\"\\edge"}, {"region", "eu-1"}};
    memset (sc, 0, sizeof *sc);
    sc->ctx = zmq_ctx_new ();
    ck_assert_ptr_nonnull (sc->ctx);
    sc->obs = new_observer (sc->ctx, 0, NULL, labels, 2);
    sc->zs[0] = zmq_socket (sc->ctx, ZMQ_PAIR);
    sc->zs[1] = zmq_socket (sc->ctx, ZMQ_PAIR);
    sc->zs[2] = zmq_socket (sc->ctx, ZMQ_PUSH);
    sc->n = sockets;
    ck_assert_int_eq (zmq_bind (sc->zs[0], "inproc://expose-golden"), 0);
    ck_assert_int_eq (zmq_connect (sc->zs[1], "inproc://expose-golden"), 0);
    static const char *const names[3] = {"frontend", "backend", "idle"};
    for (int i = 0; i < sockets; i++) {
        sc->s[i] = zmqobs_attach (sc->obs, sc->zs[i], names[i]);
        ck_assert_ptr_nonnull (sc->s[i]);
        /* fixed attach time: 2026-01-02T03:04:05.000000250Z + i ms */
        sc->s[i]->attached_wall_ns = 1767323045000000250ull + (uint64_t) i * 1000000u;
    }
    zmqobs__test_uptime_ns = 12500000000ull; /* 12.5 s */

    char buf[64];
    /* ten two-part messages: parts arrive once the last one is sent */
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq (zmqobs_send (sc->s[0], "request", 7, i % 2 ? 0 : ZMQ_SNDMORE), 7);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq (zmqobs_recv (sc->s[1], buf, sizeof buf, 0), 7);
    ck_assert_int_eq (zmqobs_send (sc->s[1], "a reply of 23 bytes....", 23, 0), 23);
    ck_assert_int_eq (zmqobs_recv (sc->s[0], buf, sizeof buf, 0), 23);
    /* a failed receive with EAGAIN, counted apart */
    ck_assert_int_eq (zmqobs_recv (sc->s[0], buf, sizeof buf, ZMQ_DONTWAIT), -1);
    ck_assert_int_eq (errno, EAGAIN);
    zmqobs_record_error (sc->s[0], ZMQOBS_OP_SEND, EFSM);
    zmqobs_record_error (sc->s[0], ZMQOBS_OP_SEND, EFSM);
    zmqobs_record_error (sc->s[0], ZMQOBS_OP_RECV, ETERM);
    zmqobs_record_error (sc->s[1], ZMQOBS_OP_SEND, 12345); /* OTHER */
    zmqobs_set_queue_depth (sc->s[0], 7);
    zmqobs_set_queue_depth (sc->s[1], -2);
    /* latencies: 1 us .. 100 us on frontend, one 30 s outlier on backend */
    for (uint64_t i = 1; i <= 100; i++)
        zmqobs_record_latency (sc->s[0], i * 1000);
    zmqobs_record_latency (sc->s[1], 30000000000ull);
    zmqobs_record_latency (sc->s[1], 2500000);
    /* monitor counters, written as the draining thread would */
    zmqobs_mon_block_t *m = &sc->s[0]->mon;
    STORE (&m->events[zmqobs__event_bit (ZMQ_EVENT_LISTENING)], 1);
    STORE (&m->events[zmqobs__event_bit (ZMQ_EVENT_ACCEPTED)], 3);
    STORE (&m->events[zmqobs__event_bit (ZMQ_EVENT_DISCONNECTED)], 1);
    STORE (&m->events[zmqobs__event_bit (ZMQ_EVENT_HANDSHAKE_SUCCEEDED)], 2);
    STORE (&m->events[zmqobs__event_bit (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)], 1);
    STORE (&m->connections, 2);
    STORE (&m->listening, 1);
    STORE (&m->handshake_failures[zmqobs__handshake_slot (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400)],
           1);
    m = &sc->s[1]->mon;
    STORE (&m->events[zmqobs__event_bit (ZMQ_EVENT_CONNECT_RETRIED)], 4);
    STORE (&m->events[zmqobs__event_bit (ZMQ_EVENT_CONNECTED)], 1);
    STORE (&m->reconnects, 4);
    STORE (&m->malformed, 1);
    STORE (&m->handshake_failures
                [zmqobs__handshake_slot (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                                         ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)],
           2);
}

static void scenario_teardown (scenario_t *sc)
{
    zmqobs__test_uptime_ns = 0;
    for (int i = 0; i < sc->n; i++)
        zmqobs_detach (&sc->s[i]);
    zmqobs_destroy (&sc->obs);
    for (int i = 0; i < 3; i++) {
        int linger = 0;
        zmq_setsockopt (sc->zs[i], ZMQ_LINGER, &linger, sizeof linger);
        zmq_close (sc->zs[i]);
    }
    zmq_ctx_term (sc->ctx);
}

/* ------------------------------------------------------------------------
 * Golden outputs
 * ---------------------------------------------------------------------- */

static void compare_golden (zmqobs_t *obs)
{
    const char *update = getenv ("ZMQOBS_UPDATE_GOLDEN");
    for (int fmt = 0; fmt < 4; fmt++) {
        int len;
        char *got = format_all (obs, (zmqobs_format_t) fmt, &len);
        char path[256];
        snprintf (path, sizeof path, GOLDEN_DIR "%s", golden_files[fmt]);
        if (update && *update == '1')
            write_file (path, got, (size_t) len);
        size_t want_len;
        char *want = read_file (path, &want_len);
        ck_assert_msg (want != NULL, "missing golden file %s", path);
        if (want_len != (size_t) len || memcmp (want, got, want_len) != 0) {
            size_t i = 0;
            while (i < want_len && i < (size_t) len && want[i] == got[i])
                i++;
            ck_abort_msg ("%s differs from the output at byte %zu (lengths %zu, %d): "
                          "got \"%.60s\"",
                          path, i, want_len, len, got + i);
        }
        free (want);
        free (got);
    }
}

START_TEST (test_golden)
{
    testutil_watchdog (20);
    scenario_t sc;
    scenario_setup (&sc, 3);
    compare_golden (sc.obs);
    scenario_teardown (&sc);
}
END_TEST

/* The golden outputs pass the validators, and carry what they must. */
START_TEST (test_validators)
{
    testutil_watchdog (60);
    char dir[256];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    scenario_t sc;
    scenario_setup (&sc, 3);
    for (int fmt = 0; fmt < 4; fmt++) {
        int len;
        char *out = format_all (sc.obs, (zmqobs_format_t) fmt, &len);
        validate (dir, fmt, out, (size_t) len, NULL);
        free (out);
    }
    char *p = format_all (sc.obs, ZMQOBS_FORMAT_PROMETHEUS, NULL);
    /* exact samples */
    ck_assert_ptr_nonnull (strstr (p, "\nzmq_messages_sent_total{socket=\"frontend\",type=\"PAIR\","
                                      "service=\"api \\\"v2\\\"\\\\edge\",region=\"eu-1\"} 20\n"));
    ck_assert_ptr_nonnull (strstr (p, "\nzmq_would_block_total{socket=\"frontend\",type=\"PAIR\","
                                      "service=\"api \\\"v2\\\"\\\\edge\",region=\"eu-1\","
                                      "op=\"recv\"} 1\n"));
    ck_assert_ptr_nonnull (strstr (p, ",op=\"send\",error=\"EFSM\"} 2\n"));
    ck_assert_ptr_nonnull (strstr (p, ",op=\"send\",error=\"OTHER\"} 1\n"));
    ck_assert_ptr_null (strstr (p, "error=\"EAGAIN\""));
    ck_assert_ptr_nonnull (strstr (p, ",reason=\"AUTH\"} 1\n"));
    ck_assert_ptr_nonnull (strstr (p, ",reason=\"ZMTP_MECHANISM_MISMATCH\"} 2\n"));
    ck_assert_ptr_nonnull (strstr (p, "region=\"eu-1\"} -2\n"));
    ck_assert_ptr_nonnull (strstr (p, "# TYPE zmq_errors_total counter\n"));
    /* histogram of frontend: 1..100 us; 9 samples <= 10 us, 25 <= 25 us */
    ck_assert_ptr_nonnull (strstr (p, ",le=\"1e-05\"} 10\n"));
    ck_assert_ptr_nonnull (strstr (p, ",le=\"2.5e-05\"} 25\n"));
    ck_assert_ptr_nonnull (strstr (p, ",le=\"0.0001\"} 100\n"));
    ck_assert_ptr_nonnull (strstr (p, "zmq_message_latency_seconds_sum{socket=\"frontend\","
                                      "type=\"PAIR\",service=\"api \\\"v2\\\"\\\\edge\","
                                      "region=\"eu-1\"} 0.00505\n"));
    /* backend's 30 s sample is above the last bound: only +Inf has it */
    ck_assert_ptr_nonnull (strstr (p, "region=\"eu-1\",le=\"25\"} 1\n"));
    ck_assert_ptr_nonnull (strstr (p, "region=\"eu-1\",le=\"+Inf\"} 2\n"));
    ck_assert_ptr_nonnull (strstr (p, "zmq_message_latency_seconds_sum{socket=\"backend\","
                                      "type=\"PAIR\",service=\"api \\\"v2\\\"\\\\edge\","
                                      "region=\"eu-1\"} 30.0025\n"));
    /* window: nearest rank over 1..100 us */
    ck_assert_ptr_nonnull (strstr (p, ",quantile=\"0.5\"} 0.000068\n"));
    ck_assert_ptr_nonnull (strstr (p, ",quantile=\"0.999\"} 0.0001\n"));
    ck_assert_ptr_nonnull (strstr (p, "_window_seconds_sum{socket=\"frontend\",type=\"PAIR\","
                                      "service=\"api \\\"v2\\\"\\\\edge\",region=\"eu-1\"} "
                                      "0.004384\n"));
    /* idle socket: empty window quantiles are NaN */
    ck_assert_ptr_nonnull (strstr (p, "{socket=\"idle\",type=\"PUSH\",service=\"api "
                                      "\\\"v2\\\"\\\\edge\",region=\"eu-1\",quantile=\"0.99\"} "
                                      "NaN\n"));
    free (p);
    char *om = format_all (sc.obs, ZMQOBS_FORMAT_OPENMETRICS, NULL);
    ck_assert_ptr_nonnull (strstr (om, "# TYPE zmq_messages_sent counter\n"));
    ck_assert_ptr_nonnull (strstr (om, "# UNIT zmq_message_latency_seconds seconds\n"));
    ck_assert_ptr_null (strstr (om, "# UNIT zmq_bytes"));
    ck_assert_ptr_nonnull (strstr (om, ",le=\"1.0\"} "));
    ck_assert_ptr_nonnull (strstr (om, "zmq_messages_sent_created{socket=\"frontend\","
                                       "type=\"PAIR\",service=\"api \\\"v2\\\"\\\\edge\","
                                       "region=\"eu-1\"} 1767323045.00000025\n"));
    ck_assert_ptr_null (strstr (om, "\n\n"));
    size_t oml = strlen (om);
    ck_assert_str_eq (om + oml - 6, "# EOF\n");
    free (om);
    scenario_teardown (&sc);
    char cmd[512];
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq (system (cmd), 0);
}
END_TEST

/* The text formats read counters straight from the socket blocks; they
 * must print exactly what zmqobs_socket_stats reports. */
START_TEST (test_matches_snapshot)
{
    testutil_watchdog (20);
    scenario_t sc;
    scenario_setup (&sc, 3);
    char *p = format_all (sc.obs, ZMQOBS_FORMAT_PROMETHEUS, NULL);
    for (int i = 0; i < 3; i++) {
        zmqobs_stats_t st;
        ck_assert_int_eq (zmqobs_socket_stats (sc.s[i], &st), 0);
        const struct {
            const char *name;
            const char *extra;
            long long v;
        } want[] = {
            {"zmq_messages_sent_total", "", (long long) st.msgs_sent},
            {"zmq_messages_received_total", "", (long long) st.msgs_received},
            {"zmq_bytes_sent_total", "", (long long) st.bytes_sent},
            {"zmq_bytes_received_total", "", (long long) st.bytes_received},
            {"zmq_would_block_total", ",op=\"send\"", (long long) st.errors[0][0]},
            {"zmq_would_block_total", ",op=\"recv\"", (long long) st.errors[1][0]},
            {"zmq_connections", "", (long long) st.connections},
            {"zmq_listening", "", (long long) st.listening},
            {"zmq_reconnects_total", "", (long long) st.reconnects},
            {"zmq_monitor_malformed_total", "", (long long) st.malformed_events},
            {"zmq_queue_depth", "", (long long) st.queue_depth},
            {"zmq_socket_events_total", ",event=\"ACCEPTED\"",
             (long long) st.events[zmqobs__event_bit (ZMQ_EVENT_ACCEPTED)]},
            {"zmq_socket_events_total", ",event=\"CONNECT_RETRIED\"",
             (long long) st.events[zmqobs__event_bit (ZMQ_EVENT_CONNECT_RETRIED)]},
            {"zmq_message_latency_seconds_count", "", (long long) st.latency_count},
            {"zmq_message_latency_window_seconds_count", "", (long long) st.window.count},
        };
        for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
            char line[512];
            snprintf (line, sizeof line,
                      "\n%s{socket=\"%s\",type=\"%s\",service=\"api \\\"v2\\\"\\\\edge\","
                      "region=\"eu-1\"%s} %lld\n",
                      want[k].name, st.name, zmqobs_socket_type_name (st.type), want[k].extra,
                      want[k].v);
            ck_assert_msg (strstr (p, line) != NULL, "missing: %s", line + 1);
        }
    }
    free (p);
    scenario_teardown (&sc);
}
END_TEST

/* The checker itself must be able to fail: feed it broken expositions. */
START_TEST (test_checker_rejects)
{
    testutil_watchdog (60);
    char dir[256];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    static const struct {
        const char *fmt;
        const char *text;
    } bad[] = {
        /* duplicate series */
        {"prom", "# HELP a_total h\n# TYPE a_total counter\na_total{x=\"1\"} 1\n"
                 "a_total{x=\"1\"} 2\n"},
        /* family split apart */
        {"prom", "# HELP a_total h\n# TYPE a_total counter\na_total{x=\"1\"} 1\n"
                 "# HELP b h\n# TYPE b gauge\nb 1\na_total{x=\"2\"} 1\n"},
        /* buckets not cumulative */
        {"prom", "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 1\n"
                 "h_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 1\n"},
        /* buckets unsorted */
        {"prom", "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
                 "h_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 1\n"},
        /* no +Inf */
        {"prom", "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\nh_sum 1\n"},
        /* +Inf differs from _count */
        {"prom", "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 2\nh_sum 1\n"},
        /* OpenMetrics without # EOF */
        {"om", "# TYPE a counter\n# HELP a h\na_total 1\n"},
        /* OpenMetrics duplicate series */
        {"om", "# TYPE a counter\n# HELP a h\na_total{x=\"1\"} 1\na_total{x=\"1\"} 1\n# EOF\n"},
        /* JSON that is not JSON */
        {"json", "{\"sockets\":[}\n"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[512], cmd[1024], out[4096];
        snprintf (path, sizeof path, "%s/bad.%zu", dir, i);
        write_file (path, bad[i].text, strlen (bad[i].text));
        snprintf (cmd, sizeof cmd, "%s %s %s %s 2>&1", TESTUTIL_PYTHON, CHECKER, bad[i].fmt, path);
        ck_assert_msg (run (cmd, out, sizeof out) != 0, "checker accepted case %zu", i);
    }
    char cmd[512];
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq (system (cmd), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Hostile names, in every format, read back by the reference parsers
 * ---------------------------------------------------------------------- */

START_TEST (test_hostile_names)
{
    testutil_watchdog (60);
    char dir[256];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    char maxq[ZMQOBS_NAME_MAX + 1], maxu[ZMQOBS_NAME_MAX + 1], maxmix[ZMQOBS_NAME_MAX + 1];
    memset (maxq, '"', ZMQOBS_NAME_MAX);
    maxq[ZMQOBS_NAME_MAX] = '\0';
    /* 127 x "é" (2 bytes) + "x": exactly the maximum, valid UTF-8 */
    for (int i = 0; i < 127; i++)
        memcpy (maxu + 2 * i, "\xc3\xa9", 2);
    maxu[254] = 'x';
    maxu[255] = '\0';
    for (int i = 0; i < ZMQOBS_NAME_MAX; i++)
        maxmix[i] = "\\\"\n"[i % 3];
    maxmix[ZMQOBS_NAME_MAX] = '\0';
    const char *names[] = {
        "quote\"d",
        "back\\slash",
        "new\nline",
        "\\n is not a newline",
        "all \"three\\\n\"",
        "\xc3\xbc\x6e\xc3\xaf\x63\xc3\xb8\x64\xc3\xa9 \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac "
        "\xf0\x9f\x9a\x80",
        "tab\there {}=,",
        "trailing backslash\\",
        maxq,
        maxu,
        maxmix,
    };
    const size_t n = sizeof names / sizeof names[0];
    static const zmqobs_label_t labels[] = {{"service", "we\\ird \"label\"\nvalue \xe2\x9c\x93"}};
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = new_observer (ctx, 1, "my_app", labels, 1);
    void *zs[16];
    zmqobs_socket_t *s[16];
    char hexpath[512];
    snprintf (hexpath, sizeof hexpath, "%s/names.hex", dir);
    FILE *hex = fopen (hexpath, "w");
    ck_assert_ptr_nonnull (hex);
    for (size_t i = 0; i < n; i++) {
        zs[i] = zmq_socket (ctx, ZMQ_DEALER);
        s[i] = zmqobs_attach (obs, zs[i], names[i]);
        ck_assert_msg (s[i] != NULL, "attach %zu: %s", i, strerror (errno));
        zmqobs_record_latency (s[i], 1000 * (i + 1));
        for (const unsigned char *p = (const unsigned char *) names[i]; *p; p++)
            fprintf (hex, "%02x", *p);
        fputc ('\n', hex);
    }
    fclose (hex);
    ck_assert_uint_eq (strlen (maxq), ZMQOBS_NAME_MAX);
    ck_assert_uint_eq (strlen (maxu), ZMQOBS_NAME_MAX);
    for (int fmt = 0; fmt < 4; fmt++) {
        int len;
        char *out = format_all (obs, (zmqobs_format_t) fmt, &len);
        validate (dir, fmt, out, (size_t) len, hexpath);
        free (out);
    }
    /* the prefix is applied to the zmq families, not to process_* */
    char *p = format_all (obs, ZMQOBS_FORMAT_PROMETHEUS, NULL);
    ck_assert_ptr_nonnull (strstr (p, "\n# TYPE my_app_zmq_messages_sent_total counter\n"));
    ck_assert_ptr_nonnull (strstr (p, "\n# TYPE process_open_fds gauge\n"));
    free (p);
    for (size_t i = 0; i < n; i++) {
        zmqobs_detach (&s[i]);
        zmq_close (zs[i]);
    }
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
    char cmd[512];
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq (system (cmd), 0);
}
END_TEST

/* Constant labels too long for the prepared buffer take the slow path;
 * the output must be the same shape and still valid. */
START_TEST (test_long_constant_label)
{
    testutil_watchdog (60);
    char dir[256];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    static char value[3000];
    for (size_t i = 0; i < sizeof value - 1; i++)
        value[i] = "ab\"\\\n"[i % 5];
    const zmqobs_label_t labels[] = {{"big", value}, {"small", "x"}};
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = new_observer (ctx, 1, NULL, labels, 2);
    void *z = zmq_socket (ctx, ZMQ_PUB);
    zmqobs_socket_t *s = zmqobs_attach (obs, z, "pub");
    ck_assert_ptr_nonnull (s);
    zmqobs_record_latency (s, 5000);
    for (int fmt = 0; fmt < 4; fmt++) {
        int len;
        char *out = format_all (obs, (zmqobs_format_t) fmt, &len);
        validate (dir, fmt, out, (size_t) len, NULL);
        if (fmt == ZMQOBS_FORMAT_PROMETHEUS) {
            /* every sample line carries both labels, in order */
            int lines = 0, with = 0;
            for (char *l = out; *l; l = strchr (l, '\n') + 1) {
                if (*l != '#') {
                    lines++;
                    char *b = strstr (l, "big=\"ab\\\"\\\\\\nab");
                    char *sm = strstr (l, "\",small=\"x\"");
                    char *eol = strchr (l, '\n');
                    if (b && sm && b < eol && sm < eol)
                        with++;
                }
            }
            ck_assert_int_gt (lines, 20);
            ck_assert_int_eq (with, lines);
        }
        free (out);
    }
    zmqobs_detach (&s);
    zmq_close (z);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
    char cmd[512];
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq (system (cmd), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Truncation at every size
 * ---------------------------------------------------------------------- */

START_TEST (test_truncation)
{
    testutil_watchdog (120);
    scenario_t sc;
    scenario_setup (&sc, 2);
    for (int fmt = 0; fmt < 4; fmt++) {
        int len;
        char *full = format_all (sc.obs, (zmqobs_format_t) fmt, &len);
        const size_t slack = 16;
        char *buf = malloc ((size_t) len + slack);
        ck_assert_ptr_nonnull (buf);
        /* plain checks in the loop (Check's assertions cost a pipe write
         * each); the first failure is reported after it */
        const char *what = NULL;
        size_t at = 0;
        for (size_t size = 0; size <= (size_t) len + 1 && !what; size++) {
            memset (buf, 0xA5, (size_t) len + slack);
            int rc = zmqobs_format (sc.obs, (zmqobs_format_t) fmt, size ? buf : NULL, size);
            at = size;
            if (rc != len) {
                what = "return value";
                break;
            }
            size_t text = size == 0 ? 0 : (size - 1 < (size_t) len ? size - 1 : (size_t) len);
            if (size > 0 && memcmp (buf, full, text) != 0)
                what = "text differs from the full output";
            else if (size > 0 && buf[text] != '\0')
                what = "not terminated";
            for (size_t i = size == 0 ? 0 : text + 1; i < (size_t) len + slack && !what; i++)
                if ((unsigned char) buf[i] != 0xA5)
                    what = "a byte past size was written";
        }
        ck_assert_msg (what == NULL, "format %d, size %zu: %s", fmt, at, what);
        free (buf);
        free (full);
    }
    scenario_teardown (&sc);
}
END_TEST

/* ------------------------------------------------------------------------
 * Locale independence
 * ---------------------------------------------------------------------- */

START_TEST (test_comma_locale)
{
    testutil_watchdog (60);
    char dir[256];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    /* build de_DE.UTF-8 privately (LOCPATH) when localedef can */
    char cmd[1024], out[4096];
    snprintf (cmd, sizeof cmd,
              "localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1 || "
              "localedef -i fr_FR -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1",
              dir, dir);
    int made = run (cmd, out, sizeof out) == 0;
    if (made)
        setenv ("LOCPATH", dir, 1);
    const char *loc = setlocale (LC_ALL, "de_DE.UTF-8");
    if (!loc)
        loc = setlocale (LC_ALL, "de_DE.utf8");
    int comma = loc && strcmp (localeconv ()->decimal_point, ",") == 0;
    if (comma) {
        /* prove the locale is live: printf now writes a comma */
        char probe[16];
        snprintf (probe, sizeof probe, "%.1f", 2.5);
        ck_assert_str_eq (probe, "2,5");
    } else
        fprintf (stderr, "test_comma_locale: no comma-decimal locale could be created or "
                         "selected; the outputs are compared under the locale in effect\n");
    scenario_t sc;
    scenario_setup (&sc, 3);
    compare_golden (sc.obs);
    scenario_teardown (&sc);
    setlocale (LC_ALL, "C");
    unsetenv ("LOCPATH");
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq (system (cmd), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Arguments, content types, options
 * ---------------------------------------------------------------------- */

START_TEST (test_bad_arguments)
{
    testutil_watchdog (10);
    char buf[16];
    errno = 0;
    ck_assert_int_eq (zmqobs_format (NULL, ZMQOBS_FORMAT_PROMETHEUS, buf, sizeof buf), -1);
    ck_assert_int_eq (errno, EINVAL);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = new_observer (ctx, 0, NULL, NULL, 0);
    zmqobs__test_uptime_ns = 1; /* JSON and text print uptimes */
    errno = 0;
    ck_assert_int_eq (zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, NULL, 10), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_format (obs, (zmqobs_format_t) (ZMQOBS_FORMAT_PROTOBUF + 1), buf, sizeof buf), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_format (obs, (zmqobs_format_t) -1, buf, sizeof buf), -1);
    ck_assert_int_eq (errno, EINVAL);
    /* nothing attached: the families are still declared */
    char *p = format_all (obs, ZMQOBS_FORMAT_PROMETHEUS, NULL);
    ck_assert_ptr_nonnull (strstr (p, "# TYPE zmq_messages_sent_total counter\n"));
    ck_assert_ptr_null (strstr (p, "socket="));
    free (p);
    char *om = format_all (obs, ZMQOBS_FORMAT_OPENMETRICS, NULL);
    ck_assert_str_eq (om + strlen (om) - 6, "# EOF\n");
    free (om);
    char *j = format_all (obs, ZMQOBS_FORMAT_JSON, NULL);
    ck_assert_ptr_nonnull (strstr (j, "\"sockets\":[]"));
    free (j);
    /* size 1: only the terminator */
    buf[0] = 'x';
    buf[1] = 'y';
    ck_assert_int_gt (zmqobs_format (obs, ZMQOBS_FORMAT_TEXT, buf, 1), 0);
    ck_assert_int_eq (buf[0], '\0');
    ck_assert_int_eq (buf[1], 'y');
    zmqobs__test_uptime_ns = 0;
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

START_TEST (test_content_types)
{
    ck_assert_str_eq (zmqobs_content_type (ZMQOBS_FORMAT_PROMETHEUS),
                      "text/plain; version=0.0.4; charset=utf-8");
    ck_assert_str_eq (zmqobs_content_type (ZMQOBS_FORMAT_OPENMETRICS),
                      "application/openmetrics-text; version=1.0.0; charset=utf-8");
    ck_assert_str_eq (zmqobs_content_type (ZMQOBS_FORMAT_JSON), "application/json");
    ck_assert_str_eq (zmqobs_content_type (ZMQOBS_FORMAT_TEXT), "text/plain; charset=utf-8");
    ck_assert_str_eq (zmqobs_content_type ((zmqobs_format_t) 99),
                      "text/plain; version=0.0.4; charset=utf-8");
}
END_TEST

START_TEST (test_invalid_options)
{
    testutil_watchdog (10);
    void *ctx = zmq_ctx_new ();
    static const char *const bad_prefixes[] = {"1abc", "a-b", "a b", "ü", "a.b"};
    for (size_t i = 0; i < sizeof bad_prefixes / sizeof bad_prefixes[0]; i++) {
        zmqobs_options_t o;
        zmqobs_options_init (&o);
        o.namespace_prefix = bad_prefixes[i];
        errno = 0;
        ck_assert_ptr_null (zmqobs_new (ctx, &o));
        ck_assert_int_eq (errno, EINVAL);
    }
    static const zmqobs_label_t bad_labels[][2] = {
        {{"__reserved", "x"}, {NULL, NULL}}, {{"1abc", "x"}, {NULL, NULL}},
        {{"a-b", "x"}, {NULL, NULL}},        {{"", "x"}, {NULL, NULL}},
        {{"socket", "x"}, {NULL, NULL}},     {{"le", "x"}, {NULL, NULL}},
        {{"ok", NULL}, {NULL, NULL}},        {{"ok", "bad \xc3 utf8"}, {NULL, NULL}},
        {{"dup", "1"}, {"dup", "2"}},
    };
    for (size_t i = 0; i < sizeof bad_labels / sizeof bad_labels[0]; i++) {
        zmqobs_options_t o;
        zmqobs_options_init (&o);
        o.labels = bad_labels[i];
        o.label_count = bad_labels[i][1].name ? 2 : 1;
        errno = 0;
        ck_assert_msg (zmqobs_new (ctx, &o) == NULL, "label case %zu accepted", i);
        ck_assert_int_eq (errno, EINVAL);
    }
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.label_count = 1; /* labels NULL */
    errno = 0;
    ck_assert_ptr_null (zmqobs_new (ctx, &o));
    ck_assert_int_eq (errno, EINVAL);
    o.label_count = ZMQOBS_LABELS_MAX + 1;
    zmqobs_label_t many[ZMQOBS_LABELS_MAX + 1];
    for (int i = 0; i <= ZMQOBS_LABELS_MAX; i++) {
        static char nm[ZMQOBS_LABELS_MAX + 1][16];
        snprintf (nm[i], sizeof nm[i], "l%d", i);
        many[i].name = nm[i];
        many[i].value = "v";
    }
    o.labels = many;
    errno = 0;
    ck_assert_ptr_null (zmqobs_new (ctx, &o));
    ck_assert_int_eq (errno, EINVAL);
    /* colons are reserved for recording rules: refused in the prefix */
    o.label_count = ZMQOBS_LABELS_MAX;
    o.namespace_prefix = "ns:sub_1";
    errno = 0;
    ck_assert_ptr_null (zmqobs_new (ctx, &o));
    ck_assert_int_eq (errno, EINVAL);
    /* a valid prefix and a full label set work */
    o.namespace_prefix = "ns_sub_1";
    zmqobs_t *obs = zmqobs_new (ctx, &o);
    ck_assert_ptr_nonnull (obs);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* ------------------------------------------------------------------------
 * Accept negotiation
 * ---------------------------------------------------------------------- */

START_TEST (test_accept)
{
    const zmqobs_format_t P = ZMQOBS_FORMAT_PROMETHEUS, O = ZMQOBS_FORMAT_OPENMETRICS;
    static const struct {
        const char *accept;
        zmqobs_format_t want;
    } cases[] = {
        {"", ZMQOBS_FORMAT_PROMETHEUS},
        {"*/*", ZMQOBS_FORMAT_PROMETHEUS},
        {"text/plain", ZMQOBS_FORMAT_PROMETHEUS},
        {"application/openmetrics-text", ZMQOBS_FORMAT_OPENMETRICS},
        {"application/openmetrics-text; version=1.0.0; charset=utf-8", ZMQOBS_FORMAT_OPENMETRICS},
        {"APPLICATION/OpenMetrics-Text;Version=1.0.0", ZMQOBS_FORMAT_OPENMETRICS},
        /* what Prometheus 2.x sends */
        {"application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
         "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
         ZMQOBS_FORMAT_OPENMETRICS},
        /* Prometheus configured for the text format first */
        {"text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.9",
         ZMQOBS_FORMAT_PROMETHEUS},
        /* only an OpenMetrics version we do not write */
        {"application/openmetrics-text;version=0.0.1", ZMQOBS_FORMAT_PROMETHEUS},
        {"application/openmetrics-text;version=\"1.0.0\"", ZMQOBS_FORMAT_OPENMETRICS},
        {"application/openmetrics-text;q=0", ZMQOBS_FORMAT_PROMETHEUS},
        {"application/openmetrics-text;q=0.000", ZMQOBS_FORMAT_PROMETHEUS},
        {"application/openmetrics-text;q=0.001", ZMQOBS_FORMAT_OPENMETRICS},
        {"text/plain;q=0.5, application/openmetrics-text;q=0.6", ZMQOBS_FORMAT_OPENMETRICS},
        {"text/plain;q=0.6, application/openmetrics-text;q=0.5", ZMQOBS_FORMAT_PROMETHEUS},
        /* ties: the more specific range wins, then the one listed first */
        {"application/openmetrics-text;version=1.0.0;q=0.5, text/plain;q=0.5",
         ZMQOBS_FORMAT_OPENMETRICS},
        {"application/openmetrics-text;q=0.5, text/plain;version=0.0.4;q=0.5",
         ZMQOBS_FORMAT_PROMETHEUS},
        {"application/openmetrics-text, text/plain", ZMQOBS_FORMAT_OPENMETRICS},
        {"text/plain, application/openmetrics-text", ZMQOBS_FORMAT_PROMETHEUS},
        {"application/*", ZMQOBS_FORMAT_OPENMETRICS},
        {"text/*, application/*", ZMQOBS_FORMAT_PROMETHEUS},
        {"application/*;q=0.9, text/*;q=0.8", ZMQOBS_FORMAT_OPENMETRICS},
        /* a specific q=0 overrides the wildcard */
        {"*/*, application/openmetrics-text;q=0", ZMQOBS_FORMAT_PROMETHEUS},
        {"*/*;q=0.1, text/plain;q=0", ZMQOBS_FORMAT_OPENMETRICS},
        /* malformed q-values make the range ignored */
        {"application/openmetrics-text;q=1.5", ZMQOBS_FORMAT_PROMETHEUS},
        {"application/openmetrics-text;q=0.5x", ZMQOBS_FORMAT_PROMETHEUS},
        {"application/openmetrics-text;q=", ZMQOBS_FORMAT_PROMETHEUS},
        {"application/openmetrics-text;q=-1", ZMQOBS_FORMAT_PROMETHEUS},
        {"application/openmetrics-text;q=0.1234", ZMQOBS_FORMAT_PROMETHEUS},
        {"garbage, application/openmetrics-text", ZMQOBS_FORMAT_OPENMETRICS},
        {"application/openmetrics-text;foo=\"a,b\\\"c\", text/plain;q=0.1",
         ZMQOBS_FORMAT_OPENMETRICS},
        {"text/plain;foo=\"unterminated, application/openmetrics-text", ZMQOBS_FORMAT_PROMETHEUS},
        {";;;,,,///", ZMQOBS_FORMAT_PROMETHEUS},
        {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
         "encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3",
         ZMQOBS_FORMAT_PROTOBUF},
        {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
         "encoding=text;q=0.7,text/plain;version=0.0.4;q=0.3",
         ZMQOBS_FORMAT_PROMETHEUS},
        {"\t application/openmetrics-text \t; \tq=0.9 \t", ZMQOBS_FORMAT_OPENMETRICS},
        {"*/openmetrics-text", ZMQOBS_FORMAT_PROMETHEUS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg (zmqobs_format_from_accept (cases[i].accept) == cases[i].want,
                       "case %zu \"%s\": got %d", i, cases[i].accept,
                       (int) zmqobs_format_from_accept (cases[i].accept));
    ck_assert_int_eq (zmqobs_format_from_accept (NULL), ZMQOBS_FORMAT_PROMETHEUS);
    /* the length-bounded form never reads past len, NULs included */
    const char om[] = "application/openmetrics-text";
    ck_assert_int_eq (zmqobs__format_from_accept_n (om, sizeof om - 1), O);
    ck_assert_int_eq (zmqobs__format_from_accept_n (om, sizeof om - 2), P);
    ck_assert_int_eq (zmqobs__format_from_accept_n ("text/plain\0application/openmetrics-text", 39),
                      P);
    ck_assert_int_eq (zmqobs__format_from_accept_n (NULL, 10), P);
    /* qvalues */
    ck_assert_int_eq (zmqobs__parse_qvalue ("1", 1), 1000);
    ck_assert_int_eq (zmqobs__parse_qvalue ("1.000", 5), 1000);
    ck_assert_int_eq (zmqobs__parse_qvalue ("0.5", 3), 500);
    ck_assert_int_eq (zmqobs__parse_qvalue ("0.05", 4), 50);
    ck_assert_int_eq (zmqobs__parse_qvalue ("0.", 2), 0);
    ck_assert_int_eq (zmqobs__parse_qvalue ("1.001", 5), -1);
    ck_assert_int_eq (zmqobs__parse_qvalue ("2", 1), -1);
    ck_assert_int_eq (zmqobs__parse_qvalue (".5", 2), -1);
    ck_assert_int_eq (zmqobs__parse_qvalue ("", 0), -1);
    ck_assert_int_eq (zmqobs__parse_qvalue (NULL, 3), -1);
}
END_TEST

/* Random bytes and random splices of real headers: never a crash, and
 * always one of the two formats. */
START_TEST (test_accept_garbage)
{
    testutil_watchdog (30);
    static const char *const parts[] = {"application", "/",     "openmetrics-text",
                                        "text",        "plain", "*",
                                        ";",           ",",     "q=",
                                        "0.",          "1",     "\"",
                                        "\\",          " ",     "version=",
                                        "1.0.0",       "0.0.4", "="};
    unsigned seed = 12345;
    char buf[512];
    int bad = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = 0;
        if (iter % 2) {
            seed = seed * 1103515245u + 12345u;
            n = (seed >> 8) % sizeof buf;
            for (size_t i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                buf[i] = (char) (seed >> 16);
            }
        } else {
            seed = seed * 1103515245u + 12345u;
            size_t k = (seed >> 8) % 24;
            for (size_t i = 0; i < k; i++) {
                seed = seed * 1103515245u + 12345u;
                const char *p = parts[(seed >> 16) % (sizeof parts / sizeof parts[0])];
                size_t l = strlen (p);
                if (n + l >= sizeof buf)
                    break;
                memcpy (buf + n, p, l);
                n += l;
            }
        }
        zmqobs_format_t f = zmqobs__format_from_accept_n (buf, n);
        bad += f != ZMQOBS_FORMAT_PROMETHEUS && f != ZMQOBS_FORMAT_OPENMETRICS;
    }
    ck_assert_int_eq (bad, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Escaping and numbers
 * ---------------------------------------------------------------------- */

START_TEST (test_escape)
{
    char out[64];
    const char in[] = "a\\b\"c\nd\te\x01\xc3\xa9";
    size_t n = sizeof in - 1;
    ck_assert_uint_eq (zmqobs__escape (out, sizeof out, in, n, ZMQOBS__ESC_LABEL), 15);
    ck_assert_str_eq (out, "a\\\\b\\\"c\\nd\te\x01\xc3\xa9");
    ck_assert_uint_eq (zmqobs__escape (out, sizeof out, in, n, ZMQOBS__ESC_HELP), 14);
    ck_assert_str_eq (out, "a\\\\b\"c\\nd\te\x01\xc3\xa9");
    ck_assert_uint_eq (zmqobs__escape (out, sizeof out, in, n, ZMQOBS__ESC_HELP_OM), 15);
    ck_assert_str_eq (out, "a\\\\b\\\"c\\nd\te\x01\xc3\xa9");
    ck_assert_uint_eq (zmqobs__escape (out, sizeof out, in, n, ZMQOBS__ESC_JSON), 21);
    ck_assert_str_eq (out, "a\\\\b\\\"c\\nd\\te\\u0001\xc3\xa9");
    /* snprintf semantics */
    memset (out, 'Z', sizeof out);
    ck_assert_uint_eq (zmqobs__escape (out, 4, in, n, ZMQOBS__ESC_LABEL), 15);
    ck_assert_str_eq (out, "a\\\\");
    ck_assert_int_eq (out[4], 'Z');
    ck_assert_uint_eq (zmqobs__escape (NULL, 0, in, n, ZMQOBS__ESC_JSON), 21);
}
END_TEST

START_TEST (test_bounds)
{
    static const struct {
        uint64_t ns;
        const char *prom, *om;
    } cases[] = {
        {1, "1e-09", "1e-09"},
        {10000, "1e-05", "1e-05"},
        {25000, "2.5e-05", "2.5e-05"},
        {99999, "9.9999e-05", "9.9999e-05"},
        {100000, "0.0001", "0.0001"},
        {250000, "0.00025", "0.00025"},
        {5000000, "0.005", "0.005"},
        {123456789, "0.123456789", "0.123456789"},
        {1000000000, "1", "1.0"},
        {2500000000ull, "2.5", "2.5"},
        {25000000000ull, "25", "25.0"},
        {100000000000000ull, "100000", "100000.0"},
        {999999000000000ull, "999999", "999999.0"},
        {1000000000000000ull, "1e+06", "1e+06"},
        {1500000000000000ull, "1.5e+06", "1.5e+06"},
        {12345678901000000000ull, "1.2345678901e+10", "1.2345678901e+10"},
        {UINT64_MAX, "1.8446744073709551615e+10", "1.8446744073709551615e+10"},
        {0, "0", "0.0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[48];
        size_t n = zmqobs__fmt_bound (out, cases[i].ns, 0);
        out[n] = '\0';
        ck_assert_str_eq (out, cases[i].prom);
        n = zmqobs__fmt_bound (out, cases[i].ns, 1);
        out[n] = '\0';
        ck_assert_str_eq (out, cases[i].om);
    }
}
END_TEST

/* ------------------------------------------------------------------------
 * Process metrics
 * ---------------------------------------------------------------------- */

START_TEST (test_proc_parsers)
{
    uint64_t ut, st, th, start, vs, rss;
    const char line[] = "1234 (we ird) (name) S 1 1234 1234 0 -1 4194560 100 0 0 0 "
                        "250 75 0 0 20 0 3 0 98765 123456789 4321 18446744073709551615";
    ck_assert_int_eq (zmqobs__parse_proc_stat (line, sizeof line - 1, &ut, &st, &th, &start, &vs,
                                               &rss),
                      0);
    ck_assert_uint_eq (ut, 250);
    ck_assert_uint_eq (st, 75);
    ck_assert_uint_eq (th, 3);
    ck_assert_uint_eq (start, 98765);
    ck_assert_uint_eq (vs, 123456789);
    ck_assert_uint_eq (rss, 4321);
    static const char *const bad[] = {"", "1234 (x", "1234 (x) S 1 2",
                                      "1234 (x) S 1 2 3 4 5 6 7 8 9 10 x",
                                      "1234 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 "
                                      "99999999999999999999999 20 21"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        ck_assert_int_eq (zmqobs__parse_proc_stat (bad[i], strlen (bad[i]), &ut, &st, &th, &start,
                                                   &vs, &rss),
                          -1);
        ck_assert_int_eq (errno, EPROTO);
    }
    uint64_t bt = 0;
    const char stat[] = "cpu  1 2 3\nintr 1 2 btime 5\nbtime 1700000000\nprocesses 9\n";
    ck_assert_int_eq (zmqobs__parse_btime (stat, sizeof stat - 1, &bt), 0);
    ck_assert_uint_eq (bt, 1700000000);
    errno = 0;
    ck_assert_int_eq (zmqobs__parse_btime ("cpu 1\nxbtime 5\n", 16, &bt), -1);
    ck_assert_int_eq (errno, ENOENT);
}
END_TEST

static void *block_on_pipe (void *arg)
{
    char ch;
    ssize_t n = read (*(int *) arg, &ch, 1);
    (void) n;
    return NULL;
}

START_TEST (test_process_metrics)
{
    testutil_watchdog (30);
    zmqobs__process_t p;
    ck_assert_int_eq (zmqobs__process_read (&p), 0);
    ck_assert_uint_eq (p.have, 0x7f);
    struct rlimit rl;
    ck_assert_int_eq (getrlimit (RLIMIT_NOFILE, &rl), 0);
    ck_assert_uint_eq (p.max_fds, (uint64_t) rl.rlim_cur);
    ck_assert_uint_ge (p.threads, 1);
    ck_assert_uint_gt (p.resident_bytes, 0);
    ck_assert_uint_ge (p.virtual_bytes, p.resident_bytes);
    /* exactly one more descriptor is seen after opening one */
    int fd = open ("/dev/null", O_RDONLY);
    ck_assert_int_ge (fd, 0);
    zmqobs__process_t q;
    ck_assert_int_eq (zmqobs__process_read (&q), 0);
    ck_assert_uint_eq (q.open_fds, p.open_fds + 1);
    close (fd);
    /* the same through the listing of /proc/self/fd (kernels before 6.2),
     * read fresh every time */
    zmqobs__fd_stat_off = 1;
    zmqobs__fd_cache_ns = 0;
    ck_assert_int_eq (zmqobs__process_read (&p), 0);
    ck_assert_uint_eq (p.have & ZMQOBS__PROC_OPEN_FDS, ZMQOBS__PROC_OPEN_FDS);
    fd = open ("/dev/null", O_RDONLY);
    ck_assert_int_ge (fd, 0);
    ck_assert_int_eq (zmqobs__process_read (&q), 0);
    ck_assert_uint_eq (q.open_fds, p.open_fds + 1);
    /* a listing younger than the cache age is reused as it is; the
     * descriptor opened since shows once the listing is redone */
    zmqobs__fd_cache_ns = UINT64_MAX;
    int fd2 = open ("/dev/null", O_RDONLY);
    ck_assert_int_ge (fd2, 0);
    ck_assert_int_eq (zmqobs__process_read (&q), 0);
    ck_assert_uint_eq (q.open_fds, p.open_fds + 1);
    zmqobs__fd_cache_ns = 0;
    ck_assert_int_eq (zmqobs__process_read (&q), 0);
    ck_assert_uint_eq (q.open_fds, p.open_fds + 2);
    /* and the stat count agrees with the listing */
    zmqobs__fd_stat_off = 0;
    ck_assert_int_eq (zmqobs__process_read (&q), 0);
    ck_assert_uint_eq (q.open_fds, p.open_fds + 2);
    zmqobs__fd_cache_ns = 1000000000u;
    close (fd2);
    close (fd);
    /* the start time is before now and after the boot: a sanity window,
     * not a timing assertion */
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    uint64_t now_ns = (uint64_t) now.tv_sec * 1000000000u + (uint64_t) now.tv_nsec;
    ck_assert_uint_le (p.start_time_ns, now_ns);
    ck_assert_uint_gt (p.start_time_ns, 1000000000ull * 1000000000ull); /* after 2001 */
    /* exactly one more thread is seen while one more runs */
    int pfd[2];
    ck_assert_int_eq (pipe (pfd), 0);
    pthread_t th;
    /* a first thread lets runtimes start their own helpers (TSan does on
     * the first pthread_create) before the counting starts */
    ck_assert_int_eq (pthread_create (&th, NULL, block_on_pipe, &pfd[0]), 0);
    ck_assert_int_eq (write (pfd[1], "x", 1), 1);
    pthread_join (th, NULL);
    /* the kernel may count a joined thread a moment longer: read until
     * the count holds still */
    ck_assert_int_eq (zmqobs__process_read (&p), 0);
    for (int tries = 0; tries < 1000; tries++) {
        struct timespec pause = {0, 2000000};
        nanosleep (&pause, NULL);
        ck_assert_int_eq (zmqobs__process_read (&q), 0);
        if (q.threads == p.threads)
            break;
        p = q;
    }
    ck_assert_int_eq (pthread_create (&th, NULL, block_on_pipe, &pfd[0]), 0);
    ck_assert_int_eq (zmqobs__process_read (&q), 0);
    ck_assert_uint_eq (q.threads, p.threads + 1);
    ck_assert_int_eq (write (pfd[1], "x", 1), 1);
    pthread_join (th, NULL);
    close (pfd[0]);
    close (pfd[1]);
    /* full output with process metrics passes the validators */
    char dir[256];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    static const zmqobs_label_t labels[] = {{"instance", "host:1"}};
    void *ctx = zmq_ctx_new ();
    for (int with_labels = 0; with_labels < 2; with_labels++) {
        zmqobs_t *obs =
            new_observer (ctx, 1, NULL, with_labels ? labels : NULL, with_labels ? 1 : 0);
        for (int fmt = 0; fmt < 4; fmt++) {
            int len;
            char *out = format_all (obs, (zmqobs_format_t) fmt, &len);
            validate (dir, fmt, out, (size_t) len, NULL);
            if (fmt == ZMQOBS_FORMAT_PROMETHEUS) {
                ck_assert_ptr_nonnull (strstr (out, "# TYPE process_cpu_seconds_total counter\n"));
                ck_assert_ptr_nonnull (strstr (out, with_labels
                                                        ? "\nprocess_max_fds{instance=\"host:1\"} "
                                                        : "\nprocess_max_fds "));
            }
            if (fmt == ZMQOBS_FORMAT_OPENMETRICS) {
                ck_assert_ptr_nonnull (strstr (out, "# TYPE process_cpu_seconds counter\n"
                                                    "# UNIT process_cpu_seconds seconds\n"));
                ck_assert_ptr_nonnull (strstr (out, "# UNIT process_resident_memory_bytes "
                                                    "bytes\n"));
            }
            free (out);
        }
        zmqobs_destroy (&obs);
    }
    zmq_ctx_term (ctx);
    char cmd[512];
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq (system (cmd), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * No heap allocation per scrape
 * ---------------------------------------------------------------------- */

START_TEST (test_no_allocation)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = new_observer (ctx, 1, "ns", NULL, 0);
    void *z = zmq_socket (ctx, ZMQ_ROUTER);
    zmqobs_socket_t *s = zmqobs_attach (obs, z, "router");
    ck_assert_ptr_nonnull (s);
    zmqobs_record_latency (s, 1234);
    static char buf[1 << 16];
    long before = zmqobs__alloc_count;
    for (int fmt = 0; fmt < 4; fmt++) {
        /* the first call may initialise lazily; count the later ones */
        ck_assert_int_gt (zmqobs_format (obs, (zmqobs_format_t) fmt, buf, sizeof buf), 0);
#if COUNT_ALLOCS
        counting = 1;
        allocs = 0;
#endif
        /* no Check assertion inside: they allocate themselves */
        int bad = 0;
        for (int i = 0; i < 3; i++) {
            zmqobs_record_latency (s, 1000u * (unsigned) i); /* a cold window */
            bad += zmqobs_format (obs, (zmqobs_format_t) fmt, buf, sizeof buf) <= 0;
            bad += zmqobs_format (obs, (zmqobs_format_t) fmt, NULL, 0) <= 0;
        }
#if COUNT_ALLOCS
        counting = 0;
        ck_assert_int_eq (allocs, 0);
#endif
        ck_assert_int_eq (bad, 0);
    }
    ck_assert_int_eq (zmqobs__alloc_count, before);
    zmqobs_detach (&s);
    zmq_close (z);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* Scrapes from another thread while the owner records and another socket
 * comes and goes: for the sanitizers. */
static void *scrape_loop (void *arg)
{
    zmqobs_t *obs = arg;
    static __thread char buf[1 << 16];
    for (int i = 0; i < 200; i++)
        zmqobs_format (obs, (zmqobs_format_t) (i % 4), buf, sizeof buf);
    return NULL;
}

START_TEST (test_concurrent_scrape)
{
    testutil_watchdog (60);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = new_observer (ctx, 1, NULL, NULL, 0);
    void *z = zmq_socket (ctx, ZMQ_DEALER);
    zmqobs_socket_t *s = zmqobs_attach (obs, z, "busy");
    ck_assert_ptr_nonnull (s);
    pthread_t th;
    ck_assert_int_eq (pthread_create (&th, NULL, scrape_loop, obs), 0);
    for (int i = 0; i < 200; i++) {
        zmqobs_record_latency (s, (uint64_t) i * 100);
        zmqobs_record_sent (s, 10, 0);
        void *z2 = zmq_socket (ctx, ZMQ_PAIR);
        zmqobs_socket_t *s2 = zmqobs_attach (obs, z2, "transient");
        ck_assert_ptr_nonnull (s2);
        zmqobs_detach (&s2);
        zmq_close (z2);
    }
    pthread_join (th, NULL);
    zmqobs_detach (&s);
    zmq_close (z);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

int main (void)
{
    Suite *suite = suite_create ("expose");
    TCase *tc = testutil_tcase (suite, "formats", 30);
    tcase_add_test (tc, test_golden);
    tcase_add_test (tc, test_matches_snapshot);
    tcase_add_test (tc, test_bad_arguments);
    tcase_add_test (tc, test_content_types);
    tcase_add_test (tc, test_invalid_options);
    tcase_add_test (tc, test_escape);
    tcase_add_test (tc, test_bounds);
    tcase_add_test (tc, test_comma_locale);
    tc = testutil_tcase (suite, "validators", 60);
    tcase_add_test (tc, test_validators);
    tcase_add_test (tc, test_checker_rejects);
    tcase_add_test (tc, test_hostile_names);
    tcase_add_test (tc, test_long_constant_label);
    tc = testutil_tcase (suite, "truncation", 120);
    tcase_add_test (tc, test_truncation);
    tc = testutil_tcase (suite, "accept", 30);
    tcase_add_test (tc, test_accept);
    tcase_add_test (tc, test_accept_garbage);
    tc = testutil_tcase (suite, "process", 30);
    tcase_add_test (tc, test_proc_parsers);
    tcase_add_test (tc, test_process_metrics);
    tcase_add_test (tc, test_no_allocation);
    tcase_add_test (tc, test_concurrent_scrape);
    return testutil_run (suite);
}
