#!/usr/bin/env bash
# test_cpp.sh - the C++ API, include/zmqobs.hpp (over cppzmq):
#   - tests/test_cpp.cpp and examples/cpp_server.cpp compile without a
#     warning under both strict flag sets of tests/test_cxx_header.sh:
#       g++ -std=c++11 -Wall -Wextra -Wpedantic -Wold-style-cast
#           -Wuseless-cast -Wzero-as-null-pointer-constant -Werror
#       clang++ -std=c++17 -Weverything -Wno-c++98-compat -Wno-padded -Werror
#     with -Iinclude (zmqobs.hpp's own warnings would show); cppzmq's
#     zmq.hpp is found in /usr/include, a system directory, so its own
#     warnings are not reported (installed elsewhere, it would need
#     -isystem); g++ is required, a missing clang++ is reported and skipped;
#   - test_cpp.cpp, linked against $LIBOUT/libzmqobs.a, runs and passes
#     every check (exact counts, errors, format, serve, on_event, moves);
#   - examples/cpp_server.cpp (built by `make examples` in the plain build)
#     serves a python3 REQ client: /metrics mid-run counts exactly the
#     requests received so far, and the summary after MAX_REQUESTS is
#     exact; bad arguments exit 2.
# Sanitizer builds compile both programs with $SAN against $LIBOUT (with
# the C++ driver of the compiler that built the library); TEST_WRAP runs
# them under its tool. Bounded (every wait has a limit); kills what it
# started, removes its files.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
OBJDIR=${OBJDIR:-build}
LIBOUT=${LIBOUT:-lib}
CC=${CC:-cc}
SAN=${SAN:-}
TEST_WRAP=${TEST_WRAP:-}
PY=/usr/bin/python3

fail() { echo "test_cpp: FAIL: $*" >&2; exit 1; }
[ -f "$LIBOUT/libzmqobs.a" ] || fail "$LIBOUT/libzmqobs.a missing"
command -v g++ >/dev/null 2>&1 || fail "g++ not found (.ci/deps build installs gcc, which brings g++)"
echo '#include <zmq.hpp>' | g++ -std=c++11 -x c++ -fsyntax-only - 2>/dev/null \
    || fail "cppzmq's zmq.hpp not found (.ci/deps test installs cppzmq-dev)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zmqobs-cpp.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp ${TSAN_OPTIONS:-}"

gxx_flags="-std=c++11 -Wall -Wextra -Wpedantic -Wold-style-cast -Wuseless-cast
    -Wzero-as-null-pointer-constant -Werror"
clang_flags="-std=c++17 -Weverything -Wno-c++98-compat -Wno-padded -Werror"
zmq_flags=$(pkg-config --cflags --libs libzmq 2>/dev/null || echo -lzmq)

# --- both strict flag sets ----------------------------------------------
compile() { # compile CXX FLAGS...: both sources, to objects only
    local cxx=$1 src
    shift
    for src in tests/test_cpp.cpp examples/cpp_server.cpp; do
        echo "test_cpp: $cxx $* -O2 -Iinclude -c $src"
        # shellcheck disable=SC2068
        "$cxx" "$@" -O2 -Iinclude -c -o "$tmp/$cxx-$(basename "$src" .cpp).o" "$src" \
            || fail "$cxx rejects $src"
    done
}
# shellcheck disable=SC2086
compile g++ $gxx_flags
if command -v clang++ >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    compile clang++ $clang_flags
else
    echo "test_cpp: SKIP clang++: not installed (.ci/deps test installs clang)"
fi

# --- the test program ------------------------------------------------------
# built by the C++ driver of the compiler that built $LIBOUT (sanitizer
# runtimes differ between gcc and clang), with $SAN
cxx=g++
run_flags=$gxx_flags
if grep -qi clang <<<"$("$CC" --version 2>/dev/null)"; then
    cxx=clang++
    run_flags=$clang_flags
fi
# shellcheck disable=SC2086
$cxx $run_flags -O1 -g $SAN -Iinclude -o "$tmp/test_cpp" tests/test_cpp.cpp "$LIBOUT/libzmqobs.a" \
    $zmq_flags -lpthread -lm || fail "cannot build tests/test_cpp.cpp"
# shellcheck disable=SC2086
timeout 300 $TEST_WRAP "$tmp/test_cpp" >"$tmp/test.out" 2>&1 || {
    cat "$tmp/test.out" >&2
    fail "tests/test_cpp.cpp failed"
}
cat "$tmp/test.out"
[ "$(tail -n 1 "$tmp/test.out")" = "test_cpp: all passed" ] || fail "no 'all passed' line"
[ "$(grep -c ': ok$' "$tmp/test.out")" = 11 ] || fail "expected 11 tests"

# --- the example -------------------------------------------------------------
if [ -z "$SAN" ] && [ -z "$TEST_WRAP" ] && [ "$OBJDIR" = build ] && [ "$LIBOUT" = lib ]; then
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory examples >"$tmp/make.out" 2>&1 \
        || { cat "$tmp/make.out" >&2; fail "make examples"; }
    grep -q 'CXX build/examples/cpp_server' "$tmp/make.out" || fail "make examples did not build cpp_server"
    B=build/examples/cpp_server
