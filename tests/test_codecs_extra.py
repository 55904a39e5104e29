"""EncryptedCodec and CompressedCodec, through a real store on a real DynamoDB-compatible server, on both backends.

What is stored is always checked with a plain aiobotocore client (``raw``), never through the store.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

import orjson
import pytest

from tornado_dynasession import (
    Codec,
    CodecError,
    CompressedCodec,
    ConfigurationError,
    DynamoDBStore,
    EncryptedCodec,
    JsonCodec,
    OrjsonCodec,
)
from tornado_dynasession.codecs import KeyBoundCodec
from tornado_dynasession.codecs.compressed import _zstd_module

from .support import open_raw_client

StoreFactory = Callable[..., Awaitable[DynamoDBStore]]

SID = "codec-test-session-id-0123456789abcdefghij"
OLD_KEY = bytes(range(32))
NEW_KEY = hashlib.sha256(b"the new key").digest()
SECRET_DATA = {"user": "alice", "card": "4111-1111-1111-1111", "note": "très secret"}
BIG_REPETITIVE = {"rows": [{"sku": f"item-{i % 50}", "qty": 1, "note": "same text again"} for i in range(2000)]}
"""About 100 KB of JSON that compresses well, like a cart or a cached listing."""


class Raw:
    """Plain DynamoDB calls on the test's table, bypassing the store."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    async def get(self, store: DynamoDBStore, sid: str = SID) -> dict[str, Any] | None:
        key = {"SessionID": {"S": store.key_for(sid)}}
        item: dict[str, Any] | None = (
            await self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True)
        ).get("Item")
        return item

    async def session_attribute(self, store: DynamoDBStore, sid: str = SID) -> tuple[str, Any]:
        """The stored ``Session`` attribute as (DynamoDB type, value)."""
        item = await self.get(store, sid)
        assert item is not None
        ((kind, value),) = item["Session"].items()
        return kind, value

    async def replace_session(self, store: DynamoDBStore, value: dict[str, Any], sid: str = SID) -> None:
        """Overwrite the stored ``Session`` attribute, e.g. ``{"B": b"..."}``, leaving the rest of the item."""
        item = await self.get(store, sid)
        assert item is not None
        item["Session"] = value
        await self.client.put_item(TableName=self.table, Item=item)


@pytest.fixture
async def raw(dynamodb_endpoint: str, dynamodb_table: str) -> AsyncIterator[Raw]:
    async with open_raw_client(dynamodb_endpoint) as client:
        yield Raw(client, dynamodb_table)


def corrupt_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "corrupt" in r.getMessage()]


def b64url(key: bytes, *, padded: bool) -> str:
    text = base64.urlsafe_b64encode(key).decode()
    return text if padded else text.rstrip("=")


# -- EncryptedCodec ------------------------------------------------------------------------------------------------


async def test_encrypted_session_round_trips_through_the_store(make_store: StoreFactory) -> None:
    store = await make_store(codec=EncryptedCodec(keys=[NEW_KEY]))
    await store.set(SID, SECRET_DATA)
    assert await store.get(SID) == SECRET_DATA


async def test_encrypted_session_is_stored_as_binary_without_any_plaintext(make_store: StoreFactory, raw: Raw) -> None:
    store = await make_store(codec=EncryptedCodec(keys=[NEW_KEY]))
    await store.set(SID, SECRET_DATA)
    kind, value = await raw.session_attribute(store)
    assert kind == "B"
    for fragment in ("alice", "4111", "très".encode(), "user", "card"):
        assert (fragment if isinstance(fragment, bytes) else fragment.encode()) not in value


async def test_each_write_of_the_same_session_is_encrypted_with_a_fresh_nonce(
    make_store: StoreFactory, raw: Raw
) -> None:
    store = await make_store(codec=EncryptedCodec(keys=[NEW_KEY]))
    await store.set(SID, SECRET_DATA)
    _, first = await raw.session_attribute(store)
    await store.set(SID, SECRET_DATA)
    _, second = await raw.session_attribute(store)
    assert first != second


async def test_a_session_encrypted_with_an_older_listed_key_still_decrypts(make_store: StoreFactory) -> None:
    before_rotation = await make_store(codec=EncryptedCodec(keys=[OLD_KEY]))
    await before_rotation.set(SID, SECRET_DATA)
    after_rotation = await make_store(codec=EncryptedCodec(keys=[NEW_KEY, OLD_KEY]))
    assert await after_rotation.get(SID) == SECRET_DATA


