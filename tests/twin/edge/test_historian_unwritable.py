"""A historian file that cannot be written for a while (the disk full) loses nothing it can keep.

Each case runs in its own process that lowers its file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored):
every write past the limit then fails with EFBIG in the operating system, so DuckDB meets a real I/O error,
as on a full disk, and the test changes nothing in the historian's code path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX"),
              pytest.mark.slow]  # child processes filling a disk quota: about 9 s, kept out of the inner loop

SCRIPT = r"""
import json, sys
from pathlib import Path
from tests.twin.edge.full_disk import FullDiskLine

path, before, during, after, max_rows = Path(sys.argv[1]), *map(int, sys.argv[2:6])
line = FullDiskLine(path, max_unwritten_rows=max_rows)
historian = line.historian
line.frames(before)
historian.flush()
wal = Path(str(path) + ".wal")
line.fill(max(wal.stat().st_size if wal.exists() else 0, 1))  # no file grows past what the WAL holds now
line.frames(during)
failures = historian.counts.failures
if after >= 0:
    line.free()
    line.frames(after)
historian.close()
c = historian.counts
print(json.dumps({"collected": c.collected, "stored": c.stored, "spilled": c.spilled, "dropped": c.dropped,
                  "failures_while_full": failures, "unwritten": c.unwritten(), "frames": line.k}))
"""


def run(tmp_path: Path, before: int, during: int, after: int, max_rows: int = 10**9) -> tuple[dict, Path]:
    path = tmp_path / "historian.duckdb"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(path), str(before), str(during), str(after),
                           str(max_rows)], capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[3])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), path


def stored_ks(path: Path) -> list[int]:
    """The frame numbers (value of l.a) the file holds, in time order."""
    with duckdb.connect(str(path), read_only=True) as con:
        return [int(v) for (v,) in con.execute("SELECT value FROM samples WHERE tag = 'l.a' ORDER BY ts_ms").fetchall()]


@pytest.mark.parametrize(("before", "during", "after"), [(30, 200, 40), (0, 150, 1), (55, 61, 0)])
def test_a_full_disk_for_a_while_loses_nothing_and_keeps_the_order(tmp_path: Path, before: int, during: int,
                                                                   after: int) -> None:
    counts, path = run(tmp_path, before, during, after)
    assert counts["failures_while_full"] > 0  # the file really refused writes
    assert counts["dropped"] == counts["spilled"] == counts["unwritten"] == 0
    assert counts["collected"] == counts["stored"] == 3 * counts["frames"]
    assert stored_ks(path) == list(range(counts["frames"]))  # every frame once, in order


def test_a_disk_still_full_at_close_spills_beside_the_file_or_counts_the_loss(tmp_path: Path) -> None:
    counts, path = run(tmp_path, 400, 60, -1)
    assert counts["failures_while_full"] > 0 and counts["unwritten"] == 0
    assert counts["collected"] == counts["stored"] + counts["spilled"] + counts["dropped"]
    spill = path.with_name(path.name + ".unwritten-samples.parquet")
    in_file = stored_ks(path)
    if counts["spilled"]:  # the Parquet file fitted under the limit: it holds exactly what the file refused
        spilled = sorted(int(r["value"]) for r in pq.read_table(spill).to_pylist() if r["tag"] == "l.a")
        assert in_file + spilled == list(range(counts["frames"]))
    else:
        assert not spill.exists() or spill.stat().st_size <= 1
        assert counts["dropped"] == 3 * counts["frames"] - len(in_file) * 3


def test_a_queue_past_its_bound_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    counts, path = run(tmp_path, 20, 300, 10, max_rows=150)
    assert counts["dropped"] > 0 and counts["unwritten"] == 0
    assert counts["collected"] == counts["stored"] + counts["dropped"]
    ks = stored_ks(path)
    assert ks == sorted(ks) and ks[:20] == list(range(20)) and ks[-10:] == list(range(counts["frames"] - 10,
                                                                                     counts["frames"]))
    assert 3 * (counts["frames"] - len(ks)) == counts["dropped"]  # the missing frames are the oldest queued ones
    missing = sorted(set(range(counts["frames"])) - set(ks))
    assert missing == list(range(20, 20 + len(missing)))
