"""The label ledger: one SQLite row per cohort x seed x label-config hash.

A row is written in one transaction when its unit ends (`ok` or `failed`), so a killed battery
loses at most the units in flight and a rerun never duplicates one. The base policy's probe
metrics are cached in the `meta` table, computed once per label-config hash.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

COLUMNS = [
    "cohort_id", "seed", "config_hash", "status", "lift_nll", "delta_accuracy", "nll_before", "nll_after",
    "accuracy_before", "accuracy_after", "subject_deltas", "error", "attempts", "wall_seconds",
    "generated_tokens", "trained_tokens", "scored_tokens", "parameters", "flops", "finished_at",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    cohort_id TEXT NOT NULL,
    seed INTEGER NOT NULL,
    config_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    lift_nll REAL, delta_accuracy REAL, nll_before REAL, nll_after REAL,
    accuracy_before REAL, accuracy_after REAL,
    subject_deltas TEXT,
    error TEXT,
    attempts INTEGER,
    wall_seconds REAL, generated_tokens INTEGER, trained_tokens INTEGER, scored_tokens INTEGER,
    parameters INTEGER, flops REAL,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (cohort_id, seed, config_hash)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Ledger:
    """A thin wrapper around the SQLite file; every write is its own transaction."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def finished(self, config_hash: str) -> set[tuple[str, int]]:
        """(cohort_id, seed) pairs already labelled `ok` under this config hash."""
        with self._connect() as db:
            rows = db.execute("SELECT cohort_id, seed FROM labels WHERE status = 'ok' AND config_hash = ?", (config_hash,))
            return {(c, int(s)) for c, s in rows}

    def write(self, row: dict) -> None:
        """Insert or replace one unit's row (a failed row is replaced when a rerun succeeds)."""
        record = {c: row.get(c) for c in COLUMNS}
        record["subject_deltas"] = json.dumps(row.get("subject_deltas") or {}, sort_keys=True)
        record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        placeholders = ", ".join("?" for _ in COLUMNS)
        with self._connect() as db:  # the context manager commits the one transaction
            db.execute(f"INSERT OR REPLACE INTO labels ({', '.join(COLUMNS)}) VALUES ({placeholders})", [record[c] for c in COLUMNS])

    def get_meta(self, key: str) -> dict | None:
        with self._connect() as db:
            found = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(found[0]) if found else None

    def set_meta(self, key: str, value: dict) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value, sort_keys=True)))

    def table(self, config_hash: str | None = None) -> pd.DataFrame:
        """All rows (or one config hash's) as a DataFrame, ordered by cohort and seed."""
        query = "SELECT * FROM labels" + (" WHERE config_hash = ?" if config_hash else "") + " ORDER BY cohort_id, seed"
        with self._connect() as db:
            return pd.read_sql_query(query, db, params=(config_hash,) if config_hash else None)
