/*
 * test_appmetric.c - application metrics: exact output in every format,
 * escaping, the canonical rendering of doubles (also under a comma
 * locale), every errno of creation and update, families, EEXIST and
 * ENOSPC, destruction, concurrent updates with exact totals (for make
 * tsan), the reference validators, no allocation per scrape, and
 * /metrics over HTTP.
 *
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"
#include "internal.h"
#include "appmetric.h"

#include <arpa/inet.h>
#include <locale.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "alloc_count.h"

#define CHECKER "tests/expose_check.py"

/* ------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------- */

static zmqobs_t *new_observer (void *ctx, const char *prefix, const zmqobs_label_t *labels,
                               size_t nlabels)
{
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.no_process_metrics = 1;
    o.latency_sample_every = ZMQOBS_SAMPLE_NEVER;
    o.ring_capacity = 64;
    o.namespace_prefix = prefix;
    o.labels = labels;
    o.label_count = nlabels;
    zmqobs_t *obs = zmqobs_new (ctx, &o);
    ck_assert_ptr_nonnull (obs);
    return obs;
}

/* The whole output of a format, in a heap buffer the caller frees. With
 * process metrics on, the length may change between two calls (CPU time
 * gains a digit), hence the slack. */
static char *format_all (zmqobs_t *obs, zmqobs_format_t fmt)
{
    int need = zmqobs_format (obs, fmt, NULL, 0);
    ck_assert_int_gt (need, 0);
    size_t size = (size_t) need + 4096;
    char *buf = malloc (size);
    ck_assert_ptr_nonnull (buf);
    int len = zmqobs_format (obs, fmt, buf, size);
    ck_assert_int_gt (len, 0);
    ck_assert_uint_lt ((size_t) len, size);
    ck_assert_uint_eq (strlen (buf), (size_t) len);
    return buf;
}

/* a and b found, a before b. */
#define ASSERT_BEFORE(a, b)                                   \
    do {                                                      \
        const char *a_ = (a), *b_ = (b);                      \
        ck_assert_ptr_nonnull (a_);                           \
        ck_assert_ptr_nonnull (b_);                           \
        ck_assert_msg (a_ < b_, "%s comes after %s", #a, #b); \
    } while (0)

/* The output from the first occurrence of from to its end. */
static const char *tail_from (const char *out, const char *from)
{
    const char *p = strstr (out, from);
    ck_assert_msg (p != NULL, "'%s' not in output:\n%s", from, out);
    return p;
}

static void write_file (const char *path, const char *data)
{
    FILE *f = fopen (path, "wb");
    ck_assert_ptr_nonnull (f);
    size_t n = strlen (data);
    ck_assert_uint_eq (fwrite (data, 1, n, f), n);
    ck_assert_int_eq (fclose (f), 0);
}

/* Runs a shell command; returns its exit status, its output in out. */
static int run (const char *cmd, char *out, size_t size)
{
    FILE *p = popen (cmd, "r");
    ck_assert_ptr_nonnull (p);
    size_t got = fread (out, 1, size - 1, p);
    out[got] = '\0';
    while (fgetc (p) != EOF)
        ;
    int st = pclose (p);
    return WIFEXITED (st) ? WEXITSTATUS (st) : 128;
}

static void rm_rf (const char *dir)
{
    char cmd[512];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq (system (cmd), 0);
}

static char *hex (const char *s, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        out[n++] = digits[*p >> 4];
        out[n++] = digits[*p & 15];
    }
    out[n] = '\0';
    return out;
}

/* ------------------------------------------------------------------------
 * The fixed scenario: prefix "myapp", constant label service="api", two
 * counters of one family, a gauge, a histogram.
 * ---------------------------------------------------------------------- */

typedef struct {
    void *ctx;
    zmqobs_t *obs;
    zmqobs_metric_t *jobs_mail, *jobs_sms, *temp, *wait;
} app_t;

static const zmqobs_label_t service[] = {{"service", "api"}};
static const zmqobs_label_t mail[] = {{"queue", "mail"}};
static const zmqobs_label_t sms[] = {{"queue", "sms"}};

static void app_setup (app_t *a)
{
    memset (a, 0, sizeof *a);
    a->ctx = zmq_ctx_new ();
    ck_assert_ptr_nonnull (a->ctx);
    a->obs = new_observer (a->ctx, "myapp", service, 1);
    a->jobs_mail = zmqobs_counter_new (a->obs, "jobs", "Jobs done.", mail, 1);
    a->jobs_sms = zmqobs_counter_new (a->obs, "jobs", "Jobs done.", sms, 1);
    a->temp = zmqobs_gauge_new (a->obs, "temperature_celsius", "Room temperature.", NULL, 0);
    static const double bounds[] = {0.25, 1, 2.5};
    a->wait = zmqobs_histogram_new (a->obs, "wait_seconds", "Time in queue.", mail, 1, bounds, 3);
    ck_assert_ptr_nonnull (a->jobs_mail);
    ck_assert_ptr_nonnull (a->jobs_sms);
    ck_assert_ptr_nonnull (a->temp);
    ck_assert_ptr_nonnull (a->wait);
    /* fixed creation times for _created */
    a->jobs_mail->created_wall_ns = 1767323045000000250ull;
    a->jobs_sms->created_wall_ns = 1767323046000000000ull;
    a->wait->created_wall_ns = 1767323047500000000ull;
    zmqobs__test_uptime_ns = 12500000000ull;

    ck_assert_int_eq (zmqobs_counter_add (a->jobs_mail, 5), 0);
    ck_assert_int_eq (zmqobs_counter_add (a->jobs_mail, 7), 0);
    ck_assert_int_eq (zmqobs_gauge_set (a->temp, 21.5), 0);
    ck_assert_int_eq (zmqobs_gauge_add (a->temp, -0.25), 0);
    /* le is inclusive: 0.25 counts in the first bucket */
    ck_assert_int_eq (zmqobs_histogram_observe (a->wait, 0.25), 0);
    ck_assert_int_eq (zmqobs_histogram_observe (a->wait, 0.5), 0);
    ck_assert_int_eq (zmqobs_histogram_observe (a->wait, 0.5), 0);
    ck_assert_int_eq (zmqobs_histogram_observe (a->wait, 3), 0);
}

static void app_teardown (app_t *a)
{
    zmqobs_destroy (&a->obs);
    ck_assert_int_eq (zmq_ctx_term (a->ctx), 0);
    zmqobs__test_uptime_ns = 0;
}

static const char want_prom[] =
    "# HELP myapp_jobs_total Jobs done.\n"
    "# TYPE myapp_jobs_total counter\n"
    "myapp_jobs_total{queue=\"mail\",service=\"api\"} 12\n"
    "myapp_jobs_total{queue=\"sms\",service=\"api\"} 0\n"
    "# HELP myapp_temperature_celsius Room temperature.\n"
    "# TYPE myapp_temperature_celsius gauge\n"
    "myapp_temperature_celsius{service=\"api\"} 21.25\n"
    "# HELP myapp_wait_seconds Time in queue.\n"
    "# TYPE myapp_wait_seconds histogram\n"
    "myapp_wait_seconds_bucket{queue=\"mail\",service=\"api\",le=\"0.25\"} 1\n"
    "myapp_wait_seconds_bucket{queue=\"mail\",service=\"api\",le=\"1\"} 3\n"
    "myapp_wait_seconds_bucket{queue=\"mail\",service=\"api\",le=\"2.5\"} 3\n"
    "myapp_wait_seconds_bucket{queue=\"mail\",service=\"api\",le=\"+Inf\"} 4\n"
    "myapp_wait_seconds_sum{queue=\"mail\",service=\"api\"} 4.25\n"
    "myapp_wait_seconds_count{queue=\"mail\",service=\"api\"} 4\n";

