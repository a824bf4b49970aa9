"""head_align against autograd on the tiny model's LM head (output path), exact and sketched."""

import numpy as np
import pytest
import torch

from tap.features.head_align import (
    _sketch, alignment, cohort_head_gradient, probe_head_gradient, probe_pass_head_gradient,
)
from tap.grpo import group_advantages
from tap.rollouts import rollout_cohorts


@pytest.fixture(scope="module")
def setting(default_world):
    from tap.policy.hf import HFPolicy

    policy = HFPolicy.from_pretrained(default_world.policy_dir, batch_size=64)
    cohort = default_world.cohorts[default_world.cohorts.cohort_id == "c0001"]
    rows = rollout_cohorts(policy, cohort, num_generations=8, max_new_tokens=8, seed=1).to_dict(orient="records")
    probe = default_world.probe.iloc[::4]
    return policy, rows, probe


def _autograd_head_grads(policy, rows, probe):
    """d/dW of the GRPO objective and of −(probe NLL), through logits = h Wᵀ with h held fixed."""
    model, tok = policy.model, policy.tokenizer
    weight = model.lm_head.weight.detach().clone().requires_grad_(True)

    def token_logps(prompt_ids, cont):
        ids = torch.tensor([prompt_ids + cont])
        with torch.no_grad():
            h = model(input_ids=ids, output_hidden_states=True).hidden_states[-1][0]
        logits = h[len(prompt_ids) - 1:-1] @ weight.T
        return torch.log_softmax(logits, -1)[torch.arange(len(cont)), torch.tensor(cont)]

    adv = group_advantages(torch.tensor([r["reward"] for r in rows], dtype=torch.float32), 8)
    n_tokens = sum(len(r["token_ids"]) for r in rows)
    objective = (
        sum(
            a * token_logps(policy.encode_prompts([r["prompt"]])[0], list(r["token_ids"])).sum()
            for a, r in zip(adv, rows)
        )
        / n_tokens
    )
    (g_c,) = torch.autograd.grad(objective, weight)
    nll_terms = []
    for prompt, gold in zip(probe.prompt, probe.gold):
        cont = tok(gold, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        nll_terms.append(-token_logps(policy.encode_prompts([prompt])[0], cont).mean())
    (g_nll,) = torch.autograd.grad(torch.stack(nll_terms).mean(), weight)
    return g_c, -g_nll


def _autograd_pass_head_grad(policy, probe):
    """d/dW of the probe's mean expected accuracy exp(Σ log p(gold + end)), through logits = h Wᵀ (h fixed)."""
    model, tok = policy.model, policy.tokenizer
    weight = model.lm_head.weight.detach().clone().requires_grad_(True)
    terms = []
    for prompt, gold in zip(probe.prompt, probe.gold):
        prompt_ids = policy.encode_prompts([prompt])[0]
        cont = tok(gold, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        with torch.no_grad():
            h = model(input_ids=torch.tensor([prompt_ids + cont]), output_hidden_states=True).hidden_states[-1][0]
        logp = torch.log_softmax(h[len(prompt_ids) - 1:-1] @ weight.T, -1)[torch.arange(len(cont)), torch.tensor(cont)]
        terms.append(logp.sum().exp())
    (g,) = torch.autograd.grad(torch.stack(terms).mean(), weight)
    return g


def test_expected_accuracy_head_gradient_equals_autograd(setting):
    policy, rows, probe = setting
    g_pass = probe_pass_head_gradient(policy, list(probe.prompt), list(probe.gold))
    ref = _autograd_pass_head_grad(policy, probe)
    assert float(ref.norm()) > 0
    torch.testing.assert_close(g_pass, ref, atol=1e-7, rtol=1e-4)
    g_c = cohort_head_gradient(policy, rows, 8)
    ours = alignment(g_c, g_pass, prefix="head_align_pass")
    assert ours["head_align_pass_dot"] == pytest.approx(float((g_c * ref).sum()), abs=1e-7, rel=1e-4)
    assert set(ours) == {"head_align_pass_dot", "head_align_pass_cos", "head_align_pass_adam"}


def test_exact_mode_equals_autograd(setting):
    policy, rows, probe = setting
    g_c, g_p = cohort_head_gradient(policy, rows, 8), probe_head_gradient(policy, list(probe.prompt), list(probe.gold))
    ref_c, ref_p = _autograd_head_grads(policy, rows, probe)
    torch.testing.assert_close(g_c, ref_c, atol=1e-6, rtol=1e-4)
    ours, ref = alignment(g_c, g_p), alignment(ref_c, ref_p)
    assert ours["head_align_dot"] == pytest.approx(ref["head_align_dot"], abs=1e-5, rel=1e-4)
    assert ours["head_align_cos"] == pytest.approx(ref["head_align_cos"], abs=1e-5)
    assert np.isfinite(ours["head_align_adam"])


def test_sketch_mode_is_the_sketch_of_the_exact_gradient_and_unbiased_within_its_spread(setting):
    """The sketched head is S·G (linear in the rows it reads), so its dot ⟨S G_c, S G_p⟩ is unbiased for
    ⟨G_c, G_p⟩ with variance (‖M‖²_F + tr M²)/k, M = G_p G_cᵀ, for S with N(0, 1/k) entries. A fixed
    relative tolerance would depend on how aligned this world's gradients happen to be."""
    policy, rows, probe = setting
    g_c, g_p = cohort_head_gradient(policy, rows, 8), probe_head_gradient(policy, list(probe.prompt), list(probe.gold))
    k = 8192
    sketch = _sketch(len(policy.tokenizer), k, seed=0)
    s_c = cohort_head_gradient(policy, rows, 8, sketch=sketch)
    s_p = probe_head_gradient(policy, list(probe.prompt), list(probe.gold), sketch=sketch)
    torch.testing.assert_close(s_c, sketch @ g_c, atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(s_p, sketch @ g_p, atol=1e-6, rtol=1e-4)

    exact = alignment(g_c, g_p)["head_align_dot"]
    m = (g_p.double() @ g_c.double().T)
    sd = float(((m * m).sum() + torch.trace(m @ m)) / k) ** 0.5
    approx = alignment(s_c, s_p, adam=False)["head_align_dot"]
    assert abs(approx - exact) < 4 * sd  # sd ≤ √(2/k)·‖G_c‖‖G_p‖ by construction: about 1.6% of it at k = 8,192
