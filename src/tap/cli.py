"""The `tap` command. It parses arguments, calls `tap.api`, and prints; nothing else.

Heavy libraries (torch, transformers) are imported inside the commands so `tap --help` is instant.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="TAP — predict how much GRPO training on a dataset will improve a model, before training.", no_args_is_help=True, add_completion=False)
world_app = typer.Typer(help="The embedded tiny world: items, probe, vendor cohorts and a tiny policy.", no_args_is_help=True)
app.add_typer(world_app, name="world")
features_app = typer.Typer(help="Cohort features: cheap signals read off base-policy rollouts.", no_args_is_help=True)
app.add_typer(features_app, name="features")
labels_app = typer.Typer(help="Inspect the lift labels of a run folder.", no_args_is_help=True)
app.add_typer(labels_app, name="labels")

# Tables stay readable when piped to a file (rich would otherwise wrap at 80 columns).
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML config file (default: built-in tiny world).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override one config field, e.g. --set world.cohorts.count=32 (repeatable).")]
HomeOpt = Annotated[Optional[Path], typer.Option("--home", help="Cache folder (default: $TAP_HOME or ~/.cache/tap).")]


def _config(path: Path | None, overrides: list[str] | None):
    from tap.config import load_config

    return load_config(path, overrides)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=err_console,
    )


def _print_world(built) -> None:
    info = built.pretrain
    state = "reused from cache" if built.reused else "built"
    console.print(f"[bold]Tiny world[/bold] {state}: {built.root}")
    console.print(
        f"policy: {info['parameters']:,} parameters, pretrained {info['steps']} steps in {info['seconds']:.1f} s "
        f"({'inside' if info['in_band'] else '[red]outside[/red]'} the accuracy band {info['band']}) at {built.policy_dir}"
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
    cohorts = built.cohorts.groupby("cohort_id").first()
    vendors = cohorts.vendor.value_counts()
    console.print(
        f"{len(cohorts)} cohorts of {built.cohorts.groupby('cohort_id').size().max()} items; by vendor: "
        + ", ".join(f"{v} {n}" for v, n in vendors.items())
        + f"; defects: {built.cohorts.corrupted.mean():.0%} corrupted, {built.cohorts.duplicate.mean():.0%} duplicates, "
        f"{built.cohorts.off_format.mean():.0%} off-format"
    )


@world_app.command("build")
def world_build(config: ConfigOpt = None, set_: SetOpt = None, out: Annotated[Optional[Path], typer.Option("--out", help="Also write config.toml, items.parquet and cohorts.parquet into this run folder.")] = None, home: HomeOpt = None) -> None:
    """Build the tiny world and pretrain its policy, or reuse them from the cache."""
    from tap import api

    cfg = _config(config, set_)
    with _progress() as progress:
        task = progress.add_task("pretraining tiny policy", total=cfg.pretrain.max_steps, note="")

        def on_step(step: int, total: int, record: dict | None) -> None:
            note = f"probe acc {record['acc_all']:.2f}" if record else None
            progress.update(task, completed=step, **({"note": note} if note else {}))

        built = api.world(cfg, home=home, out=out, progress=on_step)
        progress.update(task, completed=cfg.pretrain.max_steps, visible=not built.reused)
    _print_world(built)
    if out:
        console.print(f"run folder: {out}")


@app.command()
def rollout(
    cohorts: Annotated[Path, typer.Argument(help="Cohorts file (parquet, JSONL or CSV; columns cohort_id, prompt, gold, subject).")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output parquet (default: rollouts.parquet beside the cohorts file).")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Model folder or hub id (default: the tiny world's policy).")] = None,
    max_cohorts: Annotated[Optional[int], typer.Option("--max-cohorts", help="Only the first N cohorts.")] = None,
    verifier: Annotated[str, typer.Option("--verifier", help="Reward function: exact, mcq, math or code.")] = "exact",
    show: Annotated[int, typer.Option("--show", help="Print the rollouts of this many prompts.")] = 0,
    home: HomeOpt = None,
) -> None:
    """Sample G completions per cohort prompt with the policy and write rollouts.parquet."""
    from tap import api

    cfg = _config(config, set_)
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
                str(row.sample), repr(row.text), repr(row.answer), f"{row.reward:.0f}", f"{row.reward - mean_reward:+.2f}",
                str(row.n_tokens), f"{sum(row.logprobs) / max(1, len(row.logprobs)):.2f}", row.finish_reason,
            )
        console.print(view)


@app.command()
def label(
    run_dir: Annotated[Path, typer.Argument(help="Run folder (holds config.toml and cohorts.parquet; labels.sqlite is written here).")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    cohorts: Annotated[Optional[Path], typer.Option("--cohorts", help="Cohorts file (default: RUN_DIR/cohorts.parquet).")] = None,
    max_cohorts: Annotated[Optional[int], typer.Option("--max-cohorts", help="Only the first N cohorts.")] = None,
    seeds: Annotated[Optional[int], typer.Option("--seeds", "-S", help="Training seeds per cohort (default: label.seeds, 3).")] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Parallel label runs; torch threads are split across them.")] = 1,
    executor: Annotated[str, typer.Option("--executor", help="local (in-process / process pool) or ray.")] = "local",
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Existing Ray cluster (default: start a local one).")] = None,
    retries: Annotated[int, typer.Option("--retries", help="Retries of a unit that raises before it is recorded as failed.")] = 1,
    home: HomeOpt = None,
) -> None:
    """GRPO-train each cohort x seed from the base policy (TRL) and record its probe lift.

    Resumable: finished cohort x seed rows in labels.sqlite are skipped.
    """
    from tap import api
    from tap.config import load_config

    run_paths_config = run_dir / "config.toml"
    cfg = _config(config, set_) if (config or set_ or not run_paths_config.exists()) else load_config(run_paths_config)
    with _progress() as progress:
        task = progress.add_task("label runs", total=None, note="")

        def on_unit(done: int, failed: int, total: int) -> None:
            progress.update(task, completed=done + failed, total=total, note=f"{failed} failed" if failed else "")

        result = api.label(
            run_dir, config=cfg, cohorts=cohorts, max_cohorts=max_cohorts, seeds=seeds, workers=workers,
            executor=executor, ray_address=ray_address, retries=retries, home=home, progress=on_unit,
        )
    console.print(
        f"label runs: {result.succeeded} done, {result.failed} failed, {result.skipped} already in the ledger "
        f"({result.planned} planned) -> {run_dir / 'labels.sqlite'}"
    )
    _print_label_summary(run_dir)
    if result.failed:
        err_console.print(f"{result.failed} label runs failed; their errors are in labels.sqlite (status = 'failed')")
        raise typer.Exit(1)


def _print_label_summary(run_dir: Path, limit: int = 0) -> None:
    from tap import api

    per_cohort, summary = api.labels_table(run_dir)
    if limit:
        table = Table(title="Lift labels (probe gold-answer NLL reduction, nats/token; positive = better)")
        for column in ("cohort", "subject", "vendor", "label", "seed std", "seeds", "corrupt", "dup", "off-fmt", "difficulty"):
            table.add_column(column)
        for row in per_cohort.sort_values("label", ascending=False).head(limit).itertuples():
            table.add_row(
                row.cohort_id, str(getattr(row, "cohort_subject", "")), str(getattr(row, "vendor", "")), f"{row.label:+.4f}",
                f"{row.seed_std:.4f}", str(row.n_seeds), f"{getattr(row, 'corruption_rate', float('nan')):.2f}",
                f"{getattr(row, 'duplicate_rate', float('nan')):.2f}", f"{getattr(row, 'off_format_rate', float('nan')):.2f}",
                f"{getattr(row, 'difficulty_lo', '')}-{getattr(row, 'difficulty_hi', '')}",
            )
        console.print(table)
    console.print(
        f"{summary['cohorts']} cohorts, {summary['ok_runs']} runs ok, {summary['failed_runs']} failed; "
        f"mean label {summary['mean_label']:+.4f}, {summary['share_improving']:.0%} improving; "
        f"across-cohort std {summary['across_cohort_std']:.4f} vs within-cohort seed std "
        f"{summary['within_cohort_seed_std']:.4f} (ratio {summary['across_over_within']:.2f}); "
        f"single-seed reliability {summary['single_seed_reliability']:.3f}; "
        f"median {summary['median_wall_seconds']:.2f} s per label run"
    )


@labels_app.command("show")
def labels_show(
    run_dir: Annotated[Path, typer.Argument(help="Run folder with labels.sqlite.")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="Cohorts to list, best first.")] = 200,
) -> None:
    """Per-cohort labels (mean lift, seed std, subject, knobs) and the battery's summary."""
    _print_label_summary(run_dir, limit)


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
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output (default: features.parquet beside the rollouts).")] = None,
    families: Annotated[str, typer.Option("--families", help="Comma-separated cost tags: R (rewards), F (forward pass), G (gradients; the expensive baseline).")] = "R,F",
    cohorts: Annotated[Optional[Path], typer.Option("--cohorts", help="Cohorts file for the forward-pass features (default: beside the rollouts).")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Model folder or hub id (default: the tiny world's policy).")] = None,
    home: HomeOpt = None,
) -> None:
    """Compute features per cohort from a rollouts file and write features.parquet."""
    from tap import api

    cfg = _config(config, set_)
    chosen = {f.strip().upper() for f in families.split(",") if f.strip()}
    target = out or rollouts.with_name("features.parquet")
    table = api.features(rollouts, target, families=chosen, cohorts=cohorts, config=cfg, model=model, home=home)
    undefined = int((table.undefined != "").sum())
    console.print(f"wrote {target}: {len(table)} cohorts x {len(table.columns) - 1} columns; {undefined} cohorts have undefined features (see column 'undefined')")


def _ci(metric: dict | None, digits: int = 2, scale: float = 1.0, interval: bool = True) -> str:
    """'value [lo, hi]' of a metrics.json triplet, times `scale` ('—' when undefined)."""
    if not metric or metric.get("value") is None:
        return "—"
    lo, hi = metric.get("lo"), metric.get("hi")
    text = f"{metric['value'] * scale:.{digits}f}"
    if interval and lo is not None and hi is not None:
        text += f" [{lo * scale:.{digits}f}, {hi * scale:.{digits}f}]"
    return text


SCORER_GROUPS = ["tap", "measured", "gradient", "feature", "random"]


def _print_metrics(metrics: dict) -> None:
    from rich import box

    noise = metrics["noise"]
    q = round(100 * metrics["top_q"])

    def order(entry: dict) -> tuple:
        m = entry["metrics"]
        key = (m.get("loco_spearman") or m.get("heldout_spearman") or {}).get("value")
        return SCORER_GROUPS.index(entry["group"]), -(key if key is not None else -9)

    scorers = sorted(metrics["scorers"], key=order)
    ranking = Table(title=(f"Ranking: {metrics['cohorts']} cohorts x {metrics['seeds']} seeds, label = mean {metrics['target']} "
                           "over seeds; value [95% bootstrap interval over cohorts]"), box=box.SIMPLE_HEAD)
    selection = Table(title=f"Selection on a held-out seed: top {q}% of cohorts, lifts ×1e3 (nats/token)", box=box.SIMPLE_HEAD)
    for column in ("scorer", "group", "s / cohort", "LOCO ρ", "LOCO r", "pairwise", "LODO ρ", "LODO gap", "ρ / ceiling"):
        ranking.add_column(column, justify="left" if column in ("scorer", "group") else "right", no_wrap=True)
    for column in ("scorer", "selected", "gain vs random", "gain − measured", "of oracle", "ρ vs held-out seed"):
        selection.add_column(column, justify="left" if column == "scorer" else "right", no_wrap=True)
    for entry in scorers:
        m = entry["metrics"]
        name = entry["name"] + (" *" if entry["name"] == metrics.get("headline") else "")
        cost = entry.get("cost_seconds")
        ranking.add_row(
            name, entry["group"], f"{cost:.3g}" if cost is not None else "—", _ci(m.get("loco_spearman")),
            _ci(m.get("loco_pearson"), interval=False), _ci(m.get("pairwise_accuracy"), interval=False),
            _ci(m.get("lodo_spearman"), interval=False), _ci(m.get("lodo_gap"), interval=False), _ci(m.get("rho_over_ceiling")),
        )
        selection.add_row(
            name, _ci(m.get("top_selected"), 1, 1e3, interval=False), _ci(m.get("top_gain"), 1, 1e3),
            _ci(m.get("top_gain_vs_measured"), 1, 1e3), _ci(m.get("top_fraction_of_oracle")),
            _ci(m.get("heldout_spearman"), interval=False),
        )
    subjects = sorted({k for e in scorers for k in e.get("lodo_per_subject", {})})
    per_subject = Table(title="LODO per subject: ρ within the held-out subject's cohorts [95% interval], (LOCO ρ − LODO ρ there)",
                        box=box.SIMPLE_HEAD)
    per_subject.add_column("scorer", no_wrap=True)
    for subject in subjects:
        per_subject.add_column(subject, justify="right", no_wrap=True)
    for entry in scorers:
        rows = entry.get("lodo_per_subject")
        if rows:
            per_subject.add_row(entry["name"], *(
                f"{_ci(rows[s]['lodo_spearman'])} ({rows[s]['gap']['value']:+.2f})" if s in rows and rows[s]["gap"]["value"] is not None
                else "—" for s in subjects
            ))
    console.print(ranking)
    console.print(selection)
    if subjects:
        console.print(per_subject)
    console.print(
        f"noise: single-seed reliability r1 = {_ci(noise['single_seed_reliability'])}; ceiling √R_{noise['seeds']} = "
        f"{_ci(noise['ceiling'])}; projected ceiling for 1/3/5/10 seeds: "
        + ", ".join(f"{noise['projection'][str(s)]:.3f}" for s in (1, 3, 5, 10))
    )
    for entry in metrics["scorers"]:
        cov = entry.get("coverage")
        if cov and entry["name"] == metrics.get("headline"):
            console.print(
                f"{entry['name']}: LOCO {cov['level']:.0%} conformal intervals cover {_ci(cov['coverage'])} of held-out labels "
                f"(mean width {cov['mean_width']:.4f}; {'within' if cov['within_5_points'] else 'NOT within'} ±5 points of nominal)"
            )
    console.print(
        "* the configured predictor. LODO gap = LOCO ρ − LODO ρ on the same cohorts. gain vs random: the selection's mean "
        "held-out-seed lift minus the mean over all cohorts; gain − measured: that minus the measured-lift selector's gain. "
        "'measured lift' rows have no LOCO/LODO numbers: they read the labels themselves."
    )


@app.command()
def fit(
    run_dir: Annotated[Path, typer.Argument(help="Run folder with features.parquet and labels.sqlite.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Predictor file (default: RUN_DIR/predictor.skops, with a .json sidecar).")] = None,
) -> None:
    """Fit the predictor ([predictor] config: gbm or ridge, feature families, conformal intervals) on every labelled cohort."""
    from tap import api

    cfg = _config(config, set_) if (config or set_) else None
    predictor, target, meta = api.fit(run_dir, config=cfg, out=out)
    console.print(
        f"wrote {target}: {predictor.model} on {len(meta['used_columns'])} features (families {'+'.join(predictor.families)}), "
        f"{predictor.interval} intervals at {predictor.level:.0%}, trained on {meta['cohorts']} cohorts x {meta['seeds']} seeds "
        f"(label mean {meta['label_mean']:+.4f}, std {meta['label_std']:.4f})"
    )


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="Run folder with features.parquet and labels.sqlite.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Parallel worker processes (default: up to 2).")] = None,
) -> None:
    """Evaluate TAP and every baseline (LOCO, LODO, held-out-seed selection, noise ceiling, cost); write metrics.json and predictions.parquet."""
    from tap import api

    cfg = _config(config, set_) if (config or set_) else None
    with _progress() as progress:
        task = progress.add_task("evaluating scorers", total=None, note="")
        metrics = api.evaluate(run_dir, config=cfg, n_jobs=jobs, progress=lambda done, total, name: progress.update(task, completed=done, total=total, note=name))
    _print_metrics(metrics)
    console.print(f"wrote {run_dir / 'metrics.json'} and {run_dir / 'predictions.parquet'} in {metrics['evaluation_seconds']:.0f} s")


