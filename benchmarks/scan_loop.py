"""Scan-loop benchmark: the lockstep loop against the bare protocol reads it is built on.

Reproduce everything (about 90 s on a 2-core machine)::

    .venv/bin/python benchmarks/scan_loop.py

What is measured, for synthetic lines of N = 50, 500 and 5,000 float32 tags shaped like
a real line (80 % fast measurements refreshed every 10 ms scan, 5 % setpoints, 15 % slow
measurements at 1 s) and split across a Modbus TCP and an OPC UA endpoint exactly as
:func:`twin.harness.binding.virtual_endpoints` splits a virtual line (fast scalars and setpoints
over Modbus, the rest over OPC UA; the PLC clock from both). Everything binds to
127.0.0.1 and runs in this one process and event loop, servers included, as a lockstep
episode does.

``loop``
    One lockstep scan as :func:`twin.harness.episode.run_scan` does it, minus the plant model:
    ``VirtualPlc.scan`` with a dict of precomputed values, every collector polled with
    ``asyncio.gather`` through the real socket drivers, ``Aligner.frame`` and
    ``Historian.append`` (its periodic Arrow flushes included).
``bare``
    Per scan, the same requests the collectors make for the tags due at that scan, on the
    same servers, with a bare pymodbus ``AsyncModbusTcpClient`` (the register spans
    ``ModbusDriver.read_plan`` produces, no decoding) and a bare asyncua
    ``uaclient.read_attributes`` (the due nodes in one Read), gathered like the
    collectors. No PLC scan, no alignment, no historian.
``raw``
    The Modbus side's bytes with no protocol stack: an asyncio TCP echo-style server
    answers each 12-byte request with a response of the same size as the Modbus
    response (9 + 2 x registers bytes), in the same number of round trips per scan.

How to read the table
    ``tags/s`` is N divided by the *median* scan time: a scan reads every fast tag, and
    the slow tags only at the 1 Hz boundaries, which the median hides; the ``mean``
    columns and ``x RT`` (real-time factor at a 10 ms scan: 10 ms / mean scan time)
    include the 1 Hz OPC UA reads and the historian flushes proportionally.
    ``loop/bare`` is loop throughput as a share of bare-read throughput
    (bare median / loop median); the target is >= 70 %. ``mb/raw`` is how many times
    longer the bare pymodbus reads take than the raw asyncio round trips of the same
    size: the cost of the Modbus stack (client and server) itself. The context lines
    give the bare pymodbus reads alone and one asyncua Read of all N tags as scalar
    nodes (what an OPC UA-only edge polling everything would pay).

Every timed loop is bounded both in count and in wall time; nothing here asserts on
timings. ``--profile`` runs the loop for the largest size under cProfile instead and
lists the library functions with the highest cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from asyncua import Client, ua  # noqa: E402
from pymodbus.client import AsyncModbusTcpClient  # noqa: E402

from twin.edge.collector import Collector, build_collectors, element_index, poll_all  # noqa: E402
from twin.edge.frames import Aligner  # noqa: E402
from twin.edge.historian import Historian  # noqa: E402
from twin.harness.binding import virtual_endpoints  # noqa: E402
from virtual_plc.codec import ElementLayout  # noqa: E402
from virtual_plc.drivers import ModbusDriver, make_driver  # noqa: E402
from virtual_plc.endpoints import ResolvedEndpoints, resolve  # noqa: E402
from virtual_plc.plc import LOOPBACK, VirtualPlc, free_port  # noqa: E402
from virtual_plc.schedule import DueSet  # noqa: E402
from virtual_plc.tagmap import Tag, TagMap  # noqa: E402

PLANT = "bench"
CLOCK_TAG = f"{PLANT}.plc.clock_ms"
SCAN_MS = 10
SLOW_MS = 1000
ASSET_SIZE = 20  # tags per synthetic asset (one OPC UA folder each)
VALUE_SETS = 4  # precomputed plant value dicts, cycled through
FLAGSHIP = ROOT / "scenarios" / "coater_coil_ageing.yaml"
COMMAND = ".venv/bin/python benchmarks/scan_loop.py"


# --------------------------------------------------------------------------- set-up
def synthetic_tagmap(n: int) -> TagMap:
    """An allocated tag map of ``n`` float32 tags plus the PLC clock, shaped like a line.

    80 % fast measurements (input table, 10 ms), 5 % setpoints (read-write, holding
    table, 10 ms) and 15 % slow measurements (input table, 1 s), interleaved evenly and
    grouped into assets of :data:`ASSET_SIZE` tags.
    """
    n_setpoints = round(0.05 * n)
    n_slow = round(0.15 * n)
    n_fast = n - n_setpoints - n_slow
    roles = [(role, j, count) for role, count in (("fast", n_fast), ("sp", n_setpoints), ("slow", n_slow))
             for j in range(count)]
    roles.sort(key=lambda r: ((r[1] + 0.5) / r[2], r[0]))  # spread each role evenly over the map
    tags = [Tag(name=CLOCK_TAG, unit="ms", dtype="uint64", low=0, high=2**53, period_ms=SCAN_MS, table="input")]
    for i, (role, _, _) in enumerate(roles):
        name = f"{PLANT}.unit{i // ASSET_SIZE:04d}.{role}{i:05d}"
        if role == "sp":
            tags.append(Tag(name=name, unit="%", access="rw", low=0.0, high=100.0, period_ms=SCAN_MS,
                            table="holding"))
        else:
            tags.append(Tag(name=name, unit="bar", low=0.0, high=1000.0,
                            period_ms=SCAN_MS if role == "fast" else SLOW_MS, table="input"))
    return TagMap(plant=PLANT, opcua_namespace=f"urn:quality-twin:{PLANT}", clock_tag=CLOCK_TAG,
                  tags=tags).allocated()


@dataclass
class Rig:
    """One benchmark line: a started PLC, the edge built on it, and the plant's values."""

    n: int
    tagmap: TagMap
    plc: VirtualPlc
    endpoints: ResolvedEndpoints
    aligner: Aligner
    historian: Historian
    collectors: list[Collector]
    value_sets: list[dict[str, float]]
    extra_closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def modbus(self) -> Collector:
        """The collector of the Modbus endpoint (fast tags and setpoints)."""
        return next(c for c in self.collectors if c.driver.endpoint.protocol == "modbus")

    @property
    def opcua(self) -> Collector:
        """The collector of the OPC UA endpoint (slow tags)."""
        return next(c for c in self.collectors if c.driver.endpoint.protocol == "opcua")

    async def close(self) -> None:
        """Close clients and collectors, stop the servers, close the historian."""
        try:
            for closer in self.extra_closers:
                await closer()
            for collector in self.collectors:
                await collector.close()
            await self.plc.stop()
        finally:
            self.historian.close()


