"""What the labels measure and what moves them: statistics over a label battery (issue 14).

Inputs are plain tables: the ledger rows of one label config (one row per cohort x seed, with the
targets and per-subject deltas) and the cohorts table (one row per item, with the generator's
recorded knobs). Every function returns numbers with a 95% bootstrap interval where one makes
sense, over item groups: cohorts that share a pool item resample together (`cohort_groups`).

- `target_table`: per target — mean label, share of cohorts improving, across- over within-cohort
  seed std, single-seed reliability r1 and the S-seed ceiling √R_S.
- `target_correlations`: Spearman ρ between the targets' cohort labels, overall and per subject.
- `own_and_other`: for single-subject cohorts, the lift on the probe items of the cohort's own
  subject and on the other subjects' items (the overall lift is their item-weighted sum).
- `own_by_kind`: the same own-subject lift split by what the cohort holds (clean, a systematic
  error, random wrong golds, duplicates or off-format prompts): does clean data teach, does a
  wrong procedure un-teach?
- `variance_explained`: the share of the label's variance across cohorts explained by subject, by
  vendor and by the recorded knobs (in-sample and adjusted R² of least squares), and the "oracle-knob" model —
  those knobs -> lift, predicted leave-one-cohort-out like TAP — as the reference for what a
  cohort-level signal could reach without looking at the probe.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from tap.evaluate import metrics as M

TARGETS = ("lift_nll", "delta_accuracy", "lift_pass")
KNOBS = ("difficulty_lo", "difficulty_hi", "corruption_rate", "systematic_rate", "duplicate_rate", "off_format_rate")


def cohort_groups(cohorts: pd.DataFrame | None) -> pd.Series:
    """Each cohort's item group: cohorts that share a pool item share one (protocols.item_groups).
    Without item ids (or without a cohorts table) each cohort is a group of its own."""
    from tap.evaluate.protocols import item_groups

    if cohorts is None or "item_id" not in cohorts:
        return pd.Series(dtype=int)
    items = cohorts.groupby("cohort_id").item_id.agg(set)
    return pd.Series(item_groups(items.index, items.to_dict()), index=items.index)


def _ci(statistic, cohort_ids, groups: pd.Series, resamples: int, seed: int) -> dict:
    """`statistic` of index arrays into `cohort_ids` (one row per cohort), with its interval over the
    cohorts' item groups (a cohort `groups` does not know is a group of its own)."""
    known = pd.Series(list(cohort_ids)).map(groups)
    labels = [f"g{g:.0f}" if pd.notna(g) else f"c{i}" for i, g in enumerate(known)]
    return M.bootstrap(statistic, len(labels), resamples=resamples, seed=seed, groups=np.array(labels))


def wide(rows: pd.DataFrame, target: str) -> pd.DataFrame:
    """Cohorts x seeds of one target, on the seeds that keep the most runs (tap.labels.summary.seed_table)."""
    from tap.labels.summary import seed_table

    return seed_table(rows, target)[0]


def target_table(rows: pd.DataFrame, cohorts: pd.DataFrame | None = None, *, resamples: int = 1000,
                 seed: int = 0) -> dict:
    """Per target: the battery statistics with bootstrap intervals over item groups (of `cohorts`)."""
    out, groups = {}, cohort_groups(cohorts)
    for target in TARGETS:
        table = wide(rows, target)
        y_cs, ids = table.to_numpy(float), table.index
        incomplete = int(rows[rows.status == "ok"].cohort_id.nunique() - len(y_cs))
        if not len(y_cs):
            continue
        n, seeds = y_cs.shape
        y = y_cs.mean(axis=1)

        def ratio(idx, y_cs=y_cs):
            within = y_cs[idx].std(axis=1, ddof=1).mean()
            return y_cs[idx].mean(axis=1).std(ddof=1) / within if within > 0 else np.nan

        def r1(idx, y_cs=y_cs):
            return M.seed_reliability(y_cs[idx], "spearman")

        reliability = _ci(r1, ids, groups, resamples, seed)
        out[target] = {
            "cohorts": n, "seeds": seeds,
            "mean": _ci(lambda idx, y=y: y[idx].mean(), ids, groups, resamples, seed),
            "share_improving": _ci(lambda idx, y=y: (y[idx] > 0).mean(), ids, groups, resamples, seed),
            "across_over_within": _ci(ratio, ids, groups, resamples, seed),
            "single_seed_reliability": reliability,
            "ceiling": {k: (M.noise_ceiling(v, seeds) if v is not None and np.isfinite(v) else None)
                        for k, v in reliability.items() if k in ("value", "lo", "hi")},
            "cohorts_incomplete": incomplete,  # cohorts missing a seed's value of this target, left out
        }
    return out


