#!/usr/bin/env python3
"""Checks HTTP exchanges, and messages written in AWS's shapes, against the
service definitions AWS publishes for its SDKs, as the Python `botocore`
package installed on this machine ships them.

The definitions are loaded from botocore itself, never from the copies the
emulator carries in `crates/bedrock-emulator/data/`: the point is a second
reading of AWS's rules, by other code, from another copy, so that neither
the emulator nor `invoke` can pass by agreeing with itself.

Input: JSON lines on stdin, each one item:

  {"kind": "wire", "label": L, "client": B64, "server": B64}
      the bytes of one TCP connection, each direction, as a relay saw
      them: every HTTP/1.1 request in `client` is paired with the response
      in `server`, its operation found from the definitions (the method and
      URI template; STS's `Action`), and both are checked.
  {"kind": "message", "label": L, "service": S, "operation": O,
   "direction": "request" | "response" | "event" | "error", "body": ...,
   "status": N, "headers": {...}, "event_type": E}
      one message already taken apart: a request or response body (JSON, or
      the XML text for STS), one event of a stream by its `event_type`, or
      an error (its type from the headers or the body, its status).
  {"kind": "fixture", "label": L, "path": P}
      a file of tests/fixtures/aws-shapes: its request and response checked.

Output: one line per violation, `violation: LABEL: WHERE: WHAT`, then one
line `summary: {...}` (JSON) saying, per label, the operation of each HTTP
exchange checked (`exchanges`), how many messages and stream events were
checked, and what was skipped, so that a caller can tell an empty capture
from a clean one. Exit status: 0 without violations, 1 with, 2 when the
input cannot be read, 3 when botocore is missing.

What is checked, strictly:

- structures: no member the definition lacks, every required member, no
  nulls; unions with exactly one member set;
- strings (enums, lengths in characters, patterns), numbers (integer or
  not, ranges), booleans, lists and maps (sizes), blobs (base64 in JSON,
  length of the bytes), timestamps (epoch seconds in JSON, ISO 8601 in
  XML); documents may hold any JSON;
- REST-JSON (Bedrock runtime): the URI template and its labels, query
  string and header members, the JSON body or the blob payload, the status
  of a success, and for an error its type (X-Amzn-ErrorType, `__type` or
  `code`): one the operation lists, answered with the status the
  definition gives it, its body the error's members;
- event streams: the frames decoded and their CRCs checked by
  botocore.eventstream; each `event` message's `:event-type` a member of
  the stream's union, its payload that member's shape; each `exception`
  message's `:exception-type` an error member of the union, its payload
  that error's shape;
- query protocol (STS): the form's Action, Version and parameters against
  the input shape; the XML answer walked element by element against the
  output shape (botocore's own parser skips unknown elements, so it is only
  asked to read the answer too), errors as ErrorResponse with a code the
  operation lists and its status.

IMDS requests (`/latest/...`) are in neither definition: they are counted
as skipped, not checked.
"""

import base64
import binascii
import datetime
import json
import re
import sys
import unicodedata
import urllib.parse
import xml.etree.ElementTree as ET

try:
    import botocore.eventstream
    import botocore.parsers
    import botocore.session
except ImportError:
    sys.stderr.write(
        "validate.py needs the Python botocore package (the AWS API definitions it checks against):\n"
        "  python3 -m pip install botocore\n"
        "  (or: python3 -m pip install --break-system-packages botocore)\n"
    )
    sys.exit(3)

SESSION = botocore.session.get_session()
MODELS = {
    "bedrock-runtime": SESSION.get_service_model("bedrock-runtime"),
    "bedrock": SESSION.get_service_model("bedrock"),
    "sts": SESSION.get_service_model("sts"),
}

# Response headers Bedrock sends beyond its definition, named in the Amazon
# Bedrock User Guide ("Monitor ... token usage": the counts and latency of an
# InvokeModel call); their values must be whole numbers.
BEDROCK_COUNT_HEADERS = (
    "x-amzn-bedrock-input-token-count",
    "x-amzn-bedrock-output-token-count",
    "x-amzn-bedrock-invocation-latency",
)


class Report:
    """Violations and what was checked, per label."""

    def __init__(self):
        self.violations = []
        self.labels = {}

    def entry(self, label):
        return self.labels.setdefault(
            label, {"exchanges": [], "messages": 0, "events": 0, "skipped": []}
        )

    def bad(self, label, where, what):
        self.violations.append(f"{label}: {where}: {what}")


