"""A preset end to end on the CLI: a GSM8K-schema file -> `tap cohorts` -> `tap rollout` judged by
math-verify, with the micro tiny model standing in for a real one."""

import json

import pandas as pd

from tests.conftest import MICRO, run_tap


def test_gsm8k_file_to_cohorts_to_rollouts(micro_world, tap_home, tmp_path):
    records = [{"question": f"What is {a} + {b}?", "answer": f"{a} + {b} = <<{a}+{b}={a + b}>>{a + b}\n#### {a + b}"}
               for a in range(4) for b in range(4)]
    (tmp_path / "gsm8k.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    made = run_tap(
        "cohorts",
        str(tmp_path / "gsm8k.jsonl"),
        "--preset",
        "gsm8k",
        "--size",
        "4",
        "--out",
        str(tmp_path / "cohorts.parquet"),
    )
    assert made.returncode == 0, made.stderr
    assert "4 cohorts of 4 from 16 items" in made.stdout
    cohorts = pd.read_parquet(tmp_path / "cohorts.parquet")
    assert set(cohorts.verifier) == {"math"} and set(cohorts.subject) == {"math"}
    sets = [a for s in MICRO + ["rollout.num_generations=2", "rollout.max_new_tokens=4"] for a in ("--set", s)]
    rolled = run_tap("rollout", str(tmp_path / "cohorts.parquet"), *sets, env={"TAP_HOME": str(tap_home)})
    assert rolled.returncode == 0, rolled.stderr
    rollouts = pd.read_parquet(tmp_path / "rollouts.parquet")
    assert len(rollouts) == 32 and set(rollouts.reward) <= {0.0, 1.0}


def test_bad_columns_and_bad_output_are_one_line(tmp_path):
    (tmp_path / "v.csv").write_text("q,a\n1+1=,2\n")
    result = run_tap("cohorts", str(tmp_path / "v.csv"), "--columns", "prompt", "--out", str(tmp_path / "c.parquet"))
    assert result.returncode == 2 and "expected field=column pairs" in result.stderr
    result = run_tap(
        "cohorts",
        str(tmp_path / "v.csv"),
        "--columns",
        "prompt=q,gold=a",
        "--subject",
        "math",
        "--size",
        "1",
        "--out",
        str(tmp_path / "c.txt"),
    )
    assert result.returncode == 2 and "must end in .parquet, .csv or .jsonl" in result.stderr
