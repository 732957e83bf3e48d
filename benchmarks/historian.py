"""Historian benchmark: ingest values/s, and window + resample + correlation queries on the DuckDB file and on the
hive-partitioned Parquet beside it, for one line of 10,000 tags and a hall of 100 lines.

Reproduce (about 2.5 minutes on a 2-core machine; up to 0.9 GB at a time in a temporary folder, removed
at the end)::

    .venv/bin/python benchmarks/historian.py

What is measured

``ingest``
    :meth:`Historian.append <twin.edge.historian.Historian.append>` of frames of ``--tags`` tags (1,000
    and 10,000), every tag sampled at every frame, then ``close`` (the last flush): values per second
    from the first append to the end of close, median of ``--repeats`` fresh historians of about
    ``--ingest-values`` values each; DuckDB file only, and with partitions (every batch also written
    as Parquet).
``line``
    ``--line-tags`` tags (10,000) × ``--line-seconds`` (1 h) at 1 s, 36 M values, appended frame by frame
    through a real ``Historian`` with partitions (its ingest rate is printed too). Then the query, on
    the DuckDB file (``HistorianReader``) and on the partitions (``HistorianSet``): ``window`` of
    ``--query-tags`` tags (100) over the whole hour, ``resample`` of the same tags to 1 s and their
    ``correlation`` (pairwise Pearson on that grid); median of ``--repeats`` of each. Two sets of tags:
    ``spread`` (every 100th tag of the line) and ``machine`` (100 tags of one machine, adjacent in
    name). Then once each: the same tags' correlation in DuckDB SQL (``corr`` over a self-join of the
    resampled grid) beside numpy's (:func:`twin.edge.historian.pearson`), and ``window`` and
    ``resample`` of all the line's tags (the full 36 M values).
``hall``
    ``--hall-lines`` lines (100) × ``--hall-tags`` tags (10) × ``--hall-hours`` (24 h) at 1 s, written
    as the historian writes its partitions (:class:`twin.edge.partitions.PartitionWriter`, in
    250,000-row batches; no DuckDB file, which would only slow the set-up), starting at noon UTC so
    that two date partitions appear. Then the same query on one tag of every line (100 series ×
    24 h), and narrower ones the partition layout prunes: the last hour of that tag on every line
    (the files' ``ts_ms`` statistics), one line's tags over the day (the ``line`` folder), and one
    date (the ``date`` folders).

Targets (issue "A hall, not a line", item 3): ingest ≥ 1 M values/s; the 10,000 tags × 1 h query < 1 s.
Frames are generated with numpy before timing where they can be; every loop is bounded by a count and
by ``--budget`` seconds. Nothing here asserts on timings. The machine's load average is printed first:
on a shared 2-core machine it moves every figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from twin.edge.frames import QUALITY_NAMES, ElementIndex, Frame  # noqa: E402
from twin.edge.historian import Historian, HistorianReader, pearson  # noqa: E402
from twin.edge.historian_set import HistorianSet  # noqa: E402
from twin.edge.partitions import DAY_MS, PartitionWriter, utc_date  # noqa: E402
from virtual_plc.tagmap import Tag  # noqa: E402

COMMAND = ".venv/bin/python benchmarks/historian.py"
LINE_WALL_MS = 1_772_438_400_000  # 2026-03-02T08:00:00Z: the line's hour lies in one date
HALL_WALL_MS = 1_772_452_800_000  # 2026-03-02T12:00:00Z: the hall's day spans two dates
INGEST_TARGET = 1_000_000
QUERY_TARGET_S = 1.0


def line_tags(n: int) -> list[Tag]:
    """``n`` scalar tags sampled every second, 100 to a machine: ``m0.t0 ... m0.t99, m1.t0, ...``."""
    return [Tag(name=f"m{i // 100}.t{i % 100}", period_ms=1000) for i in range(n)]


def append_frames(historian: Historian, index: ElementIndex, frames: int, start_ms: int = 0,
                  wall_ms: int = LINE_WALL_MS, budget_s: float = float("inf")) -> int:
    """Append ``frames`` frames 1 s apart, every element fresh (values: 64 random rows and a drift per tag);
    returns how many were appended before ``budget_s`` ran out (checked every 100 frames)."""
    n = len(index)
    rng = np.random.default_rng(len(index))
    block = rng.standard_normal((64, n))
    drift = rng.standard_normal(n) * 1e-3
    quality, fresh = np.zeros(n, dtype=np.uint8), np.ones(n, dtype=bool)
    deadline = time.perf_counter() + budget_s
    for k in range(frames):
        ts = start_ms + k * 1000
        historian.append(Frame(ts, index, block[k % 64] + drift * k, quality, fresh, wall_ms=wall_ms + ts))
        if k % 100 == 99 and time.perf_counter() > deadline:
            return k + 1
    return frames


def time_ingest(tags: int, values: int, partitions: bool, repeats: int, budget_s: float, work: Path) -> float:
    """Median values/s of ``repeats`` fresh historians of ``tags`` tags, about ``values`` values each."""
    index = ElementIndex(line_tags(tags))
    rates = []
    for r in range(repeats):
        folder = work / f"ingest-{tags}-{partitions}-{r}"
        historian = Historian(folder / "run" / "historian.duckdb", index,
                              partitions=folder / "parts" if partitions else None, line="l1")
        start = time.perf_counter()
        done = append_frames(historian, index, max(1, values // tags), budget_s=budget_s / repeats)
        historian.close()
        rates.append(done * tags / (time.perf_counter() - start))
        shutil.rmtree(folder)
    return statistics.median(rates)


def median_time(call: Callable[[], Any], repeats: int, budget_s: float) -> tuple[float, Any]:
    """Median seconds of ``call()`` over ``repeats`` runs (fewer once ``budget_s`` is used), and its last result."""
    times, result = [], None
    deadline = time.perf_counter() + budget_s
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
        if time.perf_counter() > deadline:
            break
    return statistics.median(times), result


def time_query(reader: HistorianReader | HistorianSet, tags: Sequence[str], start_ms: int, end_ms: int,
               repeats: int, budget_s: float) -> dict[str, float]:
    """Median seconds of window, resample (1 s) and correlation of ``tags`` over ``start_ms .. end_ms``, and
    the rows and series they returned (the correlation, cheap, at least 5 times: numpy's BLAS threads vary
    most on a busy machine)."""
    window_s, table = median_time(lambda: reader.window(start_ms, end_ms, tags), repeats, budget_s / 3)
    resample_s, series = median_time(lambda: reader.resample(1000, start_ms, end_ms, tags), repeats, budget_s / 3)
    correlation_s, _ = median_time(lambda: pearson(series), max(repeats, 5), budget_s / 3)  # cheap: more runs
    return {"window": window_s, "resample": resample_s, "correlation": correlation_s,
            "total": window_s + resample_s + correlation_s, "rows": table.num_rows, "series": len(series)}


def correlation_sql(series: dict[Any, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The same pairwise Pearson correlation in DuckDB SQL: ``corr`` over a self-join of the long grid on time."""
    values = np.vstack([v for v, _ in series.values()])
    s, t = np.nonzero(~np.isnan(values))
    grid = pa.table({"s": s.astype(np.int32), "t": t.astype(np.int32), "v": values[s, t]})
    with duckdb.connect() as con:
        con.register("grid", grid)
        rows = con.execute("SELECT a.s, b.s, corr(a.v, b.v) FROM grid a JOIN grid b ON a.t = b.t AND a.s < b.s "
                           "GROUP BY ALL").fetchall()
    r = np.eye(len(values))
    for i, j, value in rows:
        r[i, j] = r[j, i] = value
    return r


