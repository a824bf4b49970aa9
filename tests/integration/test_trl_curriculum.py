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
    choose = curriculum.choose
    curriculum.choose = lambda m: seen_models.append(m) or choose(m)

    def reward(prompts, completions, gold, cohort_id, **_):
        batches.append(set(cohort_id))
        return [judge("exact", c, g).reward for c, g in zip(completions, gold)]

    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(output_dir=out, max_steps=2, learning_rate=1e-3, lr_scheduler_type="constant", num_generations=8,
                          per_device_train_batch_size=curriculum.cohort_size * 8, max_completion_length=6, top_k=0, top_p=1.0,
                          use_cpu=True, report_to="none", gradient_checkpointing=False, save_strategy="no", disable_tqdm=True)
        trainer = TAPGRPOTrainer(model=model, reward_funcs=reward, args=args, processing_class=tokenizer, curriculum=curriculum)
        trainer.train()
    assert all(m is model for m in seen_models) and len(curriculum.history) >= 2
    chosen = [h["chosen"] for h in curriculum.history]
    assert [b for b in batches] == [{c} for c in chosen[:2]]  # one cohort per batch, in the order chosen
    for record in curriculum.history:
        assert record["chosen"] == record["candidates"][max(range(3), key=lambda i: record["scores"][i])]
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters())


def test_example_script_runs(default_world, tap_home):
    result = subprocess.run([sys.executable, str(REPO / "examples" / "trl_tap_curriculum.py"), "--steps", "2", "--candidates", "2"],
                            capture_output=True, text=True, cwd=REPO, env=dict(os.environ, TAP_HOME=str(tap_home)), timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "batch 0: trained on c" in result.stdout and "probe gold NLL" in result.stdout
