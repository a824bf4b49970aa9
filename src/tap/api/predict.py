"""The predictor's API: evaluate every scorer on a run folder and fit the predictor (scoring new cohorts
is tap.api.scoring)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from tap.api.pipeline import _run_config, run_probe
from tap.config import TapConfig
from tap.errors import TapInputError
from tap.features.catalog import feature_catalog
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
    (matched by content) are used, on the configured seeds that keep the most runs
    (tap.labels.summary.seed_table: an unfinished extra seed is set aside, a cohort missing a run of
    a kept seed is left out); what was set aside is listed in `notes` and counted in `dropped`."""
    from tap.api.pipeline import label_selection
    from tap.labels.summary import seed_table

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
    seeds = range(config.label.first_seed, config.label.first_seed + config.label.seeds)
    complete, seed_notes = seed_table(rows, target, seeds)
    features = pd.read_parquet(paths.features)
    features["cohort_id"] = features.cohort_id.astype(str)
    notes = selection.notes() + seed_notes
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
        "dropped": int(rows.cohort_id.nunique() - len(complete)) + int(len(complete) - len(features)),
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
    from tap.evaluate.scorers import build_scorers, configured_scorer_name

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
    scorers = build_scorers(data["features"], data["label_cost"], data["y_cs"].shape[1], predictor, short_runs,
                            which=config.evaluate.scorers)
    started = time.perf_counter()
    ev = config.evaluate
    headline = configured_scorer_name(predictor)
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
        data["y_cs"].mean(axis=1), seed=seed, subjects=data["domains"], groups=data["groups"],
    )
    catalog = {name: (tag, text) for name, tag, text in feature_catalog()}
    rows = [
        {**row, "tag": catalog[row["feature"]][0], "definition": catalog[row["feature"]][1]}
        for row in table.to_dict(orient="records")
    ]
    return {
        "scorer": headline,
        "method": "drop in held-out Spearman ρ when one feature is shuffled (grouped 5-fold x 20 repeats)",
        "rows": rows,
    }


def _fit_on_prior(prior: str | Path, run_dir: Path, table: pd.DataFrame, y: np.ndarray, groups, config: TapConfig):
    """A PriorPredictor on the run's labelled cohorts, the normalization taken over every cohort with features."""
    from tap.api.scoring import load_scoring_predictor, shipped_zoo_predictor
    from tap.predict.prior import PriorPredictor

    path = shipped_zoo_predictor() if str(prior) == "zoo" else Path(prior)
    model, meta = load_scoring_predictor(path)
    if meta.get("kind") != "zoo":
        raise TapInputError(f"{path}: not a zoo predictor (`tap fit --worlds` writes one); --prior takes zoo or one")
    columns = meta["columns"]
    missing = [c for c in columns if c not in table]
    if missing:
        raise TapInputError(f"{run_dir}: features.parquet lacks {missing[0]!r}, which the prior reads (run "
                            "`tap features compute` with the R and F families)")
    everything = pd.read_parquet(RunPaths(run_dir).features)
    predictor = PriorPredictor(prior=model, columns=columns, normalization=meta["normalization"],
                               shrinkage=meta.get("shrinkage", 10.0), interval=config.predictor.interval,
                               level=config.predictor.level, n_folds=config.predictor.n_folds,
                               random_state=config.predictor.random_state)
    predictor.fit(table[columns], y, groups=groups, reference=everything)
    return predictor, columns, {"path": str(path), "worlds": [w["name"] for w in meta.get("worlds", [])],
                                "normalization": meta["normalization"], "shrinkage": predictor.shrinkage}


def configured_predictor(config: TapConfig, columns: list[str], *, arrays: bool = False, **overrides):
    """The configured TAPPredictor for a table of these feature columns (`arrays`: fit on bare arrays of them, so
    the gate and the prior are given as column indices). A prior the table lacks is left out (`predictor.prior`
    names a column the features do not hold: e.g. only the R family was computed); the fitted predictor's
    describe() says whether it starts from one. A `model = "prior"` without its column is an error."""
    from tap.predict.gate import gate_for
    from tap.predict.predictor import TAPPredictor
    from tap.predict.shrink import prior_for

    params = {**config.predictor.model_dump(), **overrides}
    if params["prior"] != "none" and params["prior"] not in columns:
        if params["model"] == "prior":
            raise TapInputError(f"predictor.model = 'prior' reads {params['prior']!r}, which the features lack "
                                "(compute the F family, or the G family for a gradient score)")
        params["prior"] = "none"
    if arrays:
        params.update(gate=gate_for(params["gate"], columns), prior=prior_for(params["prior"], columns))
    return TAPPredictor(**params)


def fit(
    run_dir: str | Path, *, config: TapConfig | None = None, out: str | Path | None = None, home: Path | None = None,
    prior: str | Path | None = None,
):
    """Fit the configured predictor on every labelled cohort of a run folder; save it (skops + a
    JSON sidecar of what it was trained on) to `out` (default RUN_DIR/predictor.skops).
    With `prior` ("zoo": the zoo's pooled predictor that ships with TAP, or a path to one from `tap fit
    --worlds`), fit the run's departures from it instead (tap.predict.prior).
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
    if prior is not None:
        predictor, columns, prior_meta = _fit_on_prior(prior, run_dir, table, y, data["groups"], config)
    else:
        predictor = configured_predictor(config, columns).fit(X, y, groups=data["groups"], subjects=data["domains"])
        prior_meta = None
    target = Path(out) if out else RunPaths(run_dir).predictor
    metadata = {
        "columns": columns, "target": config.evaluate.target,
        "cohorts": int(len(y)), "seeds": int(data["y_cs"].shape[1]), "label_config_hash": data["config_hash"],
        "label_notes": data["notes"],
        "label_mean": float(y.mean()), "label_std": float(y.std(ddof=1)),
        "predictor": config.predictor.model_dump(), "run_dir": str(run_dir), "config": config.model_dump(mode="json"),
        "model": predictor.describe(),
    }
    if prior_meta is None:
        metadata["used_columns"] = [columns[i] for i in predictor.columns_]
    else:
        metadata.update(used_columns=columns, prior=prior_meta)
    from tap.api.scoring import feature_ranges

    metadata["feature_ranges"] = feature_ranges(table[metadata["used_columns"]].astype(float))
    if getattr(predictor, "model", None) == "auto":
        metadata["auto_choice"] = predictor.choice_
        metadata["auto_inner_scores"] = predictor.inner_scores_
    save_predictor(predictor, target, metadata)
    return predictor, target, metadata
