"""From the graph's numpy arrays to torch tensors: PyG ``HeteroData`` and batches for the model.

Kept apart from :mod:`rootcause.graph` so that building graphs and features needs only numpy;
torch and torch_geometric (the ``gnn`` extra) are imported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch_geometric.data import HeteroData

from rootcause.knowledge import NODE_KINDS, RELATIONS

N_EDGE_TYPES = 2 * len(RELATIONS)  # each relation, and its reverse


def heterodata_from_arrays(arrays: dict[str, np.ndarray], nodes: Sequence[str]) -> HeteroData:
    """A ``HeteroData`` with one node type per kind and edge types ``(kind, relation, kind)``."""
    data = HeteroData()
    kinds = arrays["kind"]
    local = np.zeros(len(kinds), dtype=np.int64)
    for k, kind in enumerate(NODE_KINDS):
        members = np.flatnonzero(kinds == k)
        local[members] = np.arange(len(members))
        data[kind].x = torch.from_numpy(arrays["x"][members])
        data[kind].names = [nodes[i] for i in members]
    for r, relation in enumerate(RELATIONS):
        for a, kind_a in enumerate(NODE_KINDS):
            for b, kind_b in enumerate(NODE_KINDS):
                sel = (arrays["rel"] == r) & (kinds[arrays["src"]] == a) & (kinds[arrays["dst"]] == b)
                if not sel.any():
                    continue
                store = data[kind_a, relation, kind_b]
                store.edge_index = torch.from_numpy(np.stack([local[arrays["src"][sel]], local[arrays["dst"][sel]]]))
                store.edge_attr = torch.from_numpy(arrays["edge_attr"][sel])
    return data


@dataclass
class Batch:
    """Several graphs as one disjoint graph, with both edge directions and typed features."""

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    cand: torch.Tensor
    cand_sensor: torch.Tensor
    cand_graph: torch.Tensor
    n_graphs: int


def collate(samples: Sequence[dict[str, np.ndarray]]) -> Batch:
    """Stack graph arrays (from :meth:`PlantGraph.arrays`) into one :class:`Batch`.

    Node inputs are the features plus a one-hot of the node kind; edge inputs the link
    features plus a one-hot of (relation, direction).
    """
    xs, srcs, dsts, eas, cands, sens, graph_of = [], [], [], [], [], [], []
    offset = 0
    for g, s in enumerate(samples):
        n = len(s["x"])
        xs.append(np.concatenate([s["x"], np.eye(len(NODE_KINDS), dtype=np.float32)[s["kind"]]], axis=1))
        rel_fwd = np.eye(N_EDGE_TYPES, dtype=np.float32)[2 * s["rel"]]
        rel_rev = np.eye(N_EDGE_TYPES, dtype=np.float32)[2 * s["rel"] + 1]
        srcs += [s["src"] + offset, s["dst"] + offset]
        dsts += [s["dst"] + offset, s["src"] + offset]
        eas += [np.concatenate([s["edge_attr"], rel_fwd], axis=1), np.concatenate([s["edge_attr"], rel_rev], axis=1)]
        cands.append(s["cand"] + offset)
        sens.append(s["cand_sensor"])
        graph_of.append(np.full(len(s["cand"]), g, dtype=np.int64))
        offset += n
    return Batch(
        x=torch.from_numpy(np.concatenate(xs)),
        edge_index=torch.from_numpy(np.stack([np.concatenate(srcs), np.concatenate(dsts)])),
        edge_attr=torch.from_numpy(np.concatenate(eas)),
        cand=torch.from_numpy(np.concatenate(cands)),
        cand_sensor=torch.from_numpy(np.concatenate(sens)),
        cand_graph=torch.from_numpy(np.concatenate(graph_of)),
        n_graphs=len(samples),
    )
