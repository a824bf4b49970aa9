"""Items from a dataset file or a Hugging Face dataset id, with a preset or a column mapping, and
cohorts cut from them.

- `load_items(source, preset=..., columns=...)`: `source` is a JSONL / JSON / parquet / CSV file, or a
  Hugging Face dataset id read with `datasets.load_dataset` (needs the hub; offline it is one clear
  error). With a preset the records are in that dataset's own schema; without one, `columns` maps
  TAP's fields (prompt, gold, and optionally subject, difficulty) to the file's columns.
- `load_items("reasoning-gym", tasks=...)`: the items of reasoning-gym tasks (tap.data.reasoning_gym).
- `chunk_cohorts(items, size, by=...)`: cohorts of `size` items cut at random, by subject, or by
  difficulty; a vendor file that already has `cohort_id` is used as given.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from tap.config.data import REASONING_GYM
from tap.presets import PRESETS, PresetError
from tap.errors import TapInputError
from tap.types import SUBJECTS

ITEM_COLUMNS = ["item_id", "subject", "difficulty", "prompt", "gold", "verifier"]


def _records(source: str | Path, preset, split: str | None, limit: int | None) -> tuple[list[dict], str]:
    from tap.store import read_table

    path = Path(source)
    if path.exists():
        frame = read_table(path)
        return frame.head(limit).to_dict(orient="records") if limit else frame.to_dict(orient="records"), str(path)
    if preset is None and "/" not in str(source):
        raise TapInputError(f"{source}: no such file (and not a Hugging Face dataset id 'owner/name')")
    try:
        from datasets import load_dataset

        hub_id = str(source) if "/" in str(source) else preset.hub_id
        config = preset.hub_config if preset is not None and hub_id == preset.hub_id else None
        data = load_dataset(hub_id, config, split=split or (preset.split if preset else "train"))
    except Exception as exc:  # offline, unknown id, gated dataset: one line with the library's reason
        raise TapInputError(
            f"{source}: could not load from the Hugging Face hub ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from None
    if limit:
        data = data.select(range(min(limit, len(data))))
    return [dict(r) for r in data], str(source)


def load_items(
    source: str | Path,
    *,
    preset: str | None = None,
    columns: dict[str, str] | None = None,
    subject: str | None = None,
    verifier: str = "exact",
    split: str | None = None,
    limit: int | None = None,
    tasks: list | None = None,
) -> pd.DataFrame:
    """One row per item: item_id, subject, difficulty, prompt, gold, verifier. `source` "reasoning-gym"
    generates the items of `tasks` (tap.data.reasoning_gym; they add the columns task and task_config)."""
    if str(source) == REASONING_GYM:
        from tap.data.reasoning_gym import load_tasks

        items = load_tasks(tasks)
        return items.head(limit).reset_index(drop=True) if limit else items
    if tasks:
        raise TapInputError(f"tasks are for source {REASONING_GYM!r}, not {source}")
    chosen = None
    if preset is not None:
        if preset not in PRESETS:
            raise TapInputError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
        chosen = PRESETS[preset]
    records, where = _records(source if source else chosen.hub_id, chosen, split, limit)
    rows = []
    for i, record in enumerate(records):
        at = (
            f"{where} line {int(record['_line'])}"
            if pd.notna(record.get("_line", float("nan")))
            else f"{where} row {i + 1}"
        )
        try:
            rows.append(_item(record, i, chosen, columns, subject, verifier))
        except PresetError as why:
            raise TapInputError(f"{at}: {why}") from None
    if not rows:
        raise TapInputError(f"{where}: no records")
    return pd.DataFrame(rows, columns=ITEM_COLUMNS)


def _item(record: dict, index: int, preset, columns: dict[str, str] | None, subject: str | None, verifier: str) -> dict:
    if preset is not None:
        item = preset.to_item(record)
        return {"item_id": f"{preset.name}-{index}", "subject": preset.subject, "verifier": preset.verifier, **item}
    mapping = {"prompt": "prompt", "gold": "gold", "subject": "subject", "difficulty": "difficulty", **(columns or {})}
    for field in ("prompt", "gold"):
        value = record.get(mapping[field])
        if value is None or (isinstance(value, float) and pd.isna(value)) or str(value).strip() == "":
            raise PresetError(f"field {mapping[field]!r} (TAP's {field}) is missing or empty")
    item_subject = subject or record.get(mapping["subject"])
    if item_subject not in SUBJECTS:
        raise PresetError(
            f"subject {item_subject!r} is not one of {', '.join(SUBJECTS)} (pass --subject or map a column)"
        )
    difficulty = record.get(mapping["difficulty"], 0)
    return {"item_id": str(record.get("item_id", f"item-{index}")), "subject": item_subject,
            "difficulty": int(difficulty) if pd.notna(difficulty) else 0, "prompt": str(record[mapping["prompt"]]),
            "gold": str(record[mapping["gold"]]), "verifier": verifier}


def chunk_cohorts(
    items: pd.DataFrame, size: int, *, by: str = "random", seed: int = 0, prefix: str = "cohort"
) -> pd.DataFrame:
    """Long-form cohorts of `size` items: shuffled ("random"), or grouped by subject or difficulty
    first. Items that do not fill a last cohort of their group are left out."""
    if by not in ("random", "subject", "difficulty"):
        raise TapInputError(f"chunk by must be random, subject or difficulty, got {by!r}")
    rng = random.Random(seed)
    groups = [items] if by == "random" else [g for _, g in items.groupby(by, sort=True)]
    rows = []
    for group in groups:
        order = list(group.index)
        rng.shuffle(order)
        for start in range(0, len(order) - size + 1, size):
            cohort_id = f"{prefix}{len(rows) // size:04d}"
            for position, index in enumerate(order[start:start + size]):
                rows.append({"cohort_id": cohort_id, "position": position, **items.loc[index].to_dict()})
    if not rows:
        raise TapInputError(f"fewer than {size} items in every group: no cohort could be cut")
    return pd.DataFrame(rows)
