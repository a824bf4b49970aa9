"""Rebuild the policies TAP ships by pretraining them here, and compare each with its shipped copy.

TAP ships the embedded worlds' pretrained policies (src/tap/world/shipped/<policy_key>/) so no new
machine pretrains them. Pretraining is deterministic on one machine but not bit-reproducible across
machines, so a rebuild elsewhere gives other weights; this script measures how far apart they land:
per subject, the probe's greedy accuracy and gold NLL, and the behaviour table (P(correct) and
P(wrong) where the behaviours disagree, pass@1, pass@8), shipped against rebuilt, with the steps each
took. Writes bench/results/shipped_policy.json and prints a table.

    python bench/shipped_policy.py [--worlds default reasoning-gym] [--out bench/results/shipped_policy.json]

~45 min for the default world and ~25 min for reasoning-gym's on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORLDS = {"default": None, "reasoning-gym": REPO / "configs" / "reasoning-gym-tiny.toml"}
BEHAVIOUR_KEYS = ("p_correct_divergent", "p_wrong_divergent", "pass_1", "pass_8")


def _rows(table: list[dict], keys: tuple[str, ...]) -> dict[str, dict]:
    return {row["subject"]: {k: row.get(k) for k in keys} for row in table}


def _summary(info: dict, weights: str) -> dict:
    return {
        "steps": info["steps"],
        "seconds": info["seconds"],
        "in_band": info["in_band"],
        "weights_sha256": weights,
        "probe": _rows(info["probe_table"], ("accuracy", "gold_nll")),
        "behaviours": _rows(info.get("behaviour_table") or [], BEHAVIOUR_KEYS),
    }


def _max_gap(shipped: dict, rebuilt: dict) -> float:
    gaps = [abs(rebuilt[s][k] - v) for s, row in shipped.items() for k, v in row.items()
            if v is not None and rebuilt.get(s, {}).get(k) is not None]
    return max(gaps, default=0.0)


def compare(name: str, config_path: Path | None, home: Path) -> dict:
    from tap.config import load_config, policy_key
    from tap.store import file_sha256
    from tap.world.build import build_world, shipped_policy

    config = load_config(config_path)
    shipped_dir = shipped_policy(config)
    if shipped_dir is None:
        raise SystemExit(f"{name}: TAP ships no policy for key {policy_key(config)}")
    shipped = _summary(json.loads((shipped_dir / "pretrain.json").read_text()),
                       (shipped_dir / "weights.sha256").read_text().strip())

    def progress(step: int, total: int, record: dict | None) -> None:
        if record:
            print(f"  {name}: step {step}/{total}, probe accuracy {record['acc_all']:.3f}", flush=True)

    started = time.perf_counter()
    built = build_world(config, home=home, progress=progress, rebuild=True)
    rebuilt = _summary(built.pretrain, file_sha256(built.policy_dir / "model.safetensors"))
    return {
        "config": str(config_path.relative_to(REPO)) if config_path else "(default)",
        "policy_key": policy_key(config),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "shipped": shipped,
        "rebuilt": rebuilt,
        "identical_weights": shipped["weights_sha256"] == rebuilt["weights_sha256"],
        "max_probe_accuracy_gap": _max_gap({s: {"accuracy": r["accuracy"]} for s, r in shipped["probe"].items()},
                                           {s: {"accuracy": r["accuracy"]} for s, r in rebuilt["probe"].items()}),
        "max_behaviour_gap": _max_gap(shipped["behaviours"], rebuilt["behaviours"]),
    }


def _print(results: dict) -> None:
    for name, r in results.items():
        s, b = r["shipped"], r["rebuilt"]
        print(f"\n{name} (policy {r['policy_key']}): shipped {s['steps']} steps, rebuilt here {b['steps']} steps; "
              f"identical weights: {r['identical_weights']}")
        print(f"{'subject':<10}{'acc shipped':>12}{'acc rebuilt':>12}{'NLL shipped':>12}{'NLL rebuilt':>12}"
              f"{'pass@8 shipped':>15}{'pass@8 rebuilt':>15}")
        for subject, row in s["probe"].items():
            other = b["probe"].get(subject, {})
            beh_s, beh_b = s["behaviours"].get(subject, {}), b["behaviours"].get(subject, {})
            cells = [row["accuracy"], other.get("accuracy"), row["gold_nll"], other.get("gold_nll"),
                     beh_s.get("pass_8"), beh_b.get("pass_8")]
            text = [f"{c:.3f}" if c is not None else "—" for c in cells]
            print(f"{subject:<10}{text[0]:>12}{text[1]:>12}{text[2]:>12}{text[3]:>12}{text[4]:>15}{text[5]:>15}")
        print(f"largest gap: probe accuracy {r['max_probe_accuracy_gap']:.3f}, behaviour table "
              f"{r['max_behaviour_gap']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", nargs="+", choices=sorted(WORLDS), default=sorted(WORLDS))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "shipped_policy.json")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "commit": commit,
        "command": "python bench/shipped_policy.py --worlds " + " ".join(args.worlds),
        "worlds": {},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tap-rebuild-") as home:
        for name in args.worlds:  # written after each world, so a stopped run keeps what it finished
            payload["worlds"][name] = compare(name, WORLDS[name], Path(home))
            args.out.write_text(json.dumps(payload, indent=2) + "\n")
    _print(payload["worlds"])
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
