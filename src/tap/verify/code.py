"""Code verifier: run a program and its tests in a sandbox, and read the verdict it signs.

A pass comes only from the tests having run to their end, through a channel the program cannot
reach: the runner reads a fresh nonce from its stdin before any program code runs, and only its
audit hook keeps it; the hook signs "ok" only for the event the runner raises after the tests
returned. Unsigned writes to the status pipe (any program can write to an inherited fd) are ignored.

Walls, from the outside in (docs/verifiers.md has the threat model and the table of known hacks):
- an OS jail: Debian's bubblewrap where it can start (no network, own pid namespace, read-only file
  system, no /proc, user nobody); else a network namespace where the kernel allows, and `nobody`
  when run as root and `nobody` can run this Python;
- OS limits: CPU seconds, address space, file size, open files, process count;
- a fresh folder, an empty environment, Python in `-I -S -B` mode, a wall-clock timeout;
- the audit hook: no processes, sockets, native code, frames, threads or writes outside the folder;
- asserts rewritten so that only built-in comparisons decide them, and a snapshot of the standard
  library and builtins that the program cannot change under the tests.
Each result records the walls that were in force. A program that fails, times out or breaks a rule
gets reward 0 with the reason; a sandbox that cannot start raises SandboxError (never a silent 0).
"""

from __future__ import annotations

import ast
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass

from tap.verify import _sandbox_jail

JAILS = ("auto", "bwrap", "none")
PARENT_WALLS = ("fresh folder", "clean environment", "timeout")


class SandboxError(RuntimeError):
    """The sandbox itself could not run (not the program's fault)."""


@dataclass(frozen=True)
class SandboxResult:
    passed: bool
    # "passed", "timeout", "cpu time limit", "memory limit exceeded", "forbidden: ...", "failed: ...", "exited ..."
    reason: str
    returncode: int | None
    stdout: str
    stderr: str
    walls: tuple[str, ...] = ()  # the walls in force for this run, OS jail first


def _new_nonce() -> str:
    """The key that signs the runner's status lines (a function, so that tests can fix it)."""
    return secrets.token_hex(16)


def _use_bwrap(jail: str) -> bool:
    """Whether this run goes inside bubblewrap: "auto" when it can start, "bwrap" or raise, "none" never."""
    if jail not in JAILS:
        raise ValueError(f"jail must be one of {JAILS}, not {jail!r}")
    if jail == "none":
        return False
    problem = _sandbox_jail.bwrap_problem()
    if problem is not None and jail == "bwrap":
        raise SandboxError(f"the code sandbox cannot use bubblewrap: {problem}")
    return problem is None


def _parse_status(text: str, nonce: str) -> tuple[tuple[str, ...] | None, list[tuple[str, str]], bool]:
    """The launcher's walls (first line), the runner's signed (kind, text) messages in order, and
    whether anything unsigned was written besides; the program cannot sign, so only it writes those."""
    head, _, rest = text.partition("\n")
    walls = (
        tuple(wall for wall in head.removeprefix("walls ").split(",") if wall) if head.startswith("walls ") else None
    )
    pieces = (rest if walls is not None else text).split(nonce + " ")
    messages = [tuple(piece.partition("\n")[0].partition(" ")[::2]) for piece in pieces[1:]]
    unsigned = bool(pieces[0].strip()) or any(piece.partition("\n")[2].strip() for piece in pieces[1:])
    return walls, messages, unsigned


def _exit_reason(returncode: int | None, timed_out: bool, stderr: str, jailed: bool) -> str:
    """Why a run that never reported its end stopped. bubblewrap reports a signal as 128 + its number."""
    if timed_out:
        return "timeout"
    if returncode is not None and (returncode < 0 or (jailed and returncode > 128)):
        number = -returncode if returncode < 0 else returncode - 128
        if number == signal.SIGXCPU:
            return "cpu time limit"
        if number == signal.SIGSEGV:
            return "memory limit exceeded (segfault)"
        try:
            return f"killed by signal {signal.Signals(number).name}"
        except ValueError:
            return f"killed by signal {number}"
    if "MemoryError" in stderr:
        return "memory limit exceeded"
    return f"exited before the end of the tests (exit code {returncode})"


