"""The F family's shared forward pass and the GRPO objective the G / head_align features follow."""

import itertools

import numpy as np
import pytest
import torch

from tap.advantages import Objective
from tap.features.forward import CALL_TOKENS, _chunks, forward_pass
from tap.features.gradients import CountSketch, cohort_gradient, count_sketch
from tap.features.head_align import cohort_head_gradient, cohort_weights
from tap.grpo import group_advantages, policy_loss
from tap.rollouts import rollout_cohorts


@pytest.fixture(scope="module")
def setting(micro_world, micro_policy):
    cohorts = micro_world.cohorts[micro_world.cohorts.cohort_id.isin(["c0000", "c0001", "c0002"])]
    rollouts = rollout_cohorts(micro_policy, cohorts, num_generations=4, max_new_tokens=8, seed=3)
    return micro_policy, cohorts, rollouts.sort_values(["cohort_id", "position", "sample"])


def _rows(rollouts, cohort_id):
    return rollouts[rollouts.cohort_id == cohort_id][["prompt", "token_ids", "reward"]].to_dict(orient="records")


def test_one_pass_gives_gold_nll_and_prompt_representations_as_separate_passes_do(setting):
    policy, cohorts, _ = setting
    tok = policy.tokenizer
    golds = [tok(g, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for g in cohorts.gold]
    shared = forward_pass(policy, policy.encode_prompts(list(cohorts.prompt)), golds, prompt_means=True)
    nll = np.array([-lp.mean() for lp in shared.logps])
    np.testing.assert_allclose(nll, policy.score_gold(list(cohorts.prompt), list(cohorts.gold)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        shared.prompt_means, policy.prompt_representations(list(cohorts.prompt)), rtol=1e-4, atol=1e-5
    )
    # each distinct prompt is read once, and every continuation token but the last
    distinct = {tuple(p) for p in policy.encode_prompts(list(cohorts.prompt))}
    assert shared.tokens == sum(map(len, distinct)) + sum(len(g) - 1 for g in golds)


def test_continuations_are_read_in_runs_that_weigh_padding_against_a_call():
    assert CALL_TOKENS == 256  # the hand-worked cases below assume it
    # 100 rows of width 1 and 100 of width 2: one run (656 tokens) beats two (100 + 200 + 2 calls = 812)
    assert _chunks([1] * 100 + [2] * 100) == [(0, 200)]
    # 300 and 300: one run costs 1,456, two runs 1,412
    assert _chunks([1] * 300 + [2] * 300) == [(0, 300), (300, 600)]
    # a short tail of width 8 behind 200 rows of width 2: 1,936 in one run, 992 in two
    assert _chunks([2] * 200 + [8] * 10) == [(0, 200), (200, 210)]
    assert _chunks([]) == [] and _chunks([4]) == [(0, 1)]
    # the cheapest cuts of small cases (widths in hundreds of tokens), against trying every cut
    rng = np.random.default_rng(0)
    for _ in range(200):
        widths = sorted((100 * rng.choice([1, 2, 3, 5, 9], size=int(rng.integers(1, 11)))).tolist())
        n = len(widths)

        def cost(runs):
            return sum((b - a) * widths[b - 1] + CALL_TOKENS for a, b in runs)

        every = [
            list(zip((0,) + cuts, cuts + (n,))) for k in range(n) for cuts in itertools.combinations(range(1, n), k)
        ]
        runs = _chunks(widths)
        assert [a for a, _ in runs] + [n] == [0] + [b for _, b in runs]  # consecutive, covering every row
        assert cost(runs) == min(map(cost, every))


def test_a_groups_rollouts_share_their_prompts_read_and_give_each_sequences_own_logprobs(setting):
    """G rollouts after one prompt: the prompt is read once (its cache shared), and every rollout's
    token log-probs equal a teacher-forced pass over that rollout alone (at temperature 1: the
    temperature only sets p in the head terms)."""
    policy, _, rollouts = setting
    rows = _rows(rollouts, "c0000")
    prompts, conts = policy.encode_prompts([r["prompt"] for r in rows]), [list(r["token_ids"]) for r in rows]
    shared = forward_pass(policy, prompts, conts, temperature=0.7)
    alone = policy.continuation_logps(prompts, conts)
    for ours, reference in zip(shared.logps, alone):
        np.testing.assert_allclose(ours, reference.detach().numpy(), rtol=1e-5, atol=1e-5)
    distinct = {tuple(p) for p in prompts}
    assert len(distinct) * 4 == len(prompts)  # G = 4 rollouts per prompt
    assert shared.tokens == sum(map(len, distinct)) + sum(max(len(c) - 1, 0) for c in conts)


def test_cohorts_batched_together_give_each_cohort_its_own_head_gradient(setting):
    policy, _, rollouts = setting
    objective = Objective()
    records, weights, segments = [], [], []
    for cohort_id in ("c0000", "c0001", "c0002"):
        rows = _rows(rollouts, cohort_id)
        records += rows
        weights += cohort_weights(rows, 4, objective)
        segments += [cohort_id] * len(rows)
    together = forward_pass(
        policy,
        policy.encode_prompts([r["prompt"] for r in records]),
        [list(r["token_ids"]) for r in records],
        weights=weights,
        segments=segments,
    ).head
    assert sorted(together) == ["c0000", "c0001", "c0002"]
    for cohort_id in together:
        alone = cohort_head_gradient(policy, _rows(rollouts, cohort_id), 4, objective)
        torch.testing.assert_close(together[cohort_id], alone, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("loss_type", ["dapo", "grpo", "dr_grpo"])
def test_token_weights_are_the_loss_normalizers(loss_type):
    rewards, lengths = [1.0, 0.0, 1.0, 0.0], [2, 3, 0, 5]
    weights = Objective(loss_type=loss_type, max_completion_length=8).token_weights(rewards, 2, lengths)
    adv = group_advantages(torch.tensor(rewards), 2).numpy()
    expected = {"dapo": [10] * 4, "grpo": [2 * 4, 3 * 4, 4, 5 * 4], "dr_grpo": [8 * 4] * 4}[loss_type]
    assert [len(w) for w in weights] == lengths
    for w, a, norm in zip(weights, adv, expected):
        assert np.allclose(w, a / norm)


@pytest.mark.parametrize(
    "objective",
    [Objective(), Objective(loss_type="grpo", temperature=0.7), Objective(loss_type="dr_grpo", scale_rewards="none")],
)
def test_cohort_gradient_is_minus_the_gradient_of_trls_loss_at_the_first_step(setting, objective):
    """g_c = −∇ of the clipped GRPO loss (tap.grpo.policy_loss, checked against TRL elsewhere) at
    ratio 1, with the label runs' loss type, advantage scaling and temperature."""
    policy, _, rollouts = setting
    rows = _rows(rollouts, "c0001")
    ours = cohort_gradient(policy, rows, 4, objective)
    conts = [list(r["token_ids"]) for r in rows]
    logps = policy.continuation_logps(
        policy.encode_prompts([r["prompt"] for r in rows]), conts, temperature=objective.temperature
    )
    width = max(len(c) for c in conts)
    padded = torch.zeros(len(rows), width)
    mask = torch.zeros(len(rows), width)
    for i, lp in enumerate(logps):
        padded[i, :len(lp)] = lp
        mask[i, :len(lp)] = 1
    adv = group_advantages(torch.tensor([r["reward"] for r in rows], dtype=torch.float32), 4, objective.scale_rewards)
    loss = policy_loss(padded, padded.detach(), adv, mask, loss_type=objective.loss_type,
                       max_completion_length=objective.max_completion_length)
    params = {n: p for n, p in policy.model.named_parameters() if p.requires_grad}
    reference = torch.autograd.grad(-loss, list(params.values()), allow_unused=True)
    for (name, p), g in zip(params.items(), reference):
        torch.testing.assert_close(ours[name], g if g is not None else torch.zeros_like(p), atol=1e-6, rtol=1e-4)


def test_head_gradient_follows_the_temperature(setting):
    """At temperature T the head gradient is d/dW Σ w_t log softmax(h_t Wᵀ / T)[y_t] with h fixed."""
    policy, _, rollouts = setting
    objective = Objective(temperature=0.5)
    rows = _rows(rollouts, "c0002")
    ours = cohort_head_gradient(policy, rows, 4, objective)
    weight = policy.model.get_output_embeddings().weight.detach().clone().requires_grad_(True)
    total = 0.0
    for row, w in zip(rows, cohort_weights(rows, 4, objective)):
        prompt, cont = policy.encode_prompts([row["prompt"]])[0], list(row["token_ids"])
        if not cont:
            continue
        with torch.no_grad():
            h = policy.model(input_ids=torch.tensor([prompt + cont]), output_hidden_states=True).hidden_states[-1][0]
        logp = torch.log_softmax(h[len(prompt) - 1 : -1] @ weight.T / objective.temperature, -1)[
            torch.arange(len(cont)), torch.tensor(cont)
        ]
        total = total + (logp * torch.as_tensor(w, dtype=torch.float32)).sum()
    (reference,) = torch.autograd.grad(total, weight)
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=1e-4)


def test_one_count_sketch_reuses_its_tables_and_matches_a_fresh_one(setting):
    policy, _, rollouts = setting
    g = cohort_gradient(policy, _rows(rollouts, "c0000"), 4)
    sketch = CountSketch(64, seed=2)
    first = sketch(g)
    tables = dict(sketch._tables)
    torch.testing.assert_close(sketch(g), first)
    assert all(sketch._tables[key][0] is tables[key][0] for key in tables)  # drawn once
    torch.testing.assert_close(first, count_sketch(g, 64, seed=2))


def test_the_config_rejects_a_loss_type_the_features_cannot_follow():
    from tap.config import load_config
    from tap.errors import TapInputError

    with pytest.raises(TapInputError, match="label.loss_type"):
        load_config(None, ["label.loss_type=cispo"])
    with pytest.raises(ValueError, match="features implement"):
        Objective(loss_type="sapo")
