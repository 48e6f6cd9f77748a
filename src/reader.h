/*
 * reader.h - the reading side of the monitors (reader.c) and the state
 * the monitor module shares with it.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_READER_H
#define ZMQOBS_READER_H

#include "loop.h"

/* s->monitor_state; changes under the loop's lock */
enum {
    MS_NONE = 0,
    MS_ACTIVE,   /* the loop drains s->reader */
    MS_STOPPING, /* detach asked: drain until MONITOR_STOPPED or deadline */
    MS_ORPHAN,   /* detach found the handle closed: the loop adopts the
                    reader as an orphan */
    MS_DONE      /* reader closed or adopted; the loop never touches s again */
};

/* s->req_state and s->req_op, under the loop's lock: a request of the
 * socket's owner thread that the loop serves in order with the events
 * queued on the socket's reader (threaded mode) */
enum { REQ_NONE = 0, REQ_ASKED, REQ_TAKEN };
enum {
    OP_DRAIN = 1, /* detach: take what is queued (a MONITOR_STOPPED?) */
    OP_CLOSE,     /* zmqobs_disconnect, zmqobs_unbind */
    OP_OPEN       /* zmqobs_connect */
};

/* A reader in the loop's epoll set: a socket's, or an orphan's once its
 * socket is gone (allocated with the socket, so adopting never
 * allocates). */
typedef struct zmqobs_rnode {
    zmqobs_loop_node_t ln; /* first: the loop's node */
    void *reader;          /* the PAIR, NULL once closed */
    zmqobs_socket_t *s;    /* its socket, NULL for an orphan */
    int fd;                /* the reader's ZMQ_FD, -1 once closed */
    zmqobs_dlink_t orphan; /* on mon->orphans */
} rnode_t;

struct zmqobs_monitor {
    zmqobs_t *obs;
    pthread_mutex_t *lock; /* the loop's: lists, states, requests */
    pthread_cond_t *cond;  /* signalled when a socket's state changes */
    zmqobs_dlink_t all;    /* every socket with a monitor (mon_link) */
    size_t count;
    size_t reserved;         /* attaches in progress, each with room kept */
    zmqobs_dlink_t todo;     /* sockets with news for the loop */
    zmqobs_dlink_t stopping; /* detaches waiting for MONITOR_STOPPED */
    zmqobs_dlink_t orphans;  /* readers of sockets the host closed too early */
    size_t norphans;
    zmqobs_socket_t *serving; /* a request taken by prepare (draining thread) */
};

/* The hooks the loop turns with. */
extern const zmqobs_loop_hooks_t zmqobs__reader_hooks;

/* Reads one whole monitor message from sock without waiting and handles
 * it as an event of s (malformed ones are counted). Returns 1 if a message
 * was handled, 2 if it was s's own MONITOR_STOPPED (s is done then, and
 * may be freed), 0 if none was pending, -1 with errno (ETERM, ...). The
 * drain loop calls it on s->reader; tests call it on a socket of their
 * own to inject frames. The caller must be the draining thread. */
int zmqobs__monitor_recv (zmqobs_t *obs, zmqobs_socket_t *s, void *sock);
/* Closes s's reader (out of the epoll set first). Draining thread. */
void zmqobs__close_reader (struct zmqobs_monitor *mon, zmqobs_socket_t *s);
/* Marks s done (its reader closed) and wakes its detach; lock held. */
void zmqobs__finish_locked (struct zmqobs_monitor *mon, zmqobs_socket_t *s);
/* ETERM: closes every reader so zmq_ctx_term can complete; from now on no
 * host socket is touched. Lock held, draining thread. */
void zmqobs__terminate_locked (struct zmqobs_monitor *mon);
/* Moves s's reader to the orphans; s is done. Lock held, draining
 * thread. */
void zmqobs__adopt_locked (struct zmqobs_monitor *mon, zmqobs_socket_t *s);
/* What a request does once the events queued before it are counted. */
void zmqobs__apply_request (zmqobs_socket_t *s);
/* Hands the orphans left at zmqobs_destroy to a thread of their own. */
void zmqobs__rehome_orphans (struct zmqobs_monitor *mon);
/* Threads still draining the monitors of sockets the host closed before
 * detaching them, after their observer was destroyed (for tests). */
int zmqobs__orphanages (void);
/* Orphan readers the observer is draining now (for tests). */
size_t zmqobs__orphan_count (zmqobs_t *obs);

#endif /* ZMQOBS_READER_H */
