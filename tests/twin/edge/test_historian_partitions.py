"""Partitioned Parquet beside the historian, and one query API over many lines (:class:`HistorianSet`).

The partitions hold exactly what the DuckDB file holds (one date folder per UTC date); a set over two lines
is their union, narrowed by line and date; its window and resample equal :class:`HistorianReader`'s on one
run; the correlation is Pearson's; a partition folder that cannot be written loses nothing (in-process: a
file where the folder should be; in a child process: a full disk, as ``test_historian_unwritable.py``
makes one); and ``historian.partitions`` in the edge's settings switches it on for ``twin edge run``.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.edge.frames import Aligner, ElementIndex, Quality
from twin.edge.historian import Historian, HistorianReader
from twin.edge.historian_set import HistorianSet
from virtual_plc.tagmap import Tag

FAST = Tag(name="l.a.fast", unit="N", low=0, high=10, period_ms=10)
SLOW = Tag(name="l.b.profile", low=0, high=10, period_ms=100, length=2)
INDEX = ElementIndex([FAST, SLOW])
MIDNIGHT_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HIVE = "hive_partitioning = true, hive_types = {'line': VARCHAR, 'date': DATE}"


def file_rows(path: Path) -> list[tuple]:
    """Every samples row of a historian file, in one canonical order (wall time in ms)."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT ts_ms, tag, value, quality::VARCHAR, epoch_ms(wall_utc) FROM samples "
                           "ORDER BY ALL").fetchall()


def partition_rows(root: Path, line: str = "*") -> list[tuple]:
    """The same from the partitions of ``line`` under ``root``, read as DuckDB reads hive partitions."""
    if not list(root.glob(f"line={line}/date=*/*.parquet")):
        return []
    with duckdb.connect() as con:
        return con.execute(f"SELECT ts_ms, tag, value, quality, epoch_ms(wall_utc) FROM read_parquet("
                           f"'{root}/line={line}/date=*/*.parquet', {HIVE}) ORDER BY ALL").fetchall()


def write_run(path: Path, root: Path, line: str, frames: list[tuple[int, int, list[float | None]]], *,
              flush_rows: int = 1_000_000, **kwargs: object) -> Historian:
    """A closed historian of ``frames`` (ts_ms, wall_ms, a value per element or None: not sampled; NaN: bad)."""
    aligner = Aligner(INDEX)
    with Historian(path, INDEX, flush_rows=flush_rows, partitions=root, line=line, **kwargs) as historian:
        for ts_ms, wall_ms, values in frames:
            fresh = [i for i, v in enumerate(values) if v is not None]
            if fresh:
                aligner.update(np.array(fresh), np.array([values[i] for i in fresh], dtype=float), ts_ms)
            historian.append(aligner.frame(ts_ms, wall_ms=wall_ms))
    return historian


def steady(n: int, *, start_wall: int = MIDNIGHT_MS - 1000, offset: float = 0.0) -> list[tuple]:
    """``n`` frames 10 ms apart (the profile every 10th), starting ``start_wall``."""
    return [(k * 10, start_wall + k * 10, [k + offset, *([k + 0.5 + offset, k + 0.25 + offset] if k % 10 == 0
                                                          else [None, None])]) for k in range(n)]


