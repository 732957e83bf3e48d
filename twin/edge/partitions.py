"""Hive-partitioned Parquet beside the historian: the layout, and the writer the historian uses.

A :class:`~twin.edge.historian.Historian` given a partition root writes every ``samples`` batch it
stores twice: into its DuckDB file and, as Parquet, into the root::

    <root>/line=<line>/date=<YYYY-MM-DD>/<source>-<n>.parquet   ts_ms, tag, value, quality, wall_utc
    <root>/_elements/line=<line>/<source>.parquet                name, tag, unit, period_ms

``line`` names the production line (one edge per line), ``date`` is the UTC date of the rows'
``wall_utc`` (a batch spanning midnight becomes one file per date), ``source`` the run or edge node
that wrote the file and ``n`` its batch number (a source that starts again continues its numbers: it
never overwrites a file). The ``_elements`` folder describes each source's elements (their sample
period is what :meth:`~twin.edge.historian_set.HistorianSet.resample` needs); readers that follow the
Hive convention (pyarrow, Spark) skip folders whose names start with ``_``. Text tags stay in the
DuckDB file only.

Column types are chosen so that DuckDB's ``read_parquet(..., hive_partitioning = true)`` reads the
same table the DuckDB file holds: ``ts_ms`` BIGINT, ``tag`` VARCHAR, ``value`` DOUBLE, ``quality``
VARCHAR, ``wall_utc`` TIMESTAMP WITH TIME ZONE (Parquet timestamps in ms, adjusted to UTC).

A batch's files are written under temporary names and renamed once all are written, so a reader
never sees half a batch, and a batch that fails (disk full, a folder that cannot be made) leaves
nothing behind and is written again, whole, by the historian's retry (its write queue).
"""

from __future__ import annotations

import contextlib
import datetime
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DAY_MS = 86_400_000
ELEMENTS_DIR = "_elements"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_EPOCH = datetime.date(1970, 1, 1)


def check_name(value: str, what: str) -> str:
    """``value`` if it can name a ``line`` or ``source`` in a partition path, else ValueError.

    >>> check_name("hall2.line-7", "line")
    'hall2.line-7'
    >>> check_name("line=7", "line")
    Traceback (most recent call last):
    ValueError: a partition line must be letters, digits, '_', '.' or '-' (not first), not 'line=7'
    """
    if not _NAME.fullmatch(value):
        raise ValueError(f"a partition {what} must be letters, digits, '_', '.' or '-' (not first), not {value!r}")
    return value


def safe_name(value: str) -> str:
    """``value`` with what a partition path cannot hold replaced by ``_`` (a run id, a folder name).

    >>> safe_name("edge-my run")
    'edge-my_run'
    """
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", value).lstrip("_.-")
    return cleaned or "historian"


def utc_date(day: int) -> str:
    """The ISO date of ``day`` days since 1970-01-01 (UTC).

    >>> utc_date(20_000)
    '2024-10-04'
    """
    return (_EPOCH + datetime.timedelta(days=int(day))).isoformat()


def partition_files(root: str | Path, lines: Sequence[str] | None = None,
                    dates: tuple[str, str] | None = None) -> list[Path]:
    """The samples files under ``root`` of ``lines`` (None: all) whose date lies in ``dates`` (first and
    last, ISO, inclusive; None: all), found by listing the partition folders only (pruned, not scanned)."""
    root = Path(root)
    wanted = None if lines is None else set(lines)
    files: list[Path] = []
    for line_dir in sorted(root.glob("line=*")):
        if not line_dir.is_dir() or (wanted is not None and line_dir.name[5:] not in wanted):
            continue
        for date_dir in sorted(line_dir.glob("date=*")):
            day = date_dir.name[5:]
            if date_dir.is_dir() and (dates is None or dates[0] <= day <= dates[1]):
                files.extend(sorted(date_dir.glob("*.parquet"), key=_in_batch_order))
    return files


def _in_batch_order(path: Path) -> tuple[str, int, str]:
    """A sort key that puts a source's files in the order they were written (``run-9`` before ``run-10``)."""
    source, _, number = path.stem.rpartition("-")
    return (source, int(number), "") if number.isdigit() else (path.stem, -1, path.name)


def element_files(root: str | Path, lines: Sequence[str] | None = None) -> list[Path]:
    """The element files under ``root`` of ``lines`` (None: all)."""
    wanted = None if lines is None else set(lines)
    return [path for path in sorted(Path(root, ELEMENTS_DIR).glob("line=*/*.parquet"))
            if wanted is None or path.parent.name[5:] in wanted]


class PartitionWriter:
    """Writes one source's samples batches (and its element table) into a partition root."""

    def __init__(self, root: str | Path, line: str, source: str) -> None:
        self.root = Path(root)
        self.line = check_name(line, "line")
        self.source = check_name(source, "source")
        self.files = 0  # files written by this writer
        self.sequence = self._next_sequence()
        self._elements: pa.Table | None = None  # the element table last written

    def _next_sequence(self) -> int:
        """One past the highest batch number this source already has in this line (0 for none)."""
        pattern = re.compile(rf"{re.escape(self.source)}-(\d+)\.parquet")
        numbers = [int(match.group(1)) for path in (self.root / f"line={self.line}").glob("date=*/*.parquet")
                   if (match := pattern.fullmatch(path.name))]
        return max(numbers, default=-1) + 1

    def write(self, batch: pa.Table, elements: pa.Table) -> None:
        """Write ``batch`` (columns ts_ms, tag, value, quality, wall_ms) as one file per UTC date it spans,
        all or none (OSError: none was written), after ``elements`` (name, tag, unit, period_ms) if they
        changed since the last write."""
        if self._elements is None or not self._elements.equals(elements):
            _write_atomically([(elements, self.root / ELEMENTS_DIR / f"line={self.line}" / f"{self.source}.parquet")])
            self._elements = elements
        wall = np.asarray(batch.column("wall_ms").to_numpy(), dtype=np.int64)
        rows = pa.table({"ts_ms": batch.column("ts_ms"), "tag": batch.column("tag"), "value": batch.column("value"),
                         "quality": batch.column("quality"),
                         "wall_utc": pa.array(wall, pa.int64()).cast(pa.timestamp("ms", tz="UTC"))})
        days = wall // DAY_MS
        if len(days) == 0:
            return
        name = f"{self.source}-{self.sequence}.parquet"
        if days.min() == days.max():  # the common case: one date, no filtering
            parts = [(rows, self._folder(int(days[0])) / name)]
        else:
            parts = [(rows.filter(pa.array(days == day)), self._folder(int(day)) / name) for day in np.unique(days)]
        _write_atomically(parts, use_dictionary=["tag", "quality"])  # not for times and values: faster, smaller
        self.sequence += 1
        self.files += len(parts)

    def _folder(self, day: int) -> Path:
        """The folder of ``day`` (days since the epoch) in this writer's line."""
        return self.root / f"line={self.line}" / f"date={utc_date(day)}"


def _write_atomically(parts: Sequence[tuple[pa.Table, Path]], **options: Any) -> None:
    """Write each table to its path (``options`` for :func:`pyarrow.parquet.write_table`): all under temporary
    names first, then renamed; on an error none is left."""
    written: list[tuple[Path, Path]] = []
    try:
        for table, path in parts:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            written.append((tmp, path))
            pq.write_table(table, tmp, store_schema=False, **options)  # plain Parquet types: all files read alike
    except BaseException:
        for tmp, _ in written:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        raise
    for tmp, path in written:
        tmp.replace(path)
