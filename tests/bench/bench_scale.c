/*
 * bench_scale.c - how the monitor engine scales with the number of
 * attached sockets, in threaded mode (zmqobs_new with default options:
 * the observer's own thread drains every monitor). Public API only.
 *
 * "Idle" sockets are PAIR sockets of the same context, attached under
 * unique names and never bound or connected: they produce no events, so
 * whatever they cost is the engine's per-socket overhead. Each figure is
 * a ratio of two measurements taken in the same run, interleaved where
 * that is cheap, so that a noisy machine moves both sides alike:
 *
 * 1. Backlog drain rate, N idle sockets / none. Two observers live side by
 *    side, one with N idle sockets and one without, each with a busy
 *    ROUTER bound on tcp loopback. An event callback holds the observer's
 *    thread while rounds of DEALERs connect, say hello and close (three
 *    events per peer, 15,000 in all, the storm bench_monitor uses). Then
 *    the callback lets go, and the time until zmqobs_socket_stats counts
 *    every event gives the rate. Median of 5, the two observers
 *    alternating. (The backlog waits in the monitor reader's queue, which
 *    ZMQ_RCVHWM 0 leaves unbounded; with a bounded queue libzmq would
 *    block, which the storm notices, and the figure is marked invalid.)
 * 2. Connect -> gauge p50, N idle / none: from a DEALER's zmq_connect to
 *    the ROUTER's connections gauge reading 1 (after the peer's
 *    handshake), polled every 2 us; the peer closes, the gauge goes back
 *    to 0 and the program sleeps 5 ms before the next repetition. The two
 *    observers alternate.
 * 3. Detach of all sockets one by one, time(N) / time(N / 10) (linear
 *    scaling gives 10); the smaller size is the median of 3 runs.
 * 4. Connect -> gauge p50 with N / 3 idle sockets while another thread
 *    scrapes flat out / unscraped: with zmqobs_format (Prometheus text
 *    into a preallocated buffer), and with HTTP GET /metrics on a
 *    keep-alive connection to zmqobs_serve. Blocks of repetitions rotate
 *    through the three conditions.
 *
 * Figures are printed with their goals; nothing is asserted on time. A
 * failed call or a count that never arrives makes the program exit 1; a
 * watchdog (SIGALRM) ends it with status 2 if it ever hangs.
 *
 * Environment: BENCH_SCALE_N idle sockets (default 3000, at least 30),
 * BENCH_SCALE_REPS connect -> gauge repetitions per condition (default
 * 200), BENCH_SCALE_TIMEOUT watchdog seconds (default 600).
 *
 * SPDX-License-Identifier: MIT
 */
#include "benchutil.h"
#include "zmqobs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

enum { PEERS = 200, ROUNDS = 25, DRAIN_REPS = 5, SMALL_REPS = 3 };

#define STORM_EVENTS ((uint64_t) PEERS * ROUNDS * 3) /* ACCEPTED, SUCCEEDED, DISCONNECTED */
#define WAIT_LIMIT_NS (30ull * 1000000000u)
#define SETTLE_MS 5

static void fail (const char *what)
{
    fprintf (stderr, "bench_scale: %s: %s\n", what, zmq_strerror (errno));
    exit (1);
}

static void on_alarm (int sig)
{
    (void) sig;
    static const char msg[] = "bench_scale: watchdog: still running, giving up\n";
    ssize_t rc = write (2, msg, sizeof msg - 1);
    (void) rc;
    _exit (2);
}

static long env_long (const char *name, long dflt, long min)
{
    const char *v = getenv (name);
    long n = v && *v ? strtol (v, NULL, 10) : dflt;
    return n < min ? min : n;
}

static void sleep_ms (long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep (&ts, NULL);
}

/* A short pause between two snapshots: each one takes the observer's lock,
 * which the draining thread also takes per event, so polling back to back
 * would slow down what it measures. Yields to any thread that wants the
 * CPU meanwhile (two cores: the observer's thread, libzmq's I/O thread,
 * this one and perhaps a scraper). */
static void poll_pause (uint64_t ns)
{
    uint64_t until = bench_now_ns () + ns;
    while (bench_now_ns () < until)
        sched_yield ();
}

static uint64_t total_events (const zmqobs_socket_t *s)
{
    zmqobs_stats_t st;
    if (zmqobs_socket_stats (s, &st) != 0)
        fail ("zmqobs_socket_stats");
    uint64_t n = 0;
    for (int i = 0; i < ZMQOBS_EVENT_SLOTS; i++)
        n += st.events[i];
    return n;
}

