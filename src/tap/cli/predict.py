"""`tap evaluate`, `fit`, `score`: the predictor's commands."""

from __future__ import annotations

import math
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


def _ci(metric: dict | None, digits: int = 2, scale: float = 1.0, interval: bool = True) -> str:
    """'value [lo, hi]' of a metrics.json triplet, times `scale` ('—' when undefined)."""
    if not metric or metric.get("value") is None:
        return "—"
    lo, hi = metric.get("lo"), metric.get("hi")
    text = f"{metric['value'] * scale:.{digits}f}"
    if interval and lo is not None and hi is not None:
        text += f" [{lo * scale:.{digits}f}, {hi * scale:.{digits}f}]" + ("†" if metric.get("undefined") else "")
    return text


def _interval(lo: float, hi: float) -> str:
    """'[lo, hi]' with 'unbounded' for an infinite end (too few calibration points at this level)."""
    end = lambda v: f"{v:+.4f}" if math.isfinite(v) else "unbounded"  # noqa: E731
    return f"[{end(lo)}, {end(hi)}]"


SCORER_GROUPS = ["tap", "measured", "gradient", "feature", "random"]


def _print_metrics(metrics: dict) -> None:
    scorers = sorted(metrics["scorers"], key=_scorer_order)
    for table in (*_ranking_tables(metrics, scorers), _per_subject_table(scorers)):
        if table is not None:
            console.print(table)
    _print_footnotes(metrics)


def _scorer_order(entry: dict) -> tuple:
    """By group, then by K-fold ρ (held-out-seed ρ for the measured selectors), best first."""
    m = entry["metrics"]
    key = (m.get("kfold_spearman") or m.get("heldout_spearman") or {}).get("value")
    return SCORER_GROUPS.index(entry["group"]), -(key if key is not None else -9)


def _ranking_tables(metrics: dict, scorers: list[dict]) -> tuple[Table, Table]:
    """The ranking table (K-fold, LOCO, LODO) and the held-out-seed selection table."""
    from rich import box

    q = round(100 * metrics["top_q"])
    paired = (metrics.get("paired") or {}).get("minus_headline", {})
    protocol = metrics.get("protocol", {})
    ranking = Table(
        title=(
            f"Ranking: {metrics['cohorts']} cohorts x {metrics['seeds']} seeds, label = mean {metrics['target']} "
            f"over seeds; K-fold = {protocol.get('headline', 'grouped K-fold')} ({protocol.get('groups', '?')} item "
            f"groups, largest {protocol.get('largest_group', '?')}); value [95% bootstrap interval over cohorts "
            "and repeats]"
        ),
        box=box.SIMPLE_HEAD,
    )
    selection = Table(
        title=f"Selection on a held-out seed: top {q}% of cohorts, {metrics['target']} ×1e3", box=box.SIMPLE_HEAD
    )
    for column in (
        "scorer",
        "group",
        "s / cohort",
        "K-fold ρ",
        "ρ / ceiling",
        "− headline",
        "pairwise",
        "LOCO ρ",
        "LODO ρ",
        "LODO gap",
    ):
        ranking.add_column(column, justify="left" if column in ("scorer", "group") else "right", no_wrap=True)
    for column in ("scorer", "selected", "gain vs random", "gain − measured", "of oracle", "ρ vs held-out seed"):
        selection.add_column(column, justify="left" if column == "scorer" else "right", no_wrap=True)
    for entry in scorers:
        m = entry["metrics"]
        name = entry["name"] + (" *" if entry["name"] == metrics.get("headline") else "")
        cost = entry.get("cost_seconds")
        ranking.add_row(
            name, entry["group"], f"{cost:.3g}" if cost is not None else "—", _ci(m.get("kfold_spearman")),
            _ci(m.get("rho_over_ceiling"), interval=False), _ci(paired.get(entry["name"])),
            _ci(m.get("kfold_pairwise_accuracy"), interval=False), _ci(m.get("loco_spearman"), interval=False),
            _ci(m.get("lodo_spearman"), interval=False), _ci(m.get("lodo_gap"), interval=False),
        )
        selection.add_row(
            name, _ci(m.get("top_selected"), 1, 1e3, interval=False), _ci(m.get("top_gain"), 1, 1e3),
            _ci(m.get("top_gain_vs_measured"), 1, 1e3), _ci(m.get("top_fraction_of_oracle")),
            _ci(m.get("heldout_spearman"), interval=False),
        )
    return ranking, selection


