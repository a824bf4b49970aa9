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

from tap.config import LabelConfig, PolicyConfig, TapConfig, stable_hash
from tap.labels.executors import Executor
from tap.labels.identity import item_verifiers, ordered_items
from tap.labels.ledger import Ledger
from tap.labels.trl_run import LabelUnit, run_label


@dataclass(frozen=True)
class BatteryResult:
    planned: int
    skipped: int
    succeeded: int
    failed: int
    config_hash: str


# Label settings added after ledgers existed: left out of the hash at their defaults, so a ledger
# written before them stays valid.
_ADDED_LATER = (
    "bf16",
    "gradient_checkpointing",
    "gradient_accumulation_steps",
    "lora_r",
    "lora_alpha",
    "lora_target_modules",
)
_NOT_HASHED = ("device", "backend", "gpu_memory_utilization")  # where a run executes, not what it learns


def label_settings(config: TapConfig) -> dict:
    """What a label run is given: the label section, the policy section and the stop strings."""
    from tap.policy.load import stop_strings

    return {**config.label.model_dump(mode="json"), "policy": config.policy.model_dump(mode="json"),
            "stop": list(stop_strings(config))}


def _as_settings(settings: LabelConfig | dict) -> dict:
    return settings.model_dump(mode="json") if isinstance(settings, LabelConfig) else dict(settings)


def label_hash(settings: LabelConfig | dict, weights_sha: str, probe: pd.DataFrame) -> str:
    """What a label depends on: the base weights, the label settings (with the policy's prompt,
    dtype and stop settings when they are not the defaults) and the probe. `probe_steps` (when the
    probe is looked at) never changes a label; `probe_samples` counts only when some probe item's
    verifier is not canonical (an `exact` item's expected accuracy needs no samples). The probe
    counts by its items and by what judges each of them: an item's own verifier enters the hash
    when it differs from the label settings' default (which the settings already cover)."""
    from tap.probe import CANONICAL_VERIFIERS, item_verifiers

    settings = _as_settings(settings)
    defaults = LabelConfig().model_dump(mode="json")
    verifiers = item_verifiers(probe, settings["verifier"])
    canonical = [v in CANONICAL_VERIFIERS for v in verifiers]
    sampled = not all(canonical)
    skip = {"seeds", "first_seed", "threads", "policy", "stop", "probe_steps", *(() if sampled else ("probe_samples",))}
    label = {k: v for k, v in settings.items() if k not in skip and not (k in _ADDED_LATER and v == defaults[k])}
    if sampled:  # sampled probe items share the base measurement's random stream since issue 17 (trl_run.record_probe)
        label["probe_stream"] = "shared"
    if any(canonical) and settings["temperature"] != 1.0:  # labels from before took the gold's probability at 1
        label["gold_probability"] = "at the label temperature"
    probe_items = probe[["prompt", "gold", "subject"]].values.tolist()
    if any(v != settings["verifier"] for v in verifiers):
        probe_items = [[*item, verifier] for item, verifier in zip(probe_items, verifiers)]

    def prompting(policy: dict, stop: list) -> dict:
        return {"policy": {k: v for k, v in policy.items() if k not in _NOT_HASHED}, "stop": stop}

    default = prompting(PolicyConfig().model_dump(mode="json"), [])
    policy = prompting(
        settings.get("policy") or PolicyConfig().model_dump(mode="json"), list(settings.get("stop") or [])
    )
    return stable_hash(
        {
            "weights": weights_sha,
            "settings": label,
            "probe": stable_hash(probe_items),
            **({"policy": policy} if policy != default else {}),  # absent at the defaults, as above
        }
    )


def base_probe_metrics(
    ledger: Ledger, config_hash: str, policy_dir: Path | str, probe: pd.DataFrame, settings: LabelConfig | dict
) -> dict:
    """The base policy's probe summary (tap.probe.summarize), computed once per label config: its
    per-item records go to the ledger (step 0) and the summary to its meta table."""
    key = f"probe_before:{config_hash}"
    cached = ledger.get_meta(key)
    if cached is None or "pass" not in cached.get("all", {}) or not ledger.has_base_records(config_hash):
        from tap.labels.trl_run import PROBE_SAMPLE_SEED, settings_policy
        from tap.probe import probe_records, summarize

        settings = _as_settings(settings)
        policy = settings_policy(policy_dir, settings)
        records = probe_records(
            policy,
            probe,
            max_new_tokens=settings["probe_max_new_tokens"],
            verifier=settings["verifier"],
            samples=settings.get("probe_samples", 0),
            temperature=settings["temperature"],
            seed=PROBE_SAMPLE_SEED,
        )
        cached = summarize(records)
        ledger.write_base_records(config_hash, records)
        ledger.set_meta(key, cached)
    return cached


def plan_units(
    cohorts: pd.DataFrame, probe: pd.DataFrame, policy_dir: Path | str, settings: LabelConfig | dict, config_hash: str,
    before: dict, threads: int, fail_times: dict[str, int] | None = None,
) -> list[LabelUnit]:
    settings = _as_settings(settings)
    verifiers = probe["verifier"] if "verifier" in probe else [settings["verifier"]] * len(probe)
    probe_rows = tuple(
        (str(p), str(g), str(s), str(v)) for p, g, s, v in zip(probe.prompt, probe.gold, probe.subject, verifiers)
    )
    units = []
    for cohort_id, items in cohorts.groupby("cohort_id", sort=True):
        items = ordered_items(items)
        verifiers = tuple(item_verifiers(items, settings["verifier"]))
        for seed in range(settings["first_seed"], settings["first_seed"] + settings["seeds"]):
            units.append(
                LabelUnit(
                    cohort_id=str(cohort_id), seed=seed, prompts=tuple(items.prompt), golds=tuple(items.gold),
                    policy_dir=str(policy_dir), probe=probe_rows, before=before,
                    settings=settings, config_hash=config_hash, threads=threads,
                    fail_times=(fail_times or {}).get(str(cohort_id), 0), verifiers=verifiers,
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
                ledger.write(
                    {
                        "cohort_id": unit.cohort_id,
                        "cohort_hash": unit.cohort_hash,
                        "seed": unit.seed,
                        "config_hash": unit.config_hash,
                        "status": "failed",
                        "error": error,
                        "attempts": attempt,
                    }
                )
                failed += 1
            if progress:
                progress(done, failed, len(todo))
    return BatteryResult(len(units), len(units) - len(todo), done, failed, config_hash)


def threads_per_worker(workers: int, configured: int) -> int:
    return configured if configured > 0 else max(1, (os.cpu_count() or 1) // workers)
