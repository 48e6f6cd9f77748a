/*
 * bench_monitor.c - how fast the monitor engine drains events.
 *
 * 1. Live storm: rounds of peers connect to an attached ROUTER (tcp on
 *    loopback), say hello and go away, while the observer's thread drains.
 *    The rate is bounded by how fast libzmq makes connections; the point
 *    is that draining keeps up and the counts are exact.
 * 2. Backlog: the same storm against a host-driven observer that is not
 *    drained while it runs (libzmq must not block on it), then the backlog
 *    is drained with zmqobs_process and timed: the engine's own rate;
 *    once more with the JSON log sink writing every event to /dev/null.
 * 3. Attach/detach cycles on one socket, both modes: time per cycle.
 *
 * Figures are printed, nothing is asserted on time; count mismatches make
 * the program exit 1.
 *
 * SPDX-License-Identifier: MIT
 */
#include "../internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { PEERS = 200, ROUNDS = 25 };

static double now_s (void)
{
    return (double) zmqobs__now_ns () / 1e9;
}

static void sleep_ms (long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep (&ts, NULL);
}

static int fail (const char *what)
{
    fprintf (stderr, "bench_monitor: %s: %s\n", what, zmq_strerror (errno));
    exit (1);
}

static uint64_t ev (zmqobs_socket_t *s, uint32_t event)
{
    return LOAD (&s->mon.events[zmqobs__event_bit (event)]);
}

static uint64_t drained (zmqobs_socket_t *s)
{
    uint64_t n = 0;
    for (int i = 0; i < ZMQOBS_EVENT_SLOTS; i++)
        n += LOAD (&s->mon.events[i]);
    return n;
}

/* One round: PEERS dealers connect, each sends one message (so every
 * handshake is done when the router has them all), then all close. */
