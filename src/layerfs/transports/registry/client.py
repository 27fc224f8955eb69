"""A distribution-spec HTTP client: one registry host, its auth, its replies.

`RegistryClient.request` sends one request with the right `Authorization` (Bearer token
fetched from the challenge's realm for the request's scope, or Basic), retries once after
a 401 when it could get (new) credentials, follows redirects for GET/HEAD (dropping
`Authorization` when the host changes), and turns error replies into errors: 404 →
`NotFound`, 401/403 → `PermissionDenied`, anything else unexpected → `InvalidInput`
(a registry reply is outside input), each naming the method, path and the registry's
own error message. Bodies are read with limits (`read_limited`).

With `tls_verify=False` https is tried without verification, then plain http (what
skopeo does for `--tls-verify=false`); only ever meant for loopback/test registries.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse
from collections.abc import Sequence
from typing import BinaryIO

from layerfs.errors import InvalidInput, NotFound, PermissionDenied
from layerfs.transports.registry.auth import Challenge, Credentials, lookup

USER_AGENT = "layerfs"
MAX_ERROR_BODY = 64 << 10
MAX_TOKEN_BODY = 1 << 20
BLOCK = 1 << 20
_REDIRECTS = (301, 302, 303, 307, 308)


class Response:
    """An HTTP reply; `body` streams the content. Close it (or use `with`)."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse,
                 url: str) -> None:
        self._conn = conn
        self.body = resp
        self.status = resp.status
        self.headers = resp.headers
        self.url = url

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def read_limited(self, limit: int, what: str) -> bytes:
        """The whole body, InvalidInput when it is (or announces) more than `limit` bytes."""
        length = self.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise InvalidInput(f"{what}: {length} bytes is over the limit of {limit}")
        data = self.body.read(limit + 1)
        if len(data) > limit:
            raise InvalidInput(f"{what}: larger than the limit of {limit} bytes")
        return data

    def close(self) -> None:
        self.body.close()
        self._conn.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def error_message(data: bytes) -> str:
    """The registry's `errors[].message` (or the start of the body) for a failed reply."""
    try:
        errs = json.loads(data).get("errors")
        return "; ".join(f"{e.get('code', '')}: {e.get('message', '')}" for e in errs)
    except (ValueError, AttributeError, TypeError):
        return data[:200].decode(errors="replace").strip()


