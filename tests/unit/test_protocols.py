"""Leakage tests: a spy estimator proves what each protocol lets the model see."""

import numpy as np

from tap.evaluate.protocols import item_groups, kfold, kfold_selection, lodo, loco


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


def test_selection_trains_only_on_other_seed_labels_and_never_on_the_scored_fold():
    X, _ = _data()
    y_cs = np.stack([np.arange(12.0), 100 + np.arange(12.0), 1000 + np.arange(12.0)], axis=1)
    Spy.seen = []
    scores = kfold_selection(Spy, X, y_cs, folds=3)
    assert scores.shape == (3, 12) and len(Spy.seen) == 9  # 3 folds per evaluation seed
    for k, (train_X, train_y) in enumerate(Spy.seen):
        h = k // 3
        allowed = np.delete(y_cs, h, axis=1).mean(axis=1)
        np.testing.assert_allclose(train_y, allowed[train_X[:, 0].astype(int)])  # never seed h, never the full mean
        held = np.setdiff1d(np.arange(12), train_X[:, 0])
        np.testing.assert_allclose(scores[h, held], train_y.mean())  # the held-out rows were scored by this model


def test_grouped_kfold_keeps_groups_whole_and_never_trains_on_the_held_out_fold():
    X, y = _data(20)
    groups = np.arange(20) // 4  # five groups of four cohorts
    Spy.seen = []
    out = kfold(Spy, X, y, groups, folds=5, repeats=3, seed=0)
    assert out["kfold"].shape == (3, 20) and len(Spy.seen) == 15
    for r in range(3):
        for g in range(5):
            assert len(set(out["folds"][r][groups == g])) == 1  # a group is never split
    for k, (train_X, _) in enumerate(Spy.seen):
        r, f = divmod(k, 5)
        held = np.where(out["folds"][r] == f)[0]
        assert not np.isin(held, train_X[:, 0]).any() and len(train_X) == 20 - len(held)
    assert not (out["folds"][0] == out["folds"][1]).all()  # a fresh split each repeat


def test_item_groups_join_cohorts_that_share_an_item_transitively():
    items = {"a": {1, 2}, "b": {2, 3}, "c": {3, 4}, "d": {5}, "e": set()}
    groups = item_groups(["a", "b", "c", "d", "e", "f"], items)
    assert groups[0] == groups[1] == groups[2] and len(set(groups)) == 4


def test_item_groups_are_numbered_the_same_whatever_the_order_of_the_items():
    """Set iteration order changes with PYTHONHASHSEED: the numbering, which fixes the folds, must not."""
    items = {"a": ["x", "y"], "b": ["z"], "c": ["y", "z"], "d": ["w"]}
    reordered = {k: list(reversed(v)) for k, v in items.items()}
    ids = ["a", "b", "c", "d"]
    assert list(item_groups(ids, items)) == list(item_groups(ids, reordered)) == [0, 0, 0, 1]
