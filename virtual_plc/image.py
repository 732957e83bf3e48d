"""The PLC's process image: register memory, current values, and setpoint writes.

Both protocol servers serve this one image, so a value reads the same over Modbus and
OPC UA, and a write is validated in exactly one place (:meth:`ProcessImage.write_setpoint`
and :meth:`ProcessImage.write_registers`, which decodes and then calls it). A refused
write raises :class:`WriteRefused` carrying the reason; each server turns the reason into
its protocol's answer (a Modbus exception code, an OPC UA status code).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from virtual_plc.codec import ElementLayout, decode, encode, tag_value
from virtual_plc.tagmap import Tag, TagMap


class Refusal(StrEnum):
    """Why a write was refused."""

    OUT_OF_RANGE = "out_of_range"
    READ_ONLY = "read_only"
    UNKNOWN = "unknown_address"
    PARTIAL = "partial_tag"
    NOT_A_NUMBER = "not_a_number"


class WriteRefused(Exception):
    """A write the PLC refused; ``reason`` says why, the message names the tag and value."""

    def __init__(self, reason: Refusal, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass
class WriteLog:
    """Counts and the last refusals, for diagnostics and tests."""

    accepted: int = 0
    refused: int = 0
    last_refusals: list[str] = field(default_factory=list)

    def refuse(self, err: WriteRefused) -> None:
        """Record one refusal (keeps the last 20 messages)."""
        self.refused += 1
        self.last_refusals = (self.last_refusals + [str(err)])[-20:]


class ProcessImage:
    """Register memory for one tag map, plus the setpoints accepted so far."""

    def __init__(self, tagmap: TagMap) -> None:
        served = [t.name for t in tagmap.tags
                  if t.is_text or t.table not in ("holding", "input") or t.unit_id is not None]
        if served:
            raise ValueError(f"the virtual PLC serves numbers in holding and input registers of one unit; "
                             f"it cannot serve {', '.join(served[:5])}")
        self.tagmap = tagmap
        self.layout = ElementLayout(tagmap.tags)
        extent = self.layout.register_extent()
        self.registers = {table: np.zeros(max(n, 1), dtype=np.uint16) for table, n in extent.items()}
        self.log = WriteLog()
        self._layouts: dict[tuple[str, ...], ElementLayout] = {}
        self._pending: dict[str, float] = {}
        # owner of each register, for decoding raw writes: (table, address) -> tag
        self._owner: dict[tuple[str, int], Tag] = {}
        for tag in tagmap.tags:
            for offset in range(tag.n_registers):
                self._owner[(tag.table, (tag.address or 0) + offset)] = tag

    # ------------------------------------------------------------------ layouts
    def layout_for(self, tags: Sequence[Tag]) -> ElementLayout:
        """A cached element layout for a subset of tags."""
        key = tuple(t.name for t in tags)
        if key not in self._layouts:
            self._layouts[key] = ElementLayout(tags)
        return self._layouts[key]

    # -------------------------------------------------------------- scan writes
    def store(self, layout: ElementLayout, values: np.ndarray) -> None:
        """Encode element ``values`` of ``layout`` into the registers (the PLC scan's write)."""
        encode(layout, values, self.registers)

    def load(self, layout: ElementLayout) -> np.ndarray:
        """Element values of ``layout`` as a reader sees them (decoded from the registers)."""
        return decode(layout, self.registers)

    def value(self, name: str) -> float | np.ndarray:
        """Decoded value of one tag: a float for a scalar, an array for an array tag."""
        tag = self.tagmap[name]
        values = self.load(self.layout_for([tag]))
        return values if tag.length is not None else float(values[0])

    # ---------------------------------------------------------------- setpoints
    def write_setpoint(self, name: str, value: float) -> float:
        """Validate and apply a client's write of engineering ``value`` to tag ``name``.

        Returns the stored value (after register quantisation). Raises
        :class:`WriteRefused` for an unknown tag, a read-only tag, a non-number or a
        value outside the engineering range; the previous setpoint is then kept.
        """
        try:
            tag = self.tagmap[name]
        except KeyError:
            raise self._refuse(Refusal.UNKNOWN, f"no tag named {name!r}") from None
        self._check_writable(tag, value)
        layout = self.layout_for([tag])
        self.store(layout, np.array([value], dtype=np.float64))
        stored = float(self.load(layout)[0])
        self._pending[name] = stored
        self.log.accepted += 1
        return stored

    def write_registers(self, table: str, address: int, words: Sequence[int]) -> list[tuple[str, float]]:
        """Validate and apply a raw Modbus register write; all or nothing.

        The write must cover whole tags (no half of a float32) and only read-write tags;
        every decoded value must be inside its range. Returns ``(tag, value)`` applied.
        """
        covered = self._tags_covering(table, address, len(words))
        decoded: list[tuple[Tag, float]] = []
        for tag in covered:
            offset = (tag.address or 0) - address
            value = tag_value(tag, np.array(words[offset : offset + tag.width], dtype=np.uint16))
            self._check_writable(tag, value)
            decoded.append((tag, value))
        return [(tag.name, self.write_setpoint(tag.name, value)) for tag, value in decoded]

    def take_setpoint_changes(self) -> dict[str, float]:
        """Setpoints written by clients since the last call (the plant applies them)."""
        pending, self._pending = self._pending, {}
        return pending

    # ---------------------------------------------------------------- internals
    def _check_writable(self, tag: Tag, value: float) -> None:
        if tag.access != "rw":
            raise self._refuse(Refusal.READ_ONLY, f"tag {tag.name} is read-only")
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self._refuse(Refusal.NOT_A_NUMBER, f"tag {tag.name}: {value!r} is not a finite number")
        if not tag.in_range(value):
            raise self._refuse(
                Refusal.OUT_OF_RANGE,
                f"tag {tag.name}: {value:g} {tag.unit} is outside its range "
                f"[{_bound(tag.low, '-inf')}, {_bound(tag.high, 'inf')}]",
            )

    def _tags_covering(self, table: str, address: int, count: int) -> list[Tag]:
        tags: list[Tag] = []
        for reg in range(address, address + count):
            tag = self._owner.get((table, reg))
            if tag is None:
                raise self._refuse(Refusal.UNKNOWN, f"no tag at {table} register {reg}")
            if not tags or tags[-1] is not tag:
                tags.append(tag)
        first, last = tags[0], tags[-1]
        if (first.address or 0) < address or (last.address or 0) + last.n_registers > address + count:
            raise self._refuse(
                Refusal.PARTIAL,
                f"write of {table} registers {address}..{address + count - 1} covers only part of a tag",
            )
        return tags

    def _refuse(self, reason: Refusal, message: str) -> WriteRefused:
        err = WriteRefused(reason, message)
        self.log.refuse(err)
        return err


def _bound(value: float | None, open_end: str) -> str:
    """A range end as the refusal shows it (``open_end`` where the tag map gives none)."""
    return open_end if value is None else f"{value:g}"
