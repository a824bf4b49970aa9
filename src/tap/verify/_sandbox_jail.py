"""The OS jail around the code sandbox: Debian's bubblewrap when it can start, else the fallback.

Inside bubblewrap the launcher sees a root of its own: /usr and the Python installation read-only,
the sandbox folder read-write at /sandbox (its working directory, HOME and TMPDIR), a private /tmp
and /dev, and no /proc, so /proc/self/mem and the parent's files do not exist there. It has no
network, its own pid namespace and session, no capabilities, and runs as `nobody` in a user
namespace. The fallback (no bwrap, or bwrap that cannot start here) keeps the launcher's own walls:
rlimits, a network namespace where the kernel allows, `nobody` when root and the interpreter allows.
Either way the audit hook inside stands behind these walls.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
INSIDE_ROOT = "/sandbox"  # where the sandbox folder appears inside bubblewrap
INSIDE_CODE = "/opt/tap"  # where the launcher, the runner and its modules appear inside bubblewrap
NOBODY = 65534
BWRAP_WALLS = ("bubblewrap", "no network", "own pid namespace", "read-only file system", "no /proc", "user nobody")
RUNNER_FILES = (
    "_sandbox_launcher.py",
    "_sandbox_runner.py",
    "_sandbox_asserts.py",
    "_sandbox_compare.py",
    "_sandbox_snapshot.py",
    "_sandbox_hook.py",
)


def python() -> str:
    """The real interpreter (a venv's python is a link to it): the one the jail must bind and run."""
    return os.path.realpath(sys.executable)


def clean_env(home: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8", "TMPDIR": home}


def bwrap_command(root: str, inner: list[str]) -> list[str]:
    """bubblewrap around the command `inner`; `root` (the sandbox folder) appears at INSIDE_ROOT."""
    command = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
               "--uid", str(NOBODY), "--gid", str(NOBODY), "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            command += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            command += ["--ro-bind", top, top]
    for place in sorted({os.path.realpath(sys.base_prefix), os.path.dirname(python())}):
        if place != "/usr" and not place.startswith("/usr/"):
            command += ["--ro-bind", place, place]
    for name in RUNNER_FILES:
        command += ["--ro-bind", str(HERE / name), f"{INSIDE_CODE}/{name}"]
    command += ["--dev", "/dev", "--tmpfs", "/tmp", "--bind", root, INSIDE_ROOT, "--chdir", INSIDE_ROOT, "--clearenv"]
    for name, value in clean_env(INSIDE_ROOT).items():
        command += ["--setenv", name, value]
    return command + ["--", *inner]


@functools.lru_cache(maxsize=None)
def bwrap_problem() -> str | None:
    """Why bubblewrap cannot jail the sandbox here (None when it can); probed once per process."""
    if shutil.which("bwrap") is None:
        return "bwrap is not installed"
    root = tempfile.mkdtemp(prefix="tap-sandbox-probe-")
    try:
        command = bwrap_command(root, [python(), "-I", "-S", "-B", "-c", "import json, ast"])
        done = subprocess.run(command, capture_output=True, timeout=30, start_new_session=True)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap did not start: {exc}"
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if done.returncode != 0:
        return f"bwrap failed (exit code {done.returncode}): {done.stderr.decode(errors='replace').strip()[-300:]}"
    return None


def _world_readable(path: Path) -> bool:
    """True when a user with no privileges could reach and read `path` (mode bits only)."""
    path = path.resolve()
    for parent in reversed(path.parents):
        if not parent.stat().st_mode & 0o001:
            return False
    return bool(path.stat().st_mode & 0o004)


def can_drop_privileges() -> bool:
    """Running as root, and `nobody` can still run this Python, its standard library and the runner."""
    if os.getuid() != 0:
        return False
    needed = [Path(python()), Path(sysconfig.get_paths()["stdlib"]) / "os.py"] + [HERE / name for name in RUNNER_FILES]
    try:
        return all(_world_readable(path) for path in needed)
    except OSError:
        return False


def launcher_command(launcher_args: str, *, jailed: bool) -> list[str]:
    """The launcher as the jail sees it: from INSIDE_CODE in bubblewrap, from this folder outside."""
    folder = INSIDE_CODE if jailed else str(HERE)
    return [python(), "-I", "-S", "-B", f"{folder}/_sandbox_launcher.py", launcher_args]
