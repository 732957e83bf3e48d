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
from datetime import UTC, datetime

import numpy as np

from virtual_plc.tagmap import BIT_TABLES, REGISTER_WIDTH, TABLES, Tag, element_slices

_BIG_ENDIAN = {
    "int8": ">i1",
    "uint8": ">u1",
    "int16": ">i2",
    "uint16": ">u2",
    "int32": ">i4",
    "uint32": ">u4",
    "int64": ">i8",
    "uint64": ">u8",
    "float32": ">f4",
    "float64": ">f8",
}
_FLOAT_TYPES = {"float32", "float64"}
_BYTE_TYPES = {"int8", "uint8"}  # one byte, in the low byte of a register


def register_source(tag: Tag) -> str:
    """Where a tag's registers live: its table, or ``table@unit`` for a tag on its own unit id."""
    return tag.table if tag.unit_id is None else f"{tag.table}@{tag.unit_id}"


def parse_source(source: str) -> tuple[str, int | None]:
    """``(table, unit id or None)`` of a :func:`register_source` key."""
    table, _, unit = source.partition("@")
    return table, (int(unit) if unit else None)


def nan_sentinel(dtype: str) -> int | None:
    """Raw value that stands for "no value" in an integer type (None for floats, bools and text)."""
    if dtype not in _BIG_ENDIAN or dtype in _FLOAT_TYPES:
        return None
    info = np.iinfo(np.dtype(_BIG_ENDIAN[dtype]))
    return int(info.min) if info.min < 0 else int(info.max)


