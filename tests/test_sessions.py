"""The session rules, driven over real HTTP against each framework adapter, with DynamoDB calls counted by the proxy.

Every test here runs once per framework (``[tornado]``, ``[sanic]``): both adapters must behave identically.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import pytest
from tornado.web import create_signed_value, decode_signed_value

from tornado_dynasession import DynamoDBStore

from .conftest import SECRET, Serve
from .support import Browser, DynamoProxy, Reply, open_raw_client, session_id_in


def state(reply: Reply) -> dict[str, Any]:
    """The JSON the test app answers."""
    assert reply.status == 200, reply.body
    result: dict[str, Any] = json.loads(reply.body)
    return result


def cookie_value(browser: Browser, name: str = "session") -> str:
    """The raw cookie value the browser holds, unquoted."""
    return browser.cookies[name].strip('"')


def session_id_of(browser: Browser, secret: str = SECRET, name: str = "session") -> str:
    """The session id inside the browser's signed cookie."""
    session_id = session_id_in(secret, cookie_value(browser, name), name)
    assert session_id is not None
    return session_id


async def start_session(serve: Serve, proxy: DynamoProxy, **options: Any) -> Browser:
    """A browser holding a stored session with count=1; the proxy's counts are reset afterwards."""
    browser = await serve(**options)
    assert state(await browser.get("/counter"))["data"] == {"count": 1}
    assert "session" in browser.cookies
    proxy.reset()
    return browser


# -- what a request costs -----------------------------------------------------------------------------------------


async def test_request_without_cookie_makes_no_store_call_and_sets_no_cookie(serve: Serve, proxy: DynamoProxy) -> None:
    browser = await serve()
    reply = await browser.get("/read")
    assert state(reply) == {"id": None, "new": True, "data": {}}
    assert proxy.count() == 0
    assert reply.cookie() is None


async def test_route_without_sessions_makes_no_store_call(serve: Serve, proxy: DynamoProxy) -> None:
    browser = await start_session(serve, proxy)
    reply = await browser.get("/health")
    assert reply.status == 200
    assert proxy.count() == 0


async def test_new_modified_session_costs_one_putitem_and_sets_the_cookie(serve: Serve, proxy: DynamoProxy) -> None:
    browser = await serve()
    reply = await browser.get("/counter")
    assert state(reply)["data"] == {"count": 1}
    assert dict(proxy.calls) == {"PutItem": 1}
    assert reply.cookie() is not None


async def test_valid_cookie_costs_one_read_and_a_modification_one_putitem(serve: Serve, proxy: DynamoProxy) -> None:
    browser = await start_session(serve, proxy)
    reply = await browser.get("/counter")
    assert state(reply)["data"] == {"count": 2}
    assert dict(proxy.calls) == {"UpdateItem": 1, "PutItem": 1}


async def test_a_read_is_one_updateitem_that_slides_the_expiry_without_resending_a_fresh_cookie(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy, max_age=100)
    sid = session_id_of(browser)
    before = await counted_store.load(sid)
    assert before is not None
    await asyncio.sleep(1.1)
    proxy.reset()
    reply = await browser.get("/read")
    assert state(reply)["data"] == {"count": 1}
    assert dict(proxy.calls) == {"UpdateItem": 1}
    after = await counted_store.load(sid)
    assert after is not None and after.expires_at > before.expires_at
    assert reply.cookie() is None  # the browser keeps the cookie one lifetime past the expiry it was sent with


async def test_the_cookie_is_renewed_once_per_lifetime_after_a_getitem_checks_the_session(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy, max_age=4)
    sid = session_id_of(browser)
    await asyncio.sleep(2.2)
    assert (await browser.get("/read")).cookie() is None  # slid, cookie still good for 6 s
    await asyncio.sleep(3.0)  # past the expiry the cookie was sent with: the session lives on through the slide
    proxy.reset()
    reply = await browser.get("/read")
    assert state(reply)["data"] == {"count": 1}
    assert dict(proxy.calls) == {"UpdateItem": 1, "GetItem": 1}
    record = await counted_store.load(sid)
    assert record is not None
    cookie = reply.cookie()
    assert cookie is not None and 6 <= int(cookie["max-age"]) <= 8
    assert _payload(cookie) == f"{sid}|{record.expires_at}||"


