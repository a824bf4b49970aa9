"""What a newcomer's first command costs: `make demo` in a fresh clone with an empty TAP home.

Clones the committed HEAD of this repository into a temporary folder, runs `make demo` there
(venv creation, install, pretraining, the demo study of configs/demo.toml) with a fresh
`$TAP_HOME`, and records the wall time of the whole command, each study stage's seconds (its
study.json) and the peak resident memory of the largest process. `--target study` runs `make
study` instead: the full default study (configs/tiny.toml) whose outputs every figure about the
default world comes from. With `--intervention`, then runs `tap intervention` on the same run
folder. The study's own outputs (metrics.json, loop.json, intervention.json, the label battery's
summary with each cohort's label, the tiny policy's probe table, study.json, features.parquet and
predictions.parquet) are copied to docs/results/demo/ (or docs/results/default-study/), so every
figure the README and docs quote has a committed source. Writes bench/results/demo.json (or
bench/results/study_default.json) and prints a table.

    python bench/demo.py [--target demo|study] [--keep DIR] [--intervention]

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
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = {  # make target -> (its run folder, where its outputs are committed, its timing file)
    "demo": ("runs/demo", REPO / "docs" / "results" / "demo", REPO / "bench" / "results" / "demo.json"),
    "study": (
        "runs/default",
        REPO / "docs" / "results" / "default-study",
        REPO / "bench" / "results" / "study_default.json",
    ),
}


def run(command: list[str], cwd: Path, env: dict, log: Path) -> float:
    """Run a command to completion (its output to `log`); its wall seconds. Fails loudly."""
    start = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit {done.returncode}; see {log}")
    return seconds


def label_summary(clone: Path, run_dir: Path, env: dict) -> dict:
    """The battery summary `tap labels show` prints, as JSON (read with the clone's own TAP)."""
    code = (
        "import json, sys; from tap import api; per, summary = api.labels_table(sys.argv[1]); "
        "print(json.dumps({**summary, 'labels': per[['cohort_id', 'label', 'seed_std', "
        "'n_seeds']].to_dict('records')}))"
    )
    out = subprocess.run([str(clone / ".venv/bin/python"), "-c", code, str(run_dir)], cwd=clone, env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def copy_results(run_dir: Path, home: Path, summary: dict, results: Path) -> None:
    results.mkdir(parents=True, exist_ok=True)
    for name in (
        "metrics.json",
        "loop.json",
        "intervention.json",
        "study.json",
        "config.toml",
        "features.parquet",
        "predictions.parquet",
    ):
        if (run_dir / name).exists():
            shutil.copyfile(run_dir / name, results / name)
    pretrain = next((home / "policies").glob("*/pretrain.json"))
    info = json.loads(pretrain.read_text())
    (results / "tiny_policy.json").write_text(
        json.dumps(
            {
                k: info[k]
                for k in ("parameters", "steps", "seconds", "band", "in_band", "probe_table", "behaviour_table")
                if k in info
            },
            indent=2,
        )
        + "\n"
    )
    (results / "labels_summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False, default=str) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--target",
        choices=sorted(TARGETS),
        default="demo",
        help="make demo (the first run) or make study (the full default study).",
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="Clone into this folder and keep it (default: a temporary one)."
    )
    parser.add_argument(
        "--intervention", action="store_true", help="Run `tap intervention` on the run folder after the study."
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="The timing file (default: bench/results/demo.json or study_default.json).",
    )
    args = parser.parse_args()
    folder, results, out = TARGETS[args.target]
    out = args.out or out

    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    base = args.keep or Path(tempfile.mkdtemp(prefix="tap-demo-"))
    clone, home = base / "clone", base / "home"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "TAP_"))} | {"TAP_HOME": str(home)}
    make_seconds = run(["make", args.target], clone, env, base / f"{args.target}.log")
    run_dir = clone / folder
    stages = json.loads((run_dir / "study.json").read_text())["stages"]
    intervention_seconds = None
    if args.intervention:
        intervention_seconds = run(
            [str(clone / ".venv/bin/tap"), "intervention", str(run_dir)], clone, env, base / "intervention.log"
        )
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB on Linux
    copy_results(run_dir, home, label_summary(clone, run_dir, env), results)
    study_seconds = sum(s["seconds"] for s in stages.values())
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "commit": commit,
        "command": f"make {args.target} (fresh clone, empty TAP_HOME)",
        "make_seconds": make_seconds,
        "study_seconds": study_seconds,
        "setup_seconds": make_seconds - study_seconds,
        "stages": {name: {"seconds": s["seconds"], "detail": s.get("detail", "")} for name, s in stages.items()},
        "intervention_seconds": intervention_seconds,
        "peak_rss_gib": peak_gib,
        "results": str(results.relative_to(REPO)),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"{'stage':<14}{'seconds':>9}  what")
    for name, stage in payload["stages"].items():
        print(f"{name:<14}{stage['seconds']:>9.1f}  {stage['detail']}")
    print(
        f"{'set-up':<14}{payload['setup_seconds']:>9.1f}  venv creation and install: make {args.target} minus the "
        "study stages"
    )
    print(
        f"{'make ' + args.target:<14}{make_seconds:>9.1f}  ({make_seconds / 60:.1f} min; peak RSS {peak_gib:.2f} GiB)"
    )
    if intervention_seconds is not None:
        print(f"{'intervention':<14}{intervention_seconds:>9.1f}")
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
