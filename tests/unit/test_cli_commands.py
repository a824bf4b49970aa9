"""Every documented command is registered (a lost command otherwise only shows up in slow tests)."""

import re
from pathlib import Path

import typer

from tap.cli import app

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = (REPO / "README.md", REPO / "docs" / "cli.md")


def test_every_command_in_the_readme_and_the_cli_reference_exists():
    command = typer.main.get_command(app)
    registered = set(command.commands)
    text = "\n".join(path.read_text() for path in DOCUMENTS)
    documented = set(re.findall(r"^tap ([a-z]+)", text, flags=re.MULTILINE)) - {"--help"}
    assert documented and documented <= registered, documented - registered
    assert {"study", "report", "evaluate", "fit", "score", "loop", "intervention", "cohorts"} <= registered


def _tap(*args: str):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "tap.cli", *args], capture_output=True, text=True, timeout=120)


def test_version_flag_and_command_agree():
    from tap import __version__

    assert _tap("--version").stdout.strip() == __version__ == _tap("version").stdout.strip()


def test_a_usage_error_is_one_message_with_status_2():
    for args, message in ((["score", "x.csv", "--top", "many"], "Invalid value for '--top'"),
                          (["cohorts", "x.jsonl", "--by", "size", "-o", "y.parquet"], "'size' is not one of"),
                          (["label", "run", "--executor", "slurm"], "'slurm' is not one of"),
                          (["rollout", "c.parquet", "--verifier", "regex"], "'regex' is not one of")):
        done = _tap(*args)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, (
            args,
            done.stderr[-500:],
        )


def test_flags_agree_across_commands():
    command = typer.main.get_command(app)

    def names(path: list[str], option: str) -> set[str]:
        node = command
        for part in path:
            node = node.commands[part]
        return next(set(p.opts) for p in node.params if option in p.opts)

    assert names(["score"], "--top") >= {"-n"} and names(["labels", "show"], "--top") >= {"-n", "--limit"}
    for path in (["label"], ["study"], ["choice"], ["intervention"]):
        workers = next(p for p in _command(command, path).params if "--workers" in p.opts)
        assert workers.default is None and "-w" in workers.opts  # every command defaults to study.workers
    for path in (["world", "build"], ["rollout"], ["cohorts"], ["score"], ["study"], ["fit"], ["report"]):
        assert "-o" in names(path, "--out"), path


def _command(root, path: list[str]):
    for part in path:
        root = root.commands[part]
    return root
