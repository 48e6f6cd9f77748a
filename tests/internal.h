/*
 * internal.h - every internal module header, for the tests, fuzzers and
 * benchmarks that reach inside the library.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_TESTS_INTERNAL_H
#define ZMQOBS_TESTS_INTERNAL_H

#include "accounting.h"
#include "base.h"
#include "eventlog.h"
#include "events.h"
#include "accept.h"
#include "fmt_common.h"
#include "http.h"
#include "http_conn.h"
#include "http_parse.h"
#include "loop.h"
#include "metrics.h"
#include "monitor.h"
#include "process.h"
#include "reader.h"
#include "window.h"
#include "registry.h"
#include "zmqobs_private.h"

#endif /* ZMQOBS_TESTS_INTERNAL_H */
