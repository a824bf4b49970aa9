"""Regenerate the committed study results (docs/results/) with this checkout's code.

Each study is run (or resumed: finished label runs are reused from its ledger) with its config under
`--runs`, sharing one TAP home, then evaluated anew with `tap evaluate` unless the study just did (and
the other commands its results folder holds), and its outputs are copied to docs/results/. Per-seed labels go along as
labels.parquet (cohort, seed and every target), so intervals can be recomputed later without a
relabel. Writes bench/results/regenerate.json: the commit, and per step its command and seconds.

    python bench/regenerate.py [--runs runs/regen] [--home runs/regen/home] [--only default demo ...]

- default (configs/tiny.toml, + `tap intervention`): default-study (with loop.json, intervention.json),
  default-kfold, evidence (evidence.json)
- demo (configs/demo.toml): demo
- rg (configs/reasoning-gym-tiny.toml): reasoning-gym-study, reasoning-gym-evidence
- interference (configs/tiny-interference.toml, loop.in_study = false): interference-kfold; interference-study and
  interference-evidence evaluated as they were made (gbm; interference-study on lift_nll)
- large (configs/tiny-large.toml): large-study (+ learning_curve.json, auto_choice.json)
The interference world's loop and intervention (interference-study/loop.json, intervention.json) are not
rerun: their intervals resample loop seeds and cohorts within subject, not the evaluation's item groups.

Timings are wall-clock seconds on a shared machine; bench/demo.py and bench/study.py measure cold runs.
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
RESULTS = REPO / "docs" / "results"
STUDY_FILES = ("metrics.json", "predictions.parquet", "study.json", "config.toml", "features.parquet")
STUDIES = {  # run -> (config, overrides)
    "default": ("configs/tiny.toml", ()),
    "demo": ("configs/demo.toml", ()),
    "rg": ("configs/reasoning-gym-tiny.toml", ()),
    "interference": ("configs/tiny-interference.toml", ("--set", "loop.in_study=false")),
    "large": ("configs/tiny-large.toml", ()),
}
FOLDERS = {"default": ["default-study", "default-kfold"], "demo": ["demo"], "rg": ["reasoning-gym-study"],
           "interference": ["interference-kfold"], "large": ["large-study"]}
OLD_INTERFERENCE = ["predictor.model=gbm", "evaluate.target=lift_nll"]


class Steps:
    """Runs commands in order, logging each one's output, and keeps what ran and how long it took."""

    def __init__(self, logs: Path, env: dict):
        self.logs, self.env, self.done = logs, env, []

    def run(self, name: str, command: list[str]) -> None:
        started = time.perf_counter()
        log = self.logs / f"{name}.log"
        with log.open("w") as out:
            result = subprocess.run(command, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - started
        shown = " ".join(str(part) for part in command).replace(sys.executable, "python")
        self.done.append({"step": name, "command": shown, "seconds": round(seconds, 1)})
        print(f"{name:<34}{seconds:>8.1f} s  {shown}", flush=True)
        if result.returncode != 0:
            raise SystemExit(f"{name} failed with exit {result.returncode}; see {log}")


def tap(*args) -> list[str]:
    return [sys.executable, "-m", "tap.cli", *map(str, args)]


def bench(script: str, *args) -> list[str]:
    return [sys.executable, str(REPO / "bench" / script), *map(str, args)]


def copy(run: Path, folder: str, names=STUDY_FILES, rename: dict | None = None) -> None:
    target = RESULTS / folder
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (run / name).exists():
            shutil.copyfile(run / name, target / (rename or {}).get(name, name))


def labels_files(run: Path, folder: str, home: Path) -> None:
    """labels_summary.json (as `tap labels show` summarizes the battery) and labels.parquet (one row per
    cohort x seed of the run's label config: every target), and the tiny policy's probe table."""
    import pandas as pd

    from tap import api
    from tap.api.pipeline import label_selection

    per_cohort, summary = api.labels_table(run, home=home)
    payload = {**summary, "labels": per_cohort[["cohort_id", "label", "seed_std", "n_seeds"]].to_dict("records")}
    (RESULTS / folder / "labels_summary.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    rows = label_selection(run, home=home).rows
    columns = ["cohort_id", "cohort_hash", "seed", "config_hash", "lift_pass", "lift_nll", "delta_accuracy",
               "pass_before", "pass_after", "nll_before", "nll_after", "accuracy_before", "accuracy_after"]
    rows = rows[rows.status == "ok"][columns].sort_values(["cohort_id", "seed"]).reset_index(drop=True)
    pd.DataFrame(rows).to_parquet(RESULTS / folder / "labels.parquet", index=False)
    policy = _pretrain_record(run, home)
    if policy is not None:
        info = json.loads(policy.read_text())
        keys = ("parameters", "steps", "seconds", "band", "in_band", "probe_table", "behaviour_table")
        (RESULTS / folder / "tiny_policy.json").write_text(
            json.dumps({k: info[k] for k in keys if k in info}, indent=2) + "\n"
        )


def _pretrain_record(run: Path, home: Path) -> Path | None:
    """The pretrain.json of the policy this run's config implies (its folder under the TAP home)."""
    from tap.api.runs import folder_config
    from tap.resolve import policy_source

    policy_dir, _ = policy_source(folder_config(run), home=home, build=False)
    record = Path(policy_dir) / "pretrain.json" if policy_dir else None
    return record if record is not None and record.exists() else None


def regenerate(name: str, runs: Path, home: Path, steps: Steps) -> None:
    config, extra = STUDIES[name]
    run = runs / name
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    steps.run(f"{name}: study", tap("study", "--config", config, *extra, "--out", run, "--workers", 2))
    evaluated = json.loads((run / "study.json").read_text())["stages"].get("evaluate", {}).get("finished", "")
    if evaluated < started:  # the study's evaluation is older than this code
        steps.run(f"{name}: evaluate", tap("evaluate", run))
    if name == "default":  # the default world's policy is rebuilt here: its intervention with it
        steps.run(f"{name}: intervention", tap("intervention", run, "--workers", 2))
    for folder in FOLDERS[name]:
        if folder == "default-kfold":
            copy(run, folder, ("metrics.json", "predictions.parquet", "config.toml"))
            continue
        extra = ("loop.json", "intervention.json") if folder == "default-study" else ()
        copy(run, folder, (*STUDY_FILES, *extra))
        labels_files(run, folder, home)
    if name == "default":
        steps.run(f"{name}: evidence", bench("evidence.py", run, "--no-evaluate", "--out", RESULTS / "evidence"))
        copy(run, "evidence", ("metrics.json",), rename={"metrics.json": "metrics_lift_pass.json"})
    if name == "rg":
        steps.run(f"{name}: evidence", bench("evidence.py", run, "--no-evaluate", "--no-linearization", "--out",
                                             RESULTS / "reasoning-gym-evidence"))
    if name == "interference":  # interference-study and -evidence as they were made: gbm, the study on lift_nll
        from tap.api.runs import save_run_config
        from tap.config import load_config

        save_run_config(run, load_config(run / "config.toml", OLD_INTERFERENCE))
        steps.run(f"{name}: evidence (gbm)", bench("evidence.py", run, "--out", RESULTS / "interference-evidence"))
        copy(run, "interference-study")
        labels_files(run, "interference-study", home)
    if name == "large":
        steps.run(f"{name}: learning curve", bench("learning_curve.py", run, "--out", RESULTS / "large-study"))
        auto = run / "auto.skops"
        config_text = (run / "config.toml").read_text()
        steps.run(f"{name}: fit auto", tap("fit", run, "--set", "predictor.model=auto", "--out", auto))
        (run / "config.toml").write_text(config_text)  # `tap fit --set` keeps its change in the run; this fit is a look
        _auto_choice(auto.with_suffix(".json"), run)


def _auto_choice(sidecar: Path, run: Path) -> None:
    """large-study/auto_choice.json: what TAP auto chose on the whole battery (the fit's sidecar, trimmed)."""
    meta = json.loads(sidecar.read_text())
    keys = ("model", "auto_choice", "auto_inner_scores", "cohorts", "seeds", "label_config_hash", "target",
            "used_columns")
    out = {k: meta[k] for k in keys if k in meta}
    out["command"] = f"tap fit {run} --set predictor.model=auto --out auto.skops (its .json sidecar, trimmed)"
    (RESULTS / "large-study" / "auto_choice.json").write_text(json.dumps(out, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "regen", help="Where the run folders live.")
    parser.add_argument("--home", type=Path, default=None, help="The shared TAP home (default: RUNS/home).")
    parser.add_argument("--only", nargs="*", choices=sorted(STUDIES), default=None, help="Only these runs.")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "regenerate.json")
    args = parser.parse_args()
    runs = args.runs.resolve()
    home = (args.home or runs / "home").resolve()
    (runs / "logs").mkdir(parents=True, exist_ok=True)
    os.environ["TAP_HOME"] = str(home)  # for the readers this process runs itself
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_")} | {"TAP_HOME": str(home)}
    steps = Steps(runs / "logs", env)
    for name in args.only or list(STUDIES):
        regenerate(name, runs, home, steps)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    ran = {s["step"]: s for s in previous.get("steps", [])} | {s["step"]: s for s in steps.done}
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "commit": commit,
        "command": "python bench/regenerate.py " + " ".join(sys.argv[1:]),
        "steps": list(ran.values()),
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
