"""A knowledge file drafted from a line template's declared structure (``twin line knowledge``).

A template already says what drives what: every signal's inputs, every condition's asset, the
servo loops, the stations' reject rates. Read as an engineer's knowledge file
(:mod:`rootcause.knowledge`'s format), that structure is complete and exact, which a
hand-written file never is; it is what the lines of a family of lines
(:mod:`plant_models.line.family`) carry, so a root-cause model can learn across lines, and a
first draft for a new line that its engineer then edits (deletes what they would not know,
adds what the template does not model).

What the edge can name is kept: tags (observed nodes) and assets. A hidden signal is walked
through, so ``a -> hidden -> b`` becomes ``a -> b``; a hidden condition becomes its asset (the
equipment whose wear or drift it is), the node a diagnosis names for a process fault.
"""

from __future__ import annotations

import io
from typing import Any

import networkx as nx
from ruamel.yaml import YAML

from plant_models.line.compile import CompiledLine


def _visible_effects(graph: nx.DiGraph, start: str, observed: set[str]) -> list[str]:
    """The observed nodes reached from ``start`` through hidden nodes only (not past an observed one)."""
    reached: list[str] = []
    seen = {start}
    frontier = list(graph.successors(start))
    while frontier:
        node = frontier.pop()
        if node in seen:
            continue
        seen.add(node)
        if node in observed:
            reached.append(node)
        else:
            frontier.extend(graph.successors(node))
    return sorted(reached)


def template_knowledge(compiled: CompiledLine) -> dict[str, Any]:
    """The knowledge document (``plant``, ``source``, ``nodes``, ``links``) of a compiled line's declared
    structure: tag -> tag links through hidden signals, asset -> tag links for every condition, quality and
    environment tags declared with their kind."""
    graph = compiled.graph
    nodes = compiled.nodes
    observed = {name for name in graph if nodes[name].observed}
    links: dict[tuple[str, str], None] = {}
    for name in graph:
        role = nodes[name].role
        if name in observed:
            cause = name
        elif role == "condition":
            cause = nodes[name].asset
        else:
            continue  # hidden signals and lot properties are walked through
        for effect in _visible_effects(graph, name, observed):
            if effect != cause:
                links[(cause, effect)] = None
    declared: dict[str, str] = {}
    for name in sorted(observed):
        node = nodes[name]
        if node.signal is not None and node.signal.kind == "quality":
            declared[name] = "quality"
        elif node.role == "environment":
            declared[node.asset] = "environment"
    for name in graph:
        if nodes[name].role == "condition":
            declared.setdefault(nodes[name].asset, "equipment")
    return {
        "plant": compiled.template.line,
        "source": f"drafted from the declared structure of line {compiled.template.line} (twin line knowledge)",
        "nodes": [{"name": name, "kind": kind} for name, kind in sorted(declared.items())],
        "links": [{"cause": cause, "effect": effect} for cause, effect in links],
    }


def knowledge_text(compiled: CompiledLine) -> str:
    """:func:`template_knowledge` as YAML text (a knowledge file), with a header saying where it came from."""
    stream = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = None
    yaml.width = 200
    yaml.sort_base_mapping_type_on_output = False  # plant, source, nodes, links: in the order a reader wants
    yaml.dump(template_knowledge(compiled), stream)
    header = (f"# Knowledge drafted from line {compiled.template.line}'s template: every declared cause -> effect,\n"
              "# hidden signals walked through, conditions named by their asset. Edit it into what the line's\n"
              "# engineers actually know; a run of the line reads knowledge.yaml beside its template.\n")
    return header + stream.getvalue()
