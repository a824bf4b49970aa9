"""A dataset study's items, probe and cohorts, from the config's `[data]` section.

The probe is drawn first (`probe_size` items at random, spread evenly over subjects, or all of
`probe_source`) and never appears in a cohort; the rest is cut into cohorts of `cohort_size` items
(random, by subject or by difficulty). items.parquet holds every item with `split` = "probe" or
"pool"; cohorts.parquet is in the long form every other stage reads.
"""

from __future__ import annotations

import pandas as pd

from tap.config import TapConfig
from tap.config.data import REASONING_GYM
from tap.data.load import chunk_cohorts, load_items
from tap.errors import TapInputError


def _load(config: TapConfig, source: str) -> pd.DataFrame:
    d = config.data
    return load_items(source, preset=d.preset or None, columns=d.columns or None, subject=d.subject or None,
                      verifier=d.verifier, split=d.split or None, limit=d.limit or None,
                      tasks=d.tasks if source == REASONING_GYM else None)


def _stratified_probe(items: pd.DataFrame, size: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`size` items split as evenly as possible over subjects (the rest of a subject's share goes
    to the larger subjects), and the remaining items."""
    shuffled = items.sample(frac=1.0, random_state=seed)
    groups = {s: g for s, g in shuffled.groupby("subject", sort=True)}
    share, taken = {s: 0 for s in groups}, 0
    while taken < size:  # one more item to each subject that still has some, in turn
        progress = False
        for s, g in groups.items():
            if taken < size and share[s] < len(g) - 1:  # leave each subject at least one pool item
                share[s] += 1
                taken += 1
                progress = True
        if not progress:
            raise TapInputError(
                f"{len(items)} items: too few to hold out data.probe_size = {size} and keep items for cohorts"
            )
    probe = pd.concat([groups[s].iloc[:n] for s, n in share.items()])
    return probe, shuffled.drop(probe.index)


def build_dataset(config: TapConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(items with a `split` column, long-form cohorts) for `config.data`."""
    d = config.data
    if not d.source and not d.mix:
        raise TapInputError("data.source is empty: a dataset study needs a file or a Hugging Face dataset id")
    parts = [_load(config, d.source)] if d.source else []
    for extra in d.mix:
        part = load_items(extra.source, preset=extra.preset, split=extra.split or None, limit=extra.limit or None)
        parts.append(part.assign(item_id=f"mix{len(parts)}-" + part.item_id.astype(str)))
    items = pd.concat(parts, ignore_index=True)
    if d.probe_source:
        probe = _load(config, d.probe_source).assign(item_id=lambda t: "probe-" + t.item_id.astype(str))
        pool = items
    else:
        probe, pool = _stratified_probe(items, d.probe_size, d.seed)
    prefix = f"{d.preset or ('mix' if d.mix else 'rg' if d.tasks else 'data')}-"
    cohorts = chunk_cohorts(pool.reset_index(drop=True), d.cohort_size, by=d.chunk_by, seed=d.seed, prefix=prefix)
    if d.max_cohorts:
        keep = list(dict.fromkeys(cohorts.cohort_id))[:d.max_cohorts]
        cohorts = cohorts[cohorts.cohort_id.isin(keep)].reset_index(drop=True)
    table = pd.concat([probe.assign(split="probe"), pool.assign(split="pool")], ignore_index=True)
    return table, cohorts
