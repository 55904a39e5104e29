"""The aiohttp backend's SigV4 signature is botocore's, byte for byte, for fixed clocks and credentials."""

from __future__ import annotations

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tornado_dynasession.backends.sigv4 import Signer, amz_date, canonical_host

CLOCKS = [0, 1_700_000_000, 1_767_225_599, 1_767_225_600]  # the epoch, 2023, the last second of 2025, then 2026
BODIES = [
    b"",
    b'{"TableName":"sessions","Key":{"SessionID":{"S":"abc"}},"ConsistentRead":true}',
    '{"Item":{"Session":{"S":"{\\"name\\":\\"Zoë 🎉 日本\\"}"}}}'.encode(),
    b'{"Item":{"Session":{"S":"' + b"x" * 300_000 + b'"}}}',
]
ENDPOINTS = [
    ("https", "dynamodb.eu-west-1.amazonaws.com", None),
    ("https", "dynamodb.eu-west-1.amazonaws.com", 443),
    ("http", "127.0.0.1", 8000),
    ("http", "localhost", 80),
]


def botocore_headers(
    url: str, region: str, target: str, body: bytes, timestamp: str, key: str, secret: str, token: str | None
) -> dict[str, str]:
    """What botocore's SigV4Auth produces for the same request, taking the steps of ``add_auth`` with a fixed
    timestamp in place of the clock."""
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target},
    )
    auth = SigV4Auth(Credentials(key, secret, token), "dynamodb", region)
    request.context["timestamp"] = timestamp
    auth._modify_request_before_signing(request)
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    auth._inject_signature_to_request(request, signature)
    return dict(request.headers.items())


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEJr//////////wEaDOQ+session/token=="])
@pytest.mark.parametrize("body", BODIES, ids=["empty", "get", "unicode", "large"])
@pytest.mark.parametrize("clock", CLOCKS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e[0]}-{e[1]}-{e[2]}")
def test_the_signature_matches_botocore_byte_for_byte(
    endpoint: tuple[str, str, int | None], clock: int, body: bytes, token: str | None
) -> None:
    scheme, host, port = endpoint
    url = f"{scheme}://{host}" + (f":{port}" if port is not None else "") + "/"
    timestamp = amz_date(clock)
    target = "DynamoDB_20120810.GetItem"
    region = "eu-west-1"
    ours = Signer(canonical_host(scheme, host, port), region).headers(
        target, body, timestamp, access_key="AKIDEXAMPLE", secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCY", token=token
    )
    theirs = botocore_headers(
        url, region, target, body, timestamp, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCY", token
    )
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"]
    assert ours.get("X-Amz-Security-Token") == theirs.get("X-Amz-Security-Token")


def test_a_cached_signing_key_is_not_reused_across_days_or_keys() -> None:
    signer = Signer("dynamodb.us-east-1.amazonaws.com", "us-east-1")
    body = b"{}"
    target = "DynamoDB_20120810.PutItem"
    url = "https://dynamodb.us-east-1.amazonaws.com/"
    for clock, secret in [(1_767_225_599, "one"), (1_767_225_600, "one"), (1_767_225_600, "two")]:
        timestamp = amz_date(clock)
        ours = signer.headers(target, body, timestamp, access_key="AKID", secret_key=secret, token=None)
        theirs = botocore_headers(url, "us-east-1", target, body, timestamp, "AKID", secret, None)
        assert ours["Authorization"] == theirs["Authorization"]


def test_the_host_header_keeps_only_a_non_default_port() -> None:
    assert canonical_host("https", "example.com", 443) == "example.com"
    assert canonical_host("http", "example.com", 80) == "example.com"
    assert canonical_host("http", "127.0.0.1", 8000) == "127.0.0.1:8000"
    assert canonical_host("https", "example.com", 8443) == "example.com:8443"
