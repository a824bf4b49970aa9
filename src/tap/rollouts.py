"""Rollouts: G sampled completions per cohort prompt from the current policy, with rewards.

Input is a cohorts table in long form (one row per cohort item; columns cohort_id, prompt, gold,
subject) read from parquet, CSV or JSONL; JSONL may also hold one cohort per line with an
`items` list. Output is `rollouts.parquet`, one row per completion. Its cost columns give each
completion its share of the generation batch's wall time (`gen_seconds`) and its forward FLOPs
(`gen_flops` ≈ 2·P·(prompt + completion tokens)), so a cohort's rollout cost is their sum.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from tap.errors import TapInputError
from tap.policy.base import Policy
from tap.store import read_table
from tap.types import SUBJECTS
from tap.verify.registry import get_verifier, judge

REQUIRED_COLUMNS = ("cohort_id", "prompt", "gold", "subject")
ROLLOUT_COLUMNS = [
    "cohort_id", "position", "item_id", "subject", "prompt", "gold", "sample", "text", "answer",
    "reward", "n_tokens", "finish_reason", "token_ids", "logprobs", "entropies", "gen_seconds", "gen_flops",
]


def _where(path: Path, row: pd.Series, index: int) -> str:
    line = row.get("_line")
    return f"{path} line {int(line)}" if line is not None and pd.notna(line) else f"{path} row {index + 1}"


def _explode_nested(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """One cohort per JSONL line with an `items` list -> one row per item."""
    rows = []
    for index, row in frame.iterrows():
        items = row["items"]
        where = _where(path, row, index)
        if not isinstance(items, list):
            raise TapInputError(f"{where}: field 'items' must be a list of items")
        if not items:
            raise TapInputError(f"{where}: cohort {row.get('cohort_id')!r} has no items")
        for position, item in enumerate(items):
            if not isinstance(item, dict):
                raise TapInputError(f"{where}: item {position} of cohort {row.get('cohort_id')!r} is not an object")
            rows.append({**{k: v for k, v in row.items() if k != "items"}, "position": position, **item})
    return pd.DataFrame(rows)


def load_cohorts(path: str | Path) -> pd.DataFrame:
    """Read and check a cohorts file; every problem is one TapInputError naming file, row, field."""
    path = Path(path)
    frame = read_table(path)
    if "items" in frame.columns:
        frame = _explode_nested(path, frame)
    if frame.empty:
        raise TapInputError(f"{path}: no cohorts in the file")
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise TapInputError(
            f"{path}: missing column {missing[0]!r} (a cohorts file needs {', '.join(REQUIRED_COLUMNS)})"
        )
    for index, row in frame.iterrows():
        where = _where(path, row, index)
        for column in ("cohort_id", "prompt"):
            value = row[column]
            if not isinstance(value, str) or not value.strip():
                raise TapInputError(f"{where}: field {column!r} must be a non-empty string, got {value!r}")
        gold = row["gold"]
        if (
            isinstance(gold, bool)
            or not isinstance(gold, (str, int, float))
            or (isinstance(gold, float) and pd.isna(gold))
        ):
            raise TapInputError(f"{where}: field 'gold' must be a string or a number, got {gold!r}")
        if not isinstance(row["subject"], str) or not row["subject"].strip():
            raise TapInputError(
                f"{where}: field 'subject' must be a non-empty string (e.g. {', '.join(SUBJECTS)}, or a task's name), "
                f"got {row['subject']!r}"
            )
    frame = frame.copy()
    frame["gold"] = [
        g if isinstance(g, str) else (str(int(g)) if float(g).is_integer() else str(g)) for g in frame["gold"]
    ]
    if "position" not in frame.columns:
        frame["position"] = frame.groupby("cohort_id", sort=False).cumcount()
    if "item_id" not in frame.columns:
        frame["item_id"] = [f"{c}/{p}" for c, p in zip(frame.cohort_id, frame.position)]
    return frame.drop(columns=[c for c in ("_line",) if c in frame.columns]).reset_index(drop=True)


def rollout_cohorts(
    policy: Policy,
    cohorts: pd.DataFrame,
    *,
    num_generations: int = 8,
    max_new_tokens: int = 8,
    temperature: float = 1.0,
    seed: int = 0,
    prompts_per_batch: int = 64,
    verifier: str = "exact",
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Sample G completions for every cohort item and judge each with the verifier (an item's own
    `verifier` column, when the cohorts table has one, wins: presets set it per item)."""
    for name in {verifier, *cohorts.get("verifier", pd.Series(dtype=object)).dropna()}:
        get_verifier(name)  # an unknown name fails before any sampling
    params = getattr(policy, "num_parameters", 0)
    rows: list[dict] = []
    records = cohorts.to_dict(orient="records")
    total = len(records)
    for batch_index, start in enumerate(range(0, total, prompts_per_batch)):
        chunk = records[start:start + prompts_per_batch]
        began = time.perf_counter()
        groups = policy.sample(
            [r["prompt"] for r in chunk], num_generations,
            max_new_tokens=max_new_tokens, temperature=temperature, seed=seed * 100_003 + batch_index,
        )
        share = (time.perf_counter() - began) / max(1, len(chunk) * num_generations)
        prompt_tokens = _prompt_lengths(policy, [r["prompt"] for r in chunk])
        for record, group, n_prompt in zip(chunk, groups, prompt_tokens):
            for sample, completion in enumerate(group):
                where = f"cohort {record['cohort_id']} item {record['position']} sample {sample}"
                verdict = judge(record.get("verifier") or verifier, completion.text, record["gold"], where=where)
                rows.append(
                    {
                        "cohort_id": record["cohort_id"],
                        "position": int(record["position"]),
                        "item_id": record["item_id"],
                        "subject": record["subject"],
                        "prompt": record["prompt"],
                        "gold": record["gold"],
                        "sample": sample,
                        "text": completion.text,
                        "answer": verdict.answer,
                        "reward": float(verdict.reward),
                        "n_tokens": completion.n_tokens,
                        "finish_reason": completion.finish_reason,
                        "token_ids": list(completion.token_ids),
                        "logprobs": list(completion.logprobs),
                        "entropies": list(completion.entropies),
                        "gen_seconds": share,
                        "gen_flops": 2.0 * params * (n_prompt + completion.n_tokens),
                    }
                )
        if progress:
            progress(min(total, start + prompts_per_batch), total)
    return pd.DataFrame(rows, columns=ROLLOUT_COLUMNS)


def _prompt_lengths(policy: Policy, prompts: list[str]) -> list[int]:
    """Prompt lengths in tokens as the policy encodes them (0 when it cannot say)."""
    encode = getattr(policy, "encode_prompts", None)
    return [len(ids) for ids in encode(prompts)] if encode else [0] * len(prompts)
