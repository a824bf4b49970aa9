"""Ledger, battery driver (with a fake unit function) and battery statistics."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from tap.labels.battery import run_battery
from tap.labels.executors import InProcessExecutor, make_executor
from tap.labels.ledger import Ledger
from tap.labels.summary import battery_summary, cohort_labels, seed_reliability
from tap.labels.trl_run import LabelUnit
from tap.errors import TapInputError


def _unit(cohort: str, seed: int, fail_times: int = 0) -> LabelUnit:
    return LabelUnit(cohort, seed, ("1+1=",), ("2",), "/nowhere", (("2+2=", "4", "math"),), {}, {}, "h", 1, fail_times)


def _fake(unit: LabelUnit, attempt: int) -> dict:
    if attempt <= unit.fail_times:
        raise RuntimeError(f"boom {attempt}")
    return {
        "cohort_id": unit.cohort_id,
        "cohort_hash": unit.cohort_hash,
        "seed": unit.seed,
        "config_hash": unit.config_hash,
        "status": "ok",
        "lift_nll": float(len(unit.cohort_id) + unit.seed),
        "attempts": attempt,
        "wall_seconds": 0.1,
        "records": [
            {"step": 1, "item": 0, "gold_logprob_sum": -1.0, "gold_tokens": 2, "gold_nll": 0.5, "greedy_correct": 1.0}
        ],
    }


def test_ledger_writes_one_row_per_unit_and_replaces_failures(tmp_path):
    ledger = Ledger(tmp_path / "labels.sqlite")
    ledger.write(
        {
            "cohort_id": "a",
            "cohort_hash": "x1",
            "seed": 0,
            "config_hash": "h",
            "status": "failed",
            "error": "x",
            "attempts": 2,
        }
    )
    assert ledger.finished("h") == set()
    ledger.write(
        {
            "cohort_id": "a",
            "cohort_hash": "x1",
            "seed": 0,
            "config_hash": "h",
            "status": "ok",
            "lift_nll": 0.5,
            "subject_deltas": {"math": {"lift_nll": 0.1}},
            "records": [
                {
                    "step": 1,
                    "item": 0,
                    "gold_logprob_sum": -1.0,
                    "gold_tokens": 2,
                    "gold_nll": 0.5,
                    "greedy_correct": 1.0,
                }
            ],
        }
    )
    table = ledger.table()
    assert len(table) == 1 and table.status[0] == "ok" and table.lift_nll[0] == 0.5
    assert ledger.finished("h") == {("a", "x1", 0)} and ledger.finished("other") == set()
    ledger.set_meta("k", {"v": 1})
    assert Ledger(tmp_path / "labels.sqlite").get_meta("k") == {"v": 1}


def test_retry_then_success_and_permanent_failure_leave_others_alone(tmp_path):
    ledger = Ledger(tmp_path / "labels.sqlite")
    units = [_unit("good", 0), _unit("flaky", 0, fail_times=1), _unit("broken", 0, fail_times=99)]
    result = run_battery(units, ledger, InProcessExecutor(), retries=2, fn=_fake)
    assert (result.succeeded, result.failed) == (2, 1)
    table = ledger.table().set_index("cohort_id")
    assert table.loc["flaky", "status"] == "ok" and table.loc["flaky", "attempts"] == 2
    assert table.loc["broken", "status"] == "failed" and "boom 3" in table.loc["broken", "error"]
    assert table.loc["broken", "attempts"] == 3
    assert table.loc["good", "lift_nll"] == 4.0


def test_rerun_skips_finished_units(tmp_path):
    ledger = Ledger(tmp_path / "labels.sqlite")
    calls = []

    def counting(unit, attempt):
        calls.append(unit.key)
        return _fake(unit, attempt)

    units = [_unit("a", s) for s in range(3)]
    run_battery(units[:2], ledger, InProcessExecutor(), fn=counting)
    result = run_battery(units, ledger, InProcessExecutor(), fn=counting)
    assert result.skipped == 2 and result.succeeded == 1
    assert [(c, s) for c, _, s in calls] == [("a", 0), ("a", 1), ("a", 2)]
    assert len(ledger.table()) == 3


def test_process_pool_runs_units_in_other_processes(tmp_path):
    ledger = Ledger(tmp_path / "labels.sqlite")
    pool = make_executor("local", 2)
    try:
        result = run_battery([_unit(f"c{i}", 0, fail_times=i % 2) for i in range(4)], ledger, pool, retries=1, fn=_fake)
    finally:
        pool.close()
    assert (result.succeeded, result.failed) == (4, 0)


def test_unknown_executor_is_an_input_error():
    with pytest.raises(TapInputError, match="unknown executor 'slurm'"):
        make_executor("slurm")


def _rows(lifts: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"cohort_id": c, "seed": s, "status": "ok", "lift_nll": v, "wall_seconds": 1.0}
            for c, vs in lifts.items()
            for s, v in enumerate(vs)
        ]
    )


def test_cohort_labels_and_summary_by_hand():
    rows = _rows({"a": [1.0, 3.0], "b": [0.0, 0.0], "c": [-1.0, -3.0]})
    labels = cohort_labels(rows).set_index("cohort_id")
    assert labels.label.tolist() == [2.0, 0.0, -2.0]
    assert labels.seed_std["a"] == pytest.approx(np.sqrt(2.0))
    summary = battery_summary(rows)
    assert summary["across_cohort_std"] == pytest.approx(2.0)
    assert summary["within_cohort_seed_std"] == pytest.approx(2 * np.sqrt(2.0) / 3)
    assert summary["share_improving"] == pytest.approx(1 / 3)


def test_seed_reliability_is_the_mean_pairwise_spearman():
    rng = np.random.default_rng(0)
    true = rng.normal(size=20)
    lifts = {f"c{i}": list(true[i] + rng.normal(scale=0.5, size=3)) for i in range(20)}
    rows = _rows(lifts)
    wide = rows.pivot(index="cohort_id", columns="seed", values="lift_nll")
    expected = np.mean([spearmanr(wide[a], wide[b]).statistic for a, b in ((0, 1), (0, 2), (1, 2))])
    assert seed_reliability(rows) == (pytest.approx(expected), 3, 0)
    r1, defined, undefined = seed_reliability(_rows({"a": [1.0], "b": [2.0]}))
    assert np.isnan(r1) and (defined, undefined) == (0, 0)


def test_undefined_seed_pairs_are_counted_not_averaged_in():
    """A seed whose lifts do not vary has no correlation with the others: r1 averages the pairs
    that have one and the summary says how many had none (the evaluation's r1 uses the same rule)."""
    from tap.evaluate.metrics import seed_reliability as evaluation_r1

    lifts = {f"c{i}": [float(i), float(i) + 0.1 * (-1) ** i, 0.0] for i in range(6)}  # seed 2 is constant
    r1, defined, undefined = seed_reliability(_rows(lifts))
    assert (defined, undefined) == (1, 2) and np.isfinite(r1)
    wide = _rows(lifts).pivot(index="cohort_id", columns="seed", values="lift_nll").to_numpy()
    assert evaluation_r1(wide) == pytest.approx(r1)
    assert battery_summary(_rows(lifts))["reliability_seed_pairs"] == {"defined": 1, "undefined": 2}


def test_a_row_without_per_item_records_is_labelled_again(tmp_path):
    """A row written before records existed cannot give the targets computed from them: rerun it."""
    ledger = Ledger(tmp_path / "labels.sqlite")
    unit = _unit("a", 0)
    ledger.write({**_fake(unit, 1), "records": []})
    assert ledger.finished("h") == set()
    result = run_battery([unit], ledger, InProcessExecutor(), fn=_fake)
    assert (result.skipped, result.succeeded) == (0, 1) and ledger.finished("h") == {unit.key}
