"""Load YAML configuration files into pydantic models, with errors that name field and line.

Every file a person writes by hand (scenario, tag map, endpoint file) goes through
:func:`load_yaml_model`, so a broken file always fails the same way: a
:class:`ConfigError` whose message names the file, the dotted field path, the line
in the file and what is wrong with it.
"""

from __future__ import annotations

import difflib
import typing
from codecs import BOM_UTF8
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

ModelT = TypeVar("ModelT", bound=BaseModel)
Loc = tuple[int | str, ...]


class ConfigError(ValueError):
    """A configuration file is invalid; ``str(err)`` names file, field and line."""

    def __init__(self, path: str | Path, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__(f"{path}: " + ("\n  " if len(problems) > 1 else "") + "\n  ".join(problems))


class Conflict(ValueError):
    """A validator's problem with several places of a file at once (two tags on one register).

    ``places`` are (loc, label) pairs; :meth:`describe` names each label followed by its line where
    the file's loader knows it, e.g. ``tags a.b (line 7) and a.c (line 9) overlap in the holding table``.
    """

    def __init__(self, subject: str, places: Sequence[tuple[Loc, str]], what: str) -> None:
        self.subject, self.places, self.what = subject, list(places), what
        super().__init__(self.describe(lambda loc: None))

    def describe(self, line: Callable[[Loc], int | None]) -> str:
        """The message, each place followed by ``(line N)`` when ``line(loc)`` knows it."""
        named = []
        for loc, label in self.places:
            number = line(loc)
            named.append(label + (f" (line {number})" if number else ""))
        listed = " and ".join(named) if len(named) < 3 else ", ".join(named[:-1]) + " and " + named[-1]
        return f"{self.subject} {listed} {self.what}"


def check_file(path: str | Path) -> Path:
    """``path``, when it is a file; a missing file or a folder is a :class:`ConfigError`."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(path, ["is a folder, not a file"])
    if not path.is_file():
        raise ConfigError(path, ["file not found"])
    return path


def read_bytes(path: str | Path) -> bytes:
    """The bytes of a file; a missing file, a folder or an unreadable file is a :class:`ConfigError`."""
    path = check_file(path)
    try:
        return path.read_bytes()
    except OSError as err:
        raise ConfigError(path, [f"cannot read it: {err.strerror or err}"]) from None


def read_text(path: str | Path) -> str:
    """The text of a UTF-8 file (:func:`read_bytes`); bytes that are not UTF-8 are a :class:`ConfigError`
    naming the file, their line and byte offset."""
    data = read_bytes(path)
    start = len(BOM_UTF8) if data.startswith(BOM_UTF8) else 0  # a byte-order mark is not text
    try:
        return data[start:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = start + err.start
        line = data.count(b"\n", 0, offset) + 1
        raise ConfigError(path, [f"line {line}: not UTF-8 text: byte 0x{data[offset]:02x} at byte offset "
                                 f"{offset}; save the file as UTF-8"]) from None


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file keeping line information; syntax errors become :class:`ConfigError`."""
    text = read_text(path)
    try:
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as err:
        raise ConfigError(path, [yaml_error_message(err)]) from None
    except ReaderError as err:  # a character YAML does not allow (a control character)
        line = text.count("\n", 0, max(err.position, 0)) + 1
        code = err.character if isinstance(err.character, int) else ord(err.character)
        raise ConfigError(path, [f"line {line}: YAML syntax error: character #x{code:04x} is not allowed "
                                 "in YAML (a control character?)"]) from None
    except YAMLError as err:
        raise ConfigError(path, [f"YAML error: {' '.join(str(err).split())}"]) from None


def yaml_kind(path: str | Path) -> str | None:
    """The ``kind`` a YAML file declares at its top (``supply``, ``hall``), None when it declares none or cannot
    be read (its loader then names the problem)."""
    try:
        document: Any = read_yaml(path)
    except ValueError:
        return None
    return str(document["kind"]) if isinstance(document, dict) and "kind" in document else None


# contexts that begin where the mistake is (a key missing its colon, a quote or bracket never closed):
# the parser only notices later, so the line to show is the context's, not the problem's
_STARTS_AT_CONTEXT = ("while scanning a simple key", "while scanning a quoted scalar", "while parsing a flow")


def yaml_error_message(err: MarkedYAMLError) -> str:
    r"""``line N: YAML syntax error: ...`` with N the line the mistake is on.

    >>> from ruamel.yaml import YAML
    >>> try:
    ...     YAML(typ="rt").load("name: x\nplant coater\nseed: 1\n")
    ... except MarkedYAMLError as err:
    ...     print(yaml_error_message(err))
    line 2: YAML syntax error: could not find expected ':' (while scanning a simple key; noticed at line 3)
    """
    problem, context = err.problem_mark, err.context_mark
    if context is not None and str(err.context or "").startswith(_STARTS_AT_CONTEXT):
        noticed = f"; noticed at line {problem.line + 1}" if problem is not None else ""
        return f"line {context.line + 1}: YAML syntax error: {err.problem} ({err.context}{noticed})"
    line = f"line {problem.line + 1}: " if problem is not None else ""
    return f"{line}YAML syntax error: {err.problem}"


def resolve_path(relative: str | Path, base: Path | None) -> Path:
    """A path written in a config file, resolved from ``base`` (the file's folder); absolute paths,
    and any path when there is no ``base``, stay as they are."""
    path = Path(relative)
    return path if path.is_absolute() or base is None else (base / path).resolve()


def line_of(document: Any, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the deepest node of ``loc`` found in a round-trip YAML document."""
    node, line = document, None
    for key in loc:
        if isinstance(node, CommentedMap) and key in node:
            line = node.lc.key(key)[0] + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            line = node.lc.item(key)[0] + 1
            node = node[key]
        else:
            break
    return line


def describe_validation_error(err: ValidationError, document: Any, model: type[BaseModel] | None = None,
                              lines: Callable[[Loc], int | None] | None = None) -> list[str]:
    """One message per pydantic error: ``field a.b[2].c (line N): what is wrong``; an unknown key gets
    a "did you mean" from the fields ``model`` has at that place; a :class:`Conflict` names each of its
    places with its line. ``lines`` finds a field's line (default: in the round-trip YAML ``document``)."""
    line_for = lines or (lambda loc: line_of(document, loc))
    problems = []
    for item in err.errors():
        conflict = item.get("ctx", {}).get("error")
        if isinstance(conflict, Conflict):
            problems.append(conflict.describe(line_for))
            continue
        loc = tuple(part for part in item["loc"] if not _is_union_tag(part))
        field = _dotted(loc) or "(top level)"
        line = line_for(loc)
        where = f"field {field}" + (f" (line {line})" if line else "")
        message = item["msg"]
        if item["type"] == "extra_forbidden" and model is not None and loc and isinstance(loc[-1], str):
            known = fields_at(model, loc[:-1])
            close = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
            message = f"unknown key {loc[-1]!r}" + (f"; did you mean {close[0]!r}?" if close else
                                                     f"; known keys: {', '.join(known)}" if known else "")
        problems.append(f"{where}: {message}")
    return problems


def fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the model found by walking ``loc`` from ``model`` (empty when the walk leaves models).

    >>> from virtual_plc.endpoints import EndpointFile
    >>> tuple(fields_at(EndpointFile, ("plcs", 0))[:4])
    ('name', 'protocol', 'host', 'port')
    """
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):  # a list index: the list's items are the model already found
            continue
        if current is None or part not in current.model_fields:
            return []
        current = _model_in(current.model_fields[part].annotation)
    return list(current.model_fields) if current is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds: itself, or inside Optional, list or dict values."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in reversed(typing.get_args(annotation)):  # dict[str, M]: the value type is last
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def validate_document(model: type[ModelT], document: Any, path: str | Path,
                      lines: Callable[[Loc], int | None] | None = None) -> ModelT:
    """Validate an already-parsed document into ``model``; errors name each field's line, found in the
    round-trip YAML ``document`` or by ``lines`` (a CSV file's rows)."""
    if not isinstance(document, dict):
        raise ConfigError(path, ["expected a mapping at the top level"])
    try:
        return model.model_validate(_plain(document))
    except ValidationError as err:
        raise ConfigError(path, describe_validation_error(err, document, model, lines)) from None


def load_yaml_model(model: type[ModelT], path: str | Path) -> ModelT:
    """Read ``path`` and validate it into ``model``; any problem is a :class:`ConfigError`.

    A good file takes the fast path (the C-backed safe loader, no line bookkeeping: a
    machine-written template of thousands of signals loads in a fraction of the time); a file
    with any problem is read again keeping line information, so the error names field and line.
    """
    path = Path(path)
    if path.is_file():
        try:
            document = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
            if isinstance(document, dict):
                return model.model_validate(_plain(document))
        except (YAMLError, ValidationError, ValueError, RecursionError, OSError):
            pass  # the slow path below says what is wrong, and where (an alias inside itself: RecursionError)
    return validate_document(model, read_yaml(path), path)


def _plain(node: Any) -> Any:
    """Round-trip YAML containers to plain dicts and lists (pydantic validates those)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _is_union_tag(part: int | str) -> bool:
    """pydantic adds the tag of a discriminated union member to ``loc``; hide it."""
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