class Checker:
    """Checks values against shapes, reporting into `report` under `label`."""

    def __init__(self, report, label):
        self.report = report
        self.label = label

    def bad(self, where, what):
        self.report.bad(self.label, where, what)

    # ---- JSON values -----------------------------------------------------

    def value(self, shape, v, path):
        """A JSON value against `shape`."""
        if shape.metadata.get("document"):
            return
        if v is None:
            self.bad(path, f"null where {shape.name} is expected (absent members are left out)")
            return
        kind = shape.type_name
        if kind == "structure":
            self.structure(shape, v, path)
        elif kind == "list":
            if not isinstance(v, list):
                self.bad(path, f"expected a list ({shape.name}), got {type_word(v)}")
                return
            self.size(shape, len(v), path, "items")
            for i, item in enumerate(v):
                self.value(shape.member, item, f"{path}[{i}]")
        elif kind == "map":
            if not isinstance(v, dict):
                self.bad(path, f"expected a map ({shape.name}), got {type_word(v)}")
                return
            self.size(shape, len(v), path, "entries")
            for k, item in v.items():
                self.scalar(shape.key, k, f"{path}<key {k!r}>")
                self.value(shape.value, item, f"{path}.{k}")
        else:
            self.scalar(shape, v, path, json_value=True)

    def structure(self, shape, v, path, members=None, allow=()):
        """A JSON object against a structure: `members` limits it to the
        body members; `allow` names protocol keys that may appear too."""
        if not isinstance(v, dict):
            self.bad(path, f"expected an object ({shape.name}), got {type_word(v)}")
            return
        members = dict(shape.members) if members is None else members
        wire = {m.serialization.get("name", name): name for name, m in members.items()}
        for key in v:
            if key in allow:
                continue
            if key not in wire:
                self.bad(join(path, key), f"unknown member: {shape.name} has no {key!r}")
        if shape.metadata.get("union"):
            set_ = [k for k in v if k in wire and v[k] is not None]
            if len(set_) != 1:
                self.bad(
                    path or shape.name,
                    f"union {shape.name} must have exactly one member set, has {len(set_)}"
                    + (f" ({', '.join(set_)})" if set_ else ""),
                )
        for name in shape.required_members:
            if name in members:
                key = members[name].serialization.get("name", name)
                if key not in v:
                    self.bad(join(path, key), f"required member of {shape.name} missing")
        for key, item in v.items():
            if key in wire:
                self.value(members[wire[key]], item, join(path, key))

    def size(self, shape, n, path, what):
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        if lo is not None and n < lo:
            self.bad(path, f"{n} {what}, {shape.name} needs at least {lo}")
        if hi is not None and n > hi:
            self.bad(path, f"{n} {what}, {shape.name} allows at most {hi}")

    def scalar(self, shape, v, path, json_value=False):
        """A scalar; `json_value` when it comes from JSON (typed), else it
        is text already converted by the caller."""
        kind = shape.type_name
        meta = shape.metadata
        if kind == "string":
            if not isinstance(v, str):
                self.bad(path, f"expected a string ({shape.name}), got {type_word(v)}")
                return
            if shape.enum and v not in shape.enum:
                self.bad(path, f"{v!r} is not a value of {shape.name}: {', '.join(shape.enum)}")
            self.size(shape, len(v), path, "characters")
            pattern = meta.get("pattern")
            if pattern and not matches(pattern, v):
                self.bad(path, f"{short(v)!r} does not match the pattern of {shape.name}: {pattern}")
        elif kind in ("integer", "long"):
            if isinstance(v, bool) or not isinstance(v, int):
                self.bad(path, f"expected a whole number ({shape.name}), got {type_word(v)} {short(v)!r}")
                return
            self.range(shape, v, path)
        elif kind in ("float", "double"):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                self.bad(path, f"expected a number ({shape.name}), got {type_word(v)}")
                return
            self.range(shape, v, path)
        elif kind == "boolean":
            if not isinstance(v, bool):
                self.bad(path, f"expected true or false ({shape.name}), got {type_word(v)}")
        elif kind == "blob":
            if isinstance(v, (bytes, bytearray)):
                data = bytes(v)
            elif isinstance(v, str):
                try:
                    data = base64.b64decode(v, validate=True)
                except (binascii.Error, ValueError):
                    self.bad(path, f"a blob ({shape.name}) must be base64 in JSON: {short(v)!r}")
                    return
            else:
                self.bad(path, f"expected base64 text for blob {shape.name}, got {type_word(v)}")
                return
            self.size(shape, len(data), path, "bytes")
        elif kind == "timestamp":
            fmt = shape.serialization.get("timestampFormat")
            if json_value and fmt in (None, "unixTimestamp"):
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    self.bad(path, f"a timestamp ({shape.name}) is epoch seconds in JSON, got {short(v)!r}")
            elif not isinstance(v, str) or parse_iso8601(v) is None:
                self.bad(path, f"a timestamp ({shape.name}) must be ISO 8601 here, got {short(v)!r}")
        else:
            self.bad(path, f"no check for shapes of type {kind} ({shape.name})")

    def range(self, shape, v, path):
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        if lo is not None and v < lo:
            self.bad(path, f"{v} is below the minimum {lo} of {shape.name}")
        if hi is not None and v > hi:
            self.bad(path, f"{v} is above the maximum {hi} of {shape.name}")

    def text(self, shape, text, path):
        """A scalar written as text (a header, a URI label, a query or form
        parameter, an XML element): converted by its type, then checked."""
        kind = shape.type_name
        if kind in ("integer", "long"):
            if not re.fullmatch(r"-?[0-9]+", text):
                self.bad(path, f"{short(text)!r} is not a whole number ({shape.name})")
                return
            self.range(shape, int(text), path)
        elif kind in ("float", "double"):
            try:
                self.range(shape, float(text), path)
            except ValueError:
                self.bad(path, f"{short(text)!r} is not a number ({shape.name})")
        elif kind == "boolean":
            if text not in ("true", "false"):
                self.bad(path, f"{short(text)!r} is not true or false ({shape.name})")
        elif kind == "blob":
            try:
                data = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                self.bad(path, f"{short(text)!r} is not base64 ({shape.name})")
                return
            self.size(shape, len(data), path, "bytes")
        elif kind == "timestamp":
            if parse_iso8601(text) is None and not re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
                self.bad(path, f"{short(text)!r} is not a timestamp ({shape.name})")
        elif kind == "string":
            if shape.serialization.get("jsonvalue"):
                try:
                    json.loads(base64.b64decode(text))
                except ValueError:
                    self.bad(path, f"not base64 JSON ({shape.name})")
                return
            self.scalar(shape, text, path)
        else:
            self.bad(path, f"{shape.name} ({kind}) cannot be written as text")

    # ---- XML (query protocol) --------------------------------------------

    def xml(self, shape, element, path):
        """An XML element against `shape`, as the query protocol writes it."""
        kind = shape.type_name
        children = list(element)
        if kind == "structure":
            wire = {m.serialization.get("name", name): name for name, m in shape.members.items()}
            seen = {}
            for child in children:
                tag = local(child.tag)
                if tag not in wire:
                    self.bad(join(path, tag), f"unknown element: {shape.name} has no {tag!r}")
                    continue
                member = shape.members[wire[tag]]
                if member.type_name == "list" and member.serialization.get("flattened"):
                    seen.setdefault(tag, []).append(child)
                    continue
                if tag in seen:
                    self.bad(join(path, tag), "element appears twice")
                seen[tag] = [child]
            for name in shape.required_members:
                key = shape.members[name].serialization.get("name", name)
                if key not in seen:
                    self.bad(join(path, key), f"required member of {shape.name} missing")
            for tag, elements in seen.items():
                member = shape.members[wire[tag]]
                if member.type_name == "list" and member.serialization.get("flattened"):
                    self.size(member, len(elements), join(path, tag), "items")
                    for i, e in enumerate(elements):
                        self.xml(member.member, e, f"{join(path, tag)}[{i}]")
                else:
                    self.xml(member, elements[0], join(path, tag))
        elif kind == "list":
            item = shape.member.serialization.get("name", "member")
            for child in children:
                if local(child.tag) != item:
                    self.bad(path, f"a list holds <{item}> elements, not <{local(child.tag)}>")
            self.size(shape, len(children), path, "items")
            for i, child in enumerate(children):
                self.xml(shape.member, child, f"{path}[{i}]")
        elif kind == "map":
            for i, entry in enumerate(children):
                parts = {local(c.tag): c for c in entry}
                if local(entry.tag) != "entry" or set(parts) != {"key", "value"}:
                    self.bad(f"{path}[{i}]", "a map entry is <entry><key/><value/></entry>")
                    continue
                self.xml(shape.key, parts["key"], f"{path}[{i}].key")
                self.xml(shape.value, parts["value"], f"{path}[{i}].value")
        else:
            if children:
                self.bad(path, f"{shape.name} is a {kind}, not an element with children")
                return
            self.text(shape, element.text or "", path)


