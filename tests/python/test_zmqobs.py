"""zmqobs.py over Debian's pyzmq: exact counts through the counted
send/recv (single, multipart, string, JSON, Frames), pyzmq's return values
and exceptions, stats, the four formats, HTTP, events, host-driven mode,
the lifecycle and the errors."""
import errno
import json
import threading
import urllib.request

import pytest
import zmq

import zmqobs
from conftest import wait_until


def pair(obs, ctx, tag, attach_b=True):
    a = obs.attach(ctx.socket(zmq.PAIR), tag + "-a")
    b = ctx.socket(zmq.PAIR)
    if attach_b:
        b = obs.attach(b, tag + "-b")
    a.bind("inproc://" + tag)
    b.connect("inproc://" + tag)
    return a, b


def traffic(s):
    st = s.stats()
    return (st["messages_sent"], st["bytes_sent"], st["messages_received"], st["bytes_received"])


def test_pair_inproc_single_parts(obs, ctx):
    a, b = pair(obs, ctx, "single")
    payloads = [b"hello", bytearray(b"12345678"), memoryview(b"abc"), b"", b"x" * 70000,
                zmq.Frame(b"frame!")]
    for p in payloads:
        assert a.send(p) is None  # pyzmq's return value
    got = [b.recv() for _ in range(5)] + [b.recv(copy=False)]
    assert got[:5] == [b"hello", b"12345678", b"abc", b"", b"x" * 70000]
    assert isinstance(got[5], zmq.Frame) and got[5].bytes == b"frame!"
    n = 5 + 8 + 3 + 0 + 70000 + 6
    assert traffic(a) == (6, n, 0, 0)
    assert traffic(b) == (0, 0, 6, n)
    # copy=False with track: pyzmq's MessageTracker comes back
    tracker = a.send(b"y" * 100, copy=False, track=True)
    assert isinstance(tracker, zmq.MessageTracker)
    assert b.recv() == b"y" * 100
    assert traffic(a) == (7, n + 100, 0, 0)


def test_pair_inproc_multipart_and_strings(obs, ctx):
    a, b = pair(obs, ctx, "multi")
    a.send_multipart([b"one", b"two", b"three"])
    assert b.recv_multipart() == [b"one", b"two", b"three"]
    a.send_multipart([b"k", bytearray(b"vv")], copy=False)
    frames = b.recv_multipart(copy=False)
    assert [f.bytes for f in frames] == [b"k", b"vv"]
    a.send_string("h\u00e9llo w\u00f6rld")  # 13 bytes in UTF-8
    assert b.recv_string() == "h\u00e9llo w\u00f6rld"
    a.send_string("abc", encoding="utf-16-le")
    assert b.recv_string(encoding="utf-16-le") == "abc"
    a.send_json({"k": [1, 2]})
    assert b.recv_json() == {"k": [1, 2]}
    a.send_multipart([b"x"] * 5, flags=zmq.NOBLOCK)
    assert b.recv_multipart(zmq.NOBLOCK) == [b"x"] * 5
    js = len(json.dumps({"k": [1, 2]}).encode())
    parts = 3 + 2 + 1 + 1 + 1 + 5
    size = (3 + 3 + 5) + (1 + 2) + 13 + 6 + js + 5
    assert traffic(a) == (parts, size, 0, 0)
    assert traffic(b) == (0, 0, parts, size)
    # send_multipart refuses a non-buffer part before sending anything
    with pytest.raises(TypeError):
        a.send_multipart([b"ok", 42])
    with pytest.raises(TypeError):
        a.send_string(b"bytes")
    assert traffic(a) == (parts, size, 0, 0)


def test_tcp_req_rep_exact_counts_and_latency(ctx):
    rounds = 50
    with zmqobs.Observer(ctx, latency_sample_every=1) as obs:
        rep = obs.attach(ctx.socket(zmq.REP), "rep")
        rep.bind("tcp://127.0.0.1:*")
        req = obs.attach(ctx.socket(zmq.REQ), "req")
        req.connect(rep.getsockopt_string(zmq.LAST_ENDPOINT))
        for i in range(rounds):
            if i % 2:
                req.send_multipart([b"part", b"%03d" % i])  # 4 + 3
                assert rep.recv_multipart() == [b"part", b"%03d" % i]
                rep.send(b"ok")  # 2
            else:
                req.send(b"ping")  # 4
                assert rep.recv() == b"ping"
                rep.send_multipart([b"po", b"ng"])  # 2 + 2
            reply = req.recv_multipart()
            assert reply in ([b"ok"], [b"po", b"ng"])
        odd, even = rounds // 2, rounds - rounds // 2
        req_st, rep_st = req.stats(), rep.stats()
        assert traffic(req) == (2 * odd + even, 7 * odd + 4 * even, odd + 2 * even, 2 * odd + 4 * even)
        assert traffic(rep) == (odd + 2 * even, 2 * odd + 4 * even, 2 * odd + even, 7 * odd + 4 * even)
        # every cycle timed once, on the last part only, on both sides
        assert req_st["latency"]["count"] == rounds
        assert rep_st["latency"]["count"] == rounds
        assert req_st["latency_window"]["count"] == rounds
        assert rep_st["type"] == "REP" and req_st["type"] == "REQ"
        assert wait_until(lambda: rep.stats()["connections"] == 1)
        assert wait_until(lambda: req.stats()["connections"] == 1)
        req.close(linger=0)
        rep.close(linger=0)


