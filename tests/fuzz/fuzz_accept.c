/*
 * fuzz_accept.c - libFuzzer target for the HTTP Accept negotiation.
 *
 * The input is an Accept header value of any bytes. Checks: the answer is
 * one of the two text formats; the NUL-terminated and the counted entry
 * points agree; the answer does not change when ASCII letters change case
 * (media types, parameter names and the version values are compared
 * case-insensitively) or when empty list elements are added around the
 * header; and the q-value parser agrees with an independent one.
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

/* RFC 9110 qvalue, as thousandths, or -1: "0" ["." up to 3 digits] or
 * "1" ["." up to 3 zeros]. */
static int ref_qvalue (const char *s, size_t n)
{
    if (n == 0 || n > 5)
        return -1;
    if (n >= 2 && s[1] != '.')
        return -1;
    if (s[0] == '1') {
        for (size_t i = 2; i < n; i++)
            if (s[i] != '0')
                return -1;
        return 1000;
    }
    if (s[0] != '0')
        return -1;
    int digits[3] = {0, 0, 0};
    for (size_t i = 2; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        digits[i - 2] = s[i] - '0';
    }
    return digits[0] * 100 + digits[1] * 10 + digits[2];
}

static zmqobs_format_t pick (const uint8_t *data, size_t size)
{
    /* an exact-size copy: any read past the end is caught */
    char *copy = malloc (size ? size : 1);
    CHECK (copy != NULL);
    if (size)
        memcpy (copy, data, size);
    zmqobs_format_t f = zmqobs__format_from_accept_n (copy, size);
    free (copy);
    CHECK (f == ZMQOBS_FORMAT_PROMETHEUS || f == ZMQOBS_FORMAT_OPENMETRICS
           || f == ZMQOBS_FORMAT_PROTOBUF);
    return f;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    zmqobs_format_t f = pick (data, size);

    /* NUL-terminated entry point: sees the bytes up to the first NUL */
    char *str = malloc (size + 1);
    CHECK (str != NULL);
    memcpy (str, data, size);
    str[size] = '\0';
    size_t slen = strlen (str);
    CHECK (zmqobs_format_from_accept (str) == pick (data, slen));
    if (slen == size)
        CHECK (zmqobs_format_from_accept (str) == f);

    /* case does not matter */
    uint8_t *other = malloc (size + 4);
    CHECK (other != NULL);
    for (size_t i = 0; i < size; i++) {
        uint8_t c = data[i];
        if (c >= 'a' && c <= 'z')
            c = (uint8_t) (c - 'a' + 'A');
        else if (c >= 'A' && c <= 'Z')
            c = (uint8_t) (c - 'A' + 'a');
        other[i] = c;
    }
    CHECK (pick (other, size) == f);

    /* empty list elements before the first range change nothing; after
     * the last one only if it is complete (no open quoted string), which
     * a leading comma cannot disturb */
    other[0] = ',';
    other[1] = ' ';
    memcpy (other + 2, data, size);
    CHECK (pick (other, size + 2) == f);

    /* the q-value parser */
    size_t qn = size > 6 ? 6 : size;
    CHECK (zmqobs__parse_qvalue ((const char *) data, qn) == ref_qvalue ((const char *) data, qn));
    CHECK (zmqobs__parse_qvalue (NULL, 0) == -1);

    /* the input used as the q of a range that asks for OpenMetrics and
     * lists text 0.0.4 after it at 0.5: OpenMetrics exactly when q >= 0.5
     * (equally specific, so a tie goes to the range listed first) */
    size_t digits = 0;
    while (digits < qn && ((data[digits] >= '0' && data[digits] <= '9') || data[digits] == '.'))
        digits++;
    if (qn > 0 && digits == qn) {
        static const char head[] = "application/openmetrics-text;version=1.0.0;q=";
        static const char tail[] = ",text/plain;version=0.0.4;q=0.5";
        char hdr[sizeof head + 6 + sizeof tail];
        size_t n = 0;
        memcpy (hdr, head, sizeof head - 1);
        n += sizeof head - 1;
        memcpy (hdr + n, data, qn);
        n += qn;
        memcpy (hdr + n, tail, sizeof tail - 1);
        n += sizeof tail - 1;
        int q = ref_qvalue ((const char *) data, qn);
        zmqobs_format_t want = q >= 500 ? ZMQOBS_FORMAT_OPENMETRICS : ZMQOBS_FORMAT_PROMETHEUS;
        CHECK (pick ((const uint8_t *) hdr, n) == want);
    }
    free (other);
    free (str);
    return 0;
}
