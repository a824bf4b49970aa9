"""Transfer across worlds: fit on every world but one, rank the held-out world's cohorts.

A world is one labelled battery: a base policy, a probe, a data market and a label config
(configs/zoo/README.md). Features and labels are on different scales in different worlds (a label at
learning rate 1e-4 moves further than one at 3e-5; a reasoning-gym rollout is longer than a tiny one),
so both are normalized within each world before worlds are pooled (`normalize`):

- "none": raw values (the pooled model's own standardization only);
- "z":    (x − mean_w) / sd_w per world w (a constant column becomes 0);
- "rank": average rank within the world, scaled to (−0.5, 0.5).

An undefined feature value is the world's centre (0) after "z" or "rank", the pooled median after "none"
(the pooled predictor's imputer).
Only the ranking within a world is ever scored, so a per-world shift of the prediction cannot matter.

Protocols (`held_out`): "world" trains on every other world; "policy" also leaves out every world
that shares the held-out world's base policy (and so its probe): a new model, not a new market.
The fit never sees a row of the held-out world: estimators are fitted through `fit_pooled`, which
passes each training row's world name to an estimator whose `fit` takes `worlds` (the test's spy).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tap.errors import TapInputError
from tap.stats import average_ranks

NORMALIZATIONS = ("none", "z", "rank")
PROTOCOLS = ("world", "policy")


@dataclass
class World:
    """One labelled battery: features (one row per cohort, `cohort_id` first), single-seed labels
    `y_cs` (cohorts x seeds), each cohort's domain and item group, its base policy's key."""

    name: str
    features: pd.DataFrame
    y_cs: np.ndarray
    domains: np.ndarray
    groups: np.ndarray
    policy: str
    test: bool = False
    meta: dict = field(default_factory=dict)

    @property
    def y(self) -> np.ndarray:
        return self.y_cs.mean(axis=1)

    def __len__(self) -> int:
        return len(self.y_cs)


def is_exported_world(folder: str | Path) -> bool:
    """A zoo export: what bench/zoo.py writes (config.toml, features, labels and cohorts as parquet)."""
    folder = Path(folder)
    return all((folder / name).exists() for name in ("config.toml", "features.parquet", "labels.parquet",
                                                         "cohorts.parquet"))


def load_world(folder: str | Path, *, target: str = "lift_pass", test: bool = False) -> World:
    """A world from a zoo export (`is_exported_world`); a labelled run folder is read by tap.api.transfer."""
    folder = Path(folder)
    if not is_exported_world(folder):
        raise TapInputError(f"{folder}: not a zoo world (config.toml, features, labels and cohorts .parquet)")
    from tap.config import load_config, policy_key

    config = load_config(folder / "config.toml")
    features = pd.read_parquet(folder / "features.parquet")
    features["cohort_id"] = features.cohort_id.astype(str)
    labels = pd.read_parquet(folder / "labels.parquet")
    wide = labels.pivot_table(index="cohort_id", columns="seed", values=target).reindex(features.cohort_id)
    cohorts = pd.read_parquet(folder / "cohorts.parquet").set_index("cohort_id").reindex(features.cohort_id)
    if wide.isna().any().any() or cohorts.isna().any().any():
        raise TapInputError(f"{folder}: labels.parquet or cohorts.parquet lacks a cohort of features.parquet")
    return World(folder.name, features.reset_index(drop=True), wide.to_numpy(float), cohorts.domain.to_numpy(str),
                 cohorts.group.to_numpy(), policy_key(config), test, {"folder": str(folder),
                                                                      "suite": config.world.suite})


def shared_columns(worlds: list[World], families: tuple[str, ...]) -> list[str]:
    """Feature columns of the given families that every world defines somewhere (in catalog order)."""
    from tap.features.catalog import feature_catalog

    columns = [name for name, tag, _ in feature_catalog() if tag in families]
    return [c for c in columns if all(c in w.features and w.features[c].notna().any() for w in worlds)]


def normalize(values: np.ndarray, how: str) -> np.ndarray:
    """Within-world normalization of a (rows x columns) array or a vector (module docstring)."""
    x = np.asarray(values, float)
    if how == "none":
        return x.copy()
    flat = x.ndim == 1
    x = x[:, None] if flat else x
    out = np.zeros_like(x)
    for j in range(x.shape[1]):
        column, known = x[:, j], np.isfinite(x[:, j])
        if known.sum() < 2 or np.ptp(column[known]) == 0:
            continue
        if how == "z":
            out[known, j] = (column[known] - column[known].mean()) / column[known].std()
        elif how == "rank":
            out[known, j] = (average_ranks(column[known]) - 0.5) / known.sum() - 0.5
        else:
            raise ValueError(f"unknown normalization {how!r} (known: {', '.join(NORMALIZATIONS)})")
    return out[:, 0] if flat else out


def world_matrix(world: World, columns: list[str], how: str) -> np.ndarray:
    return normalize(world.features[columns].to_numpy(float), how)


def world_frame(world: World, columns: list[str], how: str) -> pd.DataFrame:
    return pd.DataFrame(world_matrix(world, columns, how), columns=columns)


def pooled_training(worlds: list[World], columns: list[str], how: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Stacked normalized features (named columns), labels and world names of `worlds`."""
    X = pd.DataFrame(np.vstack([world_matrix(w, columns, how) for w in worlds]), columns=columns)
    y = np.concatenate([normalize(w.y, how) for w in worlds])
    names = np.concatenate([[w.name] * len(w) for w in worlds])
    return X, y, names


