"""Root-cause benchmark: diagnosis latency at 50, 500 and 5,000 tags, and dataset generation speed.

Latency: a synthetic line of N tags (assets of four tags each, a knowledge file chaining the
assets, a fault that moves one asset's signals and everything downstream) is written to a
historian; the diagnoser (the shipped GNN, and the random-walk baseline) then answers the alarm
repeatedly: read the window from DuckDB, build features, score, find the evidence path. Wall
time per diagnosis, median and p99.

Generation: labelled coater episodes (`twin rootcause dataset`'s sweep) serially and on a
process pool of 2; episodes per second and the ratio.

    .venv/bin/python benchmarks/rootcause.py            # about 5 min on 2 cores
    .venv/bin/python benchmarks/rootcause.py --quick
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rootcause.diagnoser import AlarmRef, Diagnoser, graph_with_knowledge  # noqa: E402
from rootcause.knowledge import KnowledgeFile, resolve_knowledge  # noqa: E402
from twin.edge.frames import ElementIndex, Frame, Quality  # noqa: E402
from twin.edge.historian import Historian  # noqa: E402
from twin.harness.rca.bench import default_model  # noqa: E402
from twin.harness.rca.dataset import generate, sample_specs  # noqa: E402
from virtual_plc.tagmap import Tag, TagMap  # noqa: E402

WINDOW_S = 150
FAULT_AT_S = 100


def synthetic_line(n_tags: int) -> tuple[TagMap, KnowledgeFile]:
    """Assets of 4 tags (3 measured, 1 setpoint); knowledge chains asset i's first tag to asset i+1's."""
    tags = [Tag(name="syn.plc.clock_ms", dtype="uint64", low=0, high=2**53, period_ms=100)]
    links = []
    n_assets = max(2, n_tags // 4)
    for a in range(n_assets):
        for s in range(3):
            tags.append(Tag(name=f"syn.a{a}.s{s}", low=-100, high=100, period_ms=100 if s < 2 else 1000))
        tags.append(Tag(name=f"syn.a{a}.sp", access="rw", low=-100, high=100, period_ms=1000))
        links.append({"cause": f"syn.a{a}.sp", "effect": f"syn.a{a}.s0"})
        links.append({"cause": f"syn.a{a}.s0", "effect": f"syn.a{a}.s1"})
        if a + 1 < n_assets:
            links.append({"cause": f"syn.a{a}.s1", "effect": f"syn.a{a + 1}.s0"})
    tagmap = TagMap(plant="syn", opcua_namespace="urn:syn", clock_tag="syn.plc.clock_ms", tags=tags)
    return tagmap, KnowledgeFile(plant="syn", links=links)


def write_history(tagmap: TagMap, path: Path, faulty: int) -> list[AlarmRef]:
    """Noise on every tag; from FAULT_AT_S the faulty asset and the next three drift upwards."""
    index = ElementIndex([t for t in tagmap.tags if t.name != tagmap.clock_tag])
    rng = np.random.default_rng(0)
    drifting = np.array([any(name.startswith(f"syn.a{a}.") for a in range(faulty, faulty + 4)) for name in index.names])
    slow = np.array([not name.endswith(("s0", "s1")) for name in index.names])
    with Historian(path, index) as historian:
        for k in range(WINDOW_S * 10):
            t_ms = k * 100
            values = rng.normal(0, 1, len(index))
            if t_ms >= FAULT_AT_S * 1000:
                values = values + drifting * 0.2 * (t_ms / 1000 - FAULT_AT_S)
            fresh = ~slow | (t_ms % 1000 == 0)
            historian.append(Frame(t_ms, index, values, np.full(len(index), Quality.GOOD, dtype=np.uint8), fresh))
    return [AlarmRef("A1", f"syn.a{faulty + 3}.s1", (FAULT_AT_S + 20) * 1000)]


def latency(n_tags: int, repeats: int) -> dict[str, tuple[float, float]]:
    tagmap, spec = synthetic_line(n_tags)
    names = sorted({t.name for t in tagmap.tags} | {t.asset for t in tagmap.tags})
    graph = graph_with_knowledge(tagmap, resolve_knowledge(spec, names))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "historian.duckdb"
        alarms = write_history(tagmap, path, faulty=len(tagmap.tags) // 8)
        from twin.edge.historian import HistorianReader

        with HistorianReader(path) as reader:
            for method in ("gnn", "random_walk"):
                model = default_model("coater") if method == "gnn" else None
                diagnoser = Diagnoser.with_method(graph, method, model)
                diagnoser.diagnose(reader, alarms, WINDOW_S * 1000 - 100)  # warm-up (first torch call)
                walls = [diagnoser.diagnose(reader, alarms, WINDOW_S * 1000 - 100).wall_ms for _ in range(repeats)]
                out[method] = (float(np.median(walls)), float(np.percentile(walls, 99)))
    return out


def generation(n: int) -> tuple[float, float]:
    specs = sample_specs("train", n, 99)
    t = time.perf_counter()
    generate(specs, backend="serial")
    serial = n / (time.perf_counter() - t)
    t = time.perf_counter()
    generate(specs, processes=2, backend="pool")
    pool = n / (time.perf_counter() - t)
    return serial, pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and episodes")
    args = parser.parse_args()
    repeats, episodes = (5, 4) if args.quick else (30, 16)
    print("diagnosis latency (wall ms per diagnosis: read window, features, score, path)")
    print(f"{'tags':>6} {'method':>12} {'median':>9} {'p99':>9}")
    for n in (50, 500, 5000):
        for method, (median, p99) in latency(n, repeats if n <= 500 else 3).items():
            print(f"{n:>6} {method:>12} {median:>9.1f} {p99:>9.1f}", flush=True)
    serial, pool = generation(episodes)
    print(f"dataset generation: serial {serial:.2f} episodes/s, pool of 2 {pool:.2f} episodes/s, "
          f"ratio {pool / serial:.2f}x ({episodes} coater episodes, scan 100 ms)")


if __name__ == "__main__":
    main()
