"""Frozen dataclasses that every stage shares."""

from __future__ import annotations

from dataclasses import dataclass, field

SUBJECTS = ("math", "code", "science", "knowledge")
# The tiny world's behaviours per subject: the correct procedure first, then the wrong one whose
# answers generalize across items (tap.world.subjects documents each).
BEHAVIOURS = {"math": ("correct", "drop_carry"), "code": ("correct", "names_variable"),
              "science": ("correct", "sum_for_product"), "knowledge": ("correct", "adds_period")}


@dataclass(frozen=True)
class Item:
    """One prompt with a verifiable gold answer."""

    item_id: str
    subject: str
    difficulty: int
    prompt: str
    gold: str


@dataclass(frozen=True)
class CohortItem:
    """An item as a vendor delivered it inside a cohort (possibly defective)."""

    item_id: str
    subject: str
    difficulty: int
    prompt: str
    gold: str
    true_answer: str = ""
    corrupted: bool = False
    duplicate: bool = False
    off_format: bool = False


@dataclass(frozen=True)
class Cohort:
    """A small dataset: the unit that TAP scores and labels."""

    cohort_id: str
    items: tuple[CohortItem, ...]
    subject: str = ""
    knobs: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Completion:
    """One sampled completion of a prompt, with what the sampler saw while producing it.

    `logprobs[t]` and `entropies[t]` are those of the sampling distribution
    (softmax(logits / temperature)) at the step that produced `token_ids[t]`.
    """

    text: str
    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    entropies: tuple[float, ...]
    finish_reason: str  # "eos", "stop" (a stop string) or "length"

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)
