import pytest

from tap.verify.exact import exact_match, extract_short_answer
from tap.verify.math import math_match
from tap.verify.mcq import choice_match, extract_choice
from tap.verify.registry import VerifierError, judge


@pytest.mark.parametrize(
    "text, expected",
    [
        ("14", "14"),
        (" 14 ", "14"),
        ("-3", "-3"),
        ("Tal", "Tal"),
        ("", None),
        ("1 4", None),
        ("14=", None),
        ("x?", None),
    ],
)
def test_extract_short_answer(text, expected):
    assert extract_short_answer(text) == expected


@pytest.mark.parametrize(
    "answer, gold, reward",
    [
        ("14", "14", 1.0),
        ("14.0", "14", 1.0),
        ("15", "14", 0.0),
        ("tal", "Tal", 1.0),
        ("Tal", "Tel", 0.0),
        (None, "14", 0.0),
    ],
)
def test_exact_match(answer, gold, reward):
    assert exact_match(answer, gold) == reward


@pytest.mark.parametrize(
    "text, letter",
    [
        ("B", "B"),
        ("(C) because", "C"),
        ("The answer is D.", "D"),
        ("Answer: a", "A"),
        ("\\boxed{E}", "E"),
        ("no idea", None),
    ],
)
def test_extract_choice(text, letter):
    assert extract_choice(text) == letter


def test_choice_match_and_bad_gold():
    assert choice_match("B", "(B)") == 1.0
    assert choice_match("A", "B") == 0.0
    with pytest.raises(ValueError):
        choice_match("A", "seven")


@pytest.mark.parametrize(
    "completion, gold, reward",
    [
        ("so the answer is \\boxed{\\frac{1}{2}}", "0.5", 1.0),
        ("\\boxed{3}", "$3$", 1.0),
        ("\\boxed{4}", "3", 0.0),
        ("I don't know", "3", 0.0),
    ],
)
def test_math_match(completion, gold, reward):
    assert math_match(completion, gold) == reward


def test_a_verifier_that_raises_stops_the_run_with_a_message():
    with pytest.raises(VerifierError, match="verifier 'mcq' failed on item 7"):
        judge("mcq", "A", "not a letter", where="item 7")


def test_exact_verifier_rejects_non_string_gold():
    with pytest.raises(VerifierError):
        judge("exact", "14", 14, where="x")  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "gold", "reward"), [
    ("x=14", "x=14", 1.0), (" x=14 ", "x=14", 1.0), ("14", "x=14", 0.0), ("x=14", "14", 0.0),
    ("Tal.", "Tal.", 1.0), ("Tal.", "Tal", 0.0), ("Tal", "Tal.", 0.0), ("tal", "Tal", 1.0),
])
def test_exact_verifier_matches_a_gold_that_is_not_a_short_answer_with_itself(text, gold, reward):
    """A systematic vendor writes golds like `x=14`: the completion `x=14` earns them, `14` does not."""
    assert judge("exact", text, gold).reward == reward
