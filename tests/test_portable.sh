#!/usr/bin/env bash
# Portable builds: every library source compiles warning-free (-Werror)
#   - with gcc in strict POSIX mode: -std=c11 -D_POSIX_C_SOURCE=200809L and
#     no _GNU_SOURCE (so no GNU extension may be used unguarded);
#   - with musl-gcc (Debian's musl-tools), both with the build's usual
#     -D_GNU_SOURCE and in strict POSIX mode; musl's headers do not
#     include /usr/include, so zmq.h is copied into a private directory.
# The healthcheck tool (installed as zmqobs-healthcheck) is compiled the
# same ways. Compile only: nothing is linked against libzmq.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${SAN:-}" ] || [ -n "${TEST_WRAP:-}" ]; then
    echo "test_portable: compile checks run in the plain build only (skipped under SAN/TEST_WRAP)"
    exit 0
fi
fail() { echo "test_portable: FAIL: $*" >&2; exit 1; }
command -v musl-gcc >/dev/null || fail "musl-gcc missing (Debian package musl-tools; .ci/deps test installs it)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zmqobs-portable.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

zmq_inc=$(pkg-config --variable=includedir libzmq 2>/dev/null || echo /usr/include)
[ -f "$zmq_inc/zmq.h" ] || fail "zmq.h not found in $zmq_inc"
mkdir -p "$tmp/inc"
cp "$zmq_inc/zmq.h" "$tmp/inc/"

warn=(-Wall -Wextra -Wshadow -Wstrict-prototypes -Werror)
srcs=(src/*.c)
# compile NAME COMPILER FLAGS...: every source and the healthcheck
compile() {
    local name=$1 cc=$2 n=0
    shift 2
    for f in "${srcs[@]}"; do
        "$cc" "$@" -fPIC -fvisibility=hidden -Iinclude -Isrc "${warn[@]}" -O2 \
            -c -o "$tmp/out.o" "$f" 2>"$tmp/err" || { cat "$tmp/err" >&2; fail "$name: $f"; }
        n=$((n + 1))
    done
    "$cc" "$@" -Iinclude "${warn[@]}" -O2 -c -o "$tmp/out.o" examples/healthcheck.c 2>"$tmp/err" \
        || { cat "$tmp/err" >&2; fail "$name: examples/healthcheck.c"; }
    echo "test_portable: $name: $n library sources and the healthcheck compile with -Werror"
}

compile "gcc -std=c11 -D_POSIX_C_SOURCE=200809L (no _GNU_SOURCE)" "${CC:-cc}" \
    -std=c11 -D_POSIX_C_SOURCE=200809L
compile "musl-gcc -std=c11 -D_GNU_SOURCE" musl-gcc -std=c11 -D_GNU_SOURCE -I"$tmp/inc"
compile "musl-gcc -std=c11 -D_POSIX_C_SOURCE=200809L" musl-gcc \
    -std=c11 -D_POSIX_C_SOURCE=200809L -I"$tmp/inc"
# The Alpine image (examples/deploy/Dockerfile.alpine; no Docker engine
# here to build it): the examples it builds compile with musl too, its
# health check is the installed tool, and it runs as an unprivileged user.
df=examples/deploy/Dockerfile.alpine
exs=$(sed -n 's/.*for ex in \([a-z_ ]*\); do.*/\1/p' "$df")
[ -n "$exs" ] || fail "$df: no examples built"
for ex in $exs; do
    musl-gcc -std=c11 -D_GNU_SOURCE -I"$tmp/inc" -Iinclude "${warn[@]}" -O2 -c -o "$tmp/out.o" \
        "examples/$ex.c" 2>"$tmp/err" || { cat "$tmp/err" >&2; fail "musl-gcc: examples/$ex.c ($df)"; }
done
grep -A1 '^HEALTHCHECK' "$df" | grep -q '"/usr/local/bin/zmqobs-healthcheck"' \
    || fail "$df: HEALTHCHECK must run the installed zmqobs-healthcheck"
grep -q '^COPY --from=build .*/usr/local/bin/zmqobs-healthcheck' "$df" || fail "$df: zmqobs-healthcheck not copied"
user=$(sed -n 's/^USER \(.*\)/\1/p' "$df")
case "${user%%:*}" in "" | root | 0) fail "$df: runs as root" ;; esac
echo "test_portable: $df: examples $(echo $exs) compile with musl; HEALTHCHECK runs zmqobs-healthcheck as user $user"
echo "test_portable: OK"
