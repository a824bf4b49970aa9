"""`tap evaluate` names the configured predictor's scorer whatever its model, scaling and families, so
the "− configured" column and the paired differences always refer to it; its permutation importance
uses the headline's grouped folds."""

import numpy as np
import pandas as pd
import pytest

from tap.api.predict import evaluate
from tap.api.runs import save_run_config
from tap.config import load_config
from tap.evaluate.importance import permutation_importances
from tap.labels.identity import cohort_hashes
from tap.labels.ledger import Ledger

COHORTS = 24
FAST = ["evaluate.bootstrap=40", "evaluate.repeats=1", "evaluate.random_draws=5", "evaluate.folds=4",
        "evaluate.loco_max_cohorts=8"]


def _run(tmp_path, overrides: list[str]):
    """A run folder of 24 cohorts (pairs share a pool item), 2 seeds, two R features."""
    run = tmp_path / "run"
    run.mkdir()
    config = load_config(None, ["label.seeds=2", *FAST, *overrides])
    save_run_config(run, config)
    rng = np.random.default_rng(0)
    ids = [f"c{c:04d}" for c in range(COHORTS)]
    subjects = np.array(["math", "code", "science", "knowledge"])[np.arange(COHORTS) % 4]
    items = pd.DataFrame({"cohort_id": ids, "prompt": [f"{c}+1=" for c in range(COHORTS)],
                          "gold": [str(c + 1) for c in range(COHORTS)], "subject": subjects,
                          "item_id": [f"i{c // 2}" for c in range(COHORTS)], "position": 0})
    items.to_parquet(run / "cohorts.parquet")
    truth = rng.normal(size=COHORTS)
    pd.DataFrame({"cohort_id": ids, "adv_std": truth + 0.3 * rng.normal(size=COHORTS),
                  "pass_rate_mean": rng.normal(size=COHORTS)}).to_parquet(run / "features.parquet")
    ledger = Ledger(run / "labels.sqlite")
    ledger.set_meta("last_label_hash", {"config_hash": "h"})
    hashes = cohort_hashes(items, "exact")
    for c, cohort in enumerate(ids):
        for seed in (0, 1):
            ledger.write({"cohort_id": cohort, "cohort_hash": hashes[cohort], "seed": seed, "config_hash": "h",
                          "status": "ok", "lift_pass": 0.01 * truth[c] + 0.001 * rng.normal(), "wall_seconds": 1.0,
                          "flops": 1.0})
    return run, config, tmp_path / "home"


@pytest.mark.parametrize(
    "overrides, name",
    [
        (["predictor.model=kernel", "predictor.scaling=subject", 'predictor.families=["R"]'], "TAP kernel+subject R"),
        (["predictor.model=ridge", "predictor.scaling=subject", 'predictor.families=["R"]'], "TAP ridge+subject R"),
    ],
)
def test_the_headline_is_the_configured_predictor(tmp_path, overrides, name):
    run, config, home = _run(tmp_path, overrides)
    metrics = evaluate(run, config=config, home=home, n_jobs=1)
    names = [entry["name"] for entry in metrics["scorers"]]
    assert metrics["headline"] == name and names.count(name) == 1
    assert metrics["paired"]["headline"] == name and "adv_std" in metrics["paired"]["minus_headline"]
    assert metrics["importance"]["scorer"] == name


def test_permutation_importance_keeps_item_groups_apart():
    """A feature that only identifies a cohort's item group predicts held-out cohorts of the same
    group (their labels are copies) when a group is split across folds, and nothing when it is not."""
    from sklearn.neighbors import KNeighborsRegressor

    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(20), 4)
    X = pd.DataFrame({"group_id": rng.normal(size=20)[groups], "noise": 1e-3 * rng.normal(size=80)})
    y = rng.normal(size=20)[groups]
    make = lambda: KNeighborsRegressor(n_neighbors=1)  # noqa: E731
    leaky = permutation_importances(make, X, y, seed=0).set_index("feature").importance
    grouped = permutation_importances(make, X, y, seed=0, groups=groups).set_index("feature").importance
    assert leaky["group_id"] > 0.5  # rows of one group on both sides: memorized
    assert abs(grouped["group_id"]) < 0.3
