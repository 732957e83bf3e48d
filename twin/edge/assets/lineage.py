"""Lineage: which asset was derived from which, walked up (where it came from) or down (what was made of it).

The catalogue's ``lineage`` table holds edges ``upstream -> downstream`` with a relation. Nodes are asset ids
(``tag:``, ``historian:``, ``model:``, ``knowledge:``, ``fmea:``) and the finer things a run records, which
are not assets of their own:

=================================  ===========================================================================
a line's own tags (historian)      ``lot:L.x_lot-N -built_into-> unit:L-ID``, ``curve:RUN/TAG#ID -recorded_for->
                                   unit:L-ID`` (:func:`line_edges`: part ids, lot numbers, per-part curves)
a line's field and drawings        ``unit:L-ID -failed_in-> field_failure:L-ID -repaired_by-> repair:L-ID``
(``returns.parquet``,              (:func:`failure_edges`); ``design:COMPONENT/PROPERTY -specifies-> lot`` and
``design.json``)                   ``supplier:S -made-> lot`` (:func:`design_edges`); FMEA lines as for a supply run
a run (``report.json`` or          ``tag:T -stored_in-> historian:RUN -read_by-> features:RUN``;
``edge.json``)                     ``features:RUN -evidence_of-> diagnosis:RUN#ID``; ``alarm:RUN#ID -raised->
                                   diagnosis``; ``knowledge:K`` and ``model:M -used_by-> diagnosis``;
                                   ``diagnosis -proposed-> command:RUN#ID``
a model (its card)                 ``sweep:S -generated-> dataset:D -trained-> model:M``
a supply run (``lots.parquet``,    ``design:PART/CHARACTERISTIC -specifies-> lot:L``, ``supplier:S -made->
``returns.parquet``)               lot:L``, ``lot -inspected_in-> inspection:L -passed-> unit:SERIAL`` (a lot
                                   shipped without inspection: ``lot -shipped-> unit``), ``unit -failed_in->
                                   field_failure:SERIAL -repaired_by-> repair:SERIAL``; an FMEA line already
                                   imported that names the part and the failure mode ``-explains->`` the
                                   failure (:func:`fmea_failure_edges`)
=================================  ===========================================================================

:func:`walk` follows the edges from one node with a recursive query in the catalogue's DuckDB, to a depth
(default :data:`MAX_DEPTH`, which also bounds a cycle). From one field failure of a 270,000-unit supply run it
reaches the unit, its inspection, lot, supplier and design parameter in one query; from one field failure
of a motor it reaches the motor, its bearing box and shaft lot, their design parameters and suppliers, and the
press-fit and torque curves recorded for it (``benchmarks/lineage.py`` measures both). :func:`draw` draws what
:func:`walk` found, layer by layer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow.parquet as pq

from twin.contracts import RunFiles

Direction = Literal["upstream", "downstream", "both"]
MAX_DEPTH = 12  # edges from the start: a unit's design parameter is 4 away from its field repair
Edge = tuple[str, str, str]  # upstream, downstream, relation


@dataclass(frozen=True)
class Step:
    """One edge found by :func:`walk`: ``depth`` edges away from the start (1: touching it)."""

    upstream: str
    downstream: str
    relation: str
    depth: int
    run: str = ""
    way: str = "upstream"  # the walk that found it: upstream (towards sources) or downstream

    @property
    def near(self) -> str:
        """The end of the edge nearer the start of the walk."""
        return self.downstream if self.way == "upstream" else self.upstream

    @property
    def far(self) -> str:
        """The end of the edge farther from the start of the walk."""
        return self.upstream if self.way == "upstream" else self.downstream


@dataclass
class Lineage:
    """What :func:`walk` found from ``start``: the edges, nearest first."""

    start: str
    direction: Direction
    steps: list[Step] = field(default_factory=list)

    def nodes(self) -> list[str]:
        """Every node reached (``start`` first), in the order found."""
        seen = {self.start: None}
        for step in self.steps:
            seen.setdefault(step.upstream, None)
            seen.setdefault(step.downstream, None)
        return list(seen)

    def of_kind(self, kind: str) -> list[str]:
        """The nodes reached whose id starts with ``kind:`` (``lot``, ``design``, ...)."""
        return [n for n in self.nodes() if n.startswith(kind + ":")]

    def depth_of(self) -> dict[str, int]:
        """Each node's distance from the start, upstream negative and downstream positive."""
        depth = {self.start: 0}
        for step in self.steps:
            for node, sign in ((step.upstream, -1), (step.downstream, 1)):
                if node not in depth:
                    depth[node] = sign * step.depth
        return depth