async def build_rig(n: int, out_dir: Path) -> Rig:
    """Start a virtual PLC for a synthetic ``n``-tag line and build the edge on it."""
    tagmap = synthetic_tagmap(n)
    plc = VirtualPlc(tagmap)
    plc.initialise_setpoints({t.name: 50.0 for t in tagmap.tags if t.access == "rw"})
    modbus_port, opcua_port = free_port(), free_port()
    await plc.start(host=LOOPBACK, modbus_port=modbus_port, opcua_port=opcua_port)
    spec = virtual_endpoints(tagmap, "tags.csv", modbus_port=modbus_port, opcua_port=opcua_port, scan_ms=SCAN_MS)
    endpoints = resolve(spec, tagmap)
    index = element_index(endpoints)
    aligner = Aligner(index)
    historian = Historian(out_dir / f"bench_{n}.duckdb", index)
    collectors = build_collectors(endpoints, aligner, make_driver)
    measured = [t for t in tagmap.tags if t.access == "ro" and t.name != CLOCK_TAG]
    rng = np.random.default_rng(n)
    vectors = rng.uniform(0.0, 1000.0, size=(VALUE_SETS, len(measured)))
    value_sets = [{t.name: float(v) for t, v in zip(measured, row)} for row in vectors]
    return Rig(n, tagmap, plc, endpoints, aligner, historian, collectors, value_sets)


