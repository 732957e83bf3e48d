"""Root-cause benchmark: diagnosis latency at 50, 500, 5,000 and 50,000 tags, and dataset generation speed.

Latency: a synthetic line of N tags (assets of four tags each, a knowledge file chaining the
assets, a fault that moves four assets' signals) is written to a historian (150 s at 10 Hz and
1 Hz: 41 million samples at 50,000 tags); the diagnoser (the shipped GNN, and the random-walk
baseline) then answers the alarm repeatedly: read the window from DuckDB, build features, score,
find the evidence path. Wall time per diagnosis, median and p99 (of 30 repeats; 10 at 50,000
tags, where the p99 is all but the slowest), and the median of the read alone (the historian
query and the features), with the number of tags it asked for and the time the history took to
write.
Above 200 tags the diagnoser reads and ranks the alarm's neighbourhood only
(:meth:`rootcause.diagnoser.Diagnoser.graph_for`).

Generation: labelled coater episodes (`twin rootcause dataset`'s sweep) serially and on a
process pool of 2; episodes per second and the ratio.

    .venv/bin/python benchmarks/rootcause.py            # about 3 min on 2 cores
    .venv/bin/python benchmarks/rootcause.py --quick    # fewer repeats and episodes
    .venv/bin/python benchmarks/rootcause.py --sizes 50 5000 --no-generation
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rootcause.diagnoser import AlarmRef, Diagnoser, graph_with_knowledge  # noqa: E402
from rootcause.knowledge import Knowledge  # noqa: E402
from rootcause.window import read_evidence  # noqa: E402
from twin.edge.frames import ElementIndex, Frame, Quality  # noqa: E402
from twin.edge.historian import Historian, HistorianReader  # noqa: E402
from twin.harness.rca.bench import default_model  # noqa: E402
from twin.harness.rca.dataset import generate, sample_specs  # noqa: E402
from virtual_plc.tagmap import Tag, TagMap  # noqa: E402

WINDOW_S = 150
FAULT_AT_S = 100
SIZES = (50, 500, 5_000, 50_000)


def synthetic_line(n_tags: int) -> tuple[TagMap, Knowledge]:
    """Assets of 4 tags (3 measured, 1 setpoint); knowledge chains asset i's first tag to asset i+1's.

    The knowledge is built resolved (its links name concrete tags): resolving a knowledge file's links
    against 60,000 names takes minutes, and it is not part of a diagnosis."""
    tags = [Tag(name="syn.plc.clock_ms", dtype="uint64", low=0, high=2**53, period_ms=100)]
    links = []
    n_assets = max(2, n_tags // 4)
    for a in range(n_assets):
        for s in range(3):
            tags.append(Tag(name=f"syn.a{a}.s{s}", low=-100, high=100, period_ms=100 if s < 2 else 1000))
        tags.append(Tag(name=f"syn.a{a}.sp", access="rw", low=-100, high=100, period_ms=1000))
        links.append((f"syn.a{a}.sp", f"syn.a{a}.s0"))
        links.append((f"syn.a{a}.s0", f"syn.a{a}.s1"))
        if a + 1 < n_assets:
            links.append((f"syn.a{a}.s1", f"syn.a{a + 1}.s0"))
    tagmap = TagMap(plant="syn", opcua_namespace="urn:syn", clock_tag="syn.plc.clock_ms", tags=tags)
    return tagmap, Knowledge(plant="syn", kinds={}, links=tuple(links))


def write_history(tagmap: TagMap, path: Path, faulty: int) -> list[AlarmRef]:
    """Noise on every tag; from FAULT_AT_S the faulty asset and the next three drift upwards.

    The values are drawn ten seconds of frames at a time (one array of frames x tags); the frames
    still go through :meth:`Historian.append`, as the edge writes them."""
    index = ElementIndex([t for t in tagmap.tags if t.name != tagmap.clock_tag])
    rng = np.random.default_rng(0)
    owners = [name.rsplit(".", 1)[0] for name in index.names]
    drifting = np.isin(owners, [f"syn.a{a}" for a in range(faulty, faulty + 4)])
    slow = np.array([not name.endswith(("s0", "s1")) for name in index.names])
    good = np.full(len(index), Quality.GOOD, dtype=np.uint8)
    frames_ms = np.arange(WINDOW_S * 10, dtype=np.int64) * 100
    with Historian(path, index) as historian:
        for chunk in np.array_split(frames_ms, WINDOW_S // 10):
            since_fault_s = np.clip(chunk / 1000 - FAULT_AT_S, 0.0, None)
            values = rng.normal(0, 1, (len(chunk), len(index))) + np.outer(0.2 * since_fault_s, drifting)
            fresh = ~slow | (chunk % 1000 == 0)[:, None]
            for t_ms, row, row_fresh in zip(chunk.tolist(), values, fresh):
                historian.append(Frame(t_ms, index, row, good, row_fresh))
    return [AlarmRef("A1", f"syn.a{faulty + 3}.s1", (FAULT_AT_S + 20) * 1000)]


@dataclass
class Latency:
    """One size's figures: per method (median, p99) ms per diagnosis, the median ms of the read alone, the
    tags the read asked for, and the seconds it took to write the history."""

    methods: dict[str, tuple[float, float]]
    read_ms: float
    tags_read: int
    write_s: float


def latency(n_tags: int, repeats: int) -> Latency:
    """Time ``repeats`` diagnoses of the synthetic line's alarm per method (after one warm-up each)."""
    tagmap, knowledge = synthetic_line(n_tags)
    graph = graph_with_knowledge(tagmap, knowledge)
    methods = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "historian.duckdb"
        started = time.perf_counter()
        alarms = write_history(tagmap, path, faulty=len(tagmap.tags) // 8)
        write_s = time.perf_counter() - started
        t_ms = WINDOW_S * 1000 - 100
        with HistorianReader(path) as reader:
            for method in ("gnn", "random_walk"):
                model = default_model("coater") if method == "gnn" else None
                diagnoser = Diagnoser.with_method(graph, method, model)
                diagnoser.diagnose(reader, alarms, t_ms)  # warm-up (first torch call)
                walls = [diagnoser.diagnose(reader, alarms, t_ms).wall_ms for _ in range(repeats)]
                methods[method] = (float(np.median(walls)), float(np.percentile(walls, 99)))
            part = diagnoser.graph_for([a.tag for a in alarms])
            reads = []
            for _ in range(repeats):
                started = time.perf_counter()
                read_evidence(reader, part.tags(), [(a.tag, a.t_ms) for a in alarms], t_ms, diagnoser.settings)
                reads.append((time.perf_counter() - started) * 1000)
    return Latency(methods, float(np.median(reads)), len(part.tags()), write_s)


def generation(n: int) -> tuple[float, float]:
    """Episodes per second generating ``n`` labelled coater episodes: serially, and on a process pool of 2."""
    specs = sample_specs("train", n, 99)
    t = time.perf_counter()
    generate(specs, backend="serial")
    serial = n / (time.perf_counter() - t)
    t = time.perf_counter()
    generate(specs, processes=2, backend="pool")
    pool = n / (time.perf_counter() - t)
    return serial, pool


def main() -> None:
    """Print the latency table, then the generation speed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and episodes")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="line sizes, in tags")
    parser.add_argument("--no-generation", action="store_true", help="skip the dataset generation part")
    args = parser.parse_args()
    repeats, episodes = (5, 4) if args.quick else (30, 16)
    print("diagnosis latency (wall ms per diagnosis: read window, features, score, path)")
    print(f"{'tags':>6} {'method':>12} {'median':>9} {'p99':>9} {'read':>7} {'tags read':>9} {'history':>8}")
    for n in args.sizes:
        figures = latency(n, repeats if n < 50_000 else max(3, repeats // 3))
        for method, (median, p99) in figures.methods.items():
            print(f"{n:>6} {method:>12} {median:>9.1f} {p99:>9.1f} {figures.read_ms:>7.1f} {figures.tags_read:>9} "
                  f"{figures.write_s:>7.0f}s", flush=True)
    if args.no_generation:
        return
    serial, pool = generation(episodes)
    print(f"dataset generation: serial {serial:.2f} episodes/s, pool of 2 {pool:.2f} episodes/s, "
          f"ratio {pool / serial:.2f}x ({episodes} coater episodes, scan 100 ms)")


if __name__ == "__main__":
    main()
