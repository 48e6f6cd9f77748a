/*
 * zmqobs.h - libzmqobs: observability for ZeroMQ applications.
 *
 * This header is the contract. Every public name starts with zmqobs_ or
 * ZMQOBS_. Functions that return int return 0 (or a count or a length) on
 * success and -1 with errno set on failure; the comment above each prototype
 * lists the errno values it can set. Functions that return a pointer return
 * NULL with errno set on failure, except the name lookups, which never
 * return NULL.
 *
 * Threading, in one paragraph: a libzmq socket belongs to one thread at a
 * time, and so does its zmqobs_socket_t. zmqobs_attach, zmqobs_detach, the
 * send/recv wrappers and the zmqobs_record_* calls that say "owner thread"
 * run on the thread that owns the socket. Their counters are single-writer:
 * a relaxed load and a relaxed store, never a locked instruction. Calls that
 * say "any thread" use atomic read-modify-write. Snapshots, formatting and
 * the HTTP endpoint may run on any thread at any time; they read with
 * relaxed loads and never take a lock the hot path needs.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_H
#define ZMQOBS_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <zmq.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Version. These three macros are the single source of the version: the
 * Makefile and the pkg-config file read them from here.
 * ---------------------------------------------------------------------- */
#define ZMQOBS_VERSION_MAJOR 0
#define ZMQOBS_VERSION_MINOR 1
#define ZMQOBS_VERSION_PATCH 0

#define ZMQOBS_MAKE_VERSION(major, minor, patch) (10000 * (major) + 100 * (minor) + (patch))
#define ZMQOBS_VERSION \
    ZMQOBS_MAKE_VERSION (ZMQOBS_VERSION_MAJOR, ZMQOBS_VERSION_MINOR, ZMQOBS_VERSION_PATCH)

#if defined(__GNUC__) || defined(__clang__)
#define ZMQOBS_EXPORT __attribute__ ((visibility ("default")))
#define ZMQOBS_LIKELY(x) __builtin_expect (!!(x), 1)
#define ZMQOBS_UNLIKELY(x) __builtin_expect (!!(x), 0)
#else
#error "libzmqobs needs GCC or Clang (it uses the __atomic builtins)"
#endif

/* Returns the version of the library actually linked, encoded as
 * ZMQOBS_MAKE_VERSION(major, minor, patch). Never fails; any thread. */
ZMQOBS_EXPORT unsigned zmqobs_version (void);

/* ------------------------------------------------------------------------
 * Limits
 * ---------------------------------------------------------------------- */

/* Longest socket name accepted by zmqobs_attach, in bytes (not counting the
 * terminating NUL). */
#define ZMQOBS_NAME_MAX 255
/* Longest endpoint kept in a decoded event (longer ones are truncated and
 * flagged). libzmq endpoints are far shorter in practice. */
#define ZMQOBS_ENDPOINT_MAX 255
/* Most histogram bounds that zmqobs_options_t may configure. */
#define ZMQOBS_BUCKETS_MAX 32
/* Most constant labels that zmqobs_options_t may configure. */
#define ZMQOBS_LABELS_MAX 8
/* Most events a socket snapshot keeps counts for: one per bit of the
 * 32-bit event code (ZMQ_EVENT_CONNECTED is bit 0). */
#define ZMQOBS_EVENT_SLOTS 32
/* Default latency ring capacity (samples) and REQ/REP sampling period. */
#define ZMQOBS_DEFAULT_RING_CAPACITY 1024
#define ZMQOBS_DEFAULT_SAMPLE_EVERY 16
/* Pass as latency_sample_every to switch automatic REQ/REP timing off. */
#define ZMQOBS_SAMPLE_NEVER UINT32_MAX

/* ------------------------------------------------------------------------
 * Events: names of libzmq monitor events and protocol errors, and a pure
 * decoder for version 1 monitor messages. All of it is generated from one
 * table, is stateless, and may be called from any thread.
 * ---------------------------------------------------------------------- */

/* What the 32-bit value of an event means. */
typedef enum zmqobs_value_kind {
    ZMQOBS_VALUE_NONE = 0,       /* no meaning (HANDSHAKE_SUCCEEDED, ...) */
    ZMQOBS_VALUE_FD,             /* a file descriptor (CONNECTED, ...) */
    ZMQOBS_VALUE_ERRNO,          /* an errno value (BIND_FAILED, ...) */
    ZMQOBS_VALUE_INTERVAL_MS,    /* reconnect interval in ms (CONNECT_RETRIED) */
    ZMQOBS_VALUE_PROTOCOL_ERROR, /* a ZMQ_PROTOCOL_ERROR_* code */
    ZMQOBS_VALUE_STATUS_CODE     /* a ZAP status code (HANDSHAKE_FAILED_AUTH) */
} zmqobs_value_kind_t;

/* One decoded monitor event. It owns its endpoint storage. */
typedef struct zmqobs_event {
    uint32_t event;                         /* ZMQ_EVENT_* code */
    uint32_t value;                         /* the raw 32-bit value */
    zmqobs_value_kind_t value_kind;         /* what value means for this event */
    int endpoint_truncated;                 /* 1 if endpoint was cut to fit */
    size_t endpoint_len;                    /* bytes in endpoint, without the NUL */
    char endpoint[ZMQOBS_ENDPOINT_MAX + 1]; /* NUL-terminated */
} zmqobs_event_t;

/* Returns the name of a ZMQ_EVENT_* code without its prefix ("CONNECTED",
 * "HANDSHAKE_FAILED_PROTOCOL", ...), or "UNKNOWN" for any other value.
 * Never returns NULL. Any thread. */
ZMQOBS_EXPORT const char *zmqobs_event_name (uint32_t event);

/* Returns the ZMQ_EVENT_* code for a name, with or without the
 * "ZMQ_EVENT_" prefix, compared case-insensitively. Returns -1 with errno
 * EINVAL for NULL or an unknown name. Any thread. */
ZMQOBS_EXPORT int64_t zmqobs_event_code (const char *name);

/* Returns what the value of an event means (ZMQOBS_VALUE_NONE for unknown
 * events). Any thread. */
ZMQOBS_EXPORT zmqobs_value_kind_t zmqobs_event_value_kind (uint32_t event);

/* Returns the name of a value kind ("fd", "errno", "interval_ms",
 * "protocol_error", "status_code", "none"). Never NULL. Any thread. */
ZMQOBS_EXPORT const char *zmqobs_value_kind_name (zmqobs_value_kind_t kind);

/* Returns the name of a ZMQ_PROTOCOL_ERROR_* code without its prefix
 * ("ZMTP_UNEXPECTED_COMMAND", "ZAP_BAD_VERSION", ...), or "UNKNOWN".
 * Never returns NULL. Any thread. */
ZMQOBS_EXPORT const char *zmqobs_protocol_error_name (uint32_t code);

/* Returns the ZMQ_PROTOCOL_ERROR_* code for a name, with or without the
 * "ZMQ_PROTOCOL_ERROR_" prefix, case-insensitive; -1 with errno EINVAL for
 * NULL or an unknown name. Any thread. */
ZMQOBS_EXPORT int64_t zmqobs_protocol_error_code (const char *name);

/* Decodes one version 1 monitor message: frame1 must be exactly 6 bytes
 * (16-bit event, 32-bit value, host byte order, read with memcpy so any
 * alignment is fine), frame2 is the endpoint (may be NULL only when size2
 * is 0). The endpoint is copied, bounded and NUL-terminated; a longer one
 * is truncated and out->endpoint_truncated is set.
 * Returns 0, or -1 with errno EINVAL (out is NULL) or EPROTO (frame1 NULL
 * or not 6 bytes, frame2 NULL with size2 > 0). On error *out is zeroed.
 * Pure; any thread. */
ZMQOBS_EXPORT int zmqobs_event_decode (const void *frame1, size_t size1, const void *frame2,
                                       size_t size2, zmqobs_event_t *out);

/* Returns the symbolic name of an errno value, libzmq's own included
 * ("EFSM", "ETERM", "EAGAIN", "EADDRINUSE", ...), or "OTHER" for values
 * the C library cannot name. Never NULL. Any thread. (zmq_errors_total
 * counts the most common values one by one and the rest as OTHER: see
 * zmqobs_errno_slot_name.) */
