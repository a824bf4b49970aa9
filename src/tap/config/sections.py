"""The config tree's sections: one pydantic model per TOML table, every field with its help text."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import Field, model_validator

from tap.config.world import (  # noqa: F401  (the world's sections, re-exported with the rest of the tree)
    CohortsConfig, KnowledgeConfig, PoolConfig, ProbeConfig, VendorConfig, WorldConfig, WorldTask, _Strict,
)
from tap.config.predict import EvaluateConfig, PredictorConfig  # noqa: F401  (re-exported)
from tap.config.data import REASONING_GYM, DataConfig, DataSource, ReasoningGymTask  # noqa: F401  (re-exported)
from tap.types import BEHAVIOURS

# Bump when a change to the generators or the pretraining recipe would change what a config
# builds, so that old cache entries are not reused.
WORLD_CODE_VERSION = "world-2"  # world-2: behaviour mixtures, wrong-procedure answers on items


class ModelConfig(_Strict):
    """The tiny policy: a Qwen3 architecture sized for a laptop CPU."""

    hidden_size: int = Field(128, ge=8, description="Width of the residual stream.")
    num_hidden_layers: int = Field(4, ge=1, description="Transformer blocks.")
    num_attention_heads: int = Field(4, ge=1, description="Query heads.")
    num_key_value_heads: int = Field(2, ge=1, description="Key/value heads (grouped-query attention).")
    head_dim: int = Field(32, ge=4, description="Width of one attention head.")
    intermediate_size: int = Field(384, ge=8, description="Width of the MLP.")
    max_position_embeddings: int = Field(128, ge=16, description="Longest sequence in tokens.")


class PolicyConfig(_Strict):
    """The policy TAP samples from, scores with and GRPO-trains: the tiny world's, or a real model."""

    model: str = Field(
        "", description="Hugging Face model id or model folder; empty = the tiny world's pretrained policy."
    )
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="Weights dtype for rollouts, features and label runs."
    )
    attn_implementation: str = Field(
        "",
        description="transformers attn_implementation (sdpa, flash_attention_2, eager); empty = the library's default.",
    )
    device: str = Field(
        "auto", description="Where the policy runs: auto (cuda when available, else cpu), cpu, cuda, cuda:1, ..."
    )
    backend: Literal["hf", "vllm"] = Field(
        "hf", description="Rollout backend: hf (transformers generate) or vllm (imported only when chosen; GPU only)."
    )
    gpu_memory_utilization: float = Field(
        0.4, gt=0, le=1, description="vLLM's share of GPU memory (vllm backend only)."
    )
    chat_template: Literal["auto", "on", "off"] = Field(
        "auto", description="Wrap prompts in the tokenizer's chat template: auto = when the tokenizer has one."
    )
    system_prompt: str = Field(
        "", description="System message put before each prompt when the chat template is used (empty = none)."
    )
    chat_template_kwargs: dict[str, bool | int | float | str] = Field(
        default_factory=dict,
        description="Extra arguments to apply_chat_template, e.g. {enable_thinking = false} for Qwen3.",
    )

    @property
    def is_tiny(self) -> bool:
        return not self.model


