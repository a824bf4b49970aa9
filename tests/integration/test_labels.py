"""Label runs on TRL with the default tiny policy: determinism, real training, resume, executors.

The default world (built once per session, shared with the e2e tests) is used because a barely
pretrained policy gets reward 0 everywhere, so GRPO has no advantage to learn from."""

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tap import api
from tap.config import load_config
from tap.labels.battery import base_probe_metrics, label_hash, plan_units
from tap.labels.ledger import Ledger
from tap.labels.trl_run import run_label, train_cohort
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # over ~10 s on 2 cores: `make test-all` and CI run it

LABEL = ["label.steps=2", "label.num_generations=4", "label.max_completion_length=6"]


@pytest.fixture(scope="module")
def config():
    return load_config(None, LABEL)


@pytest.fixture(scope="module")
def units(default_world, config, tmp_path_factory):
    ledger = Ledger(tmp_path_factory.mktemp("ledger") / "labels.sqlite")
    probe = default_world.probe
    sha = (default_world.policy_dir / "weights.sha256").read_text().strip()
    config_hash = label_hash(config.label, sha, probe)
    before = base_probe_metrics(ledger, config_hash, default_world.policy_dir, probe, config.label)
    cohorts = default_world.cohorts[default_world.cohorts.cohort_id.isin(["c0000", "c0001"])]
    return plan_units(cohorts, probe, default_world.policy_dir, config.label, config_hash, before, threads=2)


def test_same_cohort_and_seed_give_the_same_lift(units):
    first, second = run_label(units[0]), run_label(units[0])
    assert first["lift_nll"] == second["lift_nll"] and first["delta_accuracy"] == second["delta_accuracy"]
    other_seed = run_label(units[1])
    assert other_seed["seed"] != first["seed"] and other_seed["lift_nll"] != first["lift_nll"]
    assert first["generated_tokens"] > 0 and first["trained_tokens"] > first["generated_tokens"]
    assert first["flops"] > 6 * first["parameters"] * first["trained_tokens"]


def test_training_changes_every_parameter(units):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    unit = units[0]
    tokenizer = AutoTokenizer.from_pretrained(unit.policy_dir)
    model = AutoModelForCausalLM.from_pretrained(unit.policy_dir)
    base = {name: p.detach().clone() for name, p in model.named_parameters()}
    train_cohort(unit, model, tokenizer)
    unchanged = [name for name, p in model.named_parameters() if torch.equal(p, base[name])]
    assert not unchanged, unchanged


def _rows(db: Path) -> list[tuple]:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute(
                "SELECT cohort_id, seed, lift_nll, delta_accuracy FROM labels WHERE status='ok' ORDER BY 1, 2"
            ).fetchall()
    except sqlite3.OperationalError:  # the battery has created the file but not yet its tables
        return []


def _label_cmd(run: Path, home: Path) -> list[str]:
    sets = [a for s in LABEL for a in ("--set", s)]
    return [
        sys.executable,
        "-m",
        "tap.cli",
        "label",
        str(run),
        *sets,
        "--seeds",
        "2",
        "--max-cohorts",
        "8",
        "--home",
        str(home),
    ]


