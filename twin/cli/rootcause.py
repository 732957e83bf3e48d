"""``twin rootcause ...``: make labelled datasets, train the GNN, evaluate it against the baselines.

* ``twin rootcause dataset`` — run labelled fault episodes offline (process pool or Ray).
* ``twin rootcause train`` — train the GNN on a dataset's train split; writes the model and its card.
* ``twin rootcause evaluate`` — AC@1 / AC@3 / Avg@5 of the GNN and every baseline on every held-out
  split, per fault kind; prints a table and writes JSON (``--rcaeval DIR``: also RCAEval's layout).

``--plant coater`` (the default), ``--plant tennessee_eastman`` or ``--template LINE.yaml`` (a
declarative line) chooses the plant's sweep: the ``sweep.yaml`` of its folder (a line's beside its
template, else the generic one; :func:`twin.harness.rca.sweep.sweep_plant`); ``train`` takes the
plant from its dataset. ``dataset --family FILE`` draws a line of its own for every episode from a
family of lines (:mod:`plant_models.line.family`); ``train`` on such a dataset (alone or with
others) writes the general model (:data:`twin.harness.rca.bench.GENERAL_MODEL`), which ``evaluate
--zero-shot`` scores on a plant or line it never saw and ``evaluate --fine-tune N`` after training
it on N episodes of the target.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.console import Console

from twin.cli.common import command_group, fail
from twin.contracts import Backend, choices
from twin.edge.assets.openlineage import existing, file_dataset, historian, lineage_job

if TYPE_CHECKING:
    from twin.harness.rca.dataset import Dataset
    from twin.harness.rca.sweep import SweepPlant

rootcause_app = command_group("Root cause: datasets, training, evaluation.")
console = Console(stderr=True)
TRAIN_SEED = 0


def _generate(plan: list[tuple[str, int]], seed: int, jobs: int, backend: str, sweep: SweepPlant) -> Dataset:
    """Run the episodes of several splits of a sweep with one progress bar; one dataset."""
    from twin.harness.progress import progress_bar
    from twin.harness.rca.dataset import generate, sample_specs

    options = dict(sweep.options)
    specs = [s for split, n in plan for s in sample_specs(split, n, seed, plant=sweep.name, options=options)]
    with progress_bar(console) as bar:
        task = bar.add_task("fault episodes", total=len(specs))
        return generate(specs, processes=jobs, backend=backend,  # type: ignore[arg-type]
                        progress=lambda done, total: bar.update(task, completed=done))


def _check_backend(backend: str) -> None:
    if backend not in set(Backend):
        raise typer.BadParameter(f"backend must be {choices(Backend)}, not {backend!r}")


def _sweep(plant: str | None, template: Path | None = None) -> SweepPlant:
    """The sweep of ``--plant`` (default coater) or of the line ``--template`` names; bad choices refused by name."""
    from twin.harness.rca.sweep import sweep_plant

    plant = plant or ("line" if template else "coater")
    if template is not None and plant != "line":
        raise typer.BadParameter(f"--template names a line template: it goes with --plant line, not {plant}")
    if plant == "line" and template is None:
        raise typer.BadParameter("--plant line needs --template LINE.yaml (a line template)")
    if template is not None and not template.is_file():
        raise typer.BadParameter(f"line template {template} not found")
    try:
        return sweep_plant(plant, _line_options(template))
    except ValueError as err:  # a ConfigError too: file, field and line
        raise typer.BadParameter(str(err)) from None


def _line_options(template: Path | None) -> dict[str, Any] | None:
    """The plant options of the line ``--template`` names (None without one)."""
    return {"template": str(template.resolve())} if template is not None else None


def _load(path: Path, plant: str | None, options: dict[str, Any] | None = None) -> Dataset:
    """A dataset file, refused by name if missing, unreadable or of another plant than ``plant`` (or, given
    ``options``, of another line template); a family of lines is of no one plant and passes."""
    from twin.harness.rca.dataset import load_dataset

    try:
        ds = load_dataset(path)
        if ds.is_family:
            return ds
        found, found_options = ds.plant, ds.plant_options
    except (FileNotFoundError, ValueError) as err:
        raise typer.BadParameter(str(err)) from None
    if plant is not None and found != plant:
        raise typer.BadParameter(f"{path} holds {found} episodes, not {plant}")
    if options is not None and found_options != options:
        raise typer.BadParameter(f"{path} holds episodes of {found} {found_options}, not {options}")
    return ds


def _health_gate(runs: list[Path], recorded: dict[str, Any] | None, required_share: float,
                 force: bool) -> dict[str, Any] | None:
    """The data-health gate (:mod:`twin.edge.assets.gate`) on ``runs`` (else on a dataset's ``recorded`` health):
    refuses closed (exit 1) naming the failing steps and the thresholds unless ``force``; returns the record to
    keep (``forced`` when it went on closed), None when there is nothing to judge."""
    from twin.edge.assets.gate import GateResult, check_gate
    from twin.edge.assets.health import run_health

    try:
        if runs:
            result = check_gate([run_health(r) for r in runs], required_share)
        elif recorded is not None:
            result = GateResult.from_record(recorded, required_share)
        else:
            console.print("data-health gate: nothing to judge (no --health-run, no health record in the dataset)")
            return None
    except (FileNotFoundError, ValueError) as err:
        raise fail(str(err)) from None
    if not result.open and not force:
        raise fail(result.message() + "; --force goes on anyway and records it", code=1)
    console.print(result.message() + ("; going on (--force), recorded" if not result.open else ""), markup=False,
                  highlight=False, soft_wrap=True)
    return result.record(forced=not result.open)


HEALTH_RUN_HELP = ("a run directory whose data health the data-health gate judges (repeat for several; a real "
                   "line's historians)")
REQUIRED_SHARE_HELP = "share of process steps that must be healthy for the data-health gate to open"
FORCE_HELP = "go on when the data-health gate is closed, and record that"


# the plants with a sweep, by name (listing them from the registry would import every plant model at startup)
PLANT_HELP = "which plant: coater (the default) | tennessee_eastman | line (with --template)"
TEMPLATE_HELP = ("a line template (plant line): its sweep.yaml beside it, else the generic sweep of its fault "
                 "catalogue")
FAMILY_HELP = ("a family of lines (YAML of ranges, e.g. scenarios/families/small_lines.yaml): every episode runs on "
               "a random line of the family (--seed draws the lines and the faults); not with --plant or --template")


@rootcause_app.command("dataset")
def dataset_cmd(
    out: Optional[Path] = typer.Option(None, help="dataset file to write [default: SPLIT.pkl in the sweep's runs_dir: "
                                                  "runs/rootcause/[PLANT/], a line's runs/rootcause/line/FOLDER/]"),
    split: str = typer.Option("train", help="which split of the plant's sweep (coater: train, heldout_seeds, "
                                            "heldout_magnitude, heldout_target, line_variant)"),
    episodes: int = typer.Option(1000, min=1, help="number of episodes"),
    seed: int = typer.Option(TRAIN_SEED, help="sweep seed (episode seeds derive from it)"),
    jobs: int = typer.Option(2, min=1, help="parallel processes"),
    backend: str = typer.Option("pool", help="serial | pool | ray"),
    plant: Optional[str] = typer.Option(None, help=PLANT_HELP),
    template: Optional[Path] = typer.Option(None, "--template", "--line", help=TEMPLATE_HELP),
    family: Optional[Path] = typer.Option(None, help=FAMILY_HELP),
    health_run: list[Path] = typer.Option([], help=HEALTH_RUN_HELP),
    required_share: float = typer.Option(0.87, min=0.0, max=1.0, help=REQUIRED_SHARE_HELP),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Run labelled fault episodes offline and save their alarm-window evidence."""

    _check_backend(backend)
    if family is not None:
        if plant is not None or template is not None:
            raise typer.BadParameter("--family draws its own lines: not with --plant or --template")
        _family_dataset(family, out, split, episodes, seed, jobs, backend,
                        _health_gate(health_run, None, required_share, force), health_run)
        return
    sweep = _sweep(plant, template)
    if split not in sweep.splits:
        raise typer.BadParameter(f"unknown split {split!r} for {sweep.name}; splits: {', '.join(sweep.splits)}")
    health = _health_gate(health_run, None, required_share, force)
    out = out or sweep.runs_dir / f"{split}.pkl"
    started = time.perf_counter()
    with lineage_job(f"rootcause.dataset.{sweep.name}", existing("sweep", [sweep.base.source]) + [
            historian(r) for r in health_run], [file_dataset("dataset", out)], description=f"fault episodes: {split}"):
        ds = _generate([(split, episodes)], seed, jobs, backend, sweep)
        ds.meta["health"] = health
        ds.save(out)
    wall = time.perf_counter() - started
    console.print(f"{ds.meta['detected']}/{ds.meta['episodes']} episodes detected; {wall:.0f} s "
                  f"({ds.meta['episodes'] / wall:.2f} episodes/s); wrote {out}; digest {ds.digest()[:16]}")


def _family_dataset(path: Path, out: Path | None, split: str, episodes: int, seed: int, jobs: int, backend: str,
                    health: dict[str, Any] | None, health_run: list[Path]) -> None:
    """``twin rootcause dataset --family``: draw the lines and faults, run the episodes, save the dataset."""
    from qtconfig import ConfigError
    from twin.harness.progress import progress_bar
    from twin.harness.rca.dataset import family_specs, generate
    from twin.harness.rca.sweep import family_runs_dir, load_family_file

    try:
        family = load_family_file(path)
    except ConfigError as err:  # names the file, the field and its line
        raise typer.BadParameter(str(err)) from None
    out = out or family_runs_dir(path) / f"{split}.pkl"
    started = time.perf_counter()
    with lineage_job("rootcause.dataset.family", existing("sweep", [path]) + [historian(r) for r in health_run],
                     [file_dataset("dataset", out)], description=f"fault episodes of a family of lines: {split}"):
        with progress_bar(console) as bar:
            lines = bar.add_task("lines and faults drawn", total=episodes)
            specs = family_specs(family, split, episodes, seed,
                                 progress=lambda done, total: bar.update(lines, completed=done))
            task = bar.add_task("fault episodes", total=len(specs))
            ds = generate(specs, processes=jobs, backend=backend,  # type: ignore[arg-type]
                          progress=lambda done, total: bar.update(task, completed=done))
        ds.meta.update(health=health, family={"file": str(path), "line_prefix": family.line_prefix, "seed": seed,
                                              "lines": len(ds.tagmaps), "family": family.model_dump(mode="json")})
        ds.save(out)
    wall = time.perf_counter() - started
    console.print(f"{ds.meta['detected']}/{ds.meta['episodes']} episodes detected on {len(ds.tagmaps)} lines; "
                  f"{wall:.0f} s ({ds.meta['episodes'] / wall:.2f} episodes/s); wrote {out}; "
                  f"digest {ds.digest()[:16]}")


@rootcause_app.command("train")
def train_cmd(
    dataset: list[Path] = typer.Option([], help="dataset with a train split; repeat to train on several (a family "
                                                "of lines and the coater, say) [default: train.pkl in the sweep's "
                                                "runs_dir]"),
    out: Optional[Path] = typer.Option(None, help="model file to write (a .json model card goes beside it) "
                                                  "[default: rootcause.pt in the plant's folder; a line's beside "
                                                  "its template; a family's: the general model, "
                                                  "plant_models/line/rootcause.pt]"),
    epochs: int = typer.Option(60, min=1),
    seed: int = typer.Option(0, help="training seed"),
    hidden: int = typer.Option(48, min=4),
    plant: Optional[str] = typer.Option(None, help="which plant: coater | tennessee_eastman | line "
                                                   "[default: the dataset's]"),
    template: Optional[Path] = typer.Option(None, "--template", "--line",
                                            help="a line template (plant line): where its default dataset is"),
    health_run: list[Path] = typer.Option([], help=HEALTH_RUN_HELP + " [default: the health the dataset recorded]"),
    required_share: float = typer.Option(0.87, min=0.0, max=1.0, help=REQUIRED_SHARE_HELP),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Train the root-cause GNN; deterministic for a seed."""
    from rootcause.model import ModelConfig, save_model
    from twin.harness.progress import progress_bar
    from twin.harness.rca.bench import GENERAL_MODEL, default_model, train_on

    paths = dataset or [_sweep(plant, template).runs_dir / "train.pkl"]
    loaded = [_load(p, plant, _line_options(template)) for p in paths]
    recorded = next((d.meta["health"] for d in loaded if d.meta.get("health")), None)
    health = _health_gate(health_run, recorded, required_share, force)
    if out is None:
        if any(d.is_family for d in loaded):
            out = GENERAL_MODEL
        elif len(loaded) == 1:
            out = default_model(loaded[0].plant, loaded[0].plant_options)
        else:
            raise typer.BadParameter("several datasets: say where the model goes with --out")
    config = ModelConfig(epochs=epochs, seed=seed, hidden=hidden)
    started = time.perf_counter()
    with lineage_job(f"rootcause.train.{'+'.join(line for d in loaded for line in d.lines())}",
                     [*(file_dataset("dataset", p) for p in paths), *map(historian, health_run)],
                     [file_dataset("model", out)], description="the root-cause GNN, trained"):
        with progress_bar(console) as bar:
            task = bar.add_task("epochs", total=epochs)

            def tick(epoch: int, total: int, loss: float) -> None:
                bar.update(task, completed=epoch, description=f"epochs (loss {loss:.3f})")

            model, losses = train_on(loaded, config, tick)
        card = model_card(loaded, config, losses, time.perf_counter() - started, paths, health)
        save_model(model, out, card)
        out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    console.print(f"trained on {card['data']['train_samples']} samples, loss {losses[0]:.3f} -> {losses[-1]:.3f}; "
                  f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")


def model_card(datasets: Dataset | list[Dataset], config: Any, losses: list[float], wall_s: float,
               paths: Path | list[Path], health: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """What a model was trained on, how, and how it did (metrics are added by ``evaluate --card``); ``health`` is
    the data-health gate's record (``forced`` when ``--force`` trained past a closed gate), None when not judged;
    ``data.lines`` names every plant or line it learnt from (:func:`~twin.harness.rca.dataset.line_identity`), what
    ``evaluate --zero-shot`` checks; ``extra`` goes into the card as given (a fine-tuned model's ``fine_tune``)."""
    from dataclasses import asdict

    from twin.harness.rca.dataset import fault_kind

    datasets = [datasets] if not isinstance(datasets, list) else datasets
    paths = [paths] if not isinstance(paths, list) else paths
    train = [s for d in datasets for s in d.split("train")]
    kinds: dict[str, int] = {}
    for s in train:
        kinds[fault_kind(s.spec)] = kinds.get(fault_kind(s.spec), 0) + 1
    first = datasets[0]
    sweep = first.sweep()
    lines = list(dict.fromkeys(line for d in datasets for line in d.lines()))
    return {
        "version": f"rootcause-gnn-{time.strftime('%Y%m%d')}-s{config.seed}",
        "plant": first.plant if len(lines) == 1 and not first.is_family else "+".join(lines),
        "architecture": "typed graph attention (3 TransformerConv layers, jumping knowledge), node scores "
                        "for process and sensor faults, softmax over candidates",
        "config": asdict(config),
        "data": {"dataset": str(paths[0]) if len(paths) == 1 else [str(p) for p in paths],
                 "digest": first.digest() if len(datasets) == 1 else [d.digest() for d in datasets],
                 "train_samples": len(train), "lines": lines,
                 "episodes": sum(1 for d in datasets for s in d.samples if s.spec.split == "train"),
                 "by_fault_kind": kinds, "sweep": sweep.settings.description, "health": health},
        "training": {"loss_first": losses[0], "loss_last": losses[-1], "wall_s": round(wall_s, 1)},
        "metrics": {},
        # the evidence settings a run must use with this model (its sweep's base run's rootcause.evidence)
        "evidence": sweep.evidence().model_dump(),
        **extra,
    }


@rootcause_app.command("evaluate")
def evaluate_cmd(
    episodes: Optional[int] = typer.Option(None, min=1, help="episodes per evaluation split (when no --dataset) "
                                                             "[default: the sweep's eval_episodes: 150 coater, "
                                                             "42 tennessee_eastman]"),
    seed: int = typer.Option(1, help="sweep seed of the evaluation episodes"),
    model: Optional[Path] = typer.Option(None, help="GNN model file ('none': baselines only) "
                                                    "[default: rootcause.pt in the plant's folder; with --zero-shot "
                                                    "or --fine-tune: the general model]"),
    dataset: list[Path] = typer.Option([], help="evaluate on these dataset files instead of new episodes"),
    out: Optional[Path] = typer.Option(None, help="JSON results [default: evaluation.json in the sweep's runs_dir; "
                                                  "zero_shot.json, fine_tune_N.json]"),
    jobs: int = typer.Option(2, min=1),
    backend: str = typer.Option("pool", help="serial | pool | ray"),
    card: bool = typer.Option(False, "--card", help="also write the metrics into the model's card"),
    plant: Optional[str] = typer.Option(None, help=PLANT_HELP),
    template: Optional[Path] = typer.Option(None, "--template", "--line", help=TEMPLATE_HELP),
    zero_shot: bool = typer.Option(False, "--zero-shot", help="a model that never saw this plant or line (the "
                                                              "general model by default); refused if its card "
                                                              "says it trained on it"),
    fine_tune: Optional[int] = typer.Option(None, "--fine-tune", min=1, metavar="N",
                                            help="first fine-tune the model (the general one by default) on N "
                                                 "labelled episodes of the target's train split (seed 0), then "
                                                 "evaluate; the tuned model goes beside the results"),
    fine_tune_epochs: int = typer.Option(30, min=1, help="epochs of --fine-tune"),
    per_kind: bool = typer.Option(False, "--per-kind", help="also print AC@1 / AC@3 per fault kind (TEP: per "
                                                            "disturbance)"),
    rcaeval: Optional[Path] = typer.Option(
        None, metavar="DIR", help="also write every method's rankings and scores in RCAEval's layout: "
                                  "DIR/EVALUATION/METHOD/results/*.json, report.csv|xlsx; DIR/EVALUATION/table.csv"),
) -> None:
    """Score the GNN and the baselines: AC@1, AC@3, Avg@5 per split and per fault kind (of a model that never
    saw the line with --zero-shot, or after fine-tuning it on a few episodes with --fine-tune N)."""
    from twin.harness.progress import progress_bar
    from twin.harness.rca.bench import GENERAL_MODEL, default_model, evaluate_dataset
    from twin.harness.rca.dataset import Dataset, line_identity

    _check_backend(backend)
    sweep = _sweep(plant, template)
    plant = sweep.name
    transfer = zero_shot or fine_tune is not None
    model = model or (GENERAL_MODEL if transfer else default_model(plant, dict(sweep.options)))
    model_path = None if str(model) == "none" else model
    if model_path is not None and not model_path.is_file():
        raise typer.BadParameter(f"no model at {model_path}; train one with `twin rootcause train`")
    if transfer and model_path is None:
        raise typer.BadParameter("--zero-shot and --fine-tune need a model, not 'none'")
    target = line_identity(plant, dict(sweep.options))
    mode = {"target": target, "zero_shot": zero_shot, "fine_tune_episodes": fine_tune,
            "base_model": str(model_path) if transfer else None}
    if zero_shot and model_path is not None:
        _refuse_seen(model_path, target)
    out = out or sweep.runs_dir / ("zero_shot.json" if zero_shot and fine_tune is None else
                                   f"fine_tune_{fine_tune}.json" if fine_tune is not None else "evaluation.json")
    if seed == TRAIN_SEED:
        console.print("note: seed 0 is the training sweep's seed; held-out-seed figures would not be held out")
    inputs = existing("model", [model_path]) + (existing("dataset", dataset) if dataset else
                                                existing("sweep", [sweep.base.source]))
    with lineage_job(f"rootcause.evaluate.{plant}", inputs, [file_dataset("evaluation", out)],
                     description="the root-cause GNN and the baselines, scored"):
        if fine_tune is not None and model_path is not None:
            model_path = _fine_tuned(model_path, sweep, fine_tune, fine_tune_epochs, jobs, backend, out)
            mode["fine_tuned_model"] = str(model_path)
        if dataset:
            loaded = [_load(p, plant, dict(sweep.options)) for p in dataset]
            ds = Dataset([s for d in loaded for s in d.samples], {k: v for d in loaded for k, v in d.tagmaps.items()},
                         {"files": [str(p) for p in dataset], "plant": plant, "plant_options": dict(sweep.options)})
        else:
            splits = list(dict.fromkeys(split for split, _ in sweep.evaluations.values()))
            ds = _generate([(s, episodes or sweep.settings.eval_episodes) for s in splits], seed, jobs, backend, sweep)
        with progress_bar(console) as bar:
            task = bar.add_task("diagnoses", total=None)
            results = evaluate_dataset(ds, model_path, rcaeval_dir=rcaeval, progress=lambda name, d, t: bar.update(
                task, completed=d, total=t, description=f"diagnoses: {name}"))
        payload = {"plant": plant, "seed": seed, "model": str(model_path) if model_path else None,
                   "transfer": mode, "evaluations": results}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2) + "\n")
    print_results(results)
    if per_kind:
        print_per_kind(results)
    pictures = draw_calibration(results, out)
    console.print(f"wrote {out}" + (f" and RCAEval's layout under {rcaeval}" if rcaeval else ""))
    console.print(f"reliability diagrams: {', '.join(str(p) for p in pictures)}", soft_wrap=True, markup=False)
    if card and model_path is not None:
        _write_card_metrics(model_path, results)


def _refuse_seen(model_path: Path, target: str) -> None:
    """``--zero-shot``: refuse a model whose card says it trained on ``target`` (or says nothing of its data)."""
    from rootcause.model import load_model

    _, card = load_model(model_path)
    data = card.get("data")
    seen = data.get("lines") if isinstance(data, dict) else None
    if seen is None:
        seen = [str(card.get("plant"))] if card.get("plant") else None
    if seen is None:
        raise typer.BadParameter(f"{model_path}: its card does not say what it trained on, so it cannot be "
                                 "evaluated zero-shot")
    if target in seen:
        raise typer.BadParameter(f"{model_path} was trained on {target} (its card: {', '.join(seen)}): that is "
                                 "not zero-shot; use the general model (twin rootcause train --dataset FAMILY.pkl)")


def _fine_tuned(base: Path, sweep: SweepPlant, episodes: int, epochs: int, jobs: int, backend: str,
                out: Path) -> Path:
    """``--fine-tune N``: N labelled episodes of the target's train split (seed 0), the base model trained on
    them for ``epochs`` more; written beside ``out`` with a card naming the base; returns its path."""
    from dataclasses import replace

    from rootcause.model import load_model, save_model
    from twin.harness.progress import progress_bar
    from twin.harness.rca.bench import train_on

    if "train" not in sweep.splits:
        raise typer.BadParameter(f"{sweep.name}'s sweep has no train split to fine-tune on")
    if episodes > 50:
        console.print(f"note: {episodes} episodes; the few-shot target is at most 50")
    ds = _generate([("train", episodes)], TRAIN_SEED, jobs, backend, sweep)
    base_model, base_card = load_model(base)
    config = replace(base_model.config, epochs=epochs, lr=1e-3, seed=0)
    started = time.perf_counter()
    with progress_bar(console) as bar:
        task = bar.add_task("fine-tuning", total=epochs)
        tuned, losses = train_on(ds, config, lambda e, t, loss: bar.update(task, completed=e), initial=base_model)
    path = out.with_name(out.stem + ".tuned.pt")  # its card: .tuned.json, not the results' file
    episodes_file = out.with_name(out.stem + ".tuned-episodes.pkl")
    card = model_card(ds, config, losses, time.perf_counter() - started, episodes_file, None,
                      fine_tune={"base_model": str(base), "base_version": base_card.get("version"),
                                 "base_lines": (base_card.get("data") or {}).get("lines"),  # type: ignore[union-attr]
                                 "episodes": episodes, "detected": ds.meta["detected"]})
    card["data"]["lines"] = [*(card["fine_tune"]["base_lines"] or []), *card["data"]["lines"]]
    ds.save(episodes_file)
    save_model(tuned, path, card)
    path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    console.print(f"fine-tuned {base} on {ds.meta['detected']}/{episodes} detected episodes of {sweep.name}, "
                  f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; wrote {path}")
    return path


@rootcause_app.command("calibrate")
def calibrate_cmd(
    dataset: Path = typer.Argument(..., help="a dataset the model neither trained on nor is evaluated on (twin "
                                             "rootcause dataset with a --seed of its own)"),
    split: Optional[str] = typer.Option(None, help="fit on this split of it only [default: all its episodes]"),
    model: Optional[Path] = typer.Option(None, help="GNN model file [default: rootcause.pt in the plant's folder; "
                                                    "for a family's dataset, the general model]"),
    plant: Optional[str] = typer.Option(None, help=PLANT_HELP),
    template: Optional[Path] = typer.Option(None, "--template", "--line", help=TEMPLATE_HELP),
) -> None:
    """Fit the GNN's confidence to the truth (temperature scaling) and keep it in the model card, so a
    diagnosis stated at 0.8 is right about 80 % of the time; prints the calibration error before and after."""
    from twin.harness.rca.bench import GENERAL_MODEL, calibrate, default_model

    sweep = _sweep(plant, template)
    ds = _load(dataset, sweep.name, dict(sweep.options))
    model_path = model or (GENERAL_MODEL if ds.is_family else default_model(sweep.name, dict(sweep.options)))
    if not model_path.is_file():
        raise typer.BadParameter(f"no model at {model_path}; train one with `twin rootcause train`")
    try:
        record = calibrate(ds, model_path, split)
    except ValueError as err:
        splits = sorted({s.spec.split for s in ds.samples})
        raise typer.BadParameter(f"{dataset}: {err}; splits in it: {splits}") from None
    console.print(f"temperature {record['temperature']:g} fitted on {record['cases']} cases of {dataset}: "
                  f"calibration error (ECE) {record['ece_before']:.3f} -> {record['ece_after']:.3f}; "
                  f"written into {model_path}'s card", soft_wrap=True, markup=False)


def print_results(results: dict[str, Any]) -> None:
    """One table: rows are evaluations x methods, columns the metrics and the calibration error of the
    confidence each method states (ECE: 0 when stated confidence matches the share right)."""
    from rich.table import Table

    table = Table(title="root cause: AC@1 / AC@3 / Avg@5, calibration")
    for col in ("evaluation", "method", "AC@1", "AC@3", "Avg@5", "ECE", "cases"):
        table.add_column(col, justify="left" if col in ("evaluation", "method") else "right", overflow="fold")
    for name, result in results.items():
        for method, scores in result["methods"].items():
            o = scores["overall"]
            ece = scores.get("calibration", {}).get("ece")
            table.add_row(name, method, f"{o['ac1']:.3f}", f"{o['ac3']:.3f}", f"{o['avg5']:.3f}",
                          "-" if ece is None else f"{ece:.3f}", f"{o['n']}/{result['episodes']}")
    Console().print(table)


def draw_calibration(results: dict[str, Any], out: Path) -> list[Path]:
    """A reliability diagram per evaluation beside the results file (``<out>.<evaluation>.reliability.png``):
    each method's stated confidence against its share right at rank 1."""
    from rootcause.calibration import Reliability, draw_reliability

    pictures = []
    for name, result in results.items():
        by_method = {method: Reliability.from_dict(s["calibration"])
                     for method, s in result["methods"].items() if "calibration" in s}
        if by_method:
            pictures.append(draw_reliability(by_method, out.with_name(f"{out.stem}.{name}.reliability.png"),
                                             title=f"{name}: stated confidence against right at rank 1"))
    return pictures


def print_per_kind(results: dict[str, Any]) -> None:
    """One table per evaluation: rows are fault kinds, columns each method's AC@1 / AC@3."""
    from rich.table import Table

    for name, result in results.items():
        methods = list(result["methods"])
        table = Table(title=f"{name}: AC@1 / AC@3 per fault kind")
        table.add_column("fault kind", no_wrap=True)  # kept whole: the method columns fold when the table is wide
        table.add_column("cases", justify="right", no_wrap=True)
        for method in methods:
            table.add_column(method, justify="right", overflow="fold")
        kinds = sorted({k for scores in result["methods"].values() for k in scores["per_kind"]})
        for kind in kinds:
            cells = [result["methods"][m]["per_kind"].get(kind) for m in methods]
            n = next((c["n"] for c in cells if c), 0)
            table.add_row(kind, str(n), *(f"{c['ac1']:.2f} / {c['ac3']:.2f}" if c else "-" for c in cells))
        Console().print(table)


def _write_card_metrics(model_path: Path, results: dict[str, Any]) -> None:
    from rootcause.model import update_card

    update_card(model_path, metrics={name: {m: r["overall"] for m, r in res["methods"].items()}
                                     for name, res in results.items()})
