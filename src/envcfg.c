/*
 * envcfg.c - configuration from the environment: zmqobs_options_from_env
 * and zmqobs_serve_from_env.
 *
 * Every value is parsed strictly, because a variable set in a unit file
 * or a container spec and silently ignored (a typo, "12x", a stray space)
 * is worse than a program that refuses to start and says why. Nothing is
 * copied: the strings put into the options are getenv's, and zmqobs_new
 * copies or opens them (the header documents how long they stay valid).
 *
 * SPDX-License-Identifier: MIT
 */
#include "envcfg.h"

#include "base.h"
#include "http_parse.h"
#include "platform.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ADDR_SYNTAX                                                                        \
    "off or tcp://HOST:PORT (HOST an IPv4 address, localhost, * or [IPv6]; PORT 0..65535 " \
    "or *)"

size_t zmqobs__env_quote (char *buf, size_t size, const char *value)
{
    static const char hex[] = "0123456789abcdef";
    zmqobs_out_t o;
    zmqobs__out_init (&o, buf, size);
    zmqobs__put_c (&o, '\'');
    size_t n = value ? strlen (value) : 0;
    for (size_t i = 0; i < n && i < ZMQOBS__ENV_QUOTE_MAX; i++) {
        unsigned char c = (unsigned char) value[i];
        if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
            zmqobs__put_c (&o, (char) c);
        } else {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            zmqobs__put (&o, esc, 4);
        }
    }
    if (n > ZMQOBS__ENV_QUOTE_MAX)
        ZMQOBS__PUT_LIT (&o, "...");
    zmqobs__put_c (&o, '\'');
    return zmqobs__out_end (&o);
}

/* Writes the message (snprintf semantics), sets errno to err and returns
 * -1, so that every failure is one statement. */
__attribute__ ((format (printf, 4, 5))) static int fail (char *buf, size_t size, int err,
                                                         const char *fmt, ...)
{
    if (size > 0) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (buf, size, fmt, ap);
        va_end (ap);
    }
    errno = err;
    return -1;
}

/* A quoted value for a message: room for ZMQOBS__ENV_QUOTE_MAX bytes,
 * each escaped to four, the quotes, "..." and the NUL. */
typedef struct {
    char text[4 * ZMQOBS__ENV_QUOTE_MAX + 8];
} quoted_t;

static quoted_t quote (const char *value)
{
    quoted_t q;
    zmqobs__env_quote (q.text, sizeof q.text, value);
    return q;
}

static int check_metrics_addr (const char *v, char *err, size_t errsize)
{
    if (!v || strcmp (v, "off") == 0)
        return 0;
    if (!*v)
        return fail (err, errsize, EINVAL, "ZMQOBS_METRICS_ADDR: empty value; expected %s",
                     ADDR_SYNTAX);
    struct sockaddr_storage ss;
    socklen_t sl;
    if (zmqobs__http_parse_endpoint (v, &ss, &sl) != 0)
        return fail (err, errsize, EINVAL, "ZMQOBS_METRICS_ADDR: %s is not %s", quote (v).text,
                     ADDR_SYNTAX);
    return 0;
}

/* Valid UTF-8 without control characters (C0 and DEL). */
static int printable_utf8 (const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return zmqobs__valid_utf8 (s, n);
}

static int check_service (const char *v, char *err, size_t errsize)
{
    if (!v)
        return 0;
    size_t n = strlen (v);
    if (n == 0)
        return fail (err, errsize, EINVAL,
                     "ZMQOBS_SERVICE: empty value; must be 1 to %d bytes of printable UTF-8",
                     ZMQOBS__ENV_SERVICE_MAX);
    if (n > ZMQOBS__ENV_SERVICE_MAX)
        return fail (err, errsize, EINVAL,
                     "ZMQOBS_SERVICE: %zu bytes is too long; must be 1 to %d bytes of printable "
                     "UTF-8",
                     n, ZMQOBS__ENV_SERVICE_MAX);
    if (!printable_utf8 (v, n))
        return fail (err, errsize, EINVAL,
                     "ZMQOBS_SERVICE: %s is not printable UTF-8; must be 1 to %d bytes of "
                     "printable UTF-8",
                     quote (v).text, ZMQOBS__ENV_SERVICE_MAX);
    return 0;
}

/* A whole decimal number: digits only (no sign, no spaces, nothing
 * after), 1..ZMQOBS__ENV_SAMPLE_EVERY_MAX, or "off". */
