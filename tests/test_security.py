"""Security promises, over real HTTP against each framework adapter (``[tornado]``, ``[sanic]``), store calls counted
by the proxy in front of the real DynamoDB-compatible server.

Bad cookies are generated with hypothesis. Each example must get a fresh session, cost zero store calls and never a
5xx. The server and its one live session are shared by all examples of a test (hence the suppressed
``function_scoped_fixture`` health check); the proxy's counts are reset per example.

What the cookie strategies can send, and how:

- through aiohttp (the ``Browser``): every code point except surrogates and the control characters aiohttp refuses
  to put in a header (``\\x00``-``\\x08``, ``\\x0a``-``\\x1f``, ``\\x7f``). aiohttp writes header values as UTF-8, so
  non-ASCII text reaches the server as raw non-ASCII bytes (``obs-text``; Tornado decodes them as latin-1);
- through a raw socket (``raw_cookie_request``): any byte string without CR or LF (which would end the header line),
  control characters and every latin-1 byte included. Tornado's HTTP parser answers 400 to a header with a control
  character before the application sees it; that is accepted, as long as no store call is made.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import string
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tornado.web import create_signed_value

from tornado_dynasession import DynamoDBStore, EncryptedCodec

from .conftest import SECRET, Serve
from .support import Browser, DynamoProxy, Reply, open_raw_client, session_id_in

FRESH: dict[str, Any] = {"id": None, "new": True, "data": {}}

ROTATED_SECRETS = {2: "second-secret-" + "b" * 30, 3: "third-secret-" + "c" * 30}
"""The site's cookie secrets: version 3 signs, version 2 still verifies. Versions 0, 1 and 4+ are unknown."""
KEY_VERSION = 3

EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HEADER_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
"""Control characters no client library will put in a header value (RFC 9110 5.5)."""


def state(reply: Reply) -> dict[str, Any]:
    """The JSON the test app answers."""
    assert reply.status == 200, (reply.status, reply.body[:200])
    result: dict[str, Any] = json.loads(reply.body)
    return result


def hashed(session_id: str) -> str:
    """The unpadded base64url SHA-256 of a session id."""
    return base64.urlsafe_b64encode(hashlib.sha256(session_id.encode()).digest()).rstrip(b"=").decode()


def signed_value_v2(key_version: int, timestamp: str, name: str, value: str, signature: str) -> str:
    """Tornado's signed-value format v2, assembled field by field (so any field can be forged)."""

    def field(text: str) -> str:
        return f"{len(text)}:{text}"

    return f"2|{field(str(key_version))}|{field(timestamp)}|{field(name)}|{field(value)}|{signature}"


def parse_signed_value_v2(value: str) -> dict[str, str]:
    """The fields of a format-v2 signed value."""
    fields = {}
    rest = value[2:]
    for name in ("key_version", "timestamp", "name", "value"):
        length, _, rest = rest.partition(":")
        fields[name], rest = rest[: int(length)], rest[int(length) + 1 :]
    fields["signature"] = rest
    return fields


@dataclass
class Site:
    """The test app, signing with ``ROTATED_SECRETS``, and one live stored session with count=1."""

    browser: Browser
    proxy: DynamoProxy
    session_id: str
    cookie: str

    async def assert_fresh_session_without_store_calls(self, cookie_value: str) -> None:
        """Send ``cookie_value`` as the session cookie: a fresh session, zero store calls."""
        self.proxy.reset()
        reply = await self.browser.get("/read", cookies={"session": cookie_value})
        assert state(reply) == FRESH
        assert self.proxy.count() == 0, dict(self.proxy.calls)


@pytest.fixture
async def site(serve: Serve, proxy: DynamoProxy) -> Site:
    browser = await serve(secret=ROTATED_SECRETS, key_version=KEY_VERSION)
    assert state(await browser.get("/counter"))["data"] == {"count": 1}
    cookie = browser.cookies["session"].strip('"')
    session_id = session_id_in(ROTATED_SECRETS, cookie)
    assert session_id is not None
    # The genuine cookie does reach the stored session: a forgery of it must be what fails, not the setup.
    assert state(await browser.get("/read", cookies={"session": cookie}))["data"] == {"count": 1}
    proxy.reset()
    return Site(browser=browser, proxy=proxy, session_id=session_id, cookie=cookie)


async def raw_cookie_request(browser: Browser, cookie_value: bytes) -> tuple[int, bytes]:
    """GET /read with ``Cookie: session=<cookie_value>`` written byte for byte on a socket; (status, body)."""
    host, port = browser.base_url.rsplit("//", 1)[1].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            b"GET /read HTTP/1.1\r\nHost: " + host.encode() + b"\r\nCookie: session=" + cookie_value + b"\r\n"
            b"Connection: close\r\n\r\n"
        )
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


