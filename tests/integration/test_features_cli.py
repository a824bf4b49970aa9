"""`tap features` on real rollouts of the micro tiny model."""

import math

import numpy as np
import pytest
import pandas as pd

from tap.features.compute import build_features, feature_columns
from tap.features.registry import FEATURES
from tap.rollouts import rollout_cohorts
from tests.conftest import MICRO, run_tap


def test_features_list_prints_every_feature_with_its_tag():
    result = run_tap("features", "list")
    assert result.returncode == 0
    for name in list(FEATURES) + [
        "gold_nll",
        "probe_similarity",
        "cohort_diversity",
        "head_align_dot",
        "head_align_cos",
    ]:
        assert name in result.stdout


def test_features_compute_writes_one_row_per_cohort_with_costs(micro_world, micro_policy, tap_home, tmp_path):
    part = micro_world.cohorts[micro_world.cohorts.cohort_id.isin(["c0000", "c0001", "c0002"])]
    part.to_parquet(tmp_path / "cohorts.parquet")
    rollout_cohorts(micro_policy, part, num_generations=4, max_new_tokens=6).to_parquet(tmp_path / "rollouts.parquet")
    sets = [a for s in MICRO for a in ("--set", s)]
    result = run_tap("features", "compute", str(tmp_path / "rollouts.parquet"), *sets, env={"TAP_HOME": str(tap_home)})
    assert result.returncode == 0, result.stderr
    table = pd.read_parquet(tmp_path / "features.parquet")
    assert sorted(table.cohort_id) == ["c0000", "c0001", "c0002"]
    for column in ("cost_R_seconds", "cost_F_seconds", "cost_F_forward_tokens", "cost_F_flops"):
        assert (table[column] >= 0).all()
    rollouts = pd.read_parquet(tmp_path / "rollouts.parquet")
    for column, source in (("cost_rollout_seconds", "gen_seconds"), ("cost_rollout_flops", "gen_flops")):
        np.testing.assert_allclose(
            table.set_index("cohort_id")[column].sort_index(), rollouts.groupby("cohort_id")[source].sum().sort_index()
        )
    assert (table.cost_F_forward_tokens > 0).all()
    assert {
        "gold_nll",
        "probe_similarity",
        "cohort_diversity",
        "head_align_dot",
        "head_align_cos",
        "head_align_adam",
    } <= set(table)
    for _, row in table.iterrows():
        for name in feature_columns(table):
            if isinstance(row[name], float) and math.isnan(row[name]):
                assert name in row["undefined"], (name, row["undefined"])


def test_gold_nll_feature_is_the_mean_item_nll(micro_world, micro_policy):
    part = micro_world.cohorts[micro_world.cohorts.cohort_id == "c0003"]
    rollouts = rollout_cohorts(micro_policy, part, num_generations=2, max_new_tokens=4)
    table = build_features(rollouts, {"R", "F"}, items=part, policy=micro_policy, probe=micro_world.probe)
    expected = micro_policy.score_gold(list(part.prompt), list(part.gold)).mean()
    assert table.gold_nll.iloc[0] == pytest.approx(expected, rel=1e-6)  # a shared pass: float rounding apart
    assert -1.0 <= table.probe_similarity.iloc[0] <= 1.0 and 0.0 <= table.cohort_diversity.iloc[0] <= 2.0


def test_gradient_family_on_request(micro_world, micro_policy):
    part = micro_world.cohorts[micro_world.cohorts.cohort_id.isin(["c0004", "c0005"])]
    rollouts = rollout_cohorts(micro_policy, part, num_generations=4, max_new_tokens=4)
    table = build_features(rollouts, {"R", "G"}, items=part, policy=micro_policy, probe=micro_world.probe)
    for column in ("grad_dot", "grad_cos", "grad_adam", "head_grad_dot", "cost_G_seconds", "cost_G_flops"):
        assert column in table and table[column].notna().all()
    assert table.head_tied.all() and (table.grad_projection_dim == 0).all()  # 0.8M params: exact mode
    assert "gold_nll" not in table  # F was not asked for


def test_rollouts_file_without_the_right_columns_is_an_input_error(tmp_path):
    pd.DataFrame({"cohort_id": ["a"], "prompt": ["x"]}).to_parquet(tmp_path / "r.parquet")
    result = run_tap("features", "compute", str(tmp_path / "r.parquet"), "--families", "R")
    assert result.returncode == 2 and "missing column" in result.stderr and "Traceback" not in result.stderr
