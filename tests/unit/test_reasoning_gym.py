"""reasoning-gym as a data source: items, the task's own score_answer as verifier, non-binary rewards,
the world suite's config checks and items."""

import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("reasoning_gym")

from tap.config import ReasoningGymTask, load_config  # noqa: E402
from tap.data.load import load_items  # noqa: E402
from tap.data.reasoning_gym import parse_tasks, shorten  # noqa: E402
from tap.errors import TapInputError  # noqa: E402
from tap.features import rewards as R  # noqa: E402
from tap.features.groups import CohortRollouts, Group  # noqa: E402
from tap.features.registry import FEATURES, compute_rollout_features  # noqa: E402
from tap.grpo import group_advantages  # noqa: E402
from tap.verify import reasoning_gym as rgv  # noqa: E402
from tap.verify.registry import get_verifier, judge  # noqa: E402


def test_the_task_own_score_answer_judges():
    assert judge("reasoning_gym:gcd", " 4 ", "4").reward == 1.0
    assert judge("reasoning_gym:gcd", "think... <answer>4</answer>", "4").reward == 1.0  # the library's tag convention
    partial = judge("reasoning_gym:gcd", "14", "4")  # the library's partial credit: len(gold) / len(answer)
    assert partial.reward == 0.5 and partial.answer == "14"
    assert judge("reasoning_gym:gcd", "7", "4").reward == 0.0
    with pytest.raises(TapInputError, match="did you mean gcd"):
        get_verifier("reasoning_gym:gdc")
    with pytest.raises(TapInputError, match="reasoning_gym:<task>"):
        get_verifier("reasoning_gym")


def test_a_scorer_that_reads_metadata_gets_it_through_the_verifier_spec():
    items = load_items("reasoning-gym", tasks=[ReasoningGymTask(name="fraction_simplification", count=4)])
    spec = items.verifier.iloc[0]
    assert spec.startswith("reasoning_gym:fraction_simplification:{")  # the metadata rides along
    task, metadata = rgv.parse_spec(spec)
    assert task == "fraction_simplification" and "numerator" in metadata
    assert judge(spec, items.gold.iloc[0], items.gold.iloc[0]).reward == 1.0


def test_items_keep_the_library_metadata_and_short_prompts():
    specs = parse_tasks("gcd:max_value=12:min_value=2,spell_backward:max_word_len=4", count=10, seed=3, prompt="short")
    assert specs[0].config == {"max_value": 12, "min_value": 2} and specs[0].seed == 3
    items = load_items("reasoning-gym", tasks=specs)
    assert set(items.subject) == {"gcd", "spell_backward"} and set(items.task) == set(items.subject)
    assert (items.task_config[items.task == "gcd"] == '{"max_value": 12, "min_value": 2}').all()
    gcd = items[items.task == "gcd"].iloc[0]
    assert gcd.prompt.startswith("GCD of ") and gcd.prompt.endswith("?") and len(gcd.prompt) < 30
    assert gcd.verifier == "reasoning_gym:gcd"
    assert shorten("spell_backward", "Spell this word backward (example: sun -> nus): cat") == "Spell backward: cat ->"
    again = load_items("reasoning-gym", tasks=specs)
    pd.testing.assert_frame_equal(items, again)  # offline and deterministic from the seed


def test_bad_task_specs_are_one_line_errors():
    with pytest.raises(TapInputError, match="unknown reasoning-gym task 'gdc'"):
        parse_tasks("gdc")
    with pytest.raises(TapInputError, match="max_vale"):
        load_items("reasoning-gym", tasks=parse_tasks("gcd:max_vale=3"))
    with pytest.raises(TapInputError, match="knob=value"):
        parse_tasks("gcd:12")
    with pytest.raises(TapInputError, match="needs at least one"):
        load_config(None, ['data.source="reasoning-gym"'])


def _group(rewards):
    g = len(rewards)
    return Group(rewards=np.array(rewards, dtype=float), answers=tuple("a" if r > 0 else "b" for r in rewards),
                 n_tokens=np.full(g, 3.0), truncated=np.zeros(g, dtype=bool),
                 logprobs=tuple(np.full(3, -0.5) for _ in range(g)), entropies=tuple(np.full(3, 1.0) for _ in range(g)))