def walk(con: Any, start: str, direction: Direction = "upstream", depth: int = MAX_DEPTH) -> Lineage:
    """The lineage of ``start`` in the catalogue connection ``con``: the edges ``depth`` steps up, down or
    both. ``KeyError`` naming ``start`` when no edge touches it."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    found = Lineage(start, direction)
    for way in (("upstream", "downstream") if direction == "both" else (direction,)):
        near, far = ("downstream", "upstream") if way == "upstream" else ("upstream", "downstream")
        rows = con.execute(f"""
            WITH RECURSIVE walk(upstream, downstream, relation, run, depth) AS (
                SELECT upstream, downstream, relation, run, 1 FROM lineage WHERE {near} = $start
                UNION
                SELECT l.upstream, l.downstream, l.relation, l.run, w.depth + 1
                FROM lineage l JOIN walk w ON l.{near} = w.{far} WHERE w.depth < $depth
            )
            SELECT upstream, downstream, relation, any_value(run), min(depth) AS d FROM walk
            GROUP BY upstream, downstream, relation ORDER BY d, upstream, downstream""",
                           {"start": start, "depth": depth}).fetchall()
        found.steps += [Step(u, d, r, int(k), run or "", way) for u, d, r, run, k in rows]
    if not found.steps and not con.execute("SELECT count(*) FROM lineage WHERE upstream = ? OR downstream = ?",
                                           [start, start]).fetchone()[0]:
        raise KeyError(f"no lineage recorded for {start!r} (scan the run that made it: twin assets scan RUN_DIR)")
    return found


# ---------------------------------------------------------------------- what runs record
def run_edges(record: dict[str, Any], run: str, tags: list[str], knowledge: str | None = None,
              model: str | None = None) -> list[Edge]:
    """The lineage of one edge or harness run named ``run`` (``record``: its :func:`run_record`): its ``tags``
    into its historian, the historian into the diagnoses' evidence, alarms, knowledge and model into each
    diagnosis, and each diagnosis into the commands it proposed."""
    historian, features = f"historian:{run}", f"features:{run}"
    edges: list[Edge] = [(f"tag:{t}", historian, "stored_in") for t in tags]
    diagnoses = record.get("diagnoses") or []
    if diagnoses:
        edges.append((historian, features, "read_by"))
    for diagnosis in diagnoses:
        node = f"diagnosis:{run}#{diagnosis['id']}"
        edges.append((features, node, "evidence_of"))
        edges += [(f"alarm:{run}#{a}", node, "raised") for a in diagnosis.get("alarm_ids") or []]
        edges += [(source, node, "used_by") for source in (knowledge, model) if source]
    for command in record.get("commands") or []:
        origin = command.get("diagnosis_id")
        if origin:
            edges.append((f"diagnosis:{run}#{origin}", f"command:{run}#{command['id']}", "proposed"))
    return edges


def run_record(run_dir: Path) -> dict[str, Any]:
    """What a run says it did — its diagnoses, commands and ``rootcause`` (how diagnoses were made: knowledge
    and model paths) — from its ``report.json`` (harness) or ``edge.json`` (standalone edge); no truth is read.
    {} when it has neither."""
    for name in ("report.json", "edge.json"):
        path = run_dir / name
        if path.is_file():
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                continue
            if isinstance(record, dict):
                rootcause = record.get("rootcause")
                return {"diagnoses": record.get("diagnoses"), "commands": record.get("commands"),
                        "rootcause": rootcause if isinstance(rootcause, dict) else {}}
    return {}


def model_edges(model: str, card: dict[str, Any]) -> list[Edge]:
    """``sweep -> dataset -> model`` from a model card's ``data`` block (nothing when the card names none)."""
    data = card.get("data") if isinstance(card.get("data"), dict) else {}
    edges: list[Edge] = []
    dataset = data.get("dataset")
    if dataset:
        edges.append((f"dataset:{dataset}", model, "trained"))
        if data.get("sweep"):
            edges.append((f"sweep:{data['sweep']}", f"dataset:{dataset}", "generated"))
    return edges


def supply_edges(run_dir: Path, report: dict[str, Any], failures: Iterable[dict[str, Any]] = ()) -> Iterator[Edge]:
    """The genealogy of a supply run: design parameter and supplier into each lot, lot (through its incoming
    inspection) into each shipped unit (``lots.parquet`` and the scenario in ``report.json``), unit into its
    field failure and repair (``failures``: the rows of ``returns.parquet``)."""
    chain = (report.get("scenario") or {}).get("chain") or {}
    design = {s["name"]: f"design:{s['part']}/{s['characteristic']['name']}" for s in chain.get("suppliers", [])}
    lots = pq.read_table(run_dir / RunFiles.LOTS).to_pylist() if (run_dir / RunFiles.LOTS).is_file() else []
    for row in lots:
        lot, supplier = f"lot:{row['lot']}", row["supplier"]
        yield f"supplier:{supplier}", lot, "made"
        if supplier in design:
            yield design[supplier], lot, "specifies"
        gate = lot
        if row.get("sample_n", 0) and row.get("outcome") != "skipped":
            gate = f"inspection:{row['lot']}"
            yield lot, gate, "inspected_in"
        first, shipped = int(row.get("first_serial", -1)), int(row.get("shipped", 0))
        relation = "passed" if gate != lot else "shipped"
        for serial in range(first, first + shipped) if first >= 0 else ():
            yield gate, f"unit:{serial}", relation
    yield from failure_edges(failures)


