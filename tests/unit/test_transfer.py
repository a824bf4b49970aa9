"""Transfer across worlds: within-world normalization, the held-out world never reaching a fit (a spy),
the harmful-cohort AUROC, and the few-label adaptation's pieces, on hand-built worlds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from tap.evaluate.adapt import adaptation_draws, pick_labelled
from tap.evaluate.transfer import (
    World, choose_normalization, evaluate_transfer, leave_one_world_out, normalize, pooled_estimator,
    training_worlds,
)
from tap.evaluate.transfer_scores import auroc

COLUMNS = ["pass_rate_mean", "frac_nondegenerate", "adv_std", "head_align_dot"]


def make_world(name: str, policy: str, seed: int, *, scale: float = 1.0, n: int = 40, test: bool = False) -> World:
    """A world whose lift is frac_nondegenerate + noise, every feature on a world-specific scale and offset."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    features = pd.DataFrame({
        "cohort_id": [f"{name}-{i:03d}" for i in range(n)],
        "pass_rate_mean": rng.uniform(size=n),
        "frac_nondegenerate": 5.0 * scale * signal + 100.0 * scale,
        "adv_std": rng.normal(size=n) * scale,
        "head_align_dot": signal + rng.normal(scale=2.0, size=n),
    })
    y = 0.01 * scale * signal + 0.003 * scale
    y_cs = np.stack([y + rng.normal(scale=0.001 * scale, size=n) for _ in range(2)], axis=1)
    return World(name, features, y_cs, np.array(["math"] * n), np.arange(n) // 2, policy, test)


@pytest.fixture
def worlds() -> list[World]:
    return [make_world("a", "p1", 0), make_world("b", "p1", 1, scale=10.0), make_world("c", "p2", 2, scale=0.1),
            make_world("d", "p3", 3, scale=3.0, test=True)]


class Spy:
    """An estimator that records the worlds of every row it is fitted on."""

    seen: list[set] = []

    def fit(self, X, y, worlds=None):
        Spy.seen.append(set(worlds))
        self.model_ = pooled_estimator().fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


def test_normalize_within_a_world():
    x = np.array([[1.0, 5.0, np.nan], [2.0, 5.0, 1.0], [3.0, 5.0, 3.0], [10.0, 5.0, 2.0]])
    z = normalize(x, "z")
    assert np.allclose(z[:, 0].mean(), 0) and np.isclose(z[:, 0].std(), 1)
    assert np.all(z[:, 1] == 0)  # a constant column carries nothing
    assert z[0, 2] == 0 and np.isclose(z[1:, 2].mean(), 0)  # undefined: the world's centre
    r = normalize(x, "rank")
    assert np.allclose(r[:, 0], [-0.375, -0.125, 0.125, 0.375])
    assert np.array_equal(normalize(x, "none")[:, 0], x[:, 0])
    with pytest.raises(ValueError):
        normalize(x, "minmax")


@pytest.mark.parametrize("protocol", ["world", "policy"])
def test_the_held_out_world_never_reaches_the_fit(worlds, protocol):
    Spy.seen = []
    predictions = leave_one_world_out(worlds, COLUMNS, "z", Spy, protocol)
    held_out = [w for w in worlds if training_worlds(worlds, w, protocol)]  # one fit per world, in order
    assert len(Spy.seen) == len(held_out) and set(predictions) == {w.name for w in held_out}
    for held, seen in zip(held_out, Spy.seen):
        assert held.name not in seen
        if protocol == "policy":  # nor any world that shares its base policy (and probe)
            assert not {w.name for w in worlds if w.policy == held.policy} & seen
    if protocol == "policy":  # a and b share p1: each is predicted from c and d alone
        assert Spy.seen[0] == {"c", "d"} and Spy.seen[1] == {"c", "d"}


def test_every_fit_leaves_its_held_out_world_out(worlds):
    Spy.seen = []
    leave_one_world_out(worlds, COLUMNS, "rank", Spy)
    assert [sorted(s) for s in Spy.seen] == [sorted({w.name for w in worlds} - {w.name}) for w in worlds]


def test_normalization_is_chosen_without_the_test_world(worlds):
    Spy.seen = []
    choice = choose_normalization(worlds, COLUMNS, Spy)
    assert "d" not in set().union(*Spy.seen) and choice["dev_worlds"] == ["a", "b", "c"]
    # the label is one feature times a world-specific scale: within-world z-scores transfer it exactly
    assert choice["mean_rho"]["z"] > 0.95 and choice["chosen"] in ("z", "rank")


def test_auroc_matches_scikit_learn():
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=60), 1)  # ties included
    positive = rng.uniform(size=60) < 0.3
    assert auroc(scores, positive) == pytest.approx(roc_auc_score(positive, scores))
    assert np.isnan(auroc(scores, np.zeros(60, bool)))


