"""The label ledger: one SQLite row per cohort x content hash x seed x label-config hash.

A row is written in one transaction when its unit ends (`ok` or `failed`), together with the unit's
per-item probe records (table `probe_records`: one row per step x probe item; the base policy's at
step 0 with an empty cohort id and seed −1), its per-step timings (`label_steps`) and the
completions TRL sampled for its first step (`first_steps`), so a killed battery loses at most the
units in flight and a rerun never duplicates one. The base policy's probe summary is cached in the
`meta` table, computed once per label-config hash.

A row is a label of what was trained: `cohort_hash` (labels/identity.py) covers the cohort's
items, `config_hash` the base weights, label settings and probe. Readers take the rows of one
label config and of the run's current cohorts only (`select`), and say what they set aside.
Ledgers written before `cohort_hash` existed are migrated with an empty hash: those rows cannot
be matched to any cohort's content, so they are never taken (and are counted as set aside).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

COLUMNS = [
    "cohort_id",
    "cohort_hash",
    "seed",
    "config_hash",
    "status",
    "lift_nll",
    "delta_accuracy",
    "nll_before",
    "nll_after",
    "accuracy_before",
    "accuracy_after",
    "subject_deltas",
    "error",
    "attempts",
    "wall_seconds",
    "generated_tokens",
    "trained_tokens",
    "scored_tokens",
    "parameters",
    "flops",
    "finished_at",
    "lift_pass",
    "pass_before",
    "pass_after",
]
RECORD_FIELDS = ["step", "item", "gold_logprob_sum", "gold_tokens", "gold_nll", "greedy_correct", "pass_k"]
STEP_FIELDS = ["step", "train_seconds", "probe_seconds"]
FIRST_STEP_FIELDS = ["order", "prompt", "token_ids", "reward"]
UNIT = ["cohort_id", "cohort_hash", "seed", "config_hash"]
SCHEMA_VERSION = 3  # 2: rows carry cohort_hash and it is part of the key; 3: lift_pass and the per-item records

_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    cohort_id TEXT NOT NULL,
    cohort_hash TEXT NOT NULL DEFAULT '',
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
    lift_pass REAL, pass_before REAL, pass_after REAL,
    PRIMARY KEY (cohort_id, cohort_hash, seed, config_hash)
);
"""
_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
_DETAIL = """
CREATE TABLE IF NOT EXISTS probe_records (
    cohort_id TEXT NOT NULL, cohort_hash TEXT NOT NULL, seed INTEGER NOT NULL, config_hash TEXT NOT NULL,
    step INTEGER NOT NULL, item INTEGER NOT NULL, gold_logprob_sum REAL, gold_tokens INTEGER, gold_nll REAL,
    greedy_correct REAL, pass_k REAL,
    PRIMARY KEY (config_hash, cohort_id, cohort_hash, seed, step, item)
);
CREATE TABLE IF NOT EXISTS label_steps (
    cohort_id TEXT NOT NULL, cohort_hash TEXT NOT NULL, seed INTEGER NOT NULL, config_hash TEXT NOT NULL,
    step INTEGER NOT NULL, train_seconds REAL, probe_seconds REAL,
    PRIMARY KEY (config_hash, cohort_id, cohort_hash, seed, step)
);
CREATE TABLE IF NOT EXISTS first_steps (
    cohort_id TEXT NOT NULL, cohort_hash TEXT NOT NULL, seed INTEGER NOT NULL, config_hash TEXT NOT NULL,
    "order" INTEGER NOT NULL, prompt TEXT NOT NULL, token_ids TEXT NOT NULL, reward REAL,
    PRIMARY KEY (config_hash, cohort_id, cohort_hash, seed, "order")
);
"""
_DETAIL_TABLES = {"probe_records": RECORD_FIELDS, "label_steps": STEP_FIELDS, "first_steps": FIRST_STEP_FIELDS}


