/*
 * platform.c - the calls that differ between C libraries, chosen at compile
 * time by what the headers say (never by defining feature macros here):
 * glibc with _GNU_SOURCE has memrchr, accept4, getdents64, strerrorname_np
 * (2.32 and later) and the GNU strerror_r; Linux has eventfd. Everything
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
#if defined(HAVE_GNU_CALLS) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
#define HAVE_STRERRORNAME_NP 1
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

/* Linux's errno names in the order of their values, so that an alias
 * (EWOULDBLOCK, EDEADLOCK, ENOTSUP) gives the name glibc gives. */
#define SYS_ERRNOS(X)                                                                          \
    X (EPERM) X (ENOENT) X (ESRCH) X (EINTR) X (EIO) X (ENXIO) X (E2BIG) X (ENOEXEC) X (EBADF) \
    X (ECHILD) X (EAGAIN) X (ENOMEM) X (EACCES) X (EFAULT) X (EBUSY) X (EEXIST) X (EXDEV)      \
    X (ENODEV) X (ENOTDIR) X (EISDIR) X (EINVAL) X (ENFILE) X (EMFILE) X (ENOTTY) X (ETXTBSY)  \
    X (EFBIG) X (ENOSPC) X (ESPIPE) X (EROFS) X (EMLINK) X (EPIPE) X (EDOM) X (ERANGE)         \
    X (EDEADLK) X (ENAMETOOLONG) X (ENOLCK) X (ENOSYS) X (ENOTEMPTY) X (ELOOP) X (ENOMSG)     \
    X (EIDRM) X (EPROTO) X (EMULTIHOP) X (EBADMSG) X (EOVERFLOW) X (EILSEQ) X (ENOTSOCK)      \
    X (EDESTADDRREQ) X (EMSGSIZE) X (EPROTOTYPE) X (ENOPROTOOPT) X (EPROTONOSUPPORT)          \
    X (EOPNOTSUPP) X (EAFNOSUPPORT) X (EADDRINUSE) X (EADDRNOTAVAIL) X (ENETDOWN)             \
    X (ENETUNREACH) X (ENETRESET) X (ECONNABORTED) X (ECONNRESET) X (ENOBUFS) X (EISCONN)     \
    X (ENOTCONN) X (ETIMEDOUT) X (ECONNREFUSED) X (EHOSTUNREACH) X (EALREADY)                 \
    X (EINPROGRESS) X (ESTALE) X (EDQUOT) X (ECANCELED) X (EOWNERDEAD) X (ENOTRECOVERABLE)    \
    X (ENOTSUP) X (EWOULDBLOCK)
