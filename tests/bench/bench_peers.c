/*
 * bench_peers.c - what per-peer tracking costs on the hot path.
 *
 * A ROUTER with 100 DEALER peers over inproc; each round one peer sends
 * a one-part request, the ROUTER receives it ([routing id][body], two
 * parts) and echoes it (two parts) with zmq_msg_recv/zmq_msg_send, and
 * the peer receives the reply. Instructions per round from callgrind
 * (the difference of two run lengths, so setup is not counted), for:
 *   raw       libzmq's calls alone
 *   wrappers  zmqobs_msg_recv/zmqobs_msg_send, tracking off
 *   peers     the same with zmqobs_track_peers (ROUTING_ID, 128)
 * and the differences per round and per part.
 *
 * Run: make bench   (or build/bench/bench_peers after make)
 * Internal: bench_peers loop KIND N runs one loop (used under callgrind).
 *
 * SPDX-License-Identifier: MIT
 */
#include "../internal.h"

#include "benchutil.h"

#define PEERS 100

static int run_loop (const char *kind, long n)
{
    int raw = !strcmp (kind, "raw"), on = !strcmp (kind, "peers");
    if (!raw && !on && strcmp (kind, "wrappers") != 0)
        return 2;
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = zmqobs_new (ctx, NULL);
    void *router = zmq_socket (ctx, ZMQ_ROUTER);
    zmq_bind (router, "inproc://bench-peers");
    zmqobs_socket_t *rs = zmqobs_attach (obs, router, "router");
    if (!rs)
        return 1;
#ifdef ZMQOBS_PEER_ROUTING_ID /* built against an older header: no peers */
    if (on && zmqobs_track_peers (rs, 128, ZMQOBS_PEER_ROUTING_ID) != 0)
        return 1;
#else
    if (on)
        return 2;
#endif
    void *dealer[PEERS];
    for (int i = 0; i < PEERS; i++) {
        dealer[i] = zmq_socket (ctx, ZMQ_DEALER);
        zmq_connect (dealer[i], "inproc://bench-peers");
    }
    char buf[16];
    for (long r = 0; r < n; r++) {
        void *d = dealer[r % PEERS];
        zmq_send (d, "request!", 8, 0);
        for (int part = 0; part < 2; part++) {
            zmq_msg_t m;
            zmq_msg_init (&m);
            int more;
            if (raw) {
                zmq_msg_recv (&m, router, 0);
                more = zmq_msg_more (&m);
                zmq_msg_send (&m, router, more ? ZMQ_SNDMORE : 0);
            } else {
                zmqobs_msg_recv (&m, rs, 0);
                more = zmq_msg_more (&m);
                zmqobs_msg_send (&m, rs, more ? ZMQ_SNDMORE : 0);
            }
            zmq_msg_close (&m);
        }
        zmq_recv (d, buf, sizeof buf, 0);
    }
#ifdef ZMQOBS_PEER_ROUTING_ID
    if (on) {
        zmqobs_peer_stats_t p[PEERS];
        if (zmqobs_socket_peers (rs, p, PEERS, NULL) != PEERS)
            return 1;
    }
#endif
    for (int i = 0; i < PEERS; i++)
        zmq_close (dealer[i]);
    zmqobs_detach (&rs);
    zmq_close (router);
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
    return 0;
}

int main (int argc, char **argv)
{
    if (argc == 4 && !strcmp (argv[1], "loop"))
        return run_loop (argv[2], atol (argv[3]));
    printf ("libzmqobs %d.%d.%d per-peer benchmark: ROUTER, %d DEALER peers, inproc\n",
            ZMQOBS_VERSION_MAJOR, ZMQOBS_VERSION_MINOR, ZMQOBS_VERSION_PATCH, PEERS);
    if (!bench_have_valgrind ()) {
        printf ("instructions: valgrind not found, skipped\n");
        return 0;
    }
    const long n1 = 20000, n2 = 60000;
    double raw = bench_instr_per_op (argv[0], "raw", n1, n2);
    double off = bench_instr_per_op (argv[0], "wrappers", n1, n2);
    double on = bench_instr_per_op (argv[0], "peers", n1, n2);
    printf ("instructions per round (callgrind; a round = 2 parts received + 2 sent by the "
            "ROUTER, and the peer's send and receive):\n");
    printf ("  libzmq calls alone            %8.1f\n", raw);
    printf ("  wrappers, tracking off        %8.1f   (+%.1f per round, +%.1f per part)\n", off,
            off - raw, (off - raw) / 4);
    printf ("  wrappers, tracking on         %8.1f   (+%.1f per round over tracking off, "
            "+%.1f per part)\n",
            on, on - off, (on - off) / 4);
    return 0;
}
