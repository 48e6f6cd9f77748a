/*
 * test_platform.c - the platform layer: each native call (glibc, Linux)
 * and its POSIX fallback give the same results, so a build on musl or in
 * strict POSIX mode behaves as this one does.
 *
 * SPDX-License-Identifier: MIT
 */
#include "testutil.h"
#include "events.h"
#include "platform.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

typedef const char *(*memrchr_fn) (const char *, int, size_t);

static void check_memrchr (memrchr_fn f)
{
    const char s[] = "tcp://[::1]:5555";
    size_t n = sizeof s - 1;
    ck_assert_ptr_eq (f (s, ':', n), s + 11);
    ck_assert_ptr_eq (f (s, 't', n), s + 0);
    ck_assert_ptr_eq (f (s, '5', n), s + 15);
    ck_assert_ptr_null (f (s, 'x', n));
    ck_assert_ptr_null (f (s, 't', 0));
    /* only the first n bytes count */
    ck_assert_ptr_eq (f (s, ':', 11), s + 8);
    const char hi[] = {'a', (char) 0xff, 'b', (char) 0xff, 'c'};
    ck_assert_ptr_eq (f (hi, 0xff, sizeof hi), hi + 3);
    ck_assert_ptr_eq (f (hi, -1, sizeof hi), hi + 3);
}

START_TEST (test_memrchr)
{
    check_memrchr (zmqobs__memrchr);
    check_memrchr (zmqobs__memrchr_posix);
}
END_TEST

START_TEST (test_errno_names)
{
    ck_assert_str_eq (zmqobs__errno_sysname_posix (ECONNREFUSED), "ECONNREFUSED");
    ck_assert_str_eq (zmqobs__errno_sysname_posix (EADDRINUSE), "EADDRINUSE");
    ck_assert_str_eq (zmqobs__errno_sysname_posix (EWOULDBLOCK), "EAGAIN");
    ck_assert_str_eq (zmqobs__errno_sysname_posix (ENOTSUP), "EOPNOTSUPP");
    ck_assert_str_eq (zmqobs__errno_sysname (ECONNREFUSED), "ECONNREFUSED");
    ck_assert_ptr_null (zmqobs__errno_sysname_posix (0));
    ck_assert_ptr_null (zmqobs__errno_sysname_posix (-5));
    ck_assert_ptr_null (zmqobs__errno_sysname_posix (99999));
    ck_assert_ptr_null (zmqobs__errno_sysname (0));
    ck_assert_ptr_null (zmqobs__errno_sysname (99999));
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    /* the table names every value glibc names, with the same names */
    unsigned named = 0;
    for (int e = -2; e < 1000; e++) {
        const char *want = e > 0 ? strerrorname_np (e) : NULL;
        const char *got = zmqobs__errno_sysname_posix (e);
        if (!want) {
            ck_assert_msg (got == NULL, "errno %d: '%s', glibc has no name", e, got);
            continue;
        }
        ck_assert_msg (got != NULL, "errno %d (%s) missing from the table", e, want);
        ck_assert_str_eq (got, want);
        named++;
    }
    ck_assert_uint_ge (named, 130);
#endif
}
END_TEST

START_TEST (test_strerror)
{
    char buf[128];
    char want[128];
    snprintf (want, sizeof want, "%s", strerror (ENOENT));
    ck_assert_str_eq (zmqobs__strerror (ENOENT, buf, sizeof buf), want);
    snprintf (want, sizeof want, "%s", strerror (ECONNREFUSED));
    ck_assert_str_eq (zmqobs__strerror (ECONNREFUSED, buf, sizeof buf), want);
    ck_assert_ptr_nonnull (zmqobs__strerror (99999, buf, sizeof buf));
}
END_TEST

/* A listener on 127.0.0.1 at an ephemeral port, non-blocking. */
static int listener (struct sockaddr_in *addr)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge (fd, 0);
    memset (addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    ck_assert_int_eq (bind (fd, (struct sockaddr *) addr, sizeof *addr), 0);
    socklen_t len = sizeof *addr;
    ck_assert_int_eq (getsockname (fd, (struct sockaddr *) addr, &len), 0);
    ck_assert_int_eq (listen (fd, 8), 0);
    ck_assert_int_eq (fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK), 0);
    return fd;
}

