"""Test support: a loopback DynamoDB proxy that counts calls (and can inject faults), and a cookie-keeping client.

The proxy sits between the code under test and the real DynamoDB server, so store calls are counted from the
outside, by ``X-Amz-Target``, without patching anything.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

import aiohttp
from aiohttp import web
from tornado.web import decode_signed_value

from tornado_dynasession.backends.aiobotocore import shared_session

# A fault decides, per proxied call, what to do instead of forwarding: None forwards.
# It may return ("status", code, dynamodb_error_type) to answer an error, ("reset",) to drop the connection,
# ("hang",) to accept and never answer, ("lose-answer",) to forward the call and then drop the connection, so that
# the call takes effect but its answer never arrives, or ("delay", seconds) to forward it that much later.
Fault = Callable[[str, int], tuple[object, ...] | None]


def stop_process(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the process has not ended within ``timeout`` seconds; waits for it either way."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DynamoProxy:
    """HTTP proxy on 127.0.0.1 in front of a DynamoDB endpoint; counts calls by operation name."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.calls: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (operation, request body) of each call passed on
        self.fault: Fault | None = None
        self._release_hung = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The proxy's endpoint URL."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> DynamoProxy:
        """Start listening on a free port."""
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = free_port()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self._session = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        """Stop the proxy (hung calls are released first: aiohttp would otherwise wait 60 s for them)."""
        self._release_hung.set()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def reset(self) -> None:
        """Forget the counts."""
        self.calls.clear()
        self.attempts.clear()
        self.requests.clear()

    def count(self, *operations: str) -> int:
        """Calls of the given operations (all data-plane operations when none are named)."""
        names = operations or ("GetItem", "PutItem", "UpdateItem", "DeleteItem")
        return sum(self.calls[name] for name in names)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        operation = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
        body = await request.read()
        self.attempts[operation] += 1
        action = None if self.fault is None else self.fault(operation, self.attempts[operation])
        if action is not None and action[0] == "delay":
            await asyncio.sleep(float(str(action[1])))
            action = None
        if action is not None and action[0] != "lose-answer":
            return await self._inject(request, action)
        self.calls[operation] += 1
        self.requests.append((operation, json.loads(body or b"{}")))
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        try:
            async with self._session.post(self.upstream + "/", data=body, headers=headers) as upstream:
                payload = await upstream.read()
                response = web.Response(
                    status=upstream.status,
                    body=payload,
                    headers={"Content-Type": upstream.headers.get("Content-Type", "application/x-amz-json-1.0")},
                )
        except aiohttp.ClientConnectionError:  # the server is down: drop the connection, as a refused one would be
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)
        if action is not None and request.transport is not None:  # lose-answer: it happened, the client never hears
            request.transport.abort()
        return response

    async def _inject(self, request: web.Request, action: tuple[object, ...]) -> web.StreamResponse:
        kind = action[0]
        if kind == "status":
            status, error_type = action[1], action[2]
            body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{error_type}", "message": "injected"})
            return web.Response(status=int(str(status)), body=body, content_type="application/x-amz-json-1.0")
        if kind == "reset":
            transport = request.transport
            if transport is not None:
                transport.abort()
            return web.Response(status=500)
        if kind == "hang":
            await self._release_hung.wait()  # until stop(); the client has given up long before
            return web.Response(status=503)
        raise AssertionError(f"unknown fault {action!r}")


@dataclass
class Reply:
    """One HTTP response as the client saw it."""

    status: int
    body: str
    headers: list[tuple[str, str]]
    set_cookies: dict[str, SimpleCookie] = field(default_factory=dict)

    def cookie(self, name: str = "session") -> dict[str, str] | None:
        """The Set-Cookie for ``name`` as attributes (lower-case keys, plus "value"), or None if not sent."""
        jar = self.set_cookies.get(name)
        if jar is None:
            return None
        morsel = jar[name]
        attributes = {key.lower(): value for key, value in morsel.items() if value}
        attributes["value"] = morsel.value
        raw = next(v for k, v in self.headers if k.lower() == "set-cookie" and v.startswith(name + "="))
        for flag in ("HttpOnly", "Secure"):
            if flag.lower() in raw.lower():
                attributes[flag.lower()] = "true"
        return attributes


class Browser:
    """An HTTP client with a cookie jar that keeps raw cookie values as the server sent them."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.cookies: dict[str, str] = {}
        self._session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())

    async def close(self) -> None:
        """Close the connection pool."""
        await self._session.close()

    async def request(
        self, method: str, path: str, *, cookies: dict[str, str] | None = None, timeout: float = 30.0, **kwargs: object
    ) -> Reply:
        """Send a request with the jar's cookies, keep any Set-Cookie in the jar, return the reply.

        With ``cookies``, send those instead and leave the jar alone.
        """
        jar = self.cookies if cookies is None else cookies
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
        if jar:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in jar.items())
        async with self._session.request(
            method,
            self.base_url + path,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout),
            **kwargs,  # type: ignore[arg-type]
        ) as response:
            body = await response.text()
            raw_headers = [(k, v) for k, v in response.headers.items()]
        reply = Reply(status=response.status, body=body, headers=raw_headers)
        for key, value in raw_headers:
            if key.lower() != "set-cookie":
                continue
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(value)
            for name, morsel in parsed.items():
                reply.set_cookies[name] = parsed
                if cookies is not None:
                    continue
                expired = morsel["max-age"] == "0" or "1970" in morsel["expires"] or not morsel.value
                if expired or _is_past(morsel["expires"]):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = value.split(";", 1)[0].split("=", 1)[1]
        return reply

    async def get(self, path: str, **kwargs: object) -> Reply:
        """GET ``path``."""
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: object) -> Reply:
        """POST ``path``."""
        return await self.request("POST", path, **kwargs)


def _is_past(expires: str) -> bool:
    if not expires:
        return False
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(expires) < datetime.now(timezone.utc)
    except (TypeError, ValueError):
        return False


def session_id_in(secret: Any, cookie: str, name: str = "session") -> str | None:
    """The session id inside a signed session cookie value (its lifetime fields dropped), or None if it does not
    verify with ``secret``."""
    decoded = decode_signed_value(secret, name, cookie.strip('"'))
    return None if decoded is None else decoded.decode().split("|", 1)[0]


def open_raw_client(endpoint_url: str) -> Any:
    """A plain aiobotocore DynamoDB client (an async context manager) for ``endpoint_url``, with dummy
    credentials: to read items back, or to write ones the store would never write."""
    return shared_session().create_client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
