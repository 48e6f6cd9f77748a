/*
 * proxy.c - zmqobs_proxy: zmq_proxy_steerable through the library's
 * wrappers, so that both sockets' counters (and per-peer metrics) see
 * what the proxy forwards, with a gauge of requests in flight.
 *
 * SPDX-License-Identifier: MIT
 */
#include "metrics.h"

#include <string.h>

enum { ACTIVE, PAUSED, TERMINATED };

/* (frontend, backend) x (received, sent) x (parts, bytes), in the order
 * of zmq_proxy_steerable's STATISTICS reply */
enum { FE_RECV_N, FE_RECV_B, FE_SENT_N, FE_SENT_B, BE_RECV_N, BE_RECV_B, BE_SENT_N, BE_SENT_B };

/* libzmq 4.3.5 and later answer every command on a REP control socket
 * (an empty frame, or the statistics), and their STATISTICS count message
 * parts; 4.3.4 answers STATISTICS alone, and counts a multipart message
 * as one (its bytes summed). The proxy follows the libzmq it runs with. */
static int libzmq_435 (void)
{
    int major, minor, patch;
    zmq_version (&major, &minor, &patch);
    return major * 10000 + minor * 100 + patch >= 40305;
}

static int send_empty (void *control)
{
    return zmq_send (control, "", 0, 0) < 0 ? -1 : 0;
}

/* One command from control, answered as the libzmq in use does (v435:
 * 4.3.5 or later); 4.3.4 copies it to capture too.
 * Returns 0, or -1 with errno. */
static int handle_control (void *control, void *capture, int v435, int *state,
                           const uint64_t stats[8])
{
    zmq_msg_t cmd;
    zmq_msg_init (&cmd);
    if (zmq_msg_recv (&cmd, control, ZMQ_DONTWAIT) < 0) {
        int err = errno;
        zmq_msg_close (&cmd);
        errno = err;
        return err == EAGAIN || err == EINTR ? 0 : -1;
    }
    char text[16];
    size_t len = zmq_msg_size (&cmd);
    if (len)
        memcpy (text, zmq_msg_data (&cmd), len < sizeof text ? len : sizeof text);
    int more = zmq_msg_more (&cmd);
    int rc = 0;
    if (capture && !v435)
        rc = zmq_msg_send (&cmd, capture, 0) < 0 ? -1 : 0;
    int err = errno;
    zmq_msg_close (&cmd);
    errno = err;
    if (rc != 0)
        return -1;
    /* drop the rest of a multipart command */
    while (more) {
        size_t sz = sizeof more;
        if (zmq_recv (control, NULL, 0, 0) < 0
            || zmq_getsockopt (control, ZMQ_RCVMORE, &more, &sz) != 0)
            return -1;
    }
    if (len == 10 && memcmp (text, "STATISTICS", 10) == 0) {
        for (int i = 0; i < 8; i++)
            if (zmq_send (control, &stats[i], sizeof stats[i], i < 7 ? ZMQ_SNDMORE : 0) < 0)
                return -1;
        return 0;
    }
    int known = 1;
    if (len == 5 && memcmp (text, "PAUSE", 5) == 0)
        *state = PAUSED;
    else if (len == 6 && memcmp (text, "RESUME", 6) == 0)
        *state = ACTIVE;
    else if (len == 9 && memcmp (text, "TERMINATE", 9) == 0)
        *state = TERMINATED;
    else
        known = 0; /* libzmq 4.3.4 aborts here; ignoring it is kinder */
    int type = 0;
    size_t sz = sizeof type;
    if (zmq_getsockopt (control, ZMQ_TYPE, &type, &sz) == 0 && type == ZMQ_REP && (!known || v435))
        return send_empty (control); /* a REP owes a reply */
    return 0;
}

/* Forwards one whole message from one socket to the other, a copy of
 * each part to capture. Returns 1 when a message went, 2 when the
 * destination refused it with EHOSTUNREACH (a ROUTER with
 * ZMQ_ROUTER_MANDATORY whose peer is gone: dropped, as zmq_proxy cannot),
 * 0 when none was waiting, -1 with errno. */
