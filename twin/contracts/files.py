"""The files of a run directory, by name: defined once, used by the runner, the edge and the views."""

from __future__ import annotations


class RunFiles:
    """The files of a run directory, by name (what ``report.json``'s ``outputs`` points at)."""

    HISTORIAN = "historian.duckdb"
    FRAMES = "frames.parquet"
    REPORT = "report.json"
    ENDPOINTS = "endpoints.yaml"
    TAGS = "tags.csv"
    LEDGER = "ledger.jsonl"
    BRIDGE_JOURNAL = "bridge_journal.jsonl"
    EDGE_REPORT = "edge.json"
    HTML = "report.html"
    PARTS = "parts.parquet"  # truth side: every part a line made, with its lots and hidden attributes
    RETURNS = "returns.parquet"  # field failures as service records them: serial, part, mode, when (no truth)
    LOTS = "lots.parquet"  # a supply run's lots: genealogy and outcome, one row each
    NOTES = "notes.json"  # what a person calls the run and noticed about it (the app's Open a run)
    DESIGN = "design.json"  # the design parameters (drawing tolerances) of the lots a line's parts are built from
