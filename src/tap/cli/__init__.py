"""The `tap` command. It parses arguments, calls `tap.api`, and prints; nothing else.

Heavy libraries (torch, transformers) are imported inside the commands so `tap --help` is instant.
"""

from __future__ import annotations

import sys

import typer

from tap.cli.common import app, err_console


def _is(exc: BaseException, name: str) -> bool:
    """Whether `exc` is click's `name` exception, from click itself or the copy newer Typer vendors."""
    return any(cls.__name__ == name and cls.__module__.endswith("exceptions") for cls in type(exc).__mro__)


def main() -> None:
    """Entry point: bad input is one line on stderr and exit status 2, never a traceback."""
    from tap.errors import TapInputError

    command = typer.main.get_command(app)
    try:
        code = command.main(args=sys.argv[1:], prog_name="tap", standalone_mode=False)
    except TapInputError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except Exception as exc:
        if _is(exc, "ClickException"):  # a usage error: a missing option, a value outside its choices
            exc.show()
            sys.exit(exc.exit_code)
        if _is(exc, "Abort"):
            err_console.print("aborted")
            sys.exit(130)
        raise
    sys.exit(code if isinstance(code, int) else 0)


# Commands register on `app` as their modules are imported (this order is the order of `tap --help`).
from tap.cli import world, pipeline, data, predict, experiments  # noqa: E402,F401
