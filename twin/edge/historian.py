"""The historian: one DuckDB file per run, in long format, with a small query API.

Table ``samples(ts_ms BIGINT, tag VARCHAR, value DOUBLE, quality ENUM, wall_utc TIMESTAMPTZ)`` holds,
for every frame, the elements sampled at that frame (each tag at its own rate, on the common
plant-time timeline); ``ts_ms`` is plant (run) time, so runs compare, and ``wall_utc`` the UTC
wall-clock time of the sample: the server's source timestamp where it gave one (OPC UA), else the
time the edge received it (not part of :meth:`HistorianReader.content_hash`: two runs of one seed
store the same samples at different hours). Table ``text_samples`` has the same columns with a
VARCHAR value, for the ``string`` and ``datetime`` tags (described in ``text_tags``). Array tags are stored
per element (``coater.xray.thickness_profile[7]``). Table ``elements`` describes each
element (tag, unit, period), so the file explains itself.

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
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from twin.edge.frames import QUALITY_NAMES, ElementIndex, Frame, Quality, classify
from virtual_plc.tagmap import Tag

_QUALITY_ENUM = "ENUM(" + ", ".join(f"'{q}'" for q in QUALITY_NAMES) + ")"
DEFAULT_MAX_UNWRITTEN_ROWS = 5_000_000  # about 160 MB of queued batches: 24 min of a 35-tag line at 100 Hz

log = logging.getLogger(__name__)


@dataclass
class WriteCounts:
    """Samples handed to the historian (``collected``), written to its file (``stored``), written to the
    Parquet files beside it at close (``spilled``), pushed out of a full queue or lost at close (``dropped``);
    ``failures`` counts writes the file refused."""

    collected: int = 0
    stored: int = 0
    spilled: int = 0
    dropped: int = 0
    failures: int = 0

    def unwritten(self) -> int:
        """Samples still queued: ``collected - stored - spilled - dropped``."""
        return self.collected - self.stored - self.spilled - self.dropped


_SPILL_SCHEMA = {table: pa.schema([("ts_ms", pa.int64()), ("tag", pa.string()), ("value", kind),
                                    ("quality", pa.string()), ("wall_ms", pa.int64())])
                 for table, kind in (("samples", pa.float64()), ("text_samples", pa.string()))}


class Historian:
    """Append frames to a DuckDB file and query them back."""

    def __init__(
        self, path: str | Path, index: ElementIndex, *, flush_rows: int = 250_000, text_tags: Sequence[Tag] = (),
        max_unwritten_rows: int = DEFAULT_MAX_UNWRITTEN_ROWS, retry_s: float = 5.0,
    ) -> None:
        self.path = Path(path)
        self.index = index
        self.flush_rows = flush_rows
        self.max_unwritten_rows = max_unwritten_rows
        self.retry_s = retry_s
        self.counts = WriteCounts()
        self._unwritten: deque[tuple[str, pa.Table]] = deque()  # (table, batch) the file refused, oldest first
        self._unwritten_rows = 0
        self._retry_at = 0.0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self.path.unlink()
        self.con = duckdb.connect(str(self.path))
        self.con.execute(f"CREATE TYPE quality_t AS {_QUALITY_ENUM}")
        self.con.execute(
            "CREATE TABLE samples (ts_ms BIGINT NOT NULL, tag VARCHAR NOT NULL, "
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
        ``text_samples``) behind anything the file refused before, and write the queue in order."""
        self._unwritten.append((table, batch))
        self._unwritten_rows += batch.num_rows
        self._drain()
        while self._unwritten_rows > self.max_unwritten_rows:
            _table, oldest = self._unwritten.popleft()
            self._unwritten_rows -= oldest.num_rows
            self.counts.dropped += oldest.num_rows
            log.error("historian %s: unwritable for too long, %d queued samples dropped (oldest first)",
                      self.path, oldest.num_rows)

    def _drain(self) -> None:
        """Write queued batches, oldest first, until the file refuses one (it stays first in the queue)."""
        while self._unwritten:
            table, batch = self._unwritten[0]
            self.con.register("_batch", batch)
            try:
                self.con.execute(f"INSERT INTO {table} SELECT ts_ms, tag::VARCHAR, value, quality::VARCHAR, "
                                 "to_timestamp(wall_ms / 1000.0) FROM _batch")
            except duckdb.Error as err:
                self.counts.failures += 1
                self._retry_at = time.monotonic() + self.retry_s
                if self.counts.failures == 1 or self.counts.failures % 100 == 0:
                    log.warning("historian %s: cannot write (%s); %d samples queued, retrying every %.0f s",
                                self.path, err, self._unwritten_rows, self.retry_s)
                return
            finally:
                self.con.unregister("_batch")
            self._unwritten.popleft()
            self._unwritten_rows -= batch.num_rows
            self.counts.stored += batch.num_rows

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
        """What the file still refuses: into Parquet files beside it, else counted as dropped."""
        for table in ("samples", "text_samples"):
            batches = [b.cast(_SPILL_SCHEMA[table]) for t, b in self._unwritten if t == table]
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


