"""Run a supply scenario: the chain (truth) against the OEM stack, adaptive and fixed baseline.

Supplier data travel the supplier portal (``twin.harness.supply.portal``): over MQTT on a broker started
for the run (scenario ``portal.transport: mqtt``, the default) or in-process; the payloads, their
order of processing and so the report are the same either way.

Both runs use the same seed, so they see the same lots, climates and field; only the OEM's
decisions (and what they change: samples drawn, lots screened, corrections) differ. The run
directory gets ``report.json``, ``ledger.jsonl`` (the adaptive stack's warnings and task steps),
``lots.parquet`` (one row per lot: genealogy and outcome) and ``returns.parquet`` (one row per field failure
the OEM received: serial, part, when, failure mode).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from supply_chain_sim.flow import SupplyChain
from twin.contracts import RunFiles
from twin.edge.assets.openlineage import RUN_FILE, emit_job, existing, run_datasets
from twin.edge.ledger import Ledger
from twin.edge.supply.oem import Oem, PartInfo
from twin.edge.supply.portal import PortalReceiver
from twin.edge.supply.workflow import Task
from twin.harness.supply.episode import Episode
from twin.harness.supply.portal import Accounts, InProcessPortal, MqttPortal, SupplierPublisher, Transport, run_broker
from twin.harness.supply.report import SupplyReport
from twin.harness.supply.scenario import SupplyScenario
from twin.harness.supply.scoring import score

RETURNS_SCHEMA = pa.schema([("serial", pa.int64()), ("part", pa.string()), ("t_h", pa.float64()),
                           ("service_h", pa.float64()), ("mode", pa.string())])


@contextmanager
def portal_broker(spec: SupplyScenario, broker: Accounts | None = None,
                  transport: str | None = None) -> Iterator[tuple[Accounts | None, str | None]]:
    """The broker a run's portal uses: ``broker`` if given, else one started for the run (None in-process)."""
    if (transport or spec.portal.transport) != "mqtt":
        yield None, None
    elif broker is not None:
        yield broker, getattr(getattr(broker, "server", broker), "kind", "external")
    else:
        with run_broker(spec.portal.broker, [s.name for s in spec.chain.suppliers]) as started:
            yield started


def run_episode(spec: SupplyScenario, seed: int, adaptive: bool, ledger_path: Path, *,
                broker: Accounts | None = None, transport: str | None = None) -> Episode:
    """Simulate the chain with the OEM's stack (``adaptive``) or the fixed baseline.

    ``transport`` overrides the scenario's ``portal.transport``; over MQTT, ``broker`` is a
    running broker's accounts (one is started for the episode when None)."""
    with ExitStack() as stack:
        accounts, kind = stack.enter_context(portal_broker(spec, broker, transport))
        return _episode(spec, seed, adaptive, ledger_path, stack, accounts, kind)


def _episode(spec: SupplyScenario, seed: int, adaptive: bool, ledger_path: Path, stack: ExitStack,
             accounts: Accounts | None, broker_kind: str | None) -> Episode:
    chain = SupplyChain(spec.chain, seed)
    parts = [PartInfo(s.name, s.part, s.characteristic.name, s.characteristic.mean, s.characteristic.lsl,
                      s.characteristic.usl, s.lot_size, s.characteristic.gauge_sigma) for s in spec.chain.suppliers]
    claims = {s.name: {k: v.model_dump() for k, v in s.publishes.items()} for s in spec.chain.suppliers}
    fleet = [e.model_dump() for e in spec.chain.field.environments]
    oem = Oem(spec.oem, parts, claims, fleet, spec.chain.field.warranty_days, Ledger(ledger_path), adaptive)
    episode = Episode(chain, oem)
    receiver = PortalReceiver(claims, oem.semantic)
    publisher = SupplierPublisher(spec.chain, spec.portal.iot)
    portal: Transport = InProcessPortal(receiver)
    if accounts is not None:
        portal = stack.enter_context(MqttPortal(receiver, accounts, [s.name for s in spec.chain.suppliers],
                                                f"{spec.name}-{seed}-{'adaptive' if adaptive else 'fixed'}",
                                                spec.portal.timeout_s, broker_kind))

    def drain() -> None:
        while oem.new_tasks:
            chain.env.process(_perform(chain, oem, oem.new_tasks.pop(0)))

    def on_publish(message: dict[str, Any]) -> None:
        portal.deliver(publisher.encode(message))
        for record in receiver.flush():
            oem.on_publish(record)
        drain()

    def on_arrival(view: dict[str, Any]) -> None:
        _receive(episode, view)
        drain()

    def on_return(message: dict[str, Any]) -> None:
        episode.returns.append({key: message[key] for key in ("serial", "part", "t_h", "service_h", "mode")})
        oem.on_return(message)

    chain.on_publish, chain.on_arrival, chain.on_return = on_publish, on_arrival, on_return
    chain.run()
    portal.check()
    episode.portal = {**portal.summary(), **receiver.summary(), "corrupted_at_source": publisher.corrupted}
    return episode


