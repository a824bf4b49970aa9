"""Bad input: one line naming the file, row or field; exit status 2; no traceback."""

import json

import pandas as pd
import pytest

from tests.conftest import run_tap


def _check(result, *fragments):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _rows(n=2, **override):
    return [
        dict({"cohort_id": "c1", "prompt": f"{i}+1=", "gold": str(i + 1), "subject": "math"}, **override)
        for i in range(n)
    ]


def test_malformed_jsonl(tmp_path):
    path = tmp_path / "cohorts.jsonl"
    path.write_text(json.dumps(_rows()[0]) + "\n{not json\n")
    _check(run_tap("rollout", str(path)), str(path), "line 2", "not valid JSON")


def test_malformed_parquet(tmp_path):
    path = tmp_path / "cohorts.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    _check(run_tap("rollout", str(path)), str(path), "not a readable parquet file")


def test_missing_column(tmp_path):
    path = tmp_path / "cohorts.parquet"
    pd.DataFrame(_rows()).drop(columns=["gold"]).to_parquet(path)
    _check(run_tap("rollout", str(path)), str(path), "missing column 'gold'")


def test_empty_cohort(tmp_path):
    path = tmp_path / "cohorts.jsonl"
    lines = [{"cohort_id": "full", "subject": "math", "items": _rows()}, {"cohort_id": "hollow", "items": []}]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    _check(run_tap("rollout", str(path)), str(path), "line 2", "'hollow' has no items")


def test_empty_file(tmp_path):
    path = tmp_path / "cohorts.jsonl"
    path.write_text("")
    _check(run_tap("rollout", str(path)), str(path), "no cohorts")


def test_empty_subject(tmp_path):
    """Subjects are free names (a reasoning-gym task is one), but not empty ones."""
    path = tmp_path / "cohorts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _rows(3) + _rows(1, subject=" ")))
    _check(run_tap("rollout", str(path)), str(path), "line 4", "field 'subject' must be a non-empty string")


def test_wrong_field_type_in_a_row(tmp_path):
    path = tmp_path / "cohorts.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in _rows(2) + _rows(1, prompt=7)) + "\n")
    _check(run_tap("rollout", str(path)), str(path), "line 3", "'prompt'")


@pytest.mark.parametrize(
    "toml, field",
    [
        ("[world.cohorts]\nsize = 'eight'\n", "world.cohorts.size"),
        ("[rollout]\ntemperature = -1\n", "rollout.temperature"),
    ],
)
def test_wrong_type_in_the_toml_config(tmp_path, toml, field):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    _check(run_tap("world", "build", "--config", str(path)), str(path), field)


def test_missing_file_and_bad_override(tmp_path):
    _check(run_tap("rollout", str(tmp_path / "nope.parquet")), "nope.parquet", "no such file")
    _check(run_tap("world", "build", "--set", "world.seed=abc"), "world.seed")


def test_help_is_instant_and_lists_commands():
    result = run_tap("--help")
    assert result.returncode == 0 and "rollout" in result.stdout and "world" in result.stdout
