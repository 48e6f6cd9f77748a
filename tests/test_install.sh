#!/usr/bin/env bash
# Install, pkg-config and uninstall: `make install DESTDIR=... PREFIX=/usr`
# writes the headers (zmqobs.h, zmqobs_inline.h and the C++ zmqobs.hpp),
# both libraries with the soname links and the .pc file; a C program, a
# C++ one and one using zmqobs.hpp over cppzmq build outside the tree with
# only `pkg-config --cflags --libs libzmqobs` and run, linked with the shared
# library or the whole static one; `make uninstall` with the same
# variables removes exactly what was installed; only zmqobs_ symbols are
# exported, among them every public inline function, which a ctypes
# program calls.
# Also installed and checked here: the CMake package (tests/cmake_consumer
# configured against the stage with find_package, built with the shared
# and the static target, both programs run; version compatibility), the
# zmqobs-healthcheck tool (Healthy and exit 0 against a live PING/PONG
# peer, Unhealthy and exit 1 against a dead endpoint) and the man pages
# zmqobs-healthcheck(1) and zmqobs(3) (render without warnings; the
# library's page names every public function).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${SAN:-}" ] || [ -n "${TEST_WRAP:-}" ]; then
    echo "test_install: runs in the plain build only (skipped under SAN/TEST_WRAP)"
    exit 0
fi
tmp=$(mktemp -d)
pong=
trap '[ -z "$pong" ] || kill "$pong" 2>/dev/null || true; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

make --no-print-directory symbols

stage=$tmp/stage
make --no-print-directory install DESTDIR="$stage" PREFIX=/usr >/dev/null
ver=$(sed -n 's/^#define ZMQOBS_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' include/zmqobs.h | paste -sd.)
major=${ver%%.*}
expected="usr/bin/zmqobs-healthcheck
usr/include/zmqobs.h
usr/include/zmqobs.hpp
usr/include/zmqobs_inline.h
usr/lib/cmake/libzmqobs/libzmqobs-config-version.cmake
usr/lib/cmake/libzmqobs/libzmqobs-config.cmake
usr/lib/libzmqobs.a
usr/lib/libzmqobs.so
usr/lib/libzmqobs.so.$major
usr/lib/libzmqobs.so.$ver
usr/lib/pkgconfig/libzmqobs.pc
usr/share/man/man1/zmqobs-healthcheck.1
usr/share/man/man3/zmqobs.3"
got=$(cd "$stage" && find . \( -type f -o -type l \) | sed 's|^\./||' | LC_ALL=C sort)
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

# A C program linking the whole static library: src/exports.c's exported
# zmqobs_send & co. sit next to the program's own inline copies (internal
# linkage), with no duplicate symbol, and the program behaves the same.
zmq_libs=$(pkg-config --libs libzmq)
# shellcheck disable=SC2086
(cd "$tmp/app" && ${CC:-cc} -std=c11 -Wall -Wextra -Werror -I"$stage/usr/include" -o app-static app.c \
    -Wl,--whole-archive "$stage/usr/lib/libzmqobs.a" -Wl,--no-whole-archive $zmq_libs -lpthread -lm) \
    || fail "C program linked with the whole libzmqobs.a"
grep -q ' T zmqobs_send$' <<<"$(nm "$tmp/app/app-static")" || fail "zmqobs_send not linked from libzmqobs.a"
[ "$("$tmp/app/app-static")" = "$want" ] || fail "statically linked app printed something else"

# Every public inline function is also exported under its own name, for
# FFI callers (ctypes, cffi, cgo, Rust).
inline_fns="zmqobs_send zmqobs_recv zmqobs_msg_send zmqobs_msg_recv zmqobs_record_sent
zmqobs_record_received zmqobs_record_latency"
exported=$(nm -D --defined-only "$stage/usr/lib/libzmqobs.so.$ver" | awk '$2 == "T" {print $3}')
for f in $inline_fns; do
    grep -qx "$f" <<<"$exported" || fail "$f is not exported by libzmqobs.so.$ver"
