"""Exact / numeric match: the tiny world's verifier."""

from __future__ import annotations

import math
import re

_SHORT_ANSWER = re.compile(r"-?\d+(?:\.\d+)?|[A-Za-z][A-Za-z'\- ]*")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def extract_short_answer(text: str) -> str | None:
    """The answer in a tiny-world completion: the whole completion, stripped, when it is one
    number or one word (phrase of letters). Anything else has no extractable answer (None)."""
    candidate = text.strip()
    if candidate and _SHORT_ANSWER.fullmatch(candidate):
        return candidate
    return None


def _normalized(text: str) -> str:
    return " ".join(text.split()).casefold()


def same_text(text: str, gold: str) -> bool:
    """The completion is the gold answer itself (whitespace collapsed, case ignored): how a gold that
    is not a short answer (`x=14`, `Tal.`, a systematic vendor's) is matched."""
    return _normalized(text) == _normalized(gold)


def _as_number(text: str) -> float | None:
    cleaned = text.strip().replace(",", "")
    return float(cleaned) if _NUMBER.fullmatch(cleaned) else None


def exact_match(answer: str | None, gold: str, *, rel_tol: float = 1e-9) -> float:
    """1.0 when the answer equals the gold answer, else 0.0.

    Numbers compare by value (`"14"` == `"14.0"`), other strings case-insensitively after
    collapsing whitespace. A missing answer (None) scores 0.0.
    """
    if not isinstance(gold, str):
        raise TypeError(f"gold answer must be a string, got {type(gold).__name__}")
    if answer is None:
        return 0.0
    a, g = _as_number(answer), _as_number(gold)
    if a is not None and g is not None:
        return 1.0 if math.isclose(a, g, rel_tol=rel_tol, abs_tol=1e-12) else 0.0
    return 1.0 if _normalized(answer) == _normalized(gold) else 0.0
