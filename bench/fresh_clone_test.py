"""What `make test` costs a newcomer: the test suite in a fresh clone, set-up included.

Clones the committed HEAD of this repository into a temporary folder and runs `make test` there (venv
creation, install with dev extras, the Debian packages when missing, the quick suite) with an empty HOME and
TAP_HOME, as CI does. Records the wall time of the whole command and of its set-up (the venv and the
install, timed as the `.venv/.installed-dev` target first), pytest's summary line and its slowest tests.
`--target test-all` runs everything CI runs. Writes bench/results/fresh_clone_<target>.json and prints a
table.

    python bench/fresh_clone_test.py [--target test|test-all] [--keep DIR]

Run it on an otherwise idle machine: the timings are wall-clock seconds, not ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(command: list[str], cwd: Path, env: dict, log: Path) -> tuple[float, int]:
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    return time.perf_counter() - started, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=["test", "test-all"], default="test")
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it (default: a temporary one).")
    parser.add_argument("--out", type=Path, help="Default: bench/results/fresh_clone_<target>.json")
    args = parser.parse_args()
    out = args.out or REPO / "bench" / "results" / f"fresh_clone_{args.target.replace('-', '_')}.json"
    base = args.keep or Path(tempfile.mkdtemp(prefix="tap-fresh-"))
    base.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    clone, home = base / "clone", base / "home"
    shutil.rmtree(clone, ignore_errors=True)
    home.mkdir(exist_ok=True)
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "TAP_"))}
    env |= {"HOME": str(home), "TAP_HOME": str(home / "tap"), "CI": "true"}
    setup_seconds, setup_rc = _run(["make", ".venv/.installed-dev"], clone, env, base / "setup.log")
    suite_seconds, rc = _run(["make", args.target], clone, env, base / f"{args.target}.log")
    log = (base / f"{args.target}.log").read_text()
    summary = [line.strip("= ") for line in log.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    slowest = [line.strip() for line in log.splitlines() if re.match(r"^\d+\.\d+s (call|setup|teardown) ", line)]
    payload = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "commit": commit,
        "command": f"python bench/fresh_clone_test.py --target {args.target}  (git clone; make .venv/.installed-dev; "
                   f"make {args.target}; empty HOME and TAP_HOME, CI=true)",
        "setup_seconds": round(setup_seconds, 1),
        "suite_seconds": round(suite_seconds, 1),
        "wall_seconds": round(setup_seconds + suite_seconds, 1),
        "exit_code": rc or setup_rc,
        "pytest_summary": summary,
        "slowest_tests": slowest,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"{'make ' + args.target:<28}{'seconds':>10}")
    print(f"{'set-up (venv, install)':<28}{setup_seconds:>10.1f}")
    print(f"{'the suite':<28}{suite_seconds:>10.1f}")
    print(f"{'total':<28}{setup_seconds + suite_seconds:>10.1f}   exit {rc or setup_rc}")
    for line in summary:
        print(line)
    print(f"wrote {out}")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
