"""Battery statistics: per-cohort labels and how much they vary beyond seed noise."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy.stats import spearmanr


def cohort_labels(ledger_rows: pd.DataFrame, target: str = "lift_nll") -> pd.DataFrame:
    """Per cohort: the label (mean over ok seeds), the seed std (ddof=1) and the seed count."""
    ok = ledger_rows[ledger_rows.status == "ok"]
    grouped = ok.groupby("cohort_id")[target]
    return pd.DataFrame({"label": grouped.mean(), "seed_std": grouped.std(ddof=1), "n_seeds": grouped.size()}).reset_index()


def seed_reliability(ledger_rows: pd.DataFrame, target: str = "lift_nll") -> float:
    """Single-seed reliability r1: the mean Spearman correlation, across cohorts, between the lifts
    of every pair of seeds (cohorts that have both seeds only). NaN with fewer than 2 seeds."""
    ok = ledger_rows[ledger_rows.status == "ok"]
    wide = ok.pivot_table(index="cohort_id", columns="seed", values=target)
    pairs = []
    for a, b in itertools.combinations(wide.columns, 2):
        both = wide[[a, b]].dropna()
        if len(both) >= 3:
            pairs.append(spearmanr(both[a], both[b]).statistic)
    return float(np.mean(pairs)) if pairs else float("nan")


def battery_summary(ledger_rows: pd.DataFrame, target: str = "lift_nll") -> dict:
    """Across-cohort std of the label, mean within-cohort seed std, their ratio, and r1."""
    labels = cohort_labels(ledger_rows, target)
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
        "single_seed_reliability": seed_reliability(ledger_rows, target),
        "median_wall_seconds": float(ledger_rows.loc[ledger_rows.status == "ok", "wall_seconds"].median()) if len(ledger_rows) else float("nan"),
    }
