"""Dataset presets on fixture files in each dataset's real schema: gold extraction, the verifier on a
right and a wrong completion, and one clear line for a record whose answer cannot be read."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from tap.data.load import chunk_cohorts, load_items
from tap.presets import PRESETS, last_boxed
from tap.errors import TapInputError
from tap.verify.registry import judge

# preset -> (a good record, a right completion, a wrong completion, an unparseable record, expected gold, reason)
CASES = {
    "gsm8k": (
        {
            "question": "Natalia sold 48 clips in April and half as many in May. How many in total?",
            "answer": "In May she sold 48/2 = <<48/2=24>>24 clips.\nIn total 48+24 = <<48+24=72>>72.\n#### 72",
        },
        "She sold 72 clips in total.",
        "She sold 70 clips in total.",
        {"question": "How many?", "answer": "Seventy-two, probably."},
        "72",
        "no '#### <number>' line",
    ),
    "math": (
        {
            "problem": "What is $1/2 + 0$?",
            "solution": "Adding zero changes nothing: $\\boxed{\\frac{1}{2}}$.",
            "level": "Level 2",
            "type": "Algebra",
        },
        "The value is \\boxed{0.5}.",
        "The value is \\boxed{2}.",
        {"problem": "Hard.", "solution": "We conclude it is one half.", "level": "Level 5", "type": "Algebra"},
        "\\frac{1}{2}",
        "no \\boxed{...} answer",
    ),
    "arc": (
        {
            "id": "Mercury_1",
            "question": "Which gas do plants take in?",
            "choices": {"text": ["oxygen", "nitrogen", "carbon dioxide", "helium"], "label": ["A", "B", "C", "D"]},
            "answerKey": "C",
        },
        "Answer: C",
        "Answer: A",
        {"id": "x", "question": "?", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "E"},
        "C",
        "answerKey 'E' is not one of the labels",
    ),
    "sciq": (
        {
            "question": "What do plants take in?",
            "distractor1": "oxygen",
            "distractor2": "nitrogen",
            "distractor3": "helium",
            "correct_answer": "carbon dioxide",
            "support": "",
        },
        None,
        None,
        {"question": "What?", "distractor1": "a", "distractor2": "b", "correct_answer": "c"},
        None,
        "missing field 'distractor3'",
    ),
    "mmlu": (
        {"question": "2 + 2 = ?", "subject": "elementary_mathematics", "choices": ["3", "4", "5", "22"], "answer": 1},
        "The answer is (B)",
        "The answer is (D)",
        {"question": "?", "subject": "x", "choices": ["a", "b", "c", "d"], "answer": 7},
        "B",
        "answer 7 is not an index",
    ),
    "mbpp": (
        {
            "task_id": 1,
            "text": "Write a function add(a, b) that returns their sum.",
            "code": "def add(a, b):\n    return a + b",
            "test_list": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"],
            "test_setup_code": "",
            "challenge_test_list": [],
        },
        "```python\ndef add(a, b):\n    return a + b\n```",
        "```python\ndef add(a, b):\n    return a - b\n```",
        {"task_id": 2, "text": "Nothing to test.", "code": "", "test_list": [], "test_setup_code": ""},
        "assert add(1, 2) == 3\nassert add(0, 0) == 0\n",
        "test_list is empty",
    ),
    "humaneval": (
        {
            "task_id": "HumanEval/0",
            "prompt": 'def add(a, b):\n    """Return a + b."""\n',
            "canonical_solution": "    return a + b\n",
            "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
            "entry_point": "add",
        },
        "```python\ndef add(a, b):\n    return a + b\n```",
        "```python\ndef add(a, b):\n    return 0\n```",
        {
            "task_id": "HumanEval/1",
            "prompt": "def f():\n",
            "canonical_solution": "",
            "test": "assert True\n",
            "entry_point": "f",
        },
        None,
        "does not define check",
    ),
}


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize("name", sorted(CASES))
def test_preset_reads_its_real_schema_and_its_verifier_judges(name, tmp_path):
    good, right, wrong, bad, gold, _ = CASES[name]
    items = load_items(_write(tmp_path / f"{name}.jsonl", [good, good]), preset=name)
    preset = PRESETS[name]
    assert list(items.subject) == [preset.subject] * 2 and set(items.verifier) == {preset.verifier}
    if gold is not None:
        assert items.gold[0] == gold
    if name == "sciq":  # the correct option's letter, at a stable but question-dependent place
        letter = items.gold[0]
        assert f"{letter}. carbon dioxide" in items.prompt[0]
        right, wrong = f"Answer: {letter}", f"Answer: {'A' if letter != 'A' else 'B'}"
    assert judge(preset.verifier, right, items.gold[0]).reward == 1.0
    assert judge(preset.verifier, wrong, items.gold[0]).reward == 0.0


@pytest.mark.parametrize("name", sorted(CASES))
def test_unparseable_record_is_one_line_naming_the_row(name, tmp_path):
    good, _, _, bad, _, reason = CASES[name]
    with pytest.raises(TapInputError) as error:
        load_items(_write(tmp_path / "data.jsonl", [good, bad]), preset=name)
    assert "data.jsonl line 2" in str(error.value) and reason in str(error.value) and "\n" not in str(error.value)


def test_math_difficulty_and_boxed_with_nested_braces():
    assert last_boxed("so \\boxed{\\frac{a}{b}} and later \\boxed{x^{2}}") == "x^{2}"
    assert last_boxed("no box") is None and last_boxed("\\boxed{unclosed") is None
    assert PRESETS["math"].to_item({"problem": "p", "solution": "\\boxed{3}", "level": "Level 4"})["difficulty"] == 4


def test_arc_numeric_labels_become_letters(tmp_path):
    record = {
        "question": "q",
        "choices": {"text": ["w", "x", "y", "z"], "label": ["1", "2", "3", "4"]},
        "answerKey": "2",
    }
    assert load_items(_write(tmp_path / "arc.jsonl", [record]), preset="arc").gold[0] == "B"


def test_column_mapping_without_a_preset(tmp_path):
    frame = pd.DataFrame({"q": ["1+1=", "2+2="], "a": ["2", "4"], "topic": ["math", "math"]})
    frame.to_csv(tmp_path / "vendor.csv", index=False)
    items = load_items(tmp_path / "vendor.csv", columns={"prompt": "q", "gold": "a", "subject": "topic"})
    assert (
        list(items.prompt) == ["1+1=", "2+2="] and list(items.gold) == ["2", "4"] and set(items.verifier) == {"exact"}
    )
    with pytest.raises(TapInputError, match="vendor.csv row 1: field 'question'"):
        load_items(tmp_path / "vendor.csv", columns={"prompt": "question", "gold": "a"}, subject="math")


def test_chunking_by_subject_keeps_cohorts_pure_and_drops_the_remainder():
    items = pd.DataFrame(
        {
            "item_id": [f"i{k}" for k in range(11)],
            "subject": ["math"] * 6 + ["code"] * 5,
            "difficulty": 0,
            "prompt": [f"p{k}" for k in range(11)],
            "gold": "0",
            "verifier": "exact",
        }
    )
    cohorts = chunk_cohorts(items, 2, by="subject")
    assert cohorts.cohort_id.nunique() == 5 and (cohorts.groupby("cohort_id").size() == 2).all()
    assert (cohorts.groupby("cohort_id").subject.nunique() == 1).all()
    random_cut = chunk_cohorts(items, 4, by="random", seed=1)
    assert random_cut.cohort_id.nunique() == 2 and random_cut.item_id.is_unique


def test_unknown_preset_and_unreachable_hub_are_one_line(tmp_path):
    with pytest.raises(TapInputError, match="unknown preset 'gsm9k'"):
        load_items(tmp_path / "x.jsonl", preset="gsm9k")
    code = "from tap.data.load import load_items\nload_items('openai/gsm8k', preset='gsm8k', limit=2)"
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode != 0 and "could not load from the Hugging Face hub" in result.stderr