ZMQOBS_EXPORT const char *zmqobs_errno_name (int err);

/* ------------------------------------------------------------------------
 * Observer and options
 * ---------------------------------------------------------------------- */

/* The observer's struct tag is not "zmqobs": C++ forbids a class and a
 * namespace of the same name, and zmqobs is the C++ API's namespace
 * (zmqobs.hpp). Use the typedef. */
typedef struct zmqobs_observer zmqobs_t;
typedef struct zmqobs_socket zmqobs_socket_t;

/* A constant label added to every series (name must match
 * [a-zA-Z_][a-zA-Z0-9_]* and not start with "__"). */
typedef struct zmqobs_label {
    const char *name;
    const char *value;
} zmqobs_label_t;

/* Options for zmqobs_new. A zero-filled struct, or NULL, means defaults;
 * zmqobs_options_init fills one with the defaults spelled out. The observer
 * copies everything it needs (strings and arrays included) during
 * zmqobs_new, so the struct may be freed afterwards.
 * zmqobs_options_from_env (below) fills it from ZMQOBS_* variables.
 * New fields are added at the end only; while the version is 0.x the
 * struct may still grow, so a program must be built against the header
 * of the library it runs with. */
typedef struct zmqobs_options {
    /* Monitor event mask passed to zmq_socket_monitor; 0 = ZMQ_EVENT_ALL. */
    uint32_t events;
    /* 0 (default): zmqobs_new starts a background thread that drains all
     * monitors (and zmqobs_serve a second one for HTTP). 1: the host
     * calls zmqobs_process from its own loop (see zmqobs_fd); one small
     * thread still waits, on a socket of its own in the context, for
     * zmq_ctx_term alone, and closes the monitors' readers then, so a
     * program that stops calling zmqobs_process still exits. */
    int host_driven;
    /* Latency ring capacity in samples, a power of two up to 1 << 20;
     * 0 = ZMQOBS_DEFAULT_RING_CAPACITY. */
    uint32_t ring_capacity;
    /* Automatic REQ/REP latency: time one request/reply cycle in N.
     * 0 = ZMQOBS_DEFAULT_SAMPLE_EVERY, 1 = every cycle,
     * ZMQOBS_SAMPLE_NEVER = off. */
    uint32_t latency_sample_every;
    /* 0 (default): latency is recorded only by the socket's owner thread
     * (single-writer, cheapest). 1: zmqobs_record_latency may be called
     * from any thread; every record then uses atomic read-modify-write. */
    int latency_shared;
    /* Histogram upper bounds in nanoseconds, strictly increasing, at most
     * ZMQOBS_BUCKETS_MAX, each a whole number of nanoseconds up to 2^53
     * (so that every bound is a distinct float64 in seconds and maps
     * exactly onto a Prometheus le bound); NULL = the default (10us,
     * 25us, 50us, ... 10s, 25s: twenty 1-2.5-5 steps). */
    const uint64_t *buckets_ns;
    size_t bucket_count;
    /* Metric name prefix, e.g. "myapp" gives "myapp_zmq_messages_sent_total";
     * NULL or "" = none. Must match [a-zA-Z_][a-zA-Z0-9_]*. The process_*
     * metrics keep their standard names. */
    const char *namespace_prefix;
    /* Constant labels added to every series, at most ZMQOBS_LABELS_MAX. */
    const zmqobs_label_t *labels;
    size_t label_count;
    /* 1: leave out the process_* metrics (on by default). */
    int no_process_metrics;
    /* The value of a constant label named "service" (valid UTF-8); NULL
     * or "" = none. It replaces the value of a label named "service" in
     * labels, if there is one, and is added after them otherwise (at most
     * ZMQOBS_LABELS_MAX labels in all). */
    const char *service;
    /* A JSON-lines event log: zmqobs_new opens this path for appending
     * (created if missing, mode 0666 less the umask, close-on-exec), or
     * takes the process's stderr for "-", and installs zmqobs_json_log
     * writing to it as the event callback. NULL = none; "" is invalid. The
     * observer owns a file it opened and closes it in zmqobs_destroy (not
     * before: a later zmqobs_on_event replaces the callback, and the file
     * stays open, unused, until then); stderr is never closed. The path
     * is not kept. */
    const char *event_log;
    /* 0 (default): zmqobs_serve also serves the status page: GET / (with
     * /status.js and /status.css), /metrics.json (the JSON exposition)
     * and /events (the latest monitor events, kept in a ring of 64 that
     * the observer allocates, about 35 KB). 1: none of these, they
     * answer 404 and no ring is kept. ZMQOBS_STATUS_PAGE=0 sets it. */
    int no_status_page;
    /* 1: the latency histogram is also native (exponential buckets) in
     * the protobuf exposition (ZMQOBS_FORMAT_PROTOBUF), which Prometheus
     * (2.40 and later, --enable-feature=native-histograms) negotiates
     * and stores as one native series. The classic buckets stay in the
     * same Histogram message, but Prometheus 2.42 then keeps only the
     * native part: the _bucket series of that histogram vanish from it,
     * which breaks dashboards built on them. Hence 0, off, by default.
     * Every other format is unchanged. Costs each socket that records
     * latency 4 KiB, and each sample a few instructions (README). */
    int native_histograms;
    /* The native schema exposed: -4..8 would be Prometheus's range; this
     * library records at schema 3 (8 buckets per power of two, each
     * 9.05% wide) and exposes 3, 2, 1, -1 .. -4 by merging buckets.
     * 0 means the default, 3; ZMQOBS_NATIVE_SCHEMA_0 asks for schema 0
     * (one bucket per power of two). Anything else is EINVAL. */
    int native_schema;
} zmqobs_options_t;

/* options.native_schema for schema 0 (0 in the field means 3). */
#define ZMQOBS_NATIVE_SCHEMA_0 (-128)

/* Fills *opts with the defaults. Returns 0, or -1 with EINVAL for NULL. */
ZMQOBS_EXPORT int zmqobs_options_init (zmqobs_options_t *opts);

/* Creates an observer for sockets of the libzmq context zmq_ctx (the
 * context is used for the observer's internal inproc sockets; it must
 * outlive zmqobs_destroy unless it is terminated first, see below). NULL
 * opts means defaults. Unless opts->host_driven is set, starts the
 * background thread.
 * Returns the observer, or NULL with errno EINVAL (NULL context, invalid
 * option: ring capacity not a power of two, unsorted, zero or too large
 * buckets, bad prefix or label name, a label or service value that is not
 * UTF-8, more than ZMQOBS_LABELS_MAX labels, an empty event_log),
 * EFAULT (zmq_ctx is not a context handle; a context already terminated
 * is freed memory and cannot be detected), an errno of open(2) when
 * event_log cannot be opened (ENOENT, EACCES, EISDIR, ENOTDIR, EROFS,
 * ...; it is opened after the options are checked and before any thread
 * starts), ENOMEM, or an errno from pthread_create or libzmq. Any
 * thread. */
ZMQOBS_EXPORT zmqobs_t *zmqobs_new (void *zmq_ctx, const zmqobs_options_t *opts);

/* Detaches every attached socket (as zmqobs_detach does), stops serving
 * HTTP, joins the background thread, frees every application metric and
 * the observer, and sets *self_p to NULL. Accepts NULL and a pointer to
 * NULL. After it returns, the host may close its sockets and terminate
 * the context. If the context was terminated first, it still completes.
 * Every zmqobs_socket_t and zmqobs_metric_t of this observer is invalid
 * afterwards, detached, destroyed or not: using one is a use-after-free.
 * Call it from one thread, once no other thread uses the observer (nor
 * any of its metrics). */
ZMQOBS_EXPORT void zmqobs_destroy (zmqobs_t **self_p);

