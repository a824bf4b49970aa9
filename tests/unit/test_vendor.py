import pandas as pd
import pytest

from tap.config import load_config
from tap.world.pool import build_items
from tap.world.vendor import make_cohorts


def _world(*overrides: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    config = load_config(None, list(overrides))
    items = build_items(config)
    return items, make_cohorts(config, items)


def test_default_cohorts_have_size_knobs_and_no_probe_items():
    items, cohorts = _world()
    config = load_config()
    sizes = cohorts.groupby("cohort_id").size()
    assert len(sizes) == config.world.cohorts.count and (sizes == config.world.cohorts.size).all()
    probe_ids = set(items[items.split == "probe"].item_id)
    assert not probe_ids & set(cohorts.item_id)
    for knob in ("vendor", "difficulty_lo", "difficulty_hi", "corruption_rate", "duplicate_rate", "off_format_rate"):
        assert cohorts.groupby("cohort_id")[knob].nunique().max() == 1, f"{knob} is per cohort"


def test_cohorts_are_deterministic():
    assert _world()[1].equals(_world()[1])


def test_full_corruption_replaces_every_gold():
    _, cohorts = _world('world.cohorts.vendors=[{name="bad", corruption_rate=1.0}]', "world.cohorts.count=10")
    assert cohorts.corrupted.all()
    assert (cohorts.gold != cohorts.true_answer).all()


def test_clean_vendor_delivers_clean_items():
    _, cohorts = _world('world.cohorts.vendors=[{name="clean"}]', "world.cohorts.count=10")
    assert not cohorts[["corrupted", "duplicate", "off_format"]].any().any()
    assert (cohorts.gold == cohorts.true_answer).all()


def test_duplicates_and_off_format_follow_their_rates():
    _, cohorts = _world(
        'world.cohorts.vendors=[{name="dup", duplicate_rate=0.5, off_format_rate=1.0}]', "world.cohorts.count=40"
    )
    assert cohorts.off_format.all()
    per_cohort = cohorts.groupby("cohort_id").item_id.agg(lambda ids: len(ids) - ids.nunique())
    # 0.5 of the 7 non-first slots are duplicates on average: 3.5 per cohort
    assert 2.5 < per_cohort.mean() < 4.5
    assert (cohorts.groupby("cohort_id").duplicate.sum() == per_cohort).all()
    assert not (cohorts.prompt.str.endswith("=") & (cohorts.subject == "math")).any()


def test_any_vendor_mix_and_size_work():
    _, cohorts = _world(
        'world.cohorts.vendors=[{name="a", subjects={code=1.0}, difficulty=[5,5]}, {name="b", mixed=true, weight=3.0}]',
        "world.cohorts.size=20",
        "world.cohorts.count=12",
    )
    assert (cohorts.groupby("cohort_id").size() == 20).all()
    single = cohorts[cohorts.vendor == "a"]
    assert (single.subject == "code").all() and (single.difficulty == 5).all()
    mixed = cohorts[cohorts.vendor == "b"]
    assert (mixed.cohort_subject == "mixed").all() and mixed.groupby("cohort_id").subject.nunique().max() > 1


def test_pool_too_small_is_a_clear_error():
    with pytest.raises(ValueError, match="raise world.pool.per_level"):
        _world(
            'world.cohorts.vendors=[{name="a", subjects={math=1.0}}]', "world.pool.per_level=1", "world.cohorts.size=30"
        )


def test_two_kinds_of_corruption():
    """Random wrong golds are nearby numbers / other values; systematic ones are the wrong procedure's answers."""
    items, cohorts = _world(
        'world.cohorts.vendors=[{name="random", corruption_rate=1.0}, {name="systematic", systematic_rate=1.0}]',
        "world.cohorts.count=40",
    )
    wrong = items.set_index("item_id").wrong_answer
    random_rows, systematic_rows = cohorts[cohorts.vendor == "random"], cohorts[cohorts.vendor == "systematic"]
    assert len(random_rows) and len(systematic_rows)
    assert (random_rows.gold_source == "random").all() and (random_rows.gold != random_rows.true_answer).all()
    assert (random_rows.gold != random_rows.item_id.map(wrong)).mean() > 0.9  # random, not the wrong procedure
    assert (systematic_rows.gold_source == "systematic").all()
    assert (systematic_rows.gold == systematic_rows.item_id.map(wrong)).all()
    # corrupted means the delivered gold is wrong: where the wrong procedure agrees with the truth, it is not
    assert (systematic_rows.corrupted == (systematic_rows.gold != systematic_rows.true_answer)).all()
    assert 0 < systematic_rows.corrupted.mean() < 1
    assert (systematic_rows.systematic_rate == 1.0).all() and (random_rows.systematic_rate == 0.0).all()


def test_systematic_and_random_corruption_share_a_cohort_without_overlap():
    _, cohorts = _world(
        'world.cohorts.vendors=[{name="both", corruption_rate=0.5, systematic_rate=0.5}]', "world.cohorts.count=20"
    )
    per = cohorts.groupby("cohort_id").gold_source.value_counts().unstack(fill_value=0)
    assert ((per["random"] + per["systematic"]) <= 8).all() and per["systematic"].sum() > 0 and per["random"].sum() > 0


def test_a_world_without_systematic_vendors_keeps_its_cohorts():
    """The knob is drawn only when a vendor has it, so adding it changed no older world's cohorts."""
    old = 'world.cohorts.vendors=[{name="sloppy", corruption_rate=[0.2, 0.6], duplicate_rate=[0.0, 0.3]}]'
    _, a = _world(old, "world.cohorts.count=10")
    _, b = _world('world.cohorts.vendors=[{name="sloppy", corruption_rate=[0.2, 0.6], duplicate_rate=[0.0, 0.3]}, '
                  '{name="s", systematic_rate=1.0, weight=1e-9}]', "world.cohorts.count=10")
    assert a.drop(columns=["vendor"]).equals(b.drop(columns=["vendor"]))


def test_disjoint_cohorts_share_no_item_while_the_pool_has_unused_ones_and_then_reuse():
    _, shared = _world("world.cohorts.count=48")
    _, disjoint = _world("world.cohorts.count=48", "world.cohorts.disjoint=true")
    owners = lambda c: c.drop_duplicates(["cohort_id", "item_id"]).groupby("item_id").cohort_id.nunique()  # noqa: E731
    assert owners(shared).max() > 1 and owners(disjoint).max() == 1  # 48 cohorts fit in the default pool
    assert (disjoint.groupby("cohort_id").size() == 8).all()
    _, tight = _world("world.cohorts.count=24", "world.cohorts.disjoint=true", "world.pool.per_level=2",
                      'world.cohorts.vendors=[{name="clean", subjects={math=1.0}}]')
    assert (tight.groupby("cohort_id").size() == 8).all() and owners(
        tight
    ).max() > 1  # 10 math items: reused once used up
    assert (tight.groupby("cohort_id").item_id.nunique() == 8).all()  # never twice within one cohort
