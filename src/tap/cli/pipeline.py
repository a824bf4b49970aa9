"""`tap rollout`, `label`, `labels show`, `features`, `version`: the pipeline's commands (`tap world build`:
tap.cli.world)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from tap.cli.common import (
    ConfigOpt,
    Executor,
    Verifier,
    WorkersOpt,
    HomeOpt,
    SetOpt,
    _file_config,
    _print_notes,
    _progress,
    _run_config,
    app,
    console,
    err_console,
    features_app,
    labels_app,
)


@app.command()
def rollout(
    cohorts: Annotated[
        Path, typer.Argument(help="Cohorts file (parquet, JSONL or CSV; columns cohort_id, prompt, gold, subject).")
    ],
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Output parquet (default: rollouts.parquet beside the cohorts file)."),
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    model: Annotated[
        Optional[str], typer.Option("--model", help="Model folder or hub id (default: the tiny world's policy).")
    ] = None,
    max_cohorts: Annotated[Optional[int], typer.Option("--max-cohorts", help="Only the first N cohorts.")] = None,
    verifier: Annotated[
        Verifier, typer.Option("--verifier", help="Reward function for items without their own.")
    ] = "exact",
    show: Annotated[int, typer.Option("--show", help="Print the rollouts of this many prompts.")] = 0,
    home: HomeOpt = None,
) -> None:
    """Sample G completions per cohort prompt with the policy and write rollouts.parquet."""
    from tap import api

    cfg = _file_config(config, set_, cohorts)
    target = out or cohorts.with_name("rollouts.parquet")
    frame = api.read_cohorts(cohorts, max_cohorts)  # bad input fails here, before any progress bar
    with _progress() as progress:
        task = progress.add_task("rollouts", total=len(frame), note="prompts")
        table = api.rollout(
            frame, target, config=cfg, model=model, home=home, verifier=verifier,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    console.print(
        f"wrote {target}: {table.cohort_id.nunique()} cohorts, {len(table)} completions, "
        f"mean reward {table.reward.mean():.3f}, {(table.finish_reason == 'length').mean():.1%} truncated"
    )
    if show:
        _print_rollouts(table, show)


def _print_rollouts(table, prompts: int) -> None:
    for (cohort, position), group in list(table.groupby(["cohort_id", "position"], sort=False))[:prompts]:
        first = group.iloc[0]
        view = Table(title=f"{cohort} #{position} [{first.subject}]  {first.prompt!r}  gold={first.gold!r}")
        for column in ("#", "completion", "answer", "reward", "adv", "tokens", "mean lp", "finish"):
            view.add_column(column)
        mean_reward = group.reward.mean()
        for row in group.itertuples():
            view.add_row(
                str(row.sample),
                repr(row.text),
                repr(row.answer),
                f"{row.reward:.0f}",
                f"{row.reward - mean_reward:+.2f}",
                str(row.n_tokens),
                f"{sum(row.logprobs) / max(1, len(row.logprobs)):.2f}",
                row.finish_reason,
            )
        console.print(view)


@app.command()
def label(
    run_dir: Annotated[
        Path, typer.Argument(help="Run folder (holds config.toml and cohorts.parquet; labels.sqlite is written here).")
    ],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    cohorts: Annotated[
        Optional[Path], typer.Option("--cohorts", help="Cohorts file (default: RUN_DIR/cohorts.parquet).")
    ] = None,
    max_cohorts: Annotated[Optional[int], typer.Option("--max-cohorts", help="Only the first N cohorts.")] = None,
    seeds: Annotated[
        Optional[int], typer.Option("--seeds", "-S", help="Training seeds per cohort (default: label.seeds, 3).")
    ] = None,
    workers: WorkersOpt = None,
    executor: Annotated[
        Optional[Executor],
        typer.Option(
            "--executor",
            help="Where label runs execute: local (in-process / process pool) or ray (default: study.executor).",
        ),
    ] = None,
    ray_address: Annotated[
        Optional[str], typer.Option("--ray-address", help="Existing Ray cluster (default: start a local one).")
    ] = None,
    retries: Annotated[
        int, typer.Option("--retries", help="Retries of a unit that raises before it is recorded as failed.")
    ] = 1,
    active: Annotated[
        Optional[int],
        typer.Option(
            "--active",
            min=1,
            help="Label only N more cohorts, chosen where they most improve "
            "the predictor's top ranking (needs RUN_DIR/features.parquet).",
        ),
    ] = None,
    active_start: Annotated[
        int,
        typer.Option(
            "--active-start", min=1, help="With --active: cohorts labelled at random first when fewer are labelled."
        ),
    ] = 16,
    active_batch: Annotated[
        int,
        typer.Option(
            "--active-batch",
            min=1,
            help="With --active: cohorts chosen per round (the predictor is refitted between rounds).",
        ),
    ] = 8,
    home: HomeOpt = None,
) -> None:
    """GRPO-train each cohort x seed from the base policy (TRL) and record its probe lift.

    Resumable: a cohort x seed already in labels.sqlite with the same items and label config is skipped;
    a cohort whose items changed is trained again. Starts from RUN_DIR/config.toml; --set applies on top.
    With --active N, only N more cohorts are labelled: after a random start, each round fits an ensemble of the
    configured predictor on the labelled cohorts and labels those with the largest expected improvement over the
    labelled top 10% (docs/labels.md, "Active labeling").
    """
    from tap import api

    cfg = _run_config(run_dir, config, set_, "label", produces=("labels",))
    workers, executor = workers or cfg.study.workers, executor or cfg.study.executor
    with _progress() as progress:
        task = progress.add_task("label runs", total=None, note="")

        def on_unit(done: int, failed: int, total: int) -> None:
            progress.update(task, completed=done + failed, total=total, note=f"{failed} failed" if failed else "")

        if active is not None:
            if max_cohorts is not None:
                from tap.errors import TapInputError

                raise TapInputError("--active chooses the cohorts itself; leave out --max-cohorts")
            picked = api.label_active(
                run_dir,
                active,
                config=cfg,
                start=active_start,
                batch=active_batch,
                cohorts=cohorts,
                seeds=seeds,
                workers=workers,
                executor=executor,
                ray_address=ray_address,
                retries=retries,
                home=home,
                progress=on_unit,
            )
            console.print(
                f"active labeling: {len(picked['labelled'])} cohorts labelled ({picked['label_runs']} label runs, "
                f"{picked['failed']} failed) after {picked['labelled_before']} already labelled: "
                + ", ".join(picked["labelled"][:12])
                + (" ..." if len(picked["labelled"]) > 12 else "")
            )
            _print_label_summary(run_dir, home=home)
            return
        result = api.label(
            run_dir, config=cfg, cohorts=cohorts, max_cohorts=max_cohorts, seeds=seeds, workers=workers,
            executor=executor, ray_address=ray_address, retries=retries, home=home, progress=on_unit,
        )
    console.print(
        f"label runs: {result.succeeded} done, {result.failed} failed, {result.skipped} already in the ledger "
        f"({result.planned} planned) -> {run_dir / 'labels.sqlite'}"
    )
    _print_label_summary(run_dir, home=home)
    if result.failed:
        err_console.print(f"{result.failed} label runs failed; their errors are in labels.sqlite (status = 'failed')")
        raise typer.Exit(1)


def _print_label_summary(run_dir: Path, limit: int = 0, home: Path | None = None) -> None:
    from tap import api

    per_cohort, summary = api.labels_table(run_dir, home=home)
    _print_notes(summary["notes"])
    if limit:
        table = Table(title=f"Lift labels: {summary['target']} (mean over seeds; positive = better)")
        for column in (
            "cohort",
            "subject",
            "vendor",
            "label",
            "seed std",
            "seeds",
            "corrupt",
            "dup",
            "off-fmt",
            "difficulty",
        ):
            table.add_column(column)
        for row in per_cohort.sort_values("label", ascending=False).head(limit).itertuples():
            table.add_row(
                row.cohort_id,
                str(getattr(row, "cohort_subject", "")),
                str(getattr(row, "vendor", "")),
                f"{row.label:+.4f}",
                f"{row.seed_std:.4f}",
                str(row.n_seeds),
                f"{getattr(row, 'corruption_rate', float('nan')):.2f}",
                f"{getattr(row, 'duplicate_rate', float('nan')):.2f}",
                f"{getattr(row, 'off_format_rate', float('nan')):.2f}",
                f"{getattr(row, 'difficulty_lo', '')}-{getattr(row, 'difficulty_hi', '')}",
            )
        console.print(table)
    console.print(
        f"{summary['cohorts']} cohorts, {summary['ok_runs']} runs ok, {summary['failed_runs']} failed; "
        f"label {summary['target']}: mean {summary['mean_label']:+.4f}, {summary['share_improving']:.0%} improving; "
        f"across-cohort std {summary['across_cohort_std']:.4f} vs within-cohort seed std "
        f"{summary['within_cohort_seed_std']:.4f} (ratio {summary['across_over_within']:.2f}); "
        f"single-seed reliability {summary['single_seed_reliability']:.3f}; "
        f"median {summary['median_wall_seconds']:.2f} s per label run (label config {summary['label_config_hash']})"
    )


@labels_app.command("show")
def labels_show(
    run_dir: Annotated[Path, typer.Argument(help="Run folder with labels.sqlite.")],
    top: Annotated[int, typer.Option("--top", "--limit", "-n", min=1, help="Cohorts to list, best first.")] = 200,
    home: HomeOpt = None,
) -> None:
    """Per-cohort labels (mean lift, seed std, subject, knobs) and the battery's summary.

    Only the rows of the run's current label config and cohorts are shown; rows of other label
    configs, or of cohorts whose items changed, are counted and set aside."""
    _print_label_summary(run_dir, top, home)


@features_app.command("list")
def features_list() -> None:
    """Every feature: name, cost tag (R rewards only, F forward pass, G gradients) and definition."""
    from tap import api

    table = Table(title="Features")
    for column in ("name", "tag", "definition"):
        table.add_column(column)
    for row in api.feature_catalog():
        table.add_row(*row)
    console.print(table)


@features_app.command("compute")
def features_compute(
    rollouts: Annotated[Path, typer.Argument(help="rollouts.parquet from `tap rollout`.")],
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Output (default: features.parquet beside the rollouts).")
    ] = None,
    families: Annotated[
        str,
        typer.Option(
            "--families",
            help="Comma-separated cost tags: R (rewards), F (forward pass), G (gradients; the expensive baseline).",
        ),
    ] = "R,F",
    cohorts: Annotated[
        Optional[Path],
        typer.Option("--cohorts", help="Cohorts file for the forward-pass features (default: beside the rollouts)."),
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    model: Annotated[
        Optional[str], typer.Option("--model", help="Model folder or hub id (default: the tiny world's policy).")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Compute features per cohort from a rollouts file and write features.parquet."""
    from tap import api

    cfg = _file_config(config, set_, rollouts)
    chosen = {f.strip().upper() for f in families.split(",") if f.strip()}
    target = out or rollouts.with_name("features.parquet")
    table = api.features(rollouts, target, families=chosen, cohorts=cohorts, config=cfg, model=model, home=home)
    undefined = int((table.undefined != "").sum())
    console.print(
        f"wrote {target}: {len(table)} cohorts x {len(table.columns) - 1} columns; {undefined} cohorts have undefined "
        "features (see column 'undefined')"
    )


@app.command()
def version() -> None:
    """Print TAP's version."""
    from tap import __version__

    console.print(__version__)