class PretrainConfig(_Strict):
    """SFT pretraining of the tiny policy on a behaviour mixture per subject, stopped inside the accuracy band."""

    max_steps: int = Field(1800, ge=1, description="Upper bound on optimizer steps.")
    batch_size: int = Field(128, ge=1, description="Sequences per step.")
    lr: float = Field(3e-3, gt=0, description="Peak AdamW learning rate (linear warm-up, then cosine decay).")
    final_lr_fraction: float = Field(
        0.1, ge=0, le=1, description="Learning rate at max_steps as a fraction of the peak."
    )
    warmup_steps: int = Field(50, ge=0, description="Linear warm-up steps.")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    eval_every: int = Field(50, ge=1, description="Steps between probe evaluations (greedy accuracy per subject).")
    band: tuple[float, float] = Field(
        (0.2, 0.8),
        description="Stop at the first evaluation where every subject's probe accuracy lies in this band and their "
                    "mean is at least `min_mean_accuracy`.",
    )
    min_mean_accuracy: float = Field(
        0.3, ge=0, le=1, description="Also required before stopping: mean probe accuracy over subjects."
    )
    subject_weights: dict[str, float] = Field(
        default_factory=lambda: {"math": 2.5, "code": 2.5, "science": 1.0, "knowledge": 0.4},
        description="Relative share of each subject in pretraining data (code and math learn slowest).",
    )
    level_weights: tuple[float, float, float, float, float] = Field(
        (1.0, 1.0, 1.0, 1.0, 1.0), description="Relative share of each difficulty level (1..5) in pretraining data."
    )
    knowledge_repeats: tuple[float, float, float, float, float] = Field(
        (8.0, 4.0, 2.0, 1.0, 0.5),
        description="How often a fact of knowledge difficulty 1..5 appears in pretraining, relative to the others.",
    )
    behaviours: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {
            "math": {"correct": 0.5, "drop_carry": 0.5},
            "code": {"correct": 0.6, "names_variable": 0.4},
            "science": {"correct": 0.65, "sum_for_product": 0.35},
            "knowledge": {"correct": 0.5, "adds_period": 0.5},
        },
        description="Per subject, the mixture of behaviours its pretraining answers come from: the correct procedure "
                    "and "
        "the subject's wrong one (docs/tiny-world.md); relative weights, a subject left out is all correct.",
    )
    threads: int = Field(2, ge=1, description="torch threads (fixed so the same machine builds the same weights).")

    @model_validator(mode="after")
    def _check(self) -> "PretrainConfig":
        for (
            subject,
            weights,
        ) in self.behaviours.items():  # their names are checked against the world's subjects by TapConfig
            if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
                raise ValueError(f"behaviours.{subject} needs non-negative weights, at least one positive")
        if not 0 <= self.band[0] < self.band[1] <= 1:
            raise ValueError("band must be [lo, hi] with 0 <= lo < hi <= 1")
        return self


class RolloutConfig(_Strict):
    num_generations: int = Field(8, ge=1, description="G: completions sampled per prompt.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature.")
    max_new_tokens: int = Field(8, ge=1, description="Longest completion in tokens.")
    batch_size: int = Field(512, ge=1, description="Sequences generated together (prompts x G).")
    seed: int = Field(0, description="Sampling seed.")


