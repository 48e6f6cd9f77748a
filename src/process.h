/*
 * process.h - standard process metrics from /proc/self (process.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_PROCESS_H
#define ZMQOBS_PROCESS_H

#include "base.h"

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
 * when everything was read, -1 with errno otherwise. Any thread. */
int zmqobs__process_read (zmqobs__process_t *out);
/* Parsers behind it, pure, exposed for tests: the fields of a
 * /proc/<pid>/stat line (returns 0 or -1 with EPROTO), and btime from
 * /proc/stat contents (returns 0 or -1 with ENOENT). */
int zmqobs__parse_proc_stat (const char *text, size_t len, uint64_t *utime_ticks,
                             uint64_t *stime_ticks, uint64_t *threads, uint64_t *start_ticks,
                             uint64_t *vsize, uint64_t *rss_pages);
int zmqobs__parse_btime (const char *text, size_t len, uint64_t *btime);

#endif /* ZMQOBS_PROCESS_H */
