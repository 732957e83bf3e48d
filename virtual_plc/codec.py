"""Vectorised register encoding: engineering values <-> Modbus register words.

The codec works on *elements*: a scalar tag is one element, an array tag of length n is n
elements. Elements of the same data type, word order and table are encoded and decoded
together with numpy, so a scan of 5,000 tags costs a handful of array operations, not
5,000 Python calls. Conventions (scale, word order, NaN sentinels) are documented in
:mod:`virtual_plc.tagmap`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from virtual_plc.tagmap import REGISTER_WIDTH, Tag, element_slices

_BIG_ENDIAN = {
    "int16": ">i2",
    "uint16": ">u2",
    "int32": ">i4",
    "uint32": ">u4",
    "float32": ">f4",
    "float64": ">f8",
    "uint64": ">u8",
}
_FLOAT_TYPES = {"float32", "float64"}
TABLES = ("holding", "input")


def nan_sentinel(dtype: str) -> int | None:
    """Raw value that stands for "no value" in an integer type (None for floats)."""
    if dtype in _FLOAT_TYPES:
        return None
    info = np.iinfo(np.dtype(_BIG_ENDIAN[dtype]))
    return int(info.min) if info.min < 0 else int(info.max)


def value_range(dtype: str) -> tuple[int, int] | None:
    """The raw values an integer type can carry, its "no value" sentinel left out (None for floats).

    >>> value_range("int16"), value_range("uint16"), value_range("float32")
    ((-32767, 32767), (0, 65534), None)
    """
    sentinel = nan_sentinel(dtype)
    if sentinel is None:
        return None
    info = np.iinfo(np.dtype(_BIG_ENDIAN[dtype]))
    low, high = int(info.min), int(info.max)
    return (low + 1, high) if sentinel == low else (low, high - 1)


@dataclass(frozen=True)
class _Group:
    """Elements sharing data type, word order and table."""

    dtype: str
    little: bool
    table: str
    scale: np.ndarray  # per element
    positions: np.ndarray  # element positions in the layout
    registers: np.ndarray  # (n, width) register addresses, most significant word first


class ElementLayout:
    """Flat list of elements for a list of tags, and their register positions.

    ``names[i]`` is the historian name of element ``i`` (``tag`` or ``tag[k]``);
    ``slices[tag_name]`` selects a tag's elements in a value vector.
    """

    def __init__(self, tags: Sequence[Tag]) -> None:
        self.tags = list(tags)
        self.names, self.slices = element_slices(self.tags)
        dtypes, little, tables, scales, starts = [], [], [], [], []
        for tag in self.tags:
            if tag.address is None:
                raise ValueError(f"tag {tag.name} has no Modbus address; allocate the tag map first")
            for k in range(tag.elements):
                dtypes.append(tag.dtype)
                little.append(tag.word_order == "little")
                tables.append(tag.table)
                scales.append(tag.scale)
                starts.append(tag.address + k * tag.width)
        self.size = len(self.names)
        self.groups = _make_groups(dtypes, little, tables, np.array(scales), np.array(starts, dtype=np.int64))

    def register_extent(self) -> dict[str, int]:
        """Number of registers each table needs to hold every element."""
        extent = {t: 0 for t in TABLES}
        for g in self.groups:
            if len(g.registers):
                extent[g.table] = max(extent[g.table], int(g.registers.max()) + 1)
        return extent


def _make_groups(
    dtypes: list[str], little: list[bool], tables: list[str], scales: np.ndarray, starts: np.ndarray
) -> list[_Group]:
    keys = sorted(set(zip(dtypes, little, tables)))
    groups = []
    for dtype, is_little, table in keys:
        positions = np.array(
            [i for i, k in enumerate(zip(dtypes, little, tables)) if k == (dtype, is_little, table)],
            dtype=np.int64,
        )
        width = REGISTER_WIDTH[dtype]
        registers = starts[positions][:, None] + np.arange(width)[None, :]
        groups.append(_Group(dtype, is_little, table, scales[positions], positions, registers))
    return groups


def encode(layout: ElementLayout, values: np.ndarray, image: dict[str, np.ndarray]) -> None:
    """Write ``values`` (one per element, engineering units) into the register ``image``."""
    for g in layout.groups:
        words = to_words(g.dtype, values[g.positions] * g.scale, little=g.little)
        image[g.table][g.registers] = words


def decode(layout: ElementLayout, image: dict[str, np.ndarray]) -> np.ndarray:
    """Read every element of ``layout`` from the register ``image``, in engineering units."""
    out = np.empty(layout.size, dtype=np.float64)
    for g in layout.groups:
        out[g.positions] = from_words(g.dtype, image[g.table][g.registers], little=g.little) / g.scale
    return out


def to_words(dtype: str, scaled: np.ndarray, *, little: bool) -> np.ndarray:
    """Scaled values -> ``(n, width)`` uint16 words in wire order."""
    width = REGISTER_WIDTH[dtype]
    if dtype in _FLOAT_TYPES:
        raw = scaled.astype(_BIG_ENDIAN[dtype])
    else:
        info = np.iinfo(np.dtype(_BIG_ENDIAN[dtype]))
        # saturate just inside the sentinel, like an analog card at the end of its span;
        # float bounds must stay representable (2**64 - 1 is not a float64)
        lo, hi = (info.min + 1, info.max) if info.min < 0 else (info.min, info.max - 1)
        hi_float = float(hi) if float(hi) <= hi else float(np.nextafter(float(hi), 0.0))
        finite = np.isfinite(scaled)
        rounded = np.clip(np.rint(np.where(finite, scaled, 0.0)), float(lo), hi_float)
        raw = rounded.astype(_BIG_ENDIAN[dtype])
        raw[~finite] = nan_sentinel(dtype)
    words = np.frombuffer(raw.tobytes(), dtype=">u2").reshape(-1, width).astype(np.uint16)
    return words[:, ::-1] if little else words


def from_words(dtype: str, words: np.ndarray, *, little: bool) -> np.ndarray:
    """``(n, width)`` uint16 words in wire order -> scaled values (float64, NaN for sentinels)."""
    if little:
        words = words[:, ::-1]
    raw = np.frombuffer(np.ascontiguousarray(words, dtype=">u2").tobytes(), dtype=_BIG_ENDIAN[dtype])
    values = raw.astype(np.float64)
    sentinel = nan_sentinel(dtype)
    if sentinel is not None:
        values[raw == sentinel] = np.nan
    return values


def quantise(tag: Tag, value: float) -> float:
    """The engineering value a reader gets back after ``value`` went through ``tag``'s registers."""
    words = to_words(tag.dtype, np.array([value * tag.scale]), little=tag.word_order == "little")
    return float(from_words(tag.dtype, words, little=tag.word_order == "little")[0] / tag.scale)
