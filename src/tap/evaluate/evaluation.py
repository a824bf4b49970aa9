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
from tap.evaluate.selection import CURVE_Q, heldout_selection, measured_scores, selection_curve
from tap.stats import percentile_interval, resample_groups


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
                                               intervals=True).items() if k in ("lo", "hi")})
        if len(y) <= protocol["loco_max"]:
            out["pred"] = loco(point, X, y, subjects=domains)["pred"]
        out["lodo"] = lodo(point, X, y, domains, members, groups=groups)
        out["selection"] = kfold_selection(point, X, y_cs, groups, domains, folds=folds, seed=seed)
    return out


def _stats(
    fit: dict, y_cs: np.ndarray, q: float, measured_gain: float, ceiling: float, repeat: int | None = None
) -> dict:
    """Every headline statistic of one scorer on one set of cohorts (the full set or a resample).
    K-fold numbers average over repeats, or read one `repeat` (a bootstrap resample's draw)."""
    y = y_cs.mean(axis=1)
    out = {}
    if "kfold" in fit:
        repeats = range(len(fit["kfold"])) if repeat is None else [repeat]
        out["kfold_spearman"] = M.finite_mean(
            [M.fold_mean(M.spearman, fit["kfold"][r], y, fit["folds"][r]) for r in repeats]
        )
        out["kfold_pairwise_accuracy"] = M.finite_mean(
            [M.fold_mean(M.pairwise_accuracy, fit["kfold"][r], y, fit["folds"][r]) for r in repeats]
        )
        out["kfold_pooled_spearman"] = M.finite_mean([M.spearman(fit["kfold"][r], y) for r in repeats])
        out["rho_over_ceiling"] = out["kfold_spearman"] / ceiling if ceiling > 0 else float("nan")
    pred = fit.get("pred")
    if pred is not None:
        out["loco_spearman"] = M.spearman(pred, y)
        out["loco_pearson"] = M.pearson(pred, y)
        out["pairwise_accuracy"] = M.pairwise_accuracy(pred, y)
    if "lodo" in fit:
        held = np.isfinite(fit["lodo"])
        out["lodo_spearman"] = M.spearman(fit["lodo"][held], y[held])
        base = fit["kfold"][0] if "kfold" in fit else pred
        out["lodo_gap"] = M.spearman(base[held], y[held]) - out["lodo_spearman"]
    sel = heldout_selection(fit["selection"], y_cs, q)
    out.update({f"top_{k}": v for k, v in sel.items() if k != "heldout_spearman"})
    out["heldout_spearman"] = sel["heldout_spearman"]
    out["top_gain_vs_measured"] = sel["gain"] - measured_gain
    return out


def _noise(y_cs: np.ndarray) -> tuple[float, float]:
    r1 = M.seed_reliability(y_cs, "spearman")
    return r1, M.noise_ceiling(r1, y_cs.shape[1])


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
    shared = _Shared.draw(fits, scorers, y_cs, resampled, protocol)
    entries = _fit_all(scorers, features, y_cs, domains, members, groups, protocol, shared, n_jobs, ticker, fits)
    results_out, kfold_samples = [], {}
    for scorer in scorers:
        if scorer.name in entries:
            entry, kfold = entries[scorer.name]
        else:
            entry, kfold = _scorer_entry(scorer, fits.get(scorer.name), y_cs, domains, shared, protocol)
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
        "noise": noise, "scorers": results_out, "paired": _paired(kfold_samples, headline),
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
    shared: _Shared,
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
    shared: _Shared,
) -> tuple[dict, dict, tuple | None]:
    """One scorer's fits and its entry (runs in a worker)."""
    fit = _fit_scorer(scorer, X, y_cs, domains, members, groups, protocol)
    return (fit, *_scorer_entry(scorer, fit, y_cs, domains, shared, protocol))


@dataclass
class _Shared:
    """What every scorer's intervals share: the resamples (of item groups, expanded to their cohorts),
    the K-fold repeat each resample reads, and per resample the noise (reliability, ceiling) and the
    measured selector's gain."""

    r1: float
    ceiling: float
    measured_gain: float
    boots: list[np.ndarray]
    draws: list[int]
    boot_noise: list[tuple[float, float]]
    boot_measured: list[float]
    groups: np.ndarray

    @classmethod
    def draw(cls, fits: dict, scorers: list[Scorer], y_cs: np.ndarray, groups: np.ndarray, protocol: dict) -> _Shared:
        q = protocol["q"]
        measured = next((s.name for s in reversed(scorers) if s.group == "measured" and s.seed_scores is None), None)
        r1, ceiling = _noise(y_cs)
        boots = resample_groups(groups, protocol["resamples"], protocol["seed"])

        def gain(idx: np.ndarray) -> float:
            if not measured:
                return float("nan")
            return heldout_selection(fits[measured]["selection"][:, idx], y_cs[idx], q)["gain"]

        return cls(r1, ceiling, gain(np.arange(len(y_cs))), boots,
                   [b % protocol["repeats"] for b in range(len(boots))],  # the K-fold repeat each resample reads
                   [_noise(y_cs[idx]) for idx in boots], [gain(idx) for idx in boots], np.asarray(groups))


def _subset(fit: dict, idx: np.ndarray) -> dict:
    return {k: (v[:, idx] if k in ("selection", "kfold", "folds") else v[idx]) for k, v in fit.items()}


