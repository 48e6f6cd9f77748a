#!/usr/bin/env bash
# test_status_page.sh - the status page in a real browser: headless
# Chromium (Debian's chromium) driven by playwright-core (npm, pinned,
# installed into build/npm by this script) against tests/status_host.c,
# a host with hostile socket names and live traffic. The checks are in
# tests/status_page_check.js:
#   - /, /status.js, /status.css, /metrics.json, /events: 200, their
#     Content-Type, the Content-Security-Policy and nosniff;
#   - every socket listed, name and type literal, monitor up, message
#     rates > 0 under traffic;
#   - traffic paused: every count on the page (messages, errors, would
#     block, handshake failures, reconnects, listening, peers) equals the
#     text exposition's, read before and after one poll (both the same);
#     a handshake failed on purpose is shown with its reason;
#   - the hostile names (<script>, <img onerror>, quotes, backslash,
#     &amp;, UTF-8) shown as text: no dialog, no handler ran, no element
#     made from a name, one script on the page, no script error and no
#     CSP violation in the console;
#   - the charts drawn (pixels in the rate colour), the events table equal
#     to /events (newest first), the process facts; the router's peer
#     (a hostile routing id) with the count /peers gives; in a second
#     page whose /peers the test answers (the exposition's peers taken
#     out), the peers table busiest first with names as text, hidden
#     once /peers answers 404;
#   - serving stopped: the error banner appears and polling goes on;
#     serving again on the same port: the banner goes;
#   - 100 sockets: all listed, the filter and the column sort work.
# A screenshot goes to $OBJDIR/status_page.png. The host is built against
# $LIBOUT with $SAN; TEST_WRAP is not used. An npm registry that cannot
# be reached fails the test. Bounded (a watchdog in the script, timeout
# here); kills what it started, removes its files.
set -euo pipefail
cd "$(dirname "$0")/.."
OBJDIR=${OBJDIR:-build}
LIBOUT=${LIBOUT:-lib}
CC=${CC:-cc}
SAN=${SAN:-}
PLAYWRIGHT_VERSION=1.65.1
NPM_DIR=build/npm

fail() { echo "test_status_page: FAIL: $*" >&2; exit 1; }
[ -f "$LIBOUT/libzmqobs.a" ] || fail "$LIBOUT/libzmqobs.a missing"
command -v node >/dev/null || fail "node missing (.ci/deps test installs nodejs)"
command -v npm >/dev/null || fail "npm missing (.ci/deps test installs npm)"
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium missing (.ci/deps test installs chromium)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zmqobs-status.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# playwright-core, pinned, into the build tree (once)
have=$(node -p "require('./$NPM_DIR/node_modules/playwright-core/package.json').version" 2>/dev/null || true)
if [ "$have" != "$PLAYWRIGHT_VERSION" ]; then
    mkdir -p "$NPM_DIR"
    npm install --prefix "$NPM_DIR" --no-save --no-audit --no-fund --no-package-lock \
        "playwright-core@$PLAYWRIGHT_VERSION" >"$tmp/npm.out" 2>&1 \
        || { cat "$tmp/npm.out" >&2; fail "npm install playwright-core@$PLAYWRIGHT_VERSION (is the npm registry reachable?)"; }
fi

mkdir -p "$OBJDIR/status-test"
B="$OBJDIR/status-test/status_host"
# shellcheck disable=SC2046,SC2086
$CC -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -Iinclude $SAN -o "$B" tests/status_host.c \
    "$LIBOUT/libzmqobs.a" $(pkg-config --cflags --libs libzmq) -lpthread -lm \
    || fail "cannot build tests/status_host.c"

# libzmq is not instrumented: silence TSan inside it only
printf 'race:libzmq.so\ncalled_from_lib:libzmq.so\n' >"$tmp/tsan.supp"
export TSAN_OPTIONS="suppressions=$tmp/tsan.supp ${TSAN_OPTIONS:-}"
# the browser keeps its profile and caches in a home of its own
HOME=$tmp timeout -k 10 240 node tests/status_page_check.js "$NPM_DIR" "$B" "$OBJDIR/status_page.png" \
    || fail "status_page_check.js"
echo "test_status_page: PASS (screenshot: $OBJDIR/status_page.png)"
