"""The code verifier's sandbox: hostile programs contained with the reason reported, and its parts one by one.

The reward hacks RL policies find, run in both jails, are in test_code_sandbox_hacks.py.
"""

import ast
import builtins
import dis
import gc
import os
import types
from pathlib import Path

import pytest

from tap.verify import _sandbox_asserts, _sandbox_compare, _sandbox_hook, _sandbox_runner, _sandbox_snapshot, code
from tap.verify.code import code_reward, extract_code, run_python


def test_a_correct_program_passes_and_a_wrong_one_fails():
    assert run_python("def f(x):\n    return x + 1", "assert f(1) == 2").passed
    result = run_python("def f(x):\n    return x", "assert f(1) == 2")
    assert not result.passed and result.reason.startswith("failed: AssertionError")


def test_infinite_loop_is_stopped():
    result = run_python("while True:\n    pass", timeout_s=1.5)
    assert not result.passed and result.reason in ("timeout", "cpu time limit")


def test_fork_bomb_is_stopped():
    result = run_python("import os\nwhile True:\n    os.fork()", timeout_s=3)
    assert not result.passed and "process creation" in result.reason


def test_subprocess_is_stopped():
    result = run_python("import subprocess\nsubprocess.run(['true'])", timeout_s=3)
    assert not result.passed and result.reason.startswith("forbidden")


def test_memory_bomb_is_stopped():
    result = run_python("x = []\nwhile True:\n    x.append(' ' * 10**7)", memory_mb=256, timeout_s=10)
    assert not result.passed and "memory" in result.reason


def test_writing_outside_the_sandbox_is_stopped(tmp_path):
    target = tmp_path / "escaped.txt"
    result = run_python(f"open({str(target)!r}, 'w').write('x')", timeout_s=3)
    assert not result.passed and "outside the sandbox" in result.reason
    assert not target.exists()


def test_writing_inside_the_sandbox_is_allowed():
    result = run_python("open('scratch.txt', 'w').write('x')\nassert open('scratch.txt').read() == 'x'")
    assert result.passed, result.reason


def test_environment_secrets_are_not_inherited(monkeypatch):
    monkeypatch.setenv("TAP_TEST_SECRET", "hunter2")
    result = run_python("import os\nprint(sorted(os.environ))\nprint(os.environ.get('TAP_TEST_SECRET'))")
    assert result.passed and "hunter2" not in result.stdout and "TAP_TEST_SECRET" not in result.stdout
    leak = run_python(f"print(open('/proc/{os.getpid()}/environ').read())")
    assert not leak.passed and "hunter2" not in leak.stdout and "environment" in leak.reason


def test_sockets_are_stopped():
    result = run_python("import socket\ns = socket.socket()\ns.connect(('127.0.0.1', 9))", timeout_s=3)
    assert not result.passed and result.reason.startswith("forbidden")


def test_exiting_early_is_not_a_pass():
    result = run_python("import sys\nsys.exit(0)", "assert False")
    assert not result.passed and "exited before the end of the tests" in result.reason


def test_sandbox_folder_is_removed():
    result = run_python("import os\nprint(os.getcwd())")
    assert result.passed and not Path(result.stdout.strip()).exists()


