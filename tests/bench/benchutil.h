/*
 * benchutil.h - shared by the benchmarks: instruction counts from
 * callgrind (the program re-executes itself under valgrind for one loop,
 * twice with different iteration counts, so start-up cost cancels out),
 * and a monotonic clock.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_BENCHUTIL_H
#define ZMQOBS_BENCHUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t bench_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static inline int bench_have_valgrind (void)
{
    return system ("valgrind --version >/dev/null 2>&1") == 0;
}

/* Runs `prog loop kind n` under callgrind and returns the instructions
 * collected (Ir), or 0 on failure. */
static inline uint64_t bench_callgrind_total (const char *prog, const char *kind, long n)
{
    char cmd[1024];
    snprintf (cmd, sizeof cmd,
              "valgrind --tool=callgrind --callgrind-out-file=/dev/null %s loop %s %ld 2>&1",
              prog, kind, n);
    FILE *p = popen (cmd, "r");
    if (!p)
        return 0;
    char line[512];
    uint64_t total = 0;
    while (fgets (line, sizeof line, p)) {
        const char *c = strstr (line, "Collected : ");
        if (c)
            total = strtoull (c + 12, NULL, 10);
    }
    pclose (p);
    return total;
}

/* Instructions per operation: the difference between two run lengths. */
static inline double bench_instr_per_op (const char *prog, const char *kind, long n1, long n2)
{
    uint64_t a = bench_callgrind_total (prog, kind, n1);
    uint64_t b = bench_callgrind_total (prog, kind, n2);
    if (!a || !b || b <= a)
        return -1;
    return (double) (b - a) / (double) (n2 - n1);
}

static int bench_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static inline double bench_median (double *v, int n)
{
    qsort (v, (size_t) n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
