/*
 * zmqobs_private.h - declarations shared between the library's modules.
 * Not installed. Names shared between files start with zmqobs__.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_PRIVATE_H
#define ZMQOBS_PRIVATE_H

#include "zmqobs.h"

#include <pthread.h>
#include <stdbool.h>

#define ZMQOBS_CACHELINE 64

/* ------------------------------------------------------------------------
 * Allocation: every allocation in the library goes through these, so that
 * tests can make the n-th one fail (see zmqobs__alloc_fail_at).
 * ---------------------------------------------------------------------- */
void *zmqobs__malloc (size_t size);
void *zmqobs__calloc (size_t count, size_t size);
void zmqobs__free (void *ptr);
/* Test hook: when > 0, the allocation with this ordinal (counting from 1
 * since the hook was set) fails with ENOMEM, and every later one succeeds.
 * 0 = never fail. zmqobs__alloc_count counts allocations since the hook
 * was last set. Not thread-safe by design: tests set it while quiet. */
extern long zmqobs__alloc_fail_at;
extern long zmqobs__alloc_count;

/* Clocks, in nanoseconds. */
uint64_t zmqobs__now_ns (void);  /* CLOCK_MONOTONIC */
uint64_t zmqobs__wall_ns (void); /* CLOCK_REALTIME */

/* Relaxed atomic helpers for fields shared between threads. */
#define LOAD(p) __atomic_load_n ((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n ((p), (v), __ATOMIC_RELAXED)
#define BUMP(p, n) STORE ((p), LOAD (p) + (n)) /* single writer only */
#define ADD(p, n) __atomic_fetch_add ((p), (n), __ATOMIC_RELAXED)

/* ------------------------------------------------------------------------
 * events.c
 * ---------------------------------------------------------------------- */
/* Index of an errno value in the errno slots (EAGAIN is slot 0, the last
 * slot is OTHER). */
unsigned zmqobs__errno_slot (int err);
/* Index of a handshake failure in the handshake slots: for
 * HANDSHAKE_FAILED_PROTOCOL the protocol error's slot, for
 * HANDSHAKE_FAILED_AUTH the AUTH slot, for NO_DETAIL the NO_DETAIL slot. */
unsigned zmqobs__handshake_slot (uint32_t event, uint32_t value);
/* Bit index (0..31) of a single-bit event code, or -1. */
int zmqobs__event_bit (uint32_t event);
/* Text for an event's value: the errno name, protocol error name, or "". */
const char *zmqobs__value_text (uint32_t event, uint32_t value);

/* ------------------------------------------------------------------------
 * Per-socket metric block.
 *
 * Layout rule: the fields each kind of writer touches live on their own
 * cache lines. hot: the owner thread (wrappers, record calls). depth: any
 * thread (atomic RMW). mon: the draining thread only. Readers (snapshots,
 * scrapes) use relaxed loads everywhere.
 * ---------------------------------------------------------------------- */
/* Peers of one endpoint (see zmqobs_mon_block_t.peers). */
#define ZMQOBS__PEER_SLOTS 64
typedef struct {
    uint64_t key;        /* endpoint hash, 0 for a free slot */
    uint32_t live;       /* peers counted in connections */
    uint32_t failed;     /* failed handshakes whose DISCONNECTED is due */
    uint16_t port;       /* tcp port of the endpoint, else 0 */
    uint8_t closed;      /* closed by the host: its events are not counted */
    uint8_t accepted;    /* a listener's endpoint (peers came in on it) */
    uint32_t closed_seq; /* when it was closed: the oldest gives way */
} zmqobs_peer_slot_t;

/* An engine as ACCEPTED or CONNECTED announced it (see engines[]). */
#define ZMQOBS__ENGINE_SLOTS 64
typedef struct {
    int32_t fd;        /* -1 when free */
    uint32_t key;      /* low bits of its endpoint's hash */
    uint64_t outcomes; /* the socket's handshake outcomes when it opened */
} zmqobs_engine_t;

