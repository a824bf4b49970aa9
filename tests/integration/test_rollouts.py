"""The sampler on a real (micro-pretrained) tiny model: log-probs, rewards, determinism, CLI."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from tap.rollouts import ROLLOUT_COLUMNS, rollout_cohorts
from tap.verify.exact import exact_match, extract_short_answer
from tests.conftest import MICRO, run_tap


@pytest.fixture(scope="module")
def cohorts(micro_world) -> pd.DataFrame:
    return micro_world.cohorts


@pytest.fixture(scope="module")
def rollouts(micro_policy, cohorts) -> pd.DataFrame:
    return rollout_cohorts(micro_policy, cohorts, num_generations=4, max_new_tokens=6, seed=3, prompts_per_batch=40)


def test_every_item_gets_g_completions_with_all_fields(rollouts, cohorts):
    assert list(rollouts.columns) == ROLLOUT_COLUMNS
    assert len(rollouts) == 4 * len(cohorts)
    assert set(rollouts.finish_reason) <= {"eos", "length"}
    lengths = rollouts.token_ids.map(len)
    assert (lengths == rollouts.n_tokens).all()
    assert (rollouts.logprobs.map(len) == lengths).all() and (rollouts.entropies.map(len) == lengths).all()
    assert (rollouts[rollouts.finish_reason == "length"].n_tokens == 6).all()


def test_each_completion_carries_its_generation_cost(rollouts, micro_policy):
    assert (rollouts.gen_seconds > 0).all()
    prompt_tokens = np.array([len(ids) for ids in micro_policy.encode_prompts(list(rollouts.prompt))])
    expected = 2.0 * micro_policy.num_parameters * (prompt_tokens + rollouts.n_tokens.to_numpy())
    np.testing.assert_allclose(rollouts.gen_flops, expected)


def test_stored_logprobs_equal_a_teacher_forced_forward_pass(rollouts, micro_policy):
    sample = rollouts.sample(200, random_state=0)
    prompt_ids = micro_policy.encode_prompts(list(sample.prompt))
    forced = micro_policy.token_logprobs(prompt_ids, [list(t) for t in sample.token_ids])
    for stored, recomputed in zip(sample.logprobs, forced):
        np.testing.assert_allclose(np.asarray(stored), recomputed, atol=1e-4, rtol=0)


def test_entropies_are_those_of_the_full_next_token_distribution(rollouts, micro_policy):
    row = rollouts.iloc[0]
    ids = micro_policy.encode_prompts([row.prompt])[0] + list(row.token_ids)
    with torch.no_grad():
        logits = micro_policy.model(input_ids=torch.tensor([ids])).logits[0]
    logp = torch.log_softmax(logits, -1)
    start = len(ids) - len(row.token_ids) - 1
    expected = -(logp.exp() * logp).sum(-1)[start:start + len(row.token_ids)]
    np.testing.assert_allclose(row.entropies, expected.numpy(), atol=1e-4)


def test_rewards_match_the_verifier(rollouts):
    for row in rollouts.itertuples():
        answer = extract_short_answer(row.text)
        stored = row.answer if isinstance(row.answer, str) else None  # missing is None/NaN in pandas
        assert stored == answer
        assert row.reward == exact_match(answer, row.gold)


def test_same_seed_same_rollouts_and_other_seed_differs(micro_policy, cohorts):
    part = cohorts[cohorts.cohort_id.isin(cohorts.cohort_id.unique()[:2])]
    a = rollout_cohorts(micro_policy, part, num_generations=4, max_new_tokens=6, seed=5)
    b = rollout_cohorts(micro_policy, part, num_generations=4, max_new_tokens=6, seed=5)
    c = rollout_cohorts(micro_policy, part, num_generations=4, max_new_tokens=6, seed=6)
    assert a.text.tolist() == b.text.tolist()
    assert a.text.tolist() != c.text.tolist()


def test_sampling_is_not_truncated_to_top_k(micro_policy):
    # With top-k switched off, tokens outside the 50 most likely ones must be reachable.
    completions = micro_policy.sample(["x="], 400, max_new_tokens=1, temperature=5.0, seed=0)[0]
    assert len({c.token_ids[0] for c in completions}) > 50


def test_gold_nll_is_mean_token_nll_including_the_end_token(micro_policy):
    nll = micro_policy.score_gold(["1+1="], ["2"])[0]
    tok = micro_policy.tokenizer
    ids = tok("1+1=")["input_ids"]
    with torch.no_grad():
        logits = micro_policy.model(input_ids=torch.tensor([ids + tok("2")["input_ids"]])).logits[0]
    logp = torch.log_softmax(logits, -1)
    expected = -(logp[len(ids) - 1, tok("2")["input_ids"][0]] + logp[len(ids), tok.eos_token_id]) / 2
    assert nll == pytest.approx(float(expected), abs=1e-5)


def test_cli_rollout_on_16_cohorts_writes_parquet(micro_world, tap_home, tmp_path):
    cohorts_path = tmp_path / "cohorts.parquet"
    micro_world.cohorts.to_parquet(cohorts_path)
    sets = [arg for pair in (("--set", s) for s in MICRO + ["rollout.num_generations=4"]) for arg in pair]
    result = run_tap(
        "rollout", str(cohorts_path), *sets, "--max-cohorts", "16", "--show", "1", env={"TAP_HOME": str(tap_home)}
    )
    assert result.returncode == 0, result.stderr
    table = pq.read_table(tmp_path / "rollouts.parquet").to_pandas()
    assert table.cohort_id.nunique() == 16 and len(table) == 16 * 8 * 4
    assert {"text", "answer", "reward", "n_tokens", "finish_reason", "logprobs", "entropies"} <= set(table.columns)
    assert "gold=" in result.stdout
