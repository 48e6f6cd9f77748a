"""zmqobs - libzmqobs for Python programs over pyzmq, through ctypes.

    import zmq, zmqobs

    ctx = zmq.Context()
    with zmqobs.Observer(ctx, service="orders") as obs:
        rep = obs.attach(ctx.socket(zmq.REP), "frontend")   # before bind
        rep.bind("tcp://127.0.0.1:5555")
        port = obs.serve("tcp://127.0.0.1:0")              # GET /metrics
        msg = rep.recv()                                    # counted
        rep.send(b"ok")                                     # counted
        print(rep.stats()["messages_received"])
        rep.close()                                         # detach, then close
    ctx.term()

The library is found through, in this order: the environment variable
ZMQOBS_LIB (a path to libzmqobs.so.N; nothing else is tried when it is
set), `pkg-config --variable=libdir libzmqobs`, ctypes.util.find_library
("zmqobs"), and the dynamic loader's own search for the soname.

One libzmq per process. libzmqobs hands pyzmq's libzmq pointers
(Context.underlying, Socket.underlying) to the libzmq it was linked with,
so both must be the same loaded copy. Debian's python3-zmq loads the
system libzmq.so.5 and is fine; a pip wheel of pyzmq bundles its own
libzmq, and mixing the two would corrupt memory. Importing this module
therefore compares the address of libzmq's functions as libzmqobs binds
them with the address pyzmq's extension modules bind, and raises
LibzmqMismatch (an ImportError) when they differ or cannot be found.

Threads: an observed socket belongs to one thread, like the pyzmq socket
it shadows: attach, detach, close and the counted send/recv run there.
stats(), format(), serve() and ready() may run on any thread. Event
handlers (on_event) run on the observer's own thread (with host_driven=True
on the thread that calls process(), detach() or close()); they take the
GIL there, so keep them short. An exception in a handler is logged (logger
"zmqobs") and counted in Observer.handler_errors; the observer goes on.
A handler must not call attach, detach, close, on_event or process.

Close observers (or use `with`) before terminating or destroying the
context: ctx.destroy() closes the sockets pyzmq created, and closing an
attached socket before detaching it is a misuse (see zmqobs_detach in
zmqobs.h). Observers still open when the interpreter exits are closed by
an atexit hook.

SPDX-License-Identifier: MIT
"""

import atexit
import collections
import ctypes
import ctypes.util
import errno as _errno
import importlib.machinery
import logging
import os
import platform
import subprocess
import sys
import threading
import weakref

import zmq
import zmq.backend

__all__ = [
    "Observer", "ObservedSocket", "Event", "ZmqobsError", "LibraryNotFound",
    "LibzmqMismatch", "SAMPLE_NEVER", "FORMATS", "library_path", "version",
]

_log = logging.getLogger("zmqobs")

# The ABI this module speaks: libzmqobs.so.0, whose structs are declared
# below field for field (tests/python checks every offset against the C
# header).
ABI_MAJOR = 0
SONAME = "libzmqobs.so.%d" % ABI_MAJOR

# Limits and constants of zmqobs.h.
NAME_MAX = 255
ENDPOINT_MAX = 255
BUCKETS_MAX = 32
LABELS_MAX = 8
EVENT_SLOTS = 32
ERRNO_SLOTS = 16
HANDSHAKE_SLOTS = 24
SAMPLE_NEVER = 0xFFFFFFFF
OP_SEND = 0
OP_RECV = 1
FORMATS = {"prometheus": 0, "openmetrics": 1, "json": 2, "text": 3}


class ZmqobsError(OSError):
    """A libzmqobs call failed; errno is the C function's errno."""


class LibraryNotFound(ImportError):
    """libzmqobs.so could not be loaded."""


class LibzmqMismatch(ImportError):
    """pyzmq and libzmqobs do not use the same loaded libzmq."""


# ---------------------------------------------------------------------------
# The C structs, field for field as in zmqobs.h (x86-64 and every LP64 ABI
# lay them out the same way ctypes does).
# ---------------------------------------------------------------------------
_u32, _u64, _i64, _int, _size = (ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int64,
                                 ctypes.c_int, ctypes.c_size_t)


class Label(ctypes.Structure):
    """zmqobs_label_t"""
    _fields_ = [("name", ctypes.c_char_p), ("value", ctypes.c_char_p)]


class Options(ctypes.Structure):
    """zmqobs_options_t"""
    _fields_ = [
        ("events", _u32),
        ("host_driven", _int),
        ("ring_capacity", _u32),
        ("latency_sample_every", _u32),
        ("latency_shared", _int),
        ("buckets_ns", ctypes.POINTER(_u64)),
        ("bucket_count", _size),
        ("namespace_prefix", ctypes.c_char_p),
        ("labels", ctypes.POINTER(Label)),
        ("label_count", _size),
        ("no_process_metrics", _int),
        ("service", ctypes.c_char_p),
        ("event_log", ctypes.c_char_p),
        ("no_status_page", _int),
        ("native_histograms", _int),
        ("native_schema", _int),
    ]


class EventStruct(ctypes.Structure):
    """zmqobs_event_t"""
    _fields_ = [
        ("event", _u32),
        ("value", _u32),
        ("value_kind", _int),  # zmqobs_value_kind_t, an enum: int
        ("endpoint_truncated", _int),
        ("endpoint_len", _size),
        ("endpoint", ctypes.c_char * (ENDPOINT_MAX + 1)),
    ]


class EventInfo(ctypes.Structure):
    """zmqobs_event_info_t"""
    _fields_ = [
        ("socket_name", ctypes.c_char_p),
        ("event_name", ctypes.c_char_p),
        ("value_meaning", ctypes.c_char_p),
        ("value_text", ctypes.c_char_p),
        ("event", ctypes.POINTER(EventStruct)),
        ("timestamp_ns", _u64),
        ("peer", ctypes.c_char_p),
    ]


