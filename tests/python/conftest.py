"""Shared fixtures for the Python binding tests (tests/test_python.sh runs
them; it sets ZMQOBS_LIB to the library under test)."""
import os
import sys
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples", "python")
sys.path.insert(0, EXAMPLES)

import zmq  # noqa: E402
import zmqobs  # noqa: E402

# Events arrive on the observer's thread: tests wait for them with this
# bound, then assert exact counts (the bound is never what is measured).
WAIT_S = 20.0 * float(os.environ.get("CK_TIMEOUT_MULTIPLIER", "1"))


def wait_until(pred, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


@pytest.fixture
def obs(ctx):
    o = zmqobs.Observer(ctx, service="pytest")
    yield o
    o.close()


def env_for_subprocess(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = EXAMPLES + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env
