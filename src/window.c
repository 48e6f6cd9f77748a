/*
 * window.c - exact quantiles over the latency ring: a copy of the ring,
 * binned by the samples' binary exponent and top mantissa bits, then an
 * exact selection inside the few bins that hold the wanted ranks.
 *
 * SPDX-License-Identifier: MIT
 */
#include "window.h"

#include <float.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Window quantiles
 * ---------------------------------------------------------------------- */

static void swap (uint64_t *a, uint64_t *b)
{
    uint64_t t = *a;
    *a = *b;
    *b = t;
}

/* Rearranges a[lo..hi) so that a[k] holds the value it would hold if
 * sorted, smaller-or-equal values before it and larger-or-equal after.
 * Three-way partitioning keeps runs of equal values linear. */
static void select_kth (uint64_t *a, size_t lo, size_t hi, size_t k)
{
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        /* median of three as the pivot */
        uint64_t x = a[lo], y = a[mid], z = a[hi - 1];
        uint64_t pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            if (a[i] < pivot)
                swap (&a[lt++], &a[i++]);
            else if (a[i] > pivot)
                swap (&a[i], &a[--gt]);
            else
                i++;
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return;
    }
}

/* Nearest rank: the smallest sample with at least num/den of the window
 * at or below it. */
static size_t rank_index (size_t n, uint64_t num, uint64_t den)
{
    uint64_t r = (num * n + den - 1) / den;
    return r == 0 ? 0 : (size_t) r - 1;
}

/* Window quantiles by bin selection. A quickselect per quantile over the
 * whole window costs about 50 instructions per sample, and a scrape of
 * busy sockets pays that for every socket. Instead, one pass puts each
 * sample in a bin whose index grows with the value (bins about 3% wide),
 * the bin counts locate the bin of every wanted rank, a second pass
 * gathers only the samples of those few bins, and the exact selection
 * runs on them alone. Runs of equal values land in one bin, where the
 * three-way partition is linear. The bin counts stay zero between calls:
 * only the range between the window's smallest and largest bin is walked
 * and cleared. */
#define WINDOW_BITS 5                         /* mantissa bits in a bin index */
#define WINDOW_BINS (64 << WINDOW_BITS)       /* 64 binary exponents */
#define WINDOW_RANKS 5                        /* p50, p90, p95, p99, p99.9 */
#define DOUBLE_ONE_KEY (1023u << WINDOW_BITS) /* the key of 1.0 */

_Static_assert(sizeof (double) == 8 && DBL_MANT_DIG == 53 && DBL_MAX_EXP == 1024,
               "bin_of needs IEEE 754 binary64 doubles");

/* The bin of a sample: the binary exponent and the next WINDOW_BITS bits
 * of (v >> 1) | 1, read off its conversion to double (one instruction,
 * where the integer way needs a variable shift). Selection only needs the
 * index never to decrease as v grows, and conversion is monotonic; the
 * shift keeps the value in the signed range the instruction takes, the
 * OR keeps it >= 1 so the exponent is never below that of 1.0. */
static inline unsigned bin_of (uint64_t v)
{
    double d = (double) (int64_t) ((v >> 1) | 1);
    uint64_t bits;
    memcpy (&bits, &d, sizeof bits);
    return (unsigned) (bits >> (52 - WINDOW_BITS)) - DOUBLE_ONE_KEY;
}

size_t zmqobs__window_scratch_size (uint32_t capacity)
{
    /* copy and gather buffers, a bin index per sample, bin counts, marks */
    return 2 * sizeof (uint64_t) * capacity + sizeof (uint16_t) * capacity
           + sizeof (uint32_t) * WINDOW_BINS + WINDOW_BINS;
}

