"""The process–defect–equipment graph of a plant, built from its tag map and knowledge file.

Nodes are of four kinds (:data:`~rootcause.knowledge.NODE_KINDS`): **equipment** (asset paths
of the tag map, e.g. ``coater.blade3``, and equipment the knowledge file names, e.g.
``coater.head``), **process variables** (tags), **quality characteristics** (tags or nodes the
knowledge file marks ``quality``) and **environment**. Edges are of two relations:
``has_signal`` (an asset to each of its tags, from the tag map: always true) and ``causes``
(the knowledge file's links: candidate, maybe wrong). Each relation also runs backwards
(``rev_*``) so messages flow both ways.

The candidates of a diagnosis are the assets (a *process* fault of that equipment) and the
measured tags (a *sensor* fault of that instrument: a stuck sensor is itself a candidate).

:meth:`PlantGraph.to_heterodata` attaches the evidence of one alarm window as node and edge
features and returns a PyG ``HeteroData``; :attr:`PlantGraph.graph` is the networkx view for
inspection and paths.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from rootcause.features import EDGE_FEATURES, TAG_FEATURES, Evidence, link_features
from rootcause.knowledge import NODE_KINDS, RELATIONS, Knowledge, NodeKind
from virtual_plc.tagmap import TagMap

STRUCT_FEATURES = ("is_tag", "is_asset", "measured", "setpoint", "n_signals", "in_links", "out_links")
NODE_FEATURES = TAG_FEATURES + STRUCT_FEATURES


@dataclass(frozen=True)
class Candidate:
    """A candidate root cause: a node, and whether it stands for a process or a sensor fault."""

    node: str
    kind: str  # "process" | "sensor"


class PlantGraph:
    """A plant's graph: tag map structure plus (possibly perturbed) knowledge links."""

    def __init__(self, tagmap: TagMap, knowledge: Knowledge, links: tuple[tuple[str, str], ...] | None = None) -> None:
        self.plant = tagmap.plant
        self.severities = dict(knowledge.severities)  # effect -> 1..10, what rootcause.risk ranks by
        self.graph = nx.DiGraph()
        self.owner: dict[str, str] = {}  # tag -> its asset, from the tag map
        g = self.graph
        for tag in tagmap.tags:
            if tag.name == tagmap.clock_tag:
                continue
            self.owner[tag.name] = tag.asset
            g.add_node(tag.name, kind=knowledge.kinds.get(tag.name, "process_variable"), tag=True,
                       measured=tag.access == "ro", setpoint=tag.access == "rw")
            if tag.asset not in g:
                g.add_node(tag.asset, kind=knowledge.kinds.get(tag.asset, "equipment"), tag=False,
                           measured=False, setpoint=False)
            g.add_edge(tag.asset, tag.name, relation="has_signal")
        for name, kind in knowledge.kinds.items():
            if name not in g:
                g.add_node(name, kind=kind, tag=False, measured=False, setpoint=False)
        for cause, effect in knowledge.links if links is None else links:
            if cause in g and effect in g:
                g.add_edge(cause, effect, relation="causes")
        self._signals: dict[str, list[str]] = {}
        for tag_name, asset in self.owner.items():
            self._signals.setdefault(asset, []).append(tag_name)
        self.nodes: list[str] = list(g.nodes)
        self.index = {n: i for i, n in enumerate(self.nodes)}
        self.candidates: list[Candidate] = [
            Candidate(n, "sensor") if g.nodes[n]["measured"] else Candidate(n, "process")
            for n in self.nodes
            if g.nodes[n]["measured"] or (not g.nodes[n]["tag"] and g.nodes[n]["kind"] in ("equipment", "environment"))
        ]

    def tags(self) -> list[str]:
        """The graph's tag nodes (what the historian holds)."""
        return [n for n in self.nodes if self.graph.nodes[n]["tag"]]

    def signals_of(self, asset: str) -> list[str]:
        """The tags the tag map places under ``asset``."""
        return self._signals.get(asset, [])

    def candidate_names(self) -> list[str]:
        """Candidate names as the Diagnosis reports them (asset path, or tag for a sensor)."""
        return [c.node for c in self.candidates]

    def arrays(self, evidence: Evidence) -> dict[str, np.ndarray]:
        """Node features, edges (with relation ids and features) and candidates as numpy arrays."""
        g = self.graph
        x = np.zeros((len(self.nodes), len(NODE_FEATURES)), dtype=np.float32)
        for i, n in enumerate(self.nodes):
            attrs = g.nodes[n]
            if n in evidence.tags:
                x[i, : len(TAG_FEATURES)] = evidence.tags[n].features
            x[i, len(TAG_FEATURES):] = [
                float(attrs["tag"]), float(not attrs["tag"]), float(attrs["measured"]), float(attrs["setpoint"]),
                np.log1p(len(self.signals_of(n))),
                np.log1p(sum(1 for _, _, r in g.in_edges(n, data="relation") if r == "causes")),
                np.log1p(sum(1 for _, _, r in g.out_edges(n, data="relation") if r == "causes")),
            ]
        edges = list(g.edges(data="relation"))
        src = np.array([self.index[a] for a, _, _ in edges], dtype=np.int64)
        dst = np.array([self.index[b] for _, b, _ in edges], dtype=np.int64)
        rel = np.array([RELATIONS.index(r) for _, _, r in edges], dtype=np.int64)
        ea = np.stack([link_features(evidence, a, b) for a, b, _ in edges]) if edges else \
            np.zeros((0, len(EDGE_FEATURES)), dtype=np.float32)
        kinds = np.array([NODE_KINDS.index(g.nodes[n]["kind"]) for n in self.nodes], dtype=np.int64)
        cand = np.array([self.index[c.node] for c in self.candidates], dtype=np.int64)
        cand_sensor = np.array([c.kind == "sensor" for c in self.candidates], dtype=bool)
        return {"x": x, "kind": kinds, "src": src, "dst": dst, "rel": rel, "edge_attr": ea,
                "cand": cand, "cand_sensor": cand_sensor}

    def to_heterodata(self, evidence: Evidence):  # noqa: ANN201 - torch_geometric is an optional extra
        """A PyG ``HeteroData``: node types are the four kinds, edge types (kind, relation, kind)."""
        from rootcause.tensors import heterodata_from_arrays

        return heterodata_from_arrays(self.arrays(evidence), self.nodes)

    def kind_of(self, node: str) -> NodeKind:
        """The node's kind."""
        return self.graph.nodes[node]["kind"]