def test_eagain_and_errors(obs, ctx):
    a = obs.attach(ctx.socket(zmq.PAIR), "lonely")
    a.bind("inproc://lonely")
    with pytest.raises(zmq.Again):
        a.recv(zmq.NOBLOCK)
    with pytest.raises(zmq.Again):
        a.recv_multipart(flags=zmq.NOBLOCK)
    with pytest.raises(zmq.Again):
        a.recv_string(zmq.NOBLOCK)
    with pytest.raises(zmq.Again):
        a.send(b"nobody", zmq.NOBLOCK)  # no peer: a PAIR would block
    req = obs.attach(ctx.socket(zmq.REQ), "req-fsm")
    with pytest.raises(zmq.ZMQError) as e:
        req.recv()  # a REQ must send first
    assert e.value.errno == zmq.EFSM
    st, rst = a.stats(), req.stats()
    assert st["would_block"] == {"send": 1, "recv": 3}
    assert st["errors"] == {"send": {}, "recv": {}}
    assert traffic(a) == (0, 0, 0, 0)
    assert rst["errors"] == {"send": {}, "recv": {"EFSM": 1}}
    assert rst["would_block"] == {"send": 0, "recv": 0}
    # the same in the exposition
    text = obs.format("prometheus")
    assert ('zmq_would_block_total{socket="lonely",type="PAIR",service="pytest",op="recv"} 3'
            in text.splitlines())
    assert ('zmq_errors_total{socket="req-fsm",type="REQ",service="pytest",op="recv",'
            'error="EFSM"} 1' in text.splitlines())


def test_record_calls_and_queue_depth(obs, ctx):
    s = obs.attach(ctx.socket(zmq.DEALER), "manual")
    s.record_sent(10)
    s.record_sent(5, zmq.SNDMORE)
    s.record_received(7, more=True)
    s.record_received(3)
    s.record_error(zmqobs.OP_SEND, errno.EHOSTUNREACH)
    s.record_error(zmqobs.OP_RECV, errno.EAGAIN)
    s.record_latency(1500)
    s.record_latency(2500)
    s.set_queue_depth(7)
    s.add_queue_depth(-2)
    st = s.stats()
    assert traffic(s) == (2, 15, 2, 10)
    assert st["errors"]["send"] == {"EHOSTUNREACH": 1}
    assert st["would_block"] == {"send": 0, "recv": 1}
    assert st["queue_depth"] == 5
    assert st["latency"]["count"] == 2 and st["latency"]["sum_ns"] == 4000
    w = st["latency_window"]
    assert (w["count"], w["min_ns"], w["max_ns"], w["sum_ns"]) == (2, 1500, 2500, 4000)
    assert sum(c for _, c in st["latency"]["buckets"]) == 2
    assert st["latency"]["buckets"][-1][0] is None
    with pytest.raises(ValueError):
        s.record_error(5, errno.EINVAL)
    with pytest.raises(ValueError):
        s.record_latency(-1)


def test_stats_dict_shape(obs, ctx):
    a, b = pair(obs, ctx, "shape")
    st = a.stats()
    assert st["name"] == "shape-a" and st["type"] == "PAIR"
    assert st["monitor_up"] is True and st["last_error"] is None
    assert set(st["events"]) >= {"CONNECTED", "ACCEPTED", "LISTENING", "DISCONNECTED",
                                 "HANDSHAKE_SUCCEEDED", "MONITOR_STOPPED"}
    assert set(obs.stats()) == {"shape-a", "shape-b"}
    assert obs.socket_count() == 2
    assert [s.name for s in obs.sockets] == ["shape-a", "shape-b"]


