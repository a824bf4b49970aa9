"""The config tree's world sections: where the embedded world's items, probe, cohorts and vendors come from
(`[world]` and its tables), for the tiny suite or reasoning-gym's."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from tap.types import SUBJECTS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _to_range(value: Any) -> Any:
    """A knob given as one number means the fixed range [x, x]."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (value, value)
    return value


Rate = Annotated[tuple[float, float], BeforeValidator(_to_range)]
Levels = Annotated[tuple[int, int], BeforeValidator(_to_range)]


class KnowledgeConfig(_Strict):
    n_countries: int = Field(64, ge=4, le=500, description="Invented countries in the fact table (4 facts each).")
    facts_seed: int = Field(
        0, description="Seed of the fact table; kept apart from the world seed so the table stays fixed."
    )


class ProbeConfig(_Strict):
    per_subject: int = Field(48, ge=1, description="Clean held-out probe items per subject (never in any cohort).")


class PoolConfig(_Strict):
    per_level: int = Field(
        120, ge=1, description="Clean items per subject and difficulty level that cohorts draw from."
    )


class VendorConfig(_Strict):
    """A data vendor: where a cohort's knobs are drawn from (a number or a [lo, hi] range each)."""

    name: str = Field(description="Vendor name, recorded on each of its cohorts.")
    weight: float = Field(1.0, gt=0, description="Relative share of cohorts that come from this vendor.")
    subjects: dict[str, float] = Field(
        default_factory=lambda: {s: 1.0 for s in SUBJECTS},
        description="Subjects this vendor sells, with relative weights.",
    )
    mixed: bool = Field(
        False, description="True: each item's subject is drawn from `subjects`; false: one subject per cohort."
    )
    difficulty: Levels = Field((1, 5), description="Range of difficulty levels (1 easiest .. 5 hardest) of the items.")
    corruption_rate: Rate = Field(
        (0.0, 0.0), description="Share of gold answers replaced by plausible wrong ones drawn at random."
    )
    systematic_rate: Rate = Field(
        (0.0, 0.0),
        description="Share of gold answers produced by the subject's wrong procedure (a vendor with a systematic "
                    "error).",
    )
    duplicate_rate: Rate = Field((0.0, 0.0), description="Share of items that repeat another item of the same cohort.")
    off_format_rate: Rate = Field((0.0, 0.0), description="Share of prompts written in a style unseen in pretraining.")

    @model_validator(mode="after")
    def _check(self) -> "VendorConfig":  # the subjects' names are checked by the world, which knows its suite
        if not self.subjects or not any(w > 0 for w in self.subjects.values()):
            raise ValueError("subjects needs at least one subject with a positive weight")
        lo, hi = self.difficulty
        if not 1 <= lo <= hi <= 5:
            raise ValueError("difficulty must be a range inside [1, 5] with lo <= hi")
        for name in ("corruption_rate", "systematic_rate", "duplicate_rate", "off_format_rate"):
            lo, hi = getattr(self, name)
            if not 0.0 <= lo <= hi <= 1.0:
                raise ValueError(f"{name} must be a range inside [0, 1] with lo <= hi")
        return self


def _default_vendors() -> list[VendorConfig]:
    return [
        VendorConfig(name="clean", weight=2.0, difficulty=(1, 5)),
        VendorConfig(name="easy", weight=1.0, difficulty=(1, 2)),
        VendorConfig(name="hard", weight=1.0, difficulty=(4, 5)),
        VendorConfig(name="sloppy", weight=1.0, corruption_rate=(0.2, 0.6), duplicate_rate=(0.0, 0.3)),
        VendorConfig(name="scraped", weight=1.0, off_format_rate=(0.3, 1.0), duplicate_rate=(0.0, 0.5)),
        VendorConfig(name="adversarial", weight=0.5, corruption_rate=(0.7, 1.0)),
        VendorConfig(name="mixed", weight=1.0, mixed=True, corruption_rate=(0.0, 0.3)),
        VendorConfig(name="systematic", weight=1.0, systematic_rate=(0.5, 1.0)),
    ]


class CohortsConfig(_Strict):
    count: int = Field(64, ge=1, description="Number of cohorts the vendors deliver.")
    size: int = Field(8, ge=1, description="Items per cohort.")
    disjoint: bool = Field(
        False, description="Cohorts do not share pool items while a subject has unused ones (then they reuse them): "
        "grouped evaluation then keeps most cohorts in a group of their own.",
    )
    vendors: list[VendorConfig] = Field(
        default_factory=_default_vendors, description="Vendor profiles cohorts are drawn from."
    )

    @model_validator(mode="after")
    def _check(self) -> "CohortsConfig":
        if not self.vendors:
            raise ValueError("at least one vendor is needed")
        return self


class WorldTask(_Strict):
    """One reasoning-gym task of an embedded world (`[[world.tasks]]`): its difficulty levels, each a set of
    the library's knobs."""

    name: str = Field(description="The task's registered name; it is also the subject of its items.")
    levels: list[dict[str, Any]] = Field(description="Difficulty levels 1, 2, ...: each the task's own config knobs.")
    prompt: Literal["library", "short"] = Field("short", description="Prompt style of its items (see [[data.tasks]]).")

    @model_validator(mode="after")
    def _check(self) -> "WorldTask":
        if not 1 <= len(self.levels) <= 5:
            raise ValueError(f"world task {self.name}: 1 to 5 levels, got {len(self.levels)}")
        return self


class WorldConfig(_Strict):
    suite: Literal["tiny", "reasoning-gym"] = Field(
        "tiny",
        description="Where items come from: tiny = the four generated subjects (math, code, science, knowledge); "
                    "reasoning-gym = the tasks in [[world.tasks]], each its own subject (docs/tiny-world.md).",
    )
    tasks: list[WorldTask] = Field(
        default_factory=list, description='With suite = "reasoning-gym": the tasks and their difficulty levels.'
    )
    seed: int = Field(0, description="Seed of everything the world generates (items, probe, cohorts, policy init).")
    knowledge: KnowledgeConfig = Field(default_factory=KnowledgeConfig)
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    pool: PoolConfig = Field(default_factory=PoolConfig)
    cohorts: CohortsConfig = Field(default_factory=CohortsConfig)

    @property
    def subjects(self) -> tuple[str, ...]:
        """The world's subjects: the tiny suite's four, or its reasoning-gym tasks' names."""
        return SUBJECTS if self.suite == "tiny" else tuple(t.name for t in self.tasks)

    @model_validator(mode="after")
    def _check(self) -> "WorldConfig":
        if self.suite == "tiny" and self.tasks:
            raise ValueError("world.tasks needs suite = \"reasoning-gym\"")
        if self.suite != "tiny" and not self.tasks:
            raise ValueError(f"suite = {self.suite!r} needs at least one [[world.tasks]]")
        if len(set(self.subjects)) != len(self.subjects):
            raise ValueError("world.tasks names a task twice")
        for vendor in self.cohorts.vendors:
            unknown = sorted(set(vendor.subjects) - set(self.subjects))
            if unknown:
                raise ValueError(f"unknown subject {unknown[0]!r} (known: {', '.join(self.subjects)})")
            if self.suite != "tiny" and vendor.systematic_rate != (0.0, 0.0):
                raise ValueError(
                    f"vendor {vendor.name}: systematic_rate needs a wrong procedure, which only the tiny suite's "
                    "subjects have"
                )
        return self
