"""Collectors: poll PLCs through their drivers, exactly as the edge would poll a real line.

A :class:`Collector` owns one PLC endpoint. At each poll it reads the tags due at that
time (by sample period; the PLC clock always) and feeds the samples to the aligner,
stamped with the PLC clock it read — or, for a PLC that serves no clock (the tag map names
none, or the endpoint says ``clock: none``), with the edge's own time. When the read fails, the due tags become ``bad``
samples and the next poll reconnects: a dropped connection is never a crash or a
silent gap. :func:`build_collectors` builds one collector per PLC of an endpoint file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from twin.edge.frames import Aligner, ElementIndex, Frame
from virtual_plc.codec import ElementLayout
from virtual_plc.drivers import PlcDriver, PlcUnavailable
from virtual_plc.endpoints import Endpoint, ResolvedEndpoints, endpoint_clock
from virtual_plc.schedule import DueSet, PollSchedule
from virtual_plc.tagmap import Tag, TagMap

log = logging.getLogger(__name__)


@dataclass
class CollectorStats:
    """What a collector has done so far."""

    polls: int = 0
    failed_polls: int = 0
    reconnects: int = 0
    last_error: str = ""


class Collector:
    """Polls one PLC and feeds an :class:`Aligner`."""

    def __init__(self, driver: PlcDriver, tags: list[Tag], clock: Tag | None, aligner: Aligner) -> None:
        self.driver = driver
        self.name = driver.endpoint.name
        self.has_clock = clock is not None
        self.schedule = PollSchedule(tags, always=[clock] if clock is not None else [])
        self.aligner = aligner
        self.stats = CollectorStats()
        self._positions: dict[ElementLayout, np.ndarray] = {}
        self._was_down = False
        self.last_failed_ms: int | None = None  # edge time of the latest failed poll

    @property
    def down(self) -> bool:
        """True while the PLC does not answer (from a failed poll until the next good one)."""
        return self._was_down

    def _positions_of(self, due: DueSet) -> np.ndarray:
        """Aligner positions of the due set's elements, clock excluded (cached)."""
        found = self._positions.get(due.layout)
        if found is None:
            names = due.layout.names[1:] if self.has_clock else due.layout.names
            found = self._positions[due.layout] = self.aligner.index.positions(names)
        return found

    async def poll(self, t_ms: int) -> int | None:
        """Read the tags due at edge time ``t_ms``; returns the PLC clock read, or None on failure."""
        due = self.schedule.due(t_ms)
        positions = self._positions_of(due)
        self.stats.polls += 1
        try:
            values = await self.driver.read(due)
        except PlcUnavailable as err:
            self.stats.failed_polls += 1
            self.stats.last_error = str(err)
            if not self._was_down:
                log.warning("collector %s: %s; samples are bad until it reconnects", self.name, err)
            self._was_down = True
            self.last_failed_ms = t_ms
            self.aligner.update(positions, np.full(len(positions), np.nan), t_ms)
            return None
        if self._was_down:
            self.stats.reconnects += 1
            log.info("collector %s: reconnected", self.name)
            self._was_down = False
        if not self.has_clock:  # a PLC without a clock: its samples carry the edge's time
            self.aligner.update(positions, values, t_ms)
            return t_ms
        plc_clock = int(values[0]) if np.isfinite(values[0]) else t_ms
        self.aligner.update(positions, values[1:], plc_clock)
        return plc_clock

    async def close(self) -> None:
        """Close the driver's connection."""
        await self.driver.close()


async def poll_all(collectors: Sequence[Collector], aligner: Aligner, t_ms: int) -> Frame:
    """Poll every PLC at edge time ``t_ms``, then align the frame.

    The polls run concurrently: real PLCs are separate hosts whose network latencies overlap
    (on loopback this costs nothing measurable, see benchmarks/scan_loop.py).
    """
    await asyncio.gather(*(c.poll(t_ms) for c in collectors))
    return aligner.frame(t_ms)


def element_index(endpoints: ResolvedEndpoints) -> ElementIndex:
    """The element index of every tag the edge collects (clock excluded), in tag map order."""
    polled = {t.name for _, tags in endpoints.assignments for t in tags}
    return ElementIndex([t for t in endpoints.tagmap.tags if t.name in polled])


def build_collectors(
    endpoints: ResolvedEndpoints, aligner: Aligner, make_driver: Callable[[Endpoint, TagMap], PlcDriver]
) -> list[Collector]:
    """One collector per PLC that has tags to read, each with the driver ``make_driver`` gives."""
    return [
        Collector(make_driver(endpoint, endpoints.tagmap), tags, endpoint_clock(endpoint, endpoints.tagmap), aligner)
        for endpoint, tags in endpoints.assignments
        if tags
    ]
