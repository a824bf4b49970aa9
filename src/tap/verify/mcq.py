"""Multiple-choice verifier: the chosen letter against the gold letter."""

from __future__ import annotations

import re

_PATTERNS = (
    re.compile(r"answer\s*(?:is|:)?\s*\(?([A-J])\)?(?![A-Za-z])", re.IGNORECASE),
    re.compile(r"\\boxed\{\s*\(?([A-J])\)?\s*\}"),
    re.compile(r"^\s*\(?([A-J])[\).:]?(?:\s|$)"),
    re.compile(r"\(([A-J])\)"),
)


def extract_choice(text: str) -> str | None:
    """The letter a completion chose: "Answer: B", "\\boxed{B}", "(B)", or a leading "B." / "B";
    None when no letter can be found. The first rule that matches wins."""
    for pattern in _PATTERNS:
        match = pattern.search(text)
        if match:
            return match.group(1).upper()
    return None


def choice_match(answer: str | None, gold: str) -> float:
    """1.0 when the chosen letter equals the gold letter (given as "B" or "(B)"), else 0.0."""
    gold_letter = extract_choice(gold.strip())
    if gold_letter is None:
        raise ValueError(f"gold answer {gold!r} is not a choice letter A-J")
    return 1.0 if answer is not None and answer.upper() == gold_letter else 0.0
