"""Test helpers: a virtual PLC served from a background thread, and small tag maps.

The PLC runs on its own event loop in its own thread, like a PLC elsewhere on the
network; tests talk to it with real clients over 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from virtual_plc.plc import VirtualPlc
from virtual_plc.tagmap import Tag, TagMap

T = TypeVar("T")

_FRAME = {ord(c): " " for c in "│╭╮╰╯─"}


def flat(output: str) -> str:
    """CLI output on one line: Rich's wrapping, panel frames and table rules become single spaces.

    Rich wraps at the console width, which depends on the path a checkout lives under; a test
    that looks for a phrase in CLI output reads it through this.
    """
    return " ".join(output.translate(_FRAME).split())


class ServedPlc:
    """A :class:`VirtualPlc` serving Modbus TCP and OPC UA from a background thread."""

    def __init__(self, tagmap: TagMap, setpoints: dict[str, float] | None = None) -> None:
        self.plc = VirtualPlc(tagmap)
        self.plc.initialise_setpoints(setpoints or {})
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.call(self.plc.start())
        assert self.plc.modbus is not None and self.plc.opcua is not None
        self.modbus_port = self.plc.modbus.port
        self.opcua_port = self.plc.opcua.port

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the PLC's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the servers and the loop."""
        try:
            self.call(self.plc.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


def every_kind_tagmap() -> TagMap:
    """A tag map with every data type, both word orders, scales, both tables and an array."""
    tags = [Tag(name="t.plc.clock_ms", dtype="uint64", low=0, high=2**53, period_ms=10, table="input")]
    kinds = [
        ("int16", 10.0, -3000, 3000),
        ("uint16", 100.0, 0, 600),
        ("int32", 1000.0, -2e6, 2e6),
        ("uint32", 1.0, 0, 4e9),
        ("float32", 1.0, -1e6, 1e6),
        ("float64", 1.0, -1e9, 1e9),
        ("uint64", 1.0, 0, 2**52),
    ]
    for dtype, scale, low, high in kinds:
        for order in ("big", "little"):
            common = dict(dtype=dtype, scale=scale, low=low, high=high, word_order=order, period_ms=10)
            tags.append(Tag(name=f"t.{dtype}.{order}", table="input", **common))
            tags.append(Tag(name=f"t.{dtype}.{order}_sp", access="rw", **common))
    tags.append(Tag(name="t.xray.profile", length=8, low=0, high=500, period_ms=20, table="input"))
    tags.append(Tag(name="t.xray.counts", dtype="int16", length=4, low=0, high=1000, period_ms=20))
    return TagMap(plant="t", opcua_namespace="urn:quality-twin:test", clock_tag="t.plc.clock_ms", tags=tags).allocated()
