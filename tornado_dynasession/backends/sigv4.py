"""AWS Signature Version 4 for DynamoDB's JSON protocol: POST to ``/`` with no query string.

The signature is the one botocore's ``SigV4Auth`` computes for the same request, byte for byte; what makes it
cheap is that the derived signing key is cached per date, region and service, and that the canonical request of a
POST to ``/`` has only a few parts that change per call.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

__all__ = ["Signer", "amz_date", "canonical_host"]

_ALGORITHM = "AWS4-HMAC-SHA256"


def canonical_host(scheme: str, host: str, port: int | None) -> str:
    """The ``Host`` header a signature covers: the host, with the port unless it is the scheme's default."""
    if port is None or (scheme == "https" and port == 443) or (scheme == "http" and port == 80):
        return host
    return f"{host}:{port}"


def amz_date(epoch_seconds: float) -> str:
    """``X-Amz-Date`` for a time in epoch seconds: ``YYYYMMDDTHHMMSSZ`` in UTC."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch_seconds))


@dataclass(frozen=True, slots=True)
class _Key:
    access_key: str
    secret_key: str
    date: str
    signing_key: bytes


class Signer:
    """Signs requests to one host for one region and service.

    :param host: the ``Host`` header value (see :func:`canonical_host`).
    :param region: the AWS region, e.g. ``eu-west-1``.
    :param service: the signing name, ``dynamodb``.
    """

    __slots__ = ("_host", "_key", "_region", "_scope_tail", "_service")

    def __init__(self, host: str, region: str, service: str = "dynamodb") -> None:
        self._host = host
        self._region = region
        self._service = service
        self._scope_tail = f"/{region}/{service}/aws4_request"
        self._key: _Key | None = None

    def _signing_key(self, access_key: str, secret_key: str, date: str) -> _Key:
        key = self._key
        if key is not None and key.date == date and key.access_key == access_key and key.secret_key == secret_key:
            return key
        k_date = hmac.digest(f"AWS4{secret_key}".encode(), date.encode(), "sha256")
        k_region = hmac.digest(k_date, self._region.encode(), "sha256")
        k_service = hmac.digest(k_region, self._service.encode(), "sha256")
        signing = hmac.digest(k_service, b"aws4_request", "sha256")
        key = self._key = _Key(access_key, secret_key, date, signing)
        return key

    def headers(
        self,
        target: str,
        body: bytes,
        timestamp: str,
        *,
        access_key: str,
        secret_key: str,
        token: str | None,
        content_type: str = "application/x-amz-json-1.0",
    ) -> dict[str, str]:
        """The headers of a signed POST to ``/``: ``Content-Type``, ``Host``, ``X-Amz-Date``, ``X-Amz-Target``,
        ``X-Amz-Security-Token`` with a session token, and ``Authorization``.

        :param target: the ``X-Amz-Target`` value, e.g. ``DynamoDB_20120810.GetItem``.
        :param body: the exact bytes that will be sent.
        :param timestamp: ``X-Amz-Date`` (see :func:`amz_date`).
        """
        date = timestamp[:8]
        key = self._signing_key(access_key, secret_key, date)
        if token:
            canonical_headers = (
                f"content-type:{content_type}\nhost:{self._host}\nx-amz-date:{timestamp}\n"
                f"x-amz-security-token:{token}\nx-amz-target:{target}\n"
            )
            signed = "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
        else:
            canonical_headers = (
                f"content-type:{content_type}\nhost:{self._host}\nx-amz-date:{timestamp}\nx-amz-target:{target}\n"
            )
            signed = "content-type;host;x-amz-date;x-amz-target"
        canonical_request = f"POST\n/\n\n{canonical_headers}\n{signed}\n{hashlib.sha256(body).hexdigest()}"
        scope = date + self._scope_tail
        string_to_sign = f"{_ALGORITHM}\n{timestamp}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
        signature = hmac.new(key.signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": content_type,
            "Host": self._host,
            "X-Amz-Date": timestamp,
            "X-Amz-Target": target,
            "Authorization": f"{_ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed}, "
            f"Signature={signature}",
        }
        if token:
            headers["X-Amz-Security-Token"] = token
        return headers
