"""Our pure GRPO loss and advantages equal TRL's on the same tensors and settings."""

import pytest
import torch

from tap.grpo import group_advantages, policy_loss


@pytest.fixture(scope="module")
def trainer_factory(micro_world, tmp_path_factory):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOTrainer

    from tap.labels.trl_run import grpo_config

    def make(loss_type: str):
        tokenizer = AutoTokenizer.from_pretrained(micro_world.policy_dir)
        model = AutoModelForCausalLM.from_pretrained(micro_world.policy_dir)
        settings = dict(
            steps=1,
            learning_rate=1e-4,
            lr_scheduler_type="constant",
            num_generations=4,
            max_completion_length=5,
            temperature=1.0,
            loss_type=loss_type,
            scale_rewards="group",
            beta=0.0,
            epsilon=0.2,
            num_iterations=1,
            per_device_train_batch_size=8,
        )
        args = grpo_config(settings, 0, 2, str(tmp_path_factory.mktemp("grpo")))
        data = Dataset.from_dict({"prompt": ["1+1=", "2+2="]})
        trainer = GRPOTrainer(model=model, reward_funcs=lambda completions, **_: [0.0] * len(completions), args=args,
                              train_dataset=data, processing_class=tokenizer)
        return trainer, model

    return make


def test_advantages_match_trl_formula_by_hand():
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    a = group_advantages(rewards, 4, "group")
    assert torch.allclose(a[:4], torch.tensor([0.75, -0.25, -0.25, -0.25]) / (0.5 + 1e-4))
    assert torch.all(a[4:] == 0)
    assert torch.allclose(group_advantages(rewards, 4, "none")[:4], torch.tensor([0.75, -0.25, -0.25, -0.25]))
    assert torch.allclose(
        group_advantages(rewards, 4, "batch")[:4], torch.tensor([0.75, -0.25, -0.25, -0.25]) / (rewards.std() + 1e-4)
    )


@pytest.mark.parametrize("loss_type", ["dapo", "grpo", "bnpo", "dr_grpo"])
@pytest.mark.parametrize("off_policy", [False, True])
def test_policy_loss_matches_trl(trainer_factory, loss_type, off_policy):
    trainer, model = trainer_factory(loss_type)
    torch.manual_seed(0)
    prompt_ids = torch.randint(3, 90, (8, 4))
    completion_ids = torch.randint(3, 90, (8, 5))
    completion_mask = torch.ones(8, 5, dtype=torch.long)
    completion_mask[::3, 3:] = 0
    advantages = torch.randn(8)
    inputs = {
        "prompt_ids": prompt_ids, "prompt_mask": torch.ones_like(prompt_ids), "completion_ids": completion_ids,
        "completion_mask": completion_mask, "advantages": advantages, "num_items_in_batch": completion_mask.sum(),
    }
    # our log-probs of the completion tokens under the model
    logits = model(input_ids=torch.cat([prompt_ids, completion_ids], 1)).logits[:, 3:-1]
    logps = torch.log_softmax(logits.float(), -1).gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1)
    old = logps.detach() + (0.3 * torch.randn_like(logps) if off_policy else 0.0)
    if off_policy:
        inputs["old_per_token_logps"] = old
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train(); one step, no accumulation
    trainer.model.train()
    theirs = trainer._compute_loss(trainer.model, inputs)
    ours = policy_loss(
        logps, old, advantages, completion_mask, loss_type=loss_type, epsilon=0.2, max_completion_length=5
    )
    assert float(ours) == pytest.approx(float(theirs), rel=1e-4, abs=1e-6)
