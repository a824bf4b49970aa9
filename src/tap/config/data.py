"""The config tree's `[data]` section: a dataset study's source, its mixes and its reasoning-gym tasks."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, model_validator

from tap.config.world import _Strict
from tap.types import SUBJECTS

REASONING_GYM = "reasoning-gym"  # the data source (and world suite) whose items reasoning-gym generates


class ReasoningGymTask(_Strict):
    """One reasoning-gym task as a data source (`[[data.tasks]]`): items from
    `reasoning_gym.create_dataset(name, size=count, seed=seed, **config)`, judged by the task's own score_answer."""

    name: str = Field(description="The task's registered name (e.g. gcd, basic_arithmetic, spell_backward).")
    config: dict[str, Any] = Field(
        default_factory=dict, description="The task's own config knobs (its difficulty), e.g. {max_value = 50}."
    )
    count: int = Field(200, ge=1, description="Items generated.")
    seed: int = Field(0, description="Seed of the generator.")
    prompt: Literal["library", "short"] = Field(
        "library",
        description="library: the task's question as generated; short: without its instruction preamble "
                    "(tap.data.reasoning_gym.SHORT).",
    )
    subject: str = Field("", description="Subject of its items (empty = the task's name).")
    level: int = Field(0, ge=0, description="Difficulty recorded on its items (0 = none).")


class DataSource(_Strict):
    """One more dataset mixed into a dataset study (`[[data.mix]]`), read with its own preset."""

    source: str = Field(description="JSONL / parquet / CSV file or Hugging Face dataset id.")
    preset: str = Field(description="Its preset (gsm8k, math, arc, sciq, mmlu, mbpp, humaneval).")
    split: str = Field("", description="Hub split (empty = the preset's).")
    limit: int = Field(0, ge=0, description="Read at most this many records (0 = all).")

    @model_validator(mode="after")
    def _check(self) -> "DataSource":
        from tap.presets import PRESETS

        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r} (known: {', '.join(PRESETS)})")
        return self


class DataConfig(_Strict):
    """Where cohorts come from: the tiny world's vendors (empty source), or a dataset file / HF id
    cut into cohorts, with a held-out probe drawn from the same dataset (or from `probe_source`)."""

    source: str = Field(
        "",
        description="JSONL / parquet / CSV file or Hugging Face dataset id; empty = the tiny world's vendor cohorts.",
    )
    preset: str = Field(
        "", description="Dataset preset (gsm8k, math, arc, sciq, mmlu, mbpp, humaneval); empty = plain columns."
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description='Without a preset: TAP field -> column, e.g. {prompt = "question", gold = "answer"}.',
    )
    subject: str = Field(
        "", description="Without a preset: the subject of every item (else a mapped `subject` column)."
    )
    verifier: str = Field("exact", description="Without a preset: the verifier of every item.")
    split: str = Field("", description="Hub split to read (empty = the preset's, else train).")
    limit: int = Field(0, ge=0, description="Read at most this many records (0 = all).")
    cohort_size: int = Field(8, ge=1, description="Items per cohort.")
    chunk_by: Literal["random", "subject", "difficulty"] = Field(
        "random", description="How items are grouped before cutting cohorts."
    )
    max_cohorts: int = Field(0, ge=0, description="Keep at most this many cohorts (0 = all).")
    probe_size: int = Field(
        64, ge=1, description="Items held out as the probe (never in any cohort), drawn before cohorts are cut."
    )
    probe_source: str = Field(
        "", description="A separate probe dataset (same preset or columns) instead of holding items out."
    )
    seed: int = Field(0, description="Seed of the probe draw and the chunking.")
    mix: list[DataSource] = Field(
        default_factory=list,
        description="More datasets whose items join `source`'s (e.g. one per subject); chunk_by = subject keeps "
                    "cohorts pure.",
    )
    tasks: list[ReasoningGymTask] = Field(
        default_factory=list,
        description='With source = "reasoning-gym": the tasks whose generated items make the dataset (each its own '
                    'subject).',
    )
    max_new_tokens: Optional[int] = Field(
        None,
        ge=1,
        description="Completion budget for rollouts, label runs and the probe; unset = the largest of the presets' (or "
                    "the rollout/label settings without a preset).",
    )
    stop: Optional[list[str]] = Field(None, description="Stop strings for sampling; unset = the presets' stop strings.")

    @property
    def is_dataset(self) -> bool:
        """True when cohorts come from datasets rather than the tiny world's vendors."""
        return bool(self.source or self.mix)

    @property
    def described(self) -> str:
        return " + ".join([self.source] * bool(self.source) + [m.source for m in self.mix])

    @property
    def presets(self) -> list[str]:
        """Every preset the study reads, in order, without repeats."""
        return list(dict.fromkeys([self.preset] * bool(self.preset) + [m.preset for m in self.mix]))

    @model_validator(mode="after")
    def _check(self) -> "DataConfig":
        if self.tasks and self.source != REASONING_GYM:
            raise ValueError(f"data.tasks needs source = {REASONING_GYM!r}")
        if self.source == REASONING_GYM and not self.tasks:
            raise ValueError(f"source = {REASONING_GYM!r} needs at least one [[data.tasks]]")
        if self.subject and self.subject not in SUBJECTS:
            raise ValueError(f"unknown subject {self.subject!r} (known: {', '.join(SUBJECTS)})")
        if self.preset:
            from tap.presets import PRESETS

            if self.preset not in PRESETS:
                raise ValueError(f"unknown preset {self.preset!r} (known: {', '.join(PRESETS)})")
        return self
