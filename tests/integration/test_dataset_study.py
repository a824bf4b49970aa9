"""The real path end to end with the micro tiny model standing in for a real one (config overrides):
a GSM8K-schema vendor file -> `tap study --dry-run` -> `tap study` (dataset with a held-out probe,
rollouts, features, a label battery, evaluate, fit, report) -> `tap score --data --preset` on
another vendor file."""

import json
import random

import pandas as pd
import pytest

from tap.labels.ledger import Ledger
from tests.conftest import run_tap

pytestmark = pytest.mark.slow  # over ~10 s on 2 cores: `make test-all` and CI run it


def write_gsm8k(path, n, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        rows.append({"question": f"{a}+{b}=", "answer": f"{a}+{b}=<<{a}+{b}={a + b}>>{a + b}\n#### {a + b}"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def dataset_overrides(policy_dir, source):
    sets = [
        f'policy.model="{policy_dir}"',
        f'data.source="{source}"',
        "data.preset=gsm8k",
        "data.cohort_size=4",
        "data.probe_size=12",
        "data.max_new_tokens=6",
        "rollout.num_generations=4",
        "label.num_generations=4",
        "label.seeds=2",
        "label.steps=2",
        'study.families=["R", "F"]',
        "evaluate.bootstrap=50",
        "evaluate.random_draws=10",
    ]
    return [a for s in sets for a in ("--set", s)]


def test_dataset_study_end_to_end_then_score_a_vendor_file(micro_world, tap_home, tmp_path):
    write_gsm8k(tmp_path / "train.jsonl", 60, seed=0)
    write_gsm8k(tmp_path / "vendor.jsonl", 24, seed=1)
    sets = dataset_overrides(micro_world.policy_dir, tmp_path / "train.jsonl")
    env = {"TAP_HOME": str(tap_home)}

    dry = run_tap("study", "--dry-run", *sets, "--out", str(tmp_path / "run"), env=env)
    assert dry.returncode == 0, dry.stderr
    assert "12 cohorts of 4 items, probe of 12" in dry.stdout and "config, data and verifiers check out" in dry.stdout
    assert not (tmp_path / "run").exists()  # a dry run writes nothing

    full = run_tap("study", *sets, "--out", str(tmp_path / "run"), env=env)
    assert full.returncode == 0, full.stderr
    run = tmp_path / "run"
    items, cohorts = pd.read_parquet(run / "items.parquet"), pd.read_parquet(run / "cohorts.parquet")
    probe = items[items.split == "probe"]
    assert len(probe) == 12 and not set(probe.item_id) & set(cohorts.item_id)  # the probe is held out
    assert cohorts.cohort_id.nunique() == 12 and set(cohorts.verifier) == {"math"}
    rollouts = pd.read_parquet(run / "rollouts.parquet")
    assert len(rollouts) == 12 * 4 * 4 and rollouts.n_tokens.max() <= 6  # the data section's token budget
    ledger = Ledger(run / "labels.sqlite").table()
    assert (ledger.status == "ok").sum() == 24  # 12 cohorts x 2 seeds
    for name in ("features.parquet", "metrics.json", "predictor.skops", "report.html"):
        assert (run / name).exists(), name
    assert "loop" in full.stdout and "tiny world's vendors" in full.stdout  # the loop is off for a dataset study

    scored = run_tap("score", "--data", str(tmp_path / "vendor.jsonl"), "--preset", "gsm8k", "--size", "4",
                     "--predictor", str(run / "predictor.skops"), "--out", str(tmp_path / "scores.csv"), env=env)
    assert scored.returncode == 0, scored.stderr
    assert "dataset: mean predicted lift per cohort" in scored.stdout
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert (
        len(scores) == 6 and (scores.lo <= scores.predicted_lift).all() and (scores.predicted_lift <= scores.hi).all()
    )
    vendor_rollouts = pd.read_parquet(tmp_path / "scores.rollouts.parquet")
    assert vendor_rollouts.n_tokens.max() <= 6  # scored with the predictor's own sampling settings


def test_dry_run_rejects_gold_answers_their_verifier_cannot_match(micro_world, tap_home, tmp_path):
    rows = "".join(json.dumps({"q": f"Pick one {i}", "a": "purple" if i == 3 else "B"}) + "\n" for i in range(30))
    (tmp_path / "mcq.jsonl").write_text(rows)
    sets = [f'policy.model="{micro_world.policy_dir}"', f'data.source="{tmp_path / "mcq.jsonl"}"',
            'data.columns={prompt = "q", gold = "a"}', "data.subject=science", "data.verifier=mcq", "data.probe_size=4",
            "data.cohort_size=2"]
    result = run_tap("study", "--dry-run", *[a for s in sets for a in ("--set", s)], env={"TAP_HOME": str(tap_home)})
    assert result.returncode == 2
    assert "cannot earn a reward from their own verifier" in result.stderr and "'purple'" in result.stderr
