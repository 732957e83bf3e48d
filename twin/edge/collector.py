"""Collectors: poll PLCs through their drivers, exactly as the edge would poll a real line.

A :class:`Collector` owns one PLC endpoint. At each poll it reads the tags due at that
time (by sample period; the PLC clock always) and feeds the samples to the aligner,
stamped with the PLC clock it read — or, for a PLC that serves no clock (the tag map names
none, or the endpoint says ``clock: none``), with the edge's own time. When the read fails, the
due tags become ``bad`` samples and a later poll reconnects: a dropped connection is never a
crash or a silent gap. Reconnects back off exponentially with jitter (from the endpoint's
``reconnect_min_s`` up to ``reconnect_max_s``, on the edge's clock, so a lockstep run stays
deterministic), and the polls in between store ``bad`` without touching the network.
A sample the PLC answers but the edge cannot use (a node the server does not know, a value of
the wrong type, a refused address) is ``bad`` too; its reason is logged once per tag and kept in
:attr:`CollectorStats.problems`. :func:`build_collectors` builds one collector per PLC of an
endpoint file.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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
    connect_attempts: int = 0
    last_error: str = ""
    problems: dict[str, str] = field(default_factory=dict)  # tag -> why its latest bad sample is bad


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
        self._retry_at_ms = -1  # edge time before which no reconnect is tried
        self._failures = 0  # failed connects in a row (the backoff's exponent)
        self._jitter = random.Random(self.name)  # seeded: the same run waits the same

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
        reconnecting = not self.driver.connected
        if reconnecting and t_ms < self._retry_at_ms:
            return self._failed(due, positions, t_ms, None)
        try:
            if reconnecting:
                self.stats.connect_attempts += 1
            reading = await self.driver.read(due)
        except PlcUnavailable as err:
            return self._failed(due, positions, t_ms, err)
        self._failures = 0
        if self._was_down:
            self.stats.reconnects += 1
            log.info("collector %s: reconnected", self.name)
            self._was_down = False
        for tag, why in reading.problems.items():
            if self.stats.problems.get(tag) != why:
                log.warning("collector %s: %s is bad: %s", self.name, tag, why)
                self.stats.problems[tag] = why
        values, source = reading.values, reading.source_ms
        stamp = t_ms
        if self.has_clock:
            stamp = int(values[0]) if np.isfinite(values[0]) else t_ms
            values = values[1:]
            source = None if source is None else source[1:]
        self.aligner.update(positions, values, stamp, source)
        if due.text:
            self.aligner.update_text(reading.text)
        return stamp

    def _failed(self, due: DueSet, positions: np.ndarray, t_ms: int, err: PlcUnavailable | None) -> None:
        """Record a failed poll: the due samples are bad; after a failed connect, wait longer before the next."""
        self.stats.failed_polls += 1
        if err is not None:
            self.stats.last_error = str(err)
            if not self._was_down:
                log.warning("collector %s: %s; samples are bad until it reconnects", self.name, err)
            endpoint = self.driver.endpoint
            wait_s = min(endpoint.reconnect_max_s, endpoint.reconnect_min_s * 2.0 ** self._failures)
            self._retry_at_ms = t_ms + int(1000 * wait_s * self._jitter.uniform(0.5, 1.0))
            self._failures += 1
        self._was_down = True
        self.last_failed_ms = t_ms
        self.aligner.update(positions, np.full(len(positions), np.nan), t_ms)
        if due.text:
            self.aligner.update_text(dict.fromkeys((t.name for t in due.text), None))
        return None

    async def connect(self) -> None:
        """Open the PLC connection at start-up (the driver probes what the PLC serves); a PLC that does
        not answer yet is left to the polls, which keep trying."""
        if self.driver.connected:
            return
        self.stats.connect_attempts += 1
        try:
            await self.driver.connect()
        except PlcUnavailable as err:
            self.stats.last_error = str(err)
            log.warning("collector %s: %s; will keep trying", self.name, err)

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
    """The element index of every numeric tag the edge collects (clock excluded), in tag map order."""
    polled = {t.name for _, tags in endpoints.assignments for t in tags}
    return ElementIndex([t for t in endpoints.tagmap.tags if t.name in polled and not t.is_text])


def build_collectors(
    endpoints: ResolvedEndpoints, aligner: Aligner, make_driver: Callable[[Endpoint, TagMap], PlcDriver]
) -> list[Collector]:
    """One collector per PLC that has tags to read, each with the driver ``make_driver`` gives."""
    return [
        Collector(make_driver(endpoint, endpoints.tagmap), tags, endpoint_clock(endpoint, endpoints.tagmap), aligner)
        for endpoint, tags in endpoints.assignments
        if tags
    ]
