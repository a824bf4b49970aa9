"""Evaluate every scorer with the same protocols on the same cohorts (DESIGN.md, "Measuring honestly").

Inputs: per-cohort features, single-seed lifts y[c, s] (cohorts with every seed), each cohort's
subject (or "mixed"), the subjects its items come from and its item group (cohorts sharing a pool
item share one). Per scorer:
- repeated grouped K-fold (the headline) -> Spearman ρ and pairwise accuracy within each held-out
  fold, averaged over folds and repeats; ρ / noise ceiling; ρ pooled over folds (for comparison);
  interval coverage of TAP's conformal intervals (repeat 0);
- LOCO predictions (batteries of at most `loco_max` cohorts) -> Spearman ρ, Pearson r, pairwise accuracy;
- LODO predictions -> ρ per subject and pooled, and the gap to LOCO on the same cohorts;
- held-out-seed selection -> for each seed h, grouped K-fold scores from models trained on the other
  seeds' labels only; the top q is scored by y[·, h]: mean lift, gain over random, gain over the
  measured-lift selector, fraction of the in-sample oracle, and ρ(scores, y[·, h]).
Every number carries a 95% bootstrap interval over item groups (cohorts that share a pool item are
not independent: a resample draws whole groups, `tap.stats.resample_groups`); each resample also
draws one K-fold repeat, so K-fold intervals include the variance of refitting. All scorers share the same
resamples and repeat draws, so differences between them are paired (`paired`: each scorer's K-fold
ρ minus the headline's). The random scorer's interval is the spread over its draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tap.evaluate import metrics as M
from tap.evaluate.protocols import kfold, kfold_selection, lodo, loco
from tap.evaluate.scorers import Scorer
from tap.evaluate.intervals import Shared, harm_heuristics, paired, scorer_entry
from tap.evaluate.selection import measured_scores
from tap.stats import percentile_interval


def _point_maker(scorer: Scorer) -> Callable:
    """A maker of models that skip the interval machinery (LODO and selection need points only)."""
    if scorer.group == "tap":
        return lambda: scorer.make().set_params(interval="none")
    return scorer.make


def _fit_scorer(scorer: Scorer, X: np.ndarray, y_cs: np.ndarray, domains: np.ndarray, members: list[set],
                groups: np.ndarray, protocol: dict) -> dict:
    """K-fold / LOCO / LODO / per-seed selection scores of one model-based scorer (runs in a worker)."""
    from threadpoolctl import threadpool_limits

    y = y_cs.mean(axis=1)
    point = _point_maker(scorer)
    folds, seed = protocol["folds"], protocol["seed"]
    with threadpool_limits(1):  # many tiny fits: threads only add overhead (and oversubscribe)
        out = kfold(point, X, y, groups, domains, folds=folds, repeats=protocol["repeats"], seed=seed)
        if scorer.intervals:  # repeat 0 again, with conformal intervals (the same split: same seed)
            out.update({k: v for k, v in kfold(scorer.make, X, y, groups, domains, folds=folds, repeats=1, seed=seed,
                                               intervals=True).items() if k in ("lo", "hi", "p_harm")})
        if len(y) <= protocol["loco_max"]:
            out["pred"] = loco(point, X, y, subjects=domains)["pred"]
        out["lodo"] = lodo(point, X, y, domains, members, groups=groups)
        out["selection"] = kfold_selection(point, X, y_cs, groups, domains, folds=folds, seed=seed)
    return out


def evaluate_scorers(
    scorers: list[Scorer],
    features: pd.DataFrame,
    y_cs: np.ndarray,
    domains: np.ndarray,
    members: list[set],
    *,
    q: float = 0.1,
    resamples: int = 1000,
    seed: int = 0,
    random_draws: int = 200,
    level: float = 0.9,
    n_jobs: int = 1,
    progress: Callable[[int, int, str], None] | None = None,
    groups: np.ndarray | None = None,
    folds: int = 5,
    repeats: int = 10,
    loco_max: int = 64,
    headline: str | None = None,
    interval_groups: np.ndarray | None = None,
) -> tuple[dict, pd.DataFrame]:
    """Metrics of every scorer (a dict ready for metrics.json) and per-cohort predictions (long form).

    `features` rows align with `y_cs` rows (cohorts x seeds), `domains` / `members` and `groups`
    (item groups; default: each cohort its own), which the folds keep apart and the bootstrap
    resamples whole (`interval_groups` overrides what it resamples: a comparison's knob, e.g. every
    cohort on its own, as intervals were before). LOCO runs only up to `loco_max` cohorts (it fits
    n models per scorer). `paired` holds each scorer's K-fold ρ minus `headline`'s."""
    y_cs = np.asarray(y_cs, float)
    n, seeds = y_cs.shape
    if seeds < 2:
        raise ValueError("held-out-seed selection and the noise ceiling need at least 2 seeds per cohort")
    domains = np.asarray(domains)
    groups = np.arange(n) if groups is None else np.asarray(groups)
    protocol = {"folds": folds, "repeats": repeats, "seed": seed, "loco_max": loco_max, "q": q, "level": level,
                "resamples": resamples, "random_draws": random_draws}
    ticker = _Ticker(len(scorers), progress)
    fits = {s.name: {"selection": measured_scores(s, y_cs)} for s in scorers if s.group == "measured"}
    resampled = groups if interval_groups is None else np.asarray(interval_groups)
    shared = Shared.draw(fits, scorers, y_cs, resampled, protocol)
    entries = _fit_all(scorers, features, y_cs, domains, members, groups, protocol, shared, n_jobs, ticker, fits)
    results_out, kfold_samples = [], {}
    for scorer in scorers:
        if scorer.name in entries:
            entry, kfold = entries[scorer.name]
        else:
            entry, kfold = scorer_entry(scorer, fits.get(scorer.name), y_cs, domains, shared, protocol)
            ticker.tick(scorer.name)
        results_out.append(entry)
        if kfold is not None:
            kfold_samples[scorer.name] = kfold
    noise = {
        "seeds": seeds,
        "single_seed_reliability": percentile_interval(shared.r1, [b[0] for b in shared.boot_noise]),
        "ceiling": percentile_interval(shared.ceiling, [b[1] for b in shared.boot_noise]),
        "projection": {str(s): M.noise_ceiling(shared.r1, s) for s in range(1, 11)},
    }
    sizes = np.bincount(groups)
    metrics = {
        "cohorts": n, "seeds": seeds, "top_q": q, "bootstrap": resamples, "interval_level": level,
        "protocol": {"headline": f"grouped {folds}-fold x {repeats} repeats, ρ within held-out folds", "folds": folds,
                     "repeats": repeats, "groups": int(len(sizes)), "largest_group": int(sizes.max()),
                     "intervals": "95% bootstrap over item groups (cohorts sharing a pool item resample together)",
                     "loco": n <= loco_max, "loco_max_cohorts": loco_max},
        "noise": noise, "scorers": results_out, "paired": paired(kfold_samples, headline),
        "harm_heuristics": harm_heuristics(features, y_cs.mean(axis=1), shared.boots),
    }
    return metrics, _predictions(scorers, fits, features, y_cs.mean(axis=1), domains)


@dataclass
class _Ticker:
    """Counts finished scorers for the caller's progress callback."""

    total: int
    progress: Callable[[int, int, str], None] | None
    done: int = 0

    def tick(self, name: str) -> None:
        self.done += 1
        if self.progress:
            self.progress(self.done, self.total, name)


