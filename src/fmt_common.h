/*
 * fmt_common.h - what the exposition formats share (fmt_common.c): the
 * metric families and the name tables, built once.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_FMT_COMMON_H
#define ZMQOBS_FMT_COMMON_H

#include "metrics.h"
#include "process.h"

typedef struct {
    const char *name;
    size_t len;
} name_t;

/* Event, errno-slot and handshake-slot names with their lengths; a NULL
 * name is an unused slot. Valid after zmqobs__format_tables. */
extern name_t zmqobs__event_names[ZMQOBS_EVENT_SLOTS];
extern name_t zmqobs__errno_names[ZMQOBS_ERRNO_SLOTS];
extern name_t zmqobs__handshake_names[ZMQOBS_HANDSHAKE_SLOTS];
/* Builds the name tables once (thread-safe). */
void zmqobs__format_tables (void);

enum kind { COUNTER, GAUGE, HISTOGRAM, SUMMARY };

enum fam_id {
    F_MSGS_SENT,
    F_MSGS_RECV,
    F_BYTES_SENT,
    F_BYTES_RECV,
    F_ERRORS,
    F_WOULD_BLOCK,
    F_EVENTS,
    F_CONNECTIONS,
    F_LISTENING,
    F_MONITOR_UP,
    F_HANDSHAKE,
    F_RECONNECTS,
    F_MALFORMED,
    F_QUEUE_DEPTH,
    F_SNDHWM,
    F_RCVHWM,
    F_PROXY_IN_FLIGHT,
    F_LATENCY,
    F_WINDOW,
    F_SOCKET_COUNT
};

typedef struct {
    const char *base; /* without the namespace prefix and without _total */
    enum kind kind;
    const char *unit; /* OpenMetrics UNIT, only where the name ends in it */
    const char *help;
} family_t;

/* Process families, indexed by the process module's field indexes. */
enum {
    P_CPU = ZMQOBS__PROC_I_CPU,
    P_OPEN_FDS = ZMQOBS__PROC_I_OPEN_FDS,
    P_MAX_FDS = ZMQOBS__PROC_I_MAX_FDS,
    P_VMEM = ZMQOBS__PROC_I_VMEM,
    P_RSS = ZMQOBS__PROC_I_RSS,
    P_START = ZMQOBS__PROC_I_START,
    P_THREADS = ZMQOBS__PROC_I_THREADS,
    P_COUNT = ZMQOBS__PROC_I_COUNT
};

extern const family_t zmqobs__socket_families[F_SOCKET_COUNT];

/* Per-peer families (sockets that track peers only). */
enum { PF_MSGS_RECV, PF_MSGS_SENT, PF_BYTES_RECV, PF_BYTES_SENT, PF_TRACKED, PF_COUNT };
extern const family_t zmqobs__peer_families[PF_COUNT];
extern const family_t zmqobs__process_families[P_COUNT];

/* Test hook: when nonzero, every uptime the formatters print is this many
 * ns (golden outputs). Set it while no scrape runs. */
extern uint64_t zmqobs__test_uptime_ns;

/* The formats, each over the scrape's pinned sockets (n of them), the
 * application metrics (fmt_app.h) and the process metrics p (NULL: none),
 * into o. st is scratch for a snapshot. */
void zmqobs__fmt_prom (zmqobs_out_t *o, zmqobs_t *obs, int openmetrics,
                       zmqobs_socket_t *const *socks, size_t n, const zmqobs__process_t *p);
void zmqobs__fmt_json (zmqobs_out_t *o, zmqobs_t *obs, zmqobs_socket_t *const *socks, size_t n,
                       const zmqobs__process_t *p, zmqobs_stats_t *st);
void zmqobs__fmt_text (zmqobs_out_t *o, const zmqobs_t *obs, zmqobs_socket_t *const *socks,
                       size_t n, const zmqobs__process_t *p, zmqobs_stats_t *st);

#endif /* ZMQOBS_FMT_COMMON_H */