def value_range(dtype: str) -> tuple[int, int] | None:
    """The raw values an integer type can carry, its "no value" sentinel left out (None for other types).

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
    """Elements sharing data type, word order, byte order and register source (table, unit)."""

    dtype: str
    little: bool
    swap: bool  # bytes swapped inside each register
    table: str  # a register_source key
    scale: np.ndarray  # per element
    positions: np.ndarray  # element positions in the layout
    registers: np.ndarray  # (n, width) register addresses, most significant word first

    @property
    def bits(self) -> bool:
        """True for a coil or discrete-input group (one bit per element)."""
        return parse_source(self.table)[0] in BIT_TABLES


class ElementLayout:
    """Flat list of elements for a list of tags, and their register positions.

    ``names[i]`` is the historian name of element ``i`` (``tag`` or ``tag[k]``);
    ``slices[tag_name]`` selects a tag's elements in a value vector.
    """

    def __init__(self, tags: Sequence[Tag]) -> None:
        self.tags = list(tags)
        self.names, self.slices = element_slices(self.tags)
        keys: list[tuple[str, bool, bool, str]] = []
        scales, starts = [], []
        for tag in self.tags:
            if tag.address is None:
                raise ValueError(f"tag {tag.name} has no Modbus address; allocate the tag map first")
            if tag.is_text:
                raise ValueError(f"tag {tag.name} is a {tag.dtype} tag: read it with decode_text, not as numbers")
            key = (tag.dtype, tag.word_order == "little", tag.byte_order == "little", register_source(tag))
            for k in range(tag.elements):
                keys.append(key)
                scales.append(tag.scale)
                starts.append(tag.address + k * tag.width)
        self.size = len(self.names)
        self.groups = _make_groups(keys, np.array(scales), np.array(starts, dtype=np.int64))

    def register_extent(self) -> dict[str, int]:
        """Number of registers (bits) each register source needs to hold every element."""
        extent = {t: 0 for t in TABLES}
        for g in self.groups:
            if len(g.registers):
                extent[g.table] = max(extent.get(g.table, 0), int(g.registers.max()) + 1)
        return extent


def _make_groups(keys: list[tuple[str, bool, bool, str]], scales: np.ndarray, starts: np.ndarray) -> list[_Group]:
    groups = []
    for key in sorted(set(keys)):
        dtype, is_little, swap, table = key
        positions = np.array([i for i, k in enumerate(keys) if k == key], dtype=np.int64)
        width = REGISTER_WIDTH[dtype]
        registers = starts[positions][:, None] + np.arange(width)[None, :]
        groups.append(_Group(dtype, is_little, swap, table, scales[positions], positions, registers))
    return groups


def encode(layout: ElementLayout, values: np.ndarray, image: dict[str, np.ndarray]) -> None:
    """Write ``values`` (one per element, engineering units) into the register ``image``."""
    for g in layout.groups:
        image[g.table][g.registers] = to_words(g.dtype, values[g.positions] * g.scale, little=g.little, swap=g.swap)


def decode(layout: ElementLayout, image: dict[str, np.ndarray]) -> np.ndarray:
    """Read every element of ``layout`` from the register ``image``, in engineering units."""
    out = np.empty(layout.size, dtype=np.float64)
    for g in layout.groups:
        out[g.positions] = from_words(g.dtype, image[g.table][g.registers], little=g.little, swap=g.swap) / g.scale
    return out


def tag_words(tag: Tag, value: float) -> np.ndarray:
    """The register words (bits, in a bit table) that hold engineering ``value`` for scalar ``tag``."""
    return to_words(tag.dtype, np.array([value * tag.scale]), little=tag.word_order == "little",
                    swap=tag.byte_order == "little")[0]


def tag_value(tag: Tag, words: np.ndarray) -> float:
    """The engineering value of scalar ``tag`` held in its register ``words``."""
    raw = from_words(tag.dtype, np.asarray(words, dtype=np.uint16).reshape(1, -1), little=tag.word_order == "little",
                     swap=tag.byte_order == "little")
    return float(raw[0] / tag.scale)


def decode_text(tag: Tag, words: np.ndarray) -> str | None:
    """The text a ``string`` or ``datetime`` tag holds in its registers (None: the "no value" sentinel).

    A string is ASCII, two characters per register, trailing NULs and spaces dropped; a datetime is an
    int64 of ms since the epoch, shown as ISO 8601 UTC.

    >>> from virtual_plc.tagmap import Tag
    >>> tag = Tag(name="l.a.recipe", dtype="string", chars=6, period_ms=100, address=0)
    >>> decode_text(tag, encode_text(tag, "AB-12"))
    'AB-12'
    """
    words = np.asarray(words, dtype=np.uint16)
    if tag.byte_order == "little":
        words = words.byteswap()
    if tag.dtype == "datetime":
        ms = from_words("int64", words.reshape(1, -1), little=tag.word_order == "little")[0]
        return None if np.isnan(ms) else _iso_utc(int(ms))
    raw = words.astype(">u2").tobytes()
    return raw.split(b"\0", 1)[0].decode("latin-1").rstrip()


def encode_text(tag: Tag, text: str) -> np.ndarray:
    """Register words holding ``text`` for a ``string`` tag (truncated to its width) or an ISO ``datetime``."""
    if tag.dtype == "datetime":
        ms = datetime.fromisoformat(text).timestamp() * 1000
        words = to_words("int64", np.array([ms]), little=tag.word_order == "little")[0]
    else:
        raw = text.encode("latin-1")[: 2 * tag.width].ljust(2 * tag.width, b"\0")
        words = np.frombuffer(raw, dtype=">u2").astype(np.uint16)
    return words.byteswap() if tag.byte_order == "little" else words


def _iso_utc(ms: int) -> str:
    """ISO 8601 UTC text of ``ms`` since the epoch, to the millisecond."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def to_words(dtype: str, scaled: np.ndarray, *, little: bool, swap: bool = False) -> np.ndarray:
    """Scaled values -> ``(n, width)`` uint16 words in wire order (``swap``: bytes swapped in each word)."""
    width = REGISTER_WIDTH[dtype]
    if dtype == "bool":
        return (np.nan_to_num(scaled) >= 0.5).astype(np.uint16).reshape(-1, 1)
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
    if dtype in _BYTE_TYPES:  # the byte goes in the low byte of its register
        words = raw.view(np.uint8).astype(np.uint16).reshape(-1, 1)
    else:
        words = np.frombuffer(raw.tobytes(), dtype=">u2").reshape(-1, width).astype(np.uint16)
    if little:
        words = words[:, ::-1]
    return words.byteswap() if swap else words


def from_words(dtype: str, words: np.ndarray, *, little: bool, swap: bool = False) -> np.ndarray:
    """``(n, width)`` uint16 words in wire order -> scaled values (float64, NaN for sentinels)."""
    if swap:
        words = words.byteswap()
    if dtype == "bool":
        return (words[:, 0] != 0).astype(np.float64)
    if little:
        words = words[:, ::-1]
    if dtype in _BYTE_TYPES:
        raw = (words[:, 0] & 0xFF).astype(np.uint8).view(_BIG_ENDIAN[dtype])
    else:
        raw = np.frombuffer(np.ascontiguousarray(words, dtype=">u2").tobytes(), dtype=_BIG_ENDIAN[dtype])
    values = raw.astype(np.float64)
    sentinel = nan_sentinel(dtype)
    if sentinel is not None:
        values[raw == sentinel] = np.nan
    return values


def quantise(tag: Tag, value: float) -> float:
    """The engineering value a reader gets back after ``value`` went through ``tag``'s registers."""
    return tag_value(tag, tag_words(tag, value))