def unit_of(failure: dict[str, Any]) -> str:
    """The unit a field failure (a row of ``returns.parquet``) happened to: its ``unit`` (a line's
    ``<line>-<id>``), else its ``serial`` (a supply run's)."""
    return str(failure.get("unit") or failure["serial"])


def failure_edges(failures: Iterable[dict[str, Any]]) -> Iterator[Edge]:
    """``unit -failed_in-> field_failure -repaired_by-> repair`` for each field failure."""
    for failure in failures:
        unit = unit_of(failure)
        yield f"unit:{unit}", f"field_failure:{unit}", "failed_in"
        yield f"field_failure:{unit}", f"repair:{unit}", "repaired_by"


def design_edges(design: Iterable[dict[str, Any]], edges: Iterable[Edge]) -> list[Edge]:
    """``design:<component>/<property> -specifies-> lot`` and ``supplier:<asset> -made-> lot`` for every lot a
    line's own tags named (the ``lot:<line>.<lot>-<n>`` nodes of ``edges``, from :func:`line_edges`), from the
    line's ``design.json`` (the drawing tolerances of its lots' properties)."""
    by_lot: dict[str, list[dict[str, Any]]] = {}
    for entry in design:
        line = str(entry["supplier"]).split(".", 1)[0]
        by_lot.setdefault(f"lot:{line}.{entry['lot']}-", []).append(entry)
    lots = sorted({up for up, _, relation in edges if relation == "built_into"})
    out: list[Edge] = []
    for lot in lots:
        entries = by_lot.get(lot.rsplit("-", 1)[0] + "-", [])
        out += [(f"design:{entry['design']}", lot, "specifies") for entry in entries]
        out += [(f"supplier:{supplier}", lot, "made") for supplier in sorted({e["supplier"] for e in entries})]
    return out


def line_edges(con: Any, run: str) -> list[Edge]:
    """The per-part genealogy a line's own tags tell, from a historian connection ``con``: every station with a
    ``<station>.part_id`` tag names a unit each time that id changes; the station's lot tags
    (``<station>.<x>_lot``) at that moment give its lots (``lot:<station's line>.<x>_lot-<n> -built_into->
    unit:<line>-<id>``), and its array tags the curves recorded for it (``curve:RUN/<tag>#<id>
    -recorded_for-> unit``: a press-fit force curve, a torque-angle curve). Only what the line publishes is
    read."""
    tags = [r[0] for r in con.execute("SELECT DISTINCT tag FROM samples").fetchall()]
    edges: list[Edge] = []
    for part_tag in sorted(t for t in tags if t.endswith(".part_id")):
        station = part_tag.removesuffix(".part_id")
        line = station.split(".", 1)[0]
        lots = sorted(t for t in tags if t.startswith(station + ".") and t.endswith("_lot"))
        curves = sorted({t.split("[", 1)[0] for t in tags if t.startswith(station + ".") and t.endswith("[0]")})
        changes = con.execute("""
            SELECT ts_ms, value FROM (
                SELECT ts_ms, value, lag(value) OVER (ORDER BY ts_ms) AS before FROM samples
                WHERE tag = ? AND quality = 'good' AND value IS NOT NULL)
            WHERE value > 0 AND (before IS NULL OR value <> before) ORDER BY ts_ms""", [part_tag]).fetchall()
        if not changes:
            continue
        at = {ts: f"unit:{line}-{int(value)}" for ts, value in changes}
        for lot_tag in lots:
            for ts, value in _values_at(con, lot_tag, list(at)):
                edges.append((f"lot:{line}.{lot_tag.removeprefix(station + '.')}-{int(value)}", at[ts], "built_into"))
        for curve in curves:
            edges += [(f"curve:{run}/{curve}#{at[ts].split('-')[-1]}", at[ts], "recorded_for") for ts in at]
    return edges