# ------------------------------------------------------------------------- timing
@dataclass
class Timing:
    """Per-scan wall times (seconds) of one timed loop."""

    samples: list[float]

    @property
    def median_ms(self) -> float:
        """Median scan time in ms (NaN when nothing was timed)."""
        return statistics.median(self.samples) * 1e3 if self.samples else float("nan")

    @property
    def mean_ms(self) -> float:
        """Mean scan time in ms (NaN when nothing was timed)."""
        return statistics.fmean(self.samples) * 1e3 if self.samples else float("nan")

    def per_s(self, count: int) -> float:
        """``count`` items per median scan, as a rate per second."""
        return count / (self.median_ms / 1e3) if self.samples else float("nan")


async def timed_scans(step: Callable[[int], Awaitable[object]], *, first_scan: int, warmup: int, scans: int,
                      budget_s: float) -> Timing:
    """Run ``step(t_ms)`` for ``warmup`` untimed then up to ``scans`` timed scans (10 ms apart
    in plant time), stopping the timed part after ``budget_s`` of wall time."""
    k = first_scan
    for _ in range(warmup):
        await step(k * SCAN_MS)
        k += 1
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(samples) < scans and time.perf_counter() < deadline:
        start = time.perf_counter()
        await step(k * SCAN_MS)
        samples.append(time.perf_counter() - start)
        k += 1
    return Timing(samples)


