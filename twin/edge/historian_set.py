"""One query API over many runs and edge nodes: the historian's partitions read as one table.

:class:`HistorianSet` reads a partition root (:mod:`twin.edge.partitions`: what historians given
``partitions`` write, one line per edge) with the queries of
:class:`~twin.edge.historian.HistorianReader` — the same SQL and the same as-of resampling, called
with a ``read_parquet`` of the partition files in place of the ``samples`` table — plus the line of
each row. A set is narrowed to some ``lines`` and a range of UTC ``dates`` when it is made; its
queries then read only the files of those partitions (found by listing the folders, so the
others are never opened), and within them DuckDB skips the files whose ``ts_ms`` range (from
their Parquet statistics) misses the window.

>>> import tempfile
>>> from twin.edge.frames import Aligner, ElementIndex
>>> from twin.edge.historian import Historian
>>> from virtual_plc.tagmap import Tag
>>> index = ElementIndex([Tag(name="l.x", period_ms=1000)])
>>> with tempfile.TemporaryDirectory() as root:
...     for line in ("east", "west"):
...         aligner = Aligner(index)
...         with Historian(f"{root}/{line}/historian.duckdb", index, partitions=root, line=line) as h:
...             for k in range(5):
...                 aligner.update(np.array([0]), np.array([float(k)]), k * 1000)
...                 h.append(aligner.frame(k * 1000, wall_ms=1_767_225_600_000 + k * 1000))
...     with HistorianSet(root) as hall:
...         hall.lines(), hall.window(1000, 3000).num_rows, hall.resample(1000, 0, 5000, ["l.x"])[("west", "l.x")][0]
(['east', 'west'], 4, array([0., 1., 2., 3., 4.]))
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from twin.edge.historian import (
    Correlation,
    as_of_series,
    expand_tags,
    pearson,
    rows_sql,
    where_sql,
    window_sql,
)
from twin.edge.partitions import element_files, partition_files

Series = tuple[str, str]  # (line, element)
_WINDOW_SCHEMA = pa.schema([("ts_ms", pa.int64()), ("tag", pa.string()), ("value", pa.float64()),
                            ("quality", pa.string()), ("wall_utc", pa.timestamp("us", tz="UTC")),
                            ("line", pa.string())])
_ROWS_SCHEMA = pa.schema([("ts_ms", pa.int64()), ("line", pa.string()), ("tag", pa.string()),
                          ("value", pa.float64()), ("quality", pa.string())])


def _date(value: datetime.date | str) -> str:
    """An ISO date from a date (a datetime: its date) or an ISO string (ValueError for anything else)."""
    if isinstance(value, datetime.datetime):
        value = value.date()
    return value.isoformat() if isinstance(value, datetime.date) else datetime.date.fromisoformat(value).isoformat()


def _sql_text(value: str) -> str:
    """``value`` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


