"""The ctypes structs and constants of zmqobs.py against the C header:
a C program compiled here prints offsetof and sizeof of every field the
module declares (a field the header does not have fails the compile), and
the structs' sizes; the declared fields must also tile each struct, so a
field missing from the Python side shows up as a hole."""
import ctypes
import os
import shlex
import subprocess

import pytest

import zmqobs
from conftest import ROOT

STRUCTS = {
    "zmqobs_label_t": zmqobs.Label,
    "zmqobs_options_t": zmqobs.Options,
    "zmqobs_event_t": zmqobs.EventStruct,
    "zmqobs_event_info_t": zmqobs.EventInfo,
    "zmqobs_window_t": zmqobs.Window,
    "zmqobs_stats_t": zmqobs.Stats,
}

CONSTANTS = {
    "ZMQOBS_VERSION_MAJOR": zmqobs.ABI_MAJOR,
    "ZMQOBS_NAME_MAX": zmqobs.NAME_MAX,
    "ZMQOBS_ENDPOINT_MAX": zmqobs.ENDPOINT_MAX,
    "ZMQOBS_BUCKETS_MAX": zmqobs.BUCKETS_MAX,
    "ZMQOBS_LABELS_MAX": zmqobs.LABELS_MAX,
    "ZMQOBS_EVENT_SLOTS": zmqobs.EVENT_SLOTS,
    "ZMQOBS_ERRNO_SLOTS": zmqobs.ERRNO_SLOTS,
    "ZMQOBS_HANDSHAKE_SLOTS": zmqobs.HANDSHAKE_SLOTS,
    "ZMQOBS_SAMPLE_NEVER": zmqobs.SAMPLE_NEVER,
    "ZMQOBS_OP_SEND": zmqobs.OP_SEND,
    "ZMQOBS_OP_RECV": zmqobs.OP_RECV,
    "ZMQOBS_FORMAT_PROMETHEUS": zmqobs.FORMATS["prometheus"],
    "ZMQOBS_FORMAT_OPENMETRICS": zmqobs.FORMATS["openmetrics"],
    "ZMQOBS_FORMAT_JSON": zmqobs.FORMATS["json"],
    "ZMQOBS_FORMAT_TEXT": zmqobs.FORMATS["text"],
    "sizeof (zmqobs_value_kind_t)": ctypes.sizeof(ctypes.c_int),
    "sizeof (zmqobs_format_t)": ctypes.sizeof(ctypes.c_int),
}


@pytest.fixture(scope="module")
def c_layout(tmp_path_factory):
    lines = ['#include <zmqobs.h>', '#include <stdio.h>', '#include <stddef.h>',
             '#define F(T, f) printf ("%s.%s|%zu|%zu\\n", #T, #f, offsetof (T, f), '
             'sizeof (((T *) 0)->f))',
             'int main (void)', '{']
    for cname, cls in STRUCTS.items():
        lines.append('    printf ("%s|%zu\\n", "{0}", sizeof ({0}));'.format(cname))
        for field, _ in cls._fields_:
            lines.append("    F (%s, %s);" % (cname, field))
    for expr in CONSTANTS:
        lines.append('    printf ("%%s|%%llu\\n", "%s", (unsigned long long) (%s));'
                     % (expr, expr))
    lines += ["    return 0;", "}"]
    d = tmp_path_factory.mktemp("layout")
    src, exe = d / "layout.c", d / "layout"
    src.write_text("\n".join(lines) + "\n")
    cc = shlex.split(os.environ.get("CC", "cc"))
    # a sanitizer runtime preloaded into python is not for the compiler
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    zmq_cflags = subprocess.run(["pkg-config", "--cflags", "libzmq"], capture_output=True,
                                text=True, env=env).stdout.split()
    subprocess.run(cc + ["-std=c11", "-Wall", "-Werror", "-I", os.path.join(ROOT, "include")]
                   + zmq_cflags + ["-o", str(exe), str(src)], check=True, env=env)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True, env=env).stdout
    got = {}
    for line in out.splitlines():
        key, *nums = line.split("|")
        got[key] = tuple(int(n) for n in nums)
    return got


@pytest.mark.parametrize("cname", list(STRUCTS))
def test_struct_matches_header(c_layout, cname):
    cls = STRUCTS[cname]
    assert c_layout[cname] == (ctypes.sizeof(cls),), "sizeof %s" % cname
    end = 0
    for field, ctype in cls._fields_:
        desc = getattr(cls, field)
        assert c_layout["%s.%s" % (cname, field)] == (desc.offset, desc.size), field
        # the declared fields tile the struct: only alignment padding between them
        assert end <= desc.offset < end + ctypes.alignment(ctype), \
            "hole before %s.%s: a field the module does not declare?" % (cname, field)
        end = desc.offset + desc.size
    assert ctypes.sizeof(cls) - end < ctypes.alignment(cls), "hole at the end of %s" % cname


def test_constants_match_header(c_layout):
    for expr, value in CONSTANTS.items():
        assert c_layout[expr] == (value,), expr
