"""The base of every record a report holds: typed fields, and the mapping access readers already use.

A record reads as ``alarm.tag`` and, for code written against the JSON form, as ``alarm["tag"]``,
``alarm.get("tag")``, ``"tag" in alarm`` and ``set(alarm)`` (its keys): the same either way.

>>> class Point(Row):
...     x: int
...     y: int = 0
>>> p = Point(x=3)
>>> p.x, p["x"], p.get("z", 0), "y" in p, list(p), dict(p.items())
(3, 3, 0, True, ['x', 'y'], {'x': 3, 'y': 0})
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel


class Row(BaseModel):
    """A pydantic model that also reads as a mapping of its fields (extra fields included)."""

    def keys(self) -> list[str]:
        """The field names, extra fields last."""
        return [*type(self).model_fields, *(self.__pydantic_extra__ or {})]

    def items(self) -> list[tuple[str, Any]]:
        """(name, value) of every field."""
        return [(key, getattr(self, key)) for key in self.keys()]

    def __iter__(self) -> Iterator[str]:  # type: ignore[override] - a mapping iterates its keys
        return iter(self.keys())

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __len__(self) -> int:
        return len(self.keys())

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        """The field ``key``, or ``default`` when there is none."""
        return getattr(self, key, default)
