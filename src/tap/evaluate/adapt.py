"""A few labels of one's own: adapt the pooled predictor to a held-out world with k labelled cohorts.

For a held-out world w, the pooled predictor is fitted on the other worlds (`transfer.training_worlds`,
protocol "world") and predicts every cohort of w from its within-w normalized features (features need
no label, so the normalization uses all of w's cohorts). A draw picks whole item groups of w at random
until k cohorts are labelled (the last group trimmed to k); the cohorts of the picked groups never count
in the evaluation, which ranks the rest. Methods:

- zero-shot: the pooled prediction p₀ (needs no label; the same at every k);
- shrunk:    what `tap fit RUN --prior zoo` fits (tap.predict.prior.PriorPredictor): TAP's ridge, penalty λ, on the
             departures of the k standardized labels from the standardized p₀, the prediction p₀ plus the ridge
             (λ = `shrinkage`, chosen on the development worlds by `evaluate_adaptation`);
- scratch:   the configured TAP (ridge on the world's R and F features) fitted on the k labelled cohorts alone;
- best signal: the zoo's best single signal chosen on the other worlds (needs no label).

Each is scored by Spearman ρ over the evaluation cohorts of the draw; a curve point is the mean over draws
with the 2.5–97.5 percentiles of the draws, and shrunk − scratch is paired by draw.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tap.evaluate.transfer import (
    World, best_signal, fit_pooled, pooled_estimator, pooled_training, shared_columns, signal_scores, training_worlds,
    world_frame,
)
from tap.predict.prior import PriorPredictor
from tap.stats import spearman

KS = (0, 8, 16, 32, 64)
SHRINKAGE_GRID = (1.0, 10.0, 100.0)
METHODS = ("zero-shot", "shrunk", "scratch", "best signal")


def pick_labelled(groups: np.ndarray, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(labelled rows, evaluation rows): whole groups drawn at random until k rows are picked (the last group
    trimmed); every row of a picked group is kept out of the evaluation."""
    order = rng.permutation(np.unique(groups))
    labelled, excluded = [], np.zeros(len(groups), bool)
    for g in order:
        if len(labelled) >= k:
            break
        rows = np.flatnonzero(groups == g)
        labelled.extend(rows[: k - len(labelled)])
        excluded[rows] = True
    return np.array(labelled, dtype=int), np.flatnonzero(~excluded)


def adaptation_draws(
    worlds: list[World], held: World, columns: list[str], how: str, *, ks=KS, draws: int = 10, seed: int = 0,
    shrinkage: float = 10.0, min_eval: int = 16, make_estimator: Callable | None = None,
) -> dict:
    """Per k and method: ρ on the evaluation cohorts of each draw (NaN where a method cannot run)."""
    make_estimator = make_estimator or (lambda: pooled_estimator())
    train = training_worlds(worlds, held, "world")
    model = fit_pooled(make_estimator, *pooled_training(train, columns, how))
    prior = np.asarray(model.predict(world_frame(held, columns, how)), float)
    signal = signal_scores(held, *best_signal(train, columns)[:2])
    own_columns = shared_columns([held], ("R", "F"))
    X_own = held.features[own_columns].to_numpy(float)
    rng = np.random.default_rng(seed)
    out: dict[int, dict[str, list[float]]] = {}
    for k in ks:
        if len(held) - k < min_eval:
            continue
        out[k] = {m: [] for m in METHODS}
        for _ in range(draws):
            labelled, evaluation = pick_labelled(held.groups, k, rng)
            y_eval = held.y[evaluation]
            out[k]["zero-shot"].append(spearman(prior[evaluation], y_eval))
            out[k]["best signal"].append(spearman(signal[evaluation], y_eval))
            if k < 4:
                out[k]["shrunk"].append(out[k]["zero-shot"][-1])
                out[k]["scratch"].append(float("nan"))
                continue
            shrunk = PriorPredictor(prior=model, columns=columns, normalization=how, shrinkage=shrinkage,
                                    interval="none").fit(held.features.iloc[labelled], held.y[labelled],
                                                         reference=held.features)
            out[k]["shrunk"].append(spearman(shrunk.predict(held.features.iloc[evaluation]), y_eval))
            scratch = pooled_estimator().fit(X_own[labelled], held.y[labelled])
            out[k]["scratch"].append(spearman(scratch.predict(X_own[evaluation]), y_eval))
    return out


