"""Condition expressions and the user-index requests in DynamoDB's JSON request syntax, shared by every backend."""

from __future__ import annotations

import math
from typing import Any

from . import AttributeNames, Condition

__all__ = [
    "ConditionWriter",
    "batch_get_request",
    "batch_get_result",
    "number_from_wire",
    "remove_request",
    "user_query_request",
    "user_query_result",
]


def number_from_wire(text: str) -> int | float | str:
    """A DynamoDB N value: an ``int`` when integral, a finite ``float`` when fractional (``1795880521.995``), else
    the text itself, which the store rejects as corrupt."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


class ConditionWriter:
    """Writes a :class:`Condition` into a request. The expression and its attribute names depend only on the
    condition's shape (the store uses three or four), so each is built once; only the values are per call."""

    __slots__ = ("_cache", "_names")

    def __init__(self, names: AttributeNames) -> None:
        self._names = names
        self._cache: dict[tuple[bool, bool, int], tuple[str, dict[str, str]]] = {}

    def apply(self, condition: Condition, request: dict[str, Any]) -> dict[str, Any]:
        """Set ``ConditionExpression`` and ``ExpressionAttributeNames`` on ``request`` (the names dict is shared:
        copy it before adding to it); return the expression attribute values, possibly empty."""
        version = condition.version
        # The expression depends on whether there is a version, and whether it is 0 (an item without one).
        shape = (condition.absent, condition.live_after is not None, -1 if version is None else int(version != 0))
        parts = self._cache.get(shape)
        if parts is None:
            parts = self._cache[shape] = self._build(condition)
        request["ConditionExpression"], request["ExpressionAttributeNames"] = parts
        values: dict[str, Any] = {}
        if condition.live_after is not None:
            values[":now"] = {"N": repr(condition.live_after)}
        if version:
            values[":ver"] = {"N": str(version)}
        return values

    def _build(self, condition: Condition) -> tuple[str, dict[str, str]]:
        names = self._names
        parts: list[str] = []
        attr_names: dict[str, str] = {}
        if condition.absent:
            parts.append("attribute_not_exists(#k)")
            attr_names["#k"] = names.hash_key
        if condition.live_after is not None:
            parts.append("#e > :now AND attribute_exists(#s)")
            attr_names["#e"] = names.expires
            attr_names["#s"] = names.session
        if condition.version is not None:
            attr_names["#v"] = names.version
            # version 0 is an item written without the attribute
            parts.append("attribute_not_exists(#v)" if condition.version == 0 else "#v = :ver")
        return " AND ".join(parts), attr_names

    def apply_refresh(self, request: dict[str, Any], expires_at: int, *, now: float, latest: int) -> None:
        """Write into an UpdateItem ``request`` the refresh of a session: ``SET Expires = expires_at`` on a live,
        well-formed session (``now < Expires <= latest``, a ``Session`` of type S or B), answered with the item
        as it was before (``ALL_OLD``), also when the condition fails (where the server supports it).

        A superseded id's tombstone passes the condition but keeps its own expiry (``if_not_exists``), so the
        one call also tells a superseded id from a missing one.
        """
        names = self._names
        request["UpdateExpression"] = "SET #e = if_not_exists(#t, :exp)"
        request["ConditionExpression"] = (
            "#e > :now AND #e <= :latest AND (attribute_type(#s, :S) OR attribute_type(#s, :B) OR attribute_exists(#t))"
        )
        request["ExpressionAttributeNames"] = {"#e": names.expires, "#s": names.session, "#t": names.superseded}
        request["ExpressionAttributeValues"] = {
            ":exp": {"N": str(expires_at)},
            ":now": {"N": repr(now)},
            ":latest": {"N": str(latest)},
            ":S": {"S": "S"},
            ":B": {"S": "B"},
        }
        request["ReturnValues"] = "ALL_OLD"
        request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"

    def apply_touch(self, condition: Condition, request: dict[str, Any], expires_at: int) -> None:
        """Write ``condition`` and ``SET Expires = expires_at`` into an UpdateItem ``request``."""
        values = self.apply(condition, request)
        if "#e" not in request["ExpressionAttributeNames"]:
            request["ExpressionAttributeNames"] = {**request["ExpressionAttributeNames"], "#e": self._names.expires}
        request["UpdateExpression"] = "SET #e = :exp"
        values[":exp"] = {"N": str(expires_at)}
        request["ExpressionAttributeValues"] = values


def remove_request(
    table: str, names: AttributeNames, key: str, user_key: str | None, replacement: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A DeleteItem that returns the old item, or with ``replacement`` (an item in wire format, under ``key``) a
    PutItem of it that does; conditional on the old item's user attribute when ``user_key`` is given, and on an
    old item existing at all for a replacement (nothing is created under a key that holds nothing)."""
    request: dict[str, Any] = {"TableName": table, "ReturnValues": "ALL_OLD"}
    if replacement is None:
        request["Key"] = {names.hash_key: {"S": key}}
    else:
        request["Item"] = replacement
        if user_key is None:
            request["ConditionExpression"] = "attribute_exists(#k)"
            request["ExpressionAttributeNames"] = {"#k": names.hash_key}
    if user_key is not None:
        request["ConditionExpression"] = "#u = :u"
        request["ExpressionAttributeNames"] = {"#u": names.user}
        request["ExpressionAttributeValues"] = {":u": {"S": user_key}}
    return request


def user_query_request(
    table: str, index: str, names: AttributeNames, user_key: str, start: dict[str, Any] | None
) -> dict[str, Any]:
    """One page of a Query on the user index for ``user_key``: the hash keys only."""
    request: dict[str, Any] = {
        "TableName": table,
        "IndexName": index,
        "KeyConditionExpression": "#u = :u",
        "ProjectionExpression": "#k",
        "ExpressionAttributeNames": {"#u": names.user, "#k": names.hash_key},
        "ExpressionAttributeValues": {":u": {"S": user_key}},
    }
    if start is not None:
        request["ExclusiveStartKey"] = start
    return request


def batch_get_request(
    table: str, names: AttributeNames, keys: list[str], attributes: tuple[str, ...], consistent_read: bool
) -> dict[str, Any]:
    """A BatchGetItem of ``keys`` (at most 100) on ``table``, only ``attributes`` of each."""
    placeholders = {f"#a{i}": name for i, name in enumerate(attributes)}
    return {
        "RequestItems": {
            table: {
                "Keys": [{names.hash_key: {"S": key}} for key in keys],
                "ProjectionExpression": ", ".join(placeholders),
                "ExpressionAttributeNames": placeholders,
                "ConsistentRead": consistent_read,
            }
        }
    }


def user_query_result(response: Any, names: AttributeNames) -> tuple[list[str], dict[str, Any] | None]:
    """The hash keys in a user-index Query answer, and where the next page starts (None after the last)."""
    keys = [str(item[names.hash_key]["S"]) for item in response.get("Items", [])]
    start: dict[str, Any] | None = response.get("LastEvaluatedKey")
    return keys, start


def batch_get_result(response: Any, table: str, names: AttributeNames) -> tuple[list[Any], list[str]]:
    """The items (in wire form) of a BatchGetItem answer, and the keys the server left unprocessed."""
    found = list(response.get("Responses", {}).get(table, []))
    pending = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
    return found, [str(key[names.hash_key]["S"]) for key in pending]
