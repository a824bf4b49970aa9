"""The gradient family: first-order meaning of the scores, the sketch, and the tied LM head."""

import pytest
import torch

from tap.features.gradients import (
    cohort_gradient, count_sketch, head_parameter_names, probe_gradient, probe_pass_gradient, scores,
)
from tap.rollouts import rollout_cohorts


@pytest.fixture(scope="module")
def setting(default_world):
    from tap.policy.hf import HFPolicy

    policy = HFPolicy.from_pretrained(default_world.policy_dir, batch_size=128)
    cohort = default_world.cohorts[default_world.cohorts.cohort_id == "c0001"]
    rows = rollout_cohorts(policy, cohort, num_generations=8, max_new_tokens=8, seed=1).to_dict(orient="records")
    probe = default_world.probe.iloc[::3]
    g_c = cohort_gradient(policy, rows, 8)
    g_p = probe_gradient(policy, list(probe.prompt), list(probe.gold))
    return policy, probe, g_c, g_p


def test_grad_dot_predicts_the_probe_change_of_a_small_step(setting):
    policy, probe, g_c, g_p = setting
    exact = scores(g_c, g_p, list(g_c))
    eta = 1e-3 / max(1e-12, float(sum((g**2).sum() for g in g_c.values())) ** 0.5)
    params = dict(policy.model.named_parameters())

    def nll_after_step(sign: float) -> float:
        with torch.no_grad():
            for name, g in g_c.items():
                params[name].add_(sign * eta * g)
        value = policy.score_gold(list(probe.prompt), list(probe.gold)).mean()
        with torch.no_grad():
            for name, g in g_c.items():
                params[name].sub_(sign * eta * g)
        return value

    # positive score = predicted lift: a step along g_c lowers probe NLL by ≈ eta * <g_c, g_p>.
    # Central difference: (NLL(θ − ηg) − NLL(θ + ηg)) / 2 is first order with an O(η³) error.
    measured = (nll_after_step(-1.0) - nll_after_step(+1.0)) / 2
    assert measured == pytest.approx(eta * exact["grad_dot"], rel=0.05)


def test_grad_pass_dot_predicts_the_expected_accuracy_change_of_a_small_step(setting):
    """The expected-accuracy direction against autograd's own first order: a central difference of the probe's
    mean gold-string probability along g_c matches η ⟨g_c, g_pass⟩."""
    policy, probe, g_c, _ = setting
    g_pass = probe_pass_gradient(policy, list(probe.prompt), list(probe.gold))
    exact = scores(g_c, g_pass, list(g_c), prefix="grad_pass")
    assert set(exact) == {"grad_pass_dot", "grad_pass_cos", "grad_pass_adam"} and exact["grad_pass_dot"] != 0
    eta = 1e-3 / max(1e-12, float(sum((g**2).sum() for g in g_c.values())) ** 0.5)
    params = dict(policy.model.named_parameters())
    conts = policy.encode_answers(list(probe.gold))

    def accuracy_after_step(sign: float) -> float:
        with torch.no_grad():
            for name, g in g_c.items():
                params[name].add_(sign * eta * g)
            logps = policy.continuation_logps(policy.encode_prompts(list(probe.prompt)), conts)
            value = float(sum(lp.double().sum().exp() for lp in logps) / len(conts))
            for name, g in g_c.items():
                params[name].sub_(sign * eta * g)
        return value

    measured = (accuracy_after_step(+1.0) - accuracy_after_step(-1.0)) / 2
    assert measured == pytest.approx(eta * exact["grad_pass_dot"], rel=0.05)


def test_count_sketch_preserves_inner_products(setting):
    _, _, g_c, g_p = setting
    k = 1 << 16
    vc, vp = count_sketch(g_c, k, seed=0), count_sketch(g_p, k, seed=0)
    norm_c2 = float(sum((g**2).sum() for g in g_c.values()))
    assert float(vc @ vc) == pytest.approx(norm_c2, rel=0.03)
    exact = scores(g_c, g_p, list(g_c))["grad_dot"]
    norm_p = float(sum((g**2).sum() for g in g_p.values())) ** 0.5
    # CountSketch inner-product error has std <= |g_c| |g_p| sqrt(2/k); allow 4 of those
    assert abs(float(vc @ vp) - exact) <= 4 * norm_c2**0.5 * norm_p * (2 / k) ** 0.5
    projected = scores(g_c, g_p, list(g_c), k=k)
    assert projected["grad_adam"] == scores(g_c, g_p, list(g_c))["grad_adam"]  # Adam score uses full vectors


def test_head_restriction_names_the_tied_matrix(setting):
    policy, _, g_c, g_p = setting
    names, tied = head_parameter_names(policy.model)
    assert tied and names == ["model.embed_tokens.weight"]
    head = scores(g_c, g_p, names, prefix="head_grad")
    assert set(head) == {"head_grad_dot", "head_grad_cos", "head_grad_adam"}
