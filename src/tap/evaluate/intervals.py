"""A scorer's metrics.json entry: every headline statistic with its 95% bootstrap interval.

A resample draws whole item groups (cohorts that share a pool item are not independent,
`tap.stats.resample_groups`) and one K-fold repeat; every scorer reads the same resamples (`Shared`), so
differences between scorers are paired (`paired`). The random scorer's interval is the spread over its draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tap.evaluate import metrics as M
from tap.evaluate.scorers import Scorer
from tap.evaluate.selection import CURVE_Q, heldout_selection, selection_curve
from tap.stats import auroc, percentile_interval, resample_groups


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


@dataclass
class Shared:
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
    def draw(cls, fits: dict, scorers: list[Scorer], y_cs: np.ndarray, groups: np.ndarray, protocol: dict) -> Shared:
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


def scorer_entry(scorer: Scorer, fit: dict | None, y_cs: np.ndarray, domains: np.ndarray, shared: Shared,
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
        if np.isfinite(fit.get("p_harm", np.array([np.nan]))).all():
            entry["harm"] = harm_entry(fit["p_harm"], -fit["kfold"][0], y, shared.boots)
            entry["harm"]["protocol"] = f"grouped {protocol['folds']}-fold, repeat 0"
    entry["selection_curve"] = {"q": list(CURVE_Q), "mean_lift": selection_curve(fit["selection"], y_cs)}
    kfold = (
        (point["kfold_spearman"], np.array([s["kfold_spearman"] for s in samples]))
        if "kfold_spearman" in point
        else None
    )
    return entry, kfold


def paired(samples: dict, headline: str | None) -> dict:
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


HARM_BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
HARM_HEURISTICS = {  # reward-only ways to call a cohort bad: the higher the score, the more harmful it looks
    "low pass rate": ("pass_rate_mean", -1.0),
    "few non-degenerate groups": ("frac_nondegenerate", -1.0),
}


def harm_entry(p_harm: np.ndarray, point_score: np.ndarray, y: np.ndarray, boots: list[np.ndarray]) -> dict:
    """How well held-out P(lift < 0) finds the harmful cohorts and whether it means what it says: the
    base rate of lift < 0, AUROC of p_harm and of the point prediction (−ŷ) for lift < 0, the Brier
    score beside the base rate's own (predicting the share for everyone), and reliability bins (mean
    p_harm against the share harmful), each with a 95% interval over the shared resamples."""
    p_harm, harmful = np.asarray(p_harm, float), np.asarray(y) < 0

    def stats(idx: np.ndarray) -> tuple[float, float, float, float, float]:
        h, p = harmful[idx], p_harm[idx]
        return (float(h.mean()), auroc(p, h), auroc(point_score[idx], h), float(np.mean((p - h) ** 2)),
                float(np.mean((h.mean() - h) ** 2)))

    point = stats(np.arange(len(y)))
    samples = [stats(idx) for idx in boots]
    names = ("base_rate", "auroc", "auroc_point_prediction", "brier", "brier_base_rate")
    out = {name: percentile_interval(point[i], [s[i] for s in samples]) for i, name in enumerate(names)}
    bins = []
    for lo, hi in zip(HARM_BINS[:-1], HARM_BINS[1:]):
        rows = (p_harm >= lo) & ((p_harm < hi) if hi < 1 else (p_harm <= hi))
        bins.append({"lo": lo, "hi": hi, "cohorts": int(rows.sum()),
                     "mean_p_harm": float(p_harm[rows].mean()) if rows.any() else math.nan,
                     "share_harmful": float(harmful[rows].mean()) if rows.any() else math.nan})
    out["reliability"] = bins
    return out


def harm_heuristics(features, y: np.ndarray, boots: list[np.ndarray]) -> dict:
    """AUROC for lift < 0 of the reward-only heuristics a buyer might use instead (HARM_HEURISTICS), with
    95% intervals over the shared resamples: what a model's harm probability should beat."""
    harmful = np.asarray(y) < 0
    out = {}
    for name, (column, sign) in HARM_HEURISTICS.items():
        if column not in features:
            continue
        score = sign * features[column].to_numpy(float)
        out[name] = {"column": column, "sign": sign,
                     **percentile_interval(auroc(score, harmful), [auroc(score[idx], harmful[idx]) for idx in boots])}
    return out


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
