"""Label runs with a real model's settings on the default tiny policy: a tokenizer with a chat
template and a system prompt (TRL must get the same conversations rollouts encode), and LoRA."""

import shutil

import pytest
import trl
from transformers import AutoTokenizer

from tap.config import load_config
from tap.labels.battery import base_probe_metrics, label_hash, label_settings, plan_units
from tap.labels.ledger import Ledger
from tap.labels.trl_run import run_label
from tap.policy.prompting import PromptFormat

LABEL = ["label.steps=2", "label.num_generations=4", "label.max_completion_length=6"]
# Renders the user turn alone, so the tiny policy (pretrained on plain prompts) still earns mixed
# rewards and GRPO has advantages to learn from; the system message still travels in TRL's rows.
TEMPLATE = "{% for m in messages %}{% if m['role'] == 'user' %}{{ m['content'] }}{% endif %}{% endfor %}"


@pytest.fixture()
def chat_policy(default_world, tmp_path):
    folder = tmp_path / "chat-policy"
    shutil.copytree(default_world.policy_dir, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = TEMPLATE
    tokenizer.save_pretrained(folder)
    return folder


def test_chat_template_and_lora_reach_trl(default_world, chat_policy, tmp_path, monkeypatch):
    seen = {}

    class Recording(trl.GRPOTrainer):
        def __init__(self, *args, **kwargs):
            seen["prompt"] = kwargs["train_dataset"][0]["prompt"]
            seen["peft"] = kwargs.get("peft_config")
            super().__init__(*args, **kwargs)
            seen["model"] = type(self.model).__name__

    monkeypatch.setattr(trl, "GRPOTrainer", Recording)
    config = load_config(
        None,
        LABEL
        + [
            f'policy.model="{chat_policy}"',
            'policy.system_prompt="Answer:"',
            "label.lora_r=4",
            "label.lora_alpha=8",
            "label.learning_rate=1e-3",
            "label.seeds=1",
        ],
    )
    settings = label_settings(config)
    probe = default_world.probe.head(16)
    config_hash = label_hash(settings, "weights", probe)
    assert config_hash != label_hash(label_settings(load_config(None, LABEL)), "weights", probe)
    before = base_probe_metrics(Ledger(tmp_path / "labels.sqlite"), config_hash, str(chat_policy), probe, settings)
    cohort = default_world.cohorts[default_world.cohorts.cohort_id == "c0000"]
    unit = plan_units(cohort, probe, str(chat_policy), settings, config_hash, before, threads=2)[0]
    row = run_label(unit)

    assert row["status"] == "ok" and row["lift_nll"] != 0.0
    assert seen["prompt"] == [{"role": "system", "content": "Answer:"}, {"role": "user", "content": unit.prompts[0]}]
    assert seen["peft"] is not None and seen["peft"].r == 4 and seen["model"] == "PeftModelForCausalLM"
    # the prompt tokens counted are those of the chat-formatted prompts, G per item per step
    tokenizer = AutoTokenizer.from_pretrained(chat_policy)
    chat = PromptFormat.for_tokenizer(tokenizer, "auto", "Answer:")
    expected = 2 * 4 * sum(len(ids) for ids in chat.encode(tokenizer, list(unit.prompts)))
    assert row["trained_tokens"] - row["generated_tokens"] == expected
