/*
 * fuzz_event_decode.c - libFuzzer target for the monitor frame decoder and
 * for the events-into-metrics step that follows it.
 *
 * The input is a sequence of monitor messages, each encoded as
 *   [len1: 1 byte][frame1: len1 & 15 bytes][len2: 1 byte][frame2: len2 bytes]
 * (a short tail is used as far as it goes). The first byte picks the socket
 * type the events are applied to. Every message goes through
 * zmqobs_event_decode, whose result is checked against an independent
 * reading of the bytes; the decoded events are applied to one socket's
 * metric block, whose gauges must stay in range whatever the sequence.
 *
 * SPDX-License-Identifier: MIT
 */
#include "../internal.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort ();                                                            \
        }                                                                        \
    } while (0)

static const int types[] = {ZMQ_PAIR,   ZMQ_PUB,  ZMQ_SUB,  ZMQ_REQ,
                            ZMQ_REP,    ZMQ_DEALER, ZMQ_ROUTER, ZMQ_PULL,
                            ZMQ_PUSH,   ZMQ_XPUB, ZMQ_XSUB, ZMQ_STREAM};

static zmqobs_t fake_obs;
static zmqobs_socket_t *sock;

/* Little-endian reading byte by byte: the decoder must agree with it on
 * x86-64 (host byte order) without caring about alignment. */
static uint32_t le (const uint8_t *p, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint32_t) p[i] << (8 * i);
    return v;
}

static void check_decode (const uint8_t *f1, size_t n1, const uint8_t *f2, size_t n2)
{
    zmqobs_event_t ev;
    memset (&ev, 0xA5, sizeof ev);
    errno = 0;
    int rc = zmqobs_event_decode (f1, n1, f2, n2, &ev);
    if (n1 != 6) {
        CHECK (rc == -1 && errno == EPROTO);
        CHECK (ev.event == 0 && ev.value == 0 && ev.endpoint_len == 0 && ev.endpoint[0] == 0);
        return;
    }
    CHECK (rc == 0);
    CHECK (ev.event == le (f1, 2));
    CHECK (ev.value == le (f1 + 2, 4));
    CHECK (ev.value_kind == zmqobs_event_value_kind (ev.event));
    /* a longer endpoint is cut before the first byte past the limit that
     * starts a character: never half a UTF-8 sequence */
    size_t keep = n2;
    if (n2 > ZMQOBS_ENDPOINT_MAX) {
        keep = ZMQOBS_ENDPOINT_MAX;
        while (keep > 0 && f2[keep] >= 0x80 && f2[keep] < 0xC0)
            keep--;
    }
    CHECK (ev.endpoint_len == keep);
    CHECK (ev.endpoint_truncated == (n2 > ZMQOBS_ENDPOINT_MAX));
    CHECK (keep == 0 || memcmp (ev.endpoint, f2, keep) == 0);
    CHECK (ev.endpoint[keep] == '\0');

    /* the name lookups never return NULL */
    CHECK (zmqobs_event_name (ev.event) != NULL);
    CHECK (zmqobs_value_kind_name (ev.value_kind) != NULL);
    CHECK (zmqobs_protocol_error_name (ev.value) != NULL);
    CHECK (zmqobs__value_text (ev.event, ev.value) != NULL);
    CHECK (zmqobs__handshake_slot (ev.event, ev.value) < ZMQOBS_HANDSHAKE_SLOTS);
    int bit = zmqobs__event_bit (ev.event);
    CHECK (bit >= -1 && bit < 32);
    CHECK (bit < 0 || ev.event == (1u << bit));

    /* a JSON log line for it is bounded and terminated */
    zmqobs_event_info_t info = {.socket_name = "s",
                                .event_name = zmqobs_event_name (ev.event),
                                .value_meaning = zmqobs_value_kind_name (ev.value_kind),
                                .value_text = zmqobs__value_text (ev.event, ev.value),
                                .event = &ev,
                                .timestamp_ns = 0};
    char line[2048];
    size_t need = zmqobs__json_line (&info, line, sizeof line);
    CHECK (need > 0 && need < sizeof line);
    CHECK (strlen (line) == need && line[need - 1] == '\n');
    CHECK (memchr (line, '\n', need - 1) == NULL);

    zmqobs__apply_event (sock, &ev);
    zmqobs_mon_block_t *m = &sock->mon;
    CHECK (m->connections >= 0);
    CHECK (m->listen_fd_count <= sizeof m->listen_fds / sizeof m->listen_fds[0]);
    CHECK (m->last_error_endpoint[ZMQOBS_ENDPOINT_MAX] == '\0');
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!sock) {
        pthread_mutex_init (&fake_obs.lock, NULL);
        fake_obs.ring_capacity = 16;
        fake_obs.bucket_count = 1;
        fake_obs.bounds[0] = 1000;
        fake_obs.bounds[1] = UINT64_MAX;
        zmqobs__build_lut (fake_obs.bounds, 1, fake_obs.lut);
        sock = aligned_alloc (ZMQOBS_CACHELINE,
                              (sizeof *sock + 16 * sizeof (uint64_t) + ZMQOBS_CACHELINE - 1)
                                  / ZMQOBS_CACHELINE * ZMQOBS_CACHELINE);
        CHECK (sock != NULL);
    }
    int type = types[size ? data[0] % (sizeof types / sizeof types[0]) : 0];
    memset (sock, 0, sizeof *sock);
    sock->obs = &fake_obs;
    zmqobs__metrics_init (sock, &fake_obs, type);
    if (size)
        data++, size--;

    /* the whole input as one frame pair, too: the decoder must take any
     * split, NULL frame2 included */
    check_decode (data, size < 6 ? size : 6, size > 6 ? data + 6 : NULL,
                  size > 6 ? size - 6 : 0);
    zmqobs_event_t ev;
    CHECK (zmqobs_event_decode (NULL, 6, NULL, 0, &ev) == -1 && errno == EPROTO);
    CHECK (zmqobs_event_decode (data, 6, NULL, 1, &ev) == -1 && errno == EPROTO);
    CHECK (zmqobs_event_decode (data, 6, NULL, 0, NULL) == -1 && errno == EINVAL);

    memset (sock, 0, sizeof *sock);
    sock->obs = &fake_obs;
    zmqobs__metrics_init (sock, &fake_obs, type);
    while (size > 0) {
        size_t n1 = data[0] & 15;
        data++, size--;
        if (n1 > size)
            n1 = size;
        const uint8_t *f1 = data;
        data += n1, size -= n1;
        size_t n2 = 0;
        if (size > 0) {
            n2 = data[0];
            data++, size--;
            if (n2 > size)
                n2 = size;
        }
        /* exact-size heap copies, so that any read past a frame is caught */
        uint8_t *c1 = malloc (n1 ? n1 : 1), *c2 = n2 ? malloc (n2) : NULL;
        CHECK (c1 != NULL && (n2 == 0 || c2 != NULL));
        memcpy (c1, f1, n1);
        if (n2)
            memcpy (c2, data, n2);
        check_decode (c1, n1, c2, n2);
        free (c1);
        free (c2);
        data += n2, size -= n2;
    }
    return 0;
}