class RegistryClient:
    """The API of one registry host (`host[:port]`) for one set of credentials."""

    def __init__(self, host: str, *, tls_verify: bool = True, creds: Credentials | None = None,
                 timeout: float = 60.0) -> None:
        self.host = host
        self.tls_verify = tls_verify
        self.creds = creds if creds is not None else lookup(host)
        self.timeout = timeout
        self._scheme: str | None = None
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple[str, ...], str] = {}

    # ------------------------------------------------------------------ connections

    def _connect(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        if scheme == "http":
            return http.client.HTTPConnection(netloc, timeout=self.timeout, blocksize=BLOCK)
        ctx = ssl.create_default_context()
        if not self.tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(netloc, timeout=self.timeout, context=ctx,
                                           blocksize=BLOCK)

    def _send(self, method: str, url: str, headers: dict[str, str],
              body: BinaryIO | bytes | None) -> Response:
        parts = urllib.parse.urlsplit(url)
        conn = self._connect(parts.scheme, parts.netloc)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(method, target or "/", body=body, headers=headers)
            return Response(conn, conn.getresponse(), url)
        except BaseException:
            conn.close()
            raise

    def base(self) -> str:
        """`scheme://host`, found by the first request (see `ping`)."""
        if self._scheme is None:
            self.ping()
        return f"{self._scheme}://{self.host}"

    def ping(self) -> None:
        """GET /v2/: learn the scheme and the auth challenge. 200 and 401 are both fine."""
        schemes = ["https"] if self.tls_verify else ["https", "http"]
        last: Exception | None = None
        for scheme in schemes:
            url = f"{scheme}://{self.host}/v2/"
            try:
                resp = self._send("GET", url, self._plain_headers(), None)
            except (TimeoutError, ssl.SSLError, ConnectionError, http.client.HTTPException) as e:
                last = e
                continue
            with resp:
                resp.read_limited(MAX_ERROR_BODY, f"{self.host}: GET /v2/")
                if resp.status not in (200, 401):
                    raise InvalidInput(f"registry {self.host}: GET /v2/ answered {resp.status}")
                self._scheme = scheme
                self._note_challenge(resp)
                return
        raise OSError(f"registry {self.host}: cannot connect: {last}")

    def _plain_headers(self) -> dict[str, str]:
        return {"User-Agent": USER_AGENT}

    # ------------------------------------------------------------------ auth

    def _note_challenge(self, resp: Response) -> None:
        header = resp.header("WWW-Authenticate")
        if resp.status == 401 and header:
            self._challenge = Challenge.parse(header)

    def _authorization(self, scope: tuple[str, ...], refresh: bool) -> str | None:
        ch = self._challenge
        if ch is None:
            return None
        if ch.scheme == "basic":
            return self.creds.basic() if self.creds else None
        if ch.scheme != "bearer":
            raise PermissionDenied(f"registry {self.host}: unsupported auth scheme {ch.scheme!r}")
        if refresh or scope not in self._tokens:
            self._tokens[scope] = self._fetch_token(ch, scope)
        return f"Bearer {self._tokens[scope]}"

    def _fetch_token(self, ch: Challenge, scope: tuple[str, ...]) -> str:
        realm = ch.params.get("realm")
        if not realm or urllib.parse.urlsplit(realm).scheme not in ("http", "https"):
            raise InvalidInput(f"registry {self.host}: bearer challenge without a usable realm")
        query = [("service", ch.params["service"])] if "service" in ch.params else []
        query += [("scope", s) for s in scope]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = self._plain_headers()
        if self.creds:
            headers["Authorization"] = self.creds.basic()
        with self._send("GET", url, headers, None) as resp:
            data = resp.read_limited(MAX_TOKEN_BODY, f"token from {realm}")
            if resp.status != 200:
                raise PermissionDenied(
                    f"registry {self.host}: token request answered {resp.status}:"
                    f" {error_message(data)}"
                )
        try:
            reply = json.loads(data)
        except ValueError as e:
            raise InvalidInput(f"token from {realm}: malformed JSON: {e}") from None
        token = reply.get("token") or reply.get("access_token") if isinstance(reply, dict) else None
        if not isinstance(token, str) or not token:
            raise InvalidInput(f"token from {realm}: no 'token' or 'access_token' string")
        return token

    # ------------------------------------------------------------------ requests

    def url(self, path: str) -> str:
        """An absolute URL for an API path or a (possibly relative) Location header."""
        return urllib.parse.urljoin(self.base() + "/", path)

    def request(
        self,
        method: str,
        path: str,
        *,
        scope: Sequence[str],
        ok: Sequence[int] = (200,),
        headers: dict[str, str] | None = None,
        body: BinaryIO | bytes | None = None,
    ) -> Response:
        """Send one request; the reply when its status is in `ok` (caller closes).

        A streamed `body` cannot be sent twice: send a bodiless request with the same
        `scope` first (a POST for uploads) so that auth is settled before streaming.
        """
        url = self.url(path)
        scope_key = tuple(scope)
        for attempt in range(2):
            hdrs = {**self._plain_headers(), **(headers or {})}
            auth = self._authorization(scope_key, refresh=attempt > 0)
            if auth:
                hdrs["Authorization"] = auth
            resp = self._follow(method, url, hdrs, body)
            if resp.status == 401 and attempt == 0 and (body is None or isinstance(body, bytes)):
                old = self._challenge
                self._note_challenge(resp)
                ch = self._challenge
                # a new challenge, or a bearer token to fetch again, is worth one retry;
                # the same basic challenge again means the credentials are wrong
                if ch is not None and not (ch == old and ch.scheme == "basic"):
                    resp.close()
                    continue
            if resp.status in ok:
                return resp
            break
        with resp:
            self._raise(method, path, resp)
        raise AssertionError("unreachable")

    def _follow(self, method: str, url: str, headers: dict[str, str],
                body: BinaryIO | bytes | None) -> Response:
        origin = urllib.parse.urlsplit(url).netloc
        for _ in range(6):
            resp = self._send(method, url, headers, body)
            location = resp.header("Location")
            if resp.status not in _REDIRECTS or method not in ("GET", "HEAD") or not location:
                return resp
            resp.close()
            url = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(url).netloc != origin:
                headers = {k: v for k, v in headers.items() if k != "Authorization"}
        raise InvalidInput(f"registry {self.host}: {method} {url}: too many redirects")

    def _raise(self, method: str, path: str, resp: Response) -> None:
        try:
            data = resp.read_limited(MAX_ERROR_BODY, "error reply")
        except InvalidInput:
            data = b""
        what = f"registry {self.host}: {method} {urllib.parse.urlsplit(path).path}"
        msg = f"{what}: HTTP {resp.status}" + (f": {error_message(data)}" if data else "")
        if resp.status == 404:
            raise NotFound(msg)
        if resp.status in (401, 403):
            raise PermissionDenied(msg)
        raise InvalidInput(msg)
