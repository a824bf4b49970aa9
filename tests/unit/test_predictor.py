"""TAPPredictor: the scikit-learn estimator contract, family selection and interval coverage."""

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from tap.predict.predictor import TAPPredictor


@parametrize_with_checks([TAPPredictor(random_state=0, max_iter=20), TAPPredictor(model="ridge", interval="split", random_state=0)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"adv_std": rng.normal(size=n), "gold_nll": rng.normal(size=n), "grad_dot": rng.normal(size=n)})
    y = 2 * frame.adv_std + frame.gold_nll + rng.normal(scale=0.5, size=n)
    return frame, y.to_numpy()


def test_families_select_columns_by_cost_tag():
    X, y = _data()
    assert list(TAPPredictor(families=("R",)).fit(X, y).columns_) == [0]
    assert list(TAPPredictor(families=("R", "F")).fit(X, y).columns_) == [0, 1]
    assert list(TAPPredictor(families=("R", "F", "G")).fit(X, y).columns_) == [0, 1, 2]
    with pytest.raises(ValueError, match="no feature of the families"):
        TAPPredictor(families=("X",)).fit(X, y)


@pytest.mark.parametrize("interval", ["split", "jackknife+"])
@pytest.mark.parametrize("model", ["ridge", "gbm"])
def test_intervals_reach_nominal_coverage_on_fresh_data(model, interval):
    X, y = _data(400, seed=1)
    Xn, yn = _data(2000, seed=2)
    fitted = TAPPredictor(model=model, interval=interval, level=0.9, random_state=0, max_iter=50).fit(X, y)
    lo, hi = fitted.predict_interval(Xn)
    coverage = np.mean((yn >= lo) & (yn <= hi))
    assert 0.85 <= coverage <= 0.97, coverage  # nominal 0.90; jackknife+ is conservative by design
    if interval == "split":  # split intervals are centred on the point prediction; CV+ ones need not be
        assert np.allclose((lo + hi) / 2, fitted.predict(Xn))


def test_interval_none_fits_the_point_model_only():
    X, y = _data(60, seed=3)
    point = TAPPredictor(interval="none", random_state=0, max_iter=30).fit(X, y)
    full = TAPPredictor(interval="jackknife+", random_state=0, max_iter=30).fit(X, y)
    assert not hasattr(point, "fold_models_")
    np.testing.assert_allclose(point.predict(X), full.predict(X))  # the same model on all rows
    with pytest.raises(ValueError, match="interval='none'"):
        point.predict_interval(X)
