// cpp_server.cpp - a REP server over cppzmq, observed with the C++ API of
// libzmqobs (zmqobs.hpp).
//
// What it shows: a zmqobs::observer for a zmq::context_t, a zmq::socket_t
// attached before it binds, its requests and replies counted through the
// zmqobs::socket's send/recv (cppzmq's own signatures and results, every
// request/reply cycle timed), monitor events printed from a std::function,
// /metrics served on a port of the observer's own, and the socket's
// statistics printed at the end.
//
// It answers "PING" with "PONG" and any other request with "ACK " followed
// by the request.
//
// Run it:
//     cpp_server                                    # tcp://*:5555, metrics on 127.0.0.1:9464
//     cpp_server tcp://127.0.0.1:5600 10            # stop after 10 requests
//     cpp_server 'tcp://127.0.0.1:*' 0 'tcp://127.0.0.1:0'   # any free ports (printed)
//     cpp_server tcp://*:5555 0 off                 # no /metrics
// Arguments: [ENDPOINT] [MAX_REQUESTS (0 = until Ctrl-C)] [METRICS_ENDPOINT|off].
// Then, in other terminals:
//     monitored_client 5555                         # or any REQ client
//     curl -s http://127.0.0.1:9464/metrics
//
// Build it against the installed library (make examples does this):
//     c++ -std=c++11 -o cpp_server cpp_server.cpp $(pkg-config --cflags --libs libzmqobs)
//
// SPDX-License-Identifier: MIT
#include <zmqobs.hpp>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace
{
volatile std::sig_atomic_t stop_requested = 0;

void on_signal (int)
{
    stop_requested = 1;
}

// A whole decimal number, or -1.
long parse_count (const char *text)
{
    if (*text == '\0' || std::strlen (text) > 9)
        return -1;
    long v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

int run (const std::string &endpoint, long max_requests, const std::string &metrics)
{
    zmq::context_t ctx;
    zmqobs_options_t opts = zmqobs::default_options ();
    opts.latency_sample_every = 1; // time every request: it is a demo
    zmqobs::observer obs (ctx, opts);
    // called on the observer's thread, one event at a time
    obs.on_event ([] (const zmqobs_event_info_t &info) {
        std::printf ("[event] %s %s %s\n", info.socket_name, info.event_name,
                     info.event->endpoint_len ? info.event->endpoint : "-");
        std::fflush (stdout);
    });

    zmq::socket_t rep (ctx, zmq::socket_type::rep);
    rep.set (zmq::sockopt::linger, 0);
    // attached before bind, so that LISTENING is seen too; declared after
    // rep, so that it is detached before rep closes
    zmqobs::socket frontend = obs.attach (rep, "frontend");
    rep.bind (endpoint);
    std::printf ("cpp_server: REP on %s\n", rep.get (zmq::sockopt::last_endpoint).c_str ());
    if (metrics != "off") {
        int port = obs.serve (metrics);
        std::printf ("cpp_server: metrics on http://127.0.0.1:%d/metrics (%s)\n", port,
                     metrics.c_str ());
    }
    std::fflush (stdout);

    long served = 0;
    while (!stop_requested && (max_requests == 0 || served < max_requests)) {
        // poll with a timeout, so that a signal caught on another thread
        // (the observer's, libzmq's) still stops the loop
        zmq::pollitem_t item = {rep.handle (), 0, ZMQ_POLLIN, 0};
        try {
            if (zmq::poll (&item, 1, std::chrono::milliseconds (100)) == 0)
                continue;
        } catch (const zmq::error_t &e) {
            if (e.num () == EINTR)
                continue;
            throw;
        }
        zmq::message_t request;
        if (!frontend.recv (request, zmq::recv_flags::dontwait))
            continue; // counted as a would-block
        std::string text = request.to_string ();
        std::string reply = text == "PING" ? "PONG" : "ACK " + text;
        frontend.send (zmq::buffer (reply), zmq::send_flags::none);
        served++;
    }

    zmqobs_stats_t st = frontend.stats ();
    std::printf ("cpp_server: %ld requests; received %" PRIu64 " parts (%" PRIu64
                 " bytes), sent %" PRIu64 " parts (%" PRIu64 " bytes), %" PRIu64
                 " latency samples\n",
                 served, st.msgs_received, st.bytes_received, st.msgs_sent, st.bytes_sent,
                 st.latency_count);
    if (st.window.count)
        std::printf ("cpp_server: latency p50 %.1f us, p99 %.1f us\n",
                     static_cast<double> (st.window.p50_ns) / 1e3,
                     static_cast<double> (st.window.p99_ns) / 1e3);
    std::fflush (stdout);
    return 0;
}
} // namespace

int main (int argc, char **argv)
{
    if (argc > 4) {
        std::fprintf (stderr,
                      "usage: cpp_server [ENDPOINT] [MAX_REQUESTS] [METRICS_ENDPOINT|off]\n");
        return 2;
    }
    std::string endpoint = argc > 1 ? argv[1] : "tcp://*:5555";
    long max_requests = argc > 2 ? parse_count (argv[2]) : 0;
    if (max_requests < 0) {
        std::fprintf (stderr, "cpp_server: MAX_REQUESTS: '%s' is not a whole number\n", argv[2]);
        return 2;
    }
    std::string metrics = argc > 3 ? argv[3] : "tcp://127.0.0.1:9464";

    std::signal (SIGINT, on_signal);
    std::signal (SIGTERM, on_signal);
    try {
        return run (endpoint, max_requests, metrics);
    } catch (const zmqobs::error &e) { // the library's own calls
        std::fprintf (stderr, "cpp_server: %s\n", e.what ());
    } catch (const zmq::error_t &e) { // socket calls, as cppzmq throws them
        std::fprintf (stderr, "cpp_server: %s\n", e.what ());
    }
    return 1;
}