/* Attaches a libzmq socket under a name. The name (1..ZMQOBS_NAME_MAX
 * bytes of valid UTF-8; quotes, backslashes and newlines are fine, the
 * formatters escape them) must be unique within the observer. Starts a
 * monitor on the socket with a fresh inproc endpoint and connects its
 * reader before returning, so a later zmq_bind or zmq_connect never
 * blocks on it. Call it on the thread that owns zmq_socket.
 * A socket bound or connected before attach sends no LISTENING or
 * CONNECTED for those endpoints; attach counts what ZMQ_LAST_ENDPOINT
 * (the last of them) shows: a listener found on that address (a wildcard
 * tcp bind, a tcp address some socket of this host listens on, an ipc
 * socket file) counts as listening until it closes; anything else as a
 * connect, which readiness does not hold against the socket. Peers
 * already connected are not in the connection gauge until they
 * reconnect, earlier endpoints are not seen at all, and a socket that
 * connected to a listener on this same host is taken for that listener.
 * Returns the handle (owned by the observer until zmqobs_detach), or NULL
 * with errno EINVAL (NULL self or name, empty, too long or invalid UTF-8
 * name), ENOTSOCK (zmq_socket is NULL or not a live socket), EEXIST (name
 * already attached, or this socket already attached, under any name, to
 * any observer of the process: libzmq allows one monitor per socket),
 * EXDEV (zmq_socket belongs to
 * another libzmq context than the observer's), ETERM (context
 * terminated), EMFILE (the context has no socket left: each attach takes
 * two of its ZMQ_MAX_SOCKETS, 1023 by default, for libzmq's monitor
 * socket and the library's reader, and for an instant a third; libzmq
 * frees closed sockets a moment later, asynchronously), ENOMEM. On
 * failure the socket is left as it was, and nothing is left in the
 * context: the same socket can be attached once there is room. */
ZMQOBS_EXPORT zmqobs_socket_t *zmqobs_attach (zmqobs_t *self, void *zmq_socket, const char *name);

/* Stops the socket's monitor in the safe order (stop while draining, wait
 * a bounded time for MONITOR_STOPPED, close the reader), removes its
 * metrics from the observer, frees the handle and sets *sock_p to NULL.
 * Accepts NULL and a pointer to NULL. After it returns the host may
 * zmq_close the socket. Call it on the thread that owns the socket. If
 * another monitor replaced the library's (zmq_monitor_up 0), detach leaves
 * that monitor running.
 * Closing the socket before detaching it is a misuse: detach notices a
 * socket that libzmq has closed but not yet freed, or whose monitor libzmq
 * already stopped, and then leaves the handle alone. A closed socket that
 * libzmq keeps alive (lingering on unsent messages) still sends monitor
 * events; the observer keeps draining and discarding them until libzmq
 * frees the socket or the context terminates, after zmqobs_destroy on a
 * thread of its own, so libzmq never blocks on them. But in the instant
 * after libzmq frees the socket, detach may still read freed memory.
 * Detach first. */
ZMQOBS_EXPORT void zmqobs_detach (zmqobs_socket_t **sock_p);

/* zmq_disconnect, zmq_unbind and zmq_connect on an attached socket, with
 * the same arguments, return value and errno (also ENOTSOCK for a NULL s,
 * EINVAL for a NULL endpoint, EDEADLK from inside an event callback).
 *
 * libzmq drops the peers of an endpoint the host closes without any
 * monitor event, so after a plain zmq_disconnect or zmq_unbind the
 * connection gauge would keep counting them. zmqobs_disconnect and
 * zmqobs_unbind take them off before they return, in order with the
 * events already queued. The closed endpoint's sessions may linger in
 * libzmq (flushing messages, still connecting) and report CONNECTED or
 * HANDSHAKE_SUCCEEDED later, then vanish without a word: so the endpoint's
 * events are not counted until it is opened again, by zmqobs_connect for
 * a connect (a plain zmq_connect to it is not counted) or by any new bind
 * on that port (its LISTENING event). Only the most recently closed
 * endpoints are remembered once 64 endpoints are in use; and the state
 * lives in the attached handle, so a detach and attach in between forgets
 * it (sessions still lingering then may be counted and never leave).
 *
 * endpoint is spelled as for libzmq: the string given to zmq_connect; for
 * zmq_unbind the one ZMQ_LAST_ENDPOINT returns. A wildcard bind (tcp://
 * *:port, 0.0.0.0 or ::) covers every peer accepted on that port; a bind
 * to an interface name is not matched (its peers report the address).
 * Owner thread; in host-driven mode also the thread that polls the
 * observer's items (like zmqobs_detach). */
ZMQOBS_EXPORT int zmqobs_disconnect (zmqobs_socket_t *s, const char *endpoint);
ZMQOBS_EXPORT int zmqobs_unbind (zmqobs_socket_t *s, const char *endpoint);
ZMQOBS_EXPORT int zmqobs_connect (zmqobs_socket_t *s, const char *endpoint);

/* Returns the name given at attach (never NULL; "" for NULL s). */
ZMQOBS_EXPORT const char *zmqobs_socket_name (const zmqobs_socket_t *s);

/* Returns the libzmq socket handle given at attach, or NULL for NULL s. */
ZMQOBS_EXPORT void *zmqobs_socket_handle (const zmqobs_socket_t *s);

/* Returns the ZMQ_* socket type name ("REQ", "ROUTER", ...), never NULL. */
ZMQOBS_EXPORT const char *zmqobs_socket_type_name (int type);

/* The hot path (send/recv wrappers, record calls), inline in the caller. */
#include "zmqobs_inline.h"

/* ------------------------------------------------------------------------
 * Snapshots
 * ---------------------------------------------------------------------- */

/* The errno values counted one by one; anything else counts as OTHER. */
#define ZMQOBS_ERRNO_SLOTS 16
/* Handshake failure reasons: every ZMQ_PROTOCOL_ERROR_* code, then AUTH,
 * NO_DETAIL and UNKNOWN_PROTOCOL_ERROR. */
#define ZMQOBS_HANDSHAKE_SLOTS 24

/* Quantiles of the recent window: exact (nearest rank) over the samples
 * the ring holds at the time of the snapshot. All zero when count is 0. */
typedef struct zmqobs_window {
    uint64_t count; /* samples in the window (<= ring capacity) */
    uint64_t min_ns, max_ns, mean_ns;
    uint64_t p50_ns, p90_ns, p95_ns, p99_ns, p999_ns;
    uint64_t sum_ns; /* exact sum of the samples in the window */
} zmqobs_window_t;

/* A typed snapshot of one socket's metrics. Counters are monotonic; a
 * snapshot taken while traffic flows is a consistent-enough view (each
 * field is read atomically, fields may be a few operations apart). */
typedef struct zmqobs_stats {
    char name[ZMQOBS_NAME_MAX + 1];
    int type;             /* ZMQ_REQ, ZMQ_ROUTER, ... */
    uint64_t attached_ns; /* CLOCK_REALTIME ns at attach */
    uint64_t uptime_ns;   /* monotonic ns since attach */
    /* traffic (wrappers and record calls) */
    uint64_t msgs_sent, bytes_sent, msgs_received, bytes_received;
    /* errors[op][slot]: op is ZMQOBS_OP_SEND/RECV, slot names come from
     * zmqobs_errno_slot_name(slot); EAGAIN has its own slot. */
    uint64_t errors[2][ZMQOBS_ERRNO_SLOTS];
    int64_t queue_depth;
    /* monitor */
    uint64_t events[ZMQOBS_EVENT_SLOTS]; /* events[i] counts event 1u << i */
    /* peers connected now, >= 0: counted on HANDSHAKE_SUCCEEDED, which
     * libzmq 4.3 never sends for a legacy ZMTP 2.0 peer (never counted) */
    int64_t connections;
    uint64_t listening;  /* endpoints listening now */
    uint64_t reconnects; /* CONNECT_RETRIED */
    uint64_t handshake_failures[ZMQOBS_HANDSHAKE_SLOTS];
    uint64_t malformed_events; /* monitor messages skipped */
    uint32_t last_error_event; /* 0 if none */
    uint32_t last_error_value;
    char last_error_endpoint[ZMQOBS_ENDPOINT_MAX + 1];
    /* latency */
    zmqobs_window_t window;
    uint32_t bucket_count; /* bounds in use */
    uint64_t bounds_ns[ZMQOBS_BUCKETS_MAX];
    uint64_t buckets[ZMQOBS_BUCKETS_MAX + 1]; /* per bucket, NOT cumulative;
                                                 buckets[bucket_count] is the
                                                 overflow (+Inf) bucket */
    uint64_t latency_count;                   /* sum of buckets */
    uint64_t latency_sum_ns;
    /* 1 while the library's monitor on the socket is live; 0 once it
     * stopped unasked: another zmq_socket_monitor on the socket (another
     * library's, a cppzmq monitor_t, the host's) replaced it, or the
     * context is terminating. Event counts and gauges are frozen then. */
    int monitor_up;
    /* ZMQ_SNDHWM and ZMQ_RCVHWM as read on the owner thread at attach,
     * and again by zmqobs_setsockopt; -1 when they could not be read */
    int sndhwm, rcvhwm;
    /* zmqobs_proxy on this socket as its frontend: proxy is 1 and
     * proxy_in_flight the requests forwarded to the backend that have no
     * reply yet (ROUTER or XREP frontend, DEALER backend; else 0) */
    int proxy;
    int64_t proxy_in_flight;
} zmqobs_stats_t;

