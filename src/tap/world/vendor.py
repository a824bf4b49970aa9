"""A cohort generator that imitates data vendors.

Each cohort comes from one vendor profile (drawn by weight). Its knobs are drawn uniformly from
the vendor's ranges and recorded on the cohort: subject mix, difficulty range, corruption rate
(gold answers replaced by plausible wrong ones drawn at random), systematic rate (gold answers
produced by the subject's wrong procedure, as a vendor with a systematic error would write them),
duplicate rate (items repeating another item of
the cohort) and off-format rate (prompts in a style unseen in pretraining). Defect counts are
rounded stochastically so that a rate of 0.3 on 8 items gives 2 or 3 defects, 2.4 on average.
"""

from __future__ import annotations

import random

import pandas as pd

from tap.config import TapConfig, VendorConfig
from tap.world.subjects import Question, fact_table, wrong_answer
from tap.world.tasks import wrong_gold

COHORT_COLUMNS = [
    "cohort_id", "position", "item_id", "subject", "difficulty", "prompt", "gold", "true_answer",
    "corrupted", "gold_source", "duplicate", "off_format", "cohort_subject", "vendor", "difficulty_lo",
    "difficulty_hi", "corruption_rate", "systematic_rate", "duplicate_rate", "off_format_rate",
]


def _count(rng: random.Random, rate: float, size: int) -> int:
    expected = rate * size
    base = int(expected)
    return min(size, base + (1 if rng.random() < expected - base else 0))


def _draw_knobs(rng: random.Random, vendor: VendorConfig) -> dict:
    subjects = [s for s, w in vendor.subjects.items() if w > 0]
    weights = [vendor.subjects[s] for s in subjects]
    lo = rng.randint(*vendor.difficulty)
    hi = rng.randint(lo, vendor.difficulty[1])
    return {
        "vendor": vendor.name,
        "cohort_subject": "mixed" if vendor.mixed and len(subjects) > 1 else rng.choices(subjects, weights)[0],
        "subjects": subjects,
        "subject_weights": weights,
        "difficulty_lo": lo,
        "difficulty_hi": hi,
        "corruption_rate": rng.uniform(*vendor.corruption_rate),
        "duplicate_rate": rng.uniform(*vendor.duplicate_rate),
        "off_format_rate": rng.uniform(*vendor.off_format_rate),
        # drawn last and only when the vendor has one, so worlds without systematic vendors keep their cohorts
        "systematic_rate": rng.uniform(*vendor.systematic_rate) if vendor.systematic_rate != (0.0, 0.0) else 0.0,
    }


def _pick_items(
    rng: random.Random, pool: pd.DataFrame, knobs: dict, n: int, taken: set[str] | None = None
) -> list[dict]:
    """n distinct pool items matching the cohort's subject(s) and difficulty range (the range is
    widened one level at a time when it holds too few items). With `taken` (disjoint cohorts), items
    another cohort holds are skipped while the subject has any left; once it has none, they are
    reused, and the chosen items are added to `taken`."""
    chosen: list[dict] = []
    used: set[str] = set()
    for _ in range(n):
        subject = knobs["cohort_subject"]
        if subject == "mixed":
            subject = rng.choices(knobs["subjects"], knobs["subject_weights"])[0]
        lo, hi = knobs["difficulty_lo"], knobs["difficulty_hi"]
        blocked = used | taken if taken is not None else used
        while True:
            candidates = pool[(pool.subject == subject) & pool.difficulty.between(lo, hi) & ~pool.item_id.isin(blocked)]
            if len(candidates):
                break
            if lo <= 1 and hi >= 5:
                if blocked is used:
                    break
                blocked, lo, hi = used, knobs["difficulty_lo"], knobs["difficulty_hi"]  # the subject is used up: reuse
                continue
            lo, hi = max(1, lo - 1), min(5, hi + 1)
        if not len(candidates):
            raise ValueError(f"the pool has too few {subject} items for a cohort; raise world.pool.per_level")
        row = candidates.iloc[rng.randrange(len(candidates))].to_dict()
        used.add(row["item_id"])
        if taken is not None:
            taken.add(row["item_id"])
        chosen.append(row)
    return chosen