def test_every_r_feature_is_defined_on_fractional_rewards():
    # partial credit everywhere: no group is all 0 or all 1, one is constant at 0.5 (degenerate)
    cohort = CohortRollouts(
        "c", (_group([0.5, 0.5, 0.5, 0.5]), _group([0.25, 1.0, 0.0, 0.5]), _group([0.1, 0.2, 0.1, 0.2]))
    )
    table = compute_rollout_features([cohort], tags={"R"})
    r_features = [name for name, f in FEATURES.items() if f.tag == "R"]
    assert r_features and all(math.isfinite(table[name].iloc[0]) for name in r_features), table.T
    assert R.pass_rate_mean(cohort) == pytest.approx((0.5 + 0.4375 + 0.15) / 3)
    assert R.frac_nondegenerate(cohort) == pytest.approx(
        2 / 3
    )  # rewards not all equal: the constant 0.5 group teaches nothing
    assert R.frac_all_correct(cohort) == 0 and R.frac_all_wrong(cohort) == 0
    assert R.pass_at_g(cohort) == pytest.approx(1 / 3)  # only the second group has a completion above 1/2
    # GRPO's advantages: zero exactly on the degenerate group, mean zero on every group
    adv = (
        group_advantages(__import__("torch").tensor(np.concatenate([g.rewards for g in cohort.groups])), 4)
        .numpy()
        .reshape(3, 4)
    )
    assert np.allclose(adv[0], 0) and np.allclose(adv.mean(axis=1), 0, atol=1e-6) and np.abs(adv[1]).max() > 0


def _tasks_config(**extra):
    tasks = '[{name="gcd", levels=[{max_value=10}, {max_value=30}, {max_value=90}]}]'
    vendors = (
        '[{name="clean", subjects={gcd=1.0}}, '
        '{name="sloppy", subjects={gcd=1.0}, corruption_rate=[0.5, 1.0], off_format_rate=0.5}]'
    )
    sets = [
        'world.suite="reasoning-gym"',
        f"world.tasks={tasks}",
        f"world.cohorts.vendors={vendors}",
        "pretrain.behaviours={}",
        "pretrain.subject_weights={}",
        "world.probe.per_subject=9",
        "world.pool.per_level=12",
        "world.cohorts.count=6",
        "rollout.max_new_tokens=6",
    ]
    return load_config(None, sets + [f"{k.replace('__', '.')}={v}" for k, v in extra.items()])


def test_world_suite_config_checks():
    config = _tasks_config()
    assert config.world.subjects == ("gcd",)
    with pytest.raises(TapInputError, match="unknown subject 'code' \(known: gcd\)"):
        load_config(
            None, ['world.suite="reasoning-gym"', 'world.tasks=[{name="gcd", levels=[{}]}]']
        )  # the tiny vendors
    with pytest.raises(TapInputError, match="systematic_rate needs a wrong procedure"):
        load_config(
            None,
            [
                'world.suite="reasoning-gym"',
                'world.tasks=[{name="gcd", levels=[{}]}]',
                "pretrain.behaviours={}",
                "pretrain.subject_weights={}",
                'world.cohorts.vendors=[{name="s", subjects={gcd=1.0}, systematic_rate=0.5}]',
            ],
        )
    with pytest.raises(TapInputError, match="needs suite"):
        load_config(None, ['world.tasks=[{name="gcd", levels=[{}]}]'])


def test_world_items_hold_the_probe_out_and_vendors_corrupt_golds():
    from tap.world.pool import build_items
    from tap.world.vendor import make_cohorts

    config = _tasks_config()
    items = build_items(config)
    probe, pool = items[items.split == "probe"], items[items.split == "pool"]
    assert len(probe) == 9 and probe.difficulty.value_counts().to_dict() == {1: 3, 2: 3, 3: 3}
    assert not set(probe.prompt) & set(pool.prompt)  # never in a cohort, at any level
    cohorts = make_cohorts(config, items)
    assert set(cohorts.item_id) <= set(pool.item_id) and (cohorts.verifier == "reasoning_gym:gcd").all()
    corrupted = cohorts[cohorts.gold_source == "random"]
    assert len(corrupted) and all(
        judge(v, g, t).reward < 1 for v, g, t in zip(corrupted.verifier, corrupted.gold, corrupted.true_answer)
    )
    off = cohorts[cohorts.off_format]
    assert len(off) and off.prompt.str.startswith("Find the Greatest Common Divisor").all()  # the library's own wording


def test_the_reasoning_gym_world_config_builds_items_the_tiny_model_can_read():
    from pathlib import Path

    from tap.world.pool import build_items

    config = load_config(Path(__file__).resolve().parents[2] / "configs" / "reasoning-gym-tiny.toml")
    tasks = config.world.tasks
    assert config.world.suite == "reasoning-gym" and len(tasks) >= 6 and all(len(t.levels) >= 3 for t in tasks)
    items = build_items(config)
    assert set(items.subject) == {t.name for t in tasks}
    assert (items[items.split == "probe"].groupby("subject").size() == config.world.probe.per_subject).all()
    context = config.model.max_position_embeddings - config.rollout.max_new_tokens
    for column in ("prompt", "off_format_prompt", "gold"):  # the character tokenizer knows printable ASCII only
        assert items[column].map(lambda text: text.isascii() and text.isprintable()).all(), column
    assert items.prompt.str.len().max() < context and items.off_format_prompt.str.len().max() < context
    assert items.gold.str.len().max() < config.rollout.max_new_tokens  # the answer and its end token fit the budget
