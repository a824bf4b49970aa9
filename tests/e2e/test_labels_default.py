"""Labels on the default tiny world: clean data must teach its subject more than the same data with
every gold written by the subject's wrong behaviour (a vendor with a systematic error)."""

import json

import pandas as pd
import pytest

from tap import api
from tap.config import load_config
from tap.labels.ledger import Ledger

pytestmark = pytest.mark.slow


def _clean_and_systematic(world) -> pd.DataFrame:
    """Two samples of eight clean code items, and each sample again with every gold replaced by the
    wrong behaviour's answer (`x=14` for `14`)."""
    pool = world.items[(world.items.split == "pool") & (world.items.subject == "code")]
    rows = []
    for sample in (0, 1):
        chosen = pool.sample(8, random_state=sample)
        for kind in ("clean", "systematic"):
            for position, item in enumerate(chosen.itertuples()):
                rows.append({"cohort_id": f"{kind}-{sample}", "kind": kind, "position": position, "prompt": item.prompt,
                             "gold": item.gold if kind == "clean" else item.wrong_answer, "subject": item.subject})
    return pd.DataFrame(rows)


def test_clean_cohort_teaches_its_subject_and_its_systematic_copy_unteaches_it(default_world, tap_home, tmp_path):
    cohorts = _clean_and_systematic(default_world)
    clean, systematic = cohorts[cohorts.kind == "clean"], cohorts[cohorts.kind == "systematic"]
    assert (clean.gold.values != systematic.gold.values).all()
    result = api.label(tmp_path, config=load_config(), cohorts=cohorts.drop(columns="kind"), seeds=3, home=tap_home)
    assert result.succeeded == 12 and result.failed == 0
    rows = Ledger(tmp_path / "labels.sqlite").table()
    rows["own"] = [json.loads(d)["code"]["lift_pass"] for d in rows.subject_deltas]
    mean = rows.groupby(rows.cohort_id.str.split("-").str[0]).own.mean()
    # The default battery (docs/results/evidence/evidence.json, own_by_kind): clean code cohorts +0.011 on
    # their subject's expected accuracy, cohorts with a systematic error (half to all golds) −0.027.
    assert mean["clean"] > 0 > mean["systematic"], mean.to_dict()
    assert mean["clean"] - mean["systematic"] > 0.01, mean.to_dict()
