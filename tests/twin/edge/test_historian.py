"""DuckDB historian: long format, nothing lost, queries, export."""

from __future__ import annotations

import datetime
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.edge.frames import Aligner, ElementIndex, Quality
from twin.edge.historian import TAG_TYPE, Historian, HistorianReader
from virtual_plc.tagmap import Tag

FAST = Tag(name="l.a.fast", unit="N", low=0, high=10, period_ms=10)
SLOW = Tag(name="l.b.profile", low=0, high=10, period_ms=100, length=2)


def fill(path: Path, n_frames: int, *, flush_rows: int = 1_000_000, fail_at: set[int] = frozenset()) -> Historian:
    index = ElementIndex([FAST, SLOW])
    aligner = Aligner(index)
    historian = Historian(path, index, flush_rows=flush_rows)
    for k in range(n_frames):
        t = k * 10
        value = np.nan if k in fail_at else float(k)
        aligner.update(np.array([0]), np.array([value]), t)
        if t % 100 == 0:
            aligner.update(np.array([1, 2]), np.array([k + 0.5, k + 0.25]), t)
        historian.append(aligner.frame(t))
    return historian


def test_long_format_each_tag_at_its_own_rate(tmp_path: Path) -> None:
    fill(tmp_path / "h.duckdb", 50).close()
    with HistorianReader(tmp_path / "h.duckdb") as reader:
        rows = reader.window().to_pylist()
        assert reader.tags() == ["l.a.fast", "l.b.profile[0]", "l.b.profile[1]"]
    assert sum(r["tag"] == "l.a.fast" for r in rows) == 50
    assert sum(r["tag"] == "l.b.profile[1]" for r in rows) == 5
    wall = rows[0].pop("wall_utc")
    assert rows[0] == {"ts_ms": 0, "tag": "l.a.fast", "value": 0.0, "quality": "good"}
    # beside plant time, the UTC wall-clock time the edge received the sample
    assert wall.utcoffset() == datetime.timedelta(0)
    assert abs((datetime.datetime.now(datetime.UTC) - wall).total_seconds()) < 600


def test_nothing_buffered_is_lost_when_the_run_stops(tmp_path: Path) -> None:
    historian = fill(tmp_path / "h.duckdb", 37, flush_rows=10_000)  # never reaches a flush by itself
    assert historian.frames == 37
    historian.close()
    con = duckdb.connect(str(tmp_path / "h.duckdb"), read_only=True)
    assert con.execute("SELECT count(DISTINCT ts_ms) FROM samples").fetchone()[0] == 37


def test_bad_reads_are_stored_as_bad(tmp_path: Path) -> None:
    fill(tmp_path / "h.duckdb", 20, fail_at={5, 6}).close()
    with HistorianReader(tmp_path / "h.duckdb") as reader:
        counts = reader.counts_by_quality()
        bad = reader.window(tags=["l.a.fast"]).to_pylist()
    assert counts["bad"] == 2 and counts["missing"] == 0
    assert [r["ts_ms"] for r in bad if r["quality"] == "bad"] == [50, 60]


def test_window_filters_and_expands_array_tags(tmp_path: Path) -> None:
    fill(tmp_path / "h.duckdb", 50).close()
    with HistorianReader(tmp_path / "h.duckdb") as reader:
        table = reader.window(100, 300, ["l.b.profile"])
    assert set(table.column("tag").to_pylist()) == {"l.b.profile[0]", "l.b.profile[1]"}
    assert table.column("ts_ms").to_pylist() == [100, 100, 200, 200]


def test_resample_is_as_of_with_the_live_quality_rule(tmp_path: Path) -> None:
    fill(tmp_path / "h.duckdb", 50, fail_at={20}).close()
    with HistorianReader(tmp_path / "h.duckdb") as reader:
        out = reader.resample(25, 0, 500, ["l.a.fast", "l.b.profile[0]"])
    values, quality = out["l.a.fast"]
    assert values[1] == 2.0  # t=25 -> last sample at t=20 is k=2
    assert quality[8] == Quality.BAD  # t=200 -> the failed read at k=20
    slow_values, slow_quality = out["l.b.profile[0]"]
    assert slow_values[5] == 10.5 and slow_quality[5] == Quality.GOOD  # t=125 -> sample at t=100


def test_hash_tracks_contents_and_parquet_export_matches(tmp_path: Path) -> None:
    fill(tmp_path / "a.duckdb", 30).close()
    fill(tmp_path / "b.duckdb", 30).close()
    fill(tmp_path / "c.duckdb", 30, fail_at={3}).close()
    with (
        HistorianReader(tmp_path / "a.duckdb") as a,
        HistorianReader(tmp_path / "b.duckdb") as b,
        HistorianReader(tmp_path / "c.duckdb") as c,
    ):
        assert a.content_hash() == b.content_hash() != c.content_hash()
        a.export_parquet(tmp_path / "a.parquet")
        assert pq.read_table(tmp_path / "a.parquet").to_pylist() == a.window().to_pylist()