static const char want_om[] =
    "# TYPE myapp_jobs counter\n"
    "# HELP myapp_jobs Jobs done.\n"
    "myapp_jobs_total{queue=\"mail\",service=\"api\"} 12\n"
    "myapp_jobs_created{queue=\"mail\",service=\"api\"} 1767323045.00000025\n"
    "myapp_jobs_total{queue=\"sms\",service=\"api\"} 0\n"
    "myapp_jobs_created{queue=\"sms\",service=\"api\"} 1767323046\n"
    "# TYPE myapp_temperature_celsius gauge\n"
    "# HELP myapp_temperature_celsius Room temperature.\n"
    "myapp_temperature_celsius{service=\"api\"} 21.25\n"
    "# TYPE myapp_wait_seconds histogram\n"
    "# HELP myapp_wait_seconds Time in queue.\n"
    "myapp_wait_seconds_bucket{queue=\"mail\",service=\"api\",le=\"0.25\"} 1\n"
    "myapp_wait_seconds_bucket{queue=\"mail\",service=\"api\",le=\"1.0\"} 3\n"
    "myapp_wait_seconds_bucket{queue=\"mail\",service=\"api\",le=\"2.5\"} 3\n"
    "myapp_wait_seconds_bucket{queue=\"mail\",service=\"api\",le=\"+Inf\"} 4\n"
    "myapp_wait_seconds_sum{queue=\"mail\",service=\"api\"} 4.25\n"
    "myapp_wait_seconds_count{queue=\"mail\",service=\"api\"} 4\n"
    "myapp_wait_seconds_created{queue=\"mail\",service=\"api\"} 1767323047.5\n"
    "# EOF\n";

static const char want_json[] =
    "\"application\":["
    "{\"name\":\"jobs\",\"type\":\"counter\",\"help\":\"Jobs done.\","
    "\"labels\":{\"queue\":\"mail\"},\"value\":12},"
    "{\"name\":\"jobs\",\"type\":\"counter\",\"help\":\"Jobs done.\","
    "\"labels\":{\"queue\":\"sms\"},\"value\":0},"
    "{\"name\":\"temperature_celsius\",\"type\":\"gauge\",\"help\":\"Room temperature.\","
    "\"labels\":{},\"value\":21.25},"
    "{\"name\":\"wait_seconds\",\"type\":\"histogram\",\"help\":\"Time in queue.\","
    "\"labels\":{\"queue\":\"mail\"},\"count\":4,\"sum\":4.25,\"bounds\":[0.25,1,2.5],"
    "\"bucket_counts\":[1,2,0,1]}]}\n";

static const char want_text[] = "application\n"
                                "  jobs{queue=\"mail\"} counter 12\n"
                                "  jobs{queue=\"sms\"} counter 0\n"
                                "  temperature_celsius gauge 21.25\n"
                                "  wait_seconds{queue=\"mail\"} histogram count 4, sum 4.25\n";

/* The application part of each format, compared whole. */
static void check_scenario_output (zmqobs_t *obs)
{
    char *out = format_all (obs, ZMQOBS_FORMAT_PROMETHEUS);
    ck_assert_str_eq (tail_from (out, "# HELP myapp_jobs_total"), want_prom);
    /* after the socket families */
    ASSERT_BEFORE (strstr (out, "myapp_zmq_message_latency_window_seconds summary"),
                   strstr (out, "myapp_jobs_total"));
    free (out);
    out = format_all (obs, ZMQOBS_FORMAT_OPENMETRICS);
    ck_assert_str_eq (tail_from (out, "# TYPE myapp_jobs counter"), want_om);
    free (out);
    out = format_all (obs, ZMQOBS_FORMAT_JSON);
    ck_assert_str_eq (tail_from (out, "\"application\":"), want_json);
    free (out);
    out = format_all (obs, ZMQOBS_FORMAT_TEXT);
    ck_assert_str_eq (tail_from (out, "application\n"), want_text);
    free (out);
}

/* ------------------------------------------------------------------------
 * Output
 * ---------------------------------------------------------------------- */

START_TEST (test_exact_output)
{
    testutil_watchdog (30);
    app_t a;
    app_setup (&a);
    check_scenario_output (a.obs);
    app_teardown (&a);
}
END_TEST

/* snprintf semantics at every size: the same length returned, the
 * longest prefix that fits, always terminated. */
START_TEST (test_truncation)
{
    testutil_watchdog (120);
    app_t a;
    app_setup (&a);
    for (int fmt = 0; fmt < 4; fmt++) {
        char *full = format_all (a.obs, (zmqobs_format_t) fmt);
        size_t len = strlen (full);
        char *buf = malloc (len + 2);
        ck_assert_ptr_nonnull (buf);
        int bad = 0;
        for (size_t size = 0; size <= len + 1; size++) {
            memset (buf, 'X', len + 2);
            int n = zmqobs_format (a.obs, (zmqobs_format_t) fmt, size ? buf : NULL, size);
            size_t keep = size ? (size - 1 < len ? size - 1 : len) : 0;
            bad += n != (int) len;
            bad += size && (memcmp (buf, full, keep) != 0 || buf[keep] != '\0');
            bad += size > 0 && size <= len && buf[size] != 'X'; /* nothing past size */
        }
        ck_assert_int_eq (bad, 0);
        free (buf);
        free (full);
    }
    app_teardown (&a);
}
END_TEST

/* Beside sockets: the application families come after the socket
 * families and before process_*, in both text formats. */
START_TEST (test_order_with_sockets_and_process)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.latency_sample_every = ZMQOBS_SAMPLE_NEVER;
    zmqobs_t *obs = zmqobs_new (ctx, &o);
    ck_assert_ptr_nonnull (obs);
    void *z = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *s = zmqobs_attach (obs, z, "pair");
    ck_assert_ptr_nonnull (s);
    zmqobs_metric_t *g = zmqobs_gauge_new (obs, "ready_workers", "Workers ready.", NULL, 0);
    ck_assert_ptr_nonnull (g);
    ck_assert_int_eq (zmqobs_gauge_set (g, 3), 0);
    for (int fmt = 0; fmt < 2; fmt++) {
        char *out = format_all (obs, (zmqobs_format_t) fmt);
        const char *sock = strstr (out, "zmq_message_latency_window_seconds_count{socket=\"pair\"");
        const char *app = strstr (out, fmt ? "\nready_workers 3.0\n" : "\nready_workers 3\n");
        const char *proc = strstr (out, "# TYPE process_cpu_seconds");
        ASSERT_BEFORE (sock, app);
        ASSERT_BEFORE (app, proc);
        free (out);
    }
    char *out = format_all (obs, ZMQOBS_FORMAT_JSON);
    const char *app = strstr (out, "],\"application\":[{\"name\":\"ready_workers\"");
    ASSERT_BEFORE (strstr (out, "\"sockets\":"), app);
    ASSERT_BEFORE (app, strstr (out, "\"process\":"));
    free (out);
    out = format_all (obs, ZMQOBS_FORMAT_TEXT);
    app = strstr (out, "\napplication\n  ready_workers gauge 3\nprocess\n");
    ASSERT_BEFORE (strstr (out, "socket \"pair\""), app);
    free (out);
    zmqobs_metric_destroy (&g);
    zmqobs_detach (&s);
    zmq_close (z);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* Without metrics: JSON has an empty array, the report no application
 * section (only the observer-wide totals). */
