"""Battery statistics: per-cohort labels and how much they vary beyond seed noise."""

from __future__ import annotations


import numpy as np
import pandas as pd


def cohort_labels(ledger_rows: pd.DataFrame, target: str = "lift_nll") -> pd.DataFrame:
    """Per cohort: the label (mean over ok seeds), the seed std (ddof=1) and the seed count."""
    ok = ledger_rows[ledger_rows.status == "ok"]
    grouped = ok.groupby("cohort_id")[target]
    return pd.DataFrame(
        {"label": grouped.mean(), "seed_std": grouped.std(ddof=1), "n_seeds": grouped.size()}
    ).reset_index()


def seed_table(ledger_rows: pd.DataFrame, target: str, seeds=None) -> tuple[pd.DataFrame, list[str]]:
    """Cohorts x seeds of one target's ok runs, complete on the seed set that keeps the most runs,
    and one note per kind of run set aside.

    The candidate seeds are `seeds` (the run's configured seeds) when given, else every seed in the
    rows. They enter in order of how many cohorts have them (then by number), and the prefix kept is
    the one that keeps the most runs (cohorts with every seed of it x its size; ties: more cohorts):
    after `tap label RUN --seeds 4` stopped part-way, the three seeds every cohort has, not the four
    that only some have; a failed run drops its cohort, not a seed of every cohort."""
    ok = ledger_rows[ledger_rows.status == "ok"]
    wide = ok.pivot_table(index="cohort_id", columns="seed", values=target)
    notes = []
    if seeds is not None:
        seeds = [int(s) for s in seeds]
        outside = [s for s in wide.columns if s not in seeds]
        if outside:
            runs = int(wide[outside].notna().sum().sum())
            notes.append(f"set aside {runs} runs of seeds {_seed_list(outside)}, outside the configured seeds "
                         f"{_seed_list(seeds)} (label.seeds, label.first_seed)")
        wide = wide.reindex(columns=[s for s in seeds if s in wide.columns])
    have = wide.notna()
    order = sorted(wide.columns, key=lambda s: (-int(have[s].sum()), s))
    best, kept = (-1, -1), []
    for k in range(1, len(order) + 1):
        cohorts = int(have[order[:k]].all(axis=1).sum())
        if (cohorts * k, cohorts) > best:
            best, kept = (cohorts * k, cohorts), order[:k]
    for s in sorted(set(wide.columns) - set(kept)):
        having = int(have[s].sum())
        notes.append(f"seed {s} is finished for {having} of {len(wide)} cohorts: set aside, as keeping it would leave "
                     f"out the {len(wide) - having} without it (`tap label` on the run finishes it)")
    wide = wide[sorted(kept)]
    complete = wide.dropna() if kept else wide.iloc[:0]
    if len(complete) < len(wide):
        notes.append(f"left out {len(wide) - len(complete)} cohorts missing a run of seeds {_seed_list(sorted(kept))} "
                     "(failed or not yet run)")
    return complete, notes


def _seed_list(seeds) -> str:
    return ", ".join(str(int(s)) for s in seeds)


def seed_reliability(ledger_rows: pd.DataFrame, target: str = "lift_nll") -> tuple[float, int, int]:
    """Single-seed reliability r1 of a ledger's ok runs (tap.stats.seed_reliability, cohorts x seeds
    with NaN where a run is missing), the seed pairs it averages and the pairs where it is undefined."""
    from tap.stats import seed_pair_correlations

    ok = ledger_rows[ledger_rows.status == "ok"]
    pairs = seed_pair_correlations(ok.pivot_table(index="cohort_id", columns="seed", values=target).to_numpy(float))
    defined = [p for p in pairs if np.isfinite(p)]
    return (float(np.mean(defined)) if defined else float("nan")), len(defined), len(pairs) - len(defined)


def battery_summary(ledger_rows: pd.DataFrame, target: str = "lift_nll") -> dict:
    """Across-cohort std of the label, mean within-cohort seed std, their ratio, and r1."""
    labels = cohort_labels(ledger_rows, target)
    r1, defined, undefined = seed_reliability(ledger_rows, target)
    across = float(labels.label.std(ddof=1)) if len(labels) > 1 else float("nan")
    within = float(labels.seed_std.mean()) if labels.seed_std.notna().any() else float("nan")
    return {
        "cohorts": int(len(labels)),
        "ok_runs": int((ledger_rows.status == "ok").sum()),
        "failed_runs": int((ledger_rows.status == "failed").sum()),
        "mean_label": float(labels.label.mean()) if len(labels) else float("nan"),
        "share_improving": float((labels.label > 0).mean()) if len(labels) else float("nan"),
        "across_cohort_std": across,
        "within_cohort_seed_std": within,
        "across_over_within": across / within if within and within == within else float("nan"),
        "single_seed_reliability": r1,
        "reliability_seed_pairs": {"defined": defined, "undefined": undefined},
        "median_wall_seconds": float(ledger_rows.loc[ledger_rows.status == "ok", "wall_seconds"].median())
        if len(ledger_rows)
        else float("nan"),
    }


def step_lifts(records: pd.DataFrame, probe: pd.DataFrame, default_verifier: str) -> pd.DataFrame:
    """Every target's lift of each (cohort_id, cohort_hash, seed) at each recorded step, recomputed
    from the per-item probe records (the base policy's are the rows with seed −1): one row per unit
    and step with columns lift_nll, delta_accuracy, lift_pass."""
    from tap.probe import item_verifiers, lifts, summarize

    items = pd.DataFrame({"item": range(len(probe)), "subject": list(probe.subject),
                          "verifier": item_verifiers(probe, default_verifier)})
    records = records.merge(items, on="item", how="left")
    base_rows = records[records.seed == -1]
    if base_rows.empty:
        return pd.DataFrame(
            columns=["cohort_id", "cohort_hash", "seed", "step", "lift_nll", "delta_accuracy", "lift_pass"]
        )
    base = summarize(base_rows.sort_values("item"))
    rows = []
    for (cohort_id, cohort_hash, seed, step), part in records[records.seed >= 0].groupby(
        ["cohort_id", "cohort_hash", "seed", "step"]
    ):
        rows.append({"cohort_id": cohort_id, "cohort_hash": cohort_hash, "seed": int(seed), "step": int(step),
                     **lifts(base, summarize(part.sort_values("item")))})
    return pd.DataFrame(rows)
