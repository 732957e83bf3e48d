"""A run's title and note: saved beside it whole, refused by field when not allowed, listed by title."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.contracts import RunFiles
from twin.harness.runview.notes import NOTE_MAX, TITLE_MAX, load_notes, run_label, save_notes


@settings(max_examples=30, deadline=None)
@given(title=st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=TITLE_MAX),
       note=st.text(st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_what_is_saved_is_what_is_read(tmp_path_factory, title: str, note: str) -> None:
    run = tmp_path_factory.mktemp("run")
    save_notes(run, title, note)
    notes = load_notes(run)
    assert (notes.title, notes.note) == (title.strip(), note) and notes.saved_utc
    assert run_label(run) == (f"{title.strip()} ({run})" if title.strip() else str(run))


@pytest.mark.parametrize(("title", "note", "field"), [
    ("two\nlines", "", "title"),
    ("x" * (TITLE_MAX + 1), "", "title"),
    ("ok", "n" * (NOTE_MAX + 1), "note"),
])
def test_a_title_or_note_not_allowed_is_refused_by_field_and_nothing_is_written(tmp_path: Path, title: str,
                                                                                 note: str, field: str) -> None:
    save_notes(tmp_path, "before", "kept")
    with pytest.raises(ValueError, match=f"^{field}: "):
        save_notes(tmp_path, title, note)
    assert (load_notes(tmp_path).title, load_notes(tmp_path).note) == ("before", "kept")


def test_a_run_without_notes_or_with_damaged_ones_is_listed_by_its_folder(tmp_path: Path) -> None:
    assert run_label(tmp_path) == str(tmp_path)
    (tmp_path / RunFiles.NOTES).write_text("{not json")
    assert load_notes(tmp_path).title == "" and run_label(tmp_path) == str(tmp_path)
