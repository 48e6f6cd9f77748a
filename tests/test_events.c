/*
 * test_events.c - event, protocol-error and errno names; the monitor frame
 * decoder against synthetic frames and frames from a real libzmq monitor.
 *
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"
#include "internal.h"

#include <ctype.h>
#include <locale.h>

static const struct {
    const char *name;
    uint32_t code;
} expected_events[] = {
    {"CONNECTED", ZMQ_EVENT_CONNECTED},
    {"CONNECT_DELAYED", ZMQ_EVENT_CONNECT_DELAYED},
    {"CONNECT_RETRIED", ZMQ_EVENT_CONNECT_RETRIED},
    {"LISTENING", ZMQ_EVENT_LISTENING},
    {"BIND_FAILED", ZMQ_EVENT_BIND_FAILED},
    {"ACCEPTED", ZMQ_EVENT_ACCEPTED},
    {"ACCEPT_FAILED", ZMQ_EVENT_ACCEPT_FAILED},
    {"CLOSED", ZMQ_EVENT_CLOSED},
    {"CLOSE_FAILED", ZMQ_EVENT_CLOSE_FAILED},
    {"DISCONNECTED", ZMQ_EVENT_DISCONNECTED},
    {"MONITOR_STOPPED", ZMQ_EVENT_MONITOR_STOPPED},
    {"HANDSHAKE_FAILED_NO_DETAIL", ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL},
    {"HANDSHAKE_SUCCEEDED", ZMQ_EVENT_HANDSHAKE_SUCCEEDED},
    {"HANDSHAKE_FAILED_PROTOCOL", ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL},
    {"HANDSHAKE_FAILED_AUTH", ZMQ_EVENT_HANDSHAKE_FAILED_AUTH},
};
#define N_EXPECTED (sizeof expected_events / sizeof expected_events[0])

START_TEST (test_event_names_round_trip)
{
    for (size_t i = 0; i < N_EXPECTED; i++) {
        uint32_t code = expected_events[i].code;
        ck_assert_str_eq (zmqobs_event_name (code), expected_events[i].name);
        ck_assert_int_eq (zmqobs_event_code (expected_events[i].name), code);
        /* with prefix, and in lower case */
        char buf[64], lower[64];
        snprintf (buf, sizeof buf, "ZMQ_EVENT_%s", expected_events[i].name);
        ck_assert_int_eq (zmqobs_event_code (buf), code);
        size_t n = strlen (buf);
        for (size_t k = 0; k <= n; k++)
            lower[k] = (char) tolower ((unsigned char) buf[k]);
        ck_assert_int_eq (zmqobs_event_code (lower), code);
        ck_assert_int_eq (zmqobs__event_bit (code), __builtin_ctz (code));
    }
    /* every single-bit code with a name is one of the expected ones */
    int named = 0;
    for (int bit = 0; bit < 32; bit++)
        if (strcmp (zmqobs_event_name (1u << bit), "UNKNOWN") != 0)
            named++;
#ifdef ZMQ_EVENT_PIPES_STATS
    ck_assert_int_eq (named, (int) N_EXPECTED + 1);
#else
    ck_assert_int_eq (named, (int) N_EXPECTED);
#endif
}
END_TEST

