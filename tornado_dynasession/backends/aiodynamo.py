"""The aiodynamo transport (``pip install "tornado_dynasession[aiodynamo]"``): DynamoDB's JSON wire form through
:meth:`aiodynamo.client.Client.send_request`, which signs, sends and retries. aiodynamo's own item conversion,
which would turn numbers into floats, is never used."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiodynamo.client import Client
from aiodynamo.credentials import Credentials, Key, StaticCredentials
from aiodynamo.errors import (
    AIODynamoError,
    ConditionalCheckFailed,
    InternalDynamoError,
    LimitExceeded,
    NoCredentialsFound,
    ProvisionedThroughputExceeded,
    RequestLimitExceeded,
    ServiceUnavailable,
    TableNotFound,
    Throttled,
    UnknownError,
)
from aiodynamo.http.aiohttp import AIOHTTP
from aiodynamo.models import RetryConfig, RetryTimeout
from yarl import URL

from ..errors import ConfigurationError
from . import ClientOptions
from .transport import NO_CREDENTIALS, NO_REGION, ServiceError, Unreachable
from .wire import UNAVAILABLE_CODES

__all__ = ["AiodynamoTransport", "BoundedRetry", "create_transport", "translate"]

# aiohttp's keep-alive default is 15 s; aiobotocore uses 12 s. Idle connections are closed before a server does.
_KEEPALIVE_SECONDS = 12.0

_UNAVAILABLE = (
    Throttled,
    ProvisionedThroughputExceeded,
    RequestLimitExceeded,
    LimitExceeded,
    ServiceUnavailable,
    InternalDynamoError,
)


_RETRIED: ContextVar[bool] = ContextVar("tornado_dynasession_retried", default=False)
"""Set when a call of the current task was retried: aiodynamo runs the retry loop in the caller's task."""


@dataclass(frozen=True)
class BoundedRetry(RetryConfig):
    """An aiodynamo ``throttle_config`` that makes at most ``max_attempts`` attempts, with jittered exponential
    backoff (``base_delay_secs`` doubling, capped at ``max_delay_secs``; seconds) between them.

    aiodynamo's own retry configs only stop at a time limit (60 s by default); this one stops at a count as
    well, and ``time_limit_secs`` still caps the whole call.
    """

    max_attempts: int = 3
    base_delay_secs: float = 0.05
    max_delay_secs: float = 1.0

    def delays(self) -> Iterator[float]:
        """The pause before each retry: full jitter over ``base_delay_secs * 2**n``, at most ``max_delay_secs``."""
        for attempt in range(self.max_attempts - 1):
            yield min(random.random() * self.base_delay_secs * 2**attempt, self.max_delay_secs)

    def attempts(self) -> _Attempts:
        """One iteration per attempt, then RetryTimeout, which makes aiodynamo re-raise the last error."""
        return _Attempts(self)


class _Attempts:
    """The iterator behind :meth:`BoundedRetry.attempts`.

    A plain class, not an async generator: a call that succeeds leaves its iterator unfinished, and an unfinished
    async generator costs the event loop a thread-safe wake-up and an ``aclose()`` task when it is collected.
    Ending by raising RetryTimeout (not StopAsyncIteration) makes aiodynamo re-raise the last error instead of
    replacing it with BrokenThrottleConfig.
    """

    __slots__ = ("_config", "_deadline", "_delays", "_started")

    def __init__(self, config: BoundedRetry) -> None:
        self._config = config
        self._deadline = time.monotonic() + config.time_limit_secs
        self._delays: Iterator[float] | None = None
        self._started = False

    def __aiter__(self) -> _Attempts:
        return self

    async def __anext__(self) -> None:
        if not self._started:
            self._started = True
            return
        if self._delays is None:
            self._delays = self._config.delays()
        delay = next(self._delays, None)
        if delay is None or time.monotonic() + delay > self._deadline:
            raise RetryTimeout()
        _RETRIED.set(True)
        await asyncio.sleep(delay)


def _error_text(exc: BaseException) -> tuple[str, str]:
    # aiodynamo passes the decoded error body (``{"__type": ..., "message": ...}``) as the exception's argument.
    body = exc.args[0] if exc.args else None
    if isinstance(body, dict):
        code = str(body.get("__type", type(exc).__name__)).rsplit("#", 1)[-1]
        return code, str(body.get("message") or body.get("Message") or "")
    if isinstance(exc, UnknownError):
        return f"HTTP {exc.status}", exc.body[:200].decode(errors="replace")
    return type(exc).__name__, str(exc)


