"""The asset catalogue: every dataset the project makes or reads, with where it comes from and how far to trust it.

One DuckDB file (``runs/assets.duckdb`` by default) with these tables:

* ``assets`` — one row per asset: ``id`` (``tag:coater.coolant.flow``, ``historian:runs/coater_coil_ageing``,
  ``model:plant_models/coater/rootcause.pt``, ``knowledge:plant_models/coater/knowledge.yaml``), ``kind``,
  ``source_kind`` (device-direct, edge-computed, supplier-reported, manual-entry), ``prior``,
  ``credibility`` (:mod:`twin.edge.assets.credibility`) and the measured shares behind it, ``labels``
  (free business-scenario tags such as ``weld-spatter -> body-strength``), compliance (``personal_data``,
  ``retention_days``), ``owner``, ``unit``, ``location`` (the file) and ``description``;
* ``measurements`` — a tag's measured sample quality per scanned run, so a tag seen in many runs is
  judged on all of them (pooled, weighted by the samples each run promised);
* ``lineage`` — which asset was derived from which: ``upstream`` -> ``downstream`` with a ``relation``
  (``stored_in``, ``derived_from``, ``made_from``, ...) and the ``run`` that recorded it
  (:mod:`twin.edge.assets.lineage` walks it);
* ``fmea`` — one row per line of an FMEA sheet imported (:meth:`Catalogue.put_fmea`), under the sheet's asset
  (kind ``fmea``, manual entry), which ``contains`` each line in ``lineage``;
* ``catalogue`` — the format, so a file that is not a catalogue is refused by name.

Scanning a path again refreshes what is measured and keeps what a person set (labels, owner, compliance).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb

from qtconfig import ConfigError
from twin.contracts import RunFiles
from twin.edge.assets.credibility import SOURCE_PRIOR, credibility, pooled, source_of
from twin.edge.assets.fmea import FmeaRow, FmeaSheet
from twin.edge.assets.health import run_context
from twin.edge.assets.lineage import (
    design_edges,
    failure_edges,
    fmea_failure_edges,
    line_edges,
    model_edges,
    run_edges,
    run_record,
    supply_edges,
)
from twin.edge.assets.quality import ElementQuality, element_quality, span_of
from twin.edge.historian import HistorianReader
from virtual_plc.tagmap import TagMap, load_tagmap

CATALOGUE_FORMAT = 1
DEFAULT_CATALOGUE = Path("runs") / "assets.duckdb"
KINDS = ("tag", "historian", "model", "knowledge", "supply", "fmea")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS catalogue (key VARCHAR PRIMARY KEY, value VARCHAR)",
    """CREATE TABLE IF NOT EXISTS assets (
        id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, source_kind VARCHAR NOT NULL, prior DOUBLE NOT NULL,
        credibility DOUBLE NOT NULL, good_share DOUBLE, gap_share DOUBLE, clock_agreement DOUBLE,
        labels VARCHAR[] NOT NULL, personal_data BOOLEAN NOT NULL, retention_days INTEGER, owner VARCHAR NOT NULL,
        unit VARCHAR NOT NULL, location VARCHAR NOT NULL, description VARCHAR NOT NULL, updated_utc TIMESTAMPTZ)""",
    """CREATE TABLE IF NOT EXISTS measurements (
        asset_id VARCHAR, run VARCHAR, expected BIGINT, good_share DOUBLE, gap_share DOUBLE, clock_agreement DOUBLE,
        PRIMARY KEY (asset_id, run))""",
    """CREATE TABLE IF NOT EXISTS lineage (
        upstream VARCHAR NOT NULL, downstream VARCHAR NOT NULL, relation VARCHAR NOT NULL, run VARCHAR NOT NULL,
        PRIMARY KEY (upstream, downstream, relation))""",
    # a row id (fmea:<file stem>#<row>) is unique within its sheet; two sheets of one name may share ids
    """CREATE TABLE IF NOT EXISTS fmea (
        id VARCHAR NOT NULL, sheet VARCHAR NOT NULL, step VARCHAR NOT NULL, function VARCHAR NOT NULL,
        failure_mode VARCHAR NOT NULL, effect VARCHAR NOT NULL, severity INTEGER NOT NULL, cause VARCHAR NOT NULL,
        occurrence INTEGER NOT NULL, prevention VARCHAR NOT NULL, detection_controls VARCHAR NOT NULL,
        detection INTEGER NOT NULL, action_priority VARCHAR NOT NULL, PRIMARY KEY (sheet, id))""",
)
_COLUMNS = ("id", "kind", "source_kind", "prior", "credibility", "good_share", "gap_share", "clock_agreement",
            "labels", "personal_data", "retention_days", "owner", "unit", "location", "description", "updated_utc")
_FMEA_COLUMNS = ("id", "step", "function", "failure_mode", "effect", "severity", "cause", "occurrence", "prevention",
                 "detection_controls", "detection", "action_priority")  # FmeaRow's fields; the table adds sheet


@dataclass
class Asset:
    """One catalogue row (module docstring)."""

    id: str
    kind: str
    source_kind: str
    prior: float
    credibility: float
    good_share: float | None = None
    gap_share: float | None = None
    clock_agreement: float | None = None
    labels: list[str] = field(default_factory=list)
    personal_data: bool = False
    retention_days: int | None = None
    owner: str = ""
    unit: str = ""
    location: str = ""
    description: str = ""
    updated_utc: datetime | None = None

    def row(self) -> tuple[Any, ...]:
        """The values in table column order."""
        return tuple(getattr(self, c) for c in _COLUMNS)


class Catalogue:
    """The catalogue file, open for reading and writing; use as a context manager."""

    def __init__(self, path: str | Path = DEFAULT_CATALOGUE, *, create: bool = True) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ConfigError(self.path, ["is a folder, not a catalogue file"])
        if not self.path.exists() and not create:
            raise ConfigError(self.path, ["no catalogue here; make one with `twin assets scan RUN_DIR`"])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path))
        except duckdb.Error as err:
            raise ConfigError(self.path, [f"not a DuckDB catalogue: {str(err).splitlines()[0]}"]) from None
        tables = {r[0] for r in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if tables and "catalogue" not in tables:
            self.con.close()
            raise ConfigError(self.path, ["a DuckDB file, but not an asset catalogue (no table 'catalogue')"])
        for statement in _SCHEMA:
            self.con.execute(statement)
        self.con.execute("INSERT OR IGNORE INTO catalogue VALUES ('format', ?)", [str(CATALOGUE_FORMAT)])
        found = self.con.execute("SELECT value FROM catalogue WHERE key = 'format'").fetchone()[0]
        if found != str(CATALOGUE_FORMAT):
            self.con.close()
            raise ConfigError(self.path, [f"catalogue format {found}, this version reads {CATALOGUE_FORMAT}"])

    def close(self) -> None:
        """Write and close the file."""
        self.con.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ reading
    def get(self, asset_id: str) -> Asset:
        """The asset ``asset_id``; ``KeyError`` naming it (and the closest ids) when unknown."""
        found = self._select("WHERE id = ?", [asset_id])
        if not found:
            import difflib

            close = difflib.get_close_matches(asset_id, self.ids(), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; {len(self.ids())} assets in {self.path}"
            raise KeyError(f"no asset {asset_id!r} in the catalogue {self.path}{hint}")
        return found[0]

    def ids(self) -> list[str]:
        """Every asset id, sorted."""
        return [r[0] for r in self.con.execute("SELECT id FROM assets ORDER BY id").fetchall()]

    def assets(self, kind: str | None = None, label: str | None = None) -> list[Asset]:
        """The assets, by id, optionally of one ``kind`` and carrying ``label``."""
        clauses, params = [], []
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        if label is not None:
            clauses.append("list_contains(labels, ?)")
            params.append(label)
        return self._select(("WHERE " + " AND ".join(clauses)) if clauses else "", params)

    def measurements(self, asset_id: str) -> list[dict[str, Any]]:
        """The per-run measurements behind a tag's credibility."""
        rows = self.con.execute("SELECT run, expected, good_share, gap_share, clock_agreement FROM measurements "
                                "WHERE asset_id = ? ORDER BY run", [asset_id]).fetchall()
        return [dict(zip(("run", "expected", "good_share", "gap_share", "clock_agreement"), r, strict=True))
                for r in rows]

    def fmea_rows(self, sheet: str | None = None) -> list[FmeaRow]:
        """The FMEA lines imported, of one sheet (its asset id, ``fmea:<path>``, or its path as catalogued) or of
        all, by sheet and row."""
        where, params = ("WHERE a.id = ? OR a.location = ?", [sheet, sheet]) if sheet is not None else ("", [])
        rows = self.con.execute(f"SELECT {', '.join('f.' + c for c in _FMEA_COLUMNS)} FROM fmea f JOIN assets a "
                                f"ON a.id = f.sheet {where} ORDER BY f.sheet, "
                                "CAST(split_part(f.id, '#', -1) AS INTEGER)", params).fetchall()
        return [FmeaRow(**dict(zip(_FMEA_COLUMNS, r, strict=True))) for r in rows]

    def _select(self, where: str, params: Sequence[Any]) -> list[Asset]:
        rows = self.con.execute(f"SELECT {', '.join(_COLUMNS)} FROM assets {where} ORDER BY id", params).fetchall()
        return [Asset(**dict(zip(_COLUMNS, r, strict=True))) for r in rows]

    # ------------------------------------------------------------------ writing
    def put(self, asset: Asset) -> Asset:
        """Insert or refresh ``asset``; labels, owner and compliance a person set on it before are kept."""
        try:
            old = self.get(asset.id)
        except KeyError:
            old = None
        if old is not None:
            asset = replace(asset, labels=sorted({*old.labels, *asset.labels}), owner=old.owner or asset.owner,
                            personal_data=old.personal_data or asset.personal_data,
                            retention_days=old.retention_days if old.retention_days is not None
                            else asset.retention_days)
        asset = replace(asset, updated_utc=datetime.now(UTC))
        self.con.execute(f"INSERT OR REPLACE INTO assets VALUES ({', '.join('?' * len(_COLUMNS))})", asset.row())
        return asset

    def label(self, asset_id: str, labels: Iterable[str] = (), *, remove: bool = False, owner: str | None = None,
              personal_data: bool | None = None, retention_days: int | None = None) -> Asset:
        """Add (or ``remove``) business-scenario labels, and set owner and compliance, of one asset."""
        asset = self.get(asset_id)
        labels = [lab.strip() for lab in labels if lab.strip()]
        kept = [lab for lab in asset.labels if lab not in labels] if remove else sorted({*asset.labels, *labels})
        if retention_days is not None and retention_days < 0:
            raise ValueError(f"retention_days must be >= 0, got {retention_days}")
        asset = replace(asset, labels=kept, owner=asset.owner if owner is None else owner,
                        personal_data=asset.personal_data if personal_data is None else personal_data,
                        retention_days=asset.retention_days if retention_days is None else retention_days,
                        updated_utc=datetime.now(UTC))
        self.con.execute(f"INSERT OR REPLACE INTO assets VALUES ({', '.join('?' * len(_COLUMNS))})", asset.row())
        return asset

    def link(self, edges: Iterable[tuple[str, str, str]], run: str = "") -> int:
        """Record lineage edges (upstream, downstream, relation), recorded by ``run``; an edge already there is
        kept once. Returns how many were given. Bulk-inserted: a run's 100,000 units cost well under a second."""
        rows = list(edges)
        if not rows:
            return 0
        import pyarrow as pa

        upstream, downstream, relation = (list(column) for column in zip(*rows, strict=True))
        table = pa.table({"upstream": upstream, "downstream": downstream, "relation": relation,
                          "run": [run] * len(rows)})
        with self.con.cursor() as con:  # a cursor of its own: register() refuses a connection with a pending result
            con.register("_edges", table)
            con.execute("INSERT OR IGNORE INTO lineage SELECT DISTINCT upstream, downstream, relation, run FROM _edges")
        return len(rows)

    def put_fmea(self, sheet: FmeaSheet) -> Asset:
        """Import an FMEA sheet read whole (:func:`twin.edge.assets.fmea.read_fmea`): the sheet becomes an asset of
        kind ``fmea`` (manual entry, trusted as far as its prior), its lines the ``fmea`` table's rows, each
        ``contains``-linked from the sheet in ``lineage``. Importing a sheet again replaces its lines and links;
        labels, owner and compliance set on the sheet are kept (:meth:`put`)."""
        asset = _file_asset("fmea", sheet.path, "manual-entry", f"FMEA, {len(sheet.rows)} lines: "
                            + ", ".join(f"{n} {p}" for p, n in sheet.by_priority().items()))
        self.con.execute("BEGIN TRANSACTION")  # the sheet's lines all, or none of them
        try:
            self.con.execute("DELETE FROM fmea WHERE sheet = ?", [asset.id])
            self.con.execute("DELETE FROM lineage WHERE upstream = ? AND relation = 'contains'", [asset.id])
            if sheet.rows:
                self.con.executemany(f"INSERT INTO fmea ({', '.join(_FMEA_COLUMNS)}, sheet) VALUES "
                                     f"({', '.join('?' * (len(_FMEA_COLUMNS) + 1))})",
                                     [[getattr(r, c) for c in _FMEA_COLUMNS] + [asset.id] for r in sheet.rows])
            asset = self.put(asset)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.link((asset.id, row.id, "contains") for row in sheet.rows)
        return asset

    # ------------------------------------------------------------------ scanning
    def scan(self, path: str | Path) -> list[Asset]:
        """Register what ``path`` holds: a run directory (its tags and historian), a model (``.pt``, its card
        beside it) or a knowledge file (``.yaml``). Returns the assets written."""
        path = Path(path)
        if path.is_dir():
            if (path / RunFiles.LOTS).is_file() and (path / RunFiles.REPORT).is_file():
                return self.scan_supply(path)
            if not (path / RunFiles.HISTORIAN).is_file():
                raise ConfigError(path, [f"not a run directory: no {RunFiles.HISTORIAN}"])
            return self.scan_run(path)
        if not path.is_file():
            raise ConfigError(path, ["no such file or run directory"])
        if path.suffix == ".pt":
            asset = self.put(model_asset(path))
            self.link(model_edges(asset.id, _card(path)), run=asset.location)
            return [asset]
        if path.suffix in (".yaml", ".yml"):
            return [self.put(_file_asset("knowledge", path, "manual-entry", "what an engineer knows (P&ID, FMEA)"))]
        raise ConfigError(path, ["not a run directory, a model (.pt) or a knowledge file (.yaml)"])

    def scan_run(self, run_dir: Path) -> list[Asset]:
        """Register a run's tags (from its ``tags.csv``) and its historian, measuring both on the historian."""
        run = _name(run_dir)
        tagmap = load_tagmap(run_dir / RunFiles.TAGS) if (run_dir / RunFiles.TAGS).is_file() else None
        plant_s, clock = run_context(run_dir)
        with HistorianReader(run_dir / RunFiles.HISTORIAN) as reader:
            quality = element_quality(reader, span_of(reader, plant_s), clock=clock)
            genealogy = line_edges(reader.con, run)
        self.link(genealogy, run=run)
        self.link(design_edges(_json_list(run_dir / RunFiles.DESIGN), genealogy), run=run)
        failures = _returns(run_dir)
        self.link(failure_edges(failures), run=run)
        self.link(fmea_failure_edges(self.fmea_rows(), failures), run=run)  # repairs meet the FMEA
        by_tag: dict[str, list[ElementQuality]] = {}
        for q in quality:
            by_tag.setdefault(q.tag, []).append(q)
        written = []
        for tag, parts in by_tag.items():
            good, gaps, clock_share = pooled(parts)
            self.con.execute("INSERT OR REPLACE INTO measurements VALUES (?, ?, ?, ?, ?, ?)",
                             [f"tag:{tag}", run, sum(p.expected for p in parts), good, gaps, clock_share])
            written.append(self._tag_asset(tag, parts[0].unit, tagmap))
        tags = written
        weight = {a.id: sum(p.expected for p in by_tag[a.id[4:]]) for a in tags}
        total = sum(weight.values()) or 1
        good, gaps, clock_share = pooled(quality)
        kinds = [a.source_kind for a in tags]
        historian = Asset(
            id=f"historian:{run}", kind="historian", source_kind=max(set(kinds), key=kinds.count) if kinds
            else "device-direct", prior=sum(a.prior * weight[a.id] for a in tags) / total,
            credibility=sum(a.credibility * weight[a.id] for a in tags) / total, good_share=good, gap_share=gaps,
            clock_agreement=clock_share, location=_name(run_dir / RunFiles.HISTORIAN),
            description=f"{len(tags)} tags, {len(quality)} elements")
        record = run_record(run_dir)
        used = {kind: f"{kind}:{_name(Path(path))}" for kind, path in (record.get("rootcause") or {}).items()
                if kind in ("knowledge", "model") and path}
        self.link(run_edges(record, run, sorted(by_tag), used.get("knowledge"), used.get("model")), run=run)
        return [*written, self.put(historian)]

    def scan_supply(self, run_dir: Path) -> list[Asset]:
        """Register a supply run (``twin supply run``): its genealogy as lineage, from each design parameter and
        supplier through lots, inspections and units to field failures and repairs."""
        import json

        run = _name(run_dir)
        try:
            report = json.loads((run_dir / RunFiles.REPORT).read_text(encoding="utf-8"))
        except ValueError as err:
            raise ConfigError(run_dir / RunFiles.REPORT, [f"not JSON: {err}"]) from None
        if not isinstance(report, dict) or report.get("kind") != "supply":
            raise ConfigError(run_dir / RunFiles.REPORT, ["not a supply run's report (kind: supply)"])
        failures = _returns(run_dir)
        edges = self.link(supply_edges(run_dir, report, failures), run=run)
        edges += self.link(fmea_failure_edges(self.fmea_rows(), failures), run=run)  # repairs meet the FMEA
        prior = SOURCE_PRIOR["supplier-reported"]
        return [self.put(Asset(id=f"supply:{run}", kind="supply", source_kind="supplier-reported", prior=prior,
                               credibility=prior, location=run,
                               description=f"supply run: {edges} genealogy links (lots, units, field failures)"))]

    def _tag_asset(self, tag: str, unit: str, tagmap: TagMap | None) -> Asset:
        """A tag's asset, its credibility pooled over every run measured so far."""
        declared = tagmap[tag] if tagmap is not None and tag in tagmap else None
        kind, prior = source_of(declared.credibility if declared is not None else None)
        rows = self.con.execute("SELECT expected, good_share, gap_share, clock_agreement FROM measurements "
                                "WHERE asset_id = ?", [f"tag:{tag}"]).fetchall()
        parts = [ElementQuality(tag, tag, unit, 1, int(e), 0, 0, g, s, c) for e, g, s, c in rows]
        good, gaps, clock_share = pooled(parts)
        return self.put(Asset(
            id=f"tag:{tag}", kind="tag", source_kind=kind, prior=prior,
            credibility=credibility(prior, good, gaps, clock_share), good_share=good, gap_share=gaps,
            clock_agreement=clock_share, unit=declared.unit if declared is not None else unit,
            description=declared.description if declared is not None else ""))


