#!/usr/bin/env bash
# test_cxx_header.sh - the installed headers in C++ programs:
#   - a C++ program that includes zmqobs.h and uses every public inline
#     function (and some others) compiles without a warning under
#       g++ -std=c++11 -Wall -Wextra -Wpedantic -Wold-style-cast
#           -Wuseless-cast -Wzero-as-null-pointer-constant -Werror
#       clang++ -std=c++17 -Weverything -Wno-c++98-compat -Wno-padded -Werror
#     with -Iinclude, as pkg-config gives it (not -isystem: the header's
#     warnings reach users' -Werror builds); g++ is required, a missing
#     clang++ is reported and skipped;
#   - linked against the static library, also whole (so the library's
#     exported copies of the inline functions sit beside the program's
#     inline ones: no duplicate symbol), and in the plain build against the
#     shared library, it runs and prints exact counts;
#   - no identifier of the library's own with a double underscore is
#     reachable from the installed headers (see no_reserved_names below).
# Sanitizer builds compile the program with $SAN against $LIBOUT (with
# the C++ driver of the compiler that built the library); TEST_WRAP runs
# the program under its tool. Removes its files.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
OBJDIR=${OBJDIR:-build}
LIBOUT=${LIBOUT:-lib}
CC=${CC:-cc}
SAN=${SAN:-}
TEST_WRAP=${TEST_WRAP:-}

fail() { echo "test_cxx_header: FAIL: $*" >&2; exit 1; }
[ -f "$LIBOUT/libzmqobs.a" ] || fail "$LIBOUT/libzmqobs.a missing"
command -v g++ >/dev/null 2>&1 || fail "g++ not found (.ci/deps build installs gcc, which brings g++)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zmqobs-cxx.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- no double underscore of ours in the installed headers ---------------
# C and C++ reserve every identifier that contains "__" (C++) or starts
# with "__" or "_" and a capital letter (both) for the implementation. The
# headers may use such names that the compiler provides (keywords such as
# __attribute__, __asm__, __volatile__; predefined macros such as
# __cplusplus, __GNUC__, __x86_64__, __SANITIZE_THREAD__; the builtins
# __builtin_*, __atomic_* with their __ATOMIC_* orders, __has_feature), but
# must never name anything of their own that way. So, with comments and
# string and character literals removed:
#   - every identifier containing "__" or starting with "_" and a capital
#     must be one of those compiler-provided names (listed below by exact
#     name, or by the __builtin_ / __atomic_ / __ATOMIC_ family prefix that
#     only the compiler defines), so that zmqobs__x, ZMQOBS__X, a__b or
#     __zmqobs all fail;
#   - and no such name may be #defined or #undefined by the headers (using
#     them is fine, defining them is not).
KNOWN_RESERVED=" __attribute__ __asm__ __volatile__ __extension__ __inline__ __typeof__
    __cplusplus __GNUC__ __GNUC_MINOR__ __clang__ __clang_major__ __x86_64__ __aarch64__
    __SANITIZE_THREAD__ __SANITIZE_ADDRESS__ __has_feature __has_attribute __has_builtin
    __has_include __STDC_VERSION__ "