def _per_subject_table(scorers: list[dict]) -> Table | None:
    """LODO ρ within each held-out subject (None when no scorer has LODO numbers)."""
    from rich import box

    subjects = sorted({k for e in scorers for k in e.get("lodo_per_subject", {})})
    if not subjects:
        return None
    table = Table(
        title="LODO per subject: ρ within the held-out subject's cohorts [95% interval], (K-fold ρ − LODO ρ there)",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("scorer", no_wrap=True)
    for subject in subjects:
        table.add_column(subject, justify="right", no_wrap=True)
    for entry in scorers:
        rows = entry.get("lodo_per_subject")
        if rows:
            table.add_row(
                entry["name"],
                *(
                    f"{_ci(rows[s]['lodo_spearman'])} ({rows[s]['gap']['value']:+.2f})"
                    if s in rows and rows[s]["gap"]["value"] is not None
                    else "—"
                    for s in subjects
                ),
            )
    return table


def _print_footnotes(metrics: dict) -> None:
    """The noise ceiling, the headline's interval coverage and the tables' footnotes."""
    noise, protocol = metrics["noise"], metrics.get("protocol", {})
    console.print(
        f"noise: single-seed reliability r1 = {_ci(noise['single_seed_reliability'])}; ceiling √R_{noise['seeds']} = "
        f"{_ci(noise['ceiling'])}; projected ceiling for 1/3/5/10 seeds: "
        + ", ".join(f"{noise['projection'][str(s)]:.3f}" for s in (1, 3, 5, 10))
    )
    for entry in metrics["scorers"]:
        cov = entry.get("coverage")
        if cov and entry["name"] == metrics.get("headline"):
            width = "—" if cov.get("mean_width") is None else f"{cov['mean_width']:.4f}"
            unbounded = f"; {cov['unbounded']} unbounded (too few calibration points)" if cov.get("unbounded") else ""
            console.print(
                f"{entry['name']}: {cov['level']:.0%} conformal intervals (K-fold repeat 0) cover "
                f"{_ci(cov['coverage'])} of held-out labels "
                f"(mean width {width}{unbounded}; {'within' if cov['within_5_points'] else 'NOT within'} ±5 points of "
                "nominal)"
            )
    console.print(
        "* the configured predictor. − headline: K-fold ρ minus the configured predictor's, paired over the same "
        "resamples. "
        "LODO gap = K-fold ρ − LODO ρ on the same cohorts. LOCO runs only on batteries of at most "
        f"{protocol.get('loco_max_cohorts', 64)} cohorts. gain vs random: the selection's mean held-out-seed lift "
        "minus the mean over "
        "all cohorts; gain − measured: that minus the measured-lift selector's gain. 'measured lift' rows have no "
        "K-fold/LOCO/LODO numbers: they read the labels themselves."
        + (
            " † some bootstrap resamples left the statistic undefined (e.g. a constant column): they are left out of "
            "that interval and counted under 'undefined' in metrics.json."
            if _any_undefined(metrics)
            else ""
        )
    )


def _any_undefined(tree) -> bool:
    if isinstance(tree, dict):
        return bool(tree.get("undefined")) or any(_any_undefined(v) for v in tree.values())
    if isinstance(tree, list):
        return any(_any_undefined(v) for v in tree)
    return False


def _print_auto_choice(predictor) -> None:
    """The candidates TAP auto compared on the full battery (inner grouped K-fold ρ), best first."""
    table = Table(title="TAP auto: inner grouped-CV ρ of each candidate on this battery (the chosen one first)")
    for column in ("model", "scaling", "families", "penalty", "inner ρ"):
        table.add_column(column, justify="right" if column == "inner ρ" else "left")
    rows = sorted(
        predictor.inner_scores_, key=lambda r: -r["inner_spearman"] if math.isfinite(r["inner_spearman"]) else 9
    )
    for row in rows[:8]:
        penalty = f"alpha {row['alpha']:g}" if row["model"] != "gbm" else f"l2 {row['l2_regularization']:g}"
        table.add_row(row["model"], row["scaling"], "+".join(row["families"]), penalty, f"{row['inner_spearman']:+.3f}")
    console.print(table)


@app.command()
def fit(
    run_dir: Annotated[Path, typer.Argument(help="Run folder with features.parquet and labels.sqlite.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Predictor file (default: RUN_DIR/predictor.skops, with a .json sidecar)."),
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Fit the predictor ([predictor] config: auto, gbm, ridge or kernel; feature families; conformal
    intervals) on every labelled cohort.

    With model = "auto" it prints what the inner grouped cross-validation chose and saves that choice
    in the predictor's .json sidecar."""
    from tap import api

    cfg = _run_config(run_dir, config, set_, "fit", produces=("fit",))
    predictor, target, meta = api.fit(run_dir, config=cfg, out=out, home=home)
    _print_notes(meta["label_notes"])
    if predictor.model == "auto":
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
    run_dir: Annotated[Path, typer.Argument(help="Run folder with features.parquet and labels.sqlite.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    jobs: Annotated[
        Optional[int], typer.Option("--jobs", "-j", help="Parallel worker processes (default: up to 2).")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Evaluate TAP and every baseline (grouped K-fold, LODO, held-out-seed selection, LOCO up to
    evaluate.loco_max_cohorts, noise ceiling, cost); write metrics.json and predictions.parquet."""
    from tap import api

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


@app.command()
def score(
    cohorts: Annotated[
        Optional[Path],
        typer.Argument(
            help="New cohorts (parquet, JSONL or CSV; columns cohort_id, prompt, gold, subject); or use --data."
        ),
    ] = None,
    predictor: Annotated[
        Path, typer.Option("--predictor", "-p", help="A predictor from `tap fit` (.skops with its .json sidecar).")
    ] = ...,
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
    _print_ranked(result, meta.get("target", "lift_nll"), top)
    whole = api.dataset_lift(result, getattr(fitted, "heldout_errors_", None))
    spread = "over its cohorts and the predictor's held-out errors" if whole["includes_predictor_error"] else (
        "over its cohorts only: this predictor keeps no held-out errors (refit it with `tap fit`)")
    console.print(
        f"dataset: mean predicted lift per cohort {whole['mean']:+.4f} [{whole['lo']:+.4f}, {whole['hi']:+.4f}] "
        f"(95% bootstrap {spread}; {whole['cohorts']} cohorts)"
    )
    _print_notes(api.provenance_notes(fitted, predictor, meta, frame, model))
    console.print(f"wrote {target}: {len(result)} cohorts ranked best first")


def _print_ranked(result, target: str, top: int) -> None:
    """The best and the worst `top` cohorts of a ranked score table, with their conformal intervals."""
    level = result.level.iloc[0] if len(result) else 0.9
    best, worst = result.head(top), result.tail(min(top, max(0, len(result) - top))).iloc[::-1]
    for title, rows in (("Best cohorts", best), ("Worst cohorts", worst)):
        if rows.empty:
            continue
        table = Table(title=f"{title}: predicted lift ({target}) with {level:.0%} conformal intervals")
        for column in ("rank", "cohort", "subject", "predicted", "interval", "pass rate", "nondegenerate"):
            table.add_column(column, justify="left" if column in ("cohort", "subject") else "right")
        for row in rows.itertuples():
            table.add_row(
                str(row.rank),
                row.cohort_id,
                str(row.subject),
                f"{row.predicted_lift:+.4f}",
                _interval(row.lo, row.hi),
                f"{getattr(row, 'pass_rate_mean', float('nan')):.2f}",
                f"{getattr(row, 'frac_nondegenerate', float('nan')):.2f}",
            )
        console.print(table)
