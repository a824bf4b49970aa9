"""TAPGRPOTrainer on the default tiny policy: each generation batch is one chosen cohort, chosen
with the trainer's own model, and training really happens; the example script runs."""

import os
import subprocess
import sys
import tempfile

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig

from tap.integrations.trl_curriculum import TAPCurriculum, TAPGRPOTrainer
from tap.verify.registry import judge
from tests.conftest import REPO


def test_each_generation_batch_is_the_chosen_cohort(default_world):
    tokenizer = AutoTokenizer.from_pretrained(default_world.policy_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(default_world.policy_dir, dtype=torch.float32)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    pool = default_world.cohorts[default_world.cohorts.cohort_id.isin([f"c{i:04d}" for i in range(12)])]
    curriculum = TAPCurriculum(pool, tokenizer, candidates=3, seed=0)
    seen_models, batches = [], []
    rank = curriculum.rank
    curriculum.rank = lambda m: seen_models.append(m) or rank(m)

    def reward(prompts, completions, gold, cohort_id, **_):
        batches.append(set(cohort_id))
        return [judge("exact", c, g).reward for c, g in zip(completions, gold)]

    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(
            output_dir=out,
            max_steps=2,
            learning_rate=1e-3,
            lr_scheduler_type="constant",
            num_generations=8,
            per_device_train_batch_size=curriculum.cohort_size * 8,
            max_completion_length=6,
            top_k=0,
            top_p=1.0,
            use_cpu=True,
            report_to="none",
            gradient_checkpointing=False,
            save_strategy="no",
            disable_tqdm=True,
        )
        trainer = TAPGRPOTrainer(
            model=model, reward_funcs=reward, args=args, processing_class=tokenizer, curriculum=curriculum
        )
        trainer.train()
    assert all(m is model for m in seen_models) and len(curriculum.history) == 2
    chosen = [h["chosen"] for h in curriculum.history]
    assert [b for b in batches] == [{c} for c in chosen]  # one cohort per batch, in the order chosen
    for record in curriculum.history:
        assert record["chosen"] == record["candidates"][max(range(3), key=lambda i: record["scores"][i])]
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters())


def test_example_script_runs(default_world, tap_home):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "trl_tap_curriculum.py"),
            "--steps",
            "2",
            "--candidates",
            "2",
            "--dynamic",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ, TAP_HOME=str(tap_home)),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "batch 0: trained on c" in result.stdout and "probe gold NLL" in result.stdout


def _grpo_args(out: str, cohort_size: int, g: int, steps: int) -> GRPOConfig:
    return GRPOConfig(
        output_dir=out,
        max_steps=steps,
        learning_rate=1e-3,
        lr_scheduler_type="constant",
        num_generations=g,
        per_device_train_batch_size=cohort_size * g,
        max_completion_length=4,
        top_k=0,
        top_p=1.0,
        use_cpu=True,
        report_to="none",
        gradient_checkpointing=False,
        save_strategy="no",
        disable_tqdm=True,
    )


def _weights_sum(model) -> float:
    return float(sum(p.detach().double().sum() for p in model.parameters()))


