"""A label battery: every cohort x seed as an independent unit, resumable through the ledger.

Finished units (status `ok` under the same label-config hash) are skipped; a unit that raises is
resubmitted up to `retries` times, then recorded as `failed` with its error. Rows are written as
units finish, one transaction each.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tap.config import LabelConfig, stable_hash
from tap.labels.executors import Executor
from tap.labels.ledger import Ledger
from tap.labels.trl_run import LabelUnit, metrics_dict, run_label


@dataclass(frozen=True)
class BatteryResult:
    planned: int
    skipped: int
    succeeded: int
    failed: int
    config_hash: str


def label_hash(settings: LabelConfig, weights_sha: str, probe: pd.DataFrame) -> str:
    """What a label depends on: the base weights, the label settings and the probe."""
    return stable_hash(
        {
            "weights": weights_sha,
            "settings": settings.model_dump(mode="json", exclude={"seeds", "first_seed", "threads"}),
            "probe": stable_hash(probe[["prompt", "gold", "subject"]].values.tolist()),
        }
    )


def base_probe_metrics(ledger: Ledger, config_hash: str, policy_dir: Path, probe: pd.DataFrame, settings: LabelConfig) -> dict:
    """The base policy's probe metrics, computed once and cached in the ledger."""
    key = f"probe_before:{config_hash}"
    cached = ledger.get_meta(key)
    if cached is None:
        from tap.policy.hf import HFPolicy
        from tap.probe import probe_metrics

        policy = HFPolicy.from_pretrained(policy_dir)
        cached = metrics_dict(probe_metrics(policy, probe, max_new_tokens=settings.probe_max_new_tokens, verifier=settings.verifier))
        ledger.set_meta(key, cached)
    return cached


def plan_units(
    cohorts: pd.DataFrame, probe: pd.DataFrame, policy_dir: Path, settings: LabelConfig, config_hash: str,
    before: dict, threads: int, fail_times: dict[str, int] | None = None,
) -> list[LabelUnit]:
    probe_rows = tuple((str(p), str(g), str(s)) for p, g, s in zip(probe.prompt, probe.gold, probe.subject))
    units = []
    for cohort_id, items in cohorts.groupby("cohort_id", sort=True):
        items = items.sort_values("position") if "position" in items else items
        for seed in range(settings.first_seed, settings.first_seed + settings.seeds):
            units.append(
                LabelUnit(
                    cohort_id=str(cohort_id), seed=seed, prompts=tuple(items.prompt), golds=tuple(items.gold),
                    policy_dir=str(policy_dir), probe=probe_rows, before=before,
                    settings=settings.model_dump(mode="json"), config_hash=config_hash, threads=threads,
                    fail_times=(fail_times or {}).get(str(cohort_id), 0),
                )
            )
    return units


def run_battery(
    units: list[LabelUnit],
    ledger: Ledger,
    executor: Executor,
    *,
    retries: int = 1,
    progress: Callable[[int, int, int], None] | None = None,
    fn: Callable[[LabelUnit, int], dict] = run_label,
) -> BatteryResult:
    """Run the units not yet in the ledger; report (done, failed, total) after each unit."""
    config_hash = units[0].config_hash if units else ""
    finished = ledger.finished(config_hash) if units else set()
    todo = [u for u in units if u.key not in finished]
    done = failed = 0
    if progress:
        progress(0, 0, len(todo))
    pending = {executor.submit(fn, unit, 1): (unit, 1) for unit in todo}
    while pending:
        for handle in executor.wait(list(pending)):
            unit, attempt = pending.pop(handle)
            try:
                ledger.write(handle.result())
                done += 1
            except Exception as exc:  # the unit's failure: retry, then record it
                if attempt <= retries:
                    pending[executor.submit(fn, unit, attempt + 1)] = (unit, attempt + 1)
                    continue
                error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                ledger.write({"cohort_id": unit.cohort_id, "seed": unit.seed, "config_hash": unit.config_hash,
                              "status": "failed", "error": error, "attempts": attempt})
                failed += 1
            if progress:
                progress(done, failed, len(todo))
    return BatteryResult(len(units), len(units) - len(todo), done, failed, config_hash)


def threads_per_worker(workers: int, configured: int) -> int:
    return configured if configured > 0 else max(1, (os.cpu_count() or 1) // workers)