KNOWN_RESERVED=" $(echo $KNOWN_RESERVED) "
# no_reserved_names DIR: prints each offending header and name, fails if any
no_reserved_names() {
    local h id text bad=0
    for h in "$1"/include/*.h "$1"/include/*.hpp; do
        [ -e "$h" ] || continue
        # gcc -fpreprocessed tokenizes without expanding anything: comments
        # go, directives stay (-dD); then string and character literals go
        text=$(gcc -x c -fpreprocessed -dD -E -P -w "$h" \
            | sed -E -e 's/"([^"\\]|\\.)*"/""/g' -e "s/'([^'\\\\]|\\\\.)*'/''/g")
        for id in $(grep -oE '\b[A-Za-z_][A-Za-z0-9_]*\b' <<<"$text" | grep -E '__|^_[A-Z]' | sort -u); do
            case $id in __builtin_* | __atomic_* | __ATOMIC_*) continue ;; esac
            case $KNOWN_RESERVED in *" $id "*) continue ;; esac
            echo "  ${h#"$1"/}: $id"
            bad=1
        done
        if grep -E '^[[:space:]]*#[[:space:]]*(define|undef)[[:space:]]+_' <<<"$text"; then
            echo "  ${h#"$1"/}: defines a reserved name"
            bad=1
        fi
    done
    return $bad
}
no_reserved_names . >"$tmp/reserved" || fail "reserved identifiers in the installed headers:
$(cat "$tmp/reserved")"
# the checker itself: it must catch names of ours, and let builtins pass
mkdir -p "$tmp/selftest/include"
cat >"$tmp/selftest/include/bad.h" <<'H'
/* zmqobs__in_a_comment is fine, "__in_a_string" too */
#define ZMQOBS__X 1
#define __ZMQOBS_Y 2
static inline int zmqobs__f (int x) { return __builtin_expect (x, 1) + _Zmqobs; }
H
no_reserved_names "$tmp/selftest" >"$tmp/reserved" && fail "the reserved-name check passed a bad header"
want_reserved="  include/bad.h: ZMQOBS__X
  include/bad.h: _Zmqobs
  include/bad.h: __ZMQOBS_Y
  include/bad.h: zmqobs__f
#define __ZMQOBS_Y 2
  include/bad.h: defines a reserved name"
[ "$(cat "$tmp/reserved")" = "$want_reserved" ] || fail "the reserved-name check reported:
$(cat "$tmp/reserved")"
echo "test_cxx_header: no double-underscore identifiers of ours in include/*.h"

# --- a C++ program that uses the whole hot path -------------------------
cat >"$tmp/app.cc" <<'CXX'
// Uses every public inline function of zmqobs.h, and checks what they
// counted through zmqobs_socket_stats and zmqobs_format.
#include <zmqobs.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace
{
int failures = 0;

void expect (bool ok, const char *what)
{
    if (!ok) {
        std::fprintf (stderr, "app: %s failed\n", what);
        failures++;
    }
}

unsigned errno_slot (const char *name)
{
    for (unsigned i = 0; i < ZMQOBS_ERRNO_SLOTS; i++)
        if (std::strcmp (zmqobs_errno_slot_name (i), name) == 0)
            return i;
    return ZMQOBS_ERRNO_SLOTS;
}

void print_counts (const char *name, const zmqobs_stats_t &st)
{
    std::printf ("%s sent=%" PRIu64 "/%" PRIu64 " received=%" PRIu64 "/%" PRIu64
                 " latency=%" PRIu64 "\n",
                 name, st.msgs_sent, st.bytes_sent, st.msgs_received, st.bytes_received,
                 st.latency_count);
}

zmqobs_stats_t stats (const zmqobs_socket_t *s)
{
    zmqobs_stats_t st;
    std::memset (&st, 0, sizeof st);
    expect (zmqobs_socket_stats (s, &st) == 0, "zmqobs_socket_stats");
    return st;
}
} // namespace

int main ()
{
    void *ctx = zmq_ctx_new ();
    zmqobs_options_t opts;
    expect (zmqobs_options_init (&opts) == 0, "zmqobs_options_init");
    opts.latency_sample_every = 1; // time every REQ/REP cycle
    opts.no_process_metrics = 1;
    zmqobs_t *obs = zmqobs_new (ctx, &opts);
    if (obs == nullptr) {
        std::perror ("zmqobs_new");
        return 1;
    }

    // NULL handles: -1 with ENOTSOCK from the wrappers, the records ignored
    zmqobs_socket_t *none = nullptr;
    char buf[32];
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    errno = 0;
    expect (zmqobs_send (none, "x", 1, 0) == -1 && errno == ENOTSOCK, "send NULL");
    errno = 0;
    expect (zmqobs_recv (none, buf, sizeof buf, 0) == -1 && errno == ENOTSOCK, "recv NULL");
    errno = 0;
    expect (zmqobs_msg_send (&msg, none, 0) == -1 && errno == ENOTSOCK, "msg_send NULL");
    errno = 0;
    expect (zmqobs_msg_recv (&msg, none, 0) == -1 && errno == ENOTSOCK, "msg_recv NULL");
    zmqobs_record_sent (none, 1, 0);
    zmqobs_record_received (none, 1, 0);
    zmqobs_record_latency (none, 1);

    void *a = zmq_socket (ctx, ZMQ_PAIR), *b = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *sa = zmqobs_attach (obs, a, "a");
    zmqobs_socket_t *sb = zmqobs_attach (obs, b, "b");
    expect (sa != nullptr && sb != nullptr, "attach");
    expect (zmq_bind (a, "inproc://cxx-pair") == 0, "bind");
    expect (zmq_connect (b, "inproc://cxx-pair") == 0, "connect");

    // zmqobs_send / zmqobs_recv: one part of 5 bytes, then 1 + 2 in two parts
    expect (zmqobs_send (sa, "hello", 5, 0) == 5, "send");
    expect (zmqobs_recv (sb, buf, sizeof buf, 0) == 5, "recv");
    expect (zmqobs_send (sa, "x", 1, ZMQ_SNDMORE) == 1, "send more");
    expect (zmqobs_send (sa, "yz", 2, 0) == 2, "send last");
    expect (zmqobs_recv (sb, buf, sizeof buf, 0) == 1, "recv first");
    expect (zmqobs_recv (sb, buf, sizeof buf, 0) == 2, "recv last");
    // zmqobs_msg_send / zmqobs_msg_recv: 3 bytes
    zmq_msg_t out;
    zmq_msg_init_size (&out, 3);
    std::memcpy (zmq_msg_data (&out), "abc", 3);
    expect (zmqobs_msg_send (&out, sa, 0) == 3, "msg_send");
    expect (zmqobs_msg_recv (&msg, sb, 0) == 3, "msg_recv");
    expect (std::string (static_cast<const char *> (zmq_msg_data (&msg)), zmq_msg_size (&msg))
                == "abc",
            "msg contents");
    // a failed recv: nothing queued, counted under EAGAIN
    errno = 0;
    expect (zmqobs_recv (sa, buf, sizeof buf, ZMQ_DONTWAIT) == -1 && errno == EAGAIN,
            "recv EAGAIN");
    // the record calls: 100 bytes out of a, 40 into b, two latencies on a
    zmqobs_record_sent (sa, 100, 0);
    zmqobs_record_received (sb, 40, 0);
    zmqobs_record_latency (sa, 1500);
    zmqobs_record_latency (sa, 2500000);

    // REQ/REP through the wrappers, every cycle timed: the out-of-line
    // cycle functions behind the inline code
    void *q = zmq_socket (ctx, ZMQ_REQ), *p = zmq_socket (ctx, ZMQ_REP);
    zmqobs_socket_t *sq = zmqobs_attach (obs, q, "q");
    zmqobs_socket_t *sp = zmqobs_attach (obs, p, "p");
    expect (sq != nullptr && sp != nullptr, "attach q, p");
    expect (zmq_bind (p, "inproc://cxx-rr") == 0 && zmq_connect (q, "inproc://cxx-rr") == 0,
            "bind/connect q, p");
    for (int i = 0; i < 3; i++) {
        expect (zmqobs_send (sq, "ping", 4, 0) == 4, "REQ send");
        expect (zmqobs_recv (sp, buf, sizeof buf, 0) == 4, "REP recv");
        expect (zmqobs_send (sp, "pong!", 5, 0) == 5, "REP send");
        expect (zmqobs_recv (sq, buf, sizeof buf, 0) == 5, "REQ recv");
    }

    zmqobs_stats_t st = stats (sa);
    std::printf ("a sent=%" PRIu64 "/%" PRIu64 " received=%" PRIu64 "/%" PRIu64 " eagain=%" PRIu64
                 " latency=%" PRIu64 "/%" PRIu64 " window=%" PRIu64 "\n",
                 st.msgs_sent, st.bytes_sent, st.msgs_received, st.bytes_received,
                 st.errors[ZMQOBS_OP_RECV][errno_slot ("EAGAIN")], st.latency_count,
                 st.latency_sum_ns, st.window.count);
    st = stats (sb);
    print_counts ("b", st);
    st = stats (sq);
    print_counts ("q", st);
    st = stats (sp);
    print_counts ("p", st);

    // the exposition agrees (with room to spare: monitor events drained
    // meanwhile may lengthen the text after it was measured)
    int need = zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, nullptr, 0);
    expect (need > 0, "format measure");
    std::vector<char> text (static_cast<size_t> (need) + 4096);
    int len = zmqobs_format (obs, ZMQOBS_FORMAT_PROMETHEUS, text.data (), text.size ());
    expect (len > 0 && static_cast<size_t> (len) < text.size (), "format");
    std::string t (text.data ());
    expect (t.find ("\nzmq_messages_sent_total{socket=\"a\",type=\"PAIR\"} 5\n")
                != std::string::npos,
            "zmq_messages_sent_total of a");
    expect (t.find ("\nzmq_bytes_received_total{socket=\"b\",type=\"PAIR\"} 51\n")
                != std::string::npos,
            "zmq_bytes_received_total of b");
    std::printf ("%s %s %u\n", zmqobs_socket_name (sa), zmqobs_event_name (ZMQ_EVENT_ACCEPTED),
                 zmqobs_version () == ZMQOBS_VERSION ? 1u : 0u);

    zmq_msg_close (&msg);
    zmqobs_detach (&sa);
    zmqobs_detach (&sb);
    zmqobs_detach (&sq);
    zmqobs_detach (&sp);
    zmqobs_destroy (&obs);
    zmq_close (a);
    zmq_close (b);
    zmq_close (q);
    zmq_close (p);
    zmq_ctx_term (ctx);
    return failures == 0 ? 0 : 1;
}
CXX
# a: 5 parts (4 sent + 1 recorded), 5 + 1 + 2 + 3 + 100 bytes; one EAGAIN;
#    two latencies, 1500 + 2500000 ns, both in the window;
# b: the same parts received, 5 + 1 + 2 + 3 + 40 bytes;
# q, p: three REQ/REP cycles of 4 and 5 bytes, each timed on both sides
want="a sent=5/111 received=0/0 eagain=1 latency=2/2501500 window=2
b sent=0/0 received=5/51 latency=0
q sent=3/12 received=3/15 latency=3
p sent=3/15 received=3/12 latency=3
a ACCEPTED 1"

