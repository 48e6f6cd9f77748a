/*
 * testutil.h - helpers shared by the Check test programs.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_TESTUTIL_H
#define ZMQOBS_TESTUTIL_H

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Under sanitizers and valgrind everything is slower; Check multiplies
 * its timeouts by CK_TIMEOUT_MULTIPLIER, and so do our watchdogs. */
static inline unsigned testutil_scaled (unsigned seconds)
{
    const char *m = getenv ("CK_TIMEOUT_MULTIPLIER");
    unsigned k = m ? (unsigned) atoi (m) : 1;
    return seconds * (k ? k : 1);
}

static inline void testutil_sleep_ms (long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep (&ts, NULL);
}

/* Waits until cond holds, driving the observer obs meanwhile when hd (a
 * host-driven observer) is set, else sleeping 1 ms per round; fails the
 * test after limit_ms rounds, far beyond what a healthy run needs. */
#define TESTUTIL_PUMP_UNTIL(obs, hd, cond, limit_ms)                         \
    do {                                                                     \
        for (long waited_ = 0; !(cond) && waited_ < (limit_ms); waited_++) { \
            if (hd)                                                          \
                zmqobs_process ((obs), 1);                                   \
            else                                                             \
                testutil_sleep_ms (1);                                       \
        }                                                                    \
        ck_assert_msg ((cond), "timed out waiting for: %s", #cond);          \
    } while (0)

/* A hang fails the test instead of stalling CI: SIGALRM's default action
 * kills the process (or the forked test child). */
static inline void testutil_watchdog (unsigned seconds)
{
    alarm (testutil_scaled (seconds));
}

/* Runs a suite and returns the process exit status. */
static inline int testutil_run (Suite *suite)
{
    SRunner *runner = srunner_create (suite);
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Adds a test case with a timeout (seconds, scaled by Check itself). */
static inline TCase *testutil_tcase (Suite *suite, const char *name, double timeout)
{
    TCase *tc = tcase_create (name);
    tcase_set_timeout (tc, timeout);
    suite_add_tcase (suite, tc);
    return tc;
}

/* Creates a private temporary directory; returns 0 and fills path. */
static inline int testutil_tmpdir (char *path, size_t size)
{
    const char *base = getenv ("TMPDIR");
    snprintf (path, size, "%s/zmqobs-test-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp (path) ? 0 : -1;
}

/* The Python with Debian's python3-zmq and python3-prometheus-client. */
#define TESTUTIL_PYTHON "/usr/bin/python3"

#endif /* ZMQOBS_TESTUTIL_H */
