#!/usr/bin/python3
"""print_stats.py - a metrics collector's print_stats, on libzmqobs.

The usual hand-written collector keeps its own counters of messages and
bytes, connection events, errors and a deque of recent latencies, and
prints them with throughput. Here libzmqobs does the counting (the
ObservedSocket wrappers, the monitor, the latency window), and
StatsCollector only sums the sockets' snapshots and prints them:

    === zmqobs stats: 2 sockets, 0.10 s ===
    messages sent       3000 (26780 bytes)
    messages received   3000 (26780 bytes)
    connections         2 (now 2)
    disconnections      0
    errors              0 (would block 0)
    latency server      recent 1000: avg 0.008 ms, p95 0.011 ms
    latency client      recent 1000: avg 0.089 ms, p95 0.118 ms
    throughput          30786.4 msg/s sent, 30786.4 msg/s received

(the demo below, 1000 requests). "connections" counts connections made
(CONNECTED on connecting sockets, ACCEPTED on bound ones) with the number
open now; "errors" counts failed sends and receives other than EAGAIN,
plus failed handshakes; the latency lines come from each socket's recent
window (exact average and p95 over its last samples: the automatic
REQ/REP timing, here the client's round trips and the server's time from
request to reply, or record_latency); throughput is per second since the
collector was made. The counts behind the connection lines come from
monitor events, which the observer's thread drains a moment after they
happen.

Run it from the top of the source tree, after `make`:

    ZMQOBS_LIB=lib/libzmqobs.so.0 /usr/bin/python3 examples/python/print_stats.py [REQUESTS]

(with libzmqobs installed, ZMQOBS_LIB is not needed). It runs REQUESTS
(default 1000) request/reply round trips over tcp on 127.0.0.1, timing
every one, and prints the stats.

SPDX-License-Identifier: MIT
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zmq  # noqa: E402
import zmqobs  # noqa: E402


class StatsCollector:
    """Totals over an observer's sockets (or some of them), and rates
    since the collector was made. clock is for tests."""

    def __init__(self, observer, sockets=None, clock=time.monotonic):
        self.observer = observer
        self.sockets = sockets
        self.clock = clock
        self.start = clock()

    def _snapshots(self):
        socks = self.sockets if self.sockets is not None else self.observer.sockets
        return [s.stats() for s in socks if s.attached]

    def snapshot(self):
        """The totals print_stats prints, as a dict."""
        snaps = self._snapshots()
        total = {"sockets": len(snaps), "elapsed_s": self.clock() - self.start}
        for key in ("messages_sent", "bytes_sent", "messages_received", "bytes_received"):
            total[key] = sum(s[key] for s in snaps)
        total["connections"] = sum(s["events"]["CONNECTED"] + s["events"]["ACCEPTED"]
                                   for s in snaps)
        total["connections_now"] = sum(s["connections"] for s in snaps)
        total["disconnections"] = sum(s["events"]["DISCONNECTED"] for s in snaps)
        total["errors"] = sum(sum(s["errors"]["send"].values()) + sum(s["errors"]["recv"].values())
                              + sum(s["handshake_failures"].values()) for s in snaps)
        total["would_block"] = sum(s["would_block"]["send"] + s["would_block"]["recv"]
                                   for s in snaps)
        total["latency"] = [(s["name"], s["latency_window"]) for s in snaps
                            if s["latency_window"]["count"]]
        return total

    def print_stats(self, file=None):
        t = self.snapshot()
        out = file if file is not None else sys.stdout
        secs = t["elapsed_s"]
        lines = [
            "=== zmqobs stats: %d sockets, %.2f s ===" % (t["sockets"], secs),
            "messages sent       %d (%d bytes)" % (t["messages_sent"], t["bytes_sent"]),
            "messages received   %d (%d bytes)" % (t["messages_received"], t["bytes_received"]),
            "connections         %d (now %d)" % (t["connections"], t["connections_now"]),
            "disconnections      %d" % t["disconnections"],
            "errors              %d (would block %d)" % (t["errors"], t["would_block"]),
        ]
        for name, w in t["latency"]:
            lines.append("latency %-11s recent %d: avg %.3f ms, p95 %.3f ms"
                         % (name, w["count"], w["mean_ns"] / 1e6, w["p95_ns"] / 1e6))
        if not t["latency"]:
            lines.append("latency             no samples")
        if secs > 0:
            lines.append("throughput          %.1f msg/s sent, %.1f msg/s received"
                         % (t["messages_sent"] / secs, t["messages_received"] / secs))
        out.write("\n".join(lines) + "\n")
        out.flush()


def main(argv):
    requests = int(argv[1]) if len(argv) > 1 else 1000
    ctx = zmq.Context()
    with zmqobs.Observer(ctx, latency_sample_every=1) as obs:
        collector = StatsCollector(obs)
        server = obs.attach(ctx.socket(zmq.REP), "server")
        server.bind("tcp://127.0.0.1:*")
        client = obs.attach(ctx.socket(zmq.REQ), "client")
        client.connect(server.getsockopt_string(zmq.LAST_ENDPOINT))
        for i in range(requests):
            client.send_string("request %d" % i)
            server.send_multipart([b"reply", server.recv()])
            client.recv_multipart()
        collector.print_stats()
        client.close(linger=0)
        server.close(linger=0)
    ctx.term()


if __name__ == "__main__":
    main(sys.argv)
