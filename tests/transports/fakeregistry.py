"""A tiny in-memory distribution-spec registry on 127.0.0.1 for tests, with knobs to
misbehave: auth (bearer/basic), dropped or hanging connections mid-blob, no Range
support, and arbitrary replies set per path (malformed JSON, wrong digests, huge
manifests)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class State:
    blobs: dict[str, bytes] = field(default_factory=dict)
    links: set[tuple[str, str]] = field(default_factory=set)  # (repository, digest)
    manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    uploads: dict[str, bytearray] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    auth: str | None = None  # None, "basic" or "bearer"
    user: tuple[str, str] = ("alice", "secret")
    token: str = "tok-123"
    drop_after: int | None = None  # bytes of a blob GET before the connection drops
    drops: int = 0
    stall_after: int | None = None  # bytes of a blob GET before it hangs until `release`
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    ranges: list[str | None] = field(default_factory=list)  # Range of each blob GET
    range_ok: bool = True
    overrides: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    redirect_blobs: bool = False  # blob GETs answer 307 to /storage/ on host "localhost"
    storage_auth: list[str | None] = field(default_factory=list)  # Authorization seen there
    port: int = 0


class Handler(BaseHTTPRequestHandler):
    state: State
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _authorized(self) -> bool:
        s = self.state
        got = self.headers.get("Authorization", "")
        if s.auth == "basic":
            want = "Basic " + base64.b64encode(f"{s.user[0]}:{s.user[1]}".encode()).decode()
            if got == want:
                return True
            challenge = 'Basic realm="fake"'
        elif s.auth == "bearer":
            if got == f"Bearer {s.token}":
                return True
            challenge = (f'Bearer realm="http://127.0.0.1:{s.port}/token",service="fake",'
                         'scope="repository:x:pull"')
        else:
            return True
        self._reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"login"}]}',
                    {"WWW-Authenticate": challenge})
        return False

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _route(self) -> None:
        s = self.state
        url = urlsplit(self.path)
        s.log.append(f"{self.command} {self.path}")
        body = self._body() if self.command in ("PUT", "PATCH", "POST") else b""
        if url.path in s.overrides:
            code, headers, data = s.overrides[url.path]
            return self._reply(code, data, headers)
        if url.path.startswith("/storage/"):
            s.storage_auth.append(self.headers.get("Authorization"))
            return self._reply(200, s.blobs[url.path.removeprefix("/storage/")])
        if url.path == "/token":
            want = "Basic " + base64.b64encode(f"{s.user[0]}:{s.user[1]}".encode()).decode()
            if self.headers.get("Authorization") != want:
                return self._reply(401, b"{}")
            return self._reply(200, json.dumps({"token": s.token}).encode())
        if not self._authorized():
            return None
        if url.path == "/v2/":
            return self._reply(200, b"{}")
        m = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/(.+)", url.path)
        if m and m.group(3) != "uploads/" and not m.group(3).startswith("uploads/"):
            return self._object(m.group(1), m.group(2), m.group(3), body)
        m = re.fullmatch(r"/v2/(.+)/blobs/uploads/(.*)", url.path)
        if m:
            return self._upload(m.group(1), m.group(2), parse_qs(url.query), body)
        return self._reply(404)

    def _object(self, repo: str, kind: str, ref: str, body: bytes) -> None:
        s = self.state
        if kind == "manifests":
            if self.command == "PUT":
                digest = "sha256:" + hashlib.sha256(body).hexdigest()
                entry = (body, self.headers.get("Content-Type", ""))
                s.manifests[(repo, ref)] = s.manifests[(repo, digest)] = entry
                return self._reply(201, headers={"Docker-Content-Digest": digest})
            found = s.manifests.get((repo, ref))
            if found is None:
                return self._reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"x"}]}')
            return self._reply(200, found[0], {"Content-Type": found[1]})
        data = s.blobs.get(ref) if (repo, ref) in s.links else None
        if data is None:
            return self._reply(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"x"}]}')
        if self.command == "HEAD":
            return self._reply(200, b"", {"Content-Length": str(len(data))})
        if s.redirect_blobs:
            scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
            location = f"{scheme}://localhost:{s.port}/storage/{ref}"
            return self._reply(307, b"", {"Location": location})
        start = 0
        rng = self.headers.get("Range")
        s.ranges.append(rng)
        if rng and s.range_ok:
            start = int(rng.removeprefix("bytes=").split("-")[0])
        part = data[start:]
        headers = {"Content-Length": str(len(part))}
        code = 200
        if start:
            code = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        stall = s.stall_after is not None and not s.stalled.is_set() and len(part) > s.stall_after
        drop = s.drop_after is not None and s.drops == 0 and len(part) > s.drop_after
        if stall or drop:
            cut = s.stall_after if stall else s.drop_after
            s.drops += not stall
            self.send_response(code)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(part[:cut])
            self.wfile.flush()
            if stall:  # a pull to kill mid-blob
                s.stalled.set()
                s.release.wait(60)
            self.close_connection = True
            return None
        return self._reply(code, part, headers)

    def _upload(self, repo: str, uid: str, query: dict[str, list[str]], body: bytes) -> None:
        s = self.state
        if self.command == "POST":
            if "mount" in query:
                digest = query["mount"][0]
                if (query["from"][0], digest) in s.links:
                    s.links.add((repo, digest))
                    return self._reply(201, headers={"Location": f"/v2/{repo}/blobs/{digest}"})
            uid = uuid.uuid4().hex
            s.uploads[uid] = bytearray()
            return self._reply(202, headers={"Location": f"/v2/{repo}/blobs/uploads/{uid}"})
        buf = s.uploads.get(uid)
        if buf is None:
            return self._reply(404)
        if self.command == "PATCH":
            rng = self.headers.get("Content-Range", "")
            if rng and int(rng.split("-")[0]) != len(buf):
                return self._reply(416)
            buf.extend(body)
            return self._reply(202, headers={"Location": f"/v2/{repo}/blobs/uploads/{uid}",
                                             "Range": f"0-{len(buf) - 1}"})
        buf.extend(body)
        digest = query["digest"][0]
        if "sha256:" + hashlib.sha256(bytes(buf)).hexdigest() != digest:
            return self._reply(400, b'{"errors":[{"code":"DIGEST_INVALID","message":"x"}]}')
        s.blobs[digest] = bytes(buf)
        s.links.add((repo, digest))
        del s.uploads[uid]
        return self._reply(201, headers={"Location": f"/v2/{repo}/blobs/{digest}"})

    do_GET = do_HEAD = do_PUT = do_PATCH = do_POST = _route


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up (TLS probes, dropped blobs) are expected here


@contextmanager
def fake_registry(tls: tuple[str, str] | None = None) -> Iterator[State]:
    """Serve a fresh registry on 127.0.0.1:<free port> while the context lasts; over
    https when `tls` is (certificate file, key file)."""
    state = State()
    handler = type("H", (Handler,), {"state": state})
    server = _Server(("127.0.0.1", 0), handler)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*tls)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
