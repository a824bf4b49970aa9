"""Score new cohorts with a fitted predictor: their rollouts and features, ranked predictions with
intervals, and a dataset-level lift; the predictor file's provenance and the probe it needs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from tap.api.pipeline import forward_policy, read_cohorts, rollout, run_probe
from tap.config import TapConfig, load_config
from tap.errors import TapInputError
from tap.features.catalog import feature_catalog
from tap.stats import percentile_interval
from tap.store import RunPaths, write_parquet


def read_probe(path: str | Path) -> pd.DataFrame:
    """A probe file (parquet, JSONL or CSV) with columns prompt, gold and subject."""
    from tap.store import read_table

    table = read_table(Path(path))
    missing = [c for c in ("prompt", "gold", "subject") if c not in table]
    if missing:
        raise TapInputError(f"{path}: missing column {missing[0]!r} (a probe file needs prompt, gold, subject)")
    if table.empty:
        raise TapInputError(f"{path}: the probe is empty")
    return table.assign(gold=table.gold.astype(str)).reset_index(drop=True)


def dataset_lift(
    result: pd.DataFrame, heldout_errors: np.ndarray | None = None, error_folds: np.ndarray | None = None, *,
    resamples: int = 1000, seed: int = 0,
) -> dict:
    """A dataset's mean predicted lift per cohort, with a 95% bootstrap interval.

    Each resample draws the dataset's cohorts with replacement. With the predictor's signed held-out
    errors (label − held-out prediction, from its conformal calibration) it also adds the predictor's
    error, split in two: a bias shared by every cohort of the dataset — the mean error of one fold of
    held-out cohorts (`error_folds`: each error's fold), drawn once per resample — and per drawn
    cohort one residual (an error minus its fold's mean). A new dataset's error is mostly such a
    shared bias: it does not average away over the dataset's cohorts, so neither does the interval.
    Without `error_folds` every error is a fold of its own: one whole held-out error is shared by
    every cohort (the most conservative split). The interval assumes the dataset's cohorts err like a
    held-out fold of the predictor's battery. Without errors it is the spread over cohorts only
    (`includes_predictor_error`)."""
    values = result.predicted_lift.to_numpy(float)
    errors = None if heldout_errors is None or not len(heldout_errors) else np.asarray(heldout_errors, dtype=float)
    rng = np.random.default_rng(seed)
    if errors is not None:
        folds = np.arange(len(errors)) if error_folds is None else np.asarray(error_folds)
        labels, fold_index = np.unique(folds, return_inverse=True)
        fold_means = np.array([errors[fold_index == k].mean() for k in range(len(labels))])
        residuals = errors - fold_means[fold_index]
    means = []
    for _ in range(resamples):
        drawn = values[rng.integers(0, len(values), len(values))].mean()
        if errors is not None:
            drawn += fold_means[rng.integers(0, len(fold_means))]
            drawn += residuals[rng.integers(0, len(residuals), len(values))].mean()
        means.append(drawn)
    return {**percentile_interval(values.mean(), means, key="mean"), "cohorts": len(values),
            "includes_predictor_error": errors is not None}


def heldout_error_folds(predictor) -> np.ndarray | None:
    """The fold of each of a fitted predictor's held-out errors: CV+'s folds; split conformal's
    calibration cohorts (in random order) cut into `n_folds` folds. None without held-out errors."""
    errors = getattr(predictor, "heldout_errors_", None)
    if errors is None or not len(errors):
        return None
    folds = getattr(predictor, "fold_of_", None)
    if folds is not None and len(folds) == len(errors):
        return np.asarray(folds)
    return np.arange(len(errors)) % max(1, min(int(getattr(predictor, "n_folds", 5)), len(errors)))


def training_run(predictor_path: str | Path, meta: dict) -> Path | None:
    """The run folder a predictor was fit on: its sidecar's run_dir, else the predictor's folder."""
    for candidate in (Path(meta.get("run_dir", "")), Path(predictor_path).parent):
        if str(candidate) and (candidate / "config.toml").exists():
            return candidate
    return None


def provenance_notes(
    predictor, predictor_path: str | Path, meta: dict, cohorts: pd.DataFrame, model: str | Path | None
) -> list[str]:
    """What a user should know about the intervals of these scores: the guarantee that holds, and,
    when the cohorts come from another dataset or model than the predictor's battery, that the
    guarantee assumes they resemble it."""
    notes = []
    guarantee = predictor.guarantee() if predictor.interval != "none" else None
    battery = f"the {meta.get('cohorts', '?')} cohorts it was trained on"
    if guarantee is not None:
        method = "split conformal" if predictor.interval == "split" else f"{len(predictor.fold_models_)}-fold CV+"
        notes.append(f"{predictor.level:.0%} {method} intervals: coverage is guaranteed ≥ {guarantee:.2f} for a cohort "
                     f"exchangeable with {battery}" + ("" if predictor.bounded() else
                                                      "; too few calibration points for two finite ends at this level"))
    trained_on = (meta.get("config") or {}).get("policy", {}).get("model", "")
    reasons = []
    if model is not None and str(model) != trained_on:
        reasons.append(f"another model ({model}; it was calibrated with {trained_on or 'the tiny world policy'})")
    run = training_run(predictor_path, meta)
    items = RunPaths(run).items if run else None
    if items is None or not items.exists():
        reasons.append("a dataset whose items the predictor's run folder cannot confirm")
    elif not set(cohorts.prompt) & set(pd.read_parquet(items, columns=["prompt"]).prompt):
        reasons.append("another dataset (none of their items are in the training run's item pool)")
    if reasons:
        notes.append(f"these cohorts come from {' and '.join(reasons)}: the intervals assume new cohorts resemble "
                     "the training battery, so here they are a guide, not a guarantee")
    return notes


def check_scores_path(out: str | Path) -> Path:
    out = Path(out)
    if out.suffix not in (".csv", ".parquet"):
        raise TapInputError(f"{out}: the scores file must end in .csv or .parquet")
    return out


def load_scoring_predictor(path: str | Path):
    """A saved predictor and its sidecar (what it was trained on); one clear line if either is wrong."""
    import json

    from tap.predict.artifact import load_predictor

    predictor = load_predictor(path)
    sidecar = Path(path).with_suffix(".json")
    if not sidecar.exists():
        raise TapInputError(
            f"{sidecar}: missing (the predictor's sidecar names the features it was trained on; re-run `tap fit`)"
        )
    try:
        meta = json.loads(sidecar.read_text())
        meta["columns"], meta["used_columns"]
    except (ValueError, KeyError, TypeError) as exc:
        raise TapInputError(f"{sidecar}: not a TAP predictor sidecar ({type(exc).__name__})") from None
    return predictor, meta


def score(
    cohorts: str | Path | pd.DataFrame,
    predictor_path: str | Path | None,
    out: str | Path,
    *,
    config: TapConfig | None = None,
    model: str | Path | None = None,
    home: Path | None = None,
    max_cohorts: int | None = None,
    verifier: str = "exact",
    probe: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """New cohorts -> rollouts -> features -> predicted lift with intervals, ranked best first.

    Writes `out` (.csv or .parquet) and, beside it, the rollouts and features it computed. Without
    a config, the predictor's own run config (its sidecar) sets the policy and sampling settings,
    so features are read the way the predictor was calibrated. The forward-pass and gradient
    features compare against `probe` (a file with prompt, gold, subject), else the probe of the run
    folder the predictor was fit on (its items.parquet), else the tiny world's probe.

    Without a predictor, the zoo's pooled predictor that ships with TAP ranks the cohorts zero-shot
    (`zero_shot_score`: relative within these cohorts, not a lift; no interval)."""
    out = check_scores_path(out)
    predictor_path = predictor_path or shipped_zoo_predictor()
    predictor, meta = load_scoring_predictor(predictor_path)
    if config is None:  # the predictor's own run: same tiny policy, same sampling settings
        config = TapConfig.model_validate(meta["config"]) if "config" in meta else load_config()
    table = cohorts if isinstance(cohorts, pd.DataFrame) else read_cohorts(cohorts, max_cohorts)
    stem = out.with_suffix("")
    rolled = rollout(table, stem.with_name(stem.name + ".rollouts.parquet"), config=config, model=model, home=home,
                     verifier=verifier, progress=progress)
    feats = _scoring_features(rolled, table, predictor_path, meta, config=config, model=model, home=home, probe=probe)
    write_parquet(feats, stem.with_name(stem.name + ".features.parquet"))
    X = feats[meta["columns"]].astype(float)
    subjects = table.groupby("cohort_id").subject.agg(lambda s: s.iloc[0] if s.nunique() == 1 else "mixed")
    if meta.get("kind") == "zoo":
        return _zero_shot(predictor, meta, X, feats, subjects, out)
    cohort_subjects = feats.cohort_id.map(subjects).to_numpy()
    pred = predictor.predict(X, subjects=cohort_subjects)
    lo, hi = predictor.predict_interval(X, subjects=cohort_subjects)
    harm = (predictor.probability_below(X, 0.0, subjects=cohort_subjects) if hasattr(predictor, "probability_below")
            else np.full(len(X), np.nan))
    result = pd.DataFrame({
        "cohort_id": feats.cohort_id, "subject": feats.cohort_id.map(subjects), "predicted_lift": pred,
        "lo": lo, "hi": hi, "level": predictor.level,
        "p_harm": harm, "likely_harmful": harm >= HARM_FLAG,
        **learning_signal(feats), **outside_training(X[meta["used_columns"]], meta.get("feature_ranges")),
        **{c: feats[c] for c in ("pass_rate_mean", "frac_nondegenerate", "adv_std") if c in feats},
    }).sort_values("predicted_lift", ascending=False, kind="stable").reset_index(drop=True)
    result.insert(0, "rank", np.arange(1, len(result) + 1))
    _write_scores(result, out)
    return result


HARM_FLAG = 0.5  # a cohort is flagged likely harmful when P(lift < 0) is at least this
RANGE_SLACK = 0.1  # a feature is outside training beyond its training range widened by this share each side


def feature_ranges(X: pd.DataFrame) -> dict[str, list[float]]:
    """Each column's [min, max] over the training cohorts (NaN-free columns only): what `tap fit`
    stores so `tap score` can say which new cohorts lie outside what the predictor has seen."""
    return {c: [float(X[c].min()), float(X[c].max())] for c in X.columns if X[c].notna().any()}


def outside_training(X: pd.DataFrame, ranges: dict | None) -> dict[str, list[str]]:
    """{"outside_training": per cohort, the features (comma separated) beyond their training range
    widened by RANGE_SLACK of its width each side; "" when none}, or {} when the predictor's sidecar
    keeps no ranges (fit before they were stored)."""
    if not ranges:
        return {}
    outside = []
    for row in X.itertuples(index=False):
        names = []
        for column, value in zip(X.columns, row):
            if column not in ranges or not np.isfinite(value):
                continue
            low, high = ranges[column]
            slack = RANGE_SLACK * (high - low)
            if value < low - slack or value > high + slack:
                names.append(column)
        outside.append(",".join(names))
    return {"outside_training": outside}


def learning_signal(feats: pd.DataFrame) -> dict[str, np.ndarray]:
    """{"learning_signal": whether some rollout group's rewards disagreed (frac_nondegenerate > 0)}: with β = 0,
    GRPO gets no gradient from a group whose rewards all agree."""
    from tap.predict.gate import has_learning_signal

    if "frac_nondegenerate" not in feats:
        return {}
    return {"learning_signal": has_learning_signal(feats.frac_nondegenerate)}


def scoring_notes(result: pd.DataFrame, predictor) -> list[str]:
    """What the score table's flags say, in sentences: harmful, without learning signal, outside training."""
    notes, n = [], len(result)
    if "likely_harmful" in result and result.p_harm.notna().any():
        k = int(result.likely_harmful.sum())
        notes.append(f"{k} of {n} cohorts likely harmful: P(lift < 0) ≥ {HARM_FLAG:g} under the predictor's held-out "
                     "errors (column p_harm)")
    if "learning_signal" in result and not result.learning_signal.all():
        k = int((~result.learning_signal).sum())
        gated = getattr(predictor, "gate_", None) is not None
        notes.append(f"{k} of {n} cohorts had no learning signal (no rollout group's rewards disagreed: GRPO with "
                     "beta = 0 gets no gradient from them); "
                     + ("the predictor gives them the mean lift of such training cohorts" if gated else
                        "this predictor has no gate (refit with predictor.gate = \"nondegenerate\"), so their "
                        "predictions extrapolate"))
    if "outside_training" in result:
        out = result.outside_training[result.outside_training != ""]
        if len(out):
            counts = pd.Series([c for names in out for c in names.split(",")]).value_counts()
            notes.append(f"{len(out)} of {n} cohorts have features outside the range the predictor was trained on "
                         f"(most often {', '.join(counts.index[:3])}; column outside_training): their predictions "
                         "extrapolate")
    return notes


def shipped_zoo_predictor() -> Path:
    from tap.predict.artifact import SHIPPED_ZOO

    if not SHIPPED_ZOO.exists():
        raise TapInputError(f"{SHIPPED_ZOO}: this TAP install ships no zoo predictor; pass one with --predictor")
    return SHIPPED_ZOO


MIN_ZERO_SHOT_COHORTS = 8


def _zero_shot(predictor, meta: dict, X: pd.DataFrame, feats: pd.DataFrame, subjects: pd.Series, out: Path):
    """The zoo's pooled predictor on features normalized within these cohorts, as its worlds' were."""
    from tap.evaluate.transfer import normalize

    how = meta["normalization"]
    if how != "none" and len(X) < MIN_ZERO_SHOT_COHORTS:
        raise TapInputError(
            f"{len(X)} cohorts: a zero-shot ranking normalizes features within the cohorts scored ({how}) and needs "
            f"at least {MIN_ZERO_SHOT_COHORTS}; score more at once, or pass a predictor of your own with --predictor"
        )
    scores = predictor.predict(pd.DataFrame(normalize(X.to_numpy(float), how), columns=X.columns))
    result = pd.DataFrame({
        "cohort_id": feats.cohort_id, "subject": feats.cohort_id.map(subjects), "zero_shot_score": scores,
        **{c: feats[c] for c in ("pass_rate_mean", "frac_nondegenerate", "adv_std") if c in feats},
    }).sort_values("zero_shot_score", ascending=False, kind="stable").reset_index(drop=True)
    result.insert(0, "rank", np.arange(1, len(result) + 1))
    _write_scores(result, out)
    return result


def _scoring_features(
    rolled: pd.DataFrame,
    table: pd.DataFrame,
    predictor_path: str | Path,
    meta: dict,
    *,
    config: TapConfig,
    model: str | Path | None,
    home: Path | None,
    probe: str | Path | None,
) -> pd.DataFrame:
    """The features the predictor reads, computed for new cohorts (the forward pass only when it uses
    F or G); a column of a family it saw but does not use is filled with NaN."""
    from tap.advantages import Objective
    from tap.features.compute import build_features

    tags = {name: tag for name, tag, _ in feature_catalog()}
    families = {tags[c] for c in meta["used_columns"] if c in tags} | {"R"}
    policy = None
    probe_table = read_probe(probe) if probe is not None else None
    if families & {"F", "G"}:
        policy = forward_policy(model, config, home=home)
        probe_table = (
            probe_table
            if probe_table is not None
            else run_probe(training_run(predictor_path, meta) or Path("."), config, home=home)
        )
    feats = build_features(
        rolled, families, items=table, policy=policy, probe=probe_table, objective=Objective.of(config.label)
    )
    absent = [c for c in meta["used_columns"] if c not in feats]
    if absent:
        raise TapInputError(f"{predictor_path}: uses feature {absent[0]!r}, which these rollouts cannot give")
    for column in meta["columns"]:  # a family the predictor saw but does not use: any value will do
        if column not in feats:
            feats[column] = np.nan
    return feats


def _write_scores(result: pd.DataFrame, out: Path) -> None:
    if out.suffix == ".csv":
        from tap.store import atomic_path

        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            result.to_csv(tmp, index=False)
    else:
        write_parquet(result, out)
