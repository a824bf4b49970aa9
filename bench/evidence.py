"""Evidence I: what the labels of a battery measure and what moves them, from its per-item records.

On a run folder labelled with per-item probe records (`tap study`; label.probe_steps = [1, 3]):
1. targets — lift_nll, delta_accuracy, lift_pass: mean, share improving, across/within seed std,
   single-seed reliability, ceiling; their Spearman with each other, overall and per subject; the
   own-subject and other-subjects parts of single-subject cohorts' lifts;
2. variance explained by subject, vendor and the generator's knobs, and the oracle-knob model;
3. the linearization check: first-order predictions of one GRPO step against the actual probe change
   after 1, 3 and all steps, (a) from the completions TRL sampled, (b) from `tap rollout`'s;
4. `tap evaluate` once per target (the short-run scorers are in it), metrics kept per target.
Writes docs/results/evidence/ (evidence.json, metrics_<target>.json, study.json, config.toml) and
prints a summary. The run folder's config.toml is restored afterwards.

    tap study --config configs/tiny.toml --set loop.in_study=false --out runs/evidence
    python bench/evidence.py runs/evidence
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from tap import api
from tap.api.pipeline import label_selection, run_probe
from tap.api.runs import folder_config, save_run_config
from tap.evaluate import evidence, linearization
from tap.features.gradients import probe_gradient, probe_pass_gradient
from tap.labels.battery import label_settings
from tap.labels.ledger import Ledger
from tap.labels.summary import step_lifts
from tap.store import RunPaths, write_json

REPO = Path(__file__).resolve().parents[1]


def linearization_check(
    run_dir: Path, config, selection, probe: pd.DataFrame, lifts: pd.DataFrame, resamples: int
) -> dict:
    from tap.labels.trl_run import settings_policy
    from tap.resolve import policy_path

    settings = label_settings(config)
    policy = settings_policy(policy_path(config), settings)
    prompts, golds = list(probe.prompt), [str(g) for g in probe.gold]
    probes = {
        "nll": probe_gradient(policy, prompts, golds),
        "pass": probe_pass_gradient(policy, prompts, golds),
    }
    first = Ledger(RunPaths(run_dir).labels).details("first_steps", selection.config_hash)
    first = first.merge(selection.rows[["cohort_id", "cohort_hash", "seed"]], on=["cohort_id", "cohort_hash", "seed"])
    started = time.perf_counter()
    units = linearization.unit_predictions(policy, first, probes, settings)
    rollouts = pd.read_parquet(RunPaths(run_dir).rollouts)
    cohorts = linearization.cohort_predictions(
        policy, rollouts[rollouts.cohort_id.isin(selection.rows.cohort_id)], probes, settings
    )
    groups = evidence.cohort_groups(pd.read_parquet(RunPaths(run_dir).cohorts))
    out = linearization.check(units, cohorts, lifts, resamples=resamples, groups=groups)
    out.update({"units": len(units), "cohorts": len(cohorts), "seconds": time.perf_counter() - started,
                "learning_rate": settings["learning_rate"], "clip_norm": linearization.CLIP_NORM})
    return out


def evaluate_each_target(run_dir: Path, config, out: Path) -> dict:
    seconds = {}
    for target in ("lift_nll", "delta_accuracy", "lift_pass"):
        started = time.perf_counter()
        api.evaluate(
            run_dir,
            config=config.model_copy(update={"evaluate": config.evaluate.model_copy(update={"target": target})}),
        )
        seconds[target] = time.perf_counter() - started
        shutil.copyfile(RunPaths(run_dir).metrics, out / f"metrics_{target}.json")
    save_run_config(run_dir, config)
    api.evaluate(run_dir, config=config)  # the run folder's own metrics.json again
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "evidence")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--no-evaluate", action="store_true", help="Skip the per-target evaluations.")
    parser.add_argument(
        "--no-linearization",
        action="store_true",
        help="Skip the linearization check (it needs the probe after step 1 and exact-match probe items: not the "
             "reasoning-gym world).",
    )
    parser.add_argument(
        "--reference",
        type=Path,
        default=REPO / "docs" / "results" / "default-study" / "labels_summary.json",
        help="An earlier battery's labels_summary.json (lift_nll labels): compared with this battery's labels when its "
             "label config is the same.",
    )
    args = parser.parse_args()

    run_dir, out = args.run_dir, args.out
    out.mkdir(parents=True, exist_ok=True)
    config = folder_config(run_dir)
    selection = label_selection(run_dir, config)
    rows = selection.rows[selection.rows.status == "ok"]
    cohorts = pd.read_parquet(RunPaths(run_dir).cohorts)
    cohorts = cohorts[cohorts.cohort_id.isin(rows.cohort_id)]
    probe = run_probe(run_dir, config)
    records = Ledger(RunPaths(run_dir).labels).details("probe_records", selection.config_hash)
    lifts = step_lifts(records, probe, config.label.verifier)
    lifts = lifts.merge(rows[["cohort_id", "cohort_hash", "seed"]], on=["cohort_id", "cohort_hash", "seed"])
    boot = {"resamples": args.bootstrap}
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "run": str(run_dir),
        "label_config_hash": selection.config_hash,
        "label_notes": selection.notes(),
        "cohorts": int(rows.cohort_id.nunique()),
        "seeds": int(rows.seed.nunique()),
        "probe_items": len(probe),
        "targets": evidence.target_table(rows, cohorts, **boot),
        "target_correlations": evidence.target_correlations(rows, cohorts, **boot),
        "own_and_other": evidence.own_and_other(rows, cohorts, probe, **boot),
        "own_by_kind": evidence.own_by_kind(rows, cohorts, probe, **boot),
        "variance_explained": evidence.variance_explained(rows, cohorts, **boot),
        "linearization": None
        if args.no_linearization
        else linearization_check(run_dir, config, selection, probe, lifts, args.bootstrap),
        "step_lifts_mean": {
            str(int(s)): {t: float(g[t].mean()) for t in evidence.TARGETS} for s, g in lifts.groupby("step")
        },
        "labels": evidence.cohort_labels(rows).reset_index().to_dict(orient="records"),
    }
    earlier = json.loads(args.reference.read_text()) if args.reference.exists() else {}
    if earlier.get("label_config_hash") == selection.config_hash:  # the same battery labelled before records existed
        reference = pd.DataFrame(earlier["labels"]).set_index("cohort_id").label
        target = earlier.get("target", "lift_nll")  # the reference's labels are of its own target
        ours = evidence.cohort_labels(rows)[target]
        shared = ours.index.intersection(reference.index)
        payload["reference"] = {
            "file": str(args.reference.relative_to(REPO))
            if args.reference.is_relative_to(REPO)
            else str(args.reference),
            "cohorts": len(shared),
            "target": target,
            f"max_abs_diff_{target}": float((ours[shared] - reference[shared]).abs().max()),
        }
    if not args.no_evaluate:
        payload["evaluate_seconds"] = evaluate_each_target(run_dir, config, out)
    write_json(payload, out / "evidence.json")
    for name in ("study.json", "config.toml"):
        if (run_dir / name).exists():
            shutil.copyfile(run_dir / name, out / name)
    for target, entry in payload["targets"].items():
        print(f"{target:<15} mean {entry['mean']['value']:+.5f}  improving {entry['share_improving']['value']:.0%}  "
              f"ratio {entry['across_over_within']['value']:.2f}  r1 {entry['single_seed_reliability']['value']:.3f}")
    for source in ("a", "b") if payload["linearization"] else ():
        for step, targets in payload["linearization"][source].items():
            print(f"linearization ({source}) step {step}: " + ", ".join(
                f"{t} adam ρ {e['adam']['value']:.2f} dot ρ {e['dot']['value']:.2f}" for t, e in targets.items()))
    print(f"wrote {out / 'evidence.json'}")


if __name__ == "__main__":
    main()