@app.command()
def score(
    cohorts: Annotated[Optional[Path], typer.Argument(help="New cohorts (parquet, JSONL or CSV; columns cohort_id, prompt, gold, subject); or use --data.")] = None,
    predictor: Annotated[Optional[Path], typer.Option("--predictor", "-p", help="A predictor from `tap fit` (.skops with its .json sidecar).")] = None,
    data: Annotated[Optional[str], typer.Option("--data", help="Instead of COHORTS: a dataset file or Hugging Face id, cut into cohorts (see `tap cohorts`).")] = None,
    preset: Annotated[Optional[str], typer.Option("--preset", help="With --data: gsm8k, math, arc, sciq, mmlu, mbpp or humaneval.")] = None,
    size: Annotated[int, typer.Option("--size", help="With --data: items per cohort.")] = 8,
    by: Annotated[str, typer.Option("--by", help="With --data: cut at random, by subject or by difficulty.")] = "random",
    limit: Annotated[Optional[int], typer.Option("--limit", help="With --data: only the first N records.")] = None,
    probe: Annotated[Optional[Path], typer.Option("--probe", help="Probe file (prompt, gold, subject) for forward-pass features (default: the tiny world's).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Ranked scores, .csv or .parquet (default: scores.csv beside the input); rollouts and features are written beside it.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Model folder or hub id (default: the predictor's tiny policy).")] = None,
    max_cohorts: Annotated[Optional[int], typer.Option("--max-cohorts", help="Only the first N cohorts.")] = None,
    verifier: Annotated[str, typer.Option("--verifier", help="Reward function for items without their own: exact, mcq, math or code.")] = "exact",
    top: Annotated[int, typer.Option("--top", "-n", help="Best and worst rows to print (all are written).")] = 10,
    home: HomeOpt = None,
) -> None:
    """Score new cohorts against the current policy: rollouts -> features -> predicted lift with intervals.

    The "buy smarter" command: prints the dataset's mean predicted lift per cohort with a bootstrap
    interval, and its best and worst cohorts."""
    from tap import api
    from tap.errors import TapInputError

    if predictor is None:
        raise TapInputError("--predictor is required (a predictor.skops from `tap fit`)")
    if (cohorts is None) == (data is None):
        raise TapInputError("give either a COHORTS file or --data (with --preset or a file that has prompt, gold, subject)")
    cfg = _config(config, set_) if (config or set_) else None
    target = out or (cohorts.with_name("scores.csv") if cohorts else Path(data).with_name("scores.csv") if Path(data).exists() else Path("scores.csv"))
    api.check_scores_path(target)
    api.load_scoring_predictor(predictor)  # bad input fails here, before any progress bar
    if data is not None:
        from tap.data.load import chunk_cohorts, load_items

        frame = chunk_cohorts(load_items(data, preset=preset, verifier=verifier, limit=limit), size, by=by)
    else:
        frame = api.read_cohorts(cohorts, max_cohorts)
    with _progress() as progress:
        task = progress.add_task("rollouts", total=len(frame), note="prompts")
        result = api.score(frame, predictor, target, config=cfg, model=model, home=home, verifier=verifier, probe=probe,
                           progress=lambda done, total: progress.update(task, completed=done, total=total))
    level = result.level.iloc[0] if len(result) else 0.9
    whole = api.dataset_lift(result)
    best, worst = result.head(top), result.tail(min(top, max(0, len(result) - top))).iloc[::-1]
    for title, rows in (("Best cohorts", best), ("Worst cohorts", worst)):
        if rows.empty:
            continue
        table = Table(title=f"{title}: predicted lift (probe NLL reduction, nats/token) with {level:.0%} conformal intervals")
        for column in ("rank", "cohort", "subject", "predicted", "interval", "pass rate", "nondegenerate"):
            table.add_column(column, justify="left" if column in ("cohort", "subject") else "right")
        for row in rows.itertuples():
            table.add_row(str(row.rank), row.cohort_id, str(row.subject), f"{row.predicted_lift:+.4f}", f"[{row.lo:+.4f}, {row.hi:+.4f}]",
                          f"{getattr(row, 'pass_rate_mean', float('nan')):.2f}", f"{getattr(row, 'frac_nondegenerate', float('nan')):.2f}")
        console.print(table)
    console.print(f"dataset: mean predicted lift per cohort {whole['mean']:+.4f} [{whole['lo']:+.4f}, {whole['hi']:+.4f}] "
                  f"(95% bootstrap over its {whole['cohorts']} cohorts)")
    console.print(f"wrote {target}: {len(result)} cohorts ranked best first")


