"""What every `tap` command shares: the Typer apps, the consoles, the common options and the
config / progress helpers. The command modules (pipeline, predict, experiments) import from here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from rich.console import Console

app = typer.Typer(
    help="TAP — predict how much GRPO training on a dataset will improve a model, before training.",
    no_args_is_help=True,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from tap import __version__

        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print TAP's version and exit.")
    ] = False,
) -> None:
    """TAP — predict how much GRPO training on a dataset will improve a model, before training."""
world_app = typer.Typer(
    help="The embedded tiny world: items, probe, vendor cohorts and a tiny policy.", no_args_is_help=True
)
app.add_typer(world_app, name="world")
features_app = typer.Typer(help="Cohort features: cheap signals read off base-policy rollouts.", no_args_is_help=True)
app.add_typer(features_app, name="features")
labels_app = typer.Typer(help="Inspect the lift labels of a run folder.", no_args_is_help=True)
app.add_typer(labels_app, name="labels")

# Tables stay readable when piped to a file (rich would otherwise wrap at 80 columns).
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

ConfigOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--config",
        "-c",
        help="TOML config file (default: the run folder's config.toml when there is one, "
        "else the built-in tiny world).",
    ),
]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--set", help="Override one config field on top of that config, e.g. --set world.cohorts.count=32 (repeatable)."
    ),
]
HomeOpt = Annotated[Optional[Path], typer.Option("--home", help="Cache folder (default: $TAP_HOME or ~/.cache/tap).")]


def _config(path: Path | None, overrides: list[str] | None):
    from tap.config import load_config

    return load_config(path, overrides)


def _run_config(
    run_dir: Path, path: Path | None, overrides: list[str] | None, command: str, produces: tuple[str, ...] = ()
):
    """The config of a command on a run folder: --config, else the folder's config.toml, else the
    defaults, then --set; prints which of the folder's outputs the change leaves stale."""
    from tap.api.runs import run_config

    resolved = run_config(run_dir, path, overrides, produces=produces)
    _print_notes(resolved.notes(f"tap {command}", run_dir))
    return resolved.config


def _file_config(path: Path | None, overrides: list[str] | None, data_file: Path):
    """The config of a command on a file: --config, else the config.toml of the run folder the file
    lies in (its policy and sampling settings), else the defaults; then --set."""
    from tap.config import load_config

    folder = data_file.parent / "config.toml"
    return load_config(path if path is not None else (folder if folder.exists() else None), overrides)


def _print_notes(notes: list[str]) -> None:
    for line in notes:
        err_console.print(f"note: {line}", markup=False, highlight=False, soft_wrap=True)


def _progress():
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=err_console,
    )

# The closed sets a flag takes, shown in --help and checked before anything runs.
Executor = Literal["local", "ray"]
Verifier = Literal["exact", "mcq", "math", "code"]
Cut = Literal["random", "subject", "difficulty"]
PromptStyle = Literal["library", "short"]
WorkersOpt = Annotated[
    Optional[int],
    typer.Option(
        "--workers",
        "-w",
        min=1,
        help="Parallel label runs; torch threads are split across them (default: study.workers, 2).",
    ),
]
TopOpt = Annotated[int, typer.Option("--top", "-n", min=1, help="Rows to print, best first.")]
