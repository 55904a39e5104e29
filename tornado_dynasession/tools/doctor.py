"""``doctor``: a read-only checklist of a session table's health, each line ok or a fix naming cause and command.

The checks, in order: the server answers, the table exists, is ACTIVE, has the session key schema (these four gate
the rest: when one fails, the others are skipped), TTL on ``Expires``, billing mode, a sample of items, and the
per-user index when one is named. Nothing is written: the TTL API probe (see :func:`_has_ttl_api`) names a table
that cannot exist. With a ``layout`` (a table shared with an express-session store), the key, the TTL attribute and
the items are checked by that layout's names. The items are judged by the store's own rules
(:mod:`tornado_dynasession.items`), so an item the store reads is never called broken.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from ..backends import AttributeNames
from ..backends.aiobotocore import map_client_error
from ..backends.wire import item_from_wire
from ..errors import ConfigurationError
from ..items import ItemFault, item_fault
from ..layouts import LAYOUTS, Layout
from ..store import endpoint_from_env
from .cli_errors import FAILURE, report
from .tables import is_unknown_operation, open_admin_client

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = ["Check", "diagnose", "summary"]

_DEFAULTS = AttributeNames()
_CLI = "python -m tornado_dynasession"
# Spaces are not allowed in table names, so the probe can never reach (let alone change) a real table.
_PROBE_TABLE = "tornado_dynasession doctor probe"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checklist: ``ok``, ``info`` (worth knowing, nothing to do) or ``fix`` (cause and fix)."""

    name: str
    status: Literal["ok", "info", "fix"]
    detail: str

    def line(self) -> str:
        """The line as the command prints it: the status in a column of six, then the detail."""
        return f"{self.status:<6}{self.detail}"


def summary(checks: list[Check]) -> str:
    """The last line of the report: how many checks need a fix."""
    counts = {status: sum(check.status == status for check in checks) for status in ("ok", "info", "fix")}
    tally = f"{counts['ok']} ok, {counts['info']} info"
    return f"{counts['fix']} to fix ({tally})" if counts["fix"] else f"healthy ({tally})"


@dataclass(frozen=True, slots=True)
class _Target:
    """What is diagnosed, and how the user named it (for the commands the fixes print)."""

    table: str
    hash_key: str
    user_index: str | None
    endpoint_url: str | None  # as passed; None means $DYNAMODB_ENDPOINT or AWS
    region_name: str | None
    where: str | None  # the endpoint actually used
    layout: Layout | None = None

    def create_table_command(self, *, with_index: bool = True) -> str:
        if self.layout is not None:
            options = f" --layout {self.layout.name}"
        else:
            options = f" --hash-key {self.hash_key}" if self.hash_key != _DEFAULTS.hash_key else ""
        if with_index and self.user_index:
            options += f" --user-index {self.user_index}"
        return f"{_CLI} create-table --table {self.table}{options}{self.connection_options(self.endpoint_url)}"

    def connection_options(self, endpoint_url: str | None) -> str:
        endpoint = f" --endpoint-url {endpoint_url}" if endpoint_url else ""
        return endpoint + (f" --region {self.region_name}" if self.region_name else "")

    def failure(self, name: str, exc: BaseException, operation: str) -> Check:
        """A failed call as a fix line, worded as the command line reports it (an unreachable loopback server
        comes with the command that starts one); no credentials or no region is raised instead."""
        mapped = map_client_error(
            exc, operation=operation, table=self.table, hash_key=self.hash_key, endpoint=self.where
        )
        if isinstance(mapped, ConfigurationError):
            raise mapped from exc
        line, _ = report(mapped, endpoint_url=self.where) or (str(mapped), FAILURE)
        return Check(name, "fix", line)