done
# ... and every function the header defines inline is in that list
in_header=$(sed -n 's/^ZMQOBS_I_HOT [a-z]* \(zmqobs_[a-z_]*\) (.*/\1/p' "$stage/usr/include/zmqobs_inline.h" | sort)
[ "$in_header" = "$(tr ' ' '\n' <<<"$inline_fns" | sort)" ] || fail "inline functions in the header:
$in_header"
# A ctypes program (no C compiler involved) calls them through the .so.
/usr/bin/python3 - "$stage/usr/lib/libzmqobs.so.$ver" <<'PYEOF' || fail "ctypes calls of the exported inline functions"
import ctypes, errno, json, sys

lib = ctypes.CDLL(sys.argv[1], use_errno=True)
zmq = ctypes.CDLL("libzmq.so.5", use_errno=True)
P, S, I, U64 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_uint64
def sig(f, res, *args):
    f.restype, f.argtypes = res, list(args)
for name, res, args in [
        ("zmqobs_new", P, [P, P]), ("zmqobs_attach", P, [P, P, ctypes.c_char_p]),
        ("zmqobs_detach", None, [ctypes.POINTER(P)]), ("zmqobs_destroy", None, [ctypes.POINTER(P)]),
        ("zmqobs_format", I, [P, I, ctypes.c_char_p, S]),
        ("zmqobs_send", I, [P, ctypes.c_char_p, S, I]), ("zmqobs_recv", I, [P, ctypes.c_char_p, S, I]),
        ("zmqobs_msg_send", I, [P, P, I]), ("zmqobs_msg_recv", I, [P, P, I]),
        ("zmqobs_record_sent", None, [P, S, I]), ("zmqobs_record_received", None, [P, S, I]),
        ("zmqobs_record_latency", None, [P, U64])]:
    sig(getattr(lib, name), res, *args)
for name, res, args in [
        ("zmq_ctx_new", P, []), ("zmq_ctx_term", I, [P]), ("zmq_socket", P, [P, I]),
        ("zmq_close", I, [P]), ("zmq_bind", I, [P, ctypes.c_char_p]),
        ("zmq_connect", I, [P, ctypes.c_char_p]), ("zmq_msg_init", I, [P]),
        ("zmq_msg_init_size", I, [P, S]), ("zmq_msg_data", P, [P]), ("zmq_msg_size", S, [P]),
        ("zmq_msg_close", I, [P])]:
    sig(getattr(zmq, name), res, *args)

# NULL handles: the records are ignored, the wrappers fail with ENOTSOCK
lib.zmqobs_record_sent(None, 5, 0)
lib.zmqobs_record_received(None, 5, 0)
lib.zmqobs_record_latency(None, 5)
ctypes.set_errno(0)
assert lib.zmqobs_send(None, b"x", 1, 0) == -1 and ctypes.get_errno() == errno.ENOTSOCK

ZMQ_PAIR, ZMQ_DONTWAIT, JSON = 0, 1, 2
ctx = zmq.zmq_ctx_new()
obs = P(lib.zmqobs_new(ctx, None))
a, b = zmq.zmq_socket(ctx, ZMQ_PAIR), zmq.zmq_socket(ctx, ZMQ_PAIR)
sa, sb = P(lib.zmqobs_attach(obs, a, b"a")), P(lib.zmqobs_attach(obs, b, b"b"))
assert sa.value and sb.value
assert zmq.zmq_bind(a, b"inproc://ctypes") == 0 and zmq.zmq_connect(b, b"inproc://ctypes") == 0
buf = ctypes.create_string_buffer(16)
assert lib.zmqobs_send(sa, b"hello", 5, 0) == 5
assert lib.zmqobs_recv(sb, buf, 16, 0) == 5 and buf.raw[:5] == b"hello"
Msg = ctypes.c_uint64 * 8  # zmq_msg_t: 64 bytes, pointer-aligned
out, got = Msg(), Msg()
assert zmq.zmq_msg_init_size(out, 3) == 0
ctypes.memmove(zmq.zmq_msg_data(out), b"abc", 3)
assert lib.zmqobs_msg_send(out, sa, 0) == 3
assert zmq.zmq_msg_init(got) == 0 and lib.zmqobs_msg_recv(got, sb, 0) == 3
assert ctypes.string_at(zmq.zmq_msg_data(got), zmq.zmq_msg_size(got)) == b"abc"
zmq.zmq_msg_close(got)
ctypes.set_errno(0)
assert lib.zmqobs_recv(sa, buf, 16, ZMQ_DONTWAIT) == -1 and ctypes.get_errno() == errno.EAGAIN
lib.zmqobs_record_sent(sa, 100, 0)
lib.zmqobs_record_received(sb, 40, 0)
lib.zmqobs_record_latency(sa, 1500)
lib.zmqobs_record_latency(sa, 2500000)