static void check_accept (int (*acc) (int))
{
    struct sockaddr_in addr;
    int lfd = listener (&addr);
    errno = 0;
    ck_assert_int_eq (acc (lfd), -1);
    ck_assert_int_eq (errno, EAGAIN);
    int cfd = socket (AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq (connect (cfd, (struct sockaddr *) &addr, sizeof addr), 0);
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    ck_assert_int_eq (poll (&p, 1, 5000), 1);
    int fd = acc (lfd);
    ck_assert_int_ge (fd, 0);
    ck_assert_int_ne (fcntl (fd, F_GETFD) & FD_CLOEXEC, 0);
    ck_assert_int_ne (fcntl (fd, F_GETFL) & O_NONBLOCK, 0);
    /* the connection works: a byte from the client arrives */
    ck_assert_int_eq (write (cfd, "x", 1), 1);
    p.fd = fd;
    ck_assert_int_eq (poll (&p, 1, 5000), 1);
    char c = 0;
    ck_assert_int_eq (read (fd, &c, 1), 1);
    ck_assert_int_eq (c, 'x');
    close (fd);
    close (cfd);
    close (lfd);
    /* not a descriptor, not a socket */
    errno = 0;
    ck_assert_int_eq (acc (-1), -1);
    ck_assert_int_eq (errno, EBADF);
    int pp[2];
    ck_assert_int_eq (pipe (pp), 0);
    errno = 0;
    ck_assert_int_eq (acc (pp[0]), -1);
    ck_assert_int_eq (errno, ENOTSOCK);
    close (pp[0]);
    close (pp[1]);
}

START_TEST (test_accept)
{
    check_accept (zmqobs__accept_cloexec_nb);
    check_accept (zmqobs__accept_cloexec_nb_posix);
}
END_TEST

START_TEST (test_count_dir)
{
    char dir[256], path[300];
    ck_assert_int_eq (testutil_tmpdir (dir, sizeof dir), 0);
    const char *names[] = {"a", "bb", "c.txt", ".hidden"};
    for (size_t i = 0; i < 4; i++) {
        snprintf (path, sizeof path, "%s/%s", dir, names[i]);
        int fd = open (path, O_WRONLY | O_CREAT, 0600);
        ck_assert_int_ge (fd, 0);
        close (fd);
    }
    uint64_t n = 99, m = 99;
    ck_assert_int_eq (zmqobs__count_dir (dir, &n), 0);
    ck_assert_int_eq (zmqobs__count_dir_posix (dir, &m), 0);
    ck_assert_uint_eq (n, 3);
    ck_assert_uint_eq (m, 3);
    /* errors leave *out alone */
    snprintf (path, sizeof path, "%s/a", dir);
    errno = 0;
    ck_assert_int_eq (zmqobs__count_dir (path, &n), -1);
    ck_assert_int_eq (errno, ENOTDIR);
    errno = 0;
    ck_assert_int_eq (zmqobs__count_dir_posix (path, &m), -1);
    ck_assert_int_eq (errno, ENOTDIR);
    snprintf (path, sizeof path, "%s/none", dir);
    errno = 0;
    ck_assert_int_eq (zmqobs__count_dir (path, &n), -1);
    ck_assert_int_eq (errno, ENOENT);
    errno = 0;
    ck_assert_int_eq (zmqobs__count_dir_posix (path, &m), -1);
    ck_assert_int_eq (errno, ENOENT);
    ck_assert_uint_eq (n, 3);
    ck_assert_uint_eq (m, 3);
    for (size_t i = 0; i < 4; i++) {
        snprintf (path, sizeof path, "%s/%s", dir, names[i]);
        ck_assert_int_eq (unlink (path), 0);
    }
    ck_assert_int_eq (rmdir (dir), 0);
    /* /proc/self/fd: both see the same descriptors (each its own
     * listing descriptor among them) */
    struct stat st;
    if (stat ("/proc/self/fd", &st) == 0) {
        ck_assert_int_eq (zmqobs__count_dir ("/proc/self/fd", &n), 0);
        ck_assert_int_eq (zmqobs__count_dir_posix ("/proc/self/fd", &m), 0);
        ck_assert_uint_eq (n, m);
        int extra = dup (0);
        ck_assert_int_ge (extra, 0);
        ck_assert_int_eq (zmqobs__count_dir_posix ("/proc/self/fd", &m), 0);
        ck_assert_uint_eq (m, n + 1);
        close (extra);
    }
}
END_TEST

static int readable (int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int rc = poll (&p, 1, 0);
    ck_assert_int_ge (rc, 0);
    return rc == 1 && (p.revents & POLLIN);
}

static void check_wakefd (int (*open_fn) (zmqobs__wakefd_t *), int same)
{
    zmqobs__wakefd_t w;
    ck_assert_int_eq (open_fn (&w), 0);
    ck_assert_int_ge (w.rd, 0);
    ck_assert_int_eq (w.rd == w.wr, same);
    ck_assert_int_ne (fcntl (w.rd, F_GETFD) & FD_CLOEXEC, 0);
    ck_assert_int_ne (fcntl (w.wr, F_GETFL) & O_NONBLOCK, 0);
    ck_assert_int_eq (readable (w.rd), 0);
    zmqobs__wakefd_signal (&w);
    ck_assert_int_eq (readable (w.rd), 1);
    zmqobs__wakefd_signal (&w);
    zmqobs__wakefd_drain (&w);
    ck_assert_int_eq (readable (w.rd), 0);
    /* far more signals than a pipe holds: none blocks, one drain empties */
    for (int i = 0; i < 20000; i++)
        zmqobs__wakefd_signal (&w);
    ck_assert_int_eq (readable (w.rd), 1);
    zmqobs__wakefd_drain (&w);
    ck_assert_int_eq (readable (w.rd), 0);
    /* draining an empty one returns at once */
    zmqobs__wakefd_drain (&w);
    int rd = w.rd;
    zmqobs__wakefd_close (&w);
    ck_assert_int_eq (w.rd, -1);
    ck_assert_int_eq (w.wr, -1);
    ck_assert_int_eq (fcntl (rd, F_GETFD), -1);
    zmqobs__wakefd_close (&w); /* closed twice: nothing happens */
}

START_TEST (test_wakefd)
{
#ifdef __linux__
    check_wakefd (zmqobs__wakefd_open, 1);
#endif
    check_wakefd (zmqobs__wakefd_open_posix, 0);
}
END_TEST

#if defined(__linux__) && defined(SYS_gettid)
static void *nice_thread (void *arg)
{
    int *res = arg;
    id_t tid = (id_t) syscall (SYS_gettid);
    errno = 0;
    int before = getpriority (PRIO_PROCESS, tid);
    res[0] = errno == 0 && before < 19;
    res[1] = zmqobs__thread_nice (1);
    res[2] = getpriority (PRIO_PROCESS, tid) - before;
    return NULL;
}
#endif

START_TEST (test_thread_nice)
{
#if defined(__linux__) && defined(SYS_gettid)
    errno = 0;
    int main_before = getpriority (PRIO_PROCESS, 0);
    ck_assert_int_eq (errno, 0);
    int res[3] = {0, -1, 0};
    pthread_t t;
    ck_assert_int_eq (pthread_create (&t, NULL, nice_thread, res), 0);
    ck_assert_int_eq (pthread_join (t, NULL), 0);
    if (res[0]) {
        ck_assert_int_eq (res[1], 0);
        ck_assert_int_eq (res[2], 1);
    }
    /* only that thread changed */
    ck_assert_int_eq (getpriority (PRIO_PROCESS, 0), main_before);
#endif
}
END_TEST

int main (void)
{
    Suite *s = suite_create ("platform");
    TCase *tc = testutil_tcase (s, "calls", 30);
    tcase_add_test (tc, test_memrchr);
    tcase_add_test (tc, test_errno_names);
    tcase_add_test (tc, test_strerror);
    tcase_add_test (tc, test_accept);
    tcase_add_test (tc, test_count_dir);
    tcase_add_test (tc, test_wakefd);
    tcase_add_test (tc, test_thread_nice);
    return testutil_run (s);
}
