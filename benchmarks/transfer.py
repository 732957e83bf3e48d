"""How far one root-cause model transfers: zero-shot and few-shot on every plant and shipped line.

The study behind the README's transfer tables, run through the ``twin`` CLI so each step is the
command a user would type (every command is printed before it runs):

1. a family of generated lines (``scenarios/families/small_lines.yaml``): ``twin rootcause dataset
   --family`` (train split, seed 0), then ``twin rootcause train`` on it: the general model
   (``plant_models/line/rootcause.pt`` unless ``--model`` says otherwise);
2. per target (the coater, Tennessee Eastman, each template under ``scenarios/lines/``): evaluation
   episodes of every split its sweep evaluates (seed 1, ``--episodes`` each), made once and shared by:
   * ``twin rootcause evaluate --zero-shot`` (the general model, which never saw the target),
   * ``twin rootcause evaluate --fine-tune N`` (the general model after N labelled episodes of the target),
   * for the coater and TEP also their own shipped model (in-domain: trained on the plant itself);
   every method (the GNN and every baseline) is scored on the same cases;
3. a summary (AC@1 on held-out seeds per target: zero-shot, fine-tuned, own model, best baseline) and a
   Markdown table per target (AC@1 per evaluation and method), printed and written to ``OUT/transfer.md``,
   with the JSON of every evaluation under ``OUT/<target>/``.

    .venv/bin/python benchmarks/transfer.py                        # about 90 min on 2 cores
    .venv/bin/python benchmarks/transfer.py --targets leak_test coater --episodes 10 --family-episodes 100

Files already present are reused (``--fresh`` makes them again), so an interrupted study resumes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twin.harness.rca.sweep import sweep_plant  # noqa: E402

TWIN = [str(Path(sys.executable).parent / "twin")]  # the venv's console script
FAMILY = ROOT / "scenarios" / "families" / "small_lines.yaml"
GENERAL = ROOT / "plant_models" / "line" / "rootcause.pt"
SHIPPED = {"coater": ROOT / "plant_models" / "coater" / "rootcause.pt",
           "tennessee_eastman": ROOT / "plant_models" / "tennessee_eastman" / "rootcause.pt"}
METHOD_ORDER = ("gnn", "kg_earliest_onset", "baro", "pc_pagerank", "random_walk", "earliest_onset", "correlation")


def targets() -> dict[str, list[str]]:
    """Target name -> the CLI options choosing its sweep."""
    found = {"coater": ["--plant", "coater"], "tennessee_eastman": ["--plant", "tennessee_eastman"]}
    for template in sorted((ROOT / "scenarios" / "lines").glob("*/line.yaml")):
        found[template.parent.name] = ["--plant", "line", "--line", str(template)]
    return found


def run(args: list[str], skip_if: Path | None = None, fresh: bool = False) -> None:
    """Run one ``twin`` command (printed first), unless ``skip_if`` exists already."""
    if skip_if is not None and skip_if.exists() and not fresh:
        print(f"# reuse {skip_if.relative_to(ROOT) if skip_if.is_relative_to(ROOT) else skip_if}", flush=True)
        return
    print("$ twin " + " ".join(str(a) for a in args), flush=True)
    started = time.perf_counter()
    subprocess.run(TWIN + [str(a) for a in args], check=True, cwd=ROOT)
    print(f"# {time.perf_counter() - started:.0f} s", flush=True)


def sweep_of(options: list[str]) -> tuple[str, dict[str, str]]:
    """(plant, plant options) the CLI options name."""
    plant = options[1]
    return plant, ({"template": str(Path(options[3]).resolve())} if "--line" in options else {})


def study(out: Path, chosen: list[str], episodes: int, family_episodes: int, fine_tune: int, model: Path,
          jobs: int, fresh: bool) -> dict[str, dict[str, dict]]:
    """Run every step; returns target -> run name (zero_shot, fine_tune_N, in_domain) -> evaluation JSON."""
    family_train = out / "family" / "train.pkl"
    run(["rootcause", "dataset", "--family", FAMILY, "--episodes", family_episodes, "--seed", 0, "--jobs", jobs,
         "--out", family_train], family_train, fresh)
    run(["rootcause", "train", "--dataset", family_train, "--out", model], model, fresh)
    results: dict[str, dict[str, dict]] = {}
    for name, options in targets().items():
        if chosen and name not in chosen:
            continue
        folder = out / name
        plant, plant_options = sweep_of(options)
        sweep = sweep_plant(plant, plant_options)
        datasets = []
        for split in dict.fromkeys(split for split, _ in sweep.evaluations.values()):
            path = folder / f"{split}.pkl"
            run(["rootcause", "dataset", *options, "--split", split, "--episodes", episodes, "--seed", 1,
                 "--jobs", jobs, "--out", path], path, fresh)
            datasets += ["--dataset", path]
        runs = {"zero_shot": ["--zero-shot", "--model", model],
                f"fine_tune_{fine_tune}": ["--fine-tune", fine_tune, "--model", model]}
        if name in SHIPPED:
            runs["in_domain"] = ["--model", SHIPPED[name]]
        results[name] = {}
        for run_name, extra in runs.items():
            path = folder / f"{run_name}.json"
            run(["rootcause", "evaluate", *options, *datasets, *extra, "--jobs", jobs, "--out", path], path, fresh)
            results[name][run_name] = json.loads(path.read_text())
    return results


def table(name: str, runs: dict[str, dict]) -> str:
    """A Markdown table of one target: a row per (model, method), a column per evaluation, AC@1 (cases)."""
    evaluations = list(next(iter(runs.values()))["evaluations"])
    lines = [f"### {name}", "", "| model / method | " + " | ".join(evaluations) + " |",
             "|---|" + "---:|" * len(evaluations)]
    baselines = runs["zero_shot"]  # the baselines do not depend on the model: one run is enough
    rows = [(f"GNN, {run_name.replace('_', ' ')}", payload, "gnn") for run_name, payload in runs.items()]
    rows += [(method, baselines, method) for method in METHOD_ORDER if method != "gnn"]
    for label, payload, method in rows:
        lines.append(f"| {label} | " + " | ".join(_ac1(payload, e, method) for e in evaluations) + " |")
    cases = ", ".join(f"{e} {baselines['evaluations'][e]['detected']}" for e in evaluations)
    lines += ["", f"cases (detected episodes): {cases}", ""]
    return "\n".join(lines)


def _ac1(payload: dict | None, evaluation: str, method: str = "gnn") -> str:
    """AC@1 of ``method`` in ``evaluation`` of an evaluation's JSON (None: not run), or a dash."""
    scored = (payload or {}).get("evaluations", {}).get(evaluation, {}).get("methods", {}).get(method)
    return f"{scored['overall']['ac1']:.2f}" if scored else "–"