else
    B="$tmp/cpp_server"
    # shellcheck disable=SC2086
    $cxx $run_flags -O1 -g $SAN -Iinclude -o "$B" examples/cpp_server.cpp "$LIBOUT/libzmqobs.a" \
        $zmq_flags -lpthread -lm || fail "cannot build examples/cpp_server.cpp"
fi
[ -x "$B" ] || fail "$B not built"

status=0
timeout 60 $TEST_WRAP "$B" 'tcp://127.0.0.1:*' 12x off >"$tmp/bad.out" 2>&1 || status=$?
[ "$status" -eq 2 ] && grep -q "MAX_REQUESTS: '12x'" "$tmp/bad.out" \
    || { cat "$tmp/bad.out" >&2; fail "bad MAX_REQUESTS: exit $status"; }
status=0
timeout 60 $TEST_WRAP "$B" a 1 off extra >"$tmp/bad.out" 2>&1 || status=$?
[ "$status" -eq 2 ] && grep -q "usage" "$tmp/bad.out" || fail "extra argument: exit $status"

# three requests, then it stops by itself
: >"$tmp/srv.out"
# shellcheck disable=SC2086
$TEST_WRAP "$B" 'tcp://127.0.0.1:*' 3 'tcp://127.0.0.1:0' >"$tmp/srv.out" 2>"$tmp/srv.err" </dev/null &
prog=$!
pids+=("$prog")
for _ in $(seq 1 600); do # 60 s at most (valgrind starts slowly)
    grep -q '^cpp_server: metrics on ' "$tmp/srv.out" && break
    kill -0 "$prog" 2>/dev/null || break
    sleep 0.1
done
rep_ep=$(sed -n 's/^cpp_server: REP on \(.*\)$/\1/p' "$tmp/srv.out")
port=$(sed -n 's|^cpp_server: metrics on http://127.0.0.1:\([0-9]*\)/metrics .*|\1|p' "$tmp/srv.out")
[ -n "$rep_ep" ] && [ -n "$port" ] || { cat "$tmp/srv.out" "$tmp/srv.err" >&2; fail "cpp_server did not start"; }
echo "test_cpp: cpp_server: REP on $rep_ep, metrics on port $port"

# two requests; then /metrics (a raw HTTP/1.1 request) counts both as
# received (each was counted before its reply went out); then the third
timeout 120 "$PY" - "$rep_ep" "$port" >"$tmp/client.out" 2>&1 <<'PYEOF' || { cat "$tmp/client.out" "$tmp/srv.out" "$tmp/srv.err" >&2; fail "client"; }
import socket, sys, zmq
ep, port = sys.argv[1], int(sys.argv[2])
ctx = zmq.Context()
s = ctx.socket(zmq.REQ)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.RCVTIMEO, 60000)
s.connect(ep)
def ask(req, want):
    s.send(req)
    rep = s.recv()
    if rep != want:
        sys.exit("reply %r, expected %r" % (rep, want))
ask(b"PING", b"PONG")
ask(b"hello", b"ACK hello")
c = socket.create_connection(("127.0.0.1", port), timeout=60)
c.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
resp = b""
while True:
    chunk = c.recv(65536)
    if not chunk:
        break
    resp += chunk
c.close()
text = resp.decode()
if not text.startswith("HTTP/1.1 200 OK\r\n"):
    sys.exit("scrape: " + text[:200])
for line in ('zmq_messages_received_total{socket="frontend",type="REP"} 2',
             'zmq_bytes_received_total{socket="frontend",type="REP"} 9'):
    if "\n" + line + "\n" not in text:
        sys.exit("scrape lacks " + line)
ask(b"x", b"ACK x")
s.close()
ctx.term()
print("client: 3 replies, scrape mid-run exact")
PYEOF
cat "$tmp/client.out"

for _ in $(seq 1 600); do kill -0 "$prog" 2>/dev/null || break; sleep 0.1; done
kill -0 "$prog" 2>/dev/null && fail "cpp_server did not exit within 60 s after its 3 requests"
status=0
wait "$prog" || status=$?
pids=()
[ "$status" -eq 0 ] || { cat "$tmp/srv.out" "$tmp/srv.err" >&2; fail "cpp_server exit $status"; }
want="cpp_server: 3 requests; received 3 parts (10 bytes), sent 3 parts (18 bytes), 3 latency samples"
grep -qxF "$want" "$tmp/srv.out" || { cat "$tmp/srv.out" >&2; fail "no line: $want"; }
grep -qxF "[event] frontend LISTENING $rep_ep" "$tmp/srv.out" || fail "no LISTENING event printed"
grep -qxF "[event] frontend HANDSHAKE_SUCCEEDED $rep_ep" "$tmp/srv.out" || fail "no HANDSHAKE_SUCCEEDED printed"
echo "test_cpp: cpp_server: exact summary: $want"
echo "test_cpp: PASS"
