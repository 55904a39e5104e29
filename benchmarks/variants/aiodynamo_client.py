"""aiodynamo's client (its own signing and JSON, over aiohttp or httpx), making the store's calls."""

from __future__ import annotations

import importlib.util
import math
import os
import time
from typing import Any

import orjson

from .base import BenchContext, BenchSession, MissingSessionError, Variant, register

__all__ = ["Aiodynamo"]


@register
class Aiodynamo(Variant):
    """GetItem / PutItem / conditional UpdateItem / DeleteItem through ``aiodynamo.client.Client``."""

    name = "aiodynamo"
    order = 50
    summary = "aiodynamo's Client (its HTTP adapter chosen by --aiodynamo-http), the same four calls"

    @classmethod
    def unavailable(cls, ctx: BenchContext) -> str | None:
        """Needs aiodynamo (and httpx for its httpx adapter), and a region."""
        needed = ["aiodynamo", "httpx" if ctx.aiodynamo_http == "httpx" else "aiohttp"]
        missing = [name for name in needed if importlib.util.find_spec(name) is None]
        if missing:
            return f"not installed: {', '.join(missing)} (pip install aiodynamo httpx)"
        if ctx.resolved_region() is None:
            return "aiodynamo needs a region: pass --region or set AWS_DEFAULT_REGION"
        return None

    async def open(self) -> None:
        """A Client with static dummy credentials on loopback (else the default chain), the store's pool size and
        timeouts, and integers for numbers."""
        from aiodynamo.client import Client
        from aiodynamo.credentials import Credentials, Key, StaticCredentials
        from yarl import URL

        store = self.ctx.template_store()
        self._closers: list[Any] = []
        http: Any
        if self.ctx.aiodynamo_http == "httpx":
            import httpx
            from aiodynamo.http.httpx import HTTPX

            pool = store.options.max_pool_connections
            client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
                timeout=httpx.Timeout(store.options.read_timeout, connect=store.options.connect_timeout),
            )
            self._closers.append(client.aclose)
            http = HTTPX(client)
        else:
            import aiohttp
            from aiodynamo.http.aiohttp import AIOHTTP

            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=store.options.max_pool_connections),
                timeout=aiohttp.ClientTimeout(
                    sock_connect=store.options.connect_timeout, sock_read=store.options.read_timeout
                ),
            )
            self._closers.append(session.close)
            http = AIOHTTP(session)
        credentials: Any
        if self.ctx.loopback and not os.environ.get("AWS_ACCESS_KEY_ID"):
            credentials = StaticCredentials(Key("local", "local"))
        else:
            credentials = Credentials.auto()
        self.client = Client(
            http, credentials, self.ctx.resolved_region() or "us-east-1", URL(self.ctx.endpoint_url), numeric_type=int
        )
        self._table = self.ctx.table
        self._hash_key = self.ctx.hash_key

    async def close(self) -> None:
        """Close the HTTP client."""
        for close in self._closers:
            await close()

    async def get(self, session: BenchSession) -> None:
        """Consistent GetItem, then decode the session."""
        from aiodynamo.errors import ItemNotFound

        try:
            item = await self.client.get_item(self._table, {self._hash_key: session.key}, consistent_read=True)
        except ItemNotFound as exc:
            raise MissingSessionError(f"{self.name}: session {session.key} is not in the table") from exc
        orjson.loads(item["Session"])

    async def set(self, session: BenchSession) -> None:
        """Encode the session, then an unconditional PutItem."""
        await self.client.put_item(
            self._table,
            {
                self._hash_key: session.key,
                "Expires": math.ceil(time.time() + self.ctx.max_age),
                "Session": orjson.dumps(session.data).decode(),
            },
        )

    async def touch(self, session: BenchSession) -> None:
        """UpdateItem ``SET Expires`` on condition ``Expires > now``."""
        from aiodynamo.errors import ConditionalCheckFailed
        from aiodynamo.expressions import F

        now = time.time()
        try:
            await self.client.update_item(
                self._table,
                {self._hash_key: session.key},
                F("Expires").set(math.ceil(now + self.ctx.max_age)),
                condition=F("Expires").gt(int(now)),
            )
        except ConditionalCheckFailed as exc:
            raise MissingSessionError(f"{self.name}: session {session.key} was not live") from exc

    async def destroy(self, session: BenchSession) -> None:
        """DeleteItem."""
        await self.client.delete_item(self._table, {self._hash_key: session.key})
