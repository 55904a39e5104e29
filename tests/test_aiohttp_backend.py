"""The aiohttp backend at the wire: what it sends is validly signed, and it handles the faults botocore handles.

A checking proxy sits between the store and dynalite: it verifies each request's SigV4 signature with botocore's
``SigV4Auth`` over the headers and bytes it actually received, and can damage an answer's CRC32 or refuse a request
as skewed, as DynamoDB does. The store-behaviour suite itself runs on this backend through ``make_store``.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import json
import os
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tornado_dynasession import ClientOptions, DynamoDBStore, StoreUnavailableError
from tornado_dynasession.local import DynaliteServer
from tornado_dynasession.store import BACKEND_NAMES
from tornado_dynasession.tables import create_table

from .support import free_port

SID = "aiohttp-backend-session-id-0123456789"


@dataclass
class Seen:
    """One request as the proxy received it."""

    operation: str
    access_key: str
    token: str | None
    amz_date: str
    signature_valid: bool


@dataclass
class CheckingProxy:
    """A loopback proxy in front of ``upstream`` that verifies signatures and can misbehave on purpose."""

    upstream: str
    secrets: dict[str, str] = field(default_factory=lambda: {"local": "local"})
    seen: list[Seen] = field(default_factory=list)
    damage_crc: Callable[[int], bool] = lambda n: False
    skew_seconds: float | None = None  # refuse requests whose X-Amz-Date is this far from the proxy's clock + skew
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def verify(self, request: web.Request, body: bytes) -> tuple[str, bool]:
        authorization = request.headers.get("Authorization", "")
        access_key = authorization.split("Credential=", 1)[-1].split("/", 1)[0]
        region = authorization.split("Credential=", 1)[-1].split("/")[2]
        signed = authorization.split("SignedHeaders=", 1)[-1].split(",", 1)[0].split(";")
        headers = {name: request.headers[name] for name in signed if name in request.headers}
        check = AWSRequest(method="POST", url=f"http://{request.headers['Host']}/", data=body, headers=headers)
        check.context["timestamp"] = request.headers["X-Amz-Date"]
        token = request.headers.get("X-Amz-Security-Token")
        auth = SigV4Auth(Credentials(access_key, self.secrets.get(access_key, "?"), token), "dynamodb", region)
        canonical = auth.canonical_request(check)
        expected = auth.signature(auth.string_to_sign(check, canonical), check)
        return access_key, authorization.endswith(f"Signature={expected}")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        operation = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
        access_key, valid = self.verify(request, body)
        stamp = request.headers["X-Amz-Date"]
        self.seen.append(Seen(operation, access_key, request.headers.get("X-Amz-Security-Token"), stamp, valid))
        if self.skew_seconds is not None:
            server_now = time.time() + self.skew_seconds
            sent = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
            if abs(sent.timestamp() - server_now) > 300:
                error = {
                    "__type": "com.amazon.coral.service#InvalidSignatureException",
                    "message": f"Signature expired: {stamp} is now earlier than the server's time",
                }
                return web.Response(
                    status=400,
                    body=json.dumps(error),
                    headers={
                        "Content-Type": "application/x-amz-json-1.0",
                        "Date": email.utils.formatdate(server_now, usegmt=True),
                    },
                )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with aiohttp.ClientSession() as http, http.post(self.upstream, data=body, headers=headers) as upstream:
            payload = await upstream.read()
            status = upstream.status
        crc = zlib.crc32(payload)
        if self.damage_crc(len(self.seen)):
            crc ^= 0xFF
        return web.Response(
            status=status,
            body=payload,
            headers={"Content-Type": "application/x-amz-json-1.0", "x-amz-crc32": str(crc)},
        )


@pytest.fixture
async def checking_proxy(dynamodb_endpoint: str) -> AsyncIterator[CheckingProxy]:
    proxy = CheckingProxy(dynamodb_endpoint.rstrip("/") + "/")
    # A low-level server: it answers whatever the request line names, so it also serves as an HTTP proxy.
    runner = web.ServerRunner(web.Server(proxy.handle), access_log=None)
    await runner.setup()
    proxy.port = free_port()
    await web.TCPSite(runner, "127.0.0.1", proxy.port).start()
    yield proxy
    await runner.cleanup()


async def test_every_request_carries_a_valid_signature_over_the_bytes_sent(
    checking_proxy: CheckingProxy, dynamodb_table: str
) -> None:
    async with DynamoDBStore(dynamodb_table, backend="aiohttp", endpoint_url=checking_proxy.url) as store:
        await store.set(SID, {"name": "Zoë 🎉", "blob": "x" * 5000})
        assert await store.get(SID) == {"name": "Zoë 🎉", "blob": "x" * 5000}
        assert await store.touch(SID, 600)
        await store.destroy(SID)
    assert [seen.operation for seen in checking_proxy.seen] == ["PutItem", "GetItem", "UpdateItem", "DeleteItem"]
    assert all(seen.signature_valid for seen in checking_proxy.seen)


async def test_a_damaged_answer_is_retried_like_botocore_retries_it(
    checking_proxy: CheckingProxy, dynamodb_table: str
) -> None:
    async with DynamoDBStore(dynamodb_table, backend="aiohttp", endpoint_url=checking_proxy.url) as store:
        await store.set(SID, {"user": "ada"})
        checking_proxy.damage_crc = lambda n: n == 2  # the first GetItem's answer
        assert await store.get(SID) == {"user": "ada"}
    assert [seen.operation for seen in checking_proxy.seen] == ["PutItem", "GetItem", "GetItem"]


async def test_answers_that_stay_damaged_end_in_store_unavailable_after_max_attempts(
    checking_proxy: CheckingProxy, dynamodb_table: str
) -> None:
    async with DynamoDBStore(
        dynamodb_table, backend="aiohttp", endpoint_url=checking_proxy.url, options=ClientOptions(max_attempts=3)
    ) as store:
        checking_proxy.damage_crc = lambda n: True
        with pytest.raises(StoreUnavailableError, match="x-amz-crc32") as caught:
            await store.get(SID)
    assert len(checking_proxy.seen) == 3
    assert checking_proxy.url in str(caught.value)


async def test_a_request_refused_for_clock_skew_is_signed_again_on_the_servers_clock(
    checking_proxy: CheckingProxy, dynamodb_table: str
) -> None:
    checking_proxy.skew_seconds = 3600.0  # the server's clock is an hour ahead of ours
    async with DynamoDBStore(dynamodb_table, backend="aiohttp", endpoint_url=checking_proxy.url) as store:
        await store.set(SID, {"user": "ada"})
        assert await store.get(SID) == {"user": "ada"}
    _, retried, *later = checking_proxy.seen
    assert [seen.operation for seen in checking_proxy.seen] == ["PutItem", "PutItem", "GetItem"]
    stamp = datetime.datetime.strptime(retried.amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    assert abs(stamp.timestamp() - (time.time() + 3600)) < 60
    assert all(seen.signature_valid for seen in checking_proxy.seen)
    assert later[0].amz_date >= retried.amz_date  # the offset is kept: no second refusal


# -- temporary credentials from the container provider, replaced while the store runs ----------------------------

CREDENTIALS_PROGRAM = """
import asyncio, json, sys, time
from tornado_dynasession import ClientOptions
from tornado_dynasession.backends.aiohttp import open_transport