/* Names outside POSIX, each guarded: not every C library defines them. */
static const struct {
    int code;
    const char *name;
} sys_errnos[] = {
#define ENTRY(e) {e, #e},
    SYS_ERRNOS (ENTRY)
#undef ENTRY
#ifdef ENOTBLK
    {ENOTBLK, "ENOTBLK"},
#endif
#ifdef ECHRNG
    {ECHRNG, "ECHRNG"},
#endif
#ifdef EL2NSYNC
    {EL2NSYNC, "EL2NSYNC"},
#endif
#ifdef EL3HLT
    {EL3HLT, "EL3HLT"},
#endif
#ifdef EL3RST
    {EL3RST, "EL3RST"},
#endif
#ifdef ELNRNG
    {ELNRNG, "ELNRNG"},
#endif
#ifdef EUNATCH
    {EUNATCH, "EUNATCH"},
#endif
#ifdef ENOCSI
    {ENOCSI, "ENOCSI"},
#endif
#ifdef EL2HLT
    {EL2HLT, "EL2HLT"},
#endif
#ifdef EBADE
    {EBADE, "EBADE"},
#endif
#ifdef EBADR
    {EBADR, "EBADR"},
#endif
#ifdef EXFULL
    {EXFULL, "EXFULL"},
#endif
#ifdef ENOANO
    {ENOANO, "ENOANO"},
#endif
#ifdef EBADRQC
    {EBADRQC, "EBADRQC"},
#endif
#ifdef EBADSLT
    {EBADSLT, "EBADSLT"},
#endif
#ifdef EBFONT
    {EBFONT, "EBFONT"},
#endif
#ifdef ENOSTR
    {ENOSTR, "ENOSTR"},
#endif
#ifdef ENODATA
    {ENODATA, "ENODATA"},
#endif
#ifdef ETIME
    {ETIME, "ETIME"},
#endif
#ifdef ENOSR
    {ENOSR, "ENOSR"},
#endif
#ifdef ENONET
    {ENONET, "ENONET"},
#endif
#ifdef ENOPKG
    {ENOPKG, "ENOPKG"},
#endif
#ifdef EREMOTE
    {EREMOTE, "EREMOTE"},
#endif
#ifdef ENOLINK
    {ENOLINK, "ENOLINK"},
#endif
#ifdef EADV
    {EADV, "EADV"},
#endif
#ifdef ESRMNT
    {ESRMNT, "ESRMNT"},
#endif
#ifdef ECOMM
    {ECOMM, "ECOMM"},
#endif
#ifdef EDOTDOT
    {EDOTDOT, "EDOTDOT"},
#endif
#ifdef ENOTUNIQ
    {ENOTUNIQ, "ENOTUNIQ"},
#endif
#ifdef EBADFD
    {EBADFD, "EBADFD"},
#endif
#ifdef EREMCHG
    {EREMCHG, "EREMCHG"},
#endif
#ifdef ELIBACC
    {ELIBACC, "ELIBACC"},
#endif
#ifdef ELIBBAD
    {ELIBBAD, "ELIBBAD"},
#endif
#ifdef ELIBSCN
    {ELIBSCN, "ELIBSCN"},
#endif
#ifdef ELIBMAX
    {ELIBMAX, "ELIBMAX"},
#endif
#ifdef ELIBEXEC
    {ELIBEXEC, "ELIBEXEC"},
#endif
#ifdef ERESTART
    {ERESTART, "ERESTART"},
#endif
#ifdef ESTRPIPE
    {ESTRPIPE, "ESTRPIPE"},
#endif
#ifdef EUSERS
    {EUSERS, "EUSERS"},
#endif
#ifdef ESOCKTNOSUPPORT
    {ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"},
#endif
#ifdef EPFNOSUPPORT
    {EPFNOSUPPORT, "EPFNOSUPPORT"},
#endif
#ifdef ESHUTDOWN
    {ESHUTDOWN, "ESHUTDOWN"},
#endif
#ifdef ETOOMANYREFS
    {ETOOMANYREFS, "ETOOMANYREFS"},
#endif
#ifdef EHOSTDOWN
    {EHOSTDOWN, "EHOSTDOWN"},
#endif
#ifdef EUCLEAN
    {EUCLEAN, "EUCLEAN"},
#endif
#ifdef ENOTNAM
    {ENOTNAM, "ENOTNAM"},
#endif
#ifdef ENAVAIL
    {ENAVAIL, "ENAVAIL"},
#endif
#ifdef EISNAM
    {EISNAM, "EISNAM"},
#endif
#ifdef EREMOTEIO
    {EREMOTEIO, "EREMOTEIO"},
#endif
#ifdef ENOMEDIUM
    {ENOMEDIUM, "ENOMEDIUM"},
#endif
#ifdef EMEDIUMTYPE
    {EMEDIUMTYPE, "EMEDIUMTYPE"},
#endif
#ifdef ENOKEY
    {ENOKEY, "ENOKEY"},
#endif
#ifdef EKEYEXPIRED
    {EKEYEXPIRED, "EKEYEXPIRED"},
#endif
#ifdef EKEYREVOKED
    {EKEYREVOKED, "EKEYREVOKED"},
#endif
#ifdef EKEYREJECTED
    {EKEYREJECTED, "EKEYREJECTED"},
#endif
#ifdef ERFKILL
    {ERFKILL, "ERFKILL"},
#endif
#ifdef EHWPOISON
    {EHWPOISON, "EHWPOISON"},
#endif
};

const char *zmqobs__errno_sysname_posix (int err)
{
    if (err <= 0)
        return NULL;
    for (size_t i = 0; i < sizeof sys_errnos / sizeof sys_errnos[0]; i++)
        if (sys_errnos[i].code == err)
            return sys_errnos[i].name;
    return NULL;
}

const char *zmqobs__errno_sysname (int err)
{
#ifdef HAVE_STRERRORNAME_NP
    return err > 0 ? strerrorname_np (err) : NULL;
#else
    return zmqobs__errno_sysname_posix (err);
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
