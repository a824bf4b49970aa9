"""Readers of a battery use one seed set for every cohort: after `tap label RUN --seeds 4` is stopped
part-way, `tap evaluate` and `tap fit` keep the three seeds every cohort has (and say the fourth was
set aside) instead of silently keeping only the cohorts that got the fourth."""

import numpy as np
import pandas as pd
import pytest

from tap.api.predict import _labelled_features
from tap.api.runs import save_run_config
from tap.config import load_config
from tap.labels.identity import cohort_hashes
from tap.labels.ledger import Ledger

COHORTS = 12


def _rows(seeds_of: dict[str, list[int]], value=lambda c, s: 0.01 * c + 0.001 * s) -> pd.DataFrame:
    return pd.DataFrame([{"cohort_id": f"c{c:04d}", "seed": s, "status": "ok", "lift_pass": value(c, s)}
                         for c, (_, seeds) in enumerate(seeds_of.items()) for s in seeds])


def test_an_unfinished_extra_seed_is_set_aside_not_the_cohorts_without_it():
    from tap.labels.summary import seed_table

    seeds = {f"c{c:04d}": [0, 1, 2, 3] if c < 5 else [0, 1, 2] for c in range(COHORTS)}
    wide, notes = seed_table(_rows(seeds), "lift_pass", range(4))
    assert wide.shape == (COHORTS, 3) and list(wide.columns) == [0, 1, 2]
    assert notes == [
        "seed 3 is finished for 5 of 12 cohorts: set aside, as keeping it would leave out the 7 without it "
        "(`tap label` on the run finishes it)"
    ]


def test_a_failed_run_drops_its_cohort_and_seeds_outside_the_configuration_are_named():
    from tap.labels.summary import seed_table

    seeds = {f"c{c:04d}": [0, 2] if c == 0 else [0, 1, 2, 5] for c in range(COHORTS)}
    wide, notes = seed_table(_rows(seeds), "lift_pass", range(3))
    assert wide.shape == (COHORTS - 1, 3) and "c0000" not in wide.index
    assert notes[0].startswith("set aside 11 runs of seeds 5, outside the configured seeds 0, 1, 2")
    assert notes[1] == "left out 1 cohorts missing a run of seeds 0, 1, 2 (failed or not yet run)"
    nothing, notes = seed_table(_rows(seeds), "lift_pass", range(7, 9))  # none of the configured seeds ran
    assert nothing.empty and notes[0].startswith("set aside 46 runs of seeds 0, 1, 2, 5, outside")


@pytest.fixture
def interrupted_run(tmp_path):
    """A run folder whose config says 4 seeds (as `tap label --seeds 4` writes it) and whose ledger
    has seed 3 for 5 of 12 cohorts."""
    run = tmp_path / "run"
    run.mkdir()
    config = load_config(None, ["label.seeds=4"])
    save_run_config(run, config)
    items = pd.DataFrame({"cohort_id": [f"c{c:04d}" for c in range(COHORTS)], "prompt": [f"{c}+1=" for c in
                          range(COHORTS)], "gold": [str(c + 1) for c in range(COHORTS)], "subject": "math",
                          "item_id": [f"i{c}" for c in range(COHORTS)], "position": 0})
    items.to_parquet(run / "cohorts.parquet")
    rng = np.random.default_rng(0)
    pd.DataFrame({"cohort_id": items.cohort_id, "adv_std": rng.normal(size=COHORTS)}).to_parquet(
        run / "features.parquet")
    ledger = Ledger(run / "labels.sqlite")
    ledger.set_meta("last_label_hash", {"config_hash": "h"})
    hashes = cohort_hashes(items, "exact")
    for c, cohort in enumerate(items.cohort_id):
        for seed in [0, 1, 2, 3] if c < 5 else [0, 1, 2]:
            ledger.write({"cohort_id": cohort, "cohort_hash": hashes[cohort], "seed": seed, "config_hash": "h",
                          "status": "ok", "lift_pass": 0.01 * c + 0.001 * seed, "wall_seconds": 1.0, "flops": 1.0})
    return run, config, tmp_path / "home"


def test_evaluate_and_fit_read_every_cohort_on_the_seeds_they_share(interrupted_run):
    run, config, home = interrupted_run
    data = _labelled_features(run, config, home)
    assert data["y_cs"].shape == (COHORTS, 3) and data["seeds"] == [0, 1, 2]
    assert any(note.startswith("seed 3 is finished for 5 of 12 cohorts: set aside") for note in data["notes"])
    assert data["y_cs"][:, 0] == pytest.approx(0.01 * np.arange(COHORTS))
