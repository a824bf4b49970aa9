"""`tap fit`, `tap evaluate` and `tap score` on a micro run folder.

The rollouts and features are real (micro tiny model); the lift labels are written straight into
the ledger as a known function of one feature (token entropy) plus seed noise, so the test can check that the
pipeline recovers it. The label runs themselves are tested in test_labels.py."""

import json

import numpy as np
import pandas as pd
import pytest

from tap import api
from tap.labels.ledger import Ledger
from tests.conftest import MICRO, run_tap

pytestmark = pytest.mark.slow  # over ~10 s on 2 cores: `make test-all` and CI run it

SETS = [
    a
    for s in MICRO + ["evaluate.bootstrap=50", "evaluate.random_draws=20", "predictor.max_iter=30"]
    for a in ("--set", s)
]


@pytest.fixture(scope="module")
def run_dir(micro_world, tap_home, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    assert run_tap("world", "build", "--out", str(run), *SETS, env={"TAP_HOME": str(tap_home)}).returncode == 0
    assert run_tap("rollout", str(run / "cohorts.parquet"), *SETS, env={"TAP_HOME": str(tap_home)}).returncode == 0
    result = run_tap("features", "compute", str(run / "rollouts.parquet"), *SETS, env={"TAP_HOME": str(tap_home)})
    assert result.returncode == 0, result.stderr
    rng = np.random.default_rng(0)
    spread = pd.read_parquet(
        run / "features.parquet"
    ).token_entropy_mean.std()  # seed noise at a tenth of the signal's spread
    write_labels(run, seeds=3, lift=lambda row: 0.01 * (row.token_entropy_mean + 0.1 * spread * rng.normal()))
    return run


def write_labels(run, *, seeds, lift) -> str:
    """Synthetic ledger rows keyed as a real label run would key them (the run's current label config
    and each cohort's content), so readers take them; returns the label-config hash."""
    from tap.api.pipeline import current_label_hash
    from tap.config import load_config
    from tap.labels.identity import cohort_hashes

    config = load_config(run / "config.toml")
    config_hash, _ = current_label_hash(run, config)
    contents = cohort_hashes(pd.read_parquet(run / "cohorts.parquet"), config.label.verifier)
    ledger = Ledger(run / "labels.sqlite")
    for row in pd.read_parquet(run / "features.parquet").itertuples():
        for seed in range(seeds):
            ledger.write(
                {
                    "cohort_id": row.cohort_id,
                    "cohort_hash": contents[row.cohort_id],
                    "seed": seed,
                    "config_hash": config_hash,
                    "status": "ok",
                    **dict.fromkeys(("lift_nll", "lift_pass"), lift(row)),
                    "wall_seconds": 2.0,
                    "flops": 1e12,
                }
            )
    return config_hash


def test_evaluate_writes_metrics_and_predictions_and_prints_the_table(run_dir, tap_home):
    result = run_tap("evaluate", str(run_dir), *SETS, env={"TAP_HOME": str(tap_home)})
    assert result.returncode == 0, result.stderr
    assert "Ranking: 16 cohorts x 3 seeds" in result.stdout and "Selection on a held-out seed" in result.stdout
    assert "TAP ridge R+F *" in result.stdout and "measured lift, 2 seeds" in result.stdout
    metrics = json.loads(
        (run_dir / "metrics.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}")
    )
    assert (
        metrics["cohorts"] == 16 and metrics["headline"] == "TAP ridge R+F" and len(metrics["label_config_hash"]) == 12
    )
    entries = {e["name"]: e for e in metrics["scorers"]}
    assert (
        entries["token_entropy_mean"]["metrics"]["loco_spearman"]["value"] > 0.8
    )  # the feature the labels were made from
    assert entries["token_entropy_mean"]["metrics"]["kfold_spearman"]["value"] > 0.6  # folds of 3–4 cohorts
    assert metrics["protocol"]["folds"] == 5 and "TAP auto R+F" in entries and "K-fold ρ" in result.stdout
    assert entries["TAP ridge R+F"]["coverage"]["level"] == 0.9
    assert entries["measured lift, 1 seed"]["cost_seconds"] == pytest.approx(2.0)
    assert entries["TAP gbm R"]["cost_seconds"] > 0  # rollout generation is part of the cost
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    assert {
        "cohort_id",
        "subject",
        "scorer",
        "label",
        "pred",
        "fold",
        "pred_lo",
        "pred_hi",
        "loco_pred",
        "lodo_pred",
    } <= set(predictions)
    assert predictions[predictions.scorer == "TAP ridge R+F"].pred_lo.notna().all()


def test_fit_auto_shows_and_saves_its_choice_and_scores_new_cohorts(run_dir, tap_home, tmp_path):
    import shutil

    run_dir = shutil.copytree(run_dir, tmp_path / "run")  # `tap fit --set` keeps its settings in the run folder
    result = run_tap("fit", str(run_dir), *SETS, "--set", "predictor.model=auto", "--out", str(tmp_path / "auto.skops"),
                     env={"TAP_HOME": str(tap_home)})
    assert result.returncode == 0, result.stderr
    assert "TAP auto: inner grouped-CV" in result.stdout and "auto → " in result.stdout
    sidecar = json.loads((tmp_path / "auto.json").read_text())
    assert sidecar["auto_choice"]["model"] in ("prior", "ridge", "kernel", "gbm")
    assert sidecar["model"].startswith("auto → ")
    new = pd.read_parquet(run_dir / "cohorts.parquet")
    new = new[new.cohort_id.isin(sorted(new.cohort_id.unique())[:3])]
    new.to_json(tmp_path / "vendor.jsonl", orient="records", lines=True)
    scored = run_tap("score", str(tmp_path / "vendor.jsonl"), "--predictor", str(tmp_path / "auto.skops"),
                     "--out", str(tmp_path / "scores.csv"), env={"TAP_HOME": str(tap_home)})
    assert scored.returncode == 0, scored.stderr
    assert len(pd.read_csv(tmp_path / "scores.csv")) == 3


def test_fit_then_score_ranks_new_cohorts_with_intervals(run_dir, tap_home, tmp_path):
    result = run_tap("fit", str(run_dir), *SETS, env={"TAP_HOME": str(tap_home)})
    assert result.returncode == 0, result.stderr
    assert (run_dir / "predictor.skops").exists() and "trained on 16 cohorts x 3 seeds" in result.stdout
    new = pd.read_parquet(run_dir / "cohorts.parquet")
    new = new[new.cohort_id.isin(sorted(new.cohort_id.unique())[:5])]
    new.to_json(tmp_path / "vendor.jsonl", orient="records", lines=True)
    out = tmp_path / "ranked.csv"
    result = run_tap(
        "score",
        str(tmp_path / "vendor.jsonl"),
        "--predictor",
        str(run_dir / "predictor.skops"),
        "--out",
        str(out),
        env={"TAP_HOME": str(tap_home)},
    )
    assert result.returncode == 0, result.stderr
    ranked = pd.read_csv(out)
    assert list(ranked["rank"]) == [1, 2, 3, 4, 5] and ranked.predicted_lift.is_monotonic_decreasing
    assert (ranked.lo < ranked.hi).all() and (ranked.level == 0.9).all()
    assert "Best cohorts: predicted lift" in result.stdout and (tmp_path / "ranked.features.parquet").exists()
    assert "dataset: mean predicted lift per cohort" in result.stdout
    # the same features through the Python API give the same predictions as the saved predictor
    predictor, _, meta = api.fit(run_dir, config=None, out=tmp_path / "again.skops")
    features = pd.read_parquet(tmp_path / "ranked.features.parquet").set_index("cohort_id").loc[ranked.cohort_id]
    np.testing.assert_allclose(
        predictor.predict(features[meta["columns"]].astype(float)), ranked.predicted_lift, rtol=1e-6
    )
    # each cohort's probability of harm, and the flags (fresh rollouts of the battery's own cohorts can land a little
    # outside its 16 cohorts' feature ranges: only the predictor's own features are ever named)
    np.testing.assert_allclose(predictor.probability_below(features[meta["columns"]].astype(float), 0.0),
                               ranked.p_harm, rtol=1e-6)
    assert ((ranked.p_harm > 0) & (ranked.p_harm < 1)).all()
    assert (ranked.likely_harmful == (ranked.p_harm >= 0.5)).all()
    assert (ranked.learning_signal == (ranked.frac_nondegenerate > 0)).all()
    assert set(meta["feature_ranges"]) == set(meta["used_columns"])
    assert all(set(names.split(",")) <= set(meta["used_columns"]) for names in ranked.outside_training.dropna())
    assert "cohorts likely harmful: P(lift < 0)" in result.stderr and "P(lift < 0)" in result.stdout  # notes: stderr


def test_fit_on_the_zoo_prior_then_score(run_dir, tap_home, tmp_path):
    """`tap fit RUN --prior zoo`: the run's departures from the shipped pooled predictor, scored like any predictor."""
    result = run_tap("fit", str(run_dir), "--prior", "zoo", "--out", str(tmp_path / "prior.skops"), *SETS,
                     env={"TAP_HOME": str(tap_home)})
    assert result.returncode == 0, result.stderr
    assert "the zoo's pooled predictor" in result.stdout
    meta = json.loads((tmp_path / "prior.json").read_text())
    assert meta["prior"]["worlds"] and meta["prior"]["normalization"] in ("none", "z", "rank")
    new = pd.read_parquet(run_dir / "cohorts.parquet")
    new[new.cohort_id.isin(sorted(new.cohort_id.unique())[:4])].to_json(
        tmp_path / "vendor.jsonl", orient="records", lines=True
    )
    scored = run_tap("score", str(tmp_path / "vendor.jsonl"), "--predictor", str(tmp_path / "prior.skops"),
                     "--out", str(tmp_path / "ranked.csv"), env={"TAP_HOME": str(tap_home)})
    assert scored.returncode == 0, scored.stderr
    ranked = pd.read_csv(tmp_path / "ranked.csv")
    assert ranked.predicted_lift.is_monotonic_decreasing and (ranked.lo <= ranked.hi).all()


def test_a_run_folder_is_a_world_for_transfer(run_dir, tap_home):
    """`tap evaluate --worlds` takes run folders as well as zoo exports: the labelled cohorts, seeds and groups."""
    from tap.api.transfer import load_worlds

    world, = load_worlds([run_dir], [], home=tap_home)
    assert world.name == run_dir.name and world.y_cs.shape == (16, 3) and not world.test
    cohorts = set(pd.read_parquet(run_dir / "features.parquet").cohort_id)
    assert len(world.groups) == 16 and set(world.features.cohort_id) == cohorts


def test_bad_inputs_are_one_line(tap_home, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_tap("evaluate", str(empty))
    assert result.returncode == 2 and "no features.parquet" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "fake.skops").write_bytes(b"not a zip file")
    (tmp_path / "c.jsonl").write_text('{"cohort_id": "a", "prompt": "1+1=", "gold": "2", "subject": "math"}\n')
    result = run_tap(
        "score", str(tmp_path / "c.jsonl"), "--predictor", str(tmp_path / "fake.skops"), env={"TAP_HOME": str(tap_home)}
    )
    assert (
        result.returncode == 2
        and "not a TAP predictor file" in result.stderr
        and len(result.stderr.strip().splitlines()) == 1
    )
    result = run_tap(
        "score",
        str(tmp_path / "c.jsonl"),
        "--predictor",
        str(tmp_path / "fake.skops"),
        "--out",
        str(tmp_path / "x.txt"),
        env={"TAP_HOME": str(tap_home)},
    )
    assert result.returncode == 2 and "must end in .csv or .parquet" in result.stderr


def test_evaluate_with_one_seed_is_one_line(run_dir, tmp_path):
    import shutil

    one = tmp_path / "one"
    one.mkdir()
    for name in ("config.toml", "items.parquet", "cohorts.parquet", "features.parquet"):
        shutil.copyfile(run_dir / name, one / name)
    write_labels(one, seeds=1, lift=lambda row: 0.01 * row.token_entropy_mean)
    result = run_tap("evaluate", str(one))
    assert result.returncode == 2 and "labels from one seed only" in result.stderr and "Traceback" not in result.stderr


def test_score_a_preset_dataset_with_its_own_probe(run_dir, tap_home, tmp_path):
    """The "buy smarter" path: a GSM8K-schema vendor file cut into cohorts, scored against a probe file."""
    records = [{"question": f"What is {a} + {b}?", "answer": f"#### {a + b}"} for a in range(4) for b in range(4)]
    (tmp_path / "vendor.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    pd.DataFrame({"prompt": ["1+1=", "2+3="], "gold": ["2", "5"], "subject": ["math", "math"]}).to_csv(
        tmp_path / "probe.csv", index=False
    )
    out = tmp_path / "scores.parquet"
    result = run_tap(
        "score",
        "--data",
        str(tmp_path / "vendor.jsonl"),
        "--preset",
        "gsm8k",
        "--size",
        "4",
        "--top",
        "2",
        "--probe",
        str(tmp_path / "probe.csv"),
        "--predictor",
        str(run_dir / "predictor.skops"),
        "--out",
        str(out),
        env={"TAP_HOME": str(tap_home)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    ranked = pd.read_parquet(out)
    assert len(ranked) == 4 and ranked.predicted_lift.is_monotonic_decreasing
    assert "Best cohorts" in result.stdout and "Worst cohorts" in result.stdout
    mean = ranked.predicted_lift.mean()
    assert f"mean predicted lift per cohort {mean:+.4f}" in result.stdout
    neither = run_tap("score", "--predictor", str(run_dir / "predictor.skops"))
    assert neither.returncode == 2 and "either a COHORTS file or --data" in neither.stderr