typedef struct zmqobs_mon_block {
    uint64_t events[ZMQOBS_EVENT_SLOTS]; /* by bit index of the event */
    int64_t connections;                 /* gauge, never below 0 */
    uint64_t pending_failed;             /* failed handshakes whose
                                            DISCONNECTED is still due */
    uint64_t listening;                  /* LISTENING minus listener CLOSED */
    uint64_t reconnects;
    uint64_t handshake_failures[ZMQOBS_HANDSHAKE_SLOTS];
    uint64_t malformed;
    int bound;      /* saw LISTENING or BIND_FAILED */
    int connecting; /* saw CONNECT_* */
    /* fds reported by LISTENING and not yet CLOSED: CLOSED is also sent
     * for failed connect attempts, only a listener's lowers listening */
    int32_t listen_fds[16];
    uint32_t listen_fd_count;
    /* last error event; guarded by obs->lock (rare writes, scrape reads) */
    uint32_t last_error_event;
    uint32_t last_error_value;
    char last_error_endpoint[ZMQOBS_ENDPOINT_MAX + 1];
    /* The gauge per endpoint, so that zmqobs_disconnect and zmqobs_unbind
     * can take off the peers libzmq drops without a word. Open addressing
     * on a hash of the endpoint; endpoints beyond the table are counted
     * in untracked_* alone. connections = sum of live + untracked_live. */
    zmqobs_peer_slot_t peers[ZMQOBS__PEER_SLOTS];
    uint64_t untracked_live;
    uint64_t untracked_failed;
    uint32_t close_seq; /* closes so far (closed_seq) */
    /* Recent engines by fd, direct-mapped: libzmq drops some engines
     * (a protocol error before any mechanism) with ACCEPTED then
     * DISCONNECTED and no HANDSHAKE_* at all. If no handshake outcome
     * came on the socket since an engine opened, its DISCONNECTED is
     * provably such a drop and no peer leaves the gauge. */
    zmqobs_engine_t engines[ZMQOBS__ENGINE_SLOTS];
    uint64_t outcomes; /* HANDSHAKE_* events so far */
} zmqobs_mon_block_t;

struct zmqobs_socket {
    zmqobs_hot_t hot; /* must stay first: the inline wrappers cast to it */
    /* owner thread, cold: errors are rare */
    uint64_t errors[2][ZMQOBS_ERRNO_SLOTS] __attribute__ ((aligned (ZMQOBS_CACHELINE)));
    /* any thread, atomic RMW */
    int64_t queue_depth __attribute__ ((aligned (ZMQOBS_CACHELINE)));
    uint64_t ring_claim; /* latency_shared: ring slots handed out */
    /* draining thread */
    zmqobs_mon_block_t mon __attribute__ ((aligned (ZMQOBS_CACHELINE)));

    /* immutable after attach */
    zmqobs_t *obs;
    int type; /* ZMQ_TYPE of the host socket */
    uint64_t attached_wall_ns;
    uint64_t attached_mono_ns;
    char name[ZMQOBS_NAME_MAX + 1];
    size_t name_len;

    /* monitor module state (owned by monitor.c) */
    void *reader; /* PAIR connected to the monitor endpoint */
    char monitor_endpoint[64];
    int monitor_state; /* monitor.c's own enumeration */
    /* a request of the owner thread for the draining thread, applied in
     * order with the monitor's queued events; under the monitor's lock */
    int req_state;      /* monitor.c's enumeration */
    int req_op;         /* monitor.c's enumeration */
    const char *req_ep; /* endpoint of a close or open */
    uint16_t req_port;  /* wildcard unbind: the tcp port, else 0 */

    /* registry link, guarded by obs->lock */
    zmqobs_socket_t *next;
    /* the latest scrape's snapshot, written and read by the formatters
     * under obs->lock (one read of the host's lines per scrape) */
    zmqobs_stats_t scrape;
    /* quantile cache: valid when ring_head equals cached_head */
    uint64_t cached_head;
    zmqobs_window_t cached_window;
};

/* ------------------------------------------------------------------------
 * Observer
 * ---------------------------------------------------------------------- */