class Window(ctypes.Structure):
    """zmqobs_window_t"""
    _fields_ = [(n, _u64) for n in ("count", "min_ns", "max_ns", "mean_ns", "p50_ns", "p90_ns",
                                    "p95_ns", "p99_ns", "p999_ns", "sum_ns")]


class Stats(ctypes.Structure):
    """zmqobs_stats_t"""
    _fields_ = [
        ("name", ctypes.c_char * (NAME_MAX + 1)),
        ("type", _int),
        ("attached_ns", _u64),
        ("uptime_ns", _u64),
        ("msgs_sent", _u64),
        ("bytes_sent", _u64),
        ("msgs_received", _u64),
        ("bytes_received", _u64),
        ("errors", (_u64 * ERRNO_SLOTS) * 2),
        ("queue_depth", _i64),
        ("events", _u64 * EVENT_SLOTS),
        ("connections", _i64),
        ("listening", _u64),
        ("reconnects", _u64),
        ("handshake_failures", _u64 * HANDSHAKE_SLOTS),
        ("malformed_events", _u64),
        ("last_error_event", _u32),
        ("last_error_value", _u32),
        ("last_error_endpoint", ctypes.c_char * (ENDPOINT_MAX + 1)),
        ("window", Window),
        ("bucket_count", _u32),
        ("bounds_ns", _u64 * BUCKETS_MAX),
        ("buckets", _u64 * (BUCKETS_MAX + 1)),
        ("latency_count", _u64),
        ("latency_sum_ns", _u64),
        ("monitor_up", _int),
        ("sndhwm", _int),
        ("rcvhwm", _int),
        ("proxy", _int),
        ("proxy_in_flight", _i64),
    ]


EVENT_FN = ctypes.CFUNCTYPE(None, ctypes.POINTER(EventInfo), ctypes.c_void_p)


# ---------------------------------------------------------------------------
# Finding and loading the library
# ---------------------------------------------------------------------------
def _candidates():
    """(how, path-or-name) pairs to try, best first."""
    env = os.environ.get("ZMQOBS_LIB")
    if env:
        return [("ZMQOBS_LIB", env)]
    found = []
    try:
        r = subprocess.run([os.environ.get("PKG_CONFIG", "pkg-config"), "--variable=libdir",
                            "libzmqobs"], capture_output=True, text=True, timeout=30, check=False)
        libdir = r.stdout.strip() if r.returncode == 0 else ""
        if libdir:
            for name in (SONAME, "libzmqobs.so"):
                path = os.path.join(libdir, name)
                if os.path.exists(path):
                    found.append(("pkg-config libdir", path))
                    break
    except (OSError, subprocess.SubprocessError):
        pass
    name = ctypes.util.find_library("zmqobs")
    if name:
        found.append(("ctypes.util.find_library", name))
    found.append(("the dynamic loader", SONAME))
    return found


def _load():
    tried = []
    for how, path in _candidates():
        try:
            return ctypes.CDLL(path, use_errno=True), ctypes.PyDLL(path), path
        except OSError as e:
            tried.append("%s: %s" % (how, e))
    raise LibraryNotFound(
        "libzmqobs not found; tried\n  " + "\n  ".join(tried)
        + "\nInstall it (make install), or set ZMQOBS_LIB to the path of %s." % SONAME)


def _mapped_file(addr):
    """The file mapped at address addr in this process (from /proc/self/maps)."""
    if addr is None:
        return None
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                if lo <= addr < hi:
                    return parts[5].strip() if len(parts) > 5 else "(anonymous)"
    except OSError:
        pass
    return "(unknown)"


def _bound_address(handle, symbol):
    """Address the dynamic linker binds symbol to for the object behind
    handle: the global scope first (the executable, its libraries, and
    whatever was loaded with RTLD_GLOBAL), then the object's own
    dependencies, which is the order ELF lookup follows."""
    for h in (_GLOBAL, handle):
        try:
            return ctypes.cast(getattr(h, symbol), ctypes.c_void_p).value
        except AttributeError:
            continue
    return None


