"""Honest evaluation: pure metric functions (metrics.py) and the protocols that use them."""