def matches(pattern, text):
    """Whether `text` matches a definition's pattern, searched as Smithy's
    @pattern is (not anchored unless the pattern says so). Two forms of the
    definitions' regular-expression dialect that Python's `re` reads
    otherwise are translated: `\\u` escapes of code points above FFFF, and
    a character class with Unicode categories (`[\\p{L}\\p{N}_.]*`), which
    is tested character by character."""
    pattern = re.sub(r"\\u(1[0-9A-Fa-f]{4,5})(?![0-9A-Fa-f])",
                     lambda m: "\\U%08X" % int(m.group(1), 16), pattern)
    if "\\p{" not in pattern:
        return re.search(pattern, text) is not None
    m = re.fullmatch(r"\[((?:[^\]\\]|\\.)*)\]([*+])", pattern)
    if m is None:
        raise ValueError(f"a pattern this checker cannot read: {pattern}")
    body, repeat = m.groups()
    categories = re.findall(r"\\p\{(\w+)\}", body)
    rest = re.sub(r"\\p\{\w+\}", "", body)
    plain = re.compile(f"[{rest}]") if rest else None
    if repeat == "+" and not text:
        return False
    return all(
        any(unicodedata.category(ch).startswith(c) for c in categories)
        or (plain is not None and plain.fullmatch(ch))
        for ch in text
    )


def join(path, key):
    return f"{path}.{key}" if path else key


def local(tag):
    return tag.split("}", 1)[1] if tag.startswith("{") else tag


def namespace(tag):
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def type_word(v):
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def short(v):
    s = str(v)
    return s if len(s) <= 60 else s[:57] + "..."


def parse_iso8601(text):
    t = text.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})", t):
        return None
    try:
        return datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        return None


# ---- HTTP/1.1 -------------------------------------------------------------


class Message:
    """One HTTP/1.1 message: its first line, headers and body."""

    def __init__(self, start, headers, body, complete=True, problem=None):
        self.start = start
        self.headers = headers
        self.body = body
        self.complete = complete
        self.problem = problem

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None


