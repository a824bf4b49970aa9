"""`tap study`, `report`, `loop`, `choice`, `intervention`: the experiments' commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from tap.cli.common import ConfigOpt, HomeOpt, WorkersOpt, SetOpt, _print_notes, _progress, _run_config, app, console
from tap.cli.metrics_tables import _ci


@app.command()
def study(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Run folder (default: runs/study, or runs/quick with --quick)."),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="A few-minute study: 16 cohorts x 2 seeds, 6 GRPO steps, a 2-seed 2-step loop, 200 bootstrap "
                 "resamples, 3 K-fold repeats.",
        ),
    ] = False,
    workers: WorkersOpt = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check config, data and verifiers; print the planned rollouts, training tokens and cost; train "
                 "nothing.",
        ),
    ] = False,
    until: Annotated[
        Optional[str],
        typer.Option(
            "--until",
            help="Stop after this stage (world, rollouts, features, labels, loop, evaluate, fit, report), e.g. "
                 "--until labels for a battery evaluated elsewhere; a rerun without it goes on from there.",
        ),
    ] = None,
    home: HomeOpt = None,
) -> None:
    """The main job: world (or dataset) -> rollouts -> features -> labels -> loop -> evaluate -> fit ->
    report, in one run folder.

    Resumable: a rerun skips every finished stage whose config is unchanged, and a killed study
    continues where it stopped (label runs already in the ledger are kept). With a `[data]` source
    the cohorts and the probe come from that dataset and `[policy]` names the model.
    """
    from tap.study import run_study, study_config

    run_dir = out or Path("runs/quick" if quick else "runs/study")
    cfg = study_config(config, set_, quick=quick, run_dir=None if dry_run else run_dir)
    if dry_run:
        _print_plan(cfg)
        return
    with _progress() as progress:
        tasks: dict[str, int] = {}

        def on_stage(name: str, state: str) -> None:
            if state == "start":
                tasks[name] = progress.add_task(name, total=None, note="")
            else:
                progress.console.print(f"[dim]{name}: finished earlier with the same config, reused[/dim]")

        def callback(name: str):
            task = lambda: tasks[name]  # noqa: E731  (the task exists once the stage starts)
            if name == "world":
                return lambda step, total, record: progress.update(
                    task(), completed=step, total=total, note="pretraining"
                )
            if name == "rollouts":
                return lambda done, total: progress.update(task(), completed=done, total=total, note="prompts")
            if name == "labels":
                return lambda done, failed, total: progress.update(
                    task(),
                    completed=done + failed,
                    total=total,
                    note=f"label runs{f', {failed} failed' if failed else ''}",
                )
            if name == "evaluate":
                return lambda done, total, scorer: progress.update(task(), completed=done, total=total, note=scorer)
            if name == "loop":
                return lambda done, total: progress.update(task(), completed=done, total=total, note="loop steps")
            return None

        result = run_study(
            run_dir, cfg, home=home, workers=workers, on_stage=on_stage, progress=callback, until=until
        )
        for name, task in tasks.items():
            progress.update(task, total=1, completed=1)
    _print_study(result)


def _print_plan(cfg) -> None:
    from tap.plan import check_ready, make_plan

    check_ready(cfg)
    plan = make_plan(cfg)
    table = Table(title="Study plan (dry run: nothing trained)")
    table.add_column("what")
    table.add_column("plan")
    for what, text in plan.rows():
        table.add_row(what, text)
    console.print(table)
    if plan.bad_golds:
        from tap.errors import TapInputError

        shown = "; ".join(plan.bad_golds[:3])
        raise TapInputError(f"{len(plan.bad_golds)} gold answers cannot earn a reward from their own verifier: {shown}")
    console.print("config, data and verifiers check out")


def _print_study(result) -> None:
    if result.nothing_to_do:
        console.print(f"study in {result.run_dir} is already complete with this config: nothing to do")
    table = Table(title=f"Study {result.run_dir}")
    for column in ("stage", "status", "seconds", "what"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for stage in result.stages:
        table.add_row(stage.name, stage.status, f"{stage.seconds:.1f}", stage.detail)
    table.add_row(
        "total", "", f"{sum(s.seconds for s in result.stages):.1f}", "(seconds of the runs that produced these files)"
    )
    console.print(table)
    metrics = result.metrics
    if metrics:
        entry = next((e for e in metrics["scorers"] if e["name"] == metrics.get("headline")), None)
        if entry:
            m, cov = entry["metrics"], entry.get("coverage") or {}
            console.print(
                f"{entry['name']}: grouped K-fold ρ {_ci(m.get('kfold_spearman'))}, pairwise "
                f"{_ci(m.get('kfold_pairwise_accuracy'))}, "
                f"top-{round(100 * metrics['top_q'])}% fraction of oracle {_ci(m.get('top_fraction_of_oracle'))}, "
                f"ρ / ceiling {_ci(m.get('rho_over_ceiling'))}; interval coverage {_ci(cov.get('coverage'))}"
            )
    if any(s.name == "report" for s in result.stages):
        console.print(f"report: {result.run_dir / 'report.html'}")


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run folder after `tap evaluate` (or `tap study`).")],
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="HTML file (default: RUN_DIR/report.html).")
    ] = None,
) -> None:
    """Rebuild the self-contained HTML report from a run folder's files alone."""
    from tap.report import build_report

    path = build_report(run_dir, out)
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, works offline)")