def test_code_reward_reads_fenced_code():
    completion = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```"
    assert extract_code(completion).startswith("def add")
    assert code_reward(completion, "assert add(2, 3) == 5") == (1.0, "passed")


@pytest.mark.parametrize("program", ["import ctypes", "import multiprocessing"])
def test_native_escape_hatches_are_closed(program):
    result = run_python(program)
    assert not result.passed and result.reason.startswith("forbidden")


# --- the parts of the sandbox, in this process ----------------------------------------------------

def _run_asserts(program_namespace: dict, tests: str, unchanged=lambda: None) -> None:
    """Compile `tests` as the sandbox does and run them against `program_namespace`, here."""
    names = _sandbox_asserts.placeholders("t")
    compiled, _ = _sandbox_asserts.compile_tests(tests, names)
    helpers = _sandbox_compare.make_helpers(unchanged, (gc.isenabled, gc.disable, gc.enable))
    compiled = _sandbox_asserts.inject(compiled, {names[role]: helpers[role] for role in _sandbox_asserts.ROLES})
    exec(compiled, dict(program_namespace))


class _Yes:
    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


@pytest.mark.parametrize(
    "tests",
    [
        "assert f() == 5",
        "assert [f()] == [5]",
        "assert (1, {2: f()}) == (1, {2: 5})",
        "assert 5 in [f()]",
        "assert f() in [5]",
        "def check(candidate):\n    assert candidate() == 5\ncheck(f)",
        "assert all(x == 5 for x in [f()])",
    ],
)
def test_a_rewritten_assert_refuses_a_python_level_eq(tests):
    with pytest.raises(_sandbox_compare.Rejected, match=r"decided by Python code \(_Yes.__eq__\)"):
        _run_asserts({"f": _Yes}, tests)


@pytest.mark.parametrize(
    "tests, passes",
    [
        ("assert 1 < f() < 3", True),
        ("assert 3 > f() > 3 > boom()", False),
        ("assert f() == 2.0 and f() != 3", True),
        ("assert not f() == 3", True),
        ("assert f() in range(5) and f() not in {1: 0}", True),
        ("assert f() is not None", True),
        ("assert [f(), 'a', (b'x', None)] == [2, 'a', (b'x', None)]", True),
        ("assert {f(): {1, 2}} == {2: {2, 1}}", True),
        ("assert f() == 3, 'the message'", False),
        ("from collections import Counter\nassert Counter('aab') == {'a': 2, 'b': 1}", True),
        ("assert all(f() > i for i in range(2)) and any([f() == 1, f() == 2])", True),
        ("assert f() if f() else False", True),
        ("assert all([*[f()], f() > 1]) and bool(*[f()])", True),
        ("assert (lambda x: x == 2)(f())", True),
    ],
)
def test_a_rewritten_assert_keeps_python_semantics_for_built_in_values(tests, passes):
    run = lambda: _run_asserts({"f": lambda: 2}, tests)  # noqa: E731
    if passes:
        run()
    else:
        with pytest.raises(AssertionError) as caught:
            run()
        assert type(caught.value) is AssertionError and "NameError" not in repr(caught.value)


def test_the_rewrite_and_the_helpers_agree_on_operator_codes():
    codes = {op: _sandbox_asserts.OPERATORS.index(op) for op in (ast.In, ast.NotIn, ast.Is, ast.IsNot)}
    c = _sandbox_compare
    assert codes == {ast.In: c.MEMBERSHIP, ast.NotIn: c.NOT_MEMBERSHIP, ast.Is: c.IDENTITY, ast.IsNot: c.NOT_IDENTITY}


def test_an_assert_fails_when_the_snapshot_says_something_was_replaced():
    with pytest.raises(_sandbox_compare.Rejected, match="the program replaced math.isclose"):
        _run_asserts({}, "assert True", unchanged=lambda: "the program replaced math.isclose")


def test_the_truth_of_an_assert_must_be_built_in():
    class Truthy:
        def __bool__(self):
            return True

    with pytest.raises(_sandbox_compare.Rejected, match=r"truth value decided by Python code \(Truthy.__bool__\)"):
        _run_asserts({"f": Truthy}, "assert f()")
    with pytest.raises(_sandbox_compare.Rejected, match="Truthy.__bool__"):
        _run_asserts({"f": Truthy}, "assert not not f()")


def test_the_snapshot_hands_the_tests_the_originals_and_names_replacements():
    import math

    namespace_for_tests, unchanged = _sandbox_snapshot.make_views(
        _sandbox_snapshot.take(frozenset()), builtins.__dict__
    )
    real = math.isclose
    try:
        math.isclose = lambda *a, **k: True
        namespace = namespace_for_tests({"math": math, "len": lambda x: 3, "f": 1})
        assert namespace["math"] is not math and namespace["math"].isclose is real
        assert "len" not in namespace and namespace["__builtins__"]["len"] is len and namespace["f"] == 1
        assert unchanged() == "the program replaced math.isclose"
    finally:
        math.isclose = real
    assert unchanged() is None


def _nested_code(code_object):
    for const in code_object.co_consts:
        if isinstance(const, types.CodeType):
            yield const
            yield from _nested_code(const)


@pytest.mark.parametrize(
    "factory",
    [
        _sandbox_hook.make_hook,
        _sandbox_hook._make_reporter,
        _sandbox_hook._make_privileged,
        _sandbox_hook._make_resolver,
        _sandbox_hook._make_path_checks,
        _sandbox_hook._make_bytecode_check,
        _sandbox_compare._make_classifier,
        _sandbox_compare.make_rules,
        _sandbox_compare.make_helpers,
        _sandbox_snapshot.make_views,
    ],
    ids=lambda factory: factory.__name__,
)
def test_the_walls_look_up_no_global_name_after_they_are_made(factory):
    """A program can rebind any module global or builtin; the functions these factories return bind all they use."""
    made_now = ("<genexpr>", "<listcomp>", "<dictcomp>", "<setcomp>")  # run while the factory runs, before the program
    made = [c for c in factory.__code__.co_consts if isinstance(c, types.CodeType) and c.co_name not in made_now]
    assert made
    for code_object in [c for top in made for c in (top, *_nested_code(top))]:
        names = {i.argval for i in dis.get_instructions(code_object) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
        assert not names, f"{code_object.co_name} looks up {names}"
    runner_names = {
        i.argval
        for i in dis.get_instructions(_sandbox_runner._run.__code__)
        if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")
    }
    assert not runner_names


def test_the_status_pipe_keeps_only_signed_lines():
    nonce = "n" * 32
    text = f"walls bubblewrap,rlimits\nok\npassed\njunk{nonce} started audit hook\n{nonce} ok \n{'0' * 32} ok \n"
    walls, messages, unsigned = code._parse_status(text, nonce)
    assert walls == ("bubblewrap", "rlimits") and messages == [("started", "audit hook"), ("ok", "")] and unsigned
    assert code._verdict(messages, 0, False, "", jailed=True) == "passed"
    assert code._verdict([("started", ""), ("ok", ""), ("fail", "failed: x")], 0, False, "", jailed=True) == "failed: x"
    assert code._verdict([("started", "")], 143, False, "", jailed=True) == "killed by signal SIGTERM"
    assert (
        code._verdict([("started", "")], 0, False, "", jailed=False)
        == "exited before the end of the tests (exit code 0)"
    )
    for messages in ([], [("error", "the tests import ctypes")]):
        with pytest.raises(code.SandboxError):
            code._verdict(messages, 1, False, "Traceback ...", jailed=False)
