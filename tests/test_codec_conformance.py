"""One rule for every JSON codec: what is stored reads back equal, with the same types; anything else is refused.

One table of values, applied to OrjsonCodec, JsonCodec and the wrappers around the default codec. Each row either
round-trips (equal, and the same type at every level) or is rejected with a CodecError naming where the value is
(``session["cart"][2]``) and what it is. A second table holds raw JSON texts: both decoders accept or refuse each one
alike, so that what one codec reads the other reads too.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import importlib.util
import math
import re
import types
import uuid
from typing import Any

import orjson
import pytest

from tornado_dynasession import Codec, CodecError, CompressedCodec, EncryptedCodec, JsonCodec, OrjsonCodec

CODECS: list[Any] = [
    pytest.param(OrjsonCodec(), id="orjson"),
    pytest.param(JsonCodec(), id="json"),
    pytest.param(CompressedCodec(), id="compressed"),
]
if importlib.util.find_spec("cryptography") is not None:
    CODECS.append(pytest.param(EncryptedCodec(keys=[EncryptedCodec.generate_key()]), id="encrypted"))

INT_MIN, INT_MAX = -(2**63), 2**64 - 1
MAX_DEPTH = 254  # containers, the session itself being the first


def nested_lists(levels: int) -> list[Any]:
    """``levels`` lists, one inside the other, the innermost empty."""
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


class Colour(enum.IntEnum):
    RED = 1


class Flavour(str, enum.Enum):
    VANILLA = "vanilla"


class Name(str):
    pass


class Count(int):
    pass


class Ratio(float):
    pass


class Items(list[Any]):
    pass


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Widget:
    pass


def contains_itself() -> dict[str, Any]:
    session: dict[str, Any] = {"user": "ada"}
    session["me"] = session
    return session


def reads_back(value: dict[str, Any], id: str) -> Any:
    """A row whose value reads back equal, with the same types."""
    return pytest.param(value, None, id=id)


def rejected(value: Any, message: str, id: str) -> Any:
    """A row whose value is refused with a CodecError containing ``message`` (the path, then what it is)."""
    return pytest.param(value, message, id=id)


STORE_ONLY = "Store only dicts with str keys, lists, str, int (64-bit), finite float, bool and None"

TABLE = [
    # -- read back equal, with the same types ---------------------------------------------------------------------
    reads_back({}, "an_empty_session_reads_back"),
    reads_back({"a": {}, "b": [], "c": ""}, "empty_containers_and_the_empty_string_read_back"),
    reads_back(
        {"name": "Zoë 🍪 会话", "nul": "\x00", "separators": "\u2028\u2029", "émoji 🍪": "key"},
        "unicode_text_and_keys_read_back",
    ),
    reads_back({"t": True, "f": False, "n": None, "one": 1, "real": 1.0}, "bool_none_int_and_float_stay_apart"),
    reads_back({"mixed": [True, 1, 1.0, "1", None, [1], {"1": 1}]}, "a_list_keeps_each_item_s_type"),
    reads_back({"min": INT_MIN, "max": INT_MAX}, "the_64_bit_edges_read_back"),
    reads_back({"edges": [INT_MIN + 1, 2**63 - 1, 2**63, INT_MAX - 1]}, "ints_around_the_signed_edge_read_back"),
    reads_back({"zero": 0, "minus": -1, "beyond_js": 2**53 + 1}, "small_and_53_bit_ints_read_back"),
    reads_back(
        {"floats": [0.0, -0.0, 0.1, 1e-7, 2.5e-05, 1e16, 1e19, -1e19, 5e-324, 1.7976931348623157e308]},
        "finite_floats_read_back_exactly",
    ),
    reads_back({"cart": [{"sku": "x1", "qty": 2, "price": 9.99}], "user": {"id": 7}}, "a_nested_cart_reads_back"),
    reads_back({"deep": nested_lists(MAX_DEPTH - 1)}, "nesting_254_levels_deep_reads_back"),
    reads_back(
        {"rows": [{"sku": f"item-{i % 50}", "qty": i, "price": i / 4} for i in range(2000)]},
        "a_large_session_reads_back_even_compressed",
    ),
    # -- rejected, naming the path and the type -------------------------------------------------------------------
    rejected(
        {"cart": ["a", "b", datetime.datetime(2024, 5, 1, 12, 0)]},
        'session["cart"][2] is a datetime, which does not read back as itself',
        "a_datetime_is_rejected_naming_its_path",
    ),
    rejected({"day": datetime.date(2024, 5, 1)}, 'session["day"] is a date,', "a_date_is_rejected"),
    rejected({"x": math.nan}, 'session["x"] is the float nan', "nan_is_rejected_naming_the_value"),
    rejected({"x": math.inf}, 'session["x"] is the float inf', "infinity_is_rejected_naming_the_value"),
    rejected({"x": [-math.inf]}, 'session["x"][0] is the float -inf', "minus_infinity_is_rejected_naming_the_value"),
    rejected({"n": 2**64}, 'session["n"] is the int 18446744073709551616,', "an_int_of_2_to_the_64_is_rejected"),
    rejected(
        {"n": INT_MIN - 1},
        'session["n"] is the int -9223372036854775809,',
        "an_int_below_minus_2_to_the_63_is_rejected",
    ),
    rejected({"n": 2**1000}, 'session["n"] is the int of 1001 bits,', "a_huge_int_is_rejected_without_printing_it"),
    rejected({1: "x"}, "session has a key of type int (1)", "a_non_str_key_at_the_top_is_rejected"),
    rejected(
        {"prefs": {"theme": "dark", 1: "x"}},
        'session["prefs"] has a key of type int (1)',
        "a_nested_int_key_is_rejected",
    ),
    rejected({"a": [{True: 1}]}, 'session["a"][0] has a key of type bool (True)', "a_bool_key_is_rejected"),
    rejected({(1, 2): 1}, "session has a key of type tuple ((1, 2))", "a_tuple_key_is_rejected"),
    rejected({"x": {Flavour.VANILLA: 1}}, 'session["x"] has a key of type Flavour', "a_str_enum_key_is_rejected"),
    rejected({"point": (1, 2)}, 'session["point"] is a tuple, which would read back as a list', "a_tuple_is_rejected"),
    rejected({"tags": {"a"}}, 'session["tags"] is a set,', "a_set_is_rejected"),
    rejected({"tags": frozenset()}, 'session["tags"] is a frozenset,', "a_frozenset_is_rejected"),
    rejected({"blob": b"raw"}, 'session["blob"] is a bytes,', "bytes_are_rejected"),
    rejected({"blob": bytearray(b"raw")}, 'session["blob"] is a bytearray,', "a_bytearray_is_rejected"),
    rejected({"price": decimal.Decimal("9.99")}, 'session["price"] is a Decimal,', "a_decimal_is_rejected"),
    rejected({"id": uuid.UUID(int=1)}, 'session["id"] is a UUID,', "a_uuid_is_rejected"),
    rejected(
        {"colour": Colour.RED},
        'session["colour"] is a Colour (a subclass of int), which would read back as a plain int',
        "an_int_enum_is_rejected",
    ),
    rejected(
        {"flavour": Flavour.VANILLA},
        'session["flavour"] is a Flavour (a subclass of str), which would read back as a plain str',
        "a_str_enum_is_rejected",
    ),
    rejected({"name": Name("ada")}, 'session["name"] is a Name (a subclass of str)', "a_str_subclass_is_rejected"),
    rejected({"n": Count(1)}, 'session["n"] is a Count (a subclass of int)', "an_int_subclass_is_rejected"),
    rejected({"r": Ratio(0.5)}, 'session["r"] is a Ratio (a subclass of float)', "a_float_subclass_is_rejected"),
    rejected({"l": Items()}, 'session["l"] is an Items (a subclass of list)', "a_list_subclass_is_rejected"),
    rejected(
        {"prefs": collections.OrderedDict(a=1)},
        'session["prefs"] is an OrderedDict (a subclass of dict), which would read back as a plain dict',
        "a_nested_dict_subclass_is_rejected",
    ),
    rejected({"p": Point(1, 2)}, 'session["p"] is a Point,', "a_dataclass_is_rejected"),
    rejected({"w": [{"x": Widget()}]}, 'session["w"][0]["x"] is a Widget,', "an_object_is_rejected_naming_its_path"),
    rejected({"o": object()}, 'session["o"] is an object,', "a_bare_object_is_rejected"),
    rejected({"z": 1j}, 'session["z"] is a complex,', "a_complex_number_is_rejected"),
    rejected({"text": "ab\ud800"}, 'session["text"] is a str with a lone surrogate', "a_lone_surrogate_is_rejected"),
    rejected(
        {"k": {"\udc00": 1}}, 'session["k"] has a str key with a lone surrogate', "a_lone_surrogate_key_is_rejected"
    ),
    rejected(
        {"deep": nested_lists(MAX_DEPTH)},
        'session["deep"][0][0][0][0][0][0][0][...] is a list at nesting level 255, deeper than the 254 levels',
        "nesting_deeper_than_254_levels_is_rejected",
    ),
    rejected(contains_itself(), 'session["me"]["me"]', "a_session_that_contains_itself_is_rejected"),
]


def assert_same_types(got: Any, expected: Any, path: str = "session") -> None:
    """``got`` equals ``expected`` with the exact same type at every level (and floats with the same sign)."""
    assert type(got) is type(expected), f"{path}: {type(got).__name__} is not {type(expected).__name__}"
    if isinstance(expected, dict):
        assert list(got) == list(expected), path
        for key, item in expected.items():
            assert type(key) is str
            assert_same_types(got[key], item, f"{path}[{key!r}]")
    elif isinstance(expected, list):
        assert len(got) == len(expected), path
        for index, item in enumerate(expected):
            assert_same_types(got[index], item, f"{path}[{index}]")
    elif isinstance(expected, float):
        assert repr(got) == repr(expected), path  # tells -0.0 from 0.0
    else:
        assert got == expected, path


@pytest.mark.parametrize(("value", "rejection"), TABLE)
@pytest.mark.parametrize("codec", CODECS)
def test_a_value_reads_back_equal_with_the_same_types_or_is_rejected_naming_its_path_and_type(
    codec: Codec, value: dict[Any, Any], rejection: str | None
) -> None:
    if rejection is None:
        decoded = codec.decode(codec.encode(value))
        assert decoded == value
        assert_same_types(decoded, value)
        return
    with pytest.raises(CodecError) as caught:
        codec.encode(value)
    message = str(caught.value)
    assert message.startswith("cannot encode the session: session")
    assert rejection in message
    assert "\n" not in message


ACCEPTED_VALUES = [param.values[0] for param in TABLE if param.values[1] is None]
REJECTED_VALUES = [param.values[0] for param in TABLE if param.values[1] is not None]


@pytest.mark.parametrize("value", ACCEPTED_VALUES, ids=[param.id for param in TABLE if param.values[1] is None])
def test_each_codec_reads_what_the_other_writes(value: dict[str, Any]) -> None:
    assert_same_types(JsonCodec().decode(OrjsonCodec().encode(value)), value)
    assert_same_types(OrjsonCodec().decode(JsonCodec().encode(value)), value)


@pytest.mark.parametrize("value", ACCEPTED_VALUES, ids=[param.id for param in TABLE if param.values[1] is None])
def test_both_codecs_write_the_same_text_but_for_the_spelling_of_small_floats(value: dict[str, Any]) -> None:
    orjson_text, json_text = OrjsonCodec().encode(value), JsonCodec().encode(value)
    if "floats" in value:  # 1e-07 (json) and 1e-7 (orjson), 2.5e-05 and 0.000025: the same floats
        assert orjson_text != json_text
        assert orjson.loads(orjson_text) == orjson.loads(json_text)
    else:
        assert orjson_text == json_text


@pytest.mark.parametrize("value", REJECTED_VALUES, ids=[param.id for param in TABLE if param.values[1] is not None])
def test_both_codecs_reject_a_value_with_the_same_message(value: dict[Any, Any]) -> None:
    messages = []
    for codec in (OrjsonCodec(), JsonCodec()):
        with pytest.raises(CodecError) as caught:
            codec.encode(value)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


def test_a_type_error_message_says_what_can_be_stored() -> None:
    with pytest.raises(CodecError, match=re.escape(STORE_ONLY)):
        OrjsonCodec().encode({"when": datetime.datetime(2024, 5, 1)})


def test_the_int_range_and_depth_limit_are_orjsons() -> None:
    orjson.dumps({"ints": [INT_MIN, INT_MAX], "deep": nested_lists(MAX_DEPTH - 1)})
    for beyond in ({"n": INT_MIN - 1}, {"n": INT_MAX + 1}, {"deep": nested_lists(MAX_DEPTH)}):
        with pytest.raises(orjson.JSONEncodeError):
            orjson.dumps(beyond)


@pytest.mark.parametrize("codec", CODECS)
def test_a_mapping_at_the_top_is_stored_and_reads_back_as_a_plain_dict(codec: Codec) -> None:
    for mapping in (collections.OrderedDict(user="ada"), types.MappingProxyType({"user": "ada"})):
        decoded = codec.decode(codec.encode(mapping))
        assert type(decoded) is dict
        assert decoded == {"user": "ada"}


@pytest.mark.parametrize("codec", CODECS)
def test_a_session_that_is_not_a_mapping_is_rejected(codec: Codec) -> None:
    with pytest.raises(CodecError, match="it is a list, not a dict"):
        codec.encode(["user"])  # type: ignore[arg-type]


# -- decoding: both decoders accept and refuse the same JSON texts ----------------------------------------------

REFUSED = None

RAW_TEXTS = [
    pytest.param('{"a":18446744073709551615}', {"a": INT_MAX}, id="the_largest_int_is_read"),
    pytest.param('{"a":-9223372036854775808}', {"a": INT_MIN}, id="the_smallest_int_is_read"),
    pytest.param('{"a":18446744073709551616}', {"a": 2.0**64}, id="an_int_beyond_64_bits_reads_as_a_float"),
    pytest.param('{"a":-9223372036854775809}', {"a": -(2.0**63)}, id="an_int_below_minus_2_to_the_63_reads_as_a_float"),
    pytest.param('{"a":[' + "9" * 300 + "]}", {"a": [float("9" * 300)]}, id="a_300_digit_int_reads_as_a_float"),
    pytest.param('{"a":' + "9" * 5000 + "}", REFUSED, id="a_5000_digit_int_is_refused"),
    pytest.param('{"a":1e19,"b":-1e19}', {"a": 1e19, "b": -1e19}, id="a_large_float_stays_a_float"),
    pytest.param('{"a":1.0,"b":1,"c":-0.0}', {"a": 1.0, "b": 1, "c": -0.0}, id="floats_and_ints_stay_apart"),
    pytest.param('{"a":1e-400}', {"a": 0.0}, id="an_underflowing_float_is_zero"),
    pytest.param('{"a":NaN}', REFUSED, id="a_nan_literal_is_refused"),
    pytest.param('{"a":Infinity}', REFUSED, id="an_infinity_literal_is_refused"),
    pytest.param('{"a":-Infinity}', REFUSED, id="a_minus_infinity_literal_is_refused"),
    pytest.param('{"a":1e400}', REFUSED, id="a_float_overflowing_to_infinity_is_refused"),
    pytest.param('{"a":-1e400}', REFUSED, id="a_float_overflowing_to_minus_infinity_is_refused"),
    pytest.param('{"a":"\\ud83c\\udf6a"}', {"a": "🍪"}, id="an_escaped_surrogate_pair_is_read"),
    # JavaScript strings may hold half a character, and JSON.stringify escapes it: read as U+FFFD, never refused.
    pytest.param('{"a":"\\ud800"}', {"a": "\ufffd"}, id="an_escaped_lone_surrogate_reads_as_the_replacement_char"),
    pytest.param('{"\\udc00":1}', {"\ufffd": 1}, id="an_escaped_lone_surrogate_key_reads_as_the_replacement_char"),
    pytest.param(b'{"a":["x\\ud83c!"]}', {"a": ["x\ufffd!"]}, id="an_escaped_lone_surrogate_in_utf8_bytes"),
    pytest.param('{"a":"\ud800"}', {"a": "\ufffd"}, id="a_lone_surrogate_in_the_text_reads_as_the_replacement_char"),
    pytest.param('{"a":"\\ud800",}', REFUSED, id="invalid_json_with_a_lone_surrogate_is_still_refused"),
    pytest.param('{"a":1,"a":2}', {"a": 2}, id="a_repeated_key_keeps_the_last_value"),
    pytest.param(' {"a":1} \n', {"a": 1}, id="surrounding_whitespace_is_read"),
    pytest.param('{"a":"Zoë"}'.encode(), {"a": "Zoë"}, id="utf8_bytes_are_read"),
    pytest.param(b'\xef\xbb\xbf{"a":1}', REFUSED, id="a_utf8_bom_is_refused"),
    pytest.param('\ufeff{"a":1}', REFUSED, id="a_bom_in_text_is_refused"),
    pytest.param('{"a":1}'.encode("utf-16"), REFUSED, id="utf16_bytes_are_refused"),
    pytest.param('{"a":1}'.encode("utf-32-le"), REFUSED, id="utf32_bytes_are_refused"),
    pytest.param(b'{"a":"\xff"}', REFUSED, id="invalid_utf8_is_refused"),
    pytest.param('{"a":"\x01"}', REFUSED, id="a_raw_control_character_is_refused"),
    pytest.param('{"a":01}', REFUSED, id="a_leading_zero_is_refused"),
    pytest.param('{"a":1}x', REFUSED, id="trailing_garbage_is_refused"),
    pytest.param("{'a':1}", REFUSED, id="single_quotes_are_refused"),
    pytest.param("[1,2]", REFUSED, id="a_list_is_refused"),
    pytest.param('{"d":' + "[" * 253 + "]" * 253 + "}", {"d": nested_lists(253)}, id="254_levels_are_read"),
    pytest.param('{"d":' + "[" * 254 + "]" * 254 + "}", {"d": nested_lists(254)}, id="255_levels_are_read"),
    pytest.param("[" * 5000 + "]" * 5000, REFUSED, id="5000_levels_are_refused"),
]


@pytest.mark.parametrize(("raw", "expected"), RAW_TEXTS)
def test_both_decoders_read_and_refuse_the_same_json_texts(raw: str | bytes, expected: dict[str, Any] | None) -> None:
    for codec in (OrjsonCodec(), JsonCodec(), CompressedCodec(), CompressedCodec(JsonCodec())):
        if expected is REFUSED:
            with pytest.raises(CodecError) as caught:
                codec.decode(raw)
            assert "\n" not in str(caught.value)
            assert str(caught.value).startswith("stored session ")
        else:
            assert_same_types(codec.decode(raw), expected)


@pytest.mark.parametrize("codec", [OrjsonCodec(), JsonCodec()], ids=["orjson", "json"])
def test_an_out_of_range_int_in_stored_json_reads_as_the_float_orjson_makes_of_it(codec: Codec) -> None:
    decoded = codec.decode('{"cart":[{"qty":1},{"qty":18446744073709551616}]}')
    assert_same_types(decoded, {"cart": [{"qty": 1}, {"qty": 18446744073709551616.0}]})
    assert_same_types(codec.decode(codec.encode(decoded)), decoded)  # and it can be saved again


@pytest.mark.parametrize("codec", [OrjsonCodec(), JsonCodec()], ids=["orjson", "json"])
def test_a_nan_literal_in_stored_json_is_not_valid_json(codec: Codec) -> None:
    with pytest.raises(CodecError, match="stored session is not valid JSON"):
        codec.decode('{"a":NaN}')
