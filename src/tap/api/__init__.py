"""The public Python API. The CLI only parses arguments and calls these functions.

pipeline: world, rollouts, labels, features. predict: evaluate, fit, score. experiments: loop, intervention.
"""

from tap.api.experiments import intervention, loop
from tap.api.pipeline import (
    dataset, feature_catalog, features, label, labels_table, load_policy, read_cohorts, rollout, world,
)
from tap.api.predict import (
    check_scores_path, dataset_lift, evaluate, fit, load_scoring_predictor, read_probe, score,
)

__all__ = [
    "check_scores_path", "dataset", "dataset_lift", "evaluate", "feature_catalog", "features", "fit", "intervention", "label",
    "labels_table", "load_policy", "loop", "load_scoring_predictor", "read_cohorts", "read_probe", "rollout", "score", "world",
]