async def test_sessions_are_written_with_the_first_key(make_store: StoreFactory) -> None:
    rotated = await make_store(codec=EncryptedCodec(keys=[NEW_KEY, OLD_KEY]))
    await rotated.set(SID, SECRET_DATA)
    new_key_only = await make_store(codec=EncryptedCodec(keys=[NEW_KEY]))
    assert await new_key_only.get(SID) == SECRET_DATA


async def test_a_session_encrypted_with_a_removed_key_is_absent_and_logged(
    make_store: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    await (await make_store(codec=EncryptedCodec(keys=[OLD_KEY]))).set(SID, SECRET_DATA)
    old_key_removed = await make_store(codec=EncryptedCodec(keys=[NEW_KEY]))
    with caplog.at_level(logging.WARNING, logger="tornado_dynasession"):
        assert await old_key_removed.get(SID) is None
    (warning,) = corrupt_warnings(caplog)
    assert hashlib.sha256(OLD_KEY).digest()[:4].hex() in warning  # names the missing key by its id, not the key


def _flip(value: bytes, index: int) -> bytes:
    return value[:index] + bytes([value[index] ^ 0x01]) + value[index + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda v: {"B": _flip(v, len(v) // 2)}, id="ciphertext-bit-flipped"),
        pytest.param(lambda v: {"B": _flip(v, len(v) - 1)}, id="tag-bit-flipped"),
        pytest.param(lambda v: {"B": _flip(v, 10)}, id="nonce-bit-flipped"),
        pytest.param(lambda v: {"B": v[:1] + hashlib.sha256(OLD_KEY).digest()[:4] + v[5:]}, id="other-listed-key-id"),
        pytest.param(lambda v: {"B": b"\x03" + v[1:]}, id="unknown-format-version"),
        pytest.param(lambda v: {"B": v[:-20]}, id="truncated"),
        pytest.param(lambda v: {"B": v[:8]}, id="truncated-to-the-header"),
        pytest.param(lambda v: {"S": orjson.dumps(SECRET_DATA).decode()}, id="plaintext-json-text"),
        pytest.param(lambda v: {"B": orjson.dumps(SECRET_DATA)}, id="plaintext-json-bytes"),
    ],
)
async def test_an_encrypted_session_that_fails_authentication_is_absent_and_logged(
    make_store: StoreFactory, raw: Raw, caplog: pytest.LogCaptureFixture, tamper: Callable[[bytes], dict[str, Any]]
) -> None:
    store = await make_store(codec=EncryptedCodec(keys=[NEW_KEY, OLD_KEY]))
    await store.set(SID, SECRET_DATA)
    _, value = await raw.session_attribute(store)
    await raw.replace_session(store, tamper(value))
    with caplog.at_level(logging.WARNING, logger="tornado_dynasession"):
        assert await store.get(SID) is None
    assert len(corrupt_warnings(caplog)) == 1


async def test_a_key_as_padded_or_unpadded_base64url_text_equals_the_same_key_as_bytes(
    make_store: StoreFactory,
) -> None:
    await (await make_store(codec=EncryptedCodec(keys=[NEW_KEY]))).set(SID, SECRET_DATA)
    for text in (b64url(NEW_KEY, padded=True), b64url(NEW_KEY, padded=False)):
        reader = await make_store(codec=EncryptedCodec(keys=[text]))
        assert await reader.get(SID) == SECRET_DATA


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        pytest.param([], "at least one key", id="no-keys"),
        pytest.param(NEW_KEY, "a list of keys", id="a-single-bytes-key-not-in-a-list"),
        pytest.param(b64url(NEW_KEY, padded=False), "a list of keys", id="a-single-str-key-not-in-a-list"),
        pytest.param([b"too short"], "16, 24 or 32 bytes", id="wrong-length-bytes"),
        pytest.param([b64url(b"x" * 20, padded=False)], "16, 24 or 32 bytes", id="wrong-length-text"),
        pytest.param(["not base64url!"], "not base64url", id="not-base64url"),
        pytest.param([NEW_KEY, 42], "key #1 is int", id="wrong-type"),
        pytest.param([NEW_KEY, b64url(NEW_KEY, padded=False)], "key #1 repeats key #0", id="repeated-key"),
    ],
)
def test_invalid_keys_are_rejected_at_construction(keys: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        EncryptedCodec(keys=keys)


def test_generated_keys_are_random_256_bit_base64url_keys() -> None:
    first, second = EncryptedCodec.generate_key(), EncryptedCodec.generate_key()
    assert first != second
    assert len(base64.urlsafe_b64decode(first + "=")) == 32
    EncryptedCodec(keys=[first, second])


def test_the_codec_repr_shows_key_ids_and_never_the_keys() -> None:
    text = repr(EncryptedCodec(keys=[NEW_KEY]))
    assert hashlib.sha256(NEW_KEY).digest()[:4].hex() in text
    assert NEW_KEY.hex() not in text and b64url(NEW_KEY, padded=False) not in text


def test_without_cryptography_the_codec_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.ciphers.aead", None)
    with pytest.raises(ConfigurationError, match=r'pip install "tornado_dynasession\[crypto\]"'):
        EncryptedCodec(keys=[NEW_KEY])


def test_the_package_and_compressed_codec_work_without_cryptography() -> None:
    program = (
        "import sys; sys.modules['cryptography'] = None\n"
        "from tornado_dynasession import CompressedCodec, ConfigurationError, DynamoDBStore, EncryptedCodec\n"
        "DynamoDBStore('sessions', endpoint_url='http://127.0.0.1:1', codec=CompressedCodec())\n"
        "try:\n    EncryptedCodec(keys=[b'k' * 32])\nexcept ConfigurationError as exc:\n    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True)
    assert "tornado_dynasession[crypto]" in result.stdout


# -- CompressedCodec -----------------------------------------------------------------------------------------------

ALGORITHMS = [
    pytest.param("zlib", id="zlib"),
    pytest.param("zstd", id="zstd"),
]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_a_large_session_is_stored_compressed_in_a_fraction_of_the_bytes(
    make_store: StoreFactory, raw: Raw, algorithm: Literal["zlib", "zstd"]
) -> None:
    plain_size = len(orjson.dumps(BIG_REPETITIVE))
    assert 95_000 < plain_size < 110_000
    store = await make_store(codec=CompressedCodec(OrjsonCodec(), algorithm=algorithm))
    await store.set(SID, BIG_REPETITIVE)
    kind, value = await raw.session_attribute(store)
    assert kind == "B"
    assert len(value) < plain_size / 20
    assert await store.get(SID) == BIG_REPETITIVE


async def test_a_session_below_the_threshold_is_stored_as_plain_json_text(make_store: StoreFactory, raw: Raw) -> None:
    store = await make_store(codec=CompressedCodec(OrjsonCodec(), min_size_bytes=1024))
    small = {"user": "alice", "padding": "y" * 900}  # compressible, but under 1024 bytes
    await store.set(SID, small)
    assert await raw.session_attribute(store) == ("S", orjson.dumps(small).decode())
    assert await store.get(SID) == small


async def test_sessions_written_by_the_plain_codec_still_read_after_switching_to_compression(
    make_store: StoreFactory,
) -> None:
    plain = await make_store(codec=OrjsonCodec())
    await plain.set("small-" + SID, SECRET_DATA)
    await plain.set("large-" + SID, BIG_REPETITIVE)
    compressed = await make_store(codec=CompressedCodec(OrjsonCodec()))
    assert await compressed.get("small-" + SID) == SECRET_DATA
    assert await compressed.get("large-" + SID) == BIG_REPETITIVE


async def test_a_session_decompressing_beyond_the_cap_is_absent_and_logged(
    make_store: StoreFactory, raw: Raw, caplog: pytest.LogCaptureFixture
) -> None:
    bomb = {"blob": " " * (5 * 1024 * 1024)}  # 5 MiB that compresses to a few KB
    writer = await make_store(codec=CompressedCodec(OrjsonCodec(), max_decompressed_bytes=8 * 1024 * 1024))
    await writer.set(SID, bomb)
    _, value = await raw.session_attribute(writer)
    assert len(value) < 64 * 1024
    reader = await make_store(codec=CompressedCodec(OrjsonCodec()))  # the default cap: 4 MiB
    with caplog.at_level(logging.WARNING, logger="tornado_dynasession"):
        assert await reader.get(SID) is None
    (warning,) = corrupt_warnings(caplog)
    assert "max_decompressed_bytes" in warning


async def test_a_session_over_the_cap_is_refused_at_encode_and_nothing_is_written(
    make_store: StoreFactory, raw: Raw
) -> None:
    store = await make_store(codec=CompressedCodec(OrjsonCodec(), max_decompressed_bytes=64 * 1024))
    with pytest.raises(CodecError, match="max_decompressed_bytes"):
        await store.set(SID, BIG_REPETITIVE)
    assert await raw.get(store) is None


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda v: v[: len(v) // 2], id="truncated"),
        pytest.param(lambda v: v[:1] + b"\x00" * (len(v) - 1), id="zeroed"),
        pytest.param(lambda v: v + b"trailing", id="trailing-bytes"),
    ],
)
async def test_a_corrupt_compressed_session_is_absent_and_logged(
    make_store: StoreFactory, raw: Raw, caplog: pytest.LogCaptureFixture, tamper: Callable[[bytes], bytes]
) -> None:
    store = await make_store(codec=CompressedCodec(OrjsonCodec(), algorithm="zlib"))
    await store.set(SID, BIG_REPETITIVE)
    _, value = await raw.session_attribute(store)
    await raw.replace_session(store, {"B": tamper(value)})
    with caplog.at_level(logging.WARNING, logger="tornado_dynasession"):
        assert await store.get(SID) is None
    assert len(corrupt_warnings(caplog)) == 1


async def test_compressed_then_encrypted_sessions_round_trip_small_and_unreadable(
    make_store: StoreFactory, raw: Raw
) -> None:
    store = await make_store(codec=EncryptedCodec(CompressedCodec(OrjsonCodec()), keys=[NEW_KEY]))
    await store.set(SID, BIG_REPETITIVE)
    kind, value = await raw.session_attribute(store)
    assert kind == "B" and len(value) < len(orjson.dumps(BIG_REPETITIVE)) / 20
    assert b"item-1" not in value
    assert await store.get(SID) == BIG_REPETITIVE


def test_zstd_without_zstd_installed_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "compression.zstd", None)
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(ConfigurationError, match=r"tornado_dynasession\[zstd\]"):
        CompressedCodec(algorithm="zstd")


