"""The feature registry: a plain dict from name to (function, cost tag, one-line definition).

Rollout features take a `CohortRollouts` and return a float, or raise `Undefined` with a reason.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tap.features import rewards, tokens
from tap.features.groups import CohortRollouts, Undefined


@dataclass(frozen=True)
class Feature:
    name: str
    tag: str  # "R", "F" or "G"
    fn: Callable[[CohortRollouts], float]

    @property
    def definition(self) -> str:
        doc = inspect.getdoc(self.fn) or ""
        first_paragraph = doc.split("\n\n", 1)[0]
        return " ".join(first_paragraph.split("] ", 1)[-1].split())


def _collect(module, tag: str) -> dict[str, Feature]:
    out = {}
    for name, fn in vars(module).items():
        if inspect.isfunction(fn) and fn.__module__ == module.__name__ and not name.startswith("_"):
            doc = inspect.getdoc(fn) or ""
            if doc.startswith(f"[{tag}]"):
                out[name] = Feature(name, tag, fn)
    return out


FEATURES: dict[str, Feature] = {**_collect(rewards, "R"), **_collect(tokens, "F")}


def compute_rollout_features(cohorts: list[CohortRollouts], tags: set[str] = frozenset({"R", "F"})) -> pd.DataFrame:
    """One row per cohort: every registered rollout feature of the chosen tags, NaN where
    undefined, and an `undefined` column that says which features are undefined and why."""
    rows = []
    for cohort in cohorts:
        row: dict = {"cohort_id": cohort.cohort_id}
        missing = []
        for name, feature in FEATURES.items():
            if feature.tag not in tags:
                continue
            try:
                row[name] = float(feature.fn(cohort))
            except Undefined as why:
                row[name] = np.nan
                missing.append(f"{name}: {why}")
        row["undefined"] = "; ".join(missing)
        rows.append(row)
    return pd.DataFrame(rows)
