"""The aiohttp transport: DynamoDB's JSON protocol over one keep-alive :class:`aiohttp.ClientSession`, signed here.

Everything but the request itself comes from botocore: the credential chain (aiobotocore's, refreshed without
blocking the event loop), the endpoint and region resolution, and the standard retry mode's decisions and backoff.
What this module adds is a request that costs little: an orjson body, SigV4 with the derived key cached per day
(:mod:`~tornado_dynasession.backends.sigv4`), and credentials re-checked at most once a second.
"""

from __future__ import annotations

import asyncio
import email.utils
import inspect
import platform
import time
import zlib
from collections.abc import Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from botocore.exceptions import HTTPClientError
from botocore.retries import standard

from ..errors import ConfigurationError
from . import ClientOptions
from .sigv4 import Signer, amz_date, canonical_host
from .transport import NO_CREDENTIALS, NO_REGION, ServiceError, Unreachable

if TYPE_CHECKING:
    from botocore.model import OperationModel

__all__ = ["AiohttpTransport", "open_transport"]

_TARGET_PREFIX = "DynamoDB_20120810."
_KEEPALIVE_SECONDS = 12.0  # aiobotocore's; idle connections are closed before a server does
_CREDENTIALS_RECHECK_SECONDS = 1.0
_SKEW_CODES = frozenset({"RequestTimeTooSkewed", "RequestExpired", "InvalidSignatureException"})


