"""A command on a run folder starts from the folder's config.toml, applies --set on top, and says
which of the folder's outputs the change left stale (the same stage table `tap study` reruns by)."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tap.api.runs import run_config, stale_outputs
from tap.cli import app
from tap.config import config_to_toml, load_config

RUN_SETTINGS = ['policy.model="/models/qwen"', "world.cohorts.count=5", "label.seeds=4", "rollout.num_generations=4"]
OUTPUTS = ("items.parquet", "cohorts.parquet", "rollouts.parquet", "features.parquet", "labels.sqlite", "metrics.json",
           "predictions.parquet", "predictor.skops", "report.html")


@pytest.fixture
def run(tmp_path) -> Path:
    (tmp_path / "config.toml").write_text(config_to_toml(load_config(None, RUN_SETTINGS)))
    for name in OUTPUTS:
        (tmp_path / name).write_text("")
    return tmp_path


def test_set_applies_on_top_of_the_run_folders_config(run):
    resolved = run_config(run, None, ["label.steps=6"], produces=("labels",))
    config = resolved.config
    assert (config.policy.model, config.world.cohorts.count, config.label.seeds, config.label.steps) == (
        "/models/qwen",
        5,
        4,
        6,
    )
    assert resolved.changed == ["label.steps"]
    # the labels are being made now; what was computed from the old labels is stale
    assert resolved.stale == ["metrics.json", "predictions.parquet", "predictor.skops", "report.html"]
    assert "tap study --out" in resolved.notes("tap label", run)[0]


def test_a_change_to_an_earlier_section_makes_its_outputs_stale(run):
    stale, changed = stale_outputs(
        run, load_config(run / "config.toml", ["rollout.temperature=0.5"]), produces=("evaluate",)
    )
    assert changed == ["rollout.temperature"]
    # labels do not depend on how rollouts are sampled; the features (and the report) do
    assert stale == ["rollouts.parquet", "features.parquet", "predictor.skops", "report.html"]
    assert stale_outputs(run, load_config(run / "config.toml")) == ([], [])  # no change, nothing stale


def test_an_explicit_config_file_replaces_the_folders(run, tmp_path_factory):
    other = tmp_path_factory.mktemp("cfg") / "other.toml"
    other.write_text(config_to_toml(load_config(None, ["label.steps=3"])))
    assert run_config(run, other, None).config.policy.model == ""


@pytest.mark.parametrize(("command", "api_module", "function"), [
    ("label", "tap.api.pipeline", "label"),
    ("loop", "tap.api.experiments", "loop"),
    ("intervention", "tap.api.experiments", "intervention"),
    ("fit", "tap.api.predict", "fit"),
    ("evaluate", "tap.api.predict", "evaluate"),
])
def test_every_run_command_keeps_the_run_settings(run, monkeypatch, command, api_module, function):
    import importlib

    import tap.api

    seen = {}

    class Stop(Exception):
        pass

    def spy(run_dir, *, config, **_):
        seen["config"] = config
        raise Stop

    monkeypatch.setattr(importlib.import_module(api_module), function, spy)
    monkeypatch.setattr(tap.api, function, spy)
    result = CliRunner().invoke(app, [command, str(run), "--set", "label.steps=6"])
    assert isinstance(result.exception, Stop), result.output
    config = seen["config"]
    assert (config.policy.model, config.world.cohorts.count, config.label.seeds, config.label.steps) == (
        "/models/qwen",
        5,
        4,
        6,
    )


def test_features_of_a_runs_rollouts_use_that_runs_policy(run, monkeypatch):
    """`tap features compute RUN/rollouts.parquet` reads F and G features with RUN's model, not the tiny one."""
    import pandas as pd

    import tap.api.pipeline as pipeline

    seen = {}

    class Stop(Exception):
        pass

    def spy(model, config, **_):
        seen.setdefault("models", []).append(config.policy.model)
        raise Stop

    rollouts = pd.DataFrame(
        {
            c: []
            for c in ("cohort_id", "position", "reward", "answer", "n_tokens", "finish_reason", "logprobs", "entropies")
        }
    )
    rollouts.to_parquet(run / "rollouts.parquet")
    pd.DataFrame({"cohort_id": ["c0"], "prompt": ["1+1="], "gold": ["2"], "subject": ["math"]}).to_parquet(
        run / "cohorts.parquet"
    )
    monkeypatch.setattr(pipeline, "forward_policy", spy)
    with pytest.raises(Stop):  # the Python API, with no config given
        pipeline.features(run / "rollouts.parquet", run / "f.parquet", families={"R", "F"})
    result = CliRunner().invoke(app, ["features", "compute", str(run / "rollouts.parquet"), "--families", "R,F"])
    assert isinstance(result.exception, Stop), result.output
    assert seen["models"] == ["/models/qwen", "/models/qwen"]
