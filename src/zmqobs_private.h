/*
 * zmqobs_private.h - declarations shared between the library's modules.
 * Not installed. Names shared between files start with zmqobs__.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_PRIVATE_H
#define ZMQOBS_PRIVATE_H

#include "base.h"
#include "events.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

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
    uint8_t listeners;   /* listeners on it that listen_fds does not hold */
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
    /* what attach could learn of an endpoint set up before it
     * (ZMQ_LAST_ENDPOINT): the key of a listener counted then, whose fd
     * is unknown (its CLOSED is matched by endpoint), or a connect made
     * before attach, whose peers cannot be known until they reconnect */
    uint64_t seeded_listener;
    int preconnected;
    int monitor_up; /* see zmqobs_stats_t.monitor_up */
    /* fds reported by LISTENING and not yet CLOSED: CLOSED is also sent
     * for failed connect attempts, only a listener's lowers listening */
    int32_t listen_fds[16];
    uint32_t listen_fd_count;
    /* listeners beyond listen_fds, matched by endpoint when they close
     * (their endpoint slot's listeners), or, on a socket that never
     * connects, by elimination: only a listener's CLOSED comes then */
    uint64_t listen_untracked;
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
    /* owner thread, read out of line only */
    uint32_t cycle_every;         /* REQ/REP sampling period, 0 = off */
    uint32_t cycle;               /* metrics.c's cycle state */
    struct zmqobs_peers *peers;   /* per-peer table or NULL; set by the
                                     owner under obs->scrape_lock */
    int sndhwm, rcvhwm;           /* owner writes, scrapes read (relaxed) */
    int proxy;                    /* 1 once zmqobs_proxy ran on it */
    /* any thread, atomic RMW */
    int64_t queue_depth __attribute__ ((aligned (ZMQOBS_CACHELINE)));
    uint64_t ring_claim; /* latency_shared: ring slots handed out */
    int64_t proxy_in_flight; /* the proxy's thread writes, relaxed */
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
    void *reader;              /* PAIR connected to the monitor endpoint */
    struct zmqobs_rnode *node; /* the reader in the loop's epoll set; it
                                  outlives s when the reader is orphaned */
    char monitor_endpoint[64];
    int monitor_state; /* monitor.c's own enumeration */
    /* a request of the owner thread for the draining thread, applied in
     * order with the monitor's queued events; under the monitor's lock */
    int req_state;                /* monitor.c's enumeration */
    int req_op;                   /* monitor.c's enumeration */
    const char *req_ep;           /* endpoint of a close or open */
    uint16_t req_port;            /* wildcard unbind: the tcp port, else 0 */
    uint64_t stop_deadline_ns;    /* when stopping: give up on MONITOR_STOPPED */
    zmqobs_dlink_t mon_link;      /* every socket with a monitor (mon->all) */
    zmqobs_dlink_t todo_link;     /* changes for the loop (mon->todo) */
    zmqobs_dlink_t stop_link;     /* stops waiting for MONITOR_STOPPED */
    zmqobs_socket_t *handle_next; /* chain of the process-wide handle hash */
    int handle_claimed;           /* s is in that hash */

    /* registry links, guarded by obs->lock */
    zmqobs_socket_t *next;      /* attach order */
    zmqobs_socket_t **pprev;    /* the pointer that points at s */
    zmqobs_socket_t *name_next; /* chain of the registry's name hash */
    uint64_t reg_seq;           /* attach order, from obs->reg_seq */
    /* scrapes and walks in progress that pinned s (obs->lock); a detach
     * while pinned leaves the free to the last unpin */
    unsigned pins;
    int free_on_unpin;
    /* the latest scrape's snapshot, written and read by the formatters
     * under obs->scrape_lock (one read of the host's lines per scrape) */
    zmqobs_stats_t scrape;
    /* quantile cache: valid when ring_head equals cached_head */
    uint64_t cached_head;
    zmqobs_window_t cached_window;
    /* the latest exemplar per classic latency bucket (exemplar.h);
     * allocated by the first one, NULL until then */
    struct zmqobs_exemplar_slot *exemplars;
};

/* ------------------------------------------------------------------------
 * Observer
 * ---------------------------------------------------------------------- */
struct zmqobs_monitor; /* reader.h */
struct zmqobs_loop;    /* loop.h */
struct zmqobs_http;    /* http.c */
struct zmqobs_recent;  /* recent.h */

struct zmqobs_observer { /* zmqobs_t; see zmqobs.h for the tag */
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

    /* registry: list of attached sockets in attach order, and a hash of
     * their names. Attach, detach and the pinning of a scrape take it,
     * briefly; the hot path and the draining path never do. */
    pthread_mutex_t lock;
    zmqobs_socket_t *sockets;
    zmqobs_socket_t **tail; /* &last->next, or &sockets */
    int socket_count;
    zmqobs_socket_t **names; /* name hash buckets, name_cap of them */
    size_t name_cap;
    uint64_t reg_seq; /* the next socket's reg_seq (obs->lock) */
    /* scrapes: one at a time (they share each socket's snapshot), over a
     * pinned copy of the registry (room kept by attach, so a scrape never
     * allocates); the drain path never takes it */
    pthread_mutex_t scrape_lock;
    zmqobs_socket_t **pinned; /* pin_cap entries, the scrape's sockets */
    size_t pin_cap;
    size_t npinned;
    zmqobs_socket_t **retired; /* arrays replaced during a scrape */
    /* application metrics (appmetric.h): their families in creation
     * order and how many metrics they hold; under scrape_lock, so that
     * a scrape walks them with no other lock */
    zmqobs_dlink_t app_families;
    size_t app_count;
    /* guards each socket's last error (drain writes, snapshots read) */
    pthread_mutex_t error_lock;

    /* scratch for window quantiles (zmqobs__window_scratch_size), guarded
     * by scratch_lock so snapshots from several threads do not collide */
    pthread_mutex_t scratch_lock;
    void *scratch;

    /* event callback, guarded by cb_lock, which is held while it runs
     * (recursive: a callback may replace itself) */
    pthread_mutex_t cb_lock;
    zmqobs_event_fn *event_fn;
    void *event_arg;
    /* the log of options.event_log, NULL for none; closed by
     * zmqobs_destroy when event_log_owned (stderr is not) */
    FILE *event_log;
    int event_log_owned;

    struct zmqobs_monitor *monitor; /* reader.h */
    struct zmqobs_loop *loop;       /* loop.h */
    struct zmqobs_http *http;       /* http.c */

    /* the status page: on unless options.no_status_page; the ring of
     * the latest events for /events exists only while it is on (set in
     * zmqobs_new, freed with the observer) */
    int status_page;
    struct zmqobs_recent *recent;
    /* options.native_histograms and the schema exposed (-4..3) */
    int native;
    int native_schema;
    /* OTLP push (otlp.c): the periodic pusher, NULL when stopped, and the
     * failure counter, created by the first push */
    struct zmqobs_otlp *otlp;
    struct zmqobs_metric *otlp_failures;
};

#endif /* ZMQOBS_PRIVATE_H */
