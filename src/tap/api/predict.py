"""The predictor's API: evaluate every scorer on a run folder, fit the predictor, score new cohorts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from tap.api.pipeline import _run_config, forward_policy, read_cohorts, rollout, run_probe
from tap.config import TapConfig, load_config
from tap.errors import TapInputError
from tap.features.catalog import feature_catalog
from tap.stats import percentile_interval
from tap.store import RunPaths, write_parquet


def _subjects_and_groups(paths: RunPaths, cohort_ids: pd.Series) -> tuple[np.ndarray, list[set], np.ndarray]:
    """Per cohort: its domain (its one subject, else "mixed"), its set of subjects, and its item
    group (cohorts sharing a pool item land in one group). Without cohorts.parquet: all "mixed",
    one group each."""
    domains = np.full(len(cohort_ids), "mixed", dtype=object)
    members: list[set] = [set() for _ in range(len(cohort_ids))]
    groups = np.arange(len(cohort_ids))
    if paths.cohorts.exists():
        from tap.evaluate.protocols import item_groups

        cohorts = pd.read_parquet(paths.cohorts)
        cohorts["cohort_id"] = cohorts.cohort_id.astype(str)
        subjects = cohorts.groupby("cohort_id").subject.agg(lambda s: set(s))
        members = [subjects.get(c, set()) for c in cohort_ids]
        domains = np.array([next(iter(m)) if len(m) == 1 else "mixed" for m in members], dtype=object)
        if "item_id" in cohorts:
            groups = item_groups(cohort_ids, cohorts.groupby("cohort_id").item_id.agg(set).to_dict())
    return domains, members, groups


def _labelled_features(run_dir: Path, config: TapConfig, home: Path | None = None) -> dict:
    """Features of every labelled cohort of a run folder, aligned with its single-seed lifts.

    Only the rows of the label config the run's config implies and of the run's current cohorts
    (matched by content) are used; what was set aside is listed in `notes`. Cohorts missing a seed
    (a failed label run) are left out and counted."""
    from tap.api.pipeline import label_selection

    paths = RunPaths(run_dir)
    for path, hint in (
        (paths.features, f"tap features compute {run_dir / 'rollouts.parquet'}"),
        (paths.labels, f"tap label {run_dir}"),
    ):
        if not path.exists():
            raise TapInputError(f"{run_dir}: no {path.name} (run `{hint}` first)")
    selection = label_selection(run_dir, config, home=home)
    rows = selection.rows[selection.rows.status == "ok"]
    if rows.empty:
        why = "; ".join(selection.notes()) or "the ledger is empty"
        raise TapInputError(
            f"{paths.labels}: no finished label runs under this run's label config {selection.config_hash} "
            f"and cohorts ({why}); run `tap label {run_dir}`"
        )
    target = config.evaluate.target
    if rows[target].isna().all():
        raise TapInputError(
            f"{paths.labels}: no label run has {target} (labelled before it existed, or a verifier whose expected "
            f"accuracy needs label.probe_samples > 0): relabel, or --set evaluate.target=lift_nll"
        )
    wide = rows.pivot_table(index="cohort_id", columns="seed", values=target)
    complete = wide.dropna()
    features = pd.read_parquet(paths.features)
    features["cohort_id"] = features.cohort_id.astype(str)
    notes = selection.notes()
    if paths.rollouts.exists() and paths.cohorts.exists():  # features of items the cohorts no longer hold
        from tap.labels.identity import changed_since_rollouts

        stale = changed_since_rollouts(
            pd.read_parquet(paths.rollouts, columns=["cohort_id", "position", "prompt", "gold"]),
            pd.read_parquet(paths.cohorts),
        )
        if stale:
            features = features[~features.cohort_id.isin(stale)]
            notes.append(
                f"left out {len(stale)} cohorts whose features were computed from other items (rerun `tap rollout` "
                f"and `tap features compute`, or `tap study --out {run_dir}`)"
            )
    features = features[features.cohort_id.isin(complete.index)].sort_values("cohort_id").reset_index(drop=True)
    if len(features) < 8:
        raise TapInputError(
            f"{run_dir}: only {len(features)} cohorts have both features and every seed's label (need at least 8)"
        )
    y_cs = complete.loc[features.cohort_id].to_numpy(float)
    domains, members, groups = _subjects_and_groups(paths, features.cohort_id)
    return {
        "features": features, "y_cs": y_cs, "domains": domains.astype(str), "members": members, "groups": groups,
        "selection": selection, "rows": rows, "seeds": list(complete.columns),
        "config_hash": selection.config_hash, "other_hashes": list(selection.other_config_hashes), "notes": notes,
        "dropped": int(len(wide) - len(complete)) + int(len(complete) - len(features)),
        "label_cost": (float(rows.wall_seconds.mean()), float(rows.flops.mean())),
    }


def _short_runs(run_dir: Path, config: TapConfig, selection, cohort_ids: pd.Series, seeds, rows: pd.DataFrame,
                home: Path | None) -> dict[int, tuple[np.ndarray, float, float]]:
    """{h: (the target's lift after h GRPO steps, cohorts x seeds; seconds; FLOPs)} for every step in
    `label.probe_steps` recorded for all of these cohorts and seeds (tap.labels.summary.step_lifts).
    A short run costs its h steps plus one look at the probe; its FLOPs scale the label run's
    training share by h / steps."""
    from tap.labels.ledger import Ledger
    from tap.labels.summary import step_lifts

    ledger = Ledger(RunPaths(run_dir).labels)
    records = ledger.details("probe_records", selection.config_hash)
    wanted = [s for s in config.label.probe_steps if 0 < s < config.label.steps]
    if records.empty or not wanted:
        return {}
    records = records[records.step.isin([0, *wanted])]
    lifts = step_lifts(records, run_probe(run_dir, config, home=home), config.label.verifier)
    lifts = lifts.merge(selection.rows[["cohort_id", "cohort_hash", "seed"]], on=["cohort_id", "cohort_hash", "seed"])
    timings = ledger.details("label_steps", selection.config_hash)
    out = {}
    for steps in wanted:
        wide = lifts[lifts.step == steps].pivot_table(index="cohort_id", columns="seed", values=config.evaluate.target)
        wide = wide.reindex(index=list(cohort_ids), columns=list(seeds))
        if wide.isna().any().any():
            continue
        at = timings[timings.step == steps]
        scoring = 2.0 * rows.parameters * rows.scored_tokens
        flops = float(((rows.flops - scoring) * steps / config.label.steps + scoring).mean())
        out[steps] = (wide.to_numpy(float), float((at.train_seconds + at.probe_seconds).mean()), flops)
    return out


def evaluate(
    run_dir: str | Path,
    *,
    config: TapConfig | None = None,
    n_jobs: int | None = None,
    home: Path | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict:
    """Evaluate TAP and every baseline with grouped K-fold, LODO, held-out-seed selection (and LOCO on small
    batteries); write metrics.json and predictions.parquet into the run folder and return the metrics."""
    import os
    import time

    from tap import __version__
    from tap.evaluate.evaluation import evaluate_scorers
    from tap.evaluate.scorers import build_scorers

    run_dir = Path(run_dir)
    paths = RunPaths(run_dir)
    config = _run_config(run_dir, config)
    data = _labelled_features(run_dir, config, home)
    if data["y_cs"].shape[1] < 2:
        raise TapInputError(
            f"{run_dir}: labels from one seed only; evaluation needs at least 2 (held-out-seed selection, "
            f"noise ceiling): run `tap label {run_dir} --seeds 2`"
        )
    predictor = config.predictor.model_dump()
    short_runs = _short_runs(
        run_dir, config, data["selection"], data["features"].cohort_id, data["seeds"], data["rows"], home
    )
    scorers = build_scorers(data["features"], data["label_cost"], data["y_cs"].shape[1], predictor, short_runs)
    started = time.perf_counter()
    ev = config.evaluate
    headline = f"TAP {config.predictor.model} {'+'.join(config.predictor.families)}"
    metrics, predictions = evaluate_scorers(
        scorers, data["features"], data["y_cs"], data["domains"], data["members"],
        q=ev.top_q, resamples=ev.bootstrap, seed=ev.bootstrap_seed, random_draws=ev.random_draws,
        level=config.predictor.level, n_jobs=n_jobs or min(2, os.cpu_count() or 1), progress=progress,
        groups=data["groups"], folds=ev.folds, repeats=ev.repeats, loco_max=ev.loco_max_cohorts, headline=headline,
    )
    metrics["importance"] = _importance(scorers, headline, data, ev.bootstrap_seed)
    metrics.update(
        {
            "tap_version": __version__,
            "target": ev.target,
            "label_config_hash": data["config_hash"],
            "other_label_config_hashes": data["other_hashes"],
            "label_notes": data["notes"],
            "cohorts_dropped": data["dropped"],
            "headline": headline if any(s["name"] == headline for s in metrics["scorers"]) else None,
            "predictor": predictor,
            "evaluation_seconds": time.perf_counter() - started,
            "label_run": {"seconds": data["label_cost"][0], "flops": data["label_cost"][1]},
        }
    )
    write_parquet(predictions, paths.predictions)
    from tap.store import write_json

    write_json(metrics, paths.metrics)
    return metrics


def _importance(scorers: list, headline: str, data: dict, seed: int) -> dict | None:
    """Held-out permutation importance of the configured predictor's features, with definitions."""
    from tap.evaluate.importance import permutation_importances

    scorer = next((s for s in scorers if s.name == headline), None)
    if scorer is None:
        return None
    table = permutation_importances(
        lambda: scorer.make().set_params(interval="none"), data["features"][scorer.columns].astype(float),
        data["y_cs"].mean(axis=1), seed=seed, subjects=data["domains"],
    )
    catalog = {name: (tag, text) for name, tag, text in feature_catalog()}
    rows = [
        {**row, "tag": catalog[row["feature"]][0], "definition": catalog[row["feature"]][1]}
        for row in table.to_dict(orient="records")
    ]
    return {
        "scorer": headline,
        "method": "drop in held-out Spearman ρ when one feature is shuffled (5 folds x 20 repeats)",
        "rows": rows,
    }


def _predictor_from_config(config: TapConfig):
    from tap.predict.predictor import TAPPredictor

    return TAPPredictor(**config.predictor.model_dump())


def fit(
    run_dir: str | Path, *, config: TapConfig | None = None, out: str | Path | None = None, home: Path | None = None
):
    """Fit the configured predictor on every labelled cohort of a run folder; save it (skops + a
    JSON sidecar of what it was trained on) to `out` (default RUN_DIR/predictor.skops).
    Returns (predictor, path, sidecar metadata)."""
    from tap.features.compute import feature_columns
    from tap.predict.artifact import save_predictor

    run_dir = Path(run_dir)
    config = _run_config(run_dir, config)
    data = _labelled_features(run_dir, config, home)
    table = data["features"]
    known = {name for name, _, _ in feature_catalog()}
    columns = [c for c in feature_columns(table) if c in known and table[c].notna().any()]
    X = table[columns].astype(float)
    y = data["y_cs"].mean(axis=1)
    predictor = _predictor_from_config(config).fit(X, y, groups=data["groups"], subjects=data["domains"])
    target = Path(out) if out else RunPaths(run_dir).predictor
    metadata = {
        "columns": columns, "used_columns": [columns[i] for i in predictor.columns_], "target": config.evaluate.target,
        "cohorts": int(len(y)), "seeds": int(data["y_cs"].shape[1]), "label_config_hash": data["config_hash"],
        "label_notes": data["notes"],
        "label_mean": float(y.mean()), "label_std": float(y.std(ddof=1)),
        "predictor": config.predictor.model_dump(), "run_dir": str(run_dir), "config": config.model_dump(mode="json"),
        "model": predictor.describe(),
    }
    if predictor.model == "auto":
        metadata["auto_choice"] = predictor.choice_
        metadata["auto_inner_scores"] = predictor.inner_scores_
    save_predictor(predictor, target, metadata)
    return predictor, target, metadata


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
    result: pd.DataFrame, heldout_errors: np.ndarray | None = None, *, resamples: int = 1000, seed: int = 0
) -> dict:
    """A dataset's mean predicted lift per cohort, with a 95% bootstrap interval.

    Each resample draws the dataset's cohorts with replacement and, when the predictor's signed
    held-out errors (label − held-out prediction, from its conformal calibration) are given, one
    error per drawn cohort, added to its prediction: the interval then covers the predictor's own
    error as well as the spread over cohorts, assuming the new cohorts' errors are like those of
    its training battery. Without them it is the spread over cohorts only (`includes_predictor_error`)."""
    values = result.predicted_lift.to_numpy(float)
    errors = None if heldout_errors is None or not len(heldout_errors) else np.asarray(heldout_errors, dtype=float)
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(resamples):
        drawn = values[rng.integers(0, len(values), len(values))]
        if errors is not None:
            drawn = drawn + errors[rng.integers(0, len(errors), len(values))]
        means.append(drawn.mean())
    return {**percentile_interval(values.mean(), means, key="mean"), "cohorts": len(values),
            "includes_predictor_error": errors is not None}


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
    predictor_path: str | Path,
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
    folder the predictor was fit on (its items.parquet), else the tiny world's probe."""
    out = check_scores_path(out)
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
    cohort_subjects = feats.cohort_id.map(subjects).to_numpy()
    pred = predictor.predict(X, subjects=cohort_subjects)
    lo, hi = predictor.predict_interval(X, subjects=cohort_subjects)
    result = pd.DataFrame({
        "cohort_id": feats.cohort_id, "subject": feats.cohort_id.map(subjects), "predicted_lift": pred,
        "lo": lo, "hi": hi, "level": predictor.level,
        **{c: feats[c] for c in ("pass_rate_mean", "frac_nondegenerate", "adv_std") if c in feats},
    }).sort_values("predicted_lift", ascending=False, kind="stable").reset_index(drop=True)
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
