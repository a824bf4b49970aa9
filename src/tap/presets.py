"""Dataset presets: how a public RL dataset's records become TAP items (prompt, gold, subject).

Each preset knows its subject, its verifier, a prompt template, how to read the gold answer out of
a record in the dataset's real schema, and a completion budget. A record whose gold cannot be read
raises `PresetError` with the reason; the loader turns it into one line naming the file and row.

| preset | record fields (real schema) | gold | verifier |
|---|---|---|---|
| gsm8k | question, answer ("... #### 42") | text after the last "####" | math |
| math | problem, solution ("... \\boxed{x}"), level ("Level 3") | last \\boxed{...} | math |
| arc | question, choices {text, label}, answerKey | the key as a letter | mcq |
| sciq | question, correct_answer, distractor1-3 | letter of the correct option | mcq |
| mmlu | question, choices [4], answer (0-3) | letter | mcq |
| mbpp | text, test_list [asserts], test_setup_code | the asserts | code |
| humaneval | prompt, test (defines check), entry_point | test + check(entry_point) | code |
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

LETTERS = "ABCDEFGHIJ"


class PresetError(ValueError):
    """A record the preset cannot turn into an item (the message says why)."""


@dataclass(frozen=True)
class Preset:
    name: str
    subject: str
    verifier: str
    max_new_tokens: int
    hub_id: str
    hub_config: str | None
    split: str
    to_item: Callable[[dict], dict]  # record -> {"prompt", "gold", "difficulty"}
    stop: tuple[str, ...] = ()


def _field(record: dict, name: str):
    value = record.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):  # a JSONL row lacking a key reads as NaN
        raise PresetError(f"missing field {name!r}")
    return value


def _gsm8k(record: dict) -> dict:
    answer = str(_field(record, "answer"))
    if "####" not in answer:
        raise PresetError("answer has no '#### <number>' line")
    gold = answer.rsplit("####", 1)[1].strip().replace(",", "")
    if not gold:
        raise PresetError("nothing after '####'")
    return {"prompt": f"Question: {_field(record, 'question')}\nAnswer:", "gold": gold, "difficulty": 0}


def last_boxed(text: str) -> str | None:
    """The content of the last \\boxed{...} (braces balanced), or None."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 0, start + len("\\boxed")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1:j].strip()
    return None


def _math(record: dict) -> dict:
    gold = last_boxed(str(_field(record, "solution")))
    if not gold:
        raise PresetError("solution has no \\boxed{...} answer")
    level = re.search(r"(\d+)", str(record.get("level", "")))
    return {"prompt": f"Problem: {_field(record, 'problem')}\nPut the final answer in \\boxed{{}}.\nSolution:",
            "gold": gold, "difficulty": int(level.group(1)) if level else 0}


def _choices_prompt(question: str, options: list[str]) -> str:
    lines = [f"Question: {question}"] + [f"{LETTERS[i]}. {text}" for i, text in enumerate(options)]
    return "\n".join(lines) + "\nAnswer:"


def _arc(record: dict) -> dict:
    choices = _field(record, "choices")
    texts, labels = list(choices.get("text", [])), [str(x) for x in choices.get("label", [])]
    key = str(_field(record, "answerKey")).strip()
    if key not in labels:
        raise PresetError(f"answerKey {key!r} is not one of the labels {labels}")
    return {
        "prompt": _choices_prompt(str(_field(record, "question")), texts),
        "gold": LETTERS[labels.index(key)],
        "difficulty": 0,
    }


def _sciq(record: dict) -> dict:
    correct = str(_field(record, "correct_answer"))
    options = [correct] + [str(_field(record, f"distractor{i}")) for i in (1, 2, 3)]
    question = str(_field(record, "question"))
    random.Random(hashlib.sha256(question.encode()).hexdigest()).shuffle(options)  # stable, not always "A"
    return {"prompt": _choices_prompt(question, options), "gold": LETTERS[options.index(correct)], "difficulty": 0}


def _mmlu(record: dict) -> dict:
    choices = list(_field(record, "choices"))
    answer = _field(record, "answer")
    index = LETTERS.index(answer) if isinstance(answer, str) and answer in LETTERS else answer
    if not isinstance(index, int) or not 0 <= index < len(choices):
        raise PresetError(f"answer {answer!r} is not an index into {len(choices)} choices")
    return {
        "prompt": _choices_prompt(str(_field(record, "question")), choices),
        "gold": LETTERS[index],
        "difficulty": 0,
    }


def _mbpp(record: dict) -> dict:
    tests = list(_field(record, "test_list"))
    if not tests:
        raise PresetError("test_list is empty")
    setup = str(record.get("test_setup_code") or "")
    prompt = (f"{_field(record, 'text')}\nYour code should pass these tests:\n" + "\n".join(tests)
              + "\nWrite the function in a ```python code block.\n")
    return {"prompt": prompt, "gold": "\n".join([setup, *tests]).strip() + "\n", "difficulty": 0}


def _humaneval(record: dict) -> dict:
    entry = str(_field(record, "entry_point"))
    test = str(_field(record, "test"))
    if "def check" not in test:
        raise PresetError("test does not define check(candidate)")
    instruction = "Complete this function; answer with the whole function in a ```python code block."
    prompt = f"{instruction}\n\n{_field(record, 'prompt')}"
    return {"prompt": prompt, "gold": f"{test}\ncheck({entry})\n", "difficulty": 0}


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("gsm8k", "math", "math", 256, "openai/gsm8k", "main", "train", _gsm8k, ("\nQuestion:",)),
        Preset(
            "math",
            "math",
            "math",
            512,
            "DigitalLearningGmbH/MATH-lighteval",
            "default",
            "train",
            _math,
            ("\nProblem:",),
        ),
        Preset("arc", "science", "mcq", 32, "allenai/ai2_arc", "ARC-Challenge", "train", _arc, ("\nQuestion:",)),
        Preset("sciq", "science", "mcq", 32, "allenai/sciq", None, "train", _sciq, ("\nQuestion:",)),
        Preset("mmlu", "knowledge", "mcq", 32, "cais/mmlu", "all", "auxiliary_train", _mmlu, ("\nQuestion:",)),
        Preset("mbpp", "code", "code", 512, "google-research-datasets/mbpp", "full", "train", _mbpp),
        Preset("humaneval", "code", "code", 512, "openai/openai_humaneval", None, "test", _humaneval),
    )
}