def test_sigkilled_battery_resumes_to_the_same_ledger(default_world, tap_home, tmp_path):
    for name in ("killed", "clean"):
        (tmp_path / name).mkdir()
        default_world.cohorts.to_parquet(tmp_path / name / "cohorts.parquet")
    env = dict(os.environ, TAP_HOME=str(tap_home))
    proc = subprocess.Popen(_label_cmd(tmp_path / "killed", tap_home), cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = tmp_path / "killed" / "labels.sqlite"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if db.exists() and len(_rows(db)) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the battery finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = _rows(db)
    assert 2 <= len(partial) < 16
    resumed = subprocess.run(
        _label_cmd(tmp_path / "killed", tap_home), cwd=REPO, env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "already in the ledger" in resumed.stdout
    clean = subprocess.run(_label_cmd(tmp_path / "clean", tap_home), cwd=REPO, env=env, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr
    killed_rows, clean_rows = _rows(db), _rows(tmp_path / "clean" / "labels.sqlite")
    assert len(killed_rows) == 16 and len({(c, s) for c, s, *_ in killed_rows}) == 16
    assert killed_rows == clean_rows


def test_ray_executor_retries_and_records_failures(default_world, config, tap_home):
    pytest.importorskip("ray")
    # a long run-folder path: Ray's temp dir is then linked from it (unix socket paths are short)
    run = Path(tempfile.mkdtemp(prefix="tapray-", dir="/tmp")) / ("deep" * 12) / "run"
    run.mkdir(parents=True)
    default_world.cohorts.to_parquet(run / "cohorts.parquet")
    result = api.label(
        run, config=config, max_cohorts=3, seeds=1, workers=2, executor="ray", retries=1, home=tap_home,
        fail_times={"c0001": 1, "c0002": 99},
    )
    assert (result.succeeded, result.failed) == (2, 1)
    table = Ledger(run / "labels.sqlite").table().set_index("cohort_id")
    assert table.loc["c0000", "status"] == "ok" and table.loc["c0000", "attempts"] == 1
    assert table.loc["c0001", "status"] == "ok" and table.loc["c0001", "attempts"] == 2
    assert table.loc["c0002", "status"] == "failed" and "injected failure 2" in table.loc["c0002", "error"]
    assert (run / "ray").is_dir()


def test_lifts_are_recomputed_exactly_from_the_per_item_records(default_world, config, tap_home, tmp_path):
    """Every target is a mean over probe items of the records: the ledger's lifts come out again, exactly."""
    default_world.cohorts.to_parquet(tmp_path / "cohorts.parquet")
    default_world.items.to_parquet(tmp_path / "items.parquet")
    api.label(tmp_path, config=config, max_cohorts=1, seeds=1, home=tap_home)
    ledger = Ledger(tmp_path / "labels.sqlite")
    row = ledger.table().iloc[0]
    records = ledger.details("probe_records", row.config_hash)
    base = records[records.seed == -1].sort_values("item")
    final = records[(records.seed == row.seed) & (records.step == config.label.steps)].sort_values("item")
    assert len(base) == len(final) == len(default_world.probe)
    assert row.lift_nll == base.gold_nll.mean() - final.gold_nll.mean()
    assert row.delta_accuracy == final.greedy_correct.mean() - base.greedy_correct.mean()
    expected_accuracy = lambda r: np.exp(r.gold_logprob_sum.to_numpy())  # noqa: E731  (exact verifier: one canonical string)
    assert row.lift_pass == pytest.approx(expected_accuracy(final).mean() - expected_accuracy(base).mean(), abs=1e-15)
    assert set(records[records.seed == row.seed].step) == {
        1,
        config.label.steps,
    }  # probe_steps [1, 3] within 2 steps: 1 and the end
    steps = ledger.details("label_steps", row.config_hash)
    assert list(steps.step) == [1, config.label.steps] and (steps.train_seconds > 0).all()
    first = ledger.details("first_steps", row.config_hash)
    cohort = default_world.cohorts[default_world.cohorts.cohort_id == row.cohort_id]
    assert len(first) == len(cohort) * config.label.num_generations and set(first.prompt) <= set(cohort.prompt)


def test_looking_at_the_probe_mid_run_does_not_change_the_run(units):
    unit = units[0]
    quiet = dataclasses.replace(unit, settings={**unit.settings, "probe_steps": []})
    looked, not_looked = (
        run_label(dataclasses.replace(unit, settings={**unit.settings, "probe_steps": [1]})),
        run_label(quiet),
    )
    assert (looked["lift_nll"], looked["lift_pass"], looked["delta_accuracy"]) == (
        not_looked["lift_nll"],
        not_looked["lift_pass"],
        not_looked["delta_accuracy"],
    )
    assert {r["step"] for r in looked["records"]} == {1, unit.settings["steps"]} and {
        r["step"] for r in not_looked["records"]
    } == {unit.settings["steps"]}