def test_the_file_describes_its_elements(tmp_path: Path) -> None:
    fill(tmp_path / "h.duckdb", 3).close()
    con = duckdb.connect(str(tmp_path / "h.duckdb"), read_only=True)
    rows = con.execute("SELECT name, tag, unit, period_ms FROM elements ORDER BY name").fetchall()
    assert rows[0] == ("l.a.fast", "l.a.fast", "N", 10)
    assert rows[2] == ("l.b.profile[1]", "l.b.profile", "", 100)


def test_a_frames_wall_clock_time_is_stored_to_the_millisecond(tmp_path) -> None:
    from twin.edge.frames import Aligner, ElementIndex
    from virtual_plc.tagmap import Tag

    index = ElementIndex([Tag(name="l.a.x", low=0, high=10, period_ms=10)])
    aligner = Aligner(index)
    at = 1_796_000_000_123  # 2026-11-30, ms since the epoch
    with Historian(tmp_path / "h.duckdb", index) as historian:
        aligner.update(np.array([0]), np.array([1.5]), 40)
        historian.append(aligner.frame(40, wall_ms=at))
        rows = historian.reader().window().to_pylist()
    assert rows[0]["ts_ms"] == 40 and round(rows[0]["wall_utc"].timestamp() * 1000) == at


def _as_text_copy(source: Path, copy: Path) -> None:
    """The same rows in a file laid out as historians wrote them before the ENUM tag column: tag VARCHAR."""
    con = duckdb.connect(str(copy))
    con.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
    con.execute("CREATE TYPE quality_t AS ENUM ('good', 'stale', 'bad', 'missing')")
    con.execute("CREATE TABLE samples (ts_ms BIGINT NOT NULL, tag VARCHAR NOT NULL, value DOUBLE, "
                "quality quality_t NOT NULL, wall_utc TIMESTAMPTZ)")
    con.execute("INSERT INTO samples SELECT ts_ms, tag::VARCHAR, value, quality::VARCHAR, wall_utc "
                "FROM src.samples ORDER BY rowid DESC")  # another physical order: only the queries' order counts
    for table in ("elements", "text_samples", "text_tags"):
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM src.{table} ORDER BY rowid")
    con.close()


names = st.lists(st.from_regex(r"l\.[A-Za-z_][A-Za-z_0-9é]{0,4}", fullmatch=True), min_size=1, max_size=6,
                 unique=True)  # index order is seldom name order; an array tag's elements sort inside their name


@settings(max_examples=15, deadline=None)
@given(names=names, frames=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_the_enum_tag_column_answers_as_the_text_one_did(names: list[str], frames: int, seed: int) -> None:
    """A file with the ENUM tag column and a copy of its rows with a VARCHAR one (as files were written before)
    give the same windows, resamples, hash and export: same rows, same order (by time, then name), tags as text."""
    rng = np.random.default_rng(seed)
    index = ElementIndex([Tag(name=name, period_ms=10 * int(rng.integers(1, 4)), length=int(rng.integers(1, 3)))
                          for name in names])
    aligner = Aligner(index)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with Historian(root / "enum.duckdb", index) as historian:
            for k in range(frames):
                fresh = np.flatnonzero(rng.random(len(index)) < 0.7)
                values = np.where(rng.random(len(fresh)) < 0.1, np.nan, rng.normal(size=len(fresh)))
                aligner.update(fresh, values, k * 10)
                historian.append(aligner.frame(k * 10))
        _as_text_copy(root / "enum.duckdb", root / "text.duckdb")
        wanted = [names[i] for i in rng.permutation(len(names))[: max(1, len(names) // 2)]]
        with HistorianReader(root / "enum.duckdb") as enum, HistorianReader(root / "text.duckdb") as text:
            assert (enum.tag_type(), text.tag_type()) == (TAG_TYPE, "VARCHAR")
            for reader in (enum, text):
                reader.export_parquet(root / f"{reader.path.stem}.parquet")
            assert enum.window().to_pylist() == text.window().to_pylist()
            assert enum.window(0, frames * 5, wanted).to_pylist() == text.window(0, frames * 5, wanted).to_pylist()
            assert enum.window().schema == text.window().schema
            assert enum.content_hash() == text.content_hash()
            assert enum.counts_by_quality() == text.counts_by_quality()
            a, b = enum.resample(10, 0, frames * 10, wanted), text.resample(10, 0, frames * 10, wanted)
            assert a.keys() == b.keys()
            for key in a:
                np.testing.assert_array_equal(a[key][0], b[key][0])
                np.testing.assert_array_equal(a[key][1], b[key][1])
            assert (pq.read_table(root / "enum.parquet").to_pylist()
                    == pq.read_table(root / "text.parquet").to_pylist() == enum.window().to_pylist())
