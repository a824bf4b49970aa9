"""A dataset study's items, held-out probe and cohorts from [data]; the presets' budgets and stops."""

import json

import pytest

from tap.config import load_config
from tap.data.build import build_dataset
from tap.errors import TapInputError
from tap.policy.load import stop_strings


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _gsm8k(path, n):
    return _jsonl(path, [{"question": f"{i}+1=", "answer": f"#### {i + 1}"} for i in range(n)])


def _sciq(path, n):
    return _jsonl(path, [{"question": f"q{i}?", "correct_answer": "yes", "distractor1": "no", "distractor2": "maybe",
                          "distractor3": "never"} for i in range(n)])


def test_probe_is_held_out_and_cohorts_are_cut_from_the_rest(tmp_path):
    source = _gsm8k(tmp_path / "g.jsonl", 30)
    config = load_config(
        None, [f'data.source="{source}"', "data.preset=gsm8k", "data.probe_size=6", "data.cohort_size=4"]
    )
    items, cohorts = build_dataset(config)
    probe = items[items.split == "probe"]
    assert len(probe) == 6 and (items.split == "pool").sum() == 24
    assert cohorts.cohort_id.nunique() == 6 and not set(probe.item_id) & set(cohorts.item_id)
    assert build_dataset(config)[1].equals(cohorts)  # deterministic under data.seed


def test_mix_spreads_the_probe_over_subjects_and_keeps_cohorts_pure(tmp_path):
    mix = (f'data.mix=[{{source = "{_gsm8k(tmp_path / "g.jsonl", 20)}", preset = "gsm8k"}}, '
           f'{{source = "{_sciq(tmp_path / "s.jsonl", 12)}", preset = "sciq"}}]')
    config = load_config(None, [mix, "data.probe_size=6", "data.cohort_size=4", "data.chunk_by=subject"])
    items, cohorts = build_dataset(config)
    assert items[items.split == "probe"].subject.value_counts().to_dict() == {"math": 3, "science": 3}
    assert cohorts.groupby("cohort_id").subject.nunique().max() == 1
    assert set(cohorts.verifier) == {"math", "mcq"}
    # a mix takes the largest completion budget and every preset's stop strings
    assert config.rollout.max_new_tokens == 256 and config.label.max_completion_length == 256
    assert set(stop_strings(config)) == {"\nQuestion:"}


def test_data_budget_overrides_the_preset_and_the_tiny_default_is_untouched():
    assert load_config(None, ["data.preset=math"]).rollout.max_new_tokens == 512
    assert load_config(None, ["data.preset=math", "data.max_new_tokens=64"]).label.probe_max_new_tokens == 64
    assert load_config().rollout.max_new_tokens == 8 and stop_strings(load_config()) == ()


def test_too_small_a_dataset_for_its_probe_is_one_line(tmp_path):
    source = _gsm8k(tmp_path / "g.jsonl", 5)
    config = load_config(None, [f'data.source="{source}"', "data.preset=gsm8k", "data.probe_size=5"])
    with pytest.raises(TapInputError, match="too few to hold out"):
        build_dataset(config)
    with pytest.raises(TapInputError, match="unknown preset"):
        load_config(None, ["data.preset=gsm9k"])
