"""The example programs: the SocketMonitor class (monitor.py), the stats
printer (print_stats.py), and each script run as a user would run it."""
import collections
import os
import re
import subprocess
import threading

import pytest
import zmq

import zmqobs
from conftest import EXAMPLES, WAIT_S, env_for_subprocess, wait_until
from monitor import SocketMonitor
from print_stats import StatsCollector

PY = "/usr/bin/python3"


class Calls:
    """Counts callback invocations by tag (callbacks run on the observer's
    thread)."""

    def __init__(self):
        self.n = collections.Counter()
        self.events = []
        self.lock = threading.Lock()

    def hook(self, tag):
        def fn(ev):
            with self.lock:
                self.n[tag] += 1
                self.events.append((tag, ev))
        return fn


def test_monitor_server_side_once_per_connect_and_disconnect(ctx):
    peers = 3
    with zmqobs.Observer(ctx) as obs:
        server = obs.attach(ctx.socket(zmq.ROUTER), "server")
        server.setsockopt(zmq.LINGER, 0)
        calls = Calls()
        mon = SocketMonitor(obs, server, on_connect=calls.hook("connect"),
                            on_disconnect=calls.hook("disconnect"),
                            on_retry=calls.hook("retry"), on_bind_failed=calls.hook("bind"))
        server.bind("tcp://127.0.0.1:*")
        ep = server.getsockopt_string(zmq.LAST_ENDPOINT)
        clients = []
        for i in range(peers):
            c = ctx.socket(zmq.DEALER)
            c.setsockopt(zmq.LINGER, 0)
            c.connect(ep)
            c.send(b"hi")
            clients.append(c)
        for _ in range(peers):
            server.recv_multipart()
        assert mon.wait_for("HANDSHAKE_SUCCEEDED", peers, WAIT_S)
        for c in clients:
            c.close()
        assert mon.wait_for("DISCONNECTED", peers, WAIT_S)
        mon.stop()
        assert calls.n == {"connect": peers, "disconnect": peers}
        assert all(ev.socket == "server" for _, ev in calls.events)
        assert [ev.event for tag, ev in calls.events if tag == "connect"] == ["ACCEPTED"] * peers
        st = mon.stats
        assert (st["LISTENING"], st["ACCEPTED"], st["HANDSHAKE_SUCCEEDED"], st["DISCONNECTED"]) \
            == (1, peers, peers, peers)
        assert mon.count("CONNECT_RETRIED") == 0
        assert "events of socket 'server':" in mon.summary()
        server.close()


def test_monitor_client_side_connect_disconnect_retry(ctx):
    with zmqobs.Observer(ctx) as obs:
        server = ctx.socket(zmq.ROUTER)
        server.setsockopt(zmq.LINGER, 0)
        server.bind("tcp://127.0.0.1:*")
        ep = server.getsockopt_string(zmq.LAST_ENDPOINT)
        mons, calls, clients = [], [], []
        for i in range(2):
            c = obs.attach(ctx.socket(zmq.DEALER), "client-%d" % i)
            c.setsockopt(zmq.LINGER, 0)
            k = Calls()
            mons.append(SocketMonitor(obs, c.name, on_connect=k.hook("connect"),
                                      on_disconnect=k.hook("disconnect"),
                                      on_retry=k.hook("retry")))
            calls.append(k)
            c.connect(ep)
            clients.append(c)
        for m in mons:
            assert m.wait_for("HANDSHAKE_SUCCEEDED", 1, WAIT_S)
        server.close()  # the clients lose their peer, then retry
        for m in mons:
            assert m.wait_for("DISCONNECTED", 1, WAIT_S)
            assert m.wait_for("CONNECT_RETRIED", 1, WAIT_S)
        for m, k in zip(mons, calls):
            m.stop()  # no callback runs after this: the counts are final
            assert k.n["connect"] == 1 and m.count("CONNECTED") == 1
            assert k.n["disconnect"] == 1 and m.count("DISCONNECTED") == 1
            assert k.n["retry"] == m.count("CONNECT_RETRIED") >= 1
        for c in clients:
            c.close()


def test_monitor_bind_failure_once(ctx):
    with zmqobs.Observer(ctx) as obs:
        holder = ctx.socket(zmq.REP)
        holder.setsockopt(zmq.LINGER, 0)
        holder.bind("tcp://127.0.0.1:*")
        ep = holder.getsockopt_string(zmq.LAST_ENDPOINT)
        late = obs.attach(ctx.socket(zmq.REP), "late")
        k = Calls()
        with SocketMonitor(obs, late, on_bind_failed=k.hook("bind")) as mon:
            with pytest.raises(zmq.ZMQError) as e:
                late.bind(ep)
            assert e.value.errno == zmq.EADDRINUSE
            assert mon.wait_for("BIND_FAILED", 1, WAIT_S)
        assert k.n == {"bind": 1}
        ev = k.events[0][1]
        assert (ev.socket, ev.event, ev.meaning, ev.value_text) == \
            ("late", "BIND_FAILED", "errno", "EADDRINUSE")
        late.close()
        holder.close()