def split_messages(data, responses):
    """Every message in one direction of a connection, in order. Interim
    (1xx) responses are dropped; a response without a length runs to the
    end of the connection."""
    out = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            out.append(Message(data[pos:pos + 80].decode("latin-1"), [], b"", False,
                               "the connection ended inside a header"))
            break
        lines = data[pos:end].decode("latin-1").split("\r\n")
        headers = []
        for line in lines[1:]:
            if ":" not in line:
                out.append(Message(lines[0], [], b"", False, f"malformed header line {line!r}"))
                return out
            k, v = line.split(":", 1)
            headers.append((k.strip().lower(), v.strip()))
        msg = Message(lines[0], headers, b"")
        pos = end + 4
        chunked = "chunked" in (msg.header("transfer-encoding") or "").lower()
        length = msg.header("content-length")
        if chunked:
            body, pos, ok = dechunk(data, pos)
            msg.body = body
            if not ok:
                msg.complete, msg.problem = False, "the connection ended inside a chunked body"
        elif length is not None:
            n = int(length)
            msg.body = data[pos:pos + n]
            if len(msg.body) < n:
                msg.complete, msg.problem = False, f"the body has {len(msg.body)} of its {n} bytes"
            pos += n
        elif responses:
            msg.body = data[pos:]
            pos = len(data)
        if responses and re.match(r"HTTP/1\.[01] 1\d\d", msg.start):
            continue
        out.append(msg)
    return out


def dechunk(data, pos):
    body = b""
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return body, len(data), False
        size = int(data[pos:end].split(b";")[0].strip() or b"0", 16)
        pos = end + 2
        if size == 0:
            trailer = data.find(b"\r\n\r\n", pos - 2)
            if trailer < 0:
                return body, len(data), False
            return body, trailer + 4, True
        if pos + size + 2 > len(data):
            return body + data[pos:], len(data), False
        body += data[pos:pos + size]
        pos += size + 2


# ---- operations -----------------------------------------------------------


def uri_pattern(template):
    """A regular expression for a URI template's path, with named labels."""
    path = template.split("?", 1)[0]
    out = ""
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{"):
            name = part[1:-1]
            greedy = name.endswith("+")
            name = name.rstrip("+")
            out += f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)"
        else:
            out += re.escape(part)
    return re.compile(out + "$")


REST_ROUTES = [
    (service, op.http["method"], uri_pattern(op.http["requestUri"]), op)
    for service in ("bedrock-runtime", "bedrock")
    for op in (MODELS[service].operation_model(n)
               for n in MODELS[service].operation_names)
]


def identify(request):
    """The service and operation a request is for, or a reason why none."""
    parts = request.start.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None, None, f"not an HTTP/1.x request line: {request.start!r}"
    method, target = parts[0], parts[1]
    path = urllib.parse.urlsplit(target).path
    if path.startswith("/latest/"):
        return "imds", None, None
    for service, m, pattern, op in REST_ROUTES:
        if m == method and pattern.match(path):
            return service, op, None
    if method == "POST" and path == "/":
        form = urllib.parse.parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        action = (form.get("Action") or [""])[0]
        sts = MODELS["sts"]
        if action in sts.operation_names:
            return "sts", sts.operation_model(action), None
        return None, None, f"POST / with Action {action!r}: no STS operation of that name"
    return None, None, f"{method} {path}: no operation of bedrock-runtime, bedrock or sts has this method and URI"


def location_members(shape, where):
    return {n: m for n, m in shape.members.items() if m.serialization.get("location") == where}


def body_members(shape):
    return {n: m for n, m in shape.members.items() if not m.serialization.get("location")}


# ---- REST-JSON (Bedrock runtime) ------------------------------------------


def check_rest_request(c, op, req):
    shape = op.input_shape
    where = f"{op.name} request"
    if req.start.split(" ")[0] != op.http["method"]:
        c.bad(where, f"method {req.start.split(' ')[0]}, the definition says {op.http['method']}")
    target = urllib.parse.urlsplit(req.start.split(" ")[1])
    labels = uri_pattern(op.http["requestUri"]).match(target.path).groupdict()
    uri = location_members(shape, "uri")
    for name, member in uri.items():
        key = member.serialization.get("name", name)
        raw = labels.get(key)
        if raw is None:
            c.bad(f"{where} URI", f"label {key} missing")
            continue
        c.text(member, urllib.parse.unquote(raw), f"{where} URI {{{key}}}")
    query = {m.serialization.get("name", n): m for n, m in location_members(shape, "querystring").items()}
    for k, values in urllib.parse.parse_qs(target.query, keep_blank_values=True).items():
        if k not in query:
            c.bad(f"{where} query", f"parameter {k!r} is not in the definition")
        else:
            for v in values:
                c.text(query[k], v, f"{where} query {k}")
    check_header_members(c, shape, req, where, request=True)
    payload = shape.serialization.get("payload")
    if payload:
        member = shape.members[payload]
        if member.type_name == "blob":
            c.size(member, len(req.body), f"{where} body", "bytes")
            if payload in shape.required_members and not req.body:
                c.bad(f"{where} body", "the payload is required and the body is empty")
        else:
            check_json_body(c, member, req, where, None)
    else:
        check_json_body(c, shape, req, where, body_members(shape))