def _scorer_entry(scorer: Scorer, fit: dict | None, y_cs: np.ndarray, domains: np.ndarray, shared: _Shared,
                  protocol: dict) -> tuple[dict, tuple | None]:
    """One scorer's metrics.json entry, and its K-fold ρ with the resamples' values (for `paired`)."""
    q, y = protocol["q"], y_cs.mean(axis=1)
    entry = {"name": scorer.name, "group": scorer.group, "columns": scorer.columns, "note": scorer.note,
             "cost_seconds": scorer.cost_seconds, "cost_flops": scorer.cost_flops}
    if scorer.group == "random":
        entry.update(
            _random_scorer(y_cs, q, shared.ceiling, shared.measured_gain, protocol["random_draws"], protocol["seed"])
        )
        return entry, None
    point = _stats(fit, y_cs, q, shared.measured_gain, shared.ceiling)
    samples = [_stats(_subset(fit, idx), y_cs[idx], q, bm, bn[1], r)
               for idx, bm, bn, r in zip(shared.boots, shared.boot_measured, shared.boot_noise, shared.draws)]
    entry["metrics"] = {k: percentile_interval(v, [s[k] for s in samples]) for k, v in point.items()}
    if "lodo" in fit:
        entry["lodo_per_subject"] = _per_subject(
            fit, y, domains, shared.groups, protocol["resamples"], protocol["seed"]
        )
    if scorer.intervals:
        entry["coverage"] = _coverage(fit, y, protocol["level"], shared.boots)
        entry["coverage"]["protocol"] = f"grouped {protocol['folds']}-fold, repeat 0"
    entry["selection_curve"] = {"q": list(CURVE_Q), "mean_lift": selection_curve(fit["selection"], y_cs)}
    kfold = (
        (point["kfold_spearman"], np.array([s["kfold_spearman"] for s in samples]))
        if "kfold_spearman" in point
        else None
    )
    return entry, kfold


def _paired(samples: dict, headline: str | None) -> dict:
    """Each scorer's K-fold ρ minus the headline's, with a 95% interval over the shared resamples."""
    if headline not in samples:
        return {}
    base_value, base = samples[headline]
    out = {}
    for name, (value, values) in samples.items():
        if name != headline:
            out[name] = percentile_interval(value - base_value, list(values - base))
    return {"headline": headline, "minus_headline": out}


def _per_subject(fit: dict, y: np.ndarray, domains: np.ndarray, groups: np.ndarray, resamples: int, seed: int) -> dict:
    """LODO and K-fold (repeat 0) ρ within each subject's cohorts, and their gap, with bootstrap intervals
    over the item groups of those cohorts."""
    out = {}
    rng = np.random.default_rng(seed + 1)
    for subject in sorted(set(domains) - {"mixed"}):
        rows = np.where(domains == subject)[0]
        if len(rows) < 3:
            continue

        def stats(r: np.ndarray) -> tuple[float, float]:
            lodo_rho, kfold_rho = M.spearman(fit["lodo"][r], y[r]), M.spearman(fit["kfold"][0][r], y[r])
            return lodo_rho, kfold_rho - lodo_rho

        point = stats(rows)
        boot = [stats(rows[idx]) for idx in resample_groups(groups[rows], resamples, rng)]
        out[subject] = {"cohorts": int(len(rows)), "lodo_spearman": percentile_interval(point[0], [b[0] for b in boot]),
                        "kfold_spearman": percentile_interval(M.spearman(fit["kfold"][0][rows], y[rows]), []),
                        "gap": percentile_interval(point[1], [b[1] for b in boot])}
    return out


def _coverage(fit: dict, y: np.ndarray, level: float, boots: list[np.ndarray]) -> dict:
    """Share of held-out labels inside their LOCO conformal interval, against the nominal level."""
    covered = ((fit["lo"] <= y) & (y <= fit["hi"])).astype(float)
    value = float(covered.mean())
    width = np.asarray(fit["hi"] - fit["lo"], dtype=float)
    finite = np.isfinite(width)
    return {
        "level": level,
        "coverage": percentile_interval(value, [float(covered[idx].mean()) for idx in boots]),
        "within_5_points": bool(abs(value - level) <= 0.05),
        "mean_width": float(np.mean(width[finite])) if finite.any() else math.nan,  # over bounded intervals
        "unbounded": int((~finite).sum()),  # too few calibration points for a finite end at this level
    }


def _random_scorer(y_cs: np.ndarray, q: float, ceiling: float, measured_gain: float, draws: int, seed: int) -> dict:
    """The random scorer's metrics: the mean over `draws` random scorings, interval = their spread."""
    rng = np.random.default_rng(seed + 2)
    n, seeds = y_cs.shape
    samples = []
    for _ in range(draws):
        fit = {"pred": rng.normal(size=n), "lodo": rng.normal(size=n), "selection": rng.normal(size=(seeds, n)),
               "kfold": rng.normal(size=(1, n)), "folds": rng.integers(0, 5, size=(1, n))}
        samples.append(_stats(fit, y_cs, q, measured_gain, ceiling))
    flat = [float(y_cs.mean())] * len(CURVE_Q)  # a random pick's expected lift at every q
    return {
        "metrics": {
            k: percentile_interval(float(np.nanmean([s[k] for s in samples])), [s[k] for s in samples])
            for k in samples[0]
        },
        "note": f"mean of {draws} random scorings; interval = their 2.5-97.5% spread",
        "selection_curve": {"q": list(CURVE_Q), "mean_lift": flat},
    }


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