async def test_touch_after_skips_touches_that_would_move_expiry_too_little(serve: Serve, proxy: DynamoProxy) -> None:
    browser = await start_session(serve, proxy, touch_after=60)
    reply = await browser.get("/read")
    assert state(reply)["data"] == {"count": 1}
    assert dict(proxy.calls) == {"GetItem": 1}
    assert reply.cookie() is None


async def test_touch_after_touches_once_expiry_would_move_far_enough(serve: Serve, proxy: DynamoProxy) -> None:
    browser = await start_session(serve, proxy, touch_after=1)
    await asyncio.sleep(2.1)
    reply = await browser.get("/read")
    # the slide, and a GetItem that checks the session is still live before the cookie tells the new expiry
    assert dict(proxy.calls) == {"UpdateItem": 1, "GetItem": 1}
    assert reply.cookie() is not None


def _id_only_cookie(sid: str) -> dict[str, str]:
    """A cookie as versions before the lifetime-carrying format signed it: the id alone."""
    return {"session": create_signed_value(SECRET, "session", sid).decode()}


def _payload(cookie: dict[str, str] | None) -> str:
    assert cookie is not None
    decoded = decode_signed_value(SECRET, "session", cookie["value"].strip('"'))
    assert decoded is not None
    return decoded.decode()


async def test_a_cookie_that_carries_only_the_id_still_works_and_is_resent_with_its_lifetime(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy, max_age=100)
    sid = session_id_of(browser)
    reply = await browser.get("/read", cookies=_id_only_cookie(sid))
    assert state(reply)["data"] == {"count": 1}
    assert dict(proxy.calls) == {"UpdateItem": 1, "GetItem": 1}  # once: the cookie is re-sent with its lifetime
    record = await counted_store.load(sid)
    assert record is not None
    assert _payload(reply.cookie()) == f"{sid}|{record.expires_at}||"


async def test_an_id_only_cookie_of_a_remember_me_session_keeps_its_long_lifetime(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy)
    await browser.get(f"/max-age?seconds={90 * 86400}")
    sid = session_id_of(browser)
    proxy.reset()
    reply = await browser.get("/read", cookies=_id_only_cookie(sid))
    # the id-only cookie cannot say the lifetime: the read assumes the default, then one more call corrects it
    assert dict(proxy.calls) == {"UpdateItem": 2, "GetItem": 1}
    record = await counted_store.load(sid)
    assert record is not None and record.expires_at >= time.time() + 90 * 86400 - 5
    assert _payload(reply.cookie()) == f"{sid}|{record.expires_at}|{90 * 86400}|"
    proxy.reset()
    await browser.get("/read", cookies={"session": reply.cookie()["value"]})  # type: ignore[index]
    assert dict(proxy.calls) == {"UpdateItem": 1}  # the cookie now carries the lifetime


async def test_a_remember_me_session_read_costs_one_call(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy)
    cookie = (await browser.get(f"/max-age?seconds={90 * 86400}")).cookie()
    assert cookie is not None and int(cookie["max-age"]) >= 2 * 90 * 86400 - 5
    proxy.reset()
    await browser.get("/read")
    assert dict(proxy.calls) == {"UpdateItem": 1}
    record = await counted_store.load(session_id_of(browser))
    assert record is not None and record.expires_at >= time.time() + 90 * 86400 - 5


