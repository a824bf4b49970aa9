"""Verifiers by name: each maps (completion text, gold) to the extracted answer and a reward."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from tap.verify import code, exact, math, mcq


@dataclass(frozen=True)
class Verdict:
    answer: str | None  # what the verifier read as the answer; None = nothing extractable
    reward: float
    detail: str = ""


def _exact(text: str, gold: str) -> Verdict:
    answer = exact.extract_short_answer(text)
    if answer is None and exact.same_text(text, gold):  # a gold that is no short answer matches itself
        return Verdict(text.strip(), 1.0)
    return Verdict(answer, exact.exact_match(answer, gold))


def _mcq(text: str, gold: str) -> Verdict:
    answer = mcq.extract_choice(text)
    return Verdict(answer, mcq.choice_match(answer, gold))


def _math(text: str, gold: str) -> Verdict:
    return Verdict(math.extract_math(text), math.math_match(text, gold))


def _code(text: str, gold: str) -> Verdict:
    program = code.extract_code(text)
    reward, reason = code.code_reward(text, gold)
    return Verdict(program if program.strip() else None, reward, reason)


@lru_cache(maxsize=4096)
def _reasoning_gym(spec: str) -> Callable[[str, str], Verdict]:
    from tap.verify import reasoning_gym

    reasoning_gym.check_task(reasoning_gym.parse_spec(spec)[0])  # an unknown task fails before any sampling

    def verdict(text: str, gold: str) -> Verdict:
        answer, reward = reasoning_gym.score(spec, text, gold)
        return Verdict(answer or None, reward)

    return verdict


VERIFIERS: dict[str, Callable[[str, str], Verdict]] = {
    "exact": _exact,
    "mcq": _mcq,
    "math": _math,
    "code": _code,
}


class VerifierError(RuntimeError):
    """A verifier could not judge a completion: the run stops (a silent 0 would corrupt labels)."""


def get_verifier(name: str) -> Callable[[str, str], Verdict]:
    """The verifier a name means: one of VERIFIERS, or a reasoning-gym spec `reasoning_gym:<task>[:<metadata>]`
    (the task's own score_answer; tap.data.reasoning_gym)."""
    if name.startswith("reasoning_gym"):
        return _reasoning_gym(name)
    if name not in VERIFIERS:
        from tap.errors import TapInputError

        raise TapInputError(f"unknown verifier {name!r} (known: {', '.join(VERIFIERS)}, reasoning_gym:<task>)")
    return VERIFIERS[name]


def judge(name: str, text: str, gold: str, *, where: str = "") -> Verdict:
    """Run a verifier; any exception becomes a VerifierError that names the item."""
    verifier = get_verifier(name)
    try:
        return verifier(text, gold)
    except VerifierError:
        raise
    except Exception as exc:
        raise VerifierError(
            f"verifier {name!r} failed{' on ' + where if where else ''}: {type(exc).__name__}: {exc}"
        ) from exc
