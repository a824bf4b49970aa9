"""Does clean on-subject data teach, and does more of it teach more? The world's own control.

For each subject: draw `--items` (96) clean pool items of that subject, spread over its levels. Label
runs with the world's label settings, `--seeds` seeds each:
- `cohort8`: each of the first `--cohorts` chunks of 8 of those items alone, as a cohort (12 steps on
  the same 8 items);
- `fresh96`: all of them, 8 fresh items per step (per_device_train_batch_size = 8 x G), so the
  12 steps see each item once.
Reports the own-subject change of the probe's expected accuracy (lift_pass) and the drop of its gold
NLL (lift_nll), per subject and kind, with 95% bootstrap intervals over cohorts x seeds. The runs go
through the label ledger in `--run-dir` (a rerun resumes). Writes JSON and prints a table.

    python bench/fresh_control.py --out docs/results/world/fresh_control.json
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from tap.config import load_config
from tap.evaluate import metrics as M
from tap.labels.battery import (
    base_probe_metrics,
    label_hash,
    label_settings,
    plan_units,
    run_battery,
    threads_per_worker,
)
from tap.labels.executors import make_executor
from tap.labels.ledger import Ledger
from tap.store import file_sha256, write_json
from tap.world.build import build_world

REPO = Path(__file__).resolve().parents[1]


def control_cohorts(
    items: pd.DataFrame, subject: str, n_items: int, n_cohorts: int, size: int, seed: int
) -> dict[str, pd.DataFrame]:
    """The 96 fresh items of one subject (levels spread evenly) and the 8-item cohorts cut from them."""
    rng = random.Random(f"fresh-control-{seed}-{subject}")
    pool = items[(items.split == "pool") & (items.subject == subject)]
    levels = sorted(pool.difficulty.unique())
    chosen = []
    for i in range(n_items):
        level_rows = pool[(pool.difficulty == levels[i % len(levels)]) & ~pool.item_id.isin(chosen)]
        chosen.append(level_rows.item_id.iloc[rng.randrange(len(level_rows))])
    rng.shuffle(chosen)
    rows = pool.set_index("item_id").loc[chosen].reset_index()
    table = rows[["item_id", "subject", "difficulty", "prompt", "gold"]].assign(position=range(len(rows)))
    out = {f"{subject}-fresh{n_items}": table.assign(cohort_id=f"{subject}-fresh{n_items}")}
    for k in range(n_cohorts):
        part = table.iloc[k * size:(k + 1) * size].assign(position=range(size))
        out[f"{subject}-cohort{size}-{k}"] = part.assign(cohort_id=f"{subject}-cohort{size}-{k}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None, help="A TAP config (default: the default world).")
    parser.add_argument("--set", action="append", default=[], help="Config overrides, key=value.")
    parser.add_argument("--items", type=int, default=96)
    parser.add_argument("--cohorts", type=int, default=4, help="8-item cohorts per subject (cut from the items).")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--run-dir", type=Path, default=REPO / "runs" / "fresh-control")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "results" / "world" / "fresh_control.json")
    args = parser.parse_args()

    started = time.perf_counter()
    config = load_config(args.config, args.set)
    world = build_world(config)
    probe = world.probe
    size, g = config.world.cohorts.size, config.label.num_generations
    settings = label_settings(config)
    settings["seeds"] = args.seeds
    fresh = {**settings, "per_device_train_batch_size": size * g}  # 8 fresh prompts per step
    weights = file_sha256(world.policy_dir / "model.safetensors")
    args.run_dir.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(args.run_dir / "labels.sqlite")
    threads = threads_per_worker(args.workers, config.label.threads)
    variants = {}  # kind -> (settings, label-config hash, base probe summary)
    for kind, kind_settings in (("cohort", settings), ("fresh", fresh)):
        config_hash = label_hash(kind_settings, weights, probe)
        variants[kind] = (
            kind_settings,
            config_hash,
            base_probe_metrics(ledger, config_hash, world.policy_dir, probe, kind_settings),
        )
    units = []
    for subject in sorted(probe.subject.unique()):
        for cohort_id, table in control_cohorts(
            world.items, subject, args.items, args.cohorts, size, config.world.seed
        ).items():
            kind_settings, config_hash, before = variants["fresh" if "fresh" in cohort_id else "cohort"]
            units += plan_units(table, probe, world.policy_dir, kind_settings, config_hash, before, threads)
    executor = make_executor("local", args.workers, run_dir=args.run_dir)
    try:
        for config_hash in dict.fromkeys(u.config_hash for u in units):
            result = run_battery([u for u in units if u.config_hash == config_hash], ledger, executor,
                                 progress=lambda d, f, t: print(f"\r{d + f}/{t} label runs", end="", flush=True))
            print(f"  ({result.skipped} already in the ledger)")
    finally:
        executor.close()

    hashes = {u.config_hash for u in units}
    rows = ledger.table()
    rows = rows[rows.config_hash.isin(hashes) & (rows.status == "ok")]
    rows = rows[rows.cohort_id.isin({u.cohort_id for u in units})]
    parts = []
    for row in rows.itertuples():
        subject = row.cohort_id.split("-")[0]
        deltas = json.loads(row.subject_deltas) if isinstance(row.subject_deltas, str) else row.subject_deltas
        parts.append(
            {
                "subject": subject,
                "kind": "fresh96" if "fresh" in row.cohort_id else "cohort8",
                "cohort_id": row.cohort_id,
                "seed": row.seed,
                "own_lift_pass": deltas[subject]["lift_pass"],
                "own_lift_nll": deltas[subject]["lift_nll"],
                "lift_pass": row.lift_pass,
            }
        )
    table = pd.DataFrame(parts)
    summary = []
    for (subject, kind), grp in table.groupby(["subject", "kind"]):
        entry = {"subject": subject, "kind": kind, "runs": len(grp), "cohorts": grp.cohort_id.nunique()}
        for column in ("own_lift_pass", "own_lift_nll"):
            values = grp[column].to_numpy(float)
            entry[column] = M.bootstrap(
                lambda idx, v=values: v[idx].mean(), len(values), resamples=args.bootstrap, seed=0
            )
        entry["share_improving"] = float((grp.groupby("cohort_id").own_lift_pass.mean() > 0).mean())
        summary.append(entry)
    base = {s: v["pass"] for s, v in units[0].before.items()}
    payload = {
        "command": "python bench/fresh_control.py "
        + " ".join(([f"--config {args.config}"] if args.config else []) + [f"--set {s}" for s in args.set]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine()},
        "policy_key": world.pretrain.get("policy_key"),
        "items": args.items,
        "cohorts_per_subject": args.cohorts,
        "seeds": args.seeds,
        "label_settings": {k: settings[k] for k in ("steps", "learning_rate", "num_generations", "loss_type")},
        "base_expected_accuracy": base,
        "summary": summary,
        "runs": table.to_dict(orient="records"),
        "seconds": time.perf_counter() - started,
    }
    write_json(payload, args.out)
    print(
        f"{'subject':10s} {'kind':8s} {'runs':>4s}  own Δ expected accuracy (95% CI)   own Δ gold NLL drop     "
        "improving"
    )
    for e in summary:
        p, n = e["own_lift_pass"], e["own_lift_nll"]
        print(f"{e['subject']:10s} {e['kind']:8s} {e['runs']:4d}  {p['value']:+.4f} [{p['lo']:+.4f}, {p['hi']:+.4f}]"
              f"   {n['value']:+.4f} [{n['lo']:+.4f}, {n['hi']:+.4f}]   {e['share_improving']:.0%}")
    print(f"wrote {args.out}  ({payload['seconds']:.0f} s)")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
