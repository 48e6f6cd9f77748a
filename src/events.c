/*
 * events.c - names of libzmq monitor events, protocol errors and errno
 * values, and the pure decoder for version 1 monitor messages.
 *
 * Each enumeration is one X-macro table; every lookup is generated from it.
 *
 * SPDX-License-Identifier: MIT
 */
#include "events.h"

#include "zmqobs_private.h"

#include <ctype.h>
#include <string.h>

/* The tables keep their hand alignment. */
/* clang-format off */
/* X(name, code, value kind). Constants that older libzmq lacks are guarded,
 * and the draft events appear only when the headers define them. */
#define ZMQOBS_EVENT_TABLE(X)                                                   \
    X (CONNECTED, ZMQ_EVENT_CONNECTED, ZMQOBS_VALUE_FD)                         \
    X (CONNECT_DELAYED, ZMQ_EVENT_CONNECT_DELAYED, ZMQOBS_VALUE_ERRNO)          \
    X (CONNECT_RETRIED, ZMQ_EVENT_CONNECT_RETRIED, ZMQOBS_VALUE_INTERVAL_MS)    \
    X (LISTENING, ZMQ_EVENT_LISTENING, ZMQOBS_VALUE_FD)                         \
    X (BIND_FAILED, ZMQ_EVENT_BIND_FAILED, ZMQOBS_VALUE_ERRNO)                  \
    X (ACCEPTED, ZMQ_EVENT_ACCEPTED, ZMQOBS_VALUE_FD)                           \
    X (ACCEPT_FAILED, ZMQ_EVENT_ACCEPT_FAILED, ZMQOBS_VALUE_ERRNO)              \
    X (CLOSED, ZMQ_EVENT_CLOSED, ZMQOBS_VALUE_FD)                               \
    X (CLOSE_FAILED, ZMQ_EVENT_CLOSE_FAILED, ZMQOBS_VALUE_ERRNO)                \
    X (DISCONNECTED, ZMQ_EVENT_DISCONNECTED, ZMQOBS_VALUE_FD)                   \
    X (MONITOR_STOPPED, ZMQ_EVENT_MONITOR_STOPPED, ZMQOBS_VALUE_NONE)           \
    EVENT_HANDSHAKE_ROWS (X) EVENT_DRAFT_ROWS (X)

#ifdef ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
#define EVENT_HANDSHAKE_ROWS(X)                                                        \
    X (HANDSHAKE_FAILED_NO_DETAIL, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, ZMQOBS_VALUE_ERRNO) \
    X (HANDSHAKE_SUCCEEDED, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, ZMQOBS_VALUE_NONE)          \
    X (HANDSHAKE_FAILED_PROTOCOL, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,                 \
       ZMQOBS_VALUE_PROTOCOL_ERROR)                                                    \
    X (HANDSHAKE_FAILED_AUTH, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, ZMQOBS_VALUE_STATUS_CODE)
#else
#define EVENT_HANDSHAKE_ROWS(X)
#endif

#ifdef ZMQ_EVENT_PIPES_STATS
#define EVENT_DRAFT_ROWS(X) X (PIPES_STATS, ZMQ_EVENT_PIPES_STATS, ZMQOBS_VALUE_NONE)
#else
#define EVENT_DRAFT_ROWS(X)
#endif

