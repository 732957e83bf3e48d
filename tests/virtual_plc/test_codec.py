"""Register encoding against an independent oracle (Python's struct), over every type."""

from __future__ import annotations

import math
import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import every_kind_tagmap
from virtual_plc.codec import ElementLayout, decode, encode, nan_sentinel, quantise
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
