"""FMEA sheets: a design or process FMEA in AIAG-VDA columns, read from CSV or Excel, and a knowledge file drafted
from one.

**Reading a sheet** (:func:`read_fmea`). One row per failure chain (failure cause -> failure mode -> failure effect),
with the columns of the AIAG-VDA form; header names are matched case-insensitively, ignoring numbering ("2."),
parenthesised abbreviations ("Severity (S)") and what follows the name ("Severity (S) of FE"):

=====================  =========================================================================  ==========
field                  header names read (the first matching column wins; ``S``, ``O``, ``D``       required
                       and ``AP`` are the form's own abbreviations)
=====================  =========================================================================  ==========
step                   Process Step, Item, Process Item, System Element, Focus Element              yes
function               Function (of the Process Step / of the Item), Process Function               no
failure_mode           Failure Mode, Potential Failure Mode, FM                                     yes
effect                 Effect, Failure Effect(s), Potential Effect(s) of Failure, FE                yes
severity (1-10)        Severity, S, Sev                                                             yes
cause                  Cause, Failure Cause, Potential Cause(s) of Failure, FC                      yes
occurrence (1-10)      Occurrence, O, Occ                                                           yes
prevention             Prevention Controls, Current Prevention Controls, PC                         no
detection_controls     Detection Controls, Current Detection Controls, DC                           no
detection (1-10)       Detection, D, Det                                                            yes
action_priority        Action Priority, AP, PFMEA AP, DFMEA AP (H/M/L or High/Medium/Low)           no
=====================  =========================================================================  ==========

The header is the first of the sheet's first 20 rows that names at least three of these columns (a title block
above it is skipped); an Excel workbook is read from its sheet named FMEA, PFMEA or DFMEA, else its first sheet,
and a merged cell counts in every row it spans (what a person sees). A rating must be a whole number from 1 to 10;
step, failure mode, effect and cause must not be empty. Every bad cell of every row is collected, each named by
file, row (the row number a spreadsheet shows, the first line of the file being row 1) and column, in the style of
the tag imports (:class:`virtual_plc.tagimport.RowNote`), and a sheet with any bad row is refused whole
(:class:`FmeaError`): nothing is half-imported. Each row gets the stable id ``fmea:<file stem>#<row number>``.

**Action priority** (:func:`action_priority`): an empty AP cell (or no AP column) is computed from S, O and D
with the action priority table of the AIAG & VDA FMEA Handbook, 1st edition (2019), "Action Priority (AP) for
DFMEA and PFMEA" (one table for both; section 2.5 / 3.5, Risk Analysis). An AP the sheet gives is kept even where
the table says otherwise (the team may have decided it); the difference is recorded in
:attr:`FmeaSheet.warnings`.

**Why no FMEA package**: PyPI has none that fits. ``fmea`` (0.0.1, 2021) is an encryption algorithm,
``forgepilot-cli`` a client of a paid web API, ``qintai-analysis-engine`` an MCP server; none reads an AIAG-VDA
sheet or carries the AP table. So the sheet is read with :mod:`csv` and openpyxl (already used by the tag imports),
sharing the tag imports' text decoding and cell rendering.

**Drafting a knowledge file** (:func:`draft_knowledge`): each FMEA row becomes cause -> failure mode -> failure
effect links between plant names, through patterns the engineer gives as ``TEXT=NAME``: a cell whose text contains
every word of ``TEXT`` (case-insensitive) stands for ``NAME`` (a tag, an asset path such as
``motor.bearing_press``, a node; a ``*`` stands for any one name segment; several names are separated by
commas). Each link's note starts with the FMEA rows behind it, ``[fmea:fmea#5 S=9 AP=H]``
(:func:`fmea_refs` reads them back), so later code can rank by severity. What no pattern maps is listed in the
draft's header comment under ``todo``, never dropped.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from qtconfig import ConfigError, read_bytes
from virtual_plc.tagimport import RowNote, cell_text, decode_export  # shared with the tag imports

RATING = (1, 10)
PRIORITIES = ("H", "M", "L")  # highest first
HEADER_SEARCH_ROWS = 20  # the header is looked for among this many rows at the top of the sheet
HEADER_COLUMNS = 3  # a row naming this many FMEA columns is the header (a title line naming one is not)
SHEET_NAMES = ("fmea", "pfmea", "dfmea")  # an Excel workbook's sheet read first, by name (case-insensitive)

# field -> header names, preferred first (normalised as _norm does): a header matches a name when it is that name
# or starts with it followed by more words ("severity of fe"); the longest matching name decides the field, and of
# two columns of one field the one with the preferred name is read ("process step" before "process item")
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "step": ("process step", "item", "process item", "system element", "focus element", "step"),
    "function": ("function of process step", "function of item", "process step function", "process function",
                 "function"),
    "failure_mode": ("failure mode", "potential failure mode", "failure modes", "fm"),
    "effect": ("failure effect", "failure effects", "potential effect of failure", "potential effects of failure",
               "potential effect", "effect", "effects", "fe"),
    "severity": ("severity", "s", "sev"),
    "cause": ("failure cause", "failure causes", "potential cause of failure", "potential causes of failure",
              "potential cause", "cause", "causes", "fc"),
    "occurrence": ("occurrence", "o", "occ"),
    "prevention": ("current prevention controls", "prevention controls", "prevention control", "prevention", "pc"),
    "detection_controls": ("current detection controls", "detection controls", "detection control", "dc"),
    "detection": ("detection", "d", "det"),
    "action_priority": ("action priority", "ap", "pfmea ap", "dfmea ap", "pfmea action priority",
                        "dfmea action priority"),
}
SHORT_NAME = 3  # a header name shorter than this ("S", "AP", "FM") must be the whole header, not its first word
# how a missing required column is named in a message: its usual name, then the other names it often has
_TITLES = {"step": ("Process Step", "Item"), "failure_mode": ("Failure Mode",), "effect": ("Effect", "Failure Effect"),
           "severity": ("Severity", "S"), "cause": ("Cause", "Failure Cause"), "occurrence": ("Occurrence", "O"),
           "detection": ("Detection", "D")}
REQUIRED = ("step", "failure_mode", "effect", "severity", "cause", "occurrence", "detection")
_TEXTS = ("step", "function", "failure_mode", "effect", "cause", "prevention", "detection_controls")
_RATINGS = ("severity", "occurrence", "detection")
_PRIORITY_WORDS = {"h": "H", "high": "H", "m": "M", "medium": "M", "l": "L", "low": "L"}


# --------------------------------------------------------------------------- the action priority table


# AIAG & VDA FMEA Handbook (2019), "Action Priority (AP) for DFMEA and PFMEA": for each severity band (rows of the
# table) and occurrence band, the priority for the detection bands 7-10, 5-6, 2-4 and 1, left to right as printed.
_S_BANDS = ((9, 10), (7, 8), (4, 6), (2, 3), (1, 1))
_O_BANDS = ((8, 10), (6, 7), (4, 5), (2, 3), (1, 1))
_D_BANDS = ((7, 10), (5, 6), (2, 4), (1, 1))
_AP_TABLE = (
    # O:  8-10    6-7     4-5     2-3     1
    ("HHHH", "HHHH", "HHHM", "HMLL", "LLLL"),  # S 9-10: product or plant safety, regulations
    ("HHHH", "HHHM", "HMMM", "MMLL", "LLLL"),  # S 7-8:  loss or degradation of a primary function
    ("HHMM", "MMML", "MLLL", "LLLL", "LLLL"),  # S 4-6:  loss or degradation of a secondary function
    ("MMLL", "LLLL", "LLLL", "LLLL", "LLLL"),  # S 2-3:  appearance, sound, haptics
    ("LLLL", "LLLL", "LLLL", "LLLL", "LLLL"),  # S 1:    no discernible effect
)


def _band(value: int, bands: tuple[tuple[int, int], ...]) -> int:
    """The index of the band holding ``value``."""
    return next(i for i, (low, high) in enumerate(bands) if low <= value <= high)


def action_priority(severity: int, occurrence: int, detection: int) -> str:
    """``H``, ``M`` or ``L``: the AIAG-VDA 2019 action priority of a failure chain rated S, O and D (each 1-10).

    >>> action_priority(10, 4, 2), action_priority(9, 4, 1), action_priority(10, 1, 10), action_priority(5, 8, 5)
    ('H', 'M', 'L', 'H')
    """
    for name, value in (("severity", severity), ("occurrence", occurrence), ("detection", detection)):
        if isinstance(value, bool) or not (isinstance(value, int) and RATING[0] <= value <= RATING[1]):
            raise ValueError(f"{name} must be a whole number from 1 to 10, not {value!r}")
    return _AP_TABLE[_band(severity, _S_BANDS)][_band(occurrence, _O_BANDS)][_band(detection, _D_BANDS)]


# --------------------------------------------------------------------------- the sheet


@dataclass(frozen=True)
class FmeaRow:
    """One failure chain of a sheet (module docstring); ``id`` is ``fmea:<file stem>#<row number>``."""

    id: str
    step: str
    function: str
    failure_mode: str
    effect: str
    severity: int
    cause: str
    occurrence: int
    prevention: str
    detection_controls: str
    detection: int
    action_priority: str

    @property
    def row(self) -> int:
        """The row number the spreadsheet shows."""
        return int(self.id.rsplit("#", 1)[1])


