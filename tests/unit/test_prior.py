"""A predictor that starts from a prior: with a heavy penalty it keeps the prior's ranking, with a light one it
learns the run's departures, and it saves and loads without pickle."""

import numpy as np
import pandas as pd
import pytest

from tap.evaluate.transfer import normalize
from tap.predict.artifact import load_predictor, save_predictor
from tap.predict.predictor import TAPPredictor
from tap.predict.prior import PriorPredictor, reference_normalize
from tap.stats import spearman

COLUMNS = ["pass_rate_mean", "frac_nondegenerate", "adv_std"]


@pytest.mark.parametrize("how", ["none", "z", "rank"])
def test_against_itself_the_reference_normalization_is_the_worlds(how):
    x = np.random.default_rng(0).normal(size=(25, 3))
    assert np.allclose(reference_normalize(x, x, how), normalize(x, how))


def data(seed: int, n: int = 60):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=COLUMNS)
    return X, X.to_numpy() @ np.array([1.0, 0.0, 0.0]), X.to_numpy() @ np.array([0.2, 1.0, 0.0])


@pytest.fixture
def prior():
    X, y_prior, _ = data(1)  # the prior knows only the first column
    return TAPPredictor(model="ridge", interval="none", random_state=0).fit(X, y_prior)


def test_a_heavy_penalty_keeps_the_priors_ranking(prior):
    X, _, y = data(2)
    model = PriorPredictor(prior=prior, columns=COLUMNS, normalization="z", shrinkage=1e8, interval="none").fit(X, y)
    assert spearman(model.predict(X), prior.predict(X)) > 0.999


def test_a_light_penalty_learns_the_runs_departures(prior):
    X, _, y = data(3)
    X_new, _, y_new = data(4)
    model = PriorPredictor(prior=prior, columns=COLUMNS, normalization="z", shrinkage=1e-3, interval="none").fit(X, y)
    assert spearman(model.predict(X_new), y_new) > 0.95 > spearman(prior.predict(X_new), y_new)
    assert abs(model.predict(X_new).std() - y_new.std()) < 0.2 * y_new.std()  # back in the label's units


def test_it_saves_and_loads_without_pickle_and_keeps_its_intervals(prior, tmp_path):
    X, _, y = data(5)
    model = PriorPredictor(prior=prior, columns=COLUMNS, normalization="rank", shrinkage=10.0).fit(X, y)
    save_predictor(model, tmp_path / "p.skops", {"columns": COLUMNS, "used_columns": COLUMNS})
    loaded = load_predictor(tmp_path / "p.skops")
    assert np.allclose(loaded.predict(X), model.predict(X))
    lo, hi = loaded.predict_interval(X)
    assert np.all(lo <= loaded.predict(X)) and np.all(loaded.predict(X) <= hi) and loaded.guarantee() is not None