def test_formats_contain_the_socket(obs, ctx):
    a, b = pair(obs, ctx, "fmt")
    a.send(b"12345")
    b.recv()
    prom = obs.format("prometheus").splitlines()
    assert 'zmq_messages_sent_total{socket="fmt-a",type="PAIR",service="pytest"} 1' in prom
    assert 'zmq_bytes_received_total{socket="fmt-b",type="PAIR",service="pytest"} 5' in prom
    om = obs.format("openmetrics").splitlines()
    assert om[-1] == "# EOF"
    assert 'zmq_messages_sent_total{socket="fmt-a",type="PAIR",service="pytest"} 1' in om
    doc = json.loads(obs.format("json"))
    socks = {s["name"]: s for s in doc["sockets"]}
    assert socks["fmt-a"]["messages_sent"] == 1 and socks["fmt-b"]["bytes_received"] == 5
    assert doc["labels"] == {"service": "pytest"}
    assert 'socket "fmt-a" (PAIR)' in obs.format("text")
    with pytest.raises(ValueError):
        obs.format("xml")
    assert zmqobs.content_type("openmetrics").startswith("application/openmetrics-text")


def test_format_grows_past_its_first_buffer(obs, ctx):
    socks = [obs.attach(ctx.socket(zmq.DEALER), "s%02d" % i) for i in range(12)]
    text = obs.format("prometheus")
    assert len(text) > 16384
    assert text.endswith("\n")
    for s in socks:
        assert 'zmq_messages_sent_total{socket="%s",type="DEALER",service="pytest"} 0' % s.name \
            in text.splitlines()


def test_options_prefix_labels_and_process_metrics(ctx):
    with zmqobs.Observer(ctx, namespace="app", labels={"zone": "z1"},
                         process_metrics=False) as o:
        s = o.attach(ctx.socket(zmq.PUSH), "p")
        text = o.format("prometheus")
        assert 'app_zmq_messages_sent_total{socket="p",type="PUSH",zone="z1"} 0' in text
        assert "process_cpu_seconds_total" not in text
    with zmqobs.Observer(ctx, buckets_ns=[1000, 2000], ring_capacity=8) as o:
        s = o.attach(ctx.socket(zmq.PUSH), "q")
        for ns in (500, 1500, 2500, 10, 20, 30, 40, 50, 60, 70):
            s.record_latency(ns)
        st = s.stats()
        assert st["latency"]["buckets"] == [(1000, 8), (2000, 1), (None, 1)]
        assert st["latency_window"]["count"] == 8  # the ring keeps the last 8
        assert "process_cpu_seconds_total" in o.format("prometheus")
    with pytest.raises(zmqobs.ZmqobsError) as e:
        zmqobs.Observer(ctx, ring_capacity=1000)  # not a power of two
    assert e.value.errno == errno.EINVAL
    with pytest.raises(ValueError):
        zmqobs.Observer(ctx, latency_sample_every=0)
    with pytest.raises(TypeError):
        zmqobs.Observer(object())


def test_serve_and_get_metrics(obs, ctx):
    a, b = pair(obs, ctx, "http")
    a.send(b"abc")
    b.recv()
    port = obs.serve("tcp://127.0.0.1:0")
    assert port > 0 and obs.serve_port() == port
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == zmqobs.content_type("prometheus")
        body = r.read().decode()
    assert 'zmq_messages_sent_total{socket="http-a",type="PAIR",service="pytest"} 1' \
        in body.splitlines()
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % port,
                                 headers={"Accept": "application/openmetrics-text"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.read().decode().endswith("# EOF\n")
    with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=10) as r:
        assert r.status == 200
    ready, reason = obs.ready()
    assert 'socket "http-a"' in reason
    with pytest.raises(zmqobs.ZmqobsError) as e:
        obs.serve("tcp://127.0.0.1:0")
    assert e.value.errno == errno.EALREADY
    obs.serve_stop()
    with pytest.raises(zmqobs.ZmqobsError) as e:
        obs.serve_port()
    assert e.value.errno == errno.ENOTCONN


def test_on_event_gets_listening(obs, ctx):
    got = []
    seen = threading.Event()
    main_thread = threading.get_ident()
    threads = set()

    @obs.on_event
    def handler(ev):
        threads.add(threading.get_ident())
        got.append(ev)
        if ev.event == "LISTENING":
            seen.set()

    rep = obs.attach(ctx.socket(zmq.REP), "listener")
    rep.bind("tcp://127.0.0.1:*")
    assert seen.wait(20)
    listening = [e for e in got if e.event == "LISTENING"]
    assert len(listening) == 1
    ev = listening[0]
    assert ev.socket == "listener" and ev.code == zmq.EVENT_LISTENING
    assert ev.endpoint == rep.getsockopt_string(zmq.LAST_ENDPOINT)
    assert ev.meaning == "fd" and ev.timestamp_ns > 0
    assert main_thread not in threads  # the observer's own thread
    obs.remove_event_handler(handler)
    n = len(got)
    rep.unbind(rep.getsockopt_string(zmq.LAST_ENDPOINT))
    assert wait_until(lambda: rep.stats()["listening"] == 0)
    assert len(got) == n  # removed: not called again