/* Name of errno slot i ("EAGAIN", "EFSM", ..., "OTHER"), "UNKNOWN" out of
 * range. Never NULL. Any thread. */
ZMQOBS_EXPORT const char *zmqobs_errno_slot_name (unsigned slot);

/* Name of handshake-failure slot i (a protocol error name, "AUTH",
 * "NO_DETAIL", ...), "UNKNOWN" out of range. Never NULL. Any thread. */
ZMQOBS_EXPORT const char *zmqobs_handshake_slot_name (unsigned slot);

/* Fills *out with a snapshot of the socket's metrics, window quantiles
 * included. Does not allocate. Any thread, while the socket is attached.
 * Returns 0, or -1 with EINVAL (NULL argument). */
ZMQOBS_EXPORT int zmqobs_socket_stats (const zmqobs_socket_t *s, zmqobs_stats_t *out);

/* Returns the number of sockets attached now; -1 with EINVAL for NULL. */
ZMQOBS_EXPORT int zmqobs_socket_count (zmqobs_t *self);

/* ------------------------------------------------------------------------
 * Observer-wide view: every attached socket, one by one or in total
 * ---------------------------------------------------------------------- */

/* What zmqobs_foreach_socket calls for each socket: st is a snapshot of
 * the socket, as zmqobs_socket_stats fills it, valid during the call
 * only. Return 0 to go on, anything else to stop the walk. */
typedef int (zmqobs_socket_fn) (const zmqobs_stats_t *st, void *arg);

/* Calls fn (st, arg) for each socket attached to self when the call
 * begins, in attach order, with a snapshot of that socket taken just
 * before its call. Safe against zmqobs_attach and zmqobs_detach on other
 * threads: each socket is visited once with a consistent snapshot, or
 * not at all when it is detached before the walk reaches it; a detach
 * that comes after the snapshot never waits for the walk (the walk frees
 * the block once past it); sockets attached after the call began are not
 * visited, so the walk always ends.
 * fn runs with no lock of the library held: it may call any zmqobs
 * function (zmqobs_format, zmqobs_total_stats, zmqobs_socket_stats,
 * zmqobs_ready, this function again, ...) and zmqobs_attach or
 * zmqobs_detach on sockets its thread owns (a socket detached before the
 * walk reaches it is skipped); it must not call zmqobs_destroy.
 * Returns 0 once every socket was visited (also when none is attached),
 * or the first nonzero value fn returned, at once (a -1 from fn comes
 * back as -1 with whatever errno fn left: return a positive value to
 * tell it from this function's own errors); -1 with EINVAL for NULL self
 * or fn. Does not allocate. Any thread, an event callback included (fn
 * is then bound by the callback's rules too). */
ZMQOBS_EXPORT int zmqobs_foreach_socket (zmqobs_t *self, zmqobs_socket_fn *fn, void *arg);

/* Fills *out with totals over the sockets attached when the call begins
 * (a socket detached meanwhile counts with its snapshot, or not at all,
 * as in zmqobs_foreach_socket):
 *   - name "*", type -1; attached_ns the earliest attach, uptime_ns the
 *     longest uptime (both 0 with no socket);
 *   - summed over the sockets: messages and bytes, errors[op][slot],
 *     events[], connections, listening, reconnects, handshake_failures[],
 *     malformed_events, queue_depth, and the histogram (buckets[],
 *     latency_count, latency_sum_ns; every socket of an observer has the
 *     observer's bounds, which bucket_count and bounds_ns give); sums
 *     saturate instead of wrapping;
 *   - monitor_up 1 when the monitor of every socket is up (also with no
 *     socket), else 0; last_error_event, last_error_value 0 and
 *     last_error_endpoint "" (not aggregated: see each socket's);
 *   - window: exact nearest-rank quantiles, min, max, mean and sum over
 *     the union of the samples in the sockets' windows (window.count is
 *     the sum of their counts).
 * Allocates, and frees before it returns, 8 bytes per sample of ring
 * capacity per attached socket (8 KiB each by default), then 18 bytes
 * per sample found plus 10 KiB; zmqobs_format never allocates.
 * Returns 0, or -1 with EINVAL (NULL argument) or ENOMEM (no memory for
 * those buffers, or more than 2^32 samples in the union; *out is zeroed
 * then). Any thread, also from zmqobs_foreach_socket's fn and an event
 * callback. */
ZMQOBS_EXPORT int zmqobs_total_stats (zmqobs_t *self, zmqobs_stats_t *out);

/* ------------------------------------------------------------------------
 * Per-peer metrics (off by default) and socket options
 * ---------------------------------------------------------------------- */

/* Keys for zmqobs_track_peers. */
/* The Peer-Address property of received messages (on TCP the peer's IP
 * address, without port: every connection from one address is one peer).
 * Only zmqobs_msg_recv sees message properties: parts received through
 * zmqobs_recv or zmqobs_record_received count under "other". Sends are
 * attributed on REP sockets (a reply goes to the peer of the request) and
 * count under "other" on every other type (libzmq does not say which
 * connection a send takes). */
#define ZMQOBS_PEER_ADDRESS 1
/* The routing-id frame of ROUTER (and STREAM) sockets: the first part of
 * every message received names its sender, the first part of every
 * message sent its destination. Ids longer than ZMQOBS_PEER_KEY_MAX
 * bytes, and parts counted by zmqobs_record_sent/zmqobs_record_received
 * (no bytes at hand), count under "other". */
#define ZMQOBS_PEER_ROUTING_ID 2
/* Largest max_peers. */
#define ZMQOBS_PEERS_MAX 4096
/* Longest key tracked, in bytes. */
#define ZMQOBS_PEER_KEY_MAX 64
/* Longest peer name as exposed ("0x" and two hex digits per byte). */
#define ZMQOBS_PEER_NAME_MAX (2 + 2 * ZMQOBS_PEER_KEY_MAX)

/* Turns per-peer metrics on for s: message parts and bytes received and
 * sent per peer, first and last seen. At most max_peers peers are
 * tracked, chosen by traffic with the space-saving scheme: a part from a
 * peer not in the table, when the table is full, evicts the tracked peer
 * with the least traffic, whose counts move to peer="other". So a flood
 * of peers that send little cannot push out the busy ones: every peer
 * whose true traffic exceeds N / max_peers parts (N = all parts counted
 * on s since tracking began) stays tracked. A tracked peer's counts are
 * exact since it entered the table; its true traffic lies between its
 * parts received + sent and that plus its error (zmqobs_peer_stats_t),
 * which is at most N / max_peers. The peers and "other" together always
 * add up exactly to the socket's counters since tracking began.
 * The hot path stays inline and unchanged while tracking is off; with it
 * on, every part goes through one out-of-line call (the README gives the
 * cost). Memory: about 350 bytes per slot of max_peers, allocated here.
 * Calling it again starts a new table (counts restart at 0); max_peers
 * 0 turns tracking off and frees the table. Call it between messages, not
 * between the parts of one (a new table takes the next part for the first
 * of a message).
 * Owner thread. Returns 0, or -1 with EINVAL (NULL s, max_peers above
 * ZMQOBS_PEERS_MAX, an unknown key, ZMQOBS_PEER_ROUTING_ID on a socket
 * that is not ROUTER or STREAM) or ENOMEM. */
ZMQOBS_EXPORT int zmqobs_track_peers (zmqobs_socket_t *s, unsigned max_peers, int key);

