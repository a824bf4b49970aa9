"""Active labeling (tap/experiments/active.py): labels are read only once paid for, the random start is shared
by both orders, expected improvement is right, and on a battery whose label follows one feature the
active order finds the top cohorts sooner than random order."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from tap.experiments.active import PaidLabels, expected_improvement, label_order, next_batch


class Ledger:
    """A label source that records every label it hands out."""

    def __init__(self, labels: dict[str, float]):
        self._labels, self.handed = labels, []

    def __call__(self, ids):
        self.handed += list(ids)
        return {i: self._labels[i] for i in ids}


def _battery(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, dict[str, float]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = X[:, 0] + 0.1 * rng.normal(size=n)
    ids = [f"c{i:03d}" for i in range(n)]
    return pd.DataFrame(X, index=ids, columns=["a", "b", "c"]), dict(zip(ids, y))


def test_selection_reads_no_label_it_has_not_paid_for():
    features, labels = _battery()
    ledger = Ledger(labels)
    paid = PaidLabels(ledger)
    seen = []
    original = paid.buy

    def buy(ids):
        assert not set(ids) & set(paid.labels)  # never bought twice
        seen.append(dict(paid.labels))
        return original(ids)

    paid.buy = buy
    order = label_order(features, paid, 40, strategy="active", start=10, batch=5, make_model=Ridge, seed=0)
    assert len(order) == 40 and ledger.handed == order  # every label read was bought, in the order it was bought
    assert all(set(state) <= set(order) for state in seen)
    assert (
        set(paid.labels) == set(order) and "label" not in features
    )  # the selection only ever had features and paid labels


def test_labels_paid_before_are_not_bought_again():
    features, labels = _battery()
    ledger = Ledger(labels)
    paid = PaidLabels(ledger)
    paid.paid_before({i: labels[i] for i in list(labels)[:20]})
    label_order(features, paid, 28, strategy="active", start=16, batch=4, make_model=Ridge, seed=0)
    assert len(ledger.handed) == 8 and not set(ledger.handed) & set(list(labels)[:20])


def test_both_orders_share_the_random_start():
    features, labels = _battery()
    starts = [
        label_order(features, PaidLabels(Ledger(labels)), 12, strategy=s, start=12, batch=4, make_model=Ridge, seed=3)
        for s in ("active", "random")
    ]
    assert starts[0] == starts[1]
    with pytest.raises(ValueError, match="strategy"):
        label_order(features, PaidLabels(Ledger(labels)), 12, strategy="greedy", start=4, batch=4, make_model=Ridge)


def test_expected_improvement():
    ei = expected_improvement(np.array([0.0, 1.0, 0.0, 2.0]), np.array([1.0, 1.0, 0.0, 0.0]), tau=1.0)
    assert ei[0] == pytest.approx(0.0833155, abs=1e-6)  # (0 - 1) Φ(-1) + φ(-1)
    assert ei[1] == pytest.approx(0.3989423, abs=1e-6)  # φ(0)
    assert ei[2] == 0.0 and ei[3] == 1.0  # no spread: (μ − τ)⁺


def test_active_order_finds_the_top_sooner_than_random():
    features, labels = _battery(200)
    top = set(sorted(labels, key=labels.get)[-20:])
    found = {}
    for strategy in ("active", "random"):
        order = label_order(
            features, PaidLabels(Ledger(labels)), 60, strategy=strategy, start=16, batch=4, make_model=Ridge, seed=1
        )
        found[strategy] = len(top & set(order))
    assert found["active"] >= 18 and found["random"] <= 12


def test_next_batch_takes_what_is_left_when_the_pool_is_small():
    features, labels = _battery(10)
    paid = PaidLabels(Ledger(labels))
    paid.buy(list(labels)[:7])
    assert sorted(next_batch(features, paid, 5, Ridge, rng=np.random.default_rng(0))) == list(labels)[7:]