START_TEST (test_empty)
{
    testutil_watchdog (10);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = new_observer (ctx, NULL, NULL, 0);
    zmqobs__test_uptime_ns = 1;
    char *out = format_all (obs, ZMQOBS_FORMAT_JSON);
    ck_assert_str_eq (tail_from (out, "\"sockets\""), "\"sockets\":[],\"application\":[]}\n");
    free (out);
    out = format_all (obs, ZMQOBS_FORMAT_TEXT);
    ck_assert_str_eq (out,
                      "zmqobs report: 0 sockets\n"
                      "totals over 0 sockets\n"
                      "  connections     0 established (CONNECTED 0, ACCEPTED 0), 0 disconnected\n"
                      "  errors          none\n");
    free (out);
    zmqobs__test_uptime_ns = 0;
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* Gauges may hold anything: NaN and the infinities are spelled per
 * format, and JSON takes them as strings. */
START_TEST (test_special_values)
{
    testutil_watchdog (10);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = new_observer (ctx, NULL, NULL, 0);
    zmqobs_metric_t *g = zmqobs_gauge_new (obs, "g", "A gauge.", NULL, 0);
    ck_assert_ptr_nonnull (g);
    zmqobs__test_uptime_ns = 1; /* JSON prints the uptime */
    static const struct {
        double v;
        const char *prom, *om, *json;
    } cases[] = {
        {NAN, "\ng NaN\n", "\ng NaN\n", "\"value\":\"NaN\"}"},
        {INFINITY, "\ng +Inf\n", "\ng +Inf\n", "\"value\":\"+Inf\"}"},
        {-INFINITY, "\ng -Inf\n", "\ng -Inf\n", "\"value\":\"-Inf\"}"},
        {-0.0, "\ng 0\n", "\ng 0.0\n", "\"value\":0}"},
        {-42, "\ng -42\n", "\ng -42.0\n", "\"value\":-42}"},
        {1e-300, "\ng 1e-300\n", "\ng 1e-300\n", "\"value\":1e-300}"},
        {123456.75, "\ng 123456.75\n", "\ng 123456.75\n", "\"value\":123456.75}"},
        {2e6, "\ng 2e+06\n", "\ng 2e+06\n", "\"value\":2e+06}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq (zmqobs_gauge_set (g, cases[i].v), 0);
        char *out = format_all (obs, ZMQOBS_FORMAT_PROMETHEUS);
        ck_assert_msg (strstr (out, cases[i].prom), "%s not in %s", cases[i].prom, out);
        free (out);
        out = format_all (obs, ZMQOBS_FORMAT_OPENMETRICS);
        ck_assert_msg (strstr (out, cases[i].om), "%s not in %s", cases[i].om, out);
        free (out);
        out = format_all (obs, ZMQOBS_FORMAT_JSON);
        ck_assert_msg (strstr (out, cases[i].json), "%s not in %s", cases[i].json, out);
        free (out);
    }
    zmqobs__test_uptime_ns = 0;
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* The canonical rendering of doubles, against a table and as a round
 * trip over many doubles of every magnitude. */
START_TEST (test_fmt_double)
{
    static const struct {
        double v;
        const char *prom, *om;
    } cases[] = {
        {0, "0", "0.0"},
        {1, "1", "1.0"},
        {10, "10", "10.0"},
        {0.1, "0.1", "0.1"},
        {0.1 + 0.2, "0.30000000000000004", "0.30000000000000004"},
        {0.005, "0.005", "0.005"},
        {0.0001, "0.0001", "0.0001"},
        {0.00009, "9e-05", "9e-05"},
        {1e-5, "1e-05", "1e-05"},
        {2.5e-5, "2.5e-05", "2.5e-05"},
        {999999, "999999", "999999.0"},
        {1e6, "1e+06", "1e+06"},
        {1.5e7, "1.5e+07", "1.5e+07"},
        {1e21, "1e+21", "1e+21"},
        {1e100, "1e+100", "1e+100"},
        {-2.5, "-2.5", "-2.5"},
        {-1e-7, "-1e-07", "-1e-07"},
        {5e-324, "5e-324", "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308", "1.7976931348623157e+308"},
        {2.2250738585072014e-308, "2.2250738585072014e-308", "2.2250738585072014e-308"},
        {123.456, "123.456", "123.456"},
    };
    char buf[ZMQOBS__DOUBLE_MAX + 1];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int om = 0; om < 2; om++) {
            size_t n = zmqobs__fmt_double (buf, cases[i].v, om);
            buf[n] = '\0';
            ck_assert_str_eq (buf, om ? cases[i].om : cases[i].prom);
        }
    /* random bit patterns: every finite double reads back exactly, with
     * at most 17 significant digits */
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        memcpy (&v, &x, sizeof v);
        if (!isfinite (v))
            continue;
        for (int om = 0; om < 2; om++) {
            size_t n = zmqobs__fmt_double (buf, v, om);
            ck_assert_uint_le (n, ZMQOBS__DOUBLE_MAX);
            buf[n] = '\0';
            ck_assert_msg (strtod (buf, NULL) == v || (v == 0 && strtod (buf, NULL) == 0),
                           "%s does not read back as %.17g", buf, v);
            /* significant digits: leading zeros and the point skipped */
            const char *p = buf;
            while (*p == '-' || *p == '0' || *p == '.')
                p++;
            size_t digits = 0;
            for (; *p && *p != 'e'; p++)
                digits += *p >= '0' && *p <= '9';
            ck_assert_uint_le (digits, 17);
        }
    }
}
END_TEST

/* Under a locale whose decimal point is a comma, every number keeps its
 * point. */
START_TEST (test_comma_locale)
{
    testutil_watchdog (60);
    char dir[256];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    char cmd[1024], out[4096];
    snprintf (cmd, sizeof cmd,
              "localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1 || "
              "localedef -i fr_FR -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1",
              dir, dir);
    if (run (cmd, out, sizeof out) == 0)
        setenv ("LOCPATH", dir, 1);
    const char *loc = setlocale (LC_ALL, "de_DE.UTF-8");
    if (!loc)
        loc = setlocale (LC_ALL, "de_DE.utf8");
    if (loc && strcmp (localeconv ()->decimal_point, ",") == 0) {
        char probe[16];
        snprintf (probe, sizeof probe, "%.2f", 21.25);
        ck_assert_str_eq (probe, "21,25");
    } else
        fprintf (stderr, "test_comma_locale: no comma-decimal locale could be made; "
                         "compared under the locale in effect\n");
    app_t a;
    app_setup (&a);
    check_scenario_output (a.obs);
    char buf[ZMQOBS__DOUBLE_MAX + 1];
    buf[zmqobs__fmt_double (buf, 0.1 + 0.2, 0)] = '\0';
    ck_assert_str_eq (buf, "0.30000000000000004");
    app_teardown (&a);
    setlocale (LC_ALL, "C");
    unsetenv ("LOCPATH");
    rm_rf (dir);
}
END_TEST

/* Hostile label values and help: exact escapes per format, and the
 * Python parsers read back the exact bytes. */
static const char hostile_help[] =
    "Help with \\ a backslash, \"quotes\" and\na newline \xe2\x9c\x93";
static const char *const hostile_values[] = {
    "a\"b\\c\nd",
    "tab\there",
    "\xc3\xbcn\xc3\xaf"
    "c\xc3\xb8"
    "d\xc3\xa9 \xe2\x9c\x93",
    "}{,=\"",
    "trailing\\",
};
#define NHOSTILE (sizeof hostile_values / sizeof hostile_values[0])

static const char readback_py[] =
    "import sys\n"
    "from prometheus_client.parser import text_string_to_metric_families as p0\n"
    "from prometheus_client.openmetrics.parser import text_string_to_metric_families as p1\n"
    "text = open(sys.argv[2], encoding='utf-8').read()\n"
    "for fam in (p1 if sys.argv[1] == 'om' else p0)(text):\n"
    "    if fam.name == 'hostile':\n"
    "        print('help', fam.documentation.encode().hex())\n"
    "        for s in fam.samples:\n"
    "            print(s.labels['v'].encode().hex(), s.value)\n";

START_TEST (test_hostile_escaping)
{
    testutil_watchdog (60);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = new_observer (ctx, NULL, NULL, 0);
    zmqobs_metric_t *m[NHOSTILE];
    for (size_t i = 0; i < NHOSTILE; i++) {
        zmqobs_label_t l = {"v", hostile_values[i]};
        m[i] = zmqobs_gauge_new (obs, "hostile", hostile_help, &l, 1);
        ck_assert_ptr_nonnull (m[i]);
        ck_assert_int_eq (zmqobs_gauge_set (m[i], (double) i), 0);
    }
    char *out = format_all (obs, ZMQOBS_FORMAT_PROMETHEUS);
    ck_assert_ptr_nonnull (strstr (out, "# HELP hostile Help with \\\\ a backslash, \"quotes\" "
                                        "and\\na newline \xe2\x9c\x93\n"));
    ck_assert_ptr_nonnull (strstr (out, "\nhostile{v=\"a\\\"b\\\\c\\nd\"} 0\n"));
    ck_assert_ptr_nonnull (strstr (out, "\nhostile{v=\"tab\there\"} 1\n"));
    ck_assert_ptr_nonnull (strstr (out, "\nhostile{v=\"}{,=\\\"\"} 3\n"));
    ck_assert_ptr_nonnull (strstr (out, "\nhostile{v=\"trailing\\\\\"} 4\n"));
    free (out);
    out = format_all (obs, ZMQOBS_FORMAT_OPENMETRICS);
    ck_assert_ptr_nonnull (strstr (out, "# HELP hostile Help with \\\\ a backslash, \\\"quotes\\\" "
                                        "and\\na newline \xe2\x9c\x93\n"));
    ck_assert_ptr_nonnull (strstr (out, "\nhostile{v=\"a\\\"b\\\\c\\nd\"} 0.0\n"));
    free (out);
    out = format_all (obs, ZMQOBS_FORMAT_JSON);
    ck_assert_ptr_nonnull (strstr (out, "\"help\":\"Help with \\\\ a backslash, \\\"quotes\\\" "
                                        "and\\na newline \xe2\x9c\x93\""));
    ck_assert_ptr_nonnull (strstr (out, "\"labels\":{\"v\":\"a\\\"b\\\\c\\nd\"},\"value\":0}"));
    ck_assert_ptr_nonnull (strstr (out, "\"labels\":{\"v\":\"tab\\there\"},\"value\":1}"));
    free (out);
    out = format_all (obs, ZMQOBS_FORMAT_TEXT);
    ck_assert_ptr_nonnull (strstr (out, "\n  hostile{v=\"a\\\"b\\\\c\\x0ad\"} gauge 0\n"));
    ck_assert_ptr_nonnull (strstr (out, "\n  hostile{v=\"tab\\x09here\"} gauge 1\n"));
    free (out);

    /* read back by both Python parsers */
    char dir[256], path[512], script[512], cmd[2048], got[8192], want[8192], h[2048];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    snprintf (script, sizeof script, "%s/readback.py", dir);
    write_file (script, readback_py);
    size_t wn = (size_t) snprintf (want, sizeof want, "help %s\n", hex (hostile_help, h));
    for (size_t i = 0; i < NHOSTILE; i++)
        wn += (size_t) snprintf (want + wn, sizeof want - wn, "%s %zu.0\n",
                                 hex (hostile_values[i], h), i);
    for (int fmt = 0; fmt < 2; fmt++) {
        snprintf (path, sizeof path, "%s/out.%s", dir, fmt ? "om" : "prom");
        out = format_all (obs, (zmqobs_format_t) fmt);
        write_file (path, out);
        free (out);
        snprintf (cmd, sizeof cmd, "%s %s %s %s 2>&1", TESTUTIL_PYTHON, script, fmt ? "om" : "prom",
                  path);
        ck_assert_int_eq (run (cmd, got, sizeof got), 0);
        ck_assert_str_eq (got, want);
    }
    rm_rf (dir);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* promtool and the reference parsers (with the project's own checks:
 * duplicates, family blocks, histogram invariants) over an exposition
 * with sockets, application metrics of every kind, hostile labels and
 * the process metrics. */
START_TEST (test_validators)
{
    testutil_watchdog (120);
    void *ctx = zmq_ctx_new ();
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.namespace_prefix = "svc";
    o.labels = service;
    o.label_count = 1;
    zmqobs_t *obs = zmqobs_new (ctx, &o);
    ck_assert_ptr_nonnull (obs);
    void *z = zmq_socket (ctx, ZMQ_DEALER);
    zmqobs_socket_t *s = zmqobs_attach (obs, z, "dealer \"1\"");
    ck_assert_ptr_nonnull (s);
    zmqobs_record_latency (s, 123456);
    zmqobs_metric_t *c = zmqobs_counter_new (obs, "requests", "Requests.", NULL, 0);
    ck_assert_int_eq (zmqobs_counter_add (c, 3), 0);
    for (size_t i = 0; i < NHOSTILE; i++) {
        zmqobs_label_t l[2] = {{"v", hostile_values[i]}, {"kind", "x"}};
        zmqobs_metric_t *g = zmqobs_gauge_new (obs, "hostile", hostile_help, l, 2);
        ck_assert_ptr_nonnull (g);
        zmqobs_gauge_set (g, i == 0 ? NAN : i == 1 ? -INFINITY : 1.0 / 3);
        zmqobs_metric_t *hm = zmqobs_histogram_new (obs, "size_bytes", "Sizes.", l, 2, NULL, 0);
        ck_assert_ptr_nonnull (hm);
        for (int k = 0; k < (int) i * 3; k++)
            zmqobs_histogram_observe (hm, 0.003 * k);
    }
    static const double neg[] = {-10, -1, 0, 1, 10};
    zmqobs_metric_t *t =
        zmqobs_histogram_new (obs, "offset_seconds", "Clock offsets.", NULL, 0, neg, 5);
    ck_assert_ptr_nonnull (t);
    ck_assert_int_eq (zmqobs_histogram_observe (t, -3.5), 0);
    ck_assert_int_eq (zmqobs_histogram_observe (t, 0.5), 0);
    ck_assert_int_eq (zmqobs_histogram_observe (t, 100), 0);
    char dir[256], path[512], cmd[2048], msg[8192];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    static const char *const names[4] = {"prom", "om", "json", "text"};
    for (int fmt = 0; fmt < 4; fmt++) {
        char *out = format_all (obs, (zmqobs_format_t) fmt);
        snprintf (path, sizeof path, "%s/out.%s", dir, names[fmt]);
        write_file (path, out);
        if (fmt == ZMQOBS_FORMAT_OPENMETRICS) {
            /* no _sum (nor _count, which needs it) for the histogram
             * with negative bounds: +Inf is the count */
            ck_assert_ptr_nonnull (strstr (out, "\nsvc_offset_seconds_bucket{service=\"api\","
                                                "le=\"-1.0\"} 1\n"));
            ck_assert_ptr_nonnull (strstr (out, "\nsvc_offset_seconds_bucket{service=\"api\","
                                                "le=\"+Inf\"} 3\n"
                                                "svc_offset_seconds_created{service=\"api\"} "));
        }
        if (fmt == ZMQOBS_FORMAT_PROMETHEUS)
            ck_assert_ptr_nonnull (strstr (out, "\nsvc_offset_seconds_sum{service=\"api\"} 97\n"));
        free (out);
        snprintf (cmd, sizeof cmd, "%s %s %s %s 2>&1", TESTUTIL_PYTHON, CHECKER, names[fmt], path);
        int rc = run (cmd, msg, sizeof msg);
        ck_assert_msg (rc == 0, "%s: expose_check failed (%d): %s", names[fmt], rc, msg);
        if (fmt == ZMQOBS_FORMAT_PROMETHEUS) {
            snprintf (cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
            rc = run (cmd, msg, sizeof msg);
            ck_assert_msg (rc == 0, "promtool failed (%d): %s", rc, msg);
            ck_assert_msg (msg[0] == '\0', "promtool lint findings: %s", msg);
        }
    }
    rm_rf (dir);
    zmqobs_detach (&s);
    zmq_close (z);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* ------------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------- */

#define EXPECT_ERRNO(call, err)          \
    do {                                 \
        errno = 0;                       \
        ck_assert_ptr_null (call);       \
        ck_assert_int_eq (errno, (err)); \
    } while (0)

#define EXPECT_RC_ERRNO(call, err)       \
    do {                                 \
        errno = 0;                       \
        ck_assert_int_eq ((call), -1);   \
        ck_assert_int_eq (errno, (err)); \
    } while (0)

START_TEST (test_invalid_names)
{
    testutil_watchdog (10);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = new_observer (ctx, NULL, service, 1);
    char long_name[ZMQOBS_NAME_MAX + 2];
    memset (long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    EXPECT_ERRNO (zmqobs_counter_new (NULL, "a", "h", NULL, 0), EINVAL);
    EXPECT_ERRNO (zmqobs_gauge_new (NULL, "a", "h", NULL, 0), EINVAL);
    EXPECT_ERRNO (zmqobs_histogram_new (NULL, "a", "h", NULL, 0, NULL, 0), EINVAL);
    const char *const bad[] = {
        "",           "1abc",     "a-b",          "a b",         "a:b",
        "__reserved", "zmq_mine", "process_jobs", "caf\xc3\xa9", long_name,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT_ERRNO (zmqobs_counter_new (obs, bad[i], "h", NULL, 0), EINVAL);
        EXPECT_ERRNO (zmqobs_gauge_new (obs, bad[i], "h", NULL, 0), EINVAL);
        EXPECT_ERRNO (zmqobs_histogram_new (obs, bad[i], "h", NULL, 0, NULL, 0), EINVAL);
    }
    EXPECT_ERRNO (zmqobs_counter_new (obs, NULL, "h", NULL, 0), EINVAL);
    /* a counter is named without _total; a gauge may end in it */
    EXPECT_ERRNO (zmqobs_counter_new (obs, "jobs_total", "h", NULL, 0), EINVAL);
    zmqobs_metric_t *g = zmqobs_gauge_new (obs, "backlog_total", "h", NULL, 0);
    ck_assert_ptr_nonnull (g);
    /* the longest name is fine; "zmq" alone and "processes" too */
    long_name[ZMQOBS_NAME_MAX] = '\0';
    zmqobs_metric_t *l = zmqobs_gauge_new (obs, long_name, "h", NULL, 0);
    ck_assert_ptr_nonnull (l);
    zmqobs_metric_t *z = zmqobs_gauge_new (obs, "zmq", "h", NULL, 0);
    ck_assert_ptr_nonnull (z);
    zmqobs_metric_t *p = zmqobs_gauge_new (obs, "processes", "h", NULL, 0);
    ck_assert_ptr_nonnull (p);
    /* help: NULL, empty, too long, not UTF-8 */
    char long_help[ZMQOBS_HELP_MAX + 2];
    memset (long_help, 'h', sizeof long_help - 1);
    long_help[sizeof long_help - 1] = '\0';
    EXPECT_ERRNO (zmqobs_counter_new (obs, "c", NULL, NULL, 0), EINVAL);
    EXPECT_ERRNO (zmqobs_counter_new (obs, "c", "", NULL, 0), EINVAL);
    EXPECT_ERRNO (zmqobs_counter_new (obs, "c", long_help, NULL, 0), EINVAL);
    EXPECT_ERRNO (zmqobs_counter_new (obs, "c", "bad \xff byte", NULL, 0), EINVAL);
    long_help[ZMQOBS_HELP_MAX] = '\0';
    zmqobs_metric_t *c = zmqobs_counter_new (obs, "c", long_help, NULL, 0);
    ck_assert_ptr_nonnull (c);
    zmqobs_destroy (&obs);

    /* with a prefix, the joined name may not start with process_ */
    zmqobs_t *o2 = new_observer (ctx, "process", NULL, 0);
    EXPECT_ERRNO (zmqobs_gauge_new (o2, "threads", "h", NULL, 0), EINVAL);
    zmqobs_destroy (&o2);
    o2 = new_observer (ctx, "process_queue", NULL, 0);
    EXPECT_ERRNO (zmqobs_gauge_new (o2, "depth", "h", NULL, 0), EINVAL);
    zmqobs_destroy (&o2);
    o2 = new_observer (ctx, "pro", NULL, 0);
    g = zmqobs_gauge_new (o2, "cess_threads", "h", NULL, 0); /* pro_cess_threads */
    ck_assert_ptr_nonnull (g);
    /* zmq_ is the library's whatever the prefix */
    EXPECT_ERRNO (zmqobs_gauge_new (o2, "zmq_x", "h", NULL, 0), EINVAL);
    zmqobs_destroy (&o2);
    zmq_ctx_term (ctx);
}
END_TEST

START_TEST (test_invalid_labels)
{
    testutil_watchdog (10);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = new_observer (ctx, NULL, service, 1);
    char long_value[ZMQOBS_NAME_MAX + 2];
    memset (long_value, 'v', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    const zmqobs_label_t bad[][2] = {
        {{"1a", "x"}, {"b", "y"}},       {{"__a", "x"}, {"b", "y"}},
        {{"a-b", "x"}, {"b", "y"}},      {{"", "x"}, {"b", "y"}},
        {{NULL, "x"}, {"b", "y"}},       {{"le", "x"}, {"b", "y"}},
        {{"quantile", "x"}, {"b", "y"}}, {{"a", "x"}, {"a", "y"}},
        {{"service", "x"}, {"b", "y"}},  {{"a", NULL}, {"b", "y"}},
        {{"a", ""}, {"b", "y"}},         {{"a", "bad \xc0\x80"}, {"b", "y"}},
        {{"a", long_value}, {"b", "y"}}, {{"a", "x"}, {"b", "surrogate \xed\xa0\x80"}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT_ERRNO (zmqobs_counter_new (obs, "c", "h", bad[i], 2), EINVAL);
        EXPECT_ERRNO (zmqobs_gauge_new (obs, "g", "h", bad[i], 2), EINVAL);
        EXPECT_ERRNO (zmqobs_histogram_new (obs, "h", "h", bad[i], 2, NULL, 0), EINVAL);
    }
    EXPECT_ERRNO (zmqobs_counter_new (obs, "c", "h", NULL, 1), EINVAL);
    zmqobs_label_t many[ZMQOBS_METRIC_LABELS_MAX + 1];
    char names[ZMQOBS_METRIC_LABELS_MAX + 1][16];
    for (int i = 0; i <= ZMQOBS_METRIC_LABELS_MAX; i++) {
        snprintf (names[i], sizeof names[i], "l%d", i);
        many[i].name = names[i];
        many[i].value = "v";
    }
    EXPECT_ERRNO (zmqobs_counter_new (obs, "c", "h", many, ZMQOBS_METRIC_LABELS_MAX + 1), EINVAL);
    zmqobs_metric_t *c = zmqobs_counter_new (obs, "c", "h", many, ZMQOBS_METRIC_LABELS_MAX);
    ck_assert_ptr_nonnull (c);
    /* the longest value is fine, and "socket" is free for the host */
    long_value[ZMQOBS_NAME_MAX] = '\0';
    zmqobs_label_t ok[] = {{"a", long_value}, {"socket", "mine"}};
    zmqobs_metric_t *g = zmqobs_gauge_new (obs, "g", "h", ok, 2);
    ck_assert_ptr_nonnull (g);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

START_TEST (test_invalid_bounds)
{
    testutil_watchdog (10);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = new_observer (ctx, NULL, NULL, 0);
    static const double one[] = {1};
    static const double nan_b[] = {1, NAN};
    static const double inf_b[] = {1, INFINITY};
    static const double ninf_b[] = {-INFINITY, 1};
    static const double unsorted[] = {1, 3, 2};
    static const double equal[] = {1, 1};
    static const double zeros[] = {-0.0, 0.0};
    double many[ZMQOBS_BUCKETS_MAX + 1];
    for (int i = 0; i <= ZMQOBS_BUCKETS_MAX; i++)
        many[i] = i;
    EXPECT_ERRNO (zmqobs_histogram_new (obs, "h", "h", NULL, 0, NULL, 1), EINVAL);
    EXPECT_ERRNO (zmqobs_histogram_new (obs, "h", "h", NULL, 0, one, 0), EINVAL);
    EXPECT_ERRNO (zmqobs_histogram_new (obs, "h", "h", NULL, 0, nan_b, 2), EINVAL);
    EXPECT_ERRNO (zmqobs_histogram_new (obs, "h", "h", NULL, 0, inf_b, 2), EINVAL);
    EXPECT_ERRNO (zmqobs_histogram_new (obs, "h", "h", NULL, 0, ninf_b, 2), EINVAL);
    EXPECT_ERRNO (zmqobs_histogram_new (obs, "h", "h", NULL, 0, unsorted, 3), EINVAL);
    EXPECT_ERRNO (zmqobs_histogram_new (obs, "h", "h", NULL, 0, equal, 2), EINVAL);
    EXPECT_ERRNO (zmqobs_histogram_new (obs, "h", "h", NULL, 0, zeros, 2), EINVAL);
    EXPECT_ERRNO (zmqobs_histogram_new (obs, "h", "h", NULL, 0, many, ZMQOBS_BUCKETS_MAX + 1),
                  EINVAL);
    zmqobs_metric_t *h = zmqobs_histogram_new (obs, "h", "h", NULL, 0, many, ZMQOBS_BUCKETS_MAX);
    ck_assert_ptr_nonnull (h);
    /* -0 is 0 */
    static const double negzero[] = {-0.0, 1};
    zmqobs_metric_t *h2 = zmqobs_histogram_new (obs, "h2", "h", NULL, 0, negzero, 2);
    ck_assert_ptr_nonnull (h2);
    char *out = format_all (obs, ZMQOBS_FORMAT_PROMETHEUS);
    ck_assert_ptr_nonnull (strstr (out, "\nh2_bucket{le=\"0\"} 0\n"));
    ck_assert_ptr_nonnull (strstr (out, "\nh_bucket{le=\"31\"} 0\n"));
    free (out);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* One name, several label sets: one family. The kind, help and bounds
 * must agree; the same label set is EEXIST; names whose samples clash
 * are EINVAL. */
START_TEST (test_families)
{
    testutil_watchdog (10);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = new_observer (ctx, NULL, NULL, 0);
    zmqobs_label_t ab[] = {{"a", "1"}, {"b", "2"}};
    zmqobs_label_t ba[] = {{"b", "2"}, {"a", "1"}};
    zmqobs_label_t a1[] = {{"a", "1"}};
    zmqobs_label_t a2[] = {{"a", "2"}};
    zmqobs_metric_t *c1 = zmqobs_counter_new (obs, "jobs", "Jobs.", ab, 2);
    ck_assert_ptr_nonnull (c1);
    EXPECT_ERRNO (zmqobs_counter_new (obs, "jobs", "Jobs.", ba, 2), EEXIST);
    EXPECT_ERRNO (zmqobs_counter_new (obs, "jobs", "Jobs.", ab, 2), EEXIST);
    zmqobs_metric_t *c2 = zmqobs_counter_new (obs, "jobs", "Jobs.", a1, 1);
    zmqobs_metric_t *c3 = zmqobs_counter_new (obs, "jobs", "Jobs.", NULL, 0);
    ck_assert_ptr_nonnull (c2);
    ck_assert_ptr_nonnull (c3);
    EXPECT_ERRNO (zmqobs_counter_new (obs, "jobs", "Jobs.", NULL, 0), EEXIST);
    /* other kind, other help */
    EXPECT_ERRNO (zmqobs_gauge_new (obs, "jobs", "Jobs.", a2, 1), EINVAL);
    EXPECT_ERRNO (zmqobs_histogram_new (obs, "jobs", "Jobs.", a2, 1, NULL, 0), EINVAL);
    EXPECT_ERRNO (zmqobs_counter_new (obs, "jobs", "Jobs!", a2, 1), EINVAL);
    /* other bounds */
    static const double b1[] = {1, 2}, b2[] = {1, 3};
    zmqobs_metric_t *h1 = zmqobs_histogram_new (obs, "wait", "Wait.", a1, 1, b1, 2);
    ck_assert_ptr_nonnull (h1);
    EXPECT_ERRNO (zmqobs_histogram_new (obs, "wait", "Wait.", a2, 1, b2, 2), EINVAL);
    EXPECT_ERRNO (zmqobs_histogram_new (obs, "wait", "Wait.", a2, 1, b1, 1), EINVAL);
    EXPECT_ERRNO (zmqobs_histogram_new (obs, "wait", "Wait.", a2, 1, NULL, 0), EINVAL);
    zmqobs_metric_t *h2 = zmqobs_histogram_new (obs, "wait", "Wait.", a2, 1, b1, 2);
    ck_assert_ptr_nonnull (h2);
    /* clashes: sample names of one family are names of another */
    EXPECT_ERRNO (zmqobs_gauge_new (obs, "jobs_total", "h", NULL, 0), EINVAL);
    EXPECT_ERRNO (zmqobs_gauge_new (obs, "jobs_created", "h", NULL, 0), EINVAL);
    EXPECT_ERRNO (zmqobs_gauge_new (obs, "wait_count", "h", NULL, 0), EINVAL);
    EXPECT_ERRNO (zmqobs_gauge_new (obs, "wait_sum", "h", NULL, 0), EINVAL);
    EXPECT_ERRNO (zmqobs_counter_new (obs, "wait_bucket", "h", NULL, 0), EINVAL);
    EXPECT_ERRNO (zmqobs_histogram_new (obs, "wait_created", "h", NULL, 0, NULL, 0), EINVAL);
    zmqobs_metric_t *g = zmqobs_gauge_new (obs, "size_sum", "h", NULL, 0);
    ck_assert_ptr_nonnull (g);
    EXPECT_ERRNO (zmqobs_histogram_new (obs, "size", "h", NULL, 0, NULL, 0), EINVAL);
    zmqobs_metric_t *g2 = zmqobs_gauge_new (obs, "wait_counts", "h", NULL, 0);
    ck_assert_ptr_nonnull (g2);

    /* one family block, series in creation order */
    char *out = format_all (obs, ZMQOBS_FORMAT_PROMETHEUS);
    ck_assert_ptr_nonnull (strstr (out, "# HELP jobs_total Jobs.\n"
                                        "# TYPE jobs_total counter\n"
                                        "jobs_total{a=\"1\",b=\"2\"} 0\n"
                                        "jobs_total{a=\"1\"} 0\n"
                                        "jobs_total 0\n"
                                        "# HELP wait Wait.\n"));
    free (out);
    /* the family lives while a series does; then the name is free */
    zmqobs_metric_destroy (&c1);
    ck_assert_ptr_null (c1);
    zmqobs_metric_destroy (&c3);
    out = format_all (obs, ZMQOBS_FORMAT_PROMETHEUS);
    ck_assert_ptr_nonnull (
        strstr (out, "# TYPE jobs_total counter\njobs_total{a=\"1\"} 0\n# HELP"));
    free (out);
    zmqobs_metric_destroy (&c2);
    out = format_all (obs, ZMQOBS_FORMAT_PROMETHEUS);
    ck_assert_ptr_null (strstr (out, "jobs"));
    free (out);
    zmqobs_metric_t *again = zmqobs_gauge_new (obs, "jobs", "Now a gauge.", NULL, 0);
    ck_assert_ptr_nonnull (again);
    zmqobs_metric_destroy (&again);
    /* NULL-safe */
    zmqobs_metric_destroy (NULL);
    zmqobs_metric_t *none = NULL;
    zmqobs_metric_destroy (&none);
    zmqobs_destroy (&obs); /* frees h1, h2, g, g2 */
    zmq_ctx_term (ctx);
}
END_TEST

START_TEST (test_update_errors)
{
    testutil_watchdog (10);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = new_observer (ctx, NULL, NULL, 0);
    zmqobs_metric_t *c = zmqobs_counter_new (obs, "c", "h", NULL, 0);
    zmqobs_metric_t *g = zmqobs_gauge_new (obs, "g", "h", NULL, 0);
    zmqobs_metric_t *h = zmqobs_histogram_new (obs, "h", "h", NULL, 0, NULL, 0);
    static const double neg[] = {-1, 1};
    zmqobs_metric_t *s = zmqobs_histogram_new (obs, "s", "h", NULL, 0, neg, 2);
    ck_assert_ptr_nonnull (c);
    ck_assert_ptr_nonnull (g);
    ck_assert_ptr_nonnull (h);
    ck_assert_ptr_nonnull (s);
    EXPECT_RC_ERRNO (zmqobs_counter_add (NULL, 1), EINVAL);
    EXPECT_RC_ERRNO (zmqobs_counter_add (g, 1), EINVAL);
    EXPECT_RC_ERRNO (zmqobs_counter_add (h, 1), EINVAL);
    EXPECT_RC_ERRNO (zmqobs_gauge_set (NULL, 1), EINVAL);
    EXPECT_RC_ERRNO (zmqobs_gauge_set (c, 1), EINVAL);
    EXPECT_RC_ERRNO (zmqobs_gauge_set (h, 1), EINVAL);
    EXPECT_RC_ERRNO (zmqobs_gauge_add (NULL, 1), EINVAL);
    EXPECT_RC_ERRNO (zmqobs_gauge_add (c, 1), EINVAL);
    EXPECT_RC_ERRNO (zmqobs_gauge_add (h, 1), EINVAL);
    EXPECT_RC_ERRNO (zmqobs_histogram_observe (NULL, 1), EINVAL);
    EXPECT_RC_ERRNO (zmqobs_histogram_observe (c, 1), EINVAL);
    EXPECT_RC_ERRNO (zmqobs_histogram_observe (g, 1), EINVAL);
    EXPECT_RC_ERRNO (zmqobs_histogram_observe (h, NAN), EINVAL);
    EXPECT_RC_ERRNO (zmqobs_histogram_observe (h, -0.5), EINVAL);
    EXPECT_RC_ERRNO (zmqobs_histogram_observe (h, -INFINITY), EINVAL);
    EXPECT_RC_ERRNO (zmqobs_histogram_observe (s, NAN), EINVAL);
    /* -0 is not negative; +Inf lands in +Inf; none of the refused counted */
    ck_assert_int_eq (zmqobs_histogram_observe (h, -0.0), 0);
    ck_assert_int_eq (zmqobs_histogram_observe (h, INFINITY), 0);
    ck_assert_int_eq (zmqobs_histogram_observe (s, -INFINITY), 0);
    ck_assert_int_eq (zmqobs_histogram_observe (s, -5), 0);
    ck_assert_int_eq (zmqobs_histogram_observe (s, 5), 0);
    /* counters wrap modulo 2^64 */
    ck_assert_int_eq (zmqobs_counter_add (c, UINT64_MAX), 0);
    ck_assert_int_eq (zmqobs_counter_add (c, 2), 0);
    char *out = format_all (obs, ZMQOBS_FORMAT_PROMETHEUS);
    ck_assert_ptr_nonnull (strstr (out, "\nc_total 1\n"));
    ck_assert_ptr_nonnull (strstr (out, "\ng 0\n"));
    ck_assert_ptr_nonnull (strstr (out, "\nh_bucket{le=\"0.005\"} 1\n"));
    ck_assert_ptr_nonnull (strstr (out, "\nh_bucket{le=\"10\"} 1\n"));
    ck_assert_ptr_nonnull (strstr (out, "\nh_bucket{le=\"+Inf\"} 2\n"
                                        "h_sum +Inf\n"
                                        "h_count 2\n"));
    ck_assert_ptr_nonnull (strstr (out, "\ns_bucket{le=\"-1\"} 2\n"
                                        "s_bucket{le=\"1\"} 2\n"
                                        "s_bucket{le=\"+Inf\"} 3\n"
                                        "s_sum -Inf\n"
                                        "s_count 3\n"));
    free (out);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* The bucket search against the definition (first bound >= v), for
 * every number of bounds, at, just below and just above every bound. */
START_TEST (test_bucket_search)
{
    testutil_watchdog (10);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = new_observer (ctx, NULL, NULL, 0);
    for (size_t nb = 1; nb <= ZMQOBS_BUCKETS_MAX; nb++) {
        double bounds[ZMQOBS_BUCKETS_MAX];
        for (size_t i = 0; i < nb; i++)
            bounds[i] = (double) i * 1.5 - 3;
        char name[16];
        snprintf (name, sizeof name, "h%zu", nb);
        zmqobs_metric_t *h = zmqobs_histogram_new (obs, name, "h", NULL, 0, bounds, nb);
        ck_assert_ptr_nonnull (h);
        uint64_t want[ZMQOBS_BUCKETS_MAX + 1] = {0};
        for (size_t i = 0; i < nb; i++) {
            const double vals[3] = {nextafter (bounds[i], -INFINITY), bounds[i],
                                    nextafter (bounds[i], INFINITY)};
            for (int k = 0; k < 3; k++) {
                size_t b = 0;
                while (b < nb && bounds[b] < vals[k])
                    b++;
                want[b]++;
                ck_assert_int_eq (zmqobs_histogram_observe (h, vals[k]), 0);
            }
        }
        ck_assert_int_eq (zmqobs_histogram_observe (h, -INFINITY), 0);
        want[0]++;
        ck_assert_int_eq (zmqobs_histogram_observe (h, INFINITY), 0);
        want[nb]++;
        uint64_t got[ZMQOBS_BUCKETS_MAX + 1];
        zmqobs__app_hist (h, got);
        for (size_t b = 0; b <= nb; b++)
            ck_assert_msg (got[b] == want[b], "%zu bounds, bucket %zu: %llu, want %llu", nb, b,
                           (unsigned long long) got[b], (unsigned long long) want[b]);
        zmqobs_metric_destroy (&h);
    }
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* ZMQOBS_METRICS_MAX metrics, then ENOSPC until one goes. */
START_TEST (test_enospc)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = new_observer (ctx, NULL, NULL, 0);
    static zmqobs_metric_t *m[ZMQOBS_METRICS_MAX];
    for (int i = 0; i < ZMQOBS_METRICS_MAX; i++) {
        char v[16], name[16];
        snprintf (v, sizeof v, "%d", i);
        snprintf (name, sizeof name, "fam%d", i % 7);
        zmqobs_label_t l = {"i", v};
        m[i] = i % 7 == 3 ? zmqobs_histogram_new (obs, name, "h", &l, 1, NULL, 0)
                          : zmqobs_counter_new (obs, name, "h", &l, 1);
        ck_assert_ptr_nonnull (m[i]);
    }
    zmqobs_label_t l = {"i", "extra"};
    EXPECT_ERRNO (zmqobs_counter_new (obs, "fam0", "h", &l, 1), ENOSPC);
    EXPECT_ERRNO (zmqobs_gauge_new (obs, "other", "h", NULL, 0), ENOSPC);
    /* EINVAL and EEXIST are told first */
    EXPECT_ERRNO (zmqobs_gauge_new (obs, "fam0", "h", &l, 1), EINVAL);
    zmqobs_label_t l0 = {"i", "0"};
    EXPECT_ERRNO (zmqobs_counter_new (obs, "fam0", "h", &l0, 1), EEXIST);
    zmqobs_metric_destroy (&m[100]);
    zmqobs_metric_t *x = zmqobs_gauge_new (obs, "other", "h", NULL, 0);
    ck_assert_ptr_nonnull (x);
    EXPECT_ERRNO (zmqobs_counter_new (obs, "fam0", "h", &l, 1), ENOSPC);
    int need = zmqobs_format (obs, ZMQOBS_FORMAT_OPENMETRICS, NULL, 0);
    ck_assert_int_gt (need, 0);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* Every allocation of a creation fails in turn: ENOMEM, nothing left
 * behind (the sanitizers and valgrind check the leaks), and the next
 * creation works. */
START_TEST (test_enomem)
{
    testutil_watchdog (10);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = new_observer (ctx, NULL, NULL, 0);
    zmqobs_label_t a1[] = {{"a", "1"}}, a2[] = {{"a", "2"}};
    for (long at = 1; at <= 2; at++) {
        zmqobs__alloc_fail_at = at;
        zmqobs__alloc_count = 0;
        EXPECT_ERRNO (zmqobs_histogram_new (obs, "h", "h", a1, 1, NULL, 0), ENOMEM);
        zmqobs__alloc_fail_at = 0;
        ck_assert_uint_eq (obs->app_count, 0);
        ck_assert (zmqobs__dl_empty (&obs->app_families));
    }
    zmqobs_metric_t *h = zmqobs_histogram_new (obs, "h", "h", a1, 1, NULL, 0);
    ck_assert_ptr_nonnull (h);
    /* a second series of the family needs one allocation */
    zmqobs__alloc_fail_at = 1;
    zmqobs__alloc_count = 0;
    EXPECT_ERRNO (zmqobs_histogram_new (obs, "h", "h", a2, 1, NULL, 0), ENOMEM);
    zmqobs__alloc_fail_at = 0;
    ck_assert_uint_eq (obs->app_count, 1);
    zmqobs_metric_t *h2 = zmqobs_histogram_new (obs, "h", "h", a2, 1, NULL, 0);
    ck_assert_ptr_nonnull (h2);
    ck_assert_uint_eq (obs->app_count, 2);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* ------------------------------------------------------------------------
 * Threads
 * ---------------------------------------------------------------------- */

#define WRITERS 4

typedef struct {
    zmqobs_metric_t *c, *g, *h, *set;
    long n;
    int id;
} writer_arg_t;

static void *writer_main (void *arg)
{
    writer_arg_t *w = arg;
    static const double vals[4] = {0.5, 1, 2, 4};
    for (long i = 0; i < w->n; i++) {
        zmqobs_counter_add (w->c, 1);
        zmqobs_gauge_add (w->g, 1.0);
        zmqobs_histogram_observe (w->h, vals[i % 4]);
        zmqobs_gauge_set (w->set, (double) w->id);
    }
    return NULL;
}

typedef struct {
    zmqobs_t *obs;
    int stop;
    long scrapes;
    long bad; /* scrapes where +Inf and _count disagreed */
} scraper_arg_t;

static uint64_t value_after (const char *out, const char *key)
{
    const char *p = strstr (out, key);
    return p ? strtoull (p + strlen (key), NULL, 10) : UINT64_MAX;
}

/* Scrapes every format while the writers run, and checks that each
 * histogram scrape agrees with itself; creates and destroys a metric
 * meanwhile. No Check assertion here: the main thread asserts. */
static void *scraper_main (void *arg)
{
    scraper_arg_t *s = arg;
    static char buf[1 << 16];
    while (!__atomic_load_n (&s->stop, __ATOMIC_ACQUIRE)) {
        for (int fmt = 0; fmt < 4; fmt++)
            zmqobs_format (s->obs, (zmqobs_format_t) fmt, buf, sizeof buf);
        zmqobs_format (s->obs, ZMQOBS_FORMAT_PROMETHEUS, buf, sizeof buf);
        if (value_after (buf, "conc_wait_bucket{le=\"+Inf\"} ")
            != value_after (buf, "\nconc_wait_count "))
            s->bad++;
        zmqobs_metric_t *t = zmqobs_gauge_new (s->obs, "transient", "Comes and goes.", NULL, 0);
        zmqobs_gauge_set (t, 1);
        zmqobs_metric_destroy (&t);
        s->scrapes++;
    }
    return NULL;
}

START_TEST (test_concurrent_updates)
{
    testutil_watchdog (120);
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = new_observer (ctx, NULL, NULL, 0);
    static const double bounds[] = {1, 2, 3};
    zmqobs_metric_t *c = zmqobs_counter_new (obs, "conc", "Adds.", NULL, 0);
    zmqobs_metric_t *g = zmqobs_gauge_new (obs, "conc_level", "Adds.", NULL, 0);
    zmqobs_metric_t *h = zmqobs_histogram_new (obs, "conc_wait", "Observes.", NULL, 0, bounds, 3);
    zmqobs_metric_t *set = zmqobs_gauge_new (obs, "conc_last", "Sets.", NULL, 0);
    ck_assert_ptr_nonnull (c);
    ck_assert_ptr_nonnull (g);
    ck_assert_ptr_nonnull (h);
    ck_assert_ptr_nonnull (set);
    long n = getenv ("ZMQOBS_UNDER_VALGRIND") ? 4000 : 100000;
    scraper_arg_t sa = {.obs = obs};
    pthread_t scraper, th[WRITERS];
    writer_arg_t wa[WRITERS];
    ck_assert_int_eq (pthread_create (&scraper, NULL, scraper_main, &sa), 0);
    for (int i = 0; i < WRITERS; i++) {
        wa[i] = (writer_arg_t) {.c = c, .g = g, .h = h, .set = set, .n = n, .id = i + 1};
        ck_assert_int_eq (pthread_create (&th[i], NULL, writer_main, &wa[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join (th[i], NULL);
    __atomic_store_n (&sa.stop, 1, __ATOMIC_RELEASE);
    pthread_join (scraper, NULL);
    ck_assert_int_gt (sa.scrapes, 0);
    ck_assert_int_eq (sa.bad, 0);

    /* exact totals: 0.5 and 1 in le=1, 2 in le=2, 4 in +Inf; every
     * partial sum is a multiple of 0.5 far below 2^53, so exact */
    long total = WRITERS * n;
    char want[2048];
    snprintf (want, sizeof want,
              "# HELP conc_total Adds.\n# TYPE conc_total counter\nconc_total %ld\n"
              "# HELP conc_level Adds.\n# TYPE conc_level gauge\nconc_level %ld\n"
              "# HELP conc_wait Observes.\n# TYPE conc_wait histogram\n"
              "conc_wait_bucket{le=\"1\"} %ld\nconc_wait_bucket{le=\"2\"} %ld\n"
              "conc_wait_bucket{le=\"3\"} %ld\nconc_wait_bucket{le=\"+Inf\"} %ld\n"
              "conc_wait_sum %ld\nconc_wait_count %ld\n"
              "# HELP conc_last Sets.\n# TYPE conc_last gauge\nconc_last ",
              total, total, total / 2, total * 3 / 4, total * 3 / 4, total,
              (long) ((double) total / 4 * 7.5), total);
    char *out = format_all (obs, ZMQOBS_FORMAT_PROMETHEUS);
    const char *app = tail_from (out, "# HELP conc_total");
    ck_assert_msg (strncmp (app, want, strlen (want)) == 0, "got:\n%s\nwant:\n%s", app, want);
    int last = atoi (app + strlen (want));
    ck_assert_int_ge (last, 1);
    ck_assert_int_le (last, WRITERS);
    free (out);
    ck_assert_uint_eq (obs->app_count, 4);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
}
END_TEST

/* ------------------------------------------------------------------------
 * No allocation per scrape or per update
 * ---------------------------------------------------------------------- */

START_TEST (test_no_allocation)
{
    testutil_watchdog (30);
    app_t a;
    app_setup (&a);
    zmqobs_metric_t *g = zmqobs_gauge_new (a.obs, "odd", "Odd values.", NULL, 0);
    ck_assert_ptr_nonnull (g);
    static char buf[1 << 16];
    static const double odd[] = {0.1, 1e300, 5e-324, NAN, 1.0 / 3, -123456789.125};
    for (int fmt = 0; fmt < 4; fmt++)
        ck_assert_int_gt (zmqobs_format (a.obs, (zmqobs_format_t) fmt, buf, sizeof buf), 0);
    long before = zmqobs__alloc_count;
#if COUNT_ALLOCS
    counting = 1;
    allocs = 0;
#endif
    int bad = 0;
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        bad += zmqobs_gauge_set (g, odd[i]) != 0;
        bad += zmqobs_gauge_add (a.temp, odd[i]) != 0;
        bad += zmqobs_counter_add (a.jobs_sms, 1) != 0;
        bad += zmqobs_histogram_observe (a.wait, (double) i) != 0;
        for (int fmt = 0; fmt < 4; fmt++) {
            bad += zmqobs_format (a.obs, (zmqobs_format_t) fmt, buf, sizeof buf) <= 0;
            bad += zmqobs_format (a.obs, (zmqobs_format_t) fmt, NULL, 0) <= 0;
        }
    }
#if COUNT_ALLOCS
    counting = 0;
    ck_assert_int_eq (allocs, 0);
#endif
    ck_assert_int_eq (bad, 0);
    ck_assert_int_eq (zmqobs__alloc_count, before);
    app_teardown (&a);
}
END_TEST

/* ------------------------------------------------------------------------
 * HTTP
 * ---------------------------------------------------------------------- */

/* GET path with Connection: close; returns the whole response. */
static char *http_get (int port, const char *accept)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge (fd, 0);
    struct timeval tv = {.tv_sec = (time_t) testutil_scaled (10)};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    ck_assert_int_eq (connect (fd, (struct sockaddr *) &sa, sizeof sa), 0);
    char req[512];
    int n = snprintf (req, sizeof req,
                      "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: %s\r\n"
                      "Connection: close\r\n\r\n",
                      accept);
    ck_assert_int_eq (send (fd, req, (size_t) n, MSG_NOSIGNAL), n);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc (cap);
    ck_assert_ptr_nonnull (buf);
    for (;;) {
        if (len + 1 == cap) {
            cap *= 2;
            buf = realloc (buf, cap);
            ck_assert_ptr_nonnull (buf);
        }
        ssize_t r = recv (fd, buf + len, cap - 1 - len, 0);
        ck_assert_int_ge (r, 0); /* a timeout fails the test */
        if (r == 0)
            break;
        len += (size_t) r;
    }
    buf[len] = '\0';
    close (fd);
    return buf;
}

START_TEST (test_http_metrics)
{
    testutil_watchdog (60);
    app_t a;
    app_setup (&a);
    ck_assert_int_eq (zmqobs_serve (a.obs, "tcp://127.0.0.1:0"), 0);
    int port = zmqobs_serve_port (a.obs);
    ck_assert_int_gt (port, 0);
    char *resp = http_get (port, "text/plain");
    ck_assert_msg (strncmp (resp, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", resp);
    ck_assert_ptr_nonnull (strstr (resp, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    ck_assert_str_eq (tail_from (resp, "# HELP myapp_jobs_total"), want_prom);
    free (resp);
    resp = http_get (port, "application/openmetrics-text; version=1.0.0");
    ck_assert_msg (strncmp (resp, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", resp);
    ck_assert_str_eq (tail_from (resp, "# TYPE myapp_jobs counter"), want_om);
    free (resp);
    /* a metric made while serving is in the next scrape, a destroyed one
     * is gone */
    zmqobs_metric_t *g = zmqobs_gauge_new (a.obs, "late", "Made late.", NULL, 0);
    ck_assert_int_eq (zmqobs_gauge_set (g, 7), 0);
    zmqobs_metric_destroy (&a.temp);
    resp = http_get (port, "text/plain");
    ck_assert_ptr_nonnull (strstr (resp, "\nmyapp_late{service=\"api\"} 7\n"));
    ck_assert_ptr_null (strstr (resp, "temperature"));
    free (resp);
    ck_assert_int_eq (zmqobs_serve_stop (a.obs), 0);
    app_teardown (&a);
}
END_TEST

int main (void)
{
    Suite *suite = suite_create ("appmetric");
    TCase *tc = testutil_tcase (suite, "output", 60);
    tcase_add_test (tc, test_exact_output);
    tcase_add_test (tc, test_truncation);
    tcase_add_test (tc, test_order_with_sockets_and_process);
    tcase_add_test (tc, test_empty);
    tcase_add_test (tc, test_special_values);
    tcase_add_test (tc, test_fmt_double);
    tcase_add_test (tc, test_comma_locale);
    tcase_add_test (tc, test_hostile_escaping);
    tcase_add_test (tc, test_validators);
    tc = testutil_tcase (suite, "errors", 30);
    tcase_add_test (tc, test_invalid_names);
    tcase_add_test (tc, test_invalid_labels);
    tcase_add_test (tc, test_invalid_bounds);
    tcase_add_test (tc, test_families);
    tcase_add_test (tc, test_update_errors);
    tcase_add_test (tc, test_bucket_search);
    tcase_add_test (tc, test_enospc);
    tcase_add_test (tc, test_enomem);
    tc = testutil_tcase (suite, "threads", 120);
    tcase_add_test (tc, test_concurrent_updates);
    tcase_add_test (tc, test_no_allocation);
    tc = testutil_tcase (suite, "http", 60);
    tcase_add_test (tc, test_http_metrics);
    return testutil_run (suite);
}
