"""reasoning-gym tasks as TAP items, judged by each task's own `score_answer`.

reasoning-gym (PyPI `reasoning-gym`, Apache-2.0; the optional extra `tap[reasoning-gym]`) generates
items offline from a seed: `reasoning_gym.create_dataset(task, size=n, seed=s, **knobs)`, where the
knobs are the task's own config fields (its difficulty). Each entry has a question, an answer and
metadata. An item made from an entry keeps:
- `prompt`: the library's question, or with `prompt = "short"` the question without its instruction
  preamble and suffix (`SHORT`, one rule per task, for the tiny character model's short context);
- `gold`: the library's answer; `subject`: the task's name (or the spec's `subject`);
- `task`, `task_config` (the knobs, JSON) and `difficulty` (the spec's level, 0 when it has none);
- `verifier`: the spec `reasoning_gym:<task>[:<metadata>]` that tap.verify.reasoning_gym judges
  with the task's own `score_answer`.
"""

from __future__ import annotations

import json
import re

import pandas as pd

from tap.errors import TapInputError
from tap.verify.reasoning_gym import check_task, library, scorer, score, verifier_spec

ITEM_COLUMNS = ["item_id", "subject", "difficulty", "prompt", "gold", "verifier", "task", "task_config"]


# ---------------------------------------------------------------- short prompts
# One rule per task: the library's question without its instruction preamble and suffix, the problem
# itself as the library renders it, and a short cue for the answer (" =", "?", " ->").
def _after(text: str, marker: str) -> str:
    return text.split(marker, 1)[1].strip()


def _search(pattern: str, text: str) -> re.Match:
    found = re.search(pattern, text, flags=re.DOTALL)
    if found is None:
        raise ValueError(f"no match for {pattern!r}")
    return found


SHORT = {
    # 'Calculate 5 - 3 - 6.' -> '5 - 3 - 6 ='
    "basic_arithmetic": lambda q: _search(r"Calculate (.*)\.\s*$", q).group(1) + " =",
    # 'State the final answer to the following arithmetic problem: 4 - 1 - 7 =' -> '4 - 1 - 7 ='
    "chain_sum": lambda q: _after(q, "problem: "),
    # 'Solve the following multiplication: 18 * 43. Give only the result ...' -> '18 * 43 ='
    "products": lambda q: _search(r"multiplication: (.*?)\. Give", q).group(1) + " =",
    # 'Find the Greatest Common Divisor (GCD) of these numbers: 4, 16. Give only ...' -> 'GCD of 4, 16?'
    "gcd": lambda q: "GCD of " + _search(r"numbers: (.*?)\. Give", q).group(1) + "?",
    # 'Find the Least Common Multiple (LCM) of these numbers: 98, 58' -> 'LCM of 98, 58?'
    "lcm": lambda q: "LCM of " + _after(q, "numbers: ") + "?",
    # 'How many 1 bits are there in the binary representation of the number 3?' -> '1 bits in 3?'
    "count_bits": lambda q: "1 bits in " + _search(r"the number (\d+)\?", q).group(1) + "?",
    # 'Spell this word backward (example: sun -> nus): hay' -> 'Spell backward: hay ->'
    "spell_backward": lambda q: "Spell backward: " + _after(q, "nus): ") + " ->",
    # 'How many times does the letter "h" appear in the text: "hundred"?' -> '"h" in "hundred"?'
    "letter_counting": lambda q: '"{}" in "{}"?'.format(
        *_search(r'the letter "(.)" appear in the text: "(.*)"\?', q).groups()
    ),
    # '... how many legs are there in total if you have 3 woodlouses, 1 leech?' -> 'Legs: 3 woodlouses, 1 leech?'
    "leg_counting": lambda q: "Legs: " + _search(r"if you have (.*)\?", q).group(1) + "?",
    # '... Now, convert the base-11 number 4 to base-15' -> 'base-11 4 to base-15 ='
    "base_conversion": lambda q: "{} {} to {} =".format(
        *_search(r"Now, convert the (.*?) number (\S+) to (.*)$", q.strip()).groups()
    ),
}