def _verdict(
    messages: list[tuple[str, str]], returncode: int | None, timed_out: bool, stderr: str, jailed: bool
) -> str:
    """The reason for a run, from its signed messages first; "passed" only for the signed ok."""
    kinds = dict(reversed(messages))  # kind -> its first text
    if "error" in kinds:
        raise SandboxError(f"the code sandbox could not run these tests: {kinds['error']}")
    if "started" not in kinds:
        why = (
            "it timed out"
            if timed_out
            else stderr.strip().splitlines()[-1]
            if stderr.strip()
            else f"exit code {returncode}"
        )
        raise SandboxError(f"the code sandbox failed to start ({why})")
    if "fail" in kinds:
        return kinds["fail"]
    if "ok" in kinds:
        return "passed"
    return _exit_reason(returncode, timed_out, stderr, jailed)


def _read_pipe(fd: int) -> str:
    """All that is left in the status pipe, once every writer has exited."""
    os.set_blocking(fd, False)
    chunks = []
    try:
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    return b"".join(chunks).decode(errors="replace")


def _launch(
    command: list[str], root: str, payload: bytes, status_fd: int, timeout_s: float
) -> tuple[subprocess.Popen, bytes, bytes, bool]:
    """Run `command` in its own session with the payload on stdin; kill its process group on timeout."""
    try:
        proc = subprocess.Popen(
            command,
            cwd=root,
            env=_sandbox_jail.clean_env(root),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(status_fd,),
            start_new_session=True,
        )
    except OSError as exc:
        raise SandboxError(f"could not start the code sandbox: {exc}") from exc
    try:
        out, err = proc.communicate(payload, timeout=timeout_s)
        return proc, out, err, False
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        return proc, out, err, True


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
    jail: str = "auto",
) -> SandboxResult:
    """Run `program`, then `tests` (asserts), in the sandbox. `jail`: "auto" (bubblewrap when it can
    start here, else the fallback), "bwrap" (raise if it cannot) or "none" (the fallback)."""
    try:
        ast.parse(tests, "<tests>")
    except SyntaxError as exc:
        raise SandboxError(f"the tests are not valid Python: {exc}") from exc
    jailed, nonce = _use_bwrap(jail), _new_nonce()
    root = os.path.realpath(tempfile.mkdtemp(prefix="tap-sandbox-"))
    read_fd, write_fd = os.pipe()
    try:
        drop = not jailed and _sandbox_jail.can_drop_privileges()
        if drop:
            os.chown(root, _sandbox_jail.NOBODY, _sandbox_jail.NOBODY)
        args = {
            "cpu_s": int(cpu_s or max(1, int(timeout_s) + 1)), "memory_mb": memory_mb, "file_mb": file_mb,
            "max_processes": max_processes, "status_fd": write_fd, "python": _sandbox_jail.python(),
            "root": _sandbox_jail.INSIDE_ROOT if jailed else root, "own_network": not jailed, "drop_privileges": drop,
            "runner": f"{_sandbox_jail.INSIDE_CODE if jailed else _sandbox_jail.HERE}/_sandbox_runner.py",
            "walls": _sandbox_jail.BWRAP_WALLS if jailed else (),
        }
        command = _sandbox_jail.launcher_command(json.dumps(args), jailed=jailed)
        command = _sandbox_jail.bwrap_command(root, command) if jailed else command
        payload = json.dumps({"program": program, "tests": tests, "nonce": nonce}).encode()
        proc, out, err, timed_out = _launch(command, root, payload, write_fd, timeout_s)
        os.close(write_fd)
        write_fd = -1
        walls, messages, unsigned = _parse_status(_read_pipe(read_fd), nonce)
        stdout, stderr = out.decode(errors="replace")[:max_output], err.decode(errors="replace")[:max_output]
        if walls is None:
            raise SandboxError(
                f"the code sandbox failed to start: {stderr.strip()[-500:] or f'exit code {proc.returncode}'}"
            )
        reason = _verdict(messages, proc.returncode, timed_out, stderr, jailed)
        if unsigned and reason != "passed":
            reason += "; unsigned writes to the status pipe were ignored"
        runner_walls = tuple(text for kind, text in messages if kind == "started")
        return SandboxResult(
            reason == "passed", reason, proc.returncode, stdout, stderr, walls + PARENT_WALLS + runner_walls
        )
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