/* X(name, code) for ZMQ_PROTOCOL_ERROR_*. */
#ifdef ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED
#define ZMQOBS_PROTOCOL_TABLE(X)                                                       \
    X (ZMTP_UNSPECIFIED, ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED)                          \
    X (ZMTP_UNEXPECTED_COMMAND, ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND)            \
    X (ZMTP_INVALID_SEQUENCE, ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE)                \
    X (ZMTP_KEY_EXCHANGE, ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE)                        \
    X (ZMTP_MALFORMED_COMMAND_UNSPECIFIED,                                             \
       ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_UNSPECIFIED)                          \
    X (ZMTP_MALFORMED_COMMAND_MESSAGE, ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_MESSAGE) \
    X (ZMTP_MALFORMED_COMMAND_HELLO, ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO)  \
    X (ZMTP_MALFORMED_COMMAND_INITIATE,                                                \
       ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_INITIATE)                             \
    X (ZMTP_MALFORMED_COMMAND_ERROR, ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_ERROR)  \
    X (ZMTP_MALFORMED_COMMAND_READY, ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_READY)  \
    X (ZMTP_MALFORMED_COMMAND_WELCOME, ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME) \
    X (ZMTP_INVALID_METADATA, ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_METADATA)                \
    X (ZMTP_CRYPTOGRAPHIC, ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)                      \
    X (ZMTP_MECHANISM_MISMATCH, ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)            \
    X (ZAP_UNSPECIFIED, ZMQ_PROTOCOL_ERROR_ZAP_UNSPECIFIED)                            \
    X (ZAP_MALFORMED_REPLY, ZMQ_PROTOCOL_ERROR_ZAP_MALFORMED_REPLY)                    \
    X (ZAP_BAD_REQUEST_ID, ZMQ_PROTOCOL_ERROR_ZAP_BAD_REQUEST_ID)                      \
    X (ZAP_BAD_VERSION, ZMQ_PROTOCOL_ERROR_ZAP_BAD_VERSION)                            \
    X (ZAP_INVALID_STATUS_CODE, ZMQ_PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE)            \
    X (ZAP_INVALID_METADATA, ZMQ_PROTOCOL_ERROR_ZAP_INVALID_METADATA)                  \
    PROTOCOL_WS_ROWS (X)
#else
#define ZMQOBS_PROTOCOL_TABLE(X)
#endif
#ifdef ZMQ_PROTOCOL_ERROR_WS_UNSPECIFIED
#define PROTOCOL_WS_ROWS(X) X (WS_UNSPECIFIED, ZMQ_PROTOCOL_ERROR_WS_UNSPECIFIED)
#else
#define PROTOCOL_WS_ROWS(X)
#endif

/* X(name, value) for the errno slots; EAGAIN first (flow control, counted
 * apart), OTHER last. ENOTSUP equals EOPNOTSUPP on Linux: one row only. */
#define ZMQOBS_ERRNO_TABLE(X)                                                   \
    X (EAGAIN) X (EFSM) X (ETERM) X (ENOTSOCK) X (EINTR) X (EHOSTUNREACH)       \
    X (EMSGSIZE) X (ENOTSUP) X (EINVAL) X (EFAULT) X (ENOMEM) X (ENOCOMPATPROTO) \
    X (EMTHREAD) X (ENOBUFS) X (ENETDOWN)
/* clang-format on */

typedef struct {
    const char *name;
    uint32_t code;
    zmqobs_value_kind_t kind;
} event_row_t;

static const event_row_t events[] = {
#define X(name, code, kind) {#name, (uint32_t) (code), kind},
    ZMQOBS_EVENT_TABLE (X)
#undef X
};
#define EVENT_COUNT (sizeof events / sizeof events[0])

typedef struct {
    const char *name;
    uint32_t code;
} code_row_t;

static const code_row_t protocol_errors[] = {
#define X(name, code) {#name, (uint32_t) (code)},
    ZMQOBS_PROTOCOL_TABLE (X)
#undef X
};
#define PROTOCOL_COUNT (sizeof protocol_errors / sizeof protocol_errors[0])

typedef struct {
    const char *name;
    int value;
} errno_row_t;

static const errno_row_t errnos[] = {
#define X(name) {#name, name},
    ZMQOBS_ERRNO_TABLE (X)
#undef X
};
#define ERRNO_COUNT (sizeof errnos / sizeof errnos[0])

/* The public slot counts are fixed for ABI stability; the tables must fit. */
_Static_assert(ERRNO_COUNT + 1 <= ZMQOBS_ERRNO_SLOTS, "errno slots");
_Static_assert(PROTOCOL_COUNT + 3 <= ZMQOBS_HANDSHAKE_SLOTS, "handshake slots");

#define SLOT_AUTH (ZMQOBS_HANDSHAKE_SLOTS - 3)
#define SLOT_NO_DETAIL (ZMQOBS_HANDSHAKE_SLOTS - 2)
#define SLOT_UNKNOWN_PROTOCOL (ZMQOBS_HANDSHAKE_SLOTS - 1)

static const char unknown[] = "UNKNOWN";

