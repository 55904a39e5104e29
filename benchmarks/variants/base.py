"""What every variant is: :class:`Variant`, the shared :class:`BenchContext`, and the registry of variant classes.

A variant is one way of making the four session calls against the benchmark table. To add one (say
``store-aiodynamo``), write a :class:`Variant` subclass with a unique ``name`` in a module of this package, decorate
it with :func:`register`, and import the module in ``variants/__init__.py``. The runner picks it up, measures it in
the same rounds as the others, and lists it in every output; ``--variants`` selects a subset.
"""

from __future__ import annotations

import abc
import ipaddress
import os
import urllib.parse
from collections.abc import Collection, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from tornado_dynasession import DynamoDBStore
from tornado_dynasession.backends import AttributeNames, ClientOptions
from tornado_dynasession.backends.factory import client_kwargs

if TYPE_CHECKING:
    from aiobotocore.config import AioConfig
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = [
    "REGISTRY",
    "BenchContext",
    "BenchError",
    "BenchSession",
    "MissingSessionError",
    "Variant",
    "default_aioconfig",
    "is_loopback",
    "open_aiobotocore_client",
    "ordered",
    "register",
    "store_aioconfig",
]


class BenchError(RuntimeError):
    """A variant did something other than what the benchmark expects (an error status, a missing item)."""


class MissingSessionError(BenchError):
    """A session that the benchmark seeded was not there: the measurement would be of the wrong thing."""


@dataclass(frozen=True, slots=True)
class BenchSession:
    """One session as every variant sees it.

    :param sid: the session id, what a store is given.
    :param key: the hash key value stored for it (the store's ``key_for(sid)``), what raw clients are given.
    :param data: the session dict.
    :param encoded: ``data`` as compact JSON, as the store writes it in the ``Session`` attribute.
    """

    sid: str
    key: str
    data: dict[str, Any]
    encoded: str


@dataclass(frozen=True, slots=True)
class BenchContext:
    """Where and how the variants talk to DynamoDB.

    :param endpoint_url: the DynamoDB endpoint (the embedded dynalite, or ``--endpoint``).
    :param region_name: the AWS region, or None to leave it to the AWS configuration.
    :param table: the benchmark table; hash key ``hash_key`` (S), attributes ``Expires`` (N) and ``Session`` (S).
    :param loopback: the endpoint is on 127.0.0.0/8 or ::1 (an emulator that checks no signature).
    :param max_age: seconds from now that written and touched sessions expire; long enough to outlast the run.
    :param aiodynamo_http: aiodynamo's HTTP adapter, ``"aiohttp"`` or ``"httpx"``.
    """

    endpoint_url: str
    region_name: str | None
    table: str
    hash_key: str = "SessionID"
    loopback: bool = True
    max_age: float = 3600.0
    aiodynamo_http: str = "aiohttp"

    def template_store(self, **overrides: Any) -> DynamoDBStore:
        """A store configured for this context, not yet opened (it opens on first use)."""
        kwargs: dict[str, Any] = {
            "names": AttributeNames(hash_key=self.hash_key),
            "endpoint_url": self.endpoint_url,
            "options": ClientOptions(region_name=self.region_name),
            "max_age": self.max_age,
        }
        kwargs.update(overrides)
        return DynamoDBStore(self.table, **kwargs)

    def resolved_region(self) -> str | None:
        """The region clients without an AWS config loader of their own (aiodynamo) should use."""
        if self.region_name:
            return self.region_name
        env = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
        if env:
            return env
        resolved = client_kwargs(self.endpoint_url, None).get("region_name")
        return str(resolved) if resolved else None


