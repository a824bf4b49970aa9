"""`tap evaluate`, `fit`, `score`: the predictor's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from tap.cli.common import (
    ConfigOpt,
    Cut,
    PromptStyle,
    Verifier,
    HomeOpt,
    TopOpt,
    SetOpt,
    _config,
    _print_notes,
    _progress,
    _run_config,
    app,
    console,
)
from tap.cli.metrics_tables import _ci, _interval, _print_auto_choice, _print_metrics


@app.command()
def fit(
    run_dir: Annotated[
        Optional[Path], typer.Argument(help="Run folder with features.parquet and labels.sqlite (or use --worlds).")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Predictor file (default: RUN_DIR/predictor.skops, with a .json sidecar)."),
    ] = None,
    prior: Annotated[
        Optional[str],
        typer.Option(
            "--prior",
            help="Start from a prior and fit this run's departures from it: zoo (the zoo's pooled predictor that "
                 "ships with TAP) or a predictor file from `tap fit --worlds`. Worth it with few labels.",
        ),
    ] = None,
    worlds: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--worlds",
            help="Fit the pooled zero-shot predictor on these worlds instead (as for `tap evaluate --worlds`, whose "
                 "transfer.json in the first folder gives the normalization and the record); needs --out.",
        ),
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Fit the predictor ([predictor] config: auto, gbm, ridge or kernel; feature families; conformal
    intervals) on every labelled cohort.

    With model = "auto" it prints what the inner grouped cross-validation chose and saves that choice
    in the predictor's .json sidecar."""
    from tap import api

    if worlds:
        from tap.api.transfer import fit_zoo

        if run_dir is not None or out is None:
            raise typer.BadParameter("--worlds fits on the worlds given and needs --out (and no run folder)")
        path, meta = fit_zoo(worlds, out, home=home)
        console.print(f"wrote {path}: {meta['model']} on {meta['cohorts']} cohorts of {len(meta['worlds'])} worlds, "
                      f"features normalized within each world ({meta['normalization']})")
        return
    if run_dir is None:
        raise typer.BadParameter("give a run folder (or --worlds DIR --out FILE)")

    cfg = _run_config(run_dir, config, set_, "fit", produces=("fit",))
    predictor, target, meta = api.fit(run_dir, config=cfg, out=out, home=home, prior=prior)
    _print_notes(meta["label_notes"])
    if getattr(predictor, "model", None) == "auto":
        _print_auto_choice(predictor)
    console.print(
        f"wrote {target}: {predictor.describe()}, {len(meta['used_columns'])} features, "
        f"{predictor.interval} intervals at {predictor.level:.0%} (guaranteed coverage ≥ {predictor.guarantee():.2f} "
        "for an exchangeable cohort"
        f"{'' if predictor.bounded() else '; too few calibration points for two finite ends'}), "
        f"trained on {meta['cohorts']} cohorts x {meta['seeds']} seeds "
        f"(label mean {meta['label_mean']:+.4f}, std {meta['label_std']:.4f})"
    )


