"""`tap study --dry-run`: check a study's config, data and verifiers, and say what it would cost.

Nothing is trained or sampled. The plan reads the data (as the study would), checks every gold
answer against its own verifier (a gold its verifier cannot match to itself would never earn a
reward), counts tokens with the policy's tokenizer and prompt format when they can be loaded
(else estimates 4 characters per token, and says so), and sizes the model from its config
without loading weights. Token counts are upper bounds: every completion is taken to run to
its budget. FLOPs follow DESIGN.md's accounting (2·N per generated or scored token, 6·N per
trained token); hours divide them by the effective throughputs in `[study]`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tap.config import TapConfig
from tap.errors import TapInputError
from tap.probe import CANONICAL_VERIFIERS


@dataclass
class Plan:
    source: str
    cohorts: int
    items_per_cohort: float
    probe_items: int
    verifiers: dict[str, int]
    bad_golds: list[str]
    parameters: int | None
    parameters_from: str
    tokens_from: str
    prompt_tokens_mean: float
    rollouts: int
    rollout_tokens: float
    label_runs: int
    trained_tokens_per_run: float
    generated_tokens_per_run: float
    probe_tokens_per_run: float
    probe_looks_tokens_per_run: float = 0.0  # the looks after label.probe_steps and the k-sample pass rates
    flops: dict[str, float] = field(default_factory=dict)
    hours: dict[str, float] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, str]]:
        def n(x: float) -> str:
            return f"{x:,.0f}"

        rows = [
            (
                "data",
                f"{self.source}: {self.cohorts} cohorts of {self.items_per_cohort:g} items, "
                f"probe of {self.probe_items}",
            ),
            ("verifiers", ", ".join(f"{k} ({v} items)" for k, v in self.verifiers.items())),
            (
                "gold answers",
                "all match their own verifier"
                if not self.bad_golds
                else f"{len(self.bad_golds)} do not: {self.bad_golds[0]}",
            ),
            (
                "model",
                f"{_count(self.parameters)} parameters ({self.parameters_from})"
                if self.parameters
                else f"parameters unknown ({self.parameters_from})",
            ),
            ("prompt tokens", f"{self.prompt_tokens_mean:.0f} per prompt on average ({self.tokens_from})"),
            ("rollouts", f"{n(self.rollouts)} completions, at most {n(self.rollout_tokens)} tokens"),
            (
                "label runs",
                f"{n(self.label_runs)} (cohorts x seeds), each at most {n(self.trained_tokens_per_run)} trained tokens "
                f"+ {n(self.probe_tokens_per_run)} probe tokens",
            ),
        ]
        if self.probe_looks_tokens_per_run:
            rows.append(
                (
                    "probe records",
                    f"{n(self.probe_looks_tokens_per_run)} more tokens per label run for the looks after "
                    "label.probe_steps and the k-sample pass rates (measurement, not training)",
                )
            )
        if self.flops:
            rows.append(("compute", ", ".join(f"{k} {v:.3g} FLOPs" for k, v in self.flops.items())))
        if self.hours:
            rows.append(("time (estimate)", ", ".join(f"{k} {v:.3g} h" for k, v in self.hours.items())))
        return rows


def _count(n: int) -> str:
    return f"{n / 1e9:.3g} B" if n >= 1e9 else f"{n / 1e6:.3g} M"


def reference_completion(verifier: str, gold: str) -> str | None:
    """A completion that must earn full reward against `gold` if the gold is well formed (None: the
    verifier is checked another way)."""
    if verifier.startswith("reasoning_gym"):
        return gold  # a task's own answer earns full reward from its score_answer
    return {"exact": gold, "math": f"The answer is \\boxed{{{gold}}}.", "mcq": f"Answer: {gold}"}.get(verifier)


def check_golds(items: pd.DataFrame, default: str) -> list[str]:
    """Items whose gold cannot earn a reward from its own verifier, as 'item_id: why'."""
    from tap.verify.registry import VerifierError, get_verifier, judge

    bad = []
    for row in items.itertuples():
        name = getattr(row, "verifier", None) or default
        get_verifier(name)
        reference = reference_completion(name, str(row.gold))
        if reference is None:  # code: the gold is a test program; it must at least be Python
            try:
                ast.parse(str(row.gold))
            except SyntaxError as exc:
                bad.append(f"{row.item_id}: tests do not parse ({exc.msg}, line {exc.lineno})")
            continue
        try:
            matched = judge(name, reference, str(row.gold), where=f"item {row.item_id}").reward >= 1.0
            why = f"does not match itself under verifier {name!r}"
        except VerifierError as exc:  # the verifier rejects the gold itself
            matched, why = False, f"is rejected by verifier {name!r} ({str(exc.__cause__ or exc)})"
        if not matched:
            bad.append(f"{row.item_id}: gold {str(row.gold)[:40]!r} {why}")
    return bad


def _items_and_cohorts(config: TapConfig) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    if config.data.is_dataset:
        from tap.data.build import build_dataset

        items, cohorts = build_dataset(config)
        return config.data.described, items, cohorts
    from tap.world.pool import build_items
    from tap.world.vendor import make_cohorts

    items = build_items(config)  # the tiny world's items and cohorts are cheap; its policy is not built here
    return (
        ("the tiny world" if config.world.suite == "tiny" else f"the {config.world.suite} world"),
        items,
        make_cohorts(config, items),
    )


def _model_facts(config: TapConfig) -> tuple[int | None, str, object]:
    """(parameters, where that number came from, tokenizer or None), loading no weights."""
    if not config.policy.model:
        from tap.world.tiny_policy import build_model, build_tokenizer

        tokenizer = build_tokenizer()
        return sum(p.numel() for p in build_model(config, tokenizer).parameters()), "the tiny model's config", tokenizer
    try:
        from transformers import AutoTokenizer

        from tap.policy.load import count_parameters

        parameters = count_parameters(config.policy.model)
        tokenizer = AutoTokenizer.from_pretrained(config.policy.model)
        return parameters, f"{config.policy.model} config", tokenizer
    except Exception as exc:  # offline hub id: say so, plan in tokens only
        return None, f"could not read {config.policy.model}: {type(exc).__name__}", None


def _token_counters(config: TapConfig, tokenizer):
    """Token counts of prompts and of gold answers, and where they come from."""
    if tokenizer is None:
        estimate = lambda texts: [len(t) / 4 for t in texts]  # noqa: E731
        return estimate, estimate, "estimated at 4 characters per token: the tokenizer could not be loaded"
    from tap.policy.load import prompt_format

    fmt = prompt_format(config, tokenizer)
    prompt_lengths = lambda texts: [len(ids) for ids in fmt.encode(tokenizer, list(texts))]  # noqa: E731
    gold_lengths = lambda texts: [len(tokenizer(g, add_special_tokens=False)["input_ids"]) for g in texts]  # noqa: E731
    return prompt_lengths, gold_lengths, "the policy's tokenizer" + (" and chat template" if fmt.chat else "")


def make_plan(config: TapConfig) -> Plan:
    source, items, cohorts = _items_and_cohorts(config)
    probe = items[items.split == "probe"] if "split" in items else items.iloc[:0]
    verifiers = (cohorts["verifier"] if "verifier" in cohorts else pd.Series([config.label.verifier] * len(cohorts)))
    verifiers = verifiers.map(lambda v: ":".join(str(v).split(":", 2)[:2]))  # a reasoning-gym spec without its metadata
    bad = check_golds(pd.concat([cohorts, probe], ignore_index=True).drop_duplicates("item_id"), config.label.verifier)
    parameters, parameters_from, tokenizer = _model_facts(config)
    prompt_lengths, gold_lengths, tokens_from = _token_counters(config, tokenizer)
    prompt_mean = float(pd.Series(prompt_lengths(cohorts.prompt)).mean())
    r, lab = config.rollout, config.label
    n_cohorts = cohorts.cohort_id.nunique()
    size = len(cohorts) / max(1, n_cohorts)
    rollouts = len(cohorts) * r.num_generations
    per_step = lab.per_device_train_batch_size or size * lab.num_generations
    generated_per_run = lab.steps * per_step * lab.max_completion_length * lab.gradient_accumulation_steps
    trained_per_run = lab.num_iterations * (
        generated_per_run + lab.steps * per_step * lab.gradient_accumulation_steps * prompt_mean
    )
    # greedy decoding plus gold scoring (gold + end token), counted as a label run counts them
    probe_per_run = (
        sum(prompt_lengths(probe.prompt)) + sum(gold_lengths(probe.gold)) + len(probe) * (1 + lab.probe_max_new_tokens)
    )
    looks = len([s for s in lab.probe_steps if 0 < s < lab.steps])
    probe_verifiers = probe["verifier"] if "verifier" in probe else pd.Series([lab.verifier] * len(probe))
    sampled = int((~probe_verifiers.fillna(lab.verifier).replace("", lab.verifier).isin(CANONICAL_VERIFIERS)).sum())
    looks_per_run = looks * probe_per_run + (looks + 1) * sampled * lab.probe_samples * lab.probe_max_new_tokens
    plan = Plan(
        source=source,
        cohorts=n_cohorts,
        items_per_cohort=size,
        probe_items=len(probe),
        verifiers=verifiers.value_counts().to_dict(),
        bad_golds=bad,
        parameters=parameters,
        parameters_from=parameters_from,
        tokens_from=tokens_from,
        prompt_tokens_mean=prompt_mean,
        rollouts=rollouts,
        rollout_tokens=rollouts * (prompt_mean + r.max_new_tokens),
        label_runs=n_cohorts * lab.seeds,
        trained_tokens_per_run=trained_per_run,
        generated_tokens_per_run=generated_per_run,
        probe_tokens_per_run=probe_per_run,
        probe_looks_tokens_per_run=looks_per_run,
    )
    if parameters:
        _price(plan, config, parameters)
    return plan


def _price(plan: Plan, config: TapConfig, parameters: int) -> None:
    """The plan's FLOPs (2·P per generated or scored token, 6·P per trained token) and, when the
    study gives throughputs, its hours."""
    runs = plan.label_runs
    forward_per_run = plan.generated_tokens_per_run + plan.probe_tokens_per_run + plan.probe_looks_tokens_per_run
    plan.flops = {
        "rollouts": 2.0 * parameters * plan.rollout_tokens,
        "labels": runs * (6.0 * parameters * plan.trained_tokens_per_run + 2.0 * parameters * forward_per_run),
    }
    s = config.study
    if s.generate_tflops > 0 and s.train_tflops > 0:
        plan.hours = {
            "rollouts": plan.flops["rollouts"] / (s.generate_tflops * 1e12) / 3600,
            "labels": runs
            * (
                2.0 * parameters * forward_per_run / (s.generate_tflops * 1e12)
                + 6.0 * parameters * plan.trained_tokens_per_run / (s.train_tflops * 1e12)
            )
            / 3600,
        }


def check_ready(config: TapConfig) -> None:
    """Fail early on what the plan cannot fix: an unknown backend setup or a LoRA request without peft."""
    if config.label.lora_r:
        from tap.labels.trl_run import lora_config

        lora_config(config.label.model_dump(mode="json"))
    if config.policy.backend == "vllm":
        from tap.policy.vllm import import_vllm

        import_vllm()
    if (
        config.policy.model
        and Path(config.policy.model).exists()
        and not (Path(config.policy.model) / "config.json").exists()
    ):
        raise TapInputError(f"{config.policy.model}: not a model folder (no config.json)")