static int64_t connections (const zmqobs_socket_t *s)
{
    zmqobs_stats_t st;
    if (zmqobs_socket_stats (s, &st) != 0)
        fail ("zmqobs_socket_stats");
    return st.connections;
}

static void wait_events (const zmqobs_socket_t *s, uint64_t want, uint64_t pause_ns)
{
    uint64_t deadline = bench_now_ns () + WAIT_LIMIT_NS;
    while (total_events (s) < want) {
        if (bench_now_ns () > deadline) {
            errno = ETIMEDOUT;
            fail ("waiting for events to be counted");
        }
        poll_pause (pause_ns);
    }
}

static void wait_connections (const zmqobs_socket_t *s, int64_t want, uint64_t pause_ns)
{
    uint64_t deadline = bench_now_ns () + WAIT_LIMIT_NS;
    while (connections (s) != want) {
        if (bench_now_ns () > deadline) {
            errno = ETIMEDOUT;
            fail ("waiting for the connections gauge");
        }
        poll_pause (pause_ns);
    }
}

static double percentile (double *v, int n, double q)
{
    bench_median (v, n); /* sorts */
    int i = (int) (q * (n - 1) + 0.5);
    return v[i];
}

/* ------------------------------------------------------------------------
 * Sockets
 * ---------------------------------------------------------------------- */

typedef struct {
    int n;
    void **sock;
    zmqobs_socket_t **att;
} idle_t;

/* Creates n PAIR sockets and attaches them; returns the seconds it took. */
static double attach_idle (void *ctx, zmqobs_t *obs, idle_t *set, int n, const char *prefix)
{
    set->n = n;
    set->sock = calloc ((size_t) n, sizeof *set->sock);
    set->att = calloc ((size_t) n, sizeof *set->att);
    if (!set->sock || !set->att)
        fail ("calloc");
    uint64_t t0 = bench_now_ns ();
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf (name, sizeof name, "%s-%d", prefix, i);
        set->sock[i] = zmq_socket (ctx, ZMQ_PAIR);
        if (!set->sock[i])
            fail ("zmq_socket (idle)");
        set->att[i] = zmqobs_attach (obs, set->sock[i], name);
        if (!set->att[i])
            fail ("zmqobs_attach (idle)");
    }
    return (double) (bench_now_ns () - t0) / 1e9;
}

/* Detaches every socket of the set in attach order and returns the
 * seconds the detaches took; then closes the sockets (not timed). */
static double detach_idle (idle_t *set)
{
    uint64_t t0 = bench_now_ns ();
    for (int i = 0; i < set->n; i++)
        zmqobs_detach (&set->att[i]);
    double dt = (double) (bench_now_ns () - t0) / 1e9;
    for (int i = 0; i < set->n; i++)
        zmq_close (set->sock[i]);
    free (set->sock);
    free (set->att);
    memset (set, 0, sizeof *set);
    return dt;
}

typedef struct {
    void *sock;
    zmqobs_socket_t *att;
    char ep[256];
} busy_t;

/* A ROUTER attached to obs and bound on tcp loopback, its LISTENING
 * already counted. */
static void busy_open (void *ctx, zmqobs_t *obs, busy_t *b, const char *name)
{
    b->sock = zmq_socket (ctx, ZMQ_ROUTER);
    if (!b->sock)
        fail ("zmq_socket (router)");
    int zero = 0, backlog = 1024;
    zmq_setsockopt (b->sock, ZMQ_LINGER, &zero, sizeof zero);
    /* a burst of PEERS connects overflows the default backlog (100), and
     * the kernel retries the dropped SYNs only a second later */
    zmq_setsockopt (b->sock, ZMQ_BACKLOG, &backlog, sizeof backlog);
    /* see storm() */
    int limit_ms = 3000;
    zmq_setsockopt (b->sock, ZMQ_RCVTIMEO, &limit_ms, sizeof limit_ms);
    b->att = zmqobs_attach (obs, b->sock, name);
    if (!b->att)
        fail ("zmqobs_attach (router)");
    if (zmq_bind (b->sock, "tcp://127.0.0.1:*") != 0)
        fail ("zmq_bind");
    size_t len = sizeof b->ep;
    if (zmq_getsockopt (b->sock, ZMQ_LAST_ENDPOINT, b->ep, &len) != 0)
        fail ("ZMQ_LAST_ENDPOINT");
    wait_events (b->att, 1, 20000); /* LISTENING */
}