@app.command()
def evaluate(
    run_dir: Annotated[
        Optional[Path], typer.Argument(help="Run folder with features.parquet and labels.sqlite (or use --worlds).")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    jobs: Annotated[
        Optional[int], typer.Option("--jobs", "-j", help="Parallel worker processes (default: up to 2).")
    ] = None,
    worlds: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--worlds",
            help="Transfer across worlds instead: a labelled run folder, a zoo world folder (bench/zoo.py) or a "
                 "folder of them such as docs/results/zoo (repeatable). Fits on every world but one and ranks the "
                 "held-out one; writes transfer.json and adaptation.json into --out.",
        ),
    ] = None,
    test_world: Annotated[
        Optional[list[str]],
        typer.Option("--test-world", help="A world nothing is chosen on, reported apart (repeatable; default: the "
                                          "zoo.json's test_worlds)."),
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="With --worlds: the output folder (default: runs/transfer).")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Evaluate TAP and every baseline (grouped K-fold, LODO, held-out-seed selection, LOCO up to
    evaluate.loco_max_cohorts, noise ceiling, cost); write metrics.json and predictions.parquet.
    With --worlds: leave-one-world-out transfer and the few-label curve (docs/transfer.md)."""
    from tap import api

    if worlds:
        if run_dir is not None:
            raise typer.BadParameter("give a run folder or --worlds, not both")
        _evaluate_worlds(worlds, test_world, out or Path("runs/transfer"), home)
        return
    if run_dir is None:
        raise typer.BadParameter("give a run folder (or --worlds DIR)")
    cfg = _run_config(run_dir, config, set_, "evaluate", produces=("evaluate",))
    with _progress() as progress:
        task = progress.add_task("evaluating scorers", total=None, note="")
        metrics = api.evaluate(
            run_dir,
            config=cfg,
            n_jobs=jobs,
            home=home,
            progress=lambda done, total, name: progress.update(task, completed=done, total=total, note=name),
        )
    _print_notes(metrics["label_notes"])
    _print_metrics(metrics)
    console.print(
        f"wrote {run_dir / 'metrics.json'} and {run_dir / 'predictions.parquet'} in "
        f"{metrics['evaluation_seconds']:.0f} s"
    )


def _evaluate_worlds(worlds: list[Path], test_worlds: list[str] | None, out: Path, home: Path | None) -> None:
    from tap.api.transfer import evaluate_worlds

    with _progress() as progress:
        task = progress.add_task("worlds held out", total=None, note="")
        result = evaluate_worlds(
            worlds, out, test_worlds=test_worlds, home=home,
            progress=lambda done, total, name: progress.update(task, completed=done, total=total, note=name),
        )
    transfer = result["transfer"]
    table = Table(title=f"Leave one world out ({transfer['protocol']['normalization']['chosen']} normalization)")
    for column in ("world", "test", "cohorts", "zero-shot ρ", "own K-fold TAP ρ (in folds)", "best signal ρ",
                   "zero-shot AUROC harm"):
        table.add_column(column)
    for name, entry in transfer["worlds"].items():
        s = entry["scorers"]
        signal = "zoo's best signal"
        table.add_row(name, "yes" if entry["test_world"] else "", str(entry["cohorts"]),
                      _ci(s["zero-shot TAP"]["rho"]), _ci(s["own K-fold TAP"]["rho_within_folds"]),
                      _ci(s[signal]["rho"]), _ci(s["zero-shot TAP"]["auroc_harm"]))
    console.print(table)
    console.print(f"wrote {out / 'transfer.json'} and {out / 'adaptation.json'}")


@app.command()
def score(
    cohorts: Annotated[
        Optional[Path],
        typer.Argument(
            help="New cohorts (parquet, JSONL or CSV; columns cohort_id, prompt, gold, subject); or use --data."
        ),
    ] = None,
    predictor: Annotated[
        Optional[Path],
        typer.Option(
            "--predictor", "-p",
            help="A predictor from `tap fit` (.skops with its .json sidecar). Default: the zoo's pooled predictor "
                 "that ships with TAP, which ranks zero-shot (no label of yours; scores relative, no interval).",
        ),
    ] = None,
    data: Annotated[
        Optional[str],
        typer.Option(
            "--data",
            help="Instead of COHORTS: a dataset file, a Hugging Face id or reasoning-gym (with --tasks), cut into "
                 "cohorts (see `tap cohorts`).",
        ),
    ] = None,
    preset: Annotated[
        Optional[str], typer.Option("--preset", help="With --data: gsm8k, math, arc, sciq, mmlu, mbpp or humaneval.")
    ] = None,
    size: Annotated[int, typer.Option("--size", help="With --data: items per cohort.")] = 8,
    by: Annotated[
        Cut, typer.Option("--by", help="With --data: cut at random, by subject or by difficulty.")
    ] = "random",
    columns: Annotated[
        Optional[str],
        typer.Option(
            "--columns", help="With --data, without a preset: TAP field=column pairs, e.g. prompt=question,gold=answer."
        ),
    ] = None,
    subject: Annotated[
        Optional[str], typer.Option("--subject", help="With --data, without a preset: the subject of every item.")
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="With --data: seed of the shuffle (and of reasoning-gym's generators).")
    ] = 0,
    limit: Annotated[Optional[int], typer.Option("--limit", help="With --data: only the first N records.")] = None,
    tasks: Annotated[
        Optional[str],
        typer.Option("--tasks", help="With --data reasoning-gym: tasks as name[:knob=value...], comma separated."),
    ] = None,
    count: Annotated[int, typer.Option("--count", help="With --data reasoning-gym: items generated per task.")] = 200,
    prompt: Annotated[
        PromptStyle,
        typer.Option(
            "--prompt",
            help="With --data reasoning-gym: library (the question as generated) or short (as the reasoning-gym tiny "
                 "world's policy reads it).",
        ),
    ] = "library",
    probe: Annotated[
        Optional[Path],
        typer.Option(
            "--probe",
            help="Probe file (prompt, gold, subject) for forward-pass features (default: the probe of the run the "
                 "predictor was fit on).",
        ),
    ] = None,
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out",
            "-o",
            help="Ranked scores, .csv or .parquet (default: scores.csv beside the input); rollouts and features are "
                 "written beside it.",
        ),
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    model: Annotated[
        Optional[str],
        typer.Option("--model", help="Model folder or hub id (default: the policy the predictor was calibrated with)."),
    ] = None,
    max_cohorts: Annotated[Optional[int], typer.Option("--max-cohorts", help="Only the first N cohorts.")] = None,
    verifier: Annotated[
        Verifier, typer.Option("--verifier", help="Reward function for items without their own.")
    ] = "exact",
    top: TopOpt = 10,
    home: HomeOpt = None,
) -> None:
    """Score new cohorts against the current policy: rollouts -> features -> predicted lift with intervals.

    The "buy smarter" command: prints the dataset's mean predicted lift per cohort with a bootstrap
    interval, and its best and worst cohorts."""
    from tap import api
    from tap.errors import TapInputError

    if (cohorts is None) == (data is None):
        raise TapInputError(
            "give either a COHORTS file or --data (with --preset or a file that has prompt, gold, subject)"
        )
    cfg = _config(config, set_) if (config or set_) else None
    target = out or (
        cohorts.with_name("scores.csv")
        if cohorts
        else Path(data).with_name("scores.csv")
        if Path(data).exists()
        else Path("scores.csv")
    )
    api.check_scores_path(target)
    zero_shot = predictor is None
    predictor = predictor or api.shipped_zoo_predictor()
    fitted, meta = api.load_scoring_predictor(predictor)  # bad input fails here, before any progress bar
    if data is not None:
        _, frame = api.data_cohorts(
            data,
            preset=preset,
            columns=columns,
            subject=subject,
            verifier=verifier,
            size=size,
            by=by,
            limit=limit,
            seed=seed,
            tasks=tasks,
            count=count,
            prompt=prompt,
        )
    else:
        frame = api.read_cohorts(cohorts, max_cohorts)
    with _progress() as progress:
        task = progress.add_task("rollouts", total=len(frame), note="prompts")
        result = api.score(frame, predictor, target, config=cfg, model=model, home=home, verifier=verifier, probe=probe,
                           progress=lambda done, total: progress.update(task, completed=done, total=total))
    if meta.get("kind") == "zoo":
        _print_zero_shot(result, meta, top, zero_shot)
        console.print(f"wrote {target}: {len(result)} cohorts ranked best first")
        return
    _print_ranked(result, meta.get("target", "lift_nll"), top)
    whole = api.dataset_lift(result, getattr(fitted, "heldout_errors_", None), api.heldout_error_folds(fitted))
    spread = (
        "over its cohorts and the predictor's held-out error: one fold's mean error shared by every cohort, "
        "plus each cohort's residual" if whole["includes_predictor_error"] else
        "over its cohorts only: this predictor keeps no held-out errors (refit it with `tap fit`)"
    )
    console.print(
        f"dataset: mean predicted lift per cohort {whole['mean']:+.4f} [{whole['lo']:+.4f}, {whole['hi']:+.4f}] "
        f"(95% bootstrap {spread}; {whole['cohorts']} cohorts)"
    )
    _print_notes(api.scoring_notes(result, fitted) + api.provenance_notes(fitted, predictor, meta, frame, model))
    console.print(f"wrote {target}: {len(result)} cohorts ranked best first")


def _print_zero_shot(result, meta: dict, top: int, by_default: bool) -> None:
    """The zero-shot ranking's best and worst cohorts, and how far such a ranking went on held-out worlds."""
    best, worst = result.head(top), result.tail(min(top, max(0, len(result) - top))).iloc[::-1]
    for title, rows in (("Best cohorts", best), ("Worst cohorts", worst)):
        if rows.empty:
            continue
        table = Table(title=f"{title}: zero-shot score (relative within these cohorts, not a lift)")
        for column in ("rank", "cohort", "subject", "score", "pass rate", "nondegenerate"):
            table.add_column(column, justify="left" if column in ("cohort", "subject") else "right")
        for row in rows.itertuples():
            table.add_row(str(row.rank), row.cohort_id, str(row.subject), f"{row.zero_shot_score:+.3f}",
                          f"{getattr(row, 'pass_rate_mean', float('nan')):.2f}",
                          f"{getattr(row, 'frac_nondegenerate', float('nan')):.2f}")
        console.print(table)
    record = meta.get("zero_shot", {})
    parts = [f"{part} worlds ({', '.join(r['worlds'])}): mean ρ {_ci(r.get('rho'))}"
             for part, r in record.items() if part in ("development", "test")]
    console.print(
        f"{'No predictor given: ' if by_default else ''}a zero-shot ranking by the zoo's pooled predictor "
        f"({len(meta.get('worlds', []))} worlds, {meta.get('cohorts', '?')} labelled cohorts, none of yours). "
        f"Held out one world at a time, it ranked {'; '.join(parts) or 'unmeasured'} (Spearman, 95% intervals; "
        "docs/transfer.md). For predicted lifts with intervals on your model, label some cohorts and `tap fit`."
    )


