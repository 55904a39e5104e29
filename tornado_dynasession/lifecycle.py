"""Graceful shutdown for a Tornado server: on SIGTERM, finish the requests in flight, then close the store.

A rolling restart sends SIGTERM to the old process while it still serves requests. Stopping at once would cut
those requests off before their session is saved. :func:`serve_gracefully` serves an application until a stop
signal, then stops accepting connections, lets every request already started finish (its session saved, its
response sent), closes the idle keep-alive connections, and closes the store.

Sanic needs none of this: its own graceful shutdown finishes the requests in flight, and an ``after_server_stop``
listener closes the store.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from tornado import httputil
from tornado.httpserver import HTTPServer
from tornado.web import Application

from .store import DynamoDBStore

__all__ = ["serve_gracefully"]

logger = logging.getLogger("tornado_dynasession")

DEFAULT_DRAIN_TIMEOUT_SECONDS = 30.0
"""How long :func:`serve_gracefully` waits for the requests in flight before closing anyway."""


class _Request:
    """One request, counted from its headers until its response is finished (or its client left mid-upload)."""

    def __init__(self, in_flight: _InFlight) -> None:
        self._in_flight = in_flight
        self.begun = False
        self.ended = False
        self.handled = False  # the whole request arrived: the handler runs, and will finish the response

    def begin(self) -> None:
        self.begun = True
        self._in_flight.count += 1
        self._in_flight.idle.clear()

    def end(self) -> None:
        if self.begun and not self.ended:
            self.ended = True
            self._in_flight.count -= 1
            if self._in_flight.count == 0:
                self._in_flight.idle.set()


class _TrackedConnection(httputil.HTTPConnection):
    """A request's connection, as the application sees it: ends the request when its response is finished."""

    def __init__(self, connection: httputil.HTTPConnection, request: _Request) -> None:
        self._connection = connection
        self._request = request

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def write_headers(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        return self._connection.write_headers(start_line, headers, chunk)

    def write(self, chunk: bytes) -> asyncio.Future[None]:
        return self._connection.write(chunk)

    def finish(self) -> None:
        try:
            self._connection.finish()
        finally:
            self._request.end()


class _TrackedMessage(httputil.HTTPMessageDelegate):
    """The application's delegate for one request: begins the request when its headers arrive.

    Tornado asks for a delegate as soon as a connection is ready for its next request, so an idle keep-alive
    connection always holds one; only a request whose headers arrived is in flight.
    """

    def __init__(self, delegate: httputil.HTTPMessageDelegate, request: _Request) -> None:
        self._delegate = delegate
        self._request = request

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        self._request.begin()
        return self._delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return self._delegate.data_received(chunk)

    def finish(self) -> None:
        self._request.handled = True
        self._delegate.finish()

    def on_connection_close(self) -> None:
        self._delegate.on_connection_close()
        if not self._request.handled:  # left before the whole request arrived: no handler will finish it
            self._request.end()


class _InFlight(httputil.HTTPServerConnectionDelegate):
    """Wraps the application and counts the requests whose response is not finished yet."""

    def __init__(self, application: httputil.HTTPServerConnectionDelegate) -> None:
        self.application = application
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def start_request(self, server_conn: object, request_conn: httputil.HTTPConnection) -> httputil.HTTPMessageDelegate:
        request = _Request(self)
        delegate = self.application.start_request(server_conn, _TrackedConnection(request_conn, request))
        return _TrackedMessage(delegate, request)

    def on_close(self, server_conn: object) -> None:
        self.application.on_close(server_conn)

    async def drained(self, timeout: float) -> bool:
        """Wait until no request is in flight; False if ``timeout`` seconds passed first."""
        try:
            await asyncio.wait_for(self.idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True


async def serve_gracefully(
    application: Application,
    sockets: Iterable[socket.socket],
    *,
    store: DynamoDBStore | None = None,
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT_SECONDS,
    stop_signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
    started: Callable[[HTTPServer], Awaitable[None] | None] | None = None,
    **server_options: Any,
) -> None:
    """Serve ``application`` on ``sockets`` until a stop signal, then shut down without losing a request.

    On the first of ``stop_signals``: the listening sockets close (no new connections), every request already
    started runs to its end (its session is saved before its response is sent, as always), idle keep-alive
    connections close, and then ``store`` closes. The coroutine returns after that.

    Works in each child of ``tornado.process.fork_processes``: bind the sockets before the fork, create the store
    and call this after it. Under ``fork_processes`` the parent only waits for its children, so send the signal to
    every process (the process group), as systemd does by default.

    :param application: the Tornado application.
    :param sockets: listening sockets, from ``tornado.netutil.bind_sockets``.
    :param store: the store to close last; by default the application's ``session_store`` setting, if any.
    :param drain_timeout: seconds to wait for the requests in flight; those still running afterwards are cut off
        (and logged), so that a stuck handler cannot block a deployment forever.
    :param stop_signals: the signals that start the shutdown; SIGTERM (what process managers and container
        runtimes send) and SIGINT (Ctrl-C).
    :param started: called with the :class:`~tornado.httpserver.HTTPServer` once it serves (may be a coroutine).
    :param server_options: passed to :class:`~tornado.httpserver.HTTPServer` (``xheaders=True`` behind a proxy).

    .. versionadded:: 0.2
    """
    if store is None:
        store = application.settings.get("session_store")
    in_flight = _InFlight(application)
    server = HTTPServer(in_flight, **server_options)
    server.add_sockets(sockets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = list(stop_signals)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        if started is not None:
            result = started(server)
            if result is not None:
                await result
        await stop.wait()
        server.stop()
        if not await in_flight.drained(drain_timeout):
            logger.warning(
                "shutdown: %d request(s) still running after %s s (drain_timeout); closing their connections",
                in_flight.count,
                drain_timeout,
            )
        await server.close_all_connections()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        if store is not None:
            await store.close()
