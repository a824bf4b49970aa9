"""Choosing where it counts (issues 18, 31): per-step choice quality with each arm's price, and the cumulative loop.

1. The TAP arm's prior: the configured predictor (the config's [predictor]) fitted on the zoo's labelled
   battery of the same world and policy (docs/results/zoo/tiny-default for the default tiny world: 256
   cohorts x 3 seeds; docs/results/zoo/reasoning-gym for configs/reasoning-gym-tiny.toml), on its
   S-seed mean labels of evaluate.target, saved to RUN_DIR/prior.skops with its sidecar.
2. `tap choice`: at every state along TAP's path, all arms (the cascades included) choose among the
   same M candidates, every candidate is labelled from that state (loop.oracle_seeds runs of
   loop.train_steps steps), and every arm is priced in seconds and FLOPs from what the state measured.
3. `tap loop` (the cumulative curves: arms whose trajectories diverge) on evaluate.target, with the
   same prior.
Copies choice.json, choice.parquet, choice_candidates.parquet, loop.json, loop.parquet and
config.toml to --out, with the command and the wall time of each part in bench.json.

    python bench/choice.py runs/choice --seeds 10 --skip-loop --out docs/results/choice
    python bench/choice.py runs/choice --seeds 10 --skip-choice --out docs/results/choice \
        --set 'loop.arms=["tap", "cascade", "reward_filter", "random"]'
    python bench/choice.py runs/choice-rg --config configs/reasoning-gym-tiny.toml --seeds 4 --skip-loop \
        --out docs/results/choice-reasoning-gym
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from tap import api
from tap.api.predict import configured_predictor
from tap.config import load_config, policy_key
from tap.evaluate.transfer import load_world
from tap.predict.artifact import save_predictor
from tap.store import write_json

REPO = Path(__file__).resolve().parents[1]
BATTERIES = {"tiny": REPO / "docs/results/zoo/tiny-default", "reasoning-gym": REPO / "docs/results/zoo/reasoning-gym"}


def fit_prior(config, out: Path, battery: Path) -> dict:
    """The configured predictor on a zoo battery of the same policy (labels: its S-seed means of evaluate.target)."""
    world = load_world(battery, target=config.evaluate.target)
    if world.policy != policy_key(config):
        sys.exit(f"{battery}: its policy ({world.policy}) is not this config's ({policy_key(config)}); "
                 "give --battery a zoo export of the same world")
    known = {name: tag for name, tag, _ in api.feature_catalog()}
    features = world.features.set_index("cohort_id")
    columns = [c for c in features.columns if known.get(c) in config.predictor.families and features[c].notna().any()]
    predictor = configured_predictor(config, columns).fit(features[columns].astype(float), world.y,
                                                          subjects=world.domains)
    metadata = {
        "columns": columns,
        "used_columns": [columns[i] for i in predictor.columns_],
        "target": config.evaluate.target,
        "cohorts": int(len(world)),
        "seeds": int(world.y_cs.shape[1]),
        "battery": str(battery.resolve().relative_to(REPO)) if battery.resolve().is_relative_to(REPO) else str(battery),
        "model": predictor.describe(),
    }
    save_predictor(predictor, out, metadata)
    return metadata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--skip-loop", action="store_true", help="only the per-step choice quality")
    parser.add_argument("--skip-choice", action="store_true", help="only the cumulative loop")
    parser.add_argument("--resummarize", action="store_true",
                        help="only recompute RUN_DIR/choice.json from its choice.parquet and choice_candidates.parquet")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config overrides (key=value)")
    parser.add_argument("--config", type=Path, default=None, help="the world's config (default: the tiny defaults)")
    parser.add_argument("--battery", type=Path, default=None,
                        help="zoo export the prior is fitted on (default: the zoo's battery of the config's suite)")
    args = parser.parse_args()
    run = args.run_dir
    run.mkdir(parents=True, exist_ok=True)
    prior = run / "prior.skops"
    config = load_config(args.config, [*args.overrides, f"loop.prior={json.dumps(str(prior))}",
                                       f"loop.seeds={args.seeds}"])
    meta = fit_prior(config, prior, args.battery or BATTERIES[config.world.suite])
    if args.resummarize:
        from tap.api.experiments import choice_summary
        from tap.labels.ledger import Ledger
        from tap.store import write_json as write

        summary = choice_summary(
            pd.read_parquet(run / "choice.parquet"),
            pd.read_parquet(run / "choice_candidates.parquet"),
            load_config(run / "config.toml"),
            f"prior: {prior.name}",
            label_runs=int((Ledger(run / "choice" / "labels.sqlite").table().status == "ok").sum()),
        )
        write(summary, run / "choice.json")
        print(f"rewrote {run / 'choice.json'}")
        if args.out:
            shutil.copy(run / "choice.json", args.out / "choice.json")
            record = args.out / "bench.json"
            earlier = json.loads(record.read_text()) if record.exists() else {}
            write(
                {
                    **earlier,
                    "choice_resummarized_command": shlex.join(["python", f"bench/{Path(__file__).name}",
                                                               *sys.argv[1:]]),
                },
                record,
            )
        return
    print(f"prior: {meta['model']} on {meta['cohorts']} cohorts ({len(meta['used_columns'])} features)")
    timings = {}

    def report(name: str):
        def progress(done: int, total: int) -> None:
            print(f"\r{name}: {done}/{total}  {time.perf_counter() - start:.0f} s", end="", file=sys.stderr, flush=True)
        return progress

    if not args.skip_choice:
        start = time.perf_counter()
        _, summary = api.choice(run, config=config, workers=args.workers, progress=report("choice states"))
        timings["choice_seconds"] = time.perf_counter() - start
        print()
        for arm, t in summary["arms"].items():
            paired = summary["paired_vs_random"].get(arm, {}).get("regret")
            print(
                f"{arm:14s} regret {t['regret']['mean']:+.4f} [{t['regret']['lo']:+.4f}, {t['regret']['hi']:+.4f}]"
                + (f"  minus random {paired['mean']:+.4f} [{paired['lo']:+.4f}, {paired['hi']:+.4f}]" if paired else "")
                + f"  rank {t['rank']['mean']:.2f}  share of oracle {t['fraction_of_oracle']['mean']:+.2f}"
            )
    if not args.skip_loop:
        start = time.perf_counter()
        _, summary = api.loop(run, config=config, progress=report("loop steps"))
        timings["loop_seconds"] = time.perf_counter() - start
        print()
        for arm, t in summary["arms"].items():
            print(f"{arm:14s} cumulative {summary['target']} {t['mean']:+.4f} [{t['lo']:+.4f}, {t['hi']:+.4f}]")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name in (
            "choice.json",
            "choice.parquet",
            "choice_candidates.parquet",
            "loop.json",
            "loop.parquet",
            "config.toml",
        ):
            if (run / name).exists():
                shutil.copy(run / name, args.out / name)
        command = "python bench/" + Path(__file__).name + " " + shlex.join(sys.argv[1:])
        record = args.out / "bench.json"  # the choice and the loop parts may run as two commands: keep both
        earlier = json.loads(record.read_text()) if record.exists() else {}
        part = "choice" if not args.skip_choice else "loop"
        write_json({**earlier, f"{part}_command": command, "prior": meta, **timings, "machine": platform.machine(),
                    f"{part}_date": datetime.now(timezone.utc).isoformat(timespec="seconds")}, record)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
