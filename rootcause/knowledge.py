"""Knowledge files: what an engineer knows about a plant, as candidate cause -> effect links.

A knowledge file is written by hand from a P&ID, a flow sheet or a PFMEA; it may be
incomplete or wrong, and the root-cause layer must cope. Format (YAML)::

    plant: coater
    source: where the links come from
    nodes:                      # names that are not tags, or tags of another kind
      - {name: coater.head, kind: equipment}
      - {name: coater.xray.wrinkles_per_m, kind: quality}
    links:
      - {cause: coater.coolant.flow, effect: "coater.{blade}.temperature", note: "..."}

Names are tag names, asset paths (a tag name without its last segment), or nodes declared
under ``nodes``. A ``{placeholder}`` stands for one dotted segment and is bound the same on
both sides, so one link covers every blade of a 4- or a 6-blade line; ``{blade:blade*}``
restricts the segment to a glob. A link that names
nothing the plant has is an error that names the link and its line.

:func:`perturb_links` drops and adds links on purpose, to measure robustness to imperfect
engineering knowledge.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from qtconfig import ConfigError, line_of, read_yaml, validate_document

NodeKind = Literal["equipment", "process_variable", "quality", "environment"]
RELATIONS = ("has_signal", "causes")  # the graph's edge relations (rootcause.graph, rootcause.tensors)
NODE_KINDS: tuple[NodeKind, ...] = ("equipment", "process_variable", "quality", "environment")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z0-9_*]+))?\}")


class KnowledgeNode(BaseModel):
    """A named node and its kind (equipment, process variable, quality characteristic, environment)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: NodeKind
    severity: int | None = Field(default=None, ge=1, le=10, description="for an effect a customer meets: its "
                                 "severity on the FMEA's 1-10 scale (alarms and diagnoses that threaten it rank by it)")


class KnowledgeLink(BaseModel):
    """A candidate cause -> effect link, as an engineer would draw it."""

    model_config = ConfigDict(extra="forbid")

    cause: str
    effect: str
    note: str = ""
    severity: int | None = Field(default=None, ge=1, le=10, description="the severity (1-10) of the effect "
                                 "through this link, e.g. from the FMEA line it comes from")


class KnowledgeFile(BaseModel):
    """A plant's knowledge file."""

    model_config = ConfigDict(extra="forbid")

    plant: str
    source: str = ""
    nodes: list[KnowledgeNode] = Field(default_factory=list)
    links: list[KnowledgeLink]


@dataclass(frozen=True)
class Knowledge:
    """A knowledge file resolved against a plant's names: concrete links, node kinds, and the severities of
    the effects it rates (a node's own, or the highest of the links into it)."""

    plant: str
    kinds: dict[str, NodeKind]
    links: tuple[tuple[str, str], ...]
    path: str = "<knowledge>"
    severities: dict[str, int] = field(default_factory=dict)


def load_knowledge(path: str | Path, names: Iterable[str]) -> Knowledge:
    """Read a knowledge file and resolve its links against ``names`` (tags and asset paths).

    Raises
    ------
    ConfigError
        For a malformed file, or a link whose cause or effect matches nothing the plant has
        (named with the link's index and line).
    """
    document = read_yaml(path)
    spec = validate_document(KnowledgeFile, document, path)
    return resolve_knowledge(spec, names, path=str(path), document=document)


def resolve_knowledge(
    spec: KnowledgeFile, names: Iterable[str], *, path: str = "<knowledge>", document: object = None
) -> Knowledge:
    """Expand placeholders and check every link against the plant's ``names`` and the file's nodes."""
    kinds: dict[str, NodeKind] = {node.name: node.kind for node in spec.nodes}
    known_set = set(names) | set(kinds)
    known = sorted(known_set)
    links: list[tuple[str, str]] = []
    problems: list[str] = []
    severities = {node.name: node.severity for node in spec.nodes if node.severity is not None}
    for i, link in enumerate(spec.links):
        expanded = expand_link(link.cause, link.effect, known, known_set)
        if link.severity is not None:
            for _, effect in expanded:
                severities[effect] = max(severities.get(effect, 0), link.severity)
        if not expanded:
            line = line_of(document, ("links", i)) if document is not None else None
            where = f"links[{i}]" + (f" (line {line})" if line else "")
            missing = [n for n in (link.cause, link.effect) if not _bindings(n, known, known_set)]
            what = " and ".join(repr(n) for n in missing) if missing else f"{link.cause!r} -> {link.effect!r}"
            problems.append(f"{where}: {what} names no tag, asset or declared node of the plant")
        links.extend(expanded)
    if problems:
        raise ConfigError(path, problems)
    return Knowledge(spec.plant, kinds, tuple(dict.fromkeys(links)), path, severities)


