/*
 * native.c - native histograms read back at the schema exposed.
 *
 * The hot path counts every latency in its schema-3 bucket (one slot per
 * bucket, zmqobs_inline.h). A bucket k at a lower schema s is the union
 * of the schema-3 buckets i with (k - 1) * f < i <= k * f, f = 2^(3 - s),
 * because the bounds of schema s are every f-th bound of schema 3: so k
 * is i / f rounded up.
 *
 * SPDX-License-Identifier: MIT
 */
#include "native.h"

unsigned zmqobs__native_slot (uint64_t ns)
{
    return (unsigned) zmqobs_i_native_slot (ns, 63u ^ (uint64_t) __builtin_clzll (ns | 1));
}

/* i / f rounded up, for any sign of i (f a power of two). */
static int32_t ceil_div (int32_t i, int32_t f)
{
    return i >= 0 ? (i + f - 1) / f : -((-i) / f);
}

void zmqobs__native_read (const uint64_t *slots, int schema, zmqobs_native_t *out)
{
    int32_t f = (int32_t) 1 << (3 - schema);
    out->schema = schema;
    out->zero_count = slots ? LOAD (&slots[0]) : 0;
    out->count = out->zero_count;
    out->nspans = 0;
    out->nbuckets = 0;
    out->first = 0;
    if (!slots)
        return;
    uint32_t nb = 0;
    for (unsigned slot = 1; slot < ZMQOBS_I_NATIVE_SLOTS; slot++) {
        uint64_t c = LOAD (&slots[slot]);
        if (!c)
            continue;
        int32_t k = ceil_div ((int32_t) slot - ZMQOBS_I_NATIVE_BIAS, f);
        out->count += c;
        if (nb && out->index[nb - 1] == k) {
            out->bucket[nb - 1] += c;
            continue;
        }
        out->index[nb] = k;
        out->bucket[nb] = c;
        nb++;
    }
    out->nbuckets = nb;
    uint64_t prev = 0;
    for (uint32_t b = 0; b < nb; b++) {
        out->delta[b] = (int64_t) (out->bucket[b] - prev);
        prev = out->bucket[b];
        if (b == 0 || out->index[b] != out->index[b - 1] + 1) {
            out->span_offset[out->nspans] =
                b == 0 ? out->index[0] : out->index[b] - out->index[b - 1] - 1;
            out->span_len[out->nspans] = 1;
            out->nspans++;
        } else
            out->span_len[out->nspans - 1]++;
    }
    if (nb)
        out->first = out->index[0];
}