# room to spare: uptimes and monitor events may lengthen the text between
# the measuring call and the real one
n = lib.zmqobs_format(obs, JSON, None, 0)
text = ctypes.create_string_buffer(n + 4096)
assert 0 < lib.zmqobs_format(obs, JSON, text, n + 4096) < n + 4096
socks = {s["name"]: s for s in json.loads(text.value)["sockets"]}
got = {k: (s["messages_sent"], s["bytes_sent"], s["messages_received"], s["bytes_received"],
           s["would_block"]["recv"], s["latency"]["count"], s["latency_window"]["count"])
       for k, s in socks.items()}
want = {"a": (3, 108, 0, 0, 1, 2, 2), "b": (0, 0, 3, 48, 0, 0, 0)}
assert got == want, got
assert abs(socks["a"]["latency"]["sum_seconds"] - 0.0025015) < 1e-12, socks["a"]["latency"]

lib.zmqobs_detach(ctypes.byref(sa))
lib.zmqobs_detach(ctypes.byref(sb))
assert sa.value is None and sb.value is None
lib.zmqobs_destroy(ctypes.byref(obs))
zmq.zmq_close(a)
zmq.zmq_close(b)
zmq.zmq_ctx_term(ctx)
print("ctypes: the 7 exported inline functions behave as the inline ones")
PYEOF

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
    # ... and the C++ API, over cppzmq, from the installed zmqobs.hpp
    cat > "$tmp/app/apphpp.cc" <<'CXX'
#include <zmqobs.hpp>
#include <cstdio>
int main ()
{
    zmq::context_t ctx;
    zmqobs::observer obs (ctx, zmqobs::default_options ());
    zmq::socket_t a (ctx, zmq::socket_type::pair), b (ctx, zmq::socket_type::pair);
    zmqobs::socket s = obs.attach (a, "app");
    a.bind ("inproc://apphpp");
    b.connect ("inproc://apphpp");
    s.send (zmq::buffer ("hello", 5));
    std::printf ("sent=%u\n", static_cast<unsigned> (s.stats ().msgs_sent));
    return 0;
}
CXX
    (cd "$tmp/app" && c++ -std=c++11 -Wall -Wextra -Werror -o apphpp apphpp.cc $flags)
    [ "$(LD_LIBRARY_PATH="$stage/usr/lib" "$tmp/app/apphpp")" = "sent=1" ] || fail "zmqobs.hpp consumer"
fi

# --- CMake package: find_package(libzmqobs) from the stage ---------------
cm=$stage/usr/lib/cmake/libzmqobs
if grep -q "$stage" "$cm/libzmqobs-config.cmake" "$cm/libzmqobs-config-version.cmake"; then
    fail "the CMake package mentions DESTDIR"
