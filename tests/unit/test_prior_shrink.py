"""A label-free prior inside TAPPredictor: the prior's ranking at zero labels, shrinkage toward it with few,
the labels' own ranking with many, and auto's one-standard-error choice among prior-shrunk candidates."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from tap.predict.artifact import load_predictor, save_predictor
from tap.predict.predictor import TAPPredictor
from tap.predict.shrink import ShrunkToPrior, prior_for


def _world(n, seed=0, prior_strength=0.5, other_strength=1.0):
    """y = other_strength·adv_std + prior_strength·head_align_dot + noise; the prior is head_align_dot."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"adv_std": rng.normal(size=n), "pass_rate_mean": rng.uniform(size=n),
                      "frac_nondegenerate": rng.uniform(0.1, 1.0, n), "head_align_dot": rng.normal(size=n)})
    y = other_strength * X.adv_std.to_numpy() + prior_strength * X.head_align_dot.to_numpy() + 0.5 * rng.normal(size=n)
    return X, y


def _rank_equal(a, b) -> bool:
    return spearmanr(a, b)[0] == pytest.approx(1.0)


@pytest.mark.parametrize("model", ["ridge", "gbm", "auto", "prior"])
def test_with_zero_labels_the_prediction_is_the_priors_ranking(model):
    X, _ = _world(40)
    fitted = TAPPredictor(model=model, prior="head_align_dot", random_state=0).fit(X.iloc[:0], np.zeros(0))
    predicted = fitted.predict(X)
    assert _rank_equal(predicted, X.head_align_dot) and np.allclose(predicted, X.head_align_dot)
    lo, hi = fitted.predict_interval(X)
    assert np.isneginf(lo).all() and np.isposinf(hi).all()  # nothing calibrates an interval without labels
    assert np.allclose(fitted.probability_below(X, 0.0), 0.5) and not fitted.bounded() and fitted.guarantee() == 0.0
    assert "prior head_align_dot" in fitted.describe()


def test_the_prior_alone_keeps_its_ranking_whatever_the_labels_say():
    X, y = _world(60, other_strength=3.0)
    fitted = TAPPredictor(model="prior", prior="head_align_dot", random_state=0).fit(X, y)
    assert _rank_equal(fitted.predict(X), X.head_align_dot)
    assert fitted.describe().startswith("the prior head_align_dot alone")
    lo, hi = fitted.predict_interval(X)
    assert np.isfinite(lo).all() and (lo < hi).all()


def test_a_strong_penalty_keeps_few_labels_near_the_prior_and_many_labels_move_it():
    X, y = _world(600, seed=3, prior_strength=0.3, other_strength=1.0)
    test = slice(400, 600)

    def rho(n, alpha):
        model = TAPPredictor(model="ridge", alpha=alpha, prior="head_align_dot", interval="none")
        return spearmanr(model.fit(X.iloc[:n], y[:n]).predict(X.iloc[test]), y[test])[0]

    prior_rho = spearmanr(X.head_align_dot.iloc[test], y[test])[0]
    few = TAPPredictor(model="ridge", alpha=1000.0, prior="head_align_dot", interval="none").fit(X.iloc[:8], y[:8])
    assert spearmanr(few.predict(X.iloc[test]), X.head_align_dot.iloc[test])[0] > 0.95  # still the prior's ranking
    assert rho(400, 1.0) > prior_rho + 0.3  # the labels' own signal (adv_std) learned
    scratch = TAPPredictor(model="ridge", alpha=1.0, interval="none").fit(X.iloc[:400], y[:400])
    assert rho(400, 1.0) == pytest.approx(spearmanr(scratch.predict(X.iloc[test]), y[test])[0], abs=0.03)


def test_shrunk_to_prior_is_a_ridge_whose_prior_mean_weighs_the_standardized_prior_one():
    from sklearn.linear_model import Ridge

    X, y = _world(50, seed=5)
    A = X[["adv_std", "pass_rate_mean", "head_align_dot"]].to_numpy()
    model = ShrunkToPrior(Ridge(alpha=2.0)).fit(A, y)
    p = A[:, -1]
    u = (p - p.mean()) / p.std()
    residual = Ridge(alpha=2.0).fit(A[:, :-1], (y - y.mean()) / y.std() - u)
    assert np.allclose(model.predict(A), y.mean() + y.std() * (u + residual.predict(A[:, :-1])))
    assert model.predict(np.column_stack([A[:3, :-1], np.full(3, np.nan)])).shape == (3,)  # unknown prior: its mean


def test_prior_for_maps_a_name_to_its_column_and_drops_a_missing_one():
    assert prior_for("head_align_dot", ["adv_std", "head_align_dot"]) == 1
    assert prior_for("head_align_dot", ["adv_std"]) == "none" and prior_for("none", ["adv_std"]) == "none"
    with pytest.raises(ValueError, match="not a column"):
        TAPPredictor(model="ridge", prior="grad_cos").fit(*_world(20))
    with pytest.raises(ValueError, match="needs a prior"):
        TAPPredictor(model="prior").fit(*_world(20))