def cohort_labels(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per cohort: each target's label (mean over its seeds)."""
    return pd.concat({t: wide(rows, t).mean(axis=1) for t in TARGETS}, axis=1).dropna()


def target_correlations(rows: pd.DataFrame, cohorts: pd.DataFrame, *, resamples: int = 1000, seed: int = 0) -> dict:
    """Spearman ρ between the targets' cohort labels, overall and within each cohort subject."""
    labels = cohort_labels(rows)
    subject = _cohort_subjects(cohorts).reindex(labels.index)
    out, groups = {}, cohort_groups(cohorts)
    for group, part in [("all", labels), *((s, labels[subject == s]) for s in sorted(subject.dropna().unique()))]:
        n = len(part)
        pairs = {}
        for i, a in enumerate(TARGETS):
            for b in TARGETS[i + 1:]:
                x, y = part[a].to_numpy(), part[b].to_numpy()
                pairs[f"{a} ~ {b}"] = (
                    _ci(lambda idx, x=x, y=y: M.spearman(x[idx], y[idx]), part.index, groups, resamples, seed)
                    if n >= 3
                    else None
                )
        out[group] = {"cohorts": n, **pairs}
    return out


def _cohort_subjects(cohorts: pd.DataFrame) -> pd.Series:
    """Each cohort's subject, or "mixed" when its items come from several."""
    return cohorts.groupby("cohort_id").subject.agg(lambda s: s.iloc[0] if s.nunique() == 1 else "mixed")


def _own_other_table(rows: pd.DataFrame, cohorts: pd.DataFrame, probe: pd.DataFrame) -> pd.DataFrame:
    """One row per single-subject cohort x target (mean over its seeds): the lift on its own subject's
    probe items, on the other subjects' items (probe-item weights), and their parts of the overall lift."""
    subject = _cohort_subjects(cohorts)
    weights = probe.subject.value_counts(normalize=True).to_dict()
    parts = []
    for row in rows[rows.status == "ok"].itertuples():
        own = subject.get(row.cohort_id)
        deltas = json.loads(row.subject_deltas) if isinstance(row.subject_deltas, str) else row.subject_deltas
        if own in (None, "mixed") or own not in deltas:
            continue
        others = [s for s in deltas if s != own]
        for target in TARGETS:
            if target not in deltas[own]:
                continue
            other_part = sum(weights[s] * deltas[s][target] for s in others)
            parts.append(
                {
                    "target": target,
                    "cohort_id": row.cohort_id,
                    "subject": own,
                    "own": deltas[own][target],
                    "other": other_part / sum(weights[s] for s in others),
                    "own_part": weights[own] * deltas[own][target],
                    "other_part": other_part,
                }
            )
    columns = ["target", "cohort_id", "subject", "own", "other", "own_part", "other_part"]
    return pd.DataFrame(parts, columns=columns).groupby(["target", "cohort_id", "subject"]).mean().reset_index()


def own_and_other(
    rows: pd.DataFrame, cohorts: pd.DataFrame, probe: pd.DataFrame, *, resamples: int = 1000, seed: int = 0
) -> dict:
    """For single-subject cohorts, per target: the mean lift on the own subject's probe items, on the
    other subjects' items, and their contributions to the overall lift (probe-item weights)."""
    out, groups = {}, cohort_groups(cohorts)
    for target, table in _own_other_table(rows, cohorts, probe).groupby("target"):
        entry = {"cohorts": len(table)}
        for column in ("own", "other", "own_part", "other_part"):
            values = table[column].to_numpy()
            entry[column] = _ci(lambda idx, v=values: v[idx].mean(), table.cohort_id, groups, resamples, seed)
        entry["share_own_improving"] = float((table.own > 0).mean())
        entry["per_subject"] = {s: {"cohorts": len(g), "own": float(g.own.mean()), "other": float(g.other.mean())}
                                for s, g in table.groupby("subject")}
        out[target] = entry
    return out


KINDS = ("clean", "systematic", "random_wrong", "duplicate_or_off_format")


def cohort_kinds(cohorts: pd.DataFrame) -> pd.Series:
    """Each cohort's kind, from what its items record: `systematic` when some gold is the wrong
    procedure's (and differs from the truth), else `random_wrong` when some gold is a random wrong
    answer, else `duplicate_or_off_format` when some item is either, else `clean`."""
    source = cohorts.get("gold_source", pd.Series("true", index=cohorts.index))
    flags = pd.DataFrame({
        "cohort_id": cohorts.cohort_id,
        "systematic": (source == "systematic") & cohorts.corrupted,
        "random_wrong": (source == "random") | ((source == "true") & cohorts.corrupted),  # worlds before gold_source
        "duplicate_or_off_format": cohorts.duplicate | cohorts.off_format,
    }).groupby("cohort_id").any()
    kind = pd.Series("clean", index=flags.index)
    for name in reversed(KINDS[1:]):
        kind[flags[name]] = name
    return kind


def own_by_kind(
    rows: pd.DataFrame, cohorts: pd.DataFrame, probe: pd.DataFrame, *, resamples: int = 1000, seed: int = 0
) -> dict:
    """For single-subject cohorts of each kind (cohort_kinds), per target: the mean lift on the own
    subject's probe items (95% bootstrap interval over item groups), the share of cohorts whose own lift is
    positive, and the mean lift on the other subjects' items (probe-item weights)."""
    table = _own_other_table(rows, cohorts, probe)
    table["kind"] = table.cohort_id.map(cohort_kinds(cohorts))
    out: dict = {}
    groups = cohort_groups(cohorts)
    for (target, name), g in table.groupby(["target", "kind"]):
        own = g.own.to_numpy()
        out.setdefault(target, {})[name] = {
            "cohorts": len(g),
            "own": _ci(lambda idx, v=own: v[idx].mean(), g.cohort_id, groups, resamples, seed),
            "share_own_improving": _ci(lambda idx, v=own: (v[idx] > 0).mean(), g.cohort_id, groups, resamples, seed),
            "other": float(g.other.mean()),
            "per_subject": {
                s: {"cohorts": len(h), "own": float(h.own.mean()), "share_own_improving": float((h.own > 0).mean())}
                for s, h in g.groupby("subject")
            },
        }
    return out


def knob_table(cohorts: pd.DataFrame) -> pd.DataFrame:
    """One row per cohort: subject, vendor and the generator's recorded knobs."""
    first = cohorts.groupby("cohort_id").first()
    table = pd.DataFrame(
        {"subject": _cohort_subjects(cohorts), "vendor": first.get("vendor", pd.Series("", index=first.index))}
    )
    for knob in KNOBS:
        table[knob] = first[knob].astype(float) if knob in first else np.nan
    return table


def _design(knobs: pd.DataFrame, parts: tuple[str, ...]) -> np.ndarray:
    columns = []
    for part in parts:
        if part in ("subject", "vendor"):
            columns.append(pd.get_dummies(knobs[part], drop_first=True, dtype=float))
        else:
            columns.append(knobs[list(KNOBS)].fillna(0.0))
    return pd.concat(columns, axis=1).to_numpy(float) if columns else np.zeros((len(knobs), 0))


def _r2(X: np.ndarray, y: np.ndarray) -> dict:
    """In-sample R² of least squares with an intercept, and R² adjusted for its p regressors,
    1 − (1 − R²)(n − 1)/(n − p − 1). (No bootstrap interval: resampling with replacement repeats rows
    and inflates an in-sample fit; the oracle-knob model's held-out ρ is the out-of-sample number.)"""
    A = np.column_stack([np.ones(len(y)), X])
    fitted = A @ np.linalg.lstsq(A, y, rcond=None)[0]
    total = ((y - y.mean()) ** 2).sum()
    r2 = float(1 - ((y - fitted) ** 2).sum() / total) if total > 0 else float("nan")
    n, p = len(y), X.shape[1]
    return {
        "value": r2,
        "adjusted": float(1 - (1 - r2) * (n - 1) / (n - p - 1)) if n > p + 1 else float("nan"),
        "regressors": p,
    }


def variance_explained(rows: pd.DataFrame, cohorts: pd.DataFrame, *, resamples: int = 1000, seed: int = 0) -> dict:
    """Per target: R² of subject, vendor, the knobs, and all of them; and the oracle-knob model's
    leave-one-cohort-out Spearman ρ (ridge and gradient boosting on subject, vendor and knobs)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from tap.evaluate.protocols import loco

    labels = cohort_labels(rows)
    knobs = knob_table(cohorts).reindex(labels.index)
    models = {
        "ridge": lambda: make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13))),
        "gbm": lambda: HistGradientBoostingRegressor(
            max_iter=100, learning_rate=0.05, max_leaf_nodes=7, min_samples_leaf=5, random_state=0
        ),
    }
    groups = {
        "subject": ("subject",),
        "vendor": ("vendor",),
        "knobs": ("knobs",),
        "subject + vendor + knobs": ("subject", "vendor", "knobs"),
    }
    out = {}
    for target in TARGETS:
        y = labels[target].to_numpy(float)
        n = len(y)
        entry = {"cohorts": n, "r2": {}}
        for name, parts in groups.items():
            entry["r2"][name] = _r2(_design(knobs, parts), y)
        X = _design(knobs, ("subject", "vendor", "knobs"))
        entry["oracle_knob_loco_spearman"] = {}
        for name, make in models.items():
            pred = loco(make, X, y)["pred"]
            entry["oracle_knob_loco_spearman"][name] = _ci(
                lambda idx, p=pred: M.spearman(p[idx], y[idx]), labels.index, cohort_groups(cohorts), resamples, seed
            )
        out[target] = entry
    return out