@app.command("loop")
def loop_command(
    run_dir: Annotated[
        Path,
        typer.Argument(help="Run folder for loop.parquet and loop.json (config.toml is read from it when present)."),
    ],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    seeds: Annotated[Optional[int], typer.Option("--seeds", help="Loop seeds (default: loop.seeds, 5).")] = None,
    home: HomeOpt = None,
) -> None:
    """The closed loop: each step, score fresh candidate cohorts against the current policy, GRPO-train on the
    chosen one, measure the probe's evaluate.target; TAP against random, the frac_nondegenerate filter and the
    cascade (TAP's top loop.cascade_top short-run) on the same candidates (loop.arms)."""
    from tap import api

    cfg = _run_config(run_dir, config, set_, "loop", produces=("loop",))
    if seeds is not None:
        cfg = cfg.model_copy(update={"loop": cfg.loop.model_copy(update={"seeds": seeds})})
    with _progress() as progress:
        task = progress.add_task("loop steps", total=None, note="")
        table, summary = api.loop(
            run_dir,
            config=cfg,
            home=home,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    _print_loop(summary)
    console.print(f"wrote {run_dir / 'loop.parquet'} ({len(table)} rows) and {run_dir / 'loop.json'}")


def _print_loop(summary: dict) -> None:
    def interval(t: dict) -> str:
        return f"{t['mean']:+.4f}" + (f" [{t['lo']:+.4f}, {t['hi']:+.4f}]" if t.get("lo") is not None else "")

    target = summary.get("target", "lift_nll")
    table = Table(title=f"Cumulative {target} after {summary['steps']} steps (positive = better), "
                        f"mean [95% t-interval] over {summary['seeds']} loop seeds")
    for column in ("arm", f"cumulative {target}", "minus random (paired)", "minus reward filter (paired)"):
        table.add_column(column, justify="left" if column == "arm" else "right")
    for arm, t in summary["arms"].items():
        paired = [summary.get(key, {}).get(arm) for key in ("paired_vs_random", "paired_vs_reward_filter")]
        table.add_row(arm, interval(t), *(interval(p) if p else "—" for p in paired))
    console.print(table)


@app.command("choice")
def choice_command(
    run_dir: Annotated[
        Path,
        typer.Argument(
            help="Run folder for choice.parquet, choice_candidates.parquet and choice.json; "
            "the per-state label runs and their ledger go to RUN_DIR/choice/."
        ),
    ],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    seeds: Annotated[Optional[int], typer.Option("--seeds", help="Loop seeds (default: loop.seeds).")] = None,
    workers: WorkersOpt = None,
    home: HomeOpt = None,
) -> None:
    """Per-step choice quality: at every state of the loop, every arm chooses among the same candidates and every
    candidate is labelled from that state (loop.oracle_seeds runs of loop.train_steps GRPO steps); regret, rank and
    share of the oracle's gain per arm, paired by state. The TAP arm's prior is loop.prior (a `tap fit` predictor)."""
    from tap import api

    cfg = _run_config(run_dir, config, set_, "loop", produces=("choice",))
    workers = workers or cfg.study.workers
    if seeds is not None:
        cfg = cfg.model_copy(update={"loop": cfg.loop.model_copy(update={"seeds": seeds})})
    with _progress() as progress:
        task = progress.add_task("loop states", total=None, note="every candidate labelled")
        table, summary = api.choice(run_dir, config=cfg, home=home, workers=workers,
                                    progress=lambda done, total: progress.update(task, completed=done, total=total))
    _print_choice(summary)
    console.print(
        f"wrote {run_dir / 'choice.parquet'} ({len(table)} rows), {run_dir / 'choice_candidates.parquet'} and "
        f"{run_dir / 'choice.json'}"
    )


def _print_choice(summary: dict) -> None:
    def interval(t: dict, fmt: str = "+.4f") -> str:
        return f"{t['mean']:{fmt}} [{t['lo']:{fmt}}, {t['hi']:{fmt}}]"

    table = Table(
        title=f"Choice quality at {summary['states']} states ({summary['seeds']} loop seeds x {summary['steps']} "
              "steps, "
        f"{summary['candidates']} candidates; {summary['target']} over {summary['train_steps']} GRPO steps, "
        f"mean [95% bootstrap over loop seeds])"
    )
    priced = any("cost_per_state" in t for t in summary["arms"].values())
    columns = ["arm", "regret", "regret minus random (paired)", "rank of chosen", "share of oracle's gain"]
    columns += ["seconds / state", "TFLOPs / state", "cost / short run's"] if priced else []
    for column in columns:
        table.add_column(column, justify="left" if column == "arm" else "right")
    for arm, t in summary["arms"].items():
        paired = summary["paired_vs_random"].get(arm)
        cost = t.get("cost_per_state", {})
        ratio = f"{cost['seconds_vs_short_run']:.2f}" if "seconds_vs_short_run" in cost else "—"
        prices = [f"{cost['seconds']:.2f}", f"{cost['flops'] / 1e12:.3g}", ratio] if cost else ["—"] * 3
        table.add_row(
            arm,
            interval(t["regret"]),
            interval(paired["regret"]) if paired else "—",
            interval(t["rank"], ".2f"),
            interval(t["fraction_of_oracle"], "+.2f"),
            *(prices if priced else []),
        )
    console.print(table)


@app.command("intervention")
def intervention_command(
    run_dir: Annotated[
        Path, typer.Argument(help="Run folder; the matched cohorts and their ledger go to RUN_DIR/intervention/.")
    ],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    workers: WorkersOpt = None,
    home: HomeOpt = None,
) -> None:
    """The causal intervention: matched cohorts differing only in frac_nondegenerate, each labelled with S
    seeds; the slope of lift on it."""
    from tap import api

    cfg = _run_config(run_dir, config, set_, "intervention")
    workers = workers or cfg.study.workers
    with _progress() as progress:
        task = progress.add_task("label runs", total=None, note="matched cohorts")
        table, summary = api.intervention(
            run_dir,
            config=cfg,
            workers=workers,
            home=home,
            progress=lambda done, failed, total: progress.update(task, completed=done + failed, total=total),
        )
    view = Table(title="Lift by level: mean over cohorts of the S-seed labels")
    for column in ("level k", "target frac_nondegenerate", "achieved (fresh rollouts)", "cohorts", "mean lift"):
        view.add_column(column, justify="right")
    for level, part in table.groupby("level"):
        view.add_row(
            str(level),
            f"{part.target_frac_nondegenerate.mean():.2f}",
            f"{part.frac_nondegenerate.mean():.2f}",
            str(len(part)),
            f"{part.label.mean():+.4f}",
        )
    console.print(view)
    _print_notes(summary["label_notes"])
    a = summary["achieved"]
    console.print(
        f"slope of lift on frac_nondegenerate: {a['slope']:+.4f} [{a['lo']:+.4f}, {a['hi']:+.4f}] nats/token per unit "
        f"({a['cohorts']} cohorts; per subject: "
        + ", ".join(f"{k} {v:+.4f}" for k, v in a["per_subject"].items())
        + ")"
    )
    console.print(f"wrote {run_dir / 'intervention.parquet'} and {run_dir / 'intervention.json'}")


