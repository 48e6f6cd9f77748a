/*
 * test_limits.c - zmqobs_attach at libzmq's socket ceiling. Each attach
 * takes two sockets of the context (libzmq's monitor socket and the
 * library's reader), and for an instant a third (the probe that checks
 * the socket's context), so a context created with ZMQ_MAX_SOCKETS = 10
 * runs out after a few attaches. A host-driven observer takes one more
 * socket for itself (the sentinel that notices zmq_ctx_term). The attach that does not fit fails with
 * EMFILE, leaves the host socket as it was and the context clean (no
 * socket, no pending inproc connection), and succeeds once room is freed.
 *
 * libzmq frees a closed socket's slot asynchronously, in its reaper
 * thread, so every count of free slots waits for closes to settle.
 *
 * SPDX-License-Identifier: MIT
 */
#include "internal.h"
#include "testutil.h"

#include <pthread.h>

#define MAX_SOCKETS 10

static void *limited_ctx (void)
{
    void *ctx = zmq_ctx_new ();
    ck_assert_ptr_nonnull (ctx);
    ck_assert_int_eq (zmq_ctx_set (ctx, ZMQ_MAX_SOCKETS, MAX_SOCKETS), 0);
    return ctx;
}

static zmqobs_t *observer (void *ctx, int host_driven)
{
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    opts.host_driven = host_driven;
    zmqobs_t *obs = zmqobs_new (ctx, &opts);
    ck_assert_ptr_nonnull (obs);
    return obs;
}

static void *zsocket (void *ctx, int type)
{
    void *s = zmq_socket (ctx, type);
    ck_assert_ptr_nonnull (s);
    int zero = 0;
    ck_assert_int_eq (zmq_setsockopt (s, ZMQ_LINGER, &zero, sizeof zero), 0);
    return s;
}

/* A socket, waiting (1 ms per try) while the context is full of sockets
 * closed but not yet freed. */
static void *zsocket_when_free (void *ctx, int type)
{
    void *s;
    for (int tries = 0; (s = zmq_socket (ctx, type)) == NULL && tries < 10000; tries++) {
        ck_assert_int_eq (errno, EMFILE);
        testutil_sleep_ms (1);
    }
    ck_assert_ptr_nonnull (s);
    return s;
}

/* How many sockets the context lets open now: opens them until EMFILE,
 * then closes them (so that, right after, fewer may be free until libzmq
 * has freed these too). */
static int open_now (void *ctx)
{
    void *s[MAX_SOCKETS + 1];
    int n = 0;
    while (n <= MAX_SOCKETS && (s[n] = zmq_socket (ctx, ZMQ_PAIR)) != NULL)
        n++;
    if (n <= MAX_SOCKETS)
        ck_assert_int_eq (errno, EMFILE);
    for (int i = 0; i < n; i++)
        zmq_close (s[i]);
    return n;
}

/* Checks that exactly `expected` slots are free once the closes in flight
 * are done. Closes only ever free slots, so the count seen now is at most
 * the settled one, and the settled one is at most `expected` unless
 * something freed more than it took: waiting until the count is seen
 * once is exact. A leaked socket keeps it below, and the test fails. */
static void expect_free (void *ctx, int expected)
{
    int n = -1;
    long limit = 10000L * (long) testutil_scaled (1);
    for (long tries = 0; tries < limit && (n = open_now (ctx)) < expected; tries++)
        testutil_sleep_ms (1);
    ck_assert_int_eq (n, expected);
}

/* Attaches until the context is full: returns how many attached. */
static int attach_until_full (zmqobs_t *obs, void **zs, zmqobs_socket_t **as, int n, int *err)
{
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf (name, sizeof name, "s%d", i);
        errno = 0;
        as[i] = zmqobs_attach (obs, zs[i], name);
        if (!as[i]) {
            *err = errno;
            return i;
        }
    }
    *err = 0;
    return n;
}

/* With 4 host sockets, 2 attaches fill the context to 8 of 10, and a
 * third fits only if libzmq frees the probes in time. The first attach
 * that does not fit fails with EMFILE, takes nothing (every slot is free
 * again once the closes settle), leaves the host socket usable and
 * unmonitored, and attaches once detaches have made room. */