def fit_pooled(make_estimator: Callable, X: np.ndarray, y: np.ndarray, names: np.ndarray):
    """make_estimator().fit(X, y), passing each row's world name when the estimator's fit takes `worlds`."""
    model = make_estimator()
    if "worlds" in inspect.signature(model.fit).parameters:
        return model.fit(X, y, worlds=names)
    return model.fit(X, y)


def pooled_estimator(alpha: float = 1.0, families: tuple[str, ...] = ("R", "F")):
    """The pooled predictor: TAP's ridge (median-imputed, standardized, the configured penalty), no interval."""
    from tap.predict.predictor import TAPPredictor

    return TAPPredictor(model="ridge", families=families, interval="none", alpha=alpha, random_state=0)


def training_worlds(worlds: list[World], held: World, protocol: str) -> list[World]:
    """The worlds a model that predicts `held` may be fitted on under `protocol` ("world" or "policy")."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")
    return [w for w in worlds if w.name != held.name and (protocol == "world" or w.policy != held.policy)]


def leave_one_world_out(
    worlds: list[World], columns: list[str], how: str, make_estimator: Callable, protocol: str = "world"
) -> dict[str, np.ndarray]:
    """Each world's cohorts predicted by a model fitted on the other worlds (`training_worlds`);
    a world with nothing to train on under the protocol is left out."""
    out = {}
    for held in worlds:
        train = training_worlds(worlds, held, protocol)
        if not train:
            continue
        model = fit_pooled(make_estimator, *pooled_training(train, columns, how))
        out[held.name] = np.asarray(model.predict(world_frame(held, columns, how)), float)
    return out


def best_signal(worlds: list[World], columns: list[str], sign: float | None = None) -> tuple[str, float, float]:
    """The single column (and sign) with the largest mean within-world Spearman ρ over `worlds`:
    the zoo's best single signal, chosen without the held-out world; with `sign` given (the gradient scores'
    theory: + is predicted lift), the column whose signed mean ρ is largest. Returns (column, sign, mean ρ)."""
    from tap.stats import spearman

    best = ("", 1.0, -np.inf)
    for column in columns:
        rhos = [spearman(np.nan_to_num(w.features[column].to_numpy(float), nan=np.nanmedian(w.features[column])), w.y)
                for w in worlds if w.features[column].notna().sum() > 2]
        mean = float(np.nanmean(rhos)) if rhos and np.isfinite(rhos).any() else float("nan")
        value = abs(mean) if sign is None else sign * mean
        if np.isfinite(value) and value > best[2]:
            best = (column, (-1.0 if mean < 0 else 1.0) if sign is None else sign, value)
    return best


def signal_scores(world: World, column: str, sign: float) -> np.ndarray:
    values = world.features[column].to_numpy(float)
    return sign * np.where(np.isfinite(values), values, np.nanmedian(values) if np.isfinite(values).any() else 0.0)




# --- The leave-one-world-out table -----------------------------------------------------------------------


def choose_normalization(worlds: list[World], columns: list[str], make_estimator: Callable) -> dict:
    """Mean within-world ρ of leave-one-world-out predictions among the development worlds (never a test
    world) for each normalization; the chosen one has the highest."""
    from tap.stats import finite_mean, spearman

    dev = [w for w in worlds if not w.test]
    scores = {}
    for how in NORMALIZATIONS:
        predictions = leave_one_world_out(dev, columns, how, make_estimator)
        scores[how] = finite_mean([spearman(predictions[w.name], w.y) for w in dev if w.name in predictions])
    return {"chosen": max(scores, key=lambda h: -np.inf if not np.isfinite(scores[h]) else scores[h]),
            "dev_worlds": [w.name for w in dev], "mean_rho": scores}


def own_kfold(world: World, columns: list[str], folds: int, repeats: int, seed: int) -> dict:
    """The world's own K-fold TAP (the configured ridge on `columns`, every R and F feature the world has;
    grouped folds): out-of-fold predictions per repeat, the folds, and held-out-seed selection scores (each
    seed's selection from a model fitted on the other seeds)."""
    from tap.evaluate.protocols import kfold, kfold_selection

    X = world.features[columns].to_numpy(float)
    make = lambda: pooled_estimator(families=("R", "F", "G"))  # noqa: E731  (the columns choose the family)
    out = kfold(make, X, world.y, world.groups, folds=folds, repeats=repeats, seed=seed)
    out["selection"] = kfold_selection(make, X, world.y_cs, world.groups, folds=folds, seed=seed)
    return out


def evaluate_transfer(
    worlds: list[World], *, families: tuple[str, ...] = ("R", "F"), folds: int = 5, repeats: int = 5, q: float = 0.1,
    resamples: int = 1000, seed: int = 0, make_estimator: Callable | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict:
    """Leave-one-world-out (and leave-one-policy-out) transfer of the pooled predictor, each held-out world's
    cohorts scored beside its own K-fold TAP, the zoo's best single signal and best gradient signal (chosen on
    the training worlds), head_align_dot and random (transfer_scores). Test worlds are never used to choose."""
    from tap.evaluate.transfer_scores import RANDOM, mean_over_worlds, score_world

    if len(worlds) < 3:
        raise TapInputError(f"transfer needs at least 3 worlds, got {len(worlds)}")
    make_estimator = make_estimator or (lambda: pooled_estimator(families=families))
    columns = shared_columns(worlds, families)
    gradient_columns = shared_columns(worlds, ("G",))
    choice = choose_normalization(worlds, columns, make_estimator)
    how = choice["chosen"]
    predictions = {p: leave_one_world_out(worlds, columns, how, make_estimator, p) for p in PROTOCOLS}
    other = {h: leave_one_world_out(worlds, columns, h, make_estimator) for h in NORMALIZATIONS if h != how}
    per_world = {}
    for i, held in enumerate(worlds):
        if progress:
            progress(i, len(worlds), held.name)
        scorers, chosen = _world_scorers(worlds, held, columns, gradient_columns, predictions, other, folds, repeats,
                                         seed)
        own = scorers.pop("_folds")
        result = score_world(scorers, held.y_cs, held.groups, own, reference="zero-shot TAP", q=q,
                             resamples=resamples, seed=seed)
        per_world[held.name] = {**result, "test_world": held.test, "policy": held.policy, "cohorts": len(held),
                                "item_groups": int(len(np.unique(held.groups))), "chosen_signals": chosen,
                                "share_harmful": float(np.mean(held.y < 0))}
    if progress:
        progress(len(worlds), len(worlds), "")
    summary = {}
    for part, names in (("all", [w.name for w in worlds]), ("development", [w.name for w in worlds if not w.test]),
                        ("test", [w.name for w in worlds if w.test])):
        if names:
            scorer_names = sorted({s for n in names for s in per_world[n]["full"]})
            summary[part] = {"worlds": names, "scorers": {
                s: mean_over_worlds(per_world, names, s, reference="zero-shot TAP") for s in scorer_names}}
    return {
        "protocol": {"families": list(families), "columns": columns, "gradient_columns": gradient_columns,
                     "normalization": choice, "folds": folds, "repeats": repeats, "top_q": q,
                     "bootstrap": resamples, "bootstrap_seed": seed, "held_out": list(PROTOCOLS)},
        "random": RANDOM,
        "worlds": {n: {k: v for k, v in r.items() if k not in ("samples", "full")} for n, r in per_world.items()},
        "summary": summary,
    }


def _world_scorers(worlds, held, columns, gradient_columns, predictions, other, folds, repeats, seed):
    """The held-out world's scorers (name -> scores, and selection scores where labels were used). The zoo's best
    signal and best gradient signal are chosen (column and sign) on the training worlds, so the column can differ
    from one held-out world to the next: `chosen` says which it was."""
    train = training_worlds(worlds, held, "world")
    signal = best_signal(train, columns)
    gradient = best_signal(train, gradient_columns, sign=1.0) if gradient_columns else ("", 1.0, float("nan"))
    own = own_kfold(held, shared_columns([held], ("R", "F")), folds, repeats, seed)
    scorers = {"zero-shot TAP": {"scores": predictions["world"][held.name]}}
    if held.name in predictions["policy"]:
        scorers["zero-shot TAP, policy held out"] = {"scores": predictions["policy"][held.name]}
    for how, preds in other.items():
        scorers[f"zero-shot TAP, {how} normalization"] = {"scores": preds[held.name]}
    scorers["own K-fold TAP"] = {"scores": own["kfold"][0], "selection": own["selection"],
                                 "repeats": own["kfold"]}
    scorers["zoo's best signal"] = {"scores": signal_scores(held, signal[0], signal[1])}
    if gradient[0]:
        scorers["zoo's best gradient signal"] = {"scores": signal_scores(held, *gradient[:2])}
    if "head_align_dot" in held.features:
        scorers["head_align_dot"] = {"scores": signal_scores(held, "head_align_dot", 1.0)}
    scorers["_folds"] = own["folds"]
    chosen = {"signal": {"column": signal[0], "sign": signal[1], "train_mean_rho": signal[2]},
              "gradient": {"column": gradient[0], "sign": gradient[1], "train_mean_rho": gradient[2]}}
    return scorers, chosen


__all__ = [
    "World", "is_exported_world", "load_world", "shared_columns", "normalize", "pooled_training", "fit_pooled",
    "pooled_estimator", "training_worlds", "leave_one_world_out", "best_signal", "signal_scores",
    "choose_normalization", "own_kfold", "evaluate_transfer", "NORMALIZATIONS", "PROTOCOLS",
]
