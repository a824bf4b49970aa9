"""A run folder keeps its config and its labels stay labels of what was trained (issue 13):
`tap study --config A --out R`, then `tap label R --set ...` keeps every other setting of A, and
changing R's cohorts relabels them instead of pairing new features with old rows."""

import pytest
import json

import pandas as pd

from tap.config import load_config
from tap.labels.ledger import Ledger
from tests.conftest import run_tap
from tests.integration.test_dataset_study import write_gsm8k

pytestmark = pytest.mark.slow  # over ~10 s on 2 cores: `make test-all` and CI run it


def _config_file(path, policy_dir, source) -> None:
    path.write_text(f"""
[policy]
model = "{policy_dir}"

[data]
source = "{source}"
preset = "gsm8k"
cohort_size = 4
probe_size = 12
max_new_tokens = 6

[rollout]
num_generations = 4

[label]
num_generations = 4
seeds = 2
steps = 1

[study]
families = ["R"]

[evaluate]
bootstrap = 50
random_draws = 10
""")


def _stages(stdout: str) -> dict[str, tuple[str, str]]:
    rows = [line.split("│") for line in stdout.splitlines() if line.count("│") >= 4]
    return {cells[1].strip(): (cells[2].strip(), cells[4].strip()) for cells in rows}


def test_a_run_keeps_its_config_and_relabels_changed_cohorts(micro_world, tap_home, tmp_path):
    write_gsm8k(tmp_path / "train.jsonl", 60, seed=0)
    a = tmp_path / "A.toml"
    _config_file(a, micro_world.policy_dir, tmp_path / "train.jsonl")
    run = tmp_path / "R"
    env = {"TAP_HOME": str(tap_home)}
    study = run_tap("study", "--config", str(a), "--out", str(run), env=env)
    assert study.returncode == 0, study.stderr[-2000:]
    assert "24 label runs, 0 already in the ledger" in study.stdout

    relabel = run_tap("label", str(run), "--set", "label.steps=2", env=env)
    assert relabel.returncode == 0, relabel.stderr[-2000:]
    expected = load_config(a, ["label.steps=2"])
    assert load_config(run / "config.toml") == expected  # every other setting of A is still there
    assert "now stale: metrics.json, predictions.parquet, predictor.skops, report.html" in relabel.stderr
    assert "24 done" in relabel.stdout  # a new label config: everything is trained again...
    shown = run_tap("labels", "show", str(run), env=env)
    assert shown.returncode == 0, shown.stderr
    assert "24 rows of 1 other label config(s)" in shown.stderr  # ...and readers take only the current one
    assert "12 cohorts, 24 runs ok" in shown.stdout

    # Other cohorts in the same folder (cohort ids are positions): only changed ones are relabelled
    changed = run_tap("study", "--out", str(run), "--set", "data.cohort_size=3", env=env)
    assert changed.returncode == 0, changed.stderr[-2000:]
    status, detail = _stages(changed.stdout)["labels"]
    assert status == "ran" and detail == "32 label runs, 0 already in the ledger", detail
    config = load_config(run / "config.toml")
    assert (config.label.steps, config.data.cohort_size, config.policy.model) == (2, 3, str(micro_world.policy_dir))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["cohorts"] == 16 and any("items have changed" in line for line in metrics["label_notes"])
    ledger = Ledger(run / "labels.sqlite").table()
    current = pd.read_parquet(run / "cohorts.parquet").cohort_id.nunique()
    assert current == 16 and len(ledger) == 24 + 24 + 32

    # labelling other cohorts into the folder does not turn them into the folder's labels
    other = pd.read_parquet(run / "cohorts.parquet")
    other = other[other.cohort_id.isin(sorted(other.cohort_id.unique())[:2])].assign(gold="999")
    other.to_parquet(tmp_path / "other.parquet")
    extra = run_tap("label", str(run), "--cohorts", str(tmp_path / "other.parquet"), "--seeds", "1", env=env)
    assert extra.returncode == 0, extra.stderr[-2000:]
    # set aside: the 24 rows of the 4-item cohorts (same ids, other items) and the 2 just labelled
    assert "2 done" in extra.stdout and "set aside 26 rows of cohorts whose items have changed" in extra.stderr
