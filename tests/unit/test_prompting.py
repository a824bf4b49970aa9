"""Prompt format (plain text or chat template, shared by rollouts and TRL) and stop strings."""

import pytest
import torch

from tap.errors import TapInputError
from tap.policy.prompting import PromptFormat, completion_text, cut_at_stop
from tap.world.tiny_policy import build_tokenizer

TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


@pytest.fixture()
def chat_tokenizer():
    tokenizer = build_tokenizer()
    tokenizer.chat_template = TEMPLATE
    return tokenizer


def test_plain_prompts_are_tokenized_as_trl_tokenizes_plain_rows():
    tokenizer = build_tokenizer()
    fmt = PromptFormat.for_tokenizer(tokenizer, "auto")
    assert not fmt.chat  # the tiny tokenizer has no chat template
    assert fmt.encode(tokenizer, ["12+3="]) == [tokenizer(text=["12+3="])["input_ids"][0]]
    assert fmt.trl_prompt("12+3=") == "12+3="


def test_chat_prompts_match_trls_conversational_tokenization(chat_tokenizer):
    fmt = PromptFormat.for_tokenizer(chat_tokenizer, "auto", system_prompt="be brief")
    assert fmt.chat
    row = fmt.trl_prompt("1+1=")
    assert row == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "1+1="}]
    trl_ids = chat_tokenizer.apply_chat_template(
        conversation=[row], add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"]
    assert fmt.encode(chat_tokenizer, ["1+1="]) == [list(trl_ids[0])]
    text = chat_tokenizer.decode(fmt.encode(chat_tokenizer, ["1+1="])[0])
    assert text == "<system>be brief\n<user>1+1=\n<assistant>"


def test_chat_template_modes(chat_tokenizer):
    assert not PromptFormat.for_tokenizer(chat_tokenizer, "off").chat
    with pytest.raises(TapInputError, match="no chat template"):
        PromptFormat.for_tokenizer(build_tokenizer(), "on")


def test_cut_at_stop_and_completion_text():
    assert cut_at_stop("42\nQuestion: 7", ("\nQuestion:",)) == ("42", True)
    assert cut_at_stop("42", ("\nQuestion:",)) == ("42", False)
    assert cut_at_stop("a;b,c", (",", ";")) == ("a", True)
    assert completion_text([{"role": "assistant", "content": "7"}]) == "7"


def test_completion_is_cut_after_its_stop_string_tokens():
    from tap.policy.hf import HFPolicy

    tokenizer = build_tokenizer()
    model = torch.nn.Linear(1, 1)  # never called: only the cutting is tested
    policy = HFPolicy(model, tokenizer, stop=("+",))
    row = tokenizer("12+34")["input_ids"] + [tokenizer.eos_token_id]
    (ids, reason, text), = policy._completion_ids(torch.tensor([row]))
    assert reason == "stop" and text == "12" and tokenizer.decode(ids) == "12+"
    (ids, reason, text), = HFPolicy(model, tokenizer)._completion_ids(torch.tensor([row]))
    assert reason == "eos" and text == "12+34" and ids == row


def test_sampling_with_a_stop_string_never_returns_it(micro_policy):
    from tap.policy.hf import HFPolicy

    policy = HFPolicy(micro_policy.model, micro_policy.tokenizer, stop=("1",))
    groups = policy.sample(["12+3=", "7*8="], 8, max_new_tokens=8, seed=0)
    completions = [c for g in groups for c in g]
    assert all("1" not in c.text for c in completions)
    stopped = [c for c in completions if c.finish_reason == "stop"]
    assert stopped, "the micro model writes a 1 within 8 tokens in some of 16 samples"
    for c in stopped:
        assert micro_policy.tokenizer.decode(list(c.token_ids)).endswith("1") and len(c.logprobs) == len(c.token_ids)