struct zmqobs_monitor; /* monitor.c */
struct zmqobs_http;    /* http.c */

struct zmqobs {
    void *ctx;
    /* options, copied and validated */
    uint32_t events;
    int host_driven;
    uint32_t ring_capacity;
    uint32_t sample_every; /* 0 = off */
    int latency_shared;
    uint32_t bucket_count;
    uint64_t bounds[ZMQOBS_BUCKETS_MAX + 1]; /* + UINT64_MAX sentinel */
    uint8_t lut[64];
    char prefix[128]; /* "" or "name_" ready to paste */
    size_t label_count;
    char *label_names[ZMQOBS_LABELS_MAX];
    char *label_values[ZMQOBS_LABELS_MAX];
    int process_metrics;
    uint64_t start_wall_ns;
    uint64_t start_mono_ns;

    /* registry: list of attached sockets. Attach, detach, snapshot of the
     * list and the monitor's last-error writes take it; the hot path never
     * does. */
    pthread_mutex_t lock;
    zmqobs_socket_t *sockets;
    int socket_count;
    uint64_t attach_seq; /* makes monitor endpoints unique */

    /* scratch for window quantiles (zmqobs__window_scratch_size), guarded
     * by scratch_lock so snapshots from several threads do not collide */
    pthread_mutex_t scratch_lock;
    void *scratch;

    /* event callback, guarded by lock */
    zmqobs_event_fn *event_fn;
    void *event_arg;

    struct zmqobs_monitor *monitor; /* monitor.c */
    struct zmqobs_http *http;       /* http.c */
};

/* ------------------------------------------------------------------------
 * metrics.c
 * ---------------------------------------------------------------------- */
/* Builds the O(1) bucket lookup table for bounds. */
void zmqobs__build_lut (const uint64_t *bounds, uint32_t n, uint8_t lut[64]);
/* Initialises the hot block of a fresh socket for the observer's options. */
void zmqobs__metrics_init (zmqobs_socket_t *s, const zmqobs_t *obs, int type);
/* Frees what the metrics allocated since (the latency ring); called by
 * detach before the block itself is freed. */
void zmqobs__metrics_fini (zmqobs_socket_t *s);
/* zmqobs_socket_stats for callers that already hold obs->lock (the
 * formatters walk the registry under it). */
int zmqobs__socket_stats_locked (const zmqobs_socket_t *s, zmqobs_stats_t *out);
/* Window quantiles over a copy of the ring, using scratch of
 * zmqobs__window_scratch_size(capacity) bytes (8-byte aligned). Exposed
 * for tests. */
size_t zmqobs__window_scratch_size (uint32_t capacity);
void zmqobs__window (const uint64_t *ring, uint64_t head, uint32_t capacity, void *scratch,
                     zmqobs_window_t *out);

/* ------------------------------------------------------------------------
 * monitor.c: attach/detach of monitors, the draining loop, events into
 * metrics. observer.c calls these.
 * ---------------------------------------------------------------------- */
/* Called by zmqobs_new once options are set: creates the control channel
 * and, unless host-driven, starts the thread. -1 with errno on failure. */
int zmqobs__monitor_init (zmqobs_t *obs);
/* Called by zmqobs_destroy after every socket is detached and HTTP is
 * stopped: stops and joins the thread, frees monitor state. Safe when the
 * context was terminated. */
void zmqobs__monitor_fini (zmqobs_t *obs);
/* Threads still draining the monitors of sockets the host closed before
 * detaching them, after their observer was destroyed (for tests). */
int zmqobs__orphanages (void);
/* Orphan readers the observer is draining now (for tests). */
size_t zmqobs__orphan_count (zmqobs_t *obs);
/* Starts the monitor of s and connects its reader; on return libzmq can
 * never block on it. -1 with errno, socket unchanged, on failure. Runs on
 * the socket's owner thread, without obs->lock held. */
int zmqobs__monitor_attach (zmqobs_t *obs, zmqobs_socket_t *s);
/* Stops the monitor of s in the safe order; on return no thread touches
 * s's monitor state again. Owner thread, without obs->lock held. */
