/*
 * fmt_proto.h - the Prometheus protobuf exposition (fmt_proto.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_FMT_PROTO_H
#define ZMQOBS_FMT_PROTO_H

#include "fmt_common.h"

/* Every family of the text exposition, same names (counters with
 * _total, as in text 0.0.4), help, types, labels and values, as delimited
 * io.prometheus.client.MetricFamily messages, into o. Families without a
 * series are left out. Never allocates. */
void zmqobs__fmt_proto (zmqobs_out_t *o, zmqobs_t *obs, zmqobs_socket_t *const *socks, size_t n,
                        const zmqobs__process_t *p);

#endif /* ZMQOBS_FMT_PROTO_H */
