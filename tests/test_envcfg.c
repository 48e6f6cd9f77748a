/*
 * test_envcfg.c - configuration from the environment (src/envcfg.c) and
 * the options it fills (service, event_log in src/observer.c):
 *   - zmqobs_options_from_env: every variable with valid and invalid
 *     values, the exact messages and errno, precedence over what the
 *     caller set, opts unchanged on failure, which problem is reported
 *     first, snprintf semantics of err, NULL arguments;
 *   - zmqobs_serve_from_env: tcp://127.0.0.1:0, off, unset, garbage, a
 *     port in use, serving twice;
 *   - options.service in the exposition, options.event_log writing exact
 *     JSON lines for bind events to a file (appended), and to stderr, and
 *     the file closed by zmqobs_destroy (also when zmqobs_new fails).
 * Every test starts with no ZMQOBS_* variable set (a checked fixture, so
 * it holds with CK_FORK=no too).
 *
 * SPDX-License-Identifier: MIT
 */
#include "envcfg.h"
#include "internal.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

static const char *const vars[] = {"ZMQOBS_METRICS_ADDR", "ZMQOBS_SERVICE", "ZMQOBS_SAMPLE_EVERY",
                                   "ZMQOBS_EVENT_LOG"};

static void clear_env (void)
{
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv (vars[i]);
}

static void set (const char *name, const char *value)
{
    ck_assert_int_eq (setenv (name, value, 1), 0);
}

#define ADDR_SYNTAX \
    "off or tcp://HOST:PORT (HOST an IPv4 address, localhost, * or [IPv6]; PORT 0..65535 or *)"

/* Runs zmqobs_options_from_env on a defaults-initialised struct that
 * must come out unchanged, and checks the failure: -1, errno, message. */
static void expect_fail (int want_errno, const char *want_msg)
{
    zmqobs_options_t opts, before;
    zmqobs_options_init (&opts);
    before = opts;
    char err[512];
    memset (err, 'x', sizeof err);
    errno = 0;
    ck_assert_int_eq (zmqobs_options_from_env (&opts, err, sizeof err), -1);
    ck_assert_int_eq (errno, want_errno);
    ck_assert_str_eq (err, want_msg);
    ck_assert_ptr_null (strchr (err, '\n'));
    ck_assert_int_eq (memcmp (&opts, &before, sizeof opts), 0);
}

/* Runs it expecting success; returns the options. */
static zmqobs_options_t expect_ok (void)
{
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    char err[512];
    memset (err, 'x', sizeof err);
    ck_assert_int_eq (zmqobs_options_from_env (&opts, err, sizeof err), 0);
    ck_assert_str_eq (err, "");
    return opts;
}

/* ------------------------------------------------------------------------
 * zmqobs_options_from_env
 * ---------------------------------------------------------------------- */

START_TEST (test_nothing_set)
{
    zmqobs_options_t opts, before;
    zmqobs_options_init (&opts);
    opts.latency_sample_every = 3;
    opts.service = "mine";
    opts.event_log = "mine.log";
    before = opts;
    char err[16] = "junk";
    ck_assert_int_eq (zmqobs_options_from_env (&opts, err, sizeof err), 0);
    ck_assert_str_eq (err, "");
    ck_assert_int_eq (memcmp (&opts, &before, sizeof opts), 0);
    /* defaults of the two new fields */
    zmqobs_options_init (&opts);
    ck_assert_ptr_null (opts.service);
    ck_assert_ptr_null (opts.event_log);
}
END_TEST

START_TEST (test_service_valid)
{
    const char *values[] = {"svc \"q\"", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "a", NULL};
    char max[ZMQOBS__ENV_SERVICE_MAX + 1];
    memset (max, 's', ZMQOBS__ENV_SERVICE_MAX);
    max[ZMQOBS__ENV_SERVICE_MAX] = '\0';
    values[3] = max;
    for (size_t i = 0; i < 4; i++) {
        set ("ZMQOBS_SERVICE", values[i]);
        zmqobs_options_t opts = expect_ok ();
        ck_assert_str_eq (opts.service, values[i]);
        /* getenv's storage, not a copy */
        ck_assert_ptr_eq (opts.service, getenv ("ZMQOBS_SERVICE"));
        ck_assert_uint_eq (opts.latency_sample_every, ZMQOBS_DEFAULT_SAMPLE_EVERY);
        ck_assert_ptr_null (opts.event_log);
    }
}
END_TEST

