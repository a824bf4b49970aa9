from pathlib import Path

import pytest

from tap.config import config_to_toml, load_config, policy_key, world_key
from tap.errors import TapInputError

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").rglob("*.toml"))


def test_configs_directory_is_not_empty():
    assert CONFIGS, "configs/ should hold at least tiny.toml"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_checked_in_config_loads(path):
    load_config(path)


def test_tiny_toml_is_the_default():
    tiny = Path(__file__).resolve().parents[2] / "configs" / "tiny.toml"
    assert load_config(tiny) == load_config()
    # and lists every key (the recipes point readers to it): regenerate with config_to_toml(load_config())
    assert tiny.read_text() == config_to_toml(load_config())


def test_round_trip_through_toml(tmp_path):
    config = load_config(None, ["world.cohorts.size=12", "rollout.temperature=0.7"])
    path = tmp_path / "c.toml"
    path.write_text(config_to_toml(config))
    assert load_config(path) == config


def test_wrong_type_names_the_field(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[world.cohorts]\nsize = 'eight'\n")
    with pytest.raises(TapInputError) as err:
        load_config(path)
    message = str(err.value)
    assert "world.cohorts.size" in message and str(path) in message and "\n" not in message


def test_unknown_key_is_an_error(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text("[rollout]\nnum_generation = 4\n")
    with pytest.raises(TapInputError, match="rollout.num_generation"):
        load_config(path)


def test_unknown_subject_in_vendor_is_an_error(tmp_path):
    path = tmp_path / "v.toml"
    path.write_text('[[world.cohorts.vendors]]\nname = "x"\nsubjects = { history = 1.0 }\n')
    with pytest.raises(TapInputError, match="unknown subject 'history'"):
        load_config(path)


def test_knob_accepts_number_or_range():
    config = load_config(None, ['world.cohorts.vendors=[{name="v", corruption_rate=0.5, duplicate_rate=[0.1, 0.2]}]'])
    vendor = config.world.cohorts.vendors[0]
    assert vendor.corruption_rate == (0.5, 0.5) and vendor.duplicate_rate == (0.1, 0.2)


def test_keys_separate_policy_from_vendors():
    base = load_config()
    vendors_changed = load_config(None, ["world.cohorts.count=10"])
    model_changed = load_config(None, ["model.hidden_size=64"])
    assert policy_key(base) == policy_key(vendors_changed)
    assert world_key(base) != world_key(vendors_changed)
    assert policy_key(base) != policy_key(model_changed)


def test_malformed_toml_is_one_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[world\nseed = 1\n")
    with pytest.raises(TapInputError, match="not valid TOML"):
        load_config(path)
