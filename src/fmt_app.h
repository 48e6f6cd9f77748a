/*
 * fmt_app.h - the application metrics in each exposition format
 * (fmt_app.c). Each writer runs under obs->scrape_lock, which keeps the
 * families and their metrics from changing; none allocates.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_FMT_APP_H
#define ZMQOBS_FMT_APP_H

#include "appmetric.h"

/* The families in text 0.0.4 (openmetrics 0) or OpenMetrics 1.0.0, with
 * the observer's prefix and constant labels. */
void zmqobs__fmt_app_prom (zmqobs_out_t *o, const zmqobs_t *obs, int openmetrics);
/* A JSON array, one object per metric. */
void zmqobs__fmt_app_json (zmqobs_out_t *o, const zmqobs_t *obs);
/* The report's "application" section; nothing when there are none. */
void zmqobs__fmt_app_text (zmqobs_out_t *o, const zmqobs_t *obs);

#endif /* ZMQOBS_FMT_APP_H */