START_TEST (test_service_invalid)
{
    set ("ZMQOBS_SERVICE", "");
    expect_fail (EINVAL, "ZMQOBS_SERVICE: empty value; must be 1 to 128 bytes of printable UTF-8");
    char big[ZMQOBS__ENV_SERVICE_MAX + 2];
    memset (big, 's', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    set ("ZMQOBS_SERVICE", big);
    expect_fail (EINVAL, "ZMQOBS_SERVICE: 129 bytes is too long; must be 1 to 128 bytes of "
                         "printable UTF-8");
    struct {
        const char *value, *quoted;
    } bad[] = {
        {"a\tb", "'a\\x09b'"},
        {"bad\xff", "'bad\\xff'"},
        {"del\x7f", "'del\\x7f'"},
        {"new\nline", "'new\\x0aline'"},
        {"\xc0\xaf", "'\\xc0\\xaf'"},          /* overlong */
        {"\xed\xa0\x80", "'\\xed\\xa0\\x80'"}, /* surrogate */
        {"cut\xc3", "'cut\\xc3'"},             /* truncated sequence */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        set ("ZMQOBS_SERVICE", bad[i].value);
        char want[256];
        snprintf (want, sizeof want,
                  "ZMQOBS_SERVICE: %s is not printable UTF-8; must be 1 to 128 bytes of "
                  "printable UTF-8",
                  bad[i].quoted);
        expect_fail (EINVAL, want);
    }
}
END_TEST

START_TEST (test_sample_every_valid)
{
    struct {
        const char *text;
        uint32_t value;
    } ok[] = {{"1", 1}, {"16", 16}, {"007", 7}, {"1000000", 1000000}, {"off", ZMQOBS_SAMPLE_NEVER}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        set ("ZMQOBS_SAMPLE_EVERY", ok[i].text);
        zmqobs_options_t opts = expect_ok ();
        ck_assert_uint_eq (opts.latency_sample_every, ok[i].value);
        ck_assert_ptr_null (opts.service);
    }
}
END_TEST

START_TEST (test_sample_every_invalid)
{
    set ("ZMQOBS_SAMPLE_EVERY", "");
    expect_fail (EINVAL,
                 "ZMQOBS_SAMPLE_EVERY: empty value; expected a number from 1 to 1000000 or off");
    const char *not_number[][2] = {
        {"12x", "'12x'"},   {" 5", "' 5'"},   {"5 ", "'5 '"},
        {"-1", "'-1'"},     {"+5", "'+5'"},   {"OFF", "'OFF'"},
        {"0x10", "'0x10'"}, {"1e3", "'1e3'"}, {"1,000", "'1,000'"},
    };
    for (size_t i = 0; i < sizeof not_number / sizeof not_number[0]; i++) {
        set ("ZMQOBS_SAMPLE_EVERY", not_number[i][0]);
        char want[256];
        snprintf (want, sizeof want,
                  "ZMQOBS_SAMPLE_EVERY: %s is not a whole number from 1 to 1000000 or off",
                  not_number[i][1]);
        expect_fail (EINVAL, want);
    }
    set ("ZMQOBS_SAMPLE_EVERY", "0");
    expect_fail (EINVAL, "ZMQOBS_SAMPLE_EVERY: 0 is out of range (1 to 1000000)");
    set ("ZMQOBS_SAMPLE_EVERY", "1000001");
    expect_fail (EINVAL, "ZMQOBS_SAMPLE_EVERY: 1000001 is out of range (1 to 1000000)");
    set ("ZMQOBS_SAMPLE_EVERY", "18446744073709551615"); /* UINT64_MAX still fits */
    expect_fail (EINVAL,
                 "ZMQOBS_SAMPLE_EVERY: 18446744073709551615 is out of range (1 to 1000000)");
    set ("ZMQOBS_SAMPLE_EVERY", "18446744073709551616");
    expect_fail (EINVAL,
                 "ZMQOBS_SAMPLE_EVERY: '18446744073709551616' is too large (at most 1000000)");
    set ("ZMQOBS_SAMPLE_EVERY", "99999999999999999999999");
    expect_fail (EINVAL,
                 "ZMQOBS_SAMPLE_EVERY: '99999999999999999999999' is too large (at most 1000000)");
    /* a non-digit anywhere wins over the size */
    set ("ZMQOBS_SAMPLE_EVERY", "99999999999999999999999x");
    expect_fail (EINVAL, "ZMQOBS_SAMPLE_EVERY: '99999999999999999999999x' is not a whole number "
                         "from 1 to 1000000 or off");
}
END_TEST

START_TEST (test_long_values_are_cut)
{
    /* 100 bytes: the message quotes the first 64, then "..." */
    char v[101];
    memset (v, 'x', 100);
    v[100] = '\0';
    set ("ZMQOBS_SAMPLE_EVERY", v);
    char want[256];
    snprintf (want, sizeof want,
              "ZMQOBS_SAMPLE_EVERY: '%.64s...' is not a whole number from 1 to 1000000 or off", v);
    expect_fail (EINVAL, want);
    /* exactly 64: no "..." */
    v[64] = '\0';
    set ("ZMQOBS_SAMPLE_EVERY", v);
    snprintf (want, sizeof want,
              "ZMQOBS_SAMPLE_EVERY: '%s' is not a whole number from 1 to 1000000 or off", v);
    expect_fail (EINVAL, want);

    /* the quoting itself, with snprintf semantics */
    char q[16];
    ck_assert_uint_eq (zmqobs__env_quote (q, sizeof q, "it's a\\b"), 16);
    ck_assert_str_eq (q, "'it\\x27s a\\x5cb");
    char full[32];
    ck_assert_uint_eq (zmqobs__env_quote (full, sizeof full, "it's a\\b"), 16);
    ck_assert_str_eq (full, "'it\\x27s a\\x5cb'");
    ck_assert_uint_eq (zmqobs__env_quote (NULL, 0, "abc"), 5);
    ck_assert_uint_eq (zmqobs__env_quote (full, sizeof full, NULL), 2);
    ck_assert_str_eq (full, "''");
}
END_TEST

START_TEST (test_event_log_valid)
{
    set ("ZMQOBS_EVENT_LOG", "-");
    zmqobs_options_t opts = expect_ok ();
    ck_assert_str_eq (opts.event_log, "-");
    ck_assert_ptr_eq (opts.event_log, getenv ("ZMQOBS_EVENT_LOG"));

    /* a file is created (empty), or appended to: never truncated */
    char dir[256], path[512];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    snprintf (path, sizeof path, "%s/events.jsonl", dir);
    set ("ZMQOBS_EVENT_LOG", path);
    opts = expect_ok ();
    ck_assert_str_eq (opts.event_log, path);
    struct stat st;
    ck_assert_int_eq (stat (path, &st), 0);
    ck_assert (S_ISREG (st.st_mode));
    ck_assert_int_eq (st.st_size, 0);
    FILE *f = fopen (path, "w");
    ck_assert_ptr_nonnull (f);
    fputs ("kept\n", f);
    fclose (f);
    opts = expect_ok ();
    ck_assert_int_eq (stat (path, &st), 0);
    ck_assert_int_eq (st.st_size, 5);

    /* a FIFO without a reader is not opened (that would block) */
    testutil_watchdog (20);
    char fifo[512];
    snprintf (fifo, sizeof fifo, "%s/fifo", dir);
    ck_assert_int_eq (mkfifo (fifo, 0600), 0);
    set ("ZMQOBS_EVENT_LOG", fifo);
    opts = expect_ok ();
    ck_assert_str_eq (opts.event_log, fifo);
    alarm (0);

    unlink (fifo);
    unlink (path);
    rmdir (dir);
}
END_TEST

START_TEST (test_event_log_invalid)
{
    set ("ZMQOBS_EVENT_LOG", "");
    expect_fail (EINVAL, "ZMQOBS_EVENT_LOG: empty value; expected a file path or - for stderr");

    char dir[256], path[512], want[1024];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    snprintf (path, sizeof path, "%s/no/such/dir/log", dir);
    set ("ZMQOBS_EVENT_LOG", path);
    snprintf (want, sizeof want,
              "ZMQOBS_EVENT_LOG: cannot open '%s' for appending: No such file or directory", path);
    expect_fail (ENOENT, want);

    set ("ZMQOBS_EVENT_LOG", dir);
    snprintf (want, sizeof want, "ZMQOBS_EVENT_LOG: cannot open '%s' for appending: Is a directory",
              dir);
    expect_fail (EISDIR, want);

    char file[512];
    snprintf (file, sizeof file, "%s/file", dir);
    FILE *f = fopen (file, "w");
    ck_assert_ptr_nonnull (f);
    fclose (f);
    snprintf (path, sizeof path, "%s/file/log", dir);
    set ("ZMQOBS_EVENT_LOG", path);
    snprintf (want, sizeof want,
              "ZMQOBS_EVENT_LOG: cannot open '%s' for appending: Not a directory", path);
    expect_fail (ENOTDIR, want);

    /* nothing was created by the failed attempts */
    DIR *d = opendir (dir);
    ck_assert_ptr_nonnull (d);
    int entries = 0;
    for (struct dirent *e; (e = readdir (d));)
        if (strcmp (e->d_name, ".") != 0 && strcmp (e->d_name, "..") != 0)
            entries++;
    closedir (d);
    ck_assert_int_eq (entries, 1);
    unlink (file);
    rmdir (dir);
}
END_TEST

START_TEST (test_metrics_addr)
{
    const char *ok[] = {"off",
                        "tcp://127.0.0.1:0",
                        "tcp://127.0.0.1:*",
                        "tcp://*:9464",
                        "tcp://0.0.0.0:65535",
                        "tcp://localhost:1",
                        "tcp://[::1]:9464"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        set ("ZMQOBS_METRICS_ADDR", ok[i]);
        zmqobs_options_t opts = expect_ok (), defaults;
        zmqobs_options_init (&defaults);
        /* checked only: nothing in the options */
        ck_assert_int_eq (memcmp (&opts, &defaults, sizeof opts), 0);
    }
    set ("ZMQOBS_METRICS_ADDR", "");
    expect_fail (EINVAL, "ZMQOBS_METRICS_ADDR: empty value; expected " ADDR_SYNTAX);
    const char *bad[] = {"http://x",
                         "tcp://127.0.0.1:65536",
                         "tcp://127.0.0.1:80x",
                         "tcp://example.com:80",
                         "tcp://127.0.0.1",
                         "tcp://:80",
                         "tcp://[::1:80",
                         "OFF",
                         "off ",
                         "tcp://127.0.0.1:-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        set ("ZMQOBS_METRICS_ADDR", bad[i]);
        char want[512];
        snprintf (want, sizeof want, "ZMQOBS_METRICS_ADDR: '%s' is not " ADDR_SYNTAX, bad[i]);
        expect_fail (EINVAL, want);
    }
}
END_TEST

START_TEST (test_precedence)
{
    zmqobs_label_t labels[1] = {{"team", "core"}};
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    opts.latency_sample_every = 1;
    opts.service = "from-code";
    opts.event_log = "code.log";
    opts.labels = labels;
    opts.label_count = 1;
    opts.ring_capacity = 64;
    char err[256];

    /* only what is set overrides */
    set ("ZMQOBS_SAMPLE_EVERY", "off");
    ck_assert_int_eq (zmqobs_options_from_env (&opts, err, sizeof err), 0);
    ck_assert_uint_eq (opts.latency_sample_every, ZMQOBS_SAMPLE_NEVER);
    ck_assert_str_eq (opts.service, "from-code");
    ck_assert_str_eq (opts.event_log, "code.log");

    set ("ZMQOBS_SERVICE", "from-env");
    set ("ZMQOBS_EVENT_LOG", "-");
    set ("ZMQOBS_SAMPLE_EVERY", "5");
    ck_assert_int_eq (zmqobs_options_from_env (&opts, err, sizeof err), 0);
    ck_assert_str_eq (opts.service, "from-env");
    ck_assert_str_eq (opts.event_log, "-");
    ck_assert_uint_eq (opts.latency_sample_every, 5);
    /* the rest is the caller's */
    ck_assert_ptr_eq (opts.labels, labels);
    ck_assert_uint_eq (opts.label_count, 1);
    ck_assert_uint_eq (opts.ring_capacity, 64);
    ck_assert_uint_eq (opts.events, ZMQ_EVENT_ALL);
}
END_TEST

START_TEST (test_first_problem_and_no_partial_update)
{
    /* valid variables before an invalid one are not applied either */
    set ("ZMQOBS_SERVICE", "ok");
    set ("ZMQOBS_SAMPLE_EVERY", "2");
    set ("ZMQOBS_EVENT_LOG", "");
    expect_fail (EINVAL, "ZMQOBS_EVENT_LOG: empty value; expected a file path or - for stderr");
    /* order: METRICS_ADDR, SERVICE, SAMPLE_EVERY, EVENT_LOG */
    set ("ZMQOBS_SAMPLE_EVERY", "x");
    expect_fail (EINVAL, "ZMQOBS_SAMPLE_EVERY: 'x' is not a whole number from 1 to 1000000 or off");
    set ("ZMQOBS_SERVICE", "");
    expect_fail (EINVAL, "ZMQOBS_SERVICE: empty value; must be 1 to 128 bytes of printable UTF-8");
    set ("ZMQOBS_METRICS_ADDR", "x");
    expect_fail (EINVAL, "ZMQOBS_METRICS_ADDR: 'x' is not " ADDR_SYNTAX);

    /* a syntax error elsewhere: the log file is not created */
    char dir[256], path[512];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    snprintf (path, sizeof path, "%s/log", dir);
    set ("ZMQOBS_EVENT_LOG", path);
    expect_fail (EINVAL, "ZMQOBS_METRICS_ADDR: 'x' is not " ADDR_SYNTAX);
    ck_assert_int_eq (access (path, F_OK), -1);
    ck_assert_int_eq (rmdir (dir), 0);
}
END_TEST

START_TEST (test_err_buffer)
{
    set ("ZMQOBS_SAMPLE_EVERY", "0");
    const char *msg = "ZMQOBS_SAMPLE_EVERY: 0 is out of range (1 to 1000000)";
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    /* too small: truncated and terminated, like snprintf */
    char err[11];
    memset (err, 'x', sizeof err);
    ck_assert_int_eq (zmqobs_options_from_env (&opts, err, 10), -1);
    ck_assert_int_eq (errno, EINVAL);
    ck_assert_str_eq (err, "ZMQOBS_SA");
    ck_assert_int_eq (err[10], 'x');
    memset (err, 'x', sizeof err);
    ck_assert_int_eq (zmqobs_options_from_env (&opts, err, 1), -1);
    ck_assert_str_eq (err, "");
    ck_assert_int_eq (err[1], 'x');
    /* exactly the message's length plus the NUL */
    char exact[128];
    size_t n = strlen (msg);
    memset (exact, 'x', sizeof exact);
    ck_assert_int_eq (zmqobs_options_from_env (&opts, exact, n + 1), -1);
    ck_assert_str_eq (exact, msg);
    memset (exact, 'x', sizeof exact);
    ck_assert_int_eq (zmqobs_options_from_env (&opts, exact, n), -1);
    ck_assert_uint_eq (strlen (exact), n - 1);
    ck_assert_int_eq (strncmp (exact, msg, n - 1), 0);
    /* (NULL, 0): no message, same result */
    errno = 0;
    ck_assert_int_eq (zmqobs_options_from_env (&opts, NULL, 0), -1);
    ck_assert_int_eq (errno, EINVAL);
    /* success with (NULL, 0) */
    set ("ZMQOBS_SAMPLE_EVERY", "9");
    ck_assert_int_eq (zmqobs_options_from_env (&opts, NULL, 0), 0);
    ck_assert_uint_eq (opts.latency_sample_every, 9);
    /* a message for an error whose errno is not EINVAL, cut short */
    set ("ZMQOBS_EVENT_LOG", "/nonexistent-zmqobs-dir/log");
    memset (err, 'x', sizeof err);
    ck_assert_int_eq (zmqobs_options_from_env (&opts, err, sizeof err), -1);
    ck_assert_int_eq (errno, ENOENT);
    ck_assert_str_eq (err, "ZMQOBS_EVE");
}
END_TEST

START_TEST (test_null_arguments)
{
    char err[128] = "junk";
    errno = 0;
    ck_assert_int_eq (zmqobs_options_from_env (NULL, err, sizeof err), -1);
    ck_assert_int_eq (errno, EINVAL);
    ck_assert_str_eq (err, "zmqobs_options_from_env: opts is NULL");
    errno = 0;
    ck_assert_int_eq (zmqobs_options_from_env (NULL, NULL, 0), -1);
    ck_assert_int_eq (errno, EINVAL);
    /* err NULL with a size: refused before anything is read or changed */
    set ("ZMQOBS_SAMPLE_EVERY", "4");
    zmqobs_options_t opts, before;
    zmqobs_options_init (&opts);
    before = opts;
    errno = 0;
    ck_assert_int_eq (zmqobs_options_from_env (&opts, NULL, 8), -1);
    ck_assert_int_eq (errno, EINVAL);
    ck_assert_int_eq (memcmp (&opts, &before, sizeof opts), 0);
    errno = 0;
    ck_assert_int_eq (zmqobs_serve_from_env (NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
    set ("ZMQOBS_METRICS_ADDR", "tcp://127.0.0.1:0");
    errno = 0;
    ck_assert_int_eq (zmqobs_serve_from_env (NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
}
END_TEST

/* ------------------------------------------------------------------------
 * zmqobs_serve_from_env
 * ---------------------------------------------------------------------- */

/* 1 when a TCP connection to 127.0.0.1:port succeeds. */
static int can_connect (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge (fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    int ok = connect (fd, (struct sockaddr *) &a, sizeof a) == 0;
    close (fd);
    return ok;
}

static void serve_from_env (int host_driven)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    opts.host_driven = host_driven;
    zmqobs_t *obs = zmqobs_new (ctx, &opts);
    ck_assert_ptr_nonnull (obs);

    /* unset and off: nothing served */
    ck_assert_int_eq (zmqobs_serve_from_env (obs), 0);
    set ("ZMQOBS_METRICS_ADDR", "off");
    ck_assert_int_eq (zmqobs_serve_from_env (obs), 0);
    ck_assert_int_eq (zmqobs_serve_port (obs), -1);
    ck_assert_int_eq (errno, ENOTCONN);

    /* garbage: EINVAL, still not serving */
    const char *bad[] = {"", "garbage", "tcp://127.0.0.1:80x", "OFF", "tcp://example.com:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        set ("ZMQOBS_METRICS_ADDR", bad[i]);
        errno = 0;
        ck_assert_int_eq (zmqobs_serve_from_env (obs), -1);
        ck_assert_int_eq (errno, EINVAL);
        ck_assert_int_eq (zmqobs_serve_port (obs), -1);
    }

    /* a port someone else listens on: zmqobs_serve's EADDRINUSE */
    int lfd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    ck_assert_int_eq (bind (lfd, (struct sockaddr *) &a, sizeof a), 0);
    ck_assert_int_eq (listen (lfd, 1), 0);
    ck_assert_int_eq (getsockname (lfd, (struct sockaddr *) &a, &al), 0);
    char addr[64];
    snprintf (addr, sizeof addr, "tcp://127.0.0.1:%d", ntohs (a.sin_port));
    set ("ZMQOBS_METRICS_ADDR", addr);
    errno = 0;
    ck_assert_int_eq (zmqobs_serve_from_env (obs), -1);
    ck_assert_int_eq (errno, EADDRINUSE);
    close (lfd);

    /* port 0: the port picked is returned */
    set ("ZMQOBS_METRICS_ADDR", "tcp://127.0.0.1:0");
    int port = zmqobs_serve_from_env (obs);
    ck_assert_int_gt (port, 0);
    ck_assert_int_le (port, 65535);
    ck_assert_int_eq (zmqobs_serve_port (obs), port);
    ck_assert (can_connect (port));
    /* again: zmqobs_serve's EALREADY; "off" does not stop it */
    errno = 0;
    ck_assert_int_eq (zmqobs_serve_from_env (obs), -1);
    ck_assert_int_eq (errno, EALREADY);
    set ("ZMQOBS_METRICS_ADDR", "off");
    ck_assert_int_eq (zmqobs_serve_from_env (obs), 0);
    ck_assert_int_eq (zmqobs_serve_port (obs), port);
    ck_assert_int_eq (zmqobs_serve_stop (obs), 0);

    /* * for the port works too */
    set ("ZMQOBS_METRICS_ADDR", "tcp://127.0.0.1:*");
    port = zmqobs_serve_from_env (obs);
    ck_assert_int_gt (port, 0);
    ck_assert_int_eq (zmqobs_serve_port (obs), port);

    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}

START_TEST (test_serve_from_env_threaded)
{
    serve_from_env (0);
}
END_TEST

START_TEST (test_serve_from_env_host_driven)
{
    serve_from_env (1);
}
END_TEST

/* ------------------------------------------------------------------------
 * options.service
 * ---------------------------------------------------------------------- */

/* The label part of the first zmq_messages_sent_total line of a pair
 * socket named "s" in a new observer with opts, or NULL if zmqobs_new
 * fails (errno kept). */
static char *series_labels (const zmqobs_options_t *opts, char *out, size_t size)
{
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = zmqobs_new (ctx, opts);
    if (!obs) {
        int err = errno;
        zmq_ctx_term (ctx);
        errno = err;
        return NULL;
    }
    void *sock = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *s = zmqobs_attach (obs, sock, "s");
    ck_assert_ptr_nonnull (s);
    static char text[65536];
    ck_assert_int_gt (zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, text, sizeof text), 0);
    char *line = strstr (text, "\nzmq_messages_sent_total{");
    ck_assert_ptr_nonnull (line);
    line += strlen ("\nzmq_messages_sent_total");
    size_t n = (size_t) (strstr (line, "} ") + 1 - line);
    ck_assert_uint_lt (n, size);
    memcpy (out, line, n);
    out[n] = '\0';
    zmqobs_detach (&s);
    zmq_close (sock);
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
    return out;
}

START_TEST (test_service_label)
{
    testutil_watchdog (30);
    char got[512];
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    opts.no_process_metrics = 1;

    /* from the environment, escaped in the exposition */
    set ("ZMQOBS_SERVICE", "svc \"q\"");
    ck_assert_int_eq (zmqobs_options_from_env (&opts, NULL, 0), 0);
    ck_assert_str_eq (series_labels (&opts, got, sizeof got),
                      "{socket=\"s\",type=\"PAIR\",service=\"svc \\\"q\\\"\"}");

    /* after the caller's labels */
    zmqobs_label_t two[2] = {{"team", "core"}, {"zone", "b"}};
    opts.labels = two;
    opts.label_count = 2;
    ck_assert_str_eq (series_labels (&opts, got, sizeof got),
                      "{socket=\"s\",type=\"PAIR\",team=\"core\",zone=\"b\",service=\"svc "
                      "\\\"q\\\"\"}");
    /* in place of a label named service */
    zmqobs_label_t with[2] = {{"service", "old"}, {"team", "core"}};
    opts.labels = with;
    ck_assert_str_eq (series_labels (&opts, got, sizeof got),
                      "{socket=\"s\",type=\"PAIR\",service=\"svc \\\"q\\\"\",team=\"core\"}");
    /* NULL or "": the labels alone */
    opts.service = "";
    ck_assert_str_eq (series_labels (&opts, got, sizeof got),
                      "{socket=\"s\",type=\"PAIR\",service=\"old\",team=\"core\"}");
    opts.service = NULL;
    opts.label_count = 0;
    ck_assert_str_eq (series_labels (&opts, got, sizeof got), "{socket=\"s\",type=\"PAIR\"}");

    /* at most ZMQOBS_LABELS_MAX in all */
    zmqobs_label_t many[ZMQOBS_LABELS_MAX];
    char names[ZMQOBS_LABELS_MAX][8];
    for (unsigned i = 0; i < ZMQOBS_LABELS_MAX; i++) {
        names[i][0] = 'l';
        names[i][1] = (char) ('0' + i);
        names[i][2] = '\0';
        many[i] = (zmqobs_label_t) {names[i], "v"};
    }
    opts.labels = many;
    opts.label_count = ZMQOBS_LABELS_MAX - 1;
    opts.service = "x";
    ck_assert_ptr_nonnull (series_labels (&opts, got, sizeof got));
    ck_assert_ptr_nonnull (strstr (got, ",l6=\"v\",service=\"x\"}"));
    opts.label_count = ZMQOBS_LABELS_MAX;
    errno = 0;
    ck_assert_ptr_null (series_labels (&opts, got, sizeof got));
    ck_assert_int_eq (errno, EINVAL);
    /* ... unless it replaces one */
    snprintf (names[3], sizeof names[3], "service");
    ck_assert_ptr_nonnull (series_labels (&opts, got, sizeof got));
    ck_assert_ptr_nonnull (strstr (got, ",l2=\"v\",service=\"x\",l4=\"v\","));
    /* not UTF-8: EINVAL */
    opts.label_count = 0;
    opts.service = "bad\xff";
    errno = 0;
    ck_assert_ptr_null (series_labels (&opts, got, sizeof got));
    ck_assert_int_eq (errno, EINVAL);
}
END_TEST

/* ------------------------------------------------------------------------
 * options.event_log
 * ---------------------------------------------------------------------- */

/* How many descriptors of this process refer to path. */
static int opened (const char *path)
{
    DIR *d = opendir ("/proc/self/fd");
    ck_assert_ptr_nonnull (d);
    int n = 0;
    for (struct dirent *e; (e = readdir (d));) {
        char link[300], target[1024];
        snprintf (link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink (link, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        n += strcmp (target, path) == 0;
    }
    closedir (d);
    return n;
}

static char *read_file (const char *path)
{
    FILE *f = fopen (path, "r");
    ck_assert_ptr_nonnull (f);
    static char text[8192];
    size_t n = fread (text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose (f);
    return text;
}

/* Checks a line's "ts" (a UTC time between t0 and t1, whole seconds,
 * with milliseconds) and, when value_fd is set, that its "value" is a
 * descriptor number; rewrites both to fixed text ("TS", 0) so the line
 * can be compared exactly. */
static void normalise (char *line, time_t t0, time_t t1, int value_fd)
{
    const char *pre = "{\"ts\":\"";
    ck_assert_int_eq (strncmp (line, pre, strlen (pre)), 0);
    char *ts = line + strlen (pre);
    ck_assert_int_eq (strlen (ts) > 25, 1);
    ck_assert_int_eq (ts[24], '"');
    struct tm tm;
    memset (&tm, 0, sizeof tm);
    char *end = strptime (ts, "%Y-%m-%dT%H:%M:%S", &tm);
    ck_assert_ptr_eq (end, ts + 19);
    ck_assert (end[0] == '.' && end[1] >= '0' && end[1] <= '9' && end[2] >= '0' && end[2] <= '9'
               && end[3] >= '0' && end[3] <= '9' && end[4] == 'Z');
    time_t t = timegm (&tm);
    ck_assert_int_ge (t, t0);
    ck_assert_int_le (t, t1);
    memmove (ts + 2, ts + 24, strlen (ts + 24) + 1);
    memcpy (ts, "TS", 2);
    if (value_fd) {
        char *v = strstr (line, "\"value\":");
        ck_assert_ptr_nonnull (v);
        v += strlen ("\"value\":");
        size_t digits = strspn (v, "0123456789");
        ck_assert_uint_ge (digits, 1);
        ck_assert_int_eq (v[digits], ',');
        memmove (v + 1, v + digits, strlen (v + digits) + 1);
        v[0] = '0';
    }
}

static uint64_t event_count (zmqobs_socket_t *s, uint32_t event)
{
    zmqobs_stats_t st;
    ck_assert_int_eq (zmqobs_socket_stats (s, &st), 0);
    return st.events[zmqobs__event_bit (event)];
}

/* A host-driven observer logging to what ZMQOBS_EVENT_LOG says; a socket
 * "srv" binds tcp://127.0.0.1:*, a socket "dup" fails to bind the same
 * port (libzmq closes the new listener's descriptor, then reports the
 * failure); both are detached. Fills the endpoint bound. */
static void bind_events (char *ep, size_t epsize, time_t *t0, time_t *t1)
{
    void *ctx = zmq_ctx_new ();
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    opts.host_driven = 1;
    char err[512];
    ck_assert_msg (zmqobs_options_from_env (&opts, err, sizeof err) == 0, "%s", err);
    ck_assert_ptr_nonnull (opts.event_log);
    *t0 = time (NULL);
    zmqobs_t *obs = zmqobs_new (ctx, &opts);
    ck_assert_ptr_nonnull (obs);
    void *srv = zmq_socket (ctx, ZMQ_REP), *dup = zmq_socket (ctx, ZMQ_REP);
    int zero = 0;
    zmq_setsockopt (srv, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (dup, ZMQ_LINGER, &zero, sizeof zero);
    zmqobs_socket_t *s = zmqobs_attach (obs, srv, "srv");
    zmqobs_socket_t *d = zmqobs_attach (obs, dup, "dup");
    ck_assert_ptr_nonnull (s);
    ck_assert_ptr_nonnull (d);
    ck_assert_int_eq (zmq_bind (srv, "tcp://127.0.0.1:*"), 0);
    ck_assert_int_eq (zmq_getsockopt (srv, ZMQ_LAST_ENDPOINT, ep, &epsize), 0);
    TESTUTIL_PUMP_UNTIL (obs, 1, event_count (s, ZMQ_EVENT_LISTENING) == 1, 10000);
    ck_assert_int_eq (zmq_bind (dup, ep), -1);
    ck_assert_int_eq (errno, EADDRINUSE);
    TESTUTIL_PUMP_UNTIL (obs, 1, event_count (d, ZMQ_EVENT_BIND_FAILED) == 1, 10000);
    zmqobs_detach (&s); /* each logs its MONITOR_STOPPED */
    zmqobs_detach (&d);
    zmqobs_destroy (&obs);
    *t1 = time (NULL);
    zmq_close (srv);
    zmq_close (dup);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}

/* Compares the log (after an optional first line kept from before)
 * with the five lines bind_events produces. */
static void expect_bind_lines (char *text, const char *kept, const char *ep, time_t t0, time_t t1)
{
    if (kept) {
        ck_assert_int_eq (strncmp (text, kept, strlen (kept)), 0);
        text += strlen (kept);
    }
    char want[5][512];
    snprintf (want[0], sizeof want[0],
              "{\"ts\":\"TS\",\"socket\":\"srv\",\"event\":\"LISTENING\",\"value\":0,"
              "\"meaning\":\"fd\",\"endpoint\":\"%s\"}",
              ep);
    snprintf (want[1], sizeof want[1],
              "{\"ts\":\"TS\",\"socket\":\"dup\",\"event\":\"CLOSED\",\"value\":0,"
              "\"meaning\":\"fd\",\"endpoint\":\"\"}");
    snprintf (want[2], sizeof want[2],
              "{\"ts\":\"TS\",\"socket\":\"dup\",\"event\":\"BIND_FAILED\",\"value\":%d,"
              "\"meaning\":\"errno\",\"detail\":\"EADDRINUSE\",\"endpoint\":\"%s\"}",
              EADDRINUSE, ep + strlen ("tcp://")); /* libzmq leaves the scheme out */
    snprintf (want[3], sizeof want[3],
              "{\"ts\":\"TS\",\"socket\":\"srv\",\"event\":\"MONITOR_STOPPED\",\"value\":0,"
              "\"meaning\":\"none\",\"endpoint\":\"\"}");
    snprintf (want[4], sizeof want[4],
              "{\"ts\":\"TS\",\"socket\":\"dup\",\"event\":\"MONITOR_STOPPED\",\"value\":0,"
              "\"meaning\":\"none\",\"endpoint\":\"\"}");
    char *line = text;
    for (int i = 0; i < 5; i++) {
        char *nl = strchr (line, '\n');
        ck_assert_msg (nl != NULL, "line %d missing in:\n%s", i + 1, text);
        *nl = '\0';
        normalise (line, t0, t1, i <= 1);
        ck_assert_str_eq (line, want[i]);
        line = nl + 1;
    }
    ck_assert_str_eq (line, "");
}

START_TEST (test_event_log_file)
{
    testutil_watchdog (60);
    char dir[256], path[512];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    snprintf (path, sizeof path, "%s/events.jsonl", dir);
    set ("ZMQOBS_EVENT_LOG", path);
    char ep[256];
    time_t t0, t1;
    bind_events (ep, sizeof ep, &t0, &t1);
    ck_assert_int_eq (opened (path), 0); /* zmqobs_destroy closed the file */
    struct stat st;
    ck_assert_int_eq (stat (path, &st), 0);
    mode_t mask = umask (0);
    umask (mask);
    ck_assert_uint_eq (st.st_mode & 0777, 0666 & ~mask);
    expect_bind_lines (read_file (path), NULL, ep, t0, t1);

    /* a second run appends */
    FILE *f = fopen (path, "w");
    ck_assert_ptr_nonnull (f);
    fputs ("previous line\n", f);
    fclose (f);
    bind_events (ep, sizeof ep, &t0, &t1);
    expect_bind_lines (read_file (path), "previous line\n", ep, t0, t1);
    unlink (path);
    rmdir (dir);
}
END_TEST

START_TEST (test_event_log_stderr)
{
    testutil_watchdog (60);
    char dir[256], path[512];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    snprintf (path, sizeof path, "%s/stderr", dir);
    /* stderr goes to a file meanwhile */
    fflush (stderr);
    int saved = dup (2);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge (fd, 0);
    ck_assert_int_eq (dup2 (fd, 2), 2);
    close (fd);
    set ("ZMQOBS_EVENT_LOG", "-");
    char ep[256];
    time_t t0, t1;
    bind_events (ep, sizeof ep, &t0, &t1);
    fflush (stderr);
    ck_assert_int_eq (dup2 (saved, 2), 2); /* not closed by zmqobs_destroy */
    close (saved);
    ck_assert_int_ne (fcntl (2, F_GETFD), -1);
    expect_bind_lines (read_file (path), NULL, ep, t0, t1);
    unlink (path);
    rmdir (dir);
}
END_TEST

START_TEST (test_event_log_option_errors)
{
    testutil_watchdog (30);
    void *ctx = zmq_ctx_new ();
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    opts.event_log = "";
    errno = 0;
    ck_assert_ptr_null (zmqobs_new (ctx, &opts));
    ck_assert_int_eq (errno, EINVAL);
    opts.event_log = "/nonexistent-zmqobs-dir/log";
    errno = 0;
    ck_assert_ptr_null (zmqobs_new (ctx, &opts));
    ck_assert_int_eq (errno, ENOENT);
    opts.event_log = "/";
    errno = 0;
    ck_assert_ptr_null (zmqobs_new (ctx, &opts));
    ck_assert_int_eq (errno, EISDIR);

    /* replaced by zmqobs_on_event: nothing more is written, and the file
     * is still closed by zmqobs_destroy */
    char dir[256], path[512];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    snprintf (path, sizeof path, "%s/log", dir);
    opts.event_log = path;
    opts.host_driven = 1;
    zmqobs_t *obs = zmqobs_new (ctx, &opts);
    ck_assert_ptr_nonnull (obs);
    ck_assert_int_eq (opened (path), 1);
    ck_assert_int_eq (zmqobs_on_event (obs, NULL, NULL), 0);
    void *sock = zmq_socket (ctx, ZMQ_PUB);
    zmqobs_socket_t *s = zmqobs_attach (obs, sock, "pub");
    ck_assert_int_eq (zmq_bind (sock, "tcp://127.0.0.1:*"), 0);
    TESTUTIL_PUMP_UNTIL (obs, 1, event_count (s, ZMQ_EVENT_LISTENING) == 1, 10000);
    zmqobs_detach (&s);
    ck_assert_int_eq (opened (path), 1); /* replaced, still open */
    zmqobs_destroy (&obs);
    ck_assert_int_eq (opened (path), 0);
    ck_assert_str_eq (read_file (path), "");
    zmq_close (sock);
    unlink (path);
    rmdir (dir);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

START_TEST (test_event_log_alloc_failure)
{
    /* every allocation of zmqobs_new failing in turn, with a service and
     * an event log: ENOMEM, and the log file closed each time */
    testutil_watchdog (60);
    void *ctx = zmq_ctx_new ();
    char dir[256], path[512];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    snprintf (path, sizeof path, "%s/log", dir);
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    opts.service = "svc";
    opts.event_log = path;
    for (long at = 1;; at++) {
        __atomic_store_n (&zmqobs__alloc_count, 0, __ATOMIC_RELAXED);
        __atomic_store_n (&zmqobs__alloc_fail_at, at, __ATOMIC_RELAXED);
        errno = 0;
        zmqobs_t *obs = zmqobs_new (ctx, &opts);
        int err = errno;
        __atomic_store_n (&zmqobs__alloc_fail_at, 0, __ATOMIC_RELAXED);
        long made = __atomic_load_n (&zmqobs__alloc_count, __ATOMIC_RELAXED);
        if (obs) {
            ck_assert_int_lt (made, at);
            ck_assert_int_gt (at, 3); /* observer, the service's two strings */
            zmqobs_destroy (&obs);
            break;
        }
        ck_assert_int_eq (err, ENOMEM);
        ck_assert_int_eq (opened (path), 0);
    }
    ck_assert_int_eq (opened (path), 0);
    unlink (path);
    rmdir (dir);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}
END_TEST

int main (void)
{
    Suite *suite = suite_create ("envcfg");
    TCase *tc = testutil_tcase (suite, "options_from_env", 30);
    tcase_add_checked_fixture (tc, clear_env, clear_env);
    tcase_add_test (tc, test_nothing_set);
    tcase_add_test (tc, test_service_valid);
    tcase_add_test (tc, test_service_invalid);
    tcase_add_test (tc, test_sample_every_valid);
    tcase_add_test (tc, test_sample_every_invalid);
    tcase_add_test (tc, test_long_values_are_cut);
    tcase_add_test (tc, test_event_log_valid);
    tcase_add_test (tc, test_event_log_invalid);
    tcase_add_test (tc, test_metrics_addr);
    tcase_add_test (tc, test_precedence);
    tcase_add_test (tc, test_first_problem_and_no_partial_update);
    tcase_add_test (tc, test_err_buffer);
    tcase_add_test (tc, test_null_arguments);
    tc = testutil_tcase (suite, "serve_from_env", 60);
    tcase_add_checked_fixture (tc, clear_env, clear_env);
    tcase_add_test (tc, test_serve_from_env_threaded);
    tcase_add_test (tc, test_serve_from_env_host_driven);
    tc = testutil_tcase (suite, "options", 60);
    tcase_add_checked_fixture (tc, clear_env, clear_env);
    tcase_add_test (tc, test_service_label);
    tcase_add_test (tc, test_event_log_file);
    tcase_add_test (tc, test_event_log_stderr);
    tcase_add_test (tc, test_event_log_option_errors);
    tcase_add_test (tc, test_event_log_alloc_failure);
    return testutil_run (suite);
}
