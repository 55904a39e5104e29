"""The demo in a real browser: headless Chromium (Debian's package) driven over the DevTools protocol.

Logs in by clicking the form, sees the counter persist across reloads, logs out, and sees the session gone.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tornado.httpserver import HTTPServer

from tornado_dynasession import DynamoDBStore, create_table
from tornado_dynasession.tables import delete_table

from .support import Browser, free_port, stop_process

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from tornado_app import make_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One browser tab, driven over the Chrome DevTools Protocol."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one CDP command and wait for its result (events in between are skipped)."""
        call_id = next(self._ids)
        await self._socket.send_json({"id": call_id, "method": method, "params": params})
        while True:
            message = json.loads((await self._socket.receive(timeout=30)).data)
            if message.get("id") == call_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        """Poll until ``expression`` is truthy in the loaded page; return its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                value = await self.evaluate(expression)
            except AssertionError:
                value = None
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {expression!r}")
            await asyncio.sleep(0.1)

    async def goto(self, url: str) -> None:
        """Navigate and wait for the document to be complete."""
        await self.evaluate("document.body && (document.body.innerHTML = '')")
        await self.call("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete' && document.querySelector('h1') !== null")

    async def text(self, selector: str) -> str:
        """The text of the first element matching ``selector``."""
        value = await self.evaluate(f"document.querySelector({json.dumps(selector)})?.textContent ?? ''")
        return str(value)

    async def click_and_wait(self, selector: str) -> None:
        """Click a button that submits a form, and wait for the next page."""
        await self.evaluate("window.__before_click = true")
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
        await self.wait_for("window.__before_click === undefined && document.readyState === 'complete'")


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Page]:
    """A fresh headless Chromium (own profile) and one tab."""
    if CHROMIUM is None:
        fix = "install it with `apt-get install chromium` (Debian/Ubuntu; `make setup` does it when run as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"chromium is not installed, and CI must run the browser test: {fix}")
        pytest.skip(f"the browser test needs chromium, which is not installed: {fix}")
    profile = tmp_path / "profile"
    argv = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "about:blank",
    ]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            target = next(t for t in targets if t.get("type") == "page")
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as socket:
                tab = Page(socket)
                await tab.call("Page.enable")
                yield tab
    finally:
        stop_process(process)


async def test_demo_in_a_browser_logs_in_counts_and_logs_out(
    page: Page, dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    async with DynamoDBStore(dynamodb_table, endpoint_url=dynamodb_endpoint) as store:
        port = free_port()
        server = HTTPServer(make_app(store, cookie_secret="browser-test-" + "s" * 32))
        server.listen(port, address="127.0.0.1")
        base = f"http://127.0.0.1:{port}"
        try:
            await page.goto(base + "/")
            assert "Not logged in" in await page.text("#user")

            await page.click_and_wait("#login")
            assert "Logged in as alice" in await page.text("#user")

            counts = []
            for _ in range(3):
                await page.goto(base + "/counter")
                counts.append(await page.text("#count"))
            assert counts == ["1", "2", "3"]

            await page.goto(base + "/session")
            shown = json.loads(await page.text("#session"))
            assert shown["data"] == {"user": "alice", "count": 3}

            await page.goto(base + "/")
            await page.click_and_wait("#logout")
            assert "Not logged in" in await page.text("#user")

            await page.goto(base + "/session")
            assert json.loads(await page.text("#session")) == {"new": True, "data": {}, "max_age_seconds": 300.0}
            cookies = (await page.call("Network.getCookies", urls=[base]))["cookies"]
            assert [c for c in cookies if c["name"] == "session"] == []
        finally:
            server.stop()


async def test_demo_in_a_browser_lists_the_users_sessions_and_signs_out_everywhere_else(
    page: Page, dynamodb_endpoint: str
) -> None:
    table = f"browser-users-{uuid.uuid4().hex[:8]}"
    await create_table(table, endpoint_url=dynamodb_endpoint, user_index="UserIndex")
    async with DynamoDBStore(table, endpoint_url=dynamodb_endpoint, user_index="UserIndex") as store:
        port = free_port()
        server = HTTPServer(make_app(store, cookie_secret="browser-test-" + "s" * 32))
        server.listen(port, address="127.0.0.1")
        base = f"http://127.0.0.1:{port}"
        phone = Browser(base)  # alice's other device: a plain HTTP client with its own cookie
        try:
            await phone.get("/login?user=alice", headers={"User-Agent": "Mozilla/5.0 (iPhone) Safari/604.1"})
            assert "Logged in as <b>alice</b>" in (await phone.get("/")).body

            await page.goto(base + "/")
            await page.click_and_wait("#login")
            await page.goto(base + "/sessions")
            listed = await page.evaluate("[...document.querySelectorAll('li.session')].map(li => li.textContent)")
            assert len(listed) == 2
            assert any("Safari on iPhone" in text for text in listed)
            assert any("(this browser)" in text for text in listed)

            await page.click_and_wait("#sign-out-others")
            listed = await page.evaluate("[...document.querySelectorAll('li.session')].map(li => li.textContent)")
            assert len(listed) == 1 and "(this browser)" in listed[0]
            assert "Not logged in" in (await phone.get("/")).body
            await page.goto(base + "/")
            assert "Logged in as alice" in await page.text("#user")
        finally:
            await phone.close()
            server.stop()
            await delete_table(table, endpoint_url=dynamodb_endpoint)
