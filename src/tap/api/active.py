"""Active labeling's API (`tap label --active`, `study.active_labels`): label only the cohorts that
most improve the predictor's top ranking (tap/experiments/active.py), through the ordinary label runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from tap.api.pipeline import _run_config, label, labels_table, read_cohorts
from tap.config import TapConfig
from tap.errors import TapInputError
from tap.features.catalog import feature_catalog
from tap.store import RunPaths


def label_active(
    run_dir: str | Path,
    count: int,
    *,
    upto: bool = False,
    config: TapConfig | None = None,
    start: int = 16,
    batch: int = 8,
    cohorts: str | Path | pd.DataFrame | None = None,
    seeds: int | None = None,
    workers: int = 1,
    executor: str = "local",
    ray_address: str | None = None,
    retries: int = 1,
    home: Path | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> dict:
    """Label `count` more cohorts, chosen where they most improve the predictor's top-q ranking
    (tap/experiments/active.py): `start` at random when fewer are labelled, then `batch` per round by expected
    improvement from an ensemble of the configured predictor on the run's features.parquet.
    Cohorts already labelled under the run's label config count as paid; with `upto`, `count` is the
    total to reach rather than how many more. Returns what was labelled."""
    from tap.experiments.active import PaidLabels, label_order
    from tap.api.predict import configured_predictor

    run_dir = Path(run_dir)
    paths = RunPaths(run_dir)
    config = _run_config(run_dir, config)
    table = _active_inputs(paths, count, upto, cohorts)
    features = _predictor_features(paths.features, set(table.cohort_id.astype(str)), config)
    done = {"units": 0, "failed": 0}

    def labelled() -> dict[str, float]:
        if not paths.labels.exists():
            return {}
        per_cohort, _ = labels_table(run_dir, config=config, home=home)
        return dict(zip(per_cohort.cohort_id.astype(str), per_cohort.label))

    def buy(ids: list[str]) -> dict[str, float]:
        result = label(
            run_dir,
            config=config,
            cohorts=table[table.cohort_id.astype(str).isin(ids)],
            seeds=seeds,
            workers=workers,
            executor=executor,
            ray_address=ray_address,
            retries=retries,
            home=home,
        )
        done["units"] += result.succeeded
        done["failed"] += result.failed
        if progress:
            progress(done["units"], done["failed"], count * (seeds or config.label.seeds))
        if result.failed:
            raise TapInputError(
                f"{paths.labels}: {result.failed} label runs failed (status = 'failed'); rerun to retry them"
            )
        values = labelled()
        return {i: values[i] for i in ids if i in values}

    paid = PaidLabels(buy)
    paid.paid_before({i: v for i, v in labelled().items() if i in features.index})
    before = len(paid)
    if upto:
        count = max(0, count - before)
    make = lambda: configured_predictor(config, list(features.columns), arrays=True, interval="none")  # noqa: E731
    if count:
        label_order(features, paid, before + count, strategy="active", start=start, batch=batch, make_model=make,
                    q=config.evaluate.top_q, seed=int(config.predictor.random_state or 0))
    return {
        "labelled_before": before,
        "labelled": paid.order[before:],
        "label_runs": done["units"],
        "failed": done["failed"],
    }


def _active_inputs(paths: RunPaths, count: int, upto: bool, cohorts: str | Path | pd.DataFrame | None) -> pd.DataFrame:
    """The cohorts to choose from, after checking that active labeling can run on this folder."""
    if count < (0 if upto else 1):
        raise TapInputError(f"--active must be at least 1 (got {count})")
    if not paths.features.exists():
        raise TapInputError(f"{paths.root}: no features.parquet: active labeling ranks cohorts by their features "
                            f"(run `tap rollout {paths.root}` and `tap features compute {paths.rollouts}` first)")
    if cohorts is None and not paths.cohorts.exists():
        raise TapInputError(
            f"{paths.root}: no cohorts.parquet (run `tap world build --out {paths.root}` or pass --cohorts)"
        )
    return cohorts if isinstance(cohorts, pd.DataFrame) else read_cohorts(cohorts or paths.cohorts)


def _predictor_features(path: Path, cohort_ids: set[str], config: TapConfig) -> pd.DataFrame:
    """The features the configured predictor reads, one row per cohort of `cohort_ids` (indexed by id)."""
    from tap.features.compute import feature_columns

    tags = {name: tag for name, tag, _ in feature_catalog()}
    features = pd.read_parquet(path).assign(cohort_id=lambda f: f.cohort_id.astype(str))
    features = features[features.cohort_id.isin(cohort_ids)].set_index("cohort_id")
    columns = [
        c
        for c in feature_columns(features.reset_index())
        if tags.get(c) in config.predictor.families and features[c].notna().any()
    ]
    missing = sorted(cohort_ids - set(features.index))
    if missing:
        raise TapInputError(
            f"{path}: no features for {len(missing)} cohorts (e.g. {missing[0]}); recompute the features"
        )
    return features[columns].astype(float)
