"""Root-cause sweep settings: data in each plant's folder (``sweep.yaml``), loaded with errors that name the
field and its line, and the episodes they plan, checked against what the settings say (nothing runs here)."""

from __future__ import annotations

import fnmatch
import shutil
import tomllib
from pathlib import Path
from textwrap import dedent

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from plant_models.registry import build_plant, plant_spec
from plant_models.spec import SWEEP_FILE, PlantSpec, load_sweep_settings
from qtconfig import ConfigError
from tests.conftest import REPO
from twin.cli import app
from twin.harness.rca.dataset import EpisodeSpec, load_dataset, sample_specs, truth_label, variant_tagmap
from twin.harness.rca.sweep import sweep_plant
from twin.harness.scenario import load_scenario

REPO_LINES = REPO / "scenarios" / "lines"
SPOT_WELDING = REPO_LINES / "spot_welding"
SWEPT = ("coater", "tennessee_eastman")


def line_of(text: str, fragment: str) -> int:
    """The 1-based line of ``text`` holding ``fragment``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def with_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / SWEEP_FILE
    path.write_text(text)
    return path


@pytest.mark.parametrize("plant", [*SWEPT, "line"])
def test_every_sweep_file_is_in_its_plant_folder_and_ships_in_the_wheel(plant: str) -> None:
    spec = plant_spec(plant)
    path = spec.sweep_file()
    assert path == spec.folder() / SWEEP_FILE
    assert load_sweep_settings(path).splits
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["*"]
    assert any(fnmatch.fnmatch(SWEEP_FILE, pattern) for pattern in package_data)


def test_a_plant_folder_without_a_sweep_file_has_no_sweep() -> None:
    spec = PlantSpec(name="bare", description="", build=lambda seed, options: None, package="plant_models")  # type: ignore[arg-type,return-value]
    assert spec.sweep_file() is None and spec.sweep_settings() is None
    with pytest.raises(ValueError, match="no root-cause sweep for plant 'tep'; plants: coater, line, tennessee_ea"):
        sweep_plant("tep")


def test_a_bad_value_names_the_field_and_its_line(tmp_path: Path) -> None:
    text = plant_spec("coater").sweep_file().read_text().replace("onset_s: [190, 240]", "onset_s: [240, 190]")
    path = with_file(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_sweep_settings(path)
    line = line_of(text, "[240, 190]")
    assert str(err.value).startswith(str(path))
    assert f"field splits.heldout_magnitude.onset_s (line {line}): " in str(err.value)
    assert "low <= high" in str(err.value)


def test_an_unknown_key_gets_a_did_you_mean_and_the_base_run_may_not_set_an_episodes_fields(tmp_path: Path) -> None:
    text = plant_spec("coater").sweep_file().read_text()
    text = text.replace("detect_within_s: 90", "detect_within: 90").replace("  endpoints: virtual", "  seed: 3")
    with pytest.raises(ConfigError) as err:
        load_sweep_settings(with_file(tmp_path, text))
    message = str(err.value)
    assert f"field detect_within (line {line_of(text, 'detect_within:')}): unknown key 'detect_within'; " \
           "did you mean 'detect_within_s'?" in message
    assert f"field base (line {line_of(text, 'base:')}): " in message and "seed: set by the sweep" in message


def test_settings_are_checked_against_the_plants_fault_catalogue(tmp_path: Path) -> None:
    text = (plant_spec("coater").sweep_file().read_text()
            .replace("heldout_targets: [coater.blade3]", "heldout_targets: [coater.blade9]")
            .replace("knowledge_drop_20: {split: heldout_seeds", "knowledge_drop_20: {split: heldout_seed"))
    path = with_file(tmp_path, text)
    load_sweep_settings(path)  # well-formed: only the plant can say what is wrong
    with pytest.raises(ConfigError) as err:
        load_sweep_settings(path, plant_spec("coater").fault_catalogue)
    message = str(err.value)
    assert f"field heldout_targets[0] (line {line_of(text, 'coater.blade9')}): 'coater.blade9' is no target" in message
    assert (f"field evaluations.knowledge_drop_20.split (line {line_of(text, 'heldout_seed,')}): "
            "unknown split 'heldout_seed'") in message


@pytest.mark.parametrize(("plant", "scenario"), [("coater", "coater_coil_ageing.yaml"),
                                                 ("tennessee_eastman", "tep_clean.yaml")])
def test_the_base_run_keeps_the_edge_settings_of_the_scenario_it_came_from(plant: str, scenario: str) -> None:
    """The folder carries the base run (a wheel has no scenarios/): it must stay what the example scenario runs,
    so a run of that scenario diagnoses with what a model trained on the sweep saw."""
    sweep, example = sweep_plant(plant), load_scenario(REPO / "scenarios" / scenario)
    for name in ("detection", "rootcause", "control", "alignment", "plugins", "endpoints", "tag_map", "plant_options"):
        assert getattr(sweep.base, name) == getattr(example, name), name
    assert sweep.base.plant == plant and sweep.base.faults == []
    assert sweep.scan_ms == sweep.settings.scan_ms and sweep.evidence() == example.rootcause.evidence


def splits_of(*plants: str) -> list[tuple[str, str]]:
    return [(plant, split) for plant in plants for split in plant_spec(plant).sweep_settings().splits]


@pytest.mark.parametrize(("plant", "split"), splits_of(*SWEPT))
def test_a_plan_follows_the_rules_of_its_split(plant: str, split: str) -> None:
    sweep = sweep_plant(plant)
    rule, settings = sweep.splits[split], sweep.settings
    specs = sample_specs(split, 60, 3, plant=plant)
    assert specs == sample_specs(split, 60, 3, plant=plant)  # the same seed, the same plan
    assert specs != sample_specs(split, 60, 4, plant=plant)
    catalogue = {(r.kind, r.target): r for r in sweep.catalogue(rule.variant)}
    tagmap = variant_tagmap(sweep, rule.variant)
    for i, s in enumerate(specs):
        assert (s.split, s.index, s.plant, s.variant, s.plant_options) == (split, i, plant, rule.variant, ())
        assert rule.onset_s[0] <= s.onset_s <= rule.onset_s[1]
        assert any(lo <= s.quantile <= hi for lo, hi in rule.quantiles)
        entry = catalogue.get((s.kind, s.target)) or catalogue[(s.kind, "*")]
        scale = tagmap[s.target].high - tagmap[s.target].low if entry.relative else 1.0
        assert abs(s.magnitude) == pytest.approx((entry.low + s.quantile * (entry.high - entry.low)) * scale, abs=1e-6)
        assert s.magnitude >= 0 or entry.signed
        held = settings.held_out(s.target)
        assert {"all": True, "not_heldout": not held, "only_heldout": held}[rule.targets], s
        assert settings.targets is None or s.target in settings.targets


def test_held_out_targets_are_drawn_by_the_held_out_split_only() -> None:
    for plant in SWEPT:
        settings = sweep_plant(plant).settings
        for split, rule in settings.splits.items():
            held = {settings.held_out(s.target) for s in sample_specs(split, 80, 0, plant=plant)}
            assert held == {"all": {True, False}, "not_heldout": {False}, "only_heldout": {True}}[rule.targets], split


def test_the_coater_draws_sensor_and_process_faults_at_even_odds() -> None:
    specs = sample_specs("train", 400, 0)
    assert 0.4 < sum(s.label_kind == "sensor" for s in specs) / len(specs) < 0.6
    assert {s.variant for s in sample_specs("line_variant", 5, 0)} == {6}


def test_tep_takes_the_disturbances_in_turn_in_catalogue_order() -> None:
    sweep = sweep_plant("tennessee_eastman")
    for split, rule in sweep.splits.items():
        pool = [r.target for r in sweep.catalogue(0) if r.target in sweep.settings.targets
                and {"not_heldout": not sweep.settings.held_out(r.target),
                     "only_heldout": sweep.settings.held_out(r.target), "all": True}[rule.targets]]
        specs = sample_specs(split, 2 * len(pool) + 1, 5, plant="tennessee_eastman")
        assert [s.target for s in specs] == (pool * 3)[:len(specs)], split


def test_a_template_line_gets_the_generic_sweep_of_its_fault_catalogue() -> None:
    options = {"template": str(SPOT_WELDING / "line.yaml")}
    sweep = sweep_plant("line", options)
    assert sweep.settings.source == plant_spec("line").folder() / SWEEP_FILE
    assert (sweep.base.plant, sweep.base.plant_options, sweep.scan_ms) == ("line", options, 100)
    assert sweep.runs_dir == Path("runs/rootcause/line/spot_welding")
    targets = build_plant("line", 1, options).fault_targets()
    kinds = {r.kind for r in plant_spec("line").fault_catalogue(options)}
    rule = sweep.splits["train"]
    specs = sample_specs("train", 60, 0, plant="line", options=options)
    assert specs == sample_specs("train", 60, 0, plant="line", options=options)
    for s in specs:
        assert s.plant == "line" and s.options == options and s.kind in kinds and s.target in targets[s.kind]
        assert rule.onset_s[0] <= s.onset_s <= rule.onset_s[1]
        assert s.target.startswith(truth_label(s))  # a sensor: the tag; a condition: its asset
    assert {s.label_kind for s in specs} == {"sensor", "process"}
    assert "plant_options" in specs[0].digest_record()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), template=st.sampled_from(sorted(REPO_LINES.glob("*/line.yaml"))))
def test_every_magnitude_a_line_sweep_draws_is_one_the_line_accepts(seed: int, template: Path) -> None:
    """Both signs of a range that spans zero unevenly (the motor's bench offset, -3..6) stay inside it."""
    from plant_models.line.compile import compile_template
    from plant_models.line.faults import condition_of, magnitude_range
    from plant_models.line.template import load_template

    options = {"template": str(template)}
    compiled = compile_template(load_template(template))
    for s in sample_specs("heldout_magnitude", 12, seed, plant="line", options=options):
        if s.label_kind == "process":
            low, high = magnitude_range(condition_of(s.target, compiled), compiled)
            assert low <= s.magnitude <= high, (s.target, s.magnitude)


def test_a_sweep_file_beside_a_template_replaces_the_generic_one(tmp_path: Path) -> None:
    for name in ("line.yaml", "spot_welding_clean.yaml"):
        shutil.copy(SPOT_WELDING / name, tmp_path / name)
    with_file(tmp_path, dedent("""\
        detect_within_s: 200
        heldout_targets: [weld.cable]
        splits:
          train: {quantiles: [[0.2, 0.8]], onset_s: [160, 200]}
          heldout_target: {quantiles: [[0.2, 0.8]], onset_s: [160, 200], targets: only_heldout}
        evaluations:
          heldout_target: {split: heldout_target}
        base: spot_welding_clean.yaml    # the line's clean scenario: its tuned detection
        """))
    options = {"template": str(tmp_path / "line.yaml")}
    sweep = sweep_plant("line", options)
    clean = load_scenario(tmp_path / "spot_welding_clean.yaml")
    assert sweep.base.detection == clean.detection and sweep.scan_ms == clean.scan_ms
    assert sweep.evaluations == {"heldout_target": ("heldout_target", 0.0)}
    held = sample_specs("heldout_target", 30, 0, plant="line", options=options)
    assert all(s.target.startswith("weld.cable") for s in held)
    assert not any(s.target.startswith("weld.cable") for s in sample_specs("train", 60, 0, plant="line",
                                                                          options=options))


def test_a_bad_base_run_names_the_field_and_its_line(tmp_path: Path) -> None:
    shutil.copy(SPOT_WELDING / "line.yaml", tmp_path / "line.yaml")
    text = dedent("""\
        detect_within_s: 200
        splits:
          train: {quantiles: [[0.2, 0.8]], onset_s: [160, 200]}
        base:
          detection:
            warmup_s: -5
        """)
    with_file(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"field base.detection.warmup_s \(line {line_of(text, 'warmup_s')}\): "
                                          "Input should be greater than 0"):
        sweep_plant("line", {"template": str(tmp_path / "line.yaml")})


def test_an_episode_pickled_before_plant_options_reads_as_one_without() -> None:
    """Datasets written before episodes carried plant options load with none (the class default)."""
    spec = EpisodeSpec("train", 0, 1, 4, "step", "coater.blade1", 0.5, 0.5, 150.0)
    del spec.__dict__["plant_options"]
    assert spec.plant_options == () and "plant_options" not in spec.digest_record()


def test_the_cli_names_a_line_by_its_template() -> None:
    template = str(SPOT_WELDING / "line.yaml")
    for args, expected in ((["--plant", "line"], "--plant line needs --template"),
                           (["--plant", "coater", "--template", template], "goes with --plant line, not coater"),
                           (["--template", template, "--split", "line_variant"], "unknown split 'line_variant'")):
        result = CliRunner().invoke(app, ["rootcause", "dataset", *args])
        assert result.exit_code != 0 and expected in " ".join(result.output.replace("│", " ").split()), result.output


@pytest.mark.slow  # runs two line episodes offline
def test_twin_rootcause_dataset_runs_episodes_of_a_template_line(tmp_path: Path) -> None:
    template, out = SPOT_WELDING / "line.yaml", tmp_path / "line.pkl"
    result = CliRunner().invoke(app, ["rootcause", "dataset", "--template", str(template), "--episodes", "2",
                                      "--backend", "serial", "--out", str(out)])
    assert result.exit_code == 0, result.output
    dataset = load_dataset(out)
    assert (dataset.plant, dataset.plant_options) == ("line", {"template": str(template.resolve())})
    assert [s.spec for s in dataset.samples] == sample_specs("train", 2, 0, plant="line",
                                                              options=dataset.plant_options)
    assert dataset.meta["scan_ms"] == 100 and any(s.detected for s in dataset.samples)
