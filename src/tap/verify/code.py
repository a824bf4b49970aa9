"""Code verifier: run a program and its tests in a sandboxed subprocess.

Walls, from the outside in:
- a fresh temporary folder as working directory, removed afterwards;
- an environment with nothing inherited (no secrets, no PYTHON* variables), Python in `-I` mode;
- OS limits: CPU seconds, address space, file size, open files, process count;
- a wall-clock timeout that kills the whole process group;
- a network namespace with no interfaces where the kernel allows it (as root on Linux);
- when run as root and `nobody` can run this Python, the user `nobody`, so file permissions apply;
- an audit hook that ends the program when it starts a process, opens a socket, loads native code,
  reads a process environment, or writes outside its folder.
The audit hook is a Python-level wall: it is not a security boundary against native exploits, which
is why the OS walls stand in front of it. A program that fails, times out or breaks a rule gets
reward 0 with the reason recorded; a sandbox that cannot start raises (never a silent 0).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

_HERE = Path(__file__).parent
NOBODY = 65534


class SandboxError(RuntimeError):
    """The sandbox itself could not run (not the program's fault)."""


@dataclass(frozen=True)
class SandboxResult:
    passed: bool
    reason: str  # "passed", "timeout", "cpu time limit", "memory limit exceeded", "forbidden: ...", "failed: ..."
    returncode: int | None
    stdout: str
    stderr: str


def _world_readable(path: Path) -> bool:
    """True when a user with no privileges could reach and read `path` (mode bits only)."""
    path = path.resolve()
    for parent in reversed(path.parents):
        if not parent.stat().st_mode & 0o001:
            return False
    return bool(path.stat().st_mode & 0o004)


def _can_drop_privileges() -> bool:
    """Running as root, and `nobody` can still run this Python and read its standard library."""
    import sysconfig

    if os.getuid() != 0:
        return False
    try:
        return _world_readable(Path(sys.executable)) and _world_readable(Path(sysconfig.get_paths()["stdlib"]) / "os.py")
    except OSError:
        return False


def _clean_env(root: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": root, "LANG": "C.UTF-8", "TMPDIR": root}


def _explain(returncode: int | None, status: str, timed_out: bool, stderr: str) -> str:
    if timed_out:
        return "timeout"
    if status:
        return "passed" if status == "ok" and returncode == 0 else status
    if returncode is not None and returncode < 0:
        sig = -returncode
        if sig == signal.SIGXCPU or sig == signal.SIGKILL:
            return "cpu time limit" if sig == signal.SIGXCPU else "killed (SIGKILL)"
        if sig == signal.SIGSEGV:
            return "memory limit exceeded (segfault)"
        return f"killed by signal {signal.Signals(sig).name}"
    if "MemoryError" in stderr:
        return "memory limit exceeded"
    last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {returncode}"
    return f"failed: {last}"


def run_python(
    program: str,
    tests: str = "",
    *,
    timeout_s: float = 5.0,
    cpu_s: int | None = None,
    memory_mb: int = 512,
    file_mb: int = 16,
    max_processes: int = 64,
    max_output: int = 65536,
) -> SandboxResult:
    """Run `program` followed by `tests` (assert statements) in the sandbox."""
    root = tempfile.mkdtemp(prefix="tap-sandbox-")
    read_fd, write_fd = os.pipe()
    try:
        Path(root, "program.py").write_text(program + "\n\n" + tests + "\n")
        shutil.copy(_HERE / "_sandbox_runner.py", Path(root, ".runner.py"))
        drop = _can_drop_privileges()
        if drop:
            for path in (Path(root), Path(root, "program.py"), Path(root, ".runner.py")):
                os.chown(path, NOBODY, NOBODY)
        args = {
            "cpu_s": int(cpu_s or max(1, int(timeout_s) + 1)),
            "memory_mb": memory_mb,
            "file_mb": file_mb,
            "max_processes": max_processes,
            "runner": str(Path(root, ".runner.py")),
            "drop_privileges": drop,
            "root": root,
            "status_fd": write_fd,
            "program": str(Path(root, "program.py")),
        }
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-B", str(_HERE / "_sandbox_launcher.py"), json.dumps(args)],
                cwd=root,
                env=_clean_env(root),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        except OSError as exc:
            raise SandboxError(f"could not start the code sandbox: {exc}") from exc
        os.close(write_fd)
        write_fd = -1
        timed_out = False
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = proc.communicate()
        os.set_blocking(read_fd, False)
        try:
            status = os.read(read_fd, 4096).decode(errors="replace")
        except BlockingIOError:
            status = ""
        stdout = out.decode(errors="replace")[:max_output]
        stderr = err.decode(errors="replace")[:max_output]
        if proc.returncode == 1 and "Traceback" in stderr and not status and "program.py" not in stderr:
            raise SandboxError(f"the code sandbox failed to start: {stderr.strip().splitlines()[-1]}")
        reason = _explain(proc.returncode, status, timed_out, stderr)
        return SandboxResult(reason == "passed", reason, proc.returncode, stdout, stderr)
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(root, ignore_errors=True)


def extract_code(text: str) -> str:
    """The program in a completion: the first fenced code block, else the whole text."""
    if "```" in text:
        body = text.split("```", 2)[1]
        first_line, _, rest = body.partition("\n")
        return rest if first_line.strip().isidentifier() or not first_line.strip() else body
    return text


def code_reward(completion: str, tests: str, *, timeout_s: float = 5.0) -> tuple[float, str]:
    """1.0 when the completion's program passes every test, else 0.0; with the reason."""
    result = run_python(extract_code(completion), tests, timeout_s=timeout_s)
    return (1.0 if result.passed else 0.0), result.reason
