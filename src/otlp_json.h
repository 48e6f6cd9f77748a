/*
 * otlp_json.h - an OTLP/JSON ExportMetricsServiceRequest of every metric
 * (otlp_json.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_OTLP_JSON_H
#define ZMQOBS_OTLP_JSON_H

#include "fmt_common.h"

/* Writes the request for the scrape's pinned sockets (n of them), the
 * application metrics and the process metrics p (NULL: none) into o, as
 * of now_ns (Unix time). Never allocates. */
void zmqobs__otlp_json (zmqobs_out_t *o, zmqobs_t *obs, zmqobs_socket_t *const *socks, size_t n,
                        const zmqobs__process_t *p, uint64_t now_ns);

#endif /* ZMQOBS_OTLP_JSON_H */