zmq_flags=$(pkg-config --cflags --libs libzmq 2>/dev/null || echo -lzmq)
gxx_flags="-std=c++11 -Wall -Wextra -Wpedantic -Wold-style-cast -Wuseless-cast -Wzero-as-null-pointer-constant -Werror"
clang_flags="-std=c++17 -Weverything -Wno-c++98-compat -Wno-padded -Werror"

# compile NAME CXX FLAGS...: the warning check, -O2 so that the warnings
# that need the optimizer's analysis show up too
compile() {
    local name=$1 cxx=$2
    shift 2
    echo "test_cxx_header: $cxx $* -O2 -Iinclude -c app.cc"
    # shellcheck disable=SC2068
    "$cxx" "$@" -O2 -Iinclude -c -o "$tmp/$name.o" "$tmp/app.cc" || fail "$cxx rejects the header"
}
# shellcheck disable=SC2086
compile gxx g++ $gxx_flags
if command -v clang++ >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    compile clangxx clang++ $clang_flags
else
    echo "test_cxx_header: SKIP clang++: not installed (.ci/deps test installs clang)"
fi

# The program that runs is built by the C++ driver of the compiler that
# built $LIBOUT (sanitizer runtimes differ between gcc and clang), with
# $SAN, at the C compiler's warning level plus the g++ set when it is g++.
cxx=g++
run_flags=$gxx_flags
if grep -qi clang <<<"$("$CC" --version 2>/dev/null)"; then
    cxx=clang++
    run_flags=$clang_flags
