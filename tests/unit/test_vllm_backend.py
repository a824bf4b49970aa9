"""The vLLM backend, checked against a stand-in `vllm` module (vLLM needs a CUDA GPU; see README):
how its outputs become Completions, gold NLL from prompt log-probs, and the error without vLLM."""

import math
import sys
import types
from dataclasses import dataclass

import numpy as np
import pytest

from tap.errors import TapInputError
from tap.world.tiny_policy import build_tokenizer


@dataclass
class Logprob:
    logprob: float


@dataclass
class Out:
    text: str
    token_ids: list
    logprobs: list
    finish_reason: str
    stop_reason: object = None


@dataclass
class Request:
    outputs: list
    prompt_logprobs: list | None = None


class FakeLLM:
    """Returns canned outputs and records what it was asked."""

    def __init__(self, tokenizer):
        self.tokenizer, self.calls = tokenizer, []

    def generate(self, inputs, params, use_tqdm=False):
        self.calls.append((inputs, params))
        if params.prompt_logprobs is not None:  # scoring: every prompt token had log-prob -0.5
            return [Request([], [None] + [{t: Logprob(-0.5)} for t in x["prompt_token_ids"][1:]]) for x in inputs]
        ids = self.tokenizer("7+")["input_ids"]
        step = {ids[0]: Logprob(math.log(0.5)), 99: Logprob(math.log(0.25)), 98: Logprob(math.log(0.25))}
        outs = [Out("7", ids[:1], [step], "stop", "+"), Out("77", ids[:1] * 2, [step, step], "length"),
                Out("7", ids[:1], [step], "stop", None)]
        return [Request(outs[: params.n]) for _ in inputs]


@pytest.fixture()
def fake_vllm(monkeypatch):
    module = types.SimpleNamespace(SamplingParams=lambda **kw: types.SimpleNamespace(**{"prompt_logprobs": None, **kw}))
    monkeypatch.setitem(sys.modules, "vllm", module)
    return module


def test_outputs_become_completions(fake_vllm):
    from tap.policy.vllm import VLLMPolicy

    tokenizer = build_tokenizer()
    llm = FakeLLM(tokenizer)
    policy = VLLMPolicy(llm, tokenizer, stop=("+",))
    groups = policy.sample(["1+1="], 3, max_new_tokens=4, temperature=0.7, seed=3)
    (c_stop, c_len, c_eos), = groups
    assert [c.finish_reason for c in (c_stop, c_len, c_eos)] == ["stop", "length", "eos"]
    assert c_stop.logprobs == (math.log(0.5),)
    assert c_stop.entropies[0] == pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)))
    inputs, params = llm.calls[0]
    assert inputs == [{"prompt_token_ids": tokenizer("1+1=")["input_ids"]}]
    assert (
        params.n == 3 and params.temperature == 0.7 and params.top_k == -1 and params.stop == ["+"] and params.seed == 3
    )


def test_gold_nll_reads_the_gold_tokens_prompt_logprobs(fake_vllm):
    from tap.policy.vllm import VLLMPolicy

    tokenizer = build_tokenizer()
    policy = VLLMPolicy(FakeLLM(tokenizer), tokenizer)
    assert np.allclose(policy.score_gold(["1+1=", "2+2="], ["2", "4"]), 0.5)


def test_choosing_vllm_without_it_is_one_clear_error(monkeypatch):
    from tap.config import load_config
    from tap.resolve import make_policy

    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    config = load_config(None, ["policy.backend=vllm", "policy.model=some/model"])
    with pytest.raises(TapInputError, match="needs vLLM"):
        make_policy(config)