# -- strategies ------------------------------------------------------------------------------------------------------

SENDABLE_TEXT = st.characters(
    exclude_categories=["Cs"], exclude_characters="".join(map(chr, [*range(9), *range(10, 32), 127]))
)
"""Every character aiohttp will send in a header value; non-ASCII ones go out UTF-8 encoded."""

FORMAT_PIECES = st.sampled_from(["2|", "1:", "|", ":", "2", "3", "10:", "7:session", "43:", "64:", "=", ";", '"', " "])

garbage_cookies = st.one_of(
    st.text(SENDABLE_TEXT, max_size=300),
    # Pieces of the signed-value format in random order, to reach deeper into the parser.
    st.lists(st.one_of(FORMAT_PIECES, st.text(SENDABLE_TEXT, max_size=8)), max_size=30).map("".join),
)

random_session_ids = st.text(string.ascii_letters + string.digits + "-_", min_size=43, max_size=43)
hex_signatures = st.binary(min_size=32, max_size=32).map(bytes.hex)
timestamps = st.integers(min_value=0, max_value=2 * int(time.time())).map(str)


@st.composite
def huge_cookies(draw: st.DrawFn) -> str:
    """4 KB to ~7.6 KB: garbage, or a correctly signed value that is no session id (within Sanic's 8 KB header cap)."""
    size = draw(st.integers(min_value=4096, max_value=7600))
    if draw(st.booleans()):
        unit = draw(st.text(string.printable.strip(), min_size=1, max_size=16))
        return (unit * (size // len(unit) + 1))[:size]
    payload = "A" * (size * 3 // 4 - 60)
    return create_signed_value(ROTATED_SECRETS, "session", payload, key_version=KEY_VERSION).decode()


cookie_names = st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True).filter(lambda name: name != "session")


# -- bad cookies -----------------------------------------------------------------------------------------------------


@EXAMPLES
@given(value=garbage_cookies)
async def test_garbage_cookie_text_gets_a_fresh_session_and_no_store_call(site: Site, value: str) -> None:
    await site.assert_fresh_session_without_store_calls(value)


@EXAMPLES
@given(value=st.binary(max_size=300).map(lambda raw: raw.replace(b"\r", b"").replace(b"\n", b"")))
async def test_cookie_bytes_of_any_value_never_reach_the_store_or_cause_a_5xx(site: Site, value: bytes) -> None:
    site.proxy.reset()
    status, body = await raw_cookie_request(site.browser, value)
    if status == 400:  # refused by the HTTP parser itself, before the application
        assert HEADER_FORBIDDEN.search(value.decode("latin-1")), body[:200]
    else:
        assert status == 200 and json.loads(body) == FRESH, (status, body[:200])
    assert site.proxy.count() == 0


@EXAMPLES
@given(value=huge_cookies())
async def test_huge_cookie_gets_a_fresh_session_and_no_store_call(site: Site, value: str) -> None:
    await site.assert_fresh_session_without_store_calls(value)


@EXAMPLES
@given(key_version=st.sampled_from(sorted(ROTATED_SECRETS)), timestamp=timestamps, signature=hex_signatures)
async def test_well_formed_cookie_with_a_wrong_signature_gets_a_fresh_session(
    site: Site, key_version: int, timestamp: str, signature: str
) -> None:
    encoded_id = base64.b64encode(site.session_id.encode()).decode()
    await site.assert_fresh_session_without_store_calls(
        signed_value_v2(key_version, timestamp, "session", encoded_id, signature)
    )


@EXAMPLES
@given(altered=st.sampled_from(["value", "timestamp", "name", "key_version"]), data=st.data())
async def test_genuine_signature_replayed_on_altered_fields_gets_a_fresh_session(
    site: Site, altered: str, data: st.DataObject
) -> None:
    fields = parse_signed_value_v2(site.cookie)
    if altered == "value":
        other_id = data.draw(random_session_ids.filter(lambda sid: sid != site.session_id))
        fields["value"] = base64.b64encode(other_id.encode()).decode()
    elif altered == "timestamp":
        fields["timestamp"] = data.draw(timestamps.filter(lambda ts: ts != fields["timestamp"]))
    elif altered == "name":
        fields["name"] = data.draw(cookie_names)
    else:
        fields["key_version"] = str(data.draw(st.sampled_from([v for v in ROTATED_SECRETS if v != KEY_VERSION])))
    forged = signed_value_v2(
        int(fields["key_version"]), fields["timestamp"], fields["name"], fields["value"], fields["signature"]
    )
    assert forged != site.cookie
    await site.assert_fresh_session_without_store_calls(forged)


@EXAMPLES
@given(
    key_version=st.integers(min_value=0, max_value=2**31).filter(lambda v: v not in ROTATED_SECRETS),
    secret=st.one_of(st.sampled_from(sorted(ROTATED_SECRETS.values())), st.text(min_size=1, max_size=64)),
)
async def test_cookie_signed_with_a_key_version_not_configured_gets_a_fresh_session(
    site: Site, key_version: int, secret: str
) -> None:
    # Even one of the site's own secrets, announced under a version the site does not list, must not verify.
    value = create_signed_value({key_version: secret}, "session", site.session_id, key_version=key_version)
    await site.assert_fresh_session_without_store_calls(value.decode())


@EXAMPLES
@given(other_name=cookie_names)
async def test_another_cookies_genuine_signed_value_gets_a_fresh_session(site: Site, other_name: str) -> None:
    value = create_signed_value(ROTATED_SECRETS, other_name, site.session_id, key_version=KEY_VERSION)
    await site.assert_fresh_session_without_store_calls(value.decode())


# -- session ids -----------------------------------------------------------------------------------------------------


async def new_session_ids(browser: Browser, count: int) -> list[str]:
    """Start ``count`` new sessions, 25 at a time, and return their ids (decoded from the signed cookies)."""

    async def one() -> str:
        reply = await browser.get("/counter", cookies={})
        cookie = reply.cookie()
        assert reply.status == 200 and cookie is not None
        session_id = session_id_in(SECRET, cookie["value"])
        assert session_id is not None
        return session_id

    ids: list[str] = []
    while len(ids) < count:
        ids += await asyncio.gather(*(one() for _ in range(min(25, count - len(ids)))))
    return ids


async def test_a_session_id_is_43_base64url_characters_encoding_32_bytes(serve: Serve) -> None:
    for session_id in await new_session_ids(await serve(), 10):
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", session_id)
        assert len(base64.urlsafe_b64decode(session_id + "=")) == 32


async def test_200_new_sessions_get_200_distinct_ids(serve: Serve) -> None:
    ids = await new_session_ids(await serve(), 200)
    assert len(set(ids)) == 200


async def test_every_one_of_the_256_id_bits_varies_across_new_sessions(serve: Serve) -> None:
    # With 256 random bits, a given bit is the same in 100 ids with probability 2**-99: a counter, a timestamp or
    # a shorter random part padded to 43 characters would fail this.
    numbers = [
        int.from_bytes(base64.urlsafe_b64decode(sid + "="), "big") for sid in await new_session_ids(await serve(), 100)
    ]
    always_one = always_zero = (1 << 256) - 1
    for number in numbers:
        always_one &= number
        always_zero &= ~number
    assert always_one == 0 and always_zero == 0


# -- at rest ---------------------------------------------------------------------------------------------------------


async def scan(endpoint: str, table: str) -> list[dict[str, Any]]:
    """Every item in ``table``, read with a plain aiobotocore client."""
    async with open_raw_client(endpoint) as client:
        items: list[dict[str, Any]] = (await client.scan(TableName=table, ConsistentRead=True))["Items"]
    return items


async def test_the_table_holds_only_the_sha256_of_session_ids(
    serve: Serve, dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    ids = await new_session_ids(await serve(), 3)
    items = await scan(dynamodb_endpoint, dynamodb_table)
    assert sorted(item["SessionID"]["S"] for item in items) == sorted(hashed(sid) for sid in ids)
    dump = json.dumps(items, default=repr)
    assert not any(sid in dump for sid in ids)


@pytest.fixture
async def unhashed_store(proxy: DynamoProxy, dynamodb_table: str) -> AsyncIterator[DynamoDBStore]:
    async with DynamoDBStore(dynamodb_table, endpoint_url=proxy.url, hash_ids=False) as store:
        yield store


async def test_with_hash_ids_false_the_table_holds_the_raw_session_id(
    serve: Serve, unhashed_store: DynamoDBStore, dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    ids = await new_session_ids(await serve(store=unhashed_store), 3)
    items = await scan(dynamodb_endpoint, dynamodb_table)
    assert sorted(item["SessionID"]["S"] for item in items) == sorted(ids)


# -- logs ------------------------------------------------------------------------------------------------------------


@contextmanager
def every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Capture DEBUG records of every logger, including those that do not propagate to the root (Sanic's)."""
    handler = caplog.handler
    caplog.set_level(logging.DEBUG)
    detached: list[logging.Logger] = []
    for name, candidate in list(logging.root.manager.loggerDict.items()):
        if isinstance(candidate, logging.Logger):
            caplog.set_level(logging.DEBUG, logger=name)
            if not candidate.propagate and handler not in candidate.handlers:
                candidate.addHandler(handler)
                detached.append(candidate)
    try:
        yield
    finally:
        for each in detached:
            each.removeHandler(handler)


async def test_raw_session_ids_and_cookies_never_appear_in_logs(
    serve: Serve, proxy: DynamoProxy, caplog: pytest.LogCaptureFixture, dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    browser = await serve()
    secrets_seen: list[str] = []

    def remember() -> None:
        cookie = browser.cookies["session"].strip('"')
        session_id = session_id_in(SECRET, cookie)
        assert session_id is not None
        secrets_seen.extend([cookie, session_id])

    with every_logger_at_debug(caplog):
        state(await browser.get("/counter"))  # create
        remember()
        state(await browser.get("/read"))  # touch
        state(await browser.get("/login?user=alice"))  # regenerate: a new id, the old record deleted
        remember()
        proxy.fault = lambda operation, attempt: (
            ("status", 400, "ProvisionedThroughputExceededException") if operation == "PutItem" else None
        )
        assert (await browser.get("/counter")).status == 503  # a failed save, logged as an error
        proxy.fault = None
        state(await browser.get("/logout"))  # invalidate
        state(await browser.get("/counter"))  # a new session, then its item corrupted behind the store's back
        remember()
        async with open_raw_client(dynamodb_endpoint) as client:
            key = {"SessionID": {"S": hashed(secrets_seen[-1])}}
            await client.update_item(
                TableName=dynamodb_table,
                Key=key,
                UpdateExpression="SET #s = :s",
                ExpressionAttributeNames={"#s": "Session"},
                ExpressionAttributeValues={":s": {"S": "{not json"}},
            )
        assert state(await browser.get("/read"))["new"] is True  # the corrupt item: absent, and logged
    text = caplog.text
    # The capture did see the store's own lines and the DynamoDB client's debug output.
    assert "corrupt and treated as absent" in text and "session save failed" in text
    assert "UpdateItem" in text
    leaked = [secret for secret in secrets_seen if secret in text]
    assert leaked == []


# -- encrypted sessions are bound to their item -----------------------------------------------------------------------


async def test_an_encrypted_session_copied_into_another_item_is_absent_there(
    serve: Serve, proxy: DynamoProxy, dynamodb_table: str, caplog: pytest.LogCaptureFixture
) -> None:
    codec = EncryptedCodec(keys=[EncryptedCodec.generate_key()])
    async with DynamoDBStore(dynamodb_table, endpoint_url=proxy.url, codec=codec) as store:
        admin = await serve(store=store)
        await admin.get("/set?key=role&value=admin")
        user = Browser(admin.base_url)
        try:
            await user.get("/set?key=role&value=guest")
            admin_id, user_id = (
                session_id_in(SECRET, admin.cookies["session"]),
                session_id_in(SECRET, user.cookies["session"]),
            )
            assert admin_id is not None and user_id is not None
            async with open_raw_client(proxy.url) as client:
                admin_item = await client.get_item(
                    TableName=dynamodb_table, Key={"SessionID": {"S": store.key_for(admin_id)}}, ConsistentRead=True
                )
                await client.update_item(  # someone with write access to the table copies the admin's value over
                    TableName=dynamodb_table,
                    Key={"SessionID": {"S": store.key_for(user_id)}},
                    UpdateExpression="SET #s = :s",
                    ExpressionAttributeNames={"#s": "Session"},
                    ExpressionAttributeValues={":s": admin_item["Item"]["Session"]},
                )
            with caplog.at_level(logging.WARNING, logger="tornado_dynasession"):
                reply = await user.get("/read")
            assert state(reply) == {"id": None, "new": True, "data": {}}
            assert "corrupt" in caplog.text
            assert state(await admin.get("/read"))["data"] == {"role": "admin"}  # the original still reads
        finally:
            await user.close()


async def test_an_encrypted_session_written_unbound_by_an_earlier_version_still_loads_and_is_rebound_when_saved(
    serve: Serve, proxy: DynamoProxy, dynamodb_table: str
) -> None:
    codec = EncryptedCodec(keys=[EncryptedCodec.generate_key()])
    async with DynamoDBStore(dynamodb_table, endpoint_url=proxy.url, codec=codec) as store:
        browser = await serve(store=store)
        await browser.get("/set?key=a&value=1")
        sid = session_id_in(SECRET, browser.cookies["session"])
        assert sid is not None
        key = {"SessionID": {"S": store.key_for(sid)}}
        async with open_raw_client(proxy.url) as client:
            await client.update_item(  # the value as the earlier version wrote it: format 1, bound to nothing
                TableName=dynamodb_table,
                Key=key,
                UpdateExpression="SET #s = :s",
                ExpressionAttributeNames={"#s": "Session"},
                ExpressionAttributeValues={":s": {"B": codec.encode({"a": "1"})}},
            )
            assert state(await browser.get("/set?key=b&value=2"))["data"] == {"a": "1", "b": "2"}
            stored = await client.get_item(TableName=dynamodb_table, Key=key, ConsistentRead=True)
        assert bytes(stored["Item"]["Session"]["B"])[:1] == b"\x02"