/* One peer as zmqobs_socket_peers reports it. */
typedef struct zmqobs_peer_stats {
    /* as exposed in the peer label: a printable ASCII key as it is, any
     * other key (and "other", or a key starting with "0x") as "0x" and
     * lowercase hex; "other" for the sum of the untracked */
    char peer[ZMQOBS_PEER_NAME_MAX + 1];
    uint64_t msgs_received, bytes_received, msgs_sent, bytes_sent;
    /* space-saving error: the parts that may have been counted under
     * "other" before the peer entered the table (0: exact) */
    uint64_t error;
    /* CLOCK_REALTIME ns: when the peer entered the table; and the time of
     * the first read (a scrape, /peers, this function) that found its
     * counts changed, so last_seen is exact to the interval of reads */
    uint64_t first_seen_ns, last_seen_ns;
} zmqobs_peer_stats_t;

/* Copies up to max tracked peers of s into out (in the table's order)
 * and the sum of the others into *other (may be NULL). Returns the number
 * of peers tracked (more than max when out was too small), or -1 with
 * EINVAL (NULL s, NULL out with max > 0) or ENOENT (tracking is off).
 * Does not allocate. Any thread, while s is attached; it does not
 * race with zmqobs_track_peers only on the owner thread. */
ZMQOBS_EXPORT int zmqobs_socket_peers (zmqobs_socket_t *s, zmqobs_peer_stats_t *out, size_t max,
                                       zmqobs_peer_stats_t *other);

/* The per-peer metrics of every socket that tracks peers, as JSON (what
 * GET /peers serves):
 * {"sockets":[{"socket":"frontend","type":"ROUTER","key":"routing_id",
 *   "max_peers":16,"tracked":2,"peers":[{"peer":"w1","messages_received":
 *   4,"bytes_received":40,"messages_sent":4,"bytes_sent":40,"error":0,
 *   "first_seen_unix_seconds":1767322245.678,"last_seen_unix_seconds":
 *   1767322250.001},...],"other":{...}}]}
 * snprintf-style: writes at most size bytes (NUL-terminated when size >
 * 0) and returns the length the whole document needs, or -1 with EINVAL
 * (NULL self, NULL buf with size > 0) or EOVERFLOW. Does not allocate.
 * Any thread. */
ZMQOBS_EXPORT int zmqobs_peers_json (zmqobs_t *self, char *buf, size_t size);

/* zmq_setsockopt on s's socket; after ZMQ_SNDHWM or ZMQ_RCVHWM, both
 * options are read again into the zmq_sndhwm and zmq_rcvhwm gauges (they
 * are read at attach and by this call only, never by a scrape, which
 * runs on another thread: a host that sets them with zmq_setsockopt
 * directly leaves the gauges as they were until then). Same arguments,
 * return value and errno as zmq_setsockopt; a NULL s gives -1 with
 * ENOTSOCK. Owner thread. */
ZMQOBS_EXPORT int zmqobs_setsockopt (zmqobs_socket_t *s, int option, const void *value, size_t len);

/* An instrumented zmq_proxy_steerable for attached sockets: forwards
 * every part between frontend and backend through the library's wrappers
 * (so both sockets' counters, and their per-peer metrics when on, see
 * the traffic), copies every part to capture when it is not NULL (as
 * zmq_proxy does; with libzmq 4.3.4 the control commands too, as its
 * proxy does), and obeys control (a plain libzmq socket, may be
 * NULL): "PAUSE", "RESUME", "TERMINATE" and "STATISTICS", with the same
 * replies as the zmq_proxy_steerable of the libzmq it runs with
 * (STATISTICS: eight uint64 frames, in libzmq's order: frontend messages
 * and bytes received, messages and bytes sent, then the same for the
 * backend, counted since this call began; libzmq 4.3.4 counts a
 * multipart message as one and answers nothing else, 4.3.5 and later
 * count parts and answer every command on a REP control socket with an
 * empty frame). An unknown command is ignored (and answered with an
 * empty frame on a REP control socket), where libzmq 4.3.4 aborts. The
 * wrappers still count parts, as everywhere.
 * With a ROUTER frontend and a DEALER backend the frontend's gauge
 * zmq_proxy_in_flight counts requests forwarded to the backend whose
 * reply has not come back (an upper bound when the backend drops
 * requests). Runs on the calling thread, which must own all the sockets,
 * until TERMINATE (returns 0) or the context terminates (-1 with ETERM).
 * One difference from zmq_proxy_steerable: a send refused with
 * EHOSTUNREACH (a ROUTER with ZMQ_ROUTER_MANDATORY whose peer has gone)
 * drops that message, which the wrapper counts in zmq_errors_total, and
 * the proxy goes on, where libzmq's would return -1;
 * -1 with EINVAL for NULL or identical frontend and backend, or sockets
 * of different observers; -1 with the errno of a failed receive or send
 * (other than EAGAIN or EINTR, which it retries) otherwise, as
 * zmq_proxy_steerable does. */
ZMQOBS_EXPORT int zmqobs_proxy (zmqobs_socket_t *frontend, zmqobs_socket_t *backend, void *capture,
                                void *control);

/* ------------------------------------------------------------------------
 * Monitor: events, callback and host-driven mode
 * ---------------------------------------------------------------------- */

/* What the event callback receives. Pointers are valid during the call. */
typedef struct zmqobs_event_info {
    const char *socket_name;     /* name given at attach */
    const char *event_name;      /* zmqobs_event_name(event->event) */
    const char *value_meaning;   /* zmqobs_value_kind_name(...) */
    const char *value_text;      /* errno/protocol error name or "" */
    const zmqobs_event_t *event; /* code, value, endpoint */
    uint64_t timestamp_ns;       /* CLOCK_REALTIME ns when drained */
    /* The peer the event is about, where the socket's own view names it
     * without a race: the endpoint of CONNECT_DELAYED, CONNECT_RETRIED and
     * CONNECTED, and of DISCONNECTED and HANDSHAKE_* on an endpoint the
     * socket connected to (its endpoint is the remote address). NULL
     * otherwise: for a peer that came in on a listener, libzmq 4.3's
     * events carry only the local endpoint and the connection's fd, and
     * by the time the event is drained that fd may have been closed and
     * reused by another connection, so asking the kernel (getpeername)
     * could name the wrong peer. Per-peer metrics (zmqobs_track_peers
     * with ZMQOBS_PEER_ADDRESS) name such peers from their messages. */
    const char *peer;
} zmqobs_event_info_t;

typedef void (zmqobs_event_fn) (const zmqobs_event_info_t *info, void *arg);

/* Installs fn (NULL removes it) to be called for every decoded event, on
 * the thread that drains monitors (the background thread, or in
 * host-driven mode the thread calling zmqobs_process, zmqobs_detach,
 * zmqobs_disconnect, zmqobs_unbind or zmqobs_connect), with the
 * observer's callback lock held: fn must not call zmqobs_attach,
 * zmqobs_detach, zmqobs_destroy, zmqobs_process, zmqobs_pollitems or
 * zmqobs_on_event (zmqobs_disconnect, zmqobs_unbind and zmqobs_connect
 * refuse with EDEADLK), and should return quickly (draining waits for it).
 * Returns 0, or -1 with EINVAL (NULL self). Any thread. */
ZMQOBS_EXPORT int zmqobs_on_event (zmqobs_t *self, zmqobs_event_fn *fn, void *arg);

/* A ready-made event callback: writes one JSON object per line to the
 * FILE * passed as arg, e.g.
 * {"ts":"2026-01-02T03:04:05.678Z","socket":"frontend","event":"ACCEPTED",
 *  "value":12,"meaning":"fd","endpoint":"tcp://127.0.0.1:5555"}
 * with strings escaped for JSON, then flushes. When info->peer is set,
 * the line ends with "peer":"..." too. */
ZMQOBS_EXPORT void zmqobs_json_log (const zmqobs_event_info_t *info, void *arg);

/* Host-driven mode (options.host_driven = 1): one descriptor, valid from
 * zmqobs_new to zmqobs_destroy, that becomes readable whenever
 * zmqobs_process has work (monitor events, HTTP, a request of another
 * thread). Register it once in any event loop (poll, epoll, libuv,
 * libevent, asio, CZMQ's zloop via zmq_pollitem_t .fd) for readability,
 * call zmqobs_process(self, 0) when it is readable, and also when
 * zmqobs_timeout_ms says a deadline is due. Never read, write or close
 * it. Returns the descriptor, or -1 with EINVAL (NULL self), ENOTSUP
 * (observer has its own thread). Any thread. */
