"""The root-cause GNN: typed graph attention over the process–defect–equipment graph.

Each node starts from its evidence features and a one-hot of its kind (equipment, process
variable, quality, environment); each edge carries its link evidence (lagged correlation, lag,
onset lead) and a one-hot of its relation and direction (``has_signal``, ``causes`` and their
reverses). Three ``TransformerConv`` layers (multi-head attention with edge features, PyG)
pass messages; the node's input and every layer's output are concatenated (jumping
knowledge) into two scores: *this asset is the root cause* (process) and *this instrument is
faulty* (sensor). A diagnosis ranks all candidates of a graph by a softmax over their scores.

No weight belongs to a particular tag or asset, so a model trained on a 4-blade line runs on a
6-blade line, and on a fault target it never saw.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch_geometric.nn import TransformerConv

from rootcause.features import EDGE_FEATURES
from rootcause.graph import NODE_FEATURES
from rootcause.knowledge import NODE_KINDS
from rootcause.tensors import N_EDGE_TYPES, Batch, collate

MODEL_FORMAT = 1


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and training hyper-parameters (saved with the weights)."""

    hidden: int = 48
    layers: int = 3
    heads: int = 2
    dropout: float = 0.1
    epochs: int = 60
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0


class RootCauseGNN(nn.Module):
    """Node-level root-cause scores over a batch of plant graphs."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        in_dim = len(NODE_FEATURES) + len(NODE_KINDS)
        edge_dim = len(EDGE_FEATURES) + N_EDGE_TYPES
        h = config.hidden
        self.inp = nn.Sequential(nn.Linear(in_dim, h), nn.ReLU())
        self.convs = nn.ModuleList(
            TransformerConv(h, h // config.heads, heads=config.heads, edge_dim=edge_dim, dropout=config.dropout)
            for _ in range(config.layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(h) for _ in range(config.layers))
        self.head = nn.Sequential(nn.Linear(h * (config.layers + 1), h), nn.ReLU(), nn.Linear(h, 2))

    def forward(self, batch: Batch) -> torch.Tensor:
        """Scores of the batch's candidates (one per candidate, in batch order)."""
        hidden = self.inp(batch.x)
        outs = [hidden]
        for conv, norm in zip(self.convs, self.norms):
            hidden = norm(hidden + torch.relu(conv(hidden, batch.edge_index, batch.edge_attr)))
            outs.append(hidden)
        node_scores = self.head(torch.cat(outs, dim=1))
        return node_scores[batch.cand, batch.cand_sensor.long()]


def graph_log_softmax(scores: torch.Tensor, graph: torch.Tensor, n_graphs: int) -> torch.Tensor:
    """Log-softmax of candidate scores within each graph."""
    peak = torch.full((n_graphs,), -torch.inf).scatter_reduce(0, graph, scores, reduce="amax")
    shifted = scores - peak[graph]
    total = torch.zeros(n_graphs).index_add(0, graph, torch.exp(shifted))
    return shifted - torch.log(total)[graph]


def train_model(
    samples: Sequence[dict[str, np.ndarray]],
    labels: Sequence[int],
    config: ModelConfig,
    progress: object | None = None,
    initial: RootCauseGNN | None = None,
) -> tuple[RootCauseGNN, list[float]]:
    """Train from graph arrays and the index of the true candidate in each; deterministic for ``config.seed``.

    ``progress`` may be a callable ``(epoch, epochs, loss)``. ``initial``: fine-tune a copy of this trained
    model (its architecture; ``config`` gives the epochs, learning rate and seed) instead of starting from
    random weights. Returns the model and the loss per epoch.
    """
    if len(samples) != len(labels) or not samples:
        raise ValueError(f"need matching, non-empty samples and labels, got {len(samples)} and {len(labels)}")
    torch.manual_seed(config.seed)
    torch.use_deterministic_algorithms(True)
    if initial is not None:
        architecture = {k: getattr(initial.config, k) for k in ("hidden", "layers", "heads", "dropout")}
        config = replace(config, **architecture)
        model = RootCauseGNN(config)
        model.load_state_dict(initial.state_dict())
    else:
        model = RootCauseGNN(config)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    losses: list[float] = []
    for epoch in range(config.epochs):
        model.train()
        order = rng.permutation(len(samples))
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            chunk = order[start: start + config.batch_size]
            batch = collate([samples[i] for i in chunk])
            targets = _target_positions(batch, [labels[i] for i in chunk])
            logp = graph_log_softmax(model(batch), batch.cand_graph, batch.n_graphs)
            loss = -logp[targets].mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(chunk)
        losses.append(total / len(samples))
        if callable(progress):
            progress(epoch + 1, config.epochs, losses[-1])
    model.eval()
    return model, losses


@torch.no_grad()
def score_candidates(model: RootCauseGNN, samples: Sequence[dict[str, np.ndarray]]) -> list[np.ndarray]:
    """Per sample, the probability of each of its candidates (sums to 1)."""
    model.eval()
    torch.set_num_threads(1)  # graphs are small: one thread beats a contended pool at the edge
    out: list[np.ndarray] = []
    for start in range(0, len(samples), 64):
        batch = collate(samples[start: start + 64])
        probs = torch.exp(graph_log_softmax(model(batch), batch.cand_graph, batch.n_graphs)).numpy()
        graph = batch.cand_graph.numpy()
        out += [probs[graph == g] for g in range(batch.n_graphs)]
    return out


def save_model(model: RootCauseGNN, path: str | Path, card: dict[str, object]) -> Path:
    """Save weights, config and a model card (data, seeds, metrics) in one file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.to(torch.float32) for k, v in model.state_dict().items()}
    torch.save({"format": MODEL_FORMAT, "config": asdict(model.config), "state": state,
                "card": json.loads(json.dumps(card))}, path)
    return path


def load_model(path: str | Path) -> tuple[RootCauseGNN, dict[str, object]]:
    """Load a model saved by :func:`save_model`; returns the model and its card."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no root-cause model at {path}; train one with `twin rootcause train`")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if blob.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path}: model format {blob.get('format')!r}, this version reads {MODEL_FORMAT}")
    model = RootCauseGNN(ModelConfig(**blob["config"]))
    model.load_state_dict(blob["state"])
    model.eval()
    return model, blob["card"]


def update_card(path: str | Path, **entries: object) -> dict[str, object]:
    """Set ``entries`` in the card of the model at ``path`` (in the model file and the ``.json`` beside it);
    returns the card."""
    path = Path(path)
    model, card = load_model(path)
    card.update(json.loads(json.dumps(entries)))
    save_model(model, path, card)
    path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def _target_positions(batch: Batch, labels: Sequence[int]) -> torch.Tensor:
    """Position in the batch's candidate vector of each graph's true candidate."""
    starts = torch.zeros(batch.n_graphs, dtype=torch.long)
    counts = torch.bincount(batch.cand_graph, minlength=batch.n_graphs)
    starts[1:] = torch.cumsum(counts, 0)[:-1]
    return starts + torch.tensor(list(labels), dtype=torch.long)
