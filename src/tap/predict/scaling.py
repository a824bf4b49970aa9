"""Within-subject standardization for TAPPredictor's `scaling="subject"`: every feature standardized within
each cohort's subject (training statistics; an unseen subject gets the global ones), plus one offset column per
training subject."""

from __future__ import annotations

import numpy as np


def subject_stats(X: np.ndarray, subjects: np.ndarray | None) -> dict:
    """Medians (the fill), global and per-subject means and stds of X's columns."""
    empty = np.isnan(X).all(axis=0)
    fill = np.zeros(X.shape[1])
    fill[~empty] = np.nanmedian(X[:, ~empty], axis=0)
    Z = np.where(np.isnan(X), fill, X)
    names = np.unique(subjects) if subjects is not None else np.array([], dtype=object)

    def stats(rows):
        sd = Z[rows].std(axis=0)
        return Z[rows].mean(axis=0), np.where(sd > 0, sd, 1.0)
    glob = stats(np.ones(len(Z), bool))
    per = [stats(subjects == s) if (subjects == s).sum() >= 2 else glob for s in names]
    return {
        "fill": fill,
        "subjects": names.astype(str),
        "means": np.array([m for m, _ in per]).reshape(len(names), -1),
        "stds": np.array([d for _, d in per]).reshape(len(names), -1),
        "mean": glob[0],
        "std": glob[1],
    }

def subject_scale(X: np.ndarray, subjects: np.ndarray | None, st: dict) -> np.ndarray:
    """X standardized within subject, plus one offset column per training subject."""
    if subjects is None:
        raise ValueError("this predictor standardizes features within subject: pass subjects= to fit and predict")
    subjects = np.asarray(subjects).astype(str)
    Z = np.where(np.isnan(X), st["fill"], X)
    out = (Z - st["mean"]) / st["std"]
    onehot = np.zeros((len(Z), len(st["subjects"])))
    for j, s in enumerate(st["subjects"]):
        rows = subjects == s
        out[rows] = (Z[rows] - st["means"][j]) / st["stds"][j]
        onehot[rows, j] = 1.0
    return np.hstack([out, onehot])
