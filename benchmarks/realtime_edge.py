"""Real-time edge benchmark: OPC UA subscriptions against polling, 1,000 and 5,000 tags at 100 ms and 1 s.

Reproduce everything (5-6 minutes on a 2-core machine; ``--quick`` for a smoke run of about a
minute)::

    .venv/bin/python benchmarks/realtime_edge.py

Set-up, per case (N tags, all at one sample period P, read by ``poll`` then by ``subscribe``)
    A **separate process** serves a synthetic tag map of N float32 tags (plus the PLC clock, which
    the edge does not read) from our virtual PLC (:class:`virtual_plc.plc.VirtualPlc`, its OPC UA
    server on 127.0.0.1). A fake plant refreshes every tag every P on its own wall clock (skipping
    a slot it is too late for, and logging it), and the value of refresh ``k`` is ``k`` itself,
    the same for every tag: what the edge stores says which refresh it holds, and the server's log
    says when that refresh was made (``time.time``, the same clock in both processes). Subscribers
    get a data-change notification for every refresh, as from a real PLC.
    This process runs the real edge, :func:`twin.edge.realtime.run_edge`, against an endpoint file
    with one OPC UA PLC (``clock: none``, ``timeout_s: 5``, ``read: poll`` or ``read: subscribe``),
    ``scan_ms`` = P for both modes (poll: one Read of all N nodes per scan; subscribe: monitored
    items sampled at P, publishing interval P, and the edge still frames, stores and would detect
    once per scan, from the latest notified values), detection, root cause and control off. The
    edge's time starts at the UTC wall clock.
    After the edge's first frame comes ``--warmup`` seconds of warm-up, then the measured window of
    ``--seconds`` wall seconds (at least 30 periods); the edge stops a few seconds later. Only frames
    the edge aligned inside the window count, and CPU is read at the window's two ends in both
    processes (so start-up, probing and subscribing, and the historian's last flush at close are
    outside it; its periodic flushes, every 250,000 rows, are inside).

What is measured, per case
    ``stored/s``: good samples the historian holds from the window, per second of edge time.
    ``late %``: the share of the expected samples (N per edge tick, P apart, over the window) that
    the edge stored *late*: a good stored sample whose value the server had already refreshed
    **twice or more** by the time the edge aligned the frame (its wall time, stored as
    ``wall_utc``). One refresh in flight is the normal latency of either path (a Read taken just
    before a refresh, a publishing cycle still to come); two means the edge is a whole period
    behind its PLC. ``lost %``: expected samples minus good stored ones, as a share of the
    expected: ticks the edge skipped because it fell behind (``run_edge`` skips them and stamps the
    next frame when it happens), and bad or missing samples. The target line reports late + lost.
    ``edge CPU``: CPU seconds of the edge process (``time.process_time``: every thread, the
    historian's included) per wall second per 1,000 tags; ``server CPU`` the same for the virtual
    PLC's process (asyncua answering Reads or sending notifications, plus the fake plant);
    ``sub/poll`` the ratio of edge CPU.
    The detail table adds: the median and 99th-percentile age of stored values (frame wall time
    minus the time the server made the refresh), *missed* refreshes (refreshes made in the window,
    except the last two periods, that the edge never stored for that tag: with scan = refresh
    period, a jittery pair of clocks can store one refresh twice and skip the next even when the
    edge keeps up), the edge's ``late_ticks`` over the whole run (ticks started late or skipped,
    warm-up included), the OPC UA sessions it opened (more than 1: it lost its session and
    reconnected, probe and subscriptions included), its start-up time, its full (generation-2)
    garbage collections in the window (count, longest), and the server's own refresh time, skipped
    refreshes and full collections (when the server skips, the PLC itself did not keep up: the case
    then measures the server too).

Garbage collection
    The virtual PLC's process holds ~650,000 objects after start-up (asyncua's address space), and
    CPython's full collections over them pause it for 0.1-0.4 s, which a real PLC would not do:
    the server process freezes them after start-up (``gc.freeze()``; ``--server-gc default``
    leaves them). The edge runs as shipped; ``--freeze-edge-gc`` is a what-if that freezes the
    edge's start-up objects after its first frame, as a ``gc.freeze()`` at the end of
    :func:`~twin.edge.realtime.run_edge`'s start-up would.

Every wait is bounded (server start-up, the edge run, the server's shutdown), the server process
is terminated in ``finally`` whatever happens; nothing here asserts on timings.
``--profile N:P:MODE`` (e.g. ``5000:100:poll``) runs one case with the edge under cProfile and
lists the functions with the highest cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import logging
import multiprocessing as mp
import os
import pstats
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from twin.contracts import Policy  # noqa: E402
from twin.edge.realtime import EdgeRunResult, run_edge  # noqa: E402
from twin.edge.settings import EdgeSettings  # noqa: E402
from virtual_plc.endpoints import Endpoint, EndpointFile  # noqa: E402
from virtual_plc.plc import LOOPBACK, VirtualPlc, free_port  # noqa: E402
from virtual_plc.tagmap import Tag, TagMap  # noqa: E402

PLANT = "rtbench"
CLOCK_TAG = f"{PLANT}.plc.clock_ms"
ASSET_SIZE = 20  # tags per asset (one OPC UA folder each)
SIZES = (1_000, 5_000)
PERIODS_MS = (100, 1_000)
MODES = ("poll", "subscribe")
MIN_PERIODS = 30  # the measured window covers at least this many sample periods
LATE_REFRESHES = 2  # a stored value is late once the server has refreshed it this many times since
SERVER_START_S = 120.0  # bound on the server process's start-up (5,000 nodes take a few seconds)
SERVER_STOP_S = 30.0
EDGE_START_S = 120.0  # bound on the edge's start-up (connect, probe, subscribe) before its first frame
COMMAND = ".venv/bin/python benchmarks/realtime_edge.py"
QUIET = ("asyncua", "pymodbus", "twin", "virtual_plc", "rootcause")


def quiet_logs() -> None:
    """Keep the protocol stacks' and the edge's own logging out of the table."""
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.ERROR)


def bench_tagmap(n: int, period_ms: int) -> TagMap:
    """An allocated tag map of ``n`` float32 input tags at ``period_ms``, plus the PLC clock."""
    tags = [Tag(name=CLOCK_TAG, unit="ms", dtype="uint64", low=0, high=2**53, period_ms=period_ms, table="input")]
    tags += [Tag(name=f"{PLANT}.unit{i // ASSET_SIZE:04d}.x{i:05d}", unit="bar", low=0.0, high=1e7,
                 period_ms=period_ms, table="input") for i in range(n)]
    return TagMap(plant=PLANT, opcua_namespace=f"urn:quality-twin:{PLANT}", clock_tag=CLOCK_TAG,
                  tags=tags).allocated()


class GcPauses:
    """Records the wall time of this process's full (generation 2) garbage collections while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.pauses_ms: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        elif self.on:
            self.pauses_ms.append((time.perf_counter() - self._started) * 1000)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self)


