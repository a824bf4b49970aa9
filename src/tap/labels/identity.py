"""What a label is a label of: a cohort is identified by its content, not by its position.

Cohort ids are positions (c0000, c0001, ...), so a study whose cohorts change (another cohort size,
vendor mix or chunking, or `tap label RUN --cohorts other.parquet`) reuses the same ids for other
items. A ledger row therefore also carries `cohort_hash`: a hash of the cohort's ordered
(prompt, gold, verifier) items, exactly what its label run trained on. A row counts for a cohort
only when both its id and its hash match.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from tap.config import stable_hash


def cohort_hash(prompts: Sequence[str], golds: Sequence[str], verifiers: Sequence[str]) -> str:
    """sha256 (first 16 hex digits) of the ordered (prompt, gold, verifier) triples."""
    if not len(prompts) == len(golds) == len(verifiers):
        raise ValueError(f"{len(prompts)} prompts, {len(golds)} golds and {len(verifiers)} verifiers")
    return stable_hash([[str(p), str(g), str(v)] for p, g, v in zip(prompts, golds, verifiers)], length=16)


def item_verifiers(items: pd.DataFrame, default: str) -> list[str]:
    """Each item's verifier: its own (presets set one), else the label settings' default."""
    if "verifier" not in items:
        return [default] * len(items)
    return [str(v) if isinstance(v, str) and v else default for v in items["verifier"]]


def ordered_items(items: pd.DataFrame) -> pd.DataFrame:
    """One cohort's items in training order (by `position` when the table has it)."""
    return items.sort_values("position", kind="stable") if "position" in items else items


def cohort_hashes(cohorts: pd.DataFrame, default_verifier: str) -> dict[str, str]:
    """{cohort_id: cohort_hash} for a long cohorts table (one row per item)."""
    hashes = {}
    for cohort_id, items in cohorts.groupby("cohort_id", sort=True):
        items = ordered_items(items)
        hashes[str(cohort_id)] = cohort_hash(
            list(items.prompt), list(items.gold), item_verifiers(items, default_verifier)
        )
    return hashes


def changed_since_rollouts(rollouts: pd.DataFrame, cohorts: pd.DataFrame) -> set[str]:
    """Cohort ids whose (prompt, gold) items in `cohorts` differ from those their rollouts (and so
    their features) were sampled from."""
    def items(table: pd.DataFrame) -> dict[str, list[tuple[str, str]]]:
        first = table.drop_duplicates(["cohort_id", "position"]).sort_values(["cohort_id", "position"], kind="stable")
        return {
            str(c): list(zip(g.prompt.astype(str), g.gold.astype(str)))
            for c, g in first.groupby("cohort_id", sort=False)
        }

    sampled, current = items(rollouts), items(cohorts)
    return {c for c in sampled.keys() & current.keys() if sampled[c] != current[c]}
