"""`tap world build`: build (or load) an embedded world and print its policy and behaviours."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from tap.cli.common import (
    ConfigOpt,
    HomeOpt,
    SetOpt,
    _config,
    _progress,
    console,
    world_app,
)


POLICY_ORIGIN = {
    "cache": "from the cache",
    "shipped": "shipped with TAP (copied into the cache)",
    "pretrained": "pretrained here",
}


def _print_world(built) -> None:
    info = built.pretrain
    state = "reused from cache" if built.reused else "built"
    console.print(f"[bold]Tiny world[/bold] {state}: {built.root}")
    console.print(
        f"policy {POLICY_ORIGIN[built.policy_source]}: {info['parameters']:,} parameters, pretrained "
        f"{info['steps']} steps in {info['seconds']:.1f} s "
        f"({'inside' if info['in_band'] else '[red]outside[/red]'} the accuracy band {info['band']}) at "
        f"{built.policy_dir}"
    )
    table = Table(title="Probe (greedy accuracy, gold-answer NLL in nats/token)")
    for column in ("subject", "probe items", "pool items", "accuracy", "gold NLL"):
        table.add_column(column, justify="right" if column != "subject" else "left")
    counts = built.items.groupby(["split", "subject"]).size()
    for row in info["probe_table"]:
        subject = row["subject"]
        probe_n = counts.get(("probe", subject), counts.xs("probe").sum() if subject == "all" else 0)
        pool_n = counts.get(("pool", subject), counts.xs("pool").sum() if subject == "all" else 0)
        table.add_row(subject, str(probe_n), str(pool_n), f"{row['accuracy']:.3f}", f"{row['gold_nll']:.3f}")
    console.print(table)
    if info.get("behaviour_table"):
        _print_behaviours(info["behaviour_table"])
    cohorts = built.cohorts.groupby("cohort_id").first()
    vendors = cohorts.vendor.value_counts()
    console.print(
        f"{len(cohorts)} cohorts of {built.cohorts.groupby('cohort_id').size().max()} items; by vendor: "
        + ", ".join(f"{v} {n}" for v, n in vendors.items())
        + f"; defects: {built.cohorts.corrupted.mean():.0%} corrupted, {built.cohorts.duplicate.mean():.0%} "
          "duplicates, "
        f"{built.cohorts.off_format.mean():.0%} off-format"
    )


def _print_behaviours(rows: list[dict]) -> None:
    """The policy's behaviours on the probe (tap.world.tiny_policy.behaviour_table)."""
    table = Table(
        title="Behaviours on the probe (where the correct and the wrong behaviour disagree: P(answer) at T = 1)"
    )
    columns = ("subject", "disagree", "P(correct)", "P(wrong)", "pass@1", "pass@8")
    keys = ("divergent", "p_correct_divergent", "p_wrong_divergent", "pass_1", "pass_8")
    for column in columns:
        table.add_column(column, justify="right" if column != "subject" else "left")
    for row in rows:
        table.add_row(row["subject"], *(f"{row[k]:.3f}" if row.get(k) is not None else "—" for k in keys))
    console.print(table)


@world_app.command("build")
def world_build(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out", "-o", help="Also write config.toml, items.parquet and cohorts.parquet into this run folder."
        ),
    ] = None,
    home: HomeOpt = None,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Pretrain the policy here even when TAP ships it or the cache holds it (replaces the cached "
                 "copy; ~40 min on 2 cores for the default world).",
        ),
    ] = False,
) -> None:
    """Build the tiny world and its policy, or reuse them: the cache first, then the policies TAP ships
    (the embedded worlds' defaults), and pretraining only for other configs or with --rebuild."""
    from tap import api

    cfg = _config(config, set_)
    pretrains = api.world_pretrains(cfg, home, rebuild)
    with _progress() as progress:
        task = progress.add_task("pretraining tiny policy", total=cfg.pretrain.max_steps, note="",
                                 visible=pretrains)

        def on_step(step: int, total: int, record: dict | None) -> None:
            note = f"probe acc {record['acc_all']:.2f}" if record else None
            progress.update(task, completed=step, **({"note": note} if note else {}))

        built = api.world(cfg, home=home, out=out, progress=on_step, rebuild=rebuild)
        progress.update(task, completed=cfg.pretrain.max_steps, visible=pretrains)
    _print_world(built)
    if out:
        console.print(f"run folder: {out}")
