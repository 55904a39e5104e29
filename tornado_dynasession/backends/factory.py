"""Choosing and opening a transport: by name for the store's own client, or around a client the caller owns."""

from __future__ import annotations

import os
import sys
from typing import Any, Literal, TypeGuard

from ..errors import ConfigurationError
from . import ClientOptions
from .transport import Transport

__all__ = [
    "TRANSPORT_NAMES",
    "TransportName",
    "client_kwargs",
    "is_aiodynamo_client",
    "is_loopback",
    "open_transport",
    "require",
    "transport_for_client",
    "transport_name",
]

TransportName = Literal["aiobotocore", "aiodynamo", "aiohttp"]

TRANSPORT_NAMES: tuple[TransportName, ...] = ("aiobotocore", "aiodynamo", "aiohttp")
"""The clients ``DynamoDBStore(backend=...)`` accepts by name."""


def is_loopback(endpoint_url: str | None) -> bool:
    if not endpoint_url:
        return False
    host = endpoint_url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def client_kwargs(endpoint_url: str | None, region_name: str | None) -> dict[str, Any]:
    """``create_client`` arguments: on a loopback endpoint, a default region and, without AWS credentials in the
    environment, dummy ones (local servers check none)."""
    kwargs: dict[str, Any] = {"endpoint_url": endpoint_url, "region_name": region_name}
    if is_loopback(endpoint_url):
        kwargs["region_name"] = (
            region_name or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
        )
        if not os.environ.get("AWS_ACCESS_KEY_ID") and not os.environ.get("AWS_PROFILE"):
            kwargs.update(aws_access_key_id="local", aws_secret_access_key="local")
    return kwargs


def require(name: str) -> None:
    """Check that a transport's optional dependency is installed: a :class:`ConfigurationError` naming the extra."""
    if name != "aiodynamo":
        return
    try:
        from . import aiodynamo  # noqa: F401
    except ImportError as exc:
        install = 'pip install "tornado_dynasession[aiodynamo]"'
        raise ConfigurationError(f'backend="aiodynamo" needs the aiodynamo package: {install} ({exc})') from exc


def is_aiodynamo_client(client: object) -> TypeGuard[Any]:
    """Whether ``client`` is an aiodynamo ``Client`` (without importing aiodynamo for anyone who has not)."""
    module = sys.modules.get("aiodynamo.client")
    return module is not None and isinstance(client, module.Client)


def transport_name(name: str | None, client: object | None) -> TransportName:
    """The transport a store speaks through: ``name`` (``backend=``), checked against ``client`` and installed
    packages; else the kind of ``client``; else aiobotocore."""
    if name is None:
        return "aiodynamo" if client is not None and is_aiodynamo_client(client) else "aiobotocore"
    if name not in TRANSPORT_NAMES:
        raise ValueError(f"backend must be one of {', '.join(map(repr, TRANSPORT_NAMES))}, got {name!r}")
    if client is not None and (name == "aiodynamo") != is_aiodynamo_client(client):
        raise ValueError(f"backend={name!r} does not match the client passed: {type(client).__name__}")
    if client is not None and name == "aiohttp":
        raise ValueError('backend="aiohttp" creates its own HTTP session: pass no client=')
    require(name)
    return name


def transport_for_client(client: Any, endpoint_url: str | None) -> Transport:
    """A transport around a caller-owned client (aiobotocore or aiodynamo), which it never closes."""
    if is_aiodynamo_client(client):
        from .aiodynamo import AiodynamoTransport

        return AiodynamoTransport(client, endpoint_url=endpoint_url)
    from .aiobotocore import AiobotocoreTransport

    return AiobotocoreTransport(client, endpoint_url=endpoint_url)


async def open_transport(name: TransportName, options: ClientOptions, *, endpoint_url: str | None) -> Transport:
    """The store's own transport, with its own client, as ``options`` say (timeouts in seconds per attempt)."""
    where = client_kwargs(endpoint_url, options.region_name)
    if name == "aiodynamo":
        from .aiodynamo import create_transport

        return create_transport(options, **where)
    if name == "aiohttp":
        from .aiohttp import open_transport as open_aiohttp

        return await open_aiohttp(options, **where)
    from .aiobotocore import open_client_transport

    return await open_client_transport(options, **where)
