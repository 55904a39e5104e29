"""The store itself: :class:`~tornado_dynasession.DynamoDBStore` with each codec, on its default aiobotocore client,
and on the optional aiodynamo backend.

Another store configuration is a subclass: override :meth:`StoreVariant.make_store` and
:func:`~benchmarks.variants.base.register` it.
"""

from __future__ import annotations

import importlib.util
from typing import ClassVar

from tornado_dynasession import Codec, CompressedCodec, DynamoDBStore, JsonCodec, OrjsonCodec

from .base import BenchContext, BenchSession, MissingSessionError, Variant, register

__all__ = ["StoreAiodynamo", "StoreAiohttp", "StoreJson", "StoreOrjson", "StoreOrjsonCompressed", "StoreVariant"]


class StoreVariant(Variant):
    """The store's public API: ``get``, ``set``, ``touch``, ``destroy``, one DynamoDB call each."""

    codec_class: ClassVar[type[Codec]] = OrjsonCodec

    def make_store(self) -> DynamoDBStore:
        """The store to measure, configured from the context (not yet opened)."""
        return self.ctx.template_store(codec=self.codec_class())

    async def open(self) -> None:
        """Open the store, which creates its own client."""
        self.store = self.make_store()
        await self.store.open()

    async def close(self) -> None:
        """Close the store and its client."""
        await self.store.close()

    async def get(self, session: BenchSession) -> None:
        """``store.get(sid)``: GetItem (consistent), expiry check, decode."""
        if await self.store.get(session.sid) is None:
            raise MissingSessionError(f"{self.name}: session {session.key} is not in the table")

    async def set(self, session: BenchSession) -> None:
        """``store.set(sid, data)``: encode, size check, unconditional PutItem."""
        await self.store.set(session.sid, session.data)

    async def touch(self, session: BenchSession) -> None:
        """``store.touch(sid)``: UpdateItem of ``Expires``, on condition that the session is live."""
        if not await self.store.touch(session.sid):
            raise MissingSessionError(f"{self.name}: session {session.key} was not live")

    async def destroy(self, session: BenchSession) -> None:
        """``store.destroy(sid)``: DeleteItem."""
        await self.store.destroy(session.sid)


@register
class StoreOrjson(StoreVariant):
    """The store with its default codec."""

    name = "store-orjson"
    order = 10
    summary = "DynamoDBStore with OrjsonCodec (the default), its own aiobotocore client"
    codec_class = OrjsonCodec
    reports_item_bytes = True


@register
class StoreAiodynamo(StoreVariant):
    """The store with its default codec on the aiodynamo backend."""

    name = "store-aiodynamo"
    order = 12
    summary = 'DynamoDBStore(backend="aiodynamo") with OrjsonCodec: the optional aiodynamo backend, its own client'

    @classmethod
    def unavailable(cls, ctx: BenchContext) -> str | None:
        """Needs the aiodynamo extra."""
        if importlib.util.find_spec("aiodynamo") is None:
            return 'not installed: pip install "tornado_dynasession[aiodynamo]"'
        return None

    def make_store(self) -> DynamoDBStore:
        """The default store, with ``backend="aiodynamo"``."""
        return self.ctx.template_store(backend="aiodynamo")


@register
class StoreAiohttp(StoreVariant):
    """The store with its default codec on the aiohttp backend, which signs its own requests."""

    name = "store-aiohttp"
    order = 11
    summary = 'DynamoDBStore(backend="aiohttp") with OrjsonCodec: its own signed requests over one aiohttp session'

    def make_store(self) -> DynamoDBStore:
        """The default store, with ``backend="aiohttp"``."""
        return self.ctx.template_store(backend="aiohttp")


@register
class StoreOrjsonCompressed(StoreVariant):
    """The store with CompressedCodec around OrjsonCodec (zlib, sessions of 1 KB and more)."""

    name = "store-orjson-compressed"
    order = 14
    summary = "DynamoDBStore with CompressedCodec(OrjsonCodec()): zlib above 1 KB, stored as binary"
    writes_own_pool = True
    reports_item_bytes = True

    def make_store(self) -> DynamoDBStore:
        """The default store with the compressing codec (its defaults: zlib, 1024-byte threshold)."""
        return self.ctx.template_store(codec=CompressedCodec(OrjsonCodec()))


@register
class StoreJson(StoreVariant):
    """The store with the standard library's json."""

    name = "store-json"
    order = 20
    summary = "DynamoDBStore with JsonCodec (the standard library's json)"
    codec_class = JsonCodec