@pytest.mark.parametrize("touch_after", [0, 60])
@pytest.mark.parametrize("stored", ["missing", "expired", "corrupt"])
async def test_a_cookie_without_a_live_session_costs_one_read_and_is_cleared(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore, touch_after: int, stored: str
) -> None:
    browser = await start_session(serve, proxy, touch_after=touch_after)
    sid = session_id_of(browser)
    async with open_raw_client(counted_store.endpoint_url) as client:
        key = {"SessionID": {"S": counted_store.key_for(sid)}}
        if stored == "missing":
            await client.delete_item(TableName=counted_store.table, Key=key)
        elif stored == "expired":
            await client.update_item(
                TableName=counted_store.table,
                Key=key,
                UpdateExpression="SET Expires = :past",
                ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
            )
        else:
            await client.update_item(
                TableName=counted_store.table,
                Key=key,
                UpdateExpression="SET #s = :bad",
                ExpressionAttributeNames={"#s": "Session"},
                ExpressionAttributeValues={":bad": {"S": "{not json"}},
            )
    proxy.reset()
    reply = await browser.get("/read")
    assert state(reply)["new"] is True
    if stored == "corrupt" and touch_after == 0:
        # DynamoDB cannot see that the Session does not decode: the slide went through, and one more call puts the
        # expiry back, so a corrupt item is never extended
        assert dict(proxy.calls) == {"UpdateItem": 2}
    else:
        assert dict(proxy.calls) == {"UpdateItem" if touch_after == 0 else "GetItem": 1}
    cookie = reply.cookie()
    assert cookie is not None and cookie["value"] in ("", '""')


# -- forged and foreign cookies -----------------------------------------------------------------------------------


def _tampered(value: str) -> str:
    last = value[-1]
    return value[:-1] + ("0" if last != "0" else "1")


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda good: _tampered(good), id="tampered-signature"),
        pytest.param(lambda good: "garbage", id="garbage"),
        pytest.param(lambda good: "2|1:0|10:1700000000|7:session|4:YQ==|" + "0" * 64, id="well-formed-forgery"),
        pytest.param(
            lambda good: create_signed_value("another-secret", "session", "A" * 43).decode(), id="other-secret"
        ),
        pytest.param(
            lambda good: create_signed_value(SECRET, "other_cookie", "A" * 43).decode(), id="other-cookie-name"
        ),
        pytest.param(lambda good: create_signed_value(SECRET, "session", "short").decode(), id="signed-non-id"),
        pytest.param(lambda good: good.replace("2|1:0", "2|1:9"), id="unknown-key-version"),
    ],
)
async def test_forged_or_foreign_cookie_gives_a_fresh_session_and_no_store_call(
    serve: Serve, proxy: DynamoProxy, forge: Any
) -> None:
    browser = await start_session(serve, proxy)
    forged = forge(cookie_value(browser))
    reply = await browser.get("/read", cookies={"session": forged})
    assert state(reply) == {"id": None, "new": True, "data": {}}
    assert proxy.count() == 0


async def test_cookie_signed_with_a_retired_key_version_gives_a_fresh_session(serve: Serve, proxy: DynamoProxy) -> None:
    old = await start_session(serve, proxy, secret={1: "old-secret-" + "o" * 30}, key_version=1)
    rotated = await serve(secret={2: "new-secret-" + "n" * 30}, key_version=2)
    proxy.reset()
    reply = await rotated.get("/read", cookies=old.cookies)
    assert state(reply)["new"] is True
    assert proxy.count() == 0


async def test_rotating_away_from_a_plain_secret_keeps_sessions_as_key_version_0(
    serve: Serve, proxy: DynamoProxy
) -> None:
    plain = "old-secret-" + "o" * 30
    old = await start_session(serve, proxy, secret=plain)
    rotated = await serve(secret={0: plain, 1: "new-secret-" + "n" * 30}, key_version=1)
    reply = await rotated.get("/read", cookies=old.cookies)
    assert state(reply)["data"] == {"count": 1}
    reply = await rotated.get("/counter", cookies=old.cookies)
    assert state(reply)["data"] == {"count": 2}
    cookie = reply.cookie()
    assert cookie is not None and cookie["value"].strip('"').startswith("2|1:1|")  # re-signed with the new key


async def test_cookie_signed_with_an_older_listed_key_version_still_works(serve: Serve, proxy: DynamoProxy) -> None:
    keys = {1: "old-secret-" + "o" * 30}
    old = await start_session(serve, proxy, secret=keys, key_version=1)
    rotated = await serve(secret={**keys, 2: "new-secret-" + "n" * 30}, key_version=2)
    reply = await rotated.get("/read", cookies=old.cookies)
    assert state(reply)["data"] == {"count": 1}


