"""A run's own name and notes: what a person calls it and what they noticed, kept beside it in ``notes.json``.

A run folder is named when it is made (``coater_blade_drift-auto-seed7-…``); a person renames a run by giving it
a **title** and annotates it with a **note**, without moving the folder (every path to it stays good). The app's
*Open a run* lists runs by title and edits both; :func:`run_label` is how a run is called wherever it is listed.

>>> RunNotes(title="Blade 3 drift, auto", note="second try").label("runs/x")
'Blade 3 drift, auto (runs/x)'
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator

from twin.contracts import RunFiles

TITLE_MAX = 120
NOTE_MAX = 5000


class RunNotes(BaseModel):
    """A run's title (one line) and note (free text), and when they were last saved (UTC)."""

    title: str = Field(default="", max_length=TITLE_MAX, description="what a person calls the run")
    note: str = Field(default="", max_length=NOTE_MAX, description="what a person noticed about it")
    saved_utc: str = Field(default="", description="when the title or note was last saved (ISO 8601, UTC)")

    @field_validator("title")
    @classmethod
    def _one_line(cls, title: str) -> str:
        if "\n" in title or "\r" in title:
            raise ValueError("a title is one line")
        return title.strip()

    def label(self, run_dir: str | Path) -> str:
        """The title with the folder in brackets, or the folder alone when the run has no title."""
        return f"{self.title} ({run_dir})" if self.title else str(run_dir)


def load_notes(run_dir: str | Path) -> RunNotes:
    """The run's notes (empty when it has none; a damaged ``notes.json`` reads as none, so the run still opens)."""
    path = Path(run_dir) / RunFiles.NOTES
    try:
        return RunNotes.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return RunNotes()


def save_notes(run_dir: str | Path, title: str, note: str) -> RunNotes:
    """Give the run ``title`` and ``note`` (``ValueError`` naming the field when either is not allowed), written
    whole or not at all."""
    try:
        notes = RunNotes(title=title, note=note, saved_utc=datetime.now(UTC).isoformat(timespec="seconds"))
    except ValidationError as err:
        problem = err.errors()[0]
        raise ValueError(f"{problem['loc'][0]}: {problem['msg']}") from None
    path = Path(run_dir) / RunFiles.NOTES
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(notes.model_dump(), indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return notes


def run_label(run_dir: str | Path) -> str:
    """How a run is listed: its title (and folder), or its folder."""
    return load_notes(run_dir).label(run_dir)
