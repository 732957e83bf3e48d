"""``twin rootcause ...``: make labelled datasets, train the GNN, evaluate it against the baselines.

* ``twin rootcause dataset`` — run labelled fault episodes offline (process pool or Ray).
* ``twin rootcause train`` — train the GNN on a dataset's train split; writes the model and its card.
* ``twin rootcause evaluate`` — AC@1 / AC@3 / Avg@5 of the GNN and every baseline on every held-out
  split, per fault kind; prints a table and writes JSON.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .rca_bench import DEFAULT_MODEL, EVALUATIONS, evaluate_dataset, train_on
from .rca_dataset import SPLITS, Dataset, generate, load_dataset, sample_specs

rootcause_app = typer.Typer(help="Root cause: datasets, training, evaluation.", no_args_is_help=True)
console = Console(stderr=True)
TRAIN_SEED = 0


def _bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console)


def _generate(plan: list[tuple[str, int]], seed: int, jobs: int, backend: str) -> Dataset:
    """Run the episodes of several splits with one progress bar; one dataset."""
    specs = [s for split, n in plan for s in sample_specs(split, n, seed)]
    with _bar() as bar:
        task = bar.add_task("fault episodes", total=len(specs))
        return generate(specs, processes=jobs, backend=backend,  # type: ignore[arg-type]
                        progress=lambda done, total: bar.update(task, completed=done))


def _check_backend(backend: str) -> None:
    if backend not in ("serial", "pool", "ray"):
        raise typer.BadParameter(f"backend must be serial, pool or ray, not {backend!r}")


@rootcause_app.command("dataset")
def dataset_cmd(
    out: Path = typer.Option(Path("runs/rootcause/train.pkl"), help="dataset file to write"),
    split: str = typer.Option("train", help=f"which split: {', '.join(SPLITS)}"),
    episodes: int = typer.Option(1000, min=1, help="number of episodes"),
    seed: int = typer.Option(TRAIN_SEED, help="sweep seed (episode seeds derive from it)"),
    jobs: int = typer.Option(2, min=1, help="parallel processes"),
    backend: str = typer.Option("pool", help="serial | pool | ray"),
) -> None:
    """Run labelled fault episodes offline and save their alarm-window evidence."""
    _check_backend(backend)
    if split not in SPLITS:
        raise typer.BadParameter(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
    started = time.perf_counter()
    ds = _generate([(split, episodes)], seed, jobs, backend)
    ds.save(out)
    wall = time.perf_counter() - started
    console.print(f"{ds.meta['detected']}/{ds.meta['episodes']} episodes detected; {wall:.0f} s "
                  f"({ds.meta['episodes'] / wall:.2f} episodes/s); wrote {out}; digest {ds.digest()[:16]}")


@rootcause_app.command("train")
def train_cmd(
    dataset: Path = typer.Option(Path("runs/rootcause/train.pkl"), help="dataset with a train split"),
    out: Path = typer.Option(DEFAULT_MODEL, help="model file to write (a .json model card goes beside it)"),
    epochs: int = typer.Option(60, min=1),
    seed: int = typer.Option(0, help="training seed"),
    hidden: int = typer.Option(48, min=4),
) -> None:
    """Train the root-cause GNN; deterministic for a seed."""
    from rootcause.model import ModelConfig, save_model

    try:
        ds = load_dataset(dataset)
    except (FileNotFoundError, ValueError) as err:
        raise typer.BadParameter(str(err)) from None
    config = ModelConfig(epochs=epochs, seed=seed, hidden=hidden)
    started = time.perf_counter()
    with _bar() as bar:
        task = bar.add_task("epochs", total=epochs)

        def tick(epoch: int, total: int, loss: float) -> None:
            bar.update(task, completed=epoch, description=f"epochs (loss {loss:.3f})")

        model, losses = train_on(ds, config, tick)
    card = model_card(ds, config, losses, time.perf_counter() - started, dataset)
    save_model(model, out, card)
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    console.print(f"trained on {card['data']['train_samples']} samples, loss {losses[0]:.3f} -> {losses[-1]:.3f}; "
                  f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")


def model_card(ds: Dataset, config: Any, losses: list[float], wall_s: float, path: Path) -> dict[str, Any]:
    """What a model was trained on, how, and how it did (metrics are added by ``evaluate --card``)."""
    from dataclasses import asdict

    train = ds.split("train")
    kinds: dict[str, int] = {}
    for s in train:
        kinds[s.spec.kind] = kinds.get(s.spec.kind, 0) + 1
    return {
        "version": f"rootcause-gnn-{time.strftime('%Y%m%d')}-s{config.seed}",
        "plant": "coater",
        "architecture": "typed graph attention (3 TransformerConv layers, jumping knowledge), node scores "
                        "for process and sensor faults, softmax over candidates",
        "config": asdict(config),
        "data": {"dataset": str(path), "digest": ds.digest(), "train_samples": len(train),
                 "episodes": sum(1 for s in ds.samples if s.spec.split == "train"), "by_fault_kind": kinds,
                 "sweep": "twin rootcause dataset (offline episodes, scan 100 ms, 4-blade coater, "
                          "blade 3 held out)"},
        "training": {"loss_first": losses[0], "loss_last": losses[-1], "wall_s": round(wall_s, 1)},
        "metrics": {},
    }


@rootcause_app.command("evaluate")
def evaluate_cmd(
    episodes: int = typer.Option(150, min=1, help="episodes per evaluation split (when no --dataset)"),
    seed: int = typer.Option(1, help="sweep seed of the evaluation episodes"),
    model: Optional[Path] = typer.Option(DEFAULT_MODEL, help="GNN model file ('none': baselines only)"),
    dataset: list[Path] = typer.Option([], help="evaluate on these dataset files instead of new episodes"),
    out: Path = typer.Option(Path("runs/rootcause/evaluation.json"), help="JSON results"),
    jobs: int = typer.Option(2, min=1),
    backend: str = typer.Option("pool", help="serial | pool | ray"),
    card: bool = typer.Option(False, "--card", help="also write the metrics into the model's card"),
) -> None:
    """Score the GNN and the baselines: AC@1, AC@3, Avg@5 per split and per fault kind."""
    _check_backend(backend)
    model_path = None if model is None or str(model) == "none" else model
    if model_path is not None and not model_path.is_file():
        raise typer.BadParameter(f"no model at {model_path}; train one with `twin rootcause train`")
    if seed == TRAIN_SEED:
        console.print("note: seed 0 is the training sweep's seed; held-out-seed figures would not be held out")
    if dataset:
        loaded = [load_dataset(p) for p in dataset]
        ds = Dataset([s for d in loaded for s in d.samples], {k: v for d in loaded for k, v in d.tagmaps.items()},
                     {"files": [str(p) for p in dataset]})
    else:
        splits = list(dict.fromkeys(split for split, _ in EVALUATIONS.values()))
        ds = _generate([(s, episodes) for s in splits], seed, jobs, backend)
    with _bar() as bar:
        task = bar.add_task("diagnoses", total=None)
        results = evaluate_dataset(ds, model_path, progress=lambda name, d, t: bar.update(
            task, completed=d, total=t, description=f"diagnoses: {name}"))
    payload = {"seed": seed, "model": str(model_path) if model_path else None, "evaluations": results}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print_results(results)
    console.print(f"wrote {out}")
    if card and model_path is not None:
        _write_card_metrics(model_path, results)


def print_results(results: dict[str, Any]) -> None:
    """One table: rows are evaluations x methods, columns the metrics."""
    table = Table(title="root cause: AC@1 / AC@3 / Avg@5")
    for col in ("evaluation", "method", "AC@1", "AC@3", "Avg@5", "cases"):
        table.add_column(col, justify="left" if col in ("evaluation", "method") else "right")
    for name, result in results.items():
        for method, scores in result["methods"].items():
            o = scores["overall"]
            table.add_row(name, method, f"{o['ac1']:.3f}", f"{o['ac3']:.3f}", f"{o['avg5']:.3f}",
                          f"{o['n']}/{result['episodes']}")
    Console().print(table)


def _write_card_metrics(model_path: Path, results: dict[str, Any]) -> None:
    from rootcause.model import load_model, save_model

    model, card = load_model(model_path)
    card["metrics"] = {name: {m: r["overall"] for m, r in res["methods"].items()} for name, res in results.items()}
    save_model(model, model_path, card)
    model_path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
