/*
 * fmt_common.c - the metric families every format prints, and the name
 * tables (lengths, and which event bits have names), built once.
 *
 * SPDX-License-Identifier: MIT
 */
#include "fmt_common.h"

#include <pthread.h>
#include <string.h>

/* Test hook (see fmt_common.h): a fixed uptime for golden outputs. */
uint64_t zmqobs__test_uptime_ns = 0;

/* ------------------------------------------------------------------------
 * Name tables, built once: lengths and which event bits have names
 * ---------------------------------------------------------------------- */

name_t zmqobs__event_names[ZMQOBS_EVENT_SLOTS]; /* name NULL: unknown bit */
name_t zmqobs__errno_names[ZMQOBS_ERRNO_SLOTS]; /* name NULL: unused slot */
name_t zmqobs__handshake_names[ZMQOBS_HANDSHAKE_SLOTS];

static void set_name (name_t *n, const char *s)
{
    /* "UNKNOWN" slots are skipped: several of them would be one series. */
    if (strcmp (s, "UNKNOWN") == 0)
        return;
    n->name = s;
    n->len = strlen (s);
}

static void build_tables (void)
{
    for (unsigned i = 0; i < ZMQOBS_EVENT_SLOTS; i++)
        set_name (&zmqobs__event_names[i], zmqobs_event_name (1u << i));
    for (unsigned i = 0; i < ZMQOBS_ERRNO_SLOTS; i++)
        set_name (&zmqobs__errno_names[i], zmqobs_errno_slot_name (i));
    for (unsigned i = 0; i < ZMQOBS_HANDSHAKE_SLOTS; i++)
        set_name (&zmqobs__handshake_names[i], zmqobs_handshake_slot_name (i));
}

/* ------------------------------------------------------------------------
 * Families
 * ---------------------------------------------------------------------- */

const family_t zmqobs__socket_families[F_SOCKET_COUNT] = {
    [F_MSGS_SENT] = {"zmq_messages_sent", COUNTER, NULL,
                     "Message parts sent through the zmqobs wrappers or record calls."},
    [F_MSGS_RECV] = {"zmq_messages_received", COUNTER, NULL,
                     "Message parts received through the zmqobs wrappers or record calls."},
    [F_BYTES_SENT] = {"zmq_bytes_sent", COUNTER, NULL, "Payload bytes sent."},
    [F_BYTES_RECV] = {"zmq_bytes_received", COUNTER, NULL, "Payload bytes received."},
    [F_ERRORS] = {"zmq_errors", COUNTER, NULL,
                  "Failed sends and receives by operation and errno name; EAGAIN is "
                  "counted apart in zmq_would_block_total."},
    [F_WOULD_BLOCK] = {"zmq_would_block", COUNTER, NULL,
                       "Sends and receives that failed with EAGAIN (flow control, not an "
                       "error; kept out of zmq_errors_total)."},
    [F_EVENTS] = {"zmq_socket_events", COUNTER, NULL,
                  "libzmq monitor events by event name (every known event, zeros "
                  "included)."},
    [F_CONNECTIONS] = {"zmq_connections", GAUGE, NULL, "Peers connected now."},
    [F_LISTENING] = {"zmq_listening", GAUGE, NULL, "Endpoints the socket listens on now."},
    [F_MONITOR_UP] = {"zmq_monitor_up", GAUGE, NULL,
                      "1 while the library's monitor on the socket is live; 0 once it stopped "
                      "unasked (another monitor replaced it, or the context is terminating)."},
    [F_HANDSHAKE] = {"zmq_handshake_failures", COUNTER, NULL,
                     "Failed ZMTP, CURVE or ZAP handshakes by reason (reasons seen at "
                     "least once)."},
    [F_RECONNECTS] = {"zmq_reconnects", COUNTER, NULL,
                      "Reconnection attempts (CONNECT_RETRIED events)."},
    [F_MALFORMED] = {"zmq_monitor_malformed", COUNTER, NULL,
                     "Monitor messages that could not be decoded and were skipped."},
    [F_QUEUE_DEPTH] = {"zmq_queue_depth", GAUGE, NULL, "Queue length as set by the application."},
    [F_SNDHWM] = {"zmq_sndhwm", GAUGE, NULL,
                  "ZMQ_SNDHWM of the socket (read at attach and by zmqobs_setsockopt; 0 = "
                  "no limit)."},
    [F_RCVHWM] = {"zmq_rcvhwm", GAUGE, NULL,
                  "ZMQ_RCVHWM of the socket (read at attach and by zmqobs_setsockopt; 0 = "
                  "no limit)."},
    [F_PROXY_IN_FLIGHT] = {"zmq_proxy_in_flight", GAUGE, NULL,
                           "Requests zmqobs_proxy forwarded to the backend that have no reply "
                           "yet (on the proxy's frontend socket)."},
    [F_LATENCY] = {"zmq_message_latency_seconds", HISTOGRAM, "seconds",
                   "Message latency since attach."},
    [F_WINDOW] = {"zmq_message_latency_window_seconds", SUMMARY, "seconds",
                  "Exact message latency quantiles over the most recent samples; _sum and "
                  "_count cover only that window."},
};

const family_t zmqobs__peer_families[PF_COUNT] = {
    [PF_MSGS_RECV] = {"zmq_peer_messages_received", COUNTER, NULL,
                      "Message parts received per peer (tracked peers, the rest as "
                      "peer=\"other\")."},
    [PF_MSGS_SENT] = {"zmq_peer_messages_sent", COUNTER, NULL,
                      "Message parts sent per peer (tracked peers, the rest as "
                      "peer=\"other\")."},
    [PF_BYTES_RECV] = {"zmq_peer_bytes_received", COUNTER, NULL,
                       "Payload bytes received per peer."},
    [PF_BYTES_SENT] = {"zmq_peer_bytes_sent", COUNTER, NULL, "Payload bytes sent per peer."},
    [PF_TRACKED] = {"zmq_peers_tracked", GAUGE, NULL,
                    "Peers tracked by name now (at most the socket's max_peers)."},
};

const family_t zmqobs__process_families[P_COUNT] = {
    [P_CPU] = {"process_cpu_seconds", COUNTER, "seconds",
               "Total user and system CPU time spent in seconds."},
    [P_OPEN_FDS] = {"process_open_fds", GAUGE, NULL, "Number of open file descriptors."},
    [P_MAX_FDS] = {"process_max_fds", GAUGE, NULL, "Maximum number of open file descriptors."},
    [P_VMEM] = {"process_virtual_memory_bytes", GAUGE, "bytes", "Virtual memory size in bytes."},
    [P_RSS] = {"process_resident_memory_bytes", GAUGE, "bytes", "Resident memory size in bytes."},
    [P_START] = {"process_start_time_seconds", GAUGE, "seconds",
                 "Start time of the process since unix epoch in seconds."},
    [P_THREADS] = {"process_threads", GAUGE, NULL, "Number of OS threads in the process."},
};

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

void zmqobs__format_tables (void)
{
    pthread_once (&tables_once, build_tables);
}