def summary(results: dict[str, dict[str, dict]], fine_tune: int) -> str:
    """One row per target: the GNN's AC@1 on held-out seeds zero-shot, fine-tuned and in-domain, beside the
    best baseline there (its name), and the cases."""
    lines = [f"| target | GNN zero-shot | GNN fine-tuned ({fine_tune} episodes) | own model | best baseline | cases |",
             "|---|---:|---:|---:|---|---:|"]
    for name, runs in results.items():
        seeds = runs["zero_shot"]["evaluations"]["heldout_seeds"]
        best = max((m for m in seeds["methods"] if m != "gnn"), key=lambda m: seeds["methods"][m]["overall"]["ac1"])
        cells = [_ac1(runs.get(run), "heldout_seeds") for run in ("zero_shot", f"fine_tune_{fine_tune}", "in_domain")]
        lines.append(f"| {name} | {' | '.join(cells)} | {best} {_ac1(runs['zero_shot'], 'heldout_seeds', best)} | "
                     f"{seeds['detected']} |")
    return "\n".join(lines)


def main() -> None:
    """Parse the arguments, run the study, print and write the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "rootcause" / "transfer")
    parser.add_argument("--targets", nargs="*", default=[], help="only these (coater, tennessee_eastman, a "
                                                                 "template folder's name)")
    parser.add_argument("--episodes", type=int, default=30, help="evaluation episodes per split and target")
    parser.add_argument("--family-episodes", type=int, default=800, help="training episodes of the family")
    parser.add_argument("--fine-tune", type=int, default=50, help="labelled target episodes for few-shot")
    parser.add_argument("--model", type=Path, default=GENERAL, help="the general model to write and evaluate")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--fresh", action="store_true", help="make every file again")
    args = parser.parse_args()
    unknown = set(args.targets) - set(targets())
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; known: {', '.join(targets())}")
    started = time.perf_counter()
    results = study(args.out, args.targets, args.episodes, args.family_episodes, args.fine_tune, args.model,
                    args.jobs, args.fresh)
    text = ("AC@1 on held-out seeds\n\n" + summary(results, args.fine_tune) + "\n\n"
            + "\n".join(table(name, runs) for name, runs in results.items()))
    (args.out / "transfer.md").write_text(text + "\n")
    print(text)
    print(f"# the whole study: {(time.perf_counter() - started) / 60:.0f} min; tables in {args.out / 'transfer.md'}")


if __name__ == "__main__":
    main()