def check_header_members(c, shape, msg, where, request):
    """The header members: each one present checked, required ones there;
    on a request, no `X-Amzn-Bedrock-*` header the definition lacks (the
    SDKs send only members there)."""
    headers = {m.serialization.get("name", n).lower(): (n, m)
               for n, m in location_members(shape, "header").items()}
    for name, (member_name, member) in headers.items():
        value = msg.header(name)
        if value is None:
            if member_name in shape.required_members:
                c.bad(f"{where} headers", f"required header {member.serialization.get('name')} missing")
            continue
        c.text(member, value, f"{where} header {member.serialization.get('name')}")
    for k, v in msg.headers:
        if not k.startswith("x-amzn-bedrock-") or k in headers:
            continue
        if request:
            c.bad(f"{where} headers", f"{k} is not a member of {shape.name}")
        elif k in BEDROCK_COUNT_HEADERS:
            if not re.fullmatch(r"[0-9]+", v):
                c.bad(f"{where} header {k}", f"{v!r} is not a whole number")


def check_json_body(c, shape, msg, where, members):
    """A JSON body: sent as application/json, and `shape`'s `members` (its
    body members; all of them when None). An empty body is an empty object."""
    ctype = (msg.header("content-type") or "").split(";")[0].strip().lower()
    if not msg.body.strip():
        value = {}
    else:
        if ctype != "application/json":
            c.bad(f"{where} headers", f"a JSON body is sent as application/json, not {ctype or 'nothing'}")
        try:
            value = json.loads(msg.body)
        except ValueError as e:
            c.bad(f"{where} body", f"not JSON: {e}")
            return None
    c.structure(shape, value, f"{where} body", members=members)


def check_rest_response(c, op, resp):
    """A response to `op`; returns the number of stream events read."""
    where = f"{op.name} response"
    status = status_of(resp)
    if status is None:
        c.bad(where, f"not an HTTP/1.x status line: {resp.start!r}")
        return 0
    if resp.header("x-amzn-requestid") is None:
        c.bad(f"{where} headers", "no x-amzn-RequestId header (the SDKs read the request id from it)")
    if status >= 300:
        check_rest_error(c, op, resp, status)
        return 0
    expected = op.http.get("responseCode", 200)
    if status != expected:
        c.bad(where, f"status {status}, the definition answers {expected}")
    shape = op.output_shape
    if shape is None:
        return 0
    check_header_members(c, shape, resp, where, request=False)
    payload = shape.serialization.get("payload")
    if payload:
        member = shape.members[payload]
        if member.serialization.get("eventstream"):
            ctype = (resp.header("content-type") or "").split(";")[0].strip()
            if ctype != "application/vnd.amazon.eventstream":
                c.bad(f"{where} headers", f"an event stream is application/vnd.amazon.eventstream, not {ctype!r}")
            return check_stream(c, member, resp.body, where)
        if member.type_name == "blob":
            c.size(member, len(resp.body), f"{where} body", "bytes")
        else:
            check_json_body(c, member, resp, where, None)
    else:
        check_json_body(c, shape, resp, where, body_members(shape))
    return 0


def error_type(msg, body):
    """The error type a REST-JSON error names: X-Amzn-ErrorType, else the
    body's `__type` or `code`, without namespace or URL."""
    raw = msg.header("x-amzn-errortype") if msg is not None else None
    if raw is None and isinstance(body, dict):
        raw = body.get("__type") or body.get("code")
    if not isinstance(raw, str):
        return None
    return raw.split(":", 1)[0].split("#")[-1]