def test_the_choice_for_the_next_step_sees_the_weights_after_this_steps_update(default_world):
    from transformers import TrainerCallback

    tokenizer = AutoTokenizer.from_pretrained(default_world.policy_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(default_world.policy_dir, dtype=torch.float32)
    pool = default_world.cohorts[default_world.cohorts.cohort_id.isin([f"c{i:04d}" for i in range(8)])]
    curriculum = TAPCurriculum(pool, tokenizer, candidates=2, num_generations=4, seed=1)
    seen, after_step = [], [_weights_sum(model)]
    rank = curriculum.rank
    curriculum.rank = lambda m: seen.append(_weights_sum(m)) or rank(m)

    class AfterStep(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            after_step.append(_weights_sum(model))

    def reward(completions, **_):
        return [float(i % 2) for i in range(len(completions))]  # every group varies: every step moves the weights

    with tempfile.TemporaryDirectory() as out:
        trainer = TAPGRPOTrainer(model=model, reward_funcs=reward, args=_grpo_args(out, curriculum.cohort_size, 4, 3),
                                 processing_class=tokenizer, curriculum=curriculum, callbacks=[AfterStep()])
        trainer.train()
    assert len(seen) == len(curriculum.history) == 3  # one choice per step: nothing chosen ahead and never trained on
    assert len(set(after_step)) == 4  # the weights changed at every step
    assert seen == after_step[:3]  # step t's choice was made with the weights after step t - 1's update


def test_dynamic_sampling_drops_all_equal_groups_refills_and_stops_at_its_cap(default_world):
    tokenizer = AutoTokenizer.from_pretrained(default_world.policy_dir, padding_side="left")
    ids = [f"c{i:04d}" for i in range(8)]
    pool = default_world.cohorts[default_world.cohorts.cohort_id.isin(ids)]
    solved = set(ids[::2])  # these cohorts' groups are all correct: all-equal rewards

    def reward(completions, cohort_id, **_):
        return [1.0 if c in solved else float(i % 2) for i, c in enumerate(cohort_id)]

    for cap, always_equal in ((24, False), (3, True)):
        model = AutoModelForCausalLM.from_pretrained(default_world.policy_dir, dtype=torch.float32)
        curriculum = TAPCurriculum(pool, tokenizer, score=None, candidates=8, num_generations=4, seed=0)
        generated, batches = [], []
        rewards = (lambda completions, **_: [1.0] * len(completions)) if always_equal else reward
        spy = lambda *a, **k: generated.append(len(a[0] if a else k["completions"])) or rewards(*a, **k)  # noqa: E731
        with tempfile.TemporaryDirectory() as out:
            trainer = TAPGRPOTrainer(
                model=model,
                reward_funcs=spy,
                args=_grpo_args(out, curriculum.cohort_size, 4, 2),
                processing_class=tokenizer,
                curriculum=curriculum,
                dynamic_sampling=True,
                max_extra_prompts=cap,
            )
            make = trainer._generate_and_score_completions
            trainer._generate_and_score_completions = lambda inputs: batches.append(make(inputs)) or batches[-1]
            trainer.train()
        size = curriculum.cohort_size
        for batch, record in zip(batches, curriculum.history):
            assert batch["advantages"].shape[0] == size * 4
            for k in range(size):
                live = batch["completion_mask"][4 * k:4 * (k + 1)].sum() > 0
                assert not live or batch["advantages"][4 * k:4 * (k + 1)].abs().sum() > 0  # no live all-equal group
            assert batch["num_items_in_batch"] == batch["completion_mask"].sum()
            assert record["extra_prompts"] <= cap
            if always_equal:
                assert record["extra_prompts"] == cap and record["cap_reached"] and record["masked_groups"] == size
                assert batch["completion_mask"].sum() == 0
            else:
                assert not record["cap_reached"] and record["masked_groups"] == 0
                assert not set(record["trained"]) & solved and len(record["trained"]) == size
        assert sum(generated) == sum(4 * (size + r["extra_prompts"]) for r in curriculum.history)


def test_the_cascade_short_runs_taps_top_candidates_on_a_copy_and_trains_on_the_best(default_world):
    """TAPCurriculum(short_run=...): the short runs see TAP's top cascade_top candidates only, leave the
    trainer's weights as they were, and the batch trains on the best short run."""
    from tap.config import LabelConfig
    from tap.integrations.trl_curriculum import short_run_scorer

    tokenizer = AutoTokenizer.from_pretrained(default_world.policy_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(default_world.policy_dir, dtype=torch.float32)
    pool = default_world.cohorts[default_world.cohorts.cohort_id.isin([f"c{i:04d}" for i in range(8)])]
    settings = {**LabelConfig().model_dump(), "steps": 1, "num_generations": 4}
    scorer = short_run_scorer(tokenizer, default_world.probe.head(16), settings, target="lift_pass")
    calls = []

    def short_run(m, cohorts):
        weights = _weights_sum(m)
        values = scorer(m, cohorts)
        calls.append([c.cohort_id.iloc[0] for c in cohorts])
        assert _weights_sum(m) == weights  # the short runs trained copies
        return values

    curriculum = TAPCurriculum(pool, tokenizer, candidates=3, num_generations=4, seed=2, short_run=short_run,
                               cascade_top=2)
    batches = []

    def reward(completions, cohort_id, **_):
        batches.append(set(cohort_id))
        return [float(i % 2) for i in range(len(completions))]

    with tempfile.TemporaryDirectory() as out:
        trainer = TAPGRPOTrainer(model=model, reward_funcs=reward, args=_grpo_args(out, curriculum.cohort_size, 4, 1),
                                 processing_class=tokenizer, curriculum=curriculum)
        trainer.train()
    record, = curriculum.history
    by_score = sorted(range(3), key=lambda i: -record["scores"][i])
    assert calls == [[record["candidates"][i] for i in by_score[:2]]]  # TAP's two best, in its order, once
    assert record["chosen"] == max(record["short_runs"], key=record["short_runs"].get)
    assert batches[0] == {record["chosen"]}
