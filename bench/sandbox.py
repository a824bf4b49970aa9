"""What the code sandbox costs per program: the fallback walls and bubblewrap, against a bare
`python -I -S -c` subprocess, in one process on the same programs.

Each arm runs the same small program with 3 asserts `--runs` times (interleaved, so machine noise
hits every arm alike) and records the median seconds per call; more asserts measure the per-assert
cost of the strict comparisons and the snapshot check. Writes bench/results/sandbox.json and prints
a table of ratios against the bare subprocess.

    python bench/sandbox.py [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from tap.verify import _sandbox_jail
from tap.verify.code import run_python

PROGRAM = "def add(a, b):\n    return a + b\n"
TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\nassert add(0, 0) == 0\n"
MANY = "".join(f"assert add({i}, 1) == {i + 1}\n" for i in range(300))


def bare() -> None:
    subprocess.run([sys.executable, "-I", "-S", "-c", PROGRAM + TESTS], check=True)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "sandbox.json")
    args = parser.parse_args()

    arms = {"bare python subprocess": bare,
            "sandbox, fallback walls": lambda: run_python(PROGRAM, TESTS, jail="none"),
            "sandbox, fallback walls, 300 asserts": lambda: run_python(PROGRAM, MANY, jail="none")}
    if _sandbox_jail.bwrap_problem() is None:
        arms["sandbox, bubblewrap"] = lambda: run_python(PROGRAM, TESTS, jail="bwrap")
    for name, fn in arms.items():  # warm-up: imports, the bwrap probe, page cache
        fn()
    seconds = {name: [] for name in arms}
    for _ in range(args.runs):
        for name, fn in arms.items():
            seconds[name].append(timed(fn))
    base = statistics.median(seconds["bare python subprocess"])
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    per_assert = (medians["sandbox, fallback walls, 300 asserts"] - medians["sandbox, fallback walls"]) / 297
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "runs": args.runs,
        "median_seconds": medians, "ratio_to_bare": {name: m / base for name, m in medians.items()},
        "seconds_per_extra_assert": per_assert, "bwrap": _sandbox_jail.bwrap_problem() or "available",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"{'arm':<40}{'median ms':>11}{'x bare':>9}")
    for name, m in medians.items():
        print(f"{name:<40}{1e3 * m:>11.1f}{m / base:>9.2f}")
    print(f"per extra assert: {1e3 * per_assert:.3f} ms")


if __name__ == "__main__":
    main()
