"""DEALER peers for tests/test_peers.c, over pyzmq (Debian's python3-zmq).

usage: dealers.py ENDPOINT SPEC... [-- SPEC...]...

Each SPEC is SOURCE,ID,COUNT,SIZE: a DEALER connects to ENDPOINT (from the
source address SOURCE when it is not empty, as tcp://SOURCE:0;HOST:PORT),
with routing id ID (empty: libzmq's own; a leading 0x: hex bytes), and
sends COUNT messages of SIZE bytes, then waits for one reply to each (the
test's ROUTER echoes). The groups between "--" run one after the other:
a group starts once every reply of the one before came back. Prints
"ok N" (N messages in all) and exits 0, or exits 1 on a timeout.
"""
import sys

import zmq


def main():
    endpoint = sys.argv[1]
    groups, cur = [], []
    for arg in sys.argv[2:]:
        if arg == "--":
            groups.append(cur)
            cur = []
        else:
            cur.append(arg)
    groups.append(cur)
    ctx = zmq.Context()
    total = 0
    socks = []
    for group in groups:
        peers = []
        for spec in group:
            source, rid, count, size = spec.split(",")
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            if rid:
                s.setsockopt(zmq.ROUTING_ID,
                             bytes.fromhex(rid[2:]) if rid.startswith("0x") else rid.encode())
            if source:
                proto, rest = endpoint.split("://", 1)
                s.connect("%s://%s:0;%s" % (proto, source, rest))
            else:
                s.connect(endpoint)
            peers.append((s, int(count), int(size)))
            socks.append(s)
        for s, count, size in peers:
            for _ in range(count):
                s.send(b"m" * size)
            total += count
        for s, count, _ in peers:
            for _ in range(count):
                if not s.poll(20000):
                    print("timeout waiting for replies", file=sys.stderr)
                    return 1
                s.recv()
    print("ok %d" % total)
    for s in socks:
        s.close()
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
