#!/usr/bin/python3
"""monitor.py - a socket monitor class on libzmqobs's event stream.

The usual hand-written pyzmq monitor (a thread reading get_monitor_socket(),
a dict of event counts, hooks for connect, disconnect, retry and bind
failure) without the thread or the monitor socket: libzmqobs drains the
monitor, and SocketMonitor subscribes to its events with Observer.on_event.

Run it from the top of the source tree, after `make`:

    ZMQOBS_LIB=lib/libzmqobs.so.0 /usr/bin/python3 examples/python/monitor.py

(with libzmqobs installed, ZMQOBS_LIB is not needed). The demo binds a REP
server on a free port, connects three REQ clients that make a request each,
stops the server so that the clients lose it and retry, binds a second
socket to the server's busy port (a bind failure), and prints the
callbacks as they fire and every socket's event counts.

Callbacks run on the observer's thread: keep them short, and hand work to
your own threads if there is more to do. An exception in one is logged
(logger "zmqobs") and the monitor goes on.

SPDX-License-Identifier: MIT
"""

import collections
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zmq  # noqa: E402
import zmqobs  # noqa: E402


class SocketMonitor:
    """Per-event statistics and callbacks for one observed socket.

    SocketMonitor(observer, sock, on_connect=None, on_disconnect=None,
                  on_retry=None, on_bind_failed=None, on_event=None)

    sock: an ObservedSocket, or the name it was attached under. Each
    callback gets the zmqobs.Event: on_connect for every connection made
    (CONNECTED on the connecting side, ACCEPTED on the bound side),
    on_disconnect for DISCONNECTED, on_retry for CONNECT_RETRIED,
    on_bind_failed for BIND_FAILED, on_event for every event. Subclasses
    may override the methods of the same names instead.
    """

    HISTORY = 100  # recent events kept in .history

    def __init__(self, observer, sock, on_connect=None, on_disconnect=None, on_retry=None,
                 on_bind_failed=None, on_event=None):
        self.observer = observer
        self.name = sock if isinstance(sock, str) else sock.name
        self._hooks = {"on_connect": on_connect, "on_disconnect": on_disconnect,
                       "on_retry": on_retry, "on_bind_failed": on_bind_failed,
                       "on_event": on_event}
        self._counts = collections.Counter()
        self.history = collections.deque(maxlen=self.HISTORY)
        self._cond = threading.Condition()
        self._running = True
        observer.on_event(self._handle)

    _DISPATCH = {"CONNECTED": "on_connect", "ACCEPTED": "on_connect",
                 "DISCONNECTED": "on_disconnect", "CONNECT_RETRIED": "on_retry",
                 "BIND_FAILED": "on_bind_failed"}

    def _handle(self, ev):
        if ev.socket != self.name:
            return
        with self._cond:
            self._counts[ev.event] += 1
            self.history.append(ev)
            self._cond.notify_all()
        self.on_event(ev)
        hook = self._DISPATCH.get(ev.event)
        if hook:
            getattr(self, hook)(ev)

    # Default hooks: call what the constructor was given.
    def _call(self, hook, ev):
        fn = self._hooks[hook]
        if fn is not None:
            fn(ev)

    def on_connect(self, ev):
        self._call("on_connect", ev)

    def on_disconnect(self, ev):
        self._call("on_disconnect", ev)

    def on_retry(self, ev):
        self._call("on_retry", ev)

    def on_bind_failed(self, ev):
        self._call("on_bind_failed", ev)

    def on_event(self, ev):
        self._call("on_event", ev)

    # Statistics
    @property
    def stats(self):
        """{event name: count} of the events seen so far (a copy)."""
        with self._cond:
            return dict(self._counts)

    def count(self, event):
        with self._cond:
            return self._counts[event]

    def wait_for(self, event, count, timeout=10.0):
        """Waits until event was seen count times; returns whether it was."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._counts[event] < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def summary(self):
        with self._cond:
            items = sorted(self._counts.items())
        lines = ["events of socket %r:" % self.name]
        lines += ["  %-28s %d" % kv for kv in items]
        return "\n".join(lines)

    def stop(self):
        """Stops listening; when it returns, no callback is running."""
        if self._running:
            self._running = False
            self.observer.remove_event_handler(self._handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _say(tag):
    def hook(ev):
        # one write for the whole line, newline included: the hook runs on
        # the observer's thread while the main thread prints too, and
        # print() writes the text and the newline separately
        sys.stdout.write("[%-14s] %-8s %-16s %s%s\n" % (
            tag, ev.socket, ev.event, ev.endpoint,
            " (%s)" % ev.value_text if ev.value_text else ""))
        sys.stdout.flush()
    return hook


def demo(clients=3):
    ctx = zmq.Context()
    with zmqobs.Observer(ctx, service="monitor-demo") as obs:
        server = obs.attach(ctx.socket(zmq.REP), "server")
        server.setsockopt(zmq.LINGER, 0)
        server_mon = SocketMonitor(obs, server, on_connect=_say("connect"),
                                   on_disconnect=_say("disconnect"))
        server.bind("tcp://127.0.0.1:*")
        endpoint = server.getsockopt_string(zmq.LAST_ENDPOINT)
        print("server bound to", endpoint)

        socks, mons = [], []
        for i in range(clients):
            c = obs.attach(ctx.socket(zmq.REQ), "client-%d" % i)
            c.setsockopt(zmq.LINGER, 0)
            mons.append(SocketMonitor(obs, c, on_connect=_say("connect"),
                                      on_disconnect=_say("disconnect"),
                                      on_retry=_say("retry")))
            c.connect(endpoint)
            socks.append(c)
        for c in socks:
            c.send(b"hello")
            server.send(server.recv())
            c.recv()
        server_mon.wait_for("HANDSHAKE_SUCCEEDED", clients)

        # the server goes away: every client sees its peer leave, then retries
        server.close()
        for m in mons:
            m.wait_for("DISCONNECTED", 1)
            m.wait_for("CONNECT_RETRIED", 1)

        # a bind to a port that is taken now (a client's retries do not
        # listen, so take it with a socket of our own first)
        holder = ctx.socket(zmq.REP)
        holder.setsockopt(zmq.LINGER, 0)
        holder.bind(endpoint)
        late = obs.attach(ctx.socket(zmq.REP), "late")
        late.setsockopt(zmq.LINGER, 0)
        late_mon = SocketMonitor(obs, late, on_bind_failed=_say("bind failed"))
        try:
            late.bind(endpoint)
        except zmq.ZMQError as e:
            print("bind %s: %s" % (endpoint, e))
        late_mon.wait_for("BIND_FAILED", 1)

        for m in [server_mon, late_mon] + mons:
            m.stop()
            print(m.summary())
        for c in socks + [late]:
            c.close()
        holder.close()
    ctx.term()


if __name__ == "__main__":
    demo()