async def diagnose(
    table: str,
    *,
    hash_key: str = _DEFAULTS.hash_key,
    user_index: str | None = None,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    expires_attribute: str = _DEFAULTS.expires,
    session_attribute: str = _DEFAULTS.session,
    user_attribute: str = _DEFAULTS.user,
    sample_size: int = 25,
    layout: Layout | str | None = None,
) -> list[Check]:
    """Check ``table`` and return the checklist, in order; read-only.

    ``endpoint_url`` defaults to ``$DYNAMODB_ENDPOINT``, then AWS. ``sample_size`` is the ``Limit`` of the one
    Scan that samples items. ``layout`` (``"connect-dynamodb"``, ``"express-dynamodb"`` or a
    :class:`~tornado_dynasession.layouts.Layout`), as given to the store, sets ``hash_key``, ``expires_attribute``
    and ``session_attribute``. Raises :class:`~tornado_dynasession.errors.ConfigurationError` for a missing region
    or missing credentials; every other failure is a ``fix`` line.
    """
    layout = resolve_layout(layout)
    if layout is not None:
        hash_key, expires_attribute, session_attribute = layout.hash_key, layout.expires, layout.session
    where = endpoint_url or endpoint_from_env()
    target = _Target(table, hash_key, user_index, endpoint_url, region_name, where, layout)
    async with AsyncExitStack() as stack:
        try:
            client = await open_admin_client(stack, where, region_name)
        except Exception as exc:
            raise map_client_error(exc, operation="connect", table=table, hash_key=hash_key, endpoint=where) from exc
        answered = Check("server", "ok", f"DynamoDB answers at {client.meta.endpoint_url}")
        try:
            description = (await client.describe_table(TableName=table))["Table"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                missing = Check(
                    "table",
                    "fix",
                    f"table {table!r} does not exist: create it with {target.create_table_command()}",
                )
                return [answered, missing, _skipped("there is no table to check")]
            return [answered, target.failure("table", exc, "DescribeTable"), _skipped("DescribeTable failed")]
        except Exception as exc:
            return [target.failure("server", exc, "DescribeTable"), _skipped("no server answered")]

        checks = [answered, Check("table", "ok", f"table {table!r} exists")]
        for gate in (_status(description), _key_schema(description, target)):
            checks.append(gate)
            if gate.status == "fix":
                return [*checks, _skipped(f"table {table!r} is not usable as a session table yet")]
        checks.append(await _ttl(client, target, expires_attribute))
        checks.append(_billing(description))
        names = AttributeNames(hash_key=hash_key, expires=expires_attribute, session=session_attribute)
        checks.extend(await _sample(client, target, names, sample_size))
        if user_index is not None:
            checks.append(_user_index(description, target, user_attribute, expires_attribute))
        return checks


def resolve_layout(layout: Layout | str | None) -> Layout | None:
    """A layout given by name (one of :data:`~tornado_dynasession.layouts.LAYOUTS`) as its :class:`Layout`."""
    if isinstance(layout, str):
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(map(repr, LAYOUTS))} or a Layout, got {layout!r}")
        return LAYOUTS[layout]
    return layout


def _skipped(reason: str) -> Check:
    return Check("skipped", "info", f"the other checks were skipped: {reason}")


def _status(description: Mapping[str, Any]) -> Check:
    status = description.get("TableStatus", "unknown")
    table = description.get("TableName")
    if status == "ACTIVE":
        return Check("status", "ok", f"table {table!r} is ACTIVE")
    if status == "UPDATING":  # an UPDATING table serves reads and writes
        return Check("status", "info", f"table {table!r} is UPDATING (it serves sessions meanwhile)")
    return Check(
        "status",
        "fix",
        f"table {table!r} is {status}, not ACTIVE: sessions cannot be served; "
        "wait until it is ACTIVE and run doctor again",
    )


def _describe_keys(keys: list[Any], description: Mapping[str, Any]) -> str:
    """A key schema as ``HASH 'id' (S), RANGE 'at' (N)``, with the types from the table's definitions."""
    types = {d["AttributeName"]: d["AttributeType"] for d in description.get("AttributeDefinitions", [])}
    return ", ".join(f"{k['KeyType']} {k['AttributeName']!r} ({types.get(k['AttributeName'], '?')})" for k in keys)


def _is_single_hash_key(keys: list[Any], description: Mapping[str, Any], name: str) -> bool:
    return _describe_keys(keys, description) == f"HASH {name!r} (S)"


def _key_schema(description: Mapping[str, Any], target: _Target) -> Check:
    keys = description.get("KeySchema", [])
    if _is_single_hash_key(keys, description, target.hash_key):
        return Check("key", "ok", f"key: a single hash key {target.hash_key!r} of type S")
    has = _describe_keys(keys, description)
    other = keys[0]["AttributeName"] if len(keys) == 1 else None
    presets = [layout.name for layout in LAYOUTS.values() if layout.hash_key == other and layout != target.layout]
    if other is not None and _is_single_hash_key(keys, description, other) and presets:
        fix = (
            f"if {presets[0]} (Node) writes this table, pass --layout {presets[0]} (and layout={presets[0]!r} to "
            f"DynamoDBStore); else pass --hash-key {other} (and hash_key={other!r} to DynamoDBStore)"
        )
    elif other is not None and _is_single_hash_key(keys, description, other):
        fix = f"pass --hash-key {other} (and hash_key={other!r} to DynamoDBStore)"
    else:
        fix = f"use another table ({_CLI} create-table --table NEW_NAME creates one)"
    return Check(
        "key", "fix", f"table {target.table!r} has key {has}, not a single hash key {target.hash_key!r} (S): {fix}"
    )