ZMQOBS_EXPORT int zmqobs_fd (zmqobs_t *self);

/* Host-driven mode: the longest the host may wait before calling
 * zmqobs_process even if zmqobs_fd stays quiet, in milliseconds: -1 for no
 * deadline, 0 for "call it now" (work is pending). HTTP timeouts and
 * detach deadlines come from here; a host that cannot honour it should
 * call zmqobs_process at least every 100 ms. Returns -2 with EINVAL (NULL
 * self), ENOTSUP (observer has its own thread). The thread that calls
 * zmqobs_process. */
ZMQOBS_EXPORT long zmqobs_timeout_ms (zmqobs_t *self);

/* Host-driven mode: the poll items for the host's zmq_poll: since the
 * descriptor of zmqobs_fd stands for everything, this is always one
 * item ({.socket = NULL, .fd = zmqobs_fd (self), .events = ZMQ_POLLIN}),
 * and the set never changes. Fills up to size items and returns how many
 * it needs (1), so (NULL, 0) measures. Call zmqobs_process(self, 0) when
 * it is ready, and bound the poll's timeout by zmqobs_timeout_ms. Returns
 * -1 with EINVAL (NULL self, items NULL with size > 0), ENOTSUP (observer
 * has its own thread). Any thread. */
ZMQOBS_EXPORT int zmqobs_pollitems (zmqobs_t *self, zmq_pollitem_t *items, int size);

/* Host-driven mode: waits up to timeout_ms (0 = do not wait, -1 = until
 * something happens) for monitor events and HTTP requests and processes
 * all that are pending. Returns the number of monitor events processed, or
 * -1 with EINVAL (NULL self), ENOTSUP (observer has its own thread),
 * ETERM (context terminated). One thread at a time. */
ZMQOBS_EXPORT int zmqobs_process (zmqobs_t *self, long timeout_ms);

/* ------------------------------------------------------------------------
 * Exposition
 * ---------------------------------------------------------------------- */

typedef enum zmqobs_format {
    ZMQOBS_FORMAT_PROMETHEUS = 0, /* text 0.0.4 */
    ZMQOBS_FORMAT_OPENMETRICS,    /* OpenMetrics 1.0.0 */
    ZMQOBS_FORMAT_JSON,           /* one JSON object */
    ZMQOBS_FORMAT_TEXT,           /* a human report */
    /* Prometheus protobuf: io.prometheus.client.MetricFamily messages,
     * each preceded by its length as a varint ("encoding=delimited").
     * Binary: the output holds NUL bytes, and its length is the return
     * value of zmqobs_format, never strlen. */
    ZMQOBS_FORMAT_PROTOBUF
} zmqobs_format_t;

/* Writes every attached socket's metrics, the application metrics (see
 * zmqobs_counter_new) and the process metrics (unless turned off) in the
 * given format into buf, with snprintf semantics: at most size bytes,
 * NUL-terminated when size > 0; returns the length the whole output
 * needs (without the NUL), so (NULL, 0) measures. No heap allocation.
 * Returns -1 with EINVAL (NULL self, buf NULL with size > 0,
 * unknown format) or EOVERFLOW (output longer than INT_MAX). Any thread. */
ZMQOBS_EXPORT int zmqobs_format (zmqobs_t *self, zmqobs_format_t format, char *buf, size_t size);

/* The exact HTTP Content-Type for a format, never NULL. */
ZMQOBS_EXPORT const char *zmqobs_content_type (zmqobs_format_t format);

/* Picks the exposition format for an HTTP Accept header: OpenMetrics
 * 1.0.0 when the client prefers it (q-values respected), otherwise text
 * 0.0.4 (also for NULL, empty or unparsable headers). Protobuf only for
 * a range application/vnd.google.protobuf that names both
 * proto=io.prometheus.client.MetricFamily and encoding=delimited (no
 * wildcard selects a binary format), when its q is the highest (on
 * equal q, as below). Each format takes
 * the q of the most specific range that matches it; on equal q the more
 * specific match wins, then the range listed first; a wildcard covering
 * both (a star/star range) gives 0.0.4. Any thread. */
ZMQOBS_EXPORT zmqobs_format_t zmqobs_format_from_accept (const char *accept);

/* ------------------------------------------------------------------------
 * Application metrics: counters, gauges and histograms that the host
 * defines, exposed beside the socket metrics in every format of
 * zmqobs_format and over HTTP.
 *
 * A zmqobs_metric_t is one series: a family name, its help text and a set
 * of labels. Metrics created with the same name and other labels are one
 * family, so their kind, help and (histograms) bounds must agree. The
 * observer's namespace prefix and constant labels apply as they do to the
 * socket metrics: with prefix "myapp" and the constant label service="api",
 * a counter "jobs" with label queue="mail" is exposed as
 *   myapp_jobs_total{queue="mail",service="api"} 12
 * Families come after the socket families and before process_*, in the
 * order their first series was created, each series in creation order.
 * In OpenMetrics, counters and histograms also carry _created (the
 * creation time). JSON lists every series under "application" by the
 * name given (the prefix is in "prefix", the constant labels in
 * "labels"); the text report in an "application" section.
 *
 * Numbers: counters are 64-bit integers (wrapping at 2^64). Gauge values,
 * histogram sums and bounds are doubles, written with the shortest digits
 * that read back as the same double, whatever the C locale: fixed
 * notation from 1e-4 to below 1e6, exponent notation otherwise ("0.005",
 * "2.5", "1e-05", "1.5e+07", "-3"). In OpenMetrics an integral value in
 * fixed notation keeps ".0" ("1.0", "-3.0"), as its reference parsers
 * write it; -0 is written as 0. NaN, +Inf and -Inf are spelled so; JSON,
 * which has no such numbers, gets the strings "NaN", "+Inf" and "-Inf".
 *
 * Threads: the update calls (zmqobs_counter_add, zmqobs_gauge_set,
 * zmqobs_gauge_add, zmqobs_histogram_observe) may run on any metric from
 * any number of threads at once: they are lock-free, never allocate and
 * never wait for a scrape. A scrape reads each value atomically; it may
 * see a histogram's _sum ahead of or behind its buckets by the
 * observations in flight, never buckets that disagree with _count. Creating and
 * destroying metrics may be called from any thread: both take the
 * observer's scrape lock, so they wait for a scrape in progress to end,
 * and a scrape never sees a half-made or freed metric. No thread may use
 * a metric during or after its zmqobs_metric_destroy. zmqobs_destroy
 * frees every metric of the observer: a zmqobs_metric_t used after that
 * (zmqobs_metric_destroy included) is a use-after-free.
 *
 * Costs, given with each update call: instructions from callgrind and
 * median times on a 2-core x86-64 machine (tests/bench/bench_appmetric.c,
 * gcc -O2, the calls out of line in the library; make bench).
 * ---------------------------------------------------------------------- */

typedef struct zmqobs_metric zmqobs_metric_t;

/* Most application metrics (series) per observer; a histogram series
 * counts as one, whatever its buckets. */
#define ZMQOBS_METRICS_MAX 256
/* Most labels per application metric, the constant labels not counted. */
#define ZMQOBS_METRIC_LABELS_MAX 8
/* Longest help text of an application metric, in bytes. */
#define ZMQOBS_HELP_MAX 1024