async def loop_scan(rig: Rig, t_ms: int) -> None:
    """One lockstep scan without the plant model: PLC scan, poll all, align, store."""
    await rig.plc.scan(t_ms, rig.value_sets[(t_ms // SCAN_MS) % VALUE_SETS])
    rig.historian.append(await poll_all(rig.collectors, rig.aligner, t_ms))


class BareReader:
    """Bare pymodbus / asyncua clients reading what the collectors read, without decoding."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        endpoint = rig.modbus.driver.endpoint
        self.unit = rig.tagmap.unit_id
        self.modbus = AsyncModbusTcpClient(endpoint.host, port=endpoint.port, timeout=5.0, retries=0,
                                           reconnect_delay=0)
        self.opcua = Client(rig.opcua.driver.endpoint.url, timeout=30.0)
        self._plans: dict[ElementLayout, list[tuple[str, int, int]]] = {}
        self._nodes: dict[ElementLayout, list[ua.NodeId]] = {}
        self.ns = 2

    async def connect(self) -> None:
        """Open both connections."""
        if not await self.modbus.connect():
            raise ConnectionError("bare pymodbus client could not connect")
        await self.opcua.connect()
        self.ns = await self.opcua.get_namespace_index(self.rig.tagmap.opcua_namespace)

    async def close(self) -> None:
        """Close both connections."""
        self.modbus.close()
        try:
            await self.opcua.disconnect()
        except Exception:  # noqa: BLE001 - the server may already be gone
            pass

    def modbus_plan(self, due: DueSet) -> list[tuple[str, int, int]]:
        """The (table, address, count) requests ``ModbusDriver`` makes for ``due`` (cached)."""
        plan = self._plans.get(due.layout)
        if plan is None:
            driver = self.rig.modbus.driver
            assert isinstance(driver, ModbusDriver)
            plan = self._plans[due.layout] = driver.read_plan(due.layout)
        return plan

    def node_ids(self, tags: Sequence[Tag]) -> list[ua.NodeId]:
        """OPC UA node ids of ``tags`` in the server's namespace index."""
        out = []
        for tag in tags:
            node = ua.NodeId.from_string(tag.opcua_node or f"ns=2;s={tag.name}")
            out.append(ua.NodeId(node.Identifier, self.ns))
        return out

    async def read_modbus(self, t_ms: int) -> int:
        """The Modbus requests due at ``t_ms``; returns registers read."""
        registers = 0
        for table, address, count in self.modbus_plan(self.rig.modbus.schedule.due(t_ms)):
            reader = self.modbus.read_holding_registers if table == "holding" else self.modbus.read_input_registers
            response = await reader(address, count=count, device_id=self.unit)
            if response.isError():
                raise RuntimeError(f"bare Modbus read failed: {response}")
            registers += len(response.registers)
        return registers

    async def read_opcua(self, t_ms: int) -> int:
        """The OPC UA Read due at ``t_ms`` (clock plus due slow tags); returns values read."""
        due = self.rig.opcua.schedule.due(t_ms)
        nodes = self._nodes.get(due.layout)
        if nodes is None:
            nodes = self._nodes[due.layout] = self.node_ids(due.tags)
        values = await self.opcua.uaclient.read_attributes(nodes, ua.AttributeIds.Value)
        return len(values)

    async def read_both(self, t_ms: int) -> None:
        """Both endpoints' reads for ``t_ms``, gathered like the collectors."""
        await asyncio.gather(self.read_modbus(t_ms), self.read_opcua(t_ms))


class _RawServer(asyncio.Protocol):
    """Answers each 12-byte request with ``9 + 2 * count`` bytes (count in bytes 10-11)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.responses: dict[int, bytes] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 12:
            request, self.buffer = self.buffer[:12], self.buffer[12:]
            count = int.from_bytes(request[10:12], "big")
            response = self.responses.get(count)
            if response is None:
                response = self.responses[count] = bytes(9 + 2 * count)
            assert self.transport is not None
            self.transport.write(response)


async def time_raw_loopback(counts: list[int], *, warmup: int, scans: int, budget_s: float) -> Timing:
    """Per-scan time of ``len(counts)`` raw request/response round trips on 127.0.0.1,
    each response ``9 + 2 * count`` bytes like a Modbus read of ``count`` registers."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_RawServer, LOOPBACK, 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    requests = [(bytes(10) + count.to_bytes(2, "big"), 9 + 2 * count) for count in counts]

    async def step(_t_ms: int) -> None:
        for request, size in requests:
            writer.write(request)
            await reader.readexactly(size)

    try:
        return await timed_scans(step, first_scan=0, warmup=warmup, scans=scans, budget_s=budget_s)
    finally:
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()


# -------------------------------------------------------------------------- cases
@dataclass
class CaseResult:
    """Everything measured for one N."""

    n: int
    n_modbus: int
    n_opcua: int
    requests: int
    registers: int
    loop: Timing
    bare: Timing
    bare_modbus: Timing
    bare_all_nodes: Timing
    raw: Timing
    failed_polls: int


@dataclass(frozen=True)
class Budget:
    """Scan counts and wall-time bounds of the timed loops."""

    warmup: int
    scans_small: int
    scans_large: int
    case_budget_s: float
    all_node_reads: int

    def scans(self, n: int) -> int:
        """Timed scans for size ``n``."""
        return self.scans_large if n >= 5000 else self.scans_small


FULL = Budget(warmup=100, scans_small=1000, scans_large=300, case_budget_s=20.0, all_node_reads=30)
QUICK = Budget(warmup=30, scans_small=250, scans_large=120, case_budget_s=6.0, all_node_reads=8)


async def run_case(n: int, budget: Budget, out_dir: Path) -> CaseResult:
    """Measure loop, bare reads and raw loopback for an ``n``-tag line."""
    rig = await build_rig(n, out_dir)
    try:
        bare = BareReader(rig)
        await bare.connect()
        rig.extra_closers.append(bare.close)
        scans = budget.scans(n)
        # plant time starts at 0, so warm-up + timed scans cross >= 2 one-second boundaries
        loop = await timed_scans(lambda t: loop_scan(rig, t), first_scan=0, warmup=budget.warmup, scans=scans,
                                 budget_s=budget.case_budget_s)
        both = await timed_scans(bare.read_both, first_scan=0, warmup=budget.warmup, scans=scans,
                                 budget_s=budget.case_budget_s)
        mb_only = await timed_scans(bare.read_modbus, first_scan=0, warmup=budget.warmup, scans=scans,
                                    budget_s=budget.case_budget_s)
        all_nodes = bare.node_ids([t for t in rig.tagmap.tags if t.name != CLOCK_TAG])

        async def read_all(_t_ms: int) -> None:
            await bare.opcua.uaclient.read_attributes(all_nodes, ua.AttributeIds.Value)

        every = await timed_scans(read_all, first_scan=0, warmup=2, scans=budget.all_node_reads,
                                  budget_s=budget.case_budget_s / 2)
        plan = bare.modbus_plan(rig.modbus.schedule.due(SCAN_MS))
        counts = [count for _, _, count in plan]
        raw = await time_raw_loopback(counts, warmup=budget.warmup, scans=scans, budget_s=budget.case_budget_s)
        n_modbus = sum(len(tags) for ep, tags in rig.endpoints.assignments if ep.protocol == "modbus")
        return CaseResult(n=n, n_modbus=n_modbus, n_opcua=n - n_modbus, requests=len(plan), registers=sum(counts),
                          loop=loop, bare=both, bare_modbus=mb_only, bare_all_nodes=every, raw=raw,
                          failed_polls=sum(c.stats.failed_polls for c in rig.collectors))
    finally:
        await rig.close()


def run_flagship(seconds: float, out_dir: Path) -> tuple[float, float]:
    """Run the flagship scenario in lockstep for ``seconds`` of plant time; (real-time factor, wall s)."""
    from twin.harness.episode import EpisodeConfig, run_episode
    from twin.harness.scenario import load_scenario

    report = asyncio.run(run_episode(load_scenario(FLAGSHIP), EpisodeConfig(out_dir=out_dir, duration_s=seconds)))
    return report.durations.realtime_factor, report.durations.wall_s


# ------------------------------------------------------------------------- output
def print_results(results: list[CaseResult]) -> None:
    """The results table and context lines."""
    header = (f"{'N':>6} {'scans':>5} | {'loop med':>8} {'mean':>6} {'tags/s':>9} {'x RT':>5} | "
              f"{'bare med':>8} {'mean':>6} {'tags/s':>9} | {'loop/bare':>9} | {'raw med':>7} {'mb/raw':>6}")
    print()
    print("Lockstep scan loop vs bare reads vs raw loopback (times in ms; tags/s = N / median)")
    print(header)
    print("-" * len(header))
    for r in results:
        ratio = r.bare.median_ms / r.loop.median_ms * 100
        print(f"{r.n:>6} {len(r.loop.samples):>5} | {r.loop.median_ms:>8.3f} {r.loop.mean_ms:>6.2f} "
              f"{r.loop.per_s(r.n):>9,.0f} {SCAN_MS / r.loop.mean_ms:>5.1f} | "
              f"{r.bare.median_ms:>8.3f} {r.bare.mean_ms:>6.2f} {r.bare.per_s(r.n):>9,.0f} | "
              f"{ratio:>8.0f}% | {r.raw.median_ms:>7.3f} {r.bare_modbus.median_ms / r.raw.median_ms:>5.1f}x")
    print()
    print("Context (same servers):")
    for r in results:
        print(f"  N={r.n:>5}: Modbus side {r.n_modbus} tags = {r.registers} registers in {r.requests} request(s)/scan, "
              f"OPC UA side {r.n_opcua} tags (+ clock); failed collector polls: {r.failed_polls}")
        print(f"           bare pymodbus only     {r.bare_modbus.median_ms:8.3f} ms/scan  "
              f"{r.bare_modbus.per_s(r.n_modbus):>11,.0f} tags/s   (raw loopback {r.raw.median_ms:.3f} ms)")
        print(f"           bare asyncua, all {r.n} tags as scalar nodes in one Read "
              f"{r.bare_all_nodes.median_ms:8.3f} ms  {r.bare_all_nodes.per_s(r.n):>11,.0f} tags/s "
              f"({len(r.bare_all_nodes.samples)} reads)")


# ---------------------------------------------------------------------- profiling
async def profile_loop(n: int, scans: int, out_dir: Path, top: int = 15) -> None:
    """Run ``scans`` lockstep scans of an ``n``-tag line under cProfile; print the library's
    functions by cumulative time."""
    rig = await build_rig(n, out_dir)
    try:
        for k in range(50):  # warm-up: connections, due-set and plan caches
            await loop_scan(rig, k * SCAN_MS)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for k in range(50, 50 + scans):
            await loop_scan(rig, k * SCAN_MS)
        profiler.disable()
        wall = time.perf_counter() - started
    finally:
        await rig.close()
    stats = pstats.Stats(profiler)
    library = (str(ROOT / "virtual_plc"), str(ROOT / "twin"))
    rows = [(func, data) for func, data in stats.stats.items() if func[0].startswith(library)]  # type: ignore[attr-defined]
    rows.sort(key=lambda row: row[1][3], reverse=True)
    print(f"\ncProfile: {scans} lockstep scans at N={n}, {wall:.2f} s wall under the profiler "
          f"({wall / scans * 1e3:.1f} ms/scan); top {top} library functions by cumulative time")
    print(f"{'ncalls':>9} {'tottime':>8} {'cumtime':>8} {'cum/scan ms':>11}  function")
    for (filename, line, name), (_, ncalls, tottime, cumtime, _) in rows[:top]:
        where = Path(filename).relative_to(ROOT)
        print(f"{ncalls:>9} {tottime:>8.3f} {cumtime:>8.3f} {cumtime / scans * 1e3:>11.2f}  {where}:{line}({name})")
    print("\nTop 15 overall by own time (library and dependencies):")
    stats.sort_stats("tottime").print_stats(15)


# ---------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="50,500,5000", help="comma-separated tag counts (default 50,500,5000)")
    parser.add_argument("--quick", action="store_true", help="fewer scans, shorter flagship run")
    parser.add_argument("--flagship-s", type=float, default=None,
                        help="plant seconds of the flagship run (default 60, 10 with --quick; 0 skips it)")
    parser.add_argument("--profile", action="store_true",
                        help="only profile ~100 loop scans at the largest size with cProfile")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run every case, print the table, then the flagship's real-time factor."""
    args = parse_args(argv)
    for noisy in ("asyncua", "pymodbus"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    budget = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="scan_loop_") as tmp:
        out = Path(tmp)
        if args.profile:
            asyncio.run(profile_loop(max(sizes), 100, out))
            return
        started = time.perf_counter()
        results = []
        for n in sizes:
            print(f"measuring N={n} ...", flush=True)
            results.append(asyncio.run(run_case(n, budget, out)))
        print_results(results)
        flagship_s = args.flagship_s if args.flagship_s is not None else (10.0 if args.quick else 60.0)
        if flagship_s > 0:
            factor, wall = run_flagship(flagship_s, out / "flagship")
            print(f"\nFlagship {FLAGSHIP.relative_to(ROOT)}: {flagship_s:g} plant s in lockstep over real sockets "
                  f"(10 ms scan) took {wall:.2f} s wall: {factor:.2f}x real time (target >= 2x)")
        print(f"\nTotal benchmark time {time.perf_counter() - started:.0f} s. Reproduce: {COMMAND}"
              + (" --quick" if args.quick else "") + ("" if args.sizes == "50,500,5000" else f" --sizes {args.sizes}"))


if __name__ == "__main__":
    main()
