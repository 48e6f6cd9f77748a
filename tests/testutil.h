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
#include <unistd.h>

/* Under sanitizers and valgrind everything is slower; Check multiplies
 * its timeouts by CK_TIMEOUT_MULTIPLIER, and so do our watchdogs. */
static inline unsigned testutil_scaled (unsigned seconds)
{
    const char *m = getenv ("CK_TIMEOUT_MULTIPLIER");
    unsigned k = m ? (unsigned) atoi (m) : 1;
    return seconds * (k ? k : 1);
}

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
