"""The `tap` command. It parses arguments, calls `tap.api`, and prints; nothing else.

Heavy libraries (torch, transformers) are imported inside the commands so `tap --help` is instant.
"""

from __future__ import annotations

import sys

import typer

from tap.cli.common import app, err_console


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


# Commands register on `app` as their modules are imported (this order is the order of `tap --help`).
from tap.cli import pipeline, predict, experiments  # noqa: E402,F401