class LabelConfig(_Strict):
    """GRPO label runs: each cohort x seed is GRPO-trained from the base policy with TRL, and the
    probe is measured before and after. Knobs named as in TRL's GRPOConfig are passed through."""

    seeds: int = Field(3, ge=1, description="Training seeds S per cohort; the label is the mean lift over seeds.")
    first_seed: int = Field(0, description="Seeds used are first_seed .. first_seed + seeds - 1.")
    steps: int = Field(12, ge=1, description="GRPO optimizer steps per label run (GRPOConfig.max_steps).")
    learning_rate: float = Field(
        3e-5,
        gt=0,
        description="GRPOConfig.learning_rate (3e-5 x 12 steps gave the clearest labels on the tiny world: "
                    "docs/labels.md).",
    )
    lr_scheduler_type: str = Field(
        "constant",
        description="GRPOConfig.lr_scheduler_type (TRL's default decays to zero, a poor fit for short runs).",
    )
    num_generations: int = Field(8, ge=2, description="GRPOConfig.num_generations: completions per prompt (G).")
    max_completion_length: int = Field(8, ge=1, description="GRPOConfig.max_completion_length in tokens.")
    temperature: float = Field(1.0, gt=0, description="GRPOConfig.temperature for the training rollouts.")
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo"] = Field(
        "dapo",
        description="GRPOConfig.loss_type: how the loss averages tokens. Only the types TAP's gradient and head_align "
                    "features implement (tap.advantages.Objective); TRL's cispo and sapo are not offered, since the "
                    "features could not follow them.",
    )
    scale_rewards: Literal["group", "batch", "none"] = Field(
        "group", description="GRPOConfig.scale_rewards: divide advantages by the group (or batch) std, or not."
    )
    beta: float = Field(
        0.0, ge=0, description="GRPOConfig.beta: KL coefficient against the base policy (0 = no reference model)."
    )
    epsilon: float = Field(0.2, gt=0, description="GRPOConfig.epsilon: clipping range.")
    num_iterations: int = Field(
        1, ge=1, description="GRPOConfig.num_iterations: optimizer passes per generation batch."
    )
    per_device_train_batch_size: Optional[int] = Field(
        None,
        ge=1,
        description="Completions per step (GRPOConfig.per_device_train_batch_size); default: cohort size x G, the "
                    "whole cohort in one step.",
    )
    probe_max_new_tokens: int = Field(8, ge=1, description="Greedy decoding length for probe accuracy.")
    probe_samples: int = Field(
        8,
        ge=0,
        description="k: completions sampled, at the label temperature, per probe item whose verifier accepts more than "
                    "one string (math, mcq, code): their expected accuracy is the k-sample pass rate (exact items use "
                    "the gold's probability and sample nothing); 0 = none (lift_pass is then undefined for those "
                    "items).",
    )
    probe_steps: list[int] = Field(
        [1, 3],
        description="Also record the probe after these GRPO steps (an observation: it does not change the run); the "
                    "short-run scorers and the linearization check read them.",
    )
    verifier: str = Field("exact", description="Reward function for training and probe accuracy.")
    threads: int = Field(
        0, ge=0, description="torch threads per label run; 0 = the machine's cores split across workers."
    )
    bf16: bool = Field(False, description="GRPOConfig.bf16: mixed-precision training (GPU).")
    gradient_checkpointing: bool = Field(
        False, description="GRPOConfig.gradient_checkpointing (saves memory on large models)."
    )
    gradient_accumulation_steps: int = Field(1, ge=1, description="GRPOConfig.gradient_accumulation_steps.")
    lora_r: int = Field(0, ge=0, description="LoRA rank (needs `pip install tap[lora]`); 0 = full fine-tuning.")
    lora_alpha: int = Field(32, ge=1, description="LoRA alpha (lora_r > 0).")
    lora_target_modules: str = Field("all-linear", description="peft target_modules for LoRA (lora_r > 0).")


CHOICE_ARM = r"^(tap|random|learnability|reward_filter|gradient|short_run|cascade[1-9][0-9]*)$"


class LoopConfig(_Strict):
    """The closed loop (`tap loop`): TAP choosing what GRPO trains on next, against random choice."""

    steps: int = Field(8, ge=1, description="T: loop steps; each trains on one chosen cohort.")
    candidates: int = Field(
        8, ge=2, description="M: fresh candidate cohorts drawn from the vendor generator each step."
    )
    train_steps: int = Field(
        4, ge=1, description="K: GRPO optimizer steps on the chosen cohort (AdamW state kept across loop steps)."
    )
    seeds: int = Field(5, ge=1, description="Loop seeds; the TAP - random difference gets a 95% interval over them.")
    arms: list[Literal["tap", "random", "reward_filter", "cascade"]] = Field(
        ["tap", "random", "reward_filter"],
        description="Arms to run: tap, random, the frac_nondegenerate filter, and cascade (TAP's top loop.cascade_top "
                    "candidates each short-run from the current weights, the best short run trained on).",
    )
    cascade_top: int = Field(
        2, ge=1, description="k of the loop's cascade arm: how many of TAP's best candidates get a short run."
    )
    refit_after: int = Field(
        4, ge=2, description="The TAP arm refits a ridge on its realized lifts once it has this many."
    )
    prior: str = Field(
        "adv_std",
        description="The TAP arm's prior before refitting: 'adv_std' (advantage spread) or a predictor file from `tap "
                    "fit` on R or R+F features (`tap choice` also takes G).",
    )
    in_study: bool = Field(
        True,
        description="Run the loop inside `tap study` (the default loop adds ~3 min to the ~11-min default study on 2 "
                    "cores).",
    )
    choice_arms: list[Annotated[str, Field(pattern=CHOICE_ARM)]] = Field(
        ["tap", "random", "learnability", "reward_filter", "gradient", "short_run", "cascade1", "cascade2", "cascade3"],
        description="`tap choice`: arms judged at every state (tap, random, learnability, reward_filter, gradient, "
                    "short_run, and cascade<k>: TAP's top k candidates short-run, the best short run chosen).",
    )
    follow: Annotated[str, Field(pattern=CHOICE_ARM)] = Field(
        "tap",
        description="`tap choice`: whose choice the trajectory follows (its states are where every arm is judged).",
    )
    oracle_seeds: int = Field(
        2,
        ge=1,
        description="`tap choice`: label runs per candidate and state (K steps each); their mean is the oracle.",
    )
    short_run_steps: int = Field(
        1, ge=1, description="`tap choice`: GRPO steps of the short-run arm's run (on a seed the oracle does not use)."
    )
    gradient_feature: str = Field("grad_cos", description="`tap choice`: the G feature the gradient arm ranks by.")