static int forward (zmqobs_socket_t *from, zmqobs_socket_t *to, void *capture, zmq_msg_t *msg,
                    uint64_t *recv_stats, uint64_t *send_stats, int by_part)
{
    uint64_t parts = 0, bytes = 0;
    for (;;) {
        int rc = zmqobs_msg_recv (msg, from, parts == 0 ? ZMQ_DONTWAIT : 0);
        if (rc < 0)
            return parts == 0 && errno == EAGAIN ? 0 : -1;
        size_t size = zmq_msg_size (msg);
        parts++;
        bytes += size;
        int more = zmq_msg_more (msg);
        if (capture) {
            zmq_msg_t copy;
            zmq_msg_init (&copy);
            if (zmq_msg_copy (&copy, msg) != 0
                || zmq_msg_send (&copy, capture, more ? ZMQ_SNDMORE : 0) < 0) {
                int err = errno;
                zmq_msg_close (&copy);
                errno = err;
                return -1;
            }
        }
        if (zmqobs_msg_send (msg, to, more ? ZMQ_SNDMORE : 0) < 0) {
            if (errno != EHOSTUNREACH)
                return -1;
            /* ZMQ_ROUTER_MANDATORY and the peer is gone: the wrapper
             * counted the error; the rest of the message goes nowhere */
            while (more) {
                if (zmqobs_msg_recv (msg, from, 0) < 0)
                    return -1;
                parts++;
                bytes += zmq_msg_size (msg);
                more = zmq_msg_more (msg);
            }
            recv_stats[0] += by_part ? parts : 1;
            recv_stats[1] += bytes;
            return 2;
        }
        if (!more)
            break;
    }
    uint64_t count = by_part ? parts : 1;
    recv_stats[0] += count;
    recv_stats[1] += bytes;
    send_stats[0] += count;
    send_stats[1] += bytes;
    return 1;
}

int zmqobs_proxy (zmqobs_socket_t *frontend, zmqobs_socket_t *backend, void *capture, void *control)
{
    if (!frontend || !backend || frontend == backend || frontend->obs != backend->obs) {
        errno = EINVAL;
        return -1;
    }
    /* requests in flight are known when every request gets one reply
     * through the same pair: ROUTER in front, DEALER behind */
    int track = frontend->type == ZMQ_ROUTER && backend->type == ZMQ_DEALER;
    STORE (&frontend->proxy_in_flight, 0);
    STORE (&frontend->proxy, 1);
    uint64_t stats[8] = {0};
    int v435 = libzmq_435 (); /* its STATISTICS count parts */
    int state = ACTIVE;
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    int rc = 0;
    while (state != TERMINATED) {
        zmq_pollitem_t items[3] = {
            {frontend->hot.handle, 0, state == ACTIVE ? ZMQ_POLLIN : 0, 0},
            {backend->hot.handle, 0, state == ACTIVE ? ZMQ_POLLIN : 0, 0},
            {control, 0, ZMQ_POLLIN, 0},
        };
        if (zmq_poll (items, control ? 3 : 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            rc = -1;
            break;
        }
        if (control && (items[2].revents & ZMQ_POLLIN)
            && handle_control (control, capture, v435, &state, stats) != 0) {
            rc = -1;
            break;
        }
        if (state != ACTIVE)
            continue;
        if (items[0].revents & ZMQ_POLLIN) {
            int f = forward (frontend, backend, capture, &msg, &stats[FE_RECV_N], &stats[BE_SENT_N],
                             v435);
            if (f < 0) {
                rc = -1;
                break;
            }
            if (f == 1 && track)
                STORE (&frontend->proxy_in_flight, LOAD (&frontend->proxy_in_flight) + 1);
        }
        if (items[1].revents & ZMQ_POLLIN) {
            int f = forward (backend, frontend, capture, &msg, &stats[BE_RECV_N], &stats[FE_SENT_N],
                             v435);
            if (f < 0) {
                rc = -1;
                break;
            }
            int64_t v = LOAD (&frontend->proxy_in_flight);
            if (f > 0 && track && v > 0)
                STORE (&frontend->proxy_in_flight, v - 1);
        }
    }
    int err = errno;
    zmq_msg_close (&msg);
    errno = err;
    return rc;
}