def test_evaluate_transfer_reports_every_world_with_paired_intervals(worlds):
    result = evaluate_transfer(worlds, resamples=50, repeats=2)
    assert set(result["worlds"]) == {"a", "b", "c", "d"}
    entry = result["worlds"]["d"]
    assert entry["test_world"] and "zero-shot TAP" in entry["scorers"]
    zero_shot = entry["scorers"]["zero-shot TAP"]["rho"]
    assert zero_shot["lo"] <= zero_shot["value"] <= zero_shot["hi"] and zero_shot["value"] > 0.9
    assert "rho_reference_minus_this" in entry["scorers"]["own K-fold TAP"]
    assert result["summary"]["test"]["worlds"] == ["d"]
    assert result["summary"]["development"]["worlds"] == ["a", "b", "c"]


def test_pick_labelled_keeps_item_groups_out_of_the_evaluation():
    groups = np.array([0, 0, 1, 1, 1, 2, 3, 4, 5, 5])
    labelled, evaluation = pick_labelled(groups, 4, np.random.default_rng(1))
    assert len(labelled) == 4
    assert not set(groups[labelled]) & set(groups[evaluation])
    assert set(labelled) | set(evaluation) <= set(range(10))


def test_the_few_label_curve_never_fits_on_the_held_out_world(worlds):
    Spy.seen = []
    draws = adaptation_draws(worlds, worlds[3], COLUMNS, "z", ks=(0, 8), draws=3, make_estimator=Spy)
    assert Spy.seen == [{"a", "b", "c"}]
    assert len(draws[8]["shrunk"]) == 3 and np.isnan(draws[0]["scratch"]).all()


def test_the_adaptation_chooses_its_shrinkage_without_the_test_world(worlds):
    from tap.evaluate.adapt import SHRINKAGE_GRID, evaluate_adaptation

    Spy.seen = []
    result = evaluate_adaptation(worlds, COLUMNS, "z", ks=(0, 8, 16), draws=3, make_estimator=Spy)
    choice_fits = Spy.seen[: len(SHRINKAGE_GRID) * 3]  # choose_shrinkage: each grid value holds out a, b, c in turn
    assert all("d" not in seen for seen in choice_fits)
    assert result["protocol"]["shrinkage"]["chosen"] in SHRINKAGE_GRID
    assert result["summary"]["test"]["worlds"] == ["d"]
    point = result["summary"]["development"]["curve"]["16"]
    assert point["shrunk"]["worlds"] == 3 and point["zero-shot"]["mean"] > 0.9  # the z-scored label transfers


def test_a_mean_over_worlds_resamples_the_worlds_too():
    from tap.evaluate.transfer_scores import STATISTICS, mean_over_worlds

    def world(value):  # no spread within the world: any spread of the mean comes from which worlds are drawn
        row = dict.fromkeys(STATISTICS, value)
        return {"full": {"s": row}, "samples": {"s": [row] * 200}}

    per_world = {"a": world(0.0), "b": world(1.0), "c": world(1.0)}
    rho = mean_over_worlds(per_world, ["a", "b", "c"], "s")["rho"]
    assert rho["value"] == pytest.approx(2 / 3) and rho["lo"] == 0.0 and rho["hi"] == 1.0
