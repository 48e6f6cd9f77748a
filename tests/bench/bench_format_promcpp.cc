// bench_format_promcpp.cc - prometheus-cpp's Registry::Collect plus
// TextSerializer on a registry equivalent to bench_format's scenario (the
// same families, label sets, bucket bounds and quantiles per socket), for
// the comparison bench_format prints. Built only when prometheus-cpp-dev
// is installed.
//
//   bench_format_promcpp time N        prints "bytes=B us=T" (median)
//   bench_format_promcpp loop N ITER   ITER scrapes, for callgrind with
//                                      --toggle-collect=promcpp_scrape
//
// SPDX-License-Identifier: MIT
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/summary.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace prometheus;

static const char *const event_names[] = {
    "CONNECTED",     "CONNECT_DELAYED", "CONNECT_RETRIED",
    "LISTENING",     "BIND_FAILED",     "ACCEPTED",
    "ACCEPT_FAILED", "CLOSED",          "CLOSE_FAILED",
    "DISCONNECTED",  "MONITOR_STOPPED", "HANDSHAKE_FAILED_NO_DETAIL",
    "HANDSHAKE_SUCCEEDED", "HANDSHAKE_FAILED_PROTOCOL", "HANDSHAKE_FAILED_AUTH"};
static const char *const types[] = {"ROUTER", "DEALER", "PUB", "SUB", "PUSH", "PULL"};

static unsigned long long rng = 88172645463325252ull;
static double some_latency ()
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    unsigned long long ns = 5000 + ((rng & 0xffff) << ((rng >> 16) % 9));
    return (double) ns * 1e-9;
}

static void build (Registry &reg, int n)
{
    auto &sent = BuildCounter ().Name ("zmq_messages_sent_total").Help ("Message parts sent.").Register (reg);
    auto &recv = BuildCounter ().Name ("zmq_messages_received_total").Help ("Message parts received.").Register (reg);
    auto &bsent = BuildCounter ().Name ("zmq_bytes_sent_total").Help ("Payload bytes sent.").Register (reg);
    auto &brecv = BuildCounter ().Name ("zmq_bytes_received_total").Help ("Payload bytes received.").Register (reg);
    auto &errors = BuildCounter ().Name ("zmq_errors_total").Help ("Failed sends and receives.").Register (reg);
    auto &wb = BuildCounter ().Name ("zmq_would_block_total").Help ("EAGAIN.").Register (reg);
    auto &events = BuildCounter ().Name ("zmq_socket_events_total").Help ("Monitor events.").Register (reg);
    auto &conns = BuildGauge ().Name ("zmq_connections").Help ("Peers connected now.").Register (reg);
    auto &listening = BuildGauge ().Name ("zmq_listening").Help ("Endpoints listening.").Register (reg);
    auto &recon = BuildCounter ().Name ("zmq_reconnects_total").Help ("Reconnects.").Register (reg);
    auto &malformed = BuildCounter ().Name ("zmq_monitor_malformed_total").Help ("Malformed.").Register (reg);
    auto &depth = BuildGauge ().Name ("zmq_queue_depth").Help ("Queue depth.").Register (reg);
    auto &hist = BuildHistogram ().Name ("zmq_message_latency_seconds").Help ("Latency.").Register (reg);
    auto &summ = BuildSummary ().Name ("zmq_message_latency_window_seconds").Help ("Window.").Register (reg);
    Histogram::BucketBoundaries bounds = {1e-05, 2.5e-05, 5e-05, 0.0001, 0.00025, 0.0005, 0.001,
                                          0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                          2.5, 5, 10, 25};
    Summary::Quantiles q = {{0.5, 0.05}, {0.9, 0.01}, {0.95, 0.005}, {0.99, 0.001}, {0.999, 0.0001}};
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf (name, sizeof name, "socket-%03d", i);
        Labels l = {{"socket", name}, {"type", types[i % 6]}};
        sent.Add (l).Increment (1000 + i);
        recv.Add (l).Increment (1000 + i);
        bsent.Add (l).Increment (100000.0 + i);
        brecv.Add (l).Increment (50000.0 + i);
        if (i % 3 == 0) {
            Labels e = l;
            e["op"] = "send";
            e["error"] = "EHOSTUNREACH";
            errors.Add (e).Increment ();
        }
        for (const char *op : {"send", "recv"}) {
            Labels w = l;
            w["op"] = op;
            wb.Add (w).Increment (op[0] == 'r' ? 1 : 0);
        }
        for (const char *ev : event_names) {
            Labels w = l;
            w["event"] = ev;
            events.Add (w).Increment (i);
        }
        conns.Add (l).Set (i % 4);
        listening.Add (l).Set (0);
        recon.Add (l);
        malformed.Add (l);
        depth.Add (l).Set (i);
        auto &h = hist.Add (l, bounds);
        auto &s = summ.Add (l, q);
        for (int k = 0; k < 1024; k++) {
            double v = some_latency ();
            h.Observe (v);
            s.Observe (v);
        }
    }
}

extern "C" __attribute__ ((noinline)) size_t promcpp_scrape (Registry *reg)
{
    TextSerializer ser;
    auto fams = reg->Collect ();
    std::string out = ser.Serialize (fams);
    return out.size ();
}

int main (int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int n = atoi (argv[2]);
    Registry reg;
    build (reg, n);
    if (strcmp (argv[1], "loop") == 0 && argc >= 4) {
        long iter = atol (argv[3]);
        size_t total = 0;
        for (long i = 0; i < iter; i++)
            total += promcpp_scrape (&reg);
        printf ("bytes_total=%zu\n", total);
        return 0;
    }
    std::vector<double> t;
    size_t bytes = 0;
    int runs = n >= 100 ? 200 : 1000;
    for (int r = 0; r < runs; r++) {
        auto t0 = std::chrono::steady_clock::now ();
        bytes = promcpp_scrape (&reg);
        auto t1 = std::chrono::steady_clock::now ();
        t.push_back (std::chrono::duration<double, std::micro> (t1 - t0).count ());
    }
    std::sort (t.begin (), t.end ());
    printf ("bytes=%zu us=%.1f\n", bytes, t[t.size () / 2]);
    return 0;
}