@app.command()
def study(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder (default: runs/study, or runs/quick with --quick).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="A few-minute study: 16 cohorts x 2 seeds, 6 GRPO steps, a 2-seed 2-step loop, 200 bootstrap resamples.")] = False,
    workers: Annotated[Optional[int], typer.Option("--workers", "-w", help="Parallel label runs (default: study.workers).")] = None,
    home: HomeOpt = None,
) -> None:
    """The main job: world -> rollouts -> features -> labels -> loop -> evaluate -> fit -> report, in one run folder.

    Resumable: a rerun skips every finished stage whose config is unchanged, and a killed study
    continues where it stopped (label runs already in the ledger are kept).
    """
    from tap.study import run_study, study_config

    cfg = study_config(config, set_, quick=quick)
    run_dir = out or Path("runs/quick" if quick else "runs/study")
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
                return lambda step, total, record: progress.update(task(), completed=step, total=total, note="pretraining")
            if name == "rollouts":
                return lambda done, total: progress.update(task(), completed=done, total=total, note="prompts")
            if name == "labels":
                return lambda done, failed, total: progress.update(task(), completed=done + failed, total=total,
                                                                   note=f"label runs{f', {failed} failed' if failed else ''}")
            if name == "evaluate":
                return lambda done, total, scorer: progress.update(task(), completed=done, total=total, note=scorer)
            if name == "loop":
                return lambda done, total: progress.update(task(), completed=done, total=total, note="loop steps")
            return None

        result = run_study(run_dir, cfg, home=home, workers=workers, on_stage=on_stage, progress=callback)
        for name, task in tasks.items():
            progress.update(task, total=1, completed=1)
    _print_study(result)


