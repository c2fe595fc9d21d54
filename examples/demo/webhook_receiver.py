"""A stand-in for a Slack incoming webhook, for the getting-started demo: answers every
POST with 200 ``ok`` (as Slack does) and appends the JSON body as one line to a file.

Run: python examples/demo/webhook_receiver.py 127.0.0.1:9999 /tmp/lanner-demo/slack.jsonl
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    host, _, port = sys.argv[1].rpartition(":")
    out_path = sys.argv[2]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                line = json.dumps(json.loads(body))
            except ValueError:
                self.send_response(400)
                self.end_headers()
                return
            with open(out_path, "a") as fh:
                fh.write(line + "\n")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


if __name__ == "__main__":
    main()
