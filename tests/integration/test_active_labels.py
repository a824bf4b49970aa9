"""`tap label --active N` on a micro run folder: real label runs for exactly the cohorts it chose,
a random start then rounds by expected improvement, resumable, and a clear error without features."""

import pytest
import pandas as pd

from tap.labels.ledger import Ledger
from tests.conftest import MICRO, run_tap

pytestmark = pytest.mark.slow  # over ~10 s on 2 cores: `make test-all` and CI run it

SETS = [a for s in MICRO + ["label.steps=1", "label.seeds=1"] for a in ("--set", s)]


def test_active_labeling_labels_only_what_it_chose(micro_world, tap_home, tmp_path):
    env = {"TAP_HOME": str(tap_home)}
    run = tmp_path / "run"
    assert run_tap("world", "build", "--out", str(run), *SETS, env=env).returncode == 0
    missing = run_tap("label", str(run), "--active", "2", *SETS, env=env)
    assert missing.returncode != 0 and "no features.parquet" in missing.stderr and "Traceback" not in missing.stderr
    assert run_tap("rollout", str(run / "cohorts.parquet"), *SETS, env=env).returncode == 0
    assert run_tap("features", "compute", str(run / "rollouts.parquet"), *SETS, env=env).returncode == 0

    first = run_tap("label", str(run), "--active", "3", "--active-start", "2", "--active-batch", "1", *SETS, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "active labeling: 3 cohorts labelled (3 label runs, 0 failed) after 0 already labelled" in first.stdout
    rows = Ledger(run / "labels.sqlite").table()
    assert len(rows) == 3 and rows.status.eq("ok").all() and rows.cohort_id.nunique() == 3

    again = run_tap("label", str(run), "--active", "2", "--active-batch", "2", *SETS, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "after 3 already labelled" in again.stdout
    rows = Ledger(run / "labels.sqlite").table()
    assert len(rows) == 5 and rows.cohort_id.nunique() == 5  # the first three were not trained again
    assert set(rows.cohort_id) <= set(pd.read_parquet(run / "cohorts.parquet").cohort_id)

    from tap import api
    from tap.config import load_config
    from tap.study import _labels

    config = load_config(run / "config.toml", ["study.active_labels=6"])
    detail = _labels(api, config, tap_home, run, 1, "local", None)  # the study's label stage with study.active_labels
    assert "1 cohorts chosen and labelled (1 label runs), 5 labelled before" in detail
    assert Ledger(run / "labels.sqlite").table().cohort_id.nunique() == 6
