"""A reasoning-gym item round-trips through cohorts, rollouts, features and one TRL label run on the
micro model, and the task's own score_answer is what judges it at every stage."""

import dataclasses
import math

import pytest

pytest.importorskip("reasoning_gym")

from tap.config import ReasoningGymTask, load_config  # noqa: E402
from tap.data.load import chunk_cohorts, load_items  # noqa: E402
from tap.features.groups import cohorts_from_rollouts  # noqa: E402
from tap.features.registry import compute_rollout_features  # noqa: E402
from tap.labels.battery import base_probe_metrics, label_hash, plan_units  # noqa: E402
from tap.labels.ledger import Ledger  # noqa: E402
from tap.labels.trl_run import run_label  # noqa: E402
from tap.rollouts import rollout_cohorts  # noqa: E402
from tap.verify import reasoning_gym as rgv  # noqa: E402


def test_reasoning_gym_items_through_rollouts_features_and_a_label_run(
    micro_world, micro_policy, tmp_path, monkeypatch
):
    tasks = [ReasoningGymTask(name="gcd", config={"max_value": 12}, count=12, prompt="short"),
             ReasoningGymTask(name="spell_backward", config={"max_word_len": 4}, count=12, prompt="short")]
    items = load_items("reasoning-gym", tasks=tasks)
    probe = items.groupby("task").head(2).reset_index(drop=True)
    cohorts = chunk_cohorts(items.drop(items.groupby("task").head(2).index).reset_index(drop=True), 4, by="subject")

    calls = []  # every reward below must come from the task's own score_answer
    for task in ("gcd", "spell_backward"):
        own = rgv.scorer(task)
        original = own.score_answer
        monkeypatch.setattr(
            own, "score_answer", lambda answer, entry, _o=original, _t=task: calls.append(_t) or _o(answer, entry)
        )

    rollouts = rollout_cohorts(micro_policy, cohorts, num_generations=4, max_new_tokens=6, temperature=1.0, seed=0)
    assert len(calls) == len(rollouts) == len(cohorts) * 4 and set(calls) == {"gcd", "spell_backward"}
    assert rollouts.reward.between(0, 1).all()

    features = compute_rollout_features(cohorts_from_rollouts(rollouts), tags={"R"})
    assert len(features) == cohorts.cohort_id.nunique() and math.isfinite(features.pass_rate_mean.iloc[0])

    config = load_config(
        None,
        [
            "label.steps=1",
            "label.num_generations=4",
            "label.max_completion_length=6",
            "label.probe_max_new_tokens=6",
            "label.probe_samples=2",
            "label.seeds=1",
            "label.probe_steps=[]",
        ],
    )
    sha = (micro_world.policy_dir / "weights.sha256").read_text().strip()
    config_hash = label_hash(config.label, sha, probe)
    calls.clear()
    before = base_probe_metrics(
        Ledger(tmp_path / "labels.sqlite"), config_hash, micro_world.policy_dir, probe, config.label
    )
    assert len(calls) == len(probe) * (1 + 2)  # greedy + 2 samples per probe item: not the exact-match shortcut
    unit = plan_units(
        cohorts[cohorts.cohort_id == cohorts.cohort_id.iloc[0]],
        probe,
        micro_world.policy_dir,
        config.label,
        config_hash,
        before,
        threads=1,
    )[0]
    assert all(v.startswith("reasoning_gym:") for v in unit.verifiers)
    # the probe's samples share the base measurement's random stream whatever the run's seed (common random
    # numbers): the unchanged base policy, recorded as a seed-1 run would record it, gives the base records exactly
    from tap.labels.trl_run import record_probe, settings_policy

    seed_one = dataclasses.replace(unit, seed=1)
    again = record_probe(settings_policy(unit.policy_dir, unit.settings), seed_one)
    base = Ledger(tmp_path / "labels.sqlite").details("probe_records", config_hash)
    assert again.pass_k.tolist() == base[base.step == 0].sort_values("item").pass_k.tolist()
    calls.clear()
    row = run_label(unit)
    assert row["status"] == "ok" and math.isfinite(row["lift_pass"]) and math.isfinite(row["lift_nll"])
    assert len(calls) >= 4 * 4 + len(probe) * 3  # TRL's rewards for 4 prompts x G = 4, then the probe after training


def test_tap_cohorts_reads_reasoning_gym_tasks(tmp_path):
    from tests.conftest import run_tap

    out = tmp_path / "c.jsonl"
    done = run_tap(
        "cohorts",
        "reasoning-gym",
        "--tasks",
        "gcd:max_value=200,lcm:max_value=100",
        "--count",
        "16",
        "--size",
        "4",
        "--by",
        "subject",
        "-o",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "8 cohorts of 4 from 32 items" in done.stdout and "subjects: gcd, lcm" in done.stdout
    import pandas as pd

    cohorts = pd.read_json(out, lines=True)
    assert (
        set(cohorts.verifier) == {"reasoning_gym:gcd", "reasoning_gym:lcm"} and (cohorts.subject == cohorts.task).all()
    )
    short = run_tap(
        "cohorts",
        "reasoning-gym",
        "--tasks",
        "gcd",
        "--count",
        "8",
        "--prompt",
        "short",
        "-o",
        str(tmp_path / "s.jsonl"),
    )
    assert short.returncode == 0, short.stderr
    assert (
        pd.read_json(tmp_path / "s.jsonl", lines=True).prompt.str.startswith("GCD of ").all()
    )  # as the tiny world reads them
    assert run_tap("cohorts", "reasoning-gym", "--tasks", "gcd", "--prompt", "long", "-o", str(out)).returncode == 2
    bad = run_tap("cohorts", "reasoning-gym", "--tasks", "gdc", "-o", str(out))
    assert bad.returncode == 2 and "did you mean gcd" in bad.stderr
    wrong = run_tap("cohorts", str(out), "--tasks", "gcd", "-o", str(tmp_path / "x.jsonl"))
    assert wrong.returncode == 2 and "--tasks is for the source reasoning-gym" in wrong.stderr
