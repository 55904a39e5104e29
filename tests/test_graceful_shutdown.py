"""SIGTERM while requests are mid-handler: each one finishes with its session saved, then the process exits."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest

from tornado_dynasession import DynamoDBStore

from .app_processes import START_TIMEOUT, AppProcess, start_app_process, wait_until_serving
from .process_app import SECRET
from .support import Browser, session_id_in

SLOW_SECONDS = 2.0
CLIENTS = 4


async def wait_for_log(app: AppProcess, text: str, count: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while app.log().count(text) < count:
        assert time.monotonic() < deadline, f"expected {count} x {text!r} in the log:\n{app.log()}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("framework", "processes", "signal_group"),
    [("tornado", 1, False), ("tornado", 2, True), ("sanic", 2, False)],
    ids=["tornado", "tornado-forked", "sanic-workers"],
)
async def test_sigterm_lets_requests_in_flight_finish_and_save_their_sessions(
    framework: str, processes: int, signal_group: bool, dynamodb_endpoint: str, dynamodb_table: str, tmp_path: Path
) -> None:
    app = start_app_process(
        framework, endpoint=dynamodb_endpoint, table=dynamodb_table, log_dir=tmp_path, processes=processes
    )
    browsers = [Browser(app.url) for _ in range(CLIENTS)]
    try:
        await wait_until_serving(app, browsers[0].get)
        for i, browser in enumerate(browsers[: CLIENTS // 2]):  # half have a session already, half are new
            assert (await browser.get(f"/set?key=before&value={i}")).status == 200
        slow = [
            asyncio.ensure_future(browser.get(f"/slow-set?key=during&value=v{i}&seconds={SLOW_SECONDS}", timeout=60))
            for i, browser in enumerate(browsers)
        ]
        await wait_for_log(app, "slow-set begins", CLIENTS)
        if signal_group:  # fork_processes: the parent only supervises, every child gets the signal
            app.signal_group(signal.SIGTERM)
        else:
            app.process.send_signal(signal.SIGTERM)
        replies = await asyncio.gather(*slow)
        for browser in browsers:  # their idle keep-alive connections would hold Sanic's shutdown for its timeout
            await browser.close()
        await wait_for_log(app, "stopped:", processes)  # each serving process closed its store and ended
        status = await asyncio.to_thread(app.wait, 60)
        # fork_processes' parent has no handler: it ends on the signal, its children when their requests are done.
        assert status == (-signal.SIGTERM if signal_group else 0), app.log()
    finally:
        for browser in browsers:
            await browser.close()
        app.stop()

    assert [reply.status for reply in replies] == [200] * CLIENTS, [reply.body for reply in replies]
    async with DynamoDBStore(dynamodb_table, endpoint_url=dynamodb_endpoint) as store:
        for i, (browser, reply) in enumerate(zip(browsers, replies, strict=True)):
            assert json.loads(reply.body)["data"]["during"] == f"v{i}"
            sid = session_id_in(SECRET, browser.cookies["session"])
            assert sid is not None
            expected = {"during": f"v{i}"} | ({"before": str(i)} if i < CLIENTS // 2 else {})
            assert await store.get(sid) == expected
