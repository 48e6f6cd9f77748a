/*
 * alloc_count.h - allocation counting for the programs that check "no
 * heap allocation per call": malloc, calloc and realloc interposed in the
 * program that includes this (once), counting only while the calling
 * thread's `counting` flag is set. Sanitizer builds interpose malloc
 * themselves: there COUNT_ALLOCS is 0 and nothing is interposed.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_ALLOC_COUNT_H
#define ZMQOBS_ALLOC_COUNT_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNT_ALLOCS 0
#else
#define COUNT_ALLOCS 1
extern void *__libc_malloc (size_t);
extern void *__libc_calloc (size_t, size_t);
extern void *__libc_realloc (void *, size_t);
static __thread int counting;
static long allocs;

void *malloc (size_t n)
{
    if (counting)
        allocs++;
    return __libc_malloc (n);
}

void *calloc (size_t k, size_t n)
{
    if (counting)
        allocs++;
    return __libc_calloc (k, n);
}

void *realloc (void *p, size_t n)
{
    if (counting)
        allocs++;
    return __libc_realloc (p, n);
}
#endif

#endif /* ZMQOBS_ALLOC_COUNT_H */
