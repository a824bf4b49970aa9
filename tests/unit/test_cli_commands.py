"""Every documented command is registered (a lost command otherwise only shows up in slow tests)."""

import re
from pathlib import Path

import typer

from tap.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_command_in_the_readme_exists():
    command = typer.main.get_command(app)
    registered = set(command.commands)
    documented = set(re.findall(r"^tap ([a-z]+)", README.read_text(), flags=re.MULTILINE)) - {"--help"}
    assert documented and documented <= registered, documented - registered
    assert {"study", "report", "evaluate", "fit", "score", "loop", "intervention", "cohorts"} <= registered