void zmqobs__monitor_detach (zmqobs_t *obs, zmqobs_socket_t *s);
/* Applies one decoded event to the socket's monitor block (pure apart
 * from the block; exposed for tests). */
void zmqobs__apply_event (zmqobs_socket_t *s, const zmqobs_event_t *ev);
/* Wakes the draining loop so it refills its poll set (after serve/stop). */
void zmqobs__monitor_wake (zmqobs_t *obs);
/* Reads one whole monitor message from sock without waiting and handles
 * it as an event of s (malformed ones are counted). Returns 1 if a message
 * was handled, 0 if none was pending, -1 with errno (ETERM, ...). The
 * drain loop calls it on s->reader; tests call it on a socket of their
 * own to inject frames. The caller must be the draining thread. */
int zmqobs__monitor_recv (zmqobs_t *obs, zmqobs_socket_t *s, void *sock);
/* The line zmqobs_json_log writes for info (newline included), with
 * snprintf semantics; 0 for an incomplete info. Exposed for tests. */
size_t zmqobs__json_line (const zmqobs_event_info_t *info, char *buf, size_t size);

/* ------------------------------------------------------------------------
 * http.c: the built-in endpoint, driven by the draining loop.
 * ---------------------------------------------------------------------- */
/* Fills up to size poll items for the HTTP listener and connections and
 * returns how many it needs (0 when not serving). */
int zmqobs__http_pollitems (zmqobs_t *obs, zmq_pollitem_t *items, int size);
/* Handles whatever is ready among the n items previously filled. */
void zmqobs__http_dispatch (zmqobs_t *obs, const zmq_pollitem_t *items, int n);
/* Milliseconds until the next HTTP timeout is due, -1 for none. */
long zmqobs__http_timeout_ms (zmqobs_t *obs);
/* Frees HTTP state; called by zmqobs_destroy. */
void zmqobs__http_fini (zmqobs_t *obs);

/* Request limits of the built-in endpoint. */
#define ZMQOBS__HTTP_HEAD_MAX 8192  /* request line + headers, bytes */
#define ZMQOBS__HTTP_URI_MAX 2048   /* request target, bytes (else 414) */
#define ZMQOBS__HTTP_HEADERS_MAX 64 /* header fields (else 431) */
enum { ZMQOBS__HTTP_GET = 1, ZMQOBS__HTTP_HEAD, ZMQOBS__HTTP_OTHER };

/* One parsed request head; pointers point into the parsed buffer. */
typedef struct zmqobs_http_request {
    int method;        /* ZMQOBS__HTTP_GET, _HEAD or _OTHER */
    int version_minor; /* HTTP/1.x */
    const char *path;  /* request path, query stripped */
    size_t path_len;
    const char *accept; /* first Accept value (trimmed) or NULL */
    size_t accept_len;
    int keep_alive; /* connection persists after the response */
    int has_body;   /* Content-Length > 0 or Transfer-Encoding */
    unsigned header_count;
    int status; /* on error: the HTTP status to answer */
} zmqobs_http_request_t;

/* Parses one request head from buf (pure; never reads past len). Returns
 * the bytes it used (> 0) for a complete head, 0 when more bytes are
 * needed, or -1 with errno EPROTO and out->status set (400 malformed, 414
 * target too long, 431 headers too large or too many, 505 version) or
 * EINVAL (NULL out, or NULL buf with len > 0). Invalid bytes are refused
 * as soon as they are seen, complete line or not. */
int zmqobs__http_parse (const char *buf, size_t len, zmqobs_http_request_t *out);
/* Test hook: idle, request and write-stall timeouts in ms (<= 0 keeps
 * the current value; defaults 30000, 5000, 10000). Creates the HTTP state
 * if needed. Any thread. */
void zmqobs__http_set_timeouts (zmqobs_t *obs, long idle_ms, long request_ms, long write_ms);

/* ------------------------------------------------------------------------
 * expose.c / process.c
 * ---------------------------------------------------------------------- */