async def _has_ttl_api(client: DynamoDBClient) -> bool:
    """Whether the server implements UpdateTimeToLive, asked of a table that cannot exist: any answer but an
    unknown operation (not found, invalid name, access denied) means it does. dynalite answers DISABLED to
    DescribeTimeToLive, so that call alone cannot tell."""
    try:
        await client.update_time_to_live(
            TableName=_PROBE_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "Expires"}
        )
    except ClientError as exc:
        return not is_unknown_operation(exc)
    return True


async def _ttl(client: DynamoDBClient, target: _Target, attribute: str) -> Check:
    try:
        spec = (await client.describe_time_to_live(TableName=target.table)).get("TimeToLiveDescription", {})
        status, on = spec.get("TimeToLiveStatus", "DISABLED"), spec.get("AttributeName")
        if status == "DISABLED" and not await _has_ttl_api(client):
            return Check("ttl", "info", "this server has no TTL API (fine for local development; on AWS enable TTL)")
    except Exception as exc:
        return target.failure("ttl", exc, "DescribeTimeToLive")
    if status in ("ENABLED", "ENABLING") and on == attribute:
        return Check("ttl", "ok", f"TTL is {status} on {attribute!r}")
    aws = f"aws dynamodb update-time-to-live --table-name {target.table}{target.connection_options(target.where)}"
    why = "without it the table grows forever (expired sessions are never served, but they are kept and billed)"
    if status in ("ENABLED", "ENABLING"):
        return Check(
            "ttl",
            "fix",
            f"TTL is on {on!r}, not {attribute!r}, on {target.table!r}: {why}. A table has one TTL attribute: "
            f"{aws} --time-to-live-specification Enabled=false,AttributeName={on}, then (AWS allows one TTL change "
            f"an hour) {aws} --time-to-live-specification Enabled=true,AttributeName={attribute}",
        )
    return Check(
        "ttl",
        "fix",
        f"TTL is {status} on {target.table!r}: {why}. Enable it: {aws} --time-to-live-specification "
        f"Enabled=true,AttributeName={attribute} (or {target.create_table_command(with_index=False)}, which also "
        "enables it on an existing table)",
    )


def _billing(description: Mapping[str, Any]) -> Check:
    # DynamoDB omits BillingModeSummary on a table that has always been provisioned (dynalite too).
    mode = description.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    if mode == "PAY_PER_REQUEST":
        return Check("billing", "ok", "billing is on demand (PAY_PER_REQUEST)")
    capacity = description.get("ProvisionedThroughput", {})
    return Check(
        "billing",
        "info",
        f"billing is provisioned: {capacity.get('ReadCapacityUnits', '?')} read and "
        f"{capacity.get('WriteCapacityUnits', '?')} write units per second; traffic above them is throttled and "
        "the store answers 503 after its retries, where on-demand (PAY_PER_REQUEST) would scale by itself",
    )


def _wire_type(value: object) -> str:
    return next(iter(value), "?") if isinstance(value, dict) else "?"


_Problem = tuple[Literal["info", "fix"], str, str]
"""What is wrong with an item: status, label ("with Expires in milliseconds"), and cause and fix."""

_NEVER = "the store never serves them and TTL never deletes them: fix what writes them, then delete these items"
_UNSERVED = "the store never serves them (TTL deletes them when they expire): fix what writes them"