# ------------------------------------------------------------------ the server process
def serve(n: int, period_ms: int, port: int, conn: Connection, freeze_gc: bool) -> None:
    """Child process: serve the tag map over OPC UA, refreshing every tag every ``period_ms``."""
    quiet_logs()
    try:
        asyncio.run(_serve(n, period_ms, port, conn, freeze_gc))
    except BaseException as err:  # noqa: BLE001 - report anything to the parent, then exit
        with contextlib.suppress(Exception):
            conn.send({"error": f"{type(err).__name__}: {err}"})


async def _serve(n: int, period_ms: int, port: int, conn: Connection, freeze_gc: bool) -> None:
    tagmap = bench_tagmap(n, period_ms)
    plc = VirtualPlc(tagmap)
    names = [t.name for t in tagmap.tags if t.name != CLOCK_TAG]
    stop = asyncio.Event()
    marks: list[tuple[float, float]] = []  # (wall ms, process CPU s) when the parent says "mark"

    pauses = GcPauses()

    def on_message() -> None:
        while conn.poll():
            message = conn.recv()
            if message == "mark":
                marks.append((time.time() * 1000, time.process_time()))
                pauses.on = len(marks) == 1
            elif message == "stop":
                stop.set()

    await plc.start(host=LOOPBACK, modbus_port=free_port(), opcua_port=port)
    if freeze_gc:  # asyncua's address space is ~650,000 objects: full collections would pause the PLC
        gc.collect()
        gc.freeze()
    loop = asyncio.get_running_loop()
    loop.add_reader(conn.fileno(), on_message)
    slots: list[int] = []
    walls: list[float] = []
    took: list[float] = []
    skipped = 0
    gc.callbacks.append(pauses)
    try:
        conn.send({"ready": True})
        period = period_ms / 1000
        started, k = time.monotonic(), 0
        while not stop.is_set():
            values = dict.fromkeys(names, float(k))
            slots.append(k)
            walls.append(time.time() * 1000)
            t = time.perf_counter()
            await plc.scan(k * period_ms, values)
            took.append(time.perf_counter() - t)
            k += 1
            wait = started + k * period - time.monotonic()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
            else:  # too late for the next slot(s): skip to the one due now, as the edge does
                due = int((time.monotonic() - started) / period)
                skipped += max(0, due - k)
                k = max(k, due)
                await asyncio.sleep(0)
    finally:
        gc.callbacks.remove(pauses)
        loop.remove_reader(conn.fileno())
        await plc.stop()
    conn.send({"slots": slots, "walls": walls, "took": took, "skipped": skipped, "marks": marks,
               "gc_ms": pauses.pauses_ms})


