/*
 * status.c - the status page's HTML, JavaScript and CSS, embedded in the
 * library at build time.
 *
 * The page is kept in readable files beside this one (status_page.html,
 * status_page.js, status_page.css) and the assembler's .incbin copies
 * them into read-only data byte for byte: nothing to generate, nothing
 * that can go stale, no tool beyond the compiler (GCC and Clang both
 * accept it, and the library needs one of them anyway). The paths are
 * relative to the directory the compiler runs in, the top of the tree,
 * as the Makefile runs it; the Makefile also rebuilds this object when a
 * page file changes. Each resource ends with a NUL not counted in its
 * length. The labels are local to this object: nothing is exported.
 *
 * The script and the style are separate resources rather than inline, so
 * that the page's Content-Security-Policy can allow 'self' and nothing
 * else (no 'unsafe-inline', no hashes to keep in step).
 *
 * SPDX-License-Identifier: MIT
 */
#include "status.h"

#include <string.h>

/* One file into read-only data between two labels, then a NUL. */
#define EMBED(label, file)                                 \
    ".pushsection .rodata.zmqobs_status,\"a\",@progbits\n" \
    ".balign 16\n" label ":\n"                             \
    ".incbin \"" file "\"\n" label "_end:\n"               \
    ".byte 0\n"                                            \
    ".popsection\n"

__asm__(EMBED ("zmqobs_status_html", "src/status_page.html"));
__asm__(EMBED ("zmqobs_status_js", "src/status_page.js"));
__asm__(EMBED ("zmqobs_status_css", "src/status_page.css"));

/* hidden: the labels are in this object, reached PC-relative */
#define DECLARE(name)                                                 \
    extern const char name[] __attribute__ ((visibility ("hidden"))); \
    extern const char name##_end[] __attribute__ ((visibility ("hidden")))
DECLARE (zmqobs_status_html);
DECLARE (zmqobs_status_js);
DECLARE (zmqobs_status_css);

int zmqobs__status_find (const char *path, size_t len, zmqobs_status_res_t *out)
{
    static const char *const paths[3] = {"/", "/status.js", "/status.css"};
    static const char *const ctypes[3] = {"text/html; charset=utf-8",
                                          "text/javascript; charset=utf-8",
                                          "text/css; charset=utf-8"};
    const char *const bodies[3] = {zmqobs_status_html, zmqobs_status_js, zmqobs_status_css};
    const char *const ends[3] = {zmqobs_status_html_end, zmqobs_status_js_end,
                                 zmqobs_status_css_end};
    if (!path || !out)
        return 0;
    for (size_t i = 0; i < 3; i++) {
        if (strlen (paths[i]) != len || memcmp (paths[i], path, len) != 0)
            continue;
        *out = (zmqobs_status_res_t) {
            .path = paths[i],
            .ctype = ctypes[i],
            .body = bodies[i],
            .len = (size_t) (ends[i] - bodies[i]),
        };
        return 1;
    }
    return 0;
}
