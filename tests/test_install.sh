#!/usr/bin/env bash
# Install, pkg-config and uninstall: `make install DESTDIR=... PREFIX=/usr`
# writes the header, both libraries with the soname links and the .pc
# file; a program outside the tree builds with only
# `pkg-config --cflags --libs libzmqobs` and runs; `make uninstall` with the
# same variables removes exactly what was installed; only zmqobs_ symbols
# are exported.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${SAN:-}" ] || [ -n "${TEST_WRAP:-}" ]; then
    echo "test_install: runs in the plain build only (skipped under SAN/TEST_WRAP)"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

make --no-print-directory symbols

stage=$tmp/stage
make --no-print-directory install DESTDIR="$stage" PREFIX=/usr >/dev/null
ver=$(sed -n 's/^#define ZMQOBS_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' include/zmqobs.h | paste -sd.)
major=${ver%%.*}
expected="usr/include/zmqobs.h
usr/include/zmqobs_inline.h
usr/lib/libzmqobs.a
usr/lib/libzmqobs.so
usr/lib/libzmqobs.so.$major
usr/lib/libzmqobs.so.$ver
usr/lib/pkgconfig/libzmqobs.pc"
got=$(cd "$stage" && find . \( -type f -o -type l \) | sed 's|^\./||' | sort)
[ "$got" = "$expected" ] || fail "installed files differ:
$got
expected:
$expected"
[ "$(readlink "$stage/usr/lib/libzmqobs.so")" = "libzmqobs.so.$major" ] || fail "dev symlink"
[ "$(readlink "$stage/usr/lib/libzmqobs.so.$major")" = "libzmqobs.so.$ver" ] || fail "soname symlink"
soname=$(readelf -d "$stage/usr/lib/libzmqobs.so.$ver" | sed -n 's/.*SONAME.*\[\(.*\)\].*/\1/p')
[ "$soname" = "libzmqobs.so.$major" ] || fail "soname is '$soname'"
grep -q '^prefix=/usr$' "$stage/usr/lib/pkgconfig/libzmqobs.pc" || fail ".pc prefix must be /usr, not DESTDIR"
grep -q "^Version: $ver\$" "$stage/usr/lib/pkgconfig/libzmqobs.pc" || fail ".pc version"
if grep -q "$stage" "$stage/usr/lib/pkgconfig/libzmqobs.pc"; then fail ".pc mentions DESTDIR"; fi

# A consumer outside the tree, built with pkg-config only.
mkdir -p "$tmp/app"
cat > "$tmp/app/app.c" <<'C'
#include <zmqobs.h>
#include <stdio.h>
#include <string.h>
int main (void)
{
    void *ctx = zmq_ctx_new ();
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    opts.host_driven = 1;
    zmqobs_t *obs = zmqobs_new (ctx, &opts);
    if (!obs) { perror ("zmqobs_new"); return 1; }
    void *a = zmq_socket (ctx, ZMQ_PAIR), *b = zmq_socket (ctx, ZMQ_PAIR);
    zmqobs_socket_t *s = zmqobs_attach (obs, a, "app");
    if (!s) { perror ("zmqobs_attach"); return 1; }
    if (zmq_bind (a, "inproc://app") || zmq_connect (b, "inproc://app")) return 1;
    if (zmqobs_send (s, "hello", 5, 0) != 5) return 1;
    char buf[8];
    if (zmq_recv (b, buf, sizeof buf, 0) != 5) return 1;
    zmqobs_stats_t st;
    if (zmqobs_socket_stats (s, &st) != 0) return 1;
    printf ("%s %u sent=%llu bytes=%llu\n", zmqobs_event_name (ZMQ_EVENT_ACCEPTED),
            zmqobs_version (), (unsigned long long) st.msgs_sent,
            (unsigned long long) st.bytes_sent);
    zmqobs_detach (&s);
    zmqobs_destroy (&obs);
    zmq_close (a); zmq_close (b);
    zmq_ctx_term (ctx);
    return 0;
}
C
flags=$(PKG_CONFIG_SYSROOT_DIR="$stage" PKG_CONFIG_PATH="$stage/usr/lib/pkgconfig" pkg-config --cflags --libs libzmqobs)
echo "pkg-config --cflags --libs libzmqobs: $flags"
(cd "$tmp/app" && ${CC:-cc} -std=c11 -Wall -Wextra -Werror -o app app.c $flags)
out=$(LD_LIBRARY_PATH="$stage/usr/lib" "$tmp/app/app")
want="ACCEPTED $(printf '%d' $(( ${ver%%.*} * 10000 + $(echo "$ver" | cut -d. -f2) * 100 + ${ver##*.} ))) sent=1 bytes=5"
[ "$out" = "$want" ] || fail "app printed '$out', expected '$want'"
# the program really uses the shared library from the stage
LD_LIBRARY_PATH="$stage/usr/lib" ldd "$tmp/app/app" | grep "$stage/usr/lib/libzmqobs.so.$major" >/dev/null || fail "not linked against the staged .so"

# C++ services include the same header (inline wrappers included).
if command -v c++ >/dev/null 2>&1; then
    cat > "$tmp/app/app.cc" <<'CXX'
#include <zmqobs.h>
int main ()
{
    zmqobs_socket_t *none = nullptr;
    char buf[4];
    zmqobs_record_latency (none, 5);
    return zmqobs_recv (none, buf, sizeof buf, 0) == -1 && errno == ENOTSOCK ? 0 : 1;
}
CXX
    (cd "$tmp/app" && c++ -std=c++11 -Wall -Wextra -Werror -o appxx app.cc $flags)
    LD_LIBRARY_PATH="$stage/usr/lib" "$tmp/app/appxx" || fail "C++ consumer"
fi

make --no-print-directory uninstall DESTDIR="$stage" PREFIX=/usr >/dev/null
left=$(cd "$stage" && find . \( -type f -o -type l \) | sed 's|^\./||')
[ -z "$left" ] || fail "uninstall left: $left"
echo "test_install: OK (install, pkg-config C and C++ consumers, uninstall, exported symbols)"
