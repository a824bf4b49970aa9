"""Build and label the zoo of worlds (issue 29) and export each battery to docs/results/zoo/<world>/.

Each world is a config (configs/zoo/README.md lists them, their axes and the test worlds). A world is
run with `tap study --config CONFIG --out RUNS/WORLD --until labels` (world, rollouts, features with the
R, F and G families, labels; no evaluation), in one shared TAP home so a world whose policy key matches
a shipped or cached policy does not pretrain. Resumable: a rerun reuses every finished stage and every
label run already in a world's ledger. `--link WORLD=RUN_DIR` starts a world from an existing run folder
of the same config (the committed batteries were made in /work/regen/runs by bench/regenerate.py).

Per world it writes docs/results/zoo/<world>/: config.toml, features.parquet, labels.parquet (one row per
cohort x seed, every target), cohorts.parquet (cohort id, vendor, domain, subjects, item group),
labels_summary.json (as `tap labels show`, with the noise ceiling of the seed mean) and study.json
(stage seconds); and docs/results/zoo/zoo.json: the worlds, their policy keys, sizes and timings.

    python bench/zoo.py [--runs runs/zoo] [--home runs/zoo/home] [--only tiny-g4 ...] [--link NAME=DIR ...]
    python bench/zoo.py --export-only --evaluate   # then: leave one world out, few-label curve, shipped predictor

`--evaluate` runs `tap evaluate --worlds docs/results/zoo --out docs/results/zoo` (transfer.json, adaptation.json)
and `tap fit --worlds docs/results/zoo --out src/tap/predict/shipped/zoo.skops` (the pooled predictor `tap score`
uses when given none), and records both commands and their seconds in zoo.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "results" / "zoo"
# world -> config; the order is the build order (worlds that reuse a policy first, the one that pretrains last)
WORLDS = {
    "tiny-default": "configs/tiny-large.toml",
    "reasoning-gym": "configs/reasoning-gym-tiny.toml",
    "interference": "configs/tiny-interference.toml",
    "tiny-lr1e4": "configs/zoo/tiny-lr1e4.toml",
    "tiny-g4": "configs/zoo/tiny-g4.toml",
    "tiny-noisy-market": "configs/zoo/tiny-noisy-market.toml",
    "tiny-clean-market": "configs/zoo/tiny-clean-market.toml",
    "tiny-two-subjects": "configs/zoo/tiny-two-subjects.toml",
    "rg-lr1e4": "configs/zoo/rg-lr1e4.toml",
    "rg-arith-market": "configs/zoo/rg-arith-market.toml",
    "tiny-seed1": "configs/zoo/tiny-seed1.toml",
}
# named in configs/zoo/README.md before any model or feature was compared on the zoo; nothing is tuned on them
TEST_WORLDS = ("interference", "tiny-two-subjects", "rg-arith-market", "tiny-seed1")
OVERRIDES = {"interference": ["loop.in_study=false"]}


def build(name: str, runs: Path, home: Path | None, log_dir: Path) -> float:
    """Run (or resume) one world's study up to its labels; return the seconds this call took."""
    command = [sys.executable, "-m", "tap.cli", "study", "--config", WORLDS[name], "--out", str(runs / name),
               "--until", "labels"]
    for override in OVERRIDES.get(name, []):
        command += ["--set", override]
    if home is not None:
        command += ["--home", str(home)]
    started = time.perf_counter()
    log = log_dir / f"{name}.log"
    with log.open("w") as out:
        result = subprocess.run(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{name}: `tap study` failed with exit {result.returncode}; see {log}")
    return seconds


def export(name: str, run: Path, home: Path | None) -> dict:
    """Write the world's battery to docs/results/zoo/<name>/ and return its zoo.json entry."""
    import pandas as pd

    from tap import api
    from tap.api.predict import _labelled_features
    from tap.config import load_config, policy_key
    from tap.evaluate.metrics import noise_ceiling

    config = load_config(run / "config.toml")
    target = OUT / name
    target.mkdir(parents=True, exist_ok=True)
    data = _labelled_features(run, config, home)
    ids = data["features"].cohort_id
    data["features"].to_parquet(target / "features.parquet", index=False)
    columns = ["cohort_id", "cohort_hash", "seed", "config_hash", "lift_pass", "lift_nll", "delta_accuracy",
               "pass_before", "pass_after", "nll_before", "nll_after", "accuracy_before", "accuracy_after"]
    rows = data["rows"]
    rows = rows[rows.cohort_id.isin(ids) & rows.seed.isin(data["seeds"])][columns]
    rows.sort_values(["cohort_id", "seed"]).to_parquet(target / "labels.parquet", index=False)
    cohorts = pd.read_parquet(run / "cohorts.parquet")
    cohorts["cohort_id"] = cohorts.cohort_id.astype(str)
    vendor = cohorts.groupby("cohort_id").vendor.first()
    pd.DataFrame({
        "cohort_id": ids, "vendor": vendor.reindex(ids).to_numpy(), "domain": data["domains"],
        "subjects": [",".join(sorted(m)) for m in data["members"]], "group": data["groups"],
    }).to_parquet(target / "cohorts.parquet", index=False)
    per_cohort, summary = api.labels_table(run, home=home)
    seeds = data["y_cs"].shape[1]
    summary["noise_ceiling"] = noise_ceiling(summary["single_seed_reliability"], seeds)
    (target / "labels_summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    shutil.copyfile(run / "config.toml", target / "config.toml")
    shutil.copyfile(run / "study.json", target / "study.json")
    stages = json.loads((run / "study.json").read_text())["stages"]
    return {
        "world": name, "config": WORLDS[name], "policy_key": policy_key(config), "suite": config.world.suite,
        "test_world": name in TEST_WORLDS, "cohorts": int(len(ids)), "seeds": seeds,
        "item_groups": int(len(set(data["groups"]))), "target": config.evaluate.target,
        "label": {"learning_rate": config.label.learning_rate, "steps": config.label.steps,
                  "num_generations": config.label.num_generations},
        "noise_ceiling": summary["noise_ceiling"], "single_seed_reliability": summary["single_seed_reliability"],
        "mean_label": summary["mean_label"], "share_improving": summary["share_improving"],
        "stage_seconds": {stage: round(record["seconds"], 1) for stage, record in stages.items()
                          if stage in ("world", "rollouts", "features", "labels")},
        "policy_source": _policy_source(run),
    }


def _policy_source(run: Path) -> str:
    detail = json.loads((run / "study.json").read_text())["stages"].get("world", {}).get("detail", "")
    return detail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "zoo", help="Run folders, one per world.")
    parser.add_argument("--home", type=Path, default=None, help="TAP home shared by the worlds (default: TAP's).")
    parser.add_argument("--only", nargs="*", choices=list(WORLDS), help="Build only these worlds.")
    parser.add_argument("--link", nargs="*", default=[], metavar="WORLD=RUN_DIR",
                        help="Start a world from an existing run folder of the same config (a symlink).")
    parser.add_argument("--export-only", action="store_true", help="Export the worlds already built; run nothing.")
    parser.add_argument("--evaluate", action="store_true",
                        help="Then evaluate transfer over every exported world and fit the shipped zoo predictor.")
    args = parser.parse_args()
    runs = args.runs.resolve()
    log_dir = runs / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for link in args.link:
        name, _, folder = link.partition("=")
        if name not in WORLDS or not Path(folder).is_dir():
            raise SystemExit(f"--link {link}: need WORLD=RUN_DIR with a world of {', '.join(WORLDS)} and a folder")
        if not (runs / name).exists():
            (runs / name).symlink_to(Path(folder).resolve())
    record_path = OUT / "zoo.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {"worlds": {}}
    for name in args.only or list(WORLDS):
        seconds = None
        if not args.export_only:
            print(f"{name}: tap study --until labels ...", flush=True)
            seconds = build(name, runs, args.home, log_dir)
        if not (runs / name / "study.json").exists():
            print(f"{name}: not built; skipped", flush=True)
            continue
        entry = export(name, runs / name, args.home)
        if seconds is not None:
            entry["this_call_seconds"] = round(seconds, 1)
        record["worlds"][name] = entry
        print(f"{name}: {entry['cohorts']} cohorts x {entry['seeds']} seeds, noise ceiling "
              f"{entry['noise_ceiling']:.2f}, {sum(entry['stage_seconds'].values()):.0f} s of stages", flush=True)
        record.update({
            "command": "python bench/zoo.py " + " ".join(sys.argv[1:]),
            "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            "test_worlds": list(TEST_WORLDS),
        })
        OUT.mkdir(parents=True, exist_ok=True)
        record_path.write_text(json.dumps(record, indent=2) + "\n")
    overlap(runs, record)
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    if args.evaluate:
        record["evaluation"] = evaluate(args.home)
        record_path.write_text(json.dumps(record, indent=2) + "\n")


def overlap(runs: Path, record: dict) -> None:
    """Per world: the share of its distinct prompts that another world of the same base policy also sells (worlds
    that share a policy draw their pools from one generator, so leaving one out does not keep its items out)."""
    import pandas as pd

    worlds = {n: w for n, w in record["worlds"].items() if (runs / n / "cohorts.parquet").exists()}
    prompts = {n: set(pd.read_parquet(runs / n / "cohorts.parquet", columns=["prompt"]).prompt) for n in worlds}
    for name, entry in worlds.items():
        others = set().union(*(prompts[m] for m, w in worlds.items() if m != name and w["policy_key"] ==
                               entry["policy_key"]))
        entry["prompts"] = len(prompts[name])
        entry["prompt_share_in_same_policy_worlds"] = round(len(prompts[name] & others) / len(prompts[name]), 3)


def evaluate(home: Path | None) -> list[dict]:
    """Leave one world out and the few-label curve over docs/results/zoo, then the shipped pooled predictor."""
    shipped = Path("src") / "tap" / "predict" / "shipped" / "zoo.skops"
    zoo = OUT.relative_to(REPO)  # the commands run in the repository: the files they write name no machine's path
    steps = []
    for args in (["evaluate", "--worlds", zoo, "--out", zoo], ["fit", "--worlds", zoo, "--out", shipped]):
        command = [sys.executable, "-m", "tap.cli", *map(str, args)] + (["--home", str(home)] if home else [])
        started = time.perf_counter()
        result = subprocess.run(command, cwd=REPO)
        if result.returncode != 0:
            raise SystemExit(f"`{' '.join(command)}` failed with exit {result.returncode}")
        shown = " ".join(command).replace(sys.executable, "python").replace(str(REPO) + "/", "")
        steps.append({"command": shown, "seconds": round(time.perf_counter() - started, 1)})
        print(f"{steps[-1]['seconds']:>8.1f} s  {shown}", flush=True)
    return steps


if __name__ == "__main__":
    main()