def _print_ranked(result, target: str, top: int) -> None:
    """The best and the worst `top` cohorts of a ranked score table, with their conformal intervals."""
    level = result.level.iloc[0] if len(result) else 0.9
    best, worst = result.head(top), result.tail(min(top, max(0, len(result) - top))).iloc[::-1]
    for title, rows in (("Best cohorts", best), ("Worst cohorts", worst)):
        if rows.empty:
            continue
        table = Table(title=f"{title}: predicted lift ({target}) with {level:.0%} conformal intervals")
        for column in ("rank", "cohort", "subject", "predicted", "interval", "P(lift < 0)", "pass rate",
                       "nondegenerate", "flags"):
            table.add_column(column, justify="left" if column in ("cohort", "subject", "flags") else "right")
        for row in rows.itertuples():
            flags = [name for name, on in (("likely harmful", getattr(row, "likely_harmful", False)),
                                           ("no learning signal", not getattr(row, "learning_signal", True)),
                                           ("outside training", bool(getattr(row, "outside_training", ""))))
                     if on]
            table.add_row(
                str(row.rank),
                row.cohort_id,
                str(row.subject),
                f"{row.predicted_lift:+.4f}",
                _interval(row.lo, row.hi),
                f"{getattr(row, 'p_harm', float('nan')):.2f}",
                f"{getattr(row, 'pass_rate_mean', float('nan')):.2f}",
                f"{getattr(row, 'frac_nondegenerate', float('nan')):.2f}",
                ", ".join(flags),
            )
        console.print(table)
