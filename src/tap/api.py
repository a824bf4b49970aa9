"""The public Python API. The CLI only parses arguments and calls these functions."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from tap.config import TapConfig, config_to_toml, load_config
from tap.errors import TapInputError
from tap.store import RunPaths, write_parquet, write_text
from tap.world.build import World, build_world


def world(
    config: TapConfig | None = None,
    *,
    home: Path | None = None,
    out: Path | None = None,
    progress: Callable[[int, int, dict | None], None] | None = None,
) -> World:
    """Build or reuse the tiny world; with `out`, also lay its files into a run folder."""
    config = config or load_config()
    built = build_world(config, home=home, progress=progress)
    if out is not None:
        paths = RunPaths(Path(out))
        paths.root.mkdir(parents=True, exist_ok=True)
        write_text(config_to_toml(config), paths.config)
        for name in ("items.parquet", "cohorts.parquet"):
            shutil.copyfile(built.root / name, paths.root / f".{name}.tmp")
            (paths.root / f".{name}.tmp").replace(paths.root / name)
    return built


def load_policy(model: str | Path | None = None, config: TapConfig | None = None, *, home: Path | None = None, batch_size: int | None = None):
    """A policy from a model folder (or hub id), or the tiny world's policy for `config`."""
    from tap.policy.hf import HFPolicy

    config = config or load_config()
    batch = batch_size or config.rollout.batch_size
    if model is None:
        return HFPolicy.from_pretrained(build_world(config, home=home).policy_dir, batch_size=batch)
    if Path(model).exists() and not (Path(model) / "config.json").exists():
        raise TapInputError(f"{model}: not a model folder (no config.json)")
    return HFPolicy.from_pretrained(model, batch_size=batch)


def read_cohorts(path: str | Path, max_cohorts: int | None = None) -> pd.DataFrame:
    """Read and check a cohorts file (parquet, JSONL or CSV); optionally keep the first N cohorts."""
    from tap.rollouts import load_cohorts

    cohorts = load_cohorts(path)
    if max_cohorts is not None:
        keep = list(dict.fromkeys(cohorts.cohort_id))[:max_cohorts]
        cohorts = cohorts[cohorts.cohort_id.isin(keep)].reset_index(drop=True)
    return cohorts