static void busy_close (busy_t *b)
{
    zmqobs_detach (&b->att);
    zmq_close (b->sock);
    b->sock = NULL;
}

static void *new_peer (void *ctx)
{
    void *peer = zmq_socket (ctx, ZMQ_DEALER);
    if (!peer)
        fail ("zmq_socket (dealer)");
    int zero = 0, never = -1;
    zmq_setsockopt (peer, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (peer, ZMQ_RECONNECT_IVL, &never, sizeof never);
    return peer;
}

/* ------------------------------------------------------------------------
 * 1. Backlog drain
 * ---------------------------------------------------------------------- */

/* While closed, the event callback keeps the observer's thread in it, so
 * that the events of a storm pile up in the monitor's reader. */
typedef struct {
    int closed;
} gate_t;

static void gate_fn (const zmqobs_event_info_t *info, void *arg)
{
    (void) info;
    gate_t *g = arg;
    /* acquire: pairs with the release that opens the gate */
    while (__atomic_load_n (&g->closed, __ATOMIC_ACQUIRE))
        sched_yield ();
}

/* PEERS dealers connect and say hello (so every handshake is done once
 * the router has read them all), then all close; ROUNDS times. Should
 * libzmq block on the held monitor (an engine that bounds its reader's
 * queue), the router's receive times out: the gate opens, *blocked is set
 * and the storm goes on live. */
static void storm (void *ctx, busy_t *b, gate_t *gate, int *blocked)
{
    void *peers[PEERS];
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < PEERS; i++) {
            peers[i] = new_peer (ctx);
            if (zmq_connect (peers[i], b->ep) != 0 || zmq_send (peers[i], "x", 1, 0) != 1)
                fail ("storm connect/send");
        }
        for (int i = 0; i < PEERS; i++) {
            zmq_msg_t m;
            zmq_msg_init (&m);
            do {
                while (zmq_msg_recv (&m, b->sock, 0) < 0) {
                    if (errno != EAGAIN || !__atomic_load_n (&gate->closed, __ATOMIC_RELAXED))
                        fail ("storm recv");
                    *blocked = 1;
                    /* release: as in drain_once */
                    __atomic_store_n (&gate->closed, 0, __ATOMIC_RELEASE);
                }
            } while (zmq_msg_more (&m));
            zmq_msg_close (&m);
        }
        for (int i = 0; i < PEERS; i++)
            zmq_close (peers[i]);
    }
}

/* One backlog: returns events per second from release to last count. */
static double drain_once (void *ctx, zmqobs_t *obs, busy_t *b, int *leaked, int *blocked)
{
    gate_t gate = {1};
    uint64_t base = total_events (b->att);
    if (zmqobs_on_event (obs, gate_fn, &gate) != 0)
        fail ("zmqobs_on_event");
    storm (ctx, b, &gate, blocked);
    /* the last DISCONNECTEDs are still on their way */
    sleep_ms (300);
    /* at most the event whose callback holds the thread is counted */
    uint64_t early = total_events (b->att) - base;
    if (early > 1)
        *leaked = 1;
    uint64_t t0 = bench_now_ns ();
    /* release: the held thread sees the gate open */
    __atomic_store_n (&gate.closed, 0, __ATOMIC_RELEASE);
    /* waits for the callback in flight to return; later events run none */
    if (zmqobs_on_event (obs, NULL, NULL) != 0)
        fail ("zmqobs_on_event");
    wait_events (b->att, base + STORM_EVENTS, 20000);
    double dt = (double) (bench_now_ns () - t0) / 1e9;
    wait_connections (b->att, 0, 20000);
    if (*blocked || early >= STORM_EVENTS)
        return NAN;
    return (double) (STORM_EVENTS - early) / dt;
}

/* ------------------------------------------------------------------------
 * 2 and 4. Connect -> gauge
 * ---------------------------------------------------------------------- */

/* Microseconds from zmq_connect to the gauge reading 1; then the peer
 * closes, the gauge returns to 0 and everything settles (not timed): an
 * observer's thread may still be busy for a while after its last event,
 * and the next measurement, perhaps on the other observer, should not pay
 * for that. */
