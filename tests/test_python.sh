#!/usr/bin/env bash
# test_python.sh - the Python module over pyzmq (examples/python/zmqobs.py)
# and the Python example programs: runs the pytest suite in tests/python
# with Debian's /usr/bin/python3 (python3-zmq, python3-pytest) against the
# shared library of this build ($LIBOUT), after installing that build into
# a temporary prefix for the pkg-config lookup test.
#
# Sanitizer builds: the library's sanitizer runtime (libasan, libtsan:
# whichever it names in DT_NEEDED) is preloaded into python, with leak
# detection off (CPython does not free everything at exit); the tests
# run the compiler and other tools without it. Under
# TEST_WRAP (valgrind) the suite is skipped: CPython under memcheck is
# minutes of noise, and the ASan run covers the same calls.
set -euo pipefail
cd "$(dirname "$0")/.."
OBJDIR=${OBJDIR:-build}
LIBOUT=${LIBOUT:-lib}
CC=${CC:-cc}
SAN=${SAN:-}
TEST_WRAP=${TEST_WRAP:-}
PY=/usr/bin/python3

fail() { echo "test_python: FAIL: $*" >&2; exit 1; }
if [ -n "$TEST_WRAP" ]; then
    echo "test_python: skipped under TEST_WRAP (CPython under valgrind); the asan build runs it"
    exit 0
fi
lib=$(cd "$LIBOUT" && pwd)/$(readlink "$LIBOUT/libzmqobs.so")
[ -f "$lib" ] || fail "$LIBOUT/libzmqobs.so.N missing"
$PY -c 'import zmq, pytest' || fail "/usr/bin/python3 needs python3-zmq and python3-pytest (.ci/deps test)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zmqobs-py.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# an install of this very build, found through pkg-config by one test
make --no-print-directory install PREFIX="$tmp/prefix" OBJDIR="$OBJDIR" LIBOUT="$LIBOUT" \
    SAN="$SAN" >/dev/null || fail "make install PREFIX=$tmp/prefix"

preload=${LD_PRELOAD:-}
if [ -n "$SAN" ]; then
    runtime=$(readelf -d "$lib" | sed -n 's/.*NEEDED.*\[\(lib[at]san\.so[.0-9]*\)\].*/\1/p' | head -n 1)
    path=${runtime:+$($CC -print-file-name="$runtime")}
    if [ -z "$runtime" ] || [ ! -f "$path" ]; then
        echo "test_python: skipped: no sanitizer runtime to preload for $lib (SAN=$SAN)"
        exit 0
    fi
    preload="$path${LD_PRELOAD:+:$LD_PRELOAD}"
    export ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}"
    printf 'race:libzmq.so\ncalled_from_lib:libzmq.so\nrace:libstdc++.so\n' >"$tmp/tsan.supp"
    export TSAN_OPTIONS="suppressions=$tmp/tsan.supp ${TSAN_OPTIONS:-}"
    echo "test_python: $runtime preloaded into python"
fi

export ZMQOBS_LIB="$lib"
export ZMQOBS_TEST_PREFIX="$tmp/prefix"
export PYTHONDONTWRITEBYTECODE=1
export CC
status=0
LD_PRELOAD=$preload timeout 600 $PY -m pytest -q -p no:cacheprovider tests/python || status=$?
[ "$status" -eq 0 ] || fail "pytest exit status $status"
echo "test_python: OK ($lib)"
