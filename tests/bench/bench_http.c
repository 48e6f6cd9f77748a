/*
 * bench_http.c - the built-in endpoint under load, and what scraping costs
 * the host.
 *
 * A host thread moves 16-byte messages through the zmqobs wrappers on an
 * inproc PAIR pair as fast as it can; 10 sockets are attached in all, and
 * the observer's own thread serves HTTP. The run alternates phases of
 * equal length: quiet (no scraping) and scraped (wrk -c 4 -t 2 on
 * /metrics), quiet, scraped, quiet; it prints the host's message rate in
 * each phase, wrk's request rate and errors, and the change of the host
 * rate while scraped against the mean of the quiet phases around it.
 * Figures only: nothing is asserted.
 *
 * It runs twice, in child processes. "pinned": the host thread alone on
 * CPU 0; wrk, the observer's thread and libzmq's I/O thread on CPU 1
 * (they inherit the main thread's affinity), which isolates what the
 * library does to the host from plain competition for a core. "shared":
 * no pinning; on a 2-core machine wrk's two threads and the server then
 * take CPU time from the host, and the figure includes that.
 *
 * Then, in the shared run, the time one scrape takes on a fresh connection
 * (median and worst of 50) when the endpoint is quiet and while hostile
 * clients hold it: 64 idle connections, 16 slowloris requests that never
 * finish, and a client that pipelines requests without reading.
 *
 * BENCH_HTTP_SECONDS sets the phase length (default 10, as in the goal;
 * the shared run uses half).
 *
 * SPDX-License-Identifier: MIT
 */
#include "benchutil.h"
#include "zmqobs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

static int stop;
static uint64_t host_msgs; /* written by the host thread, read by main */
static int pinned;

static int pin_to (int cpu)
{
    cpu_set_t set;
    CPU_ZERO (&set);
    CPU_SET (cpu, &set);
    return pthread_setaffinity_np (pthread_self (), sizeof set, &set);
}

typedef struct {
    zmqobs_socket_t *a, *b;
} pair_t;