fi
grep -q "^set(PACKAGE_VERSION \"$ver\")\$" "$cm/libzmqobs-config-version.cmake" || fail "CMake package version"
# cmake_build DIR VERSION: configures tests/cmake_consumer in DIR against
# the stage, asking find_package for VERSION ("" = any)
cmake_configure() {
    cmake -S tests/cmake_consumer -B "$1" -DCMAKE_C_COMPILER="${CC:-cc}" \
        -DCMAKE_PREFIX_PATH="$stage/usr" -DZMQOBS_FIND_VERSION="$2" >"$1.log" 2>&1
}
cmake_configure "$tmp/cmake" "${ver%.*}" || { cat "$tmp/cmake.log" >&2; fail "cmake configure of the consumer"; }
grep -q "libzmqobs $ver found in $cm\$" "$tmp/cmake.log" || { cat "$tmp/cmake.log" >&2; fail "found elsewhere"; }
cmake --build "$tmp/cmake" >"$tmp/cmake-build.log" 2>&1 || { cat "$tmp/cmake-build.log" >&2; fail "cmake build of the consumer"; }
want_cm="version $(( ${ver%%.*} * 10000 + $(echo "$ver" | cut -d. -f2) * 100 + ${ver##*.} )) sent=1 bytes=5
zmq_bytes_sent_total{socket=\"cmake\",type=\"PAIR\"} 5"
for kind in shared static; do
    # the shared one finds the staged library through the build tree's
    # RUNPATH, which CMake sets from the imported target's location
    out=$("$tmp/cmake/consumer_$kind") || fail "consumer_$kind failed"
    [ "$out" = "$want_cm" ] || fail "consumer_$kind printed '$out', expected '$want_cm'"
done
needed_shared=$(readelf -d "$tmp/cmake/consumer_shared" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
needed_static=$(readelf -d "$tmp/cmake/consumer_static" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
grep -qx "libzmqobs.so.$major" <<<"$needed_shared" || fail "consumer_shared does not need libzmqobs.so.$major"
grep -qx "libzmq.so.5" <<<"$needed_shared" || fail "consumer_shared does not need libzmq"
if grep -q libzmqobs <<<"$needed_static"; then fail "consumer_static needs a shared libzmqobs"; fi
grep -qx "libzmq.so.5" <<<"$needed_static" || fail "consumer_static does not need libzmq"
loaded=$(ldd "$tmp/cmake/consumer_shared")
grep -q "=> $stage/usr/lib/libzmqobs.so.$major " <<<"$loaded" || fail "consumer_shared does not load the staged .so"
# Version compatibility (0.x: the minor number must match; see the
# version file): a newer minor, another major and a range above refuse.
for v in "${ver%%.*}.$(( $(echo "$ver" | cut -d. -f2) + 1 ))" "$(( ${ver%%.*} + 1 )).0" \
         "${ver%%.*}.$(( $(echo "$ver" | cut -d. -f2) + 1 ))...${ver%%.*}.$(( $(echo "$ver" | cut -d. -f2) + 3 ))"; do
    if cmake_configure "$tmp/cmake-v" "$v"; then fail "find_package(libzmqobs $v) accepted $ver"; fi
    grep -q "libzmqobs-config.cmake, version: $ver\$" "$tmp/cmake-v.log" || { cat "$tmp/cmake-v.log" >&2; fail "find_package(libzmqobs $v): not refused for its version"; }
    rm -rf "$tmp/cmake-v"
done
cmake_configure "$tmp/cmake-v" "$ver" || fail "find_package(libzmqobs $ver EXACT version) refused"
echo "test_install: CMake consumer (libzmqobs::libzmqobs and libzmqobs::libzmqobs-static) built and ran"

# --- zmqobs-healthcheck --------------------------------------------------
hc=$stage/usr/bin/zmqobs-healthcheck
if grep -q 'NEEDED.*libzmqobs' <<<"$(readelf -d "$hc")"; then fail "zmqobs-healthcheck needs libzmqobs.so"; fi
/usr/bin/python3 - >"$tmp/pong.out" 2>&1 <<'PYEOF' &
import zmq
ctx = zmq.Context()
rep = ctx.socket(zmq.REP)
rep.linger = 0
port = rep.bind_to_random_port("tcp://127.0.0.1")
print(port, flush=True)
# answers until the test stops it: a peer that closed right after its
# PONG could take the reply with it (the REQ uses ZMQ_IMMEDIATE)
while rep.poll(20000):
    rep.send(b"PONG" if rep.recv() == b"PING" else b"?")
PYEOF
pong=$!
for _ in $(seq 1 400); do [ -s "$tmp/pong.out" ] && break; sleep 0.05; done
port=$(head -1 "$tmp/pong.out")
[ -n "$port" ] || { kill "$pong" 2>/dev/null; fail "the PONG peer did not start"; }
rc=0
"$hc" "tcp://127.0.0.1:$port" >"$tmp/hc.out" 2>"$tmp/hc.err" || rc=$?
kill "$pong" 2>/dev/null || true
wait "$pong" 2>/dev/null || true
pong=
[ "$rc" -eq 0 ] || { cat "$tmp/hc.err" >&2; fail "zmqobs-healthcheck of a live peer: exit $rc"; }
[ "$(cat "$tmp/hc.out")" = "Healthy" ] || fail "zmqobs-healthcheck printed '$(cat "$tmp/hc.out")'"
[ ! -s "$tmp/hc.err" ] || fail "zmqobs-healthcheck wrote to stderr: $(cat "$tmp/hc.err")"
# nothing behind an ipc endpoint: never connected, so the PING never leaves
rc=0
"$hc" "ipc://$tmp/nobody.sock" 300 >"$tmp/hc.out" 2>"$tmp/hc.err" || rc=$?
[ "$rc" -eq 1 ] || fail "zmqobs-healthcheck of a dead endpoint: exit $rc"
[ "$(cat "$tmp/hc.err")" = "Unhealthy: timed out sending PING" ] || fail "dead endpoint: '$(cat "$tmp/hc.err")'"
[ ! -s "$tmp/hc.out" ] || fail "dead endpoint: stdout '$(cat "$tmp/hc.out")'"
rc=0
"$hc" >"$tmp/hc.out" 2>"$tmp/hc.err" || rc=$?
[ "$rc" -eq 1 ] && grep -q '^Unhealthy: usage: zmqobs-healthcheck ENDPOINT \[TIMEOUT_MS\]$' "$tmp/hc.err" \
    || fail "zmqobs-healthcheck without arguments: exit $rc, '$(cat "$tmp/hc.err")'"
echo "test_install: zmqobs-healthcheck: Healthy (0) against a live peer, Unhealthy (1) against a dead endpoint"

# --- man pages -------------------------------------------------------------
for page in man1/zmqobs-healthcheck.1 man3/zmqobs.3; do
    LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$stage/usr/share/man/$page" \
        >"$tmp/man.txt" 2>"$tmp/man.err" || fail "man -l $page failed"
    [ ! -s "$tmp/man.err" ] || { cat "$tmp/man.err" >&2; fail "man -l $page: warnings"; }
    name=$(basename "$page" | sed 's/\.[0-9]$//')
    grep -q "^ *$name - " "$tmp/man.txt" || fail "$page: no NAME line for $name"
done
LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$stage/usr/share/man/man3/zmqobs.3" 2>/dev/null >"$tmp/man3.txt"
# the public functions: what the library exports, but the zmqobs_i_
# helpers of the inline wrappers
public=$(nm -D --defined-only "$stage/usr/lib/libzmqobs.so.$ver" | awk '$2 == "T" {print $3}' \
    | grep -v '^zmqobs_i_' | sort)
[ -n "$public" ] || fail "no public function exported"
missing=$(for f in $public; do grep -qw -- "$f" "$tmp/man3.txt" || echo "$f"; done)
[ -z "$missing" ] || fail "zmqobs(3) does not name: $missing"
echo "test_install: man pages render without warnings; zmqobs(3) names all $(wc -l <<<"$public") public functions"

make --no-print-directory uninstall DESTDIR="$stage" PREFIX=/usr >/dev/null
left=$(cd "$stage" && find . \( -type f -o -type l \) | sed 's|^\./||')
[ -z "$left" ] || fail "uninstall left: $left"
[ ! -e "$cm" ] || fail "uninstall left $cm"
echo "test_install: OK (install, pkg-config C, C++ and zmqobs.hpp consumers, static link, uninstall, exported symbols, ctypes, CMake package, zmqobs-healthcheck, man pages)"