static double connect_to_gauge (void *ctx, busy_t *b)
{
    void *peer = new_peer (ctx);
    uint64_t t0 = bench_now_ns ();
    if (zmq_connect (peer, b->ep) != 0)
        fail ("zmq_connect");
    wait_connections (b->att, 1, 2000);
    double us = (double) (bench_now_ns () - t0) / 1e3;
    zmq_close (peer);
    wait_connections (b->att, 0, 20000);
    sleep_ms (SETTLE_MS);
    return us;
}

enum { SCRAPE_NONE, SCRAPE_FORMAT, SCRAPE_HTTP, SCRAPE_MODES };

static const char *const mode_name[SCRAPE_MODES] = {"unscraped", "zmqobs_format flat out",
                                                    "HTTP GET /metrics flat out"};

typedef struct {
    zmqobs_t *obs;
    int mode;
    int port;
    char *buf;
    size_t size;
    int stop;          /* set by main */
    uint64_t scrapes;  /* written by the scraper, read by main */
    uint64_t bytes;    /* the same */
    uint64_t failures; /* the same */
} scraper_t;

static int http_connect (int port)
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

/* One GET /metrics on a keep-alive connection; returns the bytes of the
 * whole response, or -1 (the caller reconnects). */
static long http_get (int fd, char *buf, size_t size)
{
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (send (fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t) (sizeof req - 1))
        return -1;
    size_t have = 0, need = 0;
    while (need == 0 || have < need) {
        if (have == size)
            return -1;
        ssize_t n = recv (fd, buf + have, size - have, 0);
        if (n <= 0)
            return -1;
        have += (size_t) n;
        if (need == 0) {
            const char *end = memmem (buf, have, "\r\n\r\n", 4);
            if (!end)
                continue;
            if (have < 12 || memcmp (buf, "HTTP/1.1 200", 12) != 0)
                return -1;
            static const char cl[] = "Content-Length: ";
            const char *p = memmem (buf, (size_t) (end - buf), cl, sizeof cl - 1);
            if (!p)
                return -1;
            need = (size_t) (end + 4 - buf) + strtoull (p + sizeof cl - 1, NULL, 10);
        }
    }
    return have == need ? (long) have : -1;
}

static void *scraper_main (void *arg)
{
    scraper_t *sc = arg;
    int fd = -1;
    while (!__atomic_load_n (&sc->stop, __ATOMIC_RELAXED)) {
        long n;
        if (sc->mode == SCRAPE_FORMAT)
            n = zmqobs_format (sc->obs, ZMQOBS_FORMAT_PROMETHEUS, sc->buf, sc->size);
        else {
            if (fd < 0)
                fd = http_connect (sc->port);
            n = fd < 0 ? -1 : http_get (fd, sc->buf, sc->size);
            if (n < 0 && fd >= 0) {
                close (fd);
                fd = -1;
            }
        }
        if (n < 0 || (size_t) n >= sc->size) {
            uint64_t f = __atomic_load_n (&sc->failures, __ATOMIC_RELAXED) + 1;
            __atomic_store_n (&sc->failures, f, __ATOMIC_RELAXED);
            if (f > 100)
                break;
            sleep_ms (1);
            continue;
        }
        __atomic_store_n (&sc->bytes, sc->bytes + (uint64_t) n, __ATOMIC_RELAXED);
        __atomic_store_n (&sc->scrapes, sc->scrapes + 1, __ATOMIC_RELAXED);
    }
    if (fd >= 0)
        close (fd);
    return NULL;
}

/* ------------------------------------------------------------------------
 * Report
 * ---------------------------------------------------------------------- */

typedef struct {
    const char *what;
    double ratio;
    double goal;
    int at_least; /* 1: goal is ratio >= goal; 0: ratio <= goal */
} result_t;

static result_t results[8];
static int nresults;

static void verdict (const char *what, double ratio, double goal, int at_least)
{
    if (isnan (ratio)) {
        printf ("   ratio not measured (goal %s %g)\n", at_least ? ">=" : "<=", goal);
        results[nresults++] = (result_t) {what, ratio, goal, at_least};
        return;
    }
    int met = at_least ? ratio >= goal : ratio <= goal;
    printf ("   ratio %.3f (goal %s %g): %s\n", ratio, at_least ? ">=" : "<=", goal,
            met ? "met" : "NOT MET");
    results[nresults++] = (result_t) {what, ratio, goal, at_least};
}

