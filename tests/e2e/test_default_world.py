"""The default tiny world, built as `make demo` builds it (the slow test: ~3 min on 2 cores)."""

import pytest


pytestmark = pytest.mark.slow


def test_default_policy_is_pretrained_into_the_accuracy_band(default_world):
    info = default_world.pretrain
    assert info["in_band"], info["probe_table"]
    subjects = [row for row in info["probe_table"] if row["subject"] != "all"]
    assert len(subjects) == 4
    for row in subjects:
        assert 0.2 <= row["accuracy"] <= 0.8, row
    assert 400_000 <= info["parameters"] <= 2_000_000


def test_default_world_has_varied_vendor_cohorts(default_world):
    cohorts = default_world.cohorts.groupby("cohort_id").first()
    assert len(cohorts) == 64
    assert cohorts.vendor.nunique() >= 5
    assert default_world.cohorts.corrupted.any() and default_world.cohorts.off_format.any()


def test_default_policy_rollouts_have_both_rewards(default_world):
    from tap.policy.hf import HFPolicy
    from tap.rollouts import rollout_cohorts

    policy = HFPolicy.from_pretrained(default_world.policy_dir)
    part = default_world.cohorts[default_world.cohorts.cohort_id.isin([f"c{i:04d}" for i in range(16)])]
    table = rollout_cohorts(policy, part, num_generations=8, max_new_tokens=8)
    groups = table.groupby(["cohort_id", "position"]).reward.agg(["min", "max"])
    # some groups all right, some all wrong, some mixed: GRPO has signal to learn from
    assert 0.1 < table.reward.mean() < 0.9
    assert (groups["min"] < groups["max"]).mean() > 0.1
