"""A webhook receiver that verifies every request with the `standardwebhooks` package.

Usage: python receiver.py SECRET [HEX_HEADER_NAME]   (pip install -r requirements.txt)
Listens on 127.0.0.1 on a free port and prints `PORT <n>` on stdout. Answers 204 to a POST
whose Standard Webhooks signature verifies, and 400 otherwise. Each request is logged to
stdout as one JSON line: `ok` (Standard Webhooks), `hex_ok` (the plain hex HMAC header,
which carries only the newest secret during a rotation). Stops on stdin EOF.
"""
import hashlib
import hmac
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET = sys.argv[1]
HEX_HEADER = (sys.argv[2] if len(sys.argv) > 2 else "X-Hookline-Signature").lower()
wh = Webhook(SECRET)
print_lock = threading.Lock()  # the server is threaded: one log line at a time


def log(obj):
    with print_lock:
        print(json.dumps(obj), flush=True)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        hex_ok = hmac.compare_digest(expected, headers.get(HEX_HEADER, ""))
        result = {"ok": True, "hex_ok": hex_ok, "id": headers.get("webhook-id"), "error": None}
        try:
            wh.verify(body, headers)
        except WebhookVerificationError as e:
            result = {"ok": False, "hex_ok": hex_ok, "id": headers.get("webhook-id"), "error": str(e)}
        log(result)
        self.send_response(204 if result["ok"] else 400)
        self.end_headers()

    def log_message(self, *args):
        pass

    def log_error(self, fmt, *args):
        log({"ok": False, "id": None, "error": "http.server: " + (fmt % args)})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"PORT {server.server_address[1]}", flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()  # the test closes stdin (or dies) to stop us
server.shutdown()
