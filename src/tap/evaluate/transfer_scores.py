"""How well each scorer ranks one held-out world's cohorts, with paired intervals over its item groups.

Statistics (y = the seed-mean label, s = a scorer's scores on the world's cohorts):

- rho:             Spearman ρ(s, y) over every cohort of the world;
- rho_within_folds: the mean ρ within the folds of the world's own grouped K-fold split (the protocol of the
                   world's own K-fold TAP), averaged over its repeats;
- top_fraction_of_oracle: the top q of cohorts by s, scored by each seed's lifts alone and averaged over
                   seeds: (mean lift of the selection − mean lift) / (mean lift of the seed's own top q − mean lift);
                   scores that were fitted on labels must come from the other seeds (held-out-seed selection);
- auroc_harm:      the AUROC of −s for telling cohorts with y < 0 (a harmful cohort) from the rest; NaN when the
                   world has none or only such cohorts.

A bootstrap resample draws the world's item groups with replacement (`tap.stats.resample_groups`) and one
K-fold repeat; every scorer reads the same resamples, so differences against a reference scorer are paired.
A mean over worlds resamples the worlds as well (`mean_over_worlds`).
Random's expected values (ρ 0, fraction 0, AUROC 0.5) need no interval.
"""

from __future__ import annotations

import numpy as np

from tap.evaluate.metrics import fold_mean, selection_on_seed, spearman
from tap.stats import auroc, finite_mean, percentile_interval, resample_groups

STATISTICS = ("rho", "rho_within_folds", "top_fraction_of_oracle", "auroc_harm")
RANDOM = {"rho": 0.0, "rho_within_folds": 0.0, "top_fraction_of_oracle": 0.0, "auroc_harm": 0.5}


def statistics(scores: np.ndarray, selection: np.ndarray, per_repeat: np.ndarray, y_cs: np.ndarray,
               folds: np.ndarray, q: float, repeat: int | None = None) -> dict:
    """Every statistic of one scorer on one set of cohorts. `selection` (seeds x cohorts) holds the
    scores each seed's selection uses (the same row for every seed when the scorer saw no label);
    `per_repeat` (repeats x cohorts) the scores each K-fold repeat's folds are read with."""
    y = y_cs.mean(axis=1)
    repeats = range(len(folds)) if repeat is None else [repeat]
    fractions = [selection_on_seed(selection[h], y_cs[:, h], q)["fraction_of_oracle"] for h in range(y_cs.shape[1])]
    return {
        "rho": spearman(scores, y),
        "rho_within_folds": finite_mean([fold_mean(spearman, per_repeat[r], y, folds[r]) for r in repeats]),
        "top_fraction_of_oracle": finite_mean(fractions),
        "auroc_harm": auroc(-np.asarray(scores, float), y < 0),
    }


def score_world(
    scorers: dict[str, dict], y_cs: np.ndarray, groups: np.ndarray, folds: np.ndarray, *, reference: str,
    q: float = 0.1, resamples: int = 1000, seed: int = 0,
) -> dict:
    """Per scorer: each statistic with its 95% interval, and its paired difference from `reference`.
    `scorers[name]` holds "scores" (cohorts,) and optionally "selection" (seeds x cohorts) and "repeats"
    (K-fold repeats x cohorts: a K-fold scorer's predictions per repeat)."""
    names = list(scorers)
    full = {n: statistics(*_inputs(scorers[n], y_cs, len(folds)), y_cs, folds, q) for n in names}
    draws = resample_groups(groups, resamples, seed)
    rng = np.random.default_rng(seed + 1)
    samples: dict[str, list[dict]] = {n: [] for n in names}
    for rows in draws:
        repeat = int(rng.integers(0, len(folds)))
        for n in names:
            scores, selection, per_repeat = _inputs(scorers[n], y_cs, len(folds))
            samples[n].append(
                statistics(scores[rows], selection[:, rows], per_repeat[:, rows], y_cs[rows], folds[:, rows], q, repeat)
            )
    out = {}
    for n in names:
        entry = {}
        for stat in STATISTICS:
            entry[stat] = percentile_interval(full[n][stat], [s[stat] for s in samples[n]])
            if n != reference:
                diff = [a[stat] - b[stat] for a, b in zip(samples[reference], samples[n])]
                entry[f"{stat}_reference_minus_this"] = percentile_interval(
                    full[reference][stat] - full[n][stat], diff
                )
        out[n] = entry
    return {"scorers": out, "full": full, "samples": samples}


def _inputs(scorer: dict, y_cs: np.ndarray, repeats: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores = np.asarray(scorer["scores"], float)
    selection, per_repeat = scorer.get("selection"), scorer.get("repeats")
    selection = np.tile(scores, (y_cs.shape[1], 1)) if selection is None else np.asarray(selection, float)
    per_repeat = np.tile(scores, (repeats, 1)) if per_repeat is None else np.asarray(per_repeat, float)
    return scores, selection, per_repeat


def mean_over_worlds(per_world: dict[str, dict], worlds: list[str], scorer: str, reference: str | None = None,
                     seed: int = 0) -> dict:
    """Each statistic of `scorer` averaged over `worlds` (worlds where it is undefined left out), with a two-level
    bootstrap interval: resample i draws the worlds with replacement, then takes each drawn world's own
    resample i (its item groups), so the interval holds both which worlds were built and what their cohorts
    were. With `reference`, the paired mean difference reference − scorer as well (the same draws)."""
    names = [w for w in worlds if scorer in per_world[w]["samples"]]
    if not names:
        return {}
    resamples = len(per_world[names[0]]["samples"][scorer])
    rng = np.random.default_rng(seed)
    picks = [rng.integers(0, len(names), len(names)) for _ in range(resamples)]
    out = {}
    for stat in STATISTICS:
        values = [per_world[w]["full"][scorer][stat] for w in names]
        resampled = np.array([[s[stat] for s in per_world[w]["samples"][scorer]] for w in names], float)
        out[stat] = percentile_interval(finite_mean(values), _picked_means(resampled, picks))
        if reference is not None and reference != scorer:
            ref = np.array([[s[stat] for s in per_world[w]["samples"][reference]] for w in names], float)
            gaps = [per_world[w]["full"][reference][stat] - per_world[w]["full"][scorer][stat] for w in names]
            out[f"{stat}_reference_minus_this"] = percentile_interval(
                finite_mean(gaps), _picked_means(ref - resampled, picks)
            )
    return out


def _picked_means(table: np.ndarray, picks: list[np.ndarray]) -> list[float]:
    """Per resample i: the mean over the worlds drawn in picks[i] of their resample-i values (NaN left out)."""
    out = []
    for i, rows in enumerate(picks):
        column = table[rows, i]
        out.append(float(np.nanmean(column)) if np.isfinite(column).any() else float("nan"))
    return out
