"""The physical floor: prebuilt DynamoDB JSON requests POSTed over one keep-alive aiohttp session.

No signature is computed: the Authorization header is a fixed dummy, which only an emulator on loopback accepts,
so this variant refuses any other endpoint. Responses are still read, checked and (for ``get``) parsed and the
session decoded, as every other variant does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Sequence

import aiohttp
import orjson

from .base import BenchContext, BenchError, BenchSession, MissingSessionError, Variant, register

__all__ = ["RawHttp"]

_DUMMY_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64
)


def _headers(operation: str) -> dict[str, str]:
    return {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"DynamoDB_20120810.{operation}",
        "X-Amz-Date": "20260101T000000Z",
        "Authorization": _DUMMY_AUTHORIZATION,
    }


@register
class RawHttp(Variant):
    """Prebuilt GetItem / PutItem / UpdateItem / DeleteItem bodies over aiohttp, unsigned."""

    name = "raw-http"
    order = 40
    summary = "prebuilt DynamoDB JSON requests over one keep-alive aiohttp session, unsigned (loopback only)"

    _GET = _headers("GetItem")
    _PUT = _headers("PutItem")
    _UPDATE = _headers("UpdateItem")
    _DELETE = _headers("DeleteItem")

    @classmethod
    def unavailable(cls, ctx: BenchContext) -> str | None:
        """Refuses any endpoint off loopback: it sends no real signature."""
        if not ctx.loopback:
            return (
                f"refused: {ctx.endpoint_url} is not a loopback address, and raw-http sends no real signature "
                "(it is meant for local emulators only)"
            )
        return None

    async def open(self) -> None:
        """One ClientSession with a keep-alive pool as large as the store's and the store's timeouts."""
        store = self.ctx.template_store()
        self._url = self.ctx.endpoint_url
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=store.options.max_pool_connections),
            timeout=aiohttp.ClientTimeout(
                sock_connect=store.options.connect_timeout, sock_read=store.options.read_timeout
            ),
        )
        self._bodies: dict[str, dict[str, bytes]] = {op: {} for op in ("get", "set", "touch", "destroy")}

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._http.close()

    def prepare(self, sessions: Sequence[BenchSession], ops: Collection[str]) -> None:
        """Build the request bodies of ``ops`` for every session (expiry fixed now, ``ctx.max_age`` ahead)."""
        table, hash_key = self.ctx.table, self.ctx.hash_key
        now = time.time()
        expires = str(math.ceil(now + self.ctx.max_age))
        for session in sessions:
            key = {hash_key: {"S": session.key}}
            if "get" in ops:
                self._bodies["get"][session.key] = orjson.dumps(
                    {"TableName": table, "Key": key, "ConsistentRead": True}
                )
            if "set" in ops:
                item = {**key, "Expires": {"N": expires}, "Session": {"S": session.encoded}}
                self._bodies["set"][session.key] = orjson.dumps({"TableName": table, "Item": item})
            if "touch" in ops:
                self._bodies["touch"][session.key] = orjson.dumps(
                    {
                        "TableName": table,
                        "Key": key,
                        "UpdateExpression": "SET #e = :exp",
                        "ConditionExpression": "#e > :now",
                        "ExpressionAttributeNames": {"#e": "Expires"},
                        "ExpressionAttributeValues": {":exp": {"N": expires}, ":now": {"N": str(int(now))}},
                    }
                )
            if "destroy" in ops:
                self._bodies["destroy"][session.key] = orjson.dumps({"TableName": table, "Key": key})

    async def _post(self, headers: dict[str, str], body: bytes) -> bytes:
        async with self._http.post(self._url, data=body, headers=headers) as response:
            payload = await response.read()
            if response.status != 200:
                if b"ConditionalCheckFailed" in payload:
                    raise MissingSessionError(f"{self.name}: {headers['X-Amz-Target']}: condition failed")
                raise BenchError(f"{self.name}: HTTP {response.status}: {payload[:200]!r}")
            return payload

    async def get(self, session: BenchSession) -> None:
        """POST the prebuilt GetItem, parse the response, decode the session."""
        response = orjson.loads(await self._post(self._GET, self._bodies["get"][session.key]))
        item = response.get("Item")
        if item is None:
            raise MissingSessionError(f"{self.name}: session {session.key} is not in the table")
        orjson.loads(item["Session"]["S"])

    async def set(self, session: BenchSession) -> None:
        """POST the prebuilt PutItem."""
        await self._post(self._PUT, self._bodies["set"][session.key])

    async def touch(self, session: BenchSession) -> None:
        """POST the prebuilt conditional UpdateItem."""
        await self._post(self._UPDATE, self._bodies["touch"][session.key])

    async def destroy(self, session: BenchSession) -> None:
        """POST the prebuilt DeleteItem."""
        await self._post(self._DELETE, self._bodies["destroy"][session.key])
