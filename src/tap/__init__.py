"""TAP — Trajectory Advantage Predictor.

Predicts how much GRPO training on a candidate dataset ("cohort") will improve a model on a
held-out probe, from cheap signals read off a handful of rollouts of the current policy.
"""

__version__ = "0.1.0"