START_TEST (test_event_value_kinds)
{
    ck_assert_int_eq (zmqobs_event_value_kind (ZMQ_EVENT_CONNECTED), ZMQOBS_VALUE_FD);
    ck_assert_int_eq (zmqobs_event_value_kind (ZMQ_EVENT_BIND_FAILED), ZMQOBS_VALUE_ERRNO);
    ck_assert_int_eq (zmqobs_event_value_kind (ZMQ_EVENT_CONNECT_RETRIED),
                      ZMQOBS_VALUE_INTERVAL_MS);
    ck_assert_int_eq (zmqobs_event_value_kind (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL),
                      ZMQOBS_VALUE_PROTOCOL_ERROR);
    ck_assert_int_eq (zmqobs_event_value_kind (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH),
                      ZMQOBS_VALUE_STATUS_CODE);
    ck_assert_int_eq (zmqobs_event_value_kind (ZMQ_EVENT_MONITOR_STOPPED), ZMQOBS_VALUE_NONE);
    ck_assert_int_eq (zmqobs_event_value_kind (0xdead0000u), ZMQOBS_VALUE_NONE);
    ck_assert_str_eq (zmqobs_value_kind_name (ZMQOBS_VALUE_FD), "fd");
    ck_assert_str_eq (zmqobs_value_kind_name (ZMQOBS_VALUE_ERRNO), "errno");
    ck_assert_str_eq (zmqobs_value_kind_name (ZMQOBS_VALUE_INTERVAL_MS), "interval_ms");
    ck_assert_str_eq (zmqobs_value_kind_name (ZMQOBS_VALUE_PROTOCOL_ERROR), "protocol_error");
    ck_assert_str_eq (zmqobs_value_kind_name (ZMQOBS_VALUE_STATUS_CODE), "status_code");
    ck_assert_str_eq (zmqobs_value_kind_name ((zmqobs_value_kind_t) 99), "none");
    ck_assert_str_eq (zmqobs__value_text (ZMQ_EVENT_BIND_FAILED, EADDRINUSE), "EADDRINUSE");
    ck_assert_str_eq (zmqobs__value_text (ZMQ_EVENT_BIND_FAILED, 99999), "OTHER");
    ck_assert_str_eq (zmqobs__value_text (ZMQ_EVENT_BIND_FAILED, EINVAL), "EINVAL");
    ck_assert_str_eq (zmqobs__value_text (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                                          ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC),
                      "ZMTP_CRYPTOGRAPHIC");
    ck_assert_str_eq (zmqobs__value_text (ZMQ_EVENT_CONNECTED, 7), "");
}
END_TEST

START_TEST (test_unknown_codes_never_null)
{
    /* every 16-bit code and a spread of 32-bit ones */
    for (uint32_t code = 0; code <= 0x1ffff; code++) {
        const char *name = zmqobs_event_name (code);
        ck_assert_ptr_nonnull (name);
        int single_bit = code && !(code & (code - 1));
        if (!single_bit || code > ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
#ifdef ZMQ_EVENT_PIPES_STATS
            if (code != ZMQ_EVENT_PIPES_STATS)
#endif
                ck_assert_ptr_nonnull (strstr (name, "UNKNOWN"));
        ck_assert_ptr_nonnull (zmqobs_protocol_error_name (code));
        ck_assert_str_eq (zmqobs_protocol_error_name (code), "UNKNOWN");
    }
    uint32_t x = 2463534242u;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        ck_assert_ptr_nonnull (zmqobs_event_name (x));
        ck_assert_ptr_nonnull (zmqobs_protocol_error_name (x));
        ck_assert_ptr_nonnull (zmqobs_errno_name ((int) x));
        ck_assert_ptr_nonnull (zmqobs_errno_slot_name (x));
        ck_assert_ptr_nonnull (zmqobs_handshake_slot_name (x));
    }
    ck_assert_str_eq (zmqobs_event_name (ZMQ_EVENT_ALL), "UNKNOWN");
    ck_assert_int_eq (zmqobs__event_bit (0), -1);
    ck_assert_int_eq (zmqobs__event_bit (3), -1);
    ck_assert_int_eq (zmqobs__event_bit (0x80000000u), 31);
}
END_TEST