static void emfile_at_ceiling (int host_driven)
{
    testutil_watchdog (60);
    void *ctx = limited_ctx ();
    zmqobs_t *obs = observer (ctx, host_driven);
    void *zs[4];
    zmqobs_socket_t *as[4] = {NULL};
    for (int i = 0; i < 4; i++)
        zs[i] = zsocket (ctx, ZMQ_DEALER);
    int err = 0;
    int attached = attach_until_full (obs, zs, as, 4, &err);
    int own = host_driven ? 1 : 0; /* the observer's sentinel */
    ck_assert_int_ge (attached, 2 - own);
    ck_assert_int_le (attached, 3 - own);
    ck_assert_int_eq (err, EMFILE);
    ck_assert_int_eq (zmqobs_socket_count (obs), attached);
    /* nothing of the failed attach is left in the context */
    int room = MAX_SOCKETS - 4 - own - 2 * attached;
    expect_free (ctx, room);
    void *failed = zs[attached];
    /* the host socket was left as it was: no monitor of ours, so a bind
     * does not wait for a reader, and the socket works */
    ck_assert_int_eq (zmq_bind (failed, "tcp://127.0.0.1:*"), 0);
    /* with one slot free an attach can never fit: still EMFILE, still
     * nothing taken */
    void *filler[2];
    for (int i = 0; i < room - 1; i++)
        filler[i] = zsocket_when_free (ctx, ZMQ_PAIR);
    errno = 0;
    ck_assert_ptr_null (zmqobs_attach (obs, failed, "late"));
    ck_assert_int_eq (errno, EMFILE);
    ck_assert_int_eq (zmqobs_socket_count (obs), attached);
    expect_free (ctx, room > 0 ? 1 : 0);
    for (int i = 0; i < room - 1; i++)
        zmq_close (filler[i]);
    /* two detaches give back four slots (once libzmq has freed them; one
     * gives two, when only one fitted), room for the attach and its probe: the socket that did not fit
     * attaches now, and its monitor works */
    zmqobs_detach (&as[0]);
    zmqobs_detach (&as[1]);
    expect_free (ctx, room + 2 * (attached < 2 ? attached : 2));
    zmqobs_socket_t *late = NULL;
    for (int tries = 0; !late && tries < 10000; tries++) {
        late = zmqobs_attach (obs, failed, "late");
        if (!late) {
            /* only while expect_free's own sockets are being freed */
            ck_assert_int_eq (errno, EMFILE);
            testutil_sleep_ms (1);
        }
    }
    ck_assert_ptr_nonnull (late);
    ck_assert_int_eq (zmq_bind (failed, "tcp://127.0.0.1:*"), 0);
    /* the bind made before the attach is counted by attach (it sends no
     * LISTENING), the new one by its LISTENING */
    zmqobs_stats_t st = {0};
    TESTUTIL_PUMP_UNTIL (obs, host_driven,
                         zmqobs_socket_stats (late, &st) == 0 && st.listening == 2, 10000);
    zmqobs_detach (&late);
    for (int i = 0; i < 4; i++) {
        zmqobs_detach (&as[i]);
        zmq_close (zs[i]);
    }
    zmqobs_destroy (&obs);
    ck_assert_int_eq (zmq_ctx_term (ctx), 0);
}

START_TEST (test_emfile_threaded)
{
    emfile_at_ceiling (0);
}
END_TEST

START_TEST (test_emfile_host_driven)
{
    emfile_at_ceiling (1);
}
END_TEST

static void *term_thread (void *ctx)
{
    return (void *) (intptr_t) zmq_ctx_term (ctx);
}

/* A failed attach must not leave a pending inproc connection in the
 * context: zmq_ctx_term opens a socket for each one, and with every slot
 * taken by the host it could not (libzmq asserts). Attach fails many
 * times at the ceiling (at whichever step runs out: reader, probe or
 * monitor), then the host takes every slot and terminates the context on
 * another thread while its sockets are open, and closes them when they
 * report ETERM. */
START_TEST (test_failed_attach_leaves_term_clean)
{
    testutil_watchdog (60);
    void *ctx = limited_ctx ();
    zmqobs_t *obs = observer (ctx, 1);
    void *host = zsocket (ctx, ZMQ_DEALER);
    void *fill[MAX_SOCKETS];
    int failures = 0;
    for (int round = 0; round < 30; round++) {
        /* 1 slot free: the reader takes it, the probe finds none. 2: the
         * reader and the probe take them, and the monitor finds none
         * unless libzmq freed the probe's in between (then the attach
         * succeeds, and is undone) */
        int room = 1 + round % 2;
        int free_now = MAX_SOCKETS - 2; /* the host socket's and the sentinel's taken */
        expect_free (ctx, free_now);
        int n = 0;
        while (n < free_now - room)
            fill[n++] = zsocket_when_free (ctx, ZMQ_PAIR);
        errno = 0;
        zmqobs_socket_t *s = zmqobs_attach (obs, host, "host");
        if (s)
            zmqobs_detach (&s);
        else {
            ck_assert_int_eq (errno, EMFILE);
            failures++;
        }
        for (int i = 0; i < n; i++)
            zmq_close (fill[i]);
    }
    ck_assert_int_ge (failures, 15);
    ck_assert_int_eq (zmqobs_socket_count (obs), 0);
    zmqobs_destroy (&obs);
    /* every slot taken */
    int n = 0;
    int free_now = MAX_SOCKETS - 1;
    expect_free (ctx, free_now);
    while (n < free_now)
        fill[n++] = zsocket_when_free (ctx, ZMQ_PAIR);
    pthread_t t;
    ck_assert_int_eq (pthread_create (&t, NULL, term_thread, ctx), 0);
    /* the sockets learn of the termination, then close */
    char buf[1];
    ck_assert_int_eq (zmq_recv (host, buf, sizeof buf, 0), -1);
    ck_assert_int_eq (errno, ETERM);
    zmq_close (host);
    for (int i = 0; i < n; i++)
        zmq_close (fill[i]);
    void *rc;
    pthread_join (t, &rc);
    ck_assert_int_eq ((int) (intptr_t) rc, 0);
}
END_TEST

int main (void)
{
    Suite *suite = suite_create ("limits");
    TCase *tc = testutil_tcase (suite, "max_sockets", 60);
    tcase_add_test (tc, test_emfile_threaded);
    tcase_add_test (tc, test_emfile_host_driven);
    tcase_add_test (tc, test_failed_attach_leaves_term_clean);
    return testutil_run (suite);
}