static const event_row_t *find_event (uint32_t code)
{
    for (size_t i = 0; i < EVENT_COUNT; i++)
        if (events[i].code == code)
            return &events[i];
    return NULL;
}

const char *zmqobs_event_name (uint32_t event)
{
    const event_row_t *row = find_event (event);
    return row ? row->name : unknown;
}

zmqobs_value_kind_t zmqobs_event_value_kind (uint32_t event)
{
    const event_row_t *row = find_event (event);
    return row ? row->kind : ZMQOBS_VALUE_NONE;
}

const char *zmqobs_value_kind_name (zmqobs_value_kind_t kind)
{
    switch (kind) {
    case ZMQOBS_VALUE_FD:
        return "fd";
    case ZMQOBS_VALUE_ERRNO:
        return "errno";
    case ZMQOBS_VALUE_INTERVAL_MS:
        return "interval_ms";
    case ZMQOBS_VALUE_PROTOCOL_ERROR:
        return "protocol_error";
    case ZMQOBS_VALUE_STATUS_CODE:
        return "status_code";
    case ZMQOBS_VALUE_NONE:
        break;
    }
    return "none";
}

/* ASCII case folding: strcasecmp follows LC_CTYPE, and in a Turkish
 * locale "i" and "I" are not each other's case, so names would stop
 * matching. Returns 1 when the first n bytes of a and b are equal. */
static int ascii_ieq (const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char) a[i], y = (unsigned char) b[i];
        x = (x >= 'a' && x <= 'z') ? (unsigned char) (x - 32) : x;
        y = (y >= 'a' && y <= 'z') ? (unsigned char) (y - 32) : y;
        if (x != y)
            return 0;
        if (x == 0)
            return 1;
    }
    return 1;
}

/* Skips an optional prefix, compared case-insensitively. */
static const char *strip_prefix (const char *name, const char *prefix)
{
    size_t n = strlen (prefix);
    return ascii_ieq (name, prefix, n) ? name + n : name;
}

int64_t zmqobs_event_code (const char *name)
{
    if (name) {
        const char *bare = strip_prefix (name, "ZMQ_EVENT_");
        for (size_t i = 0; i < EVENT_COUNT; i++)
            if (ascii_ieq (bare, events[i].name, SIZE_MAX))
                return events[i].code;
    }
    errno = EINVAL;
    return -1;
}

const char *zmqobs_protocol_error_name (uint32_t code)
{
    for (size_t i = 0; i < PROTOCOL_COUNT; i++)
        if (protocol_errors[i].code == code)
            return protocol_errors[i].name;
    return unknown;
}

int64_t zmqobs_protocol_error_code (const char *name)
{
    if (name) {
        const char *bare = strip_prefix (name, "ZMQ_PROTOCOL_ERROR_");
        for (size_t i = 0; i < PROTOCOL_COUNT; i++)
            if (ascii_ieq (bare, protocol_errors[i].name, SIZE_MAX))
                return protocol_errors[i].code;
    }
    errno = EINVAL;
    return -1;
}

unsigned zmqobs__errno_slot (int err)
{
    for (size_t i = 0; i < ERRNO_COUNT; i++)
        if (errnos[i].value == err)
            return (unsigned) i;
    return ZMQOBS_ERRNO_SLOTS - 1;
}

const char *zmqobs_errno_slot_name (unsigned slot)
{
    if (slot < ERRNO_COUNT)
        return errnos[slot].name;
    if (slot == ZMQOBS_ERRNO_SLOTS - 1)
        return "OTHER";
    return unknown;
}

/* System errno names for C libraries without strerrorname_np (glibc
 * before 2.32 or without _GNU_SOURCE, musl): Linux's, in the order of
 * their values, so that an alias (EWOULDBLOCK, EDEADLOCK, ENOTSUP) gives
 * the name glibc gives. */
