"""lift_pass of an exact-match probe item is the gold's probability when sampling at the label
temperature: its records' gold_logprob_sum follows softmax(logits / T), while gold_nll (lift_nll)
stays at temperature 1."""

import numpy as np
import pandas as pd
import pytest
import torch

from tap.probe import probe_records


def _gold_logprob_sums(policy, probe: pd.DataFrame, temperature: float) -> np.ndarray:
    """Σ log softmax(logits / T)[gold token] by hand, one item at a time, no padding."""
    sums = []
    for prompt, gold in zip(probe.prompt, probe.gold):
        prompt_ids, gold_ids = policy.encode_prompts([prompt])[0], policy.encode_answers([str(gold)])[0]
        ids = torch.tensor([prompt_ids + gold_ids])
        with torch.no_grad():
            logits = policy.model(input_ids=ids).logits[0].float() / temperature
        logp = torch.log_softmax(logits[len(prompt_ids) - 1:-1], dim=-1)
        sums.append(float(logp.gather(-1, torch.tensor(gold_ids).unsqueeze(-1)).sum()))
    return np.array(sums)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 1.5])
def test_exact_items_gold_probability_follows_the_label_temperature(micro_world, micro_policy, temperature):
    probe = micro_world.items[micro_world.items.split == "probe"].head(6).reset_index(drop=True)
    records = probe_records(micro_policy, probe, max_new_tokens=8, temperature=temperature)
    expected = _gold_logprob_sums(micro_policy, probe, temperature)
    assert records.gold_logprob_sum.to_numpy() == pytest.approx(expected, abs=1e-4)
    at_one = probe_records(micro_policy, probe, max_new_tokens=8, temperature=1.0)
    assert records.gold_nll.to_numpy() == pytest.approx(at_one.gold_nll.to_numpy(), abs=1e-6)  # NLL stays at T = 1
    if temperature != 1.0:  # the probability moved: sharper below 1, flatter above
        assert not np.allclose(records.gold_logprob_sum, at_one.gold_logprob_sum, atol=1e-3)