@dataclass
class FmeaSheet:
    """An FMEA sheet read whole: its rows, how many priorities came from the table, and the rows whose given
    priority differs from the table's (kept as given)."""

    path: Path
    rows: list[FmeaRow]
    warnings: list[RowNote] = field(default_factory=list)
    computed: int = 0  # rows whose action priority was computed (no AP in the sheet)

    def by_priority(self) -> dict[str, int]:
        """How many rows have each action priority, H first."""
        return {p: sum(r.action_priority == p for r in self.rows) for p in PRIORITIES}


class FmeaError(ValueError):
    """A sheet refused whole: ``problems`` names every bad cell by file, row and column, one a line."""

    def __init__(self, problems: list[RowNote]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def read_fmea(path: str | Path) -> FmeaSheet:
    """Read an FMEA sheet (``.csv``, ``.xlsx`` or ``.xlsm``) whole, or refuse it.

    Raises
    ------
    FmeaError
        Naming every missing required column and every bad cell (row and column); nothing is returned.
    ConfigError
        For a file that cannot be read at all (missing, not a workbook, no header row).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        grid = _csv_grid(path)
    elif suffix in (".xlsx", ".xlsm"):
        grid = _xlsx_grid(path)
    else:
        raise ConfigError(path, [f"not an FMEA sheet: {suffix or 'no suffix'}; give a .csv or an .xlsx file"])
    header_row, columns = _header(path, grid)
    header = grid[header_row - 1]
    missing = [f for f in REQUIRED if f not in columns]
    if missing:
        raise FmeaError([RowNote(str(path), header_row, _TITLES[f][0], "no such column in the header; name one "
                                 + " or ".join(repr(t) for t in _TITLES[f])) for f in missing])
    rows, problems, warnings, computed = [], [], [], 0
    for number, cells in enumerate(grid[header_row:], start=header_row + 1):
        if not any(cell.strip() for cell in cells):
            continue
        row, row_problems, warning = _row(path, number, cells, header, columns)
        problems += row_problems
        if row is not None:
            rows.append(row)
            if "action_priority" not in columns or not _cell(cells, columns["action_priority"]):
                computed += 1
        if warning is not None:
            warnings.append(warning)
    if problems:
        raise FmeaError(problems)
    return FmeaSheet(path, rows, warnings, computed)


def _cell(cells: list[str], column: int) -> str:
    """The cell of ``column`` stripped; empty beyond the row's end."""
    return cells[column].strip() if column < len(cells) else ""


def _row(path: Path, number: int, cells: list[str], header: list[str],
         columns: dict[str, int]) -> tuple[FmeaRow | None, list[RowNote], RowNote | None]:
    """One data row: the row, or the problems of each of its bad cells; and a warning on a differing AP."""
    def note(name: str, message: str) -> RowNote:
        return RowNote(str(path), number, header[columns[name]].strip(), message)

    values: dict[str, Any] = {name: _cell(cells, columns[name]) if name in columns else "" for name in _TEXTS}
    problems = {name: "empty; every row needs one" for name in REQUIRED if name in _TEXTS and not values[name]}
    for name in _RATINGS:
        values[name], problem = _rating(_cell(cells, columns[name]))
        if problem:
            problems[name] = problem
    given = _cell(cells, columns["action_priority"]) if "action_priority" in columns else ""
    priority = _PRIORITY_WORDS.get(given.lower()) if given else None
    if given and priority is None:
        problems["action_priority"] = f"{given!r} is not H, M or L (High, Medium, Low)"
    if problems:  # left to right, as the row reads
        return None, [note(name, problems[name]) for name in sorted(problems, key=columns.__getitem__)], None
    table = action_priority(values["severity"], values["occurrence"], values["detection"])
    warning = None
    if priority is not None and priority != table:
        warning = note("action_priority", f"the sheet gives {priority}, the AIAG-VDA table {table} for "
                                          f"S={values['severity']} O={values['occurrence']} "
                                          f"D={values['detection']}; kept {priority}")
    row = FmeaRow(id=f"fmea:{path.stem}#{number}", action_priority=priority or table, **values)
    return row, [], warning


def _rating(text: str) -> tuple[int, str]:
    """A rating cell as (value, "") or (0, what is wrong with it)."""
    if not text:
        return 0, "empty; a rating from 1 to 10 is needed"
    if not re.fullmatch(r"[+-]?\d+", text):
        return 0, f"{text!r} is not a whole number from 1 to 10"
    value = int(text)
    if not RATING[0] <= value <= RATING[1]:
        return 0, f"{value} is not between 1 and 10"
    return value, ""


# --------------------------------------------------------------------------- the header


def _norm(text: str) -> str:
    """A header cell as compared: lower case, without numbering, parentheses, punctuation and "the".

    >>> _norm("2. Severity (S) of FE"), _norm("Potential Effect(s) of Failure")
    ('severity of fe', 'potential effect of failure')
    """
    text = re.sub(r"\([^)]*\)", " ", text.lower())
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    while words and words[0].isdigit():
        words.pop(0)
    return " ".join(w for w in words if w != "the")


def _field_of(cell: str) -> tuple[str, int] | None:
    """(field, rank of the name that matched) of a header cell, the longest matching name deciding; None if none."""
    norm = _norm(cell)
    matches = [(len(name), field_name, rank) for field_name, names in _SYNONYMS.items()
               for rank, name in enumerate(names)
               if norm == name or (len(name) >= SHORT_NAME and norm.startswith(name + " "))]
    if not matches:
        return None
    _, field_name, rank = max(matches)
    return field_name, rank


def _columns(header: list[str]) -> dict[str, int]:
    """field -> column index; where several columns name one field, the most specific name, then the leftmost
    (the risk analysis's S, O, D and AP come before the optimisation step's re-rating)."""
    best: dict[str, tuple[int, int]] = {}
    for column, cell in enumerate(header):
        found = _field_of(cell)
        if found is not None and (found[0] not in best or (found[1], column) < best[found[0]]):
            best[found[0]] = (found[1], column)
    return {name: column for name, (_, column) in best.items()}


def _header(path: Path, grid: list[list[str]]) -> tuple[int, dict[str, int]]:
    """(row number, field -> column) of the header: the first row naming three FMEA columns."""
    for number, cells in enumerate(grid[:HEADER_SEARCH_ROWS], start=1):
        columns = _columns(cells)
        if len(columns) >= HEADER_COLUMNS:
            return number, columns
    raise ConfigError(path, [f"no header row: none of the first {HEADER_SEARCH_ROWS} rows names three FMEA columns "
                             "(Process Step, Failure Mode, Effect, Severity, Cause, Occurrence, Detection, ...)"])


# --------------------------------------------------------------------------- the files


def _csv_grid(path: Path) -> list[list[str]]:
    """The rows of a CSV file as cells, one list per record (a record is what a spreadsheet shows as one row, even
    when a quoted cell spans lines); the delimiter (``,`` ``;`` or tab) is the one whose header names most
    columns."""
    text = decode_export(path)
    grids = []
    for delimiter in (",", ";", "\t"):
        try:
            grid = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        except csv.Error as err:
            raise ConfigError(path, [f"not readable as CSV: {err}"]) from None
        score = max((len(_columns(cells)) for cells in grid[:HEADER_SEARCH_ROWS]), default=0)
        grids.append((score, -len(grids), grid))
    return max(grids)[2]


def _xlsx_grid(path: Path) -> list[list[str]]:
    """The cells of a workbook's FMEA sheet (by name, else the first) as text, merged cells repeated in every cell
    they span."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(io.BytesIO(read_bytes(path)), data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as err:
        raise ConfigError(path, [f"not an Excel workbook (.xlsx): {err}"]) from None
    try:
        named = [name for name in book.sheetnames if name.strip().lower() in SHEET_NAMES]
        sheet = book[named[0]] if named else book.worksheets[0]
        grid = [[cell_text(v) for v in values] for values in sheet.iter_rows(values_only=True)]
        for merged in sheet.merged_cells.ranges:
            value = grid[merged.min_row - 1][merged.min_col - 1]
            for r in range(merged.min_row - 1, merged.max_row):
                for c in range(merged.min_col - 1, merged.max_col):
                    grid[r][c] = value
        return grid
    finally:
        book.close()


# --------------------------------------------------------------------------- the knowledge draft


class FmeaRef(NamedTuple):
    """An FMEA row behind a knowledge link, as its note carries it."""

    row_id: str
    severity: int
    action_priority: str


_REF = re.compile(r"\[(fmea:[^\s\]]+) S=(\d+) AP=([HML])\]")
_NAME = re.compile(r"^[A-Za-z0-9_*]+(\.[A-Za-z0-9_*]+)*$")


def fmea_refs(note: str) -> list[FmeaRef]:
    """The FMEA rows a drafted link's note names, most severe first.

    >>> fmea_refs("[fmea:fmea#5 S=9 AP=H] [fmea:fmea#3 S=7 AP=L] clearance below class -> preload")
    [FmeaRef(row_id='fmea:fmea#5', severity=9, action_priority='H'), FmeaRef(row_id='fmea:fmea#3', severity=7, \
action_priority='L')]
    """
    return [FmeaRef(m.group(1), int(m.group(2)), m.group(3)) for m in _REF.finditer(note)]


def parse_mapping(text: str) -> tuple[str, str]:
    """``"bearing clearance=motor.bearing_press.*"`` -> ``("bearing clearance", "motor.bearing_press.*")``: the
    words a cell must contain, the name(s) it stands for; ``ValueError`` saying what is wrong otherwise."""
    words, sep, names = text.rpartition("=")
    if not sep or not words.strip() or not names.strip():
        raise ValueError(f"--map {text!r}: give TEXT=NAME, e.g. \"bearing clearance=motor.bearing_press\"")
    for name in names.split(","):
        if not _NAME.match(name.strip()):
            raise ValueError(f"--map {text!r}: {name.strip()!r} is not a tag name or asset path (dotted words, "
                             "'*' for any one segment)")
    return words.strip(), names.strip()


def _knowledge_names(names: str, tag: str) -> list[str]:
    """The knowledge-file names of a pattern's comma-separated names. A segment with ``*`` becomes a placeholder
    named after the pattern (``motor.press.*`` -> ``motor.press.{m1_1}``, ``blade*`` -> ``{m1_2:blade*}``), so it
    stands for any one segment and is bound apart from the other side of a link."""
    holes = 0

    def segment(text: str) -> str:
        nonlocal holes
        if "*" not in text:
            return text
        holes += 1
        return f"{{{tag}_{holes}}}" if text == "*" else f"{{{tag}_{holes}:{text}}}"

    return [".".join(segment(s) for s in name.strip().split(".")) for name in names.split(",")]


@dataclass
class _Link:
    """A drafted link and the FMEA rows behind it."""

    rows: list[FmeaRow]
    text: str


def draft_knowledge(sheet: FmeaSheet, patterns: Mapping[str, str], plant: str | None = None) -> dict[str, Any]:
    """A knowledge file (:class:`rootcause.knowledge.KnowledgeFile`) drafted from ``sheet``: cause -> failure mode
    -> effect links between the names ``patterns`` (words a cell contains -> plant name(s), see
    :func:`parse_mapping`) give each cell.

    A row whose failure mode no pattern maps links its cause straight to its effect. Links two rows share are
    drafted once, the note naming both. Returns a ruamel ``CommentedMap`` (a dict: it validates as a
    ``KnowledgeFile``) whose header comment says where it comes from and lists, under ``todo``, every cause,
    failure mode and effect no pattern mapped (most severe first) and every pattern that mapped nothing;
    :func:`knowledge_yaml` writes it with that comment. ``plant`` defaults to the first word of the first pattern's
    name.
    """
    compiled = [(key, key.lower().split(), _knowledge_names(names, f"m{i + 1}"))
                for i, (key, names) in enumerate(patterns.items())]
    used: set[str] = set()

    def names_of(text: str) -> list[str]:
        found = []
        for key, words, names in compiled:
            if all(w in text.lower() for w in words):
                used.add(key)
                found += [n for n in names if n not in found]
        return found

    links: dict[tuple[str, str], _Link] = {}
    todo: list[tuple[FmeaRow, str]] = []
    for row in sheet.rows:
        causes, modes, effects = names_of(row.cause), names_of(row.failure_mode), names_of(row.effect)
        for role, text, names in (("cause", row.cause, causes), ("failure mode", row.failure_mode, modes),
                                  ("effect", row.effect, effects)):
            if not names:
                todo.append((row, f"{role} {text!r} matches no --map pattern"))
        if modes:
            pairs = [(c, m, f"{row.cause} -> {row.failure_mode}") for c in causes for m in modes]
            pairs += [(m, e, f"{row.failure_mode} -> {row.effect}") for m in modes for e in effects]
        else:
            pairs = [(c, e, f"{row.cause} -> {row.effect} (failure mode {row.failure_mode!r} not mapped)")
                     for c in causes for e in effects]
        pairs = [p for p in pairs if p[0] != p[1]]
        if not pairs and (causes or modes or effects):
            todo.append((row, "no link: fewer than two of cause, failure mode and effect map to different names"))
        for cause, effect, text in pairs:
            link = links.setdefault((cause, effect), _Link([], text))
            link.rows.append(row)
    draft = CommentedMap()
    first_word = next(iter(patterns.values()), "").split(".")[0]
    draft["plant"] = plant or (first_word if first_word and "*" not in first_word else sheet.path.stem)
    draft["source"] = (f"FMEA sheet {sheet.path.as_posix()} ({len(sheet.rows)} rows), drafted by twin knowledge "
                       "from-fmea: check every link")
    draft["nodes"] = CommentedSeq()
    draft["links"] = CommentedSeq()
    for (cause, effect), link in links.items():
        refs = sorted(link.rows, key=lambda r: (-r.severity, r.row))
        note = " ".join(f"[{r.id} S={r.severity} AP={r.action_priority}]" for r in refs) + f" {link.text}"
        item = CommentedMap(cause=cause, effect=effect, note=note, severity=refs[0].severity)  # ranks alarms
        item.fa.set_flow_style()
        draft["links"].append(item)
    draft.yaml_set_start_comment(_header_comment(sheet, todo, [k for k, _, _ in compiled if k not in used]))
    return draft


def _header_comment(sheet: FmeaSheet, todo: list[tuple[FmeaRow, str]], unused: list[str]) -> str:
    """The draft's header comment: where it comes from, how to read a note, and the todo list."""
    lines = [f"Knowledge drafted from the FMEA sheet {sheet.path.as_posix()} by `twin knowledge from-fmea`.",
             "A draft: check every link before the root-cause layer relies on it. Names that are no tag or asset",
             "path of the plant (a supplier, a characteristic the line does not measure) need an entry under nodes.",
             "Each note starts with the FMEA rows behind its link: [row id S=severity AP=action priority].",
             "todo: what no --map pattern mapped (map it, or leave it out on purpose), most severe first:"]
    ordered = sorted(todo, key=lambda item: (-item[0].severity, item[0].row))
    lines += [f"  - {row.id} (S={row.severity} AP={row.action_priority}): {what}" for row, what in ordered]
    lines += [f"  - --map {key!r} matched no cell of the sheet" for key in unused]
    if not ordered and not unused:
        lines.append("  nothing: every cause, failure mode and effect was mapped")
    return "\n".join(lines)


def knowledge_yaml(draft: Mapping[str, Any]) -> str:
    """The draft as the text of a knowledge file, header comment and all, links one a line."""
    yaml = YAML()
    yaml.width = 4096  # a note stays on its link's line
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(draft, out)
    return out.getvalue()


__all__ = ["FmeaError", "FmeaRef", "FmeaRow", "FmeaSheet", "REQUIRED", "action_priority", "draft_knowledge",
           "fmea_refs", "knowledge_yaml", "parse_mapping", "read_fmea"]