def write_hall(root: Path, lines: int, tags: int, hours: float, batch_rows: int = 250_000) -> int:
    """``lines`` lines of ``tags`` tags at 1 s for ``hours``, written by :class:`PartitionWriter` in batches
    of ``batch_rows`` rows (time stamps are UTC ms, as a real-time edge on the wall clock stores them);
    returns the rows written."""
    names = [f"m0.t{i}" for i in range(tags)]
    elements = pa.table({"name": names, "tag": names, "unit": [""] * tags, "period_ms": pa.array([1000] * tags,
                                                                                                 pa.int64())})
    dictionary, qualities = pa.array(names, pa.string()), pa.array(QUALITY_NAMES, pa.string())
    seconds, per_batch = int(hours * 3600), max(1, batch_rows // tags)
    rng = np.random.default_rng(1)
    for line in range(lines):
        writer = PartitionWriter(root, f"line{line:03d}", "edge")
        for first in range(0, seconds, per_batch):
            frames = min(per_batch, seconds - first)
            ts = np.repeat(HALL_WALL_MS + (first + np.arange(frames, dtype=np.int64)) * 1000, tags)
            positions = np.tile(np.arange(tags, dtype=np.int32), frames)
            writer.write(pa.table({
                "ts_ms": ts, "tag": pa.DictionaryArray.from_arrays(pa.array(positions), dictionary),
                "value": rng.standard_normal(len(ts)),
                "quality": pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(ts), np.int32)), qualities),
                "wall_ms": ts}), elements)
    return lines * tags * seconds


