"""When a tag is due: the one rule the PLC's refresh and the edge's polls share.

The server side (:mod:`virtual_plc.plc`) and the client side (:mod:`twin.edge.collector`) both
import this module and nothing of each other.

>>> from virtual_plc.tagmap import Tag
>>> fast = Tag(name="l.a.x", low=0, high=1, period_ms=10, address=0)
>>> slow = Tag(name="l.a.y", low=0, high=1, period_ms=1000, address=2)
>>> schedule = PollSchedule([fast, slow])
>>> [t.name for t in schedule.due(10).tags], [t.name for t in schedule.due(1000).tags]
(['l.a.x'], ['l.a.x', 'l.a.y'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from virtual_plc.codec import ElementLayout
from virtual_plc.tagmap import Tag


@dataclass(frozen=True)
class DueSet:
    """The tags due at one scan: the numeric ones with their element layout, and the text ones."""

    tags: list[Tag]
    layout: ElementLayout
    text: tuple[Tag, ...] = ()


class PollSchedule:
    """Which tags are due at a given time: a tag is due when its period divides ``t_ms``.

    The PLC refreshes and the edge polls by the same rule. Due sets are cached per
    combination of due periods, so a scan costs a tuple and a dict lookup.
    """

    def __init__(self, tags: Sequence[Tag], always: Sequence[Tag] = ()) -> None:
        self.tags = list(tags)
        self.always = [t for t in always if t not in self.tags]
        self.periods = sorted({t.period_ms for t in self.tags})
        self._cache: dict[tuple[int, ...], DueSet] = {}

    def due(self, t_ms: int) -> DueSet:
        """The due set at plant time ``t_ms`` (``always`` tags first)."""
        key = tuple(p for p in self.periods if t_ms % p == 0)
        found = self._cache.get(key)
        if found is None:
            tags = self.always + [t for t in self.tags if t.period_ms in key]
            numbers = [t for t in tags if not t.is_text]
            found = self._cache[key] = DueSet(numbers, ElementLayout(numbers), tuple(t for t in tags if t.is_text))
        return found