def is_loopback(endpoint_url: str) -> bool:
    """Whether the endpoint's host is on loopback (127.0.0.0/8, ::1 or localhost)."""
    host = urllib.parse.urlsplit(endpoint_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def store_aioconfig(ctx: BenchContext) -> AioConfig:
    """The AioConfig :meth:`DynamoDBStore.open` builds, from the store's own defaults (timeouts, standard retries,
    pool size, and the CPU tuning of :func:`tornado_dynasession.backends.aiobotocore.client_config`), so that raw
    clients are configured exactly like the store's."""
    from tornado_dynasession.backends.aiobotocore import client_config

    store = ctx.template_store()
    return client_config(
        connect_timeout=store.options.connect_timeout,
        read_timeout=store.options.read_timeout,
        max_attempts=store.options.max_attempts,
        max_pool_connections=store.options.max_pool_connections,
    )


def default_aioconfig(ctx: BenchContext) -> AioConfig:
    """The store's timeouts, standard retries and pool size and nothing else: an aiobotocore client as a user
    would configure it, and as the store's own was before its CPU tuning."""
    from aiobotocore.config import AioConfig

    store = ctx.template_store()
    return AioConfig(
        connect_timeout=store.options.connect_timeout,
        read_timeout=store.options.read_timeout,
        retries={"mode": "standard", "total_max_attempts": store.options.max_attempts},
        max_pool_connections=store.options.max_pool_connections,
    )


async def open_aiobotocore_client(
    ctx: BenchContext, stack: AsyncExitStack, config: AioConfig | None = None
) -> DynamoDBClient:
    """An aiobotocore DynamoDB client closed with ``stack``, configured as the store's own (see
    :func:`store_aioconfig`) unless ``config`` is given."""
    from aiobotocore.session import get_session

    client: DynamoDBClient = await stack.enter_async_context(
        get_session().create_client(
            "dynamodb",
            config=config if config is not None else store_aioconfig(ctx),
            **client_kwargs(ctx.endpoint_url, ctx.region_name),
        )
    )
    return client


class Variant(abc.ABC):
    """One way of making the session calls. Subclasses set ``name`` and ``summary`` and implement the four calls.

    Lifecycle: :meth:`unavailable` (may it run here?), then :meth:`open`, :meth:`prepare` once per payload with the
    sessions it will be given (unmeasured), the measured calls, and :meth:`close`. Each call is one DynamoDB request
    for the session given; ``get`` and ``touch`` raise :class:`MissingSessionError` when the session is not there.
    """

    name: ClassVar[str]
    """The variant's name in the outputs and in ``--variants``."""
    summary: ClassVar[str]
    """One line for the report: what the variant is and what each call does."""
    order: ClassVar[int] = 100
    """Where the variant appears in the outputs, lowest first (the built-in ones use 10 to 60)."""
    writes_own_pool: ClassVar[bool] = False
    """The sessions that ``get`` and ``touch`` use are written with the variant's own ``set`` rather than seeded as
    plain JSON, for a variant whose stored form differs (a compressing codec), so that ``get`` reads that form."""
    reports_item_bytes: ClassVar[bool] = False
    """The results record ``item_bytes``: the size of the item the variant's ``set`` stored, by DynamoDB's rules."""

    def __init__(self, ctx: BenchContext) -> None:
        self.ctx = ctx

    @classmethod
    def unavailable(cls, ctx: BenchContext) -> str | None:
        """Why this variant cannot run in ``ctx`` (a missing package, a refused endpoint), or None if it can."""
        return None

    @abc.abstractmethod
    async def open(self) -> None:
        """Create clients and connections."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release what :meth:`open` created."""

    def prepare(self, sessions: Sequence[BenchSession], ops: Collection[str]) -> None:  # noqa: B027 - optional
        """Precompute what the operations ``ops`` (names of the four calls) will need for these sessions before
        they are measured; raw-http builds its request bodies here."""

    @abc.abstractmethod
    async def get(self, session: BenchSession) -> None:
        """Read the session (one GetItem or equivalent) and decode it."""

    @abc.abstractmethod
    async def set(self, session: BenchSession) -> None:
        """Write the whole session unconditionally, expiring ``ctx.max_age`` seconds from now."""

    @abc.abstractmethod
    async def touch(self, session: BenchSession) -> None:
        """Move the session's expiry to ``ctx.max_age`` seconds from now (one UpdateItem)."""

    @abc.abstractmethod
    async def destroy(self, session: BenchSession) -> None:
        """Delete the session (one DeleteItem)."""


REGISTRY: dict[str, type[Variant]] = {}
"""Every registered variant class by name; :func:`ordered` gives them in output order."""

V = TypeVar("V", bound=type[Variant])


def register(cls: V) -> V:
    """Class decorator: add a variant to :data:`REGISTRY` under its ``name``."""
    if cls.name in REGISTRY:
        raise ValueError(f"a variant named {cls.name!r} is already registered")
    REGISTRY[cls.name] = cls
    return cls


def ordered(names: Iterable[str] | None = None) -> list[str]:
    """Variant names (all registered ones by default) in output order; unknown names raise KeyError."""
    chosen = list(REGISTRY) if names is None else list(names)
    return sorted(chosen, key=lambda name: (REGISTRY[name].order, name))
