"""The predictor's and the evaluation's sections of the config tree (`[predictor]`, `[evaluate]`)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from tap.config.world import _Strict

# the theory-signed scores (tap.features.head_align, tap.features.gradients): higher = more lift, no label needed
PRIOR_PATTERN = r"(head_align|head_align_pass|grad|grad_pass|head_grad)_(dot|cos|adam)"


class PredictorConfig(_Strict):
    """The predictor `tap fit` trains and `tap evaluate` judges (TAPPredictor's parameters)."""

    model: Literal["auto", "gbm", "ridge", "bayes", "kernel", "prior"] = Field(
        "ridge",
        description="ridge (the default: with alpha 1000 and the prior head_align_pass_dot, the best of the "
                    "candidates on the zoo's development worlds; docs/results.md): "
                    "standardized ridge; auto: model, families and penalty chosen by inner grouped CV on the training "
                    "cohorts; bayes: standardized Bayesian ridge (penalty from the labels' evidence); gbm: "
                    "HistGradientBoostingRegressor; kernel: RBF kernel ridge; prior: the `prior` score alone.",
    )
    scaling: Literal["global", "subject"] = Field(
        "global",
        description="subject: features standardized within each cohort's subject plus subject offsets (ridge, kernel, "
                    "gbm; auto tries both).",
    )
    inner_folds: int = Field(5, ge=2, description="Folds of auto's inner grouped CV.")
    families: list[Literal["R", "F", "G"]] = Field(
        ["R", "F"], description="Feature families by cost tag: R rewards only, F forward pass, G gradients."
    )
    interval: Literal["jackknife+", "split"] = Field(
        "jackknife+", description="Conformal interval: jackknife+ (K-fold CV+) or split conformal."
    )
    level: float = Field(0.9, gt=0, lt=1, description="Nominal coverage of the prediction intervals.")
    n_folds: int = Field(5, ge=2, description="Folds of the CV+ intervals.")
    max_iter: int = Field(200, ge=1, description="Boosting iterations (gbm).")
    learning_rate: float = Field(0.05, gt=0, description="Boosting learning rate (gbm).")
    max_leaf_nodes: int = Field(15, ge=2, description="Leaves per tree (gbm).")
    min_samples_leaf: int = Field(5, ge=1, description="Fewest cohorts in a leaf (gbm).")
    alpha: float = Field(1000.0, gt=0, description="Ridge penalty on standardized features (ridge); 1000 keeps the "
                         "ridge close to the prior with few labels (without a prior, 1 was the old default).")
    random_state: int = Field(0, description="Seed of the folds, the split and the boosting.")
    gate: Literal["nondegenerate", "none"] = Field(
        "nondegenerate",
        description="nondegenerate: a cohort none of whose rollout groups' rewards disagree (frac_nondegenerate = 0: "
                    "no GRPO gradient with beta = 0) predicts the mean lift of such training cohorts, shrunk toward "
                    "0; the model is fit on the others. none: one model for every cohort.",
    )
    prior: str = Field(
        "head_align_pass_dot",
        description="A label-free score to start from (e.g. head_align_dot): the model is fit to the labels' "
                    "departures from it, so with no labels it ranks as that score and with few stays near it "
                    "(auto also tries the score alone); 'none': no prior. Ignored, with a note, when the features "
                    "lack that column.",
    )

    @model_validator(mode="after")
    def _check(self) -> "PredictorConfig":
        if self.prior != "none" and not re.fullmatch(PRIOR_PATTERN, self.prior):
            raise ValueError(f"prior must be 'none' or a label-free score whose sign theory gives (head_align_*, "
                             f"head_align_pass_*, grad_*, grad_pass_*, head_grad_*), got {self.prior!r}")
        if self.model == "prior" and self.prior == "none":
            raise ValueError("model = 'prior' needs a prior, e.g. prior = 'head_align_dot'")
        return self


class EvaluateConfig(_Strict):
    """How `tap evaluate` measures every scorer (DESIGN.md, "Measuring honestly")."""

    top_q: float = Field(0.1, gt=0, le=1, description="Share of cohorts a selector picks in held-out-seed selection.")
    bootstrap: int = Field(1000, ge=10, description="Bootstrap resamples over cohorts for every 95% interval.")
    bootstrap_seed: int = Field(0, description="Seed of the bootstrap resamples (the same resamples for every scorer).")
    random_draws: int = Field(200, ge=1, description="Random scorings averaged for the random baseline.")
    folds: int = Field(
        5,
        ge=2,
        description="K of the grouped K-fold protocol (the headline); cohorts sharing a pool item stay in one fold.",
    )
    repeats: int = Field(10, ge=1, description="Repeats of the grouped K-fold, each with a fresh split.")
    loco_max_cohorts: int = Field(
        64,
        ge=0,
        description="Run LOCO too on batteries of at most this many cohorts (it fits one model per cohort and scorer).",
    )
    scorers: Literal["all", "headline"] = Field(
        "all",
        description="Which scorers `tap evaluate` measures: all (every TAP variant, every feature alone and within "
                    "subject, the gradient scores, measured selectors, random) or headline (the configured predictor, "
                    "the best single R+F feature, the theory-signed gradient and head-alignment scores, measured "
                    "selectors and random: what the report's first screen compares, in a fraction of the time).",
    )
    target: Literal["lift_pass", "lift_nll", "delta_accuracy"] = Field(
        "lift_pass",
        description="The label: the change of the probe's expected accuracy at the sampling temperature (lift_pass, "
                    "what RLVR maximizes; the default, see docs/labels.md), its gold-answer NLL reduction (lift_nll, "
                    "nats/token) or its greedy accuracy change (delta_accuracy).",
    )
