"""`tap cohorts`: cut a dataset file, a Hugging Face dataset or reasoning-gym tasks into cohorts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tap.cli.common import Cut, PromptStyle, Verifier, app, console


@app.command("cohorts")
def cohorts_command(
    source: Annotated[
        str,
        typer.Argument(
            help="A JSONL / JSON / parquet / CSV file, a Hugging Face dataset id (needs the hub), or reasoning-gym "
                 "(with --tasks)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Cohorts file to write (.parquet, .csv or .jsonl).")],
    preset: Annotated[
        Optional[str],
        typer.Option(
            "--preset",
            help="gsm8k, math, arc, sciq, mmlu, mbpp or humaneval: the record schema, prompt, gold and verifier.",
        ),
    ] = None,
    columns: Annotated[
        Optional[str],
        typer.Option("--columns", help="Without a preset: TAP field=column pairs, e.g. prompt=question,gold=answer."),
    ] = None,
    subject: Annotated[
        Optional[str],
        typer.Option("--subject", help="Without a preset: the subject of every item (math, code, science, knowledge)."),
    ] = None,
    verifier: Annotated[Verifier, typer.Option("--verifier", help="Without a preset: the reward function.")] = "exact",
    size: Annotated[int, typer.Option("--size", help="Items per cohort.")] = 8,
    by: Annotated[Cut, typer.Option("--by", help="Cut cohorts at random, by subject or by difficulty.")] = "random",
    split: Annotated[Optional[str], typer.Option("--split", help="Hugging Face split (default: the preset's).")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Only the first N records.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the shuffle (and of reasoning-gym's generators).")] = 0,
    tasks: Annotated[
        Optional[str],
        typer.Option(
            "--tasks",
            help="With reasoning-gym: tasks as name[:knob=value...], comma separated, e.g. "
                 "gcd:max_value=50,spell_backward.",
        ),
    ] = None,
    count: Annotated[int, typer.Option("--count", help="With reasoning-gym: items generated per task.")] = 200,
    prompt: Annotated[
        PromptStyle,
        typer.Option(
            "--prompt",
            help="With reasoning-gym: library (the question as generated) or short (without its instruction text, as "
                 "the reasoning-gym tiny world's policy reads it).",
        ),
    ] = "library",
    verl: Annotated[
        bool,
        typer.Option(
            "--verl",
            help="Write verl's RL dataset (a .parquet: chat prompt, reward_model.ground_truth, extra_info.tap_key) for "
                 "TAP's verl curriculum sampler (tap.integrations.verl_sampler).",
        ),
    ] = False,
) -> None:
    """Cut cohorts from a dataset (with a preset for its real schema, or a column mapping), or from
    reasoning-gym tasks generated offline (`tap cohorts reasoning-gym --tasks gcd,lcm -o c.parquet`)."""
    from tap import api

    items, cohorts = api.data_cohorts(
        source,
        preset=preset,
        columns=columns,
        subject=subject,
        verifier=verifier,
        size=size,
        by=by,
        split=split,
        limit=limit,
        seed=seed,
        tasks=tasks,
        count=count,
        prompt=prompt,
    )
    api.write_cohorts(cohorts, out, for_verl=verl)
    console.print(f"wrote {out}: {cohorts.cohort_id.nunique()} cohorts of {size} from {len(items)} items "
                  f"({len(items) - len(cohorts)} left over); subjects: {', '.join(sorted(cohorts.subject.unique()))}")