@dataclass(frozen=True)
class Selection:
    """The rows a reader uses, and how many it set aside and why."""

    rows: pd.DataFrame
    config_hash: str
    other_configs: int  # rows of other label-config hashes
    other_config_hashes: tuple[str, ...]
    unkeyed: int  # rows written before cohort_hash existed
    changed: int  # rows of a cohort id whose items are no longer the same
    absent: int  # rows of cohort ids that are not among the run's cohorts
    basis: str = ""  # how config_hash was found, when not from the run's config

    def notes(self) -> list[str]:
        """One line per kind of row set aside (none when nothing was)."""
        lines = [f"label config {self.config_hash or '(none)'} taken from {self.basis}"] if self.basis else []
        if self.other_configs:
            lines.append(
                f"labels.sqlite also holds {self.other_configs} rows of {len(self.other_config_hashes)} other label "
                f"config(s) ({', '.join(self.other_config_hashes)}); using only label config {self.config_hash}"
            )
        if self.unkeyed:
            lines.append(f"set aside {self.unkeyed} rows written before labels were keyed by cohort content "
                         "(they cannot be matched to what was trained; `tap label` relabels those cohorts)")
        if self.changed:
            lines.append(f"set aside {self.changed} rows of cohorts whose items have changed since they were labelled")
        if self.absent:
            lines.append(f"set aside {self.absent} rows of cohorts that are not among this run's cohorts")
        return lines


class Ledger:
    """A thin wrapper around the SQLite file; every write is its own transaction."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")  # kept in the file: later connections read it from there
            _migrate(db)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One connection per use: committed when the block ends, rolled back on an error, and closed
        either way (sqlite3's own context manager commits but leaves the connection, and the WAL's
        shared-memory file, open until the garbage collector finds it)."""
        db = sqlite3.connect(self.path, timeout=60)
        try:
            with db:
                yield db
        finally:
            db.close()

    def finished(self, config_hash: str) -> set[tuple[str, str, int]]:
        """(cohort_id, cohort_hash, seed) of the units already labelled `ok` under this config hash,
        with their per-item probe records (a row labelled before records existed is labelled again:
        every target must be recomputable from the records)."""
        query = """SELECT cohort_id, cohort_hash, seed FROM labels AS l WHERE status = 'ok' AND config_hash = ?
                   AND EXISTS (SELECT 1 FROM probe_records AS r
                               WHERE r.config_hash = l.config_hash AND r.cohort_id = l.cohort_id
                               AND r.cohort_hash = l.cohort_hash AND r.seed = l.seed)"""
        with self._connect() as db:
            return {(c, h, int(s)) for c, h, s in db.execute(query, (config_hash,))}

    def write(self, row: dict) -> None:
        """Insert or replace one unit's row and its detail rows (`records`, `steps`, `first_step`), in
        one transaction (a failed row is replaced when a rerun succeeds)."""
        if not row.get("cohort_hash"):
            raise ValueError(f"ledger row for cohort {row.get('cohort_id')!r} has no cohort_hash")
        record = {c: row.get(c) for c in COLUMNS}
        record["subject_deltas"] = json.dumps(row.get("subject_deltas") or {}, sort_keys=True)
        record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        placeholders = ", ".join("?" for _ in COLUMNS)
        unit = [row[c] for c in UNIT]
        details = {
            "probe_records": row.get("records") or [],
            "label_steps": row.get("steps") or [],
            "first_steps": row.get("first_step") or [],
        }
        with self._connect() as db:  # one transaction, committed as the block ends
            db.execute(
                f"INSERT OR REPLACE INTO labels ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                [record[c] for c in COLUMNS],
            )
            for table, rows in details.items():
                _insert(db, table, unit, rows)

    def write_base_records(self, config_hash: str, records: pd.DataFrame) -> None:
        """The base policy's per-item probe records (step 0) of one label config."""
        rows = [{"step": 0, **row} for row in records.to_dict(orient="records")]
        with self._connect() as db:
            _insert(db, "probe_records", ["", "", -1, config_hash], rows)

    def has_base_records(self, config_hash: str) -> bool:
        with self._connect() as db:
            return (
                db.execute(
                    "SELECT 1 FROM probe_records WHERE config_hash = ? AND seed = -1 LIMIT 1", (config_hash,)
                ).fetchone()
                is not None
            )

    def details(self, table: str, config_hash: str) -> pd.DataFrame:
        """One label config's rows of a detail table: probe_records, label_steps or first_steps."""
        if table not in _DETAIL_TABLES:
            raise ValueError(f"no detail table {table!r} (known: {', '.join(_DETAIL_TABLES)})")
        with self._connect() as db:
            frame = pd.read_sql_query(f"SELECT * FROM {table} WHERE config_hash = ?", db, params=(config_hash,))
        if table == "first_steps":
            frame["token_ids"] = [json.loads(ids) for ids in frame.token_ids]
        return frame

    def get_meta(self, key: str) -> dict | None:
        with self._connect() as db:
            found = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(found[0]) if found else None

    def set_meta(self, key: str, value: dict) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value, sort_keys=True))
            )

    def table(self, config_hash: str | None = None) -> pd.DataFrame:
        """All rows (or one config hash's) as a DataFrame, ordered by cohort and seed."""
        query = "SELECT * FROM labels" + (" WHERE config_hash = ?" if config_hash else "") + " ORDER BY cohort_id, seed"
        with self._connect() as db:
            return pd.read_sql_query(query, db, params=(config_hash,) if config_hash else None)

    def select(self, config_hash: str, cohort_hashes: dict[str, str] | None) -> Selection:
        """The rows of one label config for the given cohorts ({cohort_id: cohort_hash}; None = any
        cohort, keyed rows only), with counts of everything set aside."""
        rows = self.table()
        mine = rows.config_hash == config_hash
        others = rows[~mine]
        rows = rows[mine]
        unkeyed = rows.cohort_hash == ""
        if cohort_hashes is None:
            known = present = ~unkeyed
        else:
            expected = rows.cohort_id.map(cohort_hashes)
            present = expected.notna()
            known = present & (rows.cohort_hash == expected)
        return Selection(
            rows=rows[known].reset_index(drop=True), config_hash=config_hash, other_configs=len(others),
            other_config_hashes=tuple(sorted(others.config_hash.unique())), unkeyed=int(unkeyed.sum()),
            changed=int((present & ~known & ~unkeyed).sum()), absent=int((~present & ~unkeyed).sum()),
        )


