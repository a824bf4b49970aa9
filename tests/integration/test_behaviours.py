"""The behaviour mixture: a micro policy pretrained on it samples each subject's correct and wrong
behaviour, and an all-correct mixture gives the stream of the world before behaviours."""

import itertools

import pytest

from tap.config import load_config
from tap.types import BEHAVIOURS, SUBJECTS
from tap.world.pool import build_items, pretraining_stream
from tap.world.tiny_policy import behaviour_table, build_model, build_tokenizer, pretrain

pytestmark = pytest.mark.slow  # over ~10 s on 2 cores: `make test-all` and CI run it

# Easy items only (level 1: one-digit sums, one-statement programs, a product from small factors,
# the most frequent facts), so that a few hundred steps learn both behaviours.
MICRO = ["world.probe.per_subject=12", "world.pool.per_level=10", "world.knowledge.n_countries=8",
         "pretrain.level_weights=[1.0, 0.0, 0.0, 0.0, 0.0]", "pretrain.knowledge_repeats=[1.0, 1.0, 1.0, 1.0, 1.0]",
         "pretrain.max_steps=400", "pretrain.eval_every=400", "pretrain.batch_size=64", "pretrain.band=[0.0, 1.0]",
         "pretrain.min_mean_accuracy=0.0", "pretrain.subject_weights={math=1.0, code=1.0, science=1.0, knowledge=1.0}"]


def test_the_stream_mixes_behaviours_by_their_weights():
    config = load_config(None, ["world.probe.per_subject=4", "world.pool.per_level=4",
                                "pretrain.behaviours={math={correct=0.8, drop_carry=0.2}}"])
    items = build_items(config)
    probe = set(items[items.split == "probe"].prompt)
    answers = list(itertools.islice(pretraining_stream(config, probe), 4000))
    # subjects left out of the table are all correct; math follows 0.8 / 0.2 where its behaviours disagree
    math = [(p, a) for p, a in answers if p.endswith("=")]
    assert math and all(not a.startswith("x=") and not a.endswith(".") for _, a in answers)
    wrong = sum(a != str(eval(p[:-1])) for p, a in math)  # noqa: S307 - generated arithmetic
    share = wrong / len(math)
    assert 0.05 < share < 0.2  # 0.2 of the draws, less the items where no carry is dropped


def test_an_all_correct_mixture_gives_the_stream_of_the_world_before_behaviours():
    old = load_config("configs/tiny-interference.toml", ["world.probe.per_subject=4", "world.pool.per_level=4"])
    items = build_items(old)
    probe = set(items[items.split == "probe"].prompt)
    stream = list(itertools.islice(pretraining_stream(old, probe), 500))
    math = [(p, a) for p, a in stream if p.endswith("=")]
    assert math and all(a == str(eval(p[:-1])) for p, a in math)  # noqa: S307 - generated arithmetic
    assert not any(a.startswith("x=") or a.endswith(".") for _, a in stream)


@pytest.fixture(scope="module")
def mixed_policy():
    from tap.policy.hf import HFPolicy

    config = load_config(None, MICRO)
    items = build_items(config)
    probe = items[(items.split == "pool") & (items.difficulty == 1)].groupby("subject").head(12).reset_index(drop=True)
    tokenizer = build_tokenizer()
    model = build_model(config, tokenizer)
    pretrain(config, model, tokenizer, items[items.split == "probe"].reset_index(drop=True))
    return HFPolicy(model, tokenizer, batch_size=256), probe


def test_a_pretrained_micro_policy_samples_each_behaviour(mixed_policy):
    policy, probe = mixed_policy
    samples = policy.sample(list(probe.prompt), 16, max_new_tokens=8, seed=0)
    seen = {s: {"correct": 0, "wrong": 0} for s in SUBJECTS}
    for item, group in zip(probe.itertuples(), samples):
        for completion in group:
            text = completion.text.strip()
            seen[item.subject]["correct"] += text == item.gold
            seen[item.subject]["wrong"] += item.wrong_answer != item.gold and text == item.wrong_answer
    for subject in SUBJECTS:
        assert seen[subject]["correct"] > 0 and seen[subject]["wrong"] > 0, (subject, BEHAVIOURS[subject], seen)
    table = behaviour_table(policy, probe).set_index("subject")
    assert (table.p_wrong_divergent > 0.02).all() and (table.p_correct_divergent > 0.02).all(), table
    assert (table.pass_8 > table.pass_1).all()