def expand_link(cause: str, effect: str, known: list[str], known_set: set[str] | None = None) -> list[tuple[str, str]]:
    """Concrete (cause, effect) pairs for a link whose names may hold ``{placeholders}`` (``known_set``: ``known``
    as a set, when the caller already has it: a plant of 50,000 tags has many links to expand).

    >>> expand_link("c.flow", "c.{b:blade*}.temp", ["c.flow", "c.blade1.temp", "c.blade2.temp", "c.hall.temp"])
    [('c.flow', 'c.blade1.temp'), ('c.flow', 'c.blade2.temp')]
    """
    known_set = set(known) if known_set is None else known_set
    out: list[tuple[str, str]] = []
    for first in _bindings(cause, known, known_set):
        for second in _bindings(_fill(effect, first), known, known_set):
            c, e = _fill(cause, first), _fill(_fill(effect, first), second)
            if c in known_set and e in known_set and c != e:
                out.append((c, e))
    return out


def perturb_links(
    links: tuple[tuple[str, str], ...], nodes: list[str], *, drop: float, add: float, seed: int
) -> tuple[tuple[str, str], ...]:
    """Drop a fraction ``drop`` of the links and add ``add`` x as many spurious ones, seeded.

    >>> links = (("a", "b"), ("b", "c"), ("c", "d"), ("a", "d"))
    >>> len(perturb_links(links, ["a", "b", "c", "d"], drop=0.5, add=0.0, seed=1))
    2
    """
    if not (0.0 <= drop <= 1.0 and add >= 0.0):
        raise ValueError(f"drop must be in [0, 1] and add >= 0, got drop={drop}, add={add}")
    rng = np.random.default_rng([seed, 0x6B6E])
    kept = [links[i] for i in sorted(rng.permutation(len(links))[: len(links) - int(round(drop * len(links)))])]
    existing = set(links)
    spurious: list[tuple[str, str]] = []
    want = int(round(add * len(links)))
    for _ in range(100 * want):
        if len(spurious) >= want or len(nodes) < 2:
            break
        a, b = rng.choice(len(nodes), size=2, replace=False)
        pair = (nodes[int(a)], nodes[int(b)])
        if pair not in existing:
            existing.add(pair)
            spurious.append(pair)
    return tuple(kept + spurious)


def _bindings(pattern: str, known: list[str], known_set: set[str]) -> list[dict[str, str]]:
    """Every assignment of ``pattern``'s placeholders that makes it a known name."""
    if not _PLACEHOLDER.search(pattern):
        return [{}] if pattern in known_set else []
    parts, last = [], 0
    for m in _PLACEHOLDER.finditer(pattern):
        segment = re.escape(m.group(2)).replace(r"\*", "[A-Za-z0-9_]*") if m.group(2) else "[A-Za-z0-9_]+"
        parts += [re.escape(pattern[last:m.start()]), f"(?P<{m.group(1)}>{segment})"]
        last = m.end()
    regex = re.compile("^" + "".join(parts) + re.escape(pattern[last:]) + "$")
    return [m.groupdict() for name in known if (m := regex.match(name))]


def _fill(pattern: str, binding: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: binding.get(m.group(1), m.group(0)), pattern)


__all__ = ["NODE_KINDS", "ConfigError", "Knowledge", "KnowledgeFile", "NodeKind", "expand_link",
           "load_knowledge", "perturb_links", "resolve_knowledge"]