def _error_of(status: int, raw: bytes) -> tuple[str, str, dict[str, Any]]:
    """The code (without namespace), message and decoded body of an error answer."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        return f"HTTP{status}", raw[:200].decode(errors="replace"), {}
    code = str(body.get("__type") or f"HTTP{status}").rsplit("#", 1)[-1]
    return code, str(body.get("message") or body.get("Message") or ""), body


def _crc_matches(headers: Mapping[str, str], raw: bytes) -> bool:
    expected = headers.get("x-amz-crc32")
    if expected is None:
        return True
    try:
        return zlib.crc32(raw) & 0xFFFFFFFF == int(expected)
    except ValueError:
        return False


class _Credentials:
    """The current key pair and token: static, or from a botocore credential provider, re-checked at most once a
    second (taking a frozen copy is not free, and refreshable ones refresh well before expiry)."""

    __slots__ = ("_check_at", "_source", "current")

    def __init__(self, source: Any, static: tuple[str, str, str | None] | None) -> None:
        self._source = source
        self.current: tuple[str, str, str | None] = static or ("", "", None)
        self._check_at = float("inf") if static is not None else 0.0

    def due(self) -> bool:
        return time.monotonic() >= self._check_at

    async def refresh(self) -> None:
        try:
            frozen = await self._source.get_frozen_credentials()
        except Exception as exc:
            raise ConfigurationError(
                f"the AWS credentials could not be loaded or refreshed ({type(exc).__name__}: {exc}): check the "
                "profile, role or credential source the environment names"
            ) from exc
        self.current = (frozen.access_key, frozen.secret_key, frozen.token)
        refreshable = hasattr(self._source, "refresh_needed")
        self._check_at = time.monotonic() + _CREDENTIALS_RECHECK_SECONDS if refreshable else float("inf")


def _backoff() -> standard.ExponentialBackoff:
    """botocore's standard-mode backoff, as the installed botocore defines it: newer releases scale it for DynamoDB
    and for throttling (their ``service_name`` and ``throttling_detector``), older ones take neither."""
    accepted = inspect.signature(standard.ExponentialBackoff).parameters
    options: dict[str, Any] = {}
    if "service_name" in accepted:
        options["service_name"] = "dynamodb"
    if "throttling_detector" in accepted:
        options["throttling_detector"] = standard.ThrottlingErrorDetector(standard.RetryEventAdapter())
    return standard.ExponentialBackoff(**options)


class AiohttpTransport:
    """Signs and sends DynamoDB requests over one keep-alive aiohttp session, retrying as botocore's standard mode.

    Built by :func:`open_transport`; :meth:`close` closes the session. ``session`` must send
    ``Content-Type: application/x-amz-json-1.0`` on every request (the signature covers it).
    """

    binary_as_bytes = False

    def __init__(
        self,
        *,
        url: str,
        region: str,
        endpoint: str | None,
        credentials: _Credentials,
        session: aiohttp.ClientSession,
        operation_models: Mapping[str, OperationModel],
        max_attempts: int,
    ) -> None:
        parts = urlsplit(url)
        self.endpoint = endpoint
        """The endpoint the user configured (None: AWS's regional endpoint), for error messages."""
        self.url = url
        """Where requests go."""
        self.region = region
        """The region requests are signed for."""
        self._credentials = credentials
        self._session = session
        self._signer = Signer(canonical_host(parts.scheme, parts.hostname or "", parts.port), region)
        self._models = operation_models
        self._targets: dict[str, str] = {}
        self._skew = 0.0  # seconds to add to the local clock, learned from a server that refused a skewed request
        self._second = -1
        self._stamp = ""
        self._retry = standard.StandardRetryConditions(max_attempts=max_attempts)
        self._backoff = _backoff()

    def _timestamp(self) -> str:
        second = int(time.time() + self._skew)
        if second != self._second:
            self._second, self._stamp = second, amz_date(second)
        return self._stamp

    def _headers(self, target: str, body: bytes) -> dict[str, str]:
        access_key, secret_key, token = self._credentials.current
        return self._signer.headers(
            target, body, self._timestamp(), access_key=access_key, secret_key=secret_key, token=token
        )

    async def send(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Sign and send one request; retry what botocore's standard mode retries, then raise."""
        target = self._targets.get(operation)
        if target is None:
            target = self._targets[operation] = _TARGET_PREFIX + operation
        body = orjson.dumps(payload)
        attempt = 1
        skew_corrected = False
        while True:
            if self._credentials.due():
                await self._credentials.refresh()
            try:
                async with self._session.post(self.url, data=body, headers=self._headers(target, body)) as response:
                    raw = await response.read()
                    status, headers = response.status, response.headers
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                failure = HTTPClientError(error=exc)
                if await self._may_retry(operation, attempt, caught_exception=failure):
                    attempt += 1
                    continue
                raise Unreachable(f"{type(exc).__name__}: {exc}".rstrip(": "), attempts=attempt) from exc
            if status == 200 and _crc_matches(headers, raw):
                answer: dict[str, Any] = orjson.loads(raw)
                return answer
            http = SimpleNamespace(status_code=status, headers=headers, content=raw)
            if status == 200:  # a body damaged on the way: retried as botocore retries it, else no answer at all
                if await self._may_retry(operation, attempt, http_response=http):
                    attempt += 1
                    continue
                raise Unreachable("the answer's x-amz-crc32 does not match its body", attempts=attempt)
            code, message, error = _error_of(status, raw)
            if code in _SKEW_CODES and not skew_corrected and self._learn_skew(headers):
                skew_corrected = True
                continue
            parsed = {"Error": {"Code": code, "Message": message}}
            if await self._may_retry(operation, attempt, parsed_response=parsed, http_response=http):
                attempt += 1
                continue
            raise ServiceError(code, message, body=error, attempts=attempt, status=status)

    def _learn_skew(self, headers: Mapping[str, str]) -> bool:
        """Take the clock offset from the server's ``Date``; False when it has none or it changes nothing."""
        date = headers.get("Date")
        if date is None:
            return False
        try:
            server = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return False
        skew = server - time.time()
        if abs(skew - self._skew) < 1.0:
            return False
        self._skew = skew
        return True

    async def _may_retry(self, operation: str, attempt: int, **outcome: Any) -> bool:
        """Ask botocore's standard retry conditions; when they say yes, wait its backoff and return True."""
        context = standard.RetryContext(attempt_number=attempt, operation_model=self._models[operation], **outcome)
        if not self._retry.is_retryable(context):
            return False
        await asyncio.sleep(self._backoff.delay_amount(context))
        return True

    async def close(self) -> None:
        """Close the HTTP session and its connections."""
        await self._session.close()


def _user_agent() -> str:
    from .. import __version__

    return f"tornado_dynasession/{__version__} aiohttp/{aiohttp.__version__} Python/{platform.python_version()}"


async def open_transport(
    options: ClientOptions,
    *,
    endpoint_url: str | None,
    region_name: str | None,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
) -> AiohttpTransport:
    """Resolve the region, endpoint and credentials as botocore does, once, and open the HTTP session.

    Timeouts are in seconds, per attempt; ``options.trust_env`` takes proxies (``HTTPS_PROXY``, ...) and ``.netrc``
    from the environment; TLS certificates are always verified. Explicit keys win over the credential chain.
    """
    from botocore.exceptions import NoRegionError

    from .aiobotocore import client_config, shared_session

    session = shared_session()
    config = client_config(
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        max_attempts=options.max_attempts,
        max_pool_connections=1,
    )
    # A client made only to resolve the region and the endpoint (FIPS and dual-stack settings included) and to
    # load the operation models the retry rules read; it never sends a request.
    try:
        async with session.create_client(
            "dynamodb",
            config=config,
            endpoint_url=endpoint_url,
            region_name=region_name,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
        ) as client:
            url, region = client.meta.endpoint_url, client.meta.region_name
            model = client.meta.service_model
            models = {name: model.operation_model(name) for name in model.operation_names}
    except NoRegionError as exc:
        raise ConfigurationError(NO_REGION) from exc
    if aws_access_key_id and aws_secret_access_key:
        credentials = _Credentials(None, (aws_access_key_id, aws_secret_access_key, None))
    else:
        source = await session.get_credentials()
        if source is None:
            raise ConfigurationError(f"{NO_CREDENTIALS} (endpoint {endpoint_url or url})")
        credentials = _Credentials(source, None)
        await credentials.refresh()
    http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=options.max_pool_connections, keepalive_timeout=_KEEPALIVE_SECONDS),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=options.connect_timeout, sock_read=options.read_timeout),
        trust_env=options.trust_env,
        # What every request sends the same: set once here. aiohttp adds Host from the URL, as the signer expects.
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "User-Agent": _user_agent(),
            "Accept-Encoding": "identity",  # the CRC32 covers the bytes as sent
        },
    )
    return AiohttpTransport(
        url=url,
        region=region,
        endpoint=endpoint_url,
        credentials=credentials,
        session=http,
        operation_models=models,
        max_attempts=options.max_attempts,
    )