def test_monitor_subclass_hooks_and_failing_callback(ctx):
    seen = []

    class Mine(SocketMonitor):
        def on_event(self, ev):
            seen.append(ev.event)

    def boom(ev):
        raise ValueError("callback failure")

    with zmqobs.Observer(ctx) as obs:
        s = obs.attach(ctx.socket(zmq.REP), "sub")
        m = Mine(obs, s)
        bad = SocketMonitor(obs, s, on_event=boom)
        s.bind("tcp://127.0.0.1:*")
        s.bind("tcp://127.0.0.1:*")
        assert m.wait_for("LISTENING", 2, WAIT_S)
        assert bad.wait_for("LISTENING", 2, WAIT_S)  # it counts before its callback raises
        m.stop()
        bad.stop()
        assert seen.count("LISTENING") == 2
        assert obs.handler_errors == len(seen)
        s.close()


def fixed_clock(*times):
    it = iter(times)
    return lambda: next(it)


def test_print_stats_lines(ctx):
    with zmqobs.Observer(ctx) as obs:
        a = obs.attach(ctx.socket(zmq.PAIR), "a")
        b = obs.attach(ctx.socket(zmq.PAIR), "b")
        c = obs.attach(ctx.socket(zmq.REQ), "c")
        collector = StatsCollector(obs, clock=fixed_clock(100.0, 102.0))
        a.bind("inproc://print-stats")
        b.connect("inproc://print-stats")
        for _ in range(3):
            a.send(b"x" * 10)
            b.recv()
        with pytest.raises(zmq.Again):
            b.recv(zmq.NOBLOCK)
        with pytest.raises(zmq.ZMQError):
            c.recv()  # EFSM
        for ms in range(1, 21):
            a.record_latency(ms * 1000000)
        lines = []

        class Out:
            def write(self, s):
                lines.extend(s.splitlines())

            def flush(self):
                pass

        collector.print_stats(file=Out())
        assert lines == [
            "=== zmqobs stats: 3 sockets, 2.00 s ===",
            "messages sent       3 (30 bytes)",
            "messages received   3 (30 bytes)",
            "connections         0 (now 0)",
            "disconnections      0",
            "errors              1 (would block 1)",
            "latency a           recent 20: avg 10.500 ms, p95 19.000 ms",
            "throughput          1.5 msg/s sent, 1.5 msg/s received",
        ]
        snap = StatsCollector(obs, sockets=[b], clock=fixed_clock(0.0, 1.0)).snapshot()
        assert (snap["sockets"], snap["messages_received"], snap["would_block"]) == (1, 3, 1)
        for s in (a, b, c):
            s.close()


def run_example(*args, timeout=120):
    r = subprocess.run([PY, os.path.join(EXAMPLES, args[0])] + list(args[1:]),
                       env=env_for_subprocess(), capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.splitlines()


def test_monitor_script():
    out = run_example("monitor.py")
    assert out[0].startswith("server bound to tcp://127.0.0.1:")
    assert sum("] server   ACCEPTED" in line for line in out) == 3
    for i in range(3):
        assert sum("] client-%d CONNECTED" % i in line for line in out) == 1
        assert sum("] client-%d DISCONNECTED" % i in line for line in out) == 1
    assert sum("BIND_FAILED" in line and "(EADDRINUSE)" in line for line in out) == 1
    assert "events of socket 'server':" in out, "\n".join(out)
    i = out.index("events of socket 'server':")
    assert re.fullmatch(r"  ACCEPTED +3", out[i + 1])
    assert "events of socket 'late':" in out


def test_print_stats_script():
    n = 200
    out = run_example("print_stats.py", str(n))
    req = sum(len("request %d" % i) for i in range(n))
    assert out[0].startswith("=== zmqobs stats: 2 sockets, ")
    assert out[1] == "messages sent       %d (%d bytes)" % (3 * n, 2 * req + 5 * n)
    assert out[2] == "messages received   %d (%d bytes)" % (3 * n, 2 * req + 5 * n)
    assert re.fullmatch(r"connections         [0-2] \(now [0-2]\)", out[3])
    assert out[4] == "disconnections      0"
    assert out[5] == "errors              0 (would block 0)"
    assert re.fullmatch(r"latency server      recent %d: avg \d+\.\d{3} ms, p95 \d+\.\d{3} ms" % n,
                        out[6])
    assert re.fullmatch(r"latency client      recent %d: avg \d+\.\d{3} ms, p95 \d+\.\d{3} ms" % n,
                        out[7])
    assert re.fullmatch(r"throughput          [\d.]+ msg/s sent, [\d.]+ msg/s received", out[8])


def test_bench_script_counts_exactly():
    out = run_example("bench.py", "-n", "2000", "-r", "3")
    assert "counts exact: yes (8000 messages, 128000 bytes each way)" in out
    assert any(line.startswith("CPU time: plain pyzmq ") for line in out)


def test_wait_helper():
    assert wait_until(lambda: True)