def _print_study(result) -> None:
    if result.nothing_to_do:
        console.print(f"study in {result.run_dir} is already complete with this config: nothing to do")
    table = Table(title=f"Study {result.run_dir}")
    for column in ("stage", "status", "seconds", "what"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for stage in result.stages:
        table.add_row(stage.name, stage.status, f"{stage.seconds:.1f}", stage.detail)
    table.add_row("total", "", f"{sum(s.seconds for s in result.stages):.1f}", "(seconds of the runs that produced these files)")
    console.print(table)
    metrics = result.metrics
    if metrics:
        entry = next((e for e in metrics["scorers"] if e["name"] == metrics.get("headline")), None)
        if entry:
            m, cov = entry["metrics"], entry.get("coverage") or {}
            console.print(
                f"{entry['name']}: LOCO ρ {_ci(m.get('loco_spearman'))}, pairwise {_ci(m.get('pairwise_accuracy'))}, "
                f"top-{round(100 * metrics['top_q'])}% fraction of oracle {_ci(m.get('top_fraction_of_oracle'))}, "
                f"ρ / ceiling {_ci(m.get('rho_over_ceiling'))}; interval coverage {_ci(cov.get('coverage'))}"
            )
    console.print(f"report: {result.run_dir / 'report.html'}")


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run folder after `tap evaluate` (or `tap study`).")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="HTML file (default: RUN_DIR/report.html).")] = None,
) -> None:
    """Rebuild the self-contained HTML report from a run folder's files alone."""
    from tap.report import build_report

    path = build_report(run_dir, out)
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, works offline)")