fi
run() {
    local what=$1 bin=$2 got
    got=$(TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp ${TSAN_OPTIONS:-}" $TEST_WRAP "$bin") \
        || fail "$what: the program failed"
    [ "$got" = "$want" ] || fail "$what printed:
$got
expected:
$want"
    echo "test_cxx_header: $what: exact counts OK"
}
# shellcheck disable=SC2086
$cxx $run_flags -O2 -g $SAN -Iinclude -o "$tmp/app-static" "$tmp/app.cc" "$LIBOUT/libzmqobs.a" \
    $zmq_flags -lpthread -lm || fail "link against $LIBOUT/libzmqobs.a"
run "static library" "$tmp/app-static"
# the whole archive: src/exports.c's exported zmqobs_send & co. linked in
# next to the program's inline copies
# shellcheck disable=SC2086
$cxx $run_flags -O2 -g $SAN -Iinclude -o "$tmp/app-whole" "$tmp/app.cc" \
    -Wl,--whole-archive "$LIBOUT/libzmqobs.a" -Wl,--no-whole-archive $zmq_flags -lpthread -lm \
    || fail "link against the whole $LIBOUT/libzmqobs.a"
grep -q ' T zmqobs_send$' <<<"$(nm "$tmp/app-whole")" || fail "the whole archive lacks zmqobs_send"
run "whole static library" "$tmp/app-whole"
if [ -z "$SAN" ]; then
    # shellcheck disable=SC2086
    $cxx $run_flags -O2 -g -Iinclude -o "$tmp/app-shared" "$tmp/app.cc" -L"$LIBOUT" -lzmqobs \
        -Wl,-rpath,"$PWD/$LIBOUT" $zmq_flags || fail "link against $LIBOUT/libzmqobs.so"
    # not ldd | grep -q: grep leaving early can kill ldd with SIGPIPE,
    # which pipefail turns into a failure
    grep -q "$PWD/$LIBOUT/libzmqobs.so" <<<"$(ldd "$tmp/app-shared")" || fail "not linked to $LIBOUT/libzmqobs.so"
    run "shared library" "$tmp/app-shared"
fi
echo "test_cxx_header: PASS"
