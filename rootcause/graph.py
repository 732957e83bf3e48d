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

On a large plant a diagnosis ranks a part of the graph: :meth:`PlantGraph.upstream` finds the
nodes that can explain the alarmed signals (those upstream of them, to a bounded depth) and
:meth:`PlantGraph.around` cuts them out with their direct neighbours, whose evidence they need.
A part's node features keep the whole graph's structure (signal and link counts).

:meth:`PlantGraph.to_heterodata` attaches the evidence of one alarm window as node and edge
features and returns a PyG ``HeteroData``; :attr:`PlantGraph.graph` is the networkx view for
inspection and paths.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
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
        #: the plant graph this one is a part of (:meth:`around`); itself for a whole plant's graph
        self.whole: PlantGraph = self
        self._candidate_of = {c.node: c for c in self.candidates}
        self._structure = self._structure_features()
        self._tables()

    def _structure_features(self) -> np.ndarray:
        """The node features that describe the graph, not the evidence (:data:`STRUCT_FEATURES`), per node."""
        g = self.graph
        if not self.nodes:
            return np.zeros((0, len(STRUCT_FEATURES)))
        links_in, links_out = np.zeros(len(self.nodes)), np.zeros(len(self.nodes))
        for a, b, relation in g.edges(data="relation"):
            if relation == "causes":
                links_out[self.index[a]] += 1
                links_in[self.index[b]] += 1

        def flag(name: str) -> np.ndarray:
            return np.array([g.nodes[n][name] for n in self.nodes], dtype=float)

        signals = np.array([len(self.signals_of(n)) for n in self.nodes], dtype=float)
        return np.column_stack([flag("tag"), 1.0 - flag("tag"), flag("measured"), flag("setpoint"),
                                np.log1p(signals), np.log1p(links_in), np.log1p(links_out)])

    def _tables(self) -> None:
        """The evidence-free arrays of :meth:`arrays`: edges, node kinds, candidates."""
        g = self.graph
        self._edges = [(a, b) for a, b in g.edges]
        self._tag_nodes = [n for n in self.nodes if g.nodes[n]["tag"]]
        self._src = np.array([self.index[a] for a, _ in self._edges], dtype=np.int64)
        self._dst = np.array([self.index[b] for _, b in self._edges], dtype=np.int64)
        self._rel = np.array([RELATIONS.index(r) for _, _, r in g.edges(data="relation")], dtype=np.int64)
        self._kinds = np.array([NODE_KINDS.index(g.nodes[n]["kind"]) for n in self.nodes], dtype=np.int64)
        self._cand = np.array([self.index[c.node] for c in self.candidates], dtype=np.int64)
        self._cand_sensor = np.array([c.kind == "sensor" for c in self.candidates], dtype=bool)

    def tags(self) -> list[str]:
        """The graph's tag nodes (what the historian holds)."""
        return list(self._tag_nodes)

    def signals_of(self, asset: str) -> list[str]:
        """The tags the tag map places under ``asset``."""
        return self._signals.get(asset, [])

    def candidate_names(self) -> list[str]:
        """Candidate names as the Diagnosis reports them (asset path, or tag for a sensor)."""
        return [c.node for c in self.candidates]

    def upstream(self, nodes: Iterable[str], depth: int | None = None) -> list[str]:
        """``nodes`` and every node with a path to one of them of at most ``depth`` links (None: any length),
        in graph order: what can explain alarms on ``nodes``. Nodes not in the graph are left out.

        Every edge counts as a link: an asset owning a signal is one link above it, a knowledge link's cause
        one link above its effect.
        """
        g = self.graph
        seen = {n for n in nodes if n in g}
        frontier, level = list(seen), 0
        while frontier and (depth is None or level < depth):  # breadth first, one link further each round
            found = []
            for node in frontier:
                for parent in g.predecessors(node):
                    if parent not in seen:
                        seen.add(parent)
                        found.append(parent)
            frontier, level = found, level + 1
        return sorted(seen, key=self.index.__getitem__)

    def around(self, core: Iterable[str]) -> PlantGraph:
        """The part of this graph that a diagnosis ranking the candidates of ``core`` reads.

        Its nodes are the ``core`` nodes and their direct neighbours either way (an asset's signals, the
        other end of every link: what the core's evidence and link features need); its candidates only
        those of the core. The node features that describe the plant's structure (signal and link counts)
        stay those of the whole graph, so a node looks the same to the model in the part as in the whole.
        :attr:`whole` is the graph it was cut from.
        """
        g = self.graph
        keep = {n for n in core if n in self.index}
        members = set(keep)
        for n in keep:
            members.update(g.predecessors(n))
            members.update(g.successors(n))
        order = sorted(members, key=self.index.__getitem__)
        part = copy.copy(self)
        part.graph = nx.DiGraph()
        part.graph.add_nodes_from((n, g.nodes[n]) for n in order)
        part.graph.add_edges_from((a, b, data) for a in order for b, data in g.adj[a].items() if b in members)
        part.owner = {n: self.owner[n] for n in order if n in self.owner}
        part._signals = {a: [t for t in self._signals[a] if t in members] for a in order if a in self._signals}
        part.nodes = order
        part.index = {n: i for i, n in enumerate(order)}
        candidate_of = self.whole._candidate_of
        part.candidates = [candidate_of[n] for n in order if n in keep and n in candidate_of]
        part.whole = self.whole
        part._structure = self._structure[[self.index[n] for n in order]]
        part._tables()
        return part

    def whole_scores(self, scores: np.ndarray) -> np.ndarray:
        """Scores of this graph's candidates spread over the candidates of :attr:`whole`: ``-inf`` (below any
        score) for a candidate this part does not rank."""
        out = np.full(len(self.whole.candidates), -np.inf)
        position = {c.node: i for i, c in enumerate(self.whole.candidates)}
        out[[position[c.node] for c in self.candidates]] = np.asarray(scores, dtype=float)
        return out

    def arrays(self, evidence: Evidence) -> dict[str, np.ndarray]:
        """Node features, edges (with relation ids and features) and candidates as numpy arrays."""
        x = np.zeros((len(self.nodes), len(NODE_FEATURES)), dtype=np.float32)
        rows = [i for i, n in enumerate(self.nodes) if n in evidence.tags]
        if rows:
            x[rows, : len(TAG_FEATURES)] = np.stack([evidence.tags[self.nodes[i]].features for i in rows])
        x[:, len(TAG_FEATURES):] = self._structure
        ea = np.stack([link_features(evidence, a, b) for a, b in self._edges]) if self._edges else \
            np.zeros((0, len(EDGE_FEATURES)), dtype=np.float32)
        return {"x": x, "kind": self._kinds.copy(), "src": self._src.copy(), "dst": self._dst.copy(),
                "rel": self._rel.copy(), "edge_attr": ea, "cand": self._cand.copy(),
                "cand_sensor": self._cand_sensor.copy()}

    def to_heterodata(self, evidence: Evidence):  # noqa: ANN201 - torch_geometric is an optional extra
        """A PyG ``HeteroData``: node types are the four kinds, edge types (kind, relation, kind)."""
        from rootcause.tensors import heterodata_from_arrays

        return heterodata_from_arrays(self.arrays(evidence), self.nodes)

    def kind_of(self, node: str) -> NodeKind:
        """The node's kind."""
        return self.graph.nodes[node]["kind"]