int main (void)
{
    const int n_big = (int) env_long ("BENCH_SCALE_N", 3000, 30);
    const int n_mid = n_big / 3;
    const int n_small = n_big / 10;
    const int reps = (int) env_long ("BENCH_SCALE_REPS", 200, 5);
    const long timeout = env_long ("BENCH_SCALE_TIMEOUT", 600, 1);
    signal (SIGALRM, on_alarm);
    alarm ((unsigned) timeout);
    setvbuf (stdout, NULL, _IOLBF, 0);

    /* three libzmq sockets per attach (host, monitor, reader), one
     * descriptor each (its mailbox) */
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit (RLIMIT_NOFILE, &rl) != 0)
            perror ("bench_scale: setrlimit");
    }
    getrlimit (RLIMIT_NOFILE, &rl);
    long need_fds = 3L * n_big + 3L * PEERS + 256;
    if (rl.rlim_cur != RLIM_INFINITY && (long) rl.rlim_cur < need_fds)
        fprintf (stderr,
                 "bench_scale: RLIMIT_NOFILE is %ld, about %ld are needed: "
                 "lower BENCH_SCALE_N\n",
                 (long) rl.rlim_cur, need_fds);

    void *ctx = zmq_ctx_new ();
    if (!ctx)
        fail ("zmq_ctx_new");
    int max_sockets = 3 * n_big + 2 * PEERS + 1024;
    if (max_sockets < 16384)
        max_sockets = 16384;
    if (zmq_ctx_set (ctx, ZMQ_MAX_SOCKETS, max_sockets) != 0)
        fail ("ZMQ_MAX_SOCKETS");

    int major, minor, patch;
    zmq_version (&major, &minor, &patch);
    printf ("bench_scale: threaded mode, libzmq %d.%d.%d, %ld CPUs, RLIMIT_NOFILE %ld\n"
            "  N = %d idle sockets (BENCH_SCALE_N), %d repetitions (BENCH_SCALE_REPS)\n",
            major, minor, patch, sysconf (_SC_NPROCESSORS_ONLN), (long) rl.rlim_cur, n_big, reps);

    /* Two observers side by side: `none` drains one busy socket, `big`
     * drains one busy socket and n_big idle ones. */
    zmqobs_t *none = zmqobs_new (ctx, NULL);
    zmqobs_t *big = zmqobs_new (ctx, NULL);
    if (!none || !big)
        fail ("zmqobs_new");
    busy_t b_none, b_big;
    busy_open (ctx, none, &b_none, "busy-none");
    busy_open (ctx, big, &b_big, "busy-big");
    idle_t idle_big;
    double t_attach = attach_idle (ctx, big, &idle_big, n_big, "idle-big");
    printf ("  setup: %d idle PAIR sockets created and attached in %.3f s (%.1f us each)\n", n_big,
            t_attach, t_attach * 1e6 / n_big);

    /* 1. backlog drain */
    {
        double r_none[DRAIN_REPS], r_big[DRAIN_REPS];
        int leaked = 0, blocked = 0;
        for (int i = 0; i < DRAIN_REPS; i++) {
            r_none[i] = drain_once (ctx, none, &b_none, &leaked, &blocked);
            r_big[i] = drain_once (ctx, big, &b_big, &leaked, &blocked);
        }
        printf ("\n1. backlog drain: %llu events queued on one ROUTER while the observer's "
                "thread was held, then drained (median of %d, alternating)\n",
                (unsigned long long) STORM_EVENTS, DRAIN_REPS);
        double m_none = bench_median (r_none, DRAIN_REPS);
        double m_big = bench_median (r_big, DRAIN_REPS);
        if (blocked)
            m_none = m_big = NAN;
        printf ("   0 other sockets: %.0f events/s (%.0f .. %.0f)\n", m_none, r_none[0],
                r_none[DRAIN_REPS - 1]);
        printf ("   %d idle sockets: %.0f events/s (%.0f .. %.0f)\n", n_big, m_big, r_big[0],
                r_big[DRAIN_REPS - 1]);
        if (blocked)
            printf ("   INVALID: libzmq blocked on a held monitor (the reader's queue is "
                    "bounded), so part of the storm was drained live\n");
        else if (leaked)
            printf ("   note: some events were counted while the thread was held\n");
        verdict ("1 drain rate, N idle / 0", m_big / m_none, 0.5, 1);
    }

    /* 2. connect -> gauge */
    {
        double *l_none = calloc ((size_t) reps, sizeof *l_none);
        double *l_big = calloc ((size_t) reps, sizeof *l_big);
        if (!l_none || !l_big)
            fail ("calloc");
        for (int i = 0; i < reps; i++) {
            /* alternate which goes first */
            if (i % 2) {
                l_none[i] = connect_to_gauge (ctx, &b_none);
                l_big[i] = connect_to_gauge (ctx, &b_big);
            } else {
                l_big[i] = connect_to_gauge (ctx, &b_big);
                l_none[i] = connect_to_gauge (ctx, &b_none);
            }
        }
        double p50_none = percentile (l_none, reps, 0.5), p90_none = percentile (l_none, reps, 0.9);
        double p50_big = percentile (l_big, reps, 0.5), p90_big = percentile (l_big, reps, 0.9);
        printf ("\n2. zmq_connect -> connections gauge 1 on a bound ROUTER (%d repetitions, "
                "alternating)\n",
                reps);
        printf ("   0 other sockets: p50 %.1f us, p90 %.1f us\n", p50_none, p90_none);
        printf ("   %d idle sockets: p50 %.1f us, p90 %.1f us\n", n_big, p50_big, p90_big);
        verdict ("2 connect->gauge p50, N idle / 0", p50_big / p50_none, 1.5, 0);
        free (l_none);
        free (l_big);
    }

    /* 3. detach all, one by one */
    {
        busy_close (&b_big); /* `big` holds exactly the idle sockets now */
        double t_big = detach_idle (&idle_big);
        double t_small[SMALL_REPS];
        for (int i = 0; i < SMALL_REPS; i++) {
            zmqobs_t *obs = zmqobs_new (ctx, NULL);
            if (!obs)
                fail ("zmqobs_new");
            idle_t set;
            attach_idle (ctx, obs, &set, n_small, "idle-small");
            t_small[i] = detach_idle (&set);
            zmqobs_destroy (&obs);
        }
        double m_small = bench_median (t_small, SMALL_REPS);
        printf ("\n3. zmqobs_detach of every attached socket, one by one (own thread)\n");
        printf ("   N = %d: %.3f s (%.1f us per detach)\n", n_big, t_big, t_big * 1e6 / n_big);
        printf ("   N = %d: %.4f s (%.1f us per detach; median of %d, %.4f .. %.4f)\n", n_small,
                m_small, m_small * 1e6 / n_small, SMALL_REPS, t_small[0], t_small[SMALL_REPS - 1]);
        uint64_t t0 = bench_now_ns ();
        zmqobs_destroy (&big);
        printf ("   zmqobs_destroy of the emptied observer: %.1f ms\n",
                (double) (bench_now_ns () - t0) / 1e6);
        printf ("   (linear scaling gives %.0f)\n", (double) n_big / n_small);
        verdict ("3 detach all, time(N) / time(N/10)", t_big / m_small, 12, 0);
    }

    /* 4. connect -> gauge under scraping */
    {
        zmqobs_t *mid = zmqobs_new (ctx, NULL);
        if (!mid)
            fail ("zmqobs_new");
        busy_t b_mid;
        busy_open (ctx, mid, &b_mid, "busy-mid");
        idle_t idle_mid;
        attach_idle (ctx, mid, &idle_mid, n_mid, "idle-mid");
        if (zmqobs_serve (mid, "tcp://127.0.0.1:0") != 0)
            fail ("zmqobs_serve");
        int port = zmqobs_serve_port (mid);
        int need = zmqobs_format (mid, ZMQOBS_FORMAT_PROMETHEUS, NULL, 0);
        if (need < 0 || port < 0)
            fail ("zmqobs_format / zmqobs_serve_port");
        size_t size = 2 * (size_t) need + (1u << 16);
        char *buf = malloc (size);
        double *lat[SCRAPE_MODES];
        int count[SCRAPE_MODES] = {0};
        uint64_t scrapes[SCRAPE_MODES] = {0}, bytes[SCRAPE_MODES] = {0},
                 failures[SCRAPE_MODES] = {0}, busy_ns[SCRAPE_MODES] = {0};
        for (int m = 0; m < SCRAPE_MODES; m++)
            lat[m] = calloc ((size_t) reps, sizeof **lat);
        if (!buf || !lat[0] || !lat[1] || !lat[2])
            fail ("malloc");
        int block = reps / 5 > 0 ? reps / 5 : 1;
        while (count[SCRAPE_MODES - 1] < reps) {
            for (int m = 0; m < SCRAPE_MODES; m++) {
                scraper_t sc = {.obs = mid, .mode = m, .port = port, .buf = buf, .size = size};
                pthread_t th;
                if (m != SCRAPE_NONE) {
                    int rc = pthread_create (&th, NULL, scraper_main, &sc);
                    if (rc != 0) {
                        errno = rc;
                        fail ("pthread_create");
                    }
                    /* steady state: the first scrape is done */
                    uint64_t deadline = bench_now_ns () + WAIT_LIMIT_NS;
                    while (__atomic_load_n (&sc.scrapes, __ATOMIC_RELAXED) == 0) {
                        if (bench_now_ns () > deadline
                            || __atomic_load_n (&sc.failures, __ATOMIC_RELAXED) > 100) {
                            errno = ETIMEDOUT;
                            fail ("waiting for a first scrape");
                        }
                        sleep_ms (1);
                    }
                }
                uint64_t s0 = __atomic_load_n (&sc.scrapes, __ATOMIC_RELAXED);
                uint64_t by0 = __atomic_load_n (&sc.bytes, __ATOMIC_RELAXED);
                uint64_t t0 = bench_now_ns ();
                for (int k = 0; k < block && count[m] < reps; k++)
                    lat[m][count[m]++] = connect_to_gauge (ctx, &b_mid);
                busy_ns[m] += bench_now_ns () - t0;
                scrapes[m] += __atomic_load_n (&sc.scrapes, __ATOMIC_RELAXED) - s0;
                bytes[m] += __atomic_load_n (&sc.bytes, __ATOMIC_RELAXED) - by0;
                if (m != SCRAPE_NONE) {
                    __atomic_store_n (&sc.stop, 1, __ATOMIC_RELAXED);
                    pthread_join (th, NULL);
                    failures[m] += sc.failures;
                }
            }
        }
        printf ("\n4. zmq_connect -> connections gauge 1 with %d idle sockets attached, "
                "while another thread scrapes (%d repetitions each, in blocks of %d)\n",
                n_mid, reps, block);
        double p50[SCRAPE_MODES];
        for (int m = 0; m < SCRAPE_MODES; m++) {
            p50[m] = percentile (lat[m], reps, 0.5);
            double p90 = percentile (lat[m], reps, 0.9);
            printf ("   %-26s p50 %.1f us, p90 %.1f us", mode_name[m], p50[m], p90);
            if (m != SCRAPE_NONE && scrapes[m])
                printf ("; %.0f scrapes/s of %.0f KB%s", (double) scrapes[m] * 1e9 / busy_ns[m],
                        (double) bytes[m] / scrapes[m] / 1e3, failures[m] ? ", some FAILED" : "");
            printf ("\n");
        }
        printf ("   zmqobs_format:\n");
        verdict ("4 connect->gauge p50, format scraped / not", p50[SCRAPE_FORMAT] / p50[0], 1.5, 0);
        printf ("   HTTP:\n");
        verdict ("4 connect->gauge p50, HTTP scraped / not", p50[SCRAPE_HTTP] / p50[0], 1.5, 0);
        for (int m = 0; m < SCRAPE_MODES; m++)
            free (lat[m]);
        free (buf);
        zmqobs_serve_stop (mid);
        uint64_t t0 = bench_now_ns ();
        detach_idle (&idle_mid);
        busy_close (&b_mid);
        zmqobs_destroy (&mid);
        printf ("   (teardown of this observer: %.3f s)\n", (double) (bench_now_ns () - t0) / 1e9);
    }

    busy_close (&b_none);
    zmqobs_destroy (&none);
    if (zmq_ctx_term (ctx) != 0)
        fail ("zmq_ctx_term");

    printf ("\nsummary (N = %d)\n", n_big);
    for (int i = 0; i < nresults; i++) {
        const result_t *r = &results[i];
        int met = r->at_least ? r->ratio >= r->goal : r->ratio <= r->goal;
        if (isnan (r->ratio)) {
            printf ("  %-45s  not measured\n", r->what);
            continue;
        }
        printf ("  %-45s %9.3f   goal %s %-4g %s\n", r->what, r->ratio,
                r->at_least ? ">=" : "<=", r->goal, met ? "met" : "NOT MET");
    }
    return 0;
}
