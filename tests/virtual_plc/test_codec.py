"""Register encoding against an independent oracle (Python's struct), over every type."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import every_kind_tagmap
from virtual_plc.codec import ElementLayout, decode, decode_text, encode, encode_text, nan_sentinel, quantise
from virtual_plc.tagmap import Tag

STRUCT = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f", "float64": "d", "uint64": "Q"}
TAGMAP = every_kind_tagmap()
SCALARS = [t for t in TAGMAP.tags if t.length is None]


def oracle_words(tag: Tag, value: float) -> list[int]:
    """Registers a Modbus device holds for ``value``, by the spec, with struct."""
    scaled = value * tag.scale
    raw = scaled if tag.dtype.startswith("float") else int(round(scaled))
    data = struct.pack(">" + STRUCT[tag.dtype], raw)
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    return words[::-1] if tag.word_order == "little" else words


@st.composite
def tag_and_value(draw: st.DrawFn) -> tuple[Tag, float]:
    tag = draw(st.sampled_from(SCALARS))
    if tag.dtype.startswith("float"):
        value = draw(st.floats(tag.low, tag.high, allow_nan=False, width=32 if tag.dtype == "float32" else 64))
    else:  # integer types hold whole multiples of 1/scale
        value = draw(st.integers(math.ceil(tag.low * tag.scale), math.floor(tag.high * tag.scale))) / tag.scale
    return tag, value


@settings(max_examples=400, deadline=None)
@given(tag_and_value())
def test_encoding_matches_the_modbus_spec_and_decodes_back(case: tuple[Tag, float]) -> None:
    tag, value = case
    layout = ElementLayout([tag])
    image = {"holding": np.zeros(70000, np.uint16), "input": np.zeros(70000, np.uint16)}
    encode(layout, np.array([value]), image)
    stored = image[tag.table][tag.address : tag.address + tag.width].tolist()
    assert stored == oracle_words(tag, value)
    decoded = decode(layout, image)[0]
    assert decoded == quantise(tag, value)
    tolerance = 0.5 / tag.scale if not tag.dtype.startswith("float") else abs(value) * 1e-6
    assert abs(decoded - value) <= tolerance + 1e-12


def test_integer_nan_uses_the_sentinel_and_decodes_to_nan() -> None:
    for dtype in ("int16", "uint16", "int32", "uint32", "uint64"):
        tag = Tag(name=f"a.b.{dtype}", dtype=dtype, low=0, high=10, period_ms=10, address=0, opcua_node="x")
        image = {"holding": np.zeros(8, np.uint16), "input": np.zeros(8, np.uint16)}
        layout = ElementLayout([tag])
        encode(layout, np.array([np.nan]), image)
        words = image["holding"][: tag.width]
        raw = int.from_bytes(b"".join(int(w).to_bytes(2, "big") for w in words), "big", signed=dtype.startswith("int"))
        assert raw == nan_sentinel(dtype)
        assert math.isnan(decode(layout, image)[0])


def test_out_of_type_values_saturate_without_hitting_the_sentinel() -> None:
    tag = Tag(name="a.b.c", dtype="int16", low=-10, high=10, period_ms=10, address=0, opcua_node="x")
    assert quantise(tag, 1e9) == 32767
    assert quantise(tag, -1e9) == -32767  # -32768 is reserved for "no value"


# ----------------------------------------------------------------------- every type, both byte orders
ALL_STRUCT = {**STRUCT, "int8": "b", "uint8": "B", "int64": "q"}


@st.composite
def any_numeric_tag(draw: st.DrawFn) -> tuple[Tag, float]:
    dtype = draw(st.sampled_from(["bool", *sorted(ALL_STRUCT)]))
    tag = Tag(name="a.b.c", dtype=dtype, period_ms=10, address=draw(st.integers(0, 100)),
              word_order=draw(st.sampled_from(["big", "little"])), byte_order=draw(st.sampled_from(["big", "little"])))
    if dtype == "bool":
        return tag, float(draw(st.booleans()))
    if dtype.startswith("float"):
        return tag, draw(st.floats(-1e6, 1e6, allow_nan=False, width=32 if dtype == "float32" else 64))
    info = np.iinfo(np.dtype(dtype))
    sentinel = nan_sentinel(dtype)
    return tag, float(draw(st.integers(max(int(info.min), -2**53), min(int(info.max), 2**53)).filter(
        lambda v: v != sentinel)))


def any_oracle_words(tag: Tag, value: float) -> list[int]:
    """Registers for ``value`` by the Modbus convention: big-endian bytes, a byte type in the low byte,
    word order then byte order applied as the tag says."""
    if tag.dtype == "bool":
        return [int(value)]
    data = struct.pack(">" + ALL_STRUCT[tag.dtype], value if tag.dtype.startswith("float") else int(value))
    if len(data) == 1:
        data = b"\0" + data
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if tag.word_order == "little":
        words = words[::-1]
    if tag.byte_order == "little":
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    return words


@settings(max_examples=400, deadline=None)
@given(any_numeric_tag())
def test_every_numeric_type_in_either_byte_and_word_order_matches_struct(case: tuple[Tag, float]) -> None:
    tag, value = case
    image = {t: np.zeros(200, np.uint16) for t in ("holding", "input", "coil", "discrete")}
    layout = ElementLayout([tag])
    encode(layout, np.array([value]), image)
    assert image["holding"][tag.address : tag.address + tag.width].tolist() == any_oracle_words(tag, value)
    assert decode(layout, image)[0] == quantise(tag, value)


@given(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12).map(str.rstrip),
       st.sampled_from(["big", "little"]))
def test_strings_round_trip_through_registers(text: str, byte_order: str) -> None:
    tag = Tag(name="a.b.recipe", dtype="string", chars=12, byte_order=byte_order, period_ms=10, address=0)
    words = encode_text(tag, text)
    assert len(words) == tag.width == 6
    assert decode_text(tag, words) == text


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)))
def test_datetimes_round_trip_to_the_millisecond(moment: datetime) -> None:
    tag = Tag(name="a.b.changed", dtype="datetime", period_ms=10, address=0, word_order="little")
    moment = moment.replace(tzinfo=UTC, microsecond=moment.microsecond // 1000 * 1000)
    assert decode_text(tag, encode_text(tag, moment.isoformat())) == moment.isoformat(timespec="milliseconds")


def test_coils_hold_one_bit_per_tag_and_text_tags_are_not_elements() -> None:
    coil = Tag(name="a.b.run", dtype="bool", table="coil", period_ms=10, address=7)
    image = {t: np.zeros(16, np.uint16) for t in ("holding", "input", "coil", "discrete")}
    encode(ElementLayout([coil]), np.array([1.0]), image)
    assert image["coil"].tolist() == [0] * 7 + [1] + [0] * 8
    text = Tag(name="a.b.recipe", dtype="string", period_ms=10, address=0)
    with pytest.raises(ValueError, match="decode_text"):
        ElementLayout([text])