def test_auto_prefers_the_prior_when_the_labels_are_noise_and_leaves_it_when_they_are_not():
    X, _ = _world(64, seed=1)
    noise = np.random.default_rng(9).normal(size=64)
    chose_prior = TAPPredictor(model="auto", prior="head_align_dot", interval="none", random_state=0).fit(X, noise)
    assert chose_prior.choice_["model"] == "prior" or chose_prior.choice_.get("alpha") == 1000.0
    assert len(chose_prior.inner_scores_) == len(chose_prior._candidates(None))
    assert chose_prior.inner_scores_[0]["model"] == "prior"
    X, y = _world(160, seed=2, prior_strength=0.0, other_strength=2.0)
    learned = TAPPredictor(model="auto", prior="head_align_dot", interval="none", random_state=0).fit(X, y)
    assert learned.choice_["model"] != "prior"
    best = max(s["inner_spearman"] for s in learned.inner_scores_)
    se = next(s["inner_standard_error"] for s in learned.inner_scores_ if s["inner_spearman"] == best)
    chosen = learned.inner_scores_[[s["inner_spearman"] for s in learned.inner_scores_].index(
        next(s["inner_spearman"] for s in learned.inner_scores_ if s["inner_spearman"] >= best - se))]
    assert {k: chosen[k] for k in learned.choice_} == learned.choice_  # the first within one SE of the best


def test_auto_with_a_prior_and_under_three_item_groups_is_the_prior_alone():
    X, y = _world(6)
    fitted = TAPPredictor(model="auto", prior="head_align_dot", interval="none").fit(X, y, groups=[0, 0, 0, 1, 1, 1])
    assert fitted.choice_["model"] == "prior" and _rank_equal(fitted.predict(X), X.head_align_dot)


CHOICE = """
import numpy as np, pandas as pd
from tests.unit.test_prior_shrink import _world
from tap.predict.predictor import TAPPredictor
X, y = _world(64, seed=4, prior_strength=0.4, other_strength=0.6)
for _ in range(2):
    f = TAPPredictor(model="auto", prior="head_align_dot", gate="nondegenerate", random_state=0).fit(X, y)
    print(sorted(f.choice_.items()))
"""


def test_auto_with_a_prior_chooses_the_same_under_refits_and_hash_seeds():
    runs = []
    for seed in ("0", "123"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", CHOICE], capture_output=True, text=True, env=env, check=True,
                             cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
        runs += out.stdout.strip().splitlines()
    assert len(runs) == 4 and len(set(runs)) == 1


def test_a_predictor_with_a_prior_and_the_gate_survives_save_and_load(tmp_path):
    X, y = _world(48, seed=6)
    X.loc[:4, "frac_nondegenerate"] = 0.0
    fitted = TAPPredictor(model="ridge", alpha=10.0, prior="head_align_dot", gate="nondegenerate",
                          random_state=0).fit(X, y)
    assert "shrunk toward the prior head_align_dot" in fitted.describe() and "gated" in fitted.describe()
    save_predictor(fitted, tmp_path / "p.skops")
    loaded = load_predictor(tmp_path / "p.skops")
    np.testing.assert_allclose(loaded.predict(X), fitted.predict(X))
    np.testing.assert_allclose(loaded.predict_interval(X), fitted.predict_interval(X))
    assert len(set(np.round(fitted.predict(X.iloc[:5]), 12))) == 1  # closed cohorts: one constant


def test_the_configured_predictor_reads_its_prior_by_name_or_index_and_leaves_out_one_the_features_lack():
    from pydantic import ValidationError

    from tap.api.predict import configured_predictor
    from tap.config import load_config
    from tap.config.sections import PredictorConfig
    from tap.errors import TapInputError

    config = load_config()
    config = config.model_copy(update={"predictor": PredictorConfig(prior="head_align_dot")})
    columns = ["adv_std", "frac_nondegenerate", "head_align_dot"]
    assert configured_predictor(config, columns).prior == "head_align_dot"
    bare = configured_predictor(config, columns, arrays=True, interval="none")
    assert (bare.prior, bare.gate, bare.interval) == (2, 1, "none")
    assert configured_predictor(config, ["adv_std"]).prior == "none"
    alone = config.model_copy(update={"predictor": PredictorConfig(model="prior", prior="head_align_dot")})
    with pytest.raises(TapInputError, match="head_align_dot"):
        configured_predictor(alone, ["adv_std"])
    with pytest.raises(ValidationError, match="label-free score"):
        PredictorConfig(prior="pass_rate_mean")  # its sign is not given by theory: not a prior
    with pytest.raises(ValidationError, match="needs a prior"):
        PredictorConfig(model="prior", prior="none")


def test_a_bayesian_ridge_sets_its_own_penalty_keeps_a_prior_the_labels_agree_with_and_learns_another_signal():
    X, y = _world(200, seed=8, prior_strength=1.0, other_strength=0.0)
    fitted = TAPPredictor(model="bayes", prior="head_align_dot", interval="none").fit(X.iloc[:12], y[:12])
    assert spearmanr(fitted.predict(X.iloc[150:]), X.head_align_dot.iloc[150:])[0] > 0.9
    assert "penalty from the evidence" in fitted.describe()
    X, y = _world(200, seed=8, prior_strength=0.0, other_strength=2.0)
    learned = TAPPredictor(model="bayes", prior="head_align_dot", interval="none").fit(X.iloc[:150], y[:150])
    assert spearmanr(learned.predict(X.iloc[150:]), y[150:])[0] > 0.8  # the labels' own signal, not the prior's
