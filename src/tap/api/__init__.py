"""The public Python API. The CLI only parses arguments and calls these functions.

pipeline: world, rollouts, labels, features. active: active labeling. predict: evaluate, fit.
scoring: score new cohorts. experiments: loop, choice, intervention.
runs: a run folder's config and what a change to it left stale.
"""

from tap.api.active import label_active
from tap.api.experiments import choice, intervention, loop
from tap.api.pipeline import (
    data_cohorts, dataset, features, label, label_selection, labels_table, load_policy, read_cohorts, rollout, world,
    world_pretrains, write_cohorts,
)
from tap.api.predict import evaluate, fit
from tap.api.scoring import (
    check_scores_path,
    dataset_lift,
    heldout_error_folds,
    load_scoring_predictor,
    provenance_notes,
    read_probe,
    score,
    scoring_notes,
    shipped_zoo_predictor,
)
from tap.api.runs import run_config
from tap.features.catalog import feature_catalog

__all__ = [
    "check_scores_path",
    "data_cohorts",
    "dataset",
    "dataset_lift",
    "heldout_error_folds",
    "evaluate",
    "choice",
    "feature_catalog",
    "features",
    "fit",
    "intervention",
    "label",
    "label_active",
    "label_selection",
    "labels_table",
    "load_policy",
    "load_scoring_predictor",
    "loop",
    "provenance_notes",
    "read_cohorts",
    "read_probe",
    "rollout",
    "run_config",
    "score",
    "scoring_notes",
    "shipped_zoo_predictor",
    "world",
    "world_pretrains",
    "write_cohorts",
]
