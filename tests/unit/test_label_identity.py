"""Labels are keyed by what was trained: cohort content hashes, the v1 -> v2 ledger migration, and
readers that take one label config and the run's current cohorts only."""

import sqlite3

import pandas as pd

from tap.labels.battery import plan_units, run_battery
from tap.labels.executors import InProcessExecutor
from tap.labels.identity import cohort_hash, cohort_hashes
from tap.labels.ledger import Ledger

SETTINGS = {"verifier": "exact", "first_seed": 0, "seeds": 2}
PROBE = pd.DataFrame({"prompt": ["9+9="], "gold": ["18"], "subject": ["math"]})


def _cohorts(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["cohort_id", "prompt", "gold"]).assign(subject="math")
    return table.assign(position=table.groupby("cohort_id").cumcount())


def _fake(unit, attempt):
    return {
        "cohort_id": unit.cohort_id,
        "cohort_hash": unit.cohort_hash,
        "seed": unit.seed,
        "config_hash": unit.config_hash,
        "status": "ok",
        "lift_nll": float(len(unit.prompts[0])),
        "attempts": attempt,
        "wall_seconds": 0.1,
        "records": [
            {"step": 1, "item": 0, "gold_logprob_sum": -1.0, "gold_tokens": 2, "gold_nll": 0.5, "greedy_correct": 1.0}
        ],
    }


def _units(cohorts: pd.DataFrame, config_hash: str = "h"):
    return plan_units(cohorts, PROBE, "/nowhere", SETTINGS, config_hash, {}, threads=1)


def test_the_hash_covers_prompt_gold_verifier_and_order():
    base = cohort_hash(["1+1=", "2+2="], ["2", "4"], ["exact", "exact"])
    assert base == cohort_hash(["1+1=", "2+2="], ["2", "4"], ["exact", "exact"])
    assert base != cohort_hash(["2+2=", "1+1="], ["4", "2"], ["exact", "exact"])  # order is what was trained
    assert base != cohort_hash(["1+1=", "2+2="], ["2", "5"], ["exact", "exact"])  # a corrupted gold
    assert base != cohort_hash(["1+1=", "2+2="], ["2", "4"], ["exact", "math"])  # another verifier


def test_units_and_readers_hash_a_cohort_the_same_way():
    cohorts = _cohorts([("c0", "1+1=", "2"), ("c0", "2+2=", "4"), ("c1", "3+3=", "6")]).assign(
        verifier=["math", "", None]
    )
    hashes = cohort_hashes(cohorts.sample(frac=1, random_state=0), "exact")  # row order of the file does not matter
    assert {u.cohort_id: u.cohort_hash for u in _units(cohorts)} == hashes
    assert hashes["c0"] == cohort_hash(["1+1=", "2+2="], ["2", "4"], ["math", "exact"])


def test_a_changed_cohort_is_relabelled_and_an_unchanged_one_is_not(tmp_path):
    ledger = Ledger(tmp_path / "labels.sqlite")
    first = _cohorts([("c0", "1+1=", "2"), ("c1", "3+3=", "6")])
    assert run_battery(_units(first), ledger, InProcessExecutor(), fn=_fake).succeeded == 4
    # same ids, other items in c1 (e.g. another cohort size or vendor mix): c1 must be trained again
    second = _cohorts([("c0", "1+1=", "2"), ("c1", "7+7=", "14"), ("c1", "8+8=", "16")])
    result = run_battery(_units(second), ledger, InProcessExecutor(), fn=_fake)
    assert (result.skipped, result.succeeded) == (2, 2)
    selection = ledger.select("h", cohort_hashes(second, "exact"))
    assert len(selection.rows) == 4 and selection.changed == 2
    assert set(selection.rows[selection.rows.cohort_id == "c1"].cohort_hash) == {cohort_hashes(second, "exact")["c1"]}
    assert any("items have changed" in line for line in selection.notes())


def test_readers_take_one_label_config_and_say_what_they_set_aside(tmp_path):
    ledger = Ledger(tmp_path / "labels.sqlite")
    cohorts = _cohorts([("c0", "1+1=", "2"), ("c1", "3+3=", "6")])
    run_battery(_units(cohorts, "current"), ledger, InProcessExecutor(), fn=_fake)
    run_battery(_units(cohorts, "older"), ledger, InProcessExecutor(), fn=_fake)
    run_battery(_units(_cohorts([("c9", "5+5=", "10")]), "current"), ledger, InProcessExecutor(), fn=_fake)
    selection = ledger.select("current", cohort_hashes(cohorts, "exact"))
    assert set(selection.rows.config_hash) == {"current"} and len(selection.rows) == 4
    assert (selection.other_configs, selection.other_config_hashes, selection.absent) == (4, ("older",), 2)
    notes = " ".join(selection.notes())
    assert "4 rows of 1 other label config(s) (older)" in notes and "not among this run's cohorts" in notes


