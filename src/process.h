/*
 * process.h - standard process metrics from /proc/self (process.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_PROCESS_H
#define ZMQOBS_PROCESS_H

#include "base.h"

/* process.c: standard process metrics from /proc/self, no allocation. */
/* The fields, by index; the bits in zmqobs__process_t.have are
 * 1u << index (the formats index their families by the same numbers). */
enum {
    ZMQOBS__PROC_I_CPU,      /* cpu_ns */
    ZMQOBS__PROC_I_OPEN_FDS, /* open_fds */
    ZMQOBS__PROC_I_MAX_FDS,  /* max_fds */
    ZMQOBS__PROC_I_VMEM,     /* virtual_bytes */
    ZMQOBS__PROC_I_RSS,      /* resident_bytes */
    ZMQOBS__PROC_I_START,    /* start_time_ns */
    ZMQOBS__PROC_I_THREADS,  /* threads */
    ZMQOBS__PROC_I_COUNT
};
enum {
    ZMQOBS__PROC_CPU = 1u << ZMQOBS__PROC_I_CPU,
    ZMQOBS__PROC_OPEN_FDS = 1u << ZMQOBS__PROC_I_OPEN_FDS,
    ZMQOBS__PROC_MAX_FDS = 1u << ZMQOBS__PROC_I_MAX_FDS,
    ZMQOBS__PROC_VMEM = 1u << ZMQOBS__PROC_I_VMEM,
    ZMQOBS__PROC_RSS = 1u << ZMQOBS__PROC_I_RSS,
    ZMQOBS__PROC_START = 1u << ZMQOBS__PROC_I_START,
    ZMQOBS__PROC_THREADS = 1u << ZMQOBS__PROC_I_THREADS
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

#endif /* ZMQOBS_PROCESS_H */