def rollout(
    cohorts: str | Path | pd.DataFrame,
    out: str | Path,
    *,
    config: TapConfig | None = None,
    model: str | Path | None = None,
    home: Path | None = None,
    max_cohorts: int | None = None,
    verifier: str = "exact",
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Sample G completions per item of each cohort (a file or a checked table); write rollouts.parquet."""
    from tap.rollouts import rollout_cohorts

    config = config or load_config()
    if not isinstance(cohorts, pd.DataFrame):
        cohorts = read_cohorts(cohorts, max_cohorts)
    elif max_cohorts is not None:
        cohorts = cohorts[cohorts.cohort_id.isin(list(dict.fromkeys(cohorts.cohort_id))[:max_cohorts])]
    policy = load_policy(model, config, home=home)
    r = config.rollout
    table = rollout_cohorts(
        policy, cohorts,
        num_generations=r.num_generations, max_new_tokens=r.max_new_tokens, temperature=r.temperature,
        seed=r.seed, prompts_per_batch=max(1, r.batch_size // r.num_generations), verifier=verifier,
        progress=progress,
    )
    write_parquet(table, Path(out))
    return table


def _run_config(run_dir: Path, config: TapConfig | None) -> TapConfig:
    """The config a stage runs with: the given one, else the run folder's, else the defaults.
    The run folder's config.toml is (re)written to what ran, so it always tells the truth."""
    paths = RunPaths(run_dir)
    if config is None:
        config = load_config(paths.config) if paths.config.exists() else load_config()
    paths.root.mkdir(parents=True, exist_ok=True)
    text = config_to_toml(config)
    if not paths.config.exists() or paths.config.read_text() != text:
        write_text(text, paths.config)
    return config


def label(
    run_dir: str | Path,
    *,
    config: TapConfig | None = None,
    cohorts: str | Path | pd.DataFrame | None = None,
    max_cohorts: int | None = None,
    seeds: int | None = None,
    workers: int = 1,
    executor: str = "local",
    ray_address: str | None = None,
    retries: int = 1,
    home: Path | None = None,
    fail_times: dict[str, int] | None = None,
    progress: Callable[[int, int, int], None] | None = None,
):
    """GRPO-train every cohort x seed from the base policy and record its lift in labels.sqlite.

    Cohorts come from `cohorts` (a file or a table) or the run folder's cohorts.parquet; the probe
    from the run folder's items.parquet (split == "probe"), else from the tiny world.
    """
    from tap.labels.battery import base_probe_metrics, label_hash, plan_units, run_battery, threads_per_worker
    from tap.labels.executors import make_executor
    from tap.labels.ledger import Ledger

    run_dir = Path(run_dir)
    paths = RunPaths(run_dir)
    if config is None and paths.config.exists():
        config = load_config(paths.config)
    config = config or load_config()
    if seeds is not None:
        config = config.model_copy(update={"label": config.label.model_copy(update={"seeds": seeds})})
    config = _run_config(run_dir, config)
    if cohorts is None and not paths.cohorts.exists():
        raise TapInputError(f"{run_dir}: no cohorts.parquet (run `tap world build --out {run_dir}` or pass --cohorts)")
    table = cohorts if isinstance(cohorts, pd.DataFrame) else read_cohorts(cohorts or paths.cohorts)
    if max_cohorts is not None:  # the same cut for a file and for a table handed in directly
        table = table[table.cohort_id.isin(list(dict.fromkeys(table.cohort_id))[:max_cohorts])]
    built = build_world(config, home=home)
    items = pd.read_parquet(paths.items) if paths.items.exists() else built.items
    probe = items[items.split == "probe"].reset_index(drop=True)
    weights_sha = (built.policy_dir / "weights.sha256").read_text().strip()
    config_hash = label_hash(config.label, weights_sha, probe)
    ledger = Ledger(paths.labels)
    before = base_probe_metrics(ledger, config_hash, built.policy_dir, probe, config.label)
    threads = threads_per_worker(workers, config.label.threads)
    units = plan_units(table, probe, built.policy_dir, config.label, config_hash, before, threads, fail_times)
    pool = make_executor(executor, workers, run_dir=run_dir, ray_address=ray_address)
    try:
        return run_battery(units, ledger, pool, retries=retries, progress=progress)
    finally:
        pool.close()


def labels_table(run_dir: str | Path) -> tuple[pd.DataFrame, dict]:
    """Per-cohort labels joined with each cohort's knobs, and the battery summary."""
    from tap.labels.ledger import Ledger
    from tap.labels.summary import battery_summary, cohort_labels

    paths = RunPaths(Path(run_dir))
    if not paths.labels.exists():
        raise TapInputError(f"{run_dir}: no labels.sqlite (run `tap label {run_dir}` first)")
    rows = Ledger(paths.labels).table()
    per_cohort = cohort_labels(rows)
    if paths.cohorts.exists():
        knobs = pd.read_parquet(paths.cohorts).groupby("cohort_id").first().reset_index()
        keep = [c for c in ("cohort_id", "cohort_subject", "vendor", "difficulty_lo", "difficulty_hi", "corruption_rate",
                            "duplicate_rate", "off_format_rate", "subject") if c in knobs.columns]
        per_cohort = per_cohort.merge(knobs[keep], on="cohort_id", how="left")
    return per_cohort, battery_summary(rows)


def features(
    rollouts: str | Path,
    out: str | Path,
    *,
    families: set[str] = frozenset({"R", "F"}),
    cohorts: str | Path | None = None,
    config: TapConfig | None = None,
    model: str | Path | None = None,
    home: Path | None = None,
) -> pd.DataFrame:
    """Features per cohort from a rollouts file -> features.parquet. The forward-pass family also
    needs the cohorts (default: cohorts.parquet beside the rollouts) and the policy."""
    from tap.features.compute import build_features
    from tap.store import read_table

    rollouts = Path(rollouts)
    table = read_table(rollouts)
    missing = [c for c in ("cohort_id", "position", "reward", "answer", "n_tokens", "finish_reason", "logprobs", "entropies") if c not in table]
    if missing:
        raise TapInputError(f"{rollouts}: missing column {missing[0]!r} (is this a rollouts file from `tap rollout`?)")
    items = probe = policy = None
    if families & {"F", "G"}:
        config = config or load_config()
        items = read_cohorts(cohorts or rollouts.with_name("cohorts.parquet"))
        policy = load_policy(model, config, home=home)
        built = build_world(config, home=home)
        probe = built.probe
    result = build_features(table, set(families), items=items, policy=policy, probe=probe)
    write_parquet(result, Path(out))
    return result


def feature_catalog() -> list[tuple[str, str, str]]:
    """(name, cost tag, one-line definition) of every feature TAP computes."""
    from tap.features.gradients import GRADIENT_FEATURES
    from tap.features.head_align import HEAD_ALIGN_FEATURES
    from tap.features.registry import FEATURES
    from tap.features.representations import MODEL_FEATURES

    rows = [(f.name, f.tag, f.definition) for f in FEATURES.values()]
    rows += [(name, "F", " ".join((fn.__doc__ or "").split("] ", 1)[-1].split())) for name, fn in MODEL_FEATURES.items()]
    rows += [(name, "F", text) for name, text in HEAD_ALIGN_FEATURES.items()]
    rows += [(name, "G", text) for name, text in GRADIENT_FEATURES.items()]
    return rows


def _labelled_features(run_dir: Path, config: TapConfig) -> dict:
    """Features of every labelled cohort of a run folder, aligned with its single-seed lifts.

    Cohorts missing a seed (a failed label run) are left out and counted; a ledger holding several
    label configs uses the one with the most finished runs, and says which."""
    from tap.labels.ledger import Ledger

    paths = RunPaths(run_dir)
    for path, hint in ((paths.features, f"tap features compute {run_dir / 'rollouts.parquet'}"), (paths.labels, f"tap label {run_dir}")):
        if not path.exists():
            raise TapInputError(f"{run_dir}: no {path.name} (run `{hint}` first)")
    rows = Ledger(paths.labels).table()
    rows = rows[rows.status == "ok"]
    if rows.empty:
        raise TapInputError(f"{paths.labels}: no finished label runs")
    hashes = rows.config_hash.value_counts()
    config_hash = str(hashes.index[0])
    rows = rows[rows.config_hash == config_hash]
    target = config.evaluate.target
    wide = rows.pivot_table(index="cohort_id", columns="seed", values=target)
    complete = wide.dropna()
    features = pd.read_parquet(paths.features)
    features["cohort_id"] = features.cohort_id.astype(str)
    features = features[features.cohort_id.isin(complete.index)].sort_values("cohort_id").reset_index(drop=True)
    if len(features) < 8:
        raise TapInputError(f"{run_dir}: only {len(features)} cohorts have both features and every seed's label (need at least 8)")
    y_cs = complete.loc[features.cohort_id].to_numpy(float)
    domains = np.full(len(features), "mixed", dtype=object)
    members = [set() for _ in range(len(features))]
    if paths.cohorts.exists():
        cohorts = pd.read_parquet(paths.cohorts)
        cohorts["cohort_id"] = cohorts.cohort_id.astype(str)
        subjects = cohorts.groupby("cohort_id").subject.agg(lambda s: set(s))
        members = [subjects.get(c, set()) for c in features.cohort_id]
        domains = np.array([next(iter(m)) if len(m) == 1 else "mixed" for m in members], dtype=object)
    return {
        "features": features, "y_cs": y_cs, "domains": domains.astype(str), "members": members,
        "config_hash": config_hash, "other_hashes": [str(h) for h in hashes.index[1:]],
        "dropped": int(len(wide) - len(complete)) + int(len(complete) - len(features)),
        "label_cost": (float(rows.wall_seconds.mean()), float(rows.flops.mean())),
    }


def evaluate(
    run_dir: str | Path,
    *,
    config: TapConfig | None = None,
    n_jobs: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict:
    """Evaluate TAP and every baseline with LOCO, LODO and held-out-seed selection; write
    metrics.json and predictions.parquet into the run folder and return the metrics."""
    import os
    import time

    from tap import __version__
    from tap.evaluate.evaluation import evaluate_scorers
    from tap.evaluate.scorers import build_scorers

    run_dir = Path(run_dir)
    paths = RunPaths(run_dir)
    config = _run_config(run_dir, config)
    data = _labelled_features(run_dir, config)
    if data["y_cs"].shape[1] < 2:
        raise TapInputError(f"{run_dir}: labels from one seed only; evaluation needs at least 2 (held-out-seed selection, "
                            f"noise ceiling): run `tap label {run_dir} --seeds 2`")
    predictor = config.predictor.model_dump()
    scorers = build_scorers(data["features"], data["label_cost"], data["y_cs"].shape[1], predictor)
    started = time.perf_counter()
    ev = config.evaluate
    metrics, predictions = evaluate_scorers(
        scorers, data["features"], data["y_cs"], data["domains"], data["members"],
        q=ev.top_q, resamples=ev.bootstrap, seed=ev.bootstrap_seed, random_draws=ev.random_draws,
        level=config.predictor.level, n_jobs=n_jobs or min(2, os.cpu_count() or 1), progress=progress,
    )
    headline = f"TAP {config.predictor.model} {'+'.join(config.predictor.families)}"
    metrics["importance"] = _importance(scorers, headline, data, ev.bootstrap_seed)
    metrics.update({
        "tap_version": __version__, "target": ev.target, "label_config_hash": data["config_hash"],
        "other_label_config_hashes": data["other_hashes"], "cohorts_dropped": data["dropped"],
        "headline": headline if any(s["name"] == headline for s in metrics["scorers"]) else None,
        "predictor": predictor, "evaluation_seconds": time.perf_counter() - started,
        "label_run": {"seconds": data["label_cost"][0], "flops": data["label_cost"][1]},
    })
    write_parquet(predictions, paths.predictions)
    from tap.store import write_json

    write_json(metrics, paths.metrics)
    return metrics


def _importance(scorers: list, headline: str, data: dict, seed: int) -> dict | None:
    """Held-out permutation importance of the configured predictor's features, with definitions."""
    from tap.evaluate.evaluation import permutation_importances

    scorer = next((s for s in scorers if s.name == headline), None)
    if scorer is None:
        return None
    table = permutation_importances(
        lambda: scorer.make().set_params(interval="none"), data["features"][scorer.columns].astype(float),
        data["y_cs"].mean(axis=1), seed=seed,
    )
    catalog = {name: (tag, text) for name, tag, text in feature_catalog()}
    rows = [{**row, "tag": catalog[row["feature"]][0], "definition": catalog[row["feature"]][1]} for row in table.to_dict(orient="records")]
    return {"scorer": headline, "method": "drop in held-out Spearman ρ when one feature is shuffled (5 folds x 20 repeats)", "rows": rows}


def _predictor_from_config(config: TapConfig):
    from tap.predict.predictor import TAPPredictor

    return TAPPredictor(**config.predictor.model_dump())


def fit(run_dir: str | Path, *, config: TapConfig | None = None, out: str | Path | None = None):
    """Fit the configured predictor on every labelled cohort of a run folder; save it (skops + a
    JSON sidecar of what it was trained on) to `out` (default RUN_DIR/predictor.skops).
    Returns (predictor, path, sidecar metadata)."""
    from tap.features.compute import feature_columns
    from tap.predict.artifact import save_predictor

    run_dir = Path(run_dir)
    config = _run_config(run_dir, config)
    data = _labelled_features(run_dir, config)
    table = data["features"]
    known = {name for name, _, _ in feature_catalog()}
    columns = [c for c in feature_columns(table) if c in known and table[c].notna().any()]
    X = table[columns].astype(float)
    y = data["y_cs"].mean(axis=1)
    predictor = _predictor_from_config(config).fit(X, y)
    target = Path(out) if out else RunPaths(run_dir).predictor
    metadata = {
        "columns": columns, "used_columns": [columns[i] for i in predictor.columns_], "target": config.evaluate.target,
        "cohorts": int(len(y)), "seeds": int(data["y_cs"].shape[1]), "label_config_hash": data["config_hash"],
        "label_mean": float(y.mean()), "label_std": float(y.std(ddof=1)),
        "predictor": config.predictor.model_dump(), "run_dir": str(run_dir), "config": config.model_dump(mode="json"),
    }
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


def dataset_lift(result: pd.DataFrame, *, resamples: int = 1000, seed: int = 0) -> dict:
    """A dataset's mean predicted lift per cohort, with a 95% bootstrap interval over its cohorts."""
    values = result.predicted_lift.to_numpy(float)
    rng = np.random.default_rng(seed)
    means = [values[rng.integers(0, len(values), len(values))].mean() for _ in range(resamples)]
    return {"mean": float(values.mean()), "lo": float(np.quantile(means, 0.025)), "hi": float(np.quantile(means, 0.975)),
            "cohorts": int(len(values))}


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
        raise TapInputError(f"{sidecar}: missing (the predictor's sidecar names the features it was trained on; re-run `tap fit`)")
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
    features compare against `probe` (a file with prompt, gold, subject), else the tiny world's probe."""
    from tap.features.compute import build_features

    out = check_scores_path(out)
    predictor, meta = load_scoring_predictor(predictor_path)
    if config is None:  # the predictor's own run: same tiny policy, same sampling settings
        config = TapConfig.model_validate(meta["config"]) if "config" in meta else load_config()
    table = cohorts if isinstance(cohorts, pd.DataFrame) else read_cohorts(cohorts, max_cohorts)
    stem = out.with_suffix("")
    rolled = rollout(table, stem.with_name(stem.name + ".rollouts.parquet"), config=config, model=model, home=home,
                     verifier=verifier, progress=progress)
    tags = {name: tag for name, tag, _ in feature_catalog()}
    families = {tags[c] for c in meta["used_columns"] if c in tags} | {"R"}
    policy = None
    probe_table = read_probe(probe) if probe is not None else None
    if families & {"F", "G"}:
        policy = load_policy(model, config, home=home)
        probe_table = probe_table if probe_table is not None else build_world(config, home=home).probe
    feats = build_features(rolled, families, items=table, policy=policy, probe=probe_table)
    write_parquet(feats, stem.with_name(stem.name + ".features.parquet"))
    absent = [c for c in meta["used_columns"] if c not in feats]
    if absent:
        raise TapInputError(f"{predictor_path}: uses feature {absent[0]!r}, which these rollouts cannot give")
    for column in meta["columns"]:  # a family the predictor saw but does not use: any value will do
        if column not in feats:
            feats[column] = np.nan
    X = feats[meta["columns"]].astype(float)
    pred = predictor.predict(X)
    lo, hi = predictor.predict_interval(X)
    subjects = table.groupby("cohort_id").subject.agg(lambda s: s.iloc[0] if s.nunique() == 1 else "mixed")
    result = pd.DataFrame({
        "cohort_id": feats.cohort_id, "subject": feats.cohort_id.map(subjects), "predicted_lift": pred,
        "lo": lo, "hi": hi, "level": predictor.level,
        **{c: feats[c] for c in ("pass_rate_mean", "frac_nondegenerate", "adv_std") if c in feats},
    }).sort_values("predicted_lift", ascending=False, kind="stable").reset_index(drop=True)
    result.insert(0, "rank", np.arange(1, len(result) + 1))
    if out.suffix == ".csv":
        from tap.store import atomic_path

        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            result.to_csv(tmp, index=False)
    else:
        write_parquet(result, out)
    return result


def _loop_prior(config: TapConfig):
    """The TAP arm's prior: the advantage-spread heuristic, or a saved predictor on R features."""
    from tap.loop import adv_spread_prior

    if config.loop.prior == "adv_std":
        return adv_spread_prior()
    predictor, meta = load_scoring_predictor(config.loop.prior)
    tags = {name: tag for name, tag, _ in feature_catalog()}
    other = sorted({tags.get(c, "?") for c in meta["used_columns"]} - {"R"})
    if other:
        raise TapInputError(f"{config.loop.prior}: the loop's prior must use R features only (this one uses family {other[0]}); "
                            "fit one with --set 'predictor.families=[\"R\"]'")
    columns = meta["columns"]
    return (lambda features: predictor.predict(features.reindex(columns=columns).astype(float))), f"prior: {Path(config.loop.prior).name}"


def loop(
    run_dir: str | Path,
    *,
    config: TapConfig | None = None,
    home: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Run the closed loop for every seed and arm; write loop.parquet and loop.json (the summary)."""
    from tap.loop import run_arm, summarize
    from tap.store import write_json

    run_dir = Path(run_dir)
    config = _run_config(run_dir, config)
    built = build_world(config, home=home)
    prior = _loop_prior(config)
    lp = config.loop
    total, done = lp.seeds * len(lp.arms) * lp.steps, 0
    rows = []

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    for seed in range(lp.seeds):
        for arm in lp.arms:
            rows += run_arm(arm, seed, config, built, prior, tick)
    table = pd.DataFrame(rows)
    summary = summarize(table)
    write_parquet(table, run_dir / "loop.parquet")
    write_json(summary, run_dir / "loop.json")
    return table, summary


def intervention(
    run_dir: str | Path,
    *,
    config: TapConfig | None = None,
    home: Path | None = None,
    workers: int = 1,
    progress: Callable[[int, int, int], None] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Build matched cohorts that differ only in frac_nondegenerate, label them with S seeds, and fit
    the slope of lift on frac_nondegenerate. Writes RUN_DIR/intervention/ (its own cohorts, rollouts
    and labels.sqlite, resumable), RUN_DIR/intervention.parquet and RUN_DIR/intervention.json."""
    from tap.features.compute import build_features
    from tap.intervention import item_pass_rates, matched_cohorts, slope_with_interval
    from tap.rollouts import rollout_cohorts
    from tap.store import write_json

    run_dir = Path(run_dir)
    config = _run_config(run_dir, config)
    iv, size = config.intervention, config.world.cohorts.size
    if max(iv.levels) > size or min(iv.levels) < 0:
        raise TapInputError(f"intervention.levels must lie in 0..{size} (the cohort size), got {iv.levels}")
    folder = run_dir / "intervention"
    folder.mkdir(parents=True, exist_ok=True)
    built = build_world(config, home=home)
    policy = load_policy(None, config, home=home)
    r = config.rollout
    cohorts_path = folder / "cohorts.parquet"
    if cohorts_path.exists():
        cohorts = pd.read_parquet(cohorts_path)
    else:
        pool = built.items[built.items.split == "pool"]
        rates = item_pass_rates(policy, pool, num_generations=r.num_generations, max_new_tokens=r.max_new_tokens, seed=r.seed)
        cohorts = matched_cohorts(pool.merge(rates, on="item_id"), size=size, levels=iv.levels, replicates=iv.replicates, seed=iv.seed)
        if cohorts.empty:
            raise TapInputError("no subject has enough always-, never- and sometimes-solved pool items for these levels")
        write_parquet(cohorts, cohorts_path)
    label(folder, config=config, cohorts=cohorts, workers=workers, home=home, progress=progress)
    rollouts = rollout_cohorts(policy, cohorts, num_generations=r.num_generations, max_new_tokens=r.max_new_tokens,
                               seed=r.seed + 1, prompts_per_batch=max(1, r.batch_size // r.num_generations))
    achieved = build_features(rollouts, {"R"})[["cohort_id", "frac_nondegenerate", "pass_rate_mean"]]
    per_cohort, _ = labels_table(folder)
    knobs = cohorts.groupby("cohort_id").agg(subject=("subject", "first"), level=("level", "first"),
                                             target_frac_nondegenerate=("target_frac_nondegenerate", "first")).reset_index()
    table = knobs.merge(achieved, on="cohort_id").merge(per_cohort[["cohort_id", "label", "seed_std", "n_seeds"]], on="cohort_id")
    summary = {
        "achieved": slope_with_interval(table, "frac_nondegenerate", "label"),
        "target": slope_with_interval(table, "target_frac_nondegenerate", "label"),
        "levels": iv.levels, "replicates": iv.replicates, "seeds": config.label.seeds, "cohort_size": size,
        "subjects": sorted(table.subject.unique()), "target_metric": "lift_nll (probe gold-NLL drop, nats/token)",
    }
    write_parquet(table, run_dir / "intervention.parquet")
    write_json(summary, run_dir / "intervention.json")
    return table, summary
