"""The real-model recipes in configs/: each dry-runs offline on fixture files in its datasets' real
schemas, with the micro tiny model standing in for Qwen3-1.7B (its config is not downloadable here)."""

import json
from pathlib import Path

import pytest

from tests.conftest import REPO, run_tap

RECORDS = {
    "math": lambda i: {
        "problem": f"What is ${i}+1$?",
        "solution": f"It is $\\boxed{{{i + 1}}}$.",
        "level": f"Level {1 + i % 5}",
        "type": "Algebra",
    },
    "gsm8k": lambda i: {
        "question": f"Sam has {i} pens and buys 2. How many?",
        "answer": f"{i}+2={i + 2}\n#### {i + 2}",
    },
    "mbpp": lambda i: {
        "task_id": i,
        "text": f"Write add{i}(a) returning a + {i}.",
        "code": f"def add{i}(a):\n    return a + {i}",
        "test_list": [f"assert add{i}(1) == {1 + i}"],
        "test_setup_code": "",
        "challenge_test_list": [],
    },
    "sciq": lambda i: {
        "question": f"Which gas do plants take in ({i})?",
        "correct_answer": "carbon dioxide",
        "distractor1": "oxygen",
        "distractor2": "helium",
        "distractor3": "neon",
        "support": "",
    },
    "mmlu": lambda i: {
        "question": f"2 x {i} = ?",
        "subject": "elementary_mathematics",
        "choices": [str(2 * i), str(i), "0", "1"],
        "answer": 0,
    },
}


def _write(folder: Path, preset: str, n: int = 24) -> Path:
    path = folder / f"{preset}.jsonl"
    path.write_text("".join(json.dumps(RECORDS[preset](i)) + "\n" for i in range(n)))
    return path


def _sets(pairs):
    return [a for s in pairs for a in ("--set", s)]


def test_math_recipe_dry_runs(micro_world, tap_home, tmp_path):
    source = _write(tmp_path, "math")
    sets = _sets(
        [
            f'policy.model="{micro_world.policy_dir}"',
            f'data.source="{source}"',
            "data.probe_size=8",
            "data.cohort_size=4",
            "data.max_cohorts=0",
        ]
    )
    result = run_tap(
        "study",
        "--config",
        str(REPO / "configs/qwen3-1.7b-math.toml"),
        "--dry-run",
        *sets,
        env={"TAP_HOME": str(tap_home)},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "4 cohorts of 4 items, probe of 8" in out and "math (16 items)" in out
    assert "label runs" in out and "12 (cohorts x seeds)" in out  # 3 seeds
    assert "FLOPs" in out and "time (estimate)" in out  # the recipe carries measured throughputs


def test_four_subject_recipe_mixes_datasets_per_subject(micro_world, tap_home, tmp_path):
    mix = ", ".join(f'{{source = "{_write(tmp_path, p)}", preset = "{p}"}}' for p in ("gsm8k", "mbpp", "sciq", "mmlu"))
    sets = _sets(
        [f'policy.model="{micro_world.policy_dir}"', f"data.mix=[{mix}]", "data.probe_size=8", "data.cohort_size=4"]
    )
    result = run_tap(
        "study",
        "--config",
        str(REPO / "configs/qwen3-1.7b-4subjects.toml"),
        "--dry-run",
        *sets,
        env={"TAP_HOME": str(tap_home)},
    )
    assert result.returncode == 0, result.stderr
    assert "probe of 8" in result.stdout
    for verifier in ("math", "code", "mcq"):
        assert verifier in result.stdout


@pytest.mark.parametrize("name", ["qwen3-1.7b-math.toml", "qwen3-1.7b-4subjects.toml"])
def test_recipes_name_a_real_model_and_gpu_settings(name):
    from tap.config import load_config

    config = load_config(REPO / "configs" / name)
    assert config.policy.model == "Qwen/Qwen3-1.7B" and config.policy.dtype == "bfloat16"
    assert config.label.bf16 and config.label.num_generations == 8 and config.study.workers == 1
    assert config.data.is_dataset and config.rollout.max_new_tokens == config.data.max_new_tokens