class InterventionConfig(_Strict):
    """The causal intervention (`tap intervention`): matched cohorts that differ only in frac_nondegenerate."""

    levels: list[int] = Field(
        [0, 2, 4, 6, 8],
        description="Sometimes-solved items per cohort (the rest split between always- and never-solved); at most the "
                    "cohort size.",
    )
    replicates: int = Field(2, ge=1, description="Cohorts per subject and level, each with its own item draw.")
    seed: int = Field(0, description="Seed of the item draws.")


class StudyConfig(_Strict):
    """What `tap study` runs besides the other sections: feature families and label workers."""

    families: list[Literal["R", "F", "G"]] = Field(
        ["R", "F", "G"],
        description="Feature families to compute (G = the gradient baseline, needed to compare against it).",
    )
    workers: int = Field(2, ge=1, description="Parallel label runs (torch threads are split across them).")
    executor: Literal["local", "ray"] = Field(
        "local", description="Where label runs execute: a local process pool or Ray."
    )
    active_labels: int = Field(
        0,
        ge=0,
        description="Label only this many cohorts, chosen by active labeling (`tap label --active`) "
        "after 16 at random; 0 = label every cohort.",
    )
    generate_tflops: float = Field(
        0.0,
        ge=0,
        description="Effective generation throughput (TFLOP/s) for --dry-run's time estimate; 0 = no estimate.",
    )
    train_tflops: float = Field(
        0.0,
        ge=0,
        description="Effective GRPO training throughput (TFLOP/s) for --dry-run's time estimate; 0 = no estimate.",
    )


class TapConfig(_Strict):
    world: WorldConfig = Field(default_factory=WorldConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    label: LabelConfig = Field(default_factory=LabelConfig)
    predictor: PredictorConfig = Field(default_factory=PredictorConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    study: StudyConfig = Field(default_factory=StudyConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)
    intervention: InterventionConfig = Field(default_factory=InterventionConfig)

    @model_validator(mode="after")
    def _check(self) -> "TapConfig":
        subjects = self.world.subjects
        unknown = sorted(set(self.pretrain.subject_weights) - set(subjects))
        if unknown:
            raise ValueError(
                f"unknown subject {unknown[0]!r} in pretrain.subject_weights (known: {', '.join(subjects)})"
            )
        behaviours = BEHAVIOURS if self.world.suite == "tiny" else {s: ("correct",) for s in subjects}
        for subject, weights in self.pretrain.behaviours.items():
            if subject not in behaviours:
                raise ValueError(f"unknown subject {subject!r} in pretrain.behaviours (known: {', '.join(subjects)})")
            wrong = sorted(set(weights) - set(behaviours[subject]))
            if wrong:
                raise ValueError(
                    f"unknown behaviour {wrong[0]!r} for {subject} (known: {', '.join(behaviours[subject])})"
                )
        return self
