/*
 * ready.c - readiness (zmqobs_ready, the /readyz endpoint): every
 * attached socket has what it needs, with a reason per socket.
 *
 * SPDX-License-Identifier: MIT
 */
#include "zmqobs_private.h"

#include <stdio.h>

int zmqobs_ready (zmqobs_t *self, char *reason, size_t size)
{
    if (!self || (!reason && size > 0)) {
        errno = EINVAL;
        return -1;
    }
    zmqobs_out_t b;
    zmqobs__out_init (&b, reason, size);
    int ready = 1;
    char text[96];
    pthread_mutex_lock (&self->lock);
    if (!self->sockets)
        ZMQOBS__PUT_LIT (&b, "no sockets attached\n");
    for (zmqobs_socket_t *s = self->sockets; s; s = s->next) {
        const zmqobs_mon_block_t *m = &s->mon;
        int bound = LOAD (&m->bound), connecting = LOAD (&m->connecting);
        uint64_t listening = LOAD (&m->listening);
        int64_t conns = LOAD (&m->connections);
        int ok = 1;
        int n;
        if (!bound && !connecting) {
            ok = 0;
            n = snprintf (text, sizeof text, ": not ready: no endpoint yet\n");
        } else if (bound && listening == 0) {
            ok = 0;
            pthread_mutex_lock (&self->error_lock);
            uint32_t err_event = m->last_error_event, err_value = m->last_error_value;
            pthread_mutex_unlock (&self->error_lock);
            if (err_event == ZMQ_EVENT_BIND_FAILED)
                n = snprintf (text, sizeof text, ": not ready: bind failed (%s)\n",
                              zmqobs__errno_text ((int) err_value));
            else
                n = snprintf (text, sizeof text, ": not ready: not listening\n");
        } else if (connecting && conns <= 0 && LOAD (&m->preconnected)) {
            /* peers connected before attach are not seen until they
             * reconnect: no sign either way, so not held against it */
            n = snprintf (text, sizeof text,
                          ": ready: connected before attach (peers unknown), listening %llu\n",
                          (unsigned long long) listening);
        } else if (connecting && conns <= 0) {
            ok = 0;
            n = snprintf (text, sizeof text, ": not ready: no connected peer\n");
        } else
            n = snprintf (text, sizeof text, ": ready: listening %llu, connections %lld\n",
                          (unsigned long long) listening, (long long) conns);
        ZMQOBS__PUT_LIT (&b, "socket \"");
        zmqobs__esc_line (&b, s->name, s->name_len);
        zmqobs__put_c (&b, '"');
        if (n > 0 && !LOAD (&m->monitor_up)) {
            /* said, not held against it: the socket may serve still */
            zmqobs__put (&b, text, (size_t) n - 1);
            ZMQOBS__PUT_LIT (&b, " (monitor stopped unasked, counts frozen)\n");
        } else
            zmqobs__put (&b, text, n > 0 ? (size_t) n : 0);
        ready &= ok;
    }
    pthread_mutex_unlock (&self->lock);
    zmqobs__out_end (&b);
    return ready;
}