def _perform(chain: SupplyChain, oem: Oem, task: Task) -> Any:
    """The role behind a task acts after its response time; the action changes the world."""
    yield chain.env.timeout(oem.workflow.delay(task.role))
    action = task.action
    if action["kind"] == "adjust_mean":
        chain.adjust_mean(action["supplier"], action["delta"])
    elif action["kind"] == "cap_transport":
        chain.cap_transport(action["supplier"], action["max_c"])
    oem.task_done(task, chain.env.now, action["text"])


def _receive(episode: Episode, view: dict[str, Any]) -> None:
    """Incoming inspection, screening, final inspection and shipment of one arriving lot."""
    chain, oem, counts = episode.chain, episode.oem, episode.counts
    lot_id, supplier, size = view["lot"], view["supplier"], view["size"]
    order = oem.plan(view)
    keep = np.ones(size, dtype=bool)
    outcome = "skipped"
    if order.plan is None and order.reasons and order.reasons[-1].startswith("discontinued"):
        outcome = "screened (discontinued)"
        counts["screened"] += _screen(chain, oem, lot_id, keep, order.lsl, order.usl)
        oem.screened(supplier)
    elif order.plan is not None:
        sampled = chain.sample(lot_id, order.n)
        measured = chain.measure(lot_id, sampled)
        counts["samples"] += len(sampled)
        counts["lots_inspected"] += 1
        accepted, _ = oem.judge(order, measured)
        keep[sampled[oem.nonconforming(measured, order.lsl, order.usl)]] = False
        outcome = "accepted"
        if not accepted:
            outcome = "rejected, screened"
            counts["lots_rejected"] += 1
            counts["screened"] += _screen(chain, oem, lot_id, keep, order.lsl, order.usl)
    else:
        counts["lots_skipped"] += 1
    if supplier in oem.final_limits:
        lsl, usl = oem.final_limits[supplier]
        counts["final_checked"] += _screen(chain, oem, lot_id, keep, lsl, usl)
    counts["scrapped"] += int((~keep).sum())
    serials = chain.ship(lot_id, keep)
    lot = chain.lots[lot_id]
    oem.field.record_shipment(lot_id, supplier, lot.part, serials, lot.service_h)
    episode.lots.append({"lot": lot_id, "supplier": supplier, "part": lot.part, "produced_h": lot.produced_h,
                         "arrived_h": view["arrived_h"], "severity": order.plan.severity if order.plan else "none",
                         "sample_n": order.n, "outcome": outcome, "shipped": int(keep.sum()),
                         "first_serial": int(serials[0]) if len(serials) else -1, "reasons": "; ".join(order.reasons)})


def _screen(chain: SupplyChain, oem: Oem, lot_id: str, keep: np.ndarray, lsl: float | None,
            usl: float | None) -> int:
    """Gauge every kept unit; drop the nonconforming ones. Returns the number gauged."""
    idx = np.flatnonzero(keep)
    measured = chain.measure(lot_id, idx)
    keep[idx[oem.nonconforming(measured, lsl, usl)]] = False
    return len(idx)


def run_supply(spec: SupplyScenario, seed: int | None = None, out_dir: Path | None = None,
               write: bool = True, *, broker: Accounts | None = None, transport: str | None = None,
               source: Path | None = None) -> SupplyReport:
    """Run the adaptive stack and the fixed baseline, score them, and write the run directory (with its
    OpenLineage events: the scenario file ``source`` in; report, ledger, lots and returns out).

    ``transport`` overrides the scenario's ``portal.transport`` (``mqtt`` or ``inprocess``); over
    MQTT both runs share ``broker``, or one broker started for the run."""
    if transport not in (None, "mqtt", "inprocess"):
        raise ValueError(f"transport must be 'mqtt' or 'inprocess', not {transport!r}")
    seed = spec.seed if seed is None else seed
    out = Path(out_dir) if out_dir is not None else spec.output_dir()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        ledger_path = (out if write else Path(scratch)) / "ledger.jsonl"
        if write:
            out.mkdir(parents=True, exist_ok=True)
            for stale in (ledger_path, ledger_path.with_name("ledger.jsonl.head")):
                stale.unlink(missing_ok=True)
        with portal_broker(spec, broker, transport) as (accounts, kind):
            adaptive = run_episode(spec, seed, True, ledger_path, broker=accounts, transport=transport)
            fixed = run_episode(spec, seed, False, Path(scratch) / "baseline-ledger.jsonl", broker=accounts,
                                transport=transport)
        report = score(spec, seed, adaptive, fixed, ledger_path, wall_s=time.perf_counter() - started)
    if write:
        report.outputs = {"dir": str(out), "report": str(out / "report.json"), "ledger": str(ledger_path),
                          "lots": str(out / RunFiles.LOTS), "returns": str(out / RunFiles.RETURNS)}
        (out / "report.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
        pq.write_table(pa.Table.from_pylist(adaptive.lots), out / RunFiles.LOTS)
        pq.write_table(pa.Table.from_pylist(adaptive.returns, schema=RETURNS_SCHEMA), out / RunFiles.RETURNS)
        emit_job(f"supply.{spec.name}", existing("scenario", [source]), run_datasets(out),
                 wall_s=time.perf_counter() - started, target=out / RUN_FILE,
                 description=f"one run of the supply scenario {spec.name}")
    return report