class HistorianReader:
    """Read-only queries over a historian file (or an open :class:`Historian`'s connection)."""

    def __init__(self, path: str | Path, *, connection: duckdb.DuckDBPyConnection | None = None) -> None:
        self.path = Path(path)
        self._owns = connection is None
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
        row = self.con.execute("SELECT min(ts_ms) FROM samples").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def tags(self) -> list[str]:
        """Element names stored in the file."""
        return [r[0] for r in self.con.execute("SELECT name FROM elements ORDER BY rowid").fetchall()]

    def window(
        self, start_ms: int | None = None, end_ms: int | None = None, tags: Sequence[str] | None = None
    ) -> pa.Table:
        """Rows with ``start_ms <= ts_ms < end_ms`` for ``tags`` (elements or whole array tags)."""
        where, params = self._where(start_ms, end_ms, tags)
        sql = (f"SELECT ts_ms, tag, value, quality::VARCHAR AS quality, wall_utc FROM samples {where} "
               "ORDER BY ts_ms, tag")
        return self.con.sql(sql, params=params).to_arrow_table()

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
        names = self._expand(tags)
        periods = dict(self.con.execute("SELECT name, period_ms FROM elements").fetchall())
        lookback = int(max((periods[n] for n in names), default=0) * staleness_periods)
        where, params = self._where(start_ms - lookback, end_ms, names)
        table = self.con.sql(f"SELECT ts_ms, tag, value, quality::VARCHAR AS quality FROM samples {where}",
                             params=params).to_arrow_table()
        tags = pc.dictionary_encode(table.column("tag")).combine_chunks()
        codes = tags.indices.to_numpy(zero_copy_only=False)
        ts_all = table.column("ts_ms").to_numpy()
        # group rows by element (integer sort), then by time within each element
        order = np.lexsort((ts_all, codes))
        codes, ts_all = codes[order], ts_all[order]
        val_all = table.column("value").to_numpy(zero_copy_only=False)[order]
        q_all = pc.index_in(table.column("quality"), value_set=pa.array(QUALITY_NAMES)).to_numpy()[order]
        q_all = q_all.astype(np.uint8)
        code_of = {name: i for i, name in enumerate(tags.dictionary.to_pylist())}
        starts = np.searchsorted(codes, np.arange(len(code_of) + 1, dtype=codes.dtype))  # one pass for all
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in names:
            code = code_of.get(name)
            lo, hi = (int(starts[code]), int(starts[code + 1])) if code is not None else (0, 0)
            out[name] = _asof(grid, ts_all[lo:hi], val_all[lo:hi], q_all[lo:hi], int(periods[name] * staleness_periods))
        return out

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
                                     [name]).fetchone()[0])

    def export_parquet(self, path: str | Path) -> Path:
        """Write every row, ordered by time and tag, to a Parquet file."""
        path = Path(path)
        self.con.execute(
            f"COPY (SELECT ts_ms, tag, value, quality::VARCHAR AS quality, wall_utc FROM samples ORDER BY ts_ms, tag) "
            f"TO '{path.as_posix()}' (FORMAT parquet)"
        )
        return path

    # ---------------------------------------------------------------- internals
    def _expand(self, tags: Sequence[str] | None) -> list[str]:
        """Element names for ``tags``; an array tag name expands to all its elements."""
        if tags is None:
            return self.tags()
        known = self.con.execute("SELECT name, tag FROM elements ORDER BY rowid").fetchall()
        by_tag: dict[str, list[str]] = {}
        for name, tag in known:
            by_tag.setdefault(tag, []).append(name)
        elements = {name for name, _ in known}
        names: list[str] = []
        for wanted in tags:
            matched = [wanted] if wanted in elements and wanted not in by_tag else by_tag.get(wanted, [])
            if not matched:
                raise KeyError(f"the historian has no tag {wanted!r}")
            names.extend(matched)
        return names

    def _where(self, start_ms: int | None, end_ms: int | None, tags: Sequence[str] | None) -> tuple[str, list[object]]:
        clauses, params = [], []
        if start_ms is not None:
            clauses.append("ts_ms >= ?")
            params.append(start_ms)
        if end_ms is not None:
            clauses.append("ts_ms < ?")
            params.append(end_ms)
        if tags is not None:
            names = self._expand(tags)
            clauses.append("tag IN (SELECT unnest(?::VARCHAR[]))")
            params.append(names)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params
