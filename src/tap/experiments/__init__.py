"""The uses of a fitted predictor, each an experiment with its own measure: the closed loop (loop.py),
per-step choice quality (choice.py), active labeling (active.py) and the causal intervention on
frac_nondegenerate (intervention.py). The API (tap.api.experiments, tap.api.active) runs them."""