class HistorianSet:
    """Queries over the partitions under ``root`` of ``lines`` (None: every line) and UTC ``dates`` (first
    and last, inclusive; None: every date), as one table with a ``line`` column.

    ``window`` and ``resample`` take :class:`~twin.edge.historian.HistorianReader`'s arguments; a series is
    named by ``(line, element)``, since lines may share tag names. ``start_ms``/``end_ms`` are ``ts_ms`` (the
    time each edge stamps its frames with: plant time, or UTC ms where the PLCs serve no clock); ``dates``
    choose by the rows' UTC wall-clock date.
    """

    def __init__(self, root: str | Path, *, lines: Sequence[str] | None = None,
                 dates: tuple[datetime.date | str, datetime.date | str] | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"no partitions at {self.root}")
        self.selected_lines = None if lines is None else list(lines)
        self.dates = None if dates is None else (_date(dates[0]), _date(dates[1]))
        self.con = duckdb.connect()  # in memory: the data stay in the Parquet files
        self._elements_seen: tuple[tuple[str, int], ...] = ()
        self._elements: dict[str, list[tuple[str, str, int]]] = {}  # line -> (element, tag, period_ms)

    def close(self) -> None:
        """Close the in-memory connection."""
        self.con.close()

    def __enter__(self) -> HistorianSet:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ what is there
    def files(self) -> list[Path]:
        """The samples files the set's queries read (its lines and dates only)."""
        return partition_files(self.root, self.selected_lines, self.dates)

    def lines(self) -> list[str]:
        """The lines of the set that have samples (within its dates)."""
        return sorted({path.parent.parent.name[5:] for path in self.files()})

    def elements(self) -> dict[str, list[tuple[str, str, int]]]:
        """Per line, its elements as (element, tag, sample period in ms), from every source's element file
        (re-read when one changed; the longest period where two sources disagree)."""
        paths = element_files(self.root, self.selected_lines)
        seen = tuple((str(p), p.stat().st_mtime_ns) for p in paths)
        if seen != self._elements_seen:
            merged: dict[str, dict[str, tuple[str, int]]] = {}
            for path in paths:
                table = pq.read_table(path).to_pydict()
                line = merged.setdefault(path.parent.name[5:], {})
                for name, tag, period in zip(table["name"], table["tag"], table["period_ms"]):
                    line[name] = (tag, max(int(period or 0), line.get(name, ("", 0))[1]))
            self._elements = {line: [(n, t, p) for n, (t, p) in names.items()] for line, names in merged.items()}
            self._elements_seen = seen
        return self._elements

    def tags(self) -> list[str]:
        """Element names stored on any line of the set (first-declared order, each once)."""
        return list(dict.fromkeys(name for rows in self.elements().values() for name, _, _ in rows))

    # ------------------------------------------------------------------ queries
    def window(
        self, start_ms: int | None = None, end_ms: int | None = None, tags: Sequence[str] | None = None
    ) -> pa.Table:
        """Rows with ``start_ms <= ts_ms < end_ms`` for ``tags`` (elements or whole array tags; None: all) on
        every line of the set: HistorianReader's columns and ``line``, ordered by time, line and tag."""
        files = self.files()
        if not files:
            return _WINDOW_SCHEMA.empty_table()
        names = None if tags is None else sorted({n for _, n in self._series(tags, files)})
        where, params = where_sql(start_ms, end_ms, names)
        return self.con.sql(window_sql(self._relation(files), where, ("line",)), params=params).to_arrow_table()

    def resample(
        self, period_ms: int, start_ms: int, end_ms: int, tags: Sequence[str], *, staleness_periods: float = 2.0
    ) -> dict[Series, tuple[np.ndarray, np.ndarray]]:
        """As-of values of each element of ``tags`` on every line that has it, on the grid ``start_ms,
        start_ms+period_ms, ... < end_ms``: ``(line, element) -> (values, quality codes)``, by the same rule as
        :meth:`HistorianReader.resample <twin.edge.historian.HistorianReader.resample>`."""
        if period_ms <= 0:
            raise ValueError(f"period_ms must be positive, got {period_ms}")
        grid = np.arange(start_ms, end_ms, period_ms, dtype=np.int64)
        files = self.files()
        series = self._series(tags, files)
        periods = {(line, name): period for line, rows in self.elements().items() for name, _, period in rows}
        wanted = [(key, int(periods[key] * staleness_periods)) for key in series]
        lookback = max((bound for _, bound in wanted), default=0)
        where, params = where_sql(start_ms - lookback, end_ms, sorted({name for _, name in series}))
        table = (self.con.sql(rows_sql(self._relation(files), where, ("line",)), params=params).to_arrow_table()
                 if series else _ROWS_SCHEMA.empty_table())
        return dict(zip(series, as_of_series(table, grid, ("line", "tag"), wanted)))

    def correlation(self, tags: Sequence[str], start_ms: int, end_ms: int, every_ms: int, *,
                    staleness_periods: float = 2.0) -> Correlation:
        """Pairwise Pearson correlation of the series of ``tags`` (every line that has them) resampled every
        ``every_ms`` over ``start_ms <= t < end_ms``; keys are ``(line, element)``."""
        return pearson(self.resample(every_ms, start_ms, end_ms, tags, staleness_periods=staleness_periods))

    # ---------------------------------------------------------------- internals
    def _series(self, tags: Sequence[str], files: Sequence[Path]) -> list[Series]:
        """``(line, element)`` of each of ``tags`` on each line with samples in ``files`` that has it (KeyError:
        no line has)."""
        lines = {path.parent.parent.name[5:] for path in files}
        series: list[Series] = []
        found: set[str] = set()
        for line, rows in sorted(self.elements().items()):
            if line not in lines:
                continue
            known = [(name, tag) for name, tag, _ in rows]
            series.extend((line, name) for name in expand_tags(known, tags, missing_ok=True))
            found.update(set(tags) & {text for pair in known for text in pair})
        missing = [tag for tag in tags if tag not in found]
        if missing:
            raise KeyError(f"no line with samples in the set under {self.root} has tag {missing[0]!r}")
        return list(dict.fromkeys(series))

    @staticmethod
    def _relation(files: Sequence[Path]) -> str:
        """``read_parquet`` of ``files`` with the partition columns typed (a line named ``7`` stays text)."""
        listed = ", ".join(_sql_text(os.fspath(path)) for path in files)
        return (f"read_parquet([{listed}], hive_partitioning = true, "
                "hive_types = {'line': VARCHAR, 'date': DATE})")
