/*
 * platform.h - layer 0: the few system calls that differ between C
 * libraries (platform.c). Each has a fast path where the C library offers
 * it (glibc with _GNU_SOURCE, Linux) and a POSIX fallback chosen at compile
 * time; the fallbacks are also compiled everywhere under a _posix name so
 * that tests check them on every build.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_PLATFORM_H
#define ZMQOBS_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

/* The last byte equal to c among the n at s, or NULL (memrchr). */
const char *zmqobs__memrchr (const char *s, int c, size_t n);
const char *zmqobs__memrchr_posix (const char *s, int c, size_t n);

/* Accepts one connection on listen_fd with close-on-exec and non-blocking
 * set (accept4); returns the descriptor or -1 with accept's errno (or
 * fcntl's, the new descriptor closed). */
int zmqobs__accept_cloexec_nb (int listen_fd);
int zmqobs__accept_cloexec_nb_posix (int listen_fd);

/* The message for err in buf (GNU or XSI strerror_r); never NULL. */
const char *zmqobs__strerror (int err, char *buf, size_t size);

/* Counts the entries of directory path whose names do not start with '.'
 * (the directory's own descriptor, if it shows there, included); returns
 * 0 or -1 with errno. The Linux path (getdents64) never allocates; the
 * fallback (readdir) allocates its DIR. */
int zmqobs__count_dir (const char *path, uint64_t *out);
int zmqobs__count_dir_posix (const char *path, uint64_t *out);

/* Lowers the calling thread's scheduling priority by incr (nice); Linux
 * only, where threads have nice values of their own. Elsewhere (or
 * without the thread id call) it does nothing and returns -1 with
 * ENOTSUP, since a process-wide change is not what is wanted. */
int zmqobs__thread_nice (int incr);

/* A wake-up descriptor: rd is watched for readability, signal makes it
 * readable, drain makes it unreadable again. An eventfd on Linux
 * (rd == wr), a non-blocking close-on-exec pipe elsewhere. */
typedef struct zmqobs__wakefd {
    int rd;
    int wr;
} zmqobs__wakefd_t;
/* 0, or -1 with errno and both descriptors -1. */
int zmqobs__wakefd_open (zmqobs__wakefd_t *w);
int zmqobs__wakefd_open_posix (zmqobs__wakefd_t *w);
/* Async-signal-safe, any thread; a full pipe is already signalled. */
void zmqobs__wakefd_signal (const zmqobs__wakefd_t *w);
void zmqobs__wakefd_drain (const zmqobs__wakefd_t *w);
/* Closes what is open and sets both to -1; accepts a closed one. */
void zmqobs__wakefd_close (zmqobs__wakefd_t *w);

#endif
