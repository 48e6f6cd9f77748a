"""The module refuses a pyzmq whose libzmq is not the one libzmqobs calls,
finds the library the documented ways, and says what it tried when it
cannot."""
import os
import subprocess
import sys

import pytest

import zmqobs
from conftest import env_for_subprocess

PY = "/usr/bin/python3"


def run_import(env, code="import zmqobs; print(zmqobs.library_path())"):
    return subprocess.run([PY, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def system_libzmq():
    """The libzmq file libzmqobs (and so pyzmq) uses in this process."""
    return zmqobs._mapped_file(zmqobs._bound_address(zmqobs._lib, "zmq_ctx_new"))


def test_the_real_process_matches():
    ours = zmqobs._bound_address(zmqobs._lib, "zmq_ctx_new")
    theirs = zmqobs._pyzmq_bindings()
    assert theirs and set(theirs.values()) == {ours}
    assert os.path.basename(system_libzmq()).startswith("libzmq.so")


def test_two_copies_of_libzmq_are_refused(tmp_path):
    """A real second libzmq in the process: libzmqobs relinked, by renaming
    its DT_NEEDED entry, against a private copy of the system libzmq
    (libzmx.so.5), as a pip wheel's renamed bundled libzmq would be, while
    pyzmq keeps the system one."""
    src = os.path.realpath(os.environ["ZMQOBS_LIB"])
    data = open(src, "rb").read()
    old, new = b"\0libzmq.so.5\0", b"\0libzmx.so.5\0"
    assert data.count(old) == 1, "libzmqobs must name libzmq.so.5 once (DT_NEEDED)"
    (tmp_path / zmqobs.SONAME).write_bytes(data.replace(old, new))
    copy = tmp_path / "libzmx.so.5"
    copy.write_bytes(open(system_libzmq(), "rb").read())
    env = env_for_subprocess(ZMQOBS_LIB=str(tmp_path / zmqobs.SONAME),
                             LD_LIBRARY_PATH=str(tmp_path))
    r = run_import(env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "zmqobs.LibzmqMismatch: pyzmq " in r.stderr
    assert "two copies of libzmq in one process" in r.stderr
    assert str(copy) in r.stderr            # where libzmqobs's libzmq is
    assert system_libzmq() in r.stderr      # where pyzmq's is
    # control: the same process setup with the library as built imports
    env["ZMQOBS_LIB"] = src
    r = run_import(env)
    assert r.returncode == 0 and r.stdout.strip() == src, r.stderr


def test_reasons():
    ours = zmqobs._bound_address(zmqobs._lib, "zmq_ctx_new")
    assert zmqobs.mismatch_reason(ours, {"/x/ext.so": ours}) is None
    # a wheel that links libzmq statically into its extension: nothing binds
    why = zmqobs.mismatch_reason(ours, {"/x/_zmq.so": None}, "4.3.4", "4.3.5")
    assert "calls a libzmq built into its extension (/x/_zmq.so)" in why
    assert "libzmq 4.3.5" in why and "libzmqobs calls libzmq 4.3.4 in " in why
    # another copy: named by the file it is mapped from
    other = zmqobs._bound_address(zmqobs._lib, "zmqobs_version")
    why = zmqobs.mismatch_reason(ours, {"/x/ext.so": other})
    assert "two copies" in why and os.path.realpath(os.environ["ZMQOBS_LIB"]) in why
    assert "cannot be checked" in zmqobs.mismatch_reason(ours, {})
    assert "does not link libzmq" in zmqobs.mismatch_reason(None, {"/x/ext.so": ours})


def test_library_not_found_says_what_it_tried():
    r = run_import(env_for_subprocess(ZMQOBS_LIB="/nonexistent/libzmqobs.so.0"))
    assert r.returncode == 1
    assert "zmqobs.LibraryNotFound: libzmqobs not found; tried" in r.stderr
    assert "ZMQOBS_LIB: /nonexistent/libzmqobs.so.0" in r.stderr


def test_found_through_pkg_config():
    prefix = os.environ.get("ZMQOBS_TEST_PREFIX")
    if not prefix:
        pytest.skip("needs ZMQOBS_TEST_PREFIX, an install prefix (tests/test_python.sh sets it)")
    env = env_for_subprocess(PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
    env.pop("ZMQOBS_LIB")
    r = run_import(env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == os.path.join(prefix, "lib", zmqobs.SONAME)


def test_module_on_path():
    assert os.path.dirname(zmqobs.__file__) in sys.path