def make_cohorts(config: TapConfig, items: pd.DataFrame, *, stream: str = "cohorts", prefix: str = "c") -> pd.DataFrame:
    """All cohorts of the world in long form: one row per cohort x position.

    `stream` names an independent random stream: the world's own cohorts use "cohorts"; the closed
    loop draws fresh candidates from other streams, with ids prefixed by `prefix`."""
    world = config.world
    rng = random.Random(f"{stream}-{world.seed}")
    pool = items[items.split == "pool"].reset_index(drop=True)
    facts = fact_table(world.knowledge.n_countries, world.knowledge.facts_seed) if world.suite == "tiny" else ()
    extra = [c for c in ("verifier", "task") if c in pool.columns]  # a reasoning-gym world's items judge themselves
    vendors = world.cohorts.vendors
    size = world.cohorts.size
    rows: list[dict] = []
    taken: set[str] | None = set() if world.cohorts.disjoint else None
    for c in range(world.cohorts.count):
        vendor = rng.choices(vendors, [v.weight for v in vendors])[0]
        knobs = _draw_knobs(rng, vendor)
        n_dup = _count(rng, knobs["duplicate_rate"], size - 1) if size > 1 else 0
        originals = _pick_items(rng, pool, knobs, size - n_dup, taken)
        delivered = originals + [dict(rng.choice(originals), _duplicate=True) for _ in range(n_dup)]
        rng.shuffle(delivered)
        corrupt = set(rng.sample(range(size), _count(rng, knobs["corruption_rate"], size)))
        off = set(rng.sample(range(size), _count(rng, knobs["off_format_rate"], size)))
        systematic: set[int] = set()
        if knobs["systematic_rate"] > 0:  # among the items not already given a random wrong gold
            rest = [p for p in range(size) if p not in corrupt]
            systematic = set(rng.sample(rest, min(len(rest), _count(rng, knobs["systematic_rate"], size))))
        cohort_id = f"{prefix}{c:04d}"
        for pos, item in enumerate(delivered):
            question = Question(
                item["subject"], item["difficulty"], item["prompt"], item["off_format_prompt"], item["gold"]
            )
            source = "random" if pos in corrupt else "systematic" if pos in systematic else "true"
            if source == "random":
                gold = (
                    wrong_answer(rng, question, facts)
                    if world.suite == "tiny"
                    else wrong_gold(rng, item["gold"], item["verifier"])
                )
            else:
                gold = item["wrong_answer"] if source == "systematic" else item["gold"]
            rows.append(_cohort_row(cohort_id, pos, item, gold, source, pos in off, knobs, extra))
    return pd.DataFrame(rows, columns=COHORT_COLUMNS + extra)


def _cohort_row(cohort_id: str, pos: int, item: dict, gold: str, source: str, off_format: bool, knobs: dict,
                extra: list[str]) -> dict:
    """One delivered item of a cohort, with the vendor knobs that made the cohort."""
    return {
        "cohort_id": cohort_id,
        "position": pos,
        "item_id": item["item_id"],
        "subject": item["subject"],
        "difficulty": int(item["difficulty"]),
        "prompt": item["off_format_prompt"] if off_format else item["prompt"],
        "gold": gold,
        "true_answer": item["gold"],
        "corrupted": gold != item["gold"],  # a wrong procedure can agree with the true answer
        "gold_source": source,
        "duplicate": bool(item.get("_duplicate", False)),
        "off_format": off_format,
        "cohort_subject": knobs["cohort_subject"],
        "vendor": knobs["vendor"],
        "difficulty_lo": knobs["difficulty_lo"],
        "difficulty_hi": knobs["difficulty_hi"],
        "corruption_rate": knobs["corruption_rate"],
        "systematic_rate": knobs["systematic_rate"],
        "duplicate_rate": knobs["duplicate_rate"],
        "off_format_rate": knobs["off_format_rate"],
        **{c: item[c] for c in extra},
    }