def check_rest_error(c, op, resp, status):
    where = f"{op.name} error"
    try:
        body = json.loads(resp.body) if resp.body.strip() else {}
    except ValueError:
        c.bad(f"{where} body", "not JSON")
        body = None
    check_error_value(c, op, error_type(resp, body), status, body, where)
    ctype = (resp.header("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        c.bad(f"{where} headers", f"an error body is application/json, not {ctype or 'nothing'}")


def check_error_value(c, op, kind, status, body, where):
    """An error: a type the operation lists, its status, its members."""
    if kind is None:
        c.bad(where, "no error type (X-Amzn-ErrorType header, __type or code)")
        return
    errors = {e.name: e for e in op.error_shapes}
    shape = errors.get(kind)
    if shape is None:
        c.bad(where, f"{kind} is not an error {op.name} is defined to return ({', '.join(errors)})")
        return
    expected = shape.metadata.get("error", {}).get("httpStatusCode")
    if status is not None and expected is not None and status != expected:
        c.bad(where, f"{kind} is answered with status {expected}, not {status}")
    if body is not None:
        c.structure(shape, body, f"{kind}", allow=("__type", "code") if "code" not in shape.members else ("__type",))


def status_of(resp):
    m = re.match(r"HTTP/1\.[01] (\d{3})", resp.start)
    return int(m.group(1)) if m else None


def check_stream(c, stream_shape, data, where):
    """An event stream's bytes against its union; returns the number of
    messages read."""
    buf = botocore.eventstream.EventStreamBuffer()
    buf.add_data(data)
    n = 0
    try:
        for message in buf:
            check_event(c, stream_shape, message.headers, message.payload, f"{where} event {n}")
            n += 1
    except botocore.eventstream.ParserError as e:
        c.bad(f"{where} event {n}", f"not a valid event-stream message: {type(e).__name__}: {e}")
        return n
    rest = getattr(buf, "_data", b"")
    if rest:
        c.bad(f"{where} event {n}", f"{len(rest)} bytes after the last whole message")
    if n == 0:
        c.bad(where, "an event stream with no message")
    return n


def check_event(c, stream_shape, headers, payload, where):
    kind = headers.get(":message-type")
    if kind == "event":
        name = headers.get(":event-type")
        member = stream_shape.members.get(name)
        if member is None or member.metadata.get("exception"):
            c.bad(where, f":event-type {name!r} is not an event of {stream_shape.name}: "
                         f"{', '.join(k for k, m in stream_shape.members.items() if not m.metadata.get('exception'))}")
            return
        check_event_payload(c, member, headers, payload, f"{where} ({name})")
    elif kind == "exception":
        name = headers.get(":exception-type")
        member = stream_shape.members.get(name)
        if member is None or not member.metadata.get("exception"):
            c.bad(where, f":exception-type {name!r} is not an error of {stream_shape.name}: "
                         f"{', '.join(k for k, m in stream_shape.members.items() if m.metadata.get('exception'))}")
            return
        check_event_payload(c, member, headers, payload, f"{where} ({name})")
    else:
        c.bad(where, f":message-type {kind!r}: a stream of this definition sends event or exception messages"
                     + (f" ({headers.get(':error-code')}: {headers.get(':error-message')})" if kind == "error" else ""))


def check_event_payload(c, shape, headers, payload, where):
    """An event's payload: its `eventpayload` member if it has one, else the
    JSON of its members; `eventheader` members come from the headers."""
    in_headers = {n: m for n, m in shape.members.items() if m.serialization.get("eventheader")}
    for name, member in in_headers.items():
        if name in headers:
            c.text(member, str(headers[name]), f"{where} header {name}")
    explicit = [n for n, m in shape.members.items() if m.serialization.get("eventpayload")]
    if explicit:
        member = shape.members[explicit[0]]
        if member.type_name in ("blob", "string"):
            return
        shape = member
    ctype = headers.get(":content-type")
    if ctype is not None and ctype != "application/json":
        c.bad(where, f":content-type {ctype!r}, a JSON payload is application/json")
    try:
        value = json.loads(payload) if payload else {}
    except ValueError:
        c.bad(where, "the payload is not JSON")
        return
    members = {n: m for n, m in shape.members.items() if n not in in_headers}
    c.structure(shape, value, where, members=members)


# ---- query protocol (STS) -------------------------------------------------


def check_query_request(c, op, req):
    where = f"{op.name} request"
    model = MODELS["sts"]
    ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        c.bad(f"{where} headers", f"a query-protocol body is application/x-www-form-urlencoded, not {ctype!r}")
    pairs = urllib.parse.parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True)
    params = {}
    for k, v in pairs:
        if k in params:
            c.bad(f"{where} form", f"{k} appears twice")
        params[k] = v
    if params.pop("Action", None) != op.name:
        c.bad(f"{where} form", f"Action must be {op.name}")
    version = params.pop("Version", None)
    if version != model.api_version:
        c.bad(f"{where} form", f"Version {version!r}, the definition is {model.api_version}")
    tree = {}
    for k, v in params.items():
        node = tree
        parts = k.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                c.bad(f"{where} form", f"{k} clashes with another parameter")
                break
        else:
            node[parts[-1]] = v
    check_form(c, op.input_shape, tree, where + " ")


def check_form(c, shape, node, path):
    """A form parameter tree (split on dots) against `shape`: structures by
    member name, lists as `member.N` counted from 1."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(node, dict):
            c.bad(path, f"{shape.name} is a structure, sent as a single value")
            return
        wire = {m.serialization.get("name", n): n for n, m in shape.members.items()}
        for key, sub in node.items():
            if key not in wire:
                c.bad(join(path.strip(), key), f"unknown parameter: {shape.name} has no {key!r}")
                continue
            check_form(c, shape.members[wire[key]], sub, join(path.strip(), key))
        for name in shape.required_members:
            if shape.members[name].serialization.get("name", name) not in node:
                c.bad(join(path.strip(), name), f"required member of {shape.name} missing")
    elif kind == "list":
        item = shape.member.serialization.get("name", "member")
        items = node.get(item) if isinstance(node, dict) else None
        if isinstance(node, str) and node == "":
            c.size(shape, 0, path, "items")
            return
        if not isinstance(items, dict) or set(node) != {item}:
            c.bad(path, f"a list is sent as {path.strip()}.{item}.N")
            return
        indices = sorted(items, key=lambda s: int(s) if s.isdigit() else -1)
        if indices != [str(i) for i in range(1, len(indices) + 1)]:
            c.bad(path, f"list items are numbered from 1 without gaps, not {', '.join(indices)}")
        c.size(shape, len(indices), path, "items")
        for i in indices:
            check_form(c, shape.member, items[i], f"{path.strip()}.{item}.{i}")
    elif kind == "map":
        c.bad(path, "maps are not expected in these operations")
    else:
        if not isinstance(node, str):
            c.bad(path, f"{shape.name} is a {kind}, sent as a structure")
            return
        c.text(shape, node, path.strip())


def check_query_response(c, op, resp):
    where = f"{op.name} response"
    model = MODELS["sts"]
    status = status_of(resp)
    try:
        root = ET.fromstring(resp.body)
    except ET.ParseError as e:
        c.bad(f"{where} body", f"not XML: {e}")
        return
    if status is not None and status >= 300:
        check_query_error(c, op, root, status, where.replace("response", "error"))
        return
    if status != 200:
        c.bad(where, f"status {status}, the query protocol answers 200")
    ns = model.metadata.get("xmlNamespace")
    if namespace(root.tag) != ns:
        c.bad(f"{where} body", f"namespace {namespace(root.tag)!r}, the definition's is {ns!r}")
    if local(root.tag) != f"{op.name}Response":
        c.bad(f"{where} body", f"root element <{local(root.tag)}>, expected <{op.name}Response>")
    wrapper = op.output_shape.serialization.get("resultWrapper") if op.output_shape else None
    seen = set()
    for child in root:
        tag = local(child.tag)
        if tag in seen:
            c.bad(f"{where} body", f"<{tag}> appears twice")
        seen.add(tag)
        if tag == wrapper:
            c.xml(op.output_shape, child, wrapper)
        elif tag == "ResponseMetadata":
            inner = [local(e.tag) for e in child]
            if inner != ["RequestId"]:
                c.bad(f"{where} ResponseMetadata", f"holds {inner}, expected exactly a RequestId")
        else:
            c.bad(f"{where} body", f"unknown element <{tag}> in <{local(root.tag)}>")
    if wrapper and wrapper not in seen:
        c.bad(f"{where} body", f"no <{wrapper}>")
    if "ResponseMetadata" not in seen:
        c.bad(f"{where} body", "no <ResponseMetadata> (the SDKs read the request id from it)")
    # botocore's own reading of the answer must work and find every
    # required member (it ignores what it does not know; the walk above
    # does not).
    try:
        parsed = botocore.parsers.create_parser("query").parse(
            {"status_code": 200, "headers": dict(resp.headers), "body": resp.body}, op.output_shape
        )
    except Exception as e:  # noqa: BLE001 - any failure of the parser is the finding
        c.bad(f"{where} body", f"botocore's query parser fails on it: {type(e).__name__}: {e}")
        return
    for name in op.output_shape.required_members if op.output_shape else []:
        if name not in parsed:
            c.bad(f"{where} body", f"botocore's parser finds no {name}")


def check_query_error(c, op, root, status, where):
    if local(root.tag) != "ErrorResponse":
        c.bad(f"{where} body", f"root element <{local(root.tag)}>, an error is <ErrorResponse>")
        return
    error = None
    for child in root:
        tag = local(child.tag)
        if tag == "Error":
            error = child
        elif tag != "RequestId":
            c.bad(f"{where} body", f"unknown element <{tag}> in <ErrorResponse>")
    if error is None:
        c.bad(f"{where} body", "no <Error>")
        return
    fields = {local(e.tag): (e.text or "") for e in error}
    for tag in fields:
        if tag not in ("Type", "Code", "Message", "Detail"):
            c.bad(f"{where} body", f"unknown element <{tag}> in <Error>")
    code = fields.get("Code")
    errors = {e.metadata.get("error", {}).get("code", e.name): e for e in op.error_shapes}
    shape = errors.get(code)
    if shape is None:
        c.bad(where, f"{code} is not an error {op.name} is defined to return ({', '.join(errors)})")
        return
    meta = shape.metadata.get("error", {})
    if meta.get("httpStatusCode") not in (None, status):
        c.bad(where, f"{code} is answered with status {meta.get('httpStatusCode')}, not {status}")
    expected_type = "Sender" if meta.get("senderFault") else "Receiver"
    if fields.get("Type") != expected_type:
        c.bad(where, f"<Type> {fields.get('Type')!r}, the definition makes {code} a {expected_type} fault")


# ---- items ----------------------------------------------------------------


def check_wire(report, item):
    label = item["label"]
    c = Checker(report, label)
    entry = report.entry(label)
    client = base64.b64decode(item.get("client", ""))
    server = base64.b64decode(item.get("server", ""))
    if client.startswith(b"PRI * HTTP/2.0"):
        c.bad("connection", "HTTP/2 without TLS: this checker reads HTTP/1.1 only")
        return
    requests = split_messages(client, responses=False)
    responses = split_messages(server, responses=True)
    if len(responses) > len(requests):
        c.bad("connection", f"{len(responses)} responses to {len(requests)} requests")
    for i, req in enumerate(requests):
        tag = f"exchange {i}"
        if not req.complete:
            c.bad(tag, f"incomplete request: {req.problem}")
            continue
        resp = responses[i] if i < len(responses) else None
        service, op, why = identify(req)
        if why:
            c.bad(tag, why)
            continue
        if service == "imds":
            entry["skipped"].append("imds " + req.start.split(" ")[1])
            continue
        entry["exchanges"].append(op.name)
        sub = Checker(report, f"{label}: {tag}")
        if service == "sts":
            check_query_request(sub, op, req)
        else:
            check_rest_request(sub, op, req)
        if resp is None:
            sub.bad(op.name, "no response")
            continue
        if not resp.complete:
            sub.bad(f"{op.name} response", f"incomplete: {resp.problem}")
            continue
        if service == "sts":
            check_query_response(sub, op, resp)
        else:
            entry["events"] += check_rest_response(sub, op, resp)


def check_message(report, item):
    label = item["label"]
    c = Checker(report, label)
    model = MODELS.get(item.get("service", "bedrock-runtime"))
    if model is None:
        c.bad("item", f"unknown service {item.get('service')!r}")
        return
    try:
        op = model.operation_model(item["operation"])
    except Exception:  # noqa: BLE001 - botocore raises its own lookup error
        c.bad("item", f"no operation {item.get('operation')!r} in {model.service_name}")
        return
    entry = report.entry(label)
    entry["messages"] += 1
    direction = item.get("direction")
    body = item.get("body")
    headers = Message("", [(k.lower(), str(v)) for k, v in (item.get("headers") or {}).items()], b"")
    if model.service_name == "sts" and direction in ("response", "error"):
        resp = Message(f"HTTP/1.1 {item.get('status', 200)} X", headers.headers, body.encode())
        check_query_response(c, op, resp)
    elif direction == "request":
        shape = op.input_shape
        payload = shape.serialization.get("payload")
        if payload and shape.members[payload].type_name == "blob":
            return
        c.structure(shape, body, f"{op.name} request body", members=body_members(shape))
    elif direction == "response":
        shape = op.output_shape
        payload = shape.serialization.get("payload")
        if payload and shape.members[payload].type_name == "blob":
            check_header_members(c, shape, headers, f"{op.name} response", request=False)
            return
        c.structure(shape, body, f"{op.name} response body", members=body_members(shape))
    elif direction == "event":
        stream = event_stream_of(op)
        if stream is None:
            c.bad("item", f"{op.name} has no event stream")
            return
        kind = item.get("event_type")
        member = stream.members.get(kind)
        exception = member is not None and member.metadata.get("exception")
        event_headers = {":message-type": "exception" if exception else "event",
                         ":exception-type" if exception else ":event-type": kind,
                         ":content-type": "application/json"}
        check_event(c, stream, event_headers, json.dumps(body).encode(), f"{op.name} event")
        entry["events"] += 1
    elif direction == "error":
        kind = error_type(headers, body)
        check_error_value(c, op, kind, item.get("status"), body, f"{op.name} error")
    else:
        c.bad("item", f"unknown direction {direction!r}")


def event_stream_of(op):
    shape = op.output_shape
    if shape is None:
        return None
    for m in shape.members.values():
        if m.serialization.get("eventstream"):
            return m
    return None


def check_fixture(report, item):
    """A fixture file: its request (when it has one) and its response, as
    messages; InvokeModel bodies are the model's own JSON, so only the
    HTTP members around them are the definition's."""
    label = item["label"]
    with open(item["path"], encoding="utf-8") as f:
        fx = json.load(f)
    c = Checker(report, label)
    for key in ("source", "operation", "response"):
        if key not in fx:
            c.bad("fixture", f"no {key!r}")
            return
    service = next((name for name in ("sts", "bedrock-runtime", "bedrock")
                    if fx["operation"] in MODELS[name].operation_names), "bedrock-runtime")
    base = {"label": label, "service": service, "operation": fx["operation"]}
    if "request" in fx:
        check_message(report, {**base, "direction": "request", "body": fx["request"]})
    resp = fx["response"]
    status = resp.get("status", 200)
    if service == "sts":
        check_message(report, {**base, "direction": "response", "status": status,
                               "headers": resp.get("headers"), "body": resp["body"]})
    elif status >= 300:
        check_message(report, {**base, "direction": "error", "status": status,
                               "headers": resp.get("headers"), "body": resp.get("body")})
    elif "events" in resp:
        for e in resp["events"]:
            kind = e.get("event") or e.get("exception")
            check_message(report, {**base, "direction": "event", "event_type": kind, "body": e.get("payload")})
    elif "chunks" in resp:
        for chunk in resp["chunks"]:
            encoded = base64.b64encode(json.dumps(chunk).encode()).decode()
            check_message(report, {**base, "direction": "event", "event_type": "chunk",
                                   "body": {"bytes": encoded}})
    else:
        check_message(report, {**base, "direction": "response", "headers": resp.get("headers"),
                               "body": resp.get("body")})


def main():
    report = Report()
    items = 0
    for n, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            kind = item["kind"]
            item.setdefault("label", f"line {n}")
        except (ValueError, KeyError, TypeError) as e:
            sys.stderr.write(f"validate.py: line {n}: not an item: {e}\n")
            return 2
        items += 1
        if kind == "wire":
            check_wire(report, item)
        elif kind == "message":
            check_message(report, item)
        elif kind == "fixture":
            check_fixture(report, item)
        else:
            report.bad(item["label"], "item", f"unknown kind {kind!r}")
    for v in report.violations:
        print(f"violation: {v}")
    summary = {
        "items": items,
        "violations": len(report.violations),
        "botocore": botocore.__version__,
        "labels": report.labels,
    }
    print("summary: " + json.dumps(summary, sort_keys=True))
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
