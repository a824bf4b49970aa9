"""Predictor files: round trip, and one clear line for tampered or foreign files."""

import zipfile

import numpy as np
import pytest

from tap.errors import TapInputError
from tap.predict.artifact import load_predictor, save_predictor
from tap.predict.predictor import TAPPredictor


@pytest.fixture
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    return TAPPredictor(max_iter=20, random_state=0).fit(X, X[:, 0] + rng.normal(scale=0.1, size=60)), X


def test_round_trip_predicts_the_same(fitted, tmp_path):
    model, X = fitted
    save_predictor(model, tmp_path / "predictor.skops", {"features": ["a", "b", "c"]})
    loaded = load_predictor(tmp_path / "predictor.skops")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_interval(X)[0], model.predict_interval(X)[0])
    assert (tmp_path / "predictor.json").exists()


def test_other_format_is_one_line(tmp_path):
    path = tmp_path / "predictor.skops"
    path.write_text("this is a pickle, honest")
    with pytest.raises(TapInputError, match="not a TAP predictor file") as err:
        load_predictor(path)
    assert "\n" not in str(err.value)


def test_tampered_file_with_a_foreign_type_is_refused(fitted, tmp_path):
    model, _ = fitted
    path = tmp_path / "predictor.skops"
    save_predictor(model, path)
    with zipfile.ZipFile(path) as z:
        files = {name: z.read(name) for name in z.namelist()}
    files["schema.json"] = files["schema.json"].replace(b"tap.predict.predictor", b"os.system.evil", 1)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    with pytest.raises(TapInputError) as err:
        load_predictor(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_truncated_file_is_one_line(fitted, tmp_path):
    model, _ = fitted
    path = tmp_path / "predictor.skops"
    save_predictor(model, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(TapInputError):
        load_predictor(path)