static void storm_round (void *ctx, void *router, const char *ep)
{
    void *peers[PEERS];
    int zero = 0, never = -1;
    for (int i = 0; i < PEERS; i++) {
        peers[i] = zmq_socket (ctx, ZMQ_DEALER);
        if (!peers[i])
            fail ("zmq_socket");
        zmq_setsockopt (peers[i], ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt (peers[i], ZMQ_RECONNECT_IVL, &never, sizeof never);
        if (zmq_connect (peers[i], ep) != 0 || zmq_send (peers[i], "x", 1, 0) != 1)
            fail ("connect/send");
    }
    for (int i = 0; i < PEERS; i++) {
        zmq_msg_t m;
        zmq_msg_init (&m);
        do {
            if (zmq_msg_recv (&m, router, 0) < 0)
                fail ("recv");
        } while (zmq_msg_more (&m));
        zmq_msg_close (&m);
    }
    for (int i = 0; i < PEERS; i++)
        zmq_close (peers[i]);
}

static void *new_router (void *ctx)
{
    void *router = zmq_socket (ctx, ZMQ_ROUTER);
    if (!router)
        fail ("zmq_socket");
    int zero = 0, backlog = 1024;
    zmq_setsockopt (router, ZMQ_LINGER, &zero, sizeof zero);
    /* the default backlog (100) drops SYNs of a 200-peer burst, and the
     * kernel retries them a second later */
    zmq_setsockopt (router, ZMQ_BACKLOG, &backlog, sizeof backlog);
    return router;
}

static int check (zmqobs_socket_t *s, const char *label)
{
    uint64_t want = (uint64_t) PEERS * ROUNDS;
    zmqobs_stats_t st;
    zmqobs_socket_stats (s, &st);
    int ok = ev (s, ZMQ_EVENT_ACCEPTED) == want
             && ev (s, ZMQ_EVENT_HANDSHAKE_SUCCEEDED) == want
             && ev (s, ZMQ_EVENT_DISCONNECTED) == want && st.connections == 0
             && st.malformed_events == 0;
    printf ("  %s counts: accepted %llu, handshakes %llu, disconnected %llu "
            "(expected %llu each), connections now %lld: %s\n",
            label, (unsigned long long) ev (s, ZMQ_EVENT_ACCEPTED),
            (unsigned long long) ev (s, ZMQ_EVENT_HANDSHAKE_SUCCEEDED),
            (unsigned long long) ev (s, ZMQ_EVENT_DISCONNECTED),
            (unsigned long long) want, (long long) st.connections,
            ok ? "exact" : "MISMATCH");
    return ok;
}

static int backlog (void *ctx, FILE *log)
{
    uint64_t want = (uint64_t) PEERS * ROUNDS * 3 + 1; /* + LISTENING */
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.host_driven = 1;
    zmqobs_t *obs = zmqobs_new (ctx, &o);
    if (!obs)
        fail ("zmqobs_new");
    if (log)
        zmqobs_on_event (obs, zmqobs_json_log, log);
    void *router = new_router (ctx);
    zmqobs_socket_t *s = zmqobs_attach (obs, router, "backlog");
    if (!s || zmq_bind (router, "tcp://127.0.0.1:*") != 0)
        fail ("attach/bind");
    char ep[256];
    size_t len = sizeof ep;
    zmq_getsockopt (router, ZMQ_LAST_ENDPOINT, ep, &len);
    for (int r = 0; r < ROUNDS; r++)
        storm_round (ctx, router, ep);
    /* the last DISCONNECTEDs are still on their way: give them time
     * outside the measurement (nothing drains meanwhile) */
    sleep_ms (500);
    double t0 = now_s ();
    uint64_t calls = 0;
    while (drained (s) < want) {
        if (zmqobs_process (obs, 100) < 0)
            fail ("zmqobs_process");
        calls++;
    }
    double dt = now_s () - t0;
    printf ("backlog drain%s: %llu events queued undrained (libzmq never "
            "blocked), drained in %.4f s by %llu zmqobs_process calls = "
            "%.0f events/s (goal >= 100000)\n",
            log ? " with JSON log to /dev/null" : "", (unsigned long long) want, dt,
            (unsigned long long) calls, (double) want / dt);
    int ok = check (s, "backlog");
    zmqobs_detach (&s);
    zmq_close (router);
    zmqobs_destroy (&obs);
    return ok;
}

/* Attach/detach cycles on one bound socket: the cost of a fresh monitor,
 * its reader, the context check and the safe stop. */
static void cycles (void *ctx, int host_driven)
{
    enum { CYCLES = 1000 };
    zmqobs_options_t o;
    zmqobs_options_init (&o);
    o.host_driven = host_driven;
    zmqobs_t *obs = zmqobs_new (ctx, &o);
    void *sock = new_router (ctx);
    if (!obs || zmq_bind (sock, "tcp://127.0.0.1:*") != 0)
        fail ("cycles setup");
    double t0 = now_s ();
    for (int i = 0; i < CYCLES; i++) {
        zmqobs_socket_t *s = zmqobs_attach (obs, sock, "cycled");
        if (!s)
            fail ("zmqobs_attach");
        zmqobs_detach (&s);
    }
    double dt = now_s () - t0;
    printf ("attach+detach (%s): %d cycles in %.3f s = %.1f us per cycle\n",
            host_driven ? "host-driven" : "own thread", CYCLES, dt, dt * 1e6 / CYCLES);
    zmq_close (sock);
    zmqobs_destroy (&obs);
    /* let libzmq's reaper destroy the closed readers before going on */
    sleep_ms (500);
}

int main (void)
{
    int ok = 1;
    void *ctx = zmq_ctx_new ();
    zmq_ctx_set (ctx, ZMQ_MAX_SOCKETS, 4096);
    uint64_t want = (uint64_t) PEERS * ROUNDS * 3; /* per peer: ACCEPTED,
                                                      SUCCEEDED, DISCONNECTED */

    /* 1. live storm, own thread */
    {
        zmqobs_t *obs = zmqobs_new (ctx, NULL);
        if (!obs)
            fail ("zmqobs_new");
        char ep[256];
        void *router = new_router (ctx);
        zmqobs_socket_t *s = zmqobs_attach (obs, router, "storm");
        if (!s || zmq_bind (router, "tcp://127.0.0.1:*") != 0)
            fail ("attach/bind");
        size_t len = sizeof ep;
        zmq_getsockopt (router, ZMQ_LAST_ENDPOINT, ep, &len);
        while (drained (s) < 1)
            sleep_ms (1); /* LISTENING */
        double t0 = now_s ();
        for (int r = 0; r < ROUNDS; r++)
            storm_round (ctx, router, ep);
        while (drained (s) < want + 1)
            sleep_ms (1);
        double dt = now_s () - t0;
        printf ("live storm: %d rounds x %d peers over tcp loopback: %llu events "
                "drained in %.3f s = %.0f events/s (bounded by libzmq's "
                "connection rate)\n",
                ROUNDS, PEERS, (unsigned long long) want, dt, (double) want / dt);
        ok &= check (s, "live");
        zmqobs_detach (&s);
        zmq_close (router);
        zmqobs_destroy (&obs);
    }

    /* 2. backlog, host-driven, drained after the storm; then again with
     * the JSON log writing every event to /dev/null */
    ok &= backlog (ctx, NULL);
    cycles (ctx, 0);
    cycles (ctx, 1);
    FILE *null = fopen ("/dev/null", "w");
    if (!null)
        fail ("fopen /dev/null");
    ok &= backlog (ctx, null);
    fclose (null);
    zmq_ctx_term (ctx);
    return ok ? 0 : 1;
}
