"""What a study costs with its world cold: `tap study --config FILE` with an empty TAP home.

Runs the study with this checkout's installed `tap` (no clone, no install: `bench/demo.py` measures
those), in a fresh `$TAP_HOME`, so pretraining the world's tiny policy is part of the bill. Records
the wall time of the command, each stage's seconds (its study.json) and the peak resident memory of
the largest process, then copies the study's outputs (metrics.json, study.json, config.toml,
features.parquet, predictions.parquet, the tiny policy's probe table and the label battery's summary)
to RESULTS, so every figure quoted from the study has a committed source.

    python bench/study.py --config configs/reasoning-gym-tiny.toml --results docs/results/reasoning-gym-study \
        --out bench/results/study_reasoning_gym.json [--keep DIR]

Run it on an otherwise idle machine: the timings are wall-clock seconds, not ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from demo import copy_results, label_summary, run  # noqa: E402  (one way to run, summarize and copy a study)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="The study's config file.")
    parser.add_argument(
        "--results", type=Path, required=True, help="Where the study's outputs are copied (e.g. docs/results/NAME)."
    )
    parser.add_argument("--out", type=Path, required=True, help="The timing JSON (e.g. bench/results/study_NAME.json).")
    parser.add_argument(
        "--keep", type=Path, default=None, help="Run in this folder and keep it (default: a temporary one)."
    )
    args = parser.parse_args()

    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    base = args.keep or Path(tempfile.mkdtemp(prefix="tap-study-"))
    base.mkdir(parents=True, exist_ok=True)
    home, run_dir = base / "home", base / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_")} | {"TAP_HOME": str(home)}
    tap = Path(sys.executable).with_name("tap")
    seconds = run(
        [str(tap), "study", "--config", str(args.config.resolve()), "--out", str(run_dir)],
        REPO,
        env,
        base / "study.log",
    )
    stages = json.loads((run_dir / "study.json").read_text())["stages"]
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB on Linux
    results = args.results if args.results.is_absolute() else REPO / args.results
    copy_results(run_dir, home, label_summary(REPO, run_dir, env), results)
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "commit": commit,
        "command": f"tap study --config {args.config} (empty TAP_HOME: the world and its policy built cold)",
        "study_command_seconds": seconds,
        "study_seconds": sum(s["seconds"] for s in stages.values()),
        "stages": {name: {"seconds": s["seconds"], "detail": s.get("detail", "")} for name, s in stages.items()},
        "peak_rss_gib": peak_gib,
        "results": str(results.relative_to(REPO)),
    }
    out = args.out if args.out.is_absolute() else REPO / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"{'stage':<14}{'seconds':>9}  what")
    for name, stage in payload["stages"].items():
        print(f"{name:<14}{stage['seconds']:>9.1f}  {stage['detail']}")
    print(f"{'tap study':<14}{seconds:>9.1f}  ({seconds / 60:.1f} min; peak RSS {peak_gib:.2f} GiB)")
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
