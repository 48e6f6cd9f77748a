/*
 * platform.c - the calls that differ between C libraries, chosen at compile
 * time by what the headers say (never by defining feature macros here):
 * glibc with _GNU_SOURCE has memrchr, accept4, getdents64 and the GNU
 * strerror_r; Linux has eventfd. (strerrorname_np and its fallback table
 * are in events.c, with the other name tables.) Everything
 * else (musl, or glibc in strict POSIX mode) takes the POSIX fallbacks,
 * which are compiled on every build under their _posix names so that the
 * tests check them against the native calls.
 *
 * SPDX-License-Identifier: MIT
 */
#include "platform.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__GLIBC__) && defined(_GNU_SOURCE)
#define HAVE_GNU_CALLS 1 /* memrchr, accept4, getdents64, GNU strerror_r */
#endif
#if defined(__linux__)
#include <sys/eventfd.h>
#define HAVE_EVENTFD 1
#endif
#if defined(__linux__) && (defined(_GNU_SOURCE) || defined(_DEFAULT_SOURCE))
#include <sys/syscall.h>
#if defined(SYS_gettid)
#define HAVE_GETTID_SYSCALL 1 /* syscall () is declared in these modes */
#endif
#endif

const char *zmqobs__memrchr_posix (const char *s, int c, size_t n)
{
    while (n > 0) {
        n--;
        if (s[n] == (char) c)
            return s + n;
    }
    return NULL;
}

const char *zmqobs__memrchr (const char *s, int c, size_t n)
{
#ifdef HAVE_GNU_CALLS
    return memrchr (s, c, n);
#else
    return zmqobs__memrchr_posix (s, c, n);
#endif
}

int zmqobs__accept_cloexec_nb_posix (int listen_fd)
{
    int fd = accept (listen_fd, NULL, NULL);
    if (fd < 0)
        return -1;
    int fl = fcntl (fd, F_GETFL);
    if (fl < 0 || fcntl (fd, F_SETFL, fl | O_NONBLOCK) != 0
        || fcntl (fd, F_SETFD, FD_CLOEXEC) != 0) {
        int err = errno;
        close (fd);
        errno = err;
        return -1;
    }
    return fd;
}

int zmqobs__accept_cloexec_nb (int listen_fd)
{
#ifdef HAVE_GNU_CALLS
    return accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
#else
    return zmqobs__accept_cloexec_nb_posix (listen_fd);
#endif
}

const char *zmqobs__strerror (int err, char *buf, size_t size)
{
#ifdef HAVE_GNU_CALLS
    return strerror_r (err, buf, size); /* GNU: may return a static text */
#else
    if (size == 0)
        return "";
    if (strerror_r (err, buf, size) != 0)
        snprintf (buf, size, "error %d", err);
    return buf;
#endif
}

int zmqobs__count_dir_posix (const char *path, uint64_t *out)
{
    DIR *d = opendir (path);
    if (!d)
        return -1;
    uint64_t count = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir (d);
        if (!e)
            break;
        if (e->d_name[0] != '.')
            count++;
    }
    int err = errno;
    closedir (d);
    if (err) {
        errno = err;
        return -1;
    }
    *out = count;
    return 0;
}

int zmqobs__count_dir (const char *path, uint64_t *out)
{
#ifdef HAVE_GNU_CALLS
    int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    uint64_t count = 0;
    union {
        struct dirent64 align;
        char bytes[4096];
    } buf;
    for (;;) {
        ssize_t n = getdents64 (fd, buf.bytes, sizeof buf.bytes);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            close (fd);
            errno = err;
            return -1;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            struct dirent64 d;
            /* records are 8-byte aligned, but copy the header anyway */
            memcpy (&d, buf.bytes + off, offsetof (struct dirent64, d_name));
            const char *name = buf.bytes + off + offsetof (struct dirent64, d_name);
            if (name[0] != '.')
                count++;
            if (d.d_reclen == 0)
                break;
            off += d.d_reclen;
        }
    }
    close (fd);
    *out = count;
    return 0;
#else
    return zmqobs__count_dir_posix (path, out);
#endif
}

int zmqobs__thread_nice (int incr)
{
#ifdef HAVE_GETTID_SYSCALL
    id_t tid = (id_t) syscall (SYS_gettid);
    errno = 0;
    int now = getpriority (PRIO_PROCESS, tid);
    if (errno != 0)
        return -1;
    return setpriority (PRIO_PROCESS, tid, now + incr);
#else
    (void) incr;
    errno = ENOTSUP;
    return -1;
#endif
}

static int set_flags (int fd)
{
    int fl = fcntl (fd, F_GETFL);
    if (fl < 0 || fcntl (fd, F_SETFL, fl | O_NONBLOCK) != 0)
        return -1;
    return fcntl (fd, F_SETFD, FD_CLOEXEC);
}

int zmqobs__wakefd_open_posix (zmqobs__wakefd_t *w)
{
    int p[2];
    w->rd = w->wr = -1;
    if (pipe (p) != 0)
        return -1;
    if (set_flags (p[0]) != 0 || set_flags (p[1]) != 0) {
        int err = errno;
        close (p[0]);
        close (p[1]);
        errno = err;
        return -1;
    }
    w->rd = p[0];
    w->wr = p[1];
    return 0;
}

int zmqobs__wakefd_open (zmqobs__wakefd_t *w)
{
#ifdef HAVE_EVENTFD
    w->rd = w->wr = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    return w->rd < 0 ? -1 : 0;
#else
    return zmqobs__wakefd_open_posix (w);
#endif
}

void zmqobs__wakefd_signal (const zmqobs__wakefd_t *w)
{
    /* 8 bytes, as an eventfd takes them; EAGAIN means it is readable
     * already (counter nonzero, pipe full) */
    uint64_t one = 1;
    ssize_t rc = write (w->wr, &one, sizeof one);
    (void) rc;
}

void zmqobs__wakefd_drain (const zmqobs__wakefd_t *w)
{
    /* an eventfd empties in one read; a pipe may hold many signals */
    uint64_t buf[8];
    if (w->rd == w->wr) {
        ssize_t rc = read (w->rd, buf, sizeof buf[0]);
        (void) rc;
        return;
    }
    while (read (w->rd, buf, sizeof buf) > 0) {
    }
}

void zmqobs__wakefd_close (zmqobs__wakefd_t *w)
{
    if (w->rd >= 0)
        close (w->rd);
    if (w->wr >= 0 && w->wr != w->rd)
        close (w->wr);
    w->rd = w->wr = -1;
}