/* Creates a counter, starting at 0, owned by the observer.
 *  - name: [a-zA-Z_][a-zA-Z0-9_]*, 1..ZMQOBS_NAME_MAX bytes, not starting
 *    with "__", given without the "_total" the formats add (a counter
 *    name ending in "_total" is refused). Names starting with "zmq_", and
 *    names that start with "process_" once the namespace prefix is put in
 *    front, belong to the library. A name whose samples would clash with
 *    those of another family (a gauge "jobs_total" beside a counter
 *    "jobs", a gauge "wait_count" beside a histogram "wait") is refused.
 *  - help: 1..ZMQOBS_HELP_MAX bytes of UTF-8; the formatters escape it.
 *  - labels: nlabels (0..ZMQOBS_METRIC_LABELS_MAX) pairs; labels may be
 *    NULL when nlabels is 0. Names as for constant labels
 *    ([a-zA-Z_][a-zA-Z0-9_]*, not starting with "__"), neither "le" nor
 *    "quantile", none twice, none a constant label of the observer;
 *    values 1..ZMQOBS_NAME_MAX bytes of UTF-8 (quotes, backslashes and
 *    newlines are fine; an empty value would mean "no label" to
 *    Prometheus).
 * Everything is copied. Returns the metric, or NULL with errno EINVAL
 * (NULL obs or name, anything above invalid, or a family of that name
 * with another kind or help), EEXIST (this name with this label set
 * exists already; labels compare as a set, in any order), ENOSPC
 * (ZMQOBS_METRICS_MAX metrics exist in the observer), ENOMEM. Any thread;
 * waits for a scrape in progress. */
ZMQOBS_EXPORT zmqobs_metric_t *zmqobs_counter_new (zmqobs_t *obs, const char *name,
                                                   const char *help, const zmqobs_label_t *labels,
                                                   size_t nlabels);

/* Creates a gauge, starting at 0, with the rules and errno values of
 * zmqobs_counter_new (a gauge name may end in "_total" as long as no
 * counter family makes it clash). */
ZMQOBS_EXPORT zmqobs_metric_t *zmqobs_gauge_new (zmqobs_t *obs, const char *name, const char *help,
                                                 const zmqobs_label_t *labels, size_t nlabels);

/* Creates a histogram, empty, with the rules and errno values of
 * zmqobs_counter_new, and bucket upper bounds: nbounds
 * (1..ZMQOBS_BUCKETS_MAX) finite doubles in strictly increasing order
 * (the +Inf bucket is implicit; -0 is taken as 0), or NULL and 0 for
 * Prometheus's default bounds 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
 * 1, 2.5, 5, 10. Every series of a family has the same bounds. EINVAL
 * also for bounds that break these rules, or differ from the family's. */
ZMQOBS_EXPORT zmqobs_metric_t *zmqobs_histogram_new (zmqobs_t *obs, const char *name,
                                                     const char *help, const zmqobs_label_t *labels,
                                                     size_t nlabels, const double *bounds,
                                                     size_t nbounds);

/* Adds n to a counter: one atomic add. Returns 0, or -1 with EINVAL (m
 * NULL or not a counter). Any thread; lock-free, no allocation. Cost: 8
 * instructions, 4-5 ns; 13-19 ns per call while two threads add to the
 * same counter (they share its cache line). */
ZMQOBS_EXPORT int zmqobs_counter_add (zmqobs_metric_t *m, uint64_t n);

/* Sets a gauge to v (any double: NaN and infinities are exposed as
 * such): one atomic store, a plain store on x86-64. Returns 0, or -1
 * with EINVAL (m NULL or not a gauge). Any thread; lock-free, no
 * allocation. Cost: 9 instructions, under 1 ns (up to 3 ns while two
 * threads set the same gauge). */
ZMQOBS_EXPORT int zmqobs_gauge_set (zmqobs_metric_t *m, double v);

/* Adds d (which may be negative) to a gauge: a compare-and-swap loop, so
 * that concurrent adds are never lost (lock-free, not wait-free: a loser
 * retries). Returns 0, or -1 with EINVAL (m NULL or not a gauge). Any
 * thread; no allocation. Cost: 10 instructions uncontended, 4-5 ns
 * (13 in a noisy run); 18-23 ns per call while two threads add to the
 * same gauge. */
ZMQOBS_EXPORT int zmqobs_gauge_add (zmqobs_metric_t *m, double d);

/* Counts v in the first bucket whose bound is >= v (le is inclusive), or
 * in +Inf, and adds v to the sum: a binary search over the bounds (its
 * steps are conditional moves, not branches), one atomic add and a
 * compare-and-swap loop for the sum. Returns 0, or -1 with EINVAL (m
 * NULL or not a histogram; v NaN; v negative when the lowest bound is
 * not, because the _sum of such a histogram is a counter in OpenMetrics,
 * which never goes down); a refused value is not counted. A histogram
 * whose lowest bound is negative takes any value but NaN; OpenMetrics
 * then shows neither its _sum (its rule) nor its _count (which needs the
 * _sum there; the +Inf bucket holds the count), the other formats show
 * both. Any thread; lock-free, no allocation. Cost with the 11 default
 * bounds: 68 instructions, 10-14 ns; 32-51 ns per call while two threads
 * observe into the same histogram. */
ZMQOBS_EXPORT int zmqobs_histogram_observe (zmqobs_metric_t *m, double v);

/* Removes a metric from the observer's expositions and frees it; sets *m
 * to NULL. Accepts NULL and a pointer to NULL. Its family goes with its
 * last series. Takes the scrape lock: waits for a scrape in progress, and
 * no scrape sees the metric afterwards. No other thread may use the
 * metric during or after the call. Any thread, while the observer
 * lives. */
ZMQOBS_EXPORT void zmqobs_metric_destroy (zmqobs_metric_t **m);

/* ------------------------------------------------------------------------
 * Built-in HTTP endpoint
 * ---------------------------------------------------------------------- */

/* Serves GET/HEAD /metrics, /healthz and /readyz on endpoint, e.g.
 * "tcp://127.0.0.1:9464" (port 0 or "*" picks a free port, see
 * zmqobs_serve_port). Runs in the observer's thread, or in
 * zmqobs_process in host-driven mode. Returns 0, or -1 with EINVAL (NULL
 * or malformed endpoint), EALREADY (already serving), EADDRINUSE,
 * EADDRNOTAVAIL, ENOMEM, or another errno from socket(2), bind(2) or
 * listen(2) (EACCES for a privileged port, EAFNOSUPPORT for IPv6 on a
 * host without it, EMFILE). Any thread.
 *
 * The host is an IPv4 address, "localhost" (127.0.0.1) or a bracketed
 * IPv6 address ("[::1]"); names are not resolved. The host "*" (as in
 * tcp:// then *:9464) and 0.0.0.0 both listen on every IPv4 interface,
 * which exposes the metrics to the network: use 127.0.0.1 unless a
 * scraper on another machine needs them. Answers: 200 with the format
 * chosen by the Accept header for /metrics; /healthz 200 while the observer runs;
 * /readyz 200, or 503 with zmqobs_ready's reasons; unless
 * options.no_status_page is set, the status page: / (HTML, with
 * /status.js and /status.css, all embedded in the library; it polls the
 * next two every second and draws what they hold), /metrics.json (the
 * JSON exposition, as zmqobs_format writes it) and /events (the latest
 * monitor events, oldest first, as one JSON object:
 * {"capacity":64,"total":N,"events":[...]}, each event as
 * zmqobs_json_log writes it, total counting every event since
 * zmqobs_new); these carry a Content-Security-Policy that allows
 * nothing but the server itself, X-Content-Type-Options: nosniff and
 * Referrer-Policy: no-referrer, and the page inserts every name and
 * endpoint as text, never as HTML; 500 when a response cannot be
 * allocated; 404, 405 (other
 * methods), 400 (malformed, or a request body), 408 (request not
 * complete within 5 s), 414 (target over 2048 bytes), 431 (head over
 * 8 KiB or over 64 header fields), 505. HTTP/1.1 keep-alive and
 * pipelining are supported. At most 16 connections are open at a time; a
 * new one displaces the oldest idle or stalled one, so a scrape always
 * gets through. Idle connections close after 30 s, stalled writes after
 * 10 s. Nothing blocks the loop it runs in. */
ZMQOBS_EXPORT int zmqobs_serve (zmqobs_t *self, const char *endpoint);

/* Returns the TCP port being served, or -1 with EINVAL (NULL self) or
 * ENOTCONN (not serving). Any thread. */
ZMQOBS_EXPORT int zmqobs_serve_port (zmqobs_t *self);

/* Stops serving and closes every HTTP connection. Returns 0, or -1 with
 * EINVAL (NULL self) or ENOTCONN (not serving). Any thread. */
ZMQOBS_EXPORT int zmqobs_serve_stop (zmqobs_t *self);

