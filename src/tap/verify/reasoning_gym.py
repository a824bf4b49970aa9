"""The reasoning_gym verifier: a reasoning-gym task's own `score_answer` judges its items.

An item's verifier is the spec `reasoning_gym:<task>`, plus `:<metadata JSON>` for the tasks whose
`score_answer` reads the entry's metadata, so the verifier finds its task (and what it needs) per
item wherever items travel: rollouts, TRL label runs, the probe. The answer is the text between the
last <answer> tags when there are any (reasoning-gym's convention for chat models), else the stripped
completion. Rewards may lie strictly between 0 and 1: the library's default gives partial credit,
len(gold) / len(answer), when the gold is inside a longer answer (docs/features.md says what that
means for the features).
"""

from __future__ import annotations

import difflib
import inspect
import json
from functools import lru_cache

from tap.errors import TapInputError

PREFIX = "reasoning_gym"  # the verifier spec's name


def library():
    try:
        import reasoning_gym
        from reasoning_gym.factory import DATASETS
    except ImportError:
        raise TapInputError("reasoning-gym tasks need the optional extra: pip install 'tap[reasoning-gym]'") from None
    return reasoning_gym, DATASETS


def task_names() -> list[str]:
    """Every task the installed reasoning-gym registers."""
    return sorted(library()[1])


def check_task(name: str) -> None:
    names = task_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        hint = (
            f"; did you mean {', '.join(close)}?"
            if close
            else f" ({len(names)} tasks, e.g. {', '.join(names[:6])}, ...)"
        )
        raise TapInputError(f"unknown reasoning-gym task {name!r}{hint}")


@lru_cache(maxsize=None)
def reads_metadata(task: str) -> bool:
    """Whether the task's score_answer reads the entry's metadata (then items carry it in their verifier spec)."""
    cls = library()[1][task][0]
    return "metadata" in inspect.getsource(cls.score_answer)


def verifier_spec(task: str, metadata: dict | None = None) -> str:
    spec = f"{PREFIX}:{task}"
    if metadata and reads_metadata(task):
        spec += ":" + json.dumps(metadata, sort_keys=True, separators=(",", ":"))
    return spec


def parse_spec(spec: str) -> tuple[str, dict]:
    """(task, metadata) of a verifier spec `reasoning_gym:<task>[:<metadata JSON>]`."""
    prefix, _, rest = spec.partition(":")
    task, _, metadata = rest.partition(":")
    if prefix != PREFIX or not task:
        raise TapInputError(
            f"verifier {spec!r}: a reasoning-gym verifier is 'reasoning_gym:<task>' (the task judges its items)"
        )
    return task, (json.loads(metadata) if metadata else {})


@lru_cache(maxsize=None)
def scorer(task: str):
    check_task(task)
    return library()[0].create_dataset(task, size=1, seed=0)


def extract(text: str) -> str:
    """The answer in a completion: inside the last <answer>...</answer> when there is one, else the stripped text."""
    if "<answer>" in text:
        from reasoning_gym.utils import extract_answer

        found = extract_answer(text)
        if found is not None:
            return found
    return text.strip()


def score(spec: str, text: str, gold: str) -> tuple[str, float]:
    """(extracted answer, reward in [0, 1]) from the task's own score_answer."""
    task, metadata = parse_spec(spec)
    answer = extract(text)
    reward = scorer(task).score_answer(answer, {"question": "", "answer": gold, "metadata": metadata})
    return answer, float(reward)
