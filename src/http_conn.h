/*
 * http_conn.h - the built-in server's state and its connections
 * (http_conn.c), shared with the server's lifecycle (http.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_HTTP_CONN_H
#define ZMQOBS_HTTP_CONN_H

#include "http_parse.h"
#include "platform.h"
#include "zmqobs_private.h"

/* Most simultaneous connections. A scraper needs one; the rest is slack
 * for tools and probes. */
#define MAX_CONNS 16
/* Response buffer each slot starts with: enough for every response but
 * /metrics, so error answers never need to allocate. */
#define SMALL_OUT 4096
/* Room reserved in front of a /metrics body for the status line and
 * headers, which are written after the body's length is known. */
#define HDR_RESERVE 256
/* A body larger than this is refused with 500 rather than allocated. */
#define BODY_MAX (64u << 20)
/* Connections accepted per dispatch: a connect flood cannot starve the
 * monitors sharing the loop, and, being half the table, a connection is
 * polled at least once before newer ones can push it out. */
#define ACCEPT_BURST (MAX_CONNS / 2)

#define MS 1000000ull

enum conn_state { C_FREE = 0, C_OPEN, C_LINGER };

struct conn {
    int fd;
    int state;          /* enum conn_state */
    int close_after;    /* close once the pending output is sent */
    int peer_eof;       /* the client shut down its sending side */
    unsigned served;    /* responses started on this connection */
    uint64_t seq;       /* accept order, for eviction */
    uint64_t last_ns;   /* last progress (accept, bytes in or out) */
    uint64_t req_ns;    /* first byte of the pending request, 0 = none */
    uint64_t linger_ns; /* when lingering started */
    size_t in_len;      /* bytes of request data buffered */
    char *out;          /* response buffer, out_cap bytes */
    size_t out_cap;
    size_t out_off, out_end; /* pending output is out[out_off, out_end) */
    int epfd;                /* the server's epoll set */
    uint32_t reg;            /* events registered there, 0 = none */
    char in[ZMQOBS__HTTP_HEAD_MAX];
};

struct zmqobs_http {
    pthread_mutex_t mu;  /* guards everything below */
    pthread_cond_t idle; /* users dropped to 0 (waited on with obs->lock) */
    int users;           /* loop calls in progress; guarded by obs->lock */
    int listen_fd;       /* -1 when not serving */
    int port;
    uint64_t seq;
    uint64_t accept_pause; /* monotonic ns until which accept rests */
    size_t body_hint;      /* last /metrics body size, to pre-size buffers */
    uint64_t idle_ns, request_ns, write_ns, linger_ns;
    struct conn *conns;  /* MAX_CONNS slots, allocated at serve time */
    int epfd;            /* listener, connections and wake.rd */
    zmqobs__wakefd_t wake; /* serve, stop and quit wake the waiter */
    uint32_t listen_reg; /* events registered for the listener */
    pthread_t thread;    /* threaded mode: the server's own thread */
    int has_thread;
    int quit;
    int source; /* host-driven mode: the loop source, or -1 */
};

/* Closes a connection (out of the epoll set first) and frees its slot. */
void zmqobs__conn_close (struct conn *c);
/* Answers the complete requests buffered on c, as far as output drains. */
void zmqobs__conn_serve (zmqobs_t *obs, struct zmqobs_http *h, struct conn *c, uint64_t now);
/* Reads what c has sent (or discards it while lingering), then serves. */
void zmqobs__conn_read (zmqobs_t *obs, struct zmqobs_http *h, struct conn *c, uint64_t now);
/* When c's current phase times out, monotonic ns. */
uint64_t zmqobs__conn_deadline (const struct zmqobs_http *h, const struct conn *c);
/* Closes (or answers 408 to) every connection past its deadline. */
void zmqobs__expire (struct zmqobs_http *h, uint64_t now);
/* Accepts a burst of new connections, evicting the least useful. */
void zmqobs__accept_some (struct zmqobs_http *h, uint64_t now);

#endif /* ZMQOBS_HTTP_CONN_H */
