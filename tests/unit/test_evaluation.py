"""The evaluation of every scorer on synthetic cohorts whose true lift is known."""

import json

import numpy as np
import pandas as pd
import pytest

from tap.evaluate.evaluation import evaluate_scorers, headline_rows
from tap.evaluate.selection import selection_curve
from tap.evaluate.importance import permutation_importances
from tap.evaluate.scorers import SignedFeature, build_scorers
from tap.store import _json_safe, write_json

SUBJECTS = np.array(["math", "code", "science", "knowledge"])


def _world(n=32, seeds=3, noise=0.3, seed=0):
    """Cohorts whose lift is −pass_rate_mean (a feature that predicts *lower* lift) plus seed noise;
    the other features are noise. Every 8th cohort is mixed."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=n)
    features = pd.DataFrame({
        "cohort_id": [f"c{i:03d}" for i in range(n)],
        "pass_rate_mean": -truth + 0.1 * rng.normal(size=n),
        "adv_std": rng.normal(size=n),
        "frac_nondegenerate": rng.normal(size=n),
        "token_entropy_mean": rng.normal(size=n),
        "grad_dot": truth + 1.0 * rng.normal(size=n),
        "cost_rollout_seconds": 0.5, "cost_rollout_flops": 1e9, "cost_R_seconds": 0.01,
        "cost_F_seconds": 0.2, "cost_F_flops": 2e9, "cost_G_seconds": 1.0, "cost_G_flops": 6e9,
    })
    features.loc[3, "adv_std"] = np.nan  # an undefined feature
    y_cs = truth[:, None] + noise * rng.normal(size=(n, seeds))
    domains = np.where(np.arange(n) % 8 == 7, "mixed", SUBJECTS[np.arange(n) % 4])
    members = [{"math", "code"} if d == "mixed" else {d} for d in domains]
    return features, y_cs, domains, members


PREDICTOR = {"interval": "jackknife+", "level": 0.8, "n_folds": 4, "max_iter": 20, "random_state": 0}


@pytest.fixture(scope="module")
def evaluated():
    features, y_cs, domains, members = _world()
    scorers = build_scorers(features, (30.0, 5e12), y_cs.shape[1], PREDICTOR)
    metrics, predictions = evaluate_scorers(
        scorers, features, y_cs, domains, members, q=0.25, resamples=60, random_draws=30, level=0.8, repeats=3
    )
    return scorers, metrics, predictions, features, y_cs


def _by_name(metrics):
    return {e["name"]: e for e in metrics["scorers"]}


@pytest.mark.slow  # the shared evaluation takes minutes on 2 cores
def test_every_scorer_is_evaluated_with_its_cost(evaluated):
    scorers, metrics, *_ = evaluated
    names = [s.name for s in scorers]
    for expected in (
        "TAP gbm R",
        "TAP ridge R",
        "TAP gbm R+F",
        "TAP ridge R+F+G",
        "pass_rate_mean",
        "token_entropy_mean",
        "grad_dot",
        "measured lift, 1 seed",
        "measured lift, 2 seeds",
        "random",
    ):
        assert expected in names
    entries = _by_name(metrics)
    assert entries["TAP gbm R"]["cost_seconds"] == pytest.approx(0.51)
    assert entries["TAP gbm R+F+G"]["cost_seconds"] == pytest.approx(1.71)
    assert entries["grad_dot"]["cost_seconds"] == pytest.approx(1.5) and entries["grad_dot"][
        "cost_flops"
    ] == pytest.approx(7e9)
    assert entries["token_entropy_mean"]["cost_seconds"] == pytest.approx(0.51)  # read off the sampler: no forward pass
    assert entries["measured lift, 2 seeds"]["cost_seconds"] == pytest.approx(60.0)
    assert entries["random"]["cost_seconds"] == 0


@pytest.mark.slow  # the shared evaluation takes minutes on 2 cores
def test_an_informative_feature_is_used_the_right_way_round(evaluated):
    _, metrics, *_ = evaluated
    entries = _by_name(metrics)
    rho = entries["pass_rate_mean"]["metrics"]["loco_spearman"]
    assert rho["value"] > 0.8 and rho["lo"] <= rho["value"] <= rho["hi"]
    assert entries["pass_rate_mean"]["metrics"]["top_gain"]["value"] > 0.5
    assert entries["TAP ridge R"]["metrics"]["loco_spearman"]["value"] > 0.8
    noise = entries["adv_std"]["metrics"]["loco_spearman"]
    assert (
        noise["lo"] < 0.3 and noise["value"] < 0.5
    )  # pure noise (its sign is learned per fold: slightly negative bias)
    assert entries["grad_dot"]["note"].startswith("fixed sign")


@pytest.mark.slow  # the shared evaluation takes minutes on 2 cores
def test_random_scorer_averages_to_nothing(evaluated):
    _, metrics, *_ = evaluated
    random = _by_name(metrics)["random"]["metrics"]
    assert abs(random["loco_spearman"]["value"]) < 0.1 and abs(random["top_gain"]["value"]) < 0.15
    assert random["loco_spearman"]["lo"] < 0 < random["loco_spearman"]["hi"]


@pytest.mark.slow  # the shared evaluation takes minutes on 2 cores
def test_measured_lift_selects_well_and_has_no_loco_numbers(evaluated):
    _, metrics, *_ = evaluated
    measured = _by_name(metrics)["measured lift, 2 seeds"]["metrics"]
    assert "loco_spearman" not in measured
    assert measured["heldout_spearman"]["value"] > 0.8 and measured["top_fraction_of_oracle"]["value"] > 0.7
    assert measured["top_gain_vs_measured"]["value"] == pytest.approx(0)


@pytest.mark.slow  # the shared evaluation takes minutes on 2 cores
def test_noise_ceiling_and_lodo_and_coverage(evaluated):
    _, metrics, _, _, y_cs = evaluated
    noise = metrics["noise"]
    assert 0.8 < noise["single_seed_reliability"]["value"] < 1
    assert noise["ceiling"]["value"] == pytest.approx(noise["projection"]["3"])
    tap = _by_name(metrics)["TAP ridge R"]
    assert set(tap["lodo_per_subject"]) == {"math", "code", "science", "knowledge"}
    assert tap["metrics"]["lodo_spearman"]["value"] > 0.7
    cov = tap["coverage"]
    assert cov["level"] == 0.8 and 0.5 < cov["coverage"]["value"] <= 1 and cov["mean_width"] > 0


@pytest.mark.slow  # the shared evaluation takes minutes on 2 cores
def test_predictions_are_long_form_and_metrics_are_strict_json(evaluated, tmp_path):
    scorers, metrics, predictions, features, y_cs = evaluated
    model_based = [s.name for s in scorers if s.make is not None]
    assert set(predictions.scorer) == set(model_based) and len(predictions) == len(model_based) * len(features)
    tap = predictions[predictions.scorer == "TAP gbm R"]
    assert tap.pred_lo.notna().all() and (tap.pred_lo < tap.pred_hi).all() and tap.loco_pred.notna().all()
    assert set(tap.fold) == set(range(5))
    np.testing.assert_allclose(tap.label, y_cs.mean(axis=1))
    assert predictions[predictions.subject == "mixed"].lodo_pred.isna().all()
    write_json(metrics, tmp_path / "metrics.json")
    json.loads((tmp_path / "metrics.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    rows = headline_rows(metrics)
    assert len(rows) == len(scorers) and {
        "kfold_spearman_lo",
        "loco_spearman_lo",
        "top_gain_vs_measured",
        "coverage",
    } <= set(rows[0])


def test_parallel_workers_give_the_same_numbers():
    features, y_cs, domains, members = _world(n=16)
    scorers = [
        s
        for s in build_scorers(features, (1.0, 1.0), 3, PREDICTOR)
        if s.name in ("TAP gbm R", "adv_std", "measured lift, 2 seeds", "random")
    ]
    one, _ = evaluate_scorers(scorers, features, y_cs, domains, members, resamples=20, random_draws=5, n_jobs=1)
    two, _ = evaluate_scorers(scorers, features, y_cs, domains, members, resamples=20, random_draws=5, n_jobs=2)
    assert json.dumps(_json_safe(one), sort_keys=True) == json.dumps(_json_safe(two), sort_keys=True)  # NaN-aware


def test_signed_feature_learns_its_sign_and_fill_from_training_rows_only():
    x = np.array([[1.0], [2.0], [np.nan], [4.0]])
    model = SignedFeature().fit(x, np.array([4.0, 3.0, 2.0, 1.0]))
    assert model.sign_ == -1 and model.fill_ == 2.0
    np.testing.assert_allclose(model.predict(np.array([[3.0], [np.nan]])), [-3.0, -2.0])
    assert SignedFeature(sign=1.0).fit(x, np.array([4.0, 3.0, 2.0, 1.0])).sign_ == 1
    assert SignedFeature().fit(np.ones((4, 1)), np.arange(4.0)).sign_ == 1  # a constant column: no evidence, +1


def test_selection_curve_of_the_oracle_falls_to_the_mean_at_100_percent():
    rng = np.random.default_rng(1)
    y_cs = rng.normal(size=(40, 3))
    curve = selection_curve(y_cs.T.copy(), y_cs)  # each seed ranked by itself: the in-sample oracle
    assert np.all(np.diff(curve) <= 1e-12) and curve[-1] == pytest.approx(y_cs.mean())
    assert curve[0] == pytest.approx(np.mean([np.sort(y_cs[:, h])[-2:].mean() for h in range(3)]))  # top 5% of 40 = 2


def test_permutation_importance_ranks_the_informative_feature_first():
    features, y_cs, _, _ = _world(n=48)
    from tap.predict.predictor import TAPPredictor

    table = permutation_importances(
        lambda: TAPPredictor(model="ridge", interval="none"),
        features[["adv_std", "pass_rate_mean", "frac_nondegenerate"]],
        y_cs.mean(axis=1),
        repeats=5,
    )
    assert table.feature.iloc[0] == "pass_rate_mean" and table.importance.iloc[0] > 0.5
    assert abs(table.set_index("feature").importance["frac_nondegenerate"]) < 0.2
    assert (table.undefined == 0).all()


def test_permutation_importance_counts_folds_without_a_rho_instead_of_scoring_them_0():
    from sklearn.dummy import DummyRegressor

    X = pd.DataFrame({"a": np.arange(20.0), "b": np.ones(20)})
    table = permutation_importances(DummyRegressor, X, np.arange(20.0), folds=2, repeats=3)
    assert (
        table.importance.isna().all() and (table.undefined == 6).all()
    )  # constant predictions: ρ undefined everywhere


def test_permutation_drops_in_one_prediction_equal_scikit_learns_loop_and_fall_back_when_rows_interact():
    from sklearn.base import BaseEstimator, RegressorMixin
    from sklearn.inspection import permutation_importance
    from sklearn.linear_model import Ridge

    from tap.evaluate.importance import _permutation_drops
    from tap.stats import spearman

    rng = np.random.default_rng(5)
    X = pd.DataFrame(rng.normal(size=(30, 4)), columns=list("abcd"))
    y = X.a.to_numpy() - 0.5 * X.b.to_numpy() + rng.normal(scale=0.3, size=30)

    def rho(estimator, X_, y_):
        return spearman(estimator.predict(X_), y_)

    class BatchCentred(BaseEstimator, RegressorMixin):  # a prediction that depends on the rows beside it
        def fit(self, X_, y_):
            return self

        def predict(self, X_):
            values = np.asarray(X_)
            return (values[:, 0] - 20 * np.mean(values[:, 0] * values[:, 1])) ** 2

    for model in (Ridge().fit(X, y), BatchCentred().fit(X, y)):
        expected = permutation_importance(model, X, y, scoring=rho, n_repeats=4, random_state=7).importances
        np.testing.assert_allclose(_permutation_drops(model, X, y, None, 4, 7), expected, rtol=0, atol=1e-12)


def test_the_kfold_headline_is_paired_against_the_configured_scorer_and_loco_is_skipped_on_large_batteries():
    features, y_cs, domains, members = _world(n=24)
    scorers = [
        s
        for s in build_scorers(features, (1.0, 1.0), 3, PREDICTOR)
        if s.name in ("TAP ridge R", "pass_rate_mean", "adv_std", "random")
    ]
    groups = np.arange(24) // 2  # pairs of cohorts share items
    metrics, predictions = evaluate_scorers(scorers, features, y_cs, domains, members, resamples=30, random_draws=5,
                                            groups=groups, repeats=3, loco_max=10, headline="TAP ridge R")
    entries = _by_name(metrics)
    assert (
        metrics["protocol"]["groups"] == 12
        and metrics["protocol"]["largest_group"] == 2
        and not metrics["protocol"]["loco"]
    )
    assert "loco_spearman" not in entries["TAP ridge R"]["metrics"] and predictions.loco_pred.isna().all()
    assert entries["pass_rate_mean"]["metrics"]["kfold_spearman"]["value"] > 0.7
    diff = metrics["paired"]["minus_headline"]["adv_std"]
    assert diff["hi"] < 0  # a noise feature is below the informative predictor, with a paired interval
    for _, fold in predictions[predictions.scorer == "TAP ridge R"].groupby("fold"):
        assert not set(groups[fold.index % 24]) & set(groups[~np.isin(np.arange(24), fold.index % 24)])


@pytest.mark.slow  # the shared evaluation takes minutes on 2 cores
def test_null_features_have_no_artefact_under_the_headline_protocol():
    """Features unrelated to the label. A shrunken ridge predicts about the training mean, which is
    low exactly when the held-out labels are high: LOCO and ρ pooled over folds fall below 0. ρ
    within held-out folds, averaged (the headline), does not; nor does a learned sign, on average
    over null features (bench/null_feature.py measures the conditional case)."""
    from tap.evaluate.metrics import fold_mean, spearman
    from tap.evaluate.protocols import kfold, loco
    from tap.predict.predictor import TAPPredictor

    def ridge():
        return TAPPredictor(model="ridge", alpha=100.0, interval="none")

    rng = np.random.default_rng(0)
    within, pooled, left_out, signs = [], [], [], []
    for _ in range(60):
        x, y = rng.normal(size=(40, 2)), rng.normal(size=40)
        out = kfold(ridge, x, y, folds=5, repeats=2, seed=int(rng.integers(1 << 30)))
        within.append(np.mean([fold_mean(spearman, out["kfold"][r], y, out["folds"][r]) for r in range(2)]))
        pooled.append(np.mean([spearman(out["kfold"][r], y) for r in range(2)]))
        left_out.append(spearman(loco(ridge, x, y)["pred"], y))
        one = kfold(SignedFeature, x[:, :1], y, folds=5, repeats=2, seed=int(rng.integers(1 << 30)))
        signs.append(np.mean([fold_mean(spearman, one["kfold"][r], y, one["folds"][r]) for r in range(2)]))
    se = lambda v: np.std(v) / np.sqrt(len(v))  # noqa: E731
    assert np.mean(left_out) < -0.3 and np.mean(pooled) < -0.1  # the artefact
    assert abs(np.mean(within)) < 3 * se(within) and abs(np.mean(signs)) < 3 * se(signs)  # none in the headline


def test_within_subject_features_and_best_feature_learn_from_training_rows_only():
    from tap.evaluate.scorers import BestFeature

    x = np.array([[1.0], [3.0], [10.0], [30.0]])
    subjects = np.array(["a", "a", "b", "b"])
    f = SignedFeature(within_subject=True).fit(x, [0.0, 1.0, 0.0, 1.0], subjects=subjects)
    np.testing.assert_allclose(f.predict(x, subjects=subjects), [-1, 1, -1, 1])
    assert f.predict(np.array([[20.0]]), subjects=np.array(["new"]))[0] == pytest.approx(
        (20 - 11) / np.std([1, 3, 10, 30])
    )
    X = np.column_stack([np.arange(6.0), [0, 1, 0, 1, 0, 1.0], -np.arange(6.0) + [0, 0.1, 0, 0.1, 0, 0.1]])
    best = BestFeature().fit(X, -np.arange(6.0))
    assert best.column_ == 0 and best.sign_ == -1.0  # |ρ| = 1 ties with column 2: the first wins
    np.testing.assert_allclose(best.predict(np.array([[np.nan, 0, 0]])), [-2.5])  # the training median, signed


def test_the_report_draws_importances_when_some_are_undefined():
    from tap.report.figures import importances

    rows = [{"feature": "a", "importance": 0.2, "std": 0.1, "tag": "R", "definition": "a"},
            {"feature": "b", "importance": None, "std": None, "tag": "R", "definition": "b", "undefined": 6}]
    figure = importances(rows, "TAP ridge R")
    assert list(figure.data[0].y) == ["a"] and "1 features" in figure.layout.title.text


def test_intervals_resample_item_groups_not_cohorts():
    """A battery of 12 distinct cohorts, each present 3 times (cohorts that share all their items
    carry one cohort's information): with the groups given, every interval — the noise ceiling, each
    scorer's numbers and the paired differences — is about as wide as the 12 cohorts alone give, not
    √3 narrower."""
    features, y_cs, domains, members = _world(n=12, seed=4)
    copies = np.repeat(np.arange(12), 3)
    features = features.iloc[copies].reset_index(drop=True).assign(cohort_id=[f"c{i:03d}" for i in range(36)])
    y_cs, domains = y_cs[copies], domains[copies]
    members = [members[i] for i in copies]
    scorers = [s for s in build_scorers(features, (1.0, 1.0), 3, PREDICTOR)
               if s.name in ("pass_rate_mean", "adv_std", "random")]

    def widths(groups):
        metrics, _ = evaluate_scorers(scorers, features, y_cs, domains, members, resamples=400, random_draws=5,
                                      groups=copies, repeats=2, headline="pass_rate_mean", folds=3,
                                      **({"interval_groups": groups} if groups is not None else {}))
        noise = metrics["noise"]["single_seed_reliability"]
        top = _by_name(metrics)["adv_std"]["metrics"]["top_selected"]
        paired = metrics["paired"]["minus_headline"]["adv_std"]
        return np.array([noise["hi"] - noise["lo"], top["hi"] - top["lo"], paired["hi"] - paired["lo"]])

    grouped = widths(None)  # the default: resample the item groups the folds are grouped by
    by_cohort = widths(np.arange(36))  # what the intervals were before: every cohort on its own
    assert (grouped > 1.3 * by_cohort).all(), (grouped, by_cohort)


def test_the_headline_scorer_set_is_what_the_first_screen_compares():
    features, *_ = _world()
    predictor = {**PREDICTOR, "model": "ridge", "families": ["R", "F"], "scaling": "global"}
    every = {s.name for s in build_scorers(features, (1.0, 1.0), 3, predictor)}
    headline = {s.name for s in build_scorers(features, (1.0, 1.0), 3, predictor, which="headline")}
    assert headline < every and len(headline) < len(every) / 3
    assert {"TAP ridge R+F", "best feature R+F", "grad_dot", "measured lift, 1 seed", "random"} <= headline
    assert not any("|" in name or name.startswith("TAP gbm") for name in headline)


def test_held_out_probability_of_harm_is_scored_beside_the_reward_only_heuristics():
    """In this world lift = −pass_rate_mean: a low pass rate means a *good* cohort, so the heuristic that calls
    low-pass-rate data harmful is worse than chance while TAP's held-out P(lift < 0) finds the harmful ones."""
    features, y_cs, domains, members = _world(n=48)
    scorers = [s for s in build_scorers(features, (1.0, 1.0), 3, PREDICTOR) if s.name == "TAP ridge R"]
    metrics, predictions = evaluate_scorers(scorers, features, y_cs, domains, members, resamples=100, repeats=2)
    harm = metrics["scorers"][0]["harm"]
    y = y_cs.mean(axis=1)
    p = predictions.set_index("cohort_id").loc[features.cohort_id, "p_harm"].to_numpy()
    assert np.isfinite(p).all() and ((p > 0) & (p < 1)).all()
    from tap.stats import auroc

    assert harm["auroc"]["value"] == pytest.approx(auroc(p, y < 0)) and harm["auroc"]["value"] > 0.85
    assert harm["base_rate"]["value"] == pytest.approx(np.mean(y < 0))
    assert harm["brier"]["value"] < harm["brier_base_rate"]["value"]  # better than predicting the share for all
    assert sum(b["cohorts"] for b in harm["reliability"]) == 48
    heuristic = metrics["harm_heuristics"]["low pass rate"]
    assert heuristic["value"] == pytest.approx(auroc(-features.pass_rate_mean.to_numpy(), y < 0))
    assert heuristic["value"] < 0.2