# -- the cookie -----------------------------------------------------------------------------------------------------


async def test_cookie_is_httponly_lax_rooted_and_not_secure_over_plain_http(serve: Serve, proxy: DynamoProxy) -> None:
    browser = await serve()
    cookie = (await browser.get("/counter")).cookie()
    assert cookie is not None
    assert cookie["httponly"] == "true"
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert "secure" not in cookie
    assert 595 <= int(cookie["max-age"]) <= 600  # one lifetime past the session's expiry


async def test_a_browser_session_cookie_has_neither_expires_nor_max_age_but_the_item_still_expires(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await serve(cookie_persistent=False, max_age=100)
    reply = await browser.get("/counter")
    raw = next(value for key, value in reply.headers if key.lower() == "set-cookie")
    assert "expires" not in raw.lower() and "max-age" not in raw.lower()
    assert "httponly" in raw.lower()
    record = await counted_store.load(session_id_of(browser))
    assert record is not None and 98 <= record.expires_at - time.time() <= 101
    await browser.get("/logout")
    assert "session" not in browser.cookies  # clearing still expires it at once


async def test_cookie_is_secure_when_the_request_came_over_https(serve: Serve, proxy: DynamoProxy) -> None:
    browser = await serve()
    behind_tls_proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    cookie = (await browser.get("/counter", headers=behind_tls_proxy)).cookie()
    assert cookie is not None and cookie["secure"] == "true"


async def test_cookie_options_are_applied(serve: Serve, proxy: DynamoProxy) -> None:
    browser = await serve(cookie_name="sid", cookie_secure=True, cookie_samesite="Strict", cookie_path="/app")
    reply = await browser.get("/counter")
    cookie = reply.cookie("sid")
    assert cookie is not None
    assert cookie["secure"] == "true" and cookie["samesite"].lower() == "strict" and cookie["path"] == "/app"
    assert reply.cookie("session") is None


async def test_cookie_holds_only_a_signed_random_256_bit_id_and_the_table_only_its_hash(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore, dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    browser = await start_session(serve, proxy)
    sid = session_id_of(browser)
    assert len(sid) == 43  # 32 random bytes, base64url
    raw = await _raw_item(counted_store, sid)
    assert raw is not None
    assert raw["SessionID"]["S"] != sid and sid not in json.dumps(raw)


async def _raw_item(store: DynamoDBStore, sid: str) -> dict[str, Any] | None:

    async with open_raw_client(store.endpoint_url) as client:
        response = await client.get_item(
            TableName=store.table, Key={"SessionID": {"S": store.key_for(sid)}}, ConsistentRead=True
        )
    item: dict[str, Any] | None = response.get("Item")
    return item


def _is_logout_tombstone(item: dict[str, Any] | None) -> bool:
    """An item a logout left: an expiry and the logout mark, no session data and no user."""
    return item is not None and set(item) == {"SessionID", "Expires", "LoggedOut"}


def _is_emptied_mark(item: dict[str, Any] | None) -> bool:
    """An item a request that emptied the session left: an expiry, the emptied mark, the version and the creation
    time, no data."""
    return item is not None and set(item) == {"SessionID", "Expires", "Emptied", "Version", "Created"}


# -- lifetimes ------------------------------------------------------------------------------------------------------


async def test_session_expires_after_max_age_without_activity(serve: Serve, proxy: DynamoProxy) -> None:
    browser = await start_session(serve, proxy, max_age=1)
    await asyncio.sleep(2.1)
    reply = await browser.get("/read")
    assert state(reply)["new"] is True
    cookie = reply.cookie()
    assert cookie is not None and cookie["value"] in ("", '""')  # the dead cookie is cleared


async def test_activity_slides_the_expiry_forward(serve: Serve, proxy: DynamoProxy) -> None:
    browser = await start_session(serve, proxy, max_age=2)
    for _ in range(4):  # 4 s in all: twice the lifetime, but never 2 s idle
        await asyncio.sleep(1)
        assert state(await browser.get("/read"))["data"] == {"count": 1}


async def test_absolute_max_age_ends_an_active_session(serve: Serve, proxy: DynamoProxy) -> None:
    browser = await serve(max_age=60, absolute_max_age=3)
    reply = await browser.get("/counter")
    cookie = reply.cookie()
    assert cookie is not None and 1 <= int(cookie["max-age"]) <= 3  # capped at the absolute end, not 60
    await asyncio.sleep(1)
    assert state(await browser.get("/counter"))["data"] == {"count": 2}
    await asyncio.sleep(2.5)
    assert state(await browser.get("/read"))["new"] is True


async def test_a_remember_me_session_outlives_the_default_signature_age_of_31_days(
    serve: Serve, proxy: DynamoProxy
) -> None:
    browser = await start_session(serve, proxy)
    await browser.get(f"/max-age?seconds={90 * 86400}")
    sid = session_id_of(browser)
    signed_40_days_ago = create_signed_value(SECRET, "session", sid, clock=lambda: time.time() - 40 * 86400)
    reply = await browser.get("/read", cookies={"session": signed_40_days_ago.decode()})
    assert state(reply)["data"] == {"count": 1}
    assert state(reply)["id"] == sid


async def test_per_session_max_age_is_kept_for_later_requests(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy)
    first = (await browser.get("/max-age?seconds=3600")).cookie()
    assert first is not None and 7195 <= int(first["max-age"]) <= 7200
    # A later write slides the expiry by the session's own lifetime. The browser's cookie lasts a lifetime past the
    # expiry it was sent with, so it is not due for renewal and not re-sent.
    later = await browser.get("/counter")
    assert state(later)["data"] == {"count": 2} and later.cookie() is None
    record = await counted_store.load(session_id_of(browser))
    assert record is not None and record.max_age == 3600
    assert 3000 <= record.expires_at - time.time() <= 3601


# -- modifications ------------------------------------------------------------------------------------------------


async def test_nested_change_is_saved_only_after_mark_modified(serve: Serve, proxy: DynamoProxy) -> None:
    browser = await start_session(serve, proxy)
    await browser.get("/append?item=a&mark=1")
    await browser.get("/append?item=b")  # mutates a nested list without mark_modified: not saved
    assert state(await browser.get("/read"))["data"]["cart"] == ["a"]


async def test_regenerate_changes_the_id_keeps_the_data_and_retires_the_old_record(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy)
    old_cookies = dict(browser.cookies)
    old_id = session_id_of(browser)
    reply = await browser.get("/login?user=alice")
    assert state(reply)["data"] == {"count": 1, "user": "alice"}
    assert session_id_of(browser) != old_id
    # the new session, then the old id's tombstone (a DeleteItem's cost: one write of a small item)
    assert dict(proxy.calls) == {"UpdateItem": 1, "PutItem": 2}
    assert await counted_store.get(old_id) is None
    tombstone = await _raw_item(counted_store, old_id)
    assert tombstone is not None and "Session" not in tombstone and "Superseded" in tombstone
    assert state(await browser.get("/read", cookies=old_cookies))["new"] is True
    assert state(await browser.get("/read"))["data"]["user"] == "alice"


async def test_invalidate_replaces_the_record_by_a_tombstone_and_clears_the_cookie(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy)
    sid = session_id_of(browser)
    old_cookies = dict(browser.cookies)
    reply = await browser.get("/logout")
    assert state(reply) == {"id": None, "new": True, "data": {}}
    assert dict(proxy.calls) == {"UpdateItem": 1, "PutItem": 1}  # the tombstone: a DeleteItem's cost
    assert _is_logout_tombstone(await _raw_item(counted_store, sid))
    cookie = reply.cookie()
    assert cookie is not None and cookie["value"] in ("", '""')
    assert "session" not in browser.cookies
    assert state(await browser.get("/read", cookies=old_cookies))["new"] is True


async def test_a_cookie_whose_session_was_logged_out_is_cleared_at_its_next_request(
    serve: Serve, proxy: DynamoProxy
) -> None:
    browser = await start_session(serve, proxy)
    old_cookies = dict(browser.cookies)
    await browser.get("/logout")
    reply = await browser.get("/read", cookies=old_cookies)
    assert state(reply)["new"] is True
    cookie = reply.cookie()
    assert cookie is not None and cookie["value"] in ("", '""')


async def test_a_slow_read_racing_a_login_does_not_log_the_user_out(serve: Serve, proxy: DynamoProxy) -> None:
    browser = await start_session(serve, proxy)
    slow = asyncio.ensure_future(browser.get("/slow-read?seconds=1"))  # sent with the pre-login cookie
    await asyncio.sleep(0.3)
    assert state(await browser.get("/login?user=alice"))["data"]["user"] == "alice"
    reply = await slow  # ends after the login gave the session a new id
    assert reply.status == 200
    assert reply.cookie() is None  # neither clears nor replaces the login cookie
    assert state(await browser.get("/read"))["data"] == {"count": 1, "user": "alice"}


async def test_a_slow_write_racing_a_login_neither_logs_out_nor_revives_the_old_id(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy)
    old_id = session_id_of(browser)
    slow = asyncio.ensure_future(browser.get("/slow?seconds=1"))  # loads, then writes count=2 after 1 s
    await asyncio.sleep(0.3)
    await browser.get("/login?user=alice")
    reply = await slow
    assert reply.status == 200
    assert reply.cookie() is None
    assert await counted_store.get(old_id) is None
    assert state(await browser.get("/read"))["data"] == {"count": 1, "user": "alice"}


async def test_a_request_arriving_with_the_pre_login_cookie_leaves_the_new_cookie_alone(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy)
    old_cookies = dict(browser.cookies)
    old_id = session_id_of(browser)
    await browser.get("/login?user=alice")
    late_read = await browser.get("/read", cookies=old_cookies)
    assert state(late_read) == {"id": None, "new": True, "data": {}}
    assert late_read.cookie() is None
    tombstone = await _raw_item(counted_store, old_id)
    proxy.reset()
    late_write = await browser.get("/counter", cookies=old_cookies)
    assert state(late_write)["data"] == {"count": 1}
    assert late_write.cookie() is None
    assert dict(proxy.calls) == {"UpdateItem": 1}  # the read, which leaves a tombstone as it is; nothing stored
    assert await _raw_item(counted_store, old_id) == tombstone
    assert await counted_store.get(old_id) is None
    assert state(await browser.get("/read"))["data"] == {"count": 1, "user": "alice"}


async def test_a_login_from_a_browser_that_missed_the_previous_login_answer_still_works(
    serve: Serve, proxy: DynamoProxy
) -> None:
    browser = await start_session(serve, proxy)
    old_cookies = dict(browser.cookies)
    await browser.get("/login?user=alice", cookies=dict(old_cookies))  # its answer never reaches the browser
    again = await browser.get("/login?user=bob", cookies=old_cookies)
    assert state(again)["data"] == {"user": "bob"}
    cookie = again.cookie()
    assert cookie is not None and cookie["value"]
    assert state(await browser.get("/read", cookies={"session": cookie["value"]}))["data"] == {"user": "bob"}


async def test_logout_racing_a_slow_request_never_brings_the_session_back(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy)
    sid = session_id_of(browser)
    slow = asyncio.ensure_future(browser.get("/slow?seconds=1"))  # loads, then writes count=2 after 1 s
    await asyncio.sleep(0.3)
    await browser.get("/logout", cookies=dict(browser.cookies) if browser.cookies else None)
    reply = await slow
    assert reply.status == 200
    assert await counted_store.get(sid) is None
    assert _is_logout_tombstone(await _raw_item(counted_store, sid))


# -- empty sessions -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("emptying", ["/clear", "/delete?key=count"], ids=["clear", "last-key-deleted"])
async def test_emptying_a_stored_session_ends_it_and_its_next_request_clears_the_cookie(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore, emptying: str
) -> None:
    browser = await start_session(serve, proxy)
    sid = session_id_of(browser)
    reply = await browser.get(emptying)
    assert state(reply)["data"] == {}
    assert dict(proxy.calls) == {"UpdateItem": 1, "PutItem": 1}
    assert _is_emptied_mark(await _raw_item(counted_store, sid))
    # The cookie is left alone, so that a parallel request that added a key can still store it under this id.
    assert reply.cookie() is None and "session" in browser.cookies
    proxy.reset()
    reply = await browser.get("/read")
    assert state(reply) == {"id": None, "new": True, "data": {}}
    assert proxy.count() == 1  # the load it makes anyway finds the session emptied
    cookie = reply.cookie()
    assert cookie is not None and cookie["value"] in ("", '""') and "session" not in browser.cookies


async def test_a_new_visitor_whose_session_ends_up_empty_gets_no_item_and_no_cookie(
    serve: Serve, proxy: DynamoProxy
) -> None:
    browser = await serve()
    reply = await browser.get("/scratch")
    assert state(reply) == {"id": None, "new": True, "data": {}}
    assert proxy.count() == 0
    assert reply.cookie() is None


# -- caches ---------------------------------------------------------------------------------------------------------


def _vary(reply: Reply) -> list[str]:
    return [value for key, value in reply.headers if key.lower() == "vary"]


@pytest.mark.parametrize("route", ["/read", "/counter", "/logout"])
async def test_every_session_response_varies_on_cookie(serve: Serve, proxy: DynamoProxy, route: str) -> None:
    browser = await start_session(serve, proxy)
    assert _vary(await browser.get(route)) == ["Cookie"]
    assert _vary(await browser.get("/read", cookies={})) == ["Cookie"]


async def test_vary_cookie_is_merged_with_the_applications_own_vary(serve: Serve, proxy: DynamoProxy) -> None:
    browser = await serve()
    assert _vary(await browser.get("/vary")) == ["Accept-Encoding, Cookie"]


async def test_an_error_response_of_a_session_route_varies_on_cookie(serve: Serve, proxy: DynamoProxy) -> None:
    browser = await start_session(serve, proxy)
    proxy.fault = lambda operation, attempt: ("status", 500, "InternalServerError")
    reply = await browser.get("/read")
    assert reply.status == 503
    assert "Cookie" in ", ".join(_vary(reply))


# -- failures -------------------------------------------------------------------------------------------------------


async def test_unreachable_store_on_load_gives_503_without_a_traceback(serve: Serve, proxy: DynamoProxy) -> None:
    browser = await start_session(serve, proxy)
    proxy.fault = lambda operation, attempt: ("status", 500, "InternalServerError")
    started = time.monotonic()
    reply = await browser.get("/read")
    assert reply.status == 503
    assert "Traceback" not in reply.body
    assert time.monotonic() - started < 20


async def test_failed_save_gives_503_and_keeps_the_stored_session(serve: Serve, proxy: DynamoProxy) -> None:
    browser = await start_session(serve, proxy)
    proxy.fault = lambda operation, attempt: (
        ("status", 400, "ProvisionedThroughputExceededException") if operation == "PutItem" else None
    )
    reply = await browser.get("/counter")
    assert reply.status == 503
    assert "Traceback" not in reply.body
    proxy.fault = None
    assert state(await browser.get("/read"))["data"] == {"count": 1}


async def test_oversize_session_gives_500_naming_the_size_and_keeps_the_stored_session(
    serve: Serve, proxy: DynamoProxy, caplog: pytest.LogCaptureFixture
) -> None:
    browser = await start_session(serve, proxy)
    with caplog.at_level(logging.ERROR, logger="tornado_dynasession"):
        reply = await browser.get("/big?kb=500")
    assert reply.status == 500
    assert "Traceback" not in reply.body
    assert "409600" in caplog.text
    assert proxy.count("PutItem") == 0
    assert state(await browser.get("/read"))["data"] == {"count": 1}


# -- streaming ------------------------------------------------------------------------------------------------------


async def test_streamed_response_sends_the_cookie_with_its_first_chunk(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await serve()
    reply = await browser.get("/stream")
    assert reply.status == 200 and reply.body == "first chunk\nsecond chunk\n"
    assert reply.cookie() is not None
    stored = await counted_store.get(session_id_of(browser))
    assert stored is not None and stored["streamed"] == 1
