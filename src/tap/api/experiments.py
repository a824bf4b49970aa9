"""The experiments' API: the closed loop and the causal intervention."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from tap.api.pipeline import _run_config, label, labels_table, load_policy
from tap.api.scoring import load_scoring_predictor
from tap.config import TapConfig
from tap.errors import TapInputError
from tap.features.catalog import feature_catalog
from tap.store import write_parquet
from tap.world.build import build_world


def _loop_prior(config: TapConfig, families: tuple[str, ...] = ("R",)):
    """The TAP arm's prior: the advantage-spread heuristic, or a saved predictor whose features are
    all of `families`. Returns (score function, name, the predictor's columns)."""
    from tap.experiments.loop import adv_spread_prior

    if config.loop.prior == "adv_std":
        return (*adv_spread_prior(), ["adv_std"])
    predictor, meta = load_scoring_predictor(config.loop.prior)
    tags = {name: tag for name, tag, _ in feature_catalog()}
    other = sorted({tags.get(c, "?") for c in meta["used_columns"]} - set(families))
    if other:
        raise TapInputError(
            f"{config.loop.prior}: this prior must use features of {'+'.join(families)} only (it uses family "
            f"{other[0]}); "
            f"fit one with --set 'predictor.families={json.dumps(list(families))}'"
        )
    columns = meta["columns"]
    return (
        (lambda features: predictor.predict(features.reindex(columns=columns).astype(float))),
        f"prior: {Path(config.loop.prior).name}",
        columns,
    )


def loop(
    run_dir: str | Path,
    *,
    config: TapConfig | None = None,
    home: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Run the closed loop for every seed and arm; write loop.parquet and loop.json (the summary)."""
    from tap.experiments.loop import run_arm, summarize
    from tap.store import write_json

    run_dir = Path(run_dir)
    config = _run_config(run_dir, config)
    built = build_world(config, home=home)
    score, name, columns = _loop_prior(config, ("R", "F"))
    tags = {feature: tag for feature, tag, _ in feature_catalog()}
    families = frozenset({tags[c] for c in columns if c in tags} | {"R"})
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
            rows += run_arm(arm, seed, config, built, (score, name), tick, families)
    table = pd.DataFrame(rows)
    summary = summarize(table)
    write_parquet(table, run_dir / "loop.parquet")
    write_json(summary, run_dir / "loop.json")
    return table, summary


def choice(
    run_dir: str | Path,
    *,
    config: TapConfig | None = None,
    home: Path | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Per-step choice quality (tap/experiments/choice.py): at every state along the followed arm's path, every
    arm chooses among the same candidates, and every candidate is labelled from that state through
    the ledger in RUN_DIR/choice/. Writes choice.parquet (state x arm), choice_candidates.parquet
    (state x candidate: each arm's score and the oracle's labels) and choice.json (the summary)."""
    from tap.experiments.choice import run_seed
    from tap.labels.identity import cohort_hashes
    from tap.labels.ledger import Ledger
    from tap.store import RunPaths, write_json

    run_dir = Path(run_dir)
    config = _run_config(run_dir, config)
    built = build_world(config, home=home)
    lp = config.loop
    score, name, columns = _loop_prior(config, ("R", "F", "G"))
    tags = {feature: tag for feature, tag, _ in feature_catalog()}
    tap_families = {tags[c] for c in columns if c in tags}
    families = tap_families | ({"G"} if "gradient" in lp.choice_arms else set())
    work = run_dir / "choice"
    work.mkdir(parents=True, exist_ok=True)
    target = config.evaluate.target

    def label_state(state_dir: Path, pool: pd.DataFrame, steps: int, seeds: int, first_seed: int) -> pd.DataFrame:
        cfg = config.model_copy(
            update={
                "policy": config.policy.model_copy(update={"model": str(state_dir)}),
                "label": config.label.model_copy(
                    update={"steps": steps, "seeds": seeds, "first_seed": first_seed, "probe_steps": []}
                ),
            }
        )
        result = label(work, config=cfg, cohorts=pool, workers=workers, home=home)
        # by content as well as id: ids like s0t0-0000 recur across reruns with other cohort settings
        rows = Ledger(RunPaths(work).labels).select(result.config_hash, cohort_hashes(pool, cfg.label.verifier)).rows
        rows = rows[(rows.status == "ok") & rows.seed.between(first_seed, first_seed + seeds - 1)]
        columns = ["cohort_id", "seed", "value", "wall_seconds", "flops"]
        return rows.rename(columns={target: "value"})[columns].reset_index(drop=True)

    total, done = lp.seeds * lp.steps, 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    arm_rows, candidate_rows = [], []
    for seed in range(lp.seeds):
        arms, cands = run_seed(
            seed, config, built, (score, name, columns), label_state, work, families=families,
            tap_families=tap_families, progress=tick,
        )
        arm_rows += arms
        candidate_rows += cands
    table, candidates = pd.DataFrame(arm_rows), pd.DataFrame(candidate_rows)
    summary = choice_summary(
        table, candidates, config, name, label_runs=int((Ledger(RunPaths(work).labels).table().status == "ok").sum())
    )
    write_parquet(table, run_dir / "choice.parquet")
    write_parquet(candidates, run_dir / "choice_candidates.parquet")
    write_json(summary, run_dir / "choice.json")
    return table, summary


def choice_summary(
    table: pd.DataFrame, candidates: pd.DataFrame, config: TapConfig, prior: str, label_runs: int | None = None
) -> dict:
    """choice.json: the per-arm summary (tap.experiments.choice.summarize), the oracle's seed agreement, the settings
    and how many label runs the choice ledger holds."""
    from tap.experiments.choice import oracle_agreement, summarize

    lp = config.loop
    summary = summarize(table, resamples=config.evaluate.bootstrap, seed=config.evaluate.bootstrap_seed)
    summary["uniform"]["rank"] = (lp.candidates + 1) / 2  # a uniform pick's expected rank among M candidates
    return {
        **summary,
        "oracle_agreement": oracle_agreement(candidates),
        "candidates": lp.candidates,
        "oracle_seeds": lp.oracle_seeds,
        "train_steps": lp.train_steps,
        "short_run_steps": lp.short_run_steps,
        "follow": lp.follow,
        "target": config.evaluate.target,
        "prior": prior,
        "label_runs": label_runs,
    }


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
    from tap.experiments.intervention import item_pass_rates, matched_cohorts, slope_with_interval
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
        rates = item_pass_rates(
            policy, pool, num_generations=r.num_generations, max_new_tokens=r.max_new_tokens, seed=r.seed
        )
        cohorts = matched_cohorts(
            pool.merge(rates, on="item_id"), size=size, levels=iv.levels, replicates=iv.replicates, seed=iv.seed
        )
        if cohorts.empty:
            raise TapInputError(
                "no subject has enough always-, never- and sometimes-solved pool items for these levels"
            )
        write_parquet(cohorts, cohorts_path)
    label(folder, config=config, cohorts=cohorts, workers=workers, home=home, progress=progress)
    rollouts = rollout_cohorts(policy, cohorts, num_generations=r.num_generations, max_new_tokens=r.max_new_tokens,
                               seed=r.seed + 1, prompts_per_batch=max(1, r.batch_size // r.num_generations))
    achieved = build_features(rollouts, {"R"})[["cohort_id", "frac_nondegenerate", "pass_rate_mean"]]
    per_cohort, label_summary = labels_table(folder, config=config, home=home)
    knobs = (
        cohorts.groupby("cohort_id")
        .agg(
            subject=("subject", "first"),
            level=("level", "first"),
            target_frac_nondegenerate=("target_frac_nondegenerate", "first"),
        )
        .reset_index()
    )
    table = knobs.merge(achieved, on="cohort_id").merge(
        per_cohort[["cohort_id", "label", "seed_std", "n_seeds"]], on="cohort_id"
    )
    summary = {
        "achieved": slope_with_interval(table, "frac_nondegenerate", "label"),
        "target": slope_with_interval(table, "target_frac_nondegenerate", "label"),
        "levels": iv.levels, "replicates": iv.replicates, "seeds": config.label.seeds, "cohort_size": size,
        "subjects": sorted(table.subject.unique()), "target_metric": "lift_nll (probe gold-NLL drop, nats/token)",
        "label_config_hash": label_summary["label_config_hash"], "label_notes": label_summary["notes"],
    }
    write_parquet(table, run_dir / "intervention.parquet")
    write_json(summary, run_dir / "intervention.json")
    return table, summary