#define SYS_ERRNOS(X)                                                                          \
    X (EPERM) X (ENOENT) X (ESRCH) X (EINTR) X (EIO) X (ENXIO) X (E2BIG) X (ENOEXEC) X (EBADF) \
    X (ECHILD) X (EAGAIN) X (ENOMEM) X (EACCES) X (EFAULT) X (EBUSY) X (EEXIST) X (EXDEV)      \
    X (ENODEV) X (ENOTDIR) X (EISDIR) X (EINVAL) X (ENFILE) X (EMFILE) X (ENOTTY) X (ETXTBSY)  \
    X (EFBIG) X (ENOSPC) X (ESPIPE) X (EROFS) X (EMLINK) X (EPIPE) X (EDOM) X (ERANGE)         \
    X (EDEADLK) X (ENAMETOOLONG) X (ENOLCK) X (ENOSYS) X (ENOTEMPTY) X (ELOOP) X (ENOMSG)     \
    X (EIDRM) X (EPROTO) X (EMULTIHOP) X (EBADMSG) X (EOVERFLOW) X (EILSEQ) X (ENOTSOCK)      \
    X (EDESTADDRREQ) X (EMSGSIZE) X (EPROTOTYPE) X (ENOPROTOOPT) X (EPROTONOSUPPORT)          \
    X (EOPNOTSUPP) X (EAFNOSUPPORT) X (EADDRINUSE) X (EADDRNOTAVAIL) X (ENETDOWN)             \
    X (ENETUNREACH) X (ENETRESET) X (ECONNABORTED) X (ECONNRESET) X (ENOBUFS) X (EISCONN)     \
    X (ENOTCONN) X (ETIMEDOUT) X (ECONNREFUSED) X (EHOSTUNREACH) X (EALREADY)                 \
    X (EINPROGRESS) X (ESTALE) X (EDQUOT) X (ECANCELED) X (EOWNERDEAD) X (ENOTRECOVERABLE)    \
    X (ENOTSUP) X (EWOULDBLOCK)