def _insert(db: sqlite3.Connection, table: str, unit: list, rows: list[dict]) -> None:
    fields = _DETAIL_TABLES[table]
    values = [unit + [json.dumps(r[f]) if f == "token_ids" else r.get(f) for f in fields] for r in rows]
    columns = ", ".join(UNIT + [f'"{f}"' for f in fields])
    db.executemany(
        f"INSERT OR REPLACE INTO {table} ({columns}) VALUES ({', '.join('?' for _ in UNIT + fields)})", values
    )


def _migrate(db: sqlite3.Connection) -> None:
    """Create the tables, or bring a version-1 ledger (no cohort_hash) to version 2 in one transaction."""
    db.execute(_META)
    exists = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'labels'").fetchone()
    columns = {row[1] for row in db.execute("PRAGMA table_info(labels)")} if exists else set()
    if exists and "cohort_hash" not in columns:
        kept = [c for c in COLUMNS if c in columns]  # what version 1 had
        db.execute("BEGIN IMMEDIATE")
        db.execute("DROP TABLE IF EXISTS labels_v2")
        db.execute(_TABLE.format(name="labels_v2"))
        db.execute(f"INSERT INTO labels_v2 ({', '.join(kept)}) SELECT {', '.join(kept)} FROM labels")
        db.execute("DROP TABLE labels")
        db.execute("ALTER TABLE labels_v2 RENAME TO labels")
    db.execute(_TABLE.format(name="labels"))
    columns = {row[1] for row in db.execute("PRAGMA table_info(labels)")}
    for column in ("lift_pass", "pass_before", "pass_after"):  # version 2 -> 3
        if column not in columns:
            db.execute(f"ALTER TABLE labels ADD COLUMN {column} REAL")
    db.executescript(_DETAIL)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    db.commit()
