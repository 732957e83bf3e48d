"""DuckDB historian: long format, nothing lost, queries, export."""

from __future__ import annotations

import datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq

from twin.edge.frames import Aligner, ElementIndex, Quality
from twin.edge.historian import Historian, HistorianReader
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