/* Validates a metric name / label name (Prometheus rules); 1 if valid. */
int zmqobs__valid_metric_name (const char *name);
int zmqobs__valid_label_name (const char *name);
/* Valid UTF-8 check for names; 1 if valid. */
int zmqobs__valid_utf8 (const char *s, size_t len);

/* zmqobs_format_from_accept for a header that is not NUL-terminated
 * (len bytes, NUL bytes included); never reads past len. Pure. */
zmqobs_format_t zmqobs__format_from_accept_n (const char *accept, size_t len);
/* An HTTP qvalue ("0", "0.5", "1.000", ...) as 0..1000, or -1 if
 * malformed. Never reads past len. */
int zmqobs__parse_qvalue (const char *s, size_t len);
/* Escapes src (len bytes) for kind into dst with snprintf semantics;
 * returns the escaped length. */
enum { ZMQOBS__ESC_LABEL, ZMQOBS__ESC_HELP, ZMQOBS__ESC_HELP_OM, ZMQOBS__ESC_JSON };
size_t zmqobs__escape (char *dst, size_t size, const char *src, size_t len, int kind);
/* A histogram bound in ns as its canonical le text, seconds (openmetrics
 * 0: text 0.0.4, 1: OpenMetrics). dst needs 40 bytes; not terminated. */
size_t zmqobs__fmt_bound (char *dst, uint64_t ns, int openmetrics);
/* Test hook: when nonzero, every uptime the formatters print is this many
 * ns (golden outputs). Set it while no scrape runs. */
extern uint64_t zmqobs__test_uptime_ns;

/* process.c: standard process metrics from /proc/self, no allocation. */
enum {
    ZMQOBS__PROC_CPU = 1u << 0,      /* cpu_ns */
    ZMQOBS__PROC_OPEN_FDS = 1u << 1, /* open_fds */
    ZMQOBS__PROC_MAX_FDS = 1u << 2,  /* max_fds */
    ZMQOBS__PROC_VMEM = 1u << 3,     /* virtual_bytes */
    ZMQOBS__PROC_RSS = 1u << 4,      /* resident_bytes */
    ZMQOBS__PROC_START = 1u << 5,    /* start_time_ns */
    ZMQOBS__PROC_THREADS = 1u << 6   /* threads */
};
typedef struct zmqobs__process {
    unsigned have;   /* ZMQOBS__PROC_* bits of the fields read */
    uint64_t cpu_ns; /* user + system CPU time */
    uint64_t open_fds;
    uint64_t max_fds; /* soft RLIMIT_NOFILE */
    uint64_t virtual_bytes;
    uint64_t resident_bytes;
    uint64_t start_time_ns; /* Unix time, ns */
    uint64_t threads;
} zmqobs__process_t;
/* Fills *out with what could be read (out->have says which); returns 0
 * when everything was read, -1 with errno otherwise. Any thread.
 * open_fds is exact on Linux 6.2 and later (stat of /proc/self/fd); on
 * older kernels it comes from a listing of /proc/self/fd made at most
 * once per zmqobs__fd_cache_ns per process, so it may be that old. */
int zmqobs__process_read (zmqobs__process_t *out);
/* Test hooks for open_fds: zmqobs__fd_stat_off = 1 skips the stat count
 * (as on kernels before 6.2); zmqobs__fd_cache_ns is the longest age of a
 * reused listing (default 1 s; 0 lists at every read). Set them while no
 * scrape runs. */
extern int zmqobs__fd_stat_off;
extern uint64_t zmqobs__fd_cache_ns;
/* Parsers behind it, pure, exposed for tests: the fields of a
 * /proc/<pid>/stat line (returns 0 or -1 with EPROTO), and btime from
 * /proc/stat contents (returns 0 or -1 with ENOENT). */
int zmqobs__parse_proc_stat (const char *text, size_t len, uint64_t *utime_ticks,
                             uint64_t *stime_ticks, uint64_t *threads, uint64_t *start_ticks,
                             uint64_t *vsize, uint64_t *rss_pages);
int zmqobs__parse_btime (const char *text, size_t len, uint64_t *btime);

#endif /* ZMQOBS_PRIVATE_H */