/* Readiness as /readyz reports it: 1 when every attached socket has what
 * it needs (bound sockets listening, connecting sockets with at least one
 * connected peer), 0 otherwise; when reason is not NULL, writes a
 * plain-text reason per socket into it with snprintf semantics. Returns -1
 * with EINVAL for NULL self. Any thread. */
ZMQOBS_EXPORT int zmqobs_ready (zmqobs_t *self, char *reason, size_t size);

/* ------------------------------------------------------------------------
 * OTLP push to OpenTelemetry collectors
 *
 * Every metric as one OTLP/JSON ExportMetricsServiceRequest, sent with an
 * HTTP/1.1 POST (Content-Type: application/json) to a collector's OTLP/HTTP
 * receiver, e.g. "http://127.0.0.1:4318/v1/metrics". Mapping: one
 * resource whose attributes are the constant labels, the one named
 * "service" as service.name; scope "libzmqobs". Counters are monotonic
 * cumulative sums named without _total, starting at the attach, the
 * metric's creation or the process start; gauges are gauges; the latency
 * histogram is a cumulative explicit-bucket histogram and, with
 * native_histograms, also zmq_message_latency_exponential_seconds, an
 * exponential histogram of the same native buckets (scale = the schema);
 * the window quantiles are a summary. socket, type and the other labels
 * of a series are its data point's attributes.
 *
 * URLs: "http://HOST[:PORT][/PATH]" with HOST an IPv4 address, localhost
 * or a bracketed IPv6 address (names are not resolved: no resolver call
 * may block). Plain HTTP only: https:// is ENOTSUP (TLS would need a TLS
 * library linked in, certificate and key options, and the handshake driven
 * without blocking like the rest of the push; see the README).
 *
 * A push connects without blocking and gives up after 2 s in all
 * (connect, send, status line); any 2xx status is success. Each failed
 * push counts in zmqobs_otlp_push_failures_total (with the observer's
 * prefix and constant labels), an application counter that the first
 * push or zmqobs_otlp_start creates, shown in every format. Since every
 * value is cumulative, the next push that gets through carries every
 * count: a failure delays data, it does not lose it.
 * ---------------------------------------------------------------------- */

/* Sends one request now, on the calling thread, and waits for the answer
 * (2 s at most): for a host that pushes at moments of its own choosing,
 * off its hot path. Returns 0 (a 2xx answer), or -1 with errno EINVAL
 * (NULL obs, malformed url), ENOTSUP (https), ECONNREFUSED (nobody
 * listens), ETIMEDOUT (no answer in time), ECONNRESET (closed before
 * answering), EPROTO (an answer other than 2xx, or not HTTP), ENOMEM, or
 * another errno of socket(2) or connect(2) (ENETUNREACH, EMFILE, ...).
 * Any thread. */
ZMQOBS_EXPORT int zmqobs_otlp_push (zmqobs_t *obs, const char *url);

/* Pushes every interval_ms (10 ms or more) from a thread of the
 * observer's own, never the host's nor the loop's: a collector that is
 * down, slow or silent costs the host nothing. A failed push is retried
 * after 250 ms, then twice as long each time, never later than the
 * interval. Returns 0, or -1 with errno EINVAL (NULL obs, interval below
 * 10 ms, malformed url), ENOTSUP (https), EALREADY (already pushing;
 * zmqobs_otlp_stop first), ENOSPC or EEXIST (the failure counter cannot
 * be created: ZMQOBS_METRICS_MAX application metrics exist, or the host
 * made one of that name), ENOMEM, or an errno of pthread_create. Any
 * thread. */
ZMQOBS_EXPORT int zmqobs_otlp_start (zmqobs_t *obs, const char *url, unsigned interval_ms);

/* Stops the periodic push and joins its thread (a push in progress is
 * abandoned within 100 ms). zmqobs_destroy does it too. Returns 0, or -1
 * with errno EINVAL (NULL obs) or ENOTCONN (not pushing). Any thread. */
ZMQOBS_EXPORT int zmqobs_otlp_stop (zmqobs_t *obs);

/* ------------------------------------------------------------------------
 * Configuration from the environment
 *
 *   ZMQOBS_METRICS_ADDR  "off", or an endpoint for zmqobs_serve
 *                        (tcp://HOST:PORT); unset = off
 *   ZMQOBS_SERVICE       options.service: 1..128 bytes of printable UTF-8
 *   ZMQOBS_SAMPLE_EVERY  options.latency_sample_every: 1..1000000, or
 *                        "off" for ZMQOBS_SAMPLE_NEVER
 *   ZMQOBS_EVENT_LOG     options.event_log: a file path, or "-" for stderr
 *   ZMQOBS_STATUS_PAGE   "0" or "off" sets options.no_status_page, "1" or
 *                        "on" clears it
 *
 * Parsing is strict: an empty value, a sign, spaces, trailing characters
 * or an out-of-range number is an error, never a default. Both functions
 * call getenv(3): the caller must not change the environment (setenv,
 * unsetenv, putenv, clearenv, writes to environ) from another thread
 * while they run, and must keep ZMQOBS_SERVICE and ZMQOBS_EVENT_LOG
 * unchanged from zmqobs_options_from_env until zmqobs_new returns (see
 * below).
 * ---------------------------------------------------------------------- */

/* Applies the ZMQOBS_* variables that are set onto *opts, which the
 * caller has initialised (zmqobs_options_init) and may have filled
 * already: a variable that is set overrides the field, one that is unset
 * leaves it alone. ZMQOBS_SERVICE sets opts->service, ZMQOBS_SAMPLE_EVERY
 * opts->latency_sample_every, ZMQOBS_EVENT_LOG opts->event_log,
 * ZMQOBS_STATUS_PAGE opts->no_status_page.
 * ZMQOBS_METRICS_ADDR is checked too (zmqobs_serve_from_env reads it),
 * so that one call reports every malformed variable before anything is
 * created. A ZMQOBS_EVENT_LOG file is opened for appending (created if
 * missing) and closed again at once, so that a log that cannot be
 * written is reported here with its name; a FIFO or a socket is left to
 * zmqobs_new.
 *
 * The strings put into opts are getenv's: they point into the
 * environment and stay valid until that variable is changed or unset or
 * the environment is replaced. zmqobs_new copies the service value and
 * opens the log, so they must stay unchanged until zmqobs_new returns.
 *
 * Returns 0 (and err, when errsize > 0, holds ""), or -1 with errno set
 * and a one-line message in err naming the variable and what is wrong,
 * e.g. "ZMQOBS_SAMPLE_EVERY: '12x' is not a whole number from 1 to
 * 1000000 or off" (values are quoted with bytes outside printable ASCII,
 * the quote and the backslash as \xHH, and cut after 64 bytes): EINVAL
 * for a malformed value (or NULL opts, or err NULL with errsize > 0), or
 * the errno of open(2) (ENOENT, EACCES, EISDIR, ...) for a
 * ZMQOBS_EVENT_LOG that cannot be opened. err has snprintf semantics: at
 * most errsize bytes, NUL-terminated when errsize > 0; (NULL, 0) drops
 * the message. Variables are checked in the order of the list above,
 * ZMQOBS_METRICS_ADDR first, and the first problem is reported; on
 * failure *opts is left unchanged. Any thread (see above on the
 * environment). */
ZMQOBS_EXPORT int zmqobs_options_from_env (zmqobs_options_t *opts, char *err, size_t errsize);

/* Serves /metrics, /healthz and /readyz as ZMQOBS_METRICS_ADDR says:
 * unset or "off" serves nothing; anything else is passed to
 * zmqobs_serve, with its syntax. Returns the TCP port served (1..65535,
 * the one picked when the address asked for port 0 or *), 0 when
 * ZMQOBS_METRICS_ADDR is unset or "off", or -1 with errno EINVAL (NULL
 * self, or a malformed value, the empty string included) or any errno of
 * zmqobs_serve (EALREADY, EADDRINUSE, EADDRNOTAVAIL, EACCES, ENOMEM, ...),
 * or ENOTCONN if another thread stopped serving before the port was
 * read. Any thread (see above on the environment). */
ZMQOBS_EXPORT int zmqobs_serve_from_env (zmqobs_t *self);

#ifdef __cplusplus
}
#endif

#endif /* ZMQOBS_H */