def span(seconds: float) -> str:
    """``seconds`` in hours when whole, else in seconds.

    >>> span(3600), span(86_400), span(300)
    ('1 h', '24 h', '300 s')
    """
    return f"{seconds / 3600:g} h" if seconds % 3600 == 0 else f"{seconds:g} s"


def size_mb(path: Path) -> float:
    """Megabytes of the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def query_row(label: str, q: dict[str, float], target: bool = False) -> str:
    """One printed row of a query's timings."""
    mark = ""
    if target:
        mark = "  (target < 1 s: " + ("met)" if q["total"] < QUERY_TARGET_S else "NOT met)")
    return (f"{label:<34} {q['rows']:>11,} {q['series']:>7,} {q['window']:>8.3f} {q['resample']:>9.3f}"
            f" {q['correlation']:>8.4f} {q['total']:>8.3f}{mark}")


QUERY_HEADER = (f"{'query':<34} {'rows':>11} {'series':>7} {'window':>8} {'resample':>9} {'corr':>8} "
                f"{'total s':>8}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement, median reported (default 3)")
    parser.add_argument("--budget", type=float, default=30.0, help="wall-time cap per measurement, s (default 30)")
    parser.add_argument("--ingest-values", type=int, default=4_000_000,
                        help="values per ingest run (default 4000000)")
    parser.add_argument("--line-tags", type=int, default=10_000, help="tags of the line (default 10000)")
    parser.add_argument("--line-seconds", type=int, default=3600, help="seconds of the line at 1 s (default 3600)")
    parser.add_argument("--query-tags", type=int, default=100, help="tags a query reads (default 100)")
    parser.add_argument("--hall-lines", type=int, default=100, help="lines of the hall (default 100)")
    parser.add_argument("--hall-tags", type=int, default=10, help="tags per hall line (default 10)")
    parser.add_argument("--hall-hours", type=float, default=24.0, help="hours of the hall at 1 s (default 24)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the tables."""
    args = parse_args(argv)
    began = time.perf_counter()
    print(f"reproduce: {COMMAND} --repeats {args.repeats} --ingest-values {args.ingest_values} --line-tags "
          f"{args.line_tags} --line-seconds {args.line_seconds} --query-tags {args.query_tags} --hall-lines "
          f"{args.hall_lines} --hall-tags {args.hall_tags} --hall-hours {args.hall_hours:g}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"duckdb {duckdb.__version__}, pyarrow {pa.__version__}, numpy {np.__version__}, python "
          f"{sys.version.split()[0]}, {os.cpu_count()} cores, load average {load} (1, 5, 15 min)\n")
    work = Path(tempfile.mkdtemp(prefix="historian-bench-", dir=args.work))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nwhole run {time.perf_counter() - began:.0f} s; load average at the end {load}")


def run(args: argparse.Namespace, work: Path) -> None:
    """The three parts, in ``work``."""
    print(f"{'ingest (Historian.append)':<34} {'DuckDB only':>14} {'with partitions':>16}   target")
    for tags in (1_000, 10_000):
        plain = time_ingest(tags, args.ingest_values, False, args.repeats, args.budget, work)
        parts = time_ingest(tags, args.ingest_values, True, args.repeats, args.budget, work)
        verdict = "met" if min(plain, parts) >= INGEST_TARGET else "NOT met"
        print(f"{format(tags, ',') + ' tags, values/s':<34} {plain:>14,.0f} {parts:>16,.0f}   ≥ 1,000,000: {verdict}")

    tags = line_tags(args.line_tags)
    index = ElementIndex(tags)
    start = time.perf_counter()
    historian = Historian(work / "line" / "run" / "historian.duckdb", index, partitions=work / "line" / "parts",
                          line="l1")
    frames = append_frames(historian, index, args.line_seconds, budget_s=10 * args.budget)
    historian.close()
    written_s = time.perf_counter() - start
    end_ms = frames * 1000
    print(f"\nline: {args.line_tags:,} tags × {frames:,} s at 1 s = {frames * args.line_tags / 1e6:.1f} M values, "
          f"written with partitions in {written_s:.1f} s ({frames * args.line_tags / written_s:,.0f} values/s); "
          f"DuckDB file {size_mb(work / 'line' / 'run'):,.0f} MB, partitions {size_mb(work / 'line' / 'parts'):,.0f}"
          f" MB in {historian.partitions.files if historian.partitions else 0} files")
    k = min(args.query_tags, len(tags))
    chosen = {"spread": [t.name for t in tags[:: max(1, len(tags) // k)][:k]],
              "machine": [t.name for t in tags[len(tags) // 2: len(tags) // 2 + k]]}
    print(QUERY_HEADER)
    with HistorianReader(work / "line" / "run" / "historian.duckdb") as file, \
            HistorianSet(work / "line" / "parts") as parts:
        for where, reader in (("DuckDB file", file), ("partitions", parts)):
            for kind, names in chosen.items():
                q = time_query(reader, names, 0, end_ms, args.repeats, args.budget)
                print(query_row(f"{where}, {k} tags {kind}, {span(frames)}", q, target=True))
        series = file.resample(1000, 0, end_ms, chosen["spread"])
        numpy_s, r_numpy = median_time(lambda: pearson(series).r, max(args.repeats, 5), args.budget)
        sql_s, r_sql = median_time(lambda: correlation_sql(series), 1, args.budget)
        agree = np.nanmax(np.abs(r_numpy - r_sql))
        print(f"correlation of {len(series)} series × {len(next(iter(series.values()))[0]):,} points: numpy "
              f"{numpy_s * 1000:.1f} ms, DuckDB SQL (self-join, corr) {sql_s * 1000:,.0f} ms "
              f"({sql_s / numpy_s:,.0f}×); largest difference {agree:.1e}")
        everything = [t.name for t in tags]
        for where, reader in (("DuckDB file", file), ("partitions", parts)):
            window_s, table = median_time(lambda r=reader: r.window(0, end_ms, everything), 1, args.budget)
            resample_s, _ = median_time(lambda r=reader: r.resample(1000, 0, end_ms, everything), 1, args.budget)
            print(f"{where}, all {len(tags):,} tags, {span(frames)}: window {window_s:.1f} s "
                  f"({table.num_rows:,} rows), resample {resample_s:.1f} s (once each; the correlation of "
                  f"{len(tags):,} series, a {len(tags):,}² matrix, is left out)")
            del table
    shutil.rmtree(work / "line")

    hall = work / "hall"
    start = time.perf_counter()
    rows = write_hall(hall, args.hall_lines, args.hall_tags, args.hall_hours)
    written_s = time.perf_counter() - start
    seconds = int(args.hall_hours * 3600)
    files = len(list(hall.rglob("line=*/date=*/*.parquet")))
    print(f"\nhall: {args.hall_lines} lines × {args.hall_tags} tags × {args.hall_hours:g} h at 1 s = "
          f"{rows / 1e6:.1f} M values ({args.hall_tags} tags a line, not 10,000: {args.hall_lines} × 10,000 × "
          f"24 h would be {args.hall_lines * 10_000 * 86_400 / 1e9:.0f} G values), written as partitions in "
          f"{written_s:.1f} s ({rows / written_s:,.0f} values/s), {size_mb(hall):,.0f} MB in {files:,} files")
    end = HALL_WALL_MS + seconds * 1000
    day0 = utc_date(HALL_WALL_MS // DAY_MS)
    print(QUERY_HEADER)
    with HistorianSet(hall) as everywhere:
        q = time_query(everywhere, ["m0.t0"], HALL_WALL_MS, end, args.repeats, args.budget)
        print(query_row(f"1 tag × {args.hall_lines} lines, {span(seconds)}", q))
        q = time_query(everywhere, ["m0.t0"], end - 3_600_000, end, args.repeats, args.budget)
        print(query_row(f"1 tag × {args.hall_lines} lines, last 1 h", q))
    with HistorianSet(hall, lines=["line000"]) as one:
        q = time_query(one, [f"m0.t{i}" for i in range(args.hall_tags)], HALL_WALL_MS, end, args.repeats,
                       args.budget)
        print(query_row(f"{args.hall_tags} tags × 1 line, {span(seconds)}", q))
    with HistorianSet(hall, dates=(day0, day0)) as first_date:
        q = time_query(first_date, ["m0.t0"], HALL_WALL_MS, end, args.repeats, args.budget)
        print(query_row(f"1 tag × {args.hall_lines} lines, date {day0}", q))
        print(f"(files read: {len(first_date.files()):,} of {files:,} for the date; the last-hour query reads "
              f"the {files:,} files' footers and skips those outside the hour)")


if __name__ == "__main__":
    main()
