#!/usr/bin/env python3
"""Serves recorded replies in AWS's shapes (tests/fixtures/aws-shapes) on
127.0.0.1, so that `invoke` can be pointed at something that answers as the
documentation says AWS answers, and that shares no code with the emulator:
plain http.server, and event-stream frames encoded here, byte by byte.

Usage: replay.py FIXTURE.json...  Prints its port on the first line of
stdout, then serves until its standard input closes (so it never outlives
the test that started it).

Each fixture names its operation and, for the Bedrock runtime, its model;
a request is answered with the fixture of the operation it asks for (the
Bedrock runtime's by the path, with the model id in it; STS's by the
form's `Action`), else 404. Signatures are not checked. For an
InvokeModel fixture with a `request`, the body received must be that JSON,
else the answer is 400: the tool is meant to send a --body as it is.

What is served is the fixture's status, headers and body, with two
mechanical steps and nothing else:

- an event stream's `events` (and an InvokeModelWithResponseStream's
  `chunks`, each the model's JSON, wrapped as AWS wraps it:
  {"bytes": base64}) are encoded as event-stream messages, one HTTP chunk
  each;
- an STS `<Expiration>` is moved to an hour from now: the documented
  examples' dates are long past, and a client rightly refuses expired
  credentials.
"""

import base64
import datetime
import http.server
import json
import os
import re
import struct
import sys
import threading
import urllib.parse
import zlib

ROUTES = {
    "converse": "Converse",
    "converse-stream": "ConverseStream",
    "invoke": "InvokeModel",
    "invoke-with-response-stream": "InvokeModelWithResponseStream",
}


def string_header(name, value):
    """One event-stream header of type 7 (string): name length (1 byte),
    name, type, value length (2 bytes, big-endian), value."""
    n, v = name.encode(), value.encode()
    return bytes([len(n)]) + n + bytes([7]) + struct.pack(">H", len(v)) + v


def frame(headers, payload):
    """One event-stream message: the prelude (total length, headers length,
    the prelude's CRC32), the headers, the payload, and the CRC32 of all
    that came before."""
    encoded = b"".join(string_header(k, v) for k, v in headers)
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", zlib.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message) & 0xFFFFFFFF)


def stream_frames(response):
    """The frames of a fixture's stream."""
    frames = []
    for chunk in response.get("chunks", []):
        part = {"bytes": base64.b64encode(json.dumps(chunk).encode()).decode()}
        frames.append(frame([(":event-type", "chunk"), (":content-type", "application/json"),
                             (":message-type", "event")], json.dumps(part).encode()))
    for event in response.get("events", []):
        payload = json.dumps(event.get("payload", {})).encode()
        if "exception" in event:
            headers = [(":exception-type", event["exception"]), (":content-type", "application/json"),
                       (":message-type", "exception")]
        else:
            headers = [(":event-type", event["event"]), (":content-type", "application/json"),
                       (":message-type", "event")]
        frames.append(frame(headers, payload))
    return frames


def fresh_expiration(xml):
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    stamp = later.strftime("%Y-%m-%dT%H:%M:%SZ")
    return re.sub(r"<Expiration>[^<]*</Expiration>", f"<Expiration>{stamp}</Expiration>", xml)


def load(paths):
    """The fixtures by (operation, model id), the model None for STS."""
    fixtures = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            fx = json.load(f)
        key = (fx["operation"], fx.get("model"))
        if key in fixtures:
            sys.exit(f"replay.py: two fixtures for {key}: {fixtures[key]['path']} and {path}")
        fx["path"] = path
        fixtures[key] = fx
    return fixtures


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fixtures = {}

    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802 - the name http.server calls
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        path = urllib.parse.urlsplit(self.path).path
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "model" and parts[2] in ROUTES:
            op, model = ROUTES[parts[2]], urllib.parse.unquote(parts[1])
        elif path == "/":
            op, model = (urllib.parse.parse_qs(body.decode()).get("Action") or [""])[0], None
        else:
            op, model = None, None
        fx = self.fixtures.get((op, model))
        if fx is None:
            return self.plain(404, f"replay: no fixture for {op or path} {model or ''}")
        if "request" in fx and op.startswith("InvokeModel"):
            try:
                same = json.loads(body) == fx["request"]
            except ValueError:
                same = False
            if not same:
                return self.plain(400, "replay: the request body differs from the fixture's request")
        self.answer(fx["response"])

    def do_GET(self):  # noqa: N802 - the name http.server calls
        path = urllib.parse.urlsplit(self.path).path
        prefix = "/foundation-model-availability/"
        if path.startswith(prefix):
            op, model = "GetFoundationModelAvailability", urllib.parse.unquote(path[len(prefix):])
        else:
            op, model = None, None
        fx = self.fixtures.get((op, model))
        if fx is None:
            return self.plain(404, f"replay: no fixture for GET {path}")
        self.answer(fx["response"])

    def plain(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def answer(self, response):
        self.send_response(response.get("status", 200))
        for k, v in (response.get("headers") or {}).items():
            self.send_header(k, v)
        if "events" in response or "chunks" in response:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for f in stream_frames(response):
                self.wfile.write(b"%x\r\n" % len(f) + f + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            return
        body = response.get("body", "")
        if isinstance(body, str):
            data = fresh_expiration(body).encode()
        else:
            data = json.dumps(body).encode()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: replay.py FIXTURE.json...")
    Handler.fixtures = load(sys.argv[1:])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    main()