def model_asset(path: Path) -> Asset:
    """A trained model: edge-computed; its credibility is the prior times the healthy share of the data it was
    trained on, when its card recorded the data-health gate."""
    asset = _file_asset("model", path, "edge-computed", "a trained root-cause model")
    card = _card(path)
    if not card:
        return asset
    gate = (card.get("data") or {}).get("health")
    share = float(gate["healthy_share"]) if isinstance(gate, dict) and "healthy_share" in gate else 1.0
    forced = " (gate forced)" if isinstance(gate, dict) and gate.get("forced") else ""
    return replace(asset, credibility=asset.prior * share, description=f"{card.get('version', 'model')}{forced}")


def _card(model: Path) -> dict[str, Any]:
    """The model card beside ``model`` (``rootcause.pt`` -> ``rootcause.json``), {} without one."""
    import json

    try:
        card = json.loads(model.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def _file_asset(kind: str, path: Path, source: str, description: str) -> Asset:
    """An asset that is one file, trusted as far as its source kind."""
    prior = SOURCE_PRIOR[source]
    return Asset(id=f"{kind}:{_name(path)}", kind=kind, source_kind=source, prior=prior, credibility=prior,
                 location=_name(path), description=description)


def _returns(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of a run's ``returns.parquet`` (its field failures); none when it has none."""
    path = run_dir / RunFiles.RETURNS
    if not path.is_file():
        return []
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def _json_list(path: Path) -> list[dict[str, Any]]:
    """A JSON list of objects (``design.json``); empty when the file is absent, a named error when it is not such a
    list."""
    import json

    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ConfigError(path, [f"not JSON: {err}"]) from None
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise ConfigError(path, ["not a list of objects"])
    return data


def _name(path: Path) -> str:
    """A path as the catalogue names it: relative to the working folder when inside it, with forward slashes."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return Path(os.path.normpath(resolved)).as_posix()