void zmqobs__window (const uint64_t *ring, uint64_t head, uint32_t capacity, void *scratch,
                     zmqobs_window_t *out)
{
    memset (out, 0, sizeof *out);
    size_t n = head < capacity ? (size_t) head : capacity;
    if (n == 0)
        return;
    uint64_t *copy = scratch;
    uint64_t *gather = copy + capacity;
    uint32_t *count = (uint32_t *) (gather + capacity); /* all zero on entry */
    uint16_t *key = (uint16_t *) (count + WINDOW_BINS);
    uint8_t *mark = (uint8_t *) (key + capacity); /* all zero on entry */

    /* pass 1: a stable copy (the owner may be writing), min, max, the sum,
     * the bins */
    uint64_t sum64 = 0, min = UINT64_MAX, max = 0;
#pragma GCC unroll 4
    for (size_t i = 0; i < n; i++) {
        uint64_t v = LOAD (&ring[i]);
        unsigned b = bin_of (v);
        copy[i] = v;
        key[i] = (uint16_t) b;
        count[b]++;
        sum64 += v;
        min = v < min ? v : min;
        max = v > max ? v : max;
    }
    /* no wrap unless some sample exceeds 2^64 / n: then add up again in
     * 128 bits (absurd samples only; realistic ones are far below) */
    unsigned __int128 sum = sum64;
    if (max > UINT64_MAX / n) {
        sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += copy[i];
    }
    out->count = n;
    out->sum_ns = sum > UINT64_MAX ? UINT64_MAX : (uint64_t) sum; /* saturates */
    out->mean_ns = (uint64_t) (sum / n);
    out->min_ns = min;
    out->max_ns = max;

    static const uint64_t q[WINDOW_RANKS][2] = {{1, 2}, {9, 10}, {95, 100}, {99, 100}, {999, 1000}};
    uint64_t *dst[WINDOW_RANKS] = {&out->p50_ns, &out->p90_ns, &out->p95_ns, &out->p99_ns,
                                   &out->p999_ns};
    size_t rank[WINDOW_RANKS];
    unsigned bin[WINDOW_RANKS];
    for (int j = 0; j < WINDOW_RANKS; j++)
        rank[j] = rank_index (n, q[j][0], q[j][1]);

    /* the bin of each rank (ranks ascend), and where that bin's samples
     * will sit in the gather buffer */
    const unsigned first = bin_of (min), last = bin_of (max);
    size_t start[WINDOW_RANKS], fill[WINDOW_RANKS], before[WINDOW_RANKS];
    int segments = 0;
    size_t cum = 0, gathered = 0;
    int j = 0;
    /* every rank not found yet is >= cum, so an empty bin never holds
     * one, and the last rank (< n) is found at the latest in bin `last` */
    for (unsigned b = first; j < WINDOW_RANKS; b++) {
        size_t c = count[b];
        if (rank[j] >= cum + c) {
            cum += c;
            continue;
        }
        start[segments] = fill[segments] = gathered;
        before[segments] = cum;
        gathered += c;
        mark[b] = (uint8_t) (++segments);
        while (j < WINDOW_RANKS && rank[j] < cum + c)
            bin[j++] = b;
        cum += c;
    }
    memset (count + first, 0, sizeof (uint32_t) * (last - first + 1));
    /* pass 2: gather the samples of the marked bins */
#pragma GCC unroll 4
    for (size_t i = 0; i < n; i++) {
        unsigned m = mark[key[i]];
        if (m)
            gather[fill[m - 1]++] = copy[i];
    }
    /* exact selection inside each bin; ranks in one bin ascend, so each
     * selection only needs the part above the previous one */
    size_t lo = 0;
    int last_seg = -1;
    for (j = 0; j < WINDOW_RANKS; j++) {
        int seg = mark[bin[j]] - 1;
        if (seg != last_seg) {
            lo = start[seg];
            last_seg = seg;
        }
        size_t k = start[seg] + (rank[j] - before[seg]);
        if (k >= lo) {
            select_kth (gather, lo, fill[seg], k);
            lo = k;
        }
        *dst[j] = gather[k];
    }
    for (j = 0; j < WINDOW_RANKS; j++)
        mark[bin[j]] = 0; /* leave the marks clean for the next call */
}