def test_handler_exceptions_do_not_stop_the_observer(obs, ctx, caplog):
    good = []

    def bad(ev):
        raise RuntimeError("handler failure")

    def reentrant(ev):
        obs.attach(ctx.socket(zmq.PAIR), "never")  # would deadlock: refused

    obs.on_event(bad)
    obs.on_event(reentrant)
    obs.on_event(good.append)
    s = obs.attach(ctx.socket(zmq.REP), "raiser")
    s.bind("tcp://127.0.0.1:*")
    s.bind("tcp://127.0.0.1:*")
    assert wait_until(lambda: sum(e.event == "LISTENING" for e in good) == 2)
    obs.remove_event_handler(bad)
    obs.remove_event_handler(reentrant)
    # every event reached the good handler after the two that raised
    assert obs.handler_errors == 2 * len(good)
    assert "never" not in obs.stats()


def test_host_driven_mode(ctx):
    with zmqobs.Observer(ctx, host_driven=True) as o:
        got = []
        o.on_event(got.append)
        s = o.attach(ctx.socket(zmq.REP), "hd")
        s.bind("tcp://127.0.0.1:*")
        fd = o.fd()
        assert fd >= 0
        poller = zmq.Poller()
        poller.register(fd, zmq.POLLIN)
        assert wait_until(lambda: (poller.poll(100) and o.process(0) >= 0)
                          and any(e.event == "LISTENING" for e in got))
        assert [e.event for e in got].count("LISTENING") == 1
        assert o.timeout_ms() >= -1
        assert s.stats()["listening"] == 1
    with zmqobs.Observer(ctx) as o:
        with pytest.raises(zmqobs.ZmqobsError) as e:
            o.fd()
        assert e.value.errno == errno.ENOTSUP


def test_attach_errors(obs, ctx):
    s = obs.attach(ctx.socket(zmq.PAIR), "dup")
    with pytest.raises(zmqobs.ZmqobsError) as e:
        obs.attach(ctx.socket(zmq.PAIR), "dup")
    assert e.value.errno == errno.EEXIST
    with pytest.raises(ValueError):
        obs.attach(s, "again")
    with pytest.raises(zmqobs.ZmqobsError) as e:
        obs.attach(s.original, "again")  # one monitor per socket
    assert e.value.errno == errno.EEXIST
    other = zmq.Context()
    try:
        foreign = other.socket(zmq.PAIR)
        with pytest.raises(zmqobs.ZmqobsError) as e:
            obs.attach(foreign, "foreign")
        assert e.value.errno == errno.EXDEV
        foreign.close()
    finally:
        other.term()
    closed = ctx.socket(zmq.PAIR)
    closed.close()
    with pytest.raises(zmqobs.ZmqobsError) as e:
        obs.attach(closed, "closed")
    assert e.value.errno == errno.ENOTSOCK
    with pytest.raises(TypeError):
        obs.attach(object(), "x")
    # a pyzmq monitor would replace the library's: refused on the wrapper
    with pytest.raises(RuntimeError):
        s.get_monitor_socket()
    assert s.stats()["monitor_up"] is True


def test_detach_leaves_the_socket_usable_and_uncounted(obs, ctx):
    a, b = pair(obs, ctx, "detach")
    a.send(b"1")
    assert b.recv() == b"1"
    a.detach()
    a.detach()  # idempotent
    assert not a.attached and obs.socket_count() == 1
    a.send(b"22")  # still pyzmq's send, no longer counted
    assert b.recv() == b"22"
    with pytest.raises(ValueError):
        a.stats()
    assert traffic(b) == (0, 0, 2, 3)
    # attach the same socket again (a new monitor)
    a2 = obs.attach(a.original, "detach-a")
    a2.send(b"333")
    assert b.recv() == b"333"
    assert traffic(a2) == (1, 3, 0, 0)