V1_SCHEMA = """CREATE TABLE labels (cohort_id TEXT NOT NULL, seed INTEGER NOT NULL, config_hash TEXT NOT NULL,
    status TEXT NOT NULL, lift_nll REAL, delta_accuracy REAL, nll_before REAL, nll_after REAL, accuracy_before REAL,
    accuracy_after REAL, subject_deltas TEXT, error TEXT, attempts INTEGER, wall_seconds REAL, generated_tokens INTEGER,
    trained_tokens INTEGER, scored_tokens INTEGER, parameters INTEGER, flops REAL, finished_at TEXT NOT NULL,
    PRIMARY KEY (cohort_id, seed, config_hash));
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"""


def test_an_older_ledger_is_migrated_and_its_rows_are_never_taken_for_a_cohort(tmp_path):
    path = tmp_path / "labels.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA)
        db.executemany(
            "INSERT INTO labels (cohort_id, seed, config_hash, status, lift_nll, finished_at) VALUES (?, ?, 'h', 'ok', "
            "0.5, 'then')",
            [("c0", 0), ("c0", 1), ("c1", 0)],
        )
        db.execute("INSERT INTO meta VALUES ('probe_before:h', '{}')")
    ledger = Ledger(path)
    assert len(ledger.table()) == 3 and set(ledger.table().cohort_hash) == {""}  # kept, but unkeyed
    assert ledger.get_meta("probe_before:h") == {}
    cohorts = _cohorts([("c0", "1+1=", "2"), ("c1", "3+3=", "6")])
    selection = ledger.select("h", cohort_hashes(cohorts, "exact"))
    assert selection.rows.empty and selection.unkeyed == 3
    assert "set aside 3 rows written before labels were keyed by cohort content" in selection.notes()[0]
    result = run_battery(_units(cohorts), ledger, InProcessExecutor(), fn=_fake)  # relabels everything
    assert (result.skipped, result.succeeded) == (0, 4)
    assert len(Ledger(path).table()) == 7  # reopening a migrated ledger migrates nothing twice


def test_cohorts_whose_items_changed_since_their_rollouts_are_found():
    from tap.labels.identity import changed_since_rollouts

    cohorts = _cohorts([("c0", "1+1=", "2"), ("c0", "2+2=", "4"), ("c1", "3+3=", "6")])
    rollouts = pd.concat([cohorts.assign(sample=s) for s in range(3)], ignore_index=True)  # G rows per item
    assert changed_since_rollouts(rollouts, cohorts) == set()
    edited = cohorts.assign(gold=["2", "5", "6"])
    assert changed_since_rollouts(rollouts, edited) == {"c0"}


def test_the_label_hash_covers_what_judges_each_probe_item():
    from tap.config import load_config
    from tap.labels.battery import label_hash, label_settings

    settings = label_settings(load_config())
    probe = pd.DataFrame({"prompt": ["9+9=", "Tal is"], "gold": ["18", "Tal"], "subject": ["math", "knowledge"]})
    plain = label_hash(settings, "w", probe)
    assert plain == label_hash(settings, "w", probe.assign(verifier=["exact", ""]))  # the default, spelled out
    own = label_hash(settings, "w", probe.assign(verifier=["math", "exact"]))
    assert own != plain  # another verifier judges item 0: another label
    assert own != label_hash(settings, "w", probe.assign(verifier=["mcq", "exact"]))


def test_ledgers_of_the_default_settings_keep_their_label_hash():
    """Only settings that change what a label means change the hash: the default config's hash of a
    fixed probe is what it was before the probe's verifiers and the label temperature entered it."""
    from tap.config import load_config
    from tap.labels.battery import label_hash, label_settings

    probe = pd.DataFrame({"prompt": ["9+9=", "Tal is"], "gold": ["18", "Tal"], "subject": ["math", "knowledge"]})
    assert label_hash(label_settings(load_config()), "w", probe) == "028811e40115"  # as computed at 44854bd