@st.composite
def frame_sequences(draw: st.DrawFn) -> list[tuple[int, int, list[float | None]]]:
    """Up to 40 frames with random sampling, bad reads and wall-clock steps, around a UTC midnight."""
    n = draw(st.integers(1, 40))
    wall = MIDNIGHT_MS - draw(st.integers(0, 400))
    frames = []
    for k in range(n):
        values = draw(st.lists(st.one_of(st.none(), st.just(float("nan")), st.floats(-1e6, 1e6)),
                               min_size=3, max_size=3))
        frames.append((k * 10, wall, values))
        wall += draw(st.integers(0, 40))
    return frames


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(frames=frame_sequences(), flush_rows=st.integers(1, 30))
def test_the_partitions_hold_exactly_what_the_file_holds(tmp_path_factory: pytest.TempPathFactory,
                                                         frames: list[tuple], flush_rows: int) -> None:
    folder = tmp_path_factory.mktemp("run")
    historian = write_run(folder / "run" / "historian.duckdb", folder / "parts", "l1", frames,
                          flush_rows=flush_rows)
    rows = file_rows(folder / "run" / "historian.duckdb")
    assert partition_rows(folder / "parts") == rows
    # one date folder per UTC date of the rows' wall-clock time, each holding that date's rows only
    dates = {datetime.datetime.fromtimestamp(w / 1000, datetime.UTC).date().isoformat() for *_, w in rows}
    assert {p.name for p in (folder / "parts" / "line=l1").glob("date=*")} == {f"date={d}" for d in dates}
    for date in dates:
        with duckdb.connect() as con:
            days = con.execute(f"SELECT DISTINCT CAST(wall_utc AT TIME ZONE 'UTC' AS DATE)::VARCHAR FROM "
                               f"read_parquet('{folder}/parts/line=l1/date={date}/*.parquet')").fetchall()
        assert days == [(date,)]
    c = historian.counts
    assert c.partitioned == c.stored == len(rows) and c.partition_dropped == c.failures == 0
    assert not list((folder / "parts").rglob("*.tmp"))


def test_a_set_over_two_lines_is_their_union_narrowed_by_line_and_date(tmp_path: Path) -> None:
    root = tmp_path / "hall"
    write_run(tmp_path / "east" / "historian.duckdb", root, "east", steady(300))  # 1 s before midnight, 2 s after
    write_run(tmp_path / "west" / "historian.duckdb", root, "west", steady(50, start_wall=MIDNIGHT_MS + 5000,
                                                                               offset=1000))
    with HistorianSet(root) as hall:
        assert hall.lines() == ["east", "west"]
        table = hall.window()
        assert sorted(zip(table["ts_ms"].to_pylist(), table["tag"].to_pylist(), table["value"].to_pylist())) == \
            sorted(r[:3] for r in file_rows(tmp_path / "east" / "historian.duckdb")
                   + file_rows(tmp_path / "west" / "historian.duckdb"))
        assert set(table["line"].to_pylist()) == {"east", "west"}
        out = hall.resample(100, 0, 500, ["l.a.fast"])
        assert list(out) == [("east", "l.a.fast"), ("west", "l.a.fast")]
        assert out[("west", "l.a.fast")][0][2] == 1020.0 and out[("east", "l.a.fast")][0][2] == 20.0
    with HistorianSet(root, lines=["west"]) as west:
        assert west.lines() == ["west"] and set(west.window()["line"].to_pylist()) == {"west"}
        assert all("line=west" in str(p) for p in west.files())
    with HistorianSet(root, dates=("2025-12-31", "2025-12-31")) as before_midnight:
        assert before_midnight.lines() == ["east"]
        assert before_midnight.window()["ts_ms"].to_pylist() == sorted([k * 10 for k in range(100)]
                                                                        + [k * 10 for k in range(0, 100, 10)] * 2)
    with HistorianSet(root, dates=(datetime.date(2026, 1, 1), datetime.date(2026, 1, 1))) as after:
        assert after.lines() == ["east", "west"] and min(after.window(tags=["l.a.fast"])["ts_ms"].to_pylist()) == 0
        with pytest.raises(KeyError, match="no.such"):
            after.window(tags=["no.such"])


def test_on_one_run_the_set_answers_as_the_reader_does(tmp_path: Path) -> None:
    frames = steady(400)
    frames[125] = (frames[125][0], frames[125][1], [float("nan"), None, None])  # a bad read, on the grid
    write_run(tmp_path / "run" / "historian.duckdb", tmp_path / "parts", "l1", frames, flush_rows=97)
    with HistorianReader(tmp_path / "run" / "historian.duckdb") as reader, HistorianSet(tmp_path / "parts") as one:
        assert one.tags() == reader.tags()
        for args in [(), (100, 2000, ["l.b.profile"]), (0, 4000, ["l.a.fast", "l.b.profile[1]"])]:
            assert one.window(*args).drop_columns(["line"]).equals(reader.window(*args))
        mine, theirs = one.resample(25, 500, 3500, ["l.a.fast", "l.b.profile"]), reader.resample(
            25, 500, 3500, ["l.a.fast", "l.b.profile"])
        assert [name for _, name in mine] == list(theirs)
        for (_, name), (values, quality) in mine.items():
            np.testing.assert_array_equal(values, theirs[name][0])
            np.testing.assert_array_equal(quality, theirs[name][1])
        assert Quality.BAD in mine[("l1", "l.a.fast")][1]