def test_the_default_algorithm_is_zlib_even_where_zstd_is_installed() -> None:
    assert _zstd_module() is not None  # the dev extra installs zstandard
    assert CompressedCodec().algorithm == "zlib"  # every host of a mixed fleet can read what it writes


def test_algorithm_none_picks_zstd_where_installed_and_zlib_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    assert CompressedCodec(algorithm=None).algorithm == "zstd"
    monkeypatch.setitem(sys.modules, "compression.zstd", None)
    monkeypatch.setitem(sys.modules, "zstandard", None)
    assert CompressedCodec(algorithm=None).algorithm == "zlib"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"min_size_bytes": -1}, "min_size_bytes", id="negative-threshold"),
        pytest.param({"max_decompressed_bytes": 100, "min_size_bytes": 1024}, "below min_size_bytes", id="cap-too-low"),
        pytest.param({"algorithm": "brotli"}, "algorithm", id="unknown-algorithm"),
        pytest.param({"algorithm": "zlib", "level": 12}, "level", id="zlib-level-out-of-range"),
    ],
)
def test_invalid_compression_options_are_rejected_at_construction(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        CompressedCodec(OrjsonCodec(), **options)


def test_binary_output_of_a_wrapped_codec_round_trips_whatever_its_first_byte() -> None:
    class Opaque:
        """A binary codec whose output may start with any byte, including CompressedCodec's header bytes."""

        def __init__(self, prefix: bytes) -> None:
            self.prefix = prefix

        def encode(self, data: Any) -> bytes:
            return self.prefix + orjson.dumps(data)

        def decode(self, raw: str | bytes) -> dict[str, Any]:
            assert isinstance(raw, bytes) and raw.startswith(self.prefix)
            result: dict[str, Any] = orjson.loads(raw[len(self.prefix) :])
            return result

    for first in range(256):
        codec = CompressedCodec(Opaque(bytes([first]) + os.urandom(3)))
        for data in (SECRET_DATA, BIG_REPETITIVE):
            assert codec.decode(codec.encode(data)) == data


# -- EncryptedCodec bound to the item's hash key (KeyBoundCodec) -----------------------------------------------------

ITEM_A = "q1XvJ4dNwq6m2c0y7ZtUo8b9s3K5eRj1aP0gHf2LxWc"  # what store.key_for(sid) looks like with hash_ids=True
ITEM_B = "Zk3m9PqR2sT5uV8wX1yA4bC7dE0fG6hJ9kL2mN5pQ8r"


def test_a_bound_value_decodes_for_its_own_item_and_is_refused_for_another() -> None:
    codec = EncryptedCodec(keys=[NEW_KEY])
    value = codec.encode_for(ITEM_A, SECRET_DATA)
    assert value[0] == 2
    assert codec.decode_for(ITEM_A, value) == SECRET_DATA
    with pytest.raises(CodecError, match="copied from another item"):
        codec.decode_for(ITEM_B, value)


@pytest.mark.parametrize(
    ("written_for", "read_for"),
    [
        pytest.param("abc", "abcd", id="a-prefix-of-the-other"),
        pytest.param("abcd", "abc", id="an-extension-of-the-other"),
        pytest.param("a", "", id="empty"),
        pytest.param("é", "e\u0301", id="same-text-other-code-points"),
        pytest.param("\x00abc", "abc", id="leading-nul"),
    ],
)
def test_the_binding_tells_apart_keys_that_share_bytes(written_for: str, read_for: str) -> None:
    codec = EncryptedCodec(keys=[NEW_KEY])
    value = codec.encode_for(written_for, SECRET_DATA)
    assert codec.decode_for(written_for, value) == SECRET_DATA
    with pytest.raises(CodecError, match="fails authentication"):
        codec.decode_for(read_for, value)


def test_an_unbound_version_1_value_still_decodes_for_any_item() -> None:
    codec = EncryptedCodec(keys=[NEW_KEY])
    value = codec.encode(SECRET_DATA)
    assert value[0] == 1
    assert codec.decode(value) == SECRET_DATA
    for key in (ITEM_A, ITEM_B, "any-other-key"):
        assert codec.decode_for(key, value) == SECRET_DATA


def test_plain_decode_refuses_a_bound_value_and_names_decode_for() -> None:
    codec = EncryptedCodec(keys=[NEW_KEY])
    with pytest.raises(CodecError, match=r"version 2, which is bound to its item: read it with decode_for") as caught:
        codec.decode(codec.encode_for(ITEM_A, SECRET_DATA))
    assert "\n" not in str(caught.value)


def test_an_unbound_value_relabelled_as_bound_fails_authentication() -> None:
    codec = EncryptedCodec(keys=[NEW_KEY])
    value = codec.encode(SECRET_DATA)
    for key in (ITEM_A, ""):
        with pytest.raises(CodecError, match="fails authentication"):
            codec.decode_for(key, b"\x02" + value[1:])


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        pytest.param(lambda v: b"\x01" + v[1:], "fails authentication", id="relabelled-as-version-1"),
        pytest.param(lambda v: b"\x03" + v[1:], "reads versions 1 and 2", id="unknown-format-version"),
        pytest.param(lambda v: b"\x00" + v[1:], "reads versions 1 and 2", id="version-0"),
        pytest.param(lambda v: _flip(v, 2), "not among the configured keys", id="key-id-bit-flipped"),
        pytest.param(
            lambda v: v[:1] + hashlib.sha256(OLD_KEY).digest()[:4] + v[5:],
            "fails authentication",
            id="other-listed-key-id",
        ),
        pytest.param(lambda v: _flip(v, 10), "fails authentication", id="nonce-bit-flipped"),
        pytest.param(lambda v: _flip(v, len(v) // 2), "fails authentication", id="ciphertext-bit-flipped"),
        pytest.param(lambda v: _flip(v, len(v) - 1), "fails authentication", id="tag-bit-flipped"),
        pytest.param(lambda v: v[:-20], "fails authentication", id="truncated"),
        pytest.param(lambda v: v[:-1], "fails authentication", id="truncated-by-one-byte"),
        pytest.param(lambda v: v[:8], "too short", id="truncated-to-the-header"),
        pytest.param(lambda v: v[:33], "too short", id="truncated-to-header-and-tag"),
        pytest.param(lambda v: b"", "too short", id="empty"),
        pytest.param(lambda v: v + b"\x00", "fails authentication", id="trailing-byte"),
        pytest.param(lambda v: v.hex(), "not the binary value", id="stored-as-text"),
    ],
)
def test_a_tampered_bound_value_raises_a_one_line_codec_error(tamper: Callable[[bytes], Any], message: str) -> None:
    codec = EncryptedCodec(keys=[NEW_KEY, OLD_KEY])
    value = codec.encode_for(ITEM_A, SECRET_DATA)
    with pytest.raises(CodecError, match=message) as caught:
        codec.decode_for(ITEM_A, tamper(value))
    assert "\n" not in str(caught.value)


def test_a_bound_value_under_a_key_that_is_not_listed_names_its_key_id() -> None:
    value = EncryptedCodec(keys=[OLD_KEY]).encode_for(ITEM_A, SECRET_DATA)
    with pytest.raises(CodecError, match=hashlib.sha256(OLD_KEY).digest()[:4].hex()):
        EncryptedCodec(keys=[NEW_KEY]).decode_for(ITEM_A, value)


def test_a_bound_value_written_with_the_old_key_decodes_after_rotation_and_stays_bound() -> None:
    value = EncryptedCodec(keys=[OLD_KEY]).encode_for(ITEM_A, SECRET_DATA)
    rotated = EncryptedCodec(keys=[NEW_KEY, OLD_KEY])
    assert rotated.decode_for(ITEM_A, value) == SECRET_DATA
    with pytest.raises(CodecError, match="copied from another item"):
        rotated.decode_for(ITEM_B, value)
    rewritten = rotated.encode_for(ITEM_A, SECRET_DATA)
    assert rewritten[1:5] == hashlib.sha256(NEW_KEY).digest()[:4]
    assert EncryptedCodec(keys=[NEW_KEY]).decode_for(ITEM_A, rewritten) == SECRET_DATA


def test_an_unbound_value_written_with_the_old_key_decodes_for_any_item_after_rotation() -> None:
    value = EncryptedCodec(keys=[OLD_KEY]).encode(SECRET_DATA)
    rotated = EncryptedCodec(keys=[NEW_KEY, OLD_KEY])
    assert rotated.decode_for(ITEM_A, value) == rotated.decode_for(ITEM_B, value) == SECRET_DATA


def test_errors_of_a_bound_value_never_quote_the_item_key_or_the_encryption_key() -> None:
    raw_sid = "a-raw-session-id-stored-as-is-with-hash_ids-False-xyz"  # with hash_ids=False the key is a live id
    codec = EncryptedCodec(keys=[NEW_KEY])
    value = codec.encode_for(raw_sid, SECRET_DATA)
    messages = []
    for key, raw in ((ITEM_A, value), (raw_sid, _flip(value, 30)), (raw_sid, value[:10]), ("\ud800" + raw_sid, value)):
        with pytest.raises(CodecError) as caught:
            codec.decode_for(key, raw)
        messages.append(str(caught.value))
    with pytest.raises(CodecError) as caught:
        codec.encode_for("\ud800" + raw_sid, SECRET_DATA)
    messages.append(str(caught.value))
    for text in messages:
        assert raw_sid not in text and ITEM_A not in text and "\ud800" not in text
        assert NEW_KEY.hex() not in text and b64url(NEW_KEY, padded=False) not in text


@pytest.mark.parametrize("key", [pytest.param(None, id="None"), pytest.param(b"bytes-key", id="bytes")])
def test_an_item_key_that_is_not_a_str_is_a_codec_error(key: Any) -> None:
    codec = EncryptedCodec(keys=[NEW_KEY])
    with pytest.raises(CodecError, match="key_for"):
        codec.encode_for(key, SECRET_DATA)
    with pytest.raises(CodecError, match="key_for"):
        codec.decode_for(key, codec.encode_for(ITEM_A, SECRET_DATA))


def test_a_compressed_inner_codec_round_trips_bound() -> None:
    codec = EncryptedCodec(CompressedCodec(OrjsonCodec()), keys=[NEW_KEY])
    value = codec.encode_for(ITEM_A, BIG_REPETITIVE)
    assert len(value) < len(orjson.dumps(BIG_REPETITIVE)) / 20
    assert codec.decode_for(ITEM_A, value) == BIG_REPETITIVE
    with pytest.raises(CodecError, match="copied from another item"):
        codec.decode_for(ITEM_B, value)


def test_a_key_bound_inner_codec_is_given_the_item_key_too() -> None:
    class Recording:
        """A key-bound inner codec that records which of its methods ran, and with which key."""

        def __init__(self) -> None:
            self.calls: list[tuple[str, str | None]] = []

        def encode(self, data: Any) -> bytes:
            self.calls.append(("encode", None))
            return orjson.dumps(data)

        def decode(self, raw: str | bytes) -> dict[str, Any]:
            self.calls.append(("decode", None))
            result: dict[str, Any] = orjson.loads(raw)
            return result

        def encode_for(self, key: str, data: Any) -> bytes:
            self.calls.append(("encode_for", key))
            return orjson.dumps(data)

        def decode_for(self, key: str, raw: str | bytes) -> dict[str, Any]:
            self.calls.append(("decode_for", key))
            result: dict[str, Any] = orjson.loads(raw)
            return result

    inner = Recording()
    codec = EncryptedCodec(inner, keys=[NEW_KEY])
    assert codec.decode_for(ITEM_A, codec.encode_for(ITEM_A, SECRET_DATA)) == SECRET_DATA
    assert codec.decode(codec.encode(SECRET_DATA)) == SECRET_DATA
    assert inner.calls == [("encode_for", ITEM_A), ("decode_for", ITEM_A), ("encode", None), ("decode", None)]


def test_encrypted_codec_is_a_key_bound_codec_and_the_json_codecs_are_not() -> None:
    assert isinstance(EncryptedCodec(keys=[NEW_KEY]), KeyBoundCodec)
    assert isinstance(EncryptedCodec(keys=[NEW_KEY]), Codec)
    for codec in (OrjsonCodec(), JsonCodec(), CompressedCodec()):
        assert not isinstance(codec, KeyBoundCodec)


# -- a wrapped codec that is not ours -------------------------------------------------------------------------------


class Broken:
    """A third-party codec that fails with its own exceptions instead of CodecError."""

    def encode(self, data: Any) -> str:
        raise TypeError("cannot serialize Widget")

    def decode(self, raw: str | bytes) -> dict[str, Any]:
        raise ValueError("unexpected token")


WRAPPERS = [
    pytest.param(lambda inner: CompressedCodec(inner, min_size_bytes=0), id="compressed"),
    pytest.param(lambda inner: EncryptedCodec(inner, keys=[NEW_KEY]), id="encrypted"),
]


@pytest.mark.parametrize("wrap", WRAPPERS)
def test_a_wrapped_codecs_own_encode_error_is_a_codec_error_with_its_cause(wrap: Callable[[Codec], Codec]) -> None:
    with pytest.raises(CodecError, match="Broken raised TypeError encoding the session") as raised:
        wrap(Broken()).encode(SECRET_DATA)
    assert isinstance(raised.value.__cause__, TypeError)


@pytest.mark.parametrize("wrap", WRAPPERS)
def test_a_wrapped_codecs_own_decode_error_is_a_codec_error_with_its_cause(wrap: Callable[[Codec], Codec]) -> None:
    stored = wrap(OrjsonCodec()).encode(SECRET_DATA)
    with pytest.raises(CodecError, match="Broken raised ValueError decoding the stored session") as raised:
        wrap(Broken()).decode(stored)
    assert isinstance(raised.value.__cause__, ValueError)


def test_a_bound_wrapped_codecs_own_error_is_a_codec_error_with_its_cause() -> None:
    codec = EncryptedCodec(Broken(), keys=[NEW_KEY])
    with pytest.raises(CodecError, match="TypeError") as raised:
        codec.encode_for(ITEM_A, SECRET_DATA)
    assert isinstance(raised.value.__cause__, TypeError)
    stored = EncryptedCodec(OrjsonCodec(), keys=[NEW_KEY]).encode_for(ITEM_A, SECRET_DATA)
    with pytest.raises(CodecError, match="ValueError") as raised:
        codec.decode_for(ITEM_A, stored)
    assert isinstance(raised.value.__cause__, ValueError)


async def test_saving_through_a_wrapped_codec_that_fails_its_own_way_raises_codec_error_and_writes_nothing(
    make_store: StoreFactory, raw: Raw
) -> None:
    store = await make_store(codec=CompressedCodec(Broken(), min_size_bytes=0))
    with pytest.raises(CodecError, match="Broken raised TypeError") as raised:
        await store.set(SID, SECRET_DATA)
    assert isinstance(raised.value.__cause__, TypeError)
    assert await raw.get(store) is None
