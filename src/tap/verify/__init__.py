"""Reward functions (verifiers). Pure functions; a verifier that cannot judge raises, it never
returns a silent 0."""