/* Names outside POSIX, each guarded: not every C library defines them. */
static const struct {
    int code;
    const char *name;
} sys_errnos[] = {
#define ENTRY(e) {e, #e},
    SYS_ERRNOS (ENTRY)
#undef ENTRY
#ifdef ENOTBLK
    {ENOTBLK, "ENOTBLK"},
#endif
#ifdef ECHRNG
    {ECHRNG, "ECHRNG"},
#endif
#ifdef EL2NSYNC
    {EL2NSYNC, "EL2NSYNC"},
#endif
#ifdef EL3HLT
    {EL3HLT, "EL3HLT"},
#endif
#ifdef EL3RST
    {EL3RST, "EL3RST"},
#endif
#ifdef ELNRNG
    {ELNRNG, "ELNRNG"},
#endif
#ifdef EUNATCH
    {EUNATCH, "EUNATCH"},
#endif
#ifdef ENOCSI
    {ENOCSI, "ENOCSI"},
#endif
#ifdef EL2HLT
    {EL2HLT, "EL2HLT"},
#endif
#ifdef EBADE
    {EBADE, "EBADE"},
#endif
#ifdef EBADR
    {EBADR, "EBADR"},
#endif
#ifdef EXFULL
    {EXFULL, "EXFULL"},
#endif
#ifdef ENOANO
    {ENOANO, "ENOANO"},
#endif
#ifdef EBADRQC
    {EBADRQC, "EBADRQC"},
#endif
#ifdef EBADSLT
    {EBADSLT, "EBADSLT"},
#endif
#ifdef EBFONT
    {EBFONT, "EBFONT"},
#endif
#ifdef ENOSTR
    {ENOSTR, "ENOSTR"},
#endif
#ifdef ENODATA
    {ENODATA, "ENODATA"},
#endif
#ifdef ETIME
    {ETIME, "ETIME"},
#endif
#ifdef ENOSR
    {ENOSR, "ENOSR"},
#endif
#ifdef ENONET
    {ENONET, "ENONET"},
#endif
#ifdef ENOPKG
    {ENOPKG, "ENOPKG"},
#endif
#ifdef EREMOTE
    {EREMOTE, "EREMOTE"},
#endif
#ifdef ENOLINK
    {ENOLINK, "ENOLINK"},
#endif
#ifdef EADV
    {EADV, "EADV"},
#endif
#ifdef ESRMNT
    {ESRMNT, "ESRMNT"},
#endif
#ifdef ECOMM
    {ECOMM, "ECOMM"},
#endif
#ifdef EDOTDOT
    {EDOTDOT, "EDOTDOT"},
#endif
#ifdef ENOTUNIQ
    {ENOTUNIQ, "ENOTUNIQ"},
#endif
#ifdef EBADFD
    {EBADFD, "EBADFD"},
#endif
#ifdef EREMCHG
    {EREMCHG, "EREMCHG"},
#endif
#ifdef ELIBACC
    {ELIBACC, "ELIBACC"},
#endif
#ifdef ELIBBAD
    {ELIBBAD, "ELIBBAD"},
#endif
#ifdef ELIBSCN
    {ELIBSCN, "ELIBSCN"},
#endif
#ifdef ELIBMAX
    {ELIBMAX, "ELIBMAX"},
#endif
#ifdef ELIBEXEC
    {ELIBEXEC, "ELIBEXEC"},
#endif
#ifdef ERESTART
    {ERESTART, "ERESTART"},
#endif
#ifdef ESTRPIPE
    {ESTRPIPE, "ESTRPIPE"},
#endif
#ifdef EUSERS
    {EUSERS, "EUSERS"},
#endif
#ifdef ESOCKTNOSUPPORT
    {ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"},
#endif
#ifdef EPFNOSUPPORT
    {EPFNOSUPPORT, "EPFNOSUPPORT"},
#endif
#ifdef ESHUTDOWN
    {ESHUTDOWN, "ESHUTDOWN"},
#endif
#ifdef ETOOMANYREFS
    {ETOOMANYREFS, "ETOOMANYREFS"},
#endif
#ifdef EHOSTDOWN
    {EHOSTDOWN, "EHOSTDOWN"},
#endif
#ifdef EUCLEAN
    {EUCLEAN, "EUCLEAN"},
#endif
#ifdef ENOTNAM
    {ENOTNAM, "ENOTNAM"},
#endif
#ifdef ENAVAIL
    {ENAVAIL, "ENAVAIL"},
#endif
#ifdef EISNAM
    {EISNAM, "EISNAM"},
#endif
#ifdef EREMOTEIO
    {EREMOTEIO, "EREMOTEIO"},
#endif
#ifdef ENOMEDIUM
    {ENOMEDIUM, "ENOMEDIUM"},
#endif
#ifdef EMEDIUMTYPE
    {EMEDIUMTYPE, "EMEDIUMTYPE"},
#endif
#ifdef ENOKEY
    {ENOKEY, "ENOKEY"},
#endif
#ifdef EKEYEXPIRED
    {EKEYEXPIRED, "EKEYEXPIRED"},
#endif
#ifdef EKEYREVOKED
    {EKEYREVOKED, "EKEYREVOKED"},
#endif
#ifdef EKEYREJECTED
    {EKEYREJECTED, "EKEYREJECTED"},
#endif
#ifdef ERFKILL
    {ERFKILL, "ERFKILL"},
#endif
#ifdef EHWPOISON
    {EHWPOISON, "EHWPOISON"},
#endif
};

const char *zmqobs__errno_sysname_posix (int err)
{
    if (err <= 0)
        return NULL;
    for (size_t i = 0; i < sizeof sys_errnos / sizeof sys_errnos[0]; i++)
        if (sys_errnos[i].code == err)
            return sys_errnos[i].name;
    return NULL;
}

const char *zmqobs__errno_sysname (int err)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE) \
    && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    return err > 0 ? strerrorname_np (err) : NULL;
#else
    return zmqobs__errno_sysname_posix (err);
#endif
}

const char *zmqobs_errno_name (int err)
{
    unsigned slot = zmqobs__errno_slot (err);
    if (slot < ERRNO_COUNT)
        return errnos[slot].name;
    /* system errno values outside the table still get their real name */
    const char *name = zmqobs__errno_sysname (err);
    if (name)
        return name;
    return "OTHER";
}

unsigned zmqobs__handshake_slot (uint32_t event, uint32_t value)
{
#ifdef ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        return SLOT_AUTH;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        for (size_t i = 0; i < PROTOCOL_COUNT; i++)
            if (protocol_errors[i].code == value)
                return (unsigned) i;
        return SLOT_UNKNOWN_PROTOCOL;
    }
#else
    (void) event;
    (void) value;
#endif
    return SLOT_NO_DETAIL;
}