def curve(draws: dict) -> dict:
    """Mean over draws with the 2.5–97.5 percentiles, per k and method, and shrunk − scratch paired by draw."""
    out = {}
    for k, methods in draws.items():
        point = {m: _summary(v) for m, v in methods.items()}
        point["shrunk_minus_scratch"] = _summary(np.subtract(methods["shrunk"], methods["scratch"]))
        point["shrunk_minus_best_signal"] = _summary(np.subtract(methods["shrunk"], methods["best signal"]))
        out[str(k)] = point
    return out


def _summary(values) -> dict:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not len(v):
        return {"mean": float("nan"), "lo": float("nan"), "hi": float("nan"), "draws": 0}
    return {"mean": float(v.mean()), "lo": float(np.quantile(v, 0.025)), "hi": float(np.quantile(v, 0.975)),
            "draws": int(len(v))}


def choose_shrinkage(worlds: list[World], columns: list[str], how: str, *, k: int = 16, draws: int = 10,
                     seed: int = 0, make_estimator: Callable | None = None) -> dict:
    """λ from SHRINKAGE_GRID with the best mean ρ of the shrunk predictor at k labels over the development
    worlds (never a test world)."""
    scores = {}
    dev = [w for w in worlds if not w.test]
    for shrinkage in SHRINKAGE_GRID:
        rhos = []
        for held in dev:
            result = adaptation_draws(dev, held, columns, how, ks=(k,), draws=draws, seed=seed, shrinkage=shrinkage,
                                      make_estimator=make_estimator)
            rhos += result.get(k, {}).get("shrunk", [])
        scores[shrinkage] = float(np.nanmean(rhos)) if np.isfinite(rhos).any() else float("nan")
    return {"chosen": max(scores, key=lambda s: scores[s] if np.isfinite(scores[s]) else -np.inf),
            "k": k, "mean_rho": {str(s): v for s, v in scores.items()}}


def evaluate_adaptation(worlds: list[World], columns: list[str], how: str, *, ks=KS, draws: int = 10,
                        seed: int = 0, make_estimator: Callable | None = None,
                        progress: Callable[[int, int, str], None] | None = None) -> dict:
    """The few-label curve of every world held out in turn, with λ chosen on the development worlds."""
    shrinkage = choose_shrinkage(worlds, columns, how, seed=seed, make_estimator=make_estimator)
    per_world = {}
    for i, held in enumerate(worlds):
        if progress:
            progress(i, len(worlds), held.name)
        result = adaptation_draws(worlds, held, columns, how, ks=ks, draws=draws, seed=seed,
                                  shrinkage=shrinkage["chosen"], make_estimator=make_estimator)
        per_world[held.name] = {"test_world": held.test, "cohorts": len(held), "curve": curve(result),
                                "draws": {str(k): v for k, v in result.items()}}
    summary = {part: mean_curve(per_world, names) for part, names in (
        ("all", [w.name for w in worlds]), ("development", [w.name for w in worlds if not w.test]),
        ("test", [w.name for w in worlds if w.test])) if names}
    return {"protocol": {"ks": list(ks), "draws": draws, "seed": seed, "normalization": how, "columns": columns,
                         "shrinkage": shrinkage, "methods": list(METHODS)}, "worlds": per_world, "summary": summary}


def mean_curve(per_world: dict, names: list[str]) -> dict:
    """Per k (where every named world has it) and method: the mean over worlds of each world's mean ρ, with
    the 2.5–97.5 percentiles of that mean over draws (draw d of every world together: the worlds' draws
    are independent); shrunk − scratch and shrunk − best signal paired by draw."""
    out = {}
    ks = set.intersection(*(set(per_world[n]["draws"]) for n in names)) if names else set()
    for k in sorted(ks, key=int):
        table = {m: np.array([per_world[n]["draws"][k][m] for n in names], float) for m in METHODS}
        table["shrunk_minus_scratch"] = table["shrunk"] - table["scratch"]
        table["shrunk_minus_best_signal"] = table["shrunk"] - table["best signal"]
        point = {}
        for m, values in table.items():
            by_draw = np.nanmean(values, axis=0) if np.isfinite(values).any() else np.full(values.shape[1], np.nan)
            point[m] = {**_summary(by_draw), "mean": float(np.nanmean(values)) if np.isfinite(values).any()
                        else float("nan"), "worlds": len(names)}
        out[k] = point
    return {"worlds": names, "curve": out}
