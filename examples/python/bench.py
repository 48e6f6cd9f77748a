#!/usr/bin/python3
"""bench.py - what counting costs a Python program: a send+recv round trip
on an inproc PAIR pair, plain pyzmq against zmqobs ObservedSockets.

Run it from the top of the source tree, after `make`:

    ZMQOBS_LIB=lib/libzmqobs.so.0 /usr/bin/python3 examples/python/bench.py [-n ITERATIONS] [-r REPS] [-s SIZE]

One thread sends SIZE bytes (16) on one socket of a pair and receives them
on the other, ITERATIONS times (200000) per run. Runs alternate within one
process, plain pyzmq (A) and counted (B), REPS times each (11), in the
order A B, B A, A B, ... so that drift on a shared machine hits both
alike. It prints the median ns per round trip of each, in CPU time of the
thread (inproc does all its work on the calling thread, and CPU time
leaves out the time other processes take the CPU) and in wall time, the
ratio of the medians and the range of the per-rep ratios B/A, and checks
that the counted pair counted every message and byte exactly.

SPDX-License-Identifier: MIT
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zmq  # noqa: E402
import zmqobs  # noqa: E402


def pair(ctx, name):
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    a.bind("inproc://bench-" + name)
    b.connect("inproc://bench-" + name)
    return a, b


def run(a, b, msg, n):
    """(wall ns, this thread's CPU ns) per round trip"""
    send, recv = a.send, b.recv
    c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
    for _ in range(n):
        send(msg)
        recv()
    t1, c1 = time.perf_counter_ns(), time.thread_time_ns()
    return (t1 - t0) / n, (c1 - c0) / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--iterations", type=int, default=200000)
    ap.add_argument("-r", "--reps", type=int, default=11)
    ap.add_argument("-s", "--size", type=int, default=16)
    args = ap.parse_args()
    msg = b"x" * args.size
    ctx = zmq.Context()
    obs = zmqobs.Observer(ctx)
    pa, pb = pair(ctx, "plain")
    ca = obs.attach(ctx.socket(zmq.PAIR), "a")
    cb = obs.attach(ctx.socket(zmq.PAIR), "b")
    ca.bind("inproc://bench-counted")
    cb.connect("inproc://bench-counted")

    warm = min(args.iterations, 20000)
    run(pa, pb, msg, warm)
    run(ca, cb, msg, warm)
    plain, counted = [], []
    for rep in range(args.reps):
        order = [(plain, pa, pb), (counted, ca, cb)]
        if rep % 2:
            order.reverse()
        for out, a, b in order:
            out.append(run(a, b, msg, args.iterations))

    sent = ca.stats()
    received = cb.stats()
    total = warm + args.reps * args.iterations
    ok = (sent["messages_sent"] == total and sent["bytes_sent"] == total * args.size
          and received["messages_received"] == total
          and received["bytes_received"] == total * args.size)
    print("python %s, pyzmq %s, libzmq %s, libzmqobs %s (%s)" % (
        sys.version.split()[0], zmq.pyzmq_version(), zmq.zmq_version(),
        ".".join(map(str, zmqobs.version())), zmqobs.library_path()))
    print("PAIR inproc, %d B, %d round trips x %d alternating reps" % (
        args.size, args.iterations, args.reps))
    for i, what in ((1, "CPU time"), (0, "wall time")):
        p = [x[i] for x in plain]
        c = [x[i] for x in counted]
        mp, mc = statistics.median(p), statistics.median(c)
        print("%s: plain pyzmq %.1f ns, counted %.1f ns per round trip: %+.1f ns, ratio %.3f"
              " (per-rep ratios %.3f..%.3f)" % (what, mp, mc, mc - mp, mc / mp,
                                                min(b / a for a, b in zip(p, c)),
                                                max(b / a for a, b in zip(p, c))))
    print("counts exact: %s (%d messages, %d bytes each way)" % (
        "yes" if ok else "NO", sent["messages_sent"], sent["bytes_sent"]))
    for s in (pa, pb):
        s.close(linger=0)
    ca.close(linger=0)
    cb.close(linger=0)
    obs.close()
    ctx.term()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
