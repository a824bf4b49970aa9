"""Run an untrusted program, then its tests (`python -I -S -B runner ROOT STATUS_FD`; payload on stdin).

The payload, {"program", "tests", "nonce"} as JSON, is read from stdin to its end before any program
code runs: the tests are never on disk, in argv or in the environment, and the program finds stdin
empty. Then, still before the program: the tests are parsed and their asserts rewritten to call the
strict helpers (`_sandbox_asserts`, `_sandbox_compare`), the modules they import are loaded and the
standard library is snapshot
(`_sandbox_snapshot`), the doors to frames are shut and the audit hook is installed (`_sandbox_hook`);
the hook alone keeps the nonce. `_run` executes the program in its namespace and the tests in theirs.
A pass is the hook's signed "ok", which it writes only for the `tap.finished` event raised by `_run`
itself, after the tests returned normally and nothing had been replaced.
Kept free of TAP imports: it runs in `-I -S` mode; its sibling modules are loaded from its folder.
"""

import builtins
import json
import os
import sys

SIBLINGS = ("_sandbox_asserts", "_sandbox_compare", "_sandbox_snapshot", "_sandbox_hook")


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _siblings() -> list:
    """The sibling modules, loaded by file name: putting their folder on sys.path would let its other
    files (tap.verify's `math.py`, `code.py`) shadow the standard library's."""
    import importlib.util

    here, modules = os.path.dirname(os.path.abspath(__file__)), []
    for name in SIBLINGS:
        spec = importlib.util.spec_from_file_location(name, os.path.join(here, name + ".py"))
        module = sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


def _preimport(names: list[str]) -> None:
    """Load what the tests import before the program can touch it, so the snapshot holds the originals."""
    for name in names:
        try:
            __import__(name)
        except Exception:  # not importable here: the tests meet the same error when they import it
            pass


def _python_dirs() -> tuple[str, ...]:
    """The Python installation, which the program may read and load code from."""
    places = {sys.base_prefix, sys.base_exec_prefix, *(path for path in sys.path if path)}
    return tuple(sorted({os.path.realpath(place) for place in places}))


def _setup(tests: str) -> tuple:
    """The tests compiled with their helpers, the views of the standard library, and what the hook needs."""
    asserts, compare, snapshot, hooks = _siblings()
    names = asserts.placeholders(os.urandom(8).hex())
    tests_code, imports = asserts.compile_tests(tests, names)
    _preimport(imports)
    loaded = sorted(name for name in sys.modules if hooks.forbidden(name))
    if loaded:
        raise ImportError(f"the tests import {loaded[0]}, which the code sandbox forbids")
    gc_functions = hooks.close_side_doors()
    taken = snapshot.take(frozenset({"__main__", *SIBLINGS}))
    namespace_for_tests, unchanged = snapshot.make_views(taken, builtins.__dict__)
    helpers = compare.make_helpers(unchanged, gc_functions)
    tests_code = asserts.inject(tests_code, {names[role]: helpers[role] for role in asserts.ROLES})
    return tests_code, namespace_for_tests, unchanged, compare.Rejected, hooks.make_hook, gc_functions


def _run(
    program,
    tests_code,
    namespace_for_tests,
    unchanged,
    rejected,
    token,
    *,
    audit=sys.audit,
    compile_=compile,
    exec_=exec,
    exit_=os._exit,
    type_=type,
    base=BaseException,
    exiting=SystemExit,
    memory=MemoryError,
    flushes=(sys.stdout.flush, sys.stderr.flush),
    write_err=sys.stderr.write,
) -> None:
    """The program, then the tests. Uses nothing but its arguments, bound before the program ran, and is
    the only code whose `tap.*` events (carrying `token`) the hook signs. Reaches `tap.finished` only
    when the tests returned and nothing was replaced."""
    audit("tap.started", token, "audit hook")
    reason = None
    try:
        namespace = {"__name__": "__main__"}
        exec_(compile_(program, "program.py", "exec", dont_inherit=True), namespace)
        exec_(tests_code, namespace_for_tests(namespace))
    except exiting as exc:
        reason = f"exited before the end of the tests (SystemExit {exc.code!r})"
    except memory:
        reason = "memory limit exceeded"
    except base as exc:  # the program's failure (or the tests'), reported as the reason
        text = f"{exc}"
        reason = (
            f"failed: {text}"
            if type_(exc) is rejected
            else f"failed: {type_(exc).__name__}: {text}"
            if text
            else f"failed: {type_(exc).__name__}"
        )
    if reason is None:
        problem = unchanged()
        reason = None if problem is None else f"failed: {problem}"
    for flush in flushes:
        try:
            flush()
        except base:  # a broken stream must not change the verdict
            pass
    if reason is not None:
        try:
            write_err(reason + "\n")
        except base:
            pass
        audit("tap.report", token, reason)
        exit_(1)
    audit("tap.finished", token)
    exit_(0)


def main() -> None:
    module_code = sys._getframe(1).f_code
    root, status_fd = sys.argv[1], int(sys.argv[2])
    payload = json.loads(_read_all(0))
    nonce, program = payload["nonce"], payload["program"]
    try:
        tests_code, namespace_for_tests, unchanged, rejected, make_hook, gc_functions = _setup(payload["tests"])
    except Exception as exc:  # the tests cannot run here (a broken gold): the parent raises SandboxError
        os.write(status_fd, f"{nonce} error {type(exc).__name__}: {exc}\n".replace("\n", " ").encode() + b"\n")
        os._exit(2)
    token = object()
    hook = make_hook(
        nonce=nonce,
        status_fd=status_fd,
        root=root,
        token=token,
        chain=(_run.__code__, main.__code__, module_code),
        python_dirs=_python_dirs(),
        gc_functions=gc_functions,
    )
    del payload, nonce
    sys.addaudithook(hook)
    del hook
    _run(program, tests_code, namespace_for_tests, unchanged, rejected, token)


if __name__ == "__main__":
    main()
