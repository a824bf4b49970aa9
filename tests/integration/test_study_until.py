"""`tap study --until STAGE` stops after that stage; a later run without it goes on from there."""

import pytest

from tap.errors import TapInputError
from tap.study import run_study


def test_study_until_rollouts_runs_no_later_stage(micro_config, micro_world, tap_home, tmp_path):
    result = run_study(tmp_path, micro_config, home=tap_home, until="rollouts")
    assert [s.name for s in result.stages] == ["world", "rollouts"]
    assert (tmp_path / "rollouts.parquet").exists() and not (tmp_path / "features.parquet").exists()
    again = run_study(tmp_path, micro_config, home=tap_home, until="features")
    assert [(s.name, s.status) for s in again.stages] == [("world", "reused"), ("rollouts", "reused"),
                                                          ("features", "ran")]


def test_an_unknown_stage_is_one_clear_error(micro_config, tmp_path):
    with pytest.raises(TapInputError, match="no stage 'label'"):
        run_study(tmp_path, micro_config, until="label")