def _item_problem(wire: Mapping[str, Any], target: _Target, names: AttributeNames, now: float) -> _Problem | None:
    """The first problem with one item (in DynamoDB's wire form), or None when the store can serve it."""
    item = item_from_wire(wire) or {}
    fault = item_fault(item, names, now)
    if fault is not None:
        preset = next(
            (p for p in LAYOUTS.values() if p.hash_key in item and item_fault(item, _names_of(p), now) is None), None
        )
        if preset is not None and preset != target.layout:  # a live session of a Node store: never delete it
            return (
                "fix",
                f"in the {preset.name} layout (written by the Node store)",
                f"the store reads them with layout={preset.name!r}: pass that to DynamoDBStore, and --layout "
                f"{preset.name} to doctor and create-table",
            )
        label = fault.describe(names)
        if fault is ItemFault.SESSION_TYPE:
            label = f"with {names.session} of type {_wire_type(wire.get(names.session))}"
            return "fix", label, f"{_UNSERVED} ({names.session} must be S or B)"
        if fault is ItemFault.NO_SESSION:
            return "fix", label, _UNSERVED
        if fault is ItemFault.EXPIRES_IN_MILLISECONDS:
            writer = (
                "not this library, which refuses such values; most likely code using Date.now() or currentTimeMillis()"
            )
            return "fix", label, f"{_NEVER} (the writer: {writer})"
        return "fix", label, _NEVER
    layout = target.layout
    if layout is not None and layout.key_prefix and not str(item.get(names.hash_key, "")).startswith(layout.key_prefix):
        why = f"not sessions of {layout.name}, which keys each as {layout.key_prefix}<id>: the store never reads them"
        return "info", f"without the {layout.key_prefix!r} key prefix", why
    if layout is None and isinstance(item.get(names.expires), float):
        why = "written by the Node connect-dynamodb store; the store reads them, rounded down to the second"
        return "info", f"with a fractional {names.expires}", why
    return None


def _names_of(layout: Layout) -> AttributeNames:
    return layout.names


async def _sample(client: DynamoDBClient, target: _Target, names: AttributeNames, size: int) -> list[Check]:
    try:
        items = (await client.scan(TableName=target.table, Limit=size)).get("Items", [])
    except Exception as exc:
        return [target.failure("items", exc, "Scan")]
    if not items:
        return [Check("items", "ok", f"no items yet in {target.table!r}")]
    now = time.time()
    problems: dict[_Problem, list[str]] = {}
    for item in items:
        problem = _item_problem(item, target, names, now)
        if problem is not None:
            key = str(item.get(names.hash_key, {}).get("S", "?"))
            problems.setdefault(problem, []).append(key[:8] + "…")
    fine = len(items) - sum(len(keys) for keys in problems.values())
    head = f"{len(items)} item{'s' if len(items) > 1 else ''} sampled (one Scan, Limit {size}): {fine} ok"
    where = f"in the {target.layout.name} layout" if target.layout is not None else "in the session layout"
    if not problems:
        return [Check("items", "ok", f"{head}, {where}")]
    return [
        Check("items", status, f"{head}, {len(keys)} {label} ({_keys(keys)}): {advice}")
        for (status, label, advice), keys in sorted(problems.items(), key=lambda problem: problem[0][0] != "fix")
    ]


def _keys(keys: list[str]) -> str:
    shown = ", ".join(keys[:3]) + (", …" if len(keys) > 3 else "")
    return f"key {shown}" if len(keys) == 1 else f"keys {shown}"


def _user_index(description: Mapping[str, Any], target: _Target, user_attribute: str, expires: str) -> Check:
    name = target.user_index
    indexes = description.get("GlobalSecondaryIndexes", [])
    index = next((i for i in indexes if i.get("IndexName") == name), None)
    if index is None:
        others = f" (it has {', '.join(repr(i.get('IndexName')) for i in indexes)})" if indexes else ""
        create = target.create_table_command()
        return Check("index", "fix", f"table {target.table!r} has no index {name!r}{others}: create it with {create}")
    recreate = (
        f"aws dynamodb update-table --table-name {target.table}{target.connection_options(target.where)} "
        f'--global-secondary-index-updates \'[{{"Delete":{{"IndexName":"{name}"}}}}]\', '
        f"then {target.create_table_command()}"
    )
    keys = index.get("KeySchema", [])
    if not _is_single_hash_key(keys, description, user_attribute):
        has = _describe_keys(keys, description)
        return Check(
            "index",
            "fix",
            f"index {name!r} has key {has}, not a single hash key {user_attribute!r} (S): recreate it: {recreate}",
        )
    if index.get("IndexStatus") != "ACTIVE":
        return Check(
            "index", "fix", f"index {name!r} is {index.get('IndexStatus')}: wait until it is ACTIVE (backfilling)"
        )
    projection = index.get("Projection", {})
    kind, attributes = projection.get("ProjectionType", "?"), projection.get("NonKeyAttributes", [])
    shown = f"{kind} [{', '.join(attributes)}]" if kind == "INCLUDE" else kind
    if kind == "ALL" or expires in attributes:
        return Check(
            "index",
            "fix",
            f"index {name!r} projects {shown}, which includes {expires!r}: every touch would then write the index "
            f"too, doubling the write cost. Recreate it (with KEYS_ONLY or INCLUDE [Created, Label]): {recreate}",
        )
    return Check("index", "ok", f"index {name!r} is ACTIVE, keyed on {user_attribute!r} (S), projects {shown}")