def test_close_and_context_manager(ctx):
    with zmqobs.Observer(ctx) as o:
        s = o.attach(ctx.socket(zmq.PUSH), "cm")
        orig = s.original
        assert repr(o) == "<zmqobs.Observer 1 sockets>"
    assert o.closed and not s.attached and not orig.closed
    o.close()  # idempotent
    with pytest.raises(ValueError):
        o.format()
    with pytest.raises(ValueError):
        o.attach(orig, "late")
    # an observed socket's close detaches, then closes the original
    with zmqobs.Observer(ctx) as o:
        s = o.attach(orig, "cm")
        s.close()
        assert orig.closed and s.closed and o.socket_count() == 0
    # a socket used as a context manager
    with zmqobs.Observer(ctx) as o:
        with o.attach(ctx.socket(zmq.PUSH), "with") as s:
            s.bind("inproc://with")
        assert s.closed and o.socket_count() == 0


def test_endpoint_calls_keep_the_gauge(obs, ctx):
    rep = obs.attach(ctx.socket(zmq.REP), "gauge")
    rep.bind("tcp://127.0.0.1:*")
    ep = rep.getsockopt_string(zmq.LAST_ENDPOINT)
    req = ctx.socket(zmq.REQ)
    req.connect(ep)
    req.send(b"x")
    rep.send(rep.recv())
    req.recv()
    assert wait_until(lambda: rep.stats()["connections"] == 1)
    rep.unbind(ep)  # zmqobs_unbind: the peer leaves the gauge before it returns
    assert rep.stats()["connections"] == 0
    assert wait_until(lambda: rep.stats()["listening"] == 0)  # on the CLOSED event
    req.close(linger=0)


def test_library_facts():
    assert zmqobs.version()[0] == zmqobs.ABI_MAJOR
    assert zmqobs.library_path()
    assert zmqobs.mismatch_reason(
        zmqobs._bound_address(zmqobs._lib, "zmq_ctx_new"), zmqobs._pyzmq_bindings()) is None


def test_connect_disconnect_through_the_library(obs, ctx):
    rep = ctx.socket(zmq.REP)
    rep.setsockopt(zmq.LINGER, 0)
    rep.bind("tcp://127.0.0.1:*")
    ep = rep.getsockopt_string(zmq.LAST_ENDPOINT)
    req = obs.attach(ctx.socket(zmq.REQ), "cycler")
    req.setsockopt(zmq.LINGER, 0)
    for round_ in range(1, 4):
        with req.connect(ep):  # pyzmq's context manager: disconnect on exit
            req.send(b"x")
            rep.send(rep.recv())
            req.recv()
            # every round: the endpoint, reopened by zmqobs_connect after
            # zmqobs_disconnect closed it, is counted again
            assert wait_until(lambda: req.stats()["connections"] == 1)
        # zmqobs_disconnect: the peer left the gauge before it returned
        st = req.stats()
        assert (st["connections"], st["events"]["HANDSHAKE_SUCCEEDED"]) == (0, round_)
    with pytest.raises(zmq.ZMQError) as e:
        req.disconnect(ep)  # not connected any more: libzmq's ENOENT, as pyzmq raises it
    assert e.value.errno == errno.ENOENT
    with pytest.raises(zmq.ZMQError) as e:
        req.connect("bogus://x")
    assert e.value.errno == errno.EPROTONOSUPPORT
    rep.close()


def test_application_metrics(obs):
    jobs = obs.counter("jobs", "Jobs done.", {"queue": "fast"})
    depth = obs.gauge("depth", "Items waiting.")
    sizes = obs.histogram("sizes", "Sizes.", bounds=[1.0, 10.0])
    jobs.add()
    jobs.add(41)
    depth.set(2.5)
    depth.add(-1)
    for v in (0.5, 5.0, 50.0):
        sizes.observe(v)
    lines = obs.format("prometheus").splitlines()
    # (the fixture's observer adds service="pytest" to every series)
    assert 'jobs_total{queue="fast",service="pytest"} 42' in lines
    assert 'depth{service="pytest"} 1.5' in lines
    assert 'sizes_bucket{service="pytest",le="1"} 1' in lines
    assert 'sizes_bucket{service="pytest",le="10"} 2' in lines
    assert 'sizes_bucket{service="pytest",le="+Inf"} 3' in lines
    assert 'sizes_count{service="pytest"} 3' in lines
    # the same name and labels again: EEXIST
    with pytest.raises(zmqobs.ZmqobsError) as e:
        obs.counter("jobs", "Jobs done.", {"queue": "fast"})
    assert e.value.errno == errno.EEXIST
    with pytest.raises(ValueError):
        jobs.add(-1)
    with pytest.raises(ValueError):
        sizes.observe(float("nan"))
    jobs.destroy()
    assert "jobs_total" not in obs.format("prometheus")
    with pytest.raises(ValueError):
        jobs.add()
    obs.close()
    with pytest.raises(ValueError):
        depth.set(1)