@dataclass
class Server:
    """The server process and its pipe."""

    process: mp.process.BaseProcess
    conn: Connection
    port: int

    def receive(self, timeout_s: float) -> dict[str, Any]:
        """The next message from the server, within ``timeout_s``."""
        if not self.conn.poll(timeout_s):
            raise TimeoutError(f"the server process said nothing within {timeout_s:.0f} s")
        message = self.conn.recv()
        if "error" in message:
            raise RuntimeError(f"the server process failed: {message['error']}")
        return message

    def kill(self) -> None:
        """Terminate the process (then kill it) if it is still running."""
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


def start_server(n: int, period_ms: int, freeze_gc: bool = True) -> Server:
    """Start the server process and wait until it listens (``freeze_gc``: with its start-up objects frozen)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    port = free_port()
    process = ctx.Process(target=serve, args=(n, period_ms, port, child, freeze_gc), daemon=True,
                          name=f"plc-{n}-{period_ms}")
    process.start()
    child.close()
    server = Server(process, parent, port)
    try:
        server.receive(SERVER_START_S)
    except BaseException:
        server.kill()
        raise
    return server


# ------------------------------------------------------------------------- one case
@dataclass
class Case:
    """The figures of one case (N tags, period P, read mode)."""

    n: int
    period_ms: int
    mode: str
    window_s: float = float("nan")
    expected: int = 0
    good: int = 0
    late: int = 0
    ticks: int = 0
    edge_cpu_s: float = float("nan")
    server_cpu_s: float = float("nan")
    age_ms: list[float] = field(default_factory=list)  # p50, p99
    missed: float = float("nan")
    late_ticks: int = 0
    frames: int = 0
    sessions: int = 0  # OPC UA sessions the edge opened (1: it never had to reconnect)
    startup_s: float = float("nan")
    server_took_ms: list[float] = field(default_factory=list)  # p50, max over the window
    server_skipped: int = 0
    edge_gc_ms: list[float] = field(default_factory=list)  # full collections in the window
    server_gc_ms: list[float] = field(default_factory=list)
    error: str = ""

    @property
    def stored_per_s(self) -> float:
        """Good samples stored per second of edge time in the window."""
        return self.good / (self.ticks * self.period_ms / 1000) if self.ticks else float("nan")

    @property
    def late_pct(self) -> float:
        """Late samples as a share of the expected (%)."""
        return 100 * self.late / self.expected if self.expected else float("nan")

    @property
    def lost_pct(self) -> float:
        """Expected samples the edge did not store good (%)."""
        return 100 * max(0, self.expected - self.good) / self.expected if self.expected else float("nan")

    def cpu_per_k(self, cpu_s: float) -> float:
        """CPU seconds per wall second per 1,000 tags."""
        return cpu_s / self.window_s / (self.n / 1000)


def write_endpoints(folder: Path, n: int, period_ms: int, port: int, mode: str) -> Path:
    """The tag map and an endpoint file with one OPC UA PLC read by ``mode``; returns the endpoint file."""
    folder.mkdir(parents=True, exist_ok=True)
    bench_tagmap(n, period_ms).to_csv(folder / "tags.csv")
    path = folder / "endpoints.yaml"
    EndpointFile(tag_map="tags.csv", plcs=[Endpoint(name="plc", protocol="opcua", host=LOOPBACK, port=port,
                                                    timeout_s=5.0, read=mode, clock="none")]).save(path)
    return path


async def drive_edge(endpoints: Path, out: Path, period_ms: int, warmup_s: float, window_s: float,
                     server: Server, freeze_gc: bool, pauses: GcPauses) -> tuple[EdgeRunResult, dict[str, float]]:
    """Run the edge; mark the window's ends (wall ms, CPU) here and in the server. ``freeze_gc``: freeze the
    edge's objects after its first frame (what ``gc.freeze()`` at the end of its start-up would do)."""
    settings = EdgeSettings.model_validate({"detection": {"enabled": False}, "rootcause": {"enabled": False}})
    first_frame = asyncio.Event()
    marks: dict[str, float] = {"begin": time.monotonic()}

    def seen(_: EdgeRunResult) -> bool:
        if not first_frame.is_set():
            marks["first"] = time.monotonic()
            first_frame.set()
            if freeze_gc:
                gc.collect()
                gc.freeze()
        return False

    async def marker() -> None:
        await first_frame.wait()
        await asyncio.sleep(warmup_s)
        marks["m0"], marks["cpu0"] = time.time() * 1000, time.process_time()
        server.conn.send("mark")
        pauses.on = True
        await asyncio.sleep(window_s)
        pauses.on = False
        marks["m1"], marks["cpu1"] = time.time() * 1000, time.process_time()
        server.conn.send("mark")

    duration_s = warmup_s + window_s + 5.0 + 2 * period_ms / 1000  # the window ends well before the edge does
    edge = asyncio.ensure_future(run_edge(endpoints, out, settings=settings, policy=Policy.OFF, bridge=False,
                                          scan_ms=period_ms, duration_s=duration_s, stop=seen))
    mark = asyncio.ensure_future(marker())
    try:
        done, _ = await asyncio.wait({edge}, timeout=EDGE_START_S + duration_s + 30)
        if not done:
            raise TimeoutError("the edge did not finish in time")
        result = edge.result()
    finally:
        for task in (edge, mark):
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if freeze_gc:
            gc.unfreeze()
    if "m1" not in marks:
        raise RuntimeError("the edge stopped before the measured window ended")
    return result, marks


