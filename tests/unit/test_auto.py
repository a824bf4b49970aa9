"""TAP auto: the inner selection sees only the rows it is fit on, and its choice is kept and shown."""

import numpy as np
import pandas as pd
import pytest

from tap.evaluate.protocols import kfold
from tap.predict.artifact import load_predictor, save_predictor
from tap.predict.predictor import TAPPredictor

SUBJECTS = np.array(["math", "code", "science", "knowledge"])


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"adv_std": rng.normal(size=n), "frac_nondegenerate": rng.normal(size=n),
                      "head_align_dot": rng.normal(size=n)})
    subjects = SUBJECTS[rng.integers(0, 4, n)]
    offset = {"math": 2.0, "code": -2.0, "science": 0.0, "knowledge": 1.0}
    y = X.head_align_dot.to_numpy() + np.array([offset[s] for s in subjects]) + 0.3 * rng.normal(size=n)
    return X, y, subjects


class Spy(TAPPredictor):
    """TAPPredictor that records the label values of every row its inner selection is fit on."""

    seen: list = []

    def _choose(self, X, y, groups, subjects, rng):
        Spy.seen.append(set(np.round(y, 12)))
        return super()._choose(X, y, groups, subjects, rng)


def test_the_inner_selection_never_sees_the_outer_test_fold():
    X, y, subjects = _data()
    Spy.seen = []
    out = kfold(
        lambda: Spy(model="auto", interval="none", random_state=0),
        X.to_numpy(),
        y,
        np.arange(len(y)) // 2,
        subjects,
        folds=4,
        repeats=2,
        seed=1,
    )
    assert len(Spy.seen) == 8
    for r in range(2):
        for f in range(4):
            held = set(np.round(y[out["folds"][r] == f], 12))
            inner = Spy.seen[4 * r + f]
            assert not held & inner and len(inner) == len(y) - len(held)


def test_auto_finds_the_subject_structure_and_keeps_its_choice_through_save_and_load(tmp_path):
    X, y, subjects = _data(96)
    fitted = TAPPredictor(model="auto", random_state=0).fit(X, y, subjects=subjects)
    assert fitted.choice_["scaling"] == "subject" and fitted.choice_["families"] == ["R", "F"]
    assert "standardized within subject" in fitted.describe() and fitted.describe().startswith("auto → ")
    assert {"inner_spearman", "model", "alpha"} <= set(fitted.inner_scores_[0]) and len(fitted.inner_scores_) == 26
    with pytest.raises(ValueError, match="subjects"):
        fitted.predict(X)
    save_predictor(fitted, tmp_path / "p.skops")
    loaded = load_predictor(tmp_path / "p.skops")
    np.testing.assert_allclose(loaded.predict(X, subjects=subjects), fitted.predict(X, subjects=subjects))
    lo, hi = loaded.predict_interval(X, subjects=subjects)
    assert (lo < hi).all()


def test_auto_without_subjects_tries_only_global_models_and_an_unseen_subject_gets_global_scaling():
    X, y, subjects = _data(64, seed=2)
    fitted = TAPPredictor(model="auto", interval="none", random_state=0).fit(X, y)
    assert all(row["scaling"] == "global" for row in fitted.inner_scores_)
    sub = TAPPredictor(model="ridge", scaling="subject", interval="none").fit(X, y, subjects=subjects)
    assert np.isfinite(sub.predict(X.head(2), subjects=np.array(["new", "math"]))).all()
