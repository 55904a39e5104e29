"""The codecs: session dict <-> the ``Session`` attribute, with every failure reported as CodecError."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from tornado_dynasession import Codec, CodecError, JsonCodec, OrjsonCodec, SessionStoreError

CODECS = [OrjsonCodec(), JsonCodec()]
IDS = ["orjson", "json"]

DATA: dict[str, Any] = {
    "user": "ada",
    "name": "Zoë 🍪 会话",
    "n": 42,
    "big": 2**53,
    "ratio": 0.25,
    "ok": True,
    "nothing": None,
    "roles": ["admin", "dev"],
    "nested": {"cart": [{"sku": "x1", "qty": 2}], "empty": {}},
}


class Widget:
    pass


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
def test_a_session_round_trips(codec: Codec) -> None:
    assert codec.decode(codec.encode(DATA)) == DATA


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
def test_encode_produces_compact_json_text(codec: Codec) -> None:
    encoded = codec.encode({"user": "ada", "cart": [1, 2], "meta": {"a": None}})
    assert isinstance(encoded, str)
    assert encoded == '{"user":"ada","cart":[1,2],"meta":{"a":null}}'


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
def test_non_ascii_text_is_stored_as_is_not_escaped(codec: Codec) -> None:
    assert codec.encode({"name": "Zoë"}) == '{"name":"Zoë"}'


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
def test_the_output_is_standard_json(codec: Codec) -> None:
    encoded = codec.encode(DATA)
    assert isinstance(encoded, str)
    assert json.loads(encoded) == DATA


def test_both_codecs_write_the_same_text() -> None:
    data = {"user": "ada", "name": "Zoë", "n": [1, 2, {"x": None}], "ok": False}
    assert OrjsonCodec().encode(data) == JsonCodec().encode(data)


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
def test_decode_accepts_text_and_utf8_bytes(codec: Codec) -> None:
    assert codec.decode('{"name":"Zoë"}') == {"name": "Zoë"}
    assert codec.decode('{"name":"Zoë"}'.encode()) == {"name": "Zoë"}


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
@pytest.mark.parametrize("raw", ["{not json", "", '{"a": 1', b"\xff\xfe\x00garbage", "{'a': 1}"], ids=repr)
def test_decoding_invalid_json_raises_codec_error(codec: Codec, raw: str | bytes) -> None:
    with pytest.raises(CodecError) as caught:
        codec.decode(raw)
    assert caught.value.__cause__ is not None


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
@pytest.mark.parametrize(
    ("raw", "type_name"), [("[1, 2]", "list"), ("42", "int"), ("1.5", "float"), ('"ada"', "str"), ("null", "NoneType")]
)
def test_decoding_json_that_is_not_an_object_raises_codec_error_naming_the_type(
    codec: Codec, raw: str, type_name: str
) -> None:
    with pytest.raises(CodecError, match=type_name):
        codec.decode(raw)


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
@pytest.mark.parametrize(
    ("value", "type_name"),
    [({1, 2}, "a set"), (Widget(), "a Widget"), (b"raw bytes", "a bytes"), (object(), "an object")],
    ids=["set", "class instance", "bytes", "object"],
)
def test_encoding_an_unserializable_value_raises_codec_error_naming_its_path_and_type(
    codec: Codec, value: Any, type_name: str
) -> None:
    with pytest.raises(CodecError) as caught:
        codec.encode({"user": "ada", "bad": {"deep": [value]}})
    assert f'session["bad"]["deep"][0] is {type_name},' in str(caught.value)
    assert caught.value.__cause__ is not None


def test_codec_errors_are_session_store_errors() -> None:
    assert issubclass(CodecError, SessionStoreError)


def test_the_codec_protocol_is_runtime_checkable() -> None:
    class DuckCodec:
        def encode(self, data: Mapping[str, Any]) -> bytes:
            return b""

        def decode(self, raw: str | bytes) -> dict[str, Any]:
            return {}

    class HalfACodec:
        def encode(self, data: Mapping[str, Any]) -> str:
            return ""

    assert isinstance(OrjsonCodec(), Codec)
    assert isinstance(JsonCodec(), Codec)
    assert isinstance(DuckCodec(), Codec)
    assert not isinstance(HalfACodec(), Codec)
    assert not isinstance(object(), Codec)
