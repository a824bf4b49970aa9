"""Math verifier: symbolic equivalence through `math-verify` (imported when first used)."""

from __future__ import annotations

import logging

# math-verify warns on every call that its timeout is off; TAP turns it off on purpose (below).
for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).setLevel(logging.ERROR)


def _parse(text: str):
    from math_verify import parse

    # parsing_timeout=None: math-verify's timeout uses SIGALRM, which only works in the main
    # thread; label runs call verifiers from worker threads.
    return parse(text, parsing_timeout=None)


def extract_math(text: str) -> str | None:
    """The final answer math-verify finds in a completion (\\boxed{} first), as text; None if none."""
    parsed = _parse(text)
    return str(parsed[-1]) if parsed else None


def math_match(completion: str, gold: str) -> float:
    """1.0 when the completion's answer is mathematically equivalent to the gold answer.

    The gold is parsed as LaTeX; a bare number or expression is wrapped in $...$ first. A gold
    answer math-verify cannot parse is an error, not a silent 0.
    """
    from math_verify import verify

    gold_text = gold if ("$" in gold or "\\" in gold) else f"${gold}$"
    gold_parsed = _parse(gold_text)
    if not gold_parsed:
        raise ValueError(f"math-verify cannot parse the gold answer {gold!r}")
    answer = _parse(completion)
    if not answer:
        return 0.0
    return 1.0 if verify(gold_parsed, answer, timeout_seconds=None) else 0.0