static int parse_sample_every (const char *v, uint32_t *out, char *err, size_t errsize)
{
    const unsigned max = ZMQOBS__ENV_SAMPLE_EVERY_MAX;
    if (strcmp (v, "off") == 0) {
        *out = ZMQOBS_SAMPLE_NEVER;
        return 0;
    }
    if (!*v)
        return fail (err, errsize, EINVAL,
                     "ZMQOBS_SAMPLE_EVERY: empty value; expected a number from 1 to %u or off",
                     max);
    uint64_t n = 0;
    int overflow = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return fail (err, errsize, EINVAL,
                         "ZMQOBS_SAMPLE_EVERY: %s is not a whole number from 1 to %u or off",
                         quote (v).text, max);
        unsigned d = (unsigned) (*p - '0');
        if (n > (UINT64_MAX - d) / 10)
            overflow = 1;
        else
            n = n * 10 + d;
    }
    if (overflow)
        return fail (err, errsize, EINVAL, "ZMQOBS_SAMPLE_EVERY: %s is too large (at most %u)",
                     quote (v).text, max);
    if (n < 1 || n > max)
        return fail (err, errsize, EINVAL, "ZMQOBS_SAMPLE_EVERY: %llu is out of range (1 to %u)",
                     (unsigned long long) n, max);
    *out = (uint32_t) n;
    return 0;
}

/* A switch: exactly "1" or "on", "0" or "off". */
static int parse_switch (const char *var, const char *v, int *on, char *err, size_t errsize)
{
    if (strcmp (v, "1") == 0 || strcmp (v, "on") == 0)
        *on = 1;
    else if (strcmp (v, "0") == 0 || strcmp (v, "off") == 0)
        *on = 0;
    else
        return fail (err, errsize, EINVAL, "%s: %s is not 1, on, 0 or off", var, quote (v).text);
    return 0;
}

/* Opens the log file for appending and closes it again, so that a
 * destination zmqobs_new could not open is reported with the variable's
 * name rather than as a bare errno from zmqobs_new. A FIFO or a socket is
 * left alone: opening a FIFO's write end would wait for a reader, and
 * closing it would signal end-of-file to one. O_NONBLOCK makes a FIFO
 * that appears after the stat fail (ENXIO) instead of blocking. */
static int probe_log (const char *path, char *err, size_t errsize)
{
    struct stat st;
    if (stat (path, &st) == 0 && (S_ISFIFO (st.st_mode) || S_ISSOCK (st.st_mode)))
        return 0;
    int fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0666);
    if (fd < 0) {
        int e = errno;
        char text[128];
        const char *why = zmqobs__strerror (e, text, sizeof text);
        return fail (err, errsize, e, "ZMQOBS_EVENT_LOG: cannot open %s for appending: %s",
                     quote (path).text, why);
    }
    close (fd);
    return 0;
}

int zmqobs_options_from_env (zmqobs_options_t *opts, char *err, size_t errsize)
{
    if (!err && errsize > 0) {
        errno = EINVAL;
        return -1;
    }
    if (!opts)
        return fail (err, errsize, EINVAL, "zmqobs_options_from_env: opts is NULL");
    if (check_metrics_addr (getenv ("ZMQOBS_METRICS_ADDR"), err, errsize) != 0)
        return -1;

    const char *service = getenv ("ZMQOBS_SERVICE");
    if (check_service (service, err, errsize) != 0)
        return -1;

    const char *every_text = getenv ("ZMQOBS_SAMPLE_EVERY");
    uint32_t every = 0;
    if (every_text && parse_sample_every (every_text, &every, err, errsize) != 0)
        return -1;

    const char *log = getenv ("ZMQOBS_EVENT_LOG");
    if (log && !*log)
        return fail (err, errsize, EINVAL,
                     "ZMQOBS_EVENT_LOG: empty value; expected a file path or - for stderr");
    if (log && strcmp (log, "-") != 0 && probe_log (log, err, errsize) != 0)
        return -1;

    const char *page = getenv ("ZMQOBS_STATUS_PAGE");
    int page_on = 1;
    if (page && parse_switch ("ZMQOBS_STATUS_PAGE", page, &page_on, err, errsize) != 0)
        return -1;

    /* everything checked: only now is opts changed */
    if (service)
        opts->service = service;
    if (every_text)
        opts->latency_sample_every = every;
    if (log)
        opts->event_log = log;
    if (page)
        opts->no_status_page = !page_on;
    if (errsize > 0)
        err[0] = '\0';
    return 0;
}

int zmqobs_serve_from_env (zmqobs_t *self)
{
    if (!self) {
        errno = EINVAL;
        return -1;
    }
    const char *v = getenv ("ZMQOBS_METRICS_ADDR");
    if (!v || strcmp (v, "off") == 0)
        return 0;
    if (zmqobs_serve (self, v) != 0)
        return -1; /* EINVAL for a malformed value, "" included */
    return zmqobs_serve_port (self);
}
