"""Lift labels: GRPO label runs on TRL (trl_run), their SQLite ledger, and executors."""