def translate(exc: BaseException, attempts: int) -> Exception:
    """An aiodynamo/aiohttp failure as the transport seam states it (see
    :func:`tornado_dynasession.backends.aiobotocore.translate`); ``attempts`` is how many the call made."""
    if isinstance(exc, NoCredentialsFound):
        return ConfigurationError(NO_CREDENTIALS)
    if isinstance(exc, AIODynamoError):
        code, message = _error_text(exc)
        if isinstance(exc, TableNotFound):
            code = "ResourceNotFoundException"
        elif isinstance(exc, ConditionalCheckFailed):
            code = "ConditionalCheckFailedException"
        elif isinstance(exc, _UNAVAILABLE) and code not in UNAVAILABLE_CODES:
            code = "ServiceUnavailable"
        body = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else None
        status = exc.status if isinstance(exc, UnknownError) else 400
        return ServiceError(code, message, body=body, attempts=attempts, status=status)
    if isinstance(exc, (aiohttp.ClientError, OSError, asyncio.TimeoutError, RetryTimeout)):
        code, message = _error_text(exc)
        return Unreachable(f"{code}: {message}" if message else code, attempts=attempts)
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


class AiodynamoTransport:
    """Sends requests through :meth:`aiodynamo.client.Client.send_request`, which signs, sends and retries.

    :param client: the client; its HTTP session is closed by :meth:`close` only when ``close`` is given.
    :param endpoint_url: the endpoint the user configured, for error messages.
    :param max_attempts: the attempts its throttle config allows (for error messages).
    """

    binary_as_bytes = False

    __slots__ = ("_close", "_max_attempts", "_send", "client", "endpoint")

    def __init__(
        self, client: Client, *, endpoint_url: str | None, close: Any = None, max_attempts: int | None = None
    ) -> None:
        self.client = client
        self._send = client.send_request
        self.endpoint = endpoint_url or (str(client.endpoint) if client.endpoint is not None else None)
        self._close = close
        self._max_attempts = max_attempts

    async def send(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one request through the client."""
        retried = _RETRIED.set(False)
        try:
            answer: dict[str, Any] = await self._send(action=operation, payload=payload)
        except Exception as exc:
            attempts = (self._max_attempts or 2) if _RETRIED.get() else 1
            translated = translate(exc, attempts)
            if translated is exc:
                raise
            raise translated from exc
        finally:
            _RETRIED.reset(retried)
        return answer

    async def close(self) -> None:
        """Close the HTTP session if this transport created it."""
        if self._close is not None:
            close, self._close = self._close, None
            await close()


def create_transport(
    options: ClientOptions,
    *,
    endpoint_url: str | None,
    region_name: str | None,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
) -> AiodynamoTransport:
    """A transport with its own aiohttp session and aiodynamo client, closed by :meth:`AiodynamoTransport.close`.

    Must run inside the event loop. Timeouts are in seconds, per attempt, as in the aiobotocore path; explicit
    keys (the store passes dummy ones for a loopback endpoint) win over aiodynamo's credential chain.
    """
    region = region_name or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    if not region:
        raise ConfigurationError(NO_REGION)
    credentials: Credentials
    if aws_access_key_id and aws_secret_access_key:
        credentials = StaticCredentials(Key(aws_access_key_id, aws_secret_access_key))
    else:
        credentials = Credentials.auto()
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=options.max_pool_connections, keepalive_timeout=_KEEPALIVE_SECONDS),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=options.connect_timeout, sock_read=options.read_timeout),
        trust_env=options.trust_env,
    )
    # The time limit only stops a retry from starting once the attempts so far could have used up their timeouts.
    throttle = BoundedRetry(
        time_limit_secs=options.max_attempts * (options.connect_timeout + options.read_timeout) + 1.0,
        max_attempts=options.max_attempts,
    )
    client = Client(
        AIOHTTP(session),
        credentials,
        region,
        URL(endpoint_url) if endpoint_url else None,
        throttle_config=throttle,
    )
    return AiodynamoTransport(client, endpoint_url=endpoint_url, close=session.close, max_attempts=options.max_attempts)