def shorten(task: str, question: str) -> str:
    """The task's question shortened by its SHORT rule (an error for a task without one)."""
    if task not in SHORT:
        raise TapInputError(
            f'task {task!r} has no short prompt rule (tasks with one: {", ".join(sorted(SHORT))}); use prompt = '
            '"library"'
        )
    try:
        return SHORT[task](question)
    except (ValueError, IndexError) as why:
        raise TapInputError(
            f"task {task!r}: its short prompt rule does not fit the question {question[:80]!r} ({why})"
        ) from None


# ---------------------------------------------------------------- items
def entries(task: str, knobs: dict, count: int, seed: int) -> list[dict]:
    """`count` entries of `task` with the library's knobs, from `seed`."""
    check_task(task)
    try:
        dataset = library()[0].create_dataset(task, size=count, seed=seed, **knobs)
    except (TypeError, AssertionError, ValueError) as why:
        raise TapInputError(f"reasoning-gym task {task!r} with {knobs}: {why}") from None
    return [dataset[i] for i in range(count)]


def item_rows(task: str, knobs: dict, count: int, seed: int, *, prompt: str = "library", subject: str = "",
              level: int = 0, id_prefix: str = "") -> list[dict]:
    """Item rows (ITEM_COLUMNS) for `count` entries. Each item's gold is checked through `score` against
    the library's own scoring of the original entry, so a gold or metadata that does not survive the
    round trip is an error here, not a wrong reward later."""
    rows = []
    own = scorer(task)
    for i, entry in enumerate(entries(task, knobs, count, seed)):
        gold = str(entry["answer"])
        spec = verifier_spec(task, entry.get("metadata") or {})
        if score(spec, gold, gold)[1] != float(own.score_answer(gold, entry)):
            raise TapInputError(f"reasoning-gym task {task!r}: its answer {gold!r} scores differently once stored; "
                                "this task cannot be used as TAP items")
        rows.append({
            "item_id": f"{id_prefix or 'rg'}-{task}-{seed}-{i:05d}",
            "subject": subject or task,
            "difficulty": int(level),
            "prompt": shorten(task, entry["question"]) if prompt == "short" else str(entry["question"]),
            "gold": gold,
            "verifier": spec,
            "task": task,
            "task_config": json.dumps(knobs, sort_keys=True),
        })
    return rows


def load_tasks(tasks) -> pd.DataFrame:
    """Items of every task spec (`tap.config.ReasoningGymTask`: name, config, count, seed, prompt,
    subject, level), prompts deduplicated within a task (the first one kept)."""
    if not tasks:
        raise TapInputError("source 'reasoning-gym' needs tasks: [[data.tasks]] in the config, or --tasks")
    rows = []
    for spec in tasks:
        rows += item_rows(spec.name, dict(spec.config), spec.count, spec.seed, prompt=spec.prompt,
                          subject=spec.subject, level=spec.level)
    items = pd.DataFrame(rows, columns=ITEM_COLUMNS)
    return items.drop_duplicates(["task", "prompt"]).reset_index(drop=True)


def parse_tasks(text: str, *, count: int = 200, seed: int = 0, prompt: str = "library") -> list:
    """Task specs from the command line: `name[:knob=value[:knob=value]]`, comma separated
    (`gcd:max_value=50,basic_arithmetic:max_digits=2`); values are read as JSON, else kept as text."""
    from tap.config import ReasoningGymTask

    if prompt not in ("library", "short"):
        raise TapInputError(
            f"--prompt {prompt!r}: library (the question as generated) or short (without its instruction text)"
        )
    specs = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, *pairs = part.split(":")
        knobs = {}
        for pair in pairs:
            key, eq, value = pair.partition("=")
            if not eq or not key.strip():
                raise TapInputError(f"--tasks {part!r}: knobs are written task:knob=value")
            try:
                knobs[key.strip()] = json.loads(value)
            except json.JSONDecodeError:
                knobs[key.strip()] = value
        check_task(name.strip())
        specs.append(ReasoningGymTask(name=name.strip(), config=knobs, count=count, seed=seed, prompt=prompt))
    if not specs:
        raise TapInputError("--tasks is empty: name at least one reasoning-gym task")
    return specs