def test_a_source_that_starts_again_continues_its_numbers(tmp_path: Path) -> None:
    root = tmp_path / "parts"
    for start in (0, 10_000):  # the same run folder (the same source) twice: nothing is overwritten
        frames = [(ts + start, wall + start, v) for ts, wall, v in steady(30, start_wall=MIDNIGHT_MS)]
        write_run(tmp_path / "run" / "historian.duckdb", root, "l1", frames, flush_rows=20)
    names = sorted(p.name for p in (root / "line=l1").rglob("*.parquet"))
    assert names == [f"run-{n}.parquet" for n in range(len(names))] and len(names) >= 4
    assert len(partition_rows(root)) == 2 * (30 + 3 * 2)


def test_correlation_is_pearsons_over_the_grid(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    x, z = rng.standard_normal(600), rng.standard_normal(600)
    y = 2 * x + 0.1 * rng.standard_normal(600)
    index = ElementIndex([Tag(name=n, period_ms=1000) for n in ("s.x", "s.y", "s.z")])
    aligner = Aligner(index)
    with Historian(tmp_path / "run" / "h.duckdb", index, partitions=tmp_path / "parts", line="l1") as historian:
        for k in range(600):
            values = [x[k], y[k], z[k]] if k not in range(100, 150) else [x[k], np.nan, z[k]]  # y bad for 50 s
            aligner.update(np.arange(3), np.array(values), k * 1000)
            historian.append(aligner.frame(k * 1000, wall_ms=MIDNIGHT_MS + k * 1000))
    with HistorianSet(tmp_path / "parts") as hall, HistorianReader(tmp_path / "run" / "h.duckdb") as reader:
        c = hall.correlation(["s.x", "s.y", "s.z"], 0, 600_000, 1000)
        mine = reader.correlation(["s.x", "s.y", "s.z"], 0, 600_000, 1000)
    keep = np.ones(600, bool)
    keep[100:150] = False  # the grid points where y is bad (NaN): left out of every pair with y only
    assert c.keys == [("l1", "s.x"), ("l1", "s.y"), ("l1", "s.z")]
    assert c.of(("l1", "s.x"), ("l1", "s.y")) == pytest.approx(np.corrcoef(x[keep], y[keep])[0, 1], abs=1e-12)
    assert c.of(("l1", "s.x"), ("l1", "s.z")) == pytest.approx(np.corrcoef(x, z)[0, 1], abs=1e-12)
    assert c.of(("l1", "s.x"), ("l1", "s.y")) > 0.99 and abs(c.of(("l1", "s.x"), ("l1", "s.z"))) < 0.15
    assert c.n.tolist() == [[600, 550, 600], [550, 550, 550], [600, 550, 600]]
    np.testing.assert_array_equal(c.r, mine.r)


def blocked_then_freed(tmp_path: Path, free: bool) -> tuple[Historian, Path]:
    """A historian whose partition folder cannot be made (a file stands in its place) for a while."""
    root = tmp_path / "parts"
    root.mkdir()
    (root / "line=l1").write_text("not a folder")
    aligner = Aligner(INDEX)
    historian = Historian(tmp_path / "run" / "historian.duckdb", INDEX, flush_rows=20, retry_s=0.0,
                          partitions=root, line="l1")
    for k, (ts, wall, values) in enumerate(steady(200, start_wall=MIDNIGHT_MS)):
        if free and k == 150:
            (root / "line=l1").unlink()
        aligner.update(np.array([0, 1, 2]) if values[1] is not None else np.array([0]),
                       np.array([v for v in values if v is not None]), ts)
        historian.append(aligner.frame(ts, wall_ms=wall))
        if k == 149:
            assert historian.counts.failures > 0 and historian.counts.partitioned == 0
            assert historian.counts.stored > 0  # the file went on: the partitions hold back nothing else
    historian.close()
    return historian, root


def test_a_partition_folder_that_cannot_be_written_for_a_while_loses_nothing(tmp_path: Path) -> None:
    historian, root = blocked_then_freed(tmp_path, free=True)
    c = historian.counts
    assert c.collected == c.stored == c.partitioned == 200 + 2 * 20 and c.partition_dropped == 0
    assert partition_rows(root) == file_rows(tmp_path / "run" / "historian.duckdb")


def test_a_partition_folder_still_refused_at_close_is_counted_and_the_file_has_it_all(tmp_path: Path) -> None:
    historian, root = blocked_then_freed(tmp_path, free=False)
    c = historian.counts
    assert c.collected == c.stored == c.partition_dropped == 240 and c.partitioned == 0 and c.dropped == 0
    assert len(file_rows(tmp_path / "run" / "historian.duckdb")) == 240


FULL_DISK = r"""
import json, sys
from pathlib import Path
from tests.twin.edge.full_disk import FullDiskLine

folder, during = Path(sys.argv[1]), int(sys.argv[2])
line = FullDiskLine(folder / "run" / "historian.duckdb", wall_ms0=1_767_225_599_000, partitions=folder / "parts",
                    line="l1")
historian = line.historian
line.frames(30)
line.fill()  # the disk is full: no file grows past one byte
line.frames(during)
failures, partitioned = historian.counts.failures, historian.counts.partitioned
line.free()
line.frames(5)
historian.close()
c = historian.counts
print(json.dumps({"collected": c.collected, "stored": c.stored, "partitioned": c.partitioned,
                  "partition_dropped": c.partition_dropped, "failures_while_full": failures,
                  "partitioned_while_full": partitioned, "frames": line.k}))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_full_disk_for_a_while_loses_nothing_from_the_partitions_either(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(tmp_path), "150"], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).parents[3])
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["failures_while_full"] > 0 and counts["partition_dropped"] == 0
    assert counts["partitioned_while_full"] < 3 * 180  # the partitions really held some back
    assert counts["collected"] == counts["stored"] == counts["partitioned"] == 3 * counts["frames"]
    rows = partition_rows(tmp_path / "parts")
    assert rows == file_rows(tmp_path / "run" / "historian.duckdb")
    assert sorted(int(r[2]) for r in rows if r[1] == "l.a") == list(range(counts["frames"]))  # each frame once
    assert not list((tmp_path / "parts").rglob("*.tmp"))  # a file cut short by the full disk was removed


def test_the_edge_writes_partitions_when_its_settings_say_so(tmp_path: Path) -> None:
    from tests.twin.edge.test_realtime import serve_bare_modbus
    from twin.edge.realtime import run_edge
    from twin.edge.settings import load_edge_settings
    from virtual_plc.tagmap import TagMap

    tagmap = TagMap(plant="bottling", opcua_namespace="urn:bottling", clock_tag="bottling.plc.clock", tags=[
        Tag(name="bottling.plc.clock", dtype="uint64", low=0, high=1e12, period_ms=10),
        Tag(name="bottling.filler.level", unit="mm", low=0, high=500, period_ms=10)]).allocated()
    tagmap.to_yaml(tmp_path / "tags.yaml")
    (tmp_path / "edge.yaml").write_text("detection: {enabled: false}\nrootcause: {enabled: false}\n"
                                        "historian: {partitions: hall}\n")
    settings, base = load_edge_settings(tmp_path / "edge.yaml")

    async def main() -> None:
        plc, endpoints = await serve_bare_modbus(tagmap, tmp_path)
        try:
            await run_edge(endpoints, tmp_path / "plain", plant_s=0.2)  # the default: no partitions
            await run_edge(endpoints, tmp_path / "filler 1", settings=settings, settings_base=base, plant_s=0.2)
        finally:
            await plc.stop()

    asyncio.run(main())
    assert not list((tmp_path / "plain").rglob("line=*"))
    assert sorted(p.name for p in tmp_path.glob("hall/*")) == ["_elements", "line=bottling"]
    files = list((tmp_path / "hall").rglob("line=bottling/date=*/*.parquet"))
    assert files and all(p.name.startswith("edge-filler_1-") for p in files)
    assert partition_rows(tmp_path / "hall") == file_rows(tmp_path / "filler 1" / "historian.duckdb")
    edge = json.loads((tmp_path / "filler 1" / "edge.json").read_text())
    assert edge["historian"]["partitioned"] == edge["historian"]["stored"] > 0