def _values_at(con: Any, tag: str, times: list[int]) -> list[tuple[int, float]]:
    """``tag``'s latest good value at or before each of ``times`` (a tag that holds the latest part's value)."""
    import pyarrow as pa

    with con.cursor() as cur:
        cur.register("_at", pa.table({"t": pa.array(times, pa.int64())}))
        return cur.execute("""
            SELECT a.t, s.value FROM _at a ASOF JOIN (
                SELECT ts_ms, value FROM samples WHERE tag = ? AND quality = 'good' AND value IS NOT NULL) s
            ON a.t >= s.ts_ms ORDER BY a.t""", [tag]).fetchall()


def fmea_failure_edges(rows: Iterable[Any], failures: Iterable[dict[str, Any]]) -> list[Edge]:
    """``fmea:<row> -explains-> field_failure:<unit>`` for each field failure (a row of ``returns.parquet``) and
    each FMEA line (:class:`~twin.edge.assets.fmea.FmeaRow`) that names both what failed and how: every word of
    the part (``brake_disc``: brake, disc) in the line's item or step — or, for a process FMEA whose steps are
    stations, in its failure mode or cause ("motor with *bearing* play passes the test") —, and every word of
    the return's failure mode (``disc_wear``: disc, wear) in its failure mode, cause or effect (case-insensitive,
    as parts of words: "wears" holds "wear")."""
    def words(name: str) -> list[str]:
        return [w for w in name.lower().replace("-", "_").split("_") if w]

    edges: list[Edge] = []
    lines = [(row.id, f"{row.step} {row.failure_mode} {row.cause}".lower(),
              f"{row.failure_mode} {row.cause} {row.effect}".lower()) for row in rows]
    for failure in failures:
        part, mode = words(str(failure["part"])), words(str(failure["mode"]))
        for row_id, what, how in lines:
            if all(w in what for w in part) and all(w in how for w in mode):
                edges.append((row_id, f"field_failure:{unit_of(failure)}", "explains"))
    return edges


def draw(lineage: Lineage, path: str | Path, *, max_nodes: int = 60) -> Path:
    """Draw ``lineage`` layer by layer (upstream left, the start in the middle, downstream right) into a PNG;
    layers wider than fits keep their first nodes and say how many more there are."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    depth = lineage.depth_of()
    layers: dict[int, list[str]] = {}
    for node, d in sorted(depth.items(), key=lambda item: (item[1], item[0])):
        layers.setdefault(d, []).append(node)
    per_layer = max(3, max_nodes // max(1, len(layers)))
    shown: dict[str, tuple[float, float]] = {}
    more: dict[int, int] = {}
    for d, nodes in layers.items():
        keep = nodes[:per_layer]
        more[d] = len(nodes) - len(keep)
        for k, node in enumerate(keep):
            shown[node] = (float(d), -(k - (len(keep) - 1) / 2))
    height = max(3.0, 0.45 * max(len(v) for v in layers.values()) if layers else 3.0)
    fig, ax = plt.subplots(figsize=(max(6.0, 2.6 * len(layers)), min(height, 14.0)))
    for step in lineage.steps:
        if step.upstream in shown and step.downstream in shown:
            (x0, y0), (x1, y1) = shown[step.upstream], shown[step.downstream]
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                        arrowprops={"arrowstyle": "->", "color": "#888888", "lw": 0.8})
            ax.text((x0 + x1) / 2, (y0 + y1) / 2, step.relation, fontsize=6, color="#666666", ha="center")
    for node, (x, y) in shown.items():
        kind = node.split(":", 1)[0]
        ax.text(x, y, node if len(node) <= 34 else node[:31] + "...", ha="center", va="center", fontsize=7,
                bbox={"boxstyle": "round,pad=0.3", "fc": "#ffe9a8" if node == lineage.start else _COLOURS.get(
                    kind, "#e8eef7"), "ec": "#555555", "lw": 0.6})
    for d, extra in more.items():
        if extra:
            ax.text(d, min(y for n, (x, y) in shown.items() if x == d) - 1, f"+{extra} more", ha="center",
                    fontsize=7, style="italic")
    ax.set_title(f"Lineage of {lineage.start} ({lineage.direction}; {len(depth)} nodes)", fontsize=9)
    ax.set_xlim(min(layers) - 0.7, max(layers) + 0.7)
    ax.set_ylim(min((y for _, y in shown.values()), default=-1) - 1.5, max((y for _, y in shown.values()),
                                                                            default=1) + 1)
    ax.axis("off")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return out


_COLOURS = {"design": "#f4d0d0", "supplier": "#d9ead3", "lot": "#d9ead3", "inspection": "#d0e0f4",
            "unit": "#e8eef7", "field_failure": "#f4cccc", "repair": "#f9e0c0", "tag": "#e0f0e0",
            "historian": "#e0e0f4", "diagnosis": "#fde9c9", "model": "#eadcf4", "dataset": "#eadcf4"}