const char *zmqobs_handshake_slot_name (unsigned slot)
{
    if (slot < PROTOCOL_COUNT)
        return protocol_errors[slot].name;
    switch (slot) {
    case SLOT_AUTH:
        return "AUTH";
    case SLOT_NO_DETAIL:
        return "NO_DETAIL";
    case SLOT_UNKNOWN_PROTOCOL:
        return "UNKNOWN_PROTOCOL_ERROR";
    default:
        return unknown;
    }
}

int zmqobs__event_bit (uint32_t event)
{
    if (event == 0 || (event & (event - 1)) != 0)
        return -1;
    return __builtin_ctz (event);
}

const char *zmqobs__value_text (uint32_t event, uint32_t value)
{
    switch (zmqobs_event_value_kind (event)) {
    case ZMQOBS_VALUE_ERRNO:
        return zmqobs_errno_name ((int) value);
    case ZMQOBS_VALUE_PROTOCOL_ERROR:
        return zmqobs_protocol_error_name (value);
    default:
        return "";
    }
}

int zmqobs_event_decode (const void *frame1, size_t size1, const void *frame2, size_t size2,
                         zmqobs_event_t *out)
{
    if (!out) {
        errno = EINVAL;
        return -1;
    }
    memset (out, 0, sizeof *out);
    if (!frame1 || size1 != 6 || (!frame2 && size2 > 0)) {
        errno = EPROTO;
        return -1;
    }
    /* The value sits at offset 2: unaligned, so memcpy, never a cast. */
    uint16_t event;
    uint32_t value;
    memcpy (&event, frame1, sizeof event);
    memcpy (&value, (const char *) frame1 + 2, sizeof value);
    out->event = event;
    out->value = value;
    out->value_kind = zmqobs_event_value_kind (event);
    size_t n = size2;
    if (n > ZMQOBS_ENDPOINT_MAX) {
        n = ZMQOBS_ENDPOINT_MAX;
        out->endpoint_truncated = 1;
        /* cut on a UTF-8 character boundary: never leave half a character
         * for the JSON and text outputs */
        const unsigned char *e = frame2;
        while (n > 0 && (e[n] & 0xC0) == 0x80)
            n--;
    }
    if (n)
        memcpy (out->endpoint, frame2, n);
    out->endpoint[n] = '\0';
    out->endpoint_len = n;
    return 0;
}

unsigned zmqobs_version (void)
{
    return ZMQOBS_VERSION;
}

/* An errno value by name: libzmq's from the shared table, the others
 * (ECONNREFUSED, EADDRINUSE, ...) from the C library where it can. */
const char *zmqobs__errno_text (int err)
{
    const char *text = zmqobs_errno_name (err);
    if (strcmp (text, "OTHER") == 0) {
        const char *name = zmqobs__errno_sysname (err);
        if (name)
            text = name;
    }
    return text;
}

const char *zmqobs_socket_type_name (int type)
{
    switch (type) {
    case ZMQ_PAIR:
        return "PAIR";
    case ZMQ_PUB:
        return "PUB";
    case ZMQ_SUB:
        return "SUB";
    case ZMQ_REQ:
        return "REQ";
    case ZMQ_REP:
        return "REP";
    case ZMQ_DEALER:
        return "DEALER";
    case ZMQ_ROUTER:
        return "ROUTER";
    case ZMQ_PULL:
        return "PULL";
    case ZMQ_PUSH:
        return "PUSH";
    case ZMQ_XPUB:
        return "XPUB";
    case ZMQ_XSUB:
        return "XSUB";
    case ZMQ_STREAM:
        return "STREAM";
#ifdef ZMQ_SERVER
    case ZMQ_SERVER:
        return "SERVER";
    case ZMQ_CLIENT:
        return "CLIENT";
    case ZMQ_RADIO:
        return "RADIO";
    case ZMQ_DISH:
        return "DISH";
    case ZMQ_GATHER:
        return "GATHER";
    case ZMQ_SCATTER:
        return "SCATTER";
    case ZMQ_DGRAM:
        return "DGRAM";
#endif
#ifdef ZMQ_PEER
    case ZMQ_PEER:
        return "PEER";
    case ZMQ_CHANNEL:
        return "CHANNEL";
#endif
    default:
        return "UNKNOWN";
    }
}