def _fit_all(
    scorers: list[Scorer],
    features: pd.DataFrame,
    y_cs: np.ndarray,
    domains: np.ndarray,
    members: list[set],
    groups: np.ndarray,
    protocol: dict,
    shared: Shared,
    n_jobs: int,
    ticker: _Ticker,
    fits: dict,
) -> dict[str, tuple]:
    """Every model-based scorer's protocol fits and its metrics entry with bootstrap intervals, in
    `n_jobs` processes (the bootstrap costs as much as the fits, so it runs beside them). Adds each
    scorer's fit to `fits`; returns name -> (entry, K-fold samples)."""
    jobs = [(s, features[s.columns].to_numpy(float)) for s in scorers if s.make is not None]
    args = (y_cs, domains, members, groups, protocol, shared)
    if n_jobs > 1 and len(jobs) > 1:
        from joblib import Parallel, delayed

        runner = Parallel(n_jobs=n_jobs, return_as="generator")
        results = runner(delayed(_fit_and_enter)(s, X, *args) for s, X in jobs)
    else:
        results = (_fit_and_enter(s, X, *args) for s, X in jobs)
    entries: dict[str, tuple] = {}
    for (scorer, _), (fit, entry, samples) in zip(jobs, results):
        fits[scorer.name] = fit
        entries[scorer.name] = (entry, samples)
        ticker.tick(scorer.name)
    return entries