START_TEST (test_lookup_ignores_locale)
{
    /* In a Turkish locale "i" and "I" are not each other's case; the
     * lookups must fold ASCII only. The locale is built privately. */
    char dir[256];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    char cmd[600];
    snprintf (cmd, sizeof cmd, "localedef -i tr_TR -f UTF-8 %s/tr_TR.UTF-8 >/dev/null 2>&1", dir);
    int built = system (cmd) == 0;
    if (built)
        setenv ("LOCPATH", dir, 1);
    const char *loc = setlocale (LC_ALL, "tr_TR.UTF-8");
    if (!loc)
        fprintf (stderr,
                 "test_lookup_ignores_locale: tr_TR.UTF-8 unavailable "
                 "(localedef %s); checking in the C locale only\n",
                 built ? "worked" : "failed");
    ck_assert_int_eq (zmqobs_event_code ("zmq_event_connect_retried"), ZMQ_EVENT_CONNECT_RETRIED);
    ck_assert_int_eq (zmqobs_event_code ("handshake_failed_no_detail"),
                      ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
    ck_assert_int_eq (zmqobs_protocol_error_code ("zmtp_invalid_sequence"),
                      ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE);
    setlocale (LC_ALL, "C");
    unsetenv ("LOCPATH");
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq (system (cmd), 0);
}
END_TEST

START_TEST (test_reverse_lookup_errors)
{
    errno = 0;
    ck_assert_int_eq (zmqobs_event_code (NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_event_code (""), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_event_code ("CONNECTEDX"), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_event_code ("ZMQ_EVENT_"), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_event_code ("UNKNOWN"), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_protocol_error_code (NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_protocol_error_code ("ZMTP_NOPE"), -1);
    ck_assert_int_eq (errno, EINVAL);
}
END_TEST

static const struct {
    const char *name;
    uint32_t code;
} expected_protocol[] = {
    {"ZMTP_UNSPECIFIED", ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED},
    {"ZMTP_UNEXPECTED_COMMAND", ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND},
    {"ZMTP_INVALID_SEQUENCE", ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE},
    {"ZMTP_KEY_EXCHANGE", ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE},
    {"ZMTP_MALFORMED_COMMAND_UNSPECIFIED", ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_UNSPECIFIED},
    {"ZMTP_MALFORMED_COMMAND_MESSAGE", ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_MESSAGE},
    {"ZMTP_MALFORMED_COMMAND_HELLO", ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO},
    {"ZMTP_MALFORMED_COMMAND_INITIATE", ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_INITIATE},
    {"ZMTP_MALFORMED_COMMAND_ERROR", ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_ERROR},
    {"ZMTP_MALFORMED_COMMAND_READY", ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_READY},
    {"ZMTP_MALFORMED_COMMAND_WELCOME", ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME},
    {"ZMTP_INVALID_METADATA", ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_METADATA},
    {"ZMTP_CRYPTOGRAPHIC", ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC},
    {"ZMTP_MECHANISM_MISMATCH", ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH},
    {"ZAP_UNSPECIFIED", ZMQ_PROTOCOL_ERROR_ZAP_UNSPECIFIED},
    {"ZAP_MALFORMED_REPLY", ZMQ_PROTOCOL_ERROR_ZAP_MALFORMED_REPLY},
    {"ZAP_BAD_REQUEST_ID", ZMQ_PROTOCOL_ERROR_ZAP_BAD_REQUEST_ID},
    {"ZAP_BAD_VERSION", ZMQ_PROTOCOL_ERROR_ZAP_BAD_VERSION},
    {"ZAP_INVALID_STATUS_CODE", ZMQ_PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE},
    {"ZAP_INVALID_METADATA", ZMQ_PROTOCOL_ERROR_ZAP_INVALID_METADATA},
    {"WS_UNSPECIFIED", ZMQ_PROTOCOL_ERROR_WS_UNSPECIFIED},
};

START_TEST (test_protocol_error_names)
{
    size_t n = sizeof expected_protocol / sizeof expected_protocol[0];
    for (size_t i = 0; i < n; i++) {
        uint32_t code = expected_protocol[i].code;
        ck_assert_str_eq (zmqobs_protocol_error_name (code), expected_protocol[i].name);
        ck_assert_int_eq (zmqobs_protocol_error_code (expected_protocol[i].name), code);
        char buf[80];
        snprintf (buf, sizeof buf, "zmq_protocol_error_%s", expected_protocol[i].name);
        ck_assert_int_eq (zmqobs_protocol_error_code (buf), code);
        /* each protocol error has its own handshake slot with its name */
        unsigned slot = zmqobs__handshake_slot (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, code);
        ck_assert_uint_lt (slot, ZMQOBS_HANDSHAKE_SLOTS);
        ck_assert_str_eq (zmqobs_handshake_slot_name (slot), expected_protocol[i].name);
    }
    ck_assert_str_eq (zmqobs_handshake_slot_name (
                          zmqobs__handshake_slot (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400)),
                      "AUTH");
    ck_assert_str_eq (zmqobs_handshake_slot_name (
                          zmqobs__handshake_slot (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL,
                                                  ECONNRESET)),
                      "NO_DETAIL");
    ck_assert_str_eq (zmqobs_handshake_slot_name (
                          zmqobs__handshake_slot (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, 0x7777)),
                      "UNKNOWN_PROTOCOL_ERROR");
    ck_assert_str_eq (zmqobs_handshake_slot_name (ZMQOBS_HANDSHAKE_SLOTS), "UNKNOWN");
}
END_TEST

START_TEST (test_errno_names)
{
    ck_assert_str_eq (zmqobs_errno_name (EAGAIN), "EAGAIN");
    ck_assert_str_eq (zmqobs_errno_name (EFSM), "EFSM");
    ck_assert_str_eq (zmqobs_errno_name (ETERM), "ETERM");
    ck_assert_str_eq (zmqobs_errno_name (EHOSTUNREACH), "EHOSTUNREACH");
    ck_assert_str_eq (zmqobs_errno_name (ENOTSOCK), "ENOTSOCK");
    ck_assert_str_eq (zmqobs_errno_name (ECONNREFUSED), "ECONNREFUSED");
    ck_assert_str_eq (zmqobs_errno_name (0), "OTHER");
    ck_assert_str_eq (zmqobs_errno_name (99999), "OTHER");
    ck_assert_str_eq (zmqobs_errno_name (-5), "OTHER");
    ck_assert_uint_eq (zmqobs__errno_slot (EAGAIN), 0);
    ck_assert_uint_eq (zmqobs__errno_slot (123456), ZMQOBS_ERRNO_SLOTS - 1);
    ck_assert_str_eq (zmqobs_errno_slot_name (0), "EAGAIN");
    ck_assert_str_eq (zmqobs_errno_slot_name (ZMQOBS_ERRNO_SLOTS - 1), "OTHER");
    ck_assert_str_eq (zmqobs_errno_slot_name (ZMQOBS_ERRNO_SLOTS), "UNKNOWN");
    /* slot names are unique */
    for (unsigned i = 0; i < ZMQOBS_ERRNO_SLOTS; i++)
        for (unsigned j = i + 1; j < ZMQOBS_ERRNO_SLOTS; j++)
            if (strcmp (zmqobs_errno_slot_name (i), "UNKNOWN") != 0)
                ck_assert_str_ne (zmqobs_errno_slot_name (i), zmqobs_errno_slot_name (j));
}
END_TEST

START_TEST (test_version)
{
    ck_assert_uint_eq (zmqobs_version (), ZMQOBS_VERSION);
    ck_assert_uint_eq (ZMQOBS_VERSION,
                       ZMQOBS_MAKE_VERSION (ZMQOBS_VERSION_MAJOR, ZMQOBS_VERSION_MINOR,
                                            ZMQOBS_VERSION_PATCH));
}
END_TEST

/* Builds a 6-byte frame 1 at an odd address inside buf. */
static unsigned char *make_frame (unsigned char *buf, uint16_t event, uint32_t value)
{
    unsigned char *f = buf + 1; /* deliberately unaligned */
    memcpy (f, &event, 2);
    memcpy (f + 2, &value, 4);
    return f;
}

START_TEST (test_decode_synthetic)
{
    unsigned char buf[16];
    unsigned char *f = make_frame (buf, ZMQ_EVENT_CONNECT_RETRIED, 0x01020304u);
    zmqobs_event_t ev;
    const char ep[] = "tcp://127.0.0.1:5555";
    ck_assert_int_eq (zmqobs_event_decode (f, 6, ep, strlen (ep), &ev), 0);
    ck_assert_uint_eq (ev.event, ZMQ_EVENT_CONNECT_RETRIED);
    ck_assert_uint_eq (ev.value, 0x01020304u);
    ck_assert_int_eq (ev.value_kind, ZMQOBS_VALUE_INTERVAL_MS);
    ck_assert_str_eq (ev.endpoint, ep);
    ck_assert_uint_eq (ev.endpoint_len, strlen (ep));
    ck_assert_int_eq (ev.endpoint_truncated, 0);

    /* empty endpoint, NULL frame2 with size 0 is fine */
    ck_assert_int_eq (zmqobs_event_decode (f, 6, NULL, 0, &ev), 0);
    ck_assert_str_eq (ev.endpoint, "");

    /* exactly the maximum fits; one more is truncated and flagged */
    char big[ZMQOBS_ENDPOINT_MAX + 2];
    memset (big, 'x', sizeof big);
    ck_assert_int_eq (zmqobs_event_decode (f, 6, big, ZMQOBS_ENDPOINT_MAX, &ev), 0);
    ck_assert_int_eq (ev.endpoint_truncated, 0);
    ck_assert_uint_eq (strlen (ev.endpoint), ZMQOBS_ENDPOINT_MAX);
    ck_assert_int_eq (zmqobs_event_decode (f, 6, big, ZMQOBS_ENDPOINT_MAX + 1, &ev), 0);
    ck_assert_int_eq (ev.endpoint_truncated, 1);
    ck_assert_uint_eq (ev.endpoint_len, ZMQOBS_ENDPOINT_MAX);
    ck_assert_uint_eq (strlen (ev.endpoint), ZMQOBS_ENDPOINT_MAX);
    /* truncation never splits a UTF-8 character: 254 ASCII bytes then a
     * 3-byte character straddling the limit */
    char utf[ZMQOBS_ENDPOINT_MAX + 8];
    memset (utf, 'a', sizeof utf);
    memcpy (utf + ZMQOBS_ENDPOINT_MAX - 1, "\xe2\x9c\x93", 3);
    ck_assert_int_eq (zmqobs_event_decode (f, 6, utf, ZMQOBS_ENDPOINT_MAX + 2, &ev), 0);
    ck_assert_int_eq (ev.endpoint_truncated, 1);
    ck_assert_uint_eq (ev.endpoint_len, ZMQOBS_ENDPOINT_MAX - 1);
    ck_assert_int_eq (zmqobs__valid_utf8 (ev.endpoint, ev.endpoint_len), 1);
    /* huge endpoint frame: bounded copy */
    static char huge[1 << 16];
    memset (huge, 'y', sizeof huge);
    ck_assert_int_eq (zmqobs_event_decode (f, 6, huge, sizeof huge, &ev), 0);
    ck_assert_int_eq (ev.endpoint_truncated, 1);
    ck_assert_uint_eq (strlen (ev.endpoint), ZMQOBS_ENDPOINT_MAX);
}
END_TEST

START_TEST (test_decode_rejects_malformed)
{
    unsigned char buf[64] = {0};
    unsigned char *f = make_frame (buf, ZMQ_EVENT_ACCEPTED, 9);
    zmqobs_event_t ev;
    for (size_t size = 0; size < 40; size++) {
        if (size == 6)
            continue;
        memset (&ev, 0xAB, sizeof ev);
        errno = 0;
        ck_assert_int_eq (zmqobs_event_decode (f, size, "x", 1, &ev), -1);
        ck_assert_int_eq (errno, EPROTO);
        ck_assert_uint_eq (ev.event, 0); /* zeroed on error */
        ck_assert_str_eq (ev.endpoint, "");
    }
    errno = 0;
    ck_assert_int_eq (zmqobs_event_decode (NULL, 6, "x", 1, &ev), -1);
    ck_assert_int_eq (errno, EPROTO);
    errno = 0;
    ck_assert_int_eq (zmqobs_event_decode (f, 6, NULL, 5, &ev), -1);
    ck_assert_int_eq (errno, EPROTO);
    errno = 0;
    ck_assert_int_eq (zmqobs_event_decode (f, 6, "x", 1, NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
    errno = 0;
    ck_assert_int_eq (zmqobs_event_decode (NULL, 0, NULL, 0, NULL), -1);
    ck_assert_int_eq (errno, EINVAL);
}
END_TEST

/* Reads one monitor message (two frames) with a timeout; returns the number
 * of frames read and copies them out. */
static int read_monitor (void *mon, unsigned char *f1, size_t *s1, char *f2, size_t *s2)
{
    zmq_pollitem_t item = {mon, 0, ZMQ_POLLIN, 0};
    if (zmq_poll (&item, 1, 5000) != 1)
        return 0;
    int frames = 0;
    int more = 1;
    while (more) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, mon, 0) < 0) {
            zmq_msg_close (&msg);
            return frames;
        }
        if (frames == 0) {
            *s1 = zmq_msg_size (&msg);
            memcpy (f1, zmq_msg_data (&msg), *s1 < 64 ? *s1 : 64);
        } else if (frames == 1) {
            *s2 = zmq_msg_size (&msg);
            memcpy (f2, zmq_msg_data (&msg), *s2 < 512 ? *s2 : 512);
        }
        more = zmq_msg_more (&msg);
        zmq_msg_close (&msg);
        frames++;
    }
    return frames;
}

START_TEST (test_decode_real_monitor)
{
    testutil_watchdog (20);
    void *ctx = zmq_ctx_new ();
    void *server = zmq_socket (ctx, ZMQ_REP);
    void *client = zmq_socket (ctx, ZMQ_REQ);
    ck_assert_int_eq (zmq_socket_monitor (server, "inproc://test-events-mon", ZMQ_EVENT_ALL), 0);
    void *mon = zmq_socket (ctx, ZMQ_PAIR);
    ck_assert_int_eq (zmq_connect (mon, "inproc://test-events-mon"), 0);
    ck_assert_int_eq (zmq_bind (server, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    size_t len = sizeof endpoint;
    ck_assert_int_eq (zmq_getsockopt (server, ZMQ_LAST_ENDPOINT, endpoint, &len), 0);
    ck_assert_int_eq (zmq_connect (client, endpoint), 0);

    /* the server sees LISTENING, ACCEPTED and HANDSHAKE_SUCCEEDED, in order */
    const uint32_t want[] = {ZMQ_EVENT_LISTENING, ZMQ_EVENT_ACCEPTED,
                             ZMQ_EVENT_HANDSHAKE_SUCCEEDED};
    for (size_t i = 0; i < 3; i++) {
        unsigned char f1[64];
        char f2[512];
        size_t s1 = 0, s2 = 0;
        ck_assert_int_eq (read_monitor (mon, f1, &s1, f2, &s2), 2);
        zmqobs_event_t ev;
        ck_assert_int_eq (zmqobs_event_decode (f1, s1, f2, s2, &ev), 0);
        ck_assert_str_eq (zmqobs_event_name (ev.event), zmqobs_event_name (want[i]));
        ck_assert_str_eq (ev.endpoint, endpoint);
        if (want[i] != ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            ck_assert_int_gt ((int) ev.value, 2); /* a real fd */
        /* every truncated or oversized variant of the real frame fails */
        for (size_t cut = 0; cut < s1; cut++)
            ck_assert_int_eq (zmqobs_event_decode (f1, cut, f2, s2, &ev), -1);
        unsigned char longer[64] = {0};
        memcpy (longer, f1, s1);
        for (size_t extra = 1; extra < 10; extra++)
            ck_assert_int_eq (zmqobs_event_decode (longer, s1 + extra, f2, s2, &ev), -1);
    }
    zmq_close (client);
    zmq_socket_monitor (server, NULL, 0);
    /* drain until MONITOR_STOPPED, then close in the safe order */
    for (int i = 0; i < 20; i++) {
        unsigned char f1[64];
        char f2[512];
        size_t s1 = 0, s2 = 0;
        if (read_monitor (mon, f1, &s1, f2, &s2) != 2)
            break;
        zmqobs_event_t ev;
        ck_assert_int_eq (zmqobs_event_decode (f1, s1, f2, s2, &ev), 0);
        if (ev.event == ZMQ_EVENT_MONITOR_STOPPED)
            break;
    }
    zmq_close (mon);
    zmq_close (server);
    zmq_ctx_term (ctx);
}
END_TEST

int main (void)
{
    Suite *s = suite_create ("events");
    TCase *tc = testutil_tcase (s, "names", 30);
    tcase_add_test (tc, test_event_names_round_trip);
    tcase_add_test (tc, test_event_value_kinds);
    tcase_add_test (tc, test_unknown_codes_never_null);
    tcase_add_test (tc, test_reverse_lookup_errors);
    tcase_add_test (tc, test_lookup_ignores_locale);
    tcase_add_test (tc, test_protocol_error_names);
    tcase_add_test (tc, test_errno_names);
    tcase_add_test (tc, test_version);
    tc = testutil_tcase (s, "decode", 30);
    tcase_add_test (tc, test_decode_synthetic);
    tcase_add_test (tc, test_decode_rejects_malformed);
    tcase_add_test (tc, test_decode_real_monitor);
    return testutil_run (s);
}
