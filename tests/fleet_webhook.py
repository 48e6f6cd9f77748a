#!/usr/bin/python3
"""fleet_webhook.py - the Alertmanager webhook receiver of tests/fleet.sh.

Listens on HOST:PORT (PORT 0 picks a free one, printed as "listening
PORT" on stdout), and appends every POSTed JSON body to FILE as one line
{"received": UNIX_TIME, "payload": BODY}; answers 200 to a well-formed
JSON body, 400 otherwise. Stops on SIGTERM.

    /usr/bin/python3 tests/fleet_webhook.py HOST PORT FILE
"""
import json
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        try:
            payload = json.loads(body)
        except ValueError:
            self.send_response(400)
            self.end_headers()
            return
        with open(self.server.out, "a", encoding="utf-8") as f:
            f.write(json.dumps({"received": time.time(), "payload": payload}) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt, *args):
        pass


def main():
    host, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    srv = HTTPServer((host, port), Handler)
    srv.out = out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("listening %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