def _fit_and_enter(
    scorer: Scorer,
    X: np.ndarray,
    y_cs: np.ndarray,
    domains: np.ndarray,
    members: list[set],
    groups: np.ndarray,
    protocol: dict,
    shared: Shared,
) -> tuple[dict, dict, tuple | None]:
    """One scorer's fits and its entry (runs in a worker)."""
    fit = _fit_scorer(scorer, X, y_cs, domains, members, groups, protocol)
    return (fit, *scorer_entry(scorer, fit, y_cs, domains, shared, protocol))


def _predictions(
    scorers: list[Scorer], fits: dict, features: pd.DataFrame, y: np.ndarray, domains: np.ndarray
) -> pd.DataFrame:
    """Per cohort and model-based scorer: label, K-fold (repeat 0) prediction, fold and interval,
    LOCO prediction (NaN when LOCO was not run), LODO prediction."""
    frames = []
    for scorer in scorers:
        fit = fits.get(scorer.name)
        if fit is None or "kfold" not in fit:
            continue
        n = len(y)
        frames.append(
            pd.DataFrame(
                {
                    "cohort_id": features.cohort_id.to_numpy(),
                    "subject": domains,
                    "scorer": scorer.name,
                    "group": scorer.group,
                    "label": y,
                    "pred": fit["kfold"][0],
                    "fold": fit["folds"][0],
                    "pred_lo": fit["lo"],
                    "pred_hi": fit["hi"],
                    "p_harm": fit.get("p_harm", np.full(n, np.nan)),
                    "loco_pred": fit.get("pred", np.full(n, np.nan)),
                    "lodo_pred": fit["lodo"],
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def headline_rows(metrics: dict) -> list[dict]:
    """One flat row per scorer (value and interval of each headline number), for tables and reports."""
    keys = ("kfold_spearman", "kfold_pairwise_accuracy", "kfold_pooled_spearman", "loco_spearman", "loco_pearson",
            "pairwise_accuracy", "lodo_spearman", "lodo_gap", "top_gain",
            "top_gain_vs_measured", "top_fraction_of_oracle", "heldout_spearman", "rho_over_ceiling")
    rows = []
    for entry in metrics["scorers"]:
        row = {
            "scorer": entry["name"],
            "group": entry["group"],
            "cost_seconds": entry["cost_seconds"],
            "cost_flops": entry["cost_flops"],
        }
        for key in keys:
            t = entry["metrics"].get(key, {"value": math.nan, "lo": math.nan, "hi": math.nan})
            row[key], row[f"{key}_lo"], row[f"{key}_hi"] = t["value"], t["lo"], t["hi"]
        cov = entry.get("coverage")
        row["coverage"] = cov["coverage"]["value"] if cov else math.nan
        rows.append(row)
    return rows
