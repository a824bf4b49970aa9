"""Cohort features: numbers per cohort read off base-policy rollouts, each tagged by its cost
(R rewards only, F a forward pass, G gradients). See registry.py."""