def _pyzmq_extensions():
    """The shared objects of pyzmq's loaded extension modules."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    files = set()
    for name, mod in list(sys.modules.items()):
        if name != "zmq" and not name.startswith("zmq."):
            continue
        path = getattr(mod, "__file__", None)
        if path and path.endswith(suffixes):
            files.add(os.path.realpath(path))
    return sorted(files)


_PROBE = "zmq_ctx_new"


def _pyzmq_bindings():
    """{extension path: address of zmq_ctx_new as it binds it, or None}."""
    out = {}
    for path in _pyzmq_extensions():
        try:
            h = ctypes.CDLL(path, mode=os.RTLD_NOLOAD)
        except OSError:
            continue
        out[path] = _bound_address(h, _PROBE)
    return out


def mismatch_reason(ours, theirs, our_version="?", their_version="?"):
    """Why pyzmq's libzmq is not libzmqobs's, or None when it is.

    ours: address of zmq_ctx_new as libzmqobs binds it; theirs: {pyzmq
    extension path: address it binds, or None}."""
    ours_file = _mapped_file(ours) or "(not found)"
    where = "libzmqobs calls libzmq %s in %s" % (our_version, ours_file)
    advice = ("Use a pyzmq built against that libzmq (Debian: python3-zmq with "
              "/usr/bin/python3; with pip: pip install --no-binary pyzmq pyzmq), or build "
              "libzmqobs against the libzmq pyzmq uses. Pointers from one copy of libzmq "
              "must never reach another.")
    if ours is None:
        return "libzmqobs does not link libzmq (%s not found). %s" % (_PROBE, advice)
    if not theirs:
        return ("no pyzmq extension module with libzmq is loaded (pyzmq %s), so which libzmq it "
                "uses cannot be checked; %s. %s" % (zmq.pyzmq_version(), where, advice))
    bundled = sorted(p for p, a in theirs.items() if a is None)
    if len(bundled) == len(theirs):
        return ("pyzmq %s calls a libzmq built into its extension (%s): a wheel bundles its own "
                "copy (libzmq %s); %s. %s"
                % (zmq.pyzmq_version(), ", ".join(bundled), their_version, where, advice))
    other = sorted({_mapped_file(a) for a in theirs.values() if a is not None and a != ours})
    if other:
        return ("pyzmq %s uses libzmq %s in %s; %s: two copies of libzmq in one process. %s"
                % (zmq.pyzmq_version(), their_version, ", ".join(other), where, advice))
    return None


_GLOBAL = ctypes.CDLL(None)
_lib, _pylib, _path = _load()


def _sig(lib, name, res, *args):
    f = getattr(lib, name)
    f.restype, f.argtypes = res, list(args)
    return f


_P, _S, _cp = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p
_sig(_lib, "zmqobs_version", ctypes.c_uint)
_sig(_lib, "zmq_version", None, ctypes.POINTER(_int), ctypes.POINTER(_int), ctypes.POINTER(_int))


def _libzmq_version():
    a, b, c = _int(), _int(), _int()
    _lib.zmq_version(ctypes.byref(a), ctypes.byref(b), ctypes.byref(c))
    return "%d.%d.%d" % (a.value, b.value, c.value)


def version():
    """libzmqobs's version as (major, minor, patch)."""
    v = _lib.zmqobs_version()
    return (v // 10000, v // 100 % 100, v % 100)


def library_path():
    """The path or name the library was loaded from."""
    return _path


if version()[0] != ABI_MAJOR:
    raise LibraryNotFound("%s is libzmqobs %d.%d.%d; this module speaks %s"
                          % ((_path,) + version() + (SONAME,)))

_reason = mismatch_reason(_bound_address(_lib, _PROBE), _pyzmq_bindings(),
                          _libzmq_version(), zmq.zmq_version())
if _reason:
    raise LibzmqMismatch(_reason)
del _reason

# Lifecycle, snapshots, exposition: plain CDLL calls (the GIL is released,
# so the observer's thread can run Python event handlers meanwhile).
_sig(_lib, "zmqobs_options_init", _int, ctypes.POINTER(Options))
_sig(_lib, "zmqobs_new", _P, _P, ctypes.POINTER(Options))
_sig(_lib, "zmqobs_destroy", None, ctypes.POINTER(_P))
_sig(_lib, "zmqobs_attach", _P, _P, _P, _cp)
_sig(_lib, "zmqobs_detach", None, ctypes.POINTER(_P))
_sig(_lib, "zmqobs_disconnect", _int, _P, _cp)
_sig(_lib, "zmqobs_unbind", _int, _P, _cp)
_sig(_lib, "zmqobs_connect", _int, _P, _cp)
_sig(_lib, "zmqobs_socket_stats", _int, _P, ctypes.POINTER(Stats))
_sig(_lib, "zmqobs_socket_count", _int, _P)
_sig(_lib, "zmqobs_socket_type_name", _cp, _int)
_sig(_lib, "zmqobs_errno_slot_name", _cp, ctypes.c_uint)
_sig(_lib, "zmqobs_handshake_slot_name", _cp, ctypes.c_uint)
_sig(_lib, "zmqobs_event_name", _cp, _u32)
_sig(_lib, "zmqobs_errno_name", _cp, _int)
_sig(_lib, "zmqobs_on_event", _int, _P, EVENT_FN, _P)
_sig(_lib, "zmqobs_fd", _int, _P)
_sig(_lib, "zmqobs_timeout_ms", ctypes.c_long, _P)
_sig(_lib, "zmqobs_process", _int, _P, ctypes.c_long)
_sig(_lib, "zmqobs_format", _int, _P, _int, ctypes.c_char_p, _S)
_sig(_lib, "zmqobs_content_type", _cp, _int)
_sig(_lib, "zmqobs_serve", _int, _P, _cp)
_sig(_lib, "zmqobs_serve_port", _int, _P)
_sig(_lib, "zmqobs_serve_stop", _int, _P)
_sig(_lib, "zmqobs_ready", _int, _P, ctypes.c_char_p, _S)

# The hot path. These calls are lock-free and never block, a few
# instructions each, so they keep the GIL (PyDLL): releasing and taking it
# back would cost more than the call. On x86-64 the per-message calls go
# without argtypes, which saves about 150 ns per call: the handle is a
# c_void_p, and the sizes and flags are Python ints that ctypes passes as
# C ints, which libffi sign-extends to the full 64-bit register there, so
# a size_t parameter receives any size up to INT_MAX exactly (larger sizes
# are passed as c_size_t). Elsewhere they are declared with argtypes.
_INT_MAX = 0x7FFFFFFF
_RAW_INTS = platform.machine() in ("x86_64", "AMD64") and ctypes.sizeof(_P) == 8


def _hot(name, res, *args):
    f = _pylib[name]  # a new function object: _pylib's own stays as declared
    f.restype = res
    if not _RAW_INTS:
        f.argtypes = list(args)
    return f


_record_sent = _hot("zmqobs_record_sent", None, _P, _S, _int)
_record_received = _hot("zmqobs_record_received", None, _P, _S, _int)
_record_error = _hot("zmqobs_record_error", _int, _P, _int, _int)
_record_latency = _sig(_pylib, "zmqobs_record_latency", None, _P, _u64)
_set_queue_depth = _sig(_pylib, "zmqobs_set_queue_depth", None, _P, _i64)
_add_queue_depth = _sig(_pylib, "zmqobs_add_queue_depth", None, _P, _i64)

# ---------------------------------------------------------------------------
# Application metrics: the host's own counters, gauges and histograms,
# exposed beside the socket metrics. Creation through CDLL (errno), the
# lock-free updates through PyDLL like the hot path.
# ---------------------------------------------------------------------------
_sig(_lib, "zmqobs_counter_new", _P, _P, _cp, _cp, ctypes.POINTER(Label), _S)
_sig(_lib, "zmqobs_gauge_new", _P, _P, _cp, _cp, ctypes.POINTER(Label), _S)
_sig(_lib, "zmqobs_histogram_new", _P, _P, _cp, _cp, ctypes.POINTER(Label), _S,
     ctypes.POINTER(ctypes.c_double), _S)
_sig(_lib, "zmqobs_metric_destroy", None, ctypes.POINTER(_P))
_counter_add = _sig(_pylib, "zmqobs_counter_add", _int, _P, _u64)
_gauge_set = _sig(_pylib, "zmqobs_gauge_set", _int, _P, ctypes.c_double)
_gauge_add = _sig(_pylib, "zmqobs_gauge_add", _int, _P, ctypes.c_double)
_histogram_observe = _sig(_pylib, "zmqobs_histogram_observe", _int, _P, ctypes.c_double)


class Metric:
    """An application metric from Observer.counter, Observer.gauge or
    Observer.histogram: add (a counter: a whole number >= 0; a gauge: any
    number), set (a gauge), observe (a histogram). Any thread. destroy()
    removes it; closing its observer destroys it too (then every call
    raises ValueError)."""

    def __init__(self, obs, handle, kind, name):
        self._obs, self._h, self.kind, self.name = obs, handle, kind, name

    def _handle(self):
        if self._h is None or self._obs.closed:
            raise ValueError("metric %r is destroyed" % self.name)
        return self._h

    def add(self, n=1):
        h = self._handle()
        if self.kind == "counter":
            if not isinstance(n, int) or n < 0:
                raise ValueError("a counter adds a whole number >= 0, not %r" % (n,))
            rc = _counter_add(h, n)
        elif self.kind == "gauge":
            rc = _gauge_add(h, float(n))
        else:
            raise ValueError("a histogram has observe(), not add()")
        if rc != 0:
            raise ValueError("%s.add(%r) refused" % (self.name, n))

    def set(self, v):
        if self.kind != "gauge":
            raise ValueError("only a gauge has set()")
        if _gauge_set(self._handle(), float(v)) != 0:
            raise ValueError("%s.set(%r) refused" % (self.name, v))

    def observe(self, v):
        if self.kind != "histogram":
            raise ValueError("only a histogram has observe()")
        if _histogram_observe(self._handle(), float(v)) != 0:
            raise ValueError("%s.observe(%r) refused (NaN, or below 0 with bounds >= 0)"
                             % (self.name, v))

    def destroy(self):
        """Removes the metric from the exposition. Idempotent."""
        if self._h is not None and not self._obs.closed:
            p = _P(self._h)
            _lib.zmqobs_metric_destroy(ctypes.byref(p))
        self._h = None


def _labels_arg(labels):
    items = list((labels or {}).items())
    if not items:
        return None, 0, None
    arr = (Label * len(items))()
    keep = []
    for i, (k, v) in enumerate(items):
        kb, vb = str(k).encode(), str(v).encode()
        keep += [kb, vb]
        arr[i].name, arr[i].value = kb, vb
    return arr, len(items), keep


# ---------------------------------------------------------------------------


def _fail(func):
    e = ctypes.get_errno()
    return ZmqobsError(e, "%s: %s" % (func, os.strerror(e)))


def _text(b):
    return b.decode("utf-8", "replace") if b is not None else ""


_EVENT_NAMES = [(i, _text(_lib.zmqobs_event_name(1 << i))) for i in range(EVENT_SLOTS)]
_EVENT_NAMES = [(i, n) for i, n in _EVENT_NAMES if n != "UNKNOWN"]
_ERRNO_SLOT_NAMES = [_text(_lib.zmqobs_errno_slot_name(i)) for i in range(ERRNO_SLOTS)]
_HANDSHAKE_NAMES = [_text(_lib.zmqobs_handshake_slot_name(i)) for i in range(HANDSHAKE_SLOTS)]


def _format_code(fmt):
    try:
        return FORMATS[fmt]
    except KeyError:
        raise ValueError("format must be one of %s, not %r" % (", ".join(FORMATS), fmt)) from None


def content_type(fmt="prometheus"):
    """The exact HTTP Content-Type of a format."""
    return _text(_lib.zmqobs_content_type(_format_code(fmt)))


Event = collections.namedtuple("Event", [
    "socket",        # name given at attach
    "event",         # "CONNECTED", "DISCONNECTED", ... (ZMQ_EVENT_* without prefix)
    "code",          # the ZMQ_EVENT_* value
    "value",         # the raw 32-bit value
    "meaning",       # what value is: "fd", "errno", "interval_ms", ...
    "value_text",    # errno or protocol error name, or ""
    "endpoint",      # str
    "endpoint_truncated",
    "timestamp_ns",  # CLOCK_REALTIME ns when drained
    "peer",          # the remote endpoint where the event names it, else None
], defaults=(None,))


def _stats_dict(st):
    errors = {"send": {}, "recv": {}}
    for op, key in ((OP_SEND, "send"), (OP_RECV, "recv")):
        for i in range(1, ERRNO_SLOTS):
            if st.errors[op][i]:
                errors[key][_ERRNO_SLOT_NAMES[i]] = st.errors[op][i]
    w = st.window
    n = st.bucket_count
    return {
        "name": _text(st.name),
        "type": _text(_lib.zmqobs_socket_type_name(st.type)),
        "attached_unix_ns": st.attached_ns,
        "uptime_ns": st.uptime_ns,
        "messages_sent": st.msgs_sent,
        "bytes_sent": st.bytes_sent,
        "messages_received": st.msgs_received,
        "bytes_received": st.bytes_received,
        "errors": errors,
        "would_block": {"send": st.errors[OP_SEND][0], "recv": st.errors[OP_RECV][0]},
        "queue_depth": st.queue_depth,
        "events": {name: st.events[i] for i, name in _EVENT_NAMES},
        "connections": st.connections,
        "listening": st.listening,
        "reconnects": st.reconnects,
        "handshake_failures": {_HANDSHAKE_NAMES[i]: st.handshake_failures[i]
                               for i in range(HANDSHAKE_SLOTS) if st.handshake_failures[i]},
        "monitor_malformed": st.malformed_events,
        "monitor_up": bool(st.monitor_up),
        "sndhwm": st.sndhwm,
        "rcvhwm": st.rcvhwm,
        "last_error": None if not st.last_error_event else {
            "event": _text(_lib.zmqobs_event_name(st.last_error_event)),
            "value": st.last_error_value,
            "endpoint": _text(st.last_error_endpoint),
        },
        "latency": {
            "count": st.latency_count,
            "sum_ns": st.latency_sum_ns,
            # (upper bound in ns, count in that bucket alone); None is +Inf
            "buckets": [(st.bounds_ns[i], st.buckets[i]) for i in range(n)]
                       + [(None, st.buckets[n])],
        },
        "latency_window": {k: getattr(w, k) for k, _ in Window._fields_},
    }


# ---------------------------------------------------------------------------
# Observed sockets
# ---------------------------------------------------------------------------
# pyzmq's Socket.send handles routing_id and group, then calls the
# backend's send, which ObservedSocket calls directly when there are none.
_sugar_send = zmq.Socket.send
_backend_send = zmq.backend.Socket.send
_base_recv = zmq.Socket.recv
_RCVMORE = zmq.RCVMORE
_ZMQError = zmq.ZMQError
_Frame = zmq.Frame


def _nbytes(data):
    if isinstance(data, _Frame):
        return len(data)
    return memoryview(data).nbytes


class ObservedSocket(zmq.Socket):
    """A pyzmq socket shadowing an attached one, whose I/O is counted.

    It is a zmq.Socket over the same libzmq socket (Socket.shadow), so it
    works wherever a pyzmq socket does (Poller, options, bind, connect).
    send and recv take pyzmq's arguments and return and raise what pyzmq
    does (zmq.Again on EAGAIN); each sent or received part is counted with
    its size in bytes, each failure by its errno. pyzmq's send_multipart,
    send_string, send_json, send_pyobj, send_serialized and their recv_*
    counterparts go through them, so they count every part too.
    I/O on the original socket object is not counted.

    connect, disconnect and unbind go through zmqobs_connect,
    zmqobs_disconnect and zmqobs_unbind, which keep the connection gauge
    right when the host closes an endpoint. close() detaches, then closes
    the original socket; detach() stops the counting and leaves the
    socket open. Owner thread for all of these; stats() from any thread.
    """

    # class-level defaults: pyzmq's attribute setter only lets through
    # attributes the class declares (others would be socket options)
    _zobs_h = None        # zmqobs_socket_t * as an int; None once detached
    _zobs_hv = _P()       # the same as a c_void_p, NULL once detached
    _zobs_obs = None      # the Observer
    _zobs_orig = None     # the pyzmq socket given to attach
    _zobs_name = ""
    _zobs_more = False    # REQ/REP with automatic timing: recv needs RCVMORE

    @property
    def name(self):
        """The name given at attach."""
        return self._zobs_name

    @property
    def observer(self):
        return self._zobs_obs

    @property
    def original(self):
        """The pyzmq socket that was attached."""
        return self._zobs_orig

    @property
    def attached(self):
        return self._zobs_h is not None

    def send(self, data, flags=0, copy=True, track=False, routing_id=None, group=None):
        try:
            if routing_id is None and group is None:
                r = _backend_send(self, data, flags, copy, track)
            else:  # pyzmq's own send makes the Frame for those
                r = _sugar_send(self, data, flags, copy, track, routing_id, group)
        except _ZMQError as e:
            _record_error(self._zobs_hv, OP_SEND, e.errno)
            raise
        n = len(data) if type(data) is bytes else _nbytes(data)
        _record_sent(self._zobs_hv, n if n <= _INT_MAX else _S(n), flags)
        return r

    def recv(self, flags=0, copy=True, track=False):
        try:
            r = _base_recv(self, flags, copy, track)
        except _ZMQError as e:
            _record_error(self._zobs_hv, OP_RECV, e.errno)
            raise
        if self._zobs_more:
            more = self.getsockopt(_RCVMORE) if copy else r.more
        else:
            more = 0
        n = len(r)
        _record_received(self._zobs_hv, n if n <= _INT_MAX else _S(n), more)
        return r

    def recv_multipart(self, flags=0, copy=True, track=False):
        # pyzmq's loop, counting each part with the RCVMORE it reads anyway
        parts = []
        hv = self._zobs_hv
        while True:
            try:
                p = _base_recv(self, flags, copy, track)
            except _ZMQError as e:
                _record_error(hv, OP_RECV, e.errno)
                raise
            more = self.getsockopt(_RCVMORE)
            n = len(p)
            _record_received(hv, n if n <= _INT_MAX else _S(n), more)
            parts.append(p)
            if not more:
                return parts

    # For hosts that do their own I/O (on the original socket, say).
    def record_sent(self, nbytes, flags=0):
        """Counts one sent part of nbytes (flags: its send flags). Owner thread."""
        _record_sent(self._zobs_hv, nbytes if nbytes <= _INT_MAX else _S(nbytes), int(flags))

    def record_received(self, nbytes, more=False):
        """Counts one received part of nbytes; more: parts follow. Owner thread."""
        _record_received(self._zobs_hv, nbytes if nbytes <= _INT_MAX else _S(nbytes),
                         1 if more else 0)

    def record_error(self, op, err):
        """Counts a failed send (op OP_SEND) or recv (OP_RECV) with errno
        value err. Owner thread."""
        if op not in (OP_SEND, OP_RECV):
            raise ValueError("op must be OP_SEND or OP_RECV")
        _record_error(self._zobs_hv, op, int(err))

    def record_latency(self, ns):
        """One latency sample in nanoseconds (owner thread)."""
        if ns < 0:
            raise ValueError("latency must be >= 0 ns")
        _record_latency(self._zobs_hv, ns)

    def set_queue_depth(self, depth):
        """Sets the zmq_queue_depth gauge. Any thread."""
        _set_queue_depth(self._zobs_hv, depth)

    def add_queue_depth(self, delta):
        """Adds delta (may be negative) to zmq_queue_depth. Any thread."""
        _add_queue_depth(self._zobs_hv, delta)

    # Endpoint changes that keep the connection gauge right: libzmq drops
    # the peers of an endpoint the host closes without a monitor event, so
    # these go through zmqobs_disconnect, zmqobs_unbind and zmqobs_connect
    # (zmqobs.h). Same arguments, results and exceptions as pyzmq's.
    def _endpoint_call(self, fn, addr):
        _check_not_in_handler(fn.__name__)
        if fn(self._zobs_h, addr.encode() if isinstance(addr, str) else addr) != 0:
            e = ctypes.get_errno()
            raise zmq.ZMQError(e)

    def connect(self, addr):
        if self._zobs_h is None:
            return super().connect(addr)
        self._endpoint_call(_lib.zmqobs_connect, addr)
        return self._connect_cm(addr)

    def disconnect(self, addr):
        if self._zobs_h is None:
            return super().disconnect(addr)
        self._endpoint_call(_lib.zmqobs_disconnect, addr)

    def unbind(self, addr):
        if self._zobs_h is None:
            return super().unbind(addr)
        self._endpoint_call(_lib.zmqobs_unbind, addr)

    def get_monitor_socket(self, events=None, addr=None):
        """Refused: libzmq keeps one monitor per socket, and this socket's
        is libzmqobs's (a second one would replace it and freeze its
        counts). Use Observer.on_event, or monitor.SocketMonitor."""
        raise RuntimeError("socket %r is monitored by libzmqobs; use Observer.on_event"
                           % self._zobs_name)

    def monitor(self, addr, events=None):
        """Refused, as get_monitor_socket is."""
        self.get_monitor_socket(events, addr)

    def stats(self):
        """A snapshot of the socket's metrics as a dict (any thread)."""
        h = self._zobs_h
        if h is None:
            raise ValueError("socket %r is not attached" % self._zobs_name)
        st = Stats()
        if _lib.zmqobs_socket_stats(h, ctypes.byref(st)) != 0:
            raise _fail("zmqobs_socket_stats")
        return _stats_dict(st)

    def detach(self):
        """Stops the monitor and the counting; the socket stays open and
        usable, uncounted. Owner thread. Idempotent."""
        obs = self._zobs_obs
        if obs is not None:
            obs._detach(self)

    def close(self, linger=None):
        """Detaches, then closes the original socket."""
        self.detach()
        if self._zobs_orig is not None and not self._closed:
            self._zobs_orig.close(linger=linger)
        self._closed = True


# ---------------------------------------------------------------------------
# Observer
# ---------------------------------------------------------------------------
_live = weakref.WeakSet()
_tls = threading.local()


def _check_not_in_handler(what):
    if getattr(_tls, "in_handler", False):
        raise RuntimeError("%s from inside an event handler would deadlock the observer" % what)


class Observer:
    """A libzmqobs observer for the sockets of one pyzmq context.

    Observer(ctx, service=None, host_driven=False, labels=None,
             namespace=None, events=0, ring_capacity=0,
             latency_sample_every=None, latency_shared=False,
             buckets_ns=None, process_metrics=True)

    service: value of a constant label service="..." on every series;
    labels: more constant labels {name: value}; namespace: metric name
    prefix; events: monitor event mask (0 = all); ring_capacity: latency
    window in samples (power of two; 0 = 1024); latency_sample_every: time
    one REQ/REP cycle in N (None = 16, 1 = every one, SAMPLE_NEVER = off);
    buckets_ns: histogram bounds in ns. host_driven=True: no background
    thread; call process() when fd() is readable or timeout_ms() has
    passed.
    """

    def __init__(self, ctx, service=None, host_driven=False, labels=None, namespace=None,
                 events=0, ring_capacity=0, latency_sample_every=None, latency_shared=False,
                 buckets_ns=None, process_metrics=True):
        self._h = None
        self._sockets = {}
        self._handlers = ()
        self._hlock = threading.Lock()
        self._cb = EVENT_FN(self._dispatch)
        self._cb_installed = False
        self.handler_errors = 0
        underlying = getattr(ctx, "underlying", None)
        if not underlying:
            raise TypeError("ctx must be a live zmq.Context, not %r" % (ctx,))
        opts = Options()
        _lib.zmqobs_options_init(ctypes.byref(opts))
        keep = []  # C strings and arrays, alive until zmqobs_new returns
        opts.events = events
        opts.host_driven = 1 if host_driven else 0
        opts.ring_capacity = ring_capacity
        if latency_sample_every is not None:
            if latency_sample_every < 1:
                raise ValueError("latency_sample_every: N >= 1, SAMPLE_NEVER or None")
            opts.latency_sample_every = latency_sample_every
        opts.latency_shared = 1 if latency_shared else 0
        if buckets_ns is not None:
            arr = (_u64 * len(buckets_ns))(*buckets_ns)
            keep.append(arr)
            opts.buckets_ns = ctypes.cast(arr, ctypes.POINTER(_u64))
            opts.bucket_count = len(buckets_ns)
        if namespace:
            nb = namespace.encode()
            keep.append(nb)
            opts.namespace_prefix = nb
        all_labels = []
        if service is not None:
            all_labels.append(("service", service))
        all_labels.extend((labels or {}).items())
        if all_labels:
            arr = (Label * len(all_labels))()
            for i, (k, v) in enumerate(all_labels):
                kb, vb = str(k).encode(), str(v).encode()
                keep.extend((kb, vb))
                arr[i].name, arr[i].value = kb, vb
            keep.append(arr)
            opts.labels = arr
            opts.label_count = len(all_labels)
        opts.no_process_metrics = 0 if process_metrics else 1
        h = _lib.zmqobs_new(underlying, ctypes.byref(opts))
        if not h:
            raise _fail("zmqobs_new")
        self._h = h
        self._ctx = ctx  # a collected pyzmq Context terminates itself
        self.host_driven = bool(host_driven)
        self._never = latency_sample_every == SAMPLE_NEVER
        _live.add(self)

    # -- sockets ------------------------------------------------------------
    def attach(self, sock, name):
        """Attaches a pyzmq socket of this observer's context under a name
        (before bind/connect, for the LISTENING and CONNECTED events) and
        returns an ObservedSocket whose I/O is counted. Owner thread."""
        self._check_open()
        _check_not_in_handler("attach")
        if not isinstance(sock, zmq.Socket):
            raise TypeError("attach takes a zmq.Socket, not %r" % (sock,))
        if isinstance(sock, ObservedSocket):
            raise ValueError("socket is already attached as %r" % sock.name)
        if sock.closed:
            raise ZmqobsError(_errno.ENOTSOCK, "attach: the socket is closed")
        h = _lib.zmqobs_attach(self._h, sock.underlying, name.encode())
        if not h:
            raise _fail("zmqobs_attach %r" % name)
        w = ObservedSocket.shadow(sock.underlying)
        w._zobs_h = h
        w._zobs_hv = _P(h)
        w._zobs_obs = self
        w._zobs_orig = sock
        w._zobs_name = name
        w.context = sock.context
        w.copy_threshold = sock.copy_threshold
        w._zobs_more = sock.type in (zmq.REQ, zmq.REP) and not self._never
        self._sockets[h] = w
        return w

    def _detach(self, w):
        h = w._zobs_h
        if h is None:
            return
        _check_not_in_handler("detach")
        w._zobs_h = None
        w._zobs_hv.value = None  # from now on the record calls get NULL: ignored
        self._sockets.pop(h, None)
        p = _P(h)
        _lib.zmqobs_detach(ctypes.byref(p))

    def detach(self, sock):
        sock.detach()

    @property
    def sockets(self):
        """The attached ObservedSockets."""
        return list(self._sockets.values())

    def socket_count(self):
        self._check_open()
        return _lib.zmqobs_socket_count(self._h)

    def stats(self):
        """{name: stats dict} for every attached socket."""
        return {w.name: w.stats() for w in self.sockets}

    # -- exposition ---------------------------------------------------------
    def format(self, fmt="prometheus"):
        """Every attached socket's metrics (and the process metrics) as
        "prometheus" (text 0.0.4), "openmetrics", "json" or "text"."""
        self._check_open()
        code = _format_code(fmt)
        size = getattr(self, "_fmt_size", 16384)
        while True:
            buf = ctypes.create_string_buffer(size)
            n = _lib.zmqobs_format(self._h, code, buf, size)
            if n < 0:
                raise _fail("zmqobs_format")
            if n < size:
                self._fmt_size = max(size, n + n // 4 + 1024)
                return buf.raw[:n].decode("utf-8")
            size = n + n // 4 + 1024

    def serve(self, endpoint="tcp://127.0.0.1:0"):
        """Serves /metrics, /healthz and /readyz over HTTP on endpoint
        (port 0: any free port); returns the port."""
        self._check_open()
        if _lib.zmqobs_serve(self._h, endpoint.encode()) != 0:
            raise _fail("zmqobs_serve %s" % endpoint)
        return self.serve_port()

    def serve_port(self):
        self._check_open()
        port = _lib.zmqobs_serve_port(self._h)
        if port < 0:
            raise _fail("zmqobs_serve_port")
        return port

    def serve_stop(self):
        self._check_open()
        if _lib.zmqobs_serve_stop(self._h) != 0:
            raise _fail("zmqobs_serve_stop")

    def ready(self):
        """(ready, reason) as /readyz reports them."""
        self._check_open()
        size = 4096
        while True:
            buf = ctypes.create_string_buffer(size)
            r = _lib.zmqobs_ready(self._h, buf, size)
            if r < 0:
                raise _fail("zmqobs_ready")
            text = buf.value.decode("utf-8", "replace")
            if len(buf.value) < size - 1:
                return bool(r), text
            size *= 4

    # -- events -------------------------------------------------------------
    def on_event(self, fn):
        """Calls fn(event) for every monitor event of every attached
        socket (an Event namedtuple), on the observer's thread (or the
        thread that calls process/detach/close when host_driven). Returns
        fn, so it works as a decorator. Handlers are called in the order
        they were added; an exception in one is logged and counted in
        handler_errors, and the others still run."""
        self._check_open()
        _check_not_in_handler("on_event")
        if not callable(fn):
            raise TypeError("fn must be callable")
        with self._hlock:
            self._handlers = self._handlers + (fn,)
            self._install()
        return fn

    def remove_event_handler(self, fn):
        """Removes fn (added with on_event); when it returns, fn is not
        running and will not be called again."""
        _check_not_in_handler("remove_event_handler")
        with self._hlock:
            hs = list(self._handlers)
            if fn in hs:
                hs.remove(fn)
            self._handlers = tuple(hs)
            if self._h is not None:
                self._install()

    def _install(self):
        want = bool(self._handlers)
        if want == self._cb_installed:
            return
        # zmqobs_on_event takes the callback lock: when it returns, the
        # previous callback is not running (the GIL is released meanwhile)
        rc = _lib.zmqobs_on_event(self._h, self._cb if want else EVENT_FN(), None)
        if rc != 0:
            raise _fail("zmqobs_on_event")
        self._cb_installed = want

    def _dispatch(self, info_p, _arg):
        # runs on the observer's thread, with the observer's callback lock
        # held: nothing here may raise into ctypes, or call back into it
        _tls.in_handler = True
        try:
            handlers = self._handlers
            if not handlers:
                return
            info = info_p.contents
            ev = info.event.contents
            event = Event(_text(info.socket_name), _text(info.event_name), ev.event, ev.value,
                          _text(info.value_meaning), _text(info.value_text),
                          ev.endpoint.decode("utf-8", "replace"), bool(ev.endpoint_truncated),
                          info.timestamp_ns,
                          _text(info.peer) if info.peer else None)
            for fn in handlers:
                try:
                    fn(event)
                except BaseException:  # noqa: B902 - a handler must never stop the observer
                    self.handler_errors += 1
                    try:
                        _log.exception("event handler %r raised on %s; the observer goes on",
                                       fn, event.event)
                    except BaseException:  # noqa: B902
                        pass
        except BaseException:  # noqa: B902
            self.handler_errors += 1
        finally:
            _tls.in_handler = False

    # -- host-driven mode ---------------------------------------------------
    def fd(self):
        """host_driven: the descriptor to watch for reading."""
        self._check_open()
        fd = _lib.zmqobs_fd(self._h)
        if fd < 0:
            raise _fail("zmqobs_fd")
        return fd

    def timeout_ms(self):
        """host_driven: the longest wait before process() is due (-1: none)."""
        self._check_open()
        t = _lib.zmqobs_timeout_ms(self._h)
        if t < -1:
            raise _fail("zmqobs_timeout_ms")
        return t

    def process(self, timeout_ms=0):
        """host_driven: waits up to timeout_ms (-1: until something
        happens) and handles pending monitor events and HTTP; returns the
        number of monitor events processed."""
        self._check_open()
        _check_not_in_handler("process")
        n = _lib.zmqobs_process(self._h, timeout_ms)
        if n < 0:
            raise _fail("zmqobs_process")
        return n

    # -- application metrics ------------------------------------------------
    def _metric(self, kind, name, help, labels, bounds=None):
        self._check_open()
        arr, n, keep = _labels_arg(labels)
        if kind == "counter":
            h = _lib.zmqobs_counter_new(self._h, name.encode(), help.encode(), arr, n)
        elif kind == "gauge":
            h = _lib.zmqobs_gauge_new(self._h, name.encode(), help.encode(), arr, n)
        else:
            b = (ctypes.c_double * len(bounds))(*bounds) if bounds else None
            h = _lib.zmqobs_histogram_new(self._h, name.encode(), help.encode(), arr, n, b,
                                          len(bounds) if bounds else 0)
        del keep
        if not h:
            raise _fail("zmqobs_%s_new %s" % (kind, name))
        return Metric(self, h, kind, name)

    def counter(self, name, help, labels=None):
        """A counter exposed as name_total (labels: {name: value})."""
        return self._metric("counter", name, help, labels)

    def gauge(self, name, help, labels=None):
        return self._metric("gauge", name, help, labels)

    def histogram(self, name, help, labels=None, bounds=None):
        """bounds: bucket upper bounds, increasing (None: the library's
        defaults)."""
        return self._metric("histogram", name, help, labels, bounds)

    # -- lifecycle ----------------------------------------------------------
    def _check_open(self):
        if self._h is None:
            raise ValueError("the observer is closed")

    @property
    def closed(self):
        return self._h is None

    def close(self):
        """Detaches every socket (they stay open, uncounted), stops HTTP
        and the observer's thread, and frees the observer. Call it on the
        thread that owns the sockets. Idempotent."""
        if self._h is None:
            return
        _check_not_in_handler("close")
        for w in list(self._sockets.values()):
            self._detach(w)
        with self._hlock:
            self._handlers = ()
            self._install()
        p = _P(self._h)
        self._h = None
        _lib.zmqobs_destroy(ctypes.byref(p))
        _live.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - nothing to report to at collection
            pass

    def __repr__(self):
        state = "closed" if self._h is None else "%d sockets" % len(self._sockets)
        return "<zmqobs.Observer %s>" % state


@atexit.register
def _close_all():
    for obs in list(_live):
        try:
            obs.close()
        except Exception:  # noqa: BLE001
            _log.exception("closing %r at exit", obs)
