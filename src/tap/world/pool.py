"""The tiny world's clean items: a held-out probe, a pool that cohorts draw from, and an endless
stream of pretraining examples (answers from a mixture of behaviours) that never contains a probe
prompt (knowledge excepted: facts can only be known from pretraining, so every fact, probe facts
included, is shown there)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pandas as pd

from tap.config import TapConfig
from tap.types import BEHAVIOURS, SUBJECTS
from tap.world.subjects import GENERATORS, LEVELS, Question, fact_table, knowledge_question

ITEM_COLUMNS = ["item_id", "split", "subject", "difficulty", "prompt", "gold", "off_format_prompt", "wrong_answer"]


def _unique_questions(rng: random.Random, subject: str, level: int, n: int, exclude: set[str]) -> list[Question]:
    """Up to n distinct questions (fewer when the level has fewer distinct prompts)."""
    out, seen, tries = [], set(exclude), 0
    while len(out) < n and tries < 50 * n:
        tries += 1
        q = GENERATORS[subject](rng, level)
        if q.prompt not in seen:
            seen.add(q.prompt)
            out.append(q)
    return out


def build_items(config: TapConfig) -> pd.DataFrame:
    """All clean items of the world, one row each, with `split` = "probe" or "pool"."""
    if config.world.suite != "tiny":
        from tap.world.tasks import build_task_items

        return build_task_items(config)
    world = config.world
    rng = random.Random(f"items-{world.seed}")
    facts = fact_table(world.knowledge.n_countries, world.knowledge.facts_seed)
    rows: list[dict] = []

    def add(split: str, questions: list[Question]) -> None:
        for q in questions:
            idx = sum(1 for r in rows if r["subject"] == q.subject and r["split"] == split)
            rows.append(
                {
                    "item_id": f"{split}-{q.subject}-{idx:05d}",
                    "split": split,
                    "subject": q.subject,
                    "difficulty": q.difficulty,
                    "prompt": q.prompt,
                    "gold": q.gold,
                    "off_format_prompt": q.off_format_prompt,
                    "wrong_answer": q.wrong,
                }
            )

    n_probe = world.probe.per_subject
    probe_prompts: set[str] = set()
    for subject in SUBJECTS:
        if subject == "knowledge":
            shuffled = list(facts)
            rng.shuffle(shuffled)
            if n_probe >= len(shuffled):
                raise ValueError(f"world.probe.per_subject={n_probe} leaves no knowledge facts for cohorts")
            chosen = [knowledge_question(f, facts) for f in shuffled[:n_probe]]
        else:
            chosen = []
            for i in range(n_probe):
                chosen += _unique_questions(rng, subject, LEVELS[i % len(LEVELS)], 1, probe_prompts)
                probe_prompts.update(q.prompt for q in chosen)
        probe_prompts.update(q.prompt for q in chosen)
        add("probe", chosen)

    for subject in SUBJECTS:
        for level in LEVELS:
            if subject == "knowledge":
                level_facts = [f for f in facts if f.difficulty == level]
                questions = [knowledge_question(f, facts) for f in level_facts]
                questions = [q for q in questions if q.prompt not in probe_prompts][: world.pool.per_level]
            else:
                questions = _unique_questions(rng, subject, level, world.pool.per_level, probe_prompts)
            add("pool", questions)
    return pd.DataFrame(rows, columns=ITEM_COLUMNS)


def pretraining_stream(config: TapConfig, probe_prompts: set[str]) -> Iterator[tuple[str, str]]:
    """Endless (prompt, answer) pairs of canonical items for SFT pretraining. Each answer comes from
    a behaviour drawn by the subject's `pretrain.behaviours` weights: the correct procedure or the
    subject's wrong one (a subject with one behaviour draws nothing, so an all-correct config gives
    the stream of the world before behaviours existed). A reasoning-gym world streams its tasks' items
    (tap.world.tasks)."""
    if config.world.suite != "tiny":
        from tap.world.tasks import task_pretraining_stream

        yield from task_pretraining_stream(config, probe_prompts)
        return
    world, pre = config.world, config.pretrain
    mixtures = {}
    for subject, weights in pre.behaviours.items():
        names = [b for b in BEHAVIOURS[subject] if weights.get(b, 0.0) > 0]
        mixtures[subject] = (names, [weights[b] for b in names])
    rng = random.Random(f"pretrain-{world.seed}")
    facts = fact_table(world.knowledge.n_countries, world.knowledge.facts_seed)
    fact_weights = [pre.knowledge_repeats[f.difficulty - 1] for f in facts]
    subjects = [s for s in SUBJECTS if pre.subject_weights.get(s, 0.0) > 0]
    subject_weights = [pre.subject_weights[s] for s in subjects]
    while True:
        subject = rng.choices(subjects, subject_weights)[0]
        if subject == "knowledge":
            q = knowledge_question(rng.choices(facts, weights=fact_weights)[0], facts)
        else:
            level = rng.choices(LEVELS, weights=pre.level_weights)[0]
            q = GENERATORS[subject](rng, level)
            if q.prompt in probe_prompts:
                continue
        names, weights = mixtures.get(subject, (["correct"], [1.0]))
        behaviour = rng.choices(names, weights)[0] if len(names) > 1 else names[0]
        yield q.prompt, q.gold if behaviour == "correct" else q.wrong
