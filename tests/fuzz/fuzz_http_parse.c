/*
 * fuzz_http_parse.c - libFuzzer target for the built-in endpoint's HTTP
 * request-head parser (zmqobs__http_parse).
 *
 * The input is the bytes a client sent so far. Checks: the result is one
 * of "need more" (0), "complete head of k bytes" (k > 0, ending with LF,
 * within the head limit) or an error with a status the server can answer;
 * every pointer in the result points into the bytes given; and the parser
 * is consistent with itself over prefixes, as a server reading the request
 * piece by piece relies on: a prefix of a complete head of k bytes needs
 * more, any length from k on gives the same head, and nothing shorter than
 * an invalid or incomplete request is complete.
 *
 * SPDX-License-Identifier: MIT
 */
#include "../internal.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort ();                                                            \
        }                                                                        \
    } while (0)

static int within (const char *p, size_t n, const char *buf, size_t len)
{
    return p >= buf && n <= len && (size_t) (p - buf) <= len - n;
}

/* Parses an exact-size heap copy of the first len bytes, so that a read
 * past len is caught, and checks the result on its own. */
static int parse (const uint8_t *data, size_t len, zmqobs_http_request_t *req)
{
    char *buf = malloc (len ? len : 1);
    CHECK (buf != NULL);
    if (len)
        memcpy (buf, data, len);
    errno = 0;
    int rc = zmqobs__http_parse (buf, len, req);
    if (rc < 0) {
        CHECK (rc == -1 && errno == EPROTO);
        CHECK (req->status == 400 || req->status == 414 || req->status == 431
               || req->status == 505);
        CHECK (len > 0);
    } else if (rc > 0) {
        CHECK ((size_t) rc <= len && (size_t) rc <= ZMQOBS__HTTP_HEAD_MAX);
        CHECK (buf[rc - 1] == '\n');
        CHECK (req->method == ZMQOBS__HTTP_GET || req->method == ZMQOBS__HTTP_HEAD
               || req->method == ZMQOBS__HTTP_OTHER);
        /* HTTP/1.x for any digit x: a later 1.x is answered as 1.1 */
        CHECK (req->version_minor >= 0 && req->version_minor <= 9);
        CHECK (req->path != NULL && req->path_len >= 1 && req->path[0] == '/');
        /* the path points into the request line, or is the literal "/"
         * of an absolute-form target without a path */
        CHECK (within (req->path, req->path_len, buf, (size_t) rc)
               || (req->path_len == 1 && strcmp (req->path, "/") == 0));
        CHECK (memchr (req->path, '?', req->path_len) == NULL);
        if (req->accept) {
            CHECK (within (req->accept, req->accept_len, buf, (size_t) rc));
            CHECK (memchr (req->accept, '\n', req->accept_len) == NULL);
            zmqobs_format_t f = zmqobs__format_from_accept_n (req->accept, req->accept_len);
            CHECK (f == ZMQOBS_FORMAT_PROMETHEUS || f == ZMQOBS_FORMAT_OPENMETRICS
                   || f == ZMQOBS_FORMAT_PROTOBUF);
        } else
            CHECK (req->accept_len == 0);
        CHECK (req->header_count <= ZMQOBS__HTTP_HEADERS_MAX);
        CHECK (req->keep_alive == 0 || req->keep_alive == 1);
        /* the offsets, for comparisons once buf is gone */
        req->path = (const char *) (uintptr_t) (req->path - buf);
        req->accept = req->accept ? (const char *) (uintptr_t) (req->accept - buf + 1) : NULL;
    } else {
        CHECK (len < ZMQOBS__HTTP_HEAD_MAX);
    }
    free (buf);
    return rc;
}

static void check_prefix (const uint8_t *data, size_t size, int full,
                          const zmqobs_http_request_t *whole, size_t j)
{
    zmqobs_http_request_t req;
    int rc = parse (data, j, &req);
    if (full > 0) {
        if (j < (size_t) full)
            CHECK (rc == 0);
        else {
            CHECK (rc == full);
            CHECK (req.method == whole->method && req.version_minor == whole->version_minor);
            CHECK (req.path_len == whole->path_len && req.accept_len == whole->accept_len);
            CHECK (req.keep_alive == whole->keep_alive && req.has_body == whole->has_body);
            CHECK (req.header_count == whole->header_count);
        }
    } else if (full == 0)
        CHECK (rc == 0);
    else
        CHECK (rc <= 0);
    (void) size;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size > 2 * ZMQOBS__HTTP_HEAD_MAX)
        return 0;
    zmqobs_http_request_t whole;
    int full = parse (data, size, &whole);
    if (size == 0)
        return 0;
    if (full > 0) {
        check_prefix (data, size, full, &whole, (size_t) full - 1);
        check_prefix (data, size, full, &whole, (size_t) full);
    }
    check_prefix (data, size, full, &whole, size / 2);
    check_prefix (data, size, full, &whole, (data[0] * 31u + data[size - 1]) % size);

    zmqobs_http_request_t req;
    CHECK (zmqobs__http_parse (NULL, 1, &req) == -1 && errno == EINVAL);
    CHECK (zmqobs__http_parse ((const char *) data, size, NULL) == -1 && errno == EINVAL);
    return 0;
}