def analyse(case: Case, historian: Path, marks: dict[str, float], served: dict[str, Any]) -> None:
    """Fill ``case`` from the historian, the window marks and the server's refresh log."""
    m0, m1, period = marks["m0"], marks["m1"], case.period_ms
    con = duckdb.connect(str(historian), read_only=True)
    try:
        rows = con.execute(
            "SELECT CAST(regexp_extract(tag, '(\\d+)$', 1) AS INTEGER) AS i, ts_ms, value, "
            "quality::VARCHAR = 'good' AS good, epoch_ms(wall_utc) AS wall FROM samples").fetchnumpy()
    finally:
        con.close()
    tag, ts, value = np.asarray(rows["i"]), np.asarray(rows["ts_ms"]), np.asarray(rows["value"], dtype=float)
    good, wall = np.asarray(rows["good"], dtype=bool), np.asarray(rows["wall"], dtype=np.float64)
    slots = np.asarray(served["slots"], dtype=np.int64)
    walls = np.asarray(served["walls"], dtype=np.float64)
    inside = (wall >= m0) & (wall < m1)
    if not inside.any():
        raise RuntimeError("no frame inside the measured window")
    case.ticks = int((ts[inside].max() - ts[inside].min()) // period + 1)
    case.expected = case.n * case.ticks
    held = inside & good
    case.good = int(held.sum())
    k = np.rint(value[held]).astype(np.int64)
    pos = np.searchsorted(slots, k)
    known = (pos < len(slots)) & (slots[np.minimum(pos, len(slots) - 1)] == k)
    pos, frame_wall = pos[known], wall[held][known]
    ahead = np.minimum(pos + LATE_REFRESHES, len(walls) - 1)
    late = (pos + LATE_REFRESHES < len(walls)) & (walls[ahead] <= frame_wall)
    case.late = int(late.sum()) + int((~known).sum())  # a value the server never made: count it late
    ages = frame_wall - walls[pos]
    case.age_ms = [float(np.percentile(ages, q)) for q in (50, 99)] if len(ages) else [float("nan")] * 2
    # refreshes made in the window (but the last two periods) that the edge never stored for that tag
    made = slots[(walls >= m0) & (walls < m1 - LATE_REFRESHES * period)]
    if len(made):
        good_k = np.rint(value[good]).astype(np.int64)
        stored = np.isin(good_k, made)
        pairs = np.unique(tag[good][stored].astype(np.int64) * (slots.max() + 1) + good_k[stored])
        case.missed = 100 * (1 - len(pairs) / (case.n * len(made)))
    case.window_s = (m1 - m0) / 1000
    case.edge_cpu_s = marks["cpu1"] - marks["cpu0"]
    server_marks = served["marks"]
    if len(server_marks) >= 2:
        case.server_cpu_s = server_marks[1][1] - server_marks[0][1]
    in_window = (walls >= m0) & (walls < m1)
    took = np.asarray(served["took"])[in_window] * 1000
    case.server_took_ms = [float(np.median(took)), float(took.max())] if len(took) else [float("nan")] * 2
    missing = np.diff(slots[in_window]) - 1
    case.server_skipped = int(missing.sum()) if len(missing) else 0
    case.server_gc_ms = list(served["gc_ms"])


@dataclass(frozen=True)
class Options:
    """How each case runs."""

    warmup_s: float = 3.0
    seconds: float = 20.0
    min_periods: int = MIN_PERIODS
    freeze_server_gc: bool = True
    freeze_edge_gc: bool = False
    profile: bool = False


def run_case(n: int, period_ms: int, mode: str, folder: Path, options: Options) -> Case:
    """One case: start the server process, run the edge against it, stop both, analyse."""
    case = Case(n, period_ms, mode)
    window_s = max(options.seconds, options.min_periods * period_ms / 1000)
    warmup_s = max(options.warmup_s, 2 * period_ms / 1000)
    server = start_server(n, period_ms, options.freeze_server_gc)
    profiler = cProfile.Profile() if options.profile else None
    try:
        where = folder / f"{n}_{period_ms}_{mode}"
        endpoints = write_endpoints(where, n, period_ms, server.port, mode)
        with GcPauses() as pauses:
            if profiler is not None:
                profiler.enable()
            try:
                result, marks = asyncio.run(drive_edge(endpoints, where / "run", period_ms, warmup_s, window_s,
                                                       server, options.freeze_edge_gc, pauses))
            finally:
                if profiler is not None:
                    profiler.disable()
        server.conn.send("stop")
        served = server.receive(SERVER_STOP_S)
        case.late_ticks, case.frames = result.late_ticks, result.frames
        case.sessions = sum(int(link.get("sessions_opened", 0)) for link in result.plcs)
        case.startup_s = marks["first"] - marks["begin"]
        case.edge_gc_ms = pauses.pauses_ms
        analyse(case, where / "run" / "historian.duckdb", marks, served)
        shutil.rmtree(where, ignore_errors=True)
    finally:
        server.kill()
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
        print(out.getvalue())
    return case


# ------------------------------------------------------------------------- printing
def fmt(value: float, digits: int = 2) -> str:
    """A figure for the table (``-`` for NaN)."""
    return "-" if value != value else f"{value:,.{digits}f}"


def print_tables(cases: list[Case]) -> None:
    """The main table (poll and subscribe side by side per N x P), the detail table and the target line."""
    by = {(c.n, c.period_ms, c.mode): c for c in cases}
    rows = sorted({(c.n, c.period_ms) for c in cases})
    head = (f"{'tags':>6} {'P ms':>5} | {'stored/s poll':>13} {'sub':>8} | {'late % poll':>11} {'sub':>6} | "
            f"{'lost % poll':>11} {'sub':>6} | {'edge CPU/1k poll':>16} {'sub':>6} {'sub/poll':>8} | "
            f"{'server CPU/1k poll':>18} {'sub':>6}")
    print("# OPC UA read by poll vs subscribe, real-time edge (CPU: s per wall s per 1,000 tags)")
    print(head)
    for n, p in rows:
        poll, sub = by.get((n, p, "poll")), by.get((n, p, "subscribe"))

        def pair(get: Any, digits: int = 2, a: Case | None = poll, b: Case | None = sub) -> tuple[str, str]:
            return tuple(fmt(get(c), digits) if c is not None and not c.error else "-" for c in (a, b))  # type: ignore[return-value]

        stored = pair(lambda c: c.stored_per_s, 0)
        late = pair(lambda c: c.late_pct)
        lost = pair(lambda c: c.lost_pct)
        edge = pair(lambda c: c.cpu_per_k(c.edge_cpu_s), 3)
        server = pair(lambda c: c.cpu_per_k(c.server_cpu_s), 3)
        ratio = "-"
        if poll is not None and sub is not None and not poll.error and not sub.error:
            ratio = fmt(sub.edge_cpu_s / sub.window_s / (poll.edge_cpu_s / poll.window_s), 2)
        print(f"{n:>6} {p:>5} | {stored[0]:>13} {stored[1]:>8} | {late[0]:>11} {late[1]:>6} | {lost[0]:>11} "
              f"{lost[1]:>6} | {edge[0]:>16} {edge[1]:>6} {ratio:>8} | {server[0]:>18} {server[1]:>6}")
    print("\n# detail: age of stored values, refreshes never stored, edge ticks and full GCs, server refresh and GCs")
    print(f"{'tags':>6} {'P ms':>5} {'mode':>9} | {'window s':>8} {'age p50 ms':>10} {'p99':>7} {'missed %':>8} | "
          f"{'frames':>6} {'late ticks':>10} {'sessions':>8} {'start-up s':>10} {'GC n':>4} {'max ms':>6} | "
          f"{'refresh p50 ms':>14} {'max':>7} {'skipped':>7} {'GC n':>4} {'max ms':>6}")
    for c in sorted(cases, key=lambda c: (c.n, c.period_ms, c.mode)):
        if c.error:
            print(f"{c.n:>6} {c.period_ms:>5} {c.mode:>9} | failed: {c.error}")
            continue
        print(f"{c.n:>6} {c.period_ms:>5} {c.mode:>9} | {fmt(c.window_s, 1):>8} {fmt(c.age_ms[0], 0):>10} "
              f"{fmt(c.age_ms[1], 0):>7} {fmt(c.missed):>8} | {c.frames:>6} {c.late_ticks:>10} {c.sessions:>8} "
              f"{fmt(c.startup_s, 1):>10} {len(c.edge_gc_ms):>4} {fmt(max(c.edge_gc_ms, default=0.0), 0):>6} | "
              f"{fmt(c.server_took_ms[0], 1):>14} {fmt(c.server_took_ms[1], 1):>7} {c.server_skipped:>7} "
              f"{len(c.server_gc_ms):>4} {fmt(max(c.server_gc_ms, default=0.0), 0):>6}")
    print()
    for mode in MODES:
        c = by.get((1_000, 100, mode))
        if c is None:
            continue
        if c.error:
            print(f"1,000 tags at 100 ms, {mode}: failed ({c.error})")
            continue
        verdict = "met" if c.late_pct + c.lost_pct < 1 else "MISSED"
        print(f"1,000 tags at 100 ms, {mode:>9}: late {c.late_pct:.2f} % + lost {c.lost_pct:.2f} % = "
              f"{c.late_pct + c.lost_pct:.2f} % (target < 1 %: {verdict})")


# ----------------------------------------------------------------------------- main
def parse_profile(text: str) -> tuple[int, int, str]:
    """``N:P:MODE`` as (N, P, mode)."""
    n, p, mode = text.split(":")
    if mode not in MODES:
        raise argparse.ArgumentTypeError(f"mode must be one of {MODES}, got {mode!r}")
    return int(n), int(p), mode


def main(argv: list[str] | None = None) -> int:
    """Run every case once and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured wall seconds per case "
                        f"(at least {MIN_PERIODS} periods)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after the edge's first frame before "
                        "the window (at least two periods)")
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--periods", type=int, nargs="*", default=list(PERIODS_MS), help="sample periods, ms")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,000 tags, 6-period windows of at "
                        "least 6 s, 1 s warm-up")
    parser.add_argument("--freeze-edge-gc", action="store_true", help="what-if: gc.freeze() in the edge after its "
                        "first frame (the edge as shipped does not)")
    parser.add_argument("--server-gc", choices=("freeze", "default"), default="freeze", help="freeze the virtual "
                        "PLC's start-up objects (default) or leave its full collections to pause it")
    parser.add_argument("--profile", type=parse_profile, metavar="N:P:MODE",
                        help="run this one case with the edge under cProfile")
    args = parser.parse_args(argv)
    quiet_logs()
    options = Options(warmup_s=args.warmup, seconds=args.seconds, freeze_server_gc=args.server_gc == "freeze",
                      freeze_edge_gc=args.freeze_edge_gc)
    if args.quick:
        args.sizes = [1_000]
        options = replace(options, warmup_s=1.0, seconds=min(args.seconds, 6.0), min_periods=6)
    shown = " ".join(sys.argv[1:] if argv is None else argv)
    print(f"# {COMMAND} {shown}".rstrip() + f"  ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores; "
          f"server GC {'frozen' if options.freeze_server_gc else 'as is'}, edge GC "
          f"{'frozen' if options.freeze_edge_gc else 'as is'})")
    with tempfile.TemporaryDirectory(prefix="realtime_edge_") as tmp:
        if args.profile is not None:
            n, p, mode = args.profile
            print_tables([run_case(n, p, mode, Path(tmp), replace(options, profile=True))])
            return 0
        cases: list[Case] = []
        started = time.monotonic()
        for n in args.sizes:
            for p in args.periods:
                for mode in MODES:
                    try:
                        case = run_case(n, p, mode, Path(tmp), options)
                    except Exception as err:  # noqa: BLE001 - one failed case still prints the others
                        case = Case(n, p, mode, error=f"{type(err).__name__}: {err}")
                    cases.append(case)
                    print(f"  done {n} tags, {p} ms, {mode} ({time.monotonic() - started:.0f} s)", file=sys.stderr)
        print_tables(cases)
        print(f"\n(wall {time.monotonic() - started:.0f} s, one run per case)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