@app.command("loop")
def loop_command(
    run_dir: Annotated[Path, typer.Argument(help="Run folder for loop.parquet and loop.json (config.toml is read from it when present).")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    seeds: Annotated[Optional[int], typer.Option("--seeds", help="Loop seeds (default: loop.seeds, 5).")] = None,
    home: HomeOpt = None,
) -> None:
    """The closed loop: each step, score fresh candidate cohorts against the current policy, GRPO-train on the
    chosen one, measure the probe; TAP against random (and the frac_nondegenerate filter) on the same candidates."""
    from tap import api
    from tap.config import load_config

    run_config = run_dir / "config.toml"
    cfg = _config(config, set_) if (config or set_ or not run_config.exists()) else load_config(run_config)
    if seeds is not None:
        cfg = cfg.model_copy(update={"loop": cfg.loop.model_copy(update={"seeds": seeds})})
    with _progress() as progress:
        task = progress.add_task("loop steps", total=None, note="")
        table, summary = api.loop(run_dir, config=cfg, home=home, progress=lambda done, total: progress.update(task, completed=done, total=total))
    _print_loop(summary)
    console.print(f"wrote {run_dir / 'loop.parquet'} ({len(table)} rows) and {run_dir / 'loop.json'}")


def _print_loop(summary: dict) -> None:
    def interval(t: dict) -> str:
        return f"{t['mean']:+.4f}" + (f" [{t['lo']:+.4f}, {t['hi']:+.4f}]" if t.get("lo") is not None else "")

    table = Table(title=f"Cumulative probe-NLL drop after {summary['steps']} steps (nats/token; positive = better), "
                        f"mean [95% t-interval] over {summary['seeds']} loop seeds")
    for column in ("arm", "cumulative drop", "minus random (paired)"):
        table.add_column(column, justify="left" if column == "arm" else "right")
    for arm, t in summary["arms"].items():
        paired = summary["paired_vs_random"].get(arm)
        table.add_row(arm, interval(t), interval(paired) if paired else "—")
    console.print(table)


@app.command("intervention")
def intervention_command(
    run_dir: Annotated[Path, typer.Argument(help="Run folder; the matched cohorts and their ledger go to RUN_DIR/intervention/.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Parallel label runs.")] = 2,
    home: HomeOpt = None,
) -> None:
    """The causal intervention: matched cohorts differing only in frac_nondegenerate, each labelled with S seeds; the slope of lift on it."""
    from tap import api
    from tap.config import load_config

    run_config = run_dir / "config.toml"
    cfg = _config(config, set_) if (config or set_ or not run_config.exists()) else load_config(run_config)
    with _progress() as progress:
        task = progress.add_task("label runs", total=None, note="matched cohorts")
        table, summary = api.intervention(run_dir, config=cfg, workers=workers, home=home,
                                          progress=lambda done, failed, total: progress.update(task, completed=done + failed, total=total))
    view = Table(title="Lift by level: mean over cohorts of the S-seed labels")
    for column in ("level k", "target frac_nondegenerate", "achieved (fresh rollouts)", "cohorts", "mean lift"):
        view.add_column(column, justify="right")
    for level, part in table.groupby("level"):
        view.add_row(str(level), f"{part.target_frac_nondegenerate.mean():.2f}", f"{part.frac_nondegenerate.mean():.2f}",
                     str(len(part)), f"{part.label.mean():+.4f}")
    console.print(view)
    a = summary["achieved"]
    console.print(f"slope of lift on frac_nondegenerate: {a['slope']:+.4f} [{a['lo']:+.4f}, {a['hi']:+.4f}] nats/token per unit "
                  f"({a['cohorts']} cohorts; per subject: " + ", ".join(f"{k} {v:+.4f}" for k, v in a["per_subject"].items()) + ")")
    console.print(f"wrote {run_dir / 'intervention.parquet'} and {run_dir / 'intervention.json'}")


@app.command("cohorts")
def cohorts_command(
    source: Annotated[str, typer.Argument(help="A JSONL / JSON / parquet / CSV file, or a Hugging Face dataset id (needs the hub).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Cohorts file to write (.parquet, .csv or .jsonl).")],
    preset: Annotated[Optional[str], typer.Option("--preset", help="gsm8k, math, arc, sciq, mmlu, mbpp or humaneval: the record schema, prompt, gold and verifier.")] = None,
    columns: Annotated[Optional[str], typer.Option("--columns", help="Without a preset: TAP field=column pairs, e.g. prompt=question,gold=answer.")] = None,
    subject: Annotated[Optional[str], typer.Option("--subject", help="Without a preset: the subject of every item (math, code, science, knowledge).")] = None,
    verifier: Annotated[str, typer.Option("--verifier", help="Without a preset: exact, mcq, math or code.")] = "exact",
    size: Annotated[int, typer.Option("--size", help="Items per cohort.")] = 8,
    by: Annotated[str, typer.Option("--by", help="Cut cohorts at random, by subject or by difficulty.")] = "random",
    split: Annotated[Optional[str], typer.Option("--split", help="Hugging Face split (default: the preset's).")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Only the first N records.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the shuffle.")] = 0,
) -> None:
    """Cut cohorts from a dataset (with a preset for its real schema, or a column mapping)."""
    from tap.data.load import chunk_cohorts, load_items
    from tap.errors import TapInputError

    mapping = None
    if columns:
        pairs = [p.split("=", 1) for p in columns.split(",") if p.strip()]
        if any(len(p) != 2 for p in pairs):
            raise TapInputError(f"--columns {columns!r}: expected field=column pairs separated by commas")
        mapping = {k.strip(): v.strip() for k, v in pairs}
    items = load_items(source, preset=preset, columns=mapping, subject=subject, verifier=verifier, split=split, limit=limit)
    cohorts = chunk_cohorts(items, size, by=by, seed=seed)
    if out.suffix == ".parquet":
        from tap.store import write_parquet

        write_parquet(cohorts, out)
    elif out.suffix in (".csv", ".jsonl"):
        out.parent.mkdir(parents=True, exist_ok=True)
        cohorts.to_csv(out, index=False) if out.suffix == ".csv" else cohorts.to_json(out, orient="records", lines=True)
    else:
        raise TapInputError(f"{out}: the cohorts file must end in .parquet, .csv or .jsonl")
    console.print(f"wrote {out}: {cohorts.cohort_id.nunique()} cohorts of {size} from {len(items)} items "
                  f"({len(items) - len(cohorts)} left over); subjects: {', '.join(sorted(cohorts.subject.unique()))}")


@app.command()
def version() -> None:
    """Print TAP's version."""
    from tap import __version__

    console.print(__version__)


def main() -> None:
    """Entry point: bad input is one line on stderr and exit status 2, never a traceback."""
    import click

    from tap.errors import TapInputError

    command = typer.main.get_command(app)
    try:
        code = command.main(args=sys.argv[1:], prog_name="tap", standalone_mode=False)
    except TapInputError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
