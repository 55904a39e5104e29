"""The default transport: an aiobotocore DynamoDB client, one long-lived client per store."""

from __future__ import annotations

import asyncio
import functools
import platform
from contextlib import AsyncExitStack
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, cast

import aiohttp
from botocore import xform_name
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from ..errors import ConfigurationError, SessionStoreError
from . import ClientOptions
from .transport import NO_CREDENTIALS, NO_REGION, ServiceError, Unreachable
from .wire import map_error

if TYPE_CHECKING:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import AioSession
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = ["AiobotocoreTransport", "client_config", "map_client_error", "shared_session", "translate", "user_agent"]


def translate(exc: BaseException) -> Exception:
    """An aiobotocore/aiohttp failure as the transport seam states it: a :class:`ServiceError` for an error
    answer, :class:`Unreachable` for no answer, a :class:`ConfigurationError` for missing credentials or region,
    and anything else as it is."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        metadata = exc.response.get("ResponseMetadata", {})
        return ServiceError(
            str(error.get("Code", "Unknown")),
            str(error.get("Message", "")),
            body=cast("dict[str, Any]", exc.response),
            attempts=metadata.get("RetryAttempts", 0) + 1,
            status=metadata.get("HTTPStatusCode", 400),
        )
    if isinstance(exc, NoCredentialsError):
        return ConfigurationError(NO_CREDENTIALS)
    if isinstance(exc, NoRegionError):
        return ConfigurationError(NO_REGION)
    if isinstance(exc, (BotoConnectionError, HTTPClientError, aiohttp.ClientError, OSError, asyncio.TimeoutError)):
        return Unreachable(f"{type(exc).__name__}: {exc}")
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


def map_client_error(
    exc: BaseException, *, operation: str, table: str, hash_key: str, endpoint: str | None
) -> Exception:
    """Translate an aiobotocore/aiohttp failure into the library's own error, naming cause and fix."""
    translated = translate(exc)
    if isinstance(translated, (ServiceError, Unreachable)):
        return map_error(translated, operation=operation, table=table, hash_key=hash_key, where=endpoint)
    if isinstance(translated, (ConfigurationError, SessionStoreError)):
        return translated
    where = endpoint or "the AWS regional endpoint"
    if isinstance(exc, BotoCoreError):
        return SessionStoreError(f"DynamoDB client error during {operation} at {where}: {exc}")
    return SessionStoreError(f"unexpected error during {operation} at {where}: {type(exc).__name__}: {exc}")


def _version_of(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


@functools.cache
def user_agent() -> str:
    """The User-Agent of the store's own aiobotocore client: this library, aiobotocore and Python (aiobotocore's
    session appends ``botocore/<version>`` itself)."""
    from .. import __version__  # here, not at import time: the package imports this module before it is complete

    return (
        f"tornado_dynasession/{__version__} aiobotocore/{_version_of('aiobotocore')} Python/{platform.python_version()}"
    )


def client_config(
    *, connect_timeout: float, read_timeout: float, max_attempts: int, max_pool_connections: int
) -> AioConfig:
    """The AioConfig of the store's own client: timeouts in seconds per attempt, standard retries with backoff up
    to ``max_attempts`` attempts in all, a pool of ``max_pool_connections``, a fixed User-Agent (botocore otherwise
    rebuilds its structured one twice per request; ``AWS_SDK_UA_APP_ID`` is then not reported), and no client-side
    parameter validation (the requests are built here from strings and integers; what the client would have
    caught, DynamoDB refuses with a ValidationException instead). Signing, retries and timeouts are untouched.
    """
    from aiobotocore.config import AioConfig

    return AioConfig(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        max_pool_connections=max_pool_connections,
        user_agent=user_agent(),
        parameter_validation=False,
    )


@functools.lru_cache(maxsize=1)
def shared_session() -> AioSession:
    """The process's one aiobotocore session, for every client this package creates.

    A new session re-reads the DynamoDB service model from disk, so clients are made from this warm one.
    """
    from aiobotocore.session import get_session

    return get_session()


class AiobotocoreTransport:
    """Sends requests through an aiobotocore DynamoDB client (its signing, retries and timeouts).

    :param client: the client; closed by :meth:`close` only when ``close`` is given.
    :param endpoint_url: the endpoint the user configured, for error messages.
    :param close: what closes the client, when the transport owns it.
    """

    binary_as_bytes = True

    __slots__ = ("_close", "_methods", "client", "endpoint")

    def __init__(self, client: DynamoDBClient, *, endpoint_url: str | None, close: Any = None) -> None:
        self.client = client
        self.endpoint = endpoint_url
        self._close = close
        self._methods: dict[str, Any] = {}

    async def send(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Call the client's method for ``operation`` (``GetItem``: ``get_item``) with ``payload``."""
        method = self._methods.get(operation)
        if method is None:
            method = self._methods[operation] = getattr(self.client, xform_name(operation))
        try:
            answer: dict[str, Any] = await method(**payload)
        except Exception as exc:
            translated = translate(exc)
            if translated is exc:
                raise
            raise translated from exc
        return answer

    async def close(self) -> None:
        """Close the client if this transport created it."""
        if self._close is not None:
            close, self._close = self._close, None
            await close()


async def open_client_transport(
    options: ClientOptions,
    *,
    endpoint_url: str | None,
    region_name: str | None,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
) -> AiobotocoreTransport:
    """A transport with its own client (see :func:`client_config`), closed by :meth:`AiobotocoreTransport.close`."""
    config = client_config(
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        max_attempts=options.max_attempts,
        max_pool_connections=options.max_pool_connections,
    )
    stack = AsyncExitStack()
    try:
        client = await stack.enter_async_context(
            shared_session().create_client(
                "dynamodb",
                config=config,
                endpoint_url=endpoint_url,
                region_name=region_name,
                aws_access_key_id=aws_access_key_id,
                aws_secret_access_key=aws_secret_access_key,
            )
        )
    except Exception as exc:
        await stack.aclose()
        translated = translate(exc)
        if isinstance(translated, ConfigurationError):
            raise translated from exc
        raise ConfigurationError(
            f"the DynamoDB client could not be created for {endpoint_url or 'AWS'}: {type(exc).__name__}: {exc}"
        ) from exc
    return AiobotocoreTransport(client, endpoint_url=endpoint_url, close=stack.aclose)
