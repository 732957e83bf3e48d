"""The historian: one DuckDB file per run, in long format, with a small query API.

Table ``samples(ts_ms BIGINT, tag tag_t, value DOUBLE, quality ENUM, wall_utc TIMESTAMPTZ)`` holds,
for every frame, the elements sampled at that frame (each tag at its own rate, on the common
plant-time timeline); ``ts_ms`` is plant (run) time, so runs compare, and ``wall_utc`` the UTC
wall-clock time of the sample: the server's source timestamp where it gave one (OPC UA), else the
time the edge received it (not part of :meth:`HistorianReader.content_hash`: two runs of one seed
store the same samples at different hours). Table ``text_samples`` has the same columns with a
VARCHAR value, for the ``string`` and ``datetime`` tags (described in ``text_tags``). Array tags are stored
per element (``coater.xray.thickness_profile[7]``). Table ``elements`` describes each
element (tag, unit, period), so the file explains itself.

The ``tag`` column's type ``tag_t`` is an ENUM of the file's element names in name order (known when
the file is made): a query for some tags then compares small integers, not the text of every row (at 41
million rows, a diagnosis's read went from 1 s to a fifth of that), and ordering by it orders by name.
It reads as text wherever it is compared with or cast to text; the reader returns it as text. Files
written before, and files of no elements, have a VARCHAR ``tag`` and read alike.

Frames are buffered and written in Arrow batches (a long-format batch costs well under
a millisecond; a wide row per frame would cost tens). :meth:`Historian.close` flushes
everything, so nothing collected is lost when a run stops, however it stops.

A file that cannot be written for a while (disk full, an I/O error, a lock) loses nothing either: a batch
the database refuses stays queued, in order, and is written with the next flush that succeeds (the
historian retries every ``retry_s`` while it appends, and whenever it is read). The queue is bounded by
``max_unwritten_rows``; past it the oldest batches go and their samples are counted as dropped. A
queue the file still refuses at :meth:`Historian.close` is written beside it as Parquet
(``historian.duckdb.unwritten-samples.parquet``, ``...-text_samples.parquet``) when that can be written,
else counted as dropped. :attr:`Historian.counts` keeps ``collected == stored + spilled + dropped +
unwritten``; once the queue has drained (always after close), ``collected == stored + spilled + dropped``.

Given a partition root (``partitions``), the historian also writes every ``samples`` batch as hive-partitioned
Parquet, ``<partitions>/line=<line>/date=<YYYY-MM-DD>/<source>-<n>.parquet`` (:mod:`twin.edge.partitions`),
which :class:`twin.edge.historian_set.HistorianSet` reads as one table over many lines and edge nodes. The
partitions are a second destination of the same write queue: a batch stays queued until the file and the
partitions both have it, and each writes the queue in order, on its own (a partition folder that cannot be
written holds back neither the file nor what the diagnosis reads from it). Their counts: ``partitioned``
(samples in the partitions) and ``partition_dropped`` (pushed out of a full queue before the partitions took
them, or still refused at close: the file or its spill holds those unless they count in ``dropped`` too).
Once the queue has drained, every ``samples`` row handed to the historian is in ``partitioned`` or
``partition_dropped``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from twin.edge.frames import QUALITY_NAMES, ElementIndex, Frame, Quality, classify
from twin.edge.partitions import PartitionWriter, safe_name
from virtual_plc.tagmap import Tag

_QUALITY_ENUM = "ENUM(" + ", ".join(f"'{q}'" for q in QUALITY_NAMES) + ")"
TAG_TYPE = "tag_t"  # the samples' tag column: an ENUM of the file's element names (module docstring)
DEFAULT_MAX_UNWRITTEN_ROWS = 5_000_000  # about 160 MB of queued batches: 24 min of a 35-tag line at 100 Hz

log = logging.getLogger(__name__)


@dataclass
class WriteCounts:
    """Samples handed to the historian (``collected``), written to its file (``stored``), written to the
    Parquet files beside it at close (``spilled``), pushed out of a full queue or lost at close (``dropped``);
    ``failures`` counts writes the file (or the partitions) refused. With partitions, ``partitioned`` samples
    are in them and ``partition_dropped`` never got there (see the module docstring)."""

    collected: int = 0
    stored: int = 0
    spilled: int = 0
    dropped: int = 0
    failures: int = 0
    partitioned: int = 0
    partition_dropped: int = 0

    def unwritten(self) -> int:
        """Samples still queued: ``collected - stored - spilled - dropped``."""
        return self.collected - self.stored - self.spilled - self.dropped


_SPILL_SCHEMA = {table: pa.schema([("ts_ms", pa.int64()), ("tag", pa.string()), ("value", kind),
                                    ("quality", pa.string()), ("wall_ms", pa.int64())])
                 for table, kind in (("samples", pa.float64()), ("text_samples", pa.string()))}


FILE, PARTITIONS = "file", "partitions"  # where a queued batch goes


@dataclass
class _Queued:
    """A batch on the write queue, for ``table``, and where it has still to go (:data:`FILE`, :data:`PARTITIONS`)."""

    table: str
    batch: pa.Table
    pending: set[str] = field(default_factory=set)


class Historian:
    """Append frames to a DuckDB file and query them back.

    With ``partitions`` (a folder), every ``samples`` batch also goes there as Parquet, under
    ``line=<line>/date=<UTC date>/<source>-<n>.parquet``; ``source`` defaults to the name of the file's folder
    (the run directory).
    """

    def __init__(
        self, path: str | Path, index: ElementIndex, *, flush_rows: int = 250_000, text_tags: Sequence[Tag] = (),
        max_unwritten_rows: int = DEFAULT_MAX_UNWRITTEN_ROWS, retry_s: float = 5.0,
        partitions: str | Path | None = None, line: str = "line", source: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.index = index
        self.flush_rows = flush_rows
        self.max_unwritten_rows = max_unwritten_rows
        self.retry_s = retry_s
        self.counts = WriteCounts()
        self.partitions = (PartitionWriter(partitions, line, source or safe_name(self.path.resolve().parent.name))
                           if partitions is not None else None)
        self._unwritten: deque[_Queued] = deque()  # batches not yet everywhere they go, oldest first
        self._unwritten_rows = 0
        self._retry_at = 0.0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self.path.unlink()
        self.con = duckdb.connect(str(self.path))
        self.con.execute(f"CREATE TYPE quality_t AS {_QUALITY_ENUM}")
        tag_type = "VARCHAR"
        if index.names:
            # sorted, so that ordering by the ENUM orders by name, as ordering the text did
            self.con.execute(f"CREATE TYPE {TAG_TYPE} AS ENUM (SELECT unnest(?::VARCHAR[]))",
                             [sorted(set(index.names))])
            tag_type = TAG_TYPE
        self._tag_type = tag_type
        self.con.execute(
            f"CREATE TABLE samples (ts_ms BIGINT NOT NULL, tag {tag_type} NOT NULL, "
            "value DOUBLE, quality quality_t NOT NULL, wall_utc TIMESTAMPTZ)"
        )
        self.con.execute(
            "CREATE TABLE elements (name VARCHAR PRIMARY KEY, tag VARCHAR, unit VARCHAR, period_ms BIGINT)"
        )
        self.con.execute("CREATE TABLE text_samples (ts_ms BIGINT NOT NULL, tag VARCHAR NOT NULL, value VARCHAR, "
                         "quality quality_t NOT NULL, wall_utc TIMESTAMPTZ)")
        self.con.execute("CREATE TABLE text_tags (name VARCHAR PRIMARY KEY, dtype VARCHAR, unit VARCHAR, "
                         "period_ms BIGINT)")
        if text_tags:
            self.con.executemany("INSERT INTO text_tags VALUES (?, ?, ?, ?)",
                                 [(t.name, t.dtype, t.unit, t.period_ms) for t in text_tags])
        self._text_rows: list[tuple[int, str, str | None, str, int]] = []
        rows = [
            (name, tag.name, tag.unit, tag.period_ms)
            for tag in index.tags
            for name in tag.element_names()
        ]
        if rows:  # one Arrow insert: executemany costs a round trip per row (a second for 1,000 tags)
            columns = list(zip(*rows))
            elements = pa.table({"name": pa.array(columns[0], pa.string()), "tag": pa.array(columns[1], pa.string()),
                                 "unit": pa.array(columns[2], pa.string()),
                                 "period_ms": pa.array(columns[3], pa.int64())})
            self.con.register("_elements", elements)
            self.con.execute("INSERT INTO elements SELECT * FROM _elements")
            self.con.unregister("_elements")
        self._element_table: pa.Table | None = None  # the last one read from the file (for the partitions)
        self._names = pa.array(index.names, type=pa.string())
        self._qualities = pa.array(QUALITY_NAMES, type=pa.string())
        self._buffer: list[tuple[int, int | np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._buffered = 0
        self.frames = 0
        self.closed = False

    # ------------------------------------------------------------------ writing
    def append(self, frame: Frame) -> None:
        """Buffer the fresh elements of ``frame``; flushes when the buffer is full."""
        positions = np.flatnonzero(frame.fresh)
        wall: int | np.ndarray = frame.wall_ms
        if frame.source_ms is not None:
            source = frame.source_ms[positions]
            wall = np.where(source >= 0, source, frame.wall_ms)
        self._buffer.append((frame.ts_ms, wall, positions, frame.values[positions], frame.quality[positions]))
        for tag, text in frame.text.items():
            self._text_rows.append((frame.ts_ms, tag, text, "good" if text is not None else "bad", frame.wall_ms))
        self._buffered += len(positions)
        self.counts.collected += len(positions) + len(frame.text)
        self.frames += 1
        if self._buffered >= self.flush_rows or (self._unwritten and time.monotonic() >= self._retry_at):
            self.flush()

    def flush(self) -> None:
        """Write buffered rows to the database (and what it refused before, first); never raises on a file
        that cannot be written: the batches stay queued (see the module docstring)."""
        if self._text_rows:
            ts, tags, values, qualities, wall = zip(*self._text_rows)
            self.write("text_samples", pa.table({
                "ts_ms": pa.array(ts, pa.int64()), "tag": pa.array(tags, pa.string()),
                "value": pa.array(values, pa.string()), "quality": pa.array(qualities, pa.string()),
                "wall_ms": pa.array(wall, pa.int64())}))
            self._text_rows = []
        if self._buffer:
            ts = np.concatenate([np.full(len(p), t, dtype=np.int64) for t, _, p, _, _ in self._buffer])
            wall = np.concatenate([np.broadcast_to(np.asarray(w, dtype=np.int64), len(p))
                                   for _, w, p, _, _ in self._buffer])
            positions = np.concatenate([p for _, _, p, _, _ in self._buffer])
            values = np.concatenate([v for _, _, _, v, _ in self._buffer])
            quality = np.concatenate([q for _, _, _, _, q in self._buffer]).astype(np.int32)
            self.write("samples", pa.table({
                "ts_ms": ts,
                "tag": pa.DictionaryArray.from_arrays(pa.array(positions.astype(np.int32)), self._names),
                "value": pa.array(values, from_pandas=True),
                "quality": pa.DictionaryArray.from_arrays(pa.array(quality), self._qualities),
                "wall_ms": wall,
            }))
            self._buffer, self._buffered = [], 0
        elif self._unwritten:
            self._drain()

    def write(self, table: str, batch: pa.Table) -> None:
        """Queue ``batch`` (columns ts_ms, tag, value, quality, wall_ms) for ``table`` (``samples`` or
        ``text_samples``) behind anything the file (or the partitions) refused before, and write the queue in
        order."""
        pending = {FILE, PARTITIONS} if self.partitions is not None and table == "samples" else {FILE}
        self._unwritten.append(_Queued(table, batch, pending))
        self._unwritten_rows += batch.num_rows
        self._drain()
        while self._unwritten_rows > self.max_unwritten_rows:
            oldest = self._unwritten.popleft()
            rows = oldest.batch.num_rows
            self._unwritten_rows -= rows
            if FILE in oldest.pending:
                self.counts.dropped += rows
            if PARTITIONS in oldest.pending:
                self.counts.partition_dropped += rows
            log.error("historian %s: unwritable for too long, %d queued samples dropped from the %s (oldest first)",
                      self.path, rows, " and the ".join(sorted(oldest.pending)))

    def _drain(self) -> None:
        """Write the queue to the file, then its samples to the partitions; each destination takes the batches
        oldest first and stops at the first it refuses (that one and those after it stay queued for it).
        Batches every destination has leave the queue."""
        self._drain_to(FILE)
        if self.partitions is not None:
            self._drain_to(PARTITIONS)
        while self._unwritten and not self._unwritten[0].pending:
            self._unwritten_rows -= self._unwritten.popleft().batch.num_rows

    def _drain_to(self, destination: str) -> None:
        """Write the batches queued for ``destination``, in order, until it refuses one."""
        for queued in self._unwritten:
            if destination not in queued.pending:
                continue
            rows = queued.batch.num_rows
            try:
                if destination == FILE:
                    self._insert(queued.table, queued.batch)
                else:
                    assert self.partitions is not None
                    self.partitions.write(queued.batch, self._elements())
            except (duckdb.Error, OSError) as err:
                self.counts.failures += 1
                self._retry_at = time.monotonic() + self.retry_s
                if self.counts.failures == 1 or self.counts.failures % 100 == 0:
                    root = self.partitions.root if self.partitions is not None else None
                    where = "file" if destination == FILE else f"partitions under {root}"
                    log.warning("historian %s: cannot write the %s (%s); %d samples queued, retrying every %.0f s",
                                self.path, where, err, self._unwritten_rows, self.retry_s)
                return
            queued.pending.discard(destination)
            if destination == FILE:
                self.counts.stored += rows
            else:
                self.counts.partitioned += rows

    def _insert(self, table: str, batch: pa.Table) -> None:
        """Insert one batch into ``table`` of the file (duckdb.Error: the file refused it, nothing was written)."""
        self.con.register("_batch", batch)
        try:
            tag_type = self._tag_type if table == "samples" else "VARCHAR"
            self.con.execute(f"INSERT INTO {table} SELECT ts_ms, tag::VARCHAR::{tag_type}, value, quality::VARCHAR, "
                             "to_timestamp(wall_ms / 1000.0) FROM _batch")
        finally:
            self.con.unregister("_batch")

    def _elements(self) -> pa.Table:
        """The file's element table (name, tag, unit, period_ms), as the partitions describe it; the last one
        read when the file cannot be read."""
        try:
            table = self.con.sql("SELECT name, tag, unit, period_ms FROM elements ORDER BY rowid").to_arrow_table()
        except duckdb.Error:
            if self._element_table is None:
                raise OSError(f"cannot read the elements of {self.path}") from None
            return self._element_table
        self._element_table = table
        return table

    def reader(self) -> HistorianReader:
        """Flush, and query what has been written so far (while the run goes on)."""
        self.flush()
        return HistorianReader(self.path, connection=self.con)

    def close(self) -> None:
        """Flush and close the file (safe to call twice)."""
        if self.closed:
            return
        self.flush()
        try:
            self.con.execute("CHECKPOINT")
        except duckdb.Error as err:
            log.warning("historian %s: checkpoint failed (%s); the write-ahead log keeps what was written",
                        self.path, err)
        self._spill()
        self.con.close()
        self.closed = True

    def _spill(self) -> None:
        """What the file still refuses: into Parquet files beside it, else counted as dropped; what the partitions
        still refuse is counted as ``partition_dropped`` (the file or its spill has it)."""
        for table in ("samples", "text_samples"):
            batches = [q.batch.cast(_SPILL_SCHEMA[table]) for q in self._unwritten
                       if q.table == table and FILE in q.pending]
            if not batches:
                continue
            rows = sum(b.num_rows for b in batches)
            path = self.path.with_name(f"{self.path.name}.unwritten-{table}.parquet")
            try:
                pq.write_table(pa.concat_tables(batches), path)
                log.error("historian %s: %d samples the file refused are in %s", self.path, rows, path)
                self.counts.spilled += rows
            except OSError as err:
                log.error("historian %s: %d samples lost: neither the file nor %s can be written (%s)",
                          self.path, rows, path, err)
                self.counts.dropped += rows
        missed = sum(q.batch.num_rows for q in self._unwritten if PARTITIONS in q.pending)
        if missed:
            assert self.partitions is not None
            log.error("historian %s: %d samples are not in the partitions under %s (they refused them to the end)",
                      self.path, missed, self.partitions.root)
            self.counts.partition_dropped += missed
        self._unwritten.clear()
        self._unwritten_rows = 0

    def __enter__(self) -> Historian:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _asof(
    grid: np.ndarray, ts: np.ndarray, values: np.ndarray, quality: np.ndarray, bound_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """As-of values and qualities of one element's stored rows on ``grid``.

    Only ``good`` rows count as samples (a stored ``stale`` row repeats an older value);
    a grid point whose latest row is ``bad`` or ``missing`` is bad.
    """
    good = quality == Quality.GOOD
    good_ts, good_values = ts[good], values[good]
    i_good = np.searchsorted(good_ts, grid, side="right") - 1
    i_any = np.searchsorted(ts, grid, side="right") - 1
    has_good, has_any = i_good >= 0, i_any >= 0
    last_good_ms = np.full(len(grid), -1, dtype=np.int64)
    last_good_ms[has_good] = good_ts[i_good[has_good]]
    failed = np.zeros(len(grid), dtype=bool)
    failed[has_any] = quality[i_any[has_any]] >= Quality.BAD
    flags = classify(grid, last_good_ms, failed, np.full(len(grid), bound_ms))
    out = np.full(len(grid), np.nan)
    usable = (flags <= Quality.STALE) & has_good
    out[usable] = good_values[i_good[usable]]
    return out, flags


# ---------------------------------------------------------------- queries shared by the file and the partitions
def where_sql(start_ms: int | None, end_ms: int | None, names: Sequence[str] | None, tag_type: str = "VARCHAR",
              ) -> tuple[str, list[object]]:
    """The WHERE clause (and its parameters) of ``start_ms <= ts_ms < end_ms`` and ``tag`` in ``names``
    (element names; None: every tag), compared as ``tag_type`` (the column's type: the names cast to it, so an
    ENUM column compares integers).

    >>> where_sql(0, 1000, ["a"])
    ('WHERE ts_ms >= ? AND ts_ms < ? AND tag IN (SELECT unnest(?::VARCHAR[]))', [0, 1000, ['a']])
    """
    clauses: list[str] = []
    params: list[object] = []
    if start_ms is not None:
        clauses.append("ts_ms >= ?")
        params.append(start_ms)
    if end_ms is not None:
        clauses.append("ts_ms < ?")
        params.append(end_ms)
    if names is not None:
        clauses.append(f"tag IN (SELECT unnest(?::{tag_type}[]))")
        params.append(list(names))
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def window_sql(relation: str, where: str, extra: Sequence[str] = ()) -> str:
    """The window query over ``relation`` (the ``samples`` table, or a ``read_parquet`` of partitions with
    ``extra`` columns such as ``line``): rows ordered by time, then the ``extra`` columns, then tag (by name)."""
    columns = ", ".join(["ts_ms", "tag", "value", "quality::VARCHAR AS quality", "wall_utc", *extra])
    return f"SELECT {columns} FROM {relation} {where} ORDER BY " + ", ".join(["ts_ms", *extra, "tag"])


def rows_sql(relation: str, where: str, extra: Sequence[str] = ()) -> str:
    """The rows a resample reads from ``relation``: time, ``extra`` columns, tag, value, quality (unordered)."""
    return f"SELECT {', '.join(['ts_ms', *extra, 'tag'])}, value, quality::VARCHAR AS quality FROM {relation} {where}"


def text_tags(table: pa.Table) -> pa.Table:
    """``table`` with its ``tag`` column as text (an ENUM column arrives as an Arrow dictionary)."""
    i = table.schema.get_field_index("tag")
    if i < 0 or not pa.types.is_dictionary(table.schema.field(i).type):
        return table
    return table.set_column(i, "tag", table.column(i).cast(pa.string()))


class ElementNames:
    """A historian's (element, tag) pairs, indexed once for :meth:`expand` (at 50,000 elements, indexing them
    took longer than the query a diagnosis makes)."""

    def __init__(self, known: Sequence[tuple[str, str]]) -> None:
        self.names = [name for name, _ in known]
        self._by_tag: dict[str, list[str]] = {}
        for name, tag in known:
            self._by_tag.setdefault(tag, []).append(name)
        self._elements = set(self.names)

    def expand(self, wanted: Sequence[str] | None, *, missing_ok: bool = False) -> list[str]:
        """Element names for ``wanted`` tags (None: all): an array tag's name expands to all its elements. A name
        that matches nothing is a KeyError unless ``missing_ok``."""
        if wanted is None:
            return list(self.names)
        names: list[str] = []
        for tag in wanted:
            matched = [tag] if tag in self._elements and tag not in self._by_tag else self._by_tag.get(tag, [])
            if not matched and not missing_ok:
                raise KeyError(f"the historian has no tag {tag!r}")
            names.extend(matched)
        return names


def expand_tags(known: Sequence[tuple[str, str]], wanted: Sequence[str] | None, *, missing_ok: bool = False,
                ) -> list[str]:
    """Element names for ``wanted`` tags (None: all ``known``), from ``known`` (element, tag) pairs
    (:meth:`ElementNames.expand`).

    >>> expand_tags([("a", "a"), ("p[0]", "p"), ("p[1]", "p")], ["p", "a"])
    ['p[0]', 'p[1]', 'a']
    """
    return ElementNames(known).expand(wanted, missing_ok=missing_ok)


def as_of_series(table: pa.Table, grid: np.ndarray, keys: Sequence[str],
                 wanted: Sequence[tuple[tuple[str, ...], int]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """As-of values and quality codes on ``grid`` of each ``wanted`` series, given as (the values of its
    ``keys`` columns, e.g. ``(tag,)`` or ``(line, tag)``; its staleness bound in ms), from ``table``'s rows
    (columns ts_ms, value, quality and ``keys``, text or dictionary). One sort of all rows, then one slice per
    series."""
    codes = np.zeros(table.num_rows, dtype=np.int64)
    wanted_codes = np.zeros(len(wanted), dtype=np.int64)
    absent = np.zeros(len(wanted), dtype=bool)
    for j, column in enumerate(keys):  # a mixed-radix code over the key columns' dictionaries
        rows = table.column(column)
        encoded = (rows if pa.types.is_dictionary(rows.type) else pc.dictionary_encode(rows)).combine_chunks()
        size = len(encoded.dictionary)
        codes = codes * size + encoded.indices.to_numpy(zero_copy_only=False)
        found = pc.index_in(pa.array([key[j] for key, _ in wanted], pa.string()),
                            value_set=encoded.dictionary.cast(pa.string()))
        absent |= found.is_null().to_numpy(zero_copy_only=False)
        wanted_codes = wanted_codes * size + found.fill_null(0).to_numpy(zero_copy_only=False)
    wanted_codes[absent] = -1  # a series with no rows: an empty slice
    ts_all = table.column("ts_ms").to_numpy()
    order = np.lexsort((ts_all, codes))  # group rows by series, then by time within each
    codes, ts_all = codes[order], ts_all[order]
    val_all = table.column("value").to_numpy(zero_copy_only=False)[order]
    q_all = pc.index_in(table.column("quality"), value_set=pa.array(QUALITY_NAMES)).to_numpy()[order].astype(np.uint8)
    lows, highs = np.searchsorted(codes, wanted_codes, "left"), np.searchsorted(codes, wanted_codes, "right")
    return [_asof(grid, ts_all[lo:hi], val_all[lo:hi], q_all[lo:hi], bound)
            for (_, bound), lo, hi in zip(wanted, lows.tolist(), highs.tolist())]


@dataclass(frozen=True)
class Correlation:
    """Pairwise Pearson correlation of resampled series: ``r[i, j]`` between ``keys[i]`` and ``keys[j]`` over
    the ``n[i, j]`` grid points where both have a value (good or stale); NaN where fewer than two or a series
    is constant there."""

    keys: list[Hashable]
    r: np.ndarray
    n: np.ndarray

    def of(self, a: Hashable, b: Hashable) -> float:
        """The correlation of series ``a`` and ``b``."""
        return float(self.r[self.keys.index(a), self.keys.index(b)])


def pearson(series: Mapping[Hashable, tuple[np.ndarray, np.ndarray]]) -> Correlation:
    """Pairwise-complete Pearson correlation of ``series`` (key -> (values, quality) on one grid, NaN where a
    value is unusable), as a few matrix products: every pair over the grid points both have.

    >>> x = np.arange(10.0)
    >>> c = pearson({"x": (x, None), "y": (3 - 2 * x, None), "z": (np.where(x < 5, np.nan, x), None)})
    >>> round(c.of("x", "y"), 6), round(c.of("x", "z"), 6), int(c.n[0, 2])
    (-1.0, 1.0, 5)
    """
    keys = list(series)
    if not keys:
        return Correlation([], np.empty((0, 0)), np.empty((0, 0), dtype=np.int64))
    x = np.vstack([np.asarray(values, dtype=np.float64) for values, _ in series.values()])
    valid = ~np.isnan(x)
    m = valid.astype(np.float64)
    filled = np.where(valid, x, 0.0)
    mean = filled.sum(axis=1, keepdims=True) / np.maximum(m.sum(axis=1, keepdims=True), 1.0)
    centred = np.where(valid, filled - mean, 0.0)  # centring first keeps the sums below free of cancellation
    with np.errstate(invalid="ignore", divide="ignore"):
        if valid.all():  # no gaps: every pair has every point, one product does
            cov = centred @ centred.T
            n = np.full(cov.shape, float(x.shape[1]))
            var_i = np.broadcast_to(np.diag(cov)[:, None], cov.shape)
            var_j = var_i.T
        else:  # one product gives, per pair, the points both have (n), and over those the sums of series i (s)
            # and of its squares (q); s.T and q.T are the same of series j
            k = len(keys)
            sums = np.vstack([m, centred, centred * centred]) @ m.T
            n, s, q = sums[:k], sums[k:2 * k], sums[2 * k:]
            cov = centred @ centred.T - s * s.T / n
            var_i, var_j = q - s * s / n, q.T - s.T * s.T / n
        r = np.clip(cov / np.sqrt(var_i * var_j), -1.0, 1.0)
    r[(n < 2) | ~(var_i > 0) | ~(var_j > 0)] = np.nan
    return Correlation(keys, r, n.round().astype(np.int64))


class HistorianReader:
    """Read-only queries over a historian file (or an open :class:`Historian`'s connection)."""

    def __init__(self, path: str | Path, *, connection: duckdb.DuckDBPyConnection | None = None) -> None:
        self.path = Path(path)
        self._owns = connection is None
        self._tag_type: str | None = None  # found on first use (tag_type)
        self._element_cache: tuple[int, ElementNames, dict[str, int]] | None = None  # (count, ...): _elements
        if connection is not None:
            self.con = connection
            return
        if not self.path.is_file():
            raise FileNotFoundError(f"no historian at {self.path}")
        self.con = duckdb.connect(str(self.path), read_only=True)

    def close(self) -> None:
        """Close the connection (a reader over a live historian leaves it open)."""
        if self._owns:
            self.con.close()

    def __enter__(self) -> HistorianReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def first_ms(self) -> int | None:
        """Plant time of the first stored sample (None: nothing stored yet)."""
        first = self.con.execute("SELECT min(ts_ms) FROM samples").fetchall()[0][0]  # all: no result left open
        return None if first is None else int(first)

    def tags(self) -> list[str]:
        """Element names stored in the file."""
        return list(self._elements()[0].names)

    def window(
        self, start_ms: int | None = None, end_ms: int | None = None, tags: Sequence[str] | None = None
    ) -> pa.Table:
        """Rows with ``start_ms <= ts_ms < end_ms`` for ``tags`` (elements or whole array tags)."""
        where, params = self._where(start_ms, end_ms, tags)
        return text_tags(self.con.sql(window_sql("samples", where), params=params).to_arrow_table())

    def resample(
        self, period_ms: int, start_ms: int, end_ms: int, tags: Sequence[str], *, staleness_periods: float = 2.0
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """As-of values of each element on a regular grid ``start_ms, start_ms+period_ms, ... < end_ms``.

        Returns ``element -> (values, quality codes)``; quality follows the same rule as live
        frames (:func:`twin.edge.frames.classify`), with the element's own sample period.
        """
        if period_ms <= 0:
            raise ValueError(f"period_ms must be positive, got {period_ms}")
        grid = np.arange(start_ms, end_ms, period_ms, dtype=np.int64)
        elements, periods = self._elements()
        names = elements.expand(tags)
        lookback = int(max((periods[n] for n in names), default=0) * staleness_periods)
        where, params = where_sql(start_ms - lookback, end_ms, names, self.tag_type())
        table = self.con.sql(rows_sql("samples", where), params=params).to_arrow_table()  # tag: ENUM or text
        wanted = [((name,), int(periods[name] * staleness_periods)) for name in names]
        return dict(zip(names, as_of_series(table, grid, ("tag",), wanted)))

    def correlation(self, tags: Sequence[str], start_ms: int, end_ms: int, every_ms: int, *,
                    staleness_periods: float = 2.0) -> Correlation:
        """Pairwise Pearson correlation of ``tags``' elements resampled every ``every_ms`` (:meth:`resample`)
        over ``start_ms <= t < end_ms``: each pair over the grid points where both have a value."""
        return pearson(self.resample(every_ms, start_ms, end_ms, tags, staleness_periods=staleness_periods))

    def text_window(self, start_ms: int | None = None, end_ms: int | None = None) -> pa.Table:
        """Rows of the text tags (``string``, ``datetime``) with ``start_ms <= ts_ms < end_ms``."""
        where, params = self._where(start_ms, end_ms, None)
        sql = (f"SELECT ts_ms, tag, value, quality::VARCHAR AS quality, wall_utc FROM text_samples {where} "
               "ORDER BY ts_ms, tag")
        return self.con.sql(sql, params=params).to_arrow_table()

    def counts_by_quality(self) -> dict[str, int]:
        """Number of stored rows per quality flag (every flag present, zero if unused)."""
        rows = dict(self.con.execute("SELECT quality::VARCHAR, count(*) FROM samples GROUP BY 1").fetchall())
        return {q: int(rows.get(q, 0)) for q in QUALITY_NAMES}

    def content_hash(self) -> str:
        """SHA-256 of every row in a canonical order: equal for equal contents."""
        digest = hashlib.sha256()
        for table in ("samples", "text_samples"):  # a file without text rows hashes as before they existed
            if table == "text_samples" and not self._has_table(table):
                continue
            cursor = self.con.execute(f"SELECT ts_ms, tag, value, quality::VARCHAR FROM {table} ORDER BY ts_ms, tag")
            while batch := cursor.fetchmany(100_000):
                digest.update(repr(batch).encode())
        return digest.hexdigest()

    def _has_table(self, name: str) -> bool:
        """True when the file has table ``name`` (files written before it existed lack it)."""
        return bool(self.con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                                     [name]).fetchall()[0][0])

    def export_parquet(self, path: str | Path) -> Path:
        """Write every row, ordered by time and tag, to a Parquet file."""
        path = Path(path)
        self.con.execute(
            f"COPY (SELECT ts_ms, tag::VARCHAR AS tag, value, quality::VARCHAR AS quality, wall_utc FROM samples "
            "ORDER BY ts_ms, samples.tag) "
            f"TO '{path.as_posix()}' (FORMAT parquet)"
        )
        return path

    # ---------------------------------------------------------------- internals
    def _expand(self, tags: Sequence[str] | None) -> list[str]:
        """Element names for ``tags``; an array tag name expands to all its elements."""
        return self._elements()[0].expand(tags)

    def _elements(self) -> tuple[ElementNames, dict[str, int]]:
        """The file's elements and each one's sample period, read again only when their number changed (a
        historian writes them when it makes the file; a Sparkplug store adds them as births declare them)."""
        count = self.con.execute("SELECT count(*) FROM elements").fetchall()[0][0]
        if self._element_cache is None or self._element_cache[0] != count:
            rows = self.con.execute("SELECT name, tag, period_ms FROM elements ORDER BY rowid").fetchall()
            self._element_cache = (count, ElementNames([(name, tag) for name, tag, _ in rows]),
                                   {name: period for name, _, period in rows})
        return self._element_cache[1], self._element_cache[2]

    def tag_type(self) -> str:
        """The type of the samples' ``tag`` column: :data:`TAG_TYPE` (an ENUM of the element names), or VARCHAR
        in files written before it (or with no elements)."""
        if self._tag_type is None:
            found = self.con.execute("SELECT count(*) FROM duckdb_types() WHERE type_name = ? AND database_name = "
                                     "current_database()", [TAG_TYPE]).fetchall()
            self._tag_type = TAG_TYPE if found[0][0] else "VARCHAR"
        return self._tag_type

    def _where(self, start_ms: int | None, end_ms: int | None, tags: Sequence[str] | None) -> tuple[str, list[object]]:
        """The WHERE clause of a time range and ``tags`` (expanded to elements; None: all)."""
        return where_sql(start_ms, end_ms, None if tags is None else self._expand(tags), self.tag_type())
