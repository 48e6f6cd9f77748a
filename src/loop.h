/*
 * loop.h - the draining loop (loop.c): one epoll set with a ready list, a
 * wake eventfd, the thread (or the host's zmqobs_process), and a table of
 * sources. It knows nothing of monitors: the monitor module plugs in
 * through the hooks.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_LOOP_H
#define ZMQOBS_LOOP_H

#include "platform.h"
#include "zmqobs_private.h"

/* A node of the epoll set. Owners embed it first in their own records;
 * the epoll data points at it. */
enum { ZMQOBS__N_WAKE = 1, ZMQOBS__N_SOURCE, ZMQOBS__N_READER };
typedef struct zmqobs_loop_node {
    int kind;
    int source;           /* N_SOURCE: its index */
    zmqobs_dlink_t ready; /* on the ready list */
} zmqobs_loop_node_t;

/* What draining a node found (the drain hook's result). */
enum {
    ZMQOBS__D_IDLE = 0, /* nothing left: off the ready list until its fd fires */
    ZMQOBS__D_MORE,     /* the budget ran out: stays on the ready list */
    ZMQOBS__D_GONE,     /* closed (and maybe freed): never touch it again */
    ZMQOBS__D_TERM      /* ETERM: the context is going away */
};

/* The monitor module's side of a turn. prepare, due_ms and terminate run
 * with the loop's lock held; serve and drain without it in threaded mode
 * (host-driven mode holds it throughout a zmqobs_process). */
typedef struct {
    /* takes in the owner threads' changes; returns the poll timeout that
     * pending deadlines allow (-1 none) */
    long (*prepare) (zmqobs_t *obs);
    /* serves a request prepare took (if any): 1 served, 0 none, -1 ETERM */
    int (*serve) (zmqobs_t *obs);
    /* 1 when a request waits to be served (the next turn must not wait) */
    int (*busy) (zmqobs_t *obs);
    /* like prepare's timeout, read-only: 0 when work is pending */
    long (*due_ms) (zmqobs_t *obs);
    /* drains up to budget messages of a reader node (ZMQOBS__D_*) */
    int (*drain) (zmqobs_t *obs, zmqobs_loop_node_t *node, int budget, int *events);
    /* ETERM: close every reader (the loop then forgets its ready list) */
    void (*terminate) (zmqobs_t *obs);
} zmqobs_loop_hooks_t;

#define ZMQOBS__SOURCES_MAX 4
typedef struct {
    zmqobs_loop_node_t node; /* first: the epoll data points here */
    int fd;
    long (*timeout_ms) (zmqobs_t *);
    void (*run) (zmqobs_t *);
} zmqobs_source_t;

struct zmqobs_loop {
    pthread_mutex_t lock; /* hooks' state, quit, terminated, sources */
    pthread_cond_t cond;  /* the monitor's waits (its states changed) */
    zmqobs__wakefd_t efd; /* wakes the loop */
    int epfd;             /* epoll: readers, efd, sources */
    pthread_t thread;
    int has_thread;
    int quit;
    int terminated; /* ETERM seen: readers closed */
    int waiters;    /* host-driven: calls that need the lock, in progress */
    zmqobs_loop_node_t wake_node;
    zmqobs_source_t sources[ZMQOBS__SOURCES_MAX];
    zmqobs_loop_hooks_t hooks;
    /* host-driven mode: a thread that waits for zmq_ctx_term alone (on a
     * socket of its own) and closes the readers then, since the host's
     * loop may never run again; watch_efd ends it at destroy */
    pthread_t watcher;
    int has_watcher;
    zmqobs__wakefd_t watch_efd;
    void *sentinel; /* the watcher's PAIR socket */
    /* the draining thread's (the lock's holder in host-driven mode) */
    zmqobs_dlink_t ready;
};

/* Creates the loop (and, unless host-driven, its thread, which starts
 * turning at once); -1 with errno. */
int zmqobs__loop_init (zmqobs_t *obs, const zmqobs_loop_hooks_t *hooks);
/* Stops and joins the thread; the hooks are never called again. */
void zmqobs__loop_stop (zmqobs_t *obs);
/* Frees the loop (after stop). */
void zmqobs__loop_free (zmqobs_t *obs);
/* Wakes the loop (makes its descriptor readable). Any thread. */
void zmqobs__loop_wake (zmqobs_t *obs);
/* Watches fd (edge-triggered) for node; -1 with errno. Under the lock. */
int zmqobs__loop_watch (zmqobs_t *obs, zmqobs_loop_node_t *node, int fd);
/* Stops watching fd and takes node off the ready list. Draining thread. */
void zmqobs__loop_unwatch (zmqobs_t *obs, zmqobs_loop_node_t *node, int fd);
/* Puts node on the ready list (drained next turn). Draining thread. */
void zmqobs__loop_ready (zmqobs_t *obs, zmqobs_loop_node_t *node);
/* Host-driven mode: a zmqobs_process in another thread may be waiting
 * with the lock held; enter() makes it return and keeps it from taking
 * the lock again until leave(). No-ops in threaded mode. */
void zmqobs__loop_enter (zmqobs_t *obs);
void zmqobs__loop_leave (zmqobs_t *obs);
/* The draining thread's ready list is empty and no ETERM was seen: for
 * the hooks (host-driven mode). */
int zmqobs__loop_terminated (zmqobs_t *obs);
/* 1 while zmqobs_process runs on this thread for obs (an event callback
 * inside it): calls that need the loop's lock must refuse (EDEADLK). */
int zmqobs__loop_in_process (const zmqobs_t *obs);

/* Loop sources besides the monitor readers (host-driven mode: the HTTP
 * server's descriptor). fd is watched level-triggered; run(obs) is called
 * on the draining thread when fd is readable or when timeout_ms(obs) says
 * a deadline is due (0); timeout_ms returns -1 for none. Returns a source
 * id >= 0, or -1 with errno (ENOSPC: the table is full; epoll_ctl's
 * errno). Any thread but the draining one. */
int zmqobs__loop_add_source (zmqobs_t *obs, int fd, long (*timeout_ms) (zmqobs_t *),
                             void (*run) (zmqobs_t *));
/* Removes a source; on return run() is not running and never runs again.
 * Any thread but the draining one. */
void zmqobs__loop_remove_source (zmqobs_t *obs, int id);

#endif /* ZMQOBS_LOOP_H */
