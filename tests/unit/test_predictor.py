"""TAPPredictor: the scikit-learn estimator contract, family selection and interval coverage."""

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from tap.predict.predictor import TAPPredictor


@parametrize_with_checks(
    [TAPPredictor(random_state=0, max_iter=20), TAPPredictor(model="ridge", interval="split", random_state=0)]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"adv_std": rng.normal(size=n), "gold_nll": rng.normal(size=n), "grad_dot": rng.normal(size=n)}
    )
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


def test_split_conformal_with_too_few_calibration_points_is_unbounded():
    """⌈(n_cal + 1)·0.9⌉ > n_cal below 9 calibration cohorts: the method gives no finite end."""
    X, y = _data(20, seed=4)  # 5 calibration cohorts
    fitted = TAPPredictor(model="ridge", interval="split", random_state=0).fit(X, y)
    lo, hi = fitted.predict_interval(X)
    assert np.isneginf(lo).all() and np.isposinf(hi).all() and not fitted.bounded()
    enough = TAPPredictor(model="ridge", interval="split", random_state=0).fit(
        *_data(40, seed=4)
    )  # 10 calibration cohorts
    assert enough.bounded() and np.isfinite(enough.predict_interval(X)[0]).all()


def test_cv_plus_ranks_outside_one_to_n_give_an_unbounded_side():
    """n = 7 at level 0.9: ⌊0.1·8⌋ = 0 and ⌈0.9·8⌉ = 8 > 7, so both ends are infinite; n = 9: both finite."""
    small = TAPPredictor(model="ridge", random_state=0).fit(*_data(7, seed=5))
    lo, hi = small.predict_interval(_data(3, seed=6)[0])
    assert np.isneginf(lo).all() and np.isposinf(hi).all() and not small.bounded()
    nine = TAPPredictor(model="ridge", random_state=0).fit(*_data(9, seed=5))
    assert nine.bounded() and np.isfinite(np.concatenate(nine.predict_interval(_data(3, seed=6)[0]))).all()


def test_cv_plus_states_the_guarantee_of_barber_et_al():
    """1 − 2α − min{2(1 − 1/K)/(n/K + 1), (1 − K/n)/(K + 1)}: n = 64, K = 5, α = 0.1 -> 0.8 − 0.1159."""
    fitted = TAPPredictor(model="ridge", random_state=0).fit(*_data(64, seed=7))
    assert fitted.guarantee() == pytest.approx(0.8 - min(2 * 0.8 / (64 / 5 + 1), (1 - 5 / 64) / 6))
    assert TAPPredictor(model="ridge", interval="split", random_state=0).fit(*_data(64, seed=7)).guarantee() == 0.9
    errors = fitted.heldout_errors_
    assert (
        errors.shape == (64,)
        and np.allclose(np.abs(errors), fitted.residuals_)
        and (errors < 0).any()
        and (errors > 0).any()
    )


def _gated_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"adv_std": rng.normal(size=n), "frac_nondegenerate": rng.uniform(0, 1, size=n)})
    frame.loc[: n // 4, "frac_nondegenerate"] = 0.0  # a quarter of the cohorts had no learning signal
    y = 2 * frame.adv_std + rng.normal(scale=0.3, size=n)
    closed = (frame.frac_nondegenerate == 0).to_numpy()
    y[closed] = 5.0 + 10 * frame.adv_std[closed]  # nothing the open cohorts' model should learn from
    return frame, y.to_numpy(), closed


def test_the_gate_fits_on_cohorts_with_a_learning_signal_and_gives_the_others_the_shrunk_mean():
    X, y, closed = _gated_data()
    gated = TAPPredictor(model="ridge", interval="none", gate="nondegenerate").fit(X, y)
    alone = TAPPredictor(model="ridge", interval="none").fit(X[~closed], y[~closed])
    pred = gated.predict(X)
    np.testing.assert_allclose(pred[~closed], alone.predict(X[~closed]))  # the closed cohorts never reach the fit
    np.testing.assert_allclose(pred[closed], y[closed].sum() / (closed.sum() + 1))
    assert "gated on frac_nondegenerate > 0" in gated.describe()
    by_index = TAPPredictor(model="ridge", interval="none", gate=1).fit(X.to_numpy(), y)  # bare arrays: an index
    np.testing.assert_allclose(by_index.predict(X.to_numpy()), pred)
    ungated = TAPPredictor(model="ridge", interval="none").fit(X, y)
    assert not np.allclose(ungated.predict(X)[closed], pred[closed])
    no_column = TAPPredictor(model="ridge", interval="none", gate="nondegenerate").fit(X[["adv_std"]], y)
    assert no_column.gate_ is None  # no frac_nondegenerate: nothing to gate on


@pytest.mark.parametrize("interval", ["split", "jackknife+"])
def test_gated_intervals_still_cover_and_auto_chooses_with_the_gate(interval):
    X, y, _ = _gated_data(400, seed=1)
    Xn, yn, _ = _gated_data(2000, seed=2)
    fitted = TAPPredictor(model="ridge", interval=interval, gate="nondegenerate", random_state=0).fit(X, y)
    lo, hi = fitted.predict_interval(Xn)
    assert 0.85 <= np.mean((yn >= lo) & (yn <= hi)) <= 0.97
    auto = TAPPredictor(model="auto", families=("R",), interval="none", gate="nondegenerate", random_state=0)
    assert auto.fit(X, y).gate_ == 1 and np.isfinite(auto.predict(Xn)).all()


@pytest.mark.parametrize("interval", ["split", "jackknife+"])
def test_the_probability_of_harm_is_calibrated_on_fresh_data(interval):
    X, y = _data(400, seed=4)
    Xn, yn = _data(4000, seed=5)
    fitted = TAPPredictor(model="ridge", interval=interval, random_state=0).fit(X, y)
    p = fitted.probability_below(Xn, 0.0)
    n = len(fitted.heldout_errors_)
    assert p.min() >= 0.5 / (n + 1) and p.max() <= (n + 0.5) / (n + 1)
    for lo, hi in [(0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0)]:  # reliability bins
        rows = (p >= lo) & (p < hi)
        assert abs(np.mean(yn[rows] < 0) - p[rows].mean()) < 0.1, (lo, hi)  # 100-400 calibration errors: ±0.05 noise
    assert abs(np.mean(yn < 0) - p.mean()) < 0.04
    assert np.all(fitted.probability_below(Xn, 1.0) >= p)  # a distribution function: monotone in the threshold
    with pytest.raises(ValueError, match="interval='none'"):
        TAPPredictor(model="ridge", interval="none").fit(X, y).probability_below(X)
