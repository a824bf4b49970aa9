"""Leakage tests: a spy estimator proves what each protocol lets the model see."""

import numpy as np

from tap.evaluate.protocols import held_out_seed_selection, lodo, loco, predictor_scores


class Spy:
    """Records every training set it is fitted on; predicts the mean training target."""

    seen: list = []

    def fit(self, X, y):
        Spy.seen.append((np.asarray(X).copy(), np.asarray(y).copy()))
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)

    def predict_interval(self, X):
        return np.full(len(X), self.mean_ - 1), np.full(len(X), self.mean_ + 1)


def _data(n=12):
    X = np.arange(n, dtype=float)[:, None] * np.ones((1, 2))  # row i is identifiable by its value i
    return X, np.arange(n, dtype=float) * 10


def test_loco_never_sees_the_held_out_cohort():
    X, y = _data()
    Spy.seen = []
    out = loco(Spy, X, y, intervals=True)
    assert len(Spy.seen) == len(y)
    for i, (train_X, train_y) in enumerate(Spy.seen):
        assert i not in train_X[:, 0] and y[i] not in train_y and len(train_y) == len(y) - 1
    assert np.allclose(out["pred"], (y.sum() - y) / (len(y) - 1))
    assert np.all(out["lo"] < out["pred"]) and np.all(out["pred"] < out["hi"])


def test_lodo_never_sees_the_held_out_subject():
    X, y = _data()
    domains = np.array(["math", "code", "science"] * 4)
    Spy.seen = []
    pred = lodo(Spy, X, y, domains)
    assert len(Spy.seen) == 3
    for train_X, _ in Spy.seen:
        held = [d for d in set(domains) if not np.isin(np.where(domains == d)[0], train_X[:, 0]).any()]
        assert len(held) == 1  # exactly one subject absent from each training set
        assert all(not np.isin(np.where(domains == d)[0], train_X[:, 0]).any() for d in held)
    assert np.isfinite(pred).all()


def test_lodo_leaves_out_mixed_cohorts_holding_the_held_out_subject():
    X, y = _data(8)
    domains = np.array(["math", "math", "code", "code", "science", "science", "mixed", "mixed"])
    members = [{d} for d in domains[:6]] + [{"math", "code"}, {"science", "code"}]
    Spy.seen = []
    pred = lodo(Spy, X, y, domains, members)
    assert np.isnan(pred[6:]).all() and np.isfinite(pred[:6]).all()
    for train_X, _ in Spy.seen:
        rows = set(train_X[:, 0].astype(int))
        held = {d for d in ("math", "code", "science") if not rows & set(np.where(domains == d)[0])}
        assert len(held) == 1
        assert all(held.isdisjoint(members[i]) for i in rows)  # no trained cohort holds a held-out item


def test_selection_never_uses_the_evaluation_seed():
    rng = np.random.default_rng(0)
    y_cs = rng.normal(size=(12, 3))
    seen_labels = []

    def score_fn(labels):
        seen_labels.append(labels.copy())
        return labels

    results = held_out_seed_selection(score_fn, y_cs, q=0.25)
    for h, labels in enumerate(seen_labels):
        np.testing.assert_allclose(labels, np.delete(y_cs, h, axis=1).mean(axis=1))
        assert not np.allclose(labels, y_cs.mean(axis=1))  # the full mean would include seed h
    assert [r["seed"] for r in results] == [0, 1, 2]


def test_predictor_selection_trains_only_on_other_seed_labels():
    X, _ = _data()
    y_cs = np.stack([np.arange(12.0), 100 + np.arange(12.0), 1000 + np.arange(12.0)], axis=1)
    Spy.seen = []
    held_out_seed_selection(predictor_scores(Spy, X), y_cs, q=0.25)
    for k, (_, train_y) in enumerate(Spy.seen):
        h = k // 12  # 12 LOCO fits per evaluation seed
        allowed = np.delete(y_cs, h, axis=1).mean(axis=1)
        assert np.isin(train_y, allowed).all()
