/*
 * process.c - the standard process_* metrics, read from /proc/self.
 *
 * A scrape must not allocate, so nothing here uses stdio or opendir: files
 * are read with open/read into stack buffers and /proc/self/fd is counted
 * with stat(2) or a listing (see open_fds; platform.c lists with
 * getdents64 where it can, readdir elsewhere). Boot time never changes while
 * the system runs, so it is read from /proc/stat once per process.
 *
 * SPDX-License-Identifier: MIT
 */
#include "process.h"

#include "platform.h"

#include <pthread.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads up to size - 1 bytes of a small file and terminates them; returns
 * the length or -1 with errno. */
static ssize_t read_small (const char *path, char *buf, size_t size)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < size - 1) {
        ssize_t n = read (fd, buf + got, size - 1 - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int err = errno;
            close (fd);
            errno = err;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t) n;
    }
    close (fd);
    buf[got] = '\0';
    return (ssize_t) got;
}

/* Parses an unsigned decimal at *p (bounded by end); -1 if none. */
static int parse_u64 (const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s >= end || *s < '0' || *s > '9')
        return -1;
    while (s < end && *s >= '0' && *s <= '9') {
        unsigned d = (unsigned) (*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return 0;
}

int zmqobs__parse_proc_stat (const char *text, size_t len, uint64_t *utime_ticks,
                             uint64_t *stime_ticks, uint64_t *threads, uint64_t *start_ticks,
                             uint64_t *vsize, uint64_t *rss_pages)
{
    /* The command name (field 2) is in parentheses and may itself hold
     * spaces and parentheses: fields are counted from the last ')'. */
    const char *end = text + len;
    const char *close = NULL;
    for (const char *p = text; p < end; p++)
        if (*p == ')')
            close = p;
    if (!close)
        goto bad;
    const char *p = close + 1;
    int field = 2;
    uint64_t vals[25] = {0};
    while (field < 24) {
        if (p >= end || *p != ' ')
            goto bad;
        p++;
        field++;
        if (field == 3) {
            /* the state is a letter */
            while (p < end && *p != ' ')
                p++;
            continue;
        }
        /* fields 4..24; some are signed (priority, nice, ...): skip a
         * sign, none of the fields we keep can be negative */
        if (p < end && *p == '-')
            p++;
        if (parse_u64 (&p, end, &vals[field]) != 0)
            goto bad;
    }
    *utime_ticks = vals[14];
    *stime_ticks = vals[15];
    *threads = vals[20];
    *start_ticks = vals[22];
    *vsize = vals[23];
    *rss_pages = vals[24];
    return 0;
bad:
    errno = EPROTO;
    return -1;
}

int zmqobs__parse_btime (const char *text, size_t len, uint64_t *btime)
{
    static const char key[] = "btime ";
    for (size_t i = 0; i + sizeof key - 1 <= len; i++) {
        if ((i == 0 || text[i - 1] == '\n') && memcmp (text + i, key, sizeof key - 1) == 0) {
            const char *p = text + i + sizeof key - 1;
            if (parse_u64 (&p, text + len, btime) == 0)
                return 0;
            break;
        }
    }
    errno = ENOENT;
    return -1;
}

/* Boot time from /proc/stat, which can be many kilobytes (one interrupt
 * counter per IRQ) before the btime line: scanned byte by byte as it is
 * read, so a line split between two reads is still recognised. */
static int read_btime (uint64_t *out)
{
    static const char key[] = "btime ";
    int fd = open ("/proc/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[4096];
    size_t matched = 0; /* bytes of key seen at the start of this line */
    int line_start = 1, in_value = 0, digits = 0, done = 0;
    uint64_t v = 0;
    while (!done) {
        ssize_t n = read (fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && !done; i++) {
            char ch = buf[i];
            if (in_value) {
                if (ch >= '0' && ch <= '9' && v <= UINT64_MAX / 10 - 1) {
                    v = v * 10 + (uint64_t) (ch - '0');
                    digits++;
                } else
                    done = 1;
            } else if (ch == '\n') {
                matched = 0;
                line_start = 1;
            } else if (line_start && ch == key[matched]) {
                if (++matched == sizeof key - 1)
                    in_value = 1;
            } else {
                line_start = 0;
                matched = 0;
            }
        }
    }
    close (fd);
    if (!in_value || digits == 0) {
        errno = ENOENT;
        return -1;
    }
    *out = v;
    return 0;
}

/* Open descriptors, not counting the one used to list them. */
static int count_fds (uint64_t *out)
{
    uint64_t count;
    if (zmqobs__count_dir ("/proc/self/fd", &count) != 0)
        return -1;
    *out = count > 0 ? count - 1 : 0;
    return 0;
}

int zmqobs__fd_stat_off = 0;
uint64_t zmqobs__fd_cache_ns = 1000000000u;

/* The listing's count, shared by every observer and scrape of the process
 * (the count is the process's). The lock guards these two fields only,
 * never a listing: scrapes that find the count stale at the same moment
 * each list the directory, and the listing that started last is kept. */
static pthread_mutex_t fd_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t fd_cache_count;
static uint64_t fd_cache_at; /* monotonic ns when that listing began, 0 = none */

/* process_open_fds. Listing /proc/self/fd costs the kernel about 0.4 us
 * per descriptor (each entry is formatted and emitted): 2.2 ms a scrape
 * with 6,000 open (bench_process), where the rest of a small scrape takes
 * 15 us. Since Linux 6.2 the st_size of that directory is the number of
 * open descriptors (a popcount of the fd bitmap in the kernel): exact at
 * every scrape and as cheap as any stat. Older kernels report 0 there (a
 * process using libzmq always has descriptors open, so 0 is never a real
 * count); then the directory is listed at most once per
 * zmqobs__fd_cache_ns (1 s) per process and the scrapes in between reuse
 * that count, so the value can be up to that old. */
static int open_fds (uint64_t *out)
{
    struct stat st;
    if (!LOAD (&zmqobs__fd_stat_off) && stat ("/proc/self/fd", &st) == 0 && st.st_size > 0) {
        *out = (uint64_t) st.st_size;
        return 0;
    }
    uint64_t max_age = LOAD (&zmqobs__fd_cache_ns);
    uint64_t now = zmqobs__now_ns ();
    if (max_age) {
        pthread_mutex_lock (&fd_cache_lock);
        uint64_t at = fd_cache_at, count = fd_cache_count;
        pthread_mutex_unlock (&fd_cache_lock);
        /* a listing begun after now (another thread's) is fresh too */
        if (at && (now < at || now - at < max_age)) {
            *out = count;
            return 0;
        }
    }
    uint64_t count;
    if (count_fds (&count) != 0)
        return -1;
    pthread_mutex_lock (&fd_cache_lock);
    if (now >= fd_cache_at) {
        fd_cache_at = now;
        fd_cache_count = count;
    }
    pthread_mutex_unlock (&fd_cache_lock);
    *out = count;
    return 0;
}

/* ticks / hz as ns without overflow for any realistic uptime */
static uint64_t ticks_to_ns (uint64_t ticks, uint64_t hz)
{
    return ticks / hz * 1000000000u + ticks % hz * 1000000000u / hz;
}

static uint64_t boot_time; /* seconds; 0 until read */

int zmqobs__process_read (zmqobs__process_t *out)
{
    memset (out, 0, sizeof *out);
    int err = 0;
    long hz = sysconf (_SC_CLK_TCK);
    long page = sysconf (_SC_PAGESIZE);
    char buf[1024];
    ssize_t n = read_small ("/proc/self/stat", buf, sizeof buf);
    uint64_t ut, stt, threads, start, vsize, rss;
    if (n > 0 && hz > 0 && page > 0
        && zmqobs__parse_proc_stat (buf, (size_t) n, &ut, &stt, &threads, &start, &vsize, &rss)
               == 0) {
        out->cpu_ns = ticks_to_ns (ut + stt, (uint64_t) hz);
        out->threads = threads;
        out->virtual_bytes = vsize;
        out->resident_bytes = rss * (uint64_t) page;
        out->have |= ZMQOBS__PROC_CPU | ZMQOBS__PROC_THREADS | ZMQOBS__PROC_VMEM | ZMQOBS__PROC_RSS;
        uint64_t bt = LOAD (&boot_time);
        if (bt == 0 && read_btime (&bt) == 0)
            STORE (&boot_time, bt);
        if (bt) {
            out->start_time_ns = bt * 1000000000u + ticks_to_ns (start, (uint64_t) hz);
            out->have |= ZMQOBS__PROC_START;
        } else
            err = errno;
    } else
        err = n < 0 ? errno : EPROTO;
    if (open_fds (&out->open_fds) == 0)
        out->have |= ZMQOBS__PROC_OPEN_FDS;
    else
        err = errno;
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0) {
        out->max_fds = (uint64_t) rl.rlim_cur;
        out->have |= ZMQOBS__PROC_MAX_FDS;
    } else
        err = errno;
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}
