"""`tap choice` reads its oracle labels by cohort content: a choice folder whose ledger already holds a
cohort id from an earlier run with other cohort settings (same id, other items) must not mix that
row into the oracle."""

import pandas as pd

import tap.api.experiments as experiments
import tap.experiments.choice
from tap.config import load_config
from tap.labels.battery import BatteryResult
from tap.labels.identity import cohort_hashes
from tap.labels.ledger import Ledger


def _pool(golds: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"cohort_id": "s0t0-0000", "prompt": ["1+1=", "2+2="], "gold": golds, "subject": "math",
                         "position": [0, 1]})


def _row(pool: pd.DataFrame, value: float) -> dict:
    return {"cohort_id": "s0t0-0000", "cohort_hash": cohort_hashes(pool, "exact")["s0t0-0000"], "seed": 0,
            "config_hash": "state", "status": "ok", "lift_pass": value, "lift_nll": value,
            "records": [{"step": 1, "item": 0, "gold_logprob_sum": -1.0, "gold_tokens": 1, "gold_nll": 1.0}]}


def test_the_choice_oracle_takes_only_rows_of_the_candidates_items(tmp_path, monkeypatch):
    earlier, now = _pool(["2", "4"]), _pool(["2", "5"])  # one id, two cohorts: a rerun with other cohort settings
    Ledger(tmp_path / "choice" / "labels.sqlite").write(_row(earlier, -0.5))
    seen = []

    def fake_label(work, *, config, cohorts, **_):
        Ledger(work / "labels.sqlite").write(_row(cohorts, 0.25))  # what labelling this state's candidate gives
        return BatteryResult(1, 0, 1, 0, "state")

    def fake_seed(loop_seed, config, world, prior, label_state, work, **_):
        seen.append(label_state(tmp_path / "state", now, 1, 1, 0))
        return [], []

    monkeypatch.setattr(experiments, "label", fake_label)
    monkeypatch.setattr(experiments, "build_world", lambda config, home=None: None)
    monkeypatch.setattr(experiments, "choice_summary", lambda *a, **k: {})
    monkeypatch.setattr(tap.experiments.choice, "run_seed", fake_seed)
    experiments.choice(tmp_path, config=load_config(None, ["loop.seeds=1"]))
    (labels,) = seen
    assert labels[["cohort_id", "seed", "value"]].to_dict(orient="records") == [
        {"cohort_id": "s0t0-0000", "seed": 0, "value": 0.25}
    ]
    assert {"wall_seconds", "flops"} <= set(labels.columns)  # what the short-run arm and the cascades pay
