"""Evaluation results in RCAEval's layout, so they sit beside its published tables.

RCAEval (Pham et al., github.com/phamquiluan/RCAEval; ``main.py``, ``eval.py``, ``rq2.py``) runs one method
on one dataset and writes, under its output folder:

* ``results/{service}_{fault}_{case}.json`` per case: ``{"0": [the ranked candidates, best first]}``
  (``json.dump(..., indent=2, sort_keys=True)``);
* ``report.xlsx``: one row per ``{service}_{fault}`` and one ``overall_{fault}`` per fault type, columns
  ``service-fault, top_1_service, top_3_service, top_5_service, avg@5_service, top_1_metric,
  top_3_metric, top_5_metric, avg@5_metric`` (``top_k`` is AC@k).

:func:`write_rcaeval` writes one such folder per method, ``DIR/<method>/``, for one evaluation, with
``report.csv`` beside ``report.xlsx`` (the same table), and ``DIR/table.csv``, the shape of the
paper tables: a row per method, AC@1 / AC@3 / Avg@5 per fault kind and overall.

How our cases map onto theirs: *service* is the true candidate, *fault* the fault kind, *case* the case's
number. RCAEval splits file names and ranked names at ``_``, so every ``_`` in a name becomes ``-``
(``blade_drift`` is ``blade-drift``); a ranked name then parses whole, and RCAEval's own service-level
scoring of these files gives exactly our candidate-level AC@k. Its *metric* level (a service and the
metric a fault type shows in: ``delay`` -> ``latency``) has no counterpart here, where a candidate is
already the finest answer (an asset's process fault, or one instrument): the ``_metric`` columns carry
the same candidate-level figures as the ``_service`` ones.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from rootcause.evaluate import Ranking
from rootcause.metrics import ac_at, avg_at

REPORT_COLUMNS = ("service-fault", "top_1_service", "top_3_service", "top_5_service", "avg@5_service",
                  "top_1_metric", "top_3_metric", "top_5_metric", "avg@5_metric")
TABLE_METRICS = (("AC@1", lambda r: ac_at(r, 1)), ("AC@3", lambda r: ac_at(r, 3)), ("Avg@5", lambda r: avg_at(r, 5)))


def rcaeval_name(name: str) -> str:
    """A name as RCAEval's file and rank parsing keeps it whole: ``_`` becomes ``-``."""
    return name.replace("_", "-")


def result_file(ranking: Ranking) -> str:
    """The case's file name, ``{service}_{fault}_{case}.json``."""
    return f"{rcaeval_name(ranking.label)}_{rcaeval_name(ranking.fault_kind)}_{ranking.case}.json"


def _row(name: str, ranks: Sequence[int]) -> dict[str, object]:
    """A report row: AC@1, AC@3, AC@5 and Avg@5, at both of RCAEval's levels (the same here)."""
    figures = [ac_at(ranks, 1), ac_at(ranks, 3), ac_at(ranks, 5), avg_at(ranks, 5)]
    return dict(zip(REPORT_COLUMNS, [name, *figures, *figures]))


def report_rows(rankings: Iterable[Ranking]) -> list[dict[str, object]]:
    """RCAEval's report: per ``{service}_{fault}`` (sorted), then ``overall_{fault}``, then ``overall``."""
    rankings = list(rankings)
    pairs: dict[tuple[str, str], list[int]] = defaultdict(list)
    kinds: dict[str, list[int]] = defaultdict(list)
    for r in rankings:
        pairs[(rcaeval_name(r.label), rcaeval_name(r.fault_kind))].append(r.rank)
        kinds[rcaeval_name(r.fault_kind)].append(r.rank)
    rows = [_row(f"{service}_{fault}", ranks) for (service, fault), ranks in sorted(pairs.items())]
    rows += [_row(f"overall_{fault}", ranks) for fault, ranks in sorted(kinds.items())]
    return rows + [_row("overall", [r.rank for r in rankings])]


def write_rcaeval(out_dir: Path, rankings: Sequence[Ranking]) -> list[Path]:
    """Write one evaluation's rankings in RCAEval's layout under ``out_dir``, replacing the result files a
    method's folder held; returns the method folders."""
    by_method: dict[str, list[Ranking]] = defaultdict(list)
    for r in rankings:
        by_method[r.method].append(r)
    folders = []
    for method, own in by_method.items():
        folder = out_dir / method
        results = folder / "results"
        results.mkdir(parents=True, exist_ok=True)
        for stale in results.glob("*.json"):  # RCAEval scores every file there: a re-run replaces the last one
            stale.unlink()
        for r in own:
            ranked = [rcaeval_name(name) for name in r.ranked]
            (results / result_file(r)).write_text(json.dumps({"0": ranked}, indent=2, sort_keys=True,
                                                             ensure_ascii=False))
        rows = report_rows(own)
        _write_csv(folder / "report.csv", REPORT_COLUMNS, rows)
        _write_xlsx(folder / "report.xlsx", REPORT_COLUMNS, rows)
        folders.append(folder)
    _write_csv(out_dir / "table.csv", *_paper_table(by_method))
    return folders


def _paper_table(by_method: dict[str, list[Ranking]]) -> tuple[list[str], list[dict[str, object]]]:
    """A row per method; AC@1, AC@3 and Avg@5 per fault kind, then overall (the published tables' shape)."""
    kinds = sorted({rcaeval_name(r.fault_kind) for own in by_method.values() for r in own})
    columns = ["method"] + [f"{k} {m}" for k in [*kinds, "overall"] for m, _ in TABLE_METRICS]
    rows = []
    for method, own in by_method.items():
        row: dict[str, object] = {"method": method}
        for kind in [*kinds, "overall"]:
            ranks = [r.rank for r in own if kind == "overall" or rcaeval_name(r.fault_kind) == kind]
            for metric, fn in TABLE_METRICS:
                row[f"{kind} {metric}"] = fn(ranks) if ranks else ""
        rows.append(row)
    return columns, rows


def _write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, object]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)


def _write_xlsx(path: Path, columns: Sequence[str], rows: Sequence[dict[str, object]]) -> None:
    """The report as RCAEval saves it (``DataFrame.to_excel(index=False)``: a header row, then the rows)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    sheet.append(list(columns))
    for row in rows:
        sheet.append([row[c] for c in columns])
    book.save(path)


def read_results(method_dir: Path) -> list[tuple[str, str, int, list[str]]]:
    """A method folder's result files read back: (service, fault, case, ranked names) per file, by case."""
    out = []
    for path in (method_dir / "results").glob("*.json"):
        service, fault, case = path.stem.split("_")
        out.append((service, fault, int(case), json.loads(path.read_text())["0"]))
    return sorted(out, key=lambda item: item[2])


def read_report(method_dir: Path) -> list[dict[str, str]]:
    """A method folder's ``report.csv`` read back, row by row."""
    with (method_dir / "report.csv").open(newline="") as f:
        return list(csv.DictReader(f))