static void *host_main (void *arg)
{
    pair_t *p = arg;
    if (pinned && pin_to (0) != 0)
        fprintf (stderr, "bench_http: cannot pin the host thread\n");
    char buf[16] = "0123456789abcde";
    uint64_t n = 0;
    while (!__atomic_load_n (&stop, __ATOMIC_RELAXED)) {
        for (int i = 0; i < 256; i++) {
            if (zmqobs_send (p->a, buf, sizeof buf, 0) != (int) sizeof buf
                || zmqobs_recv (p->b, buf, sizeof buf, 0) != (int) sizeof buf) {
                fprintf (stderr, "bench_http: host I/O failed: %s\n", zmq_strerror (errno));
                return NULL;
            }
        }
        n += 256;
        __atomic_store_n (&host_msgs, n, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* Control for the pinned run: a thread that only spins on CPU 1 (no
 * memory traffic, no library call). If the host slows down as much with
 * it as with wrk, the cost is the machine's (shared core resources under
 * the hypervisor), not the library's. */
static int spin_stop;

static void *spin_main (void *arg)
{
    (void) arg;
    volatile uint64_t x = 0;
    while (!__atomic_load_n (&spin_stop, __ATOMIC_RELAXED))
        x = x + 1;
    return NULL;
}

/* Host messages per second over the next `seconds`. */
static double quiet_phase (int seconds)
{
    uint64_t m0 = __atomic_load_n (&host_msgs, __ATOMIC_RELAXED), t0 = bench_now_ns ();
    sleep ((unsigned) seconds);
    uint64_t m1 = __atomic_load_n (&host_msgs, __ATOMIC_RELAXED), t1 = bench_now_ns ();
    return (double) (m1 - m0) * 1e9 / (double) (t1 - t0);
}

/* Runs wrk for `seconds` and returns the host rate meanwhile; prints
 * wrk's figures. Returns -1 if wrk cannot run. */
static double scraped_phase (int seconds, int port)
{
    char dur[16], url[64];
    snprintf (dur, sizeof dur, "%ds", seconds);
    snprintf (url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    int fds[2];
    if (pipe (fds) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_adddup2 (&fa, fds[1], 1);
    posix_spawn_file_actions_addclose (&fa, fds[0]);
    char *argv[] = {"wrk", "-c", "4", "-t", "2", "-d", dur, url, NULL};
    pid_t pid;
    uint64_t m0 = __atomic_load_n (&host_msgs, __ATOMIC_RELAXED), t0 = bench_now_ns ();
    int rc = posix_spawnp (&pid, "wrk", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&fa);
    close (fds[1]);
    if (rc != 0) {
        close (fds[0]);
        fprintf (stderr, "bench_http: cannot run wrk: %s\n", strerror (rc));
        return -1;
    }
    char out[8192];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof out - 1 && (n = read (fds[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t) n;
    out[len] = '\0';
    close (fds[0]);
    int status = 0;
    waitpid (pid, &status, 0);
    uint64_t m1 = __atomic_load_n (&host_msgs, __ATOMIC_RELAXED), t1 = bench_now_ns ();
    /* wrk's own lines that carry the figures */
    for (char *line = strtok (out, "\n"); line; line = strtok (NULL, "\n"))
        if (strstr (line, "Requests/sec") || strstr (line, "requests in")
            || strstr (line, "Non-2xx") || strstr (line, "Socket errors")
            || strstr (line, "Latency"))
            printf ("    wrk: %s\n", line);
    return (double) (m1 - m0) * 1e9 / (double) (t1 - t0);
}

static int run (int seconds);

static int connect_port (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 10};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    if (connect (fd, (struct sockaddr *) &a, sizeof a) != 0) {
        close (fd);
        return -1;
    }
    return fd;
}

/* One scrape on a fresh connection (HTTP/1.0: the server closes after
 * the response); returns its duration in ns, or 0 on failure. */
static uint64_t one_scrape (int port)
{
    static char buf[1 << 16];
    uint64_t t0 = bench_now_ns ();
    int fd = connect_port (port);
    if (fd < 0)
        return 0;
    const char *req = "GET /metrics HTTP/1.0\r\n\r\n";
    int ok = send (fd, req, strlen (req), MSG_NOSIGNAL) == (ssize_t) strlen (req);
    /* the status line comes first and fits the first read */
    ssize_t n = ok ? recv (fd, buf, sizeof buf, 0) : -1;
    ok = n >= 12 && memcmp (buf, "HTTP/1.1 200", 12) == 0;
    while (ok && (n = recv (fd, buf, sizeof buf, 0)) > 0)
        ;
    close (fd);
    return ok && n == 0 ? bench_now_ns () - t0 : 0;
}

static int cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

static void scrape_latency (int port, const char *what)
{
    uint64_t t[50];
    int failed = 0;
    for (int i = 0; i < 50; i++) {
        t[i] = one_scrape (port);
        failed += t[i] == 0;
    }
    qsort (t, 50, sizeof t[0], cmp_u64);
    printf ("  scrape latency %-50s median %.3f ms, worst %.3f ms, failed %d of 50\n", what,
            (double) t[25] / 1e6, (double) t[49] / 1e6, failed);
    fflush (stdout);
}

/* Holds the endpoint with hostile clients while scrapes are timed. */
static void hostile_scrapes (int port)
{
    int fds[96];
    int n = 0;
    scrape_latency (port, "(quiet endpoint)");
    for (int i = 0; i < 64; i++)
        if ((fds[n] = connect_port (port)) >= 0)
            n++;
    for (int i = 0; i < 16; i++)
        if ((fds[n] = connect_port (port)) >= 0) {
            (void) send (fds[n], "GET /metrics HTTP/1.1\r\nHo", 25, MSG_NOSIGNAL);
            n++;
        }
    int pipe_fd = connect_port (port);
    if (pipe_fd >= 0) {
        const char *req = "GET /metrics HTTP/1.1\r\nHost: b\r\n\r\n";
        for (int i = 0; i < 2000; i++)
            if (send (pipe_fd, req, strlen (req), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                break;
    }
    scrape_latency (port, "(64 idle, 16 slowloris, 1 pipelining non-reader)");
    for (int i = 0; i < n; i++)
        close (fds[i]);
    if (pipe_fd >= 0)
        close (pipe_fd);
}

int main (int argc, char **argv)
{
    const char *env = getenv ("BENCH_HTTP_SECONDS");
    int seconds = env ? atoi (env) : 10;
    if (seconds < 1)
        seconds = 1;
    if (argc == 2) {
        pinned = strcmp (argv[1], "pinned") == 0;
        return run (pinned ? seconds : (seconds + 1) / 2);
    }
    /* one child per configuration, so thread affinities do not leak */
    const char *modes[2] = {sysconf (_SC_NPROCESSORS_ONLN) >= 2 ? "pinned" : NULL, "shared"};
    for (int i = 0; i < 2; i++) {
        if (!modes[i]) {
            printf ("bench_http: one CPU only, no pinned run\n");
            continue;
        }
        printf ("== bench_http %s\n", modes[i]);
        fflush (stdout);
        char *cargv[] = {argv[0], (char *) modes[i], NULL};
        pid_t pid;
        if (posix_spawn (&pid, "/proc/self/exe", NULL, NULL, cargv, environ) != 0)
            return 1;
        int status;
        if (waitpid (pid, &status, 0) < 0 || !WIFEXITED (status) || WEXITSTATUS (status) != 0)
            return 1;
    }
    return 0;
}

static int run (int seconds)
{
    /* pinned: everything created from here on (the observer's thread,
     * libzmq's I/O thread, wrk) inherits CPU 1; the host moves to CPU 0 */
    if (pinned && pin_to (1) != 0) {
        fprintf (stderr, "bench_http: cannot pin to CPU 1\n");
        return 1;
    }
    void *ctx = zmq_ctx_new ();
    zmqobs_t *obs = zmqobs_new (ctx, NULL);
    if (!ctx || !obs) {
        fprintf (stderr, "bench_http: setup failed\n");
        return 1;
    }
    void *socks[10];
    zmqobs_socket_t *ss[10];
    for (int i = 0; i < 10; i++) {
        socks[i] = zmq_socket (ctx, ZMQ_PAIR);
        char name[32];
        snprintf (name, sizeof name, "pair-%d", i);
        ss[i] = zmqobs_attach (obs, socks[i], name);
        if (!socks[i] || !ss[i]) {
            fprintf (stderr, "bench_http: attach failed\n");
            return 1;
        }
    }
    for (int i = 0; i < 10; i += 2) {
        char ep[64];
        snprintf (ep, sizeof ep, "inproc://bench-http-%d", i);
        if (zmq_bind (socks[i], ep) != 0 || zmq_connect (socks[i + 1], ep) != 0) {
            fprintf (stderr, "bench_http: bind/connect failed\n");
            return 1;
        }
    }
    if (zmqobs_serve (obs, "tcp://127.0.0.1:0") != 0) {
        fprintf (stderr, "bench_http: serve failed: %s\n", strerror (errno));
        return 1;
    }
    int port = zmqobs_serve_port (obs);
    int body = zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, NULL, 0);
    printf ("bench_http (%s): 10 attached sockets, /metrics body %d bytes, phases of %d s\n",
            pinned ? "pinned" : "shared", body, seconds);
    fflush (stdout);

    /* the host thread owns the pair it uses from now on */
    pair_t p = {ss[0], ss[1]};
    pthread_t host;
    if (pthread_create (&host, NULL, host_main, &p) != 0)
        return 1;
    sleep (1); /* warm up */
    double q[3], s[2];
    q[0] = quiet_phase (seconds);
    printf ("  quiet    host %.0f msgs/s\n", q[0]);
    fflush (stdout);
    s[0] = scraped_phase (seconds, port);
    printf ("  scraped  host %.0f msgs/s\n", s[0]);
    fflush (stdout);
    q[1] = quiet_phase (seconds);
    printf ("  quiet    host %.0f msgs/s\n", q[1]);
    fflush (stdout);
    s[1] = scraped_phase (seconds, port);
    printf ("  scraped  host %.0f msgs/s\n", s[1]);
    fflush (stdout);
    q[2] = quiet_phase (seconds);
    printf ("  quiet    host %.0f msgs/s\n", q[2]);
    if (pinned) {
        pthread_t spin;
        if (pthread_create (&spin, NULL, spin_main, NULL) == 0) {
            double sp = quiet_phase (seconds);
            __atomic_store_n (&spin_stop, 1, __ATOMIC_RELAXED);
            pthread_join (spin, NULL);
            double q3 = quiet_phase (seconds);
            printf ("  spinner  host %.0f msgs/s (a busy loop on CPU 1 instead of wrk)\n", sp);
            printf ("  quiet    host %.0f msgs/s\n", q3);
            printf ("bench_http: control: host rate %+.1f%% with a bare spinner on the other CPU\n",
                    100.0 * (sp - (q[2] + q3) / 2) / ((q[2] + q3) / 2));
        }
    }
    if (!pinned)
        hostile_scrapes (port);
    for (int i = 0; i < 2; i++)
        if (s[i] > 0)
            printf ("bench_http: scraped phase %d: host rate %+.1f%% against the quiet phases "
                    "around it\n",
                    i + 1, 100.0 * (s[i] - (q[i] + q[i + 1]) / 2) / ((q[i] + q[i + 1]) / 2));
    __atomic_store_n (&stop, 1, __ATOMIC_RELAXED);
    pthread_join (host, NULL);
    for (int i = 0; i < 10; i++) {
        zmqobs_detach (&ss[i]);
        zmq_close (socks[i]);
    }
    zmqobs_destroy (&obs);
    zmq_ctx_term (ctx);
    return 0;
}