async def main(endpoint, table, seconds):
    options = ClientOptions(connect_timeout=2, read_timeout=5, max_attempts=2, max_pool_connections=4)
    transport = await open_transport(options, endpoint_url=endpoint, region_name="us-east-1")
    key = {"TableName": table, "Key": {"SessionID": {"S": "k"}}}
    try:
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            await transport.send("GetItem", key)
            await asyncio.sleep(0.1)
    finally:
        await transport.close()

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
"""


async def test_expiring_temporary_credentials_are_replaced_while_the_store_runs(
    checking_proxy: CheckingProxy, dynamodb_table: str, tmp_path: Path
) -> None:
    issued: list[str] = []

    async def credentials(request: web.Request) -> web.Response:
        number = len(issued) + 1
        access_key = f"ASIATEMPORARY{number}"
        checking_proxy.secrets[access_key] = f"secret-{number}"
        issued.append(access_key)
        # In botocore's advisory refresh window two seconds after it is issued (15 minutes before expiry).
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=15, seconds=2)
        return web.json_response(
            {
                "AccessKeyId": access_key,
                "SecretAccessKey": f"secret-{number}",
                "Token": f"token-{number}",
                "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )

    app = web.Application()
    app.router.add_get("/credentials", credentials)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("AWS_") or name == "AWS_REGION"
    }
    environment.update(
        AWS_CONTAINER_CREDENTIALS_FULL_URI=f"http://127.0.0.1:{port}/credentials",
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CREDENTIALS_PROGRAM,
            checking_proxy.url,
            dynamodb_table,
            "4.5",
            env=environment,
            stderr=subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        await runner.cleanup()
    assert process.returncode == 0, stderr.decode()
    used = [seen.access_key for seen in checking_proxy.seen]
    assert used[0] == "ASIATEMPORARY1"
    assert len(set(used)) >= 2, "the credentials were never replaced"
    assert used == sorted(used, key=issued.index)  # never back to an older key
    assert all(seen.signature_valid for seen in checking_proxy.seen)
    assert {seen.token for seen in checking_proxy.seen} <= {f"token-{n}" for n in range(1, len(issued) + 1)}


# -- the server killed under load, then back ----------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKEND_NAMES)
async def test_calls_fail_fast_while_the_server_is_down_and_succeed_once_it_is_back(
    backend: str, tmp_path: Path
) -> None:
    server = DynaliteServer(path=tmp_path / "data")
    await asyncio.to_thread(server.start)
    restarted: DynaliteServer | None = None
    try:
        await create_table("sessions", endpoint_url=server.endpoint_url)
        async with DynamoDBStore(
            "sessions",
            backend=backend,
            endpoint_url=server.endpoint_url,
            options=ClientOptions(connect_timeout=0.5, read_timeout=1.0, max_attempts=2),
        ) as store:
            await store.set(SID, {"count": 1})
            load = [asyncio.ensure_future(store.get(SID)) for _ in range(16)]
            await asyncio.to_thread(server.kill)
            outcomes = await asyncio.gather(*load, return_exceptions=True)
            assert all(o == {"count": 1} or isinstance(o, StoreUnavailableError) for o in outcomes), outcomes
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError):
                await store.set(SID, {"count": 2})
            assert time.monotonic() - started < 2 * (0.5 + 1.0) + 1.0 + 1.5
            restarted = DynaliteServer(port=server.port, path=tmp_path / "data")
            await asyncio.to_thread(restarted.start)
            assert await store.get(SID) == {"count": 1}
            await store.set(SID, {"count": 3})
            assert await store.get(SID) == {"count": 3}
    finally:
        await asyncio.to_thread(server.stop)
        if restarted is not None:
            await asyncio.to_thread(restarted.stop)


# -- proxies from the environment, only when asked ------------------------------------------------------------------


@pytest.mark.parametrize("trust_env", [False, True])
async def test_an_environment_proxy_is_used_only_with_trust_env(
    checking_proxy: CheckingProxy,
    dynamodb_endpoint: str,
    dynamodb_table: str,
    monkeypatch: pytest.MonkeyPatch,
    trust_env: bool,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", checking_proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    options = ClientOptions(trust_env=trust_env)
    async with DynamoDBStore(
        dynamodb_table, backend="aiohttp", endpoint_url=dynamodb_endpoint, options=options
    ) as store:
        await store.set(SID, {"user": "ada"})
        assert await store.get(SID) == {"user": "ada"}
    assert [seen.operation for seen in checking_proxy.seen] == (["PutItem", "GetItem"] if trust_env else [])
    assert all(seen.signature_valid for seen in checking_proxy.seen)
