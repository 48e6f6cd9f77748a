/*
 * peers_api.c - the public calls on one socket's extras: per-peer
 * tracking (zmqobs_track_peers, zmqobs_socket_peers) and options that
 * feed gauges (zmqobs_setsockopt).
 *
 * SPDX-License-Identifier: MIT
 */
#include "metrics.h"
#include "peers.h"

#include <pthread.h>

int zmqobs_track_peers (zmqobs_socket_t *s, unsigned max_peers, int key)
{
    if (!s || max_peers > ZMQOBS_PEERS_MAX
        || (key != ZMQOBS_PEER_ADDRESS && key != ZMQOBS_PEER_ROUTING_ID)
        || (key == ZMQOBS_PEER_ROUTING_ID && s->type != ZMQ_ROUTER && s->type != ZMQ_STREAM)) {
        errno = EINVAL;
        return -1;
    }
    zmqobs_peers_t *p = NULL;
    if (max_peers > 0) {
        p = zmqobs__peers_new (max_peers, key, s->type);
        if (!p)
            return -1;
    }
    /* scrapes read s->peers under the scrape lock only */
    zmqobs_t *obs = s->obs;
    pthread_mutex_lock (&obs->scrape_lock);
    zmqobs_peers_t *old = s->peers;
    s->peers = p;
    pthread_mutex_unlock (&obs->scrape_lock);
    zmqobs__hooks_update (s);
    zmqobs__peers_free (old);
    return 0;
}

int zmqobs_socket_peers (zmqobs_socket_t *s, zmqobs_peer_stats_t *out, size_t max,
                         zmqobs_peer_stats_t *other)
{
    if (!s || (!out && max > 0)) {
        errno = EINVAL;
        return -1;
    }
    zmqobs_t *obs = s->obs;
    pthread_mutex_lock (&obs->scrape_lock);
    int rc = -1;
    if (s->peers) {
        size_t n = zmqobs__peers_copy (s->peers, out, max, other);
        rc = n > INT32_MAX ? INT32_MAX : (int) n;
    }
    pthread_mutex_unlock (&obs->scrape_lock);
    if (rc < 0)
        errno = ENOENT;
    return rc;
}

int zmqobs_setsockopt (zmqobs_socket_t *s, int option, const void *value, size_t len)
{
    if (!s) {
        errno = ENOTSOCK;
        return -1;
    }
    int rc = zmq_setsockopt (s->hot.handle, option, value, len);
    if (rc == 0 && (option == ZMQ_SNDHWM || option == ZMQ_RCVHWM))
        zmqobs__read_hwm (s);
    return rc;
}
